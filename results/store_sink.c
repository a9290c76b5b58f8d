/*
 * store_sink: the metrics sink of the results database (store_sink): one
 * callback per row table, each binding its row to the table's prepared
 * INSERT inside the open run's transaction.
 */
#include "results/store.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <sqlite3.h>

#include "results/store_impl.h"

/* The INSERT of each row table, in INS_ order (store_open prepares them),
 * and the table's name for messages. */
const char *const store_insert_sql[INS_COUNT] = {
    "INSERT INTO layer_step (run_id, step, layer, moe, tokens, token_experts,"
    " dropped, imbalance_score, device_max_over_mean, expert_max_over_mean,"
    " attention_s, dispatch_s, expert_compute_max_s, expert_compute_mean_s,"
    " combine_s, idle_mean_s, layer_s, bytes_intra_node, bytes_inter_node,"
    " busiest_link_utilization, busiest_link)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "INSERT INTO device_step (run_id, step, device, token_experts, compute_s,"
    " comm_s, idle_s) VALUES (?,?,?,?,?,?,?)",
    "INSERT INTO step (run_id, step, step_s, tokens, tokens_per_s,"
    " tokens_per_s_per_device, compute_s, a2a_s, idle_s, other_s,"
    " bytes_intra_node, bytes_inter_node, mfu)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
    "INSERT INTO expert_load (run_id, layer, expert, load, replicas)"
    " VALUES (?,?,?,?,?)",
    "INSERT INTO link (run_id, name, bytes, busy_s, utilization)"
    " VALUES (?,?,?,?,?)",
    "INSERT INTO summary (run_id, steps, step_s, tokens_per_s,"
    " tokens_per_s_per_device, tpot_s, ttft_s, imbalance_score,"
    " device_max_over_mean, expert_max_over_mean, a2a_share, idle_share,"
    " bytes_inter_node_per_step, bytes_intra_node_per_step, dropped_fraction,"
    " mfu, hbm_needed_bytes, hbm_available_bytes, fits)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)"};

static const char *const insert_table[INS_COUNT] = {
    "layer_step", "device_step", "step", "expert_load", "link", "summary"};

/* ---- the sink ------------------------------------------------------ */

/* Steps table k's bound insert and resets it for the next row. 0, or
 * ERR_IO with SQLite's message copied into msg before the reset. */
static int insert_step(store_t *s, int k, int bind_rc, char *msg, size_t n)
{
    int rc = bind_rc;
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(s->ins[k]);
        if (rc == SQLITE_DONE)
            rc = SQLITE_OK;
    }
    if (rc != SQLITE_OK)
        snprintf(msg, n, "%s", sqlite3_errmsg(s->db));
    /* reset repeats a failed step's code; the message is already kept */
    (void)sqlite3_reset(s->ins[k]);
    return rc == SQLITE_OK ? 0 : ERR_IO;
}

