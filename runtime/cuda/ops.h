/* cuda/ops.h: the CUDA ops the generated CUDA forward code calls, one per op kind of the op
 * program. Each cuda_<op> has the arguments of cpu_<op> in cpu/ops.h (same meaning, shapes and
 * layouts; see the comments there and runtime/README.md for the dimension letters) with the
 * context first; every pointer is a device pointer. A call enqueues work on ctx->stream and
 * returns without synchronizing; launch and cuBLAS errors abort with file:line.
 *
 * Storage: a CUDA build keeps activations, PAB caches and weights in one storage element,
 * ditc_st, fixed at compile time by DITC_STORAGE (the generated forward.cu defines it from its
 * variant; runtime/cuda/ is compiled once per storage into build/rt/cuda_<storage>/):
 *   DITC_STORAGE_F32:  float; fp32 math, cuBLASLt without TF32, so results match the CPU
 *                      reference up to rounding (summation order; CUDA's tanhf and expf);
 *   DITC_STORAGE_BF16: bfloat16 bits (Open-Sora 1.2 runs in bf16);
 *   DITC_STORAGE_F16:  IEEE half bits (Latte and Open-Sora-Plan run in fp16).
 * 16-bit storage loads to fp32, computes and accumulates in fp32, rounds once on store. What
 * stays fp32 in every build (float pointers below): the runtime's io buffers (latents, timesteps,
 * text, model output), the position and RoPE tables, and what a program marks fp32 (a weight
 * kept in fp32, WF() in generated code; the fp16 T5's `wo` and residual stream). Plain C: includes no CUDA header
 * (cpu/ops.h, found through -Iruntime, for DITC_ACT_*). Not here: allocation, copies to or from
 * the host, collectives. */
#ifndef DITC_CUDA_OPS_H
#define DITC_CUDA_OPS_H

#include <stddef.h>
#include <stdint.h>

