/* cuda/vae_cudnn.cu: cuda_conv3d through cuDNN's convolution (the cuDNN 9 backend API's
 * CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, which takes separate pre and post
 * paddings; the legacy cudnnConvolutionForward is deprecated and pads symmetrically), the second
 * implementation of the op that the op test holds to the same reference as the own kernel
 * (cuda/vae.cu) and that a measurement on a device may make the default. Generated code calls
 * cuda_conv3d, the own kernel; this path runs when a caller holds a cuda_conv_dnn.
 *
 * Dispatch: zero padding is one cuDNN convolution with pre paddings (pt0, ph, pw) and post
 * paddings (pt1, ph, pw). Replicate padding (no cuDNN mode), or zero padding no engine takes,
 * runs the output frames whose window lies inside the T input frames (pt0 .. pt0+T-kt) in cuDNN
 * with no time padding, writing into that frame range of out through strides, and the edge
 * frames in the own kernel; with no engine for that either (or T < kt) the own kernel runs it
 * all, after one note on stderr per shape. The bias: out is first filled with b and cuDNN
 * accumulates into it (beta 1), so the fp32 sum is rounded once, as in the own kernel.
 * Engines: heuristics mode A, then the fallback list; the first engine configuration without
 * reduced-precision, FFT, Winograd or non-deterministic numerical notes (and, in fp32 storage,
 * without tensor cores, whose fp32 is TF32) whose workspace fits ctx->workspace (the stream
 * orders its users) makes the plan. Plans are cached in the cuda_conv_dnn, one per distinct
 * shape, and built outside stream captures: a call inside a capture with no plan yet runs the
 * own kernel. Not here: the own kernel (cuda/vae.cu). */
#include <cudnn_graph.h>

#include "cuda/common.cuh"

#if DITC_STORAGE == DITC_STORAGE_F32
static const cudnnDataType_t DNN_ST = CUDNN_DATA_FLOAT;
#elif DITC_STORAGE == DITC_STORAGE_BF16
static const cudnnDataType_t DNN_ST = CUDNN_DATA_BFLOAT16;
#else
static const cudnnDataType_t DNN_ST = CUDNN_DATA_HALF;
#endif

/* cuda/vae.cu: the own kernel over output frames t_lo .. t_hi-1 */
void conv3d_launch(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, const ditc_st *w, const ditc_st *b,
                   int64_t N, int64_t Cin, int64_t Cout, int64_t T, int64_t H, int64_t W, int64_t kt, int64_t kh,
                   int64_t kw, int64_t pt0, int64_t pt1, int64_t ph, int64_t pw, int64_t replicate, int64_t t_lo,
                   int64_t t_hi);

/* ---- errors -------------------------------------------------------------------------------- */

static void check_dnn(cudnnStatus_t e, const char *what, const char *file, int line) {
  if (e == CUDNN_STATUS_SUCCESS) return;
  char msg[512] = "";
  cudnnGetLastErrorString(msg, sizeof msg);
  fprintf(stderr, "ditc: cuDNN error: %s:%d: %s: %s%s%s\n", file, line, what, cudnnGetErrorString(e),
          msg[0] ? ": " : "", msg);
  abort();
}
#define DNN_CHECK(stmt) check_dnn((stmt), #stmt, __FILE__, __LINE__)

/* Plan building may fail (a shape no engine takes): the first failing statement is kept. */
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

/* ---- the plan cache ------------------------------------------------------------------------ */

/* One convolution: x [n, cin, t, h, w] packed, w [cout, cin, kt, kh, kw] packed, y [n, cout, to,
 * ho, wo] with the strides ys (a frame range of a larger out), each pointer's byte alignment,
 * beta 1 when y holds the bias. All int64 so the struct compares with memcmp. */
typedef struct {
  int64_t n, cin, cout, t, h, w, kt, kh, kw, pre[3], post[3], to, ys[5], align[3], beta;
} conv_shape;

enum { CONV_NEW = 0, CONV_READY = 1, CONV_UNSUPPORTED = 2 };
enum { CONV_MAX_PLANS = 64, CONV_MAX_CFGS = 32, CONV_MAX_KEEP = 8 + 2 * CONV_MAX_CFGS };
enum { UID_X = 1, UID_W, UID_Y };

