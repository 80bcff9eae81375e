#!/usr/bin/env bash
# tools/demo.sh (`ninja demo`, `./ditc.sh demo`): the whole pipeline, from a prompt to a video file,
# in one binary: bin/pipeline/opensora-v1.2-e2e, Open-Sora 1.2 on the end-to-end fixture's tiny parts
# (tests/golden/e2e-opensora-v1.2: a 2-layer T5, a 2-layer STDiT3 and the temporal + 2-D VAE, random
# weights, so the video is noise with structure, not a red panda), 144x256, 17 frames, 30 RFLOW
# steps. It prints the memory plan, then runs the prompt twice from the same seed, PAB off and on:
# every phase's progress, both videos' paths, the seconds per phase and the denoise phase's speedup
# next to PAB's ideal 1/(1-skipped share) (PAB skips 24% of this DiT's step FLOPs: the two
# runs differ by more than their noise on a quiet machine). The binary and its inputs are read once
# first, so neither timed run starts cold. Outputs go to build/demo/. Not a benchmark: one run each
# (`./ditc.sh bench` warms up, repeats and interleaves).
set -eu
cd "$(dirname "$0")/.."
G=tests/golden/e2e-opensora-v1.2
BIN=bin/pipeline/opensora-v1.2-e2e
PROMPT="a red panda eating bamboo in a misty forest, soft light"
ext=mp4
bin/ditc-video --help | grep -q "writes .mp4" || ext=y4m # a build without FFmpeg: .y4m
mkdir -p build/demo
echo "== the pipeline's memory plan ($BIN --print-plan) =="
$BIN --print-plan | sed -n '/^phase/,/^arena/p'
skip=$($BIN --print-schedule | sed -n 's/.*, \([0-9.]*\)% of all step FLOPs.*/\1/p')
echo "PAB skips $skip% of the transformer's step FLOPs ($BIN --print-schedule)"
dirs=(--model-dir $G --text-encoder $G/DeepFloyd/t5-v1_1-xxl-sharded --tokenizer tests/golden/t5)
cat $BIN $G/*/*/*.safetensors tests/golden/t5/spiece.model >/dev/null # both timed runs read them warm
for pab in off on; do
  echo "== \"$PROMPT\", PAB $pab =="
  $BIN "${dirs[@]}" --prompt "$PROMPT" --seed 42 --pab $pab --video build/demo/panda-pab-$pab.$ext \
    --out build/demo/panda-pab-$pab.safetensors --json >build/demo/pab-$pab.json
done
python3 - build/demo/pab-off.json build/demo/pab-on.json "$skip" build/demo/panda-pab-off.$ext build/demo/panda-pab-on.$ext <<'PY'
import json, sys
off, on = (json.load(open(p))["seconds"] for p in sys.argv[1:3])
skip = float(sys.argv[3])
print("== seconds per phase (one run each) ==")
print("          " + "".join(f"{k:>9}" for k in ("text", "denoise", "decode", "write", "total")))
for name, t in (("PAB off", off), ("PAB on", on)):
    print(f"{name:<10}" + "".join(f"{t[k]:>9.2f}" for k in ("text", "denoise", "decode", "write", "total")))
print(f"denoise speedup on/off {off['denoise'] / on['denoise']:.3f}x; ideal 1/(1-skip) = {1 / (1 - skip / 100):.3f}x "
      f"for {skip}% skipped")
print(f"videos: {sys.argv[4]} (PAB off), {sys.argv[5]} (PAB on)")
PY
