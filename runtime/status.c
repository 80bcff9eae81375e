/* status.c: ditc_fail, the formatter of user-facing error messages. Nothing else. */
#include <stdarg.h>

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
