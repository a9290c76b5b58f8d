/*
 * compare: the policy comparison of one results database, the engine of
 * `moesim compare` (prefix compare_).
 *
 * One row per policy, in scenario file order. For each metric of the
 * summary table: the mean over the policy's seeds (its 'done' runs; runs
 * still running, interrupted or failed are not counted, and are noted),
 * the 95% confidence interval of that mean across seeds, and the ratio of
 * the mean to the baseline policy's mean.
 *
 *   interval   mean +- t(0.975, n-1) * sd / sqrt(n), sd the sample
 *              standard deviation (n-1 denominator), t Student's quantile
 *              (GSL: gsl_cdf_tdist_Pinv, gsl_stats_mean, gsl_stats_sd).
 *              With one seed there is no interval: it is reported as
 *              unavailable (NAN here, "n/a" in text, empty in CSV), never
 *              as zero.
 *   ratio      mean / baseline mean: unavailable when either policy has
 *              no finished run or the baseline's mean is 0 (e.g. inter-
 *              node bytes on one node). A ratio of means, without an
 *              interval of its own.
 *   baseline   the first policy of the scenario file unless named.
 *
 * Time per output token applies to decode scenarios and time to first
 * token to prefill; a metric that does not apply to the scenario's phase
 * is left out of the output and reads n = 0 here.
 *
 * Output: an aligned text table for a terminal (times in ms, shares in %,
 * bytes in MB = 10^6 bytes; means to 4 significant digits, half-widths
 * to 2), or CSV (a header row, SI units as stored: seconds, bytes,
 * fractions; numbers with 10 significant digits; interval as _ci_lo and
 * _ci_hi columns; unavailable values as empty fields).
 *
 * Errors: 0 or a negative ERR_* code with the message, naming the
 * database path, in the caller's err_t.
 */
#ifndef MOESIM_RESULTS_COMPARE_H
#define MOESIM_RESULTS_COMPARE_H

#include <stdio.h>

#include "common/err.h"

typedef struct compare compare_t;

/* The compared metrics, named as the summary table's columns. */
typedef enum compare_metric {
    COMPARE_STEP_S = 0,
    COMPARE_TOKENS_PER_S_PER_DEVICE,
    COMPARE_TPOT_S, /* decode only */
    COMPARE_TTFT_S, /* prefill only */
    COMPARE_IMBALANCE_SCORE,
    COMPARE_DEVICE_MAX_OVER_MEAN,
    COMPARE_A2A_SHARE,
    COMPARE_IDLE_SHARE,
    COMPARE_BYTES_INTER_NODE_PER_STEP,
    COMPARE_METRIC_COUNT
} compare_metric;

/* "step_s", "tokens_per_s_per_device", ...: the summary column of each
 * metric, also the stem of its CSV columns. */
extern const char *const compare_metric_names[COMPARE_METRIC_COUNT];

/* One metric of one policy. Unavailable values are NAN. */
typedef struct compare_stat {
    int n;          /* finished seeds with a value */
    double mean;    /* NAN when n == 0 */
    double sd;      /* sample standard deviation; NAN when n < 2 */
    double ci_half; /* 95% half-width; NAN when n < 2 */
    double ci_lo;   /* mean - ci_half */
    double ci_hi;   /* mean + ci_half */
    double ratio;   /* mean / baseline mean */
} compare_stat;

typedef enum compare_format { COMPARE_TEXT = 0, COMPARE_CSV } compare_format;

/* Reads the database at db_path (never writing it; it may be in use by a
 * running moesim run, whose unfinished runs are simply not counted) from
 * one consistent snapshot, and computes
 * the comparison against baseline (a policy name, or NULL for the first
 * policy). ERR_INPUT for an unknown baseline (the message lists the
 * policies) or a file that is not a moesim results database; ERR_IO when
 * SQLite fails. On success *out is a new comparison the caller owns
 * (compare_free); it holds no database connection. */
int compare_load(compare_t **out, const char *db_path, const char *baseline,
                 err_t *e);

/* NULL is a no-op. */
void compare_free(compare_t *c);

/* Policies in scenario file order, and their names (owned by c). */
int compare_policies(const compare_t *c);
const char *compare_policy_name(const compare_t *c, int policy);

/* Index of the baseline policy. */
int compare_baseline(const compare_t *c);

/* The policy's runs by status. */
int compare_runs_done(const compare_t *c, int policy);
int compare_runs_not_done(const compare_t *c, int policy);

/* 1 if the metric applies to the scenario's phase (TPOT: decode, TTFT:
 * prefill; every other metric always). */
int compare_applies(const compare_t *c, compare_metric m);

/* The statistics of one metric of one policy (owned by c). */
const compare_stat *compare_get(const compare_t *c, int policy,
                                compare_metric m);

/* Writes the comparison to out (borrowed) in the format asked. ERR_IO if
 * writing fails. */
int compare_write(const compare_t *c, FILE *out, compare_format format,
                  err_t *e);

/* "text" or "csv" (--format NAME) into *out; ERR_INPUT otherwise. */
int compare_parse_format(const char *name, compare_format *out, err_t *e);

/* Decimals that show x to sig significant digits: 2 for 0.0123 at sig 2,
 * -2 for 496.8 (round to hundreds); 0 for 0 or non-finite; capped at 9. */
int compare_sig_decimals(double x, int sig);

/* Decimals to print a mean and its 95% half-width with: the half-width to
 * two significant digits, or, when the interval is empty or below 1e-9 of
 * the mean (seeds that agree to rounding), the mean to four. Shared by
 * compare's table and the HTML report so both print the same figures. */
int compare_decimals(double mean, double half);

#endif