/* The message of a failed row insert: table, row, run, SQLite's reason. */
static int insert_failed(store_t *s, int k, const char *msg,
                         const char *row_fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int insert_failed(store_t *s, int k, const char *msg,
                         const char *row_fmt, ...)
{
    char row[128];
    va_list ap;
    va_start(ap, row_fmt);
    vsnprintf(row, sizeof row, row_fmt, ap);
    va_end(ap);
    return err_set(s->sink_err, ERR_IO, "%s: inserting the %s row (%s) of %s: %s",
                   s->path, insert_table[k], row, s->run_label, msg);
}

static binder start_row(store_t *s, int k)
{
    MOESIM_ASSERT(s->run_id != 0); /* rows before store_run_begin */
    binder b = {s->ins[k], 0, SQLITE_OK};
    bind_i64(&b, s->run_id);
    return b;
}

static int sink_layer(void *ctx, const metrics_layer *r)
{
    store_t *s = ctx;
    char msg[256];
    binder b = start_row(s, INS_LAYER);
    bind_i64(&b, r->step);
    bind_i64(&b, r->layer);
    bind_i64(&b, r->moe);
    bind_i64(&b, r->tokens);
    bind_i64(&b, r->token_experts);
    bind_i64(&b, r->dropped);
    bind_f64(&b, r->imbalance_score);
    bind_f64(&b, r->device_max_over_mean);
    bind_f64(&b, r->expert_max_over_mean);
    bind_f64(&b, r->attention_s);
    bind_f64(&b, r->dispatch_s);
    bind_f64(&b, r->expert_compute_max_s);
    bind_f64(&b, r->expert_compute_mean_s);
    bind_f64(&b, r->combine_s);
    bind_f64(&b, r->idle_mean_s);
    bind_f64(&b, r->layer_s);
    bind_f64(&b, r->bytes_intra_node);
    bind_f64(&b, r->bytes_inter_node);
    bind_f64(&b, r->busiest_link_utilization);
    bind_text(&b, r->busiest_link,
              (int)strnlen(r->busiest_link, METRICS_LINK_NAME_MAX));
    if (insert_step(s, INS_LAYER, b.rc, msg, sizeof msg) == 0)
        return 0;
    return insert_failed(s, INS_LAYER, msg, "step %d, layer %d", r->step,
                         r->layer);
}

static int sink_device(void *ctx, const metrics_device *r)
{
    store_t *s = ctx;
    char msg[256];
    binder b = start_row(s, INS_DEVICE);
    bind_i64(&b, r->step);
    bind_i64(&b, r->device);
    bind_i64(&b, r->token_experts);
    bind_f64(&b, r->compute_s);
    bind_f64(&b, r->comm_s);
    bind_f64(&b, r->idle_s);
    if (insert_step(s, INS_DEVICE, b.rc, msg, sizeof msg) == 0)
        return 0;
    return insert_failed(s, INS_DEVICE, msg, "step %d, device %d", r->step,
                         r->device);
}

static int sink_step(void *ctx, const metrics_step *r)
{
    store_t *s = ctx;
    char msg[256];
    binder b = start_row(s, INS_STEP);
    bind_i64(&b, r->step);
    bind_f64(&b, r->step_s);
    bind_i64(&b, r->tokens);
    bind_f64(&b, r->tokens_per_s);
    bind_f64(&b, r->tokens_per_s_per_device);
    bind_f64(&b, r->compute_s);
    bind_f64(&b, r->a2a_s);
    bind_f64(&b, r->idle_s);
    bind_f64(&b, r->other_s);
    bind_f64(&b, r->bytes_intra_node);
    bind_f64(&b, r->bytes_inter_node);
    bind_f64(&b, r->mfu);
    if (insert_step(s, INS_STEP, b.rc, msg, sizeof msg) == 0)
        return 0;
    return insert_failed(s, INS_STEP, msg, "step %d", r->step);
}

static int sink_expert(void *ctx, const metrics_expert *r)
{
    store_t *s = ctx;
    char msg[256];
    binder b = start_row(s, INS_EXPERT);
    bind_i64(&b, r->layer);
    bind_i64(&b, r->expert);
    bind_i64(&b, r->load);
    bind_i64(&b, r->replicas);
    if (insert_step(s, INS_EXPERT, b.rc, msg, sizeof msg) == 0)
        return 0;
    return insert_failed(s, INS_EXPERT, msg, "layer %d, expert %d", r->layer,
                         r->expert);
}

static int sink_link(void *ctx, const metrics_link *r)
{
    store_t *s = ctx;
    char msg[256];
    int name_len = (int)strnlen(r->name, METRICS_LINK_NAME_MAX);
    binder b = start_row(s, INS_LINK);
    bind_text(&b, r->name, name_len);
    bind_f64(&b, r->bytes);
    bind_f64(&b, r->busy_s);
    bind_f64(&b, r->utilization);
    if (insert_step(s, INS_LINK, b.rc, msg, sizeof msg) == 0)
        return 0;
    return insert_failed(s, INS_LINK, msg, "link %.*s", name_len, r->name);
}

static int sink_summary(void *ctx, const metrics_summary *r)
{
    store_t *s = ctx;
    char msg[256];
    binder b = start_row(s, INS_SUMMARY);
    bind_i64(&b, r->steps);
    bind_f64(&b, r->step_s);
    bind_f64(&b, r->tokens_per_s);
    bind_f64(&b, r->tokens_per_s_per_device);
    bind_f64(&b, r->tpot_s);
    bind_f64(&b, r->ttft_s);
    bind_f64(&b, r->imbalance_score);
    bind_f64(&b, r->device_max_over_mean);
    bind_f64(&b, r->expert_max_over_mean);
    bind_f64(&b, r->a2a_share);
    bind_f64(&b, r->idle_share);
    bind_f64(&b, r->bytes_inter_node_per_step);
    bind_f64(&b, r->bytes_intra_node_per_step);
    bind_f64(&b, r->dropped_fraction);
    bind_f64(&b, r->mfu);
    bind_f64(&b, r->hbm_needed_bytes);
    bind_f64(&b, r->hbm_available_bytes);
    bind_i64(&b, r->fits != 0);
    if (insert_step(s, INS_SUMMARY, b.rc, msg, sizeof msg) != 0)
        return insert_failed(s, INS_SUMMARY, msg, "%d steps", r->steps);
    s->run_has_summary = 1;
    return 0;
}

metrics_sink store_sink(store_t *s, err_t *e)
{
    s->sink_err = e;
    metrics_sink k = {s,           sink_layer, sink_device, sink_step,
                      sink_expert, sink_link,  sink_summary};
    return k;
}
