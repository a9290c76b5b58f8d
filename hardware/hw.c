#include "hardware/hw.h"

#include <gsl/gsl_errno.h>
#include <gsl/gsl_interp.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/ini.h"

const char *const hw_dtype_names[HW_DTYPE_COUNT] = {"bf16", "fp16", "fp8",
                                                   "int8"};
const char *const hw_scaleup_names[HW_SCALEUP_COUNT] = {"full-mesh", "switch",
                                                       "pcie-host"};
const char *const hw_scaleout_names[HW_SCALEOUT_COUNT] = {"none",
                                                         "fat-tree"};
const char *const hw_peak_keys[HW_DTYPE_COUNT] = {
    "bf16_tflops", "fp16_tflops", "fp8_tflops", "int8_tops"};

const char *hw_dtype_name(hw_dtype t) { return hw_dtype_names[t]; }

double hw_dtype_bytes(hw_dtype t)
{
    return (t == HW_BF16 || t == HW_FP16) ? 2.0 : 1.0;
}

int hw_dtype_parse(const char *name)
{
    for (int i = 0; i < HW_DTYPE_COUNT; i++)
        if (strcmp(name, hw_dtype_names[i]) == 0)
            return i;
    return -1;
}

static void copy_name(char *dst, size_t n, const char *src)
{
    snprintf(dst, n, "%s", src);
}

/* Memory is given in GB (1e9) or GiB (2^30), exactly one of the two, so a
 * file can quote the vendor's own unit. */
static int get_memory(inidoc *d, int sec, double *bytes, err_t *e)
{
    double gb = 0, gib = 0;
    int rc_gb = ini_get_double(d, sec, "memory_gb", 0, 0.001, 1e6, &gb, e);
    if (rc_gb < 0)
        return rc_gb;
    int rc_gib = ini_get_double(d, sec, "memory_gib", 0, 0.001, 1e6, &gib, e);
    if (rc_gib < 0)
        return rc_gib;
    if (rc_gb == 0 && rc_gib == 0)
        return ini_key_error(d, sec, "memory_gib", e,
                             "both memory_gb and memory_gib are set; "
                             "expected exactly one");
    if (rc_gb == 1 && rc_gib == 1)
        return err_input(e, ini_path(d), ini_section_line(d, (size_t)sec),
                         "[device] is missing required key 'memory_gb' "
                         "(or 'memory_gib')");
    *bytes = rc_gb == 0 ? gb * 1e9 : gib * 1073741824.0;
    return 0;
}

