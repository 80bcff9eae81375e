/* tools/op_rates.cu: the rate of every CUDA op of an STDiT3 block at the Open-Sora 1.2 480p 9:16
 * 51-frame shapes (out/opensora-v1.2/480p-9x16-51f/plan.txt: B 2 with CFG, T 15 latent frames,
 * S 30x53 = 1590 spatial tokens, C 1152, H 16, D 72, L 300 text tokens), in bf16 storage, through
 * the ops library the generated code calls (build/rt/cuda_bf16/libditc_cuda.a): each attention
 * kind with both backends (own, cudnn) at head dims 64, 72 (the model's) and 96 (C = H*D kept),
 * each GEMM of a block, and the memory-bound kernels. Per op: warm-up calls (which also build the
 * cuDNN plan), then --iters calls each timed by CUDA events, the inputs rotating over 3 copies so
 * no call finds the previous one's inputs in L2; one line per op:
 *   name  shape  median ms (min..max)  achieved TFLOP/s or GB/s  ideal ms  % of ideal
 * The ideal is the roofline bound max(flops / peak, bytes / bandwidth): bandwidth from the device's
 * memory clock and bus width, peak the dense 16-bit tensor rate (--peak-tflops; default by compute
 * capability: 9.x 989, 8.x 312). Bytes are each operand read or written once. Adding an op (a
 * fused kernel, say) is one row in add_cases() and, for a new signature, one run function.
 * Prints `skipped: no CUDA device` and exits 0 without a device. Not a test: results are unchecked. */
#define DITC_STORAGE DITC_STORAGE_BF16
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/ops.h"

static void check_cuda(cudaError_t e, const char *what, const char *file, int line) {
  if (e == cudaSuccess) return;
  fprintf(stderr, "op_rates: CUDA error: %s:%d: %s: %s\n", file, line, what, cudaGetErrorString(e));
  abort();
}
#define CUDA_CHECK(stmt) check_cuda((stmt), #stmt, __FILE__, __LINE__)

/* ---- the shapes -------------------------------------------------------------------------- */

enum { B = 2, T = 15, S = 1590, C = 1152, L = 300, ROT = 3 };
static const int64_t ROWS = (int64_t)B * T * S; /* M of the block's GEMMs */

/* One op at one shape. in: the storage elements a call reads (and may update in place), ROT
 * copies; out: those it writes elsewhere. flops and bytes: the ideal work of one call. */
typedef struct op_case op_case;
typedef void (*run_fn)(const cuda_ctx *ctx, const op_case *c, ditc_st *in, ditc_st *out);
struct op_case {
  char name[48], shape[64];
  run_fn run;
  int64_t in, out;
  double flops, bytes;
  int H, D, M, K, N, act, cudnn; /* what the run function reads */
};

/* Shared operands that do not rotate (weights, modulation rows, tables, text lengths). */
static ditc_st *g_w, *g_bias, *g_t, *g_table, *g_wq, *g_wk;
static float *g_cos, *g_sin;
static int32_t *g_lens;

/* ---- run functions, one per signature --------------------------------------------------------- */

