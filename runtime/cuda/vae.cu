/* cuda/vae.cu: the CUDA ops of the video decoders (the VAEs), the counterparts of cpu/vae.c with
 * the arguments of cpu/ops.h's section "video decoders" after the context: the 3-D convolution
 * (an implicit GEMM of our own), GroupNorm (+SiLU) with a grid-wide reduction, and the
 * elementwise and copy ops (nearest 2x upsampling, depth to time, the 2x time interpolation, the
 * learned mix, per-channel affine, scaling, the strided 4-D copy, tile blending, frames to uint8
 * and the latent into storage). Storage elements in, fp32 math, one rounding on store; products
 * the CPU rounds before an addition use __fmul_rn / __fadd_rn (nvcc would otherwise fuse them),
 * and the sigmoids are evaluated in double and rounded once (as cuda/ops.cu's silu). Not here: the
 * frame attention (cuda/vae_attention.cu) and cuDNN's convolution (cuda/vae_cudnn.cu). */
#include <math.h>

#include "cuda/common.cuh"
#include "ditc_abi.h"

/* ---- conv3d: the implicit GEMM ------------------------------------------------------------- */

/* out[co, p] = b[co] + sum over k of w[co, k] * x[k, p]: a GEMM of M = Cout rows, N = the output
 * positions p = (n, t, y, x) and K = Cin*kt*kh*kw reduction terms, k = ((ci*kt + dt)*kh + dy)*kw
 * + dx, which is w's own layout: w is the row-major A operand [Cout, K]. x (im2col) is never
 * formed: a B element is read from src at (n, ci, t + dt - pt0, y + dy - ph, x + dx - pw), zero
 * outside (or, in time with replicate, the first / last frame). Output frames t_lo .. t_lo+nt-1
 * only (all of them for cuda_conv3d; cuda/vae_cudnn.cu asks for the edge frames). */
typedef struct {
  int64_t Cin, Cout, K;     /* K = Cin*kt*kh*kw */
  int64_t P;                /* output positions computed: N * nt * Ho * Wo */
  int64_t in_n, out_n, out_c; /* elements between samples of src, of out; between channels of out */
  int T, H, W, kt, kh, kw, pt0, ph, pw;
  int To, Ho, Wo, t_lo, nt;
  int replicate;
} conv_geom;

enum { CONV_BK = 16, CONV_THREADS = 256 };

/* Where reduction term k reads from: its input channel's offset ci*T*H*W and its tap (dt - pt0,
 * dy - ph, dx - pw); w = 0 for k >= K (the ragged last slice reads zeros). */
static __device__ void conv_tap(long long *off, int4 *tap, const conv_geom &g, int64_t k) {
  if (k >= g.K) {
    *off = 0, *tap = make_int4(0, 0, 0, 0);
    return;
  }
  const int dx = (int)(k % g.kw);
  int64_t q = k / g.kw;
  const int dy = (int)(q % g.kh);
  q /= g.kh;
  const int dt = (int)(q % g.kt);
  *off = (long long)(q / g.kt) * g.T * g.H * g.W;
  *tap = make_int4(dt - g.pt0, dy - g.ph, dx - g.pw, 1);
}

/* x[k, p] for the tap of k and the output position (t, y, x) of p. */
static __device__ __forceinline__ float conv_x(const st_t *src_n, const conv_geom &g, long long off, int4 tap, int t,
                                               int y, int x) {
  if (!tap.w) return 0.0f;
  int ti = t + tap.x;
  if (ti < 0 || ti >= g.T) {
    if (!g.replicate) return 0.0f;
    ti = ti < 0 ? 0 : g.T - 1;
  }
  const int yi = y + tap.y, xi = x + tap.z;
  if (yi < 0 || yi >= g.H || xi < 0 || xi >= g.W) return 0.0f;
  return ld(src_n[off + ((int64_t)ti * g.H + yi) * g.W + xi]);
}

/* A block computes the BM x BN tile of out at (blockIdx.y*BM, blockIdx.x*BN), CONV_BK reduction
 * terms at a time through shared memory, each thread a TM x TN piece of it (rows ty*TM.., columns
 * tx + j*BN/TN, so a warp stores consecutive positions). The next slice is read into registers
 * while the current one is multiplied; the taps of the slices are tabled in shared memory, two
 * slices ahead, so a B element costs no division. */
