#!/usr/bin/env bash
# tokenizer_test.sh: the T5 tokenizer (runtime/text/, bin/ditc-tokenize) against the fixtures of
# tests/golden/t5/ (tests/tokenizer_check.py: every case for sp, slow and fast, and the padded
# batches of the three pipelines), then bad input: corrupt .model files from
# tests/make_bad_spm.py, prompts files that are not arrays of strings, prompts the cleaner
# rejects, invalid UTF-8, an empty prompt, a 100,000-character prompt (bounded time and memory),
# the prompt preprocessing flags (tests/pipeline_check.py against clean_caption.json and the
# padded batches from raw prompts; --print-text's escaping), usage mistakes, and the fuzz
# targets of the model reader and the tokenizer replayed over their seed corpus (ASan+UBSan).
# Prints one "ok - ..." / "not ok - ..." line per check; exits 1 if any failed. Run from the
# repository root after `ninja test`'s dependencies are built.
set -u
cd "$(dirname "$0")/.." || exit 1
. tests/lib.sh
BIN=bin/ditc-tokenize
G=tests/golden/t5
M=$G/spiece.model
for f in "$BIN" build/tests/fuzz_replay_spm build/tests/fuzz_replay_tok; do
  [ -x "$f" ] || { echo "not ok - setup: $f is missing (run ninja test)"; exit 1; }
done
T=$(mktemp -d) || exit 1
trap 'rm -rf "$T"' EXIT

# ---- the fixtures ---------------------------------------------------------------------------

t python3 tests/tokenizer_check.py "$BIN" "$G" "$T"
# the prompt preprocessing: --clean N, --print-text and --pipeline NAME against clean_caption.json,
# and the padded batches made from raw prompts
t python3 tests/pipeline_check.py "$BIN" "$G" "$T"

# ---- bad input: exit 1, one printable line naming the file and field, no output --------------

# bad WHAT [-e SUBSTRING]... -- ARGS...: ditc-tokenize ARGS (plus --max-length 300 --out) exits 1
# with one printable stderr line holding every SUBSTRING, and writes nothing.
bad() {
  local what=$1 e=()
  shift
  while [ "$1" = "-e" ]; do
    e+=(-e "$2")
    shift 2
  done
  shift
  one_line_error "$what" "$T/out.safetensors" "${e[@]}" -- "$BIN" "$@" --max-length 300 --out "$T/out.safetensors"
}

B=$T/bad
if ! python3 tests/make_bad_spm.py "$M" "$B" 2>"$T/make.err"; then
  echo "not ok - setup: tests/make_bad_spm.py failed: $(tr '\n' ' ' <"$T/make.err" | cut -c1-300)"
  exit 1
fi
printf '["a photo of a cat", "fine \\ufb01sh"]' >"$T/p.json"
P=(--kind fast --in "$T/p.json")
t bad "model: truncated inside a piece" -e "$B/truncated.model" -e "pieces (field 1): length" -e "runs past the end" -- \
  --spiece "$B/truncated.model" "${P[@]}"
t bad "model: a length past the end of the file" -e "$B/length_past_end.model" -e "runs past the end" -- \
  --spiece "$B/length_past_end.model" "${P[@]}"
t bad "model: an empty file has no pieces" -e "$B/empty.model" -e "pieces: none" -- --spiece "$B/empty.model" "${P[@]}"
t bad "model: a score of the wrong wire type" -e "$B/score_wire.model" -e "pieces[3]: score (field 2)" \
  -e "wire type 0" -- --spiece "$B/score_wire.model" "${P[@]}"
t bad "model: pieces of the wrong wire type" -e "pieces (field 1)" -e "expected 2" -- \
  --spiece "$B/pieces_wire.model" "${P[@]}"
t bad "model: a group (wire type 3)" -e "$B/group.model" -e "wire type 3 (a group)" -- --spiece "$B/group.model" "${P[@]}"
t bad "model: an overlong varint" -e "$B/overlong_varint.model" -e "overlong" -- \
  --spiece "$B/overlong_varint.model" "${P[@]}"
