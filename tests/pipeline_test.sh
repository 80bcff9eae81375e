#!/usr/bin/env bash
# tests/pipeline_test.sh: the pipeline binaries (runtime/pipeline/: one binary from a prompt to a
# video) of the two end-to-end fixtures (tests/golden/e2e-*: VideoSys' own pipelines on tiny parts),
# generated from the fixtures' model folders by --model-dir (tests/variants.lua):
#   - from the prompt and z0, PAB off and default: the ids, the T5 output, every step's latent and
#     the frames against the fixture (tests/pipeline_e2e_check.py states each bound and its reason);
#   - the same bytes as the parts' own binaries chained (tokenizer, T5, ditc-cond, DiT, VAE), and the
#     --video .y4m as bin/ditc-video writes the frames;
#   - what the runtime allocates (--json) is what plan.txt says, and the total is the largest phase
#     plus what crosses phases;
#   - model folders laid out as the released repositories load; a missing part, a part of another
#     family, a config.json that disagrees with the binary, a tokenizer that does not belong to the
#     text encoder: one line naming the file and field, exit 1, no video;
#   - --prompt-file: three prompts, three videos; a failure at the second keeps the first and writes
#     nothing more; --cond instead of a prompt; the command line's refusals.
# Prints ok / not ok lines.
cd "$(dirname "$0")/.."
. tests/lib.sh
CMP=build/tests/stcmp
SPIECE=tests/golden/t5
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
py() { python3 -c "import sys, numpy as np; sys.path.insert(0, 'tests/ref'); import safetensors_np as st; a = sys.argv[1:]
$1" "${@:2}"; }
export -f py
prompt_of() { python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))[0])' "$1"; }

# ---- Open-Sora 1.2 ---------------------------------------------------------------------------------------
G=tests/golden/e2e-opensora-v1.2
E=$G/e2e.safetensors
OS=build/tests/pipeline-os12-e2e
OS_DIRS=(--model-dir $G --text-encoder $G/DeepFloyd/t5-v1_1-xxl-sharded --tokenizer $SPIECE)
py 'st.save(a[1], {"z0": st.load(a[0])["nopab.z0"]})' $E $tmp/os-z0.safetensors
P=$(prompt_of $G/prompt.json)
for run in nopab pab; do
  pab=on && [ $run = nopab ] && pab=off
  expect "opensora-v1.2: the pipeline from the prompt and z0, PAB $pab, from the fixture's folders (the sharded T5)" \
    $OS "${OS_DIRS[@]}" --prompt "$P" --noise $tmp/os-z0.safetensors --pab $pab --out $tmp/os-$run.safetensors \
    --save-steps --video $tmp/os-$run.y4m --json --quiet
  t python3 tests/pipeline_e2e_check.py $tmp/os-$run.safetensors $E $run os12
done
expect "opensora-v1.2: --video .y4m: the bytes bin/ditc-video writes from --out's frames_u8, at 24 fps" bash -c "
  bin/ditc-video --in $tmp/os-nopab.safetensors --fps 24 --out $tmp/os-ref.y4m && cmp $tmp/os-nopab.y4m $tmp/os-ref.y4m"

# the parts' own binaries, chained: the same bytes
expect "opensora-v1.2: the chain (ditc-tokenize, the T5, ditc-cond, the DiT, the VAE binaries) runs" bash -c "
  bin/ditc-tokenize --pipeline opensora-v1.2 --spiece $SPIECE/spiece.model --in $G/prompt.json --out $tmp/c-ids.safetensors &&
  build/tests/t5-e2e-os12 --quiet --weights $G/DeepFloyd/t5-v1_1-xxl-sharded --ids $tmp/c-ids.safetensors --out $tmp/c-text.safetensors &&
  bin/ditc-cond --family opensora-v1.2 --ids $tmp/c-ids.safetensors --text $tmp/c-text.safetensors --out $tmp/c-cond.safetensors &&
  build/tests/os12-e2e --quiet --pab off --weights $G/hpcai-tech/OpenSora-STDiT-v3 --cond $tmp/c-cond.safetensors \
    --noise $tmp/os-z0.safetensors --save-steps --out $tmp/c-den.safetensors &&
  py 'st.save(a[1], {\"z\": st.load(a[0])[\"final\"]})' $tmp/c-den.safetensors $tmp/c-z.safetensors &&
  build/tests/vae-os12-e2e --quiet --weights $G/hpcai-tech/OpenSora-VAE-v1.2 --latents $tmp/c-z.safetensors --out $tmp/c-vae.safetensors"
