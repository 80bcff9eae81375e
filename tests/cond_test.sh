#!/usr/bin/env bash
# tests/cond_test.sh: from a prompt string to the DiT, end to end on the two upstream end-to-end
# fixtures (tests/golden/e2e-opensora-v1.2, tests/golden/e2e-latte: VideoSys' own pipelines on tiny
# parts, fp32): the prompt -> bin/ditc-tokenize --pipeline -> the fixture's ids, bit for bit -> the
# T5 binary built from the fixture's text-encoder config.json, on its sharded weights -> the
# fixture's T5 output -> bin/ditc-cond -> the --cond file -> the DiT built from the fixture's
# transformer config.json: its first model call (a --forward file of the fixture's latents and
# timestep with OUR conditioning) and the whole sampling run from that --cond file and the fixture's
# noise, against upstream. Then bin/ditc-cond's refusals. Prints ok / not ok lines.
# Tolerances: T5 1e-5 * max|ref| (tests/t5_test.sh: the fixture's own fp32-vs-fp64 spread), the DiT
# call and the final latent 1e-4 * max|ref| (tests/e2e.sh: legitimate fp32 differences are ~1e-6
# relative; here they also carry the T5's ~1e-6 relative difference through the network).
cd "$(dirname "$0")/.."
. tests/lib.sh
CMP=build/tests/stcmp
COND=bin/ditc-cond
SPIECE=tests/golden/t5/spiece.model # the fixtures' tokenizer model is this file (their READMEs)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# py SCRIPT ARGS...: a numpy check or file maker over tests/ref/safetensors_np.py
py() {
  local script=$1
  shift
  python3 - "$@" <<PY
import sys; sys.path.insert(0, "tests/ref")
import numpy as np, safetensors_np as st
a = sys.argv[1:]
$script
PY
}

# ---- Open-Sora 1.2: y [N, 1, L, C] and mask; the null caption is the DiT's ------------------------
G=tests/golden/e2e-opensora-v1.2
E=$G/e2e.safetensors
expect "opensora-v1.2: the prompt tokenizes (--pipeline: score suffix, cleaning, fast, 300)" bin/ditc-tokenize \
  --pipeline opensora-v1.2 --spiece $SPIECE --in $G/prompt.json --out $tmp/os-ids.safetensors
t $CMP --exact --label "opensora-v1.2: input_ids = the fixture's" $tmp/os-ids.safetensors input_ids $E input_ids
t $CMP --exact --label "opensora-v1.2: attention_mask = the fixture's (44 valid)" $tmp/os-ids.safetensors \
  attention_mask $E attention_mask
expect "opensora-v1.2: T5 from the fixture's config.json runs on the sharded folder" build/tests/t5-e2e-os12 --quiet \
  --weights $G/DeepFloyd/t5-v1_1-xxl-sharded --ids $tmp/os-ids.safetensors --out $tmp/os-text.safetensors
t $CMP --rel 1e-5 --label "opensora-v1.2: last_hidden_state vs upstream's" $tmp/os-text.safetensors last_hidden_state \
  $E t5_last_hidden_state
expect "opensora-v1.2: ditc-cond writes the --cond file" $COND --family opensora-v1.2 --ids $tmp/os-ids.safetensors \
  --text $tmp/os-text.safetensors --out $tmp/os-cond.safetensors
expect "opensora-v1.2: y F32 [1, 1, 300, 32] is the T5 output, mask I64 [1, 300] the tokenizer's" py '
c, x, i = st.load(a[0]), st.load(a[1]), st.load(a[2])
assert sorted(c) == ["mask", "y"], sorted(c)
assert c["y"].dtype == np.float32 and c["y"].shape == (1, 1, 300, 32), c["y"].shape
assert np.array_equal(c["y"], x["last_hidden_state"][:, None]), "y"
assert c["mask"].dtype == np.int64 and np.array_equal(c["mask"], i["attention_mask"]), "mask"
assert st.read_header(a[0])[1].get("family") == "opensora-v1.2"
' $tmp/os-cond.safetensors $tmp/os-text.safetensors $tmp/os-ids.safetensors
# upstream's call0.y is cat(y, y_null): the forward reads its first half; the second is zeros here,
# so the uncond half of out matching upstream's shows the DiT adds the null caption itself
py 'f, c = st.load(a[0]), st.load(a[1])
z = f["nopab.z0"]
st.save(a[2], {"call0.x": np.concatenate([z, z]), "call0.timestep": f["call0.timestep"],
               "call0.y": np.concatenate([c["y"], np.zeros_like(c["y"])]), "call0.mask": c["mask"]})
