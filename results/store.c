/*
 * store: opening and closing the results database (results/store.h): the
 * schema text, creating a new database or checking that an existing one
 * holds the same scenario, and the SQLite helpers the store's files share
 * (results/store_impl.h lists them).
 */
#include "results/store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "results/sha256.h"
#include "results/store_impl.h"

/* How long a statement waits for another connection's lock (a reader's
 * checkpoint, a second writer) before it fails with SQLITE_BUSY. */
#define BUSY_TIMEOUT_MS 5000

/* results/schema.sql, byte for byte (test_schema checks it). The Makefile
 * compiles sources only, so the file cannot be turned into a C string at
 * build time; the test keeps the copy honest instead. */
static const char schema_sql[] =
    "-- moesim results database, schema version 1.\n"
    "--\n"
    "-- One database per scenario run. The source of truth for the schema: the\n"
    "-- same text is embedded in results/store.c (tests/unit/store checks that\n"
    "-- the two are identical). results/SCHEMA.md documents every column.\n"
    "-- Times are in seconds (_s), sizes in bytes, rates per second; counts of\n"
    "-- tokens are plain integers; shares and utilizations are fractions 0..1.\n"
    "-- The connection sets journal_mode=WAL and foreign_keys=ON itself.\n"
    "\n"
    "PRAGMA application_id = 1297040723; -- 0x4D4F4553, \"MOES\"\n"
    "PRAGMA user_version = 1;\n"
    "\n"
    "-- The scenario this database belongs to: exactly one row.\n"
    "CREATE TABLE scenario (\n"
    "    id              INTEGER PRIMARY KEY CHECK (id = 1),\n"
    "    name            TEXT NOT NULL,\n"
    "    phase           TEXT NOT NULL CHECK (phase IN ('train', 'prefill', 'decode')),\n"
    "    text            TEXT NOT NULL,   -- the scenario file's full text\n"
    "    moesim_version  TEXT NOT NULL,   -- of the moesim that created the database\n"
    "    created_at      TEXT NOT NULL    -- as given by the caller (ISO 8601 UTC)\n"
    ");\n"
    "\n"
    "-- Every file the scenario was built from, with the SHA-256 of its bytes.\n"
    "CREATE TABLE scenario_file (\n"
    "    position  INTEGER PRIMARY KEY,   -- 0-based, in the order given\n"
    "    role      TEXT NOT NULL CHECK (role IN ('scenario', 'model', 'node', 'device')),\n"
    "    path      TEXT NOT NULL,\n"
    "    sha256    TEXT NOT NULL CHECK (length(sha256) = 64)\n"
    ");\n"
    "\n"
    "-- The policies to compare, in scenario file order (position 0 is the\n"
    "-- default baseline of moesim compare).\n"
    "CREATE TABLE policy (\n"
    "    position  INTEGER PRIMARY KEY,   -- 0-based\n"
    "    name      TEXT NOT NULL UNIQUE\n"
    ");\n"
    "\n"
    "-- One simulated run: one policy with one seed. Only status 'done' runs are\n"
    "-- complete; 'running' means the run is in progress or its process was\n"
    "-- killed; 'interrupted' and 'failed' runs keep no rows unless a failed run\n"
    "-- was ended with its rows kept (see store_run_end).\n"
    "CREATE TABLE run (\n"
    "    run_id          INTEGER PRIMARY KEY,\n"
    "    policy          TEXT NOT NULL REFERENCES policy (name),\n"
    "    router          TEXT NOT NULL,\n"
    "    placement       TEXT NOT NULL,\n"
    "    seed            INTEGER NOT NULL CHECK (seed >= 0),\n"
    "    status          TEXT NOT NULL\n"
    "                    CHECK (status IN ('running', 'done', 'failed', 'interrupted')),\n"
    "    started_at      TEXT NOT NULL,   -- as given by the caller (ISO 8601 UTC)\n"
    "    finished_at     TEXT,            -- NULL while running\n"
    "    wall_s          REAL,            -- host wall-clock time of the run\n"
    "    moesim_version  TEXT NOT NULL,   -- of the moesim that ran it\n"
    "    error           TEXT,            -- why it failed or stopped; NULL if done\n"
    "    UNIQUE (policy, seed)\n"
    ");\n"
    "\n"
    "-- One layer of one step (metrics_layer). Dense layers have moe = 0.\n"
    "CREATE TABLE layer_step (\n"
    "    run_id                    INTEGER NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,\n"
    "    step                      INTEGER NOT NULL,\n"
    "    layer                     INTEGER NOT NULL,\n"
    "    moe                       INTEGER NOT NULL CHECK (moe IN (0, 1)),\n"
    "    tokens                    INTEGER NOT NULL,\n"
    "    token_experts             INTEGER NOT NULL,\n"
    "    dropped                   INTEGER NOT NULL,\n"
    "    imbalance_score           REAL,\n"
    "    device_max_over_mean      REAL,\n"
    "    expert_max_over_mean      REAL,\n"
    "    attention_s               REAL,\n"
    "    dispatch_s                REAL,\n"
    "    expert_compute_max_s      REAL,\n"
    "    expert_compute_mean_s     REAL,\n"
    "    combine_s                 REAL,\n"
    "    idle_mean_s               REAL,\n"
    "    layer_s                   REAL,\n"
    "    bytes_intra_node          REAL,\n"
    "    bytes_inter_node          REAL,\n"
    "    busiest_link_utilization  REAL,\n"
    "    busiest_link              TEXT,\n"
    "    PRIMARY KEY (run_id, step, layer)\n"
    ") WITHOUT ROWID;\n"
    "\n"
    "-- One device over one step, summed over layers (metrics_device).\n"
    "CREATE TABLE device_step (\n"
    "    run_id         INTEGER NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,\n"
    "    step           INTEGER NOT NULL,\n"
    "    device         INTEGER NOT NULL,\n"
    "    token_experts  INTEGER NOT NULL,\n"
    "    compute_s      REAL,\n"
    "    comm_s         REAL,\n"
    "    idle_s         REAL,\n"
    "    PRIMARY KEY (run_id, step, device)\n"
    ") WITHOUT ROWID;\n"
    "\n"
    "-- One step of the whole cluster (metrics_step).\n"
    "CREATE TABLE step (\n"
    "    run_id                   INTEGER NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,\n"
    "    step                     INTEGER NOT NULL,\n"
    "    step_s                   REAL,\n"
    "    tokens                   INTEGER NOT NULL,\n"
    "    tokens_per_s             REAL,\n"
    "    tokens_per_s_per_device  REAL,\n"
    "    compute_s                REAL,\n"
    "    a2a_s                    REAL,\n"
    "    idle_s                   REAL,\n"
    "    other_s                  REAL,\n"
    "    bytes_intra_node         REAL,\n"
    "    bytes_inter_node         REAL,\n"
    "    mfu                      REAL,\n"
    "    PRIMARY KEY (run_id, step)\n"
    ") WITHOUT ROWID;\n"
    "\n"
    "-- Load of one logical expert of one layer over the run (metrics_expert).\n"
    "CREATE TABLE expert_load (\n"
    "    run_id    INTEGER NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,\n"
    "    layer     INTEGER NOT NULL,\n"
    "    expert    INTEGER NOT NULL,\n"
    "    load      INTEGER NOT NULL,  -- token assignments, dropped included\n"
    "    replicas  INTEGER NOT NULL,\n"
    "    PRIMARY KEY (run_id, layer, expert)\n"
    ") WITHOUT ROWID;\n"
    "\n"
    "-- One directional link over the run (metrics_link).\n"
    "CREATE TABLE link (\n"
    "    run_id       INTEGER NOT NULL REFERENCES run (run_id) ON DELETE CASCADE,\n"
    "    name         TEXT NOT NULL,\n"
    "    bytes        REAL,\n"
    "    busy_s       REAL,\n"
    "    utilization  REAL,\n"
    "    PRIMARY KEY (run_id, name)\n"
    ") WITHOUT ROWID;\n"
    "\n"
    "-- Means over the run's steps (metrics_summary): one row per run.\n"
    "CREATE TABLE summary (\n"
    "    run_id                     INTEGER PRIMARY KEY REFERENCES run (run_id) ON DELETE CASCADE,\n"
    "    steps                      INTEGER NOT NULL,\n"
    "    step_s                     REAL,\n"
    "    tokens_per_s               REAL,\n"
    "    tokens_per_s_per_device    REAL,\n"
    "    tpot_s                     REAL,\n"
    "    ttft_s                     REAL,\n"
    "    imbalance_score            REAL,\n"
    "    device_max_over_mean       REAL,\n"
    "    expert_max_over_mean       REAL,\n"
    "    a2a_share                  REAL,\n"
    "    idle_share                 REAL,\n"
    "    bytes_inter_node_per_step  REAL,\n"
    "    bytes_intra_node_per_step  REAL,\n"
    "    dropped_fraction           REAL,\n"
    "    mfu                        REAL,\n"
    "    hbm_needed_bytes           REAL,\n"
    "    hbm_available_bytes        REAL,\n"
    "    fits                       INTEGER NOT NULL CHECK (fits IN (0, 1))\n"
    ");\n"
    "\n"
    "-- No separate indexes: every row table's primary key starts with run_id,\n"
    "-- so it serves \"WHERE run_id = ?\" and ON DELETE CASCADE, and the UNIQUE\n"
    "-- (policy, seed) of run serves the per-policy lookups of resume and compare.\n"
    "-- The row tables are WITHOUT ROWID: the rows live in their primary-key\n"
    "-- b-tree, one b-tree to insert into per row instead of a table and an\n"
    "-- index (rows are about 150 bytes, well within what SQLite advises for\n"
    "-- WITHOUT ROWID), and the key still rejects a row the replay sent twice.\n";

