/*
 * store_open: what a new database records about its scenario, and which
 * existing databases it refuses (another scenario, changed input files,
 * not a moesim database), with the exact messages.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/store/store_test.h"

/* A scratch input file holding text. */
static void write_file(char path[64], const char *text)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

static int open_err(const char *path, const store_scenario *sc, err_t *e)
{
    store_t *st = (store_t *)1; /* must be set to NULL on failure */
    err_clear(e);
    int rc = store_open(&st, path, sc, e);
    assert_null(st);
    return rc;
}

static void test_open__records_scenario_as_given(void **state)
{
    (void)state;
    char path[64], model[64] = "build/test-store-model-XXXXXX";
    tmp_db(path);
    close(mkstemp(model));
    write_file(model, "abc");
    store_file files[2] = {{"scenario", "scenarios/default.ini"},
                           {"model", model}};
    store_scenario sc = test_scenario(TEST_TEXT);
    sc.files = files;
    sc.n_files = 2;
    store_t *st = open_ok(path, &sc);
    assert_string_equal(store_path(st), path);
    store_close(st);

    char buf[256];
    assert_string_equal(
        query_text(path,
                   "SELECT name || '|' || phase || '|' || moesim_version ||"
                   " '|' || created_at FROM scenario",
                   buf, sizeof buf),
        "t|decode|0.1.0-test|2025-01-02T03:04:05Z");
    assert_string_equal(
        query_text(path, "SELECT text FROM scenario", buf, sizeof buf),
        TEST_TEXT);
    assert_string_equal(
        query_text(path, "SELECT group_concat(name, ',') FROM"
                         " (SELECT name FROM policy ORDER BY position)",
                   buf, sizeof buf),
        "topk,moge");
    /* the NIST digest of "abc" (FIPS 180-2 B.1) */
    assert_string_equal(
        query_text(path, "SELECT role || ' ' || sha256 FROM scenario_file"
                         " WHERE position = 1",
                   buf, sizeof buf),
        "model ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_string_equal(
        query_text(path, "SELECT path FROM scenario_file WHERE position = 0",
                   buf, sizeof buf),
        "scenarios/default.ini");
    assert_int_equal(query_ll(path, "SELECT count(*) FROM run"), 0);
    remove(model);
    remove_db(path);
}

static void test_open__same_scenario_reopens_and_keeps_runs(void **state)
{
    (void)state;
    char path[64];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_t *st = open_ok(path, &sc);
    run_done(st, "topk", 1);
    store_close(st);
    sc.created_at = "2030-01-01T00:00:00Z"; /* a later resume */
    sc.moesim_version = "0.2.0";
    st = open_ok(path, &sc);
    int done = 0;
    err_t e;
    assert_int_equal(store_run_is_done(st, "topk", 1, &done, &e), 0);
    assert_int_equal(done, 1);
    store_close(st);
    char buf[64];
    /* the scenario row keeps the creation; the run its own version */
    assert_string_equal(
        query_text(path, "SELECT created_at FROM scenario", buf, sizeof buf),
        TEST_CREATED);
    assert_string_equal(
        query_text(path, "SELECT moesim_version FROM run", buf, sizeof buf),
        "0.1.0-test");
    remove_db(path);
}

static void test_open__different_scenario_text_refused(void **state)
{
    (void)state;
    char path[64], want[256];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_close(open_ok(path, &sc));
    store_scenario other = test_scenario(TEST_TEXT "; edited\n");
    err_t e;
    assert_int_equal(open_err(path, &other, &e), ERR_INPUT);
    snprintf(want, sizeof want,
             "%s: the database holds a different scenario (its scenario text "
             "differs); expected the same file or a new -o",
             path);
    assert_string_equal(e.msg, want);
    remove_db(path);
}

/* Same text, but a policy list that does not match it: only a caller bug
 * can do that, and it is still refused rather than mixed in. */
static void test_open__different_policies_refused(void **state)
{
    (void)state;
    char path[64], want[256];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_close(open_ok(path, &sc));
    static const char *const swapped[] = {"moge", "topk"};
    sc.policies = swapped;
    err_t e;
    assert_int_equal(open_err(path, &sc, &e), ERR_INPUT);
    snprintf(want, sizeof want,
             "%s: the database holds a different scenario (its policies "
             "differ); expected the same file or a new -o",
             path);
    assert_string_equal(e.msg, want);
    remove_db(path);
}

