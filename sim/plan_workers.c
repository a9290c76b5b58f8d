/*
 * plan_workers: evaluating every candidate of a plan, in this process
 * (plan_eval_inline) or in forked worker processes that share the
 * candidate array (plan_eval_forked).
 */
#include "sim/plan.h"

#include <errno.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "sim/plan_impl.h"

/* ------------------------------------------------------------------ */
/* Evaluating every candidate, in this process or in forked workers    */
/* ------------------------------------------------------------------ */

int plan_eval_inline(const scenario *base, const planspec *spec,
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
int plan_eval_forked(const scenario *base, const planspec *spec,
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
