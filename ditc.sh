#!/usr/bin/env bash
# ditc.sh: one entry point for people: installs what is missing (lua5.4, ninja, python3-numpy
# for the test oracle, libpcre2-dev and libutf8proc-dev for the caption cleaner of bin/ditc-tokenize,
# and, as root, pkg-config and FFmpeg's libavformat-dev libavcodec-dev libswscale-dev libavutil-dev
# for bin/ditc-video's .mp4, which a build without them refuses), then builds and runs a verb
# through ninja.
#   ./ditc.sh demo    a prompt to a video in one binary (tiny parts), PAB off and on, times per phase
#   ./ditc.sh test    every CPU test, ending with "N passed, N failed"
#   ./ditc.sh bench   time per step with PAB off/on, work skipped, arena size, generator time
#   ./ditc.sh build   all binaries (bin/)
#   ./ditc.sh variant [--debug] GEN_ARGS...
#                     a variant of your own (a DiT, a network such as T5, or with --pipeline or
#                     --model-dir a whole pipeline from prompt to video): runs the generator with GEN_ARGS (gen/main.lua's own
#                     arguments, without --out) into build/variant/NAME/, compiles and links the
#                     CPU binary bin/variant/NAME (--debug: bin/variant/debug/NAME, whose --dump
#                     writes intermediates) and prints its path as the last line of stdout. NAME
#                     is --name, else --variant. Built by ninja from a small file it writes next
#                     to the sources (build/variant/NAME.ninja, which includes build.ninja).
# The CUDA toolkit is optional: `test` builds the NCCL binary first where nvcc exists (the
# NCCL checks of tests/dsp.sh need it) and says which checks it skips where it does not.
# Not a build system: build.ninja is.
set -eu
cd "$(dirname "$0")"
verb=${1:-}
usage() {
  cat <<'EOF'
usage: ./ditc.sh VERB [ARGS...]
  demo       one binary from a prompt to a video (Open-Sora 1.2 on the e2e fixture's tiny parts)
             with PAB off and on: progress per phase, seconds per phase, the denoise speedup next
             to the ideal 1/(1-skip), and where the two videos are (build/demo/)
  test       build and run every CPU test (the CI command); ends with "N passed, N failed"
  bench      CPU time per step, PAB off/on and 1 thread vs the default, warmed up, interleaved and
             repeated (median and spread, the ideal PAB speedup beside the measured one); then the
             GPU bench where a device exists
  build      all binaries (bin/)
  variant [--debug] GEN_ARGS...
             generate, compile and link a variant of your own from gen/main.lua's arguments
             (without --out); prints the binary's path as the last line of stdout. With
             --model-dir DIR (or --pipeline) the binary is the whole pipeline, prompt to video
  --help     this text
Installs what is missing first (lua5.4, ninja-build, gcc, libpcre2-dev, libutf8proc-dev; numpy for
the tests; pkg-config and FFmpeg's libavformat-dev libavcodec-dev libswscale-dev libavutil-dev for
.mp4 output, optional: without them .mp4 is refused) when run as root.
EOF
}
case "$verb" in
  demo | test | bench | build | variant) ;;
  --help | -h | help)
    usage
    exit 0
    ;;
  *)
    usage >&2
    exit 2
    ;;
esac
shift

missing_apt=()
command -v lua5.4 >/dev/null || missing_apt+=(lua5.4)
command -v ninja >/dev/null || missing_apt+=(ninja-build)
command -v gcc >/dev/null || missing_apt+=(gcc)
# the caption cleaner's libraries (runtime/text/): bin/ditc-tokenize, part of every verb's build,
# links them
[ -f /usr/include/pcre2.h ] || missing_apt+=(libpcre2-dev)
[ -f /usr/include/utf8proc.h ] || missing_apt+=(libutf8proc-dev)
# the video writer's .mp4 (runtime/video/mp4.c): FFmpeg's libraries, which build.ninja finds with
# pkg-config (tools/video_flags.sh). Optional: without root they are named, and the build writes
# .y4m and refuses .mp4 with the same names.
ffmpeg_apt=(pkg-config libavformat-dev libavcodec-dev libswscale-dev libavutil-dev)
if command -v pkg-config >/dev/null && pkg-config --exists libavformat libavcodec libswscale libavutil 2>/dev/null; then
  ffmpeg_apt=()
