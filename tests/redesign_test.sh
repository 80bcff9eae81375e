#!/usr/bin/env bash
# tests/redesign_test.sh: the generator redesign (issue 10) changes no result. Every shipped
# variant's schedule.txt and manifest.txt stay byte-identical, and its plan.txt keeps the arena
# size and every buffer's offset, size and name, against the digests taken before the redesign
# (tests/data/pre-redesign.sums). The committed out/ is what the generator writes (the freshness
# tests and CI check that), so comparing out/ compares the generator. On a difference it shows the
# diff against the file as committed at the digests' commit when git history is at hand. Also: the
# generated per-variant build statements (out/variants.ninja) are fresh. Prints ok / not ok lines.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
sums=tests/data/pre-redesign.sums
base=$(sed -n 's/^# commit \([0-9a-f]*\) .*/\1/p' "$sums")
plan_digest() { { grep '^arena ' "$1" | cut -d: -f1; awk '$1 ~ /^[0-9]+$/ && NF >= 3 {print $1, $2, $NF}' "$1"; } | sha256sum | cut -c1-64; }
n=0
while read -r v s m p; do
  case $v in '#'* | '') continue ;; esac
  n=$((n + 1))
  d=out/$v
  for f in schedule manifest plan; do
    want=$s
    [ $f = manifest ] && want=$m
    [ $f = plan ] && want=$p
    if [ ! -f "$d/$f.txt" ]; then echo "not ok - $v: $d/$f.txt is missing"; rc=1; continue; fi
    if [ $f = plan ]; then got=$(plan_digest "$d/$f.txt"); what="plan.txt keeps the arena and every offset and size"
    else got=$(sha256sum "$d/$f.txt" | cut -c1-64); what="$f.txt is byte-identical"; fi
    if [ "$got" = "$want" ]; then echo "ok - $v: $what"; else
      echo "not ok - $v: $what: it changed$(git show "$base:$d/$f.txt" >/dev/null 2>&1 && printf ': %s' \
        "$(git show "$base:$d/$f.txt" | diff - "$d/$f.txt" | head -n 6 | tr '\n' ' ')")"
      rc=1
    fi
  done
done <"$sums"
# every shipped denoiser (a folder with a schedule.txt; the networks added since have none) has digests,
# but for the denoiser variants added after the redesign, which have no "before" (issue 14's CPU bench)
added_since="opensora-v1.2/cpu-large latte/cpu-bench"
denoisers=$(ls out/*/*/schedule.txt | sed 's#^out/##; s#/schedule.txt$##' | grep -cvxF "$(printf '%s\n' $added_since)")
expect "every shipped denoiser variant is in the digests ($n of $denoisers; added since: $added_since)" \
  test "$n" = "$denoisers"
expect "out/variants.ninja (the per-variant build statements) is what gen/buildgen.lua writes" \
  lua5.4 gen/buildgen.lua --check
# (bin/ditc-tokenize, bin/ditc-cond and bin/ditc-video are no variants: the hand-written binaries of bin/)
expect "build.ninja holds no per-variant statement (they are generated)" \
  bash -c "! grep -E '^build (bin|out)/' build.ninja | grep -qvE '^build bin/ditc-(tokenize|cond|video):'"
exit $rc
