/* tools/gemm_rate.cu: the device's measured dense GEMM rate, the yardstick tools/bench_gpu.sh
 * divides ditc's achieved TFLOP/s by. Per input type (bf16, fp16): one cuBLASLt matmul of the
 * layout runtime/cuda/linear.cu uses (row-major out[M, N] = a[M, K] w[N, K]^T, i.e. TRANSA=T,
 * TRANSB=N column-major), 16-bit operands and result, fp32 compute, no epilogue, a 32 MiB
 * workspace, operands filled with uniform random values in [-1, 1] (zeros run faster); warm-up
 * products, then CUDA events around a run of timed products on one stream. One line per type:
 *   gemm_rate bf16 8192x8192x8192: 781.3 TFLOP/s (...)
 * Prints `skipped: no CUDA device` and exits 0 without a device. Not a tuner and not a test: it
 * takes cuBLASLt's first heuristic choice, as linear.cu does, and checks no results. */
#include <cublasLt.h>
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- error checks ------------------------------------------------------------------------ */

static void check_cuda(cudaError_t e, const char *what, const char *file, int line) {
  if (e == cudaSuccess) return;
  fprintf(stderr, "gemm_rate: CUDA error: %s:%d: %s: %s\n", file, line, what, cudaGetErrorString(e));
  abort();
}
#define CUDA_CHECK(stmt) check_cuda((stmt), #stmt, __FILE__, __LINE__)

static void check_lt(cublasStatus_t e, const char *what, const char *file, int line) {
  if (e == CUBLAS_STATUS_SUCCESS) return;
  fprintf(stderr, "gemm_rate: cuBLASLt error: %s:%d: %s: %s\n", file, line, what, cublasLtGetStatusString(e));
  abort();
}
#define LT_CHECK(stmt) check_lt((stmt), #stmt, __FILE__, __LINE__)

/* ---- operands ------------------------------------------------------------------------------ */

static __device__ float uniform_pm1(uint64_t i, uint32_t seed) { /* splitmix64 -> [-1, 1) */
  uint64_t z = i + 0x9e3779b97f4a7c15ull * (seed + 1ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  z ^= z >> 31;
  return (float)(z >> 40) * (2.0f / 16777216.0f) - 1.0f;
}

static __global__ void fill_bf16_kernel(__nv_bfloat16 *p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    p[i] = __float2bfloat16(uniform_pm1((uint64_t)i, seed));
}

static __global__ void fill_fp16_kernel(__half *p, int64_t n, uint32_t seed) {
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x)
    p[i] = __float2half(uniform_pm1((uint64_t)i, seed));
}

static void fill(void *p, cudaDataType_t type, int64_t n, uint32_t seed) {
  if (type == CUDA_R_16BF) fill_bf16_kernel<<<1024, 256>>>((__nv_bfloat16 *)p, n, seed);
  else fill_fp16_kernel<<<1024, 256>>>((__half *)p, n, seed);
  CUDA_CHECK(cudaGetLastError());
}

/* ---- one measurement ------------------------------------------------------------------------ */

typedef struct {
  int64_t M, N, K;
  int warmup, iters;
} shape_opts;

