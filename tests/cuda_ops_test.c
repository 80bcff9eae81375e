/* tests/cuda_ops_test.c: every op of runtime/cuda/ops.h against its fp32 CPU reference in
 * runtime/cpu/ops.h, on fresh fixed-seed random inputs of small, odd shapes (head dims 64, 72 and
 * 96; spatial attention over a few hundred tokens, temporal over 15, cross-attention with
 * per-sample key counts below L), plus the fused attention against a float64 reference next to
 * the naive kernel in the same storage, the storage conversions against a host implementation,
 * and two determinism checks. Compiled once per storage (-DDITC_STORAGE, linked with that ops
 * library): inputs in storage are rounded to it on the host first, so the CPU reference sees the
 * same values, and tolerances add the storage's unit roundoff U once per rounding the GPU makes
 * that the CPU does not (STYLE.md rule 27: derived, and declared next to each check). One line per
 * check ("ok - ..." / "not ok - ...", with the worst index, both values and the share of the
 * budget used), then "N passed, N failed"; exit status 1 on any failure. Without a GPU it prints
 * "skipped: no CUDA device" and exits 0. Not a benchmark; not a test of generated code. */
#include <cuda_runtime_api.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cpu/ops.h"
#include "cuda/ops.h"

static cuda_ctx ctx;
static int n_passed, n_failed;

/* The storage's unit roundoff (half an ulp at 1): 0 for fp32 (no extra rounding), 2^-8 for
 * bf16 (8 significand bits), 2^-11 for fp16 (11). */
#if DITC_STORAGE == DITC_STORAGE_F32
static const double U = 0.0;
static const char *const STORAGE = "fp32";
#elif DITC_STORAGE == DITC_STORAGE_BF16
static const double U = 0x1.0p-8;
static const char *const STORAGE = "bf16";
#else
static const double U = 0x1.0p-11;
static const char *const STORAGE = "fp16";
#endif

/* A relative budget for a result that went through `roundings` storage roundings the CPU does not
 * make, on top of the fp32 budget rel32 (summation order etc.). */
static double rel_st(double rel32, int roundings) { return rel32 + roundings * U; }
/* The NMSE bound that goes with it: an error of rel * |ref| everywhere. */
static double nmse_st(int roundings, double nmse32) {
  const double r = roundings * U;
  return nmse32 + r * r;
}

/* ---- checks --------------------------------------------------------------------------------- */

/* Prints "ok - name: detail" or "not ok - name: detail" and counts it; returns ok. */
__attribute__((format(printf, 3, 4))) static int result(int ok, const char *name, const char *fmt, ...) {
  printf("%s - %s: ", ok ? "ok" : "not ok", name);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  if (ok) n_passed++;
  else n_failed++;
  return ok;
}

static int nonfinite_class(double x) { return isnan(x) ? 1 : isinf(x) ? (x > 0 ? 2 : 3) : 0; }

/* NaN, +Inf and -Inf at the same indices of got and ref; reports (a failed check) if not. */
static int parity_ok(const char *name, const float *got, const float *ref, int64_t n) {
  for (int64_t i = 0; i < n; i++)
    if (nonfinite_class(got[i]) != nonfinite_class(ref[i]))
      return result(0, name, "NaN/Inf parity broken at %lld: got %.9g, ref %.9g", (long long)i, got[i], ref[i]);
  return 1;
}

/* Elementwise |got - ref| <= atol + rtol*|ref| on the finite entries (rtol = atol = 0: equal
 * values), with NaN/Inf parity. */
static void check_close(const char *name, const float *got, const float *ref, int64_t n, double rtol, double atol) {
  if (!parity_ok(name, got, ref, n)) return;
  double worst = 0.0;
  int64_t wi = 0, bad = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(ref[i])) continue;
    const double e = fabs((double)got[i] - ref[i]), budget = atol + rtol * fabs(ref[i]);
    const double share = e == 0.0 ? 0.0 : budget > 0.0 ? e / budget : INFINITY;
    if (share > 1.0) bad++;
    if (share > worst) worst = share, wi = i;
  }
  if (rtol == 0.0 && atol == 0.0) /* exact: the budget is 0, any difference is infinitely over */
    result(bad == 0, name, "%lld of %lld values differ%s; first at %lld: got %.9g, ref %.9g", (long long)bad,
           (long long)n, bad ? " (exact required)" : "", (long long)wi, got[wi], ref[wi]);
  else result(bad == 0, name, "%lld of %lld outside; worst at %lld: got %.9g, ref %.9g, %.3g%% of budget (rtol %.0e, "
              "atol %.0e)", (long long)bad, (long long)n, (long long)wi, got[wi], ref[wi], 100.0 * worst, rtol, atol);
}

