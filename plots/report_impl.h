/*
 * report_impl: what the files of `moesim report` share, not part of its
 * interface (plots/report.h): the plots, the report being built and the
 * helpers one file calls in another.
 *
 *   report.c        report_write; the plots' names and captions, small
 *                   helpers, the results database, the gnuplot scripts
 *   report_plots.c  the five plots of a results database
 *   report_plan.c   the plan section: its database, its two plots, its HTML
 *   report_html.c   the page: HTML text, the summary, the comparison
 *                   table, the plot sections, written atomically
 *
 * Comments on the functions are at their definitions.
 */
#ifndef MOESIM_PLOTS_REPORT_IMPL_H
#define MOESIM_PLOTS_REPORT_IMPL_H

#include <limits.h>
#include <stddef.h>
#include <stdio.h>

#include <sqlite3.h>

#include "common/err.h"
#include "common/ini.h"
#include "plots/gnuplot.h"
#include "results/compare.h"

/* The busiest links drawn and listed per policy. */
#define TOP_LINKS 10
/* One finding: a sentence or two per policy shown; long enough for a
 * dozen policies with long names, cut (never overrun) beyond. */
#define FINDING_MAX 4096

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
extern const struct report_plot {
    const char *name;
    const char *heading;
    const char *intro;
} report_plot_info[PLOT_ALL];

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

#define NUM_MAX 48
/* Formats into a compound-literal buffer that lives to the end of the
 * enclosing block, so several fit in one report_add() call. */
#define SIG(x, sig) report_fmt_sig((char[NUM_MAX]){0}, NUM_MAX, (x), (sig))

/* ---- report.c: small helpers ---------------------------------------- */

int report_plot_shown(const rpt *r, int p);
int report_nomem(err_t *e);
void report_add(char *buf, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
const char *report_fmt_round(char *buf, size_t n, double x, int d);
const char *report_fmt_sig(char *buf, size_t n, double x, int sig);

/* ---- report.c: the database ----------------------------------------- */

int report_sql_fail(sqlite3 *db, const char *path, const char *what,
                    err_t *e);
int report_sql_prep(sqlite3 *db, const char *path, const char *sql,
                    sqlite3_stmt **st, err_t *e);
int report_db_fail(rpt *r, err_t *e, const char *what);
int report_prep(rpt *r, const char *sql, sqlite3_stmt **st, err_t *e);
double report_col_num(sqlite3_stmt *st, int i);
const char *report_col_text(sqlite3_stmt *st, int i);
int report_active_index(const rpt *r, const char *policy);
const char *report_active_name(const rpt *r, int i);
const compare_stat *report_active_stat(const rpt *r, int i,
                                       compare_metric m);
const char *report_scenario_value(rpt *r, const char *key);

/* ---- report_plots.c: the plots of a results database ---------------- */

/* Each plot function writes its plot's data file (data, which its script
 * reads as datafile), its script's variables (vars: gnuplot commands such
 * as "n=2; ymax=3; ") and its finding (r->finding[p]). report_write opens
 * both streams, closes them and runs the script, so that plumbing is in
 * one place (report.c, draw_plot). */
int report_plot_imbalance(rpt *r, FILE *data, FILE *vars, err_t *e);
int report_plot_heatmap(rpt *r, FILE *data, FILE *vars, err_t *e);
int report_plot_time(rpt *r, FILE *data, FILE *vars, err_t *e);
int report_plot_throughput(rpt *r, FILE *data, FILE *vars, err_t *e);
int report_plot_links(rpt *r, FILE *data, FILE *vars, err_t *e);

/* ---- report_plan.c: the plan section -------------------------------- */

int report_plan_open(rpt *r, err_t *e);
int report_plan_read_meta(rpt *r, err_t *e);
int report_plan_read_rows(rpt *r, err_t *e);
int report_plan_plot_throughput(rpt *r, FILE *data, FILE *vars, err_t *e);
int report_plan_plot_pareto(rpt *r, FILE *data, FILE *vars, err_t *e);
void report_plan_write(const rpt *r, FILE *f, int number);

/* ---- report_html.c: the page ---------------------------------------- */

void report_html_text(FILE *f, const char *s);
void report_html_kv_row(FILE *f, const char *key, const char *value);
void report_html_figure(const rpt *r, FILE *f, int p);
int report_html_write(rpt *r, const char *html_path, err_t *e);

#endif
