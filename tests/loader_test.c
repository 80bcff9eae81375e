/* loader_test.c: tests of the input loaders of runtime/core/model.c (weights, cond, noise, forward)
 * on the seed files of tests/fuzz/corpus/loader/ (byte 0 of each picks the loader there; the
 * rest is the file), against the tiny variant of tests/fuzz/tiny_variant.h. Built with ASan and
 * UBSan (build.ninja, fuzzing section), so a misaligned load fails it. Linked with
 * -Wl,--wrap=st_open: the wrapper can truncate the file right after st_open mapped it, which is
 * how a file that shrinks during the load is made without a hook in the runtime.
 * Prints "ok - ..." / "not ok - ...: details" per check; exits 1 on any failure.
 * Usage: loader_test [CORPUS_DIR]. Not a test of the safetensors format (st_test.c). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz/tiny_variant.h"
#include "inputs.h"
#include "model.h"
#include "safetensors.h"

static int n_failed;
static int shrink_after_open; /* __wrap_st_open truncates the file to 0 bytes when set */
static const char *corpus = "tests/fuzz/corpus/loader";
static char tmp_path[64];

ditc_status __real_st_open(st_file *f, const char *path, ditc_err *err);
ditc_status __wrap_st_open(st_file *f, const char *path, ditc_err *err) {
  ditc_status s = __real_st_open(f, path, err);
  if (!s && shrink_after_open) DITC_CHECK(truncate(path, 0) == 0);
  return s;
}

__attribute__((format(printf, 3, 4)))
static void check(int ok, const char *desc, const char *fmt, ...) {
  if (ok) {
    printf("ok - %s\n", desc);
    return;
  }
  n_failed++;
  printf("not ok - %s: ", desc);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
}

/* Copies corpus file `name` without its loader byte to tmp_path and runs its loader. */
static ditc_status load_seed(ditc_model *m, const char *name, const char *prefix, ditc_err *err) {
  char path[512];
  snprintf(path, sizeof path, "%s/%s", corpus, name);
  FILE *in = fopen(path, "rb"), *out = fopen(tmp_path, "wb");
  DITC_CHECK(in && out);
  int sel = fgetc(in);
  DITC_CHECK(sel != EOF);
  char buf[4096];
  for (size_t n; (n = fread(buf, 1, sizeof buf, in)) > 0;) DITC_CHECK(fwrite(buf, 1, n, out) == n);
  fclose(in);
  DITC_CHECK(fclose(out) == 0);
  memset(err->msg, 0, sizeof err->msg);
  switch (sel % 4) {
    case 0: return model_load_weights(m, tmp_path, err);
    case 1: return model_load_cond(m, tmp_path, err);
    case 2: return model_load_noise(m, tmp_path, err);
    default: return model_load_forward(m, tmp_path, prefix ? prefix : "", err);
  }
}

static const float *arena_f32(const ditc_model *m, int64_t off) { return (const float *)(const void *)(m->arena + off); }

/* The seed must fail with a message holding every one of the NULL-terminated substrings. */
static void expect_fail(ditc_model *m, const char *desc, const char *seed, const char *prefix, ...) {
  ditc_err err;
  ditc_status s = load_seed(m, seed, prefix, &err);
  int ok = s != DITC_OK && strncmp(err.msg, tmp_path, strlen(tmp_path)) == 0;
  va_list ap;
  va_start(ap, prefix);
  for (const char *sub; (sub = va_arg(ap, const char *));) ok = ok && strstr(err.msg, sub);
  va_end(ap);
  for (const unsigned char *c = (const unsigned char *)err.msg; *c; c++)
    ok = ok && *c >= 0x20 && *c != 0x7F && !(*c == 0xC2 && c[1] >= 0x80 && c[1] <= 0x9F);
  check(ok, desc, "status %d, message '%s'", s, err.msg);
}

