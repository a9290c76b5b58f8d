/*
 * router_avx512: the DeepSeek-V3 gate of its published shape (N = 256
 * experts in 8 groups of 32, keep 4, K = 8) written with AVX-512
 * intrinsics, chosen at run time (router_kernel_name) when the CPU has
 * AVX-512F, VL and BW. It gives the portable kernels' output bit for bit:
 * the same sigmoids (router_sigmoid_bias_blocks), the same compare-and-
 * select arithmetic in the same order, and the tokens it does not take
 * (NaN group scores; fewer than K, or more than LANES, keys at or above
 * the threshold) go to the portable selection. NaN keys are never
 * candidates, in either path. tests/unit/router/test_kernels.c compares the two on ties,
 * NaN and random batches.
 *
 * Why a CPU-specific kernel: the bench target is >= 5 M routings/s on
 * one core (200 ns a token). The portable kernels, GCC vector extensions
 * throughout, stay near 240 ns on the 2-core EPYC; this one is near 165,
 * from four things portable C cannot say:
 *  - vmaxps/vminps are exactly the `a > b ? a : b` and `a < b ? a : b`
 *    selects of the group top 2 (NaN and signed zeros fall the same way),
 *    one instruction where a vector-extension select takes two;
 *  - vcompressps appends the keys at or above the threshold, and their
 *    ids, to a list without a loop over set bits (the register form: the
 *    memory form is microcoded on Zen 4);
 *  - each candidate is packed with its id into a 64-bit integer whose
 *    unsigned order is (key descending, id ascending), so a bitonic
 *    network of min/max on two registers gives the top 8 in order,
 *    replacing a 16 x 16 rank count and 16 scattered scalar stores;
 *  - the weights take one gather and one 8-lane divide instead of eight
 *    scalar divides.
 * Software pipelining two tokens (as the portable path does) measured no
 * gain here, so tokens run one after the other.
 */
#include "models/router_impl.h"

#include <math.h>
#include <stdint.h>

#ifdef ROUTER_HAVE_AVX512
#include <immintrin.h>

#define AVX512_TARGET                                                        \
    __attribute__((target("avx512f,avx512vl,avx512bw,popcnt,bmi")))

int router_v3_avx512_fits(const router_config *cfg)
{
    return cfg->policy == ROUTER_V3_GROUP_LIMITED && cfg->n_experts == 256 &&
           cfg->n_group == 8 && cfg->topk_group < 8 && cfg->top_k <= 8 &&
           2 * cfg->topk_group >= cfg->top_k &&
           __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("bmi");
}

/* One stage of a bitonic network on 8 packed keys: lane i meets lane
 * perm[i]; the lanes set in takemax keep the larger of the two. */
AVX512_TARGET static inline __m512i bitonic_stage(__m512i x, __m512i perm,
                                                  __mmask8 takemax)
{
    __m512i p = _mm512_permutexvar_epi64(perm, x);
    return _mm512_mask_max_epu64(_mm512_min_epu64(x, p), takemax, x, p);
}

/* Partners at distance 1, 2 and 4. Lane i keeps the larger when it is
 * the lower of its pair in a block sorted descending, or the higher in
 * one sorted ascending. */
#define PARTNER1 _mm512_set_epi64(6, 7, 4, 5, 2, 3, 0, 1)
#define PARTNER2 _mm512_set_epi64(5, 4, 7, 6, 1, 0, 3, 2)
#define PARTNER4 _mm512_set_epi64(3, 2, 1, 0, 7, 6, 5, 4)

/* A bitonic sequence of 8 sorted descending. */
AVX512_TARGET static inline __m512i bitonic_merge8(__m512i x)
{
    x = bitonic_stage(x, PARTNER4, 0x0F);
    x = bitonic_stage(x, PARTNER2, 0x33);
    return bitonic_stage(x, PARTNER1, 0x55);
}

/* 8 keys sorted descending: pairs, then blocks of 4 (descending and
 * ascending in turn, which makes the 8 bitonic), then the merge. */
AVX512_TARGET static inline __m512i bitonic_sort8(__m512i x)
{
    x = bitonic_stage(x, PARTNER1, 0x99);
    x = bitonic_stage(x, PARTNER2, 0xC3);
    x = bitonic_stage(x, PARTNER1, 0xA5);
    return bitonic_merge8(x);
}

