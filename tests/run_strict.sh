#!/usr/bin/env bash
# Strict-warning compile test: a user file that includes bitlinear.h (declarations only)
# and the implementation unit, each with gcc and clang as C99/C11 and C++11/17 under the
# flags engines build with, -Werror. Rerun alone: bash tests/run_strict.sh [outdir]
# Prints "skipped: <why>" per missing compiler and ends with "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
OUT=${1:-build/test}/strict
mkdir -p "$OUT"
C_FLAGS="-Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Wdouble-promotion
 -Wcast-qual -Wstrict-prototypes -Wmissing-prototypes -Wundef -Werror"
# C++: the same minus the C-only -Wstrict-prototypes/-Wmissing-prototypes (g++ rejects them
# for C++; -Wmissing-declarations is its counterpart), plus the C++ checks
CXX_FLAGS="-Wall -Wextra -Wpedantic -Wconversion -Wsign-conversion -Wshadow -Wdouble-promotion
 -Wcast-qual -Wmissing-declarations -Wundef -Werror -Wold-style-cast
 -Wzero-as-null-pointer-constant -Wmissing-field-initializers"
passed=0 failed=0
# one CC LANG FLAGS...: build user.c and impl.c separately, link, run
one() {
    local cc=$1 lang=$2; shift 2
    local tag
    tag="$cc$(echo "$lang" | tr -d ' =+-' | sed 's/^xc//')"
    local log="$OUT/$tag.log"
    # shellcheck disable=SC2068
    if $cc $lang $@ -O2 -I. -c tests/strict/user.c -o "$OUT/$tag.user.o" >"$log" 2>&1 &&
       $cc $lang $@ -O2 -I. -c tests/strict/impl.c -o "$OUT/$tag.impl.o" >>"$log" 2>&1 &&
       $cc "$OUT/$tag.user.o" "$OUT/$tag.impl.o" -o "$OUT/$tag" -lm -lpthread >>"$log" 2>&1 &&
       "$OUT/$tag" >>"$log" 2>&1; then
        passed=$((passed + 1)); echo "  $cc $lang: clean"
    else
        failed=$((failed + 1)); echo "FAILED: $cc $lang (strict warnings)"; grep -E 'warning|error|FAILED' "$log" | head -n 20
    fi
}
for cc in gcc clang; do
    if ! command -v $cc >/dev/null 2>&1; then echo "skipped: $cc not found (strict)"; continue; fi
    one $cc "-std=c99" $C_FLAGS
    one $cc "-std=c11" $C_FLAGS
done
for cxx in g++ clang++; do
    if ! command -v $cxx >/dev/null 2>&1; then echo "skipped: $cxx not found (strict)"; continue; fi
    extra=""
    [ "$cxx" = g++ ] && extra="-Wuseless-cast"
    one $cxx "-x c++ -std=c++11" $CXX_FLAGS $extra
    one $cxx "-x c++ -std=c++17" $CXX_FLAGS $extra
done
# the NEON kernels: compiled (not run) with the aarch64 cross compiler where present
if command -v aarch64-linux-gnu-gcc >/dev/null 2>&1; then
    # shellcheck disable=SC2086
    if aarch64-linux-gnu-gcc -std=c99 $C_FLAGS -O2 -I. -c tests/strict/impl.c -o "$OUT/aarch64.impl.o" >"$OUT/aarch64.log" 2>&1; then
        passed=$((passed + 1)); echo "  aarch64-linux-gnu-gcc -std=c99: clean"
    else
        failed=$((failed + 1)); echo "FAILED: aarch64-linux-gnu-gcc (strict warnings)"; grep -E 'warning|error' "$OUT/aarch64.log" | head -n 20
    fi
else
    echo "skipped: aarch64-linux-gnu-gcc not found (strict, NEON kernels)"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
