/*
 * trace_reader_open on damaged files: truncated at every length, every
 * byte changed, extra bytes, bad magic, a future version, sizes that point
 * past the end, random multi-byte damage. Every case must give ERR_INPUT
 * and "FILE: what is wrong (offset N)"; none may crash (run under ASan).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "models/trace.h"
#include "trace_test_util.h"

static char good_path[128], bad_path[128];
static uint8_t *good;
static size_t good_bytes;

/* 2 layers (fixed k=2, variable), 8 experts on 2 devices, 2 steps. */
static int write_small(const char *path)
{
    placement_t *pl = NULL;
    trace_writer_t *w = NULL;
    err_t e;
    int rc = placement_create_contiguous(&pl, 2, 8, 2, 1, &e);
    if (rc < 0)
        return rc;
    trace_meta_t meta = {"model", "policy", "router", NULL, 1, 2,
                         TRACE_FLAG_VARIABLE};
    rc = trace_writer_create(&w, path, &meta, pl, &e);
    static const uint16_t src[3] = {0, 1, 1};
    static const uint16_t ids2[6] = {1, 2, 3 | TRACE_DROPPED, 4, 5, 6};
    static const uint16_t idsv[3] = {7, 0, 1};
    static const uint32_t off[4] = {0, 1, 1, 3};
    for (uint32_t s = 0; rc == 0 && s < 2; s++) {
        uint32_t T = 3 - s;
        trace_layer_t f = {T, 2, 2 * T, ids2, NULL};
        trace_layer_t v = {T, 0, off[T], idsv, off};
        rc = trace_writer_step(w, T, src, &e);
        if (rc == 0)
            rc = trace_writer_layer(w, &f, &e);
        if (rc == 0)
            rc = trace_writer_layer(w, &v, &e);
    }
    if (rc == 0)
        rc = trace_writer_finish(w, &e);
    trace_writer_destroy(w);
    placement_destroy(pl);
    return rc;
}

static int setup(void **state)
{
    (void)state;
    if (scratch_make() < 0)
        return -1;
    scratch_path(good_path, sizeof good_path, "good.moetrace");
    scratch_path(bad_path, sizeof bad_path, "bad.moetrace");
    if (write_small(good_path) < 0)
        return -1;
    good = slurp(good_path, &good_bytes);
    return good ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    free(good);
    scratch_remove();
    return 0;
}

/* Opens bad_path holding bytes[n]; asserts a located ERR_INPUT. Returns
 * 1 so callers can count. `what` is printed on failure. */
static int expect_rejected(const uint8_t *bytes, size_t n, const char *what,
                           const char *fragment)
{
    assert_int_equal(spit(bad_path, bytes, n), 0);
    trace_reader_t *r = NULL;
    err_t e;
    err_clear(&e);
    int rc = trace_reader_open(&r, bad_path, &e);
    int ok = rc == ERR_INPUT && r == NULL &&
             strncmp(e.msg, bad_path, strlen(bad_path)) == 0 &&
             strstr(e.msg, "(offset ") != NULL &&
             (!fragment || strstr(e.msg, fragment) != NULL);
    if (!ok)
        print_message("%s: rc %d, message \"%s\"\n", what, rc, e.msg);
    trace_reader_destroy(r);
    assert_true(ok);
    return 1;
}

static void test_corrupt__good_file_opens(void **state)
{
    (void)state;
    trace_reader_t *r = NULL;
    err_t e;
    int rc = trace_reader_open(&r, good_path, &e);
    if (rc)
        print_message("%s\n", e.msg);
    assert_int_equal(rc, 0);
    trace_reader_destroy(r);
    /* header 320 + 4*2*8 = 384; step 0: 24+6, 32+12, 32+3+6; step 1:
     * 24+4, 32+8, 32+2+2 (counts 1,0); trailer 48. */
    assert_int_equal(good_bytes, 384 + 30 + 44 + 41 + 28 + 40 + 36 + 48);
}

static void test_corrupt__truncated_at_every_length(void **state)
{
    (void)state;
    int n = 0;
    char what[64];
    for (size_t len = 0; len < good_bytes; len++) {
        snprintf(what, sizeof what, "truncated to %zu bytes", len);
        n += expect_rejected(good, len, what, NULL);
    }
    assert_int_equal(n, (int)good_bytes);
}

