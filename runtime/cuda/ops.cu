/* cuda/ops.cu: fp32 CUDA implementations of the op kinds in cuda/ops.h, one kernel and one
 * launcher (cuda_<op>, the arguments of cpu_<op> after the context) per op, written to be read
 * next to cpu/ops.c. Formulas follow the CPU code term by term: products that the CPU rounds
 * before an addition use __fmul_rn (nvcc would otherwise fuse them into an FMA), and the
 * transcendental functions of the embedding tables and silu are evaluated in double and rounded
 * once, as close as we can get to glibc's nearly correctly rounded sinf/cosf/expf/powf (GELU's
 * tanhf and the softmax's expf stay fp32: CUDA's, within 2 ulp). Reductions run in another
 * order than on the CPU (warp shuffles, online softmax), so those ops agree up to rounding, not
 * bit for bit. Every launcher enqueues on ctx->stream and returns. Not here: allocation, host
 * copies, tuned attention (this is a correct, simple tiled kernel). */
#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "cuda/ops.h"

/* ---- errors and launch helpers ----------------------------------------------------------- */

static void check_cuda(cudaError_t e, const char *what, const char *file, int line) {
  if (e == cudaSuccess) return;
  fprintf(stderr, "ditc: CUDA error: %s:%d: %s: %s\n", file, line, what, cudaGetErrorString(e));
  abort();
}

static void check_blas(cublasStatus_t e, const char *what, const char *file, int line) {
  if (e == CUBLAS_STATUS_SUCCESS) return;
  fprintf(stderr, "ditc: cuBLAS error: %s:%d: %s: %s\n", file, line, what, cublasGetStatusString(e));
  abort();
}

/* Bugs in the caller (impossible shapes) abort like DITC_CHECK. */
static void check_arg(bool ok, const char *what, const char *file, int line) {
  if (ok) return;
  fprintf(stderr, "ditc: internal error: %s:%d: check failed: %s\n", file, line, what);
  abort();
}

#define OPS_CHECK(cond) check_arg((cond), #cond, __FILE__, __LINE__)
#define CUDA_CHECK(stmt) check_cuda((stmt), #stmt, __FILE__, __LINE__)
#define CUBLAS_CHECK(stmt) check_blas((stmt), #stmt, __FILE__, __LINE__)
/* kernel<<<grid, block, smem, stream>>>(args...), then the launch error, naming the kernel. */
#define LAUNCH(kernel, grid, block, smem, stream, ...)                        \
  do {                                                                        \
    kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__);               \
    check_cuda(cudaGetLastError(), "launch of " #kernel, __FILE__, __LINE__); \
  } while (0)

enum { BLOCK = 256 };                    /* threads of the elementwise and row kernels */
static const int64_t MAX_GRID = 1 << 20; /* blocks of a grid-stride kernel; more threads loop */

static cudaStream_t stream_of(const cuda_ctx *ctx) { return (cudaStream_t)ctx->stream; }

/* Blocks of BLOCK threads for n work items (grid-stride loops cover the rest); n > 0. */
static unsigned grid_for(int64_t n) {
  const int64_t g = (n + BLOCK - 1) / BLOCK;
  return (unsigned)(g < MAX_GRID ? g : MAX_GRID);
}

/* for (i = global thread index; i < n; i += total threads), int64 throughout. */
#define GRID_LOOP(i, n) \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)
/* A grid-stride kernel over n work items on ctx's stream; nothing when n <= 0. */
#define LAUNCH_N(ctx, kernel, n, ...)                                                \
  do {                                                                               \
    if ((n) > 0) LAUNCH(kernel, grid_for(n), BLOCK, 0, stream_of(ctx), __VA_ARGS__); \
  } while (0)

/* ---- context ----------------------------------------------------------------------------- */

int cuda_ctx_init(cuda_ctx *c) {
  cudaStream_t s = NULL;
  cublasHandle_t h = NULL;
  c->stream = c->blas = NULL;
  /* a blocking stream: ordered after plain cudaMemcpy/cudaMemset on the legacy default stream */
  if (cudaStreamCreate(&s) != cudaSuccess) return -1;
  if (cublasCreate(&h) != CUBLAS_STATUS_SUCCESS || cublasSetStream(h, s) != CUBLAS_STATUS_SUCCESS ||
      cublasSetMathMode(h, CUBLAS_PEDANTIC_MATH) != CUBLAS_STATUS_SUCCESS) { /* true fp32, no TF32 */
    if (h) cublasDestroy(h);
    cudaStreamDestroy(s);
    return -1;
  }
  c->stream = s;
  c->blas = h;
  return 0;
}

void cuda_ctx_free(cuda_ctx *c) {
  if (c->stream) CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)c->stream));
  if (c->blas) cublasDestroy((cublasHandle_t)c->blas);
  if (c->stream) cudaStreamDestroy((cudaStream_t)c->stream);
  c->stream = c->blas = NULL;
}

/* ---- device helpers ---------------------------------------------------------------------- */

