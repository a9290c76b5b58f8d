#include "sim/replay.h"

#include <gsl/gsl_statistics_double.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hardware/cost.h"
#include "sim/engine.h"
#include "sim/exchange.h"
#include "sim/memory.h"

/* ---- the task graph of one step ---------------------------------------- */

enum { TASK_COMPUTE = 0, TASK_COLLECTIVE = 1 };

typedef struct task {
    int kind;
    int device;      /* compute: its device; collective: -1 */
    double dur_s;
    int deps_left;   /* unfinished tasks this one waits for */
    int started;
    int edge_begin;  /* dependents: edges_to[edge_begin .. edge_end) */
    int edge_end;
} task;

struct replay {
    const scenario *s;
    const scen_policy *policy; /* may be NULL */
    const model_desc *m;
    const hw_device *dev;
    int D;           /* devices in the expert-parallel group */
    int mbs;         /* micro-batches */
    int train;
    int layers, moe_layers, dense_layers;
    int slots_per_device;
    long tokens_per_device;
    double token_bytes; /* one token's hidden state in the activation dtype */
    cost_prec prec;
    cost_attn_shape ashape;
    exchange *net;

    /* per step, filled by replay_moe_layer */
    int step;
    int next_moe;
    double attn_s;        /* per device per layer, all micro-batches */
    double attn_flops;    /* per device per layer */
    double dense_ffn_s, dense_ffn_flops;
    double moe_extra_s, moe_extra_flops; /* gate + shared experts */
    double *expert_s;     /* [moe][mbs][D] */
    double *dispatch_s;   /* [moe][mbs] */
    double *combine_s;    /* [moe][mbs] */
    double step_expert_flops;
    metrics_layer *rows;  /* [layers] */
    long *dev_load_step;  /* [D]: token-experts per device this step */
    double *dev_idle_step;/* [D] */

    /* scratch for one layer */
    long *slot_tokens;    /* [mbs][D][slots_per_device] */
    long *dev_load;       /* [D] */
    double *dev_expert_s; /* [D]: one layer's expert time per device */
    int *task_ids;        /* [D]: scratch while issuing the task graph */
    long *expert_load;    /* [experts] */
    uint32_t *tok_src;    /* [cap_tokens]: dispatch lists of one micro-batch */
    uint32_t *dst_start;  /* [cap_tokens + 1] */
    uint32_t *dst_dev;    /* [cap_pairs] */
    size_t cap_tokens, cap_pairs;
    double *traffic;      /* [D][D] bytes */
    double *traffic_t;    /* transpose, for the combine */

    /* engine and task graph */
    eq_t *eq;
    task *tasks;
    int n_tasks, cap_tasks;
    int *edges_from, *edges_to; /* edge list, sorted into CSR per step */
    int *csr_count;      /* [cap_tasks + 1]: build_csr's scratch */
    int *csr_to;         /* [cap_edges]: build_csr sorts into it, then swaps
                            it with edges_to */
    int n_edges, cap_edges;
    int *queue;          /* [(D + 1)][cap_per_stream]: D compute streams, 1 comm */
    int *queue_len, *queue_head;
    int cap_per_stream;
    int *stream_busy;    /* [D + 1] */
    long events_total;

    /* run accumulators */
    int steps_done;
    double sum_step_s, sum_tokens_per_s, sum_a2a_s, sum_idle_s, sum_mfu;
    double sum_inter, sum_intra, sum_is, sum_dev_mom, sum_exp_mom;
    long n_moe_rows;
    long routed_pairs, dropped_pairs;
    double a2a_total_s;
};

/* Row-major index of (a, b) in rows of n. */
static size_t ix2(int a, int b, int n)
{
    return (size_t)a * (size_t)n + (size_t)b;
}

#define IDX3(a, b, c, nb, nc) (((size_t)(a) * (size_t)(nb) + (size_t)(b)) * (size_t)(nc) + (size_t)(c))

static hw_dtype to_hw(model_dtype t) { return (hw_dtype)t; }

void replay_destroy(replay *r)
{
    if (!r)
        return;
    exchange_destroy(r->net);
    eq_destroy(r->eq);
    free(r->expert_s);
    free(r->dispatch_s);
    free(r->combine_s);
    free(r->rows);
    free(r->dev_load_step);
    free(r->dev_idle_step);
    free(r->slot_tokens);
    free(r->dev_load);
    free(r->dev_expert_s);
    free(r->task_ids);
    free(r->expert_load);
    free(r->tok_src);
    free(r->dst_start);
    free(r->dst_dev);
    free(r->traffic);
    free(r->traffic_t);
    free(r->tasks);
    free(r->edges_from);
    free(r->edges_to);
    free(r->csr_count);
    free(r->csr_to);
    free(r->queue);
    free(r->queue_len);
    free(r->queue_head);
    free(r->stream_busy);
    free(r);
}

