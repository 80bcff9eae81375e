/* tests/cuda_block_test.c: the memory-bound chain of runtime/cuda/block.cu at the sizes that
 * matter (C = 1152 of the 480p models) and the ones that force its other paths: a C that is a
 * multiple of 8 but not of 32*8 (224 = 72*3 + 8), one that is not a multiple of 8 (197: the
 * scalar path), rows longer than a lane's registers hold (C = 2056), and rows one element off
 * 16-byte alignment. Each op against the composition of the CPU ops it replaces, with the storage
 * roundings the unfused GPU ops make inserted between them (the host rounds like the GPU, so
 * residuals are exact); bounds are elementwise (|got - ref| <= atol + rtol*|ref| + k*mag, mag
 * named at each check). Part of the cuda_ops_test binaries (test_block_chain(), run from main). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_test.h"

/* Rounds n host values to storage in place (through an upload: dputs rounds its input). */
static void round_st(float *h, int64_t n) { (void)dputs(h, n); }

/* Elementwise |got - ref| <= atol + rtol*|ref| + kmag*mag[i] (mag may be NULL), NaN/Inf parity
 * by check_close's rule (non-finite refs must match exactly). */
static void check_budget(const char *name, const float *got, const float *ref, const float *mag, int64_t n,
                         double rtol, double kmag, double atol) {
  double worst = 0.0;
  int64_t wi = 0, bad = 0;
  for (int64_t i = 0; i < n; i++) {
    const double e = fabs((double)got[i] - ref[i]);
    const double budget = atol + rtol * fabs(ref[i]) + (mag ? kmag * mag[i] : 0.0);
    const double share = e == 0.0 ? 0.0 : budget > 0.0 ? e / budget : INFINITY;
    if (!(share <= 1.0)) bad++;
    if (!(share <= worst)) worst = share, wi = i;
  }
  result(bad == 0, name, "%lld of %lld outside; worst at %lld: got %.9g, ref %.9g, %.3g%% of budget (rtol %.1e, "
         "k %.1e, atol %.1e)", (long long)bad, (long long)n, (long long)wi, got[wi], ref[wi], 100.0 * worst, rtol,
         kmag, atol);
}

/* ---- residuals and LayerNorm + modulate ----------------------------------------------------- */

enum { LN_ALONE, GATE_LN, RES_LN, GATE_ALONE, RES_ALONE };
static const char *const MODE_NAME[] = {"ln_modulate", "gate_residual_ln_modulate", "residual_ln_modulate",
                                        "gate_residual", "residual_store"};

/* x [B, R, C] at element offset off of its buffers (off = 1: rows not 16-byte aligned). The LN
 * takes chunks 3 (shift) and 4 (scale) of the block's t [B, 6C] and table [6, C]; the gate chunk 2,
 * as the MLP of a DiT block. */
