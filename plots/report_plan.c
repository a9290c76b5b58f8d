/*
 * report_plan: the section of the latest plan in a `moesim plan` database
 * (report_options.plan_db): reading the plan and its feasible candidates,
 * its two plots (plan_throughput, plan_pareto) with their findings, and
 * the section's HTML.
 */
#include "plots/report_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "plots/gnuplot.h"

/* ---- the plan section ----------------------------------------------- */

/* "Atlas 800I A2 x 2 nodes, moge, EP8 attention-DP16": as moesim plan
 * names a candidate (sim/plan_report.c). */
static char *plan_label(const plan_row *w)
{
    char *s = NULL;
    size_t n = 0;
    FILE *f = open_memstream(&s, &n);
    if (!f)
        return NULL;
    fprintf(f, "%s x %d node%s, %s, EP%d attention-DP%d", w->node_name,
            w->nodes, w->nodes == 1 ? "" : "s", w->policy, w->ep_size,
            w->attn_dp_size);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad) {
        free(s);
        return NULL;
    }
    return s;
}

static int plan_is(const rpt *r, const char *target)
{
    return strcmp(r->plan.target, target) == 0;
}

/* "TPOT", "TTFT" or "training time". */
static const char *plan_latency_name(const rpt *r)
{
    return plan_is(r, "decode")    ? "TPOT"
           : plan_is(r, "prefill") ? "TTFT"
                                   : "training time";
}

/* The unit of plan_row.latency and rpt_plan.limit. */
static const char *plan_latency_unit(const rpt *r)
{
    return plan_is(r, "train") ? "days" : "ms";
}

/* A latency in its unit: "34.28 ms" or "12.50 days". */
static const char *plan_latency_text(const rpt *r, char *buf, size_t n,
                                     double x)
{
    snprintf(buf, n, "%.2f %s", x, plan_latency_unit(r));
    return buf;
}
#define LAT(r, x) plan_latency_text((r), (char[NUM_MAX]){0}, NUM_MAX, (x))

/* What rank_by ranks on (sim/PLAN.md: devices, power or price): its name,
 * the plan_candidate column holding the cost, the cost axis's title. */
enum { COST_DEVICES, COST_POWER, COST_PRICE };
static const struct {
    const char *rank_by, *column, *axis;
} plan_costs[] = {
    [COST_DEVICES] = {"devices", "devices_total", "devices, all replicas"},
    [COST_POWER] = {"power", "power_w", "power, all replicas (W)"},
    [COST_PRICE] = {"price", "price_per_hour_usd",
                    "price, all replicas (USD/h)"},
};

/* rank_by's index in plan_costs; devices for any other value. */
static int plan_cost_kind(const rpt *r)
{
    for (int k = COST_POWER; k <= COST_PRICE; k++)
        if (strcmp(r->plan.rank_by, plan_costs[k].rank_by) == 0)
            return k;
    return COST_DEVICES;
}

/* The cost of rank_by as read: "8 devices", "5.6 kW", "12.00 USD/h". */
static const char *plan_cost_text(const rpt *r, char *buf, size_t n,
                                  double cost)
{
    char v[NUM_MAX];
    int kind = plan_cost_kind(r);
    if (isnan(cost))
        snprintf(buf, n, "unknown cost");
    else if (kind == COST_POWER)
        snprintf(buf, n, "%s kW", report_fmt_sig(v, sizeof v, cost * 1e-3, 3));
    else if (kind == COST_PRICE)
        snprintf(buf, n, "%.2f USD/h", cost);
    else
        snprintf(buf, n, "%.0f device%s", cost, cost == 1 ? "" : "s");
    return buf;
}
#define COST(r, x) plan_cost_text((r), (char[NUM_MAX]){0}, NUM_MAX, (x))

/* Opens the plan database read-only in one read transaction and checks
 * that it holds the plan tables: a results database or any other file is
 * ERR_INPUT with what was expected. */
