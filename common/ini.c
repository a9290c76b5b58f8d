#include "common/ini.h"

#include <ctype.h>
#include <errno.h>
#include <ini.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_ACCEPTED 64

typedef struct ini_entry {
    int section;
    char *key;
    char *value;
    int line;
    int used;
} ini_entry;

typedef struct ini_section {
    char *name;
    int line;
    int used;
    const char *accepted[MAX_ACCEPTED]; /* keys some getter asked for */
    int n_accepted;
} ini_section;

struct inidoc {
    char *path;
    char *text;
    size_t text_len;
    ini_section *secs;
    size_t n_secs, cap_secs;
    ini_entry *ents;
    size_t n_ents, cap_ents;

    /* parse state */
    size_t pos;
    int line;
    int cur_sec;
    int fail_line;
    err_t *err;
};

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *p = malloc(n);
    if (p)
        memcpy(p, s, n);
    return p;
}

/* Section name with surrounding blanks removed and inner runs folded. */
static char *fold_name(const char *s, size_t n)
{
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    int space = 0;
    for (size_t i = 0; i < n; i++) {
        if (isspace((unsigned char)s[i])) {
            space = o > 0;
            continue;
        }
        if (space)
            out[o++] = ' ';
        space = 0;
        out[o++] = s[i];
    }
    out[o] = '\0';
    return out;
}

