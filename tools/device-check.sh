#!/usr/bin/env bash
# tools/device-check.sh: every open GPU question of ditc answered by one prepared command on a lent
# GPU machine, inside a global deadline. It never calls ninja or lua (the device image has no lua,
# and a carried build must not be rebuilt there): everything it runs is built here and carried.
#
# Here (a machine with the CUDA toolkit, no GPU needed):
#   DITC_FFMPEG=off ninja all cuda       # the CPU reference binaries, every CUDA build, the tools
#                                        # (without FFmpeg: the device has none)
#   tools/device-check.sh --pack         # devcheck/carry.tar.xz: the files listed by --list, ~5 MiB
# On the device (the device tool's run; the tracked files are ~32 MiB, with the pack under 45 MiB):
#   command: tools/device-check.sh       carry: ["devcheck"]        timeout_s: DEVCHECK_SECONDS + 60
# It unpacks devcheck/carry.tar.xz when present, then runs its stages, most informative first,
# each under its own time limit and never past the global deadline (DEVCHECK_SECONDS, default
# 420): a stage that would start with too little time left is reported as not run.
#   1 env        nvidia-smi, the driver, ldd of the binaries (cuBLASLt, cuDNN found), the tools
#   2 ops        every CUDA op against the CPU op, and the video decoders' ops (both conv3d
#                backends) against float64, in fp32, bf16 and fp16 storage
#   3 rates      per-op rates at the 480p shapes (build/tools/op_rates: each attention kind and
#                backend, each GEMM shape, each memory-bound kernel), the video decoders' ops at
#                release shapes (build/tools/vae_rates: conv3d own vs cuDNN) and the dense GEMM rate
#   4 bench      Open-Sora 1.2 480p 9:16 51 frames, random weights: s/step PAB off/on, peak memory
#   5 gpu-tests  tests/gpu.sh on the carried builds: the fixtures against upstream and the CPU
#   6 sanitizer  compute-sanitizer memcheck and racecheck on the bf16 op test at head dim 72
#   7 extra      if time is left: Latte 16x512x512 and the PyTorch baseline of both models
# Output: OUTDIR (the first argument, else $OUT, else build/devcheck) gets summary.txt and one log
# per stage (seven at most); the summary is printed last. DEVCHECK_DRY=1 (or a machine without a
# GPU) runs the same stages and deadline logic with every stage "skipped: no CUDA device";
# DEVCHECK_DRY_SLEEP=S makes each dry stage take S seconds (for the deadline's test). The test
# command runs the dry run (tests/devcheck_test.sh). Not a test: it reports, and exits 0 unless
# it could not run at all.
set -u
cd "$(dirname "$0")/.." || exit 2

# ---- what is built here and carried ------------------------------------------------------------
CARRY=devcheck/carry.tar.xz
FILES=(
  bin/cuda/opensora-v1.2-fixture bin/cuda/opensora-v1.2-fixture-aggressive bin/cuda/latte-fixture
  bin/cuda/latte-fixture-aggressive bin/cuda/opensora-plan-v1.1-fixture bin/cuda/opensora-plan-v1.1-fixture-aggressive
  bin/cuda-fp32/opensora-v1.2-fixture bin/cuda-fp32/latte-fixture bin/cuda-fp32/opensora-plan-v1.1-fixture
  bin/cuda/t5-v1.1-fixture bin/cuda-fp32/t5-v1.1-fixture bin/cuda-fp16/t5-v1.1-fixture
  bin/cuda/vae-opensora-v1.2-fixture bin/cuda/vae-latte-fixture bin/cuda/vae-opensora-plan-v1.1-fixture
  bin/cuda-fp32/vae-opensora-v1.2-fixture bin/cuda-fp32/vae-latte-fixture bin/cuda-fp32/vae-opensora-plan-v1.1-fixture
  bin/vae-opensora-v1.2-fixture bin/vae-latte-fixture bin/vae-opensora-plan-v1.1-fixture
  bin/cuda/opensora-v1.2-480p-9x16-51f bin/cuda/latte-16x512x512
  bin/opensora-v1.2-fixture bin/latte-fixture bin/opensora-plan-v1.1-fixture
  build/tests/cuda_ops_test_fp32 build/tests/cuda_ops_test_bf16 build/tests/cuda_ops_test_fp16 build/tests/stcmp
  build/tests/cuda_vae_test_fp32 build/tests/cuda_vae_test_bf16 build/tests/cuda_vae_test_fp16
  build/tools/gemm_rate build/tools/op_rates build/tools/vae_rates
)

