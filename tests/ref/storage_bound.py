#!/usr/bin/env python3
"""tests/ref/storage_bound.py: checks that the NMSE bound tests/gpu.sh holds the 16-bit CUDA builds
to, (8 U)^2 with U the storage's unit roundoff, is neither a rubber stamp nor a tripwire: a numpy
emulation of bf16 and fp16 storage on the Open-Sora fixture's forward calls (stdit3_ref.py with
the weights, every op output and every block's residual stream rounded to the storage, fp64
arithmetic in between) must land at least 10x inside the bound, and PAB's own effect on the
sampled latents (NMSE between the fixture's PAB-on and PAB-off runs) at least 10x outside it, so
a wrong PAB decision cannot hide in it. It emulates fewer roundings than the GPU makes (the
modulation and residual adds inside a block are not rounded separately), hence the margin.
Prints ok / not ok lines. Not a test of the CUDA code (tests/gpu.sh is), nor of the reference.
"""
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402
import stdit3_ref as R  # noqa: E402

G = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "opensora-v1.2")
UNIT = {"bf16": 2.0 ** -8, "fp16": 2.0 ** -11}


def round_bf16(x):  # fp64 -> fp32 -> bf16 (round to nearest even) -> fp64
    b = np.asarray(x, np.float32).view(np.uint32).astype(np.uint64)
    b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return b.astype(np.uint32).view(np.float32).astype(np.float64)


def round_fp16(x):
    return np.asarray(x, np.float32).astype(np.float16).astype(np.float64)


def nmse(a, ref):
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    return float(((a - ref) ** 2).sum() / (ref ** 2).sum())


def emulated_forward_nmse(rnd):
    """Worst NMSE of the fixture's forward calls with storage rounding `rnd`."""
    plain = {n: getattr(R, n) for n in ("linear", "silu", "gelu_tanh", "rms_norm", "softmax_attention",
                                        "stdit3_block")}
    R.linear = lambda x, w, name: rnd(plain["linear"](x, w, name))
    R.silu = lambda x: rnd(plain["silu"](x))
    R.gelu_tanh = lambda x: rnd(plain["gelu_tanh"](x))
    R.rms_norm = lambda x, wt, eps=1e-6: rnd(plain["rms_norm"](x, wt, eps))
    R.softmax_attention = lambda q, k, v: rnd(plain["softmax_attention"](q, k, v))
    R.stdit3_block = lambda *a, **k: rnd(plain["stdit3_block"](*a, **k))
    try:
        cfg = R.load_config(os.path.join(G, "meta.json"))
        w = {k: rnd(v) for k, v in safetensors_np.load(os.path.join(G, "weights.safetensors")).items()}
        d = safetensors_np.load(os.path.join(G, "forward.safetensors"))
        calls = sorted({k.split(".")[0] for k in d if k.startswith("call")})
        return max(nmse(R.run_call(w, cfg, d, c + ".")[0], d[c + ".out"]) for c in calls)
    finally:
        for n, f in plain.items():
            setattr(R, n, f)


def main():
    ok = True
    on = safetensors_np.load(os.path.join(G, "sample_pab.safetensors"))["latents"]
    off = safetensors_np.load(os.path.join(G, "sample_nopab.safetensors"))["latents"]
    pab = max(nmse(on[i], off[i]) for i in range(off.shape[0]))
    for st, rnd in (("bf16", round_bf16), ("fp16", round_fp16)):
        bound = (8 * UNIT[st]) ** 2
        got = emulated_forward_nmse(rnd)
        good = got * 10 <= bound
        ok &= good
        print(f"{'ok' if good else 'not ok'} - {st}: emulated storage on the fixture forward, NMSE {got:.3g}, "
              f"{100 * got / bound:.1f}% of the GPU test's bound (8U)^2 = {bound:.3g} (at most 10% wanted)")
    bound = (8 * UNIT["bf16"]) ** 2
    good = pab >= 10 * bound
    ok &= good
    print(f"{'ok' if good else 'not ok'} - PAB on vs off moves the fixture's latents by NMSE {pab:.3g}, "
          f"{pab / bound:.0f}x the bf16 bound (at least 10x wanted)")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
