#!/usr/bin/env python3
"""Independent NumPy reference ("oracle") for the VAE decoders of the three pipelines: Open-Sora 1.2
(VideoAutoencoderPipeline), Latte-1 (AutoencoderKLTemporalDecoder) and Open-Sora-Plan v1.1.0
(CausalVAEModel), from a config.json, a checkpoint and latents to the decoded sample and the
pipeline's uint8 frames, with upstream's chunking and tiling. Float32 tensors, float64 sums inside
each op (tests/ref/vae_ops.py). The command line; the decoders are tests/ref/vae_models.py, configs
and tensor names tests/ref/vae_config.py. No torch.

Families: opensora-v1.2, latte, opensora-plan-v1.1. Commands:
  check-golden FAMILY DIR   decode DIR's latents with DIR/config.json + weights.safetensors and compare
                            every tensor of DIR/decode.safetensors (a fixture or its subset; a tensor
                            the reference cannot name fails): floats within 1e-4 * max|ref|, uint8
                            frames exact but for +-1 at rounding boundaries; Open-Sora's frame count
                            and Open-Sora-Plan's tile sizes come from DIR/meta.json
  decode FAMILY --config C --weights W --latents L --out O [--frames F] [--tiling off|S,L,ST,LT,OV]
         [--intermediates]  write sample [B, C, T, H, W] and frames_u8 [B, T, H, W, 3] (and with
                            --intermediates every chunk / tile tensor under the fixtures' names)
  random-weights FAMILY --config C --seed S --out W
                            every decoder tensor (the fixtures' draw rules) plus a few encoder tensors
  random-latents --shape B,C,T,H,W --seed S --name z|latents --out L     N(0, 1) latents
"""
import argparse
import json
import math
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402
import vae_config as vc  # noqa: E402
import vae_models as vm  # noqa: E402
import vae_ops as op  # noqa: E402

F32, F64 = np.float32, np.float64
REL = 1e-4                  # float tensors: |err| <= REL * max|ref| (the fixtures' fp32-vs-fp64 gap is ~2e-6)
INPUTS = {"z", "latents"}   # decode.safetensors entries that are the decode's input


# ---------------------------------------------------------------------------------------------------
# loading
def load_json(path):
    with open(path) as f:
        return json.load(f)


def load_weights(family, cfg, path):
    """The decoder's tensors from a checkpoint, every one checked against the config's shapes; tensors
    of the encoder side are ignored, an unknown decoder-side tensor is an error."""
    want = vc.param_shapes(family, cfg)
    w = safetensors_np.load(path)
    errors = [f"{n}: missing" for n in sorted(set(want) - set(w))]
    errors += [f"{n}: shape {list(w[n].shape)}, the config gives {want[n]}" for n in sorted(set(want) & set(w))
               if list(w[n].shape) != want[n]]
    errors += [f"{n}: not a tensor of this config's decoder" for n in sorted(w)
               if vc.decoder_side(family, n) and n not in want]
    if errors:
        raise vc.ConfigError(f"{path}: " + "; ".join(errors[:8]) + (" ..." if len(errors) > 8 else ""))
    ignored = sum(1 for n in w if n not in want)
    return {n: w[n].astype(F32) for n in want}, ignored


def load_latents(family, path):
    d = safetensors_np.load(path)
    name = vc.LATENT_NAME[family]
    if name not in d and len(d) == 1:
        name = next(iter(d))
    if name not in d:
        raise vc.ConfigError(f"{path}: no tensor '{vc.LATENT_NAME[family]}' (and more than one tensor)")
    z = d[name]
    if z.ndim != 5:
        raise vc.ConfigError(f"{path}: {name} has shape {list(z.shape)}, expected [B, C, T, H, W]")
    return z.astype(F32)


def decode(family, cfg, w, z, frames=None, tiling=vm.PIPELINE_TILING):
    """-> (sample [B, C, T, H, W], frames_u8 [B, T, H, W, 3], intermediates)."""
    if family == "opensora-v1.2":
        sample, inter = vm.decode_opensora(w, cfg, z, frames)
    elif family == "latte":
        sample, inter = vm.decode_latte(w, cfg, z)
    else:
        sample, inter = vm.decode_osp(w, cfg, z, tiling)
    u8 = op.to_u8_round if vc.U8_RULE[family] == "round" else op.to_u8_trunc
    return sample, u8(sample.transpose(0, 2, 3, 4, 1)), inter


