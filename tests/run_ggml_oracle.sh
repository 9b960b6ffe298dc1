#!/usr/bin/env bash
# ggml as the oracle (tests/ggml_oracle.c): GGUF files written and read by ggml's own
# libggml-base (npm @node-llama-cpp/linux-x64, via tools/llama_libs.sh) against
# bitlinear's reader, dequantization and import. Prints "skipped: <why>" without the
# library; the last line is "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
OUT=${1:-build/test}
mkdir -p "$OUT/oracle"
if ! LIB=$(bash tools/llama_libs.sh 2>"$OUT/oracle/libs.err"); then
    cat "$OUT/oracle/libs.err"
    echo "0 passed, 0 failed"
    exit 0
fi
CC=${CC:-gcc}
if ! command -v "$CC" >/dev/null 2>&1; then echo "skipped: $CC not found"; echo "0 passed, 0 failed"; exit 0; fi
# the reverse direction needs bitlinear's GGUF writer
WRITER=""
if grep -qs "bl_status bl_gguf_save(" src/*.c; then WRITER="-DORACLE_WRITER"; fi
# the library is not built with the sanitizers: UBSan only, no ASan interposition
if ! "$CC" -std=c99 -Wall -Wextra -Wpedantic -Werror -O1 -g -fsanitize=undefined -fno-sanitize-recover=all $WRITER \
        -I. tests/ggml_oracle.c -o "$OUT/oracle/ggml_oracle" -L"$LIB" -lggml-base -Wl,-rpath,"$LIB" -lm \
        2>"$OUT/oracle/build.log"; then
    head -n 30 "$OUT/oracle/build.log"
    echo "0 passed, 1 failed"
    exit 1
fi
"$OUT/oracle/ggml_oracle" "$OUT/oracle" >"$OUT/oracle/run.log" 2>&1
rc=$?
cat "$OUT/oracle/run.log"
line=$(grep -E '^ggml_oracle: [0-9]+ passed, [0-9]+ failed' "$OUT/oracle/run.log" | tail -n 1)
if [ -z "$line" ]; then echo "ggml_oracle exited $rc without a summary"; echo "0 passed, 1 failed"; exit 1; fi
p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
[ "$rc" -ne 0 ] && [ "$f" -eq 0 ] && f=1
echo "$p passed, $f failed"
[ "$f" -eq 0 ]