static __device__ float round_bf16(float x) {
  uint32_t b = __float_as_uint(x);
  if ((b & 0x7f800000u) != 0x7f800000u) b = (b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u;
  return __uint_as_float(b);
}

/* fp32 functions evaluated in double and rounded once (sinf, cosf, expf, powf of the tables, silu). */
static __device__ float sin_f(float x) { return (float)sin((double)x); }
static __device__ float cos_f(float x) { return (float)cos((double)x); }
static __device__ float exp_f(float x) { return (float)exp((double)x); }
static __device__ float pow_f(float x, float y) { return (float)pow((double)x, (double)y); }

static __device__ float gelu_tanh(float x) {
  const float beta = 0.7978845608028654f; /* sqrt(2/pi) */
  const float kappa = 0.044715f;
  return 0.5f * x * (1.0f + tanhf(beta * (x + __fmul_rn(kappa * x * x, x))));
}

static __device__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

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

/* ---- embeddings ------------------------------------------------------------------------- */

/* One thread per (i, j, k): out[Hp*Wp, C], k < C/4 writes the four quarters. */
static __global__ void pos_embed_2d_kernel(float *__restrict__ out, int Hp, int Wp, int C, float scale, float mul_h,
                                           float mul_w) {
  const int half = C / 2, quarter = C / 4;
  GRID_LOOP(e, (int64_t)Hp * Wp * quarter) {
    const int k = (int)(e % quarter);
    const int64_t ij = e / quarter;
    const float r = (float)(int)(ij / Wp) / scale * mul_h, c = (float)(int)(ij % Wp) / scale * mul_w;
    const float f = 1.0f / pow_f(10000.0f, (float)(2 * k) / (float)half);
    float *o = out + ij * C;
    o[k] = sin_f(c * f);
    o[quarter + k] = cos_f(c * f);
    o[half + k] = sin_f(r * f);
    o[half + quarter + k] = cos_f(r * f);
  }
}

void cuda_pos_embed_2d(const cuda_ctx *ctx, float *out, int Hp, int Wp, int C, float scale, float mul_h,
                       float mul_w) {
  const int64_t n = (int64_t)Hp * Wp * (C / 4);
  LAUNCH_N(ctx, pos_embed_2d_kernel, n, out, Hp, Wp, C, scale, mul_h, mul_w);
}

/* One thread per (p, k): cos, sin [T, D], columns 2k and 2k+1. */
static __global__ void rope_table_kernel(float *__restrict__ cos_t, float *__restrict__ sin_t,
                                         const float *__restrict__ freqs, int T, int D, int bf16) {
  GRID_LOOP(e, (int64_t)T * (D / 2)) {
    const int p = (int)(e / (D / 2)), k = (int)(e % (D / 2));
    const float f = bf16 ? round_bf16(freqs[k]) : freqs[k];
    float a = (float)p * f;
    float c = cos_f(a), s = sin_f(a);
    if (bf16) {
      a = round_bf16(a);
      c = round_bf16(cos_f(a));
      s = round_bf16(sin_f(a));
    }
    const int64_t o = (int64_t)p * D + 2 * k;
    cos_t[o] = cos_t[o + 1] = c;
    sin_t[o] = sin_t[o + 1] = s;
  }
}

void cuda_rope_table(const cuda_ctx *ctx, float *cos_t, float *sin_t, const float *freqs, int T, int D, int bf16) {
  const int64_t n = (int64_t)T * (D / 2);
  LAUNCH_N(ctx, rope_table_kernel, n, cos_t, sin_t, freqs, T, D, bf16);
}

/* One thread per (i, j, k): out[Hp*Wp, C] in float64 math, as pos_embed_2d. */
static __global__ void pos_embed_2d_f64_kernel(float *__restrict__ out, int Hp, int Wp, int C, float div_h,
                                               float div_w, float interp) {
  const int half = C / 2, quarter = C / 4;
  GRID_LOOP(e, (int64_t)Hp * Wp * quarter) {
    const int k = (int)(e % quarter);
    const int64_t ij = e / quarter;
    const double r = (float)((float)(int)(ij / Wp) / div_h) / interp;
    const double c = (float)((float)(int)(ij % Wp) / div_w) / interp;
    const double w = 1.0 / pow(10000.0, (double)k / (half / 2.0));
    float *o = out + ij * C;
    o[k] = (float)sin(c * w);
    o[quarter + k] = (float)cos(c * w);
    o[half + k] = (float)sin(r * w);
    o[half + quarter + k] = (float)cos(r * w);
  }
}

void cuda_pos_embed_2d_f64(const cuda_ctx *ctx, float *out, int Hp, int Wp, int C, float div_h, float div_w,
                           float interp) {
  const int64_t n = (int64_t)Hp * Wp * (C / 4);
  LAUNCH_N(ctx, pos_embed_2d_f64_kernel, n, out, Hp, Wp, C, div_h, div_w, interp);
}

/* One thread per (t, k): out[T, C] = [sin(p*w), cos(p*w)] in float64 math. */
static __global__ void pos_embed_1d_f64_kernel(float *__restrict__ out, int T, int C, float div) {
  const int half = C / 2;
  GRID_LOOP(e, (int64_t)T * half) {
    const int t = (int)(e / half), k = (int)(e % half);
    const double p = div > 0.0f ? (double)((float)t / div) : (double)t;
    const double w = 1.0 / pow(10000.0, (double)k / (C / 2.0));
    out[(int64_t)t * C + k] = (float)sin(p * w);
    out[(int64_t)t * C + half + k] = (float)cos(p * w);
  }
}

void cuda_pos_embed_1d_f64(const cuda_ctx *ctx, float *out, int T, int C, float div) {
  const int64_t n = (int64_t)T * (C / 2);
  LAUNCH_N(ctx, pos_embed_1d_f64_kernel, n, out, T, C, div);
}

/* One thread per (r, s, j): cos, sin [rows, D], columns s*sec + j and s*sec + j + sec/2. */
static __global__ void rope_table_neox_kernel(float *__restrict__ cos_t, float *__restrict__ sin_t, int rows,
                                              int Wp, int D, int nsec, float div) {
  const int sec = D / nsec, half = sec / 2;
  GRID_LOOP(e, (int64_t)rows * nsec * half) {
    const int j = (int)(e % half), s = (int)(e / half % nsec), r = (int)(e / half / nsec);
    const int coord = nsec == 1 ? r : (s == 0 ? r / Wp : r % Wp); /* frame, or (row, column) */
    const int64_t pos = (int64_t)((float)coord / div);            /* linear scaling, truncated */
    const float inv = 1.0f / pow_f(10000.0f, (float)(2 * j) / (float)sec);
    const float a = (float)pos * inv;
    const int64_t o = (int64_t)r * D + s * sec + j;
    cos_t[o] = cos_t[o + half] = cos_f(a);
    sin_t[o] = sin_t[o + half] = sin_f(a);
  }
}

void cuda_rope_table_neox(const cuda_ctx *ctx, float *cos_t, float *sin_t, int rows, int Wp, int D, int nsec,
                          float div) {
  OPS_CHECK(nsec >= 1);
  const int64_t n = (int64_t)rows * nsec * (D / nsec / 2);
  LAUNCH_N(ctx, rope_table_neox_kernel, n, cos_t, sin_t, rows, Wp, D, nsec, div);
}

/* One thread per element: out[n] = value. */
static __global__ void fill_kernel(float *__restrict__ out, int64_t n, float value) {
  GRID_LOOP(i, n) out[i] = value;
}

void cuda_fill(const cuda_ctx *ctx, float *out, int64_t n, float value) {
  LAUNCH_N(ctx, fill_kernel, n, out, n, value);
}

/* One thread per (b, k): out[B, dim] = [cos(t*f), sin(t*f)]. */
static __global__ void sinusoid_kernel(float *__restrict__ out, const float *__restrict__ t, int B, int dim) {
  const int half = dim / 2;
  const float neg_log = (float)(-9.210340371976184); /* -ln(10000), as torch's fp32 scalar */
  GRID_LOOP(e, (int64_t)B * half) {
    const int b = (int)(e / half), k = (int)(e % half);
    const float f = exp_f(neg_log * (float)k / (float)half);
    const float a = t[b] * f;
    out[(int64_t)b * dim + k] = cos_f(a);
    out[(int64_t)b * dim + half + k] = sin_f(a);
  }
}

void cuda_sinusoid(const cuda_ctx *ctx, float *out, const float *t, int B, int dim) {
  const int64_t n = (int64_t)B * (dim / 2);
  LAUNCH_N(ctx, sinusoid_kernel, n, out, t, B, dim);
}

/* ---- dense ------------------------------------------------------------------------------- */

/* One thread per element of out[M, N] (n = M*N): out = act(out + b[col]); b may be NULL. */
static __global__ void bias_act_kernel(float *__restrict__ out, const float *__restrict__ b, int64_t n, int N,
                                       int act) {
  GRID_LOOP(i, n) {
    const float y = out[i] + (b ? b[i % N] : 0.0f);
    out[i] = act == DITC_ACT_GELU_TANH ? gelu_tanh(y) : y;
  }
}

void cuda_linear(const cuda_ctx *ctx, float *out, const float *src, const float *w, const float *b, int64_t M,
                 int K, int N, int act) {
  if (M <= 0 || N <= 0) return;
  OPS_CHECK(K >= 0 && (act == DITC_ACT_NONE || act == DITC_ACT_GELU_TANH));
  cublasHandle_t h = (cublasHandle_t)ctx->blas;
  const float one = 1.0f, zero = 0.0f;
  /* Row-major out[M, N] = src[M, K] w[N, K]^T is column-major out^T = w^T(op T of [K, N]) src^T.
   * Row blocks keep every cuBLAS dimension and matrix size well inside int. */
  const int ld = K > 0 ? K : 1, wide = K > N ? K : N; /* wide >= N >= 1 */
  const int64_t rows = wide >= (1 << 30) ? 1 : (1 << 30) / wide;
  for (int64_t m0 = 0; m0 < M; m0 += rows) {
    const int mc = (int)(M - m0 < rows ? M - m0 : rows);
    CUBLAS_CHECK(
        cublasSgemm(h, CUBLAS_OP_T, CUBLAS_OP_N, N, mc, K, &one, w, ld, src + m0 * K, ld, &zero, out + m0 * N, N));
  }
  if (b || act != DITC_ACT_NONE)
    LAUNCH(bias_act_kernel, grid_for(M * N), BLOCK, 0, stream_of(ctx), out, b, M * N, N, act);
}

/* One thread per element: out[n] = silu(src[n]). */
static __global__ void silu_kernel(float *__restrict__ out, const float *__restrict__ src, int64_t n) {
  GRID_LOOP(i, n) out[i] = src[i] / (1.0f + exp_f(-src[i]));
}

void cuda_silu(const cuda_ctx *ctx, float *out, const float *src, int64_t n) {
  LAUNCH_N(ctx, silu_kernel, n, out, src, n);
}

/* One thread per element: out[n] = a[n] + b[n] (out may alias a or b). */
static __global__ void add_kernel(float *out, const float *a, const float *b, int64_t n) {
  GRID_LOOP(i, n) out[i] = a[i] + b[i];
}

void cuda_add(const cuda_ctx *ctx, float *out, const float *a, const float *b, int64_t n) {
  LAUNCH_N(ctx, add_kernel, n, out, a, b, n);
}

/* ---- text -------------------------------------------------------------------------------- */

/* Device-to-device copies of whole captions [L, Cc], as the CPU's memcpy calls. */
void cuda_cfg_text(const cuda_ctx *ctx, float *out, const float *cond, const float *uncond, int uncond_per_prompt,
                   int Bp, int L, int Cc, int cond_first, int half) {
  const int64_t row = (int64_t)L * Cc;
  const size_t bytes = (size_t)row * sizeof(float);
  if (row <= 0) return;
  for (int b = 0; b < Bp; b++) {
    int bc = cond_first ? b : Bp + b, bu = cond_first ? Bp + b : b;
    if (half >= 0) { /* only rows [half*Bp, half*Bp + Bp) of the batch, stored from row 0 */
      bc = bc / Bp == half ? bc % Bp : -1;
      bu = bu / Bp == half ? bu % Bp : -1;
    }
    if (bc >= 0)
      CUDA_CHECK(cudaMemcpyAsync(out + bc * row, cond + b * row, bytes, cudaMemcpyDeviceToDevice, stream_of(ctx)));
    if (bu >= 0)
      CUDA_CHECK(cudaMemcpyAsync(out + bu * row, uncond + (uncond_per_prompt ? b * row : 0), bytes,
                                 cudaMemcpyDeviceToDevice, stream_of(ctx)));
  }
}

/* One thread per batch row b: lens[B], idx[B, L] from mask[Bp, L] (row b mod Bp). */
static __global__ void text_mask_kernel(int32_t *__restrict__ lens, int32_t *__restrict__ idx,
                                        const int32_t *__restrict__ mask, int Bp, int L, int B) {
  GRID_LOOP(b, (int64_t)B) {
    const int32_t *m = mask + (b % Bp) * L;
    int n = 0;
    for (int j = 0; j < L; j++)
      if (m[j]) idx[b * L + n++] = j;
    for (int j = n; j < L; j++) idx[b * L + j] = 0;
    lens[b] = n;
  }
}

void cuda_text_mask(const cuda_ctx *ctx, int32_t *lens, int32_t *idx, const int32_t *mask, int Bp, int L, int B) {
  LAUNCH_N(ctx, text_mask_kernel, B, lens, idx, mask, Bp, L, B);
}

/* One thread per element of out[B, L, C]: row j < lens[b] = src[b, idx[b, j]], others 0. */
static __global__ void text_pack_kernel(float *__restrict__ out, const float *__restrict__ src,
                                        const int32_t *__restrict__ idx, const int32_t *__restrict__ lens, int B,
                                        int L, int C) {
  GRID_LOOP(e, (int64_t)B * L * C) {
    const int64_t bj = e / C; /* b * L + j */
    const int b = (int)(bj / L), j = (int)(bj % L);
    out[e] = j < lens[b] ? src[((int64_t)b * L + idx[bj]) * C + e % C] : 0.0f;
  }
}

void cuda_text_pack(const cuda_ctx *ctx, float *out, const float *src, const int32_t *idx, const int32_t *lens,
                    int B, int L, int C) {
  const int64_t n = (int64_t)B * L * C;
  LAUNCH_N(ctx, text_pack_kernel, n, out, src, idx, lens, B, L, C);
}

/* ---- video tokens ------------------------------------------------------------------------ */

/* One block per token of out[B, Tn*Hp*Wp, C]: the patch [Cin, pt, ph, pw] (P floats, zero where
 * padded) goes to shared memory, then thread c computes out[tok, c] = w[c, P] . patch + b[c]. */
static __global__ void patch_embed3d_kernel(float *__restrict__ out, const float *__restrict__ src,
                                            const float *__restrict__ w, const float *__restrict__ b, int B,
                                            int Cin, int Tx, int Hx, int Wx, int pt, int ph, int pw, int C, int t0,
                                            int Tn) {
  extern __shared__ float patch[]; /* [P] */
  const int T = (Tx + pt - 1) / pt, Hp = (Hx + ph - 1) / ph, Wp = (Wx + pw - 1) / pw;
  const int P = Cin * pt * ph * pw;
  const int64_t ntok = (int64_t)B * Tn * Hp * Wp;
  for (int64_t tok = blockIdx.x; tok < ntok; tok += gridDim.x) {
    const int bi = (int)(tok / ((int64_t)Tn * Hp * Wp));
    const int64_t n = tok % ((int64_t)Tn * Hp * Wp);
    const int t = t0 + (int)(n / (Hp * Wp)), h = (int)(n / Wp % Hp), x = (int)(n % Wp);
    float *o = out + tok * C;
    if (t >= T) { /* a padding frame of sequence parallelism */
      for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = 0.0f;
      continue;
    }
    __syncthreads(); /* the previous token's patch is consumed */
    for (int e = threadIdx.x; e < P; e += blockDim.x) {
      const int kw = e % pw, kh = e / pw % ph, kt = e / (pw * ph) % pt, ci = e / (pw * ph * pt);
      const int tt = t * pt + kt, hh = h * ph + kh, ww = x * pw + kw;
      patch[e] =
          (tt < Tx && hh < Hx && ww < Wx) ? src[((((int64_t)bi * Cin + ci) * Tx + tt) * Hx + hh) * Wx + ww] : 0.0f;
    }
    __syncthreads();
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      const float *wc = w + (int64_t)c * P;
      float acc = 0.0f;
      for (int e = 0; e < P; e++) acc += wc[e] * patch[e];
      o[c] = acc + b[c];
    }
  }
}

