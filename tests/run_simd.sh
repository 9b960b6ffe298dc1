#!/usr/bin/env bash
# SIMD build variants (an extra script of tests/run.sh): the per-ISA opt-out macros,
# compile-time-only dispatch, the SDOT NEON path under qemu, and examples/threads.c
# (also under ThreadSanitizer). Prints "skipped: <why>" lines; last line "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
OUT=${1:-build/test}/simd
mkdir -p "$OUT"
STRICT="-Wall -Wextra -Wpedantic -Werror -I."
P=0; F=0
have() { command -v "$1" >/dev/null 2>&1; }
ok() { P=$((P + 1)); }
ko() { F=$((F + 1)); echo "FAILED: $*"; }
# run LABEL CMD...: the command must exit 0
run() { local l=$1; shift; if "$@" >"$OUT/$l.log" 2>&1; then ok; else ko "$l"; tail -n 15 "$OUT/$l.log"; fi; }

case "$(uname -m)" in
x86_64)
    for cc in gcc clang g++ clang++; do
        have $cc || { echo "skipped: $cc not found"; continue; }
        case $cc in *++) lang="-x c++ -std=c++11";; *) lang="-std=c99";; esac
        v() { # v NAME WANT_AVX2 WANT_AVX512 FLAGS...
            local name=$1 a2=$2 a5=$3; shift 3
            if $cc $lang $STRICT -O1 -DWANT_AVX2=$a2 -DWANT_AVX512=$a5 "$@" tests/simd/optout.c -o "$OUT/$name.$cc" -lm \
                2>"$OUT/$name.$cc.build"; then run "$name.$cc" "$OUT/$name.$cc"; else ko "$name ($cc) build"; head -n 20 "$OUT/$name.$cc.build"; fi
        }
        v default 1 1
        v no_avx2 0 1 -DBITLINEAR_NO_AVX2
        v no_avx512 1 0 -DBITLINEAR_NO_AVX512
        v no_avxvnni 1 1 -DBITLINEAR_NO_AVXVNNI
        v no_simd 0 0 -DBITLINEAR_NO_SIMD
        v static_only 0 0 -DBITLINEAR_NO_RUNTIME_DISPATCH
        v static_avx2 1 0 -DBITLINEAR_NO_RUNTIME_DISPATCH -mavx2 -mfma
        v static_avx2_nofma 0 0 -DBITLINEAR_NO_RUNTIME_DISPATCH -mavx2
        if grep -q avx512_vnni /proc/cpuinfo; then
            v static_native 1 1 -DBITLINEAR_NO_RUNTIME_DISPATCH -march=native
        else
            echo "skipped: static_native (this CPU lacks AVX-512 VNNI)"
        fi
    done
    # the compile-time-only kernels give the same bits as scalar
    if grep -q avx512_vnni /proc/cpuinfo; then
        if gcc -std=c99 $STRICT -O2 -march=native -DBITLINEAR_NO_RUNTIME_DISPATCH -DBITLINEAR_TEST_QUICK \
            -Itests tests/test_backends.c -o "$OUT/backends_static" -lm 2>"$OUT/backends_static.build"; then
            run backends_static "$OUT/backends_static"
        else ko "backends_static build"; head -n 20 "$OUT/backends_static.build"; fi
    fi
    ;;
*) echo "skipped: x86 opt-out variants (not x86-64)";;
esac

# NEON with SDOT (armv8.2-a+dotprod) under qemu; tests/run.sh covers the baseline NEON build
if have aarch64-linux-gnu-gcc && have qemu-aarch64; then
    if aarch64-linux-gnu-gcc -std=c99 $STRICT -O2 -static -march=armv8.2-a+dotprod -DBITLINEAR_TEST_QUICK -Itests \
        tests/test_backends.c -o "$OUT/backends_sdot" -lm 2>"$OUT/backends_sdot.build"; then
        run backends_sdot qemu-aarch64 -cpu max "$OUT/backends_sdot"
    else ko "backends_sdot build"; head -n 20 "$OUT/backends_sdot.build"; fi
    if aarch64-linux-gnu-gcc -std=c99 $STRICT -O2 -static -DBITLINEAR_NO_NEON -DBITLINEAR_TEST_QUICK -Itests \
        tests/test_backends.c -o "$OUT/backends_noneon" -lm 2>"$OUT/backends_noneon.build"; then
        run backends_noneon qemu-aarch64 "$OUT/backends_noneon"
    else ko "backends_noneon build"; fi
else
    echo "skipped: aarch64-linux-gnu-gcc or qemu-aarch64 not found (SDOT variant)"
fi

# the threads example, as its header says to build it, and under ThreadSanitizer (two timed
# passes: the check, not the timing, is what runs slowly there)
if cc -O2 -I. examples/threads.c -o "$OUT/threads" -lm -lpthread 2>"$OUT/threads.build"; then
    run threads "$OUT/threads" 3
else ko "threads build"; head -n 20 "$OUT/threads.build"; fi
if echo 'int main(void){return 0;}' | gcc -fsanitize=thread -x c - -o "$OUT/tsan_probe" 2>/dev/null && "$OUT/tsan_probe" 2>/dev/null; then
    if gcc -std=c99 $STRICT -O1 -g -fsanitize=thread examples/threads.c -o "$OUT/threads_tsan" -lm -lpthread 2>"$OUT/threads_tsan.build"; then
        run threads_tsan env TSAN_OPTIONS=halt_on_error=1 "$OUT/threads_tsan" 4 2
    else ko "threads_tsan build"; head -n 20 "$OUT/threads_tsan.build"; fi
else
    echo "skipped: ThreadSanitizer does not run here"
fi

echo "$P passed, $F failed"
