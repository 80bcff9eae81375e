#!/usr/bin/env bash
# tests/t5_test.sh: the T5 v1.1 encoder generated from models/t5-v1.1.lua (gen/families/t5.lua)
# against the upstream fixture (tests/golden/t5: transformers 4.39.3 T5EncoderModel in fp32) and
# against the numpy oracle tests/ref/t5_ref.py on a second config from a config.json, then the
# refusals of bad ids files and checkpoints. Prints ok / not ok lines.
cd "$(dirname "$0")/.."
. tests/lib.sh
G=tests/golden/t5
CMP=build/tests/stcmp
BIN=bin/t5-v1.1-fixture
DBG=bin/debug/t5-v1.1-fixture
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Tolerance 1e-5 of max|ref| (at least 1e-5): the fixture's own fp32-vs-fp64 difference is 1.1e-5
# at |values| <= 4.4 (its README); the CPU backend computes in fp32 in another summation order.
REL=1e-5

if python3 tests/ref/t5_ref.py check-golden $G >$tmp/oracle.txt 2>&1 && ! grep -q "^not ok" $tmp/oracle.txt; then
  echo "ok - the numpy oracle reproduces every fixture tensor and the buckets of -1024..1024 (tests/ref/t5_ref.py)"
else
  echo "not ok - the numpy oracle against the fixture: $(grep -m1 'not ok' $tmp/oracle.txt)"
  rc=1
fi
t build/tests/t5_bucket_test $G/forward.safetensors

# ---- the fixture: one call of 4 rows (300, 23, 0 and 151 valid tokens) -------------------------------
expect "fixture: the debug binary runs with --dump all" $DBG --weights $G/weights.safetensors --ids $G/forward.safetensors \
  --out $tmp/dump.safetensors --dump all
for n in hidden_states.0 position_bias.by_offset block.0.attn_norm block.0.attn_out block.0.after_attn_residual \
  block.0.ff_norm block.0.ff_gelu_wi0 block.0.ff_out hidden_states.1 hidden_states.2 block.2.out last_hidden_state; do
  t $CMP --rel $REL --label "fixture: $n" $tmp/dump.safetensors $n $G/forward.safetensors $n
done
t $CMP --rel $REL --label "fixture: hidden_states.3 (after the final norm) is last_hidden_state" $tmp/dump.safetensors \
  hidden_states.3 $G/forward.safetensors last_hidden_state
expect "fixture: the release binary writes last_hidden_state F32 [4, 300, 64], bit-identical to the debug one" bash -c "
  $BIN --weights $G/weights.safetensors --ids $G/forward.safetensors --out $tmp/out.safetensors &&
  $CMP --exact $tmp/out.safetensors last_hidden_state $tmp/dump.safetensors last_hidden_state"
expect "fixture: the fully padded row (mask all 0) is finite and the same at every position" python3 - $tmp/out.safetensors <<'PY'
import sys, numpy as np
sys.path.insert(0, "tests/ref")
import safetensors_np as s
y = s.load(sys.argv[1])["last_hidden_state"]
assert np.isfinite(y).all(), "not finite"
assert (y[2] == y[2][0]).all(), "positions differ"
PY

# rows are independent: one row alone (the rest of the call zero-filled) gives that row's values
python3 - $G/forward.safetensors $tmp <<'PY'
import sys
sys.path.insert(0, "tests/ref")
import safetensors_np as s
f = s.load(sys.argv[1])
s.save(sys.argv[2] + "/row3.safetensors", {"input_ids": f["input_ids"][3:4], "attention_mask": f["attention_mask"][3:4]})
s.save(sys.argv[2] + "/rows6.safetensors", {"input_ids": f["input_ids"][[0, 1, 2, 3, 1, 3]],
                                             "attention_mask": f["attention_mask"][[0, 1, 2, 3, 1, 3]]})
PY
expect "fixture: a file of 1 row (the call's other 3 zero-filled) gives that row of the 4-row run, bit for bit" bash -c "
  $BIN --weights $G/weights.safetensors --ids $tmp/row3.safetensors --out $tmp/row3_out.safetensors --quiet &&
  python3 -c \"
import sys; sys.path.insert(0, 'tests/ref'); import safetensors_np as s
a = s.load('$tmp/row3_out.safetensors')['last_hidden_state']; b = s.load('$tmp/out.safetensors')['last_hidden_state']
assert a.shape == (1, 300, 64) and (a[0] == b[3]).all()\""
expect "fixture: a file of 6 rows runs 2 calls and gives each row's values" bash -c "
  $BIN --weights $G/weights.safetensors --ids $tmp/rows6.safetensors --out $tmp/rows6_out.safetensors 2>$tmp/progress &&
  grep -q 'call 2 of 2 (rows 4-5)' $tmp/progress && python3 -c \"
import sys; sys.path.insert(0, 'tests/ref'); import safetensors_np as s
a = s.load('$tmp/rows6_out.safetensors')['last_hidden_state']; b = s.load('$tmp/out.safetensors')['last_hidden_state']
assert a.shape == (6, 300, 64) and all((a[i] == b[j]).all() for i, j in enumerate([0, 1, 2, 3, 1, 3]))\""

# ---- a second config from a config.json, against the numpy oracle ---------------------------------
ODD=build/tests/t5-odd
if python3 tests/ref/t5_ref.py make-case tests/data/t5-odd.json $tmp/odd 37 5 11; then
  expect "config.json (3 heads of 20, d_model 48, 16 buckets, 2 layers): 5 rows in calls of 2" $ODD \
    --weights $tmp/odd/weights.safetensors --ids $tmp/odd/ids.safetensors --out $tmp/odd/out.safetensors --quiet
  t $CMP --rel $REL --label "config.json: last_hidden_state vs the numpy oracle" $tmp/odd/out.safetensors \
    last_hidden_state $tmp/odd/ref.safetensors last_hidden_state