template <int BM, int BN, int TM, int TN>
static __global__ void __launch_bounds__(CONV_THREADS)
    conv3d_kernel(st_t *__restrict__ out, const st_t *__restrict__ src, const st_t *__restrict__ w,
                  const st_t *__restrict__ b, conv_geom g) {
  constexpr int BK = CONV_BK, A_PER = BM * BK / CONV_THREADS, B_PER = BK * BN / CONV_THREADS;
  constexpr int A_KT = BK / A_PER, B_STEP = CONV_THREADS / BN;
  static_assert((BM / TM) * (BN / TN) == CONV_THREADS && TM % 4 == 0, "one TM x TN piece per thread");
  __shared__ __align__(16) float As[BK][BM + 4]; /* w slice, transposed: [k][co] */
  __shared__ __align__(16) float Bs[BK][BN];     /* x slice: [k][p] */
  __shared__ long long tap_off[2][BK];
  __shared__ int4 tap[2][BK];

  const int tid = threadIdx.x, tx = tid % (BN / TN), ty = tid / (BN / TN);
  const int64_t co0 = (int64_t)blockIdx.y * BM, p0 = (int64_t)blockIdx.x * BN;
  /* this thread's loads: A row a_row, terms a_k..a_k+A_PER-1; B column b_col, terms b_k + i*B_STEP */
  const int a_row = tid / A_KT, a_k = (tid % A_KT) * A_PER, b_col = tid % BN, b_k = tid / BN;
  const bool a_ok = co0 + a_row < g.Cout, b_ok = p0 + b_col < g.P;
  const st_t *a_src = w + (a_ok ? co0 + a_row : 0) * g.K;
  int bt, by, bx;
  const st_t *src_n;
  {
    int64_t q = b_ok ? p0 + b_col : 0;
    bx = (int)(q % g.Wo), q /= g.Wo;
    by = (int)(q % g.Ho), q /= g.Ho;
    bt = g.t_lo + (int)(q % g.nt);
    src_n = src + (q / g.nt) * g.in_n;
  }

  float ra[A_PER], rb[B_PER], acc[TM][TN];
#pragma unroll
  for (int i = 0; i < TM; i++)
#pragma unroll
    for (int j = 0; j < TN; j++) acc[i][j] = 0.0f;
  auto fetch = [&](int64_t s) { /* slice s into ra, rb (its taps in slot s & 1) */
    const int64_t k0 = s * BK;
#pragma unroll
    for (int j = 0; j < A_PER; j++) {
      const int64_t k = k0 + a_k + j;
      ra[j] = a_ok && k < g.K ? ld(a_src[k]) : 0.0f;
    }
    const int slot = (int)(s & 1);
#pragma unroll
    for (int i = 0; i < B_PER; i++) {
      const int kr = b_k + i * B_STEP;
      rb[i] = b_ok ? conv_x(src_n, g, tap_off[slot][kr], tap[slot][kr], bt, by, bx) : 0.0f;
    }
  };
  auto stash = [&]() {
#pragma unroll
    for (int j = 0; j < A_PER; j++) As[a_k + j][a_row] = ra[j];
#pragma unroll
    for (int i = 0; i < B_PER; i++) Bs[b_k + i * B_STEP][b_col] = rb[i];
  };

  const int64_t nslices = (g.K + BK - 1) / BK;
  if (tid < 2 * BK) conv_tap(&tap_off[tid / BK][tid % BK], &tap[tid / BK][tid % BK], g, tid);
  __syncthreads();
  fetch(0);
  stash();
  __syncthreads();
  for (int64_t s = 0; s < nslices; s++) {
    if (s + 1 < nslices) fetch(s + 1);
#pragma unroll
    for (int kk = 0; kk < BK; kk++) {
      float a[TM], bv[TN];
#pragma unroll
      for (int i = 0; i < TM; i += 4) {
        const float4 v = *reinterpret_cast<const float4 *>(&As[kk][ty * TM + i]);
        a[i] = v.x, a[i + 1] = v.y, a[i + 2] = v.z, a[i + 3] = v.w;
      }
#pragma unroll
      for (int j = 0; j < TN; j++) bv[j] = Bs[kk][tx + j * (BN / TN)];
#pragma unroll
      for (int i = 0; i < TM; i++)
#pragma unroll
        for (int j = 0; j < TN; j++) acc[i][j] = fmaf(a[i], bv[j], acc[i][j]);
    }
    __syncthreads();
    if (s + 1 < nslices) {
      stash();
      /* slot s & 1 held slice s's taps, used by fetch(s) one iteration ago: now slice s + 2's */
      if (tid < BK) conv_tap(&tap_off[s & 1][tid], &tap[s & 1][tid], g, (s + 2) * BK + tid);
    }
    __syncthreads();
  }

#pragma unroll
  for (int j = 0; j < TN; j++) {
    int64_t q = p0 + tx + j * (BN / TN);
    if (q >= g.P) continue;
    const int x = (int)(q % g.Wo);
    q /= g.Wo;
    const int y = (int)(q % g.Ho);
    q /= g.Ho;
    const int t = g.t_lo + (int)(q % g.nt);
    st_t *o = out + (q / g.nt) * g.out_n + ((int64_t)t * g.Ho + y) * g.Wo + x;
#pragma unroll
    for (int i = 0; i < TM; i++) {
      const int64_t co = co0 + ty * TM + i;
      if (co < g.Cout) o[co * g.out_c] = to_st((b ? ld(b[co]) : 0.0f) + acc[i][j]);
    }
  }
}

