/*
 * Mixture of Grouped Experts (Pangu Pro MoE, arXiv 2505.21411): global
 * softmax, top K/M inside each of M groups, raw probabilities as weights;
 * and the paper's Monte Carlo of the Imbalance Score (Eq. 3).
 */
#include <gsl/gsl_rng.h>

#include "tests/unit/router/router_testutil.h"

/* N = 4, M = 2 groups ({0,1} {2,3}), K = 2 so K' = 1. Logits ln [4 1 2 1]:
 * p = [.5 .125 .25 .125]. Group 0 takes expert 0 (.5), group 1 expert 2
 * (.25). Weights are the raw global p: [.5, .25], summing to .75 < 1. */
static void test_router__moge_takes_best_of_every_group(void **state)
{
    (void)state;
    float z[4] = {ln_f(4), ln_f(1), ln_f(2), ln_f(1)};
    router_config cfg;
    router_config_init(&cfg, ROUTER_MOGE, 4, 2);
    cfg.n_group = 2;
    router_out *o = rt_out(1, 2, 4);
    rt_route(&cfg, z, 1, NULL, NULL, NULL, o);
    rt_expect_token(o, 0, 2, (const int32_t[]){0, 2},
                    (const float[]){0.5f, 0.25f}, NULL, 1e-6f);
    router_out_destroy(o);
}

/* Ties: all logits 0, p = .25 each: the first expert of each group, 0 and
 * 2, at .25. K' = 2: N = 8, M = 2, K = 4, logits ln [1 2 3 4 | 4 3 2 1]
 * (sum 20): group 0 gives 3 (4/20) then 2 (3/20), group 1 gives 4 then 5;
 * weights [.2 .15 .2 .15], slots group by group, best first. */
static void test_router__moge_ties_and_several_per_group(void **state)
{
    (void)state;
    float z0[4] = {0, 0, 0, 0};
    router_config cfg;
    router_config_init(&cfg, ROUTER_MOGE, 4, 2);
    cfg.n_group = 2;
    router_out *o = rt_out(1, 4, 8);
    rt_route(&cfg, z0, 1, NULL, NULL, NULL, o);
    rt_expect_token(o, 0, 2, (const int32_t[]){0, 2},
                    (const float[]){0.25f, 0.25f}, NULL, 1e-6f);

    float z[8];
    const double e[8] = {1, 2, 3, 4, 4, 3, 2, 1};
    for (int i = 0; i < 8; i++)
        z[i] = ln_f(e[i]);
    router_config_init(&cfg, ROUTER_MOGE, 8, 4);
    cfg.n_group = 2;
    rt_route(&cfg, z, 1, NULL, NULL, NULL, o);
    rt_expect_token(o, 0, 4, (const int32_t[]){3, 2, 4, 5},
                    (const float[]){0.2f, 0.15f, 0.2f, 0.15f}, NULL, 1e-6f);
    router_out_destroy(o);
}

/* Device loads T_i = token-expert computations on device i (group i). */
static void device_loads(const int *expert_load, int n_experts, int m,
                         int *dev)
{
    int per = n_experts / m;
    for (int d = 0; d < m; d++) {
        dev[d] = 0;
        for (int i = d * per; i < (d + 1) * per; i++)
            dev[d] += expert_load[i];
    }
}

/* Pangu Pro MoE's shape (N = 64, M = 8 devices, K = 8): over 200 seeded
 * batches of 64 tokens with random logits, every device gets exactly
 * T * K / M = 64 computations in every batch, and every token reaches
 * each group exactly once. */
