/* tests/cuda_attention_test.c: cuda_attention and cuda_cross_attention against the CPU reference
 * (spatial, temporal and cross shapes, head dims 64, 72 and 96, per-sample key counts down to 0,
 * determinism), and the rule for fused attention: no more than twice the error of the naive kernel
 * in the same storage against float64. The cuDNN entries (cuda/attention_cudnn.cu) against the own
 * kernels and float64 in the layouts the generator emits, and their plans across a stream capture.
 * Part of the op test binary (cuda_ops_test.c runs it). */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cuda_test.h"

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

/* ---- the cuDNN entries ------------------------------------------------------------------------ */

/* Attention in the generated layouts, in float64 from the storage-rounded inputs: sequence s = (o,
 * i) has query row o*q_outer + i*inner_stride + j*tok of q (q_ld apart) and out (C apart), key row
 * o*kv_outer + i*inner_stride + j*tok of k, v (kv_ld apart), the first lens[s] keys (or nk) valid;
 * no keys: zeros. */
typedef struct {
  int64_t q_ld, kv_ld, q_outer, kv_outer, inner_stride, tok;
  int nseq, inner, nq, nk, H, D;
  const int32_t *lens;
} layout;

static void attention_ref64(double *out, const float *q, const float *k, const float *v, const layout *a,
                            double scale) {
  const int C = a->H * a->D;
  double *p = halloc(sizeof(double) * (size_t)a->nk);
  for (int64_t s = 0; s < (int64_t)a->nseq * a->inner; s++) {
    const int64_t o = s / a->inner, in = s % a->inner;
    const int64_t qb = o * a->q_outer + in * a->inner_stride, kb = o * a->kv_outer + in * a->inner_stride;
    const int nk = a->lens ? a->lens[s] : a->nk;
    for (int h = 0; h < a->H; h++)
      for (int i = 0; i < a->nq; i++) {
        const int64_t qr = qb + (int64_t)i * a->tok;
        double mx = -INFINITY, sum = 0.0;
        for (int j = 0; j < nk; j++) {
          const int64_t kr = kb + (int64_t)j * a->tok;
          double d = 0.0;
          for (int e = 0; e < a->D; e++) d += (double)q[qr * a->q_ld + h * a->D + e] * k[kr * a->kv_ld + h * a->D + e];
          p[j] = d * scale;
          mx = fmax(mx, p[j]);
        }
        for (int j = 0; j < nk; j++) p[j] = exp(p[j] - mx), sum += p[j];
        for (int e = 0; e < a->D; e++) {
          double acc = 0.0;
          for (int j = 0; j < nk; j++) acc += p[j] * v[(kb + (int64_t)j * a->tok) * a->kv_ld + h * a->D + e];
          out[qr * C + h * a->D + e] = nk > 0 ? acc / sum : 0.0;
        }
      }
  }
}

static double max_err(const float *g, const double *r, int64_t n, int64_t *wi) {
  double e = 0.0;
  for (int64_t i = 0; i < n; i++) {
    const double d = fabs(g[i] - r[i]);
    if (d > e || isnan(d)) e = d, *wi = i;
  }
  return e;
}

/* One layout through cuda_attention_cudnn (cross: cuda_cross_attention_cudnn), the own kernel and the
 * naive kernel: in 16-bit storage cuDNN must have run (its execution counter moved), its error
 * against float64 is at most twice the naive kernel's (the rule for fused attention), it agrees
 * with the own kernel within both kernels' budgets, and a sample with no keys gives zeros; in fp32
 * storage the entry is the own kernel, bit for bit. */
