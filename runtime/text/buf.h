/* buf.h: the growable UTF-8 string every step of the caption cleaner reads and writes, and the
 * UTF-8 helpers they share: one code point in and out, and Python's decoding of arbitrary bytes
 * with errors="replace". A failed allocation is sticky (buf.oom) so that a step appends freely
 * and checks once. Not here: any Unicode property (pystr.h) or regex (clean.c). */
#ifndef DITC_TEXT_BUF_H
#define DITC_TEXT_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
  char *p;                    /* NUL-terminated; may hold NULs before len */
  size_t len, cap;
  int oom;                    /* an append failed: the content is incomplete */
} tbuf;

void tbuf_free(tbuf *b);
void tbuf_clear(tbuf *b);     /* len = 0, clears oom, keeps (or makes) the memory: p != NULL */
void tbuf_add(tbuf *b, const char *s, size_t n);
void tbuf_adds(tbuf *b, const char *s);       /* NUL-terminated s */
void tbuf_addc(tbuf *b, uint32_t cp);         /* one code point as UTF-8 (must be valid) */
void tbuf_swap(tbuf *a, tbuf *b);

/* The code point at s[*i] of valid UTF-8 s[0..len); advances *i past it. */
uint32_t utf8_next(const char *s, size_t len, size_t *i);
/* The code point that ends at s[*i - 1]; moves *i back to its first byte (*i > 0). */
uint32_t utf8_prev(const char *s, size_t *i);

/* Appends s[0..len) to out, decoded as Python's bytes.decode("utf-8", "replace") does: each
 * maximal ill-formed subsequence (Unicode 3.9, "U+FFFD substitution of maximal subparts")
 * becomes one U+FFFD; surrogates, overlongs and values above U+10FFFF are ill-formed. */
void utf8_decode_replace(tbuf *out, const char *s, size_t len);

#endif