/* Attention, norms, gate and shared experts are the same on every device
 * (attention is balanced by data parallelism), so they are costed once. */
static int cost_fixed_parts(replay *r, err_t *e)
{
    const scenario *s = r->s;
    const model_desc *m = r->m;
    int tp = s->devices / s->attn_dp_size;
    int rc = cost_attn_check(&r->ashape, tp, e);
    if (rc != 0)
        return rc;
    cost_attn_batch b = {0};
    b.tp = tp;
    b.sequences = (long)s->sequences_per_device * tp;
    if (s->phase == SCEN_DECODE) {
        b.q_len = 1;
        b.ctx_len = s->context_len;
        b.mla_absorbed = 1;
    } else {
        b.q_len = s->seq_len;
        b.ctx_len = 0;
        b.mla_absorbed = 0;
    }
    cost_attn at;
    cost_attention(r->dev, &r->prec, &r->ashape, &b, &at);
    cost_op norm;
    double norm_s = cost_rmsnorm(r->dev, &r->prec, r->tokens_per_device,
                                 m->hidden, &norm);
    r->attn_s = at.total.time_s + 2 * norm_s;
    /* cost_attention already gives one device's share (heads / tp) */
    r->attn_flops = at.total.flops + 2 * norm.flops;
    if (tp > 1) {
        /* Ring all-reduce of the attention output inside the tensor-parallel
         * group over the scale-up fabric: 2(tp-1)/tp of the bytes per
         * device. Charged to attention time; the group is inside a node. */
        double bytes = (double)r->tokens_per_device * tp * r->token_bytes;
        double bw = s->node.scaleup_gbps * 1e9 *
                    (s->node.scaleup == HW_SCALEUP_FULL_MESH ? (tp - 1) : 1);
        r->attn_s += 2.0 * (tp - 1) / tp * bytes / bw +
                     s->node.scaleup_latency_us * 1e-6 +
                     cost_comm_overhead_s(r->dev);
    }
    cost_op op;
    r->moe_extra_s = cost_gate(r->dev, &r->prec, r->tokens_per_device,
                               m->hidden, m->routed_experts, m->top_k, &op);
    r->moe_extra_flops = op.flops;
    if (m->shared_experts > 0) {
        /* a tensor-parallel group runs the FFN over all its tokens with
         * 1/tp of the width on each device */
        r->moe_extra_s += cost_dense_ffn(
            r->dev, &r->prec, r->tokens_per_device * tp, m->hidden,
            (long)m->shared_expert_ffn * m->shared_experts, tp, &op);
        r->moe_extra_flops += op.flops;
    }
    r->dense_ffn_s = 0;
    r->dense_ffn_flops = 0;
    if (m->dense_layers > 0) {
        r->dense_ffn_s = cost_dense_ffn(r->dev, &r->prec,
                                        r->tokens_per_device * tp, m->hidden,
                                        m->dense_ffn, tp, &op);
        r->dense_ffn_flops = op.flops;
    }
    return 0;
}

