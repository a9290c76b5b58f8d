/*
 * bench_router: speed of the router kernels. Prints "name = value unit".
 *
 *  - selection only (logits precomputed) for the DeepSeek-V3 gate (N = 256,
 *    8 groups of 32, keep 4, K = 8, bias on) on one core, the target being
 *    >= 5 M token-layer routings/s, with the kernel that ran (avx512 where
 *    the CPU has it) and then the portable kernels on the same batch; a
 *    few other gates for context. Each
 *    gate prints the rate of its fastest batch of 4096 tokens (the
 *    headline), the mean rate, and ns per token;
 *  - router logits z = h W for T = 8192, d = 7168, N = 256 through
 *    router_logits (GSL BLAS on OpenBLAS) next to a direct cblas_sgemm on
 *    the same shapes; the two should match, since GSL only forwards;
 *  - the whole V3 gate, logits then selection, in routings/s: the matmul
 *    (2 d N flops a token) sets it.
 *
 * OpenBLAS threads follow OPENBLAS_NUM_THREADS (make bench sets 1).
 * gsl_randist.h is not included: it pulls gsl_cblas.h, whose declarations
 * clash with OpenBLAS's cblas.h, so random values here are uniform.
 * Runtime about 10 s.
 */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>

#include <gsl/gsl_rng.h>

#include "models/router.h"
#include "tests/bench/bench.h"

static void die(const char *what, const err_t *e)
{
    fprintf(stderr, "bench_router: %s: %s\n", what, e->msg);
    exit(1);
}

/* Routes the same precomputed batch of T tokens again and again for about
 * min_s seconds. Prints the rate of the fastest batch (the usual estimate
 * of the uncontended speed: other processes only ever slow a batch down)
 * and the mean rate over all batches, in token routings per second. */
static void routings_per_s(const char *name, const router_config *cfg,
                           const float *logits, int T, const float *bias,
                           router_out *out, double min_s)
{
    err_t e;
    err_clear(&e);
    long tokens = 0;
    double best = 1e30, t0 = bench_now_s(), dt;
    do {
        double b0 = bench_now_s();
        if (router_route(cfg, logits, T, bias, NULL, NULL, out, &e))
            die("router_route", &e);
        double bt = bench_now_s() - b0;
        best = bt < best ? bt : best;
        tokens += T;
        dt = bench_now_s() - t0;
    } while (dt < min_s);
    printf("%s_routings_per_s = %.3g 1/s\n", name, (double)T / best);
    printf("%s_mean_routings_per_s = %.3g 1/s\n", name, (double)tokens / dt);
    printf("%s_ns_per_token = %.0f ns\n", name, best / T * 1e9);
}

static void bench_selection(gsl_rng *rng)
{
    enum { T = 4096, NMAX = 256 };
    float *logits = malloc(sizeof(float) * T * NMAX);
    float bias[NMAX];
    if (!logits) {
        fprintf(stderr, "bench_router: out of memory\n");
        exit(1);
    }
    /* logits uniform in [-2, 2), a bias within +-0.01: V3-like scores */
    for (int i = 0; i < T * NMAX; i++)
        logits[i] = (float)(4.0 * gsl_rng_uniform(rng) - 2.0);
    for (int i = 0; i < NMAX; i++)
        bias[i] = (float)(0.02 * gsl_rng_uniform(rng) - 0.01);

    err_t e;
    err_clear(&e);
    router_out *out = NULL;
    if (router_out_create(T, T * NMAX, NMAX, &out, &e))
        die("router_out_create", &e);

    router_config v3;
    router_config_init(&v3, ROUTER_V3_GROUP_LIMITED, 256, 8);
    v3.n_group = 8;
    v3.topk_group = 4;
    v3.scaling_factor = 2.5f;
    /* the kernel this CPU runs, then the portable one it falls back on */
    printf("v3_gate_n256_kernel = %s\n", router_kernel_name(&v3));
    routings_per_s("v3_gate_n256", &v3, logits, T, bias, out, 3.0);
    router_config v3p = v3;
    v3p.portable = 1;
    routings_per_s("v3_gate_portable_n256", &v3p, logits, T, bias, out, 1.0);

    router_config v3u = v3;
    v3u.n_group = 1;
    v3u.topk_group = 1;
    routings_per_s("v3_unrestricted_n256", &v3u, logits, T, bias, out, 0.5);

    router_config v2;
    router_config_init(&v2, ROUTER_V2_DEVICE_LIMITED, 160, 6);
    v2.n_group = 8;
    v2.topk_group = 3;
    v2.scaling_factor = 16.0f;
    routings_per_s("v2_gate_n160", &v2, logits, T, NULL, out, 0.5);

    router_config qwen;
    router_config_init(&qwen, ROUTER_TOPK, 128, 8);
    qwen.renormalize = 1;
    routings_per_s("topk_n128_k8", &qwen, logits, T, NULL, out, 0.5);

    router_config moge;
    router_config_init(&moge, ROUTER_MOGE, 64, 8);
    moge.n_group = 8;
    routings_per_s("moge_n64_m8", &moge, logits, T, NULL, out, 0.5);

    router_config ec;
    router_config_init(&ec, ROUTER_EXPERT_CHOICE, 64, 0);
    ec.capacity_factor = 2.0;
    routings_per_s("expert_choice_n64_c2", &ec, logits, T, NULL, out, 0.5);

    router_out_destroy(out);
    free(logits);
}

