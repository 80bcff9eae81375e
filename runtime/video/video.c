/* video.c: the entry points of video.h: the format by the path's extension, the checks every write
 * shares (frame count, size, frame rate, what .mp4 needs), and the dispatch to the writers (y4m.c,
 * mp4.c). Not here: colour conversion, encoding, files (the writers and outfile.c). */
#include "video.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "writers.h"

static const char SUPPORTED[] = "supported: .mp4 (H.264) and .y4m (YUV4MPEG2)";

/* ---- the format ------------------------------------------------------------------------------- */

ditc_status video_format_of(const char *path, video_format *fmt, ditc_err *err) {
  DITC_CHECK(path && fmt);
  if (!path[0]) return ditc_fail(err, DITC_EINVAL, "an empty path is not a video file name; %s", SUPPORTED);
  const char *slash = strrchr(path, '/');
  const char *dot = strrchr(slash ? slash + 1 : path, '.');
  if (dot && !strcasecmp(dot, ".y4m")) {
    *fmt = VIDEO_Y4M;
    return DITC_OK;
  }
  if (dot && !strcasecmp(dot, ".mp4")) {
    *fmt = VIDEO_MP4;
    return DITC_OK;
  }
  if (!dot)
    return ditc_fail(err, DITC_EINVAL, "%s: no file extension to choose the video format by; %s", path, SUPPORTED);
  char shown[DITC_SHOWN_MAX];
  return ditc_fail(err, DITC_EINVAL, "%s: unknown video file extension '%s'; %s", path,
                   ditc_shown(shown, sizeof shown, dot, strlen(dot)), SUPPORTED);
}

/* ---- the checks every write shares ------------------------------------------------------------ */

/* F, H, W and fps in range and what the format needs; messages start with who (the path, or the
 * flag and the path). */
static ditc_status check_args(const char *who, video_format fmt, int64_t F, int64_t H, int64_t W, int fps,
                              ditc_err *err) {
  if (F < 1)
    return ditc_fail(err, DITC_EINVAL, "%s: no frames to write (F = %lld); a video needs at least one", who,
                     (long long)F);
  if (F > VIDEO_MAX_FRAMES)
    return ditc_fail(err, DITC_EINVAL, "%s: %lld frames is more than the %d a video file takes here", who,
                     (long long)F, VIDEO_MAX_FRAMES);
  if (H < 1 || W < 1 || H > VIDEO_MAX_SIDE || W > VIDEO_MAX_SIDE)
    return ditc_fail(err, DITC_EINVAL, "%s: frames of %lld x %lld (H x W) pixels; each side must be in 1..%d", who,
                     (long long)H, (long long)W, VIDEO_MAX_SIDE);
  if (fps < 1 || fps > VIDEO_MAX_FPS)
    return ditc_fail(err, DITC_EINVAL, "%s: a frame rate of %d fps; it must be in 1..%d", who, fps, VIDEO_MAX_FPS);
  if (fmt != VIDEO_MP4) return DITC_OK;
  ditc_err why;
  if (!video_mp4_available(&why)) return ditc_fail(err, DITC_EINVAL, "%s: %s", who, why.msg);
  if (H % 2 || W % 2)
    return ditc_fail(err, DITC_EINVAL,
                     "%s: H.264 in yuv420p needs an even height and width, the frames are %lld x %lld (H x W); "
                     "crop or pad them, or write .y4m (any size)", who, (long long)H, (long long)W);
  return DITC_OK;
}

/* ---- entry points ----------------------------------------------------------------------------- */

ditc_status video_check(const char *flag, const char *path, const out_input *inputs, int n_inputs, int64_t F,
                        int64_t H, int64_t W, int fps, ditc_err *err) {
  DITC_CHECK(flag && path);
  video_format fmt;
  ditc_status st = video_format_of(path, &fmt, err);
  if (st) {
    if (err && path[0]) {
      ditc_err e = *err;
      ditc_fail(err, st, "%s %s", flag, e.msg); /* "--out PATH: ..." */
    }
    return st;
  }
  char who[4300];
  snprintf(who, sizeof who, "%s %s", flag, path);
  if ((st = check_args(who, fmt, F, H, W, fps, err))) return st;
  return out_check(flag, path, inputs, n_inputs, fmt == VIDEO_Y4M ? video_y4m_bytes(F, H, W, fps) : 0, err);
}

ditc_status video_write(const char *path, const uint8_t *frames, int64_t F, int64_t H, int64_t W, int fps,
                        ditc_err *err) {
  DITC_CHECK(path);
  video_format fmt;
  ditc_status st = video_format_of(path, &fmt, err);
  if (st || (st = check_args(path, fmt, F, H, W, fps, err))) return st;
  DITC_CHECK(frames);
  return fmt == VIDEO_Y4M ? video_y4m_write(path, frames, F, H, W, fps, err)
                          : video_mp4_write(path, frames, F, H, W, fps, err);
}

int video_row_path(char *buf, size_t n, const char *path, int64_t row, int64_t rows) {
  if (rows <= 1) return snprintf(buf, n, "%s", path) < (int)n;
  const char *dot = strrchr(path, '.'), *slash = strrchr(path, '/');
  if (!dot || (slash && dot < slash)) dot = path + strlen(path);
  return snprintf(buf, n, "%.*s-%lld%s", (int)(dot - path), path, (long long)row, dot) < (int)n;
}
