#!/usr/bin/env bash
# tests/devcheck_test.sh: the device check (tools/device-check.sh) as far as a machine without a
# GPU allows: its dry run reports every stage "skipped: no CUDA device", writes a summary and at
# most seven logs and calls neither ninja nor lua; its deadline stops a stage that runs too long
# and starts no stage it cannot finish; every file it carries is a target of build.ninja.
# Prints ok / not ok lines. Not here: the GPU checks themselves (they run on a lent device).
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/fakebin"
for t in ninja lua5.4 lua; do # a call to either is recorded and fails
  printf '#!/bin/sh\necho "%s $*" >>"%s/called"\nexit 1\n' "$t" "$tmp" >"$tmp/fakebin/$t"
  chmod +x "$tmp/fakebin/$t"
done

start=$(date +%s)
PATH=$tmp/fakebin:$PATH DEVCHECK_DRY=1 tools/device-check.sh "$tmp/dry" >"$tmp/dry.out" 2>&1
drc=$?
expect "dry run: exit 0 in under 5 s" test $drc = 0 -a $(($(date +%s) - start)) -lt 5
expect "dry run: all 7 stages say 'skipped: no CUDA device'" test "$(grep -c '^\[[a-z-]*\] skipped: no CUDA device$' \
  "$tmp/dry/summary.txt")" = 7
expect "dry run: summary.txt plus at most seven logs" test "$(ls "$tmp/dry" | grep -vc '^summary.txt$')" -le 7 -a \
  -f "$tmp/dry/summary.txt"
expect "dry run: neither ninja nor lua was called" test ! -e "$tmp/called"

start=$(date +%s)
DEVCHECK_DRY=1 DEVCHECK_SECONDS=17 DEVCHECK_DRY_SLEEP=30 tools/device-check.sh "$tmp/late" >"$tmp/late.out" 2>&1
took=$(($(date +%s) - start))
# 17 s less the 10 s reserve; 6 s when the clock's second ticks between the start and the first stage
# (seconds from date +%s, as the script counts them: a loaded machine takes that long to start it)
expect "deadline 17 s: the first stage times out at the deadline less the summary's reserve" \
  grep -qE '^\[env\] TIMED OUT after [0-9]* s \(limit [67] s\)' "$tmp/late/summary.txt"
expect "deadline 17 s: the stages that cannot finish are not started" test "$(grep -c '\] not run: ' \
  "$tmp/late/summary.txt")" = 6
expect "deadline 17 s: the whole check ends within the deadline (took $took s)" test "$took" -le 17
expect "DEVCHECK_SECONDS must be a number" bash -c "! DEVCHECK_SECONDS=soon tools/device-check.sh '$tmp/bad' 2>/dev/null"

missing=""
for f in $(tools/device-check.sh --list); do ninja -t query "$f" >/dev/null 2>&1 || missing="$missing $f"; done
expect "every carried file is a target of build.ninja${missing:+ (not:$missing)}" test -z "$missing"
expect "--help prints the header (what to build, what to carry, the stages)" bash -c \
  "tools/device-check.sh --help | grep -q 'carry: \[\"devcheck\"\]' && tools/device-check.sh --help | grep -q 'sanitizer'"
exit $rc
