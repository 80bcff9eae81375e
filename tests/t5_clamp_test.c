/* tests/t5_clamp_test.c: cpu_clamp_fp16 (runtime/cpu/encoder.c), T5Block's clamp of a residual stream
 * held in fp16 (spec A.8): with no infinity nothing changes (every finite fp16 value is within
 * 65504, NaN stays); with +inf or -inf anywhere in the tensor the bound is 65504 - 1000, so both
 * infinities and every value beyond 64504 become +-64504 while NaN and the values within stay bit
 * for bit; the flag says whether an infinity was found; n = 0 touches nothing. Built with ASan and
 * UBSan (build.ninja). Prints one "ok - ..." / "not ok - ..." line per check; exits 1 on any
 * failure. Not a test of the other fp16-precision ops: on the CPU they are cpu_linear, cpu_rms_norm
 * and cpu_add (gen/core/registry.lua), which the T5 tests run. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "cpu/ops.h"

static int failed = 0;

static void check(int ok, const char *what) {
  printf("%s - %s\n", ok ? "ok" : "not ok", what);
  failed += !ok;
}

/* x[i] == want[i] bit for bit, or both NaN. */
static int same(const float *x, const float *want, int n) {
  for (int i = 0; i < n; i++)
    if (!(isnan(x[i]) && isnan(want[i])) && memcmp(&x[i], &want[i], sizeof(float)) != 0) return 0;
  return 1;
}

int main(void) {
  enum { N = 9 };
  const float base[N] = {0.0f, -0.0f, 1.5f, -3.25f, 64504.0f, 64512.0f, -65504.0f, 65504.0f, NAN};
  float x[N];
  int32_t flag = 7;

  memcpy(x, base, sizeof x);
  cpu_clamp_fp16(x, &flag, N);
  check(same(x, base, N) && flag == 0, "no infinity: the bound is 65504, no finite fp16 value and no NaN changes, flag 0");

  for (int sign = 0; sign < 2; sign++) {
    memcpy(x, base, sizeof x);
    x[1] = sign ? -INFINITY : INFINITY;
    const float want[N] = {0.0f, sign ? -64504.0f : 64504.0f, 1.5f, -3.25f, 64504.0f, 64504.0f, -64504.0f, 64504.0f, NAN};
    flag = 0;
    cpu_clamp_fp16(x, &flag, N);
    check(same(x, want, N) && flag == 1, sign ? "-inf in the tensor: the bound is 64504 on both sides, NaN stays, flag 1"
                                              : "+inf in the tensor: the bound is 64504 on both sides, NaN stays, flag 1");
  }

  memcpy(x, base, sizeof x);
  x[N - 1] = INFINITY; /* the last element: the search covers the whole tensor */
  cpu_clamp_fp16(x, &flag, N);
  check(x[N - 1] == 64504.0f && x[5] == 64504.0f && x[6] == -64504.0f && flag == 1,
        "an infinity in the last element clamps the elements before it");

  x[0] = INFINITY;
  flag = 5;
  cpu_clamp_fp16(x, &flag, 0);
  check(isinf(x[0]) && flag == 0, "n = 0: nothing read or changed, flag 0");
  return failed ? 1 : 0;
}
