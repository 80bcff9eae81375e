/* tests/gemm_bench.c: the single-core sgemm rate of this machine, the yardstick of `ninja bench`'s
 * GFLOP/s: ditc's cpu_gemm (runtime/cpu/gemm.h) beside the BLAS libraries Debian ships, where they
 * are installed (OpenBLAS: libopenblas0; BLIS: libblis4; opened at run time with dlopen, so the
 * build needs neither), each on one thread, on a square product and on the linear layers of the
 * CPU bench variants (rows x out x in, the weight transposed as a linear layer's). Per shape one
 * warm-up call each, then ROUNDS (default 5) rounds of every library in rotating order, each
 * round's call repeated to at least 0.2 s; prints the median GFLOP/s and its min..max spread, and
 * the best library per shape. Usage: gemm_bench [ROUNDS [own]] (own: ditc's kernel alone). Not a
 * test: nothing here fails on a number. */
#include <dlfcn.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cpu/gemm.h"
#include "cpu/isa.h"
#include "timing.h"

enum { MAXR = 25, NLIB = 3 };

typedef void (*sgemm_fn)(int order, int ta, int tb, int m, int n, int k, float alpha, const float *a, int lda,
                         const float *b, int ldb, float beta, float *c, int ldc);
enum { ROW_MAJOR = 101, NO_TRANS = 111, TRANS = 112 }; /* CBLAS's values */

static struct {
  const char *name, *soname, *threads_fn;
  sgemm_fn sgemm;
} libs[NLIB] = {{"ditc cpu_gemm", NULL, NULL, NULL},
                {"OpenBLAS", "libopenblas.so.0", "openblas_set_num_threads", NULL},
                {"BLIS", "libblis.so.4", "bli_thread_set_num_threads", NULL}};

static void call(int lib, float *c, const float *a, const float *w, int M, int N, int K) {
  if (lib == 0) cpu_gemm(c, N, a, K, w, K, 1, M, N, K, 1.0f, NULL, DITC_ACT_NONE);
  else libs[lib].sgemm(ROW_MAJOR, NO_TRANS, TRANS, M, N, K, 1.0f, a, K, w, K, 0.0f, c, N);
}

int main(int argc, char **argv) {
  int rounds = argc > 1 ? atoi(argv[1]) : 5;
  if (rounds < 1 || rounds > MAXR) rounds = 5;
  const int own = argc > 2 && strcmp(argv[2], "own") == 0;
  for (int l = 1; l < NLIB && !own; l++) { /* each on one thread */
    void *h = dlopen(libs[l].soname, RTLD_NOW | RTLD_LOCAL);
    if (!h) continue;
    libs[l].sgemm = (sgemm_fn)dlsym(h, "cblas_sgemm");
    void (*set_threads)(int) = (void (*)(int))dlsym(h, libs[l].threads_fn);
    if (set_threads) set_threads(1);
    else libs[l].sgemm = NULL; /* unknown threading: not a single-core rate */
  }
  printf("  kernels: %s; one thread each\n",
         cpu_avx512() ? "AVX-512" : "portable (no AVX-512F, or DITC_CPU_PORTABLE=1)");
  for (int l = 1; l < NLIB && !own; l++)
    if (!libs[l].sgemm)
      printf("  %s: not installed (%s; apt-get install -y %s)\n", libs[l].name, libs[l].soname,
             l == 1 ? "libopenblas0" : "libblis4");
  static const struct {
    const char *what;
    int M, N, K;
  } shapes[] = {{"square", 1024, 1024, 1024},
                {"opensora-v1.2/cpu-bench qkv", 960, 576, 192},
                {"opensora-v1.2/cpu-bench mlp fc2", 960, 192, 768},
                {"opensora-v1.2/cpu-large mlp fc1", 960, 1536, 384},
                {"latte/cpu-bench mlp fc1", 1024, 1536, 384}};
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
    const int M = shapes[s].M, N = shapes[s].N, K = shapes[s].K;
    float *a = malloc(sizeof(float) * M * K), *w = malloc(sizeof(float) * N * K), *c = malloc(sizeof(float) * M * N);
    if (!a || !w || !c) return 1;
    for (long i = 0; i < (long)M * K; i++) a[i] = sinf(0.37f * (float)i);
    for (long i = 0; i < (long)N * K; i++) w[i] = cosf(0.11f * (float)i) * 0.1f;
    const double flop = 2.0 * M * N * K;
    int reps[NLIB];
    for (int l = 0; l < NLIB; l++) { /* warm-up, and calls per timing of at least 0.2 s */
      if (l && !libs[l].sgemm) continue;
      const double t0 = now();
      call(l, c, a, w, M, N, K);
      const double dt = now() - t0;
      reps[l] = dt > 0.2 ? 1 : (int)(0.2 / (dt > 1e-6 ? dt : 1e-6)) + 1;
    }
    double t[NLIB][MAXR];
    for (int r = 0; r < rounds; r++)
      for (int i = 0; i < NLIB; i++) {
        const int l = (r + i) % NLIB;
        if (l && !libs[l].sgemm) continue;
        const double t0 = now();
        for (int k = 0; k < reps[l]; k++) call(l, c, a, w, M, N, K);
        t[l][r] = (now() - t0) / reps[l];
      }
    printf("  %s %dx%dx%d (%.2f GFLOP), median of %d rounds:\n", shapes[s].what, M, N, K, flop * 1e-9, rounds);
    double best = 0.0;
    int best_l = 0;
    for (int l = 0; l < NLIB; l++) {
      if (l && !libs[l].sgemm) continue;
      qsort(t[l], (size_t)rounds, sizeof(double), cmp_double);
      const double rate = flop / t[l][rounds / 2] * 1e-9;
      printf("    %-14s %7.1f GFLOP/s (spread %.1f..%.1f)\n", libs[l].name, rate, flop / t[l][rounds - 1] * 1e-9,
             flop / t[l][0] * 1e-9);
      if (rate > best) best = rate, best_l = l;
    }
    printf("    fastest: %s\n", libs[best_l].name);
    free(a), free(w), free(c);
  }
  return 0;
}
