/* inputs.c: a denoiser's input loaders (inputs.h): the conditioning file, the initial noise and
 * a forward-call fixture, each checked against the variant's denoiser dims and io table before
 * anything is copied into the arena. Not here: the checks they share (core/load.c). */
#include "inputs.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "load.h"

/* The io entry `name`, which the variant must have (a float tensor): a bug otherwise. */
static const ditc_io *io_f32(const ditc_variant *v, const char *name) {
  const ditc_io *e = ditc_io_find(v, name);
  DITC_CHECK(e != NULL && e->dtype == DITC_DT_F32);
  return e;
}

/* Text [rows, L, Cc] (a [rows, 1, L, Cc] tensor is accepted too) into dst [Bp, L, Cc]: rows
 * row0 .. row0 + Bp - 1 of the file tensor (every row is checked). */
static ditc_status load_text(ditc_model *m, const st_tensor *t, int rows, int row0, int64_t dst_off,
                             const char *path, ditc_err *err) {
  const ditc_variant *v = m->v;
  const int64_t s4[4] = {rows, 1, v->denoiser->L, v->denoiser->Cc}, s3[3] = {rows, v->denoiser->L, v->denoiser->Cc};
  ditc_status s = load_expect_shape(t, t->ndim == 3 ? 3 : 4, t->ndim == 3 ? s3 : s4, path, err);
  if (!s) s = load_check_float(t, path, err);
  if (!s) load_copy_float(MODEL_F32(m, dst_off), t, (int64_t)row0 * v->denoiser->L * v->denoiser->Cc, (int64_t)v->denoiser->Bp * v->denoiser->L * v->denoiser->Cc);
  return s;
}

/* Mask [Bp, L] of 0/1 into dst (int32); t == NULL means every token is valid. */
static ditc_status load_mask(ditc_model *m, const st_tensor *t, int64_t dst_off, const char *path, ditc_err *err) {
  const ditc_variant *v = m->v;
  int32_t *dst = (int32_t *)(void *)(m->arena + dst_off);
  if (!t) {
    for (int64_t i = 0; i < (int64_t)v->denoiser->Bp * v->denoiser->L; i++) dst[i] = 1;
    return DITC_OK;
  }
  const int64_t shape[2] = {v->denoiser->Bp, v->denoiser->L};
  ditc_status s = load_expect_shape(t, 2, shape, path, err);
  if (s) return s;
  char nb[DITC_SHOWN_MAX];
  if (load_is_float(t->dtype))
    return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has dtype %s, expected an integer or bool mask", path,
                     SHOWN(nb, t->name), st_dtype_name(t->dtype));
  for (int b = 0; b < v->denoiser->Bp; b++) {
    int valid = 0;
    for (int j = 0; j < v->denoiser->L; j++) {
      const double x = st_get(t, (int64_t)b * v->denoiser->L + j);
      if (x != 0.0 && x != 1.0)
        return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' must hold 0/1, has %g at [%d, %d]", path,
                         SHOWN(nb, t->name), x, b, j);
      valid += (int)x;
    }
    if (!valid)
      return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' row %d has no valid token", path, SHOWN(nb, t->name), b);
  }
  for (int64_t i = 0; i < (int64_t)v->denoiser->Bp * v->denoiser->L; i++) dst[i] = (int32_t)st_get(t, i);
  return DITC_OK;
}

/* Reads every conditioning input of the variant from c->f. In a --forward fixture (c->prefix !=
 * NULL) the text tensor holds the whole CFG batch [B, ...] under the fixture's name; each text
 * input takes its half. */
static ditc_status load_inputs(void *arg, ditc_err *err) {
  const load_ctx *c = arg;
  ditc_model *m = c->m;
  const ditc_variant *v = m->v;
  const char *prefix = c->prefix, *path = c->path;
  char name[256], nb[DITC_SHOWN_MAX];
  ditc_status s = DITC_OK;
  for (int i = 0; i < v->denoiser->n_inputs && !s; i++) {
    const ditc_input_spec *in = &v->denoiser->inputs[i];
    const char *base = !prefix ? in->name : in->role == DITC_IN_TEXT ? v->denoiser->fwd_text : v->denoiser->fwd_mask;
    const st_tensor *t = NULL;
    if (base) {
      snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", base);
      t = st_find(c->f, name);
    }
    if (!t && !(in->role == DITC_IN_MASK && (in->optional || (prefix && !v->denoiser->fwd_mask))))
      return ditc_fail(err, DITC_EINVAL, "%s: missing tensor '%s'", path, SHOWN(nb, base ? name : in->name));
    if (in->role == DITC_IN_MASK) s = load_mask(m, t, in->off, path, err);
    else if (!prefix) s = load_text(m, t, v->denoiser->Bp, 0, in->off, path, err);
    else { /* the fixture's batch: [cond; uncond] or [uncond; cond] */
      const int first_half = in->half == (v->denoiser->cond_first ? 0 : 1);
      s = load_text(m, t, v->denoiser->B, first_half ? 0 : v->denoiser->Bp, in->off, path, err);
    }
  }
  return s;
}

