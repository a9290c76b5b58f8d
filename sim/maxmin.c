/*
 * maxmin: progressive filling, done once in full and then incrementally.
 *
 * Progressive filling. Raise a common level lambda from 0; every unfrozen
 * flow has rate lambda. A link's residual at lambda is its capacity minus
 * the rates of its frozen flows minus lambda times its unfrozen ones; it
 * fills (saturates) at lambda = lambda_ref + residual / unfrozen. Links are
 * kept in a heap by that predicted level; the earliest fills, its unfrozen
 * flows freeze at its level, and every other link they cross is updated.
 * Freezing a flow at the current level only ever raises a link's
 * predicted level, so the heap is not touched then: a stale key is a lower
 * bound, re-checked and sifted down when it reaches the top. A full solve
 * costs O(E + L log L + R log L) for E (flow, link) pairs, L links and R
 * such re-checks (R is small next to E in practice; at most E).
 *
 * The cost of a whole run, and what keeps it down. Rates change whenever
 * a flow ends, so a run is a sequence of solves. Done naively that is one
 * full solve per finish: O(F * E). A skewed all-to-all of 256 devices has
 * 65,280 flows ending at as many instants, some 1e10 steps. Three things
 * help, and the third is what bounds the skewed case:
 *
 * 1. Pruned links. An interior link (never a flow's first or last link)
 *    whose capacity is at least the summed capacity of the distinct first
 *    links of the flows crossing it (or of their distinct last links) can
 *    never be overloaded, so it never binds and removing it leaves the
 *    feasible set, hence the max-min allocation, unchanged. A non-blocking
 *    fat tree's leaf uplinks and downlinks are such links; without them a
 *    flow between nodes has two links (its NICs) instead of four. First and
 *    last links are never pruned, so no pruning relies on a pruned link.
 *
 * 2. Incremental refill. Record each link's fill level from the last solve
 *    (infinite if it never filled) and each flow's rate. When flows end,
 *    the new filling is the old one until the level r_min, the smallest
 *    rate among them: every link below that level is off their paths (a
 *    flow's rate is the lowest level on its path) and unchanged. From
 *    r_min the refill follows only "dirty" links, whose residual may now
 *    differ from the old run, and treats every clean link as filling at
 *    its old level with its old flows, which needs no work at all:
 *      - the links of ended flows are dirty from r_min;
 *      - when a link turns dirty at level lambda it is scanned once: flows
 *        already frozen (old rate clearly below lambda and untouched, or
 *        frozen in this refill) count as fixed load; each other untouched
 *        flow is "pending" with an event at its old rate;
 *      - at a pending flow's event, if one of its links with that old
 *        level is still clean, that link fills as before and freezes it
 *        at its old rate: nothing changes beyond updating its dirty links.
 *        Otherwise the flow runs on past its old rate ("diverged") and all
 *        its links turn dirty;
 *      - a dirty link that fills freezes its unfrozen flows at its level;
 *        a pending flow frozen below its old rate diverged downward, and
 *        its other links turn dirty.
 *    The refill ends when no dirty link has unfrozen flows and no event is
 *    left. Its cost is O(D log D) for D the flow entries of the dirty
 *    links: the part of the network the change reached. Where a change
 *    stays local it is tiny: in a uniform all-to-all every NIC fills at
 *    one level, and an ended flow dirties its two NICs and nothing more;
 *    flows inside one node touch only that node's links. But max-min
 *    couples everything a flow crosses: in a skewed all-to-all an ended
 *    flow raises the rates on its source NIC, which lowers them on every
 *    destination NIC those flows reach, and so on; every rate moves a
 *    little at every finish and the refill reaches most links. A full
 *    solve reads each (flow, link) pair twice and keeps no event heap, so
 *    once an incremental refill has read more than half as many entries
 *    as there are pairs it is the dearer one (measured: 3.5x slower when
 *    used throughout a skewed run): the next refills are then full
 *    solves, for a run that doubles each time the incremental refill
 *    proves dear again and ends when it proves cheap.
 *    Rates that move by less than a relative MM_TOL count as unchanged,
 *    which stops cascades of rounding noise.
 *
 * 3. Batching (maxmin_set_window). Finishes within a window are one
 *    instant and share one solve. Exact mode batches only finishes within
 *    a relative MM_BATCH_REL (the thousands of flows of a uniform exchange
 *    that end together cost one solve), and a skewed exchange stays
 *    O(F * E). A window w (a fraction of the busiest link's busy time)
 *    bounds the solves to about 1/w: O(E / w) for the run, at an error of
 *    about w on its makespan. sim/net uses w = 1e-3 unless told otherwise.
 *
 * Link lists are flat arrays (CSR) of flow ids; ended flows are dropped
 * from a link's list while it is scanned, so later scans are shorter.
 * Flow progress is lazy: a flow keeps (remaining bytes, time of its last
 * rate change), and a heap of predicted finish times is touched only for
 * flows whose rate changed (rebuilt in O(F) when most did).
 *
 * The incremental refill is checked against a from-scratch water-filling
 * after every finish on thousands of random problems
 * (tests/unit/net/test_maxmin_run.c).
 */
