/*
 * Seeding: the same params, shape and seed give byte-identical hidden
 * states, token ids, sequence ids and logits; another seed gives others;
 * skipping steps gives the same step as generating every one before it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "models/workload.h"

enum { N = 64, LAYERS = 4, TOKENS = 512, SEQS = 128, VOCAB = 5000 };

static workload *make(workload_phase phase, unsigned long seed)
{
    workload_params p;
    workload_params_default(&p);
    workload_shape sh = {N, LAYERS, VOCAB, phase, TOKENS, SEQS};
    workload *w = NULL;
    err_t e;
    assert_int_equal(workload_create(&p, &sh, seed, &w, &e), 0);
    return w;
}

/* Everything a step exposes, concatenated: logits of every layer, hidden
 * states, token ids, sequence ids, topics. */
typedef struct snapshot {
    float logits[LAYERS][TOKENS * N];
    float hidden[TOKENS * 64];
    uint32_t ids[TOKENS];
    uint64_t seqs[TOKENS];
    int topics[TOKENS];
} snapshot;

static void take(workload *w, snapshot *s)
{
    err_t e;
    memset(s, 0, sizeof *s);
    for (int l = 0; l < LAYERS; l++)
        assert_int_equal(workload_logits(w, l, s->logits[l], &e), 0);
    assert_int_equal(workload_dim(w), 64);
    memcpy(s->hidden, workload_hidden(w), sizeof s->hidden);
    memcpy(s->ids, workload_token_ids(w), sizeof s->ids);
    memcpy(s->seqs, workload_sequence_ids(w), sizeof s->seqs);
    memcpy(s->topics, workload_token_topics(w), sizeof s->topics);
}

static void test_workload__same_seed_gives_identical_bytes(void **state)
{
    (void)state;
    err_t e;
    snapshot *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    for (int ph = 0; ph < WORKLOAD_PHASE_COUNT; ph++) {
        workload *w1 = make((workload_phase)ph, 42);
        workload *w2 = make((workload_phase)ph, 42);
        for (long s = 0; s < 3; s++) {
            assert_int_equal(workload_step(w1, s, &e), 0);
            assert_int_equal(workload_step(w2, s, &e), 0);
            take(w1, a);
            take(w2, b);
            assert_memory_equal(a, b, sizeof *a);
        }
        for (int l = 0; l < LAYERS; l++)
            assert_memory_equal(workload_router_matrix(w1, l),
                                workload_router_matrix(w2, l),
                                (size_t)64 * N * sizeof(float));
        workload_destroy(w1);
        workload_destroy(w2);
    }
    free(a);
    free(b);
}

static void test_workload__different_seeds_differ(void **state)
{
    (void)state;
    err_t e;
    snapshot *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    workload *w1 = make(WORKLOAD_DECODE, 1);
    workload *w2 = make(WORKLOAD_DECODE, 2);
    assert_int_equal(workload_step(w1, 0, &e), 0);
    assert_int_equal(workload_step(w2, 0, &e), 0);
    take(w1, a);
    take(w2, b);
    for (int l = 0; l < LAYERS; l++)
        assert_memory_not_equal(a->logits[l], b->logits[l],
                                sizeof a->logits[l]);
    assert_memory_not_equal(a->ids, b->ids, sizeof a->ids);
    assert_memory_not_equal(workload_router_matrix(w1, 0),
                            workload_router_matrix(w2, 0),
                            (size_t)64 * N * sizeof(float));
    workload_destroy(w1);
    workload_destroy(w2);
    free(a);
    free(b);
}

/* Step 7 reached directly equals step 7 reached through 0..6, in every
 * phase (drift and decode turnover are advanced through skipped steps on
 * their own streams; step tokens have a stream per step). */
static void test_workload__skipping_steps_matches_stepping(void **state)
{
    (void)state;
    err_t e;
    snapshot *a = malloc(sizeof *a), *b = malloc(sizeof *b);
    assert_non_null(a);
    assert_non_null(b);
    for (int ph = 0; ph < WORKLOAD_PHASE_COUNT; ph++) {
        workload *w1 = make((workload_phase)ph, 9);
        workload *w2 = make((workload_phase)ph, 9);
        for (long s = 0; s <= 7; s++)
            assert_int_equal(workload_step(w1, s, &e), 0);
        assert_int_equal(workload_step(w2, 7, &e), 0);
        assert_int_equal(workload_current_step(w2), 7);
        take(w1, a);
        take(w2, b);
        assert_memory_equal(a, b, sizeof *a);
        assert_memory_equal(workload_topic_weights(w1),
                            workload_topic_weights(w2),
                            32 * sizeof(double));
        workload_destroy(w1);
        workload_destroy(w2);
    }
    free(a);
    free(b);
}

/* Layer l's router matrix depends on (seed, l) only, not on how many
 * layers the model has: a scenario that changes the layer count keeps the
 * skew of the layers it shares. */
static void test_workload__router_matrix_independent_of_layer_count(
    void **state)
{
    (void)state;
    workload_params p;
    workload_params_default(&p);
    workload_shape small = {N, 2, VOCAB, WORKLOAD_DECODE, TOKENS, SEQS};
    workload_shape big = {N, LAYERS, VOCAB, WORKLOAD_DECODE, TOKENS, SEQS};
    workload *w1 = NULL, *w2 = NULL;
    err_t e;
    assert_int_equal(workload_create(&p, &small, 5, &w1, &e), 0);
    assert_int_equal(workload_create(&p, &big, 5, &w2, &e), 0);
    /* the heat ramp depends on depth, so compare directions: the lexical
     * half (rows 32..63) carries no heat */
    const float *a = workload_router_matrix(w1, 1);
    const float *b = workload_router_matrix(w2, 1);
    assert_memory_equal(a + 32 * N, b + 32 * N, (size_t)32 * N * sizeof *a);
    workload_destroy(w1);
    workload_destroy(w2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workload__same_seed_gives_identical_bytes),
        cmocka_unit_test(test_workload__different_seeds_differ),
        cmocka_unit_test(test_workload__skipping_steps_matches_stepping),
        cmocka_unit_test(
            test_workload__router_matrix_independent_of_layer_count),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
