#!/usr/bin/env bash
# tools/demo.sh (`ninja demo`): Open-Sora 1.2 with the fixture's weights and caption at a latent
# of 5x20x28 (bin/opensora-v1.2-cpu-demo: PAB skips 15.5% of the FLOPs there, against 8.4% at
# the fixture's own tiny size, where timing noise hides it), sampled for 30 steps with PAB off
# and with PAB on from the same seed; every step's progress line, the schedule summary, both
# wall times and their ratio next to PAB's ideal speedup 1/(1-skipped share). The binary and its
# inputs are read once first, so neither timed run starts cold. Outputs go to build/demo/. Not a
# benchmark: one run each (`./ditc.sh bench` warms up, repeats and interleaves).
set -eu
cd "$(dirname "$0")/.."
G=tests/golden/opensora-v1.2
BIN=bin/opensora-v1.2-cpu-demo
mkdir -p build/demo
echo "== schedule ($BIN --print-schedule, summary) =="
$BIN --print-schedule | sed -n '/^summary/,$p'
skip=$($BIN --print-schedule | sed -n 's/.*, \([0-9.]*\)% of all step FLOPs.*/\1/p')
args=(--weights $G/weights.safetensors --cond $G/sample_nopab.safetensors --seed 42)
cat $BIN $G/weights.safetensors $G/sample_nopab.safetensors >/dev/null # both timed runs read them warm
declare -A ms
for pab in off on; do
  echo "== sampling, PAB $pab =="
  start=$(date +%s%N)
  $BIN "${args[@]}" --pab $pab --out build/demo/pab-$pab.safetensors 2>&1
  end=$(date +%s%N)
  ms[$pab]=$(((end - start) / 1000000))
  echo "PAB $pab: wall time ${ms[$pab]} ms -> build/demo/pab-$pab.safetensors"
done
awk -v off="${ms[off]}" -v on="${ms[on]}" -v s="$skip" 'BEGIN {
  printf "speedup on/off %.3fx (one run each); ideal 1/(1-skip) = %.3fx for %s%% skipped\n", off / on, 1 / (1 - s / 100), s }'
