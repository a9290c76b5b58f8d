/*
 * Shared by the store tests (include after <cmocka.h>): a scratch database
 * under build/, a two-policy scenario, runs with rows whose values are a
 * hand-chosen function of (seed, indices), and plain-SQL readers that use
 * their own connection, as a user's sqlite3 or pandas would.
 */
#ifndef MOESIM_TESTS_UNIT_STORE_STORE_TEST_H
#define MOESIM_TESTS_UNIT_STORE_STORE_TEST_H

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "results/store.h"
#include "tests/unit/testutil.h"

#define TEST_TEXT "[scenario]\nname = t\n\n[policy topk]\n\n[policy moge]\n"
#define TEST_CREATED "2025-01-02T03:04:05Z"
#define TEST_STARTED "2025-01-02T03:04:06Z"
#define TEST_FINISHED "2025-01-02T03:04:07Z"

static const char *const test_policies[] = {"topk", "moge"};

/* A fresh name "build/test-store-XXXXXX.db" (the file exists, empty: SQLite
 * takes an empty file for a new database). */
static inline void tmp_db(char path[64])
{
    snprintf(path, 64, "build/test-store-XXXXXX.db");
    int fd = mkstemps(path, 3);
    if (fd < 0) {
        fprintf(stderr, "mkstemps %s failed; run from the project root\n",
                path);
        fail();
    }
    close(fd);
}

/* Removes the database and its WAL companions. */
static inline void remove_db(const char *path)
{
    char side[80];
    remove(path);
    snprintf(side, sizeof side, "%s-wal", path);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", path);
    remove(side);
}

static inline store_scenario test_scenario(const char *text)
{
    store_scenario sc = {
        .name = "t",
        .phase = "decode",
        .text = text,
        .moesim_version = "0.1.0-test",
        .created_at = TEST_CREATED,
        .policies = test_policies,
        .n_policies = 2,
        .files = NULL,
        .n_files = 0,
    };
    return sc;
}

static inline store_t *open_ok(const char *path, const store_scenario *sc)
{
    store_t *st = NULL;
    err_t e;
    err_clear(&e);
    int rc = store_open(&st, path, sc, &e);
    if (rc != 0)
        fprintf(stderr, "store_open: %s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_non_null(st);
    return st;
}

static inline void begin_ok(store_t *st, const char *policy, unsigned long seed)
{
    err_t e;
    err_clear(&e);
    metrics_run run = {policy, "topk", "contiguous", seed};
    int rc = store_run_begin(st, &run, TEST_STARTED, &e);
    if (rc != 0)
        fprintf(stderr, "store_run_begin: %s\n", e.msg);
    assert_int_equal(rc, 0);
}

/* Writes a small run's rows through the sink: steps x layers layer rows
 * (every other layer MoE), steps x 4 device rows, steps step rows,
 * 2 x 4 expert rows, 3 links and the summary. Every value is a function
 * of seed and the indices, so two runs with the same arguments write the
 * same rows. */
static inline void write_rows(store_t *st, unsigned long seed, int steps,
                       int layers)
{
    err_t e;
    err_clear(&e);
    metrics_sink k = store_sink(st, &e);
    double sd = (double)seed;
    for (int s = 0; s < steps; s++) {
        for (int l = 0; l < layers; l++) {
            metrics_layer r = {.step = s, .layer = l, .moe = l % 2,
                               .tokens = 512, .token_experts = 4096 + l,
                               .dropped = s,
                               .imbalance_score = 0.25 * sd + 0.001 * l,
                               .device_max_over_mean = 1.5,
                               .expert_max_over_mean = 2.5,
                               .attention_s = 1e-4 * (s + 1),
                               .dispatch_s = 2e-4, .expert_compute_max_s = 3e-4,
                               .expert_compute_mean_s = 2.5e-4,
                               .combine_s = 2e-4, .idle_mean_s = 5e-5,
                               .layer_s = 1e-3, .bytes_intra_node = 1e6 * sd,
                               .bytes_inter_node = 0,
                               .busiest_link_utilization = 0.75};
            snprintf(r.busiest_link, sizeof r.busiest_link, "hccs:%d->%d", l % 8,
                     (l + 1) % 8);
            assert_int_equal(k.layer(k.ctx, &r), 0);
        }
        for (int d = 0; d < 4; d++) {
            metrics_device r = {s, d, 1000 + d, 0.01 * sd, 0.002, 0.001 * d};
            assert_int_equal(k.device(k.ctx, &r), 0);
        }
        metrics_step r = {s, 0.02 * sd, 2048, 2048 / (0.02 * sd),
                          512 / (0.02 * sd), 0.015, 0.004, 0.001, 0.0,
                          3e6, 0.0, 0.31};
        assert_int_equal(k.step(k.ctx, &r), 0);
    }
    for (int l = 0; l < 2; l++)
        for (int x = 0; x < 4; x++) {
            metrics_expert r = {l, x, 100L * (x + 1) + (long)seed, 1};
            assert_int_equal(k.expert(k.ctx, &r), 0);
        }
    for (int i = 0; i < 3; i++) {
        metrics_link r = {.bytes = 1e7 * (i + 1), .busy_s = 0.001 * i,
                          .utilization = 0.1 * i};
        snprintf(r.name, sizeof r.name, "hccs:0->%d", i + 1);
        assert_int_equal(k.link(k.ctx, &r), 0);
    }
    metrics_summary m = {.steps = steps, .step_s = 0.02 * sd,
                         .tokens_per_s = 2048 / (0.02 * sd),
                         .tokens_per_s_per_device = 512 / (0.02 * sd),
                         .tpot_s = 0.02 * sd, .ttft_s = NAN,
                         .imbalance_score = 0.25 * sd,
                         .device_max_over_mean = 1.5,
                         .expert_max_over_mean = 2.5, .a2a_share = 0.2,
                         .idle_share = 0.05,
                         .bytes_inter_node_per_step = 0,
                         .bytes_intra_node_per_step = 3e6,
                         .dropped_fraction = 0, .mfu = 0.31,
                         .hbm_needed_bytes = 5e10,
                         .hbm_available_bytes = 6.4e10, .fits = 1};
    assert_int_equal(k.summary(k.ctx, &m), 0);
}

static inline void end_ok(store_t *st)
{
    err_t e;
    err_clear(&e);
    int rc = store_run_end(st, "done", TEST_FINISHED, 1.25, NULL, &e);
    if (rc != 0)
        fprintf(stderr, "store_run_end: %s\n", e.msg);
    assert_int_equal(rc, 0);
}

/* A whole run, done. */
static inline void run_done(store_t *st, const char *policy, unsigned long seed)
{
    begin_ok(st, policy, seed);
    write_rows(st, seed, 3, 4);
    end_ok(st);
}

/* ---- plain-SQL readers, on their own connection -------------------- */

static inline sqlite3 *reader(const char *path)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", path, sqlite3_errmsg(db));
    assert_int_equal(rc, SQLITE_OK);
    return db;
}

