/* pystr.h: the Python 3.11 str operations the caption cleaner uses, on UTF-8: isspace, strip,
 * lower (full mapping with final sigma), urllib.parse.unquote_plus and html.unescape, and the
 * Windows-1252 bytes 0x80..0x9F as Python's decoders and ftfy map them. Case mapping comes from
 * utf8proc. Not here: regexes (clean.c), HTML parsing (soup.c), ftfy (ftfy.c). */
#ifndef DITC_TEXT_PYSTR_H
#define DITC_TEXT_PYSTR_H

#include <stddef.h>
#include <stdint.h>

#include "text/buf.h"

/* str.isspace() of one code point (the same set as re's \s on str). */
int py_isspace(uint32_t c);

/* str.strip(): the bounds [*b, *e) of valid UTF-8 s[0..len) without leading/trailing spaces. */
void py_strip(const char *s, size_t len, size_t *b, size_t *e);

/* Appends str.lower() of valid UTF-8 s[0..len) to out: utf8proc's simple lower-case mapping, the
 * one unconditional multi-character mapping (U+0130 -> "i" U+0307) and the final-sigma rule. */
void py_lower(tbuf *out, const char *s, size_t len);

/* Appends urllib.parse.unquote_plus(s) to out: '+' -> ' ', %XX within each ASCII run decoded as
 * UTF-8 with errors="replace", a '%' not followed by two hex digits kept. */
void py_unquote_plus(tbuf *out, const char *s, size_t len);

/* Appends html.unescape(s) to out: named references by the HTML5 table (longest prefix for a
 * name without ';'), numeric ones with the standard's replacements of invalid values. */
void py_html_unescape(tbuf *out, const char *s, size_t len);

/* The code point of byte 0x80..0x9F in Windows-1252, its five undefined bytes kept as U+0080..
 * U+009F (ftfy's "sloppy" codec; also bs4's fallback for a character reference < 256). */
uint32_t cp1252_c1(unsigned byte);

#endif
