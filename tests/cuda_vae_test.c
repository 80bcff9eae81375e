/* tests/cuda_vae_test.c: the CUDA ops of the video decoders (runtime/cuda/vae.cu,
 * vae_attention.cu, vae_cudnn.cu) against references on fresh fixed-seed random inputs of small,
 * odd shapes: conv3d through the own implicit GEMM and through cuDNN (both padding modes, causal,
 * symmetric and oversized pads, 1x1x1 to 3x3x3 kernels, every tile shape of the own kernel, long
 * reductions), GroupNorm pooled over frames and per frame (with and without SiLU, in place,
 * groups spread over many blocks, a workspace that forces long pieces), frame attention (one and
 * several key and channel tiles), and the elementwise and copy ops. The references are private
 * float64 loops written from runtime/cpu/ops.h's contract (runtime/cpu/vae.c is written apart;
 * this test does not link it). Compiled once per storage (-DDITC_STORAGE); inputs in storage are
 * rounded to it on the host first, so the reference sees the same values, and each check's
 * tolerance is declared beside it (tests/cuda_test.h: U, one per rounding the GPU makes that the
 * reference does not). Ends with "N passed, N failed"; without a GPU it prints "skipped: no CUDA
 * device" and exits 0. Rates at release shapes: tools/vae_rates.cu. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_test.h"

/* Elementwise ops: the project's fp32 defaults (a couple of fp32 roundings), applied to |ref| plus
 * the magnitude of the terms that may cancel. */
static const double ELEM_RTOL = 1.3e-6, ELEM_ATOL = 1e-5;

/* ---- conv3d --------------------------------------------------------------------------------- */

typedef struct {
  const char *name;
  int64_t N, Cin, Cout, T, H, W, kt, kh, kw, pt0, pt1, ph, pw, replicate, bias;
} conv_case;

static int64_t conv_out(const conv_case *c) {
  return c->N * c->Cout * (c->T + c->pt0 + c->pt1 - c->kt + 1) * (c->H + 2 * c->ph - c->kh + 1) *
         (c->W + 2 * c->pw - c->kw + 1);
}

/* out as cpu_conv3d, each sum in float64 in index order; mag: the sum of |terms| (bias included). */
static void ref_conv3d(float *out, float *mag, const float *src, const float *w, const float *b, const conv_case *c) {
  const int64_t To = c->T + c->pt0 + c->pt1 - c->kt + 1, Ho = c->H + 2 * c->ph - c->kh + 1;
  const int64_t Wo = c->W + 2 * c->pw - c->kw + 1;
  int64_t o = 0;
  for (int64_t n = 0; n < c->N; n++)
    for (int64_t co = 0; co < c->Cout; co++)
      for (int64_t t = 0; t < To; t++)
        for (int64_t y = 0; y < Ho; y++)
          for (int64_t x = 0; x < Wo; x++, o++) {
            double s = b ? b[co] : 0.0, a = b ? fabs(b[co]) : 0.0;
            for (int64_t ci = 0; ci < c->Cin; ci++)
              for (int64_t dt = 0; dt < c->kt; dt++) {
                int64_t ti = t + dt - c->pt0;
                if (ti < 0 || ti >= c->T) {
                  if (!c->replicate) continue;
                  ti = ti < 0 ? 0 : c->T - 1;
                }
                for (int64_t dy = 0; dy < c->kh; dy++)
                  for (int64_t dx = 0; dx < c->kw; dx++) {
                    const int64_t yi = y + dy - c->ph, xi = x + dx - c->pw;
                    if (yi < 0 || yi >= c->H || xi < 0 || xi >= c->W) continue;
                    const double p = (double)w[(((co * c->Cin + ci) * c->kt + dt) * c->kh + dy) * c->kw + dx] *
                                     src[(((n * c->Cin + ci) * c->T + ti) * c->H + yi) * c->W + xi];
                    s += p, a += fabs(p);
                  }
              }
            out[o] = (float)s, mag[o] = (float)a;
          }
}

