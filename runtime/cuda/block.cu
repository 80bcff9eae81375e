/* cuda/block.cu: the CUDA ops of cuda/ops.h inside a DiT block, the memory-bound chains around
 * the GEMMs and attention: LayerNorm + modulate (alone, or fused behind the residual that
 * precedes it: gate + residual, the cross-attention residual, a PAB reuse), qk RMSNorm (+ RoPE in
 * the same pass), RoPE, gate + residual (writing the PAB cache in the same pass on COMPUTE+WRITE
 * steps; a REUSE step adds the cache with residual_store), and the resharding copies of sequence
 * parallelism. Activations are storage elements (ld()/to_st(), fp32 math); rows move in 16-byte
 * vectors (VEC elements, cuda/common.cuh) when their length and alignment allow, else one element
 * at a time; index math is 32-bit, with at most a division per row or per vector. Row statistics
 * are fp32 (two passes over a row held in registers); products the CPU rounds are __fmul_rn, so
 * fp32 storage follows cpu/ops.c up to the statistics' summation order. Not here: GEMMs
 * (cuda/linear.cu), attention (cuda/attention.cu). */
#include <limits.h>
#include <math.h>

#include "cuda/common.cuh"

/* ---- reductions ------------------------------------------------------------------------------ */

/* Sum over the aligned groups of G lanes of a warp (G a power of two, every lane of the warp
 * calling); each lane gets its group's sum. */
