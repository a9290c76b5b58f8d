/*
 * trace_import: import of engine-recorded routing: vLLM's routed-expert
 * array ([tokens, moe_layers, top_k]) from a NumPy .npy file or a CSV file
 * into trace_routes_t, checked as it is read, and its writing as a trace
 * split into steps.
 */
#include "models/trace_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* ---- routes ----------------------------------------------------------- */

void trace_routes_destroy(trace_routes_t *r)
{
    if (!r)
        return;
    free(r->ids);
    free(r);
}

static int routes_alloc(trace_routes_t **out, uint32_t tokens,
                        uint32_t layers, uint32_t top_k, const char *path,
                        err_t *e)
{
    uint64_t n = (uint64_t)tokens * layers * top_k;
    if (n > UINT32_MAX)
        return err_input(e, path, 0, "%u tokens x %u layers x %u experts is "
                         "more than %u entries; split the file", tokens,
                         layers, top_k, UINT32_MAX);
    trace_routes_t *r = calloc(1, sizeof *r);
    if (!r || !(r->ids = malloc((size_t)(n ? n : 1) * sizeof *r->ids))) {
        free(r);
        return err_set(e, ERR_NOMEM, "%s: out of memory for %llu entries",
                       path, (unsigned long long)n);
    }
    r->tokens = tokens;
    r->layers = layers;
    r->top_k = top_k;
    *out = r;
    return 0;
}

/* A run of decimal digits at s, nothing before it (no space, no sign):
 * *v and *end past it; 0, -1 when s holds no digit first, -3 when the
 * number exceeds limit. */
static int dec_digits(const char *s, uint64_t limit, uint64_t *v,
                      const char **end)
{
    if (*s < '0' || *s > '9')
        return -1;
    char *after;
    errno = 0;
    unsigned long long x = strtoull(s, &after, 10);
    if (errno == ERANGE || x > limit)
        return -3;
    *v = x;
    *end = after;
    return 0;
}

/* ---- npy -------------------------------------------------------------- */

/* A cursor over the header's Python literal; s[n] is '\0'. */
typedef struct lit {
    const char *s;
    size_t n;
    size_t i;
} lit_t;

static void lit_ws(lit_t *c)
{
    while (c->i < c->n && (c->s[c->i] == ' ' || c->s[c->i] == '\t'))
        c->i++;
}

static int lit_eat(lit_t *c, char ch)
{
    lit_ws(c);
    if (c->i < c->n && c->s[c->i] == ch) {
        c->i++;
        return 1;
    }
    return 0;
}

/* A quoted string without escapes into out[cap]. */
static int lit_string(lit_t *c, char *out, size_t cap)
{
    lit_ws(c);
    if (c->i >= c->n || (c->s[c->i] != '\'' && c->s[c->i] != '"'))
        return -1;
    char q = c->s[c->i++];
    size_t len = 0;
    while (c->i < c->n && c->s[c->i] != q) {
        if (c->s[c->i] == '\\' || len + 1 >= cap)
            return -1;
        out[len++] = c->s[c->i++];
    }
    if (c->i >= c->n)
        return -1;
    c->i++;
    out[len] = '\0';
    return 0;
}

static int lit_word(lit_t *c, const char *w)
{
    lit_ws(c);
    size_t len = strlen(w);
    if (c->n - c->i >= len && memcmp(c->s + c->i, w, len) == 0) {
        c->i += len;
        return 1;
    }
    return 0;
}

/* A tuple of non-negative integers: (), (5,), (3, 2, 2). */
static int lit_shape(lit_t *c, uint64_t *dims, int max, int *ndim)
{
    *ndim = 0;
    if (!lit_eat(c, '('))
        return -1;
    for (;;) {
        if (lit_eat(c, ')'))
            return 0;
        lit_ws(c);
        const char *end;
        if (*ndim == max ||
            dec_digits(c->s + c->i, UINT32_MAX, &dims[*ndim], &end) < 0)
            return -1;
        c->i = (size_t)(end - c->s);
        (*ndim)++;
        if (!lit_eat(c, ',')) {
            if (lit_eat(c, ')'))
                return 0;
            return -1;
        }
    }
}

