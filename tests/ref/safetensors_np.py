"""Minimal pure-NumPy reader/writer for the safetensors format.

Layout of a file:
    u64 little-endian  N                      (header length in bytes)
    N bytes            JSON header            {name: {"dtype", "shape", "data_offsets": [begin, end]},
                                               "__metadata__": {str: str}}   (optional metadata)
    raw data           little-endian, C-contiguous; offsets are relative to the end of the header.

Supported dtypes: F32 F64 F16 BF16 I64 I32 U8 BOOL.  BF16 is widened to float32 on read (NumPy has no
bfloat16); it cannot be written.  The writer sorts tensor names, lays the data out in that order and pads
the header with spaces to a multiple of 8 bytes.
"""
import json
import struct

import numpy as np

# safetensors dtype tag -> little-endian NumPy dtype (BF16 handled separately)
_TAG_TO_NP = {
    "F64": np.dtype("<f8"),
    "F32": np.dtype("<f4"),
    "F16": np.dtype("<f2"),
    "I64": np.dtype("<i8"),
    "I32": np.dtype("<i4"),
    "U8": np.dtype("u1"),
    "BOOL": np.dtype("?"),
}


def _np_tag(dtype):
    dtype = np.dtype(dtype)
    for tag, ref in _TAG_TO_NP.items():
        if dtype.kind == ref.kind and dtype.itemsize == ref.itemsize:
            return tag
    raise ValueError(f"safetensors_np: unsupported dtype {dtype}")


def read_header(path):
    """Return (header dict without __metadata__, metadata dict, byte offset of the data section)."""
    with open(path, "rb") as f:
        (n,) = struct.unpack("<Q", f.read(8))
        header = json.loads(f.read(n).decode("utf-8"))
    meta = header.pop("__metadata__", {}) or {}
    return header, meta, 8 + n


def load(path, names=None):
    """Read a safetensors file -> dict name -> numpy array (optionally only `names`)."""
    header, _, base = read_header(path)
    with open(path, "rb") as f:
        blob = f.read()
    out = {}
    for name, info in header.items():
        if names is not None and name not in names:
            continue
        begin, end = info["data_offsets"]
        raw = blob[base + begin: base + end]
        shape = tuple(info["shape"])
        tag = info["dtype"]
        if tag == "BF16":
            bits = np.frombuffer(raw, dtype="<u2").astype(np.uint32) << 16   # bf16 = top half of f32
            arr = bits.view(np.float32)
        elif tag in _TAG_TO_NP:
            arr = np.frombuffer(raw, dtype=_TAG_TO_NP[tag]).astype(_TAG_TO_NP[tag].newbyteorder("="))
        else:
            raise ValueError(f"safetensors_np: {name}: unsupported dtype {tag}")
        expect = int(np.prod(shape, dtype=np.int64))
        if arr.size != expect:
            raise ValueError(f"safetensors_np: {name}: {arr.size} elements, shape {shape} needs {expect}")
        out[name] = arr.reshape(shape).copy()
    return out


def save(path, tensors, metadata=None):
    """Write dict name -> array-like as safetensors (keys sorted, header space-padded to 8 bytes)."""
    header = {}
    chunks = []
    offset = 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        tag = _np_tag(arr.dtype)
        data = np.ascontiguousarray(arr, dtype=_TAG_TO_NP[tag]).tobytes()
        header[name] = {"dtype": tag, "shape": list(arr.shape), "data_offsets": [offset, offset + len(data)]}
        chunks.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-len(text)) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for c in chunks:
            f.write(c)
