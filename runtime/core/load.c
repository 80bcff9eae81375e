/* load.c: the checks and copies every loader of user files shares (load.h). Not here: what a
 * loader reads (model.c: weights and a network's io; denoiser/inputs.c: conditioning, noise and
 * forward fixtures). */
#include "load.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

void load_shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
  size_t o = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < ndim && o < n; i++) o += (size_t)snprintf(buf + o, n - o, i ? ", %lld" : "%lld", (long long)shape[i]);
  if (o < n) snprintf(buf + o, n - o, "]");
}

int load_is_float(st_dtype d) { return d == ST_F32 || d == ST_F16 || d == ST_BF16 || d == ST_F64; }

/* Element k of a float tensor as the float the model stores: F32 copied bit for bit (the data
 * section need not be 4-byte aligned), the others narrowed (F64 may overflow to Inf). */
float load_elem_f32(const st_tensor *t, int64_t k) {
  if (t->dtype != ST_F32) return (float)st_get(t, k);
  float x;
  memcpy(&x, t->data + (size_t)k * sizeof x, sizeof x);
  return x;
}

/* The message for a value x (in the file) that is not finite as a float, element k of t. */
ditc_status load_not_finite(const st_tensor *t, int64_t k, const char *path, ditc_err *err) {
  char nb[DITC_SHOWN_MAX];
  const double x = st_get(t, k);
  if (!isfinite(x))
    return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' holds a non-finite value (%g) at element %lld", path,
                     SHOWN(nb, t->name), x, (long long)k);
  return ditc_fail(err, DITC_EINVAL,
                   "%s: tensor '%s' holds %g at element %lld, beyond the float range (non-finite as F32)", path,
                   SHOWN(nb, t->name), x, (long long)k);
}

/* A float tensor (any float dtype) whose every value is finite as a float (checked after the
 * narrowing: an F64 1e39 is not). Reads the data: runs under st_guarded. */
ditc_status load_check_float(const st_tensor *t, const char *path, ditc_err *err) {
  char nb[DITC_SHOWN_MAX];
  if (!load_is_float(t->dtype))
    return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has dtype %s, expected F32, BF16 or F16", path,
                     SHOWN(nb, t->name), st_dtype_name(t->dtype));
  for (int64_t k = 0; k < t->numel; k++)
    if (!isfinite(load_elem_f32(t, k))) return load_not_finite(t, k, path, err);
  return DITC_OK;
}

/* Elements [k0, k0 + n) of a checked float tensor into dst[n]. */
void load_copy_float(float *dst, const st_tensor *t, int64_t k0, int64_t n) {
  for (int64_t k = 0; k < n; k++) dst[k] = load_elem_f32(t, k0 + k);
}

ditc_status load_expect_shape(const st_tensor *t, int ndim, const int64_t *shape, const char *path, ditc_err *err) {
  int same = t->ndim == ndim;
  for (int k = 0; same && k < ndim; k++) same = t->shape[k] == shape[k];
  if (same) return DITC_OK;
  char want[128], got[128], nb[DITC_SHOWN_MAX];
  load_shape_str(want, sizeof want, ndim, shape);
  load_shape_str(got, sizeof got, t->ndim, t->shape);
  return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has shape %s, expected %s", path, SHOWN(nb, t->name), got,
                   want);
}

const st_tensor *load_need(const st_file *f, const char *name, const char *path, ditc_err *err, ditc_status *s) {
  char nb[DITC_SHOWN_MAX];
  const st_tensor *t = st_find(f, name);
  if (!t) *s = ditc_fail(err, DITC_EINVAL, "%s: missing tensor '%s'", path, SHOWN(nb, name));
  return t;
}

/* Opens path and runs fn over it under st_guarded. */
ditc_status load_file(ditc_model *m, const char *path, const char *prefix,
                             ditc_status (*fn)(void *ctx, ditc_err *err), ditc_err *err) {
  st_file f;
  ditc_status s = st_open(&f, path, err);
  if (s) return s;
  load_ctx c = {m, &f, path, prefix};
  s = st_guarded(&f, fn, &c, err);
  st_close(&f);
  return s;
}
