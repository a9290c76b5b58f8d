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
 * 3. Batching (maxmin_set_window): finishes close together share one
 *    solve; see maxmin_run.c.
 *
 * Link lists are flat arrays (CSR) of flow ids; ended flows are dropped
 * from a link's list while it is scanned, so later scans are shorter.
 *
 * The incremental refill is checked against a from-scratch water-filling
 * after every finish on thousands of random problems
 * (tests/unit/net/test_maxmin_run.c).
 */
#include "sim/maxmin_impl.h"

#include <math.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#define MM_TOL 1e-10       /* a rate within this (relative) is unchanged */

enum { ST_UNTOUCHED = 0, ST_PENDING, ST_DIVERGED, ST_FROZEN };

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

/* Sizes the workspace for nl links, nf flows, ne_full path entries. A
 * block whose arrays could not all be replaced has its capacity set to 0,
 * so the next call replaces them all again, whatever its size: some hold
 * the new size, one none, the rest the old one. */
static bool reserve(maxmin_t *mm, uint32_t nl, uint32_t nf, size_t ne_full)
{
    size_t L = nl, F = nf, E = ne_full;
    bool ok = true;
    if (L > mm->cap_l || !mm->cap_bps) {
        mm->cap_l = 0;
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
        mm->cap_f = 0;
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
        mm->cap_e = 0;
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
 * becomes a lower bound, and maxmin_refill_finish re-keys it when it
 * reaches the top. That saves a heap update per (flow, link) in the
 * filling, which was most of its cost. */
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
void maxmin_make_dirty(maxmin_t *mm, uint32_t l, double lam)
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
            maxmin_make_dirty(mm, m, lam); /* counts g as frozen at r */
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
            maxmin_make_dirty(mm, m, lam); /* counts g as unfrozen */
    }
}

/* Starts a refill: a new stamp makes every link clean and every flow
 * untouched in O(1) (O(L + F) once every 2^32 refills, when it wraps). */
void maxmin_next_epoch(maxmin_t *mm)
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
 * then commits the new levels. Calls on_rate(mm, f) (if not NULL) for
 * every flow whose rate changed, before rate[f] takes the new value. */
void maxmin_refill_finish(maxmin_t *mm,
                          void (*on_rate)(maxmin_t *, uint32_t))
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
void maxmin_dirty_everything(maxmin_t *mm)
{
    maxmin_next_epoch(mm);
    for (uint32_t f = 0; f < mm->nf; f++)
        if (mm->active[f])
            set_state(mm, f, ST_DIVERGED);
    for (uint32_t l = 0; l < mm->nl; l++)
        if (!mm->pruned[l] && mm->lf_len[l] > 0)
            maxmin_make_dirty(mm, l, 0.0);
}

/* Rates from scratch, every active flow's into rate[]. */
void maxmin_solve_full(maxmin_t *mm)
{
    maxmin_dirty_everything(mm);
    maxmin_refill_finish(mm, NULL);
}

/* ---- public -------------------------------------------------------------- */

/* Sizes the workspace for p, checks it, marks the active flows (all, or
 * with need_bytes those with bytes to send) and builds the pruned paths
 * and link lists. Resets the counters. */
int maxmin_setup(maxmin_t *mm, const maxmin_problem_t *p, bool need_bytes,
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
    int rc = maxmin_setup(mm, p, false, err);
    if (rc)
        return rc;
    maxmin_solve_full(mm);
    memcpy(rate_bps, mm->rate, p->n_flows * sizeof *rate_bps);
    return 0;
}

