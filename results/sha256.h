/*
 * sha256: SHA-256 of a byte string or a file (FIPS 180-4, section 6.2).
 *
 * The results store records the digest of every file a scenario was built
 * from, so a database says exactly which inputs produced it. None of our
 * dependencies (GSL, SQLite, cmocka, inih, OpenBLAS) offers SHA-256, and
 * pulling in OpenSSL for one hash is not worth a new dependency; this is
 * the plain, unoptimised algorithm, ample for input files of a few
 * kilobytes. Tested against the NIST example vectors.
 *
 * The context is a small value type the caller owns (no allocation).
 */
#ifndef MOESIM_RESULTS_SHA256_H
#define MOESIM_RESULTS_SHA256_H

#include <stddef.h>
#include <stdint.h>

#include "common/err.h"

#define SHA256_DIGEST_BYTES 32
#define SHA256_HEX_CHARS 64 /* lower-case hex, without the terminating NUL */

typedef struct sha256_ctx {
    uint32_t h[8];          /* running hash H(i) */
    uint64_t total_bytes;   /* message length so far */
    unsigned char block[64];
    size_t block_bytes;     /* bytes waiting in block, 0..63 */
} sha256_ctx;

void sha256_init(sha256_ctx *c);

/* Appends n bytes of data (borrowed; may be NULL when n is 0). */
void sha256_update(sha256_ctx *c, const void *data, size_t n);

/* Pads, finishes and writes the 32-byte digest. c must be re-initialised
 * before it is used again. */
void sha256_final(sha256_ctx *c, unsigned char digest[SHA256_DIGEST_BYTES]);

/* The digest as 64 lower-case hex digits and a NUL into hex. */
void sha256_to_hex(const unsigned char digest[SHA256_DIGEST_BYTES],
                   char hex[SHA256_HEX_CHARS + 1]);

/* One call: the hex digest of n bytes of data. */
void sha256_hex(const void *data, size_t n, char hex[SHA256_HEX_CHARS + 1]);

/* The hex digest of the bytes of the file at path. ERR_IO with the path
 * and the system's reason when it cannot be opened or read. */
int sha256_file(const char *path, char hex[SHA256_HEX_CHARS + 1], err_t *e);

#endif
