/*
 * store_run: the life of a run in the results database (results/store.h):
 * its run row, looked up, begun (deleting a run that never finished, for
 * resume), ended and committed, or aborted with its rows rolled back.
 */
#include "results/store.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "results/store_impl.h"

/* ---- runs ---------------------------------------------------------- */

static int status_ok(const char *status, const char *a, const char *b)
{
    return status && (strcmp(status, a) == 0 || strcmp(status, b) == 0);
}

/* Seeds are stored in SQLite's signed 64-bit INTEGER. */
static int seed_ok(const store_t *s, unsigned long seed, err_t *e)
{
    if ((unsigned long long)seed > (unsigned long long)INT64_MAX)
        return err_set(e, ERR_INPUT,
                       "%s: seed %lu is above %lld, the largest the results "
                       "database stores; expected a smaller seed",
                       s->path, seed, (long long)INT64_MAX);
    return 0;
}

/* The stored run (policy, seed): *run_id 0 when there is none, else its
 * id and *done whether its status is 'done'. */
static int find_run(store_t *s, const char *policy, unsigned long seed,
                    sqlite3_int64 *run_id, int *done, err_t *e)
{
    sqlite3_stmt *st = NULL;
    *run_id = 0;
    *done = 0;
    int rc = store_prepare(s,
                           "SELECT run_id, status = 'done' FROM run"
                           " WHERE policy = ? AND seed = ?",
                           &st, "looking up a run", e);
    if (rc != 0)
        return rc;
    binder b = {st, 0, SQLITE_OK};
    bind_text(&b, policy, -1);
    bind_i64(&b, (sqlite3_int64)seed);
    int step = b.rc == SQLITE_OK ? sqlite3_step(st) : b.rc;
    if (step == SQLITE_ROW) {
        *run_id = sqlite3_column_int64(st, 0);
        *done = sqlite3_column_int(st, 1);
    } else if (step != SQLITE_DONE) {
        rc = store_db_fail(s, e, "looking up a run");
    }
    (void)sqlite3_finalize(st);
    return rc;
}

int store_run_is_done(store_t *s, const char *policy, unsigned long seed,
                      int *done, err_t *e)
{
    sqlite3_int64 run_id;
    *done = 0;
    MOESIM_ASSERT(policy);
    int rc = seed_ok(s, seed, e);
    if (rc == 0)
        rc = find_run(s, policy, seed, &run_id, done, e);
    return rc;
}

/* 0 if policy is one of the scenario's, else ERR_INPUT listing them in
 * file order. One aggregate row answers both; group_concat takes the rows
 * in the subquery's order (SQLite 3.44 could say ORDER BY inside it). */
static int policy_known(store_t *s, const char *policy, err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc = store_prepare(s,
                           "SELECT ifnull(max(name = ?), 0),"
                           " group_concat(name, ', ')"
                           " FROM (SELECT name FROM policy ORDER BY position)",
                           &st, "looking up a policy", e);
    if (rc != 0)
        return rc;
    binder b = {st, 0, SQLITE_OK};
    bind_text(&b, policy, -1);
    int step = b.rc == SQLITE_OK ? sqlite3_step(st) : b.rc;
    if (step != SQLITE_ROW)
        rc = store_db_fail(s, e, "looking up a policy");
    else if (!sqlite3_column_int(st, 0)) {
        const unsigned char *names = sqlite3_column_text(st, 1);
        rc = err_set(e, ERR_INPUT,
                     "%s: policy '%s' is not one of the scenario's; expected "
                     "one of: %s",
                     s->path, policy, names ? (const char *)names : "");
    }
    (void)sqlite3_finalize(st);
    return rc;
}

