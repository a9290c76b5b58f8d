/*
 * router_vec: the router's vector kernels, each a loop over blocks of
 * LANES floats that GCC vectorizes (target_clones: AVX-512, AVX2 or SSE,
 * picked at load time): sigmoid and softmax rows, rank counting, group
 * top 2 and threshold masks. The selection that uses them is in
 * router_topk.c, whose header says why they look the way they do.
 */
#include "models/router_impl.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

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

/* ---- vector kernels -------------------------------------------------- */
/*
 * Rows are processed in blocks of LANES floats, padded at the end (see
 * router_padded_row), so each kernel's inner loop has a constant trip count and
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
void router_rank_count(const float *restrict v, int n, int n_blocks,
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

/* router_rank_count for at most LANES values (v padded to LANES with -inf):
 * constant trip counts let the ranks stay in one register. */
VECTOR_KERNEL
void router_rank_count16(const float *restrict v, int *restrict rank)
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

/* router_rank_count16 fused with the placement that follows it: value v[a]
 * (a < LANES, v padded with -inf) of rank r < k goes to bv[r], bi[r] =
 * idx[a]; ranks past k land in the spare entry k. Keeping the ranks in
 * registers spares a reload of each from a vector store. */
VECTOR_KERNEL
void router_rank_place16(const float *restrict v, const int32_t *restrict idx,
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
void router_group_top2_blocks(const float *restrict key, int n_group,
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

#ifdef ROUTER_HAVE_GROUP_KEEP_X8
typedef float router_v16f __attribute__((vector_size(16 * sizeof(float))));
typedef int32_t router_v16i __attribute__((vector_size(16 * sizeof(int32_t))));
typedef uint32_t router_v16u
    __attribute__((vector_size(16 * sizeof(uint32_t))));

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
 * router_group_top2_blocks: (max(p1, q1), max(min(p1, q1), max(p2, q2))). */
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
 * top 2 is router_group_top2_blocks' lane-wise top 2 and folds (lane i
 * with lane i + w for w = 8, 4, 2, 1, so every comparison sees the same
 * operands), but each fold step packs the halves of two vectors into one,
 * so the 8 groups fold in 15 vector steps instead of 32. The caller
 * checks that exactly topk_group bits are set (NaN scores can break
 * that). */
VECTOR_KERNEL
uint32_t router_group_keep_x8(const float *restrict key, int gsize,
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
    /* folds 8 -> 4 -> 2 -> 1 vectors in place along router_fold_lanes;
     * the last step pairs the one vector with itself, and its lanes 0-7
     * end as groups 0-7 */
    int nv = 8;
#pragma GCC unroll 4 /* straight-line steps: constant shuffles */
    for (int s = 0; s < 4; s++) {
        if (nv == 1) {
            a1[1] = a1[0];
            a2[1] = a2[0];
            nv = 2;
        }
        nv /= 2;
        router_v16i p, q;
        memcpy(&p, router_fold_lanes[0][s], sizeof p);
        memcpy(&q, router_fold_lanes[1][s], sizeof q);
#pragma GCC unroll 4
        for (int j = 0; j < nv; j++)
            V16_TOP2(__builtin_shuffle(a1[2 * j], a1[2 * j + 1], p),
                     __builtin_shuffle(a2[2 * j], a2[2 * j + 1], p),
                     __builtin_shuffle(a1[2 * j], a1[2 * j + 1], q),
                     __builtin_shuffle(a2[2 * j], a2[2 * j + 1], q),
                     a1[j], a2[j]);
    }
    router_v16f e1 = a1[0], e2 = a2[0];

    /* group scores and their ranks (router_rank_count's order: score desc, then
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
    /* rank < topk_group as the sign bit of rank - topk_group (ranks are
     * 0..7: no overflow), shifted as unsigned and negated to -1 or 0, in
     * the 8 group lanes. A vector compare says the same but costs GCC a
     * mask-to-vector conversion: 9% of this portable gate. */
    const router_v16i group_lanes = {-1, -1, -1, -1, -1, -1, -1, -1,
                                     0, 0, 0, 0, 0, 0, 0, 0};
    router_v16i keep =
        -(router_v16i)((router_v16u)(rank - topk_group) >> 31) & group_lanes;
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

/* Per-lane top 2 of a row of n keys, n a multiple of GROUP_LANES: lane l
 * sees elements l, l+8, l+16, ... and keeps its two largest in l1[l] and
 * l2[l] (equal values count twice, as torch.topk(2) returns them).
 * Compare-and-select, which vectorizes, as in router_group_top2_blocks. */
VECTOR_KERNEL
void router_lane_top2(const float *restrict key, int n, float *restrict l1,
                      float *restrict l2)
{
    float a1[GROUP_LANES], a2[GROUP_LANES];
    for (int l = 0; l < GROUP_LANES; l++) {
        a1[l] = key[l];
        a2[l] = -INFINITY;
    }
    for (int c = GROUP_LANES; c < n; c += GROUP_LANES) {
        for (int l = 0; l < GROUP_LANES; l++) {
            float v = key[c + l];
            float lo = v < a1[l] ? v : a1[l];
            a1[l] = v > a1[l] ? v : a1[l];
            a2[l] = lo > a2[l] ? lo : a2[l];
        }
    }
    for (int l = 0; l < GROUP_LANES; l++) {
        l1[l] = a1[l];
        l2[l] = a2[l];
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
int router_ge_masks32(const float *restrict v, int gsize,
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
const float *router_padded_row(router_out *o, const float *z, int n,
                               float fill)
{
    if (n % LANES == 0)
        return z;
    int pad = router_blocks_of(n) * LANES;
    memcpy(o->zpad, z, (size_t)n * sizeof *z);
    for (int i = n; i < pad; i++)
        o->zpad[i] = fill;
    return o->zpad;
}

/* p = softmax(z) over n experts, exp(z - max) / sum as torch computes it,
 * into o->score. */
void router_softmax_row(router_out *o, const float *z, int n)
{
    int nb = router_blocks_of(n);
    const float *zp = router_padded_row(o, z, n, -INFINITY);
    float m = max_blocks(zp, nb);
    float sum = exp_sum_blocks(zp, m, o->score, nb);
    div_blocks(o->score, sum, nb);
}

/* s = sigmoid(z) into o->score and key = s + bias into o->key, with bias
 * the batch's padded copy (zeros when the caller passed none). */
void router_sigmoid_row(router_out *o, const float *z, int n)
{
    const float *zp = router_padded_row(o, z, n, 0.0f);
    router_sigmoid_bias_blocks(zp, o->bias, o->score, o->key,
                               router_blocks_of(n));
}
