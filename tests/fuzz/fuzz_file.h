/* fuzz_file.h: the fuzz targets' way to hand bytes to a loader that takes a path: one memfd per
 * process, rewritten per input, opened again through /proc/self/fd. Not a temp-file library. */
#ifndef DITC_FUZZ_FILE_H
#define DITC_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "ditc_status.h"

/* The path of a regular file that holds data[0..size) until the next call. */
static const char *fuzz_file(const uint8_t *data, size_t size) {
  static int fd = -1;
  static char path[64];
  if (fd < 0) {
    fd = memfd_create("ditc-fuzz", 0);
    DITC_CHECK(fd >= 0);
    snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  }
  DITC_CHECK(ftruncate(fd, 0) == 0);
  DITC_CHECK(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size);
  return path;
}

#endif
