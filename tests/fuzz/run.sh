#!/usr/bin/env bash
# tests/fuzz/run.sh: runs each libFuzzer target (build/fuzz/json, st, loader, index, spm, tok; `ninja fuzz` builds
# them first) for FUZZ_SECONDS (default 60) seconds, starting from a copy of its committed seed
# corpus (tests/fuzz/corpus/<target>/) in build/fuzz/corpus/<target>/, where new inputs stay.
# A crash leaves its input in build/fuzz/ (crash-*); add it to the seed corpus once fixed.
# Ends with one line per target; exits 1 if any target failed. Not part of `ninja test`.
set -u
cd "$(dirname "$0")/../.."
secs=${FUZZ_SECONDS:-60}
rc=0
for t in json st loader index spm tok; do
  bin=build/fuzz/$t
  [ -x "$bin" ] || { echo "not ok - fuzz $t: $bin is missing (run: ninja fuzz)"; rc=1; continue; }
  mkdir -p "build/fuzz/corpus/$t"
  cp -n tests/fuzz/corpus/$t/* "build/fuzz/corpus/$t/"
  if (cd build/fuzz && "./$t" -max_total_time="$secs" -print_final_stats=1 "corpus/$t" >"$t.log" 2>&1); then
    echo "ok - fuzz $t: $(grep -E '^stat::number_of_executed_units' "build/fuzz/$t.log" | awk '{print $2}') runs in ${secs} s, no crash"
  else
    echo "not ok - fuzz $t: see build/fuzz/$t.log and build/fuzz/crash-*"
    tail -n 20 "build/fuzz/$t.log" | sed 's/^/#   /'
    rc=1
  fi
done
exit $rc
