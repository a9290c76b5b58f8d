/*
 * Shared by the report tests (include after <cmocka.h>): a small results
 * database written through the store API with hand-chosen rows, and the
 * figures a reader derives from them by hand.
 *
 * Scenario "rpt" (decode), policies "topk" and "<moge>" (a name with
 * markup, which the page must escape), 2 devices, 2 steps, layers 0
 * (dense) and 1, 2 (MoE), links "hccs 0->1", "hccs 1->0", "roce 0->1".
 * One input file, role scenario, holding "abc": its SHA-256 is the FIPS
 * 180-2 example, ba7816bf...f20015ad.
 *
 * Runs (seed: figures):
 *   topk 1  summary: tokens/s/device 5000, IS 0.675, a2a 0.20, idle 0.12
 *           steps (both): step 10 ms = compute 6.3 + a2a 2 + idle 1.2
 *                         + other 0.5
 *           IS layer 1: 0.4, 0.6; layer 2: 0.8, 0.9 (step 0, step 1)
 *           devices step 0: 300, 100; step 1: 240, 160
 *           links 0.9, 0.5, 0.5
 *   topk 2  summary: 5400, IS 0.675, a2a 0.25, idle 0.10
 *           steps: 12 ms = 7.3 + 3 + 1.2 + 0.5
 *           IS layer 1: 0.5, 0.5; layer 2: 0.7, 1.0
 *           devices 200, 200 both steps; links 0.7, 0.6, 0.4
 *   topk 3  interrupted (not counted)
 *   <moge> 1, 2  summary: 5500 and 6000, IS 0, a2a 0.25, idle 0
 *           steps: 10 ms = 7.5 + 2.5; IS 0 everywhere
 *           devices 200, 200; links 0.6, 0.6, 0.6
 *
 * Derived by hand:
 *   tokens/s/device  topk (5000 + 5400) / 2 = 5200, <moge> 5750;
 *                    ratio 5750 / 5200 = 1.1058 -> "1.11"; with two seeds
 *                    the half-widths are t(0.975, 1) * 200 = 2541 and
 *                    t * 250 = 3177, so the intervals overlap
 *   Imbalance Score  means 0.675 and 0; per layer topk 1: (0.4 + 0.6 +
 *                    0.5 + 0.5) / 4 = 0.5, 2: (0.8 + 0.9 + 0.7 + 1.0) / 4
 *                    = 0.85, the worst
 *   heat map         topk seed 1: device 0 totals 540, device 1 260, mean
 *                    400 -> 1.35x; step 0: 300 / 200 = 1.50x, the hottest
 *   time             topk idle share (0.12 + 0.10) / 2 = 11.0%, idle 1.2
 *                    ms of a mean step (10 + 10 + 12 + 12) / 4 = 11 ms,
 *                    a2a (0.20 + 0.25) / 2 = 22.5%; <moge> 0%, 10 ms,
 *                    25.0%
 *   links            topk hccs 0->1 (0.9 + 0.7) / 2 = 80.0%; <moge> a
 *                    three-way tie at 60.0%, broken by name: hccs 0->1
 */
#ifndef MOESIM_TESTS_UNIT_REPORT_REPORT_TEST_H
#define MOESIM_TESTS_UNIT_REPORT_REPORT_TEST_H

#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "plots/report.h"
#include "results/store.h"
#include "tests/unit/testutil.h"

#define RPT_TEXT                                                             \
    "[scenario]\n"                                                           \
    "name = rpt\n"                                                           \
    "description = Two policies on two devices, by hand\n"                   \
    "model = ../models/m.ini\n"                                              \
    "node = ../hardware/n.ini\n"                                             \
    "phase = decode\n"                                                       \
    "steps = 2\n"                                                            \
    "seeds = 1, 2, 3\n"                                                      \
    "\n"                                                                     \
    "[policy topk]\n"                                                        \
    "router = topk\n"                                                        \
    "\n"                                                                     \
    "[policy <moge>]\n"                                                      \
    "router = moge\n"

#define RPT_ABC_SHA256                                                       \
    "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static const char *const rpt_policies[] = {"topk", "<moge>"};

/* Paths of one test's files, all under build/. */
typedef struct rpt_paths {
    char db[64];    /* the results database */
    char input[64]; /* the scenario file recorded, holding "abc" */
    char html[64];  /* where the report goes */
} rpt_paths;

static inline void rpt_ok(int rc, const err_t *e)
{
    if (rc != 0)
        fprintf(stderr, "%s\n", e->msg);
    assert_int_equal(rc, 0);
}

static inline void rpt_mktemp(char path[64], const char *pattern, int suffix)
{
    snprintf(path, 64, "%s", pattern);
    int fd = mkstemps(path, suffix);
    if (fd < 0) {
        fprintf(stderr, "mkstemps %s failed; run from the project root\n",
                path);
        fail();
    }
    close(fd);
}

