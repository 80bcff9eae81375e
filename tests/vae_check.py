"""tests/vae_check.py: a VAE binary's output (and --dump intermediates) against a golden decode file.

usage: python3 tests/vae_check.py OURS.safetensors GOLDEN.safetensors [--rel R] [--prefix P] [--only NAMES]

Prints one `ok - ...` / `not ok - ...` line per compared tensor, then one for frames_u8, and exits 1 on a
failure. Layouts: ditc keeps every activation [N, C, T, H, W]; where the fixture stores frames first
((n, C, H, W): a 2-D decoder's batch of frames) the ditc tensor [1, C, n, H, W] is transposed to it, and a
fixture name ending in `@dK[a:b]` (a slice the fixture kept of a large tensor) is compared with that slice
of the ditc tensor in the fixture's layout. `sample_btchw` is ditc's `sample` permuted. Integer tensors
(chunk frame counts) are not compared. --prefix P compares only fixture names starting with P (and the
final outputs), --only a comma list of fixture names.
"""
import re
import sys

import numpy as np

sys.path.insert(0, "tests/ref")
import safetensors_np as st  # noqa: E402


def to_fixture_layout(ours, ref_shape):
    """ours in ditc's layout, brought to the fixture's shape (or None when no rule applies)."""
    if ours.shape == tuple(ref_shape):
        return ours
    if ours.ndim == 5 and len(ref_shape) == 4 and ours.shape[0] == 1:  # [1, C, n, H, W] -> (n, C, H, W)
        return ours[0].transpose(1, 0, 2, 3)
    return None


def to_u8(x, mode):
    """A pipeline's uint8 rule on an fp32 sample (B C T H W) -> (B T H W C), in fp32 as written upstream:
    round (Open-Sora): (clamp(x, -1, 1) - (-1)) / 2 * 255 + 0.5, clamped to [0, 255], truncated;
    trunc (Latte, Open-Sora-Plan): clamp(x / 2 + 0.5, 0, 1) * 255, truncated. Also returns the value
    before truncation."""
    x = x.astype(np.float32)
    if mode == "round":
        v = (np.clip(x, np.float32(-1), np.float32(1)) + np.float32(1)) / np.float32(2)
        y = np.clip(v * np.float32(255) + np.float32(0.5), np.float32(0), np.float32(255))
    else:
        y = np.clip(x / np.float32(2) + np.float32(0.5), np.float32(0), np.float32(1)) * np.float32(255)
    return np.trunc(y).astype(np.uint8).transpose(0, 2, 3, 4, 1), y.transpose(0, 2, 3, 4, 1)


def check_frames(fname, ours, ref, mode, rel):
    """frames_u8: the rule on the reference sample gives the fixture's frames exactly; ditc's frames are
    the rule on ditc's sample exactly; and where they differ from the fixture's, the reference sample lies
    within ditc's sample error of a rounding boundary (counted)."""
    sname = "untiled.sample_btchw" if fname.startswith("untiled.") else (
        "sample_btchw" if "sample_btchw" in ref else "sample")
    rs = ref[sname].transpose(0, 2, 1, 3, 4) if sname.endswith("btchw") else ref[sname]
    r, o, os_ = ref[fname], ours.get("frames_u8"), ours.get("sample")
    if o is None or o.shape != r.shape or os_ is None:
        print(f"not ok - {fname}: missing or shape {None if o is None else o.shape} vs {r.shape}")
        return 1
    bad = 0
    ru, ry = to_u8(rs, mode)
    n = int((ru != r).sum())
    print(f"{'ok' if n == 0 else 'not ok'} - {fname}: the {mode} rule on the fixture's fp32 sample gives its frames "
          f"({n} of {r.size} differ)")
    bad += n != 0
    ou, _ = to_u8(os_, mode)
    n = int((ou != o).sum())
    print(f"{'ok' if n == 0 else 'not ok'} - {fname}: ditc's frames are the {mode} rule on ditc's sample "
          f"({n} of {o.size} differ)")
    bad += n != 0
    diff = np.abs(o.astype(np.int32) - r.astype(np.int32))
    near = np.abs(ry - np.round(ry)) * np.float32(2 / 255)  # the reference sample's distance to the boundary
    interior = (ry > 0) & (ry < 255)  # a clamped pixel is no boundary
    # A pixel may differ by 1 only where ditc's sample lies across a rounding boundary from the
    # reference's: the reference within |ditc - reference| of the boundary at that very pixel
    # (plus 1e-7 for the conversion's own fp32 rounding).
    err = np.abs(os_.astype(np.float64) - rs).transpose(0, 2, 3, 4, 1)
    tol = float(err.max())
    off = (diff > 1) | ((diff == 1) & (near > err + 1e-7))
    ones = diff == 1
    far = float(near[ones].max()) if ones.any() else 0.0
    print(f"{'ok' if not off.any() else 'not ok'} - {fname}: {int((diff == 0).sum())} of {diff.size} equal to the "
          f"fixture, {int(ones.sum())} differ by 1, the reference sample at most {far:.2g} from a rounding boundary "
          f"there, each within ditc's own error at that pixel (at most {tol:.2g}; "
          f"{int(((near <= 1e-6) & interior).sum())} unclamped pixels lie within 1e-6 of one), "
          f"{int(off.sum())} otherwise")
    return bad + int(off.any())


