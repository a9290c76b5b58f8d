/*
 * net_exchange_analytic and net_exchange_flow: exchange times solved by
 * hand for each topology, the two fidelities agreeing where one
 * bottleneck decides, conservation of bytes, and the flow-level time
 * never beating the busiest link.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include <gsl/gsl_randist.h>
#include <gsl/gsl_rng.h>

#include "sim/net.h"
#include "tests/unit/net/net_test.h"
#include "tests/unit/testutil.h"

#define S 1e6 /* bytes per pair */

/* got within a relative rel of want */
#define assert_close(got, want, rel) assert_near(got, want, (rel) * fabs(want))

static net_params_t switch8(void) /* one node, 8 devices, 100 GB/s ports */
{
    return (net_params_t){.devices = 8,
                          .devices_per_node = 8,
                          .scaleup = NET_SCALEUP_SWITCH,
                          .scaleup_gbps = 100,
                          .scaleup_latency_us = 1};
}

static net_params_t mesh8(void) /* one node, 8 devices, 28 GB/s pairs */
{
    return (net_params_t){.devices = 8,
                          .devices_per_node = 8,
                          .scaleup = NET_SCALEUP_FULL_MESH,
                          .scaleup_gbps = 28,
                          .scaleup_latency_us = 0.5,
                          .scaleup_label = "hccs"};
}

/* Runs both fidelities on bytes and checks each time against want. */
static void both_equal(net_t *net, const double *bytes, double want_s,
                       net_result_t *ra, net_result_t *rf)
{
    err_t e;
    err_clear(&e);
    assert_int_equal(net_exchange_analytic(net, bytes, ra, &e), 0);
    assert_int_equal(net_exchange_flow(net, bytes, rf, NULL, &e), 0);
    assert_close(ra->time_s, want_s, 1e-12);
    assert_close(rf->time_s, want_s, 1e-12);
}

static void fill_all_to_all(double *bytes, uint32_t n, double b)
{
    for (uint32_t s = 0; s < n; s++)
        for (uint32_t d = 0; d < n; d++)
            bytes[s * n + d] = s == d ? 0.0 : b;
}

/* Switch, N = 8, port B = 100 GB/s: each port sends 7 S, so (N - 1) S / B
 * = 7e6 / 1e11 = 70 us, + 1 us. */
static void test_net_exchange__uniform_all_to_all_on_a_switch(void **state)
{
    (void)state;
    net_params_t p = switch8();
    net_t *net = net_make(&p);
    double bytes[64];
    fill_all_to_all(bytes, 8, S);
    net_result_t ra, rf;
    both_equal(net, bytes, 71e-6, &ra, &rf);
    assert_int_equal(rf.flows, 56);
    assert_close(rf.bytes_intra_node, 56 * S, 0);
    assert_true(rf.bytes_inter_node == 0.0);
    assert_close(rf.busiest_link_util, 70.0 / 71.0, 1e-12);
    net_destroy(net);
}

/* Full mesh, 28 GB/s per pair: each pair has its own link: S / b = 1e6 /
 * 28e9 = 35.714... us, + 0.5 us. */
static void test_net_exchange__uniform_all_to_all_on_a_mesh(void **state)
{
    (void)state;
    net_params_t p = mesh8();
    net_t *net = net_make(&p);
    double bytes[64];
    fill_all_to_all(bytes, 8, S);
    net_result_t ra, rf;
    both_equal(net, bytes, S / 28e9 + 0.5e-6, &ra, &rf);
    net_destroy(net);
}

/* All 7 others send S to device 0. Mesh: seven separate pair links, S / b
 * each, + 0.5 us. Switch: device 0's port takes 7 S: 70 us + 1 us. */
static void test_net_exchange__hot_destination_mesh_vs_switch(void **state)
{
    (void)state;
    double bytes[64] = {0};
    for (uint32_t s = 1; s < 8; s++)
        bytes[s * 8 + 0] = S;
    net_result_t ra, rf;
    net_params_t pm = mesh8();
    net_t *mesh = net_make(&pm);
    both_equal(mesh, bytes, S / 28e9 + 0.5e-6, &ra, &rf);
    net_destroy(mesh);
    net_params_t ps = switch8();
    ps.scaleup_label = "nvlink";
    net_t *sw = net_make(&ps);
    both_equal(sw, bytes, 71e-6, &ra, &rf);
    assert_string_equal(rf.busiest_link_name, "nvlink-down 0");
    assert_close(rf.busiest_link_bytes, 7 * S, 0);
    net_destroy(sw);
}

/* PCIe through the host, 4 devices with their own 32 GB/s link: each up
 * link carries 3 S, each down link 3 S: 3e6 / 32e9 = 93.75 us, + 2 us. */
