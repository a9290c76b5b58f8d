/* Hardware files: figures derived by hand from shared/reference/hardware.md. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <glob.h>
#include <stdio.h>

#include "hardware/hw.h"
#include "tests/unit/testutil.h"

static void node(const char *path, hw_node *n)
{
    err_t e;
    err_clear(&e);
    int rc = hw_node_load(path, n, &e);
    if (rc != 0)
        fprintf(stderr, "%s\n", e.msg);
    assert_int_equal(rc, 0);
}

static void test_hw__every_shipped_file_loads(void **s)
{
    (void)s;
    glob_t g;
    assert_int_equal(glob("hardware/*.ini", 0, NULL, &g), 0);
    int nodes = 0, devices = 0;
    for (size_t i = 0; i < g.gl_pathc; i++) {
        hw_node n;
        hw_device d;
        err_t e;
        err_clear(&e);
        /* a file is a node if it loads as one, else it must be a device */
        if (hw_node_load(g.gl_pathv[i], &n, &e) == 0) {
            nodes++;
            continue;
        }
        err_clear(&e);
        int rc = hw_device_load(g.gl_pathv[i], &d, &e);
        if (rc != 0)
            fprintf(stderr, "%s\n", e.msg);
        assert_int_equal(rc, 0);
        devices++;
    }
    globfree(&g);
    /* issue 2: 10 devices (910B x2 tiers, 910C die, 310P, A100, H100, H800,
     * H20, H200, B200) and at least 7 nodes */
    assert_true(devices >= 10);
    assert_true(nodes >= 7);
}

static void test_hw__atlas_800i_a2_is_a_28_gbps_pair_full_mesh(void **s)
{
    (void)s;
    hw_node n;
    node("hardware/atlas-800i-a2.ini", &n);
    assert_int_equal(n.scaleup, HW_SCALEUP_FULL_MESH);
    assert_int_equal(n.devices, 8);
    /* 196 GB/s per NPU over 7 peers = 28 GB/s per pair per direction */
    assert_near(n.scaleup_gbps * 7, 196.0, 1e-9);
    assert_near(n.nic_gbps, 25.0, 1e-9); /* 200 GbE */
    /* 376T tier: BF16 353.9 TFLOPS, 64 GiB */
    assert_near(n.device.peak_tflops[HW_BF16], 353.9, 1e-9);
    assert_near(n.device.memory_bytes, 64.0 * 1073741824.0, 0.5);
}

static void test_hw__ridge_point_by_hand(void **s)
{
    (void)s;
    hw_node n;
    node("hardware/atlas-800i-a2.ini", &n);
    /* 353.9e12 * 0.7 / (1759.2e9 * 0.6) = 247.73e12 / 1055.52e9 = 234.70 */
    assert_near(hw_ridge_flop_per_byte(&n.device, HW_BF16), 234.70,
                       0.01);
    node("hardware/hgx-h100.ini", &n);
    /* 989e12 * 0.75 / (3350e9 * 0.8) = 741.75e12 / 2680e9 = 276.77 */
    assert_near(hw_ridge_flop_per_byte(&n.device, HW_BF16), 276.77,
                       0.01);
    assert_near(n.scaleup_gbps, 450.0, 1e-9); /* 900 bidir / 2 */
}

static void test_hw__small_matmul_efficiency_interpolates(void **s)
{
    (void)s;
    hw_node n;
    node("hardware/atlas-800i-a2.ini", &n);
    /* points (1, 0.3) and (16, 0.5): at 8 tokens 0.3 + 7/15 * 0.2 */
    assert_near(hw_matmul_eff_factor(&n.device, 8), 0.3 + 7.0 / 15 * 0.2,
                       1e-12);
    assert_near(hw_matmul_eff_factor(&n.device, 0.5), 0.3, 1e-12);
    assert_near(hw_matmul_eff_factor(&n.device, 5000), 1.0, 1e-12);
}

static void test_hw__cloudmatrix_switch_spans_the_supernode(void **s)
{
    (void)s;
    hw_node n;
    node("hardware/cloudmatrix384.ini", &n);
    assert_int_equal(n.scaleup, HW_SCALEUP_SWITCH);
    assert_int_equal(n.span_nodes, 48);
    assert_int_equal(n.devices * n.span_nodes, 768); /* dies */
    node("hardware/atlas-300i-duo.ini", &n);
    assert_int_equal(n.scaleup, HW_SCALEUP_PCIE_HOST);
    assert_int_equal(n.devices_per_link, 2);
    assert_near(n.device.peak_tflops[HW_BF16], 0.0, 0); /* no BF16 */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hw__every_shipped_file_loads),
        cmocka_unit_test(test_hw__atlas_800i_a2_is_a_28_gbps_pair_full_mesh),
        cmocka_unit_test(test_hw__ridge_point_by_hand),
        cmocka_unit_test(test_hw__small_matmul_efficiency_interpolates),
        cmocka_unit_test(test_hw__cloudmatrix_switch_spans_the_supernode),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
