/*
 * The CPU-specific v3 kernel (router_avx512.c) against the portable
 * kernels: on the same batch, byte-identical offsets, experts, weights,
 * dropped marks and loads, over the configurations it takes and the
 * inputs that stress it: random keys, exact ties everywhere (quantized
 * logits, saturated sigmoids), more than 16 keys at the threshold, NaN
 * and infinite logits, and keys that are negative or zero. On a CPU
 * without AVX-512 the comparison is skipped, and says so.
 */
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "tests/unit/router/router_testutil.h"

enum { T = 512, N = 256 };

static int cpu_has_avx512(void)
{
#if defined(__GNUC__) && defined(__x86_64__)
    return __builtin_cpu_supports("avx512f") &&
           __builtin_cpu_supports("avx512vl") &&
           __builtin_cpu_supports("avx512bw") &&
           __builtin_cpu_supports("popcnt") && __builtin_cpu_supports("bmi");
#else
    return 0;
#endif
}

/* Routes z (T x N) with bias under cfg through both kernels and requires
 * the same bytes, naming the first slot that differs. */
static void expect_same_bytes(const router_config *cfg, const float *z,
                              const float *bias, const char *what)
{
    router_config fast = *cfg, slow = *cfg;
    fast.portable = 0;
    slow.portable = 1;
    assert_string_equal(router_kernel_name(&fast), "avx512");
    assert_string_equal(router_kernel_name(&slow), "portable");
    router_out *a = rt_out(T, T * cfg->top_k, N);
    router_out *b = rt_out(T, T * cfg->top_k, N);
    rt_route(&fast, z, T, bias, NULL, NULL, a);
    rt_route(&slow, z, T, bias, NULL, NULL, b);
    int slots = router_out_slots(b);
    assert_int_equal(router_out_slots(a), slots);
    assert_memory_equal(router_out_offsets(a), router_out_offsets(b),
                        (T + 1) * sizeof(int32_t));
    const int32_t *ea = router_out_experts(a), *eb = router_out_experts(b);
    const float *wa = router_out_weights(a), *wb = router_out_weights(b);
    for (int s = 0; s < slots; s++) {
        if (ea[s] != eb[s] || memcmp(&wa[s], &wb[s], sizeof wa[s]) != 0) {
            fprintf(stderr,
                    "%s (K %d, keep %d): slot %d of token %d: avx512 "
                    "expert %d weight %a, portable expert %d weight %a\n",
                    what, cfg->top_k, cfg->topk_group, s, s / cfg->top_k,
                    ea[s], (double)wa[s], eb[s], (double)wb[s]);
            fail();
        }
    }
    assert_memory_equal(router_out_dropped(a), router_out_dropped(b),
                        (size_t)slots);
    assert_memory_equal(router_out_expert_load(a), router_out_expert_load(b),
                        N * sizeof(int));
    router_out_destroy(b);
    router_out_destroy(a);
}

/* The batches, each a (z, bias) pair written by kind. */
static void make_batch(int kind, gsl_rng *rng, float *z, float *bias)
{
    for (int i = 0; i < N; i++)
        bias[i] = (float)(0.1 * gsl_rng_uniform(rng) - 0.05);
    for (int i = 0; i < T * N; i++) {
        double u = gsl_rng_uniform(rng);
        switch (kind) {
        case 0: /* random keys: ties only by accident */
            z[i] = (float)(6.0 * u - 3.0);
            break;
        case 1: /* four logit values, no bias: ties at every cut, often
                 * more than 16 keys at the threshold */
            z[i] = (float)((int)(4.0 * u) - 1);
            break;
        case 2: /* saturated sigmoids: s is exactly 1 or exactly 0 */
            z[i] = u < 0.5 ? 120.0f : -120.0f;
            break;
        case 3: /* NaN and infinite logits among ordinary ones, and a row
                 * of NaN every 64 tokens */
            z[i] = u < 0.05   ? NAN
                   : u < 0.1  ? INFINITY
                   : u < 0.15 ? -INFINITY
                              : (float)(6.0 * u - 3.0);
            if ((i / N) % 64 == 63)
                z[i] = NAN;
            break;
        default: /* negative and zero keys: s = 1/2 against a bias of
                  * -1/2, or an ordinary s against -2 */
            z[i] = u < 0.5 ? 0.0f : (float)(6.0 * u - 3.0);
            break;
        }
    }
    if (kind == 1 || kind == 2)
        for (int i = 0; i < N; i++)
            bias[i] = 0.0f;
    if (kind == 4)
        for (int i = 0; i < N; i++)
            bias[i] = i % 3 ? -0.5f : -2.0f;
}

static void test_router__avx512_v3_kernel_matches_portable_bytes(
    void **state)
{
    (void)state;
    if (!cpu_has_avx512()) {
        fprintf(stderr, "test_kernels: this CPU lacks AVX-512F/VL/BW, "
                        "POPCNT or BMI1; only the portable kernels run "
                        "here\n");
        skip();
    }
    /* DeepSeek-V3's gate and the variants the kernel also takes */
    const struct {
        int k, tg, renorm;
        float scale;
    } cfgs[] = {
        {8, 4, 1, 2.5f}, {6, 3, 1, 1.0f}, {1, 1, 1, 1.0f},
        {8, 7, 0, 2.0f}, {8, 4, 0, 1.0f}, {5, 4, 1, 16.0f},
    };
    static float z[T * N];
    float bias[N];
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 91);
    const char *kinds[] = {"random", "quantized", "saturated", "nan-inf",
                           "negative-keys"};
    for (int kind = 0; kind < 5; kind++) {
        make_batch(kind, rng, z, bias);
        for (size_t c = 0; c < sizeof cfgs / sizeof cfgs[0]; c++) {
            router_config cfg;
            router_config_init(&cfg, ROUTER_V3_GROUP_LIMITED, N, cfgs[c].k);
            cfg.n_group = 8;
            cfg.topk_group = cfgs[c].tg;
            cfg.renormalize = cfgs[c].renorm;
            cfg.scaling_factor = cfgs[c].scale;
            expect_same_bytes(&cfg, z, bias, kinds[kind]);
            expect_same_bytes(&cfg, z, NULL, kinds[kind]);
        }
    }
    gsl_rng_free(rng);
}

/* Configurations outside the kernel's shape run the portable kernels. */
static void test_router__kernel_choice_follows_the_shape(void **state)
{
    (void)state;
    router_config cfg;
    router_config_init(&cfg, ROUTER_V3_GROUP_LIMITED, N, 8);
    cfg.n_group = 8;
    cfg.topk_group = 4;
    assert_string_equal(router_kernel_name(&cfg),
                        cpu_has_avx512() ? "avx512" : "portable");
    cfg.portable = 1;
    assert_string_equal(router_kernel_name(&cfg), "portable");
    cfg.portable = 0;
    cfg.topk_group = 3; /* 2 * 3 < K = 8: no threshold from the groups */
    assert_string_equal(router_kernel_name(&cfg), "portable");
    cfg.topk_group = 8; /* every group kept */
    assert_string_equal(router_kernel_name(&cfg), "portable");
    router_config_init(&cfg, ROUTER_V3_GROUP_LIMITED, 128, 8);
    cfg.n_group = 8;
    cfg.topk_group = 4;
    assert_string_equal(router_kernel_name(&cfg), "portable");
    router_config_init(&cfg, ROUTER_TOPK, N, 8);
    assert_string_equal(router_kernel_name(&cfg), "portable");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router__avx512_v3_kernel_matches_portable_bytes),
        cmocka_unit_test(test_router__kernel_choice_follows_the_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
