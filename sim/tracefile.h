/*
 * tracefile: what the simulator does with a token-trace file: replay it on
 * a cluster, or summarise its routing per layer. Traces come from
 * `moesim trace` or are imported from a serving engine (models/trace).
 */
#ifndef MOESIM_SIM_TRACEFILE_H
#define MOESIM_SIM_TRACEFILE_H

#include <stdio.h>

#include "common/err.h"
#include "scenarios/scen.h"
#include "sim/metrics.h"

/* Prepares s to replay trace_path: reads the trace's sizes and fills the
 * layout fields of s (devices and ep_size from the trace, steps, tokens per
 * device) around the model and node the caller loaded into s. The trace's
 * device count must equal s->nodes * devices per node. */
int tracefile_prepare(const char *trace_path, scenario *s, err_t *e);

/* Replays every step of the trace on s with the trace's own placement. */
int tracefile_replay(const char *trace_path, const scenario *s,
                     const metrics_sink *sink, metrics_summary *out,
                     err_t *e);

/* Writes per MoE layer, averaged over steps: tokens, Imbalance Score,
 * per-device and per-expert max/mean, dropped token-experts; as an aligned
 * table. */
int tracefile_stats(const char *trace_path, FILE *out, err_t *e);

#endif