t bad "model: no pieces" -e "$B/no_pieces.model" -e "pieces: none" -- --spiece "$B/no_pieces.model" "${P[@]}"
t bad "model: no UNKNOWN piece" -e "$B/no_unk.model" -e "none has type UNKNOWN" -- --spiece "$B/no_unk.model" "${P[@]}"
t bad "model: two UNKNOWN pieces" -e "pieces[7].type: UNKNOWN" -- --spiece "$B/two_unk.model" "${P[@]}"
t bad "model: an empty piece" -e "pieces[9]: piece: empty" -- --spiece "$B/empty_piece.model" "${P[@]}"
t bad "model: a piece type out of range" -e "pieces[11]: type: 9" -- --spiece "$B/bad_type.model" "${P[@]}"
t bad "model: a NaN score" -e "pieces[13]: score: nan" -- --spiece "$B/nan_score.model" "${P[@]}"
t bad "model: a duplicate piece" -e "pieces[21].piece" -e "is already pieces[20]" -- \
  --spiece "$B/duplicate_piece.model" "${P[@]}"
t bad "model: a BPE model" -e "trainer_spec.model_type: 2" -- --spiece "$B/bpe.model" "${P[@]}"
t bad "model: trainer_spec.unk_id is not the UNKNOWN piece" -e "trainer_spec.unk_id: 5" -- \
  --spiece "$B/unk_id_mismatch.model" "${P[@]}"
t bad "model: charsmap trie size past its end" -e "normalizer_spec.precompiled_charsmap: trie size" -- \
  --spiece "$B/charsmap_size.model" "${P[@]}"
t bad "model: charsmap replacement outside its pool (found while normalizing)" \
  -e "$B/charsmap_pool.model: normalizer_spec.precompiled_charsmap: a replacement starts outside the pool" -- \
  --spiece "$B/charsmap_pool.model" "${P[@]}"
t bad "model: a missing file" -e "$T/none.model: cannot open" -- --spiece "$T/none.model" "${P[@]}"

printf '{"a": 1}' >"$T/object.json"
printf '[]' >"$T/empty_array.json"
printf '["ok", 5]' >"$T/number.json"
printf '["ok", "\\ud800"]' >"$T/surrogate.json"
printf '["ok",' >"$T/truncated.json"
t bad "prompts: not an array" -e "$T/object.json: the top level is an object" -- --spiece "$M" --kind slow --in "$T/object.json"
t bad "prompts: an empty array" -e "$T/empty_array.json: the array holds no prompts" -- \
  --spiece "$M" --kind slow --in "$T/empty_array.json"
t bad "prompts: an element that is not a string" -e "$T/number.json: element 1" -e "a number" -- \
  --spiece "$M" --kind slow --in "$T/number.json"
t bad "prompts: an unpaired surrogate escape" -e "$T/surrogate.json: malformed JSON at byte" -e "surrogate" -- \
  --spiece "$M" --kind slow --in "$T/surrogate.json"
t bad "prompts: truncated JSON" -e "$T/truncated.json: malformed JSON" -- --spiece "$M" --kind slow --in "$T/truncated.json"
# the cleaner fails where upstream raises (markup html.parser rejects): exit 1, the prompt named
printf '["fine", "x <![foo[ y ]]> z"]' >"$T/reject.json"
t bad "prompts: markup the cleaner rejects (--clean 1)" -e "$T/reject.json: prompt 1: " -e "HTML parser" -- \
  --spiece "$M" --kind slow --clean 1 --in "$T/reject.json"
t bad "prompts: markup the cleaner rejects (--pipeline opensora-plan-v1.1)" -e "$T/reject.json: prompt 1: " -- \
  --spiece "$M" --pipeline opensora-plan-v1.1 --in "$T/reject.json"
expect "prompts: markup the cleaner rejects (--print-text): exit 1, one line, nothing printed" \
  bash -c '"$1" --pipeline latte --print-text --in "$2" >"$3.out" 2>"$3.err"; test $? -eq 1 &&
    test "$(wc -l <"$3.err")" -eq 1 && test ! -s "$3.out"' _ "$BIN" "$T/reject.json" "$T/reject"
expect "--out is the prompts file: refused with exit 1" bash -c '"$1" --spiece "$2" --kind slow --in "$3" \
  --max-length 300 --out "$3" 2>&1; test $? -eq 1' _ "$BIN" "$M" "$T/p.json"
expect "--out is the prompts file: the file is unchanged" grep -q 'a photo of a cat' "$T/p.json"

