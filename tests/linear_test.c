/* tests/linear_test.c: the CPU's products against their one summation order (runtime/cpu/gemm.h:
 * a chain of fused multiply-adds over k from 0, then alpha, bias and the activation), bit for bit:
 * cpu_gemm on shapes that cross every tile and block edge (rows, columns and k below, at and past
 * the 12 x 32 tiles and the blocks of 96 rows, 256 columns and 384 values of k; k = 0), both
 * layouts of b, padded row strides, alpha, bias or none, GELU or none; cpu_linear and the
 * attention ops (cpu_attention, cpu_cross_attention: scores, runtime/cpu/softmax.h's softmax,
 * weighted values) at 1 and 2 OpenMP threads; exp and GELU (runtime/cpu/vmath.h): the AVX-512
 * forms equal the scalar ones on a sweep of floats, exp within 2 ulp of double's exp and GELU
 * within 4e-7 of |x| of double's. The references are written here from the contracts, not taken
 * from the kernels. Run as it is and with DITC_CPU_PORTABLE=1 (tests/run.sh), so that both the
 * AVX-512 and the portable forms meet the same bits; says which ran. Built with ASan and UBSan
 * (build.ninja). Prints one "ok - ..." / "not ok - ..." line per check; exits 1 on any failure. */
#include <float.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/gemm.h"
#include "cpu/isa.h"
#include "cpu/ops.h"
#include "cpu/vmath.h"

static float *fill(int64_t n, float f, float phase) {
  float *x = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
  if (!x) exit(1);
  for (int64_t i = 0; i < n; i++) x[i] = sinf(f * (float)i + phase);
  return x;
}

/* gemm.h's contract, one output at a time. */
static float ref_out(const float *a, int64_t lda, const float *b, int64_t ldb, int trans_b, int64_t i, int64_t j,
                     int64_t K, float alpha, const float *bias, int act) {
  float s = 0.0f;
  for (int64_t k = 0; k < K; k++) s = fmaf(a[i * lda + k], trans_b ? b[j * ldb + k] : b[k * ldb + j], s);
  s *= alpha;
  if (bias) s += bias[j];
  return act == DITC_ACT_GELU_TANH ? vm_gelu(s) : s;
}

static int gemm_cases(void) {
  static const int64_t Ms[] = {1, 5, 12, 13, 97}, Ns[] = {1, 17, 32, 33, 257}, Ks[] = {0, 1, 16, 17, 400};
  int failed = 0, cases = 0;
  for (size_t x = 0; x < 5; x++)
    for (size_t y = 0; y < 5; y++)
      for (size_t z = 0; z < 5; z++)
        for (int trans_b = 0; trans_b < 2; trans_b++) {
          const int64_t M = Ms[x], N = Ns[y], K = Ks[z], lda = K + 3, ldb = (trans_b ? K : N) + 5, ldc = N + 2;
          const int variant = (int)(x + y + z) + trans_b; /* alpha, bias and act vary with the shape */
          const float alpha = variant % 3 == 1 ? 0.125f : 1.0f;
          const int act = variant % 2 ? DITC_ACT_GELU_TANH : DITC_ACT_NONE;
          float *a = fill(M * lda, 0.37f, (float)K), *b = fill((trans_b ? N : K) * ldb, 0.11f, 1.0f);
          float *bias = variant % 4 < 2 ? fill(N, 0.7f, 2.0f) : NULL, *c = fill(M * ldc, 0.5f, 3.0f);
          float *before = malloc(sizeof(float) * (size_t)(M * ldc));
          if (!before) exit(1);
          memcpy(before, c, sizeof(float) * (size_t)(M * ldc));
          cpu_gemm(c, ldc, a, lda, b, ldb, trans_b, M, N, K, alpha, bias, act);
          int64_t bad = 0;
          for (int64_t i = 0; i < M; i++)
            for (int64_t j = 0; j < ldc; j++) {
              const float want =
                  j < N ? ref_out(a, lda, b, ldb, trans_b, i, j, K, alpha, bias, act) : before[i * ldc + j];
              if (memcmp(&want, &c[i * ldc + j], sizeof want)) bad++;
            }
          if (bad) {
            printf("not ok - cpu_gemm M %lld N %lld K %lld, trans_b %d, alpha %g, %s, %s: %lld outputs differ from the "
                   "contract (or a padding column changed)\n",
                   (long long)M, (long long)N, (long long)K, trans_b, alpha, bias ? "bias" : "no bias",
                   act ? "GELU" : "no activation", (long long)bad);
            failed++;
          }
          cases++;
          free(a), free(b), free(bias), free(c), free(before);
        }
  if (!failed)
    printf("ok - cpu_gemm = one fused multiply-add chain an output, bit for bit, in all %d cases (edges of the tiles "
           "and blocks, both layouts of b, strides, alpha, bias, GELU; padding columns untouched)\n",
           cases);
  return failed;
}

