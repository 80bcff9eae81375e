#!/usr/bin/env python3
"""make_bad.py: writes the corrupt inputs that tests/bad_input.sh feeds to the fixture binary.

Usage: tests/make_bad.py GOLDEN_DIR OUT_DIR
Each file is derived from the golden fixtures (weights.safetensors, sample_nopab.safetensors,
forward.safetensors) with one defect, named after the case. Python standard library only.
Not here: running binaries or judging their output (bad_input.sh does that)."""
import json
import math
import os
import struct
import sys

# ---- safetensors reading and writing ---------------------------------------------------------


def read_st(path):
    """(entries, data): entries is a list of [name, dtype, shape, bytes] in header order."""
    with open(path, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    entries = []
    for name, e in header.items():
        if name == "__metadata__":
            continue
        b, end = e["data_offsets"]
        entries.append([name, e["dtype"], list(e["shape"]), data[b:end]])
    return entries, data


def pack_header(header):
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * (-len(text) % 8)
    return struct.pack("<Q", len(text)) + text


def layout(entries):
    """(header dict, data bytes) for entries laid out back to back in the given order."""
    header, chunks, off = {"__metadata__": {"format": "pt"}}, [], 0
    for name, dtype, shape, blob in entries:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(blob)]}
        chunks.append(blob)
        off += len(blob)
    return header, b"".join(chunks)


def write_raw(path, header, data):
    with open(path, "wb") as f:
        f.write(pack_header(header) + data)


def write_st(path, entries):
    write_raw(path, *layout(entries))


def find(entries, name):
    for e in entries:
        if e[0] == name:
            return e
    raise KeyError(name)


def keep(entries, names):
    return [list(e) for e in entries if e[0] in names]


def with_f32(blob, index, value):
    """blob (F32 data) with element index replaced by value."""
    b = bytearray(blob)
    struct.pack_into("<f", b, 4 * index, value)
    return bytes(b)


