/* network/main.c: the command line of a fixed-network binary (a generated variant of a family
 * whose kind is "network": no sampler, no cache tables). It loads the weights against the
 * manifest, reads every input of the io table from one safetensors file by name and shape, runs
 * the phases in their order once, and writes every output by name (plus intermediates with
 * --dump in a debug build); a decoder's frames_u8 also as video files (--video, runtime/video/).
 * Every user mistake is one line on stderr and a non-zero exit, and no output file is written
 * unless the whole run succeeded (the video's path is checked before the run). Not here:
 * sampling (denoiser/main.c), loaders (model.c). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef _OPENMP
#include <omp.h>
#endif

#include "checkpoint.h"
#include "dump.h"
#include "mains.h"
#include "graph_run.h"
#include "model.h"
#include "outfile.h"
#include "safetensors.h"
#include "video/video.h"

enum { MAX_OUT = 256 }; /* tensors one output file holds: outputs and dumped intermediates */

typedef struct {
  const char *weights, *in, *out, *dump, *video;
  int threads, fps, info, quiet, allow_nonfinite;
} net_options;

/* The io table, one line an entry: role, name, dtype, shape, dims, rows, value range. */
static void print_io(FILE *f, const ditc_variant *v) {
  for (int i = 0; i < v->n_io; i++) {
    const ditc_io *e = &v->io[i];
    fprintf(f, "  %-6s %-24s %s [", e->role == DITC_IO_INPUT ? "input" : e->role == DITC_IO_OUTPUT ? "output" : "state",
            e->name, e->dtype == DITC_DT_I32 ? "I32" : e->dtype == DITC_DT_U8 ? "U8" : "F32");
    for (int k = 0; k < e->ndim; k++) fprintf(f, "%s%lld", k ? ", " : "", (long long)e->shape[k]);
    fprintf(f, "] (%s)%s", e->dims, e->batched ? ", any number of rows" : "");
    if (e->dtype == DITC_DT_I32 && e->lo <= e->hi) fprintf(f, ", values %lld..%lld", (long long)e->lo, (long long)e->hi);
    fprintf(f, "\n");
  }
}

static void usage(FILE *f, const char *prog, const ditc_variant *v) {
  fprintf(f,
          "usage: %s --weights FILE --in FILE --out FILE [--video FILE.mp4|FILE.y4m] [--fps N]\n"
          "          [--dump NAMES|all] [--threads N] [--quiet] [--allow-nonfinite]\n"
          "       %s --info | --help\n"
          "%s/%s: a network (no sampler); one run reads the inputs below from --in by name, runs the phases\n"
          "once and writes the outputs to --out (a new safetensors file, never an input).\n"
          "  --weights FILE   safetensors checkpoint with upstream tensor names (checked against the manifest): a\n"
          "                   .safetensors file, a sharded one's model.safetensors.index.json, or a folder holding either\n"
          "  --in FILE        safetensors file with every input below (name, shape; F32: any float, I32: any int;\n"
          "                   batched inputs: any number of rows); also spelt --ids and --latents\n"
          "  --out FILE       safetensors output: the outputs below\n"
          "  --video FILE     a decoder's frames_u8 as a video, .mp4 (H.264; a build with FFmpeg) or .y4m; with\n"
          "                   several rows one file a row, FILE-ROW.mp4\n"
          "  --fps N          the video's frame rate (default the pipeline's)\n"
          "  --dump NAMES     in a debug build: also write intermediates by stable name (comma-separated, or all)\n"
          "  --threads N      CPU threads (results do not depend on it)\n"
          "  --quiet          no progress line per call\n"
          "  --allow-nonfinite  write the outputs even when they hold NaN/Inf (default: fail naming the first)\n"
          "  --info           print the io table, weights and arena, and exit\n",
          prog, prog, v->family, v->name);
  print_io(f, v);
}

static int fail_usage(const char *prog, const char *msg, const char *arg) {
  fprintf(stderr, "%s: error: %s%s%s (see --help)\n", prog, msg, arg ? " " : "", arg ? arg : "");
  return 2;
}

