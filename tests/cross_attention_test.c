/* tests/cross_attention_test.c: cpu_cross_attention (runtime/cpu/ops.c) with per-sample key
 * counts outside [0, L]: each is clamped, so a count above L attends to the L keys of its own
 * sample and a negative one to none (zeros), bit for bit as the in-range counts L and 0. Built
 * with ASan and UBSan (build.ninja, fuzzing section) on a kv buffer of exactly B*L rows, the
 * over-long count on the last sample: an unclamped read past the buffer fails the run. Prints one
 * "ok - ..." / "not ok - ..." line per check; exits 1 on any failure. Not a test of the
 * attention's accuracy (the CUDA op tests compare it with the GPU). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/ops.h"

int main(void) {
  enum { B = 3, N = 5, L = 7, H = 2, D = 8, C = H * D };
  const int64_t ld = 2 * C; /* k, v inside fused kv rows [B*L, 2C] */
  float *q = malloc(sizeof(float) * B * N * C), *kv = malloc(sizeof(float) * B * L * ld);
  float *got = malloc(sizeof(float) * B * N * C), *want = malloc(sizeof(float) * B * N * C);
  if (!q || !kv || !got || !want) return 1;
  for (int i = 0; i < B * N * C; i++) q[i] = sinf(0.37f * (float)i);
  for (int i = 0; i < B * L * ld; i++) kv[i] = cosf(0.11f * (float)i);
  const float scale = 1.0f / sqrtf((float)D);
  const int32_t bad[B] = {-3, 4, L + 1000}, clamped[B] = {0, 4, L};
  cpu_cross_attention(got, q, kv, kv + C, ld, bad, B, N, L, H, D, scale);
  cpu_cross_attention(want, q, kv, kv + C, ld, clamped, B, N, L, H, D, scale);
  const int same = memcmp(got, want, sizeof(float) * B * N * C) == 0;
  int zeros = 1;
  for (int i = 0; i < N * C; i++) zeros = zeros && got[i] == 0.0f;
  printf("%s - cpu_cross_attention clamps lens {-3, 4, L+1000} to {0, 4, L} (L %d): %s\n", same ? "ok" : "not ok", L,
         same ? "bit-identical, no read past the kv rows" : "outputs differ");
  printf("%s - cpu_cross_attention: a negative key count gives zeros\n", zeros ? "ok" : "not ok");
  free(q);
  free(kv);
  free(got);
  free(want);
  return same && zeros ? 0 : 1;
}
