#include "sim/run.h"

#include <gsl/gsl_rng.h>
#include <stdlib.h>
#include <string.h>

#include "common/seed.h"
#include "models/placement.h"
#include "models/router.h"
#include "models/trace.h"
#include "models/workload.h"
#include "sim/replay.h"

/* The router kernel configuration a policy stands for. A `topk` policy on a
 * sigmoid gate is DeepSeek-V3's gate with a single group (unrestricted). */
static void router_cfg_from_policy(const scenario *s, const scen_policy *p,
                                   router_config *c)
{
    static const router_policy map[SCEN_ROUTER_COUNT] = {
        [SCEN_ROUTER_TOPK] = ROUTER_TOPK,
        [SCEN_ROUTER_V2] = ROUTER_V2_DEVICE_LIMITED,
        [SCEN_ROUTER_V3] = ROUTER_V3_GROUP_LIMITED,
        [SCEN_ROUTER_MOGE] = ROUTER_MOGE,
        [SCEN_ROUTER_SWITCH] = ROUTER_SWITCH,
        [SCEN_ROUTER_GSHARD] = ROUTER_GSHARD,
        [SCEN_ROUTER_EXPERT_CHOICE] = ROUTER_EXPERT_CHOICE,
        [SCEN_ROUTER_HASH] = ROUTER_HASH,
        [SCEN_ROUTER_UNIFORM] = ROUTER_UNIFORM,
    };
    router_policy rp = map[p->router];
    int sigmoid_topk = p->router == SCEN_ROUTER_TOPK && p->gate_sigmoid;
    if (sigmoid_topk)
        rp = ROUTER_V3_GROUP_LIMITED;
    router_config_init(c, rp, s->model.routed_experts, p->top_k);
    c->renormalize = p->renormalize;
    c->scaling_factor = (float)p->scaling_factor;
    if (rp == ROUTER_V2_DEVICE_LIMITED || rp == ROUTER_V3_GROUP_LIMITED ||
        rp == ROUTER_MOGE) {
        c->n_group = sigmoid_topk ? 1 : p->groups;
        c->topk_group = sigmoid_topk ? 1 : p->topk_groups;
    }
    if (rp == ROUTER_MOGE)
        c->topk_group = p->groups;
    if (p->capacity_factor > 0)
        c->capacity_factor = p->capacity_factor;
}

static int make_placement(const scenario *s, const scen_policy *p, int dpn,
                          placement_t **out, err_t *e)
{
    uint32_t L = (uint32_t)model_moe_layers(&s->model);
    uint32_t N = (uint32_t)s->model.routed_experts;
    uint32_t D = (uint32_t)s->ep_size;
    switch (p->placement) {
    case SCEN_PLACE_GROUPED:
        return placement_create_grouped(out, L, N, (uint32_t)p->groups, D,
                                        (uint32_t)dpn, e);
    case SCEN_PLACE_EPLB: {
        /* Before any load is observed every expert weighs the same. */
        double *ones = malloc((size_t)L * N * sizeof *ones);
        if (!ones)
            return err_set(e, ERR_NOMEM, "out of memory");
        for (size_t i = 0; i < (size_t)L * N; i++)
            ones[i] = 1.0;
        int rc = placement_create_eplb(out, ones, L, N,
                                       N + (uint32_t)p->redundant_experts,
                                       (uint32_t)p->groups, D / (uint32_t)dpn,
                                       D, e);
        free(ones);
        return rc;
    }
    default:
        return placement_create_contiguous(out, L, N, D, (uint32_t)dpn, e);
    }
}

