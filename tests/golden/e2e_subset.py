"""tests/golden/e2e_subset.py: makes the copies of the two end-to-end fixtures that tests/cond_test.sh
and tests/pipeline_test.sh read (tests/golden/e2e-opensora-v1.2/, tests/golden/e2e-latte/) from a full
copy of them: the T5 folders' config.json and sharded weights, the transformer's config.json and
weights (bit-identical copies), the VAE's config.json and the decoder's tensors of its checkpoint
(the encoder's, which no decode reads, left out), the prompt strings of meta.json as JSON arrays,
and e2e.safetensors with only the tensors the tests use (bit-identical values; the first DiT call's
input latent, cat(z0, z0), kept as its half z0, which is also the sampling runs' initial noise) and,
where the whole tensor does not fit the repository's size budget, a named slice of it:
  RUN.latents.c0h9      RUN.latents[:, :, 0, :, :9] (Open-Sora: every step's latent, channel 0, the
                        first 9 of 18 latent rows) with RUN.latents.absmax [K], each step's max|latent|
  RUN.frames_u8.f0-8-16 RUN.frames_u8[:, [0, 8, 16]] (Open-Sora: 3 of the 17 frames)
  RUN.near_index, RUN.near_dist
                        where the reference fp32 sample lies within NEAR of a uint8 rounding boundary
                        (in the kept frames' flat index; int64), and its distance there (in sample
                        units): the pixels where an fp32 reimplementation may round the other way
Not part of any test run.

    python3 tests/golden/e2e_subset.py os12 FULL/e2e-opensora-v1.2 tests/golden/e2e-opensora-v1.2
    python3 tests/golden/e2e_subset.py latte FULL/e2e-latte tests/golden/e2e-latte
"""
import json
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "ref"))
import safetensors_np as st  # noqa: E402

