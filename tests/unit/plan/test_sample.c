/*
 * scenarios/plan-pangu-decode.ini: the shipped plan loads, and its
 * candidates are the ones counted by hand, invalid layouts with their rule.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "scenarios/scen.h"
#include "sim/plan.h"
#include "tests/unit/plan/plan_test.h"
#include "tests/unit/testutil.h"

static scenario s;
static planspec p;

static int setup(void **st)
{
    (void)st;
    err_t e;
    err_clear(&e);
    int rc = plan_test_load("scenarios/plan-pangu-decode.ini", &s, &p, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    return rc;
}

static int teardown(void **st)
{
    (void)st;
    scen_free(&s);
    return 0;
}

static void test_sample__plan_section_reads_as_written(void **st)
{
    (void)st;
    assert_string_equal(s.name, "plan-pangu-decode");
    assert_int_equal(p.target, PLANSPEC_DECODE);
    assert_near(p.output_tokens_per_s, 20000, 0);
    assert_near(p.tpot_s_max, 0.050, 1e-15);
    assert_int_equal(p.n_node_files, 4);
    assert_string_equal(p.node_files[0].name, "Atlas 800I A2");
    assert_string_equal(p.node_files[1].name,
                        "Atlas 300I Duo server (4 cards)");
    assert_string_equal(p.node_files[2].device.name, "NVIDIA H100 SXM5");
    assert_string_equal(p.node_files[3].name, "HGX H20");
    assert_int_equal(p.n_node_counts, 3);
    assert_int_equal(p.n_policies, 2);
    assert_int_equal(p.batch_max, 256);
    assert_int_equal(p.plan_steps, 3);
}

/* By hand, per node file with a scale-out network (800I A2, H100, H20):
 *   1 node  (8 devices):  EP8 = all, so topk EP8 and moge EP8      2 valid
 *   2 nodes (16):         topk EP8, EP16; moge EP8 (EP16 invalid)  3 valid
 *   4 nodes (32):         topk EP8, EP32; moge EP8 (EP32 invalid)  3 valid
 * = 8 valid, 2 invalid each. The 300I Duo server has no scale-out: 2 valid
 * on one node, and 2 or 4 nodes are invalid for both policies and both EP
 * sizes: 8 invalid. Total 3 * 8 + 2 = 26 valid, 3 * 2 + 8 = 14 invalid. */
static void test_sample__candidates_counted_by_hand(void **st)
{
    (void)st;
    err_t e;
    err_clear(&e);
    plan_candidate *c = NULL;
    int n = 0;
    assert_int_equal(plan_enumerate(&s, &p, &c, &n, &e), 0);
    int valid = 0, moge_ep = 0, no_scaleout = 0;
    for (int i = 0; i < n; i++) {
        assert_int_equal(c[i].index, i);
        assert_int_equal(c[i].attn_dp_size, c[i].devices);
        if (c[i].status == PLAN_PENDING) {
            valid++;
            continue;
        }
        assert_int_equal(c[i].status, PLAN_INVALID);
        if (strstr(c[i].reason, "MoGE puts one group on each device but "
                                "there are 8 groups for ep_size "))
            moge_ep++;
        if (strstr(c[i].reason, "nodes of 'Atlas 300I Duo server (4 "
                                "cards)', which has no scale-out network"))
            no_scaleout++;
    }
    assert_int_equal(n, 40);
    assert_int_equal(valid, 26);
    assert_int_equal(moge_ep, 6);
    assert_int_equal(no_scaleout, 8);
    free(c);
}

/* The 310P has FP16 and INT8 but no BF16: the simulator refuses the BF16
 * model, and the plan reports it instead of failing. */
static void test_sample__300i_duo_cannot_run_bf16(void **st)
{
    (void)st;
    err_t e;
    err_clear(&e);
    plan_candidate *c = NULL;
    int n = 0, seen = 0;
    assert_int_equal(plan_enumerate(&s, &p, &c, &n, &e), 0);
    for (int i = 0; i < n; i++) {
        if (c[i].node_file != 1 || c[i].status != PLAN_PENDING)
            continue;
        assert_int_equal(plan_evaluate(&s, &p, &c[i], NULL, &e), 0);
        assert_int_equal(c[i].status, PLAN_UNSUPPORTED);
        assert_non_null(strstr(c[i].reason, "has no bf16 support"));
        seen++;
    }
    assert_int_equal(seen, 2);
    free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sample__plan_section_reads_as_written),
        cmocka_unit_test(test_sample__candidates_counted_by_hand),
        cmocka_unit_test(test_sample__300i_duo_cannot_run_bf16),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
