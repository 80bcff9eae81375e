/* graph_run.c: a network run by its io table (graph_run.h). The inputs are checked and staged in
 * host memory first (every check before any copy, all reads of the file under st_guarded), then
 * the phases run once per call's rows. Allocation happens before the first call only. */
#include "graph_run.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "load.h"

enum { MAX_IN = 64 };

/* One input of the io table, staged: rows x row elements of float or int32. */
typedef struct {
  const ditc_io *io;
  const st_tensor *t;
  int64_t row_elems; /* elements of one row (batched) or of the whole tensor */
  void *data;
} staged;

typedef struct {
  ditc_model *m;
  const st_file *f;
  const char *path;
  staged in[MAX_IN];
  int n_in;
  int64_t rows; /* N of the batched inputs, -1 while none seen */
} run_ctx;

static int64_t elems_from(const ditc_io *e, int k) {
  int64_t n = 1;
  for (int i = k; i < e->ndim; i++) n *= e->shape[i];
  return n;
}

/* The shape of t against e: exact, or (batched) any number of rows >= 1 with the rest exact. */
static ditc_status check_shape(run_ctx *c, const ditc_io *e, const st_tensor *t, ditc_err *err) {
  if (!e->batched) return load_expect_shape(t, e->ndim, e->shape, c->path, err);
  int same = t->ndim == e->ndim && t->shape[0] >= 1;
  for (int k = 1; same && k < e->ndim; k++) same = t->shape[k] == e->shape[k];
  char want[160], got[128], nb[DITC_SHOWN_MAX];
  if (!same) {
    load_shape_str(want, sizeof want, e->ndim, e->shape);
    load_shape_str(got, sizeof got, t->ndim, t->shape);
    return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has shape %s, expected %s with any number of rows (%s)",
                     c->path, SHOWN(nb, t->name), got, want, e->dims);
  }
  if (c->rows >= 0 && t->shape[0] != c->rows)
    return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has %lld rows, the other batched inputs %lld", c->path,
                     SHOWN(nb, t->name), (long long)t->shape[0], (long long)c->rows);
  c->rows = t->shape[0];
  return DITC_OK;
}

/* An I32 input: an integer tensor whose values lie in [lo, hi] (or int32 when lo > hi). */
static ditc_status check_ints(run_ctx *c, const ditc_io *e, const st_tensor *t, ditc_err *err) {
  char nb[DITC_SHOWN_MAX];
  if (load_is_float(t->dtype))
    return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has dtype %s, expected an integer tensor", c->path,
                     SHOWN(nb, t->name), st_dtype_name(t->dtype));
  const double lo = e->lo <= e->hi ? (double)e->lo : -2147483648.0, hi = e->lo <= e->hi ? (double)e->hi : 2147483647.0;
  for (int64_t k = 0; k < t->numel; k++) {
    const double x = st_get(t, k);
    if (x < lo || x > hi)
      return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' holds %.0f at element %lld, outside [%.0f, %.0f]", c->path,
                       SHOWN(nb, t->name), x, (long long)k, lo, hi);
  }
  return DITC_OK;
}

/* Checks every input, then stages each (runs under st_guarded). */
static ditc_status stage(void *arg, ditc_err *err) {
  run_ctx *c = arg;
  const ditc_variant *v = c->m->v;
  ditc_status s = DITC_OK;
  for (int i = 0; i < v->n_io && !s; i++) {
    const ditc_io *e = &v->io[i];
    if (e->role != DITC_IO_INPUT) continue;
    DITC_CHECK(c->n_in < MAX_IN);
    const st_tensor *t = load_need(c->f, e->name, c->path, err, &s);
    if (!s) s = check_shape(c, e, t, err);
    if (!s) s = e->dtype == DITC_DT_F32 ? load_check_float(t, c->path, err) : check_ints(c, e, t, err);
    c->in[c->n_in++] = (staged){e, t, elems_from(e, e->batched ? 1 : 0), NULL};
  }
  for (int i = 0; i < c->n_in && !s; i++) {
    staged *st = &c->in[i];
    st->data = malloc((size_t)st->t->numel * 4);
    if (!st->data) return ditc_fail(err, DITC_ENOMEM, "out of memory staging input '%s'", st->io->name);
    if (st->io->dtype == DITC_DT_F32) load_copy_float(st->data, st->t, 0, st->t->numel);
    else
      for (int64_t k = 0; k < st->t->numel; k++) ((int32_t *)st->data)[k] = (int32_t)st_get(st->t, k);
  }
  return s;
}

