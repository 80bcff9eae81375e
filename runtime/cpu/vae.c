/* cpu/vae.c: the fp32 reference ops of the video decoders (the VAEs of Open-Sora 1.2, Latte-1 and
 * Open-Sora-Plan v1.1; upstream: VideoSys's videosys/models/autoencoders/ and diffusers v0.30's
 * AutoencoderKLTemporalDecoder; the contract is the "video decoders" section of cpu/ops.h): 3-D
 * convolution with causal or symmetric time padding, GroupNorm pooling frames or not, the
 * resampling and mixing steps, per-frame attention, tile blending and the uint8 frame conversions.
 * Float operations follow upstream's order where it decides rounding (mix factors, blend weights,
 * the uint8 formulas); every parallel loop computes whole outputs, each in a fixed order, so the
 * result does not depend on the number of OpenMP threads. Nothing here allocates: the attention's
 * scratch is a bounded stack array. Not here: the decoders' graphs (the generator emits them), the
 * CUDA versions (runtime/cuda/). */
#include <math.h>
#include <string.h>

#include "cpu/dot.h"
#include "cpu/ops.h"
#include "cpu/isa.h"
#include "cpu/vae_kernels.h"
#include "cpu/vmath.h"
#include "ditc_abi.h"

#define PARALLEL_MIN (1 << 20) /* as cpu/ops.c: work (multiply-adds) below which a loop runs on one thread */

static int64_t min64(int64_t a, int64_t b) { return a < b ? a : b; }
static int64_t max64(int64_t a, int64_t b) { return a > b ? a : b; }

static float sigmoidf(float x) { return 1.0f / (1.0f + expf(-x)); }

/* ---- convolution ------------------------------------------------------------------------- */

/* Output floats of one work item of cpu_conv3d: a tile of whole rows of one output plane, small
 * enough to stay in L1 while every input channel and tap adds into it. */
#define CONV_TILE 2048

/* One output row o[0, Wo) += the kw column taps wr[dx] times the input row (x + dx - pw), in dx
 * order, each a fused multiply-add, skipping the columns in the zero padding. The common kw 3 adds
 * its three taps in one pass where all are inside the row (the same chain in the same order, one
 * load and store of o). An AVX-512 clone and the portable one (the same bits: cpu/rowsum.h). */
CPU_CLONES static void conv_row(float *o, const float *row, const float *wr, int64_t W, int64_t Wo, int64_t kw, int64_t pw) {
  if (kw == 3) {
    const int64_t fa = min64(max64(0, pw), Wo), fb = max64(min64(Wo, W + pw - 2), fa); /* all taps inside */
    for (int64_t x = 0; x < Wo; x++) { /* the edge columns [0, fa) and [fb, Wo), tap by tap */
      if (x == fa) x = fb;
      if (x >= Wo) break;
      for (int64_t dx = 0; dx < 3; dx++) {
        const int64_t ix = x + dx - pw;
        if (ix >= 0 && ix < W) o[x] = fmaf(wr[dx], row[ix], o[x]);
      }
    }
    const float w0 = wr[0], w1 = wr[1], w2 = wr[2], *s = row + (fa - pw);
    float *d = o + fa;
#pragma omp simd
    for (int64_t x = 0; x < fb - fa; x++) d[x] = fmaf(w2, s[x + 2], fmaf(w1, s[x + 1], fmaf(w0, s[x], d[x])));
    return;
  }
  for (int64_t dx = 0; dx < kw; dx++) {
    const int64_t xa = max64(0, pw - dx), xb = min64(Wo, W + pw - dx); /* columns inside the row */
    const float wv = wr[dx], *s = row + (xa + dx - pw);
    float *d = o + xa;
#pragma omp simd
    for (int64_t x = 0; x < xb - xa; x++) d[x] = fmaf(wv, s[x], d[x]);
  }
}

