/*
 * plan: the whole plan (sim/plan.h): enumerate the candidates, evaluate
 * them (in this process or in forked workers), rank them, print the report
 * and store it; and the names of the statuses and limits. Each step has its
 * own file (sim/plan_impl.h lists them).
 */
#include "sim/plan.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "sim/plan_impl.h"

const char *const plan_status_names[PLAN_STATUS_COUNT] = {
    "pending", "feasible", "no-fit", "latency",
    "too-slow", "invalid", "unsupported", "error"};
const char *const plan_limit_names[PLAN_LIMIT_COUNT] = {
    "none", "latency", "memory", "batch_max", "simulator"};

static double now_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
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
             ? plan_eval_inline(base, spec, r.cands, r.n, &o, e)
             : plan_eval_forked(base, spec, r.cands, r.n, r.workers, &o, e);
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
        plan_print_report(out, base, spec, &r, o.table_rows);
    if (db_path && (rc = plan_write_db(db_path, base, spec, &r, &o, e)) != 0)
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