/* Parses argv into o; returns 0, or the exit status of a usage error (or of --help). */
static int parse(int argc, char **argv, net_options *o, const ditc_variant *v) {
  memset(o, 0, sizeof *o);
  struct {
    const char *name, **dst;
  } strs[] = {{"--weights", &o->weights}, {"--in", &o->in}, {"--out", &o->out}, {"--dump", &o->dump},
               {"--video", &o->video}};
  enum { NSTR = sizeof strs / sizeof strs[0] };
  int seen_in = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout, argv[0], v);
      exit(0);
    }
    int *flag = !strcmp(a, "--info") ? &o->info : !strcmp(a, "--quiet") ? &o->quiet
              : !strcmp(a, "--allow-nonfinite") ? &o->allow_nonfinite : NULL;
    if (flag) {
      *flag = 1;
      continue;
    }
    /* a text encoder's inputs are token ids, a decoder's latents */
    if (!strcmp(a, "--ids") || !strcmp(a, "--latents")) a = "--in";
    if (!strcmp(a, "--in") && seen_in++) return fail_usage(argv[0], "given twice: --in/--ids/--latents", NULL);
    int k = 0;
    while (k < NSTR && strcmp(a, strs[k].name)) k++;
    if (k == NSTR && strcmp(a, "--threads") && strcmp(a, "--fps")) return fail_usage(argv[0], "unknown argument", a);
    if (i + 1 >= argc || !strncmp(argv[i + 1], "--", 2)) return fail_usage(argv[0], "a value is missing after", a);
    const char *val = argv[++i];
    if (k < NSTR) {
      if (*strs[k].dst) return fail_usage(argv[0], "given twice:", a);
      *strs[k].dst = val;
      continue;
    }
    const int fps = !strcmp(a, "--fps");
    const long max = fps ? VIDEO_MAX_FPS : 4096;
    char *end;
    const long n = strtol(val, &end, 10);
    if (*end || n < 1 || n > max)
      return fail_usage(argv[0], fps ? "--fps takes an integer in 1..1000, got" : "--threads takes an integer in 1..4096, got",
                        val);
    *(fps ? &o->fps : &o->threads) = (int)n;
  }
  if (o->info) return 0;
  if (!o->weights) return fail_usage(argv[0], "--weights FILE is required", NULL);
  if (!o->in) return fail_usage(argv[0], "--in FILE is required", NULL);
  if (!o->out) return fail_usage(argv[0], "--out FILE is required", NULL);
  if (o->fps && !o->video) return fail_usage(argv[0], "--fps applies to --video", NULL);
  return 0;
}

static void info(const ditc_variant *v) {
  printf("network %s/%s, ABI %d, inputs hash %s, storage %s\n", v->family, v->name, v->abi_version,
         v->inputs_hash, v->storage);
  printf("arena %lld bytes, %d weight tensors (%lld elements), %d phase%s:", (long long)v->arena_bytes, v->n_weights,
         (long long)v->weight_elems, v->n_phases, v->n_phases == 1 ? "" : "s");
  for (int i = 0; i < v->n_phases; i++) printf(" %s", v->phases[i].name);
  printf("\nio:\n");
  print_io(stdout, v);
}

/* The first output element that is not finite, as an error naming the output, row and element. */
static ditc_status first_nonfinite(const graph_outputs *res, ditc_err *err) {
  for (int i = 0; i < res->n; i++) {
    const st_out_tensor *t = &res->t[i];
    if (t->dtype != ST_F32) continue;
    int64_t n = 1;
    for (int k = 0; k < t->ndim; k++) n *= t->shape[k];
    const int64_t row = t->ndim > 0 && t->shape[0] > 0 ? n / t->shape[0] : n;
    const float *x = t->data;
    for (int64_t k = 0; k < n; k++)
      if (!isfinite(x[k]))
        return ditc_fail(err, DITC_EINVAL, "output '%s' holds %g at row %lld, element %lld (the inputs or weights "
                         "overflow the network); --allow-nonfinite writes it anyway", t->name, x[k],
                         (long long)(k / row), (long long)(k % row));
  }
  return DITC_OK;
}

