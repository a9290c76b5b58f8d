/*
 * plan_largest_batch: the search for the largest batch that meets a latency
 * limit finds what an exhaustive scan finds, on hand-made latency curves of
 * every shape the simulator shows (affine, convex, concave, flat then
 * steep, staircase) and on the simulator itself, in few probes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "scenarios/scen.h"
#include "sim/plan.h"
#include "sim/run.h"
#include "tests/unit/plan/plan_test.h"
#include "tests/unit/testutil.h"

/* A latency curve in units of 1/1024 s (about a millisecond; a power of
 * two so that the affine case below computes exactly): kind selects the
 * shape, a and b its scale. */
#define UNIT_S (1.0 / 1024.0)
typedef struct curve {
    int kind;
    double a, b;
    int calls;
    int max_batch_probed;
} curve;

static double curve_ms(const curve *c, int batch)
{
    double x = batch;
    switch (c->kind) {
    case 0: return c->a + c->b * x;                       /* affine */
    case 1: return c->a + c->b * x * x / 16.0;            /* convex */
    case 2: return c->a + c->b * 8.0 * sqrt(x);           /* concave */
    case 3: return c->a + (x < 20 ? 0.1 * x : c->b * (x - 18)); /* knee */
    case 4: return c->a + c->b * 4.0 * floor(x / 5.0);    /* staircase */
    default: return c->a + c->b * log(x) * 6.0;           /* log */
    }
}

static int curve_probe(void *ctx, int batch, double *latency_s, err_t *e)
{
    (void)e;
    curve *c = ctx;
    c->calls++;
    if (batch > c->max_batch_probed)
        c->max_batch_probed = batch;
    *latency_s = curve_ms(c, batch) * UNIT_S;
    return 0;
}

/* Largest batch in [lo, hi] with latency <= limit, by trying them all. */
static int scan(const curve *c, int lo, int hi, double limit_s)
{
    int best = 0;
    for (int b = lo; b <= hi; b++)
        if (curve_ms(c, b) * UNIT_S <= limit_s)
            best = b;
    return best;
}

static void test_search__matches_exhaustive_scan_on_every_curve(void **st)
{
    (void)st;
    err_t e;
    err_clear(&e);
    int cases = 0, worst_probes = 0;
    const int ranges[][2] = {{1, 1}, {1, 2}, {1, 7}, {1, 64}, {3, 40},
                             {1, 256}, {17, 300}, {1, 1000}};
    for (int kind = 0; kind < 6; kind++) {
        for (size_t r = 0; r < sizeof ranges / sizeof ranges[0]; r++) {
            const int lo = ranges[r][0], hi = ranges[r][1];
            for (double limit_ms = 20; limit_ms <= 140; limit_ms += 3.7) {
                curve c = {kind, 20.0 + kind, 0.25 + 0.1 * kind, 0, 0};
                int best = -1, probes = 0;
                int rc = plan_largest_batch(lo, hi, limit_ms * UNIT_S,
                                            curve_probe, &c, &best, &probes,
                                            &e);
                assert_int_equal(rc, 0);
                int want = scan(&c, lo, hi, limit_ms * UNIT_S);
                if (best != want)
                    fprintf(stderr,
                            "curve %d on [%d, %d], limit %.1f ms: search "
                            "%d, scan %d\n",
                            kind, lo, hi, limit_ms, best, want);
                assert_int_equal(best, want);
                assert_int_equal(probes, c.calls);
                /* the documented bound: 3 * log2(width) + 4 */
                int bound = 3 * (int)ceil(log2(hi - lo + 1.0)) + 4;
                if (probes > bound)
                    fprintf(stderr, "curve %d on [%d, %d], limit %.1f ms: "
                                    "%d probes > %d\n",
                            kind, lo, hi, limit_ms, probes, bound);
                assert_true(probes <= bound);
                if (probes > worst_probes)
                    worst_probes = probes;
                cases++;
            }
        }
    }
    fprintf(stderr, "%d cases, at most %d probes\n", cases, worst_probes);
}

static void test_search__affine_latency_takes_four_probes(void **st)
{
    (void)st;
    err_t e;
    err_clear(&e);
    /* 32 units + 0.5 per sequence, limit 48.5, batches 1..257: 33
     * sequences meet exactly (48.5 <= 48.5), 34 miss. Probes: 1 (32.5,
     * meets), a quarter of the way to 257 = 65 (64.5, misses), the line
     * through them crosses 48.5 at 1 + 16 / 32 * 64 = 33 exactly, and 34
     * proves it. Every figure is a multiple of 1/2: the arithmetic is
     * exact. */
    curve c = {0, 32.0, 0.5, 0, 0};
    int best = 0, probes = 0;
    assert_int_equal(plan_largest_batch(1, 257, 48.5 * UNIT_S, curve_probe,
                                        &c, &best, &probes, &e),
                     0);
    assert_int_equal(best, 33);
    assert_int_equal(probes, 4);
    assert_int_equal(c.max_batch_probed, 65); /* never the costly cap */
}

static void test_search__lo_missing_is_zero_after_one_probe(void **st)
{
    (void)st;
    err_t e;
    err_clear(&e);
    curve c = {0, 60.0, 0.5, 0, 0};
    int best = -1, probes = 0;
    assert_int_equal(plan_largest_batch(1, 256, 50 * UNIT_S, curve_probe, &c,
                                        &best, &probes, &e),
                     0);
    assert_int_equal(best, 0);
    assert_int_equal(probes, 1);
}

