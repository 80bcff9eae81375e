#!/usr/bin/env bash
# tests/network_test.sh: a network that is not a denoiser (the toy of tests/models/toy-mlp.lua:
# two linears and an RMSNorm, one phase, io named x and y) goes through the same generator,
# planner and emitter as the DiTs and runs in a binary of runtime/network/main.c; checked
# against the numpy oracle tests/ref/toy_mlp_ref.py, then its command line's refusals.
cd "$(dirname "$0")/.."
. tests/lib.sh
CMP=build/tests/stcmp
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
BIN=build/tests/toy-mlp-fixture

# Tolerance: the oracle is float64; the binary computes in fp32 over widths <= 65, so its
# rounding stays near 1e-6 relative; 1e-5 of max|ref| leaves a factor of ten.
REL=1e-5
# name, binary, Din Dout hidden rows
check_variant() {
  local name=$1 bin=$2 din=$3 dout=$4 hidden=$5 rows=$6
  local d=$tmp/$name
  mkdir -p "$d"
  python3 tests/ref/toy_mlp_ref.py make "$d" "$din" "$dout" "$hidden" "$rows" 7 || { echo "not ok - $name: oracle failed"; rc=1; return; }
  expect "$name: the binary runs (--weights, --in, --out)" "$bin" --weights "$d/weights.safetensors" --in "$d/in.safetensors" \
    --out "$d/out.safetensors"
  t $CMP --rel $REL --label "$name: y vs the numpy oracle" "$d/out.safetensors" y "$d/ref.safetensors" y
}
check_variant fixture $BIN 24 16 40 6
check_variant wide build/tests/toy-mlp-wide 33 65 7 1

# the debug build's intermediates by name
d=$tmp/fixture
expect "fixture: --dump all in the debug build" build/tests/toy-mlp-fixture-debug --weights $d/weights.safetensors \
  --in $d/in.safetensors --out $d/dump.safetensors --dump all
for n in fc1 fc2; do t $CMP --rel $REL --label "fixture: intermediate $n vs the oracle" $d/dump.safetensors $n \
  $d/ref.safetensors $n; done
expect "fixture: --dump in a build without dumps fails, no output" bash -c "! $BIN --weights $d/weights.safetensors \
  --in $d/in.safetensors --out $d/nodump.safetensors --dump fc1 2>$d/err && grep -q 'captured nothing' $d/err \
  && [ ! -e $d/nodump.safetensors ]"

# state that persists across calls: one row a call, a running sum held in a state buffer
python3 - $tmp <<'PY'
import sys, numpy as np
sys.path.insert(0, "tests/ref")
import safetensors_np as s
s.save(sys.argv[1] + "/scan_in.safetensors", {"x": np.arange(20, dtype=np.float32).reshape(4, 5)})
s.save(sys.argv[1] + "/empty.safetensors", {})
PY
expect "a chunk phase with persistent state: 4 rows in 4 calls give the running sums" bash -c "
  build/tests/toy-scan --weights $tmp/empty.safetensors --in $tmp/scan_in.safetensors --out $tmp/scan_out.safetensors \
    2>$tmp/scan.err && grep -q 'call 4 of 4' $tmp/scan.err && python3 -c \"
import sys; sys.path.insert(0, 'tests/ref'); import safetensors_np as s, numpy as np
y = s.load('$tmp/scan_out.safetensors')['y']
assert (y == np.cumsum(np.arange(20, dtype=np.float32).reshape(4, 5), axis=0)).all(), y\""

# --info and --help come from the io table
expect "--info lists the phase and the io by name and shape" bash -c "$BIN --info | grep -q 'phase: forward' \
  && $BIN --info | grep -q 'input  x .*F32 \[6, 24\] (R, Din)' && $BIN --info | grep -q 'output y .*F32 \[6, 16\]'"

# refusals: one line naming the file and tensor, non-zero exit, no output
refused() { # name, expected message (grep -E), args...
  local name=$1 msg=$2
  shift 2
  refuses "$name" "" "$msg" $tmp/o.safetensors "$BIN" "$@"
}
python3 - "$d" "$tmp" <<'PY'
import sys, numpy as np
sys.path.insert(0, "tests/ref")
import safetensors_np as s
d, tmp = sys.argv[1], sys.argv[2]
x = s.load(d + "/in.safetensors")["x"]
s.save(tmp + "/wrong_shape.safetensors", {"x": np.zeros((6, 23), np.float32)})
s.save(tmp + "/wrong_name.safetensors", {"X": x})
s.save(tmp + "/int_x.safetensors", {"x": x.astype(np.int64)})
bad = x.copy(); bad[2, 3] = np.nan
s.save(tmp + "/nan_x.safetensors", {"x": bad})
PY
W=(--weights $d/weights.safetensors --out $tmp/o.safetensors)
python3 - "$d" "$tmp" <<'PY'
import sys, numpy as np
sys.path.insert(0, "tests/ref")
import safetensors_np as s
w = s.load(sys.argv[1] + "/weights.safetensors")
w["fc2.weight"] = np.abs(w["fc2.weight"]) * np.float32(1e38)  # finite weights and bias whose sums overflow fp32
w["fc2.bias"] = np.full_like(w["fc2.bias"], 3e38)
s.save(sys.argv[2] + "/overflow.safetensors", w)
PY
refused "an output that overflows to Inf/NaN: refused naming the output, row and element" \
  "output 'y' holds (-?inf|-?nan) at row 0, element [0-9]+ .*--allow-nonfinite" --weights $tmp/overflow.safetensors \
  --in $d/in.safetensors --out $tmp/o.safetensors
expect "--allow-nonfinite writes it anyway" $BIN --weights $tmp/overflow.safetensors --in $d/in.safetensors \
  --out $tmp/o.safetensors --allow-nonfinite
refused "--in with x of the wrong shape: refused naming the tensor" "wrong_shape.safetensors: tensor 'x' has shape \[6, 23\], expected \[6, 24\]" "${W[@]}" --in $tmp/wrong_shape.safetensors
refused "--in without x: refused naming the missing tensor" "wrong_name.safetensors: missing tensor 'x'" "${W[@]}" --in $tmp/wrong_name.safetensors
refused "--in with an integer x: refused naming the dtype" "tensor 'x' has dtype I64" "${W[@]}" --in $tmp/int_x.safetensors
refused "--in with a NaN: refused naming the element" "tensor 'x' holds a non-finite value .* at element 51" "${W[@]}" --in $tmp/nan_x.safetensors
refused "--weights of another network: refused naming the tensor" "has shape|missing tensor|not part of" --weights $tmp/wide/weights.safetensors --in $d/in.safetensors --out $tmp/o.safetensors
refused "--out naming the --in file: refused" "--out.*--in|--in.*--out" --weights $d/weights.safetensors --in $d/in.safetensors --out $d/in.safetensors
refused "no --in: usage error" "--in FILE is required" --weights $d/weights.safetensors --out $tmp/o.safetensors
refused "an unknown flag: usage error" "unknown argument --steps" --steps 3
refused "--threads 0: usage error" "--threads takes an integer" --threads 0 --weights $d/weights.safetensors
exit $rc