/* top2(P u Q) from lane pairs (p1, p2) and (q1, q2): (max(p1, q1),
 * max(min(p1, q1), max(p2, q2))), as router_vec.c's V16_TOP2. */
#define TOP2(p1, p2, q1, q2, n1, n2)                                         \
    do {                                                                     \
        __m512 lo_ = _mm512_min_ps(p1, q1), hi2_ = _mm512_max_ps(p2, q2);    \
        (n1) = _mm512_max_ps(p1, q1);                                        \
        (n2) = _mm512_max_ps(lo_, hi2_);                                     \
    } while (0)

/* The 8 groups' top 2 of key, folded along router_fold_lanes as
 * router_group_keep_x8 does: lanes 0-7 of *m1 and *m2. Each step folds
 * pairs of vectors in place, down to one vector, which the last step
 * pairs with itself. */
AVX512_TARGET static inline void group_top2_x8(const float *key, __m512 *m1,
                                               __m512 *m2)
{
    const __m512 ninf = _mm512_set1_ps(-INFINITY);
    __m512 x1[8], x2[8];
    for (int g = 0; g < 8; g++) {
        __m512 x = _mm512_loadu_ps(key + 32 * g);
        __m512 y = _mm512_loadu_ps(key + 32 * g + 16);
        x1[g] = _mm512_max_ps(y, x);
        x2[g] = _mm512_max_ps(_mm512_min_ps(y, x), ninf);
    }
    int n = 8;
#pragma GCC unroll 4 /* straight-line steps, values kept in registers */
    for (int s = 0; s < 4; s++) {
        if (n == 1) {
            x1[1] = x1[0];
            x2[1] = x2[0];
            n = 2;
        }
        n /= 2;
        __m512i p = _mm512_loadu_si512(router_fold_lanes[0][s]);
        __m512i q = _mm512_loadu_si512(router_fold_lanes[1][s]);
#pragma GCC unroll 4
        for (int j = 0; j < n; j++)
            TOP2(_mm512_permutex2var_ps(x1[2 * j], p, x1[2 * j + 1]),
                 _mm512_permutex2var_ps(x2[2 * j], p, x2[2 * j + 1]),
                 _mm512_permutex2var_ps(x1[2 * j], q, x1[2 * j + 1]),
                 _mm512_permutex2var_ps(x2[2 * j], q, x2[2 * j + 1]),
                 x1[j], x2[j]);
    }
    *m1 = x1[0];
    *m2 = x2[0];
}

/* The kept groups as bits of lanes 0-7: group score m1 + m2 ranked (score
 * descending, then group ascending) below topk_group. */
AVX512_TARGET static inline __mmask16 kept_groups(__m512 sc, int topk_group)
{
    __m512i rank = _mm512_setzero_si512();
    const __m512i one = _mm512_set1_epi32(1);
    for (int b = 0; b < 8; b++) {
        __m512 vb = _mm512_permutexvar_ps(_mm512_set1_epi32(b), sc);
        /* rival b comes first: vb > sc, or vb >= sc in the lanes after b */
        __mmask16 after = (__mmask16)(0xFFFFu << (b + 1));
        __mmask16 first = (__mmask16)(
            _mm512_mask_cmp_ps_mask(after, vb, sc, _CMP_GE_OQ) |
            _mm512_mask_cmp_ps_mask((__mmask16)~after, vb, sc, _CMP_GT_OQ));
        rank = _mm512_mask_add_epi32(rank, first, rank, one);
    }
    return _mm512_mask_cmplt_epi32_mask(0xFF, rank,
                                        _mm512_set1_epi32(topk_group));
}

/* 16 float keys as unsigned integers in the same order: +0 first turns
 * -0 into +0 (which compares equal to it), then positive floats get the
 * top bit and negative ones are inverted. */
AVX512_TARGET static inline __m512i ordered_bits(__m512 v)
{
    __m512i b = _mm512_castps_si512(_mm512_add_ps(v, _mm512_setzero_ps()));
    __m512i flip = _mm512_or_si512(_mm512_srai_epi32(b, 31),
                                   _mm512_set1_epi32(INT32_MIN));
    return _mm512_xor_si512(b, flip);
}

