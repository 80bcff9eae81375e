/* rng.c: Philox4x32-10 (Salmon et al., SC'11) and Box-Muller normals; see rng.h.
 * Counter for element pair p = (p, 0, 0, 0); each block yields 2 normals from 4 words:
 * u1 = (w0 + 1) / 2^32 (never 0), u2 = w1 / 2^32; z0 = r cos, z1 = r sin. Element i is z(i % 2) of
 * pair i / 2, whatever the range it is drawn in. */
#include "rng.h"

#include <math.h>

void rng_philox4x32_10(const uint32_t ctr[4], const uint32_t key[2], uint32_t out[4]) {
  uint32_t c0 = ctr[0], c1 = ctr[1], c2 = ctr[2], c3 = ctr[3], k0 = key[0], k1 = key[1];
  for (int r = 0; r < 10; r++) {
    const uint64_t p0 = (uint64_t)0xD2511F53u * c0, p1 = (uint64_t)0xCD9E8D57u * c2;
    const uint32_t n0 = (uint32_t)(p1 >> 32) ^ c1 ^ k0, n2 = (uint32_t)(p0 >> 32) ^ c3 ^ k1;
    c1 = (uint32_t)p1;
    c3 = (uint32_t)p0;
    c0 = n0;
    c2 = n2;
    k0 += 0x9E3779B9u;
    k1 += 0xBB67AE85u;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
}

/* The normal pair p = (r cos a, r sin a) of stream key. */
static void normal_pair(uint64_t p, const uint32_t key[2], float *z0, float *z1) {
  const uint32_t ctr[4] = {(uint32_t)p, (uint32_t)(p >> 32), 0, 0};
  uint32_t w[4];
  rng_philox4x32_10(ctr, key, w);
  const double u1 = ((double)w[0] + 1.0) / 4294967296.0, u2 = (double)w[1] / 4294967296.0;
  const double r = sqrt(-2.0 * log(u1)), a = 6.283185307179586 * u2;
  *z0 = (float)(r * cos(a));
  *z1 = (float)(r * sin(a));
}

void rng_normal_range(float *out, int64_t i0, int64_t n, uint64_t seed) {
  const uint32_t key[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  float z[2];
  for (int64_t i = i0; i < i0 + n;) {
    normal_pair((uint64_t)i / 2, key, &z[0], &z[1]);
    for (int h = (int)(i & 1); h < 2 && i < i0 + n; h++, i++) out[i - i0] = z[h];
  }
}

void rng_normal(float *out, int64_t n, uint64_t seed) { rng_normal_range(out, 0, n, seed); }
