/*
 * maxmin_run: completion times solved by hand (including a case where an
 * ending flow makes other rates fall), and random problems against a
 * plain reference that recomputes every rate from scratch by textbook
 * water-filling after each completion, so the incremental refill of
 * sim/maxmin.c is checked against the definition.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "sim/maxmin.h"
#include "tests/unit/net/net_test.h"

static void assert_times(const double *got, const double *want, uint32_t n,
                         double rel)
{
    int same = 1;
    for (uint32_t f = 0; f < n; f++)
        same = same && fabs(got[f] - want[f]) <= rel * fabs(want[f]);
    if (!same)
        for (uint32_t f = 0; f < n; f++)
            print_message("flow %u: want %.17g got %.17g\n", f, want[f],
                          got[f]);
    assert_true(same);
}

static void run_and_check(const maxmin_problem_t *p, const double *want,
                          double want_makespan)
{
    maxmin_t *mm = NULL;
    err_t e;
    err_clear(&e);
    double fin[16], makespan;
    assert_int_equal(maxmin_create(&mm, &e), 0);
    int rc = maxmin_run(mm, p, fin, &makespan, &e);
    if (rc)
        print_message("%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_times(fin, want, p->n_flows, 1e-12);
    assert_times(&makespan, &want_makespan, 1, 1e-12);
    maxmin_destroy(mm);
}

/* One link of 1 B/s, flows of 1 and 3 bytes: both at 1/2 until the small
 * one ends at t = 2; the big one has 3 - 1 = 2 bytes left at 1 B/s and
 * ends at t = 4. */
static void test_maxmin_run__sharing_then_full_rate(void **state)
{
    (void)state;
    const double cap[] = {1}, bytes[] = {1, 3};
    const uint32_t ps[] = {0, 1, 2}, pl[] = {0, 0};
    maxmin_problem_t p = {1, cap, 2, ps, pl, bytes};
    const double want[] = {2, 4};
    run_and_check(&p, want, 4);
}

/* Rates can fall when a flow ends. L0 = 1 B/s (A, B), L1 = 2 B/s (B, C,
 * D). At first L0 fills at 1/2 (A = B = 1/2) and C = D = (2 - 1/2)/2 =
 * 3/4. A (0.5 bytes) ends at t = 1; then L1 fills first at 2/3, so B
 * rises to 2/3 and C, D fall to 2/3. At t = 1, B has 10 - 0.5 = 9.5
 * bytes left, C and D 10 - 0.75 = 9.25: C and D end at 1 + 9.25 * 1.5 =
 * 14.875. B then has 9.5 - 13.875 * 2/3 = 0.25 left at min(1, 2) = 1 B/s:
 * it ends at 15.125. */
static void test_maxmin_run__ending_flow_can_slow_others(void **state)
{
    (void)state;
    const double cap[] = {1, 2}, bytes[] = {0.5, 10, 10, 10};
    const uint32_t ps[] = {0, 1, 3, 4, 5}, pl[] = {0, 0, 1, 1, 1};
    maxmin_problem_t p = {2, cap, 4, ps, pl, bytes};
    const double want[] = {1, 15.125, 14.875, 14.875};
    run_and_check(&p, want, 15.125);
}

/* Zero-byte flows end at 0 and take no bandwidth: the other flow runs at
 * the full 4 B/s. */
static void test_maxmin_run__zero_byte_flows_end_at_zero(void **state)
{
    (void)state;
    const double cap[] = {4}, bytes[] = {0, 8};
    const uint32_t ps[] = {0, 1, 2}, pl[] = {0, 0};
    maxmin_problem_t p = {1, cap, 2, ps, pl, bytes};
    const double want[] = {0, 2};
    run_and_check(&p, want, 2);
}

/* ---- reference: textbook water-filling, recomputed from scratch --------- */

