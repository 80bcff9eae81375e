/* cpu/ops.c: fp32 reference implementations of the op kinds in cpu/ops.h. Written to be read
 * next to docs/upstream.md#shared-building-blocks and #open-sora-12-forward: formula order follows upstream's where it matters for
 * rounding (embedding tables, modulation); reductions over a row run in a fixed order, so the
 * result does not depend on the number of OpenMP threads. Not here: attention kernels for
 * GPUs, or anything that allocates. */
#include "cpu/ops.h"

#include <math.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "cpu/gemm.h"
#include "cpu/isa.h"
#include "cpu/rowsum.h"
#include "cpu/softmax.h"
#include "cpu/vmath.h"

/* ---- helpers ----------------------------------------------------------------------------- */

/* Work below which a loop runs on one thread (the `if` clause of each parallel loop): multiply-adds
 * of a product (PARALLEL_MIN, about 15 us of one core in cpu_gemm) or elements of a memory-bound
 * op (PARALLEL_MIN_ELEMS, about as long). Below them, waking the team and the barrier at the end
 * cost more than the split saves (set on the bench variants and the fixtures at 2 threads:
 * bin/opensora-v1.2-cpu-demo --bench --threads 2 scales 1.77x with these, 1.64x with 4x larger
 * ones). The main guard against a machine shared with other work, where a barrier can wait a whole
 * scheduler slice for a descheduled thread, is the default thread count (denoiser/main.c: the
 * idle CPUs). The split never changes a result: every loop computes whole rows, each in a fixed
 * order, so any thread count gives the same bits. */
#define PARALLEL_MIN (1 << 20)
#define PARALLEL_MIN_ELEMS (1 << 16)

