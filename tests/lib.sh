# tests/lib.sh: helpers the shell test suites source: `t CMD` runs a check that prints its own
# ok / not ok line; `expect NAME CMD` prints "ok - NAME" when CMD succeeds, else "not ok" with
# the tail of its output. Both set rc=1 on failure. Not a test itself.
rc=0
t() { "$@" || rc=1; }
expect() {
  local name=$1
  shift
  local out
  if out=$("$@" 2>&1); then echo "ok - $name"; else
    echo "not ok - $name: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
    rc=1
  fi
}
# os12_fixture: what the suites on the Open-Sora fixture share: its folder G, the comparison tool
# CMP, a scratch folder tmp (removed on exit) and W, the flags of its weights, conditioning and noise.
os12_fixture() {
  G=tests/golden/opensora-v1.2
  CMP=build/tests/stcmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  W=(--weights $G/weights.safetensors --cond $G/sample_nopab.safetensors --noise $G/sample_nopab.safetensors)
}
# refuses NAME STATUS MESSAGE OUTFILE CMD...: a refusal as the tools make it: CMD exits with STATUS
# (empty: any non-zero), prints exactly one line matching MESSAGE (grep -E) and leaves OUTFILE
# absent. Prints "ok - NAME" or "not ok" with what it got; sets rc=1 on failure.
refuses() {
  local name=$1 want=$2 msg=$3 outfile=$4
  shift 4
  rm -f "$outfile"
  local out st
  out=$("$@" 2>&1)
  st=$?
  if { [ -n "$want" ] && [ $st -eq "$want" ] || [ -z "$want" ] && [ $st -ne 0 ]; } \
    && [ "$(printf '%s\n' "$out" | wc -l)" -eq 1 ] && printf '%s' "$out" | grep -qE -- "$msg" && [ ! -e "$outfile" ]; then
    echo "ok - $name"
  else
    echo "not ok - $name: status $st: $out"
    rc=1
  fi
}
