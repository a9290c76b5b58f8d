/*
 * Properties over many seeded batches, checked against a brute-force
 * reference written here in double precision with a full sort (the router
 * uses thresholds and rank counting in float): the same experts for every
 * token whose decisions are not within 1e-5 of a tie (float and double can
 * disagree there), each policy's weight normalisation, group limits, the
 * CSR layout, ties in every policy, and run-to-run determinism.
 */
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_rng.h>

#include "tests/unit/router/router_testutil.h"

#define MARGIN 1e-5

typedef struct {
    double v;
    int i;
} vi;

/* value descending, then index ascending: the documented tie rule */
static int vi_desc(const void *a, const void *b)
{
    const vi *x = a, *y = b;
    if (x->v != y->v)
        return x->v > y->v ? -1 : 1;
    return x->i - y->i;
}

/* Reference group-limited top-k on key[0..n): group score = max or sum of
 * the top 2 of each of n_group groups, keep tg groups, top k of the kept
 * experts; out gets the ids best first. Returns the smallest gap at a
 * decision boundary (group cut and expert cut), +inf when none. */
static double ref_select(const double *key, int n, int n_group, int tg, int k,
                         int top2, int *out)
{
    static vi all[1024], groups[64];
    int gs = n / n_group;
    double margin = INFINITY;
    int keep[64] = {0};
    for (int g = 0; g < n_group; g++) {
        for (int i = 0; i < gs; i++)
            all[i] = (vi){key[g * gs + i], g * gs + i};
        qsort(all, (size_t)gs, sizeof *all, vi_desc);
        groups[g] = (vi){top2 && gs > 1 ? all[0].v + all[1].v : all[0].v, g};
        keep[g] = n_group == 1;
    }
    if (n_group > 1) {
        qsort(groups, (size_t)n_group, sizeof *groups, vi_desc);
        for (int j = 0; j < tg; j++)
            keep[groups[j].i] = 1;
        if (tg < n_group)
            margin = groups[tg - 1].v - groups[tg].v;
    }
    int m = 0;
    for (int i = 0; i < n; i++)
        if (keep[i / gs])
            all[m++] = (vi){key[i], i};
    qsort(all, (size_t)m, sizeof *all, vi_desc);
    for (int j = 0; j < k; j++)
        out[j] = all[j].i;
    if (k < m && all[k - 1].v - all[k].v < margin)
        margin = all[k - 1].v - all[k].v;
    return margin;
}

static void softmax_d(const float *z, int n, double *p)
{
    double m = z[0], sum = 0;
    for (int i = 1; i < n; i++)
        m = z[i] > m ? z[i] : m;
    for (int i = 0; i < n; i++)
        sum += p[i] = exp(z[i] - m);
    for (int i = 0; i < n; i++)
        p[i] /= sum;
}

/* Compares token t's experts with want[0..k), printing both on mismatch. */
static void expect_ids(const router_out *o, int t, int k, const int *want,
                       const char *what)
{
    const int32_t *off = router_out_offsets(o);
    const int32_t *ex = router_out_experts(o);
    int bad = off[t + 1] - off[t] != k;
    for (int j = 0; j < k && !bad; j++)
        bad = ex[off[t] + j] != want[j];
    if (bad) {
        fprintf(stderr, "%s token %d: want", what, t);
        for (int j = 0; j < k; j++)
            fprintf(stderr, " %d", want[j]);
        fprintf(stderr, ", got");
        for (int s = off[t]; s < off[t + 1]; s++)
            fprintf(stderr, " %d", ex[s]);
        fprintf(stderr, "\n");
    }
    assert_false(bad);
}

/* Token-choice gates (topk, v2, v3 grouped and unrestricted) against the
 * reference on DeepSeek-V3, DeepSeek-V2 and Qwen3 shapes, with their
 * weight rules:
 *   v3: w = s / sum(s) * 2.5, summing to 2.5; s unbiased;
 *   v2: w = 16 p, not renormalised, summing to less than 16;
 *   topk (renormalised): w = p / sum(p), summing to 1;
 * and a token never reaches more than topk_group groups. */
typedef struct {
    const char *name;
    router_policy policy;
    int n, k, n_group, tg, renorm;
    float scale;
    int with_bias;
} gate_case;

