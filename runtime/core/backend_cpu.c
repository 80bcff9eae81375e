/* backend_cpu.c: the CPU backend of backend.h: the generated code works on the host arena and
 * weights directly, so there is nothing to attach or copy, and a step is a call. Attaching checks
 * that threads get stacks the CPU kernels fit in. */
#include <stdlib.h>
#include <sys/resource.h>

#include "backend.h"

/* The CPU kernels' scratch lives on the stack of the thread that runs them: cpu/gemm.c's packed
 * blocks (528 KiB) and the attention's scores (cpu/ops.c: at most 48 queries of every key, 675
 * KiB at 3600 keys). A thread's default stack is the stack limit, and OpenMP's threads' is
 * OMP_STACKSIZE where set, so both must hold them. */
enum { STACK_NEED = 2 << 20 };

/* OMP_STACKSIZE in bytes (OpenMP's syntax: a size with an optional B, K, M or G, K by default),
 * or -1 where it is unset or not a size (OpenMP then ignores it). */
static long long omp_stacksize(void) {
  const char *s = getenv("OMP_STACKSIZE");
  if (!s) return -1;
  char *end;
  const long long n = strtoll(s, &end, 10);
  while (*end == ' ') end++;
  long long unit = 1024;
  switch (*end) {
  case 'b': case 'B': unit = 1; end++; break;
  case 'k': case 'K': end++; break;
  case 'm': case 'M': unit = 1 << 20; end++; break;
  case 'g': case 'G': unit = 1 << 30; end++; break;
  default: break;
  }
  while (*end == ' ') end++;
  return end == s || *end || n < 0 ? -1 : n * unit;
}

static ditc_status cpu_attach(ditc_model *m, ditc_err *err) {
  (void)m;
  struct rlimit rl;
  if (getrlimit(RLIMIT_STACK, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < STACK_NEED)
    return ditc_fail(err, DITC_EINVAL,
                     "the stack size limit is %llu KiB, below the %d KiB the CPU kernels need on each thread "
                     "(raise it: ulimit -s 8192)",
                     (unsigned long long)rl.rlim_cur / 1024, STACK_NEED / 1024);
  const long long omp = omp_stacksize();
  if (omp >= 0 && omp < STACK_NEED)
    return ditc_fail(err, DITC_EINVAL,
                     "OMP_STACKSIZE gives OpenMP's threads %lld KiB of stack, below the %d KiB the CPU kernels need "
                     "(unset it, or set it to 8M)",
                     omp / 1024, STACK_NEED / 1024);
  return DITC_OK;
}
static void cpu_copy(ditc_model *m, int64_t off, size_t bytes) { (void)m, (void)off, (void)bytes; }
static void cpu_step(ditc_model *m, int pattern, const unsigned char *row) {
  (void)pattern;
  m->step(&m->ex, row);
}
static int64_t cpu_device_bytes(ditc_model *m) {
  (void)m;
  return 0;
}
static void cpu_detach(ditc_model *m) { (void)m; }

static const ditc_backend_ops cpu_ops = {"cpu", cpu_attach, cpu_copy, cpu_copy, cpu_step, cpu_device_bytes,
                                         NULL,  NULL,       NULL,     cpu_detach};

const ditc_backend_ops *ditc_backend(void) { return &cpu_ops; }
