#!/usr/bin/env bash
# make bench-wasm: the roofline shapes (4096x4096, 11008x4096, 4096x11008) at batch 1 and 8,
# INT8, both formats, hot, for the builds of bench/wasm.c: wasm SIMD128 and wasm scalar
# under node, the native AVX2 backend of this machine (and its plain AVX2 kernels alone,
# built with BITLINEAR_NO_AVXVNNI, where the CPU has AVX-VNNI), and wasm relaxed SIMD where
# a clang >= 16 builds it. The builds run in alternation
# (ROUNDS rounds of simd, scalar, native), each round timing every config; the table shows
# the median over rounds and, as the noise, the spread of the rounds (max - min) / median.
# Node runs with --no-liftoff: V8 otherwise starts every function on its baseline compiler
# and swaps in optimized code some calls later, so timed forwards would mix the two.
# Environment: ROUNDS (default 3), BUDGET (seconds of forwards per config and round, 0.2).
set -eu
cd "$(dirname "$0")/.."
OUT=build/bench
mkdir -p "$OUT"
ROUNDS=${ROUNDS:-3}
BUDGET=${BUDGET:-0.2}
CC_WASM=${WASM_CC:-clang}
SYSROOT=${WASI_SYSROOT:-/usr}
W="--target=wasm32-wasi --sysroot=$SYSROOT -O2 -std=c99 -Wall -Wextra -Wpedantic -Werror -I. -Wl,-z,stack-size=8388608"
command -v node >/dev/null 2>&1 || { echo "skipped: node not found"; exit 0; }
# shellcheck disable=SC2086
if ! $CC_WASM $W -msimd128 bench/wasm.c -o "$OUT/wasm_simd128.wasm" 2>"$OUT/wasm_build.log"; then
    echo "skipped: $CC_WASM cannot build for wasm32-wasi (clang, lld, wasi-libc, libclang-rt-dev-wasm32):"
    head -n 5 "$OUT/wasm_build.log"; exit 0
fi
# shellcheck disable=SC2086
$CC_WASM $W bench/wasm.c -o "$OUT/wasm_scalar.wasm"
read -r RCC _ <<<"$(bash tests/wasm/relaxed_cc.sh "$SYSROOT")"
RELAXED=""
# shellcheck disable=SC2086
if [ -n "${RCC:-}" ] && $RCC $W -msimd128 -mrelaxed-simd -DBITLINEAR_WASM_RELAXED bench/wasm.c -o "$OUT/wasm_relaxed.wasm"; then
    RELAXED=1
else
    echo "note: no relaxed SIMD build (needs clang >= 16)"
fi
${CC:-cc} -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -I. bench/wasm.c -o "$OUT/wasm_native" -lm
# on a CPU with AVX-VNNI the native build runs the AVX-VNNI kernels; the plain AVX2 ones
# (what AVX2 CPUs without it run: most of those in use) are timed too
PLAIN=""
if grep -qw avx_vnni /proc/cpuinfo 2>/dev/null; then
    ${CC:-cc} -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -I. -DBITLINEAR_NO_AVXVNNI bench/wasm.c -o "$OUT/wasm_native_plain" -lm
    PLAIN=1
fi
NODE="node --no-warnings --no-liftoff tests/wasm/run.mjs"
node --experimental-wasi-unstable-preview1 -e 0 >/dev/null 2>&1 && NODE="node --no-warnings --no-liftoff --experimental-wasi-unstable-preview1 tests/wasm/run.mjs"
RAW="$OUT/wasm_raw.txt"
: >"$RAW"
echo "node $(node --version), $(${CC_WASM} --version | head -n 1), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$ROUNDS"); do
    echo "round $r of $ROUNDS (at ${SECONDS}s)"
    $NODE "$OUT/wasm_simd128.wasm" "$BUDGET" | sed "s/^RESULT/RESULT $r/" >>"$RAW"
    $NODE "$OUT/wasm_scalar.wasm" "$BUDGET" | sed "s/^RESULT/RESULT $r/" >>"$RAW"
    "$OUT/wasm_native" "$BUDGET" | sed "s/^RESULT/RESULT $r/" >>"$RAW"
    if [ -n "$PLAIN" ]; then "$OUT/wasm_native_plain" "$BUDGET" | sed "s/^RESULT/RESULT $r/" >>"$RAW"; fi
    if [ -n "$RELAXED" ]; then
        node --no-warnings --no-liftoff --experimental-wasm-relaxed-simd tests/wasm/run.mjs "$OUT/wasm_relaxed.wasm" "$BUDGET" \
            | sed "s/^RESULT/RESULT $r/" >>"$RAW"
    fi
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 - "$RAW" "$OUT/wasm.json" <<'PY'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) != 9 or p[0] != "RESULT":
        if line.startswith("skipped"): print(line.strip())
        continue
    _, rnd, build, fmt, out, inn, batch, us, reps = p
    rows.setdefault((fmt, int(out), int(inn), int(batch)), {}).setdefault(build, []).append(float(us))
