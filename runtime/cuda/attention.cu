/* cuda/attention.cu: the attention ops of cuda/ops.h: self-attention over strided token sequences
 * (cuda_attention) and cross-attention to per-sample text keys (cuda_cross_attention), softmax in
 * fp32. In 16-bit storage a flash-style tensor-core kernel (nvcuda::wmma 16x16x16 fragments, fp32
 * accumulators, online softmax, probabilities rounded to storage before P.V); in fp32 storage a
 * tiled fp32 kernel that matches the CPU reference up to rounding. The naive versions (one thread
 * per query and head, unfused roundings) are the reference of the op tests, not for the forward.
 * Not here: the projections around attention (cuda/linear.cu), qk-norm and RoPE (cuda/block.cu). */
#include <math.h>
#include <mma.h>
#include <string.h>

#include "cuda/common.cuh"

/* ---- arguments --------------------------------------------------------------------------- */

/* Sequence s = (o, i) with o = s / inner, i = s % inner; its query token j is row q_outer*o +
 * inner_stride*i + tok_stride*j of q (rows q_ld elements apart) and of out (rows C = H*D elements
 * apart), its key/value token j is row kv_outer*o + inner_stride*i + tok_stride*j of k and v
 * (rows kv_ld elements apart). Head h is at column h*D of every row. */
typedef struct {
  st_t *out;
  const st_t *q, *k, *v;
  int64_t q_ld, kv_ld, q_outer, kv_outer, inner_stride, tok_stride;
  int inner, nq, nk;   /* queries and keys per sequence */
  const int32_t *lens; /* [nseq] keys per sequence instead of nk, or NULL */
  int H, D;
  float scale;
} attn_args;

/* The first query row and the first key/value row of sequence s. */
static __device__ void seq_rows(const attn_args &a, int64_t s, int64_t *qbase, int64_t *kbase) {
  const int64_t o = s / a.inner, in = s % a.inner;
  *qbase = o * a.q_outer + in * a.inner_stride;
  *kbase = o * a.kv_outer + in * a.inner_stride;
}

/* The keys of sequence s: lens[s] clamped to [0, nk] (a bad count never reads past the sequence's
 * nk key rows, as cpu_cross_attention), or nk. */
static __device__ int seq_keys(const attn_args &a, int64_t s) {
  return a.lens ? min(max(a.lens[s], 0), a.nk) : a.nk;
}

#if DITC_STORAGE == DITC_STORAGE_F32
/* ---- fp32 storage: tiled fp32 kernel ----------------------------------------------------- */

static __device__ float warp_max(float v) {
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
  return v;
}

static __device__ float warp_sum(float v) {
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

enum { ATT_BQ = 32, ATT_BK = 32, ATT_WARPS = 4, ATT_QW = ATT_BQ / ATT_WARPS }; /* QW queries per warp */

static __device__ float f4_at(float4 v, int i) { return i == 0 ? v.x : i == 1 ? v.y : i == 2 ? v.z : v.w; }

/* grid (sequence, query tile of ATT_BQ, head), ATT_WARPS warps; warp w owns queries w*QW ..
 * w*QW + QW-1 of the tile. Shared: Q [BQ, D4], K [BK, kst], V [BK, D4], P [WARPS, QW, BK], with
 * D4 = D rounded up to 4. Per key tile: lane j scores key j against the warp's QW queries, the
 * warp updates each query's running max m and (per-lane partial) sum l, and lane j accumulates
 * head dims j + 32c (c < DC) of o = sum p * v. Online softmax in fp32; D <= 32*DC. */
template <int DC>
static __global__ void __launch_bounds__(ATT_WARPS * 32) attention_kernel(attn_args a, int D4, int kst) {
  extern __shared__ float4 smem4[];
  float *qs = (float *)smem4, *ks = qs + ATT_BQ * D4, *vs = ks + ATT_BK * kst, *ps = vs + ATT_BK * D4;
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, h = blockIdx.z, i0 = blockIdx.y * ATT_BQ;
  const int64_t s = blockIdx.x;
  int64_t qbase, kbase;
  seq_rows(a, s, &qbase, &kbase);
  const int nk = seq_keys(a, s), D = a.D, col = h * D;

  for (int r = warp; r < ATT_BQ; r += ATT_WARPS) /* Q tile, zero past nq and D */
    for (int d = lane; d < D4; d += 32)
      qs[r * D4 + d] = i0 + r < a.nq && d < D ? ld(a.q[(qbase + (i0 + r) * a.tok_stride) * a.q_ld + col + d]) : 0.0f;

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
        ks[r * kst + d] = ok && d < D ? ld(a.k[row + d]) : 0.0f;
        vs[r * D4 + d] = ok && d < D ? ld(a.v[row + d]) : 0.0f;
      }
    }
    __syncthreads();

    float sc[ATT_QW] = {}; /* scores of key j0 + lane */
    const float *kr = ks + lane * kst;
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
    st_t *orow = a.out + (qbase + (int64_t)i * a.tok_stride) * (a.H * D) + col;
