/*
 * report_write with report_options.plan_db: the planning section built
 * from a real plan (plan_run on scenarios/plan-pangu-decode.ini cut down
 * to the Atlas 800I A2 at 1 and 2 nodes, topk and moge, one step per
 * probe, batch at most 64: five candidates simulated, one invalid layout),
 * beside the hand-built results database of report_test.h and alone.
 *
 * Checked: two more inline SVGs (7 with the results, 2 without), the
 * recommendation (the rank-1 row of the database) in the table, the
 * Pareto finding naming a candidate the database marks pareto = 1 and
 * counting them, the same bytes from two renders, and a database without
 * the plan tables refused as ERR_INPUT.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "sim/plan.h"
#include "tests/unit/report/report_test.h"

typedef struct fixture {
    rpt_paths run;   /* the results database and the page */
    char plan[64];   /* the plan database */
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof *fx);
    scenario s;
    err_t e;
    err_clear(&e);
    if (!fx)
        return -1;
    rpt_build(&fx->run, 1);
    rpt_mktemp(fx->plan, "build/test-report-plan-XXXXXX.db", 3);
    rpt_ok(scen_load("scenarios/plan-pangu-decode.ini", &s, &e), &e);
    assert_true(s.plan.present);
    s.plan.n_node_files = 1; /* the first: atlas-800i-a2.ini */
    s.plan.n_node_counts = 2;
    s.plan.node_counts[0] = 1;
    s.plan.node_counts[1] = 2;
    s.plan.batch_max = 64;
    s.plan.plan_steps = 1;
    plan_opts o = {.workers = 2, .reproducible = 1,
                   .created_at = "2025-01-02T03:04:05Z"};
    rpt_ok(plan_run(&s, &s.plan, fx->plan, NULL, &o, NULL, &e), &e);
    scen_free(&s);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    rpt_remove(&fx->run);
    remove(fx->plan);
    free(fx);
    return 0;
}

/* The page of db (NULL: the plan alone) with the plan section. */
static char *render(const fixture *fx, const char *db)
{
    report_options o = {.plots_dir = "plots", .plan_db = fx->plan};
    return rpt_render_with(db, fx->run.html, &o);
}

/* The labels moesim plan gives the candidates matching where (an SQL
 * condition), as "NODE x N node(s), POLICY, EPe attention-DPd", into
 * labels[0..*n-1] (at most 16). */
static void plan_labels(const fixture *fx, const char *where,
                        char labels[16][256], int *n)
{
    sqlite3 *db = NULL;
    sqlite3_stmt *st = NULL;
    char sql[512];
    snprintf(sql, sizeof sql,
             "SELECT node_name, nodes, policy, ep_size, attn_dp_size"
             " FROM plan_candidate WHERE %s ORDER BY candidate",
             where);
    assert_int_equal(sqlite3_open_v2(fx->plan, &db, SQLITE_OPEN_READONLY,
                                     NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    *n = 0;
    while (*n < 16 && sqlite3_step(st) == SQLITE_ROW) {
        int nodes = sqlite3_column_int(st, 1);
        snprintf(labels[(*n)++], 256, "%s x %d node%s, %s, EP%d attention-DP%d",
                 (const char *)sqlite3_column_text(st, 0), nodes,
                 nodes == 1 ? "" : "s",
                 (const char *)sqlite3_column_text(st, 2),
                 sqlite3_column_int(st, 3), sqlite3_column_int(st, 4));
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
}

static void test_plan_section__two_more_svgs_and_the_recommendation(
    void **state)
{
    const fixture *fx = *state;
    char *page = render(fx, fx->run.db);
    char rec[16][256], want[320];
    int n = 0;
    assert_int_equal(rpt_count(page, "<svg"), 7);
    rpt_assert_has(page, "<section id=\"scenario\">");
    /* sections 1 scenario, 2 comparison, 3-7 the five plots, 8 the plan */
    rpt_assert_has(page, "<section id=\"plan\">\n<h2>8. Capacity plan</h2>");
    rpt_assert_has(page, "<a href=\"#plan_pareto\">");
    plan_labels(fx, "rank = 1", rec, &n);
    assert_int_equal(n, 1);
    snprintf(want, sizeof want, "<th>recommendation</th><td>%s</td>", rec[0]);
    rpt_assert_has(page, want);
    /* five simulated, one invalid (moge needs groups = ep_size = 16) */
    rpt_assert_has(page, "<th>invalid layouts</th><td>1 ");
    free(page);
}

static void test_plan_section__alone_without_a_results_database(void **state)
{
    const fixture *fx = *state;
    char *page = render(fx, NULL);
    assert_int_equal(rpt_count(page, "<svg"), 2);
    assert_null(strstr(page, "<section id=\"scenario\">"));
    assert_null(strstr(page, "<section id=\"comparison\">"));
    rpt_assert_has(page, "<h1>Capacity plan: plan-pangu-decode</h1>");
    rpt_assert_has(page, "<section id=\"plan\">\n<h2>1. Capacity plan</h2>");
    /* scenarios/plan-pangu-decode.ini: target = decode,
     * output_tokens_per_s = 20000, tpot_ms_max = 50 */
    rpt_assert_has(page, "<th>target</th><td>decode: 20000 output tokens/s");
    rpt_assert_has(page, "<th>limit</th><td>TPOT \xe2\x89\xa4 50.00 ms</td>");
    free(page);
}

/* The finding under the Pareto plot names a candidate on the front and
 * counts the front as the database does. */
static void test_plan_section__pareto_finding_names_a_front_candidate(
    void **state)
{
    const fixture *fx = *state;
    char *page = render(fx, NULL);
    char front[16][256], count[64];
    int n = 0, named = 0;
    const char *h = strstr(page, "<h3 id=\"plan_pareto\">");
    assert_non_null(h);
    const char *p = strstr(h, "<p class=\"finding\">");
    assert_non_null(p);
    const char *end = strstr(p, "</p>");
    assert_non_null(end);
    char finding[4096];
    snprintf(finding, sizeof finding, "%.*s", (int)(end - p), p);

    plan_labels(fx, "pareto = 1", front, &n);
    assert_true(n >= 1);
    for (int i = 0; i < n; i++)
        named += strstr(finding, front[i]) != NULL;
    if (named == 0)
        fprintf(stderr, "the finding: %s\nnames none of the %d front "
                        "candidates, the first: %s\n",
                finding, n, front[0]);
    assert_true(named >= 1);
    snprintf(count, sizeof count, "%d candidate%s on the Pareto front", n,
             n == 1 ? " is" : "s are");
    rpt_assert_has(finding, count);
    free(page);
}

static void test_plan_section__same_bytes_twice(void **state)
{
    const fixture *fx = *state;
    char *a = render(fx, fx->run.db);
    char *b = render(fx, fx->run.db);
    assert_string_equal(a, b);
    free(a);
    free(b);
}

static void test_plan_section__refuses_a_database_without_plan_tables(
    void **state)
{
    const fixture *fx = *state;
    err_t e;
    err_clear(&e);
    report_options o = {.plots_dir = "plots", .plan_db = fx->run.db};
    assert_int_equal(report_write(NULL, fx->run.html, &o, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "not a moesim plan database"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_plan_section__two_more_svgs_and_the_recommendation),
        cmocka_unit_test(test_plan_section__alone_without_a_results_database),
        cmocka_unit_test(
            test_plan_section__pareto_finding_names_a_front_candidate),
        cmocka_unit_test(test_plan_section__same_bytes_twice),
        cmocka_unit_test(
            test_plan_section__refuses_a_database_without_plan_tables),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