void cuda_patch_embed3d(const cuda_ctx *ctx, float *out, const float *src, const float *w, const float *b, int B,
                        int Cin, int Tx, int Hx, int Wx, int pt, int ph, int pw, int C, int t0, int Tn) {
  OPS_CHECK(pt > 0 && ph > 0 && pw > 0);
  const int64_t ntok = (int64_t)B * Tn * ((Hx + ph - 1) / ph) * ((Wx + pw - 1) / pw);
  const size_t smem = (size_t)Cin * pt * ph * pw * sizeof(float);
  OPS_CHECK(smem <= 48 * 1024);
  if (ntok <= 0 || C <= 0) return;
  LAUNCH(patch_embed3d_kernel, (unsigned)(ntok < MAX_GRID ? ntok : MAX_GRID), BLOCK, smem, stream_of(ctx), out, src,
         w, b, B, Cin, Tx, Hx, Wx, pt, ph, pw, C, t0, Tn);
}

/* One thread per element of x[B*T, S, C]: x += pe[S, C]. */
static __global__ void add_pos_kernel(float *__restrict__ x, const float *__restrict__ pe, int64_t n, int64_t SC) {
  GRID_LOOP(i, n) x[i] += pe[i % SC];
}

void cuda_add_pos(const cuda_ctx *ctx, float *x, const float *pe, int BT, int S, int C) {
  const int64_t SC = (int64_t)S * C, n = (int64_t)BT * SC;
  LAUNCH_N(ctx, add_pos_kernel, n, x, pe, n, SC);
}