# ---- prompts that are valid but unusual -----------------------------------------------------

# ids KIND JSON: the printed ids (one line) for the prompts file holding JSON
ids() {
  printf '%s' "$2" >"$T/q.json"
  "$BIN" --spiece "$M" --kind "$1" --in "$T/q.json" | tr -d ' \n'
}
expect "an empty prompt: [] for sp, [1] (EOS) for slow and fast" \
  test "$(ids sp '[""]')$(ids slow '[""]')$(ids fast '[""]')" = "[[]][[1]][[1]]"
# text ENCODED-JSON ARGS...: the --print-text output (one line) for the prompts file holding JSON
text() {
  printf '%s' "$1" >"$T/q.json"
  shift
  "$BIN" --print-text --in "$T/q.json" "$@" | tr -d '\n'
}
expect "--print-text: control characters, quotes and backslashes escaped; other text as it is" \
  test "$(text '["a\"b\\c\u0001\td\nÃ©"]')" = '["a\"b\\c\u0001\td\nÃ©"]'
expect "--print-text without cleaning: invalid UTF-8 printed as U+FFFD (errors=\"replace\")" \
  test "$(text "$(printf '["a\377b"]')")" = '["a�b"]'
expect "--clean 0: lower() and strip() only; --clean 2: the whole cleaning" \
  test "$(text '["  A <b>Cat</b> "]' --clean 0)$(text '["  A <b>Cat</b> "]' --clean 2)" = '["a <b>cat</b>"]["a cat"]'
expect "--pipeline opensora-v1.2 keeps a prompt's own aesthetic score (no second suffix)" \
  test "$(text '["A cat, aesthetic score: 5.0."]' --pipeline opensora-v1.2)" = '["a cat, aesthetic score: 5.0."]'
expect "--kind and --clean agreeing with --pipeline are accepted and change nothing" \
  test "$(text '["A <i>dog</i>"]' --pipeline latte --kind slow --clean 2)" = '["a dog"]'
expect "--pipeline without --out prints unpadded ids of the preprocessed prompt" \
  test "$(ids slow '["a cat"]')" = "$(printf '["A <B>CAT</B>"]' >"$T/r.json";
    "$BIN" --spiece "$M" --pipeline latte --in "$T/r.json" | tr -d ' \n')"
# a raw 0xFF byte (not UTF-8) becomes U+FFFD after the charsmap, one byte at a time
# (sentencepiece's rule), which is no piece: the same ids as an unknown character (an emoji) there
for k in sp slow fast; do
  expect "invalid UTF-8 ($k): the byte 0xFF becomes one <unk>, as an unknown character does" \
    bash -c '[ "$1" = "$2" ] && case "$1" in *,2,*) true ;; *) false ;; esac' _ \
    "$(ids $k "$(printf '["a\377b"]')")" "$(ids $k '["a\ud83c\udf55b"]')"
done
# a 100,000-character prompt: bounded time (10 s) and memory (256 MiB of address space); with
# --max-length, truncated to 299 ids and EOS with the mask all ones (the emoji row: one <unk>)
python3 -c 'import json; print(json.dumps(["a photo of a cat on a skateboard " * 3031 + "x", "\U0001F355" * 100000, "abcdefghij" * 10000]))' >"$T/long.json"
for k in slow fast; do
  expect "100,000 characters ($k, --max-length 300): truncated, EOS, mask right, in bounded time and memory" \
    bash -c 'ulimit -v 262144; timeout 10 "$1" --spiece "$2" --kind "$3" --in "$4" --max-length 300 --out "$5" &&
      python3 -c "
