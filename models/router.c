/*
 * router: the router's interface (router.h): policy names, configs and
 * their checks, the result buffer, router_route and the V3 bias update,
 * and the policies other than the token-choice gates: MoGE, Switch,
 * GShard, expert choice, hash and uniform. See
 * shared/reference/routing.md for the math.
 *
 * The files beside it: router_topk.c (topk, v2 and v3 gates: selection
 * and weights, and why it is shaped for speed), router_vec.c (the vector
 * kernels under both), router_avx512.c (the V3 gate on AVX-512), with
 * router_impl.h between them. Expert choice, where k can be hundreds of
 * tokens, keeps a binary heap per expert.
 */
#include "models/router.h"

#include "common/seed.h"
#include "models/router_impl.h"

#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_blas.h>
#include <gsl/gsl_errno.h>
#include <gsl/gsl_matrix_float.h>
#include <gsl/gsl_randist.h>

static const char *const policy_names[ROUTER_POLICY_COUNT] = {
    "topk",   "v2-device-limited", "v3-group-limited",
    "moge",   "switch",            "gshard",
    "expert-choice", "hash",       "uniform",
};

const char *router_policy_name(router_policy p)
{
    if ((int)p < 0 || p >= ROUTER_POLICY_COUNT)
        return "?";
    return policy_names[p];
}

int router_policy_parse(const char *name, router_policy *out, err_t *e)
{
    if (!name || !out)
        return err_set(e, ERR_INPUT, "router: no policy name given");
    for (int i = 0; i < ROUTER_POLICY_COUNT; i++) {
        if (strcmp(name, policy_names[i]) == 0) {
            *out = (router_policy)i;
            return 0;
        }
    }
    return err_set(e, ERR_INPUT,
                   "router: unknown policy '%s' (expected one of topk, "
                   "v2-device-limited, v3-group-limited, moge, switch, "
                   "gshard, expert-choice, hash, uniform)",
                   name);
}

void router_config_init(router_config *cfg, router_policy p, int n_experts,
                        int top_k)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->policy = p;
    cfg->n_experts = n_experts;
    cfg->top_k = top_k;
    cfg->n_group = 1;
    cfg->topk_group = 1;
    cfg->renormalize = p == ROUTER_V3_GROUP_LIMITED;
    cfg->scaling_factor = 1.0f;
    cfg->capacity_factor = 1.0;
    cfg->capacity_min = 0;
    cfg->hash_seed = 0;
}

const char *router_kernel_name(const router_config *cfg)
{
#ifdef ROUTER_HAVE_AVX512
    if (cfg && !cfg->portable && router_v3_avx512_fits(cfg))
        return "avx512";
#else
    (void)cfg;
#endif
    return "portable";
}

static int uses_top_k(router_policy p)
{
    return p == ROUTER_TOPK || p == ROUTER_V2_DEVICE_LIMITED ||
           p == ROUTER_V3_GROUP_LIMITED || p == ROUTER_MOGE ||
           p == ROUTER_HASH || p == ROUTER_UNIFORM;
}

static int uses_capacity(router_policy p)
{
    return p == ROUTER_SWITCH || p == ROUTER_GSHARD ||
           p == ROUTER_EXPERT_CHOICE;
}

