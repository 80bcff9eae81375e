/* model.c: model_init/free, checkpoint loading against the manifest, random weights, and the
 * input loaders of model.h. Every check runs before anything is copied into the model. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "rng.h"
#include "safetensors.h"

#define F32(m, off) ((float *)((m)->arena + (off)))

ditc_status model_init(ditc_model *m, const ditc_variant *v, ditc_err *err) {
  return model_init_weights(m, v, 1, err);
}

/* The memory the kernel says it can still hand out (MemAvailable), or -1 when unknown. */
static double available_bytes(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return -1;
  char line[256];
  double kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %lf kB", &kib) == 1) break;
  fclose(f);
  return kib < 0 ? -1 : kib * 1024.0;
}

/* A one-line error for an allocation of weights + arena this machine cannot hold. */
static ditc_status no_memory(const ditc_variant *v, size_t wbytes, size_t abytes, int rank, ditc_err *err) {
  const double gib = 1073741824.0, avail = available_bytes();
  char have[64] = "", who[32] = "", what[64] = "";
  if (avail >= 0) snprintf(have, sizeof have, " (%.1f GiB available)", avail / gib);
  if (rank >= 0) snprintf(who, sizeof who, "rank %d: ", rank);
  if (wbytes) snprintf(what, sizeof what, "%.2f GiB of weights and ", (double)wbytes / gib);
  return ditc_fail(err, DITC_ENOMEM, "%sout of memory: %s/%s needs %s%.2f GiB of arena (%zu bytes, plan.txt) in RAM "
                   "on the %s backend%s; the CPU backend is the reference: run released sizes on a GPU build", who,
                   v->family, v->name, what, (double)abytes / gib, abytes, ditc_backend()->name, have);
}

ditc_status model_init_weights(ditc_model *m, const ditc_variant *v, int with_arena, ditc_err *err) {
  memset(m, 0, sizeof *m);
  if (v->abi_version != DITC_ABI_VERSION)
    return ditc_fail(err, DITC_EINVAL, "variant %s was generated for ABI %d, this runtime is ABI %d",
                     v->name, v->abi_version, DITC_ABI_VERSION);
  m->v = v;
  const size_t wbytes = ((size_t)v->weight_elems * sizeof(float) + 63) / 64 * 64;
  const size_t abytes = with_arena ? ((size_t)v->host_bytes + 63) / 64 * 64 : 0;
  const double avail = available_bytes(); /* refuse what would end in the OOM killer during the memset */
  if (avail >= 0 && (double)wbytes + (double)abytes > avail) return no_memory(v, wbytes, abytes, -1, err);
  m->weights = aligned_alloc(64, wbytes ? wbytes : 64);
  m->arena = with_arena ? aligned_alloc(64, abytes ? abytes : 64) : NULL;
  if (!m->weights || (with_arena && !m->arena)) {
    model_free(m);
    return no_memory(v, wbytes, abytes, -1, err);
  }
  memset(m->weights, 0, wbytes);
  if (m->arena) memset(m->arena, 0, abytes);
  m->owns_weights = 1;
  m->ex.weights = m->weights;
  m->ex.arena = m->arena;
  return DITC_OK;
}

ditc_status model_init_rank(ditc_model *m, const ditc_variant *v, const float *weights, int rank,
                            struct ditc_comm *comm, int cfg_rank, struct ditc_comm *cfg_comm, ditc_err *err) {
  memset(m, 0, sizeof *m);
  m->v = v;
  const size_t abytes = ((size_t)v->host_bytes + 63) / 64 * 64;
  const double avail = available_bytes();
  m->arena = avail >= 0 && (double)abytes > avail ? NULL : aligned_alloc(64, abytes ? abytes : 64);
  if (!m->arena) return no_memory(v, 0, abytes, cfg_rank * v->sp + rank, err);
  memset(m->arena, 0, abytes);
  m->weights = (float *)weights; /* shared, never written */
  m->ex.weights = weights;
  m->ex.arena = m->arena;
  m->ex.rank = rank;
  m->ex.comm = comm;
  m->ex.cfg_rank = cfg_rank;
  m->ex.cfg_comm = cfg_comm;
  ditc_status s = ditc_backend()->attach(m, err);
  if (s) model_free(m);
  return s;
}