template <int BM, int BN, int TM, int TN>
static void conv3d_tiles(const cuda_ctx *ctx, st_t *out, const st_t *src, const st_t *w, const st_t *b,
                         const conv_geom &g) {
  const dim3 grid((unsigned)((g.P + BN - 1) / BN), (unsigned)((g.Cout + BM - 1) / BM));
  LAUNCH((conv3d_kernel<BM, BN, TM, TN>), grid, CONV_THREADS, 0, stream_of(ctx), out, src, w, b, g);
}

/* cuda_conv3d for output frames t_lo .. t_hi-1 only (cuda/vae_cudnn.cu computes the others). The
 * tile fits Cout: 16 x 256 positions up to 16 output channels (a VAE's last conv has 3 or 4), 32
 * x 128 up to 32, 64 x 64 up to 64 or for few positions, else 128 x 128 (8 x 8 per thread). */
void conv3d_launch(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, const ditc_st *w, const ditc_st *b,
                   int64_t N, int64_t Cin, int64_t Cout, int64_t T, int64_t H, int64_t W, int64_t kt, int64_t kh,
                   int64_t kw, int64_t pt0, int64_t pt1, int64_t ph, int64_t pw, int64_t replicate, int64_t t_lo,
                   int64_t t_hi) {
  const int64_t To = T + pt0 + pt1 - kt + 1, Ho = H + 2 * ph - kh + 1, Wo = W + 2 * pw - kw + 1;
  OPS_CHECK(N >= 0 && Cin > 0 && Cout > 0 && T > 0 && H > 0 && W > 0 && kt > 0 && kh > 0 && kw > 0);
  OPS_CHECK(pt0 >= 0 && pt1 >= 0 && ph >= 0 && pw >= 0 && To > 0 && Ho > 0 && Wo > 0);
  OPS_CHECK(0 <= t_lo && t_lo <= t_hi && t_hi <= To);
  /* frame, row and column indices (padded too) in int; an input channel's T*H*W below 2^31 */
  OPS_CHECK(To * Ho * Wo < INT32_MAX && T * H * W < INT32_MAX && T + pt0 + pt1 < INT32_MAX &&
            H + 2 * ph < INT32_MAX && W + 2 * pw < INT32_MAX && Cout < 65535 * 16);
  const int64_t nt = t_hi - t_lo, P = N * nt * Ho * Wo;
  if (P == 0) return;
  conv_geom g;
  g.Cin = Cin, g.Cout = Cout, g.K = Cin * kt * kh * kw, g.P = P;
  g.in_n = Cin * T * H * W, g.out_c = To * Ho * Wo, g.out_n = Cout * g.out_c;
  g.T = (int)T, g.H = (int)H, g.W = (int)W, g.kt = (int)kt, g.kh = (int)kh, g.kw = (int)kw;
  g.pt0 = (int)pt0, g.ph = (int)ph, g.pw = (int)pw;
  g.To = (int)To, g.Ho = (int)Ho, g.Wo = (int)Wo, g.t_lo = (int)t_lo, g.nt = (int)nt;
  g.replicate = replicate != 0;
  st_t *o = st_ptr(out);
  const st_t *x = st_ptr(src), *wt = st_ptr(w), *bs = st_ptr(b);
  if (Cout <= 16) conv3d_tiles<16, 256, 4, 4>(ctx, o, x, wt, bs, g);
  else if (Cout <= 32) conv3d_tiles<32, 128, 4, 4>(ctx, o, x, wt, bs, g);
  else if (Cout <= 64 || P <= 4096) conv3d_tiles<64, 64, 4, 4>(ctx, o, x, wt, bs, g);
  else conv3d_tiles<128, 128, 8, 8>(ctx, o, x, wt, bs, g);
}