/* One thread per element of x[B, T, S, C]: x += tp[t0 + t, C] for frames t0 + t < Tg. */
static __global__ void add_frame_pos_kernel(float *__restrict__ x, const float *__restrict__ tp, int B, int T,
                                            int S, int C, int t0, int Tg) {
  const int64_t SC = (int64_t)S * C;
  GRID_LOOP(i, (int64_t)B * T * SC) {
    const int64_t t = t0 + (i / SC) % T;
    if (t < Tg) x[i] += tp[t * C + i % C];
  }
}

void cuda_add_frame_pos(const cuda_ctx *ctx, float *x, const float *tp, int B, int T, int S, int C, int t0,
                        int Tg) {
  const int64_t n = (int64_t)B * T * S * C;
  LAUNCH_N(ctx, add_frame_pos_kernel, n, x, tp, B, T, S, C, t0, Tg);
}

/* One thread per element of out[B, Cout, Tx, Hx, Wx], gathered from src[B, T*Hp*Wp, pt*ph*pw*Cout];
 * elements whose patch lies outside the T x Hp x Wp grid are left alone (as on the CPU). */
static __global__ void unpatchify_kernel(float *__restrict__ out, const float *__restrict__ src, int B, int Cout,
                                         int T, int Hp, int Wp, int pt, int ph, int pw, int Tx, int Hx, int Wx) {
  const int P = pt * ph * pw * Cout;
  GRID_LOOP(e, (int64_t)B * Cout * Tx * Hx * Wx) {
    const int ww = (int)(e % Wx), hh = (int)(e / Wx % Hx), tt = (int)(e / Wx / Hx % Tx);
    const int64_t bc = e / Wx / Hx / Tx;
    const int c = (int)(bc % Cout), b = (int)(bc / Cout);
    const int t = tt / pt, h = hh / ph, x = ww / pw, kt = tt % pt, kh = hh % ph, kw = ww % pw;
    if (t >= T || h >= Hp || x >= Wp) continue;
    const float *s = src + (((int64_t)b * T + t) * Hp * Wp + (int64_t)h * Wp + x) * P;
    out[e] = s[((kt * ph + kh) * pw + kw) * Cout + c];
  }
}