t $CMP --exact --label "opensora-v1.2: one binary = the chain: the final latent, bit for bit" $tmp/os-nopab.safetensors final $tmp/c-den.safetensors final
t $CMP --exact --label "opensora-v1.2: one binary = the chain: every step's latent" $tmp/os-nopab.safetensors latents $tmp/c-den.safetensors latents
t $CMP --exact --label "opensora-v1.2: one binary = the chain: frames_u8" $tmp/os-nopab.safetensors frames_u8 $tmp/c-vae.safetensors frames_u8
t $CMP --exact --label "opensora-v1.2: one binary = the chain: the T5 output" $tmp/os-nopab.safetensors y $tmp/c-text.safetensors last_hidden_state

# ---- Latte-1 ---------------------------------------------------------------------------------------------
L=tests/golden/e2e-latte
LE=$L/e2e.safetensors
LA=build/tests/pipeline-latte-e2e
LA_DIRS=(--model-dir $L/maxin-cn/Latte-1 --tokenizer $SPIECE)
py 'st.save(a[1], {"z0": st.load(a[0])["nopab.z0"]})' $LE $tmp/la-z0.safetensors
LP=$(prompt_of $L/prompt.json)
for run in nopab pab; do
  pab=on && [ $run = nopab ] && pab=off
  expect "latte: the pipeline from the prompt and z0, PAB $pab, at 64x64 (the fixture's size; upstream hard-codes 512)" \
    $LA "${LA_DIRS[@]}" --prompt "$LP" --noise $tmp/la-z0.safetensors --pab $pab --out $tmp/la-$run.safetensors \
    --save-steps --video $tmp/la-$run.y4m --quiet
  t python3 tests/pipeline_e2e_check.py $tmp/la-$run.safetensors $LE $run latte
done
expect "latte: --video .y4m: the bytes bin/ditc-video writes from --out's frames_u8, at 8 fps" bash -c "
  bin/ditc-video --in $tmp/la-pab.safetensors --fps 8 --out $tmp/la-ref.y4m && cmp $tmp/la-pab.y4m $tmp/la-ref.y4m"
expect "latte: the chain (ditc-tokenize for prompt and \"\", the T5, ditc-cond, the DiT, the VAE binaries) runs" bash -c "
  bin/ditc-tokenize --pipeline latte --spiece $SPIECE/spiece.model --in $L/prompt.json --out $tmp/l-ids.safetensors &&
  bin/ditc-tokenize --pipeline latte --spiece $SPIECE/spiece.model --in $L/negative.json --out $tmp/l-nids.safetensors &&
  build/tests/t5-e2e-latte --quiet --weights $L/maxin-cn/Latte-1/text_encoder --ids $tmp/l-ids.safetensors --out $tmp/l-text.safetensors &&
  build/tests/t5-e2e-latte --quiet --weights $L/maxin-cn/Latte-1/text_encoder --ids $tmp/l-nids.safetensors --out $tmp/l-ntext.safetensors &&
  bin/ditc-cond --family latte --ids $tmp/l-ids.safetensors --text $tmp/l-text.safetensors --negative-ids $tmp/l-nids.safetensors \
    --negative-text $tmp/l-ntext.safetensors --out $tmp/l-cond.safetensors &&
  build/tests/latte-e2e --quiet --weights $L/maxin-cn/Latte-1/transformer --cond $tmp/l-cond.safetensors \
    --noise $tmp/la-z0.safetensors --save-steps --out $tmp/l-den.safetensors &&
  py 'st.save(a[1], {\"latents\": st.load(a[0])[\"final\"]})' $tmp/l-den.safetensors $tmp/l-z.safetensors &&
  build/tests/vae-latte-e2e --quiet --weights $L/maxin-cn/Latte-1/vae_temporal_decoder --latents $tmp/l-z.safetensors --out $tmp/l-vae.safetensors"