static inline void rpt_remove(const rpt_paths *p)
{
    char side[80];
    remove(p->db);
    snprintf(side, sizeof side, "%s-wal", p->db);
    remove(side);
    snprintf(side, sizeof side, "%s-shm", p->db);
    remove(side);
    remove(p->input);
    remove(p->html);
}

static inline void rpt_begin(store_t *st, const char *policy,
                             unsigned long seed, const char *router)
{
    err_t e;
    metrics_run run = {policy, router, "contiguous", seed};
    rpt_ok(store_run_begin(st, &run, "2025-01-01T00:00:00Z", &e), &e);
}

/* The rows of one run. */
typedef struct rpt_run {
    const char *policy;
    unsigned long seed;
    double tokens_per_s_per_device, imbalance_score, a2a_share, idle_share;
    double step_s, compute_s, a2a_s, idle_s, other_s; /* every step */
    double is[2][2];   /* [MoE layer 1, 2][step] */
    long load[2][2];   /* [step][device] */
    double link_u[3];  /* utilization of the three links */
} rpt_run;

static const rpt_run rpt_runs[] = {
    {"topk", 1, 5000, 0.675, 0.20, 0.12, 0.010, 0.0063, 0.002, 0.0012,
     0.0005, {{0.4, 0.6}, {0.8, 0.9}}, {{300, 100}, {240, 160}},
     {0.9, 0.5, 0.5}},
    {"topk", 2, 5400, 0.675, 0.25, 0.10, 0.012, 0.0073, 0.003, 0.0012,
     0.0005, {{0.5, 0.5}, {0.7, 1.0}}, {{200, 200}, {200, 200}},
     {0.7, 0.6, 0.4}},
    {"<moge>", 1, 5500, 0, 0.25, 0, 0.010, 0.0075, 0.0025, 0, 0,
     {{0, 0}, {0, 0}}, {{200, 200}, {200, 200}}, {0.6, 0.6, 0.6}},
    {"<moge>", 2, 6000, 0, 0.25, 0, 0.010, 0.0075, 0.0025, 0, 0,
     {{0, 0}, {0, 0}}, {{200, 200}, {200, 200}}, {0.6, 0.6, 0.6}},
};

static const char *const rpt_link_names[3] = {"hccs 0->1", "hccs 1->0",
                                              "roce 0->1"};

static inline void rpt_add(store_t *st, const rpt_run *r)
{
    err_t e;
    err_clear(&e);
    rpt_begin(st, r->policy, r->seed, r->policy[0] == 't' ? "topk" : "moge");
    metrics_sink k = store_sink(st, &e);
    for (int s = 0; s < 2; s++) {
        for (int l = 0; l < 3; l++) {
            metrics_layer row = {.step = s, .layer = l, .moe = l > 0,
                                 .tokens = 200, .token_experts = 400,
                                 .imbalance_score = l ? r->is[l - 1][s] : NAN,
                                 .device_max_over_mean = l ? 1.0 : NAN,
                                 .expert_max_over_mean = l ? 1.0 : NAN,
                                 .layer_s = r->step_s / 3,
                                 .busiest_link_utilization = 0.5};
            snprintf(row.busiest_link, sizeof row.busiest_link, "%s",
                     rpt_link_names[0]);
            rpt_ok(k.layer(k.ctx, &row), &e);
        }
        for (int d = 0; d < 2; d++) {
            metrics_device dev = {.step = s, .device = d,
                                  .token_experts = r->load[s][d],
                                  .compute_s = r->compute_s, .comm_s = 0,
                                  .idle_s = r->idle_s};
            rpt_ok(k.device(k.ctx, &dev), &e);
        }
        metrics_step step = {.step = s, .step_s = r->step_s, .tokens = 400,
                             .tokens_per_s = 400 / r->step_s,
                             .tokens_per_s_per_device = 200 / r->step_s,
                             .compute_s = r->compute_s, .a2a_s = r->a2a_s,
                             .idle_s = r->idle_s, .other_s = r->other_s,
                             .bytes_intra_node = 1e6, .bytes_inter_node = 0,
                             .mfu = 0.3};
        rpt_ok(k.step(k.ctx, &step), &e);
    }
    for (int i = 0; i < 3; i++) {
        metrics_link link = {.bytes = 1e6, .busy_s = r->link_u[i] * 0.002,
                             .utilization = r->link_u[i]};
        snprintf(link.name, sizeof link.name, "%s", rpt_link_names[i]);
        rpt_ok(k.link(k.ctx, &link), &e);
    }
    metrics_summary m = {.steps = 2, .step_s = r->step_s,
                         .tokens_per_s = 2 * r->tokens_per_s_per_device,
                         .tokens_per_s_per_device = r->tokens_per_s_per_device,
                         .tpot_s = r->step_s, .ttft_s = NAN,
                         .imbalance_score = r->imbalance_score,
                         .device_max_over_mean = 1.2,
                         .expert_max_over_mean = 1.5,
                         .a2a_share = r->a2a_share,
                         .idle_share = r->idle_share,
                         .bytes_inter_node_per_step = 0,
                         .bytes_intra_node_per_step = 1e6,
                         .dropped_fraction = 0, .mfu = 0.3,
                         .hbm_needed_bytes = 1e9, .hbm_available_bytes = 6e10,
                         .fits = 1};
    rpt_ok(k.summary(k.ctx, &m), &e);
    rpt_ok(store_run_end(st, "done", "2025-01-01T00:01:00Z", 60, NULL, &e),
           &e);
}

