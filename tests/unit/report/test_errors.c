/*
 * report_write's refusals: a database that is not moesim's, one with no
 * finished run, a plots folder without the scripts, gnuplot missing or
 * failing (its stderr in the message). None leaves a report, half a
 * report, or a temporary file behind, and an older report survives.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "tests/unit/report/report_test.h"

/* The file at path still holds "old report" and nothing is beside it. */
static void assert_old_kept(const char *path)
{
    char buf[64] = {0};
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    assert_string_equal(buf, "old report");
    DIR *d = opendir("build");
    assert_non_null(d);
    struct dirent *de;
    int stray = 0;
    size_t len = strlen(path) - 6; /* without "build/" */
    while ((de = readdir(d)))
        if (strncmp(de->d_name, path + 6, len) == 0 &&
            strcmp(de->d_name, path + 6) != 0) {
            fprintf(stderr, "left beside the report: %s\n", de->d_name);
            stray++;
        }
    closedir(d);
    assert_int_equal(stray, 0);
}

static int write_with(const rpt_paths *p, const char *plots_dir,
                      const char *gnuplot, err_t *e)
{
    report_options o = {.plots_dir = plots_dir, .gnuplot = gnuplot};
    err_clear(e);
    return report_write(p->db, p->html, &o, e);
}

static void test_errors__other_sqlite_database(void **st)
{
    (void)st;
    rpt_paths p;
    char want[256];
    rpt_build(&p, 1);
    remove(p.db);
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(p.db, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE t (x)", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    rpt_write_old(p.html);
    err_t e;
    assert_int_equal(write_with(&p, "plots", NULL, &e), ERR_INPUT);
    snprintf(want, sizeof want,
             "%s: not a moesim results database (SQLite application_id 0); "
             "expected one written by moesim run",
             p.db);
    assert_string_equal(e.msg, want);
    assert_old_kept(p.html);
    rpt_remove(&p);
}

static void test_errors__text_file(void **st)
{
    (void)st;
    rpt_paths p;
    char want[256];
    rpt_build(&p, 1);
    FILE *f = fopen(p.db, "w");
    assert_non_null(f);
    fputs("[scenario]\nname = not a database\n", f);
    fclose(f);
    err_t e;
    assert_int_equal(write_with(&p, "plots", NULL, &e), ERR_INPUT);
    snprintf(want, sizeof want,
             "%s: not an SQLite database; expected a moesim results "
             "database",
             p.db);
    assert_string_equal(e.msg, want);
    assert_int_equal(access(p.html, F_OK), -1);
    rpt_remove(&p);
}

/* Only an interrupted run: nothing finished to report. */
static void test_errors__no_finished_run(void **st)
{
    (void)st;
    rpt_paths p;
    char want[256];
    rpt_build(&p, 0);
    err_t e;
    assert_int_equal(write_with(&p, "plots", NULL, &e), ERR_INPUT);
    snprintf(want, sizeof want,
             "%s: no finished run (status 'done') to report; expected a "
             "database that moesim run has completed at least one run in",
             p.db);
    assert_string_equal(e.msg, want);
    assert_int_equal(access(p.html, F_OK), -1);
    rpt_remove(&p);
}

static void test_errors__missing_plots_dir(void **st)
{
    (void)st;
    rpt_paths p;
    rpt_build(&p, 1);
    rpt_write_old(p.html);
    err_t e;
    assert_int_equal(write_with(&p, "build/no-such-plots", NULL, &e),
                     ERR_INPUT);
    assert_string_equal(e.msg,
                        "build/no-such-plots/imbalance.gp: No such file or "
                        "directory; expected the moesim plots/ folder with "
                        "the report's gnuplot scripts");
    assert_old_kept(p.html);
    rpt_remove(&p);
}

static void test_errors__unknown_baseline(void **st)
{
    (void)st;
    rpt_paths p;
    char want[256];
    rpt_build(&p, 1);
    report_options o = {.plots_dir = "plots", .baseline = "eplb"};
    err_t e;
    err_clear(&e);
    assert_int_equal(report_write(p.db, p.html, &o, &e), ERR_INPUT);
    snprintf(want, sizeof want,
             "%s: baseline 'eplb' is not a policy of this scenario; "
             "expected one of: topk, <moge>",
             p.db);
    assert_string_equal(e.msg, want);
    rpt_remove(&p);
}

static void test_errors__gnuplot_missing(void **st)
{
    (void)st;
    rpt_paths p;
    rpt_build(&p, 1);
    rpt_write_old(p.html);
    err_t e;
    assert_int_equal(write_with(&p, "plots", "moesim-no-such-gnuplot", &e),
                     ERR_IO);
    assert_string_equal(e.msg,
                        "cannot run moesim-no-such-gnuplot to draw the "
                        "imbalance plot: No such file or directory; expected "
                        "gnuplot on PATH (Debian package gnuplot-nox)");
    assert_old_kept(p.html);
    rpt_remove(&p);
}

/* A copy of plots/ whose time.gp calls a function gnuplot lacks: the
 * message carries gnuplot's own words, and the first two plots, already
 * drawn, leave nothing behind. */
static void test_errors__gnuplot_fails(void **st)
{
    (void)st;
    rpt_paths p;
    char dir[64], path[128], want[512];
    rpt_build(&p, 1);
    snprintf(dir, sizeof dir, "build/test-report-plots-XXXXXX");
    assert_non_null(mkdtemp(dir));
    static const char *const scripts[] = {"style", "imbalance", "heatmap",
                                          "time", "throughput", "links"};
    for (size_t i = 0; i < sizeof scripts / sizeof *scripts; i++) {
        char from[64];
        snprintf(from, sizeof from, "plots/%s.gp", scripts[i]);
        snprintf(path, sizeof path, "%s/%s.gp", dir, scripts[i]);
        FILE *in = fopen(from, "r"), *out = fopen(path, "w");
        assert_non_null(in);
        assert_non_null(out);
        if (strcmp(scripts[i], "time") == 0)
            fputs("plot no_such_function(x)\n", out);
        else
            for (int c; (c = fgetc(in)) != EOF;)
                fputc(c, out);
        fclose(in);
        fclose(out);
    }
    char tmpdir[64];
    char *saved = rpt_tmpdir_set(tmpdir);

    rpt_write_old(p.html);
    err_t e;
    assert_int_equal(write_with(&p, dir, NULL, &e), ERR_IO);
    snprintf(want, sizeof want,
             "gnuplot failed on %s/time.gp (exit status 1): \"%s/time.gp\" "
             "line 1: undefined function: no_such_function",
             dir, dir);
    assert_string_equal(e.msg, want);
    assert_old_kept(p.html);
    assert_int_equal(rmdir(tmpdir), 0); /* empty: the private folder went */

    rpt_tmpdir_restore(saved);
    for (size_t i = 0; i < sizeof scripts / sizeof *scripts; i++) {
        snprintf(path, sizeof path, "%s/%s.gp", dir, scripts[i]);
        remove(path);
    }
    rmdir(dir);
    rpt_remove(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_errors__other_sqlite_database),
        cmocka_unit_test(test_errors__text_file),
        cmocka_unit_test(test_errors__no_finished_run),
        cmocka_unit_test(test_errors__missing_plots_dir),
        cmocka_unit_test(test_errors__unknown_baseline),
        cmocka_unit_test(test_errors__gnuplot_missing),
        cmocka_unit_test(test_errors__gnuplot_fails),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
