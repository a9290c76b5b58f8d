/*
 * report_plots: the five plots of a results database (plots/report.h
 * lists them): each writes its data file and its gnuplot script's
 * variables (report.c draws it) and computes its one-line finding from
 * the data it draws.
 */
#include "plots/report_impl.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "plots/gnuplot.h"
#include "results/compare.h"

/* A layer or device index beyond this is a corrupt database, not a
 * model: it would only make the report allocate without bound. */
#define INDEX_MAX 1000000

/* The gnuplot variables naming the policies drawn: n, policy1 .. policyN. */
static void gp_policies(const rpt *r, FILE *v)
{
    fprintf(v, "n=%d; ", r->n_active);
    for (int i = 0; i < r->n_active; i++) {
        char var[32];
        snprintf(var, sizeof var, "policy%d", i + 1);
        gnuplot_string(v, var, report_active_name(r, i));
    }
}

/* Active policy a's mean of m; NaN for a < 0 (no policy). */
static double active_mean(const rpt *r, int a, compare_metric m)
{
    return a < 0 ? NAN : report_active_stat(r, a, m)->mean;
}

/* The active policy with the highest (sign > 0) or lowest (sign < 0) mean
 * of m, the first of equals, leaving out skip (-1: none) and policies
 * without a mean; -1 when no policy is left. */
static int active_extreme(const rpt *r, compare_metric m, int sign, int skip)
{
    int pick = -1;
    for (int a = 0; a < r->n_active; a++) {
        double x = active_mean(r, a, m), y = active_mean(r, pick, m);
        if (a != skip && !isnan(x) &&
            (pick < 0 || (sign > 0 ? x > y : x < y)))
            pick = a;
    }
    return pick;
}

/* The baseline's index among the active policies; -1 when it has no
 * finished run. */
static int active_baseline(const rpt *r)
{
    return report_active_index(
        r, compare_policy_name(r->cmp, compare_baseline(r->cmp)));
}

/* ---- plot 1: Imbalance Score per layer ------------------------------ */

/* Data: one row per MoE layer, one column per policy: mean IS over steps
 * and seeds. Finding: the lowest and highest mean IS (compare's, the
 * table's figures) and the worst (policy, layer) of the plotted means. */
