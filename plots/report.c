#include "plots/report.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "common/ini.h"
#include "plots/gnuplot.h"
#include "results/compare.h"

/* The busiest links drawn and listed per policy. */
#define TOP_LINKS 10
/* One finding: a sentence or two per policy shown; long enough for a
 * dozen policies with long names, cut (never overrun) beyond. */
#define FINDING_MAX 4096
/* A layer or device index beyond this is a corrupt database, not a
 * model: it would only make the report allocate without bound. */
#define INDEX_MAX 1000000

/* ---- the plots ------------------------------------------------------ */

enum {
    PLOT_IMBALANCE,
    PLOT_HEATMAP,
    PLOT_TIME,
    PLOT_THROUGHPUT,
    PLOT_LINKS,
    PLOT_COUNT, /* the plots of a results database */
    /* the plan section's (report_options.plan_db) */
    PLOT_PLAN_THROUGHPUT = PLOT_COUNT,
    PLOT_PLAN_PARETO,
    PLOT_ALL
};

/* name: the script plots/<name>.gp, its files in the temporary folder, the
 * HTML id of its section and the prefix of its SVG ids. */
static const struct {
    const char *name;
    const char *heading;
    const char *intro;
} plot_info[PLOT_ALL] = {
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

/* The comparison table's rows: label with the unit shown, and the factor
 * from the stored SI unit. */
static const struct {
    const char *label;
    double scale;
} metric_row[COMPARE_METRIC_COUNT] = {
    {"step time (ms)", 1e3},
    {"tokens/s per device", 1.0},
    {"time per output token (ms)", 1e3},
    {"time to first token (ms)", 1e3},
    {"Imbalance Score", 1.0},
    {"device load max/mean", 1.0},
    {"all-to-all share of step (%)", 100.0},
    {"idle at MoE barriers, share of step (%)", 100.0},
    {"inter-node traffic per step (MB)", 1e-6},
};

/* Settings of the [scenario] section shown in the summary, as named in
 * the scenario file (scenarios/scen.c reads them). */
static const char *const scenario_keys[] = {
    "model", "node", "nodes", "phase", "sequences_per_device", "seq_len",
    "context_len", "steps", "seeds", "ep_size", "attn_dp_size", "network",
    "dispatch", "micro_batches", "grad_sync"};
#define N_SCENARIO_KEYS (sizeof scenario_keys / sizeof *scenario_keys)

/* A busiest link of a policy: name (owned) and mean utilization, 0..1. */
typedef struct rpt_link {
    char *name;
    double utilization;
} rpt_link;

/* A feasible candidate of the plan shown, as the plan section uses it. */
typedef struct plan_row {
    char *label;     /* "NODE x N node(s), POLICY, EPe attention-DPd", owned */
    char *node_name, *device_name, *policy; /* owned */
    int nodes, devices, ep_size, attn_dp_size, batch_per_device, replicas;
    int devices_total, pareto, rank;
    double tokens_per_s_per_device, tokens_per_s_total;
    double latency;  /* in the shown unit: ms (TPOT, TTFT) or days (train) */
    double cost;     /* rank_by's: devices, W or USD/h; NaN unknown */
    double power_w, price_per_hour_usd; /* NaN unknown */
} plan_row;

/* The latest plan of report_options.plan_db. */
typedef struct rpt_plan {
    const char *path;         /* borrowed */
    sqlite3 *db;              /* owned, inside one read transaction */
    long long plan_id;
    char *name, *model, *target, *rank_by, *created_at; /* owned */
    double tokens_per_s;      /* the throughput target; NaN for train */
    double train_tokens;      /* train's budget; NaN otherwise */
    double limit;             /* the latency limit, in plan_row.latency's unit */
    int candidates, feasible, invalid;
    plan_row *rows;           /* the feasible candidates by rank, owned */
    int n_rows;
} rpt_plan;

typedef struct rpt {
    const char *db_path;      /* borrowed; NULL: a page of the plan only */
    char plots_dir[PATH_MAX];
    gnuplot_t *gp;            /* owned: runs the scripts */
    compare_t *cmp;           /* owned */
    sqlite3 *db;              /* owned, inside one read transaction */
    int *active;              /* compare indexes of policies with a done
                                 run, in scenario order; owned */
    int n_active;
    /* the scenario row (owned) */
    char *name, *phase, *text, *version, *created_at;
    int devices;              /* max device + 1 over done runs; 0: none */
    inidoc *ini;              /* the parsed scenario text, or NULL */
    rpt_link (*links)[TOP_LINKS]; /* [n_active][TOP_LINKS], owned */
    int *n_links;             /* [n_active] */
    rpt_plan plan;            /* plan.path NULL: no plan section */
    char *svg[PLOT_ALL];      /* owned, ready to embed */
    char finding[PLOT_ALL][FINDING_MAX];
} rpt;

/* ---- small helpers -------------------------------------------------- */

static char *dup_str(const char *s)
{
    size_t n = strlen(s ? s : "") + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s ? s : "", n);
    return d;
}

static int nomem(err_t *e) { return err_set(e, ERR_NOMEM, "out of memory"); }

/* Appends to a finding; text past FINDING_MAX is cut, never overrun. */
static void add(char *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void add(char *buf, const char *fmt, ...)
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
static const char *fmt_round(char *buf, size_t n, double x, int d)
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
static const char *fmt_sig(char *buf, size_t n, double x, int sig)
{
    int d = compare_sig_decimals(x, sig);
    return fmt_round(buf, n, x, d < 0 ? 0 : d);
}

#define NUM_MAX 48
/* Formats into a compound-literal buffer that lives to the end of the
 * enclosing block, so several fit in one add() call. */
#define SIG(x, sig) fmt_sig((char[NUM_MAX]){0}, NUM_MAX, (x), (sig))

/* ---- HTML ---------------------------------------------------------- */

/* Text as HTML character data or attribute value. */
static void html(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", f); break;
        case '<': fputs("&lt;", f); break;
        case '>': fputs("&gt;", f); break;
        case '"': fputs("&quot;", f); break;
        case '\'': fputs("&#39;", f); break;
        default: fputc(*s, f);
        }
    }
}

/* ---- the database --------------------------------------------------- */

/* The results database's and the plan database's errors alike. */
static int sql_fail(sqlite3 *db, const char *path, const char *what,
                    err_t *e)
{
    return err_set(e, ERR_IO, "%s: %s: %s", path, what,
                   db ? sqlite3_errmsg(db) : "out of memory");
}

static int sql_prep(sqlite3 *db, const char *path, const char *sql,
                    sqlite3_stmt **st, err_t *e)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return sql_fail(db, path, "reading the results", e);
    }
    return 0;
}

static int db_fail(rpt *r, err_t *e, const char *what)
{
    return sql_fail(r->db, r->db_path, what, e);
}

static int prep(rpt *r, const char *sql, sqlite3_stmt **st, err_t *e)
{
    return sql_prep(r->db, r->db_path, sql, st, e);
}

/* A column as a double, NULL as NaN (the store writes NaN as NULL). */
static double col_num(sqlite3_stmt *st, int i)
{
    return sqlite3_column_type(st, i) == SQLITE_NULL
               ? NAN
               : sqlite3_column_double(st, i);
}

static const char *col_text(sqlite3_stmt *st, int i)
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
        return db_fail(r, e, "cannot open the results database");
    return 0;
}

static int active_index(const rpt *r, const char *policy)
{
    for (int i = 0; i < r->n_active; i++)
        if (strcmp(compare_policy_name(r->cmp, r->active[i]), policy) == 0)
            return i;
    return -1;
}

static const char *active_name(const rpt *r, int i)
{
    return compare_policy_name(r->cmp, r->active[i]);
}

static const compare_stat *active_stat(const rpt *r, int i, compare_metric m)
{
    return compare_get(r->cmp, r->active[i], m);
}

