/*
 * net_create, net_path, net_link_name: parameter checks that name the
 * parameter, link counts, routes and latencies of each topology, worked
 * out by hand from the numbering in sim/net.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <cmocka.h>

#include <math.h>
#include <string.h>

#include "sim/net.h"
#include "tests/unit/net/net_test.h"

/* 2 nodes of 4 (HCCS-like mesh), 25 GB/s NICs, 4 ports per leaf (one leaf
 * per node, so a spine), 1.5 us + 0.5 us per hop. */
static net_params_t mesh_2x4(void)
{
    return (net_params_t){.devices = 8,
                          .devices_per_node = 4,
                          .scaleup = NET_SCALEUP_FULL_MESH,
                          .scaleup_gbps = 28,
                          .scaleup_latency_us = 0.5,
                          .scaleup_label = "hccs",
                          .nic_gbps = 25,
                          .scaleout_latency_us = 1.5,
                          .hop_latency_us = 0.5,
                          .oversubscription = 1,
                          .devices_per_leaf = 4};
}

static void expect_input_error(const net_params_t *p, const char *word)
{
    net_t *net = NULL;
    err_t e;
    err_clear(&e);
    int rc = net_create(&net, p, &e);
    if (rc != ERR_INPUT || !strstr(e.msg, word))
        print_message("rc %d, message \"%s\", expected \"%s\"\n", rc, e.msg,
                      word);
    assert_int_equal(rc, ERR_INPUT);
    assert_non_null(strstr(e.msg, word));
    assert_null(net);
}

static void test_net_create__rejects_bad_parameters_by_name(void **state)
{
    (void)state;
    net_params_t p = mesh_2x4();
    p.devices = 0;
    expect_input_error(&p, "devices");
    p = mesh_2x4();
    p.devices_per_node = 3;
    expect_input_error(&p, "devices_per_node");
    p = mesh_2x4();
    p.scaleup_gbps = -1;
    expect_input_error(&p, "scaleup_gbps");
    p = mesh_2x4();
    p.oversubscription = 0.5;
    expect_input_error(&p, "oversubscription");
    p = mesh_2x4();
    p.hop_latency_us = NAN;
    expect_input_error(&p, "hop_latency_us");
    p = mesh_2x4();
    p.flow_window = INFINITY;
    expect_input_error(&p, "flow_window");
    p = mesh_2x4();
    p.nic_gbps = 0; /* two nodes, no fabric between them */
    expect_input_error(&p, "no network between them");
    p = mesh_2x4();
    p.scaleup = NET_SCALEUP_PCIE_HOST;
    p.devices_per_link = 3;
    expect_input_error(&p, "devices_per_link");
}

/* Mesh: 2 nodes * 4 * 3 = 24 pair links; 8 NICs * 2 = 16; 2 leaves * 2 =
 * 4: 44 links. Pair (1 -> 3) of node 0 is 0 * 12 + 1 * 3 + (3 - 1) = 5. */
static void test_net_create__mesh_links_and_routes(void **state)
{
    (void)state;
    net_params_t p = mesh_2x4();
    net_t *net = net_make(&p);
    assert_int_equal(net_links(net), 44);
    assert_int_equal(net_nodes(net), 2);
    assert_int_equal(net_node_of(net, 5), 1);
    uint32_t links[NET_PATH_MAX];
    double lat;
    char name[NET_LINK_NAME_MAX];
    assert_int_equal(net_path(net, 1, 3, links, &lat), 1);
    assert_int_equal(links[0], 5);
    net_link_name(net, links[0], name, sizeof name);
    assert_string_equal(name, "hccs 1->3");
    assert_true(fabs(lat - 0.5e-6) < 1e-18);
    assert_true(net_link_gbps(net, 5) == 28.0);
    /* Pair (7 -> 4) of node 1: 12 + 3 * 3 + 0 = 21. */
    assert_int_equal(net_path(net, 7, 4, links, NULL), 1);
    net_link_name(net, links[0], name, sizeof name);
    assert_string_equal(name, "hccs 7->4");
    /* Between nodes, through the spine: nic-up 2 (24 + 2), leaf-up 0
     * (40), leaf-down 1 (42 + 1), nic-down 5 (32 + 5); 1.5 + 3 * 0.5 =
     * 3 us. */
    assert_int_equal(net_path(net, 2, 5, links, &lat), 4);
    assert_int_equal(links[0], 26);
    assert_int_equal(links[1], 40);
    assert_int_equal(links[2], 43);
    assert_int_equal(links[3], 37);
    assert_true(fabs(lat - 3e-6) < 1e-18);
    const char *want[] = {"nic-up 2", "leaf-up 0", "leaf-down 1",
                          "nic-down 5"};
    for (int i = 0; i < 4; i++) {
        net_link_name(net, links[i], name, sizeof name);
        assert_string_equal(name, want[i]);
    }
    /* Leaf uplinks: 4 ports * 25 GB/s / 1. */
    assert_true(net_link_gbps(net, 40) == 100.0);
    assert_int_equal(net_path(net, 3, 3, links, &lat), 0);
    net_destroy(net);
}

/* One leaf for all NICs: no leaf links (24 pair links + 16 NIC links =
 * 40), one switch hop: 1.5 + 0.5 us. */
