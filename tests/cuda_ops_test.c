/* tests/cuda_ops_test.c: every op of runtime/cuda/ops.h against its fp32 CPU reference in
 * runtime/cpu/ops.h, on fresh fixed-seed random inputs of small, odd shapes (the attention ops in
 * tests/cuda_attention_test.c and the text encoder's in tests/cuda_encoder_test.c, which this binary
 * runs too; the harness is tests/cuda_test.c),
 * plus the storage conversions against a host implementation and a determinism check. Compiled
 * once per storage (-DDITC_STORAGE, linked with that ops library): inputs in storage are rounded to it on the host first, so the CPU reference sees the
 * same values, and tolerances add the storage's unit roundoff U once per rounding the GPU makes
 * that the CPU does not (docs/style.md#tolerances: derived, and declared next to each check). One line per
 * check ("ok - ..." / "not ok - ...", with the worst index, both values and the share of the
 * budget used), then "N passed, N failed"; exit status 1 on any failure. Without a GPU it prints
 * "skipped: no CUDA device" and exits 0. Also: GELU's tanh form told apart from the erf form,
 * a GEMM at the plan's 256-byte offsets (and a 64-byte negative control, run last), and the
 * production shapes (16 heads of dim 72); `--only-dims D` runs only those, at head dim D, for
 * compute-sanitizer (tests/gpu.sh). Not a benchmark; not a test of generated code. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_test.h"
/* ---- embeddings ----------------------------------------------------------------------------- */

/* Tables of sin, cos, exp, pow: glibc's fp32 functions vs the kernels' double evaluation rounded
 * once (each within about an ulp, and an ulp of an angle moves the result by up to |angle|*6e-8):
 * relative to the largest value. */
static const double TAB_REL = 1e-4, TAB_NMSE = 1e-10;

static void test_pos_embed(void) {
  const int64_t n2 = 9 * 13 * 72, n64 = 7 * 11 * 96, n1 = 15 * 72;
  float *r = hf(n2), *g = hf(n2), *d = dputf(NULL, n2);
  cpu_pos_embed_2d(r, 9, 13, 72, 2.0f, 0.5f, 1.5f);
  cuda_pos_embed_2d(&ctx, d, 9, 13, 72, 2.0f, 0.5f, 1.5f);
  getf(g, d, n2);
  check_rel("pos_embed_2d 9x13 C72", g, r, n2, TAB_REL, TAB_NMSE);

  r = hf(n64), g = hf(n64), d = dputf(NULL, n64);
  cpu_pos_embed_2d_f64(r, 7, 11, 96, 1.5f, 1.0f, 2.0f);
  cuda_pos_embed_2d_f64(&ctx, d, 7, 11, 96, 1.5f, 1.0f, 2.0f);
  getf(g, d, n64);
  check_rel("pos_embed_2d_f64 7x11 C96", g, r, n64, TAB_REL, TAB_NMSE);

  for (int i = 0; i < 2; i++) {
    const float div = i ? 2.5f : 0.0f;
    r = hf(n1), g = hf(n1), d = dputf(NULL, n1);
    cpu_pos_embed_1d_f64(r, 15, 72, div);
    cuda_pos_embed_1d_f64(&ctx, d, 15, 72, div);
    getf(g, d, n1);
    check_rel(i ? "pos_embed_1d_f64 T15 C72 div 2.5" : "pos_embed_1d_f64 T15 C72 div 0", g, r, n1, TAB_REL, TAB_NMSE);
  }

  const int B = 3, dim = 256;
  float *t = hf(B);
  t[0] = 0.0f, t[1] = 999.0f, t[2] = (float)(1000.0 * uniform());
  r = hf(B * dim), g = hf(B * dim);
  ditc_st *ds = dzeros(B * dim);
  cpu_sinusoid(r, t, B, dim);
  cuda_sinusoid(&ctx, ds, dputf(t, B), B, dim);
  gets(g, ds, B * dim);
  /* the table's error, then one rounding to storage */
  check_rel("sinusoid B3 dim256, t up to 999", g, r, B * dim, rel_st(TAB_REL, 1), nmse_st(1, TAB_NMSE));
  release();
}

/* Compares the cos and sin tables [rows, D] of one rope table case. */
static void rope_tables_check(const char *name, const float *rc, const float *rs, const float *dc, const float *ds,
                              int64_t n, int bf16) {
  float *gc = hf(n), *gs = hf(n);
  getf(gc, dc, n);
  getf(gs, ds, n);
  char nm[128];
  for (int part = 0; part < 2; part++) {
    snprintf(nm, sizeof nm, "%s %s", name, part ? "sin" : "cos");
    if (bf16) /* both round to bf16: an ulp of fp32 difference can flip one rounding, one bf16 ulp */
      check_close(nm, part ? gs : gc, part ? rs : rc, n, 0x1.0p-7, 0.0);
    else check_rel(nm, part ? gs : gc, part ? rs : rc, n, TAB_REL, TAB_NMSE);
  }
}

static void test_rope_tables(void) {
  const int T = 15, D = 64;
  float *freqs = hf(D / 2);
  for (int k = 0; k < D / 2; k++) freqs[k] = (float)(1.0 / pow(10000.0, 2.0 * k / D));
  ditc_st *dfreqs = dputs(freqs, D / 2); /* a weight: in storage (freqs rounded in place) */
  for (int bf16 = 0; bf16 < 2; bf16++) {
    float *rc = hf(T * D), *rs = hf(T * D), *dc = dputf(NULL, T * D), *ds = dputf(NULL, T * D);
    cpu_rope_table(rc, rs, freqs, T, D, bf16);
    cuda_rope_table(&ctx, dc, ds, dfreqs, T, D, bf16);
    rope_tables_check(bf16 ? "rope_table T15 D64 bf16" : "rope_table T15 D64", rc, rs, dc, ds, T * D, bf16);
  }
  /* split-half tables: 2-D over a 9x13 grid with D 72, 1-D over 15 frames with D 64, div 2 */
  const int rows[2] = {9 * 13, 15}, wp[2] = {13, 1}, dd[2] = {72, 64}, nsec[2] = {2, 1};
  const float div[2] = {1.0f, 2.0f};
  for (int i = 0; i < 2; i++) {
    const int64_t n = (int64_t)rows[i] * dd[i];
    float *rc = hf(n), *rs = hf(n), *dc = dputf(NULL, n), *ds = dputf(NULL, n);
    cpu_rope_table_neox(rc, rs, rows[i], wp[i], dd[i], nsec[i], div[i]);
    cuda_rope_table_neox(&ctx, dc, ds, rows[i], wp[i], dd[i], nsec[i], div[i]);
    rope_tables_check(i ? "rope_table_neox 15 frames D64 div 2" : "rope_table_neox 9x13 D72", rc, rs, dc, ds, n, 0);
  }
  release();
}

