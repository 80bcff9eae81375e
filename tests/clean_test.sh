#!/usr/bin/env bash
# tests/clean_test.sh: the caption cleaner (runtime/text/) against upstream's outputs
# (tests/golden/t5/clean_caption.json: every case's clean_once, clean_twice, no_clean and
# opensora_final, with the exact-match count per field), on invalid UTF-8, an empty and a
# 100,000-character prompt (build/tests/clean_test, and again under ASan and UBSan), and its
# Python-semantics parts against Python's own standard library (tests/clean_check.py).
# Not a test of the tokenizer.
set -u
cd "$(dirname "$0")/.."
source tests/lib.sh
out=$(build/tests/clean_test tests/golden/t5/clean_caption.json 2>&1) || rc=1
printf '%s\n' "$out" | grep -v ' passed, .* failed$'
python3 tests/clean_check.py build/tests/clean_test || rc=1
expect "the same checks under ASan and UBSan (build/tests/clean_test_san)" \
  build/tests/clean_test_san tests/golden/t5/clean_caption.json
exit $rc
