#!/usr/bin/env bash
# Runs every test the tools on this machine allow; parts whose tools are missing print
# "skipped: <why>". The last line is "N passed, M failed" (checks, summed over all runs).
set -u
cd "$(dirname "$0")/.."
OUT=build/test
mkdir -p "$OUT"
PASSED=0
FAILED=0
STRICT="-Wall -Wextra -Wpedantic -Werror"
SAN="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer"
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1

have() { command -v "$1" >/dev/null 2>&1; }
fail() { FAILED=$((FAILED + 1)); echo "FAILED: $*"; }
pass() { PASSED=$((PASSED + 1)); }

# run_binary LABEL CMD...: adds the binary's own "N passed, M failed" counts
run_binary() {
    local label=$1; shift
    local log="$OUT/$label.log" line p f
    if "$@" >"$log" 2>&1; then rc=0; else rc=$?; fi
    line=$(grep -E '^[A-Za-z0-9_]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$line" ]; then
        fail "$label exited $rc without a summary"; tail -n 20 "$log"; return
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then fail "$label exited $rc"; tail -n 20 "$log"; fi
    [ "$f" -ne 0 ] && { echo "FAILED: $label"; grep -E 'FAILED|!=' "$log" | head -n 20; }
    echo "  $label: $p passed, $f failed"
}

echo "== amalgamation"
if ! have python3; then echo "skipped: python3 not found (amalgamate.py --check)"
elif python3 amalgamate.py --check; then pass; echo "  bitlinear.h is in sync with src/"
else fail "bitlinear.h is stale (make amalgamate)"; fi

# build_and_run TAG COMPILER LANGFLAGS EXTRA: every tests/test_*.c
build_and_run() {
    local tag=$1 cc=$2 lang=$3 extra=$4 t name
    if ! have "$cc"; then echo "skipped: $cc not found ($tag)"; return; fi
    echo "== $tag (at ${SECONDS}s)"
    for t in tests/test_*.c; do
        name=$(basename "$t" .c)
        # shellcheck disable=SC2086
        if $cc $lang $STRICT $extra -I. "$t" -o "$OUT/$name.$tag" -lm -lpthread 2>"$OUT/$name.$tag.build"; then
            run_binary "$name.$tag" "$OUT/$name.$tag"
        else
            fail "$name ($tag) does not build"; head -n 30 "$OUT/$name.$tag.build"
        fi
    done
}

# clang at -O0: clang 14 takes minutes per file with ASan+UBSan at -O1 on the SIMD kernels
build_and_run gcc-c99-asan    gcc     "-std=c99"            "-O1 -g $SAN"
build_and_run clang-c99-asan  clang   "-std=c99"            "-O0 -g $SAN"
build_and_run gxx-cxx11       g++     "-x c++ -std=c++11"   "-O2"
build_and_run clangxx-cxx11   clang++ "-x c++ -std=c++11"   "-O2"
build_and_run gcc-noasm-O3    gcc     "-std=c99"            "-O3 -march=native -DBITLINEAR_TEST_QUICK"

echo "== configuration macros"
bash tests/config/run.sh "$OUT" && pass || fail "configuration compile tests"

echo "== aarch64 (NEON) under qemu"
if have aarch64-linux-gnu-gcc && have qemu-aarch64; then
    for t in tests/test_*.c; do
        name=$(basename "$t" .c)
        if aarch64-linux-gnu-gcc -std=c99 $STRICT -O2 -static -DBITLINEAR_TEST_QUICK -I. "$t" -o "$OUT/$name.aarch64" -lm -lpthread 2>"$OUT/$name.aarch64.build"; then
            run_binary "$name.aarch64" qemu-aarch64 "$OUT/$name.aarch64"
        else
            fail "$name (aarch64) does not build"; head -n 30 "$OUT/$name.aarch64.build"
        fi
    done
else
    echo "skipped: aarch64-linux-gnu-gcc or qemu-aarch64 not found"
fi

echo "== cppcheck"
if have cppcheck; then
    if cppcheck --quiet --error-exitcode=1 --enable=warning,portability,performance \
        --std=c99 -DBITLINEAR_IMPLEMENTATION --suppress=missingIncludeSystem bitlinear.h 2>"$OUT/cppcheck.log"; then
        pass; echo "  no warnings"
    else
        fail "cppcheck"; head -n 30 "$OUT/cppcheck.log"
    fi
else
    echo "skipped: cppcheck not found"
fi

for extra in tests/run_*.sh; do
    [ -e "$extra" ] || continue
    echo "== $(basename "$extra" .sh) (at ${SECONDS}s)"
    # each extra script prints its own "skipped: ..." lines and a last line "N passed, M failed"
    bash "$extra" "$OUT" >"$OUT/$(basename "$extra" .sh).out" 2>&1
    cat "$OUT/$(basename "$extra" .sh).out"
    line=$(tail -n 1 "$OUT/$(basename "$extra" .sh).out")
    if echo "$line" | grep -qE '^[0-9]+ passed, [0-9]+ failed$'; then
        PASSED=$((PASSED + $(echo "$line" | cut -d' ' -f1))); FAILED=$((FAILED + $(echo "$line" | cut -d' ' -f3)))
    else
        fail "$extra gave no summary"
    fi
done

echo "(make test took ${SECONDS}s)"
echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
