/*
 * plan_run end to end: what it recommends meets the limits and fits, what
 * cannot fit is said so without simulating, training is judged in days,
 * the database holds every candidate, the number of workers changes
 * nothing, and an interrupted plan writes nothing.
 *
 * Scenarios are cut to a few layers in memory (plan_evaluate copies the
 * base scenario, layers included) so each plan takes a second or two under
 * the sanitizers; the properties checked do not depend on the depth.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "scenarios/scen.h"
#include "sim/memory.h"
#include "sim/plan.h"
#include "sim/run.h"
#include "tests/unit/plan/plan_test.h"
#include "tests/unit/testutil.h"

#define NAME "scenarios/plan-test.ini"

static void load_scenario(const char *path, int layers, scenario *s)
{
    err_t e;
    err_clear(&e);
    int rc = scen_load(path, s, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    if (layers > 0)
        s->model.layers = s->model.dense_layers + layers;
}

static void load_spec(const char *text, const scenario *s, planspec *p)
{
    err_t e;
    err_clear(&e);
    int rc = plan_test_spec_text(NAME, text, s, p, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
}

static void run_plan(const scenario *s, const planspec *p, const char *db,
                     int workers, plan_result *r, char **text)
{
    err_t e;
    err_clear(&e);
    size_t len = 0;
    FILE *out = text ? open_memstream(text, &len) : NULL;
    plan_opts o;
    memset(&o, 0, sizeof o);
    o.workers = workers;
    o.created_at = "2025-01-01T00:00:00Z";
    o.reproducible = 1;
    int rc = plan_run(s, p, db, out, &o, r, &e);
    if (out)
        fclose(out);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
}

/* Pangu Pro MoE decode, 8 layers: 2 node files x 2 policies x (1 node:
 * EP8 = all; 2 nodes: EP8, EP16) = 12 candidates; MoGE's 8 groups rule out
 * EP16, so 10 have a valid layout. */
static const char serve_plan[] =
    "[plan]\ntarget = decode\noutput_tokens_per_s = 30000\n"
    "tpot_ms_max = 7\n"
    "nodes_files = ../hardware/atlas-800i-a2.ini, ../hardware/hgx-h20.ini\n"
    "node_counts = 1, 2\npolicies = topk, moge\nep_sizes = 8, all\n"
    "batch_max = 96\nplan_steps = 2\n";

static void test_plan__every_feasible_candidate_meets_limits_and_fits(
    void **st)
{
    (void)st;
    static scenario s;
    static planspec p;
    load_scenario("scenarios/pangu-decode-800i.ini", 8, &s);
    load_spec(serve_plan, &s, &p);
    plan_result r;
    char *text = NULL;
    run_plan(&s, &p, NULL, 1, &r, &text);
    fputs(text, stderr);
    assert_int_equal(r.n, 12); /* counted above */
    assert_int_equal(r.n_evaluated, 10);
    assert_true(r.n_feasible > 0);
    assert_true(r.best >= 0);
    assert_int_equal(r.cands[r.best].rank, 1);
    assert_non_null(strstr(text, "recommendation: "));
    for (int i = 0; i < r.n; i++) {
        const plan_candidate *c = &r.cands[i];
        if (c->status != PLAN_FEASIBLE)
            continue;
        assert_true(c->tpot_s <= p.tpot_s_max);
        assert_true(c->hbm_needed_bytes <= c->hbm_available_bytes);
        assert_true(c->batch_per_device <= c->batch_memory_max);
        assert_true(c->batch_per_device <= p.batch_max);
        /* replicas: the fewest whose throughput reaches the target */
        assert_int_equal(c->replicas,
                         (int)ceil(p.output_tokens_per_s / c->tokens_per_s));
        assert_true(c->tokens_per_s_total >= p.output_tokens_per_s);
        assert_true((c->replicas - 1) * c->tokens_per_s <
                    p.output_tokens_per_s);
        assert_int_equal(c->devices_total, c->replicas * c->devices);
        /* 800I A2: 8 x 400 W per node; HGX H20: 8 x 400 W */
        assert_near(c->power_w, 400.0 * c->devices_total, 1e-9);
    }
    /* The recommendation, checked again outside the planner: it fits by
     * the memory model at its batch, and one more sequence per device
     * either does not fit, passes batch_max, or misses the limit. */
    const plan_candidate *b = &r.cands[r.best];
    scenario c = s;
    c.node = p.node_files[b->node_file];
    c.nodes = b->nodes;
    c.devices = b->devices;
    c.ep_size = b->ep_size;
    c.attn_dp_size = b->attn_dp_size;
    c.steps = p.plan_steps;
    c.sequences_per_device = b->batch_per_device;
    mem_breakdown mb;
    mem_per_device(&c, &c.policies[b->policy], &mb);
    assert_true(mb.fits);
    if (b->limited_by == PLAN_LIMIT_LATENCY) {
        err_t e;
        err_clear(&e);
        metrics_summary m;
        c.sequences_per_device = b->batch_per_device + 1;
        assert_int_equal(run_policy(&c, b->policy, p.seed, NULL, NULL, &m,
                                    &e),
                         0);
        assert_true(m.tpot_s > p.tpot_s_max);
    } else {
        assert_true(b->batch_per_device == p.batch_max ||
                    b->batch_per_device == b->batch_memory_max);
    }
    free(text);
    plan_result_free(&r);
    scen_free(&s);
}