static __device__ __forceinline__ float group_sum(float v, int G) {
  for (int o = G / 2; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

/* ---- LayerNorm + modulate, and the residual in front of it ---------------------------------- */

/* Bytes per element of x [B, R, C] (E: the storage element, 2 in bf16), from DRAM at best; the
 * rows of t and the tables are C elements each, read once per row and kept in cache:
 *   ln_modulate                   read x, write out                        2E
 *   gate_residual (+ cache)       read x, src, write x (+ store)           3E (4E)
 *   residual_store (+ cache)      read x, src, write x (+ store)           3E (4E)
 *   pair gate_residual, ln_mod.   unfused 5E (6E)  ->  gate_residual_ln_modulate  4E (5E)
 *   pair residual_store, ln_mod.  unfused 5E (6E)  ->  residual_ln_modulate       4E (5E)
 *   pair pab reuse, ln_modulate   unfused 5E       ->  residual_ln_modulate       4E
 * The fused ops save the LayerNorm's read of x (the row is still in registers). The unfused
 * ln_modulate before this file's rewrite read each row three times (L1/L2 hits past the first):
 * same DRAM bytes, three times the load instructions, one 256-thread block per row. */

/* What precedes the LayerNorm of a row:
 *   RES_NONE: nothing (ln_modulate; x is only read);
 *   RES_ADD:  store = src; x += src (the cross-attention residual; a PAB reuse adds its cache);
 *   RES_GATE: g = (gtable[chunk] + gt[b, chunk]) * src rounded to storage; store = g; x += g. */
enum { RES_NONE, RES_ADD, RES_GATE };

/* The operands of the row ops (no __restrict__: in-place callers may alias x, src and store). */
struct row_args {
  st_t *x;                 /* [B, R, C] */
  const st_t *src;         /* [B, R, C] */
  st_t *store;             /* [B, R, C] or NULL: the PAB cache slot */
  const st_t *gt, *gtable; /* gate: t [B, nchunk, C], table [nchunk, C] */
  int chunk, nchunk;
  st_t *out;               /* [B, R, C]: LN(x) * (1 + scale) + shift */
  const st_t *t, *table;   /* modulation: t [B, t_stride], table [rows, C] */
  int t_stride, t_shift, t_scale, shift, scale;
  int rows, R, C; /* rows = B * R */
  float eps;
};

enum { ROW_CAP = 40 }; /* fp32 values of its row a lane keeps in registers: C up to 32 * 40 = 1280 */

/* The residual MODE on the V elements at column c of the row at element offset off (sample b):
 * xv = the new x as stored (rounded to storage), written back (and the cache) unless RES_NONE. */
template <int V, int MODE>
static __device__ __forceinline__ void row_residual(float (&xv)[V], const row_args &a, int64_t off, int b, int c) {
  ld_st<V>(xv, a.x + off);
  if constexpr (MODE != RES_NONE) {
    float s[V];
    ld_st<V>(s, a.src + off);
    if constexpr (MODE == RES_GATE) {
      float gw[V], gt[V];
      ld_st<V>(gw, a.gtable + (int64_t)a.chunk * a.C + c);
      ld_st<V>(gt, a.gt + ((int64_t)b * a.nchunk + a.chunk) * a.C + c);
#pragma unroll
      for (int i = 0; i < V; i++) s[i] = ld(to_st(__fmul_rn(gw[i] + gt[i], s[i]))); /* g as stored */
    }
    if (a.store) st_st<V>(a.store + off, s); /* the cache holds what x adds, so a reuse adds the same */
#pragma unroll
    for (int i = 0; i < V; i++) xv[i] = ld(to_st(xv[i] + s[i]));
    st_st<V>(a.x + off, xv);
  }
}

/* out = (x - mean) * rstd * (1 + scale) + shift on the V elements at column c of a row (its
 * sample's t row tb); scale and shift: the table row plus the t row, added in fp32 as the CPU. */
template <int V>
static __device__ __forceinline__ void row_modulate(const row_args &a, const float (&xv)[V], float mean, float rstd,
                                                    const st_t *tb, int64_t base, int c) {
  float o[V], ws[V], ts[V], wc[V], tc[V];
  ld_st<V>(ws, a.table + a.shift * a.C + c);
  ld_st<V>(ts, tb + a.t_shift + c);
  ld_st<V>(wc, a.table + a.scale * a.C + c);
  ld_st<V>(tc, tb + a.t_scale + c);
#pragma unroll
  for (int i = 0; i < V; i++) o[i] = __fmul_rn((xv[i] - mean) * rstd, 1.0f + (wc[i] + tc[i])) + (ws[i] + ts[i]);
  st_st<V>(a.out + base + c, o);
}

/* One warp per row of x [B*R, C]: the residual MODE, mean and variance in fp32 over the row as
 * stored (held in registers, ROW_CAP values a lane; longer rows are read again), then out = (x -
 * mean) * rstd * (1 + scale) + shift. Lane l owns the vectors l, l + 32, ... of the row. */
template <int V, int MODE>
static __global__ void __launch_bounds__(BLOCK) row_ln_kernel(const row_args a) {
  constexpr int K = ROW_CAP / V; /* vectors kept in registers */
  const int lane = threadIdx.x & 31, C = a.C, nk = (C / V + 31) / 32;
  for (int row = blockIdx.x * (BLOCK / 32) + (threadIdx.x >> 5); row < a.rows; row += gridDim.x * (BLOCK / 32)) {
    const int b = row / a.R;
    const int64_t base = (int64_t)row * C;
    float xs[K][V], sum = 0.0f;
#pragma unroll
    for (int k = 0; k < K; k++) {
      const int c = (lane + 32 * k) * V;
      if (c < C) {
        row_residual<V, MODE>(xs[k], a, base + c, b, c);
#pragma unroll
        for (int i = 0; i < V; i++) sum += xs[k][i];
      }
    }
    for (int k = K; k < nk; k++) { /* past ROW_CAP: this lane's own stores are read back below */
      const int c = (lane + 32 * k) * V;
      float xv[V];
      if (c < C) {
        row_residual<V, MODE>(xv, a, base + c, b, c);
#pragma unroll
        for (int i = 0; i < V; i++) sum += xv[i];
      }
    }
    const float mean = group_sum(sum, 32) / C;
    float var = 0.0f;
#pragma unroll
    for (int k = 0; k < K; k++) {
      if ((lane + 32 * k) * V < C) {
#pragma unroll
        for (int i = 0; i < V; i++) var += (xs[k][i] - mean) * (xs[k][i] - mean);
      }
    }
    for (int k = K; k < nk; k++) {
      const int c = (lane + 32 * k) * V;
      float xv[V];
      if (c < C) {
        ld_st<V>(xv, a.x + base + c);
#pragma unroll
        for (int i = 0; i < V; i++) var += (xv[i] - mean) * (xv[i] - mean);
      }
    }
    const float rstd = 1.0f / sqrtf(group_sum(var, 32) / C + a.eps);
    const st_t *tb = a.t + (int64_t)b * a.t_stride;
#pragma unroll
    for (int k = 0; k < K; k++) {
      const int c = (lane + 32 * k) * V;
      if (c < C) row_modulate<V>(a, xs[k], mean, rstd, tb, base, c);
    }
    for (int k = K; k < nk; k++) {
      const int c = (lane + 32 * k) * V;
      float xv[V];
      if (c < C) {
        ld_st<V>(xv, a.x + base + c);
        row_modulate<V>(a, xv, mean, rstd, tb, base, c);
      }
    }
  }
}

/* a's pointers and offsets allow 16-byte vectors: every row and column block starts aligned. */
static bool row_vec_ok(const row_args &a) {
  return a.C % VEC == 0 && a.t_stride % VEC == 0 && a.t_shift % VEC == 0 && a.t_scale % VEC == 0 && vec_ok(a.x) &&
         vec_ok(a.src) && vec_ok(a.store) && vec_ok(a.gt) && vec_ok(a.gtable) && vec_ok(a.out) && vec_ok(a.t) &&
         vec_ok(a.table);
}

/* The row_args of B*R rows of C from the modulation arguments of cuda_ln_modulate. */
static row_args row_init(ditc_st *out, const ditc_st *t, int64_t t_stride, int64_t t_shift, int64_t t_scale,
                         const ditc_st *table, int shift, int scale, int B, int64_t R, int C, float eps) {
  OPS_CHECK((int64_t)B * R < (1 << 30) && C > 0 && t_stride < INT_MAX && t_shift < INT_MAX && t_scale < INT_MAX);
  row_args a = {};
  a.out = st_ptr(out), a.t = st_ptr(t), a.table = st_ptr(table);
  a.t_stride = (int)t_stride, a.t_shift = (int)t_shift, a.t_scale = (int)t_scale, a.shift = shift, a.scale = scale;
  a.rows = (int)((int64_t)B * R), a.R = (int)R, a.C = C, a.eps = eps;
  return a;
}

template <int MODE>
static void row_ln_launch(const cuda_ctx *ctx, const row_args &a) {
  if (a.rows <= 0) return;
  const int64_t blocks = ((int64_t)a.rows + BLOCK / 32 - 1) / (BLOCK / 32);
  const unsigned grid = (unsigned)(blocks < MAX_GRID ? blocks : MAX_GRID);
  if (row_vec_ok(a)) LAUNCH((row_ln_kernel<VEC, MODE>), grid, BLOCK, 0, stream_of(ctx), a);
  else LAUNCH((row_ln_kernel<1, MODE>), grid, BLOCK, 0, stream_of(ctx), a);
}

void cuda_ln_modulate(const cuda_ctx *ctx, ditc_st *out, const ditc_st *x, const ditc_st *t, int64_t t_stride,
                      int64_t t_shift, int64_t t_scale, const ditc_st *table, int shift, int scale, int B,
                      int64_t R, int C, float eps) {
  if ((int64_t)B * R <= 0 || C <= 0) return;
  row_args a = row_init(out, t, t_stride, t_shift, t_scale, table, shift, scale, B, R, C, eps);
  a.x = const_cast<st_t *>(st_ptr(x)); /* RES_NONE only reads it */
  row_ln_launch<RES_NONE>(ctx, a);
}

void cuda_gate_residual_ln_modulate(const cuda_ctx *ctx, ditc_st *x, const ditc_st *src, const ditc_st *t,
                                    const ditc_st *table, int chunk, int nchunk, ditc_st *store, ditc_st *out,
                                    const ditc_st *ln_t, int64_t t_stride, int64_t t_shift, int64_t t_scale,
                                    const ditc_st *ln_table, int shift, int scale, int B, int64_t R, int C,
                                    float eps) {
  if ((int64_t)B * R <= 0 || C <= 0) return;
  row_args a = row_init(out, ln_t, t_stride, t_shift, t_scale, ln_table, shift, scale, B, R, C, eps);
  a.x = st_ptr(x), a.src = st_ptr(src), a.store = st_ptr(store), a.gt = st_ptr(t), a.gtable = st_ptr(table);
  a.chunk = chunk, a.nchunk = nchunk;
  row_ln_launch<RES_GATE>(ctx, a);
}

void cuda_residual_ln_modulate(const cuda_ctx *ctx, ditc_st *x, const ditc_st *src, ditc_st *store, ditc_st *out,
                               const ditc_st *t, int64_t t_stride, int64_t t_shift, int64_t t_scale,
                               const ditc_st *table, int shift, int scale, int B, int64_t R, int C, float eps) {
  if ((int64_t)B * R <= 0 || C <= 0) return;
  row_args a = row_init(out, t, t_stride, t_shift, t_scale, table, shift, scale, B, R, C, eps);
  a.x = st_ptr(x), a.src = st_ptr(src), a.store = st_ptr(store);
  row_ln_launch<RES_ADD>(ctx, a);
}

/* ---- residuals alone ----------------------------------------------------------------------- */

/* One thread per vector of V elements of x [B*R, C] (C / V vectors a row; two 32-bit divisions
 * per vector): the gated residual (and the cache). */
template <int V>
static __global__ void gate_residual_kernel(const row_args a, unsigned n) {
  const unsigned nr = (unsigned)(a.C / V);
  for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < n; i += gridDim.x * blockDim.x) {
    const unsigned row = i / nr, c = (i - row * nr) * V;
    float xv[V];
    row_residual<V, RES_GATE>(xv, a, (int64_t)row * a.C + c, (int)(row / (unsigned)a.R), (int)c);
  }
}

void cuda_gate_residual(const cuda_ctx *ctx, ditc_st *x, const ditc_st *src, const ditc_st *t,
                        const ditc_st *table, int chunk, int nchunk, int B, int64_t R, int C, ditc_st *store) {
  const int64_t n = (int64_t)B * R * C;
  if (n <= 0) return;
  OPS_CHECK(n <= INT_MAX);
  row_args a = {};
  a.x = st_ptr(x), a.src = st_ptr(src), a.store = st_ptr(store), a.gt = st_ptr(t), a.gtable = st_ptr(table);
  a.chunk = chunk, a.nchunk = nchunk, a.rows = (int)((int64_t)B * R), a.R = (int)R, a.C = C;
  if (row_vec_ok(a)) LAUNCH(gate_residual_kernel<VEC>, grid_for(n / VEC), BLOCK, 0, stream_of(ctx), a, (unsigned)(n / VEC));
  else LAUNCH(gate_residual_kernel<1>, grid_for(n), BLOCK, 0, stream_of(ctx), a, (unsigned)n);
}

/* One thread per vector of V elements of the n = nv * V + tail elements: store = src (if store);
 * x += src; the tail (fewer than V elements) by the first threads, one element each. */
template <int V>
static __global__ void residual_store_kernel(const row_args a, unsigned nv, unsigned tail) {
  const unsigned i0 = blockIdx.x * blockDim.x + threadIdx.x;
  for (unsigned i = i0; i < nv; i += gridDim.x * blockDim.x) {
    float xv[V];
    row_residual<V, RES_ADD>(xv, a, (int64_t)i * V, 0, 0);
  }
  if (i0 < tail) {
    float xv[1];
    row_residual<1, RES_ADD>(xv, a, (int64_t)nv * V + i0, 0, 0);
  }
}

void cuda_residual_store(const cuda_ctx *ctx, ditc_st *x, const ditc_st *src, int64_t n, ditc_st *store) {
  if (n <= 0) return;
  OPS_CHECK(n <= INT_MAX);
  row_args a = {};
  a.x = st_ptr(x), a.src = st_ptr(src), a.store = st_ptr(store);
  if (vec_ok(a.x) && vec_ok(a.src) && vec_ok(a.store)) {
    const unsigned nv = (unsigned)(n / VEC), tail = (unsigned)(n % VEC);
    LAUNCH(residual_store_kernel<VEC>, grid_for(nv > 0 ? nv : 1), BLOCK, 0, stream_of(ctx), a, nv, tail);
  } else {
    LAUNCH(residual_store_kernel<1>, grid_for(n), BLOCK, 0, stream_of(ctx), a, (unsigned)n, 0u);
  }
}

/* ---- qk RMSNorm and RoPE ----------------------------------------------------------------------- */

enum { HEAD_MAX = 128 }; /* head dims of the qk kernels (a head is one group's registers) */

struct qk_args {
  st_t *q, *k;                /* rows of q and k [R, ld] (columns h*D .. h*D + D-1 of head h) */
  const st_t *wq, *wk;        /* [D] each, or NULL: no RMSNorm */
  const float *cos_t, *sin_t; /* [rows, D] each, or NULL: no RoPE */
  int ld, R, H, D, T, S, axis, half, G; /* G: lanes a head (a power of two) */
  float eps;
};

/* A group of G lanes per (row r, part q/k, head h) of q, k [R, ld] (32/G heads a warp); lane l of
 * the group holds the V-element vectors l, l + G, ... (NPL of them) of the head. RMSNorm: sum of
 * squares in fp32 over the group, v = w[d] * (v * inv), rounded to storage as the unfused op
 * stores it. RoPE: the head goes to a per-warp copy in shared memory, and each element is
 * rotated with its pair partner: interleaved (2p, 2p+1) when half == 0, else split-half (i, i +
 * half) inside sections of 2*half (NeoX; 2-D RoPE has two); the token's table row is its frame
 * (axis 0) or spatial index (axis 1) of [B, T, S]. */
template <int V, int NPL>
static __global__ void __launch_bounds__(BLOCK) qk_norm_rope_kernel(const qk_args a) {
  __shared__ float heads[BLOCK / 32][32 * NPL * V];
  const int lane = threadIdx.x & 31, G = a.G, gl = lane & (G - 1), per_warp = 32 / G, nh = a.R * 2 * a.H;
  float *hs = heads[threadIdx.x >> 5] + (lane - gl) * NPL * V; /* this group's head */
  for (int w = (blockIdx.x * BLOCK + threadIdx.x) >> 5; w * per_warp < nh; w += gridDim.x * (BLOCK / 32)) {
    const int hi = w * per_warp + lane / G;
    const bool live = hi < nh; /* idle groups still join the shuffles */
    const int h = hi % a.H, part = hi / a.H & 1, r = hi / (2 * a.H);
    st_t *v = (part ? a.k : a.q) + (int64_t)r * a.ld + h * a.D;
    float xv[NPL][V];
    float ss = 0.0f;
#pragma unroll
    for (int j = 0; j < NPL; j++) {
      const int e = (gl + G * j) * V;
      if (live && e < a.D) {
        ld_st<V>(xv[j], v + e);
#pragma unroll
        for (int i = 0; i < V; i++) ss += xv[j][i] * xv[j][i];
      }
    }
    if (a.wq) {
      const float inv = 1.0f / sqrtf(group_sum(ss, G) / a.D + a.eps);
      const st_t *wt = part ? a.wk : a.wq;
#pragma unroll
      for (int j = 0; j < NPL; j++) {
        const int e = (gl + G * j) * V;
        float wv[V];
        if (live && e < a.D) {
          ld_st<V>(wv, wt + e);
#pragma unroll
          for (int i = 0; i < V; i++) xv[j][i] = ld(to_st(wv[i] * (xv[j][i] * inv)));
        }
      }
    }
    if (!a.cos_t) {
#pragma unroll
      for (int j = 0; j < NPL; j++) {
        const int e = (gl + G * j) * V;
        if (live && e < a.D) st_st<V>(v + e, xv[j]);
      }
      continue;
    }
#pragma unroll
    for (int j = 0; j < NPL; j++) {
      const int e = (gl + G * j) * V;
      if (live && e < a.D) {
#pragma unroll
        for (int i = 0; i < V; i++) hs[e + i] = xv[j][i];
      }
    }
    __syncwarp();
    const int trow = a.axis == 0 ? r / a.S % a.T : r % a.S, sec = 2 * a.half;
    const float *cs = a.cos_t + (int64_t)trow * a.D, *sn = a.sin_t + (int64_t)trow * a.D;
#pragma unroll
    for (int j = 0; j < NPL; j++) {
      const int e = (gl + G * j) * V;
      if (!live || e >= a.D) continue;
      float c4[V], s4[V], o[V];
      ld_f32<V>(c4, cs + e);
      ld_f32<V>(s4, sn + e);
      int pos = sec ? e % sec : 0; /* e + i's place in its section */
#pragma unroll
      for (int i = 0; i < V; i++) {
        const int d = e + i;
        const bool first = sec ? pos < a.half : (d & 1) == 0;
        const int p = sec ? (first ? d + a.half : d - a.half) : d ^ 1;
        const float rot = __fmul_rn(hs[p], s4[i]);
        o[i] = first ? __fmul_rn(xv[j][i], c4[i]) - rot : __fmul_rn(xv[j][i], c4[i]) + rot;
        if (sec && ++pos == sec) pos = 0;
      }
      st_st<V>(v + e, o);
    }
    __syncwarp(); /* hs is read before the next head overwrites it */
  }
}

static void qk_launch(const cuda_ctx *ctx, qk_args a) {
  const int64_t nh = (int64_t)a.R * 2 * a.H;
  if (nh <= 0 || a.D <= 0) return;
  OPS_CHECK(a.D <= HEAD_MAX && nh < (1 << 30));
  const bool vec = a.D % VEC == 0 && a.ld % VEC == 0 && vec_ok(a.q) && vec_ok(a.k) && vec_ok(a.wq) &&
                   vec_ok(a.wk) && vec_ok(a.cos_t) && vec_ok(a.sin_t);
  const int nv = vec ? a.D / VEC : 32; /* D / VEC <= 32: one vector a lane */
  a.G = 1;
  while (a.G < nv) a.G *= 2;
  const int64_t warps = (nh + 32 / a.G - 1) / (32 / a.G), blocks = (warps + BLOCK / 32 - 1) / (BLOCK / 32);
  const unsigned grid = (unsigned)(blocks < MAX_GRID ? blocks : MAX_GRID);
  if (vec) LAUNCH((qk_norm_rope_kernel<VEC, 1>), grid, BLOCK, 0, stream_of(ctx), a);
  else LAUNCH((qk_norm_rope_kernel<1, HEAD_MAX / 32>), grid, BLOCK, 0, stream_of(ctx), a);
}

static qk_args qk_init(ditc_st *q, ditc_st *k, int64_t ld, int64_t R, int H, int D) {
  OPS_CHECK(ld < INT_MAX && R < INT_MAX);
  qk_args a = {};
  a.q = st_ptr(q), a.k = st_ptr(k), a.ld = (int)ld, a.R = (int)R, a.H = H, a.D = D, a.T = 1, a.S = 1;
  return a;
}

void cuda_qk_rmsnorm(const cuda_ctx *ctx, ditc_st *q, ditc_st *k, int64_t ld, const ditc_st *wq,
                     const ditc_st *wk, int64_t R, int H, int D, float eps) {
  qk_args a = qk_init(q, k, ld, R, H, D);
  a.wq = st_ptr(wq), a.wk = st_ptr(wk), a.eps = eps;
  qk_launch(ctx, a);
}

void cuda_qk_rmsnorm_rope(const cuda_ctx *ctx, ditc_st *q, ditc_st *k, int64_t ld, const ditc_st *wq,
                          const ditc_st *wk, float eps, const float *cos_t, const float *sin_t, int B, int T,
                          int S, int H, int D, int axis, int half) {
  OPS_CHECK(cos_t && sin_t && (half == 0 ? D % 2 == 0 : half > 0 && D % (2 * half) == 0));
  qk_args a = qk_init(q, k, ld, (int64_t)B * T * S, H, D);
  a.wq = st_ptr(wq), a.wk = st_ptr(wk), a.eps = eps;
  a.cos_t = cos_t, a.sin_t = sin_t, a.T = T, a.S = S, a.axis = axis, a.half = half;
  qk_launch(ctx, a);
}

void cuda_rope(const cuda_ctx *ctx, ditc_st *q, ditc_st *k, int64_t ld, const float *cos_t, const float *sin_t,
               int B, int T, int S, int H, int D, int axis, int half) {
  OPS_CHECK(half == 0 ? D % 2 == 0 : half > 0 && D % (2 * half) == 0);
  qk_args a = qk_init(q, k, ld, (int64_t)B * T * S, H, D);
  a.cos_t = cos_t, a.sin_t = sin_t, a.T = T, a.S = S, a.axis = axis, a.half = half;
  qk_launch(ctx, a);
}

/* ---- RMSNorm -------------------------------------------------------------------------------- */

/* One warp per row of src [R, C]: the mean of squares in fp32, then out = w * round(x * rsqrt),
 * the rounding where upstream's T5LayerNorm casts the normalized row to the weight's dtype before
 * the product (a no-op in fp32). Elementwise loads: a T5 row is d_model = 4096 elements wide,
 * read twice (the second read hits L1/L2). */
template <typename T> /* the source's element: st_t, or float (rms_norm_from_f32) */
static __global__ void rms_norm_kernel(st_t *out, const T *src, const st_t *__restrict__ w, int R, int C, float eps) {
  const int row = blockIdx.x * (blockDim.x / 32) + threadIdx.x / 32, lane = threadIdx.x % 32;
  if (row >= R) return;
  const T *x = src + (int64_t)row * C;
  float ss = 0.0f;
  for (int c = lane; c < C; c += 32) {
    const float v = ld(x[c]);
    ss = fmaf(v, v, ss);
  }
  ss = group_sum(ss, 32);
  const float inv = rsqrtf(ss / (float)C + eps);
  st_t *o = out + (int64_t)row * C;
  for (int c = lane; c < C; c += 32) o[c] = to_st(__fmul_rn(ld(w[c]), ld(to_st(__fmul_rn(ld(x[c]), inv)))));
}

void cuda_rms_norm(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, const ditc_st *w, int64_t R, int C,
                   float eps) {
  if (R <= 0 || C <= 0) return;
  OPS_CHECK(R <= INT_MAX);
  const int rows_per_block = BLOCK / 32;
  LAUNCH(rms_norm_kernel<st_t>, (unsigned)((R + rows_per_block - 1) / rows_per_block), BLOCK, 0, stream_of(ctx),
         st_ptr(out), st_ptr(src), st_ptr(w), (int)R, C, eps);
}

/* The same over an fp32 src (the fp16 T5's residual stream): statistics and normalization in fp32
 * as above, then the normalized row rounded to storage and multiplied by the storage weight, as
 * T5LayerNorm does with fp32 hidden states and fp16 weights. */
void cuda_rms_norm_from_f32(const cuda_ctx *ctx, ditc_st *out, const float *src, const ditc_st *w, int64_t R, int C,
                            float eps) {
  if (R <= 0 || C <= 0) return;
  OPS_CHECK(R <= INT_MAX);
  const int rows_per_block = BLOCK / 32;
  LAUNCH(rms_norm_kernel<float>, (unsigned)((R + rows_per_block - 1) / rows_per_block), BLOCK, 0, stream_of(ctx),
         st_ptr(out), src, st_ptr(w), (int)R, C, eps);
}

/* ---- sequence parallelism ------------------------------------------------------------------- */

/* One thread per element of the chunks [ranks][B, c1, c2, C] of a tensor [B, d1, d2, C] split along
 * dim (1 or 2; chunk r holds indices r*chunk .. r*chunk + chunk-1 of that dim). pack: dst =
 * chunks from src = tensor, zero past length n; unpack: dst = tensor from src = chunks, skipping
 * indices past d1 or d2 (the padding). */
static __global__ void dsp_copy_kernel(st_t *__restrict__ dst, const st_t *__restrict__ src, int B, int d1,
                                       int d2, int C, int dim, int chunk, int n, int ranks, int pack) {
  const int c1 = dim == 1 ? chunk : d1, c2 = dim == 2 ? chunk : d2;
  GRID_LOOP(e, (int64_t)ranks * B * c1 * c2 * C) {
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
                   int chunk, int n, int ranks) {
  const int64_t total = (int64_t)ranks * B * (dim == 1 ? chunk : d1) * (dim == 2 ? chunk : d2) * C;
  LAUNCH_N(ctx, dsp_copy_kernel, total, st_ptr(send), st_ptr(src), B, d1, d2, C, dim, chunk, n, ranks, 1);
}

void cuda_dsp_unpack(const cuda_ctx *ctx, ditc_st *dst, const ditc_st *recv, int B, int d1, int d2, int C,
                     int dim, int chunk, int ranks) {
  const int64_t total = (int64_t)ranks * B * (dim == 1 ? chunk : d1) * (dim == 2 ? chunk : d2) * C;
  LAUNCH_N(ctx, dsp_copy_kernel, total, st_ptr(dst), st_ptr(recv), B, d1, d2, C, dim, chunk, 0, ranks, 0);
}
