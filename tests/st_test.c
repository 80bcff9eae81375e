/* st_test.c: tests of runtime/core/safetensors.c (and the JSON parser under it). CPU only.
 * Builds files in a mkdtemp directory under /tmp (removed at the end), prints one line per check
 * ("ok - ..." / "not ok - ...: details"), ends with "N passed, N failed", exits 1 on any failure.
 * Usage: st_test [golden weights.safetensors]. Not a fuzzer (tests/fuzz/); not a test of the
 * model loader (tests/loader_test.c). */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "safetensors.h"

static int n_passed, n_failed;
static char tmp_dir[64];

/* ---- helpers -------------------------------------------------------------------------------- */

/* Prints "ok - desc" or "not ok - desc: details"; returns ok. */
__attribute__((format(printf, 3, 4)))
static int check(int ok, const char *desc, const char *fmt, ...) {
  if (ok) {
    n_passed++;
    printf("ok - %s\n", desc);
    return 1;
  }
  n_failed++;
  printf("not ok - %s: ", desc);
  va_list ap;
  va_start(ap, fmt);
  vprintf(fmt, ap);
  va_end(ap);
  printf("\n");
  return 0;
}

/* tmp_dir/name into buf[256]. */
static const char *in_tmp(char *buf, const char *name) {
  snprintf(buf, 256, "%s/%s", tmp_dir, name);
  return buf;
}

static int exists(const char *path) {
  struct stat sb;
  return stat(path, &sb) == 0;
}

static void write_bytes(const char *path, const void *data, size_t n) {
  FILE *fp = fopen(path, "wb");
  DITC_CHECK(fp);
  DITC_CHECK(fwrite(data, 1, n, fp) == n);
  DITC_CHECK(fclose(fp) == 0);
}

/* Whole file into a malloc'd buffer (*n bytes); NULL if it cannot be read. */
static unsigned char *read_bytes(const char *path, size_t *n) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  fseek(fp, 0, SEEK_END);
  long size = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  unsigned char *buf = malloc((size_t)size + 1);
  DITC_CHECK(buf && fread(buf, 1, (size_t)size, fp) == (size_t)size);
  fclose(fp);
  *n = (size_t)size;
  return buf;
}

/* A safetensors file: declared header length, header text, then data (data_len bytes of data,
 * or a 0..255 byte ramp when data is NULL). */
static void write_st_len(const char *path, uint64_t declared, const char *header, size_t hlen,
                         const void *data, size_t data_len) {
  size_t n = 8 + hlen + data_len;
  unsigned char *buf = malloc(n);
  DITC_CHECK(buf);
  for (int i = 0; i < 8; i++) buf[i] = (unsigned char)(declared >> (8 * i));
  memcpy(buf + 8, header, hlen);
  for (size_t i = 0; i < data_len; i++)
    buf[8 + hlen + i] = data ? ((const unsigned char *)data)[i] : (unsigned char)i;
  write_bytes(path, buf, n);
  free(buf);
}

static void write_st(const char *path, const char *header, size_t data_len) {
  write_st_len(path, strlen(header), header, strlen(header), NULL, data_len);
}

/* st_open(path) must fail, leave f empty, and say "<path>: ...keyword...". */
static void expect_open_fail(const char *desc, const char *path, const char *keyword) {
  st_file f;
  ditc_err err = {{0}};
  ditc_status st = st_open(&f, path, &err);
  int starts = strncmp(err.msg, path, strlen(path)) == 0 && err.msg[strlen(path)] == ':';
  char line[8192];
  snprintf(line, sizeof line, "rejects %s [%s]", desc, err.msg);
  check(st != DITC_OK && starts && strstr(err.msg, keyword) && f.count == 0 && !f.map &&
            !f.tensors && !f.path,
        line, "status %d, expected a message starting with the path and containing '%s'", st,
        keyword);
  st_close(&f);
}

/* A header with one F32 tensor "a" whose fields are given as JSON text. */
static void expect_entry_fail(const char *desc, const char *entry, size_t data_len,
                              const char *keyword) {
  char path[256], header[512];
  snprintf(header, sizeof header, "{\"a\":%s}", entry);
  write_st(in_tmp(path, "entry.safetensors"), header, data_len);
  expect_open_fail(desc, path, keyword);
}

/* ---- reading: rejected files ---------------------------------------------------------------- */

static void test_file_errors(void) {
  char path[256];
  expect_open_fail("a missing file", in_tmp(path, "missing.safetensors"), "No such file");
  expect_open_fail("a directory", tmp_dir, "not a regular file");
  write_bytes(in_tmp(path, "short.safetensors"), "\x10\0\0\0\0", 5);
  expect_open_fail("a 5-byte file", path, "file is 5 bytes, shorter than the 8-byte header");
  write_bytes(in_tmp(path, "empty.safetensors"), "", 0);
  expect_open_fail("an empty file", path, "shorter than the 8-byte header");
  write_st_len(in_tmp(path, "pastend.safetensors"), 999999, "{}", 2, NULL, 0);
  expect_open_fail("a header length past the end", path,
                   "header length 999999 runs past the end of the file (10 bytes)");
  write_st_len(in_tmp(path, "huge.safetensors"), UINT64_MAX, "{}", 2, NULL, 0);
  expect_open_fail("a header length of 2^64-1", path, "runs past the end of the file");

  int fd = open(in_tmp(path, "sparse.safetensors"), O_CREAT | O_WRONLY | O_TRUNC, 0644);
  unsigned char len8[8] = {0x01, 0xe1, 0xf5, 0x05, 0, 0, 0, 0}; /* 100000001 */
  DITC_CHECK(fd >= 0 && write(fd, len8, 8) == 8 && ftruncate(fd, 100000016) == 0);
  close(fd);
  expect_open_fail("a header over 100 MB", path, "exceeds the 100 MB limit");
  unlink(path);
}

