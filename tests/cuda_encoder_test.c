/* tests/cuda_encoder_test.c: the text encoder's CUDA ops (runtime/cuda/encoder.cu, with the fp32 forms
 * linear_f32 in cuda/linear.cu and rms_norm_from_f32 in cuda/block.cu) against their CPU references on
 * fixed-seed random inputs, in every storage (part of tests/cuda_ops_test.c's binary, which runs
 * test_encoder; the harness is tests/cuda_test.c): the embedding, the bias table, attention with bias
 * and key mask (a fully masked sample included), the gate product, storage to fp32, and what the fp16
 * pipelines' T5 adds (gen/families/t5.lua): the fp32 GEMM of `wo`, RMSNorm of the fp32 stream, the
 * fp32 residual adds and the clamp of an fp16 stream (no infinity, then one in the last element).
 * Tolerances as cuda_ops_test.c's: U per rounding the GPU makes that the CPU does not. Not a test of
 * the generated T5 (tests/gpu.sh runs the fixture). */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "cuda_test.h"

/* The bias table, the embedding, the gate product and storage to fp32: copies and one product. */
static void test_encoder_copies(void) {
  const int V = 50, C = 72, L = 37, H = 3, nb = 32, max_dist = 128;
  const int64_t R = 41, n = R * C;
  float *table = randn((int64_t)V * C, 0.0f, 1.0f), *r = hf(n), *g = hf(n);
  ditc_st *dtable = dputs(table, (int64_t)V * C), *d = dzeros(n);
  int32_t *ids = halloc(sizeof(int32_t) * R);
  for (int64_t i = 0; i < R; i++) ids[i] = (int32_t)(uniform() * V);
  ids[0] = 0, ids[R - 1] = V - 1; /* both ends of the table */
  cpu_embedding(r, ids, table, R, C);
  cuda_embedding(&ctx, d, dput(ids, sizeof(int32_t) * R), dtable, R, C);
  gets(g, d, n);
  check_close("embedding R41 C72 V50", g, r, n, 0.0, 0.0); /* a gather of storage values: exact */

  const int64_t nbias = (int64_t)H * (2 * L - 1);
  float *bt = randn((int64_t)nb * H, 0.0f, 1.0f), *rb = hf(nbias), *gb = hf(nbias), *db = dputf(NULL, nbias);
  ditc_st *dbt = dputs(bt, (int64_t)nb * H);
  cpu_rel_bias(rb, bt, L, H, nb, max_dist);
  cuda_rel_bias(&ctx, db, dbt, L, H, nb, max_dist);
  getf(gb, db, nbias);
  check_close("rel_bias L37 H3 32 buckets", gb, rb, nbias, 0.0, 0.0); /* a gather into fp32: exact */

  float *a = randn(n, 0.0f, 2.0f), *b = randn(n, 0.0f, 2.0f);
  a[1] = NAN, b[2] = INFINITY; /* NaN/Inf parity */
  ditc_st *da = dputs(a, n), *dbb = dputs(b, n);
  cpu_mul(r, a, b, n);
  cuda_mul(&ctx, d, da, dbb, n);
  gets(g, d, n);
  check_close("mul n2952 with NaN/Inf", g, r, n, U, 0.0); /* one fp32 product, rounded once to storage */

  float *f = dputf(NULL, n);
  cpu_to_f32(r, a, n);
  cuda_to_f32(&ctx, f, da, n);
  getf(g, f, n);
  check_close("to_f32 n2952", g, r, n, 0.0, 0.0); /* storage values are exact in fp32 */
  release();
}

/* Attention with the bias by offset and a key mask: sample 0 partly masked, sample 1 fully. */
static void test_attention_bias(void) {
  const int B = 2, L = 37, H = 3, D = 16, HD = H * D;
  const int64_t n = (int64_t)B * L * HD, nbias = (int64_t)H * (2 * L - 1);
  float *q = randn(n, 0.0f, 1.0f), *k = randn(n, 0.0f, 1.0f), *v = randn(n, 0.0f, 1.0f);
  float *bias = randn(nbias, 0.0f, 1.0f), *r = hf(n), *g = hf(n);
  int32_t *mask = halloc(sizeof(int32_t) * B * L);
  for (int j = 0; j < L; j++) {
    mask[j] = j < 23 || j == 30;
    mask[L + j] = 0;
  }
  ditc_st *dq = dputs(q, n), *dk = dputs(k, n), *dv = dputs(v, n), *d = dzeros(n);
  cpu_attention_bias(r, q, k, v, HD, bias, mask, B, L, H, D);
  cuda_attention_bias(&ctx, d, dq, dk, dv, HD, dputf(bias, nbias), dput(mask, sizeof(int32_t) * B * L), B, L, H, D);
  gets(g, d, n);
  /* scores and softmax in fp32 in other orders (expf, the warp's sums), the output rounded once */
  check_rel("attention_bias B2 L37 H3 D16, a partly and a fully masked sample", g, r, n, rel_st(1e-4, 1),
            nmse_st(1, 1e-10));
  release();
}

