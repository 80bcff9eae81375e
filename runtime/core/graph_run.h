/* graph_run.h: runs a generated network by its io table alone: every input read from one
 * safetensors file by name, dtype and shape (an I32 input checked against its value range), the
 * phases called in order, every output collected by name. An io tensor marked batched takes any
 * number of rows N in the file: the phases run once per shape[0] rows (the last call's missing
 * rows zero-filled, their outputs dropped) and the outputs have N rows. Not here: a denoiser's
 * sampling (denoiser/), the command line (network/main.c). */
#ifndef DITC_GRAPH_RUN_H
#define DITC_GRAPH_RUN_H

#include "ditc_status.h"
#include "model.h"
#include "safetensors.h"

enum { GRAPH_MAX_OUT = 64 }; /* outputs of one network */

typedef struct {
  int n;                           /* outputs */
  st_out_tensor t[GRAPH_MAX_OUT];  /* names and shapes of the io table's outputs (N rows if batched) */
  void *data[GRAPH_MAX_OUT];       /* owned copies */
  int64_t rows;                    /* N: the rows of the batched inputs (the io shape's otherwise) */
  int calls;                       /* how many times the phases ran */
} graph_outputs;

/* Checks every input of path against the io table before any call (a one-line error naming the
 * file, tensor and element), then runs the phases over all rows. progress: print a line per call
 * on stderr when more than one call runs. */
ditc_status graph_run_file(ditc_model *m, const char *path, int progress, graph_outputs *out, ditc_err *err);
void graph_outputs_free(graph_outputs *out);

#endif
