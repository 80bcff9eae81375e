/* tests/vae_ops_test.c: the video decoders' CPU ops (runtime/cpu/vae.c) against naive references
 * written here from cpu/ops.h's contract: conv3d through an explicitly padded input in double,
 * GroupNorm by per-group mean and variance in double, attention by a full softmax in double, and
 * the rest by their formulas (float formulas in upstream's order where the op promises bits). Also
 * conv3d, group_norm and frame_attention at 1 and 2 OpenMP threads, bit for bit, and conv3d bit
 * for bit against its contract's order in float (a fused multiply-add chain; run as it is and with
 * DITC_CPU_PORTABLE=1 by tests/run.sh, so the AVX-512 and the portable kernels both). Prints one
 * "ok - ..." / "not ok - ..." line per check; exits 1 on any failure. Not a test against upstream
 * (the decoders' fixture tests are) nor of speed (tests/vae_bench.c). */
#include <math.h>
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/ops.h"

static int failures;

static void report(int ok, const char *what, const char *detail) {
  printf("%s - %s%s%s\n", ok ? "ok" : "not ok", what, detail[0] ? ": " : "", detail);
  if (!ok) failures++;
}

/* ---- helpers ----------------------------------------------------------------------------- */

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static float frand(void) { /* uniform in [-1, 1) */
  rng_state ^= rng_state << 13, rng_state ^= rng_state >> 7, rng_state ^= rng_state << 17;
  return (float)((double)(rng_state >> 40) / (double)(1ull << 23) - 1.0);
}

static float *rand_buf(int64_t n, float scale, float offset) {
  float *x = malloc((size_t)n * sizeof *x);
  if (!x) abort();
  for (int64_t i = 0; i < n; i++) x[i] = offset + scale * frand();
  return x;
}

static void *xmalloc(size_t n) {
  void *p = malloc(n ? n : 1);
  if (!p) abort();
  return p;
}

/* |got - ref| <= atol + rtol * |ref| everywhere, atol = atol_rel * max|ref|; prints the worst
 * element and the share of its budget used. */
static void compare(const char *what, const float *got, const double *ref, int64_t n, double atol_rel, double rtol) {
  double mx = 0.0;
  for (int64_t i = 0; i < n; i++) mx = fmax(mx, fabs(ref[i]));
  const double atol = atol_rel * mx;
  double worst = -1.0;
  int64_t wi = 0;
  int finite = 1;
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(got[i])) finite = 0;
    const double share = fabs(got[i] - ref[i]) / (atol + rtol * fabs(ref[i]) + 1e-300);
    if (!(share <= worst)) worst = share, wi = i;
  }
  char detail[256];
  snprintf(detail, sizeof detail, "%lld values, worst [%lld] %.9g vs %.9g, %.3f of the budget (atol %.2g*max|ref|, rtol %.2g)",
           (long long)n, (long long)wi, n ? got[wi] : 0.0, n ? ref[wi] : 0.0, worst, atol_rel, rtol);
  report(finite && worst <= 1.0, what, detail);
}

static void same_bits(const char *what, const void *a, const void *b, size_t bytes) {
  report(memcmp(a, b, bytes) == 0, what, memcmp(a, b, bytes) == 0 ? "bit-identical" : "differs");
}

/* ---- conv3d -------------------------------------------------------------------------------- */

/* xp = src padded explicitly (time: pt0 / pt1 frames of zeros or copies of the edge frames; H, W:
 * zeros), then the plain sum over every tap, in double. */
static void conv3d_ref(double *out, const float *src, const float *w, const float *b, int64_t N, int64_t Cin,
                       int64_t Cout, int64_t T, int64_t H, int64_t W, int64_t kt, int64_t kh, int64_t kw, int64_t pt0,
                       int64_t pt1, int64_t ph, int64_t pw, int64_t replicate) {
  const int64_t Tp = T + pt0 + pt1, Hp = H + 2 * ph, Wp = W + 2 * pw;
  const int64_t To = Tp - kt + 1, Ho = Hp - kh + 1, Wo = Wp - kw + 1;
  double *xp = xmalloc(sizeof(double) * N * Cin * Tp * Hp * Wp);
  for (int64_t n = 0; n < N; n++)
    for (int64_t c = 0; c < Cin; c++)
      for (int64_t t = 0; t < Tp; t++)
        for (int64_t y = 0; y < Hp; y++)
          for (int64_t x = 0; x < Wp; x++) {
            int64_t ts = t - pt0;
            const int64_t ys = y - ph, xs = x - pw;
            if (replicate) ts = ts < 0 ? 0 : ts >= T ? T - 1 : ts;
            const int inside = ts >= 0 && ts < T && ys >= 0 && ys < H && xs >= 0 && xs < W;
            xp[(((n * Cin + c) * Tp + t) * Hp + y) * Wp + x] =
                inside ? src[(((n * Cin + c) * T + ts) * H + ys) * W + xs] : 0.0;
          }
  for (int64_t n = 0; n < N; n++)
    for (int64_t co = 0; co < Cout; co++)
      for (int64_t t = 0; t < To; t++)
        for (int64_t y = 0; y < Ho; y++)
          for (int64_t x = 0; x < Wo; x++) {
            double s = b ? b[co] : 0.0;
            for (int64_t ci = 0; ci < Cin; ci++)
              for (int64_t a = 0; a < kt; a++)
                for (int64_t c = 0; c < kh; c++)
                  for (int64_t d = 0; d < kw; d++)
                    s += (double)w[(((co * Cin + ci) * kt + a) * kh + c) * kw + d] *
                         xp[(((n * Cin + ci) * Tp + t + a) * Hp + y + c) * Wp + x + d];
            out[(((n * Cout + co) * To + t) * Ho + y) * Wo + x] = s;
          }
  free(xp);
}

