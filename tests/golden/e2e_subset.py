"""tests/golden/e2e_subset.py: makes the copies of the two end-to-end fixtures that tests/cond_test.sh
reads (tests/golden/e2e-opensora-v1.2/, tests/golden/e2e-latte/) from a full copy of them: the T5
folders' config.json and sharded weights, the transformer's config.json and weights (bit-identical
copies), the prompt strings of meta.json as JSON arrays, and e2e.safetensors with only the tensors
the test uses (bit-identical values; the first DiT call's input latent, cat(z0, z0), kept as its
half z0, which is also the sampling run's initial noise). Not part of any test run.

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
        ],
        "tensors": ["input_ids", "attention_mask", "t5_last_hidden_state", "call0.timestep", "call0.out",
                    "nopab.final_latent"],
        "half": ("call0.x", "nopab.z0"),
    },
    "latte": {
        "files": [
            ("maxin-cn/Latte-1/text_encoder", ["config.json", "model.safetensors.index.json",
                                               "model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"]),
            ("maxin-cn/Latte-1/transformer", ["config.json", "diffusion_pytorch_model.safetensors"]),
        ],
        "tensors": ["prompt.input_ids", "prompt.attention_mask", "prompt.t5_last_hidden_state", "negative.input_ids",
                    "negative.attention_mask", "negative.t5_last_hidden_state", "cond.encoder_hidden_states",
                    "call0.timestep", "call0.out", "nopab.final_latent"],
        "half": ("call0.hidden_states", "nopab.z0"),
    },
}


def main():
    kind, src, dst = sys.argv[1:4]
    keep = KEEP[kind]
    for folder, names in keep["files"]:
        os.makedirs(os.path.join(dst, folder), exist_ok=True)
        for n in names:
            shutil.copyfile(os.path.join(src, folder, n), os.path.join(dst, folder, n))
    full = st.load(os.path.join(src, "e2e.safetensors"))
    out = {n: full[n] for n in keep["tensors"]}
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