#pragma unroll
    for (int c = 0; c < DC; c++)
      if (lane + 32 * c < D) orow[lane + 32 * c] = to_st(acc[qi][c] * inv);
  }
}

/* Launches attention_kernel over nseq sequences of a.nq queries. */
static void attention_launch(const cuda_ctx *ctx, attn_args a, int64_t nseq) {
  if (nseq <= 0 || a.nq <= 0 || a.H <= 0) return;
  OPS_CHECK(a.D >= 1 && a.D <= 128 && a.inner >= 1);
  const int64_t qtiles = (a.nq + ATT_BQ - 1) / ATT_BQ;
  OPS_CHECK(qtiles <= 65535 && a.H <= 65535 && nseq <= 0x7fffffff);
  const int D4 = (a.D + 3) / 4 * 4;
  const int kst = (D4 / 4) % 2 ? D4 : D4 + 4; /* odd number of float4s per row: no bank conflicts */
  const size_t smem = (size_t)(ATT_BQ * D4 + ATT_BK * kst + ATT_BK * D4 + ATT_WARPS * ATT_QW * ATT_BK) * 4;
  const dim3 grid((unsigned)nseq, (unsigned)qtiles, (unsigned)a.H);
  const int dc = (a.D + 31) / 32; /* head-dim chunks of 32 each lane accumulates */
  void (*attention_kernel_dc)(attn_args, int, int) = dc == 1   ? attention_kernel<1>
                                                     : dc == 2 ? attention_kernel<2>
                                                     : dc == 3 ? attention_kernel<3>
                                                               : attention_kernel<4>;
  if (smem > 48 * 1024) /* above the default limit of dynamic shared memory */
    CUDA_CHECK(cudaFuncSetAttribute(attention_kernel_dc, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
  LAUNCH(attention_kernel_dc, grid, ATT_WARPS * 32, smem, stream_of(ctx), a, D4, kst);
}

#else
/* ---- 16-bit storage: tensor-core kernel -------------------------------------------------- */

namespace wmma = nvcuda::wmma;

/* Warps per block (16 queries each), keys per tile, 16-column blocks of a head dim D <= 128. */
enum { MMA_WARPS = 4, MMA_BK = 64, MMA_DB = 8 };

typedef wmma::fragment<wmma::matrix_a, 16, 16, 16, st_t, wmma::row_major> frag_a;  /* Q, P */
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, st_t, wmma::col_major> frag_kt; /* K^T */
typedef wmma::fragment<wmma::matrix_b, 16, 16, 16, st_t, wmma::row_major> frag_v;  /* V */
typedef wmma::fragment<wmma::accumulator, 16, 16, 16, float> frag_acc;             /* S, O */

/* The tiling attention_launch picks. Row strides keep every 16-row fragment 32-byte aligned and
 * are an odd number of 16-byte units (no bank conflicts between the 8 rows of a fragment load). */
typedef struct {
  int dp;       /* D rounded up to 16: tiles hold zeros in columns D..dp-1 */
  int bk;       /* keys per tile: 16, 32, 48 or 64 */
  int qtiles;   /* query tiles of 16 * warps rows per sequence */
  int ldh, ldw; /* row strides of the K, V (and Q) tiles: dp + 8; of a warp's fp32 scratch: max(bk, dp) + 4 */
  int ldp;      /* row stride of a warp's P tile: bk + 8 */
  int vec;      /* pointers, ld and D allow 16-byte (8-element) copies of every row */
} mma_tiles;

/* Shared dst [nr, ldh] <- rows r < nv of global src (row r at src + r*step, D elements), zeros in
 * rows nv..nr-1 and columns D..dp-1. Thread id of nt copies every nt-th piece: 8 elements (one
 * 16-byte load) when vec, else one. */
static __device__ void load_rows(st_t *dst, int ldh, int nr, int nv, const st_t *src, int64_t step, int D, int dp,
                                 bool vec, int id, int nt) {
  if (vec) {
    const int nc = dp / 8; /* D % 8 == 0: a piece is all in or all past D */
    for (int e = id; e < nr * nc; e += nt) {
      const int r = e / nc, c = e % nc * 8;
      uint4 x = make_uint4(0, 0, 0, 0);
      if (r < nv && c < D) x = *(const uint4 *)(src + r * step + c);
      *(uint4 *)(dst + r * ldh + c) = x;
    }
  } else {
    for (int e = id; e < nr * dp; e += nt) {
      const int r = e / dp, c = e % dp;
      dst[r * ldh + c] = r < nv && c < D ? src[r * step + c] : to_st(0.0f);
    }
  }
}

/* Two fp32 values rounded to storage, as the 32 bits of two consecutive elements. */
static __device__ uint32_t pack2(float lo, float hi) {
  const st_t t[2] = {to_st(lo), to_st(hi)};
  uint32_t u;
  memcpy(&u, t, sizeof u);
  return u;
}

/* Global rows r < nr of dst (row r at dst + r*step, D elements) <- a warp's fp32 scratch src
 * [16, ldw], rounded to storage; lane of the warp stores every 32nd piece. */
static __device__ void store_rows(st_t *dst, int64_t step, const float *src, int ldw, int nr, int D, bool vec,
                                  int lane) {
  if (vec) {
    const int nc = D / 8;
    for (int e = lane; e < nr * nc; e += 32) {
      const int r = e / nc, c = e % nc * 8;
      const float4 x = *(const float4 *)(src + r * ldw + c), y = *(const float4 *)(src + r * ldw + c + 4);
      *(uint4 *)(dst + r * step + c) = make_uint4(pack2(x.x, x.y), pack2(x.z, x.w), pack2(y.x, y.y), pack2(y.z, y.w));
    }
  } else {
    for (int e = lane; e < nr * D; e += 32) {
      const int r = e / D, c = e % D;
      dst[r * step + c] = to_st(src[r * ldw + c]);
    }
  }
}

/* DB: fragments held per head dim (ndb = dp/16 <= DB of them used), a template parameter so the
 * registers match the head dim (64: 4, 72: 5, 96: 6, up to 128: 8).
 * grid (query tile + qtiles * sequence, head), blockDim.x / 32 warps; warp w owns the 16 queries
 * i0 .. i0+15 of its tile and keeps their Q (dp/16 fragments) and O (dp/16 fp32 accumulator
 * fragments) in registers. Shared: K, V [bk, ldh] (the block's key tile), then per warp a scratch
 * [16, ldw] fp32 (Q on the way to registers, then S, and O whenever its rows are rescaled or
 * stored) and P [16, ldp]. Per key tile: S = Q K^T (fragments), online softmax of S * scale in
 * fp32 by lane pairs (lanes 2r, 2r+1 own row r: running max m, partial sums l), P = exp(...)
 * rounded to storage, O rows rescaled by exp(m_old - m_new) through the scratch when some row's
 * max grew, O += P V (fragments). Keys past nk score -inf (p = 0); K, V rows past them are zero. */
template <int DB>
static __global__ void __launch_bounds__(MMA_WARPS * 32) attention_mma_kernel(attn_args a, mma_tiles t) {
  extern __shared__ __align__(128) unsigned char smem[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, h = blockIdx.y, ndb = t.dp / 16;
  const int64_t s = blockIdx.x / t.qtiles;
  const int i0 = (int)(blockIdx.x % t.qtiles) * (int)(blockDim.x / 2) + warp * 16; /* 16 * warps per tile */
  int64_t qbase, kbase;
  seq_rows(a, s, &qbase, &kbase);
  const int nk = seq_keys(a, s), D = a.D, col = h * D, r = lane >> 1, hf = lane & 1;
  st_t *ks = (st_t *)smem, *vs = ks + t.bk * t.ldh;                        /* K, V [bk, ldh] */
  float *sw = (float *)(vs + t.bk * t.ldh) + warp * 16 * (t.ldw + t.ldp / 2); /* scratch [16, ldw] */
  st_t *pw = (st_t *)(sw + 16 * t.ldw);                                       /* P [16, ldp] */
  const bool active = i0 < a.nq; /* warp-uniform: the warp has queries to compute */
  const float sl2 = a.scale * 1.4426950408889634f; /* softmax in base 2: exp(x) = exp2(x log2 e) */

  frag_a qf[DB];
  frag_acc of[DB];
  float m = -INFINITY, l = 0.0f; /* row r: running max (of S * sl2), this lane's part of the sum */
  if (active) {
    st_t *qs = (st_t *)sw; /* Q [16, ldh] */
    load_rows(qs, t.ldh, 16, min(16, a.nq - i0), a.q + (qbase + (int64_t)i0 * a.tok_stride) * a.q_ld + col,
              a.tok_stride * a.q_ld, D, t.dp, t.vec, lane, 32);
    __syncwarp();
#pragma unroll
    for (int c = 0; c < DB; c++)
      if (c < ndb) {
        wmma::load_matrix_sync(qf[c], qs + c * 16, t.ldh);
        wmma::fill_fragment(of[c], 0.0f);
      }
  }

  for (int j0 = 0; j0 < nk; j0 += t.bk) {
    const int nv = min(t.bk, nk - j0), nr = (nv + 15) / 16 * 16; /* valid keys, key rows computed */
    const int64_t krow = (kbase + (int64_t)j0 * a.tok_stride) * a.kv_ld + col, kstep = a.tok_stride * a.kv_ld;
    __syncthreads(); /* every warp is done with the previous K, V tile */
    load_rows(ks, t.ldh, nr, nv, a.k + krow, kstep, D, t.dp, t.vec, threadIdx.x, blockDim.x);
    load_rows(vs, t.ldh, nr, nv, a.v + krow, kstep, D, t.dp, t.vec, threadIdx.x, blockDim.x);
    __syncthreads();
    if (!active) continue;

    for (int n = 0; n < nr / 16; n++) { /* S [16, nr] = Q K^T into the scratch */
      frag_acc sf;
      wmma::fill_fragment(sf, 0.0f);
#pragma unroll
      for (int c = 0; c < DB; c++)
        if (c < ndb) {
          frag_kt kf;
          wmma::load_matrix_sync(kf, ks + n * 16 * t.ldh + c * 16, t.ldh);
          wmma::mma_sync(sf, qf[c], kf, sf);
        }
      wmma::store_matrix_sync(sw + n * 16, sf, t.ldw, wmma::mem_row_major);
    }
    __syncwarp();

    const float *srow = sw + r * t.ldw; /* online softmax of row r; this lane: columns hf, hf+2, ... */
    float mx = -INFINITY;
    for (int c = hf; c < nv; c += 2) mx = fmaxf(mx, srow[c] * sl2);
    const float mn = fmaxf(m, fmaxf(mx, __shfl_xor_sync(0xffffffffu, mx, 1))); /* finite: key j0 is valid */
    const float corr = exp2f(m - mn);
    float ps = 0.0f;
    for (int c = hf; c < nr; c += 2) {
      const st_t p = to_st(c < nv ? exp2f(srow[c] * sl2 - mn) : 0.0f);
      pw[r * t.ldp + c] = p;
      ps += ld(p); /* the sum of the rounded p that P V uses */
    }
    m = mn;
    l = l * corr + ps;
    if (__any_sync(0xffffffffu, corr != 1.0f)) { /* some row's max grew: O rows *= corr */
      __syncwarp(); /* S is read */
#pragma unroll
      for (int c = 0; c < DB; c++)
        if (c < ndb) wmma::store_matrix_sync(sw + c * 16, of[c], t.ldw, wmma::mem_row_major);
      __syncwarp();
      for (int c = hf; c < t.dp; c += 2) sw[r * t.ldw + c] *= corr;
      __syncwarp();
#pragma unroll
      for (int c = 0; c < DB; c++)
        if (c < ndb) wmma::load_matrix_sync(of[c], sw + c * 16, t.ldw, wmma::mem_row_major);
    }
    __syncwarp(); /* P is stored */

    for (int n = 0; n < nr / 16; n++) { /* O += P V */
      frag_a pf;
      wmma::load_matrix_sync(pf, pw + n * 16, t.ldp);
#pragma unroll
      for (int c = 0; c < DB; c++)
        if (c < ndb) {
          frag_v vf;
          wmma::load_matrix_sync(vf, vs + n * 16 * t.ldh + c * 16, t.ldh);
          wmma::mma_sync(of[c], pf, vf, of[c]);
        }
    }
  }
  if (!active) return;

  __syncwarp(); /* the scratch and P are read */
#pragma unroll
  for (int c = 0; c < DB; c++)
    if (c < ndb) wmma::store_matrix_sync(sw + c * 16, of[c], t.ldw, wmma::mem_row_major);
  __syncwarp();
  const float sum = l + __shfl_xor_sync(0xffffffffu, l, 1), inv = sum > 0.0f ? 1.0f / sum : 0.0f; /* no keys: 0 */
  for (int c = hf; c < D; c += 2) sw[r * t.ldw + c] *= inv;
  __syncwarp();
  store_rows(a.out + (qbase + (int64_t)i0 * a.tok_stride) * (a.H * D) + col, a.tok_stride * (a.H * D), sw, t.ldw,
             min(16, a.nq - i0), D, t.vec, lane);
}

static bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* Launches attention_mma_kernel over nseq sequences of a.nq queries. Query tiles of 16 * warps
 * rows with warps = ceil(nq / 16) up to 4 (a temporal sequence of 13..60 tokens gets one tile
 * of 1..4 warps), key tiles of nk rounded up to 16, up to 64. */
static void attention_launch(const cuda_ctx *ctx, attn_args a, int64_t nseq) {
  if (nseq <= 0 || a.nq <= 0 || a.H <= 0) return;
  OPS_CHECK(a.D >= 1 && a.D <= 16 * MMA_DB && a.inner >= 1 && a.nk >= 0);
  const int warps = a.nq >= 16 * MMA_WARPS ? MMA_WARPS : (a.nq + 15) / 16;
  const int dp = (a.D + 15) / 16 * 16, bk = a.nk >= MMA_BK ? MMA_BK : a.nk > 16 ? (a.nk + 15) / 16 * 16 : 16;
  const int vec = a.D % 8 == 0 && a.q_ld % 8 == 0 && a.kv_ld % 8 == 0 && aligned16(a.q) && aligned16(a.k) &&
                  aligned16(a.v) && aligned16(a.out);
  const mma_tiles t = {dp, bk, (a.nq + 16 * warps - 1) / (16 * warps), dp + 8, (bk > dp ? bk : dp) + 4, bk + 8, vec};
  OPS_CHECK(nseq * t.qtiles <= 0x7fffffff && a.H <= 65535);
  const size_t smem = (size_t)2 * t.bk * t.ldh * sizeof(st_t) +
                      (size_t)warps * 16 * (t.ldw * sizeof(float) + t.ldp * sizeof(st_t));
  const int ndb = t.dp / 16;
  void (*kernel)(attn_args, mma_tiles) = ndb <= 4   ? attention_mma_kernel<4>
                                         : ndb == 5 ? attention_mma_kernel<5>
                                         : ndb == 6 ? attention_mma_kernel<6>
                                                    : attention_mma_kernel<MMA_DB>;
  if (smem > 48 * 1024) /* above the default limit of dynamic shared memory */
    CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)smem));
  const dim3 grid((unsigned)(nseq * t.qtiles), (unsigned)a.H);
  LAUNCH(kernel, grid, warps * 32, smem, stream_of(ctx), a, t);
}
#endif