def as_f64(entry, index, value):
    """entry (F32) as F64, with element index replaced by value (one beyond the float range)."""
    vals = list(struct.unpack("<%df" % (len(entry[3]) // 4), entry[3]))
    vals[index] = value
    entry[1], entry[3] = "F64", struct.pack("<%dd" % len(vals), *vals)


def with_i64(blob, index, value):
    b = bytearray(blob)
    struct.pack_into("<q", b, 8 * index, value)
    return bytes(b)


# ---- the cases -------------------------------------------------------------------------------


def weights_cases(golden, out):
    src = os.path.join(golden, "weights.safetensors")
    with open(src, "rb") as f:
        raw = f.read()
    n = struct.unpack("<Q", raw[:8])[0]
    w, data = read_st(src)

    def put(name, blob):
        with open(os.path.join(out, name), "wb") as f:
            f.write(blob)

    put("w_trunc4.safetensors", raw[:4])
    put("w_trunc_data.safetensors", raw[:8 + n + len(data) // 2])
    put("w_hdrlen.safetensors", struct.pack("<Q", len(raw) + 1000) + raw[8:])
    text = raw[8:8 + n].rstrip()  # drop the closing brace: an unterminated object
    assert text.endswith(b"}")
    bad = text[:-1]
    put("w_badjson.safetensors", struct.pack("<Q", len(bad)) + bad + raw[8 + n:])
    arr = b"[1, 2, 3]"
    arr += b" " * (-len(arr) % 8)
    put("w_notobj.safetensors", struct.pack("<Q", len(arr)) + arr + raw[8 + n:])

    write_st(os.path.join(out, "w_missing.safetensors"), [e for e in w if e[0] != "rope.freqs"])
    write_st(os.path.join(out, "w_extra.safetensors"),
             w + [["extra.unknown.weight", "F32", [4], struct.pack("<4f", 1, 2, 3, 4)]])

    bias = find(w, "t_block.1.bias")
    assert bias[2] == [576] and bias[1] == "F32"
    short = [list(e) for e in w]
    e = find(short, "t_block.1.bias")
    e[2], e[3] = [575], e[3][:575 * 4]
    write_st(os.path.join(out, "w_shape575.safetensors"), short)
    reshaped = [list(e) for e in w]
    find(reshaped, "t_block.1.bias")[2] = [1, 576]
    write_st(os.path.join(out, "w_shape1x576.safetensors"), reshaped)
    as_i64 = [list(e) for e in w]
    e = find(as_i64, "t_block.1.bias")
    vals = struct.unpack("<576f", e[3])
    e[1], e[3] = "I64", struct.pack("<576q", *[round(x * 1000) for x in vals])
    write_st(os.path.join(out, "w_dtype.safetensors"), as_i64)

    # Overlap: 'rope.freqs' ([12], 48 bytes) re-pointed into the start of 'fps_embedder.mlp.0.bias'.
    header, blob = layout(w)
    a = header["fps_embedder.mlp.0.bias"]["data_offsets"]
    header["rope.freqs"]["data_offsets"] = [a[0] + 8, a[0] + 8 + 48]
    write_raw(os.path.join(out, "w_overlap.safetensors"), header, blob)

    # Past the end: 'y_embedder.y_embedding' moved behind the end of the data section.
    header, blob = layout(w)
    b, e = header["y_embedder.y_embedding"]["data_offsets"]
    header["y_embedder.y_embedding"]["data_offsets"] = [len(blob), len(blob) + (e - b)]
    write_raw(os.path.join(out, "w_pastend.safetensors"), header, blob)

    # An extra tensor whose name holds ESC, DEL and a C1 control (U+009B): printed escaped.
    write_st(os.path.join(out, "w_ctrlname.safetensors"),
             w + [["extra\x1b[2J\x7f\u009b.weight", "F32", [1], struct.pack("<f", 1)]])

    nan = [list(e) for e in w]
    e = find(nan, "spatial_blocks.1.mlp.fc1.weight")
    e[3] = with_f32(e[3], 7, math.nan)
    write_st(os.path.join(out, "w_nan.safetensors"), nan)


def sample_cases(golden, out):
    s, _ = read_st(os.path.join(golden, "sample_nopab.safetensors"))
    cond = keep(s, {"y", "mask"})

    def write(name, entries):
        write_st(os.path.join(out, name), entries)

    for case, value in (("c_nan", math.nan), ("c_inf", math.inf)):
        c = [list(e) for e in cond]
        e = find(c, "y")
        e[3] = with_f32(e[3], 100, value)
        write(case + ".safetensors", c)
    c = [list(e) for e in cond]
    as_f64(find(c, "y"), 100, 1e39)  # finite as F64, Inf as the float the model uses
    write("c_f64big.safetensors", c)
    c = [list(e) for e in cond]
    e = find(c, "y")
    e[2], e[3] = [1, 1, 11, 32], e[3][:11 * 32 * 4]
    write("c_yshape.safetensors", c)
    write("c_nomask.safetensors", keep(s, {"y"}))
    c = [list(e) for e in cond]
    e = find(c, "mask")
    assert e[1] == "I64" and e[2] == [1, 12]
    e[3] = with_i64(e[3], 3, 2)
    write("c_mask2.safetensors", c)
    c = [list(e) for e in cond]
    find(c, "mask")[3] = struct.pack("<12q", *[0] * 12)
    write("c_maskzero.safetensors", c)

    write("n_noz0.safetensors", keep(s, {"y", "mask"}))
    z = [list(e) for e in keep(s, {"z0"})]
    e = find(z, "z0")
    assert e[2] == [1, 4, 5, 8, 12]
    e[2] = [1, 4, 5, 12, 8]
    write("n_zshape.safetensors", z)
    z = [list(e) for e in keep(s, {"z0"})]
    as_f64(find(z, "z0"), 7, -1e39)
    write("n_f64big.safetensors", z)


def forward_cases(golden, out):
    f, _ = read_st(os.path.join(golden, "forward.safetensors"))
    write_st(os.path.join(out, "f_notimestep.safetensors"), [e for e in f if e[0] != "call0.timestep"])
    big = [list(e) for e in f]
    as_f64(find(big, "call0.timestep"), 1, 1e39)
    write_st(os.path.join(out, "f_tbig.safetensors"), big)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: make_bad.py GOLDEN_DIR OUT_DIR")
    golden, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    weights_cases(golden, out)
    sample_cases(golden, out)
    forward_cases(golden, out)


if __name__ == "__main__":
    main()
