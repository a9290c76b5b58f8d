/*
 * trace: writer, verifying reader, and import of engine-recorded routing.
 * The byte layout is in trace.h and models/TRACE_FORMAT.md.
 *
 * Every size read from a file is checked against the bytes that are
 * actually left in the file and against a fixed cap before anything is
 * allocated, so a malicious file can make us allocate at most a small
 * multiple of its own size (offsets take 4 bytes per token where the file
 * spends at least 1 on its count).
 */
#include "models/trace.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

static const char MAGIC[8] = {'M', 'O', 'E', 'T', 'R', 'A', 'C', 'E'};
static const char TRAILER_MAGIC[8] = {'M', 'O', 'E', 'T', 'R', 'A', 'I', 'L'};
static const char STEP_MAGIC[4] = {'S', 'T', 'E', 'P'};
static const char LAYER_MAGIC[4] = {'L', 'A', 'Y', 'R'};

enum { KIND_FIXED = 0, KIND_VARIABLE = 1 };
#define KNOWN_FLAGS (TRACE_FLAG_IMPORTED | TRACE_FLAG_VARIABLE)
/* An unsigned LEB128 count <= 32767 takes at most 3 bytes. */
#define LEB_MAX_BYTES 3u

/* ---- bytes ------------------------------------------------------------ */