static void cudnn_case(const char *kind, int cross, int B, int T, int S, int N, int L, int H, int D,
                       const int32_t *lens) {
  const int C = H * D;
  layout a;
  int64_t nrows, nkv;
  if (cross) {
    a = (layout){C, 2 * C, N, L, 0, 1, B, 1, N, L, H, D, lens};
    nrows = (int64_t)B * N, nkv = (int64_t)B * L;
  } else {
    const int temporal = !strcmp(kind, "temporal");
    /* as gen/ emits them: spatial nseq = B*T, inner 1; temporal nseq = B, inner S, frames S rows apart */
    a = temporal ? (layout){3 * C, 3 * C, (int64_t)T * S, (int64_t)T * S, 1, S, B, S, T, T, H, D, NULL}
                 : (layout){3 * C, 3 * C, S, S, 0, 1, B * T, 1, S, S, H, D, NULL};
    nrows = nkv = (int64_t)B * T * S;
  }
  const float scale = (float)(1.0 / sqrt(D));
  const int64_t n = nrows * C;
  float *q = randn(nrows * a.q_ld, 0.0f, 1.0f), *kv = cross ? randn(nkv * a.kv_ld, 0.0f, 1.0f) : q;
  ditc_st *dq = dputs(q, nrows * a.q_ld), *dkv = cross ? dputs(kv, nkv * a.kv_ld) : dq;
  const float *k = cross ? kv : q + C, *v = cross ? kv + C : q + 2 * C;
  ditc_st *dk = cross ? dkv : dq + C, *dv = cross ? dkv + C : dq + 2 * C;
  ditc_st *dd = dzeros(n), *dn = dzeros(n), *dc = dzeros(n);
  int32_t *dl = cross ? dput(lens, sizeof(int32_t) * B) : NULL;
  double *r64 = halloc(sizeof(double) * n);
  attention_ref64(r64, q, k, v, &a, scale);
  const int64_t runs = cuda_dnn_executions(&ctx);
  if (cross) {
    cuda_cross_attention(&ctx, dd, dq, dk, dv, a.kv_ld, dl, B, N, L, H, D, scale);
    cuda_cross_attention_naive(&ctx, dn, dq, dk, dv, a.kv_ld, dl, B, N, L, H, D, scale);
    cuda_cross_attention_cudnn(&ctx, dc, dq, dk, dv, a.kv_ld, dl, B, N, L, H, D, scale);
  } else {
    cuda_attention(&ctx, dd, dq, dk, dv, a.q_ld, a.nseq, a.inner, a.q_outer, a.inner_stride, a.tok, a.nq, H, D, scale);
    cuda_attention_naive(&ctx, dn, dq, dk, dv, a.q_ld, a.nseq, a.inner, a.q_outer, a.inner_stride, a.tok, a.nq, H, D,
                         scale);
    cuda_attention_cudnn(&ctx, dc, dq, dk, dv, a.q_ld, a.nseq, a.inner, a.q_outer, a.inner_stride, a.tok, a.nq, H, D,
                         scale);
  }
  float *g = hf(n), *gn = hf(n), *gc = hf(n);
  gets(g, dd, n);
  gets(gn, dn, n);
  gets(gc, dc, n);
  const int64_t ran = cuda_dnn_executions(&ctx) - runs;
  char nm[96];
  snprintf(nm, sizeof nm, "cudnn %s B%d T%d S%d N%d L%d H%d D%d%s", kind, B, T, S, N, L, H, D,
           cross ? (lens[0] == 0 ? " lens 0/partial/full" : " lens partial/full") : "");
  char what[200];
  if (U == 0.0) { /* fp32 storage: no cuDNN SDPA, the own kernel */
    snprintf(what, sizeof what, "%s: fp32 storage runs the own kernel", nm);
    result(ran == 0, what, "%lld cuDNN executions", (long long)ran);
    snprintf(what, sizeof what, "%s: bit-identical to cuda_attention", nm);
    check_bits(what, gc, g, n);
    return;
  }
  snprintf(what, sizeof what, "%s: cuDNN ran (no fallback)", nm);
  result(ran > 0, what, "%lld cuDNN executions", (long long)ran);
  int64_t wc = 0, wo = 0, wn = 0;
  const double ec = max_err(gc, r64, n, &wc), eo = max_err(g, r64, n, &wo), en = max_err(gn, r64, n, &wn);
  snprintf(what, sizeof what, "%s vs float64: cuDNN error <= 2x naive %s", nm, STORAGE);
  result(ec <= 2.0 * en, what, "cuDNN %.3g at %lld (got %.9g, fp64 %.9g), own %.3g, naive %.3g, %.3g%% of budget", ec,
         (long long)wc, gc[wc], r64[wc], eo, en, 100.0 * ec / (2.0 * en));
  snprintf(what, sizeof what, "%s vs float64: own error <= 2x naive %s", nm, STORAGE);
  result(eo <= 2.0 * en, what, "own %.3g at %lld, naive %.3g, %.3g%% of budget", eo, (long long)wo, en,
         100.0 * eo / (2.0 * en));
  /* each within 5 roundings of max|out| of the exact result (see attention_case): 10 apart at most */
  snprintf(what, sizeof what, "%s: cuDNN agrees with the own kernel", nm);
  check_rel(what, gc, g, n, rel_st(2e-4, 10), nmse_st(10, 1e-10));
  if (cross && lens[0] == 0) {
    int64_t nz = 0;
    for (int64_t i = 0; i < (int64_t)N * C; i++) nz += gc[i] != 0.0f;
    snprintf(what, sizeof what, "%s: the sample with no keys gives zeros", nm);
    result(nz == 0, what, "%lld of %lld nonzero", (long long)nz, (long long)N * C);
  }
}

