#include "scenarios/plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/scen.h"

const char *const planspec_target_names[PLANSPEC_TARGET_COUNT] = {
    "train", "prefill", "decode"};
const char *const planspec_rank_names[PLANSPEC_RANK_COUNT] = {
    "devices", "power", "price"};

/* The target is the scenario's phase under another name; the two enums
 * must stay in step. */
_Static_assert((int)PLANSPEC_TRAIN == (int)SCEN_TRAIN &&
                   (int)PLANSPEC_PREFILL == (int)SCEN_PREFILL &&
                   (int)PLANSPEC_DECODE == (int)SCEN_DECODE,
               "planspec_target must follow scen_phase");
_Static_assert(PLANSPEC_MAX_POLICIES >= SCEN_MAX_POLICIES,
               "a plan may name every policy of a scenario");

/* A list of whole numbers in [min, max], distinct; "all" is accepted as
 * PLANSPEC_ALL_DEVICES when allow_all. */
static int int_list(inidoc *d, int sec, const char *key, int allow_all,
                    int min, int max, int *out, int *n_out, err_t *e)
{
    char buf[INI_LINE_MAX + 1];
    char *item[PLANSPEC_MAX_LIST];
    int n = 0;
    int rc = ini_get_list(d, sec, key, 0, buf, item, PLANSPEC_MAX_LIST, &n,
                          e);
    if (rc != 0)
        return rc;
    for (int i = 0; i < n; i++) {
        if (allow_all && strcmp(item[i], "all") == 0) {
            out[i] = PLANSPEC_ALL_DEVICES;
        } else {
            errno = 0;
            char *end = NULL;
            long v = strtol(item[i], &end, 10);
            if (*end != '\0' || errno == ERANGE)
                return ini_key_error(d, sec, key, e,
                                     "'%s' is not a whole number; expected "
                                     "integers from %d to %d%s",
                                     item[i], min, max,
                                     allow_all ? " or all" : "");
            if (v < min || v > max)
                return ini_key_error(d, sec, key, e,
                                     "%ld is out of range; expected %d to %d",
                                     v, min, max);
            out[i] = (int)v;
        }
        for (int j = 0; j < i; j++)
            if (out[j] == out[i])
                return ini_key_error(d, sec, key, e,
                                     "'%s' appears twice; expected distinct "
                                     "values",
                                     item[i]);
    }
    *n_out = n;
    return 0;
}

static int load_node_files(inidoc *d, int sec, const scenario *s,
                           planspec *p, err_t *e)
{
    static const char key[] = "nodes_files";
    char buf[INI_LINE_MAX + 1];
    char *item[PLANSPEC_MAX_NODE_FILES];
    int n = 0;
    int rc = ini_get_list(d, sec, key, 0, buf, item, PLANSPEC_MAX_NODE_FILES,
                          &n, e);
    if (rc < 0)
        return rc;
    if (rc == 1) { /* absent: the scenario's own node */
        p->n_node_files = 1;
        p->node_files[0] = s->node;
        snprintf(p->node_refs[0], sizeof p->node_refs[0], "%s", s->node.path);
        return 0;
    }
    for (int i = 0; i < n; i++) {
        char path[HW_PATH_MAX];
        if (ini_resolve_path(ini_path(d), item[i], path, sizeof path) != 0)
            return ini_key_error(d, sec, key, e, "path '%s' too long",
                                 item[i]);
        if ((rc = hw_node_load(path, &p->node_files[i], e)) != 0) {
            ini_ref_error(d, sec, key, e);
            return rc;
        }
        for (int j = 0; j < i; j++)
            if (strcmp(p->node_files[j].path, path) == 0)
                return ini_key_error(d, sec, key, e,
                                     "'%s' appears twice; expected distinct "
                                     "node files",
                                     item[i]);
        snprintf(p->node_refs[i], sizeof p->node_refs[i], "%s", item[i]);
    }
    p->n_node_files = n;
    return 0;
}

