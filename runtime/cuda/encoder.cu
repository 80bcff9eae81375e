/* cuda/encoder.cu: the CUDA ops of a text encoder (T5 v1.1), the counterparts of cpu/encoder.c
 * with the same arguments: the token embedding, the relative position bias table by offset,
 * attention with that bias and a key mask (no scaling), the FFN's gate product, storage to an
 * fp32 buffer, and the fp16 pipelines' fp32 residual adds and clamp of an fp16 stream.
 * Storage elements in, fp32 math, one rounding on store; the bias table is fp32. The attention is
 * a plain kernel (one warp per query row, its scores in shared memory), correct before fast: T5
 * runs once per prompt, beside 30-50 DiT steps. Not here: norms and linears (block.cu,
 * linear.cu, with their fp32 forms rms_norm_from_f32 and linear_f32). */
#include <float.h>
#include <math.h>

#include "cpu/t5_bucket.h"
#include "cuda/common.cuh"

/* One thread per element: out[r, c] = table[ids[r], c]. */
static __global__ void embedding_kernel(st_t *__restrict__ out, const int32_t *__restrict__ ids,
                                        const st_t *__restrict__ table, int64_t R, int C) {
  GRID_LOOP(e, R * C) out[e] = table[(int64_t)ids[e / C] * C + e % C];
}

void cuda_embedding(const cuda_ctx *ctx, ditc_st *out, const int32_t *ids, const ditc_st *table, int64_t R, int C) {
  LAUNCH_N(ctx, embedding_kernel, R * C, st_ptr(out), ids, st_ptr(table), R, C);
}

/* One thread per element of out [H, 2L-1]. */
static __global__ void rel_bias_kernel(float *__restrict__ out, const st_t *__restrict__ table, int L, int H, int nb,
                                       int max_dist) {
  const int W = 2 * L - 1;
  GRID_LOOP(e, (int64_t)H * W) {
    const int h = (int)(e / W), o = (int)(e % W);
    out[e] = ld(table[t5_bucket(o - (L - 1), nb, max_dist) * H + h]);
  }
}

void cuda_rel_bias(const cuda_ctx *ctx, float *out, const ditc_st *table, int L, int H, int nb, int max_dist) {
  LAUNCH_N(ctx, rel_bias_kernel, (int64_t)H * (2 * L - 1), out, st_ptr(table), L, H, nb, max_dist);
}

enum { ATT_WARPS = 4, ATT_MAX_L = 2048 }; /* query rows per block; keys a row's scores hold */

/* One warp per (sample, head, query): the lanes split the keys for the scores (held in shared
 * memory), then the head dims for the output. */
static __global__ void attention_bias_kernel(st_t *out, const st_t *__restrict__ q, const st_t *__restrict__ k,
                                             const st_t *__restrict__ v, int64_t ld_, const float *__restrict__ bias,
                                             const int32_t *__restrict__ mask, int B, int L, int H, int D) {
  extern __shared__ float scores[]; /* [ATT_WARPS][L] */
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int64_t row = (int64_t)blockIdx.x * ATT_WARPS + warp; /* (b, h, i) */
  if (row >= (int64_t)B * H * L) return;
  const int i = (int)(row % L), h = (int)(row / L % H), b = (int)(row / L / H);
  float *p = scores + warp * L;
  const int64_t base = (int64_t)b * L;
  const st_t *qi = q + (base + i) * ld_ + (int64_t)h * D;
  const float *bh = bias + (int64_t)h * (2 * L - 1) + (L - 1 - i);
  float mx = -INFINITY;
  for (int j = lane; j < L; j += 32) {
    const st_t *kj = k + (base + j) * ld_ + (int64_t)h * D;
    float s = 0.0f;
    for (int d = 0; d < D; d++) s = fmaf(ld(qi[d]), ld(kj[d]), s);
    p[j] = s + (bh[j] + (mask[base + j] ? 0.0f : -FLT_MAX));
    mx = fmaxf(mx, p[j]);
  }
  for (int o = 16; o > 0; o >>= 1) mx = fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, o));
  float sum = 0.0f;
  for (int j = lane; j < L; j += 32) {
    p[j] = expf(p[j] - mx);
    sum += p[j];
  }
  for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
  __syncwarp();
  const float inv = 1.0f / sum;
  st_t *oi = out + (base + i) * (int64_t)H * D + (int64_t)h * D;
  for (int d = lane; d < D; d += 32) {
    float acc = 0.0f;
    for (int j = 0; j < L; j++) acc = fmaf(p[j], ld(v[(base + j) * ld_ + (int64_t)h * D + d]), acc);
    oi[d] = to_st(acc * inv);
  }
}

