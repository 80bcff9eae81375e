/* rng.h: counter-based normal noise (Philox4x32-10 + Box-Muller). Element i of a seed's stream
 * depends only on (seed, i), so CPU, GPU and any number of ranks draw identical noise.
 * Not a general-purpose RNG API. */
#ifndef DITC_RNG_H
#define DITC_RNG_H

#include <stdint.h>

/* Philox4x32-10 block: 4 words from counter ctr[4] and key key[2]. */
void rng_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]);

/* out[i] = N(0, 1) sample i of stream `seed`, for i in [0, n). */
void rng_normal(float *out, int64_t n, uint64_t seed);

/* out[k] = N(0, 1) sample i0 + k of stream `seed`, for k in [0, n): any slice of rng_normal's
 * stream, so chunks drawn on different threads join into the same values. */
void rng_normal_range(float *out, int64_t i0, int64_t n, uint64_t seed);

#endif