int replay_create(const scenario *s, const scen_policy *p, replay **out,
                  err_t *e)
{
    *out = NULL;
    int rc = ERR_NOMEM;
    replay *r = calloc(1, sizeof *r);
    if (!r)
        return err_set(e, ERR_NOMEM, "out of memory creating the replay");
    r->s = s;
    r->policy = p;
    r->m = &s->model;
    r->dev = &s->node.device;
    r->D = s->ep_size;
    r->mbs = s->micro_batches;
    r->train = s->phase == SCEN_TRAIN;
    r->layers = r->m->layers;
    r->moe_layers = model_moe_layers(r->m);
    r->dense_layers = r->m->dense_layers;
    r->tokens_per_device = scen_tokens_per_device(s);
    r->token_bytes = (double)r->m->hidden *
                     model_dtype_bytes(r->m->activation_dtype);
    int redundant = p ? p->redundant_experts : 0;
    r->slots_per_device = (r->m->routed_experts + redundant) / r->D;
    r->prec.weight = to_hw(r->m->weight_dtype);
    r->prec.act = to_hw(r->m->activation_dtype);
    r->prec.kv = to_hw(r->m->kv_dtype);
    if ((rc = cost_prec_check(r->dev, &r->prec, e)) != 0) {
        char where[256];
        snprintf(where, sizeof where, "%s on %s", r->m->name, r->dev->name);
        err_prefix(e, where); /* keeps ERR_INPUT */
        goto fail;
    }
    const model_desc *m = r->m;
    r->ashape.kind = m->attn == MODEL_ATTN_MLA ? COST_ATTN_MLA : COST_ATTN_GQA;
    r->ashape.hidden = m->hidden;
    r->ashape.heads = m->heads;
    r->ashape.kv_heads = m->kv_heads;
    r->ashape.head_dim = m->head_dim;
    r->ashape.q_lora_rank = m->q_lora_rank;
    r->ashape.kv_lora_rank = m->kv_lora_rank;
    r->ashape.qk_nope_head_dim = m->qk_nope_head_dim;
    r->ashape.qk_rope_head_dim = m->qk_rope_head_dim;
    r->ashape.v_head_dim = m->v_head_dim;
    if ((rc = cost_fixed_parts(r, e)) != 0)
        goto fail;

    size_t D = (size_t)r->D, M = (size_t)r->mbs, L = (size_t)r->moe_layers;
    rc = ERR_NOMEM;
    r->expert_s = calloc(L * M * D, sizeof *r->expert_s);
    r->dispatch_s = calloc(L * M, sizeof *r->dispatch_s);
    r->combine_s = calloc(L * M, sizeof *r->combine_s);
    r->rows = calloc((size_t)r->layers, sizeof *r->rows);
    r->dev_load_step = calloc(D, sizeof *r->dev_load_step);
    r->dev_idle_step = calloc(D, sizeof *r->dev_idle_step);
    r->slot_tokens = calloc(M * D * (size_t)r->slots_per_device,
                            sizeof *r->slot_tokens);
    r->dev_load = calloc(D, sizeof *r->dev_load);
    r->dev_expert_s = calloc(D, sizeof *r->dev_expert_s);
    r->task_ids = calloc(D, sizeof *r->task_ids);
    r->expert_load = calloc((size_t)m->routed_experts, sizeof *r->expert_load);

    r->traffic = calloc(D * D, sizeof *r->traffic);
    r->traffic_t = calloc(D * D, sizeof *r->traffic_t);
    if (!r->expert_s || !r->dispatch_s || !r->combine_s || !r->rows ||
        !r->dev_load_step || !r->dev_idle_step || !r->slot_tokens ||
        !r->dev_load || !r->dev_expert_s || !r->task_ids || !r->expert_load || !r->traffic ||
        !r->traffic_t)
        goto nomem;

    /* Task graph capacity: per layer and micro-batch, D compute tasks for
     * attention and D for experts or the dense FFN, two collectives; twice
     * for training; one gradient collective. */
    size_t per_pass = (size_t)r->layers * M * (2 * D + 2);
    r->cap_tasks = (int)(per_pass * (r->train ? 2 : 1) + 4);
    r->cap_edges = r->cap_tasks * 4;
    r->cap_per_stream = (int)((size_t)r->layers * M * 4 * (r->train ? 2 : 1) + 4);
    r->tasks = calloc((size_t)r->cap_tasks, sizeof *r->tasks);
    r->edges_from = calloc((size_t)r->cap_edges, sizeof *r->edges_from);
    r->edges_to = calloc((size_t)r->cap_edges, sizeof *r->edges_to);
    r->csr_count = calloc((size_t)r->cap_tasks + 1, sizeof *r->csr_count);
    r->csr_to = calloc((size_t)r->cap_edges, sizeof *r->csr_to);
    r->queue = calloc((D + 1) * (size_t)r->cap_per_stream, sizeof *r->queue);
    r->queue_len = calloc(D + 1, sizeof *r->queue_len);
    r->queue_head = calloc(D + 1, sizeof *r->queue_head);
    r->stream_busy = calloc(D + 1, sizeof *r->stream_busy);
    if (!r->tasks || !r->edges_from || !r->edges_to || !r->csr_count ||
        !r->csr_to || !r->queue ||
        !r->queue_len || !r->queue_head || !r->stream_busy)
        goto nomem;
    if ((rc = eq_create(&r->eq, (size_t)r->cap_tasks, e)) != 0)
        goto fail;
    if ((rc = exchange_create(s, r->D, &r->net, e)) != 0)
        goto fail;
    *out = r;
    return 0;
nomem:
    rc = err_set(e, ERR_NOMEM, "out of memory sizing the replay for %d "
                               "devices",
                 r->D);
fail:
    replay_destroy(r);
    return rc;
}

int replay_step_begin(replay *r, int step, err_t *e)
{
    (void)e;
    r->step = step;
    r->next_moe = 0;
    r->step_expert_flops = 0;
    memset(r->dev_load_step, 0, (size_t)r->D * sizeof *r->dev_load_step);
    memset(r->dev_idle_step, 0, (size_t)r->D * sizeof *r->dev_idle_step);
    return 0;
}