int report_plot_imbalance(rpt *r, FILE *data, FILE *vars, err_t *e)
{
    sqlite3_stmt *st = NULL;
    double *v = NULL;
    int rc, lo = 0, hi = -1;
    char *out = r->finding[PLOT_IMBALANCE];

    rc = report_prep(r,
                     "SELECT min(l.layer), max(l.layer) FROM layer_step l"
                     " JOIN run r USING (run_id) WHERE r.status = 'done'"
                     " AND l.moe = 1 AND l.imbalance_score IS NOT NULL",
                     &st, e);
    if (rc != 0)
        goto fail;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = report_db_fail(r, e, "reading the layers");
        goto fail;
    }
    if (sqlite3_column_type(st, 0) != SQLITE_NULL) {
        lo = sqlite3_column_int(st, 0);
        hi = sqlite3_column_int(st, 1);
    }
    (void)sqlite3_finalize(st);
    st = NULL;
    if (lo < 0 || hi - lo >= INDEX_MAX) {
        rc = err_set(e, ERR_INPUT, "%s: layers %d..%d out of range",
                     r->db_path, lo, hi);
        goto fail;
    }
    size_t rows = hi >= lo ? (size_t)(hi - lo + 1) : 0;
    size_t cols = (size_t)r->n_active;
    v = malloc((rows ? rows : 1) * cols * sizeof *v);
    if (!v) {
        rc = report_nomem(e);
        goto fail;
    }
    for (size_t i = 0; i < rows * cols; i++)
        v[i] = NAN;
    rc = report_prep(r,
                     "SELECT r.policy, l.layer, avg(l.imbalance_score)"
                     " FROM layer_step l JOIN run r USING (run_id)"
                     " WHERE r.status = 'done' AND l.moe = 1"
                     " AND l.imbalance_score IS NOT NULL"
                     " GROUP BY r.policy, l.layer ORDER BY r.policy, l.layer",
                     &st, e);
    if (rc != 0)
        goto fail;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int a = report_active_index(r, report_col_text(st, 0));
        int layer = sqlite3_column_int(st, 1);
        if (a >= 0 && layer >= lo && layer <= hi)
            v[(size_t)(layer - lo) * cols + (size_t)a] = report_col_num(st, 2);
    }
    if (step != SQLITE_DONE) {
        rc = report_db_fail(r, e, "reading the Imbalance Scores");
        goto fail;
    }

    /* the data file, the worst cell and the y range */
    double worst = -INFINITY;
    int worst_a = -1, worst_layer = 0;
    for (size_t l = 0; l < rows; l++) {
        int any = 0;
        for (size_t a = 0; a < cols; a++)
            any |= !isnan(v[l * cols + a]);
        if (!any)
            continue; /* a dense layer between MoE layers */
        fprintf(data, "%zu", l + (size_t)lo);
        for (size_t a = 0; a < cols; a++) {
            fputc('\t', data);
            gnuplot_number(data, v[l * cols + a]);
        }
        fputc('\n', data);
    }
    for (size_t a = 0; a < cols; a++)
        for (size_t l = 0; l < rows; l++)
            if (v[l * cols + a] > worst) {
                worst = v[l * cols + a];
                worst_a = (int)a;
                worst_layer = (int)l + lo;
            }

    if (worst_a < 0) {
        report_add(out, "No MoE layer recorded an Imbalance Score, so there is "
                        "nothing to compare.");
    } else {
        int best = active_extreme(r, COMPARE_IMBALANCE_SCORE, -1, -1);
        int most = active_extreme(r, COMPARE_IMBALANCE_SCORE, 1, -1);
        double mb = active_mean(r, best, COMPARE_IMBALANCE_SCORE);
        double mm = active_mean(r, most, COMPARE_IMBALANCE_SCORE);
        if (best < 0)
            report_add(out, "No policy has a mean Imbalance Score");
        else if (r->n_active == 1)
            report_add(out, "%s has a mean Imbalance Score of %.3f",
                       report_active_name(r, best), mb);
        else if (mb == mm)
            report_add(out,
                       "Every policy has the same mean Imbalance Score (%.3f)",
                       mb);
        else
            report_add(
                out,
                "%s has the lowest mean Imbalance Score (%.3f vs %.3f for "
                "%s)",
                report_active_name(r, best), mb, mm,
                report_active_name(r, most));
        report_add(out, "; the worst layer is %d under %s at %.3f.",
                   worst_layer, report_active_name(r, worst_a), worst);
    }

    gp_policies(r, vars);
    fprintf(vars, "xmin=%d; xmax=%d; nodata=%d; ymax=", lo,
            worst_a < 0 ? lo : hi, worst_a < 0);
    gnuplot_number(vars, worst_a < 0 ? 0 : worst);
    fputs("; ", vars);
fail:
    (void)sqlite3_finalize(st);
    free(v);
    return rc;
}

/* ---- plot 2: device x step heat map --------------------------------- */

/* One panel's data: the lowest finished seed's device_step rows. */
typedef struct heat_panel {
    int active;             /* index into r->active */
    long long seed;
    int steps, devices;     /* extents: max + 1 */
    double *ratio;          /* [step * devices + device], load / step mean */
    double *total;          /* [device] token-experts over the steps */
} heat_panel;