st.save(a[3], {"z0": z})' $E $tmp/os-cond.safetensors $tmp/os-fwd.safetensors $tmp/os-z0.safetensors
expect "opensora-v1.2: the DiT from the fixture's config.json runs call0 on our y and mask" build/tests/os12-e2e \
  --weights $G/hpcai-tech/OpenSora-STDiT-v3 --forward $tmp/os-fwd.safetensors --call call0. --out $tmp/os-out.safetensors
t $CMP --label "opensora-v1.2: call0.out (both CFG halves) vs upstream's" $tmp/os-out.safetensors out $E call0.out
expect "opensora-v1.2: sampling from the --cond file runs (30 steps, PAB off)" build/tests/os12-e2e --quiet --pab off \
  --weights $G/hpcai-tech/OpenSora-STDiT-v3 --cond $tmp/os-cond.safetensors --noise $tmp/os-z0.safetensors \
  --out $tmp/os-sample.safetensors
t $CMP --label "opensora-v1.2: prompt -> final latent vs upstream's" $tmp/os-sample.safetensors final $E nopab.final_latent

# ---- Latte-1: prompt and negative embeds at the fixed length, the prompt's mask --------------------
G=tests/golden/e2e-latte
E=$G/e2e.safetensors
for s in prompt negative; do
  expect "latte: the $s tokenizes (--pipeline: cleaning, slow, 120)" bin/ditc-tokenize --pipeline latte \
    --spiece $SPIECE --in $G/$s.json --out $tmp/l-$s-ids.safetensors
  t $CMP --exact --label "latte: $s input_ids = the fixture's" $tmp/l-$s-ids.safetensors input_ids $E $s.input_ids
  t $CMP --exact --label "latte: $s attention_mask = the fixture's" $tmp/l-$s-ids.safetensors attention_mask \
    $E $s.attention_mask
  expect "latte: T5 from the fixture's config.json runs the $s on the sharded index" build/tests/t5-e2e-latte --quiet \
    --weights $G/maxin-cn/Latte-1/text_encoder/model.safetensors.index.json --ids $tmp/l-$s-ids.safetensors \
    --out $tmp/l-$s-text.safetensors
  t $CMP --rel 1e-5 --label "latte: $s last_hidden_state vs upstream's" $tmp/l-$s-text.safetensors last_hidden_state \
    $E $s.t5_last_hidden_state
done
expect "latte: ditc-cond writes the --cond file" $COND --family latte --ids $tmp/l-prompt-ids.safetensors \
  --text $tmp/l-prompt-text.safetensors --negative-ids $tmp/l-negative-ids.safetensors \
  --negative-text $tmp/l-negative-text.safetensors --out $tmp/l-cond.safetensors
# upstream (mask_feature) cuts both to the prompt's k = 29 tokens: cond.encoder_hidden_states is
# cat(negative[:, :k], prompt[:, :k]); ours keeps all 120 with the prompt's mask
expect "latte: prompt/negative_prompt_embeds [1, 120, 40] and the prompt's mask; their first k = 29 rows are \
upstream's cut conditioning (1e-5 * max|ref|)" py '
c, e = st.load(a[0]), st.load(a[1])
assert sorted(c) == ["mask", "negative_prompt_embeds", "prompt_embeds"], sorted(c)
for name, text in (("prompt_embeds", a[2]), ("negative_prompt_embeds", a[3])):
    assert c[name].dtype == np.float32 and c[name].shape == (1, 120, 40), name
    assert np.array_equal(c[name], st.load(text)["last_hidden_state"]), name
