/* bench.c: --bench: the sampler timed with PAB off and on, against the share of FLOPs the
 * schedule skips. Not here: choosing the ranks or loading inputs (ranks.c). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "bench.h"
#include "sampler.h"

static double skipped_share(const ditc_variant *v) {
  double skipped = 0.0;
  for (int i = 0; i < v->steps; i++)
    for (int k = 0; k < v->n_modules; k++)
      if (DITC_PAB_OP(v->pab_table[(int64_t)i * v->n_modules + k]) == DITC_PAB_REUSE) skipped += v->module_flops[k];
  return skipped / (v->step_flops * v->steps);
}

int bench(ditc_model *m, int print) {
  const ditc_variant *v = m->v;
  const int64_t latent = (int64_t)v->Bp * v->Cin * v->Tx * v->Hx * v->Wx;
  float *z0 = malloc((size_t)latent * sizeof(float));
  double *sec = malloc((size_t)v->steps * sizeof(double));
  DITC_CHECK(z0 && sec);
  memcpy(z0, m->arena + v->off_z, (size_t)latent * sizeof(float));
  if (!print) { /* another rank of a parallel run: take part, report nothing */
    for (int pab = 0; pab < 2; pab++) {
      memcpy(m->arena + v->off_z, z0, (size_t)latent * sizeof(float));
      sampler_opts so = {.pab_on = pab};
      sampler_run(m, &so);
    }
    free(z0);
    free(sec);
    return 0;
  }
  printf("bench %s/%s: %d steps, %.3f GFLOP per all-compute step, arena %.2f MiB, weights %.2f MiB\n", v->family,
         v->name, v->steps, v->step_flops / 1e9, (double)v->arena_bytes / 1048576.0,
         (double)v->weight_elems * v->st_bytes / 1048576.0);
  double total[2];
  for (int pab = 0; pab < 2; pab++) {
    memcpy(m->arena + v->off_z, z0, (size_t)latent * sizeof(float));
    sampler_opts so = {.pab_on = pab, .progress = 0, .step_seconds = sec};
    sampler_run(m, &so);
    total[pab] = 0.0;
    for (int i = 0; i < v->steps; i++) total[pab] += sec[i];
    printf("  pab %-3s: %.4f s per step (mean of %d), %.3f s loop, %.2f GFLOP/s effective\n", pab ? "on" : "off",
           total[pab] / v->steps, v->steps, total[pab], v->step_flops * v->steps / total[pab] / 1e9);
  }
  printf("  pab skips %.1f%% of step FLOPs; speedup on/off %.3fx\n", 100.0 * skipped_share(v), total[0] / total[1]);
  const int64_t dev = ditc_backend()->device_bytes(m);
  if (dev > 0) printf("  peak device memory: %lld bytes (%.2f GiB)\n", (long long)dev, (double)dev / 1073741824.0);
  free(z0);
  free(sec);
  return 0;
}