void cuda_attention_bias(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k, const ditc_st *v,
                         int64_t ld, const float *bias, const int32_t *mask, int B, int L, int H, int D) {
  const int64_t rows = (int64_t)B * H * L;
  if (rows <= 0) return;
  OPS_CHECK(L <= ATT_MAX_L);
  LAUNCH(attention_bias_kernel, (unsigned)((rows + ATT_WARPS - 1) / ATT_WARPS), 32 * ATT_WARPS,
         ATT_WARPS * L * sizeof(float), stream_of(ctx), st_ptr(out), st_ptr(q), st_ptr(k), st_ptr(v), ld, bias, mask,
         B, L, H, D);
}

/* One thread per element: out = a * b, rounded once. */
static __global__ void mul_kernel(st_t *out, const st_t *a, const st_t *b, int64_t n) {
  GRID_LOOP(i, n) out[i] = to_st(ld(a[i]) * ld(b[i]));
}

void cuda_mul(const cuda_ctx *ctx, ditc_st *out, const ditc_st *a, const ditc_st *b, int64_t n) {
  LAUNCH_N(ctx, mul_kernel, n, st_ptr(out), st_ptr(a), st_ptr(b), n);
}

/* One thread per element: storage to an fp32 io buffer. */
static __global__ void to_f32_kernel(float *out, const st_t *src, int64_t n) {
  GRID_LOOP(i, n) out[i] = ld(src[i]);
}

void cuda_to_f32(const cuda_ctx *ctx, float *out, const ditc_st *src, int64_t n) {
  LAUNCH_N(ctx, to_f32_kernel, n, out, st_ptr(src), n);
}

/* ---- the fp16 pipelines' fp32 residual stream (spec A.7-A.8) ------------------------------------ */

/* One thread per element: out = a + b in fp32 (b: fp32, or storage widened exactly). */
template <typename T>
static __global__ void add_f32_kernel(float *out, const float *a, const T *b, int64_t n) {
  GRID_LOOP(i, n) out[i] = a[i] + ld(b[i]);
}

void cuda_add_f32(const cuda_ctx *ctx, float *out, const float *a, const float *b, int64_t n) {
  LAUNCH_N(ctx, add_f32_kernel<float>, n, out, a, b, n);
}

void cuda_add_f32_st(const cuda_ctx *ctx, float *out, const float *a, const ditc_st *b, int64_t n) {
  LAUNCH_N(ctx, add_f32_kernel<st_t>, n, out, a, st_ptr(b), n);
}

/* *any_inf |= some element of x is +-inf (each block ORs its threads, one atomic a block that
 * found one: an OR, so the result does not depend on the order). */
static __global__ void any_inf_kernel(int32_t *any_inf, const st_t *x, int64_t n) {
  int found = 0;
  GRID_LOOP(i, n) found |= isinf(ld(x[i])) ? 1 : 0;
  if (__syncthreads_or(found) && threadIdx.x == 0) atomicOr(any_inf, 1);
}

/* x = clamp(x, -c, c), c = 64504 (65504 - 1000) after an infinity, else 65504; NaN compares false
 * and stays. An element within the bound is not rewritten. */
static __global__ void clamp_kernel(st_t *x, const int32_t *any_inf, int64_t n) {
  const float c = *any_inf ? 65504.0f - 1000.0f : 65504.0f;
  GRID_LOOP(i, n) {
    const float v = ld(x[i]);
    if (fabsf(v) > c) x[i] = to_st(copysignf(c, v));
  }
}

void cuda_clamp_fp16(const cuda_ctx *ctx, ditc_st *x, int32_t *any_inf, int64_t n) {
  if (n <= 0) return;
  CUDA_CHECK(cudaMemsetAsync(any_inf, 0, sizeof *any_inf, stream_of(ctx)));
  LAUNCH(any_inf_kernel, grid_for(n), BLOCK, 0, stream_of(ctx), any_inf, st_ptr(x), n);
  LAUNCH(clamp_kernel, grid_for(n), BLOCK, 0, stream_of(ctx), st_ptr(x), any_inf, n);
}