#include "sim/maxmin.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MM_TOL 1e-10       /* a rate within this (relative) is unchanged */
#define MM_BATCH_REL 1e-9  /* finishes within this (relative) are one batch */
#define MM_NONE UINT32_MAX

enum { ST_UNTOUCHED = 0, ST_PENDING, ST_DIVERGED, ST_FROZEN };

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
    size_t ne; /* entries in the pruned paths */
    size_t cap_l, cap_f, cap_e, cap_full;

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

static void ih_place(iheap *h, uint32_t i, uint32_t id)
{
    h->ids[i] = id;
    h->pos[id] = i;
}

static void ih_up(iheap *h, uint32_t i, uint32_t id)
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

static void ih_down(iheap *h, uint32_t i, uint32_t id)
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
static void ih_set(iheap *h, uint32_t id)
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

static void ih_remove(iheap *h, uint32_t id)
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

/* ---- event heap ---------------------------------------------------------- */

static void ev_push(maxmin_t *mm, double level_bps, uint32_t flow)
{
    mm_event e = {.level_bps = level_bps, .flow = flow, .unused = 0};
    uint32_t i = mm->ev_n++;
    while (i > 0) {
        uint32_t p = (i - 1) / 2;
        if (!(e.level_bps < mm->ev[p].level_bps))
            break;
        mm->ev[i] = mm->ev[p];
        i = p;
    }
    mm->ev[i] = e;
}

static mm_event ev_pop(maxmin_t *mm)
{
    mm_event top = mm->ev[0];
    mm_event e = mm->ev[--mm->ev_n];
    uint32_t n = mm->ev_n, i = 0;
    for (;;) {
        uint32_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && mm->ev[c + 1].level_bps < mm->ev[c].level_bps)
            c++;
        if (!(mm->ev[c].level_bps < e.level_bps))
            break;
        mm->ev[i] = mm->ev[c];
        i = c;
    }
    if (n > 0)
        mm->ev[i] = e;
    return top;
}

/* ---- workspace ----------------------------------------------------------- */

static void free_arrays(maxmin_t *mm)
{
    void *all[] = {mm->cap_bps, mm->level, mm->nlevel, mm->lres, mm->llam,
                   mm->lkey, mm->lcnt, mm->lf_start, mm->lf_len,
                   mm->lf_flow, mm->ldirty, mm->lmark, mm->dirty_list,
                   mm->lsat, mm->pruned, mm->lfirst, mm->llast,
                   mm->lheap_ids, mm->lheap_pos, mm->fp_start, mm->fp_link,
                   mm->rate, mm->nrate, mm->rem, mm->tlast, mm->ckey,
                   mm->fepoch, mm->fstate, mm->active, mm->touched,
                   mm->cheap_ids, mm->cheap_pos, mm->batch, mm->changed,
                   mm->changed_key, mm->ev};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
}

/* Replaces *p by an array of n elements if the current one is smaller.
 * Contents are not kept. */
static bool ensure(void **p, size_t n, size_t elem, size_t have)
{
    if (n <= have && *p)
        return true;
    free(*p);
    *p = malloc((n ? n : 1) * elem);
    return *p != NULL;
}

#define ENSURE(field, n, have) ensure((void **)&mm->field, (n), sizeof *mm->field, (have))