case "${1:-}" in
  --list)
    printf '%s\n' "${FILES[@]}"
    exit 0
    ;;
  --pack)
    missing=""
    for f in "${FILES[@]}"; do [ -x "$f" ] || missing="$missing $f"; done
    if [ -n "$missing" ]; then
      echo "device-check: not built:$missing (run: DITC_FFMPEG=off ninja all cuda)" >&2
      exit 1
    fi
    # the device's image has no FFmpeg: a binary linked with it would not start there
    for f in "${FILES[@]}"; do
      if ldd "$f" 2>/dev/null | grep -q 'libav'; then
        echo "device-check: $f links FFmpeg, which the device lacks (run: DITC_FFMPEG=off ninja all cuda)" >&2
        exit 1
      fi
    done
    mkdir -p devcheck
    tar -cJf "$CARRY.tmp" "${FILES[@]}" && mv "$CARRY.tmp" "$CARRY" || exit 1
    echo "device-check: $CARRY, $(($(wc -c <"$CARRY") / 1024)) KiB; tracked files $(($(git ls-files -z | xargs -0 cat | wc -c) / 1048576)) MiB"
    echo "run on the device: command 'tools/device-check.sh', carry [\"devcheck\"], timeout_s ${DEVCHECK_SECONDS:-420} + 60"
    exit 0
    ;;
  --help | -h)
    sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
esac

OUTDIR=${1:-${OUT:-build/devcheck}}
TOTAL=${DEVCHECK_SECONDS:-420}
RESERVE=10 # seconds kept for the summary
case $TOTAL in '' | *[!0-9]*) echo "device-check: DEVCHECK_SECONDS must be seconds, got '$TOTAL'" >&2; exit 2 ;; esac
mkdir -p "$OUTDIR" || exit 2
START=$(date +%s)
SUMMARY=$OUTDIR/summary.txt
: >"$SUMMARY"
left() { echo $((TOTAL - ($(date +%s) - START))); }
note() { echo "$*" | tee -a "$SUMMARY"; }

DRY=${DEVCHECK_DRY:-0}
if [ "$DRY" != 1 ] && ! { command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q '^GPU '; }; then
  DRY=1 # no device: the same stages, each skipped
fi
if [ "$DRY" != 1 ] && [ -f "$CARRY" ]; then
  tar -xJf "$CARRY" || note "device-check: could not unpack $CARRY"
fi
note "device-check: $(date -u +%FT%TZ), deadline ${TOTAL} s, $([ "$DRY" = 1 ] && echo 'dry run (no CUDA device)' || nvidia-smi --query-gpu=name,driver_version --format=csv,noheader | head -n 1)"

# stage NAME CAP MIN FUNCTION: runs FUNCTION (exported, in a child bash) with a limit of CAP seconds or
# what the deadline leaves, appending its output to OUTDIR/NAME.log; not started with less than
# MIN seconds left. One summary line per stage, plus the lines its KEEP pattern picks.
stage() {
  local name=$1 cap=$2 min=$3 rc t0 lim
  shift 3
  local log=$OUTDIR/$name.log
  lim=$(($(left) - RESERVE))
  [ "$lim" -gt "$cap" ] && lim=$cap
  if [ "$lim" -lt "$min" ]; then
    note "[$name] not run: $(left) s left of ${TOTAL} (it needs at least $min)"
    return 0
  fi
  t0=$(date +%s)
  if [ "$DRY" = 1 ]; then
    timeout -k 2 "$lim" bash -c "sleep ${DEVCHECK_DRY_SLEEP:-0}; echo 'skipped: no CUDA device'" >>"$log" 2>&1
  else
    echo "== [$name] limit ${lim} s" >>"$log"
    timeout -k 5 "$lim" bash -c "$*" >>"$log" 2>&1
  fi
  rc=$?
  local took=$(($(date +%s) - t0))
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then note "[$name] TIMED OUT after ${took} s (limit ${lim} s)"
  elif [ "$DRY" = 1 ] && [ "$rc" -eq 0 ]; then note "[$name] skipped: no CUDA device"
  elif [ "$rc" -eq 0 ]; then note "[$name] ok in ${took} s"
  else note "[$name] FAILED (exit $rc) in ${took} s"
  fi
  [ "$DRY" != 1 ] && [ -n "${KEEP:-}" ] && grep -E "$KEEP" "$log" | head -n 40 | sed "s/^/  [$name] /" | tee -a "$SUMMARY"
  return 0
}

need() { # need FILE...: fails with a line naming what was not carried
  local f
  for f in "$@"; do
    [ -x "$f" ] || { echo "missing: $f (build it here with DITC_FFMPEG=off ninja all cuda, then tools/device-check.sh --pack)"; return 3; }
  done
}

