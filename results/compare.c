#include "results/compare.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_cdf.h>
#include <gsl/gsl_statistics_double.h>
#include <sqlite3.h>

#include "results/store.h"

const char *const compare_metric_names[COMPARE_METRIC_COUNT] = {
    "step_s",          "tokens_per_s_per_device", "tpot_s",
    "ttft_s",          "imbalance_score",         "device_max_over_mean",
    "a2a_share",       "idle_share",              "bytes_inter_node_per_step"};

/* The text table's headers and the factor from stored SI units to the
 * units shown there. Short, so eight metrics fit a wide terminal:
 * imbalance is the Imbalance Score, dev max/mean the device max/mean,
 * a2a the all-to-all share of step time, idle the share idle at barriers
 * (the first lines of the output say so). */
static const struct {
    const char *label; /* with unit, for the means */
    const char *bare;  /* without, for the ratios */
    double scale;
} text_col[COMPARE_METRIC_COUNT] = {
    {"step ms", "step", 1e3},
    {"tokens/s/device", "tokens/s/device", 1.0},
    {"TPOT ms", "TPOT", 1e3},
    {"TTFT ms", "TTFT", 1e3},
    {"imbalance", "imbalance", 1.0},
    {"dev max/mean", "dev max/mean", 1.0},
    {"a2a %", "a2a", 100.0},
    {"idle %", "idle", 100.0},
    {"inter-node MB/step", "inter-node bytes", 1e-6}};

enum { ST_DONE, ST_RUNNING, ST_INTERRUPTED, ST_FAILED, ST_COUNT };
static const char *const status_names[ST_COUNT] = {"done", "running",
                                                   "interrupted", "failed"};

typedef struct cmp_policy {
    char *name;
    int runs[ST_COUNT];
    compare_stat stat[COMPARE_METRIC_COUNT];
} cmp_policy;

struct compare {
    char *path;
    char *scenario;
    char *phase;
    int n_policies;
    cmp_policy *policies;
    int baseline;
};

/* ---- reading ------------------------------------------------------- */

static int db_fail(sqlite3 *db, const char *path, err_t *e, const char *what)
{
    return err_set(e, ERR_IO, "%s: %s: %s", path, what,
                   db ? sqlite3_errmsg(db) : "out of memory");
}

/* A copy of a text column; "" for NULL. */
static char *col_dup(sqlite3_stmt *st, int col)
{
    const unsigned char *t = sqlite3_column_text(st, col);
    return strdup(t ? (const char *)t : "");
}

static int prepare(sqlite3 *db, const char *path, const char *sql,
                   sqlite3_stmt **st, err_t *e)
{
    if (sqlite3_prepare_v2(db, sql, -1, st, NULL) != SQLITE_OK) {
        *st = NULL;
        return db_fail(db, path, e, "reading the results");
    }
    return 0;
}

/* A moesim database of the schema this code reads. */
static int check_header(sqlite3 *db, const char *path, err_t *e)
{
    sqlite3_stmt *st = NULL;
    sqlite3_int64 v[2] = {0, 0};
    static const char *const sql[2] = {"PRAGMA application_id",
                                       "PRAGMA user_version"};
    for (int i = 0; i < 2; i++) {
        /* the first read of the file: where a file that is not SQLite at
         * all shows, either at prepare or at step */
        int ok = sqlite3_prepare_v2(db, sql[i], -1, &st, NULL) == SQLITE_OK &&
                 sqlite3_step(st) == SQLITE_ROW;
        if (ok)
            v[i] = sqlite3_column_int64(st, 0);
        int code = sqlite3_errcode(db);
        int rc = ok ? 0 : db_fail(db, path, e, "reading the database header");
        (void)sqlite3_finalize(st);
        st = NULL;
        if (!ok && code == SQLITE_NOTADB)
            return err_set(e, ERR_INPUT,
                           "%s: not an SQLite database; expected a moesim "
                           "results database",
                           path);
        if (!ok)
            return rc;
    }
    if (v[0] != STORE_APPLICATION_ID)
        return err_set(e, ERR_INPUT,
                       "%s: not a moesim results database (SQLite "
                       "application_id %lld); expected one written by "
                       "moesim run",
                       path, (long long)v[0]);
    if (v[1] != STORE_SCHEMA_VERSION)
        return err_set(e, ERR_INPUT,
                       "%s: results schema version %lld, this moesim reads "
                       "version %d",
                       path, (long long)v[1], STORE_SCHEMA_VERSION);
    return 0;
}

