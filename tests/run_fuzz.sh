#!/usr/bin/env bash
# libFuzzer runs of the model loader, the safetensors and GGUF readers, bl_unpack and
# bl_linear_import
# (clang -fsanitize=fuzzer,address,undefined), each from its seed corpus in tests/fuzz/corpus/.
#   bash tests/run_fuzz.sh [OUT] [SECONDS]
# SECONDS per target: the argument, else $FUZZ_SECONDS, else 60 under CI (CI=true) and a
# 5-second smoke run otherwise (so `make test` stays fast). New inputs go to OUT, never
# into the committed corpus; a crash leaves its input in OUT/fuzz/crash-*.
# The last line is "N passed, M failed" (one check per target).
set -u
cd "$(dirname "$0")/.."
OUT=${1:-build/test}/fuzz
SECONDS_EACH=${2:-${FUZZ_SECONDS:-}}
if [ -z "$SECONDS_EACH" ]; then
    if [ "${CI:-}" = "true" ]; then SECONDS_EACH=60; else SECONDS_EACH=5; fi
fi
mkdir -p "$OUT"
PASSED=0
FAILED=0
CC=${FUZZ_CC:-clang}

if ! command -v "$CC" >/dev/null 2>&1; then
    echo "skipped: $CC not found (fuzzing)"; echo "0 passed, 0 failed"; exit 0
fi
echo 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }' >"$OUT/probe.c"
if ! "$CC" -fsanitize=fuzzer,address,undefined "$OUT/probe.c" -o "$OUT/probe" 2>/dev/null; then
    echo "skipped: $CC lacks libFuzzer (apt: libclang-rt-dev)"; echo "0 passed, 0 failed"; exit 0
fi

for target in model safetensors gguf unpack import; do
    bin="$OUT/fuzz_$target"
    corpus="$OUT/corpus_$target"
    # NO_SIMD: the targets parse and unpack (no kernels), and clang 14 takes minutes on the
    # SIMD kernels with ASan+UBSan at -O1
    if ! "$CC" -std=c99 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -DBITLINEAR_NO_SIMD -I. \
        "tests/fuzz/fuzz_$target.c" -o "$bin" -lm 2>"$OUT/fuzz_$target.build"; then
        FAILED=$((FAILED + 1)); echo "FAILED: fuzz_$target does not build"; head -n 20 "$OUT/fuzz_$target.build"; continue
    fi
    mkdir -p "$corpus"
    if "$bin" -max_total_time="$SECONDS_EACH" -max_len=16384 -rss_limit_mb=2048 -timeout=10 \
        -artifact_prefix="$OUT/" -print_final_stats=1 "$corpus" "tests/fuzz/corpus/$target" \
        >"$OUT/fuzz_$target.log" 2>&1; then
        runs=$(grep -aoE 'stat::number_of_executed_units: *[0-9]+' "$OUT/fuzz_$target.log" | grep -oE '[0-9]+$' | tail -n 1)
        cov=$(grep -aoE 'cov: [0-9]+' "$OUT/fuzz_$target.log" | tail -n 1)
        PASSED=$((PASSED + 1))
        echo "  fuzz_$target: ${runs:-?} executions in ${SECONDS_EACH} s, ${cov:-cov: ?}, no crash"
    else
        FAILED=$((FAILED + 1))
        echo "FAILED: fuzz_$target found a crash (input saved under $OUT/):"
        grep -aE 'ERROR|SUMMARY|Test unit written' "$OUT/fuzz_$target.log" | head -n 10
    fi
done
echo "$PASSED passed, $FAILED failed"
