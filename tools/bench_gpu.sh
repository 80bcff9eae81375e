#!/usr/bin/env bash
# tools/bench_gpu.sh (run by tools/bench.sh, so by `ninja bench`): the GPU numbers, all measured
# in this run on one device, for the released sizes: Open-Sora 1.2 480p 9:16 51 frames (30 steps,
# bf16) and Latte-1 16x512x512 (50 steps, fp16), CFG batch 2, random weights:
#   - the device's dense GEMM rate (build/tools/gemm_rate: cuBLASLt, bf16 and fp16, fp32 compute);
#   - ditc's time per step and per loop with PAB off and on (bin/cuda/<variant> --random-weights 1
#     --bench, which samples both in one process), TFLOP/s from the binary's FLOPs per all-compute
#     step and the share of PAB-skipped FLOPs it prints, as a share of the measured GEMM rate of the
#     model's storage type, and the device memory it holds;
#   - the same loop in PyTorch (tools/torch_baseline.py: VideoSys' own model class when it imports,
#     else a self-contained forward; it prints which) on the same device;
#   - peak device memory twice: as each program reports it (ditc: device memory in use after its
#     one-time allocation, context included; PyTorch: max_memory_allocated, no context), and as
#     nvidia-smi samples it every 200 ms while each program runs (both include the CUDA context).
# Then a summary table; every number names the device and the command that produced it, and each
# command's whole output is kept in build/bench-gpu/. Without a GPU it prints
# "skipped: no CUDA device" and exits 0. The binaries should come from `ninja bench`'s
# dependencies; when one is missing this script builds it with ninja (for runs outside ninja).
# Not a test: nothing here passes or fails on a number, and a failing command is reported, not fatal.
set -eu
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q '^GPU '; then
  echo "skipped: no CUDA device"
  exit 0
fi
if [ ! -x /usr/local/cuda/bin/nvcc ] && ! { [ -x build/tools/gemm_rate ] && [ -x bin/cuda/opensora-v1.2-480p-9x16-51f ] &&
  [ -x bin/cuda/latte-16x512x512 ]; }; then
  echo "skipped: no CUDA toolkit at /usr/local/cuda and no CUDA binaries built"
  exit 0
fi
PYTHON=${PYTHON:-python3}
LIMIT=${DITC_BENCH_TIMEOUT:-1200} # seconds per command
GEMM=build/tools/gemm_rate
OS_VAR=480p-9x16-51f
LA_VAR=16x512x512
OS_BIN=bin/cuda/opensora-v1.2-$OS_VAR
LA_BIN=bin/cuda/latte-$LA_VAR
log=build/bench-gpu
mkdir -p "$log"

missing=""
for f in "$GEMM" "$OS_BIN" "$LA_BIN"; do [ -x "$f" ] || missing="$missing $f"; done
if [ -n "$missing" ]; then
  echo "== building:$missing"
  # shellcheck disable=SC2086 # one word per target
  ninja $missing
fi

device=$(nvidia-smi --query-gpu=name --format=csv,noheader | head -n 1)
driver=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader | head -n 1)
echo "== device: $device (driver $driver, $(nproc) CPU cores)"

# ---- running and parsing -------------------------------------------------------------------

# run NAME CMD...: shows and keeps CMD's output (build/bench-gpu/NAME.txt) while nvidia-smi samples
# the device memory in use (NAME.smi); a failure is reported, not fatal
run() {
  local name=$1 rc=0 smi
  shift
  printf '%s\n' "$*" >"$log/$name.cmd"
  echo "== [$name] \$ $*"
  nvidia-smi --query-gpu=memory.used --format=csv,noheader,nounits -lms 200 >"$log/$name.smi" 2>/dev/null &
  smi=$!
  timeout "$LIMIT" "$@" >"$log/$name.txt" 2>&1 || rc=$?
  kill "$smi" 2>/dev/null || true
  wait "$smi" 2>/dev/null || true
  cat "$log/$name.txt"
  if [ "$rc" -ne 0 ]; then echo "== [$name] exit status $rc$([ "$rc" -eq 124 ] && echo " (over ${LIMIT} s)")"; fi
  return 0
}

