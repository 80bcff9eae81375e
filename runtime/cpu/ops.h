/* cpu/ops.h: the fp32 CPU reference ops the generated CPU forward code calls, one per op kind
 * of the op program. No fast-math; products through cpu/gemm.h's one order, softmax through
 * cpu/softmax.h's, exp and GELU through cpu/vmath.h's; where a loop is split across threads
 * (OpenMP) each output element is still computed by one thread in a fixed order, so results do
 * not depend on the thread count. Shapes use the vocabulary of runtime/README.md.
 * Not here: sampling, loading, planning. */
#ifndef DITC_CPU_OPS_H
#define DITC_CPU_OPS_H

#include <stdint.h>

#include "cpu/gemm.h" /* DITC_ACT_* */

/* ---- embeddings ------------------------------------------------------------------------- */
/* out[S = Hp*Wp, C]: [sin(c*f), cos(c*f), sin(r*f), cos(r*f)], r = (float)i/scale*mul_h. */
void cpu_pos_embed_2d(float *out, int Hp, int Wp, int C, float scale, float mul_h, float mul_w);
/* cos, sin [T, D]: angle(p, 2k) = angle(p, 2k+1) = p * freqs[k]; bf16: round like upstream's
 * bf16 pipeline (freqs, angle, cos and sin each rounded to bf16). */
void cpu_rope_table(float *cos_t, float *sin_t, const float *freqs, int T, int D, int bf16);
/* diffusers/numpy 2-D table in float64, cast to fp32: out[S = Hp*Wp, C] as cpu_pos_embed_2d with
 * grid positions r = f32(f32(i / div_h) / interp), c = f32(f32(j / div_w) / interp). */
void cpu_pos_embed_2d_f64(float *out, int Hp, int Wp, int C, float div_h, float div_w, float interp);
/* 1-D table out[T, C] = [sin(p*w), cos(p*w)], w_k = 10000^(-k/(C/2)) in float64; p = t (div 0) or
 * f32(t / div). */
void cpu_pos_embed_1d_f64(float *out, int T, int C, float div);
/* Split-half (NeoX) rotary tables cos, sin [rows, D] with nsec sections of D/nsec dims: section s
 * of row r uses position int(coord_s(r) / div), coord = frame index (nsec 1, rows T) or (row,
 * column) of the patch grid (nsec 2, rows Hp*Wp); inv_freq_j = 1/10000^(2j/(D/nsec)) in fp32. */
void cpu_rope_table_neox(float *cos_t, float *sin_t, int rows, int Wp, int D, int nsec, float div);
void cpu_fill(float *out, int64_t n, float value);
/* out[B, dim] = [cos(t*f), sin(t*f)], f_k = exp(-ln(10000) * k / (dim/2)). */
void cpu_sinusoid(float *out, const float *t, int B, int dim);

/* ---- dense ------------------------------------------------------------------------------- */
/* out[M, N] = act(src[M, K] @ w[N, K]^T + b[N]); b may be NULL. Each output as cpu_gemm sums it. */
void cpu_linear(float *out, const float *src, const float *w, const float *b, int64_t M, int K,
                int N, int act);
void cpu_silu(float *out, const float *src, int64_t n);
void cpu_add(float *out, const float *a, const float *b, int64_t n);
/* out[R, C] = w[C] * (src * rsqrt(mean_C(src^2) + eps)): RMSNorm over rows (T5's LayerNorm: no
 * mean subtracted, no bias); out may alias src. */
void cpu_rms_norm(float *out, const float *src, const float *w, int64_t R, int C, float eps);

/* ---- text -------------------------------------------------------------------------------- */
/* out[2Bp, L, Cc]: CFG batch from cond[Bp, L, Cc] and uncond: one null caption [L, Cc] shared by
 * all prompts (uncond_per_prompt 0) or negative captions [Bp, L, Cc] (1). half 0 or 1 keeps only
 * that half of the batch (CFG parallelism: out[Bp, L, Cc]); half -1 keeps both. */
void cpu_cfg_text(float *out, const float *cond, const float *uncond, int uncond_per_prompt, int Bp,
                  int L, int Cc, int cond_first, int half);
/* mask[Bp, L] -> per batch row b < B (which uses mask row b mod Bp): lens[B], idx[B, L] (positions
 * of the nonzero entries, in order). */
