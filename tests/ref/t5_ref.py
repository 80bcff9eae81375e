#!/usr/bin/env python3
"""Independent NumPy oracle of the T5 v1.1 encoder (transformers' T5EncoderModel), written from
docs/upstream.md#t5, not from upstream code. No torch. float64 throughout.

Commands:
  check-golden DIR          DIR/weights.safetensors + DIR/forward.safetensors's inputs through this
                            oracle against every stored tensor (validates the oracle itself)
  make-case CONFIG DIR L N SEED
                            random weights for CONFIG (a transformers T5Config config.json) and N rows
                            of L random token ids with varied valid lengths (one row fully padded):
                            DIR/weights.safetensors, DIR/ids.safetensors (input_ids, attention_mask,
                            I64) and DIR/ref.safetensors (last_hidden_state from this oracle)
Not a test by itself: tests/t5_test.sh runs it.
"""
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402


def bucket(r, nb, max_dist):
    """Bucket of offset r = key - query: bidirectional, nb/2 a direction, exact below nb/4."""
    half = nb // 2
    exact = half // 2
    base = half if r > 0 else 0
    n = abs(r)
    if n < exact:
        return base + n
    x = math.log(n / exact) / math.log(max_dist / exact) * (half - exact)
    return base + min(exact + int(math.floor(x + 1e-9)), half - 1)


def rms_norm(x, w, eps):
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * w


def gelu_new(t):
    return 0.5 * t * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (t + 0.044715 * t ** 3)))


def forward(w, cfg, ids, mask):
    """ids, mask [N, L] -> dict of the fixture's tensor names."""
    N, L = ids.shape
    H, dk, nl = cfg["num_heads"], cfg["d_kv"], cfg["num_layers"]
    nb, md, eps = cfg["relative_attention_num_buckets"], cfg.get("relative_attention_max_distance", 128), \
        cfg["layer_norm_epsilon"]
    out = {}
    x = w["shared.weight"][ids]
    out["hidden_states.0"] = x
    table = w["encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight"]  # [nb, H]
    offs = np.arange(-(L - 1), L)
    buckets = np.array([bucket(int(r), nb, md) for r in offs])
    by_offset = table[buckets].T  # [H, 2L-1]
    out["position_bias.by_offset"] = by_offset
    i = np.arange(L)[:, None]
    j = np.arange(L)[None, :]
    bias = by_offset[:, j - i + L - 1]  # [H, L, L]
    # the mask as upstream builds it (finfo(fp32).min), in float64: a fully masked row stays finite
    madd = (1.0 - mask[:, None, None, :]) * np.finfo(np.float32).min
    pos = bias[None] + madd  # [N, H, L, L]
    for b in range(nl):
        a, f = "encoder.block.%d.layer.0" % b, "encoder.block.%d.layer.1" % b
        h = rms_norm(x, w[a + ".layer_norm.weight"], eps)
        q = (h @ w[a + ".SelfAttention.q.weight"].T).reshape(N, L, H, dk).transpose(0, 2, 1, 3)
        k = (h @ w[a + ".SelfAttention.k.weight"].T).reshape(N, L, H, dk).transpose(0, 2, 1, 3)
        v = (h @ w[a + ".SelfAttention.v.weight"].T).reshape(N, L, H, dk).transpose(0, 2, 1, 3)
        s = q @ k.transpose(0, 1, 3, 2) + pos
        s = s - s.max(-1, keepdims=True)
        p = np.exp(s)
        p = p / p.sum(-1, keepdims=True)
        att = (p @ v).transpose(0, 2, 1, 3).reshape(N, L, H * dk)
        o = att @ w[a + ".SelfAttention.o.weight"].T
        if b == 0:
            out["block.0.attn_norm"], out["block.0.attn_out"] = h, o
        x = x + o
        if b == 0:
            out["block.0.after_attn_residual"] = x
        h = rms_norm(x, w[f + ".layer_norm.weight"], eps)
        g = gelu_new(h @ w[f + ".DenseReluDense.wi_0.weight"].T)
        u = h @ w[f + ".DenseReluDense.wi_1.weight"].T
        ff = (g * u) @ w[f + ".DenseReluDense.wo.weight"].T
        if b == 0:
            out["block.0.ff_norm"], out["block.0.ff_gelu_wi0"], out["block.0.ff_out"] = h, g, ff
        x = x + ff
        out["hidden_states.%d" % (b + 1) if b < nl - 1 else "block.%d.out" % b] = x
    out["last_hidden_state"] = rms_norm(x, w["encoder.final_layer_norm.weight"], eps)
    return out


