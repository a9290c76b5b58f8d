/*
 * trace: the token trace, the hand-off between routing and the cluster
 * replay. Format version 1.0. The same specification, with the reasons,
 * is in models/TRACE_FORMAT.md.
 *
 * A trace records, for every step, the device each token comes from and,
 * for every MoE layer, the logical experts each token was routed to (with
 * a mark when capacity dropped it), plus the placement tables a replay
 * needs to map experts to devices. Router gate weights are NOT stored: the
 * replay's costs do not depend on them, and storing an FP16/FP32 weight
 * per token-expert would double or triple the size.
 *
 * All integers little-endian, no padding, no alignment. Checksums are
 * FNV-1a 64 (Fowler/Noll/Vo; IETF draft-eastlake-fnv): h = 0xcbf29ce484222325;
 * for each byte b: h ^= b; h *= 0x100000001b3 (mod 2^64). Any single
 * changed byte changes the hash (each step is a bijection of h).
 *
 * File = header, then per step one STEP block followed by L LAYR blocks
 * (layers 0..L-1 in order), then the trailer.
 *
 * Header (H = 320 + 4*L*S bytes in version 1.0):
 *   off   size   type      field
 *   0     8      char[8]   magic "MOETRACE"
 *   8     2      u16       version major = 1 (readers reject a newer major)
 *   10    2      u16       version minor = 0 (a newer minor may only append
 *                          header fields after the tables; readers skip
 *                          them)
 *   12    4      u32       header bytes H
 *   16    8      u64       seed
 *   24    4      u32       MoE layers L (1..4096)
 *   28    4      u32       logical experts N (1..32767)
 *   32    4      u32       devices D (1..65535)
 *   36    4      u32       devices per node (divides D)
 *   40    4      u32       top-k max K (1..N): bound on a fixed block's k
 *   44    4      u32       physical slots per layer S (N..65535, D | S)
 *   48    4      u32       flags: bit 0 imported from an engine's trace,
 *                          bit 1 variable-count blocks allowed; others 0
 *   52    4      u32       reserved, 0
 *   56    64     char[64]  model name, UTF-8, NUL-padded (<= 63 bytes)
 *   120   64     char[64]  policy name
 *   184   64     char[64]  router name
 *   248   64     char[64]  placement name
 *   312   2*L*S  u16[L][S] slot -> logical expert, per layer
 *   ..    2*L*S  u16[L][S] slot -> device, per layer
 *   H-8   8      u64       FNV-1a 64 of bytes [0, H-8)
 *
 * STEP block (24 + 2*T bytes):
 *   0     4      char[4]   "STEP"
 *   4     4      u32       step index (0, 1, 2, ...)
 *   8     4      u32       tokens T (1..16777216)
 *   12    4      u32       reserved, 0
 *   16    2*T    u16[T]    source device of each token (< D)
 *   ..    8      u64       FNV-1a 64 of the block's bytes before it
 *
 * LAYR block (32 + C + 2*E bytes):
 *   0     4      char[4]   "LAYR"
 *   4     4      u32       step index
 *   8     4      u32       layer index
 *   12    2      u16       kind: 0 fixed (k entries per token),
 *                                1 variable (a count per token)
 *   14    2      u16       k (fixed: 1..K; variable: 0)
 *   16    4      u32       entries E (fixed: T*k)
 *   20    4      u32       count bytes C (fixed: 0)
 *   24    C      u8[C]     variable only: T counts, unsigned LEB128 (7 bits
 *                          a byte, low first, high bit = more; minimal
 *                          form; 1 byte when count <= 127); each <= N, sum E
 *   ..    2*E    u16[E]    entries token by token: bits 0..14 logical
 *                          expert (< N), bit 15 = dropped (over capacity)
 *   ..    8      u64       FNV-1a 64 of the block's bytes before it
 *
 * Trailer (48 bytes, the end of the file):
 *   0     8      char[8]   "MOETRAIL"
 *   8     8      u64       steps
 *   16    8      u64       tokens, summed over steps
 *   24    8      u64       entries (token-experts), summed over all blocks
 *   32    8      u64       offset of the trailer (= file size - 48)
 *   40    8      u64       FNV-1a 64 of every byte of the file before it
 *
 * Size: a fixed block costs 2 bytes per token-expert; per step add 24 + 2T
 * (source devices) and 32 per layer; variable blocks add C <= 3T bytes.
 *
 * The writer streams into PATH.XXXXXX (mkstemp, same directory, mode 0644)
 * and renames it to PATH at finish, so an interrupted write leaves no file
 * at PATH; the trailer comes last, so a cut file has none. Writing the
 * same calls twice gives byte-identical files (no time, no host data).
 *
 * Reading verifies the whole file at open (one sequential pass: sizes
 * against the file and caps before any allocation, every checksum, every
 * id against N and D, totals against the trailer), so a replay never
 * starts on a file it would reject half way. Errors are ERR_INPUT with
 * "FILE: what is wrong (offset N)".
 */
