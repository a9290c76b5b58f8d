/*
 * report: report_write (plots/report.h) and what the other report files
 * share: the plots' names and captions, small helpers (strings, findings,
 * numbers), reading the results database, and finding and running the
 * gnuplot scripts. The plots are drawn in report_plots.c, the plan section
 * in report_plan.c, the page written in report_html.c
 * (plots/report_impl.h lists what they share).
 */
#include "plots/report.h"
#include "plots/report_impl.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/ini.h"
#include "plots/gnuplot.h"
#include "results/compare.h"

/* ---- the plots ------------------------------------------------------ */

const struct report_plot report_plot_info[PLOT_ALL] = {
    {"imbalance", "Imbalance Score per layer",
     "Imbalance Score (Pangu Pro MoE, Eq. 3) = (max \xe2\x88\x92 min device "
     "load) / tokens in the batch, for each MoE layer, averaged over steps "
     "and finished seeds. 0 means every device computes the same number of "
     "token-expert pairs; under expert parallelism every MoE layer waits "
     "for its busiest device."},
    {"heatmap", "Device load by step",
     "Token-expert computations placed on each device in each step (summed "
     "over layers), divided by the mean over the step's devices: 1 (white) "
     "is an evenly loaded device, red a device the others wait for, blue one "
     "that waits. The baseline and the policy with the most tokens/s per "
     "device, one seed each (the lowest finished), on one colour scale. "
     "Summed over layers, a device hot in one layer and cold in another "
     "evens out here: the per-layer imbalance is the plot above."},
    {"time", "Where the step time goes",
     "Mean step time split along the critical path: compute (attention and "
     "experts), all-to-all (dispatch and combine), idle at MoE barriers "
     "(waiting for the slowest device) and other (gradient sync, dense-layer "
     "collectives). Means over steps and finished seeds."},
    {"throughput", "Tokens/s per device",
     "Tokens per second per device, mean over finished seeds; the whiskers "
     "are the 95% confidence interval of the mean (Student t; none with one "
     "seed)."},
    {"links", "Busiest links",
     "Utilization of each policy's ten busiest links: the link's busy time "
     "over the run's all-to-all time, mean over finished seeds. Bars at the "
     "same rank may be different links: the names are listed below the "
     "plot."},
    {"plan_throughput", "Throughput per device by instance size",
     "Tokens per second per device of one serving instance (train: of the "
     "cluster) at its operating batch, against the devices of the "
     "instance, one series per policy: every feasible candidate of the "
     "plan, whatever its hardware (candidates of several node files may "
     "share a device count)."},
    {"plan_pareto", "Cost against latency",
     "Each feasible candidate with a known cost: the plan's ranking cost "
     "for the whole deployment (all replicas) against the latency the "
     "target limits, at the operating batch. The filled points are the "
     "Pareto front (no other candidate is at most as costly and at most as "
     "slow, and better on one), joined by a step line; the dashed line is "
     "the limit."},
};

/* ---- small helpers -------------------------------------------------- */

/* 1 if plot p is on this page: a results database's plots with one, the
 * plan's with a plan. */
int report_plot_shown(const rpt *r, int p)
{
    return p < PLOT_COUNT ? r->db_path != NULL : r->plan.path != NULL;
}

int report_nomem(err_t *e) { return err_set(e, ERR_NOMEM, "out of memory"); }

/* Appends to a finding; text past FINDING_MAX is cut, never overrun. */
void report_add(char *buf, const char *fmt, ...)
{
    size_t used = strlen(buf);
    if (used + 1 >= FINDING_MAX)
        return;
    va_list ap;
    va_start(ap, fmt);
    (void)vsnprintf(buf + used, FINDING_MAX - used, fmt, ap);
    va_end(ap);
}


/* x rounded to d decimals (d < 0: to tens, hundreds, ...); "n/a" for NaN.
 * Returns buf. */
const char *report_fmt_round(char *buf, size_t n, double x, int d)
{
    if (isnan(x))
        snprintf(buf, n, "n/a");
    else if (d >= 0)
        snprintf(buf, n, "%.*f", d, x);
    else {
        double q = pow(10.0, -d);
        snprintf(buf, n, "%.0f", round(x / q) * q);
    }
    return buf;
}