static void test_json_errors(void) {
  static const struct { const char *desc, *header, *keyword; } cases[] = {
      {"a trailing comma", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},}",
       "malformed JSON header at byte 54: expected a string key"},
      {"a trailing comma in an array", "{\"a\":{\"dtype\":\"F32\",\"shape\":[1,],",
       "expected a value"},
      {"an unterminated string", "{\"a", "malformed JSON header at byte 1: unterminated string"},
      {"garbage after the object", "{} x", "at byte 3: unexpected data after the JSON value"},
      {"a missing ':'", "{\"a\" {}}", "malformed JSON header at byte 5: expected ':'"},
      {"an empty header", "", "malformed JSON header at byte 0: expected a value"},
      {"a truncated object", "{\"a\":{", "expected a string key, found end of input"},
      {"an invalid escape", "{\"a\\q\":{}}", "invalid escape"},
      {"a control character in a string", "{\"a\x01\":{}}", "control character 0x01"},
      {"an unpaired surrogate", "{\"\\ud800x\":{}}", "unpaired surrogate"},
      {"a short \\u escape", "{\"\\u12\":{}}", "invalid \\u escape"},
      {"a number with a leading zero", "{\"a\":{\"shape\":[01]}}", "leading zero"},
      {"a number without digits after '.'", "{\"a\":[1.]}", "expected a digit after '.'"},
      {"a bad literal", "{\"__metadata__\":tru}", "expected a value"},
      {"single quotes", "{'a':1}", "expected a string key, found '''"},
      {"a duplicate key", "{\"a\":{},\"b\":{},\"a\":{}}", "at byte 15: duplicate key 'a'"},
      {"a header that is an array", "[1,2]", "JSON header is not an object"},
      {"a header that is a string", "\"x\"", "JSON header is not an object"},
  };
  char path[256];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_st(in_tmp(path, "json.safetensors"), cases[i].header, 16);
    expect_open_fail(cases[i].desc, path, cases[i].keyword);
  }
  /* 64 nested arrays parse (then fail as not an object); 65 do not. */
  char deep[200];
  for (int depth = 64; depth <= 65; depth++) {
    memset(deep, '[', (size_t)depth);
    memset(deep + depth, ']', (size_t)depth);
    deep[2 * depth] = 0;
    write_st(in_tmp(path, "deep.safetensors"), deep, 0);
    expect_open_fail(depth == 64 ? "64 nested arrays (parsed, not an object)" : "65 nested arrays",
                     path, depth == 64 ? "JSON header is not an object" : "nesting deeper than 64");
  }
}

