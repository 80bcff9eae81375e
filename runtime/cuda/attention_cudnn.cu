/* cuda/attention_cudnn.cu: the attention ops of cuda/ops.h through cuDNN's fused attention (the
 * SDPA forward operation of the cuDNN 9 backend API, CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR;
 * the C++ cudnn_frontend is not used): cuda_attention_cudnn and cuda_cross_attention_cudnn take
 * the arguments of cuda_attention and cuda_cross_attention and give their results up to rounding
 * (fp32 softmax and accumulation inside cuDNN). The own kernels (cuda/attention.cu) stay the
 * reference and the fallback: fp32 storage (cuDNN SDPA is 16-bit only), a layout or alignment the
 * descriptors cannot express, a shape cuDNN has no engine for, and a call met inside a stream
 * capture before its plan exists run them. Plans live in the context's cuda_dnn cache (one per
 * distinct shape and strides), built outside any capture; see cuda_dnn_build_pending. Not here:
 * the own kernels, qk-norm and RoPE (cuDNN SDPA takes neither; cuda/block.cu applies them first). */
#include <string.h>

#include "cuda/common.cuh"

#if DITC_STORAGE == DITC_STORAGE_F32
/* ---- fp32 storage: the own kernels ------------------------------------------------------- */

int cuda_dnn_init(cuda_ctx *c) {
  c->dnn = NULL;
  return 0;
}
int cuda_dnn_build_pending(const cuda_ctx *c) {
  (void)c;
  return 0;
}
int64_t cuda_dnn_executions(const cuda_ctx *c) {
  (void)c;
  return 0;
}
void cuda_dnn_free(cuda_ctx *c) { c->dnn = NULL; }

void cuda_attention_cudnn(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k, const ditc_st *v,
                          int64_t ld, int nseq, int inner, int64_t outer_stride, int64_t inner_stride,
                          int64_t tok_stride, int len, int H, int D, float scale) {
  cuda_attention(ctx, out, q, k, v, ld, nseq, inner, outer_stride, inner_stride, tok_stride, len, H, D, scale);
}

void cuda_cross_attention_cudnn(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k,
                                const ditc_st *v, int64_t ld, const int32_t *lens, int B, int N, int L, int H, int D,
                                float scale) {
  cuda_cross_attention(ctx, out, q, k, v, ld, lens, B, N, L, H, D, scale);
}

#else
#include <cudnn_graph.h>

#if DITC_STORAGE == DITC_STORAGE_BF16
static const cudnnDataType_t DNN_ST = CUDNN_DATA_BFLOAT16;
#else
static const cudnnDataType_t DNN_ST = CUDNN_DATA_HALF;
#endif

/* ---- errors ------------------------------------------------------------------------------ */

/* A cuDNN call that must succeed (handle, variant pack, execution): aborts like CUDA_CHECK. */
static void check_dnn(cudnnStatus_t e, const char *what, const char *file, int line) {
  if (e == CUDNN_STATUS_SUCCESS) return;
  char msg[512] = "";
  cudnnGetLastErrorString(msg, sizeof msg);
  fprintf(stderr, "ditc: cuDNN error: %s:%d: %s: %s%s%s\n", file, line, what, cudnnGetErrorString(e),
          msg[0] ? ": " : "", msg);
  abort();
}
#define DNN_CHECK(stmt) check_dnn((stmt), #stmt, __FILE__, __LINE__)

/* Plan building may fail (a layout or shape no engine supports): the first failing statement and
 * cuDNN's message are kept for the note, and the caller falls back to the own kernel. */
typedef struct {
  const char *what;
  char msg[256];
} dnn_err;
#define DNN_TRY(err, stmt) dnn_try((stmt), #stmt, (err))
static bool dnn_try(cudnnStatus_t e, const char *what, dnn_err *err) {
  if (e == CUDNN_STATUS_SUCCESS) return true;
  if (!err->what) {
    err->what = what;
    snprintf(err->msg, sizeof err->msg, "%s", cudnnGetErrorString(e));
  }
  return false;
}

/* ---- the plan cache ---------------------------------------------------------------------- */

/* One SDPA execution: tensors [b, h, s, d] (d contiguous) with the element strides of b, h, s for
 * Q, K (and V), O; padded: per-batch key counts (cross-attention), with sq queries in every batch.
 * All int64 so the struct compares with memcmp. */
