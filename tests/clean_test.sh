#!/usr/bin/env bash
# tests/clean_test.sh: the caption cleaner (runtime/text/) against upstream's outputs
# (tests/golden/t5/clean_caption.json: every case's clean_once, clean_twice, no_clean and
# opensora_final, with the exact-match count per field), on invalid UTF-8, an empty and a
# 100,000-character prompt (build/tests/clean_test, and again under ASan and UBSan), on every
# code point (under ASan and UBSan), and its Python-semantics parts against Python's own
# standard library (tests/clean_check.py).
# Not a test of the tokenizer.
set -u
cd "$(dirname "$0")/.."
source tests/lib.sh
out=$(build/tests/clean_test tests/golden/t5/clean_caption.json 2>&1) || rc=1
printf '%s\n' "$out" | grep -v ' passed, .* failed$'
python3 tests/clean_check.py build/tests/clean_test || rc=1
expect "the same checks under ASan and UBSan (build/tests/clean_test_san)" \
  build/tests/clean_test_san tests/golden/t5/clean_caption.json
# every code point but the surrogates, in runs of 256 (alone and space-separated), through
# Open-Sora's whole preprocessing under ASan and UBSan: no error, no check failing
T=$(mktemp -d) && trap 'rm -rf "$T"' EXIT
python3 -c '
import json, sys
runs = ["".join(chr(c) for c in range(b, b + 256) if not 0xD800 <= c <= 0xDFFF) for b in range(0, 0x110000, 256)]
json.dump([s for r in runs if r for s in (r, " ".join(r))], sys.stdout)' >"$T/code_points.json"
expect "every code point (8688 runs of up to 256) through --map opensora-v1.2 under ASan and UBSan: no error" \
  bash -c '"$1" --map opensora-v1.2 <"$2" >"$3" && python3 -c "
import json, sys
out = json.load(open(sys.argv[1]))
bad = [i for i, x in enumerate(out) if not isinstance(x, str)]
assert len(out) == 8688 and not bad, (len(out), bad[:3], out[bad[0]] if bad else None)" "$3"' _ \
  build/tests/clean_test_san "$T/code_points.json" "$T/code_points.out"
exit $rc