/* Sizes the workspace for nl links, nf flows, ne_full path entries. */
static bool reserve(maxmin_t *mm, uint32_t nl, uint32_t nf, size_t ne_full)
{
    size_t L = nl, F = nf, E = ne_full;
    bool ok = true;
    if (L > mm->cap_l || !mm->cap_bps) {
        ok = ok && ENSURE(cap_bps, L, 0) && ENSURE(level, L, 0) &&
             ENSURE(nlevel, L, 0) && ENSURE(lres, L, 0) &&
             ENSURE(llam, L, 0) && ENSURE(lkey, L, 0) &&
             ENSURE(lcnt, L, 0) && ENSURE(lf_start, L + 1, 0) &&
             ENSURE(lf_len, L, 0) && ENSURE(ldirty, L, 0) &&
             ENSURE(lmark, L, 0) && ENSURE(dirty_list, L, 0) &&
             ENSURE(lsat, L, 0) && ENSURE(pruned, L, 0) &&
             ENSURE(lfirst, L, 0) && ENSURE(llast, L, 0) &&
             ENSURE(lheap_ids, L, 0) && ENSURE(lheap_pos, L, 0);
        if (!ok)
            return false;
        mm->cap_l = L;
    }
    if (F > mm->cap_f || !mm->rate) {
        ok = ok && ENSURE(fp_start, F + 1, 0) && ENSURE(rate, F, 0) &&
             ENSURE(nrate, F, 0) && ENSURE(rem, F, 0) &&
             ENSURE(tlast, F, 0) && ENSURE(ckey, F, 0) &&
             ENSURE(fepoch, F, 0) && ENSURE(fstate, F, 0) &&
             ENSURE(active, F, 0) && ENSURE(touched, F, 0) &&
             ENSURE(cheap_ids, F, 0) && ENSURE(cheap_pos, F, 0) &&
             ENSURE(batch, F, 0) && ENSURE(changed, F, 0) &&
             ENSURE(changed_key, F, 0) && ENSURE(ev, F, 0);
        if (!ok)
            return false;
        mm->cap_f = F;
    }
    if (E > mm->cap_e || !mm->fp_link) {
        ok = ok && ENSURE(fp_link, E, 0) && ENSURE(lf_flow, E, 0);
        if (!ok)
            return false;
        mm->cap_e = E;
    }
    return true;
}

int maxmin_create(maxmin_t **out, err_t *err)
{
    *out = calloc(1, sizeof **out);
    if (!*out)
        return err_set(err, ERR_NOMEM, "maxmin: out of memory");
    return 0;
}

void maxmin_destroy(maxmin_t *mm)
{
    if (!mm)
        return;
    free_arrays(mm);
    free(mm);
}

maxmin_stats_t maxmin_last_stats(const maxmin_t *mm) { return mm->st; }

void maxmin_set_window(maxmin_t *mm, double window_rel)
{
    mm->window_rel = window_rel > 0.0 && isfinite(window_rel) ? window_rel : 0.0;
}

/* ---- problem set-up ------------------------------------------------------ */

static int check_problem(maxmin_t *mm, const maxmin_problem_t *p,
                         bool need_bytes, err_t *err)
{
    if (p->n_links > 0 && !p->capacity_bps)
        return err_set(err, ERR_INPUT, "maxmin: no capacities given");
    if (p->n_flows > 0 && (!p->path_start || !p->path_link))
        return err_set(err, ERR_INPUT, "maxmin: no paths given");
    if (need_bytes && p->n_flows > 0 && !p->bytes)
        return err_set(err, ERR_INPUT, "maxmin: no flow sizes given");
    for (uint32_t l = 0; l < p->n_links; l++) {
        double c = p->capacity_bps[l];
        if (!(c > 0.0) || !isfinite(c))
            return err_set(err, ERR_INPUT,
                           "maxmin: link %u: capacity %g B/s is not a "
                           "positive finite number",
                           l, c);
        mm->lmark[l] = MM_NONE;
    }
    if (p->n_flows > 0 && p->path_start[0] != 0)
        return err_set(err, ERR_INPUT, "maxmin: path_start[0] must be 0");
    for (uint32_t f = 0; f < p->n_flows; f++) {
        uint32_t a = p->path_start[f], b = p->path_start[f + 1];
        if (b <= a)
            return err_set(err, ERR_INPUT,
                           "maxmin: flow %u has an empty path", f);
        for (uint32_t k = a; k < b; k++) {
            uint32_t l = p->path_link[k];
            if (l >= p->n_links)
                return err_set(err, ERR_INPUT,
                               "maxmin: flow %u crosses link %u of %u", f,
                               l, p->n_links);
            if (mm->lmark[l] == f)
                return err_set(err, ERR_INPUT,
                               "maxmin: flow %u crosses link %u twice", f,
                               l);
            mm->lmark[l] = f;
        }
        if (need_bytes && (!(p->bytes[f] >= 0.0) || !isfinite(p->bytes[f])))
            return err_set(err, ERR_INPUT,
                           "maxmin: flow %u: size %g bytes is not a "
                           "non-negative finite number",
                           f, p->bytes[f]);
    }
    return 0;
}

