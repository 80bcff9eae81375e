/* cpu/softmax.c: cpu_softmax_rows (softmax.h) once as portable C and once in AVX-512F (max, exp,
 * the double lane sums and the scaling 16 at a time), the same operations in the same order, so
 * the same bits. Not here: exp itself (cpu/vmath.h). */
#include "cpu/softmax.h"

#include <immintrin.h>
#include <math.h>

#include "cpu/isa.h"
#include "cpu/rowsum.h"
#include "cpu/vmath.h"

/* The sum of the lane sums l[16] and the tail x[j0 .. len), in softmax.h's order. */
static double finish_sum(const double l[16], const float *x, int64_t j0, int64_t len) {
  double s = 0.0;
  for (int64_t j = j0; j < len; j++) s += x[j];
  for (int i = 0; i < 16; i++) s += l[i];
  return s;
}

/* Its clones (cpu/rowsum.h) vectorize the exp, the lane sums and the scaling. */
CPU_CLONES static void row_portable(float *x, int64_t len) {
  float m = -INFINITY;
  for (int64_t j = 0; j < len; j++)
    if (x[j] > m) m = x[j];
#pragma omp simd
  for (int64_t j = 0; j < len; j++) x[j] = vm_exp(x[j] - m);
  double l[16] = {0};
  int64_t j = 0;
  for (; j + 16 <= len; j += 16)
#pragma omp simd
    for (int i = 0; i < 16; i++) l[i] += x[j + i];
  const float inv = (float)(1.0 / finish_sum(l, x, j, len));
#pragma omp simd
  for (j = 0; j < len; j++) x[j] *= inv;
}

VM_AVX512 static void row_avx512(float *x, int64_t len) {
  /* the maximum by lanes: max_ps(x, m) keeps m where x is NaN, as the portable loop skips it; which
     of +0 and -0 survives does not matter (x - m and exp(x - m) are the same either way) */
  __m512 mx = _mm512_set1_ps(-INFINITY);
  int64_t j = 0;
  for (; j + 16 <= len; j += 16) mx = _mm512_max_ps(_mm512_loadu_ps(x + j), mx);
  float lanes[16], m = -INFINITY;
  _mm512_storeu_ps(lanes, mx);
  for (int i = 0; i < 16; i++)
    if (lanes[i] > m) m = lanes[i];
  for (; j < len; j++)
    if (x[j] > m) m = x[j];
  const __m512 mv = _mm512_set1_ps(m);
  __m512d l0 = _mm512_setzero_pd(), l1 = _mm512_setzero_pd();
  for (j = 0; j + 16 <= len; j += 16) {
    const __m512 e = vm_exp16(_mm512_sub_ps(_mm512_loadu_ps(x + j), mv));
    _mm512_storeu_ps(x + j, e);
    l0 = _mm512_add_pd(l0, _mm512_cvtps_pd(_mm512_castps512_ps256(e)));
    l1 = _mm512_add_pd(l1, _mm512_cvtps_pd(_mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(e), 1))));
  }
  if (j < len) {
    const __mmask16 t = (__mmask16)((1u << (len - j)) - 1u);
    _mm512_mask_storeu_ps(x + j, t, vm_exp16(_mm512_sub_ps(_mm512_maskz_loadu_ps(t, x + j), mv)));
  }
  double l[16];
  _mm512_storeu_pd(l, l0);
  _mm512_storeu_pd(l + 8, l1);
  const __m512 inv = _mm512_set1_ps((float)(1.0 / finish_sum(l, x, j, len)));
  for (j = 0; j + 16 <= len; j += 16) _mm512_storeu_ps(x + j, _mm512_mul_ps(_mm512_loadu_ps(x + j), inv));
  if (j < len) {
    const __mmask16 t = (__mmask16)((1u << (len - j)) - 1u);
    _mm512_mask_storeu_ps(x + j, t, _mm512_mul_ps(_mm512_maskz_loadu_ps(t, x + j), inv));
  }
  _mm256_zeroupper(); /* for the SSE code after it, whatever the optimization level */
}

void cpu_softmax_rows(float *p, int64_t rows, int64_t len) {
  const int have = cpu_avx512();
  for (int64_t r = 0; r < rows; r++) {
    if (have) row_avx512(p + r * len, len);
    else row_portable(p + r * len, len);
  }
}