void cuda_conv3d(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, const ditc_st *w, const ditc_st *b, int64_t N,
                 int64_t Cin, int64_t Cout, int64_t T, int64_t H, int64_t W, int64_t kt, int64_t kh, int64_t kw,
                 int64_t pt0, int64_t pt1, int64_t ph, int64_t pw, int64_t replicate) {
  conv3d_launch(ctx, out, src, w, b, N, Cin, Cout, T, H, W, kt, kh, kw, pt0, pt1, ph, pw, replicate, 0,
                T + pt0 + pt1 - kt + 1);
}

/* ---- group_norm ------------------------------------------------------------------------------ */

/* Statistics over groups of up to 130M elements (16 channels x 20 frames x 480 x 848) with many
 * blocks per group: group gi is `rows` rows of `len` elements, `stride` apart (per_frame 0: one
 * row, the group's channels being adjacent; per_frame 1: its C/G channels' frame t), cut into
 * pieces of at most `piece` elements, one block each. A block sums x - s and (x - s)^2 with s the
 * group's first element (the shift keeps E[x^2] - E[x]^2 from cancelling when |mean| >> std): in
 * fp32 per thread (at most GN_PER elements each), in double across threads, then into partial
 * sums in ctx->workspace; one block per group adds its partials in double (a fixed order, so the
 * result is deterministic) into mean and 1/sqrt(var + eps); the normalize pass reads those. */
typedef struct {
  int64_t C, T, HW, G, Cg; /* Cg = C / G */
  int per_frame;
  int64_t rows, len, stride; /* of a group */
  int64_t pieces_per_row, piece, pieces; /* pieces = rows * pieces_per_row, per group */
} gn_geom;

enum { GN_PER = 32, GN_PIECE = BLOCK * GN_PER };

/* The first element of group gi (gi = n*G + g, or (n*G + g)*T + t per frame). */
static __device__ int64_t gn_base(const gn_geom &g, int64_t gi) {
  const int64_t t = g.per_frame ? gi % g.T : 0, ng = g.per_frame ? gi / g.T : gi;
  return ((ng / g.G * g.C + ng % g.G * g.Cg) * g.T + t) * g.HW;
}

/* Sums of a block's double pair over its threads (BLOCK threads); thread 0 gets the total. */
static __device__ double2 block_sum2(double a, double b) {
  __shared__ double2 part[BLOCK / 32];
  for (int o = 16; o > 0; o >>= 1) a += __shfl_xor_sync(0xffffffffu, a, o), b += __shfl_xor_sync(0xffffffffu, b, o);
  if (threadIdx.x % 32 == 0) part[threadIdx.x / 32] = make_double2(a, b);
  __syncthreads();
  double2 s = make_double2(0.0, 0.0);
  if (threadIdx.x == 0)
    for (int i = 0; i < BLOCK / 32; i++) s.x += part[i].x, s.y += part[i].y;
  return s;
}

/* One block per (group, piece): partial[gi * pieces + piece] = (sum (x - s), sum (x - s)^2). */
static __global__ void group_norm_stats_kernel(double2 *__restrict__ partial, const st_t *__restrict__ src,
                                               gn_geom g) {
  const int64_t gi = blockIdx.x / g.pieces, pc = blockIdx.x % g.pieces;
  const int64_t base = gn_base(g, gi), row = pc / g.pieces_per_row, seg = pc % g.pieces_per_row;
  const st_t *x = src + base + row * g.stride;
  const int64_t lo = seg * g.piece, hi = lo + g.piece < g.len ? lo + g.piece : g.len;
  const float s = ld(src[base]);
  float a = 0.0f, b = 0.0f;
  for (int64_t i = lo + threadIdx.x; i < hi; i += BLOCK) {
    const float d = ld(x[i]) - s;
    a += d, b = fmaf(d, d, b);
  }
  const double2 t = block_sum2(a, b);
  if (threadIdx.x == 0) partial[blockIdx.x] = t;
}

