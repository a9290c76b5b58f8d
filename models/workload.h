/*
 * workload: a seeded synthetic workload of token hidden states and router
 * matrices with the structure real MoE routing shows (skewed, skew that
 * differs by layer, hot experts that persist and drift), whose logits go
 * through the real gating math of models/router.h.
 *
 * The model, in one paragraph (models/WORKLOAD.md has the details and the
 * calibration). Every token belongs to a sequence and every sequence to one
 * of `topics` topics, drawn from a popularity mixture whose log-weights are
 * Gaussian with std topic_sigma and drift as an AR(1) process with a time
 * constant of topic_drift_steps steps. A token's hidden state h has
 * route_dim coordinates: a semantic half (its topic's centroid, plus a
 * per-sequence and a per-token offset) and a lexical half (per-token
 * noise). Layer l's router column for expert e has a unit lexical part and
 * a semantic part of norm heat_l * kappa_le: heat_l (the layer's alignment
 * strength) ramps from heat_first to heat_last over depth with a lognormal
 * jitter per layer; kappa_le (the expert's gain) is lognormal across
 * experts. Where heat_l * kappa_le is large the token's topic, not its
 * lexical noise, decides the logit: experts pointing at popular topics are
 * hot for every token of those topics, step after step, and the experts
 * with the largest gain are hot for most topics. The first part moves as
 * the mixture drifts; the second is as static as a trained router.
 * One h per token serves every layer (a real residual stream changes
 * between layers); layers differ through their own W_l, so a token's
 * choices are correlated across layers only through its topic.
 *
 * Why route_dim can be small: the router sees h only through z = W^T h, i.e.
 * only h's projection onto the column space of W (at most N dimensions).
 * route_dim >= N can reproduce any logit distribution a full hidden size
 * would; route_dim < N (default 64) gives logits of rank <= route_dim, a
 * modelling choice that costs T*route_dim*N flops per layer instead of
 * T*hidden*N (7168 for DeepSeek-V3, 110x more). Its side effect on skew is
 * small and measured in WORKLOAD.md (calibration at route_dim 32, 64, 256).
 * route_dim = the model's hidden size is allowed for full-cost fidelity.
 *
 * Determinism: every random draw comes from a gsl_rng seeded from the
 * scenario seed and a stream id (router matrix of layer l, tokens of step s,
 * topic drift, decode sequence turnover); no global state. The same params,
 * shape and seed give byte-identical hidden states, token ids and logits,
 * whether steps are generated one by one or skipped forward.
 *
 * Errors: functions return 0 or a negative ERR_* code with the message in
 * the caller's err_t. Nothing prints.
 */
#ifndef MOESIM_MODELS_WORKLOAD_H
#define MOESIM_MODELS_WORKLOAD_H

#include <stdint.h>

#include "common/err.h"
#include "common/ini.h"

typedef enum workload_phase {
    WORKLOAD_TRAIN = 0, /* fresh sequences every step, many tokens each */
    WORKLOAD_PREFILL,   /* fresh prompts every step, many tokens each */
    WORKLOAD_DECODE,    /* persistent sequences, one token each per step */
    WORKLOAD_PHASE_COUNT
} workload_phase;

/* "train", "prefill", "decode"; indexed by workload_phase. */
extern const char *const workload_phase_names[WORKLOAD_PHASE_COUNT];

/* The knobs of the [workload] section. Defaults (workload_params_default)
 * are calibrated to DeepSeek-R1 decode on 32 GPUs (models/WORKLOAD.md). */
typedef struct workload_params {
    int route_dim;              /* coordinates of h the router sees */
    int topics;                 /* topic centroids in the mixture */
    double topic_sigma;         /* std of a topic's log-weight (popularity
                                   spread), stationary under the drift */
    double topic_drift_steps;   /* AR(1) time constant of the log-weights */
    double sequence_spread;     /* per-sequence offset std, in centroid units */
    double token_spread;        /* per-token semantic offset std, same units */
    double heat_first;          /* alignment strength at the first MoE layer */
    double heat_last;           /* ... at the last MoE layer (linear ramp) */
    double heat_jitter;         /* lognormal sigma of a layer's heat */
    double expert_spread;       /* lognormal sigma of an expert's gain */
    double decode_length_steps; /* mean decode length (geometric), steps */
    double vocab_zipf;          /* Zipf exponent of token-id frequencies */
    double vocab_topic_share;   /* fraction of ids from a topic's own vocab */
} workload_params;