static void ref_rates(uint32_t nl, const double *cap, uint32_t nf,
                      const uint32_t *ps, const uint32_t *pl,
                      const int *active, double *rate)
{
    double res[64];
    int cnt[64], frozen[512];
    for (uint32_t l = 0; l < nl; l++)
        res[l] = cap[l];
    for (uint32_t f = 0; f < nf; f++) {
        rate[f] = 0.0;
        frozen[f] = !active[f];
    }
    for (;;) {
        for (uint32_t l = 0; l < nl; l++)
            cnt[l] = 0;
        for (uint32_t f = 0; f < nf; f++)
            if (!frozen[f])
                for (uint32_t q = ps[f]; q < ps[f + 1]; q++)
                    cnt[pl[q]]++;
        double inc = INFINITY;
        for (uint32_t l = 0; l < nl; l++)
            if (cnt[l] > 0 && res[l] / cnt[l] < inc)
                inc = res[l] / cnt[l];
        if (inc == INFINITY)
            break;
        for (uint32_t l = 0; l < nl; l++)
            res[l] -= inc * cnt[l];
        for (uint32_t f = 0; f < nf; f++) {
            if (frozen[f])
                continue;
            rate[f] += inc;
            for (uint32_t q = ps[f]; q < ps[f + 1]; q++)
                if (res[pl[q]] <= 1e-12 * cap[pl[q]])
                    frozen[f] = 1;
        }
    }
}

static void ref_run(uint32_t nl, const double *cap, uint32_t nf,
                    const uint32_t *ps, const uint32_t *pl,
                    const double *bytes, double *fin)
{
    int active[512];
    double rem[512], rate[512], t = 0.0;
    for (uint32_t f = 0; f < nf; f++) {
        active[f] = bytes[f] > 0.0;
        rem[f] = bytes[f];
        fin[f] = 0.0;
    }
    for (;;) {
        ref_rates(nl, cap, nf, ps, pl, active, rate);
        double dt = INFINITY;
        for (uint32_t f = 0; f < nf; f++)
            if (active[f] && rem[f] / rate[f] < dt)
                dt = rem[f] / rate[f];
        if (dt == INFINITY)
            break;
        t += dt;
        for (uint32_t f = 0; f < nf; f++) {
            if (!active[f])
                continue;
            rem[f] -= rate[f] * dt;
            if (rem[f] <= 1e-9 * bytes[f]) {
                active[f] = 0;
                fin[f] = t;
            }
        }
    }
}

/* Random links, paths and sizes: continuous sizes, sizes from four values
 * (many flows end together), capacities from three values (many ties in
 * the filling). Small problems by the thousand, then larger ones (up to
 * 300 flows: enough for the finish heap to be rebuilt in bulk and for
 * refills to switch between incremental and full). Every finish time
 * agrees with the reference to 1e-7. */
static void random_trials(unsigned long seed, int trials, uint32_t lmax,
                          uint32_t fmin, uint32_t fmax)
{
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, seed);
    maxmin_t *mm = NULL;
    err_t e;
    assert_int_equal(maxmin_create(&mm, &e), 0);
    enum { LCAP = 64, FCAP = 512 };
    double cap[LCAP], bytes[FCAP], fin[FCAP], want[FCAP], makespan;
    uint32_t ps[FCAP + 1], pl[FCAP * 4];
    assert_true(lmax <= LCAP && fmax <= FCAP);
    for (int trial = 0; trial < trials; trial++) {
        int kind = trial % 3;
        uint32_t nl = 2 + (uint32_t)gsl_rng_uniform_int(rng, lmax - 1);
        uint32_t nf =
            fmin + (uint32_t)gsl_rng_uniform_int(rng, fmax - fmin + 1);
        for (uint32_t l = 0; l < nl; l++)
            cap[l] = kind ? 1.0 + (double)gsl_rng_uniform_int(rng, 3)
                          : 0.5 + gsl_rng_uniform(rng) * 4.0;
        ps[0] = 0;
        for (uint32_t f = 0; f < nf; f++) {
            ps[f + 1] = random_path(rng, nl, pl, ps[f]);
            bytes[f] = kind == 1 ? (double)gsl_rng_uniform_int(rng, 4)
                                 : gsl_ran_lognormal(rng, 0.0, 1.0);
        }
        maxmin_problem_t p = {nl, cap, nf, ps, pl, bytes};
        assert_int_equal(maxmin_run(mm, &p, fin, &makespan, &e), 0);
        ref_run(nl, cap, nf, ps, pl, bytes, want);
        double want_makespan = 0.0;
        for (uint32_t f = 0; f < nf; f++)
            if (want[f] > want_makespan)
                want_makespan = want[f];
        int same = 1;
        for (uint32_t f = 0; f < nf; f++)
            same = same && fabs(fin[f] - want[f]) <= 1e-7 * want[f];
        if (!same) {
            print_message("seed %lu trial %d (%u links, %u flows)\n", seed,
                          trial, nl, nf);
            assert_times(fin, want, nf, 1e-7);
        }
        assert_true(fabs(makespan - want_makespan) <= 1e-7 * want_makespan);
    }
    maxmin_destroy(mm);
    gsl_rng_free(rng);
}