int replay_moe_layer(replay *r, int moe_index, const replay_tokens *in,
                     const placement_t *pl, err_t *e)
{
    if (moe_index != r->next_moe)
        return err_set(e, ERR_SIM, "MoE layer %d handed over out of order "
                                   "(expected %d)",
                       moe_index, r->next_moe);
    const int D = r->D, M = r->mbs, S = r->slots_per_device;
    const int N = r->m->routed_experts;
    if ((int)placement_devices(pl) != D || (int)placement_slots_per_device(pl) != S ||
        (int)placement_experts(pl) != N)
        return err_set(e, ERR_INPUT, "placement has %u devices x %u slots for "
                                     "%u experts; the scenario needs %d x %d "
                                     "for %d",
                       placement_devices(pl), placement_slots_per_device(pl),
                       placement_experts(pl), D, S, N);
    uint32_t pl_layer = placement_layers(pl) == 1 ? 0 : (uint32_t)moe_index;
    int layer = r->dense_layers + moe_index;
    metrics_layer *row = &r->rows[layer];
    memset(row, 0, sizeof *row);
    row->step = r->step;
    row->layer = layer;
    row->moe = 1;
    row->tokens = in->tokens;
    memset(r->dev_load, 0, (size_t)D * sizeof *r->dev_load);
    memset(r->expert_load, 0, (size_t)N * sizeof *r->expert_load);
    memset(r->slot_tokens, 0, (size_t)M * (size_t)D * (size_t)S * sizeof *r->slot_tokens);

    size_t pairs = (size_t)in->offsets[in->tokens];
    if ((size_t)in->tokens > r->cap_tokens || pairs > r->cap_pairs) {
        size_t ct = (size_t)in->tokens, cp = pairs > 0 ? pairs : 1;
        uint32_t *a = realloc(r->tok_src, ct * sizeof *a);
        if (a)
            r->tok_src = a;
        uint32_t *b = realloc(r->dst_start, (ct + 1) * sizeof *b);
        if (b)
            r->dst_start = b;
        uint32_t *c = realloc(r->dst_dev, cp * sizeof *c);
        if (c)
            r->dst_dev = c;
        if (!a || !b || !c)
            return err_set(e, ERR_NOMEM, "out of memory for %d tokens",
                           in->tokens);
        r->cap_tokens = ct;
        r->cap_pairs = cp;
    }
    long per_dev = in->tokens / D > 0 ? in->tokens / D : 1;
    for (int mb = 0; mb < M; mb++) {
        size_t n_tok = 0, n_pairs = 0;
        for (int t = 0; t < in->tokens; t++) {
            /* micro-batch by position inside the source device's batch */
            int src = in->src_device[t];
            if (src >= D)
                return err_set(e, ERR_INPUT, "token %d comes from device %d "
                                             "of an expert-parallel group of "
                                             "%d",
                               t, src, D);
            int tmb = (int)(((long)(t % per_dev) * M) / per_dev);
            if (tmb != mb)
                continue;
            r->tok_src[n_tok] = (uint32_t)src;
            r->dst_start[n_tok] = (uint32_t)n_pairs;
            n_tok++;
            for (int32_t i = in->offsets[t]; i < in->offsets[t + 1]; i++) {
                int ex = in->experts[i];
                if (ex < 0 || ex >= N)
                    return err_set(e, ERR_INPUT, "token %d routed to expert "
                                                 "%d of %d",
                                   t, ex, N);
                r->expert_load[ex]++;
                r->routed_pairs++;
                if (in->dropped && in->dropped[i]) {
                    row->dropped++;
                    r->dropped_pairs++;
                    continue;
                }
                uint32_t slot = placement_pick_slot(pl, pl_layer, (uint32_t)ex,
                                                    (uint64_t)t,
                                                    (uint32_t)src);
                int d = (int)placement_slot_device(pl, pl_layer, slot);
                int local = (int)(slot % (uint32_t)S);
                r->dev_load[d]++;
                r->slot_tokens[IDX3(mb, d, local, D, S)]++;
                r->dst_dev[n_pairs++] = (uint32_t)d;
            }
        }
        r->dst_start[n_tok] = (uint32_t)n_pairs;
        int rc = exchange_dispatch_matrix(r->net, (int)n_tok, r->tok_src,
                                          r->dst_start, r->dst_dev,
                                          r->token_bytes, r->traffic, e);
        if (rc != 0)
            return rc;
        for (int a = 0; a < D; a++)
            for (int b = 0; b < D; b++)
                r->traffic_t[ix2(b, a, D)] = r->traffic[ix2(a, b, D)];
        exchange_result xd, xc;
        rc = exchange_run(r->net, r->traffic, &xd, e);
        if (rc == 0)
            rc = exchange_run(r->net, r->traffic_t, &xc, e);
        if (rc != 0)
            return rc;
        r->dispatch_s[ix2(moe_index, mb, M)] = xd.time_s;
        r->combine_s[ix2(moe_index, mb, M)] = xc.time_s;
        row->dispatch_s += xd.time_s;
        row->combine_s += xc.time_s;
        row->bytes_intra_node += xd.bytes_intra_node + xc.bytes_intra_node;
        row->bytes_inter_node += xd.bytes_inter_node + xc.bytes_inter_node;
        double util = xd.busiest_utilization;
        if (util > row->busiest_link_utilization || row->busiest_link[0] == 0) {
            row->busiest_link_utilization = util;
            snprintf(row->busiest_link, sizeof row->busiest_link, "%s",
                     xd.busiest_link);
        }
        for (int d = 0; d < D; d++) {
            cost_op op;
            double t_s = cost_grouped_experts(
                r->dev, &r->prec, r->m->hidden, r->m->expert_ffn,
                &r->slot_tokens[IDX3(mb, d, 0, D, S)], S, &op);
            r->expert_s[IDX3(moe_index, mb, d, M, D)] = t_s;
            r->step_expert_flops += op.flops;
        }
    }

    /* Loads and imbalance over the whole layer (all micro-batches). */
    long tsum = 0;
    for (int d = 0; d < D; d++) {
        tsum += r->dev_load[d];
        r->dev_load_step[d] += r->dev_load[d];
    }
    row->token_experts = tsum;
    metrics_load_figures(r->dev_load, D, in->tokens, &row->imbalance_score,
                         &row->device_max_over_mean);
    metrics_load_figures(r->expert_load, N, in->tokens, NULL,
                         &row->expert_max_over_mean);

    /* Expert compute summed over micro-batches per device. */
    double *per = r->dev_expert_s;
    for (int d = 0; d < D; d++) {
        per[d] = 0;
        for (int mb = 0; mb < M; mb++)
            per[d] += r->expert_s[IDX3(moe_index, mb, d, M, D)];
    }
    row->expert_compute_max_s = gsl_stats_max(per, 1, (size_t)D);
    row->expert_compute_mean_s = gsl_stats_mean(per, 1, (size_t)D);
    row->idle_mean_s = row->expert_compute_max_s - row->expert_compute_mean_s;
    for (int d = 0; d < D; d++)
        r->dev_idle_step[d] += row->expert_compute_max_s - per[d];
    row->attention_s = r->attn_s + r->moe_extra_s;
    r->next_moe++;
    return 0;
}

