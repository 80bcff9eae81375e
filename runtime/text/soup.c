/* soup.c: BeautifulSoup(text, "html.parser").text (see soup.h): html.parser's goahead loop, with
 * convert_charrefs=False as bs4 sets it, run once as feed() and once as close(), and bs4's
 * handlers on a stack of open tag names. Not the other cleaning steps. */
#include "text/soup.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "text/entities.h"
#include "text/pystr.h"

/* ---- patterns ------------------------------------------------------------------------------ */

#define ATTR_VALUE "(?:'[^']*'|\"[^\"]*\"|(?!['\"])[^>" PY_SPACES "]*)"

ditc_status soup_init(soup_patterns *p, ditc_err *err) {
  static const char *starttag_end =
      "<[a-zA-Z][^\\t\\n\\r\\f />\\x{0}]*"
      "(?:[" PY_SPACES "/]*(?:(?<=['\"" PY_SPACES "/])[^" PY_SPACES "/>][^" PY_SPACES "/=>]*"
      "(?:" PY_S "*=+" PY_S "*" ATTR_VALUE PY_S "*)?(?:" PY_S "|/(?!>))*)*)?" PY_S "*";
  static const char *tagfind = "([a-zA-Z][^\\t\\n\\r\\f />\\x{0}]*)(?:" PY_S "|/(?!>))*";
  static const char *attrfind =
      "((?<=['\"" PY_SPACES "/])[^" PY_SPACES "/>][^" PY_SPACES "/=>]*)(" PY_S "*=+" PY_S "*"
      "('[^']*'|\"[^\"]*\"|(?!['\"])[^>" PY_SPACES "]*))?(?:" PY_S "|/(?!>))*";
  static const char *endtagfind = "</" PY_S "*([a-zA-Z][-.a-zA-Z0-9:_]*)" PY_S "*>";
  memset(p, 0, sizeof *p);
  ditc_status st;
  if ((st = pyre_compile(&p->starttag_end, starttag_end, 0, err)) ||
      (st = pyre_compile(&p->tagfind, tagfind, 0, err)) || (st = pyre_compile(&p->attrfind, attrfind, 0, err)) ||
      (st = pyre_compile(&p->endtagfind, endtagfind, 0, err)) ||
      (st = pyre_compile(&p->commentclose, "--" PY_S "*>", 0, err)) ||
      (st = pyre_compile(&p->script_end, "</" PY_S "*script" PY_S "*>", PCRE2_CASELESS, err)) ||
      (st = pyre_compile(&p->style_end, "</" PY_S "*style" PY_S "*>", PCRE2_CASELESS, err)) ||
      (st = pyre_compile(&p->declname, "[a-zA-Z][-_.a-zA-Z0-9]*" PY_S "*", 0, err)) ||
      (st = pyre_compile(&p->marked_close, "]" PY_S "*]" PY_S "*>", 0, err)) ||
      (st = pyre_compile(&p->ms_marked_close, "]" PY_S "*>", 0, err))) {
    soup_free(p);
    return st;
  }
  return DITC_OK;
}

void soup_free(soup_patterns *p) {
  pyre_free(&p->starttag_end);
  pyre_free(&p->tagfind);
  pyre_free(&p->attrfind);
  pyre_free(&p->endtagfind);
  pyre_free(&p->commentclose);
  pyre_free(&p->script_end);
  pyre_free(&p->style_end);
  pyre_free(&p->declname);
  pyre_free(&p->marked_close);
  pyre_free(&p->ms_marked_close);
}

/* ---- the tree: bs4's BeautifulSoup object, as far as .text depends on it ------------------- */

typedef enum { STR_NAVIGABLE, STR_CDATA, STR_OTHER } str_kind;   /* OTHER: comment, doctype, ... */

typedef struct {
  soup_patterns *p;
  const char *s;              /* rawdata */
  size_t n;
  const char *cdata;          /* "script", "style" or NULL */
  tbuf names;                 /* the open tags' names, each NUL-terminated, innermost last */
  size_t *starts;             /* [depth] offsets of the names in `names` */
  size_t depth, cap;
  tbuf closed;                /* bs4's already_closed_empty_element, names NUL-terminated */
  tbuf data;                  /* current_data: the string being collected */
  tbuf *out;                  /* .text */
  int oom, rejected;          /* rejected: 1 markup html.parser rejects, 2 over the budget */
  size_t scanned, budget;     /* bytes the start-tag pattern has covered, and their bound */
} soup;

static const char *tag_at(const soup *t, size_t k) { return t->names.p + t->starts[k]; }

