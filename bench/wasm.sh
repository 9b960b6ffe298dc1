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
print("\n| format | out x in | batch | SIMD128 us | wasm scalar us | native AVX2 us | SIMD128 / scalar | SIMD128 / AVX2 time "
      "| plain AVX2 us | SIMD128 / plain AVX2 time | relaxed us | relaxed / AVX2 time | relaxed / plain AVX2 time "
      "| noise simd/scalar/avx2/plain/relaxed |")
print("|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
res = []
for (fmt, out, inn, batch), b in sorted(rows.items(), key=lambda kv: (kv[0][3], kv[0][0], kv[0][1], kv[0][2])):
    s, c, n, p, x = (b.get(k, []) for k in ("wasm-simd128", "wasm-scalar", "native-avx2", "native-avx2-plain",
                                            "wasm-relaxed"))
    ms, mc, mn, mp, mx = med(s), med(c), med(n), med(p), med(x)
    print("| %s | %dx%d | %d | %.0f | %.0f | %.0f | %.1fx | %.2f | %.0f | %.2f | %.0f | %.2f | %.2f "
          "| %.0f%% / %.0f%% / %.0f%% / %.0f%% / %.0f%% |" % (
        fmt, out, inn, batch, ms, mc, mn, mc / ms, ms / mn, mp, ms / mp, mx, mx / mn, mx / mp,
        noise(s), noise(c), noise(n), noise(p), noise(x)))
    res.append(dict(format=fmt, out=out, inn=inn, batch=batch, simd128_us=ms, scalar_us=mc, avx2_us=mn,
                    avx2_plain_us=mp, relaxed_us=mx, rounds=dict(simd128=s, scalar=c, avx2=n, avx2_plain=p, relaxed=x)))
json.dump(res, open(sys.argv[2], "w"), indent=1)
print("\n(written to %s; goals: SIMD128 >= 8x wasm scalar at batch 1, within 2.5x of native AVX2)" % sys.argv[2])
PY
