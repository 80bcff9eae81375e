#!/usr/bin/env bash
# tests/bench_test.sh: `--bench` on the fixture binary with --random-weights (CPU backend): it
# exits 0 and ends its report with the final latent's statistics line (max|z|, mean, std and the
# NaN/Inf count: a NaN storm at real sizes cannot pass as a timing), here finite: NaN 0, Inf 0,
# max|z| and std above 0. Prints one "ok - ..." / "not ok - ..." line per check; exits 1 if any
# failed. Run from the repository root after `ninja test`'s dependencies are built. Not a
# benchmark: the timings it prints are not checked.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
BIN=bin/opensora-v1.2-fixture
[ -x "$BIN" ] || { echo "not ok - setup: $BIN is missing (run ninja test)"; exit 1; }
out=$("$BIN" --random-weights 1 --bench 2>&1)
status=$?
line=$(printf '%s\n' "$out" | grep '^  final latent (last loop): ')
pat='^  final latent \(last loop\): max\|z\| ([0-9.e+-]+), mean [-0-9.e+]+, std ([0-9.e+-]+), NaN 0, Inf 0 \(of 1920 values\)$'
if [ "$status" -eq 0 ] && [[ "$line" =~ $pat ]] && awk -v a="${BASH_REMATCH[1]}" -v b="${BASH_REMATCH[2]}" \
  'BEGIN { exit !(a > 0 && b > 0) }'; then
  echo "ok - --random-weights 1 --bench: final latent statistics line, finite ($line)"
else
  echo "not ok - --random-weights 1 --bench: exit status $status, statistics line '$line'"
  printf '%s\n' "$out" | tail -n 5 | sed 's/^/#   /'
  rc=1
fi
exit $rc
