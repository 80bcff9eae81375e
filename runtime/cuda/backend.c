/* cuda/backend.c: the CUDA backend of backend.h (one GPU). At attach, and never again: the
 * weight buffer in the build's storage (the host's fp32 weights converted once, staged through
 * the arena; a tensor the variant keeps in fp32 copied as it is), the device arena (which holds
 * cuBLASLt's workspace), the stream and cuBLASLt handle, and one CUDA graph per distinct PAB row
 * pattern of the variant plus one for the all-compute row (PAB off), each captured once from the
 * generated step function after a warm-up (the prologue and one eager all-compute step). A step
 * then is one graph launch. Also the io copies between the host arena and the device, and the
 * sampler's work on the device (cuda/sampler.cu) with the variant's coefficients. Not here:
 * kernels (the .cu files beside this one). */
#include <cuda_runtime_api.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "cuda/ops.h"
#include "sampler.h"

typedef struct {
  cuda_ctx ctx;
  void *weights;          /* [weight_elems] storage elements */
  unsigned char *arena;   /* [arena_bytes] */
  int n_graphs;           /* v->denoiser->n_patterns + 1 */
  cudaGraphExec_t *graphs; /* [n_graphs]: pattern p, then the all-compute row */
  int64_t used_bytes;     /* device memory in use once everything is attached */
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

static cuda_state *state(ditc_model *m) { return (cuda_state *)((char *)m->ex.backend - offsetof(cuda_state, ctx)); }

/* The host's fp32 weights into the device weight buffer, each tensor in its own element
 * (ditc_weight_spec.dtype): fp32 storage copies them all; 16-bit storage stages chunks in the
 * arena (not yet in use) and converts them on the device, then copies each tensor kept in fp32
 * over its span (its offset in storage elements, 4 / st_bytes of them an element: what the
 * conversion wrote there first, in stream order, is the storage rounding of those floats and of
 * the host buffer's zeros after them). */
static void upload_weights(cuda_state *s, const ditc_variant *v, const float *host) {
  const int64_t n = v->weight_elems;
  if (v->st_bytes == 4) {
    CUDA_CHECK(cudaMemcpy(s->weights, host, (size_t)n * 4, cudaMemcpyHostToDevice));
    return;
  }
  const int64_t chunk = v->arena_bytes / 4 < (64 << 20) ? v->arena_bytes / 4 : (64 << 20); /* floats */
  DITC_CHECK(chunk > 0);
  float *stage = (float *)(void *)s->arena;
  for (int64_t i = 0; i < n; i += chunk) {
    const int64_t c = n - i < chunk ? n - i : chunk;
    CUDA_CHECK(cudaMemcpyAsync(stage, host + i, (size_t)c * 4, cudaMemcpyHostToDevice, (cudaStream_t)s->ctx.stream));
    cuda_to_storage(&s->ctx, (ditc_st *)((unsigned char *)s->weights + i * v->st_bytes), stage, c);
  }
  for (int i = 0; i < v->n_weights; i++) {
    const ditc_weight_spec *w = &v->weights[i];
    if (w->dtype != DITC_WT_F32) continue;
    CUDA_CHECK(cudaMemcpyAsync((unsigned char *)s->weights + w->offset * v->st_bytes, host + w->offset,
                               (size_t)w->elems * 4, cudaMemcpyHostToDevice, (cudaStream_t)s->ctx.stream));
  }
  CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)s->ctx.stream));
}

/* Captures the generated step function for one PAB row into an executable graph. A cuDNN
 * attention (--attention cudnn) whose plan does not exist yet runs the own kernel inside the
 * capture and leaves the plan pending; the plans are then built outside it and the row captured
 * once more, now with cuDNN's kernels. */
