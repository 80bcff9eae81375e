/* conv_avx512.c: cpu_conv3d_block (vae_kernels.h): rows of 8 or 4 output planes of a 3-D convolution
 * with AVX-512F, each output element summed exactly as cpu_conv3d's portable loop sums it (bias,
 * then every input channel, time tap, row tap and column tap in that order, each a fused
 * multiply-add, the taps in the zero padding skipped, not added as zeros), so the results are
 * bit-identical. The 8 (or 4) channels x 32 columns stay in registers over all the taps, and each
 * weight is broadcast once for 32 columns, each input vector used by every channel. Chosen at run
 * time, so a binary still runs without AVX-512. Not here: the work items and the other output
 * channels (vae.c). */
#include <immintrin.h>
#include <stdint.h>

#include "cpu/isa.h"
#include "cpu/vae_kernels.h"

#define AVX512 __attribute__((target("avx512f,fma")))

/* Lanes l of the 16 columns from x0 whose input column x0 + l + dx - pw lies in [0, W) and whose
 * output column lies in [0, Wo). */
AVX512 static __mmask16 lanes(int64_t x0, int64_t dx, int64_t pw, int64_t W, int64_t Wo) {
  __mmask16 m = 0;
  for (int l = 0; l < 16; l++) {
    const int64_t x = x0 + l, ix = x + dx - pw;
    if (x < Wo && ix >= 0 && ix < W) m |= (__mmask16)(1u << l);
  }
  return m;
}

/* nch (4 or 8, a constant where it is inlined) output channels x 32 columns in registers. */
AVX512 static inline __attribute__((always_inline)) void rows(const int nch, float *out, int64_t plane, const float *src,
                                                              const float *w, const float *b, int64_t Cin, int64_t T,
                                                              int64_t H, int64_t W, int64_t kt, int64_t kh, int64_t kw,
                                                              int64_t pt0, int64_t ph, int64_t pw, int64_t replicate,
                                                              int64_t to, int64_t y0, int64_t y1, int64_t Wo) {
  enum { KW_MAX = 8 };
  const int64_t wco = Cin * kt * kh * kw; /* between output channels' weights */
  for (int64_t y = y0; y < y1; y++)
    for (int64_t x0 = 0; x0 < Wo; x0 += 32) {
      __mmask16 m[2][KW_MAX], store[2];
      for (int v = 0; v < 2; v++) {
        for (int64_t dx = 0; dx < kw; dx++) m[v][dx] = lanes(x0 + 16 * v, dx, pw, W, Wo);
        store[v] = lanes(x0 + 16 * v, pw, pw, Wo, Wo); /* the output columns < Wo */
      }
      __m512 acc[8][2];
#pragma GCC unroll 8
      for (int c = 0; c < nch; c++)
#pragma GCC unroll 2
        for (int v = 0; v < 2; v++) acc[c][v] = _mm512_set1_ps(b ? b[c] : 0.0f);
      for (int64_t ci = 0; ci < Cin; ci++)
        for (int64_t dt = 0; dt < kt; dt++) {
          int64_t ts = to + dt - pt0;
          if (ts < 0 || ts >= T) {
            if (!replicate) continue;
            ts = ts < 0 ? 0 : T - 1;
          }
          for (int64_t dy = 0; dy < kh; dy++) {
            const int64_t iy = y + dy - ph;
            if (iy < 0 || iy >= H) continue;
            const float *row = src + ((ci * T + ts) * H + iy) * W;
            const float *wt = w + ((ci * kt + dt) * kh + dy) * kw;
            for (int64_t dx = 0; dx < kw; dx++) {
              __m512 s[2];
#pragma GCC unroll 2
              for (int v = 0; v < 2; v++)
                s[v] = _mm512_maskz_loadu_ps(m[v][dx], row + (x0 + 16 * v + dx - pw));
#pragma GCC unroll 8
              for (int c = 0; c < nch; c++) {
                const __m512 wv = _mm512_set1_ps(wt[c * wco + dx]);
#pragma GCC unroll 2
                for (int v = 0; v < 2; v++)
                  acc[c][v] = _mm512_mask3_fmadd_ps(wv, s[v], acc[c][v], m[v][dx]);
              }
            }
          }
        }
#pragma GCC unroll 8
      for (int c = 0; c < nch; c++)
#pragma GCC unroll 2
        for (int v = 0; v < 2; v++) _mm512_mask_storeu_ps(out + c * plane + y * Wo + x0 + 16 * v, store[v], acc[c][v]);
    }
  _mm256_zeroupper(); /* for the SSE code after it, whatever the optimization level */
}

#define ROWS_ARGS                                                                                                \
  float *out, int64_t plane, const float *src, const float *w, const float *b, int64_t Cin, int64_t T, int64_t H,  \
      int64_t W, int64_t kt, int64_t kh, int64_t kw, int64_t pt0, int64_t ph, int64_t pw, int64_t replicate,       \
      int64_t to, int64_t y0, int64_t y1, int64_t Wo
#define ROWS_PASS out, plane, src, w, b, Cin, T, H, W, kt, kh, kw, pt0, ph, pw, replicate, to, y0, y1, Wo

AVX512 static void rows4(ROWS_ARGS) { rows(4, ROWS_PASS); }
AVX512 static void rows8(ROWS_ARGS) { rows(8, ROWS_PASS); }

int cpu_conv3d_block_runs(int64_t kw) { return cpu_avx512() && kw <= 8; }

void cpu_conv3d_block(int64_t nch, ROWS_ARGS) {
  if (nch == 8) rows8(ROWS_PASS);
  else rows4(ROWS_PASS);
}
