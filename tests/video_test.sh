#!/usr/bin/env bash
# tests/video_test.sh: video files from uint8 frames (runtime/video/). First the writers' own checks
# (build/tests/video_test: .y4m header, frame count, size and RGB within stated bounds; .mp4 decoded
# with libavformat: frames, size, fps, tags, index first, PSNR; refusals), then bin/ditc-video on
# small synthetic frames files the same helper writes: rows of [B, F, H, W, 3] and a [F, H, W, 3]
# file to .y4m (decoded and compared) and .mp4, the Open-Sora VAE fixture binary's own frames_u8
# (frame count, size, fps), and every refusal as one line, exit status 1 (2 for usage) and no
# file: a missing tensor, another dtype, rank or channel count, a row outside B, no frames, an
# unknown extension, a missing folder, odd sizes for .mp4, .mp4 in a build without FFmpeg
# (build/tests/ditc-video-noffmpeg, the same command line linked with libditc_video_none.a).
# Not a benchmark (tests/video_bench.c, `ninja bench`).
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
VT=build/tests/video_test
V=bin/ditc-video
NOFF=build/tests/ditc-video-noffmpeg
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# ---- the writers through the API ----------------------------------------------------------------
$VT || rc=1

# ---- the command line ---------------------------------------------------------------------------
$VT make "$tmp/b2.safetensors" frames_u8 U8 2 3 6 10 3
$VT make "$tmp/f4.safetensors" frames_u8 U8 2 5 7 3
expect "ditc-video writes row 1 of [2, 3, 6, 10, 3] as .y4m, silently" \
  bash -c "out=\$($V --in $tmp/b2.safetensors --row 1 --fps 12 --out $tmp/r1.y4m 2>&1) && [ -z \"\$out\" ]"
t $VT check "$tmp/r1.y4m" 1 3 6 10 12
expect "ditc-video writes row 0 by default" $V --in "$tmp/b2.safetensors" --fps 24 --out "$tmp/r0.y4m"
t $VT check "$tmp/r0.y4m" 0 3 6 10 24
expect "ditc-video takes [F, H, W, 3] of an odd size (5 x 7) for .y4m" \
  $V --in "$tmp/f4.safetensors" --fps 8 --out "$tmp/f4.y4m"
t $VT check "$tmp/f4.y4m" 0 2 5 7 8
expect "writing over an existing video works and leaves no temporary file" \
  bash -c "$V --in $tmp/b2.safetensors --row 1 --fps 12 --out $tmp/r1.y4m && ! compgen -G '$tmp/r1.y4m.*.tmp'"

if $V --help | grep -q 'writes .mp4'; then
  $VT make "$tmp/even.safetensors" frames_u8 U8 1 4 16 24 3
  expect "ditc-video writes .mp4" $V --in "$tmp/even.safetensors" --fps 30 --out "$tmp/v.mp4"
  t $VT check "$tmp/v.mp4" 0 4 16 24 30
  t one_line_error "odd sizes for .mp4 are refused (H.264 4:2:0 needs even ones)" "$tmp/odd.mp4" \
    -e "--out $tmp/odd.mp4" -e "needs an even height and width, the frames are 5 x 7 (H x W)" -e "write .y4m" -- \
    $V --in "$tmp/f4.safetensors" --fps 8 --out "$tmp/odd.mp4"
else
  echo "# skipped: ditc-video .mp4 checks: this build has no FFmpeg ($V --help)"
fi

# ---- a VAE decoder's own output (bin/vae-opensora-v1.2-fixture: frames_u8 [1, 26, 40, 56, 3]) -------
G=tests/golden/vae-opensora-v1.2
if [ -x bin/vae-opensora-v1.2-fixture ]; then
  bin/vae-opensora-v1.2-fixture --weights $G/weights.safetensors --latents $G/decode.safetensors \
    --out "$tmp/vae.safetensors" --quiet
  expect "the Open-Sora VAE fixture's frames_u8 as .y4m" $V --in "$tmp/vae.safetensors" --fps 24 --out "$tmp/vae.y4m"
  t $VT check "$tmp/vae.y4m" - 26 40 56 24
  if $V --help | grep -q 'writes .mp4'; then
    expect "... and as .mp4" $V --in "$tmp/vae.safetensors" --fps 24 --out "$tmp/vae.mp4"
    t $VT check "$tmp/vae.mp4" - 26 40 56 24
  fi
