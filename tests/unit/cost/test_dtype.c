/*
 * cost_dtype_supported, cost_prec_check, cost_compute_dtype,
 * cost_hidden_dtype: the dtype rule of hardware/cost.h.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "tests/unit/cost/cost_test.h"

static void assert_msg_has(const err_t *e, const char *part)
{
    if (!strstr(e->msg, part)) {
        print_error("message \"%s\" lacks \"%s\"\n", e->msg, part);
        fail();
    }
}

/* 310P has no bf16: its file sets no bf16_tflops. */
static void test_dtype__bf16_on_310p_is_an_input_error(void **state)
{
    (void)state;
    hw_device d = dev_310p();
    err_t e;
    err_clear(&e);
    assert_int_equal(cost_dtype_supported(&d, HW_BF16, HW_BF16, &e),
                     ERR_INPUT);
    assert_int_equal(e.code, ERR_INPUT);
    assert_msg_has(&e, "Ascend 310P");
    assert_msg_has(&e, "no bf16 support");
    assert_msg_has(&e, "bf16_tflops not set in hardware/ascend-310p.ini");
    assert_msg_has(&e, "expected a dtype it has: fp16, int8");
}

/* DeepSeek-V3 ships fp8 weights; 910B has no fp8, so even weight-only fp8
 * against bf16 activations is refused, naming the model key to change. */
static void test_dtype__fp8_weights_on_910b_are_an_input_error(void **state)
{
    (void)state;
    hw_device d = dev_910b();
    err_t e;
    err_clear(&e);
    cost_prec p = prec_of(HW_FP8, HW_BF16, HW_BF16);
    assert_int_equal(cost_prec_check(&d, &p, &e), ERR_INPUT);
    assert_msg_has(&e, "no fp8 support (fp8_tflops not set in "
                       "hardware/ascend-910b-376t.ini), needed for "
                       "weight_dtype");
    assert_msg_has(&e, "bf16, fp16, int8");
}

static void test_dtype__supported_pairs_pass(void **state)
{
    (void)state;
    hw_device b = dev_910b(), p = dev_310p(), h = dev_h100();
    assert_int_equal(cost_dtype_supported(&b, HW_BF16, HW_BF16, NULL), 0);
    assert_int_equal(cost_dtype_supported(&b, HW_INT8, HW_BF16, NULL), 0);
    assert_int_equal(cost_dtype_supported(&b, HW_INT8, HW_INT8, NULL), 0);
    assert_int_equal(cost_dtype_supported(&p, HW_INT8, HW_FP16, NULL), 0);
    assert_int_equal(cost_dtype_supported(&h, HW_FP8, HW_FP8, NULL), 0);
    assert_int_equal(cost_dtype_supported(&h, HW_FP8, HW_BF16, NULL), 0);
}

/* Pairs no kernel runs, whatever the device has. */
static void test_dtype__mixed_pairs_are_refused(void **state)
{
    (void)state;
    hw_device h = dev_h100();
    err_t e;
    err_clear(&e);
    assert_int_equal(cost_dtype_supported(&h, HW_BF16, HW_FP16, &e),
                     ERR_INPUT);
    assert_msg_has(&e, "two different 16-bit formats");
    assert_int_equal(cost_dtype_supported(&h, HW_FP8, HW_INT8, &e),
                     ERR_INPUT);
    assert_msg_has(&e, "two different 8-bit formats");
    assert_int_equal(cost_dtype_supported(&h, HW_BF16, HW_INT8, &e),
                     ERR_INPUT);
    assert_msg_has(&e, "8-bit activations against 16-bit storage");
}

/* The product runs at the activation dtype in every allowed case. */
static void test_dtype__compute_dtype_is_the_activation_dtype(void **state)
{
    (void)state;
    assert_int_equal(cost_compute_dtype(HW_BF16, HW_BF16), HW_BF16);
    assert_int_equal(cost_compute_dtype(HW_INT8, HW_BF16), HW_BF16);
    assert_int_equal(cost_compute_dtype(HW_INT8, HW_INT8), HW_INT8);
    assert_int_equal(cost_compute_dtype(HW_FP8, HW_FP16), HW_FP16);
}

/* W8A8 keeps 16-bit hidden states: bf16 where the device has it (910B),
 * fp16 on the 310P. A bf16 KV cache on the 310P is then refused by name. */
static void test_dtype__hidden_dtype_and_kv_check(void **state)
{
    (void)state;
    hw_device b = dev_910b(), s = dev_310p();
    err_t e;
    err_clear(&e);
    cost_prec w8a8 = prec_of(HW_INT8, HW_INT8, HW_INT8);
    assert_int_equal(cost_prec_check(&b, &w8a8, &e), 0);
    assert_int_equal(cost_hidden_dtype(&b, &w8a8), HW_BF16);
    assert_int_equal(cost_prec_check(&s, &w8a8, &e), 0);
    assert_int_equal(cost_hidden_dtype(&s, &w8a8), HW_FP16);
    cost_prec fp16kv = prec_of(HW_INT8, HW_INT8, HW_FP16);
    assert_int_equal(cost_prec_check(&s, &fp16kv, &e), 0);
    cost_prec bf16kv = prec_of(HW_INT8, HW_INT8, HW_BF16);
    assert_int_equal(cost_prec_check(&s, &bf16kv, &e), ERR_INPUT);
    assert_msg_has(&e, "no bf16 support");
    assert_msg_has(&e, "needed for kv_dtype");
    /* fp16 cache against bf16 hidden states on the 910B: two 16-bit
     * formats in one attention kernel. */
    cost_prec mixed = prec_of(HW_BF16, HW_BF16, HW_FP16);
    assert_int_equal(cost_prec_check(&b, &mixed, &e), ERR_INPUT);
    assert_msg_has(&e, "kv_dtype fp16");
    cost_prec bf16 = prec_of(HW_BF16, HW_BF16, HW_BF16);
    assert_int_equal(cost_prec_check(&b, &bf16, &e), 0);
    assert_int_equal(cost_hidden_dtype(&b, &bf16), HW_BF16);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_dtype__bf16_on_310p_is_an_input_error),
        cmocka_unit_test(test_dtype__fp8_weights_on_910b_are_an_input_error),
        cmocka_unit_test(test_dtype__supported_pairs_pass),
        cmocka_unit_test(test_dtype__mixed_pairs_are_refused),
        cmocka_unit_test(test_dtype__compute_dtype_is_the_activation_dtype),
        cmocka_unit_test(test_dtype__hidden_dtype_and_kv_check),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
