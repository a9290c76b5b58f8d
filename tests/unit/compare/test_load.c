/*
 * compare_load: means, intervals and ratios of the standard database (see
 * compare_test.h), each derived by hand; only done runs count; the
 * baseline by default and by name; what is refused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/compare/compare_test.h"

#define TOL 1e-12

enum { TOPK, MOGE, EPLB, HASH };

static void test_load__policies_in_file_order_with_run_counts(void **st)
{
    (void)st;
    char path[64];
    cmp_tmp_db(path);
    cmp_build(path, "decode");
    compare_t *c = cmp_load(path, NULL);
    assert_int_equal(compare_policies(c), 4);
    for (int p = 0; p < 4; p++)
        assert_string_equal(compare_policy_name(c, p), cmp_policies[p]);
    assert_int_equal(compare_baseline(c), TOPK);
    assert_int_equal(compare_runs_done(c, TOPK), 3);
    assert_int_equal(compare_runs_done(c, EPLB), 1);
    assert_int_equal(compare_runs_not_done(c, EPLB), 1);
    assert_int_equal(compare_runs_done(c, HASH), 0);
    assert_int_equal(compare_runs_not_done(c, HASH), 1);
    compare_free(c);
    cmp_remove_db(path);
}

/* topk step_s 1.0 1.2 1.4: mean 1.2, sd sqrt((0.04 + 0 + 0.04) / 2) = 0.2,
 * half-width t(0.975, 2) * 0.2 / sqrt(3) = 4.302653 * 0.11547 = 0.49683. */
static void test_load__three_seeds_mean_sd_ci(void **st)
{
    (void)st;
    char path[64];
    cmp_tmp_db(path);
    cmp_build(path, "decode");
    compare_t *c = cmp_load(path, NULL);
    const compare_stat *s = compare_get(c, TOPK, COMPARE_STEP_S);
    assert_int_equal(s->n, 3);
    assert_near(s->mean, 1.2, TOL);
    assert_near(s->sd, 0.2, TOL);
    assert_near(T975_2, 4.302653, 5e-7); /* the tabulated value */
    assert_near(s->ci_half, T975_2 * 0.2 / sqrt(3.0), TOL);
    assert_near(s->ci_half, 0.49683, 5e-6);
    /* 0.4968275423500662: 4.302652729749463 (T975_2's closed form) * 0.2
     * / sqrt 3, to 16 digits */
    assert_near(s->ci_lo, 1.2 - 0.4968275423500662, TOL);
    assert_near(s->ci_hi, 1.2 + 0.4968275423500662, TOL);
    assert_near(s->ratio, 1.0, TOL);

    /* tokens/s/device 100 80 60: mean 80, sd 20 */
    s = compare_get(c, TOPK, COMPARE_TOKENS_PER_S_PER_DEVICE);
    assert_near(s->mean, 80, TOL);
    assert_near(s->sd, 20, TOL);
    assert_near(s->ci_half, T975_2 * 20 / sqrt(3.0), 1e-10);
    /* decode: TPOT is the step time; TTFT does not apply */
    s = compare_get(c, TOPK, COMPARE_TPOT_S);
    assert_near(s->mean, 1.2, TOL);
    assert_int_equal(compare_get(c, TOPK, COMPARE_TTFT_S)->n, 0);
    assert_true(compare_applies(c, COMPARE_TPOT_S));
    assert_false(compare_applies(c, COMPARE_TTFT_S));
    compare_free(c);
    cmp_remove_db(path);
}

/* Equal values: sd 0 and an interval of width 0 (three seeds agree),
 * which is not the same as no interval. */
static void test_load__equal_seeds_zero_width_interval(void **st)
{
    (void)st;
    char path[64];
    cmp_tmp_db(path);
    cmp_build(path, "decode");
    compare_t *c = cmp_load(path, NULL);
    const compare_stat *s = compare_get(c, TOPK, COMPARE_DEVICE_MAX_OVER_MEAN);
    assert_near(s->mean, 2, 0);
    assert_near(s->ci_half, 0, 0);
    assert_near(s->ci_lo, 2, 0);
    assert_near(s->ci_hi, 2, 0);
    compare_free(c);
    cmp_remove_db(path);
}

