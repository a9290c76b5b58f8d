/*
 * The trace is the hand-off point: a run that writes a trace and a replay of
 * that trace must measure the same thing, figure for figure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "scenarios/scen.h"
#include "sim/run.h"
#include "sim/tracefile.h"
#include "tests/unit/testutil.h"

static void check_same_as_live(const char *scen_path, const char *policy,
                               const char *trace)
{
    static scenario s, s2;
    err_t e;
    err_clear(&e);
    int rc = scen_load(scen_path, &s, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    s.steps = 3;
    int pi = scen_find_policy(&s, policy);
    assert_true(pi >= 0);
    run_opts o = {trace, NULL, NULL, NULL, NULL};
    metrics_summary live, replayed;
    rc = run_policy(&s, pi, 5, NULL, &o, &live, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);

    s2 = s;
    s2.text = NULL;
    rc = tracefile_prepare(trace, &s2, &e);
    if (rc == 0)
        rc = tracefile_replay(trace, &s2, NULL, &replayed, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(replayed.steps, 3);
    assert_near(replayed.step_s, live.step_s, 0);
    assert_near(replayed.imbalance_score, live.imbalance_score, 0);
    assert_near(replayed.device_max_over_mean, live.device_max_over_mean, 0);
    assert_near(replayed.expert_max_over_mean, live.expert_max_over_mean, 0);
    assert_near(replayed.bytes_intra_node_per_step,
                live.bytes_intra_node_per_step, 0);
    assert_near(replayed.dropped_fraction, live.dropped_fraction, 0);
    assert_near(replayed.idle_share, live.idle_share, 0);
    remove(trace);
    scen_free(&s);
}

static void test_trace_replay__topk_decode_replays_to_the_live_figures(void **st)
{
    (void)st;
    check_same_as_live("scenarios/pangu-decode-800i.ini", "topk",
                       "build/test-trace-replay-topk.trace");
}

static void test_trace_replay__capacity_drops_survive_the_trace(void **st)
{
    (void)st;
    /* GShard with capacity 1.25 drops pairs; the dropped marks travel in
     * the trace and the replay must skip the same pairs. */
    check_same_as_live("scenarios/mixtral-h100-capacity.ini", "capacity-1.25",
                       "build/test-trace-replay-gshard.trace");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trace_replay__topk_decode_replays_to_the_live_figures),
        cmocka_unit_test(test_trace_replay__capacity_drops_survive_the_trace),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
