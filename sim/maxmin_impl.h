/*
 * maxmin_impl: what the files of the max-min solver share, not part of its
 * interface (sim/maxmin.h): the solver's state, the indexed heap both files
 * use, and the steps of a refill that the run drives.
 *
 *   maxmin.c      the solver: workspace, problem checks and set-up (pruned
 *                 paths, link lists), progressive filling in full and the
 *                 incremental refill; maxmin_rates
 *   maxmin_run.c  flows run to completion: the finish heap, batching of
 *                 finishes, the choice between incremental and full
 *                 refills; maxmin_run, maxmin_set_window
 *
 * Comments on the functions are at their definitions.
 */
#ifndef MOESIM_SIM_MAXMIN_IMPL_H
#define MOESIM_SIM_MAXMIN_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "sim/maxmin.h"

#define MM_NONE UINT32_MAX

typedef struct mm_event {
    double level_bps;
    uint32_t flow;
    uint32_t unused;
} mm_event;

/* An indexed binary min-heap of ids keyed by key[id]; pos[id] is the id's
 * index or MM_NONE. Used for the links (by fill level) and the flows (by
 * finish time). */
typedef struct iheap {
    uint32_t *ids;
    uint32_t *pos;
    const double *key;
    uint32_t n;
} iheap;

struct maxmin {
    uint32_t nl, nf;
    size_t cap_l, cap_f, cap_e;

    /* links */
    double *cap_bps;  /* capacity */
    double *level;    /* fill level of the last solve, INFINITY if none */
    double *nlevel;   /* fill level in the refill under way */
    double *lres;     /* dirty link: residual at level llam */
    double *llam;
    double *lkey;     /* predicted fill level (heap key) */
    uint32_t *lcnt;   /* dirty link: unfrozen flows */
    uint32_t *lf_start, *lf_len, *lf_flow; /* CSR: flows of each link */
    uint32_t *ldirty; /* == epoch when dirty in this refill */
    uint32_t *lmark;  /* scratch stamps for pruning and path checks */
    uint32_t *dirty_list;
    uint8_t *lsat;    /* dirty link filled in this refill */
    uint8_t *pruned;
    uint8_t *lfirst, *llast; /* is some flow's first / last link */
    uint32_t *lheap_ids, *lheap_pos;
    iheap lheap;
    uint32_t n_dirty;

    /* flows */
    uint32_t *fp_start, *fp_link; /* pruned paths */
    double *rate, *nrate, *rem, *tlast, *ckey;
    uint32_t *fepoch; /* state below is valid when == epoch */
    uint8_t *fstate;
    uint8_t *active;
    uint32_t *touched;
    uint32_t n_touched;
    uint32_t *cheap_ids, *cheap_pos;
    iheap cheap;
    uint32_t *batch;
    uint32_t *changed; /* flows whose rate changed in the last refill */
    double *changed_key; /* and their new finish times */
    uint32_t n_changed;

    mm_event *ev; /* event heap, at most one event per flow per refill */
    uint32_t ev_n;

    uint32_t epoch;
    double now_s;
    double window_rel;   /* maxmin_set_window */
    uint64_t active_edges; /* path entries of unfinished flows */
    uint64_t last_visits;  /* flow entries read by the last refill */
    maxmin_stats_t st;
};

/* ---- indexed heap ------------------------------------------------------ */

static inline void ih_place(iheap *h, uint32_t i, uint32_t id)
{
    h->ids[i] = id;
    h->pos[id] = i;
}

static inline void ih_up(iheap *h, uint32_t i, uint32_t id)
{
    double k = h->key[id];
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        uint32_t pid = h->ids[p];
        if (!(k < h->key[pid]))
            break;
        ih_place(h, i, pid);
        i = p;
    }
    ih_place(h, i, id);
}

static inline void ih_down(iheap *h, uint32_t i, uint32_t id)
{
    double k = h->key[id];
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= h->n)
            break;
        if (c + 1 < h->n && h->key[h->ids[c + 1]] < h->key[h->ids[c]])
            c++;
        uint32_t cid = h->ids[c];
        if (!(h->key[cid] < k))
            break;
        ih_place(h, i, cid);
        i = c;
    }
    ih_place(h, i, id);
}

/* Inserts id or moves it after its key changed. */
static inline void ih_set(iheap *h, uint32_t id)
{
    uint32_t i = h->pos[id];
    if (i == MM_NONE) {
        ih_up(h, h->n++, id);
        return;
    }
    if (i > 0 && h->key[id] < h->key[h->ids[(i - 1) / 2]])
        ih_up(h, i, id);
    else
        ih_down(h, i, id);
}

static inline void ih_remove(iheap *h, uint32_t id)
{
    uint32_t i = h->pos[id];
    if (i == MM_NONE)
        return;
    h->pos[id] = MM_NONE;
    uint32_t last = h->ids[--h->n];
    if (i == h->n)
        return;
    h->pos[last] = i;
    h->ids[i] = last;
    ih_set(h, last);
}

/* ---- the refill (maxmin.c) ---------------------------------------------- */

static inline bool is_dirty(const maxmin_t *mm, uint32_t l)
{
    return mm->ldirty[l] == mm->epoch;
}

int maxmin_setup(maxmin_t *mm, const maxmin_problem_t *p, bool need_bytes,
                 err_t *err);
void maxmin_solve_full(maxmin_t *mm);
void maxmin_next_epoch(maxmin_t *mm);
void maxmin_make_dirty(maxmin_t *mm, uint32_t l, double lam);
void maxmin_dirty_everything(maxmin_t *mm);
void maxmin_refill_finish(maxmin_t *mm,
                          void (*on_rate)(maxmin_t *, uint32_t));

#endif