static int pick_active(rpt *r, err_t *e)
{
    int n = compare_policies(r->cmp);
    r->active = calloc((size_t)n, sizeof *r->active);
    if (!r->active)
        return nomem(e);
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
    int rc = prep(r,
                  "SELECT name, phase, text, moesim_version, created_at "
                  "FROM scenario",
                  &st, e);
    if (rc != 0)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW) {
        r->name = dup_str(col_text(st, 0));
        r->phase = dup_str(col_text(st, 1));
        r->text = dup_str(col_text(st, 2));
        r->version = dup_str(col_text(st, 3));
        r->created_at = dup_str(col_text(st, 4));
        if (!r->name || !r->phase || !r->text || !r->version ||
            !r->created_at)
            rc = nomem(e);
    } else {
        rc = db_fail(r, e, "reading the scenario");
    }
    (void)sqlite3_finalize(st);
    if (rc != 0)
        return rc;
    rc = prep(r,
              "SELECT max(d.device) + 1 FROM device_step d"
              " JOIN run r USING (run_id) WHERE r.status = 'done'",
              &st, e);
    if (rc != 0)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW)
        r->devices = sqlite3_column_int(st, 0); /* NULL reads 0 */
    else
        rc = db_fail(r, e, "reading the devices");
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
static const char *scenario_value(rpt *r, const char *key)
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
        if (p < PLOT_COUNT ? r->db_path != NULL : r->plan.path != NULL)
            need[n_need++] = plot_info[p].name;
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

/* Opens plot p's data file, <name>.tsv in gnuplot's private folder. */
static int data_open(rpt *r, int p, FILE **out, err_t *e)
{
    char name[64];
    snprintf(name, sizeof name, "%s.tsv", plot_info[p].name);
    return gnuplot_data_open(r->gp, name, out, e);
}

static int data_close(int p, FILE *f, err_t *e)
{
    int bad = ferror(f);
    if (fclose(f) != 0 || bad)
        return err_set(e, ERR_IO, "%s.tsv: cannot write the plot data",
                       plot_info[p].name);
    return 0;
}

/* The gnuplot variables naming the policies drawn: n, policy1 .. policyN. */
static void gp_policies(const rpt *r, FILE *v)
{
    fprintf(v, "n=%d; ", r->n_active);
    for (int i = 0; i < r->n_active; i++) {
        char var[32];
        snprintf(var, sizeof var, "policy%d", i + 1);
        gnuplot_string(v, var, active_name(r, i));
    }
}

/* Draws plot p with the variables written into the memstream v (closed
 * here, whatever happens) over *vars, plus datafile: its data file. */
static int draw_with(rpt *r, int p, FILE *v, char **vars, err_t *e)
{
    char name[64], path[PATH_MAX];
    snprintf(name, sizeof name, "%s.tsv", plot_info[p].name);
    int rc = gnuplot_path(r->gp, name, path, sizeof path, e);
    if (rc == 0)
        gnuplot_string(v, "datafile", path);
    int bad = ferror(v);
    if (fclose(v) != 0 || bad)
        return err_set(e, ERR_NOMEM, "out of memory");
    if (rc != 0)
        return rc;
    return gnuplot_draw(r->gp, plot_info[p].name, *vars, plot_info[p].name,
                        &r->svg[p], e);
}

/* ---- plot 1: Imbalance Score per layer ------------------------------ */

/* Data: one row per MoE layer, one column per policy: mean IS over steps
 * and seeds. Finding: the lowest and highest mean IS (compare's, the
 * table's figures) and the worst (policy, layer) of the plotted means. */
static int plot_imbalance(rpt *r, err_t *e)
{
    sqlite3_stmt *st = NULL;
    double *v = NULL;
    char *vars = NULL;
    size_t vars_len = 0;
    FILE *f = NULL, *gv = NULL;
    int rc, lo = 0, hi = -1;
    char *out = r->finding[PLOT_IMBALANCE];

    rc = prep(r,
              "SELECT min(l.layer), max(l.layer) FROM layer_step l"
              " JOIN run r USING (run_id) WHERE r.status = 'done'"
              " AND l.moe = 1 AND l.imbalance_score IS NOT NULL",
              &st, e);
    if (rc != 0)
        goto fail;
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = db_fail(r, e, "reading the layers");
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
        rc = nomem(e);
        goto fail;
    }
    for (size_t i = 0; i < rows * cols; i++)
        v[i] = NAN;
    rc = prep(r,
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
        int a = active_index(r, col_text(st, 0));
        int layer = sqlite3_column_int(st, 1);
        if (a >= 0 && layer >= lo && layer <= hi)
            v[(size_t)(layer - lo) * cols + (size_t)a] = col_num(st, 2);
    }
    if (step != SQLITE_DONE) {
        rc = db_fail(r, e, "reading the Imbalance Scores");
        goto fail;
    }

    /* the data file, the worst cell and the y range */
    double worst = -INFINITY;
    int worst_a = -1, worst_layer = 0;
    if ((rc = data_open(r, PLOT_IMBALANCE, &f, e)) != 0)
        goto fail;
    for (size_t l = 0; l < rows; l++) {
        int any = 0;
        for (size_t a = 0; a < cols; a++)
            any |= !isnan(v[l * cols + a]);
        if (!any)
            continue; /* a dense layer between MoE layers */
        fprintf(f, "%zu", l + (size_t)lo);
        for (size_t a = 0; a < cols; a++) {
            fputc('\t', f);
            gnuplot_number(f, v[l * cols + a]);
        }
        fputc('\n', f);
    }
    for (size_t a = 0; a < cols; a++)
        for (size_t l = 0; l < rows; l++)
            if (v[l * cols + a] > worst) {
                worst = v[l * cols + a];
                worst_a = (int)a;
                worst_layer = (int)l + lo;
            }
    rc = data_close(PLOT_IMBALANCE, f, e);
    f = NULL;
    if (rc != 0)
        goto fail;

    if (worst_a < 0) {
        add(out, "No MoE layer recorded an Imbalance Score, so there is "
                 "nothing to compare.");
    } else {
        int best = -1, most = -1;
        for (int a = 0; a < r->n_active; a++) {
            double m = active_stat(r, a, COMPARE_IMBALANCE_SCORE)->mean;
            if (isnan(m))
                continue;
            if (best < 0 ||
                m < active_stat(r, best, COMPARE_IMBALANCE_SCORE)->mean)
                best = a;
            if (most < 0 ||
                m > active_stat(r, most, COMPARE_IMBALANCE_SCORE)->mean)
                most = a;
        }
        double mb = best >= 0
                        ? active_stat(r, best, COMPARE_IMBALANCE_SCORE)->mean
                        : NAN;
        double mm = most >= 0
                        ? active_stat(r, most, COMPARE_IMBALANCE_SCORE)->mean
                        : NAN;
        if (best < 0)
            add(out, "No policy has a mean Imbalance Score");
        else if (r->n_active == 1)
            add(out, "%s has a mean Imbalance Score of %.3f",
                active_name(r, best), mb);
        else if (mb == mm)
            add(out, "Every policy has the same mean Imbalance Score (%.3f)",
                mb);
        else
            add(out,
                "%s has the lowest mean Imbalance Score (%.3f vs %.3f for "
                "%s)",
                active_name(r, best), mb, mm, active_name(r, most));
        add(out, "; the worst layer is %d under %s at %.3f.", worst_layer,
            active_name(r, worst_a), worst);
    }

    if (!(gv = open_memstream(&vars, &vars_len))) {
        rc = nomem(e);
        goto fail;
    }
    gp_policies(r, gv);
    fprintf(gv, "xmin=%d; xmax=%d; nodata=%d; ymax=", lo,
            worst_a < 0 ? lo : hi, worst_a < 0);
    gnuplot_number(gv, worst_a < 0 ? 0 : worst);
    fputs("; ", gv);
    rc = draw_with(r, PLOT_IMBALANCE, gv, &vars, e);
fail:
    if (f)
        fclose(f);
    (void)sqlite3_finalize(st);
    free(vars);
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
    int rc = prep(r,
                  "SELECT run_id, seed FROM run WHERE policy = ?"
                  " AND status = 'done' ORDER BY seed LIMIT 1",
                  &st, e);
    if (rc != 0)
        return rc;
    (void)sqlite3_bind_text(st, 1, active_name(r, h->active), -1,
                            SQLITE_STATIC);
    if (sqlite3_step(st) == SQLITE_ROW) {
        run_id = sqlite3_column_int64(st, 0);
        h->seed = sqlite3_column_int64(st, 1);
    }
    (void)sqlite3_finalize(st);
    st = NULL;
    if (run_id < 0)
        return db_fail(r, e, "reading the runs");

    rc = prep(r,
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
        rc = nomem(e);
        goto fail;
    }
    for (size_t i = 0; i < cells; i++)
        load[i] = NAN;
    rc = prep(r,
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
        rc = db_fail(r, e, "reading the device loads");
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
        add(out, "%s %s (seed %lld), every device carries the mean load in "
                 "every step",
            under, active_name(r, h->active), h->seed);
        return;
    }
    add(out, "%s %s (seed %lld), device %d carries the most load, %.2fx the "
             "mean device over the %d step%s",
        under, active_name(r, h->active), h->seed, busiest,
        mean > 0 ? h->total[busiest] / mean : 1.0, h->steps,
        h->steps == 1 ? "" : "s");
    if (h->steps > 1)
        add(out, ", and the most loaded cell is device %d in step %d at "
                 "%.2fx",
            hot_d, hot_s, hot);
}