typedef struct {
  conv_shape shape;
  int state;
  cudnnBackendDescriptor_t plan;
  cudnnBackendDescriptor_t keep[CONV_MAX_KEEP]; /* what the plan was built from */
  int n_keep;
  int64_t workspace_bytes;
} conv_plan;

struct cuda_conv_dnn {
  cudnnHandle_t handle;
  cudaStream_t stream;
  int n;
  conv_plan plans[CONV_MAX_PLANS];
  int64_t executions; /* cuDNN convolutions run so far (the test tells cuDNN from the fallback) */
};

cuda_conv_dnn *cuda_conv_dnn_init(const cuda_ctx *ctx) {
  cuda_conv_dnn *d = (cuda_conv_dnn *)calloc(1, sizeof(cuda_conv_dnn));
  if (!d) return NULL;
  if (cudnnCreate(&d->handle) != CUDNN_STATUS_SUCCESS) {
    free(d);
    return NULL;
  }
  d->stream = stream_of(ctx);
  DNN_CHECK(cudnnSetStream(d->handle, d->stream));
  return d;
}

int64_t cuda_conv_dnn_executions(const cuda_conv_dnn *d) { return d ? d->executions : 0; }

void cuda_conv_dnn_free(cuda_conv_dnn *d) {
  if (!d) return;
  CUDA_CHECK(cudaStreamSynchronize(d->stream));
  for (int i = 0; i < d->n; i++) {
    conv_plan *p = &d->plans[i];
    if (p->plan) cudnnBackendDestroyDescriptor(p->plan);
    for (int j = 0; j < p->n_keep; j++) cudnnBackendDestroyDescriptor(p->keep[j]);
  }
  cudnnDestroy(d->handle);
  free(d);
}

/* ---- building a plan ----------------------------------------------------------------------- */

static cudnnBackendDescriptor_t keep(conv_plan *p, cudnnBackendDescriptorType_t type, dnn_err *err) {
  cudnnBackendDescriptor_t d = NULL;
  check_arg(p->n_keep < CONV_MAX_KEEP, "descriptors of one plan", __FILE__, __LINE__);
  if (!DNN_TRY(err, cudnnBackendCreateDescriptor(type, &d))) return NULL;
  return p->keep[p->n_keep++] = d;
}

static bool set_attr(cudnnBackendDescriptor_t d, cudnnBackendAttributeName_t name, cudnnBackendAttributeType_t type,
                     int64_t n, const void *value, dnn_err *err) {
  return d && DNN_TRY(err, cudnnBackendSetAttribute(d, name, type, n, value));
}

/* A finalized 5-D tensor descriptor, strides in elements. */
static cudnnBackendDescriptor_t tensor5(conv_plan *p, int64_t uid, const int64_t dims[5], const int64_t strides[5],
                                        int64_t align, dnn_err *err) {
  cudnnBackendDescriptor_t t = keep(p, CUDNN_BACKEND_TENSOR_DESCRIPTOR, err);
  const bool ok = set_attr(t, CUDNN_ATTR_TENSOR_DATA_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &DNN_ST, err) &&
                  set_attr(t, CUDNN_ATTR_TENSOR_DIMENSIONS, CUDNN_TYPE_INT64, 5, dims, err) &&
                  set_attr(t, CUDNN_ATTR_TENSOR_STRIDES, CUDNN_TYPE_INT64, 5, strides, err) &&
                  set_attr(t, CUDNN_ATTR_TENSOR_UNIQUE_ID, CUDNN_TYPE_INT64, 1, &uid, err) &&
                  set_attr(t, CUDNN_ATTR_TENSOR_BYTE_ALIGNMENT, CUDNN_TYPE_INT64, 1, &align, err);
  return ok && DNN_TRY(err, cudnnBackendFinalize(t)) ? t : NULL;
}