# ---------------------------------------------------------------------------------------------------
# comparison
def compare(name, a, ref, worst):
    a, ref = np.asarray(a, F64), np.asarray(ref, F64)
    if a.shape != ref.shape:
        print(f"not ok - {name}: shape {list(a.shape)}, the fixture has {list(ref.shape)}")
        return False
    err = np.abs(a - ref)
    top = float(np.abs(ref).max()) if ref.size else 0.0
    budget = REL * top
    i = np.unravel_index(int(err.argmax()), err.shape) if err.size else ()
    e = float(err[i]) if err.size else 0.0
    used = e / budget if budget > 0 else (0.0 if e == 0 else math.inf)
    worst[name] = e / top if top > 0 else e
    ok = e <= budget
    print(("ok - " if ok else "not ok - ") + f"{name}: max|err| {e:.3e} = {worst[name]:.2e} of max|ref| {top:.4g}"
          + (f" at {list(map(int, i))} (got {a[i]:.7g}, fixture {ref[i]:.7g})" if e else "")
          + f", {100 * used:.2f}% of the budget")
    return ok


def compare_u8(name, ours, ours_sample, ref, ref_sample, rule):
    """uint8 frames: equal, or +-1 where our pre-truncation value lies within the sample tolerance
    (in uint8 units) of an integer. Also checks the fixture's own frames are the rule applied to
    its own sample (so the rule is upstream's)."""
    ok = True
    if ref_sample is not None:
        own = (op.to_u8_round if rule == "round" else op.to_u8_trunc)(ref_sample)
        same = np.array_equal(own, ref)
        print(("ok - " if same else "not ok - ") + f"{name}: the fixture's frames are the {rule} rule of its "
              f"sample{'' if same else ': %d values differ' % int((own != ref).sum())}")
        ok &= same
    if ours.shape != ref.shape:
        print(f"not ok - {name}: shape {list(ours.shape)}, the fixture has {list(ref.shape)}")
        return False
    diff = ours.astype(np.int64) - ref.astype(np.int64)
    bad = np.flatnonzero(diff)
    scale = 127.5 * REL * float(np.abs(ref_sample if ref_sample is not None else ours_sample).max())
    pre = op.u8_pre_trunc(ours_sample, rule).reshape(-1)[bad].astype(F64)
    dist = np.abs(pre - np.round(pre))
    fine = bool(np.all(np.abs(diff.reshape(-1)[bad]) <= 1) and np.all(dist <= scale))
    ok &= fine
    print(("ok - " if fine else "not ok - ") + f"{name}: {len(bad)} of {diff.size} values differ"
          + (f" (max |diff| {int(np.abs(diff).max())}, farthest {dist.max():.3g} from a rounding boundary, "
             f"allowed {scale:.3g})" if len(bad) else ""))
    return ok


def fixture_view(name):
    """'base@dK[a:b]' names hold a slice of dimension K of the tensor 'base'."""
    m = re.fullmatch(r"(.*)@d(\d+)\[(\d+):(\d+)\]", name)
    if not m:
        return name, (lambda a: a)
    k, a0, a1 = int(m.group(2)), int(m.group(3)), int(m.group(4))
    return m.group(1), (lambda a: a[(slice(None),) * k + (slice(a0, a1),)])


