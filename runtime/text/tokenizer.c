/* tokenizer.c: the T5 tokenizers' rules around the unigram model (see tokenizer.h): the
 * added-token split, the slow tokenizer's whitespace stripping, the fast tokenizer's
 * normalizer tail and Metaspace words, EOS, truncation and padding. */
#include "tokenizer.h"

#include <stdio.h>
#include <string.h>

#include "utf8.h"

static const char SPACE_SYMBOL[] = "\xe2\x96\x81"; /* U+2581 */

/* ---- set-up ----------------------------------------------------------------------------------- */

/* The id of the piece whose text is s, preferring the control/unknown/byte pieces as
 * sentencepiece's PieceToId does; -1 if none. */
static int32_t piece_id(const spm_model *m, const char *s) {
  const size_t n = strlen(s);
  int32_t found = -1;
  for (int i = 0; i < m->n_pieces; i++) {
    const spm_piece *p = &m->pieces[i];
    if (p->len != n || memcmp(p->s, s, n) != 0) continue;
    const int reserved = p->type == SPM_CONTROL || p->type == SPM_UNKNOWN || p->type == SPM_BYTE;
    if (reserved) return i;
    if (found < 0) found = i;
  }
  return found;
}

static void add_token(tokenizer *t, const char *s, size_t len, int32_t id, int strip) {
  DITC_CHECK(t->n_added < (int)(sizeof t->added / sizeof t->added[0]) && len > 0);
  t->added[t->n_added++] = (tok_added){.s = s, .len = len, .id = id, .strip = strip};
  t->first_byte[(unsigned char)s[0] >> 3] |= (unsigned char)(1u << (s[0] & 7));
}

ditc_status tok_from_model(tokenizer *t, spm_model *model, const char *name, ditc_err *err) {
  memset(t, 0, sizeof *t);
  t->model = *model;
  memset(model, 0, sizeof *model);
  const spm_model *m = &t->model;
  ditc_status st = DITC_OK;
  if (m->n_pieces > INT32_MAX - TOK_EXTRA_IDS)
    st = ditc_fail(err, DITC_EINVAL, "%s: pieces: %d, too many for the extra ids", name, m->n_pieces);
  if (st == DITC_OK) st = unigram_init(&t->uni, m, TOK_EXTRA_IDS, name, err);
  if (st == DITC_OK)
    st = spm_normalizer_init(&t->norm, m, t->uni.has_user ? &t->uni.trie : NULL, t->uni.user_id, name, err);
  static const char *const special[3] = {"<pad>", "</s>", "<unk>"};
  int32_t ids[3];
  for (int k = 0; k < 3 && st == DITC_OK; k++)
    if ((ids[k] = piece_id(m, special[k])) < 0)
      st = ditc_fail(err, DITC_EINVAL, "%s: pieces: no piece '%s' (T5's %s token)", name, special[k],
                     k == 0 ? "padding" : k == 1 ? "end-of-sequence" : "unknown");
  if (st != DITC_OK) {
    tok_free(t);
    return st;
  }
  t->pad_id = ids[0];
  t->eos_id = ids[1];
  t->n_vocab = m->n_pieces + TOK_EXTRA_IDS;
  for (int k = 0; k < 3; k++) add_token(t, special[k], strlen(special[k]), ids[k], 0);
  for (int32_t id = m->n_pieces; id < t->n_vocab; id++) {
    const char *s;
    size_t len;
    unigram_extra(&t->uni, id, &s, &len);
    add_token(t, s, len, id, 1);
  }
  return DITC_OK;
}

ditc_status tok_load(tokenizer *t, const char *path, ditc_err *err) {
  memset(t, 0, sizeof *t);
  spm_model m;
  ditc_status st = spm_model_load(path, &m, err);
  if (st != DITC_OK) return st;
  return tok_from_model(t, &m, path, err);
}

void tok_free(tokenizer *t) {
  unigram_free(&t->uni);
  spm_model_free(&t->model);
  memset(t, 0, sizeof *t);
}

void tok_scratch_free(tok_scratch *s) {
  text_buf_free(&s->norm);
  text_buf_free(&s->word);
  unigram_lattice_free(&s->lat);
}

/* ---- pieces of the pipeline ------------------------------------------------------------------- */

/* The leftmost added token in text[from..len), longest first: its index, or -1 (then *at = len). */
static int next_added(const tokenizer *t, const char *text, size_t len, size_t from, size_t *at) {
  for (size_t i = from; i < len; i++) {
    const unsigned char c = (unsigned char)text[i];
    if (!(t->first_byte[c >> 3] >> (c & 7) & 1)) continue;
    int best = -1;
    for (int k = 0; k < t->n_added; k++) {
      const tok_added *a = &t->added[k];
      if (a->len <= len - i && !memcmp(text + i, a->s, a->len) && (best < 0 || a->len > t->added[best].len)) best = k;
    }
    if (best >= 0) {
      *at = i;
      return best;
    }
  }
  *at = len;
  return -1;
}

/* Moves *a forward / *b back over whitespace of the given kind (py: Python's str.strip). */
static void strip_left(const char *s, size_t *a, size_t b, int py) {
  while (*a < b) {
    uint32_t cp;
    const size_t n = utf8_decode((const unsigned char *)s + *a, b - *a, &cp);
    if (!n || !(py ? utf8_is_py_space(cp) : utf8_is_rust_space(cp))) return;
    *a += n;
  }
}