/* An engine configuration whose numerics match the own kernel's: fp32 products and sums. */
static bool cfg_numerics_ok(cudnnBackendDescriptor_t cfg) {
  cudnnBackendDescriptor_t eng = NULL;
  if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_ENGINE_DESCRIPTOR, &eng) != CUDNN_STATUS_SUCCESS) return false;
  cudnnBackendNumericalNote_t notes[CUDNN_NUMERICAL_NOTE_TYPE_COUNT];
  int64_t got = 0;
  bool ok = cudnnBackendGetAttribute(cfg, CUDNN_ATTR_ENGINECFG_ENGINE, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &got, &eng) ==
                CUDNN_STATUS_SUCCESS &&
            cudnnBackendGetAttribute(eng, CUDNN_ATTR_ENGINE_NUMERICAL_NOTE, CUDNN_TYPE_NUMERICAL_NOTE,
                                     CUDNN_NUMERICAL_NOTE_TYPE_COUNT, &got, notes) == CUDNN_STATUS_SUCCESS;
  for (int64_t i = 0; ok && i < got; i++) {
    switch (notes[i]) {
    case CUDNN_NUMERICAL_NOTE_TENSOR_CORE: ok = DITC_STORAGE != DITC_STORAGE_F32; break; /* fp32 data: TF32 */
    case CUDNN_NUMERICAL_NOTE_STRICT_NAN_PROP: break;
    default: ok = false; /* down-converted inputs, reduced-precision sums, FFT, Winograd, non-deterministic */
    }
  }
  cudnnBackendDestroyDescriptor(eng);
  return ok;
}

/* The convolution graph of p->shape and the first acceptable engine configuration that
 * finalizes into a plan: true, or false with err saying what failed. */
