/*
 * End-to-end figures: the default scenario's wall time (`make run` must stay
 * under a minute), token-layer routings per second through the whole model
 * half plus replay, and the size of a trace per token-expert.
 */
#include <stdio.h>
#include <sys/stat.h>

#include <stdlib.h>

#include <gsl/gsl_rng.h>

#include "models/router.h"
#include "models/workload.h"
#include "scenarios/scen.h"
#include "sim/net.h"
#include "sim/run.h"
#include "tests/bench/bench.h"

/* The dispatch of one MoE layer of DeepSeek-V3 routed by its own gate with
 * no group limit (top-8 of 256) on 256 H800 GPUs (32 HGX nodes, one expert
 * each), 32 tokens per GPU from the default workload: every device pair a
 * different size. Timed flow-level. */
static int bench_v3_trace_exchange(void)
{
    static scenario s;
    err_t e;
    err_clear(&e);
    if (scen_load("scenarios/deepseek-v3-decode-eplb.ini", &s, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    const int D = 256, per = 32, N = s.model.routed_experts, T = D * per;
    workload_shape shape = {N, 1, s.model.vocab, WORKLOAD_DECODE, T, T};
    workload *w = NULL;
    router_out *ro = NULL;
    net_t *net = NULL;
    router_config cfg;
    router_config_init(&cfg, ROUTER_V3_GROUP_LIMITED, N, 8);
    cfg.n_group = 1;
    cfg.topk_group = 1;
    float *logits = malloc((size_t)T * (size_t)N * sizeof *logits);
    float *bias = calloc((size_t)N, sizeof *bias);
    uint32_t *src = malloc((size_t)T * sizeof *src);
    uint32_t *start = malloc(((size_t)T + 1) * sizeof *start);
    uint32_t *dst = malloc((size_t)T * 8 * sizeof *dst);
    double *bytes = malloc((size_t)D * (size_t)D * sizeof *bytes);
    net_params_t p = {0};
    p.devices = (uint32_t)D;
    p.devices_per_node = 8;
    p.scaleup = NET_SCALEUP_SWITCH;
    p.scaleup_gbps = s.node.scaleup_gbps;
    p.scaleup_latency_us = s.node.scaleup_latency_us;
    p.nic_gbps = s.node.nic_gbps;
    p.scaleout_latency_us = s.node.scaleout_latency_us;
    p.oversubscription = 1;
    p.devices_per_leaf = 32;
    p.rail_aligned = true;
    if (!logits || !bias || !src || !start || !dst || !bytes ||
        workload_create(&s.workload, &shape, 1, &w, &e) != 0 ||
        router_out_create(T, T * 8, N, &ro, &e) != 0 ||
        workload_step(w, 0, &e) != 0 || workload_logits(w, 0, logits, &e) != 0 ||
        router_route(&cfg, logits, T, bias, NULL, NULL, ro, &e) != 0 ||
        net_create(&net, &p, &e) != 0) {
        fprintf(stderr, "bench_v3_trace_exchange: %s\n", e.msg);
        return 1;
    }
    const int32_t *off = router_out_offsets(ro), *ex = router_out_experts(ro);
    for (int t = 0; t < T; t++) {
        src[t] = (uint32_t)(t / per);
        start[t] = (uint32_t)off[t];
        for (int i = off[t]; i < off[t + 1]; i++)
            dst[i] = (uint32_t)(ex[i] * D / N); /* expert e on GPU e */
    }
    start[T] = (uint32_t)off[T];
    /* one copy per token and destination GPU, in bf16 */
    if (net_dispatch_matrix(net, (uint32_t)T, src, start, dst,
                            (double)s.model.hidden * 2, NET_DISPATCH_DIRECT,
                            bytes, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    long pairs = 0;
    for (int i = 0; i < D * D; i++)
        pairs += bytes[i] > 0;
    net_result_t r;
    double t0 = bench_now_s();
    if (net_exchange_flow(net, bytes, &r, NULL, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    double wall = bench_now_s() - t0;
    net_result_t a;
    net_exchange_analytic(net, bytes, &a, &e);
    printf("v3_topk_trace_256_flows = %ld\n", pairs);
    printf("v3_topk_trace_256_flow_wall_s = %.3f\n", wall);
    printf("v3_topk_trace_256_flows_per_s = %.0f\n", (double)pairs / wall);
    printf("v3_topk_trace_256_flow_level_ms = %.4f\n", r.time_s * 1e3);
    printf("v3_topk_trace_256_analytic_ms = %.4f\n", a.time_s * 1e3);
    net_destroy(net);
    router_out_destroy(ro);
    workload_destroy(w);
    free(logits);
    free(bias);
    free(src);
    free(start);
    free(dst);
    free(bytes);
    scen_free(&s);
    return 0;
}

int main(void)
{
    if (bench_v3_trace_exchange() != 0)
        return 1;
    static scenario s;
    err_t e;
    err_clear(&e);
    if (scen_load("scenarios/default.ini", &s, &e) != 0) {
        fprintf(stderr, "%s\n", e.msg);
        return 1;
    }
    double t0 = bench_now_s();
    for (int p = 0; p < s.n_policies; p++)
        for (int k = 0; k < s.n_seeds; k++)
            if (run_policy(&s, p, s.seeds[k], NULL, NULL, NULL, &e) != 0) {
                fprintf(stderr, "%s\n", e.msg);
                return 1;
            }
    double wall = bench_now_s() - t0;
    double routings = (double)s.n_policies * s.n_seeds * s.steps *
                      (double)scen_tokens_per_device(&s) * s.ep_size *
                      model_moe_layers(&s.model);
    printf("default_scenario_runs = %d\n", s.n_policies * s.n_seeds);
    printf("default_scenario_wall_s = %.2f\n", wall);
    printf("default_token_layer_routings_per_s = %.0f\n", routings / wall);

    const char *trace = "build/bench-run.trace";
    run_opts o = {trace, NULL, NULL, NULL, NULL};
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
    printf("peak_rss_mib = %.1f\n", bench_peak_rss_mib());
    scen_free(&s);
    return 0;
}
