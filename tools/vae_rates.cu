/* tools/vae_rates.cu: the rate of the video decoders' CUDA ops at release shapes, in bf16 storage,
 * through the ops library generated code calls (build/rt/cuda_bf16/libditc_cuda.a): conv3d through
 * the own implicit GEMM and through cuDNN (cuda_conv3d_cudnn) on the convolutions that dominate a
 * decode (120 to 600 TFLOP a video), GroupNorm over a whole chunk, the mid block's frame
 * attention, nearest upsampling. The measurement that chooses the conv3d default: the two
 * backends of a shape run interleaved, call by call. Per op: warm-up calls (which also build the
 * cuDNN plans), then --iters calls each timed by CUDA events; one line per op and backend:
 *   name  shape  median ms (min..max)  achieved TFLOP/s or GB/s  ideal ms  % of ideal
 * The ideal is op_rates' roofline bound: max(flops / peak, bytes / bandwidth), peak the dense
 * 16-bit tensor rate (--peak-tflops; default 989 on 9.x, 312 on 8.x), bandwidth from the memory
 * clock and bus width; bytes are each operand read or written once. A conv3d through cuDNN that
 * fell back to the own kernel says so. Prints `skipped: no CUDA device` and exits 0 without a
 * device. Not a test: results are unchecked (tests/cuda_vae_test.c checks them). */
#define DITC_STORAGE DITC_STORAGE_BF16
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/ops.h"

static void check_cuda(cudaError_t e, const char *what, const char *file, int line) {
  if (e == cudaSuccess) return;
  fprintf(stderr, "vae_rates: CUDA error: %s:%d: %s: %s\n", file, line, what, cudaGetErrorString(e));
  abort();
}
#define CUDA_CHECK(stmt) check_cuda((stmt), #stmt, __FILE__, __LINE__)

/* ---- the cases ------------------------------------------------------------------------------ */

/* One op at one shape: conv3d (its geometry; backends own and cudnn), group_norm [N, C, T, HW],
 * frame_attention [N, C, 1, HW], upsample2x [N*C rows, H, W]. */
enum { OP_CONV, OP_GN, OP_ATTN, OP_UP };
typedef struct {
  const char *name;
  int op;
  int64_t N, Cin, Cout, T, H, W, kt, kh, kw, pt0, pt1, ph, pw, replicate;
} vae_case;

static const vae_case CASES[] = {
    /* Open-Sora 1.2 temporal decoder, a 5-frame chunk at 60x106: causal zero padding */
    {"conv3d 3x3x3 causal zeros", OP_CONV, 1, 512, 512, 5, 60, 106, 3, 3, 3, 2, 0, 1, 1, 0},
    /* Open-Sora 1.2 spatial decoder, 4 frames at 240x424 (up_blocks.1) */
    {"conv3d 1x3x3", OP_CONV, 4, 512, 512, 1, 240, 424, 1, 3, 3, 0, 0, 1, 1, 0},
    /* the spatial decoder's conv_out, 4 frames at 480x848 */
    {"conv3d 1x3x3 -> 3", OP_CONV, 4, 128, 3, 1, 480, 848, 1, 3, 3, 0, 0, 1, 1, 0},
    /* Open-Sora-Plan, a 29-frame tile's top level at a quarter of its 512x512: replicate */
    {"conv3d 3x3x3 replicate", OP_CONV, 1, 128, 128, 29, 256, 256, 3, 3, 3, 2, 0, 1, 1, 1},
    /* Latte's temporal convs (SVD): 3x1x1, symmetric zero padding, 14 frames at 128x128 */
    {"conv3d 3x1x1 symmetric", OP_CONV, 1, 512, 512, 14, 128, 128, 3, 1, 1, 1, 1, 0, 0, 0},
    {"group_norm + silu, 20 frames", OP_GN, 1, 256, 0, 20, 60, 106 * 16, 0, 0, 0, 0, 0, 0, 0, 0},
    {"frame_attention 60x106", OP_ATTN, 1, 512, 0, 1, 60, 106, 0, 0, 0, 0, 0, 0, 0, 0},
    {"upsample2x", OP_UP, 4, 256, 0, 1, 240, 424, 0, 0, 0, 0, 0, 0, 0, 0},
};

