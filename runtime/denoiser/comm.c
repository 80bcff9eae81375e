/* comm.c: the single-rank communicator, the entry points generated code calls, the fault the
 * communicators of a generation share, and the start-up agreement (set-up status and tables
 * hash) every implementation runs through. Not here: the collectives of several ranks
 * (comm_threads.c, comm_nccl.c) or printing (ranks.c). */
#include "comm.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

/* ---- the shared fault ---------------------------------------------------------------------- */

int comm_fault(ditc_fault *f, int rank, const char *fmt, ...) {
  int expected = 0;
  if (!__atomic_compare_exchange_n(&f->failed, &expected, 1, 0, __ATOMIC_ACQ_REL, __ATOMIC_ACQUIRE)) return 0;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(f->err.msg, sizeof f->err.msg, fmt, ap);
  va_end(ap);
  __atomic_store_n(&f->rank, rank, __ATOMIC_RELEASE);
  return 1;
}

int comm_faulted(const ditc_fault *f) { return __atomic_load_n(&f->failed, __ATOMIC_ACQUIRE); }

/* ---- one rank -------------------------------------------------------------------------------- */

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

typedef struct {
  ditc_comm c;
  ditc_fault own;
} none_comm;

ditc_comm *comm_none_create(void) {
  none_comm *n = calloc(1, sizeof *n);
  DITC_CHECK(n != NULL);
  n->own = (ditc_fault)DITC_FAULT_INIT;
  ditc_comm *c = &n->c;
  c->fault = &n->own;
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

/* ---- the start-up agreement ---------------------------------------------------------------- */

int comm_agree(ditc_comm *world, int failed, uint64_t value, const char *what, ditc_err *err) {
  if (!world) return failed ? 0 : -1;
  typedef struct {
    uint64_t hash;
    int32_t failed, pad;
  } vote;
  const vote mine = {.hash = value, .failed = failed != 0};
  vote *all = calloc((size_t)world->size, sizeof *all);
  DITC_CHECK(all != NULL);
  const uint64_t calls = world->gather_calls, bytes = world->gather_bytes;
  world->all_gather(world, &mine, all, sizeof mine);
  world->gather_calls = calls; /* start-up agreement, not part of a generation's traffic */
  world->gather_bytes = bytes;
  int culprit = comm_faulted(world->fault) ? -2 : -1;
  for (int r = 0; r < world->size && culprit == -1; r++)
    if (all[r].failed) culprit = r;
  for (int r = 0; r < world->size && culprit == -1; r++)
    if (all[r].hash != all[0].hash) {
      culprit = r;
      ditc_fail(err, DITC_EINVAL, "rank %d: %s differs between ranks (rank 0: %016llx, rank %d: %016llx); "
                "every rank must run the same variant", r, what, (unsigned long long)all[0].hash, r,
                (unsigned long long)all[r].hash);
    }
  free(all);
  return culprit;
}