static void bench_logits(gsl_rng *rng)
{
    enum { T = 8192, D = 7168, N = 256 };
    const double flop = 2.0 * T * (double)D * N;
    float *h = malloc(sizeof(float) * (size_t)T * D);
    float *w = malloc(sizeof(float) * (size_t)D * N);
    float *z = malloc(sizeof(float) * (size_t)T * N);
    if (!h || !w || !z) {
        fprintf(stderr, "bench_router: out of memory for the matmul\n");
        exit(1);
    }
    for (size_t i = 0; i < (size_t)T * D; i++)
        h[i] = (float)gsl_rng_uniform(rng) - 0.5f;
    for (size_t i = 0; i < (size_t)D * N; i++)
        w[i] = (float)gsl_rng_uniform(rng) - 0.5f;

    err_t e;
    err_clear(&e);
    enum { REPS = 3 };
    /* warm-up: OpenBLAS allocates its buffers on the first call */
    if (router_logits(h, T, D, w, N, z, &e))
        die("router_logits", &e);
    double best_gsl = 1e30, best_cblas = 1e30;
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now_s();
        if (router_logits(h, T, D, w, N, z, &e))
            die("router_logits", &e);
        double dt = bench_now_s() - t0;
        if (dt < best_gsl)
            best_gsl = dt;
        t0 = bench_now_s();
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, T, N, D, 1.0f,
                    h, D, w, N, 0.0f, z, N);
        dt = bench_now_s() - t0;
        if (dt < best_cblas)
            best_cblas = dt;
    }
    /* the whole gate: logits, then the V3 selection on them */
    router_config v3;
    router_config_init(&v3, ROUTER_V3_GROUP_LIMITED, N, 8);
    v3.n_group = 8;
    v3.topk_group = 4;
    v3.scaling_factor = 2.5f;
    router_out *out = NULL;
    if (router_out_create(T, T * 8, N, &out, &e))
        die("router_out_create", &e);
    double best_gate = 1e30;
    for (int r = 0; r < REPS; r++) {
        double t0 = bench_now_s();
        if (router_logits(h, T, D, w, N, z, &e) ||
            router_route(&v3, z, T, NULL, NULL, NULL, out, &e))
            die("logits + router_route", &e);
        double dt = bench_now_s() - t0;
        if (dt < best_gate)
            best_gate = dt;
    }
    router_out_destroy(out);
    printf("logits_shape = T%d_d%d_N%d\n", T, D, N);
    printf("openblas_threads = %d\n", openblas_get_num_threads());
    printf("logits_router_gflops = %.1f GFLOP/s\n", flop / best_gsl * 1e-9);
    printf("logits_cblas_gflops = %.1f GFLOP/s\n", flop / best_cblas * 1e-9);
    printf("logits_router_time = %.1f ms\n", best_gsl * 1e3);
    printf("v3_gate_with_logits_d%d_routings_per_s = %.3g 1/s\n", D,
           (double)T / best_gate);
    free(z);
    free(w);
    free(h);
}

int main(void)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng) {
        fprintf(stderr, "bench_router: out of memory\n");
        return 1;
    }
    gsl_rng_set(rng, 20250101);
    bench_selection(rng);
    bench_logits(rng);
    gsl_rng_free(rng);
    return 0;
}
