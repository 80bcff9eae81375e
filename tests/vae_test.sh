#!/usr/bin/env bash
# tests/vae_test.sh: the three VAE decoders generated from models/vae-*.lua (gen/families/vae_*.lua)
# against the upstream fixtures in tests/golden/vae-* (fp32 runs of VideoSys' and diffusers' own
# classes): the output sample, every chunk, tile and block intermediate the fixtures store
# (tests/vae_check.py), the uint8 frames, the Open-Sora-Plan tiled and untiled decodes, the
# release binaries against the debug ones and across thread counts; then the refusals of bad
# latents and checkpoints. Prints ok / not ok lines.
cd "$(dirname "$0")/.."
. tests/lib.sh
CMP=build/tests/stcmp
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Tolerance 1e-4 of max|ref| for every float tensor: the fixtures' own fp32-vs-fp64 difference of
# the same decode is up to 2e-5 absolute at |x| ~ 3-5 (README-vae.md: precision_probe), and the CPU
# backend sums in another order (direct convolutions, double GroupNorm statistics).
REL=1e-4

# fixture FAMILY VARIANT MODE [vae_check.py filters...]: the debug binary with --dump all, checked
fixture() {
  local fam=$1 variant=$2 mode=$3
  shift 3
  local G=tests/golden/vae-$fam dbg=bin/debug/vae-$fam-$variant
  if $dbg --weights $G/weights.safetensors --latents $G/decode.safetensors --out $tmp/$fam-$variant.safetensors \
    --dump all --quiet >$tmp/run.txt 2>&1; then
    echo "ok - vae-$fam/$variant: the debug binary decodes the fixture's latents with --dump all"
  else
    echo "not ok - vae-$fam/$variant: the debug binary failed: $(tail -n 2 $tmp/run.txt | tr '\n' ' ')"
    rc=1
    return
  fi
  python3 tests/vae_check.py $tmp/$fam-$variant.safetensors $G/decode.safetensors --rel $REL --mode $mode "$@" \
    | sed "s|^\(not \)*ok - |&vae-$fam/$variant: |" >$tmp/check.txt
  cat $tmp/check.txt
  grep -q "^not ok" $tmp/check.txt && rc=1
  # the release binary: the same bits as the debug one, at 1 and 2 threads
  expect "vae-$fam/$variant: the release binary's sample and frames_u8 equal the debug binary's, at 1 and 2 threads" \
    bash -c "for n in 1 2; do bin/vae-$fam-$variant --weights $G/weights.safetensors --latents $G/decode.safetensors \
      --out $tmp/rel\$n.safetensors --threads \$n --quiet || exit 1
      for x in sample frames_u8; do $CMP --exact $tmp/rel\$n.safetensors \$x $tmp/$fam-$variant.safetensors \$x || exit 1; done
    done"
}

fixture opensora-v1.2 fixture round
fixture latte fixture trunc
fixture opensora-plan-v1.1 fixture trunc --exclude untiled.
fixture opensora-plan-v1.1 fixture-untiled trunc --prefix untiled.

# Tiling is part of the output: the tiled and untiled decodes differ as upstream's do
expect "vae-opensora-plan-v1.1: the untiled decode differs from the tiled one by what upstream's does (within 2 x $REL)" \
  python3 - $tmp/opensora-plan-v1.1-fixture.safetensors $tmp/opensora-plan-v1.1-fixture-untiled.safetensors \
  tests/golden/vae-opensora-plan-v1.1/decode.safetensors $REL <<'PY'
import sys
sys.path.insert(0, "tests/ref")
import numpy as np
import safetensors_np as s
tiled, untiled, ref = s.load(sys.argv[1])["sample"], s.load(sys.argv[2])["sample"], s.load(sys.argv[3])
want = (ref["sample_btchw"] - ref["untiled.sample_btchw"]).transpose(0, 2, 1, 3, 4)
got = tiled - untiled
err, scale = np.abs(got - want).max(), np.abs(ref["sample_btchw"]).max()
print(f"max|tiled - untiled| {np.abs(got).max():.3g} (upstream {np.abs(want).max():.3g}), error {err:.3g}")
assert np.abs(got).max() > 0.1 and err <= 2 * float(sys.argv[4]) * scale
PY

