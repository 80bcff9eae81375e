/* ranks.h: one generation on one rank, on thread ranks (--ranks P) or as one NCCL rank. Not
 * here: the command line (main.c). */
#ifndef DITC_RANKS_H
#define DITC_RANKS_H

#include "comm.h"
#include "options.h"

/* Runs the generation (or --bench) with the loaded weights; returns the exit status. */
int run_ranks(const options *o, const ditc_variant *v, const float *weights, ditc_comm *nccl, const char *prog);

#endif