int router_config_check(const router_config *cfg, err_t *e)
{
    if (!cfg)
        return err_set(e, ERR_INPUT, "router: no config given");
    if ((int)cfg->policy < 0 || cfg->policy >= ROUTER_POLICY_COUNT)
        return err_set(e, ERR_INPUT, "router: policy %d out of range",
                       (int)cfg->policy);
    const char *name = policy_names[cfg->policy];
    int n = cfg->n_experts, k = cfg->top_k;
    if (n < 1)
        return err_set(e, ERR_INPUT, "router %s: n_experts %d must be >= 1",
                       name, n);
    if (uses_top_k(cfg->policy) && (k < 1 || k > n))
        return err_set(e, ERR_INPUT,
                       "router %s: top_k %d must be in 1..n_experts (%d)",
                       name, k, n);
    if (cfg->policy == ROUTER_TOPK || cfg->policy == ROUTER_V2_DEVICE_LIMITED ||
        cfg->policy == ROUTER_V3_GROUP_LIMITED) {
        if (!(cfg->scaling_factor > 0.0f) || !isfinite(cfg->scaling_factor))
            return err_set(e, ERR_INPUT,
                           "router %s: scaling_factor %g must be finite and > 0",
                           name, (double)cfg->scaling_factor);
    }
    if (cfg->policy == ROUTER_V2_DEVICE_LIMITED ||
        cfg->policy == ROUTER_V3_GROUP_LIMITED || cfg->policy == ROUTER_MOGE) {
        int g = cfg->n_group;
        if (g < 1 || g > n || n % g != 0)
            return err_set(e, ERR_INPUT,
                           "router %s: n_experts %d is not a multiple of "
                           "n_group %d",
                           name, n, g);
        int gsize = n / g;
        if (cfg->policy == ROUTER_MOGE) {
            if (k % g != 0)
                return err_set(e, ERR_INPUT,
                               "router moge: top_k %d is not a multiple of "
                               "n_group %d (every group takes top_k/n_group)",
                               k, g);
        } else {
            int tg = cfg->topk_group;
            if (tg < 1 || tg > g)
                return err_set(e, ERR_INPUT,
                               "router %s: topk_group %d must be in "
                               "1..n_group (%d)",
                               name, tg, g);
            if (k > tg * gsize)
                return err_set(e, ERR_INPUT,
                               "router %s: top_k %d exceeds the %d experts "
                               "of topk_group %d groups",
                               name, k, tg * gsize, tg);
            /* DeepSeek's group score is the sum of the top 2 in a group */
            if (cfg->policy == ROUTER_V3_GROUP_LIMITED && g > 1 && gsize < 2)
                return err_set(e, ERR_INPUT,
                               "router v3-group-limited: groups of %d expert "
                               "cannot give a top-2 group score",
                               gsize);
        }
    }
    if (uses_capacity(cfg->policy)) {
        if (!(cfg->capacity_factor > 0.0) || !isfinite(cfg->capacity_factor))
            return err_set(e, ERR_INPUT,
                           "router %s: capacity_factor %g must be finite and "
                           "> 0",
                           name, cfg->capacity_factor);
        if (cfg->capacity_min < 0)
            return err_set(e, ERR_INPUT,
                           "router %s: capacity_min %d must be >= 0", name,
                           cfg->capacity_min);
    }
    if (cfg->policy == ROUTER_GSHARD && n < 2)
        return err_set(e, ERR_INPUT,
                       "router gshard: needs >= 2 experts for a second "
                       "choice, got %d",
                       n);
    return 0;
}

/* Expert choice's k: round(c * T / N) as flaxformer's MoeLayer computes
 * expert_capacity (Python round, half to even, which is rint in the default
 * rounding mode), at least capacity_min, at most T since an expert cannot
 * take a token twice. */
static int expert_choice_k(const router_config *cfg, int n_tokens)
{
    double k = rint(cfg->capacity_factor * (double)n_tokens /
                    (double)cfg->n_experts);
    if (k < (double)cfg->capacity_min)
        k = (double)cfg->capacity_min;
    if (k > (double)n_tokens)
        k = (double)n_tokens;
    return (int)k;
}

/* Per-expert capacity of switch and gshard, the formula of DeepSpeed's
 * _capacity (deepspeed/moe/sharded_moe.py): ceil((T / N) * factor) in
 * double, in that order, with factor doubled for top-2 (top2gating passes
 * capacity_factor * 2), then raised to capacity_min. The Switch paper's
 * (T / N) * factor and GShard's 2T/N (fairscale: 2 * T // N, which equals
 * this when T is a multiple of N and factor = 1) are the same formula.
 * Capped at T, which no expert can exceed anyway, to stay in int. */
