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
# one_line_error WHAT OUT [-e SUBSTRING]... -- COMMAND...: COMMAND exits 1 with exactly one stderr
# line of printable ASCII holding every SUBSTRING, prints nothing on stdout and leaves neither OUT
# nor a temporary OUT.*.tmp. Prints ok / not ok and returns non-zero on failure (wrap it in t).
one_line_error() {
  local what=$1 out=$2 subs=() p="" d code s
  shift 2
  while [ "$1" = "-e" ]; do
    subs+=("$2")
    shift 2
  done
  [ "$1" = "--" ] && shift
  d=$(mktemp -d)
  rm -f "$out"
  timeout -k 5 60 "$@" >"$d/stdout" 2>"$d/stderr"
  code=$?
  [ "$code" -ne 1 ] && p="$p; exit status $code, expected 1"
  [ "$(wc -l <"$d/stderr")" -ne 1 ] && p="$p; stderr has $(wc -l <"$d/stderr") lines, expected 1"
  [ "$(tr -d '\n' <"$d/stderr" | LC_ALL=C tr -d '\040-\176' | wc -c)" -ne 0 ] &&
    p="$p; stderr holds control or non-ASCII bytes"
  for s in "${subs[@]}"; do grep -qF -- "$s" "$d/stderr" || p="$p; stderr lacks: $s"; done
  [ -e "$out" ] && p="$p; an output file was written"
  compgen -G "$out.*.tmp" >/dev/null && p="$p; a temporary file was left behind"
  [ -s "$d/stdout" ] && p="$p; something was printed on stdout"
  if [ -z "$p" ]; then echo "ok - $what"; else
    echo "not ok - $what: ${p#; } -- stderr: $(head -c 300 "$d/stderr" | cat -v | tr '\n' ' ')"
  fi
  rm -rf "$d"
  [ -z "$p" ]
}
