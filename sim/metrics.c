#include "sim/metrics.h"

#include <gsl/gsl_statistics_long.h>

void metrics_load_figures(const long *loads, int n, long tokens,
                          double *imbalance_score, double *max_over_mean)
{
    long lo = 0, hi = 0;
    gsl_stats_long_minmax(&lo, &hi, loads, 1, (size_t)n);
    double mean = gsl_stats_long_mean(loads, 1, (size_t)n);
    if (imbalance_score)
        *imbalance_score = tokens > 0 ? (double)(hi - lo) / (double)tokens : 0;
    if (max_over_mean)
        *max_over_mean = mean > 0 ? (double)hi / mean : 1;
}