/* Marks pruned links (see the top of the file), builds the pruned paths
 * and the link -> flows lists of the active flows. O(E). */
static void build(maxmin_t *mm, const maxmin_problem_t *p)
{
    uint32_t nl = p->n_links, nf = p->n_flows;
    mm->nl = nl;
    mm->nf = nf;
    mm->st.links_pruned = 0;
    for (uint32_t l = 0; l < nl; l++) {
        mm->cap_bps[l] = p->capacity_bps[l];
        mm->lfirst[l] = mm->llast[l] = 0;
        mm->pruned[l] = 0;
        mm->lf_len[l] = 0;
        mm->lmark[l] = MM_NONE;
    }
    for (uint32_t f = 0; f < nf; f++) {
        mm->lfirst[p->path_link[p->path_start[f]]] = 1;
        mm->llast[p->path_link[p->path_start[f + 1] - 1]] = 1;
    }
    /* Sum of distinct first (last) link capacities per interior link: one
     * pass over the flows per side, with lf_start/lres as scratch. */
    double *sum_first = mm->lres, *sum_last = mm->llam;
    uint32_t *mark_last = mm->lf_start;
    for (uint32_t l = 0; l < nl; l++) {
        sum_first[l] = sum_last[l] = 0.0;
        mark_last[l] = MM_NONE;
    }
    for (uint32_t f = 0; f < nf; f++) {
        uint32_t a = p->path_start[f], b = p->path_start[f + 1];
        uint32_t first = p->path_link[a], last = p->path_link[b - 1];
        for (uint32_t k = a + 1; k + 1 < b; k++) {
            uint32_t l = p->path_link[k];
            if (mm->lfirst[l] || mm->llast[l])
                continue;
            /* A stamp per (link, first link) pair would need L^2 memory;
             * flows are grouped by their first link in every problem
             * sim/net builds, and a repeated first link is only counted
             * again when other first links came between: an overestimate
             * of the sum, which only makes pruning more cautious. */
            if (mm->lmark[l] != first) {
                mm->lmark[l] = first;
                sum_first[l] += mm->cap_bps[first];
            }
            if (mark_last[l] != last) {
                mark_last[l] = last;
                sum_last[l] += mm->cap_bps[last];
            }
        }
    }
    for (uint32_t l = 0; l < nl; l++) {
        if (mm->lfirst[l] || mm->llast[l] || sum_first[l] == 0.0)
            continue;
        double c = mm->cap_bps[l] * (1.0 + 1e-12);
        if (c >= sum_first[l] || c >= sum_last[l]) {
            mm->pruned[l] = 1;
            mm->st.links_pruned++;
        }
    }
    /* Pruned paths and per-link counts. */
    size_t e = 0;
    for (uint32_t f = 0; f < nf; f++) {
        mm->fp_start[f] = (uint32_t)e;
        for (uint32_t k = p->path_start[f]; k < p->path_start[f + 1]; k++) {
            uint32_t l = p->path_link[k];
            if (mm->pruned[l])
                continue;
            mm->fp_link[e++] = l;
            if (mm->active[f])
                mm->lf_len[l]++;
        }
    }
    mm->fp_start[nf] = (uint32_t)e;
    mm->ne = e;
    uint32_t off = 0;
    for (uint32_t l = 0; l < nl; l++) {
        mm->lf_start[l] = off;
        off += mm->lf_len[l];
        mm->lf_len[l] = 0;
    }
    mm->lf_start[nl] = off;
    for (uint32_t f = 0; f < nf; f++) {
        if (!mm->active[f])
            continue;
        for (uint32_t k = mm->fp_start[f]; k < mm->fp_start[f + 1]; k++) {
            uint32_t l = mm->fp_link[k];
            mm->lf_flow[mm->lf_start[l] + mm->lf_len[l]++] = f;
        }
    }
    for (uint32_t l = 0; l < nl; l++) {
        mm->level[l] = INFINITY;
        mm->ldirty[l] = 0;
        mm->lheap_pos[l] = MM_NONE;
    }
    for (uint32_t f = 0; f < nf; f++) {
        mm->fepoch[f] = 0;
        mm->fstate[f] = ST_UNTOUCHED;
        mm->rate[f] = 0.0;
    }
    mm->lheap = (iheap){.ids = mm->lheap_ids, .pos = mm->lheap_pos,
                        .key = mm->lkey, .n = 0};
    mm->epoch = 0;
}

