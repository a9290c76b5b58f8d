/*
 * trace_impl: what the files of the token trace share, not part of its
 * interface (models/trace.h): the block magics and kinds, little-endian
 * reads, the buffer growth and the opening of an input file.
 *
 *   trace.c         the writer; FNV-1a 64, trace_layer_token, trace_grow,
 *                   trace_open_input
 *   trace_reader.c  the verifying reader
 *   trace_import.c  import of engine-recorded routing (.npy, CSV) and its
 *                   writing as a trace
 *
 * Comments on the functions are at their definitions.
 */
#ifndef MOESIM_MODELS_TRACE_IMPL_H
#define MOESIM_MODELS_TRACE_IMPL_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "models/trace.h"

static const char MAGIC[8] = {'M', 'O', 'E', 'T', 'R', 'A', 'C', 'E'};
static const char TRAILER_MAGIC[8] = {'M', 'O', 'E', 'T', 'R', 'A', 'I', 'L'};
static const char STEP_MAGIC[4] = {'S', 'T', 'E', 'P'};
static const char LAYER_MAGIC[4] = {'L', 'A', 'Y', 'R'};

enum { KIND_FIXED = 0, KIND_VARIABLE = 1 };
#define KNOWN_FLAGS (TRACE_FLAG_IMPORTED | TRACE_FLAG_VARIABLE)

/* ---- bytes ------------------------------------------------------------ */

/* Inline: the reader calls these once per entry. */
static inline uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)(p[0] | (p[1] << 8));
}

static inline uint32_t get_u32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
           (uint32_t)p[3] << 24;
}

static inline uint64_t get_u64(const uint8_t *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

int trace_grow(void *bufp, size_t *cap, size_t need, size_t size);
int trace_open_input(const char *path, FILE **f, uint64_t *bytes, err_t *e);

#endif