static int capacity_slots(const router_config *cfg, int n_tokens)
{
    double factor = cfg->capacity_factor;
    if (cfg->policy == ROUTER_GSHARD)
        factor *= 2.0;
    double c = ceil((double)n_tokens / (double)cfg->n_experts * factor);
    if (c < (double)cfg->capacity_min)
        c = (double)cfg->capacity_min;
    if (c > (double)n_tokens)
        c = (double)n_tokens;
    return (int)c;
}

int router_slots_needed(const router_config *cfg, int n_tokens, int *slots,
                        err_t *e)
{
    int rc = router_config_check(cfg, e);
    if (rc)
        return rc;
    if (n_tokens < 0 || !slots)
        return err_set(e, ERR_INPUT, "router: n_tokens %d must be >= 0",
                       n_tokens);
    long long s;
    switch (cfg->policy) {
    case ROUTER_SWITCH:
        s = n_tokens;
        break;
    case ROUTER_GSHARD:
        s = 2LL * n_tokens;
        break;
    case ROUTER_EXPERT_CHOICE:
        s = (long long)cfg->n_experts * expert_choice_k(cfg, n_tokens);
        break;
    default:
        s = (long long)n_tokens * cfg->top_k;
        break;
    }
    if (s > INT_MAX)
        return err_set(e, ERR_INPUT,
                       "router %s: %d tokens need %lld slots, more than an "
                       "int holds; route smaller batches",
                       policy_names[cfg->policy], n_tokens, s);
    *slots = (int)s;
    return 0;
}

int router_logits(const float *h, int n_tokens, int d_model, const float *w,
                  int n_experts, float *logits, err_t *e)
{
    if (n_tokens < 0 || d_model < 1 || n_experts < 1)
        return err_set(e, ERR_INPUT,
                       "router_logits: sizes T=%d d=%d N=%d must be T >= 0, "
                       "d >= 1, N >= 1",
                       n_tokens, d_model, n_experts);
    if (n_tokens == 0)
        return 0;
    if (!h || !w || !logits)
        return err_set(e, ERR_INPUT, "router_logits: NULL %s",
                       !h ? "h" : !w ? "w" : "logits");
    gsl_matrix_float_const_view hv =
        gsl_matrix_float_const_view_array(h, (size_t)n_tokens, (size_t)d_model);
    gsl_matrix_float_const_view wv =
        gsl_matrix_float_const_view_array(w, (size_t)d_model, (size_t)n_experts);
    gsl_matrix_float_view zv =
        gsl_matrix_float_view_array(logits, (size_t)n_tokens, (size_t)n_experts);
    int rc = gsl_blas_sgemm(CblasNoTrans, CblasNoTrans, 1.0f, &hv.matrix,
                            &wv.matrix, 0.0f, &zv.matrix);
    if (rc != GSL_SUCCESS)
        return err_set(e, ERR_SIM, "router_logits: gsl_blas_sgemm: %s",
                       gsl_strerror(rc));
    return 0;
}