/* ---- dense ---------------------------------------------------------------------------------- */

static void test_fill_add_silu(void) {
  const int64_t n = 4099;
  float *r = hf(n), *g = hf(n), *d = dputf(NULL, n);
  cpu_fill(r, n, -3.25f);
  cuda_fill(&ctx, d, n, -3.25f);
  getf(g, d, n);
  check_close("fill n4099", g, r, n, 0.0, 0.0); /* a copy of one value: exact */

  float *a = randn(n, 0.0f, 1.0f), *b = randn(n, 0.0f, 1.0f);
  a[3] = NAN, a[5] = INFINITY, b[5] = -INFINITY, a[7] = INFINITY, b[9] = -INFINITY; /* NaN/Inf parity */
  ditc_st *da = dputs(a, n), *db = dputs(b, n), *ds = dzeros(n);
  cpu_add(r, a, b, n);
  cuda_add(&ctx, ds, da, db, n);
  gets(g, ds, n);
  check_close("add n4099 with NaN/Inf", g, r, n, U, 0.0); /* one fp32 addition, rounded once to storage */

  float *x = randn(n, 0.0f, 3.0f);
  x[0] = INFINITY, x[1] = -INFINITY, x[2] = NAN, x[3] = -100.0f, x[4] = 100.0f;
  ditc_st *dx = dputs(x, n);
  cpu_silu(r, x, n);
  cuda_silu(&ctx, ds, dx, n);
  gets(g, ds, n);
  check_close("silu n4099 with NaN/Inf", g, r, n, 1e-5 + U, 1e-6); /* expf vs double exp: an ulp; storage: U */
  release();
}

/* out[M, N] = act(src[M, K] w[N, K]^T + b); twice: also a second run must be bit-identical. */
static void linear_case(const char *name, int64_t M, int K, int N, int bias, int act, int twice) {
  float *x = randn(M * K, 0.0f, 1.0f), *w = randn((int64_t)N * K, 0.0f, (float)(1.0 / sqrt(K)));
  float *b = bias ? randn(N, 0.0f, 0.5f) : NULL, *r = hf(M * N), *g = hf(M * N);
  ditc_st *dx = dputs(x, M * K), *dw = dputs(w, (int64_t)N * K), *db = b ? dputs(b, N) : NULL, *d = dzeros(M * N);
  cpu_linear(r, x, w, b, M, K, N, act);
  cuda_linear(&ctx, d, dx, dw, db, M, K, N, act);
  gets(g, d, M * N);
  /* K products summed in another order by cuBLASLt (tiles, maybe split-K); GELU uses CUDA's tanhf
   * (16-bit storage: cuBLASLt's epilogue); the output is rounded once to storage */
  check_rel(name, g, r, M * N, rel_st(1e-4, 1), nmse_st(1, 1e-10));
  if (!twice) return;
  float *g2 = hf(M * N);
  ditc_st *d2 = dzeros(M * N);
  cuda_linear(&ctx, d2, dx, dw, db, M, K, N, act);
  gets(g2, d2, M * N);
  check_bits("linear deterministic: two runs bit-identical", g, g2, M * N);
}

static void test_linear(void) {
  linear_case("linear 37x129 -> 67, bias, GELU", 37, 129, 67, 1, DITC_ACT_GELU_TANH, 1);
  linear_case("linear 64x256 -> 96, no bias", 64, 256, 96, 0, DITC_ACT_NONE, 0);
  linear_case("linear 301x72 -> 216 (qkv), bias", 301, 72, 216, 1, DITC_ACT_NONE, 0);
  linear_case("linear 515x384 -> 1536 (MLP fc1), bias, GELU", 515, 384, 1536, 1, DITC_ACT_GELU_TANH, 0);
  release();
}

/* The GEMM's GELU is the tanh form, not the erf form: every bf16 value x in [-5, 5] through a K = 1
 * GEMM (w = 1, zero bias: cuBLASLt's GELU_BIAS epilogue in 16-bit storage, the GELU kernel in
 * fp32). Elementwise against the CPU's tanh form: the output rounded once to storage (U of it,
 * counted twice for slack), the two fp32 evaluations of tanh apart by ulps (1e-5) and by the
 * cancellation in 1 + tanh near x = -5 (3.3e-7 at most: atol 1e-6). The erf form 0.5x(1 +
 * erf(x/sqrt 2)) differs by up to 4.7e-4, and by over 10% of the value for x < -2: the same
 * budget must reject it (a numpy emulation rejects 151 values in bf16, 278 in fp16, 1002 in
 * fp32, while the tanh form uses at most half its budget). */
