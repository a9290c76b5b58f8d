#include "sim/plan.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "models/trace.h"
#include "sim/memory.h"
#include "sim/run.h"

const char *const plan_status_names[PLAN_STATUS_COUNT] = {
    "pending", "feasible", "no-fit", "latency",
    "too-slow", "invalid", "unsupported", "error"};
const char *const plan_limit_names[PLAN_LIMIT_COUNT] = {
    "none", "latency", "memory", "batch_max", "simulator"};

/* Candidates a plan may hold: far beyond any plan worth simulating, low
 * enough that a typo in a list cannot ask for gigabytes. */
#define PLAN_MAX_CANDIDATES 100000

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

/* ------------------------------------------------------------------ */
/* Candidates                                                          */
/* ------------------------------------------------------------------ */

/* The scenario a candidate stands for: base with the candidate's node file,
 * cluster size and layout, and the plan's steps and seed. A shallow copy:
 * s->text is cleared so that nobody frees base's text through it. */
static void candidate_scenario(const scenario *base, const planspec *spec,
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
                        candidate_scenario(base, spec, x, &s);
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
    candidate_scenario(base, spec, c, &s);
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

/* ------------------------------------------------------------------ */
/* Evaluating every candidate, in this process or in forked workers    */
/* ------------------------------------------------------------------ */

static int eval_inline(const scenario *base, const planspec *spec,
                       plan_candidate *c, int n, const plan_opts *o,
                       err_t *e)
{
    for (int i = 0; i < n; i++) {
        if (o->stop && *o->stop)
            return err_set(e, ERR_INTERRUPTED, "plan interrupted after %d of "
                                               "%d candidates",
                           i, n);
        int rc = plan_evaluate(base, spec, &c[i], o->stop, e);
        if (rc != 0)
            return err_set(e, rc, "plan interrupted at candidate %d of %d",
                           i + 1, n);
        if (o->progress)
            o->progress(o->progress_ctx, i + 1, n);
    }
    return 0;
}

/* Shared between the planner and its workers: a work counter, a done
 * counter and a stop flag, then the candidate array. Lock-free atomics are
 * address-free, so they work across processes in a MAP_SHARED mapping. */
typedef struct pool_hdr {
    atomic_int next;
    atomic_int done;
    volatile sig_atomic_t stop;
} pool_hdr;
_Static_assert(ATOMIC_INT_LOCK_FREE == 2,
               "atomic_int must be lock-free to be shared between processes");

static _Noreturn void worker_main(const scenario *base, const planspec *spec,
                                  pool_hdr *h, plan_candidate *arr, int n)
{
    for (;;) {
        if (h->stop)
            break;
        int i = atomic_fetch_add(&h->next, 1);
        if (i >= n)
            break;
        err_t ce;
        err_clear(&ce);
        /* An interrupted candidate stays pending; the planner sees stop. */
        (void)plan_evaluate(base, spec, &arr[i], &h->stop, &ce);
        atomic_fetch_add(&h->done, 1);
    }
    /* _exit: no atexit handlers, no flushing of the parent's stdio buffers
     * (they were copied at fork and belong to the parent). */
    _exit(0);
}

/* Workers pick the next candidate from a shared counter (dynamic, so a slow
 * candidate does not hold up a fixed share) and write its outcome into its
 * own slot of the shared array; every outcome is a function of the
 * candidate alone, so the array is the same for any number of workers and
 * any interleaving. The planner polls for progress every 20 ms. */
static int eval_forked(const scenario *base, const planspec *spec,
                       plan_candidate *c, int n, int workers,
                       const plan_opts *o, err_t *e)
{
    size_t hdr = (sizeof(pool_hdr) + 63) & ~(size_t)63;
    size_t bytes = hdr + (size_t)n * sizeof *c;
    void *mem = mmap(NULL, bytes, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (mem == MAP_FAILED)
        return err_set(e, ERR_NOMEM, "cannot map %zu bytes for the plan's "
                                     "workers: %s",
                       bytes, strerror(errno));
    pool_hdr *h = mem;
    plan_candidate *arr = (plan_candidate *)((char *)mem + hdr);
    atomic_init(&h->next, 0);
    atomic_init(&h->done, 0);
    h->stop = 0;
    memcpy(arr, c, (size_t)n * sizeof *c);

    int rc = 0;
    pid_t pids[PLAN_WORKERS_MAX];
    int alive[PLAN_WORKERS_MAX];
    int started = 0;
    for (int w = 0; w < workers; w++) {
        pid_t pid = fork();
        if (pid < 0) {
            rc = err_set(e, ERR_SIM, "cannot start plan worker %d: %s", w,
                         strerror(errno));
            h->stop = 1;
            break;
        }
        if (pid == 0)
            worker_main(base, spec, h, arr, n);
        pids[started] = pid;
        alive[started++] = 1;
    }
    int n_alive = started, last_done = -1;
    while (n_alive > 0) {
        if (o->stop && *o->stop)
            h->stop = 1;
        for (int w = 0; w < started; w++) {
            if (!alive[w])
                continue;
            int st = 0;
            pid_t r = waitpid(pids[w], &st, WNOHANG);
            if (r == 0 || (r < 0 && errno == EINTR))
                continue;
            alive[w] = 0;
            n_alive--;
            if (r < 0 || !WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                if (rc == 0)
                    rc = err_set(e, ERR_SIM,
                                 "plan worker %d (pid %ld) ended abnormally "
                                 "(%s %d)",
                                 w, (long)pids[w],
                                 r > 0 && WIFSIGNALED(st) ? "signal"
                                                          : "status",
                                 r > 0 && WIFSIGNALED(st) ? WTERMSIG(st)
                                                          : WEXITSTATUS(st));
                h->stop = 1; /* the others finish their candidate */
            }
        }
        int done = atomic_load(&h->done);
        if (done != last_done && o->progress)
            o->progress(o->progress_ctx, done < n ? done : n, n);
        last_done = done;
        if (n_alive > 0) {
            struct timespec ts = {0, 20 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
    }
    if (rc == 0 && h->stop)
        rc = err_set(e, ERR_INTERRUPTED, "plan interrupted after %d of %d "
                                         "candidates",
                     atomic_load(&h->done), n);
    memcpy(c, arr, (size_t)n * sizeof *c);
    munmap(mem, bytes);
    return rc;
}

/* ------------------------------------------------------------------ */
/* The report                                                          */
/* ------------------------------------------------------------------ */

static const char *lat_name(const planspec *spec)
{
    return spec->target == PLANSPEC_DECODE    ? "TPOT"
           : spec->target == PLANSPEC_PREFILL ? "TTFT"
                                              : "days";
}

/* "12.3" or "-" for an unknown figure (0). */
static const char *fmt_known(char *buf, size_t n, double v, double scale,
                             int decimals)
{
    if (!(v > 0))
        snprintf(buf, n, "-");
    else
        snprintf(buf, n, "%.*f", decimals, v * scale);
    return buf;
}

static void print_target(FILE *out, const scenario *base,
                         const planspec *spec)
{
    switch (spec->target) {
    case PLANSPEC_DECODE:
        fprintf(out,
                "plan: %s decode, context %d: %.0f output tokens/s at TPOT "
                "<= %.2f ms\n",
                base->model.name, base->context_len,
                spec->output_tokens_per_s, spec->tpot_s_max * 1e3);
        break;
    case PLANSPEC_PREFILL:
        fprintf(out,
                "plan: %s prefill, %d-token prompts: %.0f input tokens/s at "
                "TTFT <= %.2f ms\n",
                base->model.name, base->seq_len, spec->input_tokens_per_s,
                spec->ttft_s_max * 1e3);
        break;
    default:
        fprintf(out,
                "plan: %s training, %d-token sequences: %.4g tokens within "
                "%.2f days\n",
                base->model.name, base->seq_len, spec->train_tokens,
                spec->train_days_max);
        break;
    }
}

static int name_width(const planspec *spec)
{
    int w = 4;
    for (int f = 0; f < spec->n_node_files; f++) {
        int l = (int)strlen(spec->node_files[f].name);
        if (l > w)
            w = l;
    }
    return w;
}

static int policy_width(const scenario *base)
{
    int w = 6;
    for (int i = 0; i < base->n_policies; i++) {
        int l = (int)strlen(base->policies[i].name);
        if (l > w)
            w = l;
    }
    return w;
}

static void print_ranked(FILE *out, const scenario *base,
                         const planspec *spec, const plan_candidate *c,
                         const int *order, int m, int rows)
{
    int nw = name_width(spec), pw = policy_width(base);
    int train = spec->target == PLANSPEC_TRAIN;
    if (train)
        fprintf(out,
                "%4s  %-*s %5s  %-*s %4s %4s %6s %9s %12s %6s %8s %7s "
                "%8s %8s %10s %-9s %s\n",
                "rank", nw, "node", "nodes", pw, "policy", "EP", "DP",
                "batch", "step s", "tokens/s", "MFU %", "days", "devices",
                "power kW", "USD/h", "HBM GB/dev", "bound", "P");
    else
        fprintf(out,
                "%4s  %-*s %5s  %-*s %4s %4s %6s %9s %12s %8s %7s %8s %8s "
                "%10s %-9s %s\n",
                "rank", nw, "node", "nodes", pw, "policy", "EP", "DP",
                "batch",
                spec->target == PLANSPEC_DECODE ? "TPOT ms" : "TTFT ms",
                "tok/s/inst", "replicas", "devices", "power kW", "USD/h",
                "HBM GB/dev", "bound", "P");
    for (int r = 0; r < m && (rows == 0 || r < rows); r++) {
        const plan_candidate *x = &c[order[r]];
        char pw_buf[32], pr_buf[32];
        fmt_known(pw_buf, sizeof pw_buf, x->power_w, 1e-3, 1);
        fmt_known(pr_buf, sizeof pr_buf, x->price_per_hour_usd, 1, 2);
        if (train)
            fprintf(out,
                    "%4d  %-*s %5d  %-*s %4d %4d %6d %9.3f %12.0f %6.1f "
                    "%8.2f %7d %8s %8s %10.1f %-9s %s\n",
                    x->rank, nw, spec->node_files[x->node_file].name,
                    x->nodes, pw, base->policies[x->policy].name, x->ep_size,
                    x->attn_dp_size, x->batch_per_device, x->step_s,
                    x->tokens_per_s, x->mfu * 100, x->train_days,
                    x->devices_total, pw_buf, pr_buf,
                    x->hbm_needed_bytes / 1e9, plan_limit_names[x->limited_by],
                    x->pareto ? "*" : "");
        else
            fprintf(out,
                    "%4d  %-*s %5d  %-*s %4d %4d %6d %9.2f %12.0f %8d %7d "
                    "%8s %8s %10.1f %-9s %s\n",
                    x->rank, nw, spec->node_files[x->node_file].name,
                    x->nodes, pw, base->policies[x->policy].name, x->ep_size,
                    x->attn_dp_size, x->batch_per_device,
                    plan_latency(spec, x) * 1e3, x->tokens_per_s, x->replicas,
                    x->devices_total, pw_buf, pr_buf,
                    x->hbm_needed_bytes / 1e9, plan_limit_names[x->limited_by],
                    x->pareto ? "*" : "");
    }
    if (rows > 0 && m > rows)
        fprintf(out, "  ... %d more feasible candidates\n", m - rows);
}

static void print_infeasible(FILE *out, const scenario *base,
                             const planspec *spec, const plan_candidate *c,
                             int n, int rows)
{
    int nw = name_width(spec), pw = policy_width(base);
    int shown = 0, hidden = 0, invalid = 0, first_invalid = -1;
    for (int i = 0; i < n; i++) {
        const plan_candidate *x = &c[i];
        if (x->status == PLAN_FEASIBLE)
            continue;
        if (x->status == PLAN_INVALID) {
            if (first_invalid < 0)
                first_invalid = i;
            invalid++;
            continue;
        }
        if (rows > 0 && shown == rows) {
            hidden++;
            continue;
        }
        if (shown++ == 0)
            fprintf(out, "\ninfeasible:\n%-*s %5s  %-*s %4s %4s  %-11s %s\n",
                    nw, "node", "nodes", pw, "policy", "EP", "DP", "status",
                    "why");
        fprintf(out, "%-*s %5d  %-*s %4d %4d  %-11s %s\n", nw,
                spec->node_files[x->node_file].name, x->nodes, pw,
                base->policies[x->policy].name, x->ep_size, x->attn_dp_size,
                plan_status_names[x->status], x->reason);
    }
    if (hidden > 0)
        fprintf(out, "  ... %d more infeasible candidates\n", hidden);
    if (invalid > 0)
        fprintf(out,
                "\n%d layouts break a scenario rule and were not simulated "
                "(e.g. %s x %d, %s, EP%d DP%d: %s)\n",
                invalid, spec->node_files[c[first_invalid].node_file].name,
                c[first_invalid].nodes,
                base->policies[c[first_invalid].policy].name,
                c[first_invalid].ep_size, c[first_invalid].attn_dp_size,
                c[first_invalid].reason);
}

static void describe(FILE *out, const scenario *base, const planspec *spec,
                     const plan_candidate *x)
{
    const hw_node *nd = &spec->node_files[x->node_file];
    fprintf(out, "%s x %d node%s, %s, EP%d attention-DP%d", nd->name,
            x->nodes, x->nodes == 1 ? "" : "s",
            base->policies[x->policy].name, x->ep_size, x->attn_dp_size);
}

static void print_recommendation(FILE *out, const scenario *base,
                                 const planspec *spec,
                                 const plan_candidate *c, const int *order,
                                 int m)
{
    if (m == 0) {
        fprintf(out, "\nrecommendation: none; no candidate meets the "
                     "target (see why above)\n");
        return;
    }
    const plan_candidate *x = &c[order[0]];
    const hw_node *nd = &spec->node_files[x->node_file];
    char pw_buf[32];
    fprintf(out, "\nrecommendation: ");
    describe(out, base, spec, x);
    fprintf(out, ", %d sequences per device: %d x %s", x->batch_per_device,
            x->devices_total, nd->device.name);
    if (spec->target != PLANSPEC_TRAIN)
        fprintf(out, " (%d replica%s of %d)", x->replicas,
                x->replicas == 1 ? "" : "s", x->devices);
    if (x->power_w > 0)
        fprintf(out, ", %s kW",
                fmt_known(pw_buf, sizeof pw_buf, x->power_w, 1e-3, 1));
    if (x->price_per_hour_usd > 0)
        fprintf(out, ", %.2f USD/h", x->price_per_hour_usd);
    if (spec->target == PLANSPEC_TRAIN) {
        fprintf(out,
                "; %.4g tokens in %.2f days (limit %.2f days, margin %.0f%%) "
                "at MFU %.1f%%",
                spec->train_tokens, x->train_days, spec->train_days_max,
                100 * (spec->train_days_max - x->train_days) /
                    spec->train_days_max,
                x->mfu * 100);
    } else {
        double target = planspec_tokens_per_s_target(spec);
        double limit = planspec_latency_limit_s(spec);
        double lat = plan_latency(spec, x);
        fprintf(out,
                "; meets %.0f tokens/s with %.0f (margin %.0f%%) at %s "
                "%.2f ms (limit %.2f ms, margin %.0f%%)",
                target, x->tokens_per_s_total,
                100 * (x->tokens_per_s_total - target) / target,
                lat_name(spec), lat * 1e3, limit * 1e3,
                100 * (limit - lat) / limit);
    }
    fprintf(out, "\n");
    if (m > 1) {
        const plan_candidate *y = &c[order[1]];
        double cx = plan_cost(spec, x), cy = plan_cost(spec, y);
        fprintf(out, "next best: ");
        describe(out, base, spec, y);
        fprintf(out, ": %d devices", y->devices_total);
        if (y->power_w > 0)
            fprintf(out, ", %s kW",
                    fmt_known(pw_buf, sizeof pw_buf, y->power_w, 1e-3, 1));
        if (cx > 0 && cy > 0)
            fprintf(out, " (%.2fx the %s)", cy / cx,
                    planspec_rank_names[spec->rank_by]);
        if (spec->target == PLANSPEC_TRAIN)
            fprintf(out, ", %.2f days\n", y->train_days);
        else
            fprintf(out, ", %s %.2f ms\n", lat_name(spec),
                    plan_latency(spec, y) * 1e3);
    }
}

static void print_report(FILE *out, const scenario *base,
                         const planspec *spec, const plan_result *r,
                         int rows)
{
    int *order = malloc((size_t)(r->n_feasible > 0 ? r->n_feasible : 1) *
                        sizeof *order);
    MOESIM_ASSERT(order != NULL);
    for (int i = 0; i < r->n; i++)
        if (r->cands[i].rank > 0)
            order[r->cands[i].rank - 1] = i;
    print_target(out, base, spec);
    fprintf(out,
            "candidates: %d simulated (%d invalid layouts), %d feasible; "
            "%d worker%s, %.1f s\n",
            r->n_evaluated, r->n - r->n_evaluated, r->n_feasible, r->workers,
            r->workers == 1 ? "" : "s", r->wall_s);
    fprintf(out, "ranked by %s", planspec_rank_names[spec->rank_by]);
    for (int k = 0; k < PLANSPEC_RANK_COUNT; k++)
        if (k != (int)spec->rank_by)
            fprintf(out, ", then %s", planspec_rank_names[k]);
    fprintf(out,
            ", then %s; P: * = on the Pareto front of %s against %s\n\n",
            lat_name(spec), planspec_rank_names[spec->rank_by],
            lat_name(spec));
    if (r->n_feasible > 0)
        print_ranked(out, base, spec, r->cands, order, r->n_feasible, rows);
    else
        fprintf(out, "no feasible candidate\n");
    print_infeasible(out, base, spec, r->cands, r->n, rows);
    print_recommendation(out, base, spec, r->cands, order, r->n_feasible);
    free(order);
}

/* ------------------------------------------------------------------ */
/* SQLite                                                              */
/* ------------------------------------------------------------------ */

static const char plan_schema[] =
    "CREATE TABLE IF NOT EXISTS plan_meta (\n"
    "    plan_id              INTEGER PRIMARY KEY,\n"
    "    scenario_name        TEXT NOT NULL,\n"
    "    scenario_path        TEXT NOT NULL,\n"
    "    model_name           TEXT NOT NULL,\n"
    "    target               TEXT NOT NULL\n"
    "                         CHECK (target IN ('train', 'prefill', "
    "'decode')),\n"
    "    output_tokens_per_s  REAL,\n"
    "    tpot_s_max           REAL,\n"
    "    input_tokens_per_s   REAL,\n"
    "    ttft_s_max           REAL,\n"
    "    train_tokens         REAL,\n"
    "    train_days_max       REAL,\n"
    "    context_len          INTEGER,\n"
    "    seq_len              INTEGER,\n"
    "    batch_min            INTEGER NOT NULL,\n"
    "    batch_max            INTEGER NOT NULL,\n"
    "    plan_steps           INTEGER NOT NULL,\n"
    "    seed                 INTEGER NOT NULL,\n"
    "    rank_by              TEXT NOT NULL,\n"
    "    candidates           INTEGER NOT NULL,\n"
    "    evaluated            INTEGER NOT NULL,\n"
    "    feasible             INTEGER NOT NULL,\n"
    "    recommended          INTEGER,\n"
    "    workers              INTEGER NOT NULL,\n"
    "    wall_s               REAL,\n"
    "    created_at           TEXT\n"
    ");\n"
    "CREATE TABLE IF NOT EXISTS plan_candidate (\n"
    "    plan_id                  INTEGER NOT NULL\n"
    "                             REFERENCES plan_meta (plan_id) ON DELETE "
    "CASCADE,\n"
    "    candidate                INTEGER NOT NULL,\n"
    "    node_file                TEXT NOT NULL,\n"
    "    node_name                TEXT NOT NULL,\n"
    "    device_name              TEXT NOT NULL,\n"
    "    nodes                    INTEGER NOT NULL,\n"
    "    devices                  INTEGER NOT NULL,\n"
    "    policy                   TEXT NOT NULL,\n"
    "    router                   TEXT NOT NULL,\n"
    "    placement                TEXT NOT NULL,\n"
    "    ep_size                  INTEGER NOT NULL,\n"
    "    attn_dp_size             INTEGER NOT NULL,\n"
    "    status                   TEXT NOT NULL CHECK (status IN\n"
    "                             ('feasible', 'no-fit', 'latency', "
    "'too-slow',\n"
    "                              'invalid', 'unsupported', 'error')),\n"
    "    feasible                 INTEGER NOT NULL CHECK (feasible IN (0, "
    "1)),\n"
    "    reason                   TEXT,\n"
    "    batch_per_device         INTEGER,\n"
    "    batch_memory_max         INTEGER,\n"
    "    limited_by               TEXT,\n"
    "    replicas                 INTEGER,\n"
    "    devices_total            INTEGER,\n"
    "    tpot_s                   REAL,\n"
    "    ttft_s                   REAL,\n"
    "    step_s                   REAL,\n"
    "    tokens_per_s             REAL,\n"
    "    tokens_per_s_per_device  REAL,\n"
    "    tokens_per_s_total       REAL,\n"
    "    mfu                      REAL,\n"
    "    train_days               REAL,\n"
    "    power_w                  REAL,\n"
    "    price_per_hour_usd       REAL,\n"
    "    hbm_needed_bytes         REAL,\n"
    "    hbm_available_bytes      REAL,\n"
    "    probes                   INTEGER NOT NULL,\n"
    "    pareto                   INTEGER NOT NULL CHECK (pareto IN (0, 1)),\n"
    "    rank                     INTEGER,\n"
    "    PRIMARY KEY (plan_id, candidate)\n"
    ") WITHOUT ROWID;\n";

static int db_fail(sqlite3 *db, const char *path, const char *what,
                   err_t *e)
{
    return err_set(e, ERR_IO, "%s: %s: %s", path, what,
                   db ? sqlite3_errmsg(db) : "cannot allocate a connection");
}

/* Binds v, or NULL when known is 0. */
static int bind_real(sqlite3_stmt *st, int i, double v, int known)
{
    return known && isfinite(v) ? sqlite3_bind_double(st, i, v)
                                : sqlite3_bind_null(st, i);
}

static int bind_int(sqlite3_stmt *st, int i, long v, int known)
{
    return known ? sqlite3_bind_int64(st, i, v) : sqlite3_bind_null(st, i);
}

static int bind_text(sqlite3_stmt *st, int i, const char *v)
{
    return v ? sqlite3_bind_text(st, i, v, -1, SQLITE_TRANSIENT)
             : sqlite3_bind_null(st, i);
}

static int insert_meta(sqlite3 *db, const scenario *base,
                       const planspec *spec, const plan_result *r,
                       const plan_opts *o, long long *plan_id)
{
    static const char sql[] =
        "INSERT INTO plan_meta (scenario_name, scenario_path, model_name, "
        "target, output_tokens_per_s, tpot_s_max, input_tokens_per_s, "
        "ttft_s_max, train_tokens, train_days_max, context_len, seq_len, "
        "batch_min, batch_max, plan_steps, seed, rank_by, candidates, "
        "evaluated, feasible, recommended, workers, wall_s, created_at) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int dec = spec->target == PLANSPEC_DECODE;
    int pre = spec->target == PLANSPEC_PREFILL;
    int tr = spec->target == PLANSPEC_TRAIN;
    int i = 1;
    bind_text(st, i++, base->name);
    bind_text(st, i++, base->path);
    bind_text(st, i++, base->model.name);
    bind_text(st, i++, planspec_target_names[spec->target]);
    bind_real(st, i++, spec->output_tokens_per_s, dec);
    bind_real(st, i++, spec->tpot_s_max, dec);
    bind_real(st, i++, spec->input_tokens_per_s, pre);
    bind_real(st, i++, spec->ttft_s_max, pre);
    bind_real(st, i++, spec->train_tokens, tr);
    bind_real(st, i++, spec->train_days_max, tr);
    bind_int(st, i++, base->context_len, dec);
    bind_int(st, i++, base->seq_len, !dec);
    bind_int(st, i++, spec->batch_min, 1);
    bind_int(st, i++, spec->batch_max, 1);
    bind_int(st, i++, spec->plan_steps, 1);
    bind_int(st, i++, (long)spec->seed, 1);
    bind_text(st, i++, planspec_rank_names[spec->rank_by]);
    bind_int(st, i++, r->n, 1);
    bind_int(st, i++, r->n_evaluated, 1);
    bind_int(st, i++, r->n_feasible, 1);
    bind_int(st, i++, r->best, r->best >= 0);
    bind_int(st, i++, r->workers, 1);
    bind_real(st, i++, o->reproducible ? 0.0 : r->wall_s, 1);
    bind_text(st, i++, o->created_at);
    int rc = sqlite3_step(st) == SQLITE_DONE ? 0 : -1;
    sqlite3_finalize(st);
    *plan_id = sqlite3_last_insert_rowid(db);
    return rc;
}

static int insert_candidates(sqlite3 *db, const scenario *base,
                             const planspec *spec, const plan_result *r,
                             long long plan_id)
{
    static const char sql[] =
        "INSERT INTO plan_candidate (plan_id, candidate, node_file, "
        "node_name, device_name, nodes, devices, policy, router, placement, "
        "ep_size, attn_dp_size, status, feasible, reason, batch_per_device, "
        "batch_memory_max, limited_by, replicas, devices_total, tpot_s, "
        "ttft_s, step_s, tokens_per_s, tokens_per_s_per_device, "
        "tokens_per_s_total, mfu, train_days, power_w, price_per_hour_usd, "
        "hbm_needed_bytes, hbm_available_bytes, probes, pareto, rank) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,"
        "?,?,?,?,?)";
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
        return -1;
    int rc = 0;
    for (int k = 0; k < r->n && rc == 0; k++) {
        const plan_candidate *x = &r->cands[k];
        const scen_policy *p = &base->policies[x->policy];
        const hw_node *nd = &spec->node_files[x->node_file];
        /* What was measured: candidates whose simulation ran have
         * figures, the infeasible ones too (at the batch that decided). */
        int ran = x->status == PLAN_FEASIBLE || x->status == PLAN_LATENCY ||
                  x->status == PLAN_TOO_SLOW;
        int ok = x->status == PLAN_FEASIBLE;
        int sized = ok || x->status == PLAN_TOO_SLOW;
        int i = 1;
        bind_int(st, i++, plan_id, 1);
        bind_int(st, i++, x->index, 1);
        bind_text(st, i++, spec->node_refs[x->node_file]);
        bind_text(st, i++, nd->name);
        bind_text(st, i++, nd->device.name);
        bind_int(st, i++, x->nodes, 1);
        bind_int(st, i++, x->devices, 1);
        bind_text(st, i++, p->name);
        bind_text(st, i++, scen_router_names[p->router]);
        bind_text(st, i++, scen_placement_names[p->placement]);
        bind_int(st, i++, x->ep_size, 1);
        bind_int(st, i++, x->attn_dp_size, 1);
        bind_text(st, i++, plan_status_names[x->status]);
        bind_int(st, i++, ok, 1);
        bind_text(st, i++, ok ? NULL : x->reason);
        bind_int(st, i++, x->batch_per_device, x->batch_per_device > 0);
        bind_int(st, i++, x->batch_memory_max, x->batch_memory_max > 0);
        bind_text(st, i++, x->limited_by != PLAN_LIMIT_NONE
                               ? plan_limit_names[x->limited_by]
                               : NULL);
        bind_int(st, i++, x->replicas, x->replicas > 0);
        bind_int(st, i++, x->devices_total, x->devices_total > 0);
        bind_real(st, i++, x->tpot_s, ran && spec->target == PLANSPEC_DECODE);
        bind_real(st, i++, x->ttft_s,
                  ran && spec->target == PLANSPEC_PREFILL);
        bind_real(st, i++, x->step_s, ran);
        bind_real(st, i++, x->tokens_per_s, ran);
        bind_real(st, i++, x->tokens_per_s_per_device, ran);
        bind_real(st, i++, x->tokens_per_s_total, sized);
        bind_real(st, i++, x->mfu, ran);
        bind_real(st, i++, x->train_days,
                  ran && spec->target == PLANSPEC_TRAIN);
        bind_real(st, i++, x->power_w, sized && x->power_w > 0);
        bind_real(st, i++, x->price_per_hour_usd,
                  sized && x->price_per_hour_usd > 0);
        bind_real(st, i++, x->hbm_needed_bytes, x->hbm_available_bytes > 0);
        bind_real(st, i++, x->hbm_available_bytes,
                  x->hbm_available_bytes > 0);
        bind_int(st, i++, x->probes, 1);
        bind_int(st, i++, x->pareto, 1);
        bind_int(st, i++, x->rank, x->rank > 0);
        if (sqlite3_step(st) != SQLITE_DONE)
            rc = -1;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* Creates the plan tables if missing and writes one plan in a single
 * transaction: a reader sees the whole plan or none of it. */
static int write_db(const char *path, const scenario *base,
                    const planspec *spec, const plan_result *r,
                    const plan_opts *o, err_t *e)
{
    sqlite3 *db = NULL;
    int rc = 0;
    long long plan_id = 0;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE,
                        NULL) != SQLITE_OK) {
        rc = db_fail(db, path, "cannot open", e);
        goto fail;
    }
    sqlite3_busy_timeout(db, 10000); /* a concurrent moesim run may write */
    if (sqlite3_exec(db, "PRAGMA foreign_keys = ON; BEGIN IMMEDIATE", NULL,
                     NULL, NULL) != SQLITE_OK) {
        rc = db_fail(db, path, "cannot start a transaction", e);
        goto fail;
    }
    if (sqlite3_exec(db, plan_schema, NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_fail(db, path, "cannot create the plan tables", e);
        goto rollback;
    }
    if (insert_meta(db, base, spec, r, o, &plan_id) != 0 ||
        insert_candidates(db, base, spec, r, plan_id) != 0) {
        rc = db_fail(db, path, "cannot insert the plan", e);
        goto rollback;
    }
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = db_fail(db, path, "cannot commit the plan", e);
        goto rollback;
    }
    goto fail; /* done: only the close remains */
rollback:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
fail:
    sqlite3_close(db); /* NULL is a no-op */
    return rc;
}

/* ------------------------------------------------------------------ */
/* The whole plan                                                      */
/* ------------------------------------------------------------------ */

static int default_workers(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1)
        n = 1;
    return n > PLAN_WORKERS_MAX ? PLAN_WORKERS_MAX : (int)n;
}

int plan_run(const scenario *base, const planspec *spec, const char *db_path,
             FILE *out, const plan_opts *opts, plan_result *res, err_t *e)
{
    plan_opts o;
    memset(&o, 0, sizeof o);
    if (opts)
        o = *opts;
    plan_result r;
    memset(&r, 0, sizeof r);
    r.best = -1;
    if (res)
        memset(res, 0, sizeof *res);
    const double t0 = now_s();
    int rc = plan_enumerate(base, spec, &r.cands, &r.n, e);
    if (rc != 0)
        goto fail;
    for (int i = 0; i < r.n; i++)
        r.n_evaluated += r.cands[i].status == PLAN_PENDING;
    r.workers = o.workers > 0 ? o.workers : default_workers();
    if (r.workers > PLAN_WORKERS_MAX)
        r.workers = PLAN_WORKERS_MAX;
    if (r.workers > r.n_evaluated)
        r.workers = r.n_evaluated > 0 ? r.n_evaluated : 1;
    if (out)
        fflush(out); /* nothing buffered may be copied into the workers */
    rc = r.workers == 1
             ? eval_inline(base, spec, r.cands, r.n, &o, e)
             : eval_forked(base, spec, r.cands, r.n, r.workers, &o, e);
    if (rc != 0)
        goto fail;
    plan_rank(spec, r.cands, r.n);
    for (int i = 0; i < r.n; i++) {
        if (r.cands[i].status == PLAN_FEASIBLE)
            r.n_feasible++;
        if (r.cands[i].rank == 1)
            r.best = i;
    }
    r.wall_s = now_s() - t0;
    if (out)
        print_report(out, base, spec, &r, o.table_rows);
    if (db_path && (rc = write_db(db_path, base, spec, &r, &o, e)) != 0)
        goto fail;
    if (res)
        *res = r;
    else
        free(r.cands);
    return 0;
fail:
    free(r.cands);
    return rc;
}

void plan_result_free(plan_result *r)
{
    if (!r)
        return;
    free(r->cands);
    r->cands = NULL;
    r->n = 0;
}