#define DITC_STORAGE_F32 0
#define DITC_STORAGE_BF16 1
#define DITC_STORAGE_F16 2
#ifndef DITC_STORAGE
#error "cuda/ops.h: define DITC_STORAGE (DITC_STORAGE_F32, _BF16 or _F16) before including it"
#endif
#if DITC_STORAGE == DITC_STORAGE_F32
typedef float ditc_st;
#else
typedef uint16_t ditc_st; /* the bits of a bfloat16 or half; only device code does arithmetic */
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* DITC_ACT_* (an enum, so it cannot be guarded by #ifndef): defined once, in cpu/gemm.h, which
 * cpu/ops.h includes under include guards; including it keeps both headers usable together in
 * either order. */
#include "cpu/ops.h"

/* What every op runs on: the stream, the cuBLASLt handle, and the cuBLASLt workspace (a
 * persistent buffer of the arena plan, so the arena stays the only activation allocation). */
typedef struct {
  void *stream;    /* cudaStream_t */
  void *lt;        /* cublasLtHandle_t */
  void *workspace; /* device bytes for cuBLASLt */
  size_t workspace_bytes;
  void *dnn;       /* cuDNN attention's handle and plan cache (cuda_dnn_init); NULL: none */
} cuda_ctx;

/* The storage this ops library was compiled for (DITC_STORAGE); generated code references the
 * symbol of its own storage so a binary linked against the wrong library does not link. */
extern const int ditc_cuda_storage_f32, ditc_cuda_storage_bf16, ditc_cuda_storage_f16;

/* Creates the stream and cuBLASLt handle on the current device: 0, or -1 (nothing left to free).
 * The workspace is set later, when the arena exists. */
int cuda_ctx_init(cuda_ctx *c);
/* Destroys both (after the stream's work finishes); safe on a zeroed or freed context. */
void cuda_ctx_free(cuda_ctx *c);
/* Converts n fp32 values (device) into storage elements (device), round to nearest even. */
void cuda_to_storage(const cuda_ctx *ctx, ditc_st *out, const float *src, int64_t n);
/* And back (for tests and dumps). */
void cuda_from_storage(const cuda_ctx *ctx, float *out, const ditc_st *src, int64_t n);

/* ---- embeddings (fp32 tables) ------------------------------------------------------------ */
void cuda_pos_embed_2d(const cuda_ctx *ctx, float *out, int Hp, int Wp, int C, float scale, float mul_h,
                       float mul_w);
void cuda_rope_table(const cuda_ctx *ctx, float *cos_t, float *sin_t, const ditc_st *freqs, int T, int D,
                     int bf16);
void cuda_pos_embed_2d_f64(const cuda_ctx *ctx, float *out, int Hp, int Wp, int C, float div_h, float div_w,
                           float interp);
void cuda_pos_embed_1d_f64(const cuda_ctx *ctx, float *out, int T, int C, float div);
void cuda_rope_table_neox(const cuda_ctx *ctx, float *cos_t, float *sin_t, int rows, int Wp, int D, int nsec,
                          float div);
void cuda_fill(const cuda_ctx *ctx, float *out, int64_t n, float value);
/* out[B, dim] (storage) from the fp32 timesteps t[B]. */
void cuda_sinusoid(const cuda_ctx *ctx, ditc_st *out, const float *t, int B, int dim);

/* ---- dense ------------------------------------------------------------------------------- */
/* out[M, N] = act(src[M, K] @ w[N, K]^T + b[N]); b may be NULL. One cuBLASLt matmul with the
 * bias (and, in 16-bit storage, tanh-GELU) as its epilogue. */
void cuda_linear(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, const ditc_st *w, const ditc_st *b,
                 int64_t M, int K, int N, int act);
void cuda_silu(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, int64_t n);
void cuda_add(const cuda_ctx *ctx, ditc_st *out, const ditc_st *a, const ditc_st *b, int64_t n);
void cuda_rms_norm(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, const ditc_st *w, int64_t R, int C,
                   float eps);

/* ---- text -------------------------------------------------------------------------------- */
/* cond: the fp32 text input; uncond: a weight (cuda_cfg_text) or the fp32 negative-prompt input
 * (cuda_cfg_text_io). */
void cuda_cfg_text(const cuda_ctx *ctx, ditc_st *out, const float *cond, const ditc_st *uncond,
                   int uncond_per_prompt, int Bp, int L, int Cc, int cond_first, int half);
void cuda_cfg_text_io(const cuda_ctx *ctx, ditc_st *out, const float *cond, const float *uncond,
                      int uncond_per_prompt, int Bp, int L, int Cc, int cond_first, int half);
void cuda_text_mask(const cuda_ctx *ctx, int32_t *lens, int32_t *idx, const int32_t *mask, int Bp, int L,
                    int B);
void cuda_text_pack(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, const int32_t *idx,
                    const int32_t *lens, int B, int L, int C);

/* ---- video tokens ------------------------------------------------------------------------ */
/* src: the fp32 latent input. */
void cuda_patch_embed3d(const cuda_ctx *ctx, ditc_st *out, const float *src, const ditc_st *w, const ditc_st *b,
                        int B, int Cin, int Tx, int Hx, int Wx, int pt, int ph, int pw, int C, int t0, int Tn);
void cuda_add_pos(const cuda_ctx *ctx, ditc_st *x, const float *pe, int BT, int S, int C);
void cuda_add_frame_pos(const cuda_ctx *ctx, ditc_st *x, const float *tp, int B, int T, int S, int C, int t0,
                        int Tg);
/* out: the fp32 model output. */
void cuda_unpatchify(const cuda_ctx *ctx, float *out, const ditc_st *src, int B, int Cout, int T, int Hp,
                     int Wp, int pt, int ph, int pw, int Tx, int Hx, int Wx);

/* ---- block --------------------------------------------------------------------------------- */
void cuda_ln_modulate(const cuda_ctx *ctx, ditc_st *out, const ditc_st *x, const ditc_st *t, int64_t t_stride,
                      int64_t t_shift, int64_t t_scale, const ditc_st *table, int shift, int scale, int B,
                      int64_t R, int C, float eps);
void cuda_qk_rmsnorm(const cuda_ctx *ctx, ditc_st *q, ditc_st *k, int64_t ld, const ditc_st *wq,
                     const ditc_st *wk, int64_t R, int H, int D, float eps);
void cuda_rope(const cuda_ctx *ctx, ditc_st *q, ditc_st *k, int64_t ld, const float *cos_t, const float *sin_t,
               int B, int T, int S, int H, int D, int axis, int half);
/* qk_rmsnorm then rope in one pass over q and k (the temporal attention of STDiT3). */
void cuda_qk_rmsnorm_rope(const cuda_ctx *ctx, ditc_st *q, ditc_st *k, int64_t ld, const ditc_st *wq,
                          const ditc_st *wk, float eps, const float *cos_t, const float *sin_t, int B, int T,
                          int S, int H, int D, int axis, int half);
/* D <= 128; len (and N) up to 2,097,120 query rows. 16-bit storage: a tensor-core flash-style
 * kernel (cuda/attention.cu); fp32: a tiled fp32 kernel. */
void cuda_attention(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k, const ditc_st *v,
                    int64_t ld, int nseq, int inner, int64_t outer_stride, int64_t inner_stride,
                    int64_t tok_stride, int len, int H, int D, float scale);
/* As cpu_cross_attention: q and out rows are C = H*D elements apart, k and v rows ld. */
void cuda_cross_attention(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k,
                          const ditc_st *v, int64_t ld, const int32_t *lens, int B, int N, int L, int H, int D,
                          float scale);
/* The same two, computed the plain way (one thread per query row, fp32 math on storage
 * elements): the reference the op test holds the fast kernels to. */
void cuda_attention_naive(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k,
                          const ditc_st *v, int64_t ld, int nseq, int inner, int64_t outer_stride,
                          int64_t inner_stride, int64_t tok_stride, int len, int H, int D, float scale);
void cuda_cross_attention_naive(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k,
                                const ditc_st *v, int64_t ld, const int32_t *lens, int B, int N, int L, int H,
                                int D, float scale);
/* The same two through cuDNN's fused attention (cuda/attention_cudnn.cu; generated code calls them
 * for --attention cudnn): same arguments, results up to rounding. fp32 storage, a layout cuDNN
 * cannot express, a shape with no cuDNN engine, or a call inside a stream capture before its plan
 * is built run cuda_attention / cuda_cross_attention instead. Plans are cached in ctx->dnn, one
 * per distinct shape, and built outside captures. */
void cuda_attention_cudnn(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k, const ditc_st *v,
                          int64_t ld, int nseq, int inner, int64_t outer_stride, int64_t inner_stride,
                          int64_t tok_stride, int len, int H, int D, float scale);
void cuda_cross_attention_cudnn(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k,
                                const ditc_st *v, int64_t ld, const int32_t *lens, int B, int N, int L, int H, int D,
                                float scale);
/* ctx->dnn: an empty plan cache (no cuDNN call until the first plan): 0, or -1 (out of memory). */
int cuda_dnn_init(cuda_ctx *c);
/* Builds the plans that calls inside a stream capture asked for (they ran the own kernel), each
 * warmed up once on its first call's buffers; returns how many were built: recapture if > 0. */
int cuda_dnn_build_pending(const cuda_ctx *c);
/* cuDNN SDPA executions so far on ctx (a test tells the cuDNN path from the fallback). */
int64_t cuda_dnn_executions(const cuda_ctx *c);
/* Destroys the plans, their buffers and the handle (after the stream's work); safe on NULL. */
void cuda_dnn_free(cuda_ctx *c);
void cuda_gate_residual(const cuda_ctx *ctx, ditc_st *x, const ditc_st *src, const ditc_st *t,
                        const ditc_st *table, int chunk, int nchunk, int B, int64_t R, int C, ditc_st *store);
void cuda_residual_store(const cuda_ctx *ctx, ditc_st *x, const ditc_st *src, int64_t n, ditc_st *store);
/* CUDA only (no cpu_ twin; the generator fuses these pairs for the CUDA backend): a residual
 * then the next sub-layer's ln_modulate of the updated x, in one pass over x [B, R, C].
 * gate_residual_ln_modulate: cuda_gate_residual(x, src, t, table, chunk, nchunk, store), then
 * cuda_ln_modulate(out, x, ln_t, t_stride, t_shift, t_scale, ln_table, shift, scale, eps).
 * residual_ln_modulate: cuda_residual_store(x, src, B*R*C, store) (the cross-attention
 * residual, or a PAB reuse: src = the cache, store = NULL), then the same ln_modulate. */
void cuda_gate_residual_ln_modulate(const cuda_ctx *ctx, ditc_st *x, const ditc_st *src, const ditc_st *t,
                                    const ditc_st *table, int chunk, int nchunk, ditc_st *store, ditc_st *out,
                                    const ditc_st *ln_t, int64_t t_stride, int64_t t_shift, int64_t t_scale,
                                    const ditc_st *ln_table, int shift, int scale, int B, int64_t R, int C,
                                    float eps);
void cuda_residual_ln_modulate(const cuda_ctx *ctx, ditc_st *x, const ditc_st *src, ditc_st *store, ditc_st *out,
                               const ditc_st *t, int64_t t_stride, int64_t t_shift, int64_t t_scale,
                               const ditc_st *table, int shift, int scale, int B, int64_t R, int C, float eps);

/* ---- sequence parallelism ------------------------------------------------------------------- */
void cuda_dsp_pack(const cuda_ctx *ctx, ditc_st *send, const ditc_st *src, int B, int d1, int d2, int C, int dim,
                   int chunk, int n, int ranks);
void cuda_dsp_unpack(const cuda_ctx *ctx, ditc_st *dst, const ditc_st *recv, int B, int d1, int d2, int C,
                     int dim, int chunk, int ranks);

/* ---- sampler (fp32 io buffers; used by cuda/backend.c, not by generated code) ----------------- */
/* x [B, per] = z [Bp, per] repeated over the CFG batch, t [B] = t_step. */
void cuda_sampler_prepare(const cuda_ctx *ctx, float *x, float *t, const float *z, int B, int Bp, int64_t per,
                          float t_step);
/* One guided update of z [Bp, per] from the model output out [B, out_per] (runtime/denoiser/sampler.c's
 * update, on the device). state: the guided output [Bp, per] (DDIM, PNDM); PNDM also its ring
 * (ets[0] the slot this call writes, ets[1..4] the newest four after it), cur and acc. */
typedef struct {
  int kind, Bp, cond_first, mode; /* kind: DITC_SAMPLER_* (ditc_abi.h) */
  int64_t per, out_per;
  float cfg, coef[4];
  float *z, *state, *cur, *acc, *ets[5];
  const float *out;
} cuda_sampler_step;
void cuda_sampler_update(const cuda_ctx *ctx, const cuda_sampler_step *step);

/* ---- text encoder (T5; cuda/encoder.cu) ------------------------------------------------------ */
void cuda_embedding(const cuda_ctx *ctx, ditc_st *out, const int32_t *ids, const ditc_st *table, int64_t R, int C);
void cuda_rel_bias(const cuda_ctx *ctx, float *out, const ditc_st *table, int L, int H, int nb, int max_dist);
void cuda_attention_bias(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k, const ditc_st *v,
                         int64_t ld, const float *bias, const int32_t *mask, int B, int L, int H, int D);
void cuda_mul(const cuda_ctx *ctx, ditc_st *out, const ditc_st *a, const ditc_st *b, int64_t n);
void cuda_to_f32(const cuda_ctx *ctx, float *out, const ditc_st *src, int64_t n);
/* The fp16 pipelines' fp32 tensors inside a 16-bit build (gen/families/t5.lua: transformers keeps
 * T5's `wo` in fp32, and the residual stream is fp32 from block 0's FFN on; spec A.7-A.8):
 * linear_f32: out[M, N] = src[M, K] w[N, K]^T, all fp32, one cuBLASLt matmul without TF32 (cuda/linear.cu);
 * rms_norm_from_f32: cuda_rms_norm of an fp32 src, storage out (cuda/block.cu);
 * add_f32: out = a + b, all fp32; add_f32_st: out = a + (float)b, b in storage, exact as PyTorch's
 * fp32 + fp16 (one fp32 addition);
 * clamp_fp16: cpu_clamp_fp16 on storage x: a reduction writes *any_inf (on the device: no host
 * sync, the same result at any launch shape), then x = clamp(x, -c, c) rounded to storage (fp16:
 * the bound 64504 stores as 64512). */
void cuda_linear_f32(const cuda_ctx *ctx, float *out, const float *src, const float *w, int64_t M, int K, int N);
void cuda_rms_norm_from_f32(const cuda_ctx *ctx, ditc_st *out, const float *src, const ditc_st *w, int64_t R, int C,
                            float eps);
void cuda_add_f32(const cuda_ctx *ctx, float *out, const float *a, const float *b, int64_t n);
void cuda_add_f32_st(const cuda_ctx *ctx, float *out, const float *a, const ditc_st *b, int64_t n);
void cuda_clamp_fp16(const cuda_ctx *ctx, ditc_st *x, int32_t *any_inf, int64_t n);

/* ---- video decoders (the VAEs; cuda/vae.cu): cpu/ops.h's contract, in storage elements with
 * fp32 math (GroupNorm statistics and conv accumulation in fp32) ------------------------------ */
void cuda_conv3d(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, const ditc_st *w, const ditc_st *b, int64_t N,
                 int64_t Cin, int64_t Cout, int64_t T, int64_t H, int64_t W, int64_t kt, int64_t kh, int64_t kw,
                 int64_t pt0, int64_t pt1, int64_t ph, int64_t pw, int64_t replicate);
void cuda_group_norm(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, const ditc_st *gamma, const ditc_st *beta,
                     int64_t N, int64_t C, int64_t T, int64_t HW, int64_t G, float eps, int64_t per_frame, int64_t silu);
void cuda_upsample2x(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, int64_t R, int64_t H, int64_t W);
void cuda_depth_to_time(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, int64_t N, int64_t C, int64_t T,
                        int64_t HW);
void cuda_time_lerp2x(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, int64_t R, int64_t T, int64_t HW);
void cuda_mix(const cuda_ctx *ctx, ditc_st *out, const ditc_st *a, const ditc_st *b, const ditc_st *m, int64_t n,
              int64_t flip);
void cuda_frame_attention(const cuda_ctx *ctx, ditc_st *out, const ditc_st *q, const ditc_st *k, const ditc_st *v,
                          int64_t N, int64_t C, int64_t T, int64_t HW, float scale);
void cuda_channel_affine(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, const ditc_st *a, const ditc_st *b,
                         int64_t N, int64_t C, int64_t S);
void cuda_scale(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, int64_t n, float k, int64_t divide);
void cuda_copy4(const cuda_ctx *ctx, ditc_st *out, const ditc_st *src, int64_t n0, int64_t n1, int64_t n2, int64_t n3,
                int64_t os, int64_t s0, int64_t s1, int64_t s2, int64_t s3, int64_t od, int64_t d0, int64_t d1,
                int64_t d2, int64_t d3);
void cuda_tile_blend(const cuda_ctx *ctx, ditc_st *b, const ditc_st *a, int64_t R, int64_t Ha, int64_t Wa, int64_t Hb,
                     int64_t Wb, int64_t E, int64_t axis);
void cuda_to_u8(const cuda_ctx *ctx, uint8_t *out, const ditc_st *src, int64_t N, int64_t C, int64_t T, int64_t HW,
                int64_t mode);
/* the latent input (fp32 io) into storage: out = (storage) src */
void cuda_from_f32(const cuda_ctx *ctx, ditc_st *out, const float *src, int64_t n);
/* cuda_conv3d through cuDNN's convolution (cuda/vae_cudnn.cu): same arguments after dnn, results
 * up to summation order. Generated code calls cuda_conv3d (the own implicit GEMM, cuda/vae.cu);
 * this is the alternative the op test compares with it and a device measurement may choose.
 * Replicate padding runs its edge frames, and a shape no engine takes all of it, in the own
 * kernel. dnn (NULL: the own kernel) holds the cuDNN handle, on ctx's stream, and one plan per
 * distinct shape, built at the shape's first call outside a stream capture; plans use
 * ctx->workspace, never their own. */
typedef struct cuda_conv_dnn cuda_conv_dnn;
cuda_conv_dnn *cuda_conv_dnn_init(const cuda_ctx *ctx); /* NULL: out of host memory, or no cuDNN handle */
void cuda_conv_dnn_free(cuda_conv_dnn *dnn);            /* after ctx's stream's work; safe on NULL */
int64_t cuda_conv_dnn_executions(const cuda_conv_dnn *dnn); /* cuDNN convolutions run so far */
void cuda_conv3d_cudnn(const cuda_ctx *ctx, cuda_conv_dnn *dnn, ditc_st *out, const ditc_st *src, const ditc_st *w,
                       const ditc_st *b, int64_t N, int64_t Cin, int64_t Cout, int64_t T, int64_t H, int64_t W,
                       int64_t kt, int64_t kh, int64_t kw, int64_t pt0, int64_t pt1, int64_t ph, int64_t pw,
                       int64_t replicate);

#ifdef __cplusplus
}
#endif

/* A decoder's progress before its call i of n (ex->progress, if set), once the stream has done the
 * work before it (runtime/cuda/backend.c). */
void cuda_progress(const struct ditc_exec *ex, int64_t stage, int64_t i, int64_t n);

#endif