/* Panels: the baseline (or the first policy with a finished run) and the
 * policy with the most tokens/s per device, if another. Data: one block
 * per panel of (step, device, load / step mean). Finding: per panel, the
 * device with the largest total over the steps and the hottest cell. */
static int plot_heatmap(rpt *r, err_t *e)
{
    heat_panel h[2];
    int n = 1, rc = 0;
    char *vars = NULL;
    size_t vars_len = 0;
    FILE *f = NULL, *gv = NULL;
    char *out = r->finding[PLOT_HEATMAP];
    memset(h, 0, sizeof h);

    int base = active_index(r, compare_policy_name(r->cmp,
                                                   compare_baseline(r->cmp)));
    h[0].active = base >= 0 ? base : 0;
    int best = -1;
    for (int a = 0; a < r->n_active; a++) {
        double m = active_stat(r, a, COMPARE_TOKENS_PER_S_PER_DEVICE)->mean;
        if (!isnan(m) &&
            (best < 0 ||
             m > active_stat(r, best, COMPARE_TOKENS_PER_S_PER_DEVICE)->mean))
            best = a;
    }
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
    if ((rc = data_open(r, PLOT_HEATMAP, &f, e)) != 0)
        goto fail;
    for (int i = 0; i < n; i++) {
        if (i)
            fputs("\n\n", f);
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
                fprintf(f, "%d\t%d\t", s, d);
                gnuplot_number(f, x);
                fputc('\n', f);
            }
    }
    rc = data_close(PLOT_HEATMAP, f, e);
    f = NULL;
    if (rc != 0)
        goto fail;

    if (n == 0)
        add(out, "No per-device rows were recorded.");
    for (int i = 0; i < n; i++) {
        if (i)
            add(out, "; ");
        heat_finding(r, &h[i], i == 0, out);
    }
    if (n)
        add(out, ".");

    if (!(gv = open_memstream(&vars, &vars_len))) {
        rc = nomem(e);
        goto fail;
    }
    fprintf(gv, "n=%d; nodata=%d; steps=%d; devices=%d; cbmin=", n, n == 0,
            steps, devices);
    gnuplot_number(gv, 1 - dev);
    fputs("; cbmax=", gv);
    gnuplot_number(gv, 1 + dev);
    fputs("; ", gv);
    for (int i = 0; i < n; i++) {
        char var[16], title[512];
        snprintf(var, sizeof var, "title%d", i + 1);
        snprintf(title, sizeof title, "%s, seed %lld",
                 active_name(r, h[i].active), h[i].seed);
        gnuplot_string(gv, var, title);
    }
    rc = draw_with(r, PLOT_HEATMAP, gv, &vars, e);
fail:
    if (f)
        fclose(f);
    for (int i = 0; i < 2; i++) {
        free(h[i].ratio);
        free(h[i].total);
    }
    free(vars);
    return rc;
}

/* ---- plot 3: time breakdown ----------------------------------------- */

/* Data: per policy the mean over steps and seeds of compute, all-to-all,
 * idle and other (ms). Finding: per policy the idle and all-to-all
 * shares (compare's, as in the table) with the idle and step ms drawn. */
static int plot_time(rpt *r, err_t *e)
{
    sqlite3_stmt *st = NULL;
    char *vars = NULL;
    size_t vars_len = 0;
    FILE *f = NULL, *gv = NULL;
    int rc, drawn = 0;
    double ymax = 0;
    char *out = r->finding[PLOT_TIME];

    rc = prep(r,
              "SELECT avg(s.step_s), avg(s.compute_s), avg(s.a2a_s),"
              " avg(s.idle_s), avg(s.other_s) FROM step s"
              " JOIN run r USING (run_id)"
              " WHERE r.status = 'done' AND r.policy = ?",
              &st, e);
    if (rc != 0)
        goto fail;
    if ((rc = data_open(r, PLOT_TIME, &f, e)) != 0)
        goto fail;
    for (int a = 0; a < r->n_active; a++) {
        (void)sqlite3_bind_text(st, 1, active_name(r, a), -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_ROW) {
            rc = db_fail(r, e, "reading the step times");
            goto fail;
        }
        double ms[5], sum = 0;
        for (int k = 0; k < 5; k++)
            ms[k] = col_num(st, k) * 1e3;
        (void)sqlite3_reset(st);
        fprintf(f, "%d", a);
        for (int k = 1; k < 5; k++) {
            fputc('\t', f);
            gnuplot_number(f, ms[k]);
            sum += ms[k];
        }
        fputc('\n', f);
        if (!isnan(sum)) {
            drawn++;
            ymax = sum > ymax ? sum : ymax;
        }
        const compare_stat *idle = active_stat(r, a, COMPARE_IDLE_SHARE);
        const compare_stat *a2a = active_stat(r, a, COMPARE_A2A_SHARE);
        add(out, "%s%s spends %s%% of each step idle at MoE barriers (%s of "
                 "%s ms) and %s%% in all-to-all",
            a ? "; " : "", active_name(r, a), SIG(idle->mean * 100, 3),
            SIG(ms[3], 3), SIG(ms[0], 4), SIG(a2a->mean * 100, 3));
    }
    add(out, ".");
    rc = data_close(PLOT_TIME, f, e);
    f = NULL;
    if (rc != 0)
        goto fail;

    if (!(gv = open_memstream(&vars, &vars_len))) {
        rc = nomem(e);
        goto fail;
    }
    gp_policies(r, gv);
    fprintf(gv, "nodata=%d; ymax=", drawn == 0);
    gnuplot_number(gv, ymax);
    fputs("; ", gv);
    rc = draw_with(r, PLOT_TIME, gv, &vars, e);
fail:
    if (f)
        fclose(f);
    (void)sqlite3_finalize(st);
    free(vars);
    return rc;
}

/* ---- plot 4: tokens/s per device ------------------------------------ */

/* "(95% interval 5011 to 5159)" or "(one seed: no interval)". */
static void ci_text(char *out, const compare_stat *s)
{
    if (isnan(s->ci_half))
        add(out, " (one seed: no interval)");
    else
        add(out, " (95%% interval %s to %s)", SIG(s->ci_lo, 4),
            SIG(s->ci_hi, 4));
}

/* Data and numbers: compare's means and intervals. Finding: the policy
 * with the most tokens/s per device against the baseline (compare's
 * ratio), and whether their intervals overlap. */