static void run_linear(const cuda_ctx *ctx, const op_case *c, ditc_st *in, ditc_st *out) {
  cuda_linear(ctx, out, in, g_w, g_bias, c->M, c->K, c->N, c->act);
}
/* spatial: one sequence per frame, as gen/ emits it (nseq B*T, inner 1) */
static void run_spatial(const cuda_ctx *ctx, const op_case *c, ditc_st *in, ditc_st *out) {
  const int64_t cc = (int64_t)c->H * c->D, ld = 3 * cc;
  (c->cudnn ? cuda_attention_cudnn : cuda_attention)(ctx, out, in, in + cc, in + 2 * cc, ld, B * T, 1, S, 0, 1, S,
                                                     c->H, c->D, 1.0f / sqrtf((float)c->D));
}
/* temporal: one sequence per spatial position (nseq B, inner S), frames S rows apart */
static void run_temporal(const cuda_ctx *ctx, const op_case *c, ditc_st *in, ditc_st *out) {
  const int64_t cc = (int64_t)c->H * c->D, ld = 3 * cc;
  (c->cudnn ? cuda_attention_cudnn : cuda_attention)(ctx, out, in, in + cc, in + 2 * cc, ld, B, S, (int64_t)T * S, 1,
                                                     S, T, c->H, c->D, 1.0f / sqrtf((float)c->D));
}
/* cross: q [B*T*S, C], then kv [B*L, 2C] in the same rotating copy; every text token valid */
static void run_cross(const cuda_ctx *ctx, const op_case *c, ditc_st *in, ditc_st *out) {
  const int64_t cc = (int64_t)c->H * c->D;
  ditc_st *kv = in + ROWS * cc;
  (c->cudnn ? cuda_cross_attention_cudnn : cuda_cross_attention)(ctx, out, in, kv, kv + cc, 2 * cc, g_lens, B, T * S,
                                                                 L, c->H, c->D, 1.0f / sqrtf((float)c->D));
}
static void run_ln_modulate(const cuda_ctx *ctx, const op_case *c, ditc_st *in, ditc_st *out) {
  (void)c;
  cuda_ln_modulate(ctx, out, in, g_t, 6 * C, 0, C, g_table, 0, 1, B, (int64_t)T * S, C, 1e-6f);
}
static void run_gate_residual(const cuda_ctx *ctx, const op_case *c, ditc_st *in, ditc_st *out) {
  (void)c;
  (void)out; /* x (in place) and the branch output are both in the rotating copy */
  cuda_gate_residual(ctx, in, in + ROWS * C, g_t, g_table, 2, 6, B, (int64_t)T * S, C, NULL);
}
static void run_qk_rmsnorm(const cuda_ctx *ctx, const op_case *c, ditc_st *in, ditc_st *out) {
  (void)out;
  cuda_qk_rmsnorm(ctx, in, in + C, 3 * C, g_wq, g_wk, ROWS, c->H, c->D, 1e-6f);
}
static void run_rope(const cuda_ctx *ctx, const op_case *c, ditc_st *in, ditc_st *out) {
  (void)out;
  cuda_rope(ctx, in, in + C, 3 * C, g_cos, g_sin, B, T, S, c->H, c->D, 0, 0);
}
static void run_qk_rmsnorm_rope(const cuda_ctx *ctx, const op_case *c, ditc_st *in, ditc_st *out) {
  (void)out;
  cuda_qk_rmsnorm_rope(ctx, in, in + C, 3 * C, g_wq, g_wk, 1e-6f, g_cos, g_sin, B, T, S, c->H, c->D, 0, 0);
}

/* ---- the table of cases ------------------------------------------------------------------------ */

enum { MAX_CASES = 64 };
static op_case cases[MAX_CASES];
static int n_cases;

static op_case *add(const char *name, run_fn run, int64_t in, int64_t out, double flops, double bytes) {
  if (n_cases == MAX_CASES) abort();
  op_case *c = &cases[n_cases++];
  memset(c, 0, sizeof *c);
  snprintf(c->name, sizeof c->name, "%s", name);
  c->run = run, c->in = in, c->out = out, c->flops = flops, c->bytes = bytes;
  c->H = C / 72, c->D = 72;
  return c;
}

static void add_linear(const char *name, int64_t M, int K, int N, int act) {
  op_case *c = add(name, run_linear, M * K, M * N, 2.0 * M * K * N, 2.0 * ((double)M * K + (double)N * K + (double)M * N));
  c->M = (int)M, c->K = K, c->N = N, c->act = act;
  snprintf(c->shape, sizeof c->shape, "[%lld, %d] x [%d, %d]^T", (long long)M, K, N, K);
}

