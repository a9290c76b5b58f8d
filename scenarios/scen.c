#include "scenarios/scen.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/ini.h"
#include "hardware/cost.h"

const char *const scen_phase_names[SCEN_PHASE_COUNT] = {"train", "prefill",
                                                       "decode"};
const char *const scen_router_names[SCEN_ROUTER_COUNT] = {
    "topk", "v2-device-limited", "v3-group-limited", "moge", "switch",
    "gshard", "expert-choice", "hash", "uniform"};
const char *const scen_placement_names[SCEN_PLACE_COUNT] = {
    "contiguous", "grouped", "eplb"};
static const char *const group_unit_names[] = {"device", "node"};
static const char *const network_names[] = {"analytic", "flow"};
static const char *const dispatch_names[] = {"direct", "node-limited"};
static const char *const gate_names[] = {"softmax", "sigmoid"};

/* Loads a file named by key in section sec, relative to the scenario. The
 * referenced file's own FILE:LINE message is kept, prefixed by where the
 * scenario names it, so the user sees both places. */
static int load_ref(inidoc *d, int sec, const char *key, int is_model,
                    scenario *s, err_t *e)
{
    const char *ref = NULL;
    int rc = ini_get_str(d, sec, key, 1, &ref, e);
    if (rc != 0)
        return rc;
    char path[MODEL_PATH_MAX];
    if (ini_resolve_path(ini_path(d), ref, path, sizeof path) != 0)
        return ini_key_error(d, sec, key, e, "path too long");
    rc = is_model ? model_load(path, &s->model, e)
                  : hw_node_load(path, &s->node, e);
    if (rc != 0)
        ini_ref_error(d, sec, key, e);
    return rc;
}

static int load_seeds(inidoc *d, int sec, scenario *s, err_t *e)
{
    double v[SCEN_MAX_SEEDS];
    int n = 0;
    int rc = ini_get_double_list(d, sec, "seeds", 0, 0, 4294967295.0, v,
                                 SCEN_MAX_SEEDS, &n, e);
    if (rc < 0)
        return rc;
    if (rc == 1) {
        s->n_seeds = 1;
        s->seeds[0] = 1;
        return 0;
    }
    for (int i = 0; i < n; i++) {
        if (v[i] != (double)(unsigned long)v[i])
            return ini_key_error(d, sec, "seeds", e,
                                 "%g is not a whole number; expected "
                                 "non-negative integers",
                                 v[i]);
        for (int j = 0; j < i; j++)
            if (v[j] == v[i])
                return ini_key_error(d, sec, "seeds", e,
                                     "seed %g appears twice; expected "
                                     "distinct seeds",
                                     v[i]);
        s->seeds[i] = (unsigned long)v[i];
    }
    s->n_seeds = n;
    return 0;
}

