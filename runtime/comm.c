/* comm.c: the single-rank communicator, the entry points generated code calls, and the
 * start-up agreement check (tables hash) shared by every implementation. */
#include "comm.h"

#include <stdlib.h>
#include <string.h>

static void none_all_to_all(ditc_comm *c, const void *send, void *recv, size_t chunk) {
  memcpy(recv, send, chunk);
  c->a2a_calls++;
}

static void none_all_gather(ditc_comm *c, const void *send, void *recv, size_t bytes) {
  memcpy(recv, send, bytes);
  c->gather_calls++;
}

static void none_barrier(ditc_comm *c) { (void)c; }
static void none_destroy(ditc_comm *c) { free(c); }

ditc_comm *comm_none_create(void) {
  ditc_comm *c = calloc(1, sizeof *c);
  DITC_CHECK(c != NULL);
  c->rank = 0;
  c->size = 1;
  c->all_to_all = none_all_to_all;
  c->all_gather = none_all_gather;
  c->barrier = none_barrier;
  c->destroy = none_destroy;
  return c;
}

void ditc_comm_all_to_all(ditc_comm *c, const void *send, void *recv, size_t chunk) {
  DITC_CHECK(c != NULL);
  c->all_to_all(c, send, recv, chunk);
}

void ditc_comm_all_gather(ditc_comm *c, const void *send, void *recv, size_t bytes) {
  DITC_CHECK(c != NULL);
  c->all_gather(c, send, recv, bytes);
}

ditc_status comm_check_agree(ditc_comm *c, uint64_t value, const char *what, ditc_err *err) {
  uint64_t *all = calloc((size_t)c->size, sizeof *all);
  DITC_CHECK(all != NULL);
  c->all_gather(c, &value, all, sizeof value);
  c->gather_calls--; /* start-up check, not part of a generation's traffic */
  c->gather_bytes -= (uint64_t)(c->size - 1) * sizeof value;
  ditc_status s = DITC_OK;
  for (int r = 0; r < c->size && !s; r++)
    if (all[r] != all[0])
      s = ditc_fail(err, DITC_EINVAL, "rank %d: %s differs between ranks (rank 0: %016llx, rank %d: %016llx); "
                    "every rank must run the same variant", c->rank, what, (unsigned long long)all[0], r,
                    (unsigned long long)all[r]);
  free(all);
  return s;
}
