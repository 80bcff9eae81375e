/* tests/linear_test.c: cpu_linear, cpu_attention and cpu_cross_attention (runtime/cpu/ops.c)
 * against the one summation order of runtime/cpu/dot.h, bit for bit, on shapes that exercise every
 * path: rows, columns, queries and keys that are and are not multiples of the 4 x 4 AVX-512 blocks
 * (and of the linear's 32-row tiles), K or D below, at and above the 16 partial sums with tails,
 * bias or none, the GELU or none, key counts of 0 up to L; at 1 and 2 OpenMP threads. The
 * attention's reference is the per-query loop the blocks replaced (scores by cpu_dot, softmax in
 * double, the weighted sum of values in key order). Built with ASan and UBSan (build.ninja). Says
 * whether this CPU ran the AVX-512 blocks. Prints one "ok - ..." / "not ok - ..." line per check;
 * exits 1 on any failure. */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/dot.h"
#include "cpu/ops.h"

static float gelu_tanh(float x) { /* ops.c's */
  return 0.5f * x * (1.0f + tanhf(0.7978845608028654f * (x + 0.044715f * x * x * x)));
}

/* One query against len keys and values (row stride kv): the loop before the 4 x 4 blocks. */
static void attend_ref(float *o, const float *q, const float *k0, const float *v0, int64_t kv, int len, int D,
                       float scale) {
  float p[len > 0 ? len : 1], mx = -INFINITY;
  for (int j = 0; j < len; j++) {
    p[j] = cpu_dot(q, k0 + j * kv, D) * scale;
    if (p[j] > mx) mx = p[j];
  }
  double sum = 0.0;
  for (int j = 0; j < len; j++) {
    p[j] = expf(p[j] - mx);
    sum += p[j];
  }
  const float inv = (float)(1.0 / sum);
  for (int d = 0; d < D; d++) o[d] = 0.0f;
  for (int j = 0; j < len; j++)
    for (int d = 0; d < D; d++) o[d] += p[j] * inv * v0[j * kv + d];
}

/* Self-attention over nseq sequences of len tokens (tokens interleaved by inner, as the temporal
 * attention's are) and cross-attention with per-sample key counts, against attend_ref. */
static int attention_cases(int threads) {
  static const int lens[] = {1, 3, 4, 5, 17}, Ds[] = {8, 16, 20, 48};
  int failed = 0, cases = 0;
  for (size_t a = 0; a < sizeof lens / sizeof *lens; a++)
    for (size_t c = 0; c < sizeof Ds / sizeof *Ds; c++) {
      const int len = lens[a], D = Ds[c], H = 2, C = H * D, nseq = 2, inner = 3;
      const int64_t rows = (int64_t)nseq * inner * len, ld = 3 * C; /* q, k, v in fused rows */
      float *qkv = malloc(sizeof(float) * rows * ld), *got = malloc(sizeof(float) * rows * C),
            *want = malloc(sizeof(float) * rows * C);
      if (!qkv || !got || !want) exit(1);
      for (int64_t i = 0; i < rows * ld; i++) qkv[i] = sinf(0.13f * (float)i + (float)D);
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
        printf("not ok - cpu_attention len %d D %d, %d thread(s): differs from the per-query loop\n", len, D, threads);
        failed++;
      }
      /* cross-attention: B samples of N queries against L keys, of which lens[b] count */
      const int B = 4, N = len + 2, L = 7;
      const int32_t counts[4] = {0, 3, 4, 7};
      float *qx = malloc(sizeof(float) * B * N * C), *kv = malloc(sizeof(float) * B * L * 2 * C);
      float *gx = malloc(sizeof(float) * B * N * C), *wx = malloc(sizeof(float) * B * N * C);
      if (!qx || !kv || !gx || !wx) exit(1);
      for (int i = 0; i < B * N * C; i++) qx[i] = cosf(0.07f * (float)i);
      for (int i = 0; i < B * L * 2 * C; i++) kv[i] = sinf(0.05f * (float)i + 1.0f);
      cpu_cross_attention(gx, qx, kv, kv + C, 2 * C, counts, B, N, L, H, D, scale);
      for (int b = 0; b < B; b++)
        for (int i = 0; i < N; i++)
          for (int h = 0; h < H; h++) {
            const int64_t row = (int64_t)b * N + i, off = (int64_t)b * L * 2 * C;
            attend_ref(wx + row * C + h * D, qx + row * C + h * D, kv + off + h * D, kv + off + C + h * D, 2 * C,
                       counts[b], D, scale);
          }
      if (memcmp(gx, wx, sizeof(float) * B * N * C)) {
        printf("not ok - cpu_cross_attention N %d D %d, %d thread(s): differs from the per-query loop\n", N, D, threads);
        failed++;
      }
      cases += 2;
      free(qkv), free(got), free(want), free(qx), free(kv), free(gx), free(wx);
    }
  if (!failed)
    printf("ok - cpu_attention and cpu_cross_attention = the per-query loop bit for bit in all %d cases (%d thread%s)\n",
           cases, threads, threads > 1 ? "s" : "");
  return failed;
}