static float round_bf16(float x) {
  uint32_t b;
  memcpy(&b, &x, 4);
  if ((b & 0x7f800000u) != 0x7f800000u) b = (b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u;
  memcpy(&x, &b, 4);
  return x;
}

/* ---- embeddings ------------------------------------------------------------------------- */

void cpu_pos_embed_2d(float *out, int Hp, int Wp, int C, float scale, float mul_h, float mul_w) {
  const int half = C / 2, quarter = C / 4;
  for (int i = 0; i < Hp; i++) {
    const float r = (float)i / scale * mul_h;
    for (int j = 0; j < Wp; j++) {
      const float c = (float)j / scale * mul_w;
      float *o = out + ((int64_t)i * Wp + j) * C; /* [C]: [sin c, cos c, sin r, cos r] */
      for (int k = 0; k < quarter; k++) {
        const float f = 1.0f / powf(10000.0f, (float)(2 * k) / (float)half);
        o[k] = sinf(c * f);
        o[quarter + k] = cosf(c * f);
        o[half + k] = sinf(r * f);
        o[half + quarter + k] = cosf(r * f);
      }
    }
  }
}

void cpu_rope_table(float *cos_t, float *sin_t, const float *freqs, int T, int D, int bf16) {
  for (int p = 0; p < T; p++) {
    for (int k = 0; k < D / 2; k++) {
      float f = bf16 ? round_bf16(freqs[k]) : freqs[k];
      float a = (float)p * f;
      float c = cosf(a), s = sinf(a);
      if (bf16) {
        a = round_bf16(a);
        c = round_bf16(cosf(a));
        s = round_bf16(sinf(a));
      }
      cos_t[p * D + 2 * k] = cos_t[p * D + 2 * k + 1] = c;
      sin_t[p * D + 2 * k] = sin_t[p * D + 2 * k + 1] = s;
    }
  }
}

void cpu_pos_embed_2d_f64(float *out, int Hp, int Wp, int C, float div_h, float div_w, float interp) {
  const int half = C / 2, quarter = C / 4;
  for (int i = 0; i < Hp; i++) {
    const double r = (float)((float)i / div_h) / interp;
    for (int j = 0; j < Wp; j++) {
      const double c = (float)((float)j / div_w) / interp;
      float *o = out + ((int64_t)i * Wp + j) * C; /* [C]: [sin c, cos c, sin r, cos r] */
      for (int k = 0; k < quarter; k++) {
        const double w = 1.0 / pow(10000.0, (double)k / (half / 2.0));
        o[k] = (float)sin(c * w);
        o[quarter + k] = (float)cos(c * w);
        o[half + k] = (float)sin(r * w);
        o[half + quarter + k] = (float)cos(r * w);
      }
    }
  }
}

void cpu_pos_embed_1d_f64(float *out, int T, int C, float div) {
  const int half = C / 2;
  for (int t = 0; t < T; t++) {
    const double p = div > 0.0f ? (double)((float)t / div) : (double)t;
    for (int k = 0; k < half; k++) {
      const double w = 1.0 / pow(10000.0, (double)k / (C / 2.0));
      out[(int64_t)t * C + k] = (float)sin(p * w);
      out[(int64_t)t * C + half + k] = (float)cos(p * w);
    }
  }
}

void cpu_rope_table_neox(float *cos_t, float *sin_t, int rows, int Wp, int D, int nsec, float div) {
  const int sec = D / nsec, half = sec / 2;
  for (int r = 0; r < rows; r++)
    for (int s = 0; s < nsec; s++) {
      const int coord = nsec == 1 ? r : (s == 0 ? r / Wp : r % Wp); /* frame, or (row, column) */
      const int64_t pos = (int64_t)((float)coord / div);             /* linear scaling, truncated */
      for (int j = 0; j < half; j++) {
        const float inv = 1.0f / powf(10000.0f, (float)(2 * j) / (float)sec);
        const float a = (float)pos * inv;
        const int64_t o = (int64_t)r * D + s * sec + j;
        cos_t[o] = cos_t[o + half] = cosf(a);
        sin_t[o] = sin_t[o + half] = sinf(a);
      }
    }
}

void cpu_fill(float *out, int64_t n, float value) {
  for (int64_t i = 0; i < n; i++) out[i] = value;
}

void cpu_sinusoid(float *out, const float *t, int B, int dim) {
  const int half = dim / 2;
  const float neg_log = (float)(-9.210340371976184); /* -ln(10000), as torch's fp32 scalar */
  for (int b = 0; b < B; b++) {
    for (int k = 0; k < half; k++) {
      const float f = expf(neg_log * (float)k / (float)half);
      const float a = t[b] * f;
      out[(int64_t)b * dim + k] = cosf(a);
      out[(int64_t)b * dim + half + k] = sinf(a);
    }
  }
}

/* ---- dense ------------------------------------------------------------------------------- */

void cpu_linear(float *out, const float *src, const float *w, const float *b, int64_t M, int K, int N, int act) {
  /* the rows in one contiguous range per thread, whole register tiles each, so every thread packs
     w once per block of it (cpu/gemm.c) */
#pragma omp parallel if (M * N * K > PARALLEL_MIN)
  {
    int64_t t = 0, nt = 1;
#ifdef _OPENMP
    t = omp_get_thread_num(), nt = omp_get_num_threads();
#endif
    const int64_t tiles = (M + GEMM_MR - 1) / GEMM_MR, per = (tiles + nt - 1) / nt;
    const int64_t m0 = t * per * GEMM_MR < M ? t * per * GEMM_MR : M;
    const int64_t m1 = m0 + per * GEMM_MR < M ? m0 + per * GEMM_MR : M;
    if (m1 > m0) cpu_gemm(out + m0 * N, N, src + m0 * K, K, w, K, 1, m1 - m0, N, K, 1.0f, b, act);
  }
}

CPU_CLONES void cpu_silu(float *out, const float *src, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) out[i] = src[i] / (1.0f + vm_exp(-src[i]));
}

CPU_CLONES void cpu_add(float *out, const float *a, const float *b, int64_t n) {
#pragma omp simd
  for (int64_t i = 0; i < n; i++) out[i] = a[i] + b[i];
}

CPU_CLONES void cpu_rms_norm(float *out, const float *src, const float *w, int64_t R, int C, float eps) {
#pragma omp parallel for schedule(static) if (R * C > PARALLEL_MIN_ELEMS)
  for (int64_t r = 0; r < R; r++) {
    const float *x = src + r * C;
    /* each square in fp32 as upstream (a square past FLT_MAX is inf there too, and the row becomes
       0 * inf), summed in double: far below fp32's summation error */
    const double ss = row_sum(x, C, ROW_X2_F32, 0.0);
    const float inv = 1.0f / sqrtf((float)(ss / C) + eps);
#pragma omp simd
    for (int c = 0; c < C; c++) out[r * C + c] = w[c] * (x[c] * inv);
  }
}

