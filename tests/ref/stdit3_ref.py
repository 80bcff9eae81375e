#!/usr/bin/env python3
"""Independent NumPy reference ("oracle") for the Open-Sora 1.2 STDiT3 transformer forward pass.

Written from docs/upstream.md#open-sora-12 and #shared-building-blocks, not from upstream code.  No torch.

Precision choice: the oracle computes in float64 throughout, so its own rounding error is negligible
against the float32 implementations it judges.  The only places where the float32 *formula order* is
followed on purpose are inputs whose fp32 rounding is part of the definition and is amplified by large
arguments:
  * the sinusoidal timestep/fps features: freq_k = exp(-ln(1e4) k/128) and arg = t*freq_k are rounded to
    float32 (t ~ 1000, so a one-ulp change of arg is ~6e-5 rad); cos/sin of that fp32 arg are float64.
    freq_k is the *correctly rounded* fp32 value (exp in float64, then rounded).  The fixture's torch CPU
    build used SLEEF expf (u10), which is one ulp off at 15 of the 128 freqs (k = 13, 14, 26, 33, 44, ...);
    that alone moves call0.out (t = 1000) by ~1e-5 (2.5% of the 1e-4 * max|ref| budget).  Emulating SLEEF
    brings call0.out to 3.5e-6, the fixture's own fp32-vs-fp64 probe level; we keep the neutral definition.
  * the 2-D positional-embedding grid: r_i = f32(i)/f32(scale)*f32(base_size/H) (likewise c_j) and
    inv_freq are float32; the products and sin/cos are float64.
Everything else (linears, norms, softmax, RoPE angles p*freqs[k]) is float64.

Commands:
  check-golden DIR    compare against DIR/forward.safetensors (call0..2 outputs, call0.inter.*)
  make-case ...       random weights + inputs (+ call0.out from this oracle) for a config.json
  forward ...         run the oracle on a weights/inputs pair, write `out`
"""
import argparse
import json
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402

F32, F64 = np.float32, np.float64
BLOCK_KEYS = ["scale_shift_table", "attn.qkv.weight", "attn.qkv.bias", "attn.q_norm.weight",
              "attn.k_norm.weight", "attn.proj.weight", "attn.proj.bias", "cross_attn.q_linear.weight",
              "cross_attn.q_linear.bias", "cross_attn.kv_linear.weight", "cross_attn.kv_linear.bias",
              "cross_attn.proj.weight", "cross_attn.proj.bias", "mlp.fc1.weight", "mlp.fc1.bias",
              "mlp.fc2.weight", "mlp.fc2.bias"]


# ----------------------------------------------------------------------------- building blocks
def linear(x, w, name):            # x [..., in] -> [..., out]; torch layout weight [out, in]
    return x @ w[name + ".weight"].T + w[name + ".bias"]


def silu(x):
    return x / (1.0 + np.exp(-x))


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def layer_norm(x, eps=1e-6):       # over last dim, no affine
    mu = x.mean(-1, keepdims=True)
    var = ((x - mu) ** 2).mean(-1, keepdims=True)
    return (x - mu) / np.sqrt(var + eps)


def rms_norm(x, weight, eps=1e-6):  # over last dim (head dim)
    return x / np.sqrt((x * x).mean(-1, keepdims=True) + eps) * weight


def softmax_attention(q, k, v):    # q [..., Nq, D], k/v [..., Nk, D] -> [..., Nq, D]
    s = (q @ np.swapaxes(k, -1, -2)) / math.sqrt(q.shape[-1])
    s = s - s.max(-1, keepdims=True)
    p = np.exp(s)
    return (p / p.sum(-1, keepdims=True)) @ v


def sinusoid_256(t):               # t [B] -> [B, 256] = [cos(args), sin(args)], args rounded to fp32
    half = 128
    expo = F32(-math.log(10000.0)) * np.arange(half, dtype=F32) / F32(half)        # [128] fp32 ops
    freqs = np.exp(expo.astype(F64)).astype(F32)                                    # correctly rounded
    args = (np.asarray(t, F32)[:, None] * freqs[None]).astype(F32).astype(F64)                     # [B,128]
    return np.concatenate([np.cos(args), np.sin(args)], axis=-1)