static int load_scenario_section(inidoc *d, scenario *s, err_t *e)
{
    int rc, sec = ini_find_section(d, "scenario");
    if (sec < 0)
        return err_input(e, ini_path(d), 0,
                         "missing section [scenario]; expected a scenario "
                         "file");
    const char *name = NULL, *desc = NULL;
    if ((rc = ini_get_str(d, sec, "name", 0, &name, e)) < 0 ||
        (rc = ini_get_str(d, sec, "description", 0, &desc, e)) < 0)
        return rc;
    if (name) {
        for (const char *p = name; *p; p++)
            if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                  (*p >= '0' && *p <= '9') || *p == '-' || *p == '_' ||
                  *p == '.'))
                return ini_key_error(d, sec, "name", e,
                                     "'%s' has a character other than "
                                     "letters, digits, '-', '_' or '.'; "
                                     "expected a name usable as a file name",
                                     name);
        if (strlen(name) >= sizeof s->name)
            return ini_key_error(d, sec, "name", e,
                                 "longer than %d characters",
                                 (int)sizeof s->name - 1);
        snprintf(s->name, sizeof s->name, "%s", name);
    } else {
        /* default: the file name without folder and .ini */
        const char *base = strrchr(ini_path(d), '/');
        base = base ? base + 1 : ini_path(d);
        size_t n = strcspn(base, ".");
        if (n >= sizeof s->name)
            n = sizeof s->name - 1;
        memcpy(s->name, base, n);
        s->name[n] = '\0';
    }
    if (desc)
        snprintf(s->description, sizeof s->description, "%s", desc);

    if ((rc = load_ref(d, sec, "model", 1, s, e)) != 0 ||
        (rc = load_ref(d, sec, "node", 0, s, e)) != 0)
        return rc;

    int phase = 0, net = 0, disp = 0;
    s->nodes = 1;
    s->steps = 10;
    s->micro_batches = 1;
    if ((rc = ini_get_int(d, sec, "nodes", 0, 1, 65536, &s->nodes, e)) < 0 ||
        (rc = ini_get_enum(d, sec, "phase", 1, scen_phase_names,
                           SCEN_PHASE_COUNT, &phase, e)) != 0 ||
        (rc = ini_get_int(d, sec, "sequences_per_device", 1, 1, 1 << 20,
                          &s->sequences_per_device, e)) != 0 ||
        (rc = ini_get_int(d, sec, "steps", 0, 1, 1000000, &s->steps, e)) < 0 ||
        (rc = load_seeds(d, sec, s, e)) != 0 ||
        (rc = ini_get_enum(d, sec, "network", 0, network_names, 2, &net, e)) <
            0 ||
        (rc = ini_get_enum(d, sec, "dispatch", 0, dispatch_names, 2, &disp,
                           e)) < 0 ||
        (rc = ini_get_int(d, sec, "micro_batches", 0, 1, 2, &s->micro_batches,
                          e)) < 0)
        return rc;
    s->phase = (scen_phase)phase;
    s->network = (scen_network)net;
    /* Serving stacks often run a model in another precision than it was
     * published in (W8A8 on Ascend, FP8 on Hopper): the scenario may say
     * so, and the device must support what it says. */
    static const char *const dt_keys[3] = {"weight_dtype", "activation_dtype",
                                          "kv_dtype"};
    model_dtype *dt_fields[3] = {&s->model.weight_dtype,
                                 &s->model.activation_dtype,
                                 &s->model.kv_dtype};
    for (int i = 0; i < 3; i++) {
        int v = (int)*dt_fields[i];
        if ((rc = ini_get_enum(d, sec, dt_keys[i], 0, model_dtype_names,
                               MODEL_DTYPE_COUNT, &v, e)) < 0)
            return rc;
        *dt_fields[i] = (model_dtype)v;
    }
    cost_prec prec = {(hw_dtype)s->model.weight_dtype,
                      (hw_dtype)s->model.activation_dtype,
                      (hw_dtype)s->model.kv_dtype};
    err_t why;
    err_clear(&why);
    if (cost_prec_check(&s->node.device, &prec, &why) != 0)
        return ini_key_error(d, sec, "node", e,
                             "%s; set weight_dtype, activation_dtype or "
                             "kv_dtype in [scenario]",
                             why.msg);
    s->dispatch = (scen_dispatch)disp;
    s->devices = s->nodes * s->node.devices;

    if (s->phase == SCEN_DECODE) {
        if ((rc = ini_get_int(d, sec, "context_len", 1, 1, 1 << 24,
                              &s->context_len, e)) != 0)
            return rc;
        if (ini_has_key(d, sec, "seq_len"))
            return ini_key_error(d, sec, "seq_len", e,
                                 "seq_len applies to train and prefill; "
                                 "expected context_len for decode");
    } else {
        if ((rc = ini_get_int(d, sec, "seq_len", 1, 1, 1 << 24, &s->seq_len,
                              e)) != 0)
            return rc;
        if (ini_has_key(d, sec, "context_len"))
            return ini_key_error(d, sec, "context_len", e,
                                 "context_len applies to decode; expected "
                                 "seq_len for %s",
                                 scen_phase_names[s->phase]);
    }
    s->grad_sync = s->phase == SCEN_TRAIN;
    if ((rc = ini_get_bool(d, sec, "grad_sync", 0, &s->grad_sync, e)) < 0)
        return rc;
    if (s->grad_sync && s->phase != SCEN_TRAIN)
        return ini_key_error(d, sec, "grad_sync", e,
                             "gradient synchronisation applies to train; "
                             "expected no for %s",
                             scen_phase_names[s->phase]);

    s->ep_size = s->devices;
    s->attn_dp_size = s->devices;
    if ((rc = ini_get_int(d, sec, "ep_size", 0, 1, 1 << 20, &s->ep_size,
                          e)) < 0 ||
        (rc = ini_get_int(d, sec, "attn_dp_size", 0, 1, 1 << 20,
                          &s->attn_dp_size, e)) < 0)
        return rc;
    char problem[512];
    const char *key = scen_layout_problem(s, NULL, problem, sizeof problem);
    if (key)
        return ini_key_error(d, sec, key, e, "%s", problem);
    return 0;
}

