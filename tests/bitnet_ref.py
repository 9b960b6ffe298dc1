#!/usr/bin/env python3
"""Float reference for BitNet GGUF models, independent of examples/bitnet.c.

    bitnet_ref.py MODEL.gguf PROMPT N_GEN OUT.f32 [--int8] [--follow RUN.f32]

Reads the GGUF file with its own parser, dequantizes every tensor with its own decoders
(written from ggml's dequantize_row_tq1_0 / dequantize_row_tq2_0 in ggml-quants.c and
bitnet.cpp's I2_S layout), tokenizes PROMPT (ASCII text; the byte-level BPE with
LLaMA-3's pre-tokenizer or SentencePiece, simplified to ASCII), and computes the
logits at every position of prompt + greedy continuation of N_GEN tokens by recomputing
the whole sequence in float64, as llama.cpp's llm_build_bitnet does (bitnet-b1.58 /
bitnet-25: squared ReLU gate). Writes them as float32 rows like --dump-logits, and prints
the token ids. --follow takes the continuation from a runner's --dump-logits file
instead (its argmax at each step), so both compute the same sequence.

--int8 also rounds what the runner rounds: each ternary matrix's input per token to
int8 (absmax / 127) and the output head's rows and input to int8 per row / per token.
Then the runner must agree to float rounding; without it the difference is what
activation quantization costs.
"""
import re
import struct
import sys

import numpy as np

GGML_F32, GGML_F16, GGML_TQ1_0, GGML_TQ2_0, GGML_I2_S = 0, 1, 34, 35, 36


class Reader:
    def __init__(self, b):
        self.b, self.o = b, 0

    def take(self, fmt):
        v = struct.unpack_from("<" + fmt, self.b, self.o)
        self.o += struct.calcsize("<" + fmt)
        return v[0] if len(v) == 1 else v

    def string(self):
        n = self.take("Q")
        s = self.b[self.o:self.o + n]
        self.o += n
        return s.decode("utf-8", "surrogateescape")

    def value(self, ty):
        simple = {0: "B", 1: "b", 2: "H", 3: "h", 4: "I", 5: "i", 6: "f", 7: "?", 10: "Q", 11: "q", 12: "d"}
        if ty in simple:
            return self.take(simple[ty])
        if ty == 8:
            return self.string()
        if ty == 9:
            et, n = self.take("I"), self.take("Q")
            return [self.value(et) for _ in range(n)]
        raise ValueError("type %d" % ty)


def read_gguf(path):
    b = open(path, "rb").read()
    r = Reader(b)
    assert b[:4] == b"GGUF"
    r.o = 4
    version, nt, nkv = r.take("I"), r.take("Q"), r.take("Q")
    assert version in (2, 3)
    kv = {}
    for _ in range(nkv):
        k = r.string()
        kv[k] = r.value(r.take("I"))
    infos = []
    for _ in range(nt):
        name = r.string()
        nd = r.take("I")
        ne = [r.take("Q") for _ in range(nd)]
        infos.append((name, ne, r.take("I"), r.take("Q")))
    align = kv.get("general.alignment", 32)
    base = (r.o + align - 1) // align * align
    tensors = {}
    for name, ne, ty, off in infos:
        tensors[name] = (ne, ty, b, base + off)
    return kv, tensors


