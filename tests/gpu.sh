#!/usr/bin/env bash
# tests/gpu.sh (`ninja test-gpu`): the CUDA builds against the upstream fixtures and the CPU
# reference, on a machine with an NVIDIA GPU; elsewhere it prints "skipped: no CUDA device" and
# succeeds. Checks:
#   - every CUDA op against the CPU op on random inputs, once per storage (tests/cuda_ops_test.c),
#     and the video decoders' ops against float64 references, conv3d through the own kernel and
#     through cuDNN (tests/cuda_vae_test.c);
#   - fp32 storage (bin/cuda-fp32/): forward calls and every step's latent, PAB off and on, within
#     1e-4 * max|ref| of upstream and of the CPU binary, as the CPU is held to (both are fp32);
#   - the family's storage (bin/cuda/: bf16 Open-Sora, fp16 Latte and Open-Sora-Plan): forward
#     calls and every step's latent with PAB off, default and aggressive within an NMSE bound of
#     upstream's fp32 fixture (declared below with its reason), and PAB on differing from PAB off
#     at the steps where upstream's does (the same decisions as the CPU);
#   - two runs bit-identical (graph replay is deterministic), and every graph's replay
#     bit-identical to the eager step it was captured from (tests/cuda_replay_test.c, a bf16 and
#     an fp16 fixture);
#   - the T5 encoder fixture: fp32 storage within 1e-4 of upstream, bf16 (Open-Sora's precision)
#     and fp16 (Latte's and Open-Sora-Plan's: fp32 `wo` and residual stream, the clamp) within NMSE
#     bounds;
#   - compute-sanitizer memcheck clean on every family's fixture (a forward, and a PAB sampling
#     run through the captured graphs), and memcheck and racecheck clean on the op test's
#     production shapes (head dim 72, 16 heads, bf16: `cuda_ops_test_bf16 --only-dims 72`), when
#     the tool exists.
# It checks for a device and for the toolkit before it builds anything (`ninja cuda`), so a machine
# without either skips in a second. Ends with "N passed, N failed".
set -u
cd "$(dirname "$0")/.."
# a device first, then the toolkit (build.ninja's $cuda), and only then the CUDA builds
if ! command -v nvidia-smi >/dev/null 2>&1 || ! nvidia-smi -L 2>/dev/null | grep -q GPU; then
  echo "skipped: no CUDA device"
  exit 0
fi
# DITC_PREBUILT=1 (tools/device-check.sh): the binaries were built elsewhere and carried; no ninja
if [ "${DITC_PREBUILT:-0}" != 1 ] && [ ! -x /usr/local/cuda/bin/nvcc ]; then
  echo "skipped: no CUDA toolkit at /usr/local/cuda (a device, but nothing to build its binaries with)"
  exit 0
fi
if [ "${DITC_PREBUILT:-0}" != 1 ] && ! ninja cuda build/tests/stcmp; then
  echo "not ok - ninja cuda: the CUDA builds failed"
  echo "0 passed, 1 failed"
  exit 1