/* A work item is a tile of rows [y0, y1) of the output plane (n, co, to): bias, then for every
 * input channel ci, time tap dt and row tap dy in that order, conv_row: each output element sums
 * bias + w * x over (ci, dt, dy, dx) in that order as one chain of fused multiply-adds, skipping
 * the taps in zero padding, whatever the tiling or thread count. The time padding picks a source
 * frame (or none) per tap; the spatial padding clips the rows and columns a tap reaches, so no
 * padded copy of the input is made. */
void cpu_conv3d(float *out, const float *src, const float *w, const float *b, int64_t N, int64_t Cin, int64_t Cout,
                int64_t T, int64_t H, int64_t W, int64_t kt, int64_t kh, int64_t kw, int64_t pt0, int64_t pt1,
                int64_t ph, int64_t pw, int64_t replicate) {
  const int64_t To = T + pt0 + pt1 - kt + 1, Ho = H + 2 * ph - kh + 1, Wo = W + 2 * pw - kw + 1;
  if (N <= 0 || Cout <= 0 || To <= 0 || Ho <= 0 || Wo <= 0) return;
  const int64_t rows = min64(max64(CONV_TILE / Wo, 1), Ho), ntile = (Ho + rows - 1) / rows;
  /* output channels a work item takes: 8, then 4, at once where the AVX-512 kernel runs
   * (vae_kernels.h: the same bits), the rest one by one; unit u < b8 takes channels 8u.., unit
   * b8 + i < blocks takes 8 b8 + 4i.. */
  const int64_t b8 = cpu_conv3d_block_runs(kw) ? Cout / 8 : 0, b4 = cpu_conv3d_block_runs(kw) ? Cout % 8 / 4 : 0;
  const int64_t blocks = b8 + b4, done = 8 * b8 + 4 * b4, units = blocks + (Cout - done);
  const int64_t items = N * units * To * ntile;
  const int64_t macs = N * Cout * To * Ho * Wo * Cin * kt * kh * kw;
#pragma omp parallel for schedule(static) if (macs > PARALLEL_MIN)
  for (int64_t it = 0; it < items; it++) {
    const int64_t tile = it % ntile, to = it / ntile % To, u = it / ntile / To % units, n = it / ntile / To / units;
    const int64_t y0 = tile * rows, y1 = min64(y0 + rows, Ho);
    if (u < blocks) {
      const int64_t co = u < b8 ? 8 * u : 8 * b8 + 4 * (u - b8);
      cpu_conv3d_block(u < b8 ? 8 : 4, out + ((n * Cout + co) * To + to) * Ho * Wo, To * Ho * Wo,
                       src + n * Cin * T * H * W, w + co * Cin * kt * kh * kw, b ? b + co : NULL, Cin, T, H, W, kt, kh,
                       kw, pt0, ph, pw, replicate, to, y0, y1, Wo);
      continue;
    }
    const int64_t co = done + (u - blocks);
    float *plane = out + ((n * Cout + co) * To + to) * Ho * Wo; /* [Ho, Wo] */
    const float bias = b ? b[co] : 0.0f;
    for (int64_t i = y0 * Wo; i < y1 * Wo; i++) plane[i] = bias;
    for (int64_t ci = 0; ci < Cin; ci++)
      for (int64_t dt = 0; dt < kt; dt++) {
        int64_t ts = to + dt - pt0; /* the source frame of this tap */
        if (ts < 0 || ts >= T) {
          if (!replicate) continue; /* a zero frame */
          ts = ts < 0 ? 0 : T - 1;  /* a copy of the first / last frame */
        }
        const float *in = src + ((n * Cin + ci) * T + ts) * H * W;    /* [H, W] */
        const float *wk = w + ((co * Cin + ci) * kt + dt) * kh * kw; /* [kh, kw] */
        for (int64_t dy = 0; dy < kh; dy++) {
          const int64_t ya = max64(y0, ph - dy), yb = min64(y1, H + ph - dy); /* rows inside the input */
          for (int64_t y = ya; y < yb; y++) conv_row(plane + y * Wo, in + (y + dy - ph) * W, wk + dy * kw, W, Wo, kw, pw);
        }
      }
  }
}