static void test_search__cap_meeting_is_the_answer(void **st)
{
    (void)st;
    err_t e;
    err_clear(&e);
    /* 10 + 0.1 per sequence stays under 50 up to 400: the cap of
     * 96 (memory) is the answer. 1, then 24 (a quarter of the way), then
     * the line through them points past the cap, so the cap is probed and
     * meets. */
    curve c = {0, 10.0, 0.1, 0, 0};
    int best = 0, probes = 0;
    assert_int_equal(plan_largest_batch(1, 96, 50 * UNIT_S, curve_probe, &c, &best,
                                        &probes, &e),
                     0);
    assert_int_equal(best, 96);
    assert_int_equal(probes, 3);
}

static int failing_probe(void *ctx, int batch, double *latency_s, err_t *e)
{
    int *calls = ctx;
    *latency_s = 1e-3 * batch;
    if (++*calls == 2)
        return err_set(e, ERR_SIM, "probe %d failed", batch);
    return 0;
}

static void test_search__probe_error_is_returned(void **st)
{
    (void)st;
    err_t e;
    err_clear(&e);
    int calls = 0, best = -1, probes = 0;
    int rc = plan_largest_batch(1, 100, 50e-3, failing_probe, &calls, &best,
                                &probes, &e);
    assert_int_equal(rc, ERR_SIM);
    assert_string_equal(e.msg, "probe 25 failed"); /* 1 + 99 / 4 */
    assert_int_equal(probes, 2);
}

/* The simulator against an exhaustive scan: Pangu Pro MoE decode on one
 * Atlas 800I A2 with MoGE, cut to 8 layers and 2 steps per run so that the
 * 16 runs of the scan stay quick under the sanitizers. plan_evaluate's
 * batch must be the largest of 1..16 whose TPOT meets the limit. */
static void test_search__simulator_bisection_equals_scan(void **st)
{
    (void)st;
    static scenario s;
    static planspec spec;
    err_t e;
    err_clear(&e);
    assert_int_equal(scen_load("scenarios/pangu-decode-800i.ini", &s, &e), 0);
    s.model.layers = 8; /* Pangu has no dense layers: 8 MoE layers */
    int moge = scen_find_policy(&s, "moge");
    assert_true(moge >= 0);
    enum { N = 16 };
    double tpot_s[N + 1];
    scenario r = s;
    r.steps = 2;
    r.n_seeds = 1;
    r.seeds[0] = 7;
    for (int b = 1; b <= N; b++) {
        metrics_summary m;
        r.sequences_per_device = b;
        int rc = run_policy(&r, moge, 7, NULL, NULL, &m, &e);
        if (rc != 0)
            fprintf(stderr, "%s\n", e.msg);
        assert_int_equal(rc, 0);
        tpot_s[b] = m.tpot_s;
    }
    /* MoGE loads every device equally, so TPOT grows with the batch. */
    for (int b = 2; b <= N; b++)
        assert_true(tpot_s[b] >= tpot_s[b - 1]);
    /* Limits between the ends of the scan and exactly on a point. */
    const double limits_s[] = {tpot_s[1] + 0.37 * (tpot_s[N] - tpot_s[1]),
                               tpot_s[1] + 0.81 * (tpot_s[N] - tpot_s[1]),
                               tpot_s[11], tpot_s[1] * 0.99};
    for (size_t k = 0; k < sizeof limits_s / sizeof limits_s[0]; k++) {
        char text[512];
        snprintf(text, sizeof text,
                 "[plan]\ntarget = decode\noutput_tokens_per_s = 1000\n"
                 "tpot_ms_max = %.17g\npolicies = moge\nbatch_max = %d\n"
                 "plan_steps = 2\nseed = 7\n",
                 limits_s[k] * 1e3, N);
        int rc = plan_test_spec_text("scenarios/plan-test.ini", text, &s,
                                     &spec, &e);
        if (rc != 0)
            fprintf(stderr, "%s\n", e.msg);
        assert_int_equal(rc, 0);
        plan_candidate *c = NULL;
        int n = 0;
        assert_int_equal(plan_enumerate(&s, &spec, &c, &n, &e), 0);
        assert_int_equal(n, 1);
        assert_int_equal(plan_evaluate(&s, &spec, &c[0], NULL, &e), 0);
        int want = 0;
        for (int b = 1; b <= N; b++)
            if (tpot_s[b] <= spec.tpot_s_max)
                want = b;
        fprintf(stderr,
                "limit %.4f ms: search batch %d in %d probes, scan %d\n",
                spec.tpot_s_max * 1e3, c[0].batch_per_device, c[0].probes,
                want);
        if (want == 0) {
            assert_int_equal(c[0].status, PLAN_LATENCY);
        } else {
            assert_int_equal(c[0].status, PLAN_FEASIBLE);
            assert_int_equal(c[0].batch_per_device, want);
            /* the operating point's TPOT is the scan's at that batch */
            assert_near(c[0].tpot_s, tpot_s[want], 1e-12);
            assert_true(c[0].probes < N);
        }
        free(c);
    }
    scen_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_search__matches_exhaustive_scan_on_every_curve),
        cmocka_unit_test(test_search__affine_latency_takes_four_probes),
        cmocka_unit_test(test_search__lo_missing_is_zero_after_one_probe),
        cmocka_unit_test(test_search__cap_meeting_is_the_answer),
        cmocka_unit_test(test_search__probe_error_is_returned),
        cmocka_unit_test(test_search__simulator_bisection_equals_scan),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
