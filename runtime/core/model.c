/* model.c: model_init/free, checkpoint loading against the manifest (the files of a checkpoint
 * from checkpoint.h; tied copies the manifest accepts without loading), random weights, the io
 * table and phase lookups (model.h). Every check runs before anything is copied into the model; every
 * read of a file's data runs under st_guarded (the file may shrink under the mapping), and every
 * name a message prints goes through ditc_shown. Not here: the safetensors format itself. */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "checkpoint.h"
#include "load.h"
#include "rng.h"
#include "safetensors.h"

ditc_status model_init(ditc_model *m, const ditc_variant *v, ditc_err *err) {
  return model_init_weights(m, v, 1, err);
}

/* The memory the kernel says it can still hand out (MemAvailable), or -1 when unknown. */
static double available_bytes(void) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return -1;
  char line[256];
  double kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "MemAvailable: %lf kB", &kib) == 1) break;
  fclose(f);
  return kib < 0 ? -1 : kib * 1024.0;
}

/* A one-line error for an allocation of weights + arena this machine cannot hold. */
static ditc_status no_memory(const ditc_variant *v, size_t wbytes, size_t abytes, int rank, ditc_err *err) {
  const double gib = 1073741824.0, avail = available_bytes();
  char have[64] = "", who[32] = "", what[64] = "";
  if (avail >= 0) snprintf(have, sizeof have, " (%.1f GiB available)", avail / gib);
  if (rank >= 0) snprintf(who, sizeof who, "rank %d: ", rank);
  if (wbytes) snprintf(what, sizeof what, "%.2f GiB of weights and ", (double)wbytes / gib);
  return ditc_fail(err, DITC_ENOMEM, "%sout of memory: %s/%s needs %s%.2f GiB of arena (%zu bytes, plan.txt) in RAM "
                   "on the %s backend%s; the CPU backend is the reference: run released sizes on a GPU build", who,
                   v->family, v->name, what, (double)abytes / gib, abytes, ditc_backend()->name, have);
}

/* The descriptor's ABI and weight spans, before anything is allocated for it. */
static ditc_status check_descriptor(const ditc_variant *v, ditc_err *err) {
  if (v->abi_version != DITC_ABI_VERSION)
    return ditc_fail(err, DITC_EINVAL, "variant %s was generated for ABI %d, this runtime is ABI %d",
                     v->name, v->abi_version, DITC_ABI_VERSION);
  char nb[DITC_SHOWN_MAX];
  for (int i = 0; i < v->n_weights; i++) { /* each tensor's element, and room for it at its offset */
    const ditc_weight_spec *w = &v->weights[i];
    const int64_t span = w->dtype == DITC_WT_F32 && v->st_bytes > 0 ? w->elems * (4 / v->st_bytes) : w->elems;
    if ((w->dtype != DITC_WT_ST && w->dtype != DITC_WT_F32) || w->offset < 0 || w->offset + span > v->weight_elems)
      return ditc_fail(err, DITC_EINVAL, "variant %s: weight '%s' has element kind %d and spans [%lld, %lld) of %lld "
                       "weight elements (a generated descriptor this runtime cannot load)", v->name,
                       SHOWN(nb, w->name), w->dtype, (long long)w->offset, (long long)(w->offset + span),
                       (long long)v->weight_elems);
  }
  return DITC_OK;
}

ditc_status model_init_view(ditc_model *m, const ditc_variant *v, float *weights, unsigned char *arena, ditc_err *err) {
  memset(m, 0, sizeof *m);
  ditc_status s = check_descriptor(v, err);
  if (s) return s;
  m->v = v;
  m->prologue = ditc_phase_find(v, DITC_PHASE_PROLOGUE);
  m->step = ditc_phase_find(v, DITC_PHASE_STEP);
  m->weights = weights;
  m->arena = arena;
  m->ex.weights = weights;
  m->ex.arena = arena;
  return DITC_OK;
}

