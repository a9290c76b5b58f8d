/*
 * plan_report: the printed plan (plan_print_report): the target, the ranked
 * table, the infeasible candidates with why, and the recommendation.
 */
#include "sim/plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sim/plan_impl.h"

/* ------------------------------------------------------------------ */
/* The report                                                          */
/* ------------------------------------------------------------------ */

static const char *lat_name(const planspec *spec)
{
    return spec->target == PLANSPEC_DECODE    ? "TPOT"
           : spec->target == PLANSPEC_PREFILL ? "TTFT"
                                              : "days";
}

/* "12.3" or "-" for an unknown figure (0). */
static const char *fmt_known(char *buf, size_t n, double v, double scale,
                             int decimals)
{
    if (!(v > 0))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.*f", decimals, v * scale);
    return buf;
}

static void print_target(FILE *out, const scenario *base,
                         const planspec *spec)
{
    switch (spec->target) {
    case PLANSPEC_DECODE:
        fprintf(out,
                "plan: %s decode, context %d: %.0f output tokens/s at TPOT "
                "<= %.2f ms\n",
                base->model.name, base->context_len,
                spec->output_tokens_per_s, spec->tpot_s_max * 1e3);
        break;
    case PLANSPEC_PREFILL:
        fprintf(out,
                "plan: %s prefill, %d-token prompts: %.0f input tokens/s at "
                "TTFT <= %.2f ms\n",
                base->model.name, base->seq_len, spec->input_tokens_per_s,
                spec->ttft_s_max * 1e3);
        break;
    default:
        fprintf(out,
                "plan: %s training, %d-token sequences: %.4g tokens within "
                "%.2f days\n",
                base->model.name, base->seq_len, spec->train_tokens,
                spec->train_days_max);
        break;
    }
}

static int name_width(const planspec *spec)
{
    int w = 4;
    for (int f = 0; f < spec->n_node_files; f++) {
        int l = (int)strlen(spec->node_files[f].name);
        if (l > w)
            w = l;
    }
    return w;
}

static int policy_width(const scenario *base)
{
    int w = 6;
    for (int i = 0; i < base->n_policies; i++) {
        int l = (int)strlen(base->policies[i].name);
        if (l > w)
            w = l;
    }
    return w;
}

static void print_ranked(FILE *out, const scenario *base,
                         const planspec *spec, const plan_candidate *c,
                         const int *order, int m, int rows)
{
    int nw = name_width(spec), pw = policy_width(base);
    int train = spec->target == PLANSPEC_TRAIN;
    if (train)
        fprintf(out,
                "%4s  %-*s %5s  %-*s %4s %4s %6s %9s %12s %6s %8s %7s "
                "%8s %8s %10s %-9s %s\n",
                "rank", nw, "node", "nodes", pw, "policy", "EP", "DP",
                "batch", "step s", "tokens/s", "MFU %", "days", "devices",
                "power kW", "USD/h", "HBM GB/dev", "bound", "P");
    else
        fprintf(out,
                "%4s  %-*s %5s  %-*s %4s %4s %6s %9s %12s %8s %7s %8s %8s "
                "%10s %-9s %s\n",
                "rank", nw, "node", "nodes", pw, "policy", "EP", "DP",
                "batch",
                spec->target == PLANSPEC_DECODE ? "TPOT ms" : "TTFT ms",
                "tok/s/inst", "replicas", "devices", "power kW", "USD/h",
                "HBM GB/dev", "bound", "P");
    for (int r = 0; r < m && (rows == 0 || r < rows); r++) {
        const plan_candidate *x = &c[order[r]];
        char pw_buf[32], pr_buf[32];
        fmt_known(pw_buf, sizeof pw_buf, x->power_w, 1e-3, 1);
        fmt_known(pr_buf, sizeof pr_buf, x->price_per_hour_usd, 1, 2);
        if (train)
            fprintf(out,
                    "%4d  %-*s %5d  %-*s %4d %4d %6d %9.3f %12.0f %6.1f "
                    "%8.2f %7d %8s %8s %10.1f %-9s %s\n",
                    x->rank, nw, spec->node_files[x->node_file].name,
                    x->nodes, pw, base->policies[x->policy].name, x->ep_size,
                    x->attn_dp_size, x->batch_per_device, x->step_s,
                    x->tokens_per_s, x->mfu * 100, x->train_days,
                    x->devices_total, pw_buf, pr_buf,
                    x->hbm_needed_bytes / 1e9, plan_limit_names[x->limited_by],
                    x->pareto ? "*" : "");
        else
            fprintf(out,
                    "%4d  %-*s %5d  %-*s %4d %4d %6d %9.2f %12.0f %8d %7d "
                    "%8s %8s %10.1f %-9s %s\n",
                    x->rank, nw, spec->node_files[x->node_file].name,
                    x->nodes, pw, base->policies[x->policy].name, x->ep_size,
                    x->attn_dp_size, x->batch_per_device,
                    plan_latency(spec, x) * 1e3, x->tokens_per_s, x->replicas,
                    x->devices_total, pw_buf, pr_buf,
                    x->hbm_needed_bytes / 1e9, plan_limit_names[x->limited_by],
                    x->pareto ? "*" : "");
    }
    if (rows > 0 && m > rows)
        fprintf(out, "  ... %d more feasible candidates\n", m - rows);
}

