/* cuda/block.cu: the CUDA ops of cuda/ops.h inside a DiT block, the memory-bound chains around
 * the GEMMs and attention: LayerNorm + modulate in one pass, qk RMSNorm (+ RoPE in the same pass),
 * RoPE, gate + residual (writing the PAB cache in the same pass on COMPUTE+WRITE steps; a REUSE
 * step adds the cache with residual_store), and the resharding copies of sequence parallelism.
 * Activations are storage elements (ld()/to_st(), fp32 math); with fp32 storage the formulas
 * follow cpu/ops.c term by term (double-precision row statistics, __fmul_rn where the CPU
 * rounds a product). Not here: GEMMs (cuda/linear.cu), attention (cuda/attention.cu). */
#include <math.h>

#include "cuda/common.cuh"

/* ---- reductions ------------------------------------------------------------------------------ */

template <typename F>
static __device__ F warp_sum(F v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/* Sum over the block (every thread gets the same value, added in warp order); red [32]. */
static __device__ double block_sum(double v, double *red) {
  v = warp_sum(v);
  __syncthreads(); /* red may still be read by the previous call */
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = v;
  __syncthreads();
  double s = 0.0;
  for (unsigned w = 0; w < blockDim.x / 32; w++) s += red[w];
  return s;
}

/* ---- block --------------------------------------------------------------------------------- */

/* One block per row of x[B*R, C]: mean and variance in double (two passes, as the CPU), then
 * out = (x - mean) * rstd * (1 + scale) + shift. */
static __global__ void ln_modulate_kernel(st_t *__restrict__ out, const st_t *__restrict__ x,
                                          const st_t *__restrict__ t, int64_t t_stride, int64_t t_shift,
                                          int64_t t_scale, const st_t *__restrict__ table, int shift, int scale,
                                          int64_t rows, int64_t R, int C, float eps) {
  __shared__ double red[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const st_t *xr = x + row * C;
    const st_t *tb = t + (row / R) * t_stride;
    double s = 0.0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += ld(xr[c]);
    const double mean = block_sum(s, red) / C;
    double v = 0.0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) v += (ld(xr[c]) - mean) * (ld(xr[c]) - mean);
    const double var = block_sum(v, red) / C;
    const float m = (float)mean, rstd = (float)(1.0 / sqrt(var + eps));
    st_t *o = out + row * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      const float sh = ld(table[shift * C + c]) + ld(tb[t_shift + c]);
      const float sc = ld(table[scale * C + c]) + ld(tb[t_scale + c]);
      o[c] = to_st(__fmul_rn((ld(xr[c]) - m) * rstd, 1.0f + sc) + sh);
    }
  }
}

void cuda_ln_modulate(const cuda_ctx *ctx, ditc_st *out, const ditc_st *x, const ditc_st *t, int64_t t_stride,
                      int64_t t_shift, int64_t t_scale, const ditc_st *table, int shift, int scale, int B,
                      int64_t R, int C, float eps) {
  const int64_t rows = (int64_t)B * R;
  if (rows <= 0 || C <= 0) return;
  LAUNCH(ln_modulate_kernel, (unsigned)(rows < MAX_GRID ? rows : MAX_GRID), BLOCK, 0, stream_of(ctx), st_ptr(out),
         st_ptr(x), st_ptr(t), t_stride, t_shift, t_scale, st_ptr(table), shift, scale, rows, R, C, eps);
}

/* The rotated pair (i, j) of pair p < D/2: interleaved (2p, 2p+1) when half == 0, else split-half
 * (i, i + half) inside section p / half (NeoX; 2-D RoPE has two sections). */
static __device__ __forceinline__ void rope_pair(int p, int half, int *i, int *j) {
  *i = half == 0 ? 2 * p : (p / half) * 2 * half + p % half;
  *j = half == 0 ? *i + 1 : *i + half;
}

/* The RoPE table row of token tok of [B, T, S]: its frame (axis 0) or spatial index (axis 1). */
static __device__ __forceinline__ int64_t rope_row(int64_t tok, int T, int S, int axis) {
  return axis == 0 ? tok / S % T : tok % S;
}

enum { HEAD_MAX = 128 }; /* head dims the one-warp-per-head kernels hold in shared memory */

/* One warp per (row r, part q/k, head h) of q, k [R, ld]: sum of squares in double, then
 * v = w[d] * (v * inv); with cos_t != NULL the normalized head is then rotated (RoPE) from a
 * per-warp copy in shared memory ([warps][HEAD_MAX] fp32), before it is stored. */