static int64_t conv_To(const vae_case *c) { return c->T + c->pt0 + c->pt1 - c->kt + 1; }
static int64_t conv_Ho(const vae_case *c) { return c->H + 2 * c->ph - c->kh + 1; }
static int64_t conv_Wo(const vae_case *c) { return c->W + 2 * c->pw - c->kw + 1; }

/* Elements read (in) and written (out); flops of one call. */
static void sizes(const vae_case *c, int64_t *in, int64_t *out, double *flops) {
  const int64_t hw = c->H * c->W;
  switch (c->op) {
  case OP_CONV:
    *in = c->N * c->Cin * c->T * hw;
    *out = c->N * c->Cout * conv_To(c) * conv_Ho(c) * conv_Wo(c);
    *flops = 2.0 * (double)*out * (double)(c->Cin * c->kt * c->kh * c->kw);
    break;
  case OP_GN: *in = *out = c->N * c->Cin * c->T * hw, *flops = 0.0; break;
  case OP_ATTN: *in = 3 * c->N * c->Cin * hw, *out = c->N * c->Cin * hw, *flops = 4.0 * c->N * c->Cin * (double)hw * hw; break;
  default: *in = c->N * c->Cin * hw, *out = 4 * *in, *flops = 0.0;
  }
}

/* Shared operands that do not change between calls: weights, bias, gamma, beta. */
static ditc_st *g_w, *g_b;

static void run(const cuda_ctx *ctx, cuda_conv_dnn *dnn, const vae_case *c, int cudnn, ditc_st *in, ditc_st *out) {
  const int64_t hw = c->H * c->W;
  switch (c->op) {
  case OP_CONV:
    if (cudnn)
      cuda_conv3d_cudnn(ctx, dnn, out, in, g_w, g_b, c->N, c->Cin, c->Cout, c->T, c->H, c->W, c->kt, c->kh, c->kw,
                        c->pt0, c->pt1, c->ph, c->pw, c->replicate);
    else
      cuda_conv3d(ctx, out, in, g_w, g_b, c->N, c->Cin, c->Cout, c->T, c->H, c->W, c->kt, c->kh, c->kw, c->pt0,
                  c->pt1, c->ph, c->pw, c->replicate);
    break;
  case OP_GN: cuda_group_norm(ctx, out, in, g_w, g_b, c->N, c->Cin, c->T, hw, 32, 1e-6f, 0, 1); break;
  case OP_ATTN: {
    const int64_t n = c->N * c->Cin * hw;
    cuda_frame_attention(ctx, out, in, in + n, in + 2 * n, c->N, c->Cin, 1, hw, 1.0f / sqrtf((float)c->Cin));
    break;
  }
  default: cuda_upsample2x(ctx, out, in, c->N * c->Cin, c->H, c->W);
  }
}

/* ---- measuring ------------------------------------------------------------------------------ */

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