/* ---- running a step on the engine --------------------------------------- */

enum { EV_TASK_DONE = 1 };

static int add_task(replay *r, int kind, int device, double dur_s)
{
    MOESIM_ASSERT(r->n_tasks < r->cap_tasks);
    task *t = &r->tasks[r->n_tasks];
    memset(t, 0, sizeof *t);
    t->kind = kind;
    t->device = device;
    t->dur_s = dur_s;
    int stream = kind == TASK_COMPUTE ? device : r->D;
    MOESIM_ASSERT(r->queue_len[stream] < r->cap_per_stream);
    r->queue[(size_t)stream * (size_t)r->cap_per_stream +
             (size_t)r->queue_len[stream]++] = r->n_tasks;
    return r->n_tasks++;
}

static void add_edge(replay *r, int from, int to)
{
    MOESIM_ASSERT(r->n_edges < r->cap_edges);
    r->edges_from[r->n_edges] = from;
    r->edges_to[r->n_edges] = to;
    r->n_edges++;
    r->tasks[to].deps_left++;
}

/* Sorts the edge list into per-task dependent ranges (counting sort, so the
 * order of dependents is the order edges were added: deterministic). The
 * scratch is sized at creation, so a step allocates nothing. */
static void build_csr(replay *r)
{
    int n = r->n_tasks, m = r->n_edges;
    int *count = r->csr_count, *sorted = r->csr_to;
    memset(count, 0, ((size_t)n + 1) * sizeof *count);
    for (int i = 0; i < m; i++)
        count[r->edges_from[i] + 1]++;
    for (int i = 0; i < n; i++)
        count[i + 1] += count[i];
    for (int i = 0; i < n; i++) {
        r->tasks[i].edge_begin = count[i];
        r->tasks[i].edge_end = count[i + 1];
    }
    for (int i = 0; i < m; i++)
        sorted[count[r->edges_from[i]]++] = r->edges_to[i];
    r->csr_to = r->edges_to; /* the unsorted list becomes next step's scratch */
    r->edges_to = sorted;
}

/* Starts the head task of a stream if its inputs are ready and the stream
 * is idle. A collective occupies the shared communication stream. */
