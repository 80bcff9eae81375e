/* normalizer.c: the charsmap trie walk and sentencepiece's Normalize (see normalizer.h).
 * A darts-clone unit u: has_leaf = bit 8, value = u & 0x7FFFFFFF, label = u & 0x800000FF,
 * offset = (u >> 10) << ((u & 0x200) >> 6). From the root (unit 0), each input byte c moves to
 * node ^ offset ^ c, which must carry label c; a node with a leaf has its value in the unit at
 * node ^ offset, an index into the pool. */
#include "normalizer.h"

#include <string.h>

#include "utf8.h"

static const char SPACE_SYMBOL[] = "\xe2\x96\x81"; /* U+2581, what ' ' is escaped to */
static const char REPLACEMENT[] = "\xef\xbf\xbd";  /* U+FFFD, what an invalid byte becomes */

/* ---- the charsmap ----------------------------------------------------------------------------- */

static uint32_t unit_at(const spm_normalizer *n, size_t i) {
  const unsigned char *p = n->trie + 4 * i;
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static size_t unit_offset(uint32_t u) { return (size_t)(u >> 10) << ((u & 0x200) >> 6); }

ditc_status spm_normalizer_init(spm_normalizer *n, const spm_model *m, const piece_trie *user,
                                const int32_t *user_id, const char *name, ditc_err *err) {
  *n = (spm_normalizer){.model = m, .user = user, .user_id = user_id, .name = name};
  if (m->charsmap_size == 0) return DITC_OK; /* no rules: text passes through */
  const unsigned char *b = m->charsmap;
  if (m->charsmap_size < 4)
    return ditc_fail(err, DITC_EINVAL, "%s: normalizer_spec.precompiled_charsmap: %zu bytes, shorter than its "
                     "4-byte trie size", name, m->charsmap_size);
  const size_t t = (size_t)b[0] | (size_t)b[1] << 8 | (size_t)b[2] << 16 | (size_t)b[3] << 24;
  if (t < 4 || t % 4 != 0 || t > m->charsmap_size - 4)
    return ditc_fail(err, DITC_EINVAL, "%s: normalizer_spec.precompiled_charsmap: trie size %zu is not a "
                     "positive multiple of 4 within the %zu bytes that follow it", name, t, m->charsmap_size - 4);
  n->trie = b + 4;
  n->n_units = t / 4;
  n->pool = (const char *)b + 4 + t;
  n->pool_size = m->charsmap_size - 4 - t;
  return DITC_OK;
}

static ditc_status corrupt(const spm_normalizer *n, const char *what, size_t v, ditc_err *err) {
  return ditc_fail(err, DITC_EINVAL, "%s: normalizer_spec.precompiled_charsmap: %s (%zu; the trie has %zu units, "
                   "the pool %zu bytes)", n->name, what, v, n->n_units, n->pool_size);
}

/* The longest charsmap key that is a prefix of s[0..len): its length in *match (0: none) and
 * its replacement in *rep / *rep_len. */
static ditc_status trie_longest(const spm_normalizer *n, const unsigned char *s, size_t len, size_t *match,
                                const char **rep, size_t *rep_len, ditc_err *err) {
  *match = 0;
  if (!n->trie) return DITC_OK;
  size_t node = unit_offset(unit_at(n, 0)), value = 0;
  for (size_t i = 0; i < len; i++) {
    node ^= s[i];
    if (node >= n->n_units) break; /* outside the array: no unit carries this label */
    const uint32_t u = unit_at(n, node);
    if ((u & 0x800000FFu) != s[i]) break;
    node ^= unit_offset(u);
    if (u >> 8 & 1) {
      if (node >= n->n_units) return corrupt(n, "a leaf lies outside the trie", node, err);
      value = unit_at(n, node) & 0x7FFFFFFFu;
      *match = i + 1;
    }
  }
  if (!*match) return DITC_OK;
  if (value >= n->pool_size) return corrupt(n, "a replacement starts outside the pool", value, err);
  const char *end = memchr(n->pool + value, 0, n->pool_size - value);
  if (!end) return corrupt(n, "a replacement has no terminating NUL in the pool", value, err);
  *rep = n->pool + value;
  *rep_len = (size_t)(end - *rep);
  return DITC_OK;
}

/* The longest USER_DEFINED piece that is a prefix of s[0..len), or 0. */
static size_t user_prefix(const spm_normalizer *n, const unsigned char *s, size_t len) {
  if (!n->user) return 0;
  size_t best = 0;
  int32_t node = 0;
  for (size_t i = 0; i < len && (node = piece_trie_child(n->user, node, s[i])) >= 0; i++)
    if (n->user_id[node] >= 0) best = i + 1;
  return best;
}

/* sentencepiece's NormalizePrefix: what the text at s[0..len) (len > 0) becomes, and how many
 * bytes that consumes. */
static ditc_status norm_prefix(const spm_normalizer *n, const unsigned char *s, size_t len, int user,
                               const char **rep, size_t *rep_len, size_t *consumed, ditc_err *err) {
  const size_t u = user ? user_prefix(n, s, len) : 0;
  if (u) {
    *rep = (const char *)s;
    *rep_len = *consumed = u;
    return DITC_OK;
  }
  ditc_status st = trie_longest(n, s, len, consumed, rep, rep_len, err);
  if (st != DITC_OK || *consumed) return st;
  uint32_t cp;
  const size_t c = utf8_decode(s, len, &cp);
  if (c) {
    *rep = (const char *)s;
    *rep_len = *consumed = c;
  } else {
    *rep = REPLACEMENT;
    *rep_len = 3;
    *consumed = 1;
  }
  return DITC_OK;
}

/* ---- the passes ------------------------------------------------------------------------------- */

ditc_status spm_normalize(const spm_normalizer *n, const char *text, size_t len, text_buf *out, ditc_err *err) {
  const spm_model *m = n->model;
  const unsigned char *s = (const unsigned char *)text;
  out->len = 0;
  const char *rep;
  size_t rep_len, used;
  ditc_status st;
  if (m->remove_extra_whitespaces) { /* leading units that become exactly " " */
    while (len > 0) {
      if ((st = norm_prefix(n, s, len, 1, &rep, &rep_len, &used, err)) != DITC_OK) return st;
      if (rep_len != 1 || rep[0] != ' ') break;
      s += used;
      len -= used;
    }
  }
  if (len == 0) return DITC_OK;
  const char *space = m->escape_whitespaces ? SPACE_SYMBOL : " ";
  const size_t space_len = strlen(space);
  if (m->add_dummy_prefix && !text_buf_append(out, space, space_len)) goto oom;
  int prev_space = m->remove_extra_whitespaces;
  while (len > 0) {
    if ((st = norm_prefix(n, s, len, 1, &rep, &rep_len, &used, err)) != DITC_OK) return st;
    if (prev_space)
      while (rep_len > 0 && rep[0] == ' ') rep++, rep_len--;
    if (rep_len > 0) {
      for (size_t i = 0; i < rep_len; i++) {
        const int ok = rep[i] == ' ' ? text_buf_append(out, space, space_len) : text_buf_append(out, rep + i, 1);
        if (!ok) goto oom;
      }
      prev_space = rep[rep_len - 1] == ' ';
    }
    s += used;
    len -= used;
    if (!m->remove_extra_whitespaces) prev_space = 0;
  }
  if (m->remove_extra_whitespaces)
    while (out->len >= space_len && !memcmp(out->p + out->len - space_len, space, space_len)) out->len -= space_len;
  return DITC_OK;
oom:
  return ditc_fail(err, DITC_ENOMEM, "%s: out of memory normalizing a text of %zu bytes", n->name, len);
}

ditc_status spm_normalize_replace(const spm_normalizer *n, const char *text, size_t len, text_buf *out,
                                  ditc_err *err) {
  const unsigned char *s = (const unsigned char *)text;
  out->len = 0;
  while (len > 0) {
    const char *rep;
    size_t rep_len, used;
    ditc_status st = norm_prefix(n, s, len, 0, &rep, &rep_len, &used, err);
    if (st != DITC_OK) return st;
    if (!text_buf_append(out, rep, rep_len))
      return ditc_fail(err, DITC_ENOMEM, "%s: out of memory normalizing a text of %zu bytes", n->name, len);
    s += used;
    len -= used;
  }
  return DITC_OK;
}