static int heat_read(rpt *r, heat_panel *h, err_t *e)
{
    sqlite3_stmt *st = NULL;
    long long run_id = -1;
    double *load = NULL;
    int rc = report_prep(r,
                         "SELECT run_id, seed FROM run WHERE policy = ?"
                         " AND status = 'done' ORDER BY seed LIMIT 1",
                         &st, e);
    if (rc != 0)
        return rc;
    (void)sqlite3_bind_text(st, 1, report_active_name(r, h->active), -1,
                            SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        run_id = sqlite3_column_int64(st, 0);
        h->seed = sqlite3_column_int64(st, 1);
    }
    (void)sqlite3_finalize(st);
    st = NULL;
    if (run_id < 0)
        return report_db_fail(r, e, "reading the runs");

    rc = report_prep(
        r,
        "SELECT max(step) + 1, max(device) + 1, min(step), min(device)"
        " FROM device_step WHERE run_id = ?",
        &st, e);
    if (rc != 0)
        return rc;
    (void)sqlite3_bind_int64(st, 1, run_id);
    if (sqlite3_step(st) == SQLITE_ROW) {
        h->steps = sqlite3_column_int(st, 0);
        h->devices = sqlite3_column_int(st, 1);
        if (sqlite3_column_int(st, 2) < 0 || sqlite3_column_int(st, 3) < 0)
            h->steps = -1;
    }
    (void)sqlite3_finalize(st);
    st = NULL;
    if (h->steps < 0 || h->devices < 0 || h->steps > INDEX_MAX ||
        h->devices > INDEX_MAX ||
        (double)h->steps * h->devices > (double)INDEX_MAX * 10)
        return err_set(e, ERR_INPUT, "%s: device_step of run %lld out of range",
                       r->db_path, run_id);
    if (h->steps == 0 || h->devices == 0)
        return 0;
    size_t cells = (size_t)h->steps * (size_t)h->devices;
    load = malloc(cells * sizeof *load);
    h->ratio = malloc(cells * sizeof *h->ratio);
    h->total = calloc((size_t)h->devices, sizeof *h->total);
    if (!load || !h->ratio || !h->total) {
        rc = report_nomem(e);
        goto fail;
    }
    for (size_t i = 0; i < cells; i++)
        load[i] = NAN;
    rc = report_prep(r,
                     "SELECT step, device, token_experts FROM device_step"
                     " WHERE run_id = ? ORDER BY step, device",
                     &st, e);
    if (rc != 0)
        goto fail;
    (void)sqlite3_bind_int64(st, 1, run_id);
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int s = sqlite3_column_int(st, 0), d = sqlite3_column_int(st, 1);
        double te = sqlite3_column_double(st, 2);
        load[(size_t)s * (size_t)h->devices + (size_t)d] = te;
        h->total[d] += te;
    }
    if (step != SQLITE_DONE) {
        rc = report_db_fail(r, e, "reading the device loads");
        goto fail;
    }
    /* load over the step's mean; a step where no device computed
     * anything is even (1), a missing row stays NaN */
    for (int s = 0; s < h->steps; s++) {
        double sum = 0;
        int n = 0;
        for (int d = 0; d < h->devices; d++) {
            double x = load[(size_t)s * (size_t)h->devices + (size_t)d];
            if (!isnan(x)) {
                sum += x;
                n++;
            }
        }
        double mean = n ? sum / n : NAN;
        for (int d = 0; d < h->devices; d++) {
            size_t i = (size_t)s * (size_t)h->devices + (size_t)d;
            h->ratio[i] = mean > 0 ? load[i] / mean : (n ? 1.0 : NAN);
        }
    }
fail:
    (void)sqlite3_finalize(st);
    free(load);
    return rc;
}

static void heat_finding(const rpt *r, const heat_panel *h, int first,
                         char *out)
{
    double sum = 0;
    int busiest = 0, hot_s = 0, hot_d = 0;
    double hot = -INFINITY;
    for (int d = 0; d < h->devices; d++) {
        sum += h->total[d];
        if (h->total[d] > h->total[busiest])
            busiest = d;
    }
    for (int s = 0; s < h->steps; s++)
        for (int d = 0; d < h->devices; d++) {
            double x = h->ratio[(size_t)s * (size_t)h->devices + (size_t)d];
            if (x > hot) {
                hot = x;
                hot_s = s;
                hot_d = d;
            }
        }
    double mean = sum / h->devices;
    const char *under = first ? "Under" : "under";
    if (hot <= 1.0) { /* every cell at the mean: nothing to single out */
        report_add(out,
                   "%s %s (seed %lld), every device carries the mean load in "
                   "every step",
                   under, report_active_name(r, h->active), h->seed);
        return;
    }
    report_add(out,
               "%s %s (seed %lld), device %d carries the most load, %.2fx the "
               "mean device over the %d step%s",
               under, report_active_name(r, h->active), h->seed, busiest,
               mean > 0 ? h->total[busiest] / mean : 1.0, h->steps,
               h->steps == 1 ? "" : "s");
    if (h->steps > 1)
        report_add(out, ", and the most loaded cell is device %d in step %d at "
                        "%.2fx",
                   hot_d, hot_s, hot);
}

/* Panels: the baseline (or the first policy with a finished run) and the
 * policy with the most tokens/s per device, if another. Data: one block
 * per panel of (step, device, load / step mean). Finding: per panel, the
 * device with the largest total over the steps and the hottest cell. */