#ifndef MOESIM_MODELS_TRACE_H
#define MOESIM_MODELS_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"
#include "models/placement.h"

#define TRACE_VERSION_MAJOR 1u
#define TRACE_VERSION_MINOR 0u
#define TRACE_NAME_BYTES 64u            /* incl. the terminating NUL */
#define TRACE_HEADER_FIXED_BYTES 312u   /* header before the tables */
#define TRACE_STEP_OVERHEAD_BYTES 24u   /* STEP block minus 2*T */
#define TRACE_LAYER_OVERHEAD_BYTES 32u  /* LAYR block minus C and 2*E */
#define TRACE_TRAILER_BYTES 48u
#define TRACE_MAX_TOKENS_PER_STEP 16777216u
#define TRACE_MAX_BLOCK_BYTES (1u << 30) /* one block, 1 GiB */

#define TRACE_DROPPED 0x8000u           /* entry bit: dropped at capacity */
#define TRACE_EXPERT_MASK 0x7fffu

#define TRACE_FLAG_IMPORTED 0x1u        /* from an engine-recorded trace */
#define TRACE_FLAG_VARIABLE 0x2u        /* variable-count blocks allowed */

#define TRACE_FNV1A64_INIT 0xcbf29ce484222325ull

/* FNV-1a 64 of n bytes, continuing from h (TRACE_FNV1A64_INIT to start). */
uint64_t trace_fnv1a64(uint64_t h, const void *bytes, size_t n);

/* What a writer is told besides the placement. Strings borrowed, at most
 * TRACE_NAME_BYTES - 1 bytes, NULL = "". placement NULL = the placement's
 * policy name. */
typedef struct trace_meta {
    const char *model;
    const char *policy;
    const char *router;
    const char *placement;
    uint64_t seed;
    uint32_t top_k_max;
    uint32_t flags;
} trace_meta_t;

/* Everything a header and trailer hold except the tables (a value). */
typedef struct trace_info {
    uint16_t version_major;
    uint16_t version_minor;
    char model[TRACE_NAME_BYTES];
    char policy[TRACE_NAME_BYTES];
    char router[TRACE_NAME_BYTES];
    char placement[TRACE_NAME_BYTES];
    uint64_t seed;
    uint32_t moe_layers;
    uint32_t experts;
    uint32_t devices;
    uint32_t devices_per_node;
    uint32_t top_k_max;
    uint32_t slots;
    uint32_t flags;
    uint64_t steps;      /* from the trailer */
    uint64_t tokens;
    uint64_t entries;    /* token-experts */
} trace_info_t;

/* One MoE layer of one step: a view, never owning. Fixed: k > 0, offsets
 * NULL, token t's entries are ids[t*k .. t*k+k). Variable: k = 0, offsets
 * [tokens + 1] with offsets[0] = 0, nondecreasing, offsets[tokens] =
 * entries; token t's entries are ids[offsets[t] .. offsets[t+1]). */
typedef struct trace_layer {
    uint32_t tokens;
    uint32_t k;
    uint32_t entries;
    const uint16_t *ids;
    const uint32_t *offsets;
} trace_layer_t;

/* Token t's entries: *first index into ids and *count. */
void trace_layer_token(const trace_layer_t *layer, uint32_t t,
                       uint32_t *first, uint32_t *count);

/* ---- writer ----------------------------------------------------------- */

typedef struct trace_writer trace_writer_t;

/* Opens a writer for PATH. The placement (borrowed, read now) gives L, N,
 * D, devices per node and the tables. Call trace_writer_step, then
 * trace_writer_layer for layers 0..L-1, per step; then trace_writer_finish.
 * *out is owned by the caller (trace_writer_destroy). */
int trace_writer_create(trace_writer_t **out, const char *path,
                        const trace_meta_t *meta, const placement_t *pl,
                        err_t *e);

/* Starts a step: src_device[tokens] (borrowed, each < D). */
int trace_writer_step(trace_writer_t *w, uint32_t tokens,
                      const uint16_t *src_device, err_t *e);