/* x to sig significant digits, never rounding the integer part away:
 * 5816 (sig 4 of 5815.6), 13.2, 0.212 (sig 3). Returns buf. */
const char *report_fmt_sig(char *buf, size_t n, double x, int sig)
{
    int d = compare_sig_decimals(x, sig);
    return report_fmt_round(buf, n, x, d < 0 ? 0 : d);
}

/* ---- the database --------------------------------------------------- */

/* The results database's and the plan database's errors alike. */
int report_sql_fail(sqlite3 *db, const char *path, const char *what,
                    err_t *e)
{
    return err_set(e, ERR_IO, "%s: %s: %s", path, what,
                   db ? sqlite3_errmsg(db) : "out of memory");
}

int report_sql_prep(sqlite3 *db, const char *path, const char *sql,
                    sqlite3_stmt **st, err_t *e)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return report_sql_fail(db, path, "reading the results", e);
    }
    return 0;
}

int report_db_fail(rpt *r, err_t *e, const char *what)
{
    return report_sql_fail(r->db, r->db_path, what, e);
}

int report_prep(rpt *r, const char *sql, sqlite3_stmt **st, err_t *e)
{
    return report_sql_prep(r->db, r->db_path, sql, st, e);
}

/* A column as a double, NULL as NaN (the store writes NaN as NULL). */
double report_col_num(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL
               ? NAN
               : sqlite3_column_double(st, i);
}

const char *report_col_text(sqlite3_stmt *st, int i)
{
    const char *s = (const char *)sqlite3_column_text(st, i);
    return s ? s : "";
}

/* Opened as compare_load opens it (read-write but query_only, so the last
 * connection to close removes the WAL files instead of leaving them beside
 * the user's file); one read transaction, so every query sees the same
 * runs. compare_load has already checked that this is a moesim database;
 * a run committed between its snapshot and this one would show in the
 * plots and not in the table (see REPORT.md). */
