/*
 * planspec: the [plan] section of a scenario, a capacity-planning question
 * ("serve this model at this throughput under this latency, or train it on
 * this many tokens in this many days: which hardware, how many nodes, which
 * routing and layout?") and the candidates to try. sim/plan searches them;
 * sim/PLAN.md documents every key, its default and range.
 *
 * The reader resolves everything it can at load time, so that a broken plan
 * is reported as FILE:LINE before any simulation: node files are loaded
 * (relative to the scenario), policy names are looked up in the scenario,
 * lists are checked for range and duplicates, and the target's keys must be
 * present (and the other targets' keys absent).
 *
 * This header deliberately does not include scenarios/scen.h, so that
 * scen.h can embed a planspec in struct scenario.
 */
#ifndef MOESIM_SCENARIOS_PLAN_H
#define MOESIM_SCENARIOS_PLAN_H

#include "common/err.h"
#include "common/ini.h"
#include "hardware/hw.h"

#define PLANSPEC_MAX_NODE_FILES 16
#define PLANSPEC_MAX_LIST 32     /* node counts, EP sizes, DP sizes */
#define PLANSPEC_MAX_POLICIES 16 /* = SCEN_MAX_POLICIES (checked in plan.c) */
#define PLANSPEC_ALL_DEVICES 0   /* "all" in ep_sizes / attn_dp_sizes */

/* What the plan must achieve; the same order as scen_phase, and it must
 * equal the scenario's phase. */
typedef enum planspec_target {
    PLANSPEC_TRAIN = 0,
    PLANSPEC_PREFILL,
    PLANSPEC_DECODE,
    PLANSPEC_TARGET_COUNT
} planspec_target;
extern const char *const planspec_target_names[PLANSPEC_TARGET_COUNT];

/* The cost that ranks feasible candidates first (the others break ties). */
typedef enum planspec_rank {
    PLANSPEC_RANK_DEVICES = 0,
    PLANSPEC_RANK_POWER,
    PLANSPEC_RANK_PRICE,
    PLANSPEC_RANK_COUNT
} planspec_rank;
extern const char *const planspec_rank_names[PLANSPEC_RANK_COUNT];

typedef struct planspec {
    int present;   /* 1 when the scenario has a [plan] section */
    int line;      /* of the [plan] header, for messages */
    planspec_target target;

    /* Decode: output tokens/s of the whole deployment, each token within
     * tpot_s_max. Prefill: prompt tokens/s, each batch within ttft_s_max.
     * Train: train_tokens within train_days_max. Unused ones are 0. */
    double output_tokens_per_s;
    double tpot_s_max;
    double input_tokens_per_s;
    double ttft_s_max;
    double train_tokens;
    double train_days_max;

    /* Candidate node files, loaded (with their device files). node_refs
     * keeps each as written in the scenario, for tables and the database. */
    int n_node_files;
    hw_node node_files[PLANSPEC_MAX_NODE_FILES];
    char node_refs[PLANSPEC_MAX_NODE_FILES][HW_PATH_MAX];

    int n_node_counts;
    int node_counts[PLANSPEC_MAX_LIST]; /* nodes per serving instance */
    int n_policies;
    int policies[PLANSPEC_MAX_POLICIES]; /* indices into scenario.policies */
    int n_ep_sizes;
    int ep_sizes[PLANSPEC_MAX_LIST];      /* PLANSPEC_ALL_DEVICES = all */
    int n_attn_dp_sizes;
    int attn_dp_sizes[PLANSPEC_MAX_LIST]; /* PLANSPEC_ALL_DEVICES = all */

    int batch_min; /* sequences per device searched, inclusive */
    int batch_max;
    int plan_steps;      /* steps simulated per probe */
    unsigned long seed;  /* of every probe */
    planspec_rank rank_by;
} planspec;

struct scenario;

/* Reads section sec of d (the scenario document) into *out. s is the
 * scenario loaded from the same document, policies included (borrowed: its
 * policies, node and nodes give the defaults and the names to check); node
 * files resolve relative to ini_path(d). Every key is marked as used, so
 * the caller's ini_check_unused() reports unknown keys in [plan]. Returns 0
 * or ERR_INPUT with "FILE:LINE: [plan] key: ..." (a node file's own error is
 * kept, prefixed by where [plan] names it). *out is caller-allocated and
 * holds no owned memory. */
int planspec_load(inidoc *d, int sec, const struct scenario *s, planspec *out,
                  err_t *e);

/* The limit on the target's latency in seconds (tpot or ttft), or 0 for
 * train, and the throughput target in tokens/s (0 for train). */
double planspec_latency_limit_s(const planspec *p);
double planspec_tokens_per_s_target(const planspec *p);

#endif
