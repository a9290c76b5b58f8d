/*
 * End-to-end figures: the default scenario's wall time (`make run` must stay
 * under a minute), token-layer routings per second through the whole model
 * half plus replay, and the size of a trace per token-expert.
 */
#include <stdio.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "scenarios/scen.h"
#include "sim/run.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

int main(void)
{
    static scenario s;
    err_t e;
    err_clear(&e);
    if (scen_load("scenarios/default.ini", &s, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    double t0 = now_s();
    for (int p = 0; p < s.n_policies; p++)
        for (int k = 0; k < s.n_seeds; k++)
            if (run_policy(&s, p, s.seeds[k], NULL, NULL, NULL, &e) != 0) {
                fprintf(stderr, "%s\n", e.msg);
                return 1;
            }
    double wall = now_s() - t0;
    double routings = (double)s.n_policies * s.n_seeds * s.steps *
                      (double)scen_tokens_per_device(&s) * s.ep_size *
                      model_moe_layers(&s.model);
    printf("default_scenario_runs = %d\n", s.n_policies * s.n_seeds);
    printf("default_scenario_wall_s = %.2f\n", wall);
    printf("default_token_layer_routings_per_s = %.0f\n", routings / wall);

    const char *trace = "build/bench-run.trace";
    run_opts o = {trace, NULL, NULL, NULL};
    if (run_policy(&s, 0, 1, NULL, &o, NULL, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    struct stat st;
    if (stat(trace, &st) != 0)
        return 1;
    double pairs = (double)s.steps * (double)scen_tokens_per_device(&s) *
                   s.ep_size * model_moe_layers(&s.model) *
                   s.policies[0].top_k;
    printf("trace_bytes = %lld\n", (long long)st.st_size);
    printf("trace_bytes_per_token_expert = %.4f\n", (double)st.st_size / pairs);
    remove(trace);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("peak_rss_mib = %.1f\n", (double)ru.ru_maxrss / 1024.0);
    scen_free(&s);
    return 0;
}
