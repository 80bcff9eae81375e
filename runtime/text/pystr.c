/* pystr.c: Python 3.11's str.isspace/strip/lower, unquote_plus and html.unescape on UTF-8 (see
 * pystr.h). Not regexes, not HTML parsing. */
#include "text/pystr.h"

#include <string.h>
#include <utf8proc.h>

#include "ditc_status.h"
#include "text/entities.h"

/* ---- entity lookup ------------------------------------------------------------------------- */

const char *entity_find(const text_entity *table, size_t count, const char *name, size_t len) {
  size_t lo = 0, hi = count;
  while (lo < hi) {
    size_t mid = lo + (hi - lo) / 2;
    const char *n = table[mid].name;
    size_t nl = strlen(n);
    int c = memcmp(n, name, nl < len ? nl : len);
    if (c == 0) c = nl < len ? -1 : nl > len ? 1 : 0;
    if (c == 0) return table[mid].value;
    if (c < 0) lo = mid + 1;
    else hi = mid;
  }
  return NULL;
}

/* ---- whitespace ---------------------------------------------------------------------------- */

int py_isspace(uint32_t c) {
  if (c < 0x80) return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20);
  return c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 ||
         c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

void py_strip(const char *s, size_t len, size_t *b, size_t *e) {
  size_t i = 0, j = len;
  while (i < len) {
    size_t k = i;
    if (!py_isspace(utf8_next(s, len, &k))) break;
    i = k;
  }
  while (j > i) {
    size_t k = j;
    if (!py_isspace(utf8_prev(s, &k))) break;
    j = k;
  }
  *b = i;
  *e = j;
}

/* ---- lower() ------------------------------------------------------------------------------- */

/* Unicode's Cased property, from utf8proc's categories and mappings (plus the two Lo letters
 * with Other_Lowercase that a Latin text meets, U+00AA and U+00BA). */
static int is_cased(uint32_t c) {
  utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
  if (k == UTF8PROC_CATEGORY_LU || k == UTF8PROC_CATEGORY_LL || k == UTF8PROC_CATEGORY_LT) return 1;
  if (c == 0xAA || c == 0xBA) return 1;
  return utf8proc_tolower((utf8proc_int32_t)c) != (utf8proc_int32_t)c ||
         utf8proc_toupper((utf8proc_int32_t)c) != (utf8proc_int32_t)c;
}

/* Unicode's Case_Ignorable property: Mn, Me, Cf, Lm, Sk, and Word_Break MidLetter, MidNumLet
 * and Single_Quote. */
static int is_case_ignorable(uint32_t c) {
  static const uint32_t mid[] = {0x27,   0x2E,   0x3A,   0xB7,   0x387,  0x55F,  0x5F4,  0x2018,
                                 0x2019, 0x2024, 0x2027, 0xFE13, 0xFE52, 0xFE55, 0xFF07, 0xFF0E,
                                 0xFF1A};
  utf8proc_category_t k = utf8proc_category((utf8proc_int32_t)c);
  if (k == UTF8PROC_CATEGORY_MN || k == UTF8PROC_CATEGORY_ME || k == UTF8PROC_CATEGORY_CF ||
      k == UTF8PROC_CATEGORY_LM || k == UTF8PROC_CATEGORY_SK)
    return 1;
  for (size_t i = 0; i < sizeof mid / sizeof mid[0]; i++)
    if (mid[i] == c) return 1;
  return 0;
}

/* CPython's handle_capital_sigma: s[at] is U+03A3 of length 2; final when a cased letter precedes
 * it and none follows (case-ignorable characters skipped on both sides). */
static int final_sigma(const char *s, size_t len, size_t at) {
  size_t i = at;
  uint32_t c = 0;
  int found = 0;
  while (i > 0) {
    c = utf8_prev(s, &i);
    if (!is_case_ignorable(c)) { found = 1; break; }
  }
  if (!found || !is_cased(c)) return 0;
  i = at + 2;
  while (i < len) {
    c = utf8_next(s, len, &i);
    if (!is_case_ignorable(c)) return !is_cased(c);
  }
  return 1;
}

void py_lower(tbuf *out, const char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    if ((unsigned char)s[i] < 0x80) {
      char c = s[i++];
      if (c >= 'A' && c <= 'Z') c = (char)(c - 'A' + 'a');
      tbuf_add(out, &c, 1);
      continue;
    }
    size_t at = i;
    uint32_t c = utf8_next(s, len, &i);
    if (c == 0x130) tbuf_adds(out, "i\xcc\x87");
    else if (c == 0x3A3) tbuf_addc(out, final_sigma(s, len, at) ? 0x3C2 : 0x3C3);
    else tbuf_addc(out, (uint32_t)utf8proc_tolower((utf8proc_int32_t)c));
  }
}

/* ---- unquote_plus -------------------------------------------------------------------------- */

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

