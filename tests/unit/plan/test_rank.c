/*
 * plan_rank: feasible candidates ranked by cost with the documented
 * tie-breaks, infeasible ones unranked, and a Pareto front of cost against
 * latency that holds no dominated point and leaves out none that is not.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <gsl/gsl_rng.h>
#include <stdio.h>
#include <string.h>

#include "sim/plan.h"
#include "tests/unit/testutil.h"

static plan_candidate cand(int index, plan_status st, int devices,
                           double power_w, double tpot_s)
{
    plan_candidate c;
    memset(&c, 0, sizeof c);
    c.index = index;
    c.status = st;
    c.devices = devices;
    c.devices_total = devices;
    c.replicas = 1;
    c.power_w = power_w;
    c.tpot_s = tpot_s;
    return c;
}

static planspec decode_spec(planspec_rank by)
{
    planspec p;
    memset(&p, 0, sizeof p);
    p.target = PLANSPEC_DECODE;
    p.tpot_s_max = 0.05;
    p.output_tokens_per_s = 1000;
    p.rank_by = by;
    return p;
}

/* a dominates b: no worse on both axes, better on one. */
static int dominates(const planspec *p, const plan_candidate *a,
                     const plan_candidate *b)
{
    double ca = plan_cost(p, a), cb = plan_cost(p, b);
    double la = plan_latency(p, a), lb = plan_latency(p, b);
    return ca <= cb && la <= lb && (ca < cb || la < lb);
}

static void test_rank__hand_example(void **st)
{
    (void)st;
    planspec p = decode_spec(PLANSPEC_RANK_DEVICES);
    /* (devices, power W, TPOT s); by hand: the front is 8 @ 45 ms (indices
     * 0 and 1: the same point on these axes, neither dominates the other;
     * power only orders their ranks), 16 @ 30 ms and 32 @ 20 ms. 16 @ 40 ms is dominated by 16 @ 30 ms; 32 @ 30 ms by
     * 16 @ 30 ms; the latency-bound index 5 and the no-fit index 6 are
     * unranked. */
    plan_candidate c[] = {
        cand(0, PLAN_FEASIBLE, 8, 6000, 0.045),
        cand(1, PLAN_FEASIBLE, 8, 3200, 0.045),
        cand(2, PLAN_FEASIBLE, 16, 6400, 0.040),
        cand(3, PLAN_FEASIBLE, 16, 6400, 0.030),
        cand(4, PLAN_FEASIBLE, 32, 12800, 0.030),
        cand(5, PLAN_LATENCY, 4, 1600, 0.060),
        cand(6, PLAN_NO_FIT, 2, 800, 0),
        cand(7, PLAN_FEASIBLE, 32, 12800, 0.020),
    };
    const int n = (int)(sizeof c / sizeof c[0]);
    plan_rank(&p, c, n);
    /* devices, then power (index 1 before 0), then TPOT (3 before 2) */
    const int want_rank[] = {2, 1, 4, 3, 6, 0, 0, 5};
    const int want_front[] = {1, 1, 0, 1, 0, 0, 0, 1};
    for (int i = 0; i < n; i++) {
        if (c[i].rank != want_rank[i] || c[i].pareto != want_front[i])
            fprintf(stderr, "candidate %d: rank %d pareto %d\n", i,
                    c[i].rank, c[i].pareto);
        assert_int_equal(c[i].rank, want_rank[i]);
        assert_int_equal(c[i].pareto, want_front[i]);
    }
}

static void test_rank__unknown_cost_ranks_last_off_the_front(void **st)
{
    (void)st;
    planspec p = decode_spec(PLANSPEC_RANK_POWER);
    plan_candidate c[] = {
        cand(0, PLAN_FEASIBLE, 8, 0, 0.010),    /* power unknown */
        cand(1, PLAN_FEASIBLE, 16, 6400, 0.040),
        cand(2, PLAN_FEASIBLE, 8, 5600, 0.045),
    };
    plan_rank(&p, c, 3);
    assert_int_equal(c[2].rank, 1); /* lowest known power */
    assert_int_equal(c[1].rank, 2);
    assert_int_equal(c[0].rank, 3);
    assert_int_equal(c[0].pareto, 0);
    assert_int_equal(c[1].pareto, 1);
    assert_int_equal(c[2].pareto, 1);
}

/* Many random plans, with ties on both axes: the front holds no dominated
 * point, every point off it is dominated by one on it, and the ranks are a
 * permutation of 1..feasible ordered by cost. */
static void test_rank__front_holds_no_dominated_point(void **st)
{
    (void)st;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 42);
    enum { N = 60 };
    static plan_candidate c[N];
    for (int trial = 0; trial < 200; trial++) {
        planspec p = decode_spec((planspec_rank)(trial % 2));
        for (int i = 0; i < N; i++) {
            plan_status stt = gsl_rng_uniform(rng) < 0.8 ? PLAN_FEASIBLE
                                                         : PLAN_LATENCY;
            int devices = 8 * (1 + (int)gsl_rng_uniform_int(rng, 8));
            double power =
                400.0 * devices * (double)(1 + gsl_rng_uniform_int(rng, 2));
            double tpot = 0.001 * (10 + (double)gsl_rng_uniform_int(rng, 40));
            c[i] = cand(i, stt, devices, power, tpot);
        }
        plan_rank(&p, c, N);
        int feasible = 0, seen[N + 1];
        memset(seen, 0, sizeof seen);
        for (int i = 0; i < N; i++) {
            if (c[i].status != PLAN_FEASIBLE) {
                assert_int_equal(c[i].rank, 0);
                assert_int_equal(c[i].pareto, 0);
                continue;
            }
            feasible++;
            assert_true(c[i].rank >= 1 && c[i].rank <= N);
            assert_int_equal(seen[c[i].rank]++, 0);
            int dominated_by_any = 0, dominated_by_front = 0;
            for (int j = 0; j < N; j++) {
                if (j == i || c[j].status != PLAN_FEASIBLE ||
                    !dominates(&p, &c[j], &c[i]))
                    continue;
                dominated_by_any = 1;
                dominated_by_front |= c[j].pareto;
            }
            if (c[i].pareto && dominated_by_any)
                fprintf(stderr, "trial %d: candidate %d on the front is "
                                "dominated\n",
                        trial, i);
            assert_false(c[i].pareto && dominated_by_any);
            assert_true(c[i].pareto || dominated_by_front);
            /* a candidate ranked ahead never costs more */
            for (int j = 0; j < N; j++)
                if (c[j].status == PLAN_FEASIBLE && c[j].rank < c[i].rank)
                    assert_true(plan_cost(&p, &c[j]) <=
                                plan_cost(&p, &c[i]));
        }
        for (int r = 1; r <= feasible; r++)
            assert_int_equal(seen[r], 1);
    }
    gsl_rng_free(rng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rank__hand_example),
        cmocka_unit_test(test_rank__unknown_cost_ranks_last_off_the_front),
        cmocka_unit_test(test_rank__front_holds_no_dominated_point),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