/* ---- normalization ----------------------------------------------------------------------- */

/* Sum of x[0..n) and of (x - mean)^2 in double, eight partial sums combined in a fixed order
 * (inlined into cpu_group_norm, so into its AVX-512 clone too). */
static inline __attribute__((always_inline)) double sum_run(const float *x, int64_t n) {
  double acc[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) acc[j] += x[i + j];
  double s = 0.0;
  for (; i < n; i++) s += x[i];
  for (int j = 0; j < 8; j++) s += acc[j];
  return s;
}

static inline __attribute__((always_inline)) double sq_dev_run(const float *x, int64_t n, double mean) {
  double acc[8] = {0};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; j++) acc[j] += (x[i + j] - mean) * (x[i + j] - mean);
  double s = 0.0;
  for (; i < n; i++) s += (x[i] - mean) * (x[i] - mean);
  for (int j = 0; j < 8; j++) s += acc[j];
  return s;
}

/* One (n, group[, frame]) per work item: its channels' runs of `len` floats (all T frames, or one
 * frame), two passes in double for the statistics, then the affine map (and SiLU) in float. An
 * AVX-512 clone and the portable one, the same bits (cpu/rowsum.h). */
CPU_CLONES void cpu_group_norm(float *out, const float *src, const float *gamma, const float *beta, int64_t N, int64_t C,
                    int64_t T, int64_t HW, int64_t G, float eps, int64_t per_frame, int64_t silu) {
  const int64_t cg = C / G, nf = per_frame ? T : 1, len = per_frame ? HW : T * HW;
  const int64_t items = N * G * nf;
#pragma omp parallel for schedule(static) if (N * C * T * HW * 8 > PARALLEL_MIN)
  for (int64_t it = 0; it < items; it++) {
    const int64_t f = it % nf, g = it / nf % G, n = it / nf / G;
    const int64_t off0 = ((n * C + g * cg) * T + f) * HW, cstride = T * HW; /* channel c0 + i at off0 + i*cstride */
    double sum = 0.0;
    for (int64_t i = 0; i < cg; i++) sum += sum_run(src + off0 + i * cstride, len);
    const double count = (double)cg * (double)len, mean = sum / count;
    double ss = 0.0;
    for (int64_t i = 0; i < cg; i++) ss += sq_dev_run(src + off0 + i * cstride, len, mean);
    const float m = (float)mean, rstd = (float)(1.0 / sqrt(ss / count + (double)eps));
    for (int64_t i = 0; i < cg; i++) {
      const int64_t c = g * cg + i;
      const float ga = gamma[c], be = beta[c];
      const float *x = src + off0 + i * cstride;
      float *o = out + off0 + i * cstride;
      if (silu) {
#pragma omp simd
        for (int64_t j = 0; j < len; j++) {
          const float y = (x[j] - m) * rstd * ga + be;
          o[j] = y / (1.0f + vm_exp(-y)); /* as cpu_silu */
        }
      } else {
#pragma omp simd
        for (int64_t j = 0; j < len; j++) o[j] = (x[j] - m) * rstd * ga + be;
      }
    }
  }
}

/* ---- resampling and mixing --------------------------------------------------------------- */

void cpu_upsample2x(float *out, const float *src, int64_t R, int64_t H, int64_t W) {
#pragma omp parallel for schedule(static) if (R * H * W * 4 > PARALLEL_MIN)
  for (int64_t ry = 0; ry < R * H; ry++) { /* source row y of plane r -> output rows 2y, 2y + 1 */
    const float *s = src + ry * W;
    float *o = out + ry * 4 * W; /* row (r, 2y) of [R, 2H, 2W] starts at (r*2H + 2y) * 2W = ry * 4W */
    for (int64_t x = 0; x < W; x++) o[2 * x] = o[2 * x + 1] = s[x];
    memcpy(o + 2 * W, o, (size_t)(2 * W) * sizeof *o);
  }
}

