/* options.h: the parsed command line of a fixed-model binary, shared by main.c (which parses and
 * checks it), ranks.c (which runs a generation on one or several ranks) and bench.c. Not here:
 * parsing (main.c). */
#ifndef DITC_OPTIONS_H
#define DITC_OPTIONS_H

typedef struct {
  const char *weights, *cond, *noise, *out, *forward, *call, *dump;
  const char *comm;
  unsigned long long seed, random_seed; /* 0 .. 2^64-1 */
  int has_seed, has_random, pab_on, save_steps, quiet, print_schedule, info, bench, threads, ranks, comm_stats;
  int allow_nonfinite; /* write a result that holds NaN/Inf instead of failing */
  double comm_timeout;
} options;

#endif
