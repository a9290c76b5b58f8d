/*
 * cost_attention, cost_kv_bytes_per_token, cost_attn_check: GQA with Pangu
 * Pro MoE's shape (hidden 5120, 40 query heads, 8 KV heads, head 128) and
 * MLA with DeepSeek-V3's (128 heads, q_lora 1536, kv_lora 512, nope 128,
 * rope 64, v 128), bf16 on the 910B (rates in cost_test.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/cost/cost_test.h"

static const cost_prec BF16 = {HW_BF16, HW_BF16, HW_BF16};
static const cost_attn_shape PANGU = {COST_ATTN_GQA, 5120, 40, 8, 128,
                                      0, 0, 0, 0, 0};
static const cost_attn_shape V3 = {COST_ATTN_MLA, 7168, 128, 0, 0,
                                   1536, 512, 128, 64, 128};

static cost_attn run(const cost_attn_shape *a, long seqs, long q, long ctx,
                     int tp, int absorbed)
{
    hw_device d = dev_910b();
    cost_attn_batch b = {seqs, q, ctx, tp, absorbed};
    cost_attn r;
    double t = cost_attention(&d, &BF16, a, &b, &r);
    assert_true(t == r.total.time_s);
    assert_close(r.total.time_s, r.proj.time_s + r.vec.time_s + r.core.time_s,
                 1e-15);
    return r;
}

/* One sequence, no cache. Attended pairs q (q + 1) / 2:
 *   q = 4096: 8390656 pairs, q = 8192: 33558528 pairs
 * score + value FLOPs 4 pairs 40 heads 128 = 20480 pairs:
 *   171840634880 and 687278653440, ratio 3.9995 (-> 4 as seq grows).
 * Projections per token 2 * 5120 * ((40 + 16) * 128 + 5120) = 125829120:
 * exactly linear. */
static void test_attention__gqa_prefill_scores_grow_with_seq_squared(
    void **state)
{
    (void)state;
    cost_attn s = run(&PANGU, 1, 4096, 0, 1, 0);
    cost_attn s2 = run(&PANGU, 1, 8192, 0, 1, 0);
    assert_close(s.core.flops, 171840634880.0, 1e-15);
    assert_close(s2.core.flops, 687278653440.0, 1e-15);
    assert_close(s2.core.flops / s.core.flops, 33558528.0 / 8390656.0,
                 1e-15);
    assert_true(s2.core.flops / s.core.flops > 3.99);
    assert_close(s.proj.flops, 4096 * 125829120.0, 1e-15);
    assert_close(s2.proj.flops / s.proj.flops, 2.0, 1e-15);
}

/* 64 sequences decoding one token over a context c.
 *   core bytes = Q and O 2 * 64 * 40 * 128 * 2 = 1310720
 *              + cache 64 (c + 1) * 2 * 8 * 128 * 2 = 262144 (c + 1)
 *   c = 2048: 538443776 B -> 510.1 us; flops 4 * 64 * 2049 * 5120
 *   = 2685403136 at 247.73e12 * eff(5 = 40 / 8 heads sharing a KV head),
 *   eff(5) = 0.3 + 4 / 15 * 0.2 = 0.35333 -> 30.7 us: memory-bound.
 * Projections and the vector op see only the 64 new tokens, so each 2048
 * more tokens of context add exactly 64 * 2048 * 4096 = 536870912 B. */
static void test_attention__gqa_decode_grows_linearly_with_context(
    void **state)
{
    (void)state;
    cost_attn a = run(&PANGU, 64, 1, 2048, 1, 0);
    cost_attn b = run(&PANGU, 64, 1, 4096, 1, 0);
    cost_attn c = run(&PANGU, 64, 1, 6144, 1, 0);
    assert_close(a.core.bytes, 538443776.0, 1e-15);
    assert_close(a.core.time_s, 538443776.0 / B910_MEM_BPS + 5e-6, 1e-12);
    assert_close(b.total.time_s - a.total.time_s, 536870912.0 / B910_MEM_BPS,
                 1e-9);
    assert_close(c.total.time_s - b.total.time_s, 536870912.0 / B910_MEM_BPS,
                 1e-9);
    assert_close(b.proj.time_s, a.proj.time_s, 0);
}

/* MLA caches kv_lora_rank + qk_rope_head_dim = 576 values, 1152 bytes in
 * bf16, per token per layer, whole on every tp rank. GQA caches K and V of
 * its local KV heads: 2 * 8 * 128 * 2 = 4096 B; 512 B at tp 8, and still
 * 512 B at tp 40 where each KV head is replicated 5 times. */
static void test_attention__kv_bytes_per_token(void **state)
{
    (void)state;
    assert_close(cost_kv_bytes_per_token(&V3, HW_BF16, 1), 1152.0, 0);
    assert_close(cost_kv_bytes_per_token(&V3, HW_BF16, 8), 1152.0, 0);
    assert_close(cost_kv_bytes_per_token(&V3, HW_INT8, 1), 576.0, 0);
    assert_close(cost_kv_bytes_per_token(&PANGU, HW_BF16, 1), 4096.0, 0);
    assert_close(cost_kv_bytes_per_token(&PANGU, HW_BF16, 8), 512.0, 0);
    assert_close(cost_kv_bytes_per_token(&PANGU, HW_BF16, 40), 512.0, 0);
}

