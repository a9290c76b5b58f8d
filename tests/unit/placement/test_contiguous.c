/*
 * placement_create_contiguous / placement_create_grouped: maps by hand.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "models/placement.h"

/* 8 experts on 4 devices (2 per node): experts 0,1 on device 0, 2,3 on 1,
 * 4,5 on 2, 6,7 on 3; one replica each, slot = expert. */
static void test_contiguous__maps_expert_to_device_by_hand(void **state)
{
    (void)state;
    static const uint32_t want_device[8] = {0, 0, 1, 1, 2, 2, 3, 3};
    placement_t *p = NULL;
    err_t e;
    assert_int_equal(placement_create_contiguous(&p, 3, 8, 4, 2, &e), 0);
    assert_int_equal(placement_policy(p), PLACEMENT_CONTIGUOUS);
    assert_string_equal(placement_policy_name(placement_policy(p)),
                        "contiguous");
    assert_int_equal(placement_slots(p), 8);
    assert_int_equal(placement_slots_per_device(p), 2);
    assert_int_equal(placement_nodes(p), 2);
    for (uint32_t l = 0; l < 3; l++) {
        for (uint32_t x = 0; x < 8; x++) {
            assert_int_equal(placement_replicas(p, l, x), 1);
            uint32_t q = placement_replica_slot(p, l, x, 0);
            assert_int_equal(q, x);
            assert_int_equal(placement_slot_expert(p, l, q), x);
            assert_int_equal(placement_slot_device(p, l, q), want_device[x]);
        }
    }
    placement_destroy(p);
}

/* MoGE, Pangu Pro MoE shape: 64 experts in 8 groups on 8 devices; group g
 * (experts 8g .. 8g+7) all on device g. */
static void test_grouped__group_g_on_device_g(void **state)
{
    (void)state;
    placement_t *p = NULL;
    err_t e;
    assert_int_equal(placement_create_grouped(&p, 1, 64, 8, 8, 8, &e), 0);
    assert_int_equal(placement_policy(p), PLACEMENT_GROUPED);
    assert_int_equal(placement_slots_per_device(p), 8);
    for (uint32_t g = 0; g < 8; g++)
        for (uint32_t j = 0; j < 8; j++)
            assert_int_equal(
                placement_slot_device(p, 0, placement_replica_slot(
                                                p, 0, 8 * g + j, 0)),
                g);
    placement_destroy(p);
}

/* A single replica is always the pick, whatever the source. */
static void test_contiguous__pick_is_the_only_replica(void **state)
{
    (void)state;
    placement_t *p = NULL;
    err_t e;
    assert_int_equal(placement_create_contiguous(&p, 1, 8, 4, 4, &e), 0);
    for (uint32_t d = 0; d < 4; d++)
        for (uint64_t t = 0; t < 5; t++)
            assert_int_equal(placement_pick_slot(p, 0, 5, t, d), 5);
    placement_destroy(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contiguous__maps_expert_to_device_by_hand),
        cmocka_unit_test(test_grouped__group_g_on_device_g),
        cmocka_unit_test(test_contiguous__pick_is_the_only_replica),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
