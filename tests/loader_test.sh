#!/usr/bin/env bash
# loader_test.sh: the loaders' reliability checks (issue 9): build/tests/loader_test (model.c's
# loaders on the tiny variant, ASan+UBSan: unaligned data, F64 beyond the float range, a file
# truncated while mapped, names with control bytes), the fuzz targets of tests/fuzz/ replayed
# once over their committed seed corpus (gcc, ASan+UBSan; `ninja fuzz` runs them under
# libFuzzer), and the fixture binary on corrupt inputs from tests/make_bad.py: exit status 1 and
# one printable stderr line naming the file, the tensor and the element.
# Prints one "ok - ..." / "not ok - ..." line per check; exits 1 if any failed. Run from the
# repository root after `ninja test`'s dependencies are built. Not here: bad_input.sh's cases.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
BIN=bin/opensora-v1.2-fixture
G=tests/golden/opensora-v1.2
W=$G/weights.safetensors
S=$G/sample_nopab.safetensors
F=$G/forward.safetensors

for f in "$BIN" build/tests/loader_test build/tests/fuzz_replay_json build/tests/fuzz_replay_st build/tests/fuzz_replay_loader \
  build/tests/fuzz_replay_index; do
  [ -x "$f" ] || { echo "not ok - setup: $f is missing (run ninja test)"; exit 1; }
done
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT
I=$T/in
if ! python3 tests/make_bad.py "$G" "$I" 2>"$T/make.err"; then
  echo "not ok - setup: tests/make_bad.py failed: $(tr '\n' ' ' <"$T/make.err" | cut -c1-300)"
  exit 1
fi

# ---- the loaders on the tiny variant, and the fuzz targets on their seeds --------------------

t build/tests/loader_test tests/fuzz/corpus/loader
for target in json st loader index; do
  expect "fuzz replay (ASan+UBSan): $target target over tests/fuzz/corpus/$target" \
    "build/tests/fuzz_replay_$target" "tests/fuzz/corpus/$target"
done

# ---- the fixture binary ---------------------------------------------------------------------

# bad WHAT [-e SUBSTRING]... -- COMMAND...: exit status 1, exactly one stderr line, printable
# ASCII only, holding every SUBSTRING; no output file.
bad() {
  local what=$1
  shift
  one_line_error "$what" "$T/out.safetensors" "$@" --out "$T/out.safetensors"
}

t bad "fixture: F64 1e39 in cond y is rejected after narrowing (file, 'y', element 100)" \
  -e "$I/c_f64big.safetensors" -e "tensor 'y'" -e "element 100" -e "beyond the float range" -- \
  "$BIN" --weights "$W" --cond "$I/c_f64big.safetensors" --noise "$S"
t bad "fixture: F64 -1e39 in noise z0 is rejected after narrowing (file, 'z0', element 7)" \
  -e "$I/n_f64big.safetensors" -e "tensor 'z0'" -e "element 7" -e "beyond the float range" -- \
  "$BIN" --weights "$W" --cond "$S" --noise "$I/n_f64big.safetensors"
t bad "fixture: F64 1e39 as a forward timestep is rejected (file, 'call0.timestep', element 1)" \
  -e "$I/f_tbig.safetensors" -e "tensor 'call0.timestep'" -e "element 1" -- \
  "$BIN" --weights "$W" --forward "$I/f_tbig.safetensors" --call call0.
t bad "fixture: a weight named with ESC, DEL and U+009B is printed escaped, on one line" \
  -e "$I/w_ctrlname.safetensors" -e "tensor 'extra\\x1b[2J\\x7f\\xc2\\x9b.weight' is not part of" -- \
  "$BIN" --weights "$I/w_ctrlname.safetensors" --cond "$S" --noise "$S"
t bad "fixture: a --call prefix with an ESC is printed escaped" -e "'call0\\x1b[0m.x'" -- \
  "$BIN" --weights "$W" --forward "$F" --call "$(printf 'call0\033[0m.')"

exit $rc