int router_out_create(int max_tokens, int max_slots, int max_experts,
                      router_out **out, err_t *e)
{
    if (!out)
        return err_set(e, ERR_INPUT, "router_out_create: NULL out");
    *out = NULL;
    if (max_tokens < 1 || max_tokens == INT_MAX || max_slots < 0 ||
        max_experts < 1 || max_experts > INT_MAX - LANES)
        return err_set(e, ERR_INPUT,
                       "router_out_create: sizes max_tokens=%d max_slots=%d "
                       "max_experts=%d out of range",
                       max_tokens, max_slots, max_experts);
    router_out *o = calloc(1, sizeof *o);
    if (!o)
        goto fail;
    o->max_tokens = max_tokens;
    o->max_slots = max_slots;
    o->max_experts = max_experts;
    size_t T = (size_t)max_tokens, S = (size_t)max_slots + 1,
           N = (size_t)max_experts;
    size_t pad = (size_t)router_blocks_of(max_experts) * LANES;
    if (!(o->offsets = calloc(T + 1, sizeof *o->offsets)) ||
        !(o->experts = calloc(S, sizeof *o->experts)) ||
        !(o->weights = calloc(S, sizeof *o->weights)) ||
        !(o->dropped = calloc(S, sizeof *o->dropped)) ||
        !(o->load = calloc(N, sizeof *o->load)) ||
        !(o->score = calloc(pad, sizeof *o->score)) ||
        !(o->key = calloc(pad, sizeof *o->key)) ||
        !(o->score2 = calloc(pad, sizeof *o->score2)) ||
        !(o->key2 = calloc(pad, sizeof *o->key2)) ||
        !(o->zpad = calloc(pad, sizeof *o->zpad)) ||
        !(o->bias = calloc(pad, sizeof *o->bias)) ||
        !(o->gscore = calloc(3 * N + 2 * GROUP_LANES, sizeof *o->gscore)) ||
        !(o->cand = calloc(N + LANES, sizeof *o->cand)) ||
        !(o->mask = calloc(N / 32 + 4, sizeof *o->mask)) ||
        !(o->mask_base = calloc(N / 32 + 4, sizeof *o->mask_base)) ||
        !(o->rank_v = calloc(RANK_MAX + LANES, sizeof *o->rank_v)) ||
        !(o->glist = calloc(N, sizeof *o->glist)) ||
        !(o->rank = calloc(RANK_MAX, sizeof *o->rank)) ||
        !(o->best_v = calloc(N + 1, sizeof *o->best_v)) ||
        !(o->best_i = calloc(N + 1, sizeof *o->best_i)) ||
        !(o->keep = calloc(N, sizeof *o->keep)) ||
        !(o->iota = calloc(N, sizeof *o->iota)) ||
        !(o->count1 = calloc(N, sizeof *o->count1)) ||
        !(o->count2 = calloc(N, sizeof *o->count2)) ||
        !(o->cursor = calloc(T, sizeof *o->cursor)) ||
        !(o->heap_v = calloc(S, sizeof *o->heap_v)) ||
        !(o->heap_t = calloc(S, sizeof *o->heap_t)))
        goto fail;
    for (int i = 0; i < max_experts; i++)
        o->iota[i] = i;

    *out = o;
    return 0;
fail:
    router_out_destroy(o);
    return err_set(e, ERR_NOMEM,
                   "router_out_create: out of memory for %d tokens, %d slots, "
                   "%d experts",
                   max_tokens, max_slots, max_experts);
}

void router_out_destroy(router_out *o)
{
    if (!o)
        return;
    free(o->heap_t);
    free(o->heap_v);
    free(o->cursor);
    free(o->count2);
    free(o->count1);
    free(o->iota);
    free(o->keep);
    free(o->best_i);
    free(o->best_v);
    free(o->rank);
    free(o->glist);
    free(o->rank_v);
    free(o->mask_base);
    free(o->mask);
    free(o->cand);
    free(o->gscore);
    free(o->bias);
    free(o->zpad);
    free(o->key2);
    free(o->score2);
    free(o->key);
    free(o->score);
    free(o->load);
    free(o->dropped);
    free(o->weights);
    free(o->experts);
    free(o->offsets);
    free(o);
}

int router_out_tokens(const router_out *o) { return o->n_tokens; }
int router_out_slots(const router_out *o) { return o->n_slots; }
int router_out_dropped_count(const router_out *o) { return o->n_dropped; }
const int32_t *router_out_offsets(const router_out *o) { return o->offsets; }
const int32_t *router_out_experts(const router_out *o) { return o->experts; }
const float *router_out_weights(const router_out *o) { return o->weights; }
const uint8_t *router_out_dropped(const router_out *o) { return o->dropped; }
const int *router_out_expert_load(const router_out *o) { return o->load; }

/* MoGE (Pangu Pro MoE, arXiv 2505.21411 Eqs. 4-8; vllm-ascend
 * pangu_moe.py): softmax over all N, then the top K/M inside each of the M
 * groups; weights are the raw global probabilities (no renormalisation, so
 * they sum to less than 1). */