static void test_net_create__single_leaf_has_no_spine(void **state)
{
    (void)state;
    net_params_t p = mesh_2x4();
    p.devices_per_leaf = 0;
    net_t *net = net_make(&p);
    assert_int_equal(net_links(net), 40);
    uint32_t links[NET_PATH_MAX];
    double lat;
    assert_int_equal(net_path(net, 0, 4, links, &lat), 2);
    assert_true(fabs(lat - 2e-6) < 1e-18);
    net_destroy(net);
}

/* Rails: 4 nodes of 8, 2 ports per leaf: rail k has leaves 2k (nodes 0,
 * 1) and 2k + 1 (nodes 2, 3). Device 8 (node 1, index 0) shares leaf 0
 * with device 0: one hop. Device 16 (node 2, index 0) is on leaf 1: the
 * spine. Device 9 (node 1, index 1) is on leaf 2. */
static void test_net_create__rail_aligned_leaves(void **state)
{
    (void)state;
    net_params_t p = {.devices = 32,
                      .devices_per_node = 8,
                      .scaleup = NET_SCALEUP_SWITCH,
                      .scaleup_gbps = 450,
                      .nic_gbps = 50,
                      .hop_latency_us = 1,
                      .devices_per_leaf = 2,
                      .rail_aligned = true};
    net_t *net = net_make(&p);
    uint32_t links[NET_PATH_MAX];
    char name[NET_LINK_NAME_MAX];
    double lat;
    assert_int_equal(net_path(net, 0, 8, links, &lat), 2);
    assert_true(fabs(lat - 1e-6) < 1e-18);
    assert_int_equal(net_path(net, 0, 16, links, &lat), 4);
    assert_true(fabs(lat - 3e-6) < 1e-18);
    net_link_name(net, links[2], name, sizeof name);
    assert_string_equal(name, "leaf-down 1");
    assert_int_equal(net_path(net, 0, 9, links, NULL), 4);
    net_link_name(net, links[2], name, sizeof name);
    assert_string_equal(name, "leaf-down 2");
    net_destroy(net);
}

/* A switch spanning 2 nodes (super-node) of 4 nodes: device 0 reaches
 * node 1 through its switch port, node 2 only through the NICs. */
static void test_net_create__supernode_switch_spans_nodes(void **state)
{
    (void)state;
    net_params_t p = {.devices = 16,
                      .devices_per_node = 4,
                      .scaleup = NET_SCALEUP_SWITCH,
                      .scaleup_gbps = 196,
                      .scaleup_latency_us = 1.2,
                      .scaleup_label = "ub",
                      .span_nodes = 2,
                      .nic_gbps = 25,
                      .scaleout_latency_us = 2};
    net_t *net = net_make(&p);
    uint32_t links[NET_PATH_MAX];
    char name[NET_LINK_NAME_MAX];
    double lat;
    assert_int_equal(net_path(net, 0, 5, links, &lat), 2);
    net_link_name(net, links[0], name, sizeof name);
    assert_string_equal(name, "ub-up 0");
    net_link_name(net, links[1], name, sizeof name);
    assert_string_equal(name, "ub-down 5");
    assert_true(fabs(lat - 1.2e-6) < 1e-18);
    assert_int_equal(net_path(net, 0, 9, links, &lat), 2);
    net_link_name(net, links[0], name, sizeof name);
    assert_string_equal(name, "nic-up 0");
    net_destroy(net);
    /* One fabric reaching every node needs no NICs. */
    p.nic_gbps = 0;
    p.span_nodes = 4;
    net = net_make(&p);
    net_destroy(net);
}

/* PCIe through the host, 2 devices per card link: 8 / 2 = 4 host links,
 * up and down: 8 links. 0 -> 1 goes up and down card 0's link; 0 -> 2 up
 * card 0's, down card 1's. */
static void test_net_create__pcie_crosses_host_links(void **state)
{
    (void)state;
    net_params_t p = {.devices = 8,
                      .devices_per_node = 8,
                      .scaleup = NET_SCALEUP_PCIE_HOST,
                      .scaleup_gbps = 32,
                      .scaleup_latency_us = 2,
                      .devices_per_link = 2};
    net_t *net = net_make(&p);
    assert_int_equal(net_links(net), 8);
    uint32_t links[NET_PATH_MAX];
    char name[NET_LINK_NAME_MAX];
    assert_int_equal(net_path(net, 0, 1, links, NULL), 2);
    net_link_name(net, links[0], name, sizeof name);
    assert_string_equal(name, "pcie-up 0");
    net_link_name(net, links[1], name, sizeof name);
    assert_string_equal(name, "pcie-down 0");
    assert_int_equal(net_path(net, 0, 2, links, NULL), 2);
    net_link_name(net, links[1], name, sizeof name);
    assert_string_equal(name, "pcie-down 1");
    net_destroy(net);
    net_destroy(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_create__rejects_bad_parameters_by_name),
        cmocka_unit_test(test_net_create__mesh_links_and_routes),
        cmocka_unit_test(test_net_create__single_leaf_has_no_spine),
        cmocka_unit_test(test_net_create__rail_aligned_leaves),
        cmocka_unit_test(test_net_create__supernode_switch_spans_nodes),
        cmocka_unit_test(test_net_create__pcie_crosses_host_links),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
