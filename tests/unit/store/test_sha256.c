/*
 * sha256: the NIST example vectors (FIPS 180-2 appendix B, the "SHA-256
 * examples" of the NIST CSRC example values), fed whole and in pieces,
 * and the file digest the store records.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "results/sha256.h"

static const char msg448[] =
    "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
static const char msg896[] =
    "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmno"
    "ijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu";

static void check_hex(const char *data, size_t n, const char *want)
{
    char hex[SHA256_HEX_CHARS + 1];
    sha256_hex(data, n, hex);
    if (strcmp(hex, want) != 0)
        print_message("%zu bytes\n  got  %s\n  want %s\n", n, hex, want);
    assert_string_equal(hex, want);
}

static void test_sha256__abc(void **st)
{
    (void)st;
    check_hex("abc", 3,
              "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_sha256__empty_string(void **st)
{
    (void)st;
    check_hex("", 0,
              "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

/* 56 bytes: the length no longer fits the first block, so padding needs a
 * second one. */
static void test_sha256__448_bit_message(void **st)
{
    (void)st;
    assert_int_equal(strlen(msg448) * 8, 448);
    check_hex(msg448, strlen(msg448),
              "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256__896_bit_message(void **st)
{
    (void)st;
    assert_int_equal(strlen(msg896) * 8, 896);
    check_hex(msg896, strlen(msg896),
              "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
}

static void test_sha256__one_million_a(void **st)
{
    (void)st;
    size_t n = 1000000;
    char *a = malloc(n);
    assert_non_null(a);
    memset(a, 'a', n);
    check_hex(a, n,
              "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
    free(a);
}

/* The same million 'a' in pieces that straddle block boundaries every
 * way (1, 63, 64, 65, 1000 bytes, repeating): the buffering must not
 * change the digest. */
static void test_sha256__pieces_equal_whole(void **st)
{
    (void)st;
    static const size_t sizes[] = {1, 63, 64, 65, 1000};
    char a[1000];
    memset(a, 'a', sizeof a);
    sha256_ctx c;
    sha256_init(&c);
    size_t left = 1000000;
    for (size_t i = 0; left > 0; i++) {
        size_t n = sizes[i % 5] < left ? sizes[i % 5] : left;
        sha256_update(&c, a, n);
        left -= n;
    }
    unsigned char d[SHA256_DIGEST_BYTES];
    char hex[SHA256_HEX_CHARS + 1];
    sha256_final(&c, d);
    sha256_to_hex(d, hex);
    assert_string_equal(
        hex, "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");

    sha256_init(&c);
    for (size_t i = 0; msg448[i]; i++)
        sha256_update(&c, &msg448[i], 1);
    sha256_final(&c, d);
    sha256_to_hex(d, hex);
    assert_string_equal(
        hex, "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
}

static void test_sha256_file__digest_of_bytes(void **st)
{
    (void)st;
    char path[] = "build/test-sha256-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "abc", 3), 3);
    close(fd);
    char hex[SHA256_HEX_CHARS + 1];
    err_t e;
    err_clear(&e);
    int rc = sha256_file(path, hex, &e);
    remove(path);
    if (rc != 0)
        print_message("%s\n", e.msg);
    assert_int_equal(rc, 0);
    assert_string_equal(
        hex, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

static void test_sha256_file__missing_file_names_path(void **st)
{
    (void)st;
    char hex[SHA256_HEX_CHARS + 1];
    err_t e;
    err_clear(&e);
    assert_int_equal(sha256_file("build/no-such-file.ini", hex, &e), ERR_IO);
    assert_string_equal(e.msg, "build/no-such-file.ini: cannot open to hash "
                               "it: No such file or directory");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sha256__abc),
        cmocka_unit_test(test_sha256__empty_string),
        cmocka_unit_test(test_sha256__448_bit_message),
        cmocka_unit_test(test_sha256__896_bit_message),
        cmocka_unit_test(test_sha256__one_million_a),
        cmocka_unit_test(test_sha256__pieces_equal_whole),
        cmocka_unit_test(test_sha256_file__digest_of_bytes),
        cmocka_unit_test(test_sha256_file__missing_file_names_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
