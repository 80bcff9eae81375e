/* test_hooks.h: fault injection for the tests of parallel runs. The test binaries the suites
 * inject faults into (build/tests/..., see build.ninja's hooks_obj) link test_hooks.c, which
 * reads the DITC_TEST_* variables below; every other binary (bin/) links test_hooks_none.c,
 * where no hook does anything and no variable is read. `rank` is the global rank.
 *   DITC_TEST_TABLE_SKEW=r    rank r's tables hash is perturbed (a rank built differently)
 *   DITC_TEST_STOP_RANK=r:k   rank r stops before step k, as if it died: it takes part in
 *                             nothing more and writes nothing
 *   DITC_TEST_FAIL_RANK=r:P   rank r reads its conditioning (--cond) from P instead: a missing
 *                             or bad file fails that rank's load with the loader's own error
 * Not here: what a rank does with them (ranks.c). */
#ifndef DITC_TEST_HOOKS_H
#define DITC_TEST_HOOKS_H

#include <stdint.h>

/* What to xor into this rank's tables hash (0: nothing). */
uint64_t test_hook_table_skew(int rank);
/* 1 + the step this rank stops before (0: it runs every step). */
int test_hook_stop_before(int rank);
/* The conditioning file this rank reads: `path`, or the one DITC_TEST_FAIL_RANK names. */
const char *test_hook_cond_path(int rank, const char *path);

#endif
