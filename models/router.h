/*
 * router: the gating kernels of Mixture-of-Experts layers. Pure computation
 * over a batch of tokens: router logits z = W^T h through BLAS, then one
 * routing policy that turns a batch of logits into expert choices, weights
 * and per-expert loads. No file I/O; a loader fills router_config.
 *
 * The math of every policy is that of shared/reference/routing.md; the
 * function comments below cite the code each one follows.
 *
 * Ties. Wherever two candidates have equal scores, the lower index wins:
 * the lower expert id (top-k, top-1, group members), the lower group id
 * (group selection) and, for expert choice, the lower token index. Scores
 * are compared as the float32 values the reference code compares (softmax
 * probabilities, sigmoid scores plus bias, noisy logits), so a tie means
 * bit-equal values. Reference frameworks leave torch.topk's tie order
 * unspecified; this rule makes every run reproducible. NaN logits give
 * valid output (distinct in-range ids) but unspecified choices.
 *
 * Output. router_out holds the result of the last router_route() call in
 * CSR form, because expert choice gives a token anywhere from 0 to N
 * experts: token t's slots are offsets[t] .. offsets[t+1]-1, each slot an
 * expert id, a weight and a dropped flag (1 when a capacity limit refused
 * the slot; the weight of a dropped slot is 0, as in the references'
 * combine weights). Per-expert loads count slots that were not dropped.
 * The caller creates one router_out for its largest batch; routing never
 * allocates.
 */
#ifndef MOESIM_MODELS_ROUTER_H
#define MOESIM_MODELS_ROUTER_H

#include <stdint.h>

#include <gsl/gsl_rng.h>

#include "common/err.h"

typedef enum router_policy {
    ROUTER_TOPK = 0,          /* "topk": softmax top-k (Mixtral, Qwen, DBRX) */
    ROUTER_V2_DEVICE_LIMITED, /* "v2-device-limited": DeepSeek-V2 */
    ROUTER_V3_GROUP_LIMITED,  /* "v3-group-limited": DeepSeek-V3 noaux_tc */
    ROUTER_MOGE,              /* "moge": Pangu Pro MoE grouped experts */
    ROUTER_SWITCH,            /* "switch": top-1 with capacity */
    ROUTER_GSHARD,            /* "gshard": top-2 with capacity, Gumbel 2nd */
    ROUTER_EXPERT_CHOICE,     /* "expert-choice": experts pick tokens */
    ROUTER_HASH,              /* "hash": expert = hash of token id */
    ROUTER_UNIFORM,           /* "uniform": K distinct experts at random */
    ROUTER_POLICY_COUNT
} router_policy;

/* The policy's name as scenario and model files spell it ("topk",
 * "v3-group-limited", ...); "?" for a value out of range. Static string. */
const char *router_policy_name(router_policy p);

/* Parses a policy name. ERR_INPUT listing the valid names when unknown. */
int router_policy_parse(const char *name, router_policy *out, err_t *e);

/*
 * What each policy reads (other fields are ignored):
 *   topk            n_experts, top_k, renormalize, scaling_factor
 *   v2, v3          the same plus n_group, topk_group; v3 also the bias
 *                   passed to router_route. v3 with n_group = topk_group = 1
 *                   is unrestricted sigmoid top-k with bias.
 *   moge            n_experts, top_k (K, a multiple of n_group), n_group (M)
 *   switch          n_experts, capacity_factor, capacity_min
 *   gshard          n_experts, capacity_factor, capacity_min
 *   expert-choice   n_experts, capacity_factor (c), capacity_min
 *   hash            n_experts, top_k, hash_seed
 *   uniform         n_experts, top_k
 * Groups are contiguous runs of n_experts / n_group experts; whether a
 * group is a device or a node is the caller's placement.
 */
typedef struct router_config {
    router_policy policy;
    int n_experts;         /* N routed experts */
    int top_k;             /* K experts per token */
    int n_group;           /* expert groups; 1 = no grouping */
    int topk_group;        /* groups a token may reach (v2, v3) */
    int renormalize;       /* weights divided by their sum before scaling */
    float scaling_factor;  /* routed_scaling_factor; 1 = none */
    double capacity_factor;/* switch, gshard: C; expert-choice: c */
    int capacity_min;      /* floor on C (switch, gshard) or k (expert-choice) */
    uint64_t hash_seed;    /* hash: xored into the token id; 0 = plain hash */
    int portable;          /* 1: portable C kernels only; 0: a CPU-specific
                              kernel where one exists (router_kernel_name).
                              The output is the same, bit for bit. */
} router_config;

/* Fills cfg with policy p on N experts and K per token and neutral
 * settings: one group, renormalize on for v3 (DeepSeek's Gate always
 * renormalises sigmoid weights) and off otherwise, scaling 1, capacity
 * factor 1, no capacity floor, hash seed 0, CPU-specific kernels allowed. */