def cmd_check_golden(args):
    family, d = args.family, args.dir
    cfg = vc.parse_config(family, load_json(os.path.join(d, "config.json")))
    meta = load_json(os.path.join(d, "meta.json"))
    ok = True
    raw = safetensors_np.load(os.path.join(d, "weights.safetensors"))
    want = vc.param_shapes(family, cfg)
    have = {n: list(a.shape) for n, a in raw.items() if vc.decoder_side(family, n)}
    same = have == want
    print(("ok - " if same else "not ok - ") + f"weights: {len(want)} decoder tensors, names and shapes as the "
          f"config's module tree{'' if same else ': ' + str(sorted(set(have.items()) ^ set(want.items()))[:6])}; "
          f"{len(raw) - len(have)} encoder-side tensors ignored")
    ok &= same
    w, _ = load_weights(family, cfg, os.path.join(d, "weights.safetensors"))
    ref = safetensors_np.load(os.path.join(d, "decode.safetensors"))
    z = ref[vc.LATENT_NAME[family]]
    bthwc = (lambda a: a.transpose(0, 1, 3, 4, 2)) if family == "opensora-plan-v1.1" else \
        (lambda a: a.transpose(0, 2, 3, 4, 1))                        # the fixture's sample -> B T H W C
    if family == "opensora-plan-v1.1":
        sample, u8, ours = decode(family, cfg, w, z, tiling=meta["tiling"])
        ours.update(sample_btchw=sample.transpose(0, 2, 1, 3, 4), frames_u8=u8)
        u8_of = {"frames_u8": "sample_btchw", "untiled.frames_u8": "untiled.sample_btchw"}
        if any(n.startswith("untiled.") for n in ref):
            us, uu8, ui = decode(family, cfg, w, z, tiling=None)
            ours.update({k: v for k, v in ui.items() if k.startswith("untiled.")})
            ours.update({"untiled.sample_btchw": us.transpose(0, 2, 1, 3, 4), "untiled.frames_u8": uu8})
    else:
        frames = int(meta["num_frames"]) if family == "opensora-v1.2" else None
        sample, u8, ours = decode(family, cfg, w, z, frames=frames)
        ours.update(sample=sample, frames_u8=u8)
        u8_of = {"frames_u8": "sample"}
    worst = {}
    for name in sorted(ref):
        if name in INPUTS:
            continue
        base, view = fixture_view(name)
        if base not in ours:
            print(f"not ok - {name}: the reference does not reproduce this tensor")
            ok = False
        elif name in u8_of:
            src = u8_of[name]
            ok &= compare_u8(name, ours[name], bthwc(ours[src]), ref[name],
                             bthwc(ref[src]) if src in ref else None, vc.U8_RULE[family])
        elif ref[name].dtype.kind in "iu":
            same = np.array_equal(view(ours[base]), ref[name])
            print(("ok - " if same else "not ok - ") + f"{name}: {ref[name].tolist()}"
                  + ("" if same else f", the reference has {view(ours[base]).tolist()}"))
            ok &= same
        else:
            ok &= compare(name, view(ours[base]), ref[name], worst)
    if worst:
        k = max(worst, key=worst.get)
        print(f"# {family}: {len(worst)} float tensors compared, largest relative error {worst[k]:.2e} ({k})")
    return 0 if ok else 1


# ---------------------------------------------------------------------------------------------------
# decode, random weights and latents
def cmd_decode(args):
    family = args.family
    cfg = vc.parse_config(family, load_json(args.config))
    w, ignored = load_weights(family, cfg, args.weights)
    z = load_latents(family, args.latents)
    if z.shape[1] != vc.latent_channels(family, cfg):
        raise vc.ConfigError(f"{args.latents}: {z.shape[1]} latent channels, the config takes "
                             f"{vc.latent_channels(family, cfg)}")
    tiling = vm.parse_tiling(args.tiling) if args.tiling else vm.PIPELINE_TILING
    if family != "opensora-plan-v1.1" and args.tiling:
        raise vc.ConfigError("--tiling is Open-Sora-Plan's")
    if family != "opensora-v1.2" and args.frames is not None:
        raise vc.ConfigError("--frames is Open-Sora's (the others decode every latent frame)")
    sample, u8, inter = decode(family, cfg, w, z, frames=args.frames, tiling=tiling)
    out = {"sample": sample, "frames_u8": u8}
    if args.intermediates:
        out.update({k: np.ascontiguousarray(v) for k, v in inter.items()})
    safetensors_np.save(args.out, out, {"format": "pt"})
    print(f"wrote {args.out}: sample {list(sample.shape)} max|sample| {np.abs(sample).max():.4g}, frames_u8 "
          f"{list(u8.shape)}; {ignored} encoder-side tensors ignored")
    return 0


