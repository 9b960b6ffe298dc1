#!/usr/bin/env python3
"""examples/bitnet.c against llama.cpp (tests/llama_oracle.c over libllama), on the tiny
models tests/run_bitnet.sh generates.

    bitnet_oracle.py BITNET LLAMA_ORACLE LIBDIR DIR

- tokenization of a set of strings (ASCII, accents, CJK, emoji, code, whitespace runs,
  special tokens) identical id for id, for the byte-level BPE and the SentencePiece files;
- logits at every prompt position: the largest difference is reported against the
  logits' standard deviation (llama.cpp rounds activations to 8 bits per 256-value block
  (q8_K), bitlinear per token, so they differ by about what activation quantization
  costs); it must stay under 25% of the std, and the argmax must agree at >= 99% of
  the positions where llama.cpp's top-2 margin exceeds that difference (random tiny
  models have many near ties: below it either answer is within the noise of 8-bit
  activations; the agreement over all positions is printed too);
- greedy continuation of 32 tokens identical at every step where llama.cpp's top-2
  margin exceeds the measured difference (the first near tie decided the other way
  ends the comparison: from there the two sequences differ);
- the same on `block`-shaped files (every matrix input 256 values, so both round
  activations alike) read with the runner's F32 output head: here the logits must agree
  to within 5% of the std at most and 0.5% in rms (float summation order), the argmax at
  >= 99% of all positions and the greedy continuation for all 32 steps. This is the
  tight check of the graph: a wrong RoPE pairing, norm or scale shows up far above that.
Prints "FAILED: ..." lines and exits 1 on any failure.
"""
import os
import subprocess
import sys

import numpy as np

B, O, LIB, OUT = sys.argv[1:5]
STRINGS = ["Hello world", "The quick brown fox jumps over the lazy dog.", "It's what they're saying: we'll see",
           "Café, naïve, résumé, über, año", "Ünïcödé text", "日本語のテキスト 中文文本 한국어",
           "Ελληνικά, русский язык", "Emoji 🙂🚀 too 👍🏽", "def main(argc, argv):\n    return 0  # code",
           "for (int i = 0; i < n; ++i) { sum += x[i]; }", "spaces   and\ttabs\t\t and\n\nnewlines \n  end  ",
           "   leading", "trailing   ", "12345 and 2026, 3.14159, 1234567",
           "<|begin_of_text|>User: hi<|eot_id|>Assistant: ", "a<|eot_id|>b<|end_of_text|>",
           "e\u0301 combining; \u00a0nbsp; \u3000 wide", "x\r\ny\r\n\r\n z", "I'M SHOUTING, I'LL SEE"]
fails = 0


def fail(msg):
    global fails
    fails += 1
    print("FAILED:", msg)


def ours_tokens(path, s):
    e = subprocess.run([B, path, "-p", s, "-n", "0"], capture_output=True, text=True, errors="replace",
                       env=dict(os.environ, BITNET_TOKENS="1"))
    lines = [l[7:].strip() for l in e.stderr.splitlines() if l.startswith("tokens:")]
    return lines[0] if lines else "(run failed: %s)" % e.stderr[-200:]


for model in ["bn_tq2.gguf", "bn_tq1_spm.gguf"]:
    path = OUT + "/" + model
    with open(OUT + "/strings.bin", "wb") as f:
        f.write(b"\0".join(s.encode() for s in STRINGS) + b"\0")
    r = subprocess.run([O, LIB, "tokenize", path, OUT + "/strings.bin"], capture_output=True, text=True, errors="replace")
    if r.returncode != 0:
        fail("%s: llama.cpp tokenize: %s" % (model, r.stderr[-300:]))
        continue
    theirs = r.stdout.splitlines()
    same = 0
    for s, t in zip(STRINGS, theirs):
        o = ours_tokens(path, s)
        if o == t.strip():
            same += 1
        else:
            fail("%s: tokens of %r: ours %s, llama.cpp %s" % (model, s, o, t))
    print("%s: tokenization identical to llama.cpp's for %d of %d strings" % (model, same, len(STRINGS)))

