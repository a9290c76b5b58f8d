/*
 * `moesim run` as a user runs it, interrupted: SIGINT midway keeps every
 * finished run whole, marks the current one interrupted with none of its
 * rows, and `--resume` completes exactly what is missing, to the same rows
 * an uninterrupted run writes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define SCEN "tests/data/run-kill.ini"
#define DB_KILLED "build/test-cli-run-killed.db"
#define DB_FRESH "build/test-cli-run-fresh.db"

static const char *bin(void)
{
    const char *b = getenv("MOESIM_BIN");
    return b ? b : "./moesim";
}

static void remove_db(const char *db)
{
    char p[256];
    remove(db);
    snprintf(p, sizeof p, "%s-wal", db);
    remove(p);
    snprintf(p, sizeof p, "%s-shm", db);
    remove(p);
}

/* One integer from a query, or -1 when the database cannot answer yet. */
static long query_long(const char *db, const char *sql)
{
    sqlite3 *h = NULL;
    long v = -1;
    if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(h, 2000);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(h, sql, -1, &st, NULL) == SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW)
            v = (long)sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(h);
    return v;
}

/* Every summary and per-layer figure of the database, keyed by policy and
 * seed (run ids differ between a resumed and a fresh database). */
static char *dump(const char *db)
{
    sqlite3 *h = NULL;
    assert_int_equal(sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL),
                     SQLITE_OK);
    const char *sql =
        "SELECT r.policy, r.seed, s.steps, s.step_s, s.tokens_per_s, "
        "s.imbalance_score, s.device_max_over_mean, s.a2a_share, "
        "s.idle_share, (SELECT count(*) || ':' || total(l.layer_s) || ':' || "
        "total(l.imbalance_score) FROM layer_step l WHERE l.run_id = "
        "r.run_id), (SELECT count(*) || ':' || total(d.token_experts) FROM "
        "device_step d WHERE d.run_id = r.run_id) FROM run r JOIN summary s "
        "USING (run_id) ORDER BY r.policy, r.seed";
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(h, sql, -1, &st, NULL), SQLITE_OK);
    size_t cap = 1 << 16, n = 0;
    char *out = calloc(cap, 1);
    assert_non_null(out);
    while (sqlite3_step(st) == SQLITE_ROW) {
        for (int c = 0; c < sqlite3_column_count(st); c++) {
            const unsigned char *t = sqlite3_column_text(st, c);
            n += (size_t)snprintf(out + n, cap - n, "%s|", t ? (const char *)t : "NULL");
        }
        n += (size_t)snprintf(out + n, cap - n, "\n");
        assert_true(n < cap - 256);
    }
    sqlite3_finalize(st);
    sqlite3_close(h);
    return out;
}

static int run_cmd(const char *args)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "SOURCE_DATE_EPOCH=1700000000 %s %s "
                              ">/dev/null 2>build/test-cli-run.err",
             bin(), args);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli_run__sigint_keeps_finished_runs_and_resume_completes(
    void **state)
{
    (void)state;
    remove_db(DB_KILLED);
    remove_db(DB_FRESH);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        setenv("SOURCE_DATE_EPOCH", "1700000000", 1);
        freopen("/dev/null", "w", stdout);
        execl(bin(), bin(), "run", SCEN, "-o", DB_KILLED, "--quiet",
              (char *)NULL);
        _exit(127);
    }
    /* wait for the first finished run, then interrupt the second */
    long done = -1;
    for (int i = 0; i < 1200 && done < 1; i++) {
        struct timespec ts = {0, 50 * 1000 * 1000};
        nanosleep(&ts, NULL);
        done = query_long(DB_KILLED,
                          "SELECT count(*) FROM run WHERE status = 'done'");
    }
    assert_true(done >= 1);
    kill(pid, SIGINT);
    int ws = 0;
    assert_int_equal(waitpid(pid, &ws, 0), pid);
    assert_true(WIFEXITED(ws));
    if (WEXITSTATUS(ws) != 130)
        fprintf(stderr, "exit status %d, expected 130\n", WEXITSTATUS(ws));
    assert_int_equal(WEXITSTATUS(ws), 130);

    long n_done = query_long(DB_KILLED,
                             "SELECT count(*) FROM run WHERE status = 'done'");
    long n_int = query_long(
        DB_KILLED, "SELECT count(*) FROM run WHERE status = 'interrupted'");
    long rows_int = query_long(
        DB_KILLED, "SELECT count(*) FROM layer_step WHERE run_id IN (SELECT "
                   "run_id FROM run WHERE status = 'interrupted')");
    long rows_done = query_long(
        DB_KILLED, "SELECT count(*) FROM layer_step WHERE run_id IN (SELECT "
                   "run_id FROM run WHERE status = 'done')");
    fprintf(stderr, "after SIGINT: %ld done, %ld interrupted\n", n_done,
            n_int);
    assert_true(n_done >= 1 && n_done < 6);
    assert_int_equal(n_int, 1);
    assert_int_equal(rows_int, 0);
    /* 12 steps x 48 layers of Pangu Pro MoE per finished run */
    assert_int_equal(rows_done, n_done * 12 * 48);

    /* 2 policies x 3 seeds = 6 runs */
    assert_int_equal(run_cmd("run " SCEN " -o " DB_KILLED " --resume"), 0);
    assert_int_equal(query_long(DB_KILLED, "SELECT count(*) FROM run WHERE "
                                           "status = 'done'"),
                     6);
    assert_int_equal(query_long(DB_KILLED, "SELECT count(*) FROM run"), 6);

    assert_int_equal(run_cmd("run " SCEN " -o " DB_FRESH), 0);
    char *a = dump(DB_KILLED), *b = dump(DB_FRESH);
    if (strcmp(a, b) != 0)
        fprintf(stderr, "resumed:\n%s\nfresh:\n%s\n", a, b);
    assert_string_equal(a, b);
    free(a);
    free(b);
    remove_db(DB_KILLED);
    remove_db(DB_FRESH);
}

/* Rule 4 of the house: the same scenario and seed give byte-identical
 * results. With SOURCE_DATE_EPOCH the timestamps are pinned and wall times
 * recorded as 0, so two databases compare equal byte for byte. */
static void test_cli_run__same_scenario_gives_byte_identical_databases(
    void **state)
{
    (void)state;
    const char *a = "build/test-cli-run-det-a.db", *b = "build/test-cli-run-det-b.db";
    remove_db(a);
    remove_db(b);
    char args[256];
    snprintf(args, sizeof args, "run scenarios/pangu-decode-300i-duo.ini -o %s", a);
    assert_int_equal(run_cmd(args), 0);
    snprintf(args, sizeof args, "run scenarios/pangu-decode-300i-duo.ini -o %s", b);
    assert_int_equal(run_cmd(args), 0);
    FILE *fa = fopen(a, "rb"), *fb = fopen(b, "rb");
    assert_non_null(fa);
    assert_non_null(fb);
    long n = 0, first_diff = -1;
    for (;;) {
        int ca = fgetc(fa), cb = fgetc(fb);
        if (ca != cb && first_diff < 0)
            first_diff = n;
        if (ca == EOF || cb == EOF)
            break;
        n++;
    }
    fclose(fa);
    fclose(fb);
    if (first_diff >= 0)
        fprintf(stderr, "databases differ at byte %ld of %ld\n", first_diff, n);
    assert_true(n > 0);
    assert_int_equal(first_diff, -1);
    remove_db(a);
    remove_db(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_cli_run__sigint_keeps_finished_runs_and_resume_completes),
        cmocka_unit_test(
            test_cli_run__same_scenario_gives_byte_identical_databases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