static int open_anywhere(const soup *t, const char *name) {
  for (size_t k = 0; k < t->depth; k++)
    if (!strcmp(tag_at(t, k), name)) return 1;
  return 0;
}

/* endData: ends the current string; keeps it when .text would include it */
static void end_data(soup *t, str_kind kind) {
  if (!t->data.len) return;
  int blank = 1, newline = 0;
  for (size_t i = 0; i < t->data.len; i++) {
    char c = t->data.p[i];
    if (c == '\n') newline = 1;
    else if (c != ' ' && c != '\t' && c != '\f' && c != '\r') { blank = 0; break; }
  }
  if (blank && !open_anywhere(t, "pre") && !open_anywhere(t, "textarea")) {
    tbuf_clear(&t->data);
    tbuf_add(&t->data, newline ? "\n" : " ", 1);
  }
  int keep = kind == STR_CDATA;
  if (kind == STR_NAVIGABLE) {              /* string_container: the innermost special tag */
    keep = 1;
    for (size_t k = t->depth; k-- > 0;) {
      const char *nm = tag_at(t, k);
      if (!strcmp(nm, "rt") || !strcmp(nm, "rp") || !strcmp(nm, "style") || !strcmp(nm, "script") ||
          !strcmp(nm, "template")) {
        keep = 0;
        break;
      }
    }
  }
  if (keep) tbuf_add(t->out, t->data.p, t->data.len);
  if (t->data.oom) t->oom = 1;
  tbuf_clear(&t->data);
}

static void data(soup *t, const char *s, size_t n) { tbuf_add(&t->data, s, n); }

static void push_tag(soup *t, const char *name, size_t len) {
  if (t->depth == t->cap) {
    size_t cap = t->cap ? 2 * t->cap : 16;
    size_t *q = realloc(t->starts, cap * sizeof *q);
    if (!q) { t->oom = 1; return; }
    t->starts = q;
    t->cap = cap;
  }
  t->starts[t->depth++] = t->names.len;
  tbuf_add(&t->names, name, len);
  tbuf_add(&t->names, "", 1);
}

static void pop_tag(soup *t) {
  t->names.len = t->starts[--t->depth];
}

/* BeautifulSoup.handle_endtag: endData, then _popToTag (nothing when no such tag is open) */
static void soup_endtag(soup *t, const char *name) {
  end_data(t, STR_NAVIGABLE);
  if (!open_anywhere(t, name)) return;
  while (t->depth) {
    int found = !strcmp(tag_at(t, t->depth - 1), name);
    pop_tag(t);
    if (found) break;
  }
}

static int is_void(const char *name) {
  static const char *v[] = {"area", "base", "br", "col", "embed", "hr", "img", "input", "keygen", "link",
                            "menuitem", "meta", "param", "source", "track", "wbr", "basefont", "bgsound",
                            "command", "frame", "image", "isindex", "nextid", "spacer"};
  for (size_t k = 0; k < sizeof v / sizeof v[0]; k++)
    if (!strcmp(v[k], name)) return 1;
  return 0;
}

/* BeautifulSoupHTMLParser.handle_endtag */
static void parser_endtag(soup *t, const char *name, int check_already_closed) {
  if (check_already_closed) {
    for (size_t i = 0; i < t->closed.len; i += strlen(t->closed.p + i) + 1) {
      if (!strcmp(t->closed.p + i, name)) {      /* remove the first one */
        size_t n = strlen(name) + 1;
        memmove(t->closed.p + i, t->closed.p + i + n, t->closed.len - i - n);
        t->closed.len -= n;
        return;
      }
    }
  }
  soup_endtag(t, name);
}

/* BeautifulSoupHTMLParser.handle_starttag */
static void parser_starttag(soup *t, const char *name, int handle_empty_element) {
  end_data(t, STR_NAVIGABLE);
  push_tag(t, name, strlen(name));
  if (handle_empty_element && is_void(name)) {
    parser_endtag(t, name, 0);
    tbuf_add(&t->closed, name, strlen(name) + 1);
  }
}

/* handle_comment, handle_decl, unknown_decl, handle_pi: a string .text does not include
 * (CDATA sections excepted) */
static void special_string(soup *t, const char *s, size_t n, str_kind kind) {
  end_data(t, STR_NAVIGABLE);
  data(t, s, n);
  end_data(t, kind);
}

/* ---- character references ------------------------------------------------------------------ */

