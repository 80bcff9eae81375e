/* unigram.c: the vocabulary trie and the Viterbi segmentation in sentencepiece's and
 * tokenizers' numeric modes (see unigram.h). */
#include "unigram.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

/* sentencepiece's kUnkPenalty and tokenizers' K_UNK_PENALTY */
#define UNK_PENALTY 10.0

/* ---- the model -------------------------------------------------------------------------------- */

ditc_status unigram_init(unigram_model *u, const spm_model *m, int n_extra, const char *name, ditc_err *err) {
  *u = (unigram_model){.model = m, .n_extra = n_extra, .name = name};
  size_t key_bytes = 0, extra_bytes = 0;
  for (int i = 0; i < m->n_pieces; i++) key_bytes += m->pieces[i].len;
  char tmp[32];
  for (int k = 0; k < n_extra; k++) extra_bytes += (size_t)snprintf(tmp, sizeof tmp, "<extra_id_%d>", k) + 1;
  u->extra = malloc(extra_bytes + 1);
  if (!u->extra || !piece_trie_init(&u->trie, key_bytes + extra_bytes)) goto oom;
  const size_t n_nodes = (size_t)u->trie.max_nodes;
  u->sp_id = malloc(n_nodes * sizeof *u->sp_id);
  u->fast_id = malloc(n_nodes * sizeof *u->fast_id);
  u->user_id = malloc(n_nodes * sizeof *u->user_id);
  if (!u->sp_id || !u->fast_id || !u->user_id) goto oom;
  for (size_t i = 0; i < n_nodes; i++) u->sp_id[i] = u->fast_id[i] = u->user_id[i] = -1;

  /* as sentencepiece's unigram_model.cc starts them: the maximum from FLT_MIN (the smallest
   * positive float), so with the usual negative scores a user-defined piece scores about -0.1 */
  u->min_score = FLT_MAX;
  u->max_score = FLT_MIN;
  u->fast_min = n_extra > 0 ? 0.0 : DBL_MAX;
  for (int i = 0; i < m->n_pieces; i++) {
    const spm_piece *p = &m->pieces[i];
    const int32_t node = piece_trie_insert(&u->trie, p->s, p->len);
    u->fast_id[node] = i;
    if (p->score < u->fast_min) u->fast_min = p->score;
    if (p->type == SPM_NORMAL || p->type == SPM_USER_DEFINED || p->type == SPM_UNUSED) u->sp_id[node] = i;
    if (p->type == SPM_USER_DEFINED) u->user_id[node] = i, u->has_user = 1;
    if (p->type == SPM_NORMAL) {
      if (p->score < u->min_score) u->min_score = p->score;
      if (p->score > u->max_score) u->max_score = p->score;
    }
  }
  char *e = u->extra;
  for (int k = 0; k < n_extra; k++) {
    const int n = snprintf(e, 32, "<extra_id_%d>", k);
    u->fast_id[piece_trie_insert(&u->trie, e, (size_t)n)] = m->n_pieces + n_extra - 1 - k;
    e += n + 1;
  }
  return DITC_OK;
oom:
  unigram_free(u);
  return ditc_fail(err, DITC_ENOMEM, "%s: out of memory building the vocabulary trie", name);
}

void unigram_free(unigram_model *u) {
  piece_trie_free(&u->trie);
  free(u->sp_id);
  free(u->fast_id);
  free(u->user_id);
  free(u->extra);
  *u = (unigram_model){0};
}

void unigram_extra(const unigram_model *u, int32_t id, const char **s, size_t *len) {
  const int k = u->model->n_pieces + u->n_extra - 1 - id;
  DITC_CHECK(k >= 0 && k < u->n_extra);
  const char *e = u->extra;
  for (int i = 0; i < k; i++) e += strlen(e) + 1;
  *s = e;
  *len = strlen(e);
}

void unigram_lattice_free(unigram_lattice *lat) {
  free(lat->score);
  free(lat->start);
  free(lat->id);
  *lat = (unigram_lattice){0};
}

/* ---- segmentation ----------------------------------------------------------------------------- */

