#!/usr/bin/env python3
"""examples/bitnet.c on corrupted models: every file is refused with a message or runs.

    bitnet_mutate.py BITNET DIR COUNT [SEED]

Takes the tiny models tests/run_bitnet.sh writes into DIR and, COUNT times, changes one to
three things in one of them while keeping the GGUF container valid, so that the runner's own
checks are reached rather than the GGUF reader's (which its libFuzzer target covers):
hyperparameters (zero, one, huge, negative, NaN), kvs deleted or retyped, vocabulary
strings (empty, invalid UTF-8, long, duplicated), token types, scores and merges (cut
short, unknown pieces, no space), special token ids out of range, the tokenizer model,
tensor shapes and types (a norm one element short, F16 norms, an F32 embedding, swapped
dimensions), tensors removed or renamed. BITNET should be built with ASan and UBSan.

Each run must exit 0 (it generated) or 1 with a last stderr line "bitnet: <reason>",
with no sanitizer report, signal or hang. A few cases too unlikely at random come first,
each with the exit status it must give (a prompt byte with no token is refused: reading
"token -1" would read outside the embedding, where ASan does not see the mapped file). Prints "FAILED: ..." for each that does not,
then one summary line, and exits 1 on any failure; the failing file stays in DIR.
"""
import math
import os
import random
import struct
import subprocess
import sys

SOURCES = ["bn_tq2.gguf", "bn_tq1_spm.gguf", "b158_i2s.gguf", "b25_tq2.gguf", "ll_tq2.gguf"]
U8, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 = range(13)
SIMPLE = {U8: "B", I8: "b", U16: "H", I16: "h", U32: "I", I32: "i", F32: "f", BOOL: "B", U64: "Q", I64: "q",
          F64: "d"}
GGML_F32, GGML_F16 = 0, 1


# ---- a GGUF file as lists: kvs [key, type, value] (arrays: [key, (ARR, elem), list]),
# tensors [name, dims, ggml type, data bytes]; written back packed at the file's alignment
def read(path):
    b = open(path, "rb").read()
    o = [24]

    def take(fmt):
        v = struct.unpack_from("<" + fmt, b, o[0])
        o[0] += struct.calcsize("<" + fmt)
        return v[0]

    def string():
        n = take("Q")
        o[0] += n
        return b[o[0] - n:o[0]]

    def value(ty):
        return string() if ty == STR else take(SIMPLE[ty])

    nt, nkv = struct.unpack_from("<QQ", b, 8)
    kvs, infos = [], []
    for _ in range(nkv):
        key, ty = string(), take("I")
        if ty == ARR:
            et, n = take("I"), take("Q")
            kvs.append([key, (ARR, et), [value(et) for _ in range(n)]])
        else:
            kvs.append([key, ty, value(ty)])
    for _ in range(nt):
        name, nd = string(), take("I")
        dims = [take("Q") for _ in range(nd)]
        infos.append((name, dims, take("I"), take("Q")))
    align = next((v for k, t, v in kvs if k == b"general.alignment"), 32)
    base = (o[0] + align - 1) // align * align
    ends = [off for _, _, _, off in infos[1:]] + [len(b) - base]
    tensors = []
    for (name, dims, ty, off), end in zip(infos, ends):
        if ty in (GGML_F32, GGML_F16):  # the exact bytes (others keep their padding: harmless)
            end = off + (4 if ty == GGML_F32 else 2) * math.prod(dims)
        tensors.append([name, dims, ty, b[base + off:base + end]])
    return kvs, tensors, align


def write(path, kvs, tensors, align):
    def string(s):
        return struct.pack("<Q", len(s)) + s

    def value(ty, v):
        return string(v) if ty == STR else struct.pack("<" + SIMPLE[ty], v)

    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs))
    for key, ty, v in kvs:
        if isinstance(ty, tuple):
            out += string(key) + struct.pack("<IIQ", ARR, ty[1], len(v)) + b"".join(value(ty[1], x) for x in v)
        else:
            out += string(key) + struct.pack("<I", ty) + value(ty, v)
    off, data = 0, b""
    for name, dims, ty, d in tensors:
        out += string(name) + struct.pack("<I", len(dims)) + struct.pack("<%dQ" % len(dims), *dims)
        out += struct.pack("<IQ", ty, off)
        d += b"\0" * (-len(d) % align)
        off += len(d)
        data += d
    out += b"\0" * (-len(out) % align)
    with open(path, "wb") as f:
        f.write(out + data)


