/* cpu/vmath.h: the CPU reference's exp and GELU (tanh form), once as scalar C and once as AVX-512
 * with the same operations in the same order (each fused multiply-add, product, sum and quotient
 * rounded once, as IEEE 754 says), so the two give the same bits and a result does not depend on
 * which of them ran. libm's expf and tanhf are not used: their bits differ between libm versions
 * and they do not vectorize. Accuracy: exp within 2 ulp of the true value on the whole float range
 * (tests/linear_test.c measures it); GELU is x / (1 + exp(-2u)), u = sqrt(2/pi) (x + 0.044715 x^3)
 * in PyTorch's order,
 * the same function as upstream's 0.5 x (1 + tanh(u)) without its cancellation near 1 + tanh = 0.
 * Not here: the loops that call them (cpu/ops.c, cpu/gemm*.c). */
#ifndef DITC_CPU_VMATH_H
#define DITC_CPU_VMATH_H

#include <immintrin.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

/* exp(x) = 2^n exp(r), n = round(x log2 e), r = x - n ln 2 in two steps (Cody and Waite), exp(r)
 * by Cephes' degree-5 polynomial for expf; x clamped to [-104, 89] first, where exp is 0 or inf in
 * float after the scaling by 2^n rounds. NaN stays NaN. */
#define VM_EXP_LO (-104.0f)
#define VM_EXP_HI 89.0f
#define VM_LOG2E 1.44269504088896341f
#define VM_LN2_HI 0.693359375f
#define VM_LN2_LO (-2.12194440e-4f)
#define VM_P0 1.9875691500e-4f
#define VM_P1 1.3981999507e-3f
#define VM_P2 8.3334519073e-3f
#define VM_P3 4.1665795894e-2f
#define VM_P4 1.6666665459e-1f
#define VM_P5 5.0000001201e-1f
#define VM_GELU_BETA 0.7978845608028654f /* sqrt(2 / pi) */
#define VM_GELU_KAPPA 0.044715f

/* 2^k as a float, for k in [-126, 127]. */
static inline float vm_pow2i(int k) {
  const uint32_t bits = (uint32_t)(k + 127) << 23;
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* Branch-free, so that a compiler can vectorize a loop of it (an AVX-512 clone: cpu/rowsum.h). The
 * scaling by 2^n (n in [-150, 128]) is two multiplications by 2^(n/2) and 2^(n - n/2): the first is
 * exact, so the result is y 2^n rounded once, as scalef rounds it. */
static inline float vm_exp(float x) {
  const float xc = x != x ? 0.0f : x < VM_EXP_LO ? VM_EXP_LO : x > VM_EXP_HI ? VM_EXP_HI : x;
  const float n = nearbyintf(xc * VM_LOG2E);
  float r = fmaf(n, -VM_LN2_HI, xc);
  r = fmaf(n, -VM_LN2_LO, r);
  float p = VM_P0;
  p = fmaf(p, r, VM_P1);
  p = fmaf(p, r, VM_P2);
  p = fmaf(p, r, VM_P3);
  p = fmaf(p, r, VM_P4);
  p = fmaf(p, r, VM_P5);
  const float y = fmaf(p, r * r, r) + 1.0f;
  const int ni = (int)n;
  const float e = y * vm_pow2i(ni / 2) * vm_pow2i(ni - ni / 2);
  return x != x ? x : e;
}

static inline float vm_gelu(float x) {
  const float u = VM_GELU_BETA * (x + VM_GELU_KAPPA * (x * x * x));
  return x / (1.0f + vm_exp(-2.0f * u));
}

#define VM_AVX512 __attribute__((target("avx512f,fma")))

VM_AVX512 static inline __m512 vm_exp16(__m512 x) {
  const __mmask16 nan = _mm512_cmp_ps_mask(x, x, _CMP_UNORD_Q);
  const __m512 xc = _mm512_min_ps(_mm512_max_ps(x, _mm512_set1_ps(VM_EXP_LO)), _mm512_set1_ps(VM_EXP_HI));
  const __m512 n =
      _mm512_roundscale_ps(_mm512_mul_ps(xc, _mm512_set1_ps(VM_LOG2E)), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m512 r = _mm512_fmadd_ps(n, _mm512_set1_ps(-VM_LN2_HI), xc);
  r = _mm512_fmadd_ps(n, _mm512_set1_ps(-VM_LN2_LO), r);
  __m512 p = _mm512_set1_ps(VM_P0);
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_P1));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_P2));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_P3));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_P4));
  p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(VM_P5));
  const __m512 y = _mm512_add_ps(_mm512_fmadd_ps(p, _mm512_mul_ps(r, r), r), _mm512_set1_ps(1.0f));
  return _mm512_mask_mov_ps(_mm512_scalef_ps(y, n), nan, x);
}

VM_AVX512 static inline __m512 vm_gelu16(__m512 x) {
  const __m512 x3 = _mm512_mul_ps(_mm512_mul_ps(x, x), x);
  const __m512 inner = _mm512_add_ps(x, _mm512_mul_ps(_mm512_set1_ps(VM_GELU_KAPPA), x3));
  const __m512 u = _mm512_mul_ps(_mm512_set1_ps(VM_GELU_BETA), inner);
  const __m512 e = vm_exp16(_mm512_mul_ps(_mm512_set1_ps(-2.0f), u));
  return _mm512_div_ps(x, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

#endif
