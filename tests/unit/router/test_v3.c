/*
 * DeepSeek gates: V3 (sigmoid, correction bias, sum-of-top-2 group score,
 * -inf masking, renormalised unbiased weights) and V2 (softmax, max group
 * score, unrenormalised weights times the scaling factor), and the
 * aux-loss-free bias update of the V3 report, section 2.1.2.
 *
 * Sigmoid scores are exact in the hand examples: sigmoid(ln(s/(1-s))) = s,
 * e.g. ln 9 -> 0.9, -ln 9 -> 0.1, ln 1.5 -> 0.6, ln 4 -> 0.8, -ln 3 -> 0.25.
 */
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "tests/unit/router/router_testutil.h"

/* N = 8 in 4 groups of 2 ({0,1} {2,3} {4,5} {6,7}), keep 2 groups, K = 2,
 * scale 2.5, renormalised. Scores s = [.9 .1 | .6 .6 | .8 .25 | .1 .9].
 *
 * No bias: group score = sum of the top 2 = [1.0, 1.2, 1.05, 1.0], so
 * groups 1 and 2 are kept (a max rule would keep 0 and 3 at 0.9, and an
 * unrestricted top-2 would take experts 0 and 7). Among {2:.6, 3:.6, 4:.8,
 * 5:.25}: expert 4, then 2 and 3 tie and 2 wins. Weights .8 and .6 over
 * 1.4, times 2.5: 1.4285714, 1.0714286. */
static const double v3_scores[8] = {0.9, 0.1, 0.6, 0.6, 0.8, 0.25, 0.1, 0.9};

static void v3_config(router_config *cfg)
{
    router_config_init(cfg, ROUTER_V3_GROUP_LIMITED, 8, 2);
    cfg->n_group = 4;
    cfg->topk_group = 2;
    cfg->scaling_factor = 2.5f;
    assert_int_equal(cfg->renormalize, 1); /* the V3 default */
}

/* Bias -0.3 on expert 3 and +0.5 on expert 5 (the next two tests). */
static const float v3_bias[8] = {0, 0, 0, -0.3f, 0, 0.5f, 0, 0};

/* Routes one token of logits logit_f(v3_scores) under cfg and bias
 * (NULL: none); the caller owns the result. */
static router_out *route_v3_scores(const router_config *cfg,
                                   const float *bias)
{
    float z[8];
    for (int i = 0; i < 8; i++)
        z[i] = logit_f(v3_scores[i]);
    router_out *o = rt_out(1, 2, 8);
    rt_route(cfg, z, 1, bias, NULL, NULL, o);
    return o;
}

static void test_router__v3_group_score_is_sum_of_top2(void **state)
{
    (void)state;
    router_config cfg;
    v3_config(&cfg);
    router_out *o = route_v3_scores(&cfg, NULL);
    rt_expect_token(o, 0, 2, (const int32_t[]){4, 2},
                    (const float[]){0.8f / 1.4f * 2.5f, 0.6f / 1.4f * 2.5f},
                    NULL, 1e-5f);
    router_out_destroy(o);
}

/* Same scores with bias -0.3 on expert 3 and +0.5 on expert 5: biased
 * b = [.9 .1 | .6 .3 | .8 .75 | .1 .9], group sums [1.0, 0.9, 1.55, 1.0].
 * Group 2 is kept, groups 0 and 3 tie at 1.0 (the same two values) and 0
 * wins. Among {0:.9, 1:.1, 4:.8, 5:.75}: experts 0 and 4. The weights use
 * the unbiased s: .9 and .8 over 1.7, times 2.5: 1.3235294, 1.1764706.
 * Without the bias in the weights expert 5's .75 would not matter anyway;
 * the bias changed the choice (group 1 -> group 0) but not the weights. */
static void test_router__v3_bias_chooses_but_does_not_weigh(void **state)
{
    (void)state;
    router_config cfg;
    v3_config(&cfg);
    router_out *o = route_v3_scores(&cfg, v3_bias);
    rt_expect_token(o, 0, 2, (const int32_t[]){0, 4},
                    (const float[]){0.9f / 1.7f * 2.5f, 0.8f / 1.7f * 2.5f},
                    NULL, 1e-5f);
    router_out_destroy(o);
}

/* n_group = topk_group = 1: unrestricted sigmoid top-k with the same bias.
 * b = [.9 .1 .6 .3 .8 .75 .1 .9]: experts 0 and 7 tie at .9, 0 first;
 * weights .9/1.8 * 2.5 = 1.25 each. */