static int plot_throughput(rpt *r, err_t *e)
{
    char *vars = NULL;
    size_t vars_len = 0;
    FILE *f = NULL, *gv = NULL;
    int rc, best = -1, drawn = 0;
    double ymax = 0;
    char *out = r->finding[PLOT_THROUGHPUT];
    const compare_metric m = COMPARE_TOKENS_PER_S_PER_DEVICE;

    if ((rc = data_open(r, PLOT_THROUGHPUT, &f, e)) != 0)
        goto fail;
    for (int a = 0; a < r->n_active; a++) {
        const compare_stat *s = active_stat(r, a, m);
        fprintf(f, "%d\t", a);
        gnuplot_number(f, s->mean);
        fputc('\t', f);
        gnuplot_number(f, s->ci_lo);
        fputc('\t', f);
        gnuplot_number(f, s->ci_hi);
        fputc('\n', f);
        double top = isnan(s->ci_hi) ? s->mean : s->ci_hi;
        if (!isnan(top)) {
            drawn++;
            ymax = top > ymax ? top : ymax;
        }
        if (!isnan(s->mean) &&
            (best < 0 || s->mean > active_stat(r, best, m)->mean))
            best = a;
    }
    rc = data_close(PLOT_THROUGHPUT, f, e);
    f = NULL;
    if (rc != 0)
        goto fail;

    int base = active_index(r, compare_policy_name(r->cmp,
                                                   compare_baseline(r->cmp)));
    if (best < 0) {
        add(out, "No finished run recorded a throughput.");
    } else if (r->n_active == 1) {
        const compare_stat *s = active_stat(r, best, m);
        add(out, "%s delivers %s tokens/s per device", active_name(r, best),
            SIG(s->mean, 4));
        ci_text(out, s);
        add(out, ".");
    } else if (base < 0) {
        add(out,
            "%s delivers the most tokens/s per device (%s); the baseline, "
            "%s, has no finished run to compare with.",
            active_name(r, best), SIG(active_stat(r, best, m)->mean, 4),
            compare_policy_name(r->cmp, compare_baseline(r->cmp)));
    } else {
        /* the best against the baseline, or the baseline against the
         * runner-up when it is the best itself */
        int other = -1;
        if (best == base)
            for (int a = 0; a < r->n_active; a++)
                if (a != base && !isnan(active_stat(r, a, m)->mean) &&
                    (other < 0 ||
                     active_stat(r, a, m)->mean >
                         active_stat(r, other, m)->mean))
                    other = a;
        int hi_a = best, lo_a = best == base ? other : base;
        const compare_stat *hs = active_stat(r, hi_a, m);
        if (lo_a < 0) {
            add(out, "%s, the baseline, is the only policy with a throughput "
                     "(%s tokens/s per device).",
                active_name(r, best), SIG(hs->mean, 4));
        } else {
            const compare_stat *ls = active_stat(r, lo_a, m);
            if (best == base)
                add(out,
                    "%s, the baseline, delivers the most tokens/s per device "
                    "(%s); the next best, %s, delivers %.2fx as many (%s)",
                    active_name(r, hi_a), SIG(hs->mean, 4),
                    active_name(r, lo_a), ls->ratio, SIG(ls->mean, 4));
            else
                add(out,
                    "%s delivers %.2fx the tokens/s per device of %s (%s vs "
                    "%s)",
                    active_name(r, hi_a), hs->ratio, active_name(r, lo_a),
                    SIG(hs->mean, 4), SIG(ls->mean, 4));
            if (isnan(hs->ci_half) || isnan(ls->ci_half))
                add(out, "; with one seed there is no interval to tell the "
                         "difference from seed-to-seed noise.");
            else if (hs->ci_lo > ls->ci_hi)
                add(out, "; their 95%% intervals do not overlap.");
            else
                add(out, "; their 95%% intervals overlap, so the difference "
                         "is within seed-to-seed noise.");
        }
    }

    if (!(gv = open_memstream(&vars, &vars_len))) {
        rc = nomem(e);
        goto fail;
    }
    gp_policies(r, gv);
    fprintf(gv, "nodata=%d; ymax=", drawn == 0);
    gnuplot_number(gv, ymax);
    fputs("; ", gv);
    rc = draw_with(r, PLOT_THROUGHPUT, gv, &vars, e);
fail:
    if (f)
        fclose(f);
    free(vars);
    return rc;
}

/* ---- plot 5: busiest links ------------------------------------------ */

/* Data: per policy its TOP_LINKS links by mean utilization over seeds
 * (ties by name), one row per rank. Finding: each policy's busiest link. */
static int plot_links(rpt *r, err_t *e)
{
    sqlite3_stmt *st = NULL;
    char *vars = NULL;
    size_t vars_len = 0;
    FILE *f = NULL, *gv = NULL;
    int rc, ranks = 0;
    double ymax = 0;
    char *out = r->finding[PLOT_LINKS];

    r->links = calloc((size_t)r->n_active, sizeof *r->links);
    r->n_links = calloc((size_t)r->n_active, sizeof *r->n_links);
    if (!r->links || !r->n_links)
        return nomem(e);
    rc = prep(r,
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
        (void)sqlite3_bind_text(st, 1, active_name(r, a), -1, SQLITE_STATIC);
        int step = SQLITE_DONE;
        /* LIMIT keeps the rows within TOP_LINKS */
        while (r->n_links[a] < TOP_LINKS &&
               (step = sqlite3_step(st)) == SQLITE_ROW) {
            rpt_link *k = &r->links[a][r->n_links[a]];
            if (!(k->name = dup_str(col_text(st, 0)))) {
                rc = nomem(e);
                goto fail;
            }
            k->utilization = col_num(st, 1);
            r->n_links[a]++;
        }
        if (step != SQLITE_ROW && step != SQLITE_DONE) {
            rc = db_fail(r, e, "reading the links");
            goto fail;
        }
        (void)sqlite3_reset(st);
        ranks = r->n_links[a] > ranks ? r->n_links[a] : ranks;
    }

    if ((rc = data_open(r, PLOT_LINKS, &f, e)) != 0)
        goto fail;
    for (int k = 0; k < ranks; k++) {
        fprintf(f, "%d", k + 1);
        for (int a = 0; a < r->n_active; a++) {
            double u = k < r->n_links[a] ? r->links[a][k].utilization * 100
                                         : NAN;
            fputc('\t', f);
            gnuplot_number(f, u);
            if (u > ymax)
                ymax = u;
        }
        fputc('\n', f);
    }
    rc = data_close(PLOT_LINKS, f, e);
    f = NULL;
    if (rc != 0)
        goto fail;

    if (ranks == 0)
        add(out, "No link carried traffic: the runs had no all-to-all "
                 "between devices.");
    for (int a = 0, said = 0; a < r->n_active && ranks > 0; a++) {
        if (r->n_links[a] == 0) {
            add(out, "%s%s uses no link", said++ ? "; " : "",
                active_name(r, a));
            continue;
        }
        const rpt_link *k = &r->links[a][0];
        if (said++ == 0)
            add(out, "The busiest link under %s is %s, busy %s%% of the "
                     "all-to-all time",
                active_name(r, a), k->name, SIG(k->utilization * 100, 3));
        else
            add(out, "; under %s, %s at %s%%", active_name(r, a), k->name,
                SIG(k->utilization * 100, 3));
        if (r->n_links[a] == TOP_LINKS)
            add(out, " (its 10th busiest: %s%%)",
                SIG(r->links[a][TOP_LINKS - 1].utilization * 100, 3));
    }
    if (ranks > 0)
        add(out, ".");

    if (!(gv = open_memstream(&vars, &vars_len))) {
        rc = nomem(e);
        goto fail;
    }
    gp_policies(r, gv);
    fprintf(gv, "ranks=%d; nodata=%d; ymax=", ranks, ranks == 0);
    gnuplot_number(gv, ymax);
    fputs("; ", gv);
    rc = draw_with(r, PLOT_LINKS, gv, &vars, e);
fail:
    if (f)
        fclose(f);
    (void)sqlite3_finalize(st);
    free(vars);
    return rc;
}

/* ---- the plan section ----------------------------------------------- */

/* "Atlas 800I A2 x 2 nodes, moge, EP8 attention-DP16": as moesim plan
 * names a candidate (sim/plan.c). */
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

/* A latency in its unit: "34.28 ms" or "12.50 days". */
static const char *plan_latency_text(const rpt *r, char *buf, size_t n,
                                     double x)
{
    snprintf(buf, n, "%.2f %s", x, plan_is(r, "train") ? "days" : "ms");
    return buf;
}
#define LAT(r, x) plan_latency_text((r), (char[NUM_MAX]){0}, NUM_MAX, (x))

/* The cost of rank_by as read: "8 devices", "5.6 kW", "12.00 USD/h". */
static const char *plan_cost_text(const rpt *r, char *buf, size_t n,
                                  double cost)
{
    char v[NUM_MAX];
    if (isnan(cost))
        snprintf(buf, n, "unknown cost");
    else if (strcmp(r->plan.rank_by, "power") == 0)
        snprintf(buf, n, "%s kW", fmt_sig(v, sizeof v, cost * 1e-3, 3));
    else if (strcmp(r->plan.rank_by, "price") == 0)
        snprintf(buf, n, "%.2f USD/h", cost);
    else
        snprintf(buf, n, "%.0f device%s", cost, cost == 1 ? "" : "s");
    return buf;
}
#define COST(r, x) plan_cost_text((r), (char[NUM_MAX]){0}, NUM_MAX, (x))