static void test_gelu_forms(void) {
  float *x = hf(1 << 16);
  int64_t M = 0;
  for (uint32_t b = 0; b < (1u << 16); b++) {
    const uint32_t u = b << 16;
    float f;
    memcpy(&f, &u, sizeof f);
    if (isfinite(f) && fabsf(f) <= 5.0f) x[M++] = f;
  }
  const int N = 8; /* 8 identical columns: an output row of 16 bytes or more */
  float *w = hf(N), *bias = hf(N), *r = hf(M * N), *g = hf(M * N), *e = hf(M * N);
  for (int j = 0; j < N; j++) w[j] = 1.0f;
  ditc_st *dx = dputs(x, M), *dw = dputs(w, N), *db = dputs(bias, N), *d = dzeros(M * N);
  cpu_linear(r, x, w, bias, M, 1, N, DITC_ACT_GELU_TANH);
  cuda_linear(&ctx, d, dx, dw, db, M, 1, N, DITC_ACT_GELU_TANH);
  gets(g, d, M * N);
  for (int64_t i = 0; i < M * N; i++) {
    const double xi = x[i / N];
    e[i] = (float)(0.5 * xi * (1.0 + erf(xi / sqrt(2.0))));
  }
  const double rtol = 1e-5 + 2.0 * U, atol = 1e-6;
  char nm[112];
  snprintf(nm, sizeof nm, "gelu: all %lld bf16 values in [-5, 5] through a K=1 GEMM, elementwise vs the tanh form",
           (long long)M);
  check_close(nm, g, r, M * N, rtol, atol);
  double worst;
  int64_t wi;
  const int64_t bad = count_outside(g, e, NULL, M * N, rtol, atol, &worst, &wi);
  result(bad > 0, "gelu: the same check against the erf form fails", "%lld of %lld outside; worst at x = %.9g: got "
         "%.9g, erf form %.9g, %.3g%% of budget", (long long)bad, (long long)(M * N), x[wi / N], g[wi], e[wi],
         100.0 * worst);
  release();
}

/* ---- operands at the plan's offsets ------------------------------------------------------- */

/* A [rows, cols] storage copy of h (rounded in place) at byte offset off of the device buffer base. */
static ditc_st *place(unsigned char *base, size_t off, float *h, int64_t n) {
  ditc_st *tmp = dputs(h, n), *at = (ditc_st *)(void *)(base + off);
  CK(cudaMemcpy(at, tmp, (size_t)n * sizeof(ditc_st), cudaMemcpyDeviceToDevice));
  return at;
}

enum { LIN_M = 77, LIN_K = 1152, LIN_N = 384 };

/* cuda_linear [LIN_M, LIN_K] -> LIN_N with src, bias and out one after the other in one arena
 * buffer, each at the smallest odd multiple of 256 bytes past the one before, plus `skew` bytes,
 * and w in a weight buffer at 128 elements times 5, plus `skew` bytes (the generator plans arena
 * buffers at 256 bytes and weights at 128 elements: gen/core/plan.lua, gen/core/program.lua). */
static void linear_at(const char *name, size_t skew) {
  const int64_t M = LIN_M;
  const int K = LIN_K, N = LIN_N;
  const size_t st = sizeof(ditc_st), a = 256;
#define ODD256(from) ((((from) + a - 1) / a) | 1) * a /* the smallest odd multiple of 256 >= from */
  const size_t off_src = 3 * a + skew, off_b = ODD256(off_src + (size_t)M * K * st) + skew;
  const size_t off_out = ODD256(off_b + (size_t)N * st) + skew, off_w = 5 * 128 * st + skew;
#undef ODD256
  float *x = randn(M * K, 0.0f, 1.0f), *w = randn((int64_t)N * K, 0.0f, (float)(1.0 / sqrt(K)));
  float *b = randn(N, 0.0f, 0.5f), *r = hf(M * N), *g = hf(M * N);
  unsigned char *arena = dput(NULL, off_out + (size_t)M * N * st), *weights = dput(NULL, off_w + (size_t)N * K * st);
  ditc_st *dx = place(arena, off_src, x, M * K), *db = place(arena, off_b, b, N);
  ditc_st *dw = place(weights, off_w, w, (int64_t)N * K), *d = (ditc_st *)(void *)(arena + off_out);
  cpu_linear(r, x, w, b, M, K, N, DITC_ACT_NONE);
  cuda_linear(&ctx, d, dx, dw, db, M, K, N, DITC_ACT_NONE);
  gets(g, d, M * N);
  const uintptr_t ps[4] = {(uintptr_t)dx, (uintptr_t)d, (uintptr_t)db, (uintptr_t)dw};
  unsigned lowest = 1u << 20; /* the largest power of two every pointer is a multiple of */
  for (int i = 0; i < 4; i++)
    while (ps[i] % lowest) lowest >>= 1;
  char nm[200];
  snprintf(nm, sizeof nm, "%s: src, bias, out, w at bytes %zu, %zu, %zu, %zu (pointers %u-byte aligned, no more)",
           name, off_src, off_b, off_out, off_w, lowest);
  check_rel(nm, g, r, M * N, rel_st(1e-4, 1), nmse_st(1, 1e-10)); /* as linear_case */
}

static void test_linear_offsets(void) {
  linear_at("linear 77x1152 -> 384 at the plan's alignment (odd multiples of 256 bytes)", 0);
  release();
}

/* The negative control: every operand 64 bytes past those offsets, below what cuBLASLt's default
 * preference assumes (256 bytes); the op must still compute it right (by asking cuBLASLt for
 * algorithms that accept the pointers' real alignment). Run last: if cuBLASLt refuses, the op
 * aborts after every other result is printed. */
static void test_linear_misaligned(void) {
  linear_at("linear 77x1152 -> 384 at 64-byte offsets (negative control)", 64);
  release();
}

/* ---- production shapes -------------------------------------------------------------------- */

/* The shapes of the shipped variants at head dim D (16 heads, C = 16 D: Open-Sora 1.2, Latte and
 * Open-Sora-Plan all run D = 72, C = 1152) on fewer tokens, so compute-sanitizer's memcheck and
 * racecheck (tests/gpu.sh, `--only-dims 72`) see the kernels and tile tails production runs:
 * the qkv GEMM, fused qk RMSNorm + RoPE, spatial and temporal attention, and cross-attention to
 * 300 text tokens with key counts above L (clamped) and below 0. */
