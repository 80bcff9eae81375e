/* video_main.c: bin/ditc-video, one row of a VAE decoder's frames as a video file.
 *   ditc-video --in FRAMES.safetensors [--tensor frames_u8] [--row N] --fps N --out FILE.mp4|FILE.y4m
 * reads the U8 tensor (frames_u8 by default) of shape [B, F, H, W, 3] (or [F, H, W, 3], one row)
 * holding RGB frames, and writes row N (default 0) through video.h (.y4m always; .mp4 where the
 * build has FFmpeg). Everything is checked before the frames are read: the tensor present, U8, of
 * rank 5 or 4 with 3 channels last, the row inside B, the output's format, size and path
 * (video_check). Bad input: one line naming the file and tensor, exit status 1, no output; usage
 * mistakes exit 2. Silent on success. Not here: the writers (video.c, y4m.c, mp4.c). */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"
#include "safetensors.h"
#include "video/video.h"

/* ---- flags ------------------------------------------------------------------------------------ */

typedef struct {
  const char *in, *tensor, *out;
  long long row, fps; /* -1: not given */
} video_options;

typedef enum { F_STR, F_INT } flag_kind;

#define OFF(f) offsetof(video_options, f)
static const struct {
  const char *name;
  flag_kind kind;
  size_t off;
  long long lo, hi; /* F_INT: the accepted range */
  const char *arg, *help;
} FLAGS[] = {
    {"--in", F_STR, OFF(in), 0, 0, "FILE", "a safetensors file with the frames (e.g. a VAE decoder's output)"},
    {"--tensor", F_STR, OFF(tensor), 0, 0, "NAME", "the U8 tensor [B, F, H, W, 3] or [F, H, W, 3] of RGB frames "
                                                   "(default frames_u8)"},
    {"--row", F_INT, OFF(row), 0, 2147483647, "N", "which row of B to write (default 0)"},
    {"--fps", F_INT, OFF(fps), 1, VIDEO_MAX_FPS, "N", "frames per second, 1..1000"},
    {"--out", F_STR, OFF(out), 0, 0, "FILE", "the video: .mp4 (H.264, needs FFmpeg in the build) or .y4m "
                                             "(YUV4MPEG2, always)"},
};
#define N_FLAGS (int)(sizeof FLAGS / sizeof FLAGS[0])

static void usage(FILE *f, const char *prog) {
  fprintf(f, "%s: one row of RGB frames (uint8) from a safetensors file as a video file\n", prog);
  fprintf(f, "usage: %s --in FRAMES.safetensors [--tensor frames_u8] [--row N] --fps N --out FILE.mp4|FILE.y4m\n"
             ".mp4: H.264 (libx264, CRF 23, yuv420p BT.709, +faststart), even height and width; this build %s.\n"
             ".y4m: YUV4MPEG2, BT.601 full-range 4:2:0, any size. Exit status: 0 done, 1 bad input (one line\n"
             "naming the file and tensor, no output), 2 usage.\nflags:\n",
          prog, video_mp4_available(NULL) ? "writes .mp4" : "has no FFmpeg and refuses .mp4");
  for (int i = 0; i < N_FLAGS; i++) {
    char lhs[40];
    snprintf(lhs, sizeof lhs, "%s %s", FLAGS[i].name, FLAGS[i].arg);
    fprintf(f, "  %-16s %s\n", lhs, FLAGS[i].help);
  }
  fprintf(f, "  %-16s %s\n", "--help", "this text (also -h)");
}

static int fail_usage(const char *prog, const char *fmt, const char *arg) {
  fprintf(stderr, "%s: error: ", prog);
  fprintf(stderr, fmt, arg);
  fprintf(stderr, " (see --help)\n");
  return 2;
}

/* Parses argv into o; returns 0, or the exit status (-1: --help printed). */
static int parse(int argc, char **argv, video_options *o) {
  memset(o, 0, sizeof *o);
  o->row = o->fps = -1;
  int seen[N_FLAGS] = {0};
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage(stdout, argv[0]);
      return -1;
    }
    int k = 0;
    while (k < N_FLAGS && strcmp(a, FLAGS[k].name) != 0) k++;
    if (k == N_FLAGS) return fail_usage(argv[0], "unknown argument '%s'", a);
    if (seen[k]++) return fail_usage(argv[0], "%s is given twice", a);
    if (i + 1 >= argc) return fail_usage(argv[0], "%s needs a value", a);
    const char *val = argv[++i];
    if (val[0] == '-' && val[1] == '-') {
      fprintf(stderr, "%s: error: %s needs a value, got the flag '%s' (see --help)\n", argv[0], a, val);
      return 2;
    }
    char *slot = (char *)o + FLAGS[k].off;
    if (FLAGS[k].kind == F_STR) {
      *(const char **)(void *)slot = val;
      continue;
    }
    long long n = 0;
    const char *c = val;
    for (; *c >= '0' && *c <= '9' && n <= FLAGS[k].hi; c++) n = n * 10 + (*c - '0');
    if (!*val || *c || n < FLAGS[k].lo || n > FLAGS[k].hi) {
      fprintf(stderr, "%s: error: %s needs an integer in %lld..%lld (digits only), got '%s' (see --help)\n",
              argv[0], a, FLAGS[k].lo, FLAGS[k].hi, val);
      return 2;
    }
    *(long long *)(void *)slot = n;
  }
  if (!o->in || !o->out || o->fps < 0) return fail_usage(argv[0], "%s", "--in, --fps and --out are required");
  if (!o->tensor) o->tensor = "frames_u8";
  return 0;
}