t $CMP --exact --label "latte: one binary = the chain: every step's latent (PAB on)" $tmp/la-pab.safetensors latents $tmp/l-den.safetensors latents
t $CMP --exact --label "latte: one binary = the chain: frames_u8" $tmp/la-pab.safetensors frames_u8 $tmp/l-vae.safetensors frames_u8
t $CMP --exact --label "latte: one binary = the chain: the negative prompt's T5 output" $tmp/la-pab.safetensors \
  negative_prompt_embeds $tmp/l-ntext.safetensors last_hidden_state

# ---- the memory plan: what the runtime allocates is what plan.txt says ------------------------------------
for name in os12 latte; do
  bin=build/tests/pipeline-$name-e2e
  case $name in os12) dirs=("${OS_DIRS[@]}") P1=$P z=$tmp/os-z0.safetensors ;; latte) dirs=("${LA_DIRS[@]}") P1=$LP z=$tmp/la-z0.safetensors ;; esac
  "$bin" "${dirs[@]}" --prompt "$P1" --noise $z --out $tmp/plan-$name.safetensors --json --quiet >$tmp/plan-$name.json 2>&1
  expect "$name: --json's bytes per phase and in total are plan.txt's, and the arena is the largest phase + carried" \
    python3 - build/gen/pipeline-$name-e2e/plan.txt $tmp/plan-$name.json <<'PY'
import json, re, sys
plan, run = open(sys.argv[1]).read(), json.load(open(sys.argv[2]))
b = run["bytes"]
phases = {m[0]: tuple(map(int, m[1:])) for m in re.findall(r"^  (\w+) +arena (\d+) weights (\d+) peak (\d+)$", plan, re.M)}
assert set(phases) == {"text", "denoise", "decode"}, phases
for ph, (arena, weights, peak) in phases.items():
    got = (b[ph]["arena"], b[ph]["weights"], b[ph]["peak"])
    assert got == (arena, weights, peak), (ph, got, (arena, weights, peak))
cond, latent = map(int, re.search(r"^  carried +cond (\d+) latent (\d+)$", plan, re.M).groups())
arena, weights, total = map(int, re.search(r"^  total +arena (\d+) weights (\d+) total (\d+)", plan, re.M).groups())
assert (b["arena"], b["weights"], b["total"]) == (arena, weights, total), (b, arena, weights, total)
largest = max(v[0] for v in phases.values())
assert arena == (largest + 255) // 256 * 256 + cond + latent, (arena, largest, cond, latent)
assert weights == max(v[1] for v in phases.values()) and b["weights_mode"] == "reload"
assert total == arena + weights
PY
done

# ---- several ranks: every rank encodes the prompt, rank 0 decodes and writes ------------------------------
SP=build/tests/pipeline-os12-e2e-sp2
expect "opensora-v1.2, 2 sequence-parallel thread ranks: runs" $SP "${OS_DIRS[@]}" --ranks 2 --prompt "$P" \
  --noise $tmp/os-z0.safetensors --pab off --out $tmp/sp2.safetensors --save-steps --video $tmp/sp2.y4m --json --quiet
for n in latents frames_u8; do
  t $CMP --exact --label "opensora-v1.2, 2 ranks == 1 rank: $n" $tmp/sp2.safetensors $n $tmp/os-nopab.safetensors $n
done
expect "opensora-v1.2, 2 ranks: the video is the one rank's" cmp $tmp/sp2.y4m $tmp/os-nopab.y4m
expect "latte, the CFG halves on 2 thread ranks == 1 rank: every step's latent and the frames" bash -c "
  build/tests/pipeline-latte-e2e-cfgp ${LA_DIRS[*]} --ranks 2 --prompt \"\$1\" --noise $tmp/la-z0.safetensors \
    --out $tmp/cfgp.safetensors --save-steps --quiet &&
  $CMP --exact $tmp/cfgp.safetensors latents $tmp/la-pab.safetensors latents &&
  $CMP --exact $tmp/cfgp.safetensors frames_u8 $tmp/la-pab.safetensors frames_u8" _ "$LP"
$SP "${OS_DIRS[@]}" --ranks 2 --prompt "$P" --noise $tmp/os-z0.safetensors --out $tmp/sp2b.safetensors --json --quiet \
  >$tmp/sp2.json 2>&1