static void test_production(int D) {
  const int H = 16, C = H * D, B = 2, T = 3, S = 50;
  const int64_t rows = (int64_t)B * T * S, ld = 3 * C;
  char nm[128];
  snprintf(nm, sizeof nm, "production D%d: linear qkv %lldx%d -> %d, bias", D, (long long)rows, C, 3 * C);
  linear_case(nm, rows, C, 3 * C, 1, DITC_ACT_NONE, 0);
  release();

  float *buf = randn(rows * ld, 0.0f, 1.5f), *wq = randn(D, 1.0f, 0.1f), *wk = randn(D, 1.0f, 0.1f);
  float *cs = randn((int64_t)T * D, 0.0f, 0.6f), *sn = randn((int64_t)T * D, 0.0f, 0.6f), *g = hf(rows * ld);
  ditc_st *d = dputs(buf, rows * ld), *dwq = dputs(wq, D), *dwk = dputs(wk, D);
  float *r = dup(buf, rows * ld);
  cpu_qk_rmsnorm(r, r + C, ld, wq, wk, rows, H, D, 1e-6f);
  cpu_rope(r, r + C, ld, cs, sn, B, T, S, H, D, 0, 0);
  cuda_qk_rmsnorm_rope(&ctx, d, d + C, ld, dwq, dwk, 1e-6f, dputf(cs, (int64_t)T * D), dputf(sn, (int64_t)T * D), B,
                       T, S, H, D, 0, 0);
  gets(g, d, rows * ld);
  snprintf(nm, sizeof nm, "production D%d: qk_rmsnorm_rope B%d T%d S%d H%d", D, B, T, S, H);
  check_rel(nm, g, r, rows * ld, rel_st(1e-4, 2), nmse_st(2, 1e-10)); /* as test_qk_rmsnorm_rope */
  release();

  for (int temporal = 0; temporal < 2; temporal++) { /* spatial: len 300 (1 frame); temporal: len 15 */
    const int aT = temporal ? 15 : 1, aS = temporal ? 20 : 300, len = temporal ? aT : aS, inner = temporal ? aS : aT;
    const int64_t n = (int64_t)aT * aS, outer = n, inner_stride = temporal ? 1 : aS, tok = temporal ? aS : 1;
    const float scale = (float)(1.0 / sqrt(D));
    float *qkv = randn(n * ld, 0.0f, 1.0f), *ra = hf(n * C), *ga = hf(n * C);
    ditc_st *dq = dputs(qkv, n * ld), *da = dzeros(n * C);
    cpu_attention(ra, qkv, qkv + C, qkv + 2 * C, ld, 1, inner, outer, inner_stride, tok, len, H, D, scale);
    cuda_attention(&ctx, da, dq, dq + C, dq + 2 * C, ld, 1, inner, outer, inner_stride, tok, len, H, D, scale);
    gets(ga, da, n * C);
    snprintf(nm, sizeof nm, "production D%d: attention %s T%d S%d H%d (len %d)", D, temporal ? "temporal" : "spatial",
             aT, aS, H, len);
    check_rel(nm, ga, ra, n * C, rel_st(1e-4, 5), nmse_st(5, 1e-10)); /* as cuda_attention_test.c */
    release();
  }

  const int cB = 3, N = 150, L = 300;
  const int32_t lens[3] = {L + 50, 120, -1}; /* above L: all L keys; below 0: none (zeros) */
  const int64_t kld = 2 * C, nq = (int64_t)cB * N * C;
  const float scale = (float)(1.0 / sqrt(D));
  float *q = randn(nq, 0.0f, 1.0f), *kv = randn((int64_t)cB * L * kld, 0.0f, 1.0f), *rc = hf(nq), *gc = hf(nq);
  ditc_st *dq = dputs(q, nq), *dkv = dputs(kv, (int64_t)cB * L * kld), *dc = dzeros(nq);
  cpu_cross_attention(rc, q, kv, kv + C, kld, lens, cB, N, L, H, D, scale);
  cuda_cross_attention(&ctx, dc, dq, dkv, dkv + C, kld, dput(lens, sizeof lens), cB, N, L, H, D, scale);
  gets(gc, dc, nq);
  snprintf(nm, sizeof nm, "production D%d: cross_attention B3 N150 L300 H%d, lens L+50, 120, -1 (clamped)", D, H);
  check_rel(nm, gc, rc, nq, rel_st(1e-4, 5), nmse_st(5, 1e-10));
  release();
}

/* ---- text ----------------------------------------------------------------------------------- */