static void check_gate(const gate_case *c, gsl_rng *rng)
{
    enum { T = 512, BATCHES = 8, NMAX = 256 };
    static float z[T * NMAX];
    static double score[NMAX], key[NMAX];
    float bias[NMAX];
    router_config cfg;
    router_config_init(&cfg, c->policy, c->n, c->k);
    cfg.n_group = c->n_group;
    cfg.topk_group = c->tg;
    cfg.renormalize = c->renorm;
    cfg.scaling_factor = c->scale;
    router_out *o = rt_out(T, T * c->k, c->n);
    int skipped = 0, checked = 0;
    int v3 = c->policy == ROUTER_V3_GROUP_LIMITED;
    for (int b = 0; b < BATCHES; b++) {
        for (int i = 0; i < T * c->n; i++)
            z[i] = (float)(6.0 * gsl_rng_uniform(rng) - 3.0);
        for (int i = 0; i < c->n; i++)
            bias[i] = c->with_bias
                          ? (float)(0.1 * gsl_rng_uniform(rng) - 0.05)
                          : 0.0f;
        rt_route(&cfg, z, T, c->with_bias ? bias : NULL, NULL, NULL, o);
        const float *w = router_out_weights(o);
        for (int t = 0; t < T; t++) {
            const float *zt = z + t * c->n;
            if (v3) {
                for (int i = 0; i < c->n; i++) {
                    score[i] = 1.0 / (1.0 + exp(-(double)zt[i]));
                    key[i] = score[i] + bias[i];
                }
            } else {
                /* softmax is monotone within a token, so choosing by p is
                 * choosing by z; margins are taken on z, where they do
                 * not shrink with N the way shares of 1 do */
                softmax_d(zt, c->n, score);
                for (int i = 0; i < c->n; i++)
                    key[i] = zt[i];
            }
            int want[16];
            double margin = ref_select(key, c->n, c->n_group, c->tg, c->k,
                                       v3, want);
            if (margin < MARGIN) {
                skipped++;
                continue;
            }
            checked++;
            expect_ids(o, t, c->k, want, c->name);
            double sum = 0, wsum = 0;
            int groups_hit = 0;
            unsigned long long mask = 0;
            for (int j = 0; j < c->k; j++) {
                sum += score[want[j]];
                wsum += w[t * c->k + j];
                int g = want[j] / (c->n / c->n_group);
                if (!(mask >> g & 1))
                    groups_hit++;
                mask |= 1ULL << g;
            }
            assert_true(groups_hit <= c->tg);
            for (int j = 0; j < c->k; j++) {
                double expect = score[want[j]] * c->scale;
                if (c->renorm)
                    expect /= sum;
                assert_float_equal(w[t * c->k + j], expect,
                                   1e-5 * (c->scale > 1 ? c->scale : 1));
            }
            if (c->renorm)
                assert_float_equal(wsum, c->scale, 1e-5 * c->scale);
            else
                assert_true(wsum < c->scale);
        }
    }
    if (skipped * 100 > checked + skipped)
        fprintf(stderr, "%s: skipped %d of %d tokens as near ties\n",
                c->name, skipped, checked + skipped);
    assert_true(skipped * 100 <= checked + skipped);
    router_out_destroy(o);
}

static void test_router__gates_match_brute_force_reference(void **state)
{
    (void)state;
    const gate_case cases[] = {
        {"v3 (256, 8 groups, keep 4, K 8)", ROUTER_V3_GROUP_LIMITED, 256, 8,
         8, 4, 1, 2.5f, 1},
        {"v3 unrestricted (256, K 8)", ROUTER_V3_GROUP_LIMITED, 256, 8, 1, 1,
         1, 2.5f, 1},
        {"v3 (64, 8 groups of 8, keep 2, K 6)", ROUTER_V3_GROUP_LIMITED, 64,
         6, 8, 2, 1, 1.0f, 1},
        {"v2 (160, 8 groups, keep 3, K 6)", ROUTER_V2_DEVICE_LIMITED, 160, 6,
         8, 3, 0, 16.0f, 0},
        {"topk (128, K 8, renorm)", ROUTER_TOPK, 128, 8, 1, 1, 1, 1.0f, 0},
        {"topk (60, K 2)", ROUTER_TOPK, 60, 2, 1, 1, 0, 1.0f, 0},
        {"topk (256, K 16)", ROUTER_TOPK, 256, 16, 1, 1, 1, 1.0f, 0},
    };
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 77);
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        check_gate(&cases[i], rng);
    gsl_rng_free(rng);
}

/* MoGE weights are the global softmax shares of the per-group argmax and
 * sum to less than 1; Switch keeps p of the argmax. */