/* One block per group: stats[gi] = (mean, 1/sqrt(var + eps)) from its partial sums. */
static __global__ void group_norm_finish_kernel(float2 *__restrict__ stats, const double2 *__restrict__ partial,
                                                const st_t *__restrict__ src, gn_geom g, float eps) {
  const int64_t gi = blockIdx.x;
  double a = 0.0, b = 0.0;
  for (int64_t i = threadIdx.x; i < g.pieces; i += BLOCK) a += partial[gi * g.pieces + i].x, b += partial[gi * g.pieces + i].y;
  const double2 t = block_sum2(a, b);
  if (threadIdx.x != 0) return;
  const double n = (double)(g.rows * g.len), m = t.x / n, var = fmax(t.y / n - m * m, 0.0);
  stats[gi] = make_float2((float)((double)ld(src[gn_base(g, gi)]) + m), (float)(1.0 / sqrt(var + (double)eps)));
}

/* grid (pieces of a row, rows): row r of out = its (n, c[, t]) run of len elements, normalized
 * with its group's statistics, then gamma, beta and (silu) x * sigmoid(x); V elements a step. */
template <int V>
static __global__ void group_norm_apply_kernel(st_t *out, const st_t *src, const st_t *__restrict__ gamma,
                                               const st_t *__restrict__ beta, const float2 *__restrict__ stats,
                                               gn_geom g, int64_t nrows, int64_t len, int silu) {
  for (int64_t r = blockIdx.y; r < nrows; r += gridDim.y) {
    const int64_t t = g.per_frame ? r % g.T : 0, nc = g.per_frame ? r / g.T : r, c = nc % g.C;
    const int64_t gi = g.per_frame ? (nc / g.C * g.G + c / g.Cg) * g.T + t : nc / g.C * g.G + c / g.Cg;
    const float2 st = stats[gi];
    const float ga = ld(gamma[c]), be = ld(beta[c]);
    for (int64_t i = ((int64_t)blockIdx.x * BLOCK + threadIdx.x) * V; i < len; i += (int64_t)gridDim.x * BLOCK * V) {
      float f[V];
      ld_st<V>(f, src + r * len + i);
#pragma unroll
      for (int j = 0; j < V; j++) {
        const float y = __fadd_rn(__fmul_rn(__fmul_rn(f[j] - st.x, st.y), ga), be);
        f[j] = silu ? y / (1.0f + (float)exp(-(double)y)) : y;
      }
      st_st<V>(out + r * len + i, f);
    }
  }
}

void cuda_group_norm(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, const ditc_st *gamma, const ditc_st *beta,
                     int64_t N, int64_t C, int64_t T, int64_t HW, int64_t G, float eps, int64_t per_frame,
                     int64_t silu) {
  if (N <= 0 || C <= 0 || T <= 0 || HW <= 0) return;
  OPS_CHECK(G > 0 && C % G == 0);
  gn_geom g;
  g.C = C, g.T = T, g.HW = HW, g.G = G, g.Cg = C / G, g.per_frame = per_frame != 0;
  g.rows = g.per_frame ? g.Cg : 1, g.len = g.per_frame ? HW : g.Cg * T * HW, g.stride = T * HW;
  const int64_t groups = N * G * (g.per_frame ? T : 1);
  /* pieces of GN_PIECE elements, fewer (longer) when the partials would not fit the workspace */
  const int64_t room = (int64_t)(ctx->workspace_bytes / sizeof(double2)) - (groups + 1) / 2 - 1;
  OPS_CHECK(ctx->workspace != NULL && room >= groups * g.rows); /* the statistics live in the workspace */
  int64_t ppr = (g.len + GN_PIECE - 1) / GN_PIECE;
  if (groups * g.rows * ppr > room) ppr = room / (groups * g.rows);
  g.pieces_per_row = ppr, g.piece = (g.len + ppr - 1) / ppr, g.pieces = g.rows * ppr;
  OPS_CHECK(groups * g.pieces < INT32_MAX);
  double2 *partial = (double2 *)ctx->workspace;
  float2 *stats = (float2 *)(partial + groups * g.pieces);
  cudaStream_t s = stream_of(ctx);
  LAUNCH(group_norm_stats_kernel, (unsigned)(groups * g.pieces), BLOCK, 0, s, partial, st_ptr(src), g);
  LAUNCH(group_norm_finish_kernel, (unsigned)groups, BLOCK, 0, s, stats, partial, st_ptr(src), g, eps);
  const int64_t nrows = N * C * (g.per_frame ? T : 1), len = g.per_frame ? HW : T * HW;
  const bool vec = len % VEC == 0 && vec_ok(out) && vec_ok(src);
  const int64_t per_block = (int64_t)BLOCK * (vec ? VEC : 1), xb = (len + per_block - 1) / per_block;
  const dim3 grid((unsigned)(xb < 65536 ? xb : 65536), (unsigned)(nrows < 65535 ? nrows : 65535));
  if (vec)
    LAUNCH(group_norm_apply_kernel<VEC>, grid, BLOCK, 0, s, st_ptr(out), st_ptr(src), st_ptr(gamma), st_ptr(beta),
           stats, g, nrows, len, (int)silu);
  else
    LAUNCH(group_norm_apply_kernel<1>, grid, BLOCK, 0, s, st_ptr(out), st_ptr(src), st_ptr(gamma), st_ptr(beta),
           stats, g, nrows, len, (int)silu);
}