static void test_text(void) {
  const int Bp = 2, L = 7, Cc = 33;
  const int64_t row = (int64_t)L * Cc;
  float *cond = randn(Bp * row, 0.0f, 1.0f), *unc = randn(Bp * row, 0.0f, 1.0f), *unc_w = dup(unc, Bp * row);
  float *dcond = dputf(cond, Bp * row), *dunc = dputf(unc, Bp * row);
  ditc_st *dunc_w = dputs(unc_w, Bp * row); /* the null caption as a weight: in storage */
  const int cases[4][3] = {{0, 1, -1}, {1, 0, -1}, {1, 1, 0}, {0, 0, 1}}; /* per_prompt, cond_first, half */
  for (int i = 0; i < 8; i++) {
    const int *c = cases[i % 4], io = i >= 4; /* uncond: a weight, then an fp32 input */
    const int64_t n = (c[2] < 0 ? 2 : 1) * Bp * row;
    float *r = hf(n), *g = hf(n);
    ditc_st *d = dzeros(n);
    cpu_cfg_text(r, cond, io ? unc : unc_w, c[0], Bp, L, Cc, c[1], c[2]);
    if (io) cuda_cfg_text_io(&ctx, d, dcond, dunc, c[0], Bp, L, Cc, c[1], c[2]);
    else cuda_cfg_text(&ctx, d, dcond, dunc_w, c[0], Bp, L, Cc, c[1], c[2]);
    gets(g, d, n);
    char nm[112];
    snprintf(nm, sizeof nm, "cfg_text%s Bp2 L7 Cc33 per_prompt %d cond_first %d half %d", io ? "_io" : "", c[0],
             c[1], c[2]);
    check_close(nm, g, r, n, U, 0.0); /* copies, rounded to storage: exact in fp32 */
  }

  const int mBp = 3, mL = 19, mB = 6;
  int32_t *mask = halloc(sizeof(int32_t) * mBp * mL), *lens = halloc(sizeof(int32_t) * mB);
  int32_t *idx = halloc(sizeof(int32_t) * mB * mL), *glens = halloc(sizeof(int32_t) * mB);
  int32_t *gidx = halloc(sizeof(int32_t) * mB * mL);
  for (int j = 0; j < mBp * mL; j++) mask[j] = j / mL == 1 ? 0 : uniform() < 0.6; /* row 1 empty */
  cpu_text_mask(lens, idx, mask, mBp, mL, mB);
  int32_t *dlens = dput(NULL, sizeof(int32_t) * mB), *didx = dput(NULL, sizeof(int32_t) * mB * mL);
  cuda_text_mask(&ctx, dlens, didx, dput(mask, sizeof(int32_t) * mBp * mL), mBp, mL, mB);
  get(glens, dlens, sizeof(int32_t) * mB);
  get(gidx, didx, sizeof(int32_t) * mB * mL);
  check_int("text_mask Bp3 L19 B6 lens", glens, lens, mB); /* integer bookkeeping: exact */
  check_int("text_mask Bp3 L19 B6 idx", gidx, idx, (int64_t)mB * mL);

  const int C = 21;
  const int64_t n = (int64_t)mB * mL * C;
  float *src = randn(n, 0.0f, 1.0f), *r = hf(n), *g = hf(n);
  ditc_st *dsrc = dputs(src, n), *d = dzeros(n);
  cpu_text_pack(r, src, idx, lens, mB, mL, C);
  cuda_text_pack(&ctx, d, dsrc, dput(idx, sizeof(int32_t) * mB * mL), dput(lens, sizeof(int32_t) * mB), mB, mL,
                 C); /* the CPU's idx and lens: a text_mask failure does not spill over */
  gets(g, d, n);
  check_close("text_pack B6 L19 C21", g, r, n, 0.0, 0.0); /* gathers and zeros: exact */
  release();
}

/* ---- video tokens --------------------------------------------------------------------------- */

static void test_video_tokens(void) {
  /* latent [2, 4, 5, 7, 9], patch 2x2x2 (grid 3x4x5, padded at the ends), C 37, frames 1..3 (3 pads) */
  const int B = 2, Cin = 4, Tx = 5, Hx = 7, Wx = 9, pt = 2, ph = 2, pw = 2, C = 37, t0 = 1, Tn = 3;
  const int Hp = 4, Wp = 5, P = Cin * pt * ph * pw;
  const int64_t nin = (int64_t)B * Cin * Tx * Hx * Wx, nout = (int64_t)B * Tn * Hp * Wp * C;
  float *src = randn(nin, 0.0f, 1.0f), *w = randn((int64_t)C * P, 0.0f, (float)(1.0 / sqrt(P)));
  float *b = randn(C, 0.0f, 0.5f), *r = hf(nout), *g = hf(nout);
  ditc_st *dw = dputs(w, (int64_t)C * P), *dbias = dputs(b, C), *d = dzeros(nout);
  cpu_patch_embed3d(r, src, w, b, B, Cin, Tx, Hx, Wx, pt, ph, pw, C, t0, Tn);
  cuda_patch_embed3d(&ctx, d, dputf(src, nin), dw, dbias, B, Cin, Tx, Hx, Wx, pt, ph, pw, C, t0, Tn);
  gets(g, d, nout);
  /* a dot product of P = 32 products: 16 partial sums on the CPU, one FMA chain on the GPU; then
   * one rounding to storage */
  check_rel("patch_embed3d [2,4,5,7,9] patch 2x2x2 C37 frames 1..3", g, r, nout, rel_st(1e-4, 1),
            nmse_st(1, 1e-10));

  const int BT = 6, S = 35, C2 = 19;
  const int64_t n = (int64_t)BT * S * C2;
  float *x = randn(n, 0.0f, 1.0f), *pe = randn((int64_t)S * C2, 0.0f, 1.0f), *gx = hf(n);
  ditc_st *dx = dputs(x, n);
  float *rx = dup(x, n);
  cpu_add_pos(rx, pe, BT, S, C2);
  cuda_add_pos(&ctx, dx, dputf(pe, (int64_t)S * C2), BT, S, C2);
  gets(gx, dx, n);
  check_st("add_pos BT6 S35 C19", gx, rx, n, 0.0, 0.0, 1); /* one addition (exact in fp32), one rounding */

  const int fB = 2, fT = 4, fS = 13, fC = 11, ft0 = 2, Tg = 5; /* frames 2..5, frame 5 is padding */
  const int64_t fn = (int64_t)fB * fT * fS * fC;
  float *tp = randn((int64_t)Tg * fC, 0.0f, 1.0f);
  x = randn(fn, 0.0f, 1.0f), gx = hf(fn), dx = dputs(x, fn), rx = dup(x, fn);
  cpu_add_frame_pos(rx, tp, fB, fT, fS, fC, ft0, Tg);
  cuda_add_frame_pos(&ctx, dx, dputf(tp, (int64_t)Tg * fC), fB, fT, fS, fC, ft0, Tg);
  gets(gx, dx, fn);
  check_st("add_frame_pos B2 T4 S13 C11 t0 2 Tg 5", gx, rx, fn, 0.0, 0.0, 1); /* as add_pos */

  /* [2, 3*4*5, 1*2*2*3] -> latent [2, 3, 3, 7, 9] (rows 8 and columns 10 cropped) */
  const int uB = 2, Cout = 3, T = 3, uHp = 4, uWp = 5, upt = 1, uph = 2, upw = 2, uTx = 3, uHx = 7, uWx = 9;
  const int64_t usrc = (int64_t)uB * T * uHp * uWp * upt * uph * upw * Cout;
  const int64_t uout = (int64_t)uB * Cout * uTx * uHx * uWx;
  float *us = randn(usrc, 0.0f, 1.0f), *uo = randn(uout, 0.0f, 1.0f), *ur = dup(uo, uout), *ug = hf(uout);
  float *du = dputf(uo, uout);
  ditc_st *dus = dputs(us, usrc);
  cpu_unpatchify(ur, us, uB, Cout, T, uHp, uWp, upt, uph, upw, uTx, uHx, uWx);
  cuda_unpatchify(&ctx, du, dus, uB, Cout, T, uHp, uWp, upt, uph, upw, uTx, uHx, uWx);
  getf(ug, du, uout);
  check_close("unpatchify B2 Cout3 3x4x5 patch 1x2x2 -> 3x7x9", ug, ur, uout, 0.0, 0.0); /* a permutation: exact */
  release();
}