ditc_status model_attach(ditc_model *m, ditc_err *err) { return ditc_backend()->attach(m, err); }

void model_free(ditc_model *m) {
  if (m->v) ditc_backend()->detach(m);
  if (m->owns_weights) free(m->weights);
  free(m->arena);
  memset(m, 0, sizeof *m);
}

/* ---- weights ------------------------------------------------------------------------------ */

static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
  size_t o = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < ndim && o < n; i++) o += (size_t)snprintf(buf + o, n - o, i ? ", %lld" : "%lld", (long long)shape[i]);
  if (o < n) snprintf(buf + o, n - o, "]");
}

static int is_float(st_dtype d) { return d == ST_F32 || d == ST_F16 || d == ST_BF16 || d == ST_F64; }

static const ditc_weight_spec *find_spec(const ditc_variant *v, const char *name) {
  for (int i = 0; i < v->n_weights; i++)
    if (strcmp(v->weights[i].name, name) == 0) return &v->weights[i];
  return NULL;
}

ditc_status model_load_weights(ditc_model *m, const char *path, ditc_err *err) {
  const ditc_variant *v = m->v;
  st_file f;
  ditc_status s = st_open(&f, path, err);
  if (s) return s;
  char want[128], got[128];
  for (int i = 0; i < f.count && !s; i++) {
    if (!find_spec(v, f.tensors[i].name))
      s = ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' is not part of %s/%s (wrong checkpoint?)", path,
                    f.tensors[i].name, v->family, v->name);
  }
  for (int i = 0; i < v->n_weights && !s; i++) {
    const ditc_weight_spec *w = &v->weights[i];
    const st_tensor *t = st_find(&f, w->name);
    if (!t) {
      s = ditc_fail(err, DITC_EINVAL, "%s: missing tensor '%s' (%s/%s needs %d tensors)", path, w->name,
                    v->family, v->name, v->n_weights);
      break;
    }
    if (!is_float(t->dtype)) {
      s = ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has dtype %s, expected a float tensor (F32, BF16 or F16)",
                    path, w->name, st_dtype_name(t->dtype));
      break;
    }
    int same = t->ndim == w->ndim;
    for (int k = 0; same && k < w->ndim; k++) same = t->shape[k] == w->shape[k];
    if (!same) {
      shape_str(want, sizeof want, w->ndim, w->shape);
      shape_str(got, sizeof got, t->ndim, t->shape);
      s = ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has shape %s, %s/%s expects %s", path, w->name, got,
                    v->family, v->name, want);
    }
  }
  for (int i = 0; i < v->n_weights && !s; i++) { /* all checks passed: convert, finiteness checked */
    const ditc_weight_spec *w = &v->weights[i];
    const st_tensor *t = st_find(&f, w->name);
    float *dst = m->weights + w->offset;
    for (int64_t k = 0; k < w->elems; k++) {
      const float x = t->dtype == ST_F32 ? ((const float *)(const void *)t->data)[k] : (float)st_get(t, k);
      if (!isfinite(x)) {
        s = ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' holds a non-finite value (%g) at element %lld", path,
                      w->name, (double)x, (long long)k);
        break;
      }
      dst[k] = x;
    }
  }
  st_close(&f);
  return s;
}

void model_random_weights(ditc_model *m, uint64_t seed) {
  const ditc_variant *v = m->v;
  for (int i = 0; i < v->n_weights; i++) {
    const ditc_weight_spec *w = &v->weights[i];
    float *dst = m->weights + w->offset;
    const size_t len = strlen(w->name);
    const int is_freqs = len >= 5 && strcmp(w->name + len - 5, "freqs") == 0;
    if (is_freqs) { /* rotary frequency table: a fixed function of the head dim */
      for (int64_t k = 0; k < w->elems; k++) dst[k] = 1.0f / powf(10000.0f, (float)(2 * k) / (float)(2 * w->elems));
      continue;
    }
    rng_normal(dst, w->elems, seed * 1000003u + (uint64_t)i);
    const int norm = len >= 11 && strstr(w->name, "norm.weight") != NULL;
    int64_t fan_in = 1;
    for (int k = 1; k < w->ndim; k++) fan_in *= w->shape[k];
    const float std = w->ndim >= 2 ? fminf(0.2f, fmaxf(0.02f, 1.0f / sqrtf((float)fan_in))) : 0.02f;
    for (int64_t k = 0; k < w->elems; k++) dst[k] = norm ? 1.0f + 0.1f * dst[k] : std * dst[k];
  }
}

