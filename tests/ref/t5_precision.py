#!/usr/bin/env python3
"""tests/ref/t5_precision.py: where the NMSE bounds tests/gpu.sh holds the 16-bit CUDA T5 builds to come
from, checked on the golden fixture (tests/golden/t5) by a NumPy emulation of the roundings, float64
arithmetic in between (a rounding is fp64 -> fp32 -> the 16-bit type -> fp64):

  upstream: transformers' T5 as each pipeline runs it (spec A.7-A.8, docs/upstream.md#t5): bf16
            (Open-Sora) every op rounded to bf16, gelu_new as its 8 rounded ops, the mask at bf16's
            lowest value; fp16 (Latte-1, Open-Sora-Plan) the same in fp16 except that every
            DenseReluDense.wo and its input are fp32 and so is the residual stream from block 0's
            FFN on, the mask adds -65504 (bias + mask may round to -inf), and the clamp after a
            residual add while the stream is fp16.
  ditc:     the CUDA program of gen/families/t5.lua: a rounding where its kernels store (a GEMM's
            output with its GELU fused, RMSNorm's normalized row and its product with the weight,
            the attention's output from fp32 scores and softmax with an fp32 mask, the residual
            adds while the stream is 16-bit, the FFN product); fp32 where the fp16 program keeps it.

Checks: (1) the bf16 upstream emulation is the rounding the fixture's real upstream bf16 run shows
(`bf16_probe.safetensors`, transformers on the CPU): it sits at most a third as far from that run as
the run is from fp32, and closer to it than the ditc emulation (another placement of roundings) is,
so the emulation is trusted where no upstream run exists (fp16: torch on the CPU had no fp16 matmul);
(2) each GPU bound holds the emulated ditc build with a margin (at most a third of it); the fp16
bound, 4x the emulated upstream fp16 run's NMSE as the bf16 bound is 4x the real bf16 run's, is no
rubber stamp: a build that ran in bf16 lands outside it. Prints ok / not ok lines and the measured
NMSEs. Not a test of the CUDA code (tests/gpu.sh is); all of the fixture's rows count, the fully
padded one included.
"""
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402
import t5_ref  # noqa: E402

G = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "golden", "t5")
# tests/gpu.sh's bounds on last_hidden_state vs the fp32 fixture, NMSE
BOUND = {"bf16": 2.5e-3, "fp16": 3e-5}


def round_bf16(x):  # fp64 -> fp32 -> bf16 (round to nearest even) -> fp64; inf and NaN kept
    f = np.asarray(x, np.float32)
    b = f.view(np.uint32).astype(np.uint64)
    b = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    out = b.astype(np.uint32).view(np.float32).astype(np.float64)
    return np.where(np.isfinite(f), out, f.astype(np.float64))


def round_fp16(x):
    with np.errstate(over="ignore"):
        return np.asarray(x, np.float32).astype(np.float16).astype(np.float64)


def exact(x):
    return np.asarray(x, np.float64)


ROUND = {"bf16": round_bf16, "fp16": round_fp16}
LOWEST = {"bf16": -3.3895313892515355e38, "fp16": -65504.0}


def rms_stats(x, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps)


def gelu_ops(t, r):
    """gelu_new as transformers writes it, each of its 8 tensor ops rounded by r."""
    p = r(t ** 3)
    p = r(0.044715 * p)
    p = r(t + p)
    p = r(math.sqrt(2.0 / math.pi) * p)
    p = r(np.tanh(p))
    p = r(1.0 + p)
    return r(r(0.5 * t) * p)