/* Both implementations against the reference; the own kernel also twice, bit-identical. */
static void conv_check(const conv_case *c, cuda_conv_dnn *dnn, int *dnn_ran) {
  const int64_t ns = c->N * c->Cin * c->T * c->H * c->W, nw = c->Cout * c->Cin * c->kt * c->kh * c->kw;
  const int64_t no = conv_out(c), K = c->Cin * c->kt * c->kh * c->kw;
  float *x = randn(ns, 0.0f, 1.0f), *w = randn(nw, 0.0f, (float)(1.0 / sqrt((double)K)));
  float *b = c->bias ? randn(c->Cout, 0.0f, 0.5f) : NULL, *r = hf(no), *mag = hf(no), *g = hf(no), *g2 = hf(no);
  ditc_st *dx = dputs(x, ns), *dw = dputs(w, nw), *db = b ? dputs(b, c->Cout) : NULL;
  ditc_st *d = dzeros(no), *d2 = dzeros(no);
  ref_conv3d(r, mag, x, w, b, c);
  /* fp32 sums of K terms in another order: about sqrt(K) 2^-24 of sum |terms| in practice (the
   * worst case K 2^-24 is 6e-5 at this test's largest K, 1080); 1e-5 of sum |terms| is a margin
   * of 5x at K = 1080. 16-bit storage: inputs are the reference's, the output is rounded once. */
  const double rtol = 1e-5;
  char nm[160];
  cuda_conv3d(&ctx, d, dx, dw, db, c->N, c->Cin, c->Cout, c->T, c->H, c->W, c->kt, c->kh, c->kw, c->pt0, c->pt1, c->ph,
              c->pw, c->replicate);
  gets(g, d, no);
  snprintf(nm, sizeof nm, "conv3d own kernel: %s", c->name);
  check_st_scaled(nm, g, r, mag, no, rtol, 0.0, 1);
  cuda_conv3d(&ctx, d2, dx, dw, db, c->N, c->Cin, c->Cout, c->T, c->H, c->W, c->kt, c->kh, c->kw, c->pt0, c->pt1,
              c->ph, c->pw, c->replicate);
  gets(g2, d2, no);
  snprintf(nm, sizeof nm, "conv3d own kernel deterministic: %s", c->name);
  check_bits(nm, g, g2, no);

  const int64_t before = cuda_conv_dnn_executions(dnn);
  CK(cudaMemset(d2, 0xff, (size_t)no * sizeof(ditc_st))); /* NaN everywhere: every output must be written */
  cuda_conv3d_cudnn(&ctx, dnn, d2, dx, dw, db, c->N, c->Cin, c->Cout, c->T, c->H, c->W, c->kt, c->kh, c->kw, c->pt0,
                    c->pt1, c->ph, c->pw, c->replicate);
  gets(g2, d2, no);
  const int64_t ran = cuda_conv_dnn_executions(dnn) - before;
  *dnn_ran += ran > 0;
  snprintf(nm, sizeof nm, "conv3d cuDNN (%s): %s", ran ? "ran" : "fell back to the own kernel", c->name);
  check_st_scaled(nm, g2, r, mag, no, rtol, 0.0, 1); /* the same budget: fp32 products and sums */
  release();
}