/* ---- the refill ---------------------------------------------------------- */

static inline bool is_dirty(const maxmin_t *mm, uint32_t l)
{
    return mm->ldirty[l] == mm->epoch;
}

static inline int state_of(const maxmin_t *mm, uint32_t f)
{
    return mm->fepoch[f] == mm->epoch ? mm->fstate[f] : ST_UNTOUCHED;
}

static inline void set_state(maxmin_t *mm, uint32_t f, int st)
{
    if (mm->fepoch[f] != mm->epoch) {
        mm->fepoch[f] = mm->epoch;
        mm->touched[mm->n_touched++] = f;
    }
    mm->fstate[f] = (uint8_t)st;
}

/* When dirty link l fills if nothing else freezes: from its state at
 * llam, lam + residual / unfrozen. */
static inline double link_fill_level(const maxmin_t *mm, uint32_t l)
{
    double res = mm->lres[l] > 0.0 ? mm->lres[l] : 0.0;
    return mm->llam[l] + res / mm->lcnt[l];
}

/* An unfrozen flow of dirty, unfilled link l froze at level lam with rate
 * r (r == lam, or its old rate when within MM_TOL).
 *
 * The link's place in the heap is not updated here: freezing a flow at
 * the current level can only raise the level at which the link fills
 * (the residual is unchanged and fewer flows share it), so its heap key
 * becomes a lower bound, and refill_finish re-keys it when it reaches the
 * top. That saves a heap update per (flow, link) in the filling,
 * which was most of its cost. */
static void link_freeze(maxmin_t *mm, uint32_t l, double lam, double r)
{
    MOESIM_ASSERT(mm->lcnt[l] > 0 && !mm->lsat[l]);
    double cnt = mm->lcnt[l];
    mm->lres[l] -= cnt * (lam - mm->llam[l]) + (r - lam);
    mm->llam[l] = lam;
    mm->lcnt[l]--;
}

/* Link l turns dirty at level lam: one scan of its flows fixes its state
 * (and drops ended flows from its list). */
static void make_dirty(maxmin_t *mm, uint32_t l, double lam)
{
    mm->ldirty[l] = mm->epoch;
    mm->dirty_list[mm->n_dirty++] = l;
    mm->lsat[l] = 0;
    double res = mm->cap_bps[l];
    uint32_t cnt = 0;
    uint32_t *fl = mm->lf_flow + mm->lf_start[l];
    uint32_t len = mm->lf_len[l], kept = 0;
    for (uint32_t i = 0; i < len; i++) {
        uint32_t g = fl[i];
        if (!mm->active[g])
            continue;
        fl[kept++] = g;
        switch (state_of(mm, g)) {
        case ST_UNTOUCHED:
            /* Frozen at its old rate if that is clearly below lam; a rate
             * tied with lam (to rounding) may yet change, so it waits for
             * its event like any other. */
            if (mm->rate[g] < lam * (1.0 - 4.0 * MM_TOL)) {
                res -= mm->rate[g];
            } else {
                set_state(mm, g, ST_PENDING);
                ev_push(mm, mm->rate[g], g);
                cnt++;
            }
            break;
        case ST_FROZEN:
            res -= mm->nrate[g];
            break;
        default: /* pending or diverged: unfrozen */
            cnt++;
            break;
        }
    }
    mm->lf_len[l] = kept;
    mm->st.links_rescanned++;
    mm->st.flow_visits += len;
    mm->lres[l] = res - (double)cnt * lam;
    mm->llam[l] = lam;
    mm->lcnt[l] = cnt;
    if (cnt > 0) {
        mm->lkey[l] = link_fill_level(mm, l);
        ih_set(&mm->lheap, l);
    }
}

