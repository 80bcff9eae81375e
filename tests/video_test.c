/* video_test.c: tests of runtime/video/ (video.h) on small synthetic frames; CPU only.
 *   video_test              the writers through the API: .y4m header, frame count, size and a
 *                           decode back to RGB (here, in C) within stated bounds; .mp4 decoded with
 *                           libavformat/libavcodec (frame count, size, fps, tags, index first, PSNR);
 *                           refusals (one line naming the path, nothing left behind)
 *   video_test make OUT NAME U8|F32 D0 [D1 ...]
 *                           a safetensors file with one tensor of that shape for the command line's
 *                           tests (U8: the block pattern below, F32: zeros)
 *   video_test check OUT ROW F H W FPS
 *                           OUT (.y4m or .mp4, by bin/ditc-video) has F frames of H x W at FPS; a
 *                           .y4m decodes to row ROW of the block pattern within 1 (ROW "-": frames
 *                           of another source, not compared)
 * Prints "ok - ..." / "not ok - ...: details" per check, then "N passed, N failed"; exits 1 on a
 * failure. Built with FFmpeg's flags when the build has FFmpeg; without, the .mp4 checks print
 * "# skipped: ..." (tests/video_test.sh checks the refusal with build/tests/ditc-video-noffmpeg).
 * Not a benchmark (video_bench.c). */
#include <dirent.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "safetensors.h"
#include "video/video.h"

#include "video_decode.h"

static int n_passed, n_failed;
static char tmp_dir[64];

/* ---- helpers ---------------------------------------------------------------------------------- */

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

static const char *in_tmp(char *buf, const char *name) {
  snprintf(buf, 256, "%s/%s", tmp_dir, name);
  return buf;
}

/* Entries of tmp_dir. */
static int dir_entries(void) {
  DIR *d = opendir(tmp_dir);
  DITC_CHECK(d);
  int n = 0;
  for (struct dirent *e; (e = readdir(d));) n += strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
  closedir(d);
  return n;
}

/* The block pattern: constant on 2x2 blocks (so 4:2:0 loses nothing but rounding), different for
 * every row b, frame f and block, saturated colours included. */
static uint8_t block_px(int64_t b, int64_t f, int64_t y, int64_t x, int c) {
  const int64_t by = y / 2, bx = x / 2;
  return (uint8_t)((37 * bx + 59 * by + 83 * f + 101 * b + 71 * c + ((bx * by) ^ c) * 13) % 256);
}

/* Frames [F, H, W, 3] of row b of the block pattern (kind 0), of a smooth moving gradient (kind 1:
 * every channel changes by at most 2 per pixel along x and y, where W, H >= 64) or of one colour
 * (kind 2). */
static uint8_t *make_frames(int kind, int64_t b, int64_t F, int64_t H, int64_t W) {
  uint8_t *p = malloc((size_t)(F * H * W * 3));
  DITC_CHECK(p);
  for (int64_t f = 0; f < F; f++)
    for (int64_t y = 0; y < H; y++)
      for (int64_t x = 0; x < W; x++) {
        uint8_t *q = p + ((f * H + y) * W + x) * 3;
        if (kind == 0) {
          for (int c = 0; c < 3; c++) q[c] = block_px(b, f, y, x, c);
        } else if (kind == 2) {
          q[0] = 200, q[1] = 100, q[2] = 50;
        } else {
          q[0] = (uint8_t)(40 + 2 * x * 63 / (W > 1 ? W - 1 : 1) + f);
          q[1] = (uint8_t)(30 + 2 * y * 63 / (H > 1 ? H - 1 : 1) + 2 * f);
          q[2] = (uint8_t)(220 - x * 63 / (W > 1 ? W - 1 : 1) - y * 63 / (H > 1 ? H - 1 : 1));
        }
      }
  return p;
}

/* ---- .y4m ------------------------------------------------------------------------------------- */

