/*
 * trace_import_csv: token,layer,e0..e{K-1} rows as pandas writes them;
 * rows in any order; malformed files rejected with FILE:LINE.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "models/trace.h"
#include "trace_test_util.h"

/* The same array as test_import_npy: routes[t][l][j], 3 tokens, 2 layers,
 * top-2, 8 experts. */
static const uint16_t want_ids[12] = {3, 7, 0, 5, 1, 2, 6, 4, 7, 0, 2, 3};

static char csv_path[128];

static int setup(void **state)
{
    (void)state;
    if (scratch_make() < 0)
        return -1;
    scratch_path(csv_path, sizeof csv_path, "routed.csv");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    scratch_remove();
    return 0;
}

static trace_routes_t *import_bytes(const char *text, size_t n, err_t *e,
                                    int *rc)
{
    trace_routes_t *r = NULL;
    assert_int_equal(spit(csv_path, text, n), 0);
    err_clear(e);
    *rc = trace_import_csv(csv_path, 8, &r, e);
    return r;
}

static trace_routes_t *import_text(const char *text, err_t *e, int *rc)
{
    return import_bytes(text, strlen(text), e, rc);
}

/* What df.to_csv(index=False) writes for the frame in trace.h. */
static void test_import_csv__pandas_layout(void **state)
{
    (void)state;
    const char *text = "token,layer,e0,e1\n"
                       "0,0,3,7\n"
                       "0,1,0,5\n"
                       "1,0,1,2\n"
                       "1,1,6,4\n"
                       "2,0,7,0\n"
                       "2,1,2,3\n";
    err_t e;
    int rc;
    trace_routes_t *r = import_text(text, &e, &rc);
    if (rc)
        print_message("%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(r->tokens, 3);
    assert_int_equal(r->layers, 2);
    assert_int_equal(r->top_k, 2);
    assert_memory_equal(r->ids, want_ids, sizeof want_ids);
    trace_routes_destroy(r);
}

/* Rows out of order, CRLF line ends, a BOM, spaces, a blank line: same. */
static void test_import_csv__any_order_crlf_bom(void **state)
{
    (void)state;
    const char *text = "\xef\xbb\xbftoken, layer ,slot0,slot1\r\n"
                       "2,1,2,3\r\n"
                       "0,0, 3 ,7\r\n"
                       "1,1,6,4\r\n"
                       "\r\n"
                       "0,1,0,5\r\n"
                       "2,0,7,0\r\n"
                       "1,0,1,2";
    err_t e;
    int rc;
    trace_routes_t *r = import_text(text, &e, &rc);
    if (rc)
        print_message("%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_memory_equal(r->ids, want_ids, sizeof want_ids);
    trace_routes_destroy(r);
}

static void expect_csv_error(const char *text, const char *fragment)
{
    err_t e;
    int rc;
    trace_routes_t *r = import_text(text, &e, &rc);
    char want[256];
    snprintf(want, sizeof want, "%s%s", csv_path, fragment);
    int ok = rc == ERR_INPUT && r == NULL && strstr(e.msg, want) != NULL;
    if (!ok)
        print_message("rc %d, \"%s\", wanted \"%s\"\n", rc, e.msg, want);
    trace_routes_destroy(r);
    assert_true(ok);
}

static void test_import_csv__malformed_rejected_with_line(void **state)
{
    (void)state;
    expect_csv_error("tok,layer,e0\n0,0,1\n",
                     ":1: expected the header line");
    expect_csv_error("token,layer\n0,0\n", ":1: expected the header line");
    expect_csv_error("token,layer,e0,e1\n0,0,1,2\n0,1,3\n",
                     ":3: expected 4 fields as in the header, found 3");
    expect_csv_error("token,layer,e0,e1\n0,0,1,2\n0,1,3,4,5\n",
                     ":3: expected 4 fields as in the header, found more "
                     "than 4");
    expect_csv_error("token,layer,e0,e1\n0,0,1,x\n",
                     ":2: column 4: expert id \"x\" is not an integer in "
                     "0..7");
    expect_csv_error("token,layer,e0,e1\n0,0,-1,2\n",
                     ":2: column 3: expert id \"-1\" is negative");
    expect_csv_error("token,layer,e0,e1\n0,0,1,8\n",
                     ":2: column 4: expert id \"8\" outside 0..7");
    expect_csv_error("token,layer,e0,e1\n0,0,1,2\n0,1,3,4\n0,1,5,6\n",
                     ":4: token 0 layer 1 already given on line 3");
    expect_csv_error("token,layer,e0,e1\n0,0,1,2\n0,1,3,4\n1,0,5,6\n",
                     ": no row for token 1 layer 1");
    expect_csv_error("token,layer,e0,e1\n0,0,1,2\n4000000000,0,1,2\n",
                     ":3: token 4000000000 needs 4000000001 tokens");
    expect_csv_error("token,layer,e0,e1\n", ": no data rows");
    static const char nul[] = "token,layer,e0,e1\n0,0,1,2\n0,1,3\0,4\n";
    err_t e;
    int rc;
    trace_routes_t *r = import_bytes(nul, sizeof nul - 1, &e, &rc);
    assert_null(r);
    assert_int_equal(rc, ERR_INPUT);
    assert_non_null(strstr(e.msg, ":3: line holds a NUL byte"));
    /* A line over the 1 MiB limit is refused without reading it whole. */
    size_t big = (1u << 20) + 64;
    char *huge = malloc(big);
    assert_non_null(huge);
    memcpy(huge, "token,layer,e0\n0,0,", 19);
    memset(huge + 19, '1', big - 19);
    r = import_bytes(huge, big, &e, &rc);
    free(huge);
    assert_null(r);
    if (!strstr(e.msg, ":2: line longer than 1048576 bytes"))
        print_message("%s\n", e.msg);
    assert_non_null(strstr(e.msg, ":2: line longer than 1048576 bytes"));
    expect_csv_error("", ": no header line");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_csv__pandas_layout),
        cmocka_unit_test(test_import_csv__any_order_crlf_bom),
        cmocka_unit_test(test_import_csv__malformed_rejected_with_line),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
