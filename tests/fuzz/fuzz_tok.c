/* fuzz_tok.c: libFuzzer target of the normalizer and the T5 tokenizers (runtime/text/) on the
 * fixture's real model (tests/golden/t5/spiece.model, found from the repository root or from
 * build/fuzz/, or at $DITC_FUZZ_SPIECE). Input: byte 0 picks the kind (sp, slow, fast) and
 * byte 1 the padded length (2..257); the rest is the prompt, any bytes. Checks: the
 * sentencepiece normalization is valid UTF-8, every id is inside the vocabulary, the padded row
 * ends in EOS or padding and its mask is ones then zeros. Not a test of what the ids are. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "text/tokenizer.h"
#include "text/utf8.h"

/* The fixture's tokenizer, loaded on the first input (a fuzz target's one piece of state). */
static const tokenizer *fixture(void) {
  static tokenizer tok;
  static int loaded;
  if (loaded) return &tok;
  const char *env = getenv("DITC_FUZZ_SPIECE");
  const char *paths[3] = {env ? env : "tests/golden/t5/spiece.model", "tests/golden/t5/spiece.model",
                          "../../tests/golden/t5/spiece.model"};
  ditc_err err;
  for (int i = 0; i < 3 && !loaded; i++) loaded = tok_load(&tok, paths[i], &err) == DITC_OK;
  if (!loaded) {
    fprintf(stderr, "fuzz_tok: cannot load the fixture model: %s\n", err.msg);
    abort();
  }
  return &tok;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  if (size < 2) return 0;
  const tokenizer *tok = fixture();
  const tok_kind kind = (tok_kind)(data[0] % 3);
  const size_t L = 2 + data[1];
  const char *text = (const char *)data + 2;
  const size_t len = size - 2;
  tok_scratch s = {0};
  id_list ids = {0};
  ditc_err err;
  DITC_CHECK(spm_normalize(&tok->norm, text, len, &s.norm, &err) == DITC_OK);
  for (size_t i = 0; i < s.norm.len;) {
    uint32_t cp;
    const size_t n = utf8_decode((const unsigned char *)s.norm.p + i, s.norm.len - i, &cp);
    DITC_CHECK(n > 0);
    i += n;
  }
  DITC_CHECK(tok_encode(tok, kind, text, len, &s, &ids, &err) == DITC_OK);
  for (size_t j = 0; j < ids.len; j++) DITC_CHECK(ids.p[j] >= 0 && ids.p[j] < tok->n_vocab);
  int32_t *row = malloc((L > ids.len + 1 ? L : ids.len + 1) * sizeof *row), mask[258];
  DITC_CHECK(row != NULL);
  const size_t n = tok_finish(tok, kind, ids.p, ids.len, 0, row, NULL);
  DITC_CHECK(n == ids.len + (kind != TOK_SP) || (kind == TOK_SLOW && n == ids.len));
  if (kind != TOK_SP) {
    const size_t k = tok_finish(tok, kind, ids.p, ids.len, L, row, mask);
    DITC_CHECK(k >= 1 && k <= L && row[k - 1] == tok->eos_id);
    for (size_t j = 0; j < L; j++) DITC_CHECK(mask[j] == (j < k) && (j < k || row[j] == tok->pad_id));
  }
  free(row);
  tok_scratch_free(&s);
  id_list_free(&ids);
  return 0;
}