static void test_entry_errors(void) {
  const char *ok_offsets = "\"data_offsets\":[0,24]";
  char e[256];
  expect_entry_fail("an unknown dtype", "{\"dtype\":\"F8\",\"shape\":[1],\"data_offsets\":[0,1]}",
                    1, "tensor 'a': unknown dtype 'F8'");
  expect_entry_fail("a dtype that is not a string",
                    "{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}", 4,
                    "dtype is not a string");
  snprintf(e, sizeof e, "{\"dtype\":\"F32\",\"shape\":\"2x3\",%s}", ok_offsets);
  expect_entry_fail("a shape that is a string", e, 24, "tensor 'a': shape is not an array");
  snprintf(e, sizeof e, "{\"dtype\":\"F32\",\"shape\":[2,3.0],%s}", ok_offsets);
  expect_entry_fail("a fractional dim", e, 24, "shape[1] is not an integer");
  snprintf(e, sizeof e, "{\"dtype\":\"F32\",\"shape\":[-2,-3],%s}", ok_offsets);
  expect_entry_fail("a negative dim", e, 24, "shape[0] is negative (-2)");
  snprintf(e, sizeof e, "{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,6],%s}", ok_offsets);
  expect_entry_fail("9 dims (while parsing)", e, 24,
                    "at byte 45: array of more than 8 elements (a shape has at most 8 dims");
  snprintf(e, sizeof e, "{\"dtype\":\"F32\",\"shape\":[4294967296,4294967296],%s}", ok_offsets);
  expect_entry_fail("an overflowing shape", e, 24, "is too large");
  expect_entry_fail("reversed offsets", "{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[8,4]}",
                    16, "data_offsets [8, 4] are reversed");
  expect_entry_fail("offsets out of range",
                    "{\"dtype\":\"U8\",\"shape\":[4096],\"data_offsets\":[0,4096]}", 100,
                    "data_offsets [0, 4096] run past the end of the data section (100 bytes)");
  expect_entry_fail("negative offsets", "{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[-4,0]}",
                    16, "data_offsets is not two non-negative integers");
  expect_entry_fail("three offsets", "{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4,8]}",
                    16, "data_offsets is not two non-negative integers");
  expect_entry_fail("a size mismatch",
                    "{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,20]}", 24,
                    "tensor 'a': shape [2, 3] needs 24 bytes but data_offsets span 20");
  expect_entry_fail("an entry that is not an object", "5", 0, "entry is not an object");
  expect_entry_fail("an extra key",
                    "{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4],\"foo\":1}", 4,
                    "unexpected key 'foo'");
  expect_entry_fail("a missing key", "{\"dtype\":\"U8\",\"shape\":[4]}", 4,
                    "missing 'data_offsets'");

  char path[256];
  write_st(in_tmp(path, "overlap.safetensors"),
           "{\"a\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[0,16]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[4],\"data_offsets\":[8,24]}}", 24);
  expect_open_fail("overlapping tensors", path, "tensors 'a' and 'b' overlap in the data section");
  write_st(in_tmp(path, "overlap2.safetensors"),
           "{\"c\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[20,22]},"
           "\"big\":{\"dtype\":\"U8\",\"shape\":[32],\"data_offsets\":[0,32]},"
           "\"d\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[24,26]}}", 32);
  expect_open_fail("a tensor inside another", path, "tensors 'big' and 'c' overlap");
  write_st(in_tmp(path, "dupname.safetensors"),
           "{\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
           "\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2);
  expect_open_fail("a duplicate tensor name", path, "duplicate key 'a'");
  write_st(in_tmp(path, "nul.safetensors"),
           "{\"a\\u0000b\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1);
  expect_open_fail("a tensor name with a NUL byte", path, "has a NUL byte");
  write_st(in_tmp(path, "meta.safetensors"), "{\"__metadata__\":{\"format\":1}}", 0);
  expect_open_fail("a metadata value that is not a string", path,
                   "__metadata__ value of 'format' is not a string");
  write_st(in_tmp(path, "meta2.safetensors"), "{\"__metadata__\":[]}", 0);
  expect_open_fail("metadata that is not an object", path, "__metadata__ is not an object");
}

/* ---- reading: accepted files ---------------------------------------------------------------- */

static void test_valid_headers(void) {
  char path[256];
  st_file f;
  ditc_err err = {{0}};
  write_st(in_tmp(path, "empty_header.safetensors"), "{}", 0);
  ditc_status st = st_open(&f, path, &err);
  check(st == DITC_OK && f.count == 0 && !st_find(&f, "a"), "opens an empty '{}' header",
        "status %d: %s", st, err.msg);
  st_close(&f);
  write_st(in_tmp(path, "padded.safetensors"), " {\"__metadata__\":{}}\n\t     ", 3);
  st = st_open(&f, path, &err);
  check(st == DITC_OK && f.count == 0, "opens a whitespace-padded header with spare data bytes",
        "status %d: %s", st, err.msg);
  st_close(&f);

  /* Zero-size tensors overlap nothing, even at the same offset as others. */
  write_st(in_tmp(path, "zero.safetensors"),
           "{\"e\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[4,4]},"
           "\"b\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
           "\"c\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[4,8]}}", 8);
  st = st_open(&f, path, &err);
  const st_tensor *e = st ? NULL : st_find(&f, "e"), *c = st ? NULL : st_find(&f, "c");
  check(st == DITC_OK && f.count == 3 && e && e->numel == 0 && e->nbytes == 0 && c &&
            c->ndim == 0 && c->numel == 1,
        "opens zero-size and scalar tensors", "status %d: %s", st, err.msg);
  st_close(&f);

  /* Names with escapes decode to UTF-8, and st_find finds them. */
  write_st(in_tmp(path, "escapes.safetensors"),
           "{\"a\\\"b\\\\c\\/d\\u00e9\\ud83d\\ude00\\n\\t\":"
           "{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},"
           "\"\\u0041\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]}}", 2);
  st = st_open(&f, path, &err);
  const char *want = "a\"b\\c/d\xc3\xa9\xf0\x9f\x98\x80\n\t";
  check(st == DITC_OK && f.count == 2 && st_find(&f, want) && st_find(&f, "A") &&
            strcmp(f.tensors[0].name, "A") == 0,
        "decodes tensor names with escapes (\\\" \\\\ \\/ \\u00e9, a surrogate pair, \\n \\t)",
        "status %d: %s", st, err.msg);
  st_close(&f);
}

/* Every dtype through st_get, from known bit patterns. */
static void test_dtypes(void) {
  uint16_t f16[] = {0x3C00, 0xC000, 0x0001, 0x7BFF, 0x7C00, 0xFC00, 0x7E00, 0x8000, 0x3555};
  uint16_t bf16[] = {0x3F80, 0xC040, 0x0001, 0x7F80, 0x4049};
  double f64[] = {0.1, -1e300};
  int64_t i64[] = {INT64_MIN, -1};
  int32_t i32[] = {INT32_MIN, 7};
  int16_t i16[] = {-32768, 300};
  int8_t i8[] = {-128, 127};
  uint8_t u8[] = {255, 0}, boolean[] = {0, 1, 2};
  unsigned char data[256];
  size_t off = 0;
#define PUT(arr) (memcpy(data + off, arr, sizeof arr), off += sizeof arr, off - sizeof arr)
  size_t o_f16 = PUT(f16), o_bf16 = PUT(bf16), o_f64 = PUT(f64), o_i64 = PUT(i64);
  size_t o_i32 = PUT(i32), o_i16 = PUT(i16), o_i8 = PUT(i8), o_u8 = PUT(u8), o_b = PUT(boolean);
#undef PUT
  char header[1024];
  snprintf(header, sizeof header,
           "{\"f16\":{\"dtype\":\"F16\",\"shape\":[9],\"data_offsets\":[%zu,%zu]},"
           "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[5],\"data_offsets\":[%zu,%zu]},"
           "\"f64\":{\"dtype\":\"F64\",\"shape\":[2],\"data_offsets\":[%zu,%zu]},"
           "\"i64\":{\"dtype\":\"I64\",\"shape\":[2],\"data_offsets\":[%zu,%zu]},"
           "\"i32\":{\"dtype\":\"I32\",\"shape\":[2],\"data_offsets\":[%zu,%zu]},"
           "\"i16\":{\"dtype\":\"I16\",\"shape\":[2],\"data_offsets\":[%zu,%zu]},"
           "\"i8\":{\"dtype\":\"I8\",\"shape\":[2],\"data_offsets\":[%zu,%zu]},"
           "\"u8\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[%zu,%zu]},"
           "\"bool\":{\"dtype\":\"BOOL\",\"shape\":[3],\"data_offsets\":[%zu,%zu]}}",
           o_f16, o_f16 + 18, o_bf16, o_bf16 + 10, o_f64, o_f64 + 16, o_i64, o_i64 + 16, o_i32,
           o_i32 + 8, o_i16, o_i16 + 4, o_i8, o_i8 + 2, o_u8, o_u8 + 2, o_b, o_b + 3);
  char path[256];
  /* a 1-byte header pad puts every tensor at an odd address: st_get must not assume alignment */
  strcat(header, " ");
  write_st_len(in_tmp(path, "dtypes.safetensors"), strlen(header), header, strlen(header), data,
               off);
  st_file f;
  ditc_err err = {{0}};
  ditc_status st = st_open(&f, path, &err);
  if (!check(st == DITC_OK && f.count == 9, "opens a file with every dtype", "%s", err.msg)) return;
  const st_tensor *h = st_find(&f, "f16"), *b = st_find(&f, "bf16");
  check(h && h->dtype == ST_F16 && st_get(h, 0) == 1.0 && st_get(h, 1) == -2.0 &&
            st_get(h, 2) == ldexp(1, -24) && st_get(h, 3) == 65504.0 && isinf(st_get(h, 4)) &&
            st_get(h, 4) > 0 && isinf(st_get(h, 5)) && st_get(h, 5) < 0 && isnan(st_get(h, 6)) &&
            st_get(h, 7) == 0 && signbit(st_get(h, 7)) && st_get(h, 8) == 0x155 / 1024.0 / 4 + 0.25,
        "st_get decodes F16 (0x3C00=1, 0xC000=-2, subnormal, max, +-inf, nan, -0, 1/3)",
        "got %g %g %g %g", h ? st_get(h, 0) : 0, h ? st_get(h, 1) : 0, h ? st_get(h, 2) : 0,
        h ? st_get(h, 8) : 0);
  check(b && b->dtype == ST_BF16 && st_get(b, 0) == 1.0 && st_get(b, 1) == -3.0 &&
            st_get(b, 2) == ldexp(1, -133) && isinf(st_get(b, 3)) && st_get(b, 4) == 3.140625,
        "st_get decodes BF16 (0x3F80=1, 0xC040=-3, subnormal, inf, 0x4049=3.140625)",
        "got %g %g %g", b ? st_get(b, 0) : 0, b ? st_get(b, 1) : 0, b ? st_get(b, 4) : 0);
  const st_tensor *t64 = st_find(&f, "f64"), *ti64 = st_find(&f, "i64"), *ti32 = st_find(&f, "i32");
  const st_tensor *ti16 = st_find(&f, "i16"), *ti8 = st_find(&f, "i8"), *tu8 = st_find(&f, "u8");
  const st_tensor *tb = st_find(&f, "bool");
  check(t64 && st_get(t64, 0) == 0.1 && st_get(t64, 1) == -1e300 && ti64 &&
            st_get(ti64, 0) == -9223372036854775808.0 && st_get(ti64, 1) == -1 && ti32 &&
            st_get(ti32, 0) == INT32_MIN && st_get(ti32, 1) == 7 && ti16 &&
            st_get(ti16, 0) == -32768 && st_get(ti16, 1) == 300 && ti8 && st_get(ti8, 0) == -128 &&
            st_get(ti8, 1) == 127 && tu8 && st_get(tu8, 0) == 255 && st_get(tu8, 1) == 0 && tb &&
            st_get(tb, 0) == 0 && st_get(tb, 1) == 1 && st_get(tb, 2) == 1,
        "st_get reads F64, I64, I32, I16, I8, U8 and BOOL (nonzero = 1)", "a value differs");
  check(st_dtype_size(ST_BF16) == 2 && st_dtype_size(ST_F64) == 8 &&
            strcmp(st_dtype_name(ST_BOOL), "BOOL") == 0,
        "st_dtype_size and st_dtype_name", "wrong table entry");
  st_close(&f);
}

/* The parser keeps integers exact in int64 (beyond 2^53) and knows when they do not fit. */
static void test_json_numbers(void) {
  const char *text =
      "[9007199254740993, -9223372036854775808, 9223372036854775808, 1.5e3, -0, 2E-1]";
  json_doc doc;
  json_error je;
  ditc_status st = json_parse(text, strlen(text), NULL, &doc, &je);
  const json_value v = doc.root, *x = st ? NULL : v.items;
  check(x && v.count == 6 && x[0].is_int && x[0].integer == 9007199254740993LL && x[1].is_int &&
            x[1].integer == INT64_MIN && !x[2].is_int && x[2].number == 9223372036854775808.0 &&
            !x[3].is_int && x[3].number == 1500 && x[4].is_int && x[4].integer == 0 &&
            !x[5].is_int && x[5].number == 0.2,
        "JSON numbers: exact int64 (2^53+1, INT64_MIN), overflow and fractions as double",
        "status %d", st);
  json_free(&doc);
}

/* ---- writing -------------------------------------------------------------------------------- */

static float b_weight[6] = {-1.0f, -0.5f, 0.0f, 0.5f, 1.0f, 1.5f};
static int64_t a_idx[4] = {0, -5, (int64_t)1 << 40, INT64_MAX};
static float c_scalar[1] = {3.25f};
static int64_t q_escaped[2] = {7, 8};

/* Five tensors in unsorted order: F32 2-D, I64, F32 scalar, empty, and a name with escapes. */
static int make_tensors(st_out_tensor *t, int reversed) {
  st_out_tensor all[5] = {
      {"b.weight", ST_F32, 2, {2, 3}, b_weight},
      {"a.idx", ST_I64, 1, {4}, a_idx},
      {"c", ST_F32, 0, {0}, c_scalar},
      {"z.empty", ST_F32, 2, {0, 3}, NULL},
      {"q\"x\\y\nz", ST_I64, 1, {2}, q_escaped},
  };
  for (int i = 0; i < 5; i++) t[i] = all[reversed ? 4 - i : i];
  return 5;
}

static int same_tensor(const st_tensor *r, const st_out_tensor *w) {
  if (!r || r->dtype != w->dtype || r->ndim != w->ndim) return 0;
  int64_t numel = 1;
  for (int d = 0; d < w->ndim; d++) {
    if (r->shape[d] != w->shape[d]) return 0;
    numel *= w->shape[d];
  }
  if (r->numel != numel || r->nbytes != (size_t)numel * st_dtype_size(w->dtype)) return 0;
  if (numel && memcmp(r->data, w->data, r->nbytes) != 0) return 0;
  for (int64_t i = 0; i < numel; i++) {
    double want = w->dtype == ST_F32 ? ((const float *)w->data)[i]
                                     : (double)((const int64_t *)w->data)[i];
    if (st_get(r, i) != want) return 0;
  }
  return 1;
}

static void test_round_trip(void) {
  st_out_tensor t[5];
  int n = make_tensors(t, 0);
  char path[256], tmp[300];
  ditc_err err = {{0}};
  ditc_status st = st_write(in_tmp(path, "rt.safetensors"), t, n, &err);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  if (!check(st == DITC_OK && exists(path) && !exists(tmp), "st_write writes F32 and I64 tensors",
             "status %d: %s", st, err.msg))
    return;
  st_file f;
  st = st_open(&f, path, &err);
  if (!check(st == DITC_OK && f.count == n, "reopens the written file", "%s", err.msg)) return;
  int sorted = 1, same = 1;
  for (int i = 1; i < f.count; i++) sorted &= strcmp(f.tensors[i - 1].name, f.tensors[i].name) < 0;
  for (int i = 0; i < n; i++) same &= same_tensor(st_find(&f, t[i].name), &t[i]);
  check(sorted && strcmp(f.tensors[0].name, "a.idx") == 0, "tensors come back sorted by name",
        "first is '%s'", f.tensors[0].name);
  check(same, "round trip keeps names, dtypes, shapes and values (incl. INT64_MAX, scalar, empty)",
        "a tensor differs");
  check(!st_find(&f, "a") && !st_find(&f, "zz") && !st_find(&f, "b.weigh"),
        "st_find returns NULL for absent names", "found a tensor that does not exist");
  size_t hlen = 0;
  for (int i = 7; i >= 0; i--) hlen = hlen << 8 | ((const unsigned char *)f.map)[i];
  const char *meta = "{\"__metadata__\":{\"format\":\"pt\"}";
  check(hlen % 8 == 0 && memcmp((const char *)f.map + 8, meta, strlen(meta)) == 0,
        "header starts with __metadata__ and is padded to a multiple of 8", "header length %zu",
        hlen);
  st_close(&f);
  st_close(&f);
  check(f.count == 0 && !f.map, "st_close twice is safe", "st_file not zeroed");
}

/* U8, the dtype of the VAE's frames_u8 [B, F, H, W, 3]: an odd byte count (7 * 5 * 3) before an F32
 * tensor, so the F32 data after it starts unaligned in the file. */
static void test_u8_round_trip(void) {
  static unsigned char frames[1 * 1 * 7 * 5 * 3];
  static const float after[3] = {1.5f, -2.0f, 3.25f};
  for (size_t i = 0; i < sizeof frames; i++) frames[i] = (unsigned char)(i * 37 % 256);
  frames[0] = 0;
  frames[1] = 255;
  st_out_tensor t[2] = {{"frames_u8", ST_U8, 5, {1, 1, 7, 5, 3}, frames}, {"zz", ST_F32, 1, {3}, after}};
  char path[256];
  ditc_err err = {{0}};
  ditc_status st = st_write(in_tmp(path, "u8.safetensors"), t, 2, &err);
  if (!check(st == DITC_OK, "st_write writes a U8 tensor", "status %d: %s", st, err.msg)) return;
  st_file f;
  if (!check(st_open(&f, path, &err) == DITC_OK, "reopens the U8 file", "%s", err.msg)) return;
  const st_tensor *r = st_find(&f, "frames_u8"), *z = st_find(&f, "zz");
  int ok = r && r->dtype == ST_U8 && r->ndim == 5 && r->shape[2] == 7 && r->shape[3] == 5 && r->shape[4] == 3 &&
           r->nbytes == sizeof frames && memcmp(r->data, frames, sizeof frames) == 0 && st_get(r, 1) == 255.0;
  check(ok, "a U8 [1, 1, 7, 5, 3] tensor comes back with its dtype, shape and bytes (0 and 255 included)",
        "dtype %s, %zu bytes", r ? st_dtype_name(r->dtype) : "(missing)", r ? r->nbytes : 0);
  check(z && z->dtype == ST_F32 && st_get(z, 0) == 1.5 && st_get(z, 2) == 3.25,
        "an F32 tensor after 105 U8 bytes reads back (unaligned data)", "zz %s", z ? "differs" : "is missing");
  st_close(&f);
}

static void test_determinism(void) {
  st_out_tensor t[5];
  char p1[256], p2[256], p3[256];
  ditc_err err = {{0}};
  int n = make_tensors(t, 0);
  ditc_status s1 = st_write(in_tmp(p1, "det1.safetensors"), t, n, &err);
  ditc_status s2 = st_write(in_tmp(p2, "det2.safetensors"), t, n, &err);
  make_tensors(t, 1);
  ditc_status s3 = st_write(in_tmp(p3, "det3.safetensors"), t, n, &err);
  size_t n1 = 0, n2 = 0, n3 = 0;
  unsigned char *b1 = read_bytes(p1, &n1), *b2 = read_bytes(p2, &n2), *b3 = read_bytes(p3, &n3);
  check(!s1 && !s2 && b1 && b2 && n1 == n2 && memcmp(b1, b2, n1) == 0,
        "writing twice gives byte-identical files", "sizes %zu and %zu", n1, n2);
  check(!s3 && b3 && n1 == n3 && memcmp(b1, b3, n1) == 0,
        "input order does not change the file", "sizes %zu and %zu", n1, n3);
  free(b1);
  free(b2);
  free(b3);
}

/* A failed st_write returns non-zero, names the path, and leaves neither path nor path.tmp. */
static void expect_write_fail(const char *desc, const char *path, const st_out_tensor *t, int n,
                              const char *keyword) {
  char tmp[300], line[8192];
  ditc_err err = {{0}};
  struct stat before;
  int was_dir = stat(path, &before) == 0 && S_ISDIR(before.st_mode);
  ditc_status st = st_write(path, t, n, &err);
  snprintf(tmp, sizeof tmp, "%s.tmp", path);
  snprintf(line, sizeof line, "st_write fails on %s, leaving no file [%s]", desc, err.msg);
  struct stat after;
  int left = was_dir ? !(stat(path, &after) == 0 && S_ISDIR(after.st_mode)) : exists(path);
  check(st != DITC_OK && strncmp(err.msg, path, strlen(path)) == 0 && strstr(err.msg, keyword) &&
            !left && !exists(tmp),
        line, "status %d, left %d, tmp %d", st, left, exists(tmp));
}

static void test_write_errors(void) {
  char path[256], dir_path[256];
  st_out_tensor t[5];
  int n = make_tensors(t, 0);
  expect_write_fail("a missing directory", in_tmp(path, "no/such/dir/x.safetensors"), t, n,
                    "cannot create");
  DITC_CHECK(mkdir(in_tmp(dir_path, "a_dir.safetensors"), 0755) == 0);
  expect_write_fail("a path that is a directory (refused: not a regular file)", dir_path, t, n, "is a directory");
  st_out_tensor bad = {"h", ST_BF16, 1, {2}, b_weight};
  expect_write_fail("a BF16 tensor", in_tmp(path, "bf16.safetensors"), &bad, 1, "not supported");
  st_out_tensor dup[2] = {{"d", ST_F32, 1, {2}, b_weight}, {"d", ST_F32, 1, {1}, b_weight}};
  expect_write_fail("duplicate names", in_tmp(path, "dup.safetensors"), dup, 2,
                    "duplicate tensor name 'd'");
  st_out_tensor neg = {"n", ST_F32, 1, {-1}, b_weight};
  expect_write_fail("a negative dim", in_tmp(path, "neg.safetensors"), &neg, 1, "negative");
  ditc_err err = {{0}};
  ditc_status st = st_write(in_tmp(path, "none.safetensors"), NULL, 0, &err);
  st_file f;
  ditc_status st2 = st ? st : st_open(&f, path, &err);
  check(!st && !st2 && f.count == 0, "st_write with no tensors gives a valid empty file", "%s",
        err.msg);
  if (!st && !st2) st_close(&f);
}

/* ---- names in messages, hostile headers, files that shrink ---------------------------------- */

/* ditc_shown(name) must give want. */
static void expect_shown(const char *desc, const char *name, size_t len, size_t cap, const char *want) {
  char buf[512], line[1024];
  ditc_shown(buf, cap, name, len);
  snprintf(line, sizeof line, "ditc_shown escapes %s", desc);
  check(strcmp(buf, want) == 0 && strlen(buf) < cap, line, "got '%s', want '%s'", buf, want);
}

/* No byte of msg is a C0 control, DEL, or a C1 control (raw or as UTF-8). */
static int printable(const char *msg) {
  for (const unsigned char *c = (const unsigned char *)msg; *c; c++)
    if (*c < 0x20 || *c == 0x7F || (*c >= 0x80 && *c <= 0x9F) || (c[0] == 0xC2 && c[1] >= 0x80 && c[1] <= 0x9F))
      return 0;
  return 1;
}

static void test_names_escaped(void) {
  expect_shown("ESC, DEL and newline as \\xNN", "a\x1b[2J\x7f\n", 7, 64, "a\\x1b[2J\\x7f\\x0a");
  expect_shown("a raw C1 byte (0x9b) and a UTF-8 C1 (c2 9b)", "\x9b|\xc2\x9b", 4, 64, "\\x9b|\\xc2\\x9b");
  expect_shown("invalid UTF-8 (0xff, overlong c0 af, surrogate ed a0 80) byte by byte",
               "\xff\xc0\xaf\xed\xa0\x80", 6, 64, "\\xff\\xc0\\xaf\\xed\\xa0\\x80");
  expect_shown("nothing in valid UTF-8 (e9, U+1F600), but a backslash as \\\\", "\xc3\xa9\xf0\x9f\x98\x80\\",
               7, 64, "\xc3\xa9\xf0\x9f\x98\x80\\\\");
  char e80[81];
  for (int i = 0; i < 40; i++) memcpy(e80 + 2 * i, "\xc3\xa9", 2);
  char want[80];
  for (int i = 0; i < 34; i++) memcpy(want + 2 * i, "\xc3\xa9", 2);
  strcpy(want + 68, "...");
  expect_shown("by cutting a long name between characters, with '...'", e80, 80, 72, want);
  expect_shown("a NUL inside the name", "a\0b", 3, 64, "a\\x00b");

  /* the reader's messages: overlapping tensors, an unknown dtype, a duplicate key */
  static const struct { const char *desc, *header, *want; } cases[] = {
      {"overlapping tensors named with ESC and DEL",
       "{\"x\\u001b[2Jy\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
       "\"z\\u007f\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}",
       "tensors 'x\\x1b[2Jy' and 'z\\x7f' overlap"},
      {"a raw C1 byte in a name and an ESC in a dtype",
       "{\"c\x9b\":{\"dtype\":\"F\\u001b\",\"shape\":[2],\"data_offsets\":[0,2]}}",
       "tensor 'c\\x9b': unknown dtype 'F\\x1b'"},
      {"a duplicate key with a BEL", "{\"d\\u0007\":{},\"d\\u0007\":{}}", "duplicate key 'd\\x07'"},
  };
  char path[256];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_st(in_tmp(path, "names.safetensors"), cases[i].header, 4);
    st_file f;
    ditc_err err = {{0}};
    ditc_status st = st_open(&f, path, &err);
    char line[512];
    snprintf(line, sizeof line, "escapes names in messages: %s", cases[i].desc);
    check(st && strstr(err.msg, cases[i].want) && printable(err.msg), line, "message '%s'", err.msg);
    st_close(&f);
  }
}

/* Writes a header of 8 + head + n * unit + tail bytes (declared length exact) and 0 data bytes. */
static void write_big_header(const char *path, const char *head, const char *unit, size_t n, const char *tail) {
  FILE *fp = fopen(path, "wb");
  DITC_CHECK(fp);
  uint64_t len = strlen(head) + n * strlen(unit) + strlen(tail);
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)(len >> (8 * i));
  DITC_CHECK(fwrite(len8, 1, 8, fp) == 8 && fputs(head, fp) >= 0);
  for (size_t i = 0; i < n; i++) DITC_CHECK(fputs(unit, fp) >= 0);
  DITC_CHECK(fputs(tail, fp) >= 0 && fclose(fp) == 0);
}

