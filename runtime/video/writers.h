/* writers.h: the per-format writers video.c dispatches to (y4m.c, mp4.c), called only with
 * arguments video.c has checked (F, H, W, fps in range; for .mp4 an even size). Not the interface
 * for callers: video.h is. */
#ifndef DITC_VIDEO_WRITERS_H
#define DITC_VIDEO_WRITERS_H

#include <stdint.h>

#include "ditc_status.h"

/* ---- y4m.c ------------------------------------------------------------------------------------ */

/* One RGB frame as BT.601 full-range YCbCr 4:2:0: y [H, W]; cb, cr [(H+1)/2, (W+1)/2], each the
 * average of its 2x2 block (an odd last column or row is used twice). */
void video_rgb_to_yuv420(const uint8_t *rgb /* [H, W, 3] */, int64_t H, int64_t W, uint8_t *y, uint8_t *cb,
                         uint8_t *cr);
/* The size of the .y4m file of F frames of H x W. */
int64_t video_y4m_bytes(int64_t F, int64_t H, int64_t W, int fps);
ditc_status video_y4m_write(const char *path, const uint8_t *frames /* [F, H, W, 3] */, int64_t F, int64_t H,
                            int64_t W, int fps, ditc_err *err);

/* ---- mp4.c ------------------------------------------------------------------------------------ */

/* video_mp4_available (video.h) lives in mp4.c too. */
ditc_status video_mp4_write(const char *path, const uint8_t *frames /* [F, H, W, 3] */, int64_t F, int64_t H,
                            int64_t W, int fps, ditc_err *err);

#endif