# ---- the stages ---------------------------------------------------------------------------------
env_stage() {
  nvidia-smi
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv
  echo "nvcc: $(command -v nvcc || echo none); compute-sanitizer: $(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || echo none)"
  local f
  for f in bin/cuda/opensora-v1.2-480p-9x16-51f build/tests/cuda_ops_test_bf16 build/tools/op_rates; do
    echo "ldd $f:"
    ldd "$f" 2>&1 | grep -E 'cublas|cudnn|cudart|not found' || true
  done
  ldconfig -p | grep -E 'libcudnn\.so|libcublasLt\.so' || echo "cuDNN / cuBLASLt: not in the loader's cache"
}
ops_stage() {
  need build/tests/cuda_ops_test_fp32 build/tests/cuda_ops_test_bf16 build/tests/cuda_ops_test_fp16 || return
  local st rc=0
  for st in fp32 bf16 fp16; do build/tests/cuda_ops_test_$st || rc=1; done
  for st in fp32 bf16 fp16; do
    if [ -x build/tests/cuda_vae_test_$st ]; then build/tests/cuda_vae_test_$st || rc=1; else echo "missing: build/tests/cuda_vae_test_$st"; fi
  done
  return $rc
}
rates_stage() {
  need build/tools/gemm_rate || return
  if [ -x build/tools/op_rates ]; then build/tools/op_rates; else echo "op_rates: not built (ninja build/tools/op_rates)"; fi
  if [ -x build/tools/vae_rates ]; then build/tools/vae_rates; else echo "vae_rates: not built (ninja build/tools/vae_rates)"; fi
  build/tools/gemm_rate
}
bench_stage() {
  need bin/cuda/opensora-v1.2-480p-9x16-51f || return
  bin/cuda/opensora-v1.2-480p-9x16-51f --random-weights 1 --bench
}
gpu_tests_stage() {
  need bin/cuda/opensora-v1.2-fixture bin/cuda-fp32/opensora-v1.2-fixture bin/opensora-v1.2-fixture \
    build/tests/stcmp build/tests/cuda_ops_test_bf16 || return
  DITC_PREBUILT=1 DITC_GPU_SANITIZE=0 tests/gpu.sh # the sanitizers are stage 6
}
sanitizer_stage() {
  need build/tests/cuda_ops_test_bf16 || return
  local san rc=0 tool
  san=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  [ -x "$san" ] || { echo "compute-sanitizer: not found"; return 3; }
  for tool in memcheck racecheck; do
    echo "== compute-sanitizer --tool $tool, bf16 op tests at head dim 72"
    "$san" --tool "$tool" --error-exitcode 9 build/tests/cuda_ops_test_bf16 --only-dims 72 || rc=1
  done
  echo "== compute-sanitizer --tool memcheck, the bf16 fixture sampling through its graphs"
  "$san" --tool memcheck --error-exitcode 9 bin/cuda/opensora-v1.2-fixture \
    --weights tests/golden/opensora-v1.2/weights.safetensors --cond tests/golden/opensora-v1.2/sample_nopab.safetensors \
    --noise tests/golden/opensora-v1.2/sample_nopab.safetensors --quiet --out "${TMPDIR:-/tmp}/devcheck-san.safetensors" || rc=1
  return $rc
}
extra_stage() {
  need bin/cuda/latte-16x512x512 || return
  bin/cuda/latte-16x512x512 --random-weights 1 --bench
  local fam var bin
  for fam in opensora-v1.2:480p-9x16-51f latte:16x512x512; do
    var=${fam#*:} fam=${fam%%:*} bin=bin/cuda/$fam-$var
    python3 tools/torch_baseline.py --model "$fam" --variant "$var" --info-from "$bin" || echo "baseline $fam: failed"
  done
}

export -f need env_stage ops_stage rates_stage bench_stage gpu_tests_stage sanitizer_stage extra_stage
KEEP='passed|failed|not ok|missing:|GPU |cudnn|not found' stage env 20 5 env_stage
KEEP='passed, |failed|not ok|missing:' stage ops 120 20 ops_stage
KEEP='TFLOP/s|GB/s|ms |missing:|not built' stage rates 90 15 rates_stage
KEEP='^bench|s per step|speedup|skips|peak|max\|z\||nan|NaN|missing:|error' stage bench 180 60 bench_stage
KEEP='passed, |not ok|skipped|missing:' stage gpu-tests 150 30 gpu_tests_stage
KEEP='ERROR SUMMARY|RACECHECK SUMMARY|passed, |missing:|not found' stage sanitizer 120 20 sanitizer_stage
KEEP='^bench|s per step|speedup|^baseline|missing:|error' stage extra 600 60 extra_stage
note "device-check: done in $(($(date +%s) - START)) s of ${TOTAL}; logs in $OUTDIR"
exit 0