/* Reads one [policy NAME] section, filling defaults from the model. */
static int load_policy(inidoc *d, int sec, const char *name, scenario *s,
                       scen_policy *p, err_t *e)
{
    const model_desc *m = &s->model;
    memset(p, 0, sizeof *p);
    if (strlen(name) >= sizeof p->name || name[0] == '\0')
        return err_input(e, ini_path(d), ini_section_line(d, (size_t)sec),
                         "policy name '%s' is empty or longer than %d "
                         "characters",
                         name, (int)sizeof p->name - 1);
    snprintf(p->name, sizeof p->name, "%s", name);
    p->line = ini_section_line(d, (size_t)sec);
    int router = 0, placement = 0, unit = 0, rc;
    if ((rc = ini_get_enum(d, sec, "router", 1, scen_router_names,
                           SCEN_ROUTER_COUNT, &router, e)) != 0)
        return rc;
    p->router = (scen_router)router;
    int default_place = p->router == SCEN_ROUTER_MOGE ? SCEN_PLACE_GROUPED
                                                      : SCEN_PLACE_CONTIGUOUS;
    placement = default_place;
    if ((rc = ini_get_enum(d, sec, "placement", 0, scen_placement_names,
                           SCEN_PLACE_COUNT, &placement, e)) < 0)
        return rc;
    p->placement = (scen_placement)placement;

    p->top_k = m->top_k;
    p->groups = m->groups;
    p->topk_groups = m->topk_groups;
    p->gate_sigmoid = p->router == SCEN_ROUTER_V3 ||
                      (p->router == SCEN_ROUTER_TOPK &&
                       m->gate == MODEL_GATE_SIGMOID);
    p->renormalize = m->renormalize;
    p->scaling_factor = m->scaling_factor;
    p->eplb_window_steps = 10;
    p->eplb_interval_steps = 10;
    int gate = p->gate_sigmoid;
    if ((rc = ini_get_int(d, sec, "top_k", 0, 1, m->routed_experts, &p->top_k,
                          e)) < 0 ||
        (rc = ini_get_int(d, sec, "groups", 0, 1, m->routed_experts,
                          &p->groups, e)) < 0 ||
        (rc = ini_get_int(d, sec, "topk_groups", 0, 1, m->routed_experts,
                          &p->topk_groups, e)) < 0 ||
        (rc = ini_get_enum(d, sec, "group_unit", 0, group_unit_names, 2,
                           &unit, e)) < 0 ||
        (rc = ini_get_enum(d, sec, "gate", 0, gate_names, 2, &gate, e)) < 0 ||
        (rc = ini_get_bool(d, sec, "renormalize", 0, &p->renormalize, e)) <
            0 ||
        (rc = ini_get_double(d, sec, "scaling_factor", 0, 1e-6, 1e6,
                             &p->scaling_factor, e)) < 0 ||
        (rc = ini_get_double(d, sec, "capacity_factor", 0, 0.01, 64,
                             &p->capacity_factor, e)) < 0 ||
        (rc = ini_get_double(d, sec, "bias_gamma", 0, 0, 1, &p->bias_gamma,
                             e)) < 0 ||
        (rc = ini_get_int(d, sec, "redundant_experts", 0, 0, 1 << 16,
                          &p->redundant_experts, e)) < 0 ||
        (rc = ini_get_int(d, sec, "eplb_window_steps", 0, 1, 1000000,
                          &p->eplb_window_steps, e)) < 0 ||
        (rc = ini_get_int(d, sec, "eplb_interval_steps", 0, 1, 1000000,
                          &p->eplb_interval_steps, e)) < 0)
        return rc;
    p->group_unit = (scen_group_unit)unit;
    p->gate_sigmoid = gate;

    const int n = m->routed_experts;
    const int bad_groups = n % p->groups != 0;
    if (bad_groups)
        return ini_key_error(d, sec, "groups", e,
                             "%d routed experts do not split into %d equal "
                             "groups; expected a divisor of %d",
                             n, p->groups, n);
    if (p->topk_groups > p->groups)
        return ini_key_error(d, sec, "topk_groups", e,
                             "%d kept groups of %d; expected at most groups",
                             p->topk_groups, p->groups);
    int per_group = n / p->groups;
    switch (p->router) {
    case SCEN_ROUTER_MOGE:
        if (p->top_k % p->groups != 0)
            return ini_key_error(d, sec, "top_k", e,
                                 "MoGE picks top_k/groups experts in every "
                                 "group but %d is not divisible by %d "
                                 "groups; expected a multiple of groups",
                                 p->top_k, p->groups);
        break;
    case SCEN_ROUTER_V2:
    case SCEN_ROUTER_V3:
        if (p->top_k > p->topk_groups * per_group)
            return ini_key_error(d, sec, "top_k", e,
                                 "top_k %d exceeds the %d experts in %d kept "
                                 "groups of %d",
                                 p->top_k, p->topk_groups * per_group,
                                 p->topk_groups, per_group);
        if (p->router == SCEN_ROUTER_V3 && per_group < 2)
            return ini_key_error(d, sec, "groups", e,
                                 "the V3 group score sums the top 2 experts "
                                 "of a group; expected at least 2 experts "
                                 "per group");
        break;
    case SCEN_ROUTER_SWITCH:
        if (p->top_k != 1 && ini_has_key(d, sec, "top_k"))
            return ini_key_error(d, sec, "top_k", e,
                                 "Switch routing is top-1; expected top_k = 1 "
                                 "or no top_k");
        p->top_k = 1;
        break;
    case SCEN_ROUTER_GSHARD:
        if (p->top_k != 2 && ini_has_key(d, sec, "top_k"))
            return ini_key_error(d, sec, "top_k", e,
                                 "GShard routing is top-2; expected top_k = 2 "
                                 "or no top_k");
        p->top_k = 2;
        break;
    default:
        break;
    }
    int needs_capacity = p->router == SCEN_ROUTER_SWITCH ||
                         p->router == SCEN_ROUTER_GSHARD ||
                         p->router == SCEN_ROUTER_EXPERT_CHOICE;
    if (needs_capacity && p->capacity_factor == 0)
        p->capacity_factor = p->router == SCEN_ROUTER_EXPERT_CHOICE
                                 ? (double)p->top_k
                                 : 1.0;
    if (!needs_capacity && p->capacity_factor != 0)
        return ini_key_error(d, sec, "capacity_factor", e,
                             "router %s has no capacity; expected "
                             "capacity_factor only with switch, gshard or "
                             "expert-choice",
                             scen_router_names[p->router]);
    if (p->bias_gamma > 0 && !p->gate_sigmoid)
        return ini_key_error(d, sec, "bias_gamma", e,
                             "the aux-loss-free bias is DeepSeek-V3's and "
                             "needs the sigmoid gate; expected router = "
                             "v3-group-limited or gate = sigmoid");
    if (p->placement != SCEN_PLACE_EPLB && p->redundant_experts > 0)
        return ini_key_error(d, sec, "redundant_experts", e,
                             "redundant experts need placement = eplb");
    char why[512];
    const char *key = scen_layout_problem(s, p, why, sizeof why);
    if (key)
        return ini_key_error(d, sec, key, e, "%s", why);
    return 0;
}

