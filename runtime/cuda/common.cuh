/* cuda/common.cuh: what the CUDA translation units of the runtime share: error checks that abort
 * with file:line, the launch helpers, and the storage element type of this build (st_t: float,
 * __nv_bfloat16 or __half, chosen by DITC_STORAGE; see cuda/ops.h) with its conversions to and
 * from fp32. Internal to runtime/cuda/; not an interface for generated code (that is cuda/ops.h). */
#ifndef DITC_CUDA_COMMON_CUH
#define DITC_CUDA_COMMON_CUH

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda/ops.h"

/* ---- errors and launch helpers ----------------------------------------------------------- */

static inline void check_cuda(cudaError_t e, const char *what, const char *file, int line) {
  if (e == cudaSuccess) return;
  fprintf(stderr, "ditc: CUDA error: %s:%d: %s: %s\n", file, line, what, cudaGetErrorString(e));
  abort();
}

/* Bugs in the caller (impossible shapes) abort like DITC_CHECK. */
static inline void check_arg(bool ok, const char *what, const char *file, int line) {
  if (ok) return;
  fprintf(stderr, "ditc: internal error: %s:%d: check failed: %s\n", file, line, what);
  abort();
}

#define OPS_CHECK(cond) check_arg((cond), #cond, __FILE__, __LINE__)
#define CUDA_CHECK(stmt) check_cuda((stmt), #stmt, __FILE__, __LINE__)
/* kernel<<<grid, block, smem, stream>>>(args...), then the launch error, naming the kernel. */
#define LAUNCH(kernel, grid, block, smem, stream, ...)                        \
  do {                                                                        \
    kernel<<<(grid), (block), (smem), (stream)>>>(__VA_ARGS__);               \
    check_cuda(cudaGetLastError(), "launch of " #kernel, __FILE__, __LINE__); \
  } while (0)

static inline cudaStream_t stream_of(const cuda_ctx *ctx) { return (cudaStream_t)ctx->stream; }

enum { BLOCK = 256 };                    /* threads of the elementwise and row kernels */
static const int64_t MAX_GRID = 1 << 20; /* blocks of a grid-stride kernel; more threads loop */

/* Blocks of BLOCK threads for n work items (grid-stride loops cover the rest); n > 0. */
static inline unsigned grid_for(int64_t n) {
  const int64_t g = (n + BLOCK - 1) / BLOCK;
  return (unsigned)(g < MAX_GRID ? g : MAX_GRID);
}

/* for (i = global thread index; i < n; i += total threads), int64 throughout. */
#define GRID_LOOP(i, n) \
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < (n); i += (int64_t)gridDim.x * blockDim.x)
/* A grid-stride kernel over n work items on ctx's stream; nothing when n <= 0. */
#define LAUNCH_N(ctx, kernel, n, ...)                                                \
  do {                                                                               \
    if ((n) > 0) LAUNCH(kernel, grid_for(n), BLOCK, 0, stream_of(ctx), __VA_ARGS__); \
  } while (0)

/* ---- the storage element ----------------------------------------------------------------- */

#if DITC_STORAGE == DITC_STORAGE_F32
typedef float st_t;
#elif DITC_STORAGE == DITC_STORAGE_BF16
typedef __nv_bfloat16 st_t;
#else
typedef __half st_t;
#endif

/* ditc_st (the opaque element cuda/ops.h declares) and st_t have the same size and bits. */
static_assert(sizeof(st_t) == sizeof(ditc_st), "ditc_st and st_t differ");
static inline st_t *st_ptr(ditc_st *p) { return reinterpret_cast<st_t *>(p); }
static inline const st_t *st_ptr(const ditc_st *p) { return reinterpret_cast<const st_t *>(p); }

/* Storage <-> fp32, round to nearest even. */
static __device__ __forceinline__ float ld(float x) { return x; }
static __device__ __forceinline__ float ld(__nv_bfloat16 x) { return __bfloat162float(x); }
static __device__ __forceinline__ float ld(__half x) { return __half2float(x); }
static __device__ __forceinline__ st_t to_st(float x) {
#if DITC_STORAGE == DITC_STORAGE_F32
  return x;
#elif DITC_STORAGE == DITC_STORAGE_BF16
  return __float2bfloat16_rn(x);
#else
  return __float2half_rn(x);
#endif
}


/* ---- 16-byte vectors of storage elements --------------------------------------------------- */

/* VEC elements make 16 bytes (8 in 16-bit storage, 4 in fp32): one ld.global.v4 / st.global.v4.
 * A kernel takes the vector path when every row it touches starts 16-byte aligned (the row length
 * and every offset a multiple of VEC, the base pointers aligned), else it runs with V = 1 (the
 * scalar path). ld_st<V> / st_st<V> move V elements at p (aligned to V elements) as fp32. */
constexpr int VEC = 16 / (int)sizeof(st_t);

static inline bool vec_ok(const void *p) { return p == NULL || ((uintptr_t)p & 15u) == 0; }

template <int V>
static __device__ __forceinline__ void ld_st(float (&f)[V], const st_t *p) {
  if constexpr (V == 1) {
    f[0] = ld(*p);
  } else {
    static_assert(V == VEC, "a vector is 16 bytes");
    const uint4 u = *reinterpret_cast<const uint4 *>(p);
    st_t e[V];
    memcpy(e, &u, 16);
#pragma unroll
    for (int i = 0; i < V; i++) f[i] = ld(e[i]);
  }
}

/* Rounds V fp32 values to storage (to_st) and stores them at p (aligned to V elements). */
template <int V>
static __device__ __forceinline__ void st_st(st_t *p, const float (&f)[V]) {
  if constexpr (V == 1) {
    *p = to_st(f[0]);
  } else {
    st_t e[V];
#pragma unroll
    for (int i = 0; i < V; i++) e[i] = to_st(f[i]);
    uint4 u;
    memcpy(&u, e, 16);
    *reinterpret_cast<uint4 *>(p) = u;
  }
}

/* V fp32 values at p (aligned to V floats; V = 1 or 4: one float4). */
template <int V>
static __device__ __forceinline__ void ld_f32(float (&f)[V], const float *p) {
  if constexpr (V % 4 == 0) {
#pragma unroll
    for (int i = 0; i < V; i += 4) {
      const float4 u = *reinterpret_cast<const float4 *>(p + i);
      f[i] = u.x, f[i + 1] = u.y, f[i + 2] = u.z, f[i + 3] = u.w;
    }
  } else {
#pragma unroll
    for (int i = 0; i < V; i++) f[i] = p[i];
  }
}

#endif
