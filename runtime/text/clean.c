/* clean.c: upstream's _clean_caption step by step, lower().strip(), and the pipelines' prompt
 * preprocessing (see clean.h). Each regex step names upstream's pattern beside its PCRE2 form.
 * Not the HTML parser (soup.c), ftfy (ftfy.c) or Python's str methods (pystr.c). */
#include "text/clean.h"

#include <stdlib.h>
#include <string.h>

#include "text/ftfy.h"
#include "text/pystr.h"

/* ---- the regex steps, in upstream's order -------------------------------------------------- */

typedef struct {
  const char *pattern;        /* PCRE2, with Python's classes from re.h */
  const char *repl;
} sub_step;

#define EXT "(?:png|jpg|jpeg|bmp|webp|eps|pdf|apk|mp4)"

/* after lower-casing, before the URL and HTML steps */
static const sub_step before_html[] = {
    {"<person>", "person"},
};

/* The two URL patterns, each \b((?:SCHEME:(?:\/{1,3}|[a-zA-Z0-9%])|[a-zA-Z0-9.\-]+[.](?:com|co|
 * ru|net|org|edu|gov|it)[\w/-]*\b\/?(?!@))) with SCHEME https? and then www, removed. They run as
 * two anchored halves (url_sub) so that a failed second half (after its \b) is not retried inside
 * the same run of [a-zA-Z0-9.-]: every split a later start could use, an earlier one could too. */
static const char *const url_scheme[2] = {PY_B "(?:https?:(?:\\/{1,3}|[a-zA-Z0-9%]))",
                                          PY_B "(?:www:(?:\\/{1,3}|[a-zA-Z0-9%]))"};
static const char url_boundary[] = PY_B;
static const char url_domain[] =
    "[a-zA-Z0-9.\\-]+[.](?:com|co|ru|net|org|edu|gov|it)[" PY_WORD "/-]*" PY_B "\\/?(?!@)";

/* after the HTML step, before the dash count */
static const sub_step after_html[] = {
    {"@[" PY_WORD PY_D "]+" PY_B, ""},                               /* @[\w\d]+\b */
    /* the seven CJK ranges 31C0-31EF ... 4E00-9FFF, each removed in turn: together one range */
    {"[\\x{31c0}-\\x{9fff}]+", ""},
    {"[\\x{2d}\\x{58a}\\x{5be}\\x{1400}\\x{1806}\\x{2010}-\\x{2015}\\x{2e17}\\x{2e1a}\\x{2e3a}\\x{2e3b}\\x{2e40}"
     "\\x{301c}\\x{3030}\\x{30a0}\\x{fe31}\\x{fe32}\\x{fe58}\\x{fe63}\\x{ff0d}]+", "-"},   /* dashes */
    {"[`\\x{b4}\\x{ab}\\x{bb}\\x{201c}\\x{201d}\\x{a8}]", "\""},      /* [`´«»“”¨] */
    {"[\\x{2018}\\x{2019}]", "'"},                                  /* [‘’] */
    {"&quot;?", ""},
    {"&amp", ""},
    {PY_D "{1,3}\\." PY_D "{1,3}\\." PY_D "{1,3}\\." PY_D "{1,3}", " "},   /* IP addresses */
    {PY_D ":" PY_D PY_D PY_S "+$", ""},                              /* \d:\d\d\s+$ */
    {"\\\\n", " "},                                                 /* the two characters \n */
    {"#" PY_D "{1,3}" PY_B, ""},
    {"#" PY_D "{5,}" PY_B, ""},
    {PY_B PY_D "{6,}" PY_B, ""},
    /* [\S]+\.(?:png|...): a match can only start where a run of \S starts (a later start in the
     * run matches only if that one does, and a match takes the run's last ".ext"), so the
     * lookbehind changes no result and makes the search linear */
    {"(?<!" PY_NS ")" PY_NS "+\\." EXT, ""},
    {"[\"']{2,}", "\""},
    {"\\.{2,}", " "},
    /* BAD_PUNCT_REGEX: runs of # ® • © ™ & @ · º ½ ¾ ¿ ¡ § ~ ) ( ] [ } { | \ / and the asterisk */
    {"[#\\x{ae}\\x{2022}\\x{a9}\\x{2122}&@\\x{b7}\\x{ba}\\x{bd}\\x{be}\\x{bf}\\x{a1}\\x{a7}~\\)\\(\\]\\[\\}\\{\\|\\\\/\\*]+",
     " "},
    /* \s+\.\s+: likewise only where a run of \s starts */
    {"(?<!" PY_S ")" PY_S "+\\." PY_S "+", " "},
};