const char *scen_layout_problem(const scenario *s, const scen_policy *p,
                                char *why, size_t why_size)
{
    const model_desc *m = &s->model;
    const int n = m->routed_experts;
    if (s->node.scaleout == HW_SCALEOUT_NONE && s->nodes > 1 &&
        s->nodes > s->node.span_nodes) {
        snprintf(why, why_size,
                 "%d nodes of '%s', which has no scale-out network; "
                 "expected nodes = 1",
                 s->nodes, s->node.name);
        return "nodes";
    }
    if (s->devices % s->ep_size != 0) {
        snprintf(why, why_size,
                 "%d devices do not split into expert-parallel groups of %d; "
                 "expected a divisor of %d",
                 s->devices, s->ep_size, s->devices);
        return "ep_size";
    }
    if (n % s->ep_size != 0) {
        snprintf(why, why_size,
                 "%d routed experts of %s do not split over %d devices; "
                 "expected a divisor of the expert count",
                 n, m->name, s->ep_size);
        return "ep_size";
    }
    if (s->devices % s->attn_dp_size != 0) {
        snprintf(why, why_size,
                 "%d devices do not split into %d attention data-parallel "
                 "groups; expected a divisor",
                 s->devices, s->attn_dp_size);
        return "attn_dp_size";
    }
    if (s->dispatch == SCEN_DISPATCH_NODE_LIMITED && s->nodes == 1) {
        snprintf(why, why_size, "node-limited dispatch needs more than one "
                                "node; expected direct");
        return "dispatch";
    }
    if (!p)
        return NULL;
    int v23 = p->router == SCEN_ROUTER_V2 || p->router == SCEN_ROUTER_V3;
    if (p->router == SCEN_ROUTER_MOGE && p->groups != s->ep_size) {
        snprintf(why, why_size,
                 "MoGE puts one group on each device but there are %d groups "
                 "for ep_size %d; expected groups = ep_size",
                 p->groups, s->ep_size);
        return "groups";
    }
    if (v23 && p->group_unit == SCEN_GROUP_NODE && p->groups != s->nodes &&
        s->nodes > 1) {
        snprintf(why, why_size,
                 "group_unit = node maps one group to each node but there are "
                 "%d groups and %d nodes; expected groups = nodes",
                 p->groups, s->nodes);
        return "group_unit";
    }
    if (v23 && p->group_unit == SCEN_GROUP_DEVICE && p->groups != s->ep_size) {
        snprintf(why, why_size,
                 "group_unit = device maps one group to each device but there "
                 "are %d groups for ep_size %d; expected groups = ep_size, or "
                 "group_unit = node",
                 p->groups, s->ep_size);
        return "group_unit";
    }
    if (p->placement == SCEN_PLACE_GROUPED && p->groups != s->ep_size) {
        snprintf(why, why_size,
                 "grouped placement puts one group on each device but there "
                 "are %d groups for ep_size %d; expected groups = ep_size",
                 p->groups, s->ep_size);
        return "placement";
    }
    if (p->placement == SCEN_PLACE_EPLB &&
        (n + p->redundant_experts) % s->ep_size != 0) {
        snprintf(why, why_size,
                 "%d experts + %d redundant = %d slots do not split over %d "
                 "devices; expected a total divisible by ep_size",
                 n, p->redundant_experts, n + p->redundant_experts,
                 s->ep_size);
        return "redundant_experts";
    }
    return NULL;
}