def med(v): return statistics.median(v) if v else float("nan")
def noise(v): return (max(v) - min(v)) / med(v) * 100 if len(v) > 1 else 0.0
builds = ("wasm-simd128", "wasm-scalar", "native-avx2", "native-avx2-plain", "wasm-relaxed")
have = {k: any(k in b for b in rows.values()) for k in builds}
# the plain AVX2 columns only where the native build ran AVX-VNNI kernels (otherwise the
# native build is the plain one), the relaxed ones only where a relaxed build ran
cols = [("SIMD128 us", lambda m: "%.0f" % m["wasm-simd128"]),
        ("wasm scalar us", lambda m: "%.0f" % m["wasm-scalar"]),
        ("native AVX2 us", lambda m: "%.0f" % m["native-avx2"]),
        ("SIMD128 / scalar", lambda m: "%.1fx" % (m["wasm-scalar"] / m["wasm-simd128"])),
        ("SIMD128 / AVX2 time", lambda m: "%.2f" % (m["wasm-simd128"] / m["native-avx2"]))]
if have["native-avx2-plain"]:
    cols += [("plain AVX2 us", lambda m: "%.0f" % m["native-avx2-plain"]),
             ("SIMD128 / plain AVX2 time", lambda m: "%.2f" % (m["wasm-simd128"] / m["native-avx2-plain"]))]
if have["wasm-relaxed"]:
    cols += [("relaxed us", lambda m: "%.0f" % m["wasm-relaxed"]),
             ("relaxed / AVX2 time", lambda m: "%.2f" % (m["wasm-relaxed"] / m["native-avx2"]))]
    if have["native-avx2-plain"]:
        cols += [("relaxed / plain AVX2 time", lambda m: "%.2f" % (m["wasm-relaxed"] / m["native-avx2-plain"]))]
shown = [k for k in builds if have[k]]
names = dict(zip(builds, ("simd", "scalar", "avx2", "plain", "relaxed")))
print("\n| format | out x in | batch | " + " | ".join(c[0] for c in cols) +
      " | noise " + "/".join(names[k] for k in shown) + " |")
print("|---|---|---|" + "---:|" * len(cols) + "---|")
res = []
for (fmt, out, inn, batch), b in sorted(rows.items(), key=lambda kv: (kv[0][3], kv[0][0], kv[0][1], kv[0][2])):
    m = {k: med(b.get(k, [])) for k in builds}
    print("| %s | %dx%d | %d | " % (fmt, out, inn, batch) + " | ".join(c[1](m) for c in cols) + " | " +
          " / ".join("%.0f%%" % noise(b.get(k, [])) for k in shown) + " |")
    res.append(dict(format=fmt, out=out, inn=inn, batch=batch, simd128_us=m["wasm-simd128"],
                    scalar_us=m["wasm-scalar"], avx2_us=m["native-avx2"], avx2_plain_us=m["native-avx2-plain"],
                    relaxed_us=m["wasm-relaxed"],
                    rounds=dict(zip(("simd128", "scalar", "avx2", "avx2_plain", "relaxed"),
                                    (b.get(k, []) for k in builds)))))
json.dump(res, open(sys.argv[2], "w"), indent=1)
print("\n(written to %s; goals: SIMD128 >= 8x wasm scalar at batch 1, within 2.5x of native AVX2)" % sys.argv[2])
PY
