#!/usr/bin/env bash
# Compile tests of the configuration macros, with every C and C++ compiler present.
set -u
cd "$(dirname "$0")/../.."
OUT=${1:-build/test}/config
mkdir -p "$OUT"
STRICT="-Wall -Wextra -Wpedantic -Werror -I."
bad=0
check() { if "$@"; then :; else echo "  FAILED: $*"; bad=1; fi; }
for cc in gcc clang g++ clang++; do
    command -v $cc >/dev/null 2>&1 || { echo "skipped: $cc not found (config)"; continue; }
    case $cc in *++) lang="-x c++ -std=c++11";; *) lang="-std=c99";; esac
    C="$cc $lang $STRICT"
    check $C tests/config/static_a.c tests/config/static_b.c -o "$OUT/static.$cc" -lm
    check "$OUT/static.$cc"
    check $C tests/config/split_impl.c tests/config/split_user.c -o "$OUT/split.$cc" -lm
    check "$OUT/split.$cc"
    check $C tests/config/hooks.c -o "$OUT/hooks.$cc" -lm
    check "$OUT/hooks.$cc"
    check $C tests/config/hooks_bare.c -o "$OUT/hooks_bare.$cc" -lm
    check "$OUT/hooks_bare.$cc"
    check $C tests/config/no_stdio.c -o "$OUT/no_stdio.$cc" -lm
    check "$OUT/no_stdio.$cc"
    check $C tests/config/no_simd.c -o "$OUT/no_simd.$cc" -lm
    check "$OUT/no_simd.$cc"
    if $C -c tests/config/partial_hooks.c -o "$OUT/partial.o" 2>/dev/null; then
        echo "  FAILED: partial allocator hooks compiled ($cc)"; bad=1
    fi
    echo "  $cc: configuration macros checked"
done
exit $bad
