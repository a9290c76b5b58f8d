/*
 * Softmax top-k (Mixtral, Qwen, DBRX), router_logits, the config contract
 * and the buffer limits. Expected values are worked out by hand in the
 * comments; logits are logs of small integers so softmax shares are exact
 * fractions.
 */
#include <string.h>

#include "tests/unit/router/router_testutil.h"

/* N = 4, K = 2, logits ln [1, 3, 2, 2]: p = [1/8, 3/8, 2/8, 2/8].
 * Best is expert 1 (3/8); experts 2 and 3 tie at 2/8 (the same logit, so
 * bit-equal p) and the lower, 2, wins. No renormalisation: [0.375, 0.25]. */
static void test_router__topk_picks_largest_lower_index_on_tie(void **state)
{
    (void)state;
    float z[4] = {ln_f(1), ln_f(3), ln_f(2), ln_f(2)};
    router_config cfg;
    router_config_init(&cfg, ROUTER_TOPK, 4, 2);
    router_out *o = rt_out(1, 2, 4);
    rt_route(&cfg, z, 1, NULL, NULL, NULL, o);
    rt_expect_token(o, 0, 2, (const int32_t[]){1, 2},
                    (const float[]){0.375f, 0.25f}, NULL, 1e-6f);
    rt_expect_load(o, 4, (const int[]){0, 1, 1, 0});
    assert_int_equal(router_out_slots(o), 2);
    assert_int_equal(router_out_dropped_count(o), 0);
    router_out_destroy(o);
}

/* Same picks renormalised (Mixtral, Qwen3 norm_topk_prob): 3/8 and 2/8 over
 * 5/8 give [0.6, 0.4]; with routed_scaling_factor 2.5 after the division,
 * [1.5, 1.0]; without renormalisation but scale 2: [0.75, 0.5]. */
static void test_router__topk_renormalises_then_scales(void **state)
{
    (void)state;
    float z[4] = {ln_f(1), ln_f(3), ln_f(2), ln_f(2)};
    router_config cfg;
    router_config_init(&cfg, ROUTER_TOPK, 4, 2);
    router_out *o = rt_out(1, 2, 4);

    cfg.renormalize = 1;
    rt_route(&cfg, z, 1, NULL, NULL, NULL, o);
    rt_expect_token(o, 0, 2, (const int32_t[]){1, 2},
                    (const float[]){0.6f, 0.4f}, NULL, 1e-6f);

    cfg.scaling_factor = 2.5f;
    rt_route(&cfg, z, 1, NULL, NULL, NULL, o);
    rt_expect_token(o, 0, 2, (const int32_t[]){1, 2},
                    (const float[]){1.5f, 1.0f}, NULL, 1e-6f);

    cfg.renormalize = 0;
    cfg.scaling_factor = 2.0f;
    rt_route(&cfg, z, 1, NULL, NULL, NULL, o);
    rt_expect_token(o, 0, 2, (const int32_t[]){1, 2},
                    (const float[]){0.75f, 0.5f}, NULL, 1e-6f);
    router_out_destroy(o);
}

/* A batch of three tokens, N = 8, K = 2 renormalised (Mixtral-8x7B):
 *  t0 logits ln [1,1,1,1,1,1,2,4] (sum 12): experts 7 (4/12), 6 (2/12);
 *     renormalised 4/6, 2/6.
 *  t1 all logits 0: every p = 1/8, a full tie: experts 0, 1 at 0.5 each.
 *  t2 ln [5,1,1,1,1,1,1,5]: 0 and 7 tie at 5/16: 0 first, then 7. */
static void test_router__topk_batch_rows_are_independent(void **state)
{
    (void)state;
    float z[3 * 8];
    for (int i = 0; i < 8; i++) {
        z[i] = ln_f(i == 7 ? 4 : i == 6 ? 2 : 1);
        z[8 + i] = 0.0f;
        z[16 + i] = ln_f(i == 0 || i == 7 ? 5 : 1);
    }
    router_config cfg;
    router_config_init(&cfg, ROUTER_TOPK, 8, 2);
    cfg.renormalize = 1;
    router_out *o = rt_out(3, 6, 8);
    rt_route(&cfg, z, 3, NULL, NULL, NULL, o);
    rt_expect_token(o, 0, 2, (const int32_t[]){7, 6},
                    (const float[]){4.0f / 6, 2.0f / 6}, NULL, 1e-6f);
    rt_expect_token(o, 1, 2, (const int32_t[]){0, 1},
                    (const float[]){0.5f, 0.5f}, NULL, 1e-6f);
    rt_expect_token(o, 2, 2, (const int32_t[]){0, 7},
                    (const float[]){0.5f, 0.5f}, NULL, 1e-6f);
    rt_expect_load(o, 8, (const int[]){2, 1, 0, 0, 0, 0, 1, 2});
    router_out_destroy(o);
}

