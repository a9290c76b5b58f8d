/*
 * metrics: what one simulated run measures, and the sink it is handed to.
 *
 * The replay (sim/replay) produces these rows as it goes; a sink consumes
 * them: results/store writes them to SQLite, tests keep them in memory.
 * Definitions (DESIGN.md "Metrics"):
 *   device load T_i  = token-expert computations placed on device i
 *   imbalance score  = (max_i T_i - min_i T_i) / |X|, |X| = tokens routed
 *                      in the layer's step (Pangu Pro MoE, Eq. 3)
 *   max_over_mean    = max_i T_i / mean_i T_i (TensorRT-LLM reports this
 *                      minus one; SGLang's "balancedness" is its inverse)
 *   idle at barrier  = for each device, slowest device's MoE compute minus
 *                      its own: the time imbalance costs
 * All times in seconds (_s), sizes in bytes, rates per second.
 */
#ifndef MOESIM_SIM_METRICS_H
#define MOESIM_SIM_METRICS_H

#define METRICS_LINK_NAME_MAX 48

/* Identity of a run: one policy with one seed. */
typedef struct metrics_run {
    const char *policy;    /* borrowed, valid for the run */
    const char *router;    /* scen_router_names[...] */
    const char *placement; /* scen_placement_names[...] */
    unsigned long seed;
} metrics_run;

/* One MoE (or dense) layer of one step. Dense layers have moe = 0 and no
 * routing figures. */
typedef struct metrics_layer {
    int step;
    int layer;              /* 0-based over all layers */
    int moe;                /* 1 for an MoE layer */
    long tokens;            /* |X|: tokens routed in this layer, cluster */
    long token_experts;     /* sum of T_i (routed computations, not dropped) */
    long dropped;           /* token-expert pairs dropped at capacity */
    double imbalance_score;
    double device_max_over_mean;
    double expert_max_over_mean;
    double attention_s;     /* slowest device's attention (+ gate) time */
    double dispatch_s;      /* all-to-all before the experts */
    double expert_compute_max_s;
    double expert_compute_mean_s;
    double combine_s;       /* all-to-all after the experts */
    double idle_mean_s;     /* mean over devices of idle at the barrier */
    double layer_s;         /* wall time of the layer on the critical path */
    double bytes_intra_node;
    double bytes_inter_node;
    double busiest_link_utilization; /* busy time / all-to-all time, 0..1 */
    char busiest_link[METRICS_LINK_NAME_MAX];
} metrics_layer;

/* One device over one step, summed over layers. */
typedef struct metrics_device {
    int step;
    int device;
    long token_experts; /* routed computations placed on it */
    double compute_s;   /* attention + experts + dense */
    double comm_s;      /* time its communication stream was busy */
    double idle_s;      /* waiting at MoE barriers */
} metrics_device;

/* Load of one logical expert in one layer, summed over the run's steps. */
typedef struct metrics_expert {
    int layer;
    int expert;
    long load;     /* token assignments routed to it (dropped included) */
    int replicas;  /* physical copies at the end of the run */
} metrics_expert;

/* One directional link, summed over the run. */
typedef struct metrics_link {
    char name[METRICS_LINK_NAME_MAX];
    double bytes;
    double busy_s;
    double utilization; /* busy_s / total all-to-all time */
} metrics_link;

/* One step of the whole cluster. */
typedef struct metrics_step {
    int step;
    double step_s;
    long tokens;             /* tokens processed by the cluster */
    double tokens_per_s;
    double tokens_per_s_per_device;
    double compute_s;        /* critical-path share: attention + experts */
    double a2a_s;            /* critical-path share: dispatch + combine */
    double idle_s;           /* critical-path share: waiting at barriers */
    double other_s;          /* gradient sync, dense-layer collectives */
    double bytes_intra_node;
    double bytes_inter_node;
    double mfu;              /* model FLOPs / (step_s * devices * peak) */
} metrics_step;

/* Means over the run's steps (steps after warm-up, all of them here). */
typedef struct metrics_summary {
    int steps;
    double step_s;
    double tokens_per_s;
    double tokens_per_s_per_device;
    double tpot_s;           /* decode: time per output token = step_s;
                                NaN in other phases */
    double ttft_s;           /* prefill: time to first token = step_s;
                                NaN in other phases */
    double imbalance_score;  /* mean over MoE layers and steps */
    double device_max_over_mean;
    double expert_max_over_mean;
    double a2a_share;        /* a2a_s / step_s */
    double idle_share;       /* idle_s / step_s */
    double bytes_inter_node_per_step;
    double bytes_intra_node_per_step;
    double dropped_fraction; /* dropped / routed token-expert pairs */
    double mfu;
    double hbm_needed_bytes;
    double hbm_available_bytes;
    int fits;
} metrics_summary;

/* Where rows go. Every callback returns 0 or a negative ERR_* code, which
 * stops the run; NULL callbacks are skipped. ctx is the sink's own. */
typedef struct metrics_sink {
    void *ctx;
    int (*layer)(void *ctx, const metrics_layer *row);
    int (*device)(void *ctx, const metrics_device *row);
    int (*step)(void *ctx, const metrics_step *row);
    int (*expert)(void *ctx, const metrics_expert *row);
    int (*link)(void *ctx, const metrics_link *row);
    int (*summary)(void *ctx, const metrics_summary *row);
} metrics_sink;

/* The imbalance figures of loads[0..n-1] (token-expert computations per
 * device, or per expert) for a batch of `tokens` tokens:
 * *imbalance_score = (max - min) / tokens (0 for no token) and
 * *max_over_mean = max / mean (1 when nothing was loaded). Either output
 * may be NULL. The replay and `moesim trace --stats` both use it. */
void metrics_load_figures(const long *loads, int n, long tokens,
                          double *imbalance_score, double *max_over_mean);

#endif