/* ---- resampling and copies (storage in, storage out: exact) ---------------------------------- */

/* One thread per output element: out[r, y, x] = src[r, y/2, x/2], out [R, 2H, 2W]. */
static __global__ void upsample2x_kernel(st_t *__restrict__ out, const st_t *__restrict__ src, int64_t R, int64_t H,
                                         int64_t W) {
  GRID_LOOP(i, R * 4 * H * W) {
    const int64_t x = i % (2 * W), y = i / (2 * W) % (2 * H), r = i / (4 * H * W);
    out[i] = src[(r * H + y / 2) * W + x / 2];
  }
}

void cuda_upsample2x(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, int64_t R, int64_t H, int64_t W) {
  LAUNCH_N(ctx, upsample2x_kernel, R * 4 * H * W, st_ptr(out), st_ptr(src), R, H, W);
}

/* One thread per output element of out [N, C, 2T, HW]: frame 2t + s of channel c is frame t of
 * source channel 2c + s. */
static __global__ void depth_to_time_kernel(st_t *__restrict__ out, const st_t *__restrict__ src, int64_t N, int64_t C,
                                            int64_t T, int64_t HW) {
  GRID_LOOP(i, N * C * 2 * T * HW) {
    const int64_t p = i % HW, f = i / HW % (2 * T), nc = i / (HW * 2 * T), c = nc % C, n = nc / C;
    out[i] = src[((n * 2 * C + 2 * c + f % 2) * T + f / 2) * HW + p];
  }
}

void cuda_depth_to_time(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, int64_t N, int64_t C, int64_t T,
                        int64_t HW) {
  LAUNCH_N(ctx, depth_to_time_kernel, N * C * 2 * T * HW, st_ptr(out), st_ptr(src), N, C, T, HW);
}

/* One thread per element i < n0*n1*n2*n3 (i3 fastest). */
static __global__ void copy4_kernel(st_t *__restrict__ out, const st_t *__restrict__ src, int64_t n1, int64_t n2,
                                    int64_t n3, int64_t n, int64_t os, int64_t s0, int64_t s1, int64_t s2, int64_t s3,
                                    int64_t od, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
  GRID_LOOP(i, n) {
    const int64_t i3 = i % n3, i2 = i / n3 % n2, i1 = i / (n3 * n2) % n1, i0 = i / (n3 * n2 * n1);
    out[od + i0 * d0 + i1 * d1 + i2 * d2 + i3 * d3] = src[os + i0 * s0 + i1 * s1 + i2 * s2 + i3 * s3];
  }
}

void cuda_copy4(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, int64_t n0, int64_t n1, int64_t n2, int64_t n3,
                int64_t os, int64_t s0, int64_t s1, int64_t s2, int64_t s3, int64_t od, int64_t d0, int64_t d1,
                int64_t d2, int64_t d3) {
  if (n0 <= 0 || n1 <= 0 || n2 <= 0 || n3 <= 0) return;
  LAUNCH_N(ctx, copy4_kernel, n0 * n1 * n2 * n3, st_ptr(out), st_ptr(src), n1, n2, n3, n0 * n1 * n2 * n3, os, s0,
           s1, s2, s3, od, d0, d1, d2, d3);
}

