/*
 * report: one self-contained HTML page from a results database, the engine
 * of `moesim report` (prefix report_).
 *
 * The page, for whoever signs the hardware order: the scenario and the
 * hardware it ran on (name, phase, description, settings, the files used
 * with their SHA-256, moesim version, creation time), the comparison table
 * of results/compare (means, 95% intervals, ratios to the baseline), and
 * five plots, each with a one-line finding computed from the data it
 * draws:
 *
 *   imbalance    Imbalance Score per MoE layer, one line per policy
 *   heatmap      device x step load relative to the step's mean device,
 *                for the baseline and the policy with the most tokens/s
 *                per device (one seed each: the lowest finished)
 *   time         mean step time stacked: compute, all-to-all, idle at MoE
 *                barriers, other
 *   throughput   tokens/s per device per policy with 95% whiskers
 *   links        utilization of each policy's ten busiest links
 *
 * Only finished runs (status 'done') count, as in moesim compare.
 *
 * With report_options.plan_db, a last section shows the latest plan of a
 * `moesim plan` database (sim/PLAN.md: the highest plan_id): the target,
 * the limit, the recommendation with its margins and the candidate counts,
 * and two plots with their findings:
 *
 *   plan_throughput  tokens/s per device against devices per instance, one
 *                    series per policy (feasible candidates)
 *   plan_pareto      cost (the plan's rank_by) against latency (TPOT, TTFT
 *                    or days), the Pareto front joined by a step line
 *
 * Without a results database (db_path NULL) the page holds the title and
 * the plan section only.
 *
 * The plots are drawn by the gnuplot scripts plots/<name>.gp (svg
 * terminal, fixed size and font) from data files written to a private
 * directory (mkdtemp under $TMPDIR or /tmp, removed afterwards), and
 * embedded as inline SVG: the page needs no network and no other file.
 * A tiny inline script marks <body data-loaded="yes"> once the page has
 * loaded (tests/unit/report checks it in a headless browser).
 *
 * Deterministic: the same database (and gnuplot version) gives the same
 * bytes. The page carries no clock of its own; every query is ordered.
 *
 * Errors: 0 or a negative ERR_* code, the message in the caller's err_t.
 * ERR_INPUT: not a moesim results database, no finished run, an unknown
 * baseline, a plots folder without the scripts, a plan database without
 * the plan tables or without a plan. ERR_IO: SQLite or a file
 * failed, gnuplot cannot be run or fails (its stderr is in the message).
 * The page is written to a temporary file beside html_path and renamed
 * into place, so a failure never leaves half a report (nor replaces an
 * older one).
 */
#ifndef MOESIM_PLOTS_REPORT_H
#define MOESIM_PLOTS_REPORT_H

#include "common/err.h"

/* How to build the report. Zero-initialised means every default. Strings
 * borrowed for the call. */
typedef struct report_options {
    /* The folder of the gnuplot scripts (the project's plots/). NULL:
     * "plots" in the folder of the running executable. */
    const char *plots_dir;
    /* The policy ratios are taken against; NULL: the first policy of the
     * scenario file (as moesim compare). */
    const char *baseline;
    /* The gnuplot program, looked up on PATH unless it holds a '/'. NULL:
     * "gnuplot". */
    const char *gnuplot;
    /* A `moesim plan` database whose latest plan gets a section of its
     * own; NULL: no plan section. */
    const char *plan_db;
} report_options;

/* Reads the results database at db_path (never writing it; it may be in
 * use by a running moesim run: runs finished so far are reported) and
 * writes the HTML report to html_path, replacing the file if it exists.
 * db_path may be NULL when opt->plan_db is set: a page of the plan only.
 * opt may be NULL (all defaults). Takes about a second per plot at most
 * (five gnuplot processes, two more with a plan). */
int report_write(const char *db_path, const char *html_path,
                 const report_options *opt, err_t *e);

#endif
