/* textbuf.h: a growable byte buffer and a growable id list for the tokenizer's scratch, reused
 * across prompts (cleared, not freed). Growth doubles, so memory stays within twice the largest
 * content. Not a string library. */
#ifndef DITC_TEXT_TEXTBUF_H
#define DITC_TEXT_TEXTBUF_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  char *p;
  size_t len, cap;
} text_buf;

typedef struct {
  int32_t *p;
  size_t len, cap;
} id_list;

/* Makes room for `more` bytes after len; 0 when out of memory. */
static inline int text_buf_reserve(text_buf *b, size_t more) {
  if (more <= b->cap - b->len) return 1;
  if (more > SIZE_MAX / 4 - b->len) return 0;
  size_t cap = b->cap ? b->cap : 64;
  while (cap - b->len < more) cap *= 2;
  char *p = realloc(b->p, cap);
  if (!p) return 0;
  b->p = p;
  b->cap = cap;
  return 1;
}

static inline int text_buf_append(text_buf *b, const void *s, size_t n) {
  if (!text_buf_reserve(b, n)) return 0;
  if (n) memcpy(b->p + b->len, s, n);
  b->len += n;
  return 1;
}

static inline void text_buf_free(text_buf *b) {
  free(b->p);
  *b = (text_buf){0};
}

static inline int id_list_push(id_list *l, int32_t id) {
  if (l->len == l->cap) {
    const size_t cap = l->cap ? 2 * l->cap : 64;
    if (cap > SIZE_MAX / 8) return 0;
    int32_t *p = realloc(l->p, cap * sizeof *p);
    if (!p) return 0;
    l->p = p;
    l->cap = cap;
  }
  l->p[l->len++] = id;
  return 1;
}

static inline void id_list_free(id_list *l) {
  free(l->p);
  *l = (id_list){0};
}

#endif