void cpu_text_mask(int32_t *lens, int32_t *idx, const int32_t *mask, int Bp, int L, int B);
/* out[B, L, C]: row j < lens[b] of sample b = src[b, idx[b, j]]; other rows zero. */
void cpu_text_pack(float *out, const float *src, const int32_t *idx, const int32_t *lens, int B,
                   int L, int C);

/* ---- video tokens ------------------------------------------------------------------------ */
/* out[B, Tn*Hp*Wp, C] = Conv3d(src[B, Cin, Tx, Hx, Wx] zero-padded at the end to the patch grid)
 * for the patch frames t0 .. t0+Tn-1; frames past the grid (sequence-parallel padding) are zero. */
void cpu_patch_embed3d(float *out, const float *src, const float *w, const float *b, int B, int Cin,
                       int Tx, int Hx, int Wx, int pt, int ph, int pw, int C, int t0, int Tn);
/* x[B*T, S, C] += pe[S, C] */
void cpu_add_pos(float *x, const float *pe, int BT, int S, int C);
/* x[B, T, S, C] += tp[t0 + t, C] (a per-frame embedding; T frames from t0, those at or past Tg
 * are sequence-parallel padding and left alone) */
void cpu_add_frame_pos(float *x, const float *tp, int B, int T, int S, int C, int t0, int Tg);
/* out[B, Cout, Tx, Hx, Wx] from src[B, T*Hp*Wp, pt*ph*pw*Cout] (feature = (pt,ph,pw,c), c inner),
 * cropped to the latent size. */
void cpu_unpatchify(float *out, const float *src, int B, int Cout, int T, int Hp, int Wp, int pt,
                    int ph, int pw, int Tx, int Hx, int Wx);

/* ---- block --------------------------------------------------------------------------------- */
/* out[B, R, C] = LN(x)*(1 + scale) + shift with shift = table[shift] + t[b, t_shift ...],
 * scale = table[scale] + t[b, t_scale ...]; t has t_stride floats per sample, table [*, C]. */
void cpu_ln_modulate(float *out, const float *x, const float *t, int64_t t_stride, int64_t t_shift,
                     int64_t t_scale, const float *table, int shift, int scale, int B, int64_t R, int C,
                     float eps);
/* In place on q[R, ld] and k[R, ld] (first C = H*D columns of each row): RMSNorm over each
 * head's D values, times wq / wk [D]. */
void cpu_qk_rmsnorm(float *q, float *k, int64_t ld, const float *wq, const float *wk, int64_t R, int H,
                    int D, float eps);
/* In place on q and k (rows of ld floats, tokens [B, T, S]): rotary embedding. A token's table
 * row is its frame t (axis 0) or its spatial index s (axis 1); cos/sin [rows, D]. Pairs are
 * (2i, 2i+1) when half == 0 (interleaved, GPT-J), else (i, i + half) inside each section of
 * 2*half dims (split-half, NeoX; 2-D RoPE uses two sections). */
void cpu_rope(float *q, float *k, int64_t ld, const float *cos_t, const float *sin_t, int B, int T, int S,
              int H, int D, int axis, int half);
/* Self-attention over sequences of token rows: sequence (o, i) for o < nseq, i < inner has token j
 * at row o*outer_stride + i*inner_stride + j*tok_stride, j < len; q/k/v rows are ld floats apart
 * (head h at column h*D); out[rows, C] has the same rows. */
void cpu_attention(float *out, const float *q, const float *k, const float *v, int64_t ld, int nseq,
                   int inner, int64_t outer_stride, int64_t inner_stride, int64_t tok_stride, int len, int H,
                   int D, float scale);
/* out[B, N, C]: each token of sample b attends to keys/values k, v [B, L, ld] rows 0..lens[b]-1. */
void cpu_cross_attention(float *out, const float *q, const float *k, const float *v, int64_t ld,
                         const int32_t *lens, int B, int N, int L, int H, int D, float scale);
/* g = (table[chunk] + t[b, chunk*C ...]) * src; x += g; if store: store = g. */
void cpu_gate_residual(float *x, const float *src, const float *t, const float *table, int chunk,
                       int nchunk, int B, int64_t R, int C, float *store);
/* x += src; if store: store = src. */
void cpu_residual_store(float *x, const float *src, int64_t n, float *store);

/* ---- text encoder (T5; cpu/encoder.c) --------------------------------------------------------- */
/* out[R, C] = table[ids[r], :] (ids within [0, V): the io table's range, checked by the loader). */
void cpu_embedding(float *out, const int32_t *ids, const float *table, int64_t R, int C);
/* T5's relative position bias by offset: out[H, 2L-1], column o = (j - i) + L - 1 holding
 * table[t5_bucket(j - i), h] (table [nb, H]; cpu/t5_bucket.h). */
