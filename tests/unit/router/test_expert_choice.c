/*
 * Expert choice (Zhou et al. 2022, arXiv 2202.09368): each expert takes the
 * k = round(c * T / N) tokens with the highest softmax share in its
 * column; k rounds half to even as flaxformer's int(round(...)).
 */
#include <gsl/gsl_rng.h>

#include "tests/unit/router/router_testutil.h"

/* T = 4, N = 2, c = 1: k = round(4/2) = 2.
 * Token logits [ln 3, 0] -> p [.75 .25]; [0 0] -> [.5 .5] (tokens 1, 2);
 * [0, ln 3] -> [.25 .75].
 * Expert 0's column [.75 .5 .5 .25]: token 0, then 1 and 2 tie, 1 wins.
 * Expert 1's column [.25 .5 .5 .75]: token 3, then 1 (tie with 2).
 * Token 0 -> {0: .75}; token 1 -> {0: .5, 1: .5}; token 2 -> nothing;
 * token 3 -> {1: .75}. Offsets [0 1 3 3 4], loads [2 2]. */
static void test_router__expert_choice_hand_example(void **state)
{
    (void)state;
    float z[4 * 2] = {ln_f(3), 0, 0, 0, 0, 0, 0, ln_f(3)};
    router_config cfg;
    router_config_init(&cfg, ROUTER_EXPERT_CHOICE, 2, 0);
    router_out *o = rt_out(4, 4, 2);
    rt_route(&cfg, z, 4, NULL, NULL, NULL, o);
    rt_expect_token(o, 0, 1, (const int32_t[]){0}, (const float[]){0.75f},
                    NULL, 1e-6f);
    rt_expect_token(o, 1, 2, (const int32_t[]){0, 1},
                    (const float[]){0.5f, 0.5f}, NULL, 1e-6f);
    rt_expect_token(o, 2, 0, NULL, NULL, NULL, 0.0f);
    rt_expect_token(o, 3, 1, (const int32_t[]){1}, (const float[]){0.75f},
                    NULL, 1e-6f);
    const int32_t *off = router_out_offsets(o);
    assert_int_equal(off[0], 0);
    assert_int_equal(off[2], 3);
    assert_int_equal(off[3], 3);
    assert_int_equal(off[4], 4);
    rt_expect_load(o, 2, (const int[]){2, 2});
    router_out_destroy(o);
}

static int k_for(int T, int N, double c, int cap_min)
{
    router_config cfg;
    router_config_init(&cfg, ROUTER_EXPERT_CHOICE, N, 0);
    cfg.capacity_factor = c;
    cfg.capacity_min = cap_min;
    int slots = -1;
    err_t e;
    err_clear(&e);
    assert_int_equal(router_slots_needed(&cfg, T, &slots, &e), 0);
    return slots / N;
}

/* k = round(c T / N), half to even like Python's round: 10/4 = 2.5 -> 2,
 * 14/4 = 3.5 -> 4, 6/4 = 1.5 -> 2, 2 * 8/4 = 4; raised to capacity_min
 * (1 * 4/8 = 0.5 -> 0, min 3 -> 3); at most T (4 * 3/2 = 6 -> 3). */
static void test_router__expert_choice_k_rounding(void **state)
{
    (void)state;
    assert_int_equal(k_for(10, 4, 1.0, 0), 2);
    assert_int_equal(k_for(14, 4, 1.0, 0), 4);
    assert_int_equal(k_for(6, 4, 1.0, 0), 2);
    assert_int_equal(k_for(8, 4, 2.0, 0), 4);
    assert_int_equal(k_for(4, 8, 1.0, 3), 3);
    assert_int_equal(k_for(3, 2, 4.0, 0), 3);

    /* k = T: every expert takes every token */
    float z[3 * 2] = {1, 2, 3, 4, 5, 6};
    router_config cfg;
    router_config_init(&cfg, ROUTER_EXPERT_CHOICE, 2, 0);
    cfg.capacity_factor = 4.0;
    router_out *o = rt_out(3, 6, 2);
    rt_route(&cfg, z, 3, NULL, NULL, NULL, o);
    rt_expect_load(o, 2, (const int[]){3, 3});
    for (int t = 0; t < 3; t++)
        assert_int_equal(router_out_offsets(o)[t + 1] - router_out_offsets(o)[t], 2);
    router_out_destroy(o);
}

/* Over seeded random batches (T = 256, N = 16, c = 2, so k = 32): every
 * expert takes exactly k tokens; a token lists each expert at most once,
 * in ascending order; each weight is the softmax share of that (token,
 * expert), computed here in double; and an expert's chosen tokens are its
 * k best: the smallest chosen share is >= the largest share it passed
 * over. */
static void test_router__expert_choice_every_expert_takes_k(void **state)
{
    (void)state;
    enum { T = 256, N = 16, K = 32, BATCHES = 30 };
    static float z[T * N];
    static double p[T * N];
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 2202);
    router_config cfg;
    router_config_init(&cfg, ROUTER_EXPERT_CHOICE, N, 0);
    cfg.capacity_factor = 2.0;
    router_out *o = rt_out(T, N * K, N);
    for (int b = 0; b < BATCHES; b++) {
        for (int t = 0; t < T; t++) {
            double m = -1e30, sum = 0;
            for (int i = 0; i < N; i++) {
                z[t * N + i] = (float)(4.0 * gsl_rng_uniform(rng));
                m = z[t * N + i] > m ? z[t * N + i] : m;
            }
            for (int i = 0; i < N; i++)
                sum += p[t * N + i] = exp(z[t * N + i] - m);
            for (int i = 0; i < N; i++)
                p[t * N + i] /= sum;
        }
        rt_route(&cfg, z, T, NULL, NULL, NULL, o);
        const int *load = router_out_expert_load(o);
        for (int e = 0; e < N; e++) {
            if (load[e] != K)
                fprintf(stderr, "batch %d expert %d took %d tokens, want "
                                "%d\n",
                        b, e, load[e], K);
            assert_int_equal(load[e], K);
        }
        const int32_t *off = router_out_offsets(o);
        const int32_t *ex = router_out_experts(o);
        const float *w = router_out_weights(o);
        assert_int_equal(off[T], N * K);
        static unsigned char chosen[T * N];
        for (int i = 0; i < T * N; i++)
            chosen[i] = 0;
        for (int t = 0; t < T; t++) {
            for (int s = off[t]; s < off[t + 1]; s++) {
                assert_true(s == off[t] || ex[s] > ex[s - 1]);
                assert_float_equal(w[s], p[t * N + ex[s]], 1e-6);
                chosen[t * N + ex[s]] = 1;
            }
        }
        for (int e = 0; e < N; e++) {
            double min_in = 2, max_out = -1;
            for (int t = 0; t < T; t++) {
                double v = p[t * N + e];
                if (chosen[t * N + e])
                    min_in = v < min_in ? v : min_in;
                else
                    max_out = v > max_out ? v : max_out;
            }
            if (min_in < max_out - 1e-7)
                fprintf(stderr, "batch %d expert %d: kept a share %.8f "
                                "below one it passed over, %.8f\n",
                        b, e, min_in, max_out);
            assert_true(min_in >= max_out - 1e-7);
        }
    }
    router_out_destroy(o);
    gsl_rng_free(rng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router__expert_choice_hand_example),
        cmocka_unit_test(test_router__expert_choice_k_rounding),
        cmocka_unit_test(test_router__expert_choice_every_expert_takes_k),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
