/*
 * Hash routing (Roller et al. 2021) and uniform random routing.
 *
 * The hash is the SplitMix64 stream seeded with token_id ^ hash_seed, each
 * output mod N. Expected experts come from SplitMix64's published
 * reference outputs (Rosetta Code, "Pseudo-random numbers/Splitmix64";
 * Vigna's splitmix64.c):
 *   seed 1234567: 6457827717110365317, 3203168211198807973,
 *                 9817491932198370423, 4593380528125082431, ...
 *   seed 0:       0xe220a8397b1dcdaf, 0x6e789e6aa1b965f4,
 *                 0x06c45d188009454f, 0xf88bb8a8724c81ec,
 *                 0x1b39896a51a8749b
 */
#include <stdlib.h>

#include <gsl/gsl_rng.h>

#include "tests/unit/router/router_testutil.h"

/* Token 1234567, seed 0:
 *  N = 8, K = 1: 6457827717110365317 mod 8 = 317 mod 8 = 5 (1000 = 0 mod 8).
 *  N = 10, K = 3: last digits 7, 3, 3 (repeat, skipped), 1 -> [7 3 1].
 * Token 0, seed 0, N = 16, K = 4: last hex digits f, 4, f (repeat), c, b
 *  -> [15 4 12 11].
 * Token 0 with hash_seed 1234567 is the stream of token 1234567: [7 3 1].
 * Weights are 1/K. */
static void test_router__hash_matches_splitmix64_reference(void **state)
{
    (void)state;
    const uint32_t id_a[1] = {1234567}, id_0[1] = {0};
    router_config cfg;
    router_out *o = rt_out(1, 4, 16);

    router_config_init(&cfg, ROUTER_HASH, 8, 1);
    rt_route(&cfg, NULL, 1, NULL, id_a, NULL, o);
    rt_expect_token(o, 0, 1, (const int32_t[]){5}, (const float[]){1.0f},
                    NULL, 0.0f);

    router_config_init(&cfg, ROUTER_HASH, 10, 3);
    rt_route(&cfg, NULL, 1, NULL, id_a, NULL, o);
    rt_expect_token(o, 0, 3, (const int32_t[]){7, 3, 1},
                    (const float[]){1.0f / 3, 1.0f / 3, 1.0f / 3}, NULL,
                    1e-7f);

    router_config_init(&cfg, ROUTER_HASH, 16, 4);
    rt_route(&cfg, NULL, 1, NULL, id_0, NULL, o);
    rt_expect_token(o, 0, 4, (const int32_t[]){15, 4, 12, 11},
                    (const float[]){0.25f, 0.25f, 0.25f, 0.25f}, NULL, 0.0f);

    router_config_init(&cfg, ROUTER_HASH, 10, 3);
    cfg.hash_seed = 1234567;
    rt_route(&cfg, NULL, 1, NULL, id_0, NULL, o);
    rt_expect_token(o, 0, 3, (const int32_t[]){7, 3, 1},
                    (const float[]){1.0f / 3, 1.0f / 3, 1.0f / 3}, NULL,
                    1e-7f);
    router_out_destroy(o);
}

/* The same id always gets the same experts, within a batch and across
 * calls; K = N gives every expert once; missing ids are an input error. */
static void test_router__hash_is_a_fixed_function_of_the_id(void **state)
{
    (void)state;
    enum { T = 6, N = 12, K = 12 };
    const uint32_t ids[T] = {42, 7, 42, 99, 7, 42};
    router_config cfg;
    router_config_init(&cfg, ROUTER_HASH, N, K);
    router_out *o = rt_out(T, T * K, N);
    rt_route(&cfg, NULL, T, NULL, ids, NULL, o);
    const int32_t *ex = router_out_experts(o);
    for (int t = 0; t < T; t++) {
        int seen[N] = {0};
        for (int j = 0; j < K; j++)
            seen[ex[t * K + j]]++;
        for (int e = 0; e < N; e++)
            assert_int_equal(seen[e], 1);
    }
    assert_memory_equal(ex + 0 * K, ex + 2 * K, K * sizeof *ex);
    assert_memory_equal(ex + 0 * K, ex + 5 * K, K * sizeof *ex);
    assert_memory_equal(ex + 1 * K, ex + 4 * K, K * sizeof *ex);
    rt_expect_load(o, N, (const int[]){6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6, 6});
    err_t e;
    err_clear(&e);
    assert_int_equal(router_route(&cfg, NULL, 1, NULL, NULL, NULL, o, &e),
                     ERR_INPUT);
    router_out_destroy(o);
}

/* Uniform with K = N takes every expert, in ascending order (gsl_ran_choose
 * keeps the order of its source). */
static void test_router__uniform_k_equals_n_takes_all(void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 5);
    router_config cfg;
    router_config_init(&cfg, ROUTER_UNIFORM, 4, 4);
    router_out *o = rt_out(2, 8, 4);
    rt_route(&cfg, NULL, 2, NULL, NULL, rng, o);
    for (int t = 0; t < 2; t++)
        rt_expect_token(o, t, 4, (const int32_t[]){0, 1, 2, 3},
                        (const float[]){0.25f, 0.25f, 0.25f, 0.25f}, NULL,
                        0.0f);
    err_t e;
    err_clear(&e);
    assert_int_equal(router_route(&cfg, NULL, 1, NULL, NULL, NULL, o, &e),
                     ERR_INPUT);
    router_out_destroy(o);
    gsl_rng_free(rng);
}

/* 20,000 tokens, N = 16, K = 4: picks are distinct and ascending per
 * token; each expert is picked about T K / N = 5000 times (binomial sd
 * sqrt(20000 * 1/4 * 3/4) = 61; allow 6 sd); the same seed repeats the
 * routing exactly and another seed does not. */
static void test_router__uniform_is_uniform_and_seeded(void **state)
{
    (void)state;
    enum { T = 20000, N = 16, K = 4 };
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    router_config cfg;
    router_config_init(&cfg, ROUTER_UNIFORM, N, K);
    router_out *o = rt_out(T, T * K, N), *again = rt_out(T, T * K, N);
    gsl_rng_set(rng, 11);
    rt_route(&cfg, NULL, T, NULL, NULL, rng, o);
    const int32_t *ex = router_out_experts(o);
    for (int t = 0; t < T; t++)
        for (int j = 1; j < K; j++)
            assert_true(ex[t * K + j] > ex[t * K + j - 1]);
    const int *load = router_out_expert_load(o);
    for (int e = 0; e < N; e++) {
        if (abs(load[e] - T * K / N) > 6 * 61)
            fprintf(stderr, "expert %d picked %d times, want %d +- %d\n", e,
                    load[e], T * K / N, 6 * 61);
        assert_true(abs(load[e] - T * K / N) <= 6 * 61);
    }
    gsl_rng_set(rng, 11);
    rt_route(&cfg, NULL, T, NULL, NULL, rng, again);
    assert_memory_equal(ex, router_out_experts(again),
                        (size_t)T * K * sizeof *ex);
    gsl_rng_set(rng, 12);
    rt_route(&cfg, NULL, T, NULL, NULL, rng, again);
    assert_memory_not_equal(ex, router_out_experts(again),
                            (size_t)T * K * sizeof *ex);
    router_out_destroy(again);
    router_out_destroy(o);
    gsl_rng_free(rng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router__hash_matches_splitmix64_reference),
        cmocka_unit_test(test_router__hash_is_a_fixed_function_of_the_id),
        cmocka_unit_test(test_router__uniform_k_equals_n_takes_all),
        cmocka_unit_test(test_router__uniform_is_uniform_and_seeded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
