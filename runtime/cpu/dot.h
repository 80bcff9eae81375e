/* dot.h: the CPU reference's dot product, whose summation order every GEMM-like CPU op keeps (so a
 * result does not depend on the thread count, the ranks or the kernel that computed it): 16
 * partial sums over the blocks of 16, the tail summed in order from 0, then the 16 partial sums
 * added to it in order. Not here: the blocked AVX-512 form of the same sums (linear_avx512.c). */
#ifndef DITC_CPU_DOT_H
#define DITC_CPU_DOT_H

#include <stdint.h>

/* The partial sums are independent, so the loop vectorizes without reassociation. */
static inline float cpu_dot(const float *a, const float *b, int n) {
  float acc[16] = {0};
  int k = 0;
  for (; k + 16 <= n; k += 16)
    for (int j = 0; j < 16; j++) acc[j] += a[k + j] * b[k + j];
  float s = 0.0f;
  for (; k < n; k++) s += a[k] * b[k];
  for (int j = 0; j < 16; j++) s += acc[j];
  return s;
}

/* out[i * ldo + j] = cpu_dot(a + i * lda, w + j * ldw, K) (+ b[j] where b is not NULL) for i, j in
 * 0..3, bit for bit, with AVX-512 (the 16 partial sums of an output in one register); returns 0
 * without doing anything when this CPU lacks AVX-512F. */
int cpu_dot_block4x4(float *out, int64_t ldo, const float *a, int64_t lda, const float *w, int64_t ldw, int K,
                     const float *b);

#endif
