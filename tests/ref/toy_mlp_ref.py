#!/usr/bin/env python3
"""NumPy oracle of the toy network (tests/models/toy-mlp.lua, class ToyMLP in gen/families/toy_mlp.lua):
y = RMSNorm(fc2(GELU_tanh(fc1(x)))) * norm.weight, computed in float64.

  make DIR IN OUT HIDDEN ROWS SEED   random weights (weights.safetensors), input (in.safetensors: x)
                                     and this oracle's y and intermediates (ref.safetensors)
Not a test by itself: tests/network_test.sh runs it and compares with build/tests/stcmp.
"""
import math
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402


def gelu_tanh(x):
    return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x ** 3)))


def forward(w, x, eps):
    fc1 = gelu_tanh(x @ w["fc1.weight"].T + w["fc1.bias"])
    fc2 = fc1 @ w["fc2.weight"].T + w["fc2.bias"]
    norm = fc2 / np.sqrt((fc2 * fc2).mean(-1, keepdims=True) + eps) * w["norm.weight"]
    return {"fc1": fc1, "fc2": fc2, "y": norm}


def main(argv):
    if len(argv) != 8 or argv[1] != "make":
        sys.exit(__doc__)
    out_dir, din, dout, hidden, rows, seed = argv[2], *map(int, argv[3:8])
    rng = np.random.default_rng(seed)
    f32 = lambda a: a.astype(np.float32)  # what the files hold; the oracle reads them back as float64
    w = {
        "fc1.weight": f32(rng.normal(0, 1 / math.sqrt(din), (hidden, din))),
        "fc1.bias": f32(rng.normal(0, 0.1, hidden)),
        "fc2.weight": f32(rng.normal(0, 1 / math.sqrt(hidden), (dout, hidden))),
        "fc2.bias": f32(rng.normal(0, 0.1, dout)),
        "norm.weight": f32(1 + rng.normal(0, 0.1, dout)),
    }
    x = f32(rng.normal(0, 1, (rows, din)))
    ref = forward({k: v.astype(np.float64) for k, v in w.items()}, x.astype(np.float64), 1e-6)
    safetensors_np.save(os.path.join(out_dir, "weights.safetensors"), w)
    safetensors_np.save(os.path.join(out_dir, "in.safetensors"), {"x": x})
    safetensors_np.save(os.path.join(out_dir, "ref.safetensors"), {k: f32(v) for k, v in ref.items()})


if __name__ == "__main__":
    main(sys.argv)