def main(argv):
    args = argv[1:]
    rel, prefix, only, exclude, mode = 1e-4, None, None, None, "round"
    for flag in ("--rel", "--prefix", "--only", "--exclude", "--mode"):
        if flag in args:
            i = args.index(flag)
            val = args[i + 1]
            del args[i:i + 2]
            if flag == "--rel":
                rel = float(val)
            elif flag == "--prefix":
                prefix = val
            elif flag == "--exclude":
                exclude = val
            elif flag == "--mode":
                mode = val
            else:
                only = set(val.split(","))
    ours, ref = st.load(args[0]), st.load(args[1])
    bad = 0

    def wanted(name):
        return ((only is None or name in only) and (prefix is None or name.startswith(prefix))
                and (exclude is None or not name.startswith(exclude)))

    for name in sorted(ref):
        r = ref[name]
        if r.dtype.kind in "iu" or name in ("frames_u8", "z", "latents"):  # the inputs, the counts, the frames
            continue
        base = name.split("@")[0]
        if not wanted(name):
            continue
        key = {"sample_btchw": "sample", "untiled.sample_btchw": "sample"}.get(base, base)
        if key.startswith("untiled.") and key not in ours and key[len("untiled."):] in ours:
            key = key[len("untiled."):]
        if key not in ours:  # the mid block's output is its last resnet's: one dump name or the other
            for a, b in ((".mid_block.resnets.1", ".mid_block"), (".mid_block", ".mid_block.resnets.1")):
                if key.endswith(a) and key[:-len(a)] + b in ours:
                    key = key[:-len(a)] + b
                    break
        if key not in ours:
            print(f"not ok - {name}: not in the ditc output")
            bad += 1
            continue
        o = ours[key]
        if base.endswith("sample_btchw"):
            o = o.transpose(0, 2, 1, 3, 4)
        m = re.search(r"@d(\d+)\[(\d+):(\d+)\]$", name)
        if m:
            d, a, b = int(m.group(1)), int(m.group(2)), int(m.group(3))
            cand = o if o.ndim == r.ndim else (o[0].transpose(1, 0, 2, 3) if o.ndim == 5 else None)
            if cand is not None:
                o = np.take(cand, range(a, b), axis=d)
        else:
            o = to_fixture_layout(o, r.shape)
        if o is None or o.shape != r.shape:
            print(f"not ok - {name}: shape {ours[key].shape} cannot be compared with {r.shape}")
            bad += 1
            continue
        scale = max(float(np.abs(r).max()), 1e-30)
        err = float(np.abs(o.astype(np.float64) - r).max())
        ok = err <= rel * scale
        bad += not ok
        print(f"{'ok' if ok else 'not ok'} - {name}: max|diff| {err:.3g} = {err / scale:.3g} of max|ref| (bound {rel:g})")
    for fname in ("frames_u8", "untiled.frames_u8"):
        if fname not in ref or not wanted(fname):
            continue
        bad += check_frames(fname, ours, ref, mode, rel)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
