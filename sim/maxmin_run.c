/*
 * maxmin_run: flows run to completion, rates max-min fair at every instant
 * and recomputed as flows end. The solver (full and incremental refills)
 * is in maxmin.c, whose top comment says what a run costs; what the two
 * files share is in maxmin_impl.h.
 *
 * Batching (maxmin_set_window), the third saving listed in maxmin.c.
 * Finishes within a window are one instant and share one solve. Exact
 * mode batches only finishes within a relative MM_BATCH_REL (the thousands
 * of flows of a uniform exchange that end together cost one solve), and a
 * skewed exchange stays O(F * E). A window w (a fraction of the busiest
 * link's busy time) bounds the solves to about 1/w: O(E / w) for the run,
 * at an error of about w on its makespan. sim/net uses w = 1e-3 unless
 * told otherwise.
 *
 * Flow progress is lazy: a flow keeps (remaining bytes, time of its last
 * rate change), and a heap of predicted finish times is touched only for
 * flows whose rate changed (rebuilt in O(F) when most did).
 */
#include "sim/maxmin_impl.h"

#include <math.h>
#include <string.h>

#define MM_BATCH_REL 1e-9  /* finishes within this (relative) are one batch */

void maxmin_set_window(maxmin_t *mm, double window_rel)
{
    mm->window_rel = window_rel > 0.0 && isfinite(window_rel) ? window_rel : 0.0;
}

/* A flow's rate changes at now_s: bank its progress, re-predict its end.
 * The new finish time waits in changed_key; fix_finish_heap moves it into
 * the heap (keys must change one sift at a time, or not until a rebuild). */
static void on_rate_change(maxmin_t *mm, uint32_t f)
{
    mm->rem[f] -= mm->rate[f] * (mm->now_s - mm->tlast[f]);
    if (mm->rem[f] < 0.0)
        mm->rem[f] = 0.0;
    mm->tlast[f] = mm->now_s;
    mm->changed_key[mm->n_changed] = mm->now_s + mm->rem[f] / mm->nrate[f];
    mm->changed[mm->n_changed++] = f;
}

/* After a refill: one sift per changed flow, or, when most changed (a full
 * solve moves nearly every rate), one O(F) rebuild of the heap instead of
 * O(F log F) sifts. */
static void fix_finish_heap(maxmin_t *mm)
{
    iheap *h = &mm->cheap;
    if (mm->n_changed > h->n / 8) {
        for (uint32_t i = 0; i < mm->n_changed; i++)
            mm->ckey[mm->changed[i]] = mm->changed_key[i];
        for (uint32_t i = h->n / 2; i-- > 0;)
            ih_down(h, i, h->ids[i]);
    } else {
        for (uint32_t i = 0; i < mm->n_changed; i++) {
            mm->ckey[mm->changed[i]] = mm->changed_key[i];
            ih_set(h, mm->changed[i]);
        }
    }
    mm->n_changed = 0;
}

/* The busiest link's busy time, sum of bytes over capacity: a lower bound
 * on the makespan, used to size the batching window. O(E). */
static double busy_bound_s(maxmin_t *mm, const maxmin_problem_t *p)
{
    double *link_bytes = mm->nlevel; /* scratch: unused between refills */
    for (uint32_t l = 0; l < p->n_links; l++)
        link_bytes[l] = 0.0;
    for (uint32_t f = 0; f < p->n_flows; f++)
        for (uint32_t k = p->path_start[f]; k < p->path_start[f + 1]; k++)
            link_bytes[p->path_link[k]] += p->bytes[f];
    double t = 0.0;
    for (uint32_t l = 0; l < p->n_links; l++)
        if (link_bytes[l] / p->capacity_bps[l] > t)
            t = link_bytes[l] / p->capacity_bps[l];
    return t;
}

/* Rates after the flows in mm->batch[0..nb) ended: incrementally from
 * r_min (see the top of the file), or in full. */