static void route_moge(const router_config *cfg, const float *logits, int T,
                       router_out *o)
{
    int n = cfg->n_experts, k = cfg->top_k, m = cfg->n_group;
    int gsize = n / m, kg = k / m;
    for (int t = 0; t < T; t++) {
        router_softmax_row(o, logits + (size_t)t * (size_t)n, n);
        int base = t * k;
        for (int g = 0; g < m; g++) {
            if (kg == 1) { /* Pangu Pro MoE: one expert per group */
                o->best_i[0] = router_argmax_range(o->score, g * gsize,
                                            (g + 1) * gsize);
                o->best_v[0] = o->score[o->best_i[0]];
            } else {
                router_best_of_range(o->score, g * gsize, (g + 1) * gsize, kg,
                              o->best_v, o->best_i);
            }
            for (int j = 0; j < kg; j++) {
                int s = base + g * kg + j;
                o->experts[s] = o->best_i[j];
                o->weights[s] = o->best_v[j];
                o->dropped[s] = 0;
            }
        }
        o->offsets[t + 1] = base + k;
    }
}

/* Switch (transformers switch_transformers router; DeepSpeed top1gating
 * without random token selection): top-1 of softmax, weight = its p;
 * tokens claim the C slots of their expert in arrival order; later ones
 * are dropped (weight 0). */
static void route_switch(const router_config *cfg, const float *logits, int T,
                         router_out *o)
{
    int n = cfg->n_experts, cap = capacity_slots(cfg, T);
    for (int t = 0; t < T; t++) {
        router_softmax_row(o, logits + (size_t)t * (size_t)n, n);
        int ex = router_argmax_range(o->score, 0, n);
        int kept = o->load[ex] < cap;
        o->experts[t] = ex;
        o->weights[t] = kept ? o->score[ex] : 0.0f;
        o->dropped[t] = (uint8_t)!kept;
        if (kept)
            o->load[ex]++;
        else
            o->n_dropped++;
        o->offsets[t + 1] = t + 1;
    }
}

/* GShard top-2 as fairscale's top2gating and DeepSpeed's top2gating:
 * first = argmax softmax; second = argmax of logits + Gumbel(0,1) noise
 * with the first excluded (noise drawn for all N experts of every token,
 * token-major, from the caller's rng, as the reference draws it for the
 * whole logits tensor); capacity C slots per expert; first choices take
 * positions 0.. in token order; second choices queue behind every first
 * choice of that expert (locations2 += sum(mask1)), so first choices have
 * priority over all second choices; weights p1, p2 of the kept picks
 * divided by their sum, clamped below at FLT_EPSILON (DeepSpeed). */
static void route_gshard(const router_config *cfg, const float *logits, int T,
                         gsl_rng *rng, router_out *o)
{
    int n = cfg->n_experts, cap = capacity_slots(cfg, T);
    int *demand1 = o->count1, *seen2 = o->count2;
    memset(demand1, 0, (size_t)n * sizeof *demand1);
    memset(seen2, 0, (size_t)n * sizeof *seen2);
    /* pass 1: choices and raw gates into the slots */
    for (int t = 0; t < T; t++) {
        const float *z = logits + (size_t)t * (size_t)n;
        router_softmax_row(o, z, n);
        int first = router_argmax_range(o->score, 0, n);
        for (int i = 0; i < n; i++)
            o->key[i] = z[i] + (float)gsl_ran_gumbel1(rng, 1.0, 1.0);
        o->key[first] = -INFINITY;
        int second = first == 0 ? 1 : 0;
        for (int i = 0; i < n; i++)
            if (o->key[i] > o->key[second])
                second = i;
        o->experts[2 * t] = first;
        o->experts[2 * t + 1] = second;
        o->weights[2 * t] = o->score[first];
        o->weights[2 * t + 1] = o->score[second];
        demand1[first]++;
        o->offsets[t + 1] = 2 * (t + 1);
    }
    /* pass 2: capacity, then renormalise over what was kept */
    int *pos1 = o->load; /* first-choice cursor = kept first choices */
    for (int t = 0; t < T; t++) {
        int e1 = o->experts[2 * t], e2 = o->experts[2 * t + 1];
        int keep1 = pos1[e1]++ < cap;
        int keep2 = demand1[e2] + seen2[e2]++ < cap;
        float g1 = keep1 ? o->weights[2 * t] : 0.0f;
        float g2 = keep2 ? o->weights[2 * t + 1] : 0.0f;
        float denom = g1 + g2;
        if (denom < FLT_EPSILON)
            denom = FLT_EPSILON;
        o->weights[2 * t] = g1 / denom;
        o->weights[2 * t + 1] = g2 / denom;
        o->dropped[2 * t] = (uint8_t)!keep1;
        o->dropped[2 * t + 1] = (uint8_t)!keep2;
        o->n_dropped += !keep1 + !keep2;
    }
    /* loads: pos1 counted every first choice; recount kept slots */
    memset(o->load, 0, (size_t)n * sizeof *o->load);
    for (int s = 0; s < 2 * T; s++)
        if (!o->dropped[s])
            o->load[o->experts[s]]++;
}