static void test_conv3d(void) {
  static const conv_case cases[] = {
      /* name, N, Cin, Cout, T, H, W, kt, kh, kw, pt0, pt1, ph, pw, replicate, bias */
      {"causal zero pad 3x3x3, 7 channels (16 x 256 tiles)", 2, 5, 7, 4, 6, 9, 3, 3, 3, 2, 0, 1, 1, 0, 1},
      {"causal replicate pad 3x3x3, 7 channels", 2, 5, 7, 4, 6, 9, 3, 3, 3, 2, 0, 1, 1, 1, 1},
      {"symmetric time pad 3x1x1, 24 channels (32 x 128 tiles)", 1, 12, 24, 5, 7, 8, 3, 1, 1, 1, 1, 0, 0, 0, 1},
      {"1x3x3, 70 channels (64 x 64 tiles, a ragged row tile)", 2, 8, 70, 2, 9, 11, 1, 3, 3, 0, 0, 1, 1, 0, 1},
      {"3x3x3 replicate, K 1080 -> 130 channels", 1, 40, 130, 3, 6, 7, 3, 3, 3, 2, 0, 1, 1, 1, 1},
      {"3x3x3 replicate, 136 channels x 4320 positions (128 x 128 tiles)", 1, 8, 136, 3, 40, 36, 3, 3, 3, 2, 0, 1, 1,
       1, 1},
      {"1x1x1, no bias", 3, 16, 4, 2, 5, 5, 1, 1, 1, 0, 0, 0, 0, 0, 0},
      {"2x1x3 replicate on one frame, pads (0, 1) in time, 2 across", 2, 3, 5, 1, 4, 6, 2, 1, 3, 0, 1, 0, 2, 1, 1},
      {"zero pads wider than the kernel (all-padding windows)", 1, 4, 6, 2, 3, 3, 3, 3, 3, 3, 2, 2, 2, 0, 1},
      {"replicate, time pads on both sides, more than a slice of K", 1, 3, 9, 3, 4, 5, 3, 2, 2, 2, 2, 1, 1, 1, 0},
  };
  cuda_conv_dnn *dnn = cuda_conv_dnn_init(&ctx);
  if (!result(dnn != NULL, "cuda_conv_dnn_init", "a cuDNN handle on the context's stream")) return;
  int ran = 0;
  const int n = (int)(sizeof cases / sizeof cases[0]);
  for (int i = 0; i < n; i++) conv_check(&cases[i], dnn, &ran);
  /* an engine per shape is cuDNN's choice; none at all means the cuDNN path was never compared */
  result(ran > 0, "conv3d cuDNN ran", "%d of %d cases through cuDNN (the rest fell back with a note)", ran, n);
  cuda_conv_dnn_free(dnn);
}

/* ---- group_norm ----------------------------------------------------------------------------- */

static void ref_group_norm(float *out, float *mag, const float *x, const float *gamma, const float *beta, int64_t N,
                           int64_t C, int64_t T, int64_t HW, int64_t G, float eps, int per_frame, int silu) {
  const int64_t Cg = C / G, nt = per_frame ? T : 1, tl = per_frame ? 1 : T;
  for (int64_t n = 0; n < N; n++)
    for (int64_t g = 0; g < G; g++)
      for (int64_t t0 = 0; t0 < nt; t0++) {
        double s = 0.0, ss = 0.0, cnt = (double)(Cg * tl * HW);
        for (int pass = 0; pass < 2; pass++)
          for (int64_t c = g * Cg; c < (g + 1) * Cg; c++)
            for (int64_t t = t0; t < t0 + tl; t++)
              for (int64_t p = 0; p < HW; p++) {
                const double v = x[((n * C + c) * T + t) * HW + p];
                if (pass == 0) s += v;
                else ss += (v - s / cnt) * (v - s / cnt);
              }
        const double mean = s / cnt, rstd = 1.0 / sqrt(ss / cnt + (double)eps);
        for (int64_t c = g * Cg; c < (g + 1) * Cg; c++)
          for (int64_t t = t0; t < t0 + tl; t++)
            for (int64_t p = 0; p < HW; p++) {
              const int64_t i = ((n * C + c) * T + t) * HW + p;
              const double nv = (x[i] - mean) * rstd * gamma[c], y = nv + beta[c];
              out[i] = (float)(silu ? y / (1.0 + exp(-y)) : y);
              mag[i] = (float)(fabs(nv) + fabs(beta[c]));
            }
      }
}