int trace_import_npy(const char *path, uint32_t experts,
                     trace_routes_t **out, err_t *e)
{
    FILE *f = NULL;
    char *text = NULL;
    trace_routes_t *routes = NULL;
    int rc;
    uint64_t size;

    if (experts == 0 || experts > PLACEMENT_MAX_EXPERTS)
        return err_set(e, ERR_INPUT, "npy import: experts (%u) must be 1..%u",
                       experts, PLACEMENT_MAX_EXPERTS);
    rc = trace_open_input(path, &f, &size, e);
    if (rc < 0)
        return rc;
    uint8_t pre[12];
    size_t got = fread(pre, 1, sizeof pre, f);
    if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) {
        rc = err_input(e, path, 0, "not a NumPy .npy file (no \\x93NUMPY "
                       "magic) (offset 0)");
        goto done;
    }
    uint32_t major = pre[6], minor = pre[7];
    uint64_t hlen, hstart;
    if (major == 1) {
        hlen = get_u16(pre + 8);
        hstart = 10;
    } else if (major == 2 || major == 3) {
        if (got < 12) {
            rc = err_input(e, path, 0, "truncated .npy preamble (offset %zu)",
                           got);
            goto done;
        }
        hlen = get_u32(pre + 8);
        hstart = 12;
    } else {
        rc = err_input(e, path, 0, ".npy format version %u.%u not supported "
                       "(1.0, 2.0, 3.0 are) (offset 6)", major, minor);
        goto done;
    }
    if (hlen > 65536 || hstart + hlen > size) {
        rc = err_input(e, path, 0, ".npy header of %llu bytes is %s (offset "
                       "8)", (unsigned long long)hlen,
                       hlen > 65536 ? "too long" : "cut short");
        goto done;
    }
    text = malloc((size_t)hlen + 1);
    if (!text) {
        rc = err_set(e, ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    if (fseeko(f, (off_t)hstart, SEEK_SET) != 0 ||
        fread(text, 1, (size_t)hlen, f) != hlen) {
        rc = err_input(e, path, 0, "cannot read the .npy header (offset "
                       "%llu)", (unsigned long long)hstart);
        goto done;
    }
    text[hlen] = '\0';

    /* {'descr': '<i2', 'fortran_order': False, 'shape': (T, L, K), } */
    lit_t c = {text, (size_t)hlen, 0};
    char descr[16] = "";
    int fortran = -1, ndim = -1, have_descr = 0;
    uint64_t dims[8];
    if (!lit_eat(&c, '{'))
        goto syntax;
    for (;;) {
        char key[32];
        if (lit_eat(&c, '}'))
            break;
        if (lit_string(&c, key, sizeof key) < 0 || !lit_eat(&c, ':'))
            goto syntax;
        if (strcmp(key, "descr") == 0) {
            if (lit_string(&c, descr, sizeof descr) < 0)
                goto syntax;
            have_descr = 1;
        } else if (strcmp(key, "fortran_order") == 0) {
            if (lit_word(&c, "True"))
                fortran = 1;
            else if (lit_word(&c, "False"))
                fortran = 0;
            else
                goto syntax;
        } else if (strcmp(key, "shape") == 0) {
            if (lit_shape(&c, dims, 8, &ndim) < 0)
                goto syntax;
        } else {
            rc = err_input(e, path, 0, ".npy header has unexpected key '%s' "
                           "(offset %llu)", key,
                           (unsigned long long)(hstart + c.i));
            goto done;
        }
        if (!lit_eat(&c, ',')) {
            if (!lit_eat(&c, '}'))
                goto syntax;
            break;
        }
    }
    lit_ws(&c);
    while (c.i < c.n && (c.s[c.i] == ' ' || c.s[c.i] == '\n'))
        c.i++;
    if (c.i != c.n)
        goto syntax;
    if (!have_descr || fortran < 0 || ndim < 0) {
        rc = err_input(e, path, 0, ".npy header lacks descr, fortran_order "
                       "or shape (offset %llu)", (unsigned long long)hstart);
        goto done;
    }
    size_t item;
    if (strcmp(descr, "<i2") == 0)
        item = 2;
    else if (strcmp(descr, "<i4") == 0)
        item = 4;
    else if (strcmp(descr, "<i8") == 0)
        item = 8;
    else {
        rc = err_input(e, path, 0, ".npy dtype '%s' not supported: expected "
                       "little-endian signed integers '<i2', '<i4' or '<i8' "
                       "(convert with a.astype('<i2')) (offset %llu)", descr,
                       (unsigned long long)hstart);
        goto done;
    }
    if (fortran) {
        rc = err_input(e, path, 0, ".npy array is in Fortran order; save a "
                       "C-order array (np.ascontiguousarray) (offset %llu)",
                       (unsigned long long)hstart);
        goto done;
    }
    if (ndim != 3) {
        rc = err_input(e, path, 0, ".npy array has %d dimensions; expected "
                       "3: (tokens, moe_layers, top_k) (offset %llu)", ndim,
                       (unsigned long long)hstart);
        goto done;
    }
    if (dims[0] == 0 || dims[1] == 0 || dims[2] == 0 ||
        dims[1] > PLACEMENT_MAX_LAYERS || dims[2] > experts) {
        rc = err_input(e, path, 0, ".npy shape (%llu, %llu, %llu): need "
                       "tokens >= 1, 1..%u layers and 1..experts (%u) per "
                       "token (offset %llu)", (unsigned long long)dims[0],
                       (unsigned long long)dims[1],
                       (unsigned long long)dims[2], PLACEMENT_MAX_LAYERS,
                       experts, (unsigned long long)hstart);
        goto done;
    }
    uint64_t data_at = hstart + hlen;
    uint64_t count = dims[0] * dims[1] * dims[2];
    if (count > UINT32_MAX || count * item != size - data_at) {
        rc = err_input(e, path, 0, ".npy data is %llu bytes; shape and "
                       "dtype need %llu (offset %llu)",
                       (unsigned long long)(size - data_at),
                       (unsigned long long)(count * item),
                       (unsigned long long)data_at);
        goto done;
    }
    rc = routes_alloc(&routes, (uint32_t)dims[0], (uint32_t)dims[1],
                      (uint32_t)dims[2], path, e);
    if (rc < 0)
        goto done;
    uint8_t chunk[8192];
    uint64_t i = 0;
    while (i < count) {
        size_t want = (size_t)((count - i) * item < sizeof chunk
                                   ? (count - i) * item
                                   : sizeof chunk);
        if (fread(chunk, 1, want, f) != want) {
            rc = err_input(e, path, 0, ".npy data cut short (offset %llu)",
                           (unsigned long long)(data_at + i * item));
            goto done;
        }
        for (size_t j = 0; j < want / item; j++, i++) {
            const uint8_t *p = chunk + j * item;
            int64_t v = item == 2   ? (int16_t)get_u16(p)
                        : item == 4 ? (int32_t)get_u32(p)
                                    : (int64_t)get_u64(p);
            if (v < 0 || v >= (int64_t)experts) {
                uint64_t tk = i / (dims[1] * dims[2]);
                uint64_t ly = i / dims[2] % dims[1];
                rc = err_input(e, path, 0, "token %llu layer %llu slot %llu: "
                               "expert id %lld outside 0..%u (offset %llu)",
                               (unsigned long long)tk,
                               (unsigned long long)ly,
                               (unsigned long long)(i % dims[2]),
                               (long long)v, experts - 1u,
                               (unsigned long long)(data_at + i * item));
                goto done;
            }
            routes->ids[i] = (uint16_t)v;
        }
    }
    *out = routes;
    routes = NULL;
    rc = 0;
    goto done;
syntax:
    rc = err_input(e, path, 0, ".npy header is not the dictionary NumPy "
                   "writes, near \"%.24s\" (offset %llu)", text + c.i,
                   (unsigned long long)(hstart + c.i));
done:
    trace_routes_destroy(routes);
    free(text);
    if (f)
        fclose(f);
    return rc;
}

/* ---- csv -------------------------------------------------------------- */

#define CSV_MAX_LINE_BYTES (1u << 20)

/* A data row as read; its K ids are kept apart, at row_ids[row * K]. */
typedef struct csv_row {
    uint32_t token;
    uint32_t layer;
    uint32_t line;
} csv_row_t;

/* Reads one line (without its '\n') into buf[CSV_MAX_LINE_BYTES + 1].
 * 1 line read, 0 end of file, -1 line too long, -2 NUL byte, -3 read
 * error. A bounded buffer, unlike getline, which would allocate whatever
 * length a file claims for its line. */
static int csv_read_line(FILE *f, char *buf, size_t *len)
{
    size_t n = 0;
    int c;
    while ((c = getc(f)) != EOF && c != '\n') {
        if (c == 0)
            return -2;
        if (n == CSV_MAX_LINE_BYTES)
            return -1;
        buf[n++] = (char)c;
    }
    if (c == EOF) {
        if (ferror(f))
            return -3;
        if (n == 0)
            return 0;
    }
    buf[n] = '\0';
    *len = n;
    return 1;
}

/* Splits line (modified in place) at commas into at most max fields. */
static int csv_split(char *line, char **fields, int max)
{
    int n = 0;
    char *p = line;
    for (;;) {
        if (n == max)
            return -1;
        fields[n++] = p;
        char *comma = strchr(p, ',');
        if (!comma)
            return n;
        *comma = '\0';
        p = comma + 1;
    }
}

/* A non-negative decimal field, spaces around allowed: 0, -1 not a
 * number, -2 negative, -3 above limit. */
static int csv_uint(const char *s, uint64_t limit, uint64_t *out)
{
    while (*s == ' ')
        s++;
    if (*s == '-')
        return -2;
    uint64_t v;
    int rc = dec_digits(s, limit, &v, &s);
    if (rc < 0)
        return rc;
    while (*s == ' ')
        s++;
    if (*s)
        return -1;
    *out = v;
    return 0;
}

static void csv_trim_name(char *s, char **out)
{
    while (*s == ' ')
        s++;
    size_t n = strlen(s);
    while (n && s[n - 1] == ' ')
        s[--n] = '\0';
    *out = s;
}

int trace_import_csv(const char *path, uint32_t experts,
                     trace_routes_t **out, err_t *e)
{
    FILE *f = NULL;
    char *line = NULL;
    char **fields = NULL;
    csv_row_t *row = NULL;
    uint16_t *row_ids = NULL;
    uint32_t *where = NULL;
    size_t rows = 0, cap_rows = 0, cap_ids = 0;
    trace_routes_t *routes = NULL;
    uint32_t K = 0, max_token = 0, max_layer = 0, max_token_line = 0;
    int rc = 0;
    int lineno = 0;

    if (experts == 0 || experts > PLACEMENT_MAX_EXPERTS)
        return err_set(e, ERR_INPUT, "csv import: experts (%u) must be 1..%u",
                       experts, PLACEMENT_MAX_EXPERTS);
    f = fopen(path, "r");
    if (!f)
        return err_set(e, ERR_IO, "%s: cannot open: %s", path,
                       strerror(errno));
    fields = malloc((PLACEMENT_MAX_EXPERTS + 3u) * sizeof *fields);
    line = malloc(CSV_MAX_LINE_BYTES + 1u);
    if (!fields || !line)
        goto nomem;
    size_t len;
    int got;
    while ((got = csv_read_line(f, line, &len)) != 0) {
        lineno++;
        if (got == -1) {
            rc = err_input(e, path, lineno, "line longer than %u bytes",
                           CSV_MAX_LINE_BYTES);
            goto done;
        }
        if (got == -2) {
            rc = err_input(e, path, lineno, "line holds a NUL byte; not a "
                           "text CSV file");
            goto done;
        }
        if (got == -3) {
            rc = err_set(e, ERR_IO, "%s: read failed: %s", path,
                         strerror(errno));
            goto done;
        }
        if (len > 0 && line[len - 1] == '\r')
            line[--len] = '\0';
        char *text = line;
        if (lineno == 1 && strncmp(text, "\xef\xbb\xbf", 3) == 0)
            text += 3; /* UTF-8 byte order mark */
        if (K == 0) {
            /* header: token,layer,e0,...,e{K-1} */
            int n = csv_split(text, fields, (int)PLACEMENT_MAX_EXPERTS + 3);
            char *a = NULL, *b = NULL;
            if (n >= 2) {
                csv_trim_name(fields[0], &a);
                csv_trim_name(fields[1], &b);
            }
            if (n < 3 || strcmp(a, "token") != 0 || strcmp(b, "layer") != 0) {
                rc = err_input(e, path, lineno,
                               "expected the header line "
                               "\"token,layer,e0,...,e{K-1}\" with at least "
                               "one expert column");
                goto done;
            }
            K = (uint32_t)n - 2u;
            if (K > experts) {
                rc = err_input(e, path, lineno, "%u expert columns but only "
                               "%u experts", K, experts);
                goto done;
            }
            continue;
        }
        if (len == 0)
            continue;
        int n = csv_split(text, fields, (int)K + 2);
        if (n != (int)K + 2) {
            rc = err_input(e, path, lineno, "expected %u fields as in the "
                           "header, found %s%d", K + 2u, n < 0 ? "more than "
                           : "", n < 0 ? (int)K + 2 : n);
            goto done;
        }
        uint64_t tok, lay;
        if (csv_uint(fields[0], UINT32_MAX - 1u, &tok) < 0 ||
            csv_uint(fields[1], PLACEMENT_MAX_LAYERS - 1u, &lay) < 0) {
            rc = err_input(e, path, lineno, "token \"%s\" / layer \"%s\": "
                           "need integers 0..%u / 0..%u", fields[0], fields[1],
                           UINT32_MAX - 1u, PLACEMENT_MAX_LAYERS - 1u);
            goto done;
        }
        if (rows == UINT32_MAX) {
            rc = err_input(e, path, lineno, "more than %u rows", UINT32_MAX);
            goto done;
        }
        if (trace_grow(&row, &cap_rows, rows + 1, sizeof *row) < 0 ||
            trace_grow(&row_ids, &cap_ids, (rows + 1) * K, sizeof *row_ids) < 0)
            goto nomem;
        for (uint32_t j = 0; j < K; j++) {
            uint64_t v;
            int st = csv_uint(fields[2 + j], UINT32_MAX, &v);
            if (st < 0 || v >= experts) {
                rc = err_input(e, path, lineno, "column %u: expert id \"%s\" "
                               "%s 0..%u", j + 3u, fields[2 + j],
                               st == -2 ? "is negative; need" :
                               st == -1 ? "is not an integer in" :
                               "outside", experts - 1u);
                goto done;
            }
            row_ids[rows * K + j] = (uint16_t)v;
        }
        row[rows] = (csv_row_t){(uint32_t)tok, (uint32_t)lay, (uint32_t)lineno};
        if (tok >= max_token) {
            max_token = (uint32_t)tok;
            max_token_line = (uint32_t)lineno;
        }
        if (lay > max_layer)
            max_layer = (uint32_t)lay;
        rows++;
    }
    if (K == 0 || rows == 0) {
        rc = err_input(e, path, 0, "no %s", K == 0 ? "header line" :
                       "data rows");
        goto done;
    }
    uint64_t T = (uint64_t)max_token + 1u, L = (uint64_t)max_layer + 1u;
    if (T * L > 2u * (uint64_t)rows + 1024u) {
        rc = err_input(e, path, (int)max_token_line, "token %u needs %llu "
                       "tokens x %llu layers = %llu rows; the file has %zu",
                       max_token, (unsigned long long)T,
                       (unsigned long long)L, (unsigned long long)(T * L),
                       rows);
        goto done;
    }
    where = calloc((size_t)(T * L), sizeof *where);
    if (!where)
        goto nomem;
    for (size_t i = 0; i < rows; i++) {
        size_t at = (size_t)row[i].token * (size_t)L + row[i].layer;
        if (where[at]) {
            rc = err_input(e, path, (int)row[i].line, "token %u layer %u "
                           "already given on line %u", row[i].token,
                           row[i].layer, row[where[at] - 1u].line);
            goto done;
        }
        where[at] = (uint32_t)i + 1u;
    }
    for (size_t at = 0; at < T * L; at++) {
        if (!where[at]) {
            rc = err_input(e, path, 0, "no row for token %llu layer %llu "
                           "(tokens 0..%u and layers 0..%u appear)",
                           (unsigned long long)(at / L),
                           (unsigned long long)(at % L), max_token,
                           max_layer);
            goto done;
        }
    }
    rc = routes_alloc(&routes, (uint32_t)T, (uint32_t)L, K, path, e);
    if (rc < 0)
        goto done;
    for (size_t at = 0; at < T * L; at++)
        memcpy(routes->ids + at * K, row_ids + (size_t)(where[at] - 1u) * K,
               K * sizeof *row_ids);
    *out = routes;
    routes = NULL;
    rc = 0;
    goto done;
nomem:
    rc = err_set(e, ERR_NOMEM, "%s: out of memory", path);
done:
    trace_routes_destroy(routes);
    free(where);
    free(row_ids);
    free(row);
    free(fields);
    free(line);
    if (f)
        fclose(f);
    return rc;
}

/* ---- routes -> trace -------------------------------------------------- */

int trace_routes_write(const trace_routes_t *routes, const char *path,
                       const placement_t *pl, const trace_meta_t *meta,
                       const trace_split_t *split, err_t *e)
{
    trace_writer_t *w = NULL;
    uint16_t *src = NULL, *ids = NULL;
    int rc;
    uint32_t T = routes->tokens, L = routes->layers, K = routes->top_k;
    uint32_t N = placement_experts(pl), D = placement_devices(pl);
    if (L != placement_layers(pl))
        return err_set(e, ERR_INPUT, "%s: routes have %u MoE layers, the "
                       "placement %u", path, L, placement_layers(pl));
    if (K == 0 || K > N)
        return err_set(e, ERR_INPUT, "%s: routes have %u experts per token, "
                       "the placement %u experts", path, K, N);
    uint32_t per_step = split && split->tokens_per_step ? split->tokens_per_step
                                                        : T;
    if (per_step > TRACE_MAX_TOKENS_PER_STEP)
        per_step = TRACE_MAX_TOKENS_PER_STEP;
    if (TRACE_LAYER_OVERHEAD_BYTES + 2u * (uint64_t)per_step * K >
        TRACE_MAX_BLOCK_BYTES)
        return err_set(e, ERR_INPUT,
                       "%s: %u tokens x %u experts per step make layer "
                       "blocks above %u bytes; split into smaller steps",
                       path, per_step, K, TRACE_MAX_BLOCK_BYTES);
    trace_src_assign_t how = split ? split->src_assign : TRACE_SRC_BLOCKS;

    trace_meta_t m = meta ? *meta : (trace_meta_t){0};
    m.flags |= TRACE_FLAG_IMPORTED;
    if (m.top_k_max == 0)
        m.top_k_max = K;
    rc = trace_writer_create(&w, path, &m, pl, e);
    if (rc < 0)
        return rc;
    src = malloc((size_t)per_step * sizeof *src);
    ids = malloc((size_t)per_step * K * sizeof *ids);
    if (!src || !ids) {
        rc = err_set(e, ERR_NOMEM, "%s: out of memory", path);
        goto done;
    }
    for (uint32_t t0 = 0; t0 < T; t0 += per_step) {
        uint32_t n = T - t0 < per_step ? T - t0 : per_step;
        for (uint32_t i = 0; i < n; i++)
            src[i] = (uint16_t)(how == TRACE_SRC_ROUND_ROBIN
                                    ? i % D
                                    : (uint32_t)((uint64_t)i * D / n));
        rc = trace_writer_step(w, n, src, e);
        if (rc < 0)
            goto done;
        for (uint32_t l = 0; l < L; l++) {
            for (uint32_t i = 0; i < n; i++)
                memcpy(ids + (size_t)i * K,
                       routes->ids + ((size_t)(t0 + i) * L + l) * K,
                       K * sizeof *ids);
            trace_layer_t layer = {n, K, n * K, ids, NULL};
            rc = trace_writer_layer(w, &layer, e);
            if (rc < 0)
                goto done;
        }
    }
    rc = trace_writer_finish(w, e);
done:
    free(ids);
    free(src);
    trace_writer_destroy(w);
    return rc;
}