static __global__ void qk_norm_rope_kernel(st_t *__restrict__ q, st_t *__restrict__ k, int64_t ld_qk,
                                           const st_t *__restrict__ wq, const st_t *__restrict__ wk, int64_t R,
                                           int H, int D, float eps, const float *__restrict__ cos_t,
                                           const float *__restrict__ sin_t, int T, int S, int axis, int half) {
  __shared__ float head[BLOCK / 32][HEAD_MAX];
  const int lane = threadIdx.x & 31;
  float *hv = head[threadIdx.x >> 5];
  const int64_t nvec = R * 2 * H;
  for (int64_t vi = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; vi < nvec;
       vi += (int64_t)gridDim.x * blockDim.x / 32) {
    const int h = (int)(vi % H), part = (int)(vi / H % 2);
    const int64_t r = vi / H / 2;
    const st_t *wt = part ? wk : wq;
    st_t *v = (part ? k : q) + r * ld_qk + (int64_t)h * D;
    double ss = 0.0;
    for (int d = lane; d < D; d += 32) ss += (double)ld(v[d]) * ld(v[d]);
    ss = warp_sum(ss);
    const float inv = (float)(1.0 / sqrt(ss / D + eps));
    if (!cos_t) {
      for (int d = lane; d < D; d += 32) v[d] = to_st(ld(wt[d]) * (ld(v[d]) * inv));
      continue;
    }
    /* the normalized head rounded to storage, as the unfused ops would store it, then rotated */
    for (int d = lane; d < D; d += 32) hv[d] = ld(to_st(ld(wt[d]) * (ld(v[d]) * inv)));
    __syncwarp();
    const int64_t row = rope_row(r, T, S, axis);
    const float *cs = cos_t + row * D, *sn = sin_t + row * D;
    for (int p = lane; p < D / 2; p += 32) {
      int i, j;
      rope_pair(p, half, &i, &j);
      v[i] = to_st(__fmul_rn(hv[i], cs[i]) - __fmul_rn(hv[j], sn[i]));
      v[j] = to_st(__fmul_rn(hv[j], cs[j]) + __fmul_rn(hv[i], sn[j]));
    }
    __syncwarp(); /* hv is read before the next head overwrites it */
  }
}

void cuda_qk_rmsnorm(const cuda_ctx *ctx, ditc_st *q, ditc_st *k, int64_t ld, const ditc_st *wq,
                     const ditc_st *wk, int64_t R, int H, int D, float eps) {
  const int64_t nvec = R * 2 * H;
  if (nvec <= 0 || D <= 0) return;
  LAUNCH(qk_norm_rope_kernel, grid_for(nvec * 32), BLOCK, 0, stream_of(ctx), st_ptr(q), st_ptr(k), ld,
         st_ptr(wq), st_ptr(wk), R, H, D, eps, (const float *)NULL, (const float *)NULL, 1, 1, 0, 0);
}

void cuda_qk_rmsnorm_rope(const cuda_ctx *ctx, ditc_st *q, ditc_st *k, int64_t ld, const ditc_st *wq,
                          const ditc_st *wk, float eps, const float *cos_t, const float *sin_t, int B, int T,
                          int S, int H, int D, int axis, int half) {
  const int64_t R = (int64_t)B * T * S, nvec = R * 2 * H;
  if (nvec <= 0 || D <= 0) return;
  OPS_CHECK(D <= HEAD_MAX && cos_t && sin_t);
  OPS_CHECK(half == 0 ? D % 2 == 0 : half > 0 && D % (2 * half) == 0);
  LAUNCH(qk_norm_rope_kernel, grid_for(nvec * 32), BLOCK, 0, stream_of(ctx), st_ptr(q), st_ptr(k), ld,
         st_ptr(wq), st_ptr(wk), R, H, D, eps, cos_t, sin_t, T, S, axis, half);
}

/* One thread per rotated pair (token, part q/k, head h, pair p < D/2) of q, k [B*T*S, ld]; the
 * token's table row is its frame (axis 0) or spatial index (axis 1) in cos, sin [rows, D]. */
static __global__ void rope_kernel(st_t *__restrict__ q, st_t *__restrict__ k, int64_t ld_qk,
                                   const float *__restrict__ cos_t, const float *__restrict__ sin_t, int64_t ntok,
                                   int T, int S, int H, int D, int axis, int half) {
  const int np = D / 2;
  GRID_LOOP(e, ntok * 2 * H * np) {
    const int p = (int)(e % np), h = (int)(e / np % H), part = (int)(e / np / H % 2);
    const int64_t tok = e / np / H / 2;
    const int64_t row = rope_row(tok, T, S, axis);
    const float *cs = cos_t + row * D, *sn = sin_t + row * D;
    st_t *v = (part ? k : q) + tok * ld_qk + (int64_t)h * D;
    int i, j;
    rope_pair(p, half, &i, &j);
    const float x0 = ld(v[i]), x1 = ld(v[j]);
    v[i] = to_st(__fmul_rn(x0, cs[i]) - __fmul_rn(x1, sn[i]));
    v[j] = to_st(__fmul_rn(x1, cs[j]) + __fmul_rn(x0, sn[j]));
  }
}