/* ---- inputs ------------------------------------------------------------------------------- */

/* Copies a float tensor (any float dtype) into dst, rejecting NaN/Inf. */
static ditc_status copy_float(float *dst, const st_tensor *t, const char *path, ditc_err *err) {
  if (!is_float(t->dtype))
    return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has dtype %s, expected F32, BF16 or F16", path, t->name,
                     st_dtype_name(t->dtype));
  for (int64_t k = 0; k < t->numel; k++) {
    const double x = st_get(t, k);
    if (!isfinite(x))
      return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' holds a non-finite value (%g) at element %lld", path,
                       t->name, x, (long long)k);
    dst[k] = (float)x;
  }
  return DITC_OK;
}

static ditc_status expect_shape(const st_tensor *t, int ndim, const int64_t *shape, const char *path, ditc_err *err) {
  int same = t->ndim == ndim;
  for (int k = 0; same && k < ndim; k++) same = t->shape[k] == shape[k];
  if (same) return DITC_OK;
  char want[128], got[128];
  shape_str(want, sizeof want, ndim, shape);
  shape_str(got, sizeof got, t->ndim, t->shape);
  return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has shape %s, expected %s", path, t->name, got, want);
}

static const st_tensor *need(const st_file *f, const char *name, const char *path, ditc_err *err, ditc_status *s) {
  const st_tensor *t = st_find(f, name);
  if (!t) *s = ditc_fail(err, DITC_EINVAL, "%s: missing tensor '%s'", path, name);
  return t;
}

/* Text [rows, L, Cc] (a [rows, 1, L, Cc] tensor is accepted too) into dst [Bp, L, Cc]: rows
 * row0 .. row0 + Bp - 1 of the file tensor. */
static ditc_status load_text(ditc_model *m, const st_tensor *t, int rows, int row0, int64_t dst_off,
                             const char *path, ditc_err *err) {
  const ditc_variant *v = m->v;
  const int64_t s4[4] = {rows, 1, v->L, v->Cc}, s3[3] = {rows, v->L, v->Cc};
  ditc_status s = expect_shape(t, t->ndim == 3 ? 3 : 4, t->ndim == 3 ? s3 : s4, path, err);
  if (s) return s;
  float *tmp = malloc((size_t)t->numel * sizeof(float)); /* input loading, before the step loop */
  if (!tmp) return ditc_fail(err, DITC_ENOMEM, "out of memory reading %s", path);
  s = copy_float(tmp, t, path, err);
  if (!s) memcpy(F32(m, dst_off), tmp + (int64_t)row0 * v->L * v->Cc, (size_t)v->Bp * v->L * v->Cc * sizeof(float));
  free(tmp);
  return s;
}

/* Mask [Bp, L] of 0/1 into dst (int32); t == NULL means every token is valid. */
static ditc_status load_mask(ditc_model *m, const st_tensor *t, int64_t dst_off, const char *path, ditc_err *err) {
  const ditc_variant *v = m->v;
  int32_t *dst = (int32_t *)(void *)(m->arena + dst_off);
  if (!t) {
    for (int64_t i = 0; i < (int64_t)v->Bp * v->L; i++) dst[i] = 1;
    return DITC_OK;
  }
  const int64_t shape[2] = {v->Bp, v->L};
  ditc_status s = expect_shape(t, 2, shape, path, err);
  if (s) return s;
  if (is_float(t->dtype))
    return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has dtype %s, expected an integer or bool mask", path, t->name,
                     st_dtype_name(t->dtype));
  for (int b = 0; b < v->Bp; b++) {
    int valid = 0;
    for (int j = 0; j < v->L; j++) {
      const double x = st_get(t, (int64_t)b * v->L + j);
      if (x != 0.0 && x != 1.0)
        return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' must hold 0/1, has %g at [%d, %d]", path, t->name, x, b, j);
      dst[b * v->L + j] = (int32_t)x;
      valid += (int)x;
    }
    if (!valid) return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' row %d has no valid token", path, t->name, b);
  }
  return DITC_OK;
}