def encoder_extras(family, cfg):
    """A few encoder-side tensors (upstream names) that a decoder must ignore."""
    if family == "opensora-v1.2":
        s, t = cfg["spatial"], cfg["temporal"]
        return {"spatial_vae.module.encoder.conv_in.weight": [s["boc"][0], 3, 3, 3],
                "spatial_vae.module.encoder.conv_in.bias": [s["boc"][0]],
                "spatial_vae.module.quant_conv.weight": [2 * s["latent"], 2 * s["latent"], 1, 1],
                "temporal_vae.encoder.conv_in.conv.weight": [t["filters"], t["io"], 3, 3, 3],
                "temporal_vae.quant_conv.conv.weight": [2 * t["embed"], 2 * t["latent"], 1, 1, 1]}
    if family == "latte":
        return {"encoder.conv_in.weight": [cfg["boc"][0], 3, 3, 3], "encoder.conv_in.bias": [cfg["boc"][0]],
                "quant_conv.weight": [2 * cfg["latent"], 2 * cfg["latent"], 1, 1]}
    return {"encoder.conv_in.weight": [cfg["hidden"], 3, 3, 3], "encoder.conv_in.bias": [cfg["hidden"]],
            "quant_conv.conv.weight": [2 * cfg["embed"], 2 * cfg["z"], 1, 1, 1]}


def random_weights(family, cfg, rng):
    """Drawn like the fixtures, in sorted-name order: >= 2-D N(0, clip(1/sqrt(fan_in), 0.02, 0.2)),
    biases N(0, 0.02), norm weights 1 + N(0, 0.1), mix factors N(0, 1); Open-Sora's scale / shift
    are the config's values."""
    shapes = dict(vc.param_shapes(family, cfg), **encoder_extras(family, cfg))
    w = {}
    for name, shp in sorted(shapes.items()):
        if name in ("scale", "shift"):
            w[name] = np.asarray(cfg[name], F32).reshape(shp)
            continue
        if name.endswith("mix_factor"):
            mean, std = 0.0, 1.0
        elif name.endswith(".bias"):
            mean, std = 0.0, 0.02
        elif len(shp) == 1:
            mean, std = 1.0, 0.1
        else:
            mean, std = 0.0, float(np.clip(1 / math.sqrt(np.prod(shp[1:])), 0.02, 0.2))
        w[name] = (mean + std * rng.standard_normal(shp)).astype(F32)
    return w


def cmd_random_weights(args):
    cfg = vc.parse_config(args.family, load_json(args.config))
    w = random_weights(args.family, cfg, np.random.default_rng(args.seed))
    safetensors_np.save(args.out, w, {"format": "pt"})
    print(f"wrote {args.out}: {len(w)} tensors, {sum(a.size for a in w.values())} values")
    return 0


def cmd_random_latents(args):
    shape = [int(v) for v in args.shape.split(",")]
    if len(shape) != 5 or min(shape) < 1:
        raise vc.ConfigError("--shape takes five positive integers B,C,T,H,W")
    z = np.random.default_rng(args.seed).standard_normal(shape).astype(F32)
    safetensors_np.save(args.out, {args.name: z}, {"format": "pt"})
    print(f"wrote {args.out}: {args.name} {shape}")
    return 0


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check-golden")
    p.add_argument("family", choices=vc.FAMILIES)
    p.add_argument("dir")
    p.set_defaults(fn=cmd_check_golden)
    p = sub.add_parser("decode")
    p.add_argument("family", choices=vc.FAMILIES)
    p.add_argument("--config", required=True)
    p.add_argument("--weights", required=True)
    p.add_argument("--latents", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--frames", type=int, help="Open-Sora: video frames (default: the most the latent gives)")
    p.add_argument("--tiling", help="Open-Sora-Plan: off or SAMPLE,LATENT,SAMPLE_T,LATENT_T,OVERLAP "
                                    "(default the pipeline's 512,64,29,8,0.25)")
    p.add_argument("--intermediates", action="store_true", help="also write every chunk / tile tensor")
    p.set_defaults(fn=cmd_decode)
    p = sub.add_parser("random-weights")
    p.add_argument("family", choices=vc.FAMILIES)
    p.add_argument("--config", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_random_weights)
    p = sub.add_parser("random-latents")
    p.add_argument("--shape", required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--name", choices=("z", "latents"), required=True)
    p.add_argument("--out", required=True)
    p.set_defaults(fn=cmd_random_latents)
    args = ap.parse_args(argv)
    try:
        return args.fn(args)
    except (vc.ConfigError, OSError, KeyError) as e:
        print(f"vae_ref.py {args.cmd}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