static void test_router__v3_unrestricted_is_plain_topk(void **state)
{
    (void)state;
    router_config cfg;
    v3_config(&cfg);
    cfg.n_group = 1;
    cfg.topk_group = 1;
    router_out *o = route_v3_scores(&cfg, v3_bias);
    rt_expect_token(o, 0, 2, (const int32_t[]){0, 7},
                    (const float[]){1.25f, 1.25f}, NULL, 1e-5f);
    router_out_destroy(o);
}

/* DeepSeek's Gate masks dropped groups with -inf, transformers with 0.0;
 * they differ when a kept expert's biased score is below 0. N = 4 in 2
 * groups, keep 1, K = 2, logits 0 (s = .5), bias [-.2 -.9 -.8 -.8]: b =
 * [.3 -.4 | -.3 -.3]; group sums -.1 and -.6 keep group 0. With -inf
 * masking the picks are 0 (.3) and 1 (-.4); 0.0 masking would take expert
 * 2 (0.0 > -.4). Weights .5/.5 * 1 = [.5, .5]. */
static void test_router__v3_masks_dropped_groups_with_minus_inf(void **state)
{
    (void)state;
    float z[4] = {0, 0, 0, 0}, bias[4] = {-0.2f, -0.9f, -0.8f, -0.8f};
    router_config cfg;
    router_config_init(&cfg, ROUTER_V3_GROUP_LIMITED, 4, 2);
    cfg.n_group = 2;
    cfg.topk_group = 1;
    router_out *o = rt_out(1, 2, 4);
    rt_route(&cfg, z, 1, bias, NULL, NULL, o);
    rt_expect_token(o, 0, 2, (const int32_t[]){0, 1},
                    (const float[]){0.5f, 0.5f}, NULL, 1e-6f);
    router_out_destroy(o);
}

/* DeepSeek-V2, N = 8 in 4 groups of 2, keep 2, K = 3, scale 16, no
 * renormalisation. Logits ln [1 6 | 5 1 | 2 3 | 4 4], sum 26.
 * Group score = max: [6, 5, 3, 4] keeps groups 0 and 1 (a sum-of-top-2
 * rule would keep 3 and 0: [7, 6, 5, 8]). Among {0:1, 1:6, 2:5, 3:1}:
 * 1, 2, then 0 and 3 tie and 0 wins (unrestricted would take 6 before 0).
 * Weights p * 16: 6/26*16, 5/26*16, 1/26*16 = 3.6923077, 3.0769231,
 * 0.61538462 (sum 12/26*16: less than the factor, as V2 intends). */
static void test_router__v2_group_score_is_max_weights_unnormalised(
    void **state)
{
    (void)state;
    const double e[8] = {1, 6, 5, 1, 2, 3, 4, 4};
    float z[8];
    for (int i = 0; i < 8; i++)
        z[i] = ln_f(e[i]);
    router_config cfg;
    router_config_init(&cfg, ROUTER_V2_DEVICE_LIMITED, 8, 3);
    cfg.n_group = 4;
    cfg.topk_group = 2;
    cfg.scaling_factor = 16.0f;
    router_out *o = rt_out(1, 3, 8);
    rt_route(&cfg, z, 1, NULL, NULL, NULL, o);
    rt_expect_token(o, 0, 3, (const int32_t[]){1, 2, 0},
                    (const float[]){6.0f / 26 * 16, 5.0f / 26 * 16,
                                    1.0f / 26 * 16},
                    NULL, 1e-5f);
    router_out_destroy(o);
}

/* V2 group tie: ln [5 1 | 1 5 | 2 2 | 3 3], keep 1 group, K = 1: groups 0
 * and 1 tie at max 5; group 0 wins, so expert 0 (p = 5/22). */
static void test_router__v2_group_tie_keeps_lower_group(void **state)
{
    (void)state;
    const double e[8] = {5, 1, 1, 5, 2, 2, 3, 3};
    float z[8];
    for (int i = 0; i < 8; i++)
        z[i] = ln_f(e[i]);
    router_config cfg;
    router_config_init(&cfg, ROUTER_V2_DEVICE_LIMITED, 8, 1);
    cfg.n_group = 4;
    cfg.topk_group = 1;
    router_out *o = rt_out(1, 1, 8);
    rt_route(&cfg, z, 1, NULL, NULL, NULL, o);
    rt_expect_token(o, 0, 1, (const int32_t[]){0},
                    (const float[]){5.0f / 22}, NULL, 1e-6f);
    router_out_destroy(o);
}