assert np.array_equal(c["mask"], e["prompt.attention_mask"]), "mask"
k = int(c["mask"].sum()); ref = e["cond.encoder_hidden_states"]
assert k == 29 and ref.shape == (2, k, 40), (k, ref.shape)
ours = np.concatenate([c["negative_prompt_embeds"][:, :k], c["prompt_embeds"][:, :k]])
err, budget = np.abs(ours - ref).max(), 1e-5 * max(1.0, np.abs(ref).max())
print(f"max|err| {err:.3g}, {100 * err / budget:.1f}% of the budget"); assert err <= budget
' $tmp/l-cond.safetensors $E $tmp/l-prompt-text.safetensors $tmp/l-negative-text.safetensors
# the forward fixture's text is the CFG batch, uncond first: cat(negative, prompt) at 120 tokens, and
# the mask (optional in a Latte forward file) is the prompt's
py 'f, c = st.load(a[0]), st.load(a[1])
z = f["nopab.z0"]
d = {"call0.hidden_states": np.concatenate([z, z]), "call0.timestep": f["call0.timestep"],
     "call0.encoder_hidden_states": np.concatenate([c["negative_prompt_embeds"], c["prompt_embeds"]])}
st.save(a[3], d)
d["call0.mask"] = c["mask"]
st.save(a[2], d)
st.save(a[4], {"z0": z})' $E $tmp/l-cond.safetensors $tmp/l-fwd.safetensors $tmp/l-fwd-nomask.safetensors \
  $tmp/l-z0.safetensors
expect "latte: the DiT from the fixture's config.json (text length 120) runs call0 on our embeds and mask" \
  build/tests/latte-e2e --weights $G/maxin-cn/Latte-1/transformer --forward $tmp/l-fwd.safetensors --call call0. \
  --out $tmp/l-out.safetensors
t $CMP --label "latte: call0.out (both CFG halves) vs upstream's on the cut embeds: the mask is the cut" \
  $tmp/l-out.safetensors out $E call0.out
expect "latte: without the mask (all 120 tokens attended) call0.out misses upstream's by far" bash -c "
  build/tests/latte-e2e --weights $G/maxin-cn/Latte-1/transformer --forward $tmp/l-fwd-nomask.safetensors \
    --call call0. --out $tmp/l-out-nomask.safetensors &&
  ! $CMP --rel 1e-2 $tmp/l-out-nomask.safetensors out $E call0.out"
expect "latte: sampling from the --cond file runs (10 DDIM steps, PAB off)" build/tests/latte-e2e --quiet --pab off \
  --weights $G/maxin-cn/Latte-1/transformer --cond $tmp/l-cond.safetensors --noise $tmp/l-z0.safetensors \
  --out $tmp/l-sample.safetensors
t $CMP --label "latte: prompt -> final latent vs upstream's" $tmp/l-sample.safetensors final $E nopab.final_latent

# Open-Sora-Plan v1.1 takes the same file as Latte (its own lengths: 300 for both)
expect "opensora-plan-v1.1: the same file as latte" bash -c "
  $COND --family opensora-plan-v1.1 --ids $tmp/l-prompt-ids.safetensors --text $tmp/l-prompt-text.safetensors \
    --negative-ids $tmp/l-negative-ids.safetensors --negative-text $tmp/l-negative-text.safetensors \
    --out $tmp/p-cond.safetensors && $CMP --exact $tmp/p-cond.safetensors prompt_embeds $tmp/l-cond.safetensors prompt_embeds \
  && $CMP --exact $tmp/p-cond.safetensors negative_prompt_embeds $tmp/l-cond.safetensors negative_prompt_embeds"

# ---- several prompts, one negative -------------------------------------------------------------
printf '["a cat", "%s"]\n' "two dogs on a sunny beach, playing with a red ball" >$tmp/two.json
expect "two prompts with one negative: the negative serves both, each prompt keeps its mask" bash -c "
  bin/ditc-tokenize --pipeline latte --spiece $SPIECE --in $tmp/two.json --out $tmp/two-ids.safetensors &&
  build/tests/t5-e2e-latte --quiet --weights $G/maxin-cn/Latte-1/text_encoder --ids $tmp/two-ids.safetensors \
    --out $tmp/two-text.safetensors &&
  $COND --family latte --ids $tmp/two-ids.safetensors --text $tmp/two-text.safetensors \
    --negative-ids $tmp/l-negative-ids.safetensors --negative-text $tmp/l-negative-text.safetensors \
    --out $tmp/two-cond.safetensors" && expect "  (shapes [2, 120, 40], masks of 3 and 26 tokens)" py '