expect "2 thread ranks: --json's arenas (one a further rank) are plan.txt's" python3 - $SP $tmp/sp2.json <<'PY'
import json, re, subprocess, sys
plan = subprocess.run([sys.argv[1], "--print-plan"], capture_output=True, text=True).stdout
b = json.load(open(sys.argv[2]))
ranks, extra = map(int, re.search(r"^  ranks +(\d+) thread_rank_arenas (\d+)$", plan, re.M).groups())
arena = int(re.search(r"^  denoise +arena (\d+)", plan, re.M).group(1))
assert b["ranks"] == ranks == 2 and b["bytes"]["thread_rank_arenas"] == extra == arena, (b, ranks, extra, arena)
PY
refuses "a parallel pipeline without --ranks names the count" 2 "run it with --ranks 2" $tmp/x.y4m \
  $SP --model-dir $G --prompt a --video $tmp/x.y4m
if [ -x build/tests/pipeline-os12-e2e-sp2-nccl ]; then
  t one_line_error "--comm nccl outside a launcher: one line naming RANK and WORLD_SIZE" $tmp/x.y4m -e "RANK" -- \
    env -u RANK -u WORLD_SIZE build/tests/pipeline-os12-e2e-sp2-nccl --comm nccl --model-dir $G --prompt a --video $tmp/x.y4m
else
  echo "# skipped: the NCCL build of the pipeline (build/tests/pipeline-os12-e2e-sp2-nccl: ninja nccl, needs the CUDA toolkit)"
fi

# weights resident (generated with --weights resident): the same frames, all three parts' weights allocated
LR=build/tests/pipeline-latte-e2e-resident
expect "latte, weights resident: the same latents and frames as reloading them" bash -c "
  $LR ${LA_DIRS[*]} --prompt \"\$1\" --noise $tmp/la-z0.safetensors --out $tmp/res.safetensors --save-steps --json \
    --quiet >$tmp/res.json && $CMP --exact $tmp/res.safetensors latents $tmp/la-pab.safetensors latents &&
  $CMP --exact $tmp/res.safetensors frames_u8 $tmp/la-pab.safetensors frames_u8" _ "$LP"
expect "latte, weights resident: --json's weights are every part's, as plan.txt says, and each phase's peak holds them all" \
  python3 - $LR $tmp/res.json <<'PY'
import json, re, subprocess, sys
plan = subprocess.run([sys.argv[1], "--print-plan"], capture_output=True, text=True).stdout
b = json.load(open(sys.argv[2]))["bytes"]
phases = {m[0]: tuple(map(int, m[1:])) for m in re.findall(r"^  (\w+) +arena (\d+) weights (\d+) peak (\d+)$", plan, re.M)}
arena, weights, total = map(int, re.search(r"^  total +arena (\d+) weights (\d+) total (\d+) \(weights resident\)", plan, re.M).groups())
cond, latent = map(int, re.search(r"^  carried +cond (\d+) latent (\d+)$", plan, re.M).groups())
assert b["weights_mode"] == "resident" and b["weights"] == weights == sum(v[1] for v in phases.values()), (b, weights)
for ph, (a, w, peak) in phases.items():
    assert peak == a + cond + latent + weights and b[ph]["peak"] == peak, (ph, peak, b[ph])
assert b["total"] == total == arena + weights
PY

# ---- model folders as the released repositories lay them out --------------------------------------------
# Open-Sora 1.2: three repositories under DIR by their names; DeepFloyd's holds the tokenizer too
R=$tmp/os-models
mkdir -p $R/DeepFloyd $R/hpcai-tech
cp -r $G/DeepFloyd/t5-v1_1-xxl-sharded $R/DeepFloyd/t5-v1_1-xxl
cp $SPIECE/spiece.model $R/DeepFloyd/t5-v1_1-xxl/
cp -r $G/hpcai-tech/OpenSora-STDiT-v3 $G/hpcai-tech/OpenSora-VAE-v1.2 $R/hpcai-tech/
expect "opensora-v1.2: --model-dir alone on the released layout gives the same frames" bash -c "
  $OS --model-dir $R --prompt \"\$1\" --noise $tmp/os-z0.safetensors --pab off --out $tmp/os-dir.safetensors --quiet &&
  $CMP --exact $tmp/os-dir.safetensors frames_u8 $tmp/os-nopab.safetensors frames_u8" _ "$P"
