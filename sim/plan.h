/*
 * plan: capacity planning. Given a scenario and its [plan] section
 * (scenarios/plan.h), tries every candidate deployment (node file x node
 * count x policy x layout), finds for each the largest batch per device
 * that fits in HBM and meets the latency limit by simulating it, sizes the
 * deployment to the throughput target, ranks the feasible candidates by
 * cost, marks the Pareto front of cost against latency, prints a table and
 * a recommendation, and stores every candidate in SQLite. sim/PLAN.md has
 * the algorithm, the choices and the tables.
 *
 * Serving targets (decode, prefill) size a deployment as replicas of the
 * candidate: replicas = ceil(target tokens/s / one instance's tokens/s).
 * Replicas serve independent requests, so nothing crosses between them and
 * the simulated instance is exact for each. Training candidates are fixed
 * in size (data-parallel copies would share gradients over a network the
 * candidate's simulation does not include): feasible when the candidate
 * itself finishes the token budget in time.
 *
 * Purity: plan_evaluate is a function of (scenario, plan, candidate) only,
 * so candidates can be spread over processes (plan_run forks workers that
 * share nothing but a result array) and the results do not depend on how
 * many workers ran them.
 */
#ifndef MOESIM_SIM_PLAN_H
#define MOESIM_SIM_PLAN_H

#include <signal.h>
#include <stdio.h>

#include "common/err.h"
#include "scenarios/plan.h"
#include "scenarios/scen.h"

#define PLAN_REASON_MAX 256
#define PLAN_WORKERS_MAX 64

typedef enum plan_status {
    PLAN_PENDING = 0, /* enumerated, not evaluated yet */
    PLAN_FEASIBLE,
    PLAN_NO_FIT,      /* does not fit in HBM even at batch_min */
    PLAN_LATENCY,     /* misses the latency limit even at batch_min */
    PLAN_TOO_SLOW,    /* train: the token budget takes too many days */
    PLAN_INVALID,     /* the layout breaks a scenario rule; not simulated */
    PLAN_UNSUPPORTED, /* the simulator refused it (e.g. a missing dtype) */
    PLAN_ERROR,       /* the simulation failed */
    PLAN_STATUS_COUNT
} plan_status;
/* "pending", "feasible", "no-fit", "latency", "too-slow", "invalid",
 * "unsupported", "error". */
extern const char *const plan_status_names[PLAN_STATUS_COUNT];

/* What stopped the batch per device from growing. */
typedef enum plan_limit {
    PLAN_LIMIT_NONE = 0,
    PLAN_LIMIT_LATENCY,   /* one more sequence misses the latency limit */
    PLAN_LIMIT_MEMORY,    /* one more sequence does not fit in HBM */
    PLAN_LIMIT_BATCH_MAX, /* the plan's batch_max */
    PLAN_LIMIT_SIMULATOR, /* the simulator's tokens-per-step ceiling */
    PLAN_LIMIT_COUNT
} plan_limit;
/* "none", "latency", "memory", "batch_max", "simulator". */
extern const char *const plan_limit_names[PLAN_LIMIT_COUNT];

/* One candidate: its identity (plan_enumerate), its outcome
 * (plan_evaluate) and its place (plan_rank). A plain value: no pointers. */
typedef struct plan_candidate {
    int index;        /* position in enumeration order */
    int node_file;    /* index into planspec.node_files */
    int nodes;        /* per instance */
    int devices;      /* per instance: nodes * devices per node */
    int policy;       /* index into scenario.policies */
    int ep_size;
    int attn_dp_size;

    plan_status status;
    char reason[PLAN_REASON_MAX]; /* why not feasible; "" when feasible */
    int batch_per_device;  /* sequences per device at the operating point */
    int batch_memory_max;  /* largest batch that fits (0: none does) */
    plan_limit limited_by;
    int probes;            /* simulations run for this candidate */
    int replicas;          /* instances needed (train: 1) */
    int devices_total;     /* replicas * devices */
    double tpot_s;         /* decode, at the operating point */
    double ttft_s;         /* prefill */
    double step_s;
    double tokens_per_s;   /* one instance */
    double tokens_per_s_per_device;
    double tokens_per_s_total; /* replicas * tokens_per_s */
    double mfu;
    double train_days;     /* train: train_tokens / tokens_per_s / 86400 */
    double power_w;        /* all replicas; 0 = unknown */
    double price_per_hour_usd; /* all replicas; 0 = unknown */
    double hbm_needed_bytes;   /* per device, at the operating point (or
                                  at batch_min when it does not fit) */
    double hbm_available_bytes;

    int rank;   /* 1 = recommended; 0 = not ranked (infeasible) */
    int pareto; /* 1 = on the Pareto front of cost against latency */
} plan_candidate;