/* ---- naive reference --------------------------------------------------------------------- */

/* Score of query row q against key row k, rounded to storage as an unfused matmul stores it. */
static __device__ float naive_score(const st_t *q, const st_t *k, int D, float scale) {
  float s = 0.0f;
  for (int d = 0; d < D; d++) s += ld(q[d]) * ld(k[d]);
  return ld(to_st(s * scale));
}

/* One thread per (sequence, query, head), e = (s * nq + i) * H + h: the scores and the
 * probabilities rounded to storage (as unfused ops store them), softmax and P V in fp32, the
 * output rounded once; no keys: zeros. Passes: max, sum, weighted sum of V. */
static __global__ void attention_naive_kernel(attn_args a, int64_t n) {
  GRID_LOOP(e, n) {
    const int h = (int)(e % a.H), i = (int)(e / a.H % a.nq), D = a.D;
    const int64_t s = e / a.H / a.nq, kstep = a.tok_stride * a.kv_ld;
    int64_t qbase, kbase;
    seq_rows(a, s, &qbase, &kbase);
    const int nk = seq_keys(a, s);
    const int64_t qrow = qbase + (int64_t)i * a.tok_stride;
    const st_t *q = a.q + qrow * a.q_ld + h * D;
    const st_t *k = a.k + kbase * a.kv_ld + h * D, *v = a.v + kbase * a.kv_ld + h * D; /* key/value 0 */
    float mx = -INFINITY, sum = 0.0f, acc[128] = {}; /* acc [D] */
    for (int j = 0; j < nk; j++) mx = fmaxf(mx, naive_score(q, k + j * kstep, D, a.scale));
    for (int j = 0; j < nk; j++) sum += expf(naive_score(q, k + j * kstep, D, a.scale) - mx);
    for (int j = 0; j < nk; j++) {
      const float p = ld(to_st(expf(naive_score(q, k + j * kstep, D, a.scale) - mx) / sum));
      for (int d = 0; d < D; d++) acc[d] += p * ld(v[j * kstep + d]);
    }
    st_t *o = a.out + qrow * (a.H * D) + h * D;
    for (int d = 0; d < D; d++) o[d] = to_st(acc[d]);
  }
}