int run_policy(const scenario *s, int pi, unsigned long seed,
               const metrics_sink *sink, const run_opts *opts,
               metrics_summary *out, err_t *e)
{
    const scen_policy *p = &s->policies[pi];
    const model_desc *m = &s->model;
    const int D = s->ep_size;
    const int L = model_moe_layers(m);
    const int N = m->routed_experts;
    const int dpn = s->node.devices < D ? s->node.devices : D;
    int rc;
    workload *w = NULL, *own = NULL;
    router_out *ro = NULL;
    placement_t *pl = NULL;
    placement_load_t *ld = NULL;
    replay *rp = NULL;
    trace_writer_t *tw = NULL;
    gsl_rng *rng = NULL;
    float *logits = NULL, *bias = NULL;
    uint16_t *src = NULL, *ids = NULL;
    double *load_step = NULL, *load_total = NULL;

    workload_shape shape;
    memset(&shape, 0, sizeof shape);
    shape.experts = N;
    shape.moe_layers = L;
    shape.vocab = m->vocab;
    shape.phase = s->phase == SCEN_TRAIN     ? WORKLOAD_TRAIN
                  : s->phase == SCEN_PREFILL ? WORKLOAD_PREFILL
                                             : WORKLOAD_DECODE;
    long T = scen_tokens_per_device(s) * D;
    if (T > (long)TRACE_MAX_TOKENS_PER_STEP)
        return err_set(e, ERR_INPUT, "%s: %ld tokens per step in one "
                                     "expert-parallel group; at most %u are "
                                     "simulated",
                       s->path, T, TRACE_MAX_TOKENS_PER_STEP);
    shape.tokens_per_step = (int)T;
    shape.sequences = s->sequences_per_device * D;

    router_config rc_cfg;
    router_cfg_from_policy(s, p, &rc_cfg);
    if ((rc = router_config_check(&rc_cfg, e)) != 0)
        goto fail;
    int slots_max = 0;
    if ((rc = router_slots_needed(&rc_cfg, (int)T, &slots_max, e)) != 0)
        goto fail;
    workload **wp = opts && opts->workload ? opts->workload : &own;
    rc = workload_recreate(wp, &s->workload, &shape, seed, e);
    w = *wp;
    if (rc != 0 ||
        (rc = router_out_create((int)T, slots_max, N, &ro, e)) != 0 ||
        (rc = make_placement(s, p, dpn, &pl, e)) != 0 ||
        (rc = replay_create(s, p, &rp, e)) != 0)
        goto fail;
    if (p->placement == SCEN_PLACE_EPLB &&
        (rc = placement_load_create(&ld, (uint32_t)L, (uint32_t)N,
                                    (uint32_t)p->eplb_window_steps, e)) != 0)
        goto fail;
    rng = gsl_rng_alloc(gsl_rng_mt19937);
    logits = malloc((size_t)T * (size_t)N * sizeof *logits);
    bias = calloc((size_t)L * (size_t)N, sizeof *bias);
    src = malloc((size_t)T * sizeof *src);
    ids = malloc((size_t)slots_max * sizeof *ids);
    load_step = calloc((size_t)L * (size_t)N, sizeof *load_step);
    load_total = calloc((size_t)L * (size_t)N, sizeof *load_total);
    if (!rng || !logits || !bias || !src || !ids || !load_step ||
        !load_total) {
        rc = err_set(e, ERR_NOMEM, "out of memory for %ld tokens x %d experts",
                     T, N);
        goto fail;
    }
    gsl_rng_set(rng, seed_stream(seed, SEED_ROUTING, 0));
    /* Tokens are laid out sequence by sequence and sequences device by
     * device, so token t comes from device t * D / T. */
    for (long t = 0; t < T; t++)
        src[t] = (uint16_t)(t * D / T);

    /* Expert choice gives each token its own number of experts: its trace
     * layers carry per-token offsets, and K only bounds fixed-k layers. */
    const int variable_k = p->router == SCEN_ROUTER_EXPERT_CHOICE;
    if (opts && opts->trace_path) {
        trace_meta_t meta;
        memset(&meta, 0, sizeof meta);
        meta.model = m->name;
        meta.policy = p->name;
        meta.router = scen_router_names[p->router];
        meta.placement = scen_placement_names[p->placement];
        meta.seed = seed;
        meta.top_k_max = (uint32_t)(variable_k ? N : p->top_k);
        meta.flags = variable_k ? TRACE_FLAG_VARIABLE : 0;
        if ((rc = trace_writer_create(&tw, opts->trace_path, &meta, pl, e)) !=
            0)
            goto fail;
    }

    for (int step = 0; step < s->steps; step++) {
        if ((rc = workload_step(w, step, e)) != 0 ||
            (rc = replay_step_begin(rp, step, e)) != 0)
            goto fail;
        if (tw && (rc = trace_writer_step(tw, (uint32_t)T, src, e)) != 0)
            goto fail;
        const uint32_t *tok_ids = workload_token_ids(w);
        for (int l = 0; l < L; l++) {
            if (opts && opts->stop && *opts->stop) {
                rc = err_set(e, ERR_INTERRUPTED, "interrupted at step %d "
                                                 "layer %d",
                             step, l);
                goto fail;
            }
            float *b = bias + (size_t)l * (size_t)N;
            if ((rc = workload_logits(w, l, logits, e)) != 0 ||
                (rc = router_route(&rc_cfg, logits, (int)T,
                                   p->gate_sigmoid ? b : NULL, tok_ids, rng,
                                   ro, e)) != 0)
                goto fail;
            replay_tokens in;
            in.tokens = router_out_tokens(ro);
            in.src_device = src;
            in.offsets = router_out_offsets(ro);
            in.experts = router_out_experts(ro);
            in.dropped = router_out_dropped(ro);
            if ((rc = replay_moe_layer(rp, l, &in, pl, e)) != 0)
                goto fail;
            const int *load = router_out_expert_load(ro);
            for (int x = 0; x < N; x++) {
                load_step[(size_t)l * (size_t)N + (size_t)x] = load[x];
                load_total[(size_t)l * (size_t)N + (size_t)x] += load[x];
            }
            if (tw) {
                int slots = router_out_slots(ro);
                const int32_t *ex = in.experts;
                for (int i = 0; i < slots; i++)
                    ids[i] = (uint16_t)((uint32_t)ex[i] |
                                        (in.dropped[i] ? TRACE_DROPPED : 0u));
                trace_layer_t tl;
                tl.tokens = (uint32_t)in.tokens;
                tl.entries = (uint32_t)slots;
                tl.ids = ids;
                tl.k = variable_k ? 0 : (uint32_t)p->top_k;
                /* The router's offsets are non-negative int32_t, which C
                 * lets us read through uint32_t: no copy. */
                tl.offsets =
                    variable_k ? (const uint32_t *)in.offsets : NULL;
                if ((rc = trace_writer_layer(tw, &tl, e)) != 0)
                    goto fail;
            }
            if (p->bias_gamma > 0)
                router_bias_update(b, load, N, (float)p->bias_gamma);
            if (opts && opts->progress)
                opts->progress(opts->progress_ctx, step, s->steps, l, L);
        }
        if ((rc = replay_step_end(rp, sink, NULL, e)) != 0)
            goto fail;
        if (ld) {
            if ((rc = placement_load_observe(ld, load_step, e)) != 0)
                goto fail;
            if ((step + 1) % p->eplb_interval_steps == 0) {
                placement_t *next = NULL;
                rc = placement_load_rebalance(
                    ld, (uint32_t)(N + p->redundant_experts),
                    (uint32_t)p->groups, (uint32_t)(D / dpn), (uint32_t)D,
                    &next, e);
                if (rc != 0)
                    goto fail;
                placement_destroy(pl);
                pl = next;
            }
        }
    }
    if (tw && (rc = trace_writer_finish(tw, e)) != 0)
        goto fail;
    if ((rc = replay_finish(rp, sink, out, e)) != 0)
        goto fail;
    if (sink && sink->expert) {
        for (int l = 0; l < L && rc == 0; l++)
            for (int x = 0; x < N && rc == 0; x++) {
                metrics_expert row;
                row.layer = m->dense_layers + l;
                row.expert = x;
                row.load = (long)load_total[(size_t)l * (size_t)N + (size_t)x];
                row.replicas =
                    (int)placement_replicas(pl, (uint32_t)l, (uint32_t)x);
                rc = sink->expert(sink->ctx, &row);
            }
    }
fail:
    trace_writer_destroy(tw);
    free(load_total);
    free(load_step);
    free(ids);
    free(src);
    free(bias);
    free(logits);
    if (rng)
        gsl_rng_free(rng);
    replay_destroy(rp);
    placement_load_destroy(ld);
    placement_destroy(pl);
    router_out_destroy(ro);
    workload_destroy(own);
    return rc;
}