/* st_open(path) in a child limited to limit_mb of address space and 20 s; its message comes back
 * in msg. Returns its status, or -1 when it died (the reason in msg). */
static int open_limited(const char *path, long limit_mb, char *msg, size_t cap, double *seconds) {
  int fds[2];
  DITC_CHECK(pipe(fds) == 0);
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  DITC_CHECK(pid >= 0);
  if (pid == 0) {
    close(fds[0]);
    (void)limit_mb;
#ifndef __SANITIZE_ADDRESS__ /* ASan reserves terabytes of shadow: no address-space limit then */
    struct rlimit rl = {(rlim_t)limit_mb << 20, (rlim_t)limit_mb << 20};
    setrlimit(RLIMIT_AS, &rl);
#endif
    alarm(20);
    st_file f;
    ditc_err err = {{0}};
    ditc_status st = st_open(&f, path, &err);
    st_close(&f);
    DITC_CHECK(write(fds[1], err.msg, strlen(err.msg)) >= 0);
    _exit((int)st);
  }
  close(fds[1]);
  ssize_t n = read(fds[0], msg, cap - 1);
  msg[n > 0 ? n : 0] = 0;
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  clock_gettime(CLOCK_MONOTONIC, &t1);
  *seconds = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  snprintf(msg, cap, "killed by signal %d", WTERMSIG(status));
  return -1;
}