static int read_scenario(sqlite3 *db, compare_t *c, err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(db, c->path, "SELECT name, phase FROM scenario", &st, e);
    if (rc != 0)
        return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        c->scenario = col_dup(st, 0);
        c->phase = col_dup(st, 1);
        if (!c->scenario || !c->phase)
            rc = err_set(e, ERR_NOMEM, "%s: out of memory", c->path);
    } else if (step == SQLITE_DONE) {
        rc = err_set(e, ERR_INPUT, "%s: the database holds no scenario",
                     c->path);
    } else {
        rc = db_fail(db, c->path, e, "reading the scenario");
    }
    (void)sqlite3_finalize(st);
    return rc;
}

static int read_policies(sqlite3 *db, compare_t *c, err_t *e)
{
    sqlite3_stmt *st = NULL;
    sqlite3_int64 n = 0;
    int rc = prepare(db, c->path, "SELECT count(*) FROM policy", &st, e);
    if (rc != 0)
        return rc;
    if (sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int64(st, 0);
    else
        rc = db_fail(db, c->path, e, "reading the policies");
    (void)sqlite3_finalize(st);
    if (rc != 0)
        return rc;
    if (n < 1 || n > 100000)
        return err_set(e, ERR_INPUT, "%s: the database holds %lld policies",
                       c->path, (long long)n);
    c->policies = calloc((size_t)n, sizeof *c->policies);
    if (!c->policies)
        return err_set(e, ERR_NOMEM, "%s: out of memory", c->path);
    rc = prepare(db, c->path, "SELECT name FROM policy ORDER BY position", &st,
                 e);
    if (rc != 0)
        return rc;
    int step;
    while (c->n_policies < n && (step = sqlite3_step(st)) == SQLITE_ROW) {
        cmp_policy *p = &c->policies[c->n_policies++];
        if (!(p->name = col_dup(st, 0))) {
            rc = err_set(e, ERR_NOMEM, "%s: out of memory", c->path);
            break;
        }
    }
    if (rc == 0 && c->n_policies != n)
        rc = db_fail(db, c->path, e, "reading the policies");
    (void)sqlite3_finalize(st);
    return rc;
}

static int find_policy(const compare_t *c, const char *name)
{
    for (int i = 0; i < c->n_policies; i++)
        if (name && strcmp(c->policies[i].name, name) == 0)
            return i;
    return -1;
}

static int count_runs(sqlite3 *db, compare_t *c, err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc = prepare(db, c->path,
                     "SELECT policy, status, count(*) FROM run"
                     " GROUP BY policy, status",
                     &st, e);
    if (rc != 0)
        return rc;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        int p = find_policy(c, (const char *)sqlite3_column_text(st, 0));
        const char *status = (const char *)sqlite3_column_text(st, 1);
        for (int k = 0; p >= 0 && status && k < ST_COUNT; k++)
            if (strcmp(status, status_names[k]) == 0)
                c->policies[p].runs[k] = sqlite3_column_int(st, 2);
    }
    if (step != SQLITE_DONE)
        rc = db_fail(db, c->path, e, "counting the runs");
    (void)sqlite3_finalize(st);
    return rc;
}

/* Mean, sd and interval of n values (n may be 0). */
static void fill_stat(compare_stat *s, const double *v, size_t n)
{
    s->n = (int)n;
    s->mean = s->sd = s->ci_half = s->ci_lo = s->ci_hi = s->ratio = NAN;
    if (n == 0)
        return;
    s->mean = gsl_stats_mean(v, 1, n);
    if (n < 2)
        return; /* one seed: no spread to estimate, so no interval */
    s->sd = gsl_stats_sd_m(v, 1, n, s->mean);
    double t = gsl_cdf_tdist_Pinv(0.975, (double)(n - 1));
    s->ci_half = t * s->sd / sqrt((double)n);
    s->ci_lo = s->mean - s->ci_half;
    s->ci_hi = s->mean + s->ci_half;
}

/* The summaries of every done run, policy by policy; NULL values (NaN as
 * stored) are left out of their metric. */