static cudaGraphExec_t capture(cuda_state *s, const ditc_model *m, const unsigned char *row) {
  cudaStream_t st = (cudaStream_t)s->ctx.stream;
  cudaGraph_t g = NULL;
  cudaGraphExec_t exec = NULL;
  for (int pass = 0;; pass++) {
    CUDA_CHECK(cudaStreamBeginCapture(st, cudaStreamCaptureModeThreadLocal));
    m->step(&m->ex, row);
    CUDA_CHECK(cudaStreamEndCapture(st, &g));
    if (pass > 0 || cuda_dnn_build_pending(&s->ctx) == 0) break;
    CUDA_CHECK(cudaGraphDestroy(g));
  }
  CUDA_CHECK(cudaGraphInstantiate(&exec, g, 0));
  CUDA_CHECK(cudaGraphDestroy(g));
  return exec;
}

static void free_state(cuda_state *s) {
  if (s->graphs)
    for (int i = 0; i < s->n_graphs; i++)
      if (s->graphs[i]) cudaGraphExecDestroy(s->graphs[i]);
  free(s->graphs);
  cudaFree(s->weights);
  cudaFree(s->arena);
  cuda_dnn_free(&s->ctx);
  cuda_ctx_free(&s->ctx);
  free(s);
}

/* A denoiser's graphs: warm-up, then one graph per PAB row pattern and the all-compute row. */
static void capture_steps(cuda_state *s, ditc_model *m) {
  const ditc_variant *v = m->v;
  /* warm-up: the prologue and one eager all-compute step on the zeroed arena, before any capture,
   * so what runs once on first use (lazy module loading, cuBLASLt's heuristics and kernels,
   * attention's shared-memory attributes) happens outside the graphs, and every PAB cache a
   * reuse row reads holds finite values when its graph is captured */
  s->n_graphs = v->denoiser->n_patterns + 1;
  s->graphs = calloc((size_t)s->n_graphs, sizeof *s->graphs);
  unsigned char *zeros = calloc((size_t)(v->denoiser->n_modules > 0 ? v->denoiser->n_modules : 1), 1);
  DITC_CHECK(s->graphs && zeros);
  m->prologue(&m->ex, NULL);
  m->step(&m->ex, zeros);
  CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)s->ctx.stream));
  CUDA_CHECK(cudaGetLastError());

  /* one graph per pattern, captured from the first step that has it, and the all-compute row */
  for (int i = 0; i < v->denoiser->steps; i++) {
    const int p = v->denoiser->pab_pattern[i];
    if (!s->graphs[p]) s->graphs[p] = capture(s, m, v->denoiser->pab_table + (int64_t)i * v->denoiser->n_modules);
  }
  s->graphs[v->denoiser->n_patterns] = capture(s, m, zeros);
  free(zeros);
  for (int p = 0; p < s->n_graphs; p++) DITC_CHECK(s->graphs[p] != NULL); /* the table names every pattern */
}

static ditc_status cuda_attach(ditc_model *m, ditc_err *err) {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess || n == 0)
    return ditc_fail(err, DITC_EINVAL, "no CUDA device (this binary runs the CUDA backend; bin/ has the CPU one)");
  const ditc_variant *v = m->v;
  DITC_CHECK(v->workspace_bytes > 0 && v->st_bytes > 0);
  cuda_state *s = calloc(1, sizeof *s);
  DITC_CHECK(s != NULL);
  if (cuda_ctx_init(&s->ctx) != 0) {
    free(s);
    return ditc_fail(err, DITC_EINVAL, "cannot create a CUDA stream and cuBLASLt handle");
  }
  if (cuda_dnn_init(&s->ctx) != 0) { /* an empty cuDNN plan cache: no cuDNN call until a plan */
    free_state(s);
    return ditc_fail(err, DITC_ENOMEM, "out of host memory");
  }
  const size_t wbytes = (size_t)v->weight_elems * (size_t)v->st_bytes, abytes = (size_t)v->arena_bytes;
  if (cudaMalloc(&s->weights, wbytes ? wbytes : 64) != cudaSuccess ||
      cudaMalloc((void **)&s->arena, abytes ? abytes : 64) != cudaSuccess) {
    free_state(s);
    return ditc_fail(err, DITC_ENOMEM, "out of device memory: weights %zu + arena %zu bytes", wbytes, abytes);
  }
  upload_weights(s, v, m->weights);
  CUDA_CHECK(cudaMemset(s->arena, 0, abytes));
  s->ctx.workspace = s->arena + v->off_workspace;
  s->ctx.workspace_bytes = (size_t)v->workspace_bytes;
  m->ex.weights = s->weights;
  m->ex.arena = s->arena;
  m->ex.backend = &s->ctx;

  if (v->denoiser) capture_steps(s, m); /* a network's phases run eagerly, in stream order */
  CUDA_CHECK(cudaDeviceSynchronize());
  size_t free_b = 0, total_b = 0;
  CUDA_CHECK(cudaMemGetInfo(&free_b, &total_b));
  s->used_bytes = (int64_t)(total_b - free_b);
  return DITC_OK;
}

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

