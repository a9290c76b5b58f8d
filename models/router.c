/*
 * router: gating kernels. See router.h for the contract and
 * shared/reference/routing.md for the math.
 *
 * Speed. The bench target is >= 5 million DeepSeek-V3 gate routings per
 * second on one core (N = 256): about 200 ns per token, when 256 scalar
 * glibc expf calls alone take 600-900 ns here. On a CPU with AVX-512 that
 * gate runs router_avx512.c's kernel (about 165 ns a token on the 2-core
 * EPYC), which gives these portable kernels' output bit for bit; the
 * portable path below takes about 240 ns, for these reasons:
 *
 *  - Score functions run through glibc's vector expf (libmvec, part of
 *    libm). expf is redeclared under another C name with `simd` and
 *    `const`, which lets GCC vectorize the call without -ffast-math (the
 *    builtin expf may set errno, which blocks it), and target_clones picks
 *    an AVX-512, AVX2 or SSE body at load time. Rows go through the vector
 *    body in blocks of LANES, the tail through a padded copy, so every
 *    element sees the same code: libmvec and scalar expf may differ by an
 *    ulp, and equal logits must give bit-equal scores for the tie rule.
 *    Elsewhere (clang, non-glibc) plain expf is used: slower, same choices
 *    up to last-ulp differences. The AVX-512 kernel calls the same
 *    router_sigmoid_bias_blocks, hence the same scores.
 *  - Group top-2 scores are lane-wise compare-and-select, not a branchy
 *    scan (which mispredicted on every new maximum). With GCC and 8
 *    groups (V3), group_keep_x8 folds the 8 groups together, ranks them
 *    and takes the threshold without leaving vector registers (a scalar
 *    store read back by a vector load stalls store-to-load forwarding).
 *  - Top-k never sorts and rarely branches: a threshold that k experts are
 *    known to reach cuts the candidates to about a dozen, found as the set
 *    bits of vector compares (a per-element list cost a third of the
 *    gate), then ranked by counting (see "selection").
 *  - The V3 gate is software pipelined (route_v3_pipelined): token t+1's
 *    vector front half runs ahead of token t's branchy selection.
 * Of the portable path's 240 ns, about 70 are sigmoids (libmvec expf and
 * an exact divide), 55 group choice (a chain of dependent vector steps)
 * and 90 selection and weights; the AVX-512 kernel's gain is in the last
 * two (see its header).
 * The alternatives not taken: GSL's gsl_sort_float_largest_index is the
 * textbook partial insertion sort, but it keeps the later of two equal
 * values when it evicts ({1,1,2}, k = 2 gives {2,1}), so it cannot give
 * the tie rule, and its branches cost as much as our whole selection.
 * Expert choice, where k can be hundreds of tokens, keeps a binary heap
 * per expert.
 */
#include "models/router.h"
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

#define GROUP_LANES 8 /* lanes of the per-group top-2 scan */
#define MASK_WORDS 4  /* 64-bit candidate words kept on the stack */
#define RANK_MAX 48   /* longest list ranked by rank_count; LANES multiple */

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) &&      \
    defined(__GLIBC__)
/* glibc's expf under a name GCC does not treat as the errno-setting
 * builtin; `simd` promises libmvec's _ZGV*_expf variants exist. */
float router_vexpf_(float x) __asm__("expf")
    __attribute__((simd("notinbranch"), const, nothrow));
#define VEXPF router_vexpf_
#define VECTOR_KERNEL                                                        \
    __attribute__((target_clones("avx512f", "avx2", "default"),             \
                   optimize("tree-vectorize")))
#else
#define VEXPF expf
#define VECTOR_KERNEL
#endif

/* Position of the lowest set bit of m != 0. */
static inline int lowest_bit(uint32_t m)
{
#if defined(__GNUC__)
    return __builtin_ctz(m);
#else
    int b = 0;
    while (!(m & 1u)) {
        m >>= 1;
        b++;
    }
    return b;
#endif
}

/* Position of the lowest set bit of m != 0. */
static inline int lowest_bit64(uint64_t m)
{
#if defined(__GNUC__)
    return __builtin_ctzll(m);
#else
    int b = 0;
    while (!(m & 1u)) {
        m >>= 1;
        b++;
    }
    return b;
#endif
}


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
    size_t pad = (N + LANES - 1) / LANES * LANES;
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
        !(o->lane1 = calloc(N + GROUP_LANES, sizeof *o->lane1)) ||
        !(o->lane2 = calloc(N + GROUP_LANES, sizeof *o->lane2)) ||
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
    free(o->lane2);
    free(o->lane1);
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

/* ---- vector kernels -------------------------------------------------- */
/*
 * Rows are processed in blocks of LANES floats, padded at the end (see
 * padded_row), so each kernel's inner loop has a constant trip count and
 * every element goes through the same vector code. Lane-wise reductions
 * (max, sum) fix their summation order by lane, so results are
 * reproducible run to run; they differ from a sequential sum in the last
 * bits, as torch's own vectorized sums do.
 */

/* s = 1 / (1 + exp(-z)) (torch.sigmoid's formula) and key = s + bias. */
VECTOR_KERNEL
void router_sigmoid_bias_blocks(const float *restrict z,
                                const float *restrict bias,
                                float *restrict s, float *restrict key,
                                int n_blocks)
{
    for (int b = 0; b < n_blocks; b++) {
        int o = b * LANES;
        for (int i = 0; i < LANES; i++) {
            float v = 1.0f / (1.0f + VEXPF(-z[o + i]));
            s[o + i] = v;
            key[o + i] = v + bias[o + i];
        }
    }
}

/* Largest element of n_blocks blocks (NaN ignored unless first). */
VECTOR_KERNEL
static float max_blocks(const float *restrict z, int n_blocks)
{
    float m[LANES];
    for (int i = 0; i < LANES; i++)
        m[i] = z[i];
    for (int b = 1; b < n_blocks; b++) {
        int o = b * LANES;
        for (int i = 0; i < LANES; i++)
            m[i] = z[o + i] > m[i] ? z[o + i] : m[i];
    }
    float r = m[0];
    for (int i = 1; i < LANES; i++)
        r = m[i] > r ? m[i] : r;
    return r;
}

