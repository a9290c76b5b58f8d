/*
 * engine: a 4-ary min-heap of 16-byte keys over a slot table.
 *
 * Layout. Each pending event owns a slot (0..capacity-1) holding its full
 * eq_event_t (64 bytes) and its sequence number; the heap holds only
 * {time_s, slot} keys, so a sift moves 16 bytes per level and the four
 * children of a node share one 64-byte cache line (the array is aligned so
 * that child groups start on a line). pos[slot] is the slot's index in the
 * heap, kept current on every move so cancel can find an event in O(1) and
 * remove it in O(log4 n). Ties in time_s are broken by reading the two
 * sequence numbers out of line; with continuous times ties are rare, and
 * where they are common (a model scheduling many events at one instant)
 * the queue is short.
 *
 * Alternatives not taken: a binary heap (twice the depth, one cache line
 * per level either way); a pointer heap with nodes inside the caller's
 * structs as libuv does (the model would then own event storage, which
 * ROSS-style models should not have to); a calendar queue (faster for the
 * hold model with stable spacing, but its buckets need resizing and its
 * worst case is linear); lazy cancellation by tombstones (cheaper cancel,
 * but cancelled events would then count against the capacity).
 *
 * Slots are recycled through a LIFO free list, so a freshly freed slot,
 * still warm in cache, is reused first. A handle is (generation << 32 |
 * slot); the generation of a slot changes whenever it is freed, so stale
 * handles are detected. The current handle of a slot is kept in its record.
 */
#include "sim/engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

typedef struct eq_key {
    double time_s;
    uint32_t slot;
    uint32_t unused; /* pads the key to 16 bytes: four keys per line */
} eq_key;

/* Offset of heap[0] inside the aligned allocation: with the root at entry
 * 3, the children 4i+1..4i+4 of node i sit at entries 4(i+1)..4(i+1)+3,
 * i.e. on one 64-byte line. */
#define EQ_HEAP_PAD 3u
#define EQ_NO_POS UINT32_MAX

struct eq {
    eq_key *heap;      /* n keys, heap order; points into heap_mem */
    eq_key *heap_mem;  /* the aligned allocation */
    eq_event_t *ev;    /* [capacity] payloads by slot */
    uint32_t *pos;     /* [capacity] heap index of a slot, EQ_NO_POS free */
    uint32_t *free_slots; /* stack of free slots */
    uint32_t n_free;
    uint32_t n;        /* pending events */
    uint32_t cap;
    double now_s;
    uint64_t next_seq;
    uint64_t handled;
};

/* a before b in the total order (time, then sequence number). */
static inline bool key_less(const eq_t *eq, eq_key a, eq_key b)
{
    if (a.time_s != b.time_s)
        return a.time_s < b.time_s;
    return eq->ev[a.slot].seq < eq->ev[b.slot].seq;
}

static inline void heap_put(eq_t *eq, uint32_t i, eq_key k)
{
    eq->heap[i] = k;
    eq->pos[k.slot] = i;
}

/* Moves k up from hole i until its parent is not after it. */
static void sift_up(eq_t *eq, uint32_t i, eq_key k)
{
    while (i > 0) {
        uint32_t parent = (i - 1) / 4;
        eq_key pk = eq->heap[parent];
        if (!key_less(eq, k, pk))
            break;
        heap_put(eq, i, pk);
        i = parent;
    }
    heap_put(eq, i, k);
}

/* Index of the earliest of the children c..min(c+3, n-1), c < n.
 *
 * With all four children present (nearly every level) it is a tournament
 * on the times alone, written so the compiler can use conditional moves:
 * which child is smallest is a coin toss at each level, and mispredicted
 * branches would cost more than the comparisons. Only when a compared pair
 * has equal times does it fall back to the full order with sequence
 * numbers. */
static inline uint32_t min_child(const eq_t *eq, uint32_t c, uint32_t n)
{
    const eq_key *h = eq->heap + c;
    if (c + 3 < n) {
        double t0 = h[0].time_s, t1 = h[1].time_s;
        double t2 = h[2].time_s, t3 = h[3].time_s;
        uint32_t a = t1 < t0;          /* setcc, not a jump */
        double ta = t1 < t0 ? t1 : t0; /* minsd */
        uint32_t b = t3 < t2;
        double tb = t3 < t2 ? t3 : t2;
        uint32_t right = tb < ta;
        uint32_t best = right * (2u + b) + (1u - right) * a;
        /* Bitwise, not &&, so the tie test is one predictable branch. */
        uint32_t tie = (uint32_t)(t0 == t1) | (uint32_t)(t2 == t3) |
                       (uint32_t)(ta == tb);
        if (!tie)
            return c + best;
    }
    uint32_t end = c + 4 < n ? c + 4 : n;
    uint32_t best = c;
    for (uint32_t j = c + 1; j < end; j++)
        if (key_less(eq, eq->heap[j], eq->heap[best]))
            best = j;
    return best;
}

