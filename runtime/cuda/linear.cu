/* cuda/linear.cu: the context every CUDA op runs on (stream, cuBLASLt handle), the storage
 * conversions, and cuda_linear as one cuBLASLt matmul: storage-typed operands, fp32 accumulation,
 * the bias added in the epilogue, and in 16-bit storage tanh-GELU as well (GELU_BIAS). fp32
 * storage keeps the CPU's arithmetic instead: no TF32, and GELU in a separate kernel written like
 * cpu/ops.c's. cuda_linear_f32 is that fp32 GEMM in any storage. Not here: the other ops
 * (cuda/ops.cu, cuda/block.cu, cuda/attention.cu). */
#include <cublasLt.h>
#include <math.h>

#include "cuda/common.cuh"

#if DITC_STORAGE == DITC_STORAGE_F32
const int ditc_cuda_storage_f32 = 1;
static const cudaDataType_t ST_TYPE = CUDA_R_32F;
#elif DITC_STORAGE == DITC_STORAGE_BF16
const int ditc_cuda_storage_bf16 = 1;
static const cudaDataType_t ST_TYPE = CUDA_R_16BF;
#else
const int ditc_cuda_storage_f16 = 1;
static const cudaDataType_t ST_TYPE = CUDA_R_16F;
#endif

static void check_lt(cublasStatus_t e, const char *what, const char *file, int line) {
  if (e == CUBLAS_STATUS_SUCCESS) return;
  fprintf(stderr, "ditc: cuBLASLt error: %s:%d: %s: %s\n", file, line, what, cublasLtGetStatusString(e));
  abort();
}
#define LT_CHECK(stmt) check_lt((stmt), #stmt, __FILE__, __LINE__)

/* ---- context ----------------------------------------------------------------------------- */

int cuda_ctx_init(cuda_ctx *c) {
  cudaStream_t s = NULL;
  cublasLtHandle_t h = NULL;
  c->stream = c->lt = c->workspace = NULL;
  c->workspace_bytes = 0;
  /* a blocking stream: ordered after plain cudaMemcpy/cudaMemset on the legacy default stream */
  if (cudaStreamCreate(&s) != cudaSuccess) return -1;
  if (cublasLtCreate(&h) != CUBLAS_STATUS_SUCCESS) {
    cudaStreamDestroy(s);
    return -1;
  }
  c->stream = s;
  c->lt = h;
  return 0;
}

void cuda_ctx_free(cuda_ctx *c) {
  if (c->stream) CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)c->stream));
  if (c->lt) cublasLtDestroy((cublasLtHandle_t)c->lt);
  if (c->stream) cudaStreamDestroy((cudaStream_t)c->stream);
  c->stream = c->lt = c->workspace = NULL;
}

/* ---- storage conversions ----------------------------------------------------------------- */

static __global__ void to_storage_kernel(st_t *__restrict__ out, const float *__restrict__ src, int64_t n) {
  GRID_LOOP(i, n) out[i] = to_st(src[i]);
}

static __global__ void from_storage_kernel(float *__restrict__ out, const st_t *__restrict__ src, int64_t n) {
  GRID_LOOP(i, n) out[i] = ld(src[i]);
}

void cuda_to_storage(const cuda_ctx *ctx, ditc_st *out, const float *src, int64_t n) {
  LAUNCH_N(ctx, to_storage_kernel, n, st_ptr(out), src, n);
}

void cuda_from_storage(const cuda_ctx *ctx, float *out, const ditc_st *src, int64_t n) {
  LAUNCH_N(ctx, from_storage_kernel, n, out, st_ptr(src), n);
}

/* ---- linear -------------------------------------------------------------------------------- */

/* fp32 storage only: out = gelu_tanh(out) in place, as cpu/ops.c writes it. */
static __global__ void gelu_kernel(st_t *out, int64_t n) {
  const float beta = 0.7978845608028654f, kappa = 0.044715f; /* sqrt(2/pi) */
  GRID_LOOP(i, n) {
    const float x = ld(out[i]);
    out[i] = to_st(0.5f * x * (1.0f + tanhf(beta * (x + __fmul_rn(kappa * x * x, x)))));
  }
}

/* The alignment of a pointer in bytes (the largest power of two dividing it), at most 256. */
static uint32_t alignment_of(const void *p) {
  const uintptr_t a = (uintptr_t)p;
  uint32_t n = 256;
  while (n > 1 && a % n) n /= 2;
  return n;
}

