/* spm_model.c: the protobuf reader of a SentencePiece `.model` (see spm_model.h). The wire
 * format: each field is a varint key (field << 3 | wire type); wire type 0 is a varint, 1 eight
 * bytes, 2 a varint length and that many bytes, 5 four bytes (little-endian). Fields not read
 * here are skipped by their wire type; absent fields keep the proto's defaults.
 * Not here: what the fields mean to encoding (normalizer.c, unigram.c, tokenizer.c). */
#include "spm_model.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "slurp.h"

/* ---- wire format ------------------------------------------------------------------------------ */

/* A message being read: bytes [p, end) of the file, for messages naming the file and field. */
typedef struct {
  const unsigned char *base, *p, *end;
  const char *name;           /* the file */
  ditc_err *err;
} pb_reader;

/* A field's key and, for wire types 0/1/5, its value; for 2, its bytes. */
typedef struct {
  uint32_t field;
  int wire;
  uint64_t value;
  const unsigned char *data;
  size_t len;
  size_t offset;              /* of the key, in the file */
} pb_field;

static ditc_status pb_fail(pb_reader *r, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static ditc_status pb_fail(pb_reader *r, const char *where, const char *fmt, ...) {
  char reason[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  return ditc_fail(r->err, DITC_EINVAL, "%s: %s%s%s", r->name, where, *where ? ": " : "", reason);
}

/* A varint of at most 10 bytes that ends before r->end. */
static int pb_varint(pb_reader *r, uint64_t *v) {
  uint64_t x = 0;
  for (int i = 0; i < 10; i++) {
    if (r->p >= r->end) return 0;
    const unsigned b = *r->p++;
    x |= (uint64_t)(b & 0x7F) << (7 * i);
    if (!(b & 0x80)) {
      *v = x;
      return 1;
    }
  }
  return 0;
}

/* "pieces (field 1)" for the top level's fields, "field N" elsewhere. */
static const char *field_label(const char *where, uint32_t field, char buf[48]) {
  static const char *const top[4] = {NULL, "pieces", "trainer_spec", "normalizer_spec"};
  if (!*where && field >= 1 && field <= 3) snprintf(buf, 48, "%s (field %u)", top[field], field);
  else snprintf(buf, 48, "field %u", field);
  return buf;
}

/* Reads the next field of r into f (r->p < r->end). where names the message for errors. */
static ditc_status pb_next(pb_reader *r, const char *where, pb_field *f) {
  char lb[48];
  f->offset = (size_t)(r->p - r->base);
  uint64_t key;
  if (!pb_varint(r, &key))
    return pb_fail(r, where, "truncated or overlong field key at byte %zu", f->offset);
  f->field = (uint32_t)(key >> 3);
  f->wire = (int)(key & 7);
  if ((key >> 3) == 0 || (key >> 3) > 0x1FFFFFFF)
    return pb_fail(r, where, "field number %llu at byte %zu is not valid", (unsigned long long)(key >> 3), f->offset);
  const size_t left = (size_t)(r->end - r->p);
  switch (f->wire) {
    case 0:
      if (!pb_varint(r, &f->value))
        return pb_fail(r, where, "%s: truncated or overlong varint at byte %zu", field_label(where, f->field, lb),
                       f->offset);
      return DITC_OK;
    case 1:
    case 5: {
      const size_t n = f->wire == 1 ? 8 : 4;
      if (left < n)
        return pb_fail(r, where, "%s: %zu-byte value at byte %zu runs past the end", field_label(where, f->field, lb),
                       n, f->offset);
      f->value = 0;
      for (size_t i = 0; i < n; i++) f->value |= (uint64_t)r->p[i] << (8 * i);
      r->p += n;
      return DITC_OK;
    }
    case 2: {
      uint64_t n;
      if (!pb_varint(r, &n))
        return pb_fail(r, where, "%s: truncated or overlong length at byte %zu", field_label(where, f->field, lb),
                       f->offset);
      if (n > (uint64_t)(r->end - r->p))
        return pb_fail(r, where, "%s: length %llu at byte %zu runs past the end (%zu bytes left)",
                       field_label(where, f->field, lb), (unsigned long long)n, f->offset, (size_t)(r->end - r->p));
      f->data = r->p;
      f->len = (size_t)n;
      r->p += n;
      return DITC_OK;
    }
    default:
      return pb_fail(r, where, "%s at byte %zu has wire type %d (%s), which a .model never holds",
                     field_label(where, f->field, lb), f->offset, f->wire,
                     f->wire == 3 || f->wire == 4 ? "a group" : "not a protobuf wire type");
  }
}

static const char *wire_name(int wire) {
  return wire == 0 ? "varint" : wire == 1 ? "64-bit" : wire == 2 ? "length-delimited" : "32-bit";
}

/* Fails unless f has the wire type the schema gives field `what`. */
static ditc_status pb_expect(pb_reader *r, const char *where, const char *what, const pb_field *f, int wire) {
  if (f->wire == wire) return DITC_OK;
  return pb_fail(r, where, "%s (field %u) at byte %zu has wire type %d (%s), expected %d (%s)", what, f->field,
                 f->offset, f->wire, wire_name(f->wire), wire, wire_name(wire));
}

/* An int32 field: protobuf writes negative values as 10-byte two's complement varints. */
static ditc_status pb_int32(pb_reader *r, const char *where, const char *what, const pb_field *f, int *out) {
  ditc_status st = pb_expect(r, where, what, f, 0);
  if (st != DITC_OK) return st;
  const int64_t v = (int64_t)f->value;
  if (v < INT32_MIN || v > INT32_MAX) return pb_fail(r, where, "%s: %lld is not an int32", what, (long long)v);
  *out = (int)v;
  return DITC_OK;
}

/* A sub-message's reader over f's bytes. */
static pb_reader pb_sub(const pb_reader *r, const pb_field *f) {
  return (pb_reader){.base = r->base, .p = f->data, .end = f->data + f->len, .name = r->name, .err = r->err};
}

/* ---- messages --------------------------------------------------------------------------------- */

/* SentencePiece: 1 piece (string), 2 score (float), 3 type (enum). */
static ditc_status read_piece(pb_reader *r, int index, spm_piece *pc) {
  char where[48];
  snprintf(where, sizeof where, "pieces[%d]", index);
  pc->s = NULL;
  pc->len = 0;
  pc->score = 0.0f;
  pc->type = SPM_NORMAL;
  while (r->p < r->end) {
    pb_field f;
    ditc_status st = pb_next(r, where, &f);
    if (st != DITC_OK) return st;
    if (f.field == 1) {
      if ((st = pb_expect(r, where, "piece", &f, 2)) != DITC_OK) return st;
      if (f.len > 0xFFFF) return pb_fail(r, where, "piece: %zu bytes, longer than any piece can be", f.len);
      pc->s = (const char *)f.data;
      pc->len = (uint32_t)f.len;
    } else if (f.field == 2) {
      if ((st = pb_expect(r, where, "score", &f, 5)) != DITC_OK) return st;
      const uint32_t bits = (uint32_t)f.value;
      memcpy(&pc->score, &bits, sizeof bits);
      if (!isfinite(pc->score)) return pb_fail(r, where, "score: %g is not finite", (double)pc->score);
    } else if (f.field == 3) {
      int type = 0;
      if ((st = pb_int32(r, where, "type", &f, &type)) != DITC_OK) return st;
      if (type < SPM_NORMAL || type > SPM_BYTE) return pb_fail(r, where, "type: %d is not a piece type (1..6)", type);
      pc->type = (uint8_t)type;
    }
  }
  if (pc->len == 0) return pb_fail(r, where, "piece: empty or absent (every piece needs its text)");
  return DITC_OK;
}

/* TrainerSpec: the fields that change how text is encoded. */
typedef struct {
  int model_type, byte_fallback, suffix, has_unk_id, unk_id;
} trainer_fields;

static ditc_status read_trainer(pb_reader *r, trainer_fields *t) {
  const char *where = "trainer_spec";
  while (r->p < r->end) {
    pb_field f;
    ditc_status st = pb_next(r, where, &f);
    if (st == DITC_OK && f.field == 3) st = pb_int32(r, where, "model_type", &f, &t->model_type);
    if (st == DITC_OK && f.field == 24) st = pb_int32(r, where, "treat_whitespace_as_suffix", &f, &t->suffix);
    if (st == DITC_OK && f.field == 35) st = pb_int32(r, where, "byte_fallback", &f, &t->byte_fallback);
    if (st == DITC_OK && f.field == 40) {
      st = pb_int32(r, where, "unk_id", &f, &t->unk_id);
      t->has_unk_id = 1;
    }
    if (st != DITC_OK) return st;
  }
  return DITC_OK;
}

/* NormalizerSpec: 2 precompiled_charsmap, 3 add_dummy_prefix, 4 remove_extra_whitespaces,
 * 5 escape_whitespaces. The name (1) and the rule TSV (6) are not needed: the charsmap is the rules. */
static ditc_status read_normalizer(pb_reader *r, spm_model *m) {
  const char *where = "normalizer_spec";
  while (r->p < r->end) {
    pb_field f;
    ditc_status st = pb_next(r, where, &f);
    if (st != DITC_OK) return st;
    int v = 0;
    if (f.field == 2) {
      if ((st = pb_expect(r, where, "precompiled_charsmap", &f, 2)) != DITC_OK) return st;
      m->charsmap = f.data;
      m->charsmap_size = f.len;
    } else if (f.field == 3) {
      if ((st = pb_int32(r, where, "add_dummy_prefix", &f, &v)) != DITC_OK) return st;
      m->add_dummy_prefix = v != 0;
    } else if (f.field == 4) {
      if ((st = pb_int32(r, where, "remove_extra_whitespaces", &f, &v)) != DITC_OK) return st;
      m->remove_extra_whitespaces = v != 0;
    } else if (f.field == 5) {
      if ((st = pb_int32(r, where, "escape_whitespaces", &f, &v)) != DITC_OK) return st;
      m->escape_whitespaces = v != 0;
    }
  }
  return DITC_OK;
}

/* ---- the model -------------------------------------------------------------------------------- */

/* Pieces must be distinct among the matchable types (NORMAL, USER_DEFINED, UNUSED) and among the
 * others, as sentencepiece's model_interface.cc requires. Sorting ids by (class, text) finds
 * duplicates in O(n log n). */

static int piece_class(const spm_piece *p) {
  return p->type == SPM_NORMAL || p->type == SPM_USER_DEFINED || p->type == SPM_UNUSED;
}

static int cmp_piece_ids(const void *a, const void *b, void *ctx) {
  const spm_piece *ps = ctx;
  const spm_piece *x = &ps[*(const int *)a], *y = &ps[*(const int *)b];
  if (piece_class(x) != piece_class(y)) return piece_class(x) - piece_class(y);
  const uint32_t n = x->len < y->len ? x->len : y->len;
  const int c = memcmp(x->s, y->s, n);
  if (c) return c;
  if (x->len != y->len) return x->len < y->len ? -1 : 1;
  return *(const int *)a - *(const int *)b;
}

static ditc_status check_duplicates(const spm_model *m, const char *name, ditc_err *err) {
  int *ids = malloc((size_t)m->n_pieces * sizeof *ids);
  if (!ids) return ditc_fail(err, DITC_ENOMEM, "%s: out of memory", name);
  for (int i = 0; i < m->n_pieces; i++) ids[i] = i;
  qsort_r(ids, (size_t)m->n_pieces, sizeof *ids, cmp_piece_ids, m->pieces);
  ditc_status st = DITC_OK;
  for (int i = 1; i < m->n_pieces && st == DITC_OK; i++) {
    const spm_piece *a = &m->pieces[ids[i - 1]], *b = &m->pieces[ids[i]];
    if (piece_class(a) == piece_class(b) && a->len == b->len && !memcmp(a->s, b->s, a->len)) {
      char shown[DITC_SHOWN_MAX];
      st = ditc_fail(err, DITC_EINVAL, "%s: pieces[%d].piece: '%s' is already pieces[%d]", name, ids[i],
                     ditc_shown(shown, sizeof shown, b->s, b->len), ids[i - 1]);
    }
  }
  free(ids);
  return st;
}

ditc_status spm_model_parse(char *bytes, size_t size, const char *name, spm_model *m, ditc_err *err) {
  memset(m, 0, sizeof *m);
  m->bytes = bytes;
  m->size = size;
  m->unk_id = -1;
  m->add_dummy_prefix = m->remove_extra_whitespaces = m->escape_whitespaces = 1;
  const unsigned char *u = (const unsigned char *)bytes;
  pb_reader top = {.base = u, .p = u, .end = u + size, .name = name, .err = err};
  trainer_fields tr = {.model_type = 1};
  ditc_status st = DITC_OK;

  /* first pass: the structure of the top level, and how many pieces there are */
  size_t n_pieces = 0;
  while (st == DITC_OK && top.p < top.end) {
    pb_field f;
    st = pb_next(&top, "", &f);
    if (st != DITC_OK) break;
    if (f.field == 1) {
      if ((st = pb_expect(&top, "", "pieces", &f, 2)) == DITC_OK) n_pieces++;
    } else if (f.field == 2) {
      if ((st = pb_expect(&top, "", "trainer_spec", &f, 2)) == DITC_OK) {
        pb_reader sub = pb_sub(&top, &f);
        st = read_trainer(&sub, &tr);
      }
    } else if (f.field == 3) {
      if ((st = pb_expect(&top, "", "normalizer_spec", &f, 2)) == DITC_OK) {
        pb_reader sub = pb_sub(&top, &f);
        st = read_normalizer(&sub, m);
      }
    }
  }
  if (st == DITC_OK && n_pieces == 0) st = ditc_fail(err, DITC_EINVAL, "%s: pieces: none (not a SentencePiece model?)", name);
  if (st == DITC_OK && n_pieces > (size_t)INT32_MAX / 2)
    st = ditc_fail(err, DITC_EINVAL, "%s: pieces: %zu, more than the ids can number", name, n_pieces);
  if (st == DITC_OK && tr.model_type != 1)
    st = ditc_fail(err, DITC_EINVAL, "%s: trainer_spec.model_type: %d; only 1 (UNIGRAM) is supported", name,
                   tr.model_type);
  if (st == DITC_OK && tr.byte_fallback)
    st = ditc_fail(err, DITC_EINVAL, "%s: trainer_spec.byte_fallback: set; byte fallback is not supported", name);
  if (st == DITC_OK && tr.suffix)
    st = ditc_fail(err, DITC_EINVAL, "%s: trainer_spec.treat_whitespace_as_suffix: set; not supported", name);
  if (st == DITC_OK && !(m->pieces = malloc(n_pieces * sizeof *m->pieces)))
    st = ditc_fail(err, DITC_ENOMEM, "%s: out of memory", name);

  /* second pass: the pieces */
  top.p = u;
  while (st == DITC_OK && top.p < top.end) {
    pb_field f;
    if ((st = pb_next(&top, "", &f)) != DITC_OK || f.field != 1) continue;
    pb_reader sub = pb_sub(&top, &f);
    spm_piece *pc = &m->pieces[m->n_pieces];
    if ((st = read_piece(&sub, m->n_pieces, pc)) != DITC_OK) break;
    if (pc->type == SPM_UNKNOWN) {
      if (m->unk_id >= 0)
        st = ditc_fail(err, DITC_EINVAL, "%s: pieces[%d].type: UNKNOWN, but pieces[%d] already is the unknown piece",
                       name, m->n_pieces, m->unk_id);
      m->unk_id = m->n_pieces;
    }
    m->n_pieces++;
  }
  if (st == DITC_OK && m->unk_id < 0)
    st = ditc_fail(err, DITC_EINVAL, "%s: pieces: none has type UNKNOWN (2); the model needs its unk piece", name);
  if (st == DITC_OK && tr.has_unk_id && tr.unk_id != m->unk_id)
    st = ditc_fail(err, DITC_EINVAL, "%s: trainer_spec.unk_id: %d, but the UNKNOWN piece is pieces[%d]", name,
                   tr.unk_id, m->unk_id);
  if (st == DITC_OK) st = check_duplicates(m, name, err);
  if (st != DITC_OK) spm_model_free(m);
  return st;
}

ditc_status spm_model_load(const char *path, spm_model *m, ditc_err *err) {
  memset(m, 0, sizeof *m);
  char *bytes;
  size_t size;
  ditc_status st = slurp_file(path, SPM_MAX_FILE, &bytes, &size, err);
  if (st != DITC_OK) return st;
  return spm_model_parse(bytes, size, path, m, err);
}

void spm_model_free(spm_model *m) {
  free(m->bytes);
  free(m->pieces);
  memset(m, 0, sizeof *m);
}