static void test_router__moge_and_switch_weights(void **state)
{
    (void)state;
    enum { T = 256, N = 64, M = 8 };
    static float z[T * N];
    double p[N];
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 78);
    for (int i = 0; i < T * N; i++)
        z[i] = (float)(6.0 * gsl_rng_uniform(rng) - 3.0);
    router_config moge;
    router_config_init(&moge, ROUTER_MOGE, N, M);
    moge.n_group = M;
    router_out *o = rt_out(T, T * M, N);
    rt_route(&moge, z, T, NULL, NULL, NULL, o);
    const float *w = router_out_weights(o);
    for (int t = 0; t < T; t++) {
        softmax_d(z + t * N, N, p);
        int want[M];
        double sum = 0;
        for (int g = 0; g < M; g++) {
            int b = g * (N / M);
            for (int i = b; i < (g + 1) * (N / M); i++)
                b = p[i] > p[b] ? i : b;
            want[g] = b;
            assert_float_equal(w[t * M + g], p[b], 1e-6);
            sum += w[t * M + g];
        }
        expect_ids(o, t, M, want, "moge");
        assert_true(sum < 1.0);
    }
    router_config sw;
    router_config_init(&sw, ROUTER_SWITCH, N, 1);
    sw.capacity_factor = (double)N; /* nothing dropped */
    rt_route(&sw, z, T, NULL, NULL, NULL, o);
    w = router_out_weights(o);
    for (int t = 0; t < T; t++) {
        softmax_d(z + t * N, N, p);
        int b = 0;
        for (int i = 1; i < N; i++)
            b = p[i] > p[b] ? i : b;
        expect_ids(o, t, 1, &b, "switch");
        assert_float_equal(w[t], p[b], 1e-6);
    }
    assert_int_equal(router_out_dropped_count(o), 0);
    router_out_destroy(o);
    gsl_rng_free(rng);
}

/* Every policy leaves a well-formed result: offsets rise from 0 to the
 * slot count, ids are in range and distinct within a token, loads count
 * the slots not dropped, dropped slots weigh 0; and routing the same input
 * again (rng reseeded) gives byte-identical output. */
static void test_router__every_policy_is_well_formed_and_repeatable(
    void **state)
{
    (void)state;
    enum { T = 300, N = 32 };
    static float z[T * N];
    uint32_t ids[T];
    float bias[N];
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 79);
    for (int i = 0; i < T * N; i++)
        z[i] = (float)gsl_rng_uniform_int(rng, 8); /* many exact ties */
    for (int t = 0; t < T; t++)
        ids[t] = (uint32_t)gsl_rng_uniform_int(rng, 50);
    for (int i = 0; i < N; i++)
        bias[i] = (float)(0.02 * gsl_rng_uniform(rng));
    gsl_rng *a = gsl_rng_alloc(gsl_rng_mt19937);
    router_out *o1 = rt_out(T, T * N, N), *o2 = rt_out(T, T * N, N);
    for (int p = 0; p < ROUTER_POLICY_COUNT; p++) {
        router_config cfg;
        router_config_init(&cfg, (router_policy)p, N, 4);
        cfg.n_group = 4;
        cfg.topk_group = 2;
        cfg.capacity_factor = 1.0;
        cfg.scaling_factor = 1.5f;
        gsl_rng_set(a, 5);
        rt_route(&cfg, z, T, bias, ids, a, o1);
        gsl_rng_set(a, 5);
        rt_route(&cfg, z, T, bias, ids, a, o2);
        const char *name = router_policy_name((router_policy)p);
        int S = router_out_slots(o1);
        const int32_t *off = router_out_offsets(o1);
        const int32_t *ex = router_out_experts(o1);
        const float *w = router_out_weights(o1);
        const uint8_t *dr = router_out_dropped(o1);
        assert_int_equal(router_out_tokens(o1), T);
        assert_int_equal(off[0], 0);
        assert_int_equal(off[T], S);
        int load[N] = {0}, drops = 0;
        for (int t = 0; t < T; t++) {
            assert_true(off[t + 1] >= off[t]);
            for (int s = off[t]; s < off[t + 1]; s++) {
                assert_in_range(ex[s], 0, N - 1);
                for (int s2 = off[t]; s2 < s; s2++)
                    assert_int_not_equal(ex[s2], ex[s]);
                if (dr[s]) {
                    drops++;
                    assert_float_equal(w[s], 0.0, 0.0);
                } else {
                    load[ex[s]]++;
                }
            }
        }
        const int *got = router_out_expert_load(o1);
        for (int e = 0; e < N; e++) {
            if (got[e] != load[e])
                fprintf(stderr, "%s: expert %d load %d, counted %d\n", name,
                        e, got[e], load[e]);
            assert_int_equal(got[e], load[e]);
        }
        assert_int_equal(router_out_dropped_count(o1), drops);
        assert_int_equal(router_out_slots(o2), S);
        assert_memory_equal(off, router_out_offsets(o2),
                            (size_t)(T + 1) * sizeof *off);
        assert_memory_equal(ex, router_out_experts(o2), (size_t)S * sizeof *ex);
        assert_memory_equal(w, router_out_weights(o2), (size_t)S * sizeof *w);
    }
    router_out_destroy(o2);
    router_out_destroy(o1);
    gsl_rng_free(a);
    gsl_rng_free(rng);
}

