#!/usr/bin/env python3
"""make_corpus.py: writes the committed seed corpus of the fuzz targets (tests/fuzz/corpus/):
json/ (JSON texts), st/ (whole safetensors files), loader/ (a loader byte, then a file for the
tiny variant of tiny_variant.h). Deterministic; rerun after changing a case and commit the result.
Usage: tests/fuzz/make_corpus.py [OUT_DIR]. Python standard library only. Not a fuzzer."""
import json
import os
import struct
import sys

WEIGHTS, COND, NOISE, FORWARD = 0, 1, 2, 3
FMT = {"F64": "d", "F32": "f", "F16": "e", "I64": "q", "I32": "i", "U8": "B", "BOOL": "B"}


def st_file(entries, pad=0, raw_header=None):
    """entries: [(name, dtype, shape, values)]; pad spaces after the header (pad=1 makes the data
    section start at an odd offset when the header is padded to 8 first)."""
    header, blobs, off = {}, [], 0
    for name, dtype, shape, values in entries:
        blob = struct.pack("<%d%s" % (len(values), FMT[dtype]), *values)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [off, off + len(blob)]}
        blobs.append(blob)
        off += len(blob)
    text = raw_header if raw_header is not None else json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((-len(text) % 8) + pad)
    return struct.pack("<Q", len(text)) + text + b"".join(blobs)


def header_of(blob):
    n = struct.unpack("<Q", blob[:8])[0]
    return blob[8:8 + n].rstrip()


def weights(dtype="F32", bias=(0.5, -1.0, 2.0)):
    return [("blk.weight", dtype, [3, 2], [0.1, 0.2, 0.3, -0.4, 0.5, 0.6]), ("blk.bias", dtype, [3], list(bias))]


def cond(y=None, dtype="F32", mask=(1, 1, 0)):
    y = y if y is not None else [0.1 * i for i in range(6)]
    return [("y", dtype, [1, 3, 2], y), ("mask", "I64", [1, 3], list(mask))]


def noise(dtype="F32", z=None):
    return [("z0", dtype, [1, 2, 1, 2, 2], z if z is not None else [0.25 * i - 1 for i in range(8)])]


def forward(t=(999.0, 999.0), dtype="F32"):
    return [("x", dtype, [2, 2, 1, 2, 2], [0.01 * i for i in range(16)]), ("timestep", dtype, [2], list(t)),
            ("y", "F32", [2, 3, 2], [0.1 * i for i in range(12)]), ("mask", "I64", [1, 3], [1, 1, 1])]


def cases():
    ctrl = "n\x1b[2J\x07\x7f\u009b"
    js = {
        "empty_object": b"{}",
        "header": header_of(st_file(weights())),
        "metadata": b'{"__metadata__":{"format":"pt","k":"v"}}',
        "escapes": b'{"a\\"b\\\\c\\/d\\u00e9\\ud83d\\ude00\\n\\t":[1,-0,2.5e3,-9223372036854775808,9223372036854775808]}',
        "nested64": b"[" * 64 + b"]" * 64,
        "nested65": b"[" * 65 + b"]" * 65,
        "array9": b"[1,2,3,4,5,6,7,8,9]",
        "duplicate": b'{"a":1,"b":2,"a":3}',
        "literals": b"[true,false,null]",
        "bad_surrogate": b'["\\ud800x"]',
        "trailing_comma": b'{"a":[1,],}',
        "control_key": b'{"k\x01":1}',
    }
    st = {
        "all_dtypes": st_file([("f64", "F64", [2], [0.1, -1e300]), ("f32", "F32", [2], [1.5, -2]),
                               ("f16", "F16", [2], [1.0, -2.0]), ("i64", "I64", [2], [-1, 7]),
                               ("i32", "I32", [1], [5]), ("u8", "U8", [3], [0, 1, 255]),
                               ("bool", "BOOL", [2], [0, 1]), ("scalar", "F32", [], [3.25]),
                               ("empty", "F32", [0, 4], [])]),
        "unaligned": st_file(weights(), pad=1),
        "metadata": st_file(weights(), raw_header=json.dumps(dict(
            {"__metadata__": {"format": "pt"}}, **json.loads(header_of(st_file(weights())))),
            separators=(",", ":")).encode()),
        "overlap": st_file([], raw_header=b'{"a":{"dtype":"U8","shape":[4],"data_offsets":[0,4]},'
                                          b'"b":{"dtype":"U8","shape":[4],"data_offsets":[2,6]}}') + bytes(6),
        "control_names": st_file([(ctrl, "U8", [1], [1]), ("b\\", "U8", [1], [2])]),
        "truncated": st_file(weights())[:-5],
        "header_past_end": struct.pack("<Q", 1 << 40) + b"{}",
        "nine_dims": st_file([], raw_header=b'{"a":{"dtype":"U8","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,1]}}')
                     + b"\0",
    }
    ld = {
        "weights_f32": (WEIGHTS, st_file(weights())),
        "weights_unaligned": (WEIGHTS, st_file(weights(), pad=1)),
        "weights_f16": (WEIGHTS, st_file(weights("F16"))),
        "weights_f64_overflow": (WEIGHTS, st_file(weights("F64", bias=(0.5, 1e39, 2.0)))),
        "weights_extra_control_name": (WEIGHTS, st_file(weights() + [(ctrl, "F32", [1], [1.0])])),
        "cond": (COND, st_file(cond())),
        "cond_unaligned": (COND, st_file(cond(), pad=3)),
        "cond_f64_overflow": (COND, st_file(cond(y=[0, 0, 0, 1e39, 0, 0], dtype="F64"))),
        "cond_nan": (COND, st_file(cond(y=[0, float("nan"), 0, 0, 0, 0]))),
        "cond_mask2": (COND, st_file(cond(mask=(1, 2, 0)))),
        "noise": (NOISE, st_file(noise())),
        "noise_f64_overflow": (NOISE, st_file(noise("F64", z=[0, 0, 0, 0, 0, -1e39, 0, 0]))),
        "forward": (FORWARD, st_file(forward())),
        "forward_unaligned": (FORWARD, st_file(forward(), pad=5)),
        "forward_timestep_overflow": (FORWARD, st_file(forward(t=(1e39, 1.0), dtype="F64"))),
    }
    return js, st, {k: bytes([sel]) + blob for k, (sel, blob) in ld.items()}


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    for sub, files in zip(("json", "st", "loader"), cases()):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
        for name, blob in files.items():
            with open(os.path.join(out, sub, name), "wb") as f:
                f.write(blob)


if __name__ == "__main__":
    main()
