/*
 * Shared by the benchmarks: a monotonic wall clock and the process's peak
 * resident memory so far, for their "name = value unit" lines.
 */
#ifndef MOESIM_TESTS_BENCH_BENCH_H
#define MOESIM_TESTS_BENCH_BENCH_H

#include <sys/resource.h>
#include <time.h>

/* Seconds on CLOCK_MONOTONIC; only differences mean anything. */
static inline double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* getrusage's ru_maxrss (KiB on Linux) in MiB. */
static inline double bench_peak_rss_mib(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;
}

#endif
