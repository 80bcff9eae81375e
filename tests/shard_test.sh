#!/usr/bin/env bash
# tests/shard_test.sh: sharded checkpoints (--weights as a model.safetensors.index.json or a folder;
# runtime/core/checkpoint.c). The Open-Sora fixture's weights and the toy network's are split into
# shards at test time (tests/make_shards.py); a sharded load must give bit-identical results to the
# single file (a forward call of the Open-Sora fixture, a sampling run, the toy network), in
# transformers' layout, through the index, in the Hugging Face cache's layout (symlinks into
# blobs/) and as a folder holding model.safetensors. Then every refusal: exit status 1, one
# printable stderr line naming the file and the tensor or field, no output file.
# Prints one "ok - ..." / "not ok - ..." line per check; exits 1 if any failed.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
BIN=bin/opensora-v1.2-fixture
DBG=bin/debug/opensora-v1.2-fixture
NET=build/tests/toy-mlp-fixture
CMP=build/tests/stcmp
G=tests/golden/opensora-v1.2
for f in "$BIN" "$DBG" "$NET" "$CMP"; do
  [ -x "$f" ] || { echo "not ok - setup: $f is missing (run ninja test)"; exit 1; }
done
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
S=$T/sh
if ! python3 tests/make_shards.py $G/weights.safetensors "$S" 2>"$T/make.err"; then
  echo "not ok - setup: tests/make_shards.py failed: $(tr '\n' ' ' <"$T/make.err" | cut -c1-300)"
  exit 1
fi

# ---- a sharded load is the single file's load, bit for bit -----------------------------------

FWD=(--forward $G/forward.safetensors --call call1.)
expect "forward call1 with the single file" "$DBG" --weights $G/weights.safetensors "${FWD[@]}" --out "$T/ref.safetensors"
same() { # WHAT WEIGHTS: the forward call through WEIGHTS equals the single file's, every byte of the output
  local what=$1 w=$2
  rm -f "$T/o.safetensors"
  if ! "$DBG" --weights "$w" "${FWD[@]}" --out "$T/o.safetensors" 2>"$T/err"; then
    echo "not ok - $what: $(head -c 300 "$T/err")"
    rc=1
    return
  fi
  t $CMP --exact --label "$what: forward call1 out == the single file's" "$T/o.safetensors" out "$T/ref.safetensors" out
  expect "$what: the output file is byte-identical to the single file's" cmp "$T/o.safetensors" "$T/ref.safetensors"
}
same "3 shards, --weights FOLDER" "$S/good"
same "3 shards, --weights FOLDER/ (trailing slash)" "$S/good/"
same "3 shards, --weights INDEX" "$S/good/model.safetensors.index.json"
same "3 shards in the Hugging Face cache (snapshots/REV/* -> ../../blobs/*)" "$S/hf/models--o--r/snapshots/0123abcd"
same "a shard reached through a symbolic link inside its folder" "$S/inner_link"
same "a folder holding model.safetensors" "$S/single"
mkdir -p "$T/two"
python3 tests/make_shards.py $G/weights.safetensors "$T/two" good=2 2>/dev/null
same "2 shards" "$T/two/good"

# a whole sampling run (PAB on), sharded vs single
RUN=(--cond $G/sample_nopab.safetensors --noise $G/sample_nopab.safetensors --quiet --save-steps)
expect "sampling with the single file" "$BIN" --weights $G/weights.safetensors "${RUN[@]}" --out "$T/s_ref.safetensors"
expect "sampling with 3 shards" "$BIN" --weights "$S/good" "${RUN[@]}" --out "$T/s_sh.safetensors"
t $CMP --exact --label "sampling: every step's latent, 3 shards == the single file" "$T/s_sh.safetensors" latents \
  "$T/s_ref.safetensors" latents

