/* The line-numbered INI reader: what it accepts and how it points at lines. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/ini.h"

static inidoc *load(const char *text)
{
    inidoc *d = NULL;
    err_t e;
    err_clear(&e);
    int rc = ini_load_string("t.ini", text, &d, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
    return d;
}

static void test_ini__keys_keep_their_line_numbers(void **s)
{
    (void)s;
    inidoc *d = load("; comment\n\n[a]\nx = 1\n\n# other comment\ny = 2 ; inline\n");
    int sec = ini_find_section(d, "a");
    assert_int_equal(sec, 0);
    assert_int_equal(ini_section_line(d, 0), 3);
    assert_int_equal(ini_key_line(d, sec, "x"), 4);
    assert_int_equal(ini_key_line(d, sec, "y"), 7);
    long y = 0;
    err_t e;
    assert_int_equal(ini_get_long(d, sec, "y", 1, 0, 10, &y, &e), 0);
    assert_int_equal(y, 2); /* the inline comment is not part of the value */
    ini_destroy(d);
}

static void test_ini__section_names_fold_spaces(void **s)
{
    (void)s;
    inidoc *d = load("[  policy    top k ]\nrouter = topk\n");
    assert_string_equal(ini_section_name(d, 0), "policy top k");
    ini_destroy(d);
}

static void test_ini__unasked_key_is_reported_with_choices(void **s)
{
    (void)s;
    inidoc *d = load("[a]\nx = 1\nz = 3\n");
    int sec = ini_find_section(d, "a");
    long v;
    err_t e;
    err_clear(&e);
    assert_int_equal(ini_get_long(d, sec, "x", 1, 0, 9, &v, &e), 0);
    assert_int_equal(ini_get_long(d, sec, "y", 0, 0, 9, &v, &e), 1);
    assert_int_equal(ini_check_unused(d, "[a]", &e), ERR_INPUT);
    assert_string_equal(e.msg,
                        "t.ini:3: unknown key 'z' in [a]; expected one of: x, y");
    ini_destroy(d);
}

static void test_ini__typed_getters_reject_bad_values(void **s)
{
    (void)s;
    inidoc *d = load("[a]\nn = 12x\nf = 1e400\nb = perhaps\nl = 1, two\n");
    int sec = ini_find_section(d, "a");
    long n;
    double f, list[4];
    int b, count;
    err_t e;
    assert_int_equal(ini_get_long(d, sec, "n", 1, 0, 99, &n, &e), ERR_INPUT);
    assert_string_equal(e.msg, "t.ini:2: [a] n: '12x' is not a whole number; "
                               "expected an integer from 0 to 99");
    assert_int_equal(ini_get_double(d, sec, "f", 1, 0, 1, &f, &e), ERR_INPUT);
    assert_int_equal(ini_get_bool(d, sec, "b", 1, &b, &e), ERR_INPUT);
    assert_int_equal(ini_get_double_list(d, sec, "l", 1, 0, 9, list, 4,
                                         &count, &e),
                     ERR_INPUT);
    assert_string_equal(e.msg, "t.ini:5: [a] l: 'two' is not a number; "
                               "expected a comma-separated list of numbers");
    ini_destroy(d);
}

/* Every list splits the same way: blanks around items go, an empty item
 * (doubled or trailing comma) is an error rather than skipped. */
static void test_ini__list_items_are_trimmed_and_never_empty(void **s)
{
    (void)s;
    inidoc *d = load("[a]\nl = 1, 2 ,3\nm = 1,,2\nn = 1, 2,\n");
    int sec = ini_find_section(d, "a");
    double list[4];
    int count = 0;
    err_t e;
    err_clear(&e);
    assert_int_equal(ini_get_double_list(d, sec, "l", 1, 0, 9, list, 4,
                                         &count, &e),
                     0);
    assert_int_equal(count, 3);
    assert_true(list[0] == 1 && list[1] == 2 && list[2] == 3);
    assert_int_equal(ini_get_double_list(d, sec, "m", 1, 0, 9, list, 4,
                                         &count, &e),
                     ERR_INPUT);
    assert_string_equal(e.msg, "t.ini:3: [a] m: empty item in '1,,2'; "
                               "expected a comma-separated list");
    char buf[INI_LINE_MAX + 1];
    char *item[4];
    assert_int_equal(ini_get_list(d, sec, "n", 1, buf, item, 4, &count, &e),
                     ERR_INPUT);
    assert_string_equal(e.msg, "t.ini:4: [a] n: empty item in '1, 2,'; "
                               "expected a comma-separated list");
    assert_true(ini_has_key(d, sec, "n"));
    assert_false(ini_has_key(d, sec, "x"));
    ini_destroy(d);
}

static void test_ini__resolve_path_is_relative_to_the_file(void **s)
{
    (void)s;
    char out[64];
    assert_int_equal(ini_resolve_path("scenarios/x.ini", "../m.ini", out,
                                      sizeof out),
                     0);
    assert_string_equal(out, "scenarios/../m.ini");
    assert_int_equal(ini_resolve_path("x.ini", "m.ini", out, sizeof out), 0);
    assert_string_equal(out, "m.ini");
    assert_int_equal(ini_resolve_path("a/x.ini", "/abs.ini", out, sizeof out),
                     0);
    assert_string_equal(out, "/abs.ini");
    assert_int_equal(ini_resolve_path("a/x.ini", "m.ini", out, 4), -1);
}

static void test_ini__nul_byte_is_rejected(void **s)
{
    (void)s;
    /* a name of its own, so that test runs side by side do not share it */
    char path[] = "build/nul-test-XXXXXX.ini";
    int fd = mkstemps(path, 4);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "wb");
    assert_non_null(f);
    fwrite("[a]\nx = 1\0\n", 1, 11, f);
    fclose(f);
    inidoc *d = NULL;
    err_t e;
    int rc = ini_load(path, &d, &e);
    remove(path);
    assert_int_equal(rc, ERR_INPUT);
    assert_null(d);
    char want[128];
    snprintf(want, sizeof want,
             "%s: contains a NUL byte; expected a text INI file", path);
    assert_string_equal(e.msg, want);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ini__keys_keep_their_line_numbers),
        cmocka_unit_test(test_ini__section_names_fold_spaces),
        cmocka_unit_test(test_ini__unasked_key_is_reported_with_choices),
        cmocka_unit_test(test_ini__typed_getters_reject_bad_values),
        cmocka_unit_test(test_ini__list_items_are_trimmed_and_never_empty),
        cmocka_unit_test(test_ini__resolve_path_is_relative_to_the_file),
        cmocka_unit_test(test_ini__nul_byte_is_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
