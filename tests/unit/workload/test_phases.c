/*
 * Phases: decode keeps its sequences across steps and replaces them at the
 * rate 1/decode_length_steps; prefill and train start fresh sequences
 * every step, each owning a contiguous run of tokens on one topic; their
 * expert loads differ from decode's.
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

#include "models/workload.h"
#include "workload_test.h"

enum { N = 256, LAYERS = 8, VOCAB = 129280 };

static workload *make(workload_phase phase, int tokens, int seqs,
                      unsigned long seed)
{
    workload_params p;
    workload_params_default(&p);
    workload_shape sh = {N, LAYERS, VOCAB, phase, tokens, seqs};
    workload *w = NULL;
    err_t e;
    assert_int_equal(workload_create(&p, &sh, seed, &w, &e), 0);
    return w;
}

static int contains(const uint64_t *ids, int n, uint64_t id)
{
    for (int i = 0; i < n; i++)
        if (ids[i] == id)
            return 1;
    return 0;
}

/* With decode_length_steps = 500 a sequence survives a step with
 * probability 1 - 1/500 and 500 steps with (1 - 1/500)^500 = 0.3675.
 * Bounds: the 2048 sequences replaced after one step are Binomial(2048,
 * 1/500), mean 4.1 and sd sqrt(2048 * 0.002 * 0.998) = 2.0, so 15 is 5.4 sd
 * out; the fraction surviving 500 steps has sd sqrt(0.3675 * 0.6325 /
 * 2048) = 0.011, so 0.04 is 3.7 sd. */
static void test_workload__decode_sequences_persist_and_turn_over(
    void **state)
{
    (void)state;
    enum { S = 2048 };
    err_t e;
    workload *w = make(WORKLOAD_DECODE, S, S, 1);
    static uint64_t ids0[S];
    static int topic0[S];
    assert_int_equal(workload_step(w, 0, &e), 0);
    memcpy(ids0, workload_sequence_ids(w), sizeof ids0);
    memcpy(topic0, workload_token_topics(w), sizeof topic0);

    assert_int_equal(workload_step(w, 1, &e), 0);
    const uint64_t *ids1 = workload_sequence_ids(w);
    const int *topic1 = workload_token_topics(w);
    int kept = 0, same_topic = 0;
    for (int t = 0; t < S; t++) {
        kept += ids1[t] == ids0[t];
        same_topic += ids1[t] == ids0[t] && topic1[t] == topic0[t];
    }
    printf("decode: %d of %d sequences kept after 1 step (expected %.1f)\n",
           kept, S, S * (1 - 1.0 / 500));
    assert_true(kept >= S - 15);
    assert_int_equal(same_topic, kept); /* a sequence keeps its topic */

    assert_int_equal(workload_step(w, 500, &e), 0);
    const uint64_t *ids500 = workload_sequence_ids(w);
    int survived = 0;
    for (int t = 0; t < S; t++)
        survived += ids500[t] == ids0[t];
    double frac = (double)survived / S;
    printf("decode: %.3f of sequences survive 500 steps (expected 0.368)\n",
           frac);
    assert_true(fabs(frac - pow(1 - 1.0 / 500, 500)) < 0.04);
    /* replacements get ids never used before */
    for (int t = 0; t < S; t++)
        if (ids500[t] != ids0[t])
            assert_false(contains(ids0, S, ids500[t]));
    workload_destroy(w);
}

/* Prefill and train: sequence s owns tokens [s*T/S, (s+1)*T/S), one id
 * and one topic per sequence, and no sequence outlives its step. */