/* Writes frames, decodes the file and compares: header fields, size, frame count, max error. */
static void y4m_case(const char *desc, int kind, int64_t F, int64_t H, int64_t W, int fps, int bound) {
  char path[256], line[512];
  uint8_t *in = make_frames(kind, 0, F, H, W);
  ditc_err err = {{0}};
  ditc_status st = video_write(in_tmp(path, "t.y4m"), in, F, H, W, fps, &err);
  snprintf(line, sizeof line, "y4m %s: video_write", desc);
  if (!check(st == DITC_OK && dir_entries() == 1, line, "status %d: %s", st, err.msg)) goto done;
  y4m_video v;
  snprintf(line, sizeof line, "y4m %s: header W%lld H%lld F%d:1 Ip A1:1 C420jpeg XCOLORRANGE=FULL, %lld frames, "
           "%lld bytes", desc, (long long)W, (long long)H, fps, (long long)F, (long long)video_y4m_size(F, H, W, fps));
  const char *why = y4m_read(path, &v);
  check(!why && v.W == W && v.H == H && v.fps_num == fps && v.fps_den == 1 && v.F == F && v.full_range &&
            v.bytes == video_y4m_size(F, H, W, fps),
        line, "%s (W %lld H %lld F%d:%d frames %lld full %d bytes %lld)", why ? why : "fields differ",
        (long long)v.W, (long long)v.H, v.fps_num, v.fps_den, (long long)v.F, v.full_range, (long long)v.bytes);
  if (!why && v.W == W && v.H == H && v.F == F) {
    uint8_t *rgb = y4m_to_rgb(&v);
    video_cmp cmp = video_compare(in, rgb, F * H * W * 3);
    snprintf(line, sizeof line, "y4m %s: back to RGB within %d (max error %d at byte %lld, PSNR %.1f dB)", desc,
             bound, cmp.max_err, (long long)cmp.worst, cmp.psnr);
    check(cmp.max_err <= bound, line, "input %d, decoded %d", in[cmp.worst], rgb[cmp.worst]);
    free(rgb);
  }
  y4m_free(&v);
  unlink(path);
done:
  free(in);
}

static void test_y4m(void) {
  /* block-constant colours: 4:2:0 loses nothing, so only rounding is left: Y, Cb, Cr each within
   * 0.5 of exact give an RGB value within 0.5 * (1 + 1.772) = 1.39 (B; R 1.20, G 1.03), and an
   * integer within 1.89 of the input's integer is within 1 */
  y4m_case("block colours 12x8, 3 frames", 0, 3, 8, 12, 24, 1);
  /* odd width and height: the last column and row fill their chroma block by repetition (an
   * implementation averaging with zeros or reading past the row misses by tens) */
  y4m_case("block colours 7x5 (odd), 2 frames", 0, 2, 5, 7, 30, 1);
  y4m_case("one pixel, 1 frame", 0, 1, 1, 1, 1, 1);
  /* a smooth gradient, every channel changing by at most 2 per pixel: a pixel's Cb and Cr are
   * within 0.5 * 2 + 0.5 * 2 = 2 of its block's mean (the weights of each sum to at most 1 in
   * absolute value), which moves RGB by at most 1.772 * 2 = 3.54; with the rounding's 1.89,
   * 5.43: within 5 */
  y4m_case("smooth gradient 64x64, 24 frames", 1, 24, 64, 64, 24, 5);
  /* writing again replaces the file atomically and leaves no temporary file */
  char path[256];
  uint8_t *a = make_frames(0, 0, 1, 4, 4), *b = make_frames(0, 1, 2, 4, 4);
  ditc_err err = {{0}};
  int ok = video_write(in_tmp(path, "again.y4m"), a, 1, 4, 4, 24, &err) == DITC_OK &&
           video_write(path, b, 2, 4, 4, 24, &err) == DITC_OK;
  y4m_video v;
  const char *why = ok ? y4m_read(path, &v) : err.msg;
  check(!why && v.F == 2 && dir_entries() == 1, "y4m: writing over an existing video replaces it whole",
        "%s", why ? why : "frames or files differ");
  if (!why) y4m_free(&v);
  unlink(path);
  free(a);
  free(b);
}

