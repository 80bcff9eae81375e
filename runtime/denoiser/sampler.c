/* sampler.c: the sampler loop over baked per-call coefficients, with classifier-free guidance
 * on the first Cin output channels (the learned-sigma half is dropped; guidance is elementwise, so
 * before or after the split is the same):
 *   RFLOW (Open-Sora, docs/upstream.md#open-sora-12-rflow): z += v * dt, unless x_mask discards the step;
 *   DDIM (Latte, docs/upstream.md#latte-1-ddim, eta 0): x0 = (z - sqrt(1-a_t) e) / sqrt(a_t); z = sqrt(a_p) x0 + sqrt(1-a_p) e;
 *   PNDM (Open-Sora-Plan, docs/upstream.md#open-sora-plan-pndm): Runge-Kutta warm-up calls, then 4th-order linear multistep,
 *   each through diffusers' _get_prev_sample with baked coefficients.
 * Formula order follows upstream's tensor expressions so fp32 rounding matches. A backend with a
 * device sampler (CUDA: cuda/sampler.cu, the same formulas) keeps the latent on the device and
 * does this work there; the loop is the same. */
#include "sampler.h"

#include "backend.h"
#include "comm.h"
#include "rng.h"

#include <math.h>
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
  for (int k = 0; k < v->denoiser->n_modules; k++) {
    if (strcmp(v->denoiser->module_kinds[k], kind) != 0) continue;
    (*total)++;
    if (row && DITC_PAB_OP(row[k]) == DITC_PAB_REUSE) (*reused)++;
  }
}

/* One line per step: what was reused, per module kind (the family's cache kinds and mlp, as the
 * descriptor's module_kinds name them), in the order the step first runs each kind. */
static void progress(const ditc_variant *v, int i, const unsigned char *row, double elapsed) {
  const ditc_denoiser *d = v->denoiser;
  char buf[512];
  int o = snprintf(buf, sizeof buf, "step %2d/%d  t %8.3f  reused", i + 1, d->steps, (double)d->t_sched[i]);
  for (int k = 0; k < d->n_modules && o < (int)sizeof buf; k++) {
    int first = 1; /* the first module of its kind */
    for (int j = 0; j < k && first; j++) first = strcmp(d->module_kinds[j], d->module_kinds[k]) != 0;
    if (!first) continue;
    int r, n;
    sampler_row_counts(v, row, d->module_kinds[k], &r, &n);
    o += snprintf(buf + o, sizeof buf - (size_t)o, " %s %d/%d", d->module_kinds[k], r, n);
  }
  const double eta = elapsed / (i + 1) * (v->denoiser->steps - i - 1);
  fprintf(stderr, "%s  | %.2f s elapsed, ETA %.2f s\n", buf, elapsed, eta);
}

/* Guided noise/velocity of prompt p: e = u + cfg * (c - u) over one latent. */
static void guide(float *e, const ditc_variant *v, const float *out, int p, int64_t per, int64_t out_per) {
  const int bc = v->denoiser->cond_first ? p : v->denoiser->Bp + p, bu = v->denoiser->cond_first ? v->denoiser->Bp + p : p;
  const float *c = out + bc * out_per, *u = out + bu * out_per;
  for (int64_t k = 0; k < per; k++) e[k] = u[k] + v->denoiser->cfg_scale * (c[k] - u[k]);
}

/* diffusers PNDMScheduler._get_prev_sample with baked (sample_coeff, a_prev - a_t, denom). */
static void pndm_prev(float *z, const float *base, const float *e, const float *coef, int64_t n) {
  for (int64_t k = 0; k < n; k++) z[k] = coef[0] * base[k] - coef[1] * e[k] / coef[2];
}

void sampler_pndm_slots(const ditc_variant *v, int i, float *state, int *n_ets, float *slot[5]) {
  const int64_t lat = (int64_t)v->denoiser->Bp * v->denoiser->Cin * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx;
  float *ets = state + lat;
  const int mode = v->denoiser->mode[i];
  slot[0] = ets + (int64_t)(*n_ets % 4) * lat;
  slot[1] = slot[2] = slot[3] = slot[4] = NULL;
  if (mode != 0 && mode != 4) return;
  (*n_ets)++;
  if (mode == 0) return;
  DITC_CHECK(*n_ets >= 4); /* the generator always puts the Runge-Kutta calls first */
  for (int j = 1; j <= 4; j++) slot[j] = ets + (int64_t)((*n_ets - j) % 4) * lat;
}