typedef struct {
  int64_t b, h, sq, skv, d, padded;
  int64_t qs[3], ks[3], os[3];
} sdpa_shape;

/* The call a plan was first met in (during a capture): built later, it warms up on these. */
typedef struct {
  st_t *out;
  const st_t *q, *k, *v;
  const int32_t *lens;
  int nloop;         /* executions, the base pointers advanced by the step below */
  int64_t qstep, ostep; /* elements between executions in q, k, v and in out */
  float scale;
} sdpa_call;

enum { DNN_PENDING = 1, DNN_READY = 2, DNN_UNSUPPORTED = 3 };
enum { DNN_MAX_PLANS = 32, DNN_MAX_KEEP = 16, DNN_MAX_CFGS = 32 };
enum { UID_Q = 1, UID_K, UID_V, UID_O, UID_SCALE, UID_SEQ_Q, UID_SEQ_KV };

typedef struct {
  sdpa_shape shape;
  int state;
  sdpa_call first; /* DNN_PENDING: the call to warm up on */
  cudnnBackendDescriptor_t plan;
  cudnnBackendDescriptor_t keep[DNN_MAX_KEEP + DNN_MAX_CFGS]; /* what the plan was built from */
  int n_keep;
  int64_t workspace_bytes;
  void *workspace;   /* the plan's own, when the context's workspace is smaller (device) */
  int32_t *seq_q;    /* padded: [b] copies of sq (device) */
} dnn_plan;

typedef struct {
  cudnnHandle_t handle; /* created with the first plan, on the context's stream */
  int n;
  dnn_plan plans[DNN_MAX_PLANS];
  int64_t executions; /* SDPA executions so far (tests tell the cuDNN path from the fallback) */
} cuda_dnn;

static cuda_dnn *dnn_of(const cuda_ctx *ctx) {
  check_arg(ctx->dnn != NULL, "ctx->dnn != NULL (cuda_dnn_init before a cuDNN attention)", __FILE__, __LINE__);
  return (cuda_dnn *)ctx->dnn;
}

int cuda_dnn_init(cuda_ctx *c) {
  c->dnn = calloc(1, sizeof(cuda_dnn));
  return c->dnn ? 0 : -1;
}

int64_t cuda_dnn_executions(const cuda_ctx *c) { return c->dnn ? ((const cuda_dnn *)c->dnn)->executions : 0; }

void cuda_dnn_free(cuda_ctx *c) {
  cuda_dnn *d = (cuda_dnn *)c->dnn;
  if (!d) return;
  if (c->stream) CUDA_CHECK(cudaStreamSynchronize(stream_of(c)));
  for (int i = 0; i < d->n; i++) {
    dnn_plan *p = &d->plans[i];
    if (p->plan) cudnnBackendDestroyDescriptor(p->plan);
    for (int j = 0; j < p->n_keep; j++) cudnnBackendDestroyDescriptor(p->keep[j]);
    cudaFree(p->workspace);
    cudaFree(p->seq_q);
  }
  if (d->handle) cudnnDestroy(d->handle);
  free(d);
  c->dnn = NULL;
}

/* ---- building a plan --------------------------------------------------------------------- */

static cudnnBackendDescriptor_t dnn_keep(dnn_plan *p, cudnnBackendDescriptorType_t type, dnn_err *err) {
  cudnnBackendDescriptor_t d = NULL;
  check_arg(p->n_keep < DNN_MAX_KEEP + DNN_MAX_CFGS, "descriptors of one plan", __FILE__, __LINE__);
  if (!DNN_TRY(err, cudnnBackendCreateDescriptor(type, &d))) return NULL;
  return p->keep[p->n_keep++] = d;
}

static bool set_attr(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
                     int64_t n, const void *value, dnn_err *err) {
  return d && DNN_TRY(err, cudnnBackendSetAttribute(d, name, type, n, value));
}