static bool conv_build(cuda_conv_dnn *d, const cuda_ctx *ctx, conv_plan *p, dnn_err *err) {
  const conv_shape *s = &p->shape;
  const int64_t ho = s->h + s->pre[1] + s->post[1] - s->kh + 1, wo = s->w + s->pre[2] + s->post[2] - s->kw + 1;
  const int64_t xd[5] = {s->n, s->cin, s->t, s->h, s->w}, wd[5] = {s->cout, s->cin, s->kt, s->kh, s->kw};
  const int64_t yd[5] = {s->n, s->cout, s->to, ho, wo};
  const int64_t xs[5] = {s->cin * s->t * s->h * s->w, s->t * s->h * s->w, s->h * s->w, s->w, 1};
  const int64_t wsd[5] = {s->cin * s->kt * s->kh * s->kw, s->kt * s->kh * s->kw, s->kh * s->kw, s->kw, 1};
  cudnnBackendDescriptor_t tx = tensor5(p, UID_X, xd, xs, s->align[0], err);
  cudnnBackendDescriptor_t tw = tensor5(p, UID_W, wd, wsd, s->align[1], err);
  cudnnBackendDescriptor_t ty = tensor5(p, UID_Y, yd, s->ys, s->align[2], err);

  const cudnnDataType_t comp = CUDNN_DATA_FLOAT;
  const cudnnConvolutionMode_t mode = CUDNN_CROSS_CORRELATION;
  const int64_t dims = 3, ones[3] = {1, 1, 1};
  cudnnBackendDescriptor_t conv = tx && tw && ty ? keep(p, CUDNN_BACKEND_CONVOLUTION_DESCRIPTOR, err) : NULL;
  bool ok = set_attr(conv, CUDNN_ATTR_CONVOLUTION_COMP_TYPE, CUDNN_TYPE_DATA_TYPE, 1, &comp, err) &&
            set_attr(conv, CUDNN_ATTR_CONVOLUTION_CONV_MODE, CUDNN_TYPE_CONVOLUTION_MODE, 1, &mode, err) &&
            set_attr(conv, CUDNN_ATTR_CONVOLUTION_SPATIAL_DIMS, CUDNN_TYPE_INT64, 1, &dims, err) &&
            set_attr(conv, CUDNN_ATTR_CONVOLUTION_DILATIONS, CUDNN_TYPE_INT64, 3, ones, err) &&
            set_attr(conv, CUDNN_ATTR_CONVOLUTION_FILTER_STRIDES, CUDNN_TYPE_INT64, 3, ones, err) &&
            set_attr(conv, CUDNN_ATTR_CONVOLUTION_PRE_PADDINGS, CUDNN_TYPE_INT64, 3, s->pre, err) &&
            set_attr(conv, CUDNN_ATTR_CONVOLUTION_POST_PADDINGS, CUDNN_TYPE_INT64, 3, s->post, err) &&
            DNN_TRY(err, cudnnBackendFinalize(conv));

  const float alpha = 1.0f, beta = (float)s->beta;
  cudnnBackendDescriptor_t op = ok ? keep(p, CUDNN_BACKEND_OPERATION_CONVOLUTION_FORWARD_DESCRIPTOR, err) : NULL;
  ok = ok && set_attr(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_X, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &tx, err) &&
       set_attr(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_W, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &tw, err) &&
       set_attr(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_Y, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &ty, err) &&
       set_attr(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_CONV_DESC, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &conv, err) &&
       set_attr(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_ALPHA, CUDNN_TYPE_FLOAT, 1, &alpha, err) &&
       set_attr(op, CUDNN_ATTR_OPERATION_CONVOLUTION_FORWARD_BETA, CUDNN_TYPE_FLOAT, 1, &beta, err) &&
       DNN_TRY(err, cudnnBackendFinalize(op));

  cudnnBackendDescriptor_t graph = ok ? keep(p, CUDNN_BACKEND_OPERATIONGRAPH_DESCRIPTOR, err) : NULL;
  ok = ok && set_attr(graph, CUDNN_ATTR_OPERATIONGRAPH_HANDLE, CUDNN_TYPE_HANDLE, 1, &d->handle, err) &&
       set_attr(graph, CUDNN_ATTR_OPERATIONGRAPH_OPS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &op, err) &&
       DNN_TRY(err, cudnnBackendFinalize(graph));
  if (!ok) return false;

  const cudnnBackendHeurMode_t modes[2] = {CUDNN_HEUR_MODE_A, CUDNN_HEUR_MODE_FALLBACK};
  int rejected = 0; /* configurations with other numerics or a larger workspace */
  for (int mi = 0; mi < 2 && !p->plan; mi++) {
    cudnnBackendDescriptor_t heur = keep(p, CUDNN_BACKEND_ENGINEHEUR_DESCRIPTOR, err);
    int64_t count = 0, got = 0;
    if (!(set_attr(heur, CUDNN_ATTR_ENGINEHEUR_OPERATION_GRAPH, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &graph, err) &&
          set_attr(heur, CUDNN_ATTR_ENGINEHEUR_MODE, CUDNN_TYPE_HEUR_MODE, 1, &modes[mi], err) &&
          DNN_TRY(err, cudnnBackendFinalize(heur)) &&
          DNN_TRY(err, cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS, CUDNN_TYPE_BACKEND_DESCRIPTOR, 0,
                                                &count, NULL))))
      continue;
    if (count > CONV_MAX_CFGS) count = CONV_MAX_CFGS;
    cudnnBackendDescriptor_t cfgs[CONV_MAX_CFGS];
    int64_t made = 0;
    while (made < count && (cfgs[made] = keep(p, CUDNN_BACKEND_ENGINECFG_DESCRIPTOR, err))) made++;
    if (made < count || !DNN_TRY(err, cudnnBackendGetAttribute(heur, CUDNN_ATTR_ENGINEHEUR_RESULTS,
                                                               CUDNN_TYPE_BACKEND_DESCRIPTOR, count, &got, cfgs)))
      continue;
    for (int64_t i = 0; i < got && !p->plan; i++) {
      if (!cfg_numerics_ok(cfgs[i])) {
        rejected++;
        continue;
      }
      cudnnBackendDescriptor_t plan = NULL;
      int64_t n = 0, bytes = 0;
      if (cudnnBackendCreateDescriptor(CUDNN_BACKEND_EXECUTION_PLAN_DESCRIPTOR, &plan) != CUDNN_STATUS_SUCCESS) continue;
      if (set_attr(plan, CUDNN_ATTR_EXECUTION_PLAN_HANDLE, CUDNN_TYPE_HANDLE, 1, &d->handle, err) &&
          set_attr(plan, CUDNN_ATTR_EXECUTION_PLAN_ENGINE_CONFIG, CUDNN_TYPE_BACKEND_DESCRIPTOR, 1, &cfgs[i], err) &&
          DNN_TRY(err, cudnnBackendFinalize(plan)) &&
          DNN_TRY(err, cudnnBackendGetAttribute(plan, CUDNN_ATTR_EXECUTION_PLAN_WORKSPACE_SIZE, CUDNN_TYPE_INT64, 1,
                                                &n, &bytes)) &&
          bytes <= (int64_t)(ctx->workspace ? ctx->workspace_bytes : 0)) {
        p->plan = plan;
        p->workspace_bytes = bytes;
      } else {
        if (bytes > 0) rejected++;
        cudnnBackendDestroyDescriptor(plan);
      }
    }
  }
  if (!p->plan && !err->what) err->what = rejected ? "every engine configuration was rejected (numerical notes or "
                                                     "workspace larger than ctx->workspace_bytes)"
                                                   : "heuristics found no engine";
  return p->plan != NULL;
}

