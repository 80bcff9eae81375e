/* replay.c: a plain main() for the fuzz targets, for compilers without libFuzzer (gcc): feeds
 * every file named on the command line, or found in a directory named there, once to
 * LLVMFuzzerTestOneInput and prints how many it ran. A crash or sanitizer report is the failure.
 * Not a fuzzer: it generates nothing. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "ditc_status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int run_file(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return 0;
  }
  DITC_CHECK(fseek(fp, 0, SEEK_END) == 0);
  long n = ftell(fp);
  DITC_CHECK(n >= 0 && fseek(fp, 0, SEEK_SET) == 0);
  uint8_t *buf = malloc((size_t)n + 1);
  DITC_CHECK(buf && fread(buf, 1, (size_t)n, fp) == (size_t)n);
  fclose(fp);
  LLVMFuzzerTestOneInput(buf, (size_t)n);
  free(buf);
  return 1;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

int main(int argc, char **argv) {
  int ran = 0, missing = 0;
  for (int i = 1; i < argc; i++) {
    struct stat sb;
    if (stat(argv[i], &sb) != 0) { fprintf(stderr, "replay: no such input %s\n", argv[i]); missing++; continue; }
    if (!S_ISDIR(sb.st_mode)) { ran += run_file(argv[i]); continue; }
    DIR *d = opendir(argv[i]);
    DITC_CHECK(d);
    char *names[4096];
    int n = 0;
    for (struct dirent *e; (e = readdir(d)) && n < 4096;)
      if (e->d_name[0] != '.') DITC_CHECK((names[n++] = strdup(e->d_name)));
    closedir(d);
    qsort(names, (size_t)n, sizeof *names, cmp_str);
    for (int k = 0; k < n; k++) {
      char path[4200];
      snprintf(path, sizeof path, "%s/%s", argv[i], names[k]);
      ran += run_file(path);
      free(names[k]);
    }
  }
  printf("replay: %d inputs\n", ran);
  return missing || ran == 0;
}
