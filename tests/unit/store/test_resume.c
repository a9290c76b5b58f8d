/*
 * Resume: a reopened database says which (policy, seed) runs are done;
 * an unfinished one is redone from scratch. And the same calls with the
 * same inputs give identical tables (times come from the caller).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/store/store_test.h"

static int is_done(store_t *st, const char *policy, unsigned long seed)
{
    int done = -1;
    err_t e;
    err_clear(&e);
    int rc = store_run_is_done(st, policy, seed, &done, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    return done;
}

static void interrupt(store_t *st, const char *policy, unsigned long seed)
{
    err_t e;
    begin_ok(st, policy, seed);
    write_rows(st, seed, 2, 4);
    assert_int_equal(store_run_abort(st, "interrupted", TEST_FINISHED, 0.25,
                                     "stopped by SIGINT", &e),
                     0);
}

/* First session: topk seeds 1, 2 done, topk 3 interrupted, then SIGINT.
 * Resume: the driver's loop over policies x seeds skips exactly the two
 * done runs and redoes topk 3 (its old run row replaced, one set of
 * rows). */
static void test_resume__skips_done_and_redoes_interrupted(void **state)
{
    (void)state;
    char path[64], buf[64];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    run_done(st, "topk", 1);
    run_done(st, "topk", 2);
    interrupt(st, "topk", 3);
    store_close(st);

    st = open_ok(path, &sc);
    int ran = 0, skipped = 0;
    for (int p = 0; p < 2; p++)
        for (unsigned long seed = 1; seed <= 3; seed++) {
            if (is_done(st, test_policies[p], seed)) {
                skipped++;
                continue;
            }
            run_done(st, test_policies[p], seed);
            ran++;
        }
    assert_int_equal(skipped, 2);
    assert_int_equal(ran, 4);
    for (int p = 0; p < 2; p++)
        for (unsigned long seed = 1; seed <= 3; seed++)
            assert_int_equal(is_done(st, test_policies[p], seed), 1);
    store_close(st);

    assert_int_equal(query_ll(path, "SELECT count(*) FROM run"), 6);
    assert_int_equal(
        query_ll(path, "SELECT count(*) FROM run WHERE status = 'done'"), 6);
    assert_int_equal(query_ll(path, "SELECT count(*) FROM layer_step l JOIN"
                                    " run r USING (run_id) WHERE"
                                    " r.policy = 'topk' AND r.seed = 3"),
                     12);
    assert_int_equal(query_ll(path, "SELECT count(*) FROM summary"), 6);
    assert_string_equal(query_text(path,
                                   "SELECT ifnull(error, 'NULL') FROM run"
                                   " WHERE policy = 'topk' AND seed = 3",
                                   buf, sizeof buf),
                        "NULL");
    remove_db(path);
}

/* A failed run that kept its rows is redone too, and its stale rows go. */
static void test_resume__redoes_failed_run_without_stale_rows(void **state)
{
    (void)state;
    char path[64];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    begin_ok(st, "moge", 5);
    write_rows(st, 5, 7, 4); /* 28 layer rows */
    err_t e;
    assert_int_equal(
        store_run_end(st, "failed", TEST_FINISHED, 1.0, "boom", &e), 0);
    assert_int_equal(query_ll(path, "SELECT count(*) FROM layer_step"), 28);
    assert_int_equal(is_done(st, "moge", 5), 0);
    run_done(st, "moge", 5); /* 12 layer rows */
    store_close(st);
    assert_int_equal(query_ll(path, "SELECT count(*) FROM layer_step"), 12);
    assert_int_equal(query_ll(path, "SELECT count(*) FROM run"), 1);
    remove_db(path);
}

/* One session's calls: two done runs, an interrupted one, a close, a
 * resume that redoes it. */
static void session(const char *path)
{
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    run_done(st, "topk", 1);
    run_done(st, "moge", 1);
    interrupt(st, "topk", 2);
    store_close(st);
    st = open_ok(path, &sc);
    if (!is_done(st, "topk", 2))
        run_done(st, "topk", 2);
    store_close(st);
}

static void test_store__same_inputs_identical_tables(void **state)
{
    (void)state;
    char a[64], b[64];
    tmp_db(a);
    tmp_db(b);
    session(a);
    session(b);
    char *da = dump_db(a), *db = dump_db(b);
    /* one row per line: scenario 1, policy 2, run 3, and per done run
     * 12 layer + 12 device + 3 step + 8 expert + 3 link + 1 summary */
    size_t lines = 0;
    for (const char *c = da; *c; c++)
        lines += *c == '\n';
    assert_int_equal(lines, 1 + 2 + 3 + 3 * (12 + 12 + 3 + 8 + 3 + 1));
    if (strcmp(da, db) != 0)
        fprintf(stderr, "dump of %s:\n%s\ndump of %s:\n%s\n", a, da, b, db);
    assert_string_equal(da, db);
    free(da);
    free(db);
    remove_db(a);
    remove_db(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume__skips_done_and_redoes_interrupted),
        cmocka_unit_test(test_resume__redoes_failed_run_without_stale_rows),
        cmocka_unit_test(test_store__same_inputs_identical_tables),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