/* The scenario text is the same but the model file it names was edited:
 * the runs already stored came from the old model. */
static void test_open__changed_model_file_refused(void **state)
{
    (void)state;
    char path[64], model[64] = "build/test-store-model-XXXXXX", want[512];
    tmp_db(path);
    close(mkstemp(model));
    write_file(model, "abc");
    store_file files[1] = {{"model", model}};
    store_scenario sc = test_scenario(TEST_TEXT);
    sc.files = files;
    sc.n_files = 1;
    store_close(open_ok(path, &sc));
    write_file(model, "");
    err_t e;
    assert_int_equal(open_err(path, &sc, &e), ERR_INPUT);
    /* sha256("abc") = ba7816bf8f01..., sha256("") = e3b0c44298fc... */
    snprintf(want, sizeof want,
             "%s: the model file %s has changed since the database was "
             "written (stored as %s, sha256 ba7816bf8f01..., now "
             "e3b0c44298fc...); expected the same file or a new -o",
             path, model, model);
    assert_string_equal(e.msg, want);
    remove(model);
    remove_db(path);
}

static void test_open__missing_input_file_is_io_error(void **state)
{
    (void)state;
    char path[64];
    tmp_db(path);
    store_file files[1] = {{"node", "build/no-such-node.ini"}};
    store_scenario sc = test_scenario(TEST_TEXT);
    sc.files = files;
    sc.n_files = 1;
    err_t e;
    assert_int_equal(open_err(path, &sc, &e), ERR_IO);
    assert_string_equal(e.msg, "build/no-such-node.ini: cannot open to hash "
                               "it: No such file or directory");
    remove_db(path);
}

static void test_open__other_sqlite_database_refused(void **state)
{
    (void)state;
    char path[64], want[256];
    tmp_db(path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    store_scenario sc = test_scenario(TEST_TEXT);
    err_t e;
    assert_int_equal(open_err(path, &sc, &e), ERR_INPUT);
    snprintf(want, sizeof want,
             "%s: not a moesim results database (SQLite application_id 0); "
             "expected a moesim database or a new -o",
             path);
    assert_string_equal(e.msg, want);
    remove_db(path);
}

static void test_open__newer_schema_version_refused(void **state)
{
    (void)state;
    char path[64], want[256];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_close(open_ok(path, &sc));
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "PRAGMA user_version = 2", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    err_t e;
    assert_int_equal(open_err(path, &sc, &e), ERR_INPUT);
    snprintf(want, sizeof want,
             "%s: results schema version 2, this moesim reads version 1; "
             "expected a new -o",
             path);
    assert_string_equal(e.msg, want);
    remove_db(path);
}

static void test_open__text_file_refused(void **state)
{
    (void)state;
    char path[64], want[256];
    tmp_db(path);
    write_file(path, "[scenario]\nname = oops, a scenario given as -o\n");
    store_scenario sc = test_scenario(TEST_TEXT);
    err_t e;
    assert_int_equal(open_err(path, &sc, &e), ERR_INPUT);
    snprintf(want, sizeof want,
             "%s: not an SQLite database; expected a moesim results "
             "database or a new -o",
             path);
    assert_string_equal(e.msg, want);
    remove_db(path);
}

static void test_open__unwritable_path_names_it(void **state)
{
    (void)state;
    store_scenario sc = test_scenario(TEST_TEXT);
    err_t e;
    assert_int_equal(open_err("build/no-such-dir/r.db", &sc, &e), ERR_IO);
    assert_string_equal(e.msg, "build/no-such-dir/r.db: cannot open the "
                               "results database: unable to open database "
                               "file");
}

static void test_close__null_is_noop(void **state)
{
    (void)state;
    store_close(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_open__records_scenario_as_given),
        cmocka_unit_test(test_open__same_scenario_reopens_and_keeps_runs),
        cmocka_unit_test(test_open__different_scenario_text_refused),
        cmocka_unit_test(test_open__different_policies_refused),
        cmocka_unit_test(test_open__changed_model_file_refused),
        cmocka_unit_test(test_open__missing_input_file_is_io_error),
        cmocka_unit_test(test_open__other_sqlite_database_refused),
        cmocka_unit_test(test_open__newer_schema_version_refused),
        cmocka_unit_test(test_open__text_file_refused),
        cmocka_unit_test(test_open__unwritable_path_names_it),
        cmocka_unit_test(test_close__null_is_noop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