static void test_plan__deepseek_v3_does_not_fit_one_300i_duo(void **st)
{
    (void)st;
    static scenario s;
    static planspec p;
    load_scenario("scenarios/deepseek-v3-decode-eplb.ini", 0, &s);
    load_spec("[plan]\ntarget = decode\noutput_tokens_per_s = 1000\n"
              "tpot_ms_max = 100\n"
              "nodes_files = ../hardware/atlas-300i-duo.ini\n"
              "node_counts = 1\n",
              &s, &p);
    plan_result r;
    char *text = NULL;
    run_plan(&s, &p, NULL, 1, &r, &text);
    fputs(text, stderr);
    assert_int_equal(r.n, 2); /* contiguous, eplb; EP8 */
    assert_int_equal(r.n_feasible, 0);
    assert_int_equal(r.best, -1);
    for (int i = 0; i < r.n; i++) {
        const plan_candidate *c = &r.cands[i];
        assert_int_equal(c->status, PLAN_NO_FIT);
        assert_int_equal(c->probes, 0); /* memory first: nothing simulated */
        /* The routed experts alone: 58 MoE layers x 256 experts x
         * 3 x 7168 x 2048 FP8 weights over 8 devices = 81.7 GB per
         * device, against the 310P's 48 GB. */
        assert_true(c->hbm_needed_bytes >=
                    58.0 * 256 * 3 * 7168 * 2048 / 8);
        assert_near(c->hbm_available_bytes, 48e9, 0);
        assert_non_null(strstr(c->reason, "does not fit in memory at batch "
                                          "1 (needs "));
        assert_non_null(strstr(c->reason, "GB, has 48.0 GB per device)"));
    }
    assert_non_null(strstr(text, "no-fit"));
    assert_non_null(strstr(text, "recommendation: none"));
    free(text);
    plan_result_free(&r);
    scen_free(&s);
}

/* Training: Pangu Pro MoE cut to 2 layers, 256-token sequences, on one
 * 800I A2; days = tokens / (tokens/s) / 86400, feasible within the limit. */
