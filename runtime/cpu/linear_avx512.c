/* linear_avx512.c: cpu_dot_block4x4 (dot.h): 4 x 4 outputs of a linear layer with AVX-512F, the
 * same sums in the same order as cpu_dot, so the results are bit-identical (no FMA: each product
 * is rounded before its sum, as the portable code does). The block's 16 accumulators are
 * transposed so that lane l of all 16 outputs is added at once, in the order l = 0, 1, ..., 15.
 * Compiled for AVX-512F by a function attribute and chosen at run time, so a binary still runs on
 * a CPU without it. Not here: the loop over a layer's blocks (ops.c: cpu_linear). */
#include <immintrin.h>
#include <string.h>

#include "cpu/dot.h"

#define AVX512 __attribute__((target("avx512f")))

/* r[i] becomes column i of the 16 x 16 matrix whose rows were r[0..15]. */
AVX512 static void transpose16(__m512 r[16]) {
  __m512 t[16], u[16], v[16];
#pragma GCC unroll 8
  for (int i = 0; i < 8; i++) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
#pragma GCC unroll 4
  for (int i = 0; i < 4; i++) {
    u[4 * i + 0] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0x44);
    u[4 * i + 1] = _mm512_shuffle_ps(t[4 * i + 0], t[4 * i + 2], 0xEE);
    u[4 * i + 2] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
    u[4 * i + 3] = _mm512_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xEE);
  }
#pragma GCC unroll 2
  for (int h = 0; h < 2; h++)
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) {
      v[8 * h + i] = _mm512_shuffle_f32x4(u[8 * h + i], u[8 * h + 4 + i], 0x88);
      v[8 * h + 4 + i] = _mm512_shuffle_f32x4(u[8 * h + i], u[8 * h + 4 + i], 0xDD);
    }
#pragma GCC unroll 8
  for (int i = 0; i < 8; i++) {
    r[i] = _mm512_shuffle_f32x4(v[i], v[8 + i], 0x88);
    r[8 + i] = _mm512_shuffle_f32x4(v[i], v[8 + i], 0xDD);
  }
}

/* The unrolled loops keep the 16 accumulators, 4 rows and 4 columns in registers (32 zmm). */
AVX512 static void block(float *out, int64_t ldo, const float *a, int64_t lda, const float *w, int64_t ldw, int K,
                         const float *b) {
  __m512 acc[16];
#pragma GCC unroll 16
  for (int o = 0; o < 16; o++) acc[o] = _mm512_setzero_ps();
  int k = 0;
  for (; k + 16 <= K; k += 16) {
    __m512 av[4], wv[4];
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++) av[i] = _mm512_loadu_ps(a + i * lda + k);
#pragma GCC unroll 4
    for (int j = 0; j < 4; j++) wv[j] = _mm512_loadu_ps(w + j * ldw + k);
#pragma GCC unroll 4
    for (int i = 0; i < 4; i++)
#pragma GCC unroll 4
      for (int j = 0; j < 4; j++) acc[4 * i + j] = _mm512_add_ps(acc[4 * i + j], _mm512_mul_ps(av[i], wv[j]));
  }
  float tail[16], y[16]; /* output 4 * i + j */
  for (int i = 0; i < 4; i++)
    for (int j = 0; j < 4; j++) {
      float s = 0.0f;
      for (int kk = k; kk < K; kk++) s += a[i * lda + kk] * w[j * ldw + kk];
      tail[4 * i + j] = s;
    }
  transpose16(acc);
  __m512 s = _mm512_loadu_ps(tail);
#pragma GCC unroll 16
  for (int l = 0; l < 16; l++) s = _mm512_add_ps(s, acc[l]);
  if (b) { /* the bias of column j in every row */
    const __m128 b4 = _mm_loadu_ps(b);
    s = _mm512_add_ps(s, _mm512_broadcast_f32x4(b4));
  }
  _mm512_storeu_ps(y, s);
  for (int i = 0; i < 4; i++) memcpy(out + i * ldo, y + 4 * i, 4 * sizeof(float));
}

int cpu_dot_block4x4(float *out, int64_t ldo, const float *a, int64_t lda, const float *w, int64_t ldw, int K,
                     const float *b) {
  static int have = -1; /* a benign race: every thread computes the same answer */
  if (have < 0) have = __builtin_cpu_supports("avx512f") ? 1 : 0;
  if (!have) return 0;
  block(out, ldo, a, lda, w, ldw, K, b);
  return 1;
}
