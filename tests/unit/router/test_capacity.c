/*
 * Capacity-limited routing: Switch (top-1, C = ceil(T/N * factor), arrival
 * order) and GShard top-2 (C = ceil(T/N * 2 * factor) as DeepSpeed's
 * _capacity, Gumbel second choice, first choices before all second
 * choices). Expected drops are computed here from the logits and the
 * capacity formula, never from the router's own counts.
 */
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "tests/unit/router/router_testutil.h"

/* Logits of a token whose softmax puts 1/2 on expert `hot` and shares the
 * rest equally over the other n-1 (n = 3: [ln 2, 0, 0] -> [.5 .25 .25]). */
static void half_on(float *z, int n, int hot)
{
    for (int i = 0; i < n; i++)
        z[i] = i == hot ? ln_f(n - 1) : 0.0f;
}

/* T = 6, N = 3, factor 1: C = ceil(6/3 * 1) = 2. Top-1 experts by token:
 * 0 0 0 1 0 2. Expert 0 is wanted by tokens 0, 1, 2, 4: 0 and 1 fill its
 * two slots, 2 and 4 are dropped (weight 0). Kept weights are p = .5.
 * Loads [2 1 1], 2 dropped = max(0, 4-2). With factor 1.5, C = ceil(3) = 3
 * and only token 4 is dropped. */
static void test_router__switch_drops_late_arrivals(void **state)
{
    (void)state;
    const int hot[6] = {0, 0, 0, 1, 0, 2};
    float z[6 * 3];
    for (int t = 0; t < 6; t++)
        half_on(z + 3 * t, 3, hot[t]);
    router_config cfg;
    router_config_init(&cfg, ROUTER_SWITCH, 3, 1);
    router_out *o = rt_out(6, 6, 3);
    rt_route(&cfg, z, 6, NULL, NULL, NULL, o);
    const uint8_t kept[1] = {0}, drop[1] = {1};
    for (int t = 0; t < 6; t++) {
        int dropped = t == 2 || t == 4;
        rt_expect_token(o, t, 1, (const int32_t[]){hot[t]},
                        (const float[]){dropped ? 0.0f : 0.5f},
                        dropped ? drop : kept, 1e-6f);
    }
    rt_expect_load(o, 3, (const int[]){2, 1, 1});
    assert_int_equal(router_out_dropped_count(o), 2);

    cfg.capacity_factor = 1.5;
    rt_route(&cfg, z, 6, NULL, NULL, NULL, o);
    rt_expect_load(o, 3, (const int[]){3, 1, 1});
    assert_int_equal(router_out_dropped_count(o), 1);
    assert_int_equal(router_out_dropped(o)[4], 1);
    router_out_destroy(o);
}

/* Rounding up and the floor: T = 5, N = 3, factor 1: 5/3 = 1.67 -> C = 2;
 * three tokens to expert 0 lose the third. Factor 0.1 gives ceil(0.17) =
 * 1, raised to capacity_min = 2: the same result. */
static void test_router__switch_capacity_rounds_up(void **state)
{
    (void)state;
    const int hot[5] = {0, 0, 0, 1, 2};
    float z[5 * 3];
    for (int t = 0; t < 5; t++)
        half_on(z + 3 * t, 3, hot[t]);
    router_config cfg;
    router_config_init(&cfg, ROUTER_SWITCH, 3, 1);
    router_out *o = rt_out(5, 5, 3);
    rt_route(&cfg, z, 5, NULL, NULL, NULL, o);
    rt_expect_load(o, 3, (const int[]){2, 1, 1});
    assert_int_equal(router_out_dropped(o)[2], 1);

    cfg.capacity_factor = 0.1;
    cfg.capacity_min = 2;
    rt_route(&cfg, z, 5, NULL, NULL, NULL, o);
    rt_expect_load(o, 3, (const int[]){2, 1, 1});
    router_out_destroy(o);
}