static void refill_after(maxmin_t *mm, uint32_t nb, double r_min, bool full)
{
    uint64_t visits0 = mm->st.flow_visits;
    if (full) {
        maxmin_dirty_everything(mm);
        mm->st.full_solves++;
    } else {
        maxmin_next_epoch(mm);
        for (uint32_t i = 0; i < nb; i++) {
            uint32_t f = mm->batch[i];
            for (uint32_t k = mm->fp_start[f]; k < mm->fp_start[f + 1]; k++) {
                uint32_t l = mm->fp_link[k];
                if (!is_dirty(mm, l))
                    maxmin_make_dirty(mm, l, r_min);
            }
        }
    }
    mm->n_changed = 0;
    maxmin_refill_finish(mm, on_rate_change);
    fix_finish_heap(mm);
    mm->last_visits = mm->st.flow_visits - visits0;
}

int maxmin_run(maxmin_t *mm, const maxmin_problem_t *p, double *finish_s,
               double *makespan_s, err_t *err)
{
    *makespan_s = 0.0;
    int rc = maxmin_setup(mm, p, true, err);
    if (rc)
        return rc;
    double window_s = mm->window_rel * busy_bound_s(mm, p);
    maxmin_solve_full(mm);
    uint32_t nf = p->n_flows;
    mm->cheap = (iheap){.ids = mm->cheap_ids, .pos = mm->cheap_pos,
                        .key = mm->ckey, .n = 0};
    mm->active_edges = 0;
    for (uint32_t f = 0; f < nf; f++) {
        mm->cheap_pos[f] = MM_NONE;
        if (finish_s)
            finish_s[f] = 0.0;
        if (!mm->active[f])
            continue;
        mm->active_edges += mm->fp_start[f + 1] - mm->fp_start[f];
        mm->rem[f] = p->bytes[f];
        mm->tlast[f] = 0.0;
        mm->ckey[f] = p->bytes[f] / mm->rate[f];
        /* Appending then sifting up each is O(F log F) at worst, and
         * about O(F) for keys in no particular order. */
        ih_up(&mm->cheap, mm->cheap.n++, f);
    }
    mm->now_s = 0.0;
    mm->last_visits = 0;
    /* Full solves in a row before the incremental refill is tried again;
     * doubles each time the incremental one turns out dearer than a full
     * solve (see the top of the file), back to 0 when it is cheap. */
    uint32_t full_run = 0, full_left = 0;
    double makespan = 0.0;
    while (mm->cheap.n > 0) {
        double t0 = mm->ckey[mm->cheap.ids[0]];
        double w = MM_BATCH_REL * t0 > window_s ? MM_BATCH_REL * t0 : window_s;
        double horizon = t0 + w;
        uint32_t nb = 0;
        double r_min = INFINITY, t_last = t0;
        while (mm->cheap.n > 0 && mm->ckey[mm->cheap.ids[0]] <= horizon) {
            uint32_t f = mm->cheap.ids[0];
            ih_remove(&mm->cheap, f);
            double t = mm->ckey[f];
            if (finish_s)
                finish_s[f] = t;
            if (t > t_last)
                t_last = t;
            mm->active[f] = 0;
            mm->active_edges -= mm->fp_start[f + 1] - mm->fp_start[f];
            mm->batch[nb++] = f;
            if (mm->rate[f] < r_min)
                r_min = mm->rate[f];
        }
        if (t_last > makespan)
            makespan = t_last;
        mm->st.batches++;
        if (mm->cheap.n == 0)
            break;
        mm->now_s = t_last;
        if (full_left > 0) {
            full_left--;
            refill_after(mm, nb, r_min, true);
        } else {
            refill_after(mm, nb, r_min, false);
            if (2 * mm->last_visits > mm->active_edges) {
                full_run = full_run ? 2 * full_run : 1;
                full_left = full_run;
            } else {
                full_run = 0;
            }
        }
    }
    *makespan_s = makespan;
    return 0;
}
