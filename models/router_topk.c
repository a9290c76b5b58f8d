/*
 * router_topk: the token-choice gates (topk, v2-device-limited,
 * v3-group-limited): thresholds, candidate lists and ranking over the
 * vector kernels of router_vec.c, the weights, and the software-pipelined
 * V3 gate. Shared with router.c through router_impl.h.
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
 *    groups (V3), router_group_keep_x8 folds the 8 groups together, ranks
 *    them and takes the threshold without leaving vector registers (a scalar
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
 */
#include "models/router_impl.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

/* Position of the lowest set bit of m != 0 (32-bit words too). */
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

/* ---- selection ------------------------------------------------------- */
/*
 * The common path of every top-k here is: a threshold theta that at least
 * k candidates are known to reach (from values of distinct experts already
 * at hand), a branch-free pass that lists the positions with key >= theta
 * in ascending order, and router_rank_count over that short list. Nothing below
 * theta can be among the k best, and every key equal to theta is listed,
 * so ties resolve exactly as in a full scan. When the list is long (many
 * equal keys) the running best-k list takes over; when it is shorter than
 * k (possible only with NaN keys) a full scan does.
 */

/* Ranks v[0..n), n <= RANK_MAX, into o->rank through the padded copy
 * o->rank_v (which router_rank_count needs); v may be o->rank_v itself. */
static void rank_of(router_out *o, const float *v, int n)
{
    int nb = router_blocks_of(n);
    if (v != o->rank_v)
        memcpy(o->rank_v, v, (size_t)n * sizeof *v);
    for (int i = 0; i < LANES; i++) /* a fixed count: no loop-exit miss */
        o->rank_v[n + i] = -INFINITY;
    if (nb == 1)
        router_rank_count16(o->rank_v, o->rank);
    else
        router_rank_count(o->rank_v, n, nb, o->rank);
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
int router_argmax_range(const float *v, int lo, int hi)
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
void router_best_of_range(const float *v, int lo, int hi, int k, float *bv,
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
    if (n == k) { /* all of them (K = 8 or 16): their minimum */
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
        int total = router_ge_masks32(key, gsize, glist, ng, theta, masks);
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
             * empty, padded with -inf), straight into router_rank_place16 */
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
            router_rank_place16(cv, cand, k, bv, bi);
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
                cand[c] = mbase[q] + lowest_bit64(m);
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
    if (c >= k && c <= RANK_MAX) {
        float *cv = o->rank_v;
        for (int a = 0; a < c; a++)
            cv[a] = key[cand[a]];
        if (c <= LANES) {
            for (int a = c; a < LANES; a++) { /* padding ranks past k */
                cv[a] = -INFINITY;
                cand[a] = 0;
            }
            router_rank_place16(cv, cand, k, bv, bi);
            return;
        }
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
        router_group_top2_blocks(key, n_group, gsize, m1, m2);
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
        /* maxima then second maxima, so the first nk are the known keys */
        router_lane_top2(key, n, o->gscore, o->gscore + GROUP_LANES);
        /* lane maxima alone give a tighter bound when they are enough */
        int nk = k <= GROUP_LANES ? GROUP_LANES : 2 * GROUP_LANES;
        theta = threshold_of(o, o->gscore, nk, k);
    }
    static const int32_t whole[1] = {0};
    select_best(o, key, n, whole, 1, theta, k);
}

#ifdef ROUTER_HAVE_GROUP_KEEP_X8
/* The groups set in router_group_keep_x8's bits, ascending, into glist,
 * listed without a branch per group; returns how many. */
static inline int kept_list8(uint32_t bits, int32_t *glist)
{
    int ng = 0;
    for (int g = 0; g < 8; g++) {
        glist[ng] = g;
        ng += (int)((bits >> g) & 1u);
    }
    return ng;
}
#endif

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
#ifdef ROUTER_HAVE_GROUP_KEEP_X8
    if (n_group == 8 && gsize % 16 == 0) { /* V3's 8 groups */
        float theta8;
        uint32_t bits = router_group_keep_x8(key, gsize, top2_sum, topk_group,
                                             &theta8);
        if (kept_list8(bits, glist) == topk_group) {
            float theta = 2 * topk_group >= top_k ? theta8 : -INFINITY;
            select_best(o, key, gsize, glist, topk_group, theta, top_k);
            return;
        }
        /* NaN scores: the general path */
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
        router_best_of_range(score, 0, n_group, topk_group, o->best_v,
                             o->best_i);
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

/* ---- the gates ------------------------------------------------------- */

#ifdef ROUTER_HAVE_GROUP_KEEP_X8
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
    int gsize = n / 8, nb = router_blocks_of(n);
    float *score[2] = {o->score, o->score2}, *key[2] = {o->key, o->key2};
    int32_t glist[2][8];
    int ng[2] = {0, 0};
    float theta[2] = {0.0f, 0.0f};
    for (int t = -1; t < T; t++) {
        if (t + 1 < T) { /* front half of token t + 1 */
            int nx = (t + 1) & 1;
            const float *zp = router_padded_row(
                o, logits + (size_t)(t + 1) * (size_t)n, n, 0.0f);
            router_sigmoid_bias_blocks(zp, o->bias, score[nx], key[nx], nb);
            uint32_t bits =
                router_group_keep_x8(key[nx], gsize, 1, tg, &theta[nx]);
            ng[nx] = kept_list8(bits, glist[nx]);
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
void router_route_token_choice(const router_config *cfg, const float *logits,
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
#ifdef ROUTER_HAVE_GROUP_KEEP_X8
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
            router_sigmoid_row(o, z, n);
            key = o->key;
        } else {
            router_softmax_row(o, z, n);
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