static void add_cases(void) {
  const double st = 2.0; /* bytes per storage element */
  for (int di = 0; di < 3; di++) {
    const int D = (const int[]){64, 72, 96}[di], H = C / D;
    for (int be = 0; be < 2; be++) {
      char nm[48];
      const char *tag = be ? "cudnn" : "own";
      snprintf(nm, sizeof nm, "attention.spatial %s", tag);
      op_case *c = add(nm, run_spatial, ROWS * 3 * C, ROWS * C, 4.0 * B * T * H * (double)S * S * D, st * ROWS * 4 * C);
      c->H = H, c->D = D, c->cudnn = be;
      snprintf(c->shape, sizeof c->shape, "%d seqs x %d tok, H%d D%d", B * T, S, H, D);
      snprintf(nm, sizeof nm, "attention.temporal %s", tag);
      c = add(nm, run_temporal, ROWS * 3 * C, ROWS * C, 4.0 * B * S * H * (double)T * T * D, st * ROWS * 4 * C);
      c->H = H, c->D = D, c->cudnn = be;
      snprintf(c->shape, sizeof c->shape, "%d seqs x %d tok, H%d D%d", B * S, T, H, D);
      snprintf(nm, sizeof nm, "attention.cross %s", tag);
      c = add(nm, run_cross, ROWS * C + (int64_t)B * L * 2 * C, ROWS * C, 4.0 * ROWS * H * (double)L * D,
              st * (ROWS * 2.0 * C + B * L * 2.0 * C));
      c->H = H, c->D = D, c->cudnn = be;
      snprintf(c->shape, sizeof c->shape, "%d x %d q, %d x %d kv, H%d D%d", B, T * S, B, L, H, D);
    }
  }
  add_linear("linear.qkv", ROWS, C, 3 * C, DITC_ACT_NONE);
  add_linear("linear.proj", ROWS, C, C, DITC_ACT_NONE);
  add_linear("linear.fc1 (gelu)", ROWS, C, 4 * C, DITC_ACT_GELU_TANH);
  add_linear("linear.fc2", ROWS, 4 * C, C, DITC_ACT_NONE);
  add_linear("linear.cross_q", ROWS, C, C, DITC_ACT_NONE);
  add_linear("linear.cross_kv", (int64_t)B * L, C, 2 * C, DITC_ACT_NONE);
  /* memory-bound: bytes = what must move (the rows read and written once) */
  op_case *c = add("ln_modulate", run_ln_modulate, ROWS * C, ROWS * C, 0.0, 2.0 * ROWS * C * 2);
  snprintf(c->shape, sizeof c->shape, "[%d, %d, %d]", B, T * S, C);
  c = add("gate_residual", run_gate_residual, 2 * ROWS * C, 0, 0.0, 2.0 * ROWS * C * 3);
  snprintf(c->shape, sizeof c->shape, "[%d, %d, %d]", B, T * S, C);
  const run_fn qk[3] = {run_qk_rmsnorm, run_rope, run_qk_rmsnorm_rope};
  const char *qk_name[3] = {"qk_rmsnorm", "rope", "qk_rmsnorm_rope"};
  for (int i = 0; i < 3; i++) { /* q and k of qkv rows, in place: 2C read and written per row */
    c = add(qk_name[i], qk[i], ROWS * 3 * C, 0, 0.0, 2.0 * ROWS * 2 * C * 2);
    snprintf(c->shape, sizeof c->shape, "q, k of [%lld, %d], H%d D%d", (long long)ROWS, 3 * C, c->H, c->D);
  }
}

/* ---- measuring ---------------------------------------------------------------------------------- */

