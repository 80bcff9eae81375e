/* video_bench.c: `ninja bench`'s video line: the time per frame of video_write (video.h) at a VAE's
 * output size, for .y4m and .mp4, and of the RGB to YCbCr 4:2:0 conversion alone.
 *   video_bench [F H W ROUNDS]      default 24 frames of 480 x 848, 5 rounds
 * Frames: a smooth moving gradient with a moving disc and +-4 of deterministic noise (a decoded
 * video is neither flat nor noise). One warm-up of each, then ROUNDS rounds running every case in
 * rotating order; per case the median time per frame and the spread (min..max) over the rounds.
 * Each write is the whole atomic path (temporary file, fsync, rename) into a folder under $TMPDIR
 * (else /tmp). Beside .y4m the sum of its parts timed alone: the conversion and the same bytes
 * written raw and fsynced (what .y4m costs without overhead of its own; noise of a few tenths of a
 * millisecond either way at this size).
 * .mp4 is libx264's (preset medium, CRF 23, its own threads). Not a test: nothing fails on a number. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "timing.h"
#include "video/video.h"
#include "video/writers.h"

enum { CASE_CONVERT, CASE_RAW, CASE_Y4M, CASE_MP4, N_CASES };
static const char *const NAMES[N_CASES] = {"RGB to YCbCr 4:2:0 only", "raw write of the .y4m bytes + fsync",
                                           ".y4m (video_write)", ".mp4 (video_write, libx264)"};

static double load_average(void) {
  double l = -1;
  FILE *fp = fopen("/proc/loadavg", "r");
  if (fp && fscanf(fp, "%lf", &l) != 1) l = -1;
  if (fp) fclose(fp);
  return l;
}

/* Frames [F, H, W, 3]. */
static uint8_t *make_frames(int64_t F, int64_t H, int64_t W) {
  uint8_t *p = malloc((size_t)(F * H * W * 3));
  if (!p) return NULL;
  uint32_t s = 12345;
  for (int64_t f = 0; f < F; f++)
    for (int64_t y = 0; y < H; y++)
      for (int64_t x = 0; x < W; x++) {
        const int64_t dx = x - (W / 4 + f * W / (2 * F)), dy = y - H / 2;
        const int disc = dx * dx + dy * dy < H * H / 16;
        for (int c = 0; c < 3; c++) {
          s = s * 1664525u + 1013904223u;
          const int64_t base = disc ? 200 - 60 * c : (x * (c + 1) * 255 / W + y * (3 - c) * 255 / H + 4 * f) % 256;
          const int64_t v = base + (int64_t)(s >> 29) - 4;
          p[((f * H + y) * W + x) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
        }
      }
  return p;
}

/* One run of case k; seconds, or -1 on failure (printed). */
static double run_case(int k, const char *dir, const uint8_t *frames, int64_t F, int64_t H, int64_t W, uint8_t *scratch) {
  char path[512];
  ditc_err err;
  const size_t ny = (size_t)(H * W), nc = (size_t)(((H + 1) / 2) * ((W + 1) / 2));
  const double t0 = now();
  if (k == CASE_CONVERT) {
    for (int64_t i = 0; i < F; i++)
      video_rgb_to_yuv420(frames + (size_t)i * ny * 3, H, W, scratch, scratch + ny, scratch + ny + nc);
  } else if (k == CASE_RAW) {
    snprintf(path, sizeof path, "%s/raw.bin", dir);
    FILE *fp = fopen(path, "wb");
    int ok = fp != NULL;
    for (int64_t i = 0; ok && i < F; i++) ok = fwrite(scratch, 1, ny + 2 * nc + 6, fp) == ny + 2 * nc + 6;
    ok = ok && fflush(fp) == 0 && fsync(fileno(fp)) == 0;
    if (fp) fclose(fp);
    unlink(path);
    if (!ok) {
      fprintf(stderr, "video_bench: cannot write %s\n", path);
      return -1;
    }
  } else {
    snprintf(path, sizeof path, "%s/bench.%s", dir, k == CASE_Y4M ? "y4m" : "mp4");
    if (video_write(path, frames, F, H, W, 24, &err) != DITC_OK) {
      fprintf(stderr, "video_bench: %s\n", err.msg);
      return -1;
    }
    unlink(path);
  }
  return now() - t0;
}

int main(int argc, char **argv) {
  const int64_t F = argc > 1 ? atoll(argv[1]) : 24, H = argc > 2 ? atoll(argv[2]) : 480, W = argc > 3 ? atoll(argv[3]) : 848;
  const int rounds = argc > 4 ? atoi(argv[4]) : 5;
  if (F < 1 || H < 2 || W < 2 || rounds < 1 || rounds > 100) {
    fprintf(stderr, "usage: video_bench [F H W ROUNDS]\n");
    return 2;
  }
  const char *tmp = getenv("TMPDIR");
  char dir[512];
  snprintf(dir, sizeof dir, "%s/video_bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
  uint8_t *frames = make_frames(F, H, W), *scratch = malloc((size_t)(H * W * 2 + 16));
  if (!frames || !scratch || !mkdtemp(dir)) {
    fprintf(stderr, "video_bench: out of memory or no temporary folder\n");
    return 1;
  }
  const int mp4 = video_mp4_available(NULL);
  const int n_cases = mp4 ? N_CASES : CASE_MP4;
  double t[N_CASES][100];
  int status = 0;
  for (int k = 0; k < n_cases && !status; k++) status = run_case(k, dir, frames, F, H, W, scratch) < 0; /* warm-up */
  for (int r = 0; r < rounds && !status; r++)
    for (int j = 0; j < n_cases && !status; j++) {
      const int k = (j + r) % n_cases;
      status = (t[k][r] = run_case(k, dir, frames, F, H, W, scratch)) < 0;
    }
  rmdir(dir);
  if (status) return 1;
  printf("  %lld frames of %lld x %lld, %d rounds after a warm-up, %ld cores; ms per frame, median (min..max):\n",
         (long long)F, (long long)H, (long long)W, rounds, sysconf(_SC_NPROCESSORS_ONLN));
  double med[N_CASES];
  for (int k = 0; k < n_cases; k++) {
    qsort(t[k], (size_t)rounds, sizeof t[k][0], cmp_double);
    med[k] = t[k][rounds / 2] / (double)F * 1e3;
    printf("  %-38s %8.2f ms (%.2f..%.2f)  %7.1f frames/s\n", NAMES[k], med[k], t[k][0] / (double)F * 1e3,
           t[k][rounds - 1] / (double)F * 1e3, 1e3 / med[k]);
  }
  printf("  .y4m: its parts timed alone (conversion + raw write) %.2f ms per frame, measured %.2f; load average %.2f\n",
         med[CASE_CONVERT] + med[CASE_RAW], med[CASE_Y4M], load_average());
  if (!mp4) printf("  .mp4: skipped: this build has no FFmpeg\n");
  free(frames);
  free(scratch);
  return 0;
}
