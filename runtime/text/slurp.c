/* slurp.c: a whole regular file into memory, under a size limit (see slurp.h). Not a mapping. */
#include "slurp.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

ditc_status slurp_file(const char *path, size_t max, char **buf, size_t *len, ditc_err *err) {
  *buf = NULL;
  *len = 0;
  FILE *fp = fopen(path, "rb");
  if (!fp) return ditc_fail(err, DITC_EIO, "%s: cannot open: %s", path, strerror(errno));
  struct stat sb;
  ditc_status st = DITC_OK;
  if (fstat(fileno(fp), &sb) != 0)
    st = ditc_fail(err, DITC_EIO, "%s: cannot stat: %s", path, strerror(errno));
  else if (!S_ISREG(sb.st_mode))
    st = ditc_fail(err, DITC_EIO, "%s: not a regular file", path);
  else if ((unsigned long long)sb.st_size > max)
    st = ditc_fail(err, DITC_EINVAL, "%s: %lld bytes, over the limit of %zu bytes", path, (long long)sb.st_size,
                   max);
  if (st != DITC_OK) {
    fclose(fp);
    return st;
  }
  /* read up to max + 1 bytes whatever stat said: the file may grow or shrink meanwhile */
  size_t cap = (size_t)sb.st_size + 1, n = 0;
  char *b = malloc(cap + 1);
  while (b) {
    n += fread(b + n, 1, cap - n, fp);
    if (n < cap || n > max) break;
    char *nb = realloc(b, 2 * cap + 1);
    if (!nb) free(b);
    b = nb;
    cap *= 2;
  }
  if (!b) {
    st = ditc_fail(err, DITC_ENOMEM, "%s: out of memory", path);
  } else if (ferror(fp)) {
    st = ditc_fail(err, DITC_EIO, "%s: cannot read: %s", path, strerror(errno));
  } else if (n > max) {
    st = ditc_fail(err, DITC_EINVAL, "%s: over the limit of %zu bytes", path, max);
  }
  fclose(fp);
  if (st != DITC_OK) {
    free(b);
    return st;
  }
  b[n] = 0;
  *buf = b;
  *len = n;
  return DITC_OK;
}