# get NAME SED_EXPRESSION: the first match in NAME's output (empty when none)
get() { sed -n "$2" "$log/$1.txt" | head -n 1; }

# smi_peak NAME: the largest sample in MiB (empty when none)
smi_peak() { awk '$1 ~ /^[0-9]+$/ && $1 > m { m = $1 } END { if (m != "") print m }' "$log/$1.smi"; }

# ---- measurements ---------------------------------------------------------------------------

run gemm "$GEMM"
rate_bf16=$(get gemm 's/^gemm_rate bf16 [0-9x]*: \([0-9.]*\) TFLOP\/s.*/\1/p')
rate_fp16=$(get gemm 's/^gemm_rate fp16 [0-9x]*: \([0-9.]*\) TFLOP\/s.*/\1/p')

bench_model() { # FAMILY VARIANT BINARY STORAGE: the ditc run and the baseline run of one model
  local fam=$1 var=$2 bin=$3
  run "ditc-$fam" "$bin" --random-weights 1 --bench
  run "base-$fam" "$PYTHON" tools/torch_baseline.py --model "$fam" --variant "$var" --info-from "$bin"
}
bench_model opensora-v1.2 "$OS_VAR" "$OS_BIN"
bench_model latte "$LA_VAR" "$LA_BIN"

# ---- summary --------------------------------------------------------------------------------