static int load_device_section(inidoc *d, hw_device *out, err_t *e)
{
    int rc;
    int sec = ini_find_section(d, "device");
    if (sec < 0)
        return err_input(e, ini_path(d), 0,
                         "missing section [device]; expected a device "
                         "description");
    const char *name = NULL;
    if ((rc = ini_get_str(d, sec, "name", 1, &name, e)) != 0)
        return rc;
    copy_name(out->name, sizeof out->name, name);

    int any = 0;
    for (int t = 0; t < HW_DTYPE_COUNT; t++) {
        out->peak_tflops[t] = 0;
        rc = ini_get_double(d, sec, hw_peak_keys[t], 0, 0.001, 1e6,
                            &out->peak_tflops[t], e);
        if (rc < 0)
            return rc;
        any |= rc == 0;
    }
    if (!any)
        return err_input(e, ini_path(d), ini_section_line(d, (size_t)sec),
                         "[device] gives no peak rate; expected at least one "
                         "of bf16_tflops, fp16_tflops, fp8_tflops, int8_tops");
    if ((rc = get_memory(d, sec, &out->memory_bytes, e)) != 0)
        return rc;
    if ((rc = ini_get_double(d, sec, "memory_gbps", 1, 1, 1e6,
                             &out->memory_gbps, e)) != 0)
        return rc;
    out->compute_efficiency = 0.7;
    out->memory_efficiency = 0.6;
    if ((rc = ini_get_double(d, sec, "compute_efficiency", 0, 0.01, 1.0,
                             &out->compute_efficiency, e)) < 0)
        return rc;
    if ((rc = ini_get_double(d, sec, "memory_efficiency", 0, 0.01, 1.0,
                             &out->memory_efficiency, e)) < 0)
        return rc;
    out->matmul_overhead_us = 5;
    out->vector_overhead_us = 2;
    out->comm_overhead_us = 10;
    if ((rc = ini_get_double(d, sec, "matmul_overhead_us", 0, 0, 1e4,
                             &out->matmul_overhead_us, e)) < 0 ||
        (rc = ini_get_double(d, sec, "vector_overhead_us", 0, 0, 1e4,
                             &out->vector_overhead_us, e)) < 0 ||
        (rc = ini_get_double(d, sec, "comm_overhead_us", 0, 0, 1e4,
                             &out->comm_overhead_us, e)) < 0)
        return rc;
    out->power_w = 0;
    out->price_per_hour_usd = 0;
    if ((rc = ini_get_double(d, sec, "power_w", 0, 1, 1e5, &out->power_w,
                             e)) < 0 ||
        (rc = ini_get_double(d, sec, "price_per_hour_usd", 0, 0, 1e4,
                             &out->price_per_hour_usd, e)) < 0)
        return rc;

    int nt = 0, nf = 0;
    int rt = ini_get_double_list(d, sec, "matmul_eff_tokens", 0, 1, 1e9,
                                 out->eff_tokens, HW_EFF_POINTS_MAX, &nt, e);
    if (rt < 0)
        return rt;
    int rf = ini_get_double_list(d, sec, "matmul_eff_factor", 0, 0.001, 1.0,
                                 out->eff_factor, HW_EFF_POINTS_MAX, &nf, e);
    if (rf < 0)
        return rf;
    if (rt != rf)
        return ini_key_error(d, sec, rt == 0 ? "matmul_eff_tokens"
                                             : "matmul_eff_factor",
                             e, "matmul_eff_tokens and matmul_eff_factor go "
                                "together; expected both or neither");
    out->n_eff_points = 0;
    if (rt == 0) {
        if (nt != nf)
            return ini_key_error(d, sec, "matmul_eff_factor", e,
                                 "%d factors for %d token counts; expected "
                                 "one factor per token count",
                                 nf, nt);
        if (nt < 2)
            return ini_key_error(d, sec, "matmul_eff_tokens", e,
                                 "one point; expected at least two to "
                                 "interpolate between");
        for (int i = 1; i < nt; i++)
            if (out->eff_tokens[i] <= out->eff_tokens[i - 1])
                return ini_key_error(d, sec, "matmul_eff_tokens", e,
                                     "token counts not increasing at %g; "
                                     "expected strictly increasing",
                                     out->eff_tokens[i]);
        out->n_eff_points = nt;
    }
    return 0;
}

int hw_device_load(const char *path, hw_device *out, err_t *e)
{
    inidoc *d = NULL;
    memset(out, 0, sizeof *out);
    int rc = ini_load(path, &d, e);
    if (rc != 0)
        return rc;
    copy_name(out->path, sizeof out->path, path);
    rc = load_device_section(d, out, e);
    if (rc == 0)
        rc = ini_check_unused(d, "[device]", e);
    ini_destroy(d);
    return rc;
}