void py_unquote_plus(tbuf *out, const char *s, size_t len) {
  tbuf run = {0};
  size_t i = 0;
  while (i < len) {
    if ((unsigned char)s[i] >= 0x80) {   /* a non-ASCII run is copied as it is */
      size_t j = i;
      while (j < len && (unsigned char)s[j] >= 0x80) j++;
      tbuf_add(out, s + i, j - i);
      i = j;
      continue;
    }
    tbuf_clear(&run);                    /* an ASCII run: its %XX bytes decode together */
    while (i < len && (unsigned char)s[i] < 0x80) {
      char c = s[i];
      int h, l;
      if (c == '+') c = ' ';
      if (c == '%' && i + 2 < len && (h = hexval(s[i + 1])) >= 0 && (l = hexval(s[i + 2])) >= 0) {
        char byte = (char)(h << 4 | l);
        tbuf_add(&run, &byte, 1);
        i += 3;
        continue;
      }
      tbuf_add(&run, &c, 1);
      i++;
    }
    if (run.oom) out->oom = 1;
    else utf8_decode_replace(out, run.p, run.len);
  }
  tbuf_free(&run);
}

/* ---- html.unescape ------------------------------------------------------------------------- */

uint32_t cp1252_c1(unsigned byte) {
  static const uint16_t t[32] = {
      0x20AC, 0x81,   0x201A, 0x192,  0x201E, 0x2026, 0x2020, 0x2021, 0x2C6,  0x2030, 0x160,
      0x2039, 0x152,  0x8D,   0x17D,  0x8F,   0x90,   0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x2DC,  0x2122, 0x161,  0x203A, 0x153,  0x9D,   0x17E,  0x178};
  DITC_CHECK(byte >= 0x80 && byte <= 0x9F);
  return t[byte - 0x80];
}

/* html._replace_charref for a numeric reference of value num (saturated above 0x10FFFF). */
static void add_numeric(tbuf *out, uint64_t num) {
  if (num == 0) { tbuf_addc(out, 0xFFFD); return; }
  if (num == 0x0D) { tbuf_adds(out, "\r"); return; }
  if (num >= 0x80 && num <= 0x9F) { tbuf_addc(out, cp1252_c1((unsigned)num)); return; }
  if ((num >= 0xD800 && num <= 0xDFFF) || num > 0x10FFFF) { tbuf_addc(out, 0xFFFD); return; }
  if ((num >= 1 && num <= 8) || num == 0x0B || (num >= 0x0E && num <= 0x1F) || (num >= 0x7F && num <= 0x9F) ||
      (num >= 0xFDD0 && num <= 0xFDEF) || (num & 0xFFFE) == 0xFFFE)
    return;
  tbuf_addc(out, (uint32_t)num);
}

/* One reference after the '&' at s[0..len): returns the bytes consumed (0: not a reference). */
static size_t unescape_one(tbuf *out, const char *s, size_t len) {
  size_t i = 0;
  if (len >= 2 && s[0] == '#') {
    int hex = s[1] == 'x' || s[1] == 'X';
    i = hex ? 2 : 1;
    size_t d = i;
    uint64_t num = 0;
    while (i < len && (hex ? hexval(s[i]) >= 0 : (s[i] >= '0' && s[i] <= '9'))) {
      if (num <= 0x10FFFF) num = num * (hex ? 16 : 10) + (uint64_t)hexval(s[i]);
      i++;
    }
    if (i == d) return 0;
    if (i < len && s[i] == ';') i++;
    add_numeric(out, num);
    return i;
  }
  /* [^\t\n\f <&#;]{1,32};? counted in characters; names are ASCII, so only the ASCII head
   * of a longer match can be a prefix that names an entity */
  size_t chars = 0, ascii = 0;
  while (i < len && chars < 32 && !memchr("\t\n\f <&#;", s[i], 8)) {
    if ((unsigned char)s[i] < 0x80) i++;
    else utf8_next(s, len, &i);
    chars++;
    if (i == chars) ascii = i;
  }
  if (i == 0) return 0;
  if (i < len && s[i] == ';') { i++; chars++; if (ascii == i - 1) ascii = i; }
  const char *v = entity_find(text_html5, text_html5_count, s, i);
  if (v) { tbuf_adds(out, v); return i; }
  for (size_t x = ascii < chars - 1 ? ascii : chars - 1; x > 1; x--) {
    v = entity_find(text_html5, text_html5_count, s, x);
    if (v) {
      tbuf_adds(out, v);
      return x;            /* the rest of the name is copied as text by the caller */
    }
  }
  tbuf_add(out, "&", 1);
  return 0;                /* the caller copies the name itself */
}

void py_html_unescape(tbuf *out, const char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    const char *amp = memchr(s + i, '&', len - i);
    size_t j = amp ? (size_t)(amp - s) : len;
    tbuf_add(out, s + i, j - i);
    if (j == len) break;
    size_t before = out->len;
    size_t n = unescape_one(out, s + j + 1, len - j - 1);
    if (n == 0 && out->len == before) tbuf_add(out, "&", 1);
    i = j + 1 + n;
  }
}
