/* tests/linear_test.c: cpu_linear (runtime/cpu/ops.c) against the one summation order of
 * runtime/cpu/dot.h, bit for bit, on shapes that exercise every path: rows and columns that are
 * and are not multiples of the 4 x 4 AVX-512 blocks and of the 32-row tiles, K below, at and above
 * the 16 partial sums with tails, bias or none, the GELU or none; at 1 and 2 OpenMP threads. Built
 * with ASan and UBSan (build.ninja). Says whether this CPU ran the AVX-512 blocks. Prints one
 * "ok - ..." / "not ok - ..." line per check; exits 1 on any failure. */
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
  float probe[16], a4[64] = {0}, w4[64] = {0};
  const int avx = cpu_dot_block4x4(probe, 4, a4, w4, 16, NULL);
  if (!failed)
    printf("ok - cpu_linear = cpu/dot.h's order bit for bit in all %d cases (M, K, N, bias, GELU, 1 and 2 threads; "
           "this CPU %s the AVX-512 blocks)\n", cases, avx ? "ran" : "lacks");
  return failed != 0;
}
