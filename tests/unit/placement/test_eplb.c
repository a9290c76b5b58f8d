/*
 * placement_create_eplb: the EPLB README example exactly, the tie rules
 * proved on hand-derived cases, and the invariants every EPLB placement
 * keeps.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include "models/placement.h"
#include "eplb_readme.h"

/* Compares a layer's slot -> expert map with the expected row and prints
 * both when they differ. */
static void assert_phy2log(const placement_t *p, uint32_t layer,
                           const uint32_t *want, uint32_t n)
{
    int same = placement_slots(p) == n;
    for (uint32_t q = 0; same && q < n; q++)
        same = placement_slot_expert(p, layer, q) == want[q];
    if (!same) {
        print_message("layer %u phy2log\n  want:", layer);
        for (uint32_t q = 0; q < n; q++)
            print_message(" %u", want[q]);
        print_message("\n  got: ");
        for (uint32_t q = 0; q < placement_slots(p); q++)
            print_message(" %u", placement_slot_expert(p, layer, q));
        print_message("\n");
    }
    assert_true(same);
}

/* deepseek-ai/EPLB README: 2 layers, 12 experts, 4 groups, 2 nodes, 8 GPUs,
 * 16 replicas (eplb_readme.h). */
static void test_eplb__readme_example_exact(void **state)
{
    (void)state;
    placement_t *p = NULL;
    err_t e;
    err_clear(&e);
    int rc = placement_create_eplb(&p, readme_load, 2, 12, 16, 4, 2, 8, &e);
    if (rc != 0)
        print_message("%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(placement_policy(p), PLACEMENT_EPLB);
    assert_int_equal(placement_slots_per_device(p), 2);
    assert_int_equal(placement_nodes(p), 2);
    assert_phy2log(p, 0, readme_phy2log[0], 16);
    assert_phy2log(p, 1, readme_phy2log[1], 16);
    placement_destroy(p);
}

/* log2phy and logcnt of layer 0, derived by hand from eplb.py.
 * Groups (3 experts each) weigh 262, 330, 116, 325; node 0 gets groups 1
 * and 2 (experts 3..8), node 1 groups 3 and 0 (experts 9,10,11,0,1,2).
 * Node 0 replicates expert 5 (165) then 4 (104); node 1 expert 10 (183)
 * then 1 (132 > 91.5). Packing node 1's replicas (91.5, 91.5, 90, 86, 66,
 * 66, 56, 40) onto its 4 GPUs puts expert 10's original on GPU 4 (slot 8)
 * and its copy on GPU 5 (slot 10); expert 1's original (phys 4) lands on
 * GPU 7 second (slot 15), its copy (phys 7) on GPU 6 second (slot 13). */
static void test_eplb__readme_log2phy_by_hand(void **state)
{
    (void)state;
    placement_t *p = NULL;
    err_t e;
    assert_int_equal(
        placement_create_eplb(&p, readme_load, 2, 12, 16, 4, 2, 8, &e), 0);
    static const uint32_t want_cnt[12] = {1, 2, 1, 1, 2, 2,
                                          1, 1, 1, 1, 2, 1};
    for (uint32_t x = 0; x < 12; x++)
        assert_int_equal(placement_replicas(p, 0, x), want_cnt[x]);
    assert_int_equal(placement_replica_slot(p, 0, 10, 0), 8);
    assert_int_equal(placement_replica_slot(p, 0, 10, 1), 10);
    assert_int_equal(placement_replica_slot(p, 0, 1, 0), 15);
    assert_int_equal(placement_replica_slot(p, 0, 1, 1), 13);
    assert_int_equal(placement_replica_slot(p, 0, 5, 0), 0);
    assert_int_equal(placement_replica_slot(p, 0, 5, 1), 2);
    assert_int_equal(placement_slot_device(p, 0, 13), 6);
    assert_int_equal(placement_slot_device(p, 0, 15), 7);
    placement_destroy(p);
}

/* Equal loads in balanced_packing keep ascending index order (descending
 * sort, stable). Global policy (1 group, 1 node), 4 experts of load 10 on
 * 2 GPUs: phys 0..3 go to GPU 0, 1, 0 (tie: first pack), 1, so GPU 0 holds
 * experts 0, 2 and GPU 1 holds 1, 3. The reverse tie order would give
 * 3, 1, 2, 0. */
static void test_eplb__sort_ties_keep_index_order(void **state)
{
    (void)state;
    static const double load[4] = {10, 10, 10, 10};
    static const uint32_t want[4] = {0, 2, 1, 3};
    placement_t *p = NULL;
    err_t e;
    assert_int_equal(placement_create_eplb(&p, load, 1, 4, 4, 1, 1, 2, &e), 0);
    assert_phy2log(p, 0, want, 4);
    placement_destroy(p);
}

/* Equal load per replica in replicate_experts picks the first expert
 * (torch max returns the first index). Loads 8, 8, 4, 4 to 6 slots on 2
 * GPUs: copy 1 -> expert 0 (8 = 8, first wins), copy 2 -> expert 1
 * (8 > 4). Six replicas of load 4 pack alternately: GPU 0 gets phys 0, 2,
 * 4 = experts 0, 2, 0; GPU 1 gets phys 1, 3, 5 = experts 1, 3, 1. Taking
 * the last index instead would put expert 1 at slot 2. */
static void test_eplb__max_ties_pick_first_expert(void **state)
{
    (void)state;
    static const double load[4] = {8, 8, 4, 4};
    static const uint32_t want[6] = {0, 2, 0, 1, 3, 1};
    placement_t *p = NULL;
    err_t e;
    assert_int_equal(placement_create_eplb(&p, load, 1, 4, 6, 1, 1, 2, &e), 0);
    assert_phy2log(p, 0, want, 6);
    assert_int_equal(placement_replica_slot(p, 0, 0, 0), 0);
    assert_int_equal(placement_replica_slot(p, 0, 0, 1), 2);
    placement_destroy(p);
}

/* groups % nodes != 0 selects the global policy (eplb.py calls the
 * hierarchical one with 1 group and 1 node). Loads 10 10 20 40 50 60, 3
 * groups on 2 nodes of 1 GPU, 8 slots:
 *   copies: expert 5 (60, then 30 per replica), expert 4 (50 > 40).
 *   phys 0..7 = experts 0 1 2 3 4 5 5 4, loads 10 10 20 40 25 30 30 25.
 *   sorted: p3 40, p5 30, p6 30, p4 25, p7 25, p2 20, p0 10, p1 10.
 *   p3->G0 (40)  p5->G1 (30)  p6->G1 (60)  p4->G0 (65)  p7->G1 (85)
 *   p2->G0 (85)  p0->G0 (85 = 85, first pack; now full)  p1->G1.
 *   G0 = p3 p4 p2 p0 = experts 3 4 2 0; G1 = p5 p6 p7 p1 = 5 5 4 1.
 * The older eplb.py global branch (replicate only, no packing) would give
 * 0 1 2 3 4 5 5 4. */
static void test_eplb__global_policy_when_groups_not_divisible(void **state)
{
    (void)state;
    static const double load[6] = {10, 10, 20, 40, 50, 60};
    static const uint32_t want[8] = {3, 4, 2, 0, 5, 5, 4, 1};
    placement_t *p = NULL;
    err_t e;
    assert_int_equal(placement_create_eplb(&p, load, 1, 6, 8, 3, 2, 2, &e), 0);
    assert_phy2log(p, 0, want, 8);
    placement_destroy(p);
}

/* Every logical expert has >= 1 replica, every device the same number of
 * slots, every slot's replica listed under its expert; over a spread of
 * shapes and skewed loads. */
static void test_eplb__invariants_hold(void **state)
{
    (void)state;
    static const struct {
        uint32_t experts, slots, groups, nodes, devices;
    } shapes[] = {
        {12, 16, 4, 2, 8}, {12, 12, 4, 2, 4}, {64, 72, 8, 2, 8},
        {256, 288, 8, 4, 32}, {60, 64, 3, 2, 8}, {8, 64, 1, 1, 8},
    };
    double load[2 * 256];
    for (size_t k = 0; k < sizeof shapes / sizeof shapes[0]; k++) {
        uint32_t n = shapes[k].experts;
        for (uint32_t i = 0; i < 2 * n; i++)
            load[i] = (double)((i * 7919u) % 1000u) * ((i % 5u) ? 1.0 : 9.0);
        placement_t *p = NULL;
        err_t e;
        err_clear(&e);
        int rc = placement_create_eplb(&p, load, 2, n, shapes[k].slots,
                                       shapes[k].groups, shapes[k].nodes,
                                       shapes[k].devices, &e);
        if (rc != 0)
            print_message("shape %zu: %s\n", k, e.msg);
        assert_int_equal(rc, 0);
        uint32_t per_dev = shapes[k].slots / shapes[k].devices;
        for (uint32_t l = 0; l < 2; l++) {
            uint32_t per_device[64] = {0};
            uint32_t total = 0;
            for (uint32_t q = 0; q < shapes[k].slots; q++)
                per_device[placement_slot_device(p, l, q)]++;
            for (uint32_t d = 0; d < shapes[k].devices; d++)
                assert_int_equal(per_device[d], per_dev);
            for (uint32_t x = 0; x < n; x++) {
                uint32_t r = placement_replicas(p, l, x);
                assert_true(r >= 1);
                total += r;
                for (uint32_t j = 0; j < r; j++) {
                    uint32_t q = placement_replica_slot(p, l, x, j);
                    assert_int_equal(placement_slot_expert(p, l, q), x);
                }
            }
            assert_int_equal(total, shapes[k].slots);
        }
        placement_destroy(p);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_eplb__readme_example_exact),
        cmocka_unit_test(test_eplb__readme_log2phy_by_hand),
        cmocka_unit_test(test_eplb__sort_ties_keep_index_order),
        cmocka_unit_test(test_eplb__max_ties_pick_first_expert),
        cmocka_unit_test(test_eplb__global_policy_when_groups_not_divisible),
        cmocka_unit_test(test_eplb__invariants_hold),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