static void gn_case(int64_t N, int64_t C, int64_t T, int64_t HW, int64_t G, float eps, int per_frame, int silu,
                    int in_place, size_t workspace_bytes) {
  const int64_t n = N * C * T * HW;
  float *x = randn(n, 3.0f, 2.0f), *ga = randn(C, 1.0f, 0.5f), *be = randn(C, 0.0f, 0.5f);
  float *r = hf(n), *mag = hf(n), *g = hf(n);
  ditc_st *dx = dputs(x, n), *dg = dputs(ga, C), *db = dputs(be, C), *d = in_place ? dx : dzeros(n);
  ref_group_norm(r, mag, x, ga, be, N, C, T, HW, G, eps, per_frame, silu);
  const size_t keep = ctx.workspace_bytes;
  if (workspace_bytes) ctx.workspace_bytes = workspace_bytes;
  cuda_group_norm(&ctx, d, dx, dg, db, N, C, T, HW, G, eps, per_frame, silu);
  ctx.workspace_bytes = keep;
  gets(g, d, n);
  char nm[200];
  snprintf(nm, sizeof nm, "group_norm N%lld C%lld T%lld HW%lld G%lld %s%s%s%s", (long long)N, (long long)C,
           (long long)T, (long long)HW, (long long)G, per_frame ? "per frame" : "over frames", silu ? " + silu" : "",
           in_place ? ", in place" : "", workspace_bytes ? ", 128-byte workspace (long pieces)" : "");
  /* statistics in double (at least as good as the reference's); then fp32: the mean's rounding
   * (2^-24 |mean| rstd |gamma|, about 1e-7 for these mean-3 inputs) and a few roundings of the
   * normalized value and its affine terms (|ref| + |terms|), sigmoid's exp rounded once */
  check_st_scaled(nm, g, r, mag, n, 4e-6, 1e-6, 1);
  release();
}

static void test_group_norm(void) {
  gn_case(2, 12, 3, 35, 3, 1e-5f, 0, 0, 0, 0);
  gn_case(2, 12, 3, 35, 3, 1e-6f, 1, 1, 0, 0);
  gn_case(2, 12, 3, 35, 3, 1e-6f, 0, 1, 1, 0);
  gn_case(1, 8, 5, 4096, 2, 1e-6f, 0, 1, 0, 0);     /* groups of 81920: 10 blocks each */
  gn_case(1, 8, 2, 20000, 4, 1e-6f, 1, 0, 0, 0);    /* per frame, rows of 20000: 3 pieces each */
  gn_case(1, 8, 5, 4096, 2, 1e-5f, 0, 0, 0, 128);   /* 3 pieces of 27307 per group */
  gn_case(3, 32, 1, 64 * 64, 32, 1e-6f, 1, 1, 1, 0); /* an image decoder's frames, in place */
}

/* ---- frame_attention --------------------------------------------------------------------------- */

static void ref_frame_attention(float *out, const float *q, const float *k, const float *v, int64_t N, int64_t C,
                                int64_t T, int64_t HW, double scale) {
  double *s = malloc(sizeof(double) * (size_t)HW);
  for (int64_t n = 0; n < N; n++)
    for (int64_t t = 0; t < T; t++) {
      const int64_t base = (n * C * T + t) * HW, cs = T * HW;
      for (int64_t p = 0; p < HW; p++) {
        double mx = -INFINITY, sum = 0.0;
        for (int64_t j = 0; j < HW; j++) {
          double d = 0.0;
          for (int64_t c = 0; c < C; c++) d += (double)q[base + c * cs + p] * k[base + c * cs + j];
          s[j] = scale * d;
          mx = fmax(mx, s[j]);
        }
        for (int64_t j = 0; j < HW; j++) sum += s[j] = exp(s[j] - mx);
        for (int64_t c = 0; c < C; c++) {
          double o = 0.0;
          for (int64_t j = 0; j < HW; j++) o += s[j] * v[base + c * cs + j];
          out[base + c * cs + p] = (float)(o / sum);
        }
      }
    }
  free(s);
}

