#!/usr/bin/env bash
# tools/demo.sh (`ninja demo`): the tiny Open-Sora 1.2 model of the fixtures, sampled for 30
# steps with PAB off and with PAB on from the same noise and caption; prints the schedule
# summary and the wall time of both runs. Outputs go to build/demo/.
set -eu
cd "$(dirname "$0")/.."
G=tests/golden/opensora-v1.2
BIN=bin/opensora-v1.2-fixture
mkdir -p build/demo
echo "== schedule (bin/opensora-v1.2-fixture --print-schedule, summary) =="
$BIN --print-schedule | sed -n '/^summary/,$p'
for pab in off on; do
  echo "== sampling, PAB $pab =="
  start=$(date +%s%N)
  $BIN --weights $G/weights.safetensors --cond $G/sample_nopab.safetensors --noise $G/sample_nopab.safetensors \
    --pab $pab --out build/demo/pab-$pab.safetensors 2>&1 | sed -n '1p;$p'
  end=$(date +%s%N)
  echo "PAB $pab: wall time $(((end - start) / 1000000)) ms -> build/demo/pab-$pab.safetensors"
done
