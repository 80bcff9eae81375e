/* cpu/t5_bucket.h: T5's relative-position bucket of offset r = key - query, one definition for the
 * CPU op (cpu/encoder.c), the CUDA kernel (cuda/encoder.cu, as a device function) and the test:
 * bidirectional, nb/2 buckets a direction, exact below nb/4, then log-spaced up to max_dist (the
 * last bucket holds the rest; docs/upstream.md#t5). Not here: the bias table built from it. */
#ifndef DITC_T5_BUCKET_H
#define DITC_T5_BUCKET_H

#include <math.h>

#ifdef __CUDACC__
#define T5_BUCKET_FN static inline __host__ __device__
#else
#define T5_BUCKET_FN static inline
#endif

T5_BUCKET_FN int t5_bucket(int r, int nb, int max_dist) {
  const int half = nb / 2, exact = half / 2;
  const int base = r > 0 ? half : 0, n = r < 0 ? -r : r;
  if (n < exact) return base + n;
  /* upstream truncates exact + ln(n / exact) / ln(max_dist / exact) * (half - exact); where the
   * real value is an integer (n = 16, 32, 64 of the released config) it lands on it, so a value
   * within 1e-9 below an integer counts as that integer */
  const double x = log((double)n / exact) / log((double)max_dist / exact) * (half - exact);
  const int k = exact + (int)floor(x + 1e-9);
  return base + (k < half - 1 ? k : half - 1);
}

#endif