/* The one integer the query yields (count(*) and the like). */
static inline long long query_ll(const char *path, const char *sql)
{
    sqlite3 *db = reader(path);
    sqlite3_stmt *q = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
    if (rc != SQLITE_OK)
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db));
    assert_int_equal(rc, SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    long long v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}

/* The one text the query yields, copied into buf ("NULL" for NULL). */
static inline const char *query_text(const char *path, const char *sql, char *buf,
                              size_t n)
{
    sqlite3 *db = reader(path);
    sqlite3_stmt *q = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    int rc = sqlite3_step(q);
    if (rc != SQLITE_ROW)
        fprintf(stderr, "%s: no row (%d)\n", sql, rc);
    assert_int_equal(rc, SQLITE_ROW);
    const unsigned char *t = sqlite3_column_text(q, 0);
    snprintf(buf, n, "%s", t ? (const char *)t : "NULL");
    sqlite3_finalize(q);
    sqlite3_close(db);
    return buf;
}

/* Every row of every table in primary-key order, one row per line (doubles
 * with 17 digits, so equal text means equal values; texts cut at 500
 * bytes). Caller frees. */
static inline char *dump_db(const char *path)
{
    static const char *const queries[] = {
        "SELECT * FROM scenario ORDER BY id",
        "SELECT * FROM scenario_file ORDER BY position",
        "SELECT * FROM policy ORDER BY position",
        "SELECT * FROM run ORDER BY run_id",
        "SELECT * FROM layer_step ORDER BY run_id, step, layer",
        "SELECT * FROM device_step ORDER BY run_id, step, device",
        "SELECT * FROM step ORDER BY run_id, step",
        "SELECT * FROM expert_load ORDER BY run_id, layer, expert",
        "SELECT * FROM link ORDER BY run_id, name",
        "SELECT * FROM summary ORDER BY run_id"};
    size_t cap = 1 << 16, used = 0;
    char *out = malloc(cap);
    assert_non_null(out);
    out[0] = '\0';
    sqlite3 *db = reader(path);
    for (size_t i = 0; i < sizeof queries / sizeof queries[0]; i++) {
        sqlite3_stmt *q = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, queries[i], -1, &q, NULL),
                         SQLITE_OK);
        while (sqlite3_step(q) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(q); c++) {
                char cell[512];
                switch (sqlite3_column_type(q, c)) {
                case SQLITE_INTEGER:
                    snprintf(cell, sizeof cell, "%lld|",
                             (long long)sqlite3_column_int64(q, c));
                    break;
                case SQLITE_FLOAT:
                    snprintf(cell, sizeof cell, "%.17g|",
                             sqlite3_column_double(q, c));
                    break;
                case SQLITE_NULL:
                    snprintf(cell, sizeof cell, "NULL|");
                    break;
                default: {
                    /* newlines written as \n: one row per line */
                    const char *t = (const char *)sqlite3_column_text(q, c);
                    size_t k = 0;
                    cell[k++] = '\'';
                    for (; *t && k < sizeof cell - 4; t++) {
                        if (*t == '\n') {
                            cell[k++] = '\\';
                            cell[k++] = 'n';
                        } else {
                            cell[k++] = *t;
                        }
                    }
                    cell[k++] = '\'';
                    cell[k++] = '|';
                    cell[k] = '\0';
                }
                }
                size_t n = strlen(cell);
                if (used + n + 2 > cap) {
                    cap *= 2;
                    char *grown = realloc(out, cap);
                    assert_non_null(grown);
                    out = grown;
                }
                memcpy(out + used, cell, n + 1);
                used += n;
            }
            out[used++] = '\n';
            out[used] = '\0';
        }
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
    return out;
}

#endif
