/* cpu/gemm.c: cpu_gemm (gemm.h): the blocking of a product into register tiles, the packing of
 * its operands into the tiles' order, and the portable tile kernel, which the AVX-512 one
 * (gemm_avx512.c) replaces where the CPU has it. Blocks: KC values of k (a tile's chain continues
 * through c from one block to the next, which rounds nothing: c holds the same float), NC columns
 * of b packed once per block of k, MC rows of a packed per block of columns; together 528 KiB of
 * stack, sized for a 2 MiB L2 (KC x GEMM_NR of b, a tile's panel, is a 48 KiB L1) and tuned on
 * the bench's shapes (build/tests/gemm_bench). Not here: threads (the callers split work). */
#include "cpu/gemm.h"

#include <math.h>

#include "cpu/isa.h"
#include "cpu/vmath.h"

enum { KC = 384, NC = 256, MC = 96 };
_Static_assert(NC % GEMM_NR == 0 && MC % GEMM_MR == 0, "blocks of whole tiles");

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }

/* The epilogue of an output s (gemm.h). */
static inline float epilogue(float s, float alpha, const float *bias, int j, int act) {
  s *= alpha;
  if (bias) s += bias[j];
  return act == DITC_ACT_GELU_TANH ? vm_gelu(s) : s;
}

/* The portable form of cpu_gemm_tile_avx512 (gemm.h), the same fused multiply-adds in the same
 * order, written for the clones (cpu/rowsum.h) to vectorize: a whole-width tile in blocks of 4
 * rows x 16 columns whose accumulators fit the registers of AVX2 (8 of 16 ymm), each k one fmaf
 * across a block's columns; a narrower tile (the last columns of b) with its accumulators in
 * memory. */
CPU_CLONES static void tile_portable(int64_t K, const float *ap, const float *b, int64_t ldb, float *c, int64_t ldc,
                                     int mr, int nr, int first, int last, float alpha, const float *bias, int act) {
  enum { BR = 4, BC = 16 };
  if (nr == GEMM_NR) {
    for (int i0 = 0; i0 < mr; i0 += BR) /* rows past mr are the packed zeros: computed, not stored */
      for (int j0 = 0; j0 < GEMM_NR; j0 += BC) {
        float acc[BR][BC];
#pragma GCC unroll 4
        for (int i = 0; i < BR; i++)
#pragma omp simd
          for (int j = 0; j < BC; j++) acc[i][j] = first || i0 + i >= mr ? 0.0f : c[(i0 + i) * ldc + j0 + j];
        for (int64_t k = 0; k < K; k++) {
          const float *ak = ap + k * GEMM_MR + i0, *bk = b + k * ldb + j0;
#pragma GCC unroll 4
          for (int i = 0; i < BR; i++)
#pragma omp simd
            for (int j = 0; j < BC; j++) acc[i][j] = fmaf(ak[i], bk[j], acc[i][j]);
        }
        for (int i = 0; i < BR && i0 + i < mr; i++)
          for (int j = 0; j < BC; j++)
            c[(i0 + i) * ldc + j0 + j] = last ? epilogue(acc[i][j], alpha, bias, j0 + j, act) : acc[i][j];
      }
    return;
  }
  float acc[GEMM_MR][GEMM_NR];
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) acc[i][j] = first ? 0.0f : c[i * ldc + j];
  for (int64_t k = 0; k < K; k++)
    for (int i = 0; i < mr; i++) {
      const float a = ap[k * GEMM_MR + i], *bk = b + k * ldb;
#pragma omp simd
      for (int j = 0; j < nr; j++) acc[i][j] = fmaf(a, bk[j], acc[i][j]);
    }
  for (int i = 0; i < mr; i++)
    for (int j = 0; j < nr; j++) c[i * ldc + j] = last ? epilogue(acc[i][j], alpha, bias, j, act) : acc[i][j];
}

