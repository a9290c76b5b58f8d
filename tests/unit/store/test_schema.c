/*
 * The schema: results/schema.sql (the documented source) and the copy
 * embedded in store.c are the same bytes, and a new database carries it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/store/store_test.h"

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fprintf(stderr, "%s: cannot open; run from the project root\n", path);
    assert_non_null(f);
    assert_int_equal(fseek(f, 0, SEEK_END), 0);
    long n = ftell(f);
    assert_true(n > 0);
    rewind(f);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_schema__file_equals_embedded(void **st)
{
    (void)st;
    char *file = read_file("results/schema.sql");
    const char *embedded = store_schema_sql();
    if (strcmp(file, embedded) != 0) {
        size_t i = 0;
        while (file[i] && file[i] == embedded[i])
            i++;
        fprintf(stderr,
                "results/schema.sql and the schema in results/store.c "
                "differ at byte %zu:\n  file:     %.60s\n  embedded: %.60s\n",
                i, file + i, embedded + i);
    }
    assert_string_equal(file, embedded);
    free(file);
}

/* A new database is stamped as moesim's, schema version 1, in WAL mode,
 * and holds the ten tables. */
static void test_schema__new_database_is_stamped(void **st)
{
    (void)st;
    char path[64];
    tmp_db(path);
    store_scenario sc = test_scenario(TEST_TEXT);
    store_close(open_ok(path, &sc));
    assert_int_equal(query_ll(path, "PRAGMA application_id"), 0x4D4F4553);
    assert_int_equal(query_ll(path, "PRAGMA user_version"), 1);
    char buf[64];
    assert_string_equal(query_text(path, "PRAGMA journal_mode", buf,
                                   sizeof buf),
                        "wal");
    assert_int_equal(
        query_ll(path, "SELECT count(*) FROM sqlite_master WHERE type = "
                       "'table' AND name IN ('scenario', 'scenario_file', "
                       "'policy', 'run', 'layer_step', 'device_step', 'step', "
                       "'expert_load', 'link', 'summary')"),
        10);
    remove_db(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_schema__file_equals_embedded),
        cmocka_unit_test(test_schema__new_database_is_stamped),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