/* The fp16 pipelines' fp32 ops: wo's GEMM, RMSNorm of the fp32 stream, the fp32 residual adds. */
static void test_fp32_stream(void) {
  const int64_t M = 37;
  const int K = 160, N = 67;
  float *x = randn(M * K, 0.0f, 1.0f), *w = randn((int64_t)N * K, 0.0f, (float)(1.0 / sqrt(K)));
  float *r = hf(M * N), *g = hf(M * N), *g2 = hf(M * N);
  float *dx = dputf(x, M * K), *dw = dputf(w, (int64_t)N * K), *d = dputf(NULL, M * N), *d2 = dputf(NULL, M * N);
  cpu_linear(r, x, w, NULL, M, K, N, DITC_ACT_NONE);
  cuda_linear_f32(&ctx, d, dx, dw, M, K, N);
  cuda_linear_f32(&ctx, d2, dx, dw, M, K, N);
  getf(g, d, M * N);
  getf(g2, d2, M * N);
  /* fp32 in every storage: cuBLASLt's summation order (no TF32, which would be ~1e-3), no rounding */
  check_rel("linear_f32 37x160 -> 67 (fp32 operands in any storage)", g, r, M * N, 1e-4, 1e-10);
  check_bits("linear_f32 deterministic: two runs bit-identical", g, g2, M * N);

  const int Cs[2] = {72, 4096}, Rs[2] = {37, 5}; /* the fixture's width class and T5 XXL's d_model */
  for (int i = 0; i < 2; i++) {
    const int C = Cs[i];
    const int64_t R = Rs[i], n = R * C;
    float *src = randn(n, 0.5f, 3.0f), *wn = randn(C, 1.0f, 0.1f), *rn = hf(n), *gn = hf(n);
    ditc_st *dwn = dputs(wn, C), *dn = dzeros(n);
    cpu_rms_norm(rn, src, wn, R, C, 1e-6f);
    cuda_rms_norm_from_f32(&ctx, dn, dputf(src, n), dwn, R, C, 1e-6f);
    gets(gn, dn, n);
    char nm[80];
    snprintf(nm, sizeof nm, "rms_norm_from_f32 R%lld C%d (fp32 in, storage out)", (long long)R, C);
    /* sum of squares over C in another order (warp); the normalized row and the product each
     * rounded to storage, which the CPU does not */
    check_rel(nm, gn, rn, n, rel_st(1e-4, 2), nmse_st(2, 1e-10));
  }

  const int64_t n = 4099;
  float *a = randn(n, 0.0f, 100.0f), *b = randn(n, 0.0f, 1.0f), *ra = hf(n), *ga = hf(n);
  a[3] = NAN, a[5] = INFINITY, b[5] = -INFINITY, b[9] = INFINITY; /* NaN/Inf parity */
  float *da = dputf(a, n), *dbf = dputf(b, n), *dout = dputf(NULL, n);
  cpu_add(ra, a, b, n);
  cuda_add_f32(&ctx, dout, da, dbf, n);
  getf(ga, dout, n);
  check_close("add_f32 n4099 with NaN/Inf", ga, ra, n, 0.0, 0.0); /* one fp32 addition: exact */
  ditc_st *dbs = dputs(b, n); /* b rounded to storage in place: the CPU adds the same values */
  cpu_add(ra, a, b, n);
  cuda_add_f32_st(&ctx, dout, da, dbs, n);
  getf(ga, dout, n);
  check_close("add_f32_st n4099 with NaN/Inf (fp32 + storage)", ga, ra, n, 0.0, 0.0); /* widening is exact */
  release();
}

/* The clamp of an fp16 stream: without an infinity nothing changes; with one (the tensor's last
 * element, past the first blocks of the reduction) every value beyond 64504 and the infinities
 * become +-64504 rounded to storage, NaN stays; the flag as the CPU's. */
static void test_clamp(void) {
  const int64_t n = 100003;
  for (int with_inf = 0; with_inf < 2; with_inf++) {
    float *x = randn(n, 0.0f, 1.0e4f), *r = hf(n), *g = hf(n); /* within fp16's range but the specials */
    const float special[] = {65504.0f, -65504.0f, 64512.0f, -64600.0f, 64500.0f, NAN, 0.0f, -0.0f};
    for (int i = 0; i < (int)(sizeof special / sizeof special[0]); i++) x[7 * i + 1] = special[i];
    if (with_inf) x[n - 1] = -INFINITY;
    ditc_st *dx = dputs(x, n); /* x rounded to storage in place: the CPU clamps the same values */
    int32_t rflag = -1, gflag = -1, *dflag = dput(NULL, sizeof(int32_t));
    memcpy(r, x, sizeof(float) * n);
    cpu_clamp_fp16(r, &rflag, n);
    cuda_clamp_fp16(&ctx, dx, dflag, n);
    gets(g, dx, n);
    get(&gflag, dflag, sizeof gflag);
    dputs(r, n); /* the CPU's result rounded to storage as the GPU stores it (fp16: 64504 -> 64512) */
    char nm[96];
    snprintf(nm, sizeof nm, "clamp_fp16 n100003, %s", with_inf ? "-inf in the last element" : "no infinity");
    check_close(nm, g, r, n, 0.0, 0.0); /* comparisons and one rounding of the bound: exact */
    result(gflag == rflag && rflag == with_inf, with_inf ? "clamp_fp16: any_inf set" : "clamp_fp16: any_inf clear",
           "GPU %d, CPU %d", gflag, rflag);
  }
  release();
}

void test_encoder(void) {
  test_encoder_copies();
  test_attention_bias();
  test_fp32_stream();
  test_clamp();
}
