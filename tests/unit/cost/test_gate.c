/*
 * cost_gate: DeepSeek-V3's router (hidden 7168, 256 experts, top 8) on the
 * 910B, by hand (rates in cost_test.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/cost/cost_test.h"

/* 256 tokens.
 *   logits  bytes 7168 * 256 * 2 + 256 * 7168 * 2 + 256 * 256 * 2
 *           = 7471104 -> 7.08 us; flops 2 * 256 * 7168 * 256 = 939524096
 *           at 247.73e12 * eff(256) = 0.9 -> 4.21 us: memory-bound
 *   top-k   reads 256 * 256 * 4 fp32 logits, writes 256 * 8 * 8 = 278528 B
 *   t = (7471104 + 278528) / 1055.52e9 + 5 us + 2 us */
static void test_gate__router_by_hand(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    cost_prec p = prec_of(HW_BF16, HW_BF16, HW_BF16);
    cost_op op;
    double t = cost_gate(&d, &p, 256, 7168, 256, 8, &op);
    assert_close(op.bytes, 7749632.0, 1e-15);
    assert_int_equal(op.kernels, 2);
    assert_close(t, 7749632.0 / B910_MEM_BPS + 7e-6, 1e-12);
}

/* The router stays in 16-bit under W8A8: same time as bf16. */
static void test_gate__unquantised_under_w8a8(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    cost_prec bf = prec_of(HW_BF16, HW_BF16, HW_BF16);
    cost_prec q = prec_of(HW_INT8, HW_INT8, HW_BF16);
    assert_true(cost_gate(&d, &q, 256, 7168, 256, 8, NULL) ==
                cost_gate(&d, &bf, 256, 7168, 256, 8, NULL));
    assert_true(cost_gate(&d, &q, 0, 7168, 256, 8, NULL) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_gate__router_by_hand),
        cmocka_unit_test(test_gate__unquantised_under_w8a8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