static void fa_case(int64_t N, int64_t C, int64_t T, int64_t HW, const char *what) {
  const int64_t n = N * C * T * HW;
  const float scale = (float)(1.0 / sqrt((double)C));
  float *q = randn(n, 0.0f, 1.0f), *k = randn(n, 0.0f, 1.0f), *v = randn(n, 0.0f, 1.0f), *r = hf(n), *g = hf(n);
  ditc_st *dq = dputs(q, n), *dk = dputs(k, n), *dv = dputs(v, n), *d = dzeros(n);
  ref_frame_attention(r, q, k, v, N, C, T, HW, scale);
  cuda_frame_attention(&ctx, d, dq, dk, dv, N, C, T, HW, scale);
  gets(g, d, n);
  char nm[160];
  snprintf(nm, sizeof nm, "frame_attention N%lld C%lld T%lld HW%lld (%s)", (long long)N, (long long)C, (long long)T,
           (long long)HW, what);
  /* fp32 scores summed over C and an online softmax with CUDA's expf against float64 (the DiT
   * attention test's 1e-4 of max|out|); 16-bit: the same inputs, the output rounded once */
  check_rel(nm, g, r, n, rel_st(1e-4, 1), nmse_st(1, 1e-9));
  release();
}

static void test_frame_attention(void) {
  fa_case(1, 8, 2, 37, "one key tile, ragged");
  fa_case(2, 64, 1, 130, "three key and five query tiles");
  fa_case(1, 100, 2, 70, "the 512-channel kernel");
  fa_case(1, 520, 1, 40, "two channel tiles");
  fa_case(1, 512, 1, 200, "a mid block's width");
}

/* ---- resampling and copies ------------------------------------------------------------------- */

static void test_copies(void) {
  const int64_t R = 12, H = 5, W = 7, n = R * H * W;
  float *x = randn(n, 0.0f, 1.0f), *r = hf(4 * n), *g = hf(4 * n);
  ditc_st *dx = dputs(x, n), *d = dzeros(4 * n);
  for (int64_t i = 0; i < 4 * n; i++) {
    const int64_t xx = i % (2 * W), y = i / (2 * W) % (2 * H), rr = i / (4 * H * W);
    r[i] = x[(rr * H + y / 2) * W + xx / 2];
  }
  cuda_upsample2x(&ctx, d, dx, R, H, W);
  gets(g, d, 4 * n);
  check_close("upsample2x R12 5x7", g, r, 4 * n, 0.0, 0.0); /* copies: exact */

  const int64_t N = 2, C = 3, T = 4, HW = 10, m = N * 2 * C * T * HW;
  float *s = randn(m, 0.0f, 1.0f), *r2 = hf(m), *g2 = hf(m);
  ditc_st *ds = dputs(s, m), *d2 = dzeros(m);
  for (int64_t nn = 0; nn < N; nn++)
    for (int64_t c = 0; c < C; c++)
      for (int64_t f = 0; f < 2 * T; f++)
        for (int64_t p = 0; p < HW; p++)
          r2[((nn * C + c) * 2 * T + f) * HW + p] = s[((nn * 2 * C + 2 * c + f % 2) * T + f / 2) * HW + p];
  cuda_depth_to_time(&ctx, d2, ds, N, C, T, HW);
  gets(g2, d2, m);
  check_close("depth_to_time N2 C3 T4 HW10", g2, r2, m, 0.0, 0.0);

  /* copy4: the box [2, 3, 4, 5] at (1, 1, 1, 1) of a [3, 4, 5, 6] tensor into a [5, 4, 3, 2] layout */
  const int64_t ns = 3 * 4 * 5 * 6, nb = 2 * 3 * 4 * 5;
  float *a = randn(ns, 0.0f, 1.0f), *r3 = hf(nb + 7), *g3 = hf(nb + 7);
  ditc_st *da = dputs(a, ns), *d3 = dzeros(nb + 7);
  const int64_t os = 1 * 120 + 1 * 30 + 1 * 6 + 1, od = 7; /* destination strides: i3 slowest */
  for (int64_t i0 = 0; i0 < 2; i0++)
    for (int64_t i1 = 0; i1 < 3; i1++)
      for (int64_t i2 = 0; i2 < 4; i2++)
        for (int64_t i3 = 0; i3 < 5; i3++)
          r3[od + i0 + i1 * 2 + i2 * 6 + i3 * 24] = a[os + i0 * 120 + i1 * 30 + i2 * 6 + i3];
  cuda_copy4(&ctx, d3, da, 2, 3, 4, 5, os, 120, 30, 6, 1, od, 1, 2, 6, 24);
  gets(g3, d3, nb + 7);
  check_close("copy4 a [2,3,4,5] box into a transposed layout at offset 7", g3, r3, nb + 7, 0.0, 0.0);
  release();
}

