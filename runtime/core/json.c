/* json.c: strict recursive-descent JSON parser into a malloc'd tree (see json.h).
 * Every error names the byte offset where it was detected. Decoded strings live in one buffer of
 * the input's size, each at its opening quote's offset (a decoded string and its NUL never take
 * more bytes than its quoted span). Not a writer, not a DOM editor. */
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

typedef struct {
  const char *s;              /* the input, s[0..len) */
  size_t len, pos;
  json_error *err;
  char *strings;              /* [len] the decoded strings */
  size_t values, max_values;  /* values and keys so far, and the limit */
  int max_depth, max_items;
} json_parser;

static ditc_status parse_value(json_parser *p, json_value *v, int depth);

/* ---- errors and scanning -------------------------------------------------------------------- */

__attribute__((format(printf, 3, 4)))
static ditc_status parse_fail(json_parser *p, size_t offset, const char *fmt, ...) {
  if (p->err) {
    va_list ap;
    va_start(ap, fmt);
    p->err->offset = offset;
    vsnprintf(p->err->reason, sizeof p->err->reason, fmt, ap);
    va_end(ap);
  }
  return DITC_EINVAL;
}

static ditc_status parse_oom(json_parser *p) {
  return parse_fail(p, p->pos, "out of memory") ? DITC_ENOMEM : DITC_OK;
}

/* The next byte, or -1 at the end of the input. */
static int peek(const json_parser *p) { return p->pos < p->len ? (unsigned char)p->s[p->pos] : -1; }

static void skip_ws(json_parser *p) {
  for (int c = peek(p); c == ' ' || c == '\t' || c == '\n' || c == '\r'; c = peek(p)) p->pos++;
}

/* "expected X" at the current position, naming what was found instead. */
static ditc_status expect_fail(json_parser *p, const char *what) {
  int c = peek(p);
  if (c < 0) return parse_fail(p, p->pos, "expected %s, found end of input", what);
  return parse_fail(p, p->pos, c >= 0x20 && c < 0x7f ? "expected %s, found '%c'"
                                                      : "expected %s, found byte 0x%02x", what, c);
}

static int is_digit(int c) { return c >= '0' && c <= '9'; }

/* ---- literals and numbers ------------------------------------------------------------------- */

static ditc_status parse_literal(json_parser *p, json_value *v) {
  static const char *const words[] = {"true", "false", "null"};
  for (int i = 0; i < 3; i++) {
    size_t n = strlen(words[i]);
    if (p->len - p->pos >= n && memcmp(p->s + p->pos, words[i], n) == 0) {
      v->kind = i == 2 ? JSON_NULL : JSON_BOOL;
      v->boolean = i == 0;
      p->pos += n;
      return DITC_OK;
    }
  }
  return expect_fail(p, "a value");
}

/* Counts one more value or key against the limit. */
static ditc_status count_value(json_parser *p) {
  if (++p->values <= p->max_values) return DITC_OK;
  return parse_fail(p, p->pos, "more than %zu values (the limit for %zu bytes of input)",
                    p->max_values, p->len);
}

/* Exact int64 value of the digits s[0..n) with sign neg; 0 when it does not fit. */
static int digits_to_int64(const char *s, size_t n, int neg, int64_t *out) {
  uint64_t mag = 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t d = (uint64_t)(s[i] - '0');
    if (mag > (UINT64_MAX - d) / 10) return 0;
    mag = mag * 10 + d;
  }
  if (mag > (uint64_t)INT64_MAX + (uint64_t)neg) return 0;
  *out = neg ? (int64_t)(0 - mag) : (int64_t)mag; /* 0 - mag wraps to the two's complement */
  return 1;
}

static ditc_status parse_number(json_parser *p, json_value *v) {
  size_t start = p->pos;
  int neg = peek(p) == '-';
  size_t int_start = p->pos += (size_t)neg;
  if (!is_digit(peek(p))) return expect_fail(p, "a digit");
  if (peek(p) == '0') {
    p->pos++;
    if (is_digit(peek(p))) return parse_fail(p, p->pos - 1, "invalid number: leading zero");
  }
  while (is_digit(peek(p))) p->pos++;
  size_t int_end = p->pos;
  if (peek(p) == '.') {
    p->pos++;
    if (!is_digit(peek(p))) return expect_fail(p, "a digit after '.'");
    while (is_digit(peek(p))) p->pos++;
  }
  if (peek(p) == 'e' || peek(p) == 'E') {
    p->pos++;
    if (peek(p) == '+' || peek(p) == '-') p->pos++;
    if (!is_digit(peek(p))) return expect_fail(p, "a digit in the exponent");
    while (is_digit(peek(p))) p->pos++;
  }
  v->kind = JSON_NUMBER;
  v->is_int = p->pos == int_end &&
              digits_to_int64(p->s + int_start, int_end - int_start, neg, &v->integer);
  size_t n = p->pos - start;
  char local[64], *buf = n < sizeof local ? local : malloc(n + 1);
  if (!buf) return parse_oom(p);
  memcpy(buf, p->s + start, n);
  buf[n] = 0;
  v->number = strtod(buf, NULL);
  if (buf != local) free(buf);
  return DITC_OK;
}