static void test_net_exchange__pcie_all_to_all_crosses_both_links(
    void **state)
{
    (void)state;
    net_params_t p = {.devices = 4,
                      .devices_per_node = 4,
                      .scaleup = NET_SCALEUP_PCIE_HOST,
                      .scaleup_gbps = 32,
                      .scaleup_latency_us = 2};
    net_t *net = net_make(&p);
    double bytes[16];
    fill_all_to_all(bytes, 4, S);
    net_result_t ra, rf;
    both_equal(net, bytes, 93.75e-6 + 2e-6, &ra, &rf);
    net_destroy(net);
}

/* 2 nodes of 4 on a mesh, 25 GB/s NICs under one leaf (1.5 us + one 0.5
 * us hop). Each NIC sends to 4 remote devices: 4 S / 25e9 = 160 us; the
 * pair links need only S / 28e9. Flow-level: 4 flows per NIC at 25/4
 * GB/s end together at 160 us. Time 162 us. Bytes: 8 devices x 4 remote
 * = 32 S between nodes, all through NICs; 8 x 3 = 24 S inside. */
static void test_net_exchange__two_nodes_nic_bound(void **state)
{
    (void)state;
    net_params_t p = {.devices = 8,
                      .devices_per_node = 4,
                      .scaleup = NET_SCALEUP_FULL_MESH,
                      .scaleup_gbps = 28,
                      .scaleup_latency_us = 0.5,
                      .nic_gbps = 25,
                      .scaleout_latency_us = 1.5,
                      .hop_latency_us = 0.5};
    net_t *net = net_make(&p);
    double bytes[64];
    fill_all_to_all(bytes, 8, S);
    net_result_t ra, rf;
    both_equal(net, bytes, 162e-6, &ra, &rf);
    assert_close(rf.bytes_inter_node, 32 * S, 0);
    assert_close(rf.bytes_scaleout, 32 * S, 0);
    assert_close(rf.bytes_intra_node, 24 * S, 0);
    assert_int_equal(strncmp(rf.busiest_link_name, "nic-", 4), 0);
    net_destroy(net);
}

/* 4 single-device nodes, 10 GB/s NICs, 2 ports per leaf. 0 -> 2 and 1 ->
 * 3 both cross from leaf 0 to leaf 1. At 2:1 the leaf uplink is 2 * 10 /
 * 2 = 10 GB/s for 2 S: 200 us (each flow 5 GB/s); non-blocking it is 20
 * GB/s and the NICs decide: S / 10e9 = 100 us. Latency 3 hops * 1 us. */
static void test_net_exchange__oversubscribed_leaf_uplink_binds(void **state)
{
    (void)state;
    net_params_t p = {.devices = 4,
                      .devices_per_node = 1,
                      .nic_gbps = 10,
                      .hop_latency_us = 1,
                      .oversubscription = 2,
                      .devices_per_leaf = 2};
    double bytes[16] = {0};
    bytes[0 * 4 + 2] = S;
    bytes[1 * 4 + 3] = S;
    net_result_t ra, rf;
    net_t *net = net_make(&p);
    both_equal(net, bytes, 200e-6 + 3e-6, &ra, &rf);
    assert_string_equal(rf.busiest_link_name, "leaf-up 0");
    net_destroy(net);
    p.oversubscription = 1;
    net = net_make(&p);
    both_equal(net, bytes, 100e-6 + 3e-6, &ra, &rf);
    net_destroy(net);
}

/* CloudMatrix-like super-node: 2 nodes of 4 dies on one 196 GB/s switch
 * fabric: each port carries 7 S: 7e6 / 196e9 = 35.714... us, + 1.2 us.
 * Inter-node bytes 2 * 4 * 4 S = 32 S, none through NICs. */
static void test_net_exchange__supernode_all_to_all(void **state)
{
    (void)state;
    net_params_t p = {.devices = 8,
                      .devices_per_node = 4,
                      .scaleup = NET_SCALEUP_SWITCH,
                      .scaleup_gbps = 196,
                      .scaleup_latency_us = 1.2,
                      .span_nodes = 2};
    net_t *net = net_make(&p);
    double bytes[64];
    fill_all_to_all(bytes, 8, S);
    net_result_t ra, rf;
    both_equal(net, bytes, 7 * S / 196e9 + 1.2e-6, &ra, &rf);
    assert_close(rf.bytes_inter_node, 32 * S, 0);
    assert_true(rf.bytes_scaleout == 0.0);
    net_destroy(net);
}

/* Two flows into one switch port (100 GB/s), S and 3 S: both at 50 GB/s
 * until the small one ends at 2 S / B = 20 us; the big one has 2 S left at
 * the full port: 20 + 20 = 40 us. Plus 1 us each. The analytic time is
 * the port's 4 S / B + 1 us = 41 us as well: one bottleneck, work kept. */
