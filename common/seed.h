/*
 * seed: one seed per random stream, derived from the scenario seed.
 *
 * STYLE.md rule 5: randomness is seeded per stream, never global. Every
 * gsl_rng in moesim is seeded with seed_stream(scenario seed, stream,
 * index), and every stream number is listed here, so two purposes can never
 * draw the same numbers by accident. The mix is splitmix64's finaliser
 * (bijective), applied twice, so distinct (seed, stream, index) triples give
 * unrelated seeds.
 */
#ifndef MOESIM_COMMON_SEED_H
#define MOESIM_COMMON_SEED_H

#include <stdint.h>

typedef enum seed_stream_id {
    SEED_WORKLOAD_ROUTER = 1, /* router matrix of MoE layer `index` */
    SEED_WORKLOAD_TOPICS,     /* topic centroids */
    SEED_WORKLOAD_VOCAB,      /* per-topic token-id maps */
    SEED_WORKLOAD_DRIFT,      /* AR(1) innovations of topic popularity */
    SEED_WORKLOAD_SEQS,       /* decode sequence turnover */
    SEED_WORKLOAD_TOKENS,     /* the tokens of step `index` */
    SEED_ROUTING              /* Gumbel noise (gshard), uniform routing */
} seed_stream_id;

/* splitmix64's finaliser (Steele, Lea, Flood 2014): a bijective 64-bit
 * mix, also the output function of the hash router. */
uint64_t seed_mix64(uint64_t x);

/* The seed for gsl_rng_set of stream `stream`, instance `index`, under the
 * scenario seed `seed`. Never 0 (gsl_rng_set maps 0 to a default seed). */
unsigned long seed_stream(unsigned long seed, seed_stream_id stream,
                          uint64_t index);

#endif
