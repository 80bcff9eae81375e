/* re.c: PCRE2 under Python re's meaning (see re.h). Not the patterns themselves. */
#include "text/re.h"

#include <stdlib.h>
#include <string.h>

ditc_status pyre_compile(pyre *re, const char *pattern, uint32_t extra, ditc_err *err) {
  int code;
  PCRE2_SIZE at;
  memset(re, 0, sizeof *re);
  re->pattern = pattern;
  re->code = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP | extra, &code,
                           &at, NULL);
  if (!re->code) {
    if (code == PCRE2_ERROR_HEAPLIMIT || code == PCRE2_ERROR_NOMEMORY)
      return ditc_fail(err, DITC_ENOMEM, "text cleaning: out of memory compiling a pattern");
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(code, msg, sizeof msg);
    fprintf(stderr, "ditc: internal error: pattern %s at %zu: %s\n", pattern, (size_t)at, (char *)msg);
    DITC_CHECK(!"a cleaner pattern compiles");
  }
  pcre2_jit_compile(re->code, PCRE2_JIT_COMPLETE);   /* optional: the interpreter is the fallback */
  re->md = pcre2_match_data_create_from_pattern(re->code, NULL);
  if (!re->md) {
    pyre_free(re);
    return ditc_fail(err, DITC_ENOMEM, "text cleaning: out of memory");
  }
  return DITC_OK;
}

void pyre_free(pyre *re) {
  pcre2_match_data_free(re->md);
  pcre2_code_free(re->code);
  memset(re, 0, sizeof *re);
}

int pyre_match(pyre *re, const char *s, size_t len, size_t at, int anchored, PCRE2_SIZE **ov) {
  int rc = pcre2_match(re->code, (PCRE2_SPTR)s, len, at, PCRE2_NO_UTF_CHECK | (anchored ? PCRE2_ANCHORED : 0),
                       re->md, NULL);
  if (rc == PCRE2_ERROR_NOMATCH) return 0;
  if (rc < 0) return -1;
  *ov = pcre2_get_ovector_pointer(re->md);
  return 1;
}

ditc_status pyre_sub(pyre *re, const char *s, size_t len, const char *repl, tbuf *out, ditc_err *err) {
  PCRE2_SIZE cap = len + len / 2 + 64;
  for (int attempt = 0; attempt < 2; attempt++) {
    size_t base = out->len;
    tbuf_add(out, NULL, 0);
    if (out->oom) break;
    /* room for cap bytes after out's content */
    if (out->cap < base + cap + 1) {
      char *p = realloc(out->p, base + cap + 1);
      if (!p) { out->oom = 1; break; }
      out->p = p;
      out->cap = base + cap + 1;
    }
    PCRE2_SIZE n = cap + 1;
    int rc = pcre2_substitute(re->code, (PCRE2_SPTR)s, len, 0,
                              PCRE2_SUBSTITUTE_GLOBAL | PCRE2_SUBSTITUTE_OVERFLOW_LENGTH | PCRE2_NO_UTF_CHECK,
                              re->md, NULL, (PCRE2_SPTR)repl, PCRE2_ZERO_TERMINATED,
                              (PCRE2_UCHAR *)out->p + base, &n);
    if (rc >= 0) {
      out->len = base + n;
      out->p[out->len] = 0;
      return DITC_OK;
    }
    out->p[base] = 0;
    if (rc == PCRE2_ERROR_NOMEMORY && attempt == 0) {  /* n is the length it needs */
      cap = n;
      continue;
    }
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT || rc == PCRE2_ERROR_HEAPLIMIT ||
        rc == PCRE2_ERROR_JIT_STACKLIMIT)
      return ditc_fail(err, DITC_EINVAL, "text cleaning: the prompt is too complex for the pattern %s "
                       "(PCRE2 match limit)", re->pattern);
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(rc, msg, sizeof msg);
    return ditc_fail(err, DITC_EINVAL, "text cleaning: pattern %s: %s", re->pattern, (char *)msg);
  }
  return ditc_fail(err, DITC_ENOMEM, "text cleaning: out of memory");
}
