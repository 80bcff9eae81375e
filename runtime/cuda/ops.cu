/* cuda/ops.cu: the CUDA ops of cuda/ops.h that build the model's inputs and outputs: embedding
 * tables, elementwise ops, the caption path and the video tokens, one kernel and one launcher
 * (cuda_<op>, the arguments of cpu_<op> after the context) per op, written to be read next to
 * cpu/ops.c. Activations are storage elements (st_t: loaded to fp32 with ld(), stored with
 * to_st()); tables and io buffers are fp32. With fp32 storage the formulas follow the CPU code
 * term by term: products that the CPU rounds before an addition use __fmul_rn (nvcc would
 * otherwise fuse them into an FMA), and the transcendental functions of the embedding tables and
 * silu are evaluated in double and rounded once, as close as we can get to glibc's nearly
 * correctly rounded sinf/cosf/expf/powf. Every launcher enqueues on ctx->stream and returns.
 * Not here: the linear op (cuda/linear.cu), the block ops (cuda/block.cu), attention
 * (cuda/attention.cu), allocation and host copies. */
#include <math.h>

#include "cuda/common.cuh"

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
                                         const st_t *__restrict__ freqs, int T, int D, int bf16) {
  GRID_LOOP(e, (int64_t)T * (D / 2)) {
    const int p = (int)(e / (D / 2)), k = (int)(e % (D / 2));
    const float f = bf16 ? round_bf16(ld(freqs[k])) : ld(freqs[k]);
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

void cuda_rope_table(const cuda_ctx *ctx, float *cos_t, float *sin_t, const ditc_st *freqs, int T, int D,
                     int bf16) {
  const int64_t n = (int64_t)T * (D / 2);
  LAUNCH_N(ctx, rope_table_kernel, n, cos_t, sin_t, st_ptr(freqs), T, D, bf16);
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
static __global__ void sinusoid_kernel(st_t *__restrict__ out, const float *__restrict__ t, int B, int dim) {
  const int half = dim / 2;
  const float neg_log = (float)(-9.210340371976184); /* -ln(10000), as torch's fp32 scalar */
  GRID_LOOP(e, (int64_t)B * half) {
    const int b = (int)(e / half), k = (int)(e % half);
    const float f = exp_f(neg_log * (float)k / (float)half);
    const float a = t[b] * f;
    out[(int64_t)b * dim + k] = to_st(cos_f(a));
    out[(int64_t)b * dim + half + k] = to_st(sin_f(a));
  }
}

void cuda_sinusoid(const cuda_ctx *ctx, ditc_st *out, const float *t, int B, int dim) {
  const int64_t n = (int64_t)B * (dim / 2);
  LAUNCH_N(ctx, sinusoid_kernel, n, st_ptr(out), t, B, dim);
}

/* ---- elementwise ------------------------------------------------------------------------- */

/* One thread per element: out[n] = silu(src[n]). */
static __global__ void silu_kernel(st_t *__restrict__ out, const st_t *__restrict__ src, int64_t n) {
  GRID_LOOP(i, n) {
    const float x = ld(src[i]);
    out[i] = to_st(x / (1.0f + exp_f(-x)));
  }
}

void cuda_silu(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, int64_t n) {
  LAUNCH_N(ctx, silu_kernel, n, st_ptr(out), st_ptr(src), n);
}

/* One thread per element: out[n] = a[n] + b[n] (out may alias a or b). */
static __global__ void add_kernel(st_t *out, const st_t *a, const st_t *b, int64_t n) {
  GRID_LOOP(i, n) out[i] = to_st(ld(a[i]) + ld(b[i]));
}

void cuda_add(const cuda_ctx *ctx, ditc_st *out, const ditc_st *a, const ditc_st *b, int64_t n) {
  LAUNCH_N(ctx, add_kernel, n, st_ptr(out), st_ptr(a), st_ptr(b), n);
}

/* ---- text -------------------------------------------------------------------------------- */

/* One thread per element of the caption rows: out row r [L, Cc] of the CFG batch is the prompt's
 * cond row or the uncond row (shared, or per prompt), converted to storage. With half >= 0 only
 * rows [half*Bp, half*Bp + Bp) of the batch are built, stored from row 0 (CFG parallelism). */
template <typename U>
static __global__ void cfg_text_kernel(st_t *__restrict__ out, const float *__restrict__ cond,
                                       const U *__restrict__ uncond, int uncond_per_prompt, int Bp, int64_t row,
                                       int cond_first, int half) {
  const int rows_out = half >= 0 ? Bp : 2 * Bp;
  GRID_LOOP(e, (int64_t)rows_out * row) {
    const int r = (int)(e / row) + (half >= 0 ? half * Bp : 0); /* row of the whole batch */
    const int64_t c = e % row;
    const bool is_cond = (r < Bp) == (cond_first != 0);
    const int b = r % Bp;
    out[e] = to_st(is_cond ? cond[b * row + c] : ld(uncond[(uncond_per_prompt ? b * row : 0) + c]));
  }
}

void cuda_cfg_text(const cuda_ctx *ctx, ditc_st *out, const float *cond, const ditc_st *uncond,
                   int uncond_per_prompt, int Bp, int L, int Cc, int cond_first, int half) {
  const int64_t row = (int64_t)L * Cc;
  LAUNCH_N(ctx, cfg_text_kernel<st_t>, (half >= 0 ? Bp : 2 * Bp) * row, st_ptr(out), cond, st_ptr(uncond),
           uncond_per_prompt, Bp, row, cond_first, half);
}

void cuda_cfg_text_io(const cuda_ctx *ctx, ditc_st *out, const float *cond, const float *uncond,
                      int uncond_per_prompt, int Bp, int L, int Cc, int cond_first, int half) {
  const int64_t row = (int64_t)L * Cc;
  LAUNCH_N(ctx, cfg_text_kernel<float>, (half >= 0 ? Bp : 2 * Bp) * row, st_ptr(out), cond, uncond,
           uncond_per_prompt, Bp, row, cond_first, half);
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
static __global__ void text_pack_kernel(st_t *__restrict__ out, const st_t *__restrict__ src,
                                        const int32_t *__restrict__ idx, const int32_t *__restrict__ lens, int B,
                                        int L, int C) {
  GRID_LOOP(e, (int64_t)B * L * C) {
    const int64_t bj = e / C; /* b * L + j */
    const int b = (int)(bj / L), j = (int)(bj % L);
    out[e] = j < lens[b] ? src[((int64_t)b * L + idx[bj]) * C + e % C] : to_st(0.0f);
  }
}

void cuda_text_pack(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, const int32_t *idx,
                    const int32_t *lens, int B, int L, int C) {
  const int64_t n = (int64_t)B * L * C;
  LAUNCH_N(ctx, text_pack_kernel, n, st_ptr(out), st_ptr(src), idx, lens, B, L, C);
}

/* ---- video tokens ------------------------------------------------------------------------ */

/* One block per token of out[B, Tn*Hp*Wp, C]: the patch [Cin, pt, ph, pw] (P floats, zero where
 * padded) goes to shared memory, then thread c computes out[tok, c] = w[c, P] . patch + b[c]. */
static __global__ void patch_embed3d_kernel(st_t *__restrict__ out, const float *__restrict__ src,
                                            const st_t *__restrict__ w, const st_t *__restrict__ b, int B,
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
    st_t *o = out + tok * C;
    if (t >= T) { /* a padding frame of sequence parallelism */
      for (int c = threadIdx.x; c < C; c += blockDim.x) o[c] = to_st(0.0f);
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
      const st_t *wc = w + (int64_t)c * P;
      float acc = 0.0f;
      for (int e = 0; e < P; e++) acc += ld(wc[e]) * patch[e];
      o[c] = to_st(acc + ld(b[c]));
    }
  }
}

void cuda_patch_embed3d(const cuda_ctx *ctx, ditc_st *out, const float *src, const ditc_st *w, const ditc_st *b,
                        int B, int Cin, int Tx, int Hx, int Wx, int pt, int ph, int pw, int C, int t0, int Tn) {
  OPS_CHECK(pt > 0 && ph > 0 && pw > 0);
  const int64_t ntok = (int64_t)B * Tn * ((Hx + ph - 1) / ph) * ((Wx + pw - 1) / pw);
  const size_t smem = (size_t)Cin * pt * ph * pw * sizeof(float);
  OPS_CHECK(smem <= 48 * 1024);
  if (ntok <= 0 || C <= 0) return;
  LAUNCH(patch_embed3d_kernel, (unsigned)(ntok < MAX_GRID ? ntok : MAX_GRID), BLOCK, smem, stream_of(ctx), st_ptr(out),
         src, st_ptr(w), st_ptr(b), B, Cin, Tx, Hx, Wx, pt, ph, pw, C, t0, Tn);
}

/* One thread per element of x[B*T, S, C]: x += pe[S, C]. */
static __global__ void add_pos_kernel(st_t *__restrict__ x, const float *__restrict__ pe, int64_t n, int64_t SC) {
  GRID_LOOP(i, n) x[i] = to_st(ld(x[i]) + pe[i % SC]);
}

void cuda_add_pos(const cuda_ctx *ctx, ditc_st *x, const float *pe, int BT, int S, int C) {
  const int64_t SC = (int64_t)S * C, n = (int64_t)BT * SC;
  LAUNCH_N(ctx, add_pos_kernel, n, st_ptr(x), pe, n, SC);
}

/* One thread per element of x[B, T, S, C]: x += tp[t0 + t, C] for frames t0 + t < Tg. */
static __global__ void add_frame_pos_kernel(st_t *__restrict__ x, const float *__restrict__ tp, int B, int T,
                                            int S, int C, int t0, int Tg) {
  const int64_t SC = (int64_t)S * C;
  GRID_LOOP(i, (int64_t)B * T * SC) {
    const int64_t t = t0 + (i / SC) % T;
    if (t < Tg) x[i] = to_st(ld(x[i]) + tp[t * C + i % C]);
  }
}

void cuda_add_frame_pos(const cuda_ctx *ctx, ditc_st *x, const float *tp, int B, int T, int S, int C, int t0,
                        int Tg) {
  const int64_t n = (int64_t)B * T * S * C;
  LAUNCH_N(ctx, add_frame_pos_kernel, n, st_ptr(x), tp, B, T, S, C, t0, Tg);
}

/* One thread per element of out[B, Cout, Tx, Hx, Wx], gathered from src[B, T*Hp*Wp, pt*ph*pw*Cout];
 * elements whose patch lies outside the T x Hp x Wp grid are left alone (as on the CPU). */
static __global__ void unpatchify_kernel(float *__restrict__ out, const st_t *__restrict__ src, int B, int Cout,
                                         int T, int Hp, int Wp, int pt, int ph, int pw, int Tx, int Hx, int Wx) {
  const int P = pt * ph * pw * Cout;
  GRID_LOOP(e, (int64_t)B * Cout * Tx * Hx * Wx) {
    const int ww = (int)(e % Wx), hh = (int)(e / Wx % Hx), tt = (int)(e / Wx / Hx % Tx);
    const int64_t bc = e / Wx / Hx / Tx;
    const int c = (int)(bc % Cout), b = (int)(bc / Cout);
    const int t = tt / pt, h = hh / ph, x = ww / pw, kt = tt % pt, kh = hh % ph, kw = ww % pw;
    if (t >= T || h >= Hp || x >= Wp) continue;
    const st_t *s = src + (((int64_t)b * T + t) * Hp * Wp + (int64_t)h * Wp + x) * P;
    out[e] = ld(s[((kt * ph + kh) * pw + kw) * Cout + c]);
  }
}

void cuda_unpatchify(const cuda_ctx *ctx, float *out, const ditc_st *src, int B, int Cout, int T, int Hp,
                     int Wp, int pt, int ph, int pw, int Tx, int Hx, int Wx) {
  const int64_t n = (int64_t)B * Cout * Tx * Hx * Wx;
  if (n <= 0) return;
  OPS_CHECK(pt > 0 && ph > 0 && pw > 0);
  LAUNCH(unpatchify_kernel, grid_for(n), BLOCK, 0, stream_of(ctx), out, st_ptr(src), B, Cout, T, Hp, Wp, pt, ph, pw,
         Tx, Hx, Wx);
}
