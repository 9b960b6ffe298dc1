#!/usr/bin/env bash
# Portability: every tests/test_*.c on a big-endian CPU (s390x under qemu-user) and on
# Windows (mingw-w64 under wine). test_io checks there that the committed golden model
# file (written on little-endian x86-64) loads bit-identically and is re-written byte for
# byte. Missing tools print "skipped: ..."; the last line is "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
OUT=${1:-build/test}/portability
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
STRICT="-Wall -Wextra -Wpedantic -Werror"
PASSED=0
FAILED=0
have() { command -v "$1" >/dev/null 2>&1; }

# run_binary LABEL CMD...: adds the program's own "name: N passed, M failed" counts
run_binary() {
    local label=$1 log="$OUT/$1.log" line p f rc
    shift
    if "$@" >"$log" 2>&1; then rc=0; else rc=$?; fi
    line=$(grep -aE '^[A-Za-z0-9_]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1 | tr -d '\r')
    if [ -z "$line" ]; then
        FAILED=$((FAILED + 1)); echo "FAILED: $label exited $rc without a summary"; tail -n 20 "$log"; return
    fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then FAILED=$((FAILED + 1)); echo "FAILED: $label exited $rc"; tail -n 20 "$log"; fi
    [ "$f" -ne 0 ] && { echo "FAILED: $label"; grep -aE 'FAILED|!=' "$log" | head -n 20; }
    echo "  $label: $p passed, $f failed"
}

# build_all TAG COMPILER EXT FLAGS... then run each with RUNNER
suite() {
    local tag=$1 cc=$2 ext=$3 runner=$4 t name bin
    shift 4
    for t in tests/test_*.c; do
        name=$(basename "$t" .c)
        bin="$OUT/$name.$tag$ext"
        # shellcheck disable=SC2086
        if $cc -std=c99 $STRICT -O2 -static -DBITLINEAR_TEST_QUICK "$@" -I. "$t" -o "$bin" -lm -lpthread \
            2>"$OUT/$name.$tag.build"; then
            # shellcheck disable=SC2086
            run_binary "$name.$tag" $runner "$bin"
        else
            FAILED=$((FAILED + 1)); echo "FAILED: $name ($tag) does not build"; head -n 30 "$OUT/$name.$tag.build"
        fi
    done
}

echo "-- big-endian: s390x under qemu-user"
if ! have s390x-linux-gnu-gcc; then
    echo "skipped: s390x-linux-gnu-gcc not found (apt: gcc-s390x-linux-gnu)"
elif ! have qemu-s390x; then
    echo "skipped: qemu-s390x not found (apt: qemu-user)"
else
    suite s390x s390x-linux-gnu-gcc "" qemu-s390x
fi

echo "-- Windows: mingw-w64 under wine"
WINE=""
if have wine64; then WINE=wine64; elif have wine; then WINE=wine; fi
if ! have x86_64-w64-mingw32-gcc; then
    echo "skipped: x86_64-w64-mingw32-gcc not found (apt: gcc-mingw-w64-x86-64)"
elif [ -z "$WINE" ]; then
    echo "skipped: wine not found (apt: wine wine64)"
else
    # a private prefix; no Mono/Gecko installers, no debug chatter
    export WINEPREFIX="$OUT/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml="
    mkdir -p "$WINEPREFIX"
    suite win64 x86_64-w64-mingw32-gcc .exe "$WINE"
fi

echo "$PASSED passed, $FAILED failed"