# the toy network (runtime/network/main.c), its weights in 2 shards
N=$T/net
mkdir -p "$N"
if python3 tests/ref/toy_mlp_ref.py make "$N" 24 16 40 6 7 >/dev/null &&
  python3 tests/make_shards.py "$N/weights.safetensors" "$N/sh" good=2 2>"$T/make.err"; then
  expect "network: runs with the single file" "$NET" --weights "$N/weights.safetensors" --in "$N/in.safetensors" \
    --out "$N/ref.safetensors"
  expect "network: runs with 2 shards" "$NET" --weights "$N/sh/good" --in "$N/in.safetensors" --out "$N/sh.safetensors"
  t $CMP --exact --label "network: y with 2 shards == the single file" "$N/sh.safetensors" y "$N/ref.safetensors" y
else
  echo "not ok - setup: the toy network's shards: $(tr '\n' ' ' <"$T/make.err" | cut -c1-300)"
  rc=1
fi

# ---- refusals -----------------------------------------------------------------------------------

# bad WHAT [-e SUBSTRING]... -- WEIGHTS [BINARY]: exit status 1, one printable stderr line holding
# every SUBSTRING, no output file.
bad() {
  local what=$1 e=() args
  shift
  while [ "$1" = "-e" ]; do
    e+=(-e "$2")
    shift 2
  done
  shift
  local w=$1 bin=${2:-$BIN}
  if [ "$bin" = "$NET" ]; then args=(--in "$N/in.safetensors"); else args=(--cond $G/sample_nopab.safetensors --seed 1); fi
  one_line_error "$what" "$T/out.safetensors" "${e[@]}" -- "$bin" --weights "$w" "${args[@]}" --out "$T/out.safetensors" || rc=1
}
I=model.safetensors.index.json
S1=model-00001-of-00003.safetensors
S2=model-00002-of-00003.safetensors
S3=model-00003-of-00003.safetensors
X=final_layer.linear.bias        # the first tensor of shard 1
L=y_embedder.y_proj.fc2.weight   # the last tensor of shard 3

bad "a tensor in two shards" -e "$S/two_shards/$I: tensor '$X' is in two shards, $S1 and $S2" -- "$S/two_shards"
bad "the index names another shard than the one holding the tensor" \
  -e "$S/wrong_shard/$I: weight_map['$X'] names the shard $S2, but the tensor is in $S1" -- "$S/wrong_shard"
bad "a tensor of a shard the index does not list" \
  -e "$S/unlisted/$I: weight_map lacks tensor '$X', which the shard $S1 holds" -- "$S/unlisted"
bad "the index lists a tensor its shard does not hold" \
  -e "$S/not_held/$I: weight_map['$X'] names the shard $S1, which does not hold it" -- "$S/not_held"
bad "a shard missing" -e "$S/missing_shard/$I: weight_map[" -e "names the shard '$S3', which does not exist" -- \
  "$S/missing_shard"
bad "an index naming ../FILE" -e "$S/dotdot/$I: weight_map['$X'] names '../good/$S1', not a file name in the index's folder" -- \
  "$S/dotdot"
bad "an index naming an absolute path" -e "$S/absolute/$I: weight_map['$X'] names '/" -e "not a file name in the index's folder" -- \
  "$S/absolute"
bad "a shard that is a symbolic link out of the folder" -e "$S/link_out/$I: weight_map['$X'] names the shard '$S1', a symbolic link to" \
  -e "outside the folder" -- "$S/link_out"
bad "a shard name with an ESC: printed escaped" -e "$S/ctrl_name/$I: weight_map['$X'] names 'a\\x1b[2J.safetensors', not a plain file name" -- \
  "$S/ctrl_name"
bad "a shard that is a directory" -e "$S/dir_shard/$I: weight_map[" -e "'$S2', which is a directory, not a safetensors file" -- \
  "$S/dir_shard"
bad "a shard that is a FIFO (no hang)" -e "$S/fifo_shard/$I: weight_map[" -e "'$S2', which is a FIFO, not a safetensors file" -- \
  "$S/fifo_shard"
