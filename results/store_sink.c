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
 * ERR_IO into the sink's err_t naming table, row (row_fmt, formatted only
 * then), run and SQLite's reason. */
static int insert_row(store_t *s, int k, int bind_rc, const char *row_fmt,
                      ...) __attribute__((format(printf, 4, 5)));

static int insert_row(store_t *s, int k, int bind_rc, const char *row_fmt,
                      ...)
{
    char msg[256], row[128];
    if (store_step_reset(s, s->ins[k], bind_rc, msg, sizeof msg) == 0)
        return 0;
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
    return insert_row(s, INS_LAYER, b.rc, "step %d, layer %d", r->step,
                      r->layer);
}

static int sink_device(void *ctx, const metrics_device *r)
{
    store_t *s = ctx;
    binder b = start_row(s, INS_DEVICE);
    bind_i64(&b, r->step);
    bind_i64(&b, r->device);
    bind_i64(&b, r->token_experts);
    bind_f64(&b, r->compute_s);
    bind_f64(&b, r->comm_s);
    bind_f64(&b, r->idle_s);
    return insert_row(s, INS_DEVICE, b.rc, "step %d, device %d", r->step,
                      r->device);
}

static int sink_step(void *ctx, const metrics_step *r)
{
    store_t *s = ctx;
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
    return insert_row(s, INS_STEP, b.rc, "step %d", r->step);
}

static int sink_expert(void *ctx, const metrics_expert *r)
{
    store_t *s = ctx;
    binder b = start_row(s, INS_EXPERT);
    bind_i64(&b, r->layer);
    bind_i64(&b, r->expert);
    bind_i64(&b, r->load);
    bind_i64(&b, r->replicas);
    return insert_row(s, INS_EXPERT, b.rc, "layer %d, expert %d", r->layer,
                      r->expert);
}

static int sink_link(void *ctx, const metrics_link *r)
{
    store_t *s = ctx;
    int name_len = (int)strnlen(r->name, METRICS_LINK_NAME_MAX);
    binder b = start_row(s, INS_LINK);
    bind_text(&b, r->name, name_len);
    bind_f64(&b, r->bytes);
    bind_f64(&b, r->busy_s);
    bind_f64(&b, r->utilization);
    return insert_row(s, INS_LINK, b.rc, "link %.*s", name_len, r->name);
}

static int sink_summary(void *ctx, const metrics_summary *r)
{
    store_t *s = ctx;
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
    int rc = insert_row(s, INS_SUMMARY, b.rc, "%d steps", r->steps);
    if (rc == 0)
        s->run_has_summary = 1;
    return rc;
}

metrics_sink store_sink(store_t *s, err_t *e)
{
    s->sink_err = e;
    metrics_sink k = {s,           sink_layer, sink_device, sink_step,
                      sink_expert, sink_link,  sink_summary};
    return k;
}
