/* mp4.c: the .mp4 writer of video.h, through FFmpeg's libraries: libswscale turns each RGB frame
 * into yuv420p (BT.709 matrix, limited range 16..235/240, bicubic chroma, SWS_ACCURATE_RND),
 * libavcodec's libx264 encodes it (CRF 23, x264's default and a little better than the CRF 25 of
 * imageio-ffmpeg's default quality 5; preset medium; High profile), libavformat muxes it into MP4
 * with the index (moov) before the data (movflags +faststart), frame i at time i/fps. The stream
 * is tagged BT.709 (primaries, transfer, matrix), limited range, chroma sited left, so a browser
 * shows the colours as they were. FFmpeg's own log is silenced (av_log_set_level, process-wide):
 * every failure is one message naming the path.
 * The file: outfile.h's unique temporary file is created first; libavformat writes that same path
 * (through the file: protocol, so no ':' in a name is read as a protocol; +faststart reopens it
 * to move the index), then out_commit fsyncs it and renames it into place. Built with
 * -DDITC_NO_FFMPEG (build.ninja does so where pkg-config finds no FFmpeg), it refuses .mp4 and
 * names the Debian packages to install.
 * Not here: the format choice and argument checks (video.c), .y4m (y4m.c). */
#include <stdlib.h>
#include <string.h>

#include "outfile.h"
#include "video.h"
#include "writers.h"

#define DEBIAN_PACKAGES "libavformat-dev libavcodec-dev libswscale-dev libavutil-dev"

#ifdef DITC_NO_FFMPEG

/* ---- a build without FFmpeg ------------------------------------------------------------------- */

int video_mp4_available(ditc_err *err) {
  ditc_fail(err, DITC_EINVAL, "this build has no FFmpeg, so no .mp4: install %s (./ditc.sh does as root), rebuild "
            "with ninja, or write .y4m", DEBIAN_PACKAGES);
  return 0;
}

ditc_status video_mp4_write(const char *path, const uint8_t *frames, int64_t F, int64_t H, int64_t W, int fps,
                            ditc_err *err) {
  (void)frames, (void)F, (void)H, (void)W, (void)fps;
  ditc_err why;
  video_mp4_available(&why);
  return ditc_fail(err, DITC_EINVAL, "%s: %s", path, why.msg);
}

#else

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

#define MP4_ENCODER "libx264"
#define MP4_CRF "23"
#define MP4_PRESET "medium"

/* ---- the encoder ------------------------------------------------------------------------------ */

int video_mp4_available(ditc_err *err) {
  av_log_set_level(AV_LOG_QUIET);
  if (avcodec_find_encoder_by_name(MP4_ENCODER)) return 1;
  ditc_fail(err, DITC_EINVAL, "the FFmpeg libavcodec this binary loaded has no %s encoder (H.264), so no .mp4: "
            "use Debian's libavcodec (built with x264) or write .y4m", MP4_ENCODER);
  return 0;
}

/* What one write holds; mp4_free releases whatever was made. */
typedef struct {
  const char *path;
  out_file out;
  int opened;               /* out_open succeeded */
  char *url;                /* "file:" + the temporary file */
  AVFormatContext *fmt;
  AVStream *stream;
  AVCodecContext *enc;
  struct SwsContext *sws;
  AVFrame *frame;
  AVPacket *pkt;
} mp4_writer;

static void mp4_free(mp4_writer *w) {
  if (w->fmt && w->fmt->pb) avio_closep(&w->fmt->pb);
  avformat_free_context(w->fmt);
  avcodec_free_context(&w->enc);
  sws_freeContext(w->sws);
  av_frame_free(&w->frame);
  av_packet_free(&w->pkt);
  free(w->url);
  if (w->opened) out_abort(&w->out);
  w->opened = 0;
}

/* A failed FFmpeg call: "PATH: WHAT: FFmpeg's reason". */
static ditc_status av_fail(const mp4_writer *w, const char *what, int code, ditc_err *err) {
  char why[AV_ERROR_MAX_STRING_SIZE] = "";
  av_strerror(code, why, sizeof why);
  return ditc_fail(err, DITC_EIO, "%s: %s: %s", w->path, what, why);
}

