#!/usr/bin/env python3
"""bench_tokenize.py (part of `ninja bench`): bin/ditc-tokenize's prompts per second end to end
(process start, model load, pattern compilation, cleaning, tokenizing, output) on the raw prompts
of tests/golden/t5/clean_caption.json: once as they are (68 prompts: one call's fixed costs
show) and repeated 200 times (13,600 prompts: the steady rate). Three commands, interleaved in
rotating order after a warm-up round, ROUNDS rounds (default 7): --pipeline opensora-v1.2 --out
(cleaning and tokenizing), the same with --print-text (cleaning only) and --kind fast
--max-length 300 --out (tokenizing only). Prints the median prompts/s and the min..max spread.
Usage: bench_tokenize.py [ROUNDS], from the repository root. Not a test: nothing fails on a number."""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

ROUNDS = int(sys.argv[1]) if len(sys.argv) > 1 else 7
BIN = "bin/ditc-tokenize"
G = "tests/golden/t5"
raws = [c["raw"] for c in json.load(open(os.path.join(G, "clean_caption.json")))["cases"]]

with tempfile.TemporaryDirectory() as tmp:
    out = os.path.join(tmp, "out.safetensors")
    commands = {
        "--pipeline opensora-v1.2 --out": ["--pipeline", "opensora-v1.2", "--spiece", G + "/spiece.model",
                                           "--out", out],
        "--pipeline opensora-v1.2 --print-text": ["--pipeline", "opensora-v1.2", "--print-text"],
        "--kind fast --max-length 300 --out": ["--kind", "fast", "--spiece", G + "/spiece.model",
                                               "--max-length", "300", "--out", out],
    }
    for copies in (1, 200):
        prompts = os.path.join(tmp, "prompts.json")
        with open(prompts, "w") as f:
            json.dump(raws * copies, f)
        n = len(raws) * copies
        times = {name: [] for name in commands}
        names = list(commands)
        for r in range(ROUNDS + 1):
            for k in range(len(names)):
                name = names[(r + k) % len(names)]
                t0 = time.perf_counter()
                subprocess.run([BIN, "--in", prompts] + commands[name], check=True, stdout=subprocess.DEVNULL)
                if r > 0:
                    times[name].append(time.perf_counter() - t0)
        print("  %d prompts (the fixture's %d raw prompts x %d), %d rounds:" % (n, len(raws), copies, ROUNDS))
        for name in names:
            rates = sorted(n / t for t in times[name])
            print("    %-40s %9.0f prompts/s (%.0f..%.0f), %.1f ms a call" % (
                name, statistics.median(rates), rates[0], rates[-1], 1e3 * statistics.median(times[name])))
