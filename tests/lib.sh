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
