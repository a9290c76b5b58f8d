/*
 * replay: turns routed tokens into time on a cluster.
 *
 * The replay simulates one expert-parallel group of ep_size devices. Other
 * groups of a larger cluster (devices / ep_size of them) see statistically
 * identical traffic and are not simulated token by token; cluster throughput
 * counts them, and gradient synchronisation crosses them.
 *
 * Per step the caller hands over every MoE layer's routed tokens (from the
 * live router or from a trace); the replay places each token-expert pair on a
 * device through the placement (replica choice included), costs attention,
 * gate, shared and routed experts with the roofline model, builds the
 * dispatch and combine traffic matrices, and at the end of the step runs the
 * whole step as a task graph on the event engine: every device has a compute
 * stream and a communication stream, each executing its tasks in issue order;
 * an all-to-all is a collective that starts when every device has issued it
 * and its inputs are ready. With two micro-batches the issue order interleaves
 * them so one's all-to-all overlaps the other's compute (DeepSeek's two-batch
 * overlap). Training runs the backward pass in reverse layer order at twice
 * the forward compute with the all-to-alls reversed, then synchronises
 * gradients.
 *
 * Usage: replay_create; per step: replay_step_begin, replay_moe_layer for
 * every MoE layer in order, replay_step_end; then replay_finish; destroy.
 */
#ifndef MOESIM_SIM_REPLAY_H
#define MOESIM_SIM_REPLAY_H

#include <stdint.h>

#include "common/err.h"
#include "models/placement.h"
#include "scenarios/scen.h"
#include "sim/metrics.h"

typedef struct replay replay;

/* The routed tokens of one MoE layer in one step (borrowed for the call).
 * Token t came from device src_device[t] (0..ep_size-1); its routed experts
 * are experts[offsets[t] .. offsets[t+1]-1], logical ids, and dropped[i] = 1
 * marks a pair dropped at capacity (it costs nothing and is not sent). */
typedef struct replay_tokens {
    int tokens;
    const uint16_t *src_device;
    const int32_t *offsets;
    const int32_t *experts;
    const uint8_t *dropped; /* may be NULL: none dropped */
} replay_tokens;

/* Creates a replay for scenario s (borrowed; must outlive the replay). The
 * policy p supplies top_k for sizing. Errors: ERR_INPUT when the device lacks
 * the model's dtypes, ERR_NOMEM. */
int replay_create(const scenario *s, const scen_policy *p, replay **out,
                  err_t *e);
void replay_destroy(replay *r); /* NULL is a no-op */

int replay_step_begin(replay *r, int step, err_t *e);

/* Accounts one MoE layer (moe_index 0..moe_layers-1, in order). pl maps
 * experts to devices for this step (borrowed for the call). */
int replay_moe_layer(replay *r, int moe_index, const replay_tokens *in,
                     const placement_t *pl, err_t *e);

/* Runs the step on the engine and hands its rows to sink (may be NULL).
 * *out (may be NULL) receives the step row. */
int replay_step_end(replay *r, const metrics_sink *sink, metrics_step *out,
                    err_t *e);

/* Writes the per-link rows and fills the run summary from all steps. */
int replay_finish(replay *r, const metrics_sink *sink, metrics_summary *out,
                  err_t *e);

/* Events handled by the engine so far (for tests and benches). */
uint64_t replay_events(const replay *r);

#endif