ditc_status model_load_cond(ditc_model *m, const char *path, ditc_err *err) {
  return load_file(m, path, NULL, load_inputs, err);
}

int64_t model_cond_input_bytes(const ditc_denoiser *d, const ditc_input_spec *in) {
  return in->role == DITC_IN_TEXT ? (int64_t)d->Bp * d->L * d->Cc * 4 : (int64_t)d->Bp * d->L * 4;
}

int64_t model_cond_bytes(const ditc_variant *v) {
  int64_t n = 0;
  for (int i = 0; i < v->denoiser->n_inputs; i++) n += model_cond_input_bytes(v->denoiser, &v->denoiser->inputs[i]);
  return n;
}

void model_put_cond(ditc_model *m, const unsigned char *src) {
  const ditc_denoiser *d = m->v->denoiser;
  for (int i = 0; i < d->n_inputs; i++) {
    const int64_t n = model_cond_input_bytes(d, &d->inputs[i]);
    memcpy(m->arena + d->inputs[i].off, src, (size_t)n);
    src += n;
  }
}

void model_get_cond(const ditc_model *m, unsigned char *dst) {
  const ditc_denoiser *d = m->v->denoiser;
  for (int i = 0; i < d->n_inputs; i++) {
    const int64_t n = model_cond_input_bytes(d, &d->inputs[i]);
    memcpy(dst, m->arena + d->inputs[i].off, (size_t)n);
    dst += n;
  }
}

/* The noise file's z0 into the sampler's latent, by the io table's shape. */
static ditc_status load_noise(void *arg, ditc_err *err) {
  const load_ctx *c = arg;
  const ditc_io *z = io_f32(c->m->v, DITC_IO_LATENT);
  ditc_status s = DITC_OK;
  const st_tensor *t = load_need(c->f, "z0", c->path, err, &s);
  if (!s) s = load_expect_shape(t, z->ndim, z->shape, c->path, err);
  if (!s) s = load_check_float(t, c->path, err);
  if (!s) load_copy_float(MODEL_F32(c->m, z->off), t, 0, t->numel);
  return s;
}

ditc_status model_load_noise(ditc_model *m, const char *path, ditc_err *err) {
  return load_file(m, path, NULL, load_noise, err);
}

static ditc_status load_forward(void *arg, ditc_err *err) {
  const load_ctx *c = arg;
  const ditc_variant *v = c->m->v;
  char name[256];
  ditc_status s = DITC_OK;
  snprintf(name, sizeof name, "%s%s", c->prefix, v->denoiser->fwd_x);
  const ditc_io *xi = io_f32(v, DITC_IO_X), *ti = io_f32(v, DITC_IO_T);
  const st_tensor *x = load_need(c->f, name, c->path, err, &s);
  if (!s) s = load_expect_shape(x, xi->ndim, xi->shape, c->path, err);
  if (!s) s = load_check_float(x, c->path, err);
  snprintf(name, sizeof name, "%s%s", c->prefix, v->denoiser->fwd_t);
  const st_tensor *t = s ? NULL : load_need(c->f, name, c->path, err, &s);
  if (!s) s = load_expect_shape(t, ti->ndim, ti->shape, c->path, err);
  for (int64_t b = 0; !s && b < ti->shape[0]; b++) /* float or integer timesteps (diffusers passes int64) */
    if (!isfinite((float)st_get(t, b))) s = load_not_finite(t, b, c->path, err);
  if (!s) s = load_inputs(arg, err);
  if (s) return s;
  load_copy_float(MODEL_F32(c->m, xi->off), x, 0, x->numel);
  for (int64_t b = 0; b < ti->shape[0]; b++) MODEL_F32(c->m, ti->off)[b] = (float)st_get(t, b);
  return DITC_OK;
}

ditc_status model_load_forward(ditc_model *m, const char *path, const char *prefix, ditc_err *err) {
  return load_file(m, path, prefix, load_forward, err);
}
