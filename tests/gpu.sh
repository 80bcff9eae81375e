#!/usr/bin/env bash
# tests/gpu.sh (`ninja test-gpu`): the CUDA builds (bin/cuda/, fp32 device kernels) against the
# upstream fixtures and the CPU reference, on a machine with an NVIDIA GPU; elsewhere it prints
# "skipped: no CUDA device" and succeeds. Checks: every CUDA op against the CPU op on random
# inputs (tests/cuda_ops_test.c), forward calls of every fixture, full sampling
# PAB off/default (every step's latent within 1e-4 * max|ref|, as on the CPU: both are fp32),
# the same latents as the CPU binary within that bound, two runs bit-identical, and
# compute-sanitizer memcheck clean on the Open-Sora fixture forward when the tool exists.
# Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q GPU; then
  echo "skipped: no CUDA device"
  exit 0
fi
# every CUDA op against the CPU reference on fresh random inputs (its own summary line)
ops_out=$(build/tests/cuda_ops_test 2>&1)
printf '%s\n' "$ops_out" | grep -v ' passed, '
ops=$(printf '%s\n' "$ops_out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
[ -n "$ops" ] || ops="0 passed, 1 failed" # the op test died before its summary
CMP=build/tests/stcmp
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
count() { # runs a check, prints its line, counts it
  local out
  out=$("$@" 2>&1)
  if [ $? -eq 0 ]; then pass=$((pass + 1)); else fail=$((fail + 1)); fi
  printf '%s\n' "$out" | tail -n 1
}
runs() { # NAME COMMAND...: must exit 0
  local name=$1
  shift
  if "$@" >"$tmp/log" 2>&1; then echo "ok - $name"; pass=$((pass + 1)); else
    echo "not ok - $name: $(tail -n 2 "$tmp/log" | tr '\n' ' ')"
    fail=$((fail + 1))
  fi
}
nvidia-smi -L | head -n 1
for fam in opensora-v1.2 latte opensora-plan-v1.1; do
  g=tests/golden/$fam
  bin=bin/cuda/$fam-fixture
  for c in 0 1 2; do
    runs "$fam: CUDA forward call$c" $bin --weights $g/weights.safetensors --forward $g/forward.safetensors --call call$c. \
      --out "$tmp/$fam-f$c.safetensors"
    count $CMP --label "$fam: CUDA forward call$c.out vs upstream" "$tmp/$fam-f$c.safetensors" out $g/forward.safetensors call$c.out
  done
  for pab in off on; do
    ref=$g/sample_nopab.safetensors
    [ $pab = on ] && ref=$g/sample_pab.safetensors
    runs "$fam: CUDA sampling, PAB $pab" $bin --weights $g/weights.safetensors --cond $g/sample_nopab.safetensors \
      --noise $g/sample_nopab.safetensors --pab $pab --save-steps --quiet --out "$tmp/$fam-$pab.safetensors"
    count $CMP --slices --label "$fam: CUDA PAB $pab, every step's latent vs upstream" "$tmp/$fam-$pab.safetensors" latents \
      "$ref" latents
    runs "$fam: CPU sampling, PAB $pab" bin/$fam-fixture --weights $g/weights.safetensors --cond $g/sample_nopab.safetensors \
      --noise $g/sample_nopab.safetensors --pab $pab --save-steps --quiet --out "$tmp/$fam-cpu-$pab.safetensors"
    count $CMP --slices --label "$fam: CUDA PAB $pab vs the CPU reference" "$tmp/$fam-$pab.safetensors" latents \
      "$tmp/$fam-cpu-$pab.safetensors" latents
  done
  runs "$fam: CUDA sampling again" $bin --weights $g/weights.safetensors --cond $g/sample_nopab.safetensors \
    --noise $g/sample_nopab.safetensors --save-steps --quiet --out "$tmp/$fam-on2.safetensors"
  runs "$fam: two CUDA runs are bit-identical" cmp "$tmp/$fam-on.safetensors" "$tmp/$fam-on2.safetensors"
done
if command -v compute-sanitizer >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/compute-sanitizer ]; then
  san=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  g=tests/golden/opensora-v1.2
  runs "compute-sanitizer memcheck: Open-Sora fixture forward" "$san" --tool memcheck --error-exitcode 9 \
    bin/cuda/opensora-v1.2-fixture --weights $g/weights.safetensors --forward $g/forward.safetensors --call call0. \
    --out "$tmp/san.safetensors"
fi
# the op test's counts join the total
pass=$((pass + $(echo "$ops" | sed -n 's/^\([0-9]*\) passed.*/\1/p')))
fail=$((fail + $(echo "$ops" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')))
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
