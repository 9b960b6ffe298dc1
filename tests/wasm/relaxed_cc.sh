#!/usr/bin/env bash
# Prints "COMPILER DOT_BUILTIN": a clang that builds relaxed SIMD's integer dot product for
# wasm32-wasi (clang >= 16), with the builtin's name; nothing when none here can.
# Usage: relaxed_cc.sh SYSROOT
SYSROOT=${1:-/usr}
for cc in ${WASM_RELAXED_CC:-clang clang-20 clang-19 clang-18 clang-17 clang-16}; do
    command -v "$cc" >/dev/null 2>&1 || continue
    for b in __builtin_wasm_relaxed_dot_i8x16_i7x16_s_i16x8 __builtin_wasm_dot_i8x16_i7x16_s_i16x8; do
        if "$cc" --target=wasm32-wasi --sysroot="$SYSROOT" -O2 -msimd128 -mrelaxed-simd -DBL_PROBE_DOT="$b" \
            "$(dirname "$0")/relaxed_probe.c" -o /dev/null >/dev/null 2>&1; then
            echo "$cc $b"; exit 0
        fi
    done
done