void cpu_depth_to_time(float *out, const float *src, int64_t N, int64_t C, int64_t T, int64_t HW) {
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t t = 0; t < T; t++)
        for (int64_t s = 0; s < 2; s++)
          memcpy(out + ((n * C + c) * 2 * T + 2 * t + s) * HW, src + ((n * 2 * C + 2 * c + s) * T + t) * HW,
                 (size_t)HW * sizeof *out);
}

/* PyTorch's linear interpolation (upsample_trilinear3d with scale 1 in H and W, which weighs the
 * one source pixel by 1): output frame i of the n = T - 1 upsampled ones reads src = 0.5 * (i +
 * 0.5) - 0.5 clamped at 0, i0 = floor(src), i1 = min(i0 + 1, n - 1), l = src - i0 (all exact in
 * float), and is (1 - l) * x[i0] + l * x[i1]. */
void cpu_time_lerp2x(float *out, const float *src, int64_t R, int64_t T, int64_t HW) {
  const int64_t To = 2 * T - 1, n = T - 1;
#pragma omp parallel for schedule(static) if (R * To * HW * 2 > PARALLEL_MIN)
  for (int64_t r = 0; r < R; r++) {
    const float *s = src + r * T * HW;
    float *o = out + r * To * HW;
    memcpy(o, s, (size_t)HW * sizeof *o); /* frame 0 kept */
    for (int64_t i = 0; i < 2 * n; i++) {
      float pos = 0.5f * ((float)i + 0.5f) - 0.5f;
      if (pos < 0.0f) pos = 0.0f;
      const int64_t i0 = (int64_t)pos, i1 = min64(i0 + 1, n - 1);
      const float l1 = pos - (float)i0, l0 = 1.0f - l1;
      const float *a = s + (1 + i0) * HW, *bb = s + (1 + i1) * HW;
      float *d = o + (1 + i) * HW;
#pragma omp simd
      for (int64_t p = 0; p < HW; p++) d[p] = l0 * a[p] + l1 * bb[p];
    }
  }
}

/* alpha = sigmoid(m) in float; flip: alpha = 1 - that (SVD's switch_spatial_to_temporal_mix, then
 * 1 - alpha is computed again, as upstream does). */
void cpu_mix(float *out, const float *a, const float *b, const float *m, int64_t n, int64_t flip) {
  float alpha = sigmoidf(m[0]);
  if (flip) alpha = 1.0f - alpha;
  const float beta = 1.0f - alpha;
#pragma omp parallel for schedule(static) if (n * 4 > PARALLEL_MIN)
  for (int64_t i = 0; i < n; i++) out[i] = alpha * a[i] + beta * b[i];
}

/* ---- attention --------------------------------------------------------------------------- */

/* Queries and keys per block of cpu_frame_attention: the scores of one block pair live on the stack
 * (QB x KB floats, 8 KiB), whatever the number of tokens. */
enum { ATT_QB = 16, ATT_KB = 128 };

/* Flash-style: per (n, t, block of ATT_QB queries), the keys in blocks of ATT_KB with a running max
 * and sum per query (the sum in double); out[:, p] accumulates sum_j exp(s_j - max) v[:, j] in
 * place, rescaled when the max grows, and is divided by the sum at the end. The channel-major
 * layout makes both inner loops contiguous: s[i, :] += q[c, p_i] * k[c, block] and out[c, p_i] +=
 * s[i, :] . v[c, block]. out must not alias q, k or v. */
