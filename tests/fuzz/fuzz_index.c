/* fuzz_index.c: libFuzzer target of the sharded-checkpoint loader (runtime/core/checkpoint.c,
 * through model_load_weights) against the tiny variant (tiny_variant.h): the input is the text of a
 * model.safetensors.index.json, written into a scratch folder made once per process that also holds
 * two valid shards (a.safetensors: blk.weight; b.safetensors: blk.bias), a shard with both
 * (ab.safetensors), a folder named dir.safetensors and a symbolic link out.safetensors leading out
 * of the folder. The load goes once through the index and once through the folder. Checks that a
 * failure is one line starting with the folder's path, without control bytes, and that a success
 * loaded the shards' values. The folder is removed at exit. Not a test of the safetensors format
 * (fuzz_st.c). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model.h"
#include "tiny_variant.h"

static char dir[64], index_path[128];
static const char *const scratch[] = {"a.safetensors", "b.safetensors", "ab.safetensors", "out.safetensors",
                                      "model.safetensors.index.json"};

static void remove_scratch(void) {
  char p[160];
  for (size_t i = 0; i < sizeof scratch / sizeof *scratch; i++) {
    snprintf(p, sizeof p, "%s/%s", dir, scratch[i]);
    unlink(p);
  }
  snprintf(p, sizeof p, "%s/dir.safetensors", dir);
  rmdir(p);
  rmdir(dir);
}

/* A safetensors file in the scratch folder: the header (padded to 8 bytes), then n floats. */
static void write_shard(const char *name, const char *header, const float *v, size_t n) {
  char p[160], h[256];
  snprintf(p, sizeof p, "%s/%s", dir, name);
  size_t len = (size_t)snprintf(h, sizeof h, "%s", header);
  while (len % 8) h[len++] = ' ';
  const uint64_t len8 = len;
  FILE *f = fopen(p, "wb");
  DITC_CHECK(f && fwrite(&len8, 8, 1, f) == 1 && fwrite(h, 1, len, f) == len);
  DITC_CHECK(fwrite(v, sizeof *v, n, f) == n && fclose(f) == 0);
}

static const float w[6] = {0.1f, 0.2f, 0.3f, -0.4f, 0.5f, 0.6f}, b[3] = {0.5f, -1.0f, 2.0f};

static void make_scratch(void) {
  snprintf(dir, sizeof dir, "/tmp/ditc-fuzz-index-XXXXXX");
  DITC_CHECK(mkdtemp(dir) != NULL);
  snprintf(index_path, sizeof index_path, "%s/model.safetensors.index.json", dir);
  write_shard("a.safetensors", "{\"blk.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[0,24]}}", w, 6);
  write_shard("b.safetensors", "{\"blk.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]}}", b, 3);
  float ab[9];
  memcpy(ab, b, sizeof b);
  memcpy(ab + 3, w, sizeof w);
  write_shard("ab.safetensors", "{\"blk.bias\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,12]},"
              "\"blk.weight\":{\"dtype\":\"F32\",\"shape\":[3,2],\"data_offsets\":[12,36]}}", ab, 9);
  char p[160];
  snprintf(p, sizeof p, "%s/dir.safetensors", dir);
  DITC_CHECK(mkdir(p, 0700) == 0);
  snprintf(p, sizeof p, "%s/out.safetensors", dir);
  DITC_CHECK(symlink("/proc/self/exe", p) == 0);
  atexit(remove_scratch);
}

static void check(ditc_status s, const ditc_err *err, const ditc_model *m) {
  if (s) {
    DITC_CHECK(strncmp(err->msg, dir, strlen(dir)) == 0);
    for (const unsigned char *c = (const unsigned char *)err->msg; *c; c++) DITC_CHECK(*c >= 0x20 && *c != 0x7F);
  } else {
    DITC_CHECK(memcmp(m->weights, w, sizeof w) == 0 && memcmp(m->weights + 8, b, sizeof b) == 0);
  }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static ditc_model m;
  static int ready;
  ditc_err err = {{0}};
  if (!ready) {
    DITC_CHECK(model_init(&m, &tiny_variant, &err) == DITC_OK);
    make_scratch();
    ready = 1;
  }
  FILE *f = fopen(index_path, "wb");
  DITC_CHECK(f && (size == 0 || fwrite(data, 1, size, f) == size) && fclose(f) == 0);
  memset(m.weights, 0, 12 * sizeof *m.weights);
  check(model_load_weights(&m, index_path, &err), &err, &m);
  memset(m.weights, 0, 12 * sizeof *m.weights);
  check(model_load_weights(&m, dir, &err), &err, &m);
  return 0;
}