void graph_outputs_free(graph_outputs *out) {
  for (int i = 0; i < out->n; i++) free(out->data[i]);
  memset(out, 0, sizeof *out);
}

ditc_status graph_run_file(ditc_model *m, const char *path, int progress, graph_outputs *out, ditc_err *err) {
  const ditc_variant *v = m->v;
  memset(out, 0, sizeof *out);
  run_ctx c = {.m = m, .path = path, .rows = -1};
  st_file f;
  ditc_status s = st_open(&f, path, err);
  if (s) return s;
  c.f = &f;
  s = st_guarded(&f, stage, &c, err);
  st_close(&f);
  /* rows per call: the batched io's leading dim (the same for all of them: one dim of the program) */
  int64_t per_call = 0;
  for (int i = 0; i < v->n_io; i++)
    if (v->io[i].batched) per_call = v->io[i].shape[0];
  const int64_t rows = c.rows >= 0 ? c.rows : per_call;
  const int64_t calls = per_call > 0 && c.rows >= 0 ? (rows + per_call - 1) / per_call : 1;
  for (int i = 0; i < v->n_io && !s; i++) { /* the outputs, allocated before the first call */
    const ditc_io *e = &v->io[i];
    if (e->role != DITC_IO_OUTPUT) continue;
    DITC_CHECK(out->n < GRAPH_MAX_OUT && e->ndim <= ST_MAX_DIMS);
    st_out_tensor *t = &out->t[out->n];
    *t = (st_out_tensor){.name = e->name, .dtype = ditc_io_st_dtype(e->dtype), .ndim = e->ndim};
    for (int k = 0; k < e->ndim; k++) t->shape[k] = e->shape[k];
    if (e->batched) t->shape[0] = rows;
    const size_t bytes = (size_t)(e->batched ? rows * elems_from(e, 1) : elems_from(e, 0)) * ditc_io_elem_bytes(e->dtype);
    out->data[out->n] = malloc(bytes ? bytes : 4);
    if (!out->data[out->n]) s = ditc_fail(err, DITC_ENOMEM, "out of memory for output '%s' (%zu bytes)", e->name, bytes);
    t->data = out->data[out->n++];
  }
  const ditc_backend_ops *be = ditc_backend();
  for (int64_t call = 0; call < calls && !s; call++) {
    const int64_t r0 = call * per_call, n = rows - r0 < per_call ? rows - r0 : per_call;
    for (int i = 0; i < c.n_in; i++) {
      const staged *st = &c.in[i];
      unsigned char *dst = m->arena + st->io->off;
      if (st->io->batched) { /* this call's rows, the missing ones zero */
        memcpy(dst, (const char *)st->data + (size_t)(r0 * st->row_elems) * 4, (size_t)(n * st->row_elems) * 4);
        memset(dst + (size_t)(n * st->row_elems) * 4, 0, (size_t)((per_call - n) * st->row_elems) * 4);
      } else {
        memcpy(dst, st->data, (size_t)st->row_elems * 4);
      }
      be->to_device(m, st->io->off, (size_t)st->io->bytes);
    }
    for (int p = 0; p < v->n_phases; p++) v->phases[p].run(&m->ex, NULL);
    for (int i = 0, o = 0; i < v->n_io; i++) {
      const ditc_io *e = &v->io[i];
      if (e->role != DITC_IO_OUTPUT) continue;
      be->to_host(m, e->off, (size_t)e->bytes);
      const int64_t re = elems_from(e, e->batched ? 1 : 0);
      const size_t each = ditc_io_elem_bytes(e->dtype);
      char *dst = (char *)out->data[o++] + (e->batched ? (size_t)(r0 * re) * each : 0);
      memcpy(dst, m->arena + e->off, (size_t)((e->batched ? n : 1) * re) * each);
    }
    if (progress && calls > 1) fprintf(stderr, "%s/%s: call %lld of %lld (rows %lld-%lld)\n", v->family, v->name,
                                       (long long)call + 1, (long long)calls, (long long)r0, (long long)(r0 + n - 1));
  }
  for (int i = 0; i < c.n_in; i++) free(c.in[i].data);
  out->rows = rows;
  out->calls = (int)calls;
  if (s) graph_outputs_free(out);
  return s;
}
