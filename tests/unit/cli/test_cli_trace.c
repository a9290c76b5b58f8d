/* `moesim trace` and `moesim replay` as a user runs them. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#define TRACE "build/test-cli-trace.trace"
#define CUT "build/test-cli-trace-cut.trace"

static const char *bin(void)
{
    const char *b = getenv("MOESIM_BIN");
    return b ? b : "./moesim";
}

static char out[1 << 16], errs[8192];

static int run(const char *args)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s %s >build/cli-trace.out 2>build/cli-trace.err",
             bin(), args);
    int st = system(cmd);
    FILE *f = fopen("build/cli-trace.out", "r");
    size_t n = f ? fread(out, 1, sizeof out - 1, f) : 0;
    out[n] = 0;
    if (f)
        fclose(f);
    f = fopen("build/cli-trace.err", "r");
    n = f ? fread(errs, 1, sizeof errs - 1, f) : 0;
    errs[n] = 0;
    if (f)
        fclose(f);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli_trace__write_stats_replay(void **state)
{
    (void)state;
    int st = run("trace scenarios/pangu-decode-300i-duo.ini --policy moge "
                 "--seed 2 -o " TRACE);
    if (st != 0)
        fprintf(stderr, "%s", errs);
    assert_int_equal(st, 0);
    assert_int_equal(run("trace --stats " TRACE), 0);
    /* MoGE: every device gets the same load in every layer */
    assert_non_null(strstr(out, "policy moge (router moge, placement grouped)"));
    assert_non_null(strstr(out, " mean              0.0000            1.000"));
    /* the 310P has no bf16: without the dtypes the replay says so */
    assert_int_equal(run("replay " TRACE " --node hardware/atlas-300i-duo.ini"),
                     2);
    assert_non_null(strstr(errs, "has no bf16 support"));
    st = run("replay " TRACE " --node hardware/atlas-300i-duo.ini "
             "--phase decode --context-len 2048 --weight-dtype int8 "
             "--activation-dtype int8 --kv-dtype fp16");
    if (st != 0)
        fprintf(stderr, "%s", errs);
    assert_int_equal(st, 0);
    assert_non_null(strstr(out, "imbalance_score = 0\n"));
    assert_non_null(strstr(out, "devices = 8\n"));
}

static void test_cli_trace__truncated_trace_exits_2(void **state)
{
    (void)state;
    FILE *in = fopen(TRACE, "rb"), *cut = fopen(CUT, "wb");
    assert_non_null(in);
    assert_non_null(cut);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, in); /* the first 4 KiB only */
    fwrite(buf, 1, n, cut);
    fclose(in);
    fclose(cut);
    assert_int_equal(run("trace --stats " CUT), 2);
    assert_string_equal(out, "");
    assert_non_null(strstr(errs, "moesim: " CUT ": "));
    assert_int_equal(run("replay " CUT " --node hardware/atlas-300i-duo.ini"),
                     2);
    /* the wrong cluster size is an input error naming the fix */
    assert_int_equal(run("replay " TRACE " --node hardware/hgx-h100.ini "
                         "--nodes 2"),
                     2);
    assert_non_null(strstr(errs, "expected 1 nodes"));
    remove(TRACE);
    remove(CUT);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cli_trace__write_stats_replay),
        cmocka_unit_test(test_cli_trace__truncated_trace_exits_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