/* after ftfy and html.unescape */
static const sub_step after_ftfy[] = {
    {PY_B "[a-zA-Z]{1,3}" PY_D "{3,15}" PY_B, ""},                   /* jc6640 */
    {PY_B "[a-zA-Z]+" PY_D "+[a-zA-Z]+" PY_B, ""},                   /* jc6640vc */
    {PY_B PY_D "+[a-zA-Z]+" PY_D "+" PY_B, ""},                      /* 6640vc231 */
    {"(worldwide" PY_S "+)?(free" PY_S "+)?shipping", ""},
    {"(free" PY_S ")?download(" PY_S "free)?", ""},
    {PY_B "click" PY_B PY_S "(?:for|on)" PY_S PY_W "+", ""},
    {PY_B EXT "(" PY_S "image[s]?)?", ""},
    {PY_B "page" PY_S "+" PY_D "+" PY_B, ""},
    {PY_B PY_D "*[a-zA-Z]+" PY_D "+[a-zA-Z]+" PY_D "+[a-zA-Z" PY_D "]*" PY_B, " "},   /* j2d1a2a... */
    {PY_B PY_D "+\\.?" PY_D "*[x\\x{445}\\x{d7}]" PY_D "+\\.?" PY_D "*" PY_B, ""},    /* 1920x1080 */
    {PY_B PY_S "+\\:" PY_S "+", ": "},
    {"(" PY_ND "[,\\./])" PY_B, "$1 "},
    {PY_S "+", " "},
    {"^[\"']([\\w\\W]+)[\"']$", "$1"},
    {"^['_,\\-:;]", ""},
    {"['_,\\-:\\-+]$", ""},
    {"^\\." PY_NS "+$", ""},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))
#define N_BEFORE COUNT(before_html)
#define N_AFTER COUNT(after_html)
#define N_FTFY COUNT(after_ftfy)

static const sub_step *step_at(int k) {
  if (k < (int)N_BEFORE) return &before_html[k];
  k -= (int)N_BEFORE;
  if (k < (int)N_AFTER) return &after_html[k];
  return &after_ftfy[k - (int)N_AFTER];
}

ditc_status text_cleaner_init(text_cleaner *c, ditc_err *err) {
  memset(c, 0, sizeof *c);
  int n = (int)(N_BEFORE + N_AFTER + N_FTFY);
  DITC_CHECK(n <= CLEAN_N_PATTERNS);
  ditc_status st = soup_init(&c->soup, err);
  if (st) return st;
  if ((st = pyre_compile(&c->url[0], url_scheme[0], 0, err)) || (st = pyre_compile(&c->url[1], url_scheme[1], 0, err)) ||
      (st = pyre_compile(&c->url[2], url_domain, 0, err)) || (st = pyre_compile(&c->url[3], url_boundary, 0, err))) {
    text_cleaner_free(c);
    return st;
  }
  for (c->n = 0; c->n < n; c->n++) {
    st = pyre_compile(&c->re[c->n], step_at(c->n)->pattern, 0, err);
    if (st) {
      text_cleaner_free(c);
      return st;
    }
  }
  return DITC_OK;
}

void text_cleaner_free(text_cleaner *c) {
  for (int k = 0; k < c->n; k++) pyre_free(&c->re[k]);
  for (int k = 0; k < 4; k++) pyre_free(&c->url[k]);
  soup_free(&c->soup);
  memset(c, 0, sizeof *c);
}

/* ---- one pass ------------------------------------------------------------------------------ */

/* cur = re.sub(step k's pattern, its replacement, cur) for k in [from, to) */
static ditc_status subs(text_cleaner *c, int from, int to, tbuf *cur, tbuf *tmp, ditc_err *err) {
  for (int k = from; k < to; k++) {
    tbuf_clear(tmp);
    ditc_status st = pyre_sub(&c->re[k], cur->p, cur->len, step_at(k)->repl, tmp, err);
    if (st) return st;
    tbuf_swap(cur, tmp);
  }
  return DITC_OK;
}