/* ---- text -------------------------------------------------------------------------------- */

void cpu_cfg_text(float *out, const float *cond, const float *uncond, int uncond_per_prompt, int Bp,
                  int L, int Cc, int cond_first, int half) {
  const int64_t row = (int64_t)L * Cc;
  for (int b = 0; b < Bp; b++) {
    int bc = cond_first ? b : Bp + b, bu = cond_first ? Bp + b : b;
    if (half >= 0) { /* only rows [half*Bp, half*Bp + Bp) of the batch, stored from row 0 */
      bc = bc / Bp == half ? bc % Bp : -1;
      bu = bu / Bp == half ? bu % Bp : -1;
    }
    if (bc >= 0) memcpy(out + bc * row, cond + b * row, row * sizeof(float));
    if (bu >= 0) memcpy(out + bu * row, uncond + (uncond_per_prompt ? b * row : 0), row * sizeof(float));
  }
}

void cpu_text_mask(int32_t *lens, int32_t *idx, const int32_t *mask, int Bp, int L, int B) {
  for (int b = 0; b < B; b++) { /* both CFG halves use mask row b mod Bp, in either order */
    const int32_t *m = mask + (int64_t)(b % Bp) * L;
    int n = 0;
    for (int j = 0; j < L; j++)
      if (m[j]) idx[(int64_t)b * L + n++] = j;
    for (int j = n; j < L; j++) idx[(int64_t)b * L + j] = 0;
    lens[b] = n;
  }
}

void cpu_text_pack(float *out, const float *src, const int32_t *idx, const int32_t *lens, int B,
                   int L, int C) {
  for (int b = 0; b < B; b++) {
    for (int j = 0; j < L; j++) {
      float *o = out + ((int64_t)b * L + j) * C;
      if (j < lens[b]) memcpy(o, src + ((int64_t)b * L + idx[(int64_t)b * L + j]) * C, C * sizeof(float));
      else memset(o, 0, C * sizeof(float));
    }
  }
}

/* ---- video tokens ------------------------------------------------------------------------ */

void cpu_patch_embed3d(float *out, const float *src, const float *w, const float *b, int B, int Cin,
                       int Tx, int Hx, int Wx, int pt, int ph, int pw, int C, int t0, int Tn) {
  enum { TB = 48 }; /* tokens a work item: their patches gathered, then one cpu_gemm with w [C, P] */
  const int T = (Tx + pt - 1) / pt, Hp = (Hx + ph - 1) / ph, Wp = (Wx + pw - 1) / pw;
  const int P = Cin * pt * ph * pw;
  const int64_t ntok = (int64_t)B * Tn * Hp * Wp;
#pragma omp parallel for schedule(static) if (ntok * C * P > PARALLEL_MIN)
  for (int64_t tok0 = 0; tok0 < ntok; tok0 += TB) {
    const int64_t nt = ntok - tok0 < TB ? ntok - tok0 : TB;
    float patch[TB * (P > 0 ? P : 1)]; /* [nt, P]: [Cin, pt, ph, pw] each, zero where padded */
    for (int64_t r = 0; r < nt; r++) {
      const int64_t tok = tok0 + r;
      const int bi = (int)(tok / ((int64_t)Tn * Hp * Wp));
      const int64_t n = tok % ((int64_t)Tn * Hp * Wp);
      const int t = t0 + (int)(n / (Hp * Wp)), h = (int)(n / Wp % Hp), x = (int)(n % Wp);
      int e = 0;
      for (int ci = 0; ci < Cin; ci++)
        for (int kt = 0; kt < pt; kt++)
          for (int kh = 0; kh < ph; kh++)
            for (int kw = 0; kw < pw; kw++, e++) {
              const int tt = t * pt + kt, hh = h * ph + kh, ww = x * pw + kw;
              patch[r * P + e] = (t < T && tt < Tx && hh < Hx && ww < Wx)
                                     ? src[((((int64_t)bi * Cin + ci) * Tx + tt) * Hx + hh) * Wx + ww]
                                     : 0.0f;
            }
    }
    cpu_gemm(out + tok0 * C, C, patch, P, w, P, 1, nt, C, P, 1.0f, b, DITC_ACT_NONE);
    for (int64_t r = 0; r < nt; r++) { /* a padding frame of sequence parallelism is zero, bias and all */
      const int64_t n = (tok0 + r) % ((int64_t)Tn * Hp * Wp);
      if (t0 + (int)(n / (Hp * Wp)) >= T) memset(out + (tok0 + r) * C, 0, (size_t)C * sizeof(float));
    }
  }
}

