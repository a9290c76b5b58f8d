/*
 * cost_matmul: the roofline of one matmul, by hand from the 910B and H100
 * files (rates in cost_test.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/cost/cost_test.h"

/* 8192^3 bf16 on 910B. eff(8192) = 1 (beyond the last point).
 *   flops   = 2 * 8192^3 = 1.099511627776e12 -> / 247.73e12 = 4.438 ms
 *   bytes   = 3 * 8192^2 * 2 = 402653184     -> / 1055.52e9 = 0.381 ms
 * compute-bound: t = flops / (353.9e12 * 0.7) + 5 us. */
static void test_matmul__large_is_compute_bound_at_peak_times_eff(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    cost_op op;
    double t = cost_matmul(&d, HW_BF16, HW_BF16, 8192, 8192, 8192, &op);
    assert_close(op.flops, 1.099511627776e12, 1e-15);
    assert_close(op.bytes, 402653184.0, 1e-15);
    assert_int_equal(op.kernels, 1);
    assert_close(t, 1.099511627776e12 / (353.9e12 * 0.7) + 5e-6, 1e-12);
    assert_close(op.time_s, t, 0);
}

/* One DeepSeek-V3 expert matrix, hidden 7168 x ffn 2048, for 3 tokens.
 *   weights  7168 * 2048 * 2       = 29360128 B
 *   in       3 * 7168 * 2          = 43008 B
 *   out      3 * 2048 * 2          = 12288 B
 *   bytes    29415424 B -> / 1055.52e9 = 27.87 us
 *   eff(3)   = 0.3 + (3 - 1) / (16 - 1) * (0.5 - 0.3) = 0.32667
 *   flops    2 * 3 * 7168 * 2048 = 88080384
 *            -> / (247.73e12 * 0.32667) = 1.09 us
 * memory-bound: t = 29415424 / 1055.52e9 + 5 us, within 0.2% of the
 * weights alone (29360128 / 1055.52e9 + 5 us). */
static void test_matmul__three_token_expert_is_bound_by_its_weights(
    void **state)
{
    (void)state;
    hw_device d = dev_910b();
    cost_op op;
    double t = cost_matmul(&d, HW_BF16, HW_BF16, 3, 7168, 2048, &op);
    assert_close(op.bytes, 29415424.0, 1e-15);
    assert_close(op.flops, 88080384.0, 1e-15);
    assert_close(t, 29415424.0 / B910_MEM_BPS + 5e-6, 1e-12);
    assert_close(t, 29360128.0 / B910_MEM_BPS + 5e-6, 2e-3);
}

/* 910B without the small-matmul curve (eff = 1), K = N = 8192, bf16.
 *   compute(M) = 2 M 8192^2 / R               R = 247.73e12
 *   memory(M)  = (2 * 8192^2 + 4 * 8192 M) / B  B = 1055.52e9
 * equal at M* = 8192 R / (8192 B - 2 R)
 *             = 2.02940e18 / (8.64682e15 - 4.9546e14) = 248.96
 * (above hw_ridge_flop_per_byte = R / B = 234.70 because activations are
 * read and written too). M = 240 is memory-bound, M = 260 compute-bound. */
static void test_matmul__ridge_point_separates_memory_and_compute(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    d.n_eff_points = 0;
    const double R = 353.9e12 * 0.7, B = B910_MEM_BPS, K2 = 8192.0 * 8192.0;
    assert_close(hw_ridge_flop_per_byte(&d, HW_BF16), R / B, 1e-12);
    double t240 = cost_matmul(&d, HW_BF16, HW_BF16, 240, 8192, 8192, NULL);
    double t260 = cost_matmul(&d, HW_BF16, HW_BF16, 260, 8192, 8192, NULL);
    assert_close(t240, (2 * K2 + 4 * 8192.0 * 240) / B + 5e-6, 1e-12);
    assert_close(t260, 2 * 260 * K2 / R + 5e-6, 1e-12);
    /* Both sides meet at M*: the two formulas agree there. */
    double m_star = 8192 * R / (8192 * B - 2 * R);
    assert_close(m_star, 248.96, 1e-3);
    assert_close(2 * m_star * K2 / R, (2 * K2 + 4 * 8192.0 * m_star) / B,
                 1e-12);
    /* Below the ridge time barely moves with M; above it grows with M. */
    double t120 = cost_matmul(&d, HW_BF16, HW_BF16, 120, 8192, 8192, NULL);
    double t520 = cost_matmul(&d, HW_BF16, HW_BF16, 520, 8192, 8192, NULL);
    assert_true(t240 / t120 < 1.06);
    assert_close((t520 - 5e-6) / (t260 - 5e-6), 2.0, 1e-12);
}

