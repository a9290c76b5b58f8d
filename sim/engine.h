/*
 * engine: the discrete-event core (prefix eq_).
 *
 * A clock and a queue of pending events in a total order: by time, then by
 * a 64-bit sequence number given at schedule time, so events due at the
 * same instant run in the order they were scheduled. A run loop hands each
 * event to one handler function with the model's state. The engine knows
 * nothing of experts, tokens, devices or links; a model talks to it only
 * through this header, as a ROSS model talks to ROSS through its callbacks.
 *
 * Memory: every array is sized by eq_create's max_pending_events and no
 * later call allocates. Scheduling beyond that many pending events fails
 * with ERR_CAPACITY and a message naming the setting to raise.
 *
 * Time: the clock only moves forward. It is the time of the event being
 * handled (or last handled); scheduling before it is an error (ERR_SIM),
 * and the run loop aborts (MOESIM_ASSERT) if the queue ever yields an
 * event earlier than the clock.
 *
 * Cost: schedule, cancel and pop are O(log4 n) in the number of pending
 * events n (a 4-ary heap of 16-byte keys; the payload stays out of line in
 * a slot table so sifting moves only keys). Not thread-safe: one engine
 * per simulation.
 */
#ifndef MOESIM_SIM_ENGINE_H
#define MOESIM_SIM_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

typedef struct eq eq_t;

/* Names one scheduled event so it can be cancelled. A handle goes stale
 * once its event ran or was cancelled; a stale handle cancels nothing,
 * even after its slot was reused (a generation count is part of it). */
typedef uint64_t eq_handle_t;
#define EQ_HANDLE_NONE ((eq_handle_t)0)

/* What the model attaches to an event; the engine copies it and never
 * looks inside. */
typedef struct eq_payload {
    int kind;        /* the model's event type */
    int32_t who;     /* e.g. a device or stream index */
    int64_t i0, i1;  /* model-defined integers */
    double x0;       /* model-defined value (name its unit in the model) */
    void *ptr;       /* borrowed: never dereferenced nor freed here */
} eq_payload_t;

/* An event as the handler sees it. */
typedef struct eq_event {
    double time_s;      /* when it happens; eq_now() while it is handled */
    uint64_t seq;       /* schedule order; breaks ties in time_s */
    eq_handle_t handle; /* the handle eq_schedule returned (now stale) */
    eq_payload_t p;
} eq_event_t;

/* The model's handler. ev is borrowed for the call. It may schedule and
 * cancel freely (the event's own slot is already free). Returns 0 to go
 * on, EQ_STOP to end the run early, or a negative ERR_* code (message in
 * err) to abort the run with that code. */
typedef int (*eq_handler_fn)(eq_t *eq, void *model, const eq_event_t *ev,
                             err_t *err);
#define EQ_STOP 1

/* Largest max_pending_events accepted (slots are 32-bit indices). */
#define EQ_MAX_PENDING ((size_t)1 << 30)

/* Creates an engine at time 0 that holds up to max_pending_events events
 * at once (1..EQ_MAX_PENDING). On success *out is a new engine the caller
 * owns (eq_destroy). ERR_INPUT for a bad size, ERR_NOMEM. */
int eq_create(eq_t **out, size_t max_pending_events, err_t *err);

/* Frees eq; NULL is a no-op. */
void eq_destroy(eq_t *eq);

/* Drops every pending event and sets the clock back to 0 and the sequence
 * and event counters to 0, so one engine can serve run after run with
 * identical results. Handles from before go stale. */
void eq_reset(eq_t *eq);

/* Schedules an event at absolute time_s (>= eq_now(), finite) carrying a
 * copy of *p (p may be NULL: an all-zero payload). If handle is not NULL
 * it receives the event's handle. ERR_SIM if time_s is in the past or not
 * finite; ERR_CAPACITY when max_pending_events are already pending. */
int eq_schedule(eq_t *eq, double time_s, const eq_payload_t *p,
                eq_handle_t *handle, err_t *err);

/* Same at eq_now() + delay_s (delay_s >= 0). */
int eq_schedule_in(eq_t *eq, double delay_s, const eq_payload_t *p,
                   eq_handle_t *handle, err_t *err);

/* Removes a pending event. Returns true if it was pending and is now
 * gone; false for EQ_HANDLE_NONE or a stale handle. O(log n). */
bool eq_cancel(eq_t *eq, eq_handle_t handle);

/* True if handle names an event still pending. */
bool eq_is_pending(const eq_t *eq, eq_handle_t handle);

/* Removes the earliest event into *out and moves the clock to its time.
 * Returns false (and leaves *out alone) when nothing is pending. */
bool eq_pop(eq_t *eq, eq_event_t *out);

/* The earliest pending time into *time_s; false when nothing is pending. */
bool eq_peek_time(const eq_t *eq, double *time_s);

/* Handles, in order, every event due at or before until_s, each through
 * fn(eq, model, ev, err); events the handler schedules within the window
 * run too. When the queue has no more events due by then the clock moves
 * to until_s (if later than now and finite). Returns 0, EQ_STOP if fn
 * stopped the run (the clock stays at the stopping event), or fn's
 * negative code. model is borrowed and passed through untouched. */
int eq_run_until(eq_t *eq, double until_s, eq_handler_fn fn, void *model,
                 err_t *err);

/* eq_run_until with no horizon: runs until no event is pending (the clock
 * stays at the last event) or fn stops it. */
int eq_run(eq_t *eq, eq_handler_fn fn, void *model, err_t *err);

double eq_now(const eq_t *eq);            /* the clock, seconds */
size_t eq_pending(const eq_t *eq);        /* events pending now */
size_t eq_capacity(const eq_t *eq);       /* max_pending_events */
uint64_t eq_events_handled(const eq_t *eq); /* popped since create/reset */

#endif
