/*
 * trace: the token trace's writer, and what the trace's files share:
 * FNV-1a 64, the buffer growth, the opening of an input file, the view of
 * a layer's tokens. The byte layout is in trace.h and
 * models/TRACE_FORMAT.md; the verifying reader is in trace_reader.c, the
 * import of engine-recorded routing in trace_import.c.
 */
#include "models/trace_impl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

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
int trace_grow(void *bufp, size_t *cap, size_t need, size_t size)
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

/* Opens PATH for binary reading into *f (owned by the caller) and its size
 * into *bytes; it must be a regular file, whose size is then known up
 * front (the reader and the .npy import check every length against it). */
int trace_open_input(const char *path, FILE **f, uint64_t *bytes, err_t *e)
{
    struct stat st;
    *f = fopen(path, "rb");
    if (!*f)
        return err_set(e, ERR_IO, "%s: cannot open: %s", path,
                       strerror(errno));
    if (fstat(fileno(*f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(*f);
        *f = NULL;
        return err_input(e, path, 0, "not a regular file");
    }
    *bytes = (uint64_t)st.st_size;
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
    if (trace_grow(&w->buf, &w->buf_cap, H, 1) < 0)
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
    if (trace_grow(&w->buf, &w->buf_cap, bytes, 1) < 0)
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
    if (trace_grow(&w->buf, &w->buf_cap, bytes, 1) < 0)
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
