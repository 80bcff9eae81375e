/* dot.h: the dot product of the video decoders' frame attention on the CPU (cpu/vae.c: a query's
 * weighted sum of values over a block of keys): 16 partial sums over the blocks of 16, the tail
 * summed in order from 0, then the 16 partial sums added to it in order. Not here: the DiT's and
 * the text encoder's products (cpu/gemm.h, one fused multiply-add chain an output). */
#ifndef DITC_CPU_DOT_H
#define DITC_CPU_DOT_H

/* The partial sums are independent, so the loop vectorizes without reassociation. */
static inline float cpu_dot(const float *a, const float *b, int n) {
  float acc[16] = {0};
  int k = 0;
  for (; k + 16 <= n; k += 16)
    for (int j = 0; j < 16; j++) acc[j] += a[k + j] * b[k + j];
  float s = 0.0f;
  for (; k < n; k++) s += a[k] * b[k];
  for (int j = 0; j < 16; j++) s += acc[j];
  return s;
}

#endif