static void charref(soup *t, const char *name, size_t len) {
  int hex = name[0] == 'x' || name[0] == 'X';
  uint64_t v = 0;
  for (size_t i = hex ? 1 : 0; i < len; i++) {
    char c = name[i];
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c - 'A' + 10;
    if (v <= 0x10FFFF) v = v * (hex ? 16 : 10) + (uint64_t)d;
  }
  uint32_t c;
  if (v >= 0x80 && v <= 0x9F) c = cp1252_c1((unsigned)v);
  else if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) c = 0xFFFD;
  else c = (uint32_t)v;
  tbuf_addc(&t->data, c);
}

static void entityref(soup *t, const char *name, size_t len) {
  const char *v = entity_find(text_html5, text_html5_count, name, len);
  if (!v) {
    char buf[64];
    if (len + 1 < sizeof buf) {
      memcpy(buf, name, len);
      buf[len] = ';';
      v = entity_find(text_html5, text_html5_count, buf, len + 1);
    }
  }
  if (v) data(t, v, strlen(v));
  else {
    data(t, "&", 1);
    data(t, name, len);
  }
}

/* ---- html.parser's scanner ----------------------------------------------------------------- */

static int is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
static int is_digit(char c) { return c >= '0' && c <= '9'; }
static int is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

static long find_char(const soup *t, char c, size_t from) {
  if (from >= t->n) return -1;
  const char *q = memchr(t->s + from, c, t->n - from);
  return q ? q - t->s : -1;
}

/* the tag name s[0..len) lower-cased as Python does, into a NUL-terminated buffer */
static int lower_name(soup *t, const char *s, size_t len, tbuf *out) {
  tbuf_clear(out);
  py_lower(out, s, len);
  if (out->oom) t->oom = 1;
  return !out->oom;
}

static long parse_bogus_comment(soup *t, size_t i) {
  long pos = find_char(t, '>', i + 2);
  if (pos < 0) return -1;
  special_string(t, t->s + i + 2, (size_t)pos - i - 2, STR_OTHER);
  return pos + 1;
}

static long parse_comment(soup *t, size_t i) {
  PCRE2_SIZE *ov;
  int r = pyre_match(&t->p->commentclose, t->s, t->n, i + 4, 0, &ov);
  if (r <= 0) return -1;
  special_string(t, t->s + i + 4, ov[0] - i - 4, STR_OTHER);
  return (long)ov[1];
}

static long parse_marked_section(soup *t, size_t i) {
  PCRE2_SIZE *ov;
  size_t j = i + 3;
  if (j == t->n) return -1;
  if (pyre_match(&t->p->declname, t->s, t->n, j, 1, &ov) <= 0) { t->rejected = 1; return -1; }
  if (ov[1] == t->n) return -1;
  size_t b, e;
  py_strip(t->s + j, ov[1] - j, &b, &e);
  tbuf name = {0};
  lower_name(t, t->s + j + b, e - b, &name);
  const char *nm = name.p ? name.p : "";
  pyre *close = NULL;
  if (!strcmp(nm, "temp") || !strcmp(nm, "cdata") || !strcmp(nm, "ignore") || !strcmp(nm, "include") ||
      !strcmp(nm, "rcdata"))
    close = &t->p->marked_close;
  else if (!strcmp(nm, "if") || !strcmp(nm, "else") || !strcmp(nm, "endif"))
    close = &t->p->ms_marked_close;
  tbuf_free(&name);
  if (!close) { t->rejected = 1; return -1; }
  if (pyre_match(close, t->s, t->n, i + 3, 0, &ov) <= 0) return -1;
  /* unknown_decl(rawdata[i+3:j]): CDATA[... is a CData string, anything else a Declaration */
  const char *d = t->s + i + 3;
  size_t dn = ov[0] - i - 3;
  if (dn >= 6 && !strncasecmp(d, "CDATA[", 6)) special_string(t, d + 6, dn - 6, STR_CDATA);
  else special_string(t, d, dn, STR_OTHER);
  return (long)ov[1];
}

static long parse_html_declaration(soup *t, size_t i) {
  if (t->n - i >= 4 && !memcmp(t->s + i, "<!--", 4)) return parse_comment(t, i);
  if (t->n - i >= 3 && !memcmp(t->s + i, "<![", 3)) return parse_marked_section(t, i);
  if (t->n - i >= 9 && !strncasecmp(t->s + i, "<!doctype", 9)) {
    long gt = find_char(t, '>', i + 9);
    if (gt < 0) return -1;
    special_string(t, t->s + i + 2, (size_t)gt - i - 2, STR_OTHER);
    return gt + 1;
  }
  return parse_bogus_comment(t, i);
}