else
  echo "not ok - config.json: the oracle could not make the case"
  rc=1
fi

expect "./ditc.sh variant builds a T5 of one's own from a config.json (a network: its own command line)" bash -c "
  b=\$(./ditc.sh variant --model models/t5-v1.1.lua --config tests/data/t5-odd.json --name t5-test-odd --seq-len 37 \
    --batch 2 2>/dev/null | tail -n 1) && \$b --info | grep -q 'network t5-v1.1/t5-test-odd' &&
  \$b --weights $tmp/odd/weights.safetensors --ids $tmp/odd/ids.safetensors --out $tmp/odd/mine.safetensors --quiet &&
  $CMP --exact $tmp/odd/mine.safetensors last_hidden_state $tmp/odd/out.safetensors last_hidden_state"

# ---- refusals: one line naming the file and tensor, exit 1, no output -------------------------------
python3 - $G $tmp <<'PY'
import sys, numpy as np
sys.path.insert(0, "tests/ref")
import safetensors_np as s
G, tmp = sys.argv[1], sys.argv[2]
f = s.load(G + "/forward.safetensors")
ids, mask = f["input_ids"], f["attention_mask"]
def save(name, **t): s.save(tmp + "/" + name, t)
big = ids.copy(); big[1, 5] = 2176
save("id_range.safetensors", input_ids=big, attention_mask=mask)
neg = ids.copy(); neg[0, 0] = -1
save("id_neg.safetensors", input_ids=neg, attention_mask=mask)
m2 = mask.copy(); m2[3, 7] = 2
save("mask_range.safetensors", input_ids=ids, attention_mask=m2)
save("mask_float.safetensors", input_ids=ids, attention_mask=mask.astype(np.float32))
save("rows.safetensors", input_ids=ids, attention_mask=mask[:3])
save("no_mask.safetensors", input_ids=ids)
save("length.safetensors", input_ids=ids[:, :299], attention_mask=mask[:, :299])
save("zero_rows.safetensors", input_ids=ids[:0], attention_mask=mask[:0])
w = s.load(G + "/weights.safetensors")
w2 = dict(w); w2["encoder.embed_tokens.weight"] = w["shared.weight"]
s.save(tmp + "/tied.safetensors", w2)
w3 = dict(w); w3["encoder.embed_tokens.weight"] = w["shared.weight"][:100]
s.save(tmp + "/tied_bad.safetensors", w3)
w4 = dict(w); w4["shared.weight"] = w["shared.weight"][:2000]
s.save(tmp + "/small_vocab.safetensors", w4)
PY
refused() { # name, message (grep -E), args...: exit 1
  local name=$1 msg=$2
  shift 2
  refuses "$name" 1 "$msg" $tmp/o.safetensors "$BIN" "$@" --out $tmp/o.safetensors
}
W=(--weights $G/weights.safetensors)
refused "an id past the vocabulary: refused naming the tensor and element" \
  "id_range.safetensors: tensor 'input_ids' holds 2176 at element 305, outside \[0, 2175\]" "${W[@]}" --ids $tmp/id_range.safetensors
refused "a negative id: refused" "tensor 'input_ids' holds -1 at element 0" "${W[@]}" --ids $tmp/id_neg.safetensors
refused "a mask value 2: refused" "tensor 'attention_mask' holds 2 at element 907, outside \[0, 1\]" "${W[@]}" --ids $tmp/mask_range.safetensors
refused "a float mask: refused naming the dtype" "tensor 'attention_mask' has dtype F32, expected an integer tensor" \
  "${W[@]}" --ids $tmp/mask_float.safetensors
refused "ids and mask with different row counts: refused" "'attention_mask' has 3 rows, the other batched inputs 4" \
  "${W[@]}" --ids $tmp/rows.safetensors
refused "no attention_mask: refused naming it" "no_mask.safetensors: missing tensor 'attention_mask'" "${W[@]}" --ids $tmp/no_mask.safetensors
refused "299 tokens for a 300-token binary: refused naming the shape" "has shape \[4, 299\], expected \[4, 300\] with any number of rows" \
  "${W[@]}" --ids $tmp/length.safetensors
refused "zero rows: refused" "has shape \[0, 300\], expected" "${W[@]}" --ids $tmp/zero_rows.safetensors
refused "a checkpoint whose vocabulary is smaller than the binary's: refused naming the tensor" \
  "small_vocab.safetensors: tensor 'shared.weight' has shape \[2000, 64\], t5-v1.1/fixture expects \[2176, 64\]" \
  --weights $tmp/small_vocab.safetensors --ids $G/forward.safetensors
refused "a tied copy of shared.weight with another shape: refused" "tensor 'encoder.embed_tokens.weight' has shape \[100, 64\]" \
  --weights $tmp/tied_bad.safetensors --ids $G/forward.safetensors
expect "a checkpoint that stores the tied encoder.embed_tokens.weight too loads, with the same result" bash -c "
  $BIN --weights $tmp/tied.safetensors --ids $G/forward.safetensors --out $tmp/tied_out.safetensors &&
  $CMP --exact $tmp/tied_out.safetensors last_hidden_state $tmp/out.safetensors last_hidden_state"
exit $rc
