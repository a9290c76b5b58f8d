/*
 * store: the SQLite results database of one scenario run (prefix store_).
 *
 * One database holds one scenario (its text, the digests of its files, its
 * policies in file order) and the runs of it: one run per (policy, seed),
 * each with its per-layer, per-device, per-step, per-expert and per-link
 * rows and one summary row. Schema: results/schema.sql, documented column
 * by column in results/SCHEMA.md.
 *
 * Life of a run, and what a reader sees at each point:
 *
 *   store_run_begin   inserts the run row with status 'running' and COMMITs
 *                     it, so even a run killed with -9 is visible as not
 *                     done; then opens a transaction for the run's rows.
 *   store_sink        the metrics_sink whose callbacks insert those rows
 *                     (uncommitted: no other connection sees them yet).
 *   store_run_end     'done' (or 'failed' keeping the rows): sets status,
 *                     finished_at, wall_s and COMMITs rows and status at once.
 *   store_run_abort   'interrupted' or 'failed': ROLLS BACK the rows, then
 *                     records the status and the reason. No row of the
 *                     run survives, so half a run is never taken for whole.
 *
 * Resume: store_open on an existing database refuses a different scenario
 * text (or changed model/node/device files); store_run_is_done says which
 * (policy, seed) to skip; store_run_begin on a (policy, seed) that is not
 * done ('running' from a killed process, 'interrupted', 'failed') deletes
 * its old run row and rows first.
 *
 * Connection: WAL journal (readers such as moesim compare never block the
 * writer), foreign_keys=ON, synchronous=NORMAL (a committed run survives
 * a crash of the process; a power loss may lose the last commits, which
 * --resume then redoes). Row inserts reuse prepared statements inside one
 * transaction per run.
 *
 * Errors: 0 or a negative ERR_* code; the message names the database path
 * and keeps sqlite3_errmsg's text. ERR_INPUT for a database that belongs
 * to another scenario or is not a moesim database, ERR_IO for SQLite
 * failures. Passing a run call out of order (a row with no run open, two
 * run_begin in a row) is a broken invariant and aborts (MOESIM_ASSERT).
 * Not thread-safe; one store per process and file. Nothing here is
 * async-signal-safe: a SIGINT handler sets a flag, and the driver calls
 * store_run_abort from ordinary code once the replay has returned.
 */
#ifndef MOESIM_RESULTS_STORE_H
#define MOESIM_RESULTS_STORE_H

#include "common/err.h"
#include "sim/metrics.h"

/* The stamp of a results database (PRAGMA application_id and
 * user_version, set by results/schema.sql): readers such as compare refuse
 * a file without it. */
#define STORE_APPLICATION_ID 1297040723 /* 0x4D4F4553, "MOES" */
#define STORE_SCHEMA_VERSION 1

typedef struct store store_t;

/* A file the scenario was built from. role is one of "scenario", "model",
 * "node", "device"; the store reads path and records the SHA-256 of its
 * bytes. Both strings borrowed for the call. */
typedef struct store_file {
    const char *role;
    const char *path;
} store_file;

/* What store_open records about the scenario (and, on an existing
 * database, checks). Every pointer is borrowed for the call. */
typedef struct store_scenario {
    const char *name;
    const char *phase;          /* "train", "prefill" or "decode" */
    const char *text;           /* the scenario file's full text */
    const char *moesim_version; /* e.g. "0.1.0"; also stamped on each run */
    const char *created_at;     /* the caller's clock, e.g. ISO 8601 UTC;
                                   taken as given so tests can pin it */
    const char *const *policies; /* policy names in scenario file order */
    int n_policies;              /* 1.. */
    const store_file *files;     /* may be NULL when n_files is 0 */
    int n_files;
} store_scenario;

/* Opens the database at path, creating it (and its schema and scenario
 * rows, in one transaction) when it does not exist or is empty. An existing
 * database must be a moesim database of this schema version whose stored
 * scenario text equals scen->text and whose files (by role, in order) have
 * the same digests; otherwise ERR_INPUT ("the database holds a different
 * scenario; expected the same file or a new -o"). Runs already stored are
 * kept. On success *out is a new store the caller owns (store_close). */
int store_open(store_t **out, const char *path, const store_scenario *scen,
               err_t *e);

/* Closes the database. A run still open is rolled back and marked 'failed'
 * ("closed before the run ended"), best effort: a driver that wants the
 * status right calls store_run_end or store_run_abort first. NULL is a
 * no-op. */
void store_close(store_t *s);

/* The schema store_open writes into a new database: the text of
 * results/schema.sql, embedded in the binary (static storage). */
const char *store_schema_sql(void);

/* The path given to store_open (owned by the store). */
const char *store_path(const store_t *s);

/* *done = 1 if the run (policy, seed) is stored with status 'done', else 0
 * (absent, 'running', 'interrupted' or 'failed'). */
int store_run_is_done(store_t *s, const char *policy, unsigned long seed,
                      int *done, err_t *e);

/* Starts run (its strings borrowed for the call). policy must be one of
 * the scenario's; a stored run of the same (policy, seed) that is not done
 * is deleted with its rows first; one that is done is an error (ERR_INPUT:
 * the driver should have skipped it). started_at is the caller's clock,
 * stored as given. No run may be open already. */
int store_run_begin(store_t *s, const metrics_run *run,
                    const char *started_at, err_t *e);

/* The sink that inserts rows for the open run. Callbacks called with no
 * run open abort. A failing callback returns ERR_IO and writes its message
 * into e, which is borrowed and must outlive the sink's use (pass the
 * err_t the replay writes into). The sink stays valid until store_close. */
metrics_sink store_sink(store_t *s, err_t *e);

/* Ends the open run and COMMITs. status "done" requires that the sink
 * received the summary row (ERR_SIM otherwise, and the run stays open);
 * status "failed" keeps whatever rows were written, for diagnosis, with
 * error (may be NULL) as the reason. finished_at: the caller's clock;
 * wall_s: the run's wall-clock seconds. */
int store_run_end(store_t *s, const char *status, const char *finished_at,
                  double wall_s, const char *error, err_t *e);

/* Abandons the open run: ROLLS BACK its rows, then records status
 * ("interrupted" or "failed"), finished_at, wall_s and error (may be NULL)
 * on its run row and commits that. */
int store_run_abort(store_t *s, const char *status, const char *finished_at,
                    double wall_s, const char *error, err_t *e);

#endif