static long check_for_whole_start_tag(soup *t, size_t i) {
  PCRE2_SIZE *ov;
  if (pyre_match(&t->p->starttag_end, t->s, t->n, i, 1, &ov) != 1) {  /* always matches "<x" */
    t->rejected = 2;                            /* unless PCRE2 gave up */
    return -1;
  }
  size_t j = ov[1];
  /* html.parser rescans an unterminated start tag from every later '<' (quadratic, as upstream
   * is on such input): past a budget linear in the input, give up instead */
  t->scanned += j - i;
  if (t->scanned > t->budget) {
    t->rejected = 2;
    return -1;
  }
  if (j == t->n) return -1;
  char next = t->s[j];
  if (next == '>') return (long)j + 1;
  if (next == '/') {
    if (j + 1 < t->n && t->s[j + 1] == '>') return (long)j + 2;
    return -1;                                  /* "/" at the buffer's end or before more */
  }
  if (is_alpha(next) || next == '=' || next == '/') return -1;
  return j > i ? (long)j : (long)i + 1;
}

static long parse_starttag(soup *t, size_t i) {
  long endpos = check_for_whole_start_tag(t, i);
  if (endpos < 0) return endpos;
  PCRE2_SIZE *ov;
  if (pyre_match(&t->p->tagfind, t->s, t->n, i + 1, 1, &ov) != 1) {
    t->rejected = 2;
    return endpos;
  }
  size_t k = ov[1];
  tbuf tag = {0};
  if (!lower_name(t, t->s + ov[2], ov[3] - ov[2], &tag)) { tbuf_free(&tag); return endpos; }
  while (k < (size_t)endpos) {
    if (pyre_match(&t->p->attrfind, t->s, t->n, k, 1, &ov) <= 0) break;
    k = ov[1];
  }
  size_t b, e;
  size_t rest = k < (size_t)endpos ? (size_t)endpos - k : 0;
  py_strip(t->s + k, rest, &b, &e);
  const char *end = t->s + k + b;
  size_t en = e - b;
  if (!((en == 1 && end[0] == '>') || (en == 2 && end[0] == '/' && end[1] == '>'))) {
    data(t, t->s + i, (size_t)endpos - i);
  } else if (en == 2) {                          /* handle_startendtag */
    parser_starttag(t, tag.p, 0);
    parser_endtag(t, tag.p, 1);
  } else {
    parser_starttag(t, tag.p, 1);
    if (!strcmp(tag.p, "script")) t->cdata = "script";
    else if (!strcmp(tag.p, "style")) t->cdata = "style";
  }
  tbuf_free(&tag);
  return endpos;
}

static long parse_endtag(soup *t, size_t i) {
  long gt = find_char(t, '>', i + 1);
  if (gt < 0) return -1;
  size_t gtpos = (size_t)gt + 1;
  PCRE2_SIZE *ov;
  tbuf name = {0};
  if (pyre_match(&t->p->endtagfind, t->s, t->n, i, 1, &ov) <= 0) {
    if (t->cdata) {
      data(t, t->s + i, gtpos - i);
      return (long)gtpos;
    }
    if (pyre_match(&t->p->tagfind, t->s, t->n, i + 2, 1, &ov) <= 0) {
      if (t->n - i >= 3 && !memcmp(t->s + i, "</>", 3)) return (long)i + 3;
      return parse_bogus_comment(t, i);
    }
    size_t after = ov[1];
    if (lower_name(t, t->s + ov[2], ov[3] - ov[2], &name)) parser_endtag(t, name.p, 1);
    tbuf_free(&name);
    return find_char(t, '>', after) + 1;
  }
  if (!lower_name(t, t->s + ov[2], ov[3] - ov[2], &name)) return (long)gtpos;
  if (t->cdata && strcmp(name.p, t->cdata)) {
    data(t, t->s + i, gtpos - i);
    tbuf_free(&name);
    return (long)gtpos;
  }
  parser_endtag(t, name.p, 1);
  t->cdata = NULL;
  tbuf_free(&name);
  return (long)gtpos;
}