c, n, i = st.load(a[0]), st.load(a[1])["last_hidden_state"], st.load(a[2])["attention_mask"]
assert c["negative_prompt_embeds"].shape == (2, 120, 40) and (c["negative_prompt_embeds"] == n[0]).all()
assert np.array_equal(c["mask"], i) and list(c["mask"].sum(1)) == [3, 26], c["mask"].sum(1)
' $tmp/two-cond.safetensors $tmp/l-negative-text.safetensors $tmp/two-ids.safetensors

# ---- refusals: one line naming the file and tensor, exit 1 (2 for usage), no output ---------------
P=(--ids $tmp/l-prompt-ids.safetensors --text $tmp/l-prompt-text.safetensors)
N=(--negative-ids $tmp/l-negative-ids.safetensors --negative-text $tmp/l-negative-text.safetensors)
O=$tmp/bad-out.safetensors
py '
i, x = st.load(a[0]), st.load(a[1])
m = i["attention_mask"]
def ids(name, mask, **extra): st.save(a[2] + "/" + name, dict({"input_ids": i["input_ids"], "attention_mask": mask}, **extra))
ids("ids-two.safetensors", m * 2)
ids("ids-empty-row.safetensors", m * 0)
gap = m.copy(); gap[0, 3] = 0; ids("ids-gap.safetensors", gap)
st.save(a[2] + "/ids-float.safetensors", {"attention_mask": m.astype(np.float32)})
st.save(a[2] + "/ids-3d.safetensors", {"attention_mask": m[None]})
st.save(a[2] + "/ids-badids.safetensors", {"attention_mask": m, "input_ids": i["input_ids"][:, :7]})
nan = x["last_hidden_state"].copy(); nan[0, 5, 2] = np.nan
st.save(a[2] + "/text-nan.safetensors", {"last_hidden_state": nan})
st.save(a[2] + "/text-short.safetensors", {"last_hidden_state": x["last_hidden_state"][:, :100]})
st.save(a[2] + "/text-int.safetensors", {"last_hidden_state": i["input_ids"][:, :, None]})
st.save(a[2] + "/neg-three.safetensors", {"last_hidden_state": np.concatenate([x["last_hidden_state"]] * 3)})
st.save(a[2] + "/neg-three-ids.safetensors", {"attention_mask": np.concatenate([m] * 3)})
' $tmp/l-prompt-ids.safetensors $tmp/l-prompt-text.safetensors $tmp
refuses "refused: a mask value other than 0/1" 1 "ids-two.safetensors: tensor 'attention_mask' must hold 0/1, has 2 at \
\[0, 0\]" $O $COND --family latte --ids $tmp/ids-two.safetensors --text $tmp/l-prompt-text.safetensors "${N[@]}" --out $O
refuses "refused: a mask row without a valid token" 1 "ids-empty-row.safetensors: tensor 'attention_mask' row 0 has no \
valid token" $O $COND --family opensora-v1.2 --ids $tmp/ids-empty-row.safetensors --text $tmp/l-prompt-text.safetensors --out $O
refuses "refused (latte): a mask whose valid tokens do not come first" 1 "ids-gap.safetensors: tensor 'attention_mask' \
row 0 has a 1 at 4 after a 0 at 3" $O $COND --family latte --ids $tmp/ids-gap.safetensors \
  --text $tmp/l-prompt-text.safetensors "${N[@]}" --out $O
expect "accepted (opensora-v1.2, whose DiT takes any 0/1 mask as upstream's attention does): the same mask" \
  $COND --family opensora-v1.2 --ids $tmp/ids-gap.safetensors --text $tmp/l-prompt-text.safetensors --out $tmp/gap.safetensors
refuses "refused: a float mask" 1 "ids-float.safetensors: tensor 'attention_mask' has dtype F32, expected an integer" $O \
  $COND --family opensora-v1.2 --ids $tmp/ids-float.safetensors --text $tmp/l-prompt-text.safetensors --out $O