/* ---- block ---------------------------------------------------------------------------------- */

static void test_ln_modulate(void) {
  const int B = 2, R = 45, C = 197, shift = 1, scale = 4;
  const int64_t t_stride = 6 * C + 3, t_shift = 3, t_scale = 3 + C, n = (int64_t)B * R * C;
  float *x = randn(n, 3.0f, 2.0f), *t = randn(B * t_stride, 0.0f, 0.5f), *table = randn(6 * C, 0.0f, 0.5f);
  float *r = hf(n), *g = hf(n);
  ditc_st *dx = dputs(x, n), *dt = dputs(t, B * t_stride), *dtab = dputs(table, 6 * C), *d = dzeros(n);
  cpu_ln_modulate(r, x, t, t_stride, t_shift, t_scale, table, shift, scale, B, R, C, 1e-6f);
  cuda_ln_modulate(&ctx, d, dx, dt, t_stride, t_shift, t_scale, dtab, shift, scale, B, R, C, 1e-6f);
  gets(g, d, n);
  /* mean and variance: sums over C in double, added in another order (block reduction); the
   * output is rounded once to storage */
  check_rel("ln_modulate B2 R45 C197", g, r, n, rel_st(1e-4, 1), nmse_st(1, 1e-10));
  release();
}

static void test_qk_rmsnorm(void) {
  const int Ds[3] = {64, 72, 96}, R = 37, H = 3;
  for (int i = 0; i < 3; i++) {
    const int D = Ds[i], C = H * D;
    const int64_t ld = 3 * C + 8, n = R * ld; /* q and k inside fused qkv rows, plus 8 spare columns */
    float *buf = randn(n, 0.0f, 1.5f), *wq = randn(D, 1.0f, 0.1f), *wk = randn(D, 1.0f, 0.1f), *g = hf(n);
    ditc_st *d = dputs(buf, n), *dwq = dputs(wq, D), *dwk = dputs(wk, D);
    float *r = dup(buf, n);
    cpu_qk_rmsnorm(r, r + C, ld, wq, wk, R, H, D, 1e-6f);
    cuda_qk_rmsnorm(&ctx, d, d + C, ld, dwq, dwk, R, H, D, 1e-6f);
    gets(g, d, n);
    char nm[64];
    snprintf(nm, sizeof nm, "qk_rmsnorm R37 H3 D%d", D);
    /* sum of squares over D in double, another order (warp); one rounding to storage */
    check_rel(nm, g, r, n, rel_st(1e-4, 1), nmse_st(1, 1e-10));
  }
  release();
}

/* The fused qk RMSNorm + RoPE against the two CPU ops, on temporal tokens [B, T, S] with the
 * interleaved (GPT-J) pairs of STDiT3 and a split-half case. */
static void test_qk_rmsnorm_rope(void) {
  const int B = 2, T = 5, S = 7, H = 3;
  const int Ds[2] = {72, 64}, halfs[2] = {0, 16}, axes[2] = {0, 1};
  for (int i = 0; i < 2; i++) {
    const int D = Ds[i], C = H * D, rows = axes[i] ? S : T;
    const int64_t R = (int64_t)B * T * S, ld = 3 * C, n = R * ld;
    float *buf = randn(n, 0.0f, 1.5f), *wq = randn(D, 1.0f, 0.1f), *wk = randn(D, 1.0f, 0.1f), *g = hf(n);
    float *cs = randn((int64_t)rows * D, 0.0f, 0.6f), *sn = randn((int64_t)rows * D, 0.0f, 0.6f);
    ditc_st *d = dputs(buf, n), *dwq = dputs(wq, D), *dwk = dputs(wk, D);
    float *r = dup(buf, n);
    cpu_qk_rmsnorm(r, r + C, ld, wq, wk, R, H, D, 1e-6f);
    cpu_rope(r, r + C, ld, cs, sn, B, T, S, H, D, axes[i], halfs[i]);
    cuda_qk_rmsnorm_rope(&ctx, d, d + C, ld, dwq, dwk, 1e-6f, dputf(cs, (int64_t)rows * D),
                         dputf(sn, (int64_t)rows * D), B, T, S, H, D, axes[i], halfs[i]);
    gets(g, d, n);
    char nm[80];
    snprintf(nm, sizeof nm, "qk_rmsnorm_rope B2 T5 S7 H3 D%d half %d axis %d", D, halfs[i], axes[i]);
    /* as qk_rmsnorm, then the rotation of rounded values; two roundings to storage (the normed
     * head, as the unfused ops store it, and the rotated one) */
    check_rel(nm, g, r, n, rel_st(1e-4, 2), nmse_st(2, 1e-10));
  }
  release();
}