/* Row-major out[M, N] = src[M, K] w[N, K]^T is, column-major, out^T [N, M] = op_T(w as [K, N]) *
 * src^T [K, M]; the bias has one entry per row of that column-major result (N), as cuBLASLt's
 * BIAS epilogue expects. Every operand (and the bias) of element `type`, fp32 accumulation and
 * scaling (CUBLAS_COMPUTE_32F: no TF32 for fp32 operands). Descriptors are made per call: host work
 * only, so the call is legal inside stream capture, and a replayed graph pays none of it. */
static void lt_matmul(const cuda_ctx *ctx, void *out, const void *src, const void *w, const void *b, int64_t M, int K,
                      int N, cudaDataType_t type, cublasLtEpilogue_t epi) {
  OPS_CHECK(ctx->workspace != NULL);
  cublasLtMatmulDesc_t op = NULL;
  cublasLtMatrixLayout_t la = NULL, lb = NULL, ld_out = NULL;
  cublasLtMatmulPreference_t pref = NULL;
  LT_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F)); /* no TF32 for fp32 operands */
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  LT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  LT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  LT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_EPILOGUE, &epi, sizeof epi));
  if (b) LT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_BIAS_POINTER, &b, sizeof b));
  LT_CHECK(cublasLtMatrixLayoutCreate(&la, type, (uint64_t)K, (uint64_t)N, K));      /* w [N, K] */
  LT_CHECK(cublasLtMatrixLayoutCreate(&lb, type, (uint64_t)K, (uint64_t)M, K));      /* src [M, K] */
  LT_CHECK(cublasLtMatrixLayoutCreate(&ld_out, type, (uint64_t)N, (uint64_t)M, N));  /* out [M, N] */
  LT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t ws = ctx->workspace_bytes;
  LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
  /* the operands' real alignment: the heuristic otherwise assumes 256 bytes (the plan aligns
   * buffers and weights so, but a column block of a row, e.g. qkv's k, starts inside one) */
  const uint32_t align_a = alignment_of(w), align_b = alignment_of(src), align_c = alignment_of(out);
  LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, &align_a, sizeof align_a));
  LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES, &align_b, sizeof align_b));
  LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, &align_c, sizeof align_c));
  LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES, &align_c, sizeof align_c));
  cublasLtMatmulHeuristicResult_t algo;
  int found = 0;
  LT_CHECK(cublasLtMatmulAlgoGetHeuristic((cublasLtHandle_t)ctx->lt, op, la, lb, ld_out, ld_out, pref, 1, &algo,
                                          &found));
  OPS_CHECK(found == 1); /* every shape of the op programs has one; none would be a library bug */
  const float one = 1.0f, zero = 0.0f;
  LT_CHECK(cublasLtMatmul((cublasLtHandle_t)ctx->lt, op, &one, w, la, src, lb, &zero, out, ld_out, out, ld_out,
                          &algo.algo, ctx->workspace, ctx->workspace_bytes, stream_of(ctx)));
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(ld_out);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatmulDescDestroy(op);
}

/* Storage operands; the bias, and in 16-bit storage tanh-GELU, as the epilogue. */
void cuda_linear(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, const ditc_st *w, const ditc_st *b,
                 int64_t M, int K, int N, int act) {
  if (M <= 0 || N <= 0) return;
  OPS_CHECK(K > 0 && (act == DITC_ACT_NONE || act == DITC_ACT_GELU_TANH));
  const bool fused_gelu = act == DITC_ACT_GELU_TANH && DITC_STORAGE != DITC_STORAGE_F32;
  cublasLtEpilogue_t epi = CUBLASLT_EPILOGUE_DEFAULT;
  if (b) epi = fused_gelu ? CUBLASLT_EPILOGUE_GELU_BIAS : CUBLASLT_EPILOGUE_BIAS;
  else if (fused_gelu) epi = CUBLASLT_EPILOGUE_GELU;
  lt_matmul(ctx, out, src, w, b, M, K, N, ST_TYPE, epi);
  if (act == DITC_ACT_GELU_TANH && !fused_gelu)
    LAUNCH_N(ctx, gelu_kernel, M * N, st_ptr(out), M * N);
}

/* fp32 operands in any storage (T5's `wo` in the fp16 pipelines): the fp32 storage path's GEMM. */
void cuda_linear_f32(const cuda_ctx *ctx, float *out, const float *src, const float *w, int64_t M, int K, int N) {
  if (M <= 0 || N <= 0) return;
  OPS_CHECK(K > 0);
  lt_matmul(ctx, out, src, w, NULL, M, K, N, CUDA_R_32F, CUBLASLT_EPILOGUE_DEFAULT);
}
