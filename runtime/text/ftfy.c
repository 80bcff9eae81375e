/* ftfy.c: ftfy.fix_text's deterministic fixes (see ftfy.h for what is and is not done). */
#include "text/ftfy.h"

#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "text/entities.h"
#include "text/pystr.h"

/* ---- unescape_html: &#?[0-9A-Za-z]{1,24}; by ftfy's HTML_ENTITIES ------------------------ */

static int is_alnum_ascii(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static void unescape_html(tbuf *out, const char *s, size_t len) {
  size_t i = 0;
  tbuf tmp = {0};
  while (i < len) {
    const char *amp = memchr(s + i, '&', len - i);
    size_t j = amp ? (size_t)(amp - s) : len;
    tbuf_add(out, s + i, j - i);
    if (j == len) break;
    size_t k = j + 1;
    int num = k < len && s[k] == '#';
    size_t a = k + num, e = a;
    while (e < len && is_alnum_ascii(s[e])) e++;
    if (e == a && num) { num = 0; a = k; e = k; }   /* '#' given back: no alnum after it */
    if (e > a && e - a <= 24 && e < len && s[e] == ';') {
      const char *v = NULL;
      if (!num) {
        v = entity_find(text_html5, text_html5_count, s + a, e + 1 - a);
        if (!v) v = entity_find(text_ftfy_upper, text_ftfy_upper_count, s + a, e + 1 - a);
      }
      if (v) tbuf_adds(out, v);
      else if (num) {                 /* html.unescape of the match, unless it leaves a ';' */
        tbuf_clear(&tmp);
        py_html_unescape(&tmp, s + j, e + 1 - j);
        if (!tmp.oom && !memchr(tmp.p, ';', tmp.len)) tbuf_add(out, tmp.p, tmp.len);
        else tbuf_add(out, s + j, e + 1 - j);
        if (tmp.oom) out->oom = 1;
      } else tbuf_add(out, s + j, e + 1 - j);
      i = e + 1;
    } else {
      tbuf_add(out, "&", 1);
      i = j + 1;
    }
  }
  tbuf_free(&tmp);
}

/* ---- the per-character fixes --------------------------------------------------------------- */

static const struct { uint32_t c; const char *s; } ligatures[] = {
    {0x132, "IJ"}, {0x133, "ij"}, {0x149, "'n"}, /* "\u02bcn", then uncurled */ {0x1F1, "DZ"}, {0x1F2, "Dz"},
    {0x1F3, "dz"}, {0x1C4, "D\xc5\xbd"}, {0x1C5, "D\xc5\xbe"}, {0x1C6, "d\xc5\xbe"}, {0x1C7, "LJ"},
    {0x1C8, "Lj"}, {0x1C9, "lj"}, {0x1CA, "NJ"}, {0x1CB, "Nj"}, {0x1CC, "nj"}, {0xFB00, "ff"},
    {0xFB01, "fi"}, {0xFB02, "fl"}, {0xFB03, "ffi"}, {0xFB04, "ffl"}, {0xFB05, "\xc5\xbft"},
    {0xFB06, "st"}};

/* remove_control_chars: U+0000..0008, 000B, 000E..001F, 007F, 206A..206F, FEFF, FFF9..FFFC */
static int is_removed_control(uint32_t c) {
  return c <= 8 || c == 0x0B || (c >= 0x0E && c <= 0x1F) || c == 0x7F || (c >= 0x206A && c <= 0x206F) ||
         c == 0xFEFF || (c >= 0xFFF9 && c <= 0xFFFC);
}

/* fix_c1_controls, fix_latin_ligatures, fix_character_width, uncurl_quotes in turn (each a
 * per-character map, applied to the result of the one before) */
static void map_chars(tbuf *out, const char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint32_t c = utf8_next(s, len, &i);
    if (c >= 0x80 && c <= 0x9F) c = cp1252_c1(c);
    const char *lig = NULL;
    for (size_t k = 0; k < sizeof ligatures / sizeof ligatures[0]; k++)
      if (ligatures[k].c == c) lig = ligatures[k].s;
    if (lig) {                                     /* ligature parts need no later map */
      tbuf_adds(out, lig);
      continue;
    }
    if (c == 0x3000) c = ' ';
    else if (c >= 0xFF01 && c <= 0xFFEF) {         /* NFKC where it differs */
      utf8proc_int32_t buf[8];
      int opt = UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT | UTF8PROC_STABLE, last = 0;
      utf8proc_ssize_t n = utf8proc_decompose_char((utf8proc_int32_t)c, buf, 8, (utf8proc_option_t)opt, &last);
      if (n > 0 && n <= 8 && !(n == 1 && (uint32_t)buf[0] == c)) {
        /* composed in place as code points (utf8proc_reencode would leave UTF-8 bytes in buf) */
        n = utf8proc_normalize_utf32(buf, n, (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
        if (n > 0)
          for (utf8proc_ssize_t k = 0; k < n; k++) tbuf_addc(out, (uint32_t)buf[k]);
        continue;
      }
    }
    if (c == 0x2BC || (c >= 0x2018 && c <= 0x201B)) c = '\'';
    else if (c >= 0x201C && c <= 0x201F) c = '"';
    tbuf_addc(out, c);
  }
}

/* fix_line_breaks, remove_terminal_escapes (\x1b[ (digit|;)* letter), remove_control_chars */
static void breaks_escapes_controls(tbuf *out, const char *s, size_t len) {
  size_t i = 0;
  while (i < len) {
    uint32_t c = utf8_next(s, len, &i);
    if (c == '\r') {
      if (i < len && s[i] == '\n') i++;
      c = '\n';
    } else if (c == 0x2028 || c == 0x2029 || c == 0x85) c = '\n';
    if (c == 0x1B && i < len && s[i] == '[') {
      size_t k = i + 1;
      while (k < len) {
        size_t n = k;
        uint32_t d = utf8_next(s, len, &n);
        if (d != ';' && utf8proc_category((utf8proc_int32_t)d) != UTF8PROC_CATEGORY_ND) break;
        k = n;
      }
      if (k < len && ((s[k] >= 'a' && s[k] <= 'z') || (s[k] >= 'A' && s[k] <= 'Z'))) {
        i = k + 1;
        continue;
      }
    }
    if (!is_removed_control(c)) tbuf_addc(out, c);
  }
}

/* ---- fix_and_explain on one segment -------------------------------------------------------- */

static ditc_status fix_segment(tbuf *out, const char *s, size_t len, int unescape, ditc_err *err) {
  tbuf cur = {0}, orig = {0}, tmp = {0};
  ditc_status st = DITC_OK;
  tbuf_add(&cur, s, len);
  while (!cur.oom && !orig.oom && !tmp.oom) {
    tbuf_clear(&orig);
    tbuf_add(&orig, cur.p, cur.len);
    if (unescape) {
      tbuf_clear(&tmp);
      unescape_html(&tmp, cur.p, cur.len);
      tbuf_swap(&cur, &tmp);
    }
    tbuf_clear(&tmp);
    map_chars(&tmp, cur.p, cur.len);
    tbuf_swap(&cur, &tmp);
    tbuf_clear(&tmp);
    breaks_escapes_controls(&tmp, cur.p, cur.len);
    if (tmp.oom) break;
    utf8proc_uint8_t *nfc = NULL;
    utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)tmp.p, (utf8proc_ssize_t)tmp.len, &nfc,
                                      (utf8proc_option_t)(UTF8PROC_STABLE | UTF8PROC_COMPOSE));
    if (n < 0) {
      free(nfc);
      if (n == UTF8PROC_ERROR_NOMEM) { cur.oom = 1; break; }
      st = ditc_fail(err, DITC_EINVAL, "text cleaning: NFC: %s", utf8proc_errmsg(n));
      goto done;
    }
    tbuf_clear(&cur);
    tbuf_add(&cur, (const char *)nfc, (size_t)n);
    free(nfc);
    if (cur.len == orig.len && memcmp(cur.p, orig.p, cur.len) == 0) break;   /* a round changed nothing */
  }
  if (cur.oom || orig.oom || tmp.oom) st = ditc_fail(err, DITC_ENOMEM, "text cleaning: out of memory");
  else tbuf_add(out, cur.p, cur.len);
done:
  tbuf_free(&cur);
  tbuf_free(&orig);
  tbuf_free(&tmp);
  return st;
}

/* ---- fix_text ------------------------------------------------------------------------------ */

ditc_status ftfy_fix_text(tbuf *out, const char *s, size_t len, ditc_err *err) {
  int unescape = 1;                       /* "auto", until a segment holds '<' */
  size_t pos = 0;
  while (pos < len) {
    const char *nl = memchr(s + pos, '\n', len - pos);
    size_t end = nl ? (size_t)(nl - s) + 1 : len;
    /* max_decode_length: a segment is at most 1,000,000 characters */
    size_t k = pos, chars = 0;
    while (k < end && chars < 1000000) {
      utf8_next(s, len, &k);
      chars++;
    }
    end = k;
    if (unescape && memchr(s + pos, '<', end - pos)) unescape = 0;
    ditc_status st = fix_segment(out, s + pos, end - pos, unescape, err);
    if (st) return st;
    pos = end;
  }
  return out->oom ? ditc_fail(err, DITC_ENOMEM, "text cleaning: out of memory") : DITC_OK;
}
