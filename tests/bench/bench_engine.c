/*
 * bench_engine: the classic hold model on the event queue.
 *
 * n events are scheduled at Exp(1) times; then, repeatedly, the earliest
 * event is handled and its handler schedules one new event at now +
 * Exp(1), so n events stay pending. The run goes through eq_run_until and
 * a handler, as a model would. Exponentials come from one seeded gsl_rng
 * (mt19937) with gsl_ran_exponential; their cost is part of the figure,
 * and is also printed alone so the queue's share can be read off.
 *
 * Prints "hold_events_per_s_1e3 = ... events/s" and the same at 1e5 and
 * 1e6 pending events (target: >= 5e6 events/s at 1e5 on one core).
 */
#include <stdio.h>
#include <stdlib.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "sim/engine.h"
#include "tests/bench/bench.h"

typedef struct hold_model {
    gsl_rng *rng; /* borrowed */
    uint64_t left;
} hold_model;

static int hold_handler(eq_t *eq, void *model, const eq_event_t *ev,
                        err_t *err)
{
    hold_model *m = model;
    if (m->left == 0)
        return EQ_STOP;
    m->left--;
    return eq_schedule(eq, ev->time_s + gsl_ran_exponential(m->rng, 1.0),
                       &ev->p, NULL, err);
}

/* Runs the hold model with n pending events for holds events; returns
 * events per second, or a negative value on error. */
static double hold(size_t n, uint64_t holds, const char *label)
{
    err_t err;
    err_clear(&err);
    eq_t *eq = NULL;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    double rate = -1.0;
    if (!rng || eq_create(&eq, n, &err) != 0)
        goto done;
    gsl_rng_set(rng, 12345);
    for (size_t i = 0; i < n; i++) {
        eq_payload_t p = {.kind = 1, .i0 = (int64_t)i};
        if (eq_schedule(eq, gsl_ran_exponential(rng, 1.0), &p, NULL, &err))
            goto done;
    }
    /* Warm-up: one hold per pending event, to reach the steady state. */
    hold_model m = {.rng = rng, .left = n};
    if (eq_run(eq, hold_handler, &m, &err) < 0)
        goto done;
    m.left = holds;
    double t0 = bench_now_s();
    if (eq_run(eq, hold_handler, &m, &err) < 0)
        goto done;
    double dt = bench_now_s() - t0;
    rate = (double)holds / dt;
    printf("hold_events_per_s_%s = %.3e events/s\n", label, rate);
done:
    if (err.code)
        fprintf(stderr, "bench_engine: %s\n", err.msg);
    eq_destroy(eq);
    gsl_rng_free(rng);
    return rate;
}

int main(void)
{
    /* The cost of the random numbers alone, to read the queue's share. */
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    if (!rng)
        return 1;
    gsl_rng_set(rng, 1);
    uint64_t k = 20000000;
    double sink = 0.0, t0 = bench_now_s();
    for (uint64_t i = 0; i < k; i++)
        sink += gsl_ran_exponential(rng, 1.0);
    double dt = bench_now_s() - t0;
    gsl_rng_free(rng);
    printf("exponential_draws_per_s = %.3e draws/s (sum %.1f)\n",
           (double)k / dt, sink / (double)k);

    if (hold(1000, 20000000, "1e3") < 0 ||
        hold(100000, 20000000, "1e5") < 0 ||
        hold(1000000, 10000000, "1e6") < 0)
        return 1;
    printf("engine_peak_rss = %.1f MiB\n", bench_peak_rss_mib());
    return 0;
}
