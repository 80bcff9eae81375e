/* bench.c: --bench: the sampler's whole loop timed with PAB off and on, and with one thread
 * against the default thread count, against the share of FLOPs the schedule skips. How (STYLE
 * 28): one warm-up loop, then 5 rounds (3 for big loops), each running every configuration once from the
 * same noise, in an order that rotates from round to round (so no configuration is always
 * first or last); per configuration the median loop time and its spread (min..max); the PAB
 * speedup as the median of each round's off/on ratio next to its ideal bound 1/(1 - skipped
 * share); then the final latent's max|z|, mean, std and NaN/Inf count. Not here: choosing the ranks
 * or loading inputs (ranks.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "backend.h"
#include "bench.h"
#include "sampler.h"

/* rounds: 5, or 3 for a loop of over 20 GFLOP (a function of the variant only, so every rank of
 * a parallel run runs the same number of loops) */
enum { MAX_REPEATS = 5, N_CONF = 3 };
typedef struct {
  const char *name;
  int pab_on, one_thread;
} bench_conf;
/* the first two at the default thread count; the third only on the CPU (a device backend's
 * speed does not depend on the host's threads) */
static const bench_conf CONF[N_CONF] = {
    {"pab off", 0, 0},
    {"pab on", 1, 0},
    {"pab off, 1 thread", 0, 1},
};