void cpu_frame_attention(float *out, const float *q, const float *k, const float *v, int64_t N, int64_t C, int64_t T,
                         int64_t HW, float scale) {
  const int64_t nqb = (HW + ATT_QB - 1) / ATT_QB, cs = T * HW; /* blocks per frame, channel stride */
  const int64_t items = N * T * nqb;
#pragma omp parallel for schedule(static) if (N * T * HW * HW * C * 2 > PARALLEL_MIN)
  for (int64_t it = 0; it < items; it++) {
    const int64_t qb = it % nqb, t = it / nqb % T, n = it / nqb / T;
    const int64_t base = n * C * cs + t * HW, p0 = qb * ATT_QB, nq = min64(ATT_QB, HW - p0);
    float s[ATT_QB][ATT_KB], mx[ATT_QB], corr[ATT_QB];
    double l[ATT_QB];
    for (int64_t i = 0; i < nq; i++) mx[i] = -INFINITY, l[i] = 0.0;
    for (int64_t c = 0; c < C; c++)
      for (int64_t i = 0; i < nq; i++) out[base + c * cs + p0 + i] = 0.0f;
    for (int64_t j0 = 0; j0 < HW; j0 += ATT_KB) {
      const int64_t nk = min64(ATT_KB, HW - j0);
      for (int64_t i = 0; i < nq; i++)
        for (int64_t j = 0; j < nk; j++) s[i][j] = 0.0f;
      for (int64_t c = 0; c < C; c++) { /* raw scores q . k, summed over c in order */
        const float *kc = k + base + c * cs + j0, *qc = q + base + c * cs + p0;
        for (int64_t i = 0; i < nq; i++) {
          const float qi = qc[i];
          float *si = s[i];
#pragma omp simd
          for (int64_t j = 0; j < nk; j++) si[j] += qi * kc[j];
        }
      }
      for (int64_t i = 0; i < nq; i++) { /* scale, running max, exp, running sum */
        float bm = mx[i];
        for (int64_t j = 0; j < nk; j++) {
          s[i][j] *= scale;
          if (s[i][j] > bm) bm = s[i][j];
        }
        corr[i] = expf(mx[i] - bm); /* 0 on the first block (mx = -inf) */
        double sum = 0.0;
        for (int64_t j = 0; j < nk; j++) {
          s[i][j] = expf(s[i][j] - bm);
          sum += s[i][j];
        }
        l[i] = l[i] * corr[i] + sum;
        mx[i] = bm;
      }
      for (int64_t c = 0; c < C; c++) {
        const float *vc = v + base + c * cs + j0;
        float *oc = out + base + c * cs + p0;
        for (int64_t i = 0; i < nq; i++) oc[i] = oc[i] * corr[i] + cpu_dot(s[i], vc, (int)nk);
      }
    }
    for (int64_t i = 0; i < nq; i++) corr[i] = (float)(1.0 / l[i]);
    for (int64_t c = 0; c < C; c++)
      for (int64_t i = 0; i < nq; i++) out[base + c * cs + p0 + i] *= corr[i];
  }
}

/* ---- elementwise and copies -------------------------------------------------------------- */

void cpu_channel_affine(float *out, const float *src, const float *a, const float *b, int64_t N, int64_t C, int64_t S) {
#pragma omp parallel for schedule(static) if (N * C * S * 2 > PARALLEL_MIN)
  for (int64_t nc = 0; nc < N * C; nc++) {
    const float av = a[nc % C], bv = b[nc % C];
    const float *x = src + nc * S;
    float *o = out + nc * S;
#pragma omp simd
    for (int64_t s = 0; s < S; s++) o[s] = x[s] * av + bv;
  }
}

void cpu_scale(float *out, const float *src, int64_t n, float k, int64_t divide) {
  if (divide) {
#pragma omp parallel for schedule(static) if (n * 4 > PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = src[i] / k;
  } else {
#pragma omp parallel for schedule(static) if (n * 4 > PARALLEL_MIN)
    for (int64_t i = 0; i < n; i++) out[i] = src[i] * k;
  }
}

