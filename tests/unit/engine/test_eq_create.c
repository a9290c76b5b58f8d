/*
 * eq_create and the capacity set there: sizes out of range, ERR_CAPACITY
 * naming the setting to raise, capacity coming back as events leave,
 * eq_reset, eq_destroy(NULL).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <string.h>

#include "sim/engine.h"

static void test_eq_create__rejects_sizes_out_of_range(void **state)
{
    (void)state;
    static int not_an_engine;
    eq_t *eq = (eq_t *)&not_an_engine; /* must be set to NULL on failure */
    err_t e;
    err_clear(&e);
    assert_int_equal(eq_create(&eq, 0, &e), ERR_INPUT);
    assert_null(eq);
    assert_non_null(strstr(e.msg, "max_pending_events"));
    assert_int_equal(eq_create(&eq, EQ_MAX_PENDING + 1, &e), ERR_INPUT);
    eq_destroy(NULL);
}

/* Capacity 3: the fourth schedule fails with ERR_CAPACITY and a message
 * that names max_pending_events; a pop or a cancel makes room again. */
static void test_eq_create__capacity_error_names_the_setting(void **state)
{
    (void)state;
    eq_t *eq = NULL;
    err_t e;
    err_clear(&e);
    assert_int_equal(eq_create(&eq, 3, &e), 0);
    assert_int_equal(eq_capacity(eq), 3);
    eq_handle_t h;
    for (int i = 0; i < 3; i++)
        assert_int_equal(eq_schedule(eq, 1.0 + i, NULL, &h, &e), 0);
    assert_int_equal(eq_schedule(eq, 9.0, NULL, NULL, &e), ERR_CAPACITY);
    assert_non_null(strstr(e.msg, "max_pending_events"));
    assert_int_equal(eq_pending(eq), 3);
    eq_event_t ev;
    assert_true(eq_pop(eq, &ev));
    assert_int_equal(eq_schedule(eq, 9.0, NULL, NULL, &e), 0);
    assert_true(eq_cancel(eq, h));
    assert_int_equal(eq_schedule(eq, 9.0, NULL, NULL, &e), 0);
    assert_int_equal(eq_schedule(eq, 9.0, NULL, NULL, &e), ERR_CAPACITY);
    eq_destroy(eq);
}

/* eq_reset empties the queue, sets the clock and counters to 0 and makes
 * old handles stale; the same schedule then gives the same sequence
 * numbers. */
static void test_eq_create__reset_starts_over(void **state)
{
    (void)state;
    eq_t *eq = NULL;
    err_t e;
    assert_int_equal(eq_create(&eq, 4, &e), 0);
    eq_handle_t h;
    eq_event_t ev;
    assert_int_equal(eq_schedule(eq, 1.0, NULL, NULL, &e), 0);
    assert_int_equal(eq_schedule(eq, 2.0, NULL, &h, &e), 0);
    assert_true(eq_pop(eq, &ev));
    eq_reset(eq);
    assert_int_equal(eq_pending(eq), 0);
    assert_true(eq_now(eq) == 0.0);
    assert_int_equal(eq_events_handled(eq), 0);
    assert_false(eq_cancel(eq, h));
    assert_int_equal(eq_schedule(eq, 0.5, NULL, NULL, &e), 0);
    assert_true(eq_pop(eq, &ev));
    assert_int_equal(ev.seq, 0);
    eq_destroy(eq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eq_create__rejects_sizes_out_of_range),
        cmocka_unit_test(test_eq_create__capacity_error_names_the_setting),
        cmocka_unit_test(test_eq_create__reset_starts_over),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