static void test_corrupt__every_byte_changed(void **state)
{
    (void)state;
    uint8_t *b = malloc(good_bytes);
    assert_non_null(b);
    static const uint8_t flips[] = {0x01, 0x80, 0xff};
    char what[64];
    for (size_t f = 0; f < sizeof flips; f++) {
        for (size_t at = 0; at < good_bytes; at++) {
            memcpy(b, good, good_bytes);
            b[at] ^= flips[f];
            snprintf(what, sizeof what, "byte %zu xor 0x%02x", at, flips[f]);
            expect_rejected(b, good_bytes, what, NULL);
        }
    }
    free(b);
}

static void test_corrupt__extra_bytes_after_trailer(void **state)
{
    (void)state;
    uint8_t *b = malloc(good_bytes + 1);
    assert_non_null(b);
    memcpy(b, good, good_bytes);
    b[good_bytes] = 0;
    expect_rejected(b, good_bytes + 1, "one extra byte", "trailer");
    free(b);
}

static void test_corrupt__bad_magic_and_future_version(void **state)
{
    (void)state;
    uint8_t *b = malloc(good_bytes);
    assert_non_null(b);
    memcpy(b, good, good_bytes);
    memcpy(b, "MOETRACF", 8);
    expect_rejected(b, good_bytes, "bad magic", "not a moesim trace");
    memcpy(b, good, good_bytes);
    b[8] = 2; /* version 2.0 */
    expect_rejected(b, good_bytes, "version 2",
                    "format version 2.0 is newer than this moesim reads");
    expect_rejected((const uint8_t *)"PK\x03\x04", 4, "a zip file",
                    "not a moesim trace");
    free(b);
}

/* A newer minor version (1.1) that appended 8 bytes of header fields is
 * read: the extra bytes sit before the header checksum and are skipped.
 * The file is rebuilt here with every checksum and the trailer offset
 * recomputed. */