/* ---- small helpers ------------------------------------------------- */

/* Records an SQLite failure: "PATH: what: sqlite's message". */
int store_db_fail(const store_t *s, err_t *e, const char *what)
{
    return err_set(e, ERR_IO, "%s: %s: %s", s->path, what,
                   sqlite3_errmsg(s->db));
}

int store_exec(store_t *s, const char *sql, const char *what, err_t *e)
{
    int rc = sqlite3_exec(s->db, sql, NULL, NULL, NULL);
    if (rc != SQLITE_OK)
        return store_db_fail(s, e, what);
    return 0;
}

int store_prepare(store_t *s, const char *sql, sqlite3_stmt **st,
                  const char *what, err_t *e)
{
    int rc = sqlite3_prepare_v2(s->db, sql, -1, st, NULL);
    if (rc != SQLITE_OK) {
        *st = NULL;
        return store_db_fail(s, e, what);
    }
    return 0;
}

/* Rolls back the open transaction if there is one. SQLite has already
 * rolled back by itself after some errors (SQLITE_FULL, SQLITE_IOERR...),
 * hence the autocommit test. The rollback's own failure is not reported:
 * it runs on an error path whose first message is the one that matters. */
void store_rollback_quietly(store_t *s)
{
    if (!sqlite3_get_autocommit(s->db))
        (void)sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

/* Steps a statement that returns no row, then resets it for reuse. 0, or
 * ERR_IO with SQLite's message (the bind's when bind_rc already failed)
 * copied into msg before the reset, which may replace it. */
int store_step_reset(store_t *s, sqlite3_stmt *st, int bind_rc, char *msg,
                     size_t n)
{
    int rc = bind_rc;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        snprintf(msg, n, "%s", sqlite3_errmsg(s->db));
    /* reset repeats a failed step's code; the message is already kept */
    (void)sqlite3_reset(st);
    return rc == SQLITE_OK ? 0 : ERR_IO;
}

/* store_step_reset, its failure recorded as "PATH: what: SQLite's message". */
int store_step_done(store_t *s, sqlite3_stmt *st, int bind_rc,
                    const char *what, err_t *e)
{
    char msg[ERR_MSG_MAX];
    if (store_step_reset(s, st, bind_rc, msg, sizeof msg) == 0)
        return 0;
    return err_set(e, ERR_IO, "%s: %s: %s", s->path, what, msg);
}

/* ---- opening ------------------------------------------------------- */

/* A single integer from a one-row query (PRAGMA application_id...). */
static int query_int(store_t *s, const char *sql, sqlite3_int64 *out,
                     err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc = store_prepare(s, sql, &st, "reading the database header", e);
    if (rc != 0)
        return rc;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *out = sqlite3_column_int64(st, 0);
        rc = 0;
    } else {
        rc = store_db_fail(s, e, "reading the database header");
    }
    (void)sqlite3_finalize(st);
    return rc;
}