/* The contract's order in float (cpu/ops.h, cpu/vae.c): bias, then over (ci, dt, dy, dx) one fused
 * multiply-add a tap, the taps in the padding skipped; the AVX-512 and the portable kernels must
 * both give these bits. */
static void conv3d_chain(float *out, const float *src, const float *w, const float *b, int64_t N, int64_t Cin,
                         int64_t Cout, int64_t T, int64_t H, int64_t W, int64_t kt, int64_t kh, int64_t kw, int64_t pt0,
                         int64_t pt1, int64_t ph, int64_t pw, int64_t replicate) {
  const int64_t To = T + pt0 + pt1 - kt + 1, Ho = H + 2 * ph - kh + 1, Wo = W + 2 * pw - kw + 1;
  for (int64_t n = 0; n < N; n++)
    for (int64_t co = 0; co < Cout; co++)
      for (int64_t t = 0; t < To; t++)
        for (int64_t y = 0; y < Ho; y++)
          for (int64_t x = 0; x < Wo; x++) {
            float s = b ? b[co] : 0.0f;
            for (int64_t ci = 0; ci < Cin; ci++)
              for (int64_t a = 0; a < kt; a++) {
                int64_t ts = t + a - pt0;
                if (ts < 0 || ts >= T) {
                  if (!replicate) continue;
                  ts = ts < 0 ? 0 : T - 1;
                }
                for (int64_t c = 0; c < kh; c++)
                  for (int64_t d = 0; d < kw; d++) {
                    const int64_t ys = y + c - ph, xs = x + d - pw;
                    if (ys < 0 || ys >= H || xs < 0 || xs >= W) continue;
                    s = fmaf(w[(((co * Cin + ci) * kt + a) * kh + c) * kw + d],
                             src[(((n * Cin + ci) * T + ts) * H + ys) * W + xs], s);
                  }
              }
            out[(((n * Cout + co) * To + t) * Ho + y) * Wo + x] = s;
          }
}

static void conv3d_case(int64_t N, int64_t Cin, int64_t Cout, int64_t T, int64_t H, int64_t W, int64_t kt, int64_t kh,
                        int64_t kw, int64_t pt0, int64_t pt1, int64_t ph, int64_t pw, int64_t replicate, int bias) {
  const int64_t To = T + pt0 + pt1 - kt + 1, Ho = H + 2 * ph - kh + 1, Wo = W + 2 * pw - kw + 1;
  const int64_t nout = N * Cout * To * Ho * Wo;
  float *src = rand_buf(N * Cin * T * H * W, 1.0f, 0.0f), *w = rand_buf(Cout * Cin * kt * kh * kw, 0.5f, 0.0f);
  float *b = bias ? rand_buf(Cout, 1.0f, 0.0f) : NULL;
  float *got = xmalloc(sizeof(float) * nout);
  double *ref = xmalloc(sizeof(double) * nout);
  cpu_conv3d(got, src, w, b, N, Cin, Cout, T, H, W, kt, kh, kw, pt0, pt1, ph, pw, replicate);
  conv3d_ref(ref, src, w, b, N, Cin, Cout, T, H, W, kt, kh, kw, pt0, pt1, ph, pw, replicate);
  char what[256];
  snprintf(what, sizeof what,
           "conv3d %lldx%lldx%lld, %s time pad (%lld, %lld), pad h %lld w %lld, N %lld Cin %lld Cout %lld T %lld H %lld W "
           "%lld%s",
           (long long)kt, (long long)kh, (long long)kw, replicate ? "replicate" : "zero", (long long)pt0, (long long)pt1,
           (long long)ph, (long long)pw, (long long)N, (long long)Cin, (long long)Cout, (long long)T, (long long)H,
           (long long)W, bias ? "" : ", no bias");
  /* float sums of Cin*kt*kh*kw products: a long reduction, hence atol relative to max|ref| */
  compare(what, got, ref, nout, 1e-6, 1.3e-6);
  float *chain = xmalloc(sizeof(float) * nout);
  conv3d_chain(chain, src, w, b, N, Cin, Cout, T, H, W, kt, kh, kw, pt0, pt1, ph, pw, replicate);
  char what2[300];
  snprintf(what2, sizeof what2, "%s = the contract's fused multiply-add chain", what);
  same_bits(what2, got, chain, sizeof(float) * nout);
  free(src), free(w), free(b), free(got), free(ref), free(chain);
}