# ---- a second config per family, from its config.json, against the numpy reference ----------
# (tests/data/vae/README.md: random weights and latents; the reference decodes in fp32 with its own
# chunking and tiling, so the same 1e-4 bound holds for the sample and every chunk/tile tensor)
alt() {
  local fam=$1 name=$2 bin=$3 latent=$4 zname=$5 mode=$6
  shift 6
  local D=tests/data/vae/$fam-alt R=tests/ref/vae_ref.py
  python3 $R random-weights $fam --config $D/config.json --seed 1 --out $tmp/aw.safetensors >/dev/null &&
    python3 $R random-latents --shape $latent --seed 2 --name $zname --out $tmp/az.safetensors >/dev/null &&
    python3 $R decode $fam --config $D/config.json --weights $tmp/aw.safetensors --latents $tmp/az.safetensors "$@" \
      --out $tmp/aref.safetensors --intermediates >$tmp/ref.txt 2>&1 || {
    echo "not ok - vae-$fam/$name: the numpy reference failed: $(tail -n 2 $tmp/ref.txt | tr '\n' ' ')"
    rc=1
    return
  }
  if $bin --weights $tmp/aw.safetensors --latents $tmp/az.safetensors --out $tmp/aout.safetensors --dump all --quiet \
    >$tmp/run.txt 2>&1; then
    python3 tests/vae_check.py $tmp/aout.safetensors $tmp/aref.safetensors --rel $REL --mode $mode \
      | sed "s|^\(not \)*ok - |&vae-$fam/$name (config.json, numpy reference): |" >$tmp/check.txt
    cat $tmp/check.txt
    grep -q "^not ok" $tmp/check.txt && rc=1
  else
    echo "not ok - vae-$fam/$name: the binary failed: $(tail -n 2 $tmp/run.txt | tr '\n' ' ')"
    rc=1
  fi
}
alt opensora-v1.2 alt build/tests/vae-os12-alt-debug 1,4,12,7,9 z round --frames 22
alt latte alt build/tests/vae-latte-alt-debug 1,4,17,5,7 latents trunc
alt opensora-plan-v1.1 alt build/tests/vae-osp-alt-debug 1,4,6,5,7 latents trunc --tiling 16,4,7,4,0.25
alt opensora-plan-v1.1 alt-untiled build/tests/vae-osp-alt-untiled-debug 1,4,6,5,7 latents trunc --tiling off

# ---- video files (runtime/video/; its own checks: tests/video_test.sh) ----------------------------
G=tests/golden/vae-opensora-v1.2
VT=build/tests/video_test
expect "--video out.y4m: the same bytes as bin/ditc-video writes from the run's frames_u8, at the pipeline's 24 fps" bash -c "
  bin/vae-opensora-v1.2-fixture --weights $G/weights.safetensors --latents $G/decode.safetensors \
    --out $tmp/v.safetensors --video $tmp/v.y4m --quiet &&
  bin/ditc-video --in $tmp/v.safetensors --fps 24 --out $tmp/ref.y4m && cmp $tmp/v.y4m $tmp/ref.y4m &&
  head -c 40 $tmp/v.y4m | grep -q 'W56 H40 F24:1'"
t $VT check $tmp/v.y4m - 26 40 56 24
if bin/ditc-video --help | grep -q 'writes .mp4'; then
  expect "--video out.mp4 --fps 12 writes an H.264 file" bin/vae-opensora-v1.2-fixture --weights $G/weights.safetensors \
    --latents $G/decode.safetensors --out $tmp/m.safetensors --video $tmp/v.mp4 --fps 12 --quiet
  t $VT check $tmp/v.mp4 - 26 40 56 12
else
  echo "# skipped: .mp4 from a VAE binary (this build has no FFmpeg)"
fi
expect "Latte's video plays at its pipeline's 8 fps" bash -c "bin/vae-latte-fixture --weights \
  tests/golden/vae-latte/weights.safetensors --latents tests/golden/vae-latte/decode.safetensors --out $tmp/l.safetensors \
  --video $tmp/l.y4m --quiet && head -c 40 $tmp/l.y4m | grep -q 'F8:1'"
python3 - $G/decode.safetensors $tmp <<'PY'
import sys
sys.path.insert(0, "tests/ref")
import numpy as np
import safetensors_np as s
z = s.load(sys.argv[1], ["z"])["z"]
s.save(sys.argv[2] + "/two.safetensors", {"z": np.concatenate([z, z[:, :, ::-1].copy()])})
PY
expect "two videos in one latents file: one file a row, out-0.y4m and out-1.y4m, each as ditc-video writes its row" bash -c "
  bin/vae-opensora-v1.2-fixture --weights $G/weights.safetensors --latents $tmp/two.safetensors \
    --out $tmp/two-out.safetensors --video $tmp/two.y4m --quiet && [ ! -e $tmp/two.y4m ] &&
  bin/ditc-video --in $tmp/two-out.safetensors --row 1 --fps 24 --out $tmp/two-ref.y4m && cmp $tmp/two-1.y4m $tmp/two-ref.y4m &&
  bin/ditc-video --in $tmp/two-out.safetensors --row 0 --fps 24 --out $tmp/two-ref.y4m && cmp $tmp/two-0.y4m $tmp/two-ref.y4m"
t one_line_error "--video with an unknown extension, before decoding" $tmp/o.safetensors -e "--video" -e ".avi" \
  -- bin/vae-opensora-v1.2-fixture --weights $G/weights.safetensors --latents $G/decode.safetensors --out $tmp/o.safetensors \
  --video $tmp/v.avi