static int read_summaries(sqlite3 *db, compare_t *c, err_t *e)
{
    sqlite3_stmt *st = NULL;
    double *v = NULL;
    int rc = 0;
    size_t most = 1;
    for (int p = 0; p < c->n_policies; p++)
        if ((size_t)c->policies[p].runs[ST_DONE] > most)
            most = (size_t)c->policies[p].runs[ST_DONE];
    /* v[m * most + i]: metric m of the policy's i-th run */
    v = malloc(COMPARE_METRIC_COUNT * most * sizeof *v);
    if (!v) {
        rc = err_set(e, ERR_NOMEM, "%s: out of memory", c->path);
        goto fail;
    }
    rc = prepare(db, c->path,
                 "SELECT s.step_s, s.tokens_per_s_per_device, s.tpot_s,"
                 " s.ttft_s, s.imbalance_score, s.device_max_over_mean,"
                 " s.a2a_share, s.idle_share, s.bytes_inter_node_per_step"
                 " FROM run r JOIN summary s USING (run_id)"
                 " WHERE r.policy = ? AND r.status = 'done' ORDER BY r.seed",
                 &st, e);
    if (rc != 0)
        goto fail;
    for (int p = 0; p < c->n_policies; p++) {
        size_t n[COMPARE_METRIC_COUNT] = {0};
        size_t rows = 0;
        int step = sqlite3_bind_text(st, 1, c->policies[p].name, -1,
                                     SQLITE_STATIC);
        if (step == SQLITE_OK)
            /* rows <= most: the counts come from the same snapshot */
            while (rows < most && (step = sqlite3_step(st)) == SQLITE_ROW) {
                for (int m = 0; m < COMPARE_METRIC_COUNT; m++)
                    if (sqlite3_column_type(st, m) != SQLITE_NULL)
                        v[(size_t)m * most + n[m]++] =
                            sqlite3_column_double(st, m);
                rows++;
            }
        if (step != SQLITE_ROW && step != SQLITE_DONE) {
            rc = db_fail(db, c->path, e, "reading the summaries");
            goto fail;
        }
        (void)sqlite3_reset(st);
        for (int m = 0; m < COMPARE_METRIC_COUNT; m++)
            fill_stat(&c->policies[p].stat[m], v + (size_t)m * most,
                      compare_applies(c, (compare_metric)m) ? n[m] : 0);
    }
fail:
    (void)sqlite3_finalize(st);
    free(v);
    return rc;
}

static void list_policies(const compare_t *c, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < c->n_policies; i++) {
        int w = snprintf(buf + used, n - used, "%s%s", i ? ", " : "",
                         c->policies[i].name);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
}

static void fill_ratios(compare_t *c)
{
    const cmp_policy *b = &c->policies[c->baseline];
    for (int p = 0; p < c->n_policies; p++)
        for (int m = 0; m < COMPARE_METRIC_COUNT; m++) {
            compare_stat *s = &c->policies[p].stat[m];
            const compare_stat *base = &b->stat[m];
            s->ratio = s->n > 0 && base->n > 0 && base->mean != 0
                           ? s->mean / base->mean
                           : NAN;
        }
}

int compare_load(compare_t **out, const char *db_path, const char *baseline,
                 err_t *e)
{
    int rc = 0;
    sqlite3 *db = NULL;
    compare_t *c = NULL;
    *out = NULL;

    c = calloc(1, sizeof *c);
    if (!c || !(c->path = strdup(db_path))) {
        rc = err_set(e, ERR_NOMEM, "%s: out of memory", db_path);
        goto fail;
    }
    /* Opened read-write but made query_only: a read-only connection
     * cannot remove the -wal and -shm files of a WAL database when it
     * closes, and would leave them beside the user's file; as the last
     * connection this one does. No CREATE: a missing file is an error, not
     * a new empty database. If the file itself is write-protected, SQLite
     * opens it read-only, which is all compare needs. It may run while
     * moesim run writes: WAL lets it read the last committed state. */
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READWRITE, NULL) !=
            SQLITE_OK ||
        sqlite3_exec(db, "PRAGMA query_only = ON", NULL, NULL, NULL) !=
            SQLITE_OK) {
        rc = db_fail(db, db_path, e, "cannot open the results database");
        goto fail;
    }
    /* One read transaction: counts and summaries from the same snapshot
     * even while a run commits. */
    if ((rc = check_header(db, db_path, e)) != 0)
        goto fail;
    if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_fail(db, db_path, e, "reading the results");
        goto fail;
    }
    if ((rc = read_scenario(db, c, e)) != 0 ||
        (rc = read_policies(db, c, e)) != 0 ||
        (rc = count_runs(db, c, e)) != 0 ||
        (rc = read_summaries(db, c, e)) != 0)
        goto fail;
    /* ends the snapshot; a read transaction has nothing to commit, and
     * sqlite3_close would end it anyway */
    (void)sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
    c->baseline = baseline ? find_policy(c, baseline) : 0;
    if (c->baseline < 0) {
        char names[512];
        list_policies(c, names, sizeof names);
        rc = err_set(e, ERR_INPUT,
                     "%s: baseline '%s' is not a policy of this scenario; "
                     "expected one of: %s",
                     db_path, baseline, names);
        goto fail;
    }
    fill_ratios(c);
    (void)sqlite3_close(db); /* every statement is finalized: cannot fail */
    *out = c;
    return 0;
