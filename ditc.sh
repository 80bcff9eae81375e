#!/usr/bin/env bash
# ditc.sh: one entry point for people: installs what is missing (lua5.4, ninja, python3-numpy
# for the test oracle), then builds and runs a verb through ninja.
#   ./ditc.sh demo    the fixture model sampled with PAB off and on, schedule summary and times
#   ./ditc.sh test    every CPU test, ending with "N passed, N failed"
#   ./ditc.sh bench   time per step with PAB off/on, work skipped, arena size, generator time
#   ./ditc.sh build   all binaries (bin/)
# Not a build system: build.ninja is.
set -eu
cd "$(dirname "$0")"
verb=${1:-}
case "$verb" in
  demo | test | bench | build) ;;
  *)
    echo "usage: ./ditc.sh demo|test|bench|build" >&2
    exit 2
    ;;
esac

missing_apt=()
command -v lua5.4 >/dev/null || missing_apt+=(lua5.4)
command -v ninja >/dev/null || missing_apt+=(ninja-build)
command -v gcc >/dev/null || missing_apt+=(gcc)
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

case "$verb" in
  build) exec ninja ;;
  *) exec ninja "$verb" ;;
esac