refuses "refused: a mask of 3 dimensions" 1 "ids-3d.safetensors: tensor 'attention_mask' has shape \[1, 1, 120\], \
expected \[N, L\]" $O $COND --family opensora-v1.2 --ids $tmp/ids-3d.safetensors --text $tmp/l-prompt-text.safetensors --out $O
refuses "refused: input_ids of another shape than the mask" 1 "ids-badids.safetensors: tensor 'input_ids' has shape \
\[1, 7\], expected \[1, 120\]" $O $COND --family opensora-v1.2 --ids $tmp/ids-badids.safetensors \
  --text $tmp/l-prompt-text.safetensors --out $O
refuses "refused: an ids file without attention_mask (the T5 output given as ids)" 1 "l-prompt-text.safetensors: \
missing tensor 'attention_mask'" $O $COND --family opensora-v1.2 --ids $tmp/l-prompt-text.safetensors \
  --text $tmp/l-prompt-text.safetensors --out $O
refuses "refused: a T5 output without last_hidden_state (the ids given as text)" 1 "l-prompt-ids.safetensors: missing \
tensor 'last_hidden_state'" $O $COND --family opensora-v1.2 --ids $tmp/l-prompt-ids.safetensors \
  --text $tmp/l-prompt-ids.safetensors --out $O
refuses "refused: a NaN in the T5 output" 1 "text-nan.safetensors: tensor 'last_hidden_state' holds a non-finite value \
\(nan\) at element 202" $O $COND --family latte --ids $tmp/l-prompt-ids.safetensors --text $tmp/text-nan.safetensors \
  "${N[@]}" --out $O
refuses "refused: a T5 output of another length than the ids" 1 "text-short.safetensors: tensor 'last_hidden_state' has \
shape \[1, 100, 40\], expected \[1, 120, C\]" $O $COND --family opensora-v1.2 --ids $tmp/l-prompt-ids.safetensors \
  --text $tmp/text-short.safetensors --out $O
refuses "refused: an integer T5 output" 1 "text-int.safetensors: tensor 'last_hidden_state' has dtype I64" $O \
  $COND --family opensora-v1.2 --ids $tmp/l-prompt-ids.safetensors --text $tmp/text-int.safetensors --out $O
refuses "refused: a negative of another length than the prompt (Open-Sora's 300 against Latte's 120)" 1 \
  "os-text.safetensors: tensor 'last_hidden_state' has shape \[1, 300, 32\], expected \[1, 120, 40\]" $O \
  $COND --family latte "${P[@]}" --negative-ids $tmp/os-ids.safetensors --negative-text $tmp/os-text.safetensors --out $O
refuses "refused: 3 negative rows for 1 prompt" 1 "neg-three.safetensors: tensor 'last_hidden_state' has shape \
\[3, 120, 40\], expected \[1, 120, 40\]" $O $COND --family latte "${P[@]}" --negative-ids $tmp/neg-three-ids.safetensors \
  --negative-text $tmp/neg-three.safetensors --out $O
refuses "refused: a missing file" 1 "nope.safetensors" $O $COND --family opensora-v1.2 --ids $tmp/nope.safetensors \
  --text $tmp/l-prompt-text.safetensors --out $O
cp $tmp/l-prompt-text.safetensors $tmp/keep.safetensors
refuses "refused: --out naming an input (which stays as it was)" 1 "--out.*--text" $tmp/none \
  $COND --family opensora-v1.2 --ids $tmp/l-prompt-ids.safetensors --text $tmp/l-prompt-text.safetensors \
  --out $tmp/l-prompt-text.safetensors
expect "  (the input is unchanged)" cmp $tmp/keep.safetensors $tmp/l-prompt-text.safetensors
refuses "usage: latte without a negative prompt" 2 "--family latte needs --negative-ids and --negative-text" $O \
  $COND --family latte "${P[@]}" --out $O
refuses "usage: opensora-v1.2 with a negative prompt" 2 "takes no negative prompt" $O \
  $COND --family opensora-v1.2 "${P[@]}" "${N[@]}" --out $O
refuses "usage: an unknown family" 2 "--family takes opensora-v1.2, latte or opensora-plan-v1.1, got 'sd3'" $O \
  $COND --family sd3 "${P[@]}" --out $O
refuses "usage: a flag given twice" 2 "--ids is given twice" $O $COND --family opensora-v1.2 "${P[@]}" "${P[@]}" --out $O
exit $rc