# ---- what each fixture keeps ------------------------------------------------------------------------
# (folder, files) copied as they are; the tokenizer's spiece.model is the same file as tests/golden/t5's
KEEP = {
    "os12": {
        "files": [
            ("DeepFloyd/t5-v1_1-xxl-sharded", ["config.json", "model.safetensors.index.json",
                                               "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]),
            ("hpcai-tech/OpenSora-STDiT-v3", ["config.json", "model.safetensors"]),
            ("hpcai-tech/OpenSora-VAE-v1.2", ["config.json"]),
        ],
        "decoder": ("hpcai-tech/OpenSora-VAE-v1.2", "model.safetensors"),
        "runs": {"latents": "c0h9", "frames": [0, 8, 16], "rule": "round"},
        "tensors": ["input_ids", "attention_mask", "t5_last_hidden_state", "call0.timestep", "call0.out",
                    "nopab.final_latent"],
        "half": ("call0.x", "nopab.z0"),
    },
    "latte": {
        "files": [
            ("maxin-cn/Latte-1/text_encoder", ["config.json", "model.safetensors.index.json",
                                               "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]),
            ("maxin-cn/Latte-1/transformer", ["config.json", "diffusion_pytorch_model.safetensors"]),
            ("maxin-cn/Latte-1/vae_temporal_decoder", ["config.json"]),
        ],
        "decoder": ("maxin-cn/Latte-1/vae_temporal_decoder", "diffusion_pytorch_model.safetensors"),
        "runs": {"latents": None, "frames": None, "rule": "trunc"},
        "tensors": ["prompt.input_ids", "prompt.attention_mask", "prompt.t5_last_hidden_state", "negative.input_ids",
                    "negative.attention_mask", "negative.t5_last_hidden_state", "cond.encoder_hidden_states",
                    "call0.timestep", "call0.out", "nopab.final_latent"],
        "half": ("call0.hidden_states", "nopab.z0"),
    },
}


# The distance to a rounding boundary (in sample units) within which a pixel is listed: an fp32
# reimplementation's sample differs from upstream's by ~1e-5 at most (tests/pipeline_test.sh).
NEAR = 2e-5
ENCODER = ("encoder.", "quant_conv.", "spatial_vae.module.encoder.", "spatial_vae.module.quant_conv.",
           "temporal_vae.encoder.", "temporal_vae.quant_conv.")


def boundary_dist(sample, rule):
    """The reference sample's distance to the uint8 rounding boundary, per pixel in frames_u8's layout
    (B, F, H, W, C), in sample units. round (Open-Sora): (clamp(x,-1,1)+1)/2*255+0.5 truncated, boundary at
    integers; trunc (Latte): clamp(x/2+0.5,0,1)*255 truncated, boundary at integers. Clamped pixels: inf."""
    x = sample.astype(np.float32)
    if rule == "round":  # (B, C, F, H, W)
        v = (np.clip(x, np.float32(-1), np.float32(1)) + np.float32(1)) / np.float32(2) * np.float32(255) + np.float32(0.5)
        v = v.transpose(0, 2, 3, 4, 1)
        inside = (x > -1) & (x < 1)
    else:  # ((B F), C, H, W)
        v = np.clip(x / np.float32(2) + np.float32(0.5), np.float32(0), np.float32(1)) * np.float32(255)
        v = v.transpose(0, 2, 3, 1)[None]
        inside = ((x > -1) & (x < 1)).transpose(0, 2, 3, 1)[None]
    d = np.abs(v - np.round(v)).astype(np.float64) * 2 / 255
    if rule == "round":
        inside = inside.transpose(0, 2, 3, 4, 1)
    return np.where(inside, d, np.inf)


def pipeline_tensors(full, runs, out):
    """The per-step latents, the frames and the near-boundary pixels of both runs (see the docstring)."""
    assert np.array_equal(full["nopab.z0"], full["pab.z0"]), "the two runs start from different noise"
    for run in ("nopab", "pab"):
        lat = full[run + ".latents"]
        if runs["latents"] == "c0h9":
            out[run + ".latents.c0h9"] = np.ascontiguousarray(lat[:, :, 0, :, :9])
            out[run + ".latents.absmax"] = np.abs(lat).reshape(lat.shape[0], -1).max(axis=1).astype(np.float32)
        else:
            out[run + ".latents"] = lat
        out[run + ".final_latent"] = full[run + ".final_latent"]
        frames = full[run + ".frames_u8"]
        keep = runs["frames"]
        if keep:
            out[run + ".frames_u8.f" + "-".join(map(str, keep))] = np.ascontiguousarray(frames[:, keep])
        else:
            out[run + ".frames_u8"] = frames
        if run + ".decoded_sample" in full:  # upstream keeps no fp32 sample of Open-Sora's PAB run
            d = boundary_dist(full[run + ".decoded_sample"], runs["rule"])
            assert d.shape == frames.shape, (d.shape, frames.shape)
            if keep:
                d = d[:, keep]
            idx = np.flatnonzero(d <= NEAR)
            out[run + ".near_index"] = idx.astype(np.int64)
            out[run + ".near_dist"] = d.reshape(-1)[idx].astype(np.float32)


def main():
    kind, src, dst = sys.argv[1:4]
    keep = KEEP[kind]
    for folder, names in keep["files"]:
        os.makedirs(os.path.join(dst, folder), exist_ok=True)
        for n in names:
            shutil.copyfile(os.path.join(src, folder, n), os.path.join(dst, folder, n))
    folder, name = keep["decoder"]
    vae = st.load(os.path.join(src, folder, name))
    st.save(os.path.join(dst, folder, name), {n: t for n, t in vae.items() if not n.startswith(ENCODER)})
    full = st.load(os.path.join(src, "e2e.safetensors"))
    out = {n: full[n] for n in keep["tensors"]}
    pipeline_tensors(full, keep["runs"], out)
    both, half = keep["half"]
    assert np.array_equal(full[both], np.concatenate([full[half], full[half]])), f"{both} is not cat({half}, {half})"
    out[half] = full[half]
    meta = json.load(open(os.path.join(src, "meta.json")))
    if kind == "os12":
        assert np.array_equal(full["call0.mask"], full["attention_mask"]), "call0.mask is not the prompt's mask"
        prompts = {"prompt.json": [meta["text"]["prompt"]]}
    else:
        calls = meta["text"]["text_preprocessing_calls"]
        prompts = {"prompt.json": [calls[0]["in"]], "negative.json": calls[1]["in"]}
    for name, value in prompts.items():
        with open(os.path.join(dst, name), "w", encoding="utf-8") as f:
            json.dump(value, f, ensure_ascii=False)
            f.write("\n")
    st.save(os.path.join(dst, "e2e.safetensors"), out)


if __name__ == "__main__":
    main()