static void test_net_exchange__flow_finish_times_by_hand(void **state)
{
    (void)state;
    net_params_t p = switch8();
    net_t *net = net_make(&p);
    double bytes[64] = {0}, fin[64];
    bytes[1 * 8 + 0] = S;
    bytes[2 * 8 + 0] = 3 * S;
    net_result_t rf, ra;
    err_t e;
    assert_int_equal(net_exchange_flow(net, bytes, &rf, fin, &e), 0);
    assert_close(fin[1 * 8 + 0], 21e-6, 1e-12);
    assert_close(fin[2 * 8 + 0], 41e-6, 1e-12);
    assert_true(fin[3 * 8 + 0] == 0.0);
    assert_close(rf.time_s, 41e-6, 1e-12);
    assert_int_equal(net_exchange_analytic(net, bytes, &ra, &e), 0);
    assert_close(ra.time_s, 41e-6, 1e-12);
    net_destroy(net);
}

/* Random matrices on a 4-node cluster with 2:1 leaves: per kind of link,
 * bytes sent equal bytes received (up == down), the intra + inter totals
 * equal the matrix off the diagonal, and the flow-level time is never
 * below the busiest link's busy time (the analytic time without its
 * latency). */
static void test_net_exchange__bytes_conserved_and_flow_never_early(
    void **state)
{
    (void)state;
    net_params_t p = {.devices = 16,
                      .devices_per_node = 4,
                      .scaleup = NET_SCALEUP_SWITCH,
                      .scaleup_gbps = 100,
                      .scaleup_latency_us = 1,
                      .nic_gbps = 25,
                      .scaleout_latency_us = 2,
                      .hop_latency_us = 0.3,
                      .oversubscription = 2,
                      .devices_per_leaf = 8};
    net_t *net = net_make(&p);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 11);
    double bytes[256];
    err_t e;
    for (int trial = 0; trial < 20; trial++) {
        double total = 0.0;
        for (uint32_t i = 0; i < 256; i++) {
            bytes[i] = gsl_rng_uniform(rng) < 0.3
                           ? 0.0
                           : S * gsl_ran_lognormal(rng, 0.0, 1.0);
            if (i / 16 != i % 16)
                total += bytes[i];
        }
        net_result_t ra, rf;
        assert_int_equal(net_exchange_flow(net, bytes, &rf, NULL, &e), 0);
        assert_int_equal(net_exchange_analytic(net, bytes, &ra, &e), 0);
        assert_close(ra.bytes_intra_node + ra.bytes_inter_node, total,
                     1e-12);
        const double *lb = net_link_bytes(net);
        double up[4] = {0}, down[4] = {0};
        char name[NET_LINK_NAME_MAX];
        for (uint32_t l = 0; l < net_links(net); l++) {
            net_link_name(net, l, name, sizeof name);
            int kind = strncmp(name, "switch", 6) == 0 ? 0
                       : strncmp(name, "nic", 3) == 0  ? 1
                                                       : 2;
            if (strstr(name, "-up"))
                up[kind] += lb[l];
            else
                down[kind] += lb[l];
        }
        for (int k = 0; k < 3; k++)
            assert_close(up[k], down[k], 1e-12);
        assert_close(up[1], ra.bytes_scaleout, 1e-12);
        assert_true(rf.time_s >= (ra.time_s - ra.latency_s) * (1 - 1e-12));
        assert_true(rf.busiest_link_util <= 1.0 + 1e-12);
    }
    gsl_rng_free(rng);
    net_destroy(net);
}

static void test_net_exchange__rejects_negative_bytes(void **state)
{
    (void)state;
    net_params_t p = switch8();
    net_t *net = net_make(&p);
    double bytes[64] = {0};
    bytes[3 * 8 + 5] = -1;
    net_result_t r;
    err_t e;
    err_clear(&e);
    assert_int_equal(net_exchange_flow(net, bytes, &r, NULL, &e), ERR_INPUT);
    assert_non_null(strstr(e.msg, "from device 3 to 5"));
    bytes[3 * 8 + 5] = 0;
    assert_int_equal(net_exchange_analytic(net, bytes, &r, &e), 0);
    assert_true(r.time_s == 0.0);
    assert_int_equal(r.busiest_link, -1);
    net_destroy(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_exchange__uniform_all_to_all_on_a_switch),
        cmocka_unit_test(test_net_exchange__uniform_all_to_all_on_a_mesh),
        cmocka_unit_test(test_net_exchange__hot_destination_mesh_vs_switch),
        cmocka_unit_test(
            test_net_exchange__pcie_all_to_all_crosses_both_links),
        cmocka_unit_test(test_net_exchange__two_nodes_nic_bound),
        cmocka_unit_test(test_net_exchange__oversubscribed_leaf_uplink_binds),
        cmocka_unit_test(test_net_exchange__supernode_all_to_all),
        cmocka_unit_test(test_net_exchange__flow_finish_times_by_hand),
        cmocka_unit_test(
            test_net_exchange__bytes_conserved_and_flow_never_early),
        cmocka_unit_test(test_net_exchange__rejects_negative_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