ditc_status model_init_weights(ditc_model *m, const ditc_variant *v, int with_arena, ditc_err *err) {
  ditc_status s = model_init_view(m, v, NULL, NULL, err);
  if (s) return s;
  const size_t wbytes = ((size_t)v->weight_elems * sizeof(float) + 255) / 256 * 256;
  const size_t abytes = with_arena ? ((size_t)v->host_bytes + 255) / 256 * 256 : 0;
  const double avail = available_bytes(); /* refuse what would end in the OOM killer during the memset */
  if (avail >= 0 && (double)wbytes + (double)abytes > avail) return no_memory(v, wbytes, abytes, -1, err);
  m->weights = aligned_alloc(256, wbytes ? wbytes : 256);
  m->arena = with_arena ? aligned_alloc(256, abytes ? abytes : 256) : NULL;
  m->owns_weights = m->owns_arena = 1;
  if (!m->weights || (with_arena && !m->arena)) {
    model_free(m);
    return no_memory(v, wbytes, abytes, -1, err);
  }
  memset(m->weights, 0, wbytes);
  if (m->arena) memset(m->arena, 0, abytes);
  m->ex.weights = m->weights;
  m->ex.arena = m->arena;
  return DITC_OK;
}

ditc_status model_init_rank(ditc_model *m, const ditc_variant *v, const float *weights, int rank,
                            struct ditc_comm *comm, int cfg_rank, struct ditc_comm *cfg_comm, unsigned char *arena,
                            ditc_err *err) {
  memset(m, 0, sizeof *m);
  m->v = v;
  m->prologue = ditc_phase_find(v, DITC_PHASE_PROLOGUE);
  m->step = ditc_phase_find(v, DITC_PHASE_STEP);
  const size_t abytes = arena ? (size_t)v->host_bytes : ((size_t)v->host_bytes + 255) / 256 * 256;
  if (arena) {
    m->arena = arena;
  } else {
    const double avail = available_bytes();
    m->arena = avail >= 0 && (double)abytes > avail ? NULL : aligned_alloc(256, abytes ? abytes : 256);
    if (!m->arena) return no_memory(v, 0, abytes, cfg_rank * v->denoiser->sp + rank, err);
    m->owns_arena = 1;
  }
  memset(m->arena, 0, abytes);
  m->weights = (float *)weights; /* shared, never written */
  m->ex.weights = weights;
  m->ex.arena = m->arena;
  m->ex.rank = rank;
  m->ex.comm = comm;
  m->ex.cfg_rank = cfg_rank;
  m->ex.cfg_comm = cfg_comm;
  ditc_status s = ditc_backend()->attach(m, err);
  if (s) model_free(m);
  return s;
}

ditc_status model_attach(ditc_model *m, ditc_err *err) { return ditc_backend()->attach(m, err); }

void model_free(ditc_model *m) {
  if (m->v) ditc_backend()->detach(m);
  if (m->owns_weights) free(m->weights);
  if (m->owns_arena) free(m->arena);
  memset(m, 0, sizeof *m);
}

/* ---- weights ------------------------------------------------------------------------------ */

static const ditc_weight_spec *find_spec(const ditc_variant *v, const char *name) {
  for (int i = 0; i < v->n_weights; i++)
    if (strcmp(v->weights[i].name, name) == 0) return &v->weights[i];
  return NULL;
}

/* Names, dtypes and shapes of every tensor of the opened checkpoint against the manifest; reads
 * no data. A tensor's message names the file that holds it; a missing one the checkpoint (the
 * index of a sharded one). */