static void attention_naive_launch(const cuda_ctx *ctx, attn_args a, int64_t nseq) {
  OPS_CHECK(a.D >= 1 && a.D <= 128 && a.inner >= 1);
  const int64_t n = nseq * a.nq * a.H;
  LAUNCH_N(ctx, attention_naive_kernel, n, a, n);
}

/* ---- entries --------------------------------------------------------------------------- */

/* The sequences of cuda_attention: q, k, v rows ld elements apart, nq = nk = len. */
static attn_args self_args(ditc_st *out, const ditc_st *q, const ditc_st *k, const ditc_st *v, int64_t ld, int inner,
                           int64_t outer_stride, int64_t inner_stride, int64_t tok_stride, int len, int H, int D,
                           float scale) {
  const attn_args a = {st_ptr(out), st_ptr(q), st_ptr(k), st_ptr(v), ld, ld, outer_stride, outer_stride,
                       inner_stride, tok_stride, inner, len, len, NULL, H, D, scale};
  return a;
}

/* Those of cuda_cross_attention: sequence b has queries rows b*N + j of q [B*N, C] and keys rows
 * b*L + j of k, v [B*L, ld], the first lens[b] of them valid. */
static attn_args cross_args(ditc_st *out, const ditc_st *q, const ditc_st *k, const ditc_st *v, int64_t ld,
                            const int32_t *lens, int N, int L, int H, int D, float scale) {
  const attn_args a = {st_ptr(out), st_ptr(q), st_ptr(k), st_ptr(v), (int64_t)H * D, ld, N, L, 0, 1, 1, N, L,
                       lens, H, D, scale};
  return a;
}