static void test_conv3d(void) {
  conv3d_case(2, 3, 4, 3, 5, 7, 3, 3, 3, 2, 0, 1, 1, 0, 1); /* Open-Sora's causal zero padding */
  conv3d_case(2, 3, 4, 3, 5, 7, 3, 3, 3, 2, 0, 1, 1, 1, 1); /* Open-Sora-Plan's replicate padding */
  conv3d_case(1, 3, 2, 4, 7, 5, 3, 3, 3, 1, 2, 1, 1, 1, 1); /* asymmetric, replicate at both ends */
  conv3d_case(1, 3, 2, 4, 7, 5, 3, 3, 3, 0, 2, 1, 1, 0, 1); /* asymmetric zeros, all behind */
  conv3d_case(1, 2, 3, 1, 5, 5, 3, 3, 3, 2, 0, 1, 1, 1, 1); /* one frame: every time tap reads it */
  conv3d_case(2, 5, 3, 3, 5, 7, 1, 1, 1, 0, 0, 0, 0, 0, 0); /* 1x1x1, no bias */
  conv3d_case(1, 4, 3, 5, 3, 5, 3, 1, 1, 1, 1, 0, 0, 0, 1); /* SVD's (3,1,1) symmetric zeros */
  conv3d_case(2, 3, 4, 2, 7, 9, 1, 3, 3, 0, 0, 1, 1, 1, 1); /* OSP's (1,3,3) */
  conv3d_case(1, 2, 2, 3, 6, 4, 2, 3, 1, 1, 0, 2, 0, 0, 1); /* even kt, padding past k//2 in H, none in W */
  conv3d_case(1, 2, 2, 2, 3, 3, 1, 3, 3, 0, 0, 1, 1, 0, 1); /* output no wider than the taps' reach */
  conv3d_case(1, 2, 3, 2, 4, 6, 1, 3, 3, 0, 0, 0, 0, 0, 1); /* kw 3 unpadded: no edge columns */
  conv3d_case(1, 3, 13, 3, 4, 37, 3, 3, 3, 2, 0, 1, 1, 0, 1); /* 13 = 8 + 4 + 1 channels, 37 = 32 + 5 columns */
  conv3d_case(2, 2, 8, 2, 3, 33, 3, 3, 3, 1, 1, 1, 1, 1, 0);  /* 8 channels, replicate, no bias */
  conv3d_case(1, 2, 2, 2, 3, 2, 1, 3, 3, 0, 0, 2, 2, 0, 1); /* padding wider than the row: no interior */
  conv3d_case(1, 2, 2, 3, 5, 8, 3, 1, 5, 1, 1, 0, 2, 1, 1); /* a wider row kernel (the generic path) */
}

/* ---- group_norm ---------------------------------------------------------------------------- */

static void group_norm_case(int64_t N, int64_t C, int64_t T, int64_t HW, int64_t G, float eps, int64_t per_frame,
                            int64_t silu, int alias) {
  const int64_t n = N * C * T * HW, cg = C / G;
  float *src = rand_buf(n, 2.0f, 3.0f), *gamma = rand_buf(C, 1.0f, 1.0f), *beta = rand_buf(C, 1.0f, 0.0f);
  double *ref = xmalloc(sizeof(double) * n);
  const int64_t nf = per_frame ? T : 1, tl = per_frame ? 1 : T;
  for (int64_t b = 0; b < N; b++)
    for (int64_t g = 0; g < G; g++)
      for (int64_t f = 0; f < nf; f++) {
        double sum = 0.0, ss = 0.0;
#define GN_FOR                                       \
  for (int64_t c = g * cg; c < (g + 1) * cg; c++)    \
    for (int64_t t = f; t < f + tl; t++)             \
      for (int64_t p = 0; p < HW; p++)
#define GN_I (((b * C + c) * T + t) * HW + p)
        GN_FOR sum += src[GN_I];
        const double mean = sum / (double)(cg * tl * HW);
        GN_FOR ss += (src[GN_I] - mean) * (src[GN_I] - mean);
        const double var = ss / (double)(cg * tl * HW);
        GN_FOR {
          double y = (src[GN_I] - mean) / sqrt(var + eps) * gamma[c] + beta[c];
          if (silu) y = y / (1.0 + exp(-y));
          ref[GN_I] = y;
        }
#undef GN_FOR
#undef GN_I
      }
  float *got = alias ? src : xmalloc(sizeof(float) * n);
  cpu_group_norm(got, src, gamma, beta, N, C, T, HW, G, eps, per_frame, silu);
  char what[200];
  snprintf(what, sizeof what, "group_norm N %lld C %lld G %lld T %lld HW %lld, per_frame %lld, silu %lld%s",
           (long long)N, (long long)C, (long long)G, (long long)T, (long long)HW, (long long)per_frame,
           (long long)silu, alias ? ", out == src" : "");
  compare(what, got, ref, n, 1e-6, 1e-5); /* a few float roundings of the normalized value */
  if (!alias) free(got);
  free(src), free(gamma), free(beta), free(ref);
}

