/*
 * bench_net: flow-level all-to-all exchanges on large clusters.
 *
 *   uniform_256      1 MB per pair, 256 devices (32 nodes of 8 behind a
 *                    450 GB/s switch, 50 GB/s NICs, non-blocking fat tree
 *                    of 32-port leaves): 65,280 flows. Target < 1 s.
 *   uniform_1024     the same with 1024 devices: 1,047,552 flows. Target
 *                    < 30 s.
 *   skewed_256       every pair a different size, lognormal (sigma 1,
 *                    median 1 MB) from a seeded gsl_rng: 65,280 flows that
 *                    end at 65,280 different instants. Target < 5 s.
 *   skewed_256_mesh  the same on full-mesh (HCCS-like, 28 GB/s pairs)
 *                    nodes with 25 GB/s NICs and 2:1 oversubscribed
 *                    leaves, so leaf uplinks bind as well as NICs.
 *   skewed_64_exact  a 64-device skewed exchange run exact (no window)
 *                    and with the default window, to show what the window
 *                    costs in accuracy.
 *
 * All runs use the default batching window (NET_FLOW_WINDOW_DEFAULT)
 * unless named exact. Prints "name = value unit" lines: wall time, flows
 * per second, the solver's counters (rate recomputations, of which full
 * solves; links pruned), the flow-level time next to the analytic one,
 * and the peak resident memory of the process so far (getrusage
 * ru_maxrss; the runs go in increasing size, so each line is that run's
 * peak).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "sim/net.h"
#include "tests/bench/bench.h"

static net_params_t switch_cluster(uint32_t devices)
{
    return (net_params_t){.devices = devices,
                          .devices_per_node = 8,
                          .scaleup = NET_SCALEUP_SWITCH,
                          .scaleup_gbps = 450,
                          .scaleup_latency_us = 1.0,
                          .scaleup_label = "nvlink",
                          .nic_gbps = 50,
                          .scaleout_latency_us = 2.0,
                          .oversubscription = 1,
                          .devices_per_leaf = 32};
}

static net_params_t mesh_cluster(uint32_t devices)
{
    return (net_params_t){.devices = devices,
                          .devices_per_node = 8,
                          .scaleup = NET_SCALEUP_FULL_MESH,
                          .scaleup_gbps = 28,
                          .scaleup_latency_us = 0.5,
                          .scaleup_label = "hccs",
                          .nic_gbps = 25,
                          .scaleout_latency_us = 1.5,
                          .oversubscription = 2,
                          .devices_per_leaf = 32};
}

/* Fills the n x n matrix: 1 MB per pair, or lognormal around 1 MB. */
static double *make_matrix(uint32_t n, gsl_rng *rng)
{
    size_t nn = (size_t)n * n;
    double *bytes = malloc(nn * sizeof *bytes);
    if (bytes)
        for (size_t i = 0; i < nn; i++)
            bytes[i] = rng ? 1e6 * gsl_ran_lognormal(rng, 0.0, 1.0) : 1e6;
    return bytes;
}

/* Runs bytes flow-level on a new net of np (and analytic for comparison);
 * prints the figures under name; the flow-level time into *time_s. */
static int run(const char *name, const net_params_t *np, const double *bytes,
               double *time_s)
{
    err_t err;
    err_clear(&err);
    net_t *net = NULL;
    int rc = net_create(&net, np, &err);
    if (rc)
        goto done;
    net_result_t ra, rf;
    rc = net_exchange_analytic(net, bytes, &ra, &err);
    if (rc)
        goto done;
    double t0 = bench_now_s();
    rc = net_exchange_flow(net, bytes, &rf, NULL, &err);
    double dt = bench_now_s() - t0;
    if (rc)
        goto done;
    maxmin_stats_t st = net_flow_stats(net);
    printf("%s_flows = %u flows\n", name, rf.flows);
    printf("%s_wall_s = %.3f s\n", name, dt);
    printf("%s_flows_per_s = %.3e flows/s\n", name, rf.flows / dt);
    printf("%s_rate_recomputations = %llu (%llu full)\n", name,
           (unsigned long long)st.batches,
           (unsigned long long)st.full_solves);
    printf("%s_links_pruned = %u links\n", name, st.links_pruned);
    printf("%s_flow_level_time_ms = %.6f ms\n", name, rf.time_s * 1e3);
    printf("%s_analytic_time_ms = %.6f ms\n", name, ra.time_s * 1e3);
    printf("%s_busiest_link = %s (%.3f busy)\n", name, rf.busiest_link_name,
           rf.busiest_link_util);
    printf("%s_peak_rss_mib = %.1f MiB\n", name, bench_peak_rss_mib());
    *time_s = rf.time_s;
done:
    if (rc)
        fprintf(stderr, "bench_net: %s: %s\n", name, err.msg);
    net_destroy(net);
    return rc;
}

int main(int argc, char **argv)
{
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    double *u256 = make_matrix(256, NULL), *s256 = NULL, *s64 = NULL;
    double *u1024 = NULL;
    int rc = 1;
    if (!rng || !u256)
        goto done;
    gsl_rng_set(rng, 42);
    s256 = make_matrix(256, rng);
    s64 = make_matrix(64, rng);
    if (!s256 || !s64)
        goto done;
    net_params_t p64 = switch_cluster(64), p256 = switch_cluster(256);
    net_params_t m256 = mesh_cluster(256);
    double t, t_exact, t_window;
    rc = run("skewed_64_window", &p64, s64, &t_window);
    p64.flow_window = -1; /* exact */
    rc = rc ? rc : run("skewed_64_exact", &p64, s64, &t_exact);
    if (!rc)
        printf("skewed_64_window_error = %+.4f %%\n",
               100.0 * (t_window - t_exact) / t_exact);
    rc = rc ? rc : run("uniform_256", &p256, u256, &t);
    rc = rc ? rc : run("skewed_256", &p256, s256, &t);
    rc = rc ? rc : run("skewed_256_mesh", &m256, s256, &t);
    if (!rc && !quick) {
        u1024 = make_matrix(1024, NULL);
        net_params_t p1024 = switch_cluster(1024);
        rc = u1024 ? run("uniform_1024", &p1024, u1024, &t) : 1;
    }
done:
    free(u1024);
    free(s64);
    free(s256);
    free(u256);
    gsl_rng_free(rng);
    return rc ? 1 : 0;
}