/* The case's backends (conv3d: own and cudnn, interleaved call by call), one line each. */
static void measure(const cuda_ctx *ctx, cuda_conv_dnn *dnn, const vae_case *c, int iters, double peak_tflops,
                    double peak_gbs) {
  cudaStream_t st = (cudaStream_t)ctx->stream;
  int64_t nin, nout;
  double flops;
  sizes(c, &nin, &nout, &flops);
  const int nb = c->op == OP_CONV ? 2 : 1;
  ditc_st *in = dalloc(nin, 7), *out = dalloc(nout, 8);
  for (int i = 0; i < 2 * nb; i++) run(ctx, dnn, c, i % nb, in, out); /* warm-up, cuDNN plans */
  CUDA_CHECK(cudaStreamSynchronize(st));
  const int64_t dnn0 = cuda_conv_dnn_executions(dnn);
  float *ms = (float *)malloc(sizeof(float) * (size_t)(iters * nb));
  cudaEvent_t e0, e1;
  CUDA_CHECK(cudaEventCreate(&e0));
  CUDA_CHECK(cudaEventCreate(&e1));
  for (int i = 0; i < iters; i++)
    for (int be = 0; be < nb; be++) {
      CUDA_CHECK(cudaEventRecord(e0, st));
      run(ctx, dnn, c, be, in, out);
      CUDA_CHECK(cudaEventRecord(e1, st));
      CUDA_CHECK(cudaEventSynchronize(e1));
      CUDA_CHECK(cudaEventElapsedTime(&ms[be * iters + i], e0, e1));
    }
  const int dnn_ran = cuda_conv_dnn_executions(dnn) > dnn0;
  const double bytes = 2.0 * (double)(nin + nout);
  const double ideal = 1e3 * (flops / (peak_tflops * 1e12) > bytes / (peak_gbs * 1e9) ? flops / (peak_tflops * 1e12)
                                                                                      : bytes / (peak_gbs * 1e9));
  char shape[96];
  if (c->op == OP_CONV)
    snprintf(shape, sizeof shape, "[%lld,%lld,%lld,%lld,%lld] -> %lld%s", (long long)c->N, (long long)c->Cin,
             (long long)c->T, (long long)c->H, (long long)c->W, (long long)c->Cout, c->replicate ? " replicate" : "");
  else snprintf(shape, sizeof shape, "[%lld,%lld,%lld,%lld]", (long long)c->N, (long long)c->Cin, (long long)c->T,
                (long long)(c->H * c->W));
  for (int be = 0; be < nb; be++) {
    float *m = ms + be * iters;
    qsort(m, (size_t)iters, sizeof *m, cmp_float);
    const double med = m[iters / 2], s = med * 1e-3;
    char rate[48], name[64];
    if (flops > 0) snprintf(rate, sizeof rate, "%7.1f TFLOP/s", flops / s * 1e-12);
    else snprintf(rate, sizeof rate, "%7.1f GB/s   ", bytes / s * 1e-9);
    snprintf(name, sizeof name, "%s%s", c->name,
             nb == 1 ? "" : be == 0 ? " own" : dnn_ran ? " cudnn" : " cudnn (fell back: own)");
    printf("%-40s %-36s %9.3f ms (%.3f..%.3f)  %s  ideal %8.3f ms  %5.1f%%\n", name, shape, med, m[0], m[iters - 1],
           rate, ideal, 100.0 * ideal / med);
  }
  CUDA_CHECK(cudaEventDestroy(e0));
  CUDA_CHECK(cudaEventDestroy(e1));
  free(ms);
  CUDA_CHECK(cudaFree(in));
  CUDA_CHECK(cudaFree(out));
}

int main(int argc, char **argv) {
  int iters = 5;
  double peak = 0.0;
  const char *only = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--iters") && i + 1 < argc) iters = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--peak-tflops") && i + 1 < argc) peak = atof(argv[++i]);
    else if (!strcmp(argv[i], "--only") && i + 1 < argc) only = argv[++i];
    else {
      fprintf(stderr, "usage: vae_rates [--iters N] [--peak-tflops X] [--only SUBSTRING]\n");
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
  printf("vae_rates: %s (sm_%d%d), bf16 storage; median of %d, the backends interleaved; roofline peak %.0f "
         "TFLOP/s, %.0f GB/s\n", prop.name, prop.major, prop.minor, iters, peak, gbs);

  cuda_ctx ctx;
  memset(&ctx, 0, sizeof ctx);
  if (cuda_ctx_init(&ctx) != 0) {
    fprintf(stderr, "vae_rates: cannot create the CUDA context\n");
    return 1;
  }
  ctx.workspace_bytes = 32u << 20; /* as gen/core/bake.lua's CUDA_WORKSPACE_BYTES */
  CUDA_CHECK(cudaMalloc(&ctx.workspace, ctx.workspace_bytes));
  cuda_conv_dnn *dnn = cuda_conv_dnn_init(&ctx);
  if (!dnn) fprintf(stderr, "vae_rates: no cuDNN handle; the cudnn rows run the own kernel\n");
  g_w = dalloc((int64_t)512 * 512 * 27, 1), g_b = dalloc(512, 2);
  CUDA_CHECK(cudaDeviceSynchronize());
  for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++)
    if (!only || strstr(CASES[i].name, only)) measure(&ctx, dnn, &CASES[i], iters, peak, gbs);
  cuda_conv_dnn_free(dnn);
  CUDA_CHECK(cudaFree(g_w));
  CUDA_CHECK(cudaFree(g_b));
  CUDA_CHECK(cudaFree(ctx.workspace));
  cuda_ctx_free(&ctx);
  return 0;
}
