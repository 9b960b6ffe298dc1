#!/usr/bin/env bash
# GGUF files written by bitlinear, read and dequantized by ggml's own code, and files
# written by ggml read by bitlinear: tests/ggml/gguf_check.c against libggml-base.so from
# tools/llama_libs.sh (NO_SIMD: the check needs no kernels, and builds much faster).
#   bash tests/run_gguf_ggml.sh [OUT]
# The last line is "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
OUT=${1:-build/test}
mkdir -p "$OUT"
if ! LIB=$(bash tools/llama_libs.sh); then echo "0 passed, 0 failed"; exit 0; fi
if ! command -v gcc >/dev/null 2>&1; then echo "skipped: gcc not found"; echo "0 passed, 0 failed"; exit 0; fi
bin="$OUT/gguf_check"
if ! gcc -std=c99 -Wall -Wextra -Wpedantic -Werror -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all -DBITLINEAR_NO_SIMD \
    -I. tests/ggml/gguf_check.c -o "$bin" -L"$LIB" -lggml-base -Wl,-rpath,"$LIB" -lm 2>"$bin.build"; then
    echo "FAILED: gguf_check does not build"; head -n 20 "$bin.build"; echo "0 passed, 1 failed"; exit 0
fi
if "$bin" >"$bin.log" 2>&1; then rc=0; else rc=$?; fi
line=$(grep -aE '^gguf_check: [0-9]+ passed, [0-9]+ failed' "$bin.log" | tail -n 1)
if [ -z "$line" ]; then echo "FAILED: gguf_check exited $rc without a summary"; tail -n 20 "$bin.log"; echo "0 passed, 1 failed"; exit 0; fi
grep -aE 'FAILED|!=' "$bin.log" | head -n 20
echo "  $line"
p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
echo "$p passed, $f failed"
