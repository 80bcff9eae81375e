/* test_hooks.c: the test hooks of test_hooks.h, read from the environment; linked only into the
 * test binaries of build/tests/ that the suites inject faults into. Not in any bin/ binary
 * (those link test_hooks_none.c). */
#include <stdlib.h>
#include <string.h>

#include "test_hooks.h"

/* NAME=r or NAME=r:rest for this rank: returns rest ("" without one), else NULL. */
static const char *for_rank(const char *name, int rank) {
  const char *e = getenv(name);
  if (!e) return NULL;
  char *end;
  const long r = strtol(e, &end, 10);
  if (end == e || r != rank) return NULL;
  return *end == ':' ? end + 1 : end;
}

uint64_t test_hook_table_skew(int rank) { return for_rank("DITC_TEST_TABLE_SKEW", rank) ? 1 : 0; }

int test_hook_stop_before(int rank) {
  const char *k = for_rank("DITC_TEST_STOP_RANK", rank);
  return k ? 1 + atoi(k) : 0;
}

const char *test_hook_cond_path(int rank, const char *path) {
  const char *p = for_rank("DITC_TEST_FAIL_RANK", rank);
  return p ? p : path;
}
