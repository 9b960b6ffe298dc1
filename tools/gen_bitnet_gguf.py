#!/usr/bin/env python3
"""Writes random BitNet b1.58 language models as GGUF files, for tests and benchmarks.

    gen_bitnet_gguf.py OUT.gguf [--arch bitnet|bitnet-b1.58|bitnet-25|llama]
                                [--type tq2_0|tq1_0|i2_s] [--vocab gpt2|llama]
                                [--shape tiny|block|2b4t] [--scales] [--seed N]

Written from the file format's description, independently of bitlinear's reader:
  * GGUF v3 container: ggml/src/gguf.cpp (gguf_write_to_buf) and ggml/include/gguf.h
    (llama.cpp): magic "GGUF", u32 version, u64 tensor count, u64 key/value count;
    key/value pairs (u64-length string key, u32 type, value; arrays: u32 element type,
    u64 count, elements); tensor infos (name, u32 n_dims, u64 ne[n_dims] with ne[0] the
    row length, u32 ggml type, u64 offset into the data section); the data section
    starts at the next multiple of general.alignment (32) and every tensor's offset is
    a multiple of it.
  * TQ2_0 (type 35), TQ1_0 (type 34): ggml/src/ggml-common.h (block_tq2_0, block_tq1_0)
    and quantize_row_tq2_0_ref / quantize_row_tq1_0_ref in ggml/src/ggml-quants.c.
  * I2_S (type 36): microsoft/BitNet src/ggml-bitnet-mad.cpp (quantize_i2_s): codes
    0/1/2 for -1/0/+1, 128-weight blocks of 32 bytes where weight j of a block sits in
    byte j % 32 at bit 6 - 2*(j / 32); after the n/4 code bytes a 32-byte tail whose
    first 4 bytes are the float32 tensor scale.
  * Tensor names and metadata keys: llama.cpp src/llama-arch.cpp (LLM_ARCH_BITNET,
    LLM_ARCH_LLAMA: the same tensors without the two sub-norms) and bitnet.cpp's
    3rdparty/llama.cpp (bitnet-b1.58 / bitnet-25).
The tokenizer is real: a byte-level BPE (llama.cpp's "gpt2" model with the "llama-bpe"
pre-tokenizer) or SentencePiece-style ("llama" model, byte fallback) vocabulary whose
merges are learned here from a small text, plus special tokens.

Every ternary tensor uses one scale for the whole tensor (as BitNet conversions do), so
its dequantized values are exactly trit * scale (scale rounded to fp16 for TQ types).
"""
import argparse
import re
import struct
import sys

import numpy as np

GGML_F32, GGML_F16, GGML_TQ1_0, GGML_TQ2_0, GGML_I2_S = 0, 1, 34, 35, 36
T_U32, T_I32, T_F32, T_BOOL, T_STRING, T_ARRAY = 4, 5, 6, 7, 8, 9
ALIGN = 32

TEXT = """The quick brown fox jumps over the lazy dog. A tiny model of BitNet b1.58 reads its
weights as ternary numbers: minus one, zero and plus one, times a scale. Language models
predict the next token of a text; the tokenizer splits the text into tokens first.
Hello world! hello, World. It's what they're saying: we'll see, I'd think, you've done it.
def main(argc, argv):\n    return 0  # code too: for (int i = 0; i < n; ++i) { sum += x[i]; }
Numbers 12345 and 2026, 3.14159; prices $10.99, 100% sure. Café, naïve, résumé, über, año.
Ünïcödé text: 日本語のテキスト, 中文文本, 한국어, Ελληνικά, русский язык. Emoji 🙂🚀 too.
the the the and and of of to to in in is is it it that that with with for for on on as
"""
SPECIALS = ["<|begin_of_text|>", "<|end_of_text|>", "<|eot_id|>",
            "<|start_header_id|>", "<|end_header_id|>"]
