/* comm_threads.c: ranks as threads of one process (CPU tests of the parallel algorithm). Each
 * collective publishes the rank's send pointer, waits for every peer at a barrier, copies its
 * chunks from the peers' send buffers, and waits again before the buffers may change. The first
 * barrier waits at most timeout_s, looking at the shared fault every few milliseconds: a rank
 * that stopped taking part (died, stalled, or skipped a collective its peers ran) makes the
 * first waiter claim the fault naming the ranks that did not come, and every waiter of every
 * group leave; nothing here prints or exits. The second barrier always completes: every rank
 * that passed the first one copies and comes. Not here: what a failed run prints (ranks.c). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "comm.h"

typedef struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int size, arrived;
  unsigned long generation;
  double timeout_s;
  const void **send; /* [size] published send pointers */
  char *here;        /* [size] 1: this rank waits at the barrier now */
  ditc_comm *ranks;  /* [size] */
  ditc_fault own;    /* the group's fault until the caller shares one (ranks.c does) */
} shared_state;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static struct timespec at(double t) {
  struct timespec ts = {.tv_sec = (time_t)t};
  ts.tv_nsec = (long)((t - (double)ts.tv_sec) * 1e9);
  return ts;
}

/* Claims the fault: "rank G: what: no answer from rank A, rank B within N s (...)". Under s->mu. */
static void no_answer(ditc_comm *c, const char *what) {
  shared_state *s = c->impl;
  char who[512] = "";
  size_t n = 0;
  for (int q = 0; q < s->size && n < sizeof who - 32; q++)
    if (!s->here[q] && q != c->rank)
      n += (size_t)snprintf(who + n, sizeof who - n, "%srank %d", n ? ", " : "", s->ranks[q].global);
  comm_fault(c->fault, c->global, "rank %d: %s: no answer from %s within %.0f s (a rank died or stalled, or "
             "skipped a collective its peers ran)", c->global, what, who, s->timeout_s);
}

/* Waits until every rank of the group is here; returns 1 instead when the run failed (the fault
 * is claimed, by this wait's timeout or elsewhere), having left the barrier as it found it.
 * bounded = 0 (the second barrier of a collective): waits without a limit. */
static int wait_all(ditc_comm *c, const char *what, int bounded) {
  shared_state *s = c->impl;
  if (bounded && comm_faulted(c->fault)) return 1;
  pthread_mutex_lock(&s->mu);
  const unsigned long gen = s->generation;
  int failed = 0;
  if (++s->arrived == s->size) {
    s->arrived = 0;
    memset(s->here, 0, (size_t)s->size);
    s->generation++;
    pthread_cond_broadcast(&s->cv);
  } else {
    s->here[c->rank] = 1;
    const double until = now() + s->timeout_s;
    while (s->generation == gen) {
      const double t = now(), slice = t + 0.02 < until || !bounded ? t + 0.02 : until;
      const struct timespec ts = at(slice);
      pthread_cond_timedwait(&s->cv, &s->mu, &ts);
      if (s->generation != gen || !bounded) continue;
      if (!comm_faulted(c->fault) && now() >= until) no_answer(c, what);
      if (comm_faulted(c->fault)) {
        failed = 1;
        s->here[c->rank] = 0;
        s->arrived--;
        break;
      }
    }
  }
  pthread_mutex_unlock(&s->mu);
  return failed;
}

static void threads_all_to_all(ditc_comm *c, const void *send, void *recv, size_t chunk) {
  shared_state *s = c->impl;
  c->a2a_calls++;
  s->send[c->rank] = send;
  if (wait_all(c, "all_to_all", 1)) return;
  for (int q = 0; q < s->size; q++)
    memcpy((char *)recv + (size_t)q * chunk, (const char *)s->send[q] + (size_t)c->rank * chunk, chunk);
  wait_all(c, "all_to_all", 0);
  c->a2a_bytes += (uint64_t)(s->size - 1) * chunk;
}

static void threads_all_gather(ditc_comm *c, const void *send, void *recv, size_t bytes) {
  shared_state *s = c->impl;
  c->gather_calls++;
  s->send[c->rank] = send;
  if (wait_all(c, "all_gather", 1)) return;
  for (int q = 0; q < s->size; q++) memcpy((char *)recv + (size_t)q * bytes, s->send[q], bytes);
  wait_all(c, "all_gather", 0);
  c->gather_bytes += (uint64_t)(s->size - 1) * bytes;
}

static void threads_barrier(ditc_comm *c) { wait_all(c, "barrier", 1); }

static void threads_destroy(ditc_comm *c) {
  shared_state *s = c->impl;
  if (c->rank != 0) return; /* rank 0 owns the shared state and the array */
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s->send);
  free(s->here);
  free(s->ranks);
  free(s);
}

ditc_comm **comm_threads_create(int size, double timeout_s, ditc_err *err) {
  if (size < 1 || size > 1024) {
    ditc_fail(err, DITC_EINVAL, "thread ranks: %d ranks is out of range 1..1024", size);
    return NULL;
  }
  shared_state *s = calloc(1, sizeof *s);
  ditc_comm **out = calloc((size_t)size, sizeof *out);
  DITC_CHECK(s && out);
  pthread_mutex_init(&s->mu, NULL);
  pthread_condattr_t ca;
  pthread_condattr_init(&ca);
  pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
  pthread_cond_init(&s->cv, &ca);
  pthread_condattr_destroy(&ca);
  s->size = size;
  s->timeout_s = timeout_s;
  s->own = (ditc_fault)DITC_FAULT_INIT;
  s->send = calloc((size_t)size, sizeof *s->send);
  s->here = calloc((size_t)size, 1);
  s->ranks = calloc((size_t)size, sizeof *s->ranks);
  DITC_CHECK(s->send && s->here && s->ranks);
  for (int r = 0; r < size; r++) {
    ditc_comm *c = &s->ranks[r];
    c->rank = r;
    c->global = r;
    c->fault = &s->own;
    c->size = size;
    c->all_to_all = threads_all_to_all;
    c->all_gather = threads_all_gather;
    c->barrier = threads_barrier;
    c->destroy = threads_destroy;
    c->impl = s;
    out[r] = c;
  }
  return out;
}
