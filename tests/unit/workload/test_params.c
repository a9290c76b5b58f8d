/*
 * workload_params_default / workload_params_load / workload_params_check:
 * the documented defaults (models/WORKLOAD.md), every key read, values out
 * of range or malformed rejected with FILE:LINE, unknown keys left for the
 * caller's ini_check_unused.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "common/ini.h"
#include "models/workload.h"

static inidoc *doc(const char *text)
{
    inidoc *d = NULL;
    err_t e;
    err_clear(&e);
    int rc = ini_load_string("scen.ini", text, &d, &e);
    if (rc != 0)
        fprintf(stderr, "ini_load_string: %s\n", e.msg);
    assert_int_equal(rc, 0);
    return d;
}

/* The table in models/WORKLOAD.md. */
static void test_params__defaults_are_the_documented_ones(void **state)
{
    (void)state;
    workload_params p;
    workload_params_default(&p);
    assert_int_equal(p.route_dim, 64);
    assert_int_equal(p.topics, 32);
    assert_true(p.topic_sigma == 1.2);
    assert_true(p.topic_drift_steps == 300.0);
    assert_true(p.sequence_spread == 0.5);
    assert_true(p.token_spread == 0.5);
    assert_true(p.heat_first == 0.12);
    assert_true(p.heat_last == 1.0);
    assert_true(p.heat_jitter == 0.4);
    assert_true(p.expert_spread == 0.8);
    assert_true(p.decode_length_steps == 500.0);
    assert_true(p.vocab_zipf == 1.1);
    assert_true(p.vocab_topic_share == 0.5);
    err_t e;
    assert_int_equal(workload_params_check(&p, &e), 0);
}

static void test_params__reads_every_key(void **state)
{
    (void)state;
    inidoc *d = doc("[workload]\n"
                    "route_dim = 7168\n"
                    "topics = 5\n"
                    "topic_sigma = 2\n"
                    "topic_drift_steps = 50\n"
                    "sequence_spread = 0.25\n"
                    "token_spread = 1.5\n"
                    "heat_first = 0.3\n"
                    "heat_last = 3\n"
                    "heat_jitter = 0\n"
                    "expert_spread = 1\n"
                    "decode_length_steps = 2000\n"
                    "vocab_zipf = 1.0\n"
                    "vocab_topic_share = 1\n");
    workload_params p;
    workload_params_default(&p);
    err_t e;
    err_clear(&e);
    int sec = ini_find_section(d, "workload");
    assert_int_equal(workload_params_load(d, sec, &p, &e), 0);
    assert_int_equal(p.route_dim, 7168);
    assert_int_equal(p.topics, 5);
    assert_true(p.topic_sigma == 2.0);
    assert_true(p.topic_drift_steps == 50.0);
    assert_true(p.sequence_spread == 0.25);
    assert_true(p.token_spread == 1.5);
    assert_true(p.heat_first == 0.3);
    assert_true(p.heat_last == 3.0);
    assert_true(p.heat_jitter == 0.0);
    assert_true(p.expert_spread == 1.0);
    assert_true(p.decode_length_steps == 2000.0);
    assert_true(p.vocab_zipf == 1.0);
    assert_true(p.vocab_topic_share == 1.0);
    assert_int_equal(ini_check_unused(d, "[workload]", &e), 0);
    ini_destroy(d);
}

/* Absent keys and an absent section keep the values already in p. */
static void test_params__absent_keys_keep_defaults(void **state)
{
    (void)state;
    workload_params want, p;
    workload_params_default(&want);
    err_t e;
    inidoc *d = doc("[workload]\ntopics = 8\n");
    workload_params_default(&p);
    assert_int_equal(
        workload_params_load(d, ini_find_section(d, "workload"), &p, &e), 0);
    want.topics = 8;
    assert_memory_equal(&p, &want, sizeof p);
    ini_destroy(d);

    d = doc("[scenario]\nsteps = 3\n");
    workload_params_default(&p);
    workload_params_default(&want);
    assert_int_equal(
        workload_params_load(d, ini_find_section(d, "workload"), &p, &e), 0);
    assert_memory_equal(&p, &want, sizeof p);
    ini_destroy(d);
}

