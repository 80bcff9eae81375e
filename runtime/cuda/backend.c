/* cuda/backend.c: the CUDA backend of backend.h (fp32, one GPU): uploads the fp32 weight
 * buffer once, allocates the device arena once, creates the stream and cuBLAS handle the ops
 * run on, and copies io regions between the host arena and the device. Nothing is allocated
 * after attach. Not here: kernels (cuda/ops.cu). */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>

#include "backend.h"
#include "cuda/ops.h"

typedef struct {
  cuda_ctx ctx;
  float *weights;
  unsigned char *arena;
} cuda_state;

#define CUDA_CHECK(call)                                                                     \
  do {                                                                                       \
    cudaError_t e_ = (call);                                                                 \
    if (e_ != cudaSuccess) {                                                                 \
      fprintf(stderr, "ditc: CUDA error: %s:%d: %s: %s\n", __FILE__, __LINE__, #call,        \
              cudaGetErrorString(e_));                                                       \
      abort();                                                                               \
    }                                                                                        \
  } while (0)

static ditc_status cuda_attach(ditc_model *m, ditc_err *err) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0)
    return ditc_fail(err, DITC_EINVAL, "no CUDA device (this binary runs the CUDA backend; bin/ has the CPU one)");
  const ditc_variant *v = m->v;
  cuda_state *s = calloc(1, sizeof *s);
  DITC_CHECK(s != NULL);
  if (cuda_ctx_init(&s->ctx) != 0) {
    free(s);
    return ditc_fail(err, DITC_EINVAL, "cannot create a CUDA stream and cuBLAS handle");
  }
  const size_t wbytes = (size_t)v->weight_elems * sizeof(float), abytes = (size_t)v->arena_bytes;
  if (cudaMalloc((void **)&s->weights, wbytes ? wbytes : 64) != cudaSuccess ||
      cudaMalloc((void **)&s->arena, abytes ? abytes : 64) != cudaSuccess) {
    cudaFree(s->weights);
    cuda_ctx_free(&s->ctx);
    free(s);
    return ditc_fail(err, DITC_ENOMEM, "out of device memory: weights %zu + arena %zu bytes", wbytes, abytes);
  }
  CUDA_CHECK(cudaMemcpy(s->weights, m->weights, wbytes, cudaMemcpyHostToDevice));
  CUDA_CHECK(cudaMemset(s->arena, 0, abytes));
  m->ex.weights = s->weights;
  m->ex.arena = s->arena;
  m->ex.backend = &s->ctx;
  return DITC_OK;
}

static cuda_state *state(ditc_model *m) { return (cuda_state *)((char *)m->ex.backend - offsetof(cuda_state, ctx)); }

static void cuda_to_device(ditc_model *m, int64_t off, size_t bytes) {
  cuda_state *s = state(m);
  CUDA_CHECK(cudaMemcpyAsync(s->arena + off, m->arena + off, bytes, cudaMemcpyHostToDevice,
                             (cudaStream_t)s->ctx.stream));
}

static void cuda_to_host(ditc_model *m, int64_t off, size_t bytes) {
  cuda_state *s = state(m);
  CUDA_CHECK(cudaMemcpyAsync(m->arena + off, s->arena + off, bytes, cudaMemcpyDeviceToHost,
                             (cudaStream_t)s->ctx.stream));
  CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)s->ctx.stream));
}

static void cuda_detach(ditc_model *m) {
  if (!m->ex.backend) return;
  cuda_state *s = state(m);
  cudaFree(s->weights);
  cudaFree(s->arena);
  cuda_ctx_free(&s->ctx);
  free(s);
  m->ex.backend = NULL;
}

static const ditc_backend_ops cuda_ops = {"cuda", cuda_attach, cuda_to_device, cuda_to_host, cuda_detach};

const ditc_backend_ops *ditc_backend(void) { return &cuda_ops; }