static int load_policies(inidoc *d, int sec, const scenario *s, planspec *p,
                         err_t *e)
{
    static const char key[] = "policies";
    char buf[INI_LINE_MAX + 1];
    char *item[PLANSPEC_MAX_POLICIES];
    int n = 0;
    int rc = ini_get_list(d, sec, key, 0, buf, item, PLANSPEC_MAX_POLICIES,
                          &n, e);
    if (rc < 0)
        return rc;
    if (rc == 1) { /* absent: every policy of the scenario */
        p->n_policies = s->n_policies;
        for (int i = 0; i < s->n_policies; i++)
            p->policies[i] = i;
        return 0;
    }
    for (int i = 0; i < n; i++) {
        int pi = scen_find_policy(s, item[i]);
        if (pi < 0) {
            char names[512] = "";
            size_t o = 0;
            for (int k = 0; k < s->n_policies && o < sizeof names; k++)
                o += (size_t)snprintf(names + o, sizeof names - o, "%s%s",
                                      k ? ", " : "", s->policies[k].name);
            return ini_key_error(d, sec, key, e,
                                 "no [policy %s] in the scenario; expected "
                                 "one of: %s",
                                 item[i], names);
        }
        for (int j = 0; j < i; j++)
            if (p->policies[j] == pi)
                return ini_key_error(d, sec, key, e,
                                     "'%s' appears twice; expected distinct "
                                     "policies",
                                     item[i]);
        p->policies[i] = pi;
    }
    p->n_policies = n;
    return 0;
}

/* The target's two keys are required, the other targets' forbidden. */
static int check_target_keys(inidoc *d, int sec, planspec *p, err_t *e)
{
    static const char *const keys[PLANSPEC_TARGET_COUNT][2] = {
        [PLANSPEC_TRAIN] = {"train_tokens", "train_days_max"},
        [PLANSPEC_PREFILL] = {"input_tokens_per_s", "ttft_ms_max"},
        [PLANSPEC_DECODE] = {"output_tokens_per_s", "tpot_ms_max"},
    };
    for (int t = 0; t < PLANSPEC_TARGET_COUNT; t++) {
        for (int k = 0; k < 2; k++) {
            int has = ini_has_key(d, sec, keys[t][k]);
            if (t == (int)p->target && !has)
                return err_input(e, ini_path(d), p->line,
                                 "[plan] is missing required key '%s' "
                                 "for target = %s; expected %s and %s",
                                 keys[t][k], planspec_target_names[t],
                                 keys[t][0], keys[t][1]);
            if (t != (int)p->target && has)
                return ini_key_error(d, sec, keys[t][k], e,
                                     "applies to target = %s, not %s; "
                                     "expected %s and %s",
                                     planspec_target_names[t],
                                     planspec_target_names[p->target],
                                     keys[p->target][0], keys[p->target][1]);
        }
    }
    return 0;
}

