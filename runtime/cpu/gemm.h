/* cpu/gemm.h: the CPU reference's one matrix product, which every linear layer and attention
 * product calls, and its one summation order: an output is a single chain of fused multiply-adds
 * over k = 0, 1, ..., K-1 starting from 0, then times alpha, then plus its bias, then the
 * activation. No output's chain depends on M, N, the blocking, the thread count or the kernel
 * that ran it, so results are bit-identical across all of them (the AVX-512 kernel and the
 * portable one included). Serial: callers split rows or work items across threads.
 * Not here: the kernels (gemm.c: blocking, packing and the portable kernel; gemm_avx512.c). */
#ifndef DITC_CPU_GEMM_H
#define DITC_CPU_GEMM_H

#include <stdint.h>

enum { DITC_ACT_NONE = 0, DITC_ACT_GELU_TANH = 1 };

/* c[M, N] (row stride ldc) = act(alpha * (a @ b) + bias) for a [M, K] (row stride lda) and b
 * [K, N] given as rows of K (trans_b 1: row n is column n of b, a linear layer's weight [N, K]) or
 * as rows of N (trans_b 0), row stride ldb; bias [N] or NULL; act DITC_ACT_*. c must not overlap
 * a or b. */
void cpu_gemm(float *c, int64_t ldc, const float *a, int64_t lda, const float *b, int64_t ldb, int trans_b, int64_t M,
              int64_t N, int64_t K, float alpha, const float *bias, int act);

/* The register tile of the kernels: GEMM_MR rows x GEMM_NR columns. */
enum { GEMM_MR = 12, GEMM_NR = 32 };

/* One tile for cpu_gemm (gemm.c calls it; the contract of both kernels): c[mr, nr] (row stride
 * ldc; mr <= GEMM_MR, nr <= GEMM_NR) = (first ? 0 : c) + sum over k < K of ap[k][i] * b[k][j] as
 * fused multiply-adds in order of k; then, where last, times alpha, plus bias[j] (bias NULL:
 * nothing) and act. ap: GEMM_MR floats per k (rows past mr are zeros); b: row k at b + k * ldb,
 * GEMM_NR floats readable where nr == GEMM_NR, else nr. Returns 0 without doing anything where
 * this CPU lacks AVX-512F (then gemm.c's portable kernel runs). */
int cpu_gemm_tile_avx512(int64_t K, const float *ap, const float *b, int64_t ldb, float *c, int64_t ldc, int mr,
                         int nr, int first, int last, float alpha, const float *bias, int act);

/* The packing of cpu_gemm (gemm.c's pack_a and pack_b, whose contract it is) in AVX-512F: mr 1:
 * a's rows in panels of GEMM_MR, mr 0: b's rows (trans_b) in panels of GEMM_NR. Returns 0 without
 * doing anything where this CPU lacks AVX-512F. */
int cpu_gemm_pack_avx512(float *dst, const float *src, int64_t ld, int64_t n, int64_t kc, int mr);

#endif
