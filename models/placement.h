/*
 * placement: where the experts of each MoE layer live.
 *
 * A placement maps the logical experts of every MoE layer to physical
 * slots, and every slot to a device. A logical expert may own several
 * slots (replicas, EPLB); every device holds the same number of slots.
 * Slot numbers run 0..slots-1 per layer; for the built-in policies the
 * slots of device d are d*slots_per_device .. (d+1)*slots_per_device-1.
 *
 * Policies:
 *   contiguous  one slot per expert; expert e on device e / (N/D).
 *   grouped     MoGE: N experts in G groups of N/G, group g on device g
 *               (G must equal D). The same map as contiguous when G = D,
 *               kept apart so a scenario states what it means and gets
 *               the check.
 *   eplb        DeepSeek's EPLB (deepseek-ai/EPLB eplb.py,
 *               rebalance_experts) ported step by step, see placement.c.
 *   table       read back from a trace (slot -> expert, slot -> device).
 *
 * Replica choice (placement_pick_slot) is a pure function of (token index,
 * source device, expert, placement): prefer a replica on the token's own
 * device, else one in its node, else any; among equals, round-robin by
 * token index in ascending slot order. See placement_pick_slot for why.
 *
 * Load estimate (placement_load_*): an exponential moving average of the
 * per-expert loads observed each step, from which an EPLB placement is made.
 *
 * Errors: constructors return 0 or ERR_INPUT / ERR_NOMEM with the message
 * in the caller's err_t ("placement: eplb: slots (8) < experts (12): ...").
 * Getters take indices the caller has checked against the sizes; an index
 * out of range is a broken invariant and aborts (MOESIM_ASSERT).
 */
#ifndef MOESIM_MODELS_PLACEMENT_H
#define MOESIM_MODELS_PLACEMENT_H

#include <stdint.h>

#include "common/err.h"

/* Logical expert ids must fit the trace format's 15-bit field. */
#define PLACEMENT_MAX_EXPERTS 32767u
/* Device ids must fit the trace format's uint16 source-device field. */
#define PLACEMENT_MAX_DEVICES 65535u
/* Physical slots per layer; keeps layers * slots tables reasonable. */
#define PLACEMENT_MAX_SLOTS 65535u
#define PLACEMENT_MAX_LAYERS 4096u

typedef enum placement_policy {
    PLACEMENT_CONTIGUOUS = 0,
    PLACEMENT_GROUPED = 1,
    PLACEMENT_EPLB = 2,
    PLACEMENT_TABLE = 3
} placement_policy_t;

typedef struct placement placement_t;

/* ---- construction -------------------------------------------------- */

/* Contiguous: experts % devices == 0, devices % devices_per_node == 0.
 * On success *out is a new placement the caller owns (placement_destroy). */
int placement_create_contiguous(placement_t **out, uint32_t layers,
                                uint32_t experts, uint32_t devices,
                                uint32_t devices_per_node, err_t *e);

/* Grouped (MoGE): experts % groups == 0 and groups == devices. */
int placement_create_grouped(placement_t **out, uint32_t layers,
                             uint32_t experts, uint32_t groups,
                             uint32_t devices, uint32_t devices_per_node,
                             err_t *e);

/* EPLB, eplb.py's rebalance_experts(weight, num_replicas, num_groups,
 * num_nodes, num_gpus). load_tokens is [layers * experts], row-major,
 * borrowed; values must be finite and >= 0 (they are converted to float as
 * eplb.py does with weight.float()). slots = num_replicas, the physical
 * slots per layer: a multiple of devices and >= experts. devices must be a
 * multiple of nodes; experts a multiple of groups. When groups % nodes == 0
 * the hierarchical policy runs, otherwise the global one (one group, one
 * node). Ties are broken as documented in placement.c. */
int placement_create_eplb(placement_t **out, const double *load_tokens,
                          uint32_t layers, uint32_t experts, uint32_t slots,
                          uint32_t groups, uint32_t nodes, uint32_t devices,
                          err_t *e);

/* From explicit tables (a trace's): slot_expert and slot_device are
 * [layers * slots], borrowed and copied. Every expert needs at least one
 * slot in every layer, every device the same number of slots. */
int placement_create_table(placement_t **out, uint32_t layers,
                           uint32_t experts, uint32_t slots, uint32_t devices,
                           uint32_t devices_per_node,
                           const uint16_t *slot_expert,
                           const uint16_t *slot_device, err_t *e);

/* Frees p; NULL is a no-op. */
void placement_destroy(placement_t *p);

/* ---- sizes --------------------------------------------------------- */

