/*
 * report_write on a database with little to show: one policy, one seed,
 * one device, one step, dense layers only and no link rows (a one-device
 * run has no all-to-all). Every plot must still be drawn (gnuplot's
 * "no data" branches, a heat map one cell wide), and every finding must
 * say what is missing instead of inventing a comparison.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/report/report_test.h"

static const char *const solo_policies[] = {"solo"};

static void build_solo(rpt_paths *p)
{
    err_t e;
    err_clear(&e);
    rpt_mktemp(p->db, "build/test-report-XXXXXX.db", 3);
    rpt_mktemp(p->input, "build/test-report-XXXXXX.ini", 4);
    rpt_mktemp(p->html, "build/test-report-XXXXXX.html", 5);
    remove(p->html);
    store_t *st = NULL;
    store_scenario sc = {.name = "solo", .phase = "prefill",
                         .text = "[scenario]\nname = solo\n",
                         .moesim_version = "0.1.0-test",
                         .created_at = "2025-01-02T03:04:05Z",
                         .policies = solo_policies, .n_policies = 1};
    rpt_ok(store_open(&st, p->db, &sc, &e), &e);
    rpt_begin(st, "solo", 7, "topk");
    metrics_sink k = store_sink(st, &e);
    metrics_layer layer = {.step = 0, .layer = 0, .moe = 0, .tokens = 100,
                           .imbalance_score = NAN,
                           .device_max_over_mean = NAN,
                           .expert_max_over_mean = NAN, .layer_s = 0.001};
    rpt_ok(k.layer(k.ctx, &layer), &e);
    metrics_device dev = {.step = 0, .device = 0, .token_experts = 0,
                          .compute_s = 0.001};
    rpt_ok(k.device(k.ctx, &dev), &e);
    metrics_step step = {.step = 0, .step_s = 0.002, .tokens = 100,
                         .tokens_per_s = 50000,
                         .tokens_per_s_per_device = 50000,
                         .compute_s = 0.002, .a2a_s = 0, .idle_s = 0,
                         .other_s = 0, .mfu = 0.5};
    rpt_ok(k.step(k.ctx, &step), &e);
    metrics_summary m = {.steps = 1, .step_s = 0.002, .tokens_per_s = 50000,
                         .tokens_per_s_per_device = 50000, .tpot_s = NAN,
                         .ttft_s = 0.002, .imbalance_score = NAN,
                         .device_max_over_mean = NAN,
                         .expert_max_over_mean = NAN, .a2a_share = 0,
                         .idle_share = 0, .bytes_inter_node_per_step = 0,
                         .fits = 1};
    rpt_ok(k.summary(k.ctx, &m), &e);
    rpt_ok(store_run_end(st, "done", "2025-01-01T00:01:00Z", 1, NULL, &e),
           &e);
    store_close(st);
}

static void test_sparse__every_plot_and_honest_findings(void **st)
{
    (void)st;
    rpt_paths p;
    build_solo(&p);
    char *page = rpt_render(&p);
    /* the figures are the rows above: a 0.002 s step with no idle and no
     * all-to-all is "0 of 2.000 ms" (ms to 4 significant digits), 50000
     * tokens/s per device, TTFT 0.002 s = 2.000 ms; one seed: no
     * interval */
    assert_int_equal(rpt_count(page, "<svg"), 5);
    rpt_assert_has(page, "No MoE layer recorded an Imbalance Score, so there "
                         "is nothing to compare.");
    rpt_assert_has(page, "Under solo (seed 7), every device carries the mean "
                         "load in every step.");
    rpt_assert_has(page, "solo spends 0% of each step idle at MoE barriers "
                         "(0 of 2.000 ms) and 0% in all-to-all.");
    rpt_assert_has(page, "solo delivers 50000 tokens/s per device (one seed: "
                         "no interval).");
    rpt_assert_has(page, "No link carried traffic: the runs had no "
                         "all-to-all between devices.");
    /* gnuplot's own "no data" labels */
    rpt_assert_has(page, "no MoE layer was recorded");
    rpt_assert_has(page, "no link traffic was recorded");
    /* prefill: time to first token; one seed: no interval */
    rpt_assert_has(page, "<tr><td>time to first token (ms)</td>"
                         "<td class=\"num\">2.000 <span class=\"ci\">"
                         "(one seed)</span></td>");
    /* no description in the scenario text: no row for it */
    assert_null(strstr(page, "<th>description</th>"));
    free(page);
    rpt_remove(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sparse__every_plot_and_honest_findings),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
