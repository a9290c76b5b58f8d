/*
 * placement_pick_slot: stays within the expert's replicas, prefers the
 * source device, then its node, then round-robin by token index.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "models/placement.h"
#include "eplb_readme.h"

/* The EPLB README placement (eplb_readme.h): 8 devices in 2 nodes of 4, 2
 * slots each. Layer 0 (hand-derived in test_eplb.c): expert 5 at slots 0
 * (device 0, rank 0) and 2 (device 1, rank 1); expert 10 at slots 8
 * (device 4) and 10 (device 5); expert 1 at slots 15 (device 7, rank 0)
 * and 13 (device 6, rank 1); expert 3 only at slot 6 (device 3).
 * Candidates are taken in ascending slot order, not rank order. */
static int setup(void **state)
{
    placement_t *p = NULL;
    err_t e;
    if (placement_create_eplb(&p, readme_load, 2, 12, 16, 4, 2, 8, &e) != 0)
        return -1;
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    placement_destroy(*state);
    return 0;
}

static void test_pick_slot__prefers_replica_on_source_device(void **state)
{
    const placement_t *p = *state;
    for (uint64_t t = 0; t < 6; t++) {
        assert_int_equal(placement_pick_slot(p, 0, 5, t, 0), 0);
        assert_int_equal(placement_pick_slot(p, 0, 5, t, 1), 2);
        assert_int_equal(placement_pick_slot(p, 0, 10, t, 5), 10);
    }
}

/* Device 2 has no replica of expert 5 but shares node 0 with both: round
 * robin by token index in ascending slot order (slot 0, then slot 2).
 * Device 4 has no replica of expert 1 but shares node 1 with both: slot 13
 * then slot 15 (slot order, although slot 15 is EPLB's rank 0). Device 6
 * holds slot 13 itself: always slot 13. */
static void test_pick_slot__same_node_round_robin(void **state)
{
    const placement_t *p = *state;
    assert_int_equal(placement_pick_slot(p, 0, 5, 0, 2), 0);
    assert_int_equal(placement_pick_slot(p, 0, 5, 1, 2), 2);
    assert_int_equal(placement_pick_slot(p, 0, 5, 2, 2), 0);
    assert_int_equal(placement_pick_slot(p, 0, 5, 7, 3), 2);
    assert_int_equal(placement_pick_slot(p, 0, 1, 0, 4), 13);
    assert_int_equal(placement_pick_slot(p, 0, 1, 1, 4), 15);
    assert_int_equal(placement_pick_slot(p, 0, 1, 3, 6), 13);
}

/* No replica in the source's node: round robin over all replicas. */
static void test_pick_slot__remote_round_robin(void **state)
{
    const placement_t *p = *state;
    assert_int_equal(placement_pick_slot(p, 0, 5, 0, 6), 0);
    assert_int_equal(placement_pick_slot(p, 0, 5, 1, 6), 2);
    assert_int_equal(placement_pick_slot(p, 0, 10, 4, 1), 8);
    assert_int_equal(placement_pick_slot(p, 0, 10, 5, 1), 10);
    assert_int_equal(placement_pick_slot(p, 0, 3, 9, 7), 6);
}

/* Every pick, for every expert, source and token, is one of the expert's
 * replicas, and is on the source device whenever a replica is there. */
static void test_pick_slot__stays_within_replicas(void **state)
{
    const placement_t *p = *state;
    for (uint32_t l = 0; l < 2; l++) {
        for (uint32_t x = 0; x < 12; x++) {
            uint32_t r = placement_replicas(p, l, x);
            for (uint32_t d = 0; d < 8; d++) {
                int local = 0;
                for (uint32_t j = 0; j < r; j++)
                    local |= placement_slot_device(
                                 p, l, placement_replica_slot(p, l, x, j)) == d;
                for (uint64_t t = 0; t < 7; t++) {
                    uint32_t q = placement_pick_slot(p, l, x, t, d);
                    assert_int_equal(placement_slot_expert(p, l, q), x);
                    if (local)
                        assert_int_equal(placement_slot_device(p, l, q), d);
                }
            }
        }
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_pick_slot__prefers_replica_on_source_device),
        cmocka_unit_test(test_pick_slot__same_node_round_robin),
        cmocka_unit_test(test_pick_slot__remote_round_robin),
        cmocka_unit_test(test_pick_slot__stays_within_replicas),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