void cpu_add_pos(float *x, const float *pe, int BT, int S, int C) {
  for (int64_t f = 0; f < BT; f++)
    for (int64_t i = 0; i < (int64_t)S * C; i++) x[f * S * C + i] += pe[i];
}

void cpu_add_frame_pos(float *x, const float *tp, int B, int T, int S, int C, int t0, int Tg) {
  for (int64_t f = 0; f < (int64_t)B * T; f++) {
    const int64_t t = t0 + f % T;
    if (t >= Tg) continue;
    for (int64_t s = 0; s < S; s++)
      for (int c = 0; c < C; c++) x[(f * S + s) * C + c] += tp[t * C + c];
  }
}

void cpu_unpatchify(float *out, const float *src, int B, int Cout, int T, int Hp, int Wp, int pt,
                    int ph, int pw, int Tx, int Hx, int Wx) {
  const int P = pt * ph * pw * Cout;
  for (int b = 0; b < B; b++)
    for (int t = 0; t < T; t++)
      for (int h = 0; h < Hp; h++)
        for (int x = 0; x < Wp; x++) {
          const float *s = src + (((int64_t)b * T + t) * Hp * Wp + (int64_t)h * Wp + x) * P;
          for (int kt = 0; kt < pt; kt++)
            for (int kh = 0; kh < ph; kh++)
              for (int kw = 0; kw < pw; kw++) {
                const int tt = t * pt + kt, hh = h * ph + kh, ww = x * pw + kw;
                if (tt >= Tx || hh >= Hx || ww >= Wx) continue; /* crop the padding */
                for (int c = 0; c < Cout; c++)
                  out[((((int64_t)b * Cout + c) * Tx + tt) * Hx + hh) * Wx + ww] =
                      s[((kt * ph + kh) * pw + kw) * Cout + c];
              }
        }
}

/* ---- block --------------------------------------------------------------------------------- */

CPU_CLONES void cpu_ln_modulate(float *out, const float *x, const float *t, int64_t t_stride, int64_t t_shift,
                                int64_t t_scale, const float *table, int shift, int scale, int B, int64_t R, int C,
                                float eps) {
#pragma omp parallel for schedule(static) if ((int64_t)B * R * C > PARALLEL_MIN_ELEMS)
  for (int64_t row = 0; row < (int64_t)B * R; row++) {
    const int b = (int)(row / R);
    const float *xr = x + row * C;
    const float *tb = t + (int64_t)b * t_stride;
    const double mean = row_sum(xr, C, ROW_X, 0.0) / C, var = row_sum(xr, C, ROW_DEV2, mean) / C;
    const float m = (float)mean, rstd = (float)(1.0 / sqrt(var + eps));
    float *o = out + row * C;
#pragma omp simd
    for (int c = 0; c < C; c++) {
      const float sh = table[shift * C + c] + tb[t_shift + c];
      const float sc = table[scale * C + c] + tb[t_scale + c];
      o[c] = (xr[c] - m) * rstd * (1.0f + sc) + sh;
    }
  }
}