uint64_t trace_fnv1a64(uint64_t h, const void *bytes, size_t n)
{
    const uint8_t *p = bytes;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void put_u16(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static void put_u64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

static uint32_t leb_bytes(uint32_t v)
{
    uint32_t n = 1;
    while (v >= 0x80u) {
        v >>= 7;
        n++;
    }
    return n;
}

static uint8_t *leb_put(uint8_t *p, uint32_t v)
{
    while (v >= 0x80u) {
        *p++ = (uint8_t)(v | 0x80u);
        v >>= 7;
    }
    *p++ = (uint8_t)v;
    return p;
}

/* Grows *buf to hold `need` elements of `size` bytes (doubling). */
static int grow(void *bufp, size_t *cap, size_t need, size_t size)
{
    void **buf = bufp;
    if (need <= *cap)
        return 0;
    size_t n = *cap ? *cap : 256;
    while (n < need)
        n = n > SIZE_MAX / 2 ? need : n * 2;
    if (n > SIZE_MAX / size)
        return ERR_NOMEM;
    void *p = realloc(*buf, n * size);
    if (!p)
        return ERR_NOMEM;
    *buf = p;
    *cap = n;
    return 0;
}

void trace_layer_token(const trace_layer_t *layer, uint32_t t,
                       uint32_t *first, uint32_t *count)
{
    MOESIM_ASSERT(t < layer->tokens);
    if (layer->offsets) {
        *first = layer->offsets[t];
        *count = layer->offsets[t + 1u] - layer->offsets[t];
    } else {
        *first = t * layer->k;
        *count = layer->k;
    }
}

/* ---- writer ----------------------------------------------------------- */

struct trace_writer {
    char *path;           /* final name, owned */
    char *tmp_path;       /* the file being written, owned */
    FILE *f;
    uint64_t hash;        /* FNV-1a 64 of every byte written so far */
    uint64_t offset;
    uint32_t layers;
    uint32_t experts;
    uint32_t devices;
    uint32_t top_k_max;
    uint32_t flags;
    uint32_t step_tokens; /* tokens of the open step */
    uint32_t next_layer;  /* == layers when no step is open */
    uint64_t steps;
    uint64_t tokens;
    uint64_t entries;
    uint8_t *buf;
    size_t buf_cap;
    int failed;           /* an I/O error happened; every call fails */
    int finished;
};

static int writer_io_error(trace_writer_t *w, const char *what, err_t *e)
{
    w->failed = 1;
    return err_set(e, ERR_IO, "%s: %s: %s (offset %llu)", w->path, what,
                   strerror(errno), (unsigned long long)w->offset);
}

static int writer_put(trace_writer_t *w, const uint8_t *p, size_t n, err_t *e)
{
    if (n && fwrite(p, 1, n, w->f) != n)
        return writer_io_error(w, "write failed", e);
    w->hash = trace_fnv1a64(w->hash, p, n);
    w->offset += n;
    return 0;
}

static int writer_usable(trace_writer_t *w, err_t *e)
{
    if (w->finished)
        return err_set(e, ERR_INPUT, "trace writer %s: already finished",
                       w->path);
    if (w->failed)
        return err_set(e, ERR_IO, "trace writer %s: an earlier write failed",
                       w->path);
    return 0;
}

static int copy_name(char *dst, const char *src, const char *what, err_t *e)
{
    memset(dst, 0, TRACE_NAME_BYTES);
    if (!src)
        return 0;
    size_t n = strlen(src);
    if (n >= TRACE_NAME_BYTES)
        return err_set(e, ERR_INPUT,
                       "trace writer: %s name \"%.20s...\" is %zu bytes, at "
                       "most %u",
                       what, src, n, TRACE_NAME_BYTES - 1u);
    memcpy(dst, src, n);
    return 0;
}

/* Encodes the header into w->buf and its size into *bytes. */
static int writer_header(trace_writer_t *w, const trace_meta_t *meta,
                         const placement_t *pl, size_t *bytes, err_t *e)
{
    uint32_t L = placement_layers(pl), S = placement_slots(pl);
    size_t H = TRACE_HEADER_FIXED_BYTES + 4u * (size_t)L * S + 8u;
    if (H > TRACE_MAX_BLOCK_BYTES)
        return err_set(e, ERR_INPUT,
                       "trace writer: placement tables of %u layers x %u "
                       "slots exceed the %u-byte header limit",
                       L, S, TRACE_MAX_BLOCK_BYTES);
    if (grow(&w->buf, &w->buf_cap, H, 1) < 0)
        return err_set(e, ERR_NOMEM, "trace writer: out of memory");
    uint8_t *p = w->buf;
    memset(p, 0, TRACE_HEADER_FIXED_BYTES);
    memcpy(p, MAGIC, 8);
    put_u16(p + 8, TRACE_VERSION_MAJOR);
    put_u16(p + 10, TRACE_VERSION_MINOR);
    put_u32(p + 12, (uint32_t)H);
    put_u64(p + 16, meta->seed);
    put_u32(p + 24, L);
    put_u32(p + 28, placement_experts(pl));
    put_u32(p + 32, placement_devices(pl));
    put_u32(p + 36, placement_devices_per_node(pl));
    put_u32(p + 40, w->top_k_max);
    put_u32(p + 44, S);
    put_u32(p + 48, w->flags);
    int rc;
    if ((rc = copy_name((char *)p + 56, meta->model, "model", e)) < 0 ||
        (rc = copy_name((char *)p + 120, meta->policy, "policy", e)) < 0 ||
        (rc = copy_name((char *)p + 184, meta->router, "router", e)) < 0 ||
        (rc = copy_name((char *)p + 248,
                        meta->placement ? meta->placement
                                        : placement_policy_name(
                                              placement_policy(pl)),
                        "placement", e)) < 0)
        return rc;
    uint8_t *se = p + TRACE_HEADER_FIXED_BYTES;
    uint8_t *sd = se + 2u * (size_t)L * S;
    for (uint32_t l = 0; l < L; l++) {
        for (uint32_t q = 0; q < S; q++) {
            size_t i = (size_t)l * S + q;
            put_u16(se + 2 * i, placement_slot_expert(pl, l, q));
            put_u16(sd + 2 * i, placement_slot_device(pl, l, q));
        }
    }
    put_u64(p + H - 8, trace_fnv1a64(TRACE_FNV1A64_INIT, p, H - 8));
    *bytes = H;
    return 0;
}

int trace_writer_create(trace_writer_t **out, const char *path,
                        const trace_meta_t *meta, const placement_t *pl,
                        err_t *e)
{
    trace_writer_t *w = NULL;
    int fd = -1;
    int rc;
    if (!path || !meta || !pl)
        return err_set(e, ERR_INPUT, "trace writer: path, meta and placement "
                                     "are required");
    uint32_t N = placement_experts(pl);
    if (meta->top_k_max == 0 || meta->top_k_max > N)
        return err_set(e, ERR_INPUT,
                       "trace writer: top_k_max (%u) must be 1..experts (%u)",
                       meta->top_k_max, N);
    if (meta->flags & ~KNOWN_FLAGS)
        return err_set(e, ERR_INPUT, "trace writer: unknown flags 0x%x",
                       meta->flags & ~KNOWN_FLAGS);

    w = calloc(1, sizeof *w);
    if (!w)
        goto nomem;
    w->path = strdup(path);
    size_t n = strlen(path);
    w->tmp_path = malloc(n + 8);
    if (!w->path || !w->tmp_path)
        goto nomem;
    memcpy(w->tmp_path, path, n);
    memcpy(w->tmp_path + n, ".XXXXXX", 8);
    w->hash = TRACE_FNV1A64_INIT;
    w->layers = placement_layers(pl);
    w->experts = N;
    w->devices = placement_devices(pl);
    w->top_k_max = meta->top_k_max;
    w->flags = meta->flags;
    w->next_layer = w->layers;

    size_t H = 0;
    rc = writer_header(w, meta, pl, &H, e);
    if (rc < 0)
        goto fail;
    fd = mkstemp(w->tmp_path);
    if (fd < 0) {
        free(w->tmp_path);
        w->tmp_path = NULL; /* nothing to remove */
        rc = err_set(e, ERR_IO, "%s: cannot create a temporary file next to "
                     "it: %s", path, strerror(errno));
        goto fail;
    }
    /* mkstemp makes the file 0600; a trace is meant to be shared. */
    (void)fchmod(fd, 0644);
    w->f = fdopen(fd, "wb");
    if (!w->f) {
        rc = err_set(e, ERR_IO, "%s: %s", path, strerror(errno));
        close(fd);
        goto fail;
    }
    rc = writer_put(w, w->buf, H, e);
    if (rc < 0)
        goto fail;
    *out = w;
    return 0;
nomem:
    rc = err_set(e, ERR_NOMEM, "trace writer: out of memory");
fail:
    trace_writer_destroy(w);
    return rc;
}

int trace_writer_step(trace_writer_t *w, uint32_t tokens,
                      const uint16_t *src_device, err_t *e)
{
    int rc = writer_usable(w, e);
    if (rc < 0)
        return rc;
    if (w->next_layer < w->layers)
        return err_set(e, ERR_INPUT,
                       "trace writer: step %llu has %u of %u layers; add the "
                       "rest before the next step",
                       (unsigned long long)w->steps - 1u, w->next_layer,
                       w->layers);
    if (w->steps >= UINT32_MAX)
        return err_set(e, ERR_INPUT, "trace writer: more than %u steps",
                       UINT32_MAX);
    if (tokens == 0 || tokens > TRACE_MAX_TOKENS_PER_STEP || !src_device)
        return err_set(e, ERR_INPUT,
                       "trace writer: step %llu: tokens (%u) must be 1..%u "
                       "with their source devices",
                       (unsigned long long)w->steps, tokens,
                       TRACE_MAX_TOKENS_PER_STEP);
    size_t bytes = TRACE_STEP_OVERHEAD_BYTES + 2u * (size_t)tokens;
    if (grow(&w->buf, &w->buf_cap, bytes, 1) < 0)
        return err_set(e, ERR_NOMEM, "trace writer: out of memory");
    uint8_t *p = w->buf;
    memcpy(p, STEP_MAGIC, 4);
    put_u32(p + 4, (uint32_t)w->steps);
    put_u32(p + 8, tokens);
    put_u32(p + 12, 0);
    for (uint32_t t = 0; t < tokens; t++) {
        if (src_device[t] >= w->devices)
            return err_set(e, ERR_INPUT,
                           "trace writer: step %llu token %u: source device "
                           "%u >= devices (%u)",
                           (unsigned long long)w->steps, t, src_device[t],
                           w->devices);
        put_u16(p + 16 + 2u * (size_t)t, src_device[t]);
    }
    put_u64(p + bytes - 8, trace_fnv1a64(TRACE_FNV1A64_INIT, p, bytes - 8));
    rc = writer_put(w, p, bytes, e);
    if (rc < 0)
        return rc;
    w->steps++;
    w->tokens += tokens;
    w->step_tokens = tokens;
    w->next_layer = 0;
    return 0;
}

int trace_writer_layer(trace_writer_t *w, const trace_layer_t *layer,
                       err_t *e)
{
    int rc = writer_usable(w, e);
    if (rc < 0)
        return rc;
    unsigned long long s = (unsigned long long)w->steps - 1u;
    uint32_t l = w->next_layer;
    if (l >= w->layers)
        return err_set(e, ERR_INPUT,
                       "trace writer: no step open for another layer (%u "
                       "layers per step)",
                       w->layers);
    uint32_t T = w->step_tokens;
    if (!layer || layer->tokens != T)
        return err_set(e, ERR_INPUT,
                       "trace writer: step %llu layer %u has %u tokens, the "
                       "step has %u",
                       s, l, layer ? layer->tokens : 0u, T);
    int variable = layer->offsets != NULL;
    uint32_t counts_bytes = 0;
    if (!variable) {
        if (layer->k == 0 || layer->k > w->top_k_max)
            return err_set(e, ERR_INPUT,
                           "trace writer: step %llu layer %u: k (%u) must be "
                           "1..top_k_max (%u)",
                           s, l, layer->k, w->top_k_max);
        if ((uint64_t)T * layer->k != layer->entries)
            return err_set(e, ERR_INPUT,
                           "trace writer: step %llu layer %u: %u entries, "
                           "expected tokens x k = %llu",
                           s, l, layer->entries,
                           (unsigned long long)T * layer->k);
    } else {
        if (!(w->flags & TRACE_FLAG_VARIABLE))
            return err_set(e, ERR_INPUT,
                           "trace writer: step %llu layer %u is variable-count "
                           "but the trace was opened without "
                           "TRACE_FLAG_VARIABLE",
                           s, l);
        if (layer->k != 0 || layer->offsets[0] != 0 ||
            layer->offsets[T] != layer->entries)
            return err_set(e, ERR_INPUT,
                           "trace writer: step %llu layer %u: variable layer "
                           "needs k = 0, offsets[0] = 0 and offsets[tokens] = "
                           "entries (%u)",
                           s, l, layer->entries);
        for (uint32_t t = 0; t < T; t++) {
            uint32_t a = layer->offsets[t], b = layer->offsets[t + 1u];
            if (b < a || b - a > w->experts)
                return err_set(e, ERR_INPUT,
                               "trace writer: step %llu layer %u token %u: "
                               "offsets %u..%u give a bad count (0..%u)",
                               s, l, t, a, b, w->experts);
            counts_bytes += leb_bytes(b - a);
        }
    }
    uint64_t bytes64 = TRACE_LAYER_OVERHEAD_BYTES + (uint64_t)counts_bytes +
                       2u * (uint64_t)layer->entries;
    if (bytes64 > TRACE_MAX_BLOCK_BYTES)
        return err_set(e, ERR_INPUT,
                       "trace writer: step %llu layer %u: block of %llu bytes "
                       "exceeds the %u-byte limit; use smaller steps",
                       s, l, (unsigned long long)bytes64,
                       TRACE_MAX_BLOCK_BYTES);
    if (layer->entries && !layer->ids)
        return err_set(e, ERR_INPUT, "trace writer: step %llu layer %u: no ids",
                       s, l);
    size_t bytes = (size_t)bytes64;
    if (grow(&w->buf, &w->buf_cap, bytes, 1) < 0)
        return err_set(e, ERR_NOMEM, "trace writer: out of memory");
    uint8_t *p = w->buf;
    memcpy(p, LAYER_MAGIC, 4);
    put_u32(p + 4, (uint32_t)s);
    put_u32(p + 8, l);
    put_u16(p + 12, variable ? KIND_VARIABLE : KIND_FIXED);
    put_u16(p + 14, layer->k);
    put_u32(p + 16, layer->entries);
    put_u32(p + 20, counts_bytes);
    uint8_t *q = p + TRACE_LAYER_OVERHEAD_BYTES - 8u;
    if (variable)
        for (uint32_t t = 0; t < T; t++)
            q = leb_put(q, layer->offsets[t + 1u] - layer->offsets[t]);
    for (uint32_t i = 0; i < layer->entries; i++) {
        uint16_t v = layer->ids[i];
        if ((v & TRACE_EXPERT_MASK) >= w->experts)
            return err_set(e, ERR_INPUT,
                           "trace writer: step %llu layer %u entry %u: expert "
                           "%u >= experts (%u)",
                           s, l, i, v & TRACE_EXPERT_MASK, w->experts);
        put_u16(q, v);
        q += 2;
    }
    put_u64(q, trace_fnv1a64(TRACE_FNV1A64_INIT, p, bytes - 8));
    rc = writer_put(w, p, bytes, e);
    if (rc < 0)
        return rc;
    w->entries += layer->entries;
    w->next_layer++;
    return 0;
}

int trace_writer_finish(trace_writer_t *w, err_t *e)
{
    int rc = writer_usable(w, e);
    if (rc < 0)
        return rc;
    if (w->next_layer < w->layers)
        return err_set(e, ERR_INPUT,
                       "trace writer: step %llu has %u of %u layers",
                       (unsigned long long)w->steps - 1u, w->next_layer,
                       w->layers);
    uint8_t t[TRACE_TRAILER_BYTES];
    memcpy(t, TRAILER_MAGIC, 8);
    put_u64(t + 8, w->steps);
    put_u64(t + 16, w->tokens);
    put_u64(t + 24, w->entries);
    put_u64(t + 32, w->offset);
    put_u64(t + 40, trace_fnv1a64(w->hash, t, 40));
    rc = writer_put(w, t, sizeof t, e);
    if (rc < 0)
        return rc;
    if (fflush(w->f) != 0 || fsync(fileno(w->f)) != 0)
        return writer_io_error(w, "flush failed", e);
    FILE *f = w->f;
    w->f = NULL;
    if (fclose(f) != 0)
        return writer_io_error(w, "close failed", e);
    if (rename(w->tmp_path, w->path) != 0)
        return writer_io_error(w, "rename into place failed", e);
    w->finished = 1;
    return 0;
}

void trace_writer_destroy(trace_writer_t *w)
{
    if (!w)
        return;
    if (w->f)
        fclose(w->f);
    if (!w->finished && w->tmp_path)
        unlink(w->tmp_path);
    free(w->buf);
    free(w->tmp_path);
    free(w->path);
    free(w);
}

/* ---- reader ----------------------------------------------------------- */

struct trace_reader {
    char *path;
    FILE *f;
    uint64_t file_bytes;
    uint64_t header_bytes;
    uint64_t trailer_offset;
    trace_info_t info;
    placement_t *placement;
    uint64_t offset;        /* of the next byte to read */
    uint64_t next_step;
    int verifying;          /* hashing every byte read, counting totals */
    uint64_t hash;
    uint64_t tokens_seen;
    uint64_t entries_seen;
    /* the step last read */
    uint32_t tokens;
    uint8_t *raw;           /* one block's bytes */
    size_t raw_cap;
    uint16_t *src;          /* [tokens] */
    size_t src_cap;
    uint16_t *ids;          /* every layer's entries, one after another */
    size_t ids_cap;
    uint32_t *offs;         /* every variable layer's offsets */
    size_t offs_cap;
    size_t *ids_at;         /* [layers] start of each layer in ids */
    size_t *offs_at;        /* [layers] start in offs, SIZE_MAX if fixed */
    trace_layer_t *layers;  /* [layers] views, valid after a whole step */
};

/* "FILE: message (offset N)", ERR_INPUT. */
static int bad(const trace_reader_t *r, err_t *e, uint64_t offset,
               const char *fmt, ...) __attribute__((format(printf, 4, 5)));
static int bad(const trace_reader_t *r, err_t *e, uint64_t offset,
               const char *fmt, ...)
{
    char body[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(body, sizeof body, fmt, ap);
    va_end(ap);
    return err_input(e, r->path, 0, "%s (offset %llu)", body,
                     (unsigned long long)offset);
}

static int reader_nomem(const trace_reader_t *r, err_t *e)
{
    return err_set(e, ERR_NOMEM, "%s: out of memory reading the trace",
                   r->path);
}

/* Reads n bytes at the current offset, which the caller has checked lie
 * inside the file. */
static int reader_get(trace_reader_t *r, uint8_t *buf, size_t n, err_t *e)
{
    if (n && fread(buf, 1, n, r->f) != n) {
        if (ferror(r->f))
            return err_set(e, ERR_IO, "%s: read failed: %s (offset %llu)",
                           r->path, strerror(errno),
                           (unsigned long long)r->offset);
        return bad(r, e, r->offset, "file shrank while being read");
    }
    if (r->verifying)
        r->hash = trace_fnv1a64(r->hash, buf, n);
    r->offset += n;
    return 0;
}

static int reader_seek(trace_reader_t *r, uint64_t offset, err_t *e)
{
    if (fseeko(r->f, (off_t)offset, SEEK_SET) != 0)
        return err_set(e, ERR_IO, "%s: seek failed: %s (offset %llu)",
                       r->path, strerror(errno),
                       (unsigned long long)offset);
    r->offset = offset;
    return 0;
}

/* Checks a block's trailing checksum; `bytes` includes it. */
static int check_block_sum(const trace_reader_t *r, const uint8_t *p,
                           size_t bytes, uint64_t start, const char *what,
                           err_t *e)
{
    uint64_t want = get_u64(p + bytes - 8);
    uint64_t got = trace_fnv1a64(TRACE_FNV1A64_INIT, p, bytes - 8);
    if (want != got)
        return bad(r, e, start,
                   "%s: checksum mismatch (stored %016llx, computed %016llx); "
                   "the block is corrupt",
                   what, (unsigned long long)want, (unsigned long long)got);
    return 0;
}

/* Reads LAYR block `l` of step `s` (T tokens) into the step pools. */
static int read_layer(trace_reader_t *r, uint64_t s, uint32_t l, uint32_t T,
                      size_t *ids_used, size_t *offs_used, err_t *e)
{
    const trace_info_t *in = &r->info;
    uint64_t start = r->offset;
    uint64_t left = r->trailer_offset - start;
    char what[64];
    snprintf(what, sizeof what, "step %llu layer %u", (unsigned long long)s,
             l);
    if (left < TRACE_LAYER_OVERHEAD_BYTES)
        return bad(r, e, start,
                   "%s: truncated: a layer block needs %u bytes, %llu left "
                   "before the trailer",
                   what, TRACE_LAYER_OVERHEAD_BYTES,
                   (unsigned long long)left);
    if (grow(&r->raw, &r->raw_cap, TRACE_LAYER_OVERHEAD_BYTES, 1) < 0)
        return reader_nomem(r, e);
    int rc = reader_get(r, r->raw, TRACE_LAYER_OVERHEAD_BYTES - 8u, e);
    if (rc < 0)
        return rc;
    const uint8_t *h = r->raw;
    if (memcmp(h, LAYER_MAGIC, 4) != 0)
        return bad(r, e, start, "%s: expected a LAYR block, found bytes "
                   "%02x %02x %02x %02x", what, h[0], h[1], h[2], h[3]);
    uint32_t bs = get_u32(h + 4), bl = get_u32(h + 8);
    uint32_t kind = get_u16(h + 12), k = get_u16(h + 14);
    uint32_t E = get_u32(h + 16), C = get_u32(h + 20);
    if (bs != s || bl != l)
        return bad(r, e, start + 4, "%s: block is labelled step %u layer %u",
                   what, bs, bl);
    if (kind == KIND_FIXED) {
        if (k == 0 || k > in->top_k_max)
            return bad(r, e, start + 14, "%s: k = %u outside 1..%u", what, k,
                       in->top_k_max);
        if ((uint64_t)T * k != E || C != 0)
            return bad(r, e, start + 16,
                       "%s: %u entries and %u count bytes; a fixed block of "
                       "%u tokens x k %u has %llu and 0",
                       what, E, C, T, k, (unsigned long long)T * k);
    } else if (kind == KIND_VARIABLE) {
        if (!(in->flags & TRACE_FLAG_VARIABLE))
            return bad(r, e, start + 12,
                       "%s: variable-count block, but the header's flags do "
                       "not allow them", what);
        if (k != 0 || C < T || C > LEB_MAX_BYTES * (uint64_t)T)
            return bad(r, e, start + 14,
                       "%s: variable block with k %u and %u count bytes for "
                       "%u tokens (k must be 0, counts %u..%llu bytes)",
                       what, k, C, T, T,
                       (unsigned long long)LEB_MAX_BYTES * T);
    } else {
        return bad(r, e, start + 12, "%s: unknown block kind %u", what, kind);
    }
    uint64_t bytes64 = TRACE_LAYER_OVERHEAD_BYTES + (uint64_t)C + 2u * (uint64_t)E;
    if (bytes64 > left)
        return bad(r, e, start,
                   "%s: truncated: block needs %llu bytes, %llu left before "
                   "the trailer",
                   what, (unsigned long long)bytes64,
                   (unsigned long long)left);
    if (bytes64 > TRACE_MAX_BLOCK_BYTES)
        return bad(r, e, start, "%s: block of %llu bytes exceeds the %u-byte "
                   "limit", what, (unsigned long long)bytes64,
                   TRACE_MAX_BLOCK_BYTES);
    size_t bytes = (size_t)bytes64;
    if (grow(&r->raw, &r->raw_cap, bytes, 1) < 0)
        return reader_nomem(r, e);
    rc = reader_get(r, r->raw + TRACE_LAYER_OVERHEAD_BYTES - 8u,
                    bytes - (TRACE_LAYER_OVERHEAD_BYTES - 8u), e);
    if (rc < 0)
        return rc;
    rc = check_block_sum(r, r->raw, bytes, start, what, e);
    if (rc < 0)
        return rc;

    const uint8_t *p = r->raw + TRACE_LAYER_OVERHEAD_BYTES - 8u;
    if (grow(&r->ids, &r->ids_cap, *ids_used + E, sizeof *r->ids) < 0)
        return reader_nomem(r, e);
    r->ids_at[l] = *ids_used;
    r->offs_at[l] = SIZE_MAX;
    if (kind == KIND_VARIABLE) {
        if (grow(&r->offs, &r->offs_cap, *offs_used + T + 1u,
                 sizeof *r->offs) < 0)
            return reader_nomem(r, e);
        uint32_t *off = r->offs + *offs_used;
        const uint8_t *c = p, *end = p + C;
        uint64_t sum = 0;
        off[0] = 0;
        for (uint32_t t = 0; t < T; t++) {
            uint32_t v = 0;
            unsigned shift = 0, n = 0;
            const uint8_t *at = c;
            for (;;) {
                if (c == end || n == LEB_MAX_BYTES)
                    return bad(r, e, start + 24 + (uint64_t)(at - p),
                               "%s token %u: count is cut or longer than %u "
                               "bytes", what, t, LEB_MAX_BYTES);
                uint8_t b = *c++;
                v |= (uint32_t)(b & 0x7fu) << shift;
                shift += 7;
                n++;
                if (!(b & 0x80u)) {
                    if (b == 0 && n > 1)
                        return bad(r, e, start + 24 + (uint64_t)(at - p),
                                   "%s token %u: count not in minimal form",
                                   what, t);
                    break;
                }
            }
            if (v > in->experts)
                return bad(r, e, start + 24 + (uint64_t)(at - p),
                           "%s token %u: count %u > experts (%u)", what, t, v,
                           in->experts);
            sum += v;
            if (sum > E)
                return bad(r, e, start + 24 + (uint64_t)(at - p),
                           "%s token %u: counts exceed the %u entries", what,
                           t, E);
            off[t + 1u] = (uint32_t)sum;
        }
        if (c != end || sum != E)
            return bad(r, e, start + 20,
                       "%s: counts use %llu of %u bytes and sum to %llu of %u "
                       "entries", what, (unsigned long long)(c - p), C,
                       (unsigned long long)sum, E);
        r->offs_at[l] = *offs_used;
        *offs_used += T + 1u;
        p += C;
    }
    uint16_t *ids = r->ids + *ids_used;
    for (uint32_t i = 0; i < E; i++) {
        uint16_t v = get_u16(p + 2u * (size_t)i);
        if ((v & TRACE_EXPERT_MASK) >= in->experts)
            return bad(r, e, start + 24 + C + 2u * (uint64_t)i,
                       "%s entry %u: expert %u >= experts (%u)", what, i,
                       v & TRACE_EXPERT_MASK, in->experts);
        ids[i] = v;
    }
    *ids_used += E;
    r->layers[l].tokens = T;
    r->layers[l].k = kind == KIND_FIXED ? k : 0;
    r->layers[l].entries = E;
    r->entries_seen += E;
    return 0;
}

/* Reads the next step (STEP block and its L layer blocks). 1, 0 at the
 * trailer, or an error. */
static int read_step(trace_reader_t *r, err_t *e)
{
    uint64_t start = r->offset;
    uint64_t s = r->next_step;
    if (start == r->trailer_offset)
        return 0;
    uint64_t left = r->trailer_offset - start;
    if (left < TRACE_STEP_OVERHEAD_BYTES)
        return bad(r, e, start,
                   "step %llu: truncated: a step block needs at least %u "
                   "bytes, %llu left before the trailer",
                   (unsigned long long)s, TRACE_STEP_OVERHEAD_BYTES,
                   (unsigned long long)left);
    if (grow(&r->raw, &r->raw_cap, TRACE_STEP_OVERHEAD_BYTES, 1) < 0)
        return reader_nomem(r, e);
    int rc = reader_get(r, r->raw, 16, e);
    if (rc < 0)
        return rc;
    const uint8_t *h = r->raw;
    if (memcmp(h, STEP_MAGIC, 4) != 0)
        return bad(r, e, start, "step %llu: expected a STEP block, found "
                   "bytes %02x %02x %02x %02x", (unsigned long long)s, h[0],
                   h[1], h[2], h[3]);
    uint32_t idx = get_u32(h + 4), T = get_u32(h + 8);
    if (idx != s)
        return bad(r, e, start + 4, "step block labelled %u, expected %llu",
                   idx, (unsigned long long)s);
    if (T == 0 || T > TRACE_MAX_TOKENS_PER_STEP || get_u32(h + 12) != 0)
        return bad(r, e, start + 8,
                   "step %llu: %u tokens (must be 1..%u, reserved field 0)",
                   (unsigned long long)s, T, TRACE_MAX_TOKENS_PER_STEP);
    uint64_t bytes64 = TRACE_STEP_OVERHEAD_BYTES + 2u * (uint64_t)T;
    if (bytes64 > left)
        return bad(r, e, start,
                   "step %llu: truncated: block needs %llu bytes, %llu left "
                   "before the trailer",
                   (unsigned long long)s, (unsigned long long)bytes64,
                   (unsigned long long)left);
    size_t bytes = (size_t)bytes64;
    if (grow(&r->raw, &r->raw_cap, bytes, 1) < 0 ||
        grow(&r->src, &r->src_cap, T, sizeof *r->src) < 0)
        return reader_nomem(r, e);
    rc = reader_get(r, r->raw + 16, bytes - 16, e);
    if (rc < 0)
        return rc;
    char what[48];
    snprintf(what, sizeof what, "step %llu", (unsigned long long)s);
    rc = check_block_sum(r, r->raw, bytes, start, what, e);
    if (rc < 0)
        return rc;
    for (uint32_t t = 0; t < T; t++) {
        uint16_t d = get_u16(r->raw + 16 + 2u * (size_t)t);
        if (d >= r->info.devices)
            return bad(r, e, start + 16 + 2u * (uint64_t)t,
                       "step %llu token %u: source device %u >= devices (%u)",
                       (unsigned long long)s, t, d, r->info.devices);
        r->src[t] = d;
    }
    size_t ids_used = 0, offs_used = 0;
    for (uint32_t l = 0; l < r->info.moe_layers; l++) {
        rc = read_layer(r, s, l, T, &ids_used, &offs_used, e);
        if (rc < 0)
            return rc;
    }
    /* The pools are final now: point the views into them. */
    for (uint32_t l = 0; l < r->info.moe_layers; l++) {
        r->layers[l].ids = r->ids + r->ids_at[l];
        r->layers[l].offsets =
            r->offs_at[l] == SIZE_MAX ? NULL : r->offs + r->offs_at[l];
    }
    r->tokens = T;
    r->tokens_seen += T;
    r->next_step++;
    return 1;
}

/* Copies a NUL-padded name field; it must hold a NUL. */
static int get_name(trace_reader_t *r, const uint8_t *p, uint64_t at,
                    char *dst, const char *what, err_t *e)
{
    if (!memchr(p, 0, TRACE_NAME_BYTES))
        return bad(r, e, at, "%s name is not NUL-terminated", what);
    memcpy(dst, p, TRACE_NAME_BYTES);
    return 0;
}

/* Reads and checks the header and tables, builds the placement. */
static int read_header(trace_reader_t *r, err_t *e)
{
    uint8_t h[TRACE_HEADER_FIXED_BYTES];
    uint16_t *se = NULL, *sd = NULL;
    uint8_t *tables = NULL;
    trace_info_t *in = &r->info;
    int rc;
    uint64_t min_bytes = TRACE_HEADER_FIXED_BYTES + 8u + TRACE_TRAILER_BYTES;

    size_t have = r->file_bytes < sizeof h ? (size_t)r->file_bytes : sizeof h;
    rc = reader_get(r, h, have, e);
    if (rc < 0)
        return rc;
    if (memcmp(h, MAGIC, have < 8 ? have : 8) != 0)
        return bad(r, e, 0, "not a moesim trace (the file does not start "
                   "with \"MOETRACE\")");
    if (r->file_bytes < min_bytes)
        return bad(r, e, r->file_bytes, "truncated: %llu bytes, a trace has "
                   "at least %llu", (unsigned long long)r->file_bytes,
                   (unsigned long long)min_bytes);
    in->version_major = get_u16(h + 8);
    in->version_minor = get_u16(h + 10);
    if (in->version_major > TRACE_VERSION_MAJOR)
        return bad(r, e, 8, "format version %u.%u is newer than this moesim "
                   "reads (%u.x); use a newer moesim", in->version_major,
                   in->version_minor, TRACE_VERSION_MAJOR);
    if (in->version_major < 1)
        return bad(r, e, 8, "bad format version %u.%u", in->version_major,
                   in->version_minor);
    uint32_t H = get_u32(h + 12);
    in->seed = get_u64(h + 16);
    in->moe_layers = get_u32(h + 24);
    in->experts = get_u32(h + 28);
    in->devices = get_u32(h + 32);
    in->devices_per_node = get_u32(h + 36);
    in->top_k_max = get_u32(h + 40);
    in->slots = get_u32(h + 44);
    in->flags = get_u32(h + 48);
    if (in->moe_layers == 0 || in->moe_layers > PLACEMENT_MAX_LAYERS)
        return bad(r, e, 24, "MoE layers %u outside 1..%u", in->moe_layers,
                   PLACEMENT_MAX_LAYERS);
    if (in->experts == 0 || in->experts > PLACEMENT_MAX_EXPERTS)
        return bad(r, e, 28, "experts %u outside 1..%u", in->experts,
                   PLACEMENT_MAX_EXPERTS);
    if (in->devices == 0 || in->devices > PLACEMENT_MAX_DEVICES)
        return bad(r, e, 32, "devices %u outside 1..%u", in->devices,
                   PLACEMENT_MAX_DEVICES);
    if (in->devices_per_node == 0 || in->devices % in->devices_per_node)
        return bad(r, e, 36, "devices per node %u does not divide devices %u",
                   in->devices_per_node, in->devices);
    if (in->top_k_max == 0 || in->top_k_max > in->experts)
        return bad(r, e, 40, "top-k max %u outside 1..experts (%u)",
                   in->top_k_max, in->experts);
    if (in->slots < in->experts || in->slots > PLACEMENT_MAX_SLOTS ||
        in->slots % in->devices)
        return bad(r, e, 44, "slots per layer %u: must be experts (%u)..%u "
                   "and a multiple of devices (%u)", in->slots, in->experts,
                   PLACEMENT_MAX_SLOTS, in->devices);
    if (in->flags & ~KNOWN_FLAGS)
        return bad(r, e, 48, "unknown flags 0x%x", in->flags & ~KNOWN_FLAGS);
    if (get_u32(h + 52) != 0)
        return bad(r, e, 52, "reserved field is not 0");
    if ((rc = get_name(r, h + 56, 56, in->model, "model", e)) < 0 ||
        (rc = get_name(r, h + 120, 120, in->policy, "policy", e)) < 0 ||
        (rc = get_name(r, h + 184, 184, in->router, "router", e)) < 0 ||
        (rc = get_name(r, h + 248, 248, in->placement, "placement", e)) < 0)
        return rc;
    uint64_t table_bytes = 4u * (uint64_t)in->moe_layers * in->slots;
    uint64_t want_H = TRACE_HEADER_FIXED_BYTES + table_bytes + 8u;
    /* A newer minor version may append header fields after the tables
     * (covered by the header checksum); we skip them. */
    int newer_minor = in->version_major == TRACE_VERSION_MAJOR &&
                      in->version_minor > TRACE_VERSION_MINOR;
    if (H != want_H && !(newer_minor && H > want_H))
        return bad(r, e, 12, "header size %u, expected %llu for %u layers x "
                   "%u slots", H, (unsigned long long)want_H, in->moe_layers,
                   in->slots);
    uint64_t extra = H - want_H;
    want_H = H;
    if (want_H + TRACE_TRAILER_BYTES > r->file_bytes)
        return bad(r, e, r->file_bytes, "truncated: the header alone needs "
                   "%llu bytes and a trailer %u; the file has %llu",
                   (unsigned long long)want_H, TRACE_TRAILER_BYTES,
                   (unsigned long long)r->file_bytes);
    if (want_H > TRACE_MAX_BLOCK_BYTES)
        return bad(r, e, 12, "header of %llu bytes exceeds the %u-byte limit",
                   (unsigned long long)want_H, TRACE_MAX_BLOCK_BYTES);
    r->header_bytes = want_H;

    size_t n = (size_t)in->moe_layers * in->slots;
    tables = malloc((size_t)(table_bytes + extra) + 8u);
    se = malloc(n * sizeof *se);
    sd = malloc(n * sizeof *sd);
    if (!tables || !se || !sd) {
        rc = reader_nomem(r, e);
        goto done;
    }
    rc = reader_get(r, tables, (size_t)(table_bytes + extra) + 8u, e);
    if (rc < 0)
        goto done;
    uint64_t sum = trace_fnv1a64(TRACE_FNV1A64_INIT, h, sizeof h);
    sum = trace_fnv1a64(sum, tables, (size_t)(table_bytes + extra));
    if (sum != get_u64(tables + table_bytes + extra)) {
        rc = bad(r, e, want_H - 8, "header checksum mismatch; the header is "
                 "corrupt");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        se[i] = get_u16(tables + 2 * i);
        sd[i] = get_u16(tables + 2 * (n + i));
    }
    err_t sub;
    err_clear(&sub);
    rc = placement_create_table(&r->placement, in->moe_layers, in->experts,
                                in->slots, in->devices, in->devices_per_node,
                                se, sd, &sub);
    if (rc < 0)
        rc = bad(r, e, TRACE_HEADER_FIXED_BYTES, "%s", sub.msg);
done:
    free(sd);
    free(se);
    free(tables);
    return rc;
}

/* Reads the trailer, then every block once (hashing), and compares. */
static int verify(trace_reader_t *r, err_t *e)
{
    uint8_t t[TRACE_TRAILER_BYTES];
    uint64_t at = r->file_bytes - TRACE_TRAILER_BYTES;
    int rc = reader_seek(r, at, e);
    if (rc < 0)
        return rc;
    rc = reader_get(r, t, sizeof t, e);
    if (rc < 0)
        return rc;
    if (memcmp(t, TRAILER_MAGIC, 8) != 0)
        return bad(r, e, at, "no trailer: the file is truncated or was never "
                   "finished");
    if (get_u64(t + 32) != at)
        return bad(r, e, at + 32, "trailer says it starts at offset %llu; the "
                   "file is truncated or has extra bytes",
                   (unsigned long long)get_u64(t + 32));
    r->trailer_offset = at;
    r->info.steps = get_u64(t + 8);
    r->info.tokens = get_u64(t + 16);
    r->info.entries = get_u64(t + 24);

    /* The header bytes again, for the whole-file hash. */
    rc = reader_seek(r, 0, e);
    if (rc < 0)
        return rc;
    r->verifying = 1;
    r->hash = TRACE_FNV1A64_INIT;
    uint8_t buf[4096];
    for (uint64_t left = r->header_bytes; left > 0;) {
        size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
        rc = reader_get(r, buf, n, e);
        if (rc < 0)
            return rc;
        left -= n;
    }
    while ((rc = read_step(r, e)) == 1) {
    }
    if (rc < 0)
        return rc;
    r->hash = trace_fnv1a64(r->hash, t, 40);
    r->verifying = 0;
    if (r->next_step != r->info.steps || r->tokens_seen != r->info.tokens ||
        r->entries_seen != r->info.entries)
        return bad(r, e, at + 8, "trailer totals (%llu steps, %llu tokens, "
                   "%llu entries) differ from the blocks (%llu, %llu, %llu)",
                   (unsigned long long)r->info.steps,
                   (unsigned long long)r->info.tokens,
                   (unsigned long long)r->info.entries,
                   (unsigned long long)r->next_step,
                   (unsigned long long)r->tokens_seen,
                   (unsigned long long)r->entries_seen);
    if (r->hash != get_u64(t + 40))
        return bad(r, e, at + 40, "file checksum mismatch; the file is "
                   "corrupt");
    return 0;
}

int trace_reader_open(trace_reader_t **out, const char *path, err_t *e)
{
    struct stat st;
    int rc;
    trace_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return err_set(e, ERR_NOMEM, "%s: out of memory", path);
    r->path = strdup(path);
    if (!r->path) {
        rc = err_set(e, ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    r->f = fopen(path, "rb");
    if (!r->f) {
        rc = err_set(e, ERR_IO, "%s: cannot open: %s", path, strerror(errno));
        goto fail;
    }
    if (fstat(fileno(r->f), &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = err_input(e, path, 0, "not a regular file");
        goto fail;
    }
    r->file_bytes = (uint64_t)st.st_size;
    rc = read_header(r, e);
    if (rc < 0)
        goto fail;
    uint32_t L = r->info.moe_layers;
    r->ids_at = calloc(L, sizeof *r->ids_at);
    r->offs_at = calloc(L, sizeof *r->offs_at);
    r->layers = calloc(L, sizeof *r->layers);
    if (!r->ids_at || !r->offs_at || !r->layers) {
        rc = reader_nomem(r, e);
        goto fail;
    }
    rc = verify(r, e);
    if (rc < 0)
        goto fail;
    rc = trace_reader_rewind(r, e);
    if (rc < 0)
        goto fail;
    *out = r;
    return 0;
fail:
    trace_reader_destroy(r);
    return rc;
}

void trace_reader_destroy(trace_reader_t *r)
{
    if (!r)
        return;
    if (r->f)
        fclose(r->f);
    placement_destroy(r->placement);
    free(r->layers);
    free(r->offs_at);
    free(r->ids_at);
    free(r->offs);
    free(r->ids);
    free(r->src);
    free(r->raw);
    free(r->path);
    free(r);
}

const trace_info_t *trace_reader_info(const trace_reader_t *r)
{
    return &r->info;
}

const placement_t *trace_reader_placement(const trace_reader_t *r)
{
    return r->placement;
}

int trace_reader_rewind(trace_reader_t *r, err_t *e)
{
    r->next_step = 0;
    r->tokens = 0;
    return reader_seek(r, r->header_bytes, e);
}

int trace_reader_next(trace_reader_t *r, uint32_t *tokens,
                      const uint16_t **src_device, err_t *e)
{
    int rc = read_step(r, e);
    if (rc == 1) {
        *tokens = r->tokens;
        *src_device = r->src;
    }
    return rc;
}

const trace_layer_t *trace_reader_layer(const trace_reader_t *r,
                                        uint32_t layer)
{
    MOESIM_ASSERT(layer < r->info.moe_layers && r->tokens > 0);
    return &r->layers[layer];
}

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

/* ---- npy -------------------------------------------------------------- */

/* A cursor over the header's Python literal. */
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
        if (c->i >= c->n || c->s[c->i] < '0' || c->s[c->i] > '9' ||
            *ndim == max)
            return -1;
        uint64_t v = 0;
        while (c->i < c->n && c->s[c->i] >= '0' && c->s[c->i] <= '9') {
            v = v * 10u + (uint64_t)(c->s[c->i++] - '0');
            if (v > UINT32_MAX)
                return -1;
        }
        dims[(*ndim)++] = v;
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
    struct stat st;

    if (experts == 0 || experts > PLACEMENT_MAX_EXPERTS)
        return err_set(e, ERR_INPUT, "npy import: experts (%u) must be 1..%u",
                       experts, PLACEMENT_MAX_EXPERTS);
    f = fopen(path, "rb");
    if (!f)
        return err_set(e, ERR_IO, "%s: cannot open: %s", path,
                       strerror(errno));
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        rc = err_input(e, path, 0, "not a regular file");
        goto done;
    }
    uint64_t size = (uint64_t)st.st_size;
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

/* A non-negative decimal field, spaces around allowed. */
static int csv_uint(const char *s, uint64_t limit, uint64_t *out)
{
    while (*s == ' ')
        s++;
    if (*s == '-')
        return -2;
    if (*s < '0' || *s > '9')
        return -1;
    uint64_t v = 0;
    while (*s >= '0' && *s <= '9') {
        v = v * 10u + (uint64_t)(*s++ - '0');
        if (v > limit)
            return -3;
    }
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
    uint32_t *row_token = NULL, *row_layer = NULL, *row_line = NULL;
    uint16_t *row_ids = NULL;
    uint32_t *where = NULL;
    size_t rows = 0, cap_tok = 0, cap_lay = 0, cap_line = 0, cap_ids = 0;
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
        if (grow(&row_token, &cap_tok, rows + 1, sizeof *row_token) < 0 ||
            grow(&row_layer, &cap_lay, rows + 1, sizeof *row_layer) < 0 ||
            grow(&row_line, &cap_line, rows + 1, sizeof *row_line) < 0 ||
            grow(&row_ids, &cap_ids, (rows + 1) * K, sizeof *row_ids) < 0)
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
        row_token[rows] = (uint32_t)tok;
        row_layer[rows] = (uint32_t)lay;
        row_line[rows] = (uint32_t)lineno;
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
        size_t at = (size_t)row_token[i] * (size_t)L + row_layer[i];
        if (where[at]) {
            rc = err_input(e, path, (int)row_line[i], "token %u layer %u "
                           "already given on line %u", row_token[i],
                           row_layer[i], row_line[where[at] - 1u]);
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
    free(row_line);
    free(row_layer);
    free(row_token);
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
