/* dump.c: implementation of dump.h and of ditc_dump_tensor (ditc_abi.h). */
#include "dump.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "safetensors.h"

typedef struct {
  char name[160];
  char out_name[200];
  int ndim;
  int64_t shape[ST_MAX_DIMS];
  float *data;
} dump_entry;

struct ditc_dump {
  char *names;
  int count;
  dump_entry entries[256];
};

struct ditc_dump *dump_new(const char *names) {
  struct ditc_dump *d = calloc(1, sizeof *d);
  DITC_CHECK(d != NULL);
  d->names = strdup(names);
  DITC_CHECK(d->names != NULL);
  return d;
}

static int wanted(const struct ditc_dump *d, const char *name) {
  if (strcmp(d->names, "all") == 0) return 1;
  const size_t n = strlen(name);
  for (const char *p = d->names; (p = strstr(p, name)) != NULL; p++)
    if ((p == d->names || p[-1] == ',') && (p[n] == ',' || p[n] == '\0')) return 1;
  return 0;
}

void ditc_dump_tensor(const ditc_exec *ex, const char *name, const void *data, int ndim, const int64_t *shape) {
  struct ditc_dump *d = ex->dump;
  if (!d || !wanted(d, name)) return;
  dump_entry *e = NULL;
  for (int i = 0; i < d->count; i++)
    if (strcmp(d->entries[i].name, name) == 0) e = &d->entries[i]; /* a later call overwrites */
  if (!e) {
    DITC_CHECK(d->count < 256);
    e = &d->entries[d->count++];
    snprintf(e->name, sizeof e->name, "%s", name);
  }
  int64_t n = 1;
  e->ndim = ndim;
  for (int k = 0; k < ndim; k++) n *= (e->shape[k] = shape[k]);
  free(e->data);
  e->data = malloc((size_t)n * sizeof(float));
  DITC_CHECK(e->data != NULL);
  memcpy(e->data, data, (size_t)n * sizeof(float));
}

int dump_tensors(struct ditc_dump *d, const char *prefix, st_out_tensor *t, int max) {
  int n = 0;
  for (int i = 0; i < d->count && n < max; i++, n++) {
    dump_entry *e = &d->entries[i];
    snprintf(e->out_name, sizeof e->out_name, "%s%s", prefix, e->name);
    t[n].name = e->out_name;
    t[n].dtype = ST_F32;
    t[n].ndim = e->ndim;
    memcpy(t[n].shape, e->shape, sizeof t[n].shape);
    t[n].data = e->data;
  }
  return n;
}

void dump_free(struct ditc_dump *d) {
  if (!d) return;
  for (int i = 0; i < d->count; i++) free(d->entries[i].data);
  free(d->names);
  free(d);
}
