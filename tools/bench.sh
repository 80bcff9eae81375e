#!/usr/bin/env bash
# tools/bench.sh (`ninja bench`): CPU numbers, all measured in this run: per model the time per
# step and per 30-step loop with PAB off and on and with one thread against the default thread
# count (--bench: a warm-up loop, then rounds of every configuration in rotating order; the
# median, its spread, and PAB's ideal speedup 1/(1-skipped share) next to the measured one), the
# arena size, the single-core sgemm yardstick and ditc beside PyTorch's CPU forward of the same
# models at 1 and 2 threads (tools/bench_cpu.sh), the generator's run time per variant, the T5
# tokenizer's prompts per second
# (build/tests/tok_bench: warmed up, kinds interleaved, median and spread), the video decoders'
# 3-D convolution in GFLOP/s at 1 and 2 threads (build/tests/vae_bench, likewise) and bin/ditc-tokenize's
# with the pipelines' cleaning (tools/bench_tokenize.py, likewise), the T5 fixture encoder's run
# time and the xxl encoder's arena, weights and FLOPs per prompt as generated for each storage,
# the video writers' time per frame at 480x848 (build/tests/video_bench: .y4m beside its parts
# timed alone, .mp4 through libx264); then the GPU numbers of
# tools/bench_gpu.sh, which needs no lua and runs even when a CPU part fails (it prints
# "skipped: no CUDA device" without one). Not a test: nothing here fails on a number.
set -eu
cd "$(dirname "$0")/.."
G=tests/golden/opensora-v1.2
W=(--weights $G/weights.safetensors --cond $G/sample_nopab.safetensors)
status=0
cpu() {
  echo "== machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "== fixture model (real fixture weights; PAB skips little at this size) =="
  bin/opensora-v1.2-fixture "${W[@]}" --bench
  echo "== cpu-demo model (the fixture's weights at a 5x20x28 latent) =="
  bin/opensora-v1.2-cpu-demo "${W[@]}" --bench
  echo "== generator run time (lua5.4 gen/main.lua, fresh output directory) =="
  tmp=$(mktemp -d)
  for v in fixture cpu-demo cpu-bench 480p-9x16-51f 480p-9x16-102f; do
    mkdir -p "$tmp/$v"
    start=$(date +%s%N)
    lua5.4 gen/main.lua --model models/opensora-v1.2.lua --variant $v --out "$tmp/$v" --quiet
    end=$(date +%s%N)
    printf '  %-16s %d ms, arena %s bytes\n' "$v" "$(((end - start) / 1000000))" \
      "$(sed -n 's/^arena \([0-9]*\) bytes.*/\1/p' "$tmp/$v/plan.txt")"
  done
  rm -rf "$tmp"
  echo "== T5 tokenizer (build/tests/tok_bench: the fixture's 155 prompts, every kind) =="
  build/tests/tok_bench tests/golden/t5/spiece.model tests/golden/t5/tokenizer_cases.json
  echo "== video decoders: cpu_conv3d (build/tests/vae_bench: warmed up, thread counts interleaved, median and spread) =="
  build/tests/vae_bench
  echo "== prompt preprocessing and tokenizing end to end (tools/bench_tokenize.py: bin/ditc-tokenize) =="
  python3 tools/bench_tokenize.py
  echo "== T5 encoder, fixture (4 rows of 300 tokens a call, d_model 64): whole-binary time, median of 7 after a warm-up =="
  local T=tests/golden/t5 times=() i
  tmp=$(mktemp -d)
  for i in 0 1 2 3 4 5 6 7; do
    start=$(date +%s%N)
    bin/t5-v1.1-fixture --weights $T/weights.safetensors --ids $T/forward.safetensors --out "$tmp/o.safetensors" --quiet
    end=$(date +%s%N)
    [ $i -gt 0 ] && times+=($(((end - start) / 1000)))
  done
  printf '  %s us per run (load, 1 call, write); all: %s\n' \
    "$(printf '%s\n' "${times[@]}" | sort -n | sed -n 4p)" "$(printf '%s ' "${times[@]}")"
  echo "== T5 v1.1 xxl (DeepFloyd/t5-v1_1-xxl), the generator's sizes per prompt =="
  for L in 300 120; do
    for st in fp32 bf16 fp16; do
      local args=(--model models/t5-v1.1.lua --variant xxl-$L --out "$tmp/xxl-$L-$st" --quiet)
      [ $st != fp32 ] && args+=(--backend cuda --storage $st --name xxl-$L)
      lua5.4 gen/main.lua "${args[@]}"
      local p="$tmp/xxl-$L-$st/plan.txt"
      printf '  L %d, %s storage: arena %s, weights %s, %s\n' $L $st \
        "$(sed -n 's/^arena [0-9]* bytes (\([^)]*\)).*/\1/p' "$p")" \
        "$(sed -n 's/^weights [0-9]* [a-z0-9]* elements (\([^)]*\)).*/\1/p' "$p")" \
        "$(sed -n 's/^flops per call \([^ ]*\).*/\1 FLOPs per prompt/p' "$p")"
    done
  done
  rm -rf "$tmp"
  echo "== video files (build/tests/video_bench: video_write at a VAE's 480x848 output, 24 frames) =="
  build/tests/video_bench 24 480 848 7
  vae
}
# The VAE decoders: CPU decode time per frame of each fixture binary and of a larger CPU-sized
# variant of each fixture config (built by ./ditc.sh variant, the fixture's weights: a latent size
# changes no weight), median of 5 after a warm-up; then the released decoders' arena, weights and
# FLOPs as the generator plans them, for the CPU (fp32) and the pipeline's GPU storage.
vae() {
  echo "== VAE decoders: CPU decode, whole-binary time per frame (load, decode, write), median of 5 after a warm-up =="
  local tmp fam v lat extra bin times i start end frames
  tmp=$(mktemp -d)
  for spec in "opensora-v1.2 z 4,5,16,24 --frames 17" "latte latents 4,16,16,16" \
    "opensora-plan-v1.1 latents 4,3,12,12 --tiling off"; do
    set -- $spec
    fam=$1 v=$2 lat=$3
    shift 3
    extra=("$@")
    local G=tests/golden/vae-$fam
    for which in fixture cpu-bench; do
      if [ $which = fixture ]; then
        bin=bin/vae-$fam-fixture
        cp $G/decode.safetensors $tmp/z.safetensors
      else
        bin=$(./ditc.sh variant --model models/vae-$fam.lua --config $G/config.json --name vae-$fam-cpu-bench \
          --latent $lat "${extra[@]}" 2>/dev/null | tail -n 1)
        python3 tests/ref/vae_ref.py random-latents --shape 1,$lat --seed 1 --name $v --out $tmp/z.safetensors >/dev/null
      fi
      times=()
      for i in 0 1 2 3 4 5; do
        start=$(date +%s%N)
        $bin --weights $G/weights.safetensors --latents $tmp/z.safetensors --out $tmp/o.safetensors --quiet
        end=$(date +%s%N)
        [ $i -gt 0 ] && times+=($(((end - start) / 1000)))
      done
      frames=$(python3 -c "import sys; sys.path.insert(0, 'tests/ref'); import safetensors_np as s; \
print(s.read_header('$tmp/o.safetensors')[0]['frames_u8']['shape'][1])")
      local med
      med=$(printf '%s\n' "${times[@]}" | sort -n | sed -n 3p)
      printf '  %-22s %-9s %3d frames: %8.1f ms per frame (%d us per call; all: %s)\n' "$fam" $which "$frames" \
        "$(echo "$med / $frames / 1000" | bc -l)" "$med" "$(printf '%s ' "${times[@]}")"
    done
  done
  echo "== VAE decoders at released sizes: the generator's plan per storage (upstream decoder params: spec'd in docs) =="
  for spec in "opensora-v1.2 480p-9x16-51f bf16" "latte 16x512x512 fp16" "opensora-plan-v1.1 65x512x512 fp16"; do
    set -- $spec
    for st in fp32 $3; do
      local args=(--model models/vae-$1.lua --variant $2 --out "$tmp/$1-$st" --quiet)
      [ $st != fp32 ] && args+=(--backend cuda --storage $st --name $2)
      lua5.4 gen/main.lua "${args[@]}"
      local p="$tmp/$1-$st/plan.txt"
      printf '  %-30s %s storage: arena %s, weights %s, %s\n' "$1/$2" $st \
        "$(sed -n 's/^arena [0-9]* bytes (\([^)]*\)).*/\1/p' "$p")" \
        "$(sed -n 's/^weights [0-9]* [a-z0-9]* elements (\([^)]*\)).*/\1/p' "$p")" \
        "$(sed -n 's/^flops per call \([^ ]*\).*/\1 FLOPs per video/p' "$p")"
    done
  done
  tools/bench_cpu.sh
  echo "== the tiny pipelines, prompt to frames in one binary (the e2e fixtures' parts, fp32): seconds per phase =="
  echo "   (a warm-up run, then 5 runs interleaved PAB off / on; median and [min, max] of each phase)"
  local pl_os=(bin/pipeline/opensora-v1.2-e2e --model-dir tests/golden/e2e-opensora-v1.2 --text-encoder
    tests/golden/e2e-opensora-v1.2/DeepFloyd/t5-v1_1-xxl-sharded --tokenizer tests/golden/t5)
  local pl_la=(build/tests/pipeline-latte-e2e --model-dir tests/golden/e2e-latte/maxin-cn/Latte-1 --tokenizer tests/golden/t5)
  local ptmp
  ptmp=$(mktemp -d)
  for fam in os la; do
    local cmd=("${pl_os[@]}")
    [ $fam = la ] && cmd=("${pl_la[@]}")
    "${cmd[@]}" --prompt "a red panda eating bamboo" --seed 1 --out $ptmp/w.safetensors --quiet
    for i in 1 2 3 4 5; do
      for pab in off on; do
        "${cmd[@]}" --prompt "a red panda eating bamboo" --seed 1 --pab $pab --out $ptmp/o.safetensors --quiet --json \
          >$ptmp/$fam-$pab-$i.json
      done
    done
    python3 - "${cmd[0]}" $ptmp/$fam <<'PY'
import glob, json, statistics, sys
print(f"  {sys.argv[1]}:")
for pab in ("off", "on"):
    runs = [json.load(open(p))["seconds"] for p in sorted(glob.glob(f"{sys.argv[2]}-{pab}-*.json"))]
    cells = []
    for k in ("text", "denoise", "decode", "write", "total"):
        v = [r[k] for r in runs]
        cells.append(f"{k} {statistics.median(v):.3f} [{min(v):.3f}, {max(v):.3f}]")
    print(f"    PAB {pab:<3} " + ", ".join(cells) + " s")
PY
  done
  rm -rf "$ptmp"
  echo "== pipelines at released sizes: the generator's plan over text -> denoise -> decode, GPU storage =="
  echo "   (upstream VideoSys keeps T5, DiT and VAE resident: the 'resident' weights, plus its own activations)"
  for spec in "opensora-v1.2 480p-9x16-51f" "latte 16x512x512" "opensora-plan-v1.1 65x512x512"; do
    set -- $spec
    lua5.4 gen/main.lua --model models/$1.lua --variant $2 --pipeline --backend cuda --out "$tmp/pipe-$1" --quiet
    echo "  $1/$2:"
    sed -n '/^phase/,$p' "$tmp/pipe-$1/plan.txt" | sed 's/^/    /'
  done
  rm -rf "$tmp"
}
# a failing CPU part (a missing binary, no lua5.4) is reported and the GPU part still runs
(cpu) || { status=$?; echo "not ok - the CPU bench failed (exit $status)"; }
echo "== GPU: released sizes, ditc vs PyTorch (tools/bench_gpu.sh) =="
tools/bench_gpu.sh || status=$?
exit $status