static void row_case(int mode, int C, int off, int with_store) {
  const int B = 2, R = 13, nchunk = 6, chunk = 2, shift = 3, scale = 4;
  const int64_t n = (int64_t)B * R * C, nb = n + off, tn = (int64_t)B * nchunk * C;
  float *x = randn(nb, 3.0f, 2.0f), *src = randn(nb, 0.0f, 1.0f), *t = randn(tn, 0.0f, 0.5f);
  float *table = randn((int64_t)nchunk * C, 0.0f, 0.5f);
  ditc_st *dx = dputs(x, nb), *dsrc = dputs(src, nb), *dt = dputs(t, tn), *dtab = dputs(table, (int64_t)nchunk * C);
  ditc_st *dout = dzeros(nb), *dstore = with_store ? dzeros(nb) : NULL;
  /* the reference: the CPU ops, rounding to storage where the unfused GPU ops store */
  float *rx = dup(x, nb) + off, *rs = hf(n), *ro = hf(n);
  if (mode == GATE_LN || mode == GATE_ALONE) {
    float *tmp = dup(rx, n);
    cpu_gate_residual(tmp, src + off, t, table, chunk, nchunk, B, R, C, rs); /* rs = g in fp32 */
    round_st(rs, n);                                                          /* g as the GPU stores it */
    cpu_residual_store(rx, rs, n, NULL);
    round_st(rx, n);
  } else if (mode == RES_LN || mode == RES_ALONE) {
    cpu_residual_store(rx, src + off, n, rs);
    round_st(rx, n);
  }
  if (mode <= RES_LN) cpu_ln_modulate(ro, rx, t, nchunk * C, shift * C, scale * C, table, shift, scale, B, R, C, 1e-6f);
  switch (mode) {
  case LN_ALONE:
    cuda_ln_modulate(&ctx, dout + off, dx + off, dt, nchunk * C, shift * C, scale * C, dtab, shift, scale, B, R, C,
                     1e-6f);
    break;
  case GATE_LN:
    cuda_gate_residual_ln_modulate(&ctx, dx + off, dsrc + off, dt, dtab, chunk, nchunk, dstore ? dstore + off : NULL,
                                   dout + off, dt, nchunk * C, shift * C, scale * C, dtab, shift, scale, B, R, C, 1e-6f);
    break;
  case RES_LN:
    cuda_residual_ln_modulate(&ctx, dx + off, dsrc + off, dstore ? dstore + off : NULL, dout + off, dt, nchunk * C,
                              shift * C, scale * C, dtab, shift, scale, B, R, C, 1e-6f);
    break;
  case GATE_ALONE:
    cuda_gate_residual(&ctx, dx + off, dsrc + off, dt, dtab, chunk, nchunk, B, R, C, dstore ? dstore + off : NULL);
    break;
  default:
    cuda_residual_store(&ctx, dx + off, dsrc + off, n, dstore ? dstore + off : NULL);
  }
  float *gx = hf(nb), *go = hf(nb), *gs = hf(nb);
  gets(gx, dx, nb);
  gets(go, dout, nb);
  if (dstore) gets(gs, dstore, nb);
  char nm[128];
  snprintf(nm, sizeof nm, "%s B2 R13 C%d%s%s", MODE_NAME[mode], C, off ? " misaligned" : "",
           mode == LN_ALONE ? "" : with_store ? ", cache" : ", no cache");
  char part[160];
  if (mode != LN_ALONE) {
    /* the same fp32 operations and roundings as the reference: equal (an fp32 ulp of slack) */
    snprintf(part, sizeof part, "%s: x", nm);
    check_budget(part, gx + off, rx, NULL, n, 0x1.0p-23, 0.0, 0.0);
    if (dstore) {
      snprintf(part, sizeof part, "%s: cache", nm);
      check_budget(part, gs + off, rs, NULL, n, 0x1.0p-23, 0.0, 0.0);
    }
  }
  if (mode <= RES_LN) {
    /* fp32 row statistics (the CPU's are double): the mean and 1/std each within about 1e-6 of
     * the row's scale, times |1 + scale| <= 3 on outputs of order 1; the output rounded once */
    snprintf(part, sizeof part, "%s: out", nm);
    check_budget(part, go + off, ro, NULL, n, 1e-5 + U, 0.0, 1e-4);
  }
  release();
}

/* ---- qk RMSNorm and RoPE ---------------------------------------------------------------------- */