/* ---- .mp4 ------------------------------------------------------------------------------------- */

static void mp4_case(const char *desc, int kind, int64_t F, int64_t H, int64_t W, int fps, double min_psnr) {
  char path[256], line[512];
  uint8_t *in = make_frames(kind, 0, F, H, W);
  ditc_err err = {{0}};
  ditc_status st = video_write(in_tmp(path, "t.mp4"), in, F, H, W, fps, &err);
  snprintf(line, sizeof line, "mp4 %s: video_write", desc);
  if (!check(st == DITC_OK && dir_entries() == 1, line, "status %d: %s", st, err.msg)) goto done;
  mp4_video v;
  const char *why = mp4_read(path, &v);
  snprintf(line, sizeof line, "mp4 %s: H.264 High yuv420p, %lld frames of %lldx%lld at %d/1 fps, %lld/%d s long",
           desc, (long long)F, (long long)W, (long long)H, fps, (long long)F, fps);
  check(!why && v.h264 && v.high && v.yuv420p && v.F == F && v.W == W && v.H == H && v.fps_num == fps &&
            v.fps_den == 1 && v.duration_num * fps == F * v.duration_den,
        line, "%s (h264 %d high %d yuv420p %d frames %lld %lldx%lld fps %d/%d duration %lld/%lld s)",
        why ? why : "fields differ", v.h264, v.high, v.yuv420p, (long long)v.F, (long long)v.W, (long long)v.H,
        v.fps_num, v.fps_den, (long long)v.duration_num, (long long)v.duration_den);
  if (!why) {
    check(v.bt709 && v.limited_range, "mp4: tagged BT.709 (matrix, primaries, transfer), limited range",
          "matrix/primaries/transfer bt709 %d, limited range %d", v.bt709, v.limited_range);
    check(v.moov_first, "mp4: the index (moov) comes before the data (mdat): +faststart, playable while loading",
          "moov after mdat");
  }
  if (!why && v.F == F && v.W == W && v.H == H) {
    video_cmp cmp = video_compare(in, v.rgb, F * H * W * 3);
    /* the decoder side converts with the BT.709 limited-range formulas (video_test_decode.h), so
     * an encoder using another matrix or range shows as a bias and a lower PSNR */
    snprintf(line, sizeof line, "mp4 %s: PSNR %.1f dB >= %.0f, mean error per channel %+.2f %+.2f %+.2f within 1.5",
             desc, cmp.psnr, min_psnr, cmp.bias[0], cmp.bias[1], cmp.bias[2]);
    check(cmp.psnr >= min_psnr && fabs(cmp.bias[0]) <= 1.5 && fabs(cmp.bias[1]) <= 1.5 && fabs(cmp.bias[2]) <= 1.5,
          line, "max error %d", cmp.max_err);
  }
  if (!why) mp4_free(&v);
  unlink(path);
done:
  free(in);
}

static void test_mp4(void) {
  ditc_err why;
  if (!video_mp4_available(&why)) {
    printf("# skipped: the .mp4 checks: %s\n", why.msg);
    return;
  }
  /* a smooth moving gradient: x264 at CRF 23 keeps it far above 30 dB (4:2:0 and the limited
   * range's rounding alone cost little on it) */
  mp4_case("gradient 128x72, 24 frames", 1, 24, 72, 128, 24, 30.0);
  mp4_case("gradient 64x64, 5 frames at 8 fps", 1, 5, 64, 64, 8, 30.0);
  /* the smallest size (x264 codes a 16x16 macroblock and crops it): one colour, which survives
   * (a gradient across 2 pixels is no smooth content: 4:2:0 alone would lose it) */
  mp4_case("one frame of 2x2, one colour", 2, 1, 2, 2, 30, 30.0);
}

/* ---- refusals --------------------------------------------------------------------------------- */

/* video_write(path) fails with one line that starts with want_start and holds keyword, and leaves
 * tmp_dir as it was. */
