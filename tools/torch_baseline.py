#!/usr/bin/env python3
"""tools/torch_baseline.py: the PyTorch baseline that tools/bench_gpu.sh times beside ditc.

Runs the sampling loop of one model in PyTorch on one device: K steps, each one forward of the
CFG batch (2 rows: conditional and unconditional), the guidance combine and the sampler's update
(RFLOW for Open-Sora 1.2, DDIM for Latte), from seeded random weights and a synthetic caption
(N(0, 0.5), every token valid, like ditc's --random-weights --bench). Two modes:
  upstream  VideoSys' own model class (STDiT3, LatteT2V) imported at run time from .upstream/VideoSys
            (tools/fetch_upstream.sh), called the way VideoSys' pipelines call it;
  own       a self-contained forward of the same math written here (docs/upstream.md,
            Open-Sora 1.2 and Latte-1), with the checkpoint's tensor names, using torch's scaled_dot_product_attention.
--mode auto (default) tries upstream and falls back to own, saying why. Sizes come from the model
description (models/<family>.lua: the architecture) and the ditc binary's --info (latent, text,
steps, cfg), so both sides run the same shapes. Prints one line per run:
  baseline <family> <variant> mode=... dtype=... steps=K loop_s=... step_s=... peak_bytes=...
--tiny runs a very small config on the CPU in float32 (a smoke test); --check compares the two
modes' forwards on that config with the same weights. Not a test of ditc, not a profiler, and it
computes no PAB: the baseline is the all-compute loop.
"""
import argparse
import importlib
import math
import os
import re
import subprocess
import sys
import time
import types

import torch

from torch_own_models import OwnLatte, OwnSTDiT3  # beside this file (the script's folder is on sys.path)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
UPSTREAM = os.path.join(REPO, ".upstream", "VideoSys")
DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}

# ---- sizes ---------------------------------------------------------------------------------

def lua_table(text, start):
    """The text of the brace-balanced Lua table that opens at text[start] == '{'."""
    depth = 0
    for i in range(start, len(text)):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[start + 1:i]
    raise ValueError("unbalanced braces")


def lua_scalars(body):
    """key = value pairs at the top level of a table body: numbers, booleans, strings, flat lists."""
    out = {}
    for key, val in re.findall(r"(\w+)\s*=\s*(\{[^{}]*\}|\"[^\"]*\"|[^,\s{}]+)", body):
        if val.startswith("{"):
            out[key] = [float(v) for v in re.findall(r"[-0-9.eE+]+", val)]
        elif val.startswith('"'):
            out[key] = val[1:-1]
        elif val in ("true", "false"):
            out[key] = val == "true"
        else:
            out[key] = float(val)
    return out


def read_model(path, variant):
    """The `config` table of a model description, with the variant's overrides, and its pixel sizes."""
    text = re.sub(r"--[^\n]*", "", open(path, encoding="utf-8").read())
    m = re.search(r"\n  config = \{", text)
    if not m:
        raise SystemExit(f"{path}: no top-level `config = {{` table")
    config = lua_scalars(lua_table(text, m.end() - 1))
    name = re.escape(variant)
    m = re.search(r"\[\"" + name + r"\"\]\s*=\s*\{|\n\s+" + name + r"\s*=\s*\{", text)
    if not m:
        raise SystemExit(f"{path}: no variant {variant}")
    body = lua_table(text, m.end() - 1)
    sub = re.search(r"\bconfig\s*=\s*\{", body)  # the variant's architecture overrides
    if sub:
        config.update(lua_scalars(lua_table(body, sub.end() - 1)))
    while re.search(r"\{[^{}]*\}", body):  # then its own scalar fields
        body = re.sub(r"(\w+\s*=\s*)?\{[^{}]*\}", "", body)
    return config, lua_scalars(body)