int main(void) {
  static const int Ms[] = {1, 3, 4, 5, 33, 70}, Ks[] = {1, 15, 16, 17, 48, 197}, Ns[] = {1, 4, 6, 9, 130};
  int failed = 0, cases = 0;
  for (int threads = 1; threads <= 2; threads++) {
    omp_set_num_threads(threads);
    for (size_t a = 0; a < sizeof Ms / sizeof *Ms; a++)
      for (size_t c = 0; c < sizeof Ks / sizeof *Ks; c++)
        for (size_t e = 0; e < sizeof Ns / sizeof *Ns; e++)
          for (int act = 0; act < 2; act++) {
            const int M = Ms[a], K = Ks[c], N = Ns[e];
            float *x = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K), *b = malloc(sizeof(float) * N);
            float *got = malloc(sizeof(float) * M * N), *want = malloc(sizeof(float) * M * N);
            if (!x || !w || !b || !got || !want) return 1;
            for (int i = 0; i < M * K; i++) x[i] = sinf(0.37f * (float)i + (float)K);
            for (int i = 0; i < N * K; i++) w[i] = cosf(0.11f * (float)i) * 0.3f;
            for (int i = 0; i < N; i++) b[i] = 0.01f * (float)i;
            const float *bias = (a + e) % 2 ? b : NULL;
            cpu_linear(got, x, w, bias, M, K, N, act ? DITC_ACT_GELU_TANH : DITC_ACT_NONE);
            for (int m = 0; m < M; m++)
              for (int n = 0; n < N; n++) {
                const float y = cpu_dot(x + m * K, w + n * K, K) + (bias ? bias[n] : 0.0f);
                want[m * N + n] = act ? gelu_tanh(y) : y;
              }
            if (memcmp(got, want, sizeof(float) * M * N)) {
              printf("not ok - cpu_linear M %d K %d N %d, %s, %s, %d thread%s: differs from cpu/dot.h's order\n", M, K,
                     N, bias ? "bias" : "no bias", act ? "GELU" : "no activation", threads, threads > 1 ? "s" : "");
              failed++;
            }
            cases++;
            free(x), free(w), free(b), free(got), free(want);
          }
  }
  for (int threads = 1; threads <= 2; threads++) {
    omp_set_num_threads(threads);
    failed += attention_cases(threads);
  }
  float probe[16], a4[64] = {0}, w4[64] = {0};
  const int avx = cpu_dot_block4x4(probe, 4, a4, 16, w4, 16, 16, NULL);
  if (!failed)
    printf("ok - cpu_linear = cpu/dot.h's order bit for bit in all %d cases (M, K, N, bias, GELU, 1 and 2 threads; "
           "this CPU %s the AVX-512 blocks)\n", cases, avx ? "ran" : "lacks");
  return failed != 0;
}
