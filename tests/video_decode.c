/* video_decode.c: the readers of tests/video_test.c (see video_decode.h): .y4m parsed here, .mp4
 * through libavformat/libavcodec, both turned back into RGB by the inverse of the conversion the
 * format documents, independently of the writers' code. Not a general decoder. */
#include "video_decode.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- .y4m ------------------------------------------------------------------------------------- */

static const char *HEAD_FMT = "YUV4MPEG2 W%lld H%lld F%d:1 Ip A1:1 C420jpeg XYSCSS=420JPEG XCOLORRANGE=FULL\n";

int64_t video_y4m_size(int64_t F, int64_t H, int64_t W, int fps) {
  char head[200];
  const int n = snprintf(head, sizeof head, HEAD_FMT, (long long)W, (long long)H, fps);
  return n + F * (6 + H * W + 2 * ((H + 1) / 2) * ((W + 1) / 2));
}

static uint8_t *slurp(const char *path, int64_t *n) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return NULL;
  fseek(fp, 0, SEEK_END);
  *n = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  uint8_t *buf = malloc((size_t)*n + 1);
  if (buf && fread(buf, 1, (size_t)*n, fp) != (size_t)*n) {
    free(buf);
    buf = NULL;
  }
  fclose(fp);
  if (buf) buf[*n] = 0;
  return buf;
}

const char *y4m_read(const char *path, y4m_video *v) {
  memset(v, 0, sizeof *v);
  uint8_t *buf = slurp(path, &v->bytes);
  if (!buf) return "cannot read the file";
  const char *why = NULL;
  char *nl = memchr(buf, '\n', (size_t)v->bytes);
  if (!nl || strncmp((char *)buf, "YUV4MPEG2 ", 10)) {
    why = "no YUV4MPEG2 header line";
    goto fail;
  }
  *nl = 0;
  int c420jpeg = 0, progressive = 0, square = 0;
  for (char *tok = strtok((char *)buf + 10, " "); tok; tok = strtok(NULL, " ")) {
    if (tok[0] == 'W') v->W = atoll(tok + 1);
    else if (tok[0] == 'H') v->H = atoll(tok + 1);
    else if (tok[0] == 'F') sscanf(tok + 1, "%d:%d", &v->fps_num, &v->fps_den);
    else if (!strcmp(tok, "C420jpeg")) c420jpeg = 1;
    else if (!strcmp(tok, "Ip")) progressive = 1;
    else if (!strcmp(tok, "A1:1")) square = 1;
    else if (!strcmp(tok, "XCOLORRANGE=FULL")) v->full_range = 1;
  }
  if (!c420jpeg || !progressive || !square || v->W < 1 || v->H < 1) {
    why = "the header lacks C420jpeg, Ip, A1:1 or a size";
    goto fail;
  }
  const int64_t planes = v->W * v->H + 2 * ((v->H + 1) / 2) * ((v->W + 1) / 2);
  int64_t at = nl + 1 - (char *)buf;
  const int64_t max_frames = (v->bytes - at) / (planes + 6) + 1;
  v->data = malloc((size_t)(max_frames * planes));
  if (!v->data) {
    why = "out of memory";
    goto fail;
  }
  while (at < v->bytes) {
    if (v->bytes - at < 6 + planes || memcmp(buf + at, "FRAME\n", 6)) {
      why = "a frame that is not \"FRAME\\n\" and its planes";
      goto fail;
    }
    memcpy(v->data + v->F * planes, buf + at + 6, (size_t)planes);
    v->F++;
    at += 6 + planes;
  }
  free(buf);
  return NULL;
fail:
  free(buf);
  y4m_free(v);
  return why;
}

static uint8_t clamp_u8(double x) {
  x = floor(x + 0.5);
  return (uint8_t)(x < 0 ? 0 : x > 255 ? 255 : x);
}

