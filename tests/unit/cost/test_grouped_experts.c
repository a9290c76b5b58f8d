/*
 * cost_grouped_experts: one device's routed experts, by hand on the 910B
 * (rates in cost_test.h) with DeepSeek-V3's expert (hidden 7168, ffn 2048,
 * bf16).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/cost/cost_test.h"

static const cost_prec BF16 = {HW_BF16, HW_BF16, HW_BF16};

static void test_grouped_experts__zero_token_experts_cost_nothing(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    const long none[4] = {0, 0, 0, 0};
    cost_op op = {1, 1, 1, 1};
    assert_true(cost_grouped_experts(&d, &BF16, 7168, 2048, none, 4, &op) ==
                0);
    assert_true(op.flops == 0 && op.bytes == 0 && op.time_s == 0);
    assert_int_equal(op.kernels, 0);
    assert_true(cost_grouped_experts(&d, &BF16, 7168, 2048, NULL, 0, NULL) ==
                0);
}

/* One expert with 3 tokens, three without.
 *   gate+up  weights 7168 * 4096 * 2 = 58720256, in 3 * 7168 * 2 = 43008,
 *            out 3 * 4096 * 2 = 24576                -> 58787840 B
 *            flops 2 * 3 * 7168 * 4096 = 176160768 -> 2.2 us at
 *            247.73e12 * eff(3) = 80.9e12; memory 55.7 us: memory-bound
 *   down     29360128 + 12288 + 43008                -> 29415424 B
 *   SiLU*mul reads 2 * 3 * 2048 * 2, writes 3 * 2048 * 2 -> 36864 B
 *   t = (58787840 + 29415424 + 36864) / 1055.52e9 + 2 * 5 us + 2 us
 *     = 88240128 / 1055.52e9 + 12 us = 95.60 us
 * The three idle experts change nothing: same as a device with one. */
static void test_grouped_experts__three_tokens_read_one_experts_weights(
    void **state)
{
    (void)state;
    hw_device d = dev_910b();
    const long four[4] = {0, 3, 0, 0}, one[1] = {3};
    cost_op op;
    double t = cost_grouped_experts(&d, &BF16, 7168, 2048, four, 4, &op);
    assert_close(op.bytes, 88240128.0, 1e-15);
    assert_int_equal(op.kernels, 3);
    assert_close(t, 88240128.0 / B910_MEM_BPS + 12e-6, 1e-12);
    assert_true(cost_grouped_experts(&d, &BF16, 7168, 2048, one, 1, NULL) ==
                t);
}

/* A second 3-token expert adds its own 88240128 B (weights, activations,
 * its share of the SiLU*mul traffic) and no second set of overheads. */
static void test_grouped_experts__overhead_paid_once_per_kernel(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    const long a[4] = {3, 0, 0, 0}, b[4] = {3, 0, 3, 0};
    cost_op oa, ob;
    double ta = cost_grouped_experts(&d, &BF16, 7168, 2048, a, 4, &oa);
    double tb = cost_grouped_experts(&d, &BF16, 7168, 2048, b, 4, &ob);
    assert_int_equal(ob.kernels, 3);
    assert_close(tb - ta, 88240128.0 / B910_MEM_BPS, 1e-9);
    assert_close(tb, 2 * 88240128.0 / B910_MEM_BPS + 12e-6, 1e-12);
}

/* Two experts with 4096 tokens each: every matmul compute-bound at
 * eff = 1 (gate+up 2 * 4096 * 7168 * 4096 flops = 0.97 ms vs 151 MB =
 * 0.14 ms), so per expert 3 * 2 * 4096 * 7168 * 2048 / 247.73e12.
 *   SiLU*mul 8192 tokens: 2 * 8192 * 2048 * 2 + 8192 * 2048 * 2
 *            = 100663296 B
 *   t = 2 * 3 * 2 * 4096 * 7168 * 2048 / 247.73e12 + 10 us
 *       + 100663296 / 1055.52e9 + 2 us */
static void test_grouped_experts__busy_experts_sum_their_compute(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    const long busy[2] = {4096, 4096};
    double want = 2 * 3 * 2 * 4096.0 * 7168 * 2048 / B910_BF16_FLOPS +
                  10e-6 + 100663296.0 / B910_MEM_BPS + 2e-6;
    cost_op op;
    double t = cost_grouped_experts(&d, &BF16, 7168, 2048, busy, 2, &op);
    assert_close(t, want, 1e-12);
    assert_close(op.flops, 2 * 3 * 2 * 4096.0 * 7168 * 2048, 1e-15);
}

/* Weight-only int8 halves the weight part: 3 tokens read
 * 7168 * 4096 + 2048 * 7168 = 44040192 B of weights instead of 88080384. */
static void test_grouped_experts__int8_weights_halve_weight_reads(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    const long one[1] = {3};
    cost_prec q = prec_of(HW_INT8, HW_BF16, HW_BF16);
    cost_op oq, ob;
    cost_grouped_experts(&d, &q, 7168, 2048, one, 1, &oq);
    cost_grouped_experts(&d, &BF16, 7168, 2048, one, 1, &ob);
    assert_close(ob.bytes - oq.bytes, 44040192.0, 1e-15);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grouped_experts__zero_token_experts_cost_nothing),
        cmocka_unit_test(
            test_grouped_experts__three_tokens_read_one_experts_weights),
        cmocka_unit_test(test_grouped_experts__overhead_paid_once_per_kernel),
        cmocka_unit_test(test_grouped_experts__busy_experts_sum_their_compute),
        cmocka_unit_test(
            test_grouped_experts__int8_weights_halve_weight_reads),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