int report_plot_heatmap(rpt *r, FILE *data, FILE *vars, err_t *e)
{
    heat_panel h[2];
    int n = 1, rc = 0;
    char *out = r->finding[PLOT_HEATMAP];
    memset(h, 0, sizeof h);

    int base = active_baseline(r);
    h[0].active = base >= 0 ? base : 0;
    int best = active_extreme(r, COMPARE_TOKENS_PER_S_PER_DEVICE, 1, -1);
    if (best >= 0 && best != h[0].active)
        h[n++].active = best;
    for (int i = 0; i < n; i++)
        if ((rc = heat_read(r, &h[i], e)) != 0)
            goto fail;
    for (int i = 0; i < n; i++)
        if (!h[i].ratio) { /* a run without device rows: show the others */
            h[i] = h[n - 1];
            memset(&h[--n], 0, sizeof h[0]);
            i--;
        }

    int steps = 0, devices = 0;
    double dev = 0.01; /* the colour scale's half-width, at least 1% */
    for (int i = 0; i < n; i++) {
        if (i)
            fputs("\n\n", data);
        steps = h[i].steps > steps ? h[i].steps : steps;
        devices = h[i].devices > devices ? h[i].devices : devices;
        for (int s = 0; s < h[i].steps; s++)
            for (int d = 0; d < h[i].devices; d++) {
                double x = h[i].ratio[(size_t)s * (size_t)h[i].devices +
                                      (size_t)d];
                if (isnan(x))
                    continue;
                if (fabs(x - 1) > dev)
                    dev = fabs(x - 1);
                fprintf(data, "%d\t%d\t", s, d);
                gnuplot_number(data, x);
                fputc('\n', data);
            }
    }

    if (n == 0)
        report_add(out, "No per-device rows were recorded.");
    for (int i = 0; i < n; i++) {
        if (i)
            report_add(out, "; ");
        heat_finding(r, &h[i], i == 0, out);
    }
    if (n)
        report_add(out, ".");

    fprintf(vars, "n=%d; nodata=%d; steps=%d; devices=%d; cbmin=", n, n == 0,
            steps, devices);
    gnuplot_number(vars, 1 - dev);
    fputs("; cbmax=", vars);
    gnuplot_number(vars, 1 + dev);
    fputs("; ", vars);
    for (int i = 0; i < n; i++) {
        char var[16], title[512];
        snprintf(var, sizeof var, "title%d", i + 1);
        snprintf(title, sizeof title, "%s, seed %lld",
                 report_active_name(r, h[i].active), h[i].seed);
        gnuplot_string(vars, var, title);
    }
fail:
    for (int i = 0; i < 2; i++) {
        free(h[i].ratio);
        free(h[i].total);
    }
    return rc;
}

/* ---- plot 3: time breakdown ----------------------------------------- */

/* Data: per policy the mean over steps and seeds of compute, all-to-all,
 * idle and other (ms). Finding: per policy the idle and all-to-all
 * shares (compare's, as in the table) with the idle and step ms drawn. */
int report_plot_time(rpt *r, FILE *data, FILE *vars, err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc, drawn = 0;
    double ymax = 0;
    char *out = r->finding[PLOT_TIME];

    rc = report_prep(r,
                     "SELECT avg(s.step_s), avg(s.compute_s), avg(s.a2a_s),"
                     " avg(s.idle_s), avg(s.other_s) FROM step s"
                     " JOIN run r USING (run_id)"
                     " WHERE r.status = 'done' AND r.policy = ?",
                     &st, e);
    if (rc != 0)
        return rc;
    for (int a = 0; a < r->n_active; a++) {
        (void)sqlite3_bind_text(st, 1, report_active_name(r, a), -1,
                                SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW) {
            rc = report_db_fail(r, e, "reading the step times");
            goto fail;
        }
        double ms[5], sum = 0;
        for (int k = 0; k < 5; k++)
            ms[k] = report_col_num(st, k) * 1e3;
        (void)sqlite3_reset(st);
        fprintf(data, "%d", a);
        for (int k = 1; k < 5; k++) {
            fputc('\t', data);
            gnuplot_number(data, ms[k]);
            sum += ms[k];
        }
        fputc('\n', data);
        if (!isnan(sum)) {
            drawn++;
            ymax = sum > ymax ? sum : ymax;
        }
        const compare_stat *idle = report_active_stat(r, a, COMPARE_IDLE_SHARE);
        const compare_stat *a2a = report_active_stat(r, a, COMPARE_A2A_SHARE);
        report_add(out,
                   "%s%s spends %s%% of each step idle at MoE barriers (%s of "
                   "%s ms) and %s%% in all-to-all",
                   a ? "; " : "", report_active_name(r, a),
                   SIG(idle->mean * 100, 3), SIG(ms[3], 3), SIG(ms[0], 4),
                   SIG(a2a->mean * 100, 3));
    }
    report_add(out, ".");

    gp_policies(r, vars);
    fprintf(vars, "nodata=%d; ymax=", drawn == 0);
    gnuplot_number(vars, ymax);
    fputs("; ", vars);
fail:
    (void)sqlite3_finalize(st);
    return rc;
}