/* Writes the schema and the scenario's rows into an empty database (the
 * caller holds the write transaction). hex[i] is files[i]'s digest. */
static int create_schema(store_t *s, const store_scenario *scen,
                         char (*hex)[SHA256_HEX_CHARS + 1], err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc = store_exec(s, schema_sql, "creating the schema", e);
    if (rc != 0)
        goto fail;

    rc = store_prepare(s,
                       "INSERT INTO scenario (id, name, phase, text,"
                       " moesim_version, created_at) VALUES (1, ?, ?, ?, ?, ?)",
                       &st, "recording the scenario", e);
    if (rc != 0)
        goto fail;
    binder b = {st, 0, SQLITE_OK};
    bind_text(&b, scen->name, -1);
    bind_text(&b, scen->phase, -1);
    bind_text(&b, scen->text, -1);
    bind_text(&b, scen->moesim_version, -1);
    bind_text(&b, scen->created_at, -1);
    rc = store_step_done(s, st, b.rc, "recording the scenario", e);
    if (rc != 0)
        goto fail;
    (void)sqlite3_finalize(st);
    st = NULL;

    rc = store_prepare(s,
                       "INSERT INTO scenario_file (position, role, path,"
                       " sha256) VALUES (?, ?, ?, ?)",
                       &st, "recording the scenario's files", e);
    if (rc != 0)
        goto fail;
    for (int i = 0; i < scen->n_files; i++) {
        binder f = {st, 0, SQLITE_OK};
        bind_i64(&f, i);
        bind_text(&f, scen->files[i].role, -1);
        bind_text(&f, scen->files[i].path, -1);
        bind_text(&f, hex[i], SHA256_HEX_CHARS);
        rc = store_step_done(s, st, f.rc, "recording the scenario's files", e);
        if (rc != 0)
            goto fail;
    }
    (void)sqlite3_finalize(st);
    st = NULL;

    rc = store_prepare(s, "INSERT INTO policy (position, name) VALUES (?, ?)",
                       &st, "recording the policies", e);
    if (rc != 0)
        goto fail;
    for (int i = 0; i < scen->n_policies; i++) {
        binder p = {st, 0, SQLITE_OK};
        bind_i64(&p, i);
        bind_text(&p, scen->policies[i], -1);
        rc = store_step_done(s, st, p.rc, "recording the policies", e);
        if (rc != 0)
            goto fail;
    }
fail:
    (void)sqlite3_finalize(st);
    return rc;
}