else
  echo "# skipped: the VAE fixture's frames: bin/vae-opensora-v1.2-fixture is not built"
fi

# ---- refusals -----------------------------------------------------------------------------------
$VT make "$tmp/f32.safetensors" frames_u8 F32 1 2 4 4 3
$VT make "$tmp/rank3.safetensors" frames_u8 U8 4 4 3
$VT make "$tmp/rgba.safetensors" frames_u8 U8 1 2 4 4 4
$VT make "$tmp/empty.safetensors" frames_u8 U8 1 0 4 4 3
O="$tmp/o.y4m"
t one_line_error "a missing tensor" "$O" -e "$tmp/b2.safetensors: missing tensor 'frames'" -- \
  $V --in "$tmp/b2.safetensors" --tensor frames --fps 24 --out "$O"
t one_line_error "a missing input file" "$O" -e "$tmp/none.safetensors" -e "No such file" -- \
  $V --in "$tmp/none.safetensors" --fps 24 --out "$O"
t one_line_error "an F32 tensor" "$O" -e "tensor 'frames_u8' has dtype F32, expected U8" -- \
  $V --in "$tmp/f32.safetensors" --fps 24 --out "$O"
t one_line_error "a tensor of rank 3" "$O" -e "has shape [4, 4, 3], expected [B, F, H, W, 3] or [F, H, W, 3]" -- \
  $V --in "$tmp/rank3.safetensors" --fps 24 --out "$O"
t one_line_error "4 channels" "$O" -e "has shape [1, 2, 4, 4, 4], expected [B, F, H, W, 3]" -- \
  $V --in "$tmp/rgba.safetensors" --fps 24 --out "$O"
t one_line_error "a row outside B" "$O" -e "--row 2 is not in 0..1" -- \
  $V --in "$tmp/b2.safetensors" --row 2 --fps 24 --out "$O"
t one_line_error "--row 1 of a [F, H, W, 3] tensor" "$O" -e "one row: --row 1 is not in it" -- \
  $V --in "$tmp/f4.safetensors" --row 1 --fps 24 --out "$O"
t one_line_error "zero frames" "$O" -e "--out $O: no frames to write (F = 0)" -- \
  $V --in "$tmp/empty.safetensors" --fps 24 --out "$O"
t one_line_error "an unknown extension" "$tmp/o.avi" -e "--out $tmp/o.avi: unknown video file extension '.avi'" \
  -e "supported: .mp4 (H.264) and .y4m (YUV4MPEG2)" -- $V --in "$tmp/b2.safetensors" --fps 24 --out "$tmp/o.avi"
t one_line_error "a missing folder" "$tmp/no/such/o.y4m" -e "--out $tmp/no/such/o.y4m: folder $tmp/no/such does not exist" -- \
  $V --in "$tmp/b2.safetensors" --fps 24 --out "$tmp/no/such/o.y4m"
t one_line_error ".mp4 in a build without FFmpeg names the Debian packages" "$tmp/o.mp4" \
  -e "--out $tmp/o.mp4: this build has no FFmpeg" -e "libavformat-dev libavcodec-dev libswscale-dev libavutil-dev" -- \
  $NOFF --in "$tmp/b2.safetensors" --fps 24 --out "$tmp/o.mp4"
expect "... and that build still writes .y4m" $NOFF --in "$tmp/b2.safetensors" --fps 24 --out "$tmp/noff.y4m"
t $VT check "$tmp/noff.y4m" 0 3 6 10 24
printf 'old' >"$tmp/keep.y4m"
expect "a refused run leaves an existing output as it was" \
  bash -c "! $V --in $tmp/f32.safetensors --fps 24 --out $tmp/keep.y4m 2>/dev/null && [ \"\$(cat $tmp/keep.y4m)\" = old ]"
refuses "usage: --fps 0" 2 "fps needs an integer in 1..1000" "$O" $V --in "$tmp/b2.safetensors" --fps 0 --out "$O"
refuses "usage: no --fps" 2 "--in, --fps and --out are required" "$O" $V --in "$tmp/b2.safetensors" --out "$O"
refuses "usage: an unknown flag" 2 "unknown argument '--frames'" "$O" $V --frames 3
exit $rc