/* e = exp(z - shift); returns the sum of e (lane-wise partial sums). */
VECTOR_KERNEL
static float exp_sum_blocks(const float *restrict z, float shift,
                            float *restrict e, int n_blocks)
{
    float acc[LANES];
    for (int i = 0; i < LANES; i++)
        acc[i] = 0.0f;
    for (int b = 0; b < n_blocks; b++) {
        int o = b * LANES;
        for (int i = 0; i < LANES; i++) {
            float v = VEXPF(z[o + i] - shift);
            e[o + i] = v;
            acc[i] += v;
        }
    }
    float sum = 0.0f;
    for (int i = 0; i < LANES; i++)
        sum += acc[i];
    return sum;
}

VECTOR_KERNEL
static void div_blocks(float *restrict p, float d, int n_blocks)
{
    for (int b = 0; b < n_blocks; b++) {
        int o = b * LANES;
        for (int i = 0; i < LANES; i++)
            p[o + i] = p[o + i] / d;
    }
}

/* rank[a] = how many of v[0..n) come before v[a] in the order (value
 * descending, then position ascending): the position of a in a stable
 * descending sort, without sorting and without a branch per comparison.
 * Ranks are a permutation of 0..n-1 when no v is NaN. v holds n_blocks
 * blocks, padded after n with -inf; only the first n count as rivals, and
 * rank[n..] is junk. O(n^2), for the dozen or so values left after
 * thresholding. */
VECTOR_KERNEL
static void rank_count(const float *restrict v, int n, int n_blocks,
                       int *restrict rank)
{
    for (int blk = 0; blk < n_blocks; blk++)
        for (int i = 0; i < LANES; i++)
            rank[blk * LANES + i] = 0;
    /* vectorized over a, the value being ranked: no horizontal sums */
    for (int b = 0; b < n; b++) {
        float vb = v[b];
        for (int blk = 0; blk < n_blocks; blk++) {
            int o = blk * LANES;
            for (int i = 0; i < LANES; i++) {
                float va = v[o + i];
                rank[o + i] += (vb > va) | ((vb == va) & (b < o + i));
            }
        }
    }
}

/* rank_count for at most LANES values (v padded to LANES with -inf):
 * constant trip counts let the ranks stay in one register. */
VECTOR_KERNEL
static void rank_count16(const float *restrict v, int *restrict rank)
{
    int r[LANES];
    for (int i = 0; i < LANES; i++)
        r[i] = 0;
    for (int b = 0; b < LANES; b++) {
        float vb = v[b];
        for (int i = 0; i < LANES; i++)
            r[i] += (vb > v[i]) | ((vb == v[i]) & (b < i));
    }
    for (int i = 0; i < LANES; i++)
        rank[i] = r[i];
}

/* rank_count16 fused with the placement that follows it: value v[a]
 * (a < LANES, v padded with -inf) of rank r < k goes to bv[r], bi[r] =
 * idx[a]; ranks past k land in the spare entry k. Keeping the ranks in
 * registers spares a reload of each from a vector store. */
VECTOR_KERNEL
static void rank_place16(const float *restrict v, const int32_t *restrict idx,
                         int k, float *restrict bv, int32_t *restrict bi)
{
    int r[LANES];
    for (int i = 0; i < LANES; i++)
        r[i] = 0;
    for (int b = 0; b < LANES; b++) {
        float vb = v[b];
        for (int i = 0; i < LANES; i++)
            r[i] += (vb > v[i]) | ((vb == v[i]) & (b < i));
    }
    for (int i = 0; i < LANES; i++) {
        int ri = r[i] < k ? r[i] : k;
        bv[ri] = v[i];
        bi[ri] = idx[i];
    }
}

/* Largest (m1) and second largest (m2) of each group whose size is a
 * multiple of LANES: lane-wise top 2 over the group's blocks, then the
 * LANES pairs folded in halves with top2(P u Q) = (max(p1, q1),
 * max(min(p1, q1), max(p2, q2))). Equal values count twice, as
 * torch.topk(2) returns them. Compare-and-select throughout, which
 * vectorizes; the branchy scan it replaces mispredicted on every new
 * maximum and cost more than the 256 sigmoids. */
VECTOR_KERNEL
static void group_top2_blocks(const float *restrict key, int n_group,
                              int gsize, float *restrict m1,
                              float *restrict m2)
{
    for (int g = 0; g < n_group; g++) {
        const float *kg = key + g * gsize;
        float a1[LANES], a2[LANES];
        for (int i = 0; i < LANES; i++) {
            a1[i] = kg[i];
            a2[i] = -INFINITY;
        }
        for (int c = LANES; c < gsize; c += LANES) {
            for (int i = 0; i < LANES; i++) {
                float v = kg[c + i];
                float lo = v < a1[i] ? v : a1[i];
                a1[i] = v > a1[i] ? v : a1[i];
                a2[i] = lo > a2[i] ? lo : a2[i];
            }
        }
#pragma GCC unroll 4 /* straight-line folds of 8, 4, 2, 1 lanes */
        for (int w = LANES / 2; w >= 1; w /= 2) {
            for (int i = 0; i < w; i++) {
                float p1 = a1[i], q1 = a1[i + w];
                float p2 = a2[i], q2 = a2[i + w];
                float lo = p1 < q1 ? p1 : q1, hi2 = p2 > q2 ? p2 : q2;
                a1[i] = p1 > q1 ? p1 : q1;
                a2[i] = lo > hi2 ? lo : hi2;
            }
        }
        m1[g] = a1[0];
        m2[g] = a2[0];
    }
}