/* Whole-tensor bound for reductions: max|got - ref| <= rel * max|ref| and NMSE = sum (got - ref)^2
 * / sum ref^2 <= nmse, over the finite entries, with NaN/Inf parity. */
static void check_rel(const char *name, const float *got, const float *ref, int64_t n, double rel, double nmse) {
  if (!parity_ok(name, got, ref, n)) return;
  double maxref = 0.0, maxerr = 0.0, se = 0.0, sr = 0.0;
  int64_t wi = 0;
  for (int64_t i = 0; i < n; i++) {
    if (!isfinite(ref[i])) continue;
    const double e = fabs((double)got[i] - ref[i]);
    maxref = fmax(maxref, fabs(ref[i]));
    se += e * e;
    sr += (double)ref[i] * ref[i];
    if (e > maxerr) maxerr = e, wi = i;
  }
  const double budget = rel * maxref, share = maxerr == 0.0 ? 0.0 : budget > 0.0 ? maxerr / budget : INFINITY;
  const double nm = sr > 0.0 ? se / sr : se > 0.0 ? INFINITY : 0.0;
  result(share <= 1.0 && nm <= nmse, name,
         "worst at %lld: got %.9g, ref %.9g, %.3g%% of budget %.0e*max|ref|; NMSE %.3g, %.3g%% of %.0e", (long long)wi,
         got[wi], ref[wi], 100.0 * share, rel, nm, 100.0 * nm / nmse, nmse);
}

/* Two runs of one op on the same inputs: bit-identical outputs. */
static void check_bits(const char *name, const float *a, const float *b, int64_t n) {
  const int same = memcmp(a, b, (size_t)n * sizeof(float)) == 0;
  result(same, name, "%lld floats %s", (long long)n, same ? "equal" : "differ");
}

static void check_int(const char *name, const int32_t *got, const int32_t *ref, int64_t n) {
  int64_t bad = 0, first = -1;
  for (int64_t i = 0; i < n; i++)
    if (got[i] != ref[i]) bad++, first = first < 0 ? i : first;
  if (bad) result(0, name, "%lld of %lld differ; first at %lld: got %d, ref %d", (long long)bad, (long long)n,
                  (long long)first, got[first], ref[first]);
  else result(1, name, "%lld int32 values equal", (long long)n);
}

/* An elementwise check in fp32 storage (rtol32, atol32 as check_close); in 16-bit storage, where
 * the GPU rounds `roundings` more times than the CPU, a whole-tensor bound of rtol32 + roundings*U
 * relative to max|ref| (a rounding moves a value by up to U of itself, and no value exceeds
 * max|ref| by much: the chains here are short). */
static void check_st(const char *name, const float *got, const float *ref, int64_t n, double rtol32, double atol32,
                     int roundings) {
  if (U == 0.0) check_close(name, got, ref, n, rtol32, atol32);
  else check_rel(name, got, ref, n, rel_st(rtol32, roundings), nmse_st(roundings, 1e-10));
}

/* ---- buffers and random inputs -------------------------------------------------------------- */

#define CK(stmt) ck((stmt), #stmt, __LINE__)
static void ck(cudaError_t e, const char *what, int line) {
  if (e == cudaSuccess) return;
  printf("not ok - CUDA error at line %d: %s: %s\n%d passed, %d failed\n", line, what, cudaGetErrorString(e),
         n_passed, n_failed + 1);
  exit(1);
}

enum { MAX_BUFS = 64 };
static void *host_bufs[MAX_BUFS], *dev_bufs[MAX_BUFS]; /* freed by release() after each test */
static int n_host, n_dev;