placement_policy_t placement_policy(const placement_t *p);
/* "contiguous", "grouped", "eplb" or "table"; static storage. */
const char *placement_policy_name(placement_policy_t policy);
uint32_t placement_layers(const placement_t *p);
uint32_t placement_experts(const placement_t *p);
uint32_t placement_slots(const placement_t *p);          /* per layer */
uint32_t placement_devices(const placement_t *p);
uint32_t placement_devices_per_node(const placement_t *p);
uint32_t placement_nodes(const placement_t *p);
uint32_t placement_slots_per_device(const placement_t *p);

/* ---- maps (indices must be in range) -------------------------------- */

/* Logical expert held by a physical slot. */
uint32_t placement_slot_expert(const placement_t *p, uint32_t layer,
                               uint32_t slot);
/* Device that holds a physical slot. */
uint32_t placement_slot_device(const placement_t *p, uint32_t layer,
                               uint32_t slot);
/* Number of replicas (slots) of a logical expert; >= 1. */
uint32_t placement_replicas(const placement_t *p, uint32_t layer,
                            uint32_t expert);
/* The slot of replica `rank` (0 <= rank < replicas) of an expert: eplb.py's
 * log2phy[layer][expert][rank]. */
uint32_t placement_replica_slot(const placement_t *p, uint32_t layer,
                                uint32_t expert, uint32_t rank);

/* The slot that serves one token's visit to `expert` in `layer`.
 *
 *  1. replicas on src_device, if any;
 *  2. else replicas on src_device's node, if any;
 *  3. else all replicas;
 * and among the candidates of the first non-empty class, the one at
 * position token_index % count in ascending slot order.
 *
 * Why: a replica on the token's device costs no link at all and one in its
 * node costs only the intra-node fabric (HCCS, NVLink), which DeepSeek-V3's
 * node-limited dispatch also exploits by crossing the scale-out network
 * once per node. Round-robin by token index spreads the tokens of one
 * source evenly over equal candidates with no random stream, so a replay
 * is a pure function of the trace. Slot order rather than replica rank:
 * a trace stores the slot tables but not EPLB's ranks, so slot order is
 * the one order a replay rebuilds, and a run and the replay of its trace
 * pick the same slots. The cost, stated: EPLB sizes replicas
 * assuming each gets an equal share of its expert's tokens; local-first
 * gives a replica the tokens of its own device (and node) instead, which
 * is balanced only when sources are. Complexity O(replicas). */
uint32_t placement_pick_slot(const placement_t *p, uint32_t layer,
                             uint32_t expert, uint64_t token_index,
                             uint32_t src_device);

/* ---- load estimate for EPLB ----------------------------------------- */

/* vLLM's EPLB records loads over a 1000-step window (EPLBConfig
 * window_size); the moving average below uses the same span by default. */
#define PLACEMENT_LOAD_WINDOW_STEPS_DEFAULT 1000u

typedef struct placement_load placement_load_t;

/* An exponential moving average of per-expert loads over steps, with
 * smoothing alpha = 2 / (window_steps + 1) (the "span" convention: its
 * weights have the same centre of mass, (W-1)/2 steps back, as a W-step
 * sliding window). It is normalised by the sum of the weights used so far,
 * so early estimates are not biased toward zero:
 *     est = sum_s (1-alpha)^(t-s) x_s / sum_s (1-alpha)^(t-s).
 * A sliding window would need window_steps * layers * experts values
 * (1000 * 61 * 256 doubles = 125 MB for DeepSeek-V3); this needs one set.
 * window_steps = 0 picks PLACEMENT_LOAD_WINDOW_STEPS_DEFAULT; 1 keeps only
 * the last step. *out is owned by the caller (placement_load_destroy). */
int placement_load_create(placement_load_t **out, uint32_t layers,
                          uint32_t experts, uint32_t window_steps, err_t *e);
void placement_load_destroy(placement_load_t *l);

/* Feeds one step's loads, [layers * experts] tokens per expert (borrowed).
 * Values must be finite and >= 0. */
int placement_load_observe(placement_load_t *l, const double *load_tokens,
                           err_t *e);

uint64_t placement_load_steps(const placement_load_t *l);
/* The current estimate, [layers * experts], borrowed until the next
 * observe or destroy; all zeros before the first observation. */
const double *placement_load_estimate(const placement_load_t *l);

/* An EPLB placement for the current estimate (placement_create_eplb). */
int placement_load_rebalance(const placement_load_t *l, uint32_t slots,
                             uint32_t groups, uint32_t nodes,
                             uint32_t devices, placement_t **out, err_t *e);

#endif
