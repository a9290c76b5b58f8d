/*
 * maxmin_rates: textbook max-min fair allocations solved by hand, the
 * pruning of links that cannot bind, input checks, and random problems
 * against the optimality conditions (every flow has a full link on which
 * no flow gets more).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>
#include <stdlib.h>

#include <gsl/gsl_rng.h>

#include "sim/maxmin.h"
#include "tests/unit/net/net_test.h"

static void assert_rates(const double *got, const double *want, uint32_t n)
{
    int same = 1;
    for (uint32_t f = 0; f < n; f++)
        same = same && fabs(got[f] - want[f]) <= 1e-12 * fabs(want[f]);
    if (!same)
        for (uint32_t f = 0; f < n; f++)
            print_message("flow %u: want %.17g got %.17g\n", f, want[f],
                          got[f]);
    assert_true(same);
}

/* Solves p and compares with want. */
static void solve_and_check(const maxmin_problem_t *p, const double *want)
{
    maxmin_t *mm = NULL;
    err_t e;
    err_clear(&e);
    double rate[16];
    assert_int_equal(maxmin_create(&mm, &e), 0);
    int rc = maxmin_rates(mm, p, rate, &e);
    if (rc)
        print_message("%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_rates(rate, want, p->n_flows);
    maxmin_destroy(mm);
}

/* Two flows on one link of 10 B/s: half each. */
static void test_maxmin_rates__two_flows_share_one_bottleneck(void **state)
{
    (void)state;
    const double cap[] = {10};
    const uint32_t ps[] = {0, 1, 2}, pl[] = {0, 0};
    maxmin_problem_t p = {1, cap, 2, ps, pl, NULL};
    const double want[] = {5, 5};
    solve_and_check(&p, want);
}

/* Parking lot (Bertsekas & Gallager): k = 4 links of capacity 1, one long
 * flow across all, one short flow on each link. Every link carries two
 * flows, so all five get 1/2. */
static void test_maxmin_rates__parking_lot_all_get_half(void **state)
{
    (void)state;
    const double cap[] = {1, 1, 1, 1};
    const uint32_t ps[] = {0, 4, 5, 6, 7, 8};
    const uint32_t pl[] = {0, 1, 2, 3, 0, 1, 2, 3};
    maxmin_problem_t p = {4, cap, 5, ps, pl, NULL};
    const double want[] = {0.5, 0.5, 0.5, 0.5, 0.5};
    solve_and_check(&p, want);
}

/* Unequal bottlenecks. Links L0 = 10 (f0, f1, f2), L1 = 4 (f2, f3),
 * L2 = 9 (f0, f4). Fair shares: L0 10/3, L1 4/2 = 2, L2 9/2. L1 fills
 * first: f2 = f3 = 2. L0 then has 8 for f0, f1 (4 each) and L2 9 for
 * f0, f4 (4.5 each): L0 fills at 4: f0 = f1 = 4. L2 is left 5 for f4.
 * Check: L0 4+4+2 = 10, L1 2+2 = 4, L2 4+5 = 9. */
static void test_maxmin_rates__progressive_filling_unequal(void **state)
{
    (void)state;
    const double cap[] = {10, 4, 9};
    const uint32_t ps[] = {0, 2, 3, 5, 6, 7};
    const uint32_t pl[] = {0, 2, 0, 0, 1, 1, 2};
    maxmin_problem_t p = {3, cap, 5, ps, pl, NULL};
    const double want[] = {4, 4, 2, 2, 5};
    solve_and_check(&p, want);
}

/* A link with room to spare does not bind: L0 = 1 (a, b), L1 = 3 (b, c):
 * a = b = 1/2 from L0, c gets the rest of L1, 2.5. */
static void test_maxmin_rates__slack_goes_to_the_unblocked(void **state)
{
    (void)state;
    const double cap[] = {1, 3};
    const uint32_t ps[] = {0, 1, 3, 4}, pl[] = {0, 0, 1, 1};
    maxmin_problem_t p = {2, cap, 3, ps, pl, NULL};
    const double want[] = {0.5, 0.5, 2.5};
    solve_and_check(&p, want);
}

/* Pruning: links 0, 1 are first links (2 B/s each), 2 an interior link of
 * 4 B/s (>= 2 + 2, so it cannot bind) and 3, 4 last links (3 B/s). Flows
 * 0->3 and 1->4 via 2: each is limited by its first link: 2 each. With the
 * interior link at 3 B/s it binds: 1.5 each. */
static void test_maxmin_rates__interior_link_pruned_only_if_it_cannot_bind(
    void **state)
{
    (void)state;
    double cap[] = {2, 2, 4, 3, 3};
    const uint32_t ps[] = {0, 3, 6}, pl[] = {0, 2, 3, 1, 2, 4};
    maxmin_problem_t p = {5, cap, 2, ps, pl, NULL};
    maxmin_t *mm = NULL;
    err_t e;
    double rate[2];
    assert_int_equal(maxmin_create(&mm, &e), 0);
    assert_int_equal(maxmin_rates(mm, &p, rate, &e), 0);
    const double want[] = {2, 2};
    assert_rates(rate, want, 2);
    assert_int_equal(maxmin_last_stats(mm).links_pruned, 1);
    cap[2] = 3;
    assert_int_equal(maxmin_rates(mm, &p, rate, &e), 0);
    const double want2[] = {1.5, 1.5};
    assert_rates(rate, want2, 2);
    assert_int_equal(maxmin_last_stats(mm).links_pruned, 0);
    maxmin_destroy(mm);
}

static void test_maxmin_rates__rejects_malformed_problems(void **state)
{
    (void)state;
    maxmin_t *mm = NULL;
    err_t e;
    err_clear(&e);
    double rate[2];
    assert_int_equal(maxmin_create(&mm, &e), 0);
    double cap[] = {1, 1};
    uint32_t ps[] = {0, 1, 3}, pl[] = {0, 1, 1};
    maxmin_problem_t p = {2, cap, 2, ps, pl, NULL};
    assert_int_equal(maxmin_rates(mm, &p, rate, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "twice"));
    pl[2] = 7;
    assert_int_equal(maxmin_rates(mm, &p, rate, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "link 7"));
    pl[2] = 0;
    cap[1] = 0;
    assert_int_equal(maxmin_rates(mm, &p, rate, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "capacity"));
    cap[1] = 1;
    ps[1] = 0; /* flow 0 has no links */
    assert_int_equal(maxmin_rates(mm, &p, rate, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "empty path"));
    maxmin_destroy(mm);
}

/* Random problems: the allocation is feasible and max-min fair, checked
 * by the definition rather than by a second solver: every flow crosses a
 * full link (within 1e-9) on which its rate is the largest. */
static void test_maxmin_rates__random_problems_meet_the_conditions(
    void **state)
{
    (void)state;
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 7);
    maxmin_t *mm = NULL;
    err_t e;
    assert_int_equal(maxmin_create(&mm, &e), 0);
    enum { LMAX = 12, FMAX = 60 };
    double cap[LMAX], rate[FMAX], load[LMAX], top[LMAX];
    uint32_t ps[FMAX + 1], pl[FMAX * 4];
    for (int trial = 0; trial < 400; trial++) {
        uint32_t nl = 2 + (uint32_t)gsl_rng_uniform_int(rng, LMAX - 1);
        uint32_t nf = 1 + (uint32_t)gsl_rng_uniform_int(rng, FMAX);
        for (uint32_t l = 0; l < nl; l++) /* few values: many ties */
            cap[l] = 1.0 + (double)gsl_rng_uniform_int(rng, 4);
        ps[0] = 0;
        for (uint32_t f = 0; f < nf; f++)
            ps[f + 1] = random_path(rng, nl, pl, ps[f]);
        maxmin_problem_t p = {nl, cap, nf, ps, pl, NULL};
        assert_int_equal(maxmin_rates(mm, &p, rate, &e), 0);
        for (uint32_t l = 0; l < nl; l++)
            load[l] = top[l] = 0.0;
        for (uint32_t f = 0; f < nf; f++)
            for (uint32_t q = ps[f]; q < ps[f + 1]; q++) {
                load[pl[q]] += rate[f];
                if (rate[f] > top[pl[q]])
                    top[pl[q]] = rate[f];
            }
        for (uint32_t l = 0; l < nl; l++) {
            if (load[l] > cap[l] * (1 + 1e-9))
                print_message("trial %d link %u load %.17g > %g\n", trial,
                              l, load[l], cap[l]);
            assert_true(load[l] <= cap[l] * (1 + 1e-9));
        }
        for (uint32_t f = 0; f < nf; f++) {
            int has_bottleneck = 0;
            for (uint32_t q = ps[f]; q < ps[f + 1]; q++) {
                uint32_t l = pl[q];
                if (load[l] >= cap[l] * (1 - 1e-9) &&
                    rate[f] >= top[l] * (1 - 1e-9))
                    has_bottleneck = 1;
            }
            if (!has_bottleneck)
                print_message("trial %d flow %u rate %.17g: no bottleneck\n",
                              trial, f, rate[f]);
            assert_true(has_bottleneck);
        }
    }
    maxmin_destroy(mm);
    gsl_rng_free(rng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxmin_rates__two_flows_share_one_bottleneck),
        cmocka_unit_test(test_maxmin_rates__parking_lot_all_get_half),
        cmocka_unit_test(test_maxmin_rates__progressive_filling_unequal),
        cmocka_unit_test(test_maxmin_rates__slack_goes_to_the_unblocked),
        cmocka_unit_test(
            test_maxmin_rates__interior_link_pruned_only_if_it_cannot_bind),
        cmocka_unit_test(test_maxmin_rates__rejects_malformed_problems),
        cmocka_unit_test(
            test_maxmin_rates__random_problems_meet_the_conditions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
