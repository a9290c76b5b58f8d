/*
 * router_impl: what the router's files share, not part of its interface
 * (router.h): the result buffer's layout, the vector kernels of
 * router_vec.c, the selection of router_topk.c that router.c's policies
 * and router_avx512.c's kernel call. Comments on the functions are at
 * their definitions.
 */
#ifndef MOESIM_MODELS_ROUTER_IMPL_H
#define MOESIM_MODELS_ROUTER_IMPL_H

#include <stdint.h>

#include "models/router.h"

#define LANES 16      /* floats per vector-kernel block: one AVX-512 register */
#define GROUP_LANES 8 /* lanes of the per-group top-2 scan */
#define MASK_WORDS 4  /* 64-bit candidate words kept on the stack */
#define RANK_MAX 48   /* longest list ranked by rank_count; LANES multiple */

struct router_out {
    int max_tokens, max_slots, max_experts;
    int n_tokens, n_slots, n_experts, n_dropped;
    int32_t *offsets; /* max_tokens + 1 */
    int32_t *experts; /* max_slots */
    float *weights;   /* max_slots */
    uint8_t *dropped; /* max_slots */
    int *load;        /* max_experts */

    /* scratch, contents meaningless between calls */
    float *score;     /* padded row: p or s of the current token */
    float *key;       /* padded row: biased or noisy selection key */
    float *score2;    /* padded rows: the next token's s and key (v3) */
    float *key2;
    float *zpad;      /* padded row: logits copied when N % LANES != 0 */
    float *bias;      /* padded row: the batch's v3 bias, zeros if none */
    float *gscore;    /* 3 * max_experts + 2 * GROUP_LANES: m1, m2, scores;
                         or the lane top 2 of a row (topk) */
    int32_t *cand;    /* max_experts + LANES: positions >= theta, padded */
    uint32_t *mask;   /* max_experts / 32 + 4: key >= theta, by bits */
    int32_t *mask_base; /* max_experts / 32 + 4: first position of a mask */
    float *rank_v;    /* RANK_MAX + LANES: values being ranked, padded */
    int32_t *glist;   /* max_experts: kept group ids */
    int *rank;        /* RANK_MAX: ranks (entries past n are junk) */
    float *best_v;    /* max_experts + 1: best-k values, and a spare */
    int32_t *best_i;  /* max_experts + 1: best-k indices */
    uint8_t *keep;    /* max_experts: group kept? */
    int32_t *iota;    /* max_experts: 0..max_experts-1 for gsl_ran_choose */
    int *count1;      /* max_experts: capacity cursors, heap sizes */
    int *count2;      /* max_experts */
    int32_t *cursor;  /* max_tokens: CSR fill cursors (expert choice) */
    float *heap_v;    /* max_slots: expert-choice heaps, k per expert */
    int32_t *heap_t;  /* max_slots */
};

/* The lanes of the fold that takes the per-lane top 2 of 8 groups to
 * each group's top 2, step s = 0..3 at distance w = 8 >> s, over a pair
 * of 16-lane vectors (x, y), indices 16-31 naming y's lanes:
 * router_fold_lanes[0][s] lists the lanes with (lane mod 2w) < w, x's
 * then y's, [1][s] the others, so lane i of the one meets lane i + w of
 * the same group's data in the other. router_group_keep_x8 and the
 * AVX-512 kernel both fold along it, which keeps their comparisons, and
 * so their results, the same. */
static const int32_t router_fold_lanes[2][4][LANES] = {
    {{0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23},
     {0, 1, 2, 3, 8, 9, 10, 11, 16, 17, 18, 19, 24, 25, 26, 27},
     {0, 1, 4, 5, 8, 9, 12, 13, 16, 17, 20, 21, 24, 25, 28, 29},
     {0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30}},
    {{8, 9, 10, 11, 12, 13, 14, 15, 24, 25, 26, 27, 28, 29, 30, 31},
     {4, 5, 6, 7, 12, 13, 14, 15, 20, 21, 22, 23, 28, 29, 30, 31},
     {2, 3, 6, 7, 10, 11, 14, 15, 18, 19, 22, 23, 26, 27, 30, 31},
     {1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31}},
};

/* Blocks of LANES that hold n floats. */
static inline int router_blocks_of(int n) { return (n + LANES - 1) / LANES; }

/* ---- router_vec.c: vector kernels over blocks of LANES --------------- */

/* s = 1 / (1 + exp(-z)) and key = s + bias (libmvec's vector expf, the
 * same code for every element). */
void router_sigmoid_bias_blocks(const float *restrict z,
                                const float *restrict bias,
                                float *restrict s, float *restrict key,
                                int n_blocks);
void router_rank_count(const float *restrict v, int n, int n_blocks,
                       int *restrict rank);
void router_rank_count16(const float *restrict v, int *restrict rank);
void router_rank_place16(const float *restrict v, const int32_t *restrict idx,
                         int k, float *restrict bv, int32_t *restrict bi);
void router_group_top2_blocks(const float *restrict key, int n_group,
                              int gsize, float *restrict m1,
                              float *restrict m2);
void router_lane_top2(const float *restrict key, int n, float *restrict l1,
                      float *restrict l2);
int router_ge_masks32(const float *restrict v, int gsize,
                      const int32_t *restrict glist, int ng, float theta,
                      uint32_t *restrict masks);
#if defined(__GNUC__) && !defined(__clang__)
/* GCC's vector extensions fold V3's 8 groups in registers. */
#define ROUTER_HAVE_GROUP_KEEP_X8 1
uint32_t router_group_keep_x8(const float *restrict key, int gsize,
                              int top2_sum, int topk_group,
                              float *restrict theta);
#endif
/* Score rows of n experts into o->score (and o->key), padded to LANES. */
const float *router_padded_row(router_out *o, const float *z, int n,
                               float fill);
void router_softmax_row(router_out *o, const float *z, int n);
void router_sigmoid_row(router_out *o, const float *z, int n);

/* ---- router_topk.c: selection and the token-choice gates ------------- */

int router_argmax_range(const float *v, int lo, int hi);
void router_best_of_range(const float *v, int lo, int hi, int k, float *bv,
                          int32_t *bi);
/* topk, v2 and v3: K picks per token into o. */
void router_route_token_choice(const router_config *cfg, const float *logits,
                               int T, router_out *o);

/* Token t of a v3 gate by the portable selection from its scores s and
 * keys key (rows padded to LANES): what a kernel does with the rare tokens
 * it does not take itself. Writes slots t*K .. t*K+K-1 and offsets[t+1]. */
void router_v3_token_portable(const router_config *cfg, router_out *o,
                              const float *s, const float *key, int t);

#if defined(__GNUC__) && defined(__x86_64__)
/* GCC and clang on x86-64 build router_avx512.c's kernel; whether it runs
 * is the CPU's question, asked by router_v3_avx512_fits. */
#define ROUTER_HAVE_AVX512 1

/* Whether router_v3_avx512 takes cfg on this CPU: the v3 gate of
 * DeepSeek-V3's shape (N = 256 in 8 groups, K <= 8, 2 * topk_group >= K,
 * topk_group < 8) on a CPU with AVX-512F, VL, BW, POPCNT and BMI1. */
int router_v3_avx512_fits(const router_config *cfg);

/* Routes T tokens of a config router_v3_avx512_fits admits, as the
 * portable kernels do, bit for bit; o->bias already holds the bias row. */
void router_v3_avx512(const router_config *cfg, const float *logits, int T,
                      router_out *o);
#endif

#endif