/* The encoder and the stream of H x W frames at fps, opened, and the RGB to yuv420p scaler. */
static ditc_status open_encoder(mp4_writer *w, int64_t H, int64_t W, int fps, ditc_err *err) {
  const AVCodec *codec = avcodec_find_encoder_by_name(MP4_ENCODER);
  DITC_CHECK(codec); /* video.c checked video_mp4_available */
  if (!(w->stream = avformat_new_stream(w->fmt, NULL)) || !(w->enc = avcodec_alloc_context3(codec)))
    return ditc_fail(err, DITC_ENOMEM, "%s: out of memory for the encoder", w->path);
  AVCodecContext *c = w->enc;
  c->width = (int)W;
  c->height = (int)H;
  c->pix_fmt = AV_PIX_FMT_YUV420P;
  c->time_base = (AVRational){1, fps};
  c->framerate = (AVRational){fps, 1};
  c->sample_aspect_ratio = (AVRational){1, 1};
  c->color_range = AVCOL_RANGE_MPEG;
  c->colorspace = AVCOL_SPC_BT709;
  c->color_primaries = AVCOL_PRI_BT709;
  c->color_trc = AVCOL_TRC_BT709;
  c->chroma_sample_location = AVCHROMA_LOC_LEFT;
  if (w->fmt->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
  int r;
  if ((r = av_opt_set(c->priv_data, "crf", MP4_CRF, 0)) < 0 ||
      (r = av_opt_set(c->priv_data, "preset", MP4_PRESET, 0)) < 0)
    return av_fail(w, "setting " MP4_ENCODER "'s crf and preset", r, err);
  if ((r = avcodec_open2(c, codec, NULL)) < 0) return av_fail(w, "opening the " MP4_ENCODER " encoder", r, err);
  if ((r = avcodec_parameters_from_context(w->stream->codecpar, c)) < 0)
    return av_fail(w, "the stream's parameters", r, err);
  w->stream->time_base = c->time_base;
  w->stream->avg_frame_rate = c->framerate;
  w->stream->sample_aspect_ratio = c->sample_aspect_ratio;

  w->sws = sws_getContext((int)W, (int)H, AV_PIX_FMT_RGB24, (int)W, (int)H, AV_PIX_FMT_YUV420P,
                          SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INP, NULL, NULL, NULL);
  if (!w->sws) return ditc_fail(err, DITC_ENOMEM, "%s: no RGB to yuv420p conversion for %lld x %lld", w->path,
                                (long long)H, (long long)W);
  const int *bt709 = sws_getCoefficients(SWS_CS_ITU709);
  /* source RGB full range, destination BT.709 limited range; brightness 0, contrast and saturation 1 */
  sws_setColorspaceDetails(w->sws, bt709, 1, bt709, 0, 0, 1 << 16, 1 << 16);
  if (!(w->frame = av_frame_alloc()) || !(w->pkt = av_packet_alloc()))
    return ditc_fail(err, DITC_ENOMEM, "%s: out of memory for a frame", w->path);
  w->frame->format = AV_PIX_FMT_YUV420P;
  w->frame->width = (int)W;
  w->frame->height = (int)H;
  if ((r = av_frame_get_buffer(w->frame, 0)) < 0) return av_fail(w, "a frame buffer", r, err);
  return DITC_OK;
}

/* Sends frame (NULL: the end) to the encoder and muxes every packet it gives back. */
static ditc_status encode(mp4_writer *w, AVFrame *frame, ditc_err *err) {
  int r = avcodec_send_frame(w->enc, frame);
  if (r < 0) return av_fail(w, "encoding a frame", r, err);
  for (;;) {
    r = avcodec_receive_packet(w->enc, w->pkt);
    if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return DITC_OK;
    if (r < 0) return av_fail(w, "encoding a frame", r, err);
    av_packet_rescale_ts(w->pkt, w->enc->time_base, w->stream->time_base);
    w->pkt->stream_index = w->stream->index;
    r = av_interleaved_write_frame(w->fmt, w->pkt); /* takes the packet's data, leaves pkt blank */
    if (r < 0) return av_fail(w, "writing a packet", r, err);
  }
}

/* ---- the file --------------------------------------------------------------------------------- */

static ditc_status write_all(mp4_writer *w, const uint8_t *frames, int64_t F, int64_t H, int64_t W, int fps,
                             ditc_err *err) {
  ditc_status st = out_open(&w->out, w->path, err);
  if (st) return st;
  w->opened = 1;
  const size_t n = strlen(w->out.tmp) + 6;
  if (!(w->url = malloc(n))) return ditc_fail(err, DITC_ENOMEM, "%s: out of memory", w->path);
  snprintf(w->url, n, "file:%s", w->out.tmp);
  int r = avformat_alloc_output_context2(&w->fmt, NULL, "mp4", w->url);
  if (r < 0) return av_fail(w, "the MP4 muxer", r, err);
  if ((st = open_encoder(w, H, W, fps, err))) return st;
  if ((r = avio_open(&w->fmt->pb, w->url, AVIO_FLAG_WRITE)) < 0)
    return av_fail(w, "opening the temporary file", r, err);
  AVDictionary *opts = NULL;
  av_dict_set(&opts, "movflags", "+faststart", 0);
  r = avformat_write_header(w->fmt, &opts);
  av_dict_free(&opts);
  if (r < 0) return av_fail(w, "writing the MP4 header", r, err);
  for (int64_t i = 0; i < F; i++) {
    if ((r = av_frame_make_writable(w->frame)) < 0) return av_fail(w, "a frame buffer", r, err);
    const uint8_t *src[1] = {frames + (size_t)(i * H * W * 3)};
    const int stride[1] = {(int)(W * 3)};
    sws_scale(w->sws, src, stride, 0, (int)H, w->frame->data, w->frame->linesize);
    w->frame->pts = i;
    if ((st = encode(w, w->frame, err))) return st;
  }
  if ((st = encode(w, NULL, err))) return st;
  if ((r = av_write_trailer(w->fmt)) < 0) return av_fail(w, "writing the MP4 index", r, err);
  if (w->fmt->pb->error < 0) return av_fail(w, "writing the temporary file", w->fmt->pb->error, err);
  if ((r = avio_closep(&w->fmt->pb)) < 0) return av_fail(w, "closing the temporary file", r, err);
  w->opened = 0; /* out_commit removes the temporary file itself when it fails */
  return out_commit(&w->out, err);
}

ditc_status video_mp4_write(const char *path, const uint8_t *frames /* [F, H, W, 3] */, int64_t F, int64_t H,
                            int64_t W, int fps, ditc_err *err) {
  av_log_set_level(AV_LOG_QUIET);
  mp4_writer w = {.path = path};
  const ditc_status st = write_all(&w, frames, F, H, W, fps, err);
  mp4_free(&w);
  return st;
}

#endif