/* GShard, T = 8, N = 4, factor 1: C = ceil(8/4 * 2) = 4.
 * Tokens 0-3: logits [30, 0, -1000, -1000] (first choice 0, p ~ 1);
 * tokens 4-7: [0, 30, -1000, -1000] (first choice 1).
 * The second choice is argmax(z + Gumbel) without the first. GSL's
 * Gumbel from a 32-bit generator lies in [-ln(-ln 2^-32), -ln(-ln(1 -
 * 2^-32))] = [-3.1, 22.2], so 0 + g always beats -1000 + g: tokens 0-3
 * take 1 second, tokens 4-7 take 0.
 * Expert 0: first choices of tokens 0-3 fill slots 0-3; the second choices
 * of tokens 4-7 queue behind all 4 first choices (positions 4-7 >= C) and
 * are dropped, and expert 1 likewise: first choices win over second
 * choices that arrived earlier (token 0's second choice of expert 1 comes
 * before token 4's first choice of it). Every token keeps its first
 * choice, renormalised over what was kept: p1 / p1 = 1. Drops 8 =
 * max(0, 8 - 4) for experts 0 and 1. */
static void test_router__gshard_first_choices_have_priority(void **state)
{
    (void)state;
    float z[8 * 4];
    for (int t = 0; t < 8; t++) {
        float *r = z + 4 * t;
        r[0] = t < 4 ? 30.0f : 0.0f;
        r[1] = t < 4 ? 0.0f : 30.0f;
        r[2] = r[3] = -1000.0f;
    }
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 1);
    router_config cfg;
    router_config_init(&cfg, ROUTER_GSHARD, 4, 2);
    router_out *o = rt_out(8, 16, 4);
    rt_route(&cfg, z, 8, NULL, NULL, rng, o);
    for (int t = 0; t < 8; t++) {
        int first = t < 4 ? 0 : 1;
        rt_expect_token(o, t, 2, (const int32_t[]){first, 1 - first},
                        (const float[]){1.0f, 0.0f},
                        (const uint8_t[]){0, 1}, 1e-6f);
    }
    rt_expect_load(o, 4, (const int[]){4, 4, 0, 0});
    assert_int_equal(router_out_dropped_count(o), 8);
    router_out_destroy(o);
    gsl_rng_free(rng);
}

/* GShard weights: T = 4, N = 4, C = ceil(4/4 * 2) = 2, nothing dropped.
 * Token 0: ln [3, 1, -1000, -1000] -> p = [.75 .25 0 0]: first 0, second 1
 * (Gumbel cannot lift -1000 over 0), weights .75 and .25 over their sum 1.
 * Token 1: [-1000, -1000, ln 3, 0]: first 2, second 3, [.75 .25]. Tokens
 * 2 and 3 repeat 0 and 1. */
static void test_router__gshard_renormalises_kept_gates(void **state)
{
    (void)state;
    float z[4 * 4];
    for (int t = 0; t < 4; t++) {
        float *r = z + 4 * t;
        if (t % 2 == 0) {
            r[0] = ln_f(3);
            r[1] = 0.0f;
            r[2] = r[3] = -1000.0f;
        } else {
            r[0] = r[1] = -1000.0f;
            r[2] = ln_f(3);
            r[3] = 0.0f;
        }
    }
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 7);
    router_config cfg;
    router_config_init(&cfg, ROUTER_GSHARD, 4, 2);
    router_out *o = rt_out(4, 8, 4);
    rt_route(&cfg, z, 4, NULL, NULL, rng, o);
    for (int t = 0; t < 4; t++) {
        int a = t % 2 == 0 ? 0 : 2;
        rt_expect_token(o, t, 2, (const int32_t[]){a, a + 1},
                        (const float[]){0.75f, 0.25f}, NULL, 1e-6f);
    }
    assert_int_equal(router_out_dropped_count(o), 0);
    router_out_destroy(o);
    gsl_rng_free(rng);
}

/* The capacity formula, written out here from DeepSpeed's _capacity. */
static int want_capacity(int T, int N, double factor, int topk)
{
    double c = ceil((double)T / N * (factor * topk));
    return c > T ? T : (int)c;
}

/* Integer logits 0..11, plus 2 on experts 0..3 so they are wanted more
 * than the others and overflow. Integers keep distinct logits distinct
 * after softmax (they differ by a factor e at least) and make exact ties
 * common, which the argmax below breaks the same way as the router. */
static void random_logits(gsl_rng *rng, float *z, int T, int N)
{
    for (int i = 0; i < T * N; i++)
        z[i] = (float)gsl_rng_uniform_int(rng, 12) + (i % N < 4 ? 2.0f : 0.0f);
}

