/* cpu/isa.h: whether the CPU ops run the AVX-512 forms of their hand-written kernels (cpu_gemm,
 * the softmax, the 3-D convolution): where this CPU has AVX-512F, unless the environment sets
 * DITC_CPU_PORTABLE=1 (then the portable forms run, with the same bits: the tests check both ways
 * on any machine). Decided once per file that asks. The compiler's clones (CPU_CLONES,
 * cpu/rowsum.h) are picked by the loader from the CPU alone: their forms cannot differ in bits, and
 * the tests run each one's code in a build of it alone (build.ninja: linear_test_v3, _base).
 * Not here: the forms. */
#ifndef DITC_CPU_ISA_H
#define DITC_CPU_ISA_H

#include <stdlib.h>
#include <string.h>

static inline int cpu_avx512(void) {
  static int have = -1; /* a benign race: every thread computes the same answer */
  if (have < 0) {
    const char *e = getenv("DITC_CPU_PORTABLE");
    have = __builtin_cpu_supports("avx512f") && !(e && strcmp(e, "1") == 0) ? 1 : 0;
  }
  return have;
}

#endif