static void test_unaligned(ditc_model *m) {
  static const float w[6] = {0.1f, 0.2f, 0.3f, -0.4f, 0.5f, 0.6f}, b[3] = {0.5f, -1.0f, 2.0f};
  ditc_err err;
  ditc_status s = load_seed(m, "weights_unaligned", NULL, &err);
  check(!s && !memcmp(m->weights, w, sizeof w) && !memcmp(m->weights + 8, b, sizeof b),
        "weights: F32 data at an odd file offset load exactly (no misaligned float load under UBSan)",
        "status %d: %s", s, err.msg);
  s = load_seed(m, "cond_unaligned", NULL, &err);
  check(!s && arena_f32(m, 192)[5] == 0.5f, "cond: F32 data at an odd file offset", "status %d: %s", s, err.msg);
  s = load_seed(m, "forward_unaligned", NULL, &err);
  check(!s && arena_f32(m, 0)[15] == 0.15f && arena_f32(m, 64)[1] == 999.0f,
        "forward: F32 data at an odd file offset", "status %d: %s", s, err.msg);
}

static void test_f64_overflow(ditc_model *m) {
  expect_fail(m, "cond: F64 1e39 in y is rejected after narrowing, naming 'y' and element 3", "cond_f64_overflow",
              NULL, "tensor 'y'", "1e+39 at element 3", "beyond the float range", NULL);
  expect_fail(m, "noise: F64 -1e39 in z0 is rejected after narrowing, naming 'z0' and element 5",
              "noise_f64_overflow", NULL, "tensor 'z0'", "element 5", "beyond the float range", NULL);
  expect_fail(m, "forward: F64 timestep 1e39 is rejected, naming 'timestep' and element 0",
              "forward_timestep_overflow", NULL, "tensor 'timestep'", "element 0", NULL);
  expect_fail(m, "weights: F64 1e39 in blk.bias is rejected, naming 'blk.bias' and element 1",
              "weights_f64_overflow", NULL, "tensor 'blk.bias'", "element 1", NULL);
  expect_fail(m, "cond: NaN in y is still 'non-finite'", "cond_nan", NULL, "tensor 'y'", "non-finite", "element 1",
              NULL);
}

static void test_shrinking(ditc_model *m) {
  static const char *const seeds[4] = {"weights_f32", "cond", "noise", "forward"};
  char want[128], desc[160];
  snprintf(want, sizeof want, "%s: changed while being read", tmp_path);
  for (int i = 0; i < 4; i++) {
    ditc_err err;
    shrink_after_open = 1;
    ditc_status s = load_seed(m, seeds[i], NULL, &err);
    shrink_after_open = 0;
    snprintf(desc, sizeof desc, "%s: a file truncated while mapped gives 'FILE: changed while being read', no SIGBUS",
             seeds[i]);
    check(s == DITC_EIO && strcmp(err.msg, want) == 0, desc, "status %d, message '%s'", s, err.msg);
  }
}

static void test_names(ditc_model *m) {
  expect_fail(m, "weights: an extra tensor named with ESC, BEL, DEL and a C1 control is printed escaped",
              "weights_extra_control_name", NULL, "tensor 'n\\x1b[2J\\x07\\x7f\\xc2\\x9b' is not part of", NULL);
  expect_fail(m, "forward: a --call prefix with an ESC is printed escaped", "forward", "p\x1b[0m.",
              "missing tensor 'p\\x1b[0m.x'", NULL);
}

int main(int argc, char **argv) {
  if (argc > 1) corpus = argv[1];
  strcpy(tmp_path, "/tmp/loader_test.XXXXXX");
  int fd = mkstemp(tmp_path);
  DITC_CHECK(fd >= 0);
  close(fd);
  ditc_model m;
  ditc_err err;
  DITC_CHECK(model_init(&m, &tiny_variant, &err) == DITC_OK);
  test_unaligned(&m);
  test_f64_overflow(&m);
  test_shrinking(&m);
  test_names(&m);
  model_free(&m);
  unlink(tmp_path);
  return n_failed ? 1 : 0;
}
