/*
 * eq_run_until and eq_run: handlers see events in order with the clock at
 * each event's time, may schedule within the window, stop the run, or
 * fail it; the clock never goes backwards.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <string.h>

#include "sim/engine.h"

enum { KIND_TICK = 1, KIND_STOP = 2, KIND_FAIL = 3, KIND_PAST = 4 };

typedef struct log_model {
    double times[64];
    int n;
} log_model;

/* Records the time; a tick at t < 3 schedules another at t + 1. */
static int handler(eq_t *eq, void *model, const eq_event_t *ev, err_t *err)
{
    log_model *m = model;
    assert_true(ev->time_s == eq_now(eq));
    m->times[m->n++] = ev->time_s;
    switch (ev->p.kind) {
    case KIND_TICK:
        if (ev->time_s < 3.0)
            return eq_schedule_in(eq, 1.0, &ev->p, NULL, err);
        return 0;
    case KIND_STOP:
        return EQ_STOP;
    case KIND_FAIL:
        return err_set(err, ERR_SIM, "model failed at %g", ev->time_s);
    case KIND_PAST:
        return eq_schedule(eq, ev->time_s - 1.0, NULL, NULL, err);
    default:
        return 0;
    }
}

/* A tick at 0 chains ticks at 1, 2, 3. Running until 1.5 handles 0 and 1
 * (the tick at 2 stays pending) and leaves the clock at 1.5; running on
 * handles 2 and 3 and leaves the clock at 3. */
static void test_eq_run__until_a_horizon_then_to_the_end(void **state)
{
    (void)state;
    eq_t *eq = NULL;
    err_t e;
    assert_int_equal(eq_create(&eq, 8, &e), 0);
    eq_payload_t tick = {.kind = KIND_TICK};
    assert_int_equal(eq_schedule(eq, 0.0, &tick, NULL, &e), 0);
    log_model m = {.n = 0};
    assert_int_equal(eq_run_until(eq, 1.5, handler, &m, &e), 0);
    assert_int_equal(m.n, 2);
    assert_true(eq_now(eq) == 1.5);
    assert_int_equal(eq_pending(eq), 1);
    assert_int_equal(eq_run(eq, handler, &m, &e), 0);
    assert_int_equal(m.n, 4);
    for (int i = 0; i < 4; i++)
        assert_true(m.times[i] == (double)i);
    assert_true(eq_now(eq) == 3.0);
    assert_int_equal(eq_events_handled(eq), 4);
    eq_destroy(eq);
}

/* EQ_STOP ends the run at the stopping event (the clock stays there);
 * a handler's error code and message come back unchanged. */
static void test_eq_run__stop_and_failure_end_the_run(void **state)
{
    (void)state;
    eq_t *eq = NULL;
    err_t e;
    err_clear(&e);
    assert_int_equal(eq_create(&eq, 8, &e), 0);
    eq_payload_t stop = {.kind = KIND_STOP}, fail = {.kind = KIND_FAIL};
    assert_int_equal(eq_schedule(eq, 1.0, &stop, NULL, &e), 0);
    assert_int_equal(eq_schedule(eq, 2.0, &fail, NULL, &e), 0);
    assert_int_equal(eq_schedule(eq, 3.0, NULL, NULL, &e), 0);
    log_model m = {.n = 0};
    assert_int_equal(eq_run_until(eq, 10.0, handler, &m, &e), EQ_STOP);
    assert_true(eq_now(eq) == 1.0);
    assert_int_equal(eq_run(eq, handler, &m, &e), ERR_SIM);
    assert_string_equal(e.msg, "model failed at 2");
    assert_int_equal(eq_pending(eq), 1);
    eq_destroy(eq);
}

/* A handler scheduling before the clock gets ERR_SIM, which ends the run. */
static void test_eq_run__scheduling_in_the_past_fails_the_run(void **state)
{
    (void)state;
    eq_t *eq = NULL;
    err_t e;
    err_clear(&e);
    assert_int_equal(eq_create(&eq, 8, &e), 0);
    eq_payload_t past = {.kind = KIND_PAST};
    assert_int_equal(eq_schedule(eq, 2.0, &past, NULL, &e), 0);
    log_model m = {.n = 0};
    assert_int_equal(eq_run(eq, handler, &m, &e), ERR_SIM);
    assert_non_null(strstr(e.msg, "before the clock"));
    eq_destroy(eq);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eq_run__until_a_horizon_then_to_the_end),
        cmocka_unit_test(test_eq_run__stop_and_failure_end_the_run),
        cmocka_unit_test(test_eq_run__scheduling_in_the_past_fails_the_run),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
