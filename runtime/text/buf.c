/* buf.c: the cleaner's growable string and UTF-8 helpers (see buf.h). Not Unicode properties. */
#include "text/buf.h"

#include <stdlib.h>
#include <string.h>

#include "ditc_status.h"

void tbuf_free(tbuf *b) {
  free(b->p);
  memset(b, 0, sizeof *b);
}

static int grow(tbuf *b, size_t n);

void tbuf_clear(tbuf *b) {
  b->len = 0;
  b->oom = 0;
  if (grow(b, 0)) b->p[0] = 0;   /* p is never NULL after a clear that had memory */
}

static int grow(tbuf *b, size_t n) {
  if (b->oom) return 0;
  if (b->len + n + 1 <= b->cap) return 1;
  size_t cap = b->cap ? b->cap : 64;
  while (cap < b->len + n + 1) {
    if (cap > SIZE_MAX / 2) { b->oom = 1; return 0; }
    cap *= 2;
  }
  char *p = realloc(b->p, cap);
  if (!p) { b->oom = 1; return 0; }
  b->p = p;
  b->cap = cap;
  return 1;
}

void tbuf_add(tbuf *b, const char *s, size_t n) {
  if (!grow(b, n)) return;
  if (n) memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = 0;
}

void tbuf_adds(tbuf *b, const char *s) { tbuf_add(b, s, strlen(s)); }

void tbuf_addc(tbuf *b, uint32_t cp) {
  char u[4];
  size_t n;
  DITC_CHECK(cp <= 0x10FFFF && (cp < 0xD800 || cp > 0xDFFF));
  if (cp < 0x80) { u[0] = (char)cp; n = 1; }
  else if (cp < 0x800) { u[0] = (char)(0xC0 | cp >> 6); u[1] = (char)(0x80 | (cp & 63)); n = 2; }
  else if (cp < 0x10000) {
    u[0] = (char)(0xE0 | cp >> 12); u[1] = (char)(0x80 | (cp >> 6 & 63)); u[2] = (char)(0x80 | (cp & 63));
    n = 3;
  } else {
    u[0] = (char)(0xF0 | cp >> 18); u[1] = (char)(0x80 | (cp >> 12 & 63));
    u[2] = (char)(0x80 | (cp >> 6 & 63)); u[3] = (char)(0x80 | (cp & 63));
    n = 4;
  }
  tbuf_add(b, u, n);
}

void tbuf_swap(tbuf *a, tbuf *b) {
  tbuf t = *a;
  *a = *b;
  *b = t;
}

uint32_t utf8_next(const char *s, size_t len, size_t *i) {
  const unsigned char *u = (const unsigned char *)s;
  size_t k = *i;
  DITC_CHECK(k < len);
  uint32_t c = u[k];
  int n = c < 0x80 ? 0 : c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
  DITC_CHECK(k + (size_t)n < len);
  if (n) c &= 0x3Fu >> n;
  for (int j = 1; j <= n; j++) c = c << 6 | (u[k + j] & 63);
  *i = k + 1 + (size_t)n;
  return c;
}

uint32_t utf8_prev(const char *s, size_t *i) {
  const unsigned char *u = (const unsigned char *)s;
  size_t k = *i;
  DITC_CHECK(k > 0);
  do k--; while (k > 0 && (u[k] & 0xC0) == 0x80);
  size_t j = k;
  *i = k;
  return utf8_next(s, (size_t)-1, &j);
}

void utf8_decode_replace(tbuf *out, const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  size_t i = 0;
  while (i < len) {
    unsigned c = u[i];
    if (c < 0x80) {
      size_t j = i;
      while (j < len && u[j] < 0x80) j++;
      tbuf_add(out, s + i, j - i);
      i = j;
      continue;
    }
    int need;
    unsigned lo = 0x80, hi = 0xBF;   /* the range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) need = 1;
    else if (c >= 0xE0 && c <= 0xEF) {
      need = 2;
      if (c == 0xE0) lo = 0xA0;
      if (c == 0xED) hi = 0x9F;
    } else if (c >= 0xF0 && c <= 0xF4) {
      need = 3;
      if (c == 0xF0) lo = 0x90;
      if (c == 0xF4) hi = 0x8F;
    } else {
      tbuf_addc(out, 0xFFFD);
      i++;
      continue;
    }
    size_t j = i + 1;
    int got = 0;
    while (got < need && j < len) {
      unsigned b = u[j];
      if (got == 0 ? (b < lo || b > hi) : (b < 0x80 || b > 0xBF)) break;
      got++;
      j++;
    }
    if (got == need) tbuf_add(out, s + i, j - i);
    else tbuf_addc(out, 0xFFFD);
    i = j;
  }
}