/* One thread per output element of out [R, 2T-1, HW]: frame 0 copied; frame 1 + i (i < 2(T-1))
 * interpolated from frames 1.. as PyTorch's linear mode, align_corners false, scale 1/2:
 * src = max((i + 0.5) / 2 - 0.5, 0), i0 = floor(src), i1 = min(i0 + 1, T - 2), l = src - i0,
 * out = (1 - l) x[1 + i0] + l x[1 + i1]. */
static __global__ void time_lerp2x_kernel(st_t *__restrict__ out, const st_t *__restrict__ src, int64_t R, int64_t T,
                                          int64_t HW) {
  const int64_t To = 2 * T - 1;
  GRID_LOOP(e, R * To * HW) {
    const int64_t p = e % HW, f = e / HW % To, r = e / (HW * To);
    const st_t *x = src + r * T * HW + p;
    if (f == 0) {
      out[e] = x[0];
      continue;
    }
    float s = 0.5f * ((float)(f - 1) + 0.5f) - 0.5f;
    s = s < 0.0f ? 0.0f : s;
    const int64_t i0 = (int64_t)s, i1 = i0 + 1 < T - 1 ? i0 + 1 : T - 2;
    const float l1 = s - (float)i0, l0 = 1.0f - l1;
    out[e] = to_st(__fadd_rn(__fmul_rn(l0, ld(x[(1 + i0) * HW])), __fmul_rn(l1, ld(x[(1 + i1) * HW]))));
  }
}

void cuda_time_lerp2x(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, int64_t R, int64_t T, int64_t HW) {
  OPS_CHECK(T >= 1);
  LAUNCH_N(ctx, time_lerp2x_kernel, R * (2 * T - 1) * HW, st_ptr(out), st_ptr(src), R, T, HW);
}

/* ---- elementwise arithmetic ------------------------------------------------------------------ */

/* sigmoid(m) in double, rounded once (cpu: 1 / (1 + expf(-m))) */
static __device__ float sigmoid_f(float m) { return 1.0f / (1.0f + (float)exp(-(double)m)); }

/* One thread per element: out = alpha a + (1 - alpha) b (out may alias a or b). */
static __global__ void mix_kernel(st_t *out, const st_t *a, const st_t *b, const st_t *__restrict__ m, int64_t n,
                                  int flip) {
  const float s = sigmoid_f(ld(m[0])), alpha = flip ? 1.0f - s : s, beta = 1.0f - alpha;
  GRID_LOOP(i, n) out[i] = to_st(__fadd_rn(__fmul_rn(alpha, ld(a[i])), __fmul_rn(beta, ld(b[i]))));
}

void cuda_mix(const cuda_ctx *ctx, ditc_st *out, const ditc_st *a, const ditc_st *b, const ditc_st *m, int64_t n,
              int64_t flip) {
  LAUNCH_N(ctx, mix_kernel, n, st_ptr(out), st_ptr(a), st_ptr(b), st_ptr(m), n, (int)flip);
}

/* One thread per element of src [N, C, S]: out = src * a[c] + b[c] (out may alias src). */
static __global__ void channel_affine_kernel(st_t *out, const st_t *src, const st_t *__restrict__ a,
                                             const st_t *__restrict__ b, int64_t C, int64_t S, int64_t n) {
  GRID_LOOP(i, n) {
    const int64_t c = i / S % C;
    out[i] = to_st(__fadd_rn(__fmul_rn(ld(src[i]), ld(a[c])), ld(b[c])));
  }
}

void cuda_channel_affine(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, const ditc_st *a, const ditc_st *b,
                         int64_t N, int64_t C, int64_t S) {
  LAUNCH_N(ctx, channel_affine_kernel, N * C * S, st_ptr(out), st_ptr(src), st_ptr(a), st_ptr(b), C, S, N * C * S);
}

/* One thread per element: out = src / k or src * k (out may alias src). */
static __global__ void scale_kernel(st_t *out, const st_t *src, int64_t n, float k, int divide) {
  GRID_LOOP(i, n) out[i] = to_st(divide ? __fdiv_rn(ld(src[i]), k) : __fmul_rn(ld(src[i]), k));
}

void cuda_scale(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, int64_t n, float k, int64_t divide) {
  LAUNCH_N(ctx, scale_kernel, n, st_ptr(out), st_ptr(src), n, k, (int)divide);
}

