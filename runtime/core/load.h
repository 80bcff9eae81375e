/* load.h: what the loaders of user files share: the one context a loader runs under
 * (st_guarded over an open file), shape and dtype checks that fail with one line naming the file
 * and tensor, float checks after narrowing (F64 beyond float is not finite), and copies into the
 * arena. Not here: which tensors a loader reads (model.c, denoiser/inputs.c). */
#ifndef DITC_LOAD_H
#define DITC_LOAD_H

#include <stdint.h>

#include "ditc_status.h"
#include "model.h"
#include "safetensors.h"

/* An fp32 view of the host arena at byte offset off. */
#define MODEL_F32(m, off) ((float *)(void *)((m)->arena + (off)))
/* name escaped for a message into a DITC_SHOWN_MAX buffer (ditc_shown) */
#define SHOWN(buf, name) ditc_shown(buf, sizeof buf, name, strlen(name))

/* What a loader's callback gets: the model, the open file, its path, and the tensor-name prefix
 * of a forward fixture (NULL elsewhere). */
typedef struct {
  ditc_model *m;
  const st_file *f;
  const char *path, *prefix;
} load_ctx;

/* Opens path and runs fn over a load_ctx under st_guarded (the file may shrink under the mapping). */
ditc_status load_file(ditc_model *m, const char *path, const char *prefix,
                      ditc_status (*fn)(void *ctx, ditc_err *err), ditc_err *err);

/* "[a, b, c]" into buf[n]. */
void load_shape_str(char *buf, size_t n, int ndim, const int64_t *shape);
int load_is_float(st_dtype d);
/* Element k of a float tensor as the float the model stores (F32 bit for bit, others narrowed). */
float load_elem_f32(const st_tensor *t, int64_t k);
/* The message for element k of t, not finite as a float. */
ditc_status load_not_finite(const st_tensor *t, int64_t k, const char *path, ditc_err *err);
/* A float tensor whose every value is finite as a float. Reads the data: under st_guarded. */
ditc_status load_check_float(const st_tensor *t, const char *path, ditc_err *err);
/* Elements [k0, k0 + n) of a checked float tensor into dst[n]. */
void load_copy_float(float *dst, const st_tensor *t, int64_t k0, int64_t n);
ditc_status load_expect_shape(const st_tensor *t, int ndim, const int64_t *shape, const char *path, ditc_err *err);
/* The tensor `name` of f, or NULL with *s set to the error naming it. */
const st_tensor *load_need(const st_file *f, const char *name, const char *path, ditc_err *err, ditc_status *s);

#endif