/* Index of the section named name, or -1. */
static int section_index(const inidoc *d, const char *name)
{
    for (size_t i = 0; i < d->n_secs; i++)
        if (strcmp(d->secs[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* Index of key's entry in section sec, or -1. */
static long entry_index(const inidoc *d, int sec, const char *key)
{
    for (size_t i = 0; i < d->n_ents; i++)
        if (d->ents[i].section == sec && strcmp(d->ents[i].key, key) == 0)
            return (long)i;
    return -1;
}

static int add_section(inidoc *d, const char *name, size_t n, int line)
{
    char *folded = fold_name(name, n);
    if (!folded)
        return err_set(d->err, ERR_NOMEM, "out of memory");
    int dup = section_index(d, folded);
    if (dup >= 0) {
        err_input(d->err, d->path, line,
                  "duplicate section [%s] (first on line %d); "
                  "expected each section once",
                  folded, d->secs[dup].line);
        free(folded);
        return ERR_INPUT;
    }
    if (folded[0] == '\0') {
        free(folded);
        return err_input(d->err, d->path, line,
                         "empty section name; expected [name]");
    }
    if (d->n_secs == d->cap_secs) {
        size_t cap = d->cap_secs ? d->cap_secs * 2 : 8;
        ini_section *p = realloc(d->secs, cap * sizeof *p);
        if (!p) {
            free(folded);
            return err_set(d->err, ERR_NOMEM, "out of memory");
        }
        d->secs = p;
        d->cap_secs = cap;
    }
    ini_section *s = &d->secs[d->n_secs];
    memset(s, 0, sizeof *s);
    s->name = folded;
    s->line = line;
    d->cur_sec = (int)d->n_secs++;
    return 0;
}

/* fgets-style reader over d->text that counts lines and records section
 * headers before inih sees them. Returns NULL at the end or on an error
 * (d->fail_line set), which inih treats as the end of input. */
static char *reader(char *str, int num, void *stream)
{
    inidoc *d = stream;
    if (d->fail_line || d->pos >= d->text_len)
        return NULL;
    const char *start = d->text + d->pos;
    const char *nl = memchr(start, '\n', d->text_len - d->pos);
    size_t len = nl ? (size_t)(nl - start) + 1 : d->text_len - d->pos;
    d->line++;
    if (len + 1 > (size_t)num || len > INI_LINE_MAX) {
        d->fail_line = d->line;
        err_input(d->err, d->path, d->line,
                  "line longer than %d characters; expected shorter lines",
                  INI_LINE_MAX);
        return NULL;
    }
    memcpy(str, start, len);
    str[len] = '\0';
    d->pos += len;

    const char *p = str;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '[') {
        const char *end = strchr(p, ']');
        if (!end) {
            d->fail_line = d->line;
            err_input(d->err, d->path, d->line,
                      "section header without ']'; expected [name]");
            return NULL;
        }
        if (add_section(d, p + 1, (size_t)(end - p - 1), d->line) != 0) {
            d->fail_line = d->line;
            return NULL;
        }
    }
    return str;
}

static int handler(void *user, const char *section, const char *name,
                   const char *value)
{
    (void)section;
    inidoc *d = user;
    if (d->fail_line)
        return 0;
    if (d->cur_sec < 0) {
        d->fail_line = d->line;
        err_input(d->err, d->path, d->line,
                  "key '%s' before any section; expected a [section] first",
                  name);
        return 0;
    }
    if (!value)
        value = "";
    long dup = entry_index(d, d->cur_sec, name);
    if (dup >= 0) {
        d->fail_line = d->line;
        err_input(d->err, d->path, d->line,
                  "duplicate key '%s' in [%s] (first on line %d); "
                  "expected each key once",
                  name, d->secs[d->cur_sec].name, d->ents[dup].line);
        return 0;
    }
    if (d->n_ents == d->cap_ents) {
        size_t cap = d->cap_ents ? d->cap_ents * 2 : 32;
        ini_entry *p = realloc(d->ents, cap * sizeof *p);
        if (!p)
            goto nomem;
        d->ents = p;
        d->cap_ents = cap;
    }
    ini_entry *en = &d->ents[d->n_ents];
    en->section = d->cur_sec;
    en->line = d->line;
    en->used = 0;
    en->key = xstrdup(name);
    en->value = xstrdup(value);
    if (!en->key || !en->value) {
        free(en->key);
        free(en->value);
        goto nomem;
    }
    d->n_ents++;
    return 1;
nomem:
    d->fail_line = d->line;
    err_set(d->err, ERR_NOMEM, "out of memory");
    return 0;
}

static int parse(inidoc *d, err_t *e)
{
    /* inih's knobs are process-wide; these values are the only ones moesim
     * uses, so setting them on every parse is harmless. Multi-line values
     * are off so that every key is exactly one line. */
    ini_allow_multiline = 0;
    ini_use_stack = 0;
    ini_max_line = INI_LINE_MAX + 2;
    ini_initial_alloc = INI_LINE_MAX + 2; /* heap mode starts here */
    ini_allow_realloc = 0;
    ini_stop_on_first_error = 1;

    if (memchr(d->text, '\0', d->text_len))
        return err_input(e, d->path, 0,
                         "contains a NUL byte; expected a text INI file");
    d->err = e;
    d->cur_sec = -1;
    int rc = ini_parse_stream(reader, d, handler, d);
    if (d->fail_line)
        return e->code ? e->code : ERR_INPUT;
    if (rc > 0)
        return err_input(e, d->path, rc,
                         "cannot parse this line; expected 'key = value', "
                         "a [section] or a comment");
    if (rc < 0)
        return err_set(e, ERR_NOMEM, "%s: out of memory while parsing",
                       d->path);
    return 0;
}

static inidoc *doc_new(const char *name)
{
    inidoc *d = calloc(1, sizeof *d);
    if (!d)
        return NULL;
    d->path = xstrdup(name);
    if (!d->path) {
        free(d);
        return NULL;
    }
    return d;
}

int ini_load_string(const char *name, const char *text, inidoc **out,
                    err_t *e)
{
    *out = NULL;
    inidoc *d = doc_new(name);
    if (!d)
        return err_set(e, ERR_NOMEM, "out of memory");
    d->text_len = strlen(text);
    d->text = malloc(d->text_len + 1);
    if (!d->text) {
        ini_destroy(d);
        return err_set(e, ERR_NOMEM, "out of memory");
    }
    memcpy(d->text, text, d->text_len + 1);
    int rc = parse(d, e);
    if (rc != 0) {
        ini_destroy(d);
        return rc;
    }
    *out = d;
    return 0;
}

int ini_load(const char *path, inidoc **out, err_t *e)
{
    *out = NULL;
    int rc = ERR_NOMEM;
    FILE *f = fopen(path, "rb");
    if (!f)
        return err_input(e, path, 0, "cannot open: %s", strerror(errno));
    inidoc *d = doc_new(path);
    if (!d)
        goto fail;
    size_t cap = 4096;
    d->text = malloc(cap);
    if (!d->text)
        goto fail;
    for (;;) {
        if (d->text_len + 1 >= cap) {
            if (cap >= (size_t)64 << 20) {
                rc = err_input(e, path, 0, "larger than 64 MiB; expected a "
                                           "description file");
                goto fail_rc;
            }
            char *p = realloc(d->text, cap * 2);
            if (!p)
                goto fail;
            d->text = p;
            cap *= 2;
        }
        size_t got = fread(d->text + d->text_len, 1, cap - d->text_len - 1, f);
        d->text_len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        rc = err_input(e, path, 0, "read error: %s", strerror(errno));
        goto fail_rc;
    }
    d->text[d->text_len] = '\0';
    fclose(f);
    f = NULL;
    rc = parse(d, e);
    if (rc != 0)
        goto fail_rc;
    *out = d;
    return 0;
fail:
    rc = err_set(e, ERR_NOMEM, "out of memory reading %s", path);
fail_rc:
    if (f)
        fclose(f);
    ini_destroy(d);
    return rc;
}

void ini_destroy(inidoc *d)
{
    if (!d)
        return;
    for (size_t i = 0; i < d->n_ents; i++) {
        free(d->ents[i].key);
        free(d->ents[i].value);
    }
    for (size_t i = 0; i < d->n_secs; i++)
        free(d->secs[i].name);
    free(d->ents);
    free(d->secs);
    free(d->text);
    free(d->path);
    free(d);
}

const char *ini_path(const inidoc *d) { return d->path; }
const char *ini_text(const inidoc *d) { return d->text; }
size_t ini_section_count(const inidoc *d) { return d->n_secs; }
const char *ini_section_name(const inidoc *d, size_t i)
{
    return d->secs[i].name;
}
int ini_section_line(const inidoc *d, size_t i) { return d->secs[i].line; }
void ini_mark_section(inidoc *d, size_t i) { d->secs[i].used = 1; }

int ini_find_section(inidoc *d, const char *name)
{
    int i = section_index(d, name);
    if (i >= 0)
        d->secs[i].used = 1;
    return i;
}

static void accept_key(inidoc *d, int sec, const char *key)
{
    ini_section *s = &d->secs[sec];
    s->used = 1;
    for (int i = 0; i < s->n_accepted; i++)
        if (strcmp(s->accepted[i], key) == 0)
            return;
    if (s->n_accepted < MAX_ACCEPTED)
        s->accepted[s->n_accepted++] = key; /* callers pass literals */
}

static ini_entry *find(inidoc *d, int sec, const char *key)
{
    MOESIM_ASSERT(sec >= 0 && (size_t)sec < d->n_secs);
    accept_key(d, sec, key);
    long i = entry_index(d, sec, key);
    if (i < 0)
        return NULL;
    d->ents[i].used = 1;
    return &d->ents[i];
}

int ini_key_line(const inidoc *d, int sec, const char *key)
{
    long i = entry_index(d, sec, key);
    return i < 0 ? d->secs[sec].line : d->ents[i].line;
}

int ini_has_key(const inidoc *d, int sec, const char *key)
{
    return entry_index(d, sec, key) >= 0;
}

int ini_key_error(const inidoc *d, int sec, const char *key, err_t *e,
                  const char *fmt, ...)
{
    char body[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    return err_input(e, d->path, ini_key_line(d, sec, key), "[%s] %s: %s",
                     d->secs[sec].name, key, body);
}

void ini_ref_error(const inidoc *d, int sec, const char *key, err_t *e)
{
    char where[ERR_MSG_MAX];
    snprintf(where, sizeof where, "%s:%d: in %s file", d->path,
             ini_key_line(d, sec, key), key);
    err_prefix(e, where);
}

/* names[0..n-1] as "a, b, c" in buf, cut at size bytes. */
static void join_names(char *buf, size_t size, const char *const *names,
                       int n)
{
    buf[0] = '\0';
    size_t o = 0;
    for (int i = 0; i < n && o < size; i++)
        o += (size_t)snprintf(buf + o, size - o, "%s%s", i ? ", " : "",
                              names[i]);
}

/* Absent key: 1 when optional, an error naming the section when required. */
static int absent(inidoc *d, int sec, const char *key, int required,
                  err_t *e)
{
    if (!required)
        return 1;
    return err_input(e, d->path, d->secs[sec].line,
                     "[%s] is missing required key '%s'", d->secs[sec].name,
                     key);
}

int ini_get_str(inidoc *d, int sec, const char *key, int required,
                const char **out, err_t *e)
{
    ini_entry *en = find(d, sec, key);
    if (!en)
        return absent(d, sec, key, required, e);
    if (en->value[0] == '\0')
        return ini_key_error(d, sec, key, e, "empty value; expected text");
    *out = en->value;
    return 0;
}

int ini_get_long(inidoc *d, int sec, const char *key, int required, long min,
                 long max, long *out, err_t *e)
{
    ini_entry *en = find(d, sec, key);
    if (!en)
        return absent(d, sec, key, required, e);
    errno = 0;
    char *end = NULL;
    long v = strtol(en->value, &end, 10);
    if (en->value[0] == '\0' || *end != '\0' || errno == ERANGE)
        return ini_key_error(d, sec, key, e,
                             "'%s' is not a whole number; expected an "
                             "integer from %ld to %ld",
                             en->value, min, max);
    if (v < min || v > max)
        return ini_key_error(d, sec, key, e,
                             "%ld is out of range; expected %ld to %ld", v,
                             min, max);
    *out = v;
    return 0;
}

int ini_get_int(inidoc *d, int sec, const char *key, int required, int min,
                int max, int *out, err_t *e)
{
    long v = 0;
    int rc = ini_get_long(d, sec, key, required, min, max, &v, e);
    if (rc == 0)
        *out = (int)v;
    return rc;
}

static int parse_double(const char *s, double *out)
{
    errno = 0;
    char *end = NULL;
    double v = strtod(s, &end);
    while (end && isspace((unsigned char)*end))
        end++;
    if (s[0] == '\0' || end == s || *end != '\0' || errno == ERANGE ||
        !isfinite(v))
        return -1;
    *out = v;
    return 0;
}

int ini_get_double(inidoc *d, int sec, const char *key, int required,
                   double min, double max, double *out, err_t *e)
{
    ini_entry *en = find(d, sec, key);
    if (!en)
        return absent(d, sec, key, required, e);
    double v;
    if (parse_double(en->value, &v) != 0)
        return ini_key_error(d, sec, key, e,
                             "'%s' is not a number; expected a number from "
                             "%g to %g",
                             en->value, min, max);
    if (v < min || v > max)
        return ini_key_error(d, sec, key, e,
                             "%g is out of range; expected %g to %g", v, min,
                             max);
    *out = v;
    return 0;
}

int ini_get_bool(inidoc *d, int sec, const char *key, int required, int *out,
                 err_t *e)
{
    ini_entry *en = find(d, sec, key);
    if (!en)
        return absent(d, sec, key, required, e);
    static const char *const yes[] = {"yes", "true", "1", "on"};
    static const char *const no[] = {"no", "false", "0", "off"};
    for (int i = 0; i < 4; i++) {
        if (strcasecmp(en->value, yes[i]) == 0) {
            *out = 1;
            return 0;
        }
        if (strcasecmp(en->value, no[i]) == 0) {
            *out = 0;
            return 0;
        }
    }
    return ini_key_error(d, sec, key, e,
                         "'%s' is not a yes/no value; expected yes or no",
                         en->value);
}

int ini_get_enum(inidoc *d, int sec, const char *key, int required,
                 const char *const *names, int n, int *out, err_t *e)
{
    ini_entry *en = find(d, sec, key);
    if (!en)
        return absent(d, sec, key, required, e);
    for (int i = 0; i < n; i++) {
        if (strcmp(en->value, names[i]) == 0) {
            *out = i;
            return 0;
        }
    }
    char list[512];
    join_names(list, sizeof list, names, n);
    return ini_key_error(d, sec, key, e, "unknown value '%s'; expected one of %s",
                         en->value, list);
}

int ini_get_list(inidoc *d, int sec, const char *key, int required,
                 char *buf, char **item, int max_n, int *n_out, err_t *e)
{
    ini_entry *en = find(d, sec, key);
    if (!en)
        return absent(d, sec, key, required, e);
    if (en->value[0] == '\0')
        return ini_key_error(d, sec, key, e,
                             "empty value; expected a comma-separated list");
    snprintf(buf, INI_LINE_MAX + 1, "%s", en->value);
    int n = 0;
    char *p = buf;
    for (;;) {
        char *comma = strchr(p, ',');
        if (comma)
            *comma = '\0';
        while (isspace((unsigned char)*p))
            p++;
        char *end = p + strlen(p);
        while (end > p && isspace((unsigned char)end[-1]))
            *--end = '\0';
        if (*p == '\0')
            return ini_key_error(d, sec, key, e,
                                 "empty item in '%s'; expected a "
                                 "comma-separated list",
                                 en->value);
        if (n == max_n)
            return ini_key_error(d, sec, key, e,
                                 "more than %d items; expected at most %d",
                                 max_n, max_n);
        item[n++] = p;
        if (!comma)
            break;
        p = comma + 1;
    }
    *n_out = n;
    return 0;
}

int ini_get_double_list(inidoc *d, int sec, const char *key, int required,
                        double min, double max, double *out, int max_n,
                        int *n_out, err_t *e)
{
    MOESIM_ASSERT(max_n <= INI_LIST_MAX);
    char buf[INI_LINE_MAX + 1];
    char *item[INI_LIST_MAX];
    int n = 0;
    int rc = ini_get_list(d, sec, key, required, buf, item, max_n, &n, e);
    if (rc != 0)
        return rc;
    for (int i = 0; i < n; i++) {
        if (parse_double(item[i], &out[i]) != 0)
            return ini_key_error(d, sec, key, e,
                                 "'%s' is not a number; expected a "
                                 "comma-separated list of numbers",
                                 item[i]);
        if (out[i] < min || out[i] > max)
            return ini_key_error(d, sec, key, e,
                                 "%g is out of range; expected %g to %g",
                                 out[i], min, max);
    }
    *n_out = n;
    return 0;
}

int ini_check_unused(const inidoc *d, const char *expected_sections,
                     err_t *e)
{
    for (size_t i = 0; i < d->n_ents; i++) {
        const ini_entry *en = &d->ents[i];
        const ini_section *s = &d->secs[en->section];
        if (en->used || !s->used)
            continue;
        char list[1024];
        join_names(list, sizeof list, s->accepted, s->n_accepted);
        return err_input(e, d->path, en->line,
                         "unknown key '%s' in [%s]; expected one of: %s",
                         en->key, s->name, list);
    }
    for (size_t i = 0; i < d->n_secs; i++) {
        if (!d->secs[i].used)
            return err_input(e, d->path, d->secs[i].line,
                             "unknown section [%s]; expected %s",
                             d->secs[i].name, expected_sections);
    }
    return 0;
}

int ini_resolve_path(const char *base, const char *ref, char *out,
                     size_t out_size)
{
    int n;
    const char *slash = strrchr(base, '/');
    if (ref[0] == '/' || !slash)
        n = snprintf(out, out_size, "%s", ref);
    else
        n = snprintf(out, out_size, "%.*s/%s", (int)(slash - base), base, ref);
    return (n < 0 || (size_t)n >= out_size) ? -1 : 0;
}