/* One scheduler update of the latent z [Bp, per] from the model output of call i. */
static void update(ditc_model *m, int i, float *z, const float *out, int64_t per, int64_t out_per, int *n_ets) {
  const ditc_variant *v = m->v;
  const float *cf = v->denoiser->coef + (int64_t)i * 4;
  if (v->denoiser->sampler_kind == DITC_SAMPLER_RFLOW) {
    if (!v->denoiser->update[i]) return;
    for (int p = 0; p < v->denoiser->Bp; p++) {
      const int bc = v->denoiser->cond_first ? p : v->denoiser->Bp + p, bu = v->denoiser->cond_first ? v->denoiser->Bp + p : p;
      const float *vc = out + bc * out_per, *vu = out + bu * out_per;
      float *zp = z + p * per;
      for (int64_t e = 0; e < per; e++) {
        const float vel = vu[e] + v->denoiser->cfg_scale * (vc[e] - vu[e]);
        zp[e] = zp[e] + vel * cf[0];
      }
    }
    return;
  }
  const int64_t lat = (int64_t)v->denoiser->Bp * per;
  float *st = (float *)(void *)(m->arena + v->denoiser->off_state); /* [n_state][Bp, per] */
  float *eps = st;                                          /* the guided model output */
  for (int p = 0; p < v->denoiser->Bp; p++) guide(eps + p * per, v, out, p, per, out_per);
  if (v->denoiser->sampler_kind == DITC_SAMPLER_DDIM) {
    for (int64_t k = 0; k < lat; k++) {
      const float x0 = (z[k] - cf[0] * eps[k]) / cf[1];
      z[k] = cf[2] * x0 + cf[3] * eps[k];
    }
    return;
  }
  /* PNDM: ets ring [4][lat] (newest at (*n_ets - 1) % 4), cur_sample, e_acc */
  float *cur = st + 5 * lat, *acc = st + 6 * lat, *slot[5];
  const int mode = v->denoiser->mode[i];
  sampler_pndm_slots(v, i, st, n_ets, slot);
  if (mode < 4) { /* Runge-Kutta: calls c%4 = 0,1,2,3 of one step */
    const float sixth = (float)(1.0 / 6.0), third = (float)(1.0 / 3.0);
    if (mode == 0) {
      for (int64_t k = 0; k < lat; k++) acc[k] = sixth * eps[k];
      memcpy(slot[0], eps, (size_t)lat * sizeof(float));
      memcpy(cur, z, (size_t)lat * sizeof(float));
    } else if (mode < 3) {
      for (int64_t k = 0; k < lat; k++) acc[k] += third * eps[k];
    } else {
      for (int64_t k = 0; k < lat; k++) {
        eps[k] = acc[k] + sixth * eps[k];
        acc[k] = 0.0f;
      }
    }
    pndm_prev(z, cur, eps, cf, lat);
    return;
  }
  memcpy(slot[0], eps, (size_t)lat * sizeof(float));
  const float *e1 = slot[1], *e2 = slot[2], *e3 = slot[3], *e4 = slot[4];
  for (int64_t k = 0; k < lat; k++)
    eps[k] = (float)(1.0 / 24.0) * (55.0f * e1[k] - 59.0f * e2[k] + 37.0f * e3[k] - 9.0f * e4[k]);
  pndm_prev(z, z, eps, cf, lat);
}

/* The conditioning inputs, from the host arena to the backend's (before the prologue). */
static void inputs_to_device(ditc_model *m) {
  const ditc_variant *v = m->v;
  for (int i = 0; i < v->denoiser->n_inputs; i++) {
    const int64_t n = (int64_t)v->denoiser->Bp * v->denoiser->L * (v->denoiser->inputs[i].role == DITC_IN_TEXT ? v->denoiser->Cc : 1);
    ditc_backend()->to_device(m, v->denoiser->inputs[i].off, (size_t)n * 4);
  }
}

/* One forward on the io buffers: x and t in, the whole CFG batch's output out; pattern is the
 * row's pattern (v->denoiser->n_patterns: the all-compute row). */
static void forward(ditc_model *m, int pattern, const unsigned char *row) {
  const ditc_variant *v = m->v;
  const ditc_backend_ops *be = ditc_backend();
  be->to_device(m, v->denoiser->off_x, (size_t)v->denoiser->B * v->denoiser->Cin * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx * sizeof(float));
  be->to_device(m, v->denoiser->off_t, (size_t)v->denoiser->B * sizeof(float));
  be->step(m, pattern, row);
  be->to_host(m, v->denoiser->off_out, (size_t)2 * v->denoiser->Bp * v->denoiser->Cout * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx * sizeof(float));
}

/* The first non-finite element of z [n], or -1. */
static int64_t first_nonfinite(const float *z, int64_t n) {
  for (int64_t k = 0; k < n; k++)
    if (!isfinite(z[k])) return k;
  return -1;
}

/* Records step i's latent in health when it is the first to hold NaN/Inf; returns 1 then. */
static int note_nonfinite(sampler_health *h, const float *z, int64_t n, int i, int step_known) {
  if (h->bad_step >= 0) return 0;
  const int64_t k = first_nonfinite(z, n);
  if (k < 0) return 0;
  *h = (sampler_health){.bad_step = i, .step_known = step_known, .bad_index = k};
  return 1;
}

/* A collective of this rank failed (comm.h's fault): the steps left would exchange nothing. */
static int comm_failed(const ditc_model *m) {
  const ditc_comm *c = m->ex.comm ? m->ex.comm : m->ex.cfg_comm;
  return c && comm_faulted(c->fault);
}

