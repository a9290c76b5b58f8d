/*
 * eq_cancel, eq_is_pending: removal from anywhere in the heap keeps the
 * order of the rest; stale handles (popped, cancelled, slot reused) cancel
 * nothing.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "sim/engine.h"

/* 20 events at t = i; cancel the earliest (the root), one in the middle
 * and the latest (the last leaf): the other 17 pop in order. */
static void test_eq_cancel__root_middle_and_last(void **state)
{
    (void)state;
    eq_t *eq = NULL;
    err_t e;
    assert_int_equal(eq_create(&eq, 32, &e), 0);
    eq_handle_t h[20];
    for (int i = 0; i < 20; i++) {
        eq_payload_t p = {.i0 = i};
        assert_int_equal(eq_schedule(eq, (double)i, &p, &h[i], &e), 0);
    }
    assert_true(eq_cancel(eq, h[0]));
    assert_true(eq_cancel(eq, h[11]));
    assert_true(eq_cancel(eq, h[19]));
    assert_false(eq_cancel(eq, h[11])); /* already gone */
    assert_false(eq_is_pending(eq, h[11]));
    assert_true(eq_is_pending(eq, h[12]));
    assert_int_equal(eq_pending(eq), 17);
    eq_event_t ev;
    int64_t last = -1;
    int n = 0;
    while (eq_pop(eq, &ev)) {
        assert_true(ev.p.i0 > last);
        assert_true(ev.p.i0 != 0 && ev.p.i0 != 11 && ev.p.i0 != 19);
        last = ev.p.i0;
        n++;
    }
    assert_int_equal(n, 17);
    eq_destroy(eq);
}

/* A popped event's handle is stale; so is it after its slot is reused by
 * a new event, which the old handle must not touch. */
static void test_eq_cancel__stale_handles_cancel_nothing(void **state)
{
    (void)state;
    eq_t *eq = NULL;
    err_t e;
    assert_int_equal(eq_create(&eq, 1, &e), 0);
    eq_handle_t old, fresh;
    assert_int_equal(eq_schedule(eq, 1.0, NULL, &old, &e), 0);
    eq_event_t ev;
    assert_true(eq_pop(eq, &ev));
    assert_false(eq_cancel(eq, old));
    /* capacity 1: the new event takes the same slot */
    assert_int_equal(eq_schedule(eq, 2.0, NULL, &fresh, &e), 0);
    assert_true(fresh != old);
    assert_false(eq_cancel(eq, old));
    assert_false(eq_is_pending(eq, old));
    assert_true(eq_is_pending(eq, fresh));
    assert_false(eq_cancel(eq, EQ_HANDLE_NONE));
    assert_true(eq_cancel(eq, fresh));
    assert_int_equal(eq_pending(eq), 0);
    eq_destroy(eq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eq_cancel__root_middle_and_last),
        cmocka_unit_test(test_eq_cancel__stale_handles_cancel_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