void cpu_copy4(float *out, const float *src, int64_t n0, int64_t n1, int64_t n2, int64_t n3, int64_t os, int64_t s0,
               int64_t s1, int64_t s2, int64_t s3, int64_t od, int64_t d0, int64_t d1, int64_t d2, int64_t d3) {
#pragma omp parallel for schedule(static) if (n0 * n1 * n2 * n3 * 2 > PARALLEL_MIN)
  for (int64_t i01 = 0; i01 < n0 * n1; i01++) {
    const int64_t i0 = i01 / n1, i1 = i01 % n1;
    for (int64_t i2 = 0; i2 < n2; i2++) {
      const float *s = src + os + i0 * s0 + i1 * s1 + i2 * s2;
      float *o = out + od + i0 * d0 + i1 * d1 + i2 * d2;
      if (s3 == 1 && d3 == 1) memcpy(o, s, (size_t)n3 * sizeof *o);
      else
        for (int64_t i3 = 0; i3 < n3; i3++) o[i3 * d3] = s[i3 * s3];
    }
  }
}

/* Weights y/e in double (Python's), rounded to float, then a * w0 + b * w1 in float (a tensor times
 * a Python float). */
void cpu_tile_blend(float *b, const float *a, int64_t R, int64_t Ha, int64_t Wa, int64_t Hb, int64_t Wb, int64_t E,
                    int64_t axis) {
  const int64_t e = axis == 0 ? min64(min64(Ha, Hb), E) : min64(min64(Wa, Wb), E);
  const int64_t cols = min64(Wa, Wb), rows = min64(Ha, Hb);
  if (e <= 0) return;
#pragma omp parallel for schedule(static) if (R * e * (axis == 0 ? cols : rows) * 4 > PARALLEL_MIN)
  for (int64_t r = 0; r < R; r++) {
    const float *ar = a + r * Ha * Wa;
    float *br = b + r * Hb * Wb;
    for (int64_t i = 0; i < e; i++) {
      const float w1 = (float)((double)i / (double)e), w0 = (float)(1.0 - (double)i / (double)e);
      if (axis == 0) { /* row i of b from row Ha - e + i of a */
        const float *as = ar + (Ha - e + i) * Wa;
        float *bs = br + i * Wb;
        for (int64_t x = 0; x < cols; x++) bs[x] = as[x] * w0 + bs[x] * w1;
      } else { /* column i of b from column Wa - e + i of a */
        for (int64_t y = 0; y < rows; y++) br[y * Wb + i] = ar[y * Wa + Wa - e + i] * w0 + br[y * Wb + i] * w1;
      }
    }
  }
}

/* ---- frames out, latents in -------------------------------------------------------------- */

/* The float formulas exactly as upstream writes them (each operation rounded to float, no
 * contraction), then truncation; a NaN (which the clamps of C comparisons let through) gives 0. */
static uint8_t u8_of(float x, int64_t mode) {
  float u;
  if (mode == 0) {
    float v = x < -1.0f ? -1.0f : x > 1.0f ? 1.0f : x;
    v = (v - (-1.0f)) / 2.0f;
    u = v * 255.0f + 0.5f;
    u = u < 0.0f ? 0.0f : u > 255.0f ? 255.0f : u;
  } else {
    float v = x / 2.0f + 0.5f;
    v = v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v;
    u = v * 255.0f;
  }
  return u >= 0.0f && u <= 255.0f ? (uint8_t)u : 0;
}

void cpu_to_u8(uint8_t *out, const float *src, int64_t N, int64_t C, int64_t T, int64_t HW, int64_t mode) {
#pragma omp parallel for schedule(static) if (N * C * T * HW * 4 > PARALLEL_MIN)
  for (int64_t nt = 0; nt < N * T; nt++) {
    const int64_t n = nt / T, t = nt % T;
    uint8_t *o = out + nt * HW * C; /* [HW, C] */
    for (int64_t c = 0; c < C; c++) {
      const float *x = src + ((n * C + c) * T + t) * HW;
      for (int64_t p = 0; p < HW; p++) o[p * C + c] = u8_of(x[p], mode);
    }
  }
}

void cpu_from_f32(float *out, const float *src, int64_t n) {
  if (out != src) memmove(out, src, (size_t)n * sizeof *out);
}

void cpu_progress(const ditc_exec *ex, int64_t stage, int64_t i, int64_t n) {
  if (ex->progress) ex->progress(ex->progress_ctx, (int)stage, i, n);
}