void cuda_unpatchify(const cuda_ctx *ctx, float *out, const float *src, int B, int Cout, int T, int Hp, int Wp,
                     int pt, int ph, int pw, int Tx, int Hx, int Wx) {
  const int64_t n = (int64_t)B * Cout * Tx * Hx * Wx;
  if (n <= 0) return;
  OPS_CHECK(pt > 0 && ph > 0 && pw > 0);
  LAUNCH(unpatchify_kernel, grid_for(n), BLOCK, 0, stream_of(ctx), out, src, B, Cout, T, Hp, Wp, pt, ph, pw, Tx, Hx,
         Wx);
}

/* ---- block --------------------------------------------------------------------------------- */

/* One block per row of x[B*R, C]: mean and variance in double (two passes, as the CPU), then
 * out = (x - mean) * rstd * (1 + scale) + shift. */
static __global__ void ln_modulate_kernel(float *__restrict__ out, const float *__restrict__ x,
                                          const float *__restrict__ t, int64_t t_stride, int64_t t_shift,
                                          int64_t t_scale, const float *__restrict__ table, int shift, int scale,
                                          int64_t rows, int64_t R, int C, float eps) {
  __shared__ double red[32];
  for (int64_t row = blockIdx.x; row < rows; row += gridDim.x) {
    const float *xr = x + row * C;
    const float *tb = t + (row / R) * t_stride;
    double s = 0.0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += xr[c];
    const double mean = block_sum(s, red) / C;
    double v = 0.0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) v += (xr[c] - mean) * (xr[c] - mean);
    const double var = block_sum(v, red) / C;
    const float m = (float)mean, rstd = (float)(1.0 / sqrt(var + eps));
    float *o = out + row * C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      const float sh = table[shift * C + c] + tb[t_shift + c];
      const float sc = table[scale * C + c] + tb[t_scale + c];
      o[c] = __fmul_rn((xr[c] - m) * rstd, 1.0f + sc) + sh;
    }
  }
}

void cuda_ln_modulate(const cuda_ctx *ctx, float *out, const float *x, const float *t, int64_t t_stride,
                      int64_t t_shift, int64_t t_scale, const float *table, int shift, int scale, int B, int64_t R,
                      int C, float eps) {
  const int64_t rows = (int64_t)B * R;
  if (rows <= 0 || C <= 0) return;
  LAUNCH(ln_modulate_kernel, (unsigned)(rows < MAX_GRID ? rows : MAX_GRID), BLOCK, 0, stream_of(ctx), out, x, t,
         t_stride, t_shift, t_scale, table, shift, scale, rows, R, C, eps);
}

