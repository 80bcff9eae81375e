/* cuda/ops.h: the fp32 CUDA ops the generated CUDA forward code calls, one per op kind of the op
 * program. Each cuda_<op> has the arguments of cpu_<op> in cpu/ops.h (same meaning, shapes and
 * layouts; see the comments there and runtime/README.md for the dimension letters) with the
 * context first; every pointer is a device pointer. A call enqueues work on ctx->stream and
 * returns without synchronizing; launch and cuBLAS errors abort with file:line. fp32 storage and
 * fp32 math (cuBLAS in pedantic mode: no TF32), so results match the CPU reference up to
 * rounding (summation order; CUDA's tanhf and expf in GELU and softmax). Plain C: includes no
 * CUDA header (cpu/ops.h, found through -Iruntime, for DITC_ACT_*). Not here: allocation,
 * copies to or from the host, collectives. */
#ifndef DITC_CUDA_OPS_H
#define DITC_CUDA_OPS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* DITC_ACT_* (an enum, so it cannot be guarded by #ifndef): defined once, in cpu/ops.h, which
 * has an include guard; including it keeps both headers usable together in either order. */
#include "cpu/ops.h"

/* The stream and cuBLAS handle every op runs on (cudaStream_t, cublasHandle_t). */
typedef struct {
  void *stream;
  void *blas;
} cuda_ctx;

/* Creates the stream and cuBLAS handle on the current device: 0, or -1 (nothing left to free). */
int cuda_ctx_init(cuda_ctx *c);
/* Destroys both (after the stream's work finishes); safe on a zeroed or freed context. */
void cuda_ctx_free(cuda_ctx *c);

/* ---- embeddings ------------------------------------------------------------------------- */
void cuda_pos_embed_2d(const cuda_ctx *ctx, float *out, int Hp, int Wp, int C, float scale, float mul_h,
                       float mul_w);
void cuda_rope_table(const cuda_ctx *ctx, float *cos_t, float *sin_t, const float *freqs, int T, int D,
                     int bf16);
void cuda_pos_embed_2d_f64(const cuda_ctx *ctx, float *out, int Hp, int Wp, int C, float div_h, float div_w,
                           float interp);
void cuda_pos_embed_1d_f64(const cuda_ctx *ctx, float *out, int T, int C, float div);
void cuda_rope_table_neox(const cuda_ctx *ctx, float *cos_t, float *sin_t, int rows, int Wp, int D, int nsec,
                          float div);
void cuda_fill(const cuda_ctx *ctx, float *out, int64_t n, float value);
void cuda_sinusoid(const cuda_ctx *ctx, float *out, const float *t, int B, int dim);

/* ---- dense ------------------------------------------------------------------------------- */
/* out[M, N] = act(src[M, K] @ w[N, K]^T + b[N]); b may be NULL. */
void cuda_linear(const cuda_ctx *ctx, float *out, const float *src, const float *w, const float *b, int64_t M,
                 int K, int N, int act);
void cuda_silu(const cuda_ctx *ctx, float *out, const float *src, int64_t n);
void cuda_add(const cuda_ctx *ctx, float *out, const float *a, const float *b, int64_t n);

/* ---- text -------------------------------------------------------------------------------- */
void cuda_cfg_text(const cuda_ctx *ctx, float *out, const float *cond, const float *uncond,
                   int uncond_per_prompt, int Bp, int L, int Cc, int cond_first, int half);
void cuda_text_mask(const cuda_ctx *ctx, int32_t *lens, int32_t *idx, const int32_t *mask, int Bp, int L,
                    int B);
void cuda_text_pack(const cuda_ctx *ctx, float *out, const float *src, const int32_t *idx, const int32_t *lens,
                    int B, int L, int C);

/* ---- video tokens ------------------------------------------------------------------------ */
void cuda_patch_embed3d(const cuda_ctx *ctx, float *out, const float *src, const float *w, const float *b,
                        int B, int Cin, int Tx, int Hx, int Wx, int pt, int ph, int pw, int C, int t0, int Tn);
void cuda_add_pos(const cuda_ctx *ctx, float *x, const float *pe, int BT, int S, int C);
void cuda_add_frame_pos(const cuda_ctx *ctx, float *x, const float *tp, int B, int T, int S, int C, int t0,
                        int Tg);
void cuda_unpatchify(const cuda_ctx *ctx, float *out, const float *src, int B, int Cout, int T, int Hp, int Wp,
                     int pt, int ph, int pw, int Tx, int Hx, int Wx);

/* ---- block --------------------------------------------------------------------------------- */
void cuda_ln_modulate(const cuda_ctx *ctx, float *out, const float *x, const float *t, int64_t t_stride,
                      int64_t t_shift, int64_t t_scale, const float *table, int shift, int scale, int B,
                      int64_t R, int C, float eps);
void cuda_qk_rmsnorm(const cuda_ctx *ctx, float *q, float *k, int64_t ld, const float *wq, const float *wk,
                     int64_t R, int H, int D, float eps);
void cuda_rope(const cuda_ctx *ctx, float *q, float *k, int64_t ld, const float *cos_t, const float *sin_t, int B,
               int T, int S, int H, int D, int axis, int half);
/* D <= 128; len (and N) up to 2,097,120 query rows. */
void cuda_attention(const cuda_ctx *ctx, float *out, const float *q, const float *k, const float *v, int64_t ld,
                    int nseq, int inner, int64_t outer_stride, int64_t inner_stride, int64_t tok_stride, int len,
                    int H, int D, float scale);
/* As cpu_cross_attention: q and out rows are C = H*D floats apart, k and v rows ld. */
void cuda_cross_attention(const cuda_ctx *ctx, float *out, const float *q, const float *k, const float *v,
                          int64_t ld, const int32_t *lens, int B, int N, int L, int H, int D, float scale);
void cuda_gate_residual(const cuda_ctx *ctx, float *x, const float *src, const float *t, const float *table,
                        int chunk, int nchunk, int B, int64_t R, int C, float *store);
void cuda_residual_store(const cuda_ctx *ctx, float *x, const float *src, int64_t n, float *store);

/* ---- sequence parallelism ------------------------------------------------------------------- */
void cuda_dsp_pack(const cuda_ctx *ctx, float *send, const float *src, int B, int d1, int d2, int C, int dim,
                   int chunk, int n, int P);
void cuda_dsp_unpack(const cuda_ctx *ctx, float *dst, const float *recv, int B, int d1, int d2, int C, int dim,
                     int chunk, int P);

#ifdef __cplusplus
}
#endif

#endif
