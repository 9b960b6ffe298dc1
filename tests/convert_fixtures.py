#!/usr/bin/env python3
"""Input files for tests/run_convert.sh (standard library only, deterministic).

    convert_fixtures.py DIR

writes into DIR:
  float.safetensors   a.weight F32 [48, 80], a.bias F32 [48], emb.weight BF16 [20, 16],
                      norm.weight F16 [16], d.weight F64 [8, 12], pos I64 [4],
                      __metadata__ {"format": "pt"}
  hf_mul/, hf_div/, hf_none/   Hugging Face packed BitNet checkpoints (model.safetensors):
                      q.weight U8 [8, 40] (out = 32) with q.weight_scale, k.weight U8 [4, 40]
                      with k.weight_scale, norm.weight F32 [40]; hf_mul/config.json says
                      linear_class "autobitlinear", hf_div/config.json quant_method "bitnet"
                      alone (BitLinear, the default), hf_none has no config.json
  shards/             model.safetensors.index.json and two shards of a float model
  g.safetensors       blk.0.w.weight F32 [8, 512] (whole TQ blocks), blk.0.norm.weight F32 [512],
                      tok.weight F16 [4, 16]: for GGUF output
The packed layout follows transformers' integrations/bitnet.py (pack_weights): the
uint8 tensor has out/4 rows; row i*out/4 + r of the weights is
((byte[r][c] >> 2i) & 3) - 1.
"""
import json
import math
import os
import struct
import sys


def rng(seed):
    x = seed
    while True:  # xorshift64*
        x ^= x >> 12
        x ^= (x << 25) & 0xFFFFFFFFFFFFFFFF
        x ^= x >> 27
        yield ((x * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF) >> 40


def gauss(r):
    u = (next(r) + 1) / (1 << 24 + 1)
    v = next(r) / (1 << 24)
    return math.sqrt(-2 * math.log(u)) * math.cos(2 * math.pi * v)


def bf16(x):
    b = struct.unpack("<I", struct.pack("<f", x))[0]
    return struct.pack("<H", b >> 16)


def blob(dtype, vals):
    if dtype == "F32":
        return struct.pack("<%df" % len(vals), *vals)
    if dtype == "F16":
        return struct.pack("<%de" % len(vals), *vals)
    if dtype == "F64":
        return struct.pack("<%dd" % len(vals), *vals)
    if dtype == "BF16":
        return b"".join(bf16(v) for v in vals)
    if dtype == "I64":
        return struct.pack("<%dq" % len(vals), *vals)
    if dtype == "U8":
        return bytes(vals)
    raise ValueError(dtype)


def write_st(path, tensors, metadata=None):
    """tensors: list of (name, dtype, shape, values)"""
    header, data = {}, b""
    if metadata:
        header["__metadata__"] = metadata
    for name, dtype, shape, vals in tensors:
        b = blob(dtype, vals)
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(b)]}
        data += b
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + data)


def floats(r, n, scale=1.0):
    return [gauss(r) * scale for _ in range(n)]


def packed(r, out, cols):
    """uint8 [out/4][cols] of codes 0..2 (trit + 1) in 2-bit fields"""
    b = []
    for _ in range(out // 4 * cols):
        v = 0
        for i in range(4):
            v |= (next(r) % 3) << (2 * i)
        b.append(v)
    return b


def main(d):
    r = rng(7)
    os.makedirs(d, exist_ok=True)
    write_st(os.path.join(d, "float.safetensors"), [
        ("a.weight", "F32", [48, 80], floats(r, 48 * 80, 0.05)),
        ("a.bias", "F32", [48], floats(r, 48)),
        ("emb.weight", "BF16", [20, 16], floats(r, 20 * 16)),
        ("norm.weight", "F16", [16], floats(r, 16)),
        ("d.weight", "F64", [8, 12], floats(r, 96)),
        ("pos", "I64", [4], [0, 1, 2, 3]),
    ], {"format": "pt"})
    write_st(os.path.join(d, "g.safetensors"), [
        ("blk.0.w.weight", "F32", [8, 512], floats(r, 8 * 512)),
        ("blk.0.norm.weight", "F32", [512], floats(r, 512)),
        ("tok.weight", "F16", [4, 16], floats(r, 64)),
    ])
    for sub, config in (("hf_mul", {"quantization_config": {"quant_method": "bitnet", "linear_class": "autobitlinear",
                                                            "quantization_mode": "offline"}}),
                        ("hf_div", {"quantization_config": {"quant_method": "bitnet"}}),
                        ("hf_none", None)):
        p = os.path.join(d, sub)
        os.makedirs(p, exist_ok=True)
        r2 = rng(11)
        write_st(os.path.join(p, "model.safetensors"), [
            ("q.weight", "U8", [8, 40], packed(r2, 32, 40)),
            ("q.weight_scale", "BF16", [1], [0.6875]),
            ("k.weight", "U8", [4, 40], packed(r2, 16, 40)),
            ("k.weight_scale", "F32", [1], [3.0]),
            ("norm.weight", "F32", [40], floats(r2, 40)),
        ])
        cfg = os.path.join(p, "config.json")
        if config is None:
            if os.path.exists(cfg):
                os.remove(cfg)
        else:
            with open(cfg, "w") as f:
                json.dump(dict(config, model_type="bitnet", hidden_size=40), f)
    p = os.path.join(d, "shards")
    os.makedirs(p, exist_ok=True)
    r3 = rng(13)
    s1 = [("l0.weight", "F32", [16, 24], floats(r3, 16 * 24)), ("l0.bias", "F32", [16], floats(r3, 16))]
    s2 = [("l1.weight", "F16", [8, 16], floats(r3, 8 * 16)), ("ln.weight", "F32", [16], floats(r3, 16))]
    write_st(os.path.join(p, "model-00001-of-00002.safetensors"), s1)
    write_st(os.path.join(p, "model-00002-of-00002.safetensors"), s2)
    wm = {t[0]: "model-00001-of-00002.safetensors" for t in s1}
    wm.update({t[0]: "model-00002-of-00002.safetensors" for t in s2})
    with open(os.path.join(p, "model.safetensors.index.json"), "w") as f:
        json.dump({"metadata": {"total_size": 0}, "weight_map": wm}, f, indent=2)


if __name__ == "__main__":
    main(sys.argv[1])
