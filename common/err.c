#include "common/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void err_clear(err_t *e)
{
    if (!e)
        return;
    e->code = 0;
    e->msg[0] = '\0';
}

int err_set(err_t *e, int code, const char *fmt, ...)
{
    if (!e)
        return code;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    return code;
}

int err_input(err_t *e, const char *file, int line, const char *fmt, ...)
{
    if (!e)
        return ERR_INPUT;
    char body[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    if (line > 0)
        snprintf(e->msg, sizeof e->msg, "%s:%d: %s", file, line, body);
    else
        snprintf(e->msg, sizeof e->msg, "%s: %s", file, body);
    e->code = ERR_INPUT;
    return ERR_INPUT;
}

void err_prefix(err_t *e, const char *prefix)
{
    if (!e)
        return;
    char old[ERR_MSG_MAX];
    memcpy(old, e->msg, sizeof old);
    snprintf(e->msg, sizeof e->msg, "%s: %s", prefix, old);
}

int err_exit_status(int code)
{
    switch (code) {
    case ERR_OK:
        return 0;
    case ERR_INPUT:
    case ERR_IO:
        return 2;
    case ERR_INTERRUPTED:
        return 130;
    default:
        return 1;
    }
}

void err_abort(const char *file, int line, const char *what)
{
    fprintf(stderr, "%s:%d: internal invariant broken: %s\n", file, line, what);
    fflush(stderr);
    abort();
}
