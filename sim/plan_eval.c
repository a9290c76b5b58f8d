/*
 * plan_eval: one candidate (plan_evaluate): memory first, then the largest
 * batch per device that meets the latency limit (plan_largest_batch over
 * the simulator), then the replicas the throughput target needs, or for
 * training the days to the token budget.
 */
#include "sim/plan.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "models/trace.h"
#include "models/workload.h"
#include "sim/memory.h"
#include "sim/plan_impl.h"
#include "sim/run.h"

/* ------------------------------------------------------------------ */
/* The search for the largest batch                                    */
/* ------------------------------------------------------------------ */

int plan_largest_batch(int lo, int hi, double limit_s, plan_probe_fn probe,
                       void *ctx, int *best, int *probes, err_t *e)
{
    MOESIM_ASSERT(lo >= 1 && lo <= hi);
    *best = 0;
    *probes = 0;
    const int cap = hi;
    double t_lo = 0, t_hi = 0, t = 0;
    int rc;
#define PROBE(b, tp)                                                         \
    do {                                                                     \
        ++*probes;                                                           \
        if ((rc = probe(ctx, (b), (tp), e)) != 0)                            \
            return rc;                                                       \
    } while (0)
    PROBE(lo, &t_lo);
    if (t_lo > limit_s)
        return 0;
    /* Invariant: lo meets the limit; hi misses it, or is cap + 1 and not
     * probed yet (bracketed = 0). A probe costs about its batch times the
     * EP size in simulated tokens, so the search climbs from below, where
     * probes are cheap, instead of opening with the largest batch:
     *   climbing  extrapolate the line through the last two batches that
     *             met (latency is close to affine in the batch: weights read
     *             once per step plus a per-sequence share); from one point,
     *             go a quarter of the way to cap (small batches sit on the
     *             curved, memory-bound part, too close to lo for a slope;
     *             measured on bench_plan, a quarter needs fewer probes than
     *             4, 8, 16 or 32 times lo). After 3 climbing rounds without
     *             a miss, probe cap itself so that the rounds stay
     *             logarithmic.
     *   bracketed interpolate between lo and hi, the usual false position.
     * After an estimate, the neighbour on the far side of it is probed: on
     * an affine latency the estimate is the answer and the neighbour proves
     * it. A bracketed round that fails to halve the bracket (curved or
     * noisy latency) makes the next round a bisection, so the worst case
     * stays within about 3 * log2(cap - lo) + 4 probes. */
    hi = cap + 1;
    int bracketed = 0, climbs = 0, bisect = 0;
    int b_prev = 0; /* an earlier batch that met, 0 = none yet */
    double t_prev = 0;
    while (hi - lo > 1) {
        const int width = hi - lo;
        const int was_bracketed = bracketed;
        int g, estimate = 1;
        if (bracketed && bisect) {
            g = lo + width / 2;
            estimate = 0;
        } else if (bracketed) {
            g = lo + (int)floor((limit_s - t_lo) / (t_hi - t_lo) * width);
        } else if (climbs >= 3) {
            g = cap;
            estimate = 0;
        } else if (b_prev > 0 && t_lo > t_prev) {
            double step = (limit_s - t_lo) * (lo - b_prev) / (t_lo - t_prev);
            g = step < (double)cap ? lo + (int)floor(step) : cap;
        } else {
            g = lo + (cap - lo) / 4;
            estimate = 0;
        }
        if (!bracketed)
            climbs++;
        if (g < lo + 1)
            g = lo + 1;
        if (g > hi - 1)
            g = hi - 1;
        PROBE(g, &t);
        if (t <= limit_s) {
            b_prev = lo;
            t_prev = t_lo;
            lo = g;
            t_lo = t;
        } else {
            hi = g;
            t_hi = t;
            bracketed = 1;
        }
        if (estimate && hi - lo > 1) {
            int nb = g == lo ? g + 1 : g - 1;
            PROBE(nb, &t);
            if (t <= limit_s) { /* b_prev stays: a wider base for the slope */
                lo = nb;
                t_lo = t;
            } else {
                hi = nb;
                t_hi = t;
                bracketed = 1;
            }
        }
        /* The round that first brackets says nothing about convergence. */
        bisect = was_bracketed && 2 * (hi - lo) > width;
    }
#undef PROBE
    *best = lo;
    return 0;
}

/* One candidate's probes: runs the simulator at a batch and keeps the
 * summary of the largest batch that met the limit (the operating point
 * plan_largest_batch returns) and of the last probe (for the reason when
 * even batch_min misses). */