static int different_scenario(const store_t *s, err_t *e, const char *why)
{
    return err_set(e, ERR_INPUT,
                   "%s: the database holds a different scenario (%s); "
                   "expected the same file or a new -o",
                   s->path, why);
}

/* Checks that an existing database holds this scenario: same text, same
 * policies in the same order, same files by role with the same digests
 * (a changed model or node file changes the results as surely as a
 * changed scenario). Paths may differ: the same files may be reached from
 * another directory. */
static int check_scenario(store_t *s, const store_scenario *scen,
                          char (*hex)[SHA256_HEX_CHARS + 1], err_t *e)
{
    sqlite3_stmt *st = NULL;
    int rc = store_prepare(s, "SELECT text FROM scenario WHERE id = 1", &st,
                           "reading the stored scenario", e);
    if (rc != 0)
        goto fail;
    int step = sqlite3_step(st);
    if (step != SQLITE_ROW) {
        rc = step == SQLITE_DONE
                 ? err_set(e, ERR_INPUT,
                           "%s: a moesim database without its scenario row; "
                           "expected a complete database or a new -o",
                           s->path)
                 : store_db_fail(s, e, "reading the stored scenario");
        goto fail;
    }
    const char *text = (const char *)sqlite3_column_text(st, 0);
    if (!text || strcmp(text, scen->text) != 0) {
        rc = different_scenario(s, e, "its scenario text differs");
        goto fail;
    }
    (void)sqlite3_finalize(st);
    st = NULL;

    rc = store_prepare(s, "SELECT name FROM policy ORDER BY position", &st,
                       "reading the stored policies", e);
    if (rc != 0)
        goto fail;
    int i = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *name = (const char *)sqlite3_column_text(st, 0);
        if (i >= scen->n_policies || !name ||
            strcmp(name, scen->policies[i]) != 0)
            break;
        i++;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        rc = store_db_fail(s, e, "reading the stored policies");
        goto fail;
    }
    if (step == SQLITE_ROW || i != scen->n_policies) {
        rc = different_scenario(s, e, "its policies differ");
        goto fail;
    }
    (void)sqlite3_finalize(st);
    st = NULL;

    rc = store_prepare(s,
                       "SELECT role, path, sha256 FROM scenario_file"
                       " ORDER BY position",
                       &st, "reading the stored file digests", e);
    if (rc != 0)
        goto fail;
    i = 0;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *role = (const char *)sqlite3_column_text(st, 0);
        const char *path = (const char *)sqlite3_column_text(st, 1);
        const char *sha = (const char *)sqlite3_column_text(st, 2);
        if (i >= scen->n_files || !role || !sha ||
            strcmp(role, scen->files[i].role) != 0) {
            rc = different_scenario(s, e, "its list of files differs");
            goto fail;
        }
        if (strcmp(sha, hex[i]) != 0) {
            rc = err_set(e, ERR_INPUT,
                         "%s: the %s file %s has changed since the database "
                         "was written (stored as %s, sha256 %.12s..., now "
                         "%.12s...); expected the same file or a new -o",
                         s->path, role, scen->files[i].path,
                         path ? path : "?", sha, hex[i]);
            goto fail;
        }
        i++;
    }
    if (step != SQLITE_DONE) {
        rc = store_db_fail(s, e, "reading the stored file digests");
        goto fail;
    }
    if (i != scen->n_files) {
        rc = different_scenario(s, e, "its list of files differs");
        goto fail;
    }
    rc = 0;
