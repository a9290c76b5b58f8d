/*
 * Helpers shared by the router tests: make a buffer, route or fail with the
 * error message, and compare one token's slots with expected literals,
 * printing both sides when they differ.
 */
#ifndef MOESIM_TESTS_ROUTER_TESTUTIL_H
#define MOESIM_TESTS_ROUTER_TESTUTIL_H

#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "models/router.h"

/* A logit whose softmax share is proportional to x (x > 0). */
static inline float ln_f(double x) { return (float)log(x); }

/* A logit whose sigmoid is exactly s in real arithmetic: ln(s / (1 - s)). */
static inline float logit_f(double s) { return (float)log(s / (1.0 - s)); }

/* A buffer for T tokens, S slots, N experts; the test owns it. */
static inline router_out *rt_out(int T, int S, int N)
{
    err_t e;
    err_clear(&e);
    router_out *o = NULL;
    int rc = router_out_create(T, S, N, &o, &e);
    if (rc)
        fprintf(stderr, "router_out_create: %s\n", e.msg);
    assert_int_equal(rc, 0);
    return o;
}

static inline void rt_route(const router_config *cfg, const float *logits,
                            int T, const float *bias, const uint32_t *ids,
                            gsl_rng *rng, router_out *o)
{
    err_t e;
    err_clear(&e);
    int rc = router_route(cfg, logits, T, bias, ids, rng, o, &e);
    if (rc)
        fprintf(stderr, "router_route(%s): %s\n",
                router_policy_name(cfg->policy), e.msg);
    assert_int_equal(rc, 0);
}

/* Checks token t's slots against n expected expert ids and weights (tol
 * absolute) and dropped flags (NULL: none dropped). */
static inline void rt_expect_token(const router_out *o, int t, int n,
                                   const int32_t *ids, const float *w,
                                   const uint8_t *dropped, float tol)
{
    const int32_t *off = router_out_offsets(o);
    const int32_t *ex = router_out_experts(o);
    const float *wt = router_out_weights(o);
    const uint8_t *dr = router_out_dropped(o);
    int got = off[t + 1] - off[t], bad = got != n;
    for (int j = 0; j < n && !bad; j++) {
        int s = off[t] + j;
        if (ex[s] != ids[j] || fabsf(wt[s] - w[j]) > tol ||
            dr[s] != (dropped ? dropped[j] : 0))
            bad = 1;
    }
    if (bad) {
        fprintf(stderr, "token %d: expected %d slots:", t, n);
        for (int j = 0; j < n; j++)
            fprintf(stderr, " (e%d w=%.7g d=%d)", ids[j], (double)w[j],
                    dropped ? dropped[j] : 0);
        fprintf(stderr, "\n          got %d slots:", got);
        for (int s = off[t]; s < off[t + 1]; s++)
            fprintf(stderr, " (e%d w=%.7g d=%d)", ex[s], (double)wt[s],
                    dr[s]);
        fprintf(stderr, "\n");
    }
    assert_false(bad);
}

/* Checks the per-expert loads against n expected counts. */
static inline void rt_expect_load(const router_out *o, int n,
                                  const int *want)
{
    const int *load = router_out_expert_load(o);
    int bad = 0;
    for (int i = 0; i < n; i++)
        bad |= load[i] != want[i];
    if (bad) {
        fprintf(stderr, "loads: expected");
        for (int i = 0; i < n; i++)
            fprintf(stderr, " %d", want[i]);
        fprintf(stderr, "\n          got");
        for (int i = 0; i < n; i++)
            fprintf(stderr, " %d", load[i]);
        fprintf(stderr, "\n");
    }
    assert_false(bad);
}

#endif
