/* video_decode.h: what tests/video_test.c reads its videos back with, written apart from the
 * writers: a .y4m reader and the inverse BT.601 full-range conversion, an .mp4 reader over
 * libavformat/libavcodec with the inverse BT.709 limited-range conversion (nearest chroma in both),
 * and the comparison against the input frames. Not a general decoder: it reads what video.h writes
 * (4:2:0, 8 bits) and says what else it found. */
#ifndef DITC_VIDEO_DECODE_H
#define DITC_VIDEO_DECODE_H

#include <stdint.h>

typedef struct {
  int64_t W, H, F, bytes;      /* bytes: the file's size */
  int fps_num, fps_den, full_range;
  uint8_t *data;               /* F frames of Y [H, W], Cb and Cr [(H+1)/2, (W+1)/2] */
} y4m_video;

/* The size of the .y4m video.h documents: its header line plus F * ("FRAME\n" + the planes). */
int64_t video_y4m_size(int64_t F, int64_t H, int64_t W, int fps);
/* Reads path into v; NULL, or what is wrong (v then holds nothing to free). */
const char *y4m_read(const char *path, y4m_video *v);
/* The frames as RGB [F, H, W, 3] (malloc'd): BT.601 full range, each chroma sample for its 2x2 block. */
uint8_t *y4m_to_rgb(const y4m_video *v);
void y4m_free(y4m_video *v);

typedef struct {
  int64_t W, H, F;                        /* F: frames decoded */
  int64_t duration_num, duration_den;     /* the stream's duration in seconds, as a fraction */
  int fps_num, fps_den;                   /* the stream's average frame rate */
  int h264, high, yuv420p, bt709, limited_range, moov_first;
  uint8_t *rgb;                           /* [F, H, W, 3]: BT.709 limited range, chroma sample (x/2, y/2) */
} mp4_video;

/* Reads and decodes path into v; NULL, or what is wrong (also in a build without FFmpeg). */
const char *mp4_read(const char *path, mp4_video *v);
void mp4_free(mp4_video *v);

typedef struct {
  int max_err;                 /* max |got - ref| */
  int64_t worst;               /* where */
  double psnr;                 /* dB over all bytes (99 when equal) */
  double bias[3];              /* mean of got - ref per channel */
} video_cmp;

video_cmp video_compare(const uint8_t *ref, const uint8_t *got, int64_t n /* bytes, RGB triples */);

#endif
