/* utf8.c: strict UTF-8 decoding, sentencepiece's lead-byte length and two whitespace sets (see
 * utf8.h). The sets are the Unicode White_Space property, plus U+001C..U+001F for Python. */
#include "utf8.h"

#include "ditc_status.h"

size_t utf8_decode(const unsigned char *s, size_t n, uint32_t *cp) {
  const unsigned c = s[0];
  if (c < 0x80) {
    *cp = c;
    return 1;
  }
  const size_t len = ditc_utf8_seq(s, n);
  if (!len) return 0;
  uint32_t v = c & (0x7F >> len);
  for (size_t i = 1; i < len; i++) v = v << 6 | (s[i] & 0x3F);
  *cp = v;
  return len;
}

size_t utf8_lead_len(const unsigned char *s, size_t n) {
  static const unsigned char len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  const size_t l = len[s[0] >> 4];
  return l < n ? l : n;
}

size_t utf8_last_start(const unsigned char *s, size_t n) {
  for (size_t back = 1; back <= 4 && back <= n; back++) {
    const size_t i = n - back;
    if ((s[i] & 0xC0) == 0x80) continue;
    uint32_t cp;
    return utf8_decode(s + i, back, &cp) == back ? i : n - 1;
  }
  return n - 1;
}

int utf8_is_rust_space(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
         cp == 0x3000;
}

int utf8_is_py_space(uint32_t cp) { return (cp >= 0x1C && cp <= 0x1F) || utf8_is_rust_space(cp); }
