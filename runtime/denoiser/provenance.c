/* provenance.c: the __metadata__ entries of an output (see provenance.h). Not here: writing. */
#include "provenance.h"

#include <stdarg.h>
#include <stdio.h>

__attribute__((format(printf, 3, 4)))
static void put(provenance *p, const char *key, const char *fmt, ...) {
  DITC_CHECK(p->n < PROVENANCE_MAX);
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(p->value[p->n], sizeof p->value[p->n], fmt, ap);
  va_end(ap);
  p->meta[p->n] = (st_meta){.key = key, .value = p->value[p->n]};
  p->n++;
}

void provenance_make(provenance *p, const ditc_variant *v, const options *o, const char *mode) {
  p->n = 0;
  put(p, "ditc_version", "%s", DITC_VERSION);
  put(p, "variant", "%s/%s", v->family, v->name);
  put(p, "inputs_hash", "%s", v->inputs_hash);
  put(p, "storage", "%s", v->storage);
  put(p, "mode", "%s", mode);
  if (o->forward) {
    put(p, "forward_call", "%s", o->call);
    return;
  }
  put(p, "sampler", "%s", v->denoiser->sampler);
  put(p, "steps", "%d", v->denoiser->steps);
  put(p, "pab", "%s", o->pab_on ? "on" : "off");
  if (o->noise) put(p, "noise", "file %s", o->noise);
  else put(p, "noise", "seed %llu", o->seed);
}