void router_config_init(router_config *cfg, router_policy p, int n_experts,
                        int top_k);

/* The kernel router_route runs for cfg on this build and CPU: "avx512"
 * for the v3 gate of DeepSeek-V3's shape (N = 256 in 8 groups, K <= 8,
 * 2 * topk_group >= K, topk_group < 8) on a CPU with AVX-512F, VL and BW
 * (and POPCNT, BMI1), unless cfg->portable; "portable" otherwise. Static
 * string. */
const char *router_kernel_name(const router_config *cfg);

/* Checks cfg for the fields its policy reads. ERR_INPUT with a message that
 * names the field, e.g. "router v3-group-limited: n_experts 250 is not a
 * multiple of n_group 8". */
int router_config_check(const router_config *cfg, err_t *e);

/* Slots a batch of n_tokens needs under cfg (T*K for token-choice policies,
 * T for switch, 2T for gshard, N*k for expert choice) into *slots, so the
 * caller can size router_out_create. ERR_INPUT on a bad cfg. */
int router_slots_needed(const router_config *cfg, int n_tokens, int *slots,
                        err_t *e);

/*
 * Router logits for a batch, z = h W, in FP32 as every reference computes
 * them: h is n_tokens x d_model row-major, w is d_model x n_experts
 * row-major (the transpose of a checkpoint's n_experts x d_model gate
 * weight), logits is n_tokens x n_experts row-major and is overwritten.
 * One gsl_blas_sgemm call over the whole batch (OpenBLAS underneath).
 * All pointers are borrowed. n_tokens = 0 is a no-op. ERR_INPUT on a NULL
 * pointer or a non-positive size.
 */
int router_logits(const float *h, int n_tokens, int d_model, const float *w,
                  int n_experts, float *logits, err_t *e);

/* The result buffer: opaque, created for a maximum batch. */
typedef struct router_out router_out;

/* Creates a buffer for batches of up to max_tokens tokens, max_slots
 * token-expert slots and configs of up to max_experts experts. *out is
 * owned by the caller (router_out_destroy). ERR_INPUT on sizes < 1 (or
 * max_slots < 0), ERR_NOMEM. */
int router_out_create(int max_tokens, int max_slots, int max_experts,
                      router_out **out, err_t *e);
void router_out_destroy(router_out *o); /* NULL is a no-op */

/* Views of the last routed batch, borrowed from o and valid until the next
 * router_route or router_out_destroy. */
int router_out_tokens(const router_out *o);       /* T of the last batch */
int router_out_slots(const router_out *o);        /* offsets[T] */
int router_out_dropped_count(const router_out *o);/* slots dropped */
const int32_t *router_out_offsets(const router_out *o); /* T + 1 entries */
const int32_t *router_out_experts(const router_out *o); /* per slot */
const float *router_out_weights(const router_out *o);   /* per slot */
const uint8_t *router_out_dropped(const router_out *o); /* per slot, 0/1 */
const int *router_out_expert_load(const router_out *o); /* cfg->n_experts */

/*
 * Routes a batch of n_tokens tokens under cfg into out.
 *
 * logits     n_tokens x cfg->n_experts row-major (router_logits); required
 *            by every policy but hash and uniform, which may pass NULL.
 * bias       v3 e_score_correction_bias, cfg->n_experts floats, NULL = 0;
 *            used only to choose experts, never in the weights. Ignored by
 *            the other policies.
 * token_ids  n_tokens ids, required by hash; ignored otherwise.
 * rng        the caller's seeded stream, required by gshard (Gumbel noise)
 *            and uniform; untouched by every other policy.
 * All inputs are borrowed; out is overwritten.
 *
 * Slot order within a token: selection order (best first) for topk, v2,
 * v3, switch, gshard (first choice, then second); group by group, best
 * first inside a group, for moge; ascending expert id for expert choice
 * and uniform; hash draw order for hash.
 *
 * Returns 0, ERR_INPUT for a bad cfg or a missing input, ERR_CAPACITY when
 * the batch exceeds what out was created for (the message names the size
 * to raise). Cost: O(T*N) per batch for token-choice policies with no
 * sort; expert choice O(T*N*log k).
 */
int router_route(const router_config *cfg, const float *logits, int n_tokens,
                 const float *bias, const uint32_t *token_ids, gsl_rng *rng,
                 router_out *out, err_t *e);

/*
 * Auxiliary-loss-free load balancing (DeepSeek-V3 report, arXiv 2412.19437,
 * section 2.1.2): after a step, each expert's bias moves by gamma against
 * its load: bias -= gamma when load > mean load, bias += gamma when load <
 * mean, unchanged when equal. expert_load holds n_experts counts for the
 * step (router_out_expert_load); bias is updated in place. The report uses
 * gamma = 0.001. Compares load * N with the total, so no rounding decides.
 */
void router_bias_update(float *bias, const int *expert_load, int n_experts,
                        float gamma);

#endif
