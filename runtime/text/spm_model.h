/* spm_model.h: the SentencePiece `.model` file (a protobuf ModelProto, as sentencepiece's
 * sentencepiece_model.proto defines it) read into plain structs: the pieces with their scores
 * and types, the trainer settings that matter to encoding, and the normalizer settings with the
 * precompiled charsmap. Every varint, length and wire type is checked against the bytes that
 * are there; errors name the file and the field ("pieces[12].score: ...").
 * Not here: the charsmap's trie (normalizer.c), segmentation (unigram.c), BPE models. */
#ifndef DITC_TEXT_SPM_MODEL_H
#define DITC_TEXT_SPM_MODEL_H

#include <stddef.h>
#include <stdint.h>

#include "ditc_status.h"

/* SentencePiece.Type of the proto */
typedef enum {
  SPM_NORMAL = 1, SPM_UNKNOWN = 2, SPM_CONTROL = 3, SPM_USER_DEFINED = 4, SPM_UNUSED = 5, SPM_BYTE = 6
} spm_piece_type;

typedef struct {
  const char *s;              /* UTF-8 bytes inside the model's buffer, not NUL-terminated */
  uint32_t len;               /* > 0 */
  float score;                /* finite */
  uint8_t type;               /* spm_piece_type */
} spm_piece;

typedef struct {
  char *bytes;                /* the whole file, owned; pieces and charsmap point into it */
  size_t size;
  spm_piece *pieces;          /* [n_pieces]; the id of a piece is its index */
  int n_pieces;               /* >= 1 */
  int unk_id;                 /* the one piece of type UNKNOWN */
  const unsigned char *charsmap; /* normalizer_spec.precompiled_charsmap; NULL/0: no rules */
  size_t charsmap_size;
  int add_dummy_prefix, remove_extra_whitespaces, escape_whitespaces; /* proto defaults: 1 */
} spm_model;

/* The largest .model file read (T5's is under 1 MB). */
#define SPM_MAX_FILE (256u << 20)

/* Reads and checks path. On failure returns non-zero, fills err ("PATH: FIELD: reason") and
 * leaves *m empty (safe to spm_model_free). Refused: a truncated or malformed message, a field
 * of the wrong wire type, groups, no pieces, an empty or duplicate piece, an unknown piece
 * type, a non-finite score, no UNKNOWN piece or two, a trainer_spec.unk_id that is not that
 * piece, a model type other than UNIGRAM, byte fallback, whitespace as suffix. */
ditc_status spm_model_load(const char *path, spm_model *m, ditc_err *err);

/* The same from memory: takes ownership of bytes[0..size) (malloc'd; freed by spm_model_free,
 * or here on failure). name is the file name messages use. */
ditc_status spm_model_parse(char *bytes, size_t size, const char *name, spm_model *m, ditc_err *err);

void spm_model_free(spm_model *m);

#endif
