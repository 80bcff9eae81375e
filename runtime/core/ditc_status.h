/* ditc_status.h: the two error channels of the runtime.
 * User mistakes (bad files, bad flags, bad shapes) travel as a status code plus a one-line message
 * in a ditc_err; bugs and impossible states abort through DITC_CHECK with file:line.
 * This is not a logging facility. */
#ifndef DITC_STATUS_H
#define DITC_STATUS_H

#include <stdio.h>
#include <stdlib.h>

typedef enum { DITC_OK = 0, DITC_EINVAL = 1, DITC_EIO = 2, DITC_ENOMEM = 3 } ditc_status;

/* A one-line, user-facing error message (room for a PATH_MAX path plus the reason). */
typedef struct {
  char msg[4608];
} ditc_err;

/* Formats msg into err (if err is non-NULL) and returns code. */
ditc_status ditc_fail(ditc_err *err, ditc_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* A name from a file (tensor name, JSON key, dtype string) made safe for a one-line message,
 * written into buf[cap] (cap >= 8) and returned: bytes < 0x20, 0x7f, bytes that are not part of
 * valid UTF-8, and the C1 controls U+0080..U+009F (UTF-8 c2 80..c2 9f) print as \xNN per byte, a
 * backslash as \\; other valid UTF-8 prints as it is. A name that does not fit is cut (between
 * characters) and ends in "...". Every name a message prints goes through this one function. */
const char *ditc_shown(char *buf, size_t cap, const char *name, size_t len);
/* The one UTF-8 validity rule of the runtime: the length of the valid sequence of 2..4 bytes at
 * s[0..n) (RFC 3629: no overlong forms, no surrogates, at most U+10FFFF), or 0. */
size_t ditc_utf8_seq(const unsigned char *s, size_t n);
/* A buffer size for ditc_shown that shows names of up to ~250 printable bytes whole. */
#define DITC_SHOWN_MAX 256

/* Aborts with the failing expression, file and line: for bugs, never for user input. */
#define DITC_CHECK(cond)                                                                      \
  do {                                                                                        \
    if (!(cond)) {                                                                            \
      fprintf(stderr, "ditc: internal error: %s:%d: check failed: %s\n", __FILE__, __LINE__, \
              #cond);                                                                         \
      abort();                                                                                \
    }                                                                                         \
  } while (0)

#endif
