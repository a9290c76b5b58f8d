/*
 * compare_write CSV: the exact text for the standard database (see
 * compare_test.h). Every number below was worked out by hand from the
 * values there, with t(0.975, 2) = 4.302652730 (closed form) and printed
 * to 10 significant digits:
 *   topk step_s   mean 1.2, half 4.30265273 * 0.2 / sqrt 3 = 0.4968275424
 *                 -> 0.7031724576 .. 1.696827542
 *   topk tokens   mean 80, half 49.68275424 -> 30.31724576 .. 129.6827542
 *   topk IS       mean 0.6, half 0.2484137712 -> 0.3515862288 .. 0.8484137712
 *   topk a2a      mean 0.3 -> 0.05158622882 .. 0.5484137712
 *   topk idle     mean 0.2 -> -0.04841377118 .. 0.4484137712 (a t interval
 *                 may leave [0, 1]; it is reported as computed)
 *   moge step_s   mean 1.0, half 0.2484137712 -> 0.7515862288 .. 1.248413771,
 *                 ratio 1 / 1.2 = 0.8333333333
 *   moge tokens   mean 110, half 24.84137712 -> 85.15862288 .. 134.8413771,
 *                 ratio 1.375
 *   moge a2a      0.25, ratio 0.25 / 0.3 = 0.8333333333; idle 0, ratio 0
 *   eplb          one seed: empty interval; ratios 1.1 / 1.2 = 0.9166666667,
 *                 90 / 80 = 1.125, 0.3 / 0.6 = 0.5, 1.2 / 2 = 0.6,
 *                 0.2 / 0.3 = 0.6666666667, 0.05 / 0.2 = 0.25
 *   bytes         0 everywhere: mean 0, interval 0 .. 0, no ratio
 *   hash          no finished run: every field after seeds empty
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/compare/compare_test.h"

#define HEADER_START "policy,baseline,seeds,"
#define COLS(m) m "_mean," m "_ci_lo," m "_ci_hi," m "_ratio"

static void test_csv__decode_exact(void **st)
{
    (void)st;
    char path[64];
    cmp_tmp_db(path);
    cmp_build(path, "decode");
    compare_t *c = cmp_load(path, NULL);
    char *got = cmp_output(c, COMPARE_CSV);
    const char *want =
        HEADER_START COLS("step_s") "," COLS("tokens_per_s_per_device") ","
        COLS("tpot_s") "," COLS("imbalance_score") ","
        COLS("device_max_over_mean") "," COLS("a2a_share") ","
        COLS("idle_share") "," COLS("bytes_inter_node_per_step") "\n"
        "topk,topk,3,"
        "1.2,0.7031724576,1.696827542,1,"
        "80,30.31724576,129.6827542,1,"
        "1.2,0.7031724576,1.696827542,1,"
        "0.6,0.3515862288,0.8484137712,1,"
        "2,2,2,1,"
        "0.3,0.05158622882,0.5484137712,1,"
        "0.2,-0.04841377118,0.4484137712,1,"
        "0,0,0,\n"
        "moge,topk,3,"
        "1,0.7515862288,1.248413771,0.8333333333,"
        "110,85.15862288,134.8413771,1.375,"
        "1,0.7515862288,1.248413771,0.8333333333,"
        "0,0,0,0,"
        "1,1,1,0.5,"
        "0.25,0.25,0.25,0.8333333333,"
        "0,0,0,0,"
        "0,0,0,\n"
        "eplb,topk,1,"
        "1.1,,,0.9166666667,"
        "90,,,1.125,"
        "1.1,,,0.9166666667,"
        "0.3,,,0.5,"
        "1.2,,,0.6,"
        "0.2,,,0.6666666667,"
        "0.05,,,0.25,"
        "0,,,\n"
        "hash,topk,0,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,,\n";
    cmp_assert_text(got, want);
    free(got);
    compare_free(c);
    cmp_remove_db(path);
}

/* Train: neither TPOT nor TTFT columns. Prefill: TTFT in TPOT's place. */
static void test_csv__header_follows_phase(void **st)
{
    (void)st;
    static const struct {
        const char *phase, *latency;
    } cases[] = {{"train", ""}, {"prefill", COLS("ttft_s") ","}};
    for (int i = 0; i < 2; i++) {
        char path[64], want[1024];
        cmp_tmp_db(path);
        cmp_build(path, cases[i].phase);
        compare_t *c = cmp_load(path, "moge");
        char *got = cmp_output(c, COMPARE_CSV);
        snprintf(want, sizeof want, "%s%s%s%s",
                 HEADER_START COLS("step_s") ",",
                 COLS("tokens_per_s_per_device") ",", cases[i].latency,
                 COLS("imbalance_score") "," COLS("device_max_over_mean") ","
                 COLS("a2a_share") "," COLS("idle_share") ","
                 COLS("bytes_inter_node_per_step") "\n");
        *strchr(got, '\n') = '\0';
        strchr(want, '\n')[0] = '\0';
        cmp_assert_text(got, want);
        free(got);
        compare_free(c);
        cmp_remove_db(path);
    }
}

/* A policy name with a comma is quoted (RFC 4180). */
static void test_csv__policy_name_quoted(void **st)
{
    (void)st;
    char path[64];
    cmp_tmp_db(path);
    static const char *const names[] = {"top,k \"v2\""};
    store_scenario sc = {.name = "q", .phase = "train", .text = "q",
                         .moesim_version = "test", .created_at = "t",
                         .policies = names, .n_policies = 1};
    store_t *s = NULL;
    err_t e;
    cmp_ok(store_open(&s, path, &sc, &e), &e);
    cmp_run r = {names[0], 1, 2.0, 50, 0.1, 1.5, 0.1, 0.1};
    cmp_add(s, &r, "train");
    store_close(s);
    compare_t *c = cmp_load(path, NULL);
    char *got = cmp_output(c, COMPARE_CSV);
    const char *row = strchr(got, '\n') + 1;
    cmp_assert_text(row, "\"top,k \"\"v2\"\"\",\"top,k \"\"v2\"\"\",1,"
                         "2,,,1,50,,,1,0.1,,,1,1.5,,,1,0.1,,,1,0.1,,,1,"
                         "0,,,\n");
    free(got);
    compare_free(c);
    cmp_remove_db(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_csv__decode_exact),
        cmocka_unit_test(test_csv__header_follows_phase),
        cmocka_unit_test(test_csv__policy_name_quoted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