/* Does flow g keep its old rate? True when a link of g that filled at
 * that rate in the last solve is still clean: it fills again as before. */
static bool has_clean_tight_link(const maxmin_t *mm, uint32_t g)
{
    double lim = mm->rate[g] * (1.0 + 2.0 * MM_TOL);
    for (uint32_t k = mm->fp_start[g]; k < mm->fp_start[g + 1]; k++) {
        uint32_t m = mm->fp_link[k];
        if (!is_dirty(mm, m) && mm->level[m] <= lim)
            return true;
    }
    return false;
}

/* Freezes unfrozen flow g at rate r, level lam, on its dirty links other
 * than skip; turns its clean links dirty if its rate changed. */
static void freeze_flow(maxmin_t *mm, uint32_t g, double lam, double r,
                        bool changed, uint32_t skip)
{
    set_state(mm, g, ST_FROZEN);
    mm->nrate[g] = r;
    for (uint32_t k = mm->fp_start[g]; k < mm->fp_start[g + 1]; k++) {
        uint32_t m = mm->fp_link[k];
        if (m == skip)
            continue;
        if (is_dirty(mm, m))
            link_freeze(mm, m, lam, r);
        else if (changed)
            make_dirty(mm, m, lam); /* counts g as frozen at r */
    }
}

/* Dirty link l fills at level lam. */
static void link_fill(maxmin_t *mm, uint32_t l, double lam)
{
    ih_remove(&mm->lheap, l);
    mm->lsat[l] = 1;
    mm->nlevel[l] = lam;
    mm->lcnt[l] = 0;
    uint32_t *fl = mm->lf_flow + mm->lf_start[l];
    uint32_t len = mm->lf_len[l];
    mm->st.flow_visits += len;
    for (uint32_t i = 0; i < len; i++) {
        uint32_t g = fl[i];
        int st = state_of(mm, g);
        if (!mm->active[g] || (st != ST_PENDING && st != ST_DIVERGED))
            continue;
        if (st == ST_PENDING &&
            fabs(lam - mm->rate[g]) <= MM_TOL * mm->rate[g])
            freeze_flow(mm, g, lam, mm->rate[g], false, l);
        else
            /* A diverged flow already dirtied all its links; a pending one
             * frozen below its old rate dirties them now. */
            freeze_flow(mm, g, lam, lam, st == ST_PENDING, l);
    }
}

/* A pending flow reached its old rate. */
static void flow_event(maxmin_t *mm, uint32_t g, double lam)
{
    if (state_of(mm, g) != ST_PENDING || !mm->active[g])
        return;
    if (has_clean_tight_link(mm, g)) {
        freeze_flow(mm, g, lam, mm->rate[g], false, MM_NONE);
        return;
    }
    set_state(mm, g, ST_DIVERGED);
    for (uint32_t k = mm->fp_start[g]; k < mm->fp_start[g + 1]; k++) {
        uint32_t m = mm->fp_link[k];
        if (!is_dirty(mm, m))
            make_dirty(mm, m, lam); /* counts g as unfrozen */
    }
}

static void next_epoch(maxmin_t *mm)
{
    if (++mm->epoch == 0) { /* wrapped: clear every stamp once */
        memset(mm->fepoch, 0, mm->nf * sizeof *mm->fepoch);
        memset(mm->ldirty, 0, mm->nl * sizeof *mm->ldirty);
        mm->epoch = 1;
    }
    mm->n_dirty = 0;
    mm->n_touched = 0;
    mm->ev_n = 0;
}

/* Runs the refill loop until no dirty link can fill and no event is left,
 * then commits the new levels. Calls on_rate(mm, f, old) for every flow
 * whose rate changed (before rate[f] takes the new value). */