static void *halloc(size_t bytes) { /* zeroed */
  void *p = calloc(bytes ? bytes : 1, 1);
  if (!p || n_host == MAX_BUFS) {
    printf("not ok - out of host memory or buffer slots\n");
    exit(1);
  }
  return host_bufs[n_host++] = p;
}
static float *hf(int64_t n) { return halloc((size_t)n * sizeof(float)); }
static float *dup(const float *h, int64_t n) { return memcpy(hf(n), h, (size_t)n * sizeof(float)); }

/* A device copy of bytes from h, or zeros when h is NULL. */
static void *dput(const void *h, size_t bytes) {
  void *d = NULL;
  if (n_dev == MAX_BUFS) ck(cudaErrorMemoryAllocation, "buffer slots", __LINE__);
  CK(cudaMalloc(&d, bytes ? bytes : 1));
  dev_bufs[n_dev++] = d;
  if (h) CK(cudaMemcpy(d, h, bytes, cudaMemcpyHostToDevice));
  else CK(cudaMemset(d, 0, bytes));
  return d;
}
static float *dputf(const float *h, int64_t n) { return dput(h, (size_t)n * sizeof(float)); }

/* Waits for ctx's stream, then copies bytes of d back to h. */
static void get(void *h, const void *d, size_t bytes) {
  CK(cudaStreamSynchronize((cudaStream_t)ctx.stream));
  CK(cudaMemcpy(h, d, bytes, cudaMemcpyDeviceToHost));
}
static void getf(float *h, const float *d, int64_t n) { get(h, d, (size_t)n * sizeof(float)); }

/* Storage on the device from the fp32 values h[n], which are rounded in place to what the storage
 * holds (so the CPU reference computes on the same inputs). */
static ditc_st *dputs(float *h, int64_t n) {
  float *d32 = dputf(h, n);
  ditc_st *d = dput(NULL, (size_t)n * sizeof(ditc_st));
  cuda_to_storage(&ctx, d, d32, n);
  cuda_from_storage(&ctx, d32, d, n);
  getf(h, d32, n);
  return d;
}
/* n zeroed storage elements on the device. */
static ditc_st *dzeros(int64_t n) { return dput(NULL, (size_t)n * sizeof(ditc_st)); }
/* Storage d[n] back to fp32 host values. */
static void gets(float *h, const ditc_st *d, int64_t n) {
  float *d32 = dputf(NULL, n);
  cuda_from_storage(&ctx, d32, d, n);
  getf(h, d32, n);
}

static void release(void) {
  while (n_host) free(host_bufs[--n_host]);
  while (n_dev) CK(cudaFree(dev_bufs[--n_dev]));
}