/* Index of the largest logit, lower index on ties (softmax is monotone). */
static int argmax(const float *z, int n)
{
    int b = 0;
    for (int i = 1; i < n; i++)
        if (z[i] > z[b])
            b = i;
    return b;
}

/* Switch over seeded random batches: per expert, the kept tokens are the
 * first C (in token order) of those whose argmax it is, loads are
 * min(demand, C) and the dropped count is sum(max(0, demand - C)). */
static void test_router__switch_capacity_properties(void **state)
{
    (void)state;
    enum { N = 16, T = 512, BATCHES = 40 };
    static float z[T * N];
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 101);
    router_out *o = rt_out(T, T, N);
    const double factors[3] = {1.0, 1.25, 0.5};
    for (int f = 0; f < 3; f++) {
        router_config cfg;
        router_config_init(&cfg, ROUTER_SWITCH, N, 1);
        cfg.capacity_factor = factors[f];
        int cap = want_capacity(T, N, factors[f], 1), total_drops = 0;
        for (int b = 0; b < BATCHES; b++) {
            random_logits(rng, z, T, N);
            rt_route(&cfg, z, T, NULL, NULL, NULL, o);
            int demand[N] = {0}, drops = 0;
            const uint8_t *dr = router_out_dropped(o);
            const int32_t *ex = router_out_experts(o);
            for (int t = 0; t < T; t++) {
                int e = argmax(z + t * N, N);
                assert_int_equal(ex[t], e);
                int want_drop = demand[e] >= cap;
                if (dr[t] != want_drop)
                    fprintf(stderr, "factor %.2f batch %d token %d expert "
                                    "%d: dropped %d, want %d (C=%d, "
                                    "earlier demand %d)\n",
                            factors[f], b, t, e, dr[t], want_drop, cap,
                            demand[e]);
                assert_int_equal(dr[t], want_drop);
                demand[e]++;
            }
            const int *load = router_out_expert_load(o);
            for (int e = 0; e < N; e++) {
                int want = demand[e] < cap ? demand[e] : cap;
                if (load[e] != want || load[e] > cap)
                    fprintf(stderr, "expert %d load %d, want %d (C=%d)\n", e,
                            load[e], want, cap);
                assert_int_equal(load[e], want);
                drops += demand[e] > cap ? demand[e] - cap : 0;
            }
            assert_int_equal(router_out_dropped_count(o), drops);
            total_drops += drops;
        }
        assert_true(total_drops > 0); /* the batches did overflow */
    }
    router_out_destroy(o);
    gsl_rng_free(rng);
}

/* GShard over seeded random batches: the first choice is the argmax; the
 * second differs from it; no expert exceeds C; per expert the kept count
 * is min(C, first + second demand) and the dropped count is
 * sum(max(0, demand - C)); a kept second choice means every first choice
 * of that expert was kept; kept gates sum to 1 per token unless both were
 * dropped. The same seed gives the same routing. */
