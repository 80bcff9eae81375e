/* cpu/softmax.c: cpu_softmax_rows (softmax.h): the row's maximum, exp, the sum in cpu/rowsum.h's
 * lane order, one reciprocal; written for the compiler's clones to vectorize (CPU_CLONES,
 * cpu/isa.h). Not here: exp itself (cpu/vmath.h). */
#include "cpu/softmax.h"

#include <math.h>

#include "cpu/isa.h"
#include "cpu/rowsum.h"
#include "cpu/vmath.h"

/* The maximum of x[0 .. n), NaN skipped, by 16 lanes so that it vectorizes. Which of +0 and -0 it
 * returns may differ from a serial loop's; x - m and so exp(x - m) are the same either way. */
static inline float row_max(const float *x, int64_t n) {
  float lane[16], m = -INFINITY;
  for (int l = 0; l < 16; l++) lane[l] = -INFINITY;
  int64_t k = 0;
  for (; k + 16 <= n; k += 16)
#pragma omp simd
    for (int l = 0; l < 16; l++) lane[l] = x[k + l] > lane[l] ? x[k + l] : lane[l];
  for (; k < n; k++) m = x[k] > m ? x[k] : m;
  for (int l = 0; l < 16; l++) m = lane[l] > m ? lane[l] : m;
  return m;
}

CPU_CLONES void cpu_softmax_rows(float *p, int64_t rows, int64_t len) {
  for (int64_t r = 0; r < rows; r++) {
    float *x = p + r * len;
    const float m = row_max(x, len);
#pragma omp simd
    for (int64_t j = 0; j < len; j++) x[j] = vm_exp(x[j] - m);
    const float inv = (float)(1.0 / row_sum(x, len, ROW_X, 0.0));
#pragma omp simd
    for (int64_t j = 0; j < len; j++) x[j] *= inv;
  }
}
