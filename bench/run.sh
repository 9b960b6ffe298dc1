#!/usr/bin/env bash
# `make bench`: builds and runs every bench/*.c. Installs OpenBLAS (the fp32 baseline)
# with apt-get when it is missing and we may; without it the BLAS columns say n/a.
set -eu
cd "$(dirname "$0")/.."
mkdir -p build/bench
if [ ! -e /usr/include/x86_64-linux-gnu/cblas.h ] && [ ! -e /usr/include/cblas.h ] \
   && [ ! -e /usr/include/openblas/cblas.h ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev) >/dev/null 2>&1 \
        || echo "note: could not install libopenblas-dev; BLAS baselines will read n/a"
fi
BLAS=""
if echo '#include <cblas.h>' | cc -E -x c - >/dev/null 2>&1; then BLAS="-DBENCH_HAVE_CBLAS -lopenblas"; fi
for src in bench/*.c; do
    name=$(basename "$src" .c)
    # shellcheck disable=SC2086
    cc -std=c99 -O2 -Wall -Wextra -I. "$src" -o "build/bench/$name" -lm -lpthread $BLAS
done
for src in bench/*.c; do
    name=$(basename "$src" .c)
    echo "### $name"
    "./build/bench/$name" "$@"
    echo
done
echo "bench/results.json updated by roofline; 'make tables' renders the tables of README.md and docs/performance.md from it"
