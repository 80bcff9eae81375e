/* fuzz_loader.c: libFuzzer target of the input loaders of runtime/core/model.c against the tiny
 * variant (tiny_variant.h): byte 0 picks the loader (% 4: weights, cond, noise, forward with
 * prefix ""), the rest is the file. Checks that a failure is a one-line message naming the file
 * with no control bytes, and that loaded values are finite. Not a test of the forward code. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "fuzz_file.h"
#include "inputs.h"
#include "model.h"
#include "tiny_variant.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static ditc_model m;
  static int ready;
  ditc_err err = {{0}};
  if (!ready) {
    DITC_CHECK(model_init(&m, &tiny_variant, &err) == DITC_OK);
    ready = 1;
  }
  if (size < 1) return 0;
  const char *path = fuzz_file(data + 1, size - 1);
  ditc_status s;
  switch (data[0] % 4) {
    case 0: s = model_load_weights(&m, path, &err); break;
    case 1: s = model_load_cond(&m, path, &err); break;
    case 2: s = model_load_noise(&m, path, &err); break;
    default: s = model_load_forward(&m, path, "", &err); break;
  }
  if (s) {
    DITC_CHECK(strncmp(err.msg, path, strlen(path)) == 0);
    for (const unsigned char *c = (const unsigned char *)err.msg; *c; c++) DITC_CHECK(*c >= 0x20 && *c != 0x7F);
  } else if (data[0] % 4 == 0) {
    for (int i = 0; i < 12; i++) DITC_CHECK(isfinite(m.weights[i]));
  } else if (data[0] % 4 == 2) {
    for (int i = 0; i < 8; i++) DITC_CHECK(isfinite(((const float *)(const void *)(m.arena + 128))[i]));
  }
  return 0;
}