void cuda_attention(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k, const ditc_st *v,
                    int64_t ld, int nseq, int inner, int64_t outer_stride, int64_t inner_stride, int64_t tok_stride,
                    int len, int H, int D, float scale) {
  attention_launch(ctx, self_args(out, q, k, v, ld, inner, outer_stride, inner_stride, tok_stride, len, H, D, scale),
                   (int64_t)nseq * inner);
}

void cuda_cross_attention(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k, const ditc_st *v,
                          int64_t ld, const int32_t *lens, int B, int N, int L, int H, int D, float scale) {
  attention_launch(ctx, cross_args(out, q, k, v, ld, lens, N, L, H, D, scale), B);
}

void cuda_attention_naive(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k, const ditc_st *v,
                          int64_t ld, int nseq, int inner, int64_t outer_stride, int64_t inner_stride,
                          int64_t tok_stride, int len, int H, int D, float scale) {
  attention_naive_launch(
      ctx, self_args(out, q, k, v, ld, inner, outer_stride, inner_stride, tok_stride, len, H, D, scale),
      (int64_t)nseq * inner);
}

void cuda_cross_attention_naive(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k,
                                const ditc_st *v, int64_t ld, const int32_t *lens, int B, int N, int L, int H, int D,
                                float scale) {
  attention_naive_launch(ctx, cross_args(out, q, k, v, ld, lens, N, L, H, D, scale), B);
}
