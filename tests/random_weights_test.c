/* tests/random_weights_test.c: model_random_weights (runtime/core/model.c) on a real variant (linked
 * with the generated tables of the one it is built with, like a variant binary, but with this
 * main instead of runtime/denoiser/main.c): the weights filled on 1, 2 and 3 OpenMP threads are
 * bit-identical, a few spot values (the first and a late element of a big matrix, a norm weight,
 * a bias, a rotary table) equal the values recorded when the fill was single-threaded, and
 * rng_normal_range at odd starts equals the slices of rng_normal. Prints one "ok - ..." /
 * "not ok - ..." line per check and exits 1 on any failure. Not a test of the distribution. */
#include <omp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "model.h"
#include "rng.h"
#include "timing.h"

static int n_failed;

__attribute__((format(printf, 3, 4))) static void check(int ok, const char *desc, const char *fmt, ...) {
  printf("%s - %s: ", ok ? "ok" : "not ok", desc);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  n_failed += !ok;
}

/* The variant's weights filled from seed on `threads` OpenMP threads: a malloc'ed copy. */
static float *fill(const ditc_variant *v, uint64_t seed, int threads, double *sec) {
  ditc_model m;
  ditc_err err;
  if (model_init_weights(&m, v, 0, &err)) {
    printf("not ok - model_init_weights: %s\n", err.msg);
    exit(1);
  }
  omp_set_num_threads(threads);
  const double t0 = now();
  model_random_weights(&m, seed);
  *sec = now() - t0;
  float *copy = malloc((size_t)v->weight_elems * sizeof(float));
  DITC_CHECK(copy);
  memcpy(copy, m.weights, (size_t)v->weight_elems * sizeof(float));
  m.v = NULL; /* no backend was attached: nothing to detach */
  model_free(&m);
  return copy;
}

static const ditc_weight_spec *spec(const ditc_variant *v, const char *name) {
  for (int i = 0; i < v->n_weights; i++)
    if (strcmp(v->weights[i].name, name) == 0) return &v->weights[i];
  return NULL;
}

int main(void) {
  const ditc_variant *v = ditc_variant_get();
  const uint64_t seed = 42;
  double s1, s2, s3;
  float *w1 = fill(v, seed, 1, &s1), *w2 = fill(v, seed, 2, &s2), *w3 = fill(v, seed, 3, &s3);
  const size_t bytes = (size_t)v->weight_elems * sizeof(float);
  char desc[160];
  snprintf(desc, sizeof desc, "random weights of %s/%s (%lld floats, seed %llu): 1 and 2 threads bit-identical",
           v->family, v->name, (long long)v->weight_elems, (unsigned long long)seed);
  check(memcmp(w1, w2, bytes) == 0, desc, "%.3f s on 1 thread, %.3f s on 2", s1, s2);
  check(memcmp(w1, w3, bytes) == 0, "random weights: 1 and 3 threads bit-identical", "%.3f s on 3 threads", s3);

  /* spot values, recorded from the single-threaded fill (element: value as %a) */
  static const struct {
    const char *name;
    int64_t k;
    float value;
  } spots[] = {
      {"fps_embedder.mlp.0.weight", 0, 0x1.7881bcp-3f},
      {"fps_embedder.mlp.0.weight", 24575, 0x1.d9d3c4p-4f},
      {"fps_embedder.mlp.0.bias", 95, -0x1.36d38p-15f},
      {"t_block.1.weight", 55295, -0x1.3f01e8p-4f},
      {"x_embedder.proj.weight", 1, -0x1.fe17ep-5f},
      {"temporal_blocks.0.attn.k_norm.weight", 23, 0x1.220db6p+0f},
      {"rope.freqs", 11, 0x1.c3d14ep-13f},
  };
  for (size_t i = 0; i < sizeof spots / sizeof spots[0]; i++) {
    const ditc_weight_spec *w = spec(v, spots[i].name);
    snprintf(desc, sizeof desc, "random weights: %s[%lld] is the recorded value", spots[i].name, (long long)spots[i].k);
    if (!w || spots[i].k >= w->elems) {
      check(0, desc, "no such weight or element in %s/%s", v->family, v->name);
      continue;
    }
    const float got = w1[w->offset + spots[i].k];
    check(memcmp(&got, &spots[i].value, sizeof got) == 0, desc, "got %a, recorded %a", (double)got,
          (double)spots[i].value);
  }

  /* rng_normal_range: element i of the stream at any start, odd or even */
  enum { N = 1001 };
  float whole[N], part[N];
  rng_normal(whole, N, 7);
  int same = 1;
  const int64_t starts[4] = {0, 1, 2, 513}, lens[4] = {N, 10, 999, 1};
  for (int i = 0; i < 4; i++) {
    rng_normal_range(part, starts[i], lens[i], 7);
    same = same && memcmp(part, whole + starts[i], (size_t)lens[i] * sizeof(float)) == 0;
  }
  check(same, "rng_normal_range at starts 0, 1, 2, 513 equals the slices of rng_normal", "%d floats", N);
  free(w1);
  free(w2);
  free(w3);
  return n_failed ? 1 : 0;
}