/* All logits equal: every score ties, so every policy falls back on the
 * lowest index. N = 8, K = 3 (groups of 2, keep 2, for v2 and v3: groups
 * 0 and 1, experts 0 1 2); MoGE with 2 groups of 4 and K = 4 takes 0 1 4
 * 5; Switch and GShard put every first choice on expert 0; expert choice
 * (k = round(2 * 4 / 8) = 1) gives every expert token 0. */
static void test_router__ties_go_to_the_lower_index_everywhere(void **state)
{
    (void)state;
    float z[4 * 8];
    memset(z, 0, sizeof z);
    router_out *o = rt_out(4, 32, 8);
    router_config cfg;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 1);
    const router_policy gated[3] = {ROUTER_TOPK, ROUTER_V2_DEVICE_LIMITED,
                                     ROUTER_V3_GROUP_LIMITED};
    for (int p = 0; p < 3; p++) {
        router_config_init(&cfg, gated[p], 8, 3);
        cfg.n_group = 4;
        cfg.topk_group = 2;
        rt_route(&cfg, z, 4, NULL, NULL, NULL, o);
        for (int t = 0; t < 4; t++)
            expect_ids(o, t, 3, (const int[]){0, 1, 2},
                       router_policy_name(gated[p]));
    }
    router_config_init(&cfg, ROUTER_MOGE, 8, 4);
    cfg.n_group = 2;
    rt_route(&cfg, z, 4, NULL, NULL, NULL, o);
    for (int t = 0; t < 4; t++)
        expect_ids(o, t, 4, (const int[]){0, 1, 4, 5}, "moge");

    router_config_init(&cfg, ROUTER_SWITCH, 8, 1);
    rt_route(&cfg, z, 4, NULL, NULL, NULL, o);
    for (int t = 0; t < 4; t++)
        assert_int_equal(router_out_experts(o)[t], 0);

    router_config_init(&cfg, ROUTER_GSHARD, 8, 2);
    rt_route(&cfg, z, 4, NULL, NULL, rng, o);
    for (int t = 0; t < 4; t++)
        assert_int_equal(router_out_experts(o)[2 * t], 0);

    router_config_init(&cfg, ROUTER_EXPERT_CHOICE, 8, 0);
    cfg.capacity_factor = 2.0;
    rt_route(&cfg, z, 4, NULL, NULL, NULL, o);
    expect_ids(o, 0, 8, (const int[]){0, 1, 2, 3, 4, 5, 6, 7},
               "expert-choice");
    for (int t = 1; t < 4; t++)
        expect_ids(o, t, 0, NULL, "expert-choice");
    router_out_destroy(o);
    gsl_rng_free(rng);
}

/* NaN logits (a broken upstream) must not break the output: every policy
 * still returns in-range, distinct ids and the usual slot counts. Row t
 * has NaN at every expert i with (i + t) % 3 == 0; the last row is all
 * NaN. */
static void test_router__nan_logits_still_give_valid_ids(void **state)
{
    (void)state;
    enum { T = 64, N = 32 };
    static float z[T * N];
    uint32_t ids[T];
    for (int t = 0; t < T; t++) {
        ids[t] = (uint32_t)t;
        for (int i = 0; i < N; i++)
            z[t * N + i] = (i + t) % 3 == 0 || t == T - 1
                               ? NAN
                               : (float)((i * 7 + t) % 11);
    }
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 3);
    router_out *o = rt_out(T, T * N, N);
    for (int p = 0; p < ROUTER_POLICY_COUNT; p++) {
        router_config cfg;
        router_config_init(&cfg, (router_policy)p, N, 8);
        cfg.n_group = 4;
        cfg.topk_group = 2;
        rt_route(&cfg, z, T, NULL, ids, rng, o);
        int slots;
        err_t e;
        err_clear(&e);
        assert_int_equal(router_slots_needed(&cfg, T, &slots, &e), 0);
        assert_int_equal(router_out_slots(o), slots);
        const int32_t *off = router_out_offsets(o);
        const int32_t *ex = router_out_experts(o);
        for (int t = 0; t < T; t++)
            for (int s = off[t]; s < off[t + 1]; s++) {
                assert_in_range(ex[s], 0, N - 1);
                for (int s2 = off[t]; s2 < s; s2++)
                    assert_int_not_equal(ex[s2], ex[s]);
            }
    }
    router_out_destroy(o);
    gsl_rng_free(rng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router__gates_match_brute_force_reference),
        cmocka_unit_test(test_router__moge_and_switch_weights),
        cmocka_unit_test(
            test_router__every_policy_is_well_formed_and_repeatable),
        cmocka_unit_test(test_router__ties_go_to_the_lower_index_everywhere),
        cmocka_unit_test(test_router__nan_logits_still_give_valid_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
