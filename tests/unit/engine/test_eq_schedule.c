/*
 * eq_schedule, eq_schedule_in, eq_pop, eq_peek_time: the total order
 * (time, then schedule order), payload copies, and refusal of times
 * before the clock or not finite.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "sim/engine.h"

static eq_t *make(size_t cap)
{
    eq_t *eq = NULL;
    err_t e;
    assert_int_equal(eq_create(&eq, cap, &e), 0);
    return eq;
}

/* Scheduled at 3, 1, 2, 1, 3, 1 (i0 = 0..5): pops by time, and within a
 * time in the order scheduled: i0 = 1, 3, 5 (t 1), 2 (t 2), 0, 4 (t 3). */
static void test_eq_schedule__ties_run_in_schedule_order(void **state)
{
    (void)state;
    eq_t *eq = make(16);
    const double t[] = {3, 1, 2, 1, 3, 1};
    err_t e;
    for (int i = 0; i < 6; i++) {
        eq_payload_t p = {.kind = 7, .i0 = i};
        assert_int_equal(eq_schedule(eq, t[i], &p, NULL, &e), 0);
    }
    const int64_t want_i0[] = {1, 3, 5, 2, 0, 4};
    const double want_t[] = {1, 1, 1, 2, 3, 3};
    eq_event_t ev;
    uint64_t last_seq = 0;
    for (int k = 0; k < 6; k++) {
        assert_true(eq_pop(eq, &ev));
        if (ev.p.i0 != want_i0[k])
            print_message("pop %d: want i0 %lld got %lld\n", k,
                          (long long)want_i0[k], (long long)ev.p.i0);
        assert_int_equal(ev.p.i0, want_i0[k]);
        assert_true(ev.time_s == want_t[k]);
        assert_true(eq_now(eq) == want_t[k]);
        assert_int_equal(ev.p.kind, 7);
        if (k > 0 && ev.time_s == want_t[k - 1])
            assert_true(ev.seq > last_seq);
        last_seq = ev.seq;
    }
    assert_false(eq_pop(eq, &ev));
    eq_destroy(eq);
}

static void test_eq_schedule__copies_payload_and_null_means_zero(void **state)
{
    (void)state;
    eq_t *eq = make(4);
    int target = 42;
    eq_payload_t p = {.kind = 3, .who = -2, .i0 = 1, .i1 = 2, .x0 = 0.5,
                      .ptr = &target};
    err_t e;
    eq_handle_t h;
    assert_int_equal(eq_schedule(eq, 1.0, &p, &h, &e), 0);
    p.kind = 99; /* the engine kept its own copy */
    assert_int_equal(eq_schedule(eq, 2.0, NULL, NULL, &e), 0);
    eq_event_t ev;
    assert_true(eq_pop(eq, &ev));
    assert_int_equal(ev.p.kind, 3);
    assert_int_equal(ev.p.who, -2);
    assert_true(ev.p.x0 == 0.5 && ev.p.ptr == &target);
    assert_true(ev.handle == h);
    assert_true(eq_pop(eq, &ev));
    assert_int_equal(ev.p.kind, 0);
    assert_null(ev.p.ptr);
    eq_destroy(eq);
}

/* After the clock reached 5, times before 5, NaN and infinity are ERR_SIM
 * and schedule nothing; 5 itself and later are fine. */
static void test_eq_schedule__refuses_the_past_and_non_finite(void **state)
{
    (void)state;
    eq_t *eq = make(8);
    err_t e;
    err_clear(&e);
    eq_event_t ev;
    assert_int_equal(eq_schedule(eq, 5.0, NULL, NULL, &e), 0);
    assert_true(eq_pop(eq, &ev));
    assert_int_equal(eq_schedule(eq, 4.999, NULL, NULL, &e), ERR_SIM);
    assert_non_null(strstr(e.msg, "before the clock"));
    assert_int_equal(eq_schedule(eq, NAN, NULL, NULL, &e), ERR_SIM);
    assert_int_equal(eq_schedule(eq, INFINITY, NULL, NULL, &e), ERR_SIM);
    assert_int_equal(eq_schedule_in(eq, -1e-9, NULL, NULL, &e), ERR_SIM);
    assert_int_equal(eq_pending(eq), 0);
    assert_int_equal(eq_schedule(eq, 5.0, NULL, NULL, &e), 0);
    assert_int_equal(eq_schedule_in(eq, 2.5, NULL, NULL, &e), 0);
    double t;
    assert_true(eq_peek_time(eq, &t));
    assert_true(t == 5.0);
    assert_true(eq_pop(eq, &ev) && eq_pop(eq, &ev));
    assert_true(ev.time_s == 7.5);
    assert_false(eq_peek_time(eq, &t));
    eq_destroy(eq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eq_schedule__ties_run_in_schedule_order),
        cmocka_unit_test(test_eq_schedule__copies_payload_and_null_means_zero),
        cmocka_unit_test(test_eq_schedule__refuses_the_past_and_non_finite),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
