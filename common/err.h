/*
 * err: the error context every fallible function writes into.
 *
 * Functions return int: 0 on success, a negative ERR_* code on failure.
 * The human-readable message lives in an err_t that the caller owns and
 * passes down (SQLite keeps its message on the connection the same way).
 * Nothing deep in the library prints; sim/main.c decides what the user sees
 * and maps codes to exit status with err_exit_status().
 */
#ifndef MOESIM_COMMON_ERR_H
#define MOESIM_COMMON_ERR_H

#include <stddef.h>

enum {
    ERR_OK = 0,
    ERR_SIM = -1,      /* the simulation itself failed (exit 1) */
    ERR_INPUT = -2,    /* bad input file or argument (exit 2) */
    ERR_NOMEM = -3,    /* allocation failed (exit 1) */
    ERR_IO = -4,       /* reading or writing a file failed (exit 2 if input) */
    ERR_CAPACITY = -5, /* a capacity set up front ran out (exit 1) */
    ERR_INTERRUPTED = -6 /* stopped by a signal (exit 130) */
};

#define ERR_MSG_MAX 1024

typedef struct err {
    int code;               /* the last code set; 0 when none */
    char msg[ERR_MSG_MAX];  /* the message for the user, no trailing newline */
} err_t;

/* Clears the context. */
void err_clear(err_t *e);

/* Records code and a printf-style message; returns code so callers can
 * write `return err_set(e, ERR_INPUT, "...")`. e may be NULL. */
int err_set(err_t *e, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Records an input error located in a file: "FILE:LINE: message".
 * line <= 0 omits the line ("FILE: message"). Returns ERR_INPUT. */
int err_input(err_t *e, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Prefixes the current message with "prefix: " (e.g. the file that
 * referenced a broken file). Keeps the code. */
void err_prefix(err_t *e, const char *prefix);

/* The exit status for a code: 0 ok, 2 input/io, 130 interrupted, else 1. */
int err_exit_status(int code);

/* Broken invariant: print file and line and abort, in every build. */
#define MOESIM_ASSERT(cond)                                                  \
    do {                                                                     \
        if (!(cond))                                                         \
            err_abort(__FILE__, __LINE__, #cond);                            \
    } while (0)
_Noreturn void err_abort(const char *file, int line, const char *what);

#endif
