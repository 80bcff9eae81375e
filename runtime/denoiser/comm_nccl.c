/* comm_nccl.c: one rank of an NCCL job, one process per GPU. Bootstrap from the environment
 * common launchers set: RANK, WORLD_SIZE, LOCAL_RANK (the GPU; default RANK), and a rendezvous
 * for NCCL's unique id, either a shared file (DITC_NCCL_ID_FILE, written by rank 0) or TCP
 * (MASTER_ADDR:MASTER_PORT, served by rank 0), so mpirun, torchrun-style launchers and
 * tools/ditc-launch work the same on one node or several. Collectives take host buffers (the
 * CPU backend's arena) through device staging buffers grown once; each waits at most timeout_s.
 * A collective that fails or times out aborts its NCCL communicator, claims the fault (comm.h)
 * and returns; later collectives return at once. Nothing here prints or exits: ranks.c does.
 * Not here: device-resident collectives of the CUDA backend (a later step). */
#include <arpa/inet.h>
#include <cuda_runtime_api.h>
#include <errno.h>
#include <nccl.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "comm.h"

typedef struct {
  ncclComm_t comm;
  cudaStream_t stream;
  void *dsend, *drecv;
  size_t cap;
  double timeout_s;
  int aborted;    /* ncclCommAbort ran: never destroy */
  ditc_fault own; /* the fault until ranks.c shares one */
} nccl_state;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Aborts the communicator (peers blocked in it fail instead of hanging) and claims the fault. */
static void broke(ditc_comm *c, const char *what, const char *detail) {
  nccl_state *s = c->impl;
  if (!s->aborted) ncclCommAbort(s->comm);
  s->aborted = 1;
  comm_fault(c->fault, c->global, "rank %d: %s: %s", c->global, what, detail);
}