fail:
    (void)sqlite3_finalize(st);
    return rc;
}

/* Inside the write transaction: creates the schema in an empty database
 * or checks an existing one. Under the lock, so two processes opening the
 * same new file cannot both create it. */
static int create_or_check(store_t *s, const store_scenario *scen,
                           char (*hex)[SHA256_HEX_CHARS + 1], err_t *e)
{
    sqlite3_int64 app = 0, version = 0, objects = 0;
    int rc;
    if ((rc = query_int(s, "PRAGMA application_id", &app, e)) != 0 ||
        (rc = query_int(s, "PRAGMA user_version", &version, e)) != 0 ||
        (rc = query_int(s, "SELECT count(*) FROM sqlite_master", &objects,
                        e)) != 0)
        return rc;
    if (app == 0 && version == 0 && objects == 0)
        return create_schema(s, scen, hex, e);
    if (app != STORE_APPLICATION_ID)
        return err_set(e, ERR_INPUT,
                       "%s: not a moesim results database (SQLite "
                       "application_id %lld); expected a moesim database "
                       "or a new -o",
                       s->path, (long long)app);
    if (version != STORE_SCHEMA_VERSION)
        return err_set(e, ERR_INPUT,
                       "%s: results schema version %lld, this moesim "
                       "reads version %d; expected a new -o",
                       s->path, (long long)version, STORE_SCHEMA_VERSION);
    return check_scenario(s, scen, hex, e);
}

static void check_scenario_args(const store_scenario *scen)
{
    static const char *const roles[] = {"scenario", "model", "node",
                                        "device"};
    MOESIM_ASSERT(scen->name && scen->text && scen->moesim_version &&
                  scen->created_at);
    MOESIM_ASSERT(scen->phase && (strcmp(scen->phase, "train") == 0 ||
                                  strcmp(scen->phase, "prefill") == 0 ||
                                  strcmp(scen->phase, "decode") == 0));
    MOESIM_ASSERT(scen->n_policies >= 1 && scen->policies);
    for (int i = 0; i < scen->n_policies; i++)
        MOESIM_ASSERT(scen->policies[i]);
    MOESIM_ASSERT(scen->n_files >= 0 && (scen->files || scen->n_files == 0));
    for (int i = 0; i < scen->n_files; i++) {
        int known = 0;
        for (size_t r = 0; r < sizeof roles / sizeof roles[0]; r++)
            known |= scen->files[i].role &&
                     strcmp(scen->files[i].role, roles[r]) == 0;
        MOESIM_ASSERT(known && scen->files[i].path);
    }
}

