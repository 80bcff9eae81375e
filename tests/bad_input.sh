#!/usr/bin/env bash
# bad_input.sh: feeds the fixture binary one bad input per check (corrupt checkpoints, bad
# conditioning / noise / forward files, bad flags, an unwritable output) and checks the error
# contract of runtime/denoiser/main.c: exit status 1 (no crash, no hang), exactly one line on stderr that
# names the offending file and tensor (or the flag), and no output or temporary file left behind.
# Prints one "ok - ..." / "not ok - ...: details" line per check; exits 1 if any failed.
# Run from the repository root after `ninja`. Not here: numerical tests (tests/run.sh).
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT" || exit 1
BIN=$ROOT/bin/opensora-v1.2-fixture
DBG=$ROOT/bin/debug/opensora-v1.2-fixture
G=$ROOT/tests/golden/opensora-v1.2
W=$G/weights.safetensors
S=$G/sample_nopab.safetensors # holds y, mask (--cond) and z0 (--noise)
F=$G/forward.safetensors

for f in "$BIN" "$DBG"; do
  [ -x "$f" ] || { echo "not ok - setup: $f is missing (run ninja first)"; exit 1; }
done

T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
I=$T/in # the corrupt inputs
if ! python3 tests/make_bad.py "$G" "$I" 2>"$T/make.err"; then
  echo "not ok - setup: tests/make_bad.py failed: $(tr '\n' ' ' <"$T/make.err" | cut -c1-300)"
  exit 1
fi

passed=0
failed=0
n=0
C= # the current case's directory (cwd of the command); it must be empty afterwards
OUT= # the --out path of the current case

# ---- helpers --------------------------------------------------------------------------------

new_case() {
  n=$((n + 1))
  C=$T/case$n
  mkdir "$C"
  OUT=$C/out.safetensors
}

report() { # report WHAT PROBLEMS
  if [ -z "$2" ]; then
    echo "ok - $1"
    passed=$((passed + 1))
  else
    echo "not ok - $1: $2"
    failed=$((failed + 1))
  fi
}

# Runs the command in $C with a 60 s limit; stdout/stderr go to $T/stdout, $T/stderr; sets rc.
run_in_case() {
  { (cd "$C" && exec timeout -k 5 60 "$@") >"$T/stdout" 2>"$T/stderr"; } 2>/dev/null # no job notices
  rc=$?
}