def read_info(binary):
    """Latent, text, steps and cfg from a ditc binary's --info (runs without a device)."""
    if not os.access(binary, os.X_OK):
        raise SystemExit(f"torch_baseline.py: no executable {binary} (build it with ninja)")
    text = subprocess.run([binary, "--info"], check=True, capture_output=True, text=True).stdout
    m = re.search(r"latent \[(\d+), (\d+), (\d+), (\d+), (\d+)\], text \[(\d+), (\d+), (\d+)\], "
                  r"sampler (\w+) (\d+) steps, cfg ([-0-9.eE+]+)", text)
    if not m:
        raise SystemExit(f"{binary} --info: no 'latent [...], text [...], sampler ...' line in:\n{text}")
    g = m.groups()
    return dict(latent=[int(v) for v in g[0:5]], text=[int(v) for v in g[5:8]], sampler=g[8],
                steps=int(g[9]), cfg=float(g[10]))


def tiny_sizes(family):
    """A CPU-sized config (float32), with the real configs' structure."""
    if family == "opensora-v1.2":
        cfg = dict(depth=2, hidden_size=64, num_heads=4, mlp_ratio=4.0, patch_size=[1, 2, 2], in_channels=4,
                   pred_sigma=True, caption_channels=32, model_max_length=8, qk_norm=True, input_sq_size=512)
        run = dict(latent=[1, 4, 3, 8, 12], text=[1, 8, 32], sampler="rflow", steps=3, cfg=7.0)
        return cfg, dict(height=64, width=96, num_frames=17), run
    cfg = dict(num_attention_heads=4, attention_head_dim=16, in_channels=4, out_channels=8, num_layers=2,
               cross_attention_dim=64, sample_size=8, patch_size=2, norm_eps=1e-6, caption_channels=32,
               video_length=4)
    return cfg, {}, dict(latent=[1, 4, 4, 8, 8], text=[1, 9, 32], sampler="ddim", steps=3, cfg=7.5)


# ---- upstream VideoSys ----------------------------------------------------------------------

class _Missing:
    """Stands in for a name that an upstream module imports but the single-GPU forward never uses."""

    def __init__(self, *args, **kwargs):
        raise RuntimeError(f"{type(self).__name__} is a stub of torch_baseline.py: its package is not installed")


# Packages upstream's model files import at module level for code the baseline never runs
# (multi-GPU process groups, config files, video writing, other models' attention classes): stubbed only when
# missing, and named in the output. Latte's module does use diffusers, so it is stubbed for STDiT3 only.
IMPORT_ONLY = {
    "colossalai.cluster.process_group_mesh": ["ProcessGroupMesh"],
    "omegaconf": ["DictConfig", "ListConfig", "OmegaConf"],
    "imageio": ["mimwrite"],
    "diffusers.models.attention": ["Attention"],
    "diffusers.models.attention_processor": ["AttnProcessor"],
}


def stub_module(name, attrs):
    parts = name.split(".")
    for i in range(1, len(parts) + 1):
        key = ".".join(parts[:i])
        if sys.modules.get(key) is None:
            sys.modules[key] = types.ModuleType(key)
        sys.modules[key].__path__ = getattr(sys.modules[key], "__path__", [])
    for a in attrs:
        setattr(sys.modules[name], a, type(a, (_Missing,), {}))


def import_upstream(family):
    """The upstream model module, and the list of stubbed packages. Raises ImportError."""
    if not os.path.isfile(os.path.join(UPSTREAM, "videosys", "models", "transformers", "open_sora_transformer_3d.py")):
        raise ImportError(f"no {os.path.relpath(UPSTREAM, REPO)} (run tools/fetch_upstream.sh GIT_DIR)")
    # videosys/__init__.py imports every pipeline (and their dependencies); the model files need
    # none of it, so the package is registered without running it
    pkg = types.ModuleType("videosys")
    pkg.__path__ = [os.path.join(UPSTREAM, "videosys")]
    sys.modules["videosys"] = pkg
    stubs = []
    for name, attrs in IMPORT_ONLY.items():
        if name.startswith("diffusers") and family != "opensora-v1.2":
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            stub_module(name, attrs)
            stubs.append(name.split(".")[0])
    file = "open_sora_transformer_3d" if family == "opensora-v1.2" else "latte_transformer_3d"
    return importlib.import_module("videosys.models.transformers." + file), sorted(set(stubs))