/* One warp per (row r, part q/k, head h) of q, k [R, ld]: sum of squares in double, then
 * v = w[d] * (v * inv). */
static __global__ void qk_rmsnorm_kernel(float *__restrict__ q, float *__restrict__ k, int64_t ld,
                                         const float *__restrict__ wq, const float *__restrict__ wk, int64_t R,
                                         int H, int D, float eps) {
  const int lane = threadIdx.x & 31;
  const int64_t nvec = R * 2 * H;
  for (int64_t vi = ((int64_t)blockIdx.x * blockDim.x + threadIdx.x) / 32; vi < nvec;
       vi += (int64_t)gridDim.x * blockDim.x / 32) {
    const int h = (int)(vi % H), part = (int)(vi / H % 2);
    const int64_t r = vi / H / 2;
    const float *wt = part ? wk : wq;
    float *v = (part ? k : q) + r * ld + (int64_t)h * D;
    double ss = 0.0;
    for (int d = lane; d < D; d += 32) ss += (double)v[d] * v[d];
    ss = warp_sum(ss);
    const float inv = (float)(1.0 / sqrt(ss / D + eps));
    for (int d = lane; d < D; d += 32) v[d] = wt[d] * (v[d] * inv);
  }
}

void cuda_qk_rmsnorm(const cuda_ctx *ctx, float *q, float *k, int64_t ld, const float *wq, const float *wk,
                     int64_t R, int H, int D, float eps) {
  const int64_t nvec = R * 2 * H;
  if (nvec <= 0 || D <= 0) return;
  LAUNCH(qk_rmsnorm_kernel, grid_for(nvec * 32), BLOCK, 0, stream_of(ctx), q, k, ld, wq, wk, R, H, D, eps);
}

/* One thread per rotated pair (token, part q/k, head h, pair p < D/2) of q, k [B*T*S, ld]; the
 * token's table row is its frame (axis 0) or spatial index (axis 1) in cos, sin [rows, D]. */
static __global__ void rope_kernel(float *__restrict__ q, float *__restrict__ k, int64_t ld,
                                   const float *__restrict__ cos_t, const float *__restrict__ sin_t, int64_t ntok,
                                   int T, int S, int H, int D, int axis, int half) {
  const int np = D / 2;
  GRID_LOOP(e, ntok * 2 * H * np) {
    const int p = (int)(e % np), h = (int)(e / np % H), part = (int)(e / np / H % 2);
    const int64_t tok = e / np / H / 2;
    const int64_t row = axis == 0 ? tok / S % T : tok % S;
    const float *cs = cos_t + row * D, *sn = sin_t + row * D;
    float *v = (part ? k : q) + tok * ld + (int64_t)h * D;
    /* pair (i, j): interleaved (2p, 2p+1), or split-half (i, i + half) in section p / half */
    const int i = half == 0 ? 2 * p : (p / half) * 2 * half + p % half, j = half == 0 ? i + 1 : i + half;
    const float x0 = v[i], x1 = v[j];
    v[i] = __fmul_rn(x0, cs[i]) - __fmul_rn(x1, sn[i]);
    v[j] = __fmul_rn(x1, cs[j]) + __fmul_rn(x0, sn[j]);
  }
}

void cuda_rope(const cuda_ctx *ctx, float *q, float *k, int64_t ld, const float *cos_t, const float *sin_t, int B,
               int T, int S, int H, int D, int axis, int half) {
  const int64_t ntok = (int64_t)B * T * S, n = ntok * 2 * H * (D / 2);
  if (n <= 0) return;
  OPS_CHECK(half == 0 ? D % 2 == 0 : half > 0 && D % (2 * half) == 0);
  LAUNCH(rope_kernel, grid_for(n), BLOCK, 0, stream_of(ctx), q, k, ld, cos_t, sin_t, ntok, T, S, H, D, axis, half);
}

/* Attention, shared by self- and cross-attention. Sequence s = (o, i) with o = s / inner,
 * i = s % inner; its query token j is row q_outer*o + inner_stride*i + tok_stride*j of q (rows
 * q_ld floats apart) and of out (rows C = H*D floats apart), its key/value token j is row
 * kv_outer*o + inner_stride*i + tok_stride*j of k and v (rows kv_ld floats apart). */
typedef struct {
  float *out;
  const float *q, *k, *v;
  int64_t q_ld, kv_ld, q_outer, kv_outer, inner_stride, tok_stride;
  int inner, nq, nk;   /* queries and keys per sequence */
  const int32_t *lens; /* [nseq] keys per sequence instead of nk, or NULL */
  int H, D, D4, ks;    /* head dim, rounded up to 4, row stride of the K tile */
  float scale;
} attn_args;

enum { ATT_BQ = 32, ATT_BK = 32, ATT_WARPS = 4, ATT_QW = ATT_BQ / ATT_WARPS }; /* QW queries per warp */

static __device__ float f4_at(float4 v, int i) { return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w; }

/* grid (sequence, query tile of ATT_BQ, head), ATT_WARPS warps; warp w owns queries w*QW ..
 * w*QW + QW-1 of the tile. Shared: Q [BQ, D4], K [BK, ks], V [BK, D4], P [WARPS, QW, BK].
 * Per key tile: lane j scores key j against the warp's QW queries, the warp updates each query's
 * running max m and (per-lane partial) sum l, and lane j accumulates head dims j + 32c (c < DC)
 * of o = sum p * v. Online softmax in fp32; D <= 32*DC. */