static void test_time_lerp2x(void) {
  const int64_t R = 6, HW = 9;
  for (int ti = 0; ti < 3; ti++) {
    const int64_t T = (const int64_t[]){1, 2, 4}[ti]; /* a copy; one frame interpolated; three */
    const int64_t n = R * T * HW, To = 2 * T - 1, no = R * To * HW;
    float *x = randn(n, 0.0f, 1.0f), *r = hf(no), *mag = hf(no), *g = hf(no);
    ditc_st *dx = dputs(x, n), *d = dzeros(no);
    for (int64_t rr = 0; rr < R; rr++)
      for (int64_t f = 0; f < To; f++)
        for (int64_t p = 0; p < HW; p++) {
          const int64_t o = (rr * To + f) * HW + p;
          const float *xs = x + rr * T * HW + p;
          if (f == 0) {
            r[o] = xs[0], mag[o] = fabsf(xs[0]);
            continue;
          }
          const double src = fmax(0.5 * ((double)(f - 1) + 0.5) - 0.5, 0.0);
          const int64_t i0 = (int64_t)src, i1 = i0 + 1 < T - 1 ? i0 + 1 : T - 2;
          const double l = src - (double)i0, u = (1.0 - l) * xs[(1 + i0) * HW], w = l * xs[(1 + i1) * HW];
          r[o] = (float)(u + w), mag[o] = (float)(fabs(u) + fabs(w));
        }
    cuda_time_lerp2x(&ctx, d, dx, R, T, HW);
    gets(g, d, no);
    char nm[96];
    snprintf(nm, sizeof nm, "time_lerp2x R6 T%lld HW9 -> %lld frames", (long long)T, (long long)To);
    check_st_scaled(nm, g, r, mag, no, ELEM_RTOL, ELEM_ATOL, 1);
    release();
  }
}

/* ---- elementwise arithmetic ------------------------------------------------------------------- */

static void with_specials(float *x, int64_t n) { /* NaN/Inf parity */
  if (n > 9) x[2] = NAN, x[5] = INFINITY, x[9] = -INFINITY;
}

