/*
 * scen: scenario files. A scenario names a model file and a node file
 * (paths relative to the scenario), the cluster size, the phase and batch,
 * the parallel layout, how the network is simulated, and one [policy NAME]
 * section per routing policy to compare. Optional [workload] tunes the
 * synthetic token stream; optional [plan] describes a capacity-planning
 * search. README "Scenario files" lists every key with its default.
 */
#ifndef MOESIM_SCENARIOS_SCEN_H
#define MOESIM_SCENARIOS_SCEN_H

#include "common/err.h"
#include "hardware/hw.h"
#include "models/model.h"
#include "models/workload.h"
#include "scenarios/plan.h"

#define SCEN_MAX_POLICIES 16
#define SCEN_MAX_SEEDS 32
#define SCEN_NAME_MAX 64

typedef enum scen_phase {
    SCEN_TRAIN = 0,
    SCEN_PREFILL,
    SCEN_DECODE,
    SCEN_PHASE_COUNT
} scen_phase;
extern const char *const scen_phase_names[SCEN_PHASE_COUNT];

typedef enum scen_router {
    SCEN_ROUTER_TOPK = 0,
    SCEN_ROUTER_V2,      /* v2-device-limited */
    SCEN_ROUTER_V3,      /* v3-group-limited */
    SCEN_ROUTER_MOGE,
    SCEN_ROUTER_SWITCH,
    SCEN_ROUTER_GSHARD,
    SCEN_ROUTER_EXPERT_CHOICE,
    SCEN_ROUTER_HASH,
    SCEN_ROUTER_UNIFORM,
    SCEN_ROUTER_COUNT
} scen_router;
extern const char *const scen_router_names[SCEN_ROUTER_COUNT];

typedef enum scen_placement {
    SCEN_PLACE_CONTIGUOUS = 0,
    SCEN_PLACE_GROUPED,
    SCEN_PLACE_EPLB,
    SCEN_PLACE_COUNT
} scen_placement;
extern const char *const scen_placement_names[SCEN_PLACE_COUNT];

typedef enum scen_group_unit { SCEN_GROUP_DEVICE = 0, SCEN_GROUP_NODE } scen_group_unit;
typedef enum scen_network { SCEN_NET_ANALYTIC = 0, SCEN_NET_FLOW } scen_network;
typedef enum scen_dispatch { SCEN_DISPATCH_DIRECT = 0, SCEN_DISPATCH_NODE_LIMITED } scen_dispatch;

/* One [policy NAME] section, resolved against the model: every field holds
 * the value in force (the policy's own, else the model's native one). */
typedef struct scen_policy {
    char name[SCEN_NAME_MAX];
    int line; /* of the section header, for messages */
    scen_router router;
    scen_placement placement;
    int top_k;
    int groups;
    int topk_groups;
    scen_group_unit group_unit; /* what a group maps to (v2/v3) */
    int gate_sigmoid;           /* v3 and topk: sigmoid instead of softmax */
    int renormalize;
    double scaling_factor;
    double capacity_factor;     /* switch, gshard, expert-choice; 0 = none */
    double bias_gamma;          /* aux-loss-free bias step; 0 = off */
    int redundant_experts;      /* eplb: extra physical slots per EP group */
    int eplb_window_steps;      /* eplb: moving-average window of loads */
    int eplb_interval_steps;    /* eplb: steps between rebalances */
} scen_policy;

typedef struct scenario {
    char name[SCEN_NAME_MAX];
    char path[MODEL_PATH_MAX];
    char *text; /* the scenario file as read (owned; scen_free releases) */
    char description[512];
    model_desc model;
    hw_node node;
    int nodes;
    int devices; /* nodes * node.devices */
    scen_phase phase;
    int sequences_per_device;
    int seq_len;     /* train, prefill: tokens per sequence */
    int context_len; /* decode: tokens already in the KV cache */
    int steps;
    int n_seeds;
    unsigned long seeds[SCEN_MAX_SEEDS];
    int ep_size;
    int attn_dp_size;
    scen_network network;
    scen_dispatch dispatch;
    int micro_batches; /* 1, or 2 to overlap compute with all-to-all */
    int grad_sync;     /* train: all-reduce gradients of non-expert weights */
    workload_params workload; /* [workload], defaults when absent */
    planspec plan;            /* [plan]; plan.present = 0 when absent */
    int n_policies;
    scen_policy policies[SCEN_MAX_POLICIES];
} scenario;

/* Loads a scenario and the model and node files it names. The whole file
 * text stays available in out->text for the results store. *out is
 * caller-allocated; on success scen_free() releases what it holds. */
int scen_load(const char *path, scenario *out, err_t *e);
void scen_free(scenario *s);

/* Tokens each device routes per step (its attention batch): decode one per
 * sequence, train and prefill sequences_per_device * seq_len. */
long scen_tokens_per_device(const scenario *s);

/* The layout rules that tie a cluster to a policy: scale-out for several
 * nodes, ep_size dividing the devices and the experts, attn_dp_size
 * dividing the devices, node-limited dispatch needing nodes, MoGE and
 * grouped placement needing groups = ep_size, V2/V3 groups matching nodes or
 * devices, EPLB slots dividing over ep_size. Returns NULL when s (and p, if
 * not NULL) obey them all; else the key the first broken rule belongs to
 * ("nodes", "ep_size", "attn_dp_size", "dispatch" for s; "groups",
 * "group_unit", "placement", "redundant_experts" for p) with the reason,
 * ending in what was expected, in why. The loader and the capacity planner
 * both judge layouts with it. */
const char *scen_layout_problem(const scenario *s, const scen_policy *p,
                                char *why, size_t why_size);

/* Index of the policy named name, or -1. */
int scen_find_policy(const scenario *s, const char *name);

#endif
