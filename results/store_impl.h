/*
 * store_impl: what the files of the results store share, not part of its
 * interface (results/store.h): the store itself, its prepared row inserts,
 * the binding of a row's columns and the helpers one file calls in another.
 *
 *   store.c       store_open, store_close: the schema text, creating a new
 *                 database or checking an existing one; the SQLite helpers
 *   store_run.c   store_run_is_done, store_run_begin (with the resume of a
 *                 run that never finished), store_run_end, store_run_abort
 *   store_sink.c  store_sink: the row inserts, one callback per table
 *
 * Comments on the functions are at their definitions.
 */
#ifndef MOESIM_RESULTS_STORE_IMPL_H
#define MOESIM_RESULTS_STORE_IMPL_H

#include <sqlite3.h>

#include "common/err.h"
#include "results/store.h"

#define RUN_LABEL_MAX 160

/* The row tables, one prepared INSERT each, reused for every row. */
enum { INS_LAYER, INS_DEVICE, INS_STEP, INS_EXPERT, INS_LINK, INS_SUMMARY,
       INS_COUNT };

struct store {
    sqlite3 *db;
    char *path;           /* owned copy */
    char *moesim_version; /* owned copy, stamped on each run */
    sqlite3_stmt *ins[INS_COUNT];
    /* The open run; run_id 0 when none (SQLite never hands out rowid 0
     * for an INTEGER PRIMARY KEY it chooses itself). */
    sqlite3_int64 run_id;
    int run_has_summary;
    char run_label[RUN_LABEL_MAX]; /* "policy 'topk' seed 3", for messages */
    err_t *sink_err;      /* borrowed from store_sink's caller */
};

/* ---- binding a row ------------------------------------------------------ */

/* Inline: every row insert calls these once per column. */

/* Binds the columns of one row in order, keeping the first failure, so a
 * row insert reads as a list of its fields and checks every call once. */
typedef struct binder {
    sqlite3_stmt *st;
    int col;
    int rc;
} binder;

static inline void bind_i64(binder *b, sqlite3_int64 v)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_int64(b->st, ++b->col, v);
}

/* NaN is stored as NULL (SQLite's own rule for bound doubles), which is
 * what a reader should see for "not measured". */
static inline void bind_f64(binder *b, double v)
{
    if (b->rc == SQLITE_OK)
        b->rc = sqlite3_bind_double(b->st, ++b->col, v);
}

/* v may be NULL (stored as NULL). n < 0: up to the NUL. Copied, so the
 * caller's buffer may change after the call. */
static inline void bind_text(binder *b, const char *v, int n)
{
    if (b->rc != SQLITE_OK)
        return;
    ++b->col;
    b->rc = v ? sqlite3_bind_text(b->st, b->col, v, n, SQLITE_TRANSIENT)
              : sqlite3_bind_null(b->st, b->col);
}

/* ---- store.c: the SQLite helpers -------------------------------------- */

int store_db_fail(const store_t *s, err_t *e, const char *what);
int store_exec(store_t *s, const char *sql, const char *what, err_t *e);
int store_prepare(store_t *s, const char *sql, sqlite3_stmt **st,
                  const char *what, err_t *e);
void store_rollback_quietly(store_t *s);
int store_step_reset(store_t *s, sqlite3_stmt *st, int bind_rc, char *msg,
                     size_t n);
int store_step_done(store_t *s, sqlite3_stmt *st, int bind_rc,
                    const char *what, err_t *e);

/* ---- store_run.c ------------------------------------------------------- */

int store_finish_run(store_t *s, const char *status, const char *finished_at,
                     double wall_s, const char *error, err_t *e);

/* ---- store_sink.c ------------------------------------------------------ */

extern const char *const store_insert_sql[INS_COUNT];

#endif