/* DeepSeek-V3 decode in the absorbed form, 32 sequences over 4096 cached
 * tokens. The core reads the 576-value latent once for all 128 heads:
 *   1000 more tokens of context add 32 * 1000 * 576 * 2 = 36864000 B.
 * Per (query, key) pair and head: scores over 576 values, values over 512:
 *   flops = 2 * (576 + 512) * 128 * 32 * 4097 = 36516134912
 *   bytes = 32 * 128 * 576 * 2 + 32 * 4097 * 1152 + 32 * 128 * 512 * 2
 *         = 159944704 -> 151.5 us
 *   eff(128 heads sharing the latent) = 0.75 + 64 / 192 * 0.15 = 0.8
 *   compute 36516134912 / (247.73e12 * 0.8) = 184.3 us: compute-bound, as
 *   FlashMLA is on H800.
 * Projections per token: fused q_a+kv_a 7168 * 2112, q_b 1536 * 128 * 192,
 * W_UK 128 * 128 * 512, W_UV 128 * 512 * 128, o 128 * 128 * 7168:
 *   2 * (15138816 + 37748736 + 8388608 + 8388608 + 117440512)
 * = 2 * 187105280 = 374210560 flops per token, 5 kernels. */
static void test_attention__mla_decode_absorbed_reads_576_values(void **state)
{
    (void)state;
    cost_attn a = run(&V3, 32, 1, 4096, 1, 1);
    cost_attn b = run(&V3, 32, 1, 5096, 1, 1);
    assert_close(b.core.bytes - a.core.bytes, 36864000.0, 1e-12);
    assert_close(a.core.bytes, 159944704.0, 1e-15);
    assert_close(a.core.flops, 36516134912.0, 1e-15);
    assert_close(a.core.time_s, 36516134912.0 / (B910_BF16_FLOPS * 0.8) + 5e-6,
                 1e-12);
    assert_close(a.proj.flops, 32 * 374210560.0, 1e-15);
    assert_int_equal(a.proj.kernels, 5);
    /* Up-projecting 32 * 4097 cached latents every step instead costs
     * 2 * 131104 * 512 * 128 * 256 = 4.4e12 flops, over 17 ms. */
    cost_attn n = run(&V3, 32, 1, 4096, 1, 0);
    assert_true(n.total.time_s > 10 * a.total.time_s);
}

/* DeepSeek-V3 prefill, up-projected form: per pair and head 2 * 192 for
 * scores and 2 * 128 for values, 640 * 128 = 81920 flops per pair:
 * 8390656 pairs for 4096 tokens -> 687362539520. */
static void test_attention__mla_prefill_is_multi_head(void **state)
{
    (void)state;
    cost_attn a = run(&V3, 1, 4096, 0, 1, 0);
    assert_close(a.core.flops, 8390656.0 * 81920.0, 1e-15);
    assert_int_equal(a.proj.kernels, 4);
}

/* tp = 2 gives each rank 20 query and 4 KV heads: core and projection
 * FLOPs halve exactly (qkv N 56 * 128 -> 28 * 128, o K 5120 -> 2560). */
static void test_attention__tensor_parallel_splits_heads(void **state)
{
    (void)state;
    cost_attn one = run(&PANGU, 4, 2048, 0, 1, 0);
    cost_attn two = run(&PANGU, 4, 2048, 0, 2, 0);
    assert_close(two.core.flops, one.core.flops / 2, 1e-15);
    assert_close(two.proj.flops, one.proj.flops / 2, 1e-15);
}

static void test_attention__no_sequences_cost_nothing(void **state)
{
    (void)state;
    cost_attn r = run(&PANGU, 0, 1, 4096, 1, 0);
    assert_true(r.total.time_s == 0 && r.total.bytes == 0);
    assert_int_equal(r.total.kernels, 0);
    r = run(&V3, 8, 0, 4096, 1, 1);
    assert_true(r.total.time_s == 0);
}

static void test_attention__check_rejects_uneven_tensor_parallel(void **state)
{
    (void)state;
    err_t e;
    err_clear(&e);
    assert_int_equal(cost_attn_check(&PANGU, 1, &e), 0);
    assert_int_equal(cost_attn_check(&PANGU, 8, &e), 0);
    assert_int_equal(cost_attn_check(&PANGU, 40, &e), 0);
    assert_int_equal(cost_attn_check(&V3, 16, &e), 0);
    assert_int_equal(cost_attn_check(&PANGU, 16, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "40 heads do not split"));
    assert_int_equal(cost_attn_check(&PANGU, 5, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "8 KV heads"));
    assert_int_equal(cost_attn_check(&PANGU, 0, &e), ERR_INPUT);
    cost_attn_shape bad = V3;
    bad.kv_lora_rank = 0;
    assert_int_equal(cost_attn_check(&bad, 1, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "kv_lora_rank 0"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(
            test_attention__gqa_prefill_scores_grow_with_seq_squared),
        cmocka_unit_test(
            test_attention__gqa_decode_grows_linearly_with_context),
        cmocka_unit_test(test_attention__kv_bytes_per_token),
        cmocka_unit_test(
            test_attention__mla_decode_absorbed_reads_576_values),
        cmocka_unit_test(test_attention__mla_prefill_is_multi_head),
        cmocka_unit_test(test_attention__tensor_parallel_splits_heads),
        cmocka_unit_test(test_attention__no_sequences_cost_nothing),
        cmocka_unit_test(
            test_attention__check_rejects_uneven_tensor_parallel),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
