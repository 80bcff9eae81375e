/* provenance.h: what every output file records about how it was made, as string entries of the
 * safetensors __metadata__: the ditc version, the variant and the hash of its generator inputs,
 * the mode, PAB on/off, the sampler and its steps, and where the noise came from. Only what
 * decides the result (no paths of weights, thread counts or times), so equal runs still give
 * byte-identical files. Not here: writing (safetensors.c). */
#ifndef DITC_PROVENANCE_H
#define DITC_PROVENANCE_H

#include "ditc_abi.h"
#include "options.h"
#include "safetensors.h"

#define DITC_VERSION "0.1.0"
#define PROVENANCE_MAX 10

typedef struct {
  st_meta meta[PROVENANCE_MAX];
  char value[PROVENANCE_MAX][160];
  int n;
} provenance;

/* Fills p for an output of mode "sample" or "forward". */
void provenance_make(provenance *p, const ditc_variant *v, const options *o, const char *mode);

#endif
