/* tokenizer.h: the T5 tokenizer over a SentencePiece `.model`, in the three behaviours the
 * pipelines meet:
 *   TOK_SP    plain sentencepiece encode: normalize, segment; no added tokens, no EOS;
 *   TOK_SLOW  transformers' T5Tokenizer (legacy): the text is split at the added tokens
 *             (<pad>, </s>, <unk>, <extra_id_0..N-1>; leftmost, longest), whitespace around an
 *             extra id stripped (Python's isspace), each chunk through TOK_SP, EOS appended
 *             unless the ids already end with it;
 *   TOK_FAST  transformers' T5TokenizerFast (tokenizers): the same split without stripping,
 *             each chunk through the charsmap replacement, right strip, runs of spaces to one
 *             U+2581, the Metaspace pre-tokenizer (prefix U+2581, one word per U+2581) and the
 *             float64 unigram; EOS always appended.
 * Truncation and padding (tok_finish): keep max_len-1 ids, then EOS as above, then pad with
 * <pad> to max_len; the attention mask is 1 on the kept ids and the EOS.
 * Not here: caption cleaning (clean.c), the encoder, reading prompts (tokenize_main.c). */
#ifndef DITC_TEXT_TOKENIZER_H
#define DITC_TEXT_TOKENIZER_H

#include <stddef.h>
#include <stdint.h>

#include "ditc_status.h"
#include "normalizer.h"
#include "spm_model.h"
#include "textbuf.h"
#include "unigram.h"

typedef enum { TOK_SP, TOK_SLOW, TOK_FAST } tok_kind;

/* T5's sentinel count: <extra_id_0> .. <extra_id_99> */
#define TOK_EXTRA_IDS 100

/* An added token: matched in the raw text before anything else. */
typedef struct {
  const char *s;
  size_t len;
  int32_t id;
  int strip;                  /* slow tokenizer: strips whitespace on both sides (the extra ids) */
} tok_added;

typedef struct {
  spm_model model;
  unigram_model uni;
  spm_normalizer norm;
  tok_added added[3 + TOK_EXTRA_IDS];
  int n_added;
  unsigned char first_byte[32]; /* bitset: bytes an added token starts with */
  int32_t eos_id, pad_id;
  int n_vocab;                /* pieces + extra ids: the tokenizer's len() */
} tokenizer;

/* (A tokenizer points into itself: it is not copied or moved once loaded.) */

/* Reusable per-prompt memory. */
typedef struct {
  text_buf norm, word;
  unigram_lattice lat;
} tok_scratch;

/* Loads path (spm_model_load) and builds the vocabulary trie and normalizer. The model must
 * hold the pieces "<pad>", "</s>" and "<unk>". On failure *t is left empty. */
ditc_status tok_load(tokenizer *t, const char *path, ditc_err *err);
/* The same from a model already read (spm_model_parse): takes ownership of *model (left empty),
 * also on failure. name is the file name messages use; it must outlive t. */
ditc_status tok_from_model(tokenizer *t, spm_model *model, const char *name, ditc_err *err);
void tok_free(tokenizer *t);
void tok_scratch_free(tok_scratch *s);

/* The ids of text[0..len) without EOS, truncation or padding, appended to out (cleared first). */
ditc_status tok_encode(const tokenizer *t, tok_kind kind, const char *text, size_t len, tok_scratch *s,
                       id_list *out, ditc_err *err);

/* The final sequence of content ids ids[0..n) (tok_encode's) into row[] and returns its length:
 * with max_len 0, all ids, then EOS (TOK_SLOW: unless the last id is EOS; TOK_FAST: always;
 * TOK_SP: none); row needs n + 1 entries. With max_len >= 2, the first max_len - 1 ids, EOS
 * by the same rule, then pad ids up to max_len, and mask[] (if non-NULL) 1 on the returned
 * length and 0 after; row and mask need max_len entries. */
size_t tok_finish(const tokenizer *t, tok_kind kind, const int32_t *ids, size_t n, size_t max_len, int32_t *row,
                  int32_t *mask);

#endif