/* TFLOP/s of `iters` products a[M, K] w[N, K]^T -> out[M, N] (row-major), 2*M*N*K FLOPs each. */
static double measure(cublasLtHandle_t lt, cudaDataType_t type, const shape_opts *o, void *workspace,
                      size_t ws_bytes) {
  const int64_t M = o->M, N = o->N, K = o->K;
  void *a = NULL, *w = NULL, *out = NULL; /* a [M, K], w [N, K], out [M, N]; 2 bytes an element */
  CUDA_CHECK(cudaMalloc(&a, (size_t)(M * K) * 2));
  CUDA_CHECK(cudaMalloc(&w, (size_t)(N * K) * 2));
  CUDA_CHECK(cudaMalloc(&out, (size_t)(M * N) * 2));
  fill(a, type, M * K, 1);
  fill(w, type, N * K, 2);
  CUDA_CHECK(cudaMemset(out, 0, (size_t)(M * N) * 2));

  cudaStream_t stream;
  CUDA_CHECK(cudaStreamCreate(&stream));
  cublasLtMatmulDesc_t op = NULL;
  cublasLtMatrixLayout_t la = NULL, lb = NULL, lc = NULL;
  cublasLtMatmulPreference_t pref = NULL;
  LT_CHECK(cublasLtMatmulDescCreate(&op, CUBLAS_COMPUTE_32F, CUDA_R_32F));
  const cublasOperation_t ta = CUBLAS_OP_T, tb = CUBLAS_OP_N;
  LT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSA, &ta, sizeof ta));
  LT_CHECK(cublasLtMatmulDescSetAttribute(op, CUBLASLT_MATMUL_DESC_TRANSB, &tb, sizeof tb));
  LT_CHECK(cublasLtMatrixLayoutCreate(&la, type, (uint64_t)K, (uint64_t)N, K)); /* w [N, K] */
  LT_CHECK(cublasLtMatrixLayoutCreate(&lb, type, (uint64_t)K, (uint64_t)M, K)); /* a [M, K] */
  LT_CHECK(cublasLtMatrixLayoutCreate(&lc, type, (uint64_t)N, (uint64_t)M, N)); /* out [M, N] */
  LT_CHECK(cublasLtMatmulPreferenceCreate(&pref));
  const uint64_t ws = ws_bytes;
  LT_CHECK(cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, &ws, sizeof ws));
  cublasLtMatmulHeuristicResult_t algo;
  int found = 0;
  LT_CHECK(cublasLtMatmulAlgoGetHeuristic(lt, op, la, lb, lc, lc, pref, 1, &algo, &found));
  if (found != 1) {
    fprintf(stderr, "gemm_rate: cuBLASLt has no algorithm for %lldx%lldx%lld\n", (long long)M, (long long)N,
            (long long)K);
    exit(1);
  }
  const float one = 1.0f, zero = 0.0f;
  for (int i = 0; i < o->warmup; i++)
    LT_CHECK(cublasLtMatmul(lt, op, &one, w, la, a, lb, &zero, out, lc, out, lc, &algo.algo, workspace, ws_bytes,
                            stream));
  cudaEvent_t start, stop;
  CUDA_CHECK(cudaEventCreate(&start));
  CUDA_CHECK(cudaEventCreate(&stop));
  CUDA_CHECK(cudaEventRecord(start, stream));
  for (int i = 0; i < o->iters; i++)
    LT_CHECK(cublasLtMatmul(lt, op, &one, w, la, a, lb, &zero, out, lc, out, lc, &algo.algo, workspace, ws_bytes,
                            stream));
  CUDA_CHECK(cudaEventRecord(stop, stream));
  CUDA_CHECK(cudaEventSynchronize(stop));
  float ms = 0.0f;
  CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));

  CUDA_CHECK(cudaEventDestroy(start));
  CUDA_CHECK(cudaEventDestroy(stop));
  cublasLtMatmulPreferenceDestroy(pref);
  cublasLtMatrixLayoutDestroy(lc);
  cublasLtMatrixLayoutDestroy(lb);
  cublasLtMatrixLayoutDestroy(la);
  cublasLtMatmulDescDestroy(op);
  CUDA_CHECK(cudaStreamDestroy(stream));
  CUDA_CHECK(cudaFree(out));
  CUDA_CHECK(cudaFree(w));
  CUDA_CHECK(cudaFree(a));
  return 2.0 * (double)M * (double)N * (double)K * o->iters / (ms * 1e-3) / 1e12;
}

/* ---- command line -------------------------------------------------------------------------- */

static void usage(FILE *f, const char *prog) {
  fprintf(f,
          "usage: %s [--size MxNxK | --size S] [--dtype bf16|fp16|all] [--iters N] [--warmup N]\n"
          "  --size    product shape, row-major out[M, N] = a[M, K] w[N, K]^T (default 8192x8192x8192)\n"
          "  --dtype   operand and result type; fp32 compute either way (default all: bf16 then fp16)\n"
          "  --iters   timed products (default 20)\n"
          "  --warmup  untimed products before them (default 5)\n",
          prog);
}