template <int DC>
static __global__ void __launch_bounds__(ATT_WARPS * 32) attention_kernel(attn_args a) {
  extern __shared__ float4 smem4[];
  float *qs = (float *)smem4, *ks = qs + ATT_BQ * a.D4, *vs = ks + ATT_BK * a.ks, *ps = vs + ATT_BK * a.D4;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, h = blockIdx.z, i0 = blockIdx.y * ATT_BQ;
  const int64_t s = blockIdx.x, o = s / a.inner, in = s % a.inner;
  const int64_t qbase = o * a.q_outer + in * a.inner_stride, kbase = o * a.kv_outer + in * a.inner_stride;
  const int nk = a.lens ? a.lens[s] : a.nk, D = a.D, D4 = a.D4, col = h * D;

  for (int r = warp; r < ATT_BQ; r += ATT_WARPS) /* Q tile, zero past nq and D */
    for (int d = lane; d < D4; d += 32)
      qs[r * D4 + d] = i0 + r < a.nq && d < D ? a.q[(qbase + (i0 + r) * a.tok_stride) * a.q_ld + col + d] : 0.0f;

  float m[ATT_QW], l[ATT_QW] = {}, acc[ATT_QW][DC] = {}; /* running max, sum (this lane's keys), o */
#pragma unroll
  for (int qi = 0; qi < ATT_QW; qi++) m[qi] = -INFINITY;
  const float *qw = qs + warp * ATT_QW * D4;
  float *pw = ps + warp * ATT_QW * ATT_BK;

  for (int j0 = 0; j0 < nk; j0 += ATT_BK) {
    __syncthreads(); /* Q is stored; the previous K, V tiles are consumed */
    for (int r = warp; r < ATT_BK; r += ATT_WARPS) {
      const bool ok = j0 + r < nk;
      const int64_t row = (kbase + (int64_t)(j0 + r) * a.tok_stride) * a.kv_ld + col;
      for (int d = lane; d < D4; d += 32) {
        ks[r * a.ks + d] = ok && d < D ? a.k[row + d] : 0.0f;
        vs[r * D4 + d] = ok && d < D ? a.v[row + d] : 0.0f;
      }
    }
    __syncthreads();

    float sc[ATT_QW] = {}; /* scores of key j0 + lane */
    const float *kr = ks + lane * a.ks;
    for (int d = 0; d < D4; d += 4) {
      const float4 kk = *(const float4 *)(kr + d);
#pragma unroll
      for (int qi = 0; qi < ATT_QW; qi++) {
        const float4 qq = *(const float4 *)(qw + qi * D4 + d);
        sc[qi] += qq.x * kk.x + qq.y * kk.y + qq.z * kk.z + qq.w * kk.w;
      }
    }
    const bool valid = j0 + lane < nk;
#pragma unroll
    for (int qi = 0; qi < ATT_QW; qi++) {
      const float x = valid ? sc[qi] * a.scale : -INFINITY;
      const float mn = fmaxf(m[qi], warp_max(x)); /* finite: key j0 is valid */
      const float p = valid ? expf(x - mn) : 0.0f, corr = expf(m[qi] - mn);
      m[qi] = mn;
      l[qi] = l[qi] * corr + p;
#pragma unroll
      for (int c = 0; c < DC; c++) acc[qi][c] *= corr;
      pw[qi * ATT_BK + lane] = p;
    }
    __syncwarp();
    for (int j = 0; j < ATT_BK; j += 4) {
      float4 pp[ATT_QW];
#pragma unroll
      for (int qi = 0; qi < ATT_QW; qi++) pp[qi] = *(const float4 *)(pw + qi * ATT_BK + j);
#pragma unroll
      for (int jj = 0; jj < 4; jj++)
#pragma unroll
        for (int c = 0; c < DC; c++) {
          const int d = lane + 32 * c;
          const float vv = d < D4 ? vs[(j + jj) * D4 + d] : 0.0f;
#pragma unroll
          for (int qi = 0; qi < ATT_QW; qi++) acc[qi][c] += f4_at(pp[qi], jj) * vv;
        }
    }
    __syncwarp(); /* P is read before the next tile overwrites it */
  }

#pragma unroll
  for (int qi = 0; qi < ATT_QW; qi++) {
    const float sum = warp_sum(l[qi]), inv = sum > 0.0f ? 1.0f / sum : 0.0f; /* no keys: zeros */
    const int i = i0 + warp * ATT_QW + qi;
    if (i >= a.nq) continue;
    float *orow = a.out + (qbase + (int64_t)i * a.tok_stride) * (a.H * D) + col;
#pragma unroll
    for (int c = 0; c < DC; c++)
      if (lane + 32 * c < D) orow[lane + 32 * c] = acc[qi][c] * inv;
  }
}

