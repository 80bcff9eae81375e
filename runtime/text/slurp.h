/* slurp.h: reads a whole regular file into one malloc'd buffer under a size limit, for the
 * tokenizer's inputs (the .model file, the prompts JSON). Errors name the file.
 * Not here: mapping large files (safetensors.c maps its data), parsing. */
#ifndef DITC_TEXT_SLURP_H
#define DITC_TEXT_SLURP_H

#include <stddef.h>

#include "ditc_status.h"

/* Reads path into *buf (NUL-terminated, *len bytes before the NUL). Fails, naming the file,
 * when it cannot be opened or read, is not a regular file, or is larger than max bytes. */
ditc_status slurp_file(const char *path, size_t max, char **buf, size_t *len, ditc_err *err);

#endif