/* Adds the next layer of the current step (borrowed view). Variable blocks
 * need TRACE_FLAG_VARIABLE in meta.flags. */
int trace_writer_layer(trace_writer_t *w, const trace_layer_t *layer,
                       err_t *e);

/* Writes the trailer, syncs and renames the file into place. After it,
 * only trace_writer_destroy may be called. */
int trace_writer_finish(trace_writer_t *w, err_t *e);

/* Frees w; if not finished, removes the temporary file. NULL: no-op. */
void trace_writer_destroy(trace_writer_t *w);

/* ---- reader ----------------------------------------------------------- */

typedef struct trace_reader trace_reader_t;

/* Opens and verifies PATH (see the top comment); positions before step 0.
 * *out is owned by the caller (trace_reader_destroy). */
int trace_reader_open(trace_reader_t **out, const char *path, err_t *e);
void trace_reader_destroy(trace_reader_t *r);

/* Borrowed, valid until destroy. */
const trace_info_t *trace_reader_info(const trace_reader_t *r);
/* The placement built from the header's tables; borrowed. */
const placement_t *trace_reader_placement(const trace_reader_t *r);

/* Reads the next step. Returns 1 with *tokens and *src_device (borrowed
 * until the next call) set, 0 at the end, or a negative error (possible
 * only if the file changed after open); after an error only rewind and
 * destroy are meaningful. */
int trace_reader_next(trace_reader_t *r, uint32_t *tokens,
                      const uint16_t **src_device, err_t *e);
/* Layer `layer` of the step last read; borrowed until the next call. */
const trace_layer_t *trace_reader_layer(const trace_reader_t *r,
                                        uint32_t layer);
/* Back to step 0. */
int trace_reader_rewind(trace_reader_t *r, err_t *e);

/* ---- import of engine-recorded routing -------------------------------- */

/* Routed experts as serving engines record them (vLLM's routed-experts
 * array, [tokens, moe_layers, top_k]): ids[(t * layers + l) * top_k + j].
 * Owned by whoever holds the pointer; free with trace_routes_destroy. */
typedef struct trace_routes {
    uint32_t tokens;
    uint32_t layers;
    uint32_t top_k;
    uint16_t *ids;
} trace_routes_t;

void trace_routes_destroy(trace_routes_t *r);

/* NumPy .npy, format 1.0, 2.0 or 3.0; dtype '<i2', '<i4' or '<i8'; C
 * order; shape (tokens, layers, top_k). Every id must be in 0..experts-1
 * (experts <= 32767). Errors name the file and byte offset. */
int trace_import_npy(const char *path, uint32_t experts,
                     trace_routes_t **out, err_t *e);

/* CSV with a header line and one row per (token, layer):
 *     token,layer,e0,e1,...,e{K-1}
 * token and layer are 0-based; the names of the id columns are free, their
 * number is K; rows may come in any order but every (token, layer) from 0
 * to the largest seen must appear exactly once. From pandas, for an array
 * a of shape (T, L, K):
 *     df = pd.DataFrame(a.reshape(-1, K), columns=[f"e{j}" for j in range(K)])
 *     df.insert(0, "layer", np.tile(np.arange(L), T))
 *     df.insert(0, "token", np.repeat(np.arange(T), L))
 *     df.to_csv(path, index=False)
 * Errors name the file and line. */
int trace_import_csv(const char *path, uint32_t experts,
                     trace_routes_t **out, err_t *e);

/* How tokens become steps and get source devices. */
typedef enum trace_src_assign {
    /* Step of T tokens on D devices: token i comes from device i*D/T
     * (contiguous blocks, as when each data-parallel rank contributes its
     * own slice of a gathered batch). The default. */
    TRACE_SRC_BLOCKS = 0,
    /* token i comes from device i % D. */
    TRACE_SRC_ROUND_ROBIN = 1
} trace_src_assign_t;

typedef struct trace_split {
    uint32_t tokens_per_step;   /* 0: every token in one step; the last
                                   step takes what is left */
    trace_src_assign_t src_assign;
} trace_split_t;

/* Writes routes as a trace at PATH with placement pl (borrowed; its
 * layers and experts must match) and meta (TRACE_FLAG_IMPORTED is added;
 * top_k_max 0 means routes->top_k). */
int trace_routes_write(const trace_routes_t *routes, const char *path,
                       const placement_t *pl, const trace_meta_t *meta,
                       const trace_split_t *split, err_t *e);

#endif