uint8_t *y4m_to_rgb(const y4m_video *v) {
  const int64_t W = v->W, H = v->H, cw = (W + 1) / 2, ch = (H + 1) / 2, planes = W * H + 2 * cw * ch;
  uint8_t *rgb = malloc((size_t)(v->F * H * W * 3));
  if (!rgb) abort();
  for (int64_t f = 0; f < v->F; f++) {
    const uint8_t *Y = v->data + f * planes, *Cb = Y + W * H, *Cr = Cb + cw * ch;
    for (int64_t y = 0; y < H; y++)
      for (int64_t x = 0; x < W; x++) {
        const double l = Y[y * W + x], b = Cb[y / 2 * cw + x / 2] - 128.0, r = Cr[y / 2 * cw + x / 2] - 128.0;
        uint8_t *p = rgb + ((f * H + y) * W + x) * 3;
        p[0] = clamp_u8(l + 1.402 * r);
        p[1] = clamp_u8(l - 0.344136 * b - 0.714136 * r);
        p[2] = clamp_u8(l + 1.772 * b);
      }
  }
  return rgb;
}

void y4m_free(y4m_video *v) {
  free(v->data);
  v->data = NULL;
}

/* ---- comparison ------------------------------------------------------------------------------- */

video_cmp video_compare(const uint8_t *ref, const uint8_t *got, int64_t n) {
  video_cmp c = {0};
  double se = 0, sum[3] = {0};
  for (int64_t i = 0; i < n; i++) {
    const int d = (int)got[i] - (int)ref[i];
    if (abs(d) > c.max_err) c.max_err = abs(d), c.worst = i;
    se += (double)d * d;
    sum[i % 3] += d;
  }
  c.psnr = se == 0 ? 99.0 : 10.0 * log10(255.0 * 255.0 / (se / (double)n));
  for (int k = 0; k < 3; k++) c.bias[k] = sum[k] / (double)(n / 3);
  return c;
}

/* ---- .mp4 ------------------------------------------------------------------------------------- */

#ifdef DITC_NO_FFMPEG

const char *mp4_read(const char *path, mp4_video *v) {
  (void)path;
  memset(v, 0, sizeof *v);
  return "this build has no FFmpeg to decode .mp4 with";
}

#else

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>

/* 1 when the top-level box moov comes before mdat. */
static int moov_before_mdat(const char *path) {
  FILE *fp = fopen(path, "rb");
  if (!fp) return 0;
  int64_t at = 0, moov = -1, mdat = -1;
  unsigned char h[16];
  while (fseek(fp, (long)at, SEEK_SET) == 0 && fread(h, 1, 8, fp) == 8) {
    uint64_t size = (uint64_t)h[0] << 24 | (uint64_t)h[1] << 16 | (uint64_t)h[2] << 8 | h[3];
    if (size == 1 && fread(h + 8, 1, 8, fp) == 8) {
      size = 0;
      for (int i = 8; i < 16; i++) size = size << 8 | h[i];
    }
    if (!memcmp(h + 4, "moov", 4) && moov < 0) moov = at;
    if (!memcmp(h + 4, "mdat", 4) && mdat < 0) mdat = at;
    if (size < 8) break;
    at += (int64_t)size;
  }
  fclose(fp);
  return moov >= 0 && mdat >= 0 && moov < mdat;
}

/* Frame f (yuv420p) into v->rgb, growing it. */
static const char *append_frame(mp4_video *v, const AVFrame *fr, int64_t *cap) {
  if (fr->format != AV_PIX_FMT_YUV420P) return "a decoded frame that is not yuv420p";
  if (fr->width != v->W || fr->height != v->H) return "a decoded frame of another size";
  const int64_t W = v->W, H = v->H;
  if (v->F == *cap) {
    *cap = *cap ? 2 * *cap : 16;
    uint8_t *p = realloc(v->rgb, (size_t)(*cap * H * W * 3));
    if (!p) return "out of memory";
    v->rgb = p;
  }
  for (int64_t y = 0; y < H; y++)
    for (int64_t x = 0; x < W; x++) {
      const double l = (fr->data[0][y * fr->linesize[0] + x] - 16.0) * 255.0 / 219.0;
      const double b = (fr->data[1][y / 2 * fr->linesize[1] + x / 2] - 128.0) * 255.0 / 224.0;
      const double r = (fr->data[2][y / 2 * fr->linesize[2] + x / 2] - 128.0) * 255.0 / 224.0;
      uint8_t *p = v->rgb + ((v->F * H + y) * W + x) * 3;
      p[0] = clamp_u8(l + 1.5748 * r);
      p[1] = clamp_u8(l - 0.187324 * b - 0.468124 * r);
      p[2] = clamp_u8(l + 1.8556 * b);
    }
  v->F++;
  return NULL;
}