static void print_infeasible(FILE *out, const scenario *base,
                             const planspec *spec, const plan_candidate *c,
                             int n, int rows)
{
    int nw = name_width(spec), pw = policy_width(base);
    int shown = 0, hidden = 0, invalid = 0, first_invalid = -1;
    for (int i = 0; i < n; i++) {
        const plan_candidate *x = &c[i];
        if (x->status == PLAN_FEASIBLE)
            continue;
        if (x->status == PLAN_INVALID) {
            if (first_invalid < 0)
                first_invalid = i;
            invalid++;
            continue;
        }
        if (rows > 0 && shown == rows) {
            hidden++;
            continue;
        }
        if (shown++ == 0)
            fprintf(out, "\ninfeasible:\n%-*s %5s  %-*s %4s %4s  %-11s %s\n",
                    nw, "node", "nodes", pw, "policy", "EP", "DP", "status",
                    "why");
        fprintf(out, "%-*s %5d  %-*s %4d %4d  %-11s %s\n", nw,
                spec->node_files[x->node_file].name, x->nodes, pw,
                base->policies[x->policy].name, x->ep_size, x->attn_dp_size,
                plan_status_names[x->status], x->reason);
    }
    if (hidden > 0)
        fprintf(out, "  ... %d more infeasible candidates\n", hidden);
    if (invalid > 0)
        fprintf(out,
                "\n%d layouts break a scenario rule and were not simulated "
                "(e.g. %s x %d, %s, EP%d DP%d: %s)\n",
                invalid, spec->node_files[c[first_invalid].node_file].name,
                c[first_invalid].nodes,
                base->policies[c[first_invalid].policy].name,
                c[first_invalid].ep_size, c[first_invalid].attn_dp_size,
                c[first_invalid].reason);
}

static void describe(FILE *out, const scenario *base, const planspec *spec,
                     const plan_candidate *x)
{
    const hw_node *nd = &spec->node_files[x->node_file];
    fprintf(out, "%s x %d node%s, %s, EP%d attention-DP%d", nd->name,
            x->nodes, x->nodes == 1 ? "" : "s",
            base->policies[x->policy].name, x->ep_size, x->attn_dp_size);
}