expect "opensora-v1.2: --seed (no --noise) runs and writes a .y4m" bash -c "
  $OS --model-dir $R --prompt 'a red panda eating bamboo' --seed 7 --video $tmp/panda.y4m --quiet && test -s $tmp/panda.y4m"
# Latte-1: one repository
RL=$tmp/Latte-1
cp -r $L/maxin-cn/Latte-1 $RL
mkdir -p $RL/tokenizer && cp $SPIECE/spiece.model $RL/tokenizer/
expect "latte: --model-dir alone on the released layout gives the same frames" bash -c "
  $LA --model-dir $RL --prompt \"\$1\" --noise $tmp/la-z0.safetensors --out $tmp/la-dir.safetensors --quiet &&
  $CMP --exact $tmp/la-dir.safetensors frames_u8 $tmp/la-pab.safetensors frames_u8" _ "$LP"

# refusals: one line naming the file and field, exit 1, no video
bad() { # bad NAME SUBSTRING... -- a modified copy of $R (made by the caller in $B) refused
  local name=$1
  shift
  local subs=()
  while [ "$1" != "--" ]; do subs+=(-e "$1"); shift; done
  shift
  t one_line_error "opensora-v1.2: $name" $tmp/bad.y4m "${subs[@]}" -- \
    $OS --model-dir $B --prompt 'a cat' --seed 1 --video $tmp/bad.y4m --quiet "$@"
}
fresh() { rm -rf $tmp/b && cp -r $R $tmp/b && B=$tmp/b; }
fresh && rm -r $B/hpcai-tech/OpenSora-VAE-v1.2
bad "a folder missing a part (the VAE)" "OpenSora-VAE-v1.2/config.json" --
fresh && rm $B/hpcai-tech/OpenSora-STDiT-v3/model.safetensors
bad "a part's folder without its checkpoint" "OpenSora-STDiT-v3" --
fresh && cp $L/maxin-cn/Latte-1/transformer/config.json $B/hpcai-tech/OpenSora-STDiT-v3/config.json
bad "a part of another family (Latte's transformer as the STDiT3)" "OpenSora-STDiT-v3/config.json" "_class_name" "LatteT2V" "another model" --
fresh && sed -i 's/"depth": 2/"depth": 3/' $B/hpcai-tech/OpenSora-STDiT-v3/config.json
bad "a config.json that disagrees with the binary (depth 3 for 2)" "OpenSora-STDiT-v3/config.json" "'depth' is 3" "generated with 2" --
fresh && py 'import json; c = json.load(open(a[0])); c["vae_temporal"]["filters"] = 8; json.dump(c, open(a[0], "w"))' \
  $B/hpcai-tech/OpenSora-VAE-v1.2/config.json
bad "a nested VAE field that disagrees (vae_temporal.filters 8 for 4)" "OpenSora-VAE-v1.2/config.json" "vae_temporal.filters" --
fresh && sed -i 's/"eos_token_id": 1/"eos_token_id": 2/' $B/DeepFloyd/t5-v1_1-xxl/config.json
bad "a text encoder whose ids disagree with the binary's (eos_token_id 2)" "t5-v1_1-xxl/config.json" "eos_token_id" --
# a tokenizer of 100 pieces more than the fixture's 2000 (+ 100 extra ids): 2200 ids, the encoder has 2176
fresh && python3 - $SPIECE/spiece.model $B/DeepFloyd/t5-v1_1-xxl/spiece.model <<'PY'
import sys
sys.path.insert(0, "tests")
from make_bad_spm import parse, ser
top = parse(open(sys.argv[1], "rb").read())
extra = [(1, 2, ser([(1, 2, ("\u2581ditc%d" % k).encode()), (2, 5, b"\x00\x00\x20\xc1"), (3, 0, 1)])) for k in range(100)]
last = max(i for i, x in enumerate(top) if x[0] == 1)
open(sys.argv[2], "wb").write(ser(top[:last + 1] + extra + top[last + 1:]))
PY
bad "a tokenizer whose vocabulary is larger than the text encoder's" "spiece.model" "2200 ids" "vocab_size 2176" \
  "does not belong" --
fresh && printf '{"model_type": "t5"' >$B/DeepFloyd/t5-v1_1-xxl/config.json
bad "a truncated config.json" "t5-v1_1-xxl/config.json" "malformed JSON" --

