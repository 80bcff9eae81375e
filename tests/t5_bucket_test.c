/* tests/t5_bucket_test.c: the relative-position buckets (cpu/t5_bucket.h, which the CPU op and the
 * CUDA kernel share) against the fixture's upstream buckets: offsets -(L-1)..L-1 of its L = 300 and
 * -1024..1024 (32 buckets, max distance 128; saturation at 91, exact integers at 16, 32, 64).
 * Usage: t5_bucket_test FORWARD.safetensors. Prints ok / not ok lines. */
#include <stdio.h>

#include "cpu/t5_bucket.h"
#include "safetensors.h"

static int check(const st_file *f, const char *name, int first) {
  const st_tensor *t = st_find(f, name);
  if (!t) {
    printf("not ok - %s: no tensor\n", name);
    return 1;
  }
  for (int64_t k = 0; k < t->numel; k++) {
    const int r = first + (int)k, want = (int)st_get(t, k), got = t5_bucket(r, 32, 128);
    if (got != want) {
      printf("not ok - %s: offset %d: bucket %d, upstream %d\n", name, r, got, want);
      return 1;
    }
  }
  printf("ok - t5_bucket equals upstream's %s at all %lld offsets %d..%d\n", name, (long long)t->numel, first,
         first + (int)t->numel - 1);
  return 0;
}

int main(int argc, char **argv) {
  st_file f;
  ditc_err err;
  if (argc != 2 || st_open(&f, argv[1], &err)) {
    printf("not ok - usage: t5_bucket_test FORWARD.safetensors%s%s\n", argc == 2 ? ": " : "", argc == 2 ? err.msg : "");
    return 1;
  }
  const int bad = check(&f, "relative_position_bucket", -299) + check(&f, "relative_position_bucket.offsets_pm1024", -1024);
  st_close(&f);
  return bad ? 1 : 0;
}
