"""tests/make_shards.py: sharded checkpoints for tests/shard_test.sh, made at test time from one
safetensors file (numpy + stdlib; tests/ref/safetensors_np.py writes the shards).

    python3 tests/make_shards.py WEIGHTS OUT [NAME=N ...]

writes OUT/NAME/ for each case below: a good checkpoint split into N shards (default: good=3)
in transformers' layout (model-0000k-of-0000N.safetensors and model.safetensors.index.json with
{"metadata": {"total_size": ...}, "weight_map": {...}}), the same in the Hugging Face cache's
layout (snapshots/REV/* symlinked to ../../blobs/*), and one folder per way of getting it wrong
(a tensor in two shards, the index naming the wrong shard, a tensor missing from the index, a
shard missing, shard names leaving the folder or holding an ESC, a shard that is a directory or a FIFO, a duplicate
key, an index over the size limit, PyTorch pickle checkpoints). Not a test itself.
"""
import json
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "ref"))
import numpy as np  # noqa: E402
import safetensors_np as st  # noqa: E402

INDEX = "model.safetensors.index.json"


def shard_name(k, n, prefix="model", ext="safetensors"):
    return f"{prefix}-{k + 1:05d}-of-{n:05d}.{ext}"


def split(tensors, n):
    """Sorted names cut into n contiguous groups of nearly equal count: [{name: array}, ...]."""
    names = sorted(tensors)
    cuts = [round(i * len(names) / n) for i in range(n + 1)]
    return [{k: tensors[k] for k in names[cuts[i]:cuts[i + 1]]} for i in range(n)]


def write_index(folder, weight_map, total_size=0, raw=None, name=INDEX):
    path = os.path.join(folder, name)
    with open(path, "w") as f:
        if raw is not None:
            f.write(raw)
        else:
            json.dump({"metadata": {"total_size": total_size}, "weight_map": weight_map}, f, indent=2, sort_keys=True)
    return path


def write_sharded(folder, groups, weight_map=None, prefix="model"):
    """groups: [{name: array}] -> shards and index in folder; weight_map overrides the index's map."""
    os.makedirs(folder, exist_ok=True)
    n = len(groups)
    wm, total = {}, 0
    for k, g in enumerate(groups):
        fn = shard_name(k, n, prefix)
        st.save(os.path.join(folder, fn), g, {"format": "pt"})
        for name, a in g.items():
            wm[name] = fn
            total += a.nbytes
    write_index(folder, wm if weight_map is None else weight_map, total)
    return wm