/* A finalized tensor descriptor: 4 dims, strides in elements, 16-byte aligned unless by value. */
static cudnnBackendDescriptor_t dnn_tensor(dnn_plan *p, int64_t uid, cudnnDataType_t type, const int64_t dims[4],
                                           const int64_t strides[4], bool by_value, dnn_err *err) {
  cudnnBackendDescriptor_t t = dnn_keep(p, CUDNN_BACKEND_TENSOR_DESCRIPTOR, err);
  const int64_t align = by_value ? 4 : 16;
  bool ok = set_attr(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &type, err) &&
            set_attr(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 4, dims, err) &&
            set_attr(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 4, strides, err) &&
            set_attr(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, err) &&
            set_attr(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align, err);
  if (ok && by_value) ok = set_attr(t, CUDNN_ATTR_TENSOR_IS_BY_VALUE, CUDNN_TYPE_BOOLEAN, 1, &by_value, err);
  return ok && DNN_TRY(err, cudnnBackendFinalize(t)) ? t : NULL;
}

/* The SDPA graph of p->shape, the first engine configuration of heuristics mode A that finalizes
 * into an execution plan, and its workspace: true, or false with err saying what failed. */
static bool dnn_build(cuda_dnn *d, const cuda_ctx *ctx, dnn_plan *p, dnn_err *err) {
  const sdpa_shape *s = &p->shape;
  if (!d->handle) { /* the first plan of this context */
    DNN_CHECK(cudnnCreate(&d->handle));
    DNN_CHECK(cudnnSetStream(d->handle, stream_of(ctx)));
  }
  const int64_t qd[4] = {s->b, s->h, s->sq, s->d}, kd[4] = {s->b, s->h, s->skv, s->d}, one[4] = {1, 1, 1, 1};
  const int64_t qs[4] = {s->qs[0], s->qs[1], s->qs[2], 1}, ks[4] = {s->ks[0], s->ks[1], s->ks[2], 1};
  const int64_t os[4] = {s->os[0], s->os[1], s->os[2], 1}, bd[4] = {s->b, 1, 1, 1};
  cudnnBackendDescriptor_t tq = dnn_tensor(p, UID_Q, DNN_ST, qd, qs, false, err);
  cudnnBackendDescriptor_t tk = dnn_tensor(p, UID_K, DNN_ST, kd, ks, false, err);
  cudnnBackendDescriptor_t tv = dnn_tensor(p, UID_V, DNN_ST, kd, ks, false, err);
  cudnnBackendDescriptor_t to = dnn_tensor(p, UID_O, DNN_ST, qd, os, false, err);
  cudnnBackendDescriptor_t tsc = dnn_tensor(p, UID_SCALE, CUDNN_DATA_FLOAT, one, one, true, err);
  cudnnBackendDescriptor_t op = dnn_keep(p, CUDNN_BACKEND_OPERATION_SDPA_FWD_DESCRIPTOR, err);
  bool ok = tq && tk && tv && to && tsc &&
            set_attr(op, CUDNN_ATTR_OPERATION_SDPA_FWD_QDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &tq, err) &&
            set_attr(op, CUDNN_ATTR_OPERATION_SDPA_FWD_KDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &tk, err) &&
            set_attr(op, CUDNN_ATTR_OPERATION_SDPA_FWD_VDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &tv, err) &&
            set_attr(op, CUDNN_ATTR_OPERATION_SDPA_FWD_ODESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &to, err) &&
            set_attr(op, CUDNN_ATTR_OPERATION_SDPA_FWD_SCALEDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &tsc, err);
  if (ok && s->padded) { /* the padding mask: queries and keys past seq_q, seq_kv of their batch */
    cudnnBackendDescriptor_t tsq = dnn_tensor(p, UID_SEQ_Q, CUDNN_DATA_INT32, bd, one, false, err);
    cudnnBackendDescriptor_t tskv = dnn_tensor(p, UID_SEQ_KV, CUDNN_DATA_INT32, bd, one, false, err);
    ok = tsq && tskv &&
         set_attr(op, CUDNN_ATTR_OPERATION_SDPA_FWD_SEQ_LEN_QDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &tsq, err) &&
         set_attr(op, CUDNN_ATTR_OPERATION_SDPA_FWD_SEQ_LEN_KVDESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &tskv, err);
  }
  ok = ok && DNN_TRY(err, cudnnBackendFinalize(op));

  cudnnBackendDescriptor_t graph = ok ? dnn_keep(p, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, err) : NULL;
  ok = ok && set_attr(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &d->handle, err) &&
       set_attr(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op, err) &&
       DNN_TRY(err, cudnnBackendFinalize(graph));

  const cudnnBackendHeurMode_t mode = CUDNN_HEUR_MODE_A;
  cudnnBackendDescriptor_t heur = ok ? dnn_keep(p, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, err) : NULL;
  ok = ok && set_attr(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph, err) &&
       set_attr(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &mode, err) &&
       DNN_TRY(err, cudnnBackendFinalize(heur));
  int64_t count = 0;
  ok = ok && DNN_TRY(err, cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                                   0, &count, NULL));
  if (!ok) return false;
  if (count > DNN_MAX_CFGS) count = DNN_MAX_CFGS;
  cudnnBackendDescriptor_t cfgs[DNN_MAX_CFGS];
  for (int64_t i = 0; i < count; i++)
    if (!(cfgs[i] = dnn_keep(p, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, err))) return false;
  int64_t got = 0;
  if (!DNN_TRY(err, cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR,
                                             count, &got, cfgs)))
    return false;
  for (int64_t i = 0; i < got && !p->plan; i++) { /* the first configuration that makes a plan */
    cudnnBackendDescriptor_t plan = NULL;
    if (!DNN_TRY(err, cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan))) return false;
    if (set_attr(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &d->handle, err) &&
        set_attr(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfgs[i], err) &&
        DNN_TRY(err, cudnnBackendFinalize(plan)))
      p->plan = plan;
    else cudnnBackendDestroyDescriptor(plan);
  }
  if (!p->plan) {
    if (!err->what) err->what = got ? "no engine configuration finalizes" : "heuristics found no engine";
    return false;
  }
  err->what = NULL; /* configurations that failed before the one that made the plan */
  DNN_CHECK(cudnnBackendGetAttribute(p->plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1, &count,
                                     &p->workspace_bytes));
  /* the context's workspace (cuBLASLt's, in the arena) serves when it is large enough: the stream
   * orders its users; else the plan gets its own, allocated now, outside any capture */
  if (p->workspace_bytes > (int64_t)ctx->workspace_bytes) CUDA_CHECK(cudaMalloc(&p->workspace, (size_t)p->workspace_bytes));
  if (s->padded) { /* every batch has all sq queries */
    int32_t *h = (int32_t *)malloc(sizeof(int32_t) * (size_t)s->b);
    check_arg(h != NULL, "host memory", __FILE__, __LINE__);
    for (int64_t i = 0; i < s->b; i++) h[i] = (int32_t)s->sq;
    CUDA_CHECK(cudaMalloc(&p->seq_q, sizeof(int32_t) * (size_t)s->b));
    CUDA_CHECK(cudaMemcpy(p->seq_q, h, sizeof(int32_t) * (size_t)s->b, cudaMemcpyHostToDevice));
    free(h);
  }
  return true;
}

