#!/usr/bin/env bash
# WebAssembly (an extra script of tests/run.sh): every tests/test_*.c built for wasm32-wasi
# with clang + wasi-libc and run under Node's WASI (tests/wasm/run.mjs), twice: with
# SIMD128 (the wasm backend, checked bit-identical to scalar by test_backends) and without
# it (the scalar backend only). test_backends also runs built with -DBITLINEAR_NO_WASM,
# and with relaxed SIMD where a compiler and node have it. Prints "skipped: <why>" when clang's
# wasm32-wasi target, wasi-libc or node is missing; last line "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
OUT=${1:-build/test}
W=$OUT/wasm
mkdir -p "$W"
P=0; F=0
have() { command -v "$1" >/dev/null 2>&1; }
CC=${WASM_CC:-clang}
# wasi-libc: Debian's package puts headers in /usr/include/wasm32-wasi and libraries in
# /usr/lib/wasm32-wasi, so the sysroot is /usr; a WASI SDK sysroot can be given instead.
SYSROOT=${WASI_SYSROOT:-/usr}
# 8 MiB of stack like a native main thread (wasm-ld's default is 64 KiB); tests keep
# reference tables on the stack.
WFLAGS="--target=wasm32-wasi --sysroot=$SYSROOT -O2 -std=c99 -Wall -Wextra -Wpedantic -Werror -I. -Wl,-z,stack-size=8388608"

if ! have "$CC"; then echo "skipped: $CC not found"; echo "0 passed, 0 failed"; exit 0; fi
if ! have node; then echo "skipped: node not found"; echo "0 passed, 0 failed"; exit 0; fi
NODE_FLAGS="--no-warnings"
node --experimental-wasi-unstable-preview1 -e 0 >/dev/null 2>&1 && NODE_FLAGS="$NODE_FLAGS --experimental-wasi-unstable-preview1"
# shellcheck disable=SC2086
if ! node $NODE_FLAGS -e 'require("node:wasi")' >/dev/null 2>&1; then
    echo "skipped: this node has no node:wasi"; echo "0 passed, 0 failed"; exit 0
fi
probe='#include <stdio.h>
int main(void) { puts("ok"); return 0; }'
# shellcheck disable=SC2086
if ! echo "$probe" | $CC $WFLAGS -x c - -o "$W/probe.wasm" >"$W/probe.log" 2>&1; then
    echo "skipped: $CC cannot build for wasm32-wasi (needs lld, wasi-libc and libclang-rt-*-dev-wasm32):"
    head -n 3 "$W/probe.log"
    echo "0 passed, 0 failed"; exit 0
fi
NODE="node $NODE_FLAGS tests/wasm/run.mjs"