static void test_arith(void) {
  const int64_t n = 1001;
  char nm[128];
  for (int flip = 0; flip < 2; flip++) {
    float *a = randn(n, 0.0f, 1.0f), *b = randn(n, 0.0f, 1.0f), m[1] = {0.3f}, *r = hf(n), *mag = hf(n), *g = hf(n);
    with_specials(a, n);
    ditc_st *da = dputs(a, n), *db = dputs(b, n), *dm = dputs(m, 1);
    const double s = 1.0 / (1.0 + exp(-(double)m[0])), al = flip ? 1.0 - s : s;
    for (int64_t i = 0; i < n; i++) {
      r[i] = (float)(al * a[i] + (1.0 - al) * b[i]);
      mag[i] = (float)(fabs(al * a[i]) + fabs((1.0 - al) * b[i]));
    }
    cuda_mix(&ctx, db, da, db, dm, n, flip); /* out aliases b */
    gets(g, db, n);
    snprintf(nm, sizeof nm, "mix n1001 flip %d, out = b, with NaN/Inf", flip);
    check_st_scaled(nm, g, r, mag, n, ELEM_RTOL, ELEM_ATOL, 1);
    release();
  }

  const int64_t N = 2, C = 5, S = 13, na = N * C * S;
  float *x = randn(na, 0.0f, 2.0f), *a = randn(C, 1.0f, 0.5f), *b = randn(C, 0.0f, 0.5f), *r = hf(na), *mag = hf(na);
  float *g = hf(na);
  with_specials(x, na);
  ditc_st *dx = dputs(x, na), *dA = dputs(a, C), *dB = dputs(b, C);
  for (int64_t i = 0; i < na; i++) {
    const int64_t c = i / S % C;
    r[i] = (float)((double)x[i] * a[c] + b[c]), mag[i] = (float)(fabs((double)x[i] * a[c]) + fabs(b[c]));
  }
  cuda_channel_affine(&ctx, dx, dx, dA, dB, N, C, S);
  gets(g, dx, na);
  check_st_scaled("channel_affine N2 C5 S13, in place, with NaN/Inf", g, r, mag, na, ELEM_RTOL, ELEM_ATOL, 1);
  release();

  for (int divide = 0; divide < 2; divide++) {
    float *y = randn(n, 0.0f, 3.0f), *ry = hf(n), *gy = hf(n);
    with_specials(y, n);
    ditc_st *dy = dputs(y, n), *dz = dzeros(n);
    for (int64_t i = 0; i < n; i++) ry[i] = divide ? y[i] / 0.18215f : y[i] * 0.18215f; /* one fp32 op */
    cuda_scale(&ctx, dz, dy, n, 0.18215f, divide);
    gets(gy, dz, n);
    snprintf(nm, sizeof nm, "scale n1001 %s 0.18215, with NaN/Inf", divide ? "divide" : "multiply");
    check_st(nm, gy, ry, n, 0.0, 0.0, 1); /* the same IEEE operation: exact in fp32, one rounding after */
    release();
  }
}

/* b [R, Hb, Wb] blended in place from a [R, Ha, Wa] (cpu_tile_blend), weights as the contract says. */
static void blend_case(int64_t Ha, int64_t Wa, int64_t Hb, int64_t Wb, int64_t E, int axis) {
  const int64_t R = 3, na = R * Ha * Wa, nb = R * Hb * Wb;
  float *a = randn(na, 0.0f, 1.0f), *b = randn(nb, 0.0f, 1.0f), *r = hf(nb), *mag = hf(nb), *g = hf(nb);
  ditc_st *da = dputs(a, na), *db = dputs(b, nb);
  memcpy(r, b, sizeof(float) * (size_t)nb);
  const int64_t na_ = axis ? Wa : Ha, nb_ = axis ? Wb : Hb;
  const int64_t e = na_ < nb_ ? (na_ < E ? na_ : E) : (nb_ < E ? nb_ : E);
  const int64_t other = axis ? (Ha < Hb ? Ha : Hb) : (Wa < Wb ? Wa : Wb);
  for (int64_t rr = 0; rr < R; rr++)
    for (int64_t u = 0; u < e; u++)
      for (int64_t v = 0; v < other; v++) {
        const int64_t y = axis ? v : u, x = axis ? u : v;
        const float av = axis ? a[(rr * Ha + y) * Wa + Wa - e + x] : a[(rr * Ha + Ha - e + y) * Wa + x];
        const double l = (double)u / (double)e;
        const float wa = (float)(1.0 - l), wb = (float)l, bv = b[(rr * Hb + y) * Wb + x];
        r[(rr * Hb + y) * Wb + x] = av * wa + bv * wb;
        mag[(rr * Hb + y) * Wb + x] = fabsf(av * wa) + fabsf(bv * wb);
      }
  cuda_tile_blend(&ctx, db, da, R, Ha, Wa, Hb, Wb, E, axis);
  gets(g, db, nb);
  char nm[128];
  snprintf(nm, sizeof nm, "tile_blend %s: a %lldx%lld, b %lldx%lld, E %lld (%lld %s)", axis ? "left" : "above",
           (long long)Ha, (long long)Wa, (long long)Hb, (long long)Wb, (long long)E, (long long)e,
           axis ? "columns" : "rows");
  check_st_scaled(nm, g, r, mag, nb, ELEM_RTOL, ELEM_ATOL, 1);
  release();
}

/* ---- to and from the io buffers -------------------------------------------------------------- */