/* Heap order for expert choice: entry a is worse than b when its
 * probability is lower, or equal with a later token (later loses ties). */
static inline int ec_worse(float va, int32_t ta, float vb, int32_t tb)
{
    return va < vb || (va == vb && ta > tb);
}

static inline void ec_swap(float *hv, int32_t *ht, int i, int j)
{
    float tv = hv[i];
    int32_t tt = ht[i];
    hv[i] = hv[j];
    ht[i] = ht[j];
    hv[j] = tv;
    ht[j] = tt;
}

/* Restores the min-heap (worst at the root) below position i. */
static void ec_sift_down(float *hv, int32_t *ht, int size, int i)
{
    for (;;) {
        int l = 2 * i + 1, r = l + 1, w = i;
        if (l < size && ec_worse(hv[l], ht[l], hv[w], ht[w]))
            w = l;
        if (r < size && ec_worse(hv[r], ht[r], hv[w], ht[w]))
            w = r;
        if (w == i)
            return;
        ec_swap(hv, ht, i, w);
        i = w;
    }
}

static void ec_sift_up(float *hv, int32_t *ht, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!ec_worse(hv[i], ht[i], hv[p], ht[p]))
            return;
        ec_swap(hv, ht, i, p);
        i = p;
    }
}

/* Expert choice (Zhou et al. 2022, arXiv 2202.09368; flaxformer
 * ExpertsChooseMaskedRouter): p = softmax over experts per token; each
 * expert takes the k tokens with the highest p in its column (ties: lower
 * token), weight = that p. Tokens are scanned once in order and offered to
 * every expert's size-k heap, so the T x N probability matrix is never
 * stored. A token's slots list its experts in ascending id. */
static void route_expert_choice(const router_config *cfg, const float *logits,
                                int T, router_out *o)
{
    int n = cfg->n_experts, k = expert_choice_k(cfg, T);
    int *size = o->count1;
    memset(size, 0, (size_t)n * sizeof *size);
    if (k > 0) {
        for (int t = 0; t < T; t++) {
            router_softmax_row(o, logits + (size_t)t * (size_t)n, n);
            for (int ex = 0; ex < n; ex++) {
                float *hv = o->heap_v + (size_t)ex * (size_t)k;
                int32_t *ht = o->heap_t + (size_t)ex * (size_t)k;
                float p = o->score[ex];
                if (size[ex] < k) {
                    hv[size[ex]] = p;
                    ht[size[ex]] = t;
                    ec_sift_up(hv, ht, size[ex]++);
                } else if (p > hv[0]) { /* equal p: the earlier token stays */
                    hv[0] = p;
                    ht[0] = t;
                    ec_sift_down(hv, ht, k, 0);
                }
            }
        }
    }
    /* CSR: count per token, prefix sums, then fill experts in ascending id */
    memset(o->offsets, 0, (size_t)(T + 1) * sizeof *o->offsets);
    for (int ex = 0; ex < n; ex++)
        for (int j = 0; j < size[ex]; j++)
            o->offsets[o->heap_t[(size_t)ex * (size_t)k + (size_t)j] + 1]++;
    for (int t = 0; t < T; t++) {
        o->offsets[t + 1] += o->offsets[t];
        o->cursor[t] = o->offsets[t];
    }
    for (int ex = 0; ex < n; ex++) {
        for (int j = 0; j < size[ex]; j++) {
            size_t h = (size_t)ex * (size_t)k + (size_t)j;
            int s = o->cursor[o->heap_t[h]]++;
            o->experts[s] = ex;
            o->weights[s] = o->heap_v[h];
            o->dropped[s] = 0;
        }
        o->load[ex] = size[ex];
    }
}