/* Every candidate of a plan (owned: plan_result_free releases). */
typedef struct plan_result {
    plan_candidate *cands;
    int n;           /* candidates enumerated, invalid layouts included */
    int n_evaluated; /* candidates simulated (valid layouts) */
    int n_feasible;
    int best;        /* index of the rank-1 candidate, or -1 */
    int workers;     /* processes that evaluated them */
    double wall_s;
} plan_result;

typedef struct plan_opts {
    int workers; /* evaluating processes; 0 = online CPUs (<= PLAN_WORKERS_MAX) */
    const char *created_at; /* stored in plan_meta as given; may be NULL */
    /* 1: plan_meta.wall_s is stored as 0, so the same plan gives a
     * byte-identical database (the CLI sets it under SOURCE_DATE_EPOCH,
     * as moesim run does). */
    int reproducible;
    int table_rows; /* ranked and infeasible rows printed; 0 = all */
    /* Called as candidates finish (may be NULL), from the calling process. */
    void (*progress)(void *ctx, int done, int total);
    void *progress_ctx;
    /* When *stop becomes non-zero the plan ends with ERR_INTERRUPTED and
     * writes nothing. May be NULL. */
    volatile sig_atomic_t *stop;
} plan_opts;

/* Lists the candidates of spec over base (both borrowed) in a fixed order:
 * node file, node count, policy, EP size, attention DP size (the lists'
 * order). Layouts that break a scenario rule get PLAN_INVALID and the rule;
 * a layout equal to an earlier one of the same cluster and policy ("all"
 * and its number) is listed once. On success *out is a new array of *n
 * candidates the caller frees with free(). */
int plan_enumerate(const scenario *base, const planspec *spec,
                   plan_candidate **out, int *n, err_t *e);

/* Evaluates one PLAN_PENDING candidate in place (base and spec borrowed).
 * A candidate that cannot be deployed is an outcome, not an error: the
 * function returns 0 with c->status and c->reason set. Returns
 * ERR_INTERRUPTED (c left pending) when *stop (may be NULL) becomes
 * non-zero. */
int plan_evaluate(const scenario *base, const planspec *spec,
                  plan_candidate *c, volatile sig_atomic_t *stop, err_t *e);

/* The latency of batch (sequences per device), for plan_largest_batch. */
typedef int (*plan_probe_fn)(void *ctx, int batch, double *latency_s,
                             err_t *e);

/* Largest batch in [lo, hi] whose probed latency is <= limit_s, assuming
 * latency grows with batch: probes lo, climbs by extrapolating the last two
 * batches that met (cheap small probes first), then narrows the bracket by
 * interpolation with a neighbour check, bisecting whenever a round fails to
 * halve it (PLAN.md). *best = 0 when lo misses; *probes counts calls.
 * Returns 0 or the probe's error. */
int plan_largest_batch(int lo, int hi, double limit_s, plan_probe_fn probe,
                       void *ctx, int *best, int *probes, err_t *e);

/* The two axes of the Pareto front and the first ranking key: the cost
 * spec->rank_by names (devices, W or USD/h; 0 = unknown) and the latency
 * the target limits (TPOT or TTFT in s; train: days). */
double plan_cost(const planspec *spec, const plan_candidate *c);
double plan_latency(const planspec *spec, const plan_candidate *c);

/* Sets rank (1.. over feasible candidates: cost, then devices, power,
 * price, latency, index) and pareto on c[0..n-1]. Candidates whose cost is
 * unknown rank after the others and are never on the front. */
void plan_rank(const planspec *spec, plan_candidate *c, int n);

/* The whole plan: enumerate, evaluate (opts->workers processes), rank;
 * then print the ranked table, the infeasible candidates and the
 * recommendation to out (may be NULL) and write plan_meta and
 * plan_candidate rows to the SQLite database db_path (may be NULL; created
 * if absent, tables created if missing, one transaction). base and spec
 * are borrowed; opts may be NULL (defaults). *res (may be NULL) receives
 * the candidates; the caller releases them with plan_result_free. Returns
 * 0 even when no candidate is feasible (res->best = -1 then). */
int plan_run(const scenario *base, const planspec *spec, const char *db_path,
             FILE *out, const plan_opts *opts, plan_result *res, err_t *e);

void plan_result_free(plan_result *r); /* NULL is a no-op */

#endif