static void test_group_norm(void) {
  group_norm_case(2, 8, 3, 35, 4, 1e-6f, 0, 0, 0);
  group_norm_case(2, 8, 3, 35, 4, 1e-5f, 0, 1, 0);
  group_norm_case(2, 8, 3, 35, 4, 1e-6f, 1, 0, 0);
  group_norm_case(2, 8, 3, 35, 4, 1e-6f, 1, 1, 1);
  group_norm_case(1, 6, 5, 9, 2, 1e-5f, 0, 1, 1);
  group_norm_case(3, 4, 1, 17, 4, 1e-6f, 1, 0, 0); /* one channel per group, images */
}

/* ---- frame_attention ----------------------------------------------------------------------- */

static void frame_attention_case(int64_t N, int64_t C, int64_t T, int64_t HW, float spread) {
  const int64_t n = N * C * T * HW, cs = T * HW;
  float *q = rand_buf(n, spread, 0.0f), *k = rand_buf(n, spread, 0.0f), *v = rand_buf(n, 1.0f, 0.0f);
  float *got = xmalloc(sizeof(float) * n);
  double *ref = xmalloc(sizeof(double) * n), *s = xmalloc(sizeof(double) * HW);
  const float scale = 1.0f / sqrtf((float)C);
  for (int64_t b = 0; b < N; b++)
    for (int64_t t = 0; t < T; t++) {
      const int64_t base = b * C * cs + t * HW;
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
          ref[base + c * cs + p] = o / sum;
        }
      }
    }
  cpu_frame_attention(got, q, k, v, N, C, T, HW, scale);
  char what[160];
  snprintf(what, sizeof what, "frame_attention N %lld C %lld T %lld HW %lld, q and k in +-%g", (long long)N,
           (long long)C, (long long)T, (long long)HW, spread);
  compare(what, got, ref, n, 1e-5, 1e-5); /* float scores and a float sum over HW keys */
  free(q), free(k), free(v), free(got), free(ref), free(s);
}

static void test_frame_attention(void) {
  frame_attention_case(2, 8, 2, 133, 3.0f); /* query and key blocks with tails; wide scores */
  frame_attention_case(1, 5, 3, 5, 1.0f);   /* fewer tokens than one block */
  frame_attention_case(1, 16, 1, 300, 1.0f);
}

/* ---- resampling ---------------------------------------------------------------------------- */

static void test_resampling(void) {
  { /* nearest 2x: every pixel repeated 2x2 */
    const int64_t R = 3, H = 3, W = 5;
    float *src = rand_buf(R * H * W, 1.0f, 0.0f), *got = xmalloc(sizeof(float) * R * 4 * H * W);
    int ok = 1;
    cpu_upsample2x(got, src, R, H, W);
    for (int64_t r = 0; r < R; r++)
      for (int64_t y = 0; y < 2 * H; y++)
        for (int64_t x = 0; x < 2 * W; x++)
          ok = ok && got[(r * 2 * H + y) * 2 * W + x] == src[(r * H + y / 2) * W + x / 2];
    report(ok, "upsample2x R 3 H 3 W 5: out[r, y, x] = src[r, y/2, x/2]", "");
    free(src), free(got);
  }
  { /* depth to time: channel 2c + s, frame t -> channel c, frame 2t + s */
    const int64_t N = 2, C = 3, T = 2, HW = 6;
    float *src = rand_buf(N * 2 * C * T * HW, 1.0f, 0.0f), *got = xmalloc(sizeof(float) * N * C * 2 * T * HW);
    int ok = 1;
    cpu_depth_to_time(got, src, N, C, T, HW);
    for (int64_t n = 0; n < N; n++)
      for (int64_t c = 0; c < C; c++)
        for (int64_t f = 0; f < 2 * T; f++)
          for (int64_t p = 0; p < HW; p++)
            ok = ok && got[((n * C + c) * 2 * T + f) * HW + p] == src[((n * 2 * C + 2 * c + f % 2) * T + f / 2) * HW + p];
    report(ok, "depth_to_time N 2 C 3 T 2 HW 6: out[n, c, 2t + s] = src[n, 2c + s, t]", "");
    free(src), free(got);
  }
  for (int64_t T = 1; T <= 5; T += T == 2 ? 3 : 1) { /* T = 1, 2, 5 */
    const int64_t R = 3, HW = 7, To = 2 * T - 1, n = T - 1;
    float *src = rand_buf(R * T * HW, 1.0f, 0.0f), *got = xmalloc(sizeof(float) * R * To * HW);
    double *ref = xmalloc(sizeof(double) * R * To * HW);
    for (int64_t r = 0; r < R; r++)
      for (int64_t p = 0; p < HW; p++) {
        ref[r * To * HW + p] = src[r * T * HW + p];
        for (int64_t i = 0; i < 2 * n; i++) { /* F.interpolate(scale 2, linear, align_corners False) */
          const double pos = fmax((i + 0.5) / 2.0 - 0.5, 0.0), l = pos - floor(pos);
          const int64_t i0 = (int64_t)floor(pos), i1 = i0 + 1 < n ? i0 + 1 : n - 1;
          ref[(r * To + 1 + i) * HW + p] =
              (1.0 - l) * src[(r * T + 1 + i0) * HW + p] + l * src[(r * T + 1 + i1) * HW + p];
        }
      }
    cpu_time_lerp2x(got, src, R, T, HW);
    char what[96];
    snprintf(what, sizeof what, "time_lerp2x T %lld -> %lld frames (frame 0 kept, 1.. interpolated)", (long long)T,
             (long long)To);
    compare(what, got, ref, R * To * HW, 1e-7, 1.3e-6);
    int first = 1;
    for (int64_t r = 0; r < R; r++) first = first && memcmp(got + r * To * HW, src + r * T * HW, HW * sizeof(float)) == 0;
    report(first, "time_lerp2x: frame 0 is a bit-exact copy", "");
    free(src), free(got), free(ref);
  }
}

