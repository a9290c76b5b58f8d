/*
 * workload_create / workload_step / workload_logits: argument errors, the
 * structure of the router matrices (heat ramp, column norms), balance at
 * zero heat, and the token-id distribution.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_statistics_double.h>

#include "models/workload.h"
#include "../testutil.h"
#include "workload_test.h"

static const workload_shape small = {16, 3, 1000, WORKLOAD_DECODE, 32, 32};

static void test_create__rejects_bad_shapes_and_params(void **state)
{
    (void)state;
    workload_params p;
    workload_params_default(&p);
    err_t e;
    workload *w = (workload *)&e; /* must be reset to NULL on failure */
    workload_shape s;

    s = small;
    s.experts = 0;
    assert_int_equal(workload_create(&p, &s, 1, &w, &e), ERR_INPUT);
    assert_null(w);
    assert_non_null(strstr(e.msg, "experts"));

    s = small;
    s.sequences = 33; /* more sequences than tokens */
    assert_int_equal(workload_create(&p, &s, 1, &w, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "sequences"));

    s = small;
    s.phase = WORKLOAD_PHASE_COUNT;
    assert_int_equal(workload_create(&p, &s, 1, &w, &e), ERR_INPUT);

    s = small;
    s.vocab = 0;
    assert_int_equal(workload_create(&p, &s, 1, &w, &e), ERR_INPUT);

    s = small;
    s.tokens_per_step = 0;
    assert_int_equal(workload_create(&p, &s, 1, &w, &e), ERR_INPUT);

    p.route_dim = 1;
    assert_int_equal(workload_create(&p, &small, 1, &w, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "route_dim"));
    assert_null(w);
}

static void test_create__steps_must_increase(void **state)
{
    (void)state;
    workload_params p;
    workload_params_default(&p);
    err_t e;
    workload *w = NULL;
    float logits[32 * 16];
    assert_int_equal(workload_create(&p, &small, 1, &w, &e), 0);
    assert_int_equal(workload_current_step(w), -1);
    assert_null(workload_hidden(w));
    assert_null(workload_token_ids(w));
    assert_null(workload_sequence_ids(w));
    assert_null(workload_token_topics(w));
    assert_int_equal(workload_logits(w, 0, logits, &e), ERR_SIM);

    assert_int_equal(workload_step(w, -1, &e), ERR_SIM);
    assert_int_equal(workload_step(w, 3, &e), 0);
    assert_int_equal(workload_step(w, 3, &e), ERR_SIM);
    assert_non_null(strstr(e.msg, "increase"));
    assert_int_equal(workload_step(w, 2, &e), ERR_SIM);
    assert_int_equal(workload_current_step(w), 3);
    assert_int_equal(workload_step(w, 4, &e), 0);

    assert_int_equal(workload_logits(w, 3, logits, &e), ERR_INPUT);
    assert_int_equal(workload_logits(w, -1, logits, &e), ERR_INPUT);
    assert_int_equal(workload_logits(w, 2, logits, &e), 0);
    assert_null(workload_router_matrix(w, 3));
    assert_true(workload_layer_heat(w, 3) == 0.0);

    assert_int_equal(workload_tokens(w), 32);
    assert_int_equal(workload_sequences(w), 32);
    assert_int_equal(workload_experts(w), 16);
    assert_int_equal(workload_layers(w), 3);
    assert_int_equal(workload_dim(w), 64);
    workload_destroy(w);
    workload_destroy(NULL);
}

/* workload_logits is the product h W of the exposed views (checked in
 * double against every entry). */
static void test_create__logits_are_h_times_w(void **state)
{
    (void)state;
    workload_params p;
    workload_params_default(&p);
    p.route_dim = 9; /* odd: 4 semantic, 5 lexical coordinates */
    err_t e;
    workload *w = NULL;
    float logits[32 * 16];
    assert_int_equal(workload_create(&p, &small, 3, &w, &e), 0);
    assert_int_equal(workload_step(w, 0, &e), 0);
    assert_int_equal(workload_logits(w, 1, logits, &e), 0);
    const float *h = workload_hidden(w);
    const float *W = workload_router_matrix(w, 1);
    for (int t = 0; t < 32; t++)
        for (int x = 0; x < 16; x++) {
            double z = 0;
            for (int i = 0; i < 9; i++)
                z += (double)h[t * 9 + i] * W[i * 16 + x];
            assert_near(logits[t * 16 + x], z, 1e-4 * (1 + fabs(z)));
        }
    workload_destroy(w);
}

/* With heat_jitter = 0 and expert_spread = 0 the heat of layer l is the
 * linear ramp first + (last - first) * l / (L - 1), every column's
 * semantic half (rows 0..R-1, R = D/2) has norm heat_l and its lexical
 * half norm 1 (models/workload.c). */
