/* ranks.h: one generation on one rank, on thread ranks (--ranks P) or as one NCCL rank. Not
 * here: the command line (main.c). */
#ifndef DITC_RANKS_H
#define DITC_RANKS_H

#include "comm.h"
#include "ditc_abi.h"
#include "options.h"

/* Runs the generation (or --bench) with the loaded weights; returns the exit status. */
int run_ranks(const options *o, const ditc_variant *v, const float *weights, ditc_comm *nccl, const char *prog);

/* An NCCL rank whose set-up failed before run_ranks (its weights: err) takes part in the world's
 * start-up as a failed rank, so every rank stops at once; prints err if it is the first error.
 * Returns the exit status (1). */
int run_ranks_failed(const options *o, const ditc_variant *v, ditc_comm *nccl, const ditc_err *err,
                     const char *prog);

#endif
