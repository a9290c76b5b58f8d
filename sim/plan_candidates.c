/*
 * plan_candidates: the candidates of a plan (plan_enumerate) and the
 * scenario each one stands for (plan_candidate_scenario).
 */
#include "sim/plan.h"

#include <stdlib.h>
#include <string.h>

#include "sim/plan_impl.h"

/* Candidates a plan may hold: far beyond any plan worth simulating, low
 * enough that a typo in a list cannot ask for gigabytes. */
#define PLAN_MAX_CANDIDATES 100000

/* ------------------------------------------------------------------ */
/* Candidates                                                          */
/* ------------------------------------------------------------------ */

/* The scenario a candidate stands for: base with the candidate's node file,
 * cluster size and layout, and the plan's steps and seed. A shallow copy:
 * s->text is cleared so that nobody frees base's text through it. */
void plan_candidate_scenario(const scenario *base, const planspec *spec,
                             const plan_candidate *c, scenario *s)
{
    *s = *base;
    s->text = NULL;
    s->node = spec->node_files[c->node_file];
    s->nodes = c->nodes;
    s->devices = c->devices;
    s->ep_size = c->ep_size;
    s->attn_dp_size = c->attn_dp_size;
    s->steps = spec->plan_steps;
    s->n_seeds = 1;
    s->seeds[0] = spec->seed;
    s->sequences_per_device = spec->batch_min;
}

int plan_enumerate(const scenario *base, const planspec *spec,
                   plan_candidate **out, int *n, err_t *e)
{
    *out = NULL;
    *n = 0;
    double max_n = (double)spec->n_node_files * spec->n_node_counts *
                   spec->n_policies * spec->n_ep_sizes *
                   spec->n_attn_dp_sizes;
    if (max_n > PLAN_MAX_CANDIDATES)
        return err_input(e, base->path, spec->line,
                         "[plan] lists %.0f candidates; expected at most %d "
                         "(shorten the lists)",
                         max_n, PLAN_MAX_CANDIDATES);
    plan_candidate *c = calloc(max_n > 0 ? (size_t)max_n : 1, sizeof *c);
    if (!c)
        return err_set(e, ERR_NOMEM, "out of memory for %.0f candidates",
                       max_n);
    int k = 0;
    for (int f = 0; f < spec->n_node_files; f++) {
        const hw_node *node = &spec->node_files[f];
        for (int ci = 0; ci < spec->n_node_counts; ci++) {
            const int nodes = spec->node_counts[ci];
            const int devices = nodes * node->devices;
            for (int pi = 0; pi < spec->n_policies; pi++) {
                const int first = k; /* of this cluster and policy */
                for (int ei = 0; ei < spec->n_ep_sizes; ei++) {
                    for (int ai = 0; ai < spec->n_attn_dp_sizes; ai++) {
                        int ep = spec->ep_sizes[ei];
                        int dp = spec->attn_dp_sizes[ai];
                        if (ep == PLANSPEC_ALL_DEVICES)
                            ep = devices;
                        if (dp == PLANSPEC_ALL_DEVICES)
                            dp = devices;
                        int dup = 0;
                        for (int j = first; j < k && !dup; j++)
                            dup = c[j].ep_size == ep && c[j].attn_dp_size == dp;
                        if (dup)
                            continue;
                        plan_candidate *x = &c[k];
                        memset(x, 0, sizeof *x);
                        x->index = k;
                        x->node_file = f;
                        x->nodes = nodes;
                        x->devices = devices;
                        x->policy = spec->policies[pi];
                        x->ep_size = ep;
                        x->attn_dp_size = dp;
                        x->status = PLAN_PENDING;
                        scenario s;
                        plan_candidate_scenario(base, spec, x, &s);
                        if (scen_layout_problem(&s, &s.policies[x->policy],
                                           x->reason, sizeof x->reason))
                            x->status = PLAN_INVALID;
                        k++;
                    }
                }
            }
        }
    }
    *out = c;
    *n = k;
    return 0;
}