/* M = 40 is halfway between the curve points 16 (0.5) and 64 (0.75):
 * eff = 0.625. Memory made a thousand times faster so compute shows:
 *   flops = 2 * 40 * 4096^2 = 1342177280
 *   t     = 1342177280 / (353.9e12 * 0.7 * 0.625) + 5 us = 13.67 us
 *   bytes = 2 * 4096^2 + 40 * 4096 * 2 * 2 = 34209792
 *           -> / (1759.2e12 * 0.6) = 0.03 us, below compute. */
static void test_matmul__eff_factor_interpolated_at_midpoint(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    d.memory_gbps = 1759.2e3;
    double t = cost_matmul(&d, HW_BF16, HW_BF16, 40, 4096, 4096, NULL);
    assert_close(hw_matmul_eff_factor(&d, 40), 0.625, 1e-12);
    assert_close(t, 1342177280.0 / (353.9e12 * 0.7 * 0.625) + 5e-6, 1e-12);
}

static void test_matmul__zero_tokens_cost_nothing(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    cost_op op = {1, 1, 1, 1};
    assert_true(cost_matmul(&d, HW_BF16, HW_BF16, 0, 7168, 2048, &op) == 0);
    assert_true(op.flops == 0 && op.bytes == 0 && op.time_s == 0);
    assert_int_equal(op.kernels, 0);
}

/* Weight-only int8 (int8 weights, bf16 activations) on the 3-token expert:
 *   weights 7168 * 2048 * 1 = 14680064 B, half of bf16's 29360128 B;
 *   activations unchanged (43008 + 12288 B), so bytes = 14735360 B.
 * It computes at the bf16 peak: for 8192^3 it takes exactly the bf16 time
 * 2 * 8192^3 / 247.73e12 + 5 us (compute-bound either way). */
static void test_matmul__int8_weight_only_halves_weight_bytes(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    cost_op q, b;
    double tq = cost_matmul(&d, HW_INT8, HW_BF16, 3, 7168, 2048, &q);
    cost_matmul(&d, HW_BF16, HW_BF16, 3, 7168, 2048, &b);
    assert_close(q.bytes, 14735360.0, 1e-15);
    assert_close(b.bytes - q.bytes, 14680064.0, 1e-15);
    assert_close(tq, 14735360.0 / B910_MEM_BPS + 5e-6, 1e-12);
    assert_close(cost_matmul(&d, HW_INT8, HW_BF16, 8192, 8192, 8192, NULL),
                 1.099511627776e12 / B910_BF16_FLOPS + 5e-6, 1e-12);
}

/* int8 x int8 (W8A8), 8192^3 on 910B:
 *   bytes = 8192^2 * (1 + 1 + 2) = 268435456 -> 0.254 ms
 *   t     = 1.099511627776e12 / (752e12 * 0.7) + 5 us = 2.094 ms. */
static void test_matmul__int8_by_int8_uses_int8_peak(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    cost_op op;
    double t = cost_matmul(&d, HW_INT8, HW_INT8, 8192, 8192, 8192, &op);
    assert_close(op.bytes, 268435456.0, 1e-15);
    assert_close(t, 1.099511627776e12 / (752e12 * 0.7) + 5e-6, 1e-12);
}

/* fp8 x fp8 on H100: 1.099511627776e12 / (1979e12 * 0.75) + 3 us
 * = 0.7408 ms; bytes 268435456 / (3350e9 * 0.8) = 0.100 ms. */
static void test_matmul__fp8_by_fp8_uses_fp8_peak(void **state)
{
    (void)state;
    hw_device d = dev_h100();
    double t = cost_matmul(&d, HW_FP8, HW_FP8, 8192, 8192, 8192, NULL);
    assert_close(t, 1.099511627776e12 / (1979e12 * 0.75) + 3e-6, 1e-12);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_matmul__large_is_compute_bound_at_peak_times_eff),
        cmocka_unit_test(
            test_matmul__three_token_expert_is_bound_by_its_weights),
        cmocka_unit_test(test_matmul__ridge_point_separates_memory_and_compute),
        cmocka_unit_test(test_matmul__eff_factor_interpolated_at_midpoint),
        cmocka_unit_test(test_matmul__zero_tokens_cost_nothing),
        cmocka_unit_test(test_matmul__int8_weight_only_halves_weight_bytes),
        cmocka_unit_test(test_matmul__int8_by_int8_uses_int8_peak),
        cmocka_unit_test(test_matmul__fp8_by_fp8_uses_fp8_peak),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
