/* re.h: Python 3 `re` on str, as far as the caption cleaner needs it, on top of PCRE2 (8-bit,
 * PCRE2_UTF | PCRE2_UCP): the character classes spelled so that they mean what Python's mean
 * whatever PCRE2's own \s, \w and \b are in a given version, one compiled pattern, anchored and
 * unanchored matching at an offset, and re.sub. Patterns are compiled once into a caller-owned
 * struct. Not here: which patterns (clean.c, soup.c). */
#ifndef DITC_TEXT_RE_H
#define DITC_TEXT_RE_H

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stddef.h>

#include "ditc_status.h"
#include "text/buf.h"

/* Python's \s on str: str.isspace() (includes U+001C..U+001F, unlike PCRE2's \s). */
#define PY_SPACES "\\t-\\r\\x{1c}-\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"
#define PY_S "[" PY_SPACES "]"
#define PY_NS "[^" PY_SPACES "]"
/* \w: str.isalnum() or '_' (Unicode letters and numbers; no combining marks) */
#define PY_WORD "\\p{L}\\p{N}_"
#define PY_W "[" PY_WORD "]"
/* \d: decimal digits (Nd); \D its complement */
#define PY_D "\\p{Nd}"
#define PY_ND "\\P{Nd}"
/* \b: a boundary between a \w character and a non-\w one (or an end) */
#define PY_B "(?:(?<=" PY_W ")(?!" PY_W ")|(?<!" PY_W ")(?=" PY_W "))"

typedef struct {
  pcre2_code *code;
  pcre2_match_data *md;
  const char *pattern;        /* the PCRE2 source (static), for messages */
} pyre;

/* Compiles pattern (PCRE2_UTF | PCRE2_UCP | extra) with JIT where available. A pattern that does
 * not compile is a bug: aborts with PCRE2's message. DITC_ENOMEM when out of memory. */
ditc_status pyre_compile(pyre *re, const char *pattern, uint32_t extra, ditc_err *err);
void pyre_free(pyre *re);

/* Matches at s[at] (anchored) or searches from at (unanchored) in valid UTF-8 s[0..len).
 * Returns 1 and the group offsets in ov (ov[2k], ov[2k+1]; PCRE2_UNSET for an unset group), 0
 * when there is none, and -1 when PCRE2 gave up (match limit). */
int pyre_match(pyre *re, const char *s, size_t len, size_t at, int anchored, PCRE2_SIZE **ov);

/* re.sub(pattern, repl, s): every non-overlapping match replaced by repl, where "$1" is group 1
 * (PCRE2's replacement syntax; the cleaner's replacements use no other '$'). Appends to out. */
ditc_status pyre_sub(pyre *re, const char *s, size_t len, const char *repl, tbuf *out, ditc_err *err);

#endif