/* ---- execution ----------------------------------------------------------------------------- */

/* One thread per element of the y view [n, cout, to, ho*wo] (strides ys): y = b[c]. */
static __global__ void fill_bias_kernel(st_t *y, const st_t *__restrict__ b, int64_t C, int64_t to, int64_t hw,
                                        int64_t s0, int64_t s1, int64_t s2, int64_t n) {
  GRID_LOOP(i, n) {
    const int64_t p = i % hw, t = i / hw % to, c = i / (hw * to) % C, m = i / (hw * to * C);
    y[m * s0 + c * s1 + t * s2 + p] = b[c];
  }
}

static int64_t align_of(const void *p) {
  const uintptr_t a = (uintptr_t)p;
  return a % 16 == 0 ? 16 : a % 8 == 0 ? 8 : a % 4 == 0 ? 4 : a % 2 == 0 ? 2 : 1;
}

/* Runs convolution s into y (the bias first, when b) through its plan: true, or false when the
 * own kernel must (no engine, or no plan yet inside a stream capture). */
static bool conv_run(cuda_conv_dnn *d, const cuda_ctx *ctx, const conv_shape *s, st_t *y, const st_t *x,
                     const st_t *w, const st_t *b) {
  conv_plan *p = NULL;
  for (int i = 0; i < d->n && !p; i++)
    if (memcmp(&d->plans[i].shape, s, sizeof *s) == 0) p = &d->plans[i];
  if (!p) {
    if (d->n == CONV_MAX_PLANS) return false;
    p = &d->plans[d->n++];
    p->shape = *s;
  }
  if (p->state == CONV_NEW) {
    cudaStreamCaptureStatus cs = cudaStreamCaptureStatusNone;
    CUDA_CHECK(cudaStreamIsCapturing(stream_of(ctx), &cs));
    if (cs != cudaStreamCaptureStatusNone) return false; /* never build inside a capture */
    dnn_err err = {NULL, ""};
    p->state = conv_build(d, ctx, p, &err) ? CONV_READY : CONV_UNSUPPORTED;
    if (p->state == CONV_UNSUPPORTED)
      fprintf(stderr, "ditc: note: cuDNN takes no convolution of x [%lld, %lld, %lld, %lld, %lld], kernel %lldx%lldx%lld "
              "-> %lld channels, paddings (%lld %lld %lld) (%lld %lld %lld): %s%s%s; the own kernel takes over\n",
              (long long)s->n, (long long)s->cin, (long long)s->t, (long long)s->h, (long long)s->w, (long long)s->kt,
              (long long)s->kh, (long long)s->kw, (long long)s->cout, (long long)s->pre[0], (long long)s->pre[1],
              (long long)s->pre[2], (long long)s->post[0], (long long)s->post[1], (long long)s->post[2],
              err.what ? err.what : "?", err.msg[0] ? ": " : "", err.msg);
  }
  if (p->state != CONV_READY) return false;
  const int64_t hw = s->ys[2], n = s->n * s->cout * s->to * hw;
  if (b) LAUNCH_N(ctx, fill_bias_kernel, n, y, b, s->cout, s->to, hw, s->ys[0], s->ys[1], s->ys[2], n);
  void *ws = p->workspace_bytes > 0 ? ctx->workspace : NULL;
  int64_t uids[3] = {UID_X, UID_W, UID_Y};
  void *ptrs[3] = {(void *)x, (void *)w, (void *)y};
  cudnnBackendDescriptor_t pack = NULL;
  DNN_CHECK(cudnnBackendCreateDescriptor(CUDNN_BACKEND_VARIANT_PACK_DESCRIPTOR, &pack));
  DNN_CHECK(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_UNIQUE_IDS, CUDNN_TYPE_INT64, 3, uids));
  DNN_CHECK(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_DATA_POINTERS, CUDNN_TYPE_VOID_PTR, 3, ptrs));
  DNN_CHECK(cudnnBackendSetAttribute(pack, CUDNN_ATTR_VARIANT_PACK_WORKSPACE, CUDNN_TYPE_VOID_PTR, 1, &ws));
  DNN_CHECK(cudnnBackendFinalize(pack));
  DNN_CHECK(cudnnBackendExecute(d->handle, p->plan, pack));
  DNN_CHECK(cudnnBackendDestroyDescriptor(pack));
  d->executions++;
  return true;
}

