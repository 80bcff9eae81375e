#!/usr/bin/env python3
"""tokenizer_check.py: checks bin/ditc-tokenize against the T5 tokenizer fixtures
(tests/golden/t5/): every case of tokenizer_cases.json for sp_ids, slow_ids and fast_ids
(one check per kind, printing how many match), and the padded batches of
tokenizer_padded.safetensors for the three pipelines (opensora: fast, 300; latte: slow, 120;
opensora_plan: slow, 300), rows = the cases' texts in order, plus the negative prompt "".
Prints one "ok - " / "not ok - " line per check; exits 1 if any failed.
Usage: tokenizer_check.py BIN GOLDEN_DIR TMP_DIR. numpy and the standard library only.
Not here: bad input (tokenizer_test.sh)."""
import json
import os
import struct
import subprocess
import sys

import numpy as np

BIN, G, TMP = sys.argv[1:4]
SPIECE = os.path.join(G, "spiece.model")
failed = False


def check(name, ok, detail=""):
    global failed
    print(("ok - " if ok else "not ok - ") + name + ("" if ok else ": " + detail))
    failed |= not ok


def read_st(path):
    with open(path, "rb") as f:
        blob = f.read()
    n = struct.unpack("<Q", blob[:8])[0]
    header = json.loads(blob[8:8 + n])
    dt = {"I32": np.int32, "I64": np.int64, "F32": np.float32}
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        a, b = v["data_offsets"]
        out[k] = np.frombuffer(blob[8 + n + a:8 + n + b], dtype=dt[v["dtype"]]).reshape(v["shape"])
    return out


def run(args):
    p = subprocess.run([BIN, "--spiece", SPIECE] + args, capture_output=True, timeout=120)
    return p.returncode, p.stdout.decode(), p.stderr.decode()


cases = json.load(open(os.path.join(G, "tokenizer_cases.json")))["cases"]
texts = [c["text"] for c in cases]
prompts = os.path.join(TMP, "prompts.json")
with open(prompts, "w") as f:
    json.dump(texts, f)

for kind, field in (("sp", "sp_ids"), ("slow", "slow_ids"), ("fast", "fast_ids")):
    rc, out, err = run(["--kind", kind, "--in", prompts])
    if rc != 0:
        check("%s: all %d cases" % (field, len(cases)), False, "exit %d: %s" % (rc, err.strip()[:300]))
        continue
    got = json.loads(out)
    bad = [i for i, c in enumerate(cases) if i >= len(got) or got[i] != c[field]]
    detail = ""
    if bad:
        i = bad[0]
        detail = "case %d %r: got %s, expected %s" % (i, texts[i][:60], got[i][:20] if i < len(got) else None,
                                                       cases[i][field][:20])
    check("%s: %d of %d cases match exactly" % (field, len(cases) - len(bad), len(cases)),
          not bad and len(got) == len(cases), detail)

padded = read_st(os.path.join(G, "tokenizer_padded.safetensors"))
for pipe, kind, L in (("opensora", "fast", 300), ("latte", "slow", 120), ("opensora_plan", "slow", 300)):
    for neg, rows in (("", texts), (".negative", [""])):
        name = "%s%s (%s, %d): %d padded rows, input_ids and attention_mask" % (pipe, neg, kind, L, len(rows))
        src = os.path.join(TMP, "rows.json")
        with open(src, "w") as f:
            json.dump(rows, f)
        out = os.path.join(TMP, "%s%s.safetensors" % (pipe, neg))
        rc, _, err = run(["--kind", kind, "--in", src, "--max-length", str(L), "--out", out])
        if rc != 0:
            check(name, False, "exit %d: %s" % (rc, err.strip()[:300]))
            continue
        got = read_st(out)
        problems = []
        for t in ("input_ids", "attention_mask"):
            ref = padded["%s%s.%s" % (pipe, neg, t)]
            g = got.get(t)
            if g is None or g.dtype != np.int64 or g.shape != ref.shape:
                problems.append("%s: %s %s, expected I64 %s" % (t, None if g is None else g.dtype,
                                                                 None if g is None else g.shape, ref.shape))
            elif not np.array_equal(g, ref):
                r = int(np.argwhere(g != ref)[0][0])
                problems.append("%s: %d rows differ, first row %d %r" % (t, int((g != ref).any(1).sum()), r,
                                                                         rows[r][:40]))
        check(name, not problems, "; ".join(problems))

sys.exit(1 if failed else 0)