def load_f64(path):
    return {k: v.astype(np.float64) for k, v in safetensors_np.load(path).items()}


def cmd_check_golden(d):
    cfg = json.load(open(os.path.join(d, "config.json")))
    w = load_f64(os.path.join(d, "weights.safetensors"))
    fwd = safetensors_np.load(os.path.join(d, "forward.safetensors"))
    ref = forward(w, cfg, fwd["input_ids"].astype(np.int64), fwd["attention_mask"].astype(np.float64))
    bad = 0
    for name, mine in ref.items():
        if name not in fwd:
            continue
        want = fwd[name].astype(np.float64)
        err = float(np.abs(mine - want).max())
        budget = 2e-5 * max(1.0, float(np.abs(want).max()))  # the fixture is fp32: ~1e-5 of its own rounding
        ok = err <= budget
        bad += not ok
        print("%s - numpy oracle vs the fixture's %s: max|err| %.3g (%.0f%% of %.3g)" % (
            "ok" if ok else "not ok", name, err, 100 * err / budget, budget))
    buckets = fwd["relative_position_bucket.offsets_pm1024"]
    mine = np.array([bucket(r, cfg["relative_attention_num_buckets"], cfg["relative_attention_max_distance"])
                     for r in range(-1024, 1025)])
    same = bool((mine == buckets).all())
    bad += not same
    print("%s - numpy oracle's buckets of offsets -1024..1024 equal the fixture's" % ("ok" if same else "not ok"))
    return 1 if bad else 0


def cmd_make_case(config, d, L, N, seed):
    cfg = json.load(open(config))
    rng = np.random.default_rng(seed)
    D, H, dk, F, V = cfg["d_model"], cfg["num_heads"], cfg["d_kv"], cfg["d_ff"], cfg["vocab_size"]
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    w = {"shared.weight": f32(rng.normal(0, 1, (V, D))),
         "encoder.final_layer_norm.weight": f32(1 + rng.normal(0, 0.1, D)),
         "encoder.block.0.layer.0.SelfAttention.relative_attention_bias.weight":
             f32(rng.normal(0, 1, (cfg["relative_attention_num_buckets"], H)))}
    for b in range(cfg["num_layers"]):
        a, f = "encoder.block.%d.layer.0" % b, "encoder.block.%d.layer.1" % b
        w[a + ".layer_norm.weight"] = f32(1 + rng.normal(0, 0.1, D))
        for n in "qkv":
            w[a + ".SelfAttention.%s.weight" % n] = f32(rng.normal(0, 1 / math.sqrt(D), (H * dk, D)))
        w[a + ".SelfAttention.o.weight"] = f32(rng.normal(0, 1 / math.sqrt(H * dk), (D, H * dk)))
        w[f + ".layer_norm.weight"] = f32(1 + rng.normal(0, 0.1, D))
        w[f + ".DenseReluDense.wi_0.weight"] = f32(rng.normal(0, 1 / math.sqrt(D), (F, D)))
        w[f + ".DenseReluDense.wi_1.weight"] = f32(rng.normal(0, 1 / math.sqrt(D), (F, D)))
        w[f + ".DenseReluDense.wo.weight"] = f32(rng.normal(0, 1 / math.sqrt(F), (D, F)))
    ids = np.zeros((N, L), np.int64)
    mask = np.zeros((N, L), np.int64)
    for r in range(N):
        n = [L, 1, 0, L // 2 + 1][r % 4] if r < 4 else int(rng.integers(1, L + 1))
        if n:
            ids[r, :n - 1] = rng.integers(2, V, n - 1)
            ids[r, n - 1] = 1  # EOS
            mask[r, :n] = 1
    ref = forward({k: v.astype(np.float64) for k, v in w.items()}, cfg, ids, mask.astype(np.float64))
    os.makedirs(d, exist_ok=True)
    safetensors_np.save(os.path.join(d, "weights.safetensors"), w)
    safetensors_np.save(os.path.join(d, "ids.safetensors"), {"input_ids": ids, "attention_mask": mask})
    safetensors_np.save(os.path.join(d, "ref.safetensors"), {"last_hidden_state": f32(ref["last_hidden_state"])})
    return 0


def main(argv):
    if len(argv) == 3 and argv[1] == "check-golden":
        return cmd_check_golden(argv[2])
    if len(argv) == 7 and argv[1] == "make-case":
        return cmd_make_case(argv[2], argv[3], int(argv[4]), int(argv[5]), int(argv[6]))
    sys.exit(__doc__)


if __name__ == "__main__":
    sys.exit(main(sys.argv))