static void test_rope(void) {
  const int B = 2, T = 3, S = 11, H = 2;
  const int Ds[3] = {64, 72, 96}, halfs[3] = {0, 18, 48}, axes[3] = {1, 1, 0}; /* GPT-J, 2-D NeoX, 1-D NeoX */
  for (int i = 0; i < 3; i++) {
    const int D = Ds[i], C = H * D, rows = axes[i] ? S : T;
    const int64_t ld = 3 * C, n = (int64_t)B * T * S * ld;
    float *buf = randn(n, 0.0f, 1.0f), *g = hf(n);
    ditc_st *d = dputs(buf, n);
    float *r = dup(buf, n);
    float *cs = randn((int64_t)rows * D, 0.0f, 0.6f), *sn = randn((int64_t)rows * D, 0.0f, 0.6f);
    cpu_rope(r, r + C, ld, cs, sn, B, T, S, H, D, axes[i], halfs[i]);
    cuda_rope(&ctx, d, d + C, ld, dputf(cs, (int64_t)rows * D), dputf(sn, (int64_t)rows * D), B, T, S, H, D, axes[i],
              halfs[i]);
    gets(g, d, n);
    char nm[80];
    snprintf(nm, sizeof nm, "rope B2 T3 S11 H2 D%d half %d axis %d", D, halfs[i], axes[i]);
    /* two rounded products and an add per value: equal up to contraction; one rounding to storage */
    check_st(nm, g, r, n, 1e-5, 1e-6, 1);
  }
  release();
}

static void test_residuals(void) {
  const int B = 2, R = 29, C = 45, nchunk = 6, chunk = 2;
  const int64_t n = (int64_t)B * R * C;
  float *x = randn(n, 0.0f, 1.0f), *src = randn(n, 0.0f, 1.0f), *t = randn(B * nchunk * C, 0.0f, 0.5f);
  float *table = randn(nchunk * C, 0.0f, 0.5f);
  ditc_st *dt = dputs(t, B * nchunk * C), *dtab = dputs(table, nchunk * C), *dsrc = dputs(src, n);
  ditc_st *dx0 = dputs(x, n); /* rounds x; each case below starts from a fresh copy */
  (void)dx0;
  for (int st = 0; st < 2; st++) {
    float *rx = dup(x, n), *gx = hf(n), *rs = hf(n), *gs = hf(n);
    ditc_st *dx = dputs(dup(x, n), n), *ds = dzeros(n);
    cpu_gate_residual(rx, src, t, table, chunk, nchunk, B, R, C, rs); /* rs: the gated term g, for the budget */
    cuda_gate_residual(&ctx, dx, dsrc, dt, dtab, chunk, nchunk, B, R, C, st ? ds : NULL);
    gets(gx, dx, n);
    gets(gs, ds, n);
    /* (table + t) * src, then x += g; the GPU rounds the product like the CPU: equal up to
     * contraction. Storage: g is rounded (and x adds the rounded g), then x: two roundings, each
     * of at most U of |x| + |g| (x and g may cancel) */
    check_st_scaled(st ? "gate_residual B2 R29 C45 chunk 2/6, x" : "gate_residual B2 R29 C45 chunk 2/6, no store, x",
                    gx, rx, rs, n, 1e-5, 1e-6, 2);
    if (st) check_st("gate_residual B2 R29 C45 chunk 2/6, store", gs, rs, n, 1e-5, 1e-6, 1);
  }
  for (int st = 0; st < 2; st++) {
    float *rx = dup(x, n), *gx = hf(n), *rs = hf(n), *gs = hf(n);
    ditc_st *dx = dputs(dup(x, n), n), *ds = dzeros(n);
    cpu_residual_store(rx, src, n, st ? rs : NULL);
    cuda_residual_store(&ctx, dx, dsrc, n, st ? ds : NULL);
    gets(gx, dx, n);
    gets(gs, ds, n);
    /* one addition, exact in fp32; rounded once to storage */
    check_close(st ? "residual_store n2610, x" : "residual_store n2610, no store, x", gx, rx, n, U, 0.0);
    if (st) check_close("residual_store n2610, store", gs, rs, n, 0.0, 0.0); /* a copy: exact */
  }
  release();
}

/* ---- sequence parallelism ------------------------------------------------------------------- */

static void test_dsp(void) {
  const int B = 2, d1 = 7, d2 = 5, C = 6, P = 3;
  const int64_t n = (int64_t)B * d1 * d2 * C;
  float *src = randn(n, 0.0f, 1.0f);
  ditc_st *dsrc = dputs(src, n);
  for (int dim = 1; dim <= 2; dim++) {
    const int chunk = dim == 1 ? 3 : 2, len = dim == 1 ? d1 : d2; /* P*chunk = 9 > 7, 6 > 5: padding */
    const int64_t ns = (int64_t)P * B * (dim == 1 ? chunk : d1) * (dim == 2 ? chunk : d2) * C;
    float *r = hf(ns), *g = hf(ns);
    ditc_st *d = dzeros(ns);
    cpu_dsp_pack(r, src, B, d1, d2, C, dim, chunk, len, P);
    cuda_dsp_pack(&ctx, d, dsrc, B, d1, d2, C, dim, chunk, len, P);
    gets(g, d, ns);
    char nm[80];
    snprintf(nm, sizeof nm, "dsp_pack B2 7x5 C6 dim %d chunk %d P3", dim, chunk);
    check_close(nm, g, r, ns, 0.0, 0.0); /* copies and zeros: exact */

    float *recv = randn(ns, 0.0f, 1.0f), *init = randn(n, 0.0f, 1.0f), *gu = hf(n);
    ditc_st *du = dputs(init, n), *drecv = dputs(recv, ns);
    float *ru = dup(init, n);
    cpu_dsp_unpack(ru, recv, B, d1, d2, C, dim, chunk, P);
    cuda_dsp_unpack(&ctx, du, drecv, B, d1, d2, C, dim, chunk, P);
    gets(gu, du, n);
    snprintf(nm, sizeof nm, "dsp_unpack B2 7x5 C6 dim %d chunk %d P3", dim, chunk);
    check_close(nm, gu, ru, n, 0.0, 0.0); /* copies: exact */
  }
  release();
}

/* ---- storage conversions ------------------------------------------------------------------ */