static int url_class(char ch) {
  return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '.' || ch == '-';
}

/* cur = re.sub(URL pattern `which` (0: https?, 1: www), "", cur): at each start the scheme half
 * first, then the domain half unless it already failed earlier in the same [a-zA-Z0-9.-] run */
static ditc_status url_sub(text_cleaner *c, int which, tbuf *cur, tbuf *tmp, ditc_err *err) {
  const char *s = cur->p;
  size_t n = cur->len, copied = 0, dead_until = 0;
  tbuf_clear(tmp);
  for (size_t p = 0; p < n;) {
    char ch = s[p];
    PCRE2_SIZE *ov;
    int r = 0;
    if (ch == (which ? 'w' : 'h')) r = pyre_match(&c->url[which], s, n, p, 1, &ov);
    if (r == 0 && url_class(ch) && p >= dead_until && (r = pyre_match(&c->url[3], s, n, p, 1, &ov)) == 1) {
      r = pyre_match(&c->url[2], s, n, p, 1, &ov);
      if (r == 0) {
        dead_until = p;
        while (dead_until < n && url_class(s[dead_until])) dead_until++;
      }
    }
    if (r < 0)
      return ditc_fail(err, DITC_EINVAL, "text cleaning: the prompt is too complex for the URL pattern "
                       "(PCRE2 match limit)");
    if (r == 1) {
      tbuf_add(tmp, s + copied, p - copied);
      copied = p = ov[1];
      continue;
    }
    p++;
    while (p < n && ((unsigned char)s[p] & 0xC0) == 0x80) p++;
  }
  tbuf_add(tmp, s + copied, n - copied);
  tbuf_swap(cur, tmp);
  return cur->oom ? ditc_fail(err, DITC_ENOMEM, "text cleaning: out of memory") : DITC_OK;
}

static void strip_into(tbuf *dst, const tbuf *src) {
  size_t b, e;
  py_strip(src->p, src->len, &b, &e);
  tbuf_clear(dst);
  tbuf_add(dst, src->p + b, e - b);
}

/* _clean_caption(cur) into cur */
static ditc_status clean_once(text_cleaner *c, tbuf *cur, tbuf *tmp, ditc_err *err) {
  ditc_status st;
  const int b = (int)N_BEFORE, a = b + (int)N_AFTER, f = a + (int)N_FTFY;
  tbuf_clear(tmp);                                   /* unquote_plus */
  py_unquote_plus(tmp, cur->p, cur->len);
  strip_into(cur, tmp);                              /* strip().lower() */
  tbuf_clear(tmp);
  py_lower(tmp, cur->p, cur->len);
  tbuf_swap(cur, tmp);
  if (cur->oom || tmp->oom) return ditc_fail(err, DITC_ENOMEM, "text cleaning: out of memory");
  if ((st = subs(c, 0, b, cur, tmp, err)) || (st = url_sub(c, 0, cur, tmp, err)) ||
      (st = url_sub(c, 1, cur, tmp, err)))
    return st;
  tbuf_clear(tmp);                                   /* BeautifulSoup(...).text */
  if ((st = soup_text(&c->soup, cur->p, cur->len, tmp, err))) return st;
  tbuf_swap(cur, tmp);
  if ((st = subs(c, b, a, cur, tmp, err))) return st;
  size_t dashes = 0;                                 /* more than 3 of [-_]: all become spaces */
  for (size_t i = 0; i < cur->len; i++) dashes += cur->p[i] == '-' || cur->p[i] == '_';
  if (dashes > 3)
    for (size_t i = 0; i < cur->len; i++)
      if (cur->p[i] == '-' || cur->p[i] == '_') cur->p[i] = ' ';
  tbuf_clear(tmp);                                   /* _basic_clean: ftfy, unescape twice, strip */
  if ((st = ftfy_fix_text(tmp, cur->p, cur->len, err))) return st;
  tbuf_clear(cur);
  py_html_unescape(cur, tmp->p, tmp->len);
  tbuf_clear(tmp);
  py_html_unescape(tmp, cur->p, cur->len);
  strip_into(cur, tmp);
  if (cur->oom || tmp->oom) return ditc_fail(err, DITC_ENOMEM, "text cleaning: out of memory");
  if ((st = subs(c, a, f, cur, tmp, err))) return st;
  strip_into(tmp, cur);
  tbuf_swap(cur, tmp);
  return cur->oom ? ditc_fail(err, DITC_ENOMEM, "text cleaning: out of memory") : DITC_OK;
}