static __global__ void fill_kernel(__nv_bfloat16 *p, int64_t n, uint32_t seed) { /* uniform [-1, 1) */
  for (int64_t i = blockIdx.x * (int64_t)blockDim.x + threadIdx.x; i < n; i += (int64_t)gridDim.x * blockDim.x) {
    uint64_t z = (uint64_t)i + 0x9e3779b97f4a7c15ull * (seed + 1ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    p[i] = __float2bfloat16((float)((z ^ (z >> 31)) >> 40) * (2.0f / 16777216.0f) - 1.0f);
  }
}

static ditc_st *dalloc(int64_t n, uint32_t seed) {
  void *p = NULL;
  CUDA_CHECK(cudaMalloc(&p, (size_t)(n > 0 ? n : 1) * sizeof(ditc_st)));
  fill_kernel<<<1024, 256>>>((__nv_bfloat16 *)p, n, seed);
  CUDA_CHECK(cudaGetLastError());
  return (ditc_st *)p;
}

static int cmp_float(const void *a, const void *b) {
  const float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

static void measure(const cuda_ctx *ctx, const op_case *c, int iters, double peak_tflops, double peak_gbs) {
  cudaStream_t st = (cudaStream_t)ctx->stream;
  ditc_st *in = dalloc(c->in * ROT, 7), *out = dalloc(c->out, 8);
  for (int i = 0; i < 3; i++) c->run(ctx, c, in + (i % ROT) * c->in, out); /* warm-up, cuDNN plans */
  CUDA_CHECK(cudaStreamSynchronize(st));
  float *ms = (float *)malloc(sizeof(float) * (size_t)iters);
  cudaEvent_t e0, e1;
  CUDA_CHECK(cudaEventCreate(&e0));
  CUDA_CHECK(cudaEventCreate(&e1));
  for (int i = 0; i < iters; i++) {
    CUDA_CHECK(cudaEventRecord(e0, st));
    c->run(ctx, c, in + (i % ROT) * c->in, out);
    CUDA_CHECK(cudaEventRecord(e1, st));
    CUDA_CHECK(cudaEventSynchronize(e1));
    CUDA_CHECK(cudaEventElapsedTime(&ms[i], e0, e1));
  }
  qsort(ms, (size_t)iters, sizeof *ms, cmp_float);
  const double med = ms[iters / 2], s = med * 1e-3;
  const double ideal = 1e3 * (c->flops / (peak_tflops * 1e12) > c->bytes / (peak_gbs * 1e9)
                                  ? c->flops / (peak_tflops * 1e12)
                                  : c->bytes / (peak_gbs * 1e9));
  char rate[48];
  if (c->flops > 0) snprintf(rate, sizeof rate, "%7.1f TFLOP/s", c->flops / s * 1e-12);
  else snprintf(rate, sizeof rate, "%7.1f GB/s   ", c->bytes / s * 1e-9);
  printf("%-26s %-40s %9.4f ms (%.4f..%.4f)  %s  ideal %8.4f ms  %5.1f%%\n", c->name, c->shape, med, ms[0],
         ms[iters - 1], rate, ideal, 100.0 * ideal / med);
  CUDA_CHECK(cudaEventDestroy(e0));
  CUDA_CHECK(cudaEventDestroy(e1));
  free(ms);
  CUDA_CHECK(cudaFree(in));
  CUDA_CHECK(cudaFree(out));
}

int main(int argc, char **argv) {
  int iters = 20;
  double peak = 0.0;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--peak-tflops") && i + 1 < argc) peak = atof(argv[++i]);
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else {
      fprintf(stderr, "usage: op_rates [--iters N] [--peak-tflops X] [--only SUBSTRING]\n");
      return 2;
    }
  }
  if (iters < 1) iters = 1;
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev == 0) {
    printf("skipped: no CUDA device\n");
    return 0;
  }
  cudaDeviceProp prop;
  CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  int mem_khz = 0, bus_bits = 0;
  CUDA_CHECK(cudaDeviceGetAttribute(&mem_khz, cudaDevAttrMemoryClockRate, 0));
  CUDA_CHECK(cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, 0));
  const double gbs = 2.0 * mem_khz * 1e3 * (bus_bits / 8.0) * 1e-9; /* double data rate */
  if (peak <= 0.0) peak = prop.major >= 9 ? 989.0 : 312.0;
  printf("op_rates: %s (sm_%d%d), bf16 storage, Open-Sora 1.2 480p 9:16 51f (B %d, T %d, S %d, C %d, L %d); "
         "median of %d; roofline peak %.0f TFLOP/s, %.0f GB/s\n", prop.name, prop.major, prop.minor, B, T, S, C, L,
         iters, peak, gbs);

  cuda_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  if (cuda_ctx_init(&ctx) != 0 || cuda_dnn_init(&ctx) != 0) {
    fprintf(stderr, "op_rates: cannot create the CUDA context\n");
    return 1;
  }
  ctx.workspace_bytes = 32u << 20; /* as gen/core/bake.lua's CUDA_WORKSPACE_BYTES */
  CUDA_CHECK(cudaMalloc(&ctx.workspace, ctx.workspace_bytes));
  g_w = dalloc((int64_t)4 * C * C, 1), g_bias = dalloc(4 * C, 2), g_t = dalloc((int64_t)B * 6 * C, 3);
  g_table = dalloc(6 * C, 4), g_wq = dalloc(128, 5), g_wk = dalloc(128, 6);
  float host_cs[T * 128]; /* RoPE tables [T, D]: any values (cos = sin = 0.5) */
  for (int i = 0; i < T * 128; i++) host_cs[i] = 0.5f;
  CUDA_CHECK(cudaMalloc(&g_cos, sizeof host_cs));
  CUDA_CHECK(cudaMalloc(&g_sin, sizeof host_cs));
  CUDA_CHECK(cudaMemcpy(g_cos, host_cs, sizeof host_cs, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemcpy(g_sin, host_cs, sizeof host_cs, cudaMemcpyHostToDevice));
  const int32_t lens[B] = {L, L};
  CUDA_CHECK(cudaMalloc(&g_lens, sizeof lens));
  CUDA_CHECK(cudaMemcpy(g_lens, lens, sizeof lens, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaDeviceSynchronize());

  add_cases();
  for (int i = 0; i < n_cases; i++)
    if (!only || strstr(cases[i].name, only)) measure(&ctx, &cases[i], iters, peak, gbs);

  CUDA_CHECK(cudaFree(ctx.workspace));
  ctx.workspace = NULL;
  cuda_dnn_free(&ctx);
  cuda_ctx_free(&ctx);
  return 0;
}