typedef struct probe_ctx {
    scenario *s;
    int policy;
    unsigned long seed;
    int decode;
    double limit_s;
    volatile sig_atomic_t *stop;
    workload *w; /* recycled by the candidate's probes (run_opts) */
    int best_batch;
    metrics_summary best;
    metrics_summary last;
} probe_ctx;

static int sim_probe(void *ctx, int batch, double *latency_s, err_t *e)
{
    probe_ctx *p = ctx;
    run_opts ro;
    memset(&ro, 0, sizeof ro);
    ro.stop = p->stop;
    ro.workload = &p->w;
    p->s->sequences_per_device = batch;
    metrics_summary m;
    int rc = run_policy(p->s, p->policy, p->seed, NULL, &ro, &m, e);
    if (rc != 0)
        return rc;
    *latency_s = p->decode ? m.tpot_s : m.ttft_s;
    p->last = m;
    if (*latency_s <= p->limit_s && batch > p->best_batch) {
        p->best_batch = batch;
        p->best = m;
    }
    return 0;
}

/* Largest batch in [lo, hi] that fits in HBM, given that lo fits: the
 * memory estimate is a formula, so bisecting it costs nothing. */
static int memory_cap(scenario *s, const scen_policy *p, int lo, int hi)
{
    mem_breakdown mb;
    s->sequences_per_device = hi;
    mem_per_device(s, p, &mb);
    if (mb.fits)
        return hi;
    while (hi - lo > 1) { /* lo fits, hi does not */
        int mid = lo + (hi - lo) / 2;
        s->sequences_per_device = mid;
        mem_per_device(s, p, &mb);
        if (mb.fits)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

/* Whole-instance power and price: the node's figure when the node file
 * gives one, else the device's times the devices; 0 when neither does. */
static void instance_costs(const scenario *s, double *power_w,
                           double *price_per_hour_usd)
{
    const hw_node *nd = &s->node;
    *power_w = nd->node_power_w > 0 ? nd->node_power_w * s->nodes
                                    : nd->device.power_w * s->devices;
    *price_per_hour_usd =
        nd->node_price_per_hour_usd > 0
            ? nd->node_price_per_hour_usd * s->nodes
            : nd->device.price_per_hour_usd * s->devices;
}

/* A failed simulation as a candidate outcome; only an interruption goes
 * back to the caller (into e). */
static int sim_failed(plan_candidate *c, int rc, const err_t *ce, err_t *e)
{
    if (rc == ERR_INTERRUPTED)
        return err_set(e, rc, "%s", ce->msg);
    c->status = rc == ERR_INPUT ? PLAN_UNSUPPORTED : PLAN_ERROR;
    snprintf(c->reason, sizeof c->reason, "%s", ce->msg);
    return 0;
}

static void take_metrics(plan_candidate *c, const metrics_summary *m)
{
    c->tpot_s = m->tpot_s;
    c->ttft_s = m->ttft_s;
    c->step_s = m->step_s;
    c->tokens_per_s = m->tokens_per_s;
    c->tokens_per_s_per_device = m->tokens_per_s_per_device;
    c->mfu = m->mfu;
    c->hbm_needed_bytes = m->hbm_needed_bytes;
    c->hbm_available_bytes = m->hbm_available_bytes;
}

int plan_evaluate(const scenario *base, const planspec *spec,
                  plan_candidate *c, volatile sig_atomic_t *stop, err_t *e)
{
    if (c->status != PLAN_PENDING)
        return 0;
    scenario s;
    plan_candidate_scenario(base, spec, c, &s);
    const scen_policy *pol = &s.policies[c->policy];
    double power_w = 0, price = 0;
    instance_costs(&s, &power_w, &price);

    /* Memory first: no simulation for what cannot be loaded. */
    mem_breakdown mb;
    s.sequences_per_device = spec->batch_min;
    mem_per_device(&s, pol, &mb);
    c->hbm_needed_bytes = mb.needed_bytes;
    c->hbm_available_bytes = mb.available_bytes;
    if (!mb.fits) {
        c->status = PLAN_NO_FIT;
        snprintf(c->reason, sizeof c->reason,
                 "does not fit in memory at batch %d (needs %.1f GB, has "
                 "%.1f GB per device)",
                 spec->batch_min, mb.needed_bytes / 1e9,
                 mb.available_bytes / 1e9);
        return 0;
    }
    int cap = memory_cap(&s, pol, spec->batch_min, spec->batch_max);
    c->batch_memory_max = cap;
    plan_limit limit = cap < spec->batch_max ? PLAN_LIMIT_MEMORY
                                             : PLAN_LIMIT_BATCH_MAX;
    /* The simulator routes at most TRACE_MAX_TOKENS_PER_STEP tokens of one
     * expert-parallel group per step. */
    long per_seq = s.phase == SCEN_DECODE ? 1 : s.seq_len;
    long sim_cap = (long)TRACE_MAX_TOKENS_PER_STEP / (per_seq * s.ep_size);
    if (sim_cap < spec->batch_min) {
        c->status = PLAN_UNSUPPORTED;
        snprintf(c->reason, sizeof c->reason,
                 "batch %d routes %ld tokens per step in one EP group; the "
                 "simulator takes at most %u",
                 spec->batch_min, per_seq * s.ep_size * spec->batch_min,
                 TRACE_MAX_TOKENS_PER_STEP);
        return 0;
    }
    if (cap > sim_cap) {
        cap = (int)sim_cap;
        limit = PLAN_LIMIT_SIMULATOR;
    }

    err_t ce;
    err_clear(&ce);
    int rc;
    if (spec->target == PLANSPEC_TRAIN) {
        /* Throughput grows with the batch, and training has no latency
         * limit: the largest batch that fits is the operating point. */
        metrics_summary m;
        run_opts ro;
        memset(&ro, 0, sizeof ro);
        ro.stop = stop;
        s.sequences_per_device = cap;
        c->probes = 1;
        if ((rc = run_policy(&s, c->policy, spec->seed, NULL, &ro, &m, &ce)) !=
            0)
            return sim_failed(c, rc, &ce, e);
        take_metrics(c, &m);
        c->batch_per_device = cap;
        c->limited_by = limit;
        c->replicas = 1;
        c->devices_total = c->devices;
        c->tokens_per_s_total = m.tokens_per_s;
        c->power_w = power_w;
        c->price_per_hour_usd = price;
        c->train_days = m.tokens_per_s > 0
                            ? spec->train_tokens / m.tokens_per_s / 86400.0
                            : HUGE_VAL;
        if (c->train_days <= spec->train_days_max) {
            c->status = PLAN_FEASIBLE;
        } else {
            c->status = PLAN_TOO_SLOW;
            snprintf(c->reason, sizeof c->reason,
                     "%.3g tokens take %.1f days at %.0f tokens/s (limit "
                     "%.1f days)",
                     spec->train_tokens, c->train_days, m.tokens_per_s,
                     spec->train_days_max);
        }
        return 0;
    }

    probe_ctx pc;
    memset(&pc, 0, sizeof pc);
    pc.s = &s;
    pc.policy = c->policy;
    pc.seed = spec->seed;
    pc.decode = spec->target == PLANSPEC_DECODE;
    pc.limit_s = planspec_latency_limit_s(spec);
    pc.stop = stop;
    int best = 0;
    rc = plan_largest_batch(spec->batch_min, cap, pc.limit_s, sim_probe, &pc,
                            &best, &c->probes, &ce);
    workload_destroy(pc.w);
    if (rc != 0)
        return sim_failed(c, rc, &ce, e);
    const char *what = pc.decode ? "TPOT" : "TTFT";
    if (best == 0) {
        take_metrics(c, &pc.last);
        c->batch_per_device = spec->batch_min;
        c->status = PLAN_LATENCY;
        snprintf(c->reason, sizeof c->reason,
                 "latency limit missed even at batch %d (%s %.2f ms > %.2f "
                 "ms)",
                 spec->batch_min, what,
                 (pc.decode ? pc.last.tpot_s : pc.last.ttft_s) * 1e3,
                 pc.limit_s * 1e3);
        return 0;
    }
    MOESIM_ASSERT(best == pc.best_batch);
    take_metrics(c, &pc.best);
    c->batch_per_device = best;
    c->limited_by = best < cap ? PLAN_LIMIT_LATENCY : limit;
    const double target = planspec_tokens_per_s_target(spec);
    double replicas = pc.best.tokens_per_s > 0
                          ? ceil(target / pc.best.tokens_per_s)
                          : HUGE_VAL;
    if (replicas * c->devices > (double)INT_MAX) {
        c->status = PLAN_TOO_SLOW;
        snprintf(c->reason, sizeof c->reason,
                 "%.0f tokens/s per instance would need %.3g replicas for "
                 "%.0f tokens/s",
                 pc.best.tokens_per_s, replicas, target);
        return 0;
    }
    c->replicas = (int)replicas;
    c->devices_total = c->replicas * c->devices;
    c->tokens_per_s_total = c->replicas * pc.best.tokens_per_s;
    c->power_w = c->replicas * power_w;
    c->price_per_hour_usd = c->replicas * price;
    c->status = PLAN_FEASIBLE;
    return 0;
}
