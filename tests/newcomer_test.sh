#!/usr/bin/env bash
# tests/newcomer_test.sh: the entry points a newcomer uses first, run as the README writes them:
# `./ditc.sh variant` (generate, compile and link a variant of one's own; its last stdout line is
# the binary, --debug gives the dumping build), the README's thread-rank example through it, the
# README's hand-written compile line (read from README.md, so it cannot rot), and the GPU verbs
# skipping in a second, before building anything, without a device. Prints ok / not ok lines.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
os12_fixture

# ---- ./ditc.sh variant ----------------------------------------------------------------------
# variant NAME ARGS...: runs the verb, sets $bin to the last line of its stdout
variant() {
  local name=$1 out
  shift
  bin=""
  if out=$(./ditc.sh variant "$@" 2>"$tmp/variant.err"); then
    bin=$(printf '%s\n' "$out" | tail -n 1)
    if [ -x "$bin" ]; then echo "ok - ./ditc.sh variant $name: built $bin"; return; fi
  fi
  echo "not ok - ./ditc.sh variant $name: no binary (stdout '$(printf '%s' "$out" | tail -n 1)'): $(tail -n 3 "$tmp/variant.err" | tr '\n' ' ')"
  rc=1
}
variant "(config.json)" --model models/opensora-v1.2.lua --config tests/data/stdit3-odd.json --name newcomer-odd \
  --height 48 --width 56 --frames 17 --latent 3,6,7 --steps 12
expect "the printed binary runs --info, with the config's shape" bash -c \
  "'$bin' --info | grep -F 'latent [1, 4, 3, 6, 7], text [1, 10, 24], sampler rflow 12 steps'"

variant "--debug (fixture)" --debug --model models/opensora-v1.2.lua --variant fixture --name newcomer-fixture
expect "the --debug binary dumps intermediates with --dump" bash -c \
  "'$bin' --weights $G/weights.safetensors --forward $G/forward.safetensors --call call0. --dump all \
   --out '$tmp/dump.safetensors' && head -c 65536 '$tmp/dump.safetensors' | grep -q '\"inter\\.'"
t $CMP --label "--debug binary's forward call0.out vs upstream" "$tmp/dump.safetensors" out $G/forward.safetensors call0.out

expect "./ditc.sh variant refuses --out" bash -c \
  "! ./ditc.sh variant --model models/opensora-v1.2.lua --variant fixture --out x 2>/dev/null"

# the README's thread-rank example: the binary it generated, at 4 ranks, equal to one rank
variant "--sp 4 (the README's thread-rank example)" --model models/opensora-v1.2.lua --variant fixture --sp 4 \
  --name fixture-sp4
expect "the generated sp4 binary runs on 4 thread ranks" "$bin" --ranks 4 "${W[@]}" --quiet --out "$tmp/sp4.safetensors"
expect "fixture, 1 rank" bin/opensora-v1.2-fixture "${W[@]}" --quiet --out "$tmp/sp1.safetensors"
t $CMP --exact --label "the README's sp4 example == 1 rank" "$tmp/sp4.safetensors" final "$tmp/sp1.safetensors" final

# ---- the README's hand-written compile line ---------------------------------------------------
# the `cc ...` command of "Building a variant" (continuation lines joined), on a variant generated
# into a scratch folder instead of build/gen/mine
README=${README:-README.md} # (another README, to check a proposed text)
line=$(awk '/^## Building a variant/ { s = 1 } s && /^cc / { c = 1 } c { l = l $0 " " } c && !/\\$/ { print l; exit }' \
  "$README" | sed 's/\\ / /g' | tr -s ' ')
if [ -z "$line" ]; then
  echo "not ok - $README: no 'cc ...' line under '## Building a variant'"
  rc=1
else
  mkdir -p "$tmp/build/gen/mine" "$tmp/bin"
  lua5.4 gen/main.lua --model models/opensora-v1.2.lua --config tests/data/stdit3-odd.json --name mine --height 48 \
    --width 56 --frames 17 --latent 3,6,7 --out "$tmp/build/gen/mine" --quiet
  cmd=$(printf '%s' "$line" | sed "s#build/gen/mine#$tmp/build/gen/mine#g; s#bin/mine#$tmp/bin/mine#g")
  expect "README.md's hand-written compile line links: $line" bash -c "$cmd"
  expect "... and its binary runs --info" "$tmp/bin/mine" --info
fi

# ---- GPU verbs without a device: skipped first, nothing built ---------------------------------
if ! nvidia-smi -L 2>/dev/null | grep -q GPU; then
  expect "tests/gpu.sh without a device: 'skipped: no CUDA device', exit 0, nothing built" bash -c \
    "out=\$(tests/gpu.sh) && [ \"\$out\" = 'skipped: no CUDA device' ]"
  expect "tools/bench_gpu.sh without a device: 'skipped: no CUDA device'" bash -c \
    "[ \"\$(tools/bench_gpu.sh)\" = 'skipped: no CUDA device' ]"
fi
exit $rc