fail:
    (void)sqlite3_close(db);
    compare_free(c);
    return rc;
}

void compare_free(compare_t *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->n_policies; i++)
        free(c->policies[i].name);
    free(c->policies);
    free(c->phase);
    free(c->scenario);
    free(c->path);
    free(c);
}

/* ---- getters ------------------------------------------------------- */

int compare_policies(const compare_t *c) { return c->n_policies; }

const char *compare_policy_name(const compare_t *c, int policy)
{
    MOESIM_ASSERT(policy >= 0 && policy < c->n_policies);
    return c->policies[policy].name;
}

int compare_baseline(const compare_t *c) { return c->baseline; }

int compare_runs_done(const compare_t *c, int policy)
{
    MOESIM_ASSERT(policy >= 0 && policy < c->n_policies);
    return c->policies[policy].runs[ST_DONE];
}

int compare_runs_not_done(const compare_t *c, int policy)
{
    MOESIM_ASSERT(policy >= 0 && policy < c->n_policies);
    const int *r = c->policies[policy].runs;
    return r[ST_RUNNING] + r[ST_INTERRUPTED] + r[ST_FAILED];
}

int compare_applies(const compare_t *c, compare_metric m)
{
    if (m == COMPARE_TPOT_S)
        return strcmp(c->phase, "decode") == 0;
    if (m == COMPARE_TTFT_S)
        return strcmp(c->phase, "prefill") == 0;
    return 1;
}

const compare_stat *compare_get(const compare_t *c, int policy,
                                compare_metric m)
{
    MOESIM_ASSERT(policy >= 0 && policy < c->n_policies);
    MOESIM_ASSERT((int)m >= 0 && m < COMPARE_METRIC_COUNT);
    return &c->policies[policy].stat[m];
}

int compare_parse_format(const char *name, compare_format *out, err_t *e)
{
    if (name && strcmp(name, "text") == 0)
        *out = COMPARE_TEXT;
    else if (name && strcmp(name, "csv") == 0)
        *out = COMPARE_CSV;
    else
        return err_set(e, ERR_INPUT,
                       "--format: unknown format '%s'; expected text or csv",
                       name ? name : "");
    return 0;
}

/* ---- CSV ----------------------------------------------------------- */

/* RFC 4180: quoted only when it holds a comma, quote or line break. */
static void csv_text(FILE *f, const char *s)
{
    if (!strpbrk(s, ",\"\r\n")) {
        fputs(s, f);
        return;
    }
    fputc('"', f);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', f);
        fputc(*s, f);
    }
    fputc('"', f);
}

/* Ten significant digits: more than any simulated mean means, and a
 * CSV a person can still read. Unavailable: an empty field. */
static void csv_num(FILE *f, double x)
{
    if (!isnan(x))
        fprintf(f, "%.10g", x);
}