static void test_workload__prefill_sequences_are_fresh_and_contiguous(
    void **state)
{
    (void)state;
    enum { T = 1000, S = 7 }; /* uneven on purpose: 142 or 143 tokens */
    err_t e;
    for (int ph = WORKLOAD_TRAIN; ph <= WORKLOAD_PREFILL; ph++) {
        workload *w = make((workload_phase)ph, T, S, 2);
        static uint64_t prev[T];
        for (long step = 0; step < 3; step++) {
            assert_int_equal(workload_step(w, step, &e), 0);
            const uint64_t *ids = workload_sequence_ids(w);
            const int *topic = workload_token_topics(w);
            for (int s = 0; s < S; s++) {
                int first = s * T / S, last = (s + 1) * T / S;
                for (int t = first; t < last; t++) {
                    assert_true(ids[t] == ids[first]);
                    assert_int_equal(topic[t], topic[first]);
                }
                if (s > 0)
                    assert_true(ids[first] != ids[first - 1]);
                if (step > 0)
                    assert_false(contains(prev, T, ids[first]));
            }
            memcpy(prev, ids, sizeof prev);
        }
        workload_destroy(w);
    }
}

/* Decode with T = 2S (a draft token per sequence): two tokens each. */
static void test_workload__decode_two_tokens_per_sequence(void **state)
{
    (void)state;
    err_t e;
    workload *w = make(WORKLOAD_DECODE, 64, 32, 4);
    assert_int_equal(workload_step(w, 0, &e), 0);
    const uint64_t *ids = workload_sequence_ids(w);
    for (int s = 0; s < 32; s++) {
        assert_true(ids[2 * s] == ids[2 * s + 1]);
        if (s > 0)
            assert_true(ids[2 * s] != ids[2 * s - 1]);
    }
    workload_destroy(w);
}

/* Half the L1 distance between two load vectors normalised to sum 1 (the
 * share of token-expert pairs that moved). */
static double moved_share(const double *a, const double *b)
{
    double sa = 0, sb = 0, d = 0;
    for (int x = 0; x < N; x++) {
        sa += a[x];
        sb += b[x];
    }
    for (int x = 0; x < N; x++)
        d += fabs(a[x] / sa - b[x] / sb);
    return d / 2;
}

/* The same 2048 tokens per step as 8 prompts of 256 (prefill) or 2048
 * single-token sequences (decode): prefill draws only 8 topics a step, so
 * its expert loads swing far more from step to step, and the two phases
 * load the experts differently. */
static void test_workload__prefill_and_decode_load_experts_differently(
    void **state)
{
    (void)state;
    enum { T = 2048 };
    err_t e;
    wl_router r;
    wl_router_init(&r, N, T);
    workload *pre = make(WORKLOAD_PREFILL, T, 8, 5);
    workload *dec = make(WORKLOAD_DECODE, T, T, 5);
    static double lp[2][LAYERS][N], ld[2][LAYERS][N];
    for (long s = 0; s < 2; s++) {
        assert_int_equal(workload_step(pre, s, &e), 0);
        assert_int_equal(workload_step(dec, s, &e), 0);
        for (int l = 0; l < LAYERS; l++) {
            wl_layer_loads(pre, &r, l, lp[s][l]);
            wl_layer_loads(dec, &r, l, ld[s][l]);
        }
    }
    double swing_pre = 0, swing_dec = 0, apart = 0;
    for (int l = 0; l < LAYERS; l++) {
        swing_pre += moved_share(lp[0][l], lp[1][l]) / LAYERS;
        swing_dec += moved_share(ld[0][l], ld[1][l]) / LAYERS;
        apart += moved_share(lp[0][l], ld[0][l]) / LAYERS;
    }
    printf("phases: step-to-step load change %.3f prefill, %.3f decode; "
           "prefill vs decode %.3f\n",
           swing_pre, swing_dec, apart);
    assert_true(swing_pre > 2 * swing_dec);
    assert_true(apart > 2 * swing_dec);
    workload_destroy(pre);
    workload_destroy(dec);
    wl_router_fini(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_workload__decode_sequences_persist_and_turn_over),
        cmocka_unit_test(
            test_workload__prefill_sequences_are_fresh_and_contiguous),
        cmocka_unit_test(test_workload__decode_two_tokens_per_sequence),
        cmocka_unit_test(
            test_workload__prefill_and_decode_load_experts_differently),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
