/*
 * Shared by the cost tests: devices built from literal numbers (copied from
 * the hardware files named, never loaded) and a closeness check that prints
 * both values when it fails. Include after <cmocka.h>.
 */
#ifndef MOESIM_TESTS_UNIT_COST_COST_TEST_H
#define MOESIM_TESTS_UNIT_COST_COST_TEST_H

#include <math.h>
#include <string.h>

#include "hardware/cost.h"
#include "hardware/hw.h"

/* hardware/ascend-910b-376t.ini. Derived rates used across the tests:
 *   memory   1759.2e9 B/s * 0.6       = 1055.52e9 B/s
 *   bf16     353.9e12 * 0.7           = 247.73e12 FLOP/s (before eff())
 *   int8     752e12 * 0.7             = 526.4e12 OP/s
 *   eff(t)   linear through (1, 0.3) (16, 0.5) (64, 0.75) (256, 0.9)
 *            (1024, 1.0), 1.0 beyond. */
#define B910_MEM_BPS 1055.52e9
#define B910_BF16_FLOPS 247.73e12
static inline hw_device dev_910b(void)
{
    hw_device d;
    memset(&d, 0, sizeof d);
    strcpy(d.name, "Ascend 910B (376T tier)");
    strcpy(d.path, "hardware/ascend-910b-376t.ini");
    d.peak_tflops[HW_BF16] = 353.9;
    d.peak_tflops[HW_FP16] = 376;
    d.peak_tflops[HW_INT8] = 752;
    d.memory_bytes = 64.0 * 1073741824.0;
    d.memory_gbps = 1759.2;
    d.compute_efficiency = 0.7;
    d.memory_efficiency = 0.6;
    d.matmul_overhead_us = 5;
    d.vector_overhead_us = 2;
    d.comm_overhead_us = 10;
    static const double tok[5] = {1, 16, 64, 256, 1024};
    static const double fac[5] = {0.3, 0.5, 0.75, 0.9, 1.0};
    d.n_eff_points = 5;
    memcpy(d.eff_tokens, tok, sizeof tok);
    memcpy(d.eff_factor, fac, sizeof fac);
    return d;
}

/* hardware/ascend-310p.ini: fp16 70, int8 140, no bf16, no fp8. */
static inline hw_device dev_310p(void)
{
    hw_device d = dev_910b();
    strcpy(d.name, "Ascend 310P (one chip of an Atlas 300I Duo)");
    strcpy(d.path, "hardware/ascend-310p.ini");
    d.peak_tflops[HW_BF16] = 0;
    d.peak_tflops[HW_FP16] = 70;
    d.peak_tflops[HW_INT8] = 140;
    d.memory_bytes = 48e9;
    d.memory_gbps = 204;
    return d;
}

/* hardware/nvidia-h100.ini: bf16 989, fp8 1979, 3350 GB/s, eff 0.75 / 0.8,
 * matmul overhead 3 us, vector 2, comm 8. */
static inline hw_device dev_h100(void)
{
    hw_device d = dev_910b();
    strcpy(d.name, "NVIDIA H100 SXM5");
    strcpy(d.path, "hardware/nvidia-h100.ini");
    d.peak_tflops[HW_BF16] = 989;
    d.peak_tflops[HW_FP16] = 989;
    d.peak_tflops[HW_FP8] = 1979;
    d.peak_tflops[HW_INT8] = 1979;
    d.memory_bytes = 80e9;
    d.memory_gbps = 3350;
    d.compute_efficiency = 0.75;
    d.memory_efficiency = 0.8;
    d.matmul_overhead_us = 3;
    d.comm_overhead_us = 8;
    static const double fac[5] = {0.25, 0.45, 0.7, 0.9, 1.0};
    memcpy(d.eff_factor, fac, sizeof fac);
    return d;
}

static inline cost_prec prec_of(hw_dtype w, hw_dtype a, hw_dtype kv)
{
    cost_prec p = {w, a, kv};
    return p;
}

/* |got - want| <= rel * |want| (or <= rel when want is 0). */
#define assert_close(got, want, rel)                                        \
    do {                                                                    \
        double got_ = (got), want_ = (want), rel_ = (rel);                  \
        double tol_ = want_ == 0 ? rel_ : rel_ * fabs(want_);               \
        if (!(fabs(got_ - want_) <= tol_)) {                                \
            print_error("%s = %.12g, expected %s = %.12g (rel tol %g)\n",   \
                        #got, got_, #want, want_, rel_);                    \
            fail();                                                         \
        }                                                                   \
    } while (0)

#endif