/* ---- strings -------------------------------------------------------------------------------- */

static int hex4(const char *s, unsigned *out) {
  *out = 0;
  for (int i = 0; i < 4; i++) {
    int c = (unsigned char)s[i], l = c | 0x20;
    int d = c >= '0' && c <= '9' ? c - '0' : l >= 'a' && l <= 'f' ? l - 'a' + 10 : -1;
    if (d < 0) return 0;
    *out = *out * 16 + (unsigned)d;
  }
  return 1;
}

/* Code point cp (< 0x110000) as 1-4 UTF-8 bytes at o. */
static size_t put_utf8(char *o, unsigned cp) {
  static const unsigned char lead[5] = {0, 0, 0xC0, 0xE0, 0xF0};
  int n = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
  for (int i = n - 1; i > 0; i--, cp >>= 6) o[i] = (char)(0x80 | (cp & 0x3F));
  o[0] = (char)(lead[n] | cp);
  return (size_t)n;
}

/* Decodes the \uXXXX escape (or surrogate pair) at s[*q] (a backslash) before end into o. */
static ditc_status decode_u_escape(json_parser *p, size_t *q, size_t end, char *o, size_t *j) {
  unsigned cp, lo;
  if (*q + 6 > end || !hex4(p->s + *q + 2, &cp)) return parse_fail(p, *q, "invalid \\u escape");
  if ((cp & 0xFC00) == 0xDC00) return parse_fail(p, *q, "unpaired surrogate in \\u escape");
  if ((cp & 0xFC00) == 0xD800) {
    const char *t = p->s + *q + 6;
    if (*q + 12 > end || t[0] != '\\' || t[1] != 'u' || !hex4(t + 2, &lo) ||
        (lo & 0xFC00) != 0xDC00)
      return parse_fail(p, *q, "unpaired surrogate in \\u escape");
    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    *q += 6;
  }
  *q += 6;
  *j += put_utf8(o + *j, cp);
  return DITC_OK;
}

/* Escapes never expand, so the decoded string fits in the raw span. */
static ditc_status decode_string(json_parser *p, size_t q, size_t end, char *o, size_t *j) {
  static const char from[] = "\"\\/bfnrt", to[] = "\"\\/\b\f\n\r\t";
  while (q < end) {
    unsigned char c = (unsigned char)p->s[q];
    if (c < 0x20) return parse_fail(p, q, "control character 0x%02x in string", c);
    if (c != '\\') { o[(*j)++] = (char)c; q++; continue; }
    char e = p->s[q + 1];
    const char *k = e ? strchr(from, e) : NULL;
    if (k) { o[(*j)++] = to[k - from]; q += 2; continue; }
    if (e != 'u') return parse_fail(p, q, "invalid escape '\\%c'", e >= 0x20 && e < 0x7f ? e : '?');
    if (decode_u_escape(p, &q, end, o, j)) return DITC_EINVAL;
  }
  return DITC_OK;
}

static ditc_status parse_string(json_parser *p, json_str *out) {
  size_t start = p->pos, end = start + 1;
  while (end < p->len && p->s[end] != '"') end += p->s[end] == '\\' ? 2 : 1;
  if (end >= p->len) return parse_fail(p, start, "unterminated string");
  char *buf = p->strings + start; /* the span start..end holds the decoded bytes and the NUL */
  size_t n = 0;
  ditc_status st = decode_string(p, start + 1, end, buf, &n);
  if (st) return st;
  buf[n] = 0;
  *out = (json_str){buf, n, start};
  p->pos = end + 1;
  return DITC_OK;
}

/* ---- arrays and objects --------------------------------------------------------------------- */

/* Makes room for element v->count (zeroed), growing items (and keys for objects). */
static ditc_status grow(json_parser *p, json_value *v, int *cap) {
  if (v->kind == JSON_ARRAY && v->count >= p->max_items)
    return parse_fail(p, p->pos, "array of more than %d elements", p->max_items);
  if (v->count < *cap) return DITC_OK;
  if (*cap > (1 << 29)) return parse_fail(p, p->pos, "too many elements");
  int n = *cap ? *cap * 2 : 4;
  json_value *items = realloc(v->items, (size_t)n * sizeof *items);
  if (!items) return parse_oom(p);
  v->items = items;
  memset(items + v->count, 0, (size_t)(n - v->count) * sizeof *items);
  if (v->kind == JSON_OBJECT) {
    json_str *keys = realloc(v->keys, (size_t)n * sizeof *keys);
    if (!keys) return parse_oom(p);
    v->keys = keys;
    memset(keys + v->count, 0, (size_t)(n - v->count) * sizeof *keys);
  }
  *cap = n;
  return DITC_OK;
}

static int cmp_key(const void *a, const void *b) {
  const json_str *x = *(const json_str *const *)a, *y = *(const json_str *const *)b;
  int c = memcmp(x->s, y->s, x->len < y->len ? x->len : y->len);
  if (c || x->len != y->len) return c ? c : x->len < y->len ? -1 : 1;
  return x->offset < y->offset ? -1 : x->offset > y->offset; /* keeps input order of equals */
}