static void write_csv(const compare_t *c, FILE *f)
{
    fputs("policy,baseline,seeds", f);
    for (int m = 0; m < COMPARE_METRIC_COUNT; m++) {
        if (!compare_applies(c, (compare_metric)m))
            continue;
        const char *n = compare_metric_names[m];
        fprintf(f, ",%s_mean,%s_ci_lo,%s_ci_hi,%s_ratio", n, n, n, n);
    }
    fputs("\n", f);
    for (int p = 0; p < c->n_policies; p++) {
        const cmp_policy *pol = &c->policies[p];
        csv_text(f, pol->name);
        fputc(',', f);
        csv_text(f, c->policies[c->baseline].name);
        fprintf(f, ",%d", pol->runs[ST_DONE]);
        for (int m = 0; m < COMPARE_METRIC_COUNT; m++) {
            if (!compare_applies(c, (compare_metric)m))
                continue;
            const compare_stat *s = &pol->stat[m];
            double v[4] = {s->mean, s->ci_lo, s->ci_hi, s->ratio};
            for (int k = 0; k < 4; k++) {
                fputc(',', f);
                csv_num(f, v[k]);
            }
        }
        fputs("\n", f);
    }
}

/* ---- text ---------------------------------------------------------- */

#define CELL_MAX 64
#define TEXT_COLS (2 + COMPARE_METRIC_COUNT)

int compare_sig_decimals(double x, int sig)
{
    if (x == 0 || !isfinite(x))
        return 0;
    int d = sig - 1 - (int)floor(log10(fabs(x)));
    return d > 9 ? 9 : d;
}

/* "1.20 +- 0.50", "1200 +- 500": the half-width to two significant
 * digits and the mean rounded to the same place, as a result with an
 * error is usually written; "1.1 +- n/a" with one seed (the mean to four
 * significant digits). */
static void mean_cell(char *cell, const compare_stat *s, double scale)
{
    if (s->n == 0) {
        snprintf(cell, CELL_MAX, "-");
        return;
    }
    double mean = s->mean * scale;
    if (isnan(s->ci_half)) {
        int d = compare_sig_decimals(mean, 4);
        snprintf(cell, CELL_MAX, "%.*f +- n/a", d < 0 ? 0 : d, mean);
        return;
    }
    double half = s->ci_half * scale;
    int d = compare_decimals(mean, half);
    if (d >= 0) {
        snprintf(cell, CELL_MAX, "%.*f +- %.*f", d, mean, d, half);
        return;
    }
    double q = pow(10.0, -d);
    snprintf(cell, CELL_MAX, "%.0f +- %.0f", round(mean / q) * q,
             round(half / q) * q);
}

int compare_decimals(double mean, double half)
{
    if (half > 1e-9 * fabs(mean))
        return compare_sig_decimals(half, 2);
    return compare_sig_decimals(mean, 4);
}

static void ratio_cell(char *cell, const compare_stat *s)
{
    if (isnan(s->ratio))
        snprintf(cell, CELL_MAX, "n/a");
    else
        snprintf(cell, CELL_MAX, "%.2f", s->ratio);
}

/* Prints rows of cells: column 0 left-aligned, the rest right-aligned,
 * two spaces apart. A row whose span_from > 0 prints its cell span_from
 * as is, without padding, and takes no part in the widths: the "no
 * finished runs" line. */
typedef struct text_row {
    char cell[TEXT_COLS][CELL_MAX];
    int span_from;
} text_row;

static void print_rows(FILE *f, const text_row *rows, int n_rows, int n_cols)
{
    int width[TEXT_COLS] = {0};
    for (int r = 0; r < n_rows; r++)
        for (int k = 0; k < n_cols; k++) {
            if (rows[r].span_from > 0 && k >= rows[r].span_from)
                break;
            int w = (int)strlen(rows[r].cell[k]);
            if (w > width[k])
                width[k] = w;
        }
    for (int r = 0; r < n_rows; r++) {
        for (int k = 0; k < n_cols; k++) {
            const char *sep = k ? "  " : "";
            if (rows[r].span_from > 0 && k == rows[r].span_from) {
                fprintf(f, "%s%s", sep, rows[r].cell[k]);
                break;
            }
            if (k == 0)
                fprintf(f, "%-*s", k + 1 < n_cols ? width[k] : 0,
                        rows[r].cell[k]);
            else
                fprintf(f, "%s%*s", sep, width[k], rows[r].cell[k]);
        }
        fputc('\n', f);
    }
}

/* "1 interrupted, 2 running" for a policy's runs that do not count. */
static void not_done_text(const cmp_policy *p, char *buf, size_t n)
{
    size_t used = 0;
    buf[0] = '\0';
    for (int k = ST_RUNNING; k < ST_COUNT; k++) {
        if (p->runs[k] == 0)
            continue;
        int w = snprintf(buf + used, n - used, "%s%d %s", used ? ", " : "",
                         p->runs[k], status_names[k]);
        if (w < 0 || (size_t)w >= n - used)
            break;
        used += (size_t)w;
    }
}

