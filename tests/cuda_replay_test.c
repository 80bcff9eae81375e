/* tests/cuda_replay_test.c: the CUDA backend's graphs (runtime/cuda/backend.c) against the eager
 * step they were captured from, on the variant this binary is linked with (a CUDA fixture; this
 * main instead of runtime/denoiser/main.c). Random weights and inputs; attach (the warm-up, then the
 * captures); then for the all-compute row and the first row of every PAB pattern: the row run
 * eagerly (v->step on the stream) and the replay of its graph (the backend's step), each after
 * the same eager all-compute step (so the PAB caches a reuse row reads hold the same values), must
 * give a bit-identical model output. Prints one "ok - ..." / "not ok - ..." line per row, then
 * "N passed, N failed"; exit status 1 on any failure. Without a GPU it prints "skipped: no CUDA
 * device" and exits 0. Not a test of the values (tests/gpu.sh compares them with upstream). */
#include <cuda_runtime_api.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "model.h"
#include "rng.h"

static float *f32(ditc_model *m, int64_t off) { return (float *)(void *)(m->arena + off); }

/* Inputs on the host arena: text N(0, 1), every mask token valid, x N(0, 1), t mid-schedule. */
static void random_inputs(ditc_model *m) {
  const ditc_variant *v = m->v;
  for (int i = 0; i < v->denoiser->n_inputs; i++) {
    const int64_t n = (int64_t)v->denoiser->Bp * v->denoiser->L * (v->denoiser->inputs[i].role == DITC_IN_TEXT ? v->denoiser->Cc : 1);
    if (v->denoiser->inputs[i].role == DITC_IN_TEXT) rng_normal(f32(m, v->denoiser->inputs[i].off), n, 11 + (uint64_t)i);
    else
      for (int64_t k = 0; k < n; k++) ((int32_t *)(void *)(m->arena + v->denoiser->inputs[i].off))[k] = 1;
  }
  rng_normal(f32(m, v->denoiser->off_x), (int64_t)v->denoiser->B * v->denoiser->Cin * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx, 5);
  for (int b = 0; b < v->denoiser->B; b++) f32(m, v->denoiser->off_t)[b] = v->denoiser->t_embed[v->denoiser->steps / 2];
}

/* x and t to the device, then one step: eager (v->step) or the graph of `pattern`. */
static void step(ditc_model *m, int eager, int pattern, const unsigned char *row) {
  const ditc_variant *v = m->v;
  const ditc_backend_ops *be = ditc_backend();
  be->to_device(m, v->denoiser->off_x, (size_t)v->denoiser->B * v->denoiser->Cin * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx * sizeof(float));
  be->to_device(m, v->denoiser->off_t, (size_t)v->denoiser->B * sizeof(float));
  if (eager) m->step(&m->ex, row);
  else be->step(m, pattern, row);
}

int main(void) {
  int ndev = 0;
  if (cudaGetDeviceCount(&ndev) != cudaSuccess || ndev <= 0) {
    printf("skipped: no CUDA device\n");
    return 0;
  }
  const ditc_variant *v = ditc_variant_get();
  ditc_model m;
  ditc_err err;
  if (model_init(&m, v, &err)) {
    printf("not ok - model_init: %s\n0 passed, 1 failed\n", err.msg);
    return 1;
  }
  model_random_weights(&m, 3);
  random_inputs(&m);
  if (model_attach(&m, &err)) {
    printf("not ok - model_attach: %s\n0 passed, 1 failed\n", err.msg);
    return 1;
  }
  const ditc_backend_ops *be = ditc_backend();
  for (int i = 0; i < v->denoiser->n_inputs; i++)
    be->to_device(&m, v->denoiser->inputs[i].off,
                  (size_t)v->denoiser->Bp * v->denoiser->L * (v->denoiser->inputs[i].role == DITC_IN_TEXT ? v->denoiser->Cc : 1) * sizeof(float));
  m.prologue(&m.ex, NULL);
  const int64_t n_out = (int64_t)2 * v->denoiser->Bp * v->denoiser->Cout * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx;
  float *eager = malloc((size_t)n_out * sizeof(float)), *replay = malloc((size_t)n_out * sizeof(float));
  unsigned char *zeros = calloc((size_t)(v->denoiser->n_modules > 0 ? v->denoiser->n_modules : 1), 1);
  DITC_CHECK(eager && replay && zeros);
  int passed = 0, failed = 0;
  for (int p = v->denoiser->n_patterns; p >= 0; p--) { /* the all-compute row first, then each pattern */
    const unsigned char *row = zeros;
    int first = -1;
    if (p < v->denoiser->n_patterns) {
      for (int i = 0; i < v->denoiser->steps && first < 0; i++)
        if (v->denoiser->pab_pattern[i] == p) first = i;
      DITC_CHECK(first >= 0);
      row = v->denoiser->pab_table + (int64_t)first * v->denoiser->n_modules;
    }
    for (int r = 0; r < 2; r++) {
      step(&m, 1, v->denoiser->n_patterns, zeros); /* the same caches before both */
      step(&m, r == 0, p, row);
      be->to_host(&m, v->denoiser->off_out, (size_t)n_out * sizeof(float));
      memcpy(r == 0 ? eager : replay, f32(&m, v->denoiser->off_out), (size_t)n_out * sizeof(float));
    }
    int64_t bad = 0, at = -1;
    for (int64_t k = 0; k < n_out; k++)
      if (memcmp(&eager[k], &replay[k], sizeof(float)) != 0) bad++, at = at < 0 ? k : at;
    char name[160];
    if (first < 0) snprintf(name, sizeof name, "%s/%s: eager all-compute step vs its graph", v->family, v->name);
    else snprintf(name, sizeof name, "%s/%s: eager step %d (PAB pattern %d) vs its graph", v->family, v->name, first, p);
    if (bad) printf("not ok - %s: %lld of %lld outputs differ, first at %lld: eager %.9g, replay %.9g\n", name,
                    (long long)bad, (long long)n_out, (long long)at, eager[at], replay[at]);
    else printf("ok - %s: %lld output floats bit-identical\n", name, (long long)n_out);
    if (bad) failed++;
    else passed++;
  }
  free(eager);
  free(replay);
  free(zeros);
  model_free(&m);
  printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
