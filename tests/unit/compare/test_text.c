/*
 * compare_write text: the table a terminal shows for the standard
 * database (see compare_test.h). Cells worked out by hand:
 *   topk step   1200 ms +- 496.8 ms: the half-width to 2 significant
 *               digits (500), the mean rounded to the same place (1200)
 *   topk tokens 80 +- 49.68 -> "80 +- 50"; IS 0.6 +- 0.2484 -> "0.60 +- 0.25"
 *   topk a2a    30% +- 24.84 -> "30 +- 25"; idle 20% +- 24.84 -> "20 +- 25"
 *   max/mean    2 +- 0: zero width, the mean to 4 digits "2.000 +- 0.000"
 *   moge step   1000 +- 248.4 -> "1000 +- 250"; a2a 25% +- 0 -> "25.00 +- 0.00"
 *   eplb        one seed: the mean to 4 significant digits, "+- n/a"
 *   ratios      %.2f: 1.375 -> 1.38 and 1.125 -> 1.12 (ties to even, as
 *               printf rounds exact binary values); bytes: no ratio (n/a)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/compare/compare_test.h"

#define PREAMBLE                                                             \
    "mean over seeds +- half-width of its 95% confidence interval "          \
    "(Student t; n/a with one seed)\n"                                       \
    "imbalance: Imbalance Score, (max - min device load) / tokens; a2a, "    \
    "idle: shares of step time\n"                                            \
    "\n"

#define MEANS                                                                \
    "policy  seeds      step ms  tokens/s/device      TPOT ms      imbalance    dev max/mean          a2a %        idle %  inter-node MB/step\n" \
    "topk        3  1200 +- 500         80 +- 50  1200 +- 500   0.60 +- 0.25  2.000 +- 0.000       30 +- 25      20 +- 25              0 +- 0\n" \
    "moge        3  1000 +- 250        110 +- 25  1000 +- 250         0 +- 0  1.000 +- 0.000  25.00 +- 0.00        0 +- 0              0 +- 0\n" \
    "eplb        1  1100 +- n/a     90.00 +- n/a  1100 +- n/a  0.3000 +- n/a    1.200 +- n/a   20.00 +- n/a  5.000 +- n/a            0 +- n/a\n" \
    "hash        0  no finished runs\n"

#define NOT_COUNTED                                                          \
    "\n"                                                                     \
    "not counted (not done):\n"                                              \
    "  eplb: 1 interrupted\n"                                                \
    "  hash: 1 failed\n"

static void test_text__decode_table_exact(void **st)
{
    (void)st;
    char path[64], want[4096];
    cmp_tmp_db(path);
    cmp_build(path, "decode");
    compare_t *c = cmp_load(path, NULL);
    char *got = cmp_output(c, COMPARE_TEXT);
    snprintf(want, sizeof want, "scenario cmp (decode), %s\n%s", path,
             PREAMBLE MEANS
             "\n"
             "ratio to topk\n"
             "policy  step  tokens/s/device  TPOT  imbalance  dev max/mean   a2a  idle  inter-node bytes\n"
             "topk    1.00             1.00  1.00       1.00          1.00  1.00  1.00               n/a\n"
             "moge    0.83             1.38  0.83       0.00          0.50  0.83  0.00               n/a\n"
             "eplb    0.92             1.12  0.92       0.50          0.60  0.67  0.25               n/a\n"
             "hash    no finished runs\n" NOT_COUNTED);
    cmp_assert_text(got, want);
    free(got);
    compare_free(c);
    cmp_remove_db(path);
}

/* A baseline with no finished run: the means as before, and the ratio
 * table replaced by the reason. */
static void test_text__baseline_without_runs_says_so(void **st)
{
    (void)st;
    char path[64], want[4096];
    cmp_tmp_db(path);
    cmp_build(path, "decode");
    compare_t *c = cmp_load(path, "hash");
    char *got = cmp_output(c, COMPARE_TEXT);
    snprintf(want, sizeof want, "scenario cmp (decode), %s\n%s", path,
             PREAMBLE MEANS
             "\n"
             "ratio to hash\n"
             "  unavailable: hash has no finished runs\n" NOT_COUNTED);
    cmp_assert_text(got, want);
    free(got);
    compare_free(c);
    cmp_remove_db(path);
}

/* A write error (a read-only stream) is reported, not ignored. */
static void test_write__error_reported(void **st)
{
    (void)st;
    char path[64];
    cmp_tmp_db(path);
    cmp_build(path, "decode");
    compare_t *c = cmp_load(path, NULL);
    FILE *ro = fopen(path, "r");
    assert_non_null(ro);
    err_t e;
    err_clear(&e);
    assert_int_equal(compare_write(c, ro, COMPARE_CSV, &e), ERR_IO);
    assert_non_null(strstr(e.msg, "cannot write the comparison of "));
    fclose(ro);
    compare_free(c);
    cmp_remove_db(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_text__decode_table_exact),
        cmocka_unit_test(test_text__baseline_without_runs_says_so),
        cmocka_unit_test(test_write__error_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