/* SplitMix64's output function (Steele, Lea, Flood 2014; Vigna's
 * splitmix64.c): advance the state by the golden gamma, then mix. */
static uint64_t splitmix64_next(uint64_t *state)
{
    return seed_mix64(*state += 0x9e3779b97f4a7c15ULL);
}

/* Appends c to the got distinct ids of ex unless already there; returns
 * the new count. */
static int add_distinct(int32_t *ex, int got, int32_t c)
{
    for (int j = 0; j < got; j++)
        if (ex[j] == c)
            return got;
    ex[got] = c;
    return got + 1;
}

/* Hash and uniform: T tokens of k slots, each weighing 1/k, none
 * dropped. */
static void equal_weights(router_out *o, int T, int k)
{
    float w = 1.0f / (float)k;
    for (int t = 0; t < T; t++) {
        for (int j = 0; j < k; j++) {
            o->weights[t * k + j] = w;
            o->dropped[t * k + j] = 0;
        }
        o->offsets[t + 1] = (t + 1) * k;
    }
}

/* Hash routing (Roller et al. 2021, arXiv 2106.04426): the SplitMix64
 * stream seeded with token_id ^ hash_seed; each output mod N is a
 * candidate, duplicates skipped, until K distinct experts (K = 1: the
 * first output mod N). The modulo bias is below N / 2^64. Should 64*N
 * draws not find K distinct experts, the lowest unused ids fill the rest,
 * so routing always ends. Weights 1/K. */
static void route_hash(const router_config *cfg, const uint32_t *ids, int T,
                       router_out *o)
{
    int n = cfg->n_experts, k = cfg->top_k;
    for (int t = 0; t < T; t++) {
        uint64_t state = (uint64_t)ids[t] ^ cfg->hash_seed;
        int32_t *ex = o->experts + (size_t)t * (size_t)k;
        int got = 0;
        for (long draws = 0; got < k && draws < 64L * n; draws++)
            got = add_distinct(
                ex, got, (int32_t)(splitmix64_next(&state) % (uint64_t)n));
        for (int32_t c = 0; got < k; c++)
            got = add_distinct(ex, got, c);
    }
    equal_weights(o, T, k);
}

/* Uniform: K distinct experts per token, each K-subset equally likely,
 * by gsl_ran_choose over 0..N-1 (which keeps ascending order). Weights
 * 1/K. */
static void route_uniform(const router_config *cfg, int T, gsl_rng *rng,
                          router_out *o)
{
    int n = cfg->n_experts, k = cfg->top_k;
    for (int t = 0; t < T; t++)
        gsl_ran_choose(rng, o->experts + (size_t)t * (size_t)k, (size_t)k,
                       o->iota, (size_t)n, sizeof *o->iota);
    equal_weights(o, T, k);
}