/* ---- plot 4: tokens/s per device ------------------------------------ */

/* "(95% interval 5011 to 5159)" or "(one seed: no interval)". */
static void ci_text(char *out, const compare_stat *s)
{
    if (isnan(s->ci_half))
        report_add(out, " (one seed: no interval)");
    else
        report_add(out, " (95%% interval %s to %s)", SIG(s->ci_lo, 4),
                   SIG(s->ci_hi, 4));
}

/* Data and numbers: compare's means and intervals. Finding: the policy
 * with the most tokens/s per device against the baseline (compare's
 * ratio), and whether their intervals overlap. */
int report_plot_throughput(rpt *r, FILE *data, FILE *vars, err_t *e)
{
    int drawn = 0;
    double ymax = 0;
    char *out = r->finding[PLOT_THROUGHPUT];
    const compare_metric m = COMPARE_TOKENS_PER_S_PER_DEVICE;
    (void)e;

    for (int a = 0; a < r->n_active; a++) {
        const compare_stat *s = report_active_stat(r, a, m);
        fprintf(data, "%d\t", a);
        gnuplot_number(data, s->mean);
        fputc('\t', data);
        gnuplot_number(data, s->ci_lo);
        fputc('\t', data);
        gnuplot_number(data, s->ci_hi);
        fputc('\n', data);
        double top = isnan(s->ci_hi) ? s->mean : s->ci_hi;
        if (!isnan(top)) {
            drawn++;
            ymax = top > ymax ? top : ymax;
        }
    }

    int best = active_extreme(r, m, 1, -1), base = active_baseline(r);
    if (best < 0) {
        report_add(out, "No finished run recorded a throughput.");
    } else if (r->n_active == 1) {
        const compare_stat *s = report_active_stat(r, best, m);
        report_add(out, "%s delivers %s tokens/s per device",
                   report_active_name(r, best), SIG(s->mean, 4));
        ci_text(out, s);
        report_add(out, ".");
    } else if (base < 0) {
        report_add(
            out,
            "%s delivers the most tokens/s per device (%s); the baseline, "
            "%s, has no finished run to compare with.",
            report_active_name(r, best),
            SIG(report_active_stat(r, best, m)->mean, 4),
            compare_policy_name(r->cmp, compare_baseline(r->cmp)));
    } else {
        /* the best against the baseline, or the baseline against the
         * runner-up when it is the best itself */
        int hi_a = best,
            lo_a = best == base ? active_extreme(r, m, 1, base) : base;
        const compare_stat *hs = report_active_stat(r, hi_a, m);
        if (lo_a < 0) {
            report_add(
                out,
                "%s, the baseline, is the only policy with a throughput "
                "(%s tokens/s per device).",
                report_active_name(r, best), SIG(hs->mean, 4));
        } else {
            const compare_stat *ls = report_active_stat(r, lo_a, m);
            if (best == base)
                report_add(
                    out,
                    "%s, the baseline, delivers the most tokens/s per device "
                    "(%s); the next best, %s, delivers %.2fx as many (%s)",
                    report_active_name(r, hi_a), SIG(hs->mean, 4),
                    report_active_name(r, lo_a), ls->ratio, SIG(ls->mean, 4));
            else
                report_add(
                    out,
                    "%s delivers %.2fx the tokens/s per device of %s (%s vs "
                    "%s)",
                    report_active_name(r, hi_a), hs->ratio,
                    report_active_name(r, lo_a), SIG(hs->mean, 4),
                    SIG(ls->mean, 4));
            if (isnan(hs->ci_half) || isnan(ls->ci_half))
                report_add(out,
                           "; with one seed there is no interval to tell the "
                           "difference from seed-to-seed noise.");
            else if (hs->ci_lo > ls->ci_hi)
                report_add(out, "; their 95%% intervals do not overlap.");
            else
                report_add(out,
                           "; their 95%% intervals overlap, so the difference "
                           "is within seed-to-seed noise.");
        }
    }

    gp_policies(r, vars);
    fprintf(vars, "nodata=%d; ymax=", drawn == 0);
    gnuplot_number(vars, ymax);
    fputs("; ", vars);
    return 0;
}