/* Sends pkt (NULL: the end) and appends every frame the decoder gives back. */
static const char *decode(AVCodecContext *dec, AVPacket *pkt, AVFrame *fr, mp4_video *v, int64_t *cap) {
  if (avcodec_send_packet(dec, pkt) < 0) return "the decoder refused a packet";
  for (;;) {
    const int r = avcodec_receive_frame(dec, fr);
    if (r == AVERROR(EAGAIN) || r == AVERROR_EOF) return NULL;
    if (r < 0) return "the decoder failed";
    const char *why = append_frame(v, fr, cap);
    av_frame_unref(fr);
    if (why) return why;
  }
}

const char *mp4_read(const char *path, mp4_video *v) {
  memset(v, 0, sizeof *v);
  av_log_set_level(AV_LOG_QUIET);
  AVFormatContext *fc = NULL;
  AVCodecContext *dec = NULL;
  AVPacket *pkt = av_packet_alloc();
  AVFrame *fr = av_frame_alloc();
  const char *why = NULL;
  int64_t cap = 0;
  if (!pkt || !fr) why = "out of memory";
  else if (avformat_open_input(&fc, path, NULL, NULL) < 0) why = "libavformat cannot open it";
  else if (avformat_find_stream_info(fc, NULL) < 0) why = "no stream info";
  else if (fc->nb_streams != 1 || fc->streams[0]->codecpar->codec_type != AVMEDIA_TYPE_VIDEO) why = "not one video stream";
  if (why) goto done;
  const AVStream *s = fc->streams[0];
  const AVCodecParameters *p = s->codecpar;
  v->W = p->width;
  v->H = p->height;
  v->fps_num = s->avg_frame_rate.num;
  v->fps_den = s->avg_frame_rate.den;
  v->duration_num = s->duration * s->time_base.num;
  v->duration_den = s->time_base.den;
  v->h264 = p->codec_id == AV_CODEC_ID_H264;
  v->high = p->profile == 100; /* High: FF_PROFILE_H264_HIGH, AV_PROFILE_H264_HIGH since FFmpeg 6.1 */
  v->yuv420p = p->format == AV_PIX_FMT_YUV420P;
  v->bt709 = p->color_space == AVCOL_SPC_BT709 && p->color_primaries == AVCOL_PRI_BT709 && p->color_trc == AVCOL_TRC_BT709;
  v->limited_range = p->color_range == AVCOL_RANGE_MPEG;
  v->moov_first = moov_before_mdat(path);
  const AVCodec *codec = avcodec_find_decoder(p->codec_id);
  if (!codec || !(dec = avcodec_alloc_context3(codec)) || avcodec_parameters_to_context(dec, p) < 0 ||
      avcodec_open2(dec, codec, NULL) < 0) {
    why = "no decoder";
    goto done;
  }
  while (!why && av_read_frame(fc, pkt) >= 0) {
    why = decode(dec, pkt, fr, v, &cap);
    av_packet_unref(pkt);
  }
  if (!why) why = decode(dec, NULL, fr, v, &cap);
done:
  avcodec_free_context(&dec);
  avformat_close_input(&fc);
  av_packet_free(&pkt);
  av_frame_free(&fr);
  if (why) mp4_free(v);
  return why;
}

#endif

void mp4_free(mp4_video *v) {
  free(v->rgb);
  v->rgb = NULL;
}