/* ---- elementwise --------------------------------------------------------------------------- */

/* The float formulas of the contract in upstream's order, so the ops must match bit for bit. */
static void test_elementwise(void) {
  const int64_t n = 1000;
  for (int flip = 0; flip < 2; flip++)
    for (int alias = 0; alias < 3; alias++) { /* out separate, out == a, out == b */
      float *a = rand_buf(n, 1.0f, 0.0f), *b = rand_buf(n, 1.0f, 0.0f), *want = xmalloc(sizeof(float) * n);
      const float m[1] = {-3.1f}; /* here 1 - (1 - sigmoid(m)) != sigmoid(m) in float: flip's order shows */
      float alpha = 1.0f / (1.0f + expf(-m[0]));
      if (flip) alpha = 1.0f - alpha;
      for (int64_t i = 0; i < n; i++) want[i] = alpha * a[i] + (1.0f - alpha) * b[i];
      float *got = alias == 1 ? a : alias == 2 ? b : xmalloc(sizeof(float) * n);
      cpu_mix(got, a, b, m, n, flip);
      char what[96];
      snprintf(what, sizeof what, "mix flip %d (alpha = %ssigmoid(m))%s", flip, flip ? "1 - " : "",
               alias == 1 ? ", out == a" : alias == 2 ? ", out == b" : "");
      same_bits(what, got, want, n * sizeof(float));
      if (!alias) free(got);
      free(a), free(b), free(want);
    }
  { /* z * scale[c] + shift[c] */
    const int64_t N = 2, C = 4, S = 15;
    float *x = rand_buf(N * C * S, 1.0f, 0.0f), *a = rand_buf(C, 3.0f, 0.0f), *b = rand_buf(C, 1.0f, 0.0f);
    float *want = xmalloc(sizeof(float) * N * C * S), *got = xmalloc(sizeof(float) * N * C * S);
    for (int64_t i = 0; i < N * C * S; i++) want[i] = x[i] * a[i / S % C] + b[i / S % C];
    cpu_channel_affine(got, x, a, b, N, C, S);
    same_bits("channel_affine N 2 C 4 S 15: x * a[c] + b[c]", got, want, sizeof(float) * N * C * S);
    cpu_channel_affine(x, x, a, b, N, C, S);
    same_bits("channel_affine, out == src", x, want, sizeof(float) * N * C * S);
    free(x), free(a), free(b), free(want), free(got);
  }
  for (int divide = 0; divide < 2; divide++) {
    const float k = divide ? 0.18215f : (float)(1.0 / 0.18215);
    float *x = rand_buf(n, 1.0f, 0.0f), *want = xmalloc(sizeof(float) * n), *got = xmalloc(sizeof(float) * n);
    for (int64_t i = 0; i < n; i++) want[i] = divide ? x[i] / k : x[i] * k;
    cpu_scale(got, x, n, k, divide);
    same_bits(divide ? "scale: x / 0.18215 (a float division)" : "scale: x * f32(1/0.18215)", got, want,
              n * sizeof(float));
    cpu_scale(x, x, n, k, divide);
    same_bits(divide ? "scale divide, out == src" : "scale multiply, out == src", x, want, n * sizeof(float));
    free(x), free(want), free(got);
  }
  {
    float *x = rand_buf(n, 1.0f, 0.0f), *got = xmalloc(sizeof(float) * n);
    cpu_from_f32(got, x, n);
    same_bits("from_f32: a copy", got, x, n * sizeof(float));
    cpu_from_f32(got, got, n);
    same_bits("from_f32 in place: unchanged", got, x, n * sizeof(float));
    free(x), free(got);
  }
}