static ditc_status check_manifest(const ditc_variant *v, const ditc_ckpt *c, ditc_err *err) {
  char want[128], got[128], nb[DITC_SHOWN_MAX];
  for (int s = 0; s < c->n_shards; s++)
    for (int i = 0; i < c->files[s].count; i++) {
      const st_tensor *t = &c->files[s].tensors[i];
      if (find_spec(v, t->name)) continue;
      int ignored = 0; /* a part the variant does not run (a VAE's encoder) */
      for (int j = 0; j < v->n_ignored && !ignored; j++)
        ignored = !strncmp(t->name, v->ignored[j], strlen(v->ignored[j]));
      if (ignored) continue;
      const ditc_weight_spec *k = NULL; /* a tensor the variant accepts and does not load (a tied copy) */
      for (int j = 0; j < v->n_skipped && !k; j++)
        if (!strcmp(v->skipped[j].name, t->name)) k = &v->skipped[j];
      if (!k)
        return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' is not part of %s/%s (wrong checkpoint?)", c->shards[s],
                         SHOWN(nb, t->name), v->family, v->name);
      int same = t->ndim == k->ndim;
      for (int d = 0; same && d < k->ndim; d++) same = t->shape[d] == k->shape[d];
      if (!same) {
        load_shape_str(want, sizeof want, k->ndim, k->shape);
        load_shape_str(got, sizeof got, t->ndim, t->shape);
        return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has shape %s, %s/%s expects %s (it is not loaded, but "
                         "must match)", c->shards[s], SHOWN(nb, t->name), got, v->family, v->name, want);
      }
    }
  for (int i = 0; i < v->n_weights; i++) {
    const ditc_weight_spec *w = &v->weights[i];
    int s = 0;
    const st_tensor *t = ckpt_find(c, w->name, &s);
    if (!t)
      return ditc_fail(err, DITC_EINVAL, "%s: missing tensor '%s' (%s/%s needs %d tensors)", c->name,
                       SHOWN(nb, w->name), v->family, v->name, v->n_weights);
    const char *path = c->shards[s];
    if (!load_is_float(t->dtype))
      return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has dtype %s, expected a float tensor (F32, BF16 or F16)",
                       path, SHOWN(nb, w->name), st_dtype_name(t->dtype));
    int same = t->ndim == w->ndim;
    for (int k = 0; same && k < w->ndim; k++) same = t->shape[k] == w->shape[k];
    if (!same) {
      load_shape_str(want, sizeof want, w->ndim, w->shape);
      load_shape_str(got, sizeof got, t->ndim, t->shape);
      return ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has shape %s, %s/%s expects %s", path, SHOWN(nb, w->name),
                       got, v->family, v->name, want);
    }
  }
  return DITC_OK;
}

/* What convert_shard gets: the model, the opened checkpoint and the shard to convert. */
typedef struct {
  ditc_model *m;
  const ditc_ckpt *c;
  int shard;
} convert_ctx;

/* All checks passed: convert every weight of one shard (under st_guarded over that shard), each
 * value checked finite as the float it becomes. */
static ditc_status convert_shard(void *arg, ditc_err *err) {
  const convert_ctx *x = arg;
  const ditc_variant *v = x->m->v;
  for (int i = 0; i < v->n_weights; i++) {
    const ditc_weight_spec *w = &v->weights[i];
    int s = 0;
    const st_tensor *t = ckpt_find(x->c, w->name, &s);
    if (s != x->shard) continue;
    float *dst = x->m->weights + w->offset;
    for (int64_t k = 0; k < w->elems; k++) {
      const float y = load_elem_f32(t, k);
      if (!isfinite(y)) return load_not_finite(t, k, x->c->shards[s], err);
      dst[k] = y;
    }
  }
  return DITC_OK;
}

ditc_status model_check_weights(const ditc_variant *v, const char *path, ditc_err *err) {
  ditc_ckpt c;
  ditc_status s = ckpt_resolve(&c, path, err);
  if (s) return s;
  s = ckpt_open(&c, err);
  if (!s) s = check_manifest(v, &c, err);
  ckpt_close(&c);
  return s;
}

ditc_status model_load_weights(ditc_model *m, const char *path, ditc_err *err) {
  ditc_ckpt c;
  ditc_status s = ckpt_resolve(&c, path, err);
  if (s) return s;
  s = ckpt_open(&c, err);
  if (!s) s = check_manifest(m->v, &c, err);
  for (int i = 0; i < c.n_shards && !s; i++) {
    convert_ctx x = {m, &c, i};
    s = st_guarded(&c.files[i], convert_shard, &x, err);
  }
  ckpt_close(&c);
  return s;
}

/* Random weights: weight i is sample k of Philox stream seed * 1000003 + i (rng.h), scaled by
 * its fan-in; norm weights 1 + 0.1 z; a rotary frequency table its fixed function of the head
 * dim. Every value depends only on (seed, i, k), so the fill runs as chunks of RW_CHUNK elements
 * over all weights on any number of OpenMP threads and gives the same bits. */
