#!/usr/bin/env bash
# tests/run.sh: runs every CPU test suite (after `ninja` built everything, see `ninja test`) and
# ends with one line "N passed, N failed". A suite prints one "ok - ..." or "not ok - ..." line
# per check; a suite that exits non-zero without a "not ok" line counts as one failure.
# GPU suites are not run here (`ninja test-gpu`, later). Not a test itself.
set -u
cd "$(dirname "$0")/.."
pass=0
fail=0

suite() {
  local name=$1
  shift
  echo "# $name"
  local out rc
  out=$("$@" 2>&1)
  rc=$?
  printf '%s\n' "$out" | grep -E '^(ok|not ok) - |^# skipped' || true
  local p f
  p=$(printf '%s\n' "$out" | grep -c '^ok - ')
  f=$(printf '%s\n' "$out" | grep -c '^not ok - ')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
    echo "not ok - $name exited with status $rc:"
    printf '%s\n' "$out" | tail -n 20 | sed 's/^/#   /'
    f=1
  fi
  pass=$((pass + p))
  fail=$((fail + f))
}

suite "generator (tests/gen_test.lua)" lua5.4 tests/gen_test.lua
suite "the graph layer: dims, weight views, networks (tests/graph_test.lua)" lua5.4 tests/graph_test.lua
suite "PAB tables vs upstream traces (tests/pab_trace_test.lua)" lua5.4 tests/pab_trace_test.lua
suite "the op registry against the C prototypes (tests/registry_test.lua)" lua5.4 tests/registry_test.lua
suite "the T5 encoder's precision per build: fp16's fp32 wo, stream and clamp (tests/t5_precision_test.lua)" lua5.4 tests/t5_precision_test.lua
suite "the generator with hostile inputs (tests/gen_fuzz.lua)" lua5.4 tests/gen_fuzz.lua --count 150
suite "random weights: any thread count, the same bits (tests/random_weights_test.c)" build/tests/random_weights_test
suite "cross-attention key counts clamped to [0, L] (tests/cross_attention_test.c)" build/tests/cross_attention_test
suite "the CPU's products, exp and GELU: one order, any thread count (tests/linear_test.c)" build/tests/linear_test
suite "the same with the portable kernels (DITC_CPU_PORTABLE=1)" env DITC_CPU_PORTABLE=1 build/tests/linear_test
v3_suite() { # NAME BINARY: the portable kernels as built for x86-64-v3 alone, where this CPU runs that code
  if grep -qw avx2 /proc/cpuinfo && grep -qw fma /proc/cpuinfo; then suite "$1" env DITC_CPU_PORTABLE=1 "$2"
  else echo "# $1"; echo "# skipped: this CPU lacks AVX2 or FMA, which $2 needs"; fi
}
v3_suite "the same built for x86-64-v3 alone (a CPU with AVX2 and FMA but no AVX-512)" build/tests/linear_test_v3
suite "the same built for the x86-64 baseline alone (any other CPU)" env DITC_CPU_PORTABLE=1 build/tests/linear_test_base
suite "the fp16 T5's clamp of the residual stream on the CPU (tests/t5_clamp_test.c)" build/tests/t5_clamp_test
suite "the video decoders' CPU ops vs naive references, any thread count (tests/vae_ops_test.c)" build/tests/vae_ops_test
suite "the same under ASan and UBSan (build/tests/vae_ops_test_san)" build/tests/vae_ops_test_san
suite "the same with the portable kernels (DITC_CPU_PORTABLE=1)" env DITC_CPU_PORTABLE=1 build/tests/vae_ops_test
v3_suite "the same built for x86-64-v3 alone (a CPU with AVX2 and FMA but no AVX-512)" build/tests/vae_ops_test_v3
suite "the same built for the x86-64 baseline alone (any other CPU)" env DITC_CPU_PORTABLE=1 build/tests/vae_ops_test_base
suite "--bench reports the final latent's statistics (tests/bench_test.sh)" tests/bench_test.sh
suite "safetensors (tests/st_test.c)" build/tests/st_test tests/golden/opensora-v1.2/weights.safetensors
suite "numpy reference vs upstream fixtures (tests/ref)" python3 tests/ref/stdit3_ref.py check-golden tests/golden/opensora-v1.2
suite "the VAE numpy reference vs upstream: Open-Sora 1.2 (tests/ref/vae_ref.py)" python3 tests/ref/vae_ref.py check-golden opensora-v1.2 tests/golden/vae-opensora-v1.2
suite "the VAE numpy reference vs upstream: Latte-1 (tests/ref/vae_ref.py)" python3 tests/ref/vae_ref.py check-golden latte tests/golden/vae-latte
suite "the VAE numpy reference vs upstream: Open-Sora-Plan v1.1, tiled and untiled (tests/ref/vae_ref.py)" python3 tests/ref/vae_ref.py check-golden opensora-plan-v1.1 tests/golden/vae-opensora-plan-v1.1
suite "the GPU tests' storage NMSE bound vs a numpy emulation (tests/ref/storage_bound.py)" python3 tests/ref/storage_bound.py
suite "the GPU tests' T5 bounds vs a numpy emulation of upstream's and ditc's bf16 and fp16 (tests/ref/t5_precision.py)" python3 tests/ref/t5_precision.py
suite "end to end, CPU (tests/e2e.sh)" tests/e2e.sh
suite "bad input (tests/bad_input.sh)" tests/bad_input.sh
suite "outputs and the command line (tests/output_test.sh)" tests/output_test.sh
suite "loaders: reliability and fuzz seeds (tests/loader_test.sh)" tests/loader_test.sh
suite "sharded checkpoints: bit-identical loads, every refusal (tests/shard_test.sh)" tests/shard_test.sh
suite "the T5 tokenizer: fixtures, bad input, fuzz seeds (tests/tokenizer_test.sh)" tests/tokenizer_test.sh
suite "sequence parallelism on thread ranks (tests/dsp.sh)" tests/dsp.sh
suite "ranks that fail or die, and the test hooks (tests/ranks_test.sh)" tests/ranks_test.sh
suite "newcomer entry points: ./ditc.sh variant, the README's commands, GPU verbs skipping (tests/newcomer_test.sh)" tests/newcomer_test.sh
suite "the generator redesign changes no result (tests/redesign_test.sh)" tests/redesign_test.sh
suite "a network that is not a denoiser: the toy MLP vs numpy (tests/network_test.sh)" tests/network_test.sh
suite "the T5 v1.1 encoder vs the upstream fixture and a numpy oracle (tests/t5_test.sh)" tests/t5_test.sh
suite "the VAE decoders vs the upstream fixtures: samples, chunks, tiles, frames (tests/vae_test.sh)" tests/vae_test.sh
suite "the VAE decoders' generator side: configs, schedules, refusals (tests/vae_gen_test.lua)" lua5.4 tests/vae_gen_test.lua
suite "a variant as a whole pipeline: its parts and one plan over text, denoise, decode (tests/pipeline_gen_test.lua)" lua5.4 tests/pipeline_gen_test.lua
suite "from a prompt to the DiT: tokenizer, T5, ditc-cond, first call and sampling vs the e2e fixtures (tests/cond_test.sh)" tests/cond_test.sh
suite "one binary from a prompt to a video: the e2e fixtures, the chained parts, the memory plan, model folders (tests/pipeline_test.sh)" tests/pipeline_test.sh
suite "the device check, dry (tests/devcheck_test.sh)" tests/devcheck_test.sh
suite "caption cleaning vs upstream (tests/clean_test.sh)" tests/clean_test.sh
suite "video files from uint8 frames: .y4m, .mp4, bin/ditc-video (tests/video_test.sh)" tests/video_test.sh

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
