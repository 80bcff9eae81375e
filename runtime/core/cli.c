/* cli.c: the command lines' value parsing (cli.h). */
#include "cli.h"

int cli_u64(const char *s, unsigned long long max, unsigned long long *out) {
  if (!*s) return 0;
  unsigned long long n = 0;
  for (const char *c = s; *c; c++) {
    if (*c < '0' || *c > '9') return 0;
    const unsigned d = (unsigned)(*c - '0');
    if (n > (max - d) / 10) return 0;
    n = n * 10 + d;
  }
  *out = n;
  return 1;
}