static void print_recommendation(FILE *out, const scenario *base,
                                 const planspec *spec,
                                 const plan_candidate *c, const int *order,
                                 int m)
{
    if (m == 0) {
        fprintf(out, "\nrecommendation: none; no candidate meets the "
                     "target (see why above)\n");
        return;
    }
    const plan_candidate *x = &c[order[0]];
    const hw_node *nd = &spec->node_files[x->node_file];
    char pw_buf[32];
    fprintf(out, "\nrecommendation: ");
    describe(out, base, spec, x);
    fprintf(out, ", %d sequences per device: %d x %s", x->batch_per_device,
            x->devices_total, nd->device.name);
    if (spec->target != PLANSPEC_TRAIN)
        fprintf(out, " (%d replica%s of %d)", x->replicas,
                x->replicas == 1 ? "" : "s", x->devices);
    if (x->power_w > 0)
        fprintf(out, ", %s kW",
                fmt_known(pw_buf, sizeof pw_buf, x->power_w, 1e-3, 1));
    if (x->price_per_hour_usd > 0)
        fprintf(out, ", %.2f USD/h", x->price_per_hour_usd);
    if (spec->target == PLANSPEC_TRAIN) {
        fprintf(out,
                "; %.4g tokens in %.2f days (limit %.2f days, margin %.0f%%) "
                "at MFU %.1f%%",
                spec->train_tokens, x->train_days, spec->train_days_max,
                100 * (spec->train_days_max - x->train_days) /
                    spec->train_days_max,
                x->mfu * 100);
    } else {
        double target = planspec_tokens_per_s_target(spec);
        double limit = planspec_latency_limit_s(spec);
        double lat = plan_latency(spec, x);
        fprintf(out,
                "; meets %.0f tokens/s with %.0f (margin %.0f%%) at %s "
                "%.2f ms (limit %.2f ms, margin %.0f%%)",
                target, x->tokens_per_s_total,
                100 * (x->tokens_per_s_total - target) / target,
                lat_name(spec), lat * 1e3, limit * 1e3,
                100 * (limit - lat) / limit);
    }
    fprintf(out, "\n");
    if (m > 1) {
        const plan_candidate *y = &c[order[1]];
        double cx = plan_cost(spec, x), cy = plan_cost(spec, y);
        fprintf(out, "next best: ");
        describe(out, base, spec, y);
        fprintf(out, ": %d devices", y->devices_total);
        if (y->power_w > 0)
            fprintf(out, ", %s kW",
                    fmt_known(pw_buf, sizeof pw_buf, y->power_w, 1e-3, 1));
        if (cx > 0 && cy > 0)
            fprintf(out, " (%.2fx the %s)", cy / cx,
                    planspec_rank_names[spec->rank_by]);
        if (spec->target == PLANSPEC_TRAIN)
            fprintf(out, ", %.2f days\n", y->train_days);
        else
            fprintf(out, ", %s %.2f ms\n", lat_name(spec),
                    plan_latency(spec, y) * 1e3);
    }
}

void plan_print_report(FILE *out, const scenario *base,
                       const planspec *spec, const plan_result *r,
                       int rows)
{
    int *order = malloc((size_t)(r->n_feasible > 0 ? r->n_feasible : 1) *
                        sizeof *order);
    MOESIM_ASSERT(order != NULL);
    for (int i = 0; i < r->n; i++)
        if (r->cands[i].rank > 0)
            order[r->cands[i].rank - 1] = i;
    print_target(out, base, spec);
    fprintf(out,
            "candidates: %d simulated (%d invalid layouts), %d feasible; "
            "%d worker%s, %.1f s\n",
            r->n_evaluated, r->n - r->n_evaluated, r->n_feasible, r->workers,
            r->workers == 1 ? "" : "s", r->wall_s);
    fprintf(out, "ranked by %s", planspec_rank_names[spec->rank_by]);
    for (int k = 0; k < PLANSPEC_RANK_COUNT; k++)
        if (k != (int)spec->rank_by)
            fprintf(out, ", then %s", planspec_rank_names[k]);
    fprintf(out,
            ", then %s; P: * = on the Pareto front of %s against %s\n\n",
            lat_name(spec), planspec_rank_names[spec->rank_by],
            lat_name(spec));
    if (r->n_feasible > 0)
        print_ranked(out, base, spec, r->cands, order, r->n_feasible, rows);
    else
        fprintf(out, "no feasible candidate\n");
    print_infeasible(out, base, spec, r->cands, r->n, rows);
    print_recommendation(out, base, spec, r->cands, order, r->n_feasible);
    free(order);
}