static int linear_cases(int threads) {
  static const int Ms[] = {1, 13, 300}, Ks[] = {17, 197}, Ns[] = {9, 130};
  int failed = 0, cases = 0;
  for (int x = 0; x < 3; x++)
    for (int y = 0; y < 2; y++)
      for (int z = 0; z < 2; z++)
        for (int act = 0; act < 2; act++) {
          const int M = Ms[x], K = Ks[y], N = Ns[z];
          float *a = fill((int64_t)M * K, 0.37f, (float)K), *w = fill((int64_t)N * K, 0.11f, 0.5f);
          float *bias = (x + z) % 2 ? fill(N, 0.01f, 0.0f) : NULL, *got = fill((int64_t)M * N, 1.0f, 0.0f);
          cpu_linear(got, a, w, bias, M, K, N, act ? DITC_ACT_GELU_TANH : DITC_ACT_NONE);
          int64_t bad = 0;
          for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
              const float want = ref_out(a, K, w, K, 1, i, j, K, 1.0f, bias, act);
              if (memcmp(&want, &got[(int64_t)i * N + j], sizeof want)) bad++;
            }
          if (bad) {
            printf("not ok - cpu_linear M %d K %d N %d, %s, %s, %d thread(s): %lld outputs differ\n", M, K, N,
                   bias ? "bias" : "no bias", act ? "GELU" : "no activation", threads, (long long)bad);
            failed++;
          }
          cases++;
          free(a), free(w), free(bias), free(got);
        }
  if (!failed)
    printf("ok - cpu_linear = the contract bit for bit in all %d cases at %d thread%s (rows split across threads)\n",
           cases, threads, threads > 1 ? "s" : "");
  return failed;
}

/* One query against len keys and values (row stride kv): scores as the contract, softmax.h's
 * order (maximum, exp, double sums in 16 lanes then the tail then the lanes, one reciprocal), the
 * weighted sum as the contract over the keys. */
static void attend_ref(float *o, const float *q, const float *k0, const float *v0, int64_t kv, int len, int D,
                       float scale) {
  float p[len > 0 ? len : 1], mx = -INFINITY;
  for (int j = 0; j < len; j++) {
    p[j] = ref_out(q, 0, k0 + j * kv, 0, 1, 0, 0, D, scale, NULL, DITC_ACT_NONE);
    if (p[j] > mx) mx = p[j];
  }
  double lanes[16] = {0}, sum = 0.0;
  for (int j = 0; j < len; j++) p[j] = vm_exp(p[j] - mx);
  int j = 0;
  for (; j + 16 <= len; j += 16)
    for (int l = 0; l < 16; l++) lanes[l] += p[j + l];
  for (; j < len; j++) sum += p[j];
  for (int l = 0; l < 16; l++) sum += lanes[l];
  const float inv = (float)(1.0 / sum);
  for (j = 0; j < len; j++) p[j] *= inv;
  for (int d = 0; d < D; d++) o[d] = ref_out(p, 0, v0 + d, kv, 0, 0, 0, len, 1.0f, NULL, DITC_ACT_NONE);
}

/* Self-attention over nseq sequences of len tokens (interleaved by inner, as the temporal
 * attention's are) and cross-attention with per-sample key counts, against attend_ref. */
