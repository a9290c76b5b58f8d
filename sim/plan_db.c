/*
 * plan_db: the plan in SQLite (plan_write_db): the tables plan_meta and
 * plan_candidate (sim/PLAN.md), one plan per transaction.
 */
#include "sim/plan.h"

#include <math.h>
#include <sqlite3.h>

#include "sim/plan_impl.h"

/* ------------------------------------------------------------------ */
/* SQLite                                                              */
/* ------------------------------------------------------------------ */

static const char plan_schema[] =
    "CREATE TABLE IF NOT EXISTS plan_meta (\n"
    "    plan_id              INTEGER PRIMARY KEY,\n"
    "    scenario_name        TEXT NOT NULL,\n"
    "    scenario_path        TEXT NOT NULL,\n"
    "    model_name           TEXT NOT NULL,\n"
    "    target               TEXT NOT NULL\n"
    "                         CHECK (target IN ('train', 'prefill', "
    "'decode')),\n"
    "    output_tokens_per_s  REAL,\n"
    "    tpot_s_max           REAL,\n"
    "    input_tokens_per_s   REAL,\n"
    "    ttft_s_max           REAL,\n"
    "    train_tokens         REAL,\n"
    "    train_days_max       REAL,\n"
    "    context_len          INTEGER,\n"
    "    seq_len              INTEGER,\n"
    "    batch_min            INTEGER NOT NULL,\n"
    "    batch_max            INTEGER NOT NULL,\n"
    "    plan_steps           INTEGER NOT NULL,\n"
    "    seed                 INTEGER NOT NULL,\n"
    "    rank_by              TEXT NOT NULL,\n"
    "    candidates           INTEGER NOT NULL,\n"
    "    evaluated            INTEGER NOT NULL,\n"
    "    feasible             INTEGER NOT NULL,\n"
    "    recommended          INTEGER,\n"
    "    workers              INTEGER NOT NULL,\n"
    "    wall_s               REAL,\n"
    "    created_at           TEXT\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS plan_candidate (\n"
    "    plan_id                  INTEGER NOT NULL\n"
    "                             REFERENCES plan_meta (plan_id) ON DELETE "
    "CASCADE,\n"
    "    candidate                INTEGER NOT NULL,\n"
    "    node_file                TEXT NOT NULL,\n"
    "    node_name                TEXT NOT NULL,\n"
    "    device_name              TEXT NOT NULL,\n"
    "    nodes                    INTEGER NOT NULL,\n"
    "    devices                  INTEGER NOT NULL,\n"
    "    policy                   TEXT NOT NULL,\n"
    "    router                   TEXT NOT NULL,\n"
    "    placement                TEXT NOT NULL,\n"
    "    ep_size                  INTEGER NOT NULL,\n"
    "    attn_dp_size             INTEGER NOT NULL,\n"
    "    status                   TEXT NOT NULL CHECK (status IN\n"
    "                             ('feasible', 'no-fit', 'latency', "
    "'too-slow',\n"
    "                              'invalid', 'unsupported', 'error')),\n"
    "    feasible                 INTEGER NOT NULL CHECK (feasible IN (0, "
    "1)),\n"
    "    reason                   TEXT,\n"
    "    batch_per_device         INTEGER,\n"
    "    batch_memory_max         INTEGER,\n"
    "    limited_by               TEXT,\n"
    "    replicas                 INTEGER,\n"
    "    devices_total            INTEGER,\n"
    "    tpot_s                   REAL,\n"
    "    ttft_s                   REAL,\n"
    "    step_s                   REAL,\n"
    "    tokens_per_s             REAL,\n"
    "    tokens_per_s_per_device  REAL,\n"
    "    tokens_per_s_total       REAL,\n"
    "    mfu                      REAL,\n"
    "    train_days               REAL,\n"
    "    power_w                  REAL,\n"
    "    price_per_hour_usd       REAL,\n"
    "    hbm_needed_bytes         REAL,\n"
    "    hbm_available_bytes      REAL,\n"
    "    probes                   INTEGER NOT NULL,\n"
    "    pareto                   INTEGER NOT NULL CHECK (pareto IN (0, 1)),\n"
    "    rank                     INTEGER,\n"
    "    PRIMARY KEY (plan_id, candidate)\n"
    ") WITHOUT ROWID;\n";

