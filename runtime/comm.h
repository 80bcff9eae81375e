/* comm.h: the communication interface of sequence parallelism: all_to_all (equal chunks per
 * peer), all_gather and barrier over the ranks of one generation, with counters the tests
 * read. Implementations: none (one rank), threads (ranks are threads of one process, for CPU
 * tests of the parallel algorithm: comm_threads.c) and NCCL (one process per GPU:
 * comm_nccl.c). A peer that dies or stalls ends the run with a clear error after `timeout_s`
 * seconds instead of hanging. Not here: what is exchanged (the generated code decides). */
#ifndef DITC_COMM_H
#define DITC_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "ditc_status.h"

typedef struct ditc_comm ditc_comm;
struct ditc_comm {
  int rank, size;
  /* send [size][chunk] -> recv [size][chunk]: chunk r of rank q lands in chunk q of rank r */
  void (*all_to_all)(ditc_comm *c, const void *send, void *recv, size_t chunk);
  /* send [bytes] -> recv [size][bytes] */
  void (*all_gather)(ditc_comm *c, const void *send, void *recv, size_t bytes);
  void (*barrier)(ditc_comm *c);
  /* optional: allocate for collectives of up to `bytes` received per call, before the step loop */
  void (*reserve)(ditc_comm *c, size_t bytes);
  void (*destroy)(ditc_comm *c);
  /* instrumentation: calls and bytes this rank sent to other ranks */
  uint64_t a2a_calls, a2a_bytes, gather_calls, gather_bytes;
  void *impl;
};

/* One rank, no peers: the collectives copy locally. */
ditc_comm *comm_none_create(void);
/* `size` ranks as threads of this process; returns an array of `size` communicators (rank i
 * at index i), or NULL with err set. */
ditc_comm **comm_threads_create(int size, double timeout_s, ditc_err *err);
/* One rank of an NCCL job (RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR/MASTER_PORT or
 * DITC_NCCL_ID_FILE from the environment); NULL with err set when it cannot start. */
ditc_comm *comm_nccl_create(double timeout_s, ditc_err *err);

/* The sub-communicator of the world ranks with the same color, ordered by key (ncclCommSplit);
 * NULL with err set on failure. */
ditc_comm *comm_nccl_split(ditc_comm *world, int color, int key, ditc_err *err);

/* Used by generated code; `comm` may be NULL only for single-rank variants. */
void ditc_comm_all_to_all(ditc_comm *c, const void *send, void *recv, size_t chunk);
void ditc_comm_all_gather(ditc_comm *c, const void *send, void *recv, size_t bytes);

/* Every rank contributes `value`; fails on every rank (status + message) unless all agree. */
ditc_status comm_check_agree(ditc_comm *c, uint64_t value, const char *what, ditc_err *err);

#endif
