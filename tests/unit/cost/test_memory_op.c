/*
 * cost_memory_op, cost_rmsnorm, cost_comm_overhead_s, cost_backward_s:
 * the small accessors, by hand from the 910B and H100 files.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "tests/unit/cost/cost_test.h"

/* 1055.52e6 B at 1759.2e9 * 0.6 B/s is 1 ms, plus the 2 us vector cost. */
static void test_memory_op__bytes_over_bandwidth_plus_overhead(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    assert_close(cost_memory_op(&d, 1055.52e6), 1e-3 + 2e-6, 1e-12);
    assert_true(cost_memory_op(&d, 0) == 0);
}

/* Add + RMSNorm of 1024 tokens of 7168: 4 * 1024 * 7168 * 2 = 58720256 B.
 * The 310P under W8A8 keeps fp16 hidden states: the same 2 bytes, at its
 * own 204e9 * 0.6 B/s. */
static void test_memory_op__rmsnorm_moves_four_hidden_tensors(void **state)
{
    (void)state;
    hw_device b = dev_910b(), s = dev_310p();
    cost_prec bf = prec_of(HW_BF16, HW_BF16, HW_BF16);
    cost_prec q = prec_of(HW_INT8, HW_INT8, HW_INT8);
    cost_op op;
    double t = cost_rmsnorm(&b, &bf, 1024, 7168, &op);
    assert_close(op.bytes, 58720256.0, 1e-15);
    assert_close(t, 58720256.0 / B910_MEM_BPS + 2e-6, 1e-12);
    assert_close(cost_rmsnorm(&s, &q, 1024, 7168, NULL),
                 58720256.0 / (204e9 * 0.6) + 2e-6, 1e-12);
}

static void test_memory_op__comm_overhead_from_the_file(void **state)
{
    (void)state;
    hw_device b = dev_910b(), h = dev_h100();
    assert_close(cost_comm_overhead_s(&b), 10e-6, 1e-15);
    assert_close(cost_comm_overhead_s(&h), 8e-6, 1e-15);
}

static void test_memory_op__backward_is_twice_forward(void **state)
{
    (void)state;
    assert_close(cost_backward_s(0.004), 0.008, 1e-15);
    assert_true(cost_backward_s(0) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_op__bytes_over_bandwidth_plus_overhead),
        cmocka_unit_test(test_memory_op__rmsnorm_moves_four_hidden_tensors),
        cmocka_unit_test(test_memory_op__comm_overhead_from_the_file),
        cmocka_unit_test(test_memory_op__backward_is_twice_forward),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
