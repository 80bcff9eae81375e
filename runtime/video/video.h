/* video.h: video files from uint8 RGB frames, the last step after a VAE decoder (its frames_u8
 * [B, F, H, W, 3], one row at a time). The format is the path's extension (any case):
 *   .y4m  YUV4MPEG2, always available, no library: BT.601 full-range ("JPEG") YCbCr, 4:2:0 chroma
 *         by 2x2 averaging (centred, C420jpeg), any width and height (an odd last column or row is
 *         averaged with itself); see y4m.c.
 *   .mp4  H.264 (FFmpeg's libx264 encoder, yuv420p, CRF 23, preset medium) in MP4 with the index
 *         first (+faststart), BT.709 limited range and tagged so, as browsers play it; even width
 *         and height only. Needs a build with FFmpeg (build.ninja asks pkg-config); a build without
 *         it refuses .mp4 with the Debian packages to install. See mp4.c.
 * Every write goes through outfile.h: a unique temporary file in the output's folder, renamed into
 * place when complete; a failed write leaves nothing behind (an existing file at the path is
 * replaced only by a complete video). Errors are one line naming the path.
 * Not here: reading safetensors (video_main.c, the command line bin/ditc-video), decoding. */
#ifndef DITC_VIDEO_H
#define DITC_VIDEO_H

#include <stddef.h>
#include <stdint.h>

#include "ditc_status.h"
#include "outfile.h"

typedef enum { VIDEO_Y4M, VIDEO_MP4 } video_format;

/* What any write accepts: 1..VIDEO_MAX_FRAMES frames of 1..VIDEO_MAX_SIDE pixels a side, an
 * integer frame rate in 1..VIDEO_MAX_FPS. */
#define VIDEO_MAX_FRAMES 1000000
#define VIDEO_MAX_SIDE 16384
#define VIDEO_MAX_FPS 1000

/* The format of path by its extension, or a one-line error naming the path and the supported
 * extensions. */
ditc_status video_format_of(const char *path, video_format *fmt, ditc_err *err);

/* 1 when this build can write .mp4 (FFmpeg linked, its libx264 encoder found); else 0, and err (if
 * non-NULL) says why and what to install. */
int video_mp4_available(ditc_err *err);

/* Everything video_write would refuse, checked before a long run (a VAE decode): the format and,
 * for .mp4, FFmpeg and libx264 in this build and an even size; F, H, W and fps in range; then the
 * path through out_check (not an input of the run, nothing but a regular file at it, a writable
 * folder, the space for a .y4m). flag names the path in messages ("--out"). */
ditc_status video_check(const char *flag, const char *path, const out_input *inputs, int n_inputs, int64_t F,
                        int64_t H, int64_t W, int fps, ditc_err *err);

/* The file of video `row` of `rows` written to one path: path itself for one, else path with
 * "-ROW" (0-based) before its extension (out.mp4: out-0.mp4, out-1.mp4, ...). 0 when it does not
 * fit n bytes. */
int video_row_path(char *buf, size_t n, const char *path, int64_t row, int64_t rows);

/* Writes frames [F, H, W, 3] (uint8 RGB, row-major) as a video of fps frames per second at path,
 * atomically (see above). */
ditc_status video_write(const char *path, const uint8_t *frames, int64_t F, int64_t H, int64_t W, int fps,
                        ditc_err *err);

#endif