enum { RW_CHUNK = 1 << 14 }; /* 16384 elements: a fixture matrix spans several, a 480p one hundreds */

/* Elements [k0, k0 + n) of weight w (index i) into dst[n]. */
static void random_chunk(float *dst, const ditc_weight_spec *w, int i, int64_t k0, int64_t n, uint64_t seed) {
  const size_t len = strlen(w->name);
  if (len >= 5 && strcmp(w->name + len - 5, "freqs") == 0) { /* rotary frequencies: a fixed function of the head dim */
    for (int64_t k = k0; k < k0 + n; k++) dst[k - k0] = 1.0f / powf(10000.0f, (float)(2 * k) / (float)(2 * w->elems));
    return;
  }
  rng_normal_range(dst, k0, n, seed * 1000003u + (uint64_t)i);
  const int norm = len >= 11 && strstr(w->name, "norm.weight") != NULL;
  int64_t fan_in = 1;
  for (int k = 1; k < w->ndim; k++) fan_in *= w->shape[k];
  const float std = w->ndim >= 2 ? fminf(0.2f, fmaxf(0.02f, 1.0f / sqrtf((float)fan_in))) : 0.02f;
  for (int64_t k = 0; k < n; k++) dst[k] = norm ? 1.0f + 0.1f * dst[k] : std * dst[k];
}

void model_random_weights(ditc_model *m, uint64_t seed) {
  const ditc_variant *v = m->v;
  int64_t *first = malloc(((size_t)v->n_weights + 1) * sizeof *first); /* [n_weights + 1]: first chunk of weight i */
  DITC_CHECK(first);
  first[0] = 0;
  for (int i = 0; i < v->n_weights; i++) first[i + 1] = first[i] + (v->weights[i].elems + RW_CHUNK - 1) / RW_CHUNK;
#pragma omp parallel for schedule(dynamic, 4) if (first[v->n_weights] > 1)
  for (int64_t c = 0; c < first[v->n_weights]; c++) {
    int lo = 0, hi = v->n_weights - 1; /* the weight whose chunks hold c: first[lo] <= c < first[lo + 1] */
    while (lo < hi) {
      const int mid = (lo + hi + 1) / 2;
      if (first[mid] <= c) lo = mid;
      else hi = mid - 1;
    }
    const ditc_weight_spec *w = &v->weights[lo];
    const int64_t k0 = (c - first[lo]) * RW_CHUNK, n = w->elems - k0 < RW_CHUNK ? w->elems - k0 : RW_CHUNK;
    random_chunk(m->weights + w->offset + k0, w, lo, k0, n, seed);
  }
  free(first);
}

ditc_phase_fn ditc_phase_find(const ditc_variant *v, const char *name) {
  for (int i = 0; i < v->n_phases; i++)
    if (!strcmp(v->phases[i].name, name)) return v->phases[i].run;
  return NULL;
}

const ditc_io *ditc_io_find(const ditc_variant *v, const char *name) {
  for (int i = 0; i < v->n_io; i++)
    if (!strcmp(v->io[i].name, name)) return &v->io[i];
  return NULL;
}

const char *ditc_progress_name(int stage) {
  static const char *const names[] = {"temporal chunk", "2-D decoder call", "tile"};
  return stage >= 0 && stage <= DITC_PROGRESS_TILE ? names[stage] : "decoder call";
}

st_dtype ditc_io_st_dtype(int dt) { return dt == DITC_DT_I32 ? ST_I32 : dt == DITC_DT_U8 ? ST_U8 : ST_F32; }
size_t ditc_io_elem_bytes(int dt) { return dt == DITC_DT_U8 ? 1 : 4; }

st_out_tensor model_io_tensor(const ditc_model *m, const char *io_name, const char *out_name) {
  const ditc_io *e = ditc_io_find(m->v, io_name);
  DITC_CHECK(e != NULL && e->ndim <= ST_MAX_DIMS);
  st_out_tensor t = {.name = out_name, .dtype = ditc_io_st_dtype(e->dtype), .ndim = e->ndim,
                     .data = m->arena + e->off};
  for (int i = 0; i < e->ndim; i++) t.shape[i] = e->shape[i];
  return t;
}