static int lattice_reserve(unigram_lattice *lat, size_t n) {
  if (n + 1 <= lat->cap) return 1;
  size_t cap = lat->cap ? lat->cap : 256;
  while (cap < n + 1) cap *= 2;
  double *sc = realloc(lat->score, cap * sizeof *sc);
  if (sc) lat->score = sc;
  int32_t *st = realloc(lat->start, cap * sizeof *st);
  if (st) lat->start = st;
  int32_t *id = realloc(lat->id, cap * sizeof *id);
  if (id) lat->id = id;
  if (!sc || !st || !id) return 0;
  lat->cap = cap;
  return 1;
}

ditc_status unigram_encode(const unigram_model *u, unigram_mode mode, const char *text, size_t len,
                           unigram_lattice *lat, id_list *out, ditc_err *err) {
  if (len == 0) return DITC_OK;
  if (len >= (size_t)INT32_MAX || !lattice_reserve(lat, len))
    return ditc_fail(err, DITC_ENOMEM, "%s: out of memory segmenting a text of %zu bytes", u->name, len);
  const spm_model *m = u->model;
  const unsigned char *s = (const unsigned char *)text;
  const int32_t *ids = mode == UNIGRAM_SP ? u->sp_id : u->fast_id;
  const float unk_score_f = (float)(u->min_score - (float)UNK_PENALTY);
  const double unk_score_d = u->fast_min - UNK_PENALTY;
  const int32_t unk = m->unk_id;
  lat->score[0] = 0.0;
  lat->start[0] = 0;
  lat->id[0] = -1;
  for (size_t i = 1; i <= len; i++) lat->id[i] = -1, lat->start[i] = -1;

  for (size_t pos = 0; pos < len;) {
    const double here = lat->score[pos];
    const size_t mblen = utf8_lead_len(s + pos, len - pos);
    int has_single = 0;
    int32_t node = 0;
    for (size_t k = pos; k < len && (node = piece_trie_child(&u->trie, node, s[k])) >= 0;) {
      const int32_t id = ids[node];
      const size_t plen = ++k - pos;
      if (id < 0) continue;
      const spm_piece *p = id < m->n_pieces ? &m->pieces[id] : NULL;
      if (mode == UNIGRAM_SP && p->type == SPM_UNUSED) continue;
      double cand;
      if (mode == UNIGRAM_SP) /* a double: the user-defined branch of upstream's ternary is one */
        cand = (p->type == SPM_USER_DEFINED ? (double)plen * u->max_score - 0.1 : (double)p->score) + here;
      else
        cand = (p ? (double)p->score : 0.0) + here;
      if (lat->start[k] < 0 || cand > lat->score[k]) {
        lat->score[k] = mode == UNIGRAM_SP ? (double)(float)cand : cand;
        lat->start[k] = (int32_t)pos;
        lat->id[k] = id;
      }
      if (plen == mblen) has_single = 1;
    }
    if (!has_single) { /* an unknown character */
      const size_t e = pos + mblen;
      if (mode == UNIGRAM_SP) {
        const float cand = unk_score_f + (float)here;
        if (lat->start[e] < 0 || cand > (float)lat->score[e]) {
          lat->score[e] = cand;
          lat->start[e] = (int32_t)pos;
          lat->id[e] = unk;
        }
      } else {
        const double cand = unk_score_d + here;
        if (lat->start[e] < 0 || cand > lat->score[e]) {
          lat->score[e] = cand;
          lat->start[e] = (int32_t)pos;
          lat->id[e] = unk;
        }
      }
    }
    pos += mblen;
  }

  /* backtrack (the ids come out reversed), merging runs of unknowns */
  const size_t first = out->len;
  for (size_t e = len; e > 0; e = (size_t)lat->start[e]) {
    DITC_CHECK(lat->start[e] >= 0 && (size_t)lat->start[e] < e);
    const int32_t id = lat->id[e];
    if (id == unk && out->len > first && out->p[out->len - 1] == unk) continue;
    if (!id_list_push(out, id))
      return ditc_fail(err, DITC_ENOMEM, "%s: out of memory segmenting a text of %zu bytes", u->name, len);
  }
  for (size_t a = first, b = out->len; a + 1 < b; a++, b--) {
    const int32_t t = out->p[a];
    out->p[a] = out->p[b - 1];
    out->p[b - 1] = t;
  }
  return DITC_OK;
}