static uint32_t f32_bits(float f) {
  uint32_t b;
  memcpy(&b, &f, 4);
  return b;
}

/* fp32 -> storage bits on the host, round to nearest even (NaN only by class). */
static uint32_t host_to_storage(float f) {
  const uint32_t x = f32_bits(f);
#if DITC_STORAGE == DITC_STORAGE_F32
  return x;
#elif DITC_STORAGE == DITC_STORAGE_BF16
  if (isnan(f)) return 0x7fc0u | ((x >> 16) & 0x8000u);
  return (x + 0x7fffu + ((x >> 16) & 1u)) >> 16;
#else
  const uint32_t sign = (x >> 16) & 0x8000u, a = x & 0x7fffffffu;
  if (a >= 0x7f800000u) return sign | (a > 0x7f800000u ? 0x7e00u : 0x7c00u);
  if (a >= 0x477ff000u) return sign | 0x7c00u;                    /* >= 65520: rounds to infinity */
  if (a < 0x38800000u) return sign | (uint32_t)nearbyint(fabs((double)f) * 16777216.0); /* subnormal */
  uint32_t h = (((a >> 23) - 112u) << 10) | ((a & 0x7fffffu) >> 13), rem = a & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) h++; /* a carry into the exponent is right */
  return sign | h;
#endif
}

static void test_storage(void) {
  enum { N = 4096 };
  float *h = randn(N, 0.0f, 100.0f);
  const float special[] = {0.0f, -0.0f, 1.0f, 1.00390625f, 1.01171875f, 1.0004883f, 65504.0f, 65519.0f, 65520.0f,
                           -70000.0f, 6.1e-5f, 5.96e-8f, 2.98e-8f, 1e-9f, 3.0e38f, INFINITY, -INFINITY, NAN, 1e-40f};
  const int ns = (int)(sizeof special / sizeof special[0]);
  for (int i = 0; i < ns; i++) h[i] = special[i];
  for (int i = ns; i < 200; i++) h[i] = ldexpf(h[i], (int)(uniform() * 60.0) - 40); /* many exponents */
  float *d32 = dputf(h, N);
  ditc_st *d = dzeros(N);
  ditc_st *got = halloc(sizeof(ditc_st) * N);
  cuda_to_storage(&ctx, d, d32, N);
  get(got, d, sizeof(ditc_st) * N);
  int64_t bad = 0, first = -1;
  for (int i = 0; i < N; i++) {
    uint32_t g;
#if DITC_STORAGE == DITC_STORAGE_F32
    g = f32_bits(got[i]);
#else
    g = got[i];
#endif
    const uint32_t want = host_to_storage(h[i]);
    const int nan_ok = isnan(h[i]) && (DITC_STORAGE == DITC_STORAGE_F32 || ((g & 0x7fffu) > (want & 0x7c00u)));
    if (g != want && !nan_ok) bad++, first = first < 0 ? i : first;
  }
  char nm[96];
  snprintf(nm, sizeof nm, "to_storage %s: round to nearest even, ties, overflow, subnormals, Inf, NaN", STORAGE);
  if (bad) result(0, nm, "%lld of %d differ; first %lld: %.9g -> 0x%x, want 0x%x", (long long)bad, N, (long long)first,
                  h[first], (unsigned)(DITC_STORAGE == DITC_STORAGE_F32 ? 0 : got[first]),
                  (unsigned)host_to_storage(h[first]));
  else result(1, nm, "%d values as the host rounds them", N);
  /* and back: storage values are exact in fp32 */
  float *back = hf(N), *again = hf(N);
  gets(back, d, N);
  ditc_st *d2 = dputs(memcpy(again, back, sizeof(float) * N), N);
  (void)d2;
  check_close("from_storage then to_storage: the same values", again, back, N, 0.0, 0.0);
  release();
}

/* ---- the memory-bound chain at model sizes: tests/cuda_block_test.c -------------------------- */

void test_block_chain(void);

/* ---- main ----------------------------------------------------------------------------------- */

int main(int argc, char **argv) {
  int only_dims = 0; /* --only-dims D: only the production-shape cases at head dim D (for the sanitizers) */
  if (argc == 3 && strcmp(argv[1], "--only-dims") == 0) only_dims = atoi(argv[2]);
  if (argc != 1 && !(only_dims == 64 || only_dims == 72 || only_dims == 96)) {
    fprintf(stderr, "usage: %s [--only-dims 64|72|96]\n", argv[0]);
    return 2;
  }
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev <= 0) {
    printf("skipped: no CUDA device\n");
    return 0;
  }
  if (cuda_ctx_init(&ctx)) {
    printf("not ok - cuda_ctx_init\n0 passed, 1 failed\n");
    return 1;
  }
  printf("# CUDA ops in %s storage\n", STORAGE);
  ctx.workspace_bytes = 32u << 20; /* what the generated plan gives cuBLASLt */
  CK(cudaMalloc(&ctx.workspace, ctx.workspace_bytes));
  void *workspace = ctx.workspace;
  if (only_dims) {
    printf("# only the production shapes at head dim %d\n", only_dims);
    test_production(only_dims);
    cuda_ctx_free(&ctx);
    CK(cudaFree(workspace));
    return summary();
  }
  test_storage();
  test_pos_embed();
  test_rope_tables();
  test_fill_add_silu();
  test_linear();
  test_gelu_forms();
  test_linear_offsets();
  test_text();
  test_video_tokens();
  test_ln_modulate();
  test_qk_rmsnorm();
  test_qk_rmsnorm_rope();
  test_rope();
  test_attention();
  test_encoder();
  test_residuals();
  test_block_chain();
  test_dsp();
  test_production(72);
  test_linear_misaligned(); /* last: see there */
  cuda_ctx_free(&ctx);
  cuda_ctx_free(&ctx); /* safe on a freed context */
  result(!ctx.stream && !ctx.lt, "cuda_ctx_free clears the context (twice)", "stream and handle NULL");
  CK(cudaFree(workspace));
  return summary();
}
