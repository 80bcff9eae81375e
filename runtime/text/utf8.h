/* utf8.h: the UTF-8 facts the tokenizer needs: strict decoding (RFC 3629, as sentencepiece's
 * DecodeUTF8 checks it), the lead-byte length sentencepiece's lattice steps by, and the two
 * whitespace sets upstream strips with (Python's str.isspace for the slow tokenizer, Rust's
 * char::is_whitespace for the fast one). Not here: normalization (the model's charsmap is the
 * only source of those rules, see normalizer.c). */
#ifndef DITC_TEXT_UTF8_H
#define DITC_TEXT_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The length (1..4) of the valid character at s[0..n) (n > 0) and its code point in *cp, or 0
 * when the bytes there are not valid UTF-8 (overlong, surrogate, > U+10FFFF, truncated). */
size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp);

/* sentencepiece's OneCharLen: 1 for bytes 0x00..0xBF, 2 for 0xC0..0xDF, 3 for 0xE0..0xEF,
 * 4 for 0xF0..0xFF, clipped to n (n > 0). */
size_t utf8_lead_len(const unsigned char *s, size_t n);

/* Where the last character of s[0..n) starts (n > 0): the last byte's index when it is not the
 * end of a valid character. */
size_t utf8_last_start(const unsigned char *s, size_t n);

/* Python's str.isspace() of one code point. */
int utf8_is_py_space(uint32_t cp);
/* Rust's char::is_whitespace() (the Unicode White_Space property). */
int utf8_is_rust_space(uint32_t cp);

#endif