int report_plan_open(rpt *r, err_t *e)
{
    rpt_plan *pl = &r->plan;
    sqlite3_stmt *st = NULL;
    int rc, tables = 0;
    if (sqlite3_open_v2(pl->path, &pl->db, SQLITE_OPEN_READONLY, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(pl->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return report_sql_fail(pl->db, pl->path,
                               "cannot open the plan database", e);
    int prc = sqlite3_prepare_v2(pl->db,
                                 "SELECT count(*) FROM sqlite_master WHERE "
                                 "type = 'table' AND name IN "
                                 "('plan_meta', 'plan_candidate')",
                                 -1, &st, NULL);
    if (prc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        tables = sqlite3_column_int(st, 0);
    else if (sqlite3_errcode(pl->db) != SQLITE_NOTADB) {
        rc = report_sql_fail(pl->db, pl->path, "reading the plan", e);
        goto fail;
    }
    rc = 0;
    if (tables != 2)
        rc = err_set(e, ERR_INPUT,
                     "%s: not a moesim plan database (no plan_meta and "
                     "plan_candidate tables); expected the file moesim plan "
                     "-o wrote",
                     pl->path);
fail:
    (void)sqlite3_finalize(st);
    return rc;
}

/* The latest plan's settings and counts. */
int report_plan_read_meta(rpt *r, err_t *e)
{
    rpt_plan *pl = &r->plan;
    sqlite3_stmt *st = NULL;
    int rc =
        report_sql_prep(pl->db, pl->path,
                        "SELECT plan_id, scenario_name, model_name, target,"
                        " rank_by, coalesce(created_at, ''),"
                        " coalesce(output_tokens_per_s, input_tokens_per_s),"
                        " train_tokens, tpot_s_max, ttft_s_max, train_days_max"
                        " FROM plan_meta ORDER BY plan_id DESC LIMIT 1",
                        &st, e);
    if (rc != 0)
        return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_DONE) {
        rc = err_set(e, ERR_INPUT,
                     "%s: the plan tables hold no plan; expected a database "
                     "that moesim plan has written",
                     pl->path);
        goto fail;
    }
    if (step != SQLITE_ROW) {
        rc = report_sql_fail(pl->db, pl->path, "reading the plan", e);
        goto fail;
    }
    pl->plan_id = sqlite3_column_int64(st, 0);
    pl->name = strdup(report_col_text(st, 1));
    pl->model = strdup(report_col_text(st, 2));
    pl->target = strdup(report_col_text(st, 3));
    pl->rank_by = strdup(report_col_text(st, 4));
    pl->created_at = strdup(report_col_text(st, 5));
    if (!pl->name || !pl->model || !pl->target || !pl->rank_by ||
        !pl->created_at) {
        rc = report_nomem(e);
        goto fail;
    }
    pl->tokens_per_s = report_col_num(st, 6);
    pl->train_tokens = report_col_num(st, 7);
    pl->limit = plan_is(r, "decode")    ? report_col_num(st, 8) * 1e3
                : plan_is(r, "prefill") ? report_col_num(st, 9) * 1e3
                                        : report_col_num(st, 10);
    (void)sqlite3_finalize(st);
    rc = report_sql_prep(pl->db, pl->path,
                         "SELECT count(*), coalesce(sum(feasible), 0),"
                         " coalesce(sum(status = 'invalid'), 0)"
                         " FROM plan_candidate WHERE plan_id = ?",
                         &st, e);
    if (rc != 0)
        return rc;
    (void)sqlite3_bind_int64(st, 1, pl->plan_id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = report_sql_fail(pl->db, pl->path, "reading the candidates", e);
        goto fail;
    }
    pl->candidates = sqlite3_column_int(st, 0);
    pl->feasible = sqlite3_column_int(st, 1);
    pl->invalid = sqlite3_column_int(st, 2);
fail:
    (void)sqlite3_finalize(st);
    return rc;
}

/* The feasible candidates, by rank (then enumeration index). */
int report_plan_read_rows(rpt *r, err_t *e)
{
    rpt_plan *pl = &r->plan;
    sqlite3_stmt *st = NULL;
    const char *cost = plan_costs[plan_cost_kind(r)].column;
    const char *lat = plan_is(r, "decode")    ? "tpot_s * 1e3"
                      : plan_is(r, "prefill") ? "ttft_s * 1e3"
                                              : "train_days";
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT node_name, device_name, policy, nodes, devices, ep_size,"
             " attn_dp_size, coalesce(batch_per_device, 0),"
             " coalesce(replicas, 0), coalesce(devices_total, 0), pareto,"
             " coalesce(rank, 0), tokens_per_s_per_device,"
             " tokens_per_s_total, %s, %s, power_w, price_per_hour_usd"
             " FROM plan_candidate WHERE plan_id = ? AND feasible = 1"
             " ORDER BY rank IS NULL, rank, candidate",
             lat, cost);
    if (pl->feasible <= 0)
        return 0;
    pl->rows = calloc((size_t)pl->feasible, sizeof *pl->rows);
    if (!pl->rows)
        return report_nomem(e);
    int rc = report_sql_prep(pl->db, pl->path, sql, &st, e);
    if (rc != 0)
        return rc;
    (void)sqlite3_bind_int64(st, 1, pl->plan_id);
    int step = SQLITE_DONE;
    while (pl->n_rows < pl->feasible &&
           (step = sqlite3_step(st)) == SQLITE_ROW) {
        plan_row *w = &pl->rows[pl->n_rows++];
        w->node_name = strdup(report_col_text(st, 0));
        w->device_name = strdup(report_col_text(st, 1));
        w->policy = strdup(report_col_text(st, 2));
        if (!w->node_name || !w->device_name || !w->policy) {
            rc = report_nomem(e);
            goto fail;
        }
        w->nodes = sqlite3_column_int(st, 3);
        w->devices = sqlite3_column_int(st, 4);
        w->ep_size = sqlite3_column_int(st, 5);
        w->attn_dp_size = sqlite3_column_int(st, 6);
        w->batch_per_device = sqlite3_column_int(st, 7);
        w->replicas = sqlite3_column_int(st, 8);
        w->devices_total = sqlite3_column_int(st, 9);
        w->pareto = sqlite3_column_int(st, 10);
        w->rank = sqlite3_column_int(st, 11);
        w->tokens_per_s_per_device = report_col_num(st, 12);
        w->tokens_per_s_total = report_col_num(st, 13);
        w->latency = report_col_num(st, 14);
        w->cost = report_col_num(st, 15);
        w->power_w = report_col_num(st, 16);
        w->price_per_hour_usd = report_col_num(st, 17);
        if (!(w->label = plan_label(w))) {
            rc = report_nomem(e);
            goto fail;
        }
    }
    if (pl->n_rows < pl->feasible && step != SQLITE_DONE)
        rc = report_sql_fail(pl->db, pl->path, "reading the candidates", e);
fail:
    (void)sqlite3_finalize(st);
    return rc;
}

/* Data: one row per feasible candidate (devices, tokens/s per device,
 * series), the series being the policies with a feasible candidate in
 * order of their first. Finding: the policy whose best candidate has the
 * most tokens/s per device (ties: fewer devices, then rank) against the
 * runner-up policy's best. */
int report_plan_plot_throughput(rpt *r, FILE *data, FILE *vars, err_t *e)
{
    const rpt_plan *pl = &r->plan;
    char *out = r->finding[PLOT_PLAN_THROUGHPUT];
    int *series = NULL; /* per row: its series, 0-based */
    int *best = NULL;   /* per series: its row with the most tokens/s */
    int n = 0, rc = 0, xmin = 0, xmax = 0;
    double ymax = 0;

    series = calloc((size_t)pl->n_rows + 1, sizeof *series);
    best = calloc((size_t)pl->n_rows + 1, sizeof *best);
    if (!series || !best) {
        rc = report_nomem(e);
        goto fail;
    }
    /* series k is the policy of best[k], its best row so far */
    for (int i = 0; i < pl->n_rows; i++) {
        const plan_row *w = &pl->rows[i];
        int k = 0;
        while (k < n && strcmp(pl->rows[best[k]].policy, w->policy) != 0)
            k++;
        if (k == n)
            best[n++] = i;
        series[i] = k;
        const plan_row *b = &pl->rows[best[k]];
        if (w->tokens_per_s_per_device > b->tokens_per_s_per_device ||
            (w->tokens_per_s_per_device == b->tokens_per_s_per_device &&
             w->devices < b->devices))
            best[k] = i;
        if (i == 0 || w->devices < xmin)
            xmin = w->devices;
        if (w->devices > xmax)
            xmax = w->devices;
        if (w->tokens_per_s_per_device > ymax)
            ymax = w->tokens_per_s_per_device;
    }
    for (int i = 0; i < pl->n_rows; i++) {
        fprintf(data, "%d\t", pl->rows[i].devices);
        gnuplot_number(data, pl->rows[i].tokens_per_s_per_device);
        fprintf(data, "\t%d\n", series[i] + 1);
    }

    int top = -1, next = -1; /* series */
    for (int k = 0; k < n; k++) {
        double y = pl->rows[best[k]].tokens_per_s_per_device;
        if (top < 0 || y > pl->rows[best[top]].tokens_per_s_per_device) {
            next = top;
            top = k;
        } else if (next < 0 ||
                   y > pl->rows[best[next]].tokens_per_s_per_device) {
            next = k;
        }
    }
    if (top < 0) {
        report_add(out,
                   "No candidate is feasible, so there is no throughput to "
                   "compare.");
    } else {
        const plan_row *t = &pl->rows[best[top]];
        report_add(out, "%s reaches %s tokens/s per device at %d devices (%s)",
                   t->policy, SIG(t->tokens_per_s_per_device, 4), t->devices,
                   t->node_name);
        if (next >= 0) {
            const plan_row *u = &pl->rows[best[next]];
            report_add(out, ", %.2fx %s's best (%s at %d devices, %s)",
                       t->tokens_per_s_per_device / u->tokens_per_s_per_device,
                       u->policy, SIG(u->tokens_per_s_per_device, 4),
                       u->devices, u->node_name);
        }
        report_add(out, ".");
    }

    fprintf(vars, "n=%d; ", n);
    for (int k = 0; k < n; k++) {
        char var[32];
        snprintf(var, sizeof var, "policy%d", k + 1);
        gnuplot_string(vars, var, pl->rows[best[k]].policy);
    }
    fprintf(vars, "xmin=%d; xmax=%d; logx=%d; nodata=%d; ymax=", xmin, xmax,
            xmin > 0 && xmax >= 4 * xmin, n == 0);
    gnuplot_number(vars, ymax);
    fputs("; ", vars);
fail:
    free(best);
    free(series);
    return rc;
}

/* Orders front rows (pointers into one array) by latency, then cost,
 * then rank order: the step line's order, total since qsort is not
 * stable. */
static int pareto_cmp(const void *a, const void *b)
{
    const plan_row *x = *(const plan_row *const *)a;
    const plan_row *y = *(const plan_row *const *)b;
    if (x->latency != y->latency)
        return x->latency < y->latency ? -1 : 1;
    if (x->cost != y->cost)
        return x->cost < y->cost ? -1 : 1;
    return (x > y) - (x < y);
}

/* Data: block 0 every feasible candidate with a known cost (latency,
 * cost), block 1 the front (pareto = 1, as moesim plan marked it) by
 * latency. Finding: the size of the front, its cheapest point (ties: the
 * faster) and its fastest (ties: the cheaper). */
int report_plan_plot_pareto(rpt *r, FILE *data, FILE *vars, err_t *e)
{
    const rpt_plan *pl = &r->plan;
    char *out = r->finding[PLOT_PLAN_PARETO];
    const plan_row **front = NULL;
    int n_front = 0, drawn = 0;
    double xmax = isnan(pl->limit) ? 0 : pl->limit, ymax = 0;

    front = calloc((size_t)pl->n_rows + 1, sizeof *front);
    if (!front)
        return report_nomem(e);
    for (int i = 0; i < pl->n_rows; i++) {
        const plan_row *w = &pl->rows[i];
        if (isnan(w->cost) || isnan(w->latency))
            continue;
        gnuplot_number(data, w->latency);
        fputc('\t', data);
        gnuplot_number(data, w->cost);
        fputc('\n', data);
        drawn++;
        xmax = w->latency > xmax ? w->latency : xmax;
        ymax = w->cost > ymax ? w->cost : ymax;
        if (w->pareto)
            front[n_front++] = w;
    }
    qsort(front, (size_t)n_front, sizeof *front, pareto_cmp);
    fputs("\n\n", data);
    for (int k = 0; k < n_front; k++) {
        gnuplot_number(data, front[k]->latency);
        fputc('\t', data);
        gnuplot_number(data, front[k]->cost);
        fputc('\n', data);
    }
    if (n_front == 0) /* an empty block would end the file early */
        fputs("NaN\tNaN\n", data);

    int kind = plan_cost_kind(r);
    const char *axis = plan_costs[kind].rank_by;
    if (pl->n_rows == 0) {
        report_add(out, "No candidate is feasible, so there is no front.");
    } else if (n_front == 0) {
        report_add(out,
                   "No feasible candidate has a known %s (the hardware files "
                   "do not say), so there is no front.",
                   axis);
    } else {
        const plan_row *fast = front[0], *cheap = fast;
        for (int k = 1; k < n_front; k++) {
            const plan_row *w = front[k];
            if (w->cost < cheap->cost ||
                (w->cost == cheap->cost && w->latency < cheap->latency))
                cheap = w;
        }
        report_add(out, "%d candidate%s on the Pareto front of %s against %s",
                   n_front, n_front == 1 ? " is" : "s are", axis,
                   plan_latency_name(r));
        if (cheap == fast)
            report_add(out,
                       ": %s, both the cheapest and the fastest, with %s at "
                       "%s",
                       cheap->label, COST(r, cheap->cost),
                       LAT(r, cheap->latency));
        else
            report_add(out,
                       "; the cheapest meeting the limit is %s, with %s at "
                       "%s; the fastest, %s, takes %s at %s",
                       cheap->label, COST(r, cheap->cost),
                       LAT(r, cheap->latency), fast->label,
                       COST(r, fast->cost), LAT(r, fast->latency));
        if (!isnan(pl->limit))
            report_add(out, " (limit %s)", LAT(r, pl->limit));
        report_add(out, ".");
    }

    char label[64];
    snprintf(label, sizeof label, "%s (%s)", plan_latency_name(r),
             plan_latency_unit(r));
    gnuplot_string(vars, "xlabel", label);
    gnuplot_string(vars, "ylabel", plan_costs[kind].axis);
    fprintf(vars, "nodata=%d; limit=", drawn == 0);
    gnuplot_number(vars, pl->limit);
    fputs("; xmax=", vars);
    gnuplot_number(vars, xmax);
    fputs("; ymax=", vars);
    gnuplot_number(vars, ymax);
    fputs("; ", vars);
    free(front);
    return 0;
}

/* ---- the plan section's HTML ---------------------------------------- */

/* "35% (27070 vs 20000 tokens/s)": how far x beats the bound, as moesim
 * plan prints it (above a minimum, below a limit). */
static void margin_row(FILE *f, const char *key, double x, double bound,
                       int above, const char *unit, int decimals)
{
    char v[160];
    double m = above ? (x - bound) / bound : (bound - x) / bound;
    snprintf(v, sizeof v, "%.0f%% (%.*f vs %s %.*f %s)", 100 * m, decimals,
             x, above ? "target" : "limit", decimals, bound, unit);
    report_html_kv_row(f, key, v);
}

/* The plan section: settings, counts and the recommendation, then the two
 * plots; number: its place among the page's sections. */
void report_plan_write(const rpt *r, FILE *f, int number)
{
    const rpt_plan *pl = &r->plan;
    char v[512];
    fprintf(f, "<section id=\"plan\">\n<h2>%d. Capacity plan</h2>\n<p>",
            number);
    snprintf(v, sizeof v, "Plan %lld of ", pl->plan_id);
    report_html_text(f, v);
    fputs("<code>", f);
    report_html_text(f, pl->path);
    fputs("</code>: ", f);
    report_html_text(f, pl->name);
    fputs(" (", f);
    report_html_text(f, pl->model);
    fputs("), written by moesim plan", f);
    if (*pl->created_at) {
        fputs(" at ", f);
        report_html_text(f, pl->created_at);
    }
    fputs(". Feasible candidates are ranked by ", f);
    report_html_text(f, pl->rank_by);
    fputs(", ties broken as sim/PLAN.md describes (which also has the "
          "search and the sizing).</p>\n<table class=\"kv\">\n",
          f);

    if (plan_is(r, "train"))
        snprintf(v, sizeof v, "train: %.4g tokens", pl->train_tokens);
    else
        snprintf(v, sizeof v, "%s: %.0f %s tokens/s, the whole deployment",
                 pl->target, pl->tokens_per_s,
                 plan_is(r, "decode") ? "output" : "input");
    report_html_kv_row(f, "target", v);
    snprintf(v, sizeof v, "%s \xe2\x89\xa4 %s", plan_latency_name(r),
             LAT(r, pl->limit));
    report_html_kv_row(f, "limit", v);
    snprintf(v, sizeof v, "%d", pl->feasible);
    report_html_kv_row(f, "feasible candidates", v);
    snprintf(v, sizeof v, "%d", pl->candidates - pl->feasible - pl->invalid);
    report_html_kv_row(f, "infeasible candidates (simulated)", v);
    snprintf(v, sizeof v, "%d (break a scenario rule, not simulated)",
             pl->invalid);
    report_html_kv_row(f, "invalid layouts", v);

    const plan_row *w = pl->n_rows > 0 && pl->rows[0].rank == 1
                            ? &pl->rows[0]
                            : NULL;
    if (!w) {
        report_html_kv_row(f, "recommendation",
                           "none: no candidate meets the target");
    } else {
        report_html_kv_row(f, "recommendation", w->label);
        report_html_kv_row(f, "node", w->node_name);
        snprintf(v, sizeof v, "%d per instance", w->nodes);
        report_html_kv_row(f, "nodes", v);
        report_html_kv_row(f, "policy", w->policy);
        snprintf(v, sizeof v, "EP%d, attention-DP%d", w->ep_size,
                 w->attn_dp_size);
        report_html_kv_row(f, "layout", v);
        snprintf(v, sizeof v, "%d sequences per device", w->batch_per_device);
        report_html_kv_row(f, "batch", v);
        if (plan_is(r, "train"))
            snprintf(v, sizeof v, "%d x %s", w->devices_total,
                     w->device_name);
        else
            snprintf(v, sizeof v, "%d x %s (%d replica%s of %d)",
                     w->devices_total, w->device_name, w->replicas,
                     w->replicas == 1 ? "" : "s", w->devices);
        report_html_kv_row(f, "devices", v);
        if (isnan(w->power_w))
            report_html_kv_row(f, "power",
                               "unknown (the hardware files do not say)");
        else {
            snprintf(v, sizeof v, "%s kW", SIG(w->power_w * 1e-3, 3));
            report_html_kv_row(f, "power", v);
        }
        if (!isnan(w->price_per_hour_usd)) {
            snprintf(v, sizeof v, "%.2f USD/h", w->price_per_hour_usd);
            report_html_kv_row(f, "price", v);
        }
        if (!plan_is(r, "train"))
            margin_row(f, "throughput margin", w->tokens_per_s_total,
                       pl->tokens_per_s, 1, "tokens/s", 0);
        snprintf(v, sizeof v, "%s margin", plan_latency_name(r));
        margin_row(f, v, w->latency, pl->limit, 0, plan_latency_unit(r), 2);
    }
    fputs("</table>\n", f);
    for (int p = PLOT_COUNT; p < PLOT_ALL; p++) {
        fprintf(f, "<h3 id=\"%s\">", report_plot_info[p].name);
        report_html_text(f, report_plot_info[p].heading);
        fputs("</h3>\n", f);
        report_html_figure(r, f, p);
    }
    fputs("</section>\n", f);
}