num='\([0-9.eE+-]*\)'
# row FAMILY VARIANT STORAGE RATE: one model's lines of the table (awk does the arithmetic; n/a
# where a number is missing)
row() {
  local fam=$1 var=$2 st=$3 rate=$4 d="ditc-$1" b="base-$1"
  awk -v fam="$fam" -v var="$var" -v st="$st" -v rate="$rate" \
    -v gflop="$(get "$d" "s/^bench .*, $num GFLOP per all-compute step.*/\1/p")" \
    -v off_s="$(get "$d" "s/^  pab off *: $num s per step.*/\1/p")" \
    -v off_l="$(get "$d" "s/^  pab off *: .* per step, loop median $num s.*/\1/p")" \
    -v on_s="$(get "$d" "s/^  pab on *: $num s per step.*/\1/p")" \
    -v on_l="$(get "$d" "s/^  pab on *: .* per step, loop median $num s.*/\1/p")" \
    -v skip="$(get "$d" "s/^  pab skips $num% of step FLOPs.*/\1/p")" \
    -v d_peak="$(get "$d" "s/.*peak device memory: \([0-9]*\) bytes.*/\1/p")" \
    -v d_smi="$(smi_peak "$d")" \
    -v b_mode="$(get "$b" "s/^baseline $fam .* mode=\([^ ]*\).*/\1/p")" \
    -v b_s="$(get "$b" "s/^baseline $fam .* step_s=$num.*/\1/p")" \
    -v b_l="$(get "$b" "s/^baseline $fam .* loop_s=$num.*/\1/p")" \
    -v b_peak="$(get "$b" "s/^baseline $fam .* peak_bytes=\([0-9]*\).*/\1/p")" \
    -v b_smi="$(smi_peak "$b")" '
    function ok(x) { return x != "" && x != "n/a" }
    function f(x, fmt) { return ok(x) ? sprintf(fmt, x) : "n/a" }
    function div(a, b) { return (ok(a) && ok(b) && b + 0 > 0) ? a / b : "" }
    function tflops(flop, s) { return ok(div(flop, s)) ? flop / s / 1e12 : "" }
    function pct(a, b) { return ok(div(a, b)) ? 100 * a / b : "" }
    function line(what, s, l, tf, peak, smi, note) {
      printf "  %-14s %9s %9s %8s %7s %9s %9s  %s\n", what, f(s, "%.4f"), f(l, "%.2f"), f(tf, "%.1f"),
        f(pct(tf, rate), "%.1f%%"), f(div(peak, 1073741824), "%.2f"), f(div(smi, 1024), "%.2f"), note
    }
    BEGIN {
      flop = ok(gflop) ? gflop * 1e9 : ""
      tf_off = tflops(flop, off_s)
      tf_on = ok(skip) ? tflops(flop * (1 - skip / 100), on_s) : ""
      tf_b = tflops(flop, b_s)
      printf "%s %s (%s storage; %s GFLOP per all-compute step; %% of the measured %s GEMM rate %s TFLOP/s)\n",
        fam, var, st, f(gflop, "%.1f"), st, f(rate, "%.1f")
      printf "  %-14s %9s %9s %8s %7s %9s %9s  %s\n", "", "s/step", "loop s", "TFLOP/s", "% GEMM", "peak GiB",
        "smi GiB", "speedup [command]"
      line("ditc PAB off", off_s, off_l, tf_off, d_peak, d_smi,
        f(div(b_s, off_s), "%.2fx") " vs PyTorch [ditc-" fam "]")
      line("ditc PAB on", on_s, on_l, tf_on, d_peak, d_smi, f(div(off_s, on_s), "%.2fx") " vs PAB off, " \
        f(div(b_s, on_s), "%.2fx") " vs PyTorch; skips " f(skip, "%.1f%%") " of the FLOPs [ditc-" fam "]")
      line("PyTorch", b_s, b_l, tf_b, b_peak, b_smi, "mode=" (b_mode == "" ? "n/a" : b_mode) " [base-" fam "]")
      printf "bench_gpu %s %s device=\"%s\" ditc_off_step_s=%s ditc_on_step_s=%s ditc_off_tflops=%s " \
        "gemm_%s_tflops=%s ditc_peak_bytes=%s ditc_smi_mib=%s baseline_mode=%s baseline_step_s=%s " \
        "baseline_peak_bytes=%s baseline_smi_mib=%s speedup_off_vs_baseline=%s speedup_on_vs_off=%s\n",
        fam, var, ENVIRON["BENCH_DEVICE"], f(off_s, "%s"), f(on_s, "%s"), f(tf_off, "%.1f"), st, f(rate, "%s"),
        f(d_peak, "%s"), f(d_smi, "%s"), (b_mode == "" ? "n/a" : b_mode), f(b_s, "%s"), f(b_peak, "%s"),
        f(b_smi, "%s"), f(div(b_s, off_s), "%.3f"), f(div(off_s, on_s), "%.3f")
    }'
}

echo
echo "== summary: $device (driver $driver); every number below was measured in this run"
echo "GEMM rate [gemm], 8192x8192x8192: bf16 ${rate_bf16:-n/a} TFLOP/s, fp16 ${rate_fp16:-n/a} TFLOP/s"
BENCH_DEVICE=$device row opensora-v1.2 "$OS_VAR" bf16 "$rate_bf16"
BENCH_DEVICE=$device row latte "$LA_VAR" fp16 "$rate_fp16"
echo "TFLOP/s: the binary's FLOPs per all-compute step / s per step; PAB on counts only the FLOPs it"
echo "runs (1 - skipped share); PyTorch is credited with ditc's FLOPs for the same step. peak GiB: ditc's"
echo "device memory in use after its one-time allocation (CUDA context included), PyTorch's"
echo "max_memory_allocated (context excluded); smi GiB: nvidia-smi's largest 200 ms sample, both alike."
echo "[name] = the command in build/bench-gpu/name.cmd, its output in name.txt:"
for n in gemm ditc-opensora-v1.2 base-opensora-v1.2 ditc-latte base-latte; do
  printf '  [%s] %s\n' "$n" "$(cat "$log/$n.cmd")"
done