/* ap[p][k][i] = a[(p * GEMM_MR + i) * lda + k] for rows < mc (zeros past them, to whole tiles), k < kc. */
static void pack_a(float *ap, const float *a, int64_t lda, int64_t mc, int64_t kc) {
  for (int64_t p = 0; p * GEMM_MR < mc; p++) {
    float *dst = ap + p * kc * GEMM_MR;
    const int64_t rows = min64(GEMM_MR, mc - p * GEMM_MR);
    for (int64_t i = 0; i < GEMM_MR; i++) {
      const float *src = a + (p * GEMM_MR + i) * lda;
      if (i < rows)
        for (int64_t k = 0; k < kc; k++) dst[k * GEMM_MR + i] = src[k];
      else
        for (int64_t k = 0; k < kc; k++) dst[k * GEMM_MR + i] = 0.0f;
    }
  }
}

/* bp[p][k][j] = b[(p * GEMM_NR + j) * ldb + k] for columns j < nc (b's rows: trans_b), k < kc. */
static void pack_b(float *bp, const float *b, int64_t ldb, int64_t nc, int64_t kc) {
  for (int64_t p = 0; p * GEMM_NR < nc; p++) {
    float *dst = bp + p * kc * GEMM_NR;
    const int64_t cols = min64(GEMM_NR, nc - p * GEMM_NR);
    for (int64_t j = 0; j < cols; j++) {
      const float *src = b + (p * GEMM_NR + j) * ldb;
      for (int64_t k = 0; k < kc; k++) dst[k * GEMM_NR + j] = src[k];
    }
  }
}

void cpu_gemm(float *c, int64_t ldc, const float *a, int64_t lda, const float *b, int64_t ldb, int trans_b, int64_t M,
              int64_t N, int64_t K, float alpha, const float *bias, int act) {
  _Alignas(64) float bp[KC * NC]; /* [NC / NR][KC][NR]: columns jc.. of b, rows pc.. (trans_b) */
  _Alignas(64) float ap[MC * KC]; /* [MC / MR][KC][MR]: rows ic.. of a, columns pc.. */
  for (int64_t jc = 0; jc < N; jc += NC) {
    const int64_t nc = min64(NC, N - jc);
    for (int64_t pc = 0; pc == 0 || pc < K; pc += KC) { /* K == 0: one pass, alpha * 0 + bias */
      const int64_t kc = min64(KC, K - pc);
      const int first = pc == 0, last = pc + kc >= K;
      if (trans_b && !cpu_gemm_pack_avx512(bp, b + jc * ldb + pc, ldb, nc, kc, 0))
        pack_b(bp, b + jc * ldb + pc, ldb, nc, kc);
      for (int64_t ic = 0; ic < M; ic += MC) {
        const int64_t mc = min64(MC, M - ic);
        if (!cpu_gemm_pack_avx512(ap, a + ic * lda + pc, lda, mc, kc, 1)) pack_a(ap, a + ic * lda + pc, lda, mc, kc);
        for (int64_t jr = 0; jr < nc; jr += GEMM_NR) {
          const int nr = (int)min64(GEMM_NR, nc - jr);
          const float *bt = trans_b ? bp + jr * kc : b + pc * ldb + jc + jr;
          const int64_t lb = trans_b ? GEMM_NR : ldb;
          const float *bias_t = bias ? bias + jc + jr : NULL;
          for (int64_t ir = 0; ir < mc; ir += GEMM_MR) {
            const int mr = (int)min64(GEMM_MR, mc - ir);
            const float *at = ap + ir * kc;
            float *ct = c + (ic + ir) * ldc + jc + jr;
            if (!cpu_gemm_tile_avx512(kc, at, bt, lb, ct, ldc, mr, nr, first, last, alpha, bias_t, act))
              tile_portable(kc, at, bt, lb, ct, ldc, mr, nr, first, last, alpha, bias_t, act);
          }
        }
      }
    }
  }
}