def main():
    src, out = sys.argv[1], sys.argv[2]
    sizes = dict(a.split("=") for a in sys.argv[3:])
    t = st.load(src)
    n = int(sizes.get("good", 3))
    groups = split(t, n)
    first = sorted(groups[0])[0]  # a tensor of shard 1

    wm = write_sharded(os.path.join(out, "good"), groups)

    # the Hugging Face cache: models--o--r/snapshots/REV/NAME -> ../../blobs/NAME.blob
    repo = os.path.join(out, "hf", "models--o--r")
    os.makedirs(os.path.join(repo, "blobs"))
    snap = os.path.join(repo, "snapshots", "0123abcd")
    os.makedirs(snap)
    for fn in sorted(set(wm.values())) + [INDEX]:
        with open(os.path.join(out, "good", fn), "rb") as f:
            data = f.read()
        with open(os.path.join(repo, "blobs", fn + ".blob"), "wb") as f:
            f.write(data)
        os.symlink(os.path.join("..", "..", "blobs", fn + ".blob"), os.path.join(snap, fn))

    # a folder holding one model.safetensors
    os.makedirs(os.path.join(out, "single"))
    st.save(os.path.join(out, "single", "model.safetensors"), t, {"format": "pt"})

    # a shard reached through a symbolic link inside the folder: allowed
    d = os.path.join(out, "inner_link")
    write_sharded(d, groups)
    os.rename(os.path.join(d, shard_name(0, n)), os.path.join(d, "blob"))
    os.symlink("blob", os.path.join(d, shard_name(0, n)))

    # a tensor in two shards (the index names the first)
    g2 = [dict(g) for g in groups]
    g2[1][first] = t[first]
    write_sharded(os.path.join(out, "two_shards"), g2, dict(wm))

    # the index names shard 2 for a tensor of shard 1
    bad = dict(wm)
    bad[first] = shard_name(1, n)
    write_sharded(os.path.join(out, "wrong_shard"), groups, bad)

    # a tensor of shard 1 the index does not list
    bad = dict(wm)
    del bad[first]
    write_sharded(os.path.join(out, "unlisted"), groups, bad)

    # the index lists a tensor shard 1 does not hold
    g2 = [dict(g) for g in groups]
    del g2[0][first]
    write_sharded(os.path.join(out, "not_held"), g2, dict(wm))

    # a manifest tensor missing from both index and shards; a tensor the manifest lacks; a wrong shape
    # in the last shard; a NaN in the last shard
    last = sorted(groups[-1])[-1]
    g2 = [dict(g) for g in groups]
    del g2[-1][last]
    write_sharded(os.path.join(out, "manifest_missing"), g2)
    g2 = [dict(g) for g in groups]
    g2[-1]["extra.weight"] = np.zeros(3, np.float32)
    write_sharded(os.path.join(out, "manifest_extra"), g2)
    g2 = [dict(g) for g in groups]
    g2[-1][last] = np.zeros(t[last].shape + (1,), np.float32)
    write_sharded(os.path.join(out, "bad_shape"), g2)
    g2 = [dict(g) for g in groups]
    g2[-1][last] = t[last].copy()
    g2[-1][last].reshape(-1)[1] = np.nan
    write_sharded(os.path.join(out, "nan"), g2)

    # a shard missing
    d = os.path.join(out, "missing_shard")
    write_sharded(d, groups)
    os.remove(os.path.join(d, shard_name(n - 1, n)))

    # shard names leaving the folder: ../, an absolute path, a symbolic link out of it
    d = os.path.join(out, "dotdot")
    bad = dict(wm)
    bad[first] = "../good/" + shard_name(0, n)
    write_sharded(d, groups, bad)
    d = os.path.join(out, "absolute")
    bad = dict(wm)
    bad[first] = os.path.abspath(os.path.join(out, "good", shard_name(0, n)))
    write_sharded(d, groups, bad)
    d = os.path.join(out, "link_out")
    write_sharded(d, groups)
    os.remove(os.path.join(d, shard_name(0, n)))
    os.symlink(os.path.join("..", "good", shard_name(0, n)), os.path.join(d, shard_name(0, n)))

    # a shard that is a directory; one that is a FIFO
    d = os.path.join(out, "dir_shard")
    write_sharded(d, groups)
    os.remove(os.path.join(d, shard_name(1, n)))
    os.mkdir(os.path.join(d, shard_name(1, n)))
    d = os.path.join(out, "fifo_shard")
    write_sharded(d, groups)
    os.remove(os.path.join(d, shard_name(1, n)))
    os.mkfifo(os.path.join(d, shard_name(1, n)))

    # a duplicate key in the index's weight_map; an index over the 64 MiB limit (sparse)
    d = os.path.join(out, "dup_key")
    write_sharded(d, groups)
    write_index(d, None, raw='{"weight_map": {"%s": "%s", %s}' % (first, shard_name(0, n), json.dumps(wm)[1:]))
    d = os.path.join(out, "huge")
    write_sharded(d, groups)
    with open(os.path.join(d, INDEX), "r+b") as f:
        f.truncate(65 << 20)

    # a shard name with an ESC (printed escaped, refused before any file is touched)
    d = os.path.join(out, "ctrl_name")
    write_sharded(d, groups)
    bad = dict(wm)
    bad[first] = "a\x1b[2J.safetensors"
    write_index(d, bad)

    # a weight_map that is not an object; an empty one
    d = os.path.join(out, "map_not_object")
    write_sharded(d, groups)
    write_index(d, None, raw='{"metadata": {}, "weight_map": ["a"]}')
    d = os.path.join(out, "map_empty")
    write_sharded(d, groups)
    write_index(d, {})

    # a folder with both model.safetensors and an index; an empty folder
    d = os.path.join(out, "both")
    write_sharded(d, groups)
    st.save(os.path.join(d, "model.safetensors"), t)
    os.makedirs(os.path.join(out, "empty"))

    # PyTorch pickles: a sharded transformers one (folder), a file named .bin, files starting with
    # the zip magic and a pickle protocol byte, an index naming .bin shards
    d = os.path.join(out, "pickle_folder")
    os.makedirs(d)
    for k in range(2):
        with open(os.path.join(d, shard_name(k, 2, "pytorch_model", "bin")), "wb") as f:
            f.write(b"PK\x03\x04" + bytes(60))
    write_index(d, {first: shard_name(0, 2, "pytorch_model", "bin")}, name="pytorch_model.bin.index.json")
    d = os.path.join(out, "pickles")
    os.makedirs(d)
    with open(os.path.join(d, "pytorch_model.bin"), "wb") as f:
        f.write(b"\x80\x02\x8a\x0al\xfc\x9cF\xf9 j\xa8P\x19.\x80\x02M\xe9\x03.")
    with open(os.path.join(d, "zip.safetensors"), "wb") as f:
        f.write(b"PK\x03\x04\x00\x00\x08\x08\x00\x00" + bytes(54))
    with open(os.path.join(d, "proto.safetensors"), "wb") as f:
        f.write(b"\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00}\x94.")
    d = os.path.join(out, "bin_shards")
    os.makedirs(d)
    with open(os.path.join(d, "weights-1.bin"), "wb") as f:
        f.write(b"PK\x03\x04" + bytes(60))
    write_index(d, {first: "weights-1.bin"})


if __name__ == "__main__":
    main()