static void test_create__heat_ramp_and_column_norms(void **state)
{
    (void)state;
    workload_params p;
    workload_params_default(&p);
    p.heat_jitter = 0;
    p.expert_spread = 0;
    p.heat_first = 0.5;
    p.heat_last = 2.0;
    workload_shape s = small;
    s.moe_layers = 4;
    err_t e;
    workload *w = NULL;
    assert_int_equal(workload_create(&p, &s, 3, &w, &e), 0);
    static const double want[4] = {0.5, 1.0, 1.5, 2.0};
    for (int l = 0; l < 4; l++) {
        assert_near(workload_layer_heat(w, l), want[l], 1e-12);
        const float *W = workload_router_matrix(w, l);
        for (int x = 0; x < 16; x++) {
            double sem = 0, lex = 0;
            for (int i = 0; i < 32; i++)
                sem += (double)W[i * 16 + x] * W[i * 16 + x];
            for (int i = 32; i < 64; i++)
                lex += (double)W[i * 16 + x] * W[i * 16 + x];
            assert_near(sqrt(sem), want[l], 1e-5);
            assert_near(sqrt(lex), 1.0, 1e-5);
        }
    }
    workload_destroy(w);
}

/* At heat 0 the logits are per-token noise with the same law for every
 * expert. Were they independent across experts, loads would be
 * multinomial: 8192 tokens x 8 picks over 256 experts, mean 256, sd about
 * sqrt(256) = 16, the busiest of 256 about 3 sd above the mean:
 * (max - mean) / mean ~ 0.19. The lexical half has only 32 dimensions for
 * 256 columns, so logits are correlated and experts whose directions sit
 * apart win a little more often: about 0.26 at route_dim 64 (0.19 at
 * route_dim 512, measured). Either way a small fraction of the default's
 * 10: the skew comes from heat, not from the construction. */
static void test_create__zero_heat_is_balanced(void **state)
{
    (void)state;
    enum { N = 256, T = 8192 };
    workload_params p;
    workload_params_default(&p);
    p.heat_first = p.heat_last = 0;
    workload_shape s = {N, 2, 1000, WORKLOAD_DECODE, T, T};
    err_t e;
    workload *w = NULL;
    assert_int_equal(workload_create(&p, &s, 7, &w, &e), 0);
    assert_int_equal(workload_step(w, 0, &e), 0);
    wl_router r;
    wl_router_init(&r, N, T);
    double load[N];
    for (int l = 0; l < 2; l++) {
        wl_layer_loads(w, &r, l, load);
        double mean = gsl_stats_mean(load, 1, N);
        double imb = (gsl_stats_max(load, 1, N) - mean) / mean;
        printf("zero heat, layer %d: per-expert (max-mean)/mean %.3f\n", l,
               imb);
        assert_near(mean, T * 8.0 / N, 1e-9);
        assert_true(imb < 0.4);
    }
    wl_router_fini(&r);
    workload_destroy(w);
}

/* Token ids: with vocab_topic_share = 0 every id is a Zipf rank, P(rank
 * r) = (r+1)^-s / H, so P(0) = 1/H and P(0)/P(1) = 2^s = 2.1435 for
 * s = 1.1. With share 1, every topic has its own most frequent id. */
static void test_create__token_ids_follow_zipf_and_topic(void **state)
{
    (void)state;
    enum { V = 1000, T = 200000 };
    workload_params p;
    workload_params_default(&p);
    p.route_dim = 2;
    p.vocab_topic_share = 0;
    workload_shape s = {4, 1, V, WORKLOAD_PREFILL, T, 100};
    err_t e;
    workload *w = NULL;
    static unsigned count[V];
    assert_int_equal(workload_create(&p, &s, 11, &w, &e), 0);
    assert_int_equal(workload_step(w, 0, &e), 0);
    const uint32_t *ids = workload_token_ids(w);
    for (int t = 0; t < T; t++) {
        assert_true(ids[t] < V);
        count[ids[t]]++;
    }
    double H = 0;
    for (int r = 1; r <= V; r++)
        H += pow(r, -1.1);
    printf("zipf: P(0) %.4f (want %.4f), P(0)/P(1) %.3f (want %.3f)\n",
           (double)count[0] / T, 1 / H, (double)count[0] / count[1],
           pow(2, 1.1));
    assert_near((double)count[0] / T, 1 / H, 0.005);
    assert_near((double)count[0] / count[1], pow(2, 1.1), 0.1);
    workload_destroy(w);

    /* share 1: the most frequent id of topic k's tokens is topic k's own */
    p.vocab_topic_share = 1;
    assert_int_equal(workload_create(&p, &s, 11, &w, &e), 0);
    assert_int_equal(workload_step(w, 0, &e), 0);
    ids = workload_token_ids(w);
    const int *topic = workload_token_topics(w);
    int top_id[32];
    int n_topics = 0;
    for (int k = 0; k < 32; k++) {
        memset(count, 0, sizeof count);
        unsigned n = 0;
        for (int t = 0; t < T; t++)
            if (topic[t] == k) {
                count[ids[t]]++;
                n++;
            }
        if (n < 2000)
            continue;
        unsigned best = 0;
        for (unsigned i = 1; i < V; i++)
            if (count[i] > count[best])
                best = i;
        top_id[n_topics++] = (int)best;
    }
    assert_true(n_topics >= 2);
    int distinct = 1;
    for (int i = 0; i < n_topics; i++)
        for (int j = 0; j < i; j++)
            distinct &= top_id[i] != top_id[j];
    assert_true(distinct);
    workload_destroy(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create__rejects_bad_shapes_and_params),
        cmocka_unit_test(test_create__steps_must_increase),
        cmocka_unit_test(test_create__logits_are_h_times_w),
        cmocka_unit_test(test_create__heat_ramp_and_column_norms),
        cmocka_unit_test(test_create__zero_heat_is_balanced),
        cmocka_unit_test(test_create__token_ids_follow_zipf_and_topic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