/* A 99 MB header is rejected while it is parsed, in bounded memory (the process gets 1 GiB of
 * address space; parsing these all used to take 6.4 GB and half a minute). */
static void test_big_headers(void) {
  char path[256], msg[4608];
  double secs = 0;
  in_tmp(path, "big.safetensors");
  write_big_header(path, "{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,0],\"shape\":[", "0,", 49500000, "0]}}");
  int st = open_limited(path, 1024, msg, sizeof msg, &secs);
  check(st == DITC_EINVAL && strstr(msg, "array of more than 8 elements") && secs < 10,
        "rejects a 99 MB shape array while parsing, within 1 GiB and 10 s", "status %d after %.1f s: %s", st,
        secs, msg);
  /* 8 levels of 8-element arrays: 19M values in 33 MB, more than one value per 3 bytes */
  char unit[64];
  write_big_header(path, "{\"a\":", "", 0, "");
  FILE *fp = fopen(path, "r+b");
  DITC_CHECK(fp && fseek(fp, 0, SEEK_END) == 0);
  size_t len = 5;
  for (long leaf = 0; leaf < 1L << 21; leaf++) { /* 2^21 arrays of 8 zeros, nested 7 deep */
    int open = 0, close = 0;
    for (long x = leaf; open < 7 && x % 8 == 0; x /= 8) open++;
    for (long x = leaf + 1; close < 7 && x % 8 == 0; x /= 8) close++;
    int n = 0;
    for (int i = 0; i < open; i++) unit[n++] = '[';
    memcpy(unit + n, "[0,0,0,0,0,0,0,0]", 17);
    n += 17;
    for (int i = 0; i < close; i++) unit[n++] = ']';
    if (leaf + 1 < 1L << 21) unit[n++] = ',';
    DITC_CHECK(fwrite(unit, 1, (size_t)n, fp) == (size_t)n);
    len += (size_t)n;
  }
  DITC_CHECK(fputc('}', fp) != EOF && fseek(fp, 0, SEEK_SET) == 0);
  len += 1;
  unsigned char len8[8];
  for (int i = 0; i < 8; i++) len8[i] = (unsigned char)((uint64_t)len >> (8 * i));
  DITC_CHECK(fwrite(len8, 1, 8, fp) == 8 && fclose(fp) == 0);
  st = open_limited(path, 1024, msg, sizeof msg, &secs);
  check(st == DITC_EINVAL && strstr(msg, "values (the limit for") && secs < 10,
        "rejects 19M values in a 33 MB header while parsing (more than one per 3 bytes), within 1 GiB and 10 s",
        "status %d after %.1f s: %s", st, secs, msg);
  unlink(path);
}

