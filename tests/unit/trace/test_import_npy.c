/*
 * trace_import_npy: vLLM-style routed-experts arrays [tokens, layers,
 * top_k] in NumPy .npy, built byte by byte here; the import written as a
 * trace and read back; malformed files rejected with their offset.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "models/trace.h"
#include "trace_test_util.h"

/* routes[t][l][j] for 3 tokens, 2 layers, top-2, 8 experts. */
static const uint16_t want_ids[12] = {3, 7, 0, 5, /* token 0: l0, l1 */
                                      1, 2, 6, 4, /* token 1 */
                                      7, 0, 2, 3}; /* token 2 */

/* The .npy file np.save writes for that array as int16, version 1.0:
 *   bytes 0-5   \x93NUMPY
 *   bytes 6-7   version 1, 0
 *   bytes 8-9   header length, u16 LE: 118 (0x76)
 *   bytes 10-71 the dict, 62 characters:
 *       {'descr': '<i2', 'fortran_order': False, 'shape': (3, 2, 2), }
 *   bytes 72-126 55 spaces, byte 127 '\n'  (10 + 118 = 128, a multiple of
 *                64 as NumPy pads it)
 *   bytes 128-151 12 int16 LE values. */
static size_t build_v1_i2(uint8_t *b)
{
    static const char dict[] =
        "{'descr': '<i2', 'fortran_order': False, 'shape': (3, 2, 2), }";
    assert_int_equal(sizeof dict - 1, 62);
    memcpy(b, "\x93NUMPY\x01\x00\x76\x00", 10);
    memcpy(b + 10, dict, 62);
    memset(b + 72, ' ', 55);
    b[127] = '\n';
    for (int i = 0; i < 12; i++) {
        b[128 + 2 * i] = (uint8_t)want_ids[i];
        b[129 + 2 * i] = 0;
    }
    return 152;
}

/* Any header, version 1.0 or 2.0, padded the NumPy way; then data. */
static size_t build_npy(uint8_t *b, int major, const char *dict,
                        const uint8_t *data, size_t data_bytes)
{
    size_t pre = major == 1 ? 10 : 12, d = strlen(dict);
    size_t total = (pre + d + 1 + 63) / 64 * 64;
    size_t hlen = total - pre;
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (uint8_t)major;
    b[7] = 0;
    b[8] = (uint8_t)hlen;
    b[9] = (uint8_t)(hlen >> 8);
    if (major != 1)
        b[10] = b[11] = 0;
    memcpy(b + pre, dict, d);
    memset(b + pre + d, ' ', hlen - d - 1);
    b[total - 1] = '\n';
    memcpy(b + total, data, data_bytes);
    return total + data_bytes;
}

static char npy_path[128], trace_path[128];

static int setup(void **state)
{
    (void)state;
    if (scratch_make() < 0)
        return -1;
    scratch_path(npy_path, sizeof npy_path, "routed.npy");
    scratch_path(trace_path, sizeof trace_path, "routed.moetrace");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    scratch_remove();
    return 0;
}

