#!/usr/bin/env bash
# examples/bitnet.c end to end on tiny random BitNet GGUF models (tools/gen_bitnet_gguf.py):
# both architectures (bitnet: SiLU gate; bitnet-b1.58 / bitnet-25: squared ReLU), TQ2_0,
# TQ1_0 and I2_S layers, both tokenizer kinds, per-matrix scale tensors. The logits
# (--dump-logits) are compared with tests/bitnet_ref.py, an independent numpy reference:
#   - reference rounding activations to int8 as the runner does: max |diff| <= 5% of the
#     logits' standard deviation (only float32-vs-float64 sums remain, and the rare
#     activation that lands on the other side of an int8 rounding step: measured
#     0.5-2.8%), argmax equal at >= 99% of positions;
#   - plain float reference: max |diff| <= 25% of the std (what per-token 8-bit
#     activations cost these random models: measured 11-14%);
#   - against both: the argmax (the greedy token; the reference follows the runner's
#     continuation) equal at every position where the reference's top-2 margin exceeds
#     twice the measured difference.
# Then: lossless import (the same trits as TQ2_0 / TQ1_0 / I2_S give identical logits),
# threads and the weights' allocation (identical logits), bad input refused with a message
# naming what is wrong, corrupted models (tests/bitnet_mutate.py; BITNET_MUTATIONS of them,
# default 120) refused with a reason or run, under ASan and UBSan.
# Also runs the llama.cpp oracle (tests/llama_oracle.c) when libllama is available.
# The last line is "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
OUT=${1:-build/test}/bitnet
mkdir -p "$OUT"
PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); }
bad() { FAILED=$((FAILED + 1)); echo "FAILED: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

PY=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c "import numpy" >/dev/null 2>&1; then PY=$p; break; fi
done
if [ -z "$PY" ]; then echo "skipped: python3 with numpy not found (apt-get install python3-numpy)"; echo "0 passed, 0 failed"; exit 0; fi
CC=${CC:-cc}
B="$OUT/bitnet"
check "bitnet builds (-Werror)" $CC -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -I. examples/bitnet.c -o "$B" -lm -lpthread
check "bitnet builds with ASan+UBSan" $CC -std=c99 -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
    -Wall -Wextra -Wpedantic -Werror -I. examples/bitnet.c -o "$B-asan" -lm -lpthread
if command -v clang >/dev/null 2>&1; then
    check "bitnet builds with clang (-Werror)" clang -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -I. examples/bitnet.c \
        -o "$B-clang" -lm -lpthread
else
    echo "skipped: clang not found (the clang build of examples/bitnet.c)"
fi
[ -x "$B" ] || { echo "$PASSED passed, $FAILED failed"; exit 0; }

gen() { $PY tools/gen_bitnet_gguf.py "$@" >/dev/null; }
check "generator: bitnet tq2_0" gen "$OUT/bn_tq2.gguf" --arch bitnet --type tq2_0 --scales --seed 7
check "generator: bitnet tq1_0" gen "$OUT/bn_tq1.gguf" --arch bitnet --type tq1_0 --scales --seed 7
check "generator: bitnet i2_s" gen "$OUT/bn_i2s.gguf" --arch bitnet --type i2_s --scales --seed 7
check "generator: bitnet-b1.58 i2_s spm" gen "$OUT/b158_i2s.gguf" --arch bitnet-b1.58 --type i2_s --vocab llama --seed 3
check "generator: bitnet-25 tq2_0" gen "$OUT/b25_tq2.gguf" --arch bitnet-25 --type tq2_0 --seed 4
check "generator: bitnet tq1_0 spm" gen "$OUT/bn_tq1_spm.gguf" --arch bitnet --type tq1_0 --vocab llama --seed 5
check "generator: llama tq2_0" gen "$OUT/ll_tq2.gguf" --arch llama --type tq2_0 --seed 8
check "generator: llama i2_s spm" gen "$OUT/ll_i2s_spm.gguf" --arch llama --type i2_s --vocab llama --seed 9
# every matrix input one 256-value block: the llama.cpp oracle's exact comparison
check "generator: bitnet tq2_0 block" gen "$OUT/blk_tq2.gguf" --arch bitnet --type tq2_0 --scales --shape block --seed 7
check "generator: bitnet tq1_0 spm block" gen "$OUT/blk_tq1_spm.gguf" --arch bitnet --type tq1_0 --vocab llama --shape block --seed 5
check "generator: llama tq2_0 block" gen "$OUT/blk_ll.gguf" --arch llama --type tq2_0 --shape block --seed 8

PROMPT="Hello world! The quick brown fox jumps over the lazy dog, and it's 2026."
NGEN=16
compare() {  # compare NAME MODEL
    local name=$1 model=$2
    "$B" "$model" -p "$PROMPT" -n $NGEN --temp 0 --dump-logits "$OUT/$name.run" >"$OUT/$name.txt" 2>"$OUT/$name.err"
    check "$name: runs" [ $? -eq 0 ]
    $PY tests/bitnet_ref.py "$model" "$PROMPT" $NGEN "$OUT/$name.ref" --follow "$OUT/$name.run" >"$OUT/$name.ids" 2>&1
    check "$name: float reference runs" [ $? -eq 0 ]
    $PY tests/bitnet_ref.py "$model" "$PROMPT" $NGEN "$OUT/$name.ref8" --int8 --follow "$OUT/$name.run" >/dev/null 2>&1
    check "$name: int8 reference runs" [ $? -eq 0 ]
    $PY - "$OUT/$name" "$model" <<'EOF'
import sys, numpy as np
sys.path.insert(0, "tests")
import bitnet_ref as R
base, model = sys.argv[1], sys.argv[2]
kv, t = R.read_gguf(model)
V = t["token_embd.weight"][0][1]
run = np.fromfile(base + ".run", "<f4").reshape(-1, V)
ref = np.fromfile(base + ".ref", "<f4").reshape(-1, V)
ref8 = np.fromfile(base + ".ref8", "<f4").reshape(-1, V)
prompt_ids = open(base + ".ids").read().split("|")[0].split()
P = len(prompt_ids)
fails = []
n = len(run)
if not (P < n <= len(ref)):
    print("FAILED: %s rows in the dump, %d prompt tokens, %d reference rows" % (n, P, len(ref)))
    sys.exit(1)
std = ref[:n].std()
d8 = np.abs(run - ref8[:n]).max()
d = np.abs(run - ref[:n]).max()
agree = (run.argmax(1) == ref8[:n].argmax(1)).mean()
# argmax (the greedy token) at every position: the reference must pick the runner's
# token wherever its top-2 margin exceeds twice the measured difference (both compute
# the same sequence: the reference follows the runner's continuation)
def greedy(r, dd):
    top2 = np.sort(r[:n], axis=1)[:, -2:]
    margin = top2[:, 1] - top2[:, 0]
    checked = [i for i in range(n) if margin[i] >= 2 * dd]
    wrong = [i for i in checked if run[i].argmax() != r[i].argmax()]
    return len(checked), wrong
c8, w8 = greedy(ref8, d8)
c, w = greedy(ref, d)
if w8: fails.append("argmax at positions %s differs from the int8 reference" % w8)
if w: fails.append("argmax at positions %s differs from the float reference" % w)
print("%s: %d prompt + %d generated; int8 reference: max|diff| %.4f = %.2f%% of std %.3f, argmax equal %.1f%%, "
      "positions checked %d; float: %.4f = %.1f%%, positions checked %d"
      % (base.split("/")[-1], P, n - P, d8, 100 * d8 / std, std, 100 * agree, c8, d, 100 * d / std, c))
if d8 > 0.05 * std: fails.append("int8 reference differs by %.4f" % d8)
if d > 0.25 * std: fails.append("float reference differs by %.4f" % d)
if agree < 0.99: fails.append("argmax agreement %.3f" % agree)
for f in fails: print("FAILED:", f)
sys.exit(1 if fails else 0)
EOF
    check "$name: logits and greedy tokens match the reference" [ $? -eq 0 ]
}
compare bitnet_tq2 "$OUT/bn_tq2.gguf"
compare bitnet_tq1 "$OUT/bn_tq1.gguf"
compare bitnet_i2s "$OUT/bn_i2s.gguf"
compare b158_i2s_spm "$OUT/b158_i2s.gguf"
compare b25_tq2 "$OUT/b25_tq2.gguf"
compare bitnet_tq1_spm "$OUT/bn_tq1_spm.gguf"
compare llama_tq2 "$OUT/ll_tq2.gguf"
compare llama_i2s_spm "$OUT/ll_i2s_spm.gguf"

# the same trits and scales in three encodings: imported losslessly, so the same bits
check "TQ2_0 and TQ1_0 give identical logits" cmp -s "$OUT/bitnet_tq2.run" "$OUT/bitnet_tq1.run"
check "TQ2_0 and I2_S give identical logits" cmp -s "$OUT/bitnet_tq2.run" "$OUT/bitnet_i2s.run"

"$B" "$OUT/bn_tq2.gguf" -p "$PROMPT" -n $NGEN --temp 0 -t 2 --dump-logits "$OUT/t2.run" >/dev/null 2>&1
check "2 threads: identical logits" cmp -s "$OUT/bitnet_tq2.run" "$OUT/t2.run"
"$B" "$OUT/bn_tq2.gguf" -p "$PROMPT" -n $NGEN --temp 0 -t 3 --dump-logits "$OUT/t3.run" >/dev/null 2>&1
check "3 threads: identical logits" cmp -s "$OUT/bitnet_tq2.run" "$OUT/t3.run"
BITNET_HUGEPAGES=0 "$B" "$OUT/bn_tq2.gguf" -p "$PROMPT" -n $NGEN --temp 0 --dump-logits "$OUT/m4k.run" >/dev/null 2>&1
check "weights in malloc'd memory (BITNET_HUGEPAGES=0): identical logits" cmp -s "$OUT/bitnet_tq2.run" "$OUT/m4k.run"

if [ -x "$B-asan" ]; then
    "$B-asan" "$OUT/b158_i2s.gguf" -p "Ünïcödé 日本語 🙂 code: x[i] += 1;   spaces" -n 8 -t 2 --temp 0.7 --seed 1 >/dev/null 2>"$OUT/asan.err"
    check "ASan+UBSan: sampling, UTF-8 prompt, 2 threads" [ $? -eq 0 ]
    "$B-asan" "$OUT/bn_tq2.gguf" -p "Hi<|eot_id|>there" --chat -n 8 -t 2 --seed 2 >/dev/null 2>>"$OUT/asan.err"
    check "ASan+UBSan: --chat with a special token in the prompt" [ $? -eq 0 ]
    # corrupted models (one to three changes in a valid container): refused with a reason or run
    $PY tests/bitnet_mutate.py "$B-asan" "$OUT" "${BITNET_MUTATIONS:-120}" >"$OUT/mutate.log" 2>&1
    check "ASan+UBSan: corrupted models refused with a reason or run" [ $? -eq 0 ]
    grep -v '^bitnet_mutate:' "$OUT/mutate.log" | head -n 40
    echo "  $(tail -n 1 "$OUT/mutate.log")"
fi
"$B" "$OUT/bn_tq2.gguf" -p "x" -n 3 --seed 9 --temp 1 --top-p 0.9 >"$OUT/s1.txt" 2>/dev/null
"$B" "$OUT/bn_tq2.gguf" -p "x" -n 3 --seed 9 --temp 1 --top-p 0.9 >"$OUT/s2.txt" 2>/dev/null
check "sampling with a seed repeats" cmp -s "$OUT/s1.txt" "$OUT/s2.txt"
"$B" "$OUT/bn_tq2.gguf" -p "Hello" -n 4 --temp 0 >/dev/null 2>"$OUT/stats.err"
check "prints load time, memory and tok/s" grep -q "tok/s" "$OUT/stats.err"
check "prints resident memory" grep -q "resident memory" "$OUT/stats.err"

# bad input: refused with a message, never a crash
head -c 3000 "$OUT/bn_tq2.gguf" >"$OUT/cut.gguf"
"$B" "$OUT/cut.gguf" -p x -n 1 >/dev/null 2>"$OUT/cut.err"
check "truncated file refused" [ $? -eq 1 ]
check "truncated file: says why" grep -q "not a valid GGUF" "$OUT/cut.err"
$PY - "$OUT" <<'EOF'
import sys
o = sys.argv[1]
b = open(o + "/bn_tq2.gguf", "rb").read()
open(o + "/arch.gguf", "wb").write(b.replace(b"\x06\0\0\0\0\0\0\0bitnet", b"\x06\0\0\0\0\0\0\0bitnex", 1))
open(o + "/miss.gguf", "wb").write(b.replace(b"blk.1.ffn_up.weight", b"blk.1.ffn_uX.weight", 1))
EOF
"$B" "$OUT/arch.gguf" -p x -n 1 >/dev/null 2>"$OUT/arch.err"
check "unknown architecture refused" [ $? -eq 1 ]
check "unknown architecture named" grep -q "unsupported architecture 'bitnex'" "$OUT/arch.err"
"$B" "$OUT/miss.gguf" -p x -n 1 >/dev/null 2>"$OUT/miss.err"
check "missing tensor refused" [ $? -eq 1 ]
check "missing tensor named" grep -q "missing tensor blk.1.ffn_up.weight" "$OUT/miss.err"
# a llama file with a float matrix is an ordinary model: refused, not ternarized
$PY - "$OUT" <<'EOF'
import sys
sys.path.insert(0, "tests")
import bitnet_mutate as M
kvs, tensors, align = M.read(sys.argv[1] + "/ll_tq2.gguf")
t = next(t for t in tensors if t[0] == b"blk.0.attn_q.weight")
t[2], t[3] = M.GGML_F16, bytes(2 * t[1][0] * t[1][1])
M.write(sys.argv[1] + "/ll_f16.gguf", kvs, tensors, align)
EOF
"$B" "$OUT/ll_f16.gguf" -p x -n 1 >/dev/null 2>"$OUT/llf.err"
check "llama with a float matrix refused" [ $? -eq 1 ]
check "llama with a float matrix: says which" grep -q "blk.0.attn_q.weight is F16" "$OUT/llf.err"
"$B" "$OUT/nothere.gguf" >/dev/null 2>"$OUT/nf.err"
check "missing file: the system's reason" grep -q "No such file" "$OUT/nf.err"
"$B" >/dev/null 2>&1
check "no arguments: usage, status 2" [ $? -eq 2 ]

# llama.cpp as the outside oracle: the same files through libllama (tests/llama_oracle.c;
# upstream llama.cpp knows the `bitnet` architecture and TQ1_0/TQ2_0, not I2_S)
if LIBDIR=$(bash tools/llama_libs.sh 2>"$OUT/libs.err"); then
    O="$OUT/llama_oracle"
    check "llama_oracle builds" $CC -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror tests/llama_oracle.c -o "$O" \
        -L"$LIBDIR" -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -Wl,-rpath,"$LIBDIR"
    $PY tests/bitnet_oracle.py "$B" "$O" "$LIBDIR" "$OUT"
    check "llama.cpp oracle: tokenization, logits, greedy continuation" [ $? -eq 0 ]
else
    echo "$(cat "$OUT/libs.err") (llama.cpp oracle)"
fi

echo "$PASSED passed, $FAILED failed"
