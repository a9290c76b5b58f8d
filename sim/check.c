#include "sim/check.h"

#include <string.h>

#include "common/ini.h"
#include "hardware/hw.h"
#include "models/model.h"
#include "scenarios/scen.h"
#include "sim/memory.h"

static void print_device(FILE *out, const hw_device *d)
{
    fprintf(out, "device_name = %s\n", d->name);
    for (int t = 0; t < HW_DTYPE_COUNT; t++) {
        if (d->peak_tflops[t] <= 0)
            continue;
        /* integer rates are quoted in TOPS, float rates in TFLOPS */
        int is_int = t == HW_INT8;
        fprintf(out, "peak_%s_%s = %g\n", hw_dtype_name((hw_dtype)t),
                is_int ? "tops" : "tflops", d->peak_tflops[t]);
        fprintf(out, "ridge_%s_%s_per_byte = %.1f\n",
                hw_dtype_name((hw_dtype)t), is_int ? "op" : "flop",
                hw_ridge_flop_per_byte(d, (hw_dtype)t));
    }
    fprintf(out, "hbm_bytes = %.0f\n", d->memory_bytes);
    fprintf(out, "hbm_gbps = %g\n", d->memory_gbps);
    fprintf(out, "hbm_effective_gbps = %g\n",
            d->memory_gbps * d->memory_efficiency);
}

static void print_node(FILE *out, const hw_node *n)
{
    fprintf(out, "node_name = %s\n", n->name);
    print_device(out, &n->device);
    fprintf(out, "devices_per_node = %d\n", n->devices);
    fprintf(out, "scaleup = %s\n", hw_scaleup_names[n->scaleup]);
    double per_dev = n->scaleup == HW_SCALEUP_FULL_MESH
                         ? n->scaleup_gbps * (n->devices - 1)
                     : n->scaleup == HW_SCALEUP_PCIE_HOST
                         ? n->scaleup_gbps / n->devices_per_link
                         : n->scaleup_gbps;
    fprintf(out, "scaleup_per_device_gbps = %g\n", per_dev);
    fprintf(out, "scaleup_pair_gbps = %g\n", n->scaleup_gbps);
    if (n->span_nodes > 1)
        fprintf(out, "scaleup_span_nodes = %d\n", n->span_nodes);
    fprintf(out, "scaleout = %s\n", hw_scaleout_names[n->scaleout]);
    if (n->scaleout == HW_SCALEOUT_FAT_TREE) {
        fprintf(out, "nic_per_device_gbps = %g\n", n->nic_gbps);
        fprintf(out, "oversubscription = %g\n", n->oversubscription);
    }
    double power = n->node_power_w > 0 ? n->node_power_w
                                       : n->device.power_w * n->devices;
    if (power > 0)
        fprintf(out, "device_power_w_per_node = %g\n", power);
}

static void print_model(FILE *out, const model_desc *m)
{
    fprintf(out, "model_name = %s\n", m->name);
    fprintf(out, "total_params_b = %.3f\n", model_total_params(m) / 1e9);
    fprintf(out, "active_params_b = %.3f\n", model_active_params(m) / 1e9);
    fprintf(out, "active_compute_params_b = %.3f\n",
            model_active_compute_params(m) / 1e9);
    fprintf(out, "moe_layers = %d\n", model_moe_layers(m));
    fprintf(out, "routed_experts = %d\n", m->routed_experts);
    fprintf(out, "expert_params_m = %.3f\n", model_expert_params(m) / 1e6);
    for (int t = 0; t < MODEL_DTYPE_COUNT; t++)
        fprintf(out, "expert_bytes_%s = %.0f\n", model_dtype_names[t],
                model_expert_bytes(m, model_dtype_bytes((model_dtype)t)));
    fprintf(out, "weight_dtype = %s\n", model_dtype_names[m->weight_dtype]);
    fprintf(out, "weight_bytes_total = %.0f\n",
            model_total_params(m) * model_dtype_bytes(m->weight_dtype));
    fprintf(out, "kv_cache_bytes_per_token = %.0f\n",
            model_kv_bytes_per_token(m));
    fprintf(out, "native_router = %s\n", m->native_router);
}