typedef struct {
  const st_file *f;
  double sum;
} sum_ctx;

static ditc_status sum_all(void *arg, ditc_err *err) {
  (void)err;
  sum_ctx *c = arg;
  for (int i = 0; i < c->f->count; i++)
    for (int64_t k = 0; k < c->f->tensors[i].numel; k++) c->sum += st_get(&c->f->tensors[i], k);
  return DITC_OK;
}

/* A file cut short after st_open: reading it under st_guarded reports it instead of SIGBUS. */
static void test_shrinking_file(void) {
  char path[256];
  write_st(in_tmp(path, "shrink.safetensors"), "{\"a\":{\"dtype\":\"U8\",\"shape\":[65536],\"data_offsets\":[0,65536]}}",
           65536);
  st_file f;
  ditc_err err = {{0}};
  ditc_status st = st_open(&f, path, &err);
  sum_ctx c = {&f, 0};
  if (!st) st = st_guarded(&f, sum_all, &c, &err);
  check(!st && c.sum == 256 * 127.5 * 256, "st_guarded reads an unchanged file", "status %d sum %g: %s", st, c.sum,
        err.msg);
  DITC_CHECK(truncate(path, 0) == 0);
  c.sum = 0;
  st = st_guarded(&f, sum_all, &c, &err);
  char want[300];
  snprintf(want, sizeof want, "%s: changed while being read", path);
  check(st == DITC_EIO && strcmp(err.msg, want) == 0, "a file truncated while mapped: 'FILE: changed while being read'",
        "status %d: '%s'", st, err.msg);
  st_close(&f);
}

