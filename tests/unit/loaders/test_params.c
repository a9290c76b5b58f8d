/*
 * Parameter counts from the shipped model files against the figures their
 * authors published (shared/reference/models.md), not against moesim's own
 * output. A published figure is rounded to the digits it shows, so the
 * tolerance is 1% plus half a unit of its last digit ("37B" stands for
 * 36.5 to 37.5).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <math.h>
#include <stdio.h>

#include "models/model.h"
#include "tests/unit/testutil.h"

static void expect_published(const char *what, double got_b,
                             double published_b, double last_digit_b)
{
    double tol = 0.01 * published_b + 0.5 * last_digit_b;
    if (fabs(got_b - published_b) > tol)
        fprintf(stderr, "%s: counted %.3fB, published %.2fB (tolerance "
                        "%.3fB)\n",
                what, got_b, published_b, tol);
    assert_true(fabs(got_b - published_b) <= tol);
}

static void load(const char *path, model_desc *m)
{
    err_t e;
    err_clear(&e);
    int rc = model_load(path, m, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
}

static void test_params__pangu_pro_moe_matches_71_99b_and_16_50b(void **s)
{
    (void)s;
    model_desc m;
    load("models/pangu-pro-moe.ini", &m);
    expect_published("Pangu Pro MoE total", model_total_params(&m) / 1e9,
                     71.99, 0.01);
    expect_published("Pangu Pro MoE active", model_active_params(&m) / 1e9,
                     16.50, 0.01);
}

static void test_params__pangu_pro_moe_matches_the_reference_formula(void **s)
{
    (void)s;
    model_desc m;
    load("models/pangu-pro-moe.ini", &m);
    /* models.md: 48*(64*3*5120*1344 + 3*5120*5376 + attention + 5120*64)
     * + 2*153376*5120, attention = biased GQA with 40 query and 8 KV heads
     * of 128: q 5120*5120+5120, k and v 5120*1024+1024 each, o 5120*5120+5120.
     * Norms (2*5120 per layer + 5120 final) are 0.0005B, inside the
     * rounding. */
    double attn = 5120.0 * 5120 + 5120 + 2 * (5120.0 * 1024 + 1024) +
                  5120.0 * 5120 + 5120;
    double ref = 48 * (64 * 3 * 5120.0 * 1344 + 3 * 5120.0 * 5376 + attn +
                       5120.0 * 64) +
                 2 * 153376.0 * 5120;
    double got = model_total_params(&m);
    if (fabs(got - ref) > 1e6)
        fprintf(stderr, "counted %.0f, formula %.0f\n", got, ref);
    assert_true(fabs(got - ref) < 1e6);
}

static void test_params__deepseek_v3_matches_671b_and_37b(void **s)
{
    (void)s;
    model_desc m;
    load("models/deepseek-v3.ini", &m);
    expect_published("DeepSeek-V3 total", model_total_params(&m) / 1e9, 671,
                     1);
    expect_published("DeepSeek-V3 active", model_active_params(&m) / 1e9, 37,
                     1);
}

static void test_params__deepseek_v2_matches_236b_and_21b(void **s)
{
    (void)s;
    model_desc m;
    load("models/deepseek-v2.ini", &m);
    expect_published("DeepSeek-V2 total", model_total_params(&m) / 1e9, 236,
                     1);
    expect_published("DeepSeek-V2 active", model_active_params(&m) / 1e9, 21,
                     1);
}

static void test_params__mixtral_matches_46_7b_and_12_9b(void **s)
{
    (void)s;
    model_desc m;
    load("models/mixtral-8x7b.ini", &m);
    expect_published("Mixtral total", model_total_params(&m) / 1e9, 46.7,
                     0.1);
    expect_published("Mixtral active", model_active_params(&m) / 1e9, 12.9,
                     0.1);
}

static void test_params__other_models_near_published(void **s)
{
    (void)s;
    model_desc m;
    load("models/qwen3-235b-a22b.ini", &m);
    expect_published("Qwen3-235B total", model_total_params(&m) / 1e9, 235, 1);
    expect_published("Qwen3-235B active", model_active_params(&m) / 1e9, 22, 1);
    load("models/qwen3-30b-a3b.ini", &m);
    expect_published("Qwen3-30B total", model_total_params(&m) / 1e9, 30.5,
                     0.1);
    expect_published("Qwen3-30B active", model_active_params(&m) / 1e9, 3.3,
                     0.1);
    load("models/dbrx.ini", &m);
    expect_published("DBRX total", model_total_params(&m) / 1e9, 132, 1);
    expect_published("DBRX active", model_active_params(&m) / 1e9, 36, 1);
}

static void test_params__kv_cache_per_token_by_hand(void **s)
{
    (void)s;
    model_desc m;
    /* DeepSeek-V3 MLA: (512 + 64) values * 2 bytes * 61 layers = 70272 */
    load("models/deepseek-v3.ini", &m);
    assert_near(model_kv_bytes_per_token(&m), 70272.0, 0.5);
    /* Pangu Pro MoE GQA: 2 (K,V) * 8 heads * 128 * 2 bytes * 48 = 196608 */
    load("models/pangu-pro-moe.ini", &m);
    assert_near(model_kv_bytes_per_token(&m), 196608.0, 0.5);
    /* One Pangu expert: 3 * 5120 * 1344 = 20,643,840 weights, bf16 x2 */
    assert_near(model_expert_bytes(&m, 2.0), 41287680.0, 0.5);
}

/* Tied embeddings: one vocab x hidden table serves as input lookup and
 * output projection. Mixtral has 32000 x 4096 = 131,072,000 weights a
 * table; tying drops one table from the total and the active counts, but
 * the FLOP-bearing count keeps the projection, so it equals the untied
 * count (which leaves out only the lookup). */
static void test_params__tied_embeddings_keep_the_output_projection(void **s)
{
    (void)s;
    model_desc m;
    load("models/mixtral-8x7b.ini", &m);
    assert_false(m.tied_embeddings);
    double table = 32000.0 * 4096.0;
    assert_near((double)m.vocab * m.hidden, table, 0.5);
    double total = model_total_params(&m), active = model_active_params(&m);
    double compute = model_active_compute_params(&m);
    assert_near(active - compute, table, 0.5); /* the lookup only */
    m.tied_embeddings = 1;
    assert_near(total - model_total_params(&m), table, 0.5);
    assert_near(active - model_active_params(&m), table, 0.5);
    assert_near(model_active_compute_params(&m), compute, 0.5);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_params__pangu_pro_moe_matches_71_99b_and_16_50b),
        cmocka_unit_test(test_params__pangu_pro_moe_matches_the_reference_formula),
        cmocka_unit_test(test_params__deepseek_v3_matches_671b_and_37b),
        cmocka_unit_test(test_params__deepseek_v2_matches_236b_and_21b),
        cmocka_unit_test(test_params__mixtral_matches_46_7b_and_12_9b),
        cmocka_unit_test(test_params__other_models_near_published),
        cmocka_unit_test(test_params__kv_cache_per_token_by_hand),
        cmocka_unit_test(
            test_params__tied_embeddings_keep_the_output_projection),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