/* Fills p with the documented defaults. */
void workload_params_default(workload_params *p);

/* Reads the optional keys of section sec of d into p (keys absent keep
 * p's values, so call workload_params_default first). sec < 0 (no
 * [workload] section) leaves p untouched. An out-of-range or malformed
 * value is ERR_INPUT with FILE:LINE. Unknown keys are left for the
 * caller's ini_check_unused. d is borrowed. */
int workload_params_load(inidoc *d, int sec, workload_params *p, err_t *e);

/* Checks p's ranges (the same as the loader's), for params built in code.
 * ERR_INPUT naming the field. */
int workload_params_check(const workload_params *p, err_t *e);

/* What the generator is sized for: set by the scenario, not a knob. */
typedef struct workload_shape {
    int experts;         /* N routed experts per MoE layer */
    int moe_layers;      /* MoE layers (one router matrix each) */
    int vocab;           /* token ids are drawn from [0, vocab) */
    workload_phase phase;
    int tokens_per_step; /* T: tokens in every step's batch */
    int sequences;       /* S <= T sequences per step; sequence s owns tokens
                            [s*T/S, (s+1)*T/S). Decode usually has T = S (one
                            token each); T = 2S models MTP or a draft token */
} workload_shape;

typedef struct workload workload;

/* Builds a generator: the router matrices of every layer, the topic
 * centroids, the vocabulary table and every per-step buffer, so that
 * workload_step never allocates. p and shape are copied. *out is owned by
 * the caller (workload_destroy). ERR_INPUT for bad params or shape,
 * ERR_NOMEM. No step is current until workload_step is called. */
int workload_create(const workload_params *p, const workload_shape *shape,
                    unsigned long seed, workload **out, err_t *e);

void workload_destroy(workload *w); /* NULL is a no-op */

/* Makes *w what workload_create(p, shape, seed) would make, for callers
 * that run one model at many batch sizes (the capacity planner's probes).
 * When *w was made with the same params, seed, experts, layers, vocab and
 * phase, its router matrices, topics and vocabulary table (most of
 * workload_create's cost) are kept, its per-step buffers resized to the
 * new tokens and sequences, and its state rewound to before the first
 * step; otherwise *w is destroyed and created anew. *w may be NULL; it
 * stays the caller's (workload_destroy). On error *w is NULL. */
int workload_recreate(workload **w, const workload_params *p,
                      const workload_shape *shape, unsigned long seed,
                      err_t *e);

/* Makes step `step` current: advances the topic drift and (decode) the
 * sequence turnover through any skipped steps, then draws this step's
 * sequences, hidden states and token ids. Steps must increase (the first
 * call may be any step >= 0); a step that does not is ERR_SIM. Cost
 * O(T * route_dim) plus O(S + topics) per skipped step; no allocation. */
int workload_step(workload *w, long step, err_t *e);

/* The current step, or -1 before the first workload_step. */
long workload_current_step(const workload *w);

/* Router logits of MoE layer `layer` for the current step, z = h W in FP32
 * through router_logits (one sgemm, T x route_dim x N). logits_out is the
 * caller's T x N row-major buffer, overwritten. ERR_SIM before the first
 * step; ERR_INPUT for a layer out of range. */
int workload_logits(workload *w, int layer, float *logits_out, err_t *e);

/* Sizes. */
int workload_tokens(const workload *w);    /* T */
int workload_sequences(const workload *w); /* S */
int workload_experts(const workload *w);   /* N */
int workload_layers(const workload *w);    /* MoE layers */
int workload_dim(const workload *w);       /* route_dim, columns of h */

/* Views of the current step, borrowed from w and valid until the next
 * workload_step or workload_destroy; NULL before the first step. */
const float *workload_hidden(const workload *w);     /* T x route_dim */
const uint32_t *workload_token_ids(const workload *w); /* T ids < vocab */
/* Sequence of each token: ids unique over the generator's life (a decode
 * sequence keeps its id across steps; a new one gets a new id). */
const uint64_t *workload_sequence_ids(const workload *w);
const int *workload_token_topics(const workload *w); /* T topic indices */

/* Layer l's router matrix, route_dim x N row-major (router_logits's w),
 * borrowed for w's life. NULL for a layer out of range. */
const float *workload_router_matrix(const workload *w, int layer);

/* Layer l's alignment strength heat_l (0 for a layer out of range). */
double workload_layer_heat(const workload *w, int layer);

/* The current topic mixture (topics weights summing to 1), borrowed. */
const double *workload_topic_weights(const workload *w);

#endif