static double skipped_share(const ditc_variant *v) {
  double skipped = 0.0;
  for (int i = 0; i < v->denoiser->steps; i++)
    for (int k = 0; k < v->denoiser->n_modules; k++)
      if (DITC_PAB_OP(v->denoiser->pab_table[(int64_t)i * v->denoiser->n_modules + k]) == DITC_PAB_REUSE) skipped += v->denoiser->module_flops[k];
  return skipped / (v->denoiser->step_flops * v->denoiser->steps);
}

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* median of n values (sorts a copy), and min / max */
static double median(const double *x, int n, double *lo, double *hi) {
  double s[MAX_REPEATS];
  memcpy(s, x, (size_t)n * sizeof(double));
  qsort(s, (size_t)n, sizeof(double), cmp_double);
  *lo = s[0];
  *hi = s[n - 1];
  return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

/* One whole loop from the noise z0 [latent], PAB on or off, on the given thread count (0: the
 * default); returns its wall time in seconds. */
static double loop(ditc_model *m, const float *z0, int64_t latent, int pab_on, int threads) {
  const ditc_variant *v = m->v;
#ifdef _OPENMP
  const int saved = omp_get_max_threads();
  if (threads > 0) omp_set_num_threads(threads);
#else
  (void)threads;
#endif
  memcpy(m->arena + v->denoiser->off_z, z0, (size_t)latent * sizeof(float));
  sampler_opts so = {.pab_on = pab_on};
  const double t0 = now();
  sampler_run(m, &so);
  const double t = now() - t0;
#ifdef _OPENMP
  omp_set_num_threads(saved);
#endif
  return t;
}

/* One line on the final latent z [n] of the last loop: max|z|, mean and std of its finite values,
 * and how many are NaN or Inf (random weights at real sizes can overflow: a NaN storm must not
 * pass as a timing). */
static void latent_stats(const float *z, int64_t n) {
  double mx = 0.0, sum = 0.0, sq = 0.0;
  int64_t nan = 0, inf = 0, fin = 0;
  for (int64_t k = 0; k < n; k++) {
    const double x = z[k];
    if (isnan(x)) nan++;
    else if (isinf(x)) inf++;
    else fin++, sum += x, sq += x * x, mx = fmax(mx, fabs(x));
  }
  const double mean = fin ? sum / (double)fin : 0.0, var = fin ? sq / (double)fin - mean * mean : 0.0;
  printf("  final latent (last loop): max|z| %.6g, mean %.6g, std %.6g, NaN %lld, Inf %lld (of %lld values)%s\n", mx,
         mean, sqrt(var > 0.0 ? var : 0.0), (long long)nan, (long long)inf, (long long)n,
         nan || inf ? ": NOT FINITE, these timings are of a broken run" : "");
}

int bench(ditc_model *m, int print) {
  const ditc_variant *v = m->v;
  const int64_t latent = (int64_t)v->denoiser->Bp * v->denoiser->Cin * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx;
  float *z0 = malloc((size_t)latent * sizeof(float));
  DITC_CHECK(z0);
  memcpy(z0, m->arena + v->denoiser->off_z, (size_t)latent * sizeof(float));
  const int rounds = v->denoiser->step_flops * v->denoiser->steps > 20e9 ? 3 : MAX_REPEATS;
  const int n_conf = ditc_backend()->update ? 2 : N_CONF; /* a device sampler: no thread comparison */
  int threads = 1;
#ifdef _OPENMP
  threads = omp_get_max_threads();
#endif
  if (print)
    printf("bench %s/%s: %d steps, %.3f GFLOP per all-compute step, arena %.2f MiB, weights %.2f MiB\n"
           "  backend %s, default threads: %d; 1 warm-up loop, then %d rounds of the %d configurations below, in "
           "rotating order\n",
           v->family, v->name, v->denoiser->steps, v->denoiser->step_flops / 1e9, (double)v->arena_bytes / 1048576.0,
           (double)v->weight_elems * v->st_bytes / 1048576.0, ditc_backend()->name, threads, rounds, n_conf);
  /* every rank runs the same sequence (the collectives pair up); only rank 0 reports */
  (void)loop(m, z0, latent, 1, 0);
  double sec[N_CONF][MAX_REPEATS];
  for (int r = 0; r < rounds; r++)
    for (int j = 0; j < n_conf; j++) {
      const int c = (r + j) % n_conf;
      sec[c][r] = loop(m, z0, latent, CONF[c].pab_on, CONF[c].one_thread ? 1 : 0);
    }
  if (print) {
    double med[N_CONF];
    for (int c = 0; c < n_conf; c++) {
      double lo, hi;
      med[c] = median(sec[c], rounds, &lo, &hi);
      printf("  %-24s: %.4f s per step, loop median %.3f s (min %.3f, max %.3f, spread %.1f%%), %.2f GFLOP/s\n",
             CONF[c].name, med[c] / v->denoiser->steps, med[c], lo, hi, 100.0 * (hi - lo) / med[c],
             v->denoiser->step_flops * v->denoiser->steps * (1.0 - (CONF[c].pab_on ? skipped_share(v) : 0.0)) / med[c] / 1e9);
    }
    double ratio[MAX_REPEATS], lo, hi;
    for (int r = 0; r < rounds; r++) ratio[r] = sec[0][r] / sec[1][r];
    const double skip = skipped_share(v), ideal = 1.0 / (1.0 - skip), speedup = median(ratio, rounds, &lo, &hi);
    printf("  pab skips %.1f%% of step FLOPs: ideal speedup 1/(1-skip) = %.3fx; measured on/off %.3fx "
           "(median of %d rounds, min %.3f, max %.3f)\n",
           100.0 * skip, ideal, speedup, rounds, lo, hi);
    if (speedup > ideal)
      printf("  note: the measured speedup beats its bound: the timing noise is larger than PAB's effect here\n");
    if (n_conf > 2) {
      for (int r = 0; r < rounds; r++) ratio[r] = sec[2][r] / sec[0][r];
      const double tr = median(ratio, rounds, &lo, &hi);
      printf("  threads: default (%d) vs 1: %.3fx faster (median of %d rounds, min %.3f, max %.3f)\n", threads, tr,
             rounds, lo, hi);
    }
    latent_stats((const float *)(const void *)(m->arena + v->denoiser->off_z), latent);
    const int64_t dev = ditc_backend()->device_bytes(m);
    if (dev > 0) printf("  peak device memory: %lld bytes (%.2f GiB)\n", (long long)dev, (double)dev / 1073741824.0);
  }
  free(z0);
  return 0;
}