static void test_import_npy__v1_int16_by_hand(void **state)
{
    (void)state;
    uint8_t b[256];
    size_t n = build_v1_i2(b);
    assert_int_equal(spit(npy_path, b, n), 0);
    trace_routes_t *r = NULL;
    err_t e;
    err_clear(&e);
    int rc = trace_import_npy(npy_path, 8, &r, &e);
    if (rc)
        print_message("%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(r->tokens, 3);
    assert_int_equal(r->layers, 2);
    assert_int_equal(r->top_k, 2);
    assert_memory_equal(r->ids, want_ids, sizeof want_ids);
    trace_routes_destroy(r);
    trace_routes_destroy(NULL);
}

/* Version 2.0 (u32 header length), int32 values 5 and 6, shape (1,1,2). */
static void test_import_npy__v2_int32(void **state)
{
    (void)state;
    static const uint8_t data[8] = {5, 0, 0, 0, 6, 0, 0, 0};
    uint8_t b[256];
    size_t n = build_npy(b, 2, "{'descr': '<i4', 'fortran_order': False, "
                               "'shape': (1, 1, 2), }", data, sizeof data);
    assert_int_equal(n, 128 + 8);
    assert_int_equal(spit(npy_path, b, n), 0);
    trace_routes_t *r = NULL;
    err_t e;
    assert_int_equal(trace_import_npy(npy_path, 8, &r, &e), 0);
    assert_int_equal(r->tokens, 1);
    assert_int_equal(r->ids[0], 5);
    assert_int_equal(r->ids[1], 6);
    trace_routes_destroy(r);
}

/* Import, write with steps of 2 tokens on 2 devices, read back.
 * Step 0 = tokens 0, 1; step 1 = token 2. Blocks: in a step of n tokens
 * token i comes from device i*2/n: step 0 -> 0, 1; step 1 -> 0. */
static void test_import_npy__written_as_trace_and_read_back(void **state)
{
    (void)state;
    uint8_t b[256];
    size_t n = build_v1_i2(b);
    assert_int_equal(spit(npy_path, b, n), 0);
    trace_routes_t *r = NULL;
    placement_t *pl = NULL;
    err_t e;
    err_clear(&e);
    assert_int_equal(trace_import_npy(npy_path, 8, &r, &e), 0);
    assert_int_equal(placement_create_contiguous(&pl, 2, 8, 2, 2, &e), 0);
    trace_meta_t meta = {"vllm-model", "recorded", "vllm", NULL, 0, 0, 0};
    trace_split_t split = {2, TRACE_SRC_BLOCKS};
    int rc = trace_routes_write(r, trace_path, pl, &meta, &split, &e);
    if (rc)
        print_message("%s\n", e.msg);
    assert_int_equal(rc, 0);

    trace_reader_t *rd = NULL;
    assert_int_equal(trace_reader_open(&rd, trace_path, &e), 0);
    const trace_info_t *in = trace_reader_info(rd);
    assert_int_equal(in->flags, TRACE_FLAG_IMPORTED);
    assert_int_equal(in->top_k_max, 2);
    assert_int_equal(in->steps, 2);
    assert_int_equal(in->entries, 12);
    static const uint32_t step_tokens[2] = {2, 1};
    static const uint16_t step_src[2][2] = {{0, 1}, {0, 0}};
    uint32_t T;
    const uint16_t *src;
    for (uint32_t s = 0; s < 2; s++) {
        assert_int_equal(trace_reader_next(rd, &T, &src, &e), 1);
        assert_int_equal(T, step_tokens[s]);
        for (uint32_t t = 0; t < T; t++) {
            assert_int_equal(src[t], step_src[s][t]);
            for (uint32_t l = 0; l < 2; l++) {
                const trace_layer_t *ly = trace_reader_layer(rd, l);
                uint32_t tok = 2 * s + t;
                assert_int_equal(ly->ids[2 * t], want_ids[tok * 4 + l * 2]);
                assert_int_equal(ly->ids[2 * t + 1],
                                 want_ids[tok * 4 + l * 2 + 1]);
            }
        }
    }
    trace_reader_destroy(rd);

    /* Round robin, one step: devices 0, 1, 0. */
    split.tokens_per_step = 0;
    split.src_assign = TRACE_SRC_ROUND_ROBIN;
    assert_int_equal(trace_routes_write(r, trace_path, pl, &meta, &split, &e),
                     0);
    assert_int_equal(trace_reader_open(&rd, trace_path, &e), 0);
    assert_int_equal(trace_reader_next(rd, &T, &src, &e), 1);
    assert_int_equal(T, 3);
    assert_int_equal(src[0], 0);
    assert_int_equal(src[1], 1);
    assert_int_equal(src[2], 0);
    trace_reader_destroy(rd);
    placement_destroy(pl);
    trace_routes_destroy(r);
}

static void expect_npy_error(const uint8_t *b, size_t n, const char *fragment)
{
    assert_int_equal(spit(npy_path, b, n), 0);
    trace_routes_t *r = NULL;
    err_t e;
    err_clear(&e);
    int rc = trace_import_npy(npy_path, 8, &r, &e);
    int ok = rc == ERR_INPUT && r == NULL && strstr(e.msg, fragment) &&
             strncmp(e.msg, npy_path, strlen(npy_path)) == 0 &&
             strstr(e.msg, "(offset ");
    if (!ok)
        print_message("rc %d, \"%s\", wanted \"%s\"\n", rc, e.msg, fragment);
    assert_true(ok);
}

static void test_import_npy__malformed_rejected_with_offset(void **state)
{
    (void)state;
    static const uint8_t four[8] = {1, 0, 2, 0, 3, 0, 4, 0};
    uint8_t b[256];
    size_t n;

    n = build_npy(b, 1, "{'descr': '<i2', 'fortran_order': True, "
                        "'shape': (1, 2, 2), }", four, 8);
    expect_npy_error(b, n, "Fortran order");
    n = build_npy(b, 1, "{'descr': '<f4', 'fortran_order': False, "
                        "'shape': (1, 1, 2), }", four, 8);
    expect_npy_error(b, n, "dtype '<f4' not supported");
    n = build_npy(b, 1, "{'descr': '>i2', 'fortran_order': False, "
                        "'shape': (1, 2, 2), }", four, 8);
    expect_npy_error(b, n, "dtype '>i2' not supported");
    n = build_npy(b, 1, "{'descr': '<i2', 'fortran_order': False, "
                        "'shape': (4, 2), }", four, 8);
    expect_npy_error(b, n, "has 2 dimensions");
    n = build_npy(b, 1, "{'descr': '<i2', 'fortran_order': False, "
                        "'shape': (1, 2, 2), }", four, 7);
    expect_npy_error(b, n, ".npy data is 7 bytes; shape and dtype need 8 "
                           "(offset 128)");
    n = build_npy(b, 1, "{'descr': '<i2' 'fortran_order': False}", four, 8);
    expect_npy_error(b, n, "not the dictionary NumPy writes");
    /* A dimension above 2^32 - 1 is pointed at from its first digit: the
     * 51 characters of "{'descr': '<i2', 'fortran_order': False, 'shape':
     * (" after the 10-byte preamble put it at offset 61. */
    n = build_npy(b, 1, "{'descr': '<i2', 'fortran_order': False, "
                        "'shape': (4294967296, 2, 2), }", four, 8);
    expect_npy_error(b, n, "near \"4294967296, 2, 2), }");
    expect_npy_error(b, n, "(offset 61)");

    /* These headers pad to 128 bytes (10 + 62 + 1 rounded up to 64s).
     * Value 3 of 4 (token 0, layer 1, slot 0) is -1: 0xffff at data
     * offset 4, file offset 128 + 4 = 132. */
    static const uint8_t neg[8] = {1, 0, 2, 0, 0xff, 0xff, 4, 0};
    n = build_npy(b, 1, "{'descr': '<i2', 'fortran_order': False, "
                        "'shape': (1, 2, 2), }", neg, 8);
    expect_npy_error(b, n, "token 0 layer 1 slot 0: expert id -1 outside "
                           "0..7 (offset 132)");
    /* 8 experts: id 8 is out of range; last value, offset 128 + 6. */
    static const uint8_t big[8] = {1, 0, 2, 0, 3, 0, 8, 0};
    n = build_npy(b, 1, "{'descr': '<i2', 'fortran_order': False, "
                        "'shape': (1, 2, 2), }", big, 8);
    expect_npy_error(b, n, "expert id 8 outside 0..7 (offset 134)");

    memcpy(b, "\x93NUMPZ", 6);
    expect_npy_error(b, n, "not a NumPy .npy file");
    n = build_v1_i2(b);
    b[8] = 0xff; /* header length 0x00ff runs past the dict */
    expect_npy_error(b, n, ".npy header");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_import_npy__v1_int16_by_hand),
        cmocka_unit_test(test_import_npy__v2_int32),
        cmocka_unit_test(test_import_npy__written_as_trace_and_read_back),
        cmocka_unit_test(test_import_npy__malformed_rejected_with_offset),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
