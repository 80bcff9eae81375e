/* cpu/rowsum.h: the one order of a row's sums in double on the CPU (LayerNorm's mean and variance,
 * RMSNorm's mean square): 16 lane sums over the blocks of 16 values, the tail summed in order from
 * 0, then the 16 lane sums added to it in order (the softmax's sum too). Lane-wise, so a compiler
 * vectorizes the blocks without reassociating anything: every clone of the caller (CPU_CLONES,
 * cpu/isa.h) gives the same bits. */
#ifndef DITC_CPU_ROWSUM_H
#define DITC_CPU_ROWSUM_H

#include <stdint.h>

/* The term of each value x: x; (x - mean)^2; x^2 in double; x^2 rounded to float (as an fp32
 * upstream squares it: past FLT_MAX it is inf there too). */
enum { ROW_X, ROW_DEV2, ROW_X2, ROW_X2_F32 };

static inline double row_term(float x, int kind, double mean) {
  switch (kind) {
  case ROW_DEV2: return ((double)x - mean) * ((double)x - mean);
  case ROW_X2: return (double)x * (double)x;
  case ROW_X2_F32: return (double)(x * x);
  default: return (double)x;
  }
}

/* The sum over x[0 .. n) of row_term (kind a constant at every call, so it folds away). */
static inline double row_sum(const float *x, int64_t n, int kind, double mean) {
  double lane[16] = {0};
  int64_t k = 0;
  for (; k + 16 <= n; k += 16)
#pragma omp simd
    for (int l = 0; l < 16; l++) lane[l] += row_term(x[k + l], kind, mean);
  double s = 0.0;
  for (; k < n; k++) s += row_term(x[k], kind, mean);
  for (int l = 0; l < 16; l++) s += lane[l];
  return s;
}

#endif