/* ---- copies and tiles ---------------------------------------------------------------------- */

static void test_copy4(void) {
  { /* a transpose: src (A, B, C, D) contiguous -> out (B, A, D, C) */
    enum { A = 2, B = 3, C = 4, D = 5 };
    float *src = rand_buf(A * B * C * D, 1.0f, 0.0f), *got = xmalloc(sizeof(float) * A * B * C * D);
    cpu_copy4(got, src, A, B, C, D, 0, B * C * D, C * D, D, 1, 0, D * C, A * D * C, 1, C);
    int ok = 1;
    for (int a = 0; a < A; a++)
      for (int b = 0; b < B; b++)
        for (int c = 0; c < C; c++)
          for (int d = 0; d < D; d++) ok = ok && got[((b * A + a) * D + d) * C + c] == src[((a * B + b) * C + c) * D + d];
    report(ok, "copy4: (A, B, C, D) -> (B, A, D, C), strided on both sides", "");
    free(src), free(got);
  }
  { /* a crop: src [2, 3, 6, 7], rows 1..4 and columns 2..6 of frames 1..2 -> out [2, 2, 4, 5] at offset 3 */
    enum { N = 2, T = 3, H = 6, W = 7, Tn = 2, Hn = 4, Wn = 5, OFF = 3 };
    float *src = rand_buf(N * T * H * W, 1.0f, 0.0f), *got = xmalloc(sizeof(float) * (OFF + N * Tn * Hn * Wn + 3));
    for (int i = 0; i < OFF + N * Tn * Hn * Wn + 3; i++) got[i] = 99.0f;
    cpu_copy4(got, src, N, Tn, Hn, Wn, (1 * H + 1) * W + 2, T * H * W, H * W, W, 1, OFF, Tn * Hn * Wn, Hn * Wn, Wn, 1);
    int ok = 1;
    for (int n = 0; n < N; n++)
      for (int t = 0; t < Tn; t++)
        for (int y = 0; y < Hn; y++)
          for (int x = 0; x < Wn; x++)
            ok = ok && got[OFF + ((n * Tn + t) * Hn + y) * Wn + x] == src[((n * T + 1 + t) * H + 1 + y) * W + 2 + x];
    for (int i = 0; i < OFF; i++) ok = ok && got[i] == 99.0f;
    for (int i = OFF + N * Tn * Hn * Wn; i < OFF + N * Tn * Hn * Wn + 3; i++) ok = ok && got[i] == 99.0f;
    report(ok, "copy4: a crop with offsets on both sides, nothing written outside", "");
    free(src), free(got);
  }
}

/* b [R, Hb, Wb] blended from a [R, Ha, Wa]; e = min(the two sizes on the axis, E). */
static void tile_blend_case(int64_t R, int64_t Ha, int64_t Wa, int64_t Hb, int64_t Wb, int64_t E, int64_t axis,
                            const char *limit) {
  float *a = rand_buf(R * Ha * Wa, 1.0f, 0.0f), *b = rand_buf(R * Hb * Wb, 1.0f, 0.0f);
  float *want = xmalloc(sizeof(float) * R * Hb * Wb);
  memcpy(want, b, sizeof(float) * R * Hb * Wb);
  const int64_t e = axis == 0 ? (Ha < Hb ? Ha : Hb) : (Wa < Wb ? Wa : Wb);
  const int64_t ee = e < E ? e : E, rows = Ha < Hb ? Ha : Hb, cols = Wa < Wb ? Wa : Wb;
  for (int64_t r = 0; r < R; r++)
    for (int64_t i = 0; i < ee; i++) { /* upstream: a[.., -e + i, ..] * (1 - i / e) + b[.., i, ..] * (i / e) */
      const float w0 = (float)(1.0 - (double)i / (double)ee), w1 = (float)((double)i / (double)ee);
      if (axis == 0)
        for (int64_t x = 0; x < cols; x++)
          want[(r * Hb + i) * Wb + x] = a[(r * Ha + Ha - ee + i) * Wa + x] * w0 + b[(r * Hb + i) * Wb + x] * w1;
      else
        for (int64_t y = 0; y < rows; y++)
          want[(r * Hb + y) * Wb + i] = a[(r * Ha + y) * Wa + Wa - ee + i] * w0 + b[(r * Hb + y) * Wb + i] * w1;
    }
  cpu_tile_blend(b, a, R, Ha, Wa, Hb, Wb, E, axis);
  char what[160];
  snprintf(what, sizeof what, "tile_blend axis %lld (%s), a %lldx%lld, b %lldx%lld, E %lld: e = %lld set by %s",
           (long long)axis, axis ? "left" : "above", (long long)Ha, (long long)Wa, (long long)Hb, (long long)Wb,
           (long long)E, (long long)ee, limit);
  same_bits(what, b, want, sizeof(float) * R * Hb * Wb);
  free(a), free(b), free(want);
}