fi
CMP=build/tests/stcmp
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
count() { # runs a check that prints its own ok/not ok line, counts it
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

# ---- every op, per storage (each run prints its own summary line; the counts join the total) --
for st in fp32 bf16 fp16; do
  for t in cuda_ops_test cuda_vae_test; do
    ops_out=$(build/tests/${t}_$st 2>&1)
    printf '%s\n' "$ops_out" | grep -v ' passed, '
    ops=$(printf '%s\n' "$ops_out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
    [ -n "$ops" ] || ops="0 passed, 1 failed" # the op test died before its summary
    pass=$((pass + $(echo "$ops" | sed -n 's/^\([0-9]*\) passed.*/\1/p')))
    fail=$((fail + $(echo "$ops" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')))
  done
done

# ---- eager steps vs their graphs (each run prints its own ok lines and summary) --------------
for t in os12 latte; do
  rep_out=$(build/tests/cuda_replay_test_$t 2>&1)
  printf '%s\n' "$rep_out" | grep -v ' passed, '
  rep=$(printf '%s\n' "$rep_out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -n 1)
  [ -n "$rep" ] || rep="0 passed, 1 failed" # it died before its summary
  pass=$((pass + $(echo "$rep" | sed -n 's/^\([0-9]*\) passed.*/\1/p')))
  fail=$((fail + $(echo "$rep" | sed -n 's/.* \([0-9]*\) failed.*/\1/p')))
done

# sample BIN OUT [--pab on|off]: a full sampling run of a fixture, every step's latent saved
sample() {
  local bin=$1 out=$2 g=tests/golden/$3
  shift 3
  runs "$bin: sampling $*" $bin --weights $g/weights.safetensors --cond $g/sample_nopab.safetensors \
    --noise $g/sample_nopab.safetensors --save-steps --quiet --out "$out" "$@"
}

# ---- fp32 storage: as close to upstream as the CPU ------------------------------------------
for fam in opensora-v1.2 latte opensora-plan-v1.1; do
  g=tests/golden/$fam
  bin=bin/cuda-fp32/$fam-fixture
  for c in 0 1 2; do
    runs "$fam fp32: CUDA forward call$c" $bin --weights $g/weights.safetensors --forward $g/forward.safetensors \
      --call call$c. --out "$tmp/$fam-f$c.safetensors"
    count $CMP --label "$fam fp32: CUDA forward call$c.out vs upstream" "$tmp/$fam-f$c.safetensors" out \
      $g/forward.safetensors call$c.out
  done
  for pab in off on; do
    ref=$g/sample_nopab.safetensors
    [ $pab = on ] && ref=$g/sample_pab.safetensors
    sample $bin "$tmp/$fam-$pab.safetensors" $fam --pab $pab
    count $CMP --slices --label "$fam fp32: CUDA PAB $pab, every step's latent vs upstream" "$tmp/$fam-$pab.safetensors" \
      latents "$ref" latents
    sample bin/$fam-fixture "$tmp/$fam-cpu-$pab.safetensors" $fam --pab $pab
    count $CMP --slices --label "$fam fp32: CUDA PAB $pab vs the CPU reference" "$tmp/$fam-$pab.safetensors" latents \
      "$tmp/$fam-cpu-$pab.safetensors" latents
  done
done

# ---- the family's storage: within an NMSE bound of upstream's fp32 fixture --------------------
# Bound: (8 U)^2, U the storage's unit roundoff (bf16 2^-8, fp16 2^-11). An output element passes
# through about 64 storage roundings on its way through the fixture's blocks (two per op chain:
# the op's output and the residual stream), each a relative error of at most U with no preferred
# sign, so its error is about sqrt(64) U = 8 U relative; NMSE is the square. For bf16 that is
# 9.8e-4, well below what PAB itself moves the latents (NMSE 1.7e-2 at worst on the Open-Sora
# fixture), so a wrong PAB decision cannot hide inside it. tests/ref/storage_bound.py (in the CPU
# suite) checks both margins: a numpy emulation of the storage lands at about 3% of the bound.
nmse_of() { case $1 in bf16) echo 9.8e-4 ;; fp16) echo 1.5e-5 ;; esac; }
for fam in opensora-v1.2 latte opensora-plan-v1.1; do
  g=tests/golden/$fam
  st=fp16
  [ $fam = opensora-v1.2 ] && st=bf16
  bound=$(nmse_of $st)
  bin=bin/cuda/$fam-fixture
  for c in 0 1 2; do
    runs "$fam $st: CUDA forward call$c" $bin --weights $g/weights.safetensors --forward $g/forward.safetensors \
      --call call$c. --out "$tmp/$fam-$st-f$c.safetensors"
    count $CMP --nmse $bound --label "$fam $st: CUDA forward call$c.out vs upstream" "$tmp/$fam-$st-f$c.safetensors" out \
      $g/forward.safetensors call$c.out
  done
  for pab in off on aggressive; do
    b=$bin ref=$g/sample_pab.safetensors args=(--pab on)
    [ $pab = off ] && ref=$g/sample_nopab.safetensors args=(--pab off)
    [ $pab = aggressive ] && b=bin/cuda/$fam-fixture-aggressive ref=$g/sample_pab_aggressive.safetensors
    sample $b "$tmp/$fam-$st-$pab.safetensors" $fam "${args[@]}"
    count $CMP --nmse $bound --slices --label "$fam $st: CUDA PAB $pab, every step's latent vs upstream" \
      "$tmp/$fam-$st-$pab.safetensors" latents "$ref" latents
  done
  # PAB changes the latents from the step upstream's does: ours on/off bit-equal exactly there
  count $CMP --pattern "$tmp/$fam-$st-on.safetensors" "$tmp/$fam-$st-off.safetensors" $g/sample_pab.safetensors \
    $g/sample_nopab.safetensors latents
  sample $bin "$tmp/$fam-$st-on2.safetensors" $fam --pab on
  runs "$fam $st: two CUDA runs are bit-identical" cmp "$tmp/$fam-$st-on.safetensors" "$tmp/$fam-$st-on2.safetensors"
done

# ---- the T5 encoder (bin/cuda-fp32/, bin/cuda/, bin/cuda-fp16/ t5-v1.1-fixture: 4 rows of 300 tokens)
# fp32 storage within 1e-4 * max|ref| of upstream's fp32 fixture (the DiT fp32 builds' bound: the
# CPU build is at 22% of 1e-5; cuBLASLt's and the attention kernel's summation orders differ).
# bf16 storage: NMSE within 2.5e-3 of the fp32 fixture, 4x what upstream's own bf16 run of the
# same model reaches (NMSE 6.3e-4, the fixture's bf16_probe); ours rounds in fewer places (the
# GELU fused into the GEMM), the same order of error. fp16 storage, the fp16 pipelines' precision
# (every `wo` and the residual stream from block 0's FFN on in fp32): NMSE within 3e-5, 4x what
# upstream's fp16 run reaches in a numpy emulation of its roundings (7.5e-6; no real fp16 run of the
# fixture exists: torch on the CPU has no fp16 matmul); the same emulation of ours gives 4.7e-6 (16%
# of the bound) and of a bf16 build 3.9e-4 (13x outside it). tests/ref/t5_precision.py (in the CPU
# suite) checks these numbers and that its bf16 emulation follows upstream's real bf16 run.
G5=tests/golden/t5
runs "t5 fp32: CUDA encoder on the fixture's ids" bin/cuda-fp32/t5-v1.1-fixture --weights $G5/weights.safetensors \
  --ids $G5/forward.safetensors --out "$tmp/t5-fp32.safetensors"
count $CMP --rel 1e-4 --label "t5 fp32: CUDA last_hidden_state vs upstream" "$tmp/t5-fp32.safetensors" last_hidden_state \
  $G5/forward.safetensors last_hidden_state
runs "t5 bf16: CUDA encoder on the fixture's ids" bin/cuda/t5-v1.1-fixture --weights $G5/weights.safetensors \
  --ids $G5/forward.safetensors --out "$tmp/t5-bf16.safetensors"
count $CMP --nmse 2.5e-3 --label "t5 bf16: CUDA last_hidden_state vs upstream's fp32" "$tmp/t5-bf16.safetensors" \
  last_hidden_state $G5/forward.safetensors last_hidden_state
runs "t5 fp16: CUDA encoder on the fixture's ids (fp32 wo and stream)" bin/cuda-fp16/t5-v1.1-fixture \
  --weights $G5/weights.safetensors --ids $G5/forward.safetensors --out "$tmp/t5-fp16.safetensors"
count $CMP --nmse 3e-5 --label "t5 fp16: CUDA last_hidden_state vs upstream's fp32" "$tmp/t5-fp16.safetensors" \
  last_hidden_state $G5/forward.safetensors last_hidden_state

# ---- the VAE decoders (bin/cuda-fp32/, bin/cuda/ vae-*-fixture) ----------------------------------
# Against the CPU build's sample of the same fixture (the CPU build is within 1e-4 of max|ref| of
# upstream's fp32 fixture, tests/vae_test.sh; stcmp compares layouts as they are, and the
# Open-Sora-Plan fixture stores its sample permuted). fp32 storage: within 1e-4 * max|ref| (the
# own implicit-GEMM conv and the GroupNorm reduction sum in other orders). 16-bit storage (Open-Sora
# bf16, Latte and Open-Sora-Plan fp16, as the pipelines run them): NMSE within 5e-3, a bound not yet
# measured (no upstream 16-bit run of the VAEs exists to calibrate it; the T5's bf16 bound is 2.5e-3).
for fam in opensora-v1.2 latte opensora-plan-v1.1; do
  gv=tests/golden/vae-$fam
  runs "vae-$fam cpu: the reference decode on this machine" bin/vae-$fam-fixture --weights $gv/weights.safetensors \
    --latents $gv/decode.safetensors --out "$tmp/vae-$fam-cpu.safetensors" --quiet
  for b in cuda-fp32 cuda; do
    runs "vae-$fam $b: CUDA decode of the fixture's latents" bin/$b/vae-$fam-fixture --weights $gv/weights.safetensors \
      --latents $gv/decode.safetensors --out "$tmp/vae-$fam-$b.safetensors" --quiet
    if [ $b = cuda-fp32 ]; then bound=(--rel 1e-4); else bound=(--nmse 5e-3); fi
    count $CMP "${bound[@]}" --label "vae-$fam $b: CUDA sample vs the CPU's" "$tmp/vae-$fam-$b.safetensors" sample \
      "$tmp/vae-$fam-cpu.safetensors" sample
  done
done

# ---- compute-sanitizer (DITC_GPU_SANITIZE=0: left to the device check's own stage) -------------
if [ "${DITC_GPU_SANITIZE:-1}" = 0 ]; then
  echo "# skipped: compute-sanitizer (DITC_GPU_SANITIZE=0)"
elif command -v compute-sanitizer >/dev/null 2>&1 || [ -x /usr/local/cuda/bin/compute-sanitizer ]; then
  san=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
  for tool in memcheck racecheck; do
    runs "compute-sanitizer $tool: op test at production shapes (bf16, head dim 72)" "$san" --tool $tool \
      --error-exitcode 9 build/tests/cuda_ops_test_bf16 --only-dims 72
  done
  for fam in opensora-v1.2 latte opensora-plan-v1.1; do
    g=tests/golden/$fam
    runs "compute-sanitizer memcheck: $fam fixture forward" "$san" --tool memcheck --error-exitcode 9 \
      bin/cuda/$fam-fixture --weights $g/weights.safetensors --forward $g/forward.safetensors --call call0. \
      --out "$tmp/san.safetensors"
    runs "compute-sanitizer memcheck: $fam fixture sampling, PAB on (graphs)" "$san" --tool memcheck \
      --error-exitcode 9 bin/cuda/$fam-fixture --weights $g/weights.safetensors --cond $g/sample_nopab.safetensors \
      --noise $g/sample_nopab.safetensors --pab on --quiet --out "$tmp/san2.safetensors"
  done
  runs "compute-sanitizer memcheck: the T5 encoder fixture (bf16)" "$san" --tool memcheck --error-exitcode 9 \
    bin/cuda/t5-v1.1-fixture --weights tests/golden/t5/weights.safetensors --ids tests/golden/t5/forward.safetensors \
    --out "$tmp/san3.safetensors"
  runs "compute-sanitizer memcheck: the T5 encoder fixture (fp16: fp32 weights in an fp16 buffer)" "$san" --tool memcheck \
    --error-exitcode 9 bin/cuda-fp16/t5-v1.1-fixture --weights tests/golden/t5/weights.safetensors \
    --ids tests/golden/t5/forward.safetensors --out "$tmp/san3.safetensors"
  runs "compute-sanitizer memcheck: the Open-Sora-Plan VAE fixture, tiled (fp16)" "$san" --tool memcheck \
    --error-exitcode 9 bin/cuda/vae-opensora-plan-v1.1-fixture --weights tests/golden/vae-opensora-plan-v1.1/weights.safetensors \
    --latents tests/golden/vae-opensora-plan-v1.1/decode.safetensors --out "$tmp/san4.safetensors" --quiet
else
  echo "not ok - compute-sanitizer not found (it ships with the CUDA toolkit)"
  fail=$((fail + 1))
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