t one_line_error "--video in a folder that does not exist" $tmp/o.safetensors -e "--video" -e "$tmp/none" \
  -- bin/vae-opensora-v1.2-fixture --weights $G/weights.safetensors --latents $G/decode.safetensors --out $tmp/o.safetensors \
  --video $tmp/none/v.y4m
t one_line_error "--video .mp4 from a build without FFmpeg names the packages" $tmp/o.safetensors -e "--video" \
  -e "libavformat-dev" -- build/tests/vae-os12-noffmpeg --weights $G/weights.safetensors --latents $G/decode.safetensors \
  --out $tmp/o.safetensors --video $tmp/v.mp4
expect "... while that build writes .y4m" build/tests/vae-os12-noffmpeg --weights $G/weights.safetensors \
  --latents $G/decode.safetensors --out $tmp/o.safetensors --video $tmp/n.y4m --quiet
t one_line_error "--video from a network that makes no video (T5)" $tmp/o.safetensors -e "makes no video" \
  -- bin/t5-v1.1-fixture --weights tests/golden/t5/weights.safetensors --ids tests/golden/t5/forward.safetensors \
  --out $tmp/o.safetensors --video $tmp/t.y4m

# ---- bad input -------------------------------------------------------------------------------
G=tests/golden/vae-opensora-v1.2
BIN=bin/vae-opensora-v1.2-fixture
python3 - $G/decode.safetensors $G/weights.safetensors $tmp <<'PY'
import sys
sys.path.insert(0, "tests/ref")
import numpy as np
import safetensors_np as s
z = s.load(sys.argv[1], ["z"])["z"]
w = s.load(sys.argv[2])
d = sys.argv[3]
s.save(d + "/short.safetensors", {"z": z[:, :, :7]})
s.save(d + "/chan.safetensors", {"z": z[:, :3]})
s.save(d + "/ints.safetensors", {"z": z.astype(np.int64)})
nan = z.copy(); nan[0, 1, 2, 3, 4] = np.nan
s.save(d + "/nan.safetensors", {"z": nan})
inf = z.copy(); inf[0, 0, 0, 0, 0] = np.inf
s.save(d + "/inf.safetensors", {"z": inf})
s.save(d + "/named.safetensors", {"latents": z})
s.save(d + "/missing.safetensors", {k: v for k, v in w.items() if k != "temporal_vae.decoder.conv_out.conv.bias"})
s.save(d + "/decoder_only.safetensors", {k: v for k, v in w.items() if ".encoder." not in k and "quant_conv" not in k
                                         or "post_quant_conv" in k})
PY
W=(--weights $G/weights.safetensors)
t one_line_error "bad latents: 7 of 8 latent frames" $tmp/o.safetensors -e short.safetensors -e "'z'" -e "[1, 4, 7, 5, 7]" \
  -- $BIN "${W[@]}" --latents $tmp/short.safetensors --out $tmp/o.safetensors
t one_line_error "bad latents: 3 channels where the VAE has 4" $tmp/o.safetensors -e chan.safetensors -e "'z'" \
  -- $BIN "${W[@]}" --latents $tmp/chan.safetensors --out $tmp/o.safetensors
t one_line_error "bad latents: an integer tensor" $tmp/o.safetensors -e ints.safetensors -e "'z'" -e I64 \
  -- $BIN "${W[@]}" --latents $tmp/ints.safetensors --out $tmp/o.safetensors
t one_line_error "bad latents: a NaN" $tmp/o.safetensors -e nan.safetensors -e "'z'" -e nan \
  -- $BIN "${W[@]}" --latents $tmp/nan.safetensors --out $tmp/o.safetensors
t one_line_error "bad latents: an Inf" $tmp/o.safetensors -e inf.safetensors -e "'z'" -e inf \
  -- $BIN "${W[@]}" --latents $tmp/inf.safetensors --out $tmp/o.safetensors
t one_line_error "bad latents: the tensor under another name (Open-Sora reads z)" $tmp/o.safetensors -e named.safetensors \
  -e "'z'" -- $BIN "${W[@]}" --latents $tmp/named.safetensors --out $tmp/o.safetensors
t one_line_error "bad checkpoint: a decoder tensor missing" $tmp/o.safetensors -e missing.safetensors \
  -e temporal_vae.decoder.conv_out.conv.bias -- $BIN --weights $tmp/missing.safetensors --latents $G/decode.safetensors \
  --out $tmp/o.safetensors
expect "the encoder's tensors in a checkpoint are ignored: with and without them the same sample" bash -c "
  $BIN --weights $tmp/decoder_only.safetensors --latents $G/decode.safetensors --out $tmp/dec.safetensors --quiet &&
  $CMP --exact $tmp/dec.safetensors sample $tmp/opensora-v1.2-fixture.safetensors sample"
t one_line_error "an existing input as --out is refused" $tmp/none -e "--out" \
  -- $BIN "${W[@]}" --latents $tmp/named.safetensors --out $tmp/named.safetensors
exit $rc