static void refill_finish(maxmin_t *mm, void (*on_rate)(maxmin_t *, uint32_t))
{
    for (;;) {
        /* The first link in the heap whose key is current: stale keys
         * (lower bounds, see link_freeze) are raised and sifted down, and
         * links left without unfrozen flows leave unfilled. */
        uint32_t l = MM_NONE;
        while (mm->lheap.n > 0) {
            uint32_t top = mm->lheap.ids[0];
            if (mm->lcnt[top] == 0) {
                ih_remove(&mm->lheap, top);
                continue;
            }
            double lvl = link_fill_level(mm, top);
            if (lvl > mm->lkey[top]) {
                mm->lkey[top] = lvl;
                ih_set(&mm->lheap, top);
                continue;
            }
            l = top;
            break;
        }
        bool have_ev = mm->ev_n > 0;
        if (l == MM_NONE && !have_ev)
            break;
        /* Links first on ties: a flow frozen by a dirty link at exactly
         * its old rate is unchanged, while its event might call it
         * diverged and dirty its links for nothing. */
        if (l != MM_NONE &&
            (!have_ev || mm->lkey[l] <= mm->ev[0].level_bps)) {
            link_fill(mm, l, mm->lkey[l]);
        } else {
            mm_event e = ev_pop(mm);
            flow_event(mm, e.flow, e.level_bps);
        }
    }
    for (uint32_t i = 0; i < mm->n_dirty; i++) {
        uint32_t l = mm->dirty_list[i];
        mm->level[l] = mm->lsat[l] ? mm->nlevel[l] : INFINITY;
    }
    for (uint32_t i = 0; i < mm->n_touched; i++) {
        uint32_t f = mm->touched[i];
        if (!mm->active[f])
            continue;
        MOESIM_ASSERT(mm->fstate[f] == ST_FROZEN);
        if (mm->nrate[f] != mm->rate[f]) {
            if (on_rate)
                on_rate(mm, f);
            mm->rate[f] = mm->nrate[f];
        }
    }
}

/* Starts a full solve: every active flow diverged from nothing, every
 * link that carries one dirty at level 0. */
static void dirty_everything(maxmin_t *mm)
{
    next_epoch(mm);
    for (uint32_t f = 0; f < mm->nf; f++)
        if (mm->active[f])
            set_state(mm, f, ST_DIVERGED);
    for (uint32_t l = 0; l < mm->nl; l++)
        if (!mm->pruned[l] && mm->lf_len[l] > 0)
            make_dirty(mm, l, 0.0);
}

static void solve_full(maxmin_t *mm)
{
    dirty_everything(mm);
    refill_finish(mm, NULL);
}

/* ---- public -------------------------------------------------------------- */

static int setup(maxmin_t *mm, const maxmin_problem_t *p, bool need_bytes,
                 err_t *err)
{
    memset(&mm->st, 0, sizeof mm->st);
    if (p->n_flows > 0 && !p->path_start)
        return err_set(err, ERR_INPUT, "maxmin: no paths given");
    size_t ne_full = p->n_flows ? p->path_start[p->n_flows] : 0;
    if (!reserve(mm, p->n_links, p->n_flows, ne_full))
        return err_set(err, ERR_NOMEM,
                       "maxmin: out of memory for %u links, %u flows",
                       p->n_links, p->n_flows);
    int rc = check_problem(mm, p, need_bytes, err);
    if (rc)
        return rc;
    for (uint32_t f = 0; f < p->n_flows; f++)
        mm->active[f] = need_bytes ? p->bytes[f] > 0.0 : 1;
    build(mm, p);
    return 0;
}

int maxmin_rates(maxmin_t *mm, const maxmin_problem_t *p, double *rate_bps,
                 err_t *err)
{
    int rc = setup(mm, p, false, err);
    if (rc)
        return rc;
    solve_full(mm);
    memcpy(rate_bps, mm->rate, p->n_flows * sizeof *rate_bps);
    return 0;
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
        dirty_everything(mm);
        mm->st.full_solves++;
    } else {
        next_epoch(mm);
        for (uint32_t i = 0; i < nb; i++) {
            uint32_t f = mm->batch[i];
            for (uint32_t k = mm->fp_start[f]; k < mm->fp_start[f + 1]; k++) {
                uint32_t l = mm->fp_link[k];
                if (!is_dirty(mm, l))
                    make_dirty(mm, l, r_min);
            }
        }
    }
    mm->n_changed = 0;
    refill_finish(mm, on_rate_change);
    fix_finish_heap(mm);
    mm->last_visits = mm->st.flow_visits - visits0;
}

int maxmin_run(maxmin_t *mm, const maxmin_problem_t *p, double *finish_s,
               double *makespan_s, err_t *err)
{
    *makespan_s = 0.0;
    int rc = setup(mm, p, true, err);
    if (rc)
        return rc;
    double window_s = mm->window_rel * busy_bound_s(mm, p);
    solve_full(mm);
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
