#!/usr/bin/env bash
# tools/bench.sh (`ninja bench`): CPU numbers, all measured in this run: per variant the time
# per step and per 30-step loop with PAB off and on (the baseline is PAB off of the same binary),
# the share of step FLOPs PAB skips, the arena size, and the generator's run time per variant;
# then the GPU numbers of tools/bench_gpu.sh (which prints "skipped: no CUDA device" without one).
set -eu
cd "$(dirname "$0")/.."
G=tests/golden/opensora-v1.2
echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "== fixture model (real fixture weights) =="
bin/opensora-v1.2-fixture --weights $G/weights.safetensors --cond $G/sample_nopab.safetensors --bench
echo "== cpu-bench model (random weights, synthetic caption) =="
bin/opensora-v1.2-cpu-bench --random-weights 1 --bench
echo "== generator run time (lua5.4 gen/main.lua, fresh output directory) =="
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
for v in fixture cpu-bench 480p-9x16-51f 480p-9x16-102f; do
  mkdir -p "$tmp/$v"
  start=$(date +%s%N)
  lua5.4 gen/main.lua --model models/opensora-v1.2.lua --variant $v --out "$tmp/$v" --quiet
  end=$(date +%s%N)
  printf '  %-16s %d ms, arena %s bytes\n' "$v" "$(((end - start) / 1000000))" \
    "$(sed -n 's/^arena \([0-9]*\) bytes.*/\1/p' "$tmp/$v/plan.txt")"
done
echo "== GPU: released sizes, ditc vs PyTorch (tools/bench_gpu.sh) =="
tools/bench_gpu.sh