elif [ "$(id -u)" = 0 ]; then
  missing_apt+=("${ffmpeg_apt[@]}")
else
  echo "ditc: note: no FFmpeg libraries: bin/ditc-video writes .y4m but not .mp4" \
    "(apt-get install ${ffmpeg_apt[*]})" >&2
fi
# the bench's sgemm yardstick beside ditc's own GEMM (tests/gemm_bench.c opens them at run time):
# OpenBLAS and BLIS, optional, installed as root for `bench`
if [ "$verb" = bench ] && [ "$(id -u)" = 0 ]; then
  [ -e /usr/lib/x86_64-linux-gnu/libopenblas.so.0 ] || missing_apt+=(libopenblas0)
  [ -e /usr/lib/x86_64-linux-gnu/libblis.so.4 ] || missing_apt+=(libblis4)
fi
need_numpy=0
if [ "$verb" = test ] && ! python3 -c 'import numpy' 2>/dev/null; then need_numpy=1; fi
if [ "$verb" = test ] && ! command -v python3 >/dev/null; then missing_apt+=(python3); fi
if [ ${#missing_apt[@]} -gt 0 ] || [ $need_numpy = 1 ]; then
  if [ "$(id -u)" = 0 ]; then
    if [ ${#missing_apt[@]} -gt 0 ]; then
      echo "ditc: installing ${missing_apt[*]}" >&2
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing_apt[@]}" >/dev/null
    fi
    if [ $need_numpy = 1 ]; then
      echo "ditc: installing numpy (the test oracle of tests/ref)" >&2
      python3 -m pip install -q numpy 2>/dev/null || apt-get install -y -qq python3-numpy >/dev/null
    fi
  else
    [ ${#missing_apt[@]} -gt 0 ] && echo "ditc: missing: ${missing_apt[*]} (apt-get install ${missing_apt[*]})" >&2
    [ $need_numpy = 1 ] && echo "ditc: missing: numpy (pip install numpy, or apt-get install python3-numpy)" >&2
    exit 1
  fi
fi

# ---- variant: generate, compile and link one variant of the user's -------------------------
# ninja escaping of one word: $ -> $$, and the word shell-quoted for the command line
ninja_word() { local q; q=$(printf '%q' "$1"); printf '%s' "${q//\$/\$\$}"; }
variant() {
  local debug=0 name="" args=() a prev=""
  [ "${1:-}" = --debug ] && debug=1 && shift
  for a in "$@"; do
    case "$prev" in
      --name) name=$a ;;
      --variant) [ -n "$name" ] || name=$a ;;
    esac
    case "$a" in
      --out) echo "ditc: variant: leave out --out (the sources go to build/variant/NAME/)" >&2; return 2 ;;
      --backend) echo "ditc: variant builds the CPU binary; CUDA builds are in build.ninja (ninja cuda)" >&2; return 2 ;;
    esac
    prev=$a
    args+=("$(ninja_word "$a")")
  done
  # --name wins over --variant wherever it stands
  prev=""
  for a in "$@"; do [ "$prev" = --name ] && name=$a; prev=$a; done
  if [ -z "$name" ]; then
    echo "usage: ./ditc.sh variant [--debug] --model models/F.lua (--variant V | --config J --name N ...) [...]" >&2
    return 2
  fi
  case "$name" in
    */* | .* | *[!A-Za-z0-9._-]*) echo "ditc: variant: NAME must be letters, digits, '.', '_' or '-', got '$name'" >&2; return 2 ;;
  esac
  # the model's kind: a network (a text encoder, ...) has no schedule.txt
  local model="" kind=denoiser outputs
  prev=""
  for a in "$@"; do [ "$prev" = --model ] && model=$a; prev=$a; done
  if [ -n "$model" ] && [ -f "$model" ]; then
    kind=$(printf '%s\n' 'dofile("gen/paths.lua")(""); require("util").quiet = true' \
      'print(require("describe").load_family(arg[1]).cls.kind)' | lua5.4 - "$model" 2>/dev/null) || kind=denoiser
  fi
  local dir=build/variant/$name bin=bin/variant/$name extra=""
  # a whole pipeline (--pipeline, or --model-dir): three parts and pipeline.c
  for a in "$@"; do case "$a" in --pipeline | --model-dir) kind=pipeline ;; esac; done
  outputs="$dir/forward.c $dir/offsets.h $dir/tables.c $dir/entry.c $dir/schedule.txt $dir/plan.txt $dir/manifest.txt"
  if [ "$kind" = network ]; then
    outputs="$dir/forward.c $dir/offsets.h $dir/tables.c $dir/entry.c $dir/plan.txt $dir/manifest.txt"
  fi
  [ $debug = 1 ] && bin=bin/variant/debug/$name && extra=-DDITC_DUMP_ENABLED
  mkdir -p build/variant
  local f=build/variant/$name.ninja
  local build
  if [ "$kind" = pipeline ]; then
    [ $debug = 1 ] && { echo "ditc: variant: --debug builds one network's dumps; a pipeline has none" >&2; return 2; }
    # three parts and pipeline.c: each part compiled with its own offsets.h, linked with runtime/pipeline/
    local p o objs="build/variant/obj/$name/pipeline.o"
    outputs="$dir/denoise/forward.c $dir/denoise/schedule.txt $dir/plan.txt $dir/pipeline.c"
    build="build build/variant/obj/$name/pipeline.o: pipeline_cc $dir/pipeline.c | rt_deps
  dir = $dir
"
    for p in denoise text decode; do
      outputs="$outputs $dir/$p/offsets.h $dir/$p/tables.c $dir/$p/entry.c $dir/$p/plan.txt $dir/$p/manifest.txt"
      [ $p = denoise ] || outputs="$outputs $dir/$p/forward.c"
      for o in forward tables; do
        objs="$objs build/variant/obj/$name/$p.$o.o"
        build="${build}build build/variant/obj/$name/$p.$o.o: pipeline_cc $dir/$p/$o.c | $dir/$p/offsets.h rt_deps
  dir = $dir/$p
"
      done
    done
    build="${build}build $bin: pipeline_link $objs | pipeline_deps"
  else # build.ninja's own compile-and-link rule with the CPU backend and no NCCL, as for every shipped variant
    build="build $bin: variant $dir/forward.c $dir/tables.c $dir/entry.c | $dir/offsets.h rt_deps
  dir = $dir
  extra = $extra"
  fi
  cat >"$f.tmp" <<NINJA
# written by ./ditc.sh variant (do not edit): the generator's arguments, then build.ninja's rules
include build.ninja
rule gen_user
  command = \$lua gen/main.lua \$args --out \$dir --quiet
  description = GEN \$dir
  depfile = \$dir/gen.d
  restat = 1
build $outputs: gen_user
  args = ${args[*]}
  dir = $dir
$build
NINJA
  if ! cmp -s "$f.tmp" "$f"; then mv "$f.tmp" "$f"; else rm -f "$f.tmp"; fi
  ninja -f "$f" "$bin" >&2
  echo "$bin"
}

case "$verb" in
  build) exec ninja ;;
  variant) variant "$@" ;;
  test)
    # the NCCL binary is outside `all` (it needs the CUDA toolkit); tests/dsp.sh skips its checks
    # without it, and says so
    # (build.ninja's $cuda: /usr/local/cuda, with NCCL's header)
    if [ -x /usr/local/cuda/bin/nvcc ] && [ -e /usr/local/cuda/include/nccl.h ]; then
      ninja nccl
    else
      echo "ditc: no CUDA toolkit with NCCL at /usr/local/cuda: the NCCL binary is not built;" \
        "tests/dsp.sh skips its NCCL checks" >&2
    fi
    exec ninja test
    ;;
  *) exec ninja "$verb" ;;
esac
