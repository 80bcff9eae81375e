/* tests/vae_bench.c: the rate of the video decoders' heaviest CPU op, for `ninja bench`:
 * cpu_conv3d 3x3x3 with causal zero padding, 64 -> 64 channels, 8 frames of 32x32 (Open-Sora's
 * temporal decoder shape, shrunk), at 1 and 2 OpenMP threads. One warm-up call per thread count,
 * then ROUNDS (default 7) rounds of one timed call per thread count, the counts in rotating order;
 * prints per count the median GFLOP/s (2 FLOPs per multiply-add, padding taps included) with the
 * min..max spread, and the 2-thread speedup next to its ideal 2.00x. Usage: vae_bench [ROUNDS].
 * Not a test: nothing here fails on a number. */
#include <omp.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "cpu/ops.h"
#include "timing.h"

enum { N = 1, CI = 64, CO = 64, T = 8, H = 32, W = 32, K = 3, MAXR = 99 };

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 7;
  if (rounds < 1 || rounds > MAXR) rounds = 7;
  const size_t nin = (size_t)N * CI * T * H * W, nout = (size_t)N * CO * T * H * W, nw = (size_t)CO * CI * K * K * K;
  float *src = malloc(nin * sizeof *src), *out = malloc(nout * sizeof *out), *w = malloc(nw * sizeof *w);
  float *b = malloc(CO * sizeof *b);
  if (!src || !out || !w || !b) return 1;
  for (size_t i = 0; i < nin; i++) src[i] = (float)((i * 2654435761u) % 2001) / 1000.0f - 1.0f;
  for (size_t i = 0; i < nw; i++) w[i] = (float)((i * 40503u) % 2001) / 20000.0f - 0.05f;
  for (int i = 0; i < CO; i++) b[i] = 0.01f * (float)i;
  const double flop = 2.0 * nout * CI * K * K * K;
  const int threads[2] = {1, 2};
  double t[2][MAXR];
  for (int v = 0; v < 2; v++) { /* warm-up */
    omp_set_num_threads(threads[v]);
    cpu_conv3d(out, src, w, b, N, CI, CO, T, H, W, K, K, K, K - 1, 0, 1, 1, 0);
  }
  for (int r = 0; r < rounds; r++)
    for (int i = 0; i < 2; i++) {
      const int v = (r + i) % 2;
      omp_set_num_threads(threads[v]);
      const double t0 = now();
      cpu_conv3d(out, src, w, b, N, CI, CO, T, H, W, K, K, K, K - 1, 0, 1, 1, 0);
      t[v][r] = now() - t0;
    }
  double med[2];
  printf("  conv3d 3x3x3 %d -> %d channels, %dx%dx%d, causal zero padding: %.2f GFLOP per call, %d rounds\n", CI, CO,
         T, H, W, flop * 1e-9, rounds);
  for (int v = 0; v < 2; v++) {
    qsort(t[v], (size_t)rounds, sizeof(double), cmp_double);
    med[v] = t[v][rounds / 2];
    printf("  %d thread%s: %.2f GFLOP/s (%.1f ms; spread %.2f..%.2f GFLOP/s)\n", threads[v], threads[v] > 1 ? "s" : "",
           flop / med[v] * 1e-9, med[v] * 1e3, flop / t[v][rounds - 1] * 1e-9, flop / t[v][0] * 1e-9);
  }
  printf("  2 threads vs 1: %.2fx (ideal 2.00x; %d cores here)\n", med[0] / med[1], omp_get_num_procs());
  free(src), free(out), free(w), free(b);
  return 0;
}