static void test_maxmin_run__random_problems_match_full_recompute(
    void **state)
{
    (void)state;
    random_trials(2024, 1500, 16, 1, 64);
    random_trials(1, 120, 40, 100, 300);
}

/* A 12 x 12 all-to-all on two-link paths (source NIC up, destination NIC
 * down, as sim/net builds it), every pair a different lognormal size: the
 * finishes cascade through every link, so the solver switches between
 * incremental and full refills. Exact mode agrees with the reference to
 * 1e-7; with a window of 1e-3 of the busy time there are at most about
 * 1000 recomputations and the makespan moves by under 1%. */
static void test_maxmin_run__skewed_all_to_all_exact_and_windowed(
    void **state)
{
    (void)state;
    enum { N = 12, F = N * (N - 1) };
    double cap[2 * N], bytes[F], fin[F], want[F], makespan;
    uint32_t ps[F + 1], pl[2 * F];
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 5);
    for (uint32_t l = 0; l < 2 * N; l++)
        cap[l] = 25e9;
    uint32_t f = 0;
    ps[0] = 0;
    for (uint32_t s = 0; s < N; s++)
        for (uint32_t d = 0; d < N; d++) {
            if (s == d)
                continue;
            pl[2 * f] = s;
            pl[2 * f + 1] = N + d;
            bytes[f] = 1e6 * gsl_ran_lognormal(rng, 0.0, 1.0);
            f++;
            ps[f] = 2 * f;
        }
    maxmin_problem_t p = {2 * N, cap, F, ps, pl, bytes};
    maxmin_t *mm = NULL;
    err_t e;
    assert_int_equal(maxmin_create(&mm, &e), 0);
    assert_int_equal(maxmin_run(mm, &p, fin, &makespan, &e), 0);
    maxmin_stats_t st = maxmin_last_stats(mm);
    ref_run(2 * N, cap, F, ps, pl, bytes, want);
    assert_times(fin, want, F, 1e-7);
    double exact = makespan;
    assert_int_equal(st.batches, F);
    assert_true(st.full_solves > 0);
    assert_true(st.full_solves < st.batches);
    maxmin_set_window(mm, 1e-3);
    assert_int_equal(maxmin_run(mm, &p, fin, &makespan, &e), 0);
    st = maxmin_last_stats(mm);
    if (!(fabs(makespan - exact) < 1e-2 * exact))
        print_message("exact %.17g windowed %.17g\n", exact, makespan);
    assert_true(fabs(makespan - exact) < 1e-2 * exact);
    assert_true(st.batches < 1100 && st.batches < F);
    maxmin_destroy(mm);
    gsl_rng_free(rng);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_maxmin_run__sharing_then_full_rate),
        cmocka_unit_test(test_maxmin_run__ending_flow_can_slow_others),
        cmocka_unit_test(test_maxmin_run__zero_byte_flows_end_at_zero),
        cmocka_unit_test(
            test_maxmin_run__random_problems_match_full_recompute),
        cmocka_unit_test(
            test_maxmin_run__skewed_all_to_all_exact_and_windowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