/* N = 256 with the two best logits far apart in memory (experts 3 and 250,
 * both 5.0, everything else 0): they tie, so 3 comes first. Expert 250 is
 * in the last vector block; the tie holds only if both went through the
 * same exp code. N = 40 leaves a tail of 8 after two blocks of 16: experts
 * 1 and 37 (in the tail) tie the same way. */
static void test_router__topk_tie_across_vector_blocks(void **state)
{
    (void)state;
    static float z[256];
    router_out *o = rt_out(1, 2, 256);
    router_config cfg;

    memset(z, 0, sizeof z);
    z[3] = z[250] = 5.0f;
    router_config_init(&cfg, ROUTER_TOPK, 256, 2);
    rt_route(&cfg, z, 1, NULL, NULL, NULL, o);
    const float *w = router_out_weights(o);
    rt_expect_token(o, 0, 2, (const int32_t[]){3, 250},
                    (const float[]){w[0], w[0]}, NULL, 0.0f);

    memset(z, 0, sizeof z);
    z[1] = z[37] = 2.0f;
    router_config_init(&cfg, ROUTER_TOPK, 40, 2);
    rt_route(&cfg, z, 1, NULL, NULL, NULL, o);
    w = router_out_weights(o);
    rt_expect_token(o, 0, 2, (const int32_t[]){1, 37},
                    (const float[]){w[0], w[0]}, NULL, 0.0f);
    router_out_destroy(o);
}

/* z = h W with h = [[1,2,3],[0,-1,1]] (2 x 3) and W = [[1,0],[0,1],[1,1]]
 * (3 x 2): row 0 = [1+0+3, 0+2+3] = [4, 5], row 1 = [0+0+1, 0-1+1] =
 * [1, 0]. */
static void test_router__logits_is_h_times_w(void **state)
{
    (void)state;
    const float h[6] = {1, 2, 3, 0, -1, 1};
    const float w[6] = {1, 0, 0, 1, 1, 1};
    float z[4] = {-7, -7, -7, -7};
    err_t e;
    err_clear(&e);
    assert_int_equal(router_logits(h, 2, 3, w, 2, z, &e), 0);
    assert_float_equal(z[0], 4.0, 0.0);
    assert_float_equal(z[1], 5.0, 0.0);
    assert_float_equal(z[2], 1.0, 0.0);
    assert_float_equal(z[3], 0.0, 0.0);
    assert_int_equal(router_logits(h, 0, 3, w, 2, z, &e), 0); /* no-op */
    assert_int_equal(router_logits(NULL, 2, 3, w, 2, z, &e), ERR_INPUT);
    assert_int_equal(router_logits(h, 2, 0, w, 2, z, &e), ERR_INPUT);
}

/* Names round-trip; an unknown name lists the valid ones. */
static void test_router__policy_names_round_trip(void **state)
{
    (void)state;
    err_t e;
    err_clear(&e);
    for (int p = 0; p < ROUTER_POLICY_COUNT; p++) {
        router_policy q;
        assert_int_equal(router_policy_parse(router_policy_name(
                                                 (router_policy)p),
                                             &q, &e),
                         0);
        assert_int_equal((int)q, p);
    }
    assert_string_equal(router_policy_name(ROUTER_V3_GROUP_LIMITED),
                        "v3-group-limited");
    router_policy q;
    assert_int_equal(router_policy_parse("top-k", &q, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "expert-choice"));
}

/* cfg fails router_config_check with ERR_INPUT and a message that holds
 * field. */
static void expect_config_error(const router_config *cfg, const char *field)
{
    err_t e;
    err_clear(&e);
    assert_int_equal(router_config_check(cfg, &e), ERR_INPUT);
    if (!strstr(e.msg, field))
        fprintf(stderr, "message '%s' does not name '%s'\n", e.msg, field);
    assert_non_null(strstr(e.msg, field));
}