int planspec_load(inidoc *d, int sec, const scenario *s, planspec *out,
                  err_t *e)
{
    memset(out, 0, sizeof *out);
    out->present = 1;
    out->line = ini_section_line(d, (size_t)sec);
    int rc, target = 0, rank = PLANSPEC_RANK_DEVICES;
    double tpot_ms = 0, ttft_ms = 0;
    long seed = (long)s->seeds[0];
    /* Every key is asked for, in the order sim/PLAN.md lists them, so an
     * unknown key's message lists them all. */
    if ((rc = ini_get_enum(d, sec, "target", 1, planspec_target_names,
                           PLANSPEC_TARGET_COUNT, &target, e)) != 0 ||
        (rc = ini_get_double(d, sec, "output_tokens_per_s", 0, 1e-3, 1e15,
                             &out->output_tokens_per_s, e)) < 0 ||
        (rc = ini_get_double(d, sec, "tpot_ms_max", 0, 1e-3, 1e7, &tpot_ms,
                             e)) < 0 ||
        (rc = ini_get_double(d, sec, "input_tokens_per_s", 0, 1e-3, 1e15,
                             &out->input_tokens_per_s, e)) < 0 ||
        (rc = ini_get_double(d, sec, "ttft_ms_max", 0, 1e-3, 1e7, &ttft_ms,
                             e)) < 0 ||
        (rc = ini_get_double(d, sec, "train_tokens", 0, 1, 1e18,
                             &out->train_tokens, e)) < 0 ||
        (rc = ini_get_double(d, sec, "train_days_max", 0, 1e-6, 1e6,
                             &out->train_days_max, e)) < 0)
        return rc;
    out->target = (planspec_target)target;
    out->tpot_s_max = tpot_ms * 1e-3;
    out->ttft_s_max = ttft_ms * 1e-3;
    if ((int)s->phase != target)
        return ini_key_error(d, sec, "target", e,
                             "the scenario's phase is %s; expected target = "
                             "%s (the plan searches the scenario's phase)",
                             scen_phase_names[s->phase],
                             planspec_target_names[s->phase]);
    if ((rc = check_target_keys(d, sec, out, e)) != 0)
        return rc;

    if ((rc = load_node_files(d, sec, s, out, e)) != 0)
        return rc;
    rc = int_list(d, sec, "node_counts", 0, 1, 65536, out->node_counts,
                  &out->n_node_counts, e);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        out->n_node_counts = 1;
        out->node_counts[0] = s->nodes;
    }
    if ((rc = load_policies(d, sec, s, out, e)) != 0)
        return rc;
    rc = int_list(d, sec, "ep_sizes", 1, 1, 1 << 20, out->ep_sizes,
                  &out->n_ep_sizes, e);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        out->n_ep_sizes = 1;
        out->ep_sizes[0] = PLANSPEC_ALL_DEVICES;
    }
    for (int i = 0; i < out->n_ep_sizes; i++) {
        int ep = out->ep_sizes[i];
        if (ep != PLANSPEC_ALL_DEVICES && s->model.routed_experts % ep != 0)
            return ini_key_error(d, sec, "ep_sizes", e,
                                 "%d routed experts of %s do not split over "
                                 "%d devices; expected divisors of the "
                                 "expert count, or all",
                                 s->model.routed_experts, s->model.name, ep);
    }
    rc = int_list(d, sec, "attn_dp_sizes", 1, 1, 1 << 20, out->attn_dp_sizes,
                  &out->n_attn_dp_sizes, e);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        out->n_attn_dp_sizes = 1;
        out->attn_dp_sizes[0] = PLANSPEC_ALL_DEVICES;
    }

    out->batch_min = 1;
    out->batch_max = 0;
    out->plan_steps = 3;
    if ((rc = ini_get_int(d, sec, "batch_min", 0, 1, 1 << 20, &out->batch_min,
                          e)) < 0 ||
        (rc = ini_get_int(d, sec, "batch_max", 0, 1, 1 << 20, &out->batch_max,
                          e)) < 0 ||
        (rc = ini_get_int(d, sec, "plan_steps", 0, 1, 1000, &out->plan_steps,
                          e)) < 0 ||
        (rc = ini_get_long(d, sec, "seed", 0, 0, 4294967295L, &seed, e)) < 0 ||
        (rc = ini_get_enum(d, sec, "rank_by", 0, planspec_rank_names,
                           PLANSPEC_RANK_COUNT, &rank, e)) < 0)
        return rc;
    if (out->batch_max == 0) /* default: 256, never below batch_min */
        out->batch_max = out->batch_min > 256 ? out->batch_min : 256;
    if (out->batch_min > out->batch_max)
        return ini_key_error(d, sec, "batch_min", e,
                             "%d is above batch_max %d; expected batch_min "
                             "<= batch_max",
                             out->batch_min, out->batch_max);
    out->seed = (unsigned long)seed;
    out->rank_by = (planspec_rank)rank;
    return 0;
}

double planspec_latency_limit_s(const planspec *p)
{
    switch (p->target) {
    case PLANSPEC_DECODE:
        return p->tpot_s_max;
    case PLANSPEC_PREFILL:
        return p->ttft_s_max;
    default:
        return 0;
    }
}

double planspec_tokens_per_s_target(const planspec *p)
{
    switch (p->target) {
    case PLANSPEC_DECODE:
        return p->output_tokens_per_s;
    case PLANSPEC_PREFILL:
        return p->input_tokens_per_s;
    default:
        return 0;
    }
}