static void test_plan__training_is_judged_in_days(void **st)
{
    (void)st;
    static scenario s;
    static planspec p;
    load_scenario("scenarios/pangu-decode-800i.ini", 2, &s);
    s.phase = SCEN_TRAIN;
    s.seq_len = 256;
    s.context_len = 0;
    s.grad_sync = 1;
#define TRAIN_PLAN                                                           \
    "[plan]\ntarget = train\ntrain_tokens = 1e9\ntrain_days_max = %s\n"      \
    "batch_max = 2\nplan_steps = 1\npolicies = moge\nep_sizes = 8\n"
    char text[512];
    snprintf(text, sizeof text, TRAIN_PLAN, "1000");
    load_spec(text, &s, &p);
    plan_result r;
    run_plan(&s, &p, NULL, 1, &r, NULL);
    assert_int_equal(r.n, 1);
    const plan_candidate *c = &r.cands[0];
    assert_int_equal(c->status, PLAN_FEASIBLE);
    assert_int_equal(c->probes, 1);
    assert_int_equal(c->batch_per_device, 2); /* the largest that fits */
    assert_int_equal(c->replicas, 1);
    assert_near(c->train_days, 1e9 / c->tokens_per_s / 86400.0, 1e-12);
    assert_true(c->mfu > 0 && c->mfu < 1);
    double days = c->train_days;
    plan_result_free(&r);

    /* Half the days it takes: too slow, with the figures in the reason. */
    char limit[64];
    snprintf(limit, sizeof limit, "%.17g", days / 2);
    snprintf(text, sizeof text, TRAIN_PLAN, limit);
    load_spec(text, &s, &p);
    run_plan(&s, &p, NULL, 1, &r, NULL);
    assert_int_equal(r.cands[0].status, PLAN_TOO_SLOW);
    assert_near(r.cands[0].train_days, days, 0); /* the same simulation */
    assert_non_null(strstr(r.cands[0].reason, "1e+09 tokens take "));
    assert_int_equal(r.n_feasible, 0);
    plan_result_free(&r);
    scen_free(&s);
}

static long long query_int(sqlite3 *db, const char *sql)
{
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    long long v = sqlite3_column_type(q, 0) == SQLITE_NULL
                      ? -1
                      : sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    return v;
}

static void test_plan__database_holds_every_candidate(void **st)
{
    (void)st;
    static scenario s;
    static planspec p;
    load_scenario("scenarios/pangu-decode-800i.ini", 4, &s);
    load_spec("[plan]\ntarget = decode\noutput_tokens_per_s = 5000\n"
              "tpot_ms_max = 5\nnode_counts = 1, 2, 3\n"
              "ep_sizes = 8, 16, all\nbatch_max = 32\nplan_steps = 1\n",
              &s, &p);
    char dir[] = "/tmp/moesim-plan-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char db_path[256];
    snprintf(db_path, sizeof db_path, "%s/plan.db", dir);
    plan_result r;
    run_plan(&s, &p, db_path, 1, &r, NULL);
    run_plan(&s, &p, db_path, 1, NULL, NULL); /* a second plan appends */

    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(db_path, &db), SQLITE_OK);
    assert_int_equal(query_int(db, "SELECT count(*) FROM plan_meta"), 2);
    assert_int_equal(
        query_int(db, "SELECT count(*) FROM plan_candidate WHERE plan_id = 1"),
        r.n);
    assert_int_equal(
        query_int(db, "SELECT count(*) FROM plan_candidate WHERE plan_id = 2"),
        r.n);
    assert_int_equal(query_int(db, "SELECT candidates FROM plan_meta WHERE "
                                   "plan_id = 1"),
                     r.n);
    assert_int_equal(query_int(db, "SELECT count(*) FROM plan_candidate "
                                   "WHERE plan_id = 1 AND feasible = 1"),
                     r.n_feasible);
    assert_int_equal(query_int(db, "SELECT count(*) FROM plan_candidate "
                                   "WHERE plan_id = 1 AND status = "
                                   "'invalid'"),
                     r.n - r.n_evaluated);
    assert_int_equal(query_int(db, "SELECT recommended FROM plan_meta WHERE "
                                   "plan_id = 1"),
                     r.best);
    assert_int_equal(query_int(db, "SELECT candidate FROM plan_candidate "
                                   "WHERE plan_id = 1 AND rank = 1"),
                     r.best);
    /* every infeasible row says why; no feasible row has a reason */
    assert_int_equal(query_int(db, "SELECT count(*) FROM plan_candidate "
                                   "WHERE (feasible = 0) = (reason IS NULL)"),
                     0);
    /* 3 nodes: 24 devices; EP16 does not divide them */
    assert_int_equal(query_int(db, "SELECT count(*) FROM plan_candidate "
                                   "WHERE plan_id = 1 AND nodes = 3 AND "
                                   "ep_size = 16 AND status = 'invalid' "
                                   "AND reason = '24 devices do not split "
                                   "into expert-parallel groups of 16; "
                                   "expected a divisor of 24'"),
                     2);
    int pareto = 0;
    for (int i = 0; i < r.n; i++)
        pareto += r.cands[i].pareto;
    assert_int_equal(query_int(db, "SELECT sum(pareto) FROM plan_candidate "
                                   "WHERE plan_id = 1"),
                     pareto);
    assert_int_equal(query_int(db, "SELECT count(*) FROM plan_candidate a "
                                   "JOIN plan_candidate b USING (candidate) "
                                   "WHERE a.plan_id = 1 AND b.plan_id = 2 "
                                   "AND a.tpot_s IS NOT b.tpot_s"),
                     0);
    assert_int_equal(query_int(db, "SELECT count(*) FROM plan_meta WHERE "
                                   "wall_s = 0 AND created_at = "
                                   "'2025-01-01T00:00:00Z'"),
                     2);
    sqlite3_close(db);

    /* The same plan, reproducible, into two new files: the same bytes. */
    char a_path[256], b_path[256], cmd[600];
    snprintf(a_path, sizeof a_path, "%s/a.db", dir);
    snprintf(b_path, sizeof b_path, "%s/b.db", dir);
    run_plan(&s, &p, a_path, 1, NULL, NULL);
    run_plan(&s, &p, b_path, 1, NULL, NULL);
    snprintf(cmd, sizeof cmd, "cmp -s %s %s", a_path, b_path);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
    plan_result_free(&r);
    scen_free(&s);
}