static int write_text(const compare_t *c, FILE *f, err_t *e)
{
    int cols[COMPARE_METRIC_COUNT], n_metrics = 0;
    for (int m = 0; m < COMPARE_METRIC_COUNT; m++)
        if (compare_applies(c, (compare_metric)m))
            cols[n_metrics++] = m;
    const cmp_policy *base = &c->policies[c->baseline];
    text_row *rows = calloc((size_t)c->n_policies + 1, sizeof *rows);
    if (!rows)
        return err_set(e, ERR_NOMEM, "out of memory writing the comparison");

    fprintf(f, "scenario %s (%s), %s\n", c->scenario, c->phase, c->path);
    fprintf(f, "mean over seeds +- half-width of its 95%% confidence "
               "interval (Student t; n/a with one seed)\n");
    fprintf(f, "imbalance: Imbalance Score, (max - min device load) / "
               "tokens; a2a, idle: shares of step time\n\n");

    snprintf(rows[0].cell[0], CELL_MAX, "policy");
    snprintf(rows[0].cell[1], CELL_MAX, "seeds");
    for (int k = 0; k < n_metrics; k++)
        snprintf(rows[0].cell[2 + k], CELL_MAX, "%s", text_col[cols[k]].label);
    for (int p = 0; p < c->n_policies; p++) {
        const cmp_policy *pol = &c->policies[p];
        text_row *r = &rows[p + 1];
        snprintf(r->cell[0], CELL_MAX, "%s", pol->name);
        snprintf(r->cell[1], CELL_MAX, "%d", pol->runs[ST_DONE]);
        if (pol->runs[ST_DONE] == 0) {
            r->span_from = 2;
            snprintf(r->cell[2], CELL_MAX, "no finished runs");
            continue;
        }
        for (int k = 0; k < n_metrics; k++)
            mean_cell(r->cell[2 + k], &pol->stat[cols[k]],
                      text_col[cols[k]].scale);
    }
    print_rows(f, rows, c->n_policies + 1, 2 + n_metrics);

    fprintf(f, "\nratio to %s\n", base->name);
    if (base->runs[ST_DONE] == 0) {
        fprintf(f, "  unavailable: %s has no finished runs\n", base->name);
    } else {
        memset(rows, 0, ((size_t)c->n_policies + 1) * sizeof *rows);
        snprintf(rows[0].cell[0], CELL_MAX, "policy");
        for (int k = 0; k < n_metrics; k++)
            snprintf(rows[0].cell[1 + k], CELL_MAX, "%s",
                     text_col[cols[k]].bare);
        for (int p = 0; p < c->n_policies; p++) {
            const cmp_policy *pol = &c->policies[p];
            text_row *r = &rows[p + 1];
            snprintf(r->cell[0], CELL_MAX, "%s", pol->name);
            if (pol->runs[ST_DONE] == 0) {
                r->span_from = 1;
                snprintf(r->cell[1], CELL_MAX, "no finished runs");
                continue;
            }
            for (int k = 0; k < n_metrics; k++)
                ratio_cell(r->cell[1 + k], &pol->stat[cols[k]]);
        }
        print_rows(f, rows, c->n_policies + 1, 1 + n_metrics);
    }

    int header = 0;
    for (int p = 0; p < c->n_policies; p++) {
        char what[128];
        not_done_text(&c->policies[p], what, sizeof what);
        if (!what[0])
            continue;
        if (!header++)
            fprintf(f, "\nnot counted (not done):\n");
        fprintf(f, "  %s: %s\n", c->policies[p].name, what);
    }
    free(rows);
    return 0;
}

int compare_write(const compare_t *c, FILE *out, compare_format format,
                  err_t *e)
{
    int rc = 0;
    errno = 0;
    if (format == COMPARE_CSV)
        write_csv(c, out);
    else
        rc = write_text(c, out, e);
    if (rc == 0 && (fflush(out) != 0 || ferror(out)))
        rc = err_set(e, ERR_IO, "cannot write the comparison of %s: %s",
                     c->path, errno ? strerror(errno) : "write error");
    return rc;
}