/* A first call inside a stream capture has no plan: it runs the own kernel and leaves the plan
 * pending; cuda_dnn_build_pending builds it (and warms it up) outside the capture; a second capture
 * runs cuDNN, and its graph's result is the eager one's. */
static void cudnn_capture_case(void) {
  const int B = 2, T = 3, S = 77, H = 2, D = 64, C = H * D;
  const int64_t rows = (int64_t)B * T * S, ld = 3 * C, n = rows * C;
  const float scale = 0.125f;
  float *qkv = randn(rows * ld, 0.0f, 1.0f), *g = hf(n), *ge = hf(n);
  ditc_st *dq = dputs(qkv, rows * ld), *d = dzeros(n), *de = dzeros(n);
  cudaStream_t st = (cudaStream_t)ctx.stream;
  cudaGraph_t gr = NULL;
  cudaGraphExec_t ex = NULL;
  CK(cudaStreamSynchronize(st));
  const int64_t r0 = cuda_dnn_executions(&ctx);
  CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
  cuda_attention_cudnn(&ctx, d, dq, dq + C, dq + 2 * C, ld, B * T, 1, S, 0, 1, S, H, D, scale);
  CK(cudaStreamEndCapture(st, &gr));
  CK(cudaGraphDestroy(gr));
  const int64_t r1 = cuda_dnn_executions(&ctx);
  const int built = cuda_dnn_build_pending(&ctx);
  const int64_t r2 = cuda_dnn_executions(&ctx);
  CK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
  cuda_attention_cudnn(&ctx, d, dq, dq + C, dq + 2 * C, ld, B * T, 1, S, 0, 1, S, H, D, scale);
  CK(cudaStreamEndCapture(st, &gr));
  const int64_t r3 = cuda_dnn_executions(&ctx);
  CK(cudaGraphInstantiate(&ex, gr, 0));
  CK(cudaMemsetAsync(d, 0, (size_t)n * sizeof(ditc_st), st));
  CK(cudaGraphLaunch(ex, st));
  gets(g, d, n);
  cuda_attention_cudnn(&ctx, de, dq, dq + C, dq + 2 * C, ld, B * T, 1, S, 0, 1, S, H, D, scale);
  gets(ge, de, n);
  CK(cudaGraphExecDestroy(ex));
  CK(cudaGraphDestroy(gr));
  result(r1 == r0 && built == 1 && r2 == r1 + 1 && r3 == r2 + 1,
         "cudnn capture: no plan is built inside a capture; build_pending builds and warms it; the recapture runs cuDNN",
         "executions %lld -> %lld (capture) -> %lld (build, %d built) -> %lld (recapture)", (long long)r0,
         (long long)r1, (long long)r2, built, (long long)r3);
  check_bits("cudnn capture: the captured graph gives the eager result", g, ge, n);
}

static void test_attention_cudnn(void) {
  if (!ctx.dnn && cuda_dnn_init(&ctx) != 0) {
    result(0, "cuda_dnn_init", "out of host memory");
    return;
  }
  for (int i = 0; i < 3; i++) {
    const int D = (const int[]){64, 72, 96}[i];
    cudnn_case("spatial", 0, 2, 2, 13 * 11, 0, 0, 2, D, NULL);
    cudnn_case("temporal", 0, 2, 15, 37, 0, 0, 2, D, NULL);
    const int32_t lens[3] = {0, 17, 40}; /* no keys, some, all */
    cudnn_case("cross", 1, 3, 0, 0, 70, 40, 2, D, lens);
    release();
  }
  if (U != 0.0) cudnn_capture_case();
  release();
  cuda_dnn_free(&ctx);
}

void test_attention(void) {
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
  test_attention_cudnn();
}