def pos_embed_2d(C, H, W, scale, base_size):   # -> [H*W, C], row-major tokens, column coord first
    inv_freq = (F32(1.0) / F32(10000.0) ** (np.arange(0, C // 2, 2, dtype=F32) / F32(C // 2))).astype(F64)
    r = (np.arange(H, dtype=F32) / F32(scale) * F32(base_size / H)).astype(F64)     # [H] row positions
    c = (np.arange(W, dtype=F32) / F32(scale) * F32(base_size / W)).astype(F64)     # [W] column positions
    rr, cc = np.meshgrid(r, c, indexing="ij")                                       # [H, W] each
    ang_c = cc.reshape(-1, 1) * inv_freq[None]                                     # [HW, C/4]
    ang_r = rr.reshape(-1, 1) * inv_freq[None]
    return np.concatenate([np.sin(ang_c), np.cos(ang_c), np.sin(ang_r), np.cos(ang_r)], axis=-1)


def rope_interleaved(x, freqs):    # x [b, heads, T, D], angle(p, k) = p * freqs[k] on pair (2k, 2k+1)
    T = x.shape[-2]
    ang = np.arange(T, dtype=F64)[:, None] * freqs[None, :]                        # [T, D/2]
    cos, sin = np.cos(ang), np.sin(ang)
    x0, x1 = x[..., 0::2], x[..., 1::2]                                            # [b, heads, T, D/2]
    out = np.empty_like(x)
    out[..., 0::2] = x0 * cos - x1 * sin
    out[..., 1::2] = x1 * cos + x0 * sin
    return out


# ----------------------------------------------------------------------------- STDiT3 pieces
def self_attention(h, w, p, heads, qk_norm, rope_freqs):   # h [b, N, C] -> [b, N, C]
    b, N, C = h.shape
    D = C // heads
    qkv = linear(h, w, p + "attn.qkv").reshape(b, N, 3, heads, D).transpose(2, 0, 3, 1, 4)  # [3,b,H,N,D]
    q, k, v = qkv[0], qkv[1], qkv[2]
    if qk_norm:
        q = rms_norm(q, w[p + "attn.q_norm.weight"])
        k = rms_norm(k, w[p + "attn.k_norm.weight"])
    if rope_freqs is not None:
        q, k = rope_interleaved(q, rope_freqs), rope_interleaved(k, rope_freqs)
    o = softmax_attention(q, k, v).transpose(0, 2, 1, 3).reshape(b, N, C)           # [b, N, C]
    return linear(o, w, p + "attn.proj")


def cross_attention(x, y_list, w, p, heads):   # x [B, N, C]; y_list[b] [L_b, C] -> [B, N, C]
    B, N, C = x.shape
    D = C // heads
    q = linear(x, w, p + "cross_attn.q_linear").reshape(B, N, heads, D).transpose(0, 2, 1, 3)  # [B,H,N,D]
    out = np.empty((B, heads, N, D))
    for b in range(B):
        kv = linear(y_list[b], w, p + "cross_attn.kv_linear")                       # [L_b, 2C]
        k = kv[:, :C].reshape(-1, heads, D).transpose(1, 0, 2)                      # [H, L_b, D]
        v = kv[:, C:].reshape(-1, heads, D).transpose(1, 0, 2)
        out[b] = softmax_attention(q[b], k, v)
    return linear(out.transpose(0, 2, 1, 3).reshape(B, N, C), w, p + "cross_attn.proj")


def stdit3_block(x, y_list, t_mlp, w, p, cfg, T, S, temporal):   # x [B, T*S, C] -> same
    B, N, C = x.shape
    heads = cfg["num_heads"]
    mod = w[p + "scale_shift_table"][None] + t_mlp.reshape(B, 6, C)               # [B, 6, C]
    sh_msa, sc_msa, g_msa, sh_mlp, sc_mlp, g_mlp = [mod[:, i:i + 1] for i in range(6)]  # each [B,1,C]

    h = layer_norm(x) * (1 + sc_msa) + sh_msa                                       # [B, N, C]
    if temporal:
        h = h.reshape(B, T, S, C).transpose(0, 2, 1, 3).reshape(B * S, T, C)       # [(B S), T, C]
        o = self_attention(h, w, p, heads, cfg["qk_norm"], w["rope.freqs"])
        o = o.reshape(B, S, T, C).transpose(0, 2, 1, 3).reshape(B, N, C)
    else:
        h = h.reshape(B * T, S, C)                                                  # [(B T), S, C]
        o = self_attention(h, w, p, heads, cfg["qk_norm"], None).reshape(B, N, C)
    x = x + g_msa * o

    x = x + cross_attention(x, y_list, w, p, heads)

    h = layer_norm(x) * (1 + sc_mlp) + sh_mlp
    h = linear(gelu_tanh(linear(h, w, p + "mlp.fc1")), w, p + "mlp.fc2")
    return x + g_mlp * h


def forward(w, cfg, x, timestep, y, mask, fps, height, width):
    """STDiT3 forward. x [B,Cin,Tx,Hx,Wx], timestep [B], y [B,1,L,Cc], mask [Bp,L], fps [Bp] (or scalar),
    height/width python floats (pipeline pixel sizes).  Returns (out [B,Cout,Tx,Hx,Wx], intermediates).
    Intermediates use the fixture's call0.inter.* names; NOTE "t_embedder"/"t_block" there are the
    timestep-0 branch (see below); the values that drive the blocks are "t_embedder(timestep)" etc."""
    w = {k: np.asarray(v, F64) for k, v in w.items()}
    x = np.asarray(x, F64)
    B, Cin, Tx, Hx, Wx = x.shape
    C = cfg["hidden_size"]
    pt, ph, pw = cfg["patch_size"]
    cout = 2 * Cin if cfg["pred_sigma"] else Cin
    inter = {}

    # patch embedding: pad at the end to multiples of the patch, Conv3d(kernel = stride) as a matmul
    T, H, W = -(-Tx // pt), -(-Hx // ph), -(-Wx // pw)
    S, N = H * W, T * H * W
    xp = np.zeros((B, Cin, T * pt, H * ph, W * pw))
    xp[:, :, :Tx, :Hx, :Wx] = x
    xp = xp.reshape(B, Cin, T, pt, H, ph, W, pw).transpose(0, 2, 4, 6, 1, 3, 5, 7).reshape(B, N, -1)
    xe = xp @ w["x_embedder.proj.weight"].reshape(C, -1).T + w["x_embedder.proj.bias"]  # [B, N, C]
    inter["x_embedder"] = xe
    scale = math.sqrt(float(height) * float(width)) / cfg["input_sq_size"]
    pe = pos_embed_2d(C, H, W, scale, round(math.sqrt(S)))                          # [S, C]
    h = (xe.reshape(B, T, S, C) + pe[None, None]).reshape(B, N, C)

    # timestep + fps conditioning
    def embed(name, s):            # s [B] -> [B, C]
        return linear(silu(linear(sinusoid_256(s), w, name + ".mlp.0")), w, name + ".mlp.2")
    t = embed("t_embedder", np.asarray(timestep, F32).reshape(B))                  # [B, C]
    fps = np.asarray(fps, F32).reshape(-1)
    fe = embed("fps_embedder", np.tile(fps, B // fps.shape[0]))                     # [B, C]
    t_mlp = linear(silu(t + fe), w, "t_block.1")                                    # [B, 6C]
    inter["t_embedder(timestep)"], inter["fps_embedder"], inter["t_block(timestep)"] = t, fe, t_mlp
    t = t + fe                                                                      # [B, C]
    # The fixture's forward hooks kept the LAST call of t_embedder / t_block, which is upstream's x_mask
    # branch t0 = t_embedder(0) + fps_e, t0_mlp = t_block(t0) (dead here: x_mask is all True).  So the
    # fixture names "t_embedder" / "t_block" hold those; the live values are under "(timestep)" above.
    t0 = embed("t_embedder", np.zeros(B, F32))
    inter["t_embedder"], inter["t_block"] = t0, linear(silu(t0 + fe), w, "t_block.1")

    # caption: y_proj on every token, then keep each sample's masked-in tokens
    ye = linear(gelu_tanh(linear(np.asarray(y, F64), w, "y_embedder.y_proj.fc1")), w, "y_embedder.y_proj.fc2")
    inter["y_embedder"] = ye                                                        # [B, 1, L, C]
    mask = np.asarray(mask).reshape(-1, ye.shape[2])
    y_list = [ye[b, 0][mask[b % mask.shape[0]] != 0] for b in range(B)]             # [L_b, C] each

    for d in range(cfg["depth"]):
        h = stdit3_block(h, y_list, t_mlp, w, f"spatial_blocks.{d}.", cfg, T, S, temporal=False)
        inter[f"spatial_blocks.{d}"] = h
        h = stdit3_block(h, y_list, t_mlp, w, f"temporal_blocks.{d}.", cfg, T, S, temporal=True)
        inter[f"temporal_blocks.{d}"] = h

    # final layer (modulated by t, not t_mlp), then unpatchify and crop
    mod = w["final_layer.scale_shift_table"][None] + t[:, None]                    # [B, 2, C]
    h = layer_norm(h) * (1 + mod[:, 1:2]) + mod[:, 0:1]
    h = linear(h, w, "final_layer.linear")                                          # [B, N, pt*ph*pw*Cout]
    inter["final_layer"] = h
    out = h.reshape(B, T, H, W, pt, ph, pw, cout).transpose(0, 7, 1, 4, 2, 5, 3, 6)
    out = out.reshape(B, cout, T * pt, H * ph, W * pw)[:, :, :Tx, :Hx, :Wx]
    return out, inter


# ----------------------------------------------------------------------------- config / weights
def load_config(path):
    with open(path) as f:
        c = json.load(f)
    c = c.get("config", c)          # accept meta.json (has "config") or a plain config.json
    ps = c.get("patch_size", [1, 2, 2])
    return {"depth": int(c["depth"]), "hidden_size": int(c["hidden_size"]), "num_heads": int(c["num_heads"]),
            "patch_size": [int(v) for v in (ps if isinstance(ps, (list, tuple)) else [ps] * 3)],
            "in_channels": int(c.get("in_channels", 4)), "pred_sigma": bool(c.get("pred_sigma", True)),
            "caption_channels": int(c["caption_channels"]), "model_max_length": int(c["model_max_length"]),
            "qk_norm": bool(c.get("qk_norm", True)), "input_sq_size": float(c.get("input_sq_size", 512)),
            "mlp_ratio": float(c.get("mlp_ratio", 4.0))}


def param_shapes(cfg):
    """All upstream state-dict names and shapes (docs/upstream.md#open-sora-12-checkpoint)."""
    C, Cin, Cc = cfg["hidden_size"], cfg["in_channels"], cfg["caption_channels"]
    D, M = C // cfg["num_heads"], int(C * cfg["mlp_ratio"])
    pt, ph, pw = cfg["patch_size"]
    cout = 2 * Cin if cfg["pred_sigma"] else Cin
    s = {"x_embedder.proj.weight": [C, Cin, pt, ph, pw], "x_embedder.proj.bias": [C],
         "t_block.1.weight": [6 * C, C], "t_block.1.bias": [6 * C],
         "y_embedder.y_proj.fc1.weight": [C, Cc], "y_embedder.y_proj.fc1.bias": [C],
         "y_embedder.y_proj.fc2.weight": [C, C], "y_embedder.y_proj.fc2.bias": [C],
         "y_embedder.y_embedding": [cfg["model_max_length"], Cc], "rope.freqs": [D // 2],
         "final_layer.scale_shift_table": [2, C], "final_layer.linear.weight": [pt * ph * pw * cout, C],
         "final_layer.linear.bias": [pt * ph * pw * cout]}
    for e in ("t_embedder", "fps_embedder"):
        s.update({f"{e}.mlp.0.weight": [C, 256], f"{e}.mlp.0.bias": [C],
                  f"{e}.mlp.2.weight": [C, C], f"{e}.mlp.2.bias": [C]})
    blk = [[6, C], [3 * C, C], [3 * C], [D], [D], [C, C], [C], [C, C], [C], [2 * C, C], [2 * C], [C, C], [C],
           [M, C], [M], [C, M], [C]]
    for kind in ("spatial_blocks", "temporal_blocks"):
        for i in range(cfg["depth"]):
            for k, shp in zip(BLOCK_KEYS, blk):
                if cfg["qk_norm"] or "_norm." not in k:
                    s[f"{kind}.{i}.{k}"] = shp
    return s


def random_weights(cfg, rng):
    """Fixture re-init rules (golden README / meta.json reinit_rules), float32, sorted-name draw order."""
    w = {}
    for name, shp in sorted(param_shapes(cfg).items()):
        if name == "rope.freqs":    # fixed table 1/10000^(2k/D)
            D = 2 * shp[0]
            w[name] = (F32(1) / F32(10000) ** (np.arange(0, D, 2, dtype=F32) / F32(D))).astype(F32)
            continue
        if name == "y_embedder.y_embedding":
            std, mean = 0.5, 0.0
        elif name.endswith("_norm.weight"):
            std, mean = 0.1, 1.0
        elif name.endswith(".bias"):
            std, mean = 0.02, 0.0
        else:   # >=2-dim weights AND scale_shift_tables: N(0, clip(1/sqrt(fan_in), 0.02, 0.2)); meta.json
                # reinit_rules show the fixture's tables got this rule (0.1021 for C=96), not N(0, 0.1)
            std, mean = float(np.clip(1 / math.sqrt(np.prod(shp[1:])), 0.02, 0.2)), 0.0
        w[name] = (mean + std * rng.standard_normal(shp)).astype(F32)
    return w


# ----------------------------------------------------------------------------- CLI
def run_call(w, cfg, d, prefix):
    return forward(w, cfg, d[prefix + "x"], d[prefix + "timestep"], d[prefix + "y"], d[prefix + "mask"],
                   d[prefix + "fps"], float(d[prefix + "height"].reshape(-1)[0]),
                   float(d[prefix + "width"].reshape(-1)[0]))


def compare(name, a, ref, rel=1e-4):
    a, ref = np.asarray(a, F64), np.asarray(ref, F64)
    if a.shape != ref.shape:
        print(f"not ok - {name}: shape {a.shape} vs reference {ref.shape}")
        return False
    err = np.abs(a - ref)
    budget = rel * np.abs(ref).max()
    i = np.unravel_index(int(err.argmax()), err.shape)
    used = err[i] / budget if budget > 0 else (0.0 if err[i] == 0 else math.inf)
    msg = (f"{name}: max|err| {err[i]:.3e} at {list(map(int, i))} (got {a[i]:.7g}, ref {ref[i]:.7g}), "
           f"max|ref| {np.abs(ref).max():.4g}, {100 * used:.2f}% of budget")
    ok = bool(err[i] <= budget)
    print(("ok - " if ok else "not ok - ") + msg)
    return ok


def cmd_check_golden(args):
    cfg = load_config(os.path.join(args.dir, "meta.json"))
    w = safetensors_np.load(os.path.join(args.dir, "weights.safetensors"))
    d = safetensors_np.load(os.path.join(args.dir, "forward.safetensors"))
    missing = sorted(set(param_shapes(cfg)) ^ set(w))
    ok = True
    if missing:
        print(f"not ok - weight names differ from param_shapes(): {missing}")
        ok = False
    calls = sorted({k.split(".")[0] for k in d if k.startswith("call")})
    for c in calls:
        out, inter = run_call(w, cfg, d, c + ".")
        ok &= compare(f"{c}.out", d[c + ".out"], out)
        for k in sorted(n for n in d if n.startswith(c + ".inter.")):
            ok &= compare(k, d[k], inter[k[len(c + ".inter."):]])
    return 0 if ok else 1


def cmd_make_case(args):
    cfg = load_config(args.config)
    T, H, W = (int(v) for v in args.latent.split(","))
    L, V = args.text_len, args.valid
    if L != cfg["model_max_length"]:
        sys.exit(f"--text-len {L} must equal model_max_length {cfg['model_max_length']} (null caption rows)")
    if not 0 < V <= L:
        sys.exit("--valid must be in 1..text-len")
    rng = np.random.default_rng(args.seed)
    w = random_weights(cfg, rng)
    z = rng.standard_normal((1, cfg["in_channels"], T, H, W)).astype(F32)           # one latent
    cond = (0.5 * rng.standard_normal((1, 1, L, cfg["caption_channels"]))).astype(F32)
    one = lambda v: np.array([v], F32)                                               # noqa: E731
    inp = {"call0.x": np.concatenate([z, z]),                                        # [2,Cin,T,H,W] (CFG)
           "call0.timestep": np.array([args.timestep] * 2, F32),
           "call0.y": np.concatenate([cond, w["y_embedder.y_embedding"][None, None]]),  # [cond; null]
           "call0.mask": (np.arange(L) < V).astype(np.int64)[None],                 # [1, L]
           "call0.x_mask": np.ones((2, -(-T // cfg["patch_size"][0])), np.uint8),
           "call0.fps": one(args.fps), "call0.height": one(args.height), "call0.width": one(args.width),
           "call0.num_frames": one(args.frames), "call0.ar": one(args.height / args.width)}
    out, _ = run_call(w, cfg, inp, "call0.")
    inp["call0.out"] = out.astype(F32)
    safetensors_np.save(args.weights, w, {"format": "pt"})
    safetensors_np.save(args.inputs, inp, {"format": "pt"})
    print(f"wrote {args.weights} ({len(w)} tensors) and {args.inputs}; call0.out {list(out.shape)} "
          f"max|out| {np.abs(out).max():.4g}")
    return 0


def cmd_forward(args):
    cfg = load_config(args.config)
    w = safetensors_np.load(args.weights)
    d = safetensors_np.load(args.inputs)
    out, _ = run_call(w, cfg, d, args.prefix)
    safetensors_np.save(args.out, {"out": out.astype(F32)}, {"format": "pt"})
    print(f"wrote {args.out}: out {list(out.shape)} max|out| {np.abs(out).max():.4g}")
    if args.prefix + "out" in d:     # convenience: compare with a stored output when there is one
        return 0 if compare(args.prefix + "out (stored vs oracle)", d[args.prefix + "out"], out) else 1
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check-golden")
    p.add_argument("dir")
    p.set_defaults(fn=cmd_check_golden)
    p = sub.add_parser("make-case")
    p.add_argument("--config", required=True)
    p.add_argument("--latent", required=True, help="T,H,W latent size")
    p.add_argument("--height", type=float, required=True)
    p.add_argument("--width", type=float, required=True)
    p.add_argument("--frames", type=float, required=True)
    p.add_argument("--fps", type=float, default=24.0)
    p.add_argument("--text-len", type=int, required=True)
    p.add_argument("--valid", type=int, required=True)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--timestep", type=float, default=873.25)
    p.add_argument("--weights", required=True)
    p.add_argument("--inputs", required=True)
    p.set_defaults(fn=cmd_make_case)
    p = sub.add_parser("forward")
    p.add_argument("--config", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--inputs", required=True)
    p.add_argument("--prefix", default="call0.")
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_forward)
    args = ap.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