int router_route(const router_config *cfg, const float *logits, int n_tokens,
                 const float *bias, const uint32_t *token_ids, gsl_rng *rng,
                 router_out *out, err_t *e)
{
    if (!out)
        return err_set(e, ERR_INPUT, "router_route: NULL out");
    int slots, rc = router_slots_needed(cfg, n_tokens, &slots, e);
    if (rc)
        return rc;
    const char *name = policy_names[cfg->policy];
    if (cfg->n_experts > out->max_experts)
        return err_set(e, ERR_CAPACITY,
                       "router %s: %d experts but router_out was created for "
                       "max_experts %d; raise max_experts",
                       name, cfg->n_experts, out->max_experts);
    if (n_tokens > out->max_tokens)
        return err_set(e, ERR_CAPACITY,
                       "router %s: batch of %d tokens but router_out was "
                       "created for max_tokens %d; raise max_tokens",
                       name, n_tokens, out->max_tokens);
    if (slots > out->max_slots)
        return err_set(e, ERR_CAPACITY,
                       "router %s: batch of %d tokens needs %d slots but "
                       "router_out was created for max_slots %d; raise "
                       "max_slots (router_slots_needed)",
                       name, n_tokens, slots, out->max_slots);
    int needs_logits = cfg->policy != ROUTER_HASH &&
                       cfg->policy != ROUTER_UNIFORM;
    if (n_tokens > 0 && needs_logits && !logits)
        return err_set(e, ERR_INPUT, "router %s: NULL logits", name);
    if (n_tokens > 0 && cfg->policy == ROUTER_HASH && !token_ids)
        return err_set(e, ERR_INPUT, "router hash: NULL token_ids");
    if ((cfg->policy == ROUTER_GSHARD || cfg->policy == ROUTER_UNIFORM) &&
        !rng)
        return err_set(e, ERR_INPUT,
                       "router %s: needs the caller's seeded gsl_rng", name);

    out->n_tokens = n_tokens;
    out->n_experts = cfg->n_experts;
    out->n_dropped = 0;
    out->offsets[0] = 0;
    memset(out->load, 0, (size_t)cfg->n_experts * sizeof *out->load);

    switch (cfg->policy) {
    case ROUTER_TOPK:
    case ROUTER_V2_DEVICE_LIMITED:
    case ROUTER_V3_GROUP_LIMITED:
        /* the padded bias row; zeros add nothing to the sigmoid scores */
        memset(out->bias, 0, (size_t)router_blocks_of(cfg->n_experts) * LANES *
                                 sizeof *out->bias);
        if (cfg->policy == ROUTER_V3_GROUP_LIMITED && bias)
            memcpy(out->bias, bias, (size_t)cfg->n_experts * sizeof *bias);
        router_route_token_choice(cfg, logits, n_tokens, out);
        break;
    case ROUTER_MOGE:
        route_moge(cfg, logits, n_tokens, out);
        break;
    case ROUTER_SWITCH:
        route_switch(cfg, logits, n_tokens, out);
        break;
    case ROUTER_GSHARD:
        route_gshard(cfg, logits, n_tokens, rng, out);
        break;
    case ROUTER_EXPERT_CHOICE:
        route_expert_choice(cfg, logits, n_tokens, out);
        break;
    case ROUTER_HASH:
        route_hash(cfg, token_ids, n_tokens, out);
        break;
    case ROUTER_UNIFORM:
        route_uniform(cfg, n_tokens, rng, out);
        break;
    default:
        MOESIM_ASSERT(!"router_config_check admitted an unknown policy");
    }
    out->n_slots = out->offsets[n_tokens];
    /* token-choice policies without capacity count loads here */
    if (cfg->policy != ROUTER_SWITCH && cfg->policy != ROUTER_GSHARD &&
        cfg->policy != ROUTER_EXPERT_CHOICE) {
        for (int s = 0; s < out->n_slots; s++)
            out->load[out->experts[s]]++;
    }
    return 0;
}

void router_bias_update(float *bias, const int *expert_load, int n_experts,
                        float gamma)
{
    if (!bias || !expert_load || n_experts < 1)
        return;
    long long total = 0;
    for (int i = 0; i < n_experts; i++)
        total += expert_load[i];
    for (int i = 0; i < n_experts; i++) {
        long long scaled = (long long)expert_load[i] * n_experts;
        if (scaled > total)
            bias[i] -= gamma;
        else if (scaled < total)
            bias[i] += gamma;
    }
}