AVX512_TARGET
void router_v3_avx512(const router_config *cfg, const float *logits, int T,
                      router_out *o)
{
    int k = cfg->top_k, tg = cfg->topk_group;
    float *s = o->score, *key = o->key;
    const __m512 pinf = _mm512_set1_ps(INFINITY);
    const __m512i iota = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6,
                                          5, 4, 3, 2, 1, 0);
    const __m512i reverse = _mm512_set_epi64(0, 1, 2, 3, 4, 5, 6, 7);
    const __mmask8 kmask = (__mmask8)((1u << k) - 1u);
    /* candidates: at most topk_group * 32, plus a vector of spill */
    float cv[8 * 32 + LANES];
    int32_t ci[8 * 32 + LANES];
    for (int t = 0; t < T; t++) {
        router_sigmoid_bias_blocks(logits + (size_t)t * 256, o->bias, s, key,
                                   256 / LANES);
        __m512 m1, m2;
        group_top2_x8(key, &m1, &m2);
        __mmask16 kept = kept_groups(_mm512_add_ps(m1, m2), tg);
        /* theta: the smallest m2 of a kept group, which the 2 *
         * topk_group >= K values m1, m2 of the kept groups reach. m2 is
         * never NaN: every fold keeps the operand that is not. */
        __m512 theta = _mm512_set1_ps(
            _mm512_reduce_min_ps(_mm512_mask_mov_ps(pinf, kept, m2)));
        int n = 0;
        unsigned bits = kept;
        if (__builtin_popcount(bits) == tg) { /* else NaN scores */
            for (; bits; bits &= bits - 1) {
                int g = __builtin_ctz(bits);
                for (int h = 0; h < 32; h += LANES) {
                    int lo = 32 * g + h;
                    __m512 x = _mm512_loadu_ps(key + lo);
                    __mmask16 m = _mm512_cmp_ps_mask(x, theta, _CMP_GE_OQ);
                    __m512i id = _mm512_add_epi32(iota, _mm512_set1_epi32(lo));
                    _mm512_storeu_ps(cv + n, _mm512_maskz_compress_ps(m, x));
                    _mm512_storeu_si512(ci + n,
                                        _mm512_maskz_compress_epi32(m, id));
                    n += __builtin_popcount(m);
                }
            }
        }
        if (n < k || n > LANES) {
            router_v3_token_portable(cfg, o, s, key, t);
            continue;
        }
        /* (key, ~id) in 64 bits: one unsigned order is (key desc, id
         * asc); absent candidates are 0, below all of them */
        __mmask16 live = (__mmask16)((1u << n) - 1u);
        __m512i ord = _mm512_maskz_mov_epi32(
            live, ordered_bits(_mm512_maskz_loadu_ps(live, cv)));
        __m512i nid = _mm512_maskz_mov_epi32(
            live, _mm512_xor_si512(_mm512_maskz_loadu_epi32(live, ci),
                                   _mm512_set1_epi32(-1)));
        __m512i a = bitonic_sort8(_mm512_unpacklo_epi32(nid, ord));
        __m512i b = bitonic_sort8(_mm512_unpackhi_epi32(nid, ord));
        /* the larger of a (descending) and b reversed is the top 8 */
        a = bitonic_merge8(
            _mm512_max_epu64(a, _mm512_permutexvar_epi64(reverse, b)));
        __m256i id = _mm256_xor_si256(_mm512_cvtepi64_epi32(a),
                                      _mm256_set1_epi32(-1));
        /* emit_weighted in lanes: the sum in slot order as it adds */
        int slot = t * k;
        __m256 w = _mm256_mmask_i32gather_ps(_mm256_setzero_ps(), kmask, id,
                                             s, 4);
        float wl[8];
        _mm256_storeu_ps(wl, w);
        float sum = 0.0f;
        for (int j = 0; j < k; j++)
            sum += wl[j];
        if (cfg->renormalize)
            w = _mm256_mul_ps(_mm256_div_ps(w, _mm256_set1_ps(sum + 1e-20f)),
                              _mm256_set1_ps(cfg->scaling_factor));
        else if (cfg->scaling_factor != 1.0f)
            w = _mm256_mul_ps(w, _mm256_set1_ps(cfg->scaling_factor));
        _mm256_mask_storeu_epi32(o->experts + slot, kmask, id);
        _mm256_mask_storeu_ps(o->weights + slot, kmask, w);
        _mm_mask_storeu_epi8(o->dropped + slot, kmask, _mm_setzero_si128());
        o->offsets[t + 1] = slot + k;
    }
}

#else
/* Not x86-64 or not a GNU C compiler: the portable kernels only. ISO C
 * wants a declaration in every translation unit. */
typedef int router_avx512_absent;
#endif