static int try_start(replay *r, int stream, err_t *e)
{
    if (r->stream_busy[stream] || r->queue_head[stream] >= r->queue_len[stream])
        return 0;
    int id = r->queue[(size_t)stream * (size_t)r->cap_per_stream +
                      (size_t)r->queue_head[stream]];
    task *t = &r->tasks[id];
    if (t->deps_left > 0 || t->started)
        return 0;
    t->started = 1;
    r->stream_busy[stream] = 1;
    eq_payload_t p = {0};
    p.kind = EV_TASK_DONE;
    p.who = stream;
    p.i0 = id;
    return eq_schedule_in(r->eq, t->dur_s, &p, NULL, e);
}

static int on_event(eq_t *eq, void *model, const eq_event_t *ev, err_t *e)
{
    (void)eq;
    replay *r = model;
    int id = (int)ev->p.i0, stream = ev->p.who;
    task *t = &r->tasks[id];
    r->stream_busy[stream] = 0;
    r->queue_head[stream]++;
    int rc = try_start(r, stream, e);
    for (int i = t->edge_begin; rc == 0 && i < t->edge_end; i++) {
        task *dep = &r->tasks[r->edges_to[i]];
        MOESIM_ASSERT(dep->deps_left > 0);
        if (--dep->deps_left == 0)
            rc = try_start(r, dep->kind == TASK_COMPUTE ? dep->device : r->D,
                           e);
    }
    return rc;
}

/* Issues one pass (forward, or backward when back = 1) of every layer and
 * micro-batch in the order production systems use. prev[mb] is the task the
 * next layer's compute must wait for (a collective), or -1. */
static void issue_pass(replay *r, int back, int *prev)
{
    const int D = r->D, M = r->mbs;
    double f = back ? COST_BACKWARD_FACTOR : 1.0;
    int *a = r->task_ids; /* one task id per device */
    for (int li = 0; li < r->layers; li++) {
        int l = back ? r->layers - 1 - li : li;
        int is_moe = l >= r->dense_layers;
        int moe = l - r->dense_layers;
        if (!is_moe) {
            for (int mb = 0; mb < M; mb++) {
                for (int d = 0; d < D; d++) {
                    int t1 = add_task(r, TASK_COMPUTE, d,
                                      f * (r->attn_s + r->dense_ffn_s) / M);
                    if (prev[mb] >= 0)
                        add_edge(r, prev[mb], t1);
                }
                prev[mb] = -1;
            }
            continue;
        }
        /* forward: attention (+gate, shared) | dispatch | experts | combine;
         * backward: combine-grad | experts | dispatch-grad | attention.
         * Compute streams issue all micro-batches' first halves before the
         * second halves so that one's all-to-all runs under the other's
         * compute. */
        int first_coll[2], second_coll[2];
        for (int mb = 0; mb < M; mb++) {
            double attn = f * (r->attn_s + r->moe_extra_s) / M;
            if (!back) {
                for (int d = 0; d < D; d++) {
                    a[d] = add_task(r, TASK_COMPUTE, d, attn);
                    if (prev[mb] >= 0)
                        add_edge(r, prev[mb], a[d]);
                }
                first_coll[mb] = add_task(
                    r, TASK_COLLECTIVE, -1,
                    r->dispatch_s[ix2(moe, mb, M)]);
                for (int d = 0; d < D; d++)
                    add_edge(r, a[d], first_coll[mb]);
            } else {
                first_coll[mb] = add_task(
                    r, TASK_COLLECTIVE, -1,
                    r->dispatch_s[ix2(moe, mb, M)]);
                if (prev[mb] >= 0)
                    add_edge(r, prev[mb], first_coll[mb]);
            }
        }
        for (int mb = 0; mb < M; mb++) {
            for (int d = 0; d < D; d++) {
                a[d] = add_task(r, TASK_COMPUTE, d,
                                f * r->expert_s[IDX3(moe, mb, d, M, D)]);
                add_edge(r, first_coll[mb], a[d]);
            }
            second_coll[mb] = add_task(r, TASK_COLLECTIVE, -1,
                                       r->combine_s[ix2(moe, mb, M)]);
            for (int d = 0; d < D; d++)
                add_edge(r, a[d], second_coll[mb]);
            prev[mb] = second_coll[mb];
        }
        if (back) {
            /* attention backward after the dispatch-gradient exchange */
            for (int mb = 0; mb < M; mb++) {
                double attn = f * (r->attn_s + r->moe_extra_s) / M;
                for (int d = 0; d < D; d++) {
                    int t1 = add_task(r, TASK_COMPUTE, d, attn);
                    add_edge(r, prev[mb], t1);
                }
                prev[mb] = -1;
            }
        }
    }
}

/* Ring all-reduce of the gradients of weights that have data-parallel copies
 * outside this expert-parallel group: 2 (n-1)/n of the bytes through the
 * slowest link a device uses (its NIC when copies sit on other nodes). */
