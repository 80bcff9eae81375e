/* tests/timing.h: what the benches and the timed tests share: a monotonic clock in seconds and the
 * comparison qsort needs for a median. Not a harness: each bench keeps its own rounds. */
#ifndef DITC_TESTS_TIMING_H
#define DITC_TESTS_TIMING_H

#include <time.h>

static inline double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static inline int cmp_double(const void *a, const void *b) {
  const double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

#endif