static int db_fail(sqlite3 *db, const char *path, const char *what,
                   err_t *e)
{
    return err_set(e, ERR_IO, "%s: %s: %s", path, what,
                   db ? sqlite3_errmsg(db) : "cannot allocate a connection");
}

/* Binds v, or NULL when known is 0. */
static int bind_real(sqlite3_stmt *st, int i, double v, int known)
{
    return known && isfinite(v) ? sqlite3_bind_double(st, i, v)
                                : sqlite3_bind_null(st, i);
}

static int bind_int(sqlite3_stmt *st, int i, long v, int known)
{
    return known ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
}

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT)
             : sqlite3_bind_null(st, i);
}

static int insert_meta(sqlite3 *db, const scenario *base,
                       const planspec *spec, const plan_result *r,
                       const plan_opts *o, long long *plan_id)
{
    static const char sql[] =
        "INSERT INTO plan_meta (scenario_name, scenario_path, model_name, "
        "target, output_tokens_per_s, tpot_s_max, input_tokens_per_s, "
        "ttft_s_max, train_tokens, train_days_max, context_len, seq_len, "
        "batch_min, batch_max, plan_steps, seed, rank_by, candidates, "
        "evaluated, feasible, recommended, workers, wall_s, created_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int dec = spec->target == PLANSPEC_DECODE;
    int pre = spec->target == PLANSPEC_PREFILL;
    int tr = spec->target == PLANSPEC_TRAIN;
    int i = 1;
    bind_text(st, i++, base->name);
    bind_text(st, i++, base->path);
    bind_text(st, i++, base->model.name);
    bind_text(st, i++, planspec_target_names[spec->target]);
    bind_real(st, i++, spec->output_tokens_per_s, dec);
    bind_real(st, i++, spec->tpot_s_max, dec);
    bind_real(st, i++, spec->input_tokens_per_s, pre);
    bind_real(st, i++, spec->ttft_s_max, pre);
    bind_real(st, i++, spec->train_tokens, tr);
    bind_real(st, i++, spec->train_days_max, tr);
    bind_int(st, i++, base->context_len, dec);
    bind_int(st, i++, base->seq_len, !dec);
    bind_int(st, i++, spec->batch_min, 1);
    bind_int(st, i++, spec->batch_max, 1);
    bind_int(st, i++, spec->plan_steps, 1);
    bind_int(st, i++, (long)spec->seed, 1);
    bind_text(st, i++, planspec_rank_names[spec->rank_by]);
    bind_int(st, i++, r->n, 1);
    bind_int(st, i++, r->n_evaluated, 1);
    bind_int(st, i++, r->n_feasible, 1);
    bind_int(st, i++, r->best, r->best >= 0);
    bind_int(st, i++, r->workers, 1);
    bind_real(st, i++, o->reproducible ? 0.0 : r->wall_s, 1);
    bind_text(st, i++, o->created_at);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    *plan_id = sqlite3_last_insert_rowid(db);
    return rc;
}