/* Moves k down from hole i until no child is before it. */
static void sift_down(eq_t *eq, uint32_t i, eq_key k)
{
    uint32_t n = eq->n;
    for (;;) {
        uint32_t c = 4 * i + 1;
        if (c >= n)
            break;
        uint32_t best = min_child(eq, c, n);
        eq_key bk = eq->heap[best];
        if (!key_less(eq, bk, k))
            break;
        heap_put(eq, i, bk);
        i = best;
    }
    heap_put(eq, i, k);
}

/* Takes the key at heap index i out of the heap (its slot stays taken). */
static void heap_remove_at(eq_t *eq, uint32_t i)
{
    eq->n--;
    if (i == eq->n)
        return;
    eq_key last = eq->heap[eq->n];
    if (i > 0 && key_less(eq, last, eq->heap[(i - 1) / 4]))
        sift_up(eq, i, last);
    else
        sift_down(eq, i, last);
}

/* Takes the root out. Floyd's variant: the hole falls to a leaf along the
 * smallest children (three comparisons a level instead of four, since the
 * last key, which came from the bottom, is not compared on the way down)
 * and the last key then rises from there, usually by a level or none. */
static void heap_remove_root(eq_t *eq)
{
    uint32_t n = --eq->n;
    if (n == 0)
        return;
    eq_key last = eq->heap[n];
    uint32_t i = 0;
    for (;;) {
        uint32_t c = 4 * i + 1;
        if (c >= n)
            break;
        uint32_t best = min_child(eq, c, n);
        heap_put(eq, i, eq->heap[best]);
        i = best;
    }
    sift_up(eq, i, last);
}

/* The generation lives in the slot's own handle field (the record is in
 * cache when a slot is freed; a separate array would cost a miss). */
static void bump_generation(eq_event_t *ev, uint32_t slot)
{
    uint32_t g = (uint32_t)(ev->handle >> 32) + 1;
    ev->handle = ((uint64_t)(g ? g : 1) << 32) | slot;
}

static void slot_free(eq_t *eq, uint32_t slot)
{
    eq->pos[slot] = EQ_NO_POS;
    bump_generation(&eq->ev[slot], slot);
    eq->free_slots[eq->n_free++] = slot;
}

/* Decodes a handle into its slot if it names a pending event. */
static bool handle_slot(const eq_t *eq, eq_handle_t h, uint32_t *slot)
{
    if (h == EQ_HANDLE_NONE)
        return false;
    uint64_t s = h & 0xffffffffu;
    if (s >= eq->cap || eq->pos[s] == EQ_NO_POS || eq->ev[s].handle != h)
        return false;
    *slot = (uint32_t)s;
    return true;
}

/* Arrays of a megabyte or more are placed on 2 MiB boundaries and offered
 * to the kernel for transparent huge pages: a hold model at 1e5 to 1e6
 * events touches its heap and slot table at random, and with 4 KiB pages
 * the TLB misses (dear under virtualisation) cost as much as the cache
 * misses. Where THP is off, madvise fails quietly and nothing changes. */
static void *big_alloc(size_t bytes)
{
    const size_t huge = (size_t)2 << 20;
    if (bytes < ((size_t)1 << 20))
        return aligned_alloc(64, (bytes + 63) / 64 * 64);
    size_t rounded = (bytes + huge - 1) / huge * huge;
    void *p = aligned_alloc(huge, rounded);
#ifdef MADV_HUGEPAGE
    if (p)
        (void)madvise(p, rounded, MADV_HUGEPAGE);
#endif
    return p;
}

void eq_reset(eq_t *eq)
{
    eq->n = 0;
    eq->now_s = 0.0;
    eq->next_seq = 0;
    eq->handled = 0;
    /* Slots are handed out in order 0, 1, 2, ... after a reset (top of
     * the stack is slot 0), so a rerun touches memory the same way. */
    eq->n_free = eq->cap;
    for (uint32_t s = 0; s < eq->cap; s++) {
        eq->free_slots[s] = eq->cap - 1 - s;
        if (eq->pos[s] != EQ_NO_POS) {
            eq->pos[s] = EQ_NO_POS;
            bump_generation(&eq->ev[s], s);
        }
    }
}