PROMPT = "Hello world! The quick brown fox jumps over the lazy dog, and it's 2026. Café 日本語 🙂"
N = 32


def logits(model, strict):
    """Ours against llama.cpp's logits for one model. strict: a `block`-shaped file read
    with the F32 output head, where both round activations the same way, so the logits
    must agree to float rounding (a stray step of one 8-bit rounding at most) and the
    argmax at >= 99% of all positions."""
    path = OUT + "/" + model
    r = subprocess.run([O, LIB, "logits", path, PROMPT, str(N), OUT + "/oracle.f32"], capture_output=True, text=True, errors="replace")
    env = dict(os.environ, BITNET_HEAD="f32") if strict else None
    e = subprocess.run([B, path, "-p", PROMPT, "-n", str(N), "--temp", "0", "--dump-logits", OUT + "/ours.f32"],
                       capture_output=True, text=True, errors="replace", env=env)
    if r.returncode != 0 or e.returncode != 0:
        fail("%s: a run failed: %s %s" % (model, r.stderr[-300:], e.stderr[-300:]))
        return
    P = len(r.stdout.split("|")[0].split())
    theirs = np.fromfile(OUT + "/oracle.f32", "<f4")
    V = theirs.size // (P + N)
    theirs = theirs.reshape(-1, V)
    ours = np.fromfile(OUT + "/ours.f32", "<f4").reshape(-1, V)
    d = np.abs(ours[:P] - theirs[:P]).max()
    rms = np.sqrt(((ours[:P] - theirs[:P]) ** 2).mean())
    std = theirs[:P].std()
    top2 = np.sort(theirs, axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    eq = ours[:P].argmax(1) == theirs[:P].argmax(1)
    agree = eq.mean()
    clear = margin[:P] > d
    agree_clear = eq[clear].mean() if clear.any() else 1.0
    steps = 0
    for i in range(N):
        row = P - 1 + i
        if row >= len(ours):
            break
        a, b = ours[row].argmax(), theirs[row].argmax()
        if a != b:
            if margin[row] > d:
                fail("%s: greedy token %d: ours %d, llama.cpp %d (margin %.3f)" % (model, i, a, b, margin[row]))
            break
        steps += 1
    print("%s%s: %d prompt positions: max |ours - llama.cpp| %.4f = %.2f%% of the logits' std %.3f (rms %.2f%%); "
          "argmax equal at %.1f%% of all positions, at %.1f%% of the %d where llama.cpp's top-2 margin exceeds "
          "that; greedy continuation identical for %d of %d steps"
          % (model, " (F32 head)" if strict else "", P, d, 100 * d / std, std, 100 * rms / std, 100 * agree,
             100 * agree_clear, clear.sum(), steps, N))
    if agree_clear < 0.99:
        fail("%s: argmax agreement %.3f where the margin is clear" % (model, agree_clear))
    if d > 0.25 * std:
        fail("%s: logits differ by %.3f" % (model, d))
    if strict:
        if agree < 0.99:
            fail("%s: argmax agreement %.3f over all positions" % (model, agree))
        if d > 0.05 * std or rms > 0.005 * std:
            fail("%s: logits differ by %.4f (rms %.4f) where both round activations alike" % (model, d, rms))
        if steps < N:
            fail("%s: greedy continuation identical for only %d of %d steps" % (model, steps, N))


for model in ["bn_tq2.gguf", "bn_tq1.gguf", "bn_tq1_spm.gguf", "ll_tq2.gguf"]:
    logits(model, False)
for model in ["blk_tq2.gguf", "blk_tq1_spm.gguf", "blk_ll.gguf"]:
    logits(model, True)
sys.exit(1 if fails else 0)