/* Launches attention_kernel over nseq sequences of a.nq queries. */
static void attention_launch(const cuda_ctx *ctx, attn_args a, int64_t nseq) {
  if (nseq <= 0 || a.nq <= 0 || a.H <= 0) return;
  OPS_CHECK(a.D >= 1 && a.D <= 128 && a.inner >= 1);
  const int64_t qtiles = (a.nq + ATT_BQ - 1) / ATT_BQ;
  OPS_CHECK(qtiles <= 65535 && a.H <= 65535 && nseq <= 0x7fffffff);
  a.D4 = (a.D + 3) / 4 * 4;
  a.ks = (a.D4 / 4) % 2 ? a.D4 : a.D4 + 4; /* odd number of float4s per row: no bank conflicts */
  const size_t smem = (size_t)(ATT_BQ * a.D4 + ATT_BK * a.ks + ATT_BK * a.D4 + ATT_WARPS * ATT_QW * ATT_BK) * 4;
  const dim3 grid((unsigned)nseq, (unsigned)qtiles, (unsigned)a.H);
  const int dc = (a.D + 31) / 32; /* head-dim chunks of 32 each lane accumulates */
  void (*attention_kernel_dc)(attn_args) = dc == 1   ? attention_kernel<1>
                                           : dc == 2 ? attention_kernel<2>
                                           : dc == 3 ? attention_kernel<3>
                                                     : attention_kernel<4>;
  if (smem > 48 * 1024) /* above the default limit of dynamic shared memory */
    CUDA_CHECK(cudaFuncSetAttribute(attention_kernel_dc, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
  LAUNCH(attention_kernel_dc, grid, ATT_WARPS * 32, smem, stream_of(ctx), a);
}

void cuda_attention(const cuda_ctx *ctx, float *out, const float *q, const float *k, const float *v, int64_t ld,
                    int nseq, int inner, int64_t outer_stride, int64_t inner_stride, int64_t tok_stride, int len,
                    int H, int D, float scale) {
  attn_args a = {out, q, k, v, ld, ld, outer_stride, outer_stride, inner_stride, tok_stride, inner, len, len,
                 NULL, H, D, 0, 0, scale};
  attention_launch(ctx, a, (int64_t)nseq * inner);
}

void cuda_cross_attention(const cuda_ctx *ctx, float *out, const float *q, const float *k, const float *v,
                          int64_t ld, const int32_t *lens, int B, int N, int L, int H, int D, float scale) {
  /* sequence b: queries are rows b*N + j of q [B*N, C], keys rows b*L + j of k, v [B*L, ld] */
  attn_args a = {out, q, k, v, (int64_t)H * D, ld, N, L, 0, 1, 1, N, L, lens, H, D, 0, 0, scale};
  attention_launch(ctx, a, B);
}

/* One thread per element of x[B, R, C]: g = (table[chunk] + t[b, chunk]) * src; store = g; x += g
 * (no __restrict__ on x, src, store: in-place callers may alias them). */
static __global__ void gate_residual_kernel(float *x, const float *src, const float *__restrict__ t,
                                            const float *__restrict__ table, int chunk, int nchunk, int64_t R,
                                            int C, int64_t n, float *store) {
  GRID_LOOP(e, n) {
    const int c = (int)(e % C);
    const int64_t b = e / C / R;
    const float g = __fmul_rn(table[chunk * C + c] + t[(b * nchunk + chunk) * C + c], src[e]);
    if (store) store[e] = g;
    x[e] += g;
  }
}

void cuda_gate_residual(const cuda_ctx *ctx, float *x, const float *src, const float *t, const float *table,
                        int chunk, int nchunk, int B, int64_t R, int C, float *store) {
  const int64_t n = (int64_t)B * R * C;
  LAUNCH_N(ctx, gate_residual_kernel, n, x, src, t, table, chunk, nchunk, R, C, n, store);
}

/* One thread per element: store = src (if store); x += src. */
static __global__ void residual_store_kernel(float *x, const float *src, int64_t n, float *store) {
  GRID_LOOP(i, n) {
    if (store) store[i] = src[i];
    x[i] += src[i];
  }
}

void cuda_residual_store(const cuda_ctx *ctx, float *x, const float *src, int64_t n, float *store) {
  LAUNCH_N(ctx, residual_store_kernel, n, x, src, n, store);
}

/* ---- sequence parallelism ------------------------------------------------------------------- */

/* One thread per element of the chunks [P][B, c1, c2, C] of a tensor [B, d1, d2, C] split along
 * dim (1 or 2; chunk r holds indices r*chunk .. r*chunk + chunk-1 of that dim). pack: dst =
 * chunks from src = tensor, zero past length n; unpack: dst = tensor from src = chunks, skipping
 * indices past d1 or d2 (the padding). */
static __global__ void dsp_copy_kernel(float *__restrict__ dst, const float *__restrict__ src, int B, int d1,
                                       int d2, int C, int dim, int chunk, int n, int P, int pack) {
  const int c1 = dim == 1 ? chunk : d1, c2 = dim == 2 ? chunk : d2;
  GRID_LOOP(e, (int64_t)P * B * c1 * c2 * C) {
    const int ch = (int)(e % C), j = (int)(e / C % c2), i = (int)(e / C / c2 % c1);
    const int64_t rb = e / C / c2 / c1;
    const int b = (int)(rb % B), r = (int)(rb / B);
    const int ti = dim == 1 ? r * chunk + i : i, tj = dim == 2 ? r * chunk + j : j; /* index in the tensor */
    const int64_t t = (((int64_t)b * d1 + ti) * d2 + tj) * C + ch;
    if (pack)
      dst[e] = (dim == 1 ? ti : tj) >= n ? 0.0f : src[t];
    else if (ti < d1 && tj < d2)
      dst[t] = src[e];
  }
}

void cuda_dsp_pack(const cuda_ctx *ctx, float *send, const float *src, int B, int d1, int d2, int C, int dim,
                   int chunk, int n, int P) {
  const int64_t total = (int64_t)P * B * (dim == 1 ? chunk : d1) * (dim == 2 ? chunk : d2) * C;
  LAUNCH_N(ctx, dsp_copy_kernel, total, send, src, B, d1, d2, C, dim, chunk, n, P, 1);
}

void cuda_dsp_unpack(const cuda_ctx *ctx, float *dst, const float *recv, int B, int d1, int d2, int C, int dim,
                     int chunk, int P) {
  const int64_t total = (int64_t)P * B * (dim == 1 ? chunk : d1) * (dim == 2 ? chunk : d2) * C;
  LAUNCH_N(ctx, dsp_copy_kernel, total, dst, recv, B, d1, d2, C, dim, chunk, 0, P, 0);
}
