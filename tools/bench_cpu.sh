#!/usr/bin/env bash
# tools/bench_cpu.sh (part of `ninja bench`): the CPU backend's speed against its two yardsticks,
# all measured in this run. First the machine's single-core sgemm rate: build/tests/gemm_bench
# (ditc's cpu_gemm beside OpenBLAS and BLIS where installed, each on one thread) and PyTorch's
# torch.mm (MKL) where torch is installed, on a 1024^3 product; the fastest is the yardstick.
# Then per CPU bench variant (opensora-v1.2/cpu-bench, the GEMM-heavy opensora-v1.2/cpu-large,
# latte/cpu-bench; random weights, fp32) at 1 and 2 threads: ditc's --bench (a warm-up loop, then
# 3 rounds of PAB off / on / 1 thread in rotating order; the loop median per step with its
# spread, its GFLOP/s and their share of the yardstick), then PyTorch's eager forward of the same
# math and shapes (tools/torch_baseline.py --mode own, 3 runs of 10 steps after 2 warm-up steps;
# the median run's mean step and the spread of the runs), and ditc's speed over it; and PAB on
# against off beside its ideal 1/(1-skipped share). Not a test: nothing here fails on a number.
# Usage: tools/bench_cpu.sh (after `ninja`).
set -eu
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
have_torch=0
python3 -c 'import torch' 2>/dev/null && have_torch=1

echo "== the single-core sgemm rate, the yardstick (build/tests/gemm_bench; torch.mm where PyTorch is installed) =="
build/tests/gemm_bench | tee "$tmp/gemm.txt"
echo "   ditc's portable kernel as a CPU with AVX2 and FMA but no AVX-512 runs it (build/tests/gemm_bench_v3,"
echo "   DITC_CPU_PORTABLE=1; its cpu_gemm built for x86-64-v3 alone):"
DITC_CPU_PORTABLE=1 build/tests/gemm_bench_v3 3 own | grep -Ev '^  kernels|fastest'
if [ $have_torch = 1 ]; then
  python3 - >"$tmp/torch_mm.txt" <<'PY'
import statistics, time, torch
torch.set_num_threads(1)
a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
for _ in range(3):
    a @ b
rates = []
for _ in range(5):
    t = time.perf_counter()
    for _ in range(10):
        a @ b
    rates.append(2 * 1024 ** 3 * 10 / (time.perf_counter() - t) / 1e9)
print(f"{statistics.median(rates):.1f} {min(rates):.1f} {max(rates):.1f}")
PY
  read -r med lo hi <"$tmp/torch_mm.txt"
  printf '  square 1024x1024x1024, torch.mm (PyTorch %s, 1 thread): %s GFLOP/s (spread %s..%s), median of 5 rounds\n' \
    "$(python3 -c 'import torch; print(torch.__version__)')" "$med" "$lo" "$hi"
else
  echo "  torch.mm: skipped: no PyTorch here (pip install torch)"
  med=0
fi
# the yardstick: the fastest library's median on the square product
sgemm=$(awk -v t="$med" '/^  square/ {sq = 1; next} /^  [a-z]/ {sq = 0}
  sq {for (i = 2; i <= NF; i++) if ($i == "GFLOP/s" && $(i - 1) + 0 > m) m = $(i - 1) + 0}
  END {if (t + 0 > m) m = t + 0; print m}' "$tmp/gemm.txt")
echo "  yardstick: $sgemm GFLOP/s (the fastest single-core sgemm above on 1024^3)"

echo "== ditc CPU vs PyTorch CPU per step (fp32, the same shapes, random weights; PAB off unless said) =="
[ $have_torch = 1 ] || echo "   PyTorch: skipped: no PyTorch here (pip install torch; tools/torch_baseline.py is the baseline)"
for spec in opensora-v1.2:cpu-bench opensora-v1.2:cpu-large latte:cpu-bench; do
  fam=${spec%%:*} var=${spec#*:}
  bin=bin/$fam-$var
  for th in 1 2; do
    "$bin" --random-weights 1 --bench --threads $th >"$tmp/ditc-$th.txt" 2>&1
    : >"$tmp/torch-$th.txt"
    if [ $have_torch = 1 ]; then
      for round in 1 2 3; do
        OMP_NUM_THREADS=$th python3 tools/torch_baseline.py --model "$fam" --variant "$var" --info-from "$bin" \
          --mode own --device cpu --dtype fp32 --threads $th --steps 10 2>/dev/null |
          sed -n 's/.* step_s=\([0-9.]*\) .*/\1/p' >>"$tmp/torch-$th.txt"
      done
    fi
  done
  python3 - "$fam/$var" "$sgemm" "$tmp" <<'PY'
import re, statistics, sys
name, sgemm, tmp = sys.argv[1], float(sys.argv[2]), sys.argv[3]
print(f"  {name}:")
for th in (1, 2):
    text = open(f"{tmp}/ditc-{th}.txt").read()
    steps = int(re.search(r": (\d+) steps, ([0-9.]+) GFLOP per all-compute step", text).group(1))
    m = re.search(r"^  pab off +: ([0-9.]+) s per step, loop median [0-9.]+ s \(min ([0-9.]+), max ([0-9.]+),"
                  r".*\), ([0-9.]+) GFLOP/s", text, re.M)
    step, lo, hi, rate = float(m.group(1)), float(m.group(2)) / steps, float(m.group(3)) / steps, float(m.group(4))
    line = (f"    {th} thread{'s' if th > 1 else ' '}: ditc {step:.4f} s [{lo:.4f}, {hi:.4f}], {rate:.1f} GFLOP/s"
            f" ({100 * rate / sgemm / th:.0f}% of {th} x the sgemm yardstick)")
    torch = [float(v) for v in open(f"{tmp}/torch-{th}.txt").read().split()]
    if torch:
        t = statistics.median(torch)
        line += f"; PyTorch {t:.4f} s [{min(torch):.4f}, {max(torch):.4f}]: ditc {t / step:.2f}x its speed"
    print(line)
    pab = re.search(r"ideal speedup 1/\(1-skip\) = ([0-9.]+)x; measured on/off ([0-9.]+)x \(median of \d+ rounds, "
                    r"min ([0-9.]+), max ([0-9.]+)\)", text)
    skip = re.search(r"pab skips ([0-9.]+)% of step FLOPs", text).group(1)
    ideal, got = float(pab.group(1)), float(pab.group(2))
    print(f"      PAB on vs off: {got:.3f}x [{pab.group(3)}, {pab.group(4)}], ideal {ideal:.3f}x ({skip}% of the FLOPs"
          f" skipped): {got / ideal:.3f} of the ideal speedup, {100 * (got - 1) / (ideal - 1):.0f}% of its saving")
PY
done