void cpu_rel_bias(float *out, const float *table, int L, int H, int nb, int max_dist);
/* For each of B samples, head h (of H, head dim D) and query i (of L): s_j = q_i . k_j + pos_j
 * with pos_j = bias[h, j - i + L - 1] + (mask[b, j] ? 0 : -FLT_MAX), no scaling (T5); out =
 * softmax(s) v. q, k, v rows [B * L] with stride ld; out [B, L, H * D]. A fully masked row
 * averages every value (all scores are -FLT_MAX). */
void cpu_attention_bias(float *out, const float *q, const float *k, const float *v, int64_t ld, const float *bias,
                        const int32_t *mask, int B, int L, int H, int D);
/* out[n] = a[n] * b[n] (out may alias a or b). */
void cpu_mul(float *out, const float *a, const float *b, int64_t n);
/* out[n] = src[n]: storage into an fp32 io buffer (a copy on the CPU, whose storage is fp32). */
void cpu_to_f32(float *out, const float *src, int64_t n);
/* T5Block's clamp of a residual stream held in fp16 (spec A.8), on x[n]: c = 65504 - 1000 when
 * some element is +-inf, else 65504 (fp16's largest finite value); x = clamp(x, -c, c), NaN kept.
 * *any_inf is set to whether an infinity was found. (In fp16 storage the bound 64504 rounds to
 * 64512; fp32 keeps 64504. The generated fp16 T5 is the only caller; the CPU builds never clamp.)
 * The fp16 pipelines' other fp32 ops are the plain ones here (gen/core/registry.lua: linear_f32,
 * rms_norm_from_f32, add_f32, add_f32_st call cpu_linear, cpu_rms_norm and cpu_add). */
void cpu_clamp_fp16(float *x, int32_t *any_inf, int64_t n);

/* ---- video decoders (the VAEs; cpu/vae.c) ------------------------------------------------------
 * Every activation is [N, C, T, H, W] row-major (PyTorch's B C T H W), HW = H * W; an image
 * decoder runs its frames as N = frames, T = 1. */
/* out[N, Cout, To, Ho, Wo] = b[co] + sum over ci, dt, dy, dx of w[co, ci, dt, dy, dx] *
 * xp[n, ci, t + dt, y + dy, x + dx], where xp is src [N, Cin, T, H, W] padded with pt0 frames in
 * front and pt1 behind (zeros, or with replicate != 0 copies of the first frame in front and of
 * the last behind) and ph rows / pw columns of zeros on each side; To = T + pt0 + pt1 - kt + 1,
 * Ho = H + 2 ph - kh + 1, Wo = W + 2 pw - kw + 1; stride 1; w [Cout, Cin, kt, kh, kw]; b may be
 * NULL. out must not alias src. */
void cpu_conv3d(float *out, const float *src, const float *w, const float *b, int64_t N, int64_t Cin, int64_t Cout,
                int64_t T, int64_t H, int64_t W, int64_t kt, int64_t kh, int64_t kw, int64_t pt0, int64_t pt1,
                int64_t ph, int64_t pw, int64_t replicate);
/* GroupNorm of src [N, C, T, HW] in G groups of C/G channels: mean and biased variance per
 * (n, group) over (C/G) x T x HW (per_frame 0: every frame pools, as on a 5-D tensor) or per
 * (n, group, t) over (C/G) x HW (per_frame 1: each frame an image); out = (x - mean) /
 * sqrt(var + eps) * gamma[c] + beta[c], then x * sigmoid(x) when silu. out may alias src. */
void cpu_group_norm(float *out, const float *src, const float *gamma, const float *beta, int64_t N, int64_t C,
                    int64_t T, int64_t HW, int64_t G, float eps, int64_t per_frame, int64_t silu);
/* Nearest 2x in H and W: out[R, 2H, 2W] from src[R, H, W] (R = N * C * T). */
void cpu_upsample2x(float *out, const float *src, int64_t R, int64_t H, int64_t W);
/* Depth to time: src [N, 2C, T, HW] -> out [N, C, 2T, HW], source channel 2c + s, frame t to
 * channel c, frame 2t + s. */