# run_wasm LABEL MODULE: the module's "N passed, M failed" and exit status, as run_binary
# in tests/run.sh. A V8 abort (the engine's own fatal error, not the test's) is retried once.
run_wasm() {
    local label=$1 mod=$2 log="$W/$1.log" line p f rc
    $NODE "$mod" >"$log" 2>&1; rc=$?
    if [ "$rc" -ne 0 ] && grep -q '^# Fatal error in' "$log"; then
        echo "  note: node aborted in V8 itself on $label; running it again"
        $NODE "$mod" >"$log" 2>&1; rc=$?
    fi
    line=$(grep -E '^[A-Za-z0-9_]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$line" ]; then F=$((F + 1)); echo "FAILED: $label exited $rc without a summary"; tail -n 20 "$log"; return; fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    P=$((P + p)); F=$((F + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then F=$((F + 1)); echo "FAILED: $label exited $rc"; tail -n 20 "$log"; fi
    [ "$f" -ne 0 ] && { echo "FAILED: $label"; grep -E 'FAILED|!=' "$log" | head -n 20; }
    grep -E '^skipped' "$log" | sed "s/^/  $label: /"
    echo "  $label: $p passed, $f failed"
}

# build_run TAG SOURCE FLAGS...
build_run() {
    local tag=$1 src=$2 name; shift 2
    name=$(basename "$src" .c)
    # shellcheck disable=SC2086
    if $CC $WFLAGS "$@" "$src" -o "$W/$name.$tag.wasm" -lm 2>"$W/$name.$tag.build"; then
        run_wasm "$name.$tag" "$W/$name.$tag.wasm"
    else
        F=$((F + 1)); echo "FAILED: $name ($tag) does not build"; head -n 30 "$W/$name.$tag.build"
    fi
}

for t in tests/test_*.c; do
    build_run simd128 "$t" -msimd128
    build_run scalar "$t"
done
# The wasm kernels (src/kernels_wasm.c's part of bitlinear.h) clean under the conversion
# and shadowing warnings, compiled in a user file with the implementation (the rest of the
# implementation is held to these warnings elsewhere only for declarations); exit 0 of the
# program: AUTO picked the wasm backend.
STRICT_USER='#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
int main(void) { return bl_get_backend() == BL_BACKEND_WASM ? 0 : 1; }'
strict_user() { # strict_user TAG COMPILER FLAGS...
    local tag=$1 cc=$2 first last warned; shift 2
    first=$(grep -n '^/\* ---- begin src/kernels_wasm.c ---- \*/' bitlinear.h | cut -d: -f1)
    last=$(grep -n '^/\* ---- end src/kernels_wasm.c ---- \*/' bitlinear.h | cut -d: -f1)
    # shellcheck disable=SC2086
    if echo "$STRICT_USER" | $cc $WFLAGS -Wno-error -Wconversion -Wsign-conversion -Wshadow "$@" -x c - \
        -o "$W/user.$tag.wasm" >"$W/user.$tag.build" 2>&1 && $NODE "$W/user.$tag.wasm" >"$W/user.$tag.log" 2>&1; then
        warned=$(grep -oE 'bitlinear\.h:[0-9]+' "$W/user.$tag.build" | cut -d: -f2 |
            awk -v a="$first" -v b="$last" '$1 >= a && $1 <= b' | head -n 5)
        if [ -z "$warned" ]; then
            P=$((P + 1)); echo "  wasm kernels ($tag): -Wconversion -Wsign-conversion -Wshadow clean, AUTO is wasm"
        else
            F=$((F + 1)); echo "FAILED: wasm kernels ($tag) warn at bitlinear.h lines $warned"
        fi
    else
        F=$((F + 1)); echo "FAILED: user file ($tag)"; head -n 20 "$W/user.$tag.build"
    fi
}
strict_user simd128 "$CC" -msimd128
build_run nowasm tests/test_backends.c -msimd128 -DBITLINEAR_NO_WASM
# relaxed SIMD's integer dot product (clang >= 16), behind node's flag. node 20.20 (V8 11.3)
# computes the i32x4 form wrong in its baseline compiler (Liftoff); the kernels use the
# i16x8 form, probed here on random operands before node is trusted with it, and run with
# --no-liftoff (optimized code, what the timed runs execute). Chromium runs it too
# (tests/run_web.sh).
read -r RCC RDOT <<<"$(bash tests/wasm/relaxed_cc.sh "$SYSROOT")"
if [ -z "${RCC:-}" ]; then
    echo "skipped: relaxed SIMD (no clang >= 16 here builds its integer dot product for wasm32)"
else
    NODE="node $NODE_FLAGS --experimental-wasm-relaxed-simd --no-liftoff tests/wasm/run.mjs"
    # shellcheck disable=SC2086
    $RCC $WFLAGS -msimd128 -mrelaxed-simd -DBL_PROBE_DOT="$RDOT" tests/wasm/relaxed_probe.c -o "$W/relaxed_probe.wasm"
    if $NODE "$W/relaxed_probe.wasm" >"$W/relaxed_probe.log" 2>&1; then
        strict_user relaxed "$RCC" -msimd128 -mrelaxed-simd -DBITLINEAR_WASM_RELAXED
        CC=$RCC build_run relaxed tests/test_backends.c -msimd128 -mrelaxed-simd -DBITLINEAR_WASM_RELAXED
    else
        echo "skipped: relaxed SIMD under node $(node --version) ($(tail -n 1 "$W/relaxed_probe.log"); tests/run_web.sh runs it in Chromium)"
    fi
fi

echo "$P passed, $F failed"
