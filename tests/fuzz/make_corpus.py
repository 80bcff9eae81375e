#!/usr/bin/env python3
"""make_corpus.py: writes the committed seed corpus of the fuzz targets (tests/fuzz/corpus/):
json/ (JSON texts), st/ (whole safetensors files), loader/ (a loader byte, then a file for the
tiny variant of tiny_variant.h), spm/ (small SentencePiece .model files with a hand-built
charsmap trie), tok/ (a kind byte, a length byte, then a prompt), index/ (the text of a
model.safetensors.index.json next to the shards fuzz_index.c writes). Deterministic; rerun after changing a case and commit the result.
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


# ---- text: SentencePiece models and prompts ----------------------------------------------------

def pb_varint(x):
    x &= (1 << 64) - 1
    out = bytearray()
    while True:
        out.append((x & 0x7F) | (0x80 if x >> 7 else 0))
        x >>= 7
        if not x:
            return bytes(out)


def pb(field, wire, value):
    key = pb_varint(field << 3 | wire)
    if wire == 0:
        return key + pb_varint(value)
    if wire == 5:
        return key + struct.pack("<f", value)
    return key + pb_varint(len(value)) + value


def charsmap(rules):
    """A darts-clone double array of the keys of rules (bytes -> bytes) and its pool, framed as
    SentencePiece's precompiled_charsmap: u32 trie size, units, NUL-terminated replacements."""
    pool, trie = bytearray(), {}
    for key, rep in sorted(rules.items()):
        node = trie
        for c in key:
            node = node.setdefault(c, {})
        node[None] = len(pool)
        pool += rep + b"\0"
    units = {0: 0}

    def place(pos, node):
        labels = [0 if c is None else c for c in node]
        off = 1
        while any((pos ^ off ^ c) in units or (pos ^ off ^ c) == 0 for c in labels):
            off += 1
        units[pos] |= (1 << 8 if None in node else 0) | off << 10
        for c, child in node.items():
            q = pos ^ off ^ (0 if c is None else c)
            if c is None:
                units[q] = child | 0x80000000
            else:
                units[q] = c
                place(q, child)

    place(0, trie)
    n = max(units) + 1
    blob = b"".join(struct.pack("<I", units.get(i, 0)) for i in range(n))
    return struct.pack("<I", len(blob)) + blob + bytes(pool)


def spm_model(pieces, rules, trainer=True, normalizer=True):
    """pieces: [(text, score, type)]."""
    out = b"".join(pb(1, 2, pb(1, 2, t.encode()) + pb(2, 5, sc) + pb(3, 0, ty)) for t, sc, ty in pieces)
    if trainer:
        out += pb(2, 2, pb(3, 0, 1) + pb(4, 0, len(pieces)) + pb(40, 0, 2) + pb(41, 0, -1) + pb(42, 0, 1) +
                  pb(43, 0, 0))
    if normalizer:
        out += pb(3, 2, pb(1, 2, b"nmt_nfkc") + (pb(2, 2, charsmap(rules)) if rules else b"") + pb(3, 0, 1) +
                  pb(4, 0, 1) + pb(5, 0, 1))
    return out


