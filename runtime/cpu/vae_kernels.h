/* vae_kernels.h: the AVX-512 forms of the video decoders' CPU ops (cpu/vae.c), bit-identical to
 * the portable loops, chosen at run time. Not here: the ops' contracts (cpu/ops.h). */
#ifndef DITC_CPU_VAE_KERNELS_H
#define DITC_CPU_VAE_KERNELS_H

#include <stdint.h>

/* Rows [y0, y1) of output frame `to` of nch (8 or 4) consecutive output planes of cpu_conv3d (out:
 * the first plane's [Ho, Wo] frame; plane: floats from one channel's frame to the next's), from one
 * sample's input src [Cin, T, H, W] and the channels' weights w (the first's [Cin, kt, kh, kw], the
 * next Cin * kt * kh * kw further) and bias b (nch, or NULL): the same bits as cpu_conv3d. Call it
 * only where cpu_conv3d_block_runs(kw): this CPU has AVX-512F, and kw <= 8. */
int cpu_conv3d_block_runs(int64_t kw);
void cpu_conv3d_block(int64_t nch, float *out, int64_t plane, const float *src, const float *w, const float *b,
                      int64_t Cin, int64_t T, int64_t H, int64_t W, int64_t kt, int64_t kh, int64_t kw, int64_t pt0,
                      int64_t ph, int64_t pw, int64_t replicate, int64_t to, int64_t y0, int64_t y1, int64_t Wo);

#endif