int store_open(store_t **out, const char *path, const store_scenario *scen,
               err_t *e)
{
    int rc = 0;
    store_t *s = NULL;
    char (*hex)[SHA256_HEX_CHARS + 1] = NULL;
    *out = NULL;
    check_scenario_args(scen);

    /* Digests first: reading the files needs no database lock. */
    if (scen->n_files > 0) {
        hex = calloc((size_t)scen->n_files, sizeof *hex);
        if (!hex) {
            rc = err_set(e, ERR_NOMEM, "%s: out of memory", path);
            goto fail;
        }
    }
    for (int i = 0; i < scen->n_files; i++) {
        rc = sha256_file(scen->files[i].path, hex[i], e);
        if (rc != 0)
            goto fail;
    }

    s = calloc(1, sizeof *s);
    if (!s || !(s->path = strdup(path)) ||
        !(s->moesim_version = strdup(scen->moesim_version))) {
        rc = err_set(e, ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    /* On failure open_v2 may still hand back a handle that carries the
     * message; store_close releases it. NOMUTEX: a store is used from one
     * thread (store.h), and SQLite's per-call mutex was about 6% of the
     * time of a run's inserts. */
    if (sqlite3_open_v2(path, &s->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE |
                            SQLITE_OPEN_NOMUTEX,
                        NULL) != SQLITE_OK) {
        rc = s->db ? store_db_fail(s, e, "cannot open the results database")
                   : err_set(e, ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if (sqlite3_busy_timeout(s->db, BUSY_TIMEOUT_MS) != SQLITE_OK) {
        rc = store_db_fail(s, e, "setting the busy timeout");
        goto fail;
    }
    /* The first read of the file: a file that is not SQLite at all is the
     * user's mistake (a wrong -o), not an I/O failure. */
    sqlite3_int64 ignored;
    if ((rc = query_int(s, "PRAGMA schema_version", &ignored, e)) != 0) {
        if (sqlite3_errcode(s->db) == SQLITE_NOTADB)
            rc = err_set(e, ERR_INPUT,
                         "%s: not an SQLite database; expected a moesim "
                         "results database or a new -o",
                         path);
        goto fail;
    }
    /* WAL: moesim compare (or a user's sqlite3) can read while a run
     * writes. NORMAL sync is durable against a crash of the process, the
     * case --resume is for. */
    if ((rc = store_exec(s, "PRAGMA journal_mode = WAL", "switching to WAL",
                         e)) ||
        (rc = store_exec(s, "PRAGMA synchronous = NORMAL",
                         "setting synchronous", e)) ||
        (rc = store_exec(s, "PRAGMA foreign_keys = ON",
                         "enabling foreign keys", e)))
        goto fail;

    if ((rc = store_exec(s, "BEGIN IMMEDIATE", "locking the database", e)) != 0)
        goto fail;
    rc = create_or_check(s, scen, hex, e);
    if (rc == 0)
        rc = store_exec(s, "COMMIT", "writing the scenario", e);
    if (rc != 0) {
        store_rollback_quietly(s);
        goto fail;
    }

    for (int k = 0; k < INS_COUNT; k++) {
        rc = store_prepare(s, store_insert_sql[k], &s->ins[k],
                           "preparing the inserts", e);
        if (rc != 0)
            goto fail;
    }
    free(hex);
    *out = s;
    return 0;
fail:
    store_close(s);
    free(hex);
    return rc;
}

/* ---- closing ------------------------------------------------------- */

void store_close(store_t *s)
{
    if (!s)
        return;
    if (s->run_id != 0) {
        store_rollback_quietly(s);
        /* best effort, see store.h; nobody is left to read the message */
        (void)store_finish_run(s, "failed", NULL, NAN,
                               "closed before the run ended", NULL);
    }
    for (int k = 0; k < INS_COUNT; k++)
        (void)sqlite3_finalize(s->ins[k]);
    /* Every statement is finalized above or at its own call site, so
     * close cannot find one still open (SQLITE_BUSY): that would be a bug
     * here. */
    int rc = sqlite3_close(s->db);
    MOESIM_ASSERT(rc == SQLITE_OK);
    free(s->moesim_version);
    free(s->path);
    free(s);
}

const char *store_path(const store_t *s) { return s->path; }

const char *store_schema_sql(void) { return schema_sql; }