static void test_plan__two_workers_give_the_same_plan(void **st)
{
    (void)st;
    static scenario s;
    static planspec p;
    load_scenario("scenarios/pangu-decode-800i.ini", 4, &s);
    load_spec(serve_plan, &s, &p);
    plan_result one, two;
    run_plan(&s, &p, NULL, 1, &one, NULL);
    run_plan(&s, &p, NULL, 2, &two, NULL);
    assert_int_equal(one.workers, 1);
    assert_int_equal(two.workers, 2);
    assert_int_equal(one.n, two.n);
    assert_int_equal(one.best, two.best);
    for (int i = 0; i < one.n; i++) {
        const plan_candidate *a = &one.cands[i], *b = &two.cands[i];
        assert_int_equal(a->status, b->status);
        assert_string_equal(a->reason, b->reason);
        assert_int_equal(a->batch_per_device, b->batch_per_device);
        assert_int_equal(a->probes, b->probes);
        assert_int_equal(a->replicas, b->replicas);
        assert_int_equal(a->rank, b->rank);
        assert_int_equal(a->pareto, b->pareto);
        assert_true(a->tpot_s == b->tpot_s); /* bit for bit */
        assert_true(a->tokens_per_s == b->tokens_per_s);
    }
    plan_result_free(&one);
    plan_result_free(&two);
    scen_free(&s);
}

static void test_plan__interrupted_plan_writes_nothing(void **st)
{
    (void)st;
    static scenario s;
    static planspec p;
    load_scenario("scenarios/pangu-decode-800i.ini", 4, &s);
    load_spec(serve_plan, &s, &p);
    char dir[] = "/tmp/moesim-plan-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char db_path[256];
    snprintf(db_path, sizeof db_path, "%s/plan.db", dir);
    for (int workers = 1; workers <= 2; workers++) {
        volatile sig_atomic_t stop = 1;
        plan_opts o;
        memset(&o, 0, sizeof o);
        o.workers = workers;
        o.stop = &stop;
        err_t e;
        err_clear(&e);
        plan_result r;
        assert_int_equal(plan_run(&s, &p, db_path, NULL, &o, &r, &e),
                         ERR_INTERRUPTED);
        assert_null(r.cands);
        assert_int_equal(access(db_path, F_OK), -1);
    }
    rmdir(dir);
    scen_free(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_plan__every_feasible_candidate_meets_limits_and_fits),
        cmocka_unit_test(test_plan__deepseek_v3_does_not_fit_one_300i_duo),
        cmocka_unit_test(test_plan__training_is_judged_in_days),
        cmocka_unit_test(test_plan__database_holds_every_candidate),
        cmocka_unit_test(test_plan__two_workers_give_the_same_plan),
        cmocka_unit_test(test_plan__interrupted_plan_writes_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