# A line shortened to its first 100 and last 200 characters.
shorten() {
  local l=$1
  [ ${#l} -gt 320 ] && l="${l:0:100}[...]${l: -200}"
  printf '%s' "$l"
}

# The stderr of the last run, on one line, for details.
stderr_summary() {
  local lines first last
  lines=$(wc -l <"$T/stderr")
  first=$(shorten "$(head -n 1 "$T/stderr")")
  last=$(shorten "$(tail -n 1 "$T/stderr")")
  if [ "$lines" -le 1 ]; then
    printf 'stderr: "%s"' "$first"
  else
    printf 'stderr (%d lines): first "%s" ... last "%s"' "$lines" "$first" "$last"
  fi
}

# Problems with what the case left behind: $OUT, a temporary $OUT.*.tmp, anything in $C.
leftovers() {
  local p=""
  [ -e "$OUT" ] && p="$p; output file $OUT exists"
  compgen -G "$OUT*.tmp" >/dev/null && p="$p; a temporary $OUT.*.tmp left behind"
  local extra
  extra=$(cd "$C" && find . -mindepth 1 | head -n 3 | tr '\n' ' ')
  [ -z "$p" ] && [ -n "$extra" ] && p="; left in the run's directory: ${extra% }"
  printf '%s' "$p"
}

# bad WHAT [-e SUBSTRING]... -- COMMAND...
# Expects exit status 1, exactly one stderr line containing every SUBSTRING, nothing written.
bad() {
  local what=$1 subs=() p=""
  shift
  while [ "$1" = "-e" ]; do
    subs+=("$2")
    shift 2
  done
  [ "$1" = "--" ] && shift
  run_in_case "$@"
  if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then p="; timed out after 60 s (exit $rc)"
  elif [ "$rc" -ge 128 ]; then p="; killed by signal $((rc - 128)) (exit $rc)"
  elif [ "$rc" -ne 1 ]; then p="; exit status $rc, expected 1"
  fi
  local lines bytes firstbytes
  lines=$(wc -l <"$T/stderr")
  bytes=$(wc -c <"$T/stderr")
  firstbytes=$(head -n 1 "$T/stderr" | wc -c)
  if [ "$lines" -ne 1 ] || [ "$bytes" -ne "$firstbytes" ]; then
    p="$p; stderr has $lines lines ($bytes bytes), expected exactly one line"
  fi
  local s
  for s in "${subs[@]}"; do
    grep -qF -- "$s" "$T/stderr" || p="$p; stderr lacks: $s"
  done
  p="$p$(leftovers)"
  [ -n "$p" ] && p="${p#; } -- $(stderr_summary)"
  report "$what" "$p"
}

# good WHAT TENSOR SHAPE [PREFIX] -- COMMAND...: exit 0, $OUT holds TENSOR (F32, SHAPE as JSON)
# and, if given, a tensor whose name starts with PREFIX; no temporary file left.
good() {
  local what=$1 tensor=$2 shape=$3 prefix="" p=""
  shift 3
  [ "$1" != "--" ] && { prefix=$1; shift; }
  [ "$1" = "--" ] && shift
  run_in_case "$@"
  [ "$rc" -ne 0 ] && p="; exit status $rc, expected 0"
  if [ ! -f "$OUT" ]; then
    p="$p; no output file $OUT"
  elif ! python3 - "$OUT" "$tensor" "$shape" "$prefix" <<'EOF' 2>"$T/py.err"; then
import json, struct, sys
path, name, shape, prefix = sys.argv[1], sys.argv[2], json.loads(sys.argv[3]), sys.argv[4]
raw = open(path, "rb").read()
n = struct.unpack("<Q", raw[:8])[0]
header = json.loads(raw[8:8 + n])
assert not prefix or any(k.startswith(prefix) for k in header), "no tensor named " + prefix + "*"
e = header[name]
b, end = e["data_offsets"]
assert e["dtype"] == "F32" and e["shape"] == shape, e
count = 1
for d in shape:
    count *= d
assert end - b == 4 * count and 8 + n + end <= len(raw), e
EOF
    p="$p; $OUT does not hold $tensor $shape${prefix:+ and $prefix*}: $(tail -n 1 "$T/py.err" | cut -c1-200)"
  fi
  compgen -G "$OUT*.tmp" >/dev/null && p="$p; a temporary $OUT.*.tmp left behind"
  [ -n "$p" ] && p="${p#; } -- $(stderr_summary)"
  report "$what" "$p"
}

# ---- positive controls ----------------------------------------------------------------------

new_case
good "control: valid run (weights + cond + noise of sample_nopab) exits 0 and writes --out" \
  final "[1, 4, 5, 8, 12]" -- "$BIN" --weights "$W" --cond "$S" --noise "$S" --out "$OUT"
new_case
good "control: the debug binary accepts --dump (the counterpart of the release binary's refusal)" \
  out "[2, 8, 5, 8, 12]" inter. -- "$DBG" --weights "$W" --forward "$F" --call call0. --dump all --out "$OUT"

# ---- weights --------------------------------------------------------------------------------

# weights_case WHAT FILE [-e SUBSTRING]...: --weights FILE with valid cond and noise; the
# message must name FILE plus the substrings.
weights_case() {
  local what=$1 file=$2
  shift 2
  new_case
  bad "weights: $what" -e "$file" "$@" -- "$BIN" --weights "$file" --cond "$S" --noise "$S" --out "$OUT"
}
weights_case "missing file" "$I/nosuch.safetensors" -e "cannot open"
weights_case "file cut to 4 bytes" "$I/w_trunc4.safetensors" -e "4 bytes"
weights_case "file cut in the middle of the data section" "$I/w_trunc_data.safetensors" -e "data_offsets" -e "past the end"
weights_case "header length larger than the file" "$I/w_hdrlen.safetensors" -e "header length"
weights_case "malformed JSON header" "$I/w_badjson.safetensors" -e "JSON"
weights_case "JSON header is not an object" "$I/w_notobj.safetensors" -e "not an object"
weights_case "missing tensor rope.freqs" "$I/w_missing.safetensors" -e "'rope.freqs'" -e "missing"
weights_case "extra unknown tensor" "$I/w_extra.safetensors" -e "'extra.unknown.weight'"
weights_case "t_block.1.bias declared [575]" "$I/w_shape575.safetensors" -e "'t_block.1.bias'" -e "[575]" -e "[576]"
weights_case "t_block.1.bias reshaped [1, 576]" "$I/w_shape1x576.safetensors" -e "'t_block.1.bias'" -e "[1, 576]"
weights_case "t_block.1.bias stored as I64" "$I/w_dtype.safetensors" -e "'t_block.1.bias'" -e "I64"
weights_case "overlapping data_offsets" "$I/w_overlap.safetensors" -e "'rope.freqs'" -e "'fps_embedder.mlp.0.bias'" -e "overlap"
weights_case "data_offsets past the end of the file" "$I/w_pastend.safetensors" -e "'y_embedder.y_embedding'" -e "data_offsets"
weights_case "NaN inside a weight" "$I/w_nan.safetensors" -e "'spatial_blocks.1.mlp.fc1.weight'" -e "non-finite"
# The same file under a 480-character path (Linux allows 4095): the message must still name the tensor.
LP=$I/long
while [ ${#LP} -lt 461 ]; do
  len=$((461 - ${#LP}))
  [ "$len" -gt 200 ] && len=200
  LP=$LP/$(head -c "$len" /dev/zero | tr '\0' d)
done
LP=$LP/w_nan.safetensors
mkdir -p "${LP%/*}" && cp "$I/w_nan.safetensors" "$LP"
weights_case "NaN inside a weight, file under a ${#LP}-character path" "$LP" \
  -e "'spatial_blocks.1.mlp.fc1.weight'" -e "non-finite"

# ---- conditioning ---------------------------------------------------------------------------

cond_case() {
  local what=$1 file=$2
  shift 2
  new_case
  bad "cond: $what" -e "$file" "$@" -- "$BIN" --weights "$W" --cond "$file" --noise "$S" --out "$OUT"
}
cond_case "NaN in y" "$I/c_nan.safetensors" -e "'y'" -e "non-finite"
cond_case "Inf in y" "$I/c_inf.safetensors" -e "'y'" -e "non-finite"
cond_case "y with shape [1, 1, 11, 32]" "$I/c_yshape.safetensors" -e "'y'" -e "[1, 1, 11, 32]"
cond_case "mask missing" "$I/c_nomask.safetensors" -e "'mask'" -e "missing"
cond_case "mask holding a 2" "$I/c_mask2.safetensors" -e "'mask'" -e "0/1"
cond_case "mask row of zeros" "$I/c_maskzero.safetensors" -e "'mask'" -e "row 0"
cond_case "file missing" "$I/nosuch_cond.safetensors" -e "cannot open"

# ---- noise ----------------------------------------------------------------------------------

noise_case() {
  local what=$1 file=$2
  shift 2
  new_case
  bad "noise: $what" -e "$file" "$@" -- "$BIN" --weights "$W" --cond "$S" --noise "$file" --out "$OUT"
}
noise_case "z0 missing" "$I/n_noz0.safetensors" -e "'z0'" -e "missing"
noise_case "z0 with shape [1, 4, 5, 12, 8]" "$I/n_zshape.safetensors" -e "'z0'" -e "[1, 4, 5, 12, 8]"

# ---- forward fixture ------------------------------------------------------------------------

new_case
bad "forward: --call call9. (no such prefix in forward.safetensors)" -e "$F" -e "call9." -- \
  "$BIN" --weights "$W" --forward "$F" --call call9. --out "$OUT"
new_case
bad "forward: call0.timestep missing" -e "$I/f_notimestep.safetensors" -e "'call0.timestep'" -- \
  "$BIN" --weights "$W" --forward "$I/f_notimestep.safetensors" --call call0. --out "$OUT"

# ---- flags ----------------------------------------------------------------------------------

new_case
bad "flags: unknown flag --bogus" -e "--bogus" -- "$BIN" --weights "$W" --cond "$S" --bogus --out "$OUT"
new_case
bad "flags: --pab maybe" -e "--pab" -e "maybe" -- "$BIN" --weights "$W" --cond "$S" --pab maybe --out "$OUT"
new_case
bad "flags: --seed -3" -e "--seed" -e "-3" -- "$BIN" --weights "$W" --cond "$S" --seed -3 --out "$OUT"
new_case
bad "flags: --seed abc" -e "--seed" -e "abc" -- "$BIN" --weights "$W" --cond "$S" --seed abc --out "$OUT"
new_case
bad "flags: --noise together with --seed" -e "--noise" -e "--seed" -- \
  "$BIN" --weights "$W" --cond "$S" --noise "$S" --seed 1 --out "$OUT"
new_case
bad "flags: no --out" -e "--out" -- "$BIN" --weights "$W" --cond "$S" --noise "$S"
new_case
bad "flags: no --cond" -e "--cond" -- "$BIN" --weights "$W" --noise "$S" --out "$OUT"
new_case
bad "a stack size limit the CPU kernels do not fit in (ulimit -s 1024)" -e "stack size limit is 1024 KiB" \
  -e "ulimit -s" -- bash -c 'ulimit -s 1024 && exec "$@"' - "$BIN" --weights "$W" --cond "$S" --noise "$S" --out "$OUT"
new_case
bad "OpenMP thread stacks the CPU kernels do not fit in (OMP_STACKSIZE=512K)" -e "OMP_STACKSIZE" -e "512 KiB" -- \
  env OMP_STACKSIZE=512K "$BIN" --weights "$W" --cond "$S" --noise "$S" --out "$OUT"
new_case
bad "flags: --random-weights together with --out" -e "--random-weights" -e "--out" -- \
  "$BIN" --random-weights 1 --cond "$S" --out "$OUT"
new_case
bad "flags: --dump on the release binary" -e "--dump" -- \
  "$BIN" --weights "$W" --forward "$F" --call call0. --dump all --out "$OUT"
new_case
bad "flags: --threads 4294967297 (does not fit an int)" -e "--threads" -- \
  "$BIN" --weights "$W" --cond "$S" --noise "$S" --threads 4294967297 --quiet --out "$OUT"
new_case
bad "flags: --forward without --call" -e "--forward" -e "--call" -- "$BIN" --weights "$W" --forward "$F" --out "$OUT"
new_case
bad "flags: --out missing its value at the end of argv" -e "--out" -- \
  "$BIN" --weights "$W" --cond "$S" --noise "$S" --out

# ---- output ---------------------------------------------------------------------------------

new_case
OUT=$C/nosuch/out.safetensors
bad "output: --out into a directory that does not exist" -e "$OUT" -- \
  "$BIN" --weights "$W" --cond "$S" --noise "$S" --out "$OUT"
new_case
OUT=$C/nosuch/out.safetensors
bad "output: --out into a directory that does not exist, with --quiet" -e "$OUT" -- \
  "$BIN" --weights "$W" --cond "$S" --noise "$S" --quiet --out "$OUT"
new_case
OUT=$C/nosuch/out.safetensors
bad "output: --forward --out into a directory that does not exist" -e "$OUT" -- \
  "$BIN" --weights "$W" --forward "$F" --call call0. --out "$OUT"

# ---- Latte and Open-Sora-Plan: the same contract for the other families ------------------------

python3 - "$I" <<'PY' || echo "not ok - setup: corrupt Latte/Open-Sora-Plan inputs could not be made"
import sys; sys.path.insert(0, "tests/ref")
import numpy as np, safetensors_np as st
out = sys.argv[1]
for fam in ("latte", "opensora-plan-v1.1"):
    g = "tests/golden/" + fam
    w, s = st.load(g + "/weights.safetensors"), st.load(g + "/sample_nopab.safetensors")
    cond = {k: s[k] for k in ("prompt_embeds", "negative_prompt_embeds")}
    def save(name, d): st.save(f"{out}/{fam}-{name}.safetensors", d)
    save("w_missing", {k: v for k, v in w.items() if k != "transformer_blocks.0.attn2.to_k.weight"})
    save("w_shape", dict(w, **{"proj_out.bias": w["proj_out.bias"][:-1]}))
    bad = dict(w); bad["transformer_blocks.1.ff.net.2.weight"] = w["transformer_blocks.1.ff.net.2.weight"].copy()
    bad["transformer_blocks.1.ff.net.2.weight"][0, 3] = np.inf
    save("w_inf", bad)
    save("c_noneg", {"prompt_embeds": cond["prompt_embeds"]})
    nan = cond["prompt_embeds"].copy(); nan[0, 1, 2] = np.nan
    save("c_nan", {"prompt_embeds": nan, "negative_prompt_embeds": cond["negative_prompt_embeds"]})
    save("c_shape", {"prompt_embeds": cond["prompt_embeds"][:, :-1], "negative_prompt_embeds": cond["negative_prompt_embeds"]})
    save("c_mask2", dict(cond, mask=np.full((1, cond["prompt_embeds"].shape[1]), 2, np.int64)))
PY
for fam in latte opensora-plan-v1.1; do
  FB=$ROOT/bin/$fam-fixture
  FG=$ROOT/tests/golden/$fam
  fam_case() { # WHAT WEIGHTS COND [-e SUBSTRING]...
    local what=$1 w=$2 c=$3
    shift 3
    new_case
    bad "$fam: $what" "$@" -- "$FB" --weights "$w" --cond "$c" --noise "$FG/sample_nopab.safetensors" --out "$OUT"
  }
  fam_case "missing tensor" "$I/$fam-w_missing.safetensors" "$FG/sample_nopab.safetensors" \
    -e "$I/$fam-w_missing.safetensors" -e "'transformer_blocks.0.attn2.to_k.weight'" -e "missing"
  fam_case "proj_out.bias with the wrong shape" "$I/$fam-w_shape.safetensors" "$FG/sample_nopab.safetensors" \
    -e "'proj_out.bias'" -e "shape"
  fam_case "Inf inside a weight" "$I/$fam-w_inf.safetensors" "$FG/sample_nopab.safetensors" \
    -e "'transformer_blocks.1.ff.net.2.weight'" -e "non-finite"
  fam_case "an Open-Sora checkpoint" "$W" "$FG/sample_nopab.safetensors" -e "$W" -e "is not part of $fam/fixture"
  fam_case "truncated checkpoint" "$I/w_trunc_data.safetensors" "$FG/sample_nopab.safetensors" -e "past the end"
  fam_case "negative_prompt_embeds missing" "$FG/weights.safetensors" "$I/$fam-c_noneg.safetensors" \
    -e "$I/$fam-c_noneg.safetensors" -e "'negative_prompt_embeds'" -e "missing"
  fam_case "NaN in prompt_embeds" "$FG/weights.safetensors" "$I/$fam-c_nan.safetensors" -e "'prompt_embeds'" -e "non-finite"
  fam_case "prompt_embeds one token short" "$FG/weights.safetensors" "$I/$fam-c_shape.safetensors" \
    -e "'prompt_embeds'" -e "shape"
  fam_case "mask holding a 2" "$FG/weights.safetensors" "$I/$fam-c_mask2.safetensors" -e "'mask'" -e "0/1"
  new_case
  bad "$fam: forward fixture without its text (--call call7.)" -e "$FG/forward.safetensors" -e "call7." -- \
    "$FB" --weights "$FG/weights.safetensors" --forward "$FG/forward.safetensors" --call call7. --out "$OUT"
done

# ---- generator ------------------------------------------------------------------------------

new_case
OUT=$C/gen
bad "generator: --variant nosuch" -e "models/opensora-v1.2.lua:" -e "nosuch" -- \
  env -C "$ROOT" lua5.4 gen/main.lua --model models/opensora-v1.2.lua --variant nosuch --out "$OUT"

[ "$failed" -eq 0 ]