static void test_router__moge_balances_every_batch(void **state)
{
    (void)state;
    enum { N = 64, M = 8, K = 8, T = 64, BATCHES = 200 };
    static float z[T * N];
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 2505);
    router_config cfg;
    router_config_init(&cfg, ROUTER_MOGE, N, K);
    cfg.n_group = M;
    router_out *o = rt_out(T, T * K, N);
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < T * N; i++)
            z[i] = (float)(6.0 * gsl_rng_uniform(rng) - 3.0);
        rt_route(&cfg, z, T, NULL, NULL, NULL, o);
        int dev[M];
        device_loads(router_out_expert_load(o), N, M, dev);
        for (int d = 0; d < M; d++) {
            if (dev[d] != T * K / M)
                fprintf(stderr, "batch %d: device %d load %d, want %d\n", b,
                        d, dev[d], T * K / M);
            assert_int_equal(dev[d], T * K / M);
        }
        const int32_t *off = router_out_offsets(o);
        const int32_t *ex = router_out_experts(o);
        for (int t = 0; t < T; t++) {
            int seen[M] = {0};
            for (int s = off[t]; s < off[t + 1]; s++)
                seen[ex[s] / (N / M)]++;
            for (int d = 0; d < M; d++) {
                if (seen[d] != 1)
                    fprintf(stderr, "batch %d token %d: group %d hit %d "
                                    "times\n",
                            b, t, d, seen[d]);
                assert_int_equal(seen[d], 1);
            }
        }
    }
    router_out_destroy(o);
    gsl_rng_free(rng);
}

/* Imbalance Score IS = (max_i T_i - min_i T_i) / |X| (Pangu Pro MoE Eq. 3)
 * of the last batch, devices = contiguous groups of n_experts / m. */
static double imbalance_score(const router_out *o, int n_experts, int m)
{
    int dev[64];
    device_loads(router_out_expert_load(o), n_experts, m, dev);
    int mx = dev[0], mn = dev[0];
    for (int d = 1; d < m; d++) {
        mx = dev[d] > mx ? dev[d] : mx;
        mn = dev[d] < mn ? dev[d] : mn;
    }
    return (double)(mx - mn) / router_out_tokens(o);
}

/* The paper's Monte Carlo: N = 64 experts, K = 8, M = 8 devices of 8
 * contiguous experts, |X| = 16 tokens, experts drawn uniformly at random.
 * Over 10,000 batches, P(IS > 0) is about 1 for top-k (want > 0.95) and
 * exactly 0 for MoGE. Random logits with i.i.d. entries make softmax
 * top-k a uniformly random 8-subset; the uniform policy draws one
 * directly, and both are checked. */
static void test_router__imbalance_score_topk_vs_moge(void **state)
{
    (void)state;
    enum { N = 64, K = 8, M = 8, T = 16, BATCHES = 10000 };
    static float z[T * N];
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 3);
    gsl_rng *pick = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(pick, 4);
    router_config topk, moge, uni;
    router_config_init(&topk, ROUTER_TOPK, N, K);
    router_config_init(&moge, ROUTER_MOGE, N, K);
    moge.n_group = M;
    router_config_init(&uni, ROUTER_UNIFORM, N, K);
    router_out *o = rt_out(T, T * K, N);
    int pos_topk = 0, pos_uni = 0, pos_moge = 0;
    double max_is_moge = 0.0;
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < T * N; i++)
            z[i] = (float)gsl_rng_uniform(rng);
        rt_route(&topk, z, T, NULL, NULL, NULL, o);
        pos_topk += imbalance_score(o, N, M) > 0;
        rt_route(&moge, z, T, NULL, NULL, NULL, o);
        double is = imbalance_score(o, N, M);
        pos_moge += is > 0;
        max_is_moge = is > max_is_moge ? is : max_is_moge;
        rt_route(&uni, NULL, T, NULL, NULL, pick, o);
        pos_uni += imbalance_score(o, N, M) > 0;
    }
    double p_topk = (double)pos_topk / BATCHES,
           p_uni = (double)pos_uni / BATCHES;
    if (!(p_topk > 0.95 && p_uni > 0.95 && pos_moge == 0))
        fprintf(stderr,
                "P(IS > 0): top-k %.4f, uniform %.4f (want > 0.95); MoGE "
                "%d of %d batches (want 0), max MoGE IS %.4f\n",
                p_topk, p_uni, pos_moge, BATCHES, max_is_moge);
    assert_true(p_topk > 0.95);
    assert_true(p_uni > 0.95);
    assert_int_equal(pos_moge, 0);
    router_out_destroy(o);
    gsl_rng_free(pick);
    gsl_rng_free(rng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router__moge_takes_best_of_every_group),
        cmocka_unit_test(test_router__moge_ties_and_several_per_group),
        cmocka_unit_test(test_router__moge_balances_every_batch),
        cmocka_unit_test(test_router__imbalance_score_topk_vs_moge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
