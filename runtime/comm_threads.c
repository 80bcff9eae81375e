/* comm_threads.c: ranks as threads of one process (CPU tests of the parallel algorithm). Each
 * collective publishes the rank's send pointer, waits for every peer at a barrier, copies its
 * chunks from the peers' send buffers, and waits again before the buffers may change. The
 * barrier waits at most timeout_s: a rank that stopped taking part (died, stalled, or skipped a
 * collective its peers ran) makes the others print one error line and exit with status 1. */
#include <errno.h>
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
  ditc_comm *ranks;  /* [size] */
} shared_state;

static void wait_all(ditc_comm *c, const char *what) {
  shared_state *s = c->impl;
  pthread_mutex_lock(&s->mu);
  const unsigned long gen = s->generation;
  if (++s->arrived == s->size) {
    s->arrived = 0;
    s->generation++;
    pthread_cond_broadcast(&s->cv);
  } else {
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += (time_t)s->timeout_s;
    while (s->generation == gen) {
      if (pthread_cond_timedwait(&s->cv, &s->mu, &until) == ETIMEDOUT && s->generation == gen) {
        fprintf(stderr, "ditc: error: rank %d: %s: no answer from %d of %d ranks within %.0f s "
                "(a rank died or stalled, or skipped a collective its peers ran)\n",
                c->rank, what, s->size - s->arrived, s->size, s->timeout_s);
        exit(1);
      }
    }
  }
  pthread_mutex_unlock(&s->mu);
}

static void threads_all_to_all(ditc_comm *c, const void *send, void *recv, size_t chunk) {
  shared_state *s = c->impl;
  s->send[c->rank] = send;
  wait_all(c, "all_to_all");
  for (int q = 0; q < s->size; q++)
    memcpy((char *)recv + (size_t)q * chunk, (const char *)s->send[q] + (size_t)c->rank * chunk, chunk);
  wait_all(c, "all_to_all");
  c->a2a_calls++;
  c->a2a_bytes += (uint64_t)(s->size - 1) * chunk;
}

static void threads_all_gather(ditc_comm *c, const void *send, void *recv, size_t bytes) {
  shared_state *s = c->impl;
  s->send[c->rank] = send;
  wait_all(c, "all_gather");
  for (int q = 0; q < s->size; q++) memcpy((char *)recv + (size_t)q * bytes, s->send[q], bytes);
  wait_all(c, "all_gather");
  c->gather_calls++;
  c->gather_bytes += (uint64_t)(s->size - 1) * bytes;
}

static void threads_barrier(ditc_comm *c) { wait_all(c, "barrier"); }

static void threads_destroy(ditc_comm *c) {
  shared_state *s = c->impl;
  if (c->rank != 0) return; /* rank 0 owns the shared state and the array */
  pthread_mutex_destroy(&s->mu);
  pthread_cond_destroy(&s->cv);
  free(s->send);
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
  pthread_cond_init(&s->cv, NULL);
  s->size = size;
  s->timeout_s = timeout_s;
  s->send = calloc((size_t)size, sizeof *s->send);
  s->ranks = calloc((size_t)size, sizeof *s->ranks);
  DITC_CHECK(s->send && s->ranks);
  for (int r = 0; r < size; r++) {
    ditc_comm *c = &s->ranks[r];
    c->rank = r;
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