int scen_load(const char *path, scenario *out, err_t *e)
{
    inidoc *d = NULL;
    memset(out, 0, sizeof *out);
    int rc = ini_load(path, &d, e);
    if (rc != 0)
        return rc;
    snprintf(out->path, sizeof out->path, "%s", path);
    if ((rc = load_scenario_section(d, out, e)) != 0)
        goto done;
    workload_params_default(&out->workload);
    int wsec = ini_find_section(d, "workload");
    if (wsec >= 0 &&
        (rc = workload_params_load(d, wsec, &out->workload, e)) != 0)
        goto done;
    for (size_t i = 0; i < ini_section_count(d); i++) {
        const char *sname = ini_section_name(d, i);
        if (strncmp(sname, "policy ", 7) != 0 && strcmp(sname, "policy") != 0)
            continue;
        ini_mark_section(d, i);
        if (out->n_policies == SCEN_MAX_POLICIES) {
            rc = err_input(e, path, ini_section_line(d, i),
                           "more than %d policies; expected at most %d",
                           SCEN_MAX_POLICIES, SCEN_MAX_POLICIES);
            goto done;
        }
        const char *pname = sname[6] ? sname + 7 : "";
        rc = load_policy(d, (int)i, pname, out,
                         &out->policies[out->n_policies], e);
        if (rc != 0)
            goto done;
        out->n_policies++;
    }
    if (out->n_policies == 0) {
        rc = err_input(e, path, 0,
                       "no [policy NAME] section; expected at least one "
                       "policy to simulate");
        goto done;
    }
    int psec = ini_find_section(d, "plan");
    if (psec >= 0 && (rc = planspec_load(d, psec, out, &out->plan, e)) != 0)
        goto done;
    if ((rc = ini_check_unused(d, "[scenario], [workload], [plan] or "
                                  "[policy NAME]",
                               e)) != 0)
        goto done;
    size_t n = strlen(ini_text(d)) + 1;
    out->text = malloc(n);
    if (!out->text) {
        rc = err_set(e, ERR_NOMEM, "out of memory");
        goto done;
    }
    memcpy(out->text, ini_text(d), n);
done:
    ini_destroy(d);
    return rc;
}

void scen_free(scenario *s)
{
    if (!s)
        return;
    free(s->text);
    s->text = NULL;
}

long scen_tokens_per_device(const scenario *s)
{
    if (s->phase == SCEN_DECODE)
        return s->sequences_per_device;
    return (long)s->sequences_per_device * s->seq_len;
}

int scen_find_policy(const scenario *s, const char *name)
{
    for (int i = 0; i < s->n_policies; i++)
        if (strcmp(s->policies[i].name, name) == 0)
            return i;
    return -1;
}
