/* status.c: ditc_fail, the formatter of user-facing error messages, and ditc_shown, the one
 * escaping of names those messages print. Nothing else. */
#include <stdarg.h>
#include <string.h>

#include "ditc_status.h"

ditc_status ditc_fail(ditc_err *err, ditc_status code, const char *fmt, ...) {
  if (err) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err->msg, sizeof err->msg, fmt, ap);
    va_end(ap);
  }
  return code;
}

size_t ditc_utf8_seq(const unsigned char *s, size_t n) {
  const unsigned c = s[0];
  size_t len = c >= 0xC2 && c <= 0xDF ? 2 : c >= 0xE0 && c <= 0xEF ? 3 : c >= 0xF0 && c <= 0xF4 ? 4 : 0;
  if (!len || len > n) return 0;
  unsigned lo = 0x80, hi = 0xBF; /* the range of the second byte */
  if (c == 0xE0) lo = 0xA0;
  if (c == 0xED) hi = 0x9F;
  if (c == 0xF0) lo = 0x90;
  if (c == 0xF4) hi = 0x8F;
  if (s[1] < lo || s[1] > hi) return 0;
  for (size_t i = 2; i < len; i++)
    if (s[i] < 0x80 || s[i] > 0xBF) return 0;
  return len;
}

const char *ditc_shown(char *buf, size_t cap, const char *name, size_t len) {
  DITC_CHECK(buf && cap >= 8 && (name || len == 0));
  const unsigned char *s = (const unsigned char *)name;
  size_t o = 0, i = 0;
  while (i < len) {
    char unit[16];
    size_t n = 0, take = 1, seq = s[i] >= 0x80 ? ditc_utf8_seq(s + i, len - i) : 0;
    if (s[i] == '\\') {
      n = (size_t)snprintf(unit, sizeof unit, "\\\\");
    } else if (s[i] < 0x20 || s[i] == 0x7F || (s[i] >= 0x80 && !seq)) {
      n = (size_t)snprintf(unit, sizeof unit, "\\x%02x", s[i]);
    } else if (seq == 2 && s[i] == 0xC2 && s[i + 1] <= 0x9F) { /* a C1 control */
      n = (size_t)snprintf(unit, sizeof unit, "\\x%02x\\x%02x", s[i], s[i + 1]);
      take = 2;
    } else {
      take = seq ? seq : 1;
      memcpy(unit, s + i, take);
      n = take;
    }
    /* room for this unit, and for "..." if more follows */
    if (o + n + (i + take < len ? 3 : 0) + 1 > cap) {
      memcpy(buf + o, "...", 3);
      o += 3;
      break;
    }
    memcpy(buf + o, unit, n);
    o += n;
    i += take;
  }
  buf[o] = 0;
  return buf;
}
