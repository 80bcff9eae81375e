/* safetensors.h: read (mmap, fully validated header) and write safetensors files.
 * Reading validates the 8-byte header length, the JSON header, every dtype, shape and
 * data_offsets pair (in bounds, sizes consistent, no overlaps) before anything is used; reads of
 * the data (st_guarded) survive the file shrinking under them. Names in messages are escaped
 * (ditc_shown).
 * Not here: checking a file against a model's manifest (loader.c does that). */
#ifndef DITC_SAFETENSORS_H
#define DITC_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "ditc_status.h"

#define ST_MAX_DIMS 8

typedef enum {
  ST_F64, ST_F32, ST_F16, ST_BF16, ST_I64, ST_I32, ST_I16, ST_I8, ST_U8, ST_BOOL, ST_DTYPE_COUNT
} st_dtype;

typedef struct {
  char *name;                 /* tensor name, NUL-terminated */
  st_dtype dtype;
  int ndim;
  int64_t shape[ST_MAX_DIMS];
  int64_t numel;
  const unsigned char *data;  /* points into the mapping */
  size_t nbytes;
} st_tensor;

typedef struct {
  char *path;
  void *map;
  size_t map_size;
  int count;
  st_tensor *tensors;         /* sorted by name */
} st_file;

/* Maps and validates path. On failure returns non-zero and fills err with a message that
 * names the file (and the tensor, where one is at fault); *f is left empty. */
ditc_status st_open(st_file *f, const char *path, ditc_err *err);
void st_close(st_file *f);

/* Runs fn(ctx, err) and returns its status, unless the file shrinks while fn reads f's
 * mapping (a `cp new old` while it loads): then fn is abandoned where it was and the result is
 * DITC_EIO, "<path>: changed while being read". fn reads the mapping on the calling thread only,
 * owns no resources across its reads (it is left by a long jump), and calls no st_guarded.
 * The first call installs a process-wide SIGBUS handler that stays; it passes every fault
 * outside a guarded mapping on to the handler it replaced. Reading a tensor's data (t->data,
 * st_get) outside st_guarded is fine for files nothing rewrites. */
ditc_status st_guarded(const st_file *f, ditc_status (*fn)(void *ctx, ditc_err *err), void *ctx,
                       ditc_err *err);

/* The tensor with this name, or NULL. */
const st_tensor *st_find(const st_file *f, const char *name);

const char *st_dtype_name(st_dtype d);
size_t st_dtype_size(st_dtype d);

/* Converts element i of t to double (any dtype). */
double st_get(const st_tensor *t, int64_t i);

/* ---- writing ------------------------------------------------------------------------------ */

typedef struct {
  const char *name;
  st_dtype dtype;             /* ST_F32, ST_I64, ST_I32 or ST_U8 (e.g. frames_u8) */
  int ndim;
  int64_t shape[ST_MAX_DIMS];
  const void *data;           /* numel * dtype size bytes */
} st_out_tensor;

/* Writes the tensors (header keys sorted by name) to path through outfile.h's path (a unique
 * temporary file in the same folder, fsync, rename): on failure nothing is left behind. Check the
 * path with out_check before a long run. */
ditc_status st_write(const char *path, const st_out_tensor *tensors, int count, ditc_err *err);

/* A string entry of the header's __metadata__ (besides "format": "pt"). */
typedef struct {
  const char *key, *value;
} st_meta;

/* st_write with __metadata__ entries, in the given order. */
ditc_status st_write_meta(const char *path, const st_out_tensor *tensors, int count, const st_meta *meta,
                          int n_meta, ditc_err *err);

#endif
