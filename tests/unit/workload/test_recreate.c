/*
 * workload_recreate: whatever the workload it is handed (none, one of
 * another batch, of another seed or params, one that has run steps), what
 * it leaves behind gives the same bytes as workload_create would, step
 * after step, in every phase.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "models/workload.h"

enum { N = 32, LAYERS = 3, VOCAB = 3000, DIM = 64, MAX_TOKENS = 512 };

/* Every layer's logits, the hidden states and the token, sequence and
 * topic ids of one step, for tokens of up to MAX_TOKENS. */
typedef struct snapshot {
    float logits[LAYERS][MAX_TOKENS * N];
    float hidden[MAX_TOKENS * DIM];
    uint32_t ids[MAX_TOKENS];
    uint64_t seqs[MAX_TOKENS];
    int topics[MAX_TOKENS];
} snapshot;

static void take(workload *w, snapshot *s)
{
    err_t e;
    size_t T = (size_t)workload_tokens(w);
    memset(s, 0, sizeof *s);
    for (int l = 0; l < LAYERS; l++)
        assert_int_equal(workload_logits(w, l, s->logits[l], &e), 0);
    memcpy(s->hidden, workload_hidden(w), T * DIM * sizeof(float));
    memcpy(s->ids, workload_token_ids(w), T * sizeof(uint32_t));
    memcpy(s->seqs, workload_sequence_ids(w), T * sizeof(uint64_t));
    memcpy(s->topics, workload_token_topics(w), T * sizeof(int));
}

/* Steps 0..2 of a and b give the same bytes. */
static void expect_same_steps(workload *a, workload *b, snapshot *sa,
                              snapshot *sb)
{
    err_t e;
    for (long step = 0; step < 3; step++) {
        assert_int_equal(workload_step(a, step, &e), 0);
        assert_int_equal(workload_step(b, step, &e), 0);
        take(a, sa);
        take(b, sb);
        assert_memory_equal(sa, sb, sizeof *sa);
    }
}

static void test_workload__recreate_equals_create(void **state)
{
    (void)state;
    err_t e;
    snapshot *sa = malloc(sizeof *sa), *sb = malloc(sizeof *sb);
    assert_non_null(sa);
    assert_non_null(sb);
    workload_params p, q;
    workload_params_default(&p);
    q = p;
    q.topic_sigma = 0.9;
    /* (tokens, sequences, seed, params) in turn: the first from nothing,
     * then other batches (larger, smaller, prefill-like T = 4 S), another
     * seed and other params (both rebuild the tables), and the same again
     * after steps have run. */
    const struct {
        int tokens, sequences;
        unsigned long seed;
        const workload_params *params;
    } runs[] = {{64, 64, 7, &p},   {512, 512, 7, &p}, {96, 24, 7, &p},
                {128, 128, 8, &p}, {128, 128, 8, &q}, {128, 128, 8, &q}};
    for (int ph = 0; ph < WORKLOAD_PHASE_COUNT; ph++) {
        workload *kept = NULL;
        for (size_t i = 0; i < sizeof runs / sizeof runs[0]; i++) {
            workload_shape sh = {N,     LAYERS,         VOCAB,
                                 (workload_phase)ph, runs[i].tokens,
                                 runs[i].sequences};
            workload *fresh = NULL;
            assert_int_equal(workload_create(runs[i].params, &sh,
                                             runs[i].seed, &fresh, &e),
                             0);
            assert_int_equal(workload_recreate(&kept, runs[i].params, &sh,
                                               runs[i].seed, &e),
                             0);
            assert_non_null(kept);
            assert_int_equal(workload_tokens(kept), runs[i].tokens);
            assert_int_equal(workload_sequences(kept), runs[i].sequences);
            assert_int_equal(workload_current_step(kept), -1);
            expect_same_steps(fresh, kept, sa, sb);
            workload_destroy(fresh);
        }
        workload_destroy(kept);
    }
    free(sa);
    free(sb);
}

static void test_workload__recreate_refuses_a_bad_shape(void **state)
{
    (void)state;
    err_t e;
    workload_params p;
    workload_params_default(&p);
    workload_shape sh = {N, LAYERS, VOCAB, WORKLOAD_DECODE, 64, 64};
    workload *w = NULL;
    assert_int_equal(workload_recreate(&w, &p, &sh, 1, &e), 0);
    sh.sequences = 65; /* more sequences than tokens */
    assert_int_equal(workload_recreate(&w, &p, &sh, 1, &e), ERR_INPUT);
    assert_null(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_workload__recreate_equals_create),
        cmocka_unit_test(test_workload__recreate_refuses_a_bad_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