/* ---- golden files and the driver ------------------------------------------------------------ */

static void test_golden(const char *weights) {
  st_file f;
  ditc_err err = {{0}};
  ditc_status st = st_open(&f, weights, &err);
  if (!check(st == DITC_OK, "opens the golden weights", "%s", err.msg)) return;
  const st_tensor *rope = st_find(&f, "rope.freqs");
  int finite = 1;
  for (int i = 0; i < f.count; i++)
    for (int64_t j = 0; j < f.tensors[i].numel; j++) finite &= isfinite(st_get(&f.tensors[i], j));
  char desc[128];
  snprintf(desc, sizeof desc, "golden weights have %d tensors (> 50)", f.count);
  check(f.count > 50, desc, "only %d", f.count);
  check(rope && rope->dtype == ST_F32 && rope->ndim == 1 && rope->shape[0] == 12,
        "golden 'rope.freqs' is F32 [12]", "%s", rope ? st_dtype_name(rope->dtype) : "absent");
  check(finite, "golden weights are all finite", "a NaN or Inf");
  st_close(&f);

  static const char *const others[] = {"forward", "sample_nopab", "sample_pab",
                                       "sample_pab_aggressive"};
  char path[512];
  const char *slash = strrchr(weights, '/');
  int dir_len = slash ? (int)(slash - weights + 1) : 0;
  for (int i = 0; i < 4; i++) {
    snprintf(path, sizeof path, "%.*s%s.safetensors", dir_len, weights, others[i]);
    if (!exists(path)) continue;
    st = st_open(&f, path, &err);
    snprintf(desc, sizeof desc, "opens golden %s.safetensors (%d tensors)", others[i], f.count);
    check(st == DITC_OK && f.count > 0, desc, "%s", err.msg);
    st_close(&f);
  }
}