CHAT_TEMPLATE = ("{% for message in messages %}{% if loop.first %}{{ bos_token }}{% endif %}"
                 "{{ message['role'] | capitalize }}: {{ message['content'] }}<|eot_id|>"
                 "{% endfor %}{% if add_generation_prompt %}Assistant: {% endif %}")


def gpt2_byte_chars():
    """GPT-2's reversible byte -> printable code point map (bytes_to_unicode)."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}, bs


def learn_merges(words, n_merges):
    """Plain BPE training: repeatedly merge the most frequent adjacent pair."""
    counts = {}
    for w in words:
        counts[tuple(w)] = counts.get(tuple(w), 0) + 1
    merges = []
    for _ in range(n_merges):
        pairs = {}
        for w, c in counts.items():
            for a, b in zip(w, w[1:]):
                pairs[(a, b)] = pairs.get((a, b), 0) + c
        if not pairs:
            break
        best = max(pairs.items(), key=lambda kv: (kv[1], kv[0]))[0]
        merges.append(best)
        new = {}
        for w, c in counts.items():
            out, i = [], 0
            while i < len(w):
                if i + 1 < len(w) and (w[i], w[i + 1]) == best:
                    out.append(w[i] + w[i + 1])
                    i += 2
                else:
                    out.append(w[i])
                    i += 1
            new[tuple(out)] = new.get(tuple(out), 0) + c
        counts = new
    return merges


def vocab_gpt2(n_merges):
    bmap, order = gpt2_byte_chars()
    words = re.findall(r" ?[^\W\d_]+| ?\d{1,3}| ?[^\s\w]+|\s+", TEXT)
    words = ["".join(bmap[b] for b in w.encode("utf-8")) for w in words]
    merges = learn_merges([list(w) for w in words], n_merges)
    tokens = [bmap[b] for b in order]
    seen = set(tokens)
    for a, b in merges:
        if a + b not in seen:
            seen.add(a + b)
            tokens.append(a + b)
    types = [1] * len(tokens)
    bos = len(tokens)
    for s in SPECIALS:
        tokens.append(s)
        types.append(3)
    kv = [("tokenizer.ggml.model", T_STRING, "gpt2"),
          ("tokenizer.ggml.pre", T_STRING, "llama-bpe"),
          ("tokenizer.ggml.tokens", (T_ARRAY, T_STRING), tokens),
          ("tokenizer.ggml.token_type", (T_ARRAY, T_I32), types),
          ("tokenizer.ggml.merges", (T_ARRAY, T_STRING), [a + " " + b for a, b in merges]),
          ("tokenizer.ggml.bos_token_id", T_U32, bos),
          ("tokenizer.ggml.eos_token_id", T_U32, bos + 2),
          ("tokenizer.ggml.padding_token_id", T_U32, bos + 1),
          ("tokenizer.ggml.add_bos_token", T_BOOL, True),
          ("tokenizer.chat_template", T_STRING, CHAT_TEMPLATE)]
    return len(tokens), kv


def vocab_llama(n_merges):
    sp = "\u2581"
    words = re.findall(r"\S+", TEXT)
    words = [sp + w for w in words]
    merges = learn_merges([list(w) for w in words], n_merges)
    tokens = ["<unk>", "<s>", "</s>"] + ["<0x%02X>" % b for b in range(256)]
    types = [2, 3, 3] + [6] * 256
    scores = [0.0] * len(tokens)
    chars = sorted(set("".join(words)))
    seen = set(tokens)
    for i, c in enumerate(chars):
        seen.add(c)
        tokens.append(c)
        types.append(1)
        scores.append(-1000.0 - i)
    for r, (a, b) in enumerate(merges):
        if a + b not in seen:
            seen.add(a + b)
            tokens.append(a + b)
            types.append(1)
            scores.append(-float(r))
    kv = [("tokenizer.ggml.model", T_STRING, "llama"),
          ("tokenizer.ggml.tokens", (T_ARRAY, T_STRING), tokens),
          ("tokenizer.ggml.scores", (T_ARRAY, T_F32), scores),
          ("tokenizer.ggml.token_type", (T_ARRAY, T_I32), types),
          ("tokenizer.ggml.bos_token_id", T_U32, 1),
          ("tokenizer.ggml.eos_token_id", T_U32, 2),
          ("tokenizer.ggml.unknown_token_id", T_U32, 0),
          ("tokenizer.ggml.add_bos_token", T_BOOL, True),
          ("tokenizer.ggml.add_eos_token", T_BOOL, False),
          ("tokenizer.ggml.add_space_prefix", T_BOOL, True)]
    return len(tokens), kv


# ---- ternary encodings ----------------------------------------------------------------
def fp16_round(x):
    return float(np.float16(x))


def enc_tq2_0(t, d):
    """t: int8 trits [rows][cols], cols % 256 == 0 -> block_tq2_0 bytes (qs[64], d fp16).
    Weight e of a block: byte (e // 128) * 32 + e % 32, bits 2 * ((e % 128) // 32)."""
    q = (t.reshape(-1, 2, 4, 32).astype(np.uint8) + 1)          # [block][j][l][m]
    qs = (q[:, :, 0, :] | (q[:, :, 1, :] << 2) | (q[:, :, 2, :] << 4) | (q[:, :, 3, :] << 6))
    blocks = np.zeros((q.shape[0], 66), np.uint8)
    blocks[:, :64] = qs.reshape(-1, 64)
    blocks[:, 64:66] = np.frombuffer(np.float16(d).tobytes(), np.uint8)
    return blocks.tobytes()


def _tq1_pack(digits):
    """digits [..., k] of 0..2, most significant first, k <= 5 -> ceil(q * 256 / 243)."""
    q = np.zeros(digits.shape[:-1], np.uint16)
    for i in range(digits.shape[-1]):
        q = q * 3 + digits[..., i]
    return ((q * 256 + 242) // 243).astype(np.uint8)


def enc_tq1_0(t, d):
    """block_tq1_0: qs[48] (5 trits a byte: 32 bytes for weights 0..159 at m + 32n,
    16 bytes for 160..239 at 160 + m + 16n), qh[4] (weights 240 + j + 4n, n < 4, the
    fifth trit zero), d fp16."""
    b = t.reshape(-1, 256).astype(np.uint16) + 1
    nb = b.shape[0]
    first = b[:, :160].reshape(nb, 5, 32).transpose(0, 2, 1)        # [blk][m][n]
    second = b[:, 160:240].reshape(nb, 5, 16).transpose(0, 2, 1)
    third = b[:, 240:].reshape(nb, 4, 4).transpose(0, 2, 1)          # [blk][j][n]
    third = np.concatenate([third, np.zeros((nb, 4, 1), np.uint16)], axis=2)
    blocks = np.zeros((nb, 54), np.uint8)
    blocks[:, :32] = _tq1_pack(first)
    blocks[:, 32:48] = _tq1_pack(second)
    blocks[:, 48:52] = _tq1_pack(third)
    blocks[:, 52:54] = np.frombuffer(np.float16(d).tobytes(), np.uint8)
    return blocks.tobytes()


def enc_i2_s(t, scale):
    q = (t.reshape(-1, 4, 32).astype(np.uint8) + 1)                  # [block][group][pos]
    codes = (q[:, 0] << 6) | (q[:, 1] << 4) | (q[:, 2] << 2) | q[:, 3]
    tail = np.zeros(32, np.uint8)
    tail[:4] = np.frombuffer(np.float32(scale).tobytes(), np.uint8)
    return codes.tobytes() + tail.tobytes()


def ternary_bytes(kind, t, scale):
    if kind == "tq2_0":
        return GGML_TQ2_0, enc_tq2_0(t, scale)
    if kind == "tq1_0":
        return GGML_TQ1_0, enc_tq1_0(t, scale)
    if kind == "i2_s":
        return GGML_I2_S, enc_i2_s(t, scale)
    raise ValueError(kind)


# ---- GGUF writer ------------------------------------------------------------------------
def w_str(s):
    b = s.encode("utf-8") if isinstance(s, str) else s
    return struct.pack("<Q", len(b)) + b


def w_scalar(ty, v):
    if ty == T_U32:
        return struct.pack("<I", v)
    if ty == T_I32:
        return struct.pack("<i", v)
    if ty == T_F32:
        return struct.pack("<f", v)
    if ty == T_BOOL:
        return struct.pack("<B", 1 if v else 0)
    if ty == T_STRING:
        return w_str(v)
    raise ValueError(ty)


def w_kv(key, ty, v):
    out = w_str(key)
    if isinstance(ty, tuple):
        et = ty[1]
        out += struct.pack("<IIQ", T_ARRAY, et, len(v))
        if et == T_F32:
            out += np.asarray(v, "<f4").tobytes()
        elif et == T_I32:
            out += np.asarray(v, "<i4").tobytes()
        else:
            out += b"".join(w_scalar(et, x) for x in v)
        return out
    return out + struct.pack("<I", ty) + w_scalar(ty, v)


def write_gguf(path, kvs, tensors):
    """tensors: list of (name, ne list, ggml type, nbytes, producer() -> bytes)."""
    head = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    head += b"".join(w_kv(*kv) for kv in kvs)
    off = 0
    for name, ne, ty, nbytes, _ in tensors:
        head += w_str(name) + struct.pack("<I", len(ne)) + struct.pack("<%dQ" % len(ne), *ne)
        head += struct.pack("<IQ", ty, off)
        off += (nbytes + ALIGN - 1) // ALIGN * ALIGN
    head += b"\0" * (-len(head) % ALIGN)
    with open(path, "wb") as f:
        f.write(head)
        for name, ne, ty, nbytes, produce in tensors:
            data = produce()
            if len(data) != nbytes:
                raise AssertionError("%s: %d bytes, expected %d" % (name, len(data), nbytes))
            f.write(data)
            f.write(b"\0" * (-nbytes % ALIGN))


# ---- the model ----------------------------------------------------------------------------
SHAPES = {
    # hidden, ffn, layers, heads, kv heads, context
    "tiny": (256, 512, 2, 4, 2, 256),
    # every matrix input is 256 values: one activation row is one q8_K block, so the
    # runner's per-token 8-bit rounding and llama.cpp's per-block one are the same
    "block": (256, 256, 2, 4, 2, 256),
    "2b4t": (2560, 6912, 30, 20, 5, 4096),
}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out")
    ap.add_argument("--arch", default="bitnet", choices=["bitnet", "bitnet-b1.58", "bitnet-25", "llama"])
    ap.add_argument("--type", default="tq2_0", choices=["tq2_0", "tq1_0", "i2_s"])
    ap.add_argument("--vocab", default="gpt2", choices=["gpt2", "llama"])
    ap.add_argument("--shape", default="tiny", choices=sorted(SHAPES))
    ap.add_argument("--scales", action="store_true", help="add blk.N.<matrix>.scale F32 tensors")
    ap.add_argument("--seed", type=int, default=1)
    a = ap.parse_args()
    rng = np.random.default_rng(a.seed)
    hidden, ffn, layers, heads, kv_heads, ctx = SHAPES[a.shape]
    hd = hidden // heads
    if a.vocab == "gpt2":
        n_vocab, tok_kv = vocab_gpt2(400)
    else:
        n_vocab, tok_kv = vocab_llama(400)
    if a.shape == "2b4t":
        n_vocab = 128256  # the real vocabulary size; ids past the learned ones are padding
        toks = dict((k, v) for k, _, v in tok_kv)["tokenizer.ggml.tokens"]
        pad = ["<|reserved_special_token_%d|>" % i for i in range(n_vocab - len(toks))]
        tok_kv = [(k, t, (v + pad if k == "tokenizer.ggml.tokens" else
                          v + [3] * len(pad) if k == "tokenizer.ggml.token_type" else
                          v + [-1e9] * len(pad) if k == "tokenizer.ggml.scores" else v))
                  for k, t, v in tok_kv]
    A = a.arch
    eps = 1e-5 if A == "bitnet" else 1e-6
    kvs = [("general.architecture", T_STRING, A),
           ("general.name", T_STRING, "random %s %s %s" % (A, a.shape, a.type)),
           ("general.alignment", T_U32, ALIGN),
           (A + ".vocab_size", T_U32, n_vocab),
           (A + ".context_length", T_U32, ctx),
           (A + ".embedding_length", T_U32, hidden),
           (A + ".block_count", T_U32, layers),
           (A + ".feed_forward_length", T_U32, ffn),
           (A + ".attention.head_count", T_U32, heads),
           (A + ".attention.head_count_kv", T_U32, kv_heads),
           (A + ".attention.layer_norm_rms_epsilon", T_F32, eps),
           (A + ".rope.freq_base", T_F32, 500000.0 if a.shape == "2b4t" else 10000.0),
           (A + ".rope.dimension_count", T_U32, hd)] + tok_kv

    tensors = []

    def f32(name, ne, gen):
        n = int(np.prod(ne))
        tensors.append((name, ne, GGML_F32, 4 * n, lambda: np.asarray(gen(n), "<f4").tobytes()))

    # attn_output and ffn_down write into the residual stream: their gain of 8 keeps a
    # token's own embedding from dominating the tied output head (a random model would
    # otherwise only repeat its last token)
    def tern(name, cols, rows, gain=1.0):
        n = rows * cols
        nbytes = {"tq2_0": n // 256 * 66, "tq1_0": n // 256 * 54, "i2_s": n // 4 + 32}[a.type]
        seed = int(rng.integers(1 << 62))

        def produce():
            r = np.random.default_rng(seed)
            t = (r.integers(0, 3, size=(rows, cols), dtype=np.int8) - 1)
            scale = fp16_round(float(r.uniform(0.6, 1.4)) / np.sqrt(cols * 2.0 / 3.0) * gain)
            return ternary_bytes(a.type, t, scale)[1]

        ty = {"tq2_0": GGML_TQ2_0, "tq1_0": GGML_TQ1_0, "i2_s": GGML_I2_S}[a.type]
        tensors.append((name, [cols, rows], ty, nbytes, produce))
        if a.scales:
            s = float(rng.uniform(0.8, 1.25))
            f32(name.replace(".weight", ".scale"), [1], lambda n, s=s: [s])

    emb_seed = int(rng.integers(1 << 62))

    def emb():
        r = np.random.default_rng(emb_seed)
        out = bytearray()
        for i in range(0, n_vocab, 4096):
            m = min(4096, n_vocab - i)
            out += (r.standard_normal((m, hidden), np.float32) * 0.5).astype("<f2").tobytes()
        return bytes(out)

    tensors.append(("token_embd.weight", [hidden, n_vocab], GGML_F16, 2 * hidden * n_vocab, emb))

    def norm(n):
        return 1.0 + 0.1 * rng.standard_normal(n)

    for i in range(layers):
        p = "blk.%d." % i
        f32(p + "attn_norm.weight", [hidden], norm)
        tern(p + "attn_q.weight", hidden, heads * hd)
        tern(p + "attn_k.weight", hidden, kv_heads * hd)
        tern(p + "attn_v.weight", hidden, kv_heads * hd)
        if A != "llama":  # llama: no sub-norms (Falcon3's 1.58-bit models)
            f32(p + "attn_sub_norm.weight", [hidden], norm)
        tern(p + "attn_output.weight", heads * hd, hidden, 8.0)
        f32(p + "ffn_norm.weight", [hidden], norm)
        tern(p + "ffn_gate.weight", hidden, ffn)
        tern(p + "ffn_up.weight", hidden, ffn)
        if A != "llama":
            f32(p + "ffn_sub_norm.weight", [ffn], norm)
        tern(p + "ffn_down.weight", ffn, hidden, 8.0)
    f32("output_norm.weight", [hidden], norm)
    write_gguf(a.out, kvs, tensors)


if __name__ == "__main__":
    sys.exit(main())
