/*
 * ini: an INI file read whole into memory, every key with its line number,
 * and strict typed getters on top of inih.
 *
 * Debian's inih is built without line numbers in its handler, so the file is
 * fed to ini_parse_stream() through a reader that counts lines: inih calls
 * the handler right after reading a key's line, so the count is that key's
 * line. The reader also records section headers (inih reports a section only
 * through its keys) and rejects lines longer than INI_LINE_MAX.
 *
 * Strictness is the caller's contract: every getter marks the key it asked
 * for, and ini_check_unused() then reports the first key or section nobody
 * asked for, listing the keys that section accepts. Loaders call it last.
 */
#ifndef MOESIM_COMMON_INI_H
#define MOESIM_COMMON_INI_H

#include <stddef.h>

#include "common/err.h"

#define INI_LINE_MAX 4096
#define INI_LIST_MAX 64 /* the most items ini_get_double_list reads */

typedef struct inidoc inidoc;

/* Reads path. On success *out is a new document the caller owns (free with
 * ini_destroy). Syntax errors, duplicate keys or sections, keys before any
 * section and over-long lines are ERR_INPUT with FILE:LINE. */
int ini_load(const char *path, inidoc **out, err_t *e);

/* Same from text held in memory; name is used in messages. text is copied. */
int ini_load_string(const char *name, const char *text, inidoc **out, err_t *e);

void ini_destroy(inidoc *d); /* NULL is a no-op */

/* The path given to ini_load (borrowed, lives as long as d). */
const char *ini_path(const inidoc *d);
/* The whole text as read (borrowed). */
const char *ini_text(const inidoc *d);

size_t ini_section_count(const inidoc *d);
/* Section i's name as written between brackets, spaces folded: "policy topk". */
const char *ini_section_name(const inidoc *d, size_t i);
int ini_section_line(const inidoc *d, size_t i);
/* Index of the section named exactly name, or -1. Marks it as known. */
int ini_find_section(inidoc *d, const char *name);
/* Marks section i as known to the caller (for sections found by iteration). */
void ini_mark_section(inidoc *d, size_t i);

/* Getters. sec is a section index. Each returns 0 when the key was found and
 * parsed, 1 when it is absent and not required (out untouched), or ERR_INPUT
 * (FILE:LINE: ...) when it is required and absent, malformed or out of range.
 * The key is recorded as accepted in that section either way. */
int ini_get_str(inidoc *d, int sec, const char *key, int required,
                const char **out, err_t *e);
int ini_get_long(inidoc *d, int sec, const char *key, int required, long min,
                 long max, long *out, err_t *e);
int ini_get_int(inidoc *d, int sec, const char *key, int required, int min,
                int max, int *out, err_t *e);
int ini_get_double(inidoc *d, int sec, const char *key, int required,
                   double min, double max, double *out, err_t *e);
/* yes/no, true/false, 1/0, on/off. */
int ini_get_bool(inidoc *d, int sec, const char *key, int required, int *out,
                 err_t *e);
/* One of names[0..n-1]; *out is its index. */
int ini_get_enum(inidoc *d, int sec, const char *key, int required,
                 const char *const *names, int n, int *out, err_t *e);
/* A comma-separated list of doubles, at most max_n (<= INI_LIST_MAX);
 * *n_out how many. Items are split as by ini_get_list. */
int ini_get_double_list(inidoc *d, int sec, const char *key, int required,
                        double min, double max, double *out, int max_n,
                        int *n_out, err_t *e);

/* The comma-separated items of key, blanks trimmed, at most max_n: item[i]
 * points into buf, which the caller provides (INI_LINE_MAX + 1 bytes). An
 * empty value or an empty item ("a,,b", a trailing comma) is ERR_INPUT, as
 * are more than max_n items. */
int ini_get_list(inidoc *d, int sec, const char *key, int required,
                 char *buf, char **item, int max_n, int *n_out, err_t *e);

/* 1 when key is written in section sec. Does not mark it as asked for. */
int ini_has_key(const inidoc *d, int sec, const char *key);

/* Line of key in section sec, or the section's header line when absent. */
int ini_key_line(const inidoc *d, int sec, const char *key);

/* Records an input error at key's line: "FILE:LINE: [section] key: msg". */
int ini_key_error(const inidoc *d, int sec, const char *key, err_t *e,
                  const char *fmt, ...) __attribute__((format(printf, 5, 6)));

/* After the file that key names failed to load: prefixes its message (kept,
 * with its own FILE:LINE) with "FILE:LINE: in KEY file", where d names it,
 * so the user sees both places. Keeps the code. */
void ini_ref_error(const inidoc *d, int sec, const char *key, err_t *e);

/* First section or key that no getter asked for, as ERR_INPUT naming what
 * was expected (expected_sections, e.g. "[model], [moe]", names the sections
 * this kind of file takes); 0 when every one was used. */
int ini_check_unused(const inidoc *d, const char *expected_sections,
                     err_t *e);

/* Resolves ref relative to the folder holding base into out (out_size
 * bytes); an absolute ref is copied. Returns 0, or -1 when out is too small.
 * Used for files that name other files ("Paths inside a file are relative to
 * that file"). */
int ini_resolve_path(const char *base, const char *ref, char *out,
                     size_t out_size);

#endif