static void strip_right(const char *s, size_t a, size_t *b, int py) {
  while (*b > a) {
    const size_t i = a + utf8_last_start((const unsigned char *)s + a, *b - a);
    uint32_t cp;
    const size_t n = utf8_decode((const unsigned char *)s + i, *b - i, &cp);
    if (n != *b - i || !(py ? utf8_is_py_space(cp) : utf8_is_rust_space(cp))) return;
    *b = i;
  }
}

static ditc_status oom(const tokenizer *t, size_t len, ditc_err *err) {
  return ditc_fail(err, DITC_ENOMEM, "%s: out of memory tokenizing a text of %zu bytes", t->uni.name, len);
}

/* The fast tokenizer's chunk: Precompiled, Strip(right), Replace(" {2,}", U+2581), then Metaspace
 * (each ' ' to U+2581, U+2581 prepended, split before every U+2581) and the unigram per word. */
static ditc_status encode_fast_chunk(const tokenizer *t, const char *text, size_t len, tok_scratch *s, id_list *out,
                                     ditc_err *err) {
  ditc_status st = spm_normalize_replace(&t->norm, text, len, &s->norm, err);
  if (st != DITC_OK) return st;
  size_t end = s->norm.len;
  strip_right(s->norm.p, 0, &end, 0);
  text_buf *w = &s->word;
  w->len = 0;
  if (end == 0) return DITC_OK;
  if (!(end >= 3 && !memcmp(s->norm.p, SPACE_SYMBOL, 3)) && s->norm.p[0] != ' ' && !text_buf_append(w, SPACE_SYMBOL, 3))
    return oom(t, len, err);
  for (size_t i = 0; i < end;) {
    if (s->norm.p[i] == ' ') { /* a run of spaces: one U+2581 (Replace for two or more, Metaspace for one) */
      while (i < end && s->norm.p[i] == ' ') i++;
      if (!text_buf_append(w, SPACE_SYMBOL, 3)) return oom(t, len, err);
    } else if (!text_buf_append(w, s->norm.p + i++, 1)) {
      return oom(t, len, err);
    }
  }
  /* words: each starts at a U+2581 and runs to the next one */
  for (size_t a = 0; a < w->len;) {
    size_t b = a + 3;
    while (b < w->len && !(w->len - b >= 3 && !memcmp(w->p + b, SPACE_SYMBOL, 3))) b++;
    if (b > w->len) b = w->len;
    if ((st = unigram_encode(&t->uni, UNIGRAM_FAST, w->p + a, b - a, &s->lat, out, err)) != DITC_OK) return st;
    a = b;
  }
  return DITC_OK;
}

static ditc_status encode_chunk(const tokenizer *t, tok_kind kind, const char *text, size_t len, tok_scratch *s,
                                id_list *out, ditc_err *err) {
  if (len == 0) return DITC_OK;
  if (kind == TOK_FAST) return encode_fast_chunk(t, text, len, s, out, err);
  ditc_status st = spm_normalize(&t->norm, text, len, &s->norm, err);
  if (st != DITC_OK) return st;
  return unigram_encode(&t->uni, UNIGRAM_SP, s->norm.p, s->norm.len, &s->lat, out, err);
}

/* ---- the tokenizers --------------------------------------------------------------------------- */

ditc_status tok_encode(const tokenizer *t, tok_kind kind, const char *text, size_t len, tok_scratch *s,
                       id_list *out, ditc_err *err) {
  out->len = 0;
  if (kind == TOK_SP) return encode_chunk(t, kind, text, len, s, out, err);
  int strip_next = 0; /* the previous added token strips the start of this chunk */
  for (size_t pos = 0;;) {
    size_t at;
    const int k = next_added(t, text, len, pos, &at);
    size_t a = pos, b = at;
    if (kind == TOK_SLOW && strip_next) strip_left(text, &a, b, 1);
    if (kind == TOK_SLOW && k >= 0 && t->added[k].strip) strip_right(text, a, &b, 1);
    ditc_status st = encode_chunk(t, kind, text + a, b - a, s, out, err);
    if (st != DITC_OK) return st;
    if (k < 0) return DITC_OK;
    if (!id_list_push(out, t->added[k].id)) return oom(t, len, err);
    strip_next = t->added[k].strip;
    pos = at + t->added[k].len;
  }
}

size_t tok_finish(const tokenizer *t, tok_kind kind, const int32_t *ids, size_t n, size_t max_len, int32_t *row,
                  int32_t *mask) {
  DITC_CHECK(max_len == 0 || max_len >= 2);
  const size_t keep = max_len && n > max_len - 1 ? max_len - 1 : n;
  if (keep) memcpy(row, ids, keep * sizeof *row);
  size_t len = keep;
  if (kind == TOK_FAST || (kind == TOK_SLOW && !(keep > 0 && ids[keep - 1] == t->eos_id))) row[len++] = t->eos_id;
  for (size_t i = 0; i < max_len; i++) {
    if (i >= len) row[i] = t->pad_id;
    if (mask) mask[i] = i < len;
  }
  return len;
}