def text_cases():
    base = [("<pad>", 0.0, 3), ("</s>", 0.0, 3), ("<unk>", 0.0, 2), ("\u2581", -2.0, 1), ("a", -3.0, 1),
            ("b", -3.5, 1), ("c", -4.0, 1), ("\u2581a", -2.5, 1), ("ab", -3.0, 1), ("\u2581ab", -2.0, 1),
            ("1", -4.0, 1), ("0", -4.0, 1), ("00", -4.5, 1), (",", -4.0, 1), ("x", -5.0, 5), ("<u>", 0.0, 4)]
    rules = {"\t".encode(): b" ", "\u3000".encode(): b" ", "\uff21".encode(): b"A", "\ufb01".encode(): b"fi",
             "\u2581".encode(): b" ", "\x01".encode(): b"", "e\u0301".encode(): "\u00e9".encode()}
    spm = {
        "tiny": spm_model(base, rules),
        "tiny_no_charsmap": spm_model(base, None),
        "tiny_no_trainer": spm_model(base, rules, trainer=False),
        "tiny_no_normalizer": spm_model(base, rules, normalizer=False),
        "tiny_truncated": spm_model(base, rules)[:-7],
        "no_unk": spm_model([p for p in base if p[2] != 2], rules),
    }
    tok = {
        "sp_ascii": b"\x00\x40a photo of a cat, 1,000,000 times",
        "slow_added": b"\x01\x10x<extra_id_5>y  <extra_id_99> z</s> <pad><unk><extra_id_100>",
        "fast_added": b"\x02\x10hello </s></s> <extra_id_0>",
        "slow_spaces": b"\x01\x08  \t a \xe3\x80\x80 b  \xe2\x96\x81 c   ",
        "fast_nfkc": "\x02\x20\uff21\ufb01 \u2460 \u00bd \u337f \uff76\uff9e e\u0301".encode(),
        "fast_emoji": "\x02\x04\U0001F355\U0001F355 \U0001F355 \u4e2d\u6587".encode(),
        "sp_invalid_utf8": b"\x00\x00a\xffb\xc3\xe2\x96 \xf4\x90\x80\x80 \xed\xa0\x80",
        "slow_controls": b"\x01\x03\x00\x01\x1f\x7f\xc2\x85\xc2\xad\xe2\x80\xae\xee\x80\x80",
        "fast_empty": b"\x02\x00",
    }
    return spm, tok


def index_cases():
    """Indexes of the shards fuzz_index.c writes: a.safetensors (blk.weight), b.safetensors
    (blk.bias), ab.safetensors (both), the folder dir.safetensors, the link out.safetensors."""
    def index(wm, metadata=True):
        doc = {"metadata": {"total_size": 36}, "weight_map": wm} if metadata else {"weight_map": wm}
        return json.dumps(doc, separators=(",", ":")).encode()
    good = {"blk.weight": "a.safetensors", "blk.bias": "b.safetensors"}
    return {
        "good": index(good),
        "good_no_metadata": index(good, False),
        "one_shard": index({"blk.weight": "ab.safetensors", "blk.bias": "ab.safetensors"}),
        "two_shards": index({"blk.weight": "a.safetensors", "blk.bias": "ab.safetensors"}),
        "wrong_shard": index({"blk.weight": "b.safetensors", "blk.bias": "b.safetensors"}),
        "unlisted": index({"blk.weight": "ab.safetensors"}),
        "missing": index({"blk.weight": "a.safetensors", "blk.bias": "c.safetensors"}),
        "dotdot": index({"blk.weight": "../a.safetensors", "blk.bias": "b.safetensors"}),
        "absolute": index({"blk.weight": "/proc/self/exe", "blk.bias": "b.safetensors"}),
        "link_out": index({"blk.weight": "out.safetensors", "blk.bias": "b.safetensors"}),
        "dir": index({"blk.weight": "dir.safetensors", "blk.bias": "b.safetensors"}),
        "pickle_name": index({"blk.weight": "a.bin", "blk.bias": "b.safetensors"}),
        "control_name": index({"blk.weight": "a\x1b[2J.safetensors", "blk.bias": "b.safetensors"}),
        "control_tensor": index({"blk.weight": "a.safetensors", "blk\x1b[2J\x7f\u009b": "b.safetensors"}),
        "nul_key": b'{"weight_map":{"blk.weight\\u0000":"a.safetensors","blk.bias":"b.safetensors"}}',
        "duplicate": b'{"weight_map":{"blk.bias":"b.safetensors","blk.bias":"b.safetensors"}}',
        "not_string": b'{"weight_map":{"blk.weight":1,"blk.bias":"b.safetensors"}}',
        "empty_map": b'{"weight_map":{}}',
        "no_map": b'{"metadata":{}}',
        "array_map": b'{"weight_map":["a.safetensors"]}',
        "array_root": b'[]',
        "metadata_array": b'{"metadata":[1,2],"weight_map":{"blk.weight":"a.safetensors"}}',
        "empty": b"",
    }


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    for sub, files in zip(("json", "st", "loader", "spm", "tok", "index"), cases() + text_cases() + (index_cases(),)):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
        for name, blob in files.items():
            with open(os.path.join(out, sub, name), "wb") as f:
                f.write(blob)


if __name__ == "__main__":
    main()