int hw_node_load(const char *path, hw_node *out, err_t *e)
{
    inidoc *d = NULL;
    memset(out, 0, sizeof *out);
    int rc = ini_load(path, &d, e);
    if (rc != 0)
        return rc;
    copy_name(out->path, sizeof out->path, path);
    int sec = ini_find_section(d, "node");
    if (sec < 0) {
        rc = err_input(e, path, 0, "missing section [node]; expected a node "
                                   "description");
        goto done;
    }
    const char *name = NULL, *dev = NULL;
    if ((rc = ini_get_str(d, sec, "name", 1, &name, e)) != 0 ||
        (rc = ini_get_str(d, sec, "device", 1, &dev, e)) != 0 ||
        (rc = ini_get_int(d, sec, "devices", 1, 1, 1024, &out->devices, e)) !=
            0)
        goto done;
    copy_name(out->name, sizeof out->name, name);
    if ((rc = ini_get_double(d, sec, "power_w", 0, 1, 1e6, &out->node_power_w,
                             e)) < 0 ||
        (rc = ini_get_double(d, sec, "price_per_hour_usd", 0, 0, 1e5,
                             &out->node_price_per_hour_usd, e)) < 0)
        goto done;

    int up = ini_find_section(d, "scaleup");
    if (up < 0) {
        rc = err_input(e, path, 0, "missing section [scaleup]; expected how "
                                   "devices inside a node are joined");
        goto done;
    }
    int kind = 0;
    if ((rc = ini_get_enum(d, up, "kind", 1, hw_scaleup_names,
                           HW_SCALEUP_COUNT, &kind, e)) != 0 ||
        (rc = ini_get_double(d, up, "link_gbps", 1, 0.001, 1e5,
                             &out->scaleup_gbps, e)) != 0 ||
        (rc = ini_get_double(d, up, "latency_us", 1, 0, 1e4,
                             &out->scaleup_latency_us, e)) != 0)
        goto done;
    out->scaleup = (hw_scaleup_kind)kind;
    out->span_nodes = 1;
    out->devices_per_link = 1;
    if ((rc = ini_get_int(d, up, "span_nodes", 0, 1, 4096, &out->span_nodes,
                          e)) < 0 ||
        (rc = ini_get_int(d, up, "devices_per_link", 0, 1, 64,
                          &out->devices_per_link, e)) < 0)
        goto done;
    if (out->span_nodes > 1 && out->scaleup != HW_SCALEUP_SWITCH) {
        rc = ini_key_error(d, up, "span_nodes", e,
                           "only a switch fabric can span nodes; expected 1 "
                           "or kind = switch");
        goto done;
    }
    if (out->devices_per_link > 1 && out->scaleup != HW_SCALEUP_PCIE_HOST) {
        rc = ini_key_error(d, up, "devices_per_link", e,
                           "only pcie-host links are shared; expected 1 or "
                           "kind = pcie-host");
        goto done;
    }
    if (out->devices % out->devices_per_link != 0) {
        rc = ini_key_error(d, up, "devices_per_link", e,
                           "%d devices per node do not split into links of "
                           "%d; expected a divisor of devices",
                           out->devices, out->devices_per_link);
        goto done;
    }

    out->scaleout = HW_SCALEOUT_NONE;
    out->oversubscription = 1;
    int so = ini_find_section(d, "scaleout");
    if (so >= 0) {
        if ((rc = ini_get_enum(d, so, "kind", 1, hw_scaleout_names,
                               HW_SCALEOUT_COUNT, &kind, e)) != 0)
            goto done;
        out->scaleout = (hw_scaleout_kind)kind;
        if (out->scaleout == HW_SCALEOUT_FAT_TREE) {
            out->devices_per_leaf = 32;
            if ((rc = ini_get_double(d, so, "nic_gbps", 1, 0.001, 1e5,
                                     &out->nic_gbps, e)) != 0 ||
                (rc = ini_get_double(d, so, "latency_us", 1, 0, 1e4,
                                     &out->scaleout_latency_us, e)) != 0 ||
                (rc = ini_get_double(d, so, "oversubscription", 0, 1, 64,
                                     &out->oversubscription, e)) < 0 ||
                (rc = ini_get_int(d, so, "devices_per_leaf", 0, 1, 65536,
                                  &out->devices_per_leaf, e)) < 0)
                goto done;
        }
    }
    if ((rc = ini_check_unused(d, "[node], [scaleup], [scaleout]", e)) != 0)
        goto done;

    char dev_path[HW_PATH_MAX];
    if (ini_resolve_path(path, dev, dev_path, sizeof dev_path) != 0) {
        rc = ini_key_error(d, sec, "device", e, "path too long");
        goto done;
    }
    rc = hw_device_load(dev_path, &out->device, e);
    if (rc != 0)
        ini_ref_error(d, sec, "device", e);
done:
    ini_destroy(d);
    return rc;
}

double hw_peak_flops(const hw_device *d, hw_dtype t)
{
    return d->peak_tflops[t] * 1e12;
}

double hw_memory_bytes_per_s(const hw_device *d)
{
    return d->memory_gbps * 1e9 * d->memory_efficiency;
}

double hw_ridge_flop_per_byte(const hw_device *d, hw_dtype t)
{
    return hw_peak_flops(d, t) * d->compute_efficiency /
           hw_memory_bytes_per_s(d);
}

double hw_matmul_eff_factor(const hw_device *d, double tokens)
{
    int n = d->n_eff_points;
    if (n < 2)
        return 1.0;
    if (tokens <= d->eff_tokens[0])
        return d->eff_factor[0];
    if (tokens >= d->eff_tokens[n - 1])
        return d->eff_factor[n - 1];
    /* Linear interpolation between the file's points through GSL; the
     * points are validated strictly increasing at load, so the only error
     * GSL could raise (non-monotone x) cannot happen here. */
    double v = d->eff_factor[n - 1];
    gsl_interp *it = gsl_interp_alloc(gsl_interp_linear, (size_t)n);
    if (it && gsl_interp_init(it, d->eff_tokens, d->eff_factor, (size_t)n) ==
                  GSL_SUCCESS)
        v = gsl_interp_eval(it, d->eff_tokens, d->eff_factor, tokens, NULL);
    gsl_interp_free(it);
    return v;
}
