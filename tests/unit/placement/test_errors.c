/*
 * Inconsistent placement arguments give ERR_INPUT and a message that names
 * the numbers involved; nothing is allocated for the caller.
 */
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "models/placement.h"

static void expect_input_error(int rc, placement_t *p, const err_t *e,
                               const char *fragment)
{
    if (rc != ERR_INPUT || !strstr(e->msg, fragment))
        print_message("rc %d, message \"%s\", wanted \"%s\"\n", rc, e->msg,
                      fragment);
    assert_int_equal(rc, ERR_INPUT);
    assert_null(p);
    assert_non_null(strstr(e->msg, fragment));
}

static void test_errors__contiguous_experts_not_divisible(void **state)
{
    (void)state;
    placement_t *p = NULL;
    err_t e;
    err_clear(&e);
    int rc = placement_create_contiguous(&p, 1, 10, 4, 4, &e);
    expect_input_error(rc, p, &e, "experts (10) not divisible by devices (4)");
}

static void test_errors__devices_not_divisible_by_node(void **state)
{
    (void)state;
    placement_t *p = NULL;
    err_t e;
    int rc = placement_create_contiguous(&p, 1, 12, 6, 4, &e);
    expect_input_error(rc, p, &e, "devices (6) not divisible by devices per "
                                  "node (4)");
}

static void test_errors__grouped_groups_must_equal_devices(void **state)
{
    (void)state;
    placement_t *p = NULL;
    err_t e;
    int rc = placement_create_grouped(&p, 1, 64, 4, 8, 8, &e);
    expect_input_error(rc, p, &e, "groups (4) must equal devices (8)");
    rc = placement_create_grouped(&p, 1, 60, 8, 8, 8, &e);
    expect_input_error(rc, p, &e, "experts (60) not divisible by groups (8)");
}

static void test_errors__eplb_slots_fewer_than_experts(void **state)
{
    (void)state;
    static const double load[12] = {0};
    placement_t *p = NULL;
    err_t e;
    int rc = placement_create_eplb(&p, load, 1, 12, 8, 4, 2, 8, &e);
    expect_input_error(rc, p, &e, "slots (8) < experts (12)");
}

static void test_errors__eplb_shape_checks(void **state)
{
    (void)state;
    static const double load[12] = {0};
    placement_t *p = NULL;
    err_t e;
    int rc = placement_create_eplb(&p, load, 1, 12, 18, 4, 2, 8, &e);
    expect_input_error(rc, p, &e, "slots (18) not divisible by devices (8)");
    rc = placement_create_eplb(&p, load, 1, 12, 16, 5, 2, 8, &e);
    expect_input_error(rc, p, &e, "experts (12) not divisible by groups (5)");
    rc = placement_create_eplb(&p, load, 1, 12, 16, 4, 3, 8, &e);
    expect_input_error(rc, p, &e, "devices (8) not divisible by nodes (3)");
    rc = placement_create_eplb(&p, load, 0, 12, 16, 4, 2, 8, &e);
    expect_input_error(rc, p, &e, "layers (0)");
    rc = placement_create_eplb(&p, load, 1, 40000, 40000, 4, 2, 8, &e);
    expect_input_error(rc, p, &e, "experts (40000) must be 1..32767");
}

static void test_errors__eplb_bad_load_values(void **state)
{
    (void)state;
    double load[4] = {1, 2, -3, 4};
    placement_t *p = NULL;
    err_t e;
    int rc = placement_create_eplb(&p, load, 1, 4, 4, 1, 1, 2, &e);
    expect_input_error(rc, p, &e, "expert 2 is -3");
    load[2] = NAN;
    rc = placement_create_eplb(&p, load, 1, 4, 4, 1, 1, 2, &e);
    expect_input_error(rc, p, &e, "must be finite");
}

/* A table in which expert 2 has no slot, or a device holds too many. */
static void test_errors__table_missing_expert_and_uneven(void **state)
{
    (void)state;
    static const uint16_t se_missing[4] = {0, 1, 3, 3};
    static const uint16_t sd_ok[4] = {0, 0, 1, 1};
    static const uint16_t se_ok[4] = {0, 1, 2, 3};
    static const uint16_t sd_uneven[4] = {0, 0, 0, 1};
    placement_t *p = NULL;
    err_t e;
    int rc = placement_create_table(&p, 1, 4, 4, 2, 2, se_missing, sd_ok, &e);
    expect_input_error(rc, p, &e, "expert 2 has no slot");
    rc = placement_create_table(&p, 1, 4, 4, 2, 2, se_ok, sd_uneven, &e);
    expect_input_error(rc, p, &e, "device 0 holds 3 slots, expected 2");
}

/* Tables get the same slot-count checks as EPLB. */
static void test_errors__table_slot_counts(void **state)
{
    (void)state;
    static const uint16_t se[4] = {0, 1, 2, 3};
    static const uint16_t sd[4] = {0, 0, 1, 1};
    placement_t *p = NULL;
    err_t e;
    int rc = placement_create_table(&p, 1, 4, 3, 1, 1, se, sd, &e);
    expect_input_error(rc, p, &e, "table: slots (3) < experts (4)");
    rc = placement_create_table(&p, 1, 4, 4, 3, 1, se, sd, &e);
    expect_input_error(rc, p, &e, "table: slots (4) not divisible by devices "
                                  "(3)");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors__contiguous_experts_not_divisible),
        cmocka_unit_test(test_errors__devices_not_divisible_by_node),
        cmocka_unit_test(test_errors__grouped_groups_must_equal_devices),
        cmocka_unit_test(test_errors__eplb_slots_fewer_than_experts),
        cmocka_unit_test(test_errors__eplb_shape_checks),
        cmocka_unit_test(test_errors__eplb_bad_load_values),
        cmocka_unit_test(test_errors__table_missing_expert_and_uneven),
        cmocka_unit_test(test_errors__table_slot_counts),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