/* ---- the frames ------------------------------------------------------------------------------- */

/* "[a, b, c]" into buf[n]. */
static void shape_str(char *buf, size_t n, int ndim, const int64_t *shape) {
  size_t o = (size_t)snprintf(buf, n, "[");
  for (int i = 0; i < ndim && o < n; i++)
    o += (size_t)snprintf(buf + o, n - o, "%s%lld", i ? ", " : "", (long long)shape[i]);
  if (o < n) snprintf(buf + o, n - o, "]");
}

/* The copy of one row under st_guarded (the file may shrink under the mapping). */
typedef struct {
  const st_tensor *t;
  size_t offset, bytes;
  uint8_t *dst;
} row_copy;

static ditc_status copy_row(void *ctx, ditc_err *err) {
  (void)err;
  const row_copy *c = ctx;
  memcpy(c->dst, c->t->data + c->offset, c->bytes);
  return DITC_OK;
}

static ditc_status run(const video_options *o, ditc_err *err) {
  st_file f;
  ditc_status st = st_open(&f, o->in, err);
  if (st) return st;
  char nb[DITC_SHOWN_MAX], got[160];
  const st_tensor *t = st_find(&f, o->tensor);
  if (!t) {
    st = ditc_fail(err, DITC_EINVAL, "%s: missing tensor '%s' (--tensor NAME names another)", o->in,
                   ditc_shown(nb, sizeof nb, o->tensor, strlen(o->tensor)));
    goto done;
  }
  ditc_shown(nb, sizeof nb, t->name, strlen(t->name));
  shape_str(got, sizeof got, t->ndim, t->shape);
  if (t->dtype != ST_U8) {
    st = ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has dtype %s, expected U8 (RGB frames, 0..255)", o->in, nb,
                   st_dtype_name(t->dtype));
    goto done;
  }
  if ((t->ndim != 5 && t->ndim != 4) || t->shape[t->ndim - 1] != 3) {
    st = ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has shape %s, expected [B, F, H, W, 3] or [F, H, W, 3] (RGB)",
                   o->in, nb, got);
    goto done;
  }
  const int64_t B = t->ndim == 5 ? t->shape[0] : 1, row = o->row < 0 ? 0 : o->row;
  const int64_t F = t->shape[t->ndim - 4], H = t->shape[t->ndim - 3], W = t->shape[t->ndim - 2];
  if (row >= B) {
    st = t->ndim == 4 ? ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has shape %s, one row: --row %lld is not in it",
                                  o->in, nb, got, (long long)row)
                      : ditc_fail(err, DITC_EINVAL, "%s: tensor '%s' has shape %s: --row %lld is not in 0..%lld",
                                  o->in, nb, got, (long long)row, (long long)B - 1);
    goto done;
  }
  const out_input inputs[1] = {{"--in", o->in}};
  if ((st = video_check("--out", o->out, inputs, 1, F, H, W, (int)o->fps, err))) goto done;
  row_copy c = {.t = t, .offset = (size_t)(row * F * H * W * 3), .bytes = (size_t)(F * H * W * 3)};
  if (!(c.dst = malloc(c.bytes))) {
    st = ditc_fail(err, DITC_ENOMEM, "%s: out of memory for %lld frames of %lld x %lld", o->in, (long long)F,
                   (long long)H, (long long)W);
    goto done;
  }
  st = st_guarded(&f, copy_row, &c, err);
  if (!st) st = video_write(o->out, c.dst, F, H, W, (int)o->fps, err);
  free(c.dst);
done:
  st_close(&f);
  return st;
}

int main(int argc, char **argv) {
  video_options o;
  const int pr = parse(argc, argv, &o);
  if (pr) return pr < 0 ? 0 : pr;
  ditc_err err;
  if (run(&o, &err) != DITC_OK) {
    fprintf(stderr, "%s: error: %s\n", argv[0], err.msg);
    return 1;
  }
  return 0;
}