static double grad_sync_s(const replay *r)
{
    const scenario *s = r->s;
    int copies = s->devices / s->ep_size;
    double wb = model_dtype_bytes(r->m->weight_dtype);
    double other = (model_total_params(r->m) -
                    (double)r->moe_layers * r->m->routed_experts *
                        model_expert_params(r->m)) /
                   ((double)s->devices / s->attn_dp_size) * wb;
    double expert = (double)r->moe_layers * r->slots_per_device *
                    model_expert_params(r->m) * wb;
    int n_other = s->attn_dp_size;
    double t = 0;
    double bw = s->nodes > 1 && s->node.scaleout == HW_SCALEOUT_FAT_TREE
                    ? s->node.nic_gbps * 1e9
                    : s->node.scaleup_gbps * 1e9;
    if (n_other > 1)
        t += 2.0 * (n_other - 1) / n_other * other / bw;
    if (copies > 1)
        t += 2.0 * (copies - 1) / copies * expert / bw;
    return t > 0 ? t + cost_comm_overhead_s(r->dev) : 0;
}

int replay_step_end(replay *r, const metrics_sink *sink, metrics_step *out,
                    err_t *e)
{
    const int D = r->D, M = r->mbs;
    if (r->next_moe != r->moe_layers)
        return err_set(e, ERR_SIM, "step %d ended after %d of %d MoE layers",
                       r->step, r->next_moe, r->moe_layers);
    r->n_tasks = 0;
    r->n_edges = 0;
    for (int i = 0; i <= D; i++) {
        r->queue_len[i] = 0;
        r->queue_head[i] = 0;
        r->stream_busy[i] = 0;
    }
    int prev[2] = {-1, -1};
    issue_pass(r, 0, prev);
    double other_s = 0;
    if (r->train) {
        issue_pass(r, 1, prev);
        other_s = r->s->grad_sync ? grad_sync_s(r) : 0;
        if (other_s > 0)
            add_task(r, TASK_COLLECTIVE, -1, other_s);
    }
    build_csr(r);
    eq_reset(r->eq);
    int rc = 0;
    for (int s = 0; s <= D && rc == 0; s++)
        rc = try_start(r, s, e);
    if (rc == 0)
        rc = eq_run(r->eq, on_event, r, e);
    if (rc < 0)
        return rc;
    r->events_total += (long)eq_events_handled(r->eq);
    for (int i = 0; i < r->n_tasks; i++)
        MOESIM_ASSERT(r->tasks[i].started && r->tasks[i].deps_left == 0);
    for (int i = 0; i <= D; i++)
        MOESIM_ASSERT(r->queue_head[i] == r->queue_len[i]);
    double step_s = eq_now(r->eq);

    /* Critical-path breakdown: mean compute, the barrier idle above it,
     * and the communication that was not hidden. */
    double passes = r->train ? 1.0 + COST_BACKWARD_FACTOR : 1.0;
    double compute_s = 0, idle_s = 0, a2a_total = 0;
    for (int l = 0; l < r->layers; l++) {
        metrics_layer *row = &r->rows[l];
        if (l < r->dense_layers) {
            memset(row, 0, sizeof *row);
            row->step = r->step;
            row->layer = l;
            row->attention_s = r->attn_s;
            row->layer_s = r->attn_s + r->dense_ffn_s;
            compute_s += passes * row->layer_s;
            continue;
        }
        row->layer_s = row->attention_s + row->dispatch_s +
                       row->expert_compute_max_s + row->combine_s;
        compute_s += passes * (row->attention_s + row->expert_compute_mean_s);
        idle_s += passes * row->idle_mean_s;
        /* all-to-alls run once forward and once backward in training */
        a2a_total += (r->train ? 2.0 : 1.0) * (row->dispatch_s + row->combine_s);
        row->busiest_link_utilization =
            row->dispatch_s > 0 ? row->busiest_link_utilization : 0;
    }
    double a2a_s = step_s - compute_s - idle_s - other_s;
    if (a2a_s < 0)
        a2a_s = 0;
    r->a2a_total_s += a2a_total;

    /* Useful FLOPs of the step on the group's devices. */
    double flops = (double)D * (r->layers * r->attn_flops +
                                r->moe_layers * r->moe_extra_flops +
                                r->dense_layers * r->dense_ffn_flops) +
                   r->step_expert_flops;
    flops *= passes;
    hw_dtype cd = cost_compute_dtype(r->prec.weight, r->prec.act);
    double peak = hw_peak_flops(r->dev, cd);

    metrics_step st;
    memset(&st, 0, sizeof st);
    st.step = r->step;
    st.step_s = step_s;
    int groups = r->s->devices / r->s->ep_size;
    st.tokens = r->tokens_per_device * D * groups;
    st.tokens_per_s = step_s > 0 ? (double)st.tokens / step_s : 0;
    st.tokens_per_s_per_device = st.tokens_per_s / r->s->devices;
    st.compute_s = compute_s;
    st.a2a_s = a2a_s;
    st.idle_s = idle_s;
    st.other_s = other_s;
    st.mfu = peak > 0 && step_s > 0 ? flops / (step_s * D * peak) : 0;
    for (int l = 0; l < r->layers; l++) {
        st.bytes_intra_node += r->rows[l].bytes_intra_node;
        st.bytes_inter_node += r->rows[l].bytes_inter_node;
    }
    if (r->train) {
        st.bytes_intra_node *= 2;
        st.bytes_inter_node *= 2;
    }

    if (sink) {
        for (int l = 0; l < r->layers && rc == 0; l++)
            if (sink->layer)
                rc = sink->layer(sink->ctx, &r->rows[l]);
        for (int d = 0; d < D && rc == 0; d++) {
            metrics_device dv;
            memset(&dv, 0, sizeof dv);
            dv.step = r->step;
            dv.device = d;
            dv.token_experts = r->dev_load_step[d];
            double own = 0;
            for (int l = 0; l < r->moe_layers; l++)
                for (int mb = 0; mb < M; mb++)
                    own += r->expert_s[IDX3(l, mb, d, M, D)];
            dv.compute_s = passes * (own + r->layers * r->attn_s +
                                     r->moe_layers * r->moe_extra_s +
                                     r->dense_layers * r->dense_ffn_s);
            dv.idle_s = passes * r->dev_idle_step[d];
            dv.comm_s = a2a_total + other_s;
            if (sink->device)
                rc = sink->device(sink->ctx, &dv);
        }
        if (rc == 0 && sink->step)
            rc = sink->step(sink->ctx, &st);
        if (rc != 0)
            return rc;
    }

    r->steps_done++;
    r->sum_step_s += step_s;
    r->sum_tokens_per_s += st.tokens_per_s;
    r->sum_a2a_s += a2a_s;
    r->sum_idle_s += idle_s;
    r->sum_mfu += st.mfu;
    r->sum_inter += st.bytes_inter_node;
    r->sum_intra += st.bytes_intra_node;
    for (int l = r->dense_layers; l < r->layers; l++) {
        r->sum_is += r->rows[l].imbalance_score;
        r->sum_dev_mom += r->rows[l].device_max_over_mean;
        r->sum_exp_mom += r->rows[l].expert_max_over_mean;
        r->n_moe_rows++;
    }
    if (out)
        *out = st;
    return 0;
}