def single_gpu(model):
    """The single-GPU parallel manager VideoSys' pipelines set (no sequence or CFG parallelism)."""
    mgr = types.SimpleNamespace(sp_size=1, cp_size=1, dp_size=1, sp_group=None, cp_group=None, dp_group=None)
    for m in model.modules():
        if hasattr(m, "parallel_manager"):
            m.parallel_manager = mgr
        if hasattr(m, "grad_checkpointing"):
            m.grad_checkpointing = False  # STDiT3Block defaults to True (training)


def build_upstream(family, c):
    mod, stubs = import_upstream(family)
    if family == "opensora-v1.2":
        cfg = mod.STDiT3Config(depth=int(c["depth"]), hidden_size=int(c["hidden_size"]), num_heads=int(c["num_heads"]),
                               mlp_ratio=c["mlp_ratio"], patch_size=tuple(int(p) for p in c["patch_size"]),
                               in_channels=int(c["in_channels"]), pred_sigma=c["pred_sigma"],
                               caption_channels=int(c["caption_channels"]), qk_norm=c["qk_norm"],
                               model_max_length=int(c["model_max_length"]), input_sq_size=int(c["input_sq_size"]))
        model = mod.STDiT3(cfg)
    else:
        keys = ("num_attention_heads", "attention_head_dim", "in_channels", "out_channels", "num_layers",
                "cross_attention_dim", "sample_size", "patch_size", "caption_channels", "video_length")
        model = mod.LatteT2V(**{k: int(c[k]) for k in keys}, attention_bias=True, activation_fn="gelu-approximate",
                             num_embeds_ada_norm=1000, norm_type="ada_norm_single", norm_elementwise_affine=False,
                             norm_eps=c["norm_eps"])
    single_gpu(model)
    return model, stubs


def build(family, mode, c):
    """(model, mode label). mode: upstream | own | auto (upstream, else own)."""
    if mode in ("upstream", "auto"):
        try:
            model, stubs = build_upstream(family, c)
            return model, "upstream" + (f" stubs={','.join(stubs)}" if stubs else "")
        except ImportError as e:  # a missing package or no .upstream: say so, then the own forward
            if mode == "upstream":
                raise
            print(f"baseline: upstream VideoSys not used: {type(e).__name__}: {e}", flush=True)
    return (OwnSTDiT3(c) if family == "opensora-v1.2" else OwnLatte(c)), "own-forward"

# ---- weights and sampling loops ------------------------------------------------------------------

def randomize(model, seed):
    """Seeded random weights of the size ditc's --random-weights gives (runtime/core/model.c): N(0, std)
    with std = clamp(1/sqrt(fan_in), 0.02, 0.2) for matrices, 0.02 for vectors, 1 + 0.1 N(0, 1)
    for norm weights; rotary frequencies keep their fixed values."""
    gen = None
    with torch.no_grad():
        for name, t in model.state_dict().items():  # persistent tensors only, sharing storage
            if name.endswith("freqs") or not t.is_floating_point():
                continue
            if gen is None:
                gen = torch.Generator(device=t.device).manual_seed(seed)
            t.normal_(generator=gen)
            if "norm.weight" in name:
                t.mul_(0.1).add_(1.0)
            else:
                t.mul_(min(0.2, max(0.02, 1 / math.sqrt(math.prod(t.shape[1:])))) if t.dim() >= 2 else 0.02)


