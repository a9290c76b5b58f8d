/*
 * placement_load_*: the moving average of per-expert loads, and the EPLB
 * placement made from it. Expected values computed by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "models/placement.h"
#include "tests/unit/testutil.h"
#include "eplb_readme.h"

/* window 3: alpha = 2/(3+1) = 0.5. Steps 4 then 8 for one expert:
 * (0.5*4 + 8) / (0.5 + 1) = 10 / 1.5 = 6.666...; a third step of 0:
 * (0.25*4 + 0.5*8 + 0) / (0.25 + 0.5 + 1) = 5 / 1.75. The first estimate
 * is the first observation (no bias toward zero). */
static void test_load__exponential_average_by_hand(void **state)
{
    (void)state;
    placement_load_t *l = NULL;
    err_t e;
    assert_int_equal(placement_load_create(&l, 1, 2, 3, &e), 0);
    const double *est = placement_load_estimate(l);
    assert_true(est[0] == 0.0 && est[1] == 0.0);
    double s1[2] = {4, 1}, s2[2] = {8, 1}, s3[2] = {0, 1};
    assert_int_equal(placement_load_observe(l, s1, &e), 0);
    assert_near(placement_load_estimate(l)[0], 4.0, 1e-12);
    assert_int_equal(placement_load_observe(l, s2, &e), 0);
    assert_near(placement_load_estimate(l)[0], 10.0 / 1.5, 1e-12);
    assert_int_equal(placement_load_observe(l, s3, &e), 0);
    assert_near(placement_load_estimate(l)[0], 5.0 / 1.75, 1e-12);
    assert_near(placement_load_estimate(l)[1], 1.0, 1e-12);
    assert_int_equal(placement_load_steps(l), 3);
    placement_load_destroy(l);
}

/* window 1 keeps only the last step. */
static void test_load__window_one_is_last_step(void **state)
{
    (void)state;
    placement_load_t *l = NULL;
    err_t e;
    assert_int_equal(placement_load_create(&l, 1, 1, 1, &e), 0);
    double a = 100, b = 7;
    assert_int_equal(placement_load_observe(l, &a, &e), 0);
    assert_int_equal(placement_load_observe(l, &b, &e), 0);
    assert_near(placement_load_estimate(l)[0], 7.0, 1e-12);
    placement_load_destroy(l);
}

/* The same loads every step average to themselves, so rebalancing gives
 * the EPLB README placement. */
static void test_load__steady_loads_rebalance_to_readme(void **state)
{
    (void)state;
    placement_load_t *l = NULL;
    placement_t *p = NULL;
    err_t e;
    assert_int_equal(placement_load_create(&l, 2, 12, 0, &e), 0);
    for (int s = 0; s < 3; s++)
        assert_int_equal(placement_load_observe(l, readme_load, &e), 0);
    assert_int_equal(placement_load_rebalance(l, 16, 4, 2, 8, &p, &e), 0);
    for (uint32_t q = 0; q < 16; q++)
        assert_int_equal(placement_slot_expert(p, 1, q), readme_phy2log[1][q]);
    placement_destroy(p);
    placement_load_destroy(l);
}

static void test_load__rejects_negative(void **state)
{
    (void)state;
    placement_load_t *l = NULL;
    err_t e;
    assert_int_equal(placement_load_create(&l, 1, 2, 0, &e), 0);
    double bad[2] = {1, -1};
    assert_int_equal(placement_load_observe(l, bad, &e), ERR_INPUT);
    assert_int_equal(placement_load_steps(l), 0);
    placement_load_destroy(l);
    placement_load_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load__exponential_average_by_hand),
        cmocka_unit_test(test_load__window_one_is_last_step),
        cmocka_unit_test(test_load__steady_loads_rebalance_to_readme),
        cmocka_unit_test(test_load__rejects_negative),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
