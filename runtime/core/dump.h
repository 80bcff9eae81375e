/* dump.h: the sink behind DITC_DUMP: copies requested intermediates by stable name and writes
 * hands them to the caller's output file. Debug builds only; allocation here is fine (not a product path). */
#ifndef DITC_DUMP_H
#define DITC_DUMP_H

#include "ditc_abi.h"
#include "ditc_status.h"
#include "safetensors.h"

struct ditc_dump;
/* names: comma-separated stable names, or "all". */
struct ditc_dump *dump_new(const char *names);
/* Describes the captured tensors, named prefix + name, in t (at most max); returns the count.
 * The names and data stay valid while d lives. */
int dump_tensors(struct ditc_dump *d, const char *prefix, st_out_tensor *t, int max);
void dump_free(struct ditc_dump *d);

#endif
