/* outfile.h: the one path every output file of a ditc binary takes (safetensors, and the videos
 * of runtime/video/). Before a run, out_check refuses an output that could destroy something or
 * could not be written at the end: an empty path, anything at
 * the path that is not a regular file (a device node, FIFO, symlink or directory), the same file
 * as an input (st_dev/st_ino, so symlinks and ./ spellings are caught), an existing file this
 * user may not replace (a sticky folder), a folder without write access, or too little free
 * space for the static output size. At the end, out_open creates a unique temporary file in the
 * output's folder (O_CREAT|O_EXCL|O_NOFOLLOW: a name planted there is never followed), and
 * out_commit flushes and fsyncs it, renames it into place and fsyncs the folder; out_abort
 * removes it. A killed run leaves at most its own `OUT.XXXXXX.tmp`, which no later run trips on.
 * Not here: the file formats (safetensors.c). */
#ifndef DITC_OUTFILE_H
#define DITC_OUTFILE_H

#include <stdint.h>
#include <stdio.h>

#include "ditc_status.h"

/* An input file of the run, named by the flag that gave it (for the error message). */
typedef struct {
  const char *flag; /* e.g. "--weights" */
  const char *path; /* NULL: not given */
} out_input;

/* Checks, before any work, that `path` (given by `flag`) can take an output of about `bytes`
 * bytes at the end of the run without replacing an input or anything but a regular file. */
ditc_status out_check(const char *flag, const char *path, const out_input *inputs, int n_inputs, int64_t bytes,
                      ditc_err *err);

typedef struct {
  const char *path; /* the final name */
  char *tmp;        /* the unique temporary file in the same folder */
  FILE *fp;         /* write here between out_open and out_commit */
} out_file;

/* Creates the temporary file; on failure nothing is left behind. */
ditc_status out_open(out_file *f, const char *path, ditc_err *err);
/* Flushes, fsyncs and closes the temporary file, renames it to the final name (which must still
 * be absent or a regular file) and fsyncs the folder. On failure the temporary file is removed. */
ditc_status out_commit(out_file *f, ditc_err *err);
/* Closes and removes the temporary file (after a failed write). */
void out_abort(out_file *f);

#endif