/* One thread per blended element of b, in place: axis 0 the first e rows, axis 1 the first e
 * columns, weights (float)(1 - y/e) and (float)(y/e) from doubles. */
static __global__ void tile_blend_kernel(st_t *b, const st_t *__restrict__ a, int64_t R, int64_t Ha, int64_t Wa,
                                         int64_t Hb, int64_t Wb, int64_t e, int64_t other, int axis) {
  GRID_LOOP(i, R * e * other) {
    const int64_t r = i / (e * other), u = axis ? i % e : i / other % e, v = axis ? i / e % other : i % other;
    const int64_t y = axis ? v : u, x = axis ? u : v; /* u < e along the axis, v < other across it */
    const int64_t ai = axis ? (r * Ha + y) * Wa + Wa - e + x : (r * Ha + Ha - e + y) * Wa + x;
    const double l = (double)u / (double)e;
    st_t *bi = b + (r * Hb + y) * Wb + x;
    *bi = to_st(__fadd_rn(__fmul_rn(ld(a[ai]), (float)(1.0 - l)), __fmul_rn(ld(*bi), (float)l)));
  }
}

void cuda_tile_blend(const cuda_ctx *ctx, ditc_st *b, const ditc_st *a, int64_t R, int64_t Ha, int64_t Wa, int64_t Hb,
                     int64_t Wb, int64_t E, int64_t axis) {
  const int64_t na = axis ? Wa : Ha, nb = axis ? Wb : Hb, oa = axis ? Ha : Wa, ob = axis ? Hb : Wb;
  const int64_t e = na < nb ? (na < E ? na : E) : (nb < E ? nb : E), other = oa < ob ? oa : ob;
  if (e <= 0 || other <= 0) return;
  LAUNCH_N(ctx, tile_blend_kernel, R * e * other, st_ptr(b), st_ptr(a), R, Ha, Wa, Hb, Wb, e, other, (int)axis);
}

/* ---- to and from the io buffers ------------------------------------------------------------------ */

/* One thread per pixel (n, t, p) of src [N, C, T, HW]: its C values into out[n, t, p, :] as uint8,
 * in the contract's float operation order (no fused multiply-add). NaN clamps to the low end. */
static __global__ void to_u8_kernel(uint8_t *__restrict__ out, const st_t *__restrict__ src, int64_t N, int64_t C,
                                    int64_t T, int64_t HW, int mode) {
  GRID_LOOP(i, N * T * HW) {
    const int64_t p = i % HW, t = i / HW % T, n = i / (HW * T);
    for (int64_t c = 0; c < C; c++) {
      const float x = ld(src[((n * C + c) * T + t) * HW + p]);
      float u;
      if (mode == 0) {
        const float v = __fdiv_rn(__fadd_rn(fminf(fmaxf(x, -1.0f), 1.0f), 1.0f), 2.0f);
        u = fminf(fmaxf(__fadd_rn(__fmul_rn(v, 255.0f), 0.5f), 0.0f), 255.0f);
      } else {
        u = __fmul_rn(fminf(fmaxf(__fadd_rn(__fdiv_rn(x, 2.0f), 0.5f), 0.0f), 1.0f), 255.0f);
      }
      out[i * C + c] = (uint8_t)(int)u; /* u in [0, 255]: truncation */
    }
  }
}

void cuda_to_u8(const cuda_ctx *ctx, uint8_t *out, const ditc_st *src, int64_t N, int64_t C, int64_t T, int64_t HW,
                int64_t mode) {
  LAUNCH_N(ctx, to_u8_kernel, N * T * HW, out, st_ptr(src), N, C, T, HW, (int)mode);
}

/* One thread per element: the fp32 latent into storage, round to nearest even. */
static __global__ void from_f32_kernel(st_t *__restrict__ out, const float *__restrict__ src, int64_t n) {
  GRID_LOOP(i, n) out[i] = to_st(src[i]);
}

void cuda_from_f32(const cuda_ctx *ctx, ditc_st *out, const float *src, int64_t n) {
  LAUNCH_N(ctx, from_f32_kernel, n, st_ptr(out), src, n);
}

void cuda_progress(const ditc_exec *ex, int64_t stage, int64_t i, int64_t n) {
  if (!ex->progress) return;
  CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)((const cuda_ctx *)ex->backend)->stream));
  ex->progress(ex->progress_ctx, (int)stage, i, n);
}