static uint64_t rng_state = 20240607; /* fixed seed: every run sees the same inputs */
static uint64_t splitmix64(void) {
  uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
static double uniform(void) { return (double)(splitmix64() >> 11) * 0x1.0p-53; } /* [0, 1) */
/* n floats of N(mean, sd^2) (Box-Muller). */
static float *randn(int64_t n, float mean, float sd) {
  float *p = hf(n);
  for (int64_t i = 0; i < n; i++)
    p[i] = mean + sd * (float)(sqrt(-2.0 * log(1.0 - uniform())) * cos(6.283185307179586 * uniform()));
  return p;
}

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

/* Attention over tokens [B, T, S] of fused qkv rows [B*T*S, 3C]: per frame (spatial, len S) or
 * per spatial position (temporal, len T); twice: a second run must be bit-identical. */
static void attention_case(int B, int T, int S, int H, int D, int temporal, int twice) {
  const int C = H * D, len = temporal ? T : S, inner = temporal ? S : T;
  const int64_t rows = (int64_t)B * T * S, ld = 3 * C, outer = (int64_t)T * S;
  const int64_t inner_stride = temporal ? 1 : S, tok = temporal ? S : 1;
  const float scale = (float)(1.0 / sqrt(D));
  float *qkv = randn(rows * ld, 0.0f, 1.0f), *r = hf(rows * C), *g = hf(rows * C);
  ditc_st *dq = dputs(qkv, rows * ld), *d = dzeros(rows * C);
  cpu_attention(r, qkv, qkv + C, qkv + 2 * C, ld, B, inner, outer, inner_stride, tok, len, H, D, scale);
  cuda_attention(&ctx, d, dq, dq + C, dq + 2 * C, ld, B, inner, outer, inner_stride, tok, len, H, D, scale);
  gets(g, d, rows * C);
  char nm[96];
  snprintf(nm, sizeof nm, "attention %s B%d T%d S%d H%d D%d (len %d)", temporal ? "temporal" : "spatial", B, T, S,
           H, D, len);
  /* online softmax with CUDA's expf and fp32 running sums vs two passes with a double sum. In
   * 16-bit storage the tensor-core kernel also rounds the probabilities to storage before P.V
   * (an error of at most U * sum p|v|, and sum p|v| <= max|v|, about 4x max|out| for these
   * N(0, 1) inputs) and the output once: 4 + 1 roundings' worth against max|out| */
  check_rel(nm, g, r, rows * C, rel_st(1e-4, 5), nmse_st(5, 1e-10));
  if (!twice) return;
  float *g2 = hf(rows * C);
  ditc_st *d2 = dzeros(rows * C);
  cuda_attention(&ctx, d2, dq, dq + C, dq + 2 * C, ld, B, inner, outer, inner_stride, tok, len, H, D, scale);
  gets(g2, d2, rows * C);
  check_bits("attention deterministic: two runs bit-identical", g, g2, rows * C);
}

static void cross_case(int B, int N, int L, int H, int D, const int32_t *lens) {
  const int C = H * D;
  const int64_t ld = 2 * C, nq = (int64_t)B * N * C; /* k, v inside fused kv rows [B*L, 2C] */
  const float scale = (float)(1.0 / sqrt(D));
  float *q = randn(nq, 0.0f, 1.0f), *kv = randn(B * L * ld, 0.0f, 1.0f), *r = hf(nq), *g = hf(nq);
  ditc_st *dq = dputs(q, nq), *dkv = dputs(kv, B * L * ld), *d = dzeros(nq);
  cpu_cross_attention(r, q, kv, kv + C, ld, lens, B, N, L, H, D, scale);
  cuda_cross_attention(&ctx, d, dq, dkv, dkv + C, ld, dput(lens, sizeof(int32_t) * B), B, N, L, H, D, scale);
  gets(g, d, nq);
  char nm[96];
  snprintf(nm, sizeof nm, "cross_attention B%d N%d L%d H%d D%d lens %d..%d", B, N, L, H, D, lens[0], lens[B - 1]);
  /* as self-attention: online softmax, another summation order, the same storage roundings */
  check_rel(nm, g, r, nq, rel_st(1e-4, 5), nmse_st(5, 1e-10));
}

/* Attention of one sequence q, k, v [len, C] (head h at column h*D) into out [len, C] in float64,
 * every operation in index order: the reference both GPU kernels are measured against. */
static void attention_f64(double *out, const float *q, const float *k, const float *v, int len, int H, int D,
                          double scale, double *p) {
  const int C = H * D;
  for (int h = 0; h < H; h++)
    for (int i = 0; i < len; i++) {
      double mx = -INFINITY, sum = 0.0;
      for (int j = 0; j < len; j++) {
        double s = 0.0;
        for (int e = 0; e < D; e++) s += (double)q[i * C + h * D + e] * k[j * C + h * D + e];
        p[j] = s * scale;
        mx = fmax(mx, p[j]);
      }
      for (int j = 0; j < len; j++) p[j] = exp(p[j] - mx), sum += p[j];
      for (int e = 0; e < D; e++) {
        double o = 0.0;
        for (int j = 0; j < len; j++) o += p[j] * v[j * C + h * D + e];
        out[i * C + h * D + e] = o / sum;
      }
    }
}

/* The project's rule for fused attention (as flash-attention's tests): its max error against a
 * float64 reference is at most twice that of a naive implementation in the same storage
 * (cuda_attention_naive: scores and probabilities stored in storage, as unfused ops would). The
 * inputs are in storage, so all three see the same values. */
static void attention_vs_naive(int D) {
  const int len = 203, H = 2, C = H * D;
  const int64_t n = (int64_t)len * C;
  const float scale = (float)(1.0 / sqrt(D));
  float *q = randn(n, 0.0f, 1.0f), *k = randn(n, 0.0f, 1.0f), *v = randn(n, 0.0f, 1.0f), *g = hf(n), *gn = hf(n);
  ditc_st *dq = dputs(q, n), *dk = dputs(k, n), *dv = dputs(v, n), *d = dzeros(n), *dn = dzeros(n);
  double *r64 = halloc(sizeof(double) * n), *p = halloc(sizeof(double) * len);
  attention_f64(r64, q, k, v, len, H, D, scale, p);
  cuda_attention(&ctx, d, dq, dk, dv, C, 1, 1, 0, 0, 1, len, H, D, scale);
  cuda_attention_naive(&ctx, dn, dq, dk, dv, C, 1, 1, 0, 0, 1, len, H, D, scale);
  gets(g, d, n);
  gets(gn, dn, n);
  double err = 0.0, err_naive = 0.0;
  int64_t wi = 0;
  for (int64_t i = 0; i < n; i++) {
    const double e = fabs(g[i] - r64[i]);
    if (e > err || isnan(e)) err = e, wi = i;
    err_naive = fmax(err_naive, fabs(gn[i] - r64[i]));
  }
  char nm[96];
  snprintf(nm, sizeof nm, "attention len 203 H2 D%d vs float64: error <= 2x naive %s", D, STORAGE);
  result(err <= 2.0 * err_naive, nm, "max error %.3g at %lld (got %.9g, fp64 %.9g), naive %.3g, %.3g%% of budget",
         err, (long long)wi, g[wi], r64[wi], err_naive, 100.0 * err / (2.0 * err_naive));
}

static void test_attention(void) {
  attention_case(1, 2, 17 * 23, 2, 64, 0, 1); /* spatial, len 391, and determinism */
  attention_case(2, 1, 13 * 19, 3, 72, 0, 0); /* spatial, len 247 */
  attention_case(1, 1, 24 * 24, 2, 96, 0, 0); /* spatial, len 576 */
  attention_case(2, 15, 37, 2, 72, 1, 0);     /* temporal, len 15 */
  attention_case(1, 15, 20, 3, 96, 1, 0);     /* temporal, len 15 */
  attention_case(1, 15, 9, 4, 64, 1, 0);      /* temporal, len 15 */
  release();
  const int32_t l72[3] = {39, 17, 0}, l64[2] = {119, 5}, l96[2] = {76, 50}; /* lens < L; 0: no keys, zeros */
  cross_case(3, 70, 40, 2, 72, l72);
  cross_case(2, 45, 120, 1, 64, l64);
  cross_case(2, 33, 77, 2, 96, l96);
  release();
  for (int i = 0; i < 3; i++) {
    attention_vs_naive((const int[]){64, 72, 96}[i]);
    release();
  }
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
    cpu_gate_residual(rx, src, t, table, chunk, nchunk, B, R, C, st ? rs : NULL);
    cuda_gate_residual(&ctx, dx, dsrc, dt, dtab, chunk, nchunk, B, R, C, st ? ds : NULL);
    gets(gx, dx, n);
    gets(gs, ds, n);
    /* (table + t) * src, then x += g; the GPU rounds the product like the CPU: equal up to
     * contraction. Storage: g is rounded (and x adds the rounded g), then x: two roundings */
    check_st(st ? "gate_residual B2 R29 C45 chunk 2/6, x" : "gate_residual B2 R29 C45 chunk 2/6, no store, x", gx,
             rx, n, 1e-5, 1e-6, 2);
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

/* ---- main ----------------------------------------------------------------------------------- */

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
  printf("# CUDA ops in %s storage\n", STORAGE);
  ctx.workspace_bytes = 32u << 20; /* what the generated plan gives cuBLASLt */
  CK(cudaMalloc(&ctx.workspace, ctx.workspace_bytes));
  void *workspace = ctx.workspace;
  test_storage();
  test_pos_embed();
  test_rope_tables();
  test_fill_add_silu();
  test_linear();
  test_text();
  test_video_tokens();
  test_ln_modulate();
  test_qk_rmsnorm();
  test_qk_rmsnorm_rope();
  test_rope();
  test_attention();
  test_residuals();
  test_dsp();
  cuda_ctx_free(&ctx);
  cuda_ctx_free(&ctx); /* safe on a freed context */
  result(!ctx.stream && !ctx.lt, "cuda_ctx_free clears the context (twice)", "stream and handle NULL");
  CK(cudaFree(workspace));
  printf("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed ? 1 : 0;
}
