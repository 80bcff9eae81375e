/* ditc_abi.h: the one versioned interface between generated code (out/<family>/<variant>/) and
 * the runtime. A variant exports one `const ditc_variant <symbol>_variant`; the runtime reads
 * its dims, baked sampler and PAB tables, weight manifest and arena plan, and calls its
 * prologue (once per generation) and step (once per sampler step) functions.
 * Dimension vocabulary: runtime/README.md. Not here: op signatures (runtime/cpu/ops.h). */
#ifndef DITC_ABI_H
#define DITC_ABI_H

#include <stdint.h>

#define DITC_ABI_VERSION 1

/* A PAB table cell: low 2 bits the op, the rest the cache slot index of the module. */
enum { DITC_PAB_COMPUTE = 0, DITC_PAB_WRITE = 1, DITC_PAB_REUSE = 2 };
#define DITC_PAB_OP(cell) ((cell) & 3)
#define DITC_PAB_SLOT(cell) ((cell) >> 2)

/* A checkpoint tensor the variant reads: name exactly as upstream, shape, and its offset (in
 * elements) in the backend's weight buffer. */
typedef struct {
  const char *name;
  int ndim;
  int64_t shape[5];
  int64_t offset;
  int64_t elems;
} ditc_weight_spec;

struct ditc_dump;

/* What generated code runs against: the weight buffer, the planned arena, and an optional
 * intermediate-dump sink (only used when built with DITC_DUMP_ENABLED). */
typedef struct {
  const float *weights;
  unsigned char *arena;
  struct ditc_dump *dump;
} ditc_exec;

typedef struct {
  int abi_version;
  const char *family, *name, *symbol, *dtype, *inputs_hash;

  /* dims: B = 2 * Bp (CFG), latent [Bp, Cin, Tx, Hx, Wx], model output [B, Cout, Tx, Hx, Wx],
   * text [Bp, L, Cc] */
  int Bp, B, Cin, Cout, Tx, Hx, Wx, L, Cc;

  /* sampler, one entry per step */
  const char *sampler;
  int steps;
  float cfg_scale;
  int cond_first;             /* CFG batch order: 1 = [cond; uncond], 0 = [uncond; cond] */
  const float *t_sched;       /* [K] sampler timestep (fp32) */
  const float *t_embed;       /* [K] value fed to the timestep embedder */
  const float *dt;            /* [K] RFLOW update dt */
  const unsigned char *update;/* [K] 0: the step's update is discarded (x_mask False) */
  const int *tau;             /* [K] int timestep PAB sees */

  /* PAB: n_modules broadcastable modules in execution order; table [K][n_modules] */
  int n_modules;
  const char *const *module_names;
  const char *const *module_kinds; /* "spatial" | "temporal" | "cross" | "mlp" */
  const double *module_flops;      /* [n_modules] FLOPs one compute of the module costs */
  double step_flops;               /* FLOPs of one all-compute step */
  const unsigned char *pab_table;

  /* memory and weights */
  int64_t arena_bytes;
  int64_t weight_elems;
  int n_weights;
  const ditc_weight_spec *weights;

  /* arena byte offsets of the io buffers */
  int64_t off_x, off_t, off_y, off_mask, off_out, off_z;

  /* names of inputs in user files */
  const char *cond_text, *cond_mask;                        /* --cond */
  const char *fwd_x, *fwd_t, *fwd_text, *fwd_mask;          /* --forward fixture */

  const char *schedule_text;  /* schedule.txt, for --print-schedule */

  void (*prologue)(const ditc_exec *ex);
  void (*step)(const ditc_exec *ex, const unsigned char *row);
} ditc_variant;

/* The variant a binary was built for (defined by the generated entry.c). */
const ditc_variant *ditc_variant_get(void);

/* Dump hook for intermediates; compiled in only with -DDITC_DUMP_ENABLED. */
void ditc_dump_tensor(const ditc_exec *ex, const char *name, const void *data, int ndim,
                      const int64_t *shape);
#ifdef DITC_DUMP_ENABLED
#define DITC_DUMP(ex, name, ptr, ndim, ...)                            \
  do {                                                                 \
    const int64_t ditc_dump_shape_[] = {__VA_ARGS__};                  \
    ditc_dump_tensor((ex), (name), (ptr), (ndim), ditc_dump_shape_);   \
  } while (0)
#else
#define DITC_DUMP(ex, name, ptr, ndim, ...) ((void)0)
#endif

#endif
