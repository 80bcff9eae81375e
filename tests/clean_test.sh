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
# Open-Sora's prompt structure (runtime/text/opensora_prompt.c, as VideoSys' split_prompt,
# extract_prompts_loop and extract_json_from_prompts read it for loop 0): the text loop 0 encodes,
# and every form upstream raises on (or that asks for reference conditioning) refused with its reason
expect "Open-Sora's prompt structure: loop 0's text of the multi-loop syntax, the text before an empty JSON part (also under ASan and UBSan)" \
  python3 - build/tests/clean_test build/tests/clean_test_san <<'PY'
import json, subprocess, sys
cases = [
    ("a red panda", "a red panda"),
    ("|0| a red panda |1| a blue bird", "a red panda"),
    ("|0|  a red panda\t", "a red panda"),
    ("|0| x |0| a red panda|2|z", "a red panda"),        # an empty range [0, 0) is skipped
    ("|0| a |-3| b", "b"),                                 # so is [0, -3); b covers -3..0
    ("|0| a |1|", "a"),
    ("|1| a", "|1| a"),                                    # not the syntax: the prompt as it is
    ('a red panda {"reference_path": "", "mask_strategy": ""}', "a red panda "),
    ('|0| a |1| b {"mask_strategy": ""}', "a"),
]
bad = [
    ("|0| a |x| b", "index 'x' is not an integer"),
    ("|0| a |1| b |2", "ends on an index without text"),
    ('a {"reference_path": "x.png"}', "reference images or videos"),
    ("a {b} {c}", "more than one '{'"),
    ('a {"foo": ""}', "the key 'foo'"),
    ("a {nojson", "is not JSON"),
    ("a [1]", None),
]
inp = [c[0] for c in cases] + [b[0] for b in bad]
for exe in sys.argv[1:]:
    out = json.loads(subprocess.run([exe, "--map", "opensora_prompt"], input=json.dumps(inp), text=True,
                                    capture_output=True, check=True).stdout)
    for (p, want), got in zip(cases, out):
        assert got == want, (exe, p, want, got)
    for (p, why), got in zip(bad, out[len(cases):]):
        if why is None:
            assert got == p, (exe, p, got)
        else:
            assert isinstance(got, dict) and why in got["error"] and "\n" not in got["error"], (exe, p, why, got)
PY
exit $rc
