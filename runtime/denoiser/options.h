/* options.h: the parsed command line of a fixed-model binary, shared by main.c (which parses and
 * checks it), ranks.c (which runs a generation on one or several ranks) and bench.c. Not here:
 * parsing (main.c). */
#ifndef DITC_OPTIONS_H
#define DITC_OPTIONS_H

#include "ditc_status.h"

typedef struct {
  const char *weights, *cond, *noise, *out, *forward, *call, *dump;
  const char *comm;
  unsigned long long seed, random_seed; /* 0 .. 2^64-1 */
  int has_seed, has_random, pab_on, save_steps, quiet, print_schedule, info, bench, threads, ranks, comm_stats;
  int allow_nonfinite; /* write a result that holds NaN/Inf instead of failing */
  double comm_timeout;
  /* a pipeline's denoise phase (runtime/pipeline/): the conditioning from memory (model_put_cond's
   * block) instead of --cond, the final latent (and with save_steps every step's) copied into the
   * caller's buffers instead of an --out file, each global rank's arena (NULL: allocated), and the
   * error line kept in err_out instead of printed */
  const unsigned char *cond_mem;
  float *final_out, *latents_out;
  unsigned char *const *arenas;
  ditc_err *err_out;
} options;

#endif