CPU_CLONES void cpu_qk_rmsnorm(float *q, float *k, int64_t ld, const float *wq, const float *wk, int64_t R, int H,
                               int D, float eps) {
#pragma omp parallel for schedule(static) if (R * 2 * H * D > PARALLEL_MIN_ELEMS)
  for (int64_t r = 0; r < R; r++) {
    for (int part = 0; part < 2; part++) {
      const float *wt = part ? wk : wq;
      for (int h = 0; h < H; h++) {
        float *v = (part ? k : q) + r * ld + h * D;
        const float inv = (float)(1.0 / sqrt(row_sum(v, D, ROW_X2, 0.0) / D + eps));
#pragma omp simd
        for (int d = 0; d < D; d++) v[d] = wt[d] * (v[d] * inv);
      }
    }
  }
}

void cpu_rope(float *q, float *k, int64_t ld, const float *cos_t, const float *sin_t, int B, int T, int S,
              int H, int D, int axis, int half) {
#pragma omp parallel for schedule(static) if ((int64_t)B * T * S * H * D > PARALLEL_MIN_ELEMS)
  for (int64_t tok = 0; tok < (int64_t)B * T * S; tok++) {
    const int64_t row = axis == 0 ? tok / S % T : tok % S;
    const float *cs = cos_t + row * D, *sn = sin_t + row * D;
    for (int part = 0; part < 2; part++)
      for (int h = 0; h < H; h++) {
        float *v = (part ? k : q) + tok * ld + h * D;
        if (half == 0) {
          for (int d = 0; d < D; d += 2) {
            const float x0 = v[d], x1 = v[d + 1];
            v[d] = x0 * cs[d] - x1 * sn[d];
            v[d + 1] = x1 * cs[d + 1] + x0 * sn[d + 1];
          }
        } else {
          for (int s0 = 0; s0 < D; s0 += 2 * half)
            for (int i = s0; i < s0 + half; i++) {
              const float x0 = v[i], x1 = v[i + half];
              v[i] = x0 * cs[i] - x1 * sn[i];
              v[i + half] = x1 * cs[i + half] + x0 * sn[i + half];
            }
        }
      }
  }
}

/* n queries (row stride ldq; outputs o, row stride ldo) against len keys and values (row stride
 * ldkv), every head: the scores scale * q k^T (cpu_gemm), softmax per row (cpu/softmax.h), then the
 * weighted values p v (cpu_gemm). p: [n * len] scratch. */
static void attend(float *o, int64_t ldo, const float *q, int64_t ldq, const float *k, const float *v, int64_t ldkv,
                   int n, int len, int H, int D, float scale, float *p) {
  for (int h = 0; h < H; h++) {
    cpu_gemm(p, len, q + h * D, ldq, k + h * D, ldkv, 1, n, len, D, scale, NULL, DITC_ACT_NONE);
    cpu_softmax_rows(p, n, len);
    cpu_gemm(o + h * D, ldo, p, len, v + h * D, ldkv, 0, n, D, len, 1.0f, NULL, DITC_ACT_NONE);
  }
}

/* Queries a work item of n queries against len keys: whole register tiles, at least 4, and more
 * while the scores [qb, len] stay within 256 KiB, up to all n (each work item packs its keys once
 * a head, so fewer, larger items pack less). */
static int query_block(int n, int len) {
  const int whole = (n + GEMM_MR - 1) / GEMM_MR * GEMM_MR;
  int qb = (1 << 16) / (len > 0 ? len : 1) / GEMM_MR * GEMM_MR;
  if (qb < 4 * GEMM_MR) qb = 4 * GEMM_MR;
  return qb < whole ? qb : whole > 0 ? whole : GEMM_MR;
}

void cpu_attention(float *out, const float *q, const float *k, const float *v, int64_t ld, int nseq,
                   int inner, int64_t outer_stride, int64_t inner_stride, int64_t tok_stride, int len, int H,
                   int D, float scale) {
  const int C = H * D, QB = query_block(len, len), nb = (len + QB - 1) / QB; /* query blocks of a sequence */
#pragma omp parallel for schedule(static) if ((int64_t)nseq * inner * len * len * H * D > PARALLEL_MIN)
  for (int64_t it = 0; it < (int64_t)nseq * inner * nb; it++) {
    float p[QB * (len > 0 ? len : 1)];
    const int64_t s = it / nb, i0 = it % nb * QB;
    const int64_t base = (s / inner) * outer_stride + (s % inner) * inner_stride, row = base + i0 * tok_stride;
    attend(out + row * C, tok_stride * C, q + row * ld, tok_stride * ld, k + base * ld, v + base * ld, tok_stride * ld,
           (int)(len - i0 < QB ? len - i0 : QB), len, H, D, scale, p);
  }
}