static void put64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void test_corrupt__newer_minor_version_is_read(void **state)
{
    (void)state;
    size_t H = 384, n = good_bytes + 8;
    uint8_t *b = malloc(n);
    assert_non_null(b);
    memcpy(b, good, H - 8);
    memcpy(b + H - 8, "NEWFIELD", 8);
    memcpy(b + H, good + H - 8, good_bytes - (H - 8));
    b[10] = 1;        /* minor 1 */
    b[12] = 0x88;     /* H = 392 = 0x188 */
    b[13] = 0x01;
    put64(b + H, trace_fnv1a64(TRACE_FNV1A64_INIT, b, H));
    put64(b + n - 16, n - 48);
    put64(b + n - 8, trace_fnv1a64(TRACE_FNV1A64_INIT, b, n - 8));
    char path[128];
    scratch_path(path, sizeof path, "minor.moetrace");
    assert_int_equal(spit(path, b, n), 0);
    trace_reader_t *r = NULL;
    err_t e;
    err_clear(&e);
    int rc = trace_reader_open(&r, path, &e);
    if (rc)
        print_message("%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_int_equal(trace_reader_info(r)->version_minor, 1);
    assert_int_equal(trace_reader_info(r)->steps, 2);
    uint32_t T;
    const uint16_t *src;
    assert_int_equal(trace_reader_next(r, &T, &src, &e), 1);
    assert_int_equal(T, 3);
    trace_reader_destroy(r);
    /* The same bytes labelled 1.0 must be refused: 1.0 has no extra. */
    b[10] = 0;
    put64(b + H, trace_fnv1a64(TRACE_FNV1A64_INIT, b, H));
    put64(b + n - 8, trace_fnv1a64(TRACE_FNV1A64_INIT, b, n - 8));
    expect_rejected(b, n, "1.0 with a long header", "header size 392");
    free(b);
}

/* Sizes that claim more than the file holds are refused before any
 * allocation: a step of 16M tokens, a layer of 2^32-1 entries. */
static void test_corrupt__sizes_past_the_end(void **state)
{
    (void)state;
    uint8_t *b = malloc(good_bytes);
    assert_non_null(b);
    size_t step0 = 384, layer0 = step0 + 30;
    memcpy(b, good, good_bytes);
    b[step0 + 8] = 0x00; /* T = 0x00ffffff... little-endian */
    b[step0 + 9] = 0x00;
    b[step0 + 10] = 0x00;
    b[step0 + 11] = 0x01; /* T = 16777216 */
    expect_rejected(b, good_bytes, "huge step", "block needs 33554456 bytes");
    memcpy(b, good, good_bytes);
    memset(b + layer0 + 16, 0xff, 4);
    expect_rejected(b, good_bytes, "huge layer", "entries");
    free(b);
}

/* Re-seals b[n] after an edit inside the block [at, at + bytes): the
 * block's checksum, the trailer's offset and the file checksum. */
static void reseal(uint8_t *b, size_t n, size_t at, size_t bytes)
{
    put64(b + at + bytes - 8, trace_fnv1a64(TRACE_FNV1A64_INIT, b + at,
                                            bytes - 8));
    put64(b + n - 16, n - 48);
    put64(b + n - 8, trace_fnv1a64(TRACE_FNV1A64_INIT, b, n - 8));
}

/* Bad LEB128 counts under valid checksums. The variable block of step 0
 * starts at 384 + 30 + 44 = 458 and holds 41 bytes: 24 of fields, the
 * counts 1, 0, 2 at 482..484 (C = 3 at 478), 3 ids, the checksum. */
static void test_corrupt__bad_counts_rejected(void **state)
{
    (void)state;
    enum { VAR = 458, COUNTS = VAR + 24 };
    uint8_t *b = malloc(good_bytes + 1);
    assert_non_null(b);
    assert_memory_equal(good + COUNTS, "\x01\x00\x02", 3);
    /* Token 2's count has its continuation bit set at the block's end. */
    memcpy(b, good, good_bytes);
    b[COUNTS + 2] = 0x82;
    reseal(b, good_bytes, VAR, 41);
    expect_rejected(b, good_bytes, "cut count",
                    "step 0 layer 1 token 2: count is cut or longer than 3 "
                    "bytes (offset 484)");
    /* Token 0 routed to 9 of 8 experts. */
    memcpy(b, good, good_bytes);
    b[COUNTS] = 0x09;
    reseal(b, good_bytes, VAR, 41);
    expect_rejected(b, good_bytes, "count above experts",
                    "step 0 layer 1 token 0: count 9 > experts (8) (offset "
                    "482)");
    /* Token 0's 1 as 0x81 0x00: the same value, not in minimal form. The
     * block grows to 42 bytes with C = 4. */
    memcpy(b, good, COUNTS);
    b[COUNTS] = 0x81;
    memcpy(b + COUNTS + 1, good + COUNTS, good_bytes - COUNTS);
    b[COUNTS + 1] = 0x00;
    b[VAR + 20] = 4;
    reseal(b, good_bytes + 1, VAR, 42);
    expect_rejected(b, good_bytes + 1, "count not minimal",
                    "step 0 layer 1 token 0: count not in minimal form "
                    "(offset 482)");
    free(b);
}

/* Random damage to several bytes at once, from a fixed LCG. */
static void test_corrupt__random_damage_never_crashes(void **state)
{
    (void)state;
    uint8_t *b = malloc(good_bytes);
    assert_non_null(b);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    for (int i = 0; i < 2000; i++) {
        memcpy(b, good, good_bytes);
        int hits = 1 + i % 4;
        for (int h = 0; h < hits; h++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            size_t at = (size_t)(x >> 33) % good_bytes;
            b[at] = (uint8_t)(x >> 17);
        }
        if (memcmp(b, good, good_bytes) == 0)
            continue;
        expect_rejected(b, good_bytes, "random damage", NULL);
    }
    free(b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_corrupt__good_file_opens),
        cmocka_unit_test(test_corrupt__truncated_at_every_length),
        cmocka_unit_test(test_corrupt__every_byte_changed),
        cmocka_unit_test(test_corrupt__extra_bytes_after_trailer),
        cmocka_unit_test(test_corrupt__bad_magic_and_future_version),
        cmocka_unit_test(test_corrupt__newer_minor_version_is_read),
        cmocka_unit_test(test_corrupt__sizes_past_the_end),
        cmocka_unit_test(test_corrupt__bad_counts_rejected),
        cmocka_unit_test(test_corrupt__random_damage_never_crashes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