static void expect_refusal(const char *desc, const char *path, int64_t F, int64_t H, int64_t W, int fps,
                           const char *want_start, const char *keyword) {
  uint8_t *in = make_frames(0, 0, F > 0 ? F : 1, H > 0 ? H : 1, W > 0 ? W : 1);
  const int before = dir_entries();
  ditc_err err = {{0}};
  ditc_status st = video_write(path, in, F, H, W, fps, &err);
  char line[8192];
  snprintf(line, sizeof line, "refuses %s [%s]", desc, err.msg);
  check(st != DITC_OK && !strncmp(err.msg, want_start, strlen(want_start)) && strstr(err.msg, keyword) &&
            !strchr(err.msg, '\n') && dir_entries() == before,
        line, "status %d, %d files before, %d after", st, before, dir_entries());
  free(in);
}

static void test_refusals(void) {
  char p[256], dir[256];
  in_tmp(p, "x.avi");
  expect_refusal("an unknown extension", p, 1, 2, 2, 24, p, "supported: .mp4 (H.264) and .y4m (YUV4MPEG2)");
  expect_refusal("a path without an extension", in_tmp(p, "video"), 1, 2, 2, 24, p, "no file extension");
  expect_refusal("zero frames", in_tmp(p, "z.y4m"), 0, 2, 2, 24, p, "no frames to write (F = 0)");
  expect_refusal("a frame rate of 0", in_tmp(p, "r.y4m"), 1, 2, 2, 0, p, "frame rate of 0 fps");
  expect_refusal("a zero width", in_tmp(p, "w.y4m"), 1, 2, 0, 24, p, "each side must be in 1..16384");
  expect_refusal("a missing folder", in_tmp(p, "no/such/dir/x.y4m"), 1, 2, 2, 24, p, "cannot create");
  DITC_CHECK(mkdir(in_tmp(dir, "a_dir.y4m"), 0755) == 0);
  expect_refusal("a path that is a directory", dir, 1, 2, 2, 24, dir, "is a directory");
  rmdir(dir);
  ditc_err why;
  if (video_mp4_available(&why)) {
    expect_refusal("an odd width for .mp4", in_tmp(p, "odd.mp4"), 2, 4, 5, 24, p, "even height and width");
    expect_refusal("an odd height for .mp4", in_tmp(p, "odd.mp4"), 2, 3, 4, 24, p, "3 x 4 (H x W)");
    expect_refusal(".mp4 in a missing folder", in_tmp(p, "no/such/dir/x.mp4"), 1, 2, 2, 24, p, "cannot create");
  } else {
    expect_refusal(".mp4 in a build without FFmpeg", in_tmp(p, "x.mp4"), 1, 2, 2, 24, p,
                   "libavformat-dev libavcodec-dev libswscale-dev libavutil-dev");
  }
  /* video_check: the same refusals before a run, with the flag; and an output that is an input */
  ditc_err err = {{0}};
  const out_input inputs[1] = {{"--in", in_tmp(dir, "frames.y4m")}};
  FILE *fp = fopen(dir, "wb");
  DITC_CHECK(fp && fclose(fp) == 0);
  ditc_status st = video_check("--out", dir, inputs, 1, 1, 2, 2, 24, &err);
  check(st && strstr(err.msg, "--out") && strstr(err.msg, "same file as --in"),
        "video_check refuses an output that is an input", "status %d: %s", st, err.msg);
  unlink(dir);
  st = video_check("--out", in_tmp(p, "x.gif"), NULL, 0, 1, 2, 2, 24, &err);
  check(st && !strncmp(err.msg, "--out ", 6) && strstr(err.msg, "unknown video file extension '.gif'"),
        "video_check names the flag and the extension", "status %d: %s", st, err.msg);
  st = video_check("--out", in_tmp(p, "ok.Y4M"), NULL, 0, 3, 5, 7, 24, &err);
  check(!st && dir_entries() == 0, "video_check passes a good .Y4M (any case) and leaves nothing", "%s", err.msg);
}

