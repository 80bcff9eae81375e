/* y4m.c: the .y4m writer of video.h: YUV4MPEG2 (the mjpegtools format FFmpeg, x264 and mpv read),
 * one header line, then per frame "FRAME\n" and the Y, Cb and Cr planes. No library.
 *   header: YUV4MPEG2 W<W> H<H> F<fps>:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=FULL
 *   colour: BT.601 full range, as JPEG/JFIF (ITU-T T.871):
 *             Y  =       0.299    R + 0.587    G + 0.114    B
 *             Cb = 128 - 0.168736 R - 0.331264 G + 0.5      B
 *             Cr = 128 + 0.5      R - 0.418688 G - 0.081312 B
 *           in 16-bit fixed point (the weights of each row sum to 65536 or 0, so grey stays grey),
 *           rounded to nearest, clamped to 0..255. XCOLORRANGE=FULL tells FFmpeg and x264 so.
 *   4:2:0:  each Cb/Cr sample is the mean of its 2x2 block of pixels (centred between them, which
 *           is what C420jpeg means); the planes are ceil(W/2) x ceil(H/2), and where W or H is odd
 *           the last column or row is repeated to fill its block.
 * Not here: the format choice and argument checks (video.c), the atomic file (outfile.c). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "outfile.h"
#include "writers.h"

/* ---- RGB to YCbCr 4:2:0 ----------------------------------------------------------------------- */

void video_rgb_to_yuv420(const uint8_t *rgb /* [H, W, 3] */, int64_t H, int64_t W, uint8_t *y /* [H, W] */,
                         uint8_t *cb /* [(H+1)/2, (W+1)/2] */, uint8_t *cr /* [(H+1)/2, (W+1)/2] */) {
  for (int64_t i = 0; i < H * W; i++) {
    const uint8_t *p = rgb + 3 * i;
    y[i] = (uint8_t)((19595 * p[0] + 38470 * p[1] + 7471 * p[2] + 32768) >> 16);
  }
  const int64_t ch = (H + 1) / 2, cw = (W + 1) / 2;
  for (int64_t r = 0; r < ch; r++) {
    const uint8_t *row0 = rgb + 2 * r * W * 3;
    const uint8_t *row1 = 2 * r + 1 < H ? row0 + W * 3 : row0; /* an odd last row, twice */
    for (int64_t c = 0; c < cw; c++) {
      const int64_t x0 = 2 * c, x1 = 2 * c + 1 < W ? 2 * c + 1 : 2 * c;
      const int32_t R = row0[3 * x0] + row0[3 * x1] + row1[3 * x0] + row1[3 * x1];
      const int32_t G = row0[3 * x0 + 1] + row0[3 * x1 + 1] + row1[3 * x0 + 1] + row1[3 * x1 + 1];
      const int32_t B = row0[3 * x0 + 2] + row0[3 * x1 + 2] + row1[3 * x0 + 2] + row1[3 * x1 + 2];
      /* sums of 4 pixels: divide by 4 * 65536 = 2^18; the offset 128 * 2^18 keeps it non-negative */
      const int32_t u = (-11058 * R - 21710 * G + 32768 * B + (128 << 18) + (1 << 17)) >> 18;
      const int32_t v = (32768 * R - 27439 * G - 5329 * B + (128 << 18) + (1 << 17)) >> 18;
      cb[r * cw + c] = (uint8_t)(u > 255 ? 255 : u);
      cr[r * cw + c] = (uint8_t)(v > 255 ? 255 : v);
    }
  }
}

/* ---- the file --------------------------------------------------------------------------------- */

static int header(char *buf, size_t cap, int64_t H, int64_t W, int fps) {
  return snprintf(buf, cap, "YUV4MPEG2 W%lld H%lld F%d:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=FULL\n",
                  (long long)W, (long long)H, fps);
}

int64_t video_y4m_bytes(int64_t F, int64_t H, int64_t W, int fps) {
  char buf[160];
  const int64_t planes = H * W + 2 * ((H + 1) / 2) * ((W + 1) / 2);
  return header(buf, sizeof buf, H, W, fps) + F * (6 + planes);
}

ditc_status video_y4m_write(const char *path, const uint8_t *frames /* [F, H, W, 3] */, int64_t F, int64_t H,
                            int64_t W, int fps, ditc_err *err) {
  const size_t ny = (size_t)(H * W), nc = (size_t)(((H + 1) / 2) * ((W + 1) / 2));
  uint8_t *planes = malloc(ny + 2 * nc); /* one frame: Y [H, W], Cb and Cr [(H+1)/2, (W+1)/2] */
  if (!planes) return ditc_fail(err, DITC_ENOMEM, "%s: out of memory for a frame of %lld x %lld", path,
                                (long long)H, (long long)W);
  out_file f;
  ditc_status st = out_open(&f, path, err);
  if (st) {
    free(planes);
    return st;
  }
  char head[160];
  const int n = header(head, sizeof head, H, W, fps);
  int ok = fwrite(head, 1, (size_t)n, f.fp) == (size_t)n;
  for (int64_t i = 0; ok && i < F; i++) {
    video_rgb_to_yuv420(frames + (size_t)i * ny * 3, H, W, planes, planes + ny, planes + ny + nc);
    ok = fwrite("FRAME\n", 1, 6, f.fp) == 6 && fwrite(planes, 1, ny + 2 * nc, f.fp) == ny + 2 * nc;
  }
  free(planes);
  if (ok) return out_commit(&f, err);
  ditc_fail(err, DITC_EIO, "%s: cannot write %s: %s", path, f.tmp, strerror(errno));
  out_abort(&f);
  return DITC_EIO;
}