/* Removes tmp_dir and what the tests left in it (one level of subdirectories). */
static void remove_tmp_dir(void) {
  DIR *d = opendir(tmp_dir);
  if (!d) return;
  char path[512];
  for (struct dirent *e; (e = readdir(d));) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    snprintf(path, sizeof path, "%s/%s", tmp_dir, e->d_name);
    if (unlink(path) != 0) rmdir(path);
  }
  closedir(d);
  if (rmdir(tmp_dir) != 0)
    fprintf(stderr, "st_test: cannot remove %s: %s\n", tmp_dir, strerror(errno));
}

int main(int argc, char **argv) {
  const char *golden = argc > 1 ? argv[1] : "tests/golden/opensora-v1.2/weights.safetensors";
  strcpy(tmp_dir, "/tmp/st_test.XXXXXX");
  DITC_CHECK(mkdtemp(tmp_dir));
  st_file zero = {0};
  st_close(&zero);
  check(zero.count == 0, "st_close on a zeroed st_file is safe", "count %d", zero.count);
  test_file_errors();
  test_json_errors();
  test_entry_errors();
  test_valid_headers();
  test_dtypes();
  test_json_numbers();
  test_round_trip();
  test_u8_round_trip();
  test_determinism();
  test_write_errors();
  test_names_escaped();
  test_big_headers();
  test_shrinking_file();
  test_golden(golden);
  remove_tmp_dir();
  check(!exists(tmp_dir), "removes its temp dir", "%s is still there", tmp_dir);
  printf("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed ? 1 : 0;
}