static void cuda_step(ditc_model *m, int pattern, const unsigned char *row) {
  (void)row; /* the graph of its pattern was captured from the same row */
  cuda_state *s = state(m);
  DITC_CHECK(pattern >= 0 && pattern < s->n_graphs);
  CUDA_CHECK(cudaGraphLaunch(s->graphs[pattern], (cudaStream_t)s->ctx.stream));
}

static int64_t cuda_device_bytes(ditc_model *m) { return m->ex.backend ? state(m)->used_bytes : 0; }

/* ---- the sampler on the device (cuda/sampler.cu), over the io buffers of the device arena ---- */

static float *io(cuda_state *s, int64_t off) { return (float *)(void *)(s->arena + off); }

static void cuda_prepare(ditc_model *m, int i) {
  cuda_state *s = state(m);
  const ditc_variant *v = m->v;
  const int64_t per = (int64_t)v->denoiser->Cin * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx;
  cuda_sampler_prepare(&s->ctx, io(s, v->denoiser->off_x), io(s, v->denoiser->off_t), io(s, v->denoiser->off_z), v->denoiser->B, v->denoiser->Bp, per,
                       v->denoiser->t_embed[i]);
}

/* As sampler.c's update(): the same coefficients, state buffers and PNDM ring bookkeeping. */
static void cuda_update(ditc_model *m, int i, int *n_ets) {
  cuda_state *s = state(m);
  const ditc_variant *v = m->v;
  if (v->denoiser->sampler_kind == DITC_SAMPLER_RFLOW && !v->denoiser->update[i]) return; /* x_mask discards the step */
  cuda_sampler_step st = {0};
  st.kind = v->denoiser->sampler_kind, st.Bp = v->denoiser->Bp, st.cond_first = v->denoiser->cond_first, st.mode = v->denoiser->mode[i];
  st.per = (int64_t)v->denoiser->Cin * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx;
  st.out_per = (int64_t)v->denoiser->Cout * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx;
  st.cfg = v->denoiser->cfg_scale;
  for (int k = 0; k < 4; k++) st.coef[k] = v->denoiser->coef[(int64_t)i * 4 + k];
  st.z = io(s, v->denoiser->off_z);
  st.out = io(s, v->denoiser->off_out);
  if (v->denoiser->sampler_kind == DITC_SAMPLER_PNDM) { /* state [7][lat]: eps, ets ring [4], cur, acc */
    const int64_t lat = (int64_t)v->denoiser->Bp * st.per;
    float *state = io(s, v->denoiser->off_state);
    st.state = state, st.cur = state + 5 * lat, st.acc = state + 6 * lat;
    sampler_pndm_slots(v, i, state, n_ets, st.ets);
  } else if (v->denoiser->sampler_kind == DITC_SAMPLER_DDIM) {
    st.state = io(s, v->denoiser->off_state);
  }
  cuda_sampler_update(&s->ctx, &st);
}

static void cuda_sync(ditc_model *m) { CUDA_CHECK(cudaStreamSynchronize((cudaStream_t)state(m)->ctx.stream)); }

static void cuda_detach(ditc_model *m) {
  if (!m->ex.backend) return;
  free_state(state(m));
  m->ex.backend = NULL;
}

static const ditc_backend_ops cuda_ops = {"cuda",       cuda_attach, cuda_to_device, cuda_to_host, cuda_step,
                                          cuda_device_bytes, cuda_prepare, cuda_update,  cuda_sync,    cuda_detach};

const ditc_backend_ops *ditc_backend(void) { return &cuda_ops; }