/* Opens the plan database read-only in one read transaction and checks
 * that it holds the plan tables: a results database or any other file is
 * ERR_INPUT with what was expected. */
static int plan_open(rpt *r, err_t *e)
{
    rpt_plan *pl = &r->plan;
    sqlite3_stmt *st = NULL;
    int rc, tables = 0;
    if (sqlite3_open_v2(pl->path, &pl->db, SQLITE_OPEN_READONLY, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(pl->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
        return sql_fail(pl->db, pl->path, "cannot open the plan database",
                        e);
    int prc = sqlite3_prepare_v2(pl->db,
                                 "SELECT count(*) FROM sqlite_master WHERE "
                                 "type = 'table' AND name IN "
                                 "('plan_meta', 'plan_candidate')",
                                 -1, &st, NULL);
    if (prc == SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
        tables = sqlite3_column_int(st, 0);
    else if (sqlite3_errcode(pl->db) != SQLITE_NOTADB) {
        rc = sql_fail(pl->db, pl->path, "reading the plan", e);
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
static int plan_read_meta(rpt *r, err_t *e)
{
    rpt_plan *pl = &r->plan;
    sqlite3_stmt *st = NULL;
    int rc = sql_prep(pl->db, pl->path,
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
        rc = sql_fail(pl->db, pl->path, "reading the plan", e);
        goto fail;
    }
    pl->plan_id = sqlite3_column_int64(st, 0);
    pl->name = dup_str(col_text(st, 1));
    pl->model = dup_str(col_text(st, 2));
    pl->target = dup_str(col_text(st, 3));
    pl->rank_by = dup_str(col_text(st, 4));
    pl->created_at = dup_str(col_text(st, 5));
    if (!pl->name || !pl->model || !pl->target || !pl->rank_by ||
        !pl->created_at) {
        rc = nomem(e);
        goto fail;
    }
    pl->tokens_per_s = col_num(st, 6);
    pl->train_tokens = col_num(st, 7);
    pl->limit = plan_is(r, "decode")    ? col_num(st, 8) * 1e3
                : plan_is(r, "prefill") ? col_num(st, 9) * 1e3
                                        : col_num(st, 10);
    (void)sqlite3_finalize(st);
    rc = sql_prep(pl->db, pl->path,
                  "SELECT count(*), coalesce(sum(feasible), 0),"
                  " coalesce(sum(status = 'invalid'), 0)"
                  " FROM plan_candidate WHERE plan_id = ?",
                  &st, e);
    if (rc != 0)
        return rc;
    (void)sqlite3_bind_int64(st, 1, pl->plan_id);
    if (sqlite3_step(st) != SQLITE_ROW) {
        rc = sql_fail(pl->db, pl->path, "reading the candidates", e);
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
static int plan_read_rows(rpt *r, err_t *e)
{
    rpt_plan *pl = &r->plan;
    sqlite3_stmt *st = NULL;
    const char *cost = strcmp(pl->rank_by, "power") == 0   ? "power_w"
                       : strcmp(pl->rank_by, "price") == 0 ? "price_per_hour_usd"
                                                           : "devices_total";
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
        return nomem(e);
    int rc = sql_prep(pl->db, pl->path, sql, &st, e);
    if (rc != 0)
        return rc;
    (void)sqlite3_bind_int64(st, 1, pl->plan_id);
    int step = SQLITE_DONE;
    while (pl->n_rows < pl->feasible &&
           (step = sqlite3_step(st)) == SQLITE_ROW) {
        plan_row *w = &pl->rows[pl->n_rows++];
        w->node_name = dup_str(col_text(st, 0));
        w->device_name = dup_str(col_text(st, 1));
        w->policy = dup_str(col_text(st, 2));
        if (!w->node_name || !w->device_name || !w->policy) {
            rc = nomem(e);
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
        w->tokens_per_s_per_device = col_num(st, 12);
        w->tokens_per_s_total = col_num(st, 13);
        w->latency = col_num(st, 14);
        w->cost = col_num(st, 15);
        w->power_w = col_num(st, 16);
        w->price_per_hour_usd = col_num(st, 17);
        if (!(w->label = plan_label(w))) {
            rc = nomem(e);
            goto fail;
        }
    }
    if (pl->n_rows < pl->feasible && step != SQLITE_DONE)
        rc = sql_fail(pl->db, pl->path, "reading the candidates", e);
fail:
    (void)sqlite3_finalize(st);
    return rc;
}

/* Data: one row per feasible candidate (devices, tokens/s per device,
 * series), the series being the policies with a feasible candidate in
 * order of their first. Finding: the policy whose best candidate has the
 * most tokens/s per device (ties: fewer devices, then rank) against the
 * runner-up policy's best. */
static int plot_plan_throughput(rpt *r, err_t *e)
{
    const rpt_plan *pl = &r->plan;
    const int p = PLOT_PLAN_THROUGHPUT;
    char *out = r->finding[p];
    char *vars = NULL;
    size_t vars_len = 0;
    FILE *f = NULL, *gv = NULL;
    int *series = NULL; /* per row: its series, 0-based */
    int *best = NULL;   /* per series: its row with the most tokens/s */
    int n = 0, rc = 0, xmin = 0, xmax = 0;
    double ymax = 0;

    series = calloc((size_t)pl->n_rows + 1, sizeof *series);
    best = calloc((size_t)pl->n_rows + 1, sizeof *best);
    if (!series || !best) {
        rc = nomem(e);
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
    if ((rc = data_open(r, p, &f, e)) != 0)
        goto fail;
    for (int i = 0; i < pl->n_rows; i++) {
        fprintf(f, "%d\t", pl->rows[i].devices);
        gnuplot_number(f, pl->rows[i].tokens_per_s_per_device);
        fprintf(f, "\t%d\n", series[i] + 1);
    }
    rc = data_close(p, f, e);
    f = NULL;
    if (rc != 0)
        goto fail;

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
        add(out, "No candidate is feasible, so there is no throughput to "
                 "compare.");
    } else {
        const plan_row *t = &pl->rows[best[top]];
        add(out, "%s reaches %s tokens/s per device at %d devices (%s)",
            t->policy, SIG(t->tokens_per_s_per_device, 4), t->devices,
            t->node_name);
        if (next >= 0) {
            const plan_row *u = &pl->rows[best[next]];
            add(out, ", %.2fx %s's best (%s at %d devices, %s)",
                t->tokens_per_s_per_device / u->tokens_per_s_per_device,
                u->policy, SIG(u->tokens_per_s_per_device, 4), u->devices,
                u->node_name);
        }
        add(out, ".");
    }

    if (!(gv = open_memstream(&vars, &vars_len))) {
        rc = nomem(e);
        goto fail;
    }
    fprintf(gv, "n=%d; ", n);
    for (int k = 0; k < n; k++) {
        char var[32];
        snprintf(var, sizeof var, "policy%d", k + 1);
        gnuplot_string(gv, var, pl->rows[best[k]].policy);
    }
    fprintf(gv, "xmin=%d; xmax=%d; logx=%d; nodata=%d; ymax=", xmin, xmax,
            xmin > 0 && xmax >= 4 * xmin, n == 0);
    gnuplot_number(gv, ymax);
    fputs("; ", gv);
    rc = draw_with(r, p, gv, &vars, e);
fail:
    if (f)
        fclose(f);
    free(vars);
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
static int plot_plan_pareto(rpt *r, err_t *e)
{
    const rpt_plan *pl = &r->plan;
    const int p = PLOT_PLAN_PARETO;
    char *out = r->finding[p];
    char *vars = NULL;
    size_t vars_len = 0;
    FILE *f = NULL, *gv = NULL;
    const plan_row **front = NULL;
    int n_front = 0, drawn = 0, rc = 0;
    double xmax = isnan(pl->limit) ? 0 : pl->limit, ymax = 0;

    front = calloc((size_t)pl->n_rows + 1, sizeof *front);
    if (!front)
        return nomem(e);
    if ((rc = data_open(r, p, &f, e)) != 0)
        goto fail;
    for (int i = 0; i < pl->n_rows; i++) {
        const plan_row *w = &pl->rows[i];
        if (isnan(w->cost) || isnan(w->latency))
            continue;
        gnuplot_number(f, w->latency);
        fputc('\t', f);
        gnuplot_number(f, w->cost);
        fputc('\n', f);
        drawn++;
        xmax = w->latency > xmax ? w->latency : xmax;
        ymax = w->cost > ymax ? w->cost : ymax;
        if (w->pareto)
            front[n_front++] = w;
    }
    qsort(front, (size_t)n_front, sizeof *front, pareto_cmp);
    fputs("\n\n", f);
    for (int k = 0; k < n_front; k++) {
        gnuplot_number(f, front[k]->latency);
        fputc('\t', f);
        gnuplot_number(f, front[k]->cost);
        fputc('\n', f);
    }
    if (n_front == 0) /* an empty block would end the file early */
        fputs("NaN\tNaN\n", f);
    rc = data_close(p, f, e);
    f = NULL;
    if (rc != 0)
        goto fail;

    const char *axis = strcmp(pl->rank_by, "power") == 0   ? "power"
                       : strcmp(pl->rank_by, "price") == 0 ? "price"
                                                           : "devices";
    if (pl->n_rows == 0) {
        add(out, "No candidate is feasible, so there is no front.");
    } else if (n_front == 0) {
        add(out, "No feasible candidate has a known %s (the hardware files "
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
        add(out, "%d candidate%s on the Pareto front of %s against %s",
            n_front, n_front == 1 ? " is" : "s are", axis,
            plan_latency_name(r));
        if (cheap == fast)
            add(out, ": %s, both the cheapest and the fastest, with %s at "
                     "%s",
                cheap->label, COST(r, cheap->cost), LAT(r, cheap->latency));
        else
            add(out, "; the cheapest meeting the limit is %s, with %s at "
                     "%s; the fastest, %s, takes %s at %s",
                cheap->label, COST(r, cheap->cost), LAT(r, cheap->latency),
                fast->label, COST(r, fast->cost), LAT(r, fast->latency));
        if (!isnan(pl->limit))
            add(out, " (limit %s)", LAT(r, pl->limit));
        add(out, ".");
    }

    if (!(gv = open_memstream(&vars, &vars_len))) {
        rc = nomem(e);
        goto fail;
    }
    char label[64];
    snprintf(label, sizeof label, "%s (%s)",
             plan_is(r, "train") ? "training time" : plan_latency_name(r),
             plan_is(r, "train") ? "days" : "ms");
    gnuplot_string(gv, "xlabel", label);
    gnuplot_string(gv, "ylabel",
                   strcmp(axis, "power") == 0   ? "power, all replicas (W)"
                   : strcmp(axis, "price") == 0 ? "price, all replicas (USD/h)"
                                                : "devices, all replicas");
    fprintf(gv, "nodata=%d; limit=", drawn == 0);
    gnuplot_number(gv, pl->limit);
    fputs("; xmax=", gv);
    gnuplot_number(gv, xmax);
    fputs("; ymax=", gv);
    gnuplot_number(gv, ymax);
    fputs("; ", gv);
    rc = draw_with(r, p, gv, &vars, e);
fail:
    if (f)
        fclose(f);
    free(vars);
    free(front);
    return rc;
}

/* ---- the page ------------------------------------------------------- */

static const char css[] =
    "body{font-family:system-ui,-apple-system,\"Segoe UI\",Roboto,"
    "\"Helvetica Neue\",Arial,sans-serif;color:#222;background:#fff;"
    "max-width:980px;margin:2em auto;padding:0 1em;line-height:1.45}\n"
    "h1{font-size:1.6em;margin:0 0 .2em}\n"
    "h2{font-size:1.25em;border-bottom:1px solid #ddd;padding-bottom:.2em;"
    "margin-top:2.2em}\n"
    "h3{font-size:1.05em;margin-top:1.4em}\n"
    "table{border-collapse:collapse;margin:.6em 0;font-size:.9em}\n"
    "th,td{border:1px solid #ddd;padding:.3em .6em;text-align:left;"
    "vertical-align:top}\n"
    "th{background:#f4f4f4;font-weight:600}\n"
    "td.num{text-align:right;font-variant-numeric:tabular-nums;"
    "white-space:nowrap}\n"
    ".ci{color:#666;font-size:.88em}\n"
    ".muted{color:#666}\n"
    ".finding{background:#f2f7fb;border-left:4px solid #0072b2;"
    "padding:.5em .8em;margin:.8em 0}\n"
    "figure{margin:1em 0}\n"
    "figure svg{display:block;max-width:100%;height:auto}\n"
    "figcaption{color:#555;font-size:.9em;margin-top:.4em}\n"
    "code,.hash{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,"
    "monospace;font-size:.85em}\n"
    ".hash{word-break:break-all}\n"
    "pre{background:#f7f7f7;padding:.8em;overflow:auto;font-size:.85em}\n"
    "ul.findings li{margin:.3em 0}\n";

/* Marks the body once the page, every SVG included, has loaded: what the
 * headless-browser test looks for. */
static const char load_script[] =
    "<script>\n"
    "window.addEventListener(\"load\", function () {\n"
    "  document.body.dataset.plots = "
    "String(document.querySelectorAll(\"figure svg\").length);\n"
    "  document.body.dataset.loaded = \"yes\";\n"
    "});\n"
    "</script>\n";

static void kv_row(FILE *f, const char *key, const char *value)
{
    fputs("<tr><th>", f);
    html(f, key);
    fputs("</th><td>", f);
    html(f, value);
    fputs("</td></tr>\n", f);
}

static int write_summary(rpt *r, FILE *f, err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc;
    const char *desc = scenario_value(r, "description");

    fputs("<section id=\"scenario\">\n<h2>1. Scenario and hardware</h2>\n"
          "<table class=\"kv\">\n",
          f);
    kv_row(f, "scenario", r->name);
    if (desc && *desc)
        kv_row(f, "description", desc);
    kv_row(f, "phase", r->phase);
    for (size_t k = 0; k < N_SCENARIO_KEYS; k++) {
        const char *v = scenario_value(r, scenario_keys[k]);
        if (v && strcmp(scenario_keys[k], "phase") != 0)
            kv_row(f, scenario_keys[k], v);
    }
    char devices[32];
    snprintf(devices, sizeof devices, "%d", r->devices);
    kv_row(f, "devices simulated", devices);
    kv_row(f, "moesim version", r->version);
    kv_row(f, "results created at", r->created_at);
    fputs("</table>\n", f);

    fputs("<h3>Policies</h3>\n<table>\n<tr><th>policy</th><th>router</th>"
          "<th>placement</th><th>finished seeds</th><th>runs not done "
          "(not counted)</th></tr>\n",
          f);
    rc = prep(r,
              "SELECT router, placement FROM run WHERE policy = ?"
              " ORDER BY status = 'done' DESC, seed LIMIT 1",
              &st, e);
    if (rc != 0)
        return rc;
    for (int p = 0; p < compare_policies(r->cmp); p++) {
        const char *name = compare_policy_name(r->cmp, p);
        (void)sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
        int step = sqlite3_step(st);
        if (step != SQLITE_ROW && step != SQLITE_DONE) {
            (void)sqlite3_finalize(st);
            return db_fail(r, e, "reading the runs");
        }
        fputs("<tr><td>", f);
        html(f, name);
        fputs("</td><td>", f);
        html(f, step == SQLITE_ROW ? col_text(st, 0) : "-");
        fputs("</td><td>", f);
        html(f, step == SQLITE_ROW ? col_text(st, 1) : "-");
        fprintf(f, "</td><td class=\"num\">%d</td><td class=\"num\">%d</td>"
                   "</tr>\n",
                compare_runs_done(r->cmp, p), compare_runs_not_done(r->cmp, p));
        (void)sqlite3_reset(st);
    }
    (void)sqlite3_finalize(st);
    st = NULL;
    fputs("</table>\n", f);

    fputs("<h3>Files</h3>\n<table>\n<tr><th>role</th><th>path</th>"
          "<th>SHA-256</th></tr>\n",
          f);
    rc = prep(r,
              "SELECT role, path, sha256 FROM scenario_file ORDER BY position",
              &st, e);
    if (rc != 0)
        return rc;
    int step, files = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        fputs("<tr><td>", f);
        html(f, col_text(st, 0));
        fputs("</td><td><code>", f);
        html(f, col_text(st, 1));
        fputs("</code></td><td class=\"hash\">", f);
        html(f, col_text(st, 2));
        fputs("</td></tr>\n", f);
        files++;
    }
    (void)sqlite3_finalize(st);
    if (step != SQLITE_DONE)
        return db_fail(r, e, "reading the scenario files");
    if (files == 0)
        fputs("<tr><td colspan=\"3\" class=\"muted\">no file recorded"
              "</td></tr>\n",
              f);
    fputs("</table>\n<details><summary>The scenario file as run</summary>"
          "<pre>",
          f);
    html(f, r->text);
    fputs("</pre></details>\n</section>\n", f);
    return 0;
}

/* One cell "mean [lo, hi]": the half-width to two significant digits and
 * the mean and bounds rounded to the same place (as moesim compare); with
 * one seed the mean to four significant digits and no interval. */
static void mean_cell(FILE *f, const compare_stat *s, double scale)
{
    char a[NUM_MAX], b[NUM_MAX], c[NUM_MAX];
    double mean = s->mean * scale;
    if (isnan(s->ci_half)) {
        fprintf(f, "<td class=\"num\">%s <span class=\"ci\">(one seed)"
                   "</span></td>",
                fmt_sig(a, sizeof a, mean, 4));
        return;
    }
    double half = s->ci_half * scale;
    int d = compare_decimals(mean, half);
    fprintf(f, "<td class=\"num\">%s <span class=\"ci\">[%s, %s]</span></td>",
            fmt_round(a, sizeof a, mean, d),
            fmt_round(b, sizeof b, s->ci_lo * scale, d),
            fmt_round(c, sizeof c, s->ci_hi * scale, d));
}

static void write_comparison(const rpt *r, FILE *f)
{
    int n = compare_policies(r->cmp);
    int base = compare_baseline(r->cmp);
    fputs("<section id=\"comparison\">\n<h2>2. Comparison</h2>\n<p>Each "
          "figure is the mean over the policy's finished seeds with the 95% "
          "confidence interval of that mean in brackets (Student t; none "
          "with one seed), and the ratio of the mean to the baseline, ",
          f);
    html(f, compare_policy_name(r->cmp, base));
    fputs(". Shares are of the step time.</p>\n<table>\n<tr><th rowspan=\"2\">"
          "metric</th>",
          f);
    for (int p = 0; p < n; p++) {
        fputs("<th colspan=\"2\">", f);
        html(f, compare_policy_name(r->cmp, p));
        fputs(p == base ? " (baseline)</th>" : "</th>", f);
    }
    fputs("</tr>\n<tr>", f);
    for (int p = 0; p < n; p++)
        fputs("<th>mean [95% CI]</th><th>ratio</th>", f);
    fputs("</tr>\n<tr><td>finished seeds</td>", f);
    for (int p = 0; p < n; p++)
        fprintf(f, "<td class=\"num\" colspan=\"2\">%d</td>",
                compare_runs_done(r->cmp, p));
    fputs("</tr>\n", f);
    for (int m = 0; m < COMPARE_METRIC_COUNT; m++) {
        if (!compare_applies(r->cmp, (compare_metric)m))
            continue;
        fputs("<tr><td>", f);
        html(f, metric_row[m].label);
        fputs("</td>", f);
        for (int p = 0; p < n; p++) {
            const compare_stat *s = compare_get(r->cmp, p, (compare_metric)m);
            if (compare_runs_done(r->cmp, p) == 0) {
                fputs("<td colspan=\"2\" class=\"muted\">no finished runs</td>",
                      f);
                continue;
            }
            if (s->n == 0)
                fputs("<td class=\"num\">n/a</td>", f);
            else
                mean_cell(f, s, metric_row[m].scale);
            if (isnan(s->ratio))
                fputs("<td class=\"num\">n/a</td>", f);
            else
                fprintf(f, "<td class=\"num\">%.2f\xc3\x97</td>", s->ratio);
        }
        fputs("</tr>\n", f);
    }
    fputs("</table>\n</section>\n", f);
}

/* Plot p's finding and figure with its caption. */
static void write_figure(const rpt *r, FILE *f, int p)
{
    fputs("<p class=\"finding\">", f);
    html(f, r->finding[p]);
    fputs("</p>\n<figure>\n", f);
    fputs(r->svg[p], f);
    fputs("\n<figcaption>", f);
    html(f, plot_info[p].intro);
    fputs("</figcaption>\n</figure>\n", f);
}

static void write_plot(const rpt *r, FILE *f, int p)
{
    fprintf(f, "<section id=\"%s\">\n<h2>%d. ", plot_info[p].name, p + 3);
    html(f, plot_info[p].heading);
    fputs("</h2>\n", f);
    write_figure(r, f, p);
    if (p == PLOT_LINKS && r->n_active > 0) {
        int ranks = 0;
        for (int a = 0; a < r->n_active; a++)
            ranks = r->n_links[a] > ranks ? r->n_links[a] : ranks;
        if (ranks > 0) {
            fputs("<details><summary>The links by rank</summary>\n<table>\n"
                  "<tr><th>rank</th>",
                  f);
            for (int a = 0; a < r->n_active; a++) {
                fputs("<th>", f);
                html(f, active_name(r, a));
                fputs("</th>", f);
            }
            fputs("</tr>\n", f);
            for (int k = 0; k < ranks; k++) {
                fprintf(f, "<tr><td class=\"num\">%d</td>", k + 1);
                for (int a = 0; a < r->n_active; a++) {
                    fputs("<td>", f);
                    if (k < r->n_links[a]) {
                        char u[NUM_MAX];
                        html(f, r->links[a][k].name);
                        fprintf(f, " <span class=\"ci\">%s%%</span>",
                                fmt_sig(u, sizeof u,
                                        r->links[a][k].utilization * 100, 3));
                    }
                    fputs("</td>", f);
                }
                fputs("</tr>\n", f);
            }
            fputs("</table>\n</details>\n", f);
        }
    }
    fputs("</section>\n", f);
}

/* "35% (27070 vs 20000 tokens/s)": how far x beats the bound, as moesim
 * plan prints it (above a minimum, below a limit). */
static void margin_row(FILE *f, const char *key, double x, double bound,
                       int above, const char *unit, int decimals)
{
    char v[160];
    double m = above ? (x - bound) / bound : (bound - x) / bound;
    snprintf(v, sizeof v, "%.0f%% (%.*f vs %s %.*f %s)", 100 * m, decimals,
             x, above ? "target" : "limit", decimals, bound, unit);
    kv_row(f, key, v);
}

/* The plan section: settings, counts and the recommendation, then the two
 * plots; number: its place among the page's sections. */
static void write_plan(const rpt *r, FILE *f, int number)
{
    const rpt_plan *pl = &r->plan;
    char v[512];
    fprintf(f, "<section id=\"plan\">\n<h2>%d. Capacity plan</h2>\n<p>",
            number);
    snprintf(v, sizeof v, "Plan %lld of ", pl->plan_id);
    html(f, v);
    fputs("<code>", f);
    html(f, pl->path);
    fputs("</code>: ", f);
    html(f, pl->name);
    fputs(" (", f);
    html(f, pl->model);
    fputs("), written by moesim plan", f);
    if (*pl->created_at) {
        fputs(" at ", f);
        html(f, pl->created_at);
    }
    fputs(". Feasible candidates are ranked by ", f);
    html(f, pl->rank_by);
    fputs(", ties broken as sim/PLAN.md describes (which also has the "
          "search and the sizing).</p>\n<table class=\"kv\">\n",
          f);

    if (plan_is(r, "train"))
        snprintf(v, sizeof v, "train: %.4g tokens", pl->train_tokens);
    else
        snprintf(v, sizeof v, "%s: %.0f %s tokens/s, the whole deployment",
                 pl->target, pl->tokens_per_s,
                 plan_is(r, "decode") ? "output" : "input");
    kv_row(f, "target", v);
    snprintf(v, sizeof v, "%s \xe2\x89\xa4 %s", plan_latency_name(r),
             LAT(r, pl->limit));
    kv_row(f, "limit", v);
    snprintf(v, sizeof v, "%d", pl->feasible);
    kv_row(f, "feasible candidates", v);
    snprintf(v, sizeof v, "%d", pl->candidates - pl->feasible - pl->invalid);
    kv_row(f, "infeasible candidates (simulated)", v);
    snprintf(v, sizeof v, "%d (break a scenario rule, not simulated)",
             pl->invalid);
    kv_row(f, "invalid layouts", v);

    const plan_row *w = pl->n_rows > 0 && pl->rows[0].rank == 1
                            ? &pl->rows[0]
                            : NULL;
    if (!w) {
        kv_row(f, "recommendation", "none: no candidate meets the target");
    } else {
        kv_row(f, "recommendation", w->label);
        kv_row(f, "node", w->node_name);
        snprintf(v, sizeof v, "%d per instance", w->nodes);
        kv_row(f, "nodes", v);
        kv_row(f, "policy", w->policy);
        snprintf(v, sizeof v, "EP%d, attention-DP%d", w->ep_size,
                 w->attn_dp_size);
        kv_row(f, "layout", v);
        snprintf(v, sizeof v, "%d sequences per device", w->batch_per_device);
        kv_row(f, "batch", v);
        if (plan_is(r, "train"))
            snprintf(v, sizeof v, "%d x %s", w->devices_total,
                     w->device_name);
        else
            snprintf(v, sizeof v, "%d x %s (%d replica%s of %d)",
                     w->devices_total, w->device_name, w->replicas,
                     w->replicas == 1 ? "" : "s", w->devices);
        kv_row(f, "devices", v);
        if (isnan(w->power_w))
            kv_row(f, "power", "unknown (the hardware files do not say)");
        else {
            snprintf(v, sizeof v, "%s kW", SIG(w->power_w * 1e-3, 3));
            kv_row(f, "power", v);
        }
        if (!isnan(w->price_per_hour_usd)) {
            snprintf(v, sizeof v, "%.2f USD/h", w->price_per_hour_usd);
            kv_row(f, "price", v);
        }
        if (!plan_is(r, "train"))
            margin_row(f, "throughput margin", w->tokens_per_s_total,
                       pl->tokens_per_s, 1, "tokens/s", 0);
        snprintf(v, sizeof v, "%s margin", plan_latency_name(r));
        margin_row(f, v, w->latency, pl->limit, 0,
                   plan_is(r, "train") ? "days" : "ms", 2);
    }
    fputs("</table>\n", f);
    for (int p = PLOT_COUNT; p < PLOT_ALL; p++) {
        fprintf(f, "<h3 id=\"%s\">", plot_info[p].name);
        html(f, plot_info[p].heading);
        fputs("</h3>\n", f);
        write_figure(r, f, p);
    }
    fputs("</section>\n", f);
}

/* The findings list: each plot drawn, linked to it. */
static void write_findings(const rpt *r, FILE *f)
{
    fputs("<section id=\"findings\">\n<h2>Findings</h2>\n"
          "<ul class=\"findings\">\n",
          f);
    for (int p = 0; p < PLOT_ALL; p++) {
        if (p < PLOT_COUNT ? !r->db_path : !r->plan.path)
            continue;
        fprintf(f, "<li><a href=\"#%s\">", plot_info[p].name);
        html(f, plot_info[p].heading);
        fputs("</a>: ", f);
        html(f, r->finding[p]);
        fputs("</li>\n", f);
    }
    fputs("</ul>\n</section>\n", f);
}

/* A page of the plan alone (no results database). */
static void write_plan_page(const rpt *r, FILE *f)
{
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
          "<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, "
          "initial-scale=1\">\n<title>moesim report: ",
          f);
    html(f, r->plan.name);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", css);
    fputs("<h1>Capacity plan: ", f);
    html(f, r->plan.name);
    fputs("</h1>\n", f);
    write_findings(r, f);
    write_plan(r, f, 1);
    fputs(load_script, f);
    fputs("</body>\n</html>\n", f);
}

static int write_page(rpt *r, FILE *f, err_t *e)
{
    if (!r->db_path) {
        write_plan_page(r, f);
        return 0;
    }
    fputs("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
          "<meta charset=\"utf-8\">\n"
          "<meta name=\"viewport\" content=\"width=device-width, "
          "initial-scale=1\">\n<title>moesim report: ",
          f);
    html(f, r->name);
    fprintf(f, "</title>\n<style>\n%s</style>\n</head>\n<body>\n", css);
    fputs("<h1>MoE routing report: ", f);
    html(f, r->name);
    fputs("</h1>\n", f);
    const char *desc = scenario_value(r, "description");
    if (desc && *desc) {
        fputs("<p>", f);
        html(f, desc);
        fputs("</p>\n", f);
    }
    fputs("<p class=\"muted\">", f);
    html(f, r->phase);
    fprintf(f, " \xc2\xb7 %d of %d policies with finished runs \xc2\xb7 "
               "results written by moesim ",
            r->n_active, compare_policies(r->cmp));
    html(f, r->version);
    fputs(" at ", f);
    html(f, r->created_at);
    fputs("</p>\n", f);
    write_findings(r, f);
    int rc = write_summary(r, f, e);
    if (rc != 0)
        return rc;
    write_comparison(r, f);
    for (int p = 0; p < PLOT_COUNT; p++)
        write_plot(r, f, p);
    if (r->plan.path)
        write_plan(r, f, PLOT_COUNT + 3);
    fputs(load_script, f);
    fputs("</body>\n</html>\n", f);
    return 0;
}

/* Writes the page to a temporary file beside html_path and renames it
 * into place: readers see the old report or the whole new one. */
static int write_atomically(rpt *r, const char *html_path, err_t *e)
{
    char tmp[PATH_MAX];
    FILE *f = NULL;
    int rc = 0;
    int n = snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", html_path);
    if (n < 0 || n >= (int)sizeof tmp)
        return err_set(e, ERR_INPUT, "%s: path too long", html_path);
    int fd = mkstemp(tmp);
    if (fd < 0)
        return err_set(e, ERR_IO, "cannot write %s: %s", html_path,
                       strerror(errno));
    /* mkstemp makes the file 0600; a report is meant to be shared. */
    (void)fchmod(fd, 0644);
    if (!(f = fdopen(fd, "w"))) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", html_path,
                     strerror(errno));
        close(fd);
        goto fail;
    }
    errno = 0;
    if ((rc = write_page(r, f, e)) != 0)
        goto fail;
    if (fflush(f) != 0 || ferror(f) || fsync(fileno(f)) != 0) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", html_path,
                     errno ? strerror(errno) : "write error");
        goto fail;
    }
    int closed = fclose(f);
    f = NULL;
    if (closed != 0) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", html_path,
                     strerror(errno));
        goto fail;
    }
    if (rename(tmp, html_path) != 0) {
        rc = err_set(e, ERR_IO, "cannot write %s: %s", html_path,
                     strerror(errno));
        goto fail;
    }
    return 0;
fail:
    if (f)
        fclose(f);
    (void)unlink(tmp);
    return rc;
}

/* ---- the entry point ------------------------------------------------ */

int report_write(const char *db_path, const char *html_path,
                 const report_options *opt, err_t *e)
{
    static const report_options defaults = {NULL, NULL, NULL, NULL};
    int (*const plots[PLOT_ALL])(rpt *, err_t *) = {
        plot_imbalance, plot_heatmap,         plot_time,       plot_throughput,
        plot_links,     plot_plan_throughput, plot_plan_pareto};
    rpt *r = NULL;
    int rc = 0;

    if (!opt)
        opt = &defaults;
    if ((!db_path && !opt->plan_db) || !html_path)
        return err_set(e, ERR_INPUT,
                       "report: expected a results database or a plan "
                       "database, and an output path");
    if (!(r = calloc(1, sizeof *r)))
        return nomem(e);
    r->db_path = db_path;
    r->plan.path = opt->plan_db;

    if (db_path &&
        ((rc = compare_load(&r->cmp, db_path, opt->baseline, e)) != 0 ||
         (rc = pick_active(r, e)) != 0))
        goto fail;
    if (opt->plan_db &&
        ((rc = plan_open(r, e)) != 0 || (rc = plan_read_meta(r, e)) != 0 ||
         (rc = plan_read_rows(r, e)) != 0))
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
        if ((p < PLOT_COUNT ? db_path != NULL : opt->plan_db != NULL) &&
            (rc = plots[p](r, e)) != 0)
            goto fail;
    rc = write_atomically(r, html_path, e);
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