def forward(w, cfg, ids, mask, st, who):
    """last_hidden_state of the fixture in storage st ('bf16' | 'fp16') as `who` ('upstream' | 'ditc')
    computes it."""
    r = ROUND[st]
    fp16 = st == "fp16"
    N, L = ids.shape
    H, dk, nl = cfg["num_heads"], cfg["d_kv"], cfg["num_layers"]
    nb, md, eps = cfg["relative_attention_num_buckets"], cfg["relative_attention_max_distance"], cfg["layer_norm_epsilon"]
    wt = {k: (v if fp16 and k.endswith("DenseReluDense.wo.weight") else r(v)) for k, v in w.items()}
    x = wt["shared.weight"][ids]
    table = wt["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]
    buckets = np.array([t5_ref.bucket(int(o), nb, md) for o in range(-(L - 1), L)])
    by_offset = table[buckets].T
    i, j = np.arange(L)[:, None], np.arange(L)[None, :]
    bias = by_offset[:, j - i + L - 1][None]  # [1, H, L, L]
    if who == "upstream":  # the mask in the model's dtype, added to the bias in it
        madd = (1.0 - mask[:, None, None, :]) * LOWEST[st]
        with np.errstate(over="ignore"):
            pos = r(bias + madd)
    else:  # fp32 -FLT_MAX beside the fp32 bias table
        pos = bias + (1.0 - mask[:, None, None, :]) * np.finfo(np.float32).min
    stream16 = True  # the residual stream is in storage (fp16: until block 0's FFN)

    def norm(x, wn):
        return r(wn * r(rms_stats(x, eps)))

    def clamp(x):
        if not (fp16 and stream16):
            return x
        c = 65504.0 - 1000.0 if np.isinf(x).any() else 65504.0
        return r(np.clip(x, -c, c))

    for b in range(nl):
        a, f = "encoder.block.%d.layer.0" % b, "encoder.block.%d.layer.1" % b
        h = norm(x, wt[a + ".layer_norm.weight"])
        heads = lambda t: t.reshape(N, L, H, dk).transpose(0, 2, 1, 3)  # noqa: E731
        q, k, v = (heads(r(h @ wt[a + ".SelfAttention.%s.weight" % n].T)) for n in "qkv")
        s = q @ k.transpose(0, 1, 3, 2)
        if who == "upstream":
            with np.errstate(over="ignore", invalid="ignore"):
                s = r(r(s) + pos)
        else:
            s = s + pos
        s = s - s.max(-1, keepdims=True)
        p = np.exp(s)
        p = p / p.sum(-1, keepdims=True)
        if who == "upstream":
            p = r(p)
        att = r(p @ v).transpose(0, 2, 1, 3).reshape(N, L, H * dk)
        o = r(att @ wt[a + ".SelfAttention.o.weight"].T)
        x = clamp(r(x + o) if stream16 else x + o)
        h = norm(x, wt[f + ".layer_norm.weight"])
        pre = h @ wt[f + ".DenseReluDense.wi_0.weight"].T
        g = gelu_ops(r(pre), r) if who == "upstream" else r(t5_ref.gelu_new(pre))
        u = r(h @ wt[f + ".DenseReluDense.wi_1.weight"].T)
        gu = r(g * u)
        if fp16:  # g*u to fp32, wo in fp32 with an fp32 output, the stream fp32 from here on
            x, stream16 = x + gu @ wt[f + ".DenseReluDense.wo.weight"].T, False
        else:
            x = r(x + r(gu @ wt[f + ".DenseReluDense.wo.weight"].T))
    return norm(x, wt["encoder.final_layer_norm.weight"])


def nmse(a, ref):
    a, ref = np.asarray(a, np.float64), np.asarray(ref, np.float64)
    return float(((a - ref) ** 2).sum() / (ref ** 2).sum())


def main():
    cfg = json.load(open(os.path.join(G, "config.json")))
    w = t5_ref.load_f64(os.path.join(G, "weights.safetensors"))
    fwd = safetensors_np.load(os.path.join(G, "forward.safetensors"))
    ids, mask = fwd["input_ids"].astype(np.int64), fwd["attention_mask"].astype(np.float64)
    ref = fwd["last_hidden_state"].astype(np.float64)
    probe = safetensors_np.load(os.path.join(G, "bf16_probe.safetensors"))["last_hidden_state"].astype(np.float64)
    got = {(st, who): forward(w, cfg, ids, mask, st, who) for st in ("bf16", "fp16") for who in ("upstream", "ditc")}
    err = {k: nmse(v, ref) for k, v in got.items()}
    for (st, who), e in sorted(err.items()):
        print("# %s %s emulation vs the fp32 fixture: NMSE %.3g" % (who, st, e))
    ok = True

    def check(good, msg):
        nonlocal ok
        ok &= bool(good)
        print("%s - %s" % ("ok" if good else "not ok", msg))

    run = nmse(probe, ref)
    emu, other = nmse(got[("bf16", "upstream")], probe), nmse(got[("bf16", "ditc")], probe)
    check(np.isfinite(got[("fp16", "upstream")]).all() and emu * 3 <= run and emu < other,
          "the bf16 upstream emulation follows upstream's real bf16 run: NMSE %.3g from it, %.0f%% of that run's %.3g "
          "from fp32 (at most a third wanted) and %.1fx closer than ditc's placement of roundings (%.3g)"
          % (emu, 100 * emu / run, run, other / emu, other))
    for st in ("bf16", "fp16"):
        e, b = err[(st, "ditc")], BOUND[st]
        check(e * 3 <= b, "%s: the emulated ditc build at NMSE %.3g is %.0f%% of tests/gpu.sh's bound %.3g (at most a third "
              "wanted; upstream's own %s run, emulated: %.3g)" % (st, e, 100 * e / b, b, st, err[(st, "upstream")]))
    b = BOUND["fp16"]
    check(b >= 3.5 * err[("fp16", "upstream")] and err[("bf16", "ditc")] >= 3 * b,
          "fp16: the bound %.3g is about 4x the emulated upstream fp16 run (%.3g) and no rubber stamp: a build in bf16 "
          "(NMSE %.3g) lands %.0fx outside it" % (b, err[("fp16", "upstream")], err[("bf16", "ditc")],
                                                   err[("bf16", "ditc")] / b))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
