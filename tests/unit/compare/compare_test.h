/*
 * Shared by the compare tests (include after <cmocka.h>): a database built
 * through the store API whose runs carry only hand-chosen summary rows.
 *
 * The standard database (decode, policies topk, moge, eplb, hash in file
 * order):
 *   topk  seeds 1-3  step_s 1.0 1.2 1.4, tokens/s/device 100 80 60,
 *                    IS 0.5 0.6 0.7, device max/mean 2 2 2,
 *                    a2a 0.2 0.3 0.4, idle 0.1 0.2 0.3
 *   moge  seeds 1-3  step_s 0.9 1.0 1.1, tokens/s/device 120 100 110,
 *                    IS 0 0 0, device max/mean 1 1 1, a2a 0.25 x3, idle 0
 *   eplb  seed 1     step_s 1.1, tokens/s/device 90, IS 0.3, 1.2, 0.2,
 *                    0.05; seed 2 interrupted
 *   hash  seed 1 failed: no finished run
 * tpot_s = step_s, ttft_s NaN (decode), inter-node bytes 0 everywhere.
 */
#ifndef MOESIM_TESTS_UNIT_COMPARE_COMPARE_TEST_H
#define MOESIM_TESTS_UNIT_COMPARE_COMPARE_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "results/compare.h"
#include "results/store.h"
#include "tests/unit/testutil.h"

/* Student's t quantile t(0.975, 2) in closed form: for 2 degrees of
 * freedom F(t) = 1/2 + t / (2 sqrt(2 + t^2)), so with a = 2p - 1 = 0.95,
 * t = a sqrt(2 / (1 - a^2)) = 4.3026527297... */
#define T975_2 (0.95 * sqrt(2.0 / (1.0 - 0.95 * 0.95)))

static const char *const cmp_policies[] = {"topk", "moge", "eplb", "hash"};

typedef struct cmp_run {
    const char *policy;
    unsigned long seed;
    double step_s, tokens_per_s_per_device, imbalance_score,
        device_max_over_mean, a2a_share, idle_share;
} cmp_run;

static const cmp_run cmp_done[] = {
    {"topk", 1, 1.0, 100, 0.5, 2, 0.2, 0.1},
    {"topk", 2, 1.2, 80, 0.6, 2, 0.3, 0.2},
    {"topk", 3, 1.4, 60, 0.7, 2, 0.4, 0.3},
    {"moge", 1, 0.9, 120, 0, 1, 0.25, 0},
    {"moge", 2, 1.0, 100, 0, 1, 0.25, 0},
    {"moge", 3, 1.1, 110, 0, 1, 0.25, 0},
    {"eplb", 1, 1.1, 90, 0.3, 1.2, 0.2, 0.05}};

static inline void cmp_tmp_db(char path[64])
{
    snprintf(path, 64, "build/test-compare-XXXXXX.db");
    int fd = mkstemps(path, 3);
    if (fd < 0) {
        fprintf(stderr, "mkstemps %s failed; run from the project root\n",
                path);
        fail();
    }
    close(fd);
}

static inline void cmp_remove_db(const char *path)
{
    char side[80];
    remove(path);
    snprintf(side, sizeof side, "%s-wal", path);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", path);
    remove(side);
}

static inline void cmp_ok(int rc, const err_t *e)
{
    if (rc != 0)
        fprintf(stderr, "%s\n", e->msg);
    assert_int_equal(rc, 0);
}

static inline void cmp_begin(store_t *st, const char *policy,
                             unsigned long seed)
{
    err_t e;
    metrics_run run = {policy, "topk", "contiguous", seed};
    cmp_ok(store_run_begin(st, &run, "2025-01-01T00:00:00Z", &e), &e);
}

/* A done run whose only row is its summary. */
static inline void cmp_add(store_t *st, const cmp_run *r, const char *phase)
{
    err_t e;
    cmp_begin(st, r->policy, r->seed);
    metrics_sink k = store_sink(st, &e);
    int decode = strcmp(phase, "decode") == 0;
    int prefill = strcmp(phase, "prefill") == 0;
    metrics_summary m = {.steps = 10, .step_s = r->step_s,
                         .tokens_per_s_per_device = r->tokens_per_s_per_device,
                         .tpot_s = decode ? r->step_s : NAN,
                         .ttft_s = prefill ? r->step_s : NAN,
                         .imbalance_score = r->imbalance_score,
                         .device_max_over_mean = r->device_max_over_mean,
                         .a2a_share = r->a2a_share,
                         .idle_share = r->idle_share,
                         .bytes_inter_node_per_step = 0, .fits = 1};
    cmp_ok(k.summary(k.ctx, &m), &e);
    cmp_ok(store_run_end(st, "done", "2025-01-01T00:01:00Z", 60, NULL, &e),
           &e);
}

/* Writes the standard database (see above) in the given phase. */
static inline void cmp_build(const char *path, const char *phase)
{
    err_t e;
    store_t *st = NULL;
    store_scenario sc = {.name = "cmp", .phase = phase,
                         .text = "[scenario]\nname = cmp\n",
                         .moesim_version = "test",
                         .created_at = "2025-01-01T00:00:00Z",
                         .policies = cmp_policies, .n_policies = 4};
    cmp_ok(store_open(&st, path, &sc, &e), &e);
    for (size_t i = 0; i < sizeof cmp_done / sizeof cmp_done[0]; i++)
        cmp_add(st, &cmp_done[i], phase);
    cmp_begin(st, "eplb", 2);
    cmp_ok(store_run_abort(st, "interrupted", "t", 1, NULL, &e), &e);
    cmp_begin(st, "hash", 1);
    cmp_ok(store_run_end(st, "failed", "t", 1, "boom", &e), &e);
    store_close(st);
}

static inline compare_t *cmp_load(const char *path, const char *baseline)
{
    compare_t *c = NULL;
    err_t e;
    err_clear(&e);
    cmp_ok(compare_load(&c, path, baseline, &e), &e);
    assert_non_null(c);
    return c;
}

/* What compare_write puts out, as a string the caller frees. */
static inline char *cmp_output(const compare_t *c, compare_format f)
{
    char *buf = NULL;
    size_t n = 0;
    FILE *out = open_memstream(&buf, &n);
    assert_non_null(out);
    err_t e;
    err_clear(&e);
    cmp_ok(compare_write(c, out, f, &e), &e);
    fclose(out);
    return buf;
}

/* Compares texts and shows both, line by line, when they differ. */
static inline void cmp_assert_text(const char *got, const char *want)
{
    if (strcmp(got, want) != 0)
        fprintf(stderr, "---- got:\n%s---- want:\n%s----\n", got, want);
    assert_string_equal(got, want);
}

#endif
