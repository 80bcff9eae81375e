/* soup.h: BeautifulSoup(text, "html.parser").text (beautifulsoup4 4.12.3 over Python 3.11's
 * html.parser, as the cleaner calls it): a port of html.parser's scanner (feed, then close) with
 * bs4's handlers and tree rules that decide which strings .text joins. Tags, comments,
 * declarations and processing instructions are dropped, with the contents of script, style,
 * template, rt and rp; character references are decoded as bs4 does (a name without ';' when it
 * is an HTML5 name, numbers below 256 as Windows-1252, an unknown name kept as "&name");
 * whitespace-only strings outside pre/textarea become one space or newline.
 *
 * Approximations (listed in runtime/text/README.md): a reference to a surrogate (&#xD800;) gives
 * U+FFFD at once (Python keeps a lone surrogate that ftfy replaces by U+FFFD later, joining a
 * pair into one character); markup html.parser rejects (a "<![" section with an unknown keyword)
 * fails with DITC_EINVAL, as upstream raises; so does markup whose unterminated start tags
 * html.parser would rescan for more than 64 times the input's length (quadratic time upstream).
 * Not here: the other cleaning steps. */
#ifndef DITC_TEXT_SOUP_H
#define DITC_TEXT_SOUP_H

#include <stddef.h>

#include "ditc_status.h"
#include "text/buf.h"
#include "text/re.h"

/* html.parser's patterns, compiled once. */
typedef struct {
  pyre starttag_end;          /* locatestarttagend_tolerant */
  pyre tagfind;               /* tagfind_tolerant */
  pyre attrfind;              /* attrfind_tolerant */
  pyre endtagfind;
  pyre commentclose;
  pyre script_end, style_end; /* the CDATA-mode end tags, case-insensitive */
  pyre declname;              /* _markupbase's _declname_match */
  pyre marked_close, ms_marked_close;
} soup_patterns;

ditc_status soup_init(soup_patterns *p, ditc_err *err);
void soup_free(soup_patterns *p);

/* Appends the .text of valid UTF-8 s[0..len) to out. */
ditc_status soup_text(soup_patterns *p, const char *s, size_t len, tbuf *out, ditc_err *err);

#endif