/* Fresh paths, and the database above (with_runs = 0: the scenario and
 * one interrupted run only, so no run is finished). */
static inline void rpt_build(rpt_paths *p, int with_runs)
{
    err_t e;
    err_clear(&e);
    rpt_mktemp(p->db, "build/test-report-XXXXXX.db", 3);
    rpt_mktemp(p->input, "build/test-report-XXXXXX.ini", 4);
    rpt_mktemp(p->html, "build/test-report-XXXXXX.html", 5);
    remove(p->html); /* the report must create it */
    FILE *f = fopen(p->input, "w");
    assert_non_null(f);
    fputs("abc", f);
    fclose(f);

    store_t *st = NULL;
    store_file file = {"scenario", p->input};
    store_scenario sc = {.name = "rpt", .phase = "decode", .text = RPT_TEXT,
                         .moesim_version = "0.1.0-test",
                         .created_at = "2025-01-02T03:04:05Z",
                         .policies = rpt_policies, .n_policies = 2,
                         .files = &file, .n_files = 1};
    rpt_ok(store_open(&st, p->db, &sc, &e), &e);
    for (size_t i = 0; with_runs && i < sizeof rpt_runs / sizeof *rpt_runs;
         i++)
        rpt_add(st, &rpt_runs[i]);
    rpt_begin(st, "topk", 3, "topk");
    rpt_ok(store_run_abort(st, "interrupted", "2025-01-01T00:02:00Z", 1, NULL,
                           &e),
           &e);
    store_close(st);
}

/* The file at path as a string the caller frees; NULL when it cannot be
 * read. */
static inline char *rpt_slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t len = 0;
    FILE *m = open_memstream(&buf, &len);
    int c;
    while (m && (c = fgetc(f)) != EOF)
        fputc(c, m);
    if (m)
        fclose(m);
    fclose(f);
    return buf;
}

/* The report of db (NULL: none) at html with options o; the caller frees
 * the page. */
static inline char *rpt_render_with(const char *db, const char *html,
                                    const report_options *o)
{
    err_t e;
    err_clear(&e);
    rpt_ok(report_write(db, html, o, &e), &e);
    char *page = rpt_slurp(html);
    assert_non_null(page);
    return page;
}

/* The report with the project's plots/ folder; the caller frees the page. */
static inline char *rpt_render(const rpt_paths *p)
{
    report_options o = {.plots_dir = "plots"};
    return rpt_render_with(p->db, p->html, &o);
}

/* Writes "old report" at path: a report the next one must replace, or a
 * failed one must leave. */
static inline void rpt_write_old(const char *path)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs("old report", f);
    fclose(f);
}

/* Points TMPDIR at a fresh folder, into dir, so a test can see what the
 * report leaves there; returns the former value (NULL: unset) for
 * rpt_tmpdir_restore, which frees it. */
static inline char *rpt_tmpdir_set(char dir[64])
{
    snprintf(dir, 64, "build/test-report-tmp-XXXXXX");
    assert_non_null(mkdtemp(dir));
    const char *old = getenv("TMPDIR");
    char *saved = old ? strdup(old) : NULL;
    setenv("TMPDIR", dir, 1);
    return saved;
}

static inline void rpt_tmpdir_restore(char *saved)
{
    if (saved)
        setenv("TMPDIR", saved, 1);
    else
        unsetenv("TMPDIR");
    free(saved);
}

/* Occurrences of needle in hay. */
static inline int rpt_count(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *s = hay; (s = strstr(s, needle)); s += strlen(needle))
        n++;
    return n;
}

/* Asserts that page holds want, and shows what it holds nearby when not. */
static inline void rpt_assert_has(const char *page, const char *want)
{
    if (!strstr(page, want)) {
        fprintf(stderr, "the page lacks: %s\n", want);
        const char *f = strstr(page, "<ul class=\"findings\">");
        if (f)
            fprintf(stderr, "its findings:\n%.3000s\n", f);
        fail();
    }
}

#endif
