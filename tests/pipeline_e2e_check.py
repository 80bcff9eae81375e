#!/usr/bin/env python3
"""tests/pipeline_e2e_check.py: a pipeline binary's --out (with --save-steps) against an end-to-end
fixture (tests/golden/e2e-*: VideoSys' own pipelines from a prompt string to uint8 frames).

usage: python3 tests/pipeline_e2e_check.py OURS.safetensors FIXTURE.safetensors RUN FAMILY

RUN is nopab or pab, FAMILY os12 or latte. Prints one ok / not ok line per check:
- input_ids and attention_mask exactly the fixture's (the tokenizer);
- the text encoder's output (y, or prompt_embeds and negative_prompt_embeds) within 1e-5 of max|ref|:
  the T5 fixture's own bound (tests/t5_test.sh; fp32 in another summation order);
- every step's latent within 1e-4 of that step's max|ref|, and the final one: the DiT fixtures' bound
  (tests/e2e.sh; legitimate fp32 differences are ~1e-6). Where the fixture keeps a slice of each step
  (Open-Sora's RUN.latents.c0h9, for size), the slice is compared against the whole step's max|ref|;
- frames_u8 (or the kept frames) exactly the fixture's, but for pixels that differ by 1 where the
  reference fp32 sample lies within 2e-5 of a rounding boundary (RUN.near_index): the sample's fp32 error
  after a whole pipeline (measured at most 8.6e-6, Open-Sora, PAB off). The issue's 1e-6 is below
  that error (the VAE alone differs from upstream by up to 1.4e-5 in fp32, tests/vae_test.sh), so the
  pixels within 1e-6 are counted and printed, not required. Upstream keeps no fp32 sample of Open-Sora's
  PAB run: there, every difference must be 1 and fewer than 0.1% of the pixels (measured 0.02%).
"""
import sys

import numpy as np

sys.path.insert(0, "tests/ref")
import safetensors_np as st  # noqa: E402

bad = 0


def check(ok, msg):
    global bad
    print(("ok - " if ok else "not ok - ") + msg)
    bad += not ok


def rel(a, b):
    return float(np.abs(a.astype(np.float64) - b).max() / max(np.abs(b).max(), 1e-30))


def main(argv):
    ours, ref, run, fam = st.load(argv[1]), st.load(argv[2]), argv[3], argv[4]
    tag = f"{fam} {run}"
    # the text phase
    pre = "" if fam == "os12" else "prompt."
    for name in ("input_ids", "attention_mask"):
        check(np.array_equal(ours[name].astype(np.int64), ref[pre + name]), f"{tag}: {name} = the fixture's")
    if fam == "os12":
        e = rel(ours["y"][:, None] if ours["y"].ndim == 3 else ours["y"], ref["t5_last_hidden_state"][:, None])
        check(e <= 1e-5, f"{tag}: y (the T5 output) within 1e-5 of max|ref| ({e:.2g})")
    else:
        for ours_name, ref_name in (("prompt_embeds", "prompt.t5_last_hidden_state"),
                                    ("negative_prompt_embeds", "negative.t5_last_hidden_state")):
            e = rel(ours[ours_name], ref[ref_name])
            check(e <= 1e-5, f"{tag}: {ours_name} (the T5 output) within 1e-5 of max|ref| ({e:.2g})")
    # the denoise phase: every step
    lat = ours["latents"]
    if run + ".latents" in ref:
        r = ref[run + ".latents"]
        worst = max(rel(lat[i], r[i]) for i in range(len(r)))
        n = len(r)
    else:
        r, absmax = ref[run + ".latents.c0h9"], ref[run + ".latents.absmax"]
        sl = lat[:, :, 0, :, :9]
        worst = max(float(np.abs(sl[i].astype(np.float64) - r[i]).max() / absmax[i]) for i in range(len(r)))
        n = len(r)
    check(lat.shape[0] == n and worst <= 1e-4, f"{tag}: all {n} steps' latents within 1e-4 of max|ref| (worst {worst:.2g})")
    e = rel(ours["final"], ref[run + ".final_latent"])
    check(e <= 1e-4, f"{tag}: the final latent within 1e-4 of max|ref| ({e:.2g})")
    # the decode phase
    frames = ours["frames_u8"]
    keys = [k for k in ref if k.startswith(run + ".frames_u8")]
    key = keys[0]
    if key != run + ".frames_u8":  # a kept subset of frames: RUN.frames_u8.fA-B-C
        frames = frames[:, [int(x) for x in key.split(".f")[-1].split("-")]]
    r = ref[key]
    diff = np.abs(frames.astype(np.int32) - r.astype(np.int32)).reshape(-1)
    ones = np.flatnonzero(diff == 1)
    if run + ".near_index" in ref:
        near = ref[run + ".near_index"]
        dist = dict(zip(near.tolist(), ref[run + ".near_dist"].tolist()))
        off = [i for i in ones.tolist() if i not in dist]
        far = max((dist[i] for i in ones.tolist() if i in dist), default=0.0)
        tight = sum(1 for i in ones.tolist() if i in dist and dist[i] <= 1e-6)
        check(diff.max() <= 1 and not off,
              f"{tag}: {key} equal but {len(ones)} of {diff.size} pixels off by 1, each where the reference sample "
              f"lies within 2e-5 of a rounding boundary (at most {far:.2g}; {tight} of them within 1e-6); "
              f"{len(off)} elsewhere")
    else:
        check(diff.max() <= 1 and len(ones) < diff.size // 1000,
              f"{tag}: {key} equal but {len(ones)} of {diff.size} pixels off by 1 (bound 0.1%: upstream keeps no "
              f"fp32 sample of this run)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
