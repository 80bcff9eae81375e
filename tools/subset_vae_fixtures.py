#!/usr/bin/env python3
"""tools/subset_vae_fixtures.py: makes the copies of the three upstream VAE fixtures that the tests
read (tests/golden/vae-opensora-v1.2/, vae-latte/, vae-opensora-plan-v1.1/) from the full fixtures
(tests/golden/README-vae.md says where they come from). Not part of any test run; rerun by hand when
the fixtures change:

    python3 tools/subset_vae_fixtures.py FULL [DEST]      # FULL holds vae-opensora-v1.2/ ...; DEST tests/golden

Each copy keeps config.json and meta.json as they are; weights.safetensors with every decoder-side
tensor plus the two smallest encoder-side ones (a decoder must ignore them); decode.safetensors with
the latents, the outputs, every chunk / tile tensor, and the per-block intermediates under
BLOCK_LIMIT bytes each, the largest of those dropped first (over all three files) until the three
decode files hold at most DECODE_BUDGET bytes of data. Tensors are copied bit for bit (checked after
writing) and the output is the same bytes on every run. Prints what it kept and the file sizes.
"""
import os
import re
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "ref"))
import safetensors_np as st  # noqa: E402
import vae_config as vc  # noqa: E402

FAMILIES = ("opensora-v1.2", "latte", "opensora-plan-v1.1")
BLOCK_LIMIT = 150_000       # bytes: larger per-block intermediates are never kept
DECODE_BUDGET = 2_500_000   # bytes of tensor data in the three decode.safetensors together
ENCODER_KEEP = 2            # encoder-side tensors kept in each weights file

# decode.safetensors entries always kept: inputs, outputs, and every chunk / tile / latent-scaling step
ALWAYS = re.compile(r"(z|latents|latents_scaled|z_unnormalized|x_z|sample|sample_btchw|frames_u8"
                    r"|untiled\.sample_btchw|untiled\.frames_u8|spatial\.mb0\.(in|out)"
                    r"|temporal\.chunk\d+\.(z|out|num_frames)|chunk\d+\.(z|sample|num_frames)"
                    r"|tiled\.call\d+\.decoder_(in|out))")


def first_frame(name, shape):
    """The fixtures' own name for frame 0 of a block tensor ('base@dK[0:1]', K the frame axis: 2 of a
    [B, C, T, H, W] video, 0 of an [n, C, H, W] chunk of images), or None when it has one frame."""
    if "@" in name:
        return None
    k = 2 if len(shape) == 5 else 0 if len(shape) == 4 else None
    return None if k is None or shape[k] < 2 else f"{name}@d{k}[0:1]"


def plan(src):
    """-> {family: (weight names, decode names)} and the block tensors over the budget as
    (family, name, bytes, the frame-0 name kept instead or None)."""
    keep, blocks = {}, []
    size = lambda h, n: h[n]["data_offsets"][1] - h[n]["data_offsets"][0]    # noqa: E731
    for fam in FAMILIES:
        d = os.path.join(src, "vae-" + fam)
        wh, _, _ = st.read_header(os.path.join(d, "weights.safetensors"))
        enc = sorted((n for n in wh if not vc.decoder_side(fam, n)), key=lambda n: (size(wh, n), n))
        wnames = sorted([n for n in wh if vc.decoder_side(fam, n)] + enc[:ENCODER_KEEP])
        dh, _, _ = st.read_header(os.path.join(d, "decode.safetensors"))
        dnames = [n for n in dh if ALWAYS.fullmatch(n)]
        for n in dh:
            if not ALWAYS.fullmatch(n) and size(dh, n) < BLOCK_LIMIT:
                blocks.append((size(dh, n), fam, n, dh[n]["shape"]))
        keep[fam] = (wnames, dnames, sum(size(dh, n) for n in dnames))
    total = sum(t for _, _, t in keep.values()) + sum(b[0] for b in blocks)
    blocks.sort(key=lambda b: (-b[0], b[1], b[2]))                    # largest first, then by name
    cut = []
    while blocks and total > DECODE_BUDGET:
        nbytes, fam, n, shape = blocks.pop(0)
        short = first_frame(n, shape)
        total -= nbytes
        if short is not None:                                          # frame 0 of it stays
            total += nbytes // shape[2 if len(shape) == 5 else 0]
            keep[fam][1].append(short)
        cut.append((fam, n, nbytes, short))
    for _, fam, n, _ in blocks:
        keep[fam][1].append(n)
    return {f: (w, sorted(d)) for f, (w, d, _) in keep.items()}, cut


def copy_subset(src_path, dst_path, names):
    """Writes names of src_path into dst_path; 'base@dK[0:1]' is frame 0 of base (see first_frame)."""
    full = st.load(src_path)
    _, meta, _ = st.read_header(src_path)
    out = {}
    for n in names:
        m = None if n in full else re.fullmatch(r"(.*)@d(\d)\[0:1\]", n)
        out[n] = np.ascontiguousarray(full[m.group(1)][(slice(None),) * int(m.group(2)) + (slice(0, 1),)]) \
            if m else full[n]
    st.save(dst_path, out, meta or None)
    back = st.load(dst_path)
    for n in names:         # bit-identical copies (same dtype, shape and bytes)
        assert back[n].dtype == out[n].dtype and back[n].shape == out[n].shape and \
            back[n].tobytes() == out[n].tobytes(), f"{dst_path}: {n} is not a bit-exact copy"


def main(argv):
    if len(argv) not in (2, 3):
        sys.exit(__doc__)
    src = argv[1]
    here = os.path.dirname(os.path.abspath(__file__))
    dst = argv[2] if len(argv) == 3 else os.path.join(here, "..", "tests", "golden")
    keep, cut = plan(src)
    total = 0
    for fam in FAMILIES:
        s, d = os.path.join(src, "vae-" + fam), os.path.join(dst, "vae-" + fam)
        os.makedirs(d, exist_ok=True)
        for f in ("config.json", "meta.json"):
            shutil.copyfile(os.path.join(s, f), os.path.join(d, f))
        wnames, dnames = keep[fam]
        copy_subset(os.path.join(s, "weights.safetensors"), os.path.join(d, "weights.safetensors"), wnames)
        copy_subset(os.path.join(s, "decode.safetensors"), os.path.join(d, "decode.safetensors"), dnames)
        print(f"vae-{fam}: weights {len(wnames)} tensors, decode {len(dnames)} tensors")
        for f in ("config.json", "meta.json", "weights.safetensors", "decode.safetensors"):
            n = os.path.getsize(os.path.join(d, f))
            total += n
            print(f"  {f:20s} {n:>9d} bytes")
    for fam, n, size, short in cut:
        print(f"over the decode budget: vae-{fam} {n} ({size} bytes) " + (f"kept as {short}" if short else "dropped"))
    print(f"total {total} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