int replay_finish(replay *r, const metrics_sink *sink, metrics_summary *out,
                  err_t *e)
{
    metrics_summary sm;
    memset(&sm, 0, sizeof sm);
    int n = r->steps_done;
    if (n == 0)
        return err_set(e, ERR_SIM, "no step was simulated");
    sm.steps = n;
    sm.step_s = r->sum_step_s / n;
    sm.tokens_per_s = r->sum_tokens_per_s / n;
    sm.tokens_per_s_per_device = sm.tokens_per_s / r->s->devices;
    /* NaN where a figure does not apply: stored as NULL, never as 0 */
    sm.tpot_s = r->s->phase == SCEN_DECODE ? sm.step_s : NAN;
    sm.ttft_s = r->s->phase == SCEN_PREFILL ? sm.step_s : NAN;
    if (r->n_moe_rows > 0) {
        sm.imbalance_score = r->sum_is / (double)r->n_moe_rows;
        sm.device_max_over_mean = r->sum_dev_mom / (double)r->n_moe_rows;
        sm.expert_max_over_mean = r->sum_exp_mom / (double)r->n_moe_rows;
    }
    sm.a2a_share = r->sum_step_s > 0 ? r->sum_a2a_s / r->sum_step_s : 0;
    sm.idle_share = r->sum_step_s > 0 ? r->sum_idle_s / r->sum_step_s : 0;
    sm.bytes_inter_node_per_step = r->sum_inter / n;
    sm.bytes_intra_node_per_step = r->sum_intra / n;
    sm.dropped_fraction = r->routed_pairs > 0
                              ? (double)r->dropped_pairs / (double)r->routed_pairs
                              : 0;
    sm.mfu = r->sum_mfu / n;
    mem_breakdown mb;
    mem_per_device(r->s, r->policy, &mb);
    sm.hbm_needed_bytes = mb.needed_bytes;
    sm.hbm_available_bytes = mb.available_bytes;
    sm.fits = mb.fits;
    int rc = 0;
    if (sink && sink->link)
        rc = exchange_links(r->net, r->a2a_total_s, sink->link, sink->ctx, e);
    if (rc == 0 && sink && sink->summary)
        rc = sink->summary(sink->ctx, &sm);
    if (out)
        *out = sm;
    return rc;
}

uint64_t replay_events(const replay *r) { return (uint64_t)r->events_total; }