/* Reads every conditioning input of the variant from f. In a --forward fixture (prefix != NULL)
 * the text tensor holds the whole CFG batch [B, ...] under the fixture's name; each text input
 * takes its half. */
static ditc_status load_inputs(ditc_model *m, const st_file *f, const char *prefix, const char *path,
                               ditc_err *err) {
  const ditc_variant *v = m->v;
  char name[256];
  ditc_status s = DITC_OK;
  for (int i = 0; i < v->n_inputs && !s; i++) {
    const ditc_input_spec *in = &v->inputs[i];
    const char *base = !prefix ? in->name : in->role == DITC_IN_TEXT ? v->fwd_text : v->fwd_mask;
    const st_tensor *t = NULL;
    if (base) {
      snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", base);
      t = st_find(f, name);
    }
    if (!t && !(in->role == DITC_IN_MASK && (in->optional || (prefix && !v->fwd_mask))))
      return ditc_fail(err, DITC_EINVAL, "%s: missing tensor '%s'", path, base ? name : in->name);
    if (in->role == DITC_IN_MASK) s = load_mask(m, t, in->off, path, err);
    else if (!prefix) s = load_text(m, t, v->Bp, 0, in->off, path, err);
    else { /* the fixture's batch: [cond; uncond] or [uncond; cond] */
      const int first_half = in->half == (v->cond_first ? 0 : 1);
      s = load_text(m, t, v->B, first_half ? 0 : v->Bp, in->off, path, err);
    }
  }
  return s;
}

ditc_status model_load_cond(ditc_model *m, const char *path, ditc_err *err) {
  st_file f;
  ditc_status s = st_open(&f, path, err);
  if (s) return s;
  s = load_inputs(m, &f, NULL, path, err);
  st_close(&f);
  return s;
}

ditc_status model_load_noise(ditc_model *m, const char *path, ditc_err *err) {
  const ditc_variant *v = m->v;
  st_file f;
  ditc_status s = st_open(&f, path, err);
  if (s) return s;
  const st_tensor *t = need(&f, "z0", path, err, &s);
  const int64_t shape[5] = {v->Bp, v->Cin, v->Tx, v->Hx, v->Wx};
  if (!s) s = expect_shape(t, 5, shape, path, err);
  if (!s) s = copy_float(F32(m, v->off_z), t, path, err);
  st_close(&f);
  return s;
}

ditc_status model_load_forward(ditc_model *m, const char *path, const char *prefix, ditc_err *err) {
  const ditc_variant *v = m->v;
  st_file f;
  char name[256];
  ditc_status s = st_open(&f, path, err);
  if (s) return s;
  snprintf(name, sizeof name, "%s%s", prefix, v->fwd_x);
  const st_tensor *t = need(&f, name, path, err, &s);
  const int64_t xs[5] = {v->B, v->Cin, v->Tx, v->Hx, v->Wx};
  if (!s) s = expect_shape(t, 5, xs, path, err);
  if (!s) s = copy_float(F32(m, v->off_x), t, path, err);
  snprintf(name, sizeof name, "%s%s", prefix, v->fwd_t);
  if (!s) t = need(&f, name, path, err, &s);
  const int64_t ts[1] = {v->B};
  if (!s) s = expect_shape(t, 1, ts, path, err);
  if (!s) { /* float or integer timesteps (diffusers schedulers pass int64) */
    float *dst = F32(m, v->off_t);
    for (int b = 0; b < v->B; b++) dst[b] = (float)st_get(t, b);
  }
  if (!s) s = load_inputs(m, &f, prefix, path, err);
  st_close(&f);
  return s;
}