static void test_router__gshard_capacity_properties(void **state)
{
    (void)state;
    enum { N = 16, T = 512, BATCHES = 40 };
    static float z[T * N];
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 202);
    gsl_rng *noise = gsl_rng_alloc(gsl_rng_mt19937);
    router_out *o = rt_out(T, 2 * T, N);
    router_out *again = rt_out(T, 2 * T, N);
    const double factors[2] = {1.0, 0.5};
    for (int f = 0; f < 2; f++) {
        router_config cfg;
        router_config_init(&cfg, ROUTER_GSHARD, N, 2);
        cfg.capacity_factor = factors[f];
        int cap = want_capacity(T, N, factors[f], 2), total_drops = 0;
        for (int b = 0; b < BATCHES; b++) {
            random_logits(rng, z, T, N);
            gsl_rng_set(noise, (unsigned long)(1000 + b));
            rt_route(&cfg, z, T, NULL, NULL, noise, o);
            gsl_rng_set(noise, (unsigned long)(1000 + b));
            rt_route(&cfg, z, T, NULL, NULL, noise, again);
            assert_memory_equal(router_out_experts(o),
                                router_out_experts(again),
                                2 * T * sizeof(int32_t));
            assert_memory_equal(router_out_weights(o),
                                router_out_weights(again),
                                2 * T * sizeof(float));

            const int32_t *ex = router_out_experts(o);
            const uint8_t *dr = router_out_dropped(o);
            const float *w = router_out_weights(o);
            int d1[N] = {0}, d2[N] = {0}, kept1[N] = {0}, kept2[N] = {0};
            for (int t = 0; t < T; t++) {
                assert_int_equal(ex[2 * t], argmax(z + t * N, N));
                assert_int_not_equal(ex[2 * t + 1], ex[2 * t]);
                d1[ex[2 * t]]++;
                d2[ex[2 * t + 1]]++;
                kept1[ex[2 * t]] += !dr[2 * t];
                kept2[ex[2 * t + 1]] += !dr[2 * t + 1];
                float sum = w[2 * t] + w[2 * t + 1];
                float want = dr[2 * t] && dr[2 * t + 1] ? 0.0f : 1.0f;
                assert_float_equal(sum, want, 1e-6);
            }
            int drops = 0;
            const int *load = router_out_expert_load(o);
            for (int e = 0; e < N; e++) {
                int demand = d1[e] + d2[e];
                int want = demand < cap ? demand : cap;
                if (load[e] != want || kept1[e] + kept2[e] != want ||
                    (kept2[e] > 0 && kept1[e] != d1[e]))
                    fprintf(stderr, "factor %.2f batch %d expert %d: load "
                                    "%d, kept %d+%d of %d+%d, C=%d\n",
                            factors[f], b, e, load[e], kept1[e], kept2[e],
                            d1[e], d2[e], cap);
                assert_int_equal(load[e], want);
                assert_int_equal(kept1[e] + kept2[e], want);
                assert_true(kept2[e] == 0 || kept1[e] == d1[e]);
                drops += demand > cap ? demand - cap : 0;
            }
            assert_int_equal(router_out_dropped_count(o), drops);
            total_drops += drops;
        }
        assert_true(total_drops > 0);
    }
    router_out_destroy(again);
    router_out_destroy(o);
    gsl_rng_free(noise);
    gsl_rng_free(rng);
}

/* With equal logits the second choice is the Gumbel argmax over the other
 * N - 1 experts, so each should be about equally frequent: 8000 tokens,
 * N = 5, first choice 0 (the lowest of the tie), seconds over 1..4 at
 * 2000 each (sd sqrt(8000 * 1/4 * 3/4) = 39); allow 6 sd. GShard needs an
 * rng: NULL is an input error. */
static void test_router__gshard_second_choice_is_random(void **state)
{
    (void)state;
    enum { N = 5, T = 8000 };
    static float z[T * N];
    memset(z, 0, sizeof z);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 99);
    router_config cfg;
    router_config_init(&cfg, ROUTER_GSHARD, N, 2);
    cfg.capacity_factor = (double)N; /* C = 2T: nothing dropped */
    router_out *o = rt_out(T, 2 * T, N);
    rt_route(&cfg, z, T, NULL, NULL, rng, o);
    int count[N] = {0};
    const int32_t *ex = router_out_experts(o);
    for (int t = 0; t < T; t++) {
        assert_int_equal(ex[2 * t], 0);
        count[ex[2 * t + 1]]++;
    }
    for (int e = 1; e < N; e++) {
        if (abs(count[e] - T / 4) > 6 * 39)
            fprintf(stderr, "second choice %d taken %d times, want %d +- "
                            "%d\n",
                    e, count[e], T / 4, 6 * 39);
        assert_true(abs(count[e] - T / 4) <= 6 * 39);
    }
    err_t e;
    err_clear(&e);
    assert_int_equal(router_route(&cfg, z, 1, NULL, NULL, NULL, o, &e),
                     ERR_INPUT);
    router_out_destroy(o);
    gsl_rng_free(rng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router__switch_drops_late_arrivals),
        cmocka_unit_test(test_router__switch_capacity_rounds_up),
        cmocka_unit_test(test_router__gshard_first_choices_have_priority),
        cmocka_unit_test(test_router__gshard_renormalises_kept_gates),
        cmocka_unit_test(test_router__switch_capacity_properties),
        cmocka_unit_test(test_router__gshard_capacity_properties),
        cmocka_unit_test(test_router__gshard_second_choice_is_random),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