static uint8_t host_u8(float x, int mode) { /* the contract's order (C11: no contraction) */
  float u;
  if (mode == 0) {
    const float v = (fminf(fmaxf(x, -1.0f), 1.0f) + 1.0f) / 2.0f;
    u = fminf(fmaxf(v * 255.0f + 0.5f, 0.0f), 255.0f);
  } else {
    u = fminf(fmaxf(x / 2.0f + 0.5f, 0.0f), 1.0f) * 255.0f;
  }
  return (uint8_t)(int)u;
}

static void test_io(void) {
  const int64_t N = 2, C = 3, T = 2, HW = 37, n = N * C * T * HW;
  for (int mode = 0; mode < 2; mode++) {
    float *x = randn(n, 0.0f, 0.8f);
    /* the ends, the clamps and values where the rounding or truncation decides */
    const float special[] = {-1.0f, 1.0f, 0.0f, -1.5f, 1.5f, -0.0f, 2.0f / 255.0f - 1.0f, 1.0f / 255.0f - 1.0f,
                             3.0f / 510.0f, -3.0f / 510.0f, 0.998f, -0.998f, 1e-8f, -1e-8f, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) x[i * 7] = special[i];
    ditc_st *dx = dputs(x, n); /* x rounded to storage: the host converts the same values */
    uint8_t *du = dput(NULL, (size_t)n), *gu = halloc((size_t)n);
    int32_t *r = halloc(sizeof(int32_t) * (size_t)n), *g = halloc(sizeof(int32_t) * (size_t)n);
    for (int64_t nn = 0; nn < N; nn++)
      for (int64_t c = 0; c < C; c++)
        for (int64_t t = 0; t < T; t++)
          for (int64_t p = 0; p < HW; p++)
            r[((nn * T + t) * HW + p) * C + c] = host_u8(x[((nn * C + c) * T + t) * HW + p], mode);
    cuda_to_u8(&ctx, du, dx, N, C, T, HW, mode);
    get(gu, du, (size_t)n);
    for (int64_t i = 0; i < n; i++) g[i] = gu[i];
    check_int(mode ? "to_u8 mode 1 (truncating), frames [N, T, HW, C], specials" :
                     "to_u8 mode 0 (rounding), frames [N, T, HW, C], specials", g, r, n);
    release();
  }
  const int64_t m = 999;
  float *x = randn(m, 0.0f, 5.0f), *want = dup(x, m), *g = hf(m);
  with_specials(x, m);
  with_specials(want, m);
  float *dx = dputf(x, m);
  ditc_st *d = dzeros(m);
  (void)dputs(want, m); /* the harness's conversion rounds want in place */
  cuda_from_f32(&ctx, d, dx, m);
  gets(g, d, m);
  check_close("from_f32 n999: the storage rounding, with NaN/Inf", g, want, m, 0.0, 0.0);
  release();
}

/* ---- main ------------------------------------------------------------------------------------ */

int main(void) {
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev <= 0) {
    printf("skipped: no CUDA device\n");
    return 0;
  }
  if (cuda_ctx_init(&ctx)) {
    printf("not ok - cuda_ctx_init\n0 passed, 1 failed\n");
    return 1;
  }
  ctx.workspace_bytes = 32u << 20; /* what the generated plan gives (gen/core/bake.lua) */
  CK(cudaMalloc(&ctx.workspace, ctx.workspace_bytes));
  void *workspace = ctx.workspace;
  printf("# CUDA video decoder ops in %s storage\n", STORAGE);
  test_conv3d();
  test_group_norm();
  test_frame_attention();
  test_copies();
  test_time_lerp2x();
  test_arith();
  blend_case(6, 7, 5, 8, 4, 0);
  blend_case(6, 7, 5, 8, 10, 0); /* E past both heights */
  blend_case(6, 7, 5, 8, 3, 1);
  blend_case(4, 3, 6, 5, 16, 1); /* a narrow left neighbour */
  test_io();
  cuda_ctx_free(&ctx);
  CK(cudaFree(workspace));
  return summary();
}