/* q and k of [B, T, S] tokens inside rows of ld = 3C + pad (pad 1: rows not 16-byte aligned). */
static void qk_case(int D, int H, int half, int axis, int norm, int rope, int pad) {
  const int B = 2, T = 3, S = 5, C = H * D, rows = axis ? S : T;
  const int64_t R = (int64_t)B * T * S, ld = 3 * C + pad, n = R * ld, tn = (int64_t)rows * D;
  float *buf = randn(n, 0.0f, 1.5f), *wq = randn(D, 1.0f, 0.1f), *wk = randn(D, 1.0f, 0.1f);
  float *cs = randn(tn, 0.0f, 0.6f), *sn = randn(tn, 0.0f, 0.6f), *g = hf(n), *mag = hf(n);
  ditc_st *d = dputs(buf, n), *dwq = dputs(wq, D), *dwk = dputs(wk, D);
  float *dcs = dputf(cs, tn), *dsn = dputf(sn, tn);
  float *r = dup(buf, n);
  if (norm) cpu_qk_rmsnorm(r, r + C, ld, wq, wk, R, H, D, 1e-6f);
  if (norm && rope) round_st(r, n); /* the normalized heads as the GPU keeps them (other columns: exact) */
  if (rope) { /* mag: |a cos| + |b sin| of each rotated element a and its partner b */
    for (int64_t row = 0; row < R; row++) {
      const int64_t tr = axis ? row % S : row / S % T;
      for (int col = 0; col < 2 * C; col++) {
        const int dd = col % D, sec = 2 * half, pos = sec ? dd % sec : 0;
        const int p = sec ? (pos < half ? dd + half : dd - half) : dd ^ 1;
        const float *hv = r + row * ld + col - dd;
        mag[row * ld + col] = fabsf(hv[dd] * cs[tr * D + dd]) + fabsf(hv[p] * sn[tr * D + dd]);
      }
    }
    cpu_rope(r, r + C, ld, cs, sn, B, T, S, H, D, axis, half);
  }
  if (norm && rope) cuda_qk_rmsnorm_rope(&ctx, d, d + C, ld, dwq, dwk, 1e-6f, dcs, dsn, B, T, S, H, D, axis, half);
  else if (norm) cuda_qk_rmsnorm(&ctx, d, d + C, ld, dwq, dwk, R, H, D, 1e-6f);
  else cuda_rope(&ctx, d, d + C, ld, dcs, dsn, B, T, S, H, D, axis, half);
  gets(g, d, n);
  char nm[128];
  snprintf(nm, sizeof nm, "%s B2 T3 S5 H%d D%d half %d axis %d%s",
           norm && rope ? "qk_rmsnorm_rope" : norm ? "qk_rmsnorm" : "rope", H, D, half, axis, pad ? " misaligned" : "");
  /* RMSNorm: fp32 sum of squares (the CPU's is double): 1e-5 relative, output rounded once. After a
   * norm, RoPE rotates values the GPU rounded from its own fp32 result: one may sit a storage ulp
   * (2U) from the CPU's, times |cos| or |sin|: 2U * mag; the products are rounded as on the CPU */
  check_budget(nm, g, r, mag, n, 1e-5 + U, norm && rope ? 2 * U + 1e-5 : 1e-6, 1e-6);
  release();
}

void test_block_chain(void) {
  const int Cs[4] = {1152, 224, 197, 2056};
  for (int i = 0; i < 4; i++) {
    for (int mode = LN_ALONE; mode <= RES_ALONE; mode++) {
      row_case(mode, Cs[i], 0, 1);
      if (mode != LN_ALONE) row_case(mode, Cs[i], 0, 0);
    }
  }
  for (int mode = LN_ALONE; mode <= RES_ALONE; mode++) row_case(mode, 1152, 1, 1);
  /* STDiT3's heads (D 72 of C 1152: interleaved pairs), Open-Sora-Plan's split halves (2-D: D/4,
   * 1-D: D/2), aligned and not */
  for (int pad = 0; pad < 2; pad++) {
    qk_case(72, 16, 0, 0, 1, 1, pad);
    qk_case(72, 16, 0, 0, 1, 0, pad);
    qk_case(72, 4, 18, 1, 0, 1, pad);
    qk_case(64, 3, 32, 0, 1, 1, pad);
    qk_case(128, 2, 0, 1, 0, 1, pad);
  }
}