int eq_create(eq_t **out, size_t max_pending_events, err_t *err)
{
    *out = NULL;
    if (max_pending_events < 1 || max_pending_events > EQ_MAX_PENDING)
        return err_set(err, ERR_INPUT,
                       "engine: max_pending_events = %zu is out of range "
                       "1..%zu",
                       max_pending_events, EQ_MAX_PENDING);
    size_t cap = max_pending_events;
    eq_t *eq = calloc(1, sizeof *eq);
    if (!eq)
        goto fail;
    eq->cap = (uint32_t)cap;
    eq->heap_mem = big_alloc((cap + EQ_HEAP_PAD) * sizeof(eq_key));
    eq->ev = big_alloc(cap * sizeof *eq->ev);
    eq->pos = big_alloc(cap * sizeof *eq->pos);
    eq->free_slots = malloc(cap * sizeof *eq->free_slots);
    if (!eq->heap_mem || !eq->ev || !eq->pos || !eq->free_slots)
        goto fail;
    eq->heap = eq->heap_mem + EQ_HEAP_PAD;
    for (uint32_t s = 0; s < eq->cap; s++) {
        eq->pos[s] = EQ_NO_POS;
        eq->ev[s].handle = ((uint64_t)1 << 32) | s;
    }
    eq_reset(eq);
    *out = eq;
    return 0;
fail:
    eq_destroy(eq);
    return err_set(err, ERR_NOMEM,
                   "engine: out of memory for %zu pending events",
                   max_pending_events);
}

void eq_destroy(eq_t *eq)
{
    if (!eq)
        return;
    free(eq->free_slots);
    free(eq->pos);
    free(eq->ev);
    free(eq->heap_mem);
    free(eq);
}

int eq_schedule(eq_t *eq, double time_s, const eq_payload_t *p,
                eq_handle_t *handle, err_t *err)
{
    /* !(a >= b) also catches NaN. */
    if (!(time_s >= eq->now_s) || !isfinite(time_s))
        return err_set(err, ERR_SIM,
                       "engine: event of kind %d scheduled at t = %.17g s, "
                       "before the clock (now = %.17g s) or not finite",
                       p ? p->kind : 0, time_s, eq->now_s);
    if (eq->n_free == 0)
        return err_set(err, ERR_CAPACITY,
                       "engine: event queue full (%u pending events); raise "
                       "max_pending_events (now %u)",
                       eq->n, eq->cap);
    uint32_t slot = eq->free_slots[--eq->n_free];
    eq_event_t *ev = &eq->ev[slot];
    ev->time_s = time_s;
    ev->seq = eq->next_seq++;
    if (p)
        ev->p = *p;
    else
        memset(&ev->p, 0, sizeof ev->p);
    uint32_t i = eq->n++;
    sift_up(eq, i, (eq_key){.time_s = time_s, .slot = slot, .unused = 0});
    if (handle)
        *handle = ev->handle;
    return 0;
}

int eq_schedule_in(eq_t *eq, double delay_s, const eq_payload_t *p,
                   eq_handle_t *handle, err_t *err)
{
    if (!(delay_s >= 0.0))
        return err_set(err, ERR_SIM,
                       "engine: event of kind %d scheduled with negative "
                       "or undefined delay %.17g s",
                       p ? p->kind : 0, delay_s);
    return eq_schedule(eq, eq->now_s + delay_s, p, handle, err);
}

bool eq_cancel(eq_t *eq, eq_handle_t handle)
{
    uint32_t slot;
    if (!handle_slot(eq, handle, &slot))
        return false;
    heap_remove_at(eq, eq->pos[slot]);
    slot_free(eq, slot);
    return true;
}

bool eq_is_pending(const eq_t *eq, eq_handle_t handle)
{
    uint32_t slot;
    return handle_slot(eq, handle, &slot);
}

bool eq_pop(eq_t *eq, eq_event_t *out)
{
    if (eq->n == 0)
        return false;
    uint32_t slot = eq->heap[0].slot;
    *out = eq->ev[slot];
    MOESIM_ASSERT(out->time_s >= eq->now_s);
    heap_remove_root(eq);
    slot_free(eq, slot);
    eq->now_s = out->time_s;
    eq->handled++;
#ifdef __GNUC__
    /* The next pop reads the new root's record, which sits at a random
     * slot and is the one likely cache miss per event: start fetching it
     * while the model handles this one. */
    if (eq->n > 0)
        __builtin_prefetch(&eq->ev[eq->heap[0].slot]);
#endif
    return true;
}

bool eq_peek_time(const eq_t *eq, double *time_s)
{
    if (eq->n == 0)
        return false;
    *time_s = eq->heap[0].time_s;
    return true;
}

int eq_run_until(eq_t *eq, double until_s, eq_handler_fn fn, void *model,
                 err_t *err)
{
    eq_event_t ev;
    while (eq->n > 0 && eq->heap[0].time_s <= until_s) {
        eq_pop(eq, &ev);
        int rc = fn(eq, model, &ev, err);
        if (rc != 0)
            return rc < 0 ? rc : EQ_STOP;
    }
    if (isfinite(until_s) && until_s > eq->now_s)
        eq->now_s = until_s;
    return 0;
}

int eq_run(eq_t *eq, eq_handler_fn fn, void *model, err_t *err)
{
    return eq_run_until(eq, INFINITY, fn, model, err);
}

double eq_now(const eq_t *eq) { return eq->now_s; }
size_t eq_pending(const eq_t *eq) { return eq->n; }
size_t eq_capacity(const eq_t *eq) { return eq->cap; }
uint64_t eq_events_handled(const eq_t *eq) { return eq->handled; }