/* ---- the entry ----------------------------------------------------------------------------- */

void cuda_conv3d_cudnn(const cuda_ctx *ctx, cuda_conv_dnn *dnn, ditc_st *out, const ditc_st *src, const ditc_st *w,
                       const ditc_st *b, int64_t N, int64_t Cin, int64_t Cout, int64_t T, int64_t H, int64_t W,
                       int64_t kt, int64_t kh, int64_t kw, int64_t pt0, int64_t pt1, int64_t ph, int64_t pw,
                       int64_t replicate) {
  const int64_t To = T + pt0 + pt1 - kt + 1, Ho = H + 2 * ph - kh + 1, Wo = W + 2 * pw - kw + 1;
  if (dnn && N > 0 && To > 0 && Ho > 0 && Wo > 0 && Cin > 0 && Cout > 0) {
    st_t *y = st_ptr(out);
    const st_t *x = st_ptr(src), *wt = st_ptr(w), *bs = st_ptr(b);
    conv_shape s;
    memset(&s, 0, sizeof s);
    s.n = N, s.cin = Cin, s.cout = Cout, s.t = T, s.h = H, s.w = W, s.kt = kt, s.kh = kh, s.kw = kw;
    s.pre[1] = s.post[1] = ph, s.pre[2] = s.post[2] = pw;
    s.ys[0] = Cout * To * Ho * Wo, s.ys[1] = To * Ho * Wo, s.ys[2] = Ho * Wo, s.ys[3] = Wo, s.ys[4] = 1;
    s.align[0] = align_of(x), s.align[1] = align_of(wt), s.beta = b != NULL;
    if (!replicate) { /* all of it, time padded in cuDNN */
      s.pre[0] = pt0, s.post[0] = pt1, s.to = To, s.align[2] = align_of(y);
      if (conv_run(dnn, ctx, &s, y, x, wt, bs)) return;
    }
    if (T >= kt) { /* frames pt0 .. pt0+T-kt in cuDNN, the edges in the own kernel */
      const int64_t ta = pt0, tb = pt0 + T - kt + 1;
      s.pre[0] = s.post[0] = 0, s.to = tb - ta, s.align[2] = align_of(y + ta * Ho * Wo);
      if (conv_run(dnn, ctx, &s, y + ta * Ho * Wo, x, wt, bs)) {
        if (ta > 0) conv3d_launch(ctx, out, src, w, b, N, Cin, Cout, T, H, W, kt, kh, kw, pt0, pt1, ph, pw, replicate, 0, ta);
        if (tb < To) conv3d_launch(ctx, out, src, w, b, N, Cin, Cout, T, H, W, kt, kh, kw, pt0, pt1, ph, pw, replicate, tb, To);
        return;
      }
    }
  }
  cuda_conv3d(ctx, out, src, w, b, N, Cin, Cout, T, H, W, kt, kh, kw, pt0, pt1, ph, pw, replicate);
}