/* eplb: one finished seed (seed 2 was interrupted and does not count):
 * the mean is that seed's value, the interval unavailable (NaN), not 0. */
static void test_load__one_seed_interval_unavailable(void **st)
{
    (void)st;
    char path[64];
    cmp_tmp_db(path);
    cmp_build(path, "decode");
    compare_t *c = cmp_load(path, NULL);
    const compare_stat *s = compare_get(c, EPLB, COMPARE_STEP_S);
    assert_int_equal(s->n, 1);
    assert_near(s->mean, 1.1, TOL);
    assert_true(isnan(s->sd));
    assert_true(isnan(s->ci_half));
    assert_true(isnan(s->ci_lo));
    assert_true(isnan(s->ci_hi));
    assert_near(s->ratio, 1.1 / 1.2, TOL);
    compare_free(c);
    cmp_remove_db(path);
}

/* Ratios to topk: moge step 1.0 / 1.2, tokens 110 / 80 = 1.375, IS 0 / 0.6
 * = 0; inter-node bytes are 0 for every policy, so no ratio exists. */
static void test_load__ratios_to_first_policy(void **st)
{
    (void)st;
    char path[64];
    cmp_tmp_db(path);
    cmp_build(path, "decode");
    compare_t *c = cmp_load(path, NULL);
    assert_near(compare_get(c, MOGE, COMPARE_STEP_S)->ratio, 1.0 / 1.2, TOL);
    assert_near(compare_get(c, MOGE, COMPARE_TOKENS_PER_S_PER_DEVICE)->ratio,
                1.375, TOL);
    assert_near(compare_get(c, MOGE, COMPARE_IMBALANCE_SCORE)->ratio, 0, 0);
    assert_near(compare_get(c, MOGE, COMPARE_DEVICE_MAX_OVER_MEAN)->ratio, 0.5,
                TOL);
    assert_near(compare_get(c, MOGE, COMPARE_A2A_SHARE)->ratio, 0.25 / 0.3,
                TOL);
    for (int p = 0; p < 4; p++)
        assert_true(isnan(
            compare_get(c, p, COMPARE_BYTES_INTER_NODE_PER_STEP)->ratio));
    /* hash has no finished run: nothing to report */
    const compare_stat *h = compare_get(c, HASH, COMPARE_STEP_S);
    assert_int_equal(h->n, 0);
    assert_true(isnan(h->mean) && isnan(h->ratio));
    compare_free(c);
    cmp_remove_db(path);
}

static void test_load__named_baseline(void **st)
{
    (void)st;
    char path[64];
    cmp_tmp_db(path);
    cmp_build(path, "decode");
    compare_t *c = cmp_load(path, "moge");
    assert_int_equal(compare_baseline(c), MOGE);
    assert_near(compare_get(c, TOPK, COMPARE_STEP_S)->ratio, 1.2, TOL);
    assert_near(compare_get(c, MOGE, COMPARE_STEP_S)->ratio, 1.0, TOL);
    /* moge's IS is 0: no ratio to it */
    assert_true(isnan(compare_get(c, TOPK, COMPARE_IMBALANCE_SCORE)->ratio));
    compare_free(c);

    /* a baseline with no finished run: no ratios at all */
    c = cmp_load(path, "hash");
    assert_true(isnan(compare_get(c, TOPK, COMPARE_STEP_S)->ratio));
    compare_free(c);
    cmp_remove_db(path);
}

static void test_load__unknown_baseline_lists_policies(void **st)
{
    (void)st;
    char path[64], want[256];
    cmp_tmp_db(path);
    cmp_build(path, "decode");
    compare_t *c = (compare_t *)1;
    err_t e;
    err_clear(&e);
    assert_int_equal(compare_load(&c, path, "deepseek", &e), ERR_INPUT);
    assert_null(c);
    snprintf(want, sizeof want,
             "%s: baseline 'deepseek' is not a policy of this scenario; "
             "expected one of: topk, moge, eplb, hash",
             path);
    assert_string_equal(e.msg, want);
    cmp_remove_db(path);
}

