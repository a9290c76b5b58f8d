/*
 * plan_rank: the cost and latency of a candidate (plan_cost, plan_latency),
 * the ranking of the feasible candidates and the Pareto front of cost
 * against latency (plan_rank).
 */
#include "sim/plan.h"

#include <stdlib.h>

/* ------------------------------------------------------------------ */
/* Ranking and the Pareto front                                        */
/* ------------------------------------------------------------------ */

double plan_cost(const planspec *spec, const plan_candidate *c)
{
    switch (spec->rank_by) {
    case PLANSPEC_RANK_POWER:
        return c->power_w;
    case PLANSPEC_RANK_PRICE:
        return c->price_per_hour_usd;
    default:
        return c->devices_total;
    }
}

double plan_latency(const planspec *spec, const plan_candidate *c)
{
    switch (spec->target) {
    case PLANSPEC_DECODE:
        return c->tpot_s;
    case PLANSPEC_PREFILL:
        return c->ttft_s;
    default:
        return c->train_days;
    }
}

/* Known values (> 0) first, then ascending. */
static int cmp_known(double a, double b)
{
    int ka = a > 0, kb = b > 0;
    if (ka != kb)
        return ka ? -1 : 1;
    return (a > b) - (a < b);
}

/* The ranking keys of one feasible candidate, computed once, so the
 * comparison needs no context (qsort takes none). */
typedef struct rank_key {
    double cost, devices, power_w, price, latency;
    int index;
} rank_key;

static int cmp_rank(const void *pa, const void *pb)
{
    const rank_key *a = pa, *b = pb;
    int r;
    if ((r = cmp_known(a->cost, b->cost)) ||
        (r = cmp_known(a->devices, b->devices)) ||
        (r = cmp_known(a->power_w, b->power_w)) ||
        (r = cmp_known(a->price, b->price)) ||
        (r = cmp_known(a->latency, b->latency)))
        return r;
    return (a->index > b->index) - (a->index < b->index);
}

void plan_rank(const planspec *spec, plan_candidate *c, int n)
{
    rank_key *key = malloc((size_t)(n > 0 ? n : 1) * sizeof *key);
    MOESIM_ASSERT(key != NULL); /* smaller than the candidates themselves */
    int m = 0;
    for (int i = 0; i < n; i++) {
        c[i].rank = 0;
        c[i].pareto = 0;
        if (c[i].status != PLAN_FEASIBLE)
            continue;
        rank_key *k = &key[m++];
        k->cost = plan_cost(spec, &c[i]);
        k->devices = c[i].devices_total;
        k->power_w = c[i].power_w;
        k->price = c[i].price_per_hour_usd;
        k->latency = plan_latency(spec, &c[i]);
        k->index = i;
    }
    /* A total order (the index breaks every tie), so qsort's instability
     * cannot change the result. */
    qsort(key, (size_t)m, sizeof *key, cmp_rank);
    for (int r = 0; r < m; r++)
        c[key[r].index].rank = r + 1;
    /* Pareto front, O(m^2): m is a few hundred at most. */
    for (int i = 0; i < m; i++) {
        const rank_key *a = &key[i];
        if (!(a->cost > 0))
            continue;
        int dominated = 0;
        for (int j = 0; j < m && !dominated; j++) {
            const rank_key *b = &key[j];
            dominated = b->cost > 0 && b->cost <= a->cost &&
                        b->latency <= a->latency &&
                        (b->cost < a->cost || b->latency < a->latency);
        }
        c[a->index].pareto = !dominated;
    }
    free(key);
}