/* ---- the command line's helpers --------------------------------------------------------------- */

static int make_file(int argc, char **argv) {
  if (argc < 6) return 2;
  st_out_tensor t = {.name = argv[3], .dtype = !strcmp(argv[4], "U8") ? ST_U8 : ST_F32, .ndim = argc - 5};
  int64_t numel = 1;
  for (int i = 0; i < t.ndim; i++) numel *= t.shape[i] = atoll(argv[5 + i]);
  uint8_t *data = calloc((size_t)numel * 4 + 1, 1);
  DITC_CHECK(data);
  if (t.dtype == ST_U8 && t.ndim >= 4) { /* [..., F, H, W, C]: the block pattern per row */
    const int64_t C = t.shape[t.ndim - 1], W = t.shape[t.ndim - 2], H = t.shape[t.ndim - 3], F = t.shape[t.ndim - 4];
    for (int64_t i = 0; i < numel; i++) {
      int64_t r = i;
      const int c = (int)(r % C);
      r /= C;
      const int64_t x = r % W, y = (r /= W) % H, f = (r /= H) % F, b = r / F;
      data[i] = block_px(b, f, y, x, c);
    }
  }
  t.data = data;
  ditc_err err;
  ditc_status st = st_write(argv[2], &t, 1, &err);
  if (st) fprintf(stderr, "%s\n", err.msg);
  free(data);
  return st ? 1 : 0;
}

static int check_file(char **argv) {
  const char *path = argv[2], *slash = strrchr(path, '/'), *name = slash ? slash + 1 : path;
  const int64_t row = atoll(argv[3]), F = atoll(argv[4]), H = atoll(argv[5]), W = atoll(argv[6]);
  const int fps = atoi(argv[7]);
  const size_t n = strlen(path);
  char line[512];
  snprintf(line, sizeof line, "%s: %lld frames of %lldx%lld at %d fps", name, (long long)F, (long long)W, (long long)H,
           fps);
  if (n > 4 && !strcmp(path + n - 4, ".mp4")) {
    mp4_video v;
    const char *why = mp4_read(path, &v);
    check(!why && v.F == F && v.W == W && v.H == H && v.fps_num == fps && v.fps_den == 1, line, "%s",
          why ? why : "fields differ");
    if (!why) mp4_free(&v);
  } else {
    y4m_video v;
    const char *why = y4m_read(path, &v);
    if (check(!why && v.F == F && v.W == W && v.H == H && v.fps_num == fps && v.fps_den == 1, line, "%s",
              why ? why : "fields differ") && strcmp(argv[3], "-") != 0) {
      uint8_t *in = make_frames(0, row, F, H, W), *rgb = y4m_to_rgb(&v);
      video_cmp cmp = video_compare(in, rgb, F * H * W * 3);
      snprintf(line, sizeof line, "%s: row %lld of the input, within 1 (max error %d)", name, (long long)row,
               cmp.max_err);
      check(cmp.max_err <= 1, line, "byte %lld: input %d, decoded %d", (long long)cmp.worst, in[cmp.worst],
            rgb[cmp.worst]);
      free(in);
      free(rgb);
    }
    if (!why) y4m_free(&v);
  }
  return n_failed ? 1 : 0;
}

int main(int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "make")) return make_file(argc, argv);
  if (argc == 8 && !strcmp(argv[1], "check")) return check_file(argv);
  if (argc != 1) {
    fprintf(stderr, "usage: video_test | video_test make OUT NAME U8|F32 D0 [D1 ...] | video_test check OUT ROW F H W FPS\n");
    return 2;
  }
  strcpy(tmp_dir, "/tmp/video_test.XXXXXX");
  DITC_CHECK(mkdtemp(tmp_dir));
  test_y4m();
  test_mp4();
  test_refusals();
  check(dir_entries() == 0, "every write and refusal left the folder as it found it", "%d entries", dir_entries());
  rmdir(tmp_dir);
  printf("%d passed, %d failed\n", n_passed, n_failed);
  return n_failed ? 1 : 0;
}