# Open-Sora-Plan v1.1 (no end-to-end fixture): its released layout from the fixtures' tiny parts of matching
# widths (the DiT fixture's transformer, the VAE fixture's decoder, Open-Sora's e2e T5 of d_model 32), its
# pipeline generated and built from that folder by ./ditc.sh variant, then run from a prompt
RO=$tmp/osp/LanguageBind/Open-Sora-Plan-v1.1.0
mkdir -p $RO/65x512x512 $RO/vae $tmp/osp/DeepFloyd
cp tests/data/osp-fixture/config.json $RO/65x512x512/
cp tests/golden/opensora-plan-v1.1/weights.safetensors $RO/65x512x512/diffusion_pytorch_model.safetensors
cp tests/golden/vae-opensora-plan-v1.1/config.json $RO/vae/
cp tests/golden/vae-opensora-plan-v1.1/weights.safetensors $RO/vae/diffusion_pytorch_model.safetensors
cp -r $R/DeepFloyd/t5-v1_1-xxl $tmp/osp/DeepFloyd/
expect "opensora-plan-v1.1: ./ditc.sh variant --model-dir on the released layout builds the pipeline binary" bash -c "
  ./ditc.sh variant --model models/opensora-plan-v1.1.lua --model-dir $tmp/osp --name test-pipeline-osp --height 64 \
    --width 64 --frames 17 --steps 12 >$tmp/osp-variant.log 2>&1 && test \"\$(tail -n 1 $tmp/osp-variant.log)\" = bin/variant/test-pipeline-osp"
printf '["a lighthouse at dawn"]\n' >$tmp/osp-prompt.json
expect "opensora-plan-v1.1: from a prompt to frames [1, 17, 64, 64, 3] and a video, the T5 outputs the T5 binary's" bash -c "
  bin/variant/test-pipeline-osp --model-dir $tmp/osp --prompt 'a lighthouse at dawn' --seed 5 --save-steps \
    --out $tmp/osp.safetensors --video $tmp/osp.y4m --quiet &&
  bin/ditc-tokenize --pipeline opensora-plan-v1.1 --spiece $SPIECE/spiece.model --in $tmp/osp-prompt.json --out $tmp/osp-ids.safetensors &&
  build/tests/t5-e2e-os12 --quiet --weights $G/DeepFloyd/t5-v1_1-xxl-sharded --ids $tmp/osp-ids.safetensors --out $tmp/osp-t5.safetensors &&
  $CMP --exact $tmp/osp.safetensors prompt_embeds $tmp/osp-t5.safetensors last_hidden_state &&
  $CMP --exact $tmp/osp.safetensors input_ids $tmp/osp-ids.safetensors input_ids &&
  py 'f = st.load(a[0])[\"frames_u8\"]; assert f.shape == (1, 17, 64, 64, 3) and f.dtype == np.uint8 and f.std() > 0, f.shape' \
    $tmp/osp.safetensors && test -s $tmp/osp.y4m"

# the decode phase's progress: a line before each decoder call
expect "progress: the decode phase prints each decoder call (Open-Sora: 1 temporal chunk, 5 calls of the 2-D decoder)" bash -c "
  $OS --model-dir $R --prompt 'a cat' --seed 1 --video $tmp/prog.y4m 2>$tmp/prog.txt &&
  grep -q '^decode: temporal chunk 1 of 1\$' $tmp/prog.txt && grep -q '^decode: 2-D decoder call 5 of 5\$' $tmp/prog.txt &&
  grep -q '^text: ' $tmp/prog.txt && grep -q '^step 30/30 ' $tmp/prog.txt && grep -q '^done: 1 video in ' $tmp/prog.txt"

# ---- several prompts --------------------------------------------------------------------------------------
printf 'a red panda eating bamboo\n\na lighthouse at dawn\r\na cat plays the piano\n' >$tmp/three.txt
expect "--prompt-file with three prompts (a blank line skipped) writes three videos and three --out files" bash -c "
  $OS --model-dir $R --prompt-file $tmp/three.txt --seed 3 --video $tmp/three.y4m --out $tmp/three.safetensors --quiet &&
  test -s $tmp/three-0.y4m && test -s $tmp/three-1.y4m && test -s $tmp/three-2.y4m && test ! -e $tmp/three-3.y4m &&
  test -s $tmp/three-2.safetensors && ! cmp -s $tmp/three-0.y4m $tmp/three-1.y4m"
