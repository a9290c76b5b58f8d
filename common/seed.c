#include "common/seed.h"

uint64_t seed_mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

unsigned long seed_stream(unsigned long seed, seed_stream_id stream,
                          uint64_t index)
{
    uint64_t x = seed_mix64((uint64_t)seed + 0x9e3779b97f4a7c15ULL * (uint64_t)stream);
    x = seed_mix64(x ^ (index + 0x632be59bd9b4e019ULL));
    return (unsigned long)(x == 0 ? 1 : x);
}