static void print_scenario(FILE *out, const scenario *s)
{
    fprintf(out, "scenario_name = %s\n", s->name);
    print_model(out, &s->model);
    print_node(out, &s->node);
    fprintf(out, "nodes = %d\n", s->nodes);
    fprintf(out, "devices = %d\n", s->devices);
    fprintf(out, "phase = %s\n", scen_phase_names[s->phase]);
    fprintf(out, "tokens_per_device_per_step = %ld\n",
            scen_tokens_per_device(s));
    fprintf(out, "ep_size = %d\n", s->ep_size);
    fprintf(out, "attn_dp_size = %d\n", s->attn_dp_size);
    fprintf(out, "policies = %d\n", s->n_policies);
    for (int i = 0; i < s->n_policies; i++) {
        const scen_policy *p = &s->policies[i];
        mem_breakdown mb;
        mem_per_device(s, p, &mb);
        const char *n = p->name;
        fprintf(out, "policy.%s.router = %s\n", n,
                scen_router_names[p->router]);
        fprintf(out, "policy.%s.placement = %s\n", n,
                scen_placement_names[p->placement]);
        fprintf(out, "policy.%s.top_k = %d\n", n, p->top_k);
        fprintf(out, "policy.%s.attn_tp = %d\n", n, mb.attn_tp);
        fprintf(out, "policy.%s.experts_per_device = %d\n", n,
                mb.expert_slots_per_device);
        fprintf(out, "policy.%s.expert_weight_bytes_per_device = %.0f\n", n,
                mb.expert_weight_bytes);
        fprintf(out, "policy.%s.weight_bytes_per_device = %.0f\n", n,
                mb.weight_bytes);
        fprintf(out, "policy.%s.kv_cache_bytes_per_device = %.0f\n", n,
                mb.kv_cache_bytes);
        fprintf(out, "policy.%s.activation_bytes_per_device = %.0f\n", n,
                mb.activation_bytes);
        if (s->phase == SCEN_TRAIN) {
            fprintf(out, "policy.%s.gradient_bytes_per_device = %.0f\n", n,
                    mb.gradient_bytes);
            fprintf(out, "policy.%s.optimizer_bytes_per_device = %.0f\n", n,
                    mb.optimizer_bytes);
        }
        fprintf(out, "policy.%s.hbm_needed_bytes = %.0f\n", n,
                mb.needed_bytes);
        fprintf(out, "policy.%s.hbm_available_bytes = %.0f\n", n,
                mb.available_bytes);
        fprintf(out, "policy.%s.fits = %s\n", n, mb.fits ? "yes" : "no");
    }
}

/* The kind of a description file is told by the section it must have. */
int check_file(const char *path, FILE *out, err_t *e)
{
    inidoc *d = NULL;
    int rc = ini_load(path, &d, e);
    if (rc != 0)
        return rc;
    int is_scen = ini_find_section(d, "scenario") >= 0;
    int is_node = ini_find_section(d, "node") >= 0;
    int is_model = ini_find_section(d, "model") >= 0;
    int is_dev = ini_find_section(d, "device") >= 0;
    ini_destroy(d);

    if (is_scen + is_node + is_model + is_dev != 1)
        return err_input(e, path, 0,
                         "cannot tell what kind of file this is; expected "
                         "exactly one of the sections [scenario], [model], "
                         "[node] or [device]");
    if (is_dev) {
        hw_device dev;
        if ((rc = hw_device_load(path, &dev, e)) != 0)
            return rc;
        fprintf(out, "kind = device\n");
        print_device(out, &dev);
    } else if (is_node) {
        hw_node node;
        if ((rc = hw_node_load(path, &node, e)) != 0)
            return rc;
        fprintf(out, "kind = node\n");
        print_node(out, &node);
    } else if (is_model) {
        model_desc m;
        if ((rc = model_load(path, &m, e)) != 0)
            return rc;
        fprintf(out, "kind = model\n");
        print_model(out, &m);
    } else {
        scenario s;
        if ((rc = scen_load(path, &s, e)) != 0)
            return rc;
        fprintf(out, "kind = scenario\n");
        print_scenario(out, &s);
        scen_free(&s);
    }
    return 0;
}
