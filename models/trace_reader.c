/*
 * trace_reader: the verifying reader of a token trace: the header and
 * placement tables, every block's checksum and bounds, the trailer's
 * totals and the file checksum, checked in one pass when the file is
 * opened; then the steps one at a time.
 *
 * Every size read from a file is checked against the bytes that are
 * actually left in the file and against a fixed cap before anything is
 * allocated, so a malicious file can make us allocate at most a small
 * multiple of its own size (offsets take 4 bytes per token where the file
 * spends at least 1 on its count).
 */
#include "models/trace_impl.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* An unsigned LEB128 count <= 32767 takes at most 3 bytes. */
#define LEB_MAX_BYTES 3u

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

/* Decodes the unsigned LEB128 count at *c (before end) into *v and moves
 * *c past it: 0, -1 when it is cut or longer than LEB_MAX_BYTES, -2 when
 * it is not in minimal form (a last byte of 0 after others). The inverse
 * of the writer's leb_put. */
static int leb_get(const uint8_t **c, const uint8_t *end, uint32_t *v)
{
    const uint8_t *p = *c;
    uint32_t x = 0;
    for (unsigned n = 0; n < LEB_MAX_BYTES && p < end; n++) {
        uint8_t b = *p++;
        x |= (uint32_t)(b & 0x7fu) << (7u * n);
        if (!(b & 0x80u)) {
            if (b == 0 && n > 0)
                return -2;
            *c = p;
            *v = x;
            return 0;
        }
    }
    return -1;
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
    if (trace_grow(&r->raw, &r->raw_cap, TRACE_LAYER_OVERHEAD_BYTES, 1) < 0)
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
    if (trace_grow(&r->raw, &r->raw_cap, bytes, 1) < 0)
        return reader_nomem(r, e);
    rc = reader_get(r, r->raw + TRACE_LAYER_OVERHEAD_BYTES - 8u,
                    bytes - (TRACE_LAYER_OVERHEAD_BYTES - 8u), e);
    if (rc < 0)
        return rc;
    rc = check_block_sum(r, r->raw, bytes, start, what, e);
    if (rc < 0)
        return rc;

    const uint8_t *p = r->raw + TRACE_LAYER_OVERHEAD_BYTES - 8u;
    if (trace_grow(&r->ids, &r->ids_cap, *ids_used + E, sizeof *r->ids) < 0)
        return reader_nomem(r, e);
    r->ids_at[l] = *ids_used;
    r->offs_at[l] = SIZE_MAX;
    if (kind == KIND_VARIABLE) {
        if (trace_grow(&r->offs, &r->offs_cap, *offs_used + T + 1u,
                 sizeof *r->offs) < 0)
            return reader_nomem(r, e);
        uint32_t *off = r->offs + *offs_used;
        const uint8_t *c = p, *end = p + C;
        uint64_t sum = 0;
        off[0] = 0;
        for (uint32_t t = 0; t < T; t++) {
            uint64_t at = start + 24 + (uint64_t)(c - p);
            uint32_t v = 0;
            int st = leb_get(&c, end, &v);
            if (st == -1)
                return bad(r, e, at, "%s token %u: count is cut or longer "
                           "than %u bytes", what, t, LEB_MAX_BYTES);
            if (st == -2)
                return bad(r, e, at, "%s token %u: count not in minimal form",
                           what, t);
            if (v > in->experts)
                return bad(r, e, at, "%s token %u: count %u > experts (%u)",
                           what, t, v, in->experts);
            sum += v;
            if (sum > E)
                return bad(r, e, at, "%s token %u: counts exceed the %u "
                           "entries", what, t, E);
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
    if (trace_grow(&r->raw, &r->raw_cap, TRACE_STEP_OVERHEAD_BYTES, 1) < 0)
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
    if (trace_grow(&r->raw, &r->raw_cap, bytes, 1) < 0 ||
        trace_grow(&r->src, &r->src_cap, T, sizeof *r->src) < 0)
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
    uint64_t want_H = TRACE_HEADER_FIXED_BYTES +
                      4u * (uint64_t)in->moe_layers * in->slots + 8u;
    /* A newer minor version may append header fields after the tables
     * (covered by the header checksum); we skip them. */
    int newer_minor = in->version_major == TRACE_VERSION_MAJOR &&
                      in->version_minor > TRACE_VERSION_MINOR;
    if (H != want_H && !(newer_minor && H > want_H))
        return bad(r, e, 12, "header size %u, expected %llu for %u layers x "
                   "%u slots", H, (unsigned long long)want_H, in->moe_layers,
                   in->slots);
    if ((uint64_t)H + TRACE_TRAILER_BYTES > r->file_bytes)
        return bad(r, e, r->file_bytes, "truncated: the header alone needs "
                   "%llu bytes and a trailer %u; the file has %llu",
                   (unsigned long long)H, TRACE_TRAILER_BYTES,
                   (unsigned long long)r->file_bytes);
    if (H > TRACE_MAX_BLOCK_BYTES)
        return bad(r, e, 12, "header of %llu bytes exceeds the %u-byte limit",
                   (unsigned long long)H, TRACE_MAX_BLOCK_BYTES);
    r->header_bytes = H;

    /* After the fixed part: the tables, newer fields, the checksum. */
    size_t rest = H - TRACE_HEADER_FIXED_BYTES;
    size_t n = (size_t)in->moe_layers * in->slots;
    tables = malloc(rest);
    se = malloc(n * sizeof *se);
    sd = malloc(n * sizeof *sd);
    if (!tables || !se || !sd) {
        rc = reader_nomem(r, e);
        goto done;
    }
    rc = reader_get(r, tables, rest, e);
    if (rc < 0)
        goto done;
    uint64_t sum = trace_fnv1a64(TRACE_FNV1A64_INIT, h, sizeof h);
    sum = trace_fnv1a64(sum, tables, rest - 8u);
    if (sum != get_u64(tables + rest - 8u)) {
        rc = bad(r, e, H - 8u, "header checksum mismatch; the header is "
                 "corrupt");
        goto done;
    }
    /* The file checksum starts with the whole header: verify() goes on
     * from here rather than reading the header a second time. */
    r->hash = trace_fnv1a64(sum, tables + rest - 8u, 8u);
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

/* Reads the trailer, then every block once (hashing on from the header's
 * hash that read_header left in r->hash), and compares. */
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

    /* r->hash covers the header already (read_header). */
    rc = reader_seek(r, r->header_bytes, e);
    if (rc < 0)
        return rc;
    r->verifying = 1;
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
    int rc;
    trace_reader_t *r = calloc(1, sizeof *r);
    if (!r)
        return err_set(e, ERR_NOMEM, "%s: out of memory", path);
    r->path = strdup(path);
    if (!r->path) {
        rc = err_set(e, ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    rc = trace_open_input(path, &r->f, &r->file_bytes, e);
    if (rc < 0)
        goto fail;
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
