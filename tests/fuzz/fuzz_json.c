/* fuzz_json.c: libFuzzer target of runtime/core/json.c: parses the input with no limits and with the
 * safetensors reader's (arrays of 8, one value per 3 bytes), then walks and frees the tree.
 * Not a test of safetensors semantics (fuzz_st.c). */
#include <stdint.h>
#include <string.h>

#include "json.h"

/* Touches every node (so ASan sees any bad pointer); returns the count. */
static size_t walk(const json_value *v) {
  size_t n = 1;
  if (v->kind == JSON_STRING) n += v->str.s[v->str.len] == 0;
  if (v->kind == JSON_ARRAY || v->kind == JSON_OBJECT)
    for (int i = 0; i < v->count; i++) {
      n += walk(&v->items[i]);
      if (v->kind == JSON_OBJECT) n += v->keys[i].s[v->keys[i].len] == 0;
    }
  return n;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  const json_limits st_lim = {.max_items = 8, .max_values = size / 3 + 64};
  for (int pass = 0; pass < 2; pass++) {
    json_doc doc;
    json_error err;
    if (json_parse((const char *)data, size, pass ? &st_lim : NULL, &doc, &err) == DITC_OK) {
      DITC_CHECK(walk(&doc.root) >= 1);
      json_get(&doc.root, "dtype");
    } else {
      DITC_CHECK(err.offset <= size && strlen(err.reason) < sizeof err.reason);
    }
    json_free(&doc);
  }
  return 0;
}