import json, struct, sys
b = open(sys.argv[1], \"rb\").read(); n = struct.unpack(\"<Q\", b[:8])[0]; h = json.loads(b[8:8 + n])
ids = struct.unpack(\"<900q\", b[8 + n + h[\"input_ids\"][\"data_offsets\"][0]:][:7200])
mask = struct.unpack(\"<900q\", b[8 + n + h[\"attention_mask\"][\"data_offsets\"][0]:][:7200])
assert h[\"input_ids\"][\"shape\"] == [3, 300], h
assert [ids[r * 300 + 299] for r in (0, 2)] == [1, 1] and set(mask[:300] + mask[600:]) == {1}, ids[290:300]
assert ids[300:304] == (4, 2, 1, 0) and mask[300:304] == (1, 1, 1, 0), ids[300:305]  # U+2581, one merged <unk>, EOS
" "$5"' _ "$BIN" "$M" "$k" "$T/long.json" "$T/long.safetensors"
done
expect "100,000 characters (sp, no truncation): printed in bounded time and memory" \
  bash -c 'ulimit -v 262144; timeout 10 "$1" --spiece "$2" --kind sp --in "$3" >"$4" && test -s "$4"' _ \
  "$BIN" "$M" "$T/long.json" "$T/long.out"

# ---- usage ----------------------------------------------------------------------------------

# usage WHAT ARGS...: exit status 2 and one line on stderr
usage() {
  local what=$1
  shift
  "$BIN" "$@" >"$T/stdout" 2>"$T/stderr"
  local code=$?
  if [ "$code" -eq 2 ] && [ "$(wc -l <"$T/stderr")" -eq 1 ] && [ ! -s "$T/stdout" ]; then echo "ok - usage: $what"; else
    echo "not ok - usage: $what: exit $code, stderr: $(head -c 200 "$T/stderr" | tr '\n' ' ')"
    return 1
  fi
}
t usage "no arguments" 
t usage "an unknown flag" --spiece "$M" --kind slow --in "$T/p.json" --frobnicate
t usage "a bad --kind" --spiece "$M" --kind medium --in "$T/p.json"
t usage "--max-length without --out" --spiece "$M" --kind slow --in "$T/p.json" --max-length 300
t usage "--max-length 1" --spiece "$M" --kind slow --in "$T/p.json" --max-length 1 --out "$T/o.safetensors"
t usage "--max-length with --kind sp" --spiece "$M" --kind sp --in "$T/p.json" --max-length 9 --out "$T/o.safetensors"
t usage "a flag given twice" --spiece "$M" --spiece "$M" --kind slow --in "$T/p.json"
t usage "a flag as a value" --spiece --kind slow --in "$T/p.json"
t usage "an unknown --pipeline" --spiece "$M" --pipeline opensora-v1.3 --in "$T/p.json" --out "$T/o.safetensors"
t usage "--clean -1" --spiece "$M" --kind slow --clean -1 --in "$T/p.json"
t usage "--clean 1.5 (not an integer)" --spiece "$M" --kind slow --clean 1.5 --in "$T/p.json"
t usage "--clean two (not a number)" --clean two --print-text --in "$T/p.json"
t usage "--clean 17 (past the limit)" --clean 17 --print-text --in "$T/p.json"
t usage "--print-text with --out" --clean 2 --print-text --in "$T/p.json" --out "$T/o.safetensors"
t usage "--print-text with --max-length" --pipeline latte --print-text --in "$T/p.json" --max-length 120
t usage "--pipeline latte with --kind fast (contradicts)" --spiece "$M" --pipeline latte --kind fast --in "$T/p.json"
t usage "--pipeline latte with --max-length 300 (contradicts)" --spiece "$M" --pipeline latte --max-length 300 \
  --in "$T/p.json" --out "$T/o.safetensors"
t usage "--pipeline opensora-v1.2 with --clean 1 (contradicts)" --spiece "$M" --pipeline opensora-v1.2 --clean 1 \
  --in "$T/p.json"
t usage "--pipeline with --max-length but no --out" --spiece "$M" --pipeline latte --max-length 120 --in "$T/p.json"
t usage "--pipeline without --spiece (ids need the model)" --pipeline latte --in "$T/p.json"
expect "usage mistakes with --out write nothing" test ! -e "$T/o.safetensors"
expect "--help: exit 0, every flag listed" bash -c 'h=$("$1" --help) && for f in --spiece --kind --in \
  "--max-length L" --out "--clean N" "--pipeline NAME" --print-text; do grep -q -- "$f" <<<"$h" || exit 1; done' _ "$BIN"

# ---- fuzz targets over their seeds -----------------------------------------------------------

for target in spm tok; do
  expect "fuzz replay (ASan+UBSan): $target target over tests/fuzz/corpus/$target" \
    "build/tests/fuzz_replay_$target" "tests/fuzz/corpus/$target"
done

exit $rc