#if defined(__GNUC__) && !defined(__clang__)
#define HAVE_GROUP_TOP2_X8 1
typedef float router_v16f __attribute__((vector_size(16 * sizeof(float))));
typedef int32_t router_v16i __attribute__((vector_size(16 * sizeof(int32_t))));

/* Lane-wise a > b ? a : b and a < b ? a : b, as the scalar code writes
 * them (GCC's C has no vector ?:), so NaN and signed zeros fall the same
 * way. */
#define V16_GT_SEL(a, b)                                                     \
    ((router_v16f)(((router_v16i)(a) & (router_v16i)((a) > (b))) |          \
                   ((router_v16i)(b) & ~(router_v16i)((a) > (b)))))
#define V16_LT_SEL(a, b)                                                     \
    ((router_v16f)(((router_v16i)(a) & (router_v16i)((a) < (b))) |          \
                   ((router_v16i)(b) & ~(router_v16i)((a) < (b)))))
/* top2(P u Q) from lane pairs (p1, p2) and (q1, q2), as the fold of
 * group_top2_blocks: (max(p1, q1), max(min(p1, q1), max(p2, q2))). */
#define V16_TOP2(p1, p2, q1, q2, n1, n2)                                    \
    do {                                                                     \
        router_v16f lo_ = V16_LT_SEL(p1, q1), hi2_ = V16_GT_SEL(p2, q2);     \
        (n1) = V16_GT_SEL(p1, q1);                                           \
        (n2) = V16_GT_SEL(lo_, hi2_);                                        \
    } while (0)

/* lanes_after[b]: -1 in the lanes after lane b (a constant: GCC
 * scalarizes a lane-index compare computed in place) */