/* One bad value per case, on line 3 of the file. */
static void test_params__rejects_out_of_range_with_file_line(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"route_dim = 1", "route_dim"},
        {"route_dim = 100000", "route_dim"},
        {"topics = 0", "topics"},
        {"topic_sigma = -0.1", "topic_sigma"},
        {"topic_drift_steps = 0.5", "topic_drift_steps"},
        {"sequence_spread = 11", "sequence_spread"},
        {"token_spread = -1", "token_spread"},
        {"heat_first = -0.5", "heat_first"},
        {"heat_last = 101", "heat_last"},
        {"heat_jitter = 3.5", "heat_jitter"},
        {"expert_spread = -1", "expert_spread"},
        {"decode_length_steps = 0", "decode_length_steps"},
        {"vocab_zipf = 5", "vocab_zipf"},
        {"vocab_topic_share = 1.01", "vocab_topic_share"},
        {"topics = many", "topics"},
        {"heat_last = hot", "heat_last"},
        {"route_dim = 64.5", "route_dim"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char text[256];
        snprintf(text, sizeof text, "[workload]\n; a comment\n%s\n",
                 bad[i][0]);
        inidoc *d = doc(text);
        workload_params p;
        workload_params_default(&p);
        err_t e;
        err_clear(&e);
        int rc = workload_params_load(d, ini_find_section(d, "workload"), &p,
                                      &e);
        if (rc != ERR_INPUT || strncmp(e.msg, "scen.ini:3:", 11) != 0 ||
            !strstr(e.msg, bad[i][1]))
            fprintf(stderr, "case '%s': rc %d, message '%s'\n", bad[i][0], rc,
                    e.msg);
        assert_int_equal(rc, ERR_INPUT);
        assert_int_equal(strncmp(e.msg, "scen.ini:3:", 11), 0);
        assert_non_null(strstr(e.msg, bad[i][1]));
        ini_destroy(d);
    }
}

/* workload_params_load does not claim keys it does not know: the
 * caller's ini_check_unused names them, with the accepted list. */
static void test_params__unknown_key_left_to_check_unused(void **state)
{
    (void)state;
    inidoc *d = doc("[workload]\ntopics = 4\nskew = 3\n");
    workload_params p;
    workload_params_default(&p);
    err_t e;
    err_clear(&e);
    assert_int_equal(
        workload_params_load(d, ini_find_section(d, "workload"), &p, &e), 0);
    assert_int_equal(ini_check_unused(d, "[workload]", &e), ERR_INPUT);
    assert_int_equal(strncmp(e.msg, "scen.ini:3:", 11), 0);
    assert_non_null(strstr(e.msg, "skew"));
    assert_non_null(strstr(e.msg, "heat_last"));
    ini_destroy(d);
}

/* Params built in code get the same ranges, NaN included. */
static void test_params__check_rejects_bad_fields(void **state)
{
    (void)state;
    workload_params p;
    err_t e;
    workload_params_default(&p);
    p.heat_jitter = NAN;
    assert_int_equal(workload_params_check(&p, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "heat_jitter"));
    workload_params_default(&p);
    p.topics = 0;
    assert_int_equal(workload_params_check(&p, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "topics"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params__defaults_are_the_documented_ones),
        cmocka_unit_test(test_params__reads_every_key),
        cmocka_unit_test(test_params__absent_keys_keep_defaults),
        cmocka_unit_test(test_params__rejects_out_of_range_with_file_line),
        cmocka_unit_test(test_params__unknown_key_left_to_check_unused),
        cmocka_unit_test(test_params__check_rejects_bad_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