void cpu_depth_to_time(float *out, const float *src, int64_t N, int64_t C, int64_t T, int64_t HW);
/* Open-Sora-Plan's time upsampling: src [R, T, HW] -> out [R, 2T - 1, HW]: frame 0 kept, frames
 * 1..T-1 linearly interpolated 2x along T (align_corners false, edges clamped). T = 1: a copy. */
void cpu_time_lerp2x(float *out, const float *src, int64_t R, int64_t T, int64_t HW);
/* out = alpha * a + (1 - alpha) * b with alpha = sigmoid(m[0]) (flip 0) or 1 - sigmoid(m[0])
 * (flip 1); m a learned scalar in the weights. out may alias a or b. */
void cpu_mix(float *out, const float *a, const float *b, const float *m, int64_t n, int64_t flip);
/* One-head attention within each image: q, k, v, out [N, C, T, HW]; for each (n, t) and token p
 * of HW: out[:, p] = sum over j of softmax_j(scale * q[:, p] . k[:, j]) v[:, j]. */
void cpu_frame_attention(float *out, const float *q, const float *k, const float *v, int64_t N, int64_t C, int64_t T,
                         int64_t HW, float scale);
/* out[n, c, s] = src[n, c, s] * a[c] + b[c] for src [N, C, S]. out may alias src. */
void cpu_channel_affine(float *out, const float *src, const float *a, const float *b, int64_t N, int64_t C, int64_t S);
/* out = src / k (divide != 0) or src * k (divide == 0), elementwise over n. out may alias src. */
void cpu_scale(float *out, const float *src, int64_t n, float k, int64_t divide);
/* A strided 4-D copy: out[od + i0 d0 + i1 d1 + i2 d2 + i3 d3] = src[os + i0 s0 + i1 s1 + i2 s2 +
 * i3 s3] for i < (n0, n1, n2, n3) (element offsets and strides): chunk and tile crops, frame
 * transposes. out must not overlap src. */
void cpu_copy4(float *out, const float *src, int64_t n0, int64_t n1, int64_t n2, int64_t n3, int64_t os, int64_t s0,
               int64_t s1, int64_t s2, int64_t s3, int64_t od, int64_t d0, int64_t d1, int64_t d2, int64_t d3);
/* Open-Sora-Plan's tile blending, in place on tile b [R, Hb, Wb] from its neighbour a [R, Ha, Wa]
 * (R = N * C * T): axis 0 (above): e = min(Ha, Hb, E) rows, b[r, y, x] = a[r, Ha - e + y, x] *
 * (1 - y/e) + b[r, y, x] * (y/e) for y < e (x < min(Wa, Wb)); axis 1 (left): the same over
 * columns. The weights are computed in double and applied as floats. */
void cpu_tile_blend(float *b, const float *a, int64_t R, int64_t Ha, int64_t Wa, int64_t Hb, int64_t Wb, int64_t E,
                    int64_t axis);
/* Frames for a video: src [N, C, T, HW] -> out [N, T, HW, C] uint8. mode 0 (Open-Sora):
 * v = (clamp(x, -1, 1) + 1) / 2, u = trunc(clamp(v * 255 + 0.5, 0, 255)); mode 1 (Latte,
 * Open-Sora-Plan): u = trunc(clamp(x / 2 + 0.5, 0, 1) * 255). */
void cpu_to_u8(uint8_t *out, const float *src, int64_t N, int64_t C, int64_t T, int64_t HW, int64_t mode);
/* The latent input (an fp32 io buffer) into storage: a copy on the CPU, whose storage is fp32. */
void cpu_from_f32(float *out, const float *src, int64_t n);

/* ---- sequence parallelism ------------------------------------------------------------------- */
/* send[sp][B, ...] chunks of src[B, d1, d2, C] along dim (1 or 2): chunk r holds indices
 * r*chunk .. r*chunk+chunk-1 of that dim, zeros past its length n. */
void cpu_dsp_pack(float *send, const float *src, int B, int d1, int d2, int C, int dim, int chunk, int n, int ranks);
/* dst[B, d1, d2, C] from recv[sp][B, ...] chunks along dim (1 or 2): chunk r fills indices
 * r*chunk .. of that dim, dropping those past its length (the padding). */
void cpu_dsp_unpack(float *dst, const float *recv, int B, int d1, int d2, int C, int dim, int chunk, int ranks);

/* A decoder's progress before its call i of n of stage DITC_PROGRESS_* (ex->progress, if set). */
struct ditc_exec;
void cpu_progress(const struct ditc_exec *ex, int64_t stage, int64_t i, int64_t n);

#endif
