/* cpu/encoder.c: the fp32 reference ops of a text encoder (T5 v1.1; docs/upstream.md#t5): the token
 * embedding, the relative position bias table, attention with that bias and a key mask, the gate
 * product of the gated FFN, and the fp16 pipelines' clamp of the residual stream. Formula order
 * follows transformers' T5 (bias and mask summed first, then added to the raw scores). Results do
 * not depend on the thread count. Not here: the DiT ops (cpu/ops.c), norms and linears (shared
 * with them). */
#include <float.h>
#include <math.h>
#include <string.h>

#include "cpu/gemm.h"
#include "cpu/ops.h"
#include "cpu/softmax.h"
#include "cpu/t5_bucket.h"

#define PARALLEL_MIN (1 << 20) /* as cpu/ops.c: below it one thread */

void cpu_embedding(float *out, const int32_t *ids, const float *table, int64_t R, int C) {
  for (int64_t r = 0; r < R; r++) {
    const float *row = table + (int64_t)ids[r] * C;
    for (int c = 0; c < C; c++) out[r * C + c] = row[c];
  }
}

void cpu_rel_bias(float *out, const float *table, int L, int H, int nb, int max_dist) {
  const int W = 2 * L - 1;
  for (int o = 0; o < W; o++) {
    const int b = t5_bucket(o - (L - 1), nb, max_dist);
    for (int h = 0; h < H; h++) out[(int64_t)h * W + o] = table[b * H + h];
  }
}

void cpu_attention_bias(float *out, const float *q, const float *k, const float *v, int64_t ld, const float *bias,
                        const int32_t *mask, int B, int L, int H, int D) {
  enum { QB = 48 }; /* queries a work item: 4 register tiles (cpu/gemm.h) */
  const int C = H * D, W = 2 * L - 1, nb = (L + QB - 1) / QB;
#pragma omp parallel for schedule(static) if ((int64_t)B * L * L * H * D > PARALLEL_MIN)
  for (int64_t it = 0; it < (int64_t)B * nb; it++) {
    float p[QB * (L > 0 ? L : 1)];
    const int b = (int)(it / nb), i0 = (int)(it % nb) * QB, n = L - i0 < QB ? L - i0 : QB;
    const int64_t base = (int64_t)b * L;
    for (int h = 0; h < H; h++) {
      /* raw scores q . k (cpu_gemm's order), then the bias and the mask summed first, then added */
      cpu_gemm(p, L, q + (base + i0) * ld + h * D, ld, k + base * ld + h * D, ld, 1, n, L, D, 1.0f, NULL,
               DITC_ACT_NONE);
      for (int i = 0; i < n; i++) {
        const float *bh = bias + (int64_t)h * W + (L - 1 - (i0 + i));
        for (int j = 0; j < L; j++) p[(int64_t)i * L + j] += bh[j] + (mask[base + j] ? 0.0f : -FLT_MAX);
      }
      cpu_softmax_rows(p, n, L);
      cpu_gemm(out + (base + i0) * C + h * D, C, p, L, v + base * ld + h * D, ld, 0, n, D, L, 1.0f, NULL,
               DITC_ACT_NONE);
    }
  }
}

void cpu_mul(float *out, const float *a, const float *b, int64_t n) {
  for (int64_t i = 0; i < n; i++) out[i] = a[i] * b[i];
}

void cpu_to_f32(float *out, const float *src, int64_t n) {
  if (out != src) memmove(out, src, (size_t)n * sizeof *out);
}

void cpu_clamp_fp16(float *x, int32_t *any_inf, int64_t n) {
  int found = 0;
  for (int64_t i = 0; i < n && !found; i++) found = isinf(x[i]) != 0; /* glibc: -1 for -inf */
  const float c = found ? 65504.0f - 1000.0f : 65504.0f;
  for (int64_t i = 0; i < n; i++) /* NaN compares false and stays */
    if (x[i] > c) x[i] = c;
    else if (x[i] < -c) x[i] = -c;
  *any_inf = found;
}
