/* fuzz_st.c: libFuzzer target of the safetensors reader (runtime/core/safetensors.c): the input is a
 * whole file; st_open, then every element of every tensor read under st_guarded, st_find of
 * each name, st_close. Checks the reader's promises: a failure leaves the st_file empty and a
 * one-line message that starts with the path. Not the writer. */
#include <stdint.h>
#include <string.h>

#include "fuzz_file.h"
#include "safetensors.h"

static ditc_status read_all(void *arg, ditc_err *err) {
  (void)err;
  const st_file *f = arg;
  double sum = 0;
  for (int i = 0; i < f->count; i++) {
    const st_tensor *t = &f->tensors[i];
    DITC_CHECK(st_find(f, t->name) == t);
    DITC_CHECK(t->data >= (const unsigned char *)f->map && t->data + t->nbytes <= (const unsigned char *)f->map + f->map_size);
    for (int64_t k = 0; k < t->numel && k < 4096; k++) sum += st_get(t, k);
  }
  volatile double sink = sum; /* keeps the reads */
  (void)sink;
  return DITC_OK;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const char *path = fuzz_file(data, size);
  st_file f;
  ditc_err err = {{0}};
  if (st_open(&f, path, &err) == DITC_OK) {
    DITC_CHECK(st_guarded(&f, read_all, &f, &err) == DITC_OK);
    st_close(&f);
  } else {
    DITC_CHECK(!f.map && !f.tensors && f.count == 0);
    DITC_CHECK(strncmp(err.msg, path, strlen(path)) == 0 && !strchr(err.msg, '\n'));
  }
  return 0;
}
