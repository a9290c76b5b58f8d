/*
 * Helpers shared by the workload tests: a DeepSeek-V3 gate with no
 * correction bias, and the per-expert loads of one layer. Include after
 * <cmocka.h>.
 */
#ifndef MOESIM_TESTS_WORKLOAD_TEST_H
#define MOESIM_TESTS_WORKLOAD_TEST_H

#include <stdlib.h>

#include "models/router.h"
#include "models/workload.h"

/* A routing setup for batches of up to max_tokens: DeepSeek-V3's gate
 * (sigmoid, n_experts/8 per group, 8 groups keep 4, top 8) when n_experts
 * is a multiple of 8, and a logits buffer. */
typedef struct wl_router {
    router_config cfg;
    router_out *out;
    float *logits;
} wl_router;

static inline void wl_router_init(wl_router *r, int n_experts, int max_tokens)
{
    err_t e;
    router_config_init(&r->cfg, ROUTER_V3_GROUP_LIMITED, n_experts, 8);
    r->cfg.n_group = 8;
    r->cfg.topk_group = 4;
    r->cfg.scaling_factor = 2.5f;
    assert_int_equal(router_config_check(&r->cfg, &e), 0);
    int slots = 0;
    assert_int_equal(router_slots_needed(&r->cfg, max_tokens, &slots, &e), 0);
    assert_int_equal(
        router_out_create(max_tokens, slots, n_experts, &r->out, &e), 0);
    r->logits = malloc((size_t)max_tokens * (size_t)n_experts *
                       sizeof *r->logits);
    assert_non_null(r->logits);
}

static inline void wl_router_fini(wl_router *r)
{
    free(r->logits);
    router_out_destroy(r->out);
}

/* Routes the current step's tokens of `layer` and copies the per-expert
 * loads into load[n_experts] as doubles (for gsl_stats). */
static inline void wl_layer_loads(workload *w, wl_router *r, int layer,
                                  double *load)
{
    err_t e;
    int T = workload_tokens(w), N = workload_experts(w);
    assert_int_equal(workload_logits(w, layer, r->logits, &e), 0);
    assert_int_equal(router_route(&r->cfg, r->logits, T, NULL, NULL, NULL,
                                  r->out, &e),
                     0);
    const int *l = router_out_expert_load(r->out);
    for (int x = 0; x < N; x++)
        load[x] = l[x];
}

#endif