/* ---- the API ------------------------------------------------------------------------------- */

static ditc_status give(tbuf *b, char **out, size_t *out_len, ditc_err *err) {
  if (b->oom) {
    tbuf_free(b);
    return ditc_fail(err, DITC_ENOMEM, "text cleaning: out of memory");
  }
  tbuf_add(b, "", 0);                                /* an empty result still gets its NUL */
  if (b->oom) return give(b, out, out_len, err);
  *out = b->p;
  if (out_len) *out_len = b->len;
  return DITC_OK;
}

ditc_status text_clean(text_cleaner *c, const char *in, size_t len, int times, char **out, size_t *out_len,
                       ditc_err *err) {
  tbuf cur = {0}, tmp = {0};
  *out = NULL;
  tbuf_clear(&cur);
  tbuf_clear(&tmp);
  utf8_decode_replace(&cur, in, len);
  ditc_status st = cur.oom || tmp.oom ? ditc_fail(err, DITC_ENOMEM, "text cleaning: out of memory") : DITC_OK;
  for (int k = 0; k < times && !st; k++) st = clean_once(c, &cur, &tmp, err);
  tbuf_free(&tmp);
  if (st) {
    tbuf_free(&cur);
    return st;
  }
  return give(&cur, out, out_len, err);
}

ditc_status text_no_clean(const char *in, size_t len, char **out, size_t *out_len, ditc_err *err) {
  tbuf dec = {0}, low = {0}, res = {0};
  *out = NULL;
  utf8_decode_replace(&dec, in, len);
  py_lower(&low, dec.p ? dec.p : "", dec.len);
  strip_into(&res, &low);
  if (dec.oom || low.oom) res.oom = 1;
  tbuf_free(&dec);
  tbuf_free(&low);
  return give(&res, out, out_len, err);
}

ditc_status text_preprocess(text_cleaner *c, text_pipeline p, const char *in, size_t len, char **out,
                            size_t *out_len, ditc_err *err) {
  if (p != TEXT_PIPELINE_OPENSORA_V12) return text_clean(c, in, len, 2, out, out_len, err);
  /* append_score_to_prompts(aes=6.5): on the prompt as upstream holds it (decoded) */
  static const char key[] = "aesthetic score:", suffix[] = " aesthetic score: 6.5.";
  tbuf s = {0};
  utf8_decode_replace(&s, in, len);
  if (!s.oom && !memmem(s.p ? s.p : "", s.len, key, sizeof key - 1)) tbuf_add(&s, suffix, sizeof suffix - 1);
  if (s.oom) {
    tbuf_free(&s);
    return ditc_fail(err, DITC_ENOMEM, "text cleaning: out of memory");
  }
  ditc_status st = text_clean(c, s.p ? s.p : "", s.len, 2, out, out_len, err);
  tbuf_free(&s);
  return st;
}

ditc_status text_pipeline_find(const char *name, text_pipeline *p, ditc_err *err) {
  static const struct { const char *name; text_pipeline p; } names[] = {
      {"opensora-v1.2", TEXT_PIPELINE_OPENSORA_V12},
      {"latte", TEXT_PIPELINE_LATTE},
      {"opensora-plan-v1.1", TEXT_PIPELINE_OPENSORA_PLAN_V11},
  };
  for (size_t k = 0; k < COUNT(names); k++)
    if (!strcmp(name, names[k].name)) {
      *p = names[k].p;
      return DITC_OK;
    }
  char shown[DITC_SHOWN_MAX];
  return ditc_fail(err, DITC_EINVAL, "unknown pipeline '%s' (known: opensora-v1.2, latte, opensora-plan-v1.1)",
                   ditc_shown(shown, sizeof shown, name, strlen(name)));
}
