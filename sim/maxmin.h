/*
 * maxmin: max-min fair sharing of links by flows, and the completion times
 * of a set of flows that all start at time 0 (prefix maxmin_).
 *
 * The problem is plain numbers: links with a capacity in bytes per second,
 * flows each with a path (a list of distinct links) and a size in bytes.
 * Rates are max-min fair: no flow can get more without taking from a flow
 * that has no more than it (progressive filling, also called
 * water-filling: raise every rate together, freeze the flows of each link
 * as it fills). When a flow finishes the rates of the others are recomputed
 * and the run goes on until every flow is done. sim/net builds these
 * problems from a cluster topology; tests build them by hand.
 *
 * The solver keeps its workspace between calls (a replay solves one
 * exchange per layer and step); it is not thread-safe.
 */
#ifndef MOESIM_SIM_MAXMIN_H
#define MOESIM_SIM_MAXMIN_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct maxmin maxmin_t;

/* A problem. Every pointer is borrowed for the duration of one call. */
typedef struct maxmin_problem {
    uint32_t n_links;
    const double *capacity_bps;  /* [n_links] bytes per second, > 0 */
    uint32_t n_flows;
    /* Paths in compressed rows: flow f crosses path_link[path_start[f]]
     * .. path_link[path_start[f + 1] - 1], each a link index, no repeats,
     * at least one. path_start has n_flows + 1 entries, path_start[0] = 0. */
    const uint32_t *path_start;
    const uint32_t *path_link;
    const double *bytes;         /* [n_flows] sizes; flows of 0 bytes end at 0 */
} maxmin_problem_t;

/* Counters of the last maxmin_run, for benchmarks and tests. */
typedef struct maxmin_stats {
    uint64_t batches;        /* completion instants (rate recomputations) */
    uint64_t links_rescanned; /* link visits by the incremental refills */
    uint64_t flow_visits;    /* flow entries read by those visits */
    uint64_t full_solves;    /* refills done in full rather than incrementally */
    uint32_t links_pruned;   /* links proved never to bind (see maxmin.c) */
} maxmin_stats_t;

/* On success *out is a new solver the caller owns (maxmin_destroy). */
int maxmin_create(maxmin_t **out, err_t *err);
void maxmin_destroy(maxmin_t *mm); /* NULL is a no-op */

/* The max-min fair rates of all flows at once (bytes are ignored) into
 * rate_bps[n_flows] (caller-owned). ERR_INPUT for a malformed problem,
 * ERR_NOMEM. */
int maxmin_rates(maxmin_t *mm, const maxmin_problem_t *p, double *rate_bps,
                 err_t *err);

/* Runs the flows to completion, rates max-min fair at every instant and
 * recomputed whenever flows finish (see maxmin_set_window for batching).
 * finish_s[n_flows] (caller-owned, may be NULL) receives each flow's
 * finish time; *makespan_s the latest. ERR_INPUT for a malformed problem,
 * ERR_NOMEM. */
int maxmin_run(maxmin_t *mm, const maxmin_problem_t *p, double *finish_s,
               double *makespan_s, err_t *err);

/* Batching window of maxmin_run, as a fraction of the busiest link's busy
 * time (its bytes over its capacity, a lower bound on the makespan).
 * Finishes within that much of the earliest pending finish are taken as
 * one instant: each flow still ends at its own time, but the bandwidth it
 * frees is shared out only at the last finish of its batch. The run then
 * tends to end late, by about the window (1e-3 gave +0.14% on the
 * makespan of a skewed 256-device all-to-all; single flows may move
 * either way, since rates that would have fallen stay up longer too).
 * The number of rate recomputations is at most about 1 / window_rel
 * times makespan / busy time, plus one. 0 (the default) is exact: only
 * finishes within a relative 1e-9 are batched, and a skewed exchange
 * then needs one recomputation per flow. */
void maxmin_set_window(maxmin_t *mm, double window_rel);

/* Counters of the last maxmin_run or maxmin_rates. */
maxmin_stats_t maxmin_last_stats(const maxmin_t *mm);

#endif
