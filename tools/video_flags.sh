#!/bin/sh
# tools/video_flags.sh DIR: the compile and link flags of runtime/video/mp4.c, from pkg-config:
# DIR/ffmpeg.cflags and DIR/ffmpeg.libs hold FFmpeg's (libavformat libavcodec libswscale libavutil)
# where pkg-config knows all four, else "-DDITC_NO_FFMPEG" and nothing (a build that writes .y4m
# and refuses .mp4). DITC_FFMPEG=off in the environment asks for the second kind on any machine.
# build.ninja runs this on every ninja call (PROBE ffmpeg); each file is rewritten only when its
# content changes, so an unchanged machine rebuilds nothing (the rule has restat = 1). Not a
# configure script: nothing else is probed.
set -eu
dir=$1
mods="libavformat libavcodec libswscale libavutil"
if [ "${DITC_FFMPEG:-on}" != off ] && cflags=$(pkg-config --cflags $mods 2>/dev/null) &&
  libs=$(pkg-config --libs $mods 2>/dev/null); then
  :
else
  cflags=-DDITC_NO_FFMPEG
  libs=
fi
mkdir -p "$dir"
# put FILE TEXT: FILE holds TEXT (and a newline) afterwards; untouched when it already did
put() {
  printf '%s\n' "$2" >"$1.tmp"
  if cmp -s "$1.tmp" "$1"; then rm -f "$1.tmp"; else mv "$1.tmp" "$1"; fi
}
put "$dir/ffmpeg.cflags" "$cflags"
put "$dir/ffmpeg.libs" "$libs"
