/*
 * Shared by the net tests: a topology that must build, and random paths
 * for max-min problems. Include after <cmocka.h>.
 */
#ifndef MOESIM_TESTS_UNIT_NET_NET_TEST_H
#define MOESIM_TESTS_UNIT_NET_NET_TEST_H

#include <stdint.h>

#include <gsl/gsl_rng.h>

#include "sim/net.h"

/* net_create that must succeed; prints the message when it does not. The
 * caller owns the net. */
static inline net_t *net_make(const net_params_t *p)
{
    net_t *net = NULL;
    err_t e;
    err_clear(&e);
    int rc = net_create(&net, p, &e);
    if (rc)
        print_message("%s\n", e.msg);
    assert_int_equal(rc, 0);
    return net;
}

/* Appends a path of one to four links drawn from 0..nl-1 at pl[k] (a link
 * drawn twice is kept once: a max-min path has no repeats) and returns
 * where it ends. */
static inline uint32_t random_path(gsl_rng *rng, uint32_t nl, uint32_t *pl,
                                   uint32_t k)
{
    uint32_t start = k;
    uint32_t len = 1 + (uint32_t)gsl_rng_uniform_int(rng, 4);
    for (uint32_t j = 0; j < len; j++) {
        uint32_t l = (uint32_t)gsl_rng_uniform_int(rng, nl);
        int dup = 0;
        for (uint32_t q = start; q < k; q++)
            dup |= pl[q] == l;
        if (!dup)
            pl[k++] = l;
    }
    return k;
}

#endif