/* Writes frames_u8 [rows, F, H, W, 3] of res as one video a row. */
static ditc_status write_videos(const net_options *o, const graph_outputs *res, int fps, ditc_err *err) {
  for (int i = 0; i < res->n; i++) {
    const st_out_tensor *t = &res->t[i];
    if (strcmp(t->name, "frames_u8")) continue;
    const int64_t F = t->shape[1], H = t->shape[2], W = t->shape[3], per = F * H * W * 3;
    for (int64_t r = 0; r < t->shape[0]; r++) {
      char path[4096];
      if (!video_row_path(path, sizeof path, o->video, r, t->shape[0]))
        return ditc_fail(err, DITC_EINVAL, "--video: the path is longer than %zu bytes", sizeof path - 1);
      ditc_status s = video_write(path, (const uint8_t *)t->data + r * per, F, H, W, fps, err);
      if (s) return s;
    }
  }
  return DITC_OK;
}

/* A decoder's progress line before each of its decoder calls (its progress ops). */
static void net_progress(void *ctx, int stage, int64_t i, int64_t n) {
  const ditc_variant *v = ctx;
  fprintf(stderr, "%s/%s: %s %lld of %lld\n", v->family, v->name, ditc_progress_name(stage), (long long)i + 1,
          (long long)n);
}

static int error_exit(const char *prog, const ditc_err *err, ditc_model *m) {
  fprintf(stderr, "%s: error: %s\n", prog, err->msg);
  if (m) model_free(m);
  return 1;
}

int network_main(int argc, char **argv) {
  const char *prog = argv[0];
  const ditc_variant *v = ditc_variant_get();
  DITC_CHECK(v->denoiser == NULL); /* a denoiser links denoiser/main.c */
  net_options o;
  const int rc = parse(argc, argv, &o, v);
  if (rc) return rc;
  if (o.info) {
    info(v);
    return 0;
  }
#ifdef _OPENMP
  if (o.threads > 0) omp_set_num_threads(o.threads);
#endif
  ditc_err err = {{0}};
  const out_input inputs[] = {{"--weights", o.weights}, {"--in", o.in}};
  if (ckpt_out_check("--out", o.out, inputs, 2, "--weights", o.weights, 65536, &err))
    return error_exit(prog, &err, NULL); /* the shards of --weights are inputs too */
  const ditc_io *frames = ditc_io_find(v, "frames_u8");
  const int fps = o.fps ? o.fps : v->video_fps;
  if (o.video) { /* before the run: the format, the size, the path (a video per row: row 0's stands for all) */
    if (!frames || v->video_fps <= 0 || frames->ndim != 5) {
      ditc_fail(&err, DITC_EINVAL, "--video: %s/%s makes no video (no frames_u8 output)", v->family, v->name);
      return error_exit(prog, &err, NULL);
    }
    const out_input vin[] = {{"--weights", o.weights}, {"--in", o.in}, {"--out", o.out}};
    if (video_check("--video", o.video, vin, 3, frames->shape[1], frames->shape[2], frames->shape[3], fps, &err))
      return error_exit(prog, &err, NULL);
  }
  ditc_model m;
  if (model_init(&m, v, &err)) return error_exit(prog, &err, NULL);
  if (model_load_weights(&m, o.weights, &err) || model_attach(&m, &err)) return error_exit(prog, &err, &m);
  struct ditc_dump *d = o.dump ? dump_new(o.dump) : NULL;
  m.ex.dump = d;
  if (!o.quiet) m.ex.progress = net_progress, m.ex.progress_ctx = (void *)v;
  graph_outputs res;
  if (graph_run_file(&m, o.in, !o.quiet, &res, &err)) {
    dump_free(d);
    return error_exit(prog, &err, &m);
  }
  ditc_status s = o.allow_nonfinite ? DITC_OK : first_nonfinite(&res, &err);
  st_out_tensor t[MAX_OUT];
  int n = 0;
  for (int i = 0; i < res.n && n < MAX_OUT; i++) t[n++] = res.t[i];
  if (d) n += dump_tensors(d, "", t + n, MAX_OUT - n);
  if (!s && d && n == res.n)
    s = ditc_fail(&err, DITC_EINVAL, "--dump %s captured nothing: unknown name, or a binary built without "
                  "DITC_DUMP_ENABLED (a debug build)", o.dump);
  if (!s) s = st_write(o.out, t, n, &err);
  if (!s && o.video) s = write_videos(&o, &res, fps, &err);
  dump_free(d);
  graph_outputs_free(&res);
  if (s) return error_exit(prog, &err, &m);
  model_free(&m);
  return 0;
}