/* Bad configs are ERR_INPUT naming the field. */
static void test_router__config_check_names_the_field(void **state)
{
    (void)state;
    router_config cfg;

    router_config_init(&cfg, ROUTER_TOPK, 8, 9);
    expect_config_error(&cfg, "top_k 9");

    router_config_init(&cfg, ROUTER_V3_GROUP_LIMITED, 250, 8);
    cfg.n_group = 8;
    cfg.topk_group = 4;
    expect_config_error(&cfg, "n_group 8");

    router_config_init(&cfg, ROUTER_V2_DEVICE_LIMITED, 160, 6);
    cfg.n_group = 8;
    cfg.topk_group = 9;
    expect_config_error(&cfg, "topk_group 9");

    /* 1 kept group of 2 experts cannot supply K = 3 */
    router_config_init(&cfg, ROUTER_V3_GROUP_LIMITED, 8, 3);
    cfg.n_group = 4;
    cfg.topk_group = 1;
    expect_config_error(&cfg, "top_k 3 exceeds");

    router_config_init(&cfg, ROUTER_MOGE, 64, 6);
    cfg.n_group = 8;
    expect_config_error(&cfg, "multiple");

    router_config_init(&cfg, ROUTER_SWITCH, 8, 1);
    cfg.capacity_factor = 0.0;
    expect_config_error(&cfg, "capacity_factor");

    router_config_init(&cfg, ROUTER_V3_GROUP_LIMITED, 256, 8);
    cfg.n_group = 8;
    cfg.topk_group = 4;
    cfg.scaling_factor = 2.5f;
    err_t e;
    err_clear(&e);
    assert_int_equal(router_config_check(&cfg, &e), 0);
}

/* A batch larger than the buffer is ERR_CAPACITY naming the size to
 * raise; so is a config with more experts or slots than it holds. Missing
 * inputs are ERR_INPUT. */
static void test_router__buffer_limits_are_errors(void **state)
{
    (void)state;
    float z[3 * 4] = {0};
    router_config cfg;
    router_config_init(&cfg, ROUTER_TOPK, 4, 2);
    router_out *o = rt_out(2, 4, 4);
    err_t e;

    err_clear(&e);
    assert_int_equal(router_route(&cfg, z, 3, NULL, NULL, NULL, o, &e),
                     ERR_CAPACITY);
    assert_non_null(strstr(e.msg, "max_tokens"));

    cfg.top_k = 3; /* 2 tokens x 3 > 4 slots */
    err_clear(&e);
    assert_int_equal(router_route(&cfg, z, 2, NULL, NULL, NULL, o, &e),
                     ERR_CAPACITY);
    assert_non_null(strstr(e.msg, "max_slots"));

    router_config_init(&cfg, ROUTER_TOPK, 5, 1);
    err_clear(&e);
    assert_int_equal(router_route(&cfg, z, 1, NULL, NULL, NULL, o, &e),
                     ERR_CAPACITY);
    assert_non_null(strstr(e.msg, "max_experts"));

    router_config_init(&cfg, ROUTER_TOPK, 4, 1);
    err_clear(&e);
    assert_int_equal(router_route(&cfg, NULL, 1, NULL, NULL, NULL, o, &e),
                     ERR_INPUT);

    /* an empty batch is fine and leaves an empty result */
    rt_route(&cfg, z, 0, NULL, NULL, NULL, o);
    assert_int_equal(router_out_tokens(o), 0);
    assert_int_equal(router_out_slots(o), 0);
    router_out_destroy(o);
    router_out_destroy(NULL);

    router_out *bad = NULL;
    err_clear(&e);
    assert_int_equal(router_out_create(0, 4, 4, &bad, &e), ERR_INPUT);
    assert_null(bad);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_router__topk_picks_largest_lower_index_on_tie),
        cmocka_unit_test(test_router__topk_renormalises_then_scales),
        cmocka_unit_test(test_router__topk_batch_rows_are_independent),
        cmocka_unit_test(test_router__topk_tie_across_vector_blocks),
        cmocka_unit_test(test_router__logits_is_h_times_w),
        cmocka_unit_test(test_router__policy_names_round_trip),
        cmocka_unit_test(test_router__config_check_names_the_field),
        cmocka_unit_test(test_router__buffer_limits_are_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
