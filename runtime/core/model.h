/* model.h: a loaded fixed-model instance: the variant descriptor, its fp32 weight buffer and
 * its arena, both allocated once before any step runs; the checkpoint loader and the io table's
 * tensors. Not here: a denoiser's input loaders (denoiser/inputs.h),
 * the sampler loop (sampler.h) or a command line. */
#ifndef DITC_MODEL_H
#define DITC_MODEL_H

#include "ditc_abi.h"
#include "ditc_status.h"
#include "safetensors.h"

typedef struct {
  const ditc_variant *v;
  float *weights;        /* [weight_elems] fp32 */
  unsigned char *arena;  /* [host_bytes] of the arena (all of it on the CPU), 256-byte aligned, zeroed */
  int owns_weights, owns_arena; /* 0: the caller's buffers (model_init_view) */
  ditc_exec ex;
  ditc_phase_fn prologue, step; /* the denoiser's phases (ditc_phase_find) */
} ditc_model;

/* Allocates the weight buffer and the arena (the only allocations of a run). */
ditc_status model_init(ditc_model *m, const ditc_variant *v, ditc_err *err);
/* The weight buffer, and the arena only when with_arena (ranks bring their own: model_init_rank). */
ditc_status model_init_weights(ditc_model *m, const ditc_variant *v, int with_arena, ditc_err *err);
/* A model over the caller's weight buffer and arena (a pipeline's phases share one of each);
 * model_free frees neither. Checks the descriptor as model_init does. */
ditc_status model_init_view(ditc_model *m, const ditc_variant *v, float *weights, unsigned char *arena, ditc_err *err);
/* Points the model's execution at the backend's copies (a no-op on the CPU; CUDA uploads the
 * loaded weights and allocates the device arena). model_init_rank does it itself. */
ditc_status model_attach(ditc_model *m, ditc_err *err);
/* Another rank of the same process: its own arena over shared, read-only weights; arena: the
 * caller's [host_bytes] (a pipeline allocates its ranks' before the first phase; zeroed here), or
 * NULL to allocate one. */
ditc_status model_init_rank(ditc_model *m, const ditc_variant *v, const float *weights, int rank,
                            struct ditc_comm *comm, int cfg_rank, struct ditc_comm *cfg_comm, unsigned char *arena,
                            ditc_err *err);
void model_free(ditc_model *m);

/* Loads the checkpoint at path: one safetensors file, a sharded checkpoint's index
 * (model.safetensors.index.json) or a folder holding either (checkpoint.h). Checks every tensor of
 * every shard against the manifest (names, shapes, float dtypes, no extras, no NaN/Inf) before
 * converting any of it into the weight buffer. */
ditc_status model_load_weights(ditc_model *m, const char *path, ditc_err *err);
/* The checks of model_load_weights that read no tensor data: the files of the checkpoint at path and
 * every tensor's name, dtype and shape against v's manifest (a run checks every part it will load
 * before its first phase). */
ditc_status model_check_weights(const ditc_variant *v, const char *path, ditc_err *err);
/* Seeded random weights of a sensible scale, for benchmarks only (never a real model). */
void model_random_weights(ditc_model *m, uint64_t seed);

/* The safetensors dtype and element bytes of an io entry's DITC_DT_*. */
st_dtype ditc_io_st_dtype(int dt);
size_t ditc_io_elem_bytes(int dt);

/* An output tensor named `out_name` holding the host arena's copy of io entry `io_name` (its
 * shape and element type from the io table). */
st_out_tensor model_io_tensor(const ditc_model *m, const char *io_name, const char *out_name);

#endif