static void test_tile_blend(void) {
  tile_blend_case(3, 4, 6, 9, 6, 7, 0, "Ha");
  tile_blend_case(3, 9, 6, 5, 6, 7, 0, "Hb");
  tile_blend_case(3, 9, 6, 9, 6, 3, 0, "E");
  tile_blend_case(2, 5, 4, 5, 9, 7, 1, "Wa");
  tile_blend_case(2, 5, 9, 5, 5, 7, 1, "Wb");
  tile_blend_case(2, 5, 9, 4, 9, 6, 1, "E (and rows = min(Ha, Hb))");
  tile_blend_case(2, 5, 9, 5, 9, 0, 1, "E = 0: nothing");
}

/* ---- to_u8 --------------------------------------------------------------------------------- */

static uint8_t u8_ref(float x, int mode) { /* the formulas of cpu/ops.h, one float operation at a time */
  float u;
  if (mode == 0) {
    const float c = fminf(fmaxf(x, -1.0f), 1.0f), v = (c - (-1.0f)) / 2.0f, s = v * 255.0f;
    u = fminf(fmaxf(s + 0.5f, 0.0f), 255.0f);
  } else {
    const float h = x / 2.0f, v = fminf(fmaxf(h + 0.5f, 0.0f), 1.0f);
    u = v * 255.0f;
  }
  return (uint8_t)truncf(u);
}

/* x0 and its 16 float neighbours on each side that land exactly on an integer before truncation */
static int boundary_hits(float x0, int mode, float *xs, uint8_t *us, int cap, int n) {
  float x = x0;
  for (int i = 0; i < 16; i++) x = nextafterf(x, -INFINITY);
  for (int i = 0; i < 33 && n < cap; i++, x = nextafterf(x, INFINITY)) {
    float pre;
    if (mode == 0) pre = (fminf(fmaxf(x, -1.0f), 1.0f) + 1.0f) / 2.0f * 255.0f + 0.5f;
    else pre = fminf(fmaxf(x / 2.0f + 0.5f, 0.0f), 1.0f) * 255.0f;
    if (pre == floorf(pre) && pre >= 0.0f && pre <= 255.0f) xs[n] = x, us[n++] = (uint8_t)pre;
  }
  return n;
}

static void test_to_u8(void) {
  for (int mode = 0; mode < 2; mode++) {
    /* anchors */
    const float ax[] = {-2.0f, -1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 2.0f, -1e30f, 1e30f};
    const uint8_t want0[] = {0, 0, 64, 128, 191, 255, 255, 0, 255}, want1[] = {0, 0, 63, 127, 191, 255, 255, 0, 255};
    enum { NA = sizeof ax / sizeof ax[0] };
    uint8_t got[NA];
    cpu_to_u8(got, ax, 1, 1, 1, NA, mode);
    char detail[160] = "";
    int ok = 1;
    for (int i = 0; i < NA; i++)
      if (got[i] != (mode ? want1 : want0)[i]) {
        ok = 0;
        snprintf(detail, sizeof detail, "x %g gives %d, want %d", ax[i], got[i], (mode ? want1 : want0)[i]);
      }
    report(ok, mode ? "to_u8 mode 1: -2 -1 -0.5 0 0.5 1 2 +-1e30 -> 0 0 63 127 191 255 255 0 255"
                    : "to_u8 mode 0: -2 -1 -0.5 0 0.5 1 2 +-1e30 -> 0 0 64 128 191 255 255 0 255",
           detail);
    /* exact rounding boundaries: inputs whose pre-truncation value is exactly an integer k */
    enum { CAP = 4096 };
    float *xs = xmalloc(sizeof(float) * CAP);
    uint8_t *us = xmalloc(CAP), *gu = xmalloc(CAP);
    int n = 0;
    for (int k = 0; k <= 255 && n < CAP; k++) {
      const double v = mode == 0 ? (k - 0.5) / 255.0 : k / 255.0; /* v*255 (+0.5) = k */
      n = boundary_hits((float)(2.0 * v - 1.0), mode, xs, us, CAP, n);
    }
    cpu_to_u8(gu, xs, 1, 1, 1, n, mode);
    int bad = -1;
    for (int i = 0; i < n; i++)
      if (gu[i] != us[i] || gu[i] != u8_ref(xs[i], mode)) bad = i;
    snprintf(detail, sizeof detail, bad < 0 ? "%d inputs" : "%d inputs; x %.9g gives %d, want %d", n,
             bad < 0 ? 0.0 : xs[bad], bad < 0 ? 0 : gu[bad], bad < 0 ? 0 : us[bad]);
    report(bad < 0 && n >= 200,
           mode ? "to_u8 mode 1 where clamp(x/2 + 0.5)*255 is exactly an integer k: k, not k - 1"
                : "to_u8 mode 0 where v*255 + 0.5 is exactly an integer k: k, not k - 1",
           detail);
    free(xs), free(us), free(gu);
    /* layout [N, C, T, HW] -> [N, T, HW, C], values in +-2 */
    enum { N = 2, C = 3, T = 2, HW = 10 };
    float *src = rand_buf(N * C * T * HW, 2.0f, 0.0f);
    uint8_t out[N * T * HW * C];
    cpu_to_u8(out, src, N, C, T, HW, mode);
    ok = 1;
    for (int b = 0; b < N; b++)
      for (int c = 0; c < C; c++)
        for (int t = 0; t < T; t++)
          for (int p = 0; p < HW; p++)
            ok = ok && out[((b * T + t) * HW + p) * C + c] == u8_ref(src[((b * C + c) * T + t) * HW + p], mode);
    report(ok, mode ? "to_u8 mode 1: [N, C, T, HW] in +-2 -> [N, T, HW, C]"
                    : "to_u8 mode 0: [N, C, T, HW] in +-2 -> [N, T, HW, C]", "");
    free(src);
  }
}