/* In the collectives (void functions): on failure, break the communicator and return. */
#define CUDA_OK(c, call)                                                   \
  do {                                                                     \
    cudaError_t e_ = (call);                                               \
    if (e_ != cudaSuccess) {                                               \
      broke((c), #call, cudaGetErrorString(e_));                           \
      return;                                                              \
    }                                                                      \
  } while (0)
#define NCCL_OK(c, call)                                                   \
  do {                                                                     \
    ncclResult_t r_ = (call);                                              \
    if (r_ != ncclSuccess) {                                               \
      broke((c), #call, ncclGetErrorString(r_));                           \
      return;                                                              \
    }                                                                      \
  } while (0)

/* Waits for the stream; breaks the communicator after timeout_s (a peer died or stalled).
 * Returns 0 when the collective completed. */
static int wait_done(ditc_comm *c, const char *what) {
  nccl_state *s = c->impl;
  const double until = now() + s->timeout_s;
  for (;;) {
    cudaError_t e = cudaStreamQuery(s->stream);
    if (e == cudaSuccess) return 0;
    if (e != cudaErrorNotReady) return broke(c, what, cudaGetErrorString(e)), 1;
    ncclResult_t async;
    ncclCommGetAsyncError(s->comm, &async);
    if (async != ncclSuccess) return broke(c, what, ncclGetErrorString(async)), 1;
    if (now() > until) {
      char detail[160];
      snprintf(detail, sizeof detail, "no answer from the other ranks within %.0f s (a rank died or stalled)",
               s->timeout_s);
      return broke(c, what, detail), 1;
    }
    usleep(200);
  }
}

static void reserve(ditc_comm *c, size_t bytes) { /* grows only if a call exceeds the reservation */
  nccl_state *s = c->impl;
  if (bytes <= s->cap) return;
  if (s->dsend) cudaFree(s->dsend);
  if (s->drecv) cudaFree(s->drecv);
  s->dsend = s->drecv = NULL;
  s->cap = 0;
  CUDA_OK(c, cudaMalloc(&s->dsend, bytes));
  CUDA_OK(c, cudaMalloc(&s->drecv, bytes));
  s->cap = bytes;
}

static void nccl_all_to_all(ditc_comm *c, const void *send, void *recv, size_t chunk) {
  nccl_state *s = c->impl;
  const size_t total = chunk * (size_t)c->size;
  c->a2a_calls++;
  if (comm_faulted(c->fault)) return;
  reserve(c, total);
  if (s->cap < total) return;
  CUDA_OK(c, cudaMemcpyAsync(s->dsend, send, total, cudaMemcpyHostToDevice, s->stream));
  NCCL_OK(c, ncclGroupStart());
  for (int p = 0; p < c->size; p++) {
    NCCL_OK(c, ncclSend((char *)s->dsend + (size_t)p * chunk, chunk, ncclChar, p, s->comm, s->stream));
    NCCL_OK(c, ncclRecv((char *)s->drecv + (size_t)p * chunk, chunk, ncclChar, p, s->comm, s->stream));
  }
  NCCL_OK(c, ncclGroupEnd());
  CUDA_OK(c, cudaMemcpyAsync(recv, s->drecv, total, cudaMemcpyDeviceToHost, s->stream));
  if (wait_done(c, "all_to_all")) return;
  c->a2a_bytes += (uint64_t)(c->size - 1) * chunk;
}

static void nccl_all_gather(ditc_comm *c, const void *send, void *recv, size_t bytes) {
  nccl_state *s = c->impl;
  c->gather_calls++;
  if (comm_faulted(c->fault)) return;
  reserve(c, bytes * (size_t)c->size);
  if (s->cap < bytes * (size_t)c->size) return;
  CUDA_OK(c, cudaMemcpyAsync(s->dsend, send, bytes, cudaMemcpyHostToDevice, s->stream));
  NCCL_OK(c, ncclAllGather(s->dsend, s->drecv, bytes, ncclChar, s->comm, s->stream));
  CUDA_OK(c, cudaMemcpyAsync(recv, s->drecv, bytes * (size_t)c->size, cudaMemcpyDeviceToHost, s->stream));
  if (wait_done(c, "all_gather")) return;
  c->gather_bytes += (uint64_t)(c->size - 1) * bytes;
}

static void nccl_barrier(ditc_comm *c) {
  char one = 0, all[1024];
  const uint64_t calls = c->gather_calls, bytes = c->gather_bytes;
  nccl_all_gather(c, &one, all, 1);
  c->gather_calls = calls;
  c->gather_bytes = bytes;
}

static void nccl_destroy(ditc_comm *c) {
  nccl_state *s = c->impl;
  if (!s->aborted) ncclCommDestroy(s->comm);
  if (s->dsend) cudaFree(s->dsend);
  if (s->drecv) cudaFree(s->drecv);
  cudaStreamDestroy(s->stream);
  free(s);
  free(c);
}

/* ---- bootstrap --------------------------------------------------------------------------- */

static int env_int(const char *name, int fallback, ditc_err *err, int *ok) {
  const char *e = getenv(name);
  if (!e) return fallback;
  char *end;
  long v = strtol(e, &end, 10);
  if (end == e || *end || v < 0 || v > 1 << 20) {
    ditc_fail(err, DITC_EINVAL, "--comm nccl: %s='%s' is not a non-negative integer", name, e);
    *ok = 0;
  }
  return (int)v;
}

/* Rank 0 writes the id to path (atomically); the others wait for it. */
static ditc_status id_by_file(const char *path, int rank, ncclUniqueId *id, double timeout_s, ditc_err *err) {
  if (rank == 0) {
    char tmp[4200];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "wb");
    if (!f || fwrite(id, sizeof *id, 1, f) != 1 || fclose(f) != 0 || rename(tmp, path) != 0)
      return ditc_fail(err, DITC_EIO, "--comm nccl: cannot write DITC_NCCL_ID_FILE %s: %s", path, strerror(errno));
    return DITC_OK;
  }
  const double until = now() + timeout_s;
  for (;;) {
    FILE *f = fopen(path, "rb");
    if (f) {
      const int got = fread(id, sizeof *id, 1, f) == 1;
      fclose(f);
      if (got) return DITC_OK;
    }
    if (now() > until)
      return ditc_fail(err, DITC_EIO, "--comm nccl: rank 0 did not write DITC_NCCL_ID_FILE %s within %.0f s", path,
                       timeout_s);
    usleep(100000);
  }
}

/* Rank 0 serves the id on MASTER_PORT to world-1 connections; the others connect and read it. */
static ditc_status id_by_tcp(const char *host, const char *port, int rank, int world, ncclUniqueId *id,
                             double timeout_s, ditc_err *err) {
  struct addrinfo hints = {0}, *ai = NULL;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = rank == 0 ? AI_PASSIVE : 0;
  int rc = getaddrinfo(rank == 0 ? NULL : host, port, &hints, &ai);
  if (rc) return ditc_fail(err, DITC_EIO, "--comm nccl: MASTER_ADDR %s:%s: %s", host, port, gai_strerror(rc));
  ditc_status st = DITC_OK;
  const double until = now() + timeout_s;
  if (rank == 0) {
    int srv = socket(ai->ai_family, ai->ai_socktype, 0), one = 1;
    setsockopt(srv, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (srv < 0 || bind(srv, ai->ai_addr, ai->ai_addrlen) || listen(srv, world))
      st = ditc_fail(err, DITC_EIO, "--comm nccl: cannot listen on port %s: %s", port, strerror(errno));
    for (int n = 1; n < world && !st; n++) {
      int fd = accept(srv, NULL, NULL);
      if (fd < 0 || write(fd, id, sizeof *id) != (ssize_t)sizeof *id)
        st = ditc_fail(err, DITC_EIO, "--comm nccl: sending the NCCL id failed: %s", strerror(errno));
      if (fd >= 0) close(fd);
    }
    if (srv >= 0) close(srv);
  } else {
    for (;;) {
      int fd = socket(ai->ai_family, ai->ai_socktype, 0);
      if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0) {
        const ssize_t got = read(fd, id, sizeof *id);
        close(fd);
        if (got == (ssize_t)sizeof *id) break;
      } else if (fd >= 0) close(fd);
      if (now() > until) {
        st = ditc_fail(err, DITC_EIO, "--comm nccl: no rank 0 at %s:%s within %.0f s", host, port, timeout_s);
        break;
      }
      usleep(100000);
    }
  }
  freeaddrinfo(ai);
  return st;
}

ditc_comm *comm_nccl_create(double timeout_s, ditc_err *err) {
  int ok = 1;
  const int rank = env_int("RANK", -1, err, &ok), world = env_int("WORLD_SIZE", -1, err, &ok);
  const int local = env_int("LOCAL_RANK", rank, err, &ok);
  if (!ok) return NULL;
  if (rank < 0 || world < 1 || rank >= world) {
    ditc_fail(err, DITC_EINVAL, "--comm nccl needs RANK and WORLD_SIZE in the environment (0 <= RANK < WORLD_SIZE), "
              "as set by mpirun wrappers, torchrun-style launchers or tools/ditc-launch");
    return NULL;
  }
  if (cudaSetDevice(local) != cudaSuccess) {
    ditc_fail(err, DITC_EINVAL, "--comm nccl: rank %d: no CUDA device %d (LOCAL_RANK)", rank, local);
    return NULL;
  }
  ncclUniqueId id;
  if (rank == 0 && ncclGetUniqueId(&id) != ncclSuccess) {
    ditc_fail(err, DITC_EIO, "--comm nccl: ncclGetUniqueId failed");
    return NULL;
  }
  const char *file = getenv("DITC_NCCL_ID_FILE"), *host = getenv("MASTER_ADDR"), *port = getenv("MASTER_PORT");
  ditc_status st;
  if (file) st = id_by_file(file, rank, &id, timeout_s, err);
  else if (host && port) st = id_by_tcp(host, port, rank, world, &id, timeout_s, err);
  else st = ditc_fail(err, DITC_EINVAL, "--comm nccl needs DITC_NCCL_ID_FILE or MASTER_ADDR and MASTER_PORT");
  if (st) return NULL;
  ditc_comm *c = calloc(1, sizeof *c);
  nccl_state *s = calloc(1, sizeof *s);
  DITC_CHECK(c && s);
  c->rank = rank;
  c->global = rank;
  c->size = world;
  c->impl = s;
  s->own = (ditc_fault)DITC_FAULT_INIT;
  c->fault = &s->own;
  s->timeout_s = timeout_s;
  c->all_to_all = nccl_all_to_all;
  c->all_gather = nccl_all_gather;
  c->barrier = nccl_barrier;
  c->reserve = reserve;
  c->destroy = nccl_destroy;
  if (cudaStreamCreate(&s->stream) != cudaSuccess) {
    ditc_fail(err, DITC_EIO, "--comm nccl: rank %d: cudaStreamCreate failed", rank);
    free(s);
    free(c);
    return NULL;
  }
  if (ncclCommInitRank(&s->comm, world, id, rank) != ncclSuccess) {
    ditc_fail(err, DITC_EIO, "--comm nccl: rank %d: ncclCommInitRank failed (WORLD_SIZE %d)", rank, world);
    cudaStreamDestroy(s->stream);
    free(s);
    free(c);
    return NULL;
  }
  return c;
}

ditc_comm *comm_nccl_split(ditc_comm *world, int color, int key, ditc_err *err) {
  nccl_state *ws = world->impl;
  ditc_comm *c = calloc(1, sizeof *c);
  nccl_state *s = calloc(1, sizeof *s);
  DITC_CHECK(c && s);
  *c = *world; /* global and the fault stay the world's */
  c->impl = s;
  c->a2a_calls = c->a2a_bytes = c->gather_calls = c->gather_bytes = 0;
  s->timeout_s = ws->timeout_s;
  if (cudaStreamCreate(&s->stream) != cudaSuccess) {
    ditc_fail(err, DITC_EIO, "--comm nccl: rank %d: cudaStreamCreate failed", world->rank);
    free(s);
    free(c);
    return NULL;
  }
  if (ncclCommSplit(ws->comm, color, key, &s->comm, NULL) != ncclSuccess) {
    ditc_fail(err, DITC_EIO, "--comm nccl: rank %d: ncclCommSplit failed", world->rank);
    cudaStreamDestroy(s->stream);
    free(s);
    free(c);
    return NULL;
  }
  int rank, size;
  ncclCommUserRank(s->comm, &rank);
  ncclCommCount(s->comm, &size);
  c->rank = rank;
  c->size = size;
  return c;
}