static void test_load__prefill_reports_ttft_not_tpot(void **st)
{
    (void)st;
    char path[64];
    cmp_tmp_db(path);
    cmp_build(path, "prefill");
    compare_t *c = cmp_load(path, NULL);
    assert_true(compare_applies(c, COMPARE_TTFT_S));
    assert_false(compare_applies(c, COMPARE_TPOT_S));
    assert_near(compare_get(c, MOGE, COMPARE_TTFT_S)->mean, 1.0, TOL);
    assert_int_equal(compare_get(c, MOGE, COMPARE_TPOT_S)->n, 0);
    compare_free(c);
    cmp_remove_db(path);
}

static void test_load__missing_database_is_io_error(void **st)
{
    (void)st;
    compare_t *c = NULL;
    err_t e;
    err_clear(&e);
    assert_int_equal(compare_load(&c, "build/no-such.db", NULL, &e), ERR_IO);
    assert_string_equal(e.msg, "build/no-such.db: cannot open the results "
                               "database: unable to open database file");
}

static void test_load__other_sqlite_database_refused(void **st)
{
    (void)st;
    char path[64], want[256];
    cmp_tmp_db(path);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    compare_t *c = NULL;
    err_t e;
    err_clear(&e);
    assert_int_equal(compare_load(&c, path, NULL, &e), ERR_INPUT);
    snprintf(want, sizeof want,
             "%s: not a moesim results database (SQLite application_id 0); "
             "expected one written by moesim run",
             path);
    assert_string_equal(e.msg, want);
    cmp_remove_db(path);
}

static void test_load__text_file_refused(void **st)
{
    (void)st;
    char path[64], want[256];
    cmp_tmp_db(path);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("[scenario]\nname = not a database\n", f);
    fclose(f);
    compare_t *c = NULL;
    err_t e;
    err_clear(&e);
    int rc = compare_load(&c, path, NULL, &e);
    if (rc != ERR_INPUT)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, ERR_INPUT);
    snprintf(want, sizeof want,
             "%s: not an SQLite database; expected a moesim results database",
             path);
    assert_string_equal(e.msg, want);
    cmp_remove_db(path);
}

/* compare only reads, and leaves nothing beside the database: no -wal or
 * -shm files (which a read-only SQLite connection would leave). */
static void test_load__leaves_database_as_found(void **st)
{
    (void)st;
    char path[64], side[80];
    cmp_tmp_db(path);
    cmp_build(path, "decode");
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM run", -1,
                                        &q, NULL),
                     SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int runs = sqlite3_column_int(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    assert_int_equal(runs, 9); /* 7 done, eplb 2 interrupted, hash 1 failed */
    compare_free(cmp_load(path, NULL));
    snprintf(side, sizeof side, "%s-wal", path);
    assert_int_equal(access(side, F_OK), -1);
    snprintf(side, sizeof side, "%s-shm", path);
    assert_int_equal(access(side, F_OK), -1);
    cmp_remove_db(path);
}

static void test_parse_format__names(void **st)
{
    (void)st;
    compare_format f = COMPARE_CSV;
    err_t e;
    assert_int_equal(compare_parse_format("text", &f, &e), 0);
    assert_int_equal(f, COMPARE_TEXT);
    assert_int_equal(compare_parse_format("csv", &f, &e), 0);
    assert_int_equal(f, COMPARE_CSV);
    assert_int_equal(compare_parse_format("json", &f, &e), ERR_INPUT);
    assert_string_equal(e.msg,
                        "--format: unknown format 'json'; expected text or csv");
}

static void test_free__null_is_noop(void **st)
{
    (void)st;
    compare_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_load__policies_in_file_order_with_run_counts),
        cmocka_unit_test(test_load__three_seeds_mean_sd_ci),
        cmocka_unit_test(test_load__equal_seeds_zero_width_interval),
        cmocka_unit_test(test_load__one_seed_interval_unavailable),
        cmocka_unit_test(test_load__ratios_to_first_policy),
        cmocka_unit_test(test_load__named_baseline),
        cmocka_unit_test(test_load__unknown_baseline_lists_policies),
        cmocka_unit_test(test_load__prefill_reports_ttft_not_tpot),
        cmocka_unit_test(test_load__missing_database_is_io_error),
        cmocka_unit_test(test_load__other_sqlite_database_refused),
        cmocka_unit_test(test_load__text_file_refused),
        cmocka_unit_test(test_load__leaves_database_as_found),
        cmocka_unit_test(test_parse_format__names),
        cmocka_unit_test(test_free__null_is_noop),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