void cuda_rope(const cuda_ctx *ctx, ditc_st *q, ditc_st *k, int64_t ld, const float *cos_t, const float *sin_t,
               int B, int T, int S, int H, int D, int axis, int half) {
  const int64_t ntok = (int64_t)B * T * S, n = ntok * 2 * H * (D / 2);
  if (n <= 0) return;
  OPS_CHECK(half == 0 ? D % 2 == 0 : half > 0 && D % (2 * half) == 0);
  LAUNCH(rope_kernel, grid_for(n), BLOCK, 0, stream_of(ctx), st_ptr(q), st_ptr(k), ld, cos_t, sin_t, ntok, T, S, H,
         D, axis, half);
}

/* One thread per element of x[B, R, C]: g = (table[chunk] + t[b, chunk]) * src; store = g; x += g
 * (no __restrict__ on x, src, store: in-place callers may alias them). */
static __global__ void gate_residual_kernel(st_t *x, const st_t *src, const st_t *__restrict__ t,
                                            const st_t *__restrict__ table, int chunk, int nchunk, int64_t R,
                                            int C, int64_t n, st_t *store) {
  GRID_LOOP(e, n) {
    const int c = (int)(e % C);
    const int64_t b = e / C / R;
    const st_t g = to_st(__fmul_rn(ld(table[chunk * C + c]) + ld(t[(b * nchunk + chunk) * C + c]), ld(src[e])));
    if (store) store[e] = g; /* the cache holds the gated output as stored, so a reuse adds the same */
    x[e] = to_st(ld(x[e]) + ld(g));
  }
}

void cuda_gate_residual(const cuda_ctx *ctx, ditc_st *x, const ditc_st *src, const ditc_st *t,
                        const ditc_st *table, int chunk, int nchunk, int B, int64_t R, int C, ditc_st *store) {
  const int64_t n = (int64_t)B * R * C;
  LAUNCH_N(ctx, gate_residual_kernel, n, st_ptr(x), st_ptr(src), st_ptr(t), st_ptr(table), chunk, nchunk, R, C, n,
           st_ptr(store));
}

/* One thread per element: store = src (if store); x += src. */
static __global__ void residual_store_kernel(st_t *x, const st_t *src, int64_t n, st_t *store) {
  GRID_LOOP(i, n) {
    if (store) store[i] = src[i];
    x[i] = to_st(ld(x[i]) + ld(src[i]));
  }
}

void cuda_residual_store(const cuda_ctx *ctx, ditc_st *x, const ditc_st *src, int64_t n, ditc_st *store) {
  LAUNCH_N(ctx, residual_store_kernel, n, st_ptr(x), st_ptr(src), n, st_ptr(store));
}

/* ---- sequence parallelism ------------------------------------------------------------------- */

/* One thread per element of the chunks [P][B, c1, c2, C] of a tensor [B, d1, d2, C] split along
 * dim (1 or 2; chunk r holds indices r*chunk .. r*chunk + chunk-1 of that dim). pack: dst =
 * chunks from src = tensor, zero past length n; unpack: dst = tensor from src = chunks, skipping
 * indices past d1 or d2 (the padding). */
static __global__ void dsp_copy_kernel(st_t *__restrict__ dst, const st_t *__restrict__ src, int B, int d1,
                                       int d2, int C, int dim, int chunk, int n, int P, int pack) {
  const int c1 = dim == 1 ? chunk : d1, c2 = dim == 2 ? chunk : d2;
  GRID_LOOP(e, (int64_t)P * B * c1 * c2 * C) {
    const int ch = (int)(e % C), j = (int)(e / C % c2), i = (int)(e / C / c2 % c1);
    const int64_t rb = e / C / c2 / c1;
    const int b = (int)(rb % B), r = (int)(rb / B);
    const int ti = dim == 1 ? r * chunk + i : i, tj = dim == 2 ? r * chunk + j : j; /* index in the tensor */
    const int64_t t = (((int64_t)b * d1 + ti) * d2 + tj) * C + ch;
    if (pack)
      dst[e] = (dim == 1 ? ti : tj) >= n ? to_st(0.0f) : src[t];
    else if (ti < d1 && tj < d2)
      dst[t] = src[e];
  }
}

void cuda_dsp_pack(const cuda_ctx *ctx, ditc_st *send, const ditc_st *src, int B, int d1, int d2, int C, int dim,
                   int chunk, int n, int P) {
  const int64_t total = (int64_t)P * B * (dim == 1 ? chunk : d1) * (dim == 2 ? chunk : d2) * C;
  LAUNCH_N(ctx, dsp_copy_kernel, total, st_ptr(send), st_ptr(src), B, d1, d2, C, dim, chunk, n, P, 1);
}

void cuda_dsp_unpack(const cuda_ctx *ctx, ditc_st *dst, const ditc_st *recv, int B, int d1, int d2, int C,
                     int dim, int chunk, int P) {
  const int64_t total = (int64_t)P * B * (dim == 1 ? chunk : d1) * (dim == 2 ? chunk : d2) * C;
  LAUNCH_N(ctx, dsp_copy_kernel, total, st_ptr(dst), st_ptr(recv), B, d1, d2, C, dim, chunk, 0, P, 0);
}