static int attention_cases(int threads) {
  static const int lens[] = {1, 5, 17, 100}, Ds[] = {8, 20, 72};
  int failed = 0, cases = 0;
  for (size_t a = 0; a < sizeof lens / sizeof *lens; a++)
    for (size_t c = 0; c < sizeof Ds / sizeof *Ds; c++) {
      const int len = lens[a], D = Ds[c], H = 2, C = H * D, nseq = 2, inner = 3;
      const int64_t rows = (int64_t)nseq * inner * len, ld = 3 * C; /* q, k, v in fused rows */
      float *qkv = fill(rows * ld, 0.13f, (float)D), *got = fill(rows * C, 1.0f, 0.0f);
      float *want = fill(rows * C, 1.0f, 0.0f);
      const float scale = 1.0f / sqrtf((float)D);
      cpu_attention(got, qkv, qkv + C, qkv + 2 * C, ld, nseq, inner, (int64_t)inner * len, 1, inner, len, H, D, scale);
      for (int s = 0; s < nseq * inner; s++) /* sequence s: tokens base + i * inner */
        for (int h = 0; h < H; h++)
          for (int i = 0; i < len; i++) {
            const int64_t base = (int64_t)(s / inner) * inner * len + s % inner, row = base + (int64_t)i * inner;
            attend_ref(want + row * C + h * D, qkv + row * ld + h * D, qkv + base * ld + C + h * D,
                       qkv + base * ld + 2 * C + h * D, (int64_t)inner * ld, len, D, scale);
          }
      if (memcmp(got, want, sizeof(float) * rows * C)) {
        printf("not ok - cpu_attention len %d D %d, %d thread(s): differs from the per-query reference\n", len, D,
               threads);
        failed++;
      }
      /* cross-attention: B samples of N queries against L keys, of which counts[b] count */
      const int B = 4, N = len + 50, L = 37;
      const int32_t counts[4] = {0, 3, 16, 37};
      float *qx = fill((int64_t)B * N * C, 0.07f, 0.0f), *kv = fill((int64_t)B * L * 2 * C, 0.05f, 1.0f);
      float *gx = fill((int64_t)B * N * C, 1.0f, 0.0f), *wx = fill((int64_t)B * N * C, 1.0f, 0.0f);
      cpu_cross_attention(gx, qx, kv, kv + C, 2 * C, counts, B, N, L, H, D, scale);
      for (int b = 0; b < B; b++)
        for (int i = 0; i < N; i++)
          for (int h = 0; h < H; h++) {
            const int64_t row = (int64_t)b * N + i, off = (int64_t)b * L * 2 * C;
            attend_ref(wx + row * C + h * D, qx + row * C + h * D, kv + off + h * D, kv + off + C + h * D, 2 * C,
                       counts[b], D, scale);
          }
      if (memcmp(gx, wx, sizeof(float) * B * N * C)) {
        printf("not ok - cpu_cross_attention N %d D %d, %d thread(s): differs from the per-query reference\n", N, D,
               threads);
        failed++;
      }
      cases += 2;
      free(qkv), free(got), free(want), free(qx), free(kv), free(gx), free(wx);
    }
  if (!failed)
    printf("ok - cpu_attention and cpu_cross_attention = the per-query reference bit for bit in all %d cases (%d "
           "thread%s)\n",
           cases, threads, threads > 1 ? "s" : "");
  return failed;
}

static double ulp_err(float got, double want) {
  if (isinf(want) || want > FLT_MAX) return isinf(got) && got > 0 ? 0.0 : INFINITY;
  const float w = (float)want;
  const double ulp = w == 0.0f ? 1.4e-45 : fabs((double)nextafterf(w, INFINITY) - (double)w);
  return fabs((double)got - want) / ulp;
}

/* The AVX-512 forms at x (call only where cpu_avx512()). */
VM_AVX512 static void vec16(float x, float *e, float *g) {
  *e = _mm512_cvtss_f32(vm_exp16(_mm512_set1_ps(x)));
  *g = _mm512_cvtss_f32(vm_gelu16(_mm512_set1_ps(x)));
  _mm256_zeroupper(); /* the SSE code after it runs at full speed, also at -O1 */
}