/* Builds p (outside any capture): DNN_READY, or DNN_UNSUPPORTED with a note on stderr. */
static void dnn_build_or_note(cuda_dnn *d, const cuda_ctx *ctx, dnn_plan *p) {
  dnn_err err = {NULL, ""};
  if (dnn_build(d, ctx, p, &err)) {
    p->state = DNN_READY;
    return;
  }
  p->state = DNN_UNSUPPORTED;
  const sdpa_shape *s = &p->shape;
  fprintf(stderr, "ditc: note: cuDNN SDPA takes no %s attention of b %lld, h %lld, sq %lld, skv %lld, d %lld "
          "(q strides %lld %lld %lld): %s: %s; the own kernel runs it\n", s->padded ? "padded" : "plain", (long long)s->b,
          (long long)s->h, (long long)s->sq, (long long)s->skv, (long long)s->d, (long long)s->qs[0],
          (long long)s->qs[1], (long long)s->qs[2], err.what ? err.what : "?", err.msg);
}

/* ---- execution --------------------------------------------------------------------------- */

/* A kernel of the cross-attention path: cuDNN's output for a batch with no valid keys is not
 * specified; the op's is zeros. grid (blocks, B): batch b zeroes its N*C elements if lens[b] == 0. */
static __global__ void zero_empty_kernel(st_t *out, const int32_t *lens, int64_t per) {
  const int64_t b = blockIdx.y;
  if (lens[b] != 0) return;
  for (int64_t i = (int64_t)blockIdx.x * blockDim.x + threadIdx.x; i < per; i += (int64_t)gridDim.x * blockDim.x)
    out[b * per + i] = to_st(0.0f);
}