/* V3 report 2.1.2: loads [5 3 4 4], mean 4: expert 0 is overloaded
 * (-gamma), 1 underloaded (+gamma), 2 and 3 at the mean stay. Loads [1 2],
 * mean 1.5: +gamma, -gamma. */
static void test_router__bias_update_moves_against_load(void **state)
{
    (void)state;
    float bias[4] = {0, 0, 0, 0};
    router_bias_update(bias, (const int[]){5, 3, 4, 4}, 4, 0.001f);
    assert_float_equal(bias[0], -0.001, 1e-9);
    assert_float_equal(bias[1], 0.001, 1e-9);
    assert_float_equal(bias[2], 0.0, 0.0);
    assert_float_equal(bias[3], 0.0, 0.0);

    float b2[2] = {0.5f, 0.5f};
    router_bias_update(b2, (const int[]){1, 2}, 2, 0.25f);
    assert_float_equal(b2[0], 0.75, 0.0);
    assert_float_equal(b2[1], 0.25, 0.0);
}

static double max_over_mean(const int *load, int n)
{
    double sum = 0, mx = 0;
    for (int i = 0; i < n; i++) {
        sum += load[i];
        mx = load[i] > mx ? load[i] : mx;
    }
    return mx / (sum / n);
}

/* Aux-loss-free balancing converges: 16 experts, K = 2, sigmoid gate, and
 * every token's logits are N(0,1) noise plus +1.5 on experts 0..3, so
 * those four take most of the load. Each step routes 1024 tokens and
 * updates the bias with gamma = 0.01 (the report's 0.001 needs ten times
 * as many steps for the same drift). Without bias the hot experts each get
 * far more than the mean: a hot expert, logit x ~ N(1.5, 1), is among a
 * token's top 2 when at most one of the other 3 hot N(1.5, 1) and 12 cold
 * N(0, 1) logits exceeds x; integrated over x that is P = 0.387, so its
 * load is 0.387 T against the mean T K / N = T / 8: max/mean about 8 P =
 * 3.1. After 300 steps it must have fallen below half of that and below
 * 1.35 (sampling noise alone leaves about 1.15: a balanced expert's load
 * is binomial, mean 128, sd sqrt(1024 * 1/8 * 7/8) = 10.6, and the
 * largest of 16 lies about 1.77 sd above the mean, 147 / 128). */
static void test_router__bias_update_balances_a_skewed_gate(void **state)
{
    (void)state;
    enum { N = 16, K = 2, T = 1024, STEPS = 300 };
    static float z[T * N];
    float bias[N] = {0};
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 2412);
    router_config cfg;
    router_config_init(&cfg, ROUTER_V3_GROUP_LIMITED, N, K);
    router_out *o = rt_out(T, T * K, N);
    double first = 0, last = 0;
    int tail = 0;
    for (int step = 0; step < STEPS; step++) {
        for (int t = 0; t < T; t++)
            for (int i = 0; i < N; i++)
                z[t * N + i] = (float)gsl_ran_gaussian(rng, 1.0) +
                               (i < 4 ? 1.5f : 0.0f);
        rt_route(&cfg, z, T, bias, NULL, NULL, o);
        const int *load = router_out_expert_load(o);
        double r = max_over_mean(load, N);
        if (step == 0)
            first = r;
        if (step >= STEPS - 50) {
            last += r;
            tail++;
        }
        router_bias_update(bias, load, N, 0.01f);
    }
    last /= tail;
    if (!(first > 2.0 && last < 1.35 && last < first / 2))
        fprintf(stderr,
                "max/mean load: step 0 %.3f, mean of last 50 steps %.3f "
                "(want step 0 > 2, last < 1.35 and < half of step 0); "
                "bias[0] %.4f bias[15] %.4f\n",
                first, last, (double)bias[0], (double)bias[15]);
    assert_true(first > 2.0 && last < 1.35 && last < first / 2);
    router_out_destroy(o);
    gsl_rng_free(rng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router__v3_group_score_is_sum_of_top2),
        cmocka_unit_test(test_router__v3_bias_chooses_but_does_not_weigh),
        cmocka_unit_test(test_router__v3_unrestricted_is_plain_topk),
        cmocka_unit_test(test_router__v3_masks_dropped_groups_with_minus_inf),
        cmocka_unit_test(
            test_router__v2_group_score_is_max_weights_unnormalised),
        cmocka_unit_test(test_router__v2_group_tie_keeps_lower_group),
        cmocka_unit_test(test_router__bias_update_moves_against_load),
        cmocka_unit_test(test_router__bias_update_balances_a_skewed_gate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
