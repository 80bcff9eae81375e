#!/usr/bin/env python3
"""make_bad_spm.py: writes corrupt copies of a SentencePiece .model for tests/tokenizer_test.sh,
each broken in one way: truncated, a length past the end, wrong wire types, a group, an overlong
varint, no pieces, no UNKNOWN piece, two of them, an empty piece, a bad piece type, a NaN score,
a charsmap whose trie size or replacement pool is wrong, and an unsupported model type.
Usage: make_bad_spm.py GOOD.model OUT_DIR. Standard library only; the protobuf is re-encoded by
hand (the wire format: varint key = field << 3 | wire type). Not a fuzzer."""
import os
import struct
import sys


def varint(b, i):
    x = s = 0
    while True:
        c = b[i]
        i += 1
        x |= (c & 0x7F) << s
        s += 7
        if c < 0x80:
            return x, i


def enc_varint(x):
    x &= (1 << 64) - 1
    out = bytearray()
    while True:
        c = x & 0x7F
        x >>= 7
        out.append(c | (0x80 if x else 0))
        if not x:
            return bytes(out)


def parse(b):
    """[(field, wire, payload)]: payload = int for varints, bytes otherwise."""
    i, out = 0, []
    while i < len(b):
        k, i = varint(b, i)
        f, w = k >> 3, k & 7
        if w == 0:
            v, i = varint(b, i)
        elif w == 1:
            v, i = b[i:i + 8], i + 8
        elif w == 5:
            v, i = b[i:i + 4], i + 4
        elif w == 2:
            n, i = varint(b, i)
            v, i = b[i:i + n], i + n
        else:
            raise ValueError("wire type %d" % w)
        out.append((f, w, v))
    return out


def ser(fields):
    out = bytearray()
    for f, w, v in fields:
        out += enc_varint(f << 3 | w)
        if w == 0:
            out += enc_varint(v)
        elif w == 2:
            out += enc_varint(len(v)) + v
        else:
            out += v
    return bytes(out)


def with_piece(top, index, edit):
    """top with pieces[index]'s fields replaced by edit(fields)."""
    out, k = [], 0
    for f, w, v in top:
        if f == 1:
            if k == index:
                v = ser(edit(parse(v)))
            k += 1
        out.append((f, w, v))
    return out


def with_sub(top, field, edit):
    return [(f, w, ser(edit(parse(v))) if f == field else v) for f, w, v in top]


def main():
    good, out = sys.argv[1], sys.argv[2]
    os.makedirs(out, exist_ok=True)
    raw = open(good, "rb").read()
    top = parse(raw)
    unk = [k for k, (f, w, v) in enumerate(x for x in top if x[0] == 1) if (3, 0, 2) in parse(v)][0]

    def set_type(t):
        return lambda fs: [x for x in fs if x[0] != 3] + [(3, 0, t)]

    def charsmap(edit):
        return with_sub(top, 3, lambda fs: [(f, w, edit(v) if f == 2 else v) for f, w, v in fs])

    cases = {
        "truncated": raw[:1000],
        "empty": b"",
        "length_past_end": ser(top[:5]) + enc_varint(1 << 3 | 2) + enc_varint(1 << 20) + b"\x0a\x01x",
        "score_wire": ser(with_piece(top, 3, lambda fs: [x for x in fs if x[0] != 2] + [(2, 0, 7)])),
        "pieces_wire": ser(top[:2] + [(1, 0, 5)] + top[2:]),
        "group": ser(top[:4]) + enc_varint(9 << 3 | 3) + ser(top[4:]),
        "overlong_varint": ser(top[:4]) + b"\xff" * 11,
        "no_pieces": ser([x for x in top if x[0] != 1]),
        "no_unk": ser(with_piece(top, unk, set_type(1))),
        "two_unk": ser(with_piece(top, 7, set_type(2))),
        "empty_piece": ser(with_piece(top, 9, lambda fs: [(1, 2, b"")] + [x for x in fs if x[0] != 1])),
        "bad_type": ser(with_piece(top, 11, set_type(9))),
        "nan_score": ser(with_piece(top, 13, lambda fs: [x for x in fs if x[0] != 2] +
                                    [(2, 5, struct.pack("<f", float("nan")))])),
        "duplicate_piece": ser(with_piece(top, 20, lambda fs: [x for x in fs if x[0] != 1] +
                                          [(1, 2, dict((f, v) for f, w, v in parse(
                                              [x for x in top if x[0] == 1][21][2]))[1])])),
        "bpe": ser(with_sub(top, 2, lambda fs: [x for x in fs if x[0] != 3] + [(3, 0, 2)])),
        "unk_id_mismatch": ser(with_sub(top, 2, lambda fs: [x for x in fs if x[0] != 40] + [(40, 0, 5)])),
        "charsmap_size": ser(charsmap(lambda v: struct.pack("<I", len(v)) + v[4:])),
        "charsmap_pool": ser(charsmap(lambda v: v[:4 + struct.unpack("<I", v[:4])[0]] + b"abc")),
    }
    for name, blob in cases.items():
        with open(os.path.join(out, name + ".model"), "wb") as f:
            f.write(blob)


if __name__ == "__main__":
    main()
