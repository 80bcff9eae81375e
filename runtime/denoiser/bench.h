/* bench.h: --bench: the sampler timed with PAB off and on. Not here: the ranks (ranks.c). */
#ifndef DITC_BENCH_H
#define DITC_BENCH_H

#include "model.h"

/* Samples from the noise at off_z with PAB off and on; rank 0 (print) reports, the others take part. */
int bench(ditc_model *m, int print);

#endif
