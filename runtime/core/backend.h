/* backend.h: the device side of a run, chosen at link time: where the arena and weights the
 * generated code reads live (host memory for the CPU backend, device memory for CUDA), the
 * copies of io regions between the host arena, where loaders and the sampler work, and the
 * device, and how one step runs (a direct call on the CPU; on CUDA the replay of the graph
 * captured for the step's PAB row pattern). backend_cpu.c is the trivial one; cuda/backend.c
 * implements CUDA. Not here: the ops. */
#ifndef DITC_BACKEND_H
#define DITC_BACKEND_H

#include <stddef.h>

#include "model.h"

typedef struct {
  const char *name;
  /* makes m->ex address device copies of the weights and a device arena (once, before the
   * step loop) */
  ditc_status (*attach)(ditc_model *m, ditc_err *err);
  /* host arena bytes [off, off + bytes) -> device, in stream order */
  void (*to_device)(ditc_model *m, int64_t off, size_t bytes);
  /* device -> host arena, waiting for the stream */
  void (*to_host)(ditc_model *m, int64_t off, size_t bytes);
  /* one step with PAB row `row` of pattern `pattern` (v->denoiser->pab_pattern; v->denoiser->n_patterns is the
   * all-compute row of a PAB-off run), in stream order */
  void (*step)(ditc_model *m, int pattern, const unsigned char *row);
  /* device bytes in use now (CUDA: all of it was allocated at attach, so this is the peak); 0 on
   * the CPU */
  int64_t (*device_bytes)(ditc_model *m);
  /* The sampler on the device, so the latent stays there between steps (NULL on the CPU, where
   * sampler.c does this work on the host arena): before step i, the CFG batch x and timesteps t
   * from z; after it, guidance and the scheduler update of z (and its state); and waiting for
   * the stream. *n_ets counts PNDM's stored outputs, as on the host. */
  void (*prepare)(ditc_model *m, int i);
  void (*update)(ditc_model *m, int i, int *n_ets);
  void (*sync)(ditc_model *m);
  void (*detach)(ditc_model *m);
} ditc_backend_ops;

const ditc_backend_ops *ditc_backend(void);

#endif
