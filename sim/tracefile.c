#include "sim/tracefile.h"

#include <stdlib.h>
#include <string.h>

#include "models/placement.h"
#include "models/trace.h"
#include "sim/replay.h"

int tracefile_prepare(const char *trace_path, scenario *s, err_t *e)
{
    trace_reader_t *tr = NULL;
    int rc = trace_reader_open(&tr, trace_path, e);
    if (rc != 0)
        return rc;
    const trace_info_t *in = trace_reader_info(tr);
    int devices = s->nodes * s->node.devices;
    if ((int)in->devices != devices) {
        if (in->devices % (uint32_t)s->node.devices == 0)
            rc = err_set(e, ERR_INPUT, "%s: the trace was routed for %u "
                                       "devices but %d nodes of '%s' have %d; "
                                       "expected %u nodes",
                         trace_path, in->devices, s->nodes, s->node.name,
                         devices, in->devices / (uint32_t)s->node.devices);
        else
            rc = err_set(e, ERR_INPUT, "%s: the trace was routed for %u "
                                       "devices, which no whole number of "
                                       "'%s' nodes (%d devices each) holds",
                         trace_path, in->devices, s->node.name,
                         s->node.devices);
        goto done;
    }
    if ((int)in->experts != s->model.routed_experts ||
        (int)in->moe_layers != model_moe_layers(&s->model)) {
        rc = err_set(e, ERR_INPUT, "%s: the trace has %u MoE layers of %u "
                                   "experts but %s has %d of %d; expected "
                                   "the model the trace was recorded with",
                     trace_path, in->moe_layers, in->experts, s->model.name,
                     model_moe_layers(&s->model), s->model.routed_experts);
        goto done;
    }
    if (in->steps == 0 || in->tokens == 0) {
        rc = err_set(e, ERR_INPUT, "%s: the trace holds no token", trace_path);
        goto done;
    }
    long per_step = (long)(in->tokens / in->steps);
    s->devices = devices;
    s->ep_size = devices;
    if (s->attn_dp_size == 0 || devices % s->attn_dp_size != 0)
        s->attn_dp_size = devices;
    s->steps = (int)in->steps;
    long per_dev = per_step / devices > 0 ? per_step / devices : 1;
    if (s->phase == SCEN_DECODE) {
        s->sequences_per_device = (int)per_dev;
    } else {
        s->sequences_per_device = 1;
        s->seq_len = (int)per_dev;
    }
done:
    trace_reader_destroy(tr);
    return rc;
}

/* Expands a trace layer block into the replay's per-token arrays. */
static void expand(const trace_layer_t *l, int32_t *offs, int32_t *ex,
                   uint8_t *dropped)
{
    uint32_t k = 0;
    for (uint32_t t = 0; t < l->tokens; t++) {
        uint32_t first = 0, count = 0;
        trace_layer_token(l, t, &first, &count);
        offs[t] = (int32_t)k;
        for (uint32_t i = 0; i < count; i++, k++) {
            uint16_t id = l->ids[first + i];
            ex[k] = (int32_t)(id & TRACE_EXPERT_MASK);
            dropped[k] = (id & TRACE_DROPPED) != 0;
        }
    }
    offs[l->tokens] = (int32_t)k;
}

int tracefile_replay(const char *trace_path, const scenario *s,
                     const metrics_sink *sink, metrics_summary *out,
                     err_t *e)
{
    trace_reader_t *tr = NULL;
    replay *rp = NULL;
    int32_t *offs = NULL, *ex = NULL;
    uint8_t *dropped = NULL;
    size_t cap_t = 0, cap_e = 0;
    int rc = trace_reader_open(&tr, trace_path, e);
    if (rc != 0)
        return rc;
    const placement_t *pl = trace_reader_placement(tr);
    scen_policy pol;
    memset(&pol, 0, sizeof pol);
    pol.top_k = s->model.top_k;
    pol.redundant_experts =
        (int)placement_slots(pl) - s->model.routed_experts;
    if ((rc = replay_create(s, &pol, &rp, e)) != 0)
        goto done;
    int L = model_moe_layers(&s->model);
    for (int step = 0;; step++) {
        uint32_t tokens = 0;
        const uint16_t *src = NULL;
        rc = trace_reader_next(tr, &tokens, &src, e);
        if (rc < 0)
            goto done;
        if (rc == 0)
            break;
        if ((rc = replay_step_begin(rp, step, e)) != 0)
            goto done;
        for (int l = 0; l < L; l++) {
            const trace_layer_t *tl = trace_reader_layer(tr, (uint32_t)l);
            if (tl->tokens + 1 > cap_t) {
                cap_t = tl->tokens + 1;
                int32_t *p = realloc(offs, cap_t * sizeof *p);
                if (!p) {
                    rc = err_set(e, ERR_NOMEM, "out of memory");
                    goto done;
                }
                offs = p;
            }
            if (tl->entries > cap_e) {
                cap_e = tl->entries;
                int32_t *p = realloc(ex, cap_e * sizeof *p);
                uint8_t *q = realloc(dropped, cap_e);
                if (p)
                    ex = p;
                if (q)
                    dropped = q;
                if (!p || !q) {
                    rc = err_set(e, ERR_NOMEM, "out of memory");
                    goto done;
                }
            }
            expand(tl, offs, ex, dropped);
            replay_tokens in = {(int)tl->tokens, src, offs, ex, dropped};
            if ((rc = replay_moe_layer(rp, l, &in, pl, e)) != 0)
                goto done;
        }
        if ((rc = replay_step_end(rp, sink, NULL, e)) != 0)
            goto done;
    }
    rc = replay_finish(rp, sink, out, e);
done:
    free(offs);
    free(ex);
    free(dropped);
    replay_destroy(rp);
    trace_reader_destroy(tr);
    return rc;
}