int store_run_begin(store_t *s, const metrics_run *run,
                    const char *started_at, err_t *e)
{
    sqlite3_stmt *st = NULL;
    sqlite3_int64 old_id = 0;
    int done = 0;
    MOESIM_ASSERT(s->run_id == 0); /* end or abort the previous run first */
    MOESIM_ASSERT(run->policy && run->router && run->placement &&
                  started_at);
    int rc = seed_ok(s, run->seed, e);
    if (rc != 0)
        return rc;

    /* Committed on its own, so from here on a reader sees the run as
     * 'running', and a process killed -9 leaves it so. */
    if ((rc = store_exec(s, "BEGIN IMMEDIATE", "starting a run", e)) != 0)
        goto fail;
    if ((rc = policy_known(s, run->policy, e)) != 0 ||
        (rc = find_run(s, run->policy, run->seed, &old_id, &done, e)) != 0)
        goto fail;
    if (done) {
        rc = err_set(e, ERR_INPUT,
                     "%s: policy '%s' seed %lu is already done; expected "
                     "it to be skipped (store_run_is_done)",
                     s->path, run->policy, run->seed);
        goto fail;
    }
    if (old_id != 0) {
        /* A run that never finished: its rows go with it (ON DELETE
         * CASCADE), so the rerun starts clean. */
        rc = store_prepare(s, "DELETE FROM run WHERE run_id = ?", &st,
                           "deleting an unfinished run", e);
        if (rc != 0)
            goto fail;
        binder d = {st, 0, SQLITE_OK};
        bind_i64(&d, old_id);
        if ((rc = store_step_done(s, st, d.rc, "deleting an unfinished run",
                                  e)))
            goto fail;
        (void)sqlite3_finalize(st);
        st = NULL;
    }
    rc = store_prepare(s,
                       "INSERT INTO run (policy, router, placement, seed,"
                       " status, started_at, moesim_version)"
                       " VALUES (?, ?, ?, ?, 'running', ?, ?)",
                       &st, "recording a run", e);
    if (rc != 0)
        goto fail;
    binder b = {st, 0, SQLITE_OK};
    bind_text(&b, run->policy, -1);
    bind_text(&b, run->router, -1);
    bind_text(&b, run->placement, -1);
    bind_i64(&b, (sqlite3_int64)run->seed);
    bind_text(&b, started_at, -1);
    bind_text(&b, s->moesim_version, -1);
    if ((rc = store_step_done(s, st, b.rc, "recording a run", e)) != 0)
        goto fail;
    sqlite3_int64 id = sqlite3_last_insert_rowid(s->db);
    if ((rc = store_exec(s, "COMMIT", "recording a run", e)) != 0)
        goto fail;

    /* The run's rows, committed (or rolled back) as one. If this BEGIN
     * fails the run row stays 'running': not done, redone on resume. */
    if ((rc = store_exec(s, "BEGIN IMMEDIATE", "starting a run's rows",
                         e)) != 0)
        goto fail;
    s->run_id = id;
    s->run_has_summary = 0;
    snprintf(s->run_label, sizeof s->run_label, "policy '%s' seed %lu",
             run->policy, run->seed);
    (void)sqlite3_finalize(st);
    return 0;
fail:
    (void)sqlite3_finalize(st);
    store_rollback_quietly(s);
    return rc;
}

/* Records status etc. on the run row of the open run in its own
 * statement (autocommit when no transaction is open) and closes the run. */
int store_finish_run(store_t *s, const char *status, const char *finished_at,
                     double wall_s, const char *error, err_t *e)
{
    sqlite3_stmt *st = NULL;
    sqlite3_int64 id = s->run_id;
    s->run_id = 0;
    int rc = store_prepare(s,
                           "UPDATE run SET status = ?, finished_at = ?,"
                           " wall_s = ?, error = ? WHERE run_id = ?",
                           &st, "recording the end of a run", e);
    if (rc != 0)
        return rc;
    binder b = {st, 0, SQLITE_OK};
    bind_text(&b, status, -1);
    bind_text(&b, finished_at, -1);
    bind_f64(&b, wall_s);
    bind_text(&b, error, -1);
    bind_i64(&b, id);
    rc = store_step_done(s, st, b.rc, "recording the end of a run", e);
    (void)sqlite3_finalize(st);
    return rc;
}

int store_run_end(store_t *s, const char *status, const char *finished_at,
                  double wall_s, const char *error, err_t *e)
{
    MOESIM_ASSERT(s->run_id != 0);
    MOESIM_ASSERT(status_ok(status, "done", "failed"));
    int done = strcmp(status, "done") == 0;
    if (done && !s->run_has_summary)
        return err_set(e, ERR_SIM,
                       "%s: %s ended as done without its summary row",
                       s->path, s->run_label);
    int rc = store_finish_run(s, status, finished_at, wall_s,
                              done ? NULL : error, e);
    if (rc == 0)
        rc = store_exec(s, "COMMIT", "committing a run", e);
    if (rc != 0)
        store_rollback_quietly(s); /* the row stays 'running': not done */
    return rc;
}

int store_run_abort(store_t *s, const char *status, const char *finished_at,
                    double wall_s, const char *error, err_t *e)
{
    MOESIM_ASSERT(s->run_id != 0);
    MOESIM_ASSERT(status_ok(status, "interrupted", "failed"));
    /* First the rows go; only then is the status written, in autocommit,
     * so there is no moment at which a reader sees the rows. */
    int rc = 0;
    if (!sqlite3_get_autocommit(s->db))
        rc = store_exec(s, "ROLLBACK", "rolling back a run", e);
    if (rc != 0) {
        s->run_id = 0;
        return rc;
    }
    return store_finish_run(s, status, finished_at, wall_s, error, e);
}