static void dnn_execute(cuda_dnn *d, const cuda_ctx *ctx, const dnn_plan *p, const sdpa_call *c) {
  void *ws = p->workspace ? p->workspace : p->workspace_bytes > 0 ? ctx->workspace : NULL;
  float scale = c->scale; /* by value: read when the kernel is launched (or captured) */
  for (int i = 0; i < c->nloop; i++) {
    int64_t uids[7] = {UID_Q, UID_K, UID_V, UID_O, UID_SCALE, UID_SEQ_Q, UID_SEQ_KV};
    void *ptrs[7] = {(void *)(c->q + i * c->qstep), (void *)(c->k + i * c->qstep), (void *)(c->v + i * c->qstep),
                     (void *)(c->out + i * c->ostep), &scale, p->seq_q, (void *)c->lens};
    const int64_t n = p->shape.padded ? 7 : 5;
    cudnnBackendDescriptor_t pack = NULL;
    DNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack));
    DNN_CHECK(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, n, uids));
    DNN_CHECK(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, n, ptrs));
    DNN_CHECK(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws));
    DNN_CHECK(cudnnBackendFinalize(pack));
    DNN_CHECK(cudnnBackendExecute(d->handle, p->plan, pack));
    DNN_CHECK(cudnnBackendDestroyDescriptor(pack));
    d->executions++;
  }
  if (p->shape.padded) {
    const int64_t per = p->shape.sq * p->shape.h * p->shape.d; /* out rows of a batch are C = h*d apart */
    const int64_t blocks = (per + BLOCK * 8 - 1) / (BLOCK * 8);
    const dim3 grid((unsigned)(blocks < 4096 ? blocks : 4096), (unsigned)p->shape.b);
    LAUNCH(zero_empty_kernel, grid, BLOCK, 0, stream_of(ctx), c->out, c->lens, per);
  }
}

/* Runs call c of shape s through its plan: true, or false when the own kernel must run it (the
 * shape is unsupported, or the plan is not built yet and the stream is capturing: the plan is
 * marked pending for cuda_dnn_build_pending). */
static bool dnn_run(const cuda_ctx *ctx, const sdpa_shape *s, const sdpa_call *c) {
  cuda_dnn *d = dnn_of(ctx);
  dnn_plan *p = NULL;
  for (int i = 0; i < d->n && !p; i++)
    if (memcmp(&d->plans[i].shape, s, sizeof *s) == 0) p = &d->plans[i];
  if (!p) {
    check_arg(d->n < DNN_MAX_PLANS, "distinct cuDNN attention shapes <= DNN_MAX_PLANS", __FILE__, __LINE__);
    p = &d->plans[d->n++];
    p->shape = *s;
    p->state = DNN_PENDING;
    p->first = *c;
  }
  if (p->state == DNN_PENDING) {
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    CUDA_CHECK(cudaStreamIsCapturing(stream_of(ctx), &cs));
    if (cs != cudaStreamCaptureStatusNone) return false; /* never build inside a capture */
    dnn_build_or_note(d, ctx, p);
  }
  if (p->state != DNN_READY) return false;
  dnn_execute(d, ctx, p, c);
  return true;
}

int cuda_dnn_build_pending(const cuda_ctx *ctx) {
  cuda_dnn *d = (cuda_dnn *)ctx->dnn;
  int built = 0;
  for (int i = 0; d && i < d->n; i++) {
    dnn_plan *p = &d->plans[i];
    if (p->state != DNN_PENDING) continue;
    dnn_build_or_note(d, ctx, p);
    if (p->state != DNN_READY) continue;
    built++;
    /* warm up on the pointers of the call that asked for it (buffers of the arena: the graph
     * about to be captured rewrites them), so cuDNN's first execution is not inside a capture */
    dnn_execute(d, ctx, p, &p->first);
  }
  if (built) CUDA_CHECK(cudaStreamSynchronize(stream_of(ctx)));
  return built;
}