/* vm_exp against double's exp on every 997th float in [-104, 89] (both signs, by bit pattern),
 * and the AVX-512 forms against the scalar ones bit for bit on the same sweep (where they run).
 * GELU against double's x / (1 + exp(-2u)) (upstream's 0.5 x (1 + tanh(u)) without the
 * cancellation that makes double's own tanh form wrong past x = -6), its error relative to |x|:
 * fp32's u carries a relative error of a few ulp, which exp(-2u) turns into an error relative to
 * the result that grows with |u|, but the result is then at most e^-2|u| of |x|. */
static int vmath_cases(void) {
  int failed = 0;
  double worst = 0.0, worst_x = 0.0, gworst = 0.0, gworst_x = 0.0;
  int64_t n = 0, differ = 0;
  const int avx = cpu_avx512();
  for (int sign = 0; sign < 2; sign++) {
    const float end = sign ? -104.0f : 89.0f;
    uint32_t last;
    memcpy(&last, &end, 4);
    for (uint32_t u = sign ? 0x80000000u : 0u; u <= last; u += 997) {
      float x;
      memcpy(&x, &u, 4);
      n++;
      const float e = vm_exp(x), g = vm_gelu(x);
      const double err = ulp_err(e, exp((double)x));
      if (err > worst) worst = err, worst_x = x;
      const double ux = 0.7978845608028654 * ((double)x + 0.044715 * (double)x * x * x);
      const double gx = (double)x / (1.0 + exp(-2.0 * ux)), ge = fabs((double)g - gx) / fabs((double)x);
      if (fabsf(x) > 1e-30f && ge > gworst) gworst = ge, gworst_x = x; /* not where x / 2 is subnormal */
      if (avx) {
        float e1, g1;
        vec16(x, &e1, &g1);
        if (memcmp(&e, &e1, 4) || memcmp(&g, &g1, 4)) differ++;
      }
    }
  }
  const float specials[] = {NAN, INFINITY, -INFINITY, 1000.0f, -1000.0f, 0.0f, -0.0f};
  int special_bad = 0;
  for (size_t i = 0; i < sizeof specials / sizeof *specials; i++) {
    const float x = specials[i], e = vm_exp(x);
    const int ok = isnan(x) ? isnan(e) : x > 100.0f ? isinf(e) && e > 0 : x < -200.0f ? e == 0.0f : e == 1.0f;
    if (!ok) special_bad++;
    if (avx) {
      float e1, g1;
      vec16(x, &e1, &g1);
      if (memcmp(&e, &e1, 4) && !(isnan(e) && isnan(e1))) differ++;
    }
  }
  if (worst > 2.0 || special_bad) {
    printf("not ok - vm_exp: %.2f ulp at %.9g (bound 2), %d special values wrong\n", worst, worst_x, special_bad);
    failed++;
  } else
    printf("ok - vm_exp within %.2f ulp of exp on %lld floats in [-104, 89] (bound 2; worst at %.9g); NaN, +-inf, "
           "+-0 and out-of-range right\n",
           worst, (long long)n, worst_x);
  if (gworst > 4e-7) {
    printf("not ok - vm_gelu: error %.3g of |x| at %.9g (bound 4e-7)\n", gworst, gworst_x);
    failed++;
  } else
    printf("ok - vm_gelu within %.3g of |x| of double's GELU (bound 4e-7; worst at %.9g)\n", gworst, gworst_x);
  if (avx) {
    if (differ) {
      printf("not ok - vm_exp16 / vm_gelu16 differ from vm_exp / vm_gelu on %lld floats\n", (long long)differ);
      failed++;
    } else
      printf("ok - vm_exp16 and vm_gelu16 = vm_exp and vm_gelu bit for bit on all %lld floats\n", (long long)n);
  }
  return failed;
}

int main(void) {
  int failed = 0;
  printf("# the %s forms of the CPU kernels ran (DITC_CPU_PORTABLE=%s)\n", cpu_avx512() ? "AVX-512" : "portable",
         getenv("DITC_CPU_PORTABLE") ? getenv("DITC_CPU_PORTABLE") : "unset");
  failed += vmath_cases();
  failed += gemm_cases();
  for (int threads = 1; threads <= 2; threads++) {
    omp_set_num_threads(threads);
    failed += linear_cases(threads);
    failed += attention_cases(threads);
  }
  return failed != 0;
}
