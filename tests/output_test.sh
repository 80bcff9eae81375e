#!/usr/bin/env bash
# tests/output_test.sh: the output contract of a ditc binary (runtime/core/outfile.c) and its command
# line (runtime/denoiser/main.c): an output that is an input, a device node, FIFO or symlink is refused
# before the run and left as it was; the temporary file is unique and never follows a planted
# name; an empty path, a file the user may not replace and a full disk fail at start-up; a latent
# that turns NaN/Inf fails naming the step (unless --allow-nonfinite); outputs record how they
# were made; repeated flags, a flag taken as a value, out-of-range numbers and meaningless
# combinations are errors; --help lists this binary's own inputs and every flag. Prints ok / not
# ok lines. Run from the repository root after `ninja`. Not here: corrupt input files
# (tests/bad_input.sh).
set -u
cd "$(dirname "$0")/.." || exit 1
ROOT=$(pwd)
BIN=$ROOT/bin/opensora-v1.2-fixture
G=$ROOT/tests/golden/opensora-v1.2
T=$(mktemp -d) || exit 1
trap 'umount "$T/small" 2>/dev/null; rm -rf "$T"' EXIT
. tests/lib.sh
cp "$G/weights.safetensors" "$T/w.safetensors"
cp "$G/sample_nopab.safetensors" "$T/c.safetensors" # y, mask (--cond) and z0 (--noise)
ARGS=(--weights "$T/w.safetensors" --cond "$T/c.safetensors" --seed 1 --quiet)

# refused NAME SUBSTRING CMD...: exit 1, one stderr line holding SUBSTRING, within 20 s
refused() {
  local name=$1 sub=$2
  shift 2
  local code lines
  timeout -k 2 20 "$@" >"$T/so" 2>"$T/se"
  code=$?
  lines=$(wc -l <"$T/se")
  if [ $code -eq 1 ] && [ "$lines" -eq 1 ] && grep -qF -- "$sub" "$T/se"; then echo "ok - $name"; else
    echo "not ok - $name: exit $code, $lines stderr lines, wanted '$sub': $(head -c 300 "$T/se" | tr '\n' ' ')"
    rc=1 # the suite's status (tests/lib.sh)
  fi
}
sum() { sha256sum "$1" | cut -d' ' -f1; }
no_tmp() { ! compgen -G "$1*.tmp" >/dev/null; }

