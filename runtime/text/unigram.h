/* unigram.h: the unigram model's best segmentation of one normalized text (a Viterbi pass over
 * byte offsets, as sentencepiece's EncodeOptimized and tokenizers' Unigram::encode_optimized
 * make it), in the two numeric modes upstream differs in:
 *   UNIGRAM_SP    sentencepiece: a candidate is a double (piece score + path score), compared
 *                 with the stored path score and stored back as a float; the unknown-character
 *                 candidate is float arithmetic; only NORMAL, USER_DEFINED and UNUSED pieces are
 *                 matched (UNUSED never chosen); the minimum score is over NORMAL pieces;
 *   UNIGRAM_FAST  tokenizers: double throughout; every vocabulary string is matched (control
 *                 pieces and the extra ids too, score 0); the minimum is over all entries.
 * Equal candidates keep the earlier (shorter) piece. A run of unknown pieces becomes one.
 * Not here: normalization, added tokens, EOS (tokenizer.c). */
#ifndef DITC_TEXT_UNIGRAM_H
#define DITC_TEXT_UNIGRAM_H

#include <stddef.h>
#include <stdint.h>

#include "ditc_status.h"
#include "piece_trie.h"
#include "spm_model.h"
#include "textbuf.h"

typedef enum { UNIGRAM_SP, UNIGRAM_FAST } unigram_mode;

typedef struct {
  const spm_model *model;
  piece_trie trie;            /* every piece and extra id */
  int32_t *sp_id;             /* [trie nodes] the NORMAL/USER_DEFINED/UNUSED piece ending there, or -1 */
  int32_t *fast_id;           /* [trie nodes] the vocabulary entry ending there (last wins), or -1 */
  int32_t *user_id;           /* [trie nodes] the USER_DEFINED piece ending there, or -1 */
  int has_user;               /* some piece is USER_DEFINED */
  char *extra;                /* the extra ids' strings, back to back */
  int n_extra;                /* <extra_id_k> is id n_pieces + n_extra - 1 - k */
  float min_score, max_score; /* over NORMAL pieces, from FLT_MAX / FLT_MIN (sentencepiece) */
  double fast_min;            /* over every vocabulary entry (tokenizers) */
  const char *name;
} unigram_model;

/* The lattice of one text, reused across calls. */
typedef struct {
  double *score;              /* [n + 1] best path score ending at each byte offset */
  int32_t *start, *id;        /* [n + 1] where that path's last piece starts, and its id (-1: unset) */
  size_t cap;
} unigram_lattice;

/* Builds the trie of m's pieces and n_extra `<extra_id_k>` strings. */
ditc_status unigram_init(unigram_model *u, const spm_model *m, int n_extra, const char *name, ditc_err *err);
void unigram_free(unigram_model *u);

/* The extra id string of id (n_pieces <= id < n_pieces + n_extra) in *s, *len. */
void unigram_extra(const unigram_model *u, int32_t id, const char **s, size_t *len);

/* Appends the ids of the best segmentation of text[0..len) to out. */
ditc_status unigram_encode(const unigram_model *u, unigram_mode mode, const char *text, size_t len,
                           unigram_lattice *lat, id_list *out, ditc_err *err);
void unigram_lattice_free(unigram_lattice *lat);

#endif