class OpenSoraLoop:
    """RFLOW with CFG (VideoSys RFLOW.sample): rows [cond, null]; the null caption is the model's
    learned y_embedding; the timesteps get the resolution/length transform."""

    def __init__(self, model, upstream, run, sizes, dev, dtype, seed):
        self.model, self.upstream, self.dev, self.dtype, self.cfg = model, upstream, dev, dtype, run["cfg"]
        self.Bp, self.Cin, self.T = run["latent"][0], run["latent"][1], run["latent"][2]
        self.shape, self.seed = run["latent"], seed
        g = torch.Generator(device=dev).manual_seed(seed + 1)
        bp, L, Cc = run["text"]
        y = 0.5 * torch.randn(bp, 1, L, Cc, generator=g, device=dev)
        null = model.y_embedder.y_embedding[None, None].expand(bp, 1, L, Cc).float()
        self.y = torch.cat([y, null]).to(dtype)  # [2Bp, 1, L, Cc]
        self.mask = torch.ones(bp, L, dtype=torch.int64, device=dev)  # T5 mask: every token valid
        bf = lambda v: float(torch.tensor(v, dtype=torch.bfloat16))  # the pipeline's sizes are bf16
        self.h, self.w, frames = bf(sizes["height"]), bf(sizes["width"]), int(sizes["num_frames"])
        ratio = math.sqrt(self.h * self.w / 512 ** 2) * math.sqrt(1 if frames == 1 else frames // 17 * 5)
        K = run["steps"]
        u = [(1 - i / K) for i in range(K)]
        self.ts = [ratio * t / (1 + (ratio - 1) * t) * 1000 for t in u]
        self.dts = [(self.ts[i] - (self.ts[i + 1] if i + 1 < K else 0.0)) / 1000 for i in range(K)]
        self.all_ts = [int(bf(t)) for t in self.ts]

    def init(self):
        g = torch.Generator(device=self.dev).manual_seed(self.seed)
        return torch.randn(*self.shape, generator=g, device=self.dev).to(self.dtype)

    def forward(self, x_in, i):
        t = torch.full((x_in.shape[0],), self.ts[i], device=self.dev)
        if not self.upstream:
            return self.model(x_in, t, self.y, 24.0, self.h, self.w)
        n = self.Bp
        full = lambda v: torch.full((n,), v, device=self.dev, dtype=self.dtype)
        x_mask = torch.ones(2 * n, self.T, dtype=torch.bool, device=self.dev)  # the pipeline's t2v mask
        return self.model(x_in, t, self.y, mask=self.mask, x_mask=x_mask, fps=full(24.0), height=full(self.h),
                          width=full(self.w), all_timesteps=self.all_ts)

    def step(self, z, i):
        out = self.forward(torch.cat([z, z]), i)
        vc, vu = out[:, :self.Cin].chunk(2)
        return z + (vu + self.cfg * (vc - vu)) * self.dts[i]


class LatteLoop:
    """DDIM (eta 0, leading spacing, set_alpha_to_one) with CFG: rows [uncond, cond]."""

    def __init__(self, model, upstream, run, sizes, dev, dtype, seed):
        self.model, self.upstream, self.dev, self.dtype, self.cfg = model, upstream, dev, dtype, run["cfg"]
        self.Cin, self.shape, self.seed = run["latent"][1], run["latent"], seed
        g = torch.Generator(device=dev).manual_seed(seed + 1)
        bp, L, Cc = run["text"]
        self.ctx = (0.5 * torch.randn(2 * bp, L, Cc, generator=g, device=dev)).to(dtype)  # [neg, pos]
        K = run["steps"]
        self.ratio = 1000 // K
        self.ts = torch.arange(0, K, device=dev, dtype=torch.int64).flip(0) * self.ratio
        self.ac = torch.cumprod(1 - torch.linspace(1e-4, 0.02, 1000, dtype=torch.float32), 0).tolist()

    def init(self):
        g = torch.Generator(device=self.dev).manual_seed(self.seed)
        return torch.randn(*self.shape, generator=g, device=self.dev).to(self.dtype)

    def forward(self, x_in, i):
        t = self.ts[i].expand(x_in.shape[0])
        if not self.upstream:
            return self.model(x_in, t, self.ctx)
        return self.model(x_in, all_timesteps=self.ts, encoder_hidden_states=self.ctx, timestep=t,
                          added_cond_kwargs={"resolution": None, "aspect_ratio": None},
                          enable_temporal_attentions=True, return_dict=False)[0]

    def step(self, z, i):
        out = self.forward(torch.cat([z, z]), i)
        eu, ec = out.chunk(2)
        eps = (eu + self.cfg * (ec - eu))[:, :self.Cin]
        t = int(self.ts[i])
        a_t, a_p = self.ac[t], (self.ac[t - self.ratio] if t - self.ratio >= 0 else 1.0)
        x0 = (z - math.sqrt(1 - a_t) * eps) / math.sqrt(a_t)
        return math.sqrt(a_p) * x0 + math.sqrt(1 - a_p) * eps


def timed_loop(loop, K, warmup, dev):
    """(seconds per step list); warm-up steps first from their own latent, not counted."""
    z = loop.init()
    for i in range(warmup):
        z = loop.step(z, i % K)
    z = loop.init()
    if dev.type == "cuda":
        torch.cuda.synchronize(dev)
        ev = [torch.cuda.Event(enable_timing=True) for _ in range(K + 1)]
        ev[0].record()
        for i in range(K):
            z = loop.step(z, i)
            ev[i + 1].record()
        torch.cuda.synchronize(dev)
        sec = [ev[i].elapsed_time(ev[i + 1]) / 1e3 for i in range(K)]
    else:
        sec, last = [], time.perf_counter()
        for i in range(K):
            z = loop.step(z, i)
            now = time.perf_counter()
            sec.append(now - last)
            last = now
    if not torch.isfinite(z.float()).all():
        print("baseline: warning: the final latent has NaN/Inf (random weights); the timing stands", flush=True)
    return sec

# ---- command line ------------------------------------------------------------------------------

def sizes_for(args):
    """(architecture config, pixel sizes, run shapes, storage dtype name)"""
    if args.tiny:
        c, sizes, run = tiny_sizes(args.model)
        return c, sizes, run, "fp32"
    path = os.path.join(REPO, "models", args.model + ".lua")
    c, sizes = read_model(path, args.variant)
    if not args.info_from:
        raise SystemExit("torch_baseline.py: --info-from BINARY (a ditc binary of the variant) or --tiny is needed")
    run = read_info(args.info_from)
    want = "rflow" if args.model == "opensora-v1.2" else "ddim"
    if run["sampler"] != want:
        raise SystemExit(f"{args.info_from}: sampler {run['sampler']}, but {args.model} samples with {want}")
    dtype = re.search(r'\n  dtype = "(\w+)"', open(path, encoding="utf-8").read()).group(1)
    if args.model == "opensora-v1.2":
        c["model_max_length"] = run["text"][1]  # the null caption has the variant's text length
    elif int(c["video_length"]) != run["latent"][2]:
        raise SystemExit(f"{path}: video_length {int(c['video_length'])} != the variant's {run['latent'][2]} frames")
    return c, sizes, run, dtype


def check(args):
    """Own forward vs upstream on the tiny config with the same weights: one forward, then NMSE."""
    c, sizes, run, _ = sizes_for(args)
    dev, Loop = torch.device("cpu"), OpenSoraLoop if args.model == "opensora-v1.2" else LatteLoop
    up, label = build(args.model, "upstream", c)
    randomize(up, args.seed)
    own = OwnSTDiT3(c) if args.model == "opensora-v1.2" else OwnLatte(c)
    own.load_state_dict(up.state_dict(), strict=True)
    up.eval(), own.eval()
    with torch.inference_mode():
        a_loop = Loop(up, True, run, sizes, dev, torch.float32, 0)
        b_loop = Loop(own, False, run, sizes, dev, torch.float32, 0)
        z = a_loop.init()
        for i in range(run["steps"]):
            a, b = a_loop.forward(torch.cat([z, z]), i), b_loop.forward(torch.cat([z, z]), i)
            nmse = float(((b - a) ** 2).sum() / (a ** 2).sum().clamp_min(1e-30))
            ok = nmse <= 1e-10 and bool(torch.isfinite(b).all()) and a.shape == b.shape
            print(f"check {args.model} tiny call {i}: own-forward vs {label}: nmse {nmse:.3e}, max |diff| "
                  f"{float((b - a).abs().max()):.3e} (max |ref| {float(a.abs().max()):.3e}) {'ok' if ok else 'FAILED'}")
            if not ok:
                return 1
            z = a_loop.step(z, i)
    return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, choices=["opensora-v1.2", "latte"])
    ap.add_argument("--variant", help="ditc variant name (label; Open-Sora's pixel sizes); default the released one")
    ap.add_argument("--info-from", metavar="BINARY", help="ditc binary of the variant: latent, text, steps, cfg")
    ap.add_argument("--mode", choices=["auto", "upstream", "own"], default="auto")
    ap.add_argument("--device", help="cuda (default when there is one) or cpu")
    ap.add_argument("--dtype", choices=sorted(DTYPES), help="override the family's dtype (bf16 / fp16)")
    ap.add_argument("--steps", type=int, help="override the variant's step count")
    ap.add_argument("--warmup", type=int, default=2, help="untimed steps first (default 2)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--tiny", action="store_true", help="a very small config in float32 on the CPU")
    ap.add_argument("--check", action="store_true", help="with --tiny: own forward vs upstream, same weights")
    ap.add_argument("--threads", type=int, help="CPU threads (torch.set_num_threads; default torch's)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    args.variant = args.variant or ("480p-9x16-51f" if args.model == "opensora-v1.2" else "16x512x512")
    if args.check:
        args.tiny = True
        return check(args)
    c, sizes, run, dtype_name = sizes_for(args)
    if args.steps:
        run["steps"] = args.steps
    dev = torch.device(args.device or ("cpu" if args.tiny or not torch.cuda.is_available() else "cuda"))
    dtype_name = args.dtype or dtype_name
    dtype = DTYPES[dtype_name]
    name = torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu"
    print(f"baseline device: {name} (torch {torch.__version__})", flush=True)
    with torch.device(dev):
        model, label = build(args.model, args.mode, c)
    model.to(device=dev, dtype=dtype).eval()
    randomize(model, args.seed)
    upstream = label.startswith("upstream")
    Loop = OpenSoraLoop if args.model == "opensora-v1.2" else LatteLoop
    if dev.type == "cuda":  # the peak counts the weights and the loop, not the fp32 model built first
        torch.cuda.synchronize(dev)
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(dev)
    with torch.inference_mode():
        loop = Loop(model, upstream, run, sizes, dev, dtype, args.seed)
        sec = timed_loop(loop, run["steps"], args.warmup, dev)
    peak = f"peak_bytes={torch.cuda.max_memory_allocated(dev)} reserved_bytes={torch.cuda.max_memory_reserved(dev)}" \
        if dev.type == "cuda" else "peak_bytes=n/a reserved_bytes=n/a"
    extra = " x_mask=all-true" if upstream and args.model == "opensora-v1.2" else ""
    print(f"baseline {args.model} {'tiny' if args.tiny else args.variant} mode={label}{extra} dtype={dtype_name} "
          f"device={dev.type} steps={len(sec)} warmup={args.warmup} loop_s={sum(sec):.4f} "
          f"step_s={sum(sec) / len(sec):.5f} step_min_s={min(sec):.5f} step_max_s={max(sec):.5f} {peak}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
