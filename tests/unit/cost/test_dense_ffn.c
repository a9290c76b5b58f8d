/*
 * cost_dense_ffn: DeepSeek-V3's dense layers (hidden 7168, SwiGLU width
 * 18432) on the 910B in bf16, by hand (rates in cost_test.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/cost/cost_test.h"

static const cost_prec BF16 = {HW_BF16, HW_BF16, HW_BF16};

/* 8192 tokens, tp 1.
 *   gate+up [8192 x 7168] * [7168 x 36864]: 4.33e12 flops = 17.5 ms vs
 *           1249902592 B = 1.18 ms: compute-bound
 *   down    [8192 x 18432] * [18432 x 7168]: 2.16e12 flops = 8.7 ms vs
 *           683671552 B = 0.65 ms: compute-bound
 *   flops   6 * 8192 * 7168 * 18432 = 6493990551552
 *   SiLU*mul 2 * 8192 * 18432 * 2 + 8192 * 18432 * 2 = 905969664 B
 *   t = 6493990551552 / 247.73e12 + 2 * 5 us + 905969664 / 1055.52e9
 *       + 2 us */
static void test_dense_ffn__prefill_by_hand(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    cost_op op;
    double t = cost_dense_ffn(&d, &BF16, 8192, 7168, 18432, 1, &op);
    assert_close(op.flops, 6493990551552.0, 1e-15);
    assert_int_equal(op.kernels, 3);
    assert_close(t, 6493990551552.0 / B910_BF16_FLOPS + 10e-6 +
                        905969664.0 / B910_MEM_BPS + 2e-6,
                 1e-12);
}

/* tp 4 gives each rank 18432 / 4 = 4608 columns: a quarter of the FLOPs.
 * An uneven split takes the busiest rank's ceil(10 / 4) = 3 columns:
 * 6 * 1024 * 16 * 3 = 294912 flops. */
static void test_dense_ffn__tensor_parallel_splits_the_width(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    cost_op one, four, odd;
    cost_dense_ffn(&d, &BF16, 8192, 7168, 18432, 1, &one);
    cost_dense_ffn(&d, &BF16, 8192, 7168, 18432, 4, &four);
    assert_close(four.flops, one.flops / 4, 1e-15);
    cost_dense_ffn(&d, &BF16, 1024, 16, 10, 4, &odd);
    assert_close(odd.flops, 294912.0, 1e-15);
}

static void test_dense_ffn__zero_tokens_cost_nothing(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    cost_op op;
    assert_true(cost_dense_ffn(&d, &BF16, 0, 7168, 18432, 1, &op) == 0);
    assert_int_equal(op.kernels, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dense_ffn__prefill_by_hand),
        cmocka_unit_test(test_dense_ffn__tensor_parallel_splits_the_width),
        cmocka_unit_test(test_dense_ffn__zero_tokens_cost_nothing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
