/* cpu/isa.h: which instruction set a CPU op runs. Two ways:
 * - the hand-written AVX-512 kernels (cpu_gemm's, the 3-D convolution's) run where this CPU has
 *   AVX-512F, unless the environment sets DITC_CPU_PORTABLE=1: then their portable forms run, with
 *   the same bits (the tests check both ways on any machine); decided once per file that asks;
 * - the ops written once in C are compiled as clones (CPU_CLONES), which the loader picks from the
 *   CPU alone: their forms cannot differ in bits, and the tests run each one's code in a build of
 *   it alone (build.ninja: linear_test_v3, _base).
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

/* The clones: AVX-512F, x86-64-v3 (AVX2 and FMA, where fmaf is one instruction, not a libm call)
 * and the baseline, chosen by the loader (an ifunc). For loops whose bits do not depend on the
 * vector width only: elementwise float arithmetic, fused multiply-adds written as fmaf, and lane
 * sums (cpu/rowsum.h; C's default: no contraction of a * b + c into an FMA). DITC_NO_CLONES: one
 * form, for the -march the file is built for (the tests' x86-64-v3 and baseline builds). */
#ifdef DITC_NO_CLONES
#define CPU_CLONES
#else
#define CPU_CLONES __attribute__((target_clones("avx512f", "arch=x86-64-v3", "default")))
#endif

#endif
