/* sampler.c: RFLOW sampling (spec models.md §1.6) with classifier-free guidance:
 *   in.x = [z; z], in.t = t_embed[i]; out = forward;  v = v_u + cfg * (v_c - v_u) on the first Cin
 *   output channels (the learned-sigma half is dropped); z += v * dt[i] unless the step's x_mask
 *   discards the update. */
#include "sampler.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void sampler_row_counts(const ditc_variant *v, const unsigned char *row, const char *kind, int *reused, int *total) {
  *reused = *total = 0;
  for (int k = 0; k < v->n_modules; k++) {
    if (strcmp(v->module_kinds[k], kind) != 0) continue;
    (*total)++;
    if (row && DITC_PAB_OP(row[k]) == DITC_PAB_REUSE) (*reused)++;
  }
}

static void progress(const ditc_variant *v, int i, const unsigned char *row, double elapsed) {
  static const char *const kinds[] = {"spatial", "temporal", "cross", "mlp"};
  char buf[256];
  int o = snprintf(buf, sizeof buf, "step %2d/%d  t %8.3f  reused", i + 1, v->steps, (double)v->t_sched[i]);
  for (int k = 0; k < 4; k++) {
    int r, n;
    sampler_row_counts(v, row, kinds[k], &r, &n);
    if (n) o += snprintf(buf + o, sizeof buf - (size_t)o, " %s %d/%d", kinds[k], r, n);
  }
  const double eta = elapsed / (i + 1) * (v->steps - i - 1);
  fprintf(stderr, "%s  | %.2f s elapsed, ETA %.2f s\n", buf, elapsed, eta);
}

void sampler_run(ditc_model *m, const sampler_opts *o) {
  const ditc_variant *v = m->v;
  const int64_t per = (int64_t)v->Cin * v->Tx * v->Hx * v->Wx;      /* one sample's latent */
  const int64_t out_per = (int64_t)v->Cout * v->Tx * v->Hx * v->Wx; /* one model output row */
  float *z = (float *)(void *)(m->arena + v->off_z);                /* [Bp, Cin, Tx, Hx, Wx] */
  float *x = (float *)(void *)(m->arena + v->off_x);                /* [B, Cin, Tx, Hx, Wx] */
  float *t = (float *)(void *)(m->arena + v->off_t);                /* [B] */
  const float *out = (const float *)(const void *)(m->arena + v->off_out); /* [B, Cout, ...] */
  static const unsigned char zeros[1] = {0};
  const double start = now();
  v->prologue(&m->ex);
  for (int i = 0; i < v->steps; i++) {
    const double t0 = now();
    const unsigned char *row = o->pab_on ? v->pab_table + (int64_t)i * v->n_modules : NULL;
    for (int b = 0; b < v->B; b++) {
      memcpy(x + b * per, z + (b % v->Bp) * per, (size_t)per * sizeof(float));
      t[b] = v->t_embed[i];
    }
    if (row) v->step(&m->ex, row);
    else {
      unsigned char all_compute[v->n_modules > 0 ? v->n_modules : 1];
      memset(all_compute, 0, sizeof all_compute);
      v->step(&m->ex, v->n_modules > 0 ? all_compute : zeros);
    }
    if (v->update[i]) {
      const float cfg = v->cfg_scale, dt = v->dt[i];
      for (int p = 0; p < v->Bp; p++) {
        const int bc = v->cond_first ? p : v->Bp + p, bu = v->cond_first ? v->Bp + p : p;
        const float *vc = out + bc * out_per, *vu = out + bu * out_per;
        float *zp = z + p * per;
        for (int64_t e = 0; e < per; e++) {
          const float vel = vu[e] + cfg * (vc[e] - vu[e]);
          zp[e] = zp[e] + vel * dt;
        }
      }
    }
    if (o->latents) memcpy(o->latents + (int64_t)i * v->Bp * per, z, (size_t)(v->Bp * per) * sizeof(float));
    if (o->step_seconds) o->step_seconds[i] = now() - t0;
    if (o->progress) progress(v, i, row, now() - start);
  }
}

void sampler_forward_once(ditc_model *m) {
  const ditc_variant *v = m->v;
  unsigned char all_compute[v->n_modules > 0 ? v->n_modules : 1];
  memset(all_compute, 0, sizeof all_compute);
  v->prologue(&m->ex);
  v->step(&m->ex, all_compute);
}