/* Rejects the second occurrence of any key (sort, then compare neighbours). */
static ditc_status check_duplicates(json_parser *p, const json_value *v) {
  const json_str **keys = malloc((size_t)v->count * sizeof *keys + 1);
  if (!keys) return parse_oom(p);
  for (int i = 0; i < v->count; i++) keys[i] = &v->keys[i];
  qsort(keys, (size_t)v->count, sizeof *keys, cmp_key);
  ditc_status st = DITC_OK;
  for (int i = 1; i < v->count && !st; i++) {
    const json_str *a = keys[i - 1], *b = keys[i];
    if (a->len != b->len || memcmp(a->s, b->s, a->len) != 0) continue;
    char shown[64];
    st = parse_fail(p, b->offset, "duplicate key '%s'", ditc_shown(shown, sizeof shown, b->s, b->len));
  }
  free(keys);
  return st;
}

/* Elements of an array, or members of an object (key ':' value), separated by commas. */
static ditc_status parse_container(json_parser *p, json_value *v, int depth) {
  int is_obj = peek(p) == '{', cap = 0;
  char close = is_obj ? '}' : ']';
  if (depth >= p->max_depth) return parse_fail(p, p->pos, "nesting deeper than %d", p->max_depth);
  v->kind = is_obj ? JSON_OBJECT : JSON_ARRAY;
  p->pos++;
  skip_ws(p);
  if (peek(p) == close) { p->pos++; return DITC_OK; }
  for (;;) {
    ditc_status st = grow(p, v, &cap);
    if (st) return st;
    v->count++;               /* counted before parsing so json_free sees partial members */
    if (is_obj) {
      skip_ws(p);
      if (peek(p) != '"') return expect_fail(p, "a string key");
      if ((st = count_value(p))) return st;
      if ((st = parse_string(p, &v->keys[v->count - 1]))) return st;
      skip_ws(p);
      if (peek(p) != ':') return expect_fail(p, "':'");
      p->pos++;
    }
    if ((st = parse_value(p, &v->items[v->count - 1], depth + 1))) return st;
    skip_ws(p);
    if (peek(p) == ',') { p->pos++; continue; }
    if (peek(p) == close) { p->pos++; break; }
    return expect_fail(p, is_obj ? "',' or '}'" : "',' or ']'");
  }
  if (v->count < cap) { /* give the growth slack back; shrinking never fails for long */
    json_value *items = realloc(v->items, (size_t)v->count * sizeof *items);
    if (items) v->items = items;
    json_str *keys = is_obj ? realloc(v->keys, (size_t)v->count * sizeof *keys) : NULL;
    if (keys) v->keys = keys;
  }
  return is_obj ? check_duplicates(p, v) : DITC_OK;
}

/* ---- values and the public API -------------------------------------------------------------- */

static ditc_status parse_value(json_parser *p, json_value *v, int depth) {
  skip_ws(p);
  v->offset = p->pos;
  ditc_status st = count_value(p);
  if (st) return st;
  int c = peek(p);
  if (c == '{' || c == '[') return parse_container(p, v, depth);
  if (c == '"') { v->kind = JSON_STRING; return parse_string(p, &v->str); }
  if (c == '-' || is_digit(c)) return parse_number(p, v);
  return parse_literal(p, v);
}

static void free_value(json_value *v) {
  if (v->kind != JSON_ARRAY && v->kind != JSON_OBJECT) return;
  for (int i = 0; i < v->count; i++) free_value(&v->items[i]);
  free(v->items);
  if (v->kind == JSON_OBJECT) free(v->keys);
}

ditc_status json_parse(const char *text, size_t len, const json_limits *lim, json_doc *doc,
                       json_error *err) {
  static const json_limits none = {0, 0, 0};
  if (!lim) lim = &none;
  json_parser p = {text, len, 0, err, NULL, 0, lim->max_values ? lim->max_values : len + 1,
                   lim->max_depth ? lim->max_depth : JSON_MAX_DEPTH,
                   lim->max_items ? lim->max_items : 1 << 29};
  memset(doc, 0, sizeof *doc);
  if (!(doc->strings = p.strings = malloc(len + 1))) return parse_oom(&p);
  ditc_status st = parse_value(&p, &doc->root, 0);
  if (!st) skip_ws(&p);
  if (!st && p.pos < len) st = parse_fail(&p, p.pos, "unexpected data after the JSON value");
  if (st) json_free(doc);
  return st;
}

void json_free(json_doc *doc) {
  free_value(&doc->root);
  free(doc->strings);
  memset(doc, 0, sizeof *doc);
}

const json_value *json_get(const json_value *obj, const char *key) {
  if (obj->kind != JSON_OBJECT) return NULL;
  size_t n = strlen(key);
  for (int i = 0; i < obj->count; i++)
    if (obj->keys[i].len == n && memcmp(obj->keys[i].s, key, n) == 0) return &obj->items[i];
  return NULL;
}
