#!/usr/bin/env bash
# tests/ranks_test.sh: how a run of several ranks fails, CPU only (thread ranks; NCCL shares the
# agreement and reporting code of runtime/denoiser/ranks.c and comm.c): a rank whose set-up fails (its
# load, its tables) fails the whole world within seconds even with the default --comm-timeout
# of 300 s; a rank that dies makes its peers give up after --comm-timeout; either way exit 1,
# one stderr line "PROG: error: rank G: ..." naming the global rank and the real cause, and no
# output. Also: the test hooks that inject those faults (runtime/denoiser/test_hooks.h) exist only in the
# test binaries built with them (build.ninja's hooks_obj), never in bin/. Prints ok / not ok lines.
set -u
cd "$(dirname "$0")/.."
. tests/lib.sh
os12_fixture
W+=(--quiet)
missing=$tmp/missing/cond.safetensors

# fails NAME MAX_SECONDS LINE_REGEX COMMAND...: exit 1 within MAX_SECONDS, exactly one stderr line
# matching LINE_REGEX (grep -E, whole line), no output file
fails() {
  local name=$1 max=$2 want=$3
  shift 3
  rm -f "$tmp/f.safetensors"
  local start=$SECONDS
  timeout -k 5 30 "$@" --out "$tmp/f.safetensors" >/dev/null 2>"$tmp/err"
  local code=$? took=$((SECONDS - start)) lines
  lines=$(wc -l <"$tmp/err")
  if [ "$code" = 1 ] && [ "$lines" = 1 ] && grep -qxE -- "$want" "$tmp/err" && [ "$took" -lt "$max" ] &&
    [ ! -e "$tmp/f.safetensors" ]; then
    echo "ok - $name: exit 1 after $took s: $(cat "$tmp/err")"
  else
    echo "not ok - $name: exit $code after $took s (limit $max), $lines stderr lines, output" \
      "$([ -e "$tmp/f.safetensors" ] && echo left || echo none): $(head -c 400 "$tmp/err" | tr '\n' '|')"
    rc=1
  fi
}

# ---- the test hooks are in test binaries only (issue 9 item 8) ----------------------------------
expect "release binary, no hooks set, runs" bin/opensora-v1.2-fixture "${W[@]}" --out "$tmp/plain.safetensors"
expect "release binary with DITC_TEST_STOP_RANK=0:3, DITC_TEST_FAIL_RANK=0:<missing>, DITC_TEST_TABLE_SKEW=0: exit 0" \
  env DITC_TEST_STOP_RANK=0:3 DITC_TEST_FAIL_RANK=0:"$missing" DITC_TEST_TABLE_SKEW=0 bin/opensora-v1.2-fixture \
  "${W[@]}" --out "$tmp/hooked.safetensors"
t $CMP --exact --label "release binary ignores the test hooks: its 30-step final == the run without them" \
  "$tmp/hooked.safetensors" final "$tmp/plain.safetensors" final
with=$(find bin -type f -perm -u+x -exec grep -laF DITC_TEST_ {} + 2>/dev/null | tr '\n' ' ')
n=$(find bin -type f -perm -u+x | wc -l)
if [ "$n" -gt 0 ] && [ -z "$with" ] && grep -qaF DITC_TEST_STOP_RANK build/tests/os12-fixture-sp4; then
  echo "ok - none of the $n binaries in bin/ contains a DITC_TEST_ hook; the fault-injection test binaries do"
else
  echo "not ok - test hooks compiled into bin/ binaries: ${with:-none} (of $n); build/tests/os12-fixture-sp4 has them:" \
    "$(grep -qaF DITC_TEST_STOP_RANK build/tests/os12-fixture-sp4 && echo yes || echo no)"
  rc=1
fi
fails "the writer (rank 0) stops before step 3: it writes nothing, its peers give up" 10 \
  "build/tests/os12-fixture-sp4: error: rank [1-3]: [a-z_]+: no answer from rank 0 within 2 s .*" \
  env DITC_TEST_STOP_RANK=0:3 build/tests/os12-fixture-sp4 --ranks 4 "${W[@]}" --comm-timeout 2

# ---- a rank that fails early fails the world at once (issue 9 item 9) -----------------------------
fails "CFG parallel x 1: rank 1's conditioning does not load (default --comm-timeout 300)" 10 \
  "build/tests/os12-fixture-cfgp-sp1: error: rank 1: $missing: cannot open: No such file or directory" \
  env DITC_TEST_FAIL_RANK=1:"$missing" build/tests/os12-fixture-cfgp-sp1 --ranks 2 "${W[@]}"
fails "CFG parallel x 2: rank 3's conditioning does not load (default --comm-timeout 300)" 10 \
  "build/tests/os12-fixture-cfgp-sp2: error: rank 3: $missing: cannot open: No such file or directory" \
  env DITC_TEST_FAIL_RANK=3:"$missing" build/tests/os12-fixture-cfgp-sp2 --ranks 4 "${W[@]}"
fails "CFG parallel x 2: rank 2's conditioning is not a safetensors file (default --comm-timeout 300)" 10 \
  "build/tests/os12-fixture-cfgp-sp2: error: rank 2: $G/weights.safetensors: .*" \
  env DITC_TEST_FAIL_RANK=2:$G/weights.safetensors build/tests/os12-fixture-cfgp-sp2 --ranks 4 "${W[@]}"
fails "CFG parallel x 2: rank 3's tables differ (default --comm-timeout 300)" 10 \
  "build/tests/os12-fixture-cfgp-sp2: error: rank 3: the PAB/sampler tables hash differs between ranks .*" \
  env DITC_TEST_TABLE_SKEW=3 build/tests/os12-fixture-cfgp-sp2 --ranks 4 "${W[@]}"
fails "4 ranks: rank 2's tables differ" 10 \
  "build/tests/os12-fixture-sp4: error: rank 2: the PAB/sampler tables hash differs between ranks .*" \
  env DITC_TEST_TABLE_SKEW=2 build/tests/os12-fixture-sp4 --ranks 4 "${W[@]}"

# ---- a rank that dies: its peers time out together and one line says so ---------------------------
fails "CFG parallel x 1: rank 1 dies before step 5" 10 \
  "build/tests/os12-fixture-cfgp-sp1: error: rank 0: all_gather: no answer from rank 1 within 2 s .*" \
  env DITC_TEST_STOP_RANK=1:5 build/tests/os12-fixture-cfgp-sp1 --ranks 2 "${W[@]}" --comm-timeout 2
fails "4 ranks: rank 1 dies before step 5, three ranks time out together" 10 \
  "build/tests/os12-fixture-sp4: error: rank [023]: [a-z_]+: no answer from rank 1 within 2 s .*" \
  env DITC_TEST_STOP_RANK=1:5 build/tests/os12-fixture-sp4 --ranks 4 "${W[@]}" --comm-timeout 2
fails "CFG parallel x 2: rank 3 dies before step 5" 10 \
  "build/tests/os12-fixture-cfgp-sp2: error: rank [0-2]: [a-z_]+: no answer from rank [0-3] within 2 s .*" \
  env DITC_TEST_STOP_RANK=3:5 build/tests/os12-fixture-cfgp-sp2 --ranks 4 "${W[@]}" --comm-timeout 2

exit $rc
