/* cpu/gemm_avx512.c: cpu_gemm's AVX-512F forms (gemm.h): the register tile, 12 rows x 32
 * columns of accumulators (24 zmm; every loop over the rows unrolled, so they stay in registers),
 * each k one load of b's two vectors and 12 broadcasts of a, every output's chain of fused
 * multiply-adds in order of k as the portable kernel's (gemm.c), so the same bits, and the
 * epilogue (alpha, bias, GELU: cpu/vmath.h) in registers; and the packing of both operands by
 * 16 x 16 transposes in registers. Compiled for AVX-512F by function attributes and chosen at run
 * time (cpu/isa.h), so a binary still runs on a CPU without it. Not here: the blocking (gemm.c). */
#include <immintrin.h>

#include "cpu/gemm.h"
#include "cpu/isa.h"
#include "cpu/vmath.h"

_Static_assert(GEMM_MR == 12 && GEMM_NR == 32, "the tile below is 12 x 2 vectors of 16");

VM_AVX512 static void tile(int64_t K, const float *ap, const float *b, int64_t ldb, float *c, int64_t ldc, int mr,
                           int nr, int first, int last, float alpha, const float *bias, int act) {
  const __mmask16 m0 = nr >= 16 ? 0xffff : (__mmask16)((1u << nr) - 1u);
  const __mmask16 m1 = nr >= 32 ? 0xffff : nr <= 16 ? 0 : (__mmask16)((1u << (nr - 16)) - 1u);
  __m512 acc[GEMM_MR][2];
#pragma GCC unroll 12
  for (int i = 0; i < GEMM_MR; i++) {
    acc[i][0] = first || i >= mr ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m0, c + i * ldc);
    acc[i][1] = first || i >= mr ? _mm512_setzero_ps() : _mm512_maskz_loadu_ps(m1, c + i * ldc + 16);
  }
  if (nr == GEMM_NR) {
    for (int64_t k = 0; k < K; k++) {
      const __m512 b0 = _mm512_loadu_ps(b + k * ldb), b1 = _mm512_loadu_ps(b + k * ldb + 16);
#pragma GCC unroll 12
      for (int i = 0; i < GEMM_MR; i++) {
        const __m512 a = _mm512_set1_ps(ap[k * GEMM_MR + i]);
        acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
      }
    }
  } else {
    for (int64_t k = 0; k < K; k++) {
      const __m512 b0 = _mm512_maskz_loadu_ps(m0, b + k * ldb), b1 = _mm512_maskz_loadu_ps(m1, b + k * ldb + 16);
#pragma GCC unroll 12
      for (int i = 0; i < GEMM_MR; i++) {
        const __m512 a = _mm512_set1_ps(ap[k * GEMM_MR + i]);
        acc[i][0] = _mm512_fmadd_ps(a, b0, acc[i][0]);
        acc[i][1] = _mm512_fmadd_ps(a, b1, acc[i][1]);
      }
    }
  }
  if (last) {
    const __m512 al = _mm512_set1_ps(alpha);
    const __m512 bias0 = bias ? _mm512_maskz_loadu_ps(m0, bias) : _mm512_setzero_ps();
    const __m512 bias1 = bias ? _mm512_maskz_loadu_ps(m1, bias + 16) : _mm512_setzero_ps();
#pragma GCC unroll 12
    for (int i = 0; i < GEMM_MR; i++) {
      if (i >= mr) break;
      __m512 y0 = _mm512_mul_ps(acc[i][0], al), y1 = _mm512_mul_ps(acc[i][1], al);
      if (bias) {
        y0 = _mm512_add_ps(y0, bias0);
        y1 = _mm512_add_ps(y1, bias1);
      }
      if (act == DITC_ACT_GELU_TANH) {
        y0 = vm_gelu16(y0);
        y1 = vm_gelu16(y1);
      }
      _mm512_mask_storeu_ps(c + i * ldc, m0, y0);
      _mm512_mask_storeu_ps(c + i * ldc + 16, m1, y1);
    }
  } else {
#pragma GCC unroll 12
    for (int i = 0; i < GEMM_MR; i++) {
      if (i >= mr) break;
      _mm512_mask_storeu_ps(c + i * ldc, m0, acc[i][0]);
      _mm512_mask_storeu_ps(c + i * ldc + 16, m1, acc[i][1]);
    }
  }
  _mm256_zeroupper(); /* for the SSE code after it, whatever the optimization level */
}

/* r[i] becomes column i of the 16 x 16 matrix whose rows were r[0..15]. */
VM_AVX512 static void transpose16(__m512 r[16]) {
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

/* dst[k][0 .. w) = row i's src_i[k] for k < kc, from `rows` rows (the rest of the w: zeros) at
 * src + i * ld: 16 x 16 blocks through registers. w is GEMM_MR or 16 (half a GEMM_NR panel), dst's
 * rows ldd floats apart. */
VM_AVX512 static void transpose_rows(float *dst, int64_t ldd, int w, const float *src, int64_t ld, int64_t rows,
                                     int64_t kc) {
  const __mmask16 wm = (__mmask16)((1u << w) - 1u);
  for (int64_t k0 = 0; k0 < kc; k0 += 16) {
    const int64_t nk = kc - k0 < 16 ? kc - k0 : 16;
    const __mmask16 km = (__mmask16)((1u << nk) - 1u);
    __m512 r[16];
#pragma GCC unroll 16
    for (int i = 0; i < 16; i++) r[i] = i < rows ? _mm512_maskz_loadu_ps(km, src + i * ld + k0) : _mm512_setzero_ps();
    transpose16(r);
#pragma GCC unroll 16
    for (int kk = 0; kk < 16; kk++)
      if (kk < nk) _mm512_mask_storeu_ps(dst + (k0 + kk) * ldd, wm, r[kk]);
  }
}

VM_AVX512 static void zeroupper(void) { _mm256_zeroupper(); }

int cpu_gemm_pack_avx512(float *dst, const float *src, int64_t ld, int64_t n, int64_t kc, int mr) {
  if (!cpu_avx512()) return 0;
  const int w = mr ? GEMM_MR : GEMM_NR;
  for (int64_t p = 0; p * w < n; p++) {
    const int64_t left = n - p * w;
    if (mr) transpose_rows(dst + p * kc * w, w, GEMM_MR, src + p * w * ld, ld, left < w ? left : w, kc);
    else
      for (int h = 0; h < 2; h++) {
        const int64_t rows = left - 16 * h < 0 ? 0 : left - 16 * h < 16 ? left - 16 * h : 16;
        transpose_rows(dst + p * kc * w + 16 * h, w, 16, src + (p * w + 16 * h) * ld, ld, rows, kc);
      }
  }
  zeroupper();
  return 1;
}

int cpu_gemm_tile_avx512(int64_t K, const float *ap, const float *b, int64_t ldb, float *c, int64_t ldc, int mr,
                         int nr, int first, int last, float alpha, const float *bias, int act) {
  if (!cpu_avx512()) return 0;
  tile(K, ap, b, ldb, c, ldc, mr, nr, first, last, alpha, bias, act);
  return 1;
}