static int parse_int(const char *s, long long lo, long long hi, long long *out) {
  char *end;
  errno = 0;
  const long long v = strtoll(s, &end, 10);
  if (errno || end == s || *end || v < lo || v > hi) return 0;
  *out = v;
  return 1;
}

/* "S" or "MxNxK", each in 1..65536 */
static int parse_size(const char *s, shape_opts *o) {
  long long v[3];
  char buf[64];
  if (strlen(s) >= sizeof buf) return 0;
  strcpy(buf, s);
  int n = 0;
  for (char *tok = strtok(buf, "x"); tok; tok = strtok(NULL, "x")) {
    if (n == 3 || !parse_int(tok, 1, 65536, &v[n])) return 0;
    n++;
  }
  if (n == 1) v[1] = v[2] = v[0];
  else if (n != 3) return 0;
  o->M = v[0], o->N = v[1], o->K = v[2];
  return 1;
}

int main(int argc, char **argv) {
  shape_opts o = {8192, 8192, 8192, 5, 20};
  const char *dtype = "all";
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout, argv[0]);
      return 0;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "%s: error: unknown argument or missing value: '%s'\n", argv[0], a);
      usage(stderr, argv[0]);
      return 1;
    }
    const char *val = argv[++i];
    long long n;
    if (!strcmp(a, "--size")) {
      if (!parse_size(val, &o)) {
        fprintf(stderr, "%s: error: --size needs S or MxNxK with each in 1..65536, got '%s'\n", argv[0], val);
        return 1;
      }
    } else if (!strcmp(a, "--dtype")) {
      if (strcmp(val, "bf16") && strcmp(val, "fp16") && strcmp(val, "all")) {
        fprintf(stderr, "%s: error: --dtype must be bf16, fp16 or all, got '%s'\n", argv[0], val);
        return 1;
      }
      dtype = val;
    } else if (!strcmp(a, "--iters") || !strcmp(a, "--warmup")) {
      const int iters = !strcmp(a, "--iters");
      if (!parse_int(val, iters ? 1 : 0, 100000, &n)) {
        fprintf(stderr, "%s: error: %s needs an integer in %d..100000, got '%s'\n", argv[0], a, iters ? 1 : 0, val);
        return 1;
      }
      if (iters) o.iters = (int)n;
      else o.warmup = (int)n;
    } else {
      fprintf(stderr, "%s: error: unknown argument '%s'\n", argv[0], a);
      usage(stderr, argv[0]);
      return 1;
    }
  }

  int count = 0;
  if (cudaGetDeviceCount(&count) != cudaSuccess || count == 0) {
    printf("skipped: no CUDA device\n");
    return 0;
  }
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  const size_t bytes = (size_t)(o.M * o.K + o.N * o.K + o.M * o.N) * 2;
  printf("gemm_rate device: %s (sm_%d%d, %d SMs); operands %.2f GiB\n", prop.name, prop.major, prop.minor,
         prop.multiProcessorCount, (double)bytes / 1073741824.0);
  fflush(stdout);

  cublasLtHandle_t lt;
  LT_CHECK(cublasLtCreate(&lt));
  const size_t ws_bytes = (size_t)32 << 20; /* as runtime/cuda's arena reserves */
  void *workspace = NULL;
  CUDA_CHECK(cudaMalloc(&workspace, ws_bytes));
  static const struct {
    const char *name;
    cudaDataType_t type;
  } types[] = {{"bf16", CUDA_R_16BF}, {"fp16", CUDA_R_16F}};
  for (int t = 0; t < 2; t++) {
    if (strcmp(dtype, "all") && strcmp(dtype, types[t].name)) continue;
    const double rate = measure(lt, types[t].type, &o, workspace, ws_bytes);
    printf("gemm_rate %s %lldx%lldx%lld: %.1f TFLOP/s (mean of %d after %d warm-up; cuBLASLt, fp32 compute, "
           "random operands)\n",
           types[t].name, (long long)o.M, (long long)o.N, (long long)o.K, rate, o.iters, o.warmup);
    fflush(stdout);
  }
  CUDA_CHECK(cudaFree(workspace));
  LT_CHECK(cublasLtDestroy(lt));
  return 0;
}