# ---- mutations: each changes one thing and names it
def mutate(rng, kvs, tensors):
    def pick(items):
        return rng.choice(items) if items else None

    def pick_kv(pred):
        return pick([kv for kv in kvs if pred(kv)])

    def arr(key):  # an array kv with at least one element, or None
        kv = next((kv for kv in kvs if kv[0] == key), None)
        return kv if kv and isinstance(kv[1], tuple) and kv[2] else None

    def cut_or_set(key, what, bad):  # the array cut short, or one element set to one of `bad`
        kv = arr(key)
        if not kv:
            return "nothing"
        if rng.random() < 0.5:
            del kv[2][rng.randrange(len(kv[2])):]
            return "%s cut to %d" % (what, len(kv[2]))
        i = rng.randrange(len(kv[2]))
        kv[2][i] = rng.choice(bad)
        return "%s %d = %r" % (what, i, kv[2][i])

    # an earlier change may have removed what a later one changes: then nothing changes
    k = rng.randrange(15)
    if k == 0:
        kv = pick_kv(lambda kv: kv[1] == U32)
        if not kv:
            return "nothing"
        kv[2] = rng.choice([0, 1, 2, 3, 7, 255, 256, 257, 4096, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1])
        return "%s = %d" % (kv[0].decode(), kv[2])
    if k == 1:
        kv = pick_kv(lambda kv: kv[1] == F32)
        if not kv:
            return "nothing"
        kv[2] = rng.choice([0.0, -1.0, float("nan"), float("inf"), 1e30, 1e-30])
        return "%s = %r" % (kv[0].decode(), kv[2])
    if k == 2:
        kv = pick(kvs)
        if not kv:
            return "nothing"
        kvs.remove(kv)
        return "no %s" % kv[0].decode()
    if k == 3:
        kv = pick_kv(lambda kv: not isinstance(kv[1], tuple))
        if not kv:
            return "nothing"
        kv[1], kv[2] = rng.choice([(I32, -1), (STR, b"12"), (F32, 2.5), (U64, 2 ** 40), (U8, 3)])
        return "%s retyped" % kv[0].decode()
    if k == 4:
        kv = arr(b"tokenizer.ggml.tokens")
        if not kv:
            return "nothing"
        toks = kv[2]
        i = rng.randrange(len(toks))
        toks[i] = rng.choice([b"", b"\xff\xfe", b"\xe6\x97", b"x" * 1000, toks[rng.randrange(len(toks))],
                              b"<|eot_id|>", b"\xc4\xa0\xc4\xa0"])
        return "token %d = %r" % (i, toks[i][:20])
    if k == 5:
        return cut_or_set(b"tokenizer.ggml.token_type", "token types", [-5, 0, 2, 3, 4, 5, 6, 100])
    if k == 6:
        return cut_or_set(b"tokenizer.ggml.scores", "scores", [float("nan"), float("inf"), -float("inf"), 1e30])
    if k == 7:
        kv = arr(b"tokenizer.ggml.merges")
        if not kv:
            return "nothing"
        if rng.random() < 0.3:
            del kv[2][rng.randrange(len(kv[2]) + 1):]
            return "merges cut to %d" % len(kv[2])
        if not kv[2]:
            return "no merges left"
        i = rng.randrange(len(kv[2]))
        kv[2][i] = rng.choice([b"", b" ", b"ab", b"a b c", b"zz qq", b" x", b"x ", b"\xff \xfe", kv[2][0]])
        return "merge %d = %r" % (i, kv[2][i])
    if k == 8:
        kv = pick_kv(lambda kv: kv[0].endswith(b"_token_id"))
        if not kv:
            return "nothing"
        toks = arr(b"tokenizer.ggml.tokens")
        kv[1], kv[2] = U32, rng.choice([len(toks[2]) if toks else 1000, 2 ** 31 - 1, 2 ** 32 - 1])
        return "%s = %d" % (kv[0].decode(), kv[2])
    if k == 9:
        kv = next((kv for kv in kvs if kv[0] == b"tokenizer.ggml.model"), None)
        if not kv:
            return "nothing"
        kv[1], kv[2] = STR, rng.choice([b"gpt2", b"llama", b"bert", b""])
        return "tokenizer model %r" % kv[2]
    if k == 10:
        t = pick([t for t in tensors if t[2] == GGML_F32 and t[1][0] > 0])
        if not t:
            return "nothing"
        n = t[1][0] + rng.choice([-1, 1])
        t[1][0], t[3] = n, (t[3] + b"\0\0\0\0")[:4 * n]
        return "%s has %d elements" % (t[0].decode(), n)
    if k == 11:
        t = pick([t for t in tensors if t[2] == GGML_F32 and len(t[1]) == 1])
        if not t:
            return "nothing"
        f = struct.unpack("<%df" % t[1][0], t[3])
        t[2], t[3] = GGML_F16, struct.pack("<%de" % len(f), *f)
        return "%s as F16" % t[0].decode()
    if k == 12:
        t = next((t for t in tensors if t[0] == b"token_embd.weight"), None)
        if not t:
            return "nothing"
        if t[2] == GGML_F16 and rng.random() < 0.5:
            h = struct.unpack("<%de" % (len(t[3]) // 2), t[3])
            t[2], t[3] = GGML_F32, struct.pack("<%df" % len(h), *h)
            return "token_embd as F32"
        t[1].reverse()
        return "token_embd dimensions swapped"
    if not tensors:
        return "nothing"
    if k == 13:
        t = rng.choice(tensors)
        tensors.remove(t)
        return "no %s" % t[0].decode()
    t = rng.choice(tensors)
    t[0] = rng.choice([b"blk.9.attn_q.weight", b"blk.0.attn_q.weight", b"output.weight", b"x"])
    return "a tensor renamed %s" % t[0].decode()


# ---- cases too unlikely at random: (model, change, the exit status it must give)
def set_kv(kvs, key, ty, v):
    kv = next((kv for kv in kvs if kv[0] == key), None)
    if kv:
        kv[1], kv[2] = ty, v
    else:
        kvs.append([key, ty, v])


def no_byte_tokens(kvs, tensors):
    toks = next(kv for kv in kvs if kv[0] == b"tokenizer.ggml.tokens")[2]
    for i, t in enumerate(toks):
        if t.startswith(b"<0x"):
            toks[i] = b"not a byte %d" % i
    set_kv(kvs, b"tokenizer.ggml.unknown_token_id", U32, 2 ** 32 - 1)
    return "no byte tokens, unknown_token_id -1 (the prompt has an Omega, which has no token)"


def bos_out_of_range(kvs, tensors):
    set_kv(kvs, b"tokenizer.ggml.bos_token_id", U32, 100000)
    set_kv(kvs, b"tokenizer.ggml.add_bos_token", BOOL, 1)
    return "bos_token_id past the vocabulary (no BOS then)"


def gpt2_byte_missing(kvs, tensors):
    toks = next(kv for kv in kvs if kv[0] == b"tokenizer.ggml.tokens")[2]
    toks[toks.index(b"!")] = b"not a byte"
    return "a byte-level vocabulary without the byte '!'"


CASES = [("bn_tq1_spm.gguf", no_byte_tokens, 1), ("b158_i2s.gguf", bos_out_of_range, 0),
         ("bn_tq2.gguf", gpt2_byte_missing, 1)]


def main():
    B, DIR, COUNT = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = random.Random(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
    models = dict((s, read(os.path.join(DIR, s))) for s in SOURCES)
    fails = ran = refused = 0
    path = os.path.join(DIR, "mutated.gguf")
    for i in range(len(CASES) + COUNT):
        src = CASES[i][0] if i < len(CASES) else rng.choice(SOURCES)
        kvs, tensors, align = models[src]
        kvs = [list(kv) if not isinstance(kv[1], tuple) else [kv[0], kv[1], list(kv[2])] for kv in kvs]
        tensors = [[n, list(d), ty, data] for n, d, ty, data in tensors]
        if i < len(CASES):
            what = CASES[i][1](kvs, tensors)
        else:
            what = "; ".join(mutate(rng, kvs, tensors) for _ in range(rng.choice([1, 1, 2, 3])))
        write(path, kvs, tensors, align)
        args = [B, path, "-p", "Hello world, café 日本 🙂 Ω", "-n", "3", "--temp", "0"]
        args += [] if i < len(CASES) else rng.choice([[], ["-t", "2"], ["--chat"]])
        try:
            r = subprocess.run(args, capture_output=True, timeout=60)
        except subprocess.TimeoutExpired:
            r = None
        err = r.stderr.decode("utf-8", "replace") if r else ""
        last = (err.strip().splitlines() or [""])[-1]
        ok = r is not None and "Sanitizer" not in err and "runtime error" not in err and (
            r.returncode == 0 or (r.returncode == 1 and last.startswith("bitnet: ")))
        if i < len(CASES) and r is not None and r.returncode != CASES[i][2]:
            ok = False
        if not ok:
            fails += 1
            keep = os.path.join(DIR, "mutated_fail_%d.gguf" % i)
            os.replace(path, keep)
            print("FAILED: %s with %s: %s (%s)" % (src, what, "hang" if r is None else "exit %d" % r.returncode, keep))
            print("\n".join(err.splitlines()[-8:]))
        elif r.returncode == 0:
            ran += 1
        else:
            refused += 1
    print("bitnet_mutate: %d corrupted models: %d ran, %d refused with a reason, %d failed"
          % (len(CASES) + COUNT, ran, refused, fails))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
