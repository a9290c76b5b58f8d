/*
 * The event queue against simple references, on random operations:
 *   - schedule many events, pop them all: the order is that of qsort by
 *     (time, sequence number);
 *   - interleave schedule, cancel and pop at random (times from a few
 *     values ahead of the clock, so ties abound): each pop returns the
 *     event a linear scan of the live events picks, the clock never goes
 *     backwards and the pending count always matches.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <stdlib.h>

#include <gsl/gsl_rng.h>

#include "sim/engine.h"

typedef struct ref_event {
    double time_s;
    uint64_t seq;
    int64_t id;
    eq_handle_t h;
} ref_event;

static int by_time_then_seq(const void *a, const void *b)
{
    const ref_event *x = a, *y = b;
    if (x->time_s != y->time_s)
        return x->time_s < y->time_s ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void test_eq_invariants__pop_order_matches_sort(void **state)
{
    (void)state;
    enum { N = 5000 };
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 99);
    eq_t *eq = NULL;
    err_t e;
    assert_int_equal(eq_create(&eq, N, &e), 0);
    ref_event *ref = malloc(N * sizeof *ref);
    assert_non_null(ref);
    for (int i = 0; i < N; i++) {
        /* half on a coarse grid (ties), half continuous */
        double t = i % 2 ? (double)gsl_rng_uniform_int(rng, 50)
                         : 50.0 * gsl_rng_uniform(rng);
        eq_payload_t p = {.i0 = i};
        assert_int_equal(eq_schedule(eq, t, &p, NULL, &e), 0);
        ref[i] = (ref_event){.time_s = t, .seq = (uint64_t)i, .id = i};
    }
    qsort(ref, N, sizeof *ref, by_time_then_seq);
    eq_event_t ev;
    for (int i = 0; i < N; i++) {
        assert_true(eq_pop(eq, &ev));
        if (ev.p.i0 != ref[i].id)
            print_message("pop %d: want id %lld (t %g) got %lld (t %g)\n", i,
                          (long long)ref[i].id, ref[i].time_s,
                          (long long)ev.p.i0, ev.time_s);
        assert_int_equal(ev.p.i0, ref[i].id);
    }
    assert_false(eq_pop(eq, &ev));
    free(ref);
    eq_destroy(eq);
    gsl_rng_free(rng);
}

static void test_eq_invariants__random_ops_match_linear_scan(void **state)
{
    (void)state;
    enum { CAP = 300, OPS = 60000 };
    eq_t *eq = NULL;
    err_t e;
    assert_int_equal(eq_create(&eq, CAP, &e), 0);
    ref_event live[CAP];
    for (unsigned long seed = 1; seed <= 3; seed++) {
        gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
        gsl_rng_set(rng, seed);
        eq_reset(eq);
        int n = 0;
        int64_t next_id = 0;
        uint64_t seq = 0;
        double last_pop = 0.0;
        for (int op = 0; op < OPS; op++) {
            double u = gsl_rng_uniform(rng);
            if (u < 0.5 && n < CAP) {
                double t = eq_now(eq) +
                           (double)gsl_rng_uniform_int(rng, 4) * 0.25;
                eq_payload_t p = {.i0 = next_id};
                eq_handle_t h;
                assert_int_equal(eq_schedule(eq, t, &p, &h, &e), 0);
                live[n++] = (ref_event){t, seq++, next_id++, h};
            } else if (u < 0.65 && n > 0) {
                int k = (int)gsl_rng_uniform_int(rng, (unsigned long)n);
                assert_true(eq_cancel(eq, live[k].h));
                assert_false(eq_cancel(eq, live[k].h));
                live[k] = live[--n];
            } else if (n > 0) {
                int best = 0;
                for (int k = 1; k < n; k++)
                    if (by_time_then_seq(&live[k], &live[best]) < 0)
                        best = k;
                eq_event_t ev;
                assert_true(eq_pop(eq, &ev));
                if (ev.p.i0 != live[best].id)
                    print_message("seed %lu op %d: want %lld got %lld\n",
                                  seed, op, (long long)live[best].id,
                                  (long long)ev.p.i0);
                assert_int_equal(ev.p.i0, live[best].id);
                assert_true(ev.time_s >= last_pop);
                assert_false(eq_is_pending(eq, ev.handle));
                last_pop = ev.time_s;
                live[best] = live[--n];
            }
            assert_int_equal(eq_pending(eq), n);
        }
        gsl_rng_free(rng);
    }
    eq_destroy(eq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eq_invariants__pop_order_matches_sort),
        cmocka_unit_test(test_eq_invariants__random_ops_match_linear_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