static int insert_candidates(sqlite3 *db, const scenario *base,
                             const planspec *spec, const plan_result *r,
                             long long plan_id)
{
    static const char sql[] =
        "INSERT INTO plan_candidate (plan_id, candidate, node_file, "
        "node_name, device_name, nodes, devices, policy, router, placement, "
        "ep_size, attn_dp_size, status, feasible, reason, batch_per_device, "
        "batch_memory_max, limited_by, replicas, devices_total, tpot_s, "
        "ttft_s, step_s, tokens_per_s, tokens_per_s_per_device, "
        "tokens_per_s_total, mfu, train_days, power_w, price_per_hour_usd, "
        "hbm_needed_bytes, hbm_available_bytes, probes, pareto, rank) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
        "?,?,?,?,?)";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = 0;
    for (int k = 0; k < r->n && rc == 0; k++) {
        const plan_candidate *x = &r->cands[k];
        const scen_policy *p = &base->policies[x->policy];
        const hw_node *nd = &spec->node_files[x->node_file];
        /* What was measured: candidates whose simulation ran have
         * figures, the infeasible ones too (at the batch that decided). */
        int ran = x->status == PLAN_FEASIBLE || x->status == PLAN_LATENCY ||
                  x->status == PLAN_TOO_SLOW;
        int ok = x->status == PLAN_FEASIBLE;
        int sized = ok || x->status == PLAN_TOO_SLOW;
        int i = 1;
        bind_int(st, i++, plan_id, 1);
        bind_int(st, i++, x->index, 1);
        bind_text(st, i++, spec->node_refs[x->node_file]);
        bind_text(st, i++, nd->name);
        bind_text(st, i++, nd->device.name);
        bind_int(st, i++, x->nodes, 1);
        bind_int(st, i++, x->devices, 1);
        bind_text(st, i++, p->name);
        bind_text(st, i++, scen_router_names[p->router]);
        bind_text(st, i++, scen_placement_names[p->placement]);
        bind_int(st, i++, x->ep_size, 1);
        bind_int(st, i++, x->attn_dp_size, 1);
        bind_text(st, i++, plan_status_names[x->status]);
        bind_int(st, i++, ok, 1);
        bind_text(st, i++, ok ? NULL : x->reason);
        bind_int(st, i++, x->batch_per_device, x->batch_per_device > 0);
        bind_int(st, i++, x->batch_memory_max, x->batch_memory_max > 0);
        bind_text(st, i++, x->limited_by != PLAN_LIMIT_NONE
                               ? plan_limit_names[x->limited_by]
                               : NULL);
        bind_int(st, i++, x->replicas, x->replicas > 0);
        bind_int(st, i++, x->devices_total, x->devices_total > 0);
        bind_real(st, i++, x->tpot_s, ran && spec->target == PLANSPEC_DECODE);
        bind_real(st, i++, x->ttft_s,
                  ran && spec->target == PLANSPEC_PREFILL);
        bind_real(st, i++, x->step_s, ran);
        bind_real(st, i++, x->tokens_per_s, ran);
        bind_real(st, i++, x->tokens_per_s_per_device, ran);
        bind_real(st, i++, x->tokens_per_s_total, sized);
        bind_real(st, i++, x->mfu, ran);
        bind_real(st, i++, x->train_days,
                  ran && spec->target == PLANSPEC_TRAIN);
        bind_real(st, i++, x->power_w, sized && x->power_w > 0);
        bind_real(st, i++, x->price_per_hour_usd,
                  sized && x->price_per_hour_usd > 0);
        bind_real(st, i++, x->hbm_needed_bytes, x->hbm_available_bytes > 0);
        bind_real(st, i++, x->hbm_available_bytes,
                  x->hbm_available_bytes > 0);
        bind_int(st, i++, x->probes, 1);
        bind_int(st, i++, x->pareto, 1);
        bind_int(st, i++, x->rank, x->rank > 0);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = -1;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Creates the plan tables if missing and writes one plan in a single
 * transaction: a reader sees the whole plan or none of it. */
int plan_write_db(const char *path, const scenario *base,
                  const planspec *spec, const plan_result *r,
                  const plan_opts *o, err_t *e)
{
    sqlite3 *db = NULL;
    int rc = 0;
    long long plan_id = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK) {
        rc = db_fail(db, path, "cannot open", e);
        goto fail;
    }
    sqlite3_busy_timeout(db, 10000); /* a concurrent moesim run may write */
    if (sqlite3_exec(db, "PRAGMA foreign_keys = ON; BEGIN IMMEDIATE", NULL,
                     NULL, NULL) != SQLITE_OK) {
        rc = db_fail(db, path, "cannot start a transaction", e);
        goto fail;
    }
    if (sqlite3_exec(db, plan_schema, NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_fail(db, path, "cannot create the plan tables", e);
        goto rollback;
    }
    if (insert_meta(db, base, spec, r, o, &plan_id) != 0 ||
        insert_candidates(db, base, spec, r, plan_id) != 0) {
        rc = db_fail(db, path, "cannot insert the plan", e);
        goto rollback;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_fail(db, path, "cannot commit the plan", e);
        goto rollback;
    }
    goto fail; /* done: only the close remains */
rollback:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
fail:
    sqlite3_close(db); /* NULL is a no-op */
    return rc;
}