/* ---- entries ------------------------------------------------------------------------------ */

static bool aligned16(const void *p) { return ((uintptr_t)p & 15) == 0; }

/* cuDNN's preconditions besides the layout: 16-byte aligned rows and heads, a head dim cuDNN and
 * the own kernel share. */
static bool dnn_takes(const void *out, const void *q, const void *k, const void *v, int64_t ld, int64_t q_ld, int D) {
  return D % 8 == 0 && D <= 128 && ld % 8 == 0 && q_ld % 8 == 0 && aligned16(out) && aligned16(q) && aligned16(k) &&
         aligned16(v);
}

/* Sequence s = (o, i) of cuda_attention (o < nseq, i < inner) has its rows at o*outer_stride +
 * i*inner_stride + j*tok_stride. cuDNN's tensors have one batch dim besides the heads, so (o, i)
 * must be one strided index: inner == 1 (spatial attention as generated: b = o), nseq == 1, or
 * outer_stride == inner*inner_stride (b = o*inner + i). Otherwise (temporal attention: o is the
 * sample, i the spatial position, and the T frames of a sequence S rows apart) b = i and the call
 * runs nseq executions of one plan, one per o. */
void cuda_attention_cudnn(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k, const ditc_st *v,
                          int64_t ld, int nseq, int inner, int64_t outer_stride, int64_t inner_stride,
                          int64_t tok_stride, int len, int H, int D, float scale) {
  const int64_t C = (int64_t)H * D;
  if (nseq > 0 && inner > 0 && len > 0 && H > 0 && dnn_takes(out, q, k, v, ld, C, D)) {
    const bool merged = inner == 1 || nseq == 1 || outer_stride == (int64_t)inner * inner_stride;
    const int64_t nb = merged ? (int64_t)nseq * inner : inner;
    const int64_t bstride = inner == 1 ? outer_stride : inner_stride;
    sdpa_shape s;
    memset(&s, 0, sizeof s);
    s.b = nb, s.h = H, s.sq = len, s.skv = len, s.d = D, s.padded = 0;
    s.qs[0] = bstride * ld, s.qs[1] = D, s.qs[2] = tok_stride * ld;
    s.ks[0] = s.qs[0], s.ks[1] = s.qs[1], s.ks[2] = s.qs[2];
    s.os[0] = bstride * C, s.os[1] = D, s.os[2] = tok_stride * C;
    const sdpa_call c = {st_ptr(out), st_ptr(q), st_ptr(k), st_ptr(v), NULL, merged ? 1 : nseq,
                         outer_stride * ld, outer_stride * C, scale};
    if (dnn_run(ctx, &s, &c)) return;
  }
  cuda_attention(ctx, out, q, k, v, ld, nseq, inner, outer_stride, inner_stride, tok_stride, len, H, D, scale);
}

/* Batch b: queries rows b*N + j of q and out (C apart), keys rows b*L + j of k, v (ld apart), the
 * first lens[b] valid: SEQ_LEN_KV = lens, SEQ_LEN_Q = N. */
void cuda_cross_attention_cudnn(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k,
                                const ditc_st *v, int64_t ld, const int32_t *lens, int B, int N, int L, int H, int D,
                                float scale) {
  const int64_t C = (int64_t)H * D;
  if (B > 0 && N > 0 && L > 0 && H > 0 && dnn_takes(out, q, k, v, ld, C, D)) {
    sdpa_shape s;
    memset(&s, 0, sizeof s);
    s.b = B, s.h = H, s.sq = N, s.skv = L, s.d = D, s.padded = 1;
    s.qs[0] = (int64_t)N * C, s.qs[1] = D, s.qs[2] = C;
    s.ks[0] = (int64_t)L * ld, s.ks[1] = D, s.ks[2] = ld;
    s.os[0] = s.qs[0], s.os[1] = s.qs[1], s.os[2] = s.qs[2];
    const sdpa_call c = {st_ptr(out), st_ptr(q), st_ptr(k), st_ptr(v), lens, 1, 0, 0, scale};
    if (dnn_run(ctx, &s, &c)) return;
  }
  cuda_cross_attention(ctx, out, q, k, v, ld, lens, B, N, L, H, D, scale);
}
#endif
