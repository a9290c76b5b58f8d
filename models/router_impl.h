/*
 * router_impl: what router.c shares with its CPU-specific kernels
 * (router_avx512.c), not part of the router's interface: the result
 * buffer's layout and the portable pieces a kernel falls back on.
 */
#ifndef MOESIM_MODELS_ROUTER_IMPL_H
#define MOESIM_MODELS_ROUTER_IMPL_H

#include <stdint.h>

#include "models/router.h"

#define LANES 16 /* floats per vector-kernel block: one AVX-512 register */

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
    float *gscore;    /* 3 * max_experts + 2 * GROUP_LANES: m1, m2, scores */
    float *lane1;     /* max_experts + GROUP_LANES: per-lane group top 2 */
    float *lane2;
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

/* s = 1 / (1 + exp(-z)) and key = s + bias over n_blocks blocks of LANES
 * (router.c: libmvec's vector expf, the same code for every element). */
void router_sigmoid_bias_blocks(const float *restrict z,
                                const float *restrict bias,
                                float *restrict s, float *restrict key,
                                int n_blocks);

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
 * topk_group < 8) on a CPU with AVX-512F, VL and BW. */
int router_v3_avx512_fits(const router_config *cfg);

/* Routes T tokens of a config router_v3_avx512_fits admits, as the
 * portable kernels do, bit for bit; o->bias already holds the bias row. */
void router_v3_avx512(const router_config *cfg, const float *logits, int T,
                      router_out *o);
#endif

#endif