/* ---- thread counts ------------------------------------------------------------------------- */

/* Shapes above the ops' one-thread threshold (4M multiply-adds; 512K elements for group_norm). */
static void test_threads(void) {
  {
    const int64_t N = 1, Cin = 16, Cout = 16, T = 4, H = 24, W = 22, n = N * Cout * T * H * W;
    float *src = rand_buf(N * Cin * T * H * W, 1.0f, 0.0f), *w = rand_buf(Cout * Cin * 27, 0.5f, 0.0f);
    float *b = rand_buf(Cout, 1.0f, 0.0f), *o1 = xmalloc(sizeof(float) * n), *o2 = xmalloc(sizeof(float) * n);
    omp_set_num_threads(1);
    cpu_conv3d(o1, src, w, b, N, Cin, Cout, T, H, W, 3, 3, 3, 2, 0, 1, 1, 1);
    omp_set_num_threads(2);
    cpu_conv3d(o2, src, w, b, N, Cin, Cout, T, H, W, 3, 3, 3, 2, 0, 1, 1, 1);
    same_bits("conv3d 16->16 3x3x3 4x24x22: 1 thread vs 2", o1, o2, sizeof(float) * n);
    free(src), free(w), free(b), free(o1), free(o2);
  }
  {
    const int64_t N = 1, C = 32, T = 4, HW = 72 * 72, n = N * C * T * HW;
    float *src = rand_buf(n, 2.0f, 1.0f), *g = rand_buf(C, 1.0f, 1.0f), *be = rand_buf(C, 1.0f, 0.0f);
    float *o1 = xmalloc(sizeof(float) * n), *o2 = xmalloc(sizeof(float) * n);
    for (int64_t pf = 0; pf < 2; pf++) {
      omp_set_num_threads(1);
      cpu_group_norm(o1, src, g, be, N, C, T, HW, 8, 1e-6f, pf, 1);
      omp_set_num_threads(2);
      cpu_group_norm(o2, src, g, be, N, C, T, HW, 8, 1e-6f, pf, 1);
      same_bits(pf ? "group_norm per frame, C 32 G 8 T 4 HW 72x72: 1 thread vs 2"
                   : "group_norm pooling frames, C 32 G 8 T 4 HW 72x72: 1 thread vs 2",
                o1, o2, sizeof(float) * n);
    }
    free(src), free(g), free(be), free(o1), free(o2);
  }
  {
    const int64_t N = 1, C = 32, T = 2, HW = 300, n = N * C * T * HW;
    float *q = rand_buf(n, 1.0f, 0.0f), *k = rand_buf(n, 1.0f, 0.0f), *v = rand_buf(n, 1.0f, 0.0f);
    float *o1 = xmalloc(sizeof(float) * n), *o2 = xmalloc(sizeof(float) * n);
    omp_set_num_threads(1);
    cpu_frame_attention(o1, q, k, v, N, C, T, HW, 0.17f);
    omp_set_num_threads(2);
    cpu_frame_attention(o2, q, k, v, N, C, T, HW, 0.17f);
    same_bits("frame_attention C 32 T 2 HW 300: 1 thread vs 2", o1, o2, sizeof(float) * n);
    free(q), free(k), free(v), free(o1), free(o2);
  }
}

int main(void) {
  test_conv3d();
  test_group_norm();
  test_frame_attention();
  test_resampling();
  test_elementwise();
  test_copy4();
  test_tile_blend();
  test_to_u8();
  test_threads();
  return failures ? 1 : 0;
}