void sampler_seed_noise(ditc_model *m, uint64_t seed) {
  const ditc_denoiser *d = m->v->denoiser;
  const int64_t latent = (int64_t)d->Bp * d->Cin * d->Tx * d->Hx * d->Wx;
  float *z = (float *)(void *)(m->arena + d->off_z);
  rng_normal(z, latent, seed);
  if (!strcmp(m->v->dtype, "bf16"))
    for (int64_t i = 0; i < latent; i++) {
      uint32_t b;
      memcpy(&b, &z[i], 4);
      b = (b + 0x7fffu + ((b >> 16) & 1u)) & 0xffff0000u;
      memcpy(&z[i], &b, 4);
    }
}

void sampler_run(ditc_model *m, const sampler_opts *o) {
  const ditc_variant *v = m->v;
  const int64_t per = (int64_t)v->denoiser->Cin * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx;      /* one sample's latent */
  const int64_t out_per = (int64_t)v->denoiser->Cout * v->denoiser->Tx * v->denoiser->Hx * v->denoiser->Wx; /* one model output row */
  float *z = (float *)(void *)(m->arena + v->denoiser->off_z);                /* [Bp, Cin, Tx, Hx, Wx] */
  float *x = (float *)(void *)(m->arena + v->denoiser->off_x);                /* [B, Cin, Tx, Hx, Wx] */
  float *t = (float *)(void *)(m->arena + v->denoiser->off_t);                /* [B] */
  const float *out = (const float *)(const void *)(m->arena + v->denoiser->off_out); /* [B, Cout, ...] */
  unsigned char all_compute[v->denoiser->n_modules > 0 ? v->denoiser->n_modules : 1];
  memset(all_compute, 0, sizeof all_compute);
  int n_ets = 0;
  const ditc_backend_ops *be = ditc_backend();
  const size_t zbytes = (size_t)(v->denoiser->Bp * per) * sizeof(float);
  sampler_health scratch, *health = o->health ? o->health : &scratch;
  health->bad_step = -1;
  const double start = now();
  inputs_to_device(m);
  if (be->update) be->to_device(m, v->denoiser->off_z, zbytes); /* the latent lives on the device from here */
  DITC_CHECK(m->prologue && m->step); /* a denoiser variant: both phases are generated */
  m->prologue(&m->ex, NULL);
  for (int i = 0; i < v->denoiser->steps; i++) {
    if ((o->stop_before && i == o->stop_before - 1) || comm_failed(m)) return;
    const double t0 = now();
    const unsigned char *row = o->pab_on ? v->denoiser->pab_table + (int64_t)i * v->denoiser->n_modules : NULL;
    const int pattern = row ? v->denoiser->pab_pattern[i] : v->denoiser->n_patterns;
    const uint64_t a2a_before = m->ex.comm ? m->ex.comm->a2a_calls : 0;
    if (be->update) { /* on the device: prepare, step, update, and wait (progress times real work) */
      be->prepare(m, i);
      be->step(m, pattern, row ? row : all_compute);
      be->update(m, i, &n_ets);
      if (o->latents) be->to_host(m, v->denoiser->off_z, zbytes);
      be->sync(m);
    } else {
      for (int b = 0; b < v->denoiser->B; b++) {
        memcpy(x + b * per, z + (b % v->denoiser->Bp) * per, (size_t)per * sizeof(float));
        t[b] = v->denoiser->t_embed[i];
      }
      forward(m, pattern, row ? row : all_compute);
      update(m, i, z, out, per, out_per, &n_ets);
    }
    if (m->ex.comm && row) /* the generated code runs exactly the all-to-alls of the schedule */
      DITC_CHECK(m->ex.comm->a2a_calls - a2a_before == v->denoiser->a2a_per_step[i]);
    if (o->latents) memcpy(o->latents + (int64_t)i * v->denoiser->Bp * per, z, zbytes);
    if (o->step_seconds) o->step_seconds[i] = now() - t0;
    if (o->progress) progress(v, i, row, now() - start);
    const int host_z = !be->update || o->latents; /* this step's latent is on the host */
    if (host_z && note_nonfinite(health, z, v->denoiser->Bp * per, i, 1) && !o->keep_nonfinite) break;
  }
  if (be->update) be->to_host(m, v->denoiser->off_z, zbytes); /* the final latent, at off_z on the host */
  if (health->bad_step < 0) note_nonfinite(health, z, v->denoiser->Bp * per, v->denoiser->steps - 1, 0);
}

void sampler_forward_once(ditc_model *m) {
  const ditc_variant *v = m->v;
  unsigned char all_compute[v->denoiser->n_modules > 0 ? v->denoiser->n_modules : 1];
  memset(all_compute, 0, sizeof all_compute);
  inputs_to_device(m);
  DITC_CHECK(m->prologue && m->step); /* a denoiser variant: both phases are generated */
  m->prologue(&m->ex, NULL);
  forward(m, v->denoiser->n_patterns, all_compute);
}
