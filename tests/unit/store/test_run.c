/*
 * A run's life: rows written through the sink read back with plain SQL;
 * nothing of an open run is visible to another connection; abort, a
 * failed end, a close with the run open and a kill -9 each leave no row
 * of the run and a status that says it is not done.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <signal.h>
#include <sys/wait.h>

#include "tests/unit/store/store_test.h"

/* Rows of one run written by write_rows(st, seed, 3, 4). */
#define LAYER_ROWS 12
#define DEVICE_ROWS 12

static long long rows_of(const char *path, const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return query_ll(path, sql);
}

static void assert_no_rows(const char *path)
{
    static const char *const tables[] = {"layer_step", "device_step", "step",
                                         "expert_load", "link", "summary"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        long long n = rows_of(path, tables[i]);
        if (n != 0)
            fprintf(stderr, "%s holds %lld rows\n", tables[i], n);
        assert_int_equal(n, 0);
    }
}

static void test_sink__rows_read_back_with_sql(void **state)
{
    (void)state;
    char path[64], buf[512];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    run_done(st, "moge", 2);
    store_close(st);

    assert_int_equal(rows_of(path, "layer_step"), LAYER_ROWS);
    assert_int_equal(rows_of(path, "device_step"), DEVICE_ROWS);
    assert_int_equal(rows_of(path, "step"), 3);
    assert_int_equal(rows_of(path, "expert_load"), 8);
    assert_int_equal(rows_of(path, "link"), 3);
    assert_int_equal(rows_of(path, "summary"), 1);
    assert_string_equal(
        query_text(path,
                   "SELECT policy || '|' || router || '|' || placement || '|'"
                   " || seed || '|' || status || '|' || started_at || '|' ||"
                   " finished_at || '|' || wall_s || '|' || moesim_version ||"
                   " '|' || ifnull(error, 'NULL') FROM run",
                   buf, sizeof buf),
        "moge|topk|contiguous|2|done|2025-01-02T03:04:06Z|"
        "2025-01-02T03:04:07Z|1.25|0.1.0-test|NULL");
    /* layer 3 of step 2, seed 2: see write_rows */
    const char *layer_sql =
        "SELECT moe || '|' || tokens || '|' || token_experts || '|' ||"
        " dropped || '|' || busiest_link FROM layer_step"
        " WHERE step = 2 AND layer = 3";
    assert_string_equal(query_text(path, layer_sql, buf, sizeof buf),
                        "1|512|4099|2|hccs:3->4");
    sqlite3 *db = reader(path);
    sqlite3_stmt *q = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT imbalance_score, attention_s,"
                           " bytes_intra_node, busiest_link_utilization"
                           " FROM layer_step WHERE step = 2 AND layer = 3",
                           -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_near(sqlite3_column_double(q, 0), 0.5 + 0.003, 1e-15);
    assert_near(sqlite3_column_double(q, 1), 3e-4, 1e-18);
    assert_near(sqlite3_column_double(q, 2), 2e6, 0);
    assert_near(sqlite3_column_double(q, 3), 0.75, 0);
    sqlite3_finalize(q);
    /* NaN (ttft_s of a decode run) is stored as NULL */
    assert_int_equal(
        sqlite3_prepare_v2(db, "SELECT tpot_s, ttft_s IS NULL, fits, steps"
                               " FROM summary",
                           -1, &q, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_near(sqlite3_column_double(q, 0), 0.04, 1e-17);
    assert_int_equal(sqlite3_column_int(q, 1), 1);
    assert_int_equal(sqlite3_column_int(q, 2), 1);
    assert_int_equal(sqlite3_column_int(q, 3), 3);
    sqlite3_finalize(q);
    sqlite3_close(db);
    /* load 100 * (expert 3 + 1) + seed 2 */
    assert_int_equal(query_ll(path, "SELECT load FROM expert_load"
                                    " WHERE layer = 1 AND expert = 3"),
                     402);
    /* devices 0..3 carry 1000 + d: 1000 + 1001 + 1002 + 1003 */
    assert_int_equal(query_ll(path, "SELECT sum(token_experts) FROM"
                                    " device_step WHERE step = 0"),
                     4006);
    remove_db(path);
}

/* Between begin and end another connection sees the run as 'running' and
 * none of its rows. */
static void test_run__open_run_invisible_to_readers(void **state)
{
    (void)state;
    char path[64], buf[64];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    begin_ok(st, "topk", 1);
    write_rows(st, 1, 3, 4);
    assert_string_equal(
        query_text(path, "SELECT status FROM run", buf, sizeof buf),
        "running");
    assert_no_rows(path);
    end_ok(st);
    assert_int_equal(rows_of(path, "layer_step"), LAYER_ROWS);
    store_close(st);
    remove_db(path);
}

static void test_run_abort__leaves_no_rows_and_interrupted(void **state)
{
    (void)state;
    char path[64], buf[256];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    begin_ok(st, "topk", 1);
    write_rows(st, 1, 3, 4);
    err_t e;
    err_clear(&e);
    assert_int_equal(store_run_abort(st, "interrupted", TEST_FINISHED, 0.5,
                                     "stopped by SIGINT", &e),
                     0);
    int done = 1;
    assert_int_equal(store_run_is_done(st, "topk", 1, &done, &e), 0);
    assert_int_equal(done, 0);
    store_close(st);
    assert_no_rows(path);
    assert_string_equal(
        query_text(path,
                   "SELECT status || '|' || finished_at || '|' || wall_s ||"
                   " '|' || error FROM run",
                   buf, sizeof buf),
        "interrupted|2025-01-02T03:04:07Z|0.5|stopped by SIGINT");
    remove_db(path);
}

static void test_run_abort__earlier_done_run_survives(void **state)
{
    (void)state;
    char path[64];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    run_done(st, "topk", 1);
    begin_ok(st, "topk", 2);
    write_rows(st, 2, 3, 4);
    err_t e;
    assert_int_equal(
        store_run_abort(st, "interrupted", TEST_FINISHED, 0.5, NULL, &e), 0);
    store_close(st);
    assert_int_equal(rows_of(path, "layer_step"), LAYER_ROWS);
    assert_int_equal(query_ll(path, "SELECT count(*) FROM layer_step l JOIN"
                                    " run r USING (run_id) WHERE r.seed = 1"
                                    " AND r.status = 'done'"),
                     LAYER_ROWS);
    assert_int_equal(rows_of(path, "summary"), 1);
    assert_int_equal(
        query_ll(path, "SELECT count(*) FROM run WHERE seed = 2 AND"
                       " status = 'interrupted' AND error IS NULL"),
        1);
    remove_db(path);
}

/* 'done' needs the summary; the run stays open, so the driver can still
 * abort it. */
static void test_run_end__done_without_summary_refused(void **state)
{
    (void)state;
    char path[64], want[256];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    begin_ok(st, "moge", 7);
    err_t e;
    err_clear(&e);
    assert_int_equal(
        store_run_end(st, "done", TEST_FINISHED, 1.0, NULL, &e), ERR_SIM);
    snprintf(want, sizeof want,
             "%s: policy 'moge' seed 7 ended as done without its summary row",
             path);
    assert_string_equal(e.msg, want);
    assert_int_equal(
        store_run_abort(st, "failed", TEST_FINISHED, 1.0, e.msg, &e), 0);
    store_close(st);
    assert_int_equal(
        query_ll(path, "SELECT count(*) FROM run WHERE status = 'failed'"), 1);
    remove_db(path);
}

/* A failed end keeps the rows written so far, for diagnosis, flagged. */
static void test_run_end__failed_keeps_rows_with_reason(void **state)
{
    (void)state;
    char path[64], buf[128];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    begin_ok(st, "topk", 3);
    write_rows(st, 3, 3, 4);
    err_t e;
    assert_int_equal(store_run_end(st, "failed", TEST_FINISHED, 2.0,
                                   "event queue full", &e),
                     0);
    int done = 1;
    assert_int_equal(store_run_is_done(st, "topk", 3, &done, &e), 0);
    assert_int_equal(done, 0);
    store_close(st);
    assert_int_equal(rows_of(path, "layer_step"), LAYER_ROWS);
    assert_string_equal(
        query_text(path, "SELECT status || '|' || error FROM run", buf,
                   sizeof buf),
        "failed|event queue full");
    remove_db(path);
}

static void test_close__open_run_rolled_back_and_failed(void **state)
{
    (void)state;
    char path[64], buf[128];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    begin_ok(st, "topk", 1);
    write_rows(st, 1, 3, 4);
    store_close(st);
    assert_no_rows(path);
    assert_string_equal(
        query_text(path,
                   "SELECT status || '|' || error || '|' ||"
                   " ifnull(finished_at, 'NULL') FROM run",
                   buf, sizeof buf),
        "failed|closed before the run ended|NULL");
    remove_db(path);
}

/* The process dies mid-run (SIGKILL: no handler, no close). The run row
 * committed at begin says 'running'; none of its rows survive; it counts
 * as not done and a rerun replaces it. */
static void test_run__killed_process_leaves_running_not_done(void **state)
{
    (void)state;
    char path[64], buf[64];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    run_done(st, "topk", 1);
    store_close(st);

    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store_t *child = open_ok(path, &sc);
        begin_ok(child, "moge", 1);
        /* 20,000 layer rows: more than SQLite's default page cache
         * holds, so uncommitted pages spill into the WAL (1.4 MB of it
         * when this was written), which recovery must then ignore */
        write_rows(child, 1, 200, 100);
        raise(SIGKILL);
        _exit(3); /* not reached */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    assert_string_equal(query_text(path,
                                   "SELECT status FROM run WHERE policy ="
                                   " 'moge'",
                                   buf, sizeof buf),
                        "running");
    assert_int_equal(rows_of(path, "layer_step"), LAYER_ROWS); /* topk's */
    st = open_ok(path, &sc);
    int done = 1;
    err_t e;
    assert_int_equal(store_run_is_done(st, "moge", 1, &done, &e), 0);
    assert_int_equal(done, 0);
    run_done(st, "moge", 1);
    store_close(st);
    assert_int_equal(query_ll(path, "SELECT count(*) FROM run"), 2);
    assert_int_equal(rows_of(path, "layer_step"), 2 * LAYER_ROWS);
    assert_int_equal(
        query_ll(path, "SELECT count(*) FROM run WHERE status = 'done'"), 2);
    remove_db(path);
}

static void test_run_begin__done_run_refused(void **state)
{
    (void)state;
    char path[64], want[256];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    run_done(st, "topk", 1);
    metrics_run run = {"topk", "topk", "contiguous", 1};
    err_t e;
    err_clear(&e);
    assert_int_equal(store_run_begin(st, &run, TEST_STARTED, &e), ERR_INPUT);
    snprintf(want, sizeof want,
             "%s: policy 'topk' seed 1 is already done; expected it to be "
             "skipped (store_run_is_done)",
             path);
    assert_string_equal(e.msg, want);
    /* the store is still usable */
    run_done(st, "topk", 2);
    store_close(st);
    assert_int_equal(rows_of(path, "summary"), 2);
    remove_db(path);
}

static void test_run_begin__unknown_policy_lists_known(void **state)
{
    (void)state;
    char path[64], want[256];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    metrics_run run = {"eplb", "topk", "eplb", 1};
    err_t e;
    err_clear(&e);
    assert_int_equal(store_run_begin(st, &run, TEST_STARTED, &e), ERR_INPUT);
    snprintf(want, sizeof want,
             "%s: policy 'eplb' is not one of the scenario's; expected one "
             "of: topk, moge",
             path);
    assert_string_equal(e.msg, want);
    store_close(st);
    assert_int_equal(query_ll(path, "SELECT count(*) FROM run"), 0);
    remove_db(path);
}

static void test_run_begin__seed_beyond_int64_refused(void **state)
{
    (void)state;
    if (sizeof(unsigned long) < 8)
        skip();
    char path[64], want[256];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    metrics_run run = {"topk", "topk", "contiguous", 9223372036854775808UL};
    err_t e;
    err_clear(&e);
    assert_int_equal(store_run_begin(st, &run, TEST_STARTED, &e), ERR_INPUT);
    snprintf(want, sizeof want,
             "%s: seed 9223372036854775808 is above 9223372036854775807, the "
             "largest the results database stores; expected a smaller seed",
             path);
    assert_string_equal(e.msg, want);
    store_close(st);
    remove_db(path);
}

/* A row the database refuses (the replay sending one layer twice): the
 * callback returns ERR_IO and the message names table, row, run, reason. */
static void test_sink__duplicate_row_message(void **state)
{
    (void)state;
    char path[64], want[512];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    begin_ok(st, "topk", 4);
    err_t e;
    err_clear(&e);
    metrics_sink k = store_sink(st, &e);
    metrics_layer r = {.step = 5, .layer = 6, .moe = 1};
    assert_int_equal(k.layer(k.ctx, &r), 0);
    assert_int_equal(k.layer(k.ctx, &r), ERR_IO);
    snprintf(want, sizeof want,
             "%s: inserting the layer_step row (step 5, layer 6) of policy "
             "'topk' seed 4: UNIQUE constraint failed: layer_step.run_id, "
             "layer_step.step, layer_step.layer",
             path);
    assert_string_equal(e.msg, want);
    /* the statement was reset: the next row goes in */
    r.layer = 7;
    assert_int_equal(k.layer(k.ctx, &r), 0);
    assert_int_equal(
        store_run_abort(st, "failed", TEST_FINISHED, 0.1, e.msg, &e), 0);
    store_close(st);
    assert_no_rows(path);
    remove_db(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sink__rows_read_back_with_sql),
        cmocka_unit_test(test_run__open_run_invisible_to_readers),
        cmocka_unit_test(test_run_abort__leaves_no_rows_and_interrupted),
        cmocka_unit_test(test_run_abort__earlier_done_run_survives),
        cmocka_unit_test(test_run_end__done_without_summary_refused),
        cmocka_unit_test(test_run_end__failed_keeps_rows_with_reason),
        cmocka_unit_test(test_close__open_run_rolled_back_and_failed),
        cmocka_unit_test(test_run__killed_process_leaves_running_not_done),
        cmocka_unit_test(test_run_begin__done_run_refused),
        cmocka_unit_test(test_run_begin__unknown_policy_lists_known),
        cmocka_unit_test(test_run_begin__seed_beyond_int64_refused),
        cmocka_unit_test(test_sink__duplicate_row_message),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
