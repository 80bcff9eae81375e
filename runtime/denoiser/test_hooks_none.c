/* test_hooks_none.c: the test hooks of test_hooks.h as no-ops, for every binary that is not a
 * fault-injection test binary (all of bin/): no DITC_TEST_* variable is read. The hooks
 * themselves are in test_hooks.c. */
#include "test_hooks.h"

uint64_t test_hook_table_skew(int rank) {
  (void)rank;
  return 0;
}

int test_hook_stop_before(int rank) {
  (void)rank;
  return 0;
}

const char *test_hook_cond_path(int rank, const char *path) {
  (void)rank;
  return path;
}