def dequant(t):
    ne, ty, b, off = t
    n = int(np.prod(ne))
    if ty == GGML_F32:
        x = np.frombuffer(b, "<f4", n, off).astype(np.float64)
    elif ty == GGML_F16:
        x = np.frombuffer(b, "<f2", n, off).astype(np.float64)
    elif ty == GGML_TQ2_0:
        blk = np.frombuffer(b, np.uint8, n // 256 * 66, off).reshape(-1, 66)
        d = blk[:, 64:66].copy().view("<f2").astype(np.float64)
        qs = blk[:, :64].reshape(-1, 2, 1, 32)
        q = (qs >> (2 * np.arange(4).reshape(1, 1, 4, 1))) & 3      # [blk][j][l][m]
        x = ((q.reshape(-1, 256).astype(np.float64) - 1) * d).reshape(-1)
    elif ty == GGML_TQ1_0:
        blk = np.frombuffer(b, np.uint8, n // 256 * 54, off).reshape(-1, 54)
        d = blk[:, 52:54].copy().view("<f2").astype(np.float64)
        pow3 = np.array([1, 3, 9, 27, 81], np.uint16)

        def digits(bytes_, k):   # [blk][m] -> [blk][n][m], trit n of each byte
            q = (bytes_[:, None, :].astype(np.uint16) * pow3[:k, None]) & 0xFF
            return (q * 3) >> 8
        a = digits(blk[:, :32], 5).reshape(-1, 160)
        c = digits(blk[:, 32:48], 5).reshape(-1, 80)
        h = digits(blk[:, 48:52], 4).reshape(-1, 16)
        x = ((np.concatenate([a, c, h], axis=1).astype(np.float64) - 1) * d).reshape(-1)
    elif ty == GGML_I2_S:
        codes = np.frombuffer(b, np.uint8, n // 4, off).reshape(-1, 1, 32)
        scale = np.frombuffer(b, "<f4", 1, off + n // 4)[0]
        q = (codes >> (6 - 2 * np.arange(4).reshape(1, 4, 1))) & 3  # [blk][group][pos]
        x = (q.reshape(-1).astype(np.float64) - 1) * float(scale)
    else:
        raise ValueError("type %d" % ty)
    return x.reshape(list(reversed(ne)))


# ---- tokenizer (ASCII prompts) --------------------------------------------------------------
def gpt2_bytes():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {b: chr(c) for b, c in zip(bs, cs)}


LLAMA3_ASCII = re.compile(r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\w]?[A-Za-z]+|[0-9]{1,3}"
                          r"| ?[^\sA-Za-z0-9]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")


def tokenize(kv, text):
    toks = kv["tokenizer.ggml.tokens"]
    ids = {t: i for i, t in reversed(list(enumerate(toks)))}
    out = []
    if kv.get("tokenizer.ggml.add_bos_token", True):
        out.append(kv["tokenizer.ggml.bos_token_id"])
    if kv["tokenizer.ggml.model"] == "gpt2":
        bm = gpt2_bytes()
        ranks = {tuple(m.split(" ", 1)): i for i, m in enumerate(kv["tokenizer.ggml.merges"])}
        for piece in LLAMA3_ASCII.findall(text):
            sym = [bm[c] for c in piece.encode()]
            while True:
                cands = [(ranks.get((sym[i], sym[i + 1]), 1 << 60), i) for i in range(len(sym) - 1)]
                if not cands or min(cands)[0] == 1 << 60:
                    break
                _, i = min(cands)
                sym[i:i + 2] = [sym[i] + sym[i + 1]]
            out += [ids[s] for s in sym]
    else:
        scores = kv["tokenizer.ggml.scores"]
        s = ("\u2581" + text).replace(" ", "\u2581")
        sym = list(s)
        while True:
            best = None
            for i in range(len(sym) - 1):
                j = ids.get(sym[i] + sym[i + 1])
                if j is not None and (best is None or scores[j] > best[0]):
                    best = (scores[j], i)
            if best is None:
                break
            i = best[1]
            sym[i:i + 2] = [sym[i] + sym[i + 1]]
        for p in sym:
            if p in ids:
                out.append(ids[p])
            else:
                out += [ids["<0x%02X>" % c] for c in p.encode()]
    return out


# ---- the network ----------------------------------------------------------------------------
def q8(x):
    """per row: x ~= s * q, q = round(x * 127 / absmax)"""
    a = np.abs(x).max(axis=-1, keepdims=True)
    s = a / 127.0
    q = np.round(x * np.where(a > 0, 127.0 / np.where(a > 0, a, 1), 0))
    return q * s


class Model:
    def __init__(self, path, int8):
        kv, t = read_gguf(path)
        A = kv["general.architecture"]
        assert A in ("bitnet", "bitnet-b1.58", "bitnet-25", "llama"), A
        self.kv, self.int8 = kv, int8
        self.relu_sqr = A not in ("bitnet", "llama")
        self.adjacent = A == "llama"  # llama: RoPE on pairs (2i, 2i + 1) ...
        self.sub_norms = A != "llama"  # ... and no attn/ffn sub-norms
        g = lambda k, d=None: kv.get(A + "." + k, d)
        self.H, self.L = g("embedding_length"), g("block_count")
        self.nh = g("attention.head_count")
        self.nkv = g("attention.head_count_kv", self.nh)
        self.hd = self.H // self.nh
        self.rot = g("rope.dimension_count", self.hd)
        self.eps = np.float32(g("attention.layer_norm_rms_epsilon", 1e-5))
        self.base = g("rope.freq_base", 10000.0)
        self.emb = dequant(t["token_embd.weight"])
        self.head = dequant(t["output.weight"]) if "output.weight" in t else self.emb
        if int8:
            self.head = q8(self.head)
        self.out_norm = dequant(t["output_norm.weight"])
        self.layers = []
        for i in range(self.L):
            d = {}
            for n in ["attn_norm", "attn_sub_norm", "ffn_norm", "ffn_sub_norm", "attn_q", "attn_k",
                      "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"]:
                if n.endswith("sub_norm") and not self.sub_norms:
                    continue
                d[n] = dequant(t["blk.%d.%s.weight" % (i, n)])
                sn = "blk.%d.%s.scale" % (i, n)
                d[n + ".scale"] = float(dequant(t[sn]).reshape(-1)[0]) if sn in t else 1.0
            self.layers.append(d)

    def mm(self, x, d, n):
        if self.int8:
            x = q8(x)
        return (x @ d[n].T) * d[n + ".scale"]

    def rms(self, x, w):
        return x / np.sqrt((x * x).mean(axis=-1, keepdims=True) + float(self.eps)) * w

    def sub_norm(self, x, d, n):
        return self.rms(x, d[n]) if n in d else x

    def rope(self, x, pos):      # x [T][heads][hd], NeoX: i pairs with i + rot/2; llama: 2i with 2i + 1
        half = self.rot // 2
        theta = pos[:, None] * self.base ** (-2.0 * np.arange(half) / self.rot)
        c, s = np.cos(theta)[:, None, :], np.sin(theta)[:, None, :]
        first, second = (slice(0, self.rot, 2), slice(1, self.rot, 2)) if self.adjacent else \
            (slice(0, half), slice(half, self.rot))
        x0, x1 = x[..., first].copy(), x[..., second].copy()
        x = x.copy()
        x[..., first] = x0 * c - x1 * s
        x[..., second] = x0 * s + x1 * c
        return x

    def logits(self, ids):
        T = len(ids)
        pos = np.arange(T, dtype=np.float64)
        x = self.emb[ids]
        mask = np.triu(np.full((T, T), -np.inf), 1)
        for d in self.layers:
            h = self.rms(x, d["attn_norm"])
            q = self.rope(self.mm(h, d, "attn_q").reshape(T, self.nh, self.hd), pos)
            k = self.rope(self.mm(h, d, "attn_k").reshape(T, self.nkv, self.hd), pos)
            v = self.mm(h, d, "attn_v").reshape(T, self.nkv, self.hd)
            rep = self.nh // self.nkv
            k, v = np.repeat(k, rep, axis=1), np.repeat(v, rep, axis=1)
            a = np.einsum("thd,shd->hts", q, k) / np.sqrt(self.hd) + mask
            a = np.exp(a - a.max(axis=-1, keepdims=True))
            a /= a.sum(axis=-1, keepdims=True)
            o = np.einsum("hts,shd->thd", a, v).reshape(T, self.nh * self.hd)
            x = x + self.mm(self.sub_norm(o, d, "attn_sub_norm"), d, "attn_output")
            h = self.rms(x, d["ffn_norm"])
            gt, up = self.mm(h, d, "ffn_gate"), self.mm(h, d, "ffn_up")
            act = np.maximum(gt, 0) ** 2 if self.relu_sqr else gt / (1 + np.exp(-gt))
            x = x + self.mm(self.sub_norm(act * up, d, "ffn_sub_norm"), d, "ffn_down")
        h = self.rms(x, self.out_norm)
        if self.int8:
            h = q8(h)
        return h @ self.head.T


def main():
    path, prompt, n_gen, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    m = Model(path, "--int8" in sys.argv[5:])
    ids = tokenize(m.kv, prompt)
    n_prompt = len(ids)
    if "--follow" in sys.argv[5:]:
        run = np.fromfile(sys.argv[sys.argv.index("--follow") + 1], "<f4").reshape(-1, m.emb.shape[0])
        ids += [int(i) for i in run[n_prompt - 1:-1].argmax(axis=1)]
    else:
        for _ in range(n_gen):
            ids.append(int(np.argmax(m.logits(ids)[-1])))
    lg = m.logits(ids)
    lg.astype("<f4").tofile(out)
    print(" ".join(map(str, ids[:n_prompt])), "|", " ".join(map(str, ids[n_prompt:])))


if __name__ == "__main__":
    main()