/* Adds layer l's token-experts to el[expert] and, those not dropped, to
 * dl[device] of the replica a replay picks for them; returns how many
 * were dropped. */
static long layer_loads(const trace_layer_t *tl, const placement_t *pl,
                        uint32_t l, const uint16_t *src, long *dl, long *el)
{
    long dropped = 0;
    for (uint32_t t = 0; t < tl->tokens; t++) {
        uint32_t first = 0, count = 0;
        trace_layer_token(tl, t, &first, &count);
        for (uint32_t i = 0; i < count; i++) {
            uint16_t id = tl->ids[first + i];
            uint32_t x = id & TRACE_EXPERT_MASK;
            el[x]++;
            if (id & TRACE_DROPPED) {
                dropped++;
                continue;
            }
            uint32_t slot = placement_pick_slot(pl, l, x, t, src[t]);
            dl[placement_slot_device(pl, l, slot)]++;
        }
    }
    return dropped;
}

int tracefile_stats(const char *trace_path, FILE *out, err_t *e)
{
    trace_reader_t *tr = NULL;
    int rc = trace_reader_open(&tr, trace_path, e);
    if (rc != 0)
        return rc;
    const trace_info_t *in = trace_reader_info(tr);
    const placement_t *pl = trace_reader_placement(tr);
    uint32_t L = in->moe_layers, N = in->experts, D = in->devices;
    /* Per layer, summed over steps. */
    struct {
        double tokens, is, dmom, emom, dropped;
    } *sum = calloc(L, sizeof *sum);
    long *dl = calloc(D, sizeof *dl), *el = calloc(N, sizeof *el);
    long steps = 0;
    if (!sum || !dl || !el) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    for (;;) {
        uint32_t tokens = 0;
        const uint16_t *src = NULL;
        rc = trace_reader_next(tr, &tokens, &src, e);
        if (rc < 0)
            goto done;
        if (rc == 0)
            break;
        steps++;
        for (uint32_t l = 0; l < L; l++) {
            const trace_layer_t *tl = trace_reader_layer(tr, l);
            memset(dl, 0, D * sizeof *dl);
            memset(el, 0, N * sizeof *el);
            long dropped = layer_loads(tl, pl, l, src, dl, el);
            double l_is, l_dmom, l_emom;
            metrics_load_figures(dl, (int)D, (long)tl->tokens, &l_is, &l_dmom);
            metrics_load_figures(el, (int)N, (long)tl->tokens, NULL, &l_emom);
            sum[l].tokens += tl->tokens;
            sum[l].is += l_is;
            sum[l].dmom += l_dmom;
            sum[l].emom += l_emom;
            sum[l].dropped += (double)dropped;
        }
    }
    fprintf(out, "# %s: model %s, policy %s (router %s, placement %s), seed "
                 "%llu\n# %llu steps, %u MoE layers, %u experts, %u devices; "
                 "figures are means over steps\n",
            trace_path, in->model, in->policy, in->router, in->placement,
            (unsigned long long)in->seed, (unsigned long long)in->steps, L, N,
            D);
    fprintf(out, "%5s %9s %9s %16s %16s %9s\n", "layer", "tokens",
            "imbalance", "device_max/mean", "expert_max/mean", "dropped");
    double s_is = 0, s_d = 0, s_e = 0;
    for (uint32_t l = 0; l < L && steps > 0; l++) {
        double n = (double)steps;
        fprintf(out, "%5u %9.0f %9.4f %16.3f %16.3f %9.1f\n", l,
                sum[l].tokens / n, sum[l].is / n, sum[l].dmom / n,
                sum[l].emom / n, sum[l].dropped / n);
        s_is += sum[l].is / n;
        s_d += sum[l].dmom / n;
        s_e += sum[l].emom / n;
    }
    fprintf(out, "%5s %9s %9.4f %16.3f %16.3f\n", "mean", "", s_is / L,
            s_d / L, s_e / L);
    rc = 0;
done:
    free(sum);
    free(dl);
    free(el);
    trace_reader_destroy(tr);
    return rc;
}
