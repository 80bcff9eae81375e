/* comm.h: the communication interface of sequence parallelism: all_to_all (equal chunks per
 * peer), all_gather and barrier over the ranks of one generation, with counters the tests
 * read. Implementations: none (one rank), threads (ranks are threads of one process, for CPU
 * tests of the parallel algorithm: comm_threads.c) and NCCL (one process per GPU:
 * comm_nccl.c). A collective whose peer dies or stalls for `timeout_s` seconds, or that fails,
 * records the error in the communicator's fault (shared by the communicators of one generation)
 * and returns; from then on every collective sharing that fault returns at once without
 * exchanging data, so no rank hangs, exits or prints from inside a collective. Also the
 * start-up agreement of a generation (comm_agree). Not here: what is exchanged (the generated
 * code decides) or printing (ranks.c). */
#ifndef DITC_COMM_H
#define DITC_COMM_H

#include <stddef.h>
#include <stdint.h>

#include "ditc_status.h"

/* The failure state the communicators of one generation share (all thread ranks of a process,
 * or the communicators of one NCCL process): claimed once, by the first collective that fails. */
typedef struct {
  int failed;   /* 0, or 1 once claimed (read with comm_faulted) */
  int rank;     /* the global rank whose collective claimed it; -1 before */
  ditc_err err; /* its message, "rank G: what: why"; read after the ranks are joined */
} ditc_fault;

#define DITC_FAULT_INIT {0, -1, {{0}}}

/* Claims f (first caller only) with a formatted message; returns 1 if this call claimed it. */
int comm_fault(ditc_fault *f, int rank, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* 1 once f is claimed (any thread). */
int comm_faulted(const ditc_fault *f);

typedef struct ditc_comm ditc_comm;
struct ditc_comm {
  int rank, size;
  int global;         /* this rank in the whole world (messages name it); creators set rank */
  ditc_fault *fault;  /* never NULL: the creator's own, or the generation's shared one */
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

/* The start-up agreement of a generation, once over the whole world (NULL: a single rank).
 * Every rank calls it, also one whose set-up failed: each contributes `failed` and the hash
 * `value` of `what`. Returns -1 when no rank failed and every hash equals rank 0's; else the
 * world rank whose error the run reports, the same on every rank: the lowest one that failed
 * (its own err holds the reason), else the lowest whose hash differs (err is set on every rank).
 * -2: the gather itself failed (a rank never came within the timeout): see world->fault. */
int comm_agree(ditc_comm *world, int failed, uint64_t value, const char *what, ditc_err *err);

#endif