bad "a duplicate key in the index" -e "$S/dup_key/$I: malformed JSON at byte" -e "duplicate key '$X'" -- "$S/dup_key/$I"
bad "an index over 64 MiB" -e "$S/huge/$I: an index of 68157440 bytes, more than the limit of 64 MiB" -- "$S/huge"
bad "a weight_map that is not an object" -e "$S/map_not_object/$I: 'weight_map' is not an object" -- "$S/map_not_object"
bad "an empty weight_map" -e "$S/map_empty/$I: 'weight_map' is empty" -- "$S/map_empty"
bad "a folder with both model.safetensors and an index" -e "$S/both: holds both $I and model.safetensors" -- "$S/both"
bad "a folder without a checkpoint" -e "$S/empty: a folder without $I or model.safetensors" -- "$S/empty"
bad "sharded: a tensor the manifest lacks names its shard" \
  -e "$S/manifest_extra/$S3: tensor 'extra.weight' is not part of opensora-v1.2/fixture" -- "$S/manifest_extra"
bad "sharded: a manifest tensor in no shard names the index" \
  -e "$S/manifest_missing/$I: missing tensor '$L' (opensora-v1.2/fixture needs 89 tensors)" -- "$S/manifest_missing"
bad "sharded: a wrong shape names its shard" -e "$S/bad_shape/$S3: tensor '$L' has shape [96, 96, 1]" -- "$S/bad_shape"
bad "sharded: a NaN names its shard and the element" -e "$S/nan/$S3: tensor '$L' holds a non-finite value (nan) at element 1" -- \
  "$S/nan"
bad "network: a tensor in two shards" -e "$N/sh/two_shards/$I: tensor '" -e "is in two shards" -- "$N/sh/two_shards" "$NET"

# PyTorch pickles: one line with the supported format and the command that converts
conv="ditc reads safetensors only: convert it with python3 -c 'import"
bad "a folder holding a sharded pytorch_model*.bin" -e "$S/pickle_folder: a PyTorch pickle checkpoint (pytorch_model*.bin)" \
  -e "$conv" -e "glob.glob(\"$S/pickle_folder/pytorch_model*.bin\")" -- "$S/pickle_folder"
bad "pytorch_model.bin.index.json" -e "$S/pickle_folder: a PyTorch pickle checkpoint (pytorch_model*.bin)" -e "$conv" -- \
  "$S/pickle_folder/pytorch_model.bin.index.json"
bad "pytorch_model.bin (a protocol-2 pickle)" -e "$S/pickles/pytorch_model.bin: a PyTorch pickle checkpoint (torch.save)" \
  -e "$conv" -e "torch.load(\"$S/pickles/pytorch_model.bin\"" -- "$S/pickles/pytorch_model.bin"
bad "a file starting with the zip magic PK\\3\\4" -e "$S/pickles/zip.safetensors: a PyTorch pickle checkpoint" -e "$conv" -- \
  "$S/pickles/zip.safetensors"
bad "a file starting with a pickle protocol byte" -e "$S/pickles/proto.safetensors: a PyTorch pickle checkpoint" -e "$conv" -- \
  "$S/pickles/proto.safetensors"
bad "an index naming a .bin shard" -e "$S/bin_shards/weights-1.bin: a PyTorch pickle checkpoint" -e "$conv" -- "$S/bin_shards"
bad "network: a pytorch_model.bin" -e "$S/pickles/pytorch_model.bin: a PyTorch pickle checkpoint" -- \
  "$S/pickles/pytorch_model.bin" "$NET"

# an output may not replace a shard (or the index) of --weights
cp -r "$S/good" "$T/keep"
for f in $S2 $I; do
  rm -f "$T/stderr"
  "$BIN" --weights "$T/keep" --cond $G/sample_nopab.safetensors --seed 1 --out "$T/keep/$f" 2>"$T/stderr"
  code=$?
  if [ $code -eq 1 ] && grep -qF "is the same file as --weights $T/keep/$f" "$T/stderr" && cmp -s "$T/keep/$f" "$S/good/$f"; then
    echo "ok - --out naming $f of --weights FOLDER: refused, the file intact"
  else
    echo "not ok - --out naming $f of --weights FOLDER: status $code: $(head -c 300 "$T/stderr")"
    rc=1
  fi
done
exit $rc