/* ---- plot 5: busiest links ------------------------------------------ */

/* Data: per policy its TOP_LINKS links by mean utilization over seeds
 * (ties by name), one row per rank. Finding: each policy's busiest link. */
int report_plot_links(rpt *r, FILE *data, FILE *vars, err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc, ranks = 0;
    double ymax = 0;
    char *out = r->finding[PLOT_LINKS];

    r->links = calloc((size_t)r->n_active, sizeof *r->links);
    r->n_links = calloc((size_t)r->n_active, sizeof *r->n_links);
    if (!r->links || !r->n_links)
        return report_nomem(e);
    rc = report_prep(r,
                     "SELECT k.name, avg(k.utilization) AS u FROM link k"
                     " JOIN run r USING (run_id)"
                     " WHERE r.status = 'done' AND r.policy = ?"
                     " AND k.utilization IS NOT NULL"
                     " GROUP BY k.name ORDER BY u DESC, k.name LIMIT ?",
                     &st, e);
    if (rc != 0)
        goto fail;
    (void)sqlite3_bind_int(st, 2, TOP_LINKS);
    for (int a = 0; a < r->n_active; a++) {
        (void)sqlite3_bind_text(st, 1, report_active_name(r, a), -1,
                                SQLITE_STATIC);
        int step = SQLITE_DONE;
        /* LIMIT keeps the rows within TOP_LINKS */
        while (r->n_links[a] < TOP_LINKS &&
               (step = sqlite3_step(st)) == SQLITE_ROW) {
            rpt_link *k = &r->links[a][r->n_links[a]];
            if (!(k->name = strdup(report_col_text(st, 0)))) {
                rc = report_nomem(e);
                goto fail;
            }
            k->utilization = report_col_num(st, 1);
            r->n_links[a]++;
        }
        if (step != SQLITE_ROW && step != SQLITE_DONE) {
            rc = report_db_fail(r, e, "reading the links");
            goto fail;
        }
        (void)sqlite3_reset(st);
        ranks = r->n_links[a] > ranks ? r->n_links[a] : ranks;
    }

    for (int k = 0; k < ranks; k++) {
        fprintf(data, "%d", k + 1);
        for (int a = 0; a < r->n_active; a++) {
            double u = k < r->n_links[a] ? r->links[a][k].utilization * 100
                                         : NAN;
            fputc('\t', data);
            gnuplot_number(data, u);
            if (u > ymax)
                ymax = u;
        }
        fputc('\n', data);
    }

    if (ranks == 0)
        report_add(out, "No link carried traffic: the runs had no all-to-all "
                        "between devices.");
    for (int a = 0, said = 0; a < r->n_active && ranks > 0; a++) {
        if (r->n_links[a] == 0) {
            report_add(out, "%s%s uses no link", said++ ? "; " : "",
                       report_active_name(r, a));
            continue;
        }
        const rpt_link *k = &r->links[a][0];
        if (said++ == 0)
            report_add(out,
                       "The busiest link under %s is %s, busy %s%% of the "
                       "all-to-all time",
                       report_active_name(r, a), k->name,
                       SIG(k->utilization * 100, 3));
        else
            report_add(out, "; under %s, %s at %s%%", report_active_name(r, a),
                       k->name, SIG(k->utilization * 100, 3));
        if (r->n_links[a] == TOP_LINKS)
            report_add(out, " (its 10th busiest: %s%%)",
                       SIG(r->links[a][TOP_LINKS - 1].utilization * 100, 3));
    }
    if (ranks > 0)
        report_add(out, ".");

    gp_policies(r, vars);
    fprintf(vars, "ranks=%d; nodata=%d; ymax=", ranks, ranks == 0);
    gnuplot_number(vars, ymax);
    fputs("; ", vars);
fail:
    (void)sqlite3_finalize(st);
    return rc;
}
