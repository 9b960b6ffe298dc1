#!/usr/bin/env bash
# CMake and pkg-config packaging: tests/cmake/consumer builds and runs against bitlinear
# used through add_subdirectory, FetchContent (SOURCE_DIR: this checkout), and
# find_package after `cmake --install` into a temporary prefix (with the static library);
# then a plain compiler command with `pkg-config --cflags --libs bitlinear`.
# Prints "skipped: <why>" without cmake/pkg-config; ends with "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
ROOT=$(pwd)
mkdir -p "${1:-build/test}/cmake"
OUT=$(cd "${1:-build/test}/cmake" && pwd)
passed=0 failed=0
check() {   # check LABEL CMD...: the command's output goes to $OUT/LABEL.log
    local label=$1; shift
    if "$@" >"$OUT/$label.log" 2>&1; then passed=$((passed + 1)); echo "  $label: ok"
    else failed=$((failed + 1)); echo "FAILED: $label"; tail -n 15 "$OUT/$label.log"; fi
}
if ! command -v cmake >/dev/null 2>&1; then
    echo "skipped: cmake not found"; echo "0 passed, 0 failed"; exit 0
fi
rm -rf "$OUT"; mkdir -p "$OUT"
consumer() {   # consumer MODE [cmake args]: configure, build, run
    local mode=$1; shift
    local b="$OUT/$mode"
    cmake -S tests/cmake/consumer -B "$b" -DBITLINEAR_MODE="$mode" -DBITLINEAR_SOURCE="$ROOT" "$@" &&
        cmake --build "$b" && "$b/consumer" &&
        { [ ! -e "$b/consumer_static" ] || "$b/consumer_static"; }
}
check add_subdirectory consumer subdirectory
check fetchcontent consumer fetchcontent
PREFIX="$OUT/prefix"
check install sh -c "cmake -S . -B '$OUT/lib' -DBITLINEAR_BUILD_LIBRARY=ON -DCMAKE_INSTALL_PREFIX='$PREFIX' &&
    cmake --build '$OUT/lib' && cmake --install '$OUT/lib'"
check find_package sh -c "$(declare -f consumer); ROOT='$ROOT' OUT='$OUT' consumer find_package -DCMAKE_PREFIX_PATH='$PREFIX' &&
    test -x '$OUT/find_package/consumer_static'"
if command -v pkg-config >/dev/null 2>&1; then
    PC_DIR=$(dirname "$(find "$PREFIX" -name bitlinear.pc | head -n 1)")
    check pkg-config sh -c "flags=\$(PKG_CONFIG_PATH='$PC_DIR' pkg-config --cflags --libs 'bitlinear >= 0.2') &&
        cc -std=c99 -DCONSUMER_IMPLEMENTATION tests/cmake/consumer/main.c -o '$OUT/pc_consumer' \$flags &&
        '$OUT/pc_consumer'"
else
    echo "skipped: pkg-config not found"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