/* HTMLParser.goahead(end) from *pos; returns where the unparsed rest starts */
static size_t goahead(soup *t, size_t i, int end) {
  size_t n = t->n;
  const char *s = t->s;
  while (i < n && !t->oom && !t->rejected) {
    size_t j;
    if (t->cdata) {
      PCRE2_SIZE *ov;
      pyre *re = !strcmp(t->cdata, "script") ? &t->p->script_end : &t->p->style_end;
      if (pyre_match(re, s, n, i, 0, &ov) <= 0) break;
      j = ov[0];
    } else {
      j = i;
      while (j < n && s[j] != '<' && s[j] != '&') j++;
    }
    if (i < j) data(t, s + i, j - i);
    i = j;
    if (i == n) break;
    if (s[i] == '<') {
      long k;
      if (i + 1 < n && is_alpha(s[i + 1])) k = parse_starttag(t, i);
      else if (i + 1 < n && s[i + 1] == '/') k = parse_endtag(t, i);
      else if (n - i >= 4 && !memcmp(s + i, "<!--", 4)) k = parse_comment(t, i);
      else if (i + 1 < n && s[i + 1] == '?') {
        long gt = find_char(t, '>', i + 2);
        if (gt >= 0) special_string(t, s + i + 2, (size_t)gt - i - 2, STR_OTHER);
        k = gt < 0 ? -1 : gt + 1;
      } else if (i + 1 < n && s[i + 1] == '!') k = parse_html_declaration(t, i);
      else if (i + 1 < n) {
        data(t, "<", 1);
        k = (long)i + 1;
      } else break;
      if (t->rejected) break;
      if (k < 0) {
        if (!end) break;
        long gt = find_char(t, '>', i + 1);
        if (gt < 0) {
          long lt = find_char(t, '<', i + 1);
          k = lt < 0 ? (long)i + 1 : lt;
        } else k = gt + 1;
        data(t, s + i, (size_t)k - i);
      }
      i = (size_t)k;
    } else if (i + 1 < n && s[i + 1] == '#') {
      /* charref: &#(?:[0-9]+|[xX][0-9a-fA-F]+)[^0-9a-fA-F] */
      size_t a = i + 2, e = a;
      if (e < n && is_digit(s[e])) while (e < n && is_digit(s[e])) e++;
      else if (e < n && (s[e] == 'x' || s[e] == 'X') && e + 1 < n && is_hex(s[e + 1])) {
        e++;
        while (e < n && is_hex(s[e])) e++;
      }
      if (e > a && e < n && !is_hex(s[e])) {
        charref(t, s + a, e - a);
        i = s[e] == ';' ? e + 1 : e;
        continue;
      }
      if (memchr(s + i, ';', n - i)) {     /* bail by consuming "&#" */
        data(t, s + i, 2);
        i += 2;
      }
      break;
    } else {
      /* entityref: &([a-zA-Z][-.a-zA-Z0-9]*)[^a-zA-Z0-9]; the name gives back a trailing '-'
       * or '.' as the terminator when it runs to the end of the buffer */
      size_t a = i + 1, e = a;
      if (e < n && is_alpha(s[e])) {
        e++;
        while (e < n && (is_alpha(s[e]) || is_digit(s[e]) || s[e] == '-' || s[e] == '.')) e++;
        if (e == n) {
          do e--; while (e > a && s[e] != '-' && s[e] != '.');
          if (e == a) e = n;
        }
        if (e < n) {
          entityref(t, s + a, e - a);
          i = s[e] == ';' ? e + 1 : e;
          continue;
        }
        /* incomplete (&[a-zA-Z]): close() drops the '&' of a final "&x"; otherwise the rest of
         * the buffer becomes text as it is */
        if (end && n - i == 2) i++;
        break;
      }
      if (i + 1 < n) {
        data(t, "&", 1);
        i++;
      } else break;
    }
  }
  if (end && i < n && !t->cdata && !t->rejected) {
    data(t, s + i, n - i);
    i = n;
  }
  return i;
}

ditc_status soup_text(soup_patterns *p, const char *s, size_t len, tbuf *out, ditc_err *err) {
  soup t = {.p = p, .s = s, .n = len, .out = out, .budget = 64 * len + (1u << 20)};
  size_t i = goahead(&t, 0, 0);                  /* feed() */
  t.s = s + i;                                   /* close(): goahead(1) on the rest */
  t.n = len - i;
  goahead(&t, 0, 1);
  end_data(&t, STR_NAVIGABLE);
  int oom = t.oom || t.names.oom || t.closed.oom || t.data.oom || out->oom, rejected = t.rejected;
  tbuf_free(&t.names);
  tbuf_free(&t.closed);
  tbuf_free(&t.data);
  free(t.starts);
  if (oom) return ditc_fail(err, DITC_ENOMEM, "text cleaning: out of memory");
  if (rejected == 2)
    return ditc_fail(err, DITC_EINVAL, "text cleaning: the prompt's markup is too complex (unterminated start tags "
                     "rescanned past 64 times its length, or PCRE2's match limit)");
  if (rejected)
    return ditc_fail(err, DITC_EINVAL, "text cleaning: the prompt holds markup upstream's HTML parser rejects "
                     "(\"<![\" without a known section keyword)");
  return DITC_OK;
}
