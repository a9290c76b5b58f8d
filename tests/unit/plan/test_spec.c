/*
 * planspec_load: the [plan] section's defaults, and every broken plan
 * reported with the exact FILE:LINE message before any simulation.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "scenarios/plan.h"
#include "scenarios/scen.h"
#include "tests/unit/plan/plan_test.h"
#include "tests/unit/testutil.h"

/* The plan text is read as if it were in scenarios/, so ../hardware/...
 * resolves as it would in a scenario file. */
#define NAME "scenarios/plan-test.ini"

static scenario base; /* Pangu Pro MoE decode on one 800I A2: topk, moge */

static int setup(void **st)
{
    (void)st;
    err_t e;
    err_clear(&e);
    int rc = scen_load("scenarios/pangu-decode-800i.ini", &base, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    return rc;
}

static int teardown(void **st)
{
    (void)st;
    scen_free(&base);
    return 0;
}

static void expect_error(const char *text, const char *msg)
{
    static planspec spec;
    err_t e;
    err_clear(&e);
    int rc = plan_test_spec_text(NAME, text, &base, &spec, &e);
    if (rc == 0 || strcmp(e.msg, msg) != 0)
        fprintf(stderr, "got rc %d: %s\nexpected:   %s\n", rc, e.msg, msg);
    assert_int_equal(rc, ERR_INPUT);
    assert_string_equal(e.msg, msg);
}

#define DECODE "[plan]\ntarget = decode\noutput_tokens_per_s = 5000\n" \
               "tpot_ms_max = 50\n"

static void test_spec__defaults_come_from_the_scenario(void **st)
{
    (void)st;
    static planspec p;
    err_t e;
    err_clear(&e);
    int rc = plan_test_spec_text(NAME, DECODE, &base, &p, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(p.present, 1);
    assert_int_equal(p.line, 1);
    assert_int_equal(p.target, PLANSPEC_DECODE);
    assert_near(p.output_tokens_per_s, 5000, 0);
    assert_near(p.tpot_s_max, 0.050, 1e-15);
    assert_near(planspec_latency_limit_s(&p), 0.050, 1e-15);
    assert_near(planspec_tokens_per_s_target(&p), 5000, 0);
    assert_int_equal(p.n_node_files, 1); /* the scenario's node */
    assert_string_equal(p.node_files[0].name, "Atlas 800I A2");
    assert_int_equal(p.n_node_counts, 1);
    assert_int_equal(p.node_counts[0], 1);
    assert_int_equal(p.n_policies, 2); /* every policy, in file order */
    assert_int_equal(p.policies[0], 0);
    assert_int_equal(p.policies[1], 1);
    assert_int_equal(p.n_ep_sizes, 1);
    assert_int_equal(p.ep_sizes[0], PLANSPEC_ALL_DEVICES);
    assert_int_equal(p.n_attn_dp_sizes, 1);
    assert_int_equal(p.attn_dp_sizes[0], PLANSPEC_ALL_DEVICES);
    assert_int_equal(p.batch_min, 1);
    assert_int_equal(p.batch_max, 256);
    assert_int_equal(p.plan_steps, 3);
    assert_int_equal(p.seed, 1); /* the scenario's first seed */
    assert_int_equal(p.rank_by, PLANSPEC_RANK_DEVICES);
}

static void test_spec__lists_are_read_in_order(void **st)
{
    (void)st;
    static planspec p;
    err_t e;
    err_clear(&e);
    int rc = plan_test_spec_text(
        NAME,
        DECODE "nodes_files = ../hardware/hgx-h20.ini ,../hardware/"
               "atlas-800i-a2.ini\n"
               "node_counts = 4, 1, 2\npolicies = moge, topk\n"
               "ep_sizes = all, 8, 16\nattn_dp_sizes = 8, all\n"
               "batch_min = 4\nbatch_max = 64\nplan_steps = 2\nseed = 9\n"
               "rank_by = power\n",
        &base, &p, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(p.n_node_files, 2);
    assert_string_equal(p.node_files[0].name, "HGX H20");
    assert_string_equal(p.node_refs[0], "../hardware/hgx-h20.ini");
    assert_string_equal(p.node_files[1].device.name, "Ascend 910B (376T tier)");
    assert_int_equal(p.n_node_counts, 3);
    assert_int_equal(p.node_counts[0], 4);
    assert_int_equal(p.node_counts[2], 2);
    assert_int_equal(p.policies[0], scen_find_policy(&base, "moge"));
    assert_int_equal(p.policies[1], scen_find_policy(&base, "topk"));
    assert_int_equal(p.n_ep_sizes, 3);
    assert_int_equal(p.ep_sizes[0], PLANSPEC_ALL_DEVICES);
    assert_int_equal(p.ep_sizes[2], 16);
    assert_int_equal(p.attn_dp_sizes[0], 8);
    assert_int_equal(p.attn_dp_sizes[1], PLANSPEC_ALL_DEVICES);
    assert_int_equal(p.batch_min, 4);
    assert_int_equal(p.batch_max, 64);
    assert_int_equal(p.plan_steps, 2);
    assert_int_equal(p.seed, 9);
    assert_int_equal(p.rank_by, PLANSPEC_RANK_POWER);
}

static void test_spec__target_keys_are_required(void **st)
{
    (void)st;
    expect_error("; a plan\n[plan]\ntarget = decode\n"
                 "output_tokens_per_s = 5000\n",
                 NAME ":2: [plan] is missing required key 'tpot_ms_max' for "
                      "target = decode; expected output_tokens_per_s and "
                      "tpot_ms_max");
    expect_error("[plan]\noutput_tokens_per_s = 5000\n",
                 NAME ":1: [plan] is missing required key 'target'");
}

static void test_spec__other_targets_keys_are_refused(void **st)
{
    (void)st;
    expect_error(DECODE "ttft_ms_max = 200\n",
                 NAME ":5: [plan] ttft_ms_max: applies to target = prefill, "
                      "not decode; expected output_tokens_per_s and "
                      "tpot_ms_max");
}

static void test_spec__target_must_be_the_scenario_phase(void **st)
{
    (void)st;
    expect_error("[plan]\ntarget = train\ntrain_tokens = 1e12\n"
                 "train_days_max = 30\n",
                 NAME ":2: [plan] target: the scenario's phase is decode; "
                      "expected target = decode (the plan searches the "
                      "scenario's phase)");
    expect_error("[plan]\ntarget = serve\n",
                 NAME ":2: [plan] target: unknown value 'serve'; expected "
                      "one of train, prefill, decode");
}

static void test_spec__policy_not_in_the_scenario(void **st)
{
    (void)st;
    expect_error(DECODE "policies = moge, eplb\n",
                 NAME ":5: [plan] policies: no [policy eplb] in the "
                      "scenario; expected one of: topk, moge");
    expect_error(DECODE "policies = moge, moge\n",
                 NAME ":5: [plan] policies: 'moge' appears twice; expected "
                      "distinct policies");
}

static void test_spec__unknown_node_file(void **st)
{
    (void)st;
    expect_error(DECODE "\nnodes_files = ../hardware/hgx-h20.ini, "
                        "../hardware/tpu-v5.ini\n",
                 NAME ":6: in nodes_files file: scenarios/../hardware/"
                      "tpu-v5.ini: cannot open: No such file or directory");
    expect_error(DECODE "nodes_files = ../hardware/hgx-h20.ini,\n",
                 NAME ":5: [plan] nodes_files: empty item in "
                      "'../hardware/hgx-h20.ini,'; expected a "
                      "comma-separated list");
}

static void test_spec__batch_range(void **st)
{
    (void)st;
    expect_error(DECODE "batch_min = 64\nbatch_max = 32\n",
                 NAME ":5: [plan] batch_min: 64 is above batch_max 32; "
                      "expected batch_min <= batch_max");
    expect_error(DECODE "batch_max = 0\n",
                 NAME ":5: [plan] batch_max: 0 is out of range; expected 1 "
                      "to 1048576");
    /* batch_max defaults to 256 but never below batch_min */
    static planspec p;
    err_t e;
    err_clear(&e);
    assert_int_equal(plan_test_spec_text(NAME, DECODE "batch_min = 300\n",
                                         &base, &p, &e),
                     0);
    assert_int_equal(p.batch_max, 300);
}

static void test_spec__layout_lists(void **st)
{
    (void)st;
    expect_error(DECODE "ep_sizes = 8, 3\n",
                 NAME ":5: [plan] ep_sizes: 64 routed experts of Pangu Pro "
                      "MoE do not split over 3 devices; expected divisors "
                      "of the expert count, or all");
    expect_error(DECODE "ep_sizes = 8, all, 8\n",
                 NAME ":5: [plan] ep_sizes: '8' appears twice; expected "
                      "distinct values");
    expect_error(DECODE "attn_dp_sizes = 8, some\n",
                 NAME ":5: [plan] attn_dp_sizes: 'some' is not a whole "
                      "number; expected integers from 1 to 1048576 or all");
    expect_error(DECODE "node_counts = 1, all\n",
                 NAME ":5: [plan] node_counts: 'all' is not a whole number; "
                      "expected integers from 1 to 65536");
    expect_error(DECODE "node_counts = 0\n",
                 NAME ":5: [plan] node_counts: 0 is out of range; expected "
                      "1 to 65536");
}

static void test_spec__unknown_key(void **st)
{
    (void)st;
    expect_error(DECODE "tpot_s_max = 0.05\n",
                 NAME ":5: unknown key 'tpot_s_max' in [plan]; expected one "
                      "of: target, output_tokens_per_s, tpot_ms_max, "
                      "input_tokens_per_s, ttft_ms_max, train_tokens, "
                      "train_days_max, nodes_files, node_counts, policies, "
                      "ep_sizes, attn_dp_sizes, batch_min, batch_max, "
                      "plan_steps, seed, rank_by");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec__defaults_come_from_the_scenario),
        cmocka_unit_test(test_spec__lists_are_read_in_order),
        cmocka_unit_test(test_spec__target_keys_are_required),
        cmocka_unit_test(test_spec__other_targets_keys_are_refused),
        cmocka_unit_test(test_spec__target_must_be_the_scenario_phase),
        cmocka_unit_test(test_spec__policy_not_in_the_scenario),
        cmocka_unit_test(test_spec__unknown_node_file),
        cmocka_unit_test(test_spec__batch_range),
        cmocka_unit_test(test_spec__layout_lists),
        cmocka_unit_test(test_spec__unknown_key),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