# ---- 1. an output that is an input --------------------------------------------------------------
before=$(sum "$T/w.safetensors")
for spec in "--weights:w" "--cond:c"; do
  flag=${spec%%:*} f=${spec##*:}
  refused "--out is the $flag file: refused naming both flags" "is the same file as $flag" \
    "$BIN" "${ARGS[@]}" --out "$T/$f.safetensors"
done
(cd "$T" && refused "--out ./w.safetensors while --weights is w.safetensors" "same file as --weights" \
  "$BIN" --weights w.safetensors --cond c.safetensors --quiet --out ./w.safetensors)
ln "$T/w.safetensors" "$T/hard.safetensors"
refused "--out is a hard link of --weights" "same file as --weights" "$BIN" "${ARGS[@]}" --out "$T/hard.safetensors"
cp "$T/c.safetensors" "$T/n.safetensors"
refused "--out is the --noise file" "same file as --noise" \
  "$BIN" --weights "$T/w.safetensors" --cond "$T/c.safetensors" --noise "$T/n.safetensors" --out "$T/n.safetensors"
cp "$G/forward.safetensors" "$T/f.safetensors"
refused "--out is the --forward file" "same file as --forward" \
  "$BIN" --weights "$T/w.safetensors" --forward "$T/f.safetensors" --call call0. --out "$T/f.safetensors"
expect "every input is unchanged after those refusals" test "$(sum "$T/w.safetensors")" = "$before" -a \
  "$(sum "$T/c.safetensors")" = "$(sum "$G/sample_nopab.safetensors")" -a \
  "$(sum "$T/f.safetensors")" = "$(sum "$G/forward.safetensors")"

# ---- 2. anything but a regular file at the output path --------------------------------------------
mkfifo "$T/fifo"
refused "--out a FIFO: refused, no hang" "is a FIFO" "$BIN" "${ARGS[@]}" --out "$T/fifo"
expect "the FIFO is still a FIFO" test -p "$T/fifo"
echo victim >"$T/victim"
ln -s "$T/victim" "$T/link"
refused "--out a symlink: refused" "is a symbolic link" "$BIN" "${ARGS[@]}" --out "$T/link"
expect "the symlink and its target are unchanged" test -L "$T/link" -a "$(cat "$T/victim")" = victim
if mknod "$T/null" c 1 3 2>/dev/null; then
  refused "--out a character device: refused" "is a character device" "$BIN" "${ARGS[@]}" --out "$T/null"
  expect "the device node is still a device node" test -c "$T/null"
else
  echo "# skipped: --out a device node (mknod needs root)"
fi
refused "--out a directory: refused" "is a directory" "$BIN" "${ARGS[@]}" --out "$T"

# ---- 3. the temporary file ---------------------------------------------------------------------
O=$T/o3.safetensors
ln -s "$T/victim" "$O.tmp" # planted where the old fixed name was
echo stale >"$O.abc123.tmp" # left by a killed run
expect "a planted OUT.tmp symlink and a stale temporary file do not stop a run" "$BIN" "${ARGS[@]}" --out "$O"
expect "the planted symlink's target is unchanged" test "$(cat "$T/victim")" = victim
expect "the run left no temporary file of its own" test "$(compgen -G "$O*.tmp" | wc -l)" = 2
rm -f "$O.tmp" "$O.abc123.tmp"
"$BIN" "${ARGS[@]}" --out "$T/s1.safetensors"
"$BIN" --weights "$T/w.safetensors" --cond "$T/c.safetensors" --seed 2 --quiet --out "$T/s2.safetensors"
"$BIN" "${ARGS[@]}" --out "$T/same.safetensors" &
p1=$!
"$BIN" --weights "$T/w.safetensors" --cond "$T/c.safetensors" --seed 2 --quiet --out "$T/same.safetensors" &
p2=$!
wait $p1
r1=$?
wait $p2
r2=$?
expect "two runs to one --out both succeed and leave one whole result" bash -c "[ $r1 = 0 ] && [ $r2 = 0 ] && \
  { cmp -s '$T/same.safetensors' '$T/s1.safetensors' || cmp -s '$T/same.safetensors' '$T/s2.safetensors'; }"
expect "no temporary file is left after two concurrent runs" no_tmp "$T/same.safetensors"
expect "the temporary file is created O_EXCL|O_NOFOLLOW and fsynced, then renamed (strace)" bash -c "
  command -v strace >/dev/null || { echo 'strace missing'; exit 0; }
  strace -f -e trace=openat,fsync,rename -o '$T/trace' '$BIN' ${ARGS[*]} --out '$T/tr.safetensors' &&
  grep -q 'tr.safetensors.[a-z0-9]\{6\}.tmp\", O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW' '$T/trace' &&
  grep -q 'fsync' '$T/trace' && grep -q 'rename(\".*tr.safetensors.[a-z0-9]\{6\}.tmp\"' '$T/trace'"

# ---- 4. failures that must come before the run, not after it -----------------------------------
refused "--out '': refused at start-up" "empty path" "$BIN" "${ARGS[@]}" --out ""
mkdir -m 1777 "$T/sticky"
echo root-owned >"$T/sticky/out.safetensors"
chmod 755 "$T"
if command -v setpriv >/dev/null && [ "$(id -u)" = 0 ]; then
  start=$(date +%s)
  refused "an output in a sticky folder that belongs to another user: refused at start-up" "sticky folder" \
    setpriv --reuid=65534 --regid=65534 --clear-groups "$BIN" --weights "$T/w.safetensors" \
    --cond "$T/c.safetensors" --out "$T/sticky/out.safetensors"
  expect "... before any step ran (no progress line) and the file is untouched" bash -c \
    "! grep -q '^step' '$T/se' && [ \"\$(cat '$T/sticky/out.safetensors')\" = root-owned ]"
else
  echo "# skipped: the sticky-folder check needs root and setpriv"
fi
mkdir "$T/small"
if mount -t tmpfs -o size=64k tmpfs "$T/small" 2>/dev/null; then
  refused "an output larger than the free space: refused at start-up" "MiB free" \
    "$BIN" "${ARGS[@]}" --save-steps --out "$T/small/o.safetensors"
  umount "$T/small"
else
  echo "# skipped: the free-space check needs a small tmpfs (mount -t tmpfs)"
fi

# ---- 7. a latent that turns NaN/Inf -----------------------------------------------------------
python3 - "$T/w.safetensors" "$T/huge.safetensors" <<'EOF' || echo "not ok - setup: huge weights"
import sys
sys.path.insert(0, "tests/ref")
import safetensors_np as st
w = st.load(sys.argv[1])
name = next(k for k in sorted(w) if k.endswith("final_layer.linear.weight"))
w[name] = w[name] / abs(w[name]).max() * 3e38  # finite weights whose sums overflow to Inf
st.save(sys.argv[2], w)
EOF
HUGE=(--weights "$T/huge.safetensors" --cond "$T/c.safetensors" --seed 1 --quiet)
refused "a latent that turns Inf/NaN fails naming the step" "after step 1/30" "$BIN" "${HUGE[@]}" --out "$T/nan.safetensors"
expect "... and writes nothing" test ! -e "$T/nan.safetensors"
expect "--allow-nonfinite writes it anyway, with a warning" bash -c "'$BIN' ${HUGE[*]} --allow-nonfinite \
  --out '$T/nan.safetensors' 2>'$T/w.err' && test -s '$T/nan.safetensors'"

# ---- issue 15 item 9: outputs record how they were made ---------------------------------------
expect "the output's __metadata__ records version, variant, inputs hash, seed, PAB and steps" python3 - \
  "$T/s1.safetensors" "$("$BIN" --info | head -n 1)" <<'EOF'
import json, struct, sys
raw = open(sys.argv[1], "rb").read()
meta = json.loads(raw[8:8 + struct.unpack("<Q", raw[:8])[0]])["__metadata__"]
info = sys.argv[2]
assert meta["variant"] == "opensora-v1.2/fixture", meta
assert meta["inputs_hash"] in info, (meta, info)
assert meta["noise"] == "seed 1" and meta["pab"] == "on" and meta["steps"] == "30", meta
assert meta["sampler"] and meta["ditc_version"] and meta["mode"] == "sample", meta
EOF

# ---- 15. the command line -------------------------------------------------------------------------
refused "a repeated flag is an error" "--seed is given twice" "$BIN" "${ARGS[@]}" --seed 2 --out "$T/x.safetensors"
refused "a flag is not taken as the previous flag's value" "got the flag '--quiet'" "$BIN" --weights \
  "$T/w.safetensors" --cond "$T/c.safetensors" --out --quiet
expect "... and no file named --quiet was written" test ! -e ./--quiet
expect "--seed 18446744073709551615 (2^64-1) is accepted" "$BIN" --weights "$T/w.safetensors" \
  --cond "$T/c.safetensors" --quiet --seed 18446744073709551615 --out "$T/max.safetensors"
for bad in 18446744073709551616 " 5" +5 -1 0x5 ""; do
  refused "--seed '$bad' is refused" "--seed needs an integer" "$BIN" --weights "$T/w.safetensors" \
    --cond "$T/c.safetensors" --seed "$bad" --out "$T/x.safetensors"
done
refused "--random-weights without --bench is an error" "only runs with --bench" "$BIN" --random-weights 1 \
  --cond "$T/c.safetensors"
refused "--bench --out is an error (bench writes nothing)" "--bench writes no output" "$BIN" \
  --weights "$T/w.safetensors" --bench --out "$T/x.safetensors"
refused "--threads above the online CPUs is an error" "the online CPUs" "$BIN" "${ARGS[@]}" --threads 4096 \
  --out "$T/x.safetensors"
expect "no output was written by any refused command" bash -c "! test -e '$T/x.safetensors'"

# ---- issue 15 item 6: --help is this binary's own ------------------------------------------------
expect "Open-Sora's --help lists y and mask with this binary's shapes" bash -c \
  "h=\$('$BIN' --help) && grep -q '^  --cond   y  .*\[1, 12, 32\]' <<<\"\$h\" && grep -q '^  --cond   mask  .*\[1, 12\]' <<<\"\$h\""
expect "Latte's --help lists prompt_embeds and negative_prompt_embeds, not y" bash -c \
  "h=\$('$ROOT/bin/latte-fixture' --help) && grep -q prompt_embeds <<<\"\$h\" && grep -q negative_prompt_embeds <<<\"\$h\" && ! grep -q ' y ' <<<\"\$h\""
missing=""
for f in --weights --cond --noise --seed --out --pab --save-steps --allow-nonfinite --quiet --threads --forward \
  --call --dump --random-weights --bench --info --print-schedule --ranks --comm --comm-timeout --comm-stats; do
  "$BIN" --help | grep -q -- "^  $f" || missing="$missing $f"
done
expect "--help has a line for each of the 21 flags${missing:+ (missing:$missing)}" test -z "$missing"
h=$(./ditc.sh --help)
missing=""
for w in demo test bench build "variant \[--debug\]" --help; do grep -q -- " $w" <<<"$h" || missing="$missing $w"; done
expect "./ditc.sh --help describes every verb${missing:+ (missing:$missing)}" test -z "$missing"
tools/ditc-launch --help >"$T/launch.help"
expect "tools/ditc-launch --help describes -n, --port and --help" bash -c "grep -q -- '-n N' '$T/launch.help' && \
  grep -q -- '--port P' '$T/launch.help' && grep -q -- '--help' '$T/launch.help'"
exit $rc
