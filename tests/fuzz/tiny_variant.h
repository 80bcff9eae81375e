/* tiny_variant.h: a hand-written ditc_variant small enough to drive the model's loaders from the
 * fuzzers and tests/loader_test.c. Its facts, for writing files it accepts:
 *   weights  "blk.weight" [3, 2] and "blk.bias" [3], float dtypes
 *   cond     "y" [1, 3, 2] (or [1, 1, 3, 2]) float, "mask" [1, 3] integer/bool 0/1 (optional)
 *   noise    "z0" [1, 2, 1, 2, 2] float
 *   forward  PREFIX "x" [2, 2, 1, 2, 2] float, "timestep" [2], "y" [2, 3, 2], "mask" [1, 3]
 * Not a model: it has no forward code (prologue and step are NULL). */
#ifndef DITC_TINY_VARIANT_H
#define DITC_TINY_VARIANT_H

#include "ditc_abi.h"

extern const ditc_variant tiny_variant;

#endif
