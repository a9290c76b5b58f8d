/*
 * net_dispatch_matrix: plain versus DeepSeek-style node-limited dispatch,
 * by hand on one token and counted on many random tokens: node-limited
 * sends each token once per destination node across the scale-out fabric.
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

#include <gsl/gsl_rng.h>

#include "sim/net.h"
#include "tests/unit/net/net_test.h"

#define B 7168.0 /* bytes per token: a DeepSeek-V3 hidden state in FP8 */

/* 4 nodes of 4 devices, switch inside, NICs under one leaf. */
static net_t *make_4x4(void)
{
    net_params_t p = {.devices = 16,
                      .devices_per_node = 4,
                      .scaleup = NET_SCALEUP_SWITCH,
                      .scaleup_gbps = 160,
                      .nic_gbps = 50};
    return net_make(&p);
}

/* One token from device 1 (node 0, in-node index 1) to devices 2 (its own
 * node), 4, 6, 7 (node 1), 5 listed twice (node 1) and 13 (node 3).
 *   direct:       1->2, 1->4, 1->5, 1->6, 1->7, 1->13: 5 copies leave the
 *                 node.
 *   node-limited: 1->2 directly; node 1 through relay 5 (index 1): 1->5
 *                 once, then 5->4, 5->6, 5->7 (5 itself is a
 *                 destination: nothing more); node 3 through relay 13:
 *                 1->13 and no forward. 2 copies leave the node, 4
 *                 stay inside one (1->2, 5->4, 5->6, 5->7). */
static void test_net_dispatch__one_token_by_hand(void **state)
{
    (void)state;
    net_t *net = make_4x4();
    const uint32_t src[] = {1}, start[] = {0, 7};
    const uint32_t dst[] = {2, 4, 6, 5, 7, 5, 13};
    double m[256];
    err_t e;
    assert_int_equal(net_dispatch_matrix(net, 1, src, start, dst, B,
                                         NET_DISPATCH_DIRECT, m, &e),
                     0);
    double want_direct[256] = {0};
    const uint32_t dd[] = {2, 4, 5, 6, 7, 13};
    for (int i = 0; i < 6; i++)
        want_direct[1 * 16 + dd[i]] = B;
    assert_memory_equal(m, want_direct, sizeof m);
    assert_int_equal(net_dispatch_matrix(net, 1, src, start, dst, B,
                                         NET_DISPATCH_NODE_LIMITED, m, &e),
                     0);
    double want_nl[256] = {0};
    want_nl[1 * 16 + 2] = B;
    want_nl[1 * 16 + 5] = B;
    want_nl[5 * 16 + 4] = B;
    want_nl[5 * 16 + 6] = B;
    want_nl[5 * 16 + 7] = B;
    want_nl[1 * 16 + 13] = B;
    assert_memory_equal(m, want_nl, sizeof m);
    net_result_t r;
    assert_int_equal(net_exchange_analytic(net, m, &r, &e), 0);
    assert_true(r.bytes_scaleout == 2 * B);
    assert_true(r.bytes_intra_node == 4 * B);
    net_destroy(net);
}

/* A token whose only destination is its own device sends nothing. */
static void test_net_dispatch__local_expert_sends_nothing(void **state)
{
    (void)state;
    net_t *net = make_4x4();
    const uint32_t src[] = {9}, start[] = {0, 1}, dst[] = {9};
    double m[256], zero[256] = {0};
    err_t e;
    assert_int_equal(net_dispatch_matrix(net, 1, src, start, dst, B,
                                         NET_DISPATCH_NODE_LIMITED, m, &e),
                     0);
    assert_memory_equal(m, zero, sizeof m);
    net_destroy(net);
}

/* 2000 random tokens with 8 destinations each: the bytes leaving nodes
 * are B times the distinct remote nodes per token (node-limited) or the
 * distinct remote devices per token (direct), counted here from the
 * token lists themselves. */
static void test_net_dispatch__once_per_destination_node(void **state)
{
    (void)state;
    net_t *net = make_4x4();
    enum { T = 2000, K = 8 };
    uint32_t *src = malloc(T * sizeof *src);
    uint32_t *start = malloc((T + 1) * sizeof *start);
    uint32_t *dst = malloc(T * K * sizeof *dst);
    double *m = malloc(256 * sizeof *m);
    assert_non_null(src && start && dst && m);
    gsl_rng *rng = gsl_rng_alloc(gsl_rng_mt19937);
    gsl_rng_set(rng, 3);
    double remote_nodes = 0, remote_devices = 0;
    for (uint32_t t = 0; t < T; t++) {
        src[t] = (uint32_t)gsl_rng_uniform_int(rng, 16);
        start[t] = t * K;
        int node_hit[4] = {0}, dev_hit[16] = {0};
        for (uint32_t j = 0; j < K; j++) {
            uint32_t d = (uint32_t)gsl_rng_uniform_int(rng, 16);
            dst[t * K + j] = d;
            if (d / 4 != src[t] / 4) {
                remote_nodes += !node_hit[d / 4];
                remote_devices += !dev_hit[d];
            }
            node_hit[d / 4] = dev_hit[d] = 1;
        }
    }
    start[T] = T * K;
    err_t e;
    net_result_t r;
    assert_int_equal(net_dispatch_matrix(net, T, src, start, dst, B,
                                         NET_DISPATCH_NODE_LIMITED, m, &e),
                     0);
    assert_int_equal(net_exchange_analytic(net, m, &r, &e), 0);
    assert_true(fabs(r.bytes_scaleout - remote_nodes * B) < 1e-6);
    assert_int_equal(net_dispatch_matrix(net, T, src, start, dst, B,
                                         NET_DISPATCH_DIRECT, m, &e),
                     0);
    assert_int_equal(net_exchange_analytic(net, m, &r, &e), 0);
    assert_true(fabs(r.bytes_scaleout - remote_devices * B) < 1e-6);
    assert_true(remote_nodes < remote_devices);
    gsl_rng_free(rng);
    free(m);
    free(dst);
    free(start);
    free(src);
    net_destroy(net);
}

static void test_net_dispatch__rejects_unknown_devices(void **state)
{
    (void)state;
    net_t *net = make_4x4();
    const uint32_t src[] = {1}, start[] = {0, 1}, dst[] = {16};
    double m[256];
    err_t e;
    err_clear(&e);
    assert_int_equal(net_dispatch_matrix(net, 1, src, start, dst, B,
                                         NET_DISPATCH_DIRECT, m, &e),
                     ERR_INPUT);
    assert_non_null(strstr(e.msg, "device 16"));
    net_destroy(net);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_net_dispatch__one_token_by_hand),
        cmocka_unit_test(test_net_dispatch__local_expert_sends_nothing),
        cmocka_unit_test(test_net_dispatch__once_per_destination_node),
        cmocka_unit_test(test_net_dispatch__rejects_unknown_devices),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
