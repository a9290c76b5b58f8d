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
    PLOT_COUNT
};

/* name: the script plots/<name>.gp, its files in the temporary folder, the
 * HTML id of its section and the prefix of its SVG ids. */
static const struct {
    const char *name;
    const char *heading;
    const char *intro;
} plot_info[PLOT_COUNT] = {
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

typedef struct rpt {
    const char *db_path;      /* borrowed */
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
    char *svg[PLOT_COUNT];    /* owned, ready to embed */
    char finding[PLOT_COUNT][FINDING_MAX];
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

static int db_fail(rpt *r, err_t *e, const char *what)
{
    return err_set(e, ERR_IO, "%s: %s: %s", r->db_path, what,
                   r->db ? sqlite3_errmsg(r->db) : "out of memory");
}

static int prep(rpt *r, const char *sql, sqlite3_stmt **st, err_t *e)
{
    if (sqlite3_prepare_v2(r->db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return db_fail(r, e, "reading the results");
    }
    return 0;
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
    const char *need[PLOT_COUNT + 1];
    for (int p = 0; p < PLOT_COUNT; p++)
        need[p] = plot_info[p].name;
    need[PLOT_COUNT] = "style";
    for (int p = 0; p <= PLOT_COUNT; p++) {
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

static void write_plot(const rpt *r, FILE *f, int p)
{
    fprintf(f, "<section id=\"%s\">\n<h2>%d. ", plot_info[p].name, p + 3);
    html(f, plot_info[p].heading);
    fputs("</h2>\n<p class=\"finding\">", f);
    html(f, r->finding[p]);
    fputs("</p>\n<figure>\n", f);
    fputs(r->svg[p], f);
    fputs("\n<figcaption>", f);
    html(f, plot_info[p].intro);
    fputs("</figcaption>\n</figure>\n", f);
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

static int write_page(rpt *r, FILE *f, err_t *e)
{
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
    fputs("</p>\n<section id=\"findings\">\n<h2>Findings</h2>\n"
          "<ul class=\"findings\">\n",
          f);
    for (int p = 0; p < PLOT_COUNT; p++) {
        fprintf(f, "<li><a href=\"#%s\">", plot_info[p].name);
        html(f, plot_info[p].heading);
        fputs("</a>: ", f);
        html(f, r->finding[p]);
        fputs("</li>\n", f);
    }
    fputs("</ul>\n</section>\n", f);
    int rc = write_summary(r, f, e);
    if (rc != 0)
        return rc;
    write_comparison(r, f);
    for (int p = 0; p < PLOT_COUNT; p++)
        write_plot(r, f, p);
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
    static const report_options defaults = {NULL, NULL, NULL};
    int (*const plots[PLOT_COUNT])(rpt *, err_t *) = {
        plot_imbalance, plot_heatmap, plot_time, plot_throughput,
        plot_links};
    rpt *r = NULL;
    int rc = 0;

    if (!opt)
        opt = &defaults;
    if (!db_path || !html_path)
        return err_set(e, ERR_INPUT,
                       "report: expected a results database and an output "
                       "path");
    if (!(r = calloc(1, sizeof *r)))
        return nomem(e);
    r->db_path = db_path;

    if ((rc = compare_load(&r->cmp, db_path, opt->baseline, e)) != 0 ||
        (rc = pick_active(r, e)) != 0 ||
        (rc = find_plots_dir(r, opt->plots_dir, e)) != 0 ||
        (rc = db_open(r, e)) != 0 || (rc = read_scenario(r, e)) != 0 ||
        (rc = gnuplot_open(&r->gp, opt->gnuplot ? opt->gnuplot : "gnuplot",
                           r->plots_dir, e)) != 0)
        goto fail;
    for (int p = 0; p < PLOT_COUNT; p++)
        if ((rc = plots[p](r, e)) != 0)
            goto fail;
    rc = write_atomically(r, html_path, e);
fail:
    gnuplot_close(r->gp);
    if (r->db)
        (void)sqlite3_close(r->db); /* ends the read transaction */
    for (int a = 0; r->links && r->n_links && a < r->n_active; a++)
        for (int k = 0; k < r->n_links[a]; k++)
            free(r->links[a][k].name);
    free(r->links);
    free(r->n_links);
    for (int p = 0; p < PLOT_COUNT; p++)
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
