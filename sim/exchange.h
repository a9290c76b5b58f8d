/*
 * exchange: one all-to-all of an expert-parallel group on the scenario's
 * network, at the fidelity the scenario asks for (analytic or flow-level).
 * It builds the topology once (sim/net) from the node description and the
 * group's size and keeps per-link totals across calls for the run's link
 * rows, and builds dispatch matrices from per-token destinations (direct or
 * DeepSeek node-limited, as the scenario says).
 */
#ifndef MOESIM_SIM_EXCHANGE_H
#define MOESIM_SIM_EXCHANGE_H

#include <stdint.h>

#include "common/err.h"
#include "scenarios/scen.h"
#include "sim/metrics.h"

typedef struct exchange exchange;

typedef struct exchange_result {
    double time_s;           /* completion of the whole exchange */
    double bytes_intra_node;
    double bytes_inter_node;
    double busiest_utilization; /* busiest link's busy time / time_s */
    char busiest_link[METRICS_LINK_NAME_MAX];
} exchange_result;

/* Topology of `devices` devices of s's node type (ceil(devices / per node)
 * nodes). s is borrowed and must outlive the exchange. */
int exchange_create(const scenario *s, int devices, exchange **out, err_t *e);
void exchange_destroy(exchange *x); /* NULL is a no-op */

/* bytes is devices x devices, row = source, column = destination, bytes
 * per ordered pair (the diagonal is ignored). */
int exchange_run(exchange *x, const double *bytes, exchange_result *out,
                 err_t *e);

/* The dispatch matrix of `tokens` tokens into bytes (devices x devices,
 * overwritten): token t starts on token_src[t] and goes to the devices
 * dst_dev[dst_start[t] .. dst_start[t+1]-1], one copy per destination
 * device, bytes_per_token each; node-limited when the scenario says so. */
int exchange_dispatch_matrix(exchange *x, int tokens,
                             const uint32_t *token_src,
                             const uint32_t *dst_start,
                             const uint32_t *dst_dev, double bytes_per_token,
                             double *bytes, err_t *e);

/* Hands every link that carried bytes to fn, with utilization relative to
 * total_a2a_s (the run's summed all-to-all time). */
int exchange_links(exchange *x, double total_a2a_s,
                   int (*fn)(void *ctx, const metrics_link *row), void *ctx,
                   err_t *e);

#endif
