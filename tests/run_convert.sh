#!/usr/bin/env bash
# The convert and tiny examples end to end: a generated checkpoint -> convert (options,
# patterns, errors) -> the model file loads in examples/tiny.c as an embedded view.
# The last line is "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
OUT=${1:-build/test}/convert
mkdir -p "$OUT"
PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); }
bad() { FAILED=$((FAILED + 1)); echo "FAILED: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

if ! command -v python3 >/dev/null 2>&1; then echo "skipped: python3 not found"; echo "0 passed, 0 failed"; exit 0; fi
CC=${CC:-cc}
check "convert builds" $CC -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -I. examples/convert.c -o "$OUT/convert" -lm
check "checkpoint generator" python3 tools/tiny_model.py safetensors "$OUT/tiny.safetensors"
C="$OUT/convert"
ST="$OUT/tiny.safetensors"

"$C" "$ST" "$OUT/all.blm" --k 2 --refine 1 >"$OUT/all.txt" 2>&1
check "convert all layers" [ $? -eq 0 ]
check "two layers with a total" grep -qE '^2 layers, k=2' "$OUT/all.txt"
check "fc1 row: 96 x 64, 24960 bytes in" grep -qE '^fc1\.weight +96 x 64 +24960 ' "$OUT/all.txt"
check "file size is a multiple of 64" [ $(( $(wc -c <"$OUT/all.blm") % 64 )) -eq 0 ]

"$C" "$ST" "$OUT/one.blm" --include 'fc?.w*' --exclude '*2*' --format base3 --method twn >"$OUT/one.txt" 2>&1
check "patterns select fc1 only" grep -qE '^1 layers, k=1, base3' "$OUT/one.txt"
check "patterns: fc2 left out" bash -c "! grep -q '^fc2' '$OUT/one.txt'"

"$C" "$ST" "$OUT/rot.blm" --hadamard >"$OUT/h.txt" 2>&1
check "--hadamard converts" [ $? -eq 0 ]
check "--hadamard: two layers" grep -qE '^2 layers, k=1' "$OUT/h.txt"
check "--hadamard: a different file" bash -c "! cmp -s '$OUT/rot.blm' '$OUT/all.blm'"
"$C" "$ST" "$OUT/x.blm" --k 9 >/dev/null 2>&1
check "--k 9 is refused" [ $? -eq 2 ]
"$C" "$ST" "$OUT/x.blm" --include 'nothing*' >/dev/null 2>&1
check "no match is an error" [ $? -eq 1 ]
head -c 100 "$ST" >"$OUT/cut.safetensors"
"$C" "$OUT/cut.safetensors" "$OUT/x.blm" >"$OUT/cut.txt" 2>&1
check "a truncated checkpoint is refused" [ $? -eq 1 ]
check "truncation message" grep -q 'corrupt or truncated' "$OUT/cut.txt"

# the tiny example: its model, made by convert, embedded and viewed in place
check "tiny header" python3 tools/tiny_model.py header "$OUT/one.blm" "$OUT/tiny_model.h"
mkdir -p "$OUT/inc/build" && cp "$OUT/tiny_model.h" "$OUT/inc/build/tiny_model.h"
check "tiny builds (-Os, gc-sections, NO_STDIO)" $CC -std=c99 -Os -ffunction-sections -fdata-sections \
    -Wl,--gc-sections -Wall -Wextra -Wpedantic -Werror -I"$OUT/inc" -I. examples/tiny.c -o "$OUT/tiny" -lm
# one.blm has only fc1: tiny must report the missing layer (exit 1), not crash
"$OUT/tiny" >/dev/null 2>&1
check "tiny refuses a model without fc2" [ $? -eq 1 ]
python3 tools/tiny_model.py header "$OUT/all.blm" "$OUT/inc/build/tiny_model.h"
$CC -std=c99 -Os -I"$OUT/inc" -I. examples/tiny.c -o "$OUT/tiny" -lm
"$OUT/tiny" >"$OUT/tiny.txt" 2>&1
check "tiny runs the embedded view" [ $? -eq 0 ]
check "tiny output" grep -qE 'viewed in place; logits:( -?[0-9]+\.[0-9]+){10}; class [0-9]' "$OUT/tiny.txt"
echo "$PASSED passed, $FAILED failed"
