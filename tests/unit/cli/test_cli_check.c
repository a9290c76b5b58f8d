/*
 * `moesim check` as a user runs it: the binary named by MOESIM_BIN (the
 * Makefile sets it to the sanitizer build) on good and broken files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

static const char *bin(void)
{
    const char *b = getenv("MOESIM_BIN");
    return b ? b : "./moesim";
}

/* Runs the command line, captures stdout and stderr into the buffers and
 * returns the exit status. */
static int run(const char *args, char *out, size_t out_n, char *err,
               size_t err_n)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s >build/cli.out 2>build/cli.err", bin(),
             args);
    int st = system(cmd);
    FILE *f = fopen("build/cli.out", "r");
    size_t n = f ? fread(out, 1, out_n - 1, f) : 0;
    out[n] = '\0';
    if (f)
        fclose(f);
    f = fopen("build/cli.err", "r");
    n = f ? fread(err, 1, err_n - 1, f) : 0;
    err[n] = '\0';
    if (f)
        fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static char out[65536], errs[8192];

static void test_cli__check_default_scenario_prints_facts(void **s)
{
    (void)s;
    int st = run("check scenarios/default.ini", out, sizeof out, errs,
                 sizeof errs);
    if (st != 0)
        fprintf(stderr, "%s", errs);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "kind = scenario\n"));
    /* Pangu Pro MoE (arXiv 2505.21411: 71.99B total, 16.50B active), by
     * hand from models/pangu-pro-moe.ini, hidden H = 5120: per layer
     * attention 2 H^2 + 2 H 1024 + 12288 biases = 62,926,848, an expert
     * 3 H 1344 = 20,643,840, gate 64 H, norms 2 H; embeddings 2 x 153376 H
     * (untied) and a final norm. Total: 48 x (62,926,848 + 68 experts +
     * 337,920) + 1,570,575,360 = 71,988,777,984; active: 8 routed + 4
     * shared experts instead of 68 = 16,498,136,064. */
    assert_non_null(strstr(out, "total_params_b = 71.989\n"));
    assert_non_null(strstr(out, "active_params_b = 16.498\n"));
    assert_non_null(strstr(out, "policy.moge.fits = yes\n"));
    /* Ascend 910B (376T tier), hardware/ascend-910b-376t.ini:
     * 353.9 TFLOPS x 0.7 / (1759.2 GB/s x 0.6) = 234.7 FLOP/byte */
    assert_non_null(strstr(out, "ridge_bf16_flop_per_byte = 234.7\n"));
    assert_string_equal(errs, "");
}

static void test_cli__bad_file_exits_2_with_file_line_and_no_output(void **s)
{
    (void)s;
    int st = run("check tests/bad/model-topk-above-experts.ini", out,
                 sizeof out, errs, sizeof errs);
    assert_int_equal(st, 2);
    assert_string_equal(out, "");
    assert_string_equal(errs,
                        "moesim: tests/bad/model-topk-above-experts.ini:21: "
                        "[moe] top_k: top_k 17 exceeds the 16 routed experts; "
                        "expected at most routed_experts\n");
}

static void test_cli__missing_file_exits_2(void **s)
{
    (void)s;
    int st = run("check no/such/file.ini", out, sizeof out, errs,
                 sizeof errs);
    assert_int_equal(st, 2);
    assert_non_null(strstr(errs, "no/such/file.ini: cannot open"));
}

static void test_cli__unknown_command_and_help(void **s)
{
    (void)s;
    assert_int_equal(run("frobnicate", out, sizeof out, errs, sizeof errs), 2);
    assert_non_null(strstr(errs, "unknown command 'frobnicate'"));
    assert_int_equal(run("--help", out, sizeof out, errs, sizeof errs), 0);
    assert_non_null(strstr(out, "moesim check FILE"));
    assert_int_equal(run("check --help", out, sizeof out, errs, sizeof errs),
                     0);
    assert_non_null(strstr(out, "Example: moesim check"));
}

/* Options are parsed with getopt_long: --name=value works, options may
 * follow positional arguments, and mistakes exit 2 with the command named. */
static void test_cli__options_parse_the_gnu_way(void **s)
{
    (void)s;
    assert_int_equal(run("run --bogus scenarios/default.ini", out, sizeof out,
                         errs, sizeof errs),
                     2);
    assert_string_equal(errs, "moesim run: unknown option '--bogus'; see "
                              "moesim run --help\n");
    assert_int_equal(run("run scenarios/default.ini -o", out, sizeof out, errs,
                         sizeof errs),
                     2);
    assert_string_equal(errs, "moesim run: missing value for '-o'; see "
                              "moesim run --help\n");
    assert_int_equal(run("replay x.trace --node=hardware/hgx-h100.ini "
                         "--nodes=0",
                         out, sizeof out, errs, sizeof errs),
                     2);
    assert_string_equal(errs, "moesim replay: --nodes 0 is below 1\n");
    assert_int_equal(run("compare a.db b.db", out, sizeof out, errs,
                         sizeof errs),
                     2);
    assert_non_null(strstr(errs, "unexpected argument 'b.db'"));
    /* --stats=FILE is the same option as --stats FILE */
    assert_int_equal(run("trace --stats=no/such.trace", out, sizeof out, errs,
                         sizeof errs),
                     2);
    assert_non_null(strstr(errs, "no/such.trace"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli__check_default_scenario_prints_facts),
        cmocka_unit_test(test_cli__bad_file_exits_2_with_file_line_and_no_output),
        cmocka_unit_test(test_cli__missing_file_exits_2),
        cmocka_unit_test(test_cli__unknown_command_and_help),
        cmocka_unit_test(test_cli__options_parse_the_gnu_way),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
