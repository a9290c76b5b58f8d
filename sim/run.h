/*
 * run: one policy with one seed, from tokens to metrics. The model half
 * (workload, router, bias updates, placement and EPLB rebalancing) produces
 * each MoE layer's routed tokens; they go to an optional trace file and to
 * the replay, whose rows go to the sink. A pure function of (scenario,
 * policy, seed): no state survives between calls.
 */
#ifndef MOESIM_SIM_RUN_H
#define MOESIM_SIM_RUN_H

#include <signal.h>

#include "common/err.h"
#include "scenarios/scen.h"
#include "sim/metrics.h"

typedef struct run_opts {
    const char *trace_path; /* write the token trace here; NULL = none */
    /* Called after every MoE layer (may be NULL): step and layer are
     * 0-based, of steps and moe_layers. */
    void (*progress)(void *ctx, int step, int steps, int layer, int layers);
    void *progress_ctx;
    /* When *stop becomes non-zero (a signal handler sets it) the run ends
     * after the current layer with ERR_INTERRUPTED. May be NULL. */
    volatile sig_atomic_t *stop;
    /* May be NULL: the run creates and destroys its own workload. Else a
     * workload to recycle between runs (*workload may be NULL at first):
     * the run makes it what it needs with workload_recreate, which keeps
     * its tables when only the batch changed, and leaves it there for the
     * next run; the caller destroys it. Results are the same either way. */
    struct workload **workload;
} run_opts;

/* Runs policy index pi of s with seed. sink and out may be NULL. */
int run_policy(const scenario *s, int pi, unsigned long seed,
               const metrics_sink *sink, const run_opts *opts,
               metrics_summary *out, err_t *e);

#endif