expect "--prompt repeated twice: two videos, the first the same as --prompt-file's first" bash -c "
  $OS --model-dir $R --prompt 'a red panda eating bamboo' --prompt 'a lighthouse at dawn' --seed 3 --video $tmp/two.y4m --quiet &&
  cmp $tmp/two-0.y4m $tmp/three-0.y4m && test -s $tmp/two-1.y4m"
# the second prompt fails in the text phase: its Open-Sora JSON part names a reference video, which
# ditc does not build (runtime/text/opensora_prompt.c)
printf 'a red panda eating bamboo\na cat{"reference_path": "cat.mp4"}\na cat plays the piano\n' >$tmp/fails.txt
rm -f $tmp/f-*.y4m
out=$($OS --model-dir $R --prompt-file $tmp/fails.txt --seed 3 --video $tmp/f.y4m --quiet 2>&1)
st=$?
if [ $st -eq 1 ] && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && printf '%s' "$out" | grep -q "prompt 2 of 3" &&
  cmp -s $tmp/f-0.y4m $tmp/three-0.y4m && [ ! -e $tmp/f-1.y4m ] && [ ! -e $tmp/f-2.y4m ] && [ -z "$(ls $tmp | grep '\.tmp$')" ]; then
  echo "ok - a failure at the second of three prompts: one line naming it, the first video intact, no second or third file"
else
  echo "not ok - a failure at the second prompt: status $st: $out; $(ls $tmp | grep '^f-')"
  rc=1
fi

# ---- --cond (people who bring their own encoder) and the command line ------------------------------------
expect "--cond instead of a prompt: the same final latent as from the prompt" bash -c "
  $OS --model-dir $R --cond $tmp/c-cond.safetensors --noise $tmp/os-z0.safetensors --pab off --out $tmp/cond.safetensors --quiet &&
  $CMP --exact $tmp/cond.safetensors final $tmp/os-nopab.safetensors final"
refuses "--negative-prompt on Open-Sora (its uncond half is a learned null caption)" 2 "negative-prompt" $tmp/x.y4m \
  $OS --model-dir $R --prompt a --negative-prompt b --video $tmp/x.y4m
refuses "no output named" 2 "nothing to write" $tmp/x.y4m $OS --model-dir $R --prompt a
refuses "--noise and --seed together" 2 "exclude" $tmp/x.y4m $OS --model-dir $R --prompt a --seed 1 --noise $tmp/os-z0.safetensors --video $tmp/x.y4m
refuses "no model folder" 2 "model-dir" $tmp/x.y4m $OS --prompt a --video $tmp/x.y4m
refuses "a prompt and --cond together" 2 "one way" $tmp/x.y4m $OS --model-dir $R --prompt a --cond $tmp/c-cond.safetensors --video $tmp/x.y4m
t one_line_error "--video over an input (the noise file)" $tmp/none -e "--video" -- \
  $OS --model-dir $R --prompt a --noise $tmp/os-z0.safetensors --video $tmp/os-z0.safetensors --quiet
: >$tmp/empty.txt
t one_line_error "an empty --prompt-file" $tmp/x.y4m -e "no prompt" -- $OS --model-dir $R --prompt-file $tmp/empty.txt --video $tmp/x.y4m
expect "--print-plan prints plan.txt, --print-schedule the DiT binary's schedule; --info names the parts' folders" bash -c "
  $OS --print-plan | cmp - build/gen/pipeline-os12-e2e/plan.txt &&
  $OS --print-schedule | cmp - <(build/tests/os12-e2e --print-schedule) && $OS --info | grep -q 'hpcai-tech/OpenSora-VAE-v1.2'"
expect "--negative-prompt on Latte changes the video" bash -c "
  $LA --model-dir $RL --prompt \"\$1\" --noise $tmp/la-z0.safetensors --negative-prompt 'blurry, dark' --out $tmp/la-neg.safetensors --quiet &&
  ! $CMP --exact $tmp/la-neg.safetensors final $tmp/la-pab.safetensors final >/dev/null" _ "$LP"
exit $rc
