/* fuzz_spm.c: libFuzzer target of the SentencePiece model reader (runtime/text/spm_model.c):
 * the input is a whole .model file. A model that loads is built into a tokenizer (vocabulary
 * trie, charsmap framing) and tokenizes a few fixed texts in every kind, which walks the
 * (possibly corrupt) charsmap trie; ids must stay inside the vocabulary. Not a test of what the
 * ids are (tests/tokenizer_check.py). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer.h"

static const char *const TEXTS[] = {
    "a photo of a cat", "  \t\xef\xbc\xa1\xef\xac\x81 x  ", "\xf0\x9f\x8d\x95\xf0\x9f\x8d\x95 <extra_id_3> </s>",
    "\xff\xfe bad utf-8 \xc3", "",
};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  char *bytes = malloc(size + 1);
  DITC_CHECK(bytes != NULL);
  if (size) memcpy(bytes, data, size);
  spm_model m;
  ditc_err err;
  if (spm_model_parse(bytes, size, "fuzz.model", &m, &err) != DITC_OK) {
    DITC_CHECK(strlen(err.msg) > 0 && strchr(err.msg, '\n') == NULL);
    return 0;
  }
  DITC_CHECK(m.n_pieces >= 1 && m.unk_id >= 0 && m.unk_id < m.n_pieces);
  tokenizer tok;
  if (tok_from_model(&tok, &m, "fuzz.model", &err) != DITC_OK) return 0;
  tok_scratch s = {0};
  id_list ids = {0};
  int32_t row[64], mask[64];
  for (size_t i = 0; i < sizeof TEXTS / sizeof TEXTS[0]; i++)
    for (int k = TOK_SP; k <= TOK_FAST; k++) {
      if (tok_encode(&tok, (tok_kind)k, TEXTS[i], strlen(TEXTS[i]), &s, &ids, &err) != DITC_OK) continue;
      for (size_t j = 0; j < ids.len; j++) DITC_CHECK(ids.p[j] >= 0 && ids.p[j] < tok.n_vocab);
      if (k != TOK_SP) DITC_CHECK(tok_finish(&tok, (tok_kind)k, ids.p, ids.len, 64, row, mask) <= 64);
    }
  tok_scratch_free(&s);
  id_list_free(&ids);
  tok_free(&tok);
  return 0;
}