void cpu_cross_attention(float *out, const float *q, const float *k, const float *v, int64_t ld,
                         const int32_t *lens, int B, int N, int L, int H, int D, float scale) {
  const int C = H * D, QB = query_block(N, L), nb = (N + QB - 1) / QB; /* query blocks of a sample */
#pragma omp parallel for schedule(static) if ((int64_t)B * N * L * H * D > PARALLEL_MIN)
  for (int64_t it = 0; it < (int64_t)B * nb; it++) {
    float p[QB * (L > 0 ? L : 1)];
    const int b = (int)(it / nb), i0 = (int)(it % nb) * QB;
    const int64_t off = (int64_t)b * L * ld, row = (int64_t)b * N + i0;
    const int len = lens[b] < 0 ? 0 : lens[b] > L ? L : lens[b]; /* a bad count never reads past row b's L keys */
    attend(out + row * C, C, q + row * C, C, k + off, v + off, ld, N - i0 < QB ? N - i0 : QB, len, H, D, scale, p);
  }
}

CPU_CLONES void cpu_gate_residual(float *x, const float *src, const float *t, const float *table, int chunk,
                                  int nchunk, int B, int64_t R, int C, float *store) {
#pragma omp parallel for schedule(static) if ((int64_t)B * R * C > PARALLEL_MIN_ELEMS)
  for (int64_t row = 0; row < (int64_t)B * R; row++) {
    const float *tb = t + row / R * nchunk * C + (int64_t)chunk * C; /* sample row / R's gate */
    const int64_t base = row * C;
#pragma omp simd
    for (int c = 0; c < C; c++) {
      const float g = (table[chunk * C + c] + tb[c]) * src[base + c];
      if (store) store[base + c] = g;
      x[base + c] += g;
    }
  }
}

CPU_CLONES void cpu_residual_store(float *x, const float *src, int64_t n, float *store) {
  if (store)
#pragma omp simd
    for (int64_t i = 0; i < n; i++) store[i] = src[i];
#pragma omp simd
  for (int64_t i = 0; i < n; i++) x[i] += src[i];
}

/* ---- sequence parallelism ------------------------------------------------------------------- */

void cpu_dsp_pack(float *send, const float *src, int B, int d1, int d2, int C, int dim, int chunk, int n, int ranks) {
  const int c1 = dim == 1 ? chunk : d1, c2 = dim == 2 ? chunk : d2; /* chunk shape [B, c1, c2, C] */
  for (int r = 0; r < ranks; r++)
    for (int b = 0; b < B; b++)
      for (int i = 0; i < c1; i++)
        for (int j = 0; j < c2; j++) {
          const int si = dim == 1 ? r * chunk + i : i, sj = dim == 2 ? r * chunk + j : j;
          float *o = send + ((((int64_t)r * B + b) * c1 + i) * c2 + j) * C;
          if ((dim == 1 ? si : sj) >= n) memset(o, 0, (size_t)C * sizeof(float));
          else memcpy(o, src + (((int64_t)b * d1 + si) * d2 + sj) * C, (size_t)C * sizeof(float));
        }
}

void cpu_dsp_unpack(float *dst, const float *recv, int B, int d1, int d2, int C, int dim, int chunk, int ranks) {
  const int c1 = dim == 1 ? chunk : d1, c2 = dim == 2 ? chunk : d2;
  for (int r = 0; r < ranks; r++)
    for (int b = 0; b < B; b++)
      for (int i = 0; i < c1; i++)
        for (int j = 0; j < c2; j++) {
          const int di = dim == 1 ? r * chunk + i : i, dj = dim == 2 ? r * chunk + j : j;
          if (di >= d1 || dj >= d2) continue; /* padding */
          memcpy(dst + (((int64_t)b * d1 + di) * d2 + dj) * C,
                 recv + ((((int64_t)r * B + b) * c1 + i) * c2 + j) * C, (size_t)C * sizeof(float));
        }
}