static const router_v16i lanes_after[8] = {
    {0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
    {0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
    {0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
    {0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
    {0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
    {0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1},
    {0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1},
    {0, 0, 0, 0, 0, 0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1},
};

/* The group phase of grouped_select for exactly 8 groups of gsize (a
 * multiple of 16): returns the kept groups as bits (bit g: group g ranks
 * below topk_group) and sets *theta to the smallest kept m2. The group
 * top 2 is group_top2_blocks' lane-wise top 2 and folds (lane i with lane
 * i + w for w = 8, 4, 2, 1, so every comparison sees the same operands),
 * but each fold step packs the halves of two vectors into one, so the 8
 * groups fold in 15 vector steps instead of 32. The caller checks that
 * exactly topk_group bits are set (NaN scores can break that). */
VECTOR_KERNEL
static uint32_t group_keep_x8(const float *restrict key, int gsize,
                              int top2_sum, int topk_group,
                              float *restrict theta)
{
    router_v16f a1[8], a2[8];
    const router_v16f ninf = {-INFINITY, -INFINITY, -INFINITY, -INFINITY,
                              -INFINITY, -INFINITY, -INFINITY, -INFINITY,
                              -INFINITY, -INFINITY, -INFINITY, -INFINITY,
                              -INFINITY, -INFINITY, -INFINITY, -INFINITY};
    for (int g = 0; g < 8; g++) {
        const float *kg = key + g * gsize;
        router_v16f t1, t2 = ninf;
        memcpy(&t1, kg, sizeof t1);
        for (int c = 16; c < gsize; c += 16) {
            router_v16f v;
            memcpy(&v, kg + c, sizeof v);
            router_v16f lo = V16_LT_SEL(v, t1);
            t1 = V16_GT_SEL(v, t1);
            t2 = V16_GT_SEL(lo, t2);
        }
        a1[g] = t1;
        a2[g] = t2;
    }
    /* w = 8: lanes 0-7 of two groups against their lanes 8-15 */
    const router_v16i p8 = {0, 1, 2, 3, 4, 5, 6, 7,
                            16, 17, 18, 19, 20, 21, 22, 23};
    const router_v16i q8 = {8, 9, 10, 11, 12, 13, 14, 15,
                            24, 25, 26, 27, 28, 29, 30, 31};
    router_v16f b1[4], b2[4];
    for (int j = 0; j < 4; j++) {
        router_v16f x1 = a1[2 * j], y1 = a1[2 * j + 1];
        router_v16f x2 = a2[2 * j], y2 = a2[2 * j + 1];
        V16_TOP2(__builtin_shuffle(x1, y1, p8), __builtin_shuffle(x2, y2, p8),
                 __builtin_shuffle(x1, y1, q8), __builtin_shuffle(x2, y2, q8),
                 b1[j], b2[j]);
    }
    /* w = 4: 8-lane segments (one group each) split 0-3 against 4-7 */
    const router_v16i p4 = {0, 1, 2, 3, 8, 9, 10, 11,
                            16, 17, 18, 19, 24, 25, 26, 27};
    const router_v16i q4 = {4, 5, 6, 7, 12, 13, 14, 15,
                            20, 21, 22, 23, 28, 29, 30, 31};
    router_v16f c1[2], c2[2];
    for (int j = 0; j < 2; j++) {
        router_v16f x1 = b1[2 * j], y1 = b1[2 * j + 1];
        router_v16f x2 = b2[2 * j], y2 = b2[2 * j + 1];
        V16_TOP2(__builtin_shuffle(x1, y1, p4), __builtin_shuffle(x2, y2, p4),
                 __builtin_shuffle(x1, y1, q4), __builtin_shuffle(x2, y2, q4),
                 c1[j], c2[j]);
    }
    /* w = 2: 4-lane segments split 0-1 against 2-3 */
    const router_v16i p2 = {0, 1, 4, 5, 8, 9, 12, 13,
                            16, 17, 20, 21, 24, 25, 28, 29};
    const router_v16i q2 = {2, 3, 6, 7, 10, 11, 14, 15,
                            18, 19, 22, 23, 26, 27, 30, 31};
    router_v16f d1, d2;
    V16_TOP2(__builtin_shuffle(c1[0], c1[1], p2),
             __builtin_shuffle(c2[0], c2[1], p2),
             __builtin_shuffle(c1[0], c1[1], q2),
             __builtin_shuffle(c2[0], c2[1], q2), d1, d2);
    /* w = 1: even lanes against odd; lanes 0-7 end as groups 0-7 */
    const router_v16i p1 = {0, 2, 4, 6, 8, 10, 12, 14,
                            0, 2, 4, 6, 8, 10, 12, 14};
    const router_v16i q1 = {1, 3, 5, 7, 9, 11, 13, 15,
                            1, 3, 5, 7, 9, 11, 13, 15};
    router_v16f e1, e2;
    V16_TOP2(__builtin_shuffle(d1, p1), __builtin_shuffle(d2, p1),
             __builtin_shuffle(d1, q1), __builtin_shuffle(d2, q1), e1, e2);

    /* group scores and their ranks (rank_count's order: score desc, then
     * group asc), all in registers: a round trip through memory between
     * scalar and vector code stalls store-to-load forwarding */
    router_v16f sc = top2_sum ? e1 + e2 : e1;
    const router_v16i lane = {0, 1, 2, 3, 4, 5, 6, 7,
                              8, 9, 10, 11, 12, 13, 14, 15};
    const router_v16f zero = {0};
    router_v16i rank = lane - lane;
#pragma GCC unroll 8
    for (int b = 0; b < 8; b++) {
        router_v16f vb = zero + sc[b]; /* +0 only flips a zero's sign */
        /* -1 per lane where rival b comes first: vb > sc, or vb >= sc
         * in the lanes after b (equal scores: the lower group first) */
        router_v16i after = lanes_after[b];
        rank -= ((router_v16i)(vb >= sc) & after) |
                ((router_v16i)(vb > sc) & ~after);
    }
    /* rank < topk_group (-1 where true), in the 8 group lanes */
    const router_v16i group_lanes = {-1, -1, -1, -1, -1, -1, -1, -1,
                                     0, 0, 0, 0, 0, 0, 0, 0};
    router_v16i keep = (router_v16i)(rank < topk_group) & group_lanes;
    /* theta: the smallest m2 of a kept group, NaN ignored as the scalar
     * min ignores it; +inf when none */
    const router_v16f pinf = -ninf;
    router_v16i ok = keep & (router_v16i)(e2 == e2);
    router_v16f t = (router_v16f)(((router_v16i)e2 & ok) |
                                  ((router_v16i)pinf & ~ok));
    const router_v16i lane_bit = {1, 2, 4, 8, 16, 32, 64, 128,
                                  0, 0, 0, 0, 0, 0, 0, 0};
    router_v16i bits = keep & lane_bit;
    const router_v16i h4 = {4, 5, 6, 7, 4, 5, 6, 7,
                            4, 5, 6, 7, 4, 5, 6, 7};
    const router_v16i h2 = {2, 3, 2, 3, 2, 3, 2, 3,
                            2, 3, 2, 3, 2, 3, 2, 3};
    const router_v16i h1 = {1, 1, 1, 1, 1, 1, 1, 1,
                            1, 1, 1, 1, 1, 1, 1, 1};
    router_v16f u; /* lanes 8-15 hold no bits and +inf: fold 8 lanes */
    bits |= __builtin_shuffle(bits, h4);
    u = __builtin_shuffle(t, h4);
    t = V16_LT_SEL(u, t);
    bits |= __builtin_shuffle(bits, h2);
    u = __builtin_shuffle(t, h2);
    t = V16_LT_SEL(u, t);
    bits |= __builtin_shuffle(bits, h1);
    u = __builtin_shuffle(t, h1);
    t = V16_LT_SEL(u, t);
    *theta = t[0];
    return (uint32_t)bits[0];
}
#endif

/* Per-lane top 2 of each group whose size is a multiple of GROUP_LANES:
 * lane l of group g sees elements l, l+8, l+16, ... and keeps its two
 * largest in l1/l2[g*GROUP_LANES + l] (equal values count twice, as
 * torch.topk(2) returns them). Compare-and-select, which vectorizes; the
 * branchy scan it replaces mispredicted on every new maximum and cost more
 * than the 256 sigmoids. */
VECTOR_KERNEL
static void group_lane_top2(const float *restrict key, int n_group, int gsize,
                            float *restrict l1, float *restrict l2)
{
    for (int g = 0; g < n_group; g++) {
        const float *kg = key + g * gsize;
        float a1[GROUP_LANES], a2[GROUP_LANES];
        for (int l = 0; l < GROUP_LANES; l++) {
            a1[l] = kg[l];
            a2[l] = -INFINITY;
        }
        for (int c = GROUP_LANES; c < gsize; c += GROUP_LANES) {
            for (int l = 0; l < GROUP_LANES; l++) {
                float v = kg[c + l];
                float lo = v < a1[l] ? v : a1[l];
                a1[l] = v > a1[l] ? v : a1[l];
                a2[l] = lo > a2[l] ? lo : a2[l];
            }
        }
        for (int l = 0; l < GROUP_LANES; l++) {
            l1[g * GROUP_LANES + l] = a1[l];
            l2[g * GROUP_LANES + l] = a2[l];
        }
    }
}

/* Bit b of masks[c]: v[32 c + b] >= theta, for n_chunks chunks of 32.
 * Compare, shift and OR-reduce vectorize; the branch-free list it feeds
 * (a store and an add per element, each store's address waiting on the
 * previous add) cost a third of the V3 gate. */
/* Chunks are those of the groups glist[0..ng) of gsize (a multiple of 32)
 * experts, in order; returns the number of set bits. One call for all
 * the kept groups. */
VECTOR_KERNEL
static int ge_masks32(const float *restrict v, int gsize,
                      const int32_t *restrict glist, int ng, float theta,
                      uint32_t *restrict masks)
{
    int count = 0; /* popcount is a libgcc call on baseline x86-64 */
    int nc = gsize / 32, q = 0;
    for (int j = 0; j < ng; j++) {
        const float *vg = v + glist[j] * gsize;
        for (int c = 0; c < nc; c++) {
            uint32_t m = 0;
            int n = 0;
            for (int i = 0; i < 32; i++) {
                m |= (uint32_t)(vg[32 * c + i] >= theta) << i;
                n += vg[32 * c + i] >= theta;
            }
            masks[q++] = m;
            count += n;
        }
    }
    return count;
}

/* ---- score rows ------------------------------------------------------ */

/* z itself when n fills whole blocks, else a copy in o->zpad with the tail
 * set to fill (-inf for softmax, so padding adds exp(-inf) = 0). */
static const float *padded_row(router_out *o, const float *z, int n,
                               float fill)
{
    if (n % LANES == 0)
        return z;
    int pad = (n + LANES - 1) / LANES * LANES;
    memcpy(o->zpad, z, (size_t)n * sizeof *z);
    for (int i = n; i < pad; i++)
        o->zpad[i] = fill;
    return o->zpad;
}

static int blocks_of(int n) { return (n + LANES - 1) / LANES; }

/* p = softmax(z) over n experts, exp(z - max) / sum as torch computes it,
 * into o->score. */
static void softmax_row(router_out *o, const float *z, int n)
{
    int nb = blocks_of(n);
    const float *zp = padded_row(o, z, n, -INFINITY);
    float m = max_blocks(zp, nb);
    float sum = exp_sum_blocks(zp, m, o->score, nb);
    div_blocks(o->score, sum, nb);
}

/* s = sigmoid(z) into o->score and key = s + bias into o->key, with bias
 * the batch's padded copy (zeros when the caller passed none). */
static void sigmoid_row(router_out *o, const float *z, int n)
{
    const float *zp = padded_row(o, z, n, 0.0f);
    router_sigmoid_bias_blocks(zp, o->bias, o->score, o->key, blocks_of(n));
}

/* ---- selection ------------------------------------------------------- */
/*
 * The common path of every top-k here is: a threshold theta that at least
 * k candidates are known to reach (from values of distinct experts already
 * at hand), a branch-free pass that lists the positions with key >= theta
 * in ascending order, and rank_count over that short list. Nothing below
 * theta can be among the k best, and every key equal to theta is listed,
 * so ties resolve exactly as in a full scan. When the list is long (many
 * equal keys) the running best-k list takes over; when it is shorter than
 * k (possible only with NaN keys) a full scan does.
 */

/* Ranks v[0..n), n <= RANK_MAX, into o->rank through the padded copy
 * o->rank_v (which rank_count needs); v may be o->rank_v itself. */
static void rank_of(router_out *o, const float *v, int n)
{
    int nb = blocks_of(n);
    if (v != o->rank_v)
        memcpy(o->rank_v, v, (size_t)n * sizeof *v);
    for (int i = 0; i < LANES; i++) /* a fixed count: no loop-exit miss */
        o->rank_v[n + i] = -INFINITY;
    if (nb == 1)
        rank_count16(o->rank_v, o->rank);
    else
        rank_count(o->rank_v, n, nb, o->rank);
}

/* Offers candidate (v, idx) to the running best-k list bv/bi of *n entries,
 * kept best first. Candidates must come in ascending idx: a candidate is
 * placed after every entry with a value >= its own and evicts the k-th only
 * when strictly better, so among equal values the lower index stays ahead.
 * A NaN never enters a full list and sinks to the end of a filling one. */
static inline void best_offer(float *bv, int32_t *bi, int *n, int k, float v,
                              int32_t idx)
{
    int pos = *n;
    if (pos == k) {
        if (!(v > bv[k - 1]))
            return;
        pos = k - 1;
    } else {
        (*n)++;
    }
    while (pos > 0 && v > bv[pos - 1]) {
        bv[pos] = bv[pos - 1];
        bi[pos] = bi[pos - 1];
        pos--;
    }
    bv[pos] = v;
    bi[pos] = idx;
}

/* Index of the largest of v[lo..hi), the lowest index on ties, by
 * compare-and-select (no branch to mispredict). */
static int argmax_range(const float *v, int lo, int hi)
{
    int bi = lo;
    float bv = v[lo];
    for (int i = lo + 1; i < hi; i++) {
        int better = v[i] > bv;
        bv = better ? v[i] : bv;
        bi = better ? i : bi;
    }
    return bi;
}

/* The k best of v[lo..hi) into bv/bi, best first, by the running list. */
static void best_of_range(const float *v, int lo, int hi, int k, float *bv,
                          int32_t *bi)
{
    int n = 0;
    for (int i = lo; i < hi; i++) {
        if (n == k && !(v[i] > bv[k - 1]))
            continue; /* the common case once the list is full */
        best_offer(bv, bi, &n, k, v[i], i);
    }
}

/* A value that at least k of known[0..n) reach: the smallest of the k
 * best, or -inf when n < k (no threshold). Correctness never rests on it:
 * select_best checks that k keys reach theta and rescans otherwise; a good
 * theta only makes the candidate list short. */
static float threshold_of(router_out *o, const float *known, int n, int k)
{
    if (n < k || n > RANK_MAX)
        return -INFINITY;
    if (n == k) { /* V3: 4 kept groups x top 2 = K = 8 */
        float theta = known[0];
        for (int a = 1; a < n; a++)
            theta = known[a] < theta ? known[a] : theta;
        return theta;
    }
    rank_of(o, known, n);
    float theta = INFINITY;
    int got = 0;
    for (int a = 0; a < n; a++) {
        if (o->rank[a] < k) {
            theta = known[a] < theta ? known[a] : theta;
            got++;
        }
    }
    return got == k ? theta : -INFINITY;
}

/* The k best keys (value desc, index asc) among the experts of the groups
 * glist[0..ng) (ascending group ids, groups of gsize experts), given
 * theta, into o->best_v/best_i, best first. */
static void select_best(router_out *o, const float *key, int gsize,
                        const int32_t *glist, int ng, float theta, int k)
{
    float *bv = o->best_v;
    int32_t *bi = o->best_i;
    int32_t *cand = o->cand;
    int c = 0;
    if (gsize % 32 == 0) {
        /* the positions at or above theta, by their bits: about a dozen
         * set bits to visit instead of gsize entries per group */
        uint32_t *masks = o->mask;
        int32_t *mbase = o->mask_base;
        int nc = gsize / 32, nm = 0;
        int total = ge_masks32(key, gsize, glist, ng, theta, masks);
        for (int j = 0; j < ng; j++) {
            int lo = glist[j] * gsize;
            for (int ch = 0; ch < nc; ch++)
                mbase[nm++] = lo + 32 * ch;
        }
        /* one loop over all set bits, moving to the next nonzero word
         * without a loop per word: a mispredicted exit per token, not per
         * group */
        if (nm <= 4 && total >= k && total <= LANES) {
            /* the common V3 case, up to 128 experts in two words: a
             * fixed 16 steps without a branch, each taking the lowest bit
             * of the first nonzero word (a junk position once both are
             * empty, padded with -inf), straight into rank_place16 */
            for (int q = nm; q < 4; q++) { /* the buffers hold 4 */
                masks[q] = 0;
                mbase[q] = mbase[0]; /* junk positions stay in range */
            }
            uint64_t w0 = masks[0] | (uint64_t)masks[1] << 32;
            uint64_t w1 = masks[2] | (uint64_t)masks[3] << 32;
            float *cv = o->rank_v;
            for (int a = 0; a < LANES; a++) {
                int use1 = w0 == 0;
                uint64_t m = use1 ? w1 : w0;
                int b = lowest_bit64(m | (uint64_t)1 << 63);
                int32_t idx = mbase[2 * use1 + (b >> 5)] + (b & 31);
                float v = key[idx];
                cand[a] = idx;
                cv[a] = a < total ? v : -INFINITY;
                m &= m - 1;
                w0 = use1 ? w0 : m;
                w1 = use1 ? m : w1;
            }
            rank_place16(cv, cand, k, bv, bi);
            return;
        }
        if (nm <= 2 * MASK_WORDS) { /* 64 bits a word: fewer moves */
            uint64_t w[MASK_WORDS];
            masks[nm] = 0; /* the buffer holds one spare */
            for (int q = 0; 2 * q < nm; q++)
                w[q] = masks[2 * q] | (uint64_t)masks[2 * q + 1] << 32;
            int q = 0;
            for (c = 0; c < total; c++) {
                while (!w[q])
                    q++;
                uint64_t m = w[q];
                int b = lowest_bit64(m);
                cand[c] = mbase[2 * q + (b >> 5)] + (b & 31);
                w[q] = m & (m - 1);
            }
        } else {
            int q = 0;
            for (c = 0; c < total; c++) {
                while (!masks[q])
                    q++;
                uint32_t m = masks[q];
                cand[c] = mbase[q] + lowest_bit(m);
                masks[q] = m & (m - 1);
            }
        }
    } else {
        for (int j = 0; j < ng; j++) {
            int lo = glist[j] * gsize;
            for (int i = lo; i < lo + gsize; i++) {
                cand[c] = i; /* always written, kept when key >= theta */
                c += key[i] >= theta;
            }
        }
    }
    if (c >= k && c <= LANES) {
        float *cv = o->rank_v;
        for (int a = 0; a < c; a++)
            cv[a] = key[cand[a]];
        for (int a = c; a < LANES; a++) { /* padding ranks past k */
            cv[a] = -INFINITY;
            cand[a] = 0;
        }
        rank_place16(cv, cand, k, bv, bi);
        return;
    }
    if (c >= k && c <= RANK_MAX) {
        float *cv = o->rank_v;
        for (int a = 0; a < c; a++)
            cv[a] = key[cand[a]];
        rank_of(o, cv, c);
        for (int a = 0; a < c; a++) {
            /* ranks past k land in the spare entry k: no branch */
            int r = o->rank[a] < k ? o->rank[a] : k;
            bv[r] = cv[a];
            bi[r] = cand[a];
        }
        return;
    }
    int cnt = 0;
    if (c >= k) { /* many equal keys: the running list over the candidates */
        for (int a = 0; a < c; a++)
            best_offer(bv, bi, &cnt, k, key[cand[a]], cand[a]);
        return;
    }
    for (int j = 0; j < ng; j++) { /* NaN keys: scan everything */
        int lo = glist[j] * gsize;
        for (int i = lo; i < lo + gsize; i++)
            best_offer(bv, bi, &cnt, k, key[i], i);
    }
}

/* Largest (m1) and second largest (m2; -inf for a group of one) key of
 * every group. */
static void group_top2(const float *key, int n_group, int gsize, float *m1,
                       float *m2)
{
    if (gsize % LANES == 0) {
        group_top2_blocks(key, n_group, gsize, m1, m2);
        return;
    }
    for (int g = 0; g < n_group; g++) {
        const float *kg = key + g * gsize;
        float t1 = kg[0], t2 = -INFINITY;
        for (int i = 1; i < gsize; i++) {
            float v = kg[i];
            float lo = v < t1 ? v : t1;
            t1 = v > t1 ? v : t1;
            t2 = lo > t2 ? lo : t2;
        }
        m1[g] = t1;
        m2[g] = t2;
    }
}

/* Plain top-k of key over all n experts into best_v/best_i. The threshold
 * comes from the per-lane maxima (and second maxima) of the row, which are
 * keys of distinct experts. */
static void topk_select(router_out *o, const float *key, int n, int k)
{
    float theta = -INFINITY;
    if (n % GROUP_LANES == 0 && n > GROUP_LANES && k <= 2 * GROUP_LANES) {
        group_lane_top2(key, 1, n, o->lane1, o->lane2);
        /* lane maxima alone give a tighter bound when they are enough */
        int nk = k <= GROUP_LANES ? GROUP_LANES : 2 * GROUP_LANES;
        memcpy(o->gscore, o->lane1, GROUP_LANES * sizeof *o->gscore);
        memcpy(o->gscore + GROUP_LANES, o->lane2,
               GROUP_LANES * sizeof *o->gscore);
        theta = threshold_of(o, o->gscore, nk, k);
    }
    static const int32_t whole[1] = {0};
    select_best(o, key, n, whole, 1, theta, k);
}

/* Group-limited choice of DeepSeek-V2/V3 on key (n entries, n_group
 * contiguous groups): group score = max (V2) or sum of the top 2 (V3) of
 * key in the group; keep the topk_group best groups (ties: lower group);
 * then the top_k best keys among the kept groups' experts, which is what
 * masking the other groups with -inf and taking top_k does (DeepSeek-V3
 * inference/model.py Gate). Writes best_v/best_i (top_k entries). */
static void grouped_select(router_out *o, const float *key, int n, int n_group,
                           int topk_group, int top_k, int top2_sum)
{
    if (n_group <= 1 || topk_group >= n_group) {
        topk_select(o, key, n, top_k);
        return;
    }
    int gsize = n / n_group;
    int32_t *glist = o->glist;
    int ng = 0;
#ifdef HAVE_GROUP_TOP2_X8
    if (n_group == 8 && gsize % 16 == 0) { /* V3's 8 groups */
        float theta8;
        uint32_t bits = group_keep_x8(key, gsize, top2_sum, topk_group,
                                      &theta8);
        for (int g = 0; g < n_group; g++) {
            glist[ng] = g;
            ng += (int)((bits >> g) & 1u);
        }
        if (ng == topk_group) {
            float theta = 2 * topk_group >= top_k ? theta8 : -INFINITY;
            select_best(o, key, gsize, glist, ng, theta, top_k);
            return;
        }
        ng = 0; /* NaN scores: the general path */
    }
#endif
    float *m1 = o->gscore, *m2 = m1 + n_group, *score = m2 + n_group;
    group_top2(key, n_group, gsize, m1, m2);
    for (int g = 0; g < n_group; g++)
        score[g] = top2_sum ? m1[g] + m2[g] : m1[g];
    uint8_t *keep = o->keep;
    int kept = 0;
    if (n_group <= RANK_MAX) {
        rank_of(o, score, n_group);
        for (int g = 0; g < n_group; g++) {
            keep[g] = (uint8_t)(o->rank[g] < topk_group);
            kept += keep[g];
        }
    }
    if (kept != topk_group) { /* NaN scores or many groups */
        memset(keep, 0, (size_t)n_group);
        best_of_range(score, 0, n_group, topk_group, o->best_v, o->best_i);
        for (int j = 0; j < topk_group; j++)
            keep[o->best_i[j]] = 1;
    }
    /* kept groups in ascending order, listed without a branch per group */
    for (int g = 0; g < n_group; g++) {
        glist[ng] = g;
        ng += keep[g];
    }
    /* every kept group's m1 and m2 (>= its m2) are keys of distinct
     * experts, so when they number at least top_k the smallest kept m2
     * is a threshold top_k experts reach */
    float theta = -INFINITY;
    if (2 * topk_group >= top_k) {
        theta = INFINITY;
        for (int j = 0; j < ng; j++)
            theta = m2[glist[j]] < theta ? m2[glist[j]] : theta;
    }
    select_best(o, key, gsize, glist, ng, theta, top_k);
}

/* Writes token t's K picks: ids from best_i, weights from score (the
 * unbiased p or s), renormalised (+1e-20 as transformers' DeepSeek code)
 * when asked, then scaled. */
static void emit_weighted(router_out *o, int base, int k, const float *score,
                          int renormalize, float scale)
{
    float sum = 0.0f;
    for (int j = 0; j < k; j++) {
        float w = score[o->best_i[j]];
        o->experts[base + j] = o->best_i[j];
        o->weights[base + j] = w;
        o->dropped[base + j] = 0;
        sum += w;
    }
    if (renormalize) {
        float denom = sum + 1e-20f;
        for (int j = 0; j < k; j++)
            o->weights[base + j] = o->weights[base + j] / denom * scale;
    } else if (scale != 1.0f) {
        for (int j = 0; j < k; j++)
            o->weights[base + j] *= scale;
    }
}

void router_v3_token_portable(const router_config *cfg, router_out *o,
                              const float *s, const float *key, int t)
{
    int k = cfg->top_k;
    grouped_select(o, key, cfg->n_experts, cfg->n_group, cfg->topk_group, k,
                   1);
    emit_weighted(o, t * k, k, s, cfg->renormalize, cfg->scaling_factor);
    o->offsets[t + 1] = (t + 1) * k;
}

/* ---- policies -------------------------------------------------------- */

#ifdef HAVE_GROUP_TOP2_X8
/* The V3 gate with 8 groups of a multiple of 32 experts, software
 * pipelined: token t+1's sigmoids and group choice (a long chain of
 * dependent vector steps) come before token t's selection (short, but
 * with data-dependent branches), so the out-of-order core overlaps the
 * two, and a mispredicted branch of t no longer discards t+1's work.
 * Same arithmetic on the same values as the unpipelined path; tokens
 * whose group scores do not give exactly topk_group groups (NaN) take
 * grouped_select. */
static void route_v3_pipelined(const router_config *cfg, const float *logits,
                               int T, router_out *o)
{
    int n = cfg->n_experts, k = cfg->top_k, tg = cfg->topk_group;
    int gsize = n / 8, nb = blocks_of(n);
    float *score[2] = {o->score, o->score2}, *key[2] = {o->key, o->key2};
    int32_t glist[2][8];
    int ng[2] = {0, 0};
    float theta[2] = {0.0f, 0.0f};
    for (int t = -1; t < T; t++) {
        if (t + 1 < T) { /* front half of token t + 1 */
            int nx = (t + 1) & 1;
            const float *zp = padded_row(
                o, logits + (size_t)(t + 1) * (size_t)n, n, 0.0f);
            router_sigmoid_bias_blocks(zp, o->bias, score[nx], key[nx], nb);
            uint32_t bits = group_keep_x8(key[nx], gsize, 1, tg, &theta[nx]);
            int c = 0;
            for (int g = 0; g < 8; g++) {
                glist[nx][c] = g;
                c += (int)((bits >> g) & 1u);
            }
            ng[nx] = c;
        }
        if (t < 0)
            continue;
        int cur = t & 1;
        if (ng[cur] == tg)
            select_best(o, key[cur], gsize, glist[cur], tg,
                        2 * tg >= k ? theta[cur] : -INFINITY, k);
        else
            grouped_select(o, key[cur], n, 8, tg, k, 1);
        emit_weighted(o, t * k, k, score[cur], cfg->renormalize,
                      cfg->scaling_factor);
        o->offsets[t + 1] = (t + 1) * k;
    }
}
#endif

/* topk, v2, v3: K picks per token, slots t*K .. t*K+K-1. */
static void route_token_choice(const router_config *cfg, const float *logits,
                               int T, router_out *o)
{
    int n = cfg->n_experts, k = cfg->top_k;
    int v3 = cfg->policy == ROUTER_V3_GROUP_LIMITED;
#ifdef ROUTER_HAVE_AVX512
    if (v3 && !cfg->portable && router_v3_avx512_fits(cfg)) {
        router_v3_avx512(cfg, logits, T, o);
        return;
    }
#endif
#ifdef HAVE_GROUP_TOP2_X8
    if (v3 && cfg->n_group == 8 && cfg->topk_group < 8 &&
        (n / 8) % 32 == 0) {
        route_v3_pipelined(cfg, logits, T, o);
        return;
    }
#endif
    for (int t = 0; t < T; t++) {
        const float *z = logits + (size_t)t * (size_t)n;
        const float *key;
        if (v3) {
            sigmoid_row(o, z, n);
            key = o->key;
        } else {
            softmax_row(o, z, n);
            key = o->score;
        }
        if (cfg->policy == ROUTER_TOPK)
            topk_select(o, key, n, k);
        else
            grouped_select(o, key, n, cfg->n_group, cfg->topk_group, k, v3);
        emit_weighted(o, t * k, k, o->score, cfg->renormalize,
                      cfg->scaling_factor);
        o->offsets[t + 1] = (t + 1) * k;
    }
}

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
        softmax_row(o, logits + (size_t)t * (size_t)n, n);
        int base = t * k;
        for (int g = 0; g < m; g++) {
            if (kg == 1) { /* Pangu Pro MoE: one expert per group */
                o->best_i[0] = argmax_range(o->score, g * gsize,
                                            (g + 1) * gsize);
                o->best_v[0] = o->score[o->best_i[0]];
            } else {
                best_of_range(o->score, g * gsize, (g + 1) * gsize, kg,
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
        softmax_row(o, logits + (size_t)t * (size_t)n, n);
        int ex = argmax_range(o->score, 0, n);
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
        softmax_row(o, z, n);
        int first = argmax_range(o->score, 0, n);
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
        float tv = hv[i];
        int32_t tt = ht[i];
        hv[i] = hv[w];
        ht[i] = ht[w];
        hv[w] = tv;
        ht[w] = tt;
        i = w;
    }
}

static void ec_sift_up(float *hv, int32_t *ht, int i)
{
    while (i > 0) {
        int p = (i - 1) / 2;
        if (!ec_worse(hv[i], ht[i], hv[p], ht[p]))
            return;
        float tv = hv[i];
        int32_t tt = ht[i];
        hv[i] = hv[p];
        ht[i] = ht[p];
        hv[p] = tv;
        ht[p] = tt;
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
            softmax_row(o, logits + (size_t)t * (size_t)n, n);
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
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
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
    float w = 1.0f / (float)k;
    for (int t = 0; t < T; t++) {
        uint64_t state = (uint64_t)ids[t] ^ cfg->hash_seed;
        int32_t *ex = o->experts + (size_t)t * (size_t)k;
        int got = 0;
        for (long draws = 0; got < k && draws < 64L * n; draws++) {
            int32_t c = (int32_t)(splitmix64_next(&state) % (uint64_t)n);
            int dup = 0;
            for (int j = 0; j < got && !dup; j++)
                dup = ex[j] == c;
            if (!dup)
                ex[got++] = c;
        }
        for (int32_t c = 0; got < k; c++) {
            int dup = 0;
            for (int j = 0; j < got && !dup; j++)
                dup = ex[j] == c;
            if (!dup)
                ex[got++] = c;
        }
        for (int j = 0; j < k; j++) {
            o->weights[t * k + j] = w;
            o->dropped[t * k + j] = 0;
        }
        o->offsets[t + 1] = (t + 1) * k;
    }
}

/* Uniform: K distinct experts per token, each K-subset equally likely,
 * by gsl_ran_choose over 0..N-1 (which keeps ascending order). Weights
 * 1/K. */
static void route_uniform(const router_config *cfg, int T, gsl_rng *rng,
                          router_out *o)
{
    int n = cfg->n_experts, k = cfg->top_k;
    float w = 1.0f / (float)k;
    for (int t = 0; t < T; t++) {
        gsl_ran_choose(rng, o->experts + (size_t)t * (size_t)k, (size_t)k,
                       o->iota, (size_t)n, sizeof *o->iota);
        for (int j = 0; j < k; j++) {
            o->weights[t * k + j] = w;
            o->dropped[t * k + j] = 0;
        }
        o->offsets[t + 1] = (t + 1) * k;
    }
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
        memset(out->bias, 0, (size_t)blocks_of(cfg->n_experts) * LANES *
                                 sizeof *out->bias);
        if (cfg->policy == ROUTER_V3_GROUP_LIMITED && bias)
            memcpy(out->bias, bias, (size_t)cfg->n_experts * sizeof *bias);
        route_token_choice(cfg, logits, n_tokens, out);
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