static int db_open(rpt *r, err_t *e)
{
    if (sqlite3_open_v2(r->db_path, &r->db, SQLITE_OPEN_READWRITE, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(r->db, "PRAGMA query_only = ON", NULL, NULL, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(r->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return report_db_fail(r, e, "cannot open the results database");
    return 0;
}

int report_active_index(const rpt *r, const char *policy)
{
    for (int i = 0; i < r->n_active; i++)
        if (strcmp(compare_policy_name(r->cmp, r->active[i]), policy) == 0)
            return i;
    return -1;
}

const char *report_active_name(const rpt *r, int i)
{
    return compare_policy_name(r->cmp, r->active[i]);
}

const compare_stat *report_active_stat(const rpt *r, int i,
                                       compare_metric m)
{
    return compare_get(r->cmp, r->active[i], m);
}

static int pick_active(rpt *r, err_t *e)
{
    int n = compare_policies(r->cmp);
    r->active = calloc((size_t)n, sizeof *r->active);
    if (!r->active)
        return report_nomem(e);
    for (int p = 0; p < n; p++)
        if (compare_runs_done(r->cmp, p) > 0)
            r->active[r->n_active++] = p;
    if (r->n_active == 0)
        return err_set(e, ERR_INPUT,
                       "%s: no finished run (status 'done') to report; "
                       "expected a database that moesim run has completed "
                       "at least one run in",
                       r->db_path);
    return 0;
}

static int read_scenario(rpt *r, err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc = report_prep(r,
                         "SELECT name, phase, text, moesim_version, created_at "
                         "FROM scenario",
                         &st, e);
    if (rc != 0)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW) {
        r->name = strdup(report_col_text(st, 0));
        r->phase = strdup(report_col_text(st, 1));
        r->text = strdup(report_col_text(st, 2));
        r->version = strdup(report_col_text(st, 3));
        r->created_at = strdup(report_col_text(st, 4));
        if (!r->name || !r->phase || !r->text || !r->version ||
            !r->created_at)
            rc = report_nomem(e);
    } else {
        rc = report_db_fail(r, e, "reading the scenario");
    }
    (void)sqlite3_finalize(st);
    if (rc != 0)
        return rc;
    rc = report_prep(r,
                     "SELECT max(d.device) + 1 FROM device_step d"
                     " JOIN run r USING (run_id) WHERE r.status = 'done'",
                     &st, e);
    if (rc != 0)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW)
        r->devices = sqlite3_column_int(st, 0); /* NULL reads 0 */
    else
        rc = report_db_fail(r, e, "reading the devices");
    (void)sqlite3_finalize(st);
    /* The stored text was a valid scenario when it ran; if this reader
     * cannot parse it (a newer moesim's file), the summary shows the text
     * without the settings table rather than failing. */
    err_t ignored;
    if (ini_load_string("scenario text", r->text, &r->ini, &ignored) != 0)
        r->ini = NULL;
    return rc;
}

/* A [scenario] key's value as written, or NULL. */
const char *report_scenario_value(rpt *r, const char *key)
{
    const char *v = NULL;
    err_t ignored;
    if (!r->ini)
        return NULL;
    int sec = ini_find_section(r->ini, "scenario");
    if (sec < 0 || ini_get_str(r->ini, sec, key, 0, &v, &ignored) != 0)
        return NULL;
    return v;
}

/* ---- the scripts and gnuplot --------------------------------------- */

static int path_join(char *out, const char *dir, const char *name,
                     const char *ext, err_t *e)
{
    int n = snprintf(out, PATH_MAX, "%s/%s%s", dir, name, ext);
    if (n < 0 || n >= PATH_MAX)
        return err_set(e, ERR_INPUT, "%s/%s%s: path too long", dir, name,
                       ext);
    return 0;
}

/* The scripts' folder: given, or "plots" beside the executable. Every
 * script must be there before anything runs. */
static int find_plots_dir(rpt *r, const char *given, err_t *e)
{
    char exe[PATH_MAX];
    if (given) {
        if (snprintf(r->plots_dir, sizeof r->plots_dir, "%s", given) >=
            (int)sizeof r->plots_dir)
            return err_set(e, ERR_INPUT, "%s: path too long", given);
    } else {
        ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
        if (n <= 0)
            return err_set(e, ERR_INPUT,
                           "cannot find the folder of the running program "
                           "(%s); pass the plots folder explicitly",
                           strerror(errno));
        exe[n] = '\0';
        char *slash = strrchr(exe, '/');
        if (slash)
            *slash = '\0';
        if (path_join(r->plots_dir, exe, "plots", "", e) != 0)
            return ERR_INPUT;
    }
    /* the scripts this page draws: a results database's, the plan's */
    const char *need[PLOT_ALL + 1];
    int n_need = 0;
    for (int p = 0; p < PLOT_ALL; p++)
        if (report_plot_shown(r, p))
            need[n_need++] = report_plot_info[p].name;
    need[n_need++] = "style";
    for (int p = 0; p < n_need; p++) {
        char path[PATH_MAX];
        if (path_join(path, r->plots_dir, need[p], ".gp", e) != 0)
            return ERR_INPUT;
        if (access(path, R_OK) != 0)
            return err_set(e, ERR_INPUT,
                           "%s: %s; expected the moesim plots/ folder with "
                           "the report's gnuplot scripts",
                           path, strerror(errno));
    }
    return 0;
}

/* Draws plot p: opens its data file (<name>.tsv in gnuplot's private
 * folder) and a stream for its script's variables, has plot write both
 * and the finding, then runs plots/<name>.gp with those variables and
 * datafile, the data file's path. */
static int draw_plot(rpt *r, int p,
                     int (*plot)(rpt *, FILE *, FILE *, err_t *), err_t *e)
{
    const char *name = report_plot_info[p].name;
    char tsv[64], path[PATH_MAX];
    char *vars = NULL;
    size_t vars_len = 0;
    FILE *data = NULL, *v = NULL;
    snprintf(tsv, sizeof tsv, "%s.tsv", name);
    int rc = gnuplot_path(r->gp, tsv, path, sizeof path, e);
    if (rc != 0 || (rc = gnuplot_data_open(r->gp, tsv, &data, e)) != 0)
        return rc;
    if (!(v = open_memstream(&vars, &vars_len))) {
        rc = report_nomem(e);
        goto fail;
    }
    if ((rc = plot(r, data, v, e)) != 0)
        goto fail;
    int bad = ferror(data), closed = fclose(data);
    data = NULL;
    if (closed != 0 || bad) {
        rc = err_set(e, ERR_IO, "%s: cannot write the plot data", tsv);
        goto fail;
    }
    gnuplot_string(v, "datafile", path);
    bad = ferror(v);
    closed = fclose(v);
    v = NULL;
    if (closed != 0 || bad) {
        rc = report_nomem(e);
        goto fail;
    }
    rc = gnuplot_draw(r->gp, name, vars, name, &r->svg[p], e);
fail:
    if (v)
        fclose(v);
    if (data)
        fclose(data);
    free(vars);
    return rc;
}

/* ---- the entry point ------------------------------------------------ */

int report_write(const char *db_path, const char *html_path,
                 const report_options *opt, err_t *e)
{
    static const report_options defaults = {NULL, NULL, NULL, NULL};
    int (*const plots[PLOT_ALL])(rpt *, FILE *, FILE *, err_t *) = {
        report_plot_imbalance,       report_plot_heatmap,
        report_plot_time,            report_plot_throughput,
        report_plot_links,           report_plan_plot_throughput,
        report_plan_plot_pareto};
    rpt *r = NULL;
    int rc = 0;

    if (!opt)
        opt = &defaults;
    if ((!db_path && !opt->plan_db) || !html_path)
        return err_set(e, ERR_INPUT,
                       "report: expected a results database or a plan "
                       "database, and an output path");
    if (!(r = calloc(1, sizeof *r)))
        return report_nomem(e);
    r->db_path = db_path;
    r->plan.path = opt->plan_db;

    if (db_path &&
        ((rc = compare_load(&r->cmp, db_path, opt->baseline, e)) != 0 ||
         (rc = pick_active(r, e)) != 0))
        goto fail;
    if (opt->plan_db &&
        ((rc = report_plan_open(r, e)) != 0 ||
         (rc = report_plan_read_meta(r, e)) != 0 ||
         (rc = report_plan_read_rows(r, e)) != 0))
        goto fail;
    if ((rc = find_plots_dir(r, opt->plots_dir, e)) != 0)
        goto fail;
    if (db_path && ((rc = db_open(r, e)) != 0 ||
                    (rc = read_scenario(r, e)) != 0))
        goto fail;
    if ((rc = gnuplot_open(&r->gp, opt->gnuplot ? opt->gnuplot : "gnuplot",
                           r->plots_dir, e)) != 0)
        goto fail;
    for (int p = 0; p < PLOT_ALL; p++)
        if (report_plot_shown(r, p) && (rc = draw_plot(r, p, plots[p], e)) != 0)
            goto fail;
    rc = report_html_write(r, html_path, e);
fail:
    gnuplot_close(r->gp);
    if (r->db)
        (void)sqlite3_close(r->db); /* ends the read transaction */
    if (r->plan.db)
        (void)sqlite3_close(r->plan.db);
    for (int i = 0; r->plan.rows && i < r->plan.n_rows; i++) {
        plan_row *w = &r->plan.rows[i];
        free(w->label);
        free(w->policy);
        free(w->device_name);
        free(w->node_name);
    }
    free(r->plan.rows);
    free(r->plan.created_at);
    free(r->plan.rank_by);
    free(r->plan.target);
    free(r->plan.model);
    free(r->plan.name);
    for (int a = 0; r->links && r->n_links && a < r->n_active; a++)
        for (int k = 0; k < r->n_links[a]; k++)
            free(r->links[a][k].name);
    free(r->links);
    free(r->n_links);
    for (int p = 0; p < PLOT_ALL; p++)
        free(r->svg[p]);
    ini_destroy(r->ini);
    free(r->created_at);
    free(r->version);
    free(r->text);
    free(r->phase);
    free(r->name);
    free(r->active);
    compare_free(r->cmp);
    free(r);
    return rc;
}
