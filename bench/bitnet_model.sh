#!/usr/bin/env bash
# `make bench-model`: examples/bitnet.c against llama.cpp on a random model with BitNet
# b1.58 2B4T's shapes (hidden 2560, FFN 6912, 30 layers, 20/5 heads, vocabulary 128256)
# in TQ2_0 (~1.2 GB, written once to build/ by tools/gen_bitnet_gguf.py). Same file, same
# thread counts, runs in alternation (ours, llama.cpp, ours, ...) so that the load of a
# shared machine falls on both; medians of REPS runs, and the spread (min-max).
# llama.cpp is libllama from the npm package (tools/llama_libs.sh) through
# tests/llama_oracle.c, with the CPU variant ggml picks for this machine.
# Also: the DRAM read bandwidth measured in the same run (tools/dram_read.c), the bytes
# each generated token reads (ternary weights + output head, as the runner reports) and
# the GB/s that makes. Last, one run of ours with BITNET_PROFILE=1: the prompt's time per
# stage (matrix products by kind, quantization, attention, ...).
set -u
cd "$(dirname "$0")/.."
REPS=${REPS:-3}
NGEN=${NGEN:-32}
MODEL=build/bitnet-2b4t-tq2_0.gguf
mkdir -p build/bench-model
PY=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c "import numpy" >/dev/null 2>&1; then PY=$p; break; fi
done
[ -n "$PY" ] || { echo "skipped: python3 with numpy not found (apt-get install python3-numpy)"; exit 0; }
if [ ! -s "$MODEL" ]; then
    echo "writing $MODEL (random weights, 2B4T shapes, TQ2_0) ..."
    $PY tools/gen_bitnet_gguf.py "$MODEL.tmp" --shape 2b4t --type tq2_0 --seed 1 && mv "$MODEL.tmp" "$MODEL" || exit 1
fi
CC=${CC:-cc}
$CC -std=c99 -O2 -Wall -Wextra -I. examples/bitnet.c -o build/bench-model/bitnet -lm -lpthread || exit 1
$CC -std=c99 -O2 -Wall -Wextra tools/dram_read.c -o build/bench-model/dram_read -lpthread || exit 1
LLAMA=
if LIBDIR=$(bash tools/llama_libs.sh); then
    $CC -std=c99 -O2 -Wall -Wextra tests/llama_oracle.c -o build/bench-model/llama_oracle -L"$LIBDIR" \
        -l:libllama.v0.5.0.so -l:libggml.v0.5.0.so -Wl,-rpath,"$LIBDIR" && LLAMA=build/bench-model/llama_oracle
fi
# a prompt of 127 tokens + BOS with this vocabulary (both programs report their count)
P1="The quick brown fox jumps over the lazy dog. A tiny model of BitNet reads its weights as ternary numbers: minus one, zero and plus one. Hello world! the and of to in is it that with for on as"
PROMPT="$P1 $P1 Language models predict the next token of a text; the tokenizer splits the text into tokens first. It's"
R=build/bench-model/results.txt
: >"$R"
DRAM=$(build/bench-model/dram_read)
echo "$DRAM" | tee -a "$R"
for rep in $(seq 1 "$REPS"); do
    for t in 1 2; do
        line=$(build/bench-model/bitnet "$MODEL" -p "$PROMPT" -n "$NGEN" -t "$t" --temp 0 2>&1 >/dev/null | grep -E "prompt|read per token")
        echo "ours t=$t $(echo "$line" | tr '\n' ' ')" | tee -a "$R"
        if [ -n "$LLAMA" ]; then
            line=$(LLAMA_ORACLE_BEST_CPU=1 "$LLAMA" "$LIBDIR" bench "$MODEL" "$PROMPT" "$NGEN" "$t" 2>/dev/null)
            echo "llama t=$t $line" | tee -a "$R"
        fi
    done
done
# where the prompt's time goes (ours, 1 thread): BITNET_PROFILE's per-stage wall times
BITNET_PROFILE=1 build/bench-model/bitnet "$MODEL" -p "$PROMPT" -n 0 -t 1 --temp 0 2>&1 >/dev/null | grep -E "^  |profile" \
    >build/bench-model/profile.txt
$PY - "$R" <<'PYEOF'
import re, statistics, sys
lines = open(sys.argv[1]).read().splitlines()
d1, d2 = map(float, lines[0].split()[1:3])
res = {}
mib = None
for l in lines[1:]:
    who, t = l.split()[0], int(l.split()[1][2:])
    m = re.search(r"prompt (\d+) tokens.*?\(?([\d.]+) tok/s\)?.*?generation (\d+) tokens.*?\(?([\d.]+) tok/s", l)
    if not m:
        continue
    res.setdefault((who, t), []).append((float(m.group(2)), float(m.group(4)), int(m.group(1))))
    w = re.search(r"weights read per token ([\d.]+) MiB", l)
    if w: mib = float(w.group(1))
def cell(who, t, k):
    v = [r[k] for r in res.get((who, t), [])]
    if not v: return "n/a", None
    return "%.2f (%.2f-%.2f)" % (statistics.median(v), min(v), max(v)), statistics.median(v)
print("\n| tokens/s, median (min-max) of %d runs | bitnet.c | llama.cpp | ratio |" % max(len(v) for v in res.values()))
print("|---|---|---|---|")
for k, name in ((1, "generation"), (0, "prompt")):
    for t in (1, 2):
        a, av = cell("ours", t, k)
        b, bv = cell("llama", t, k)
        n = res.get(("ours", t), [(0, 0, 0)])[0][2]
        print("| %s (%s), %d thread%s | %s | %s | %s |" % (name, "%d-token prompt" % n if k == 0 else "batch 1",
              t, "" if t == 1 else "s", a, b, "%.2fx" % (av / bv) if av and bv else "n/a"))
g1, g2 = cell("ours", 1, 1)[1], cell("ours", 2, 1)[1]
if g1 and g2: print("\nbitnet.c generation, 2 threads vs 1: %.2fx" % (g2 / g1))
if mib and g1:
    gb = mib * 1048576 / 1e9
    print("bytes read per generated token: %.3f GB (ternary weights %s + int8 head); at the median generation speed "
          "that is %.1f GB/s with 1 thread, %.1f GB/s with 2, against a DRAM read bandwidth of %.1f / %.1f GB/s "
          "(1 / 2 threads) measured in this run" % (gb, "2 bits/weight", gb * g1, gb * (g2 or 0), d1, d2))
PYEOF
echo; echo "bitnet.c prompt profile, 1 thread (one run; stage times summed over layers):"
cat build/bench-model/profile.txt
