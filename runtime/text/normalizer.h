/* normalizer.h: SentencePiece's text normalization driven by the model's precompiled charsmap
 * (a darts-clone double-array trie of byte sequences and a pool of NUL-terminated replacement
 * strings). Two passes are offered: the whole of sentencepiece's Normalizer::Normalize
 * (longest-match replacement, user-defined pieces passed through, leading/trailing/repeated
 * whitespace removed, the dummy prefix, ' ' escaped as U+2581), and the bare replacement pass
 * the fast tokenizer's `Precompiled` normalizer makes. Invalid UTF-8 becomes U+FFFD, one byte
 * at a time. The trie is walked with bounds checks; a corrupt table is an error naming the file.
 * Not here: the rules themselves (they are data in the .model), the fast tokenizer's strip and
 * pre-tokenizer (tokenizer.c), segmentation (unigram.c). */
#ifndef DITC_TEXT_NORMALIZER_H
#define DITC_TEXT_NORMALIZER_H

#include <stddef.h>
#include <stdint.h>

#include "ditc_status.h"
#include "piece_trie.h"
#include "spm_model.h"
#include "textbuf.h"

typedef struct {
  const unsigned char *trie;  /* [n_units] u32 LE units; NULL: no rules */
  size_t n_units;
  const char *pool;           /* [pool_size] the replacement strings */
  size_t pool_size;
  const spm_model *model;     /* the flags; its USER_DEFINED pieces pass through unchanged */
  const piece_trie *user;     /* trie of the model's pieces, or NULL when none is USER_DEFINED */
  const int32_t *user_id;     /* [user->n_nodes] a USER_DEFINED piece ending at the node, or -1 */
  const char *name;           /* the .model file, for messages */
} spm_normalizer;

/* Checks the charsmap's framing (u32 trie size, the trie, the pool) and sets n up. user and
 * user_id may be NULL. */
ditc_status spm_normalizer_init(spm_normalizer *n, const spm_model *m, const piece_trie *user,
                                const int32_t *user_id, const char *name, ditc_err *err);

/* sentencepiece's Normalize of text[0..len) appended to out (cleared first). */
ditc_status spm_normalize(const spm_normalizer *n, const char *text, size_t len, text_buf *out, ditc_err *err);

/* The fast tokenizer's Precompiled pass: every position replaced by its longest match, other
 * characters copied; nothing else. Appended to out (cleared first). */
ditc_status spm_normalize_replace(const spm_normalizer *n, const char *text, size_t len, text_buf *out,
                                  ditc_err *err);

#endif
