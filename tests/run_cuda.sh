#!/usr/bin/env bash
# The CUDA companion (picked up by tests/run.sh): compiles the CUDA test, the CUDA bench
# and the CUDA examples with nvcc (one pass each, sm_80 + sm_90), runs the host-only
# emulation checks, and runs the device tests when a GPU is present. Each successful
# compile counts as one pass. Last line: "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
OUT=${1:-build/test}/cuda
mkdir -p "$OUT"
PASSED=0
FAILED=0
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
ARCHS="-gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90"
HOSTWARN="-Xcompiler -Wall,-Wextra"

if [ ! -x "$NVCC" ]; then
    echo "skipped: nvcc not found"
    echo "0 passed, 0 failed"
    exit 0
fi

# build NAME SRC EXTRA...: one nvcc compile; warnings in host code count as failures
build() {
    local name=$1 src=$2; shift 2
    # shellcheck disable=SC2086
    if "$NVCC" -O3 -std=c++11 -I. $ARCHS $HOSTWARN "$src" -o "$OUT/$name" "$@" >"$OUT/$name.build" 2>&1 \
        && ! grep -qiE 'warning' "$OUT/$name.build"; then
        PASSED=$((PASSED + 1)); echo "  built $name"
        return 0
    fi
    FAILED=$((FAILED + 1)); echo "FAILED: $name does not build cleanly"; head -n 30 "$OUT/$name.build"
    return 1
}

# run_counts LABEL CMD...: adds the "<name>: N passed, M failed" counts a binary prints
run_counts() {
    local label=$1 log line p f rc; shift
    log="$OUT/$label.log"
    if "$@" >"$log" 2>&1; then rc=0; else rc=$?; fi
    grep -E '^skipped:' "$log"
    line=$(grep -E '^[A-Za-z0-9_]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n 1)
    if [ -z "$line" ]; then FAILED=$((FAILED + 1)); echo "FAILED: $label exited $rc without a summary"; tail -n 20 "$log"; return; fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/')
    f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    PASSED=$((PASSED + p)); FAILED=$((FAILED + f))
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then FAILED=$((FAILED + 1)); echo "FAILED: $label exited $rc"; fi
    [ "$f" -ne 0 ] && { echo "FAILED: $label"; grep -E 'FAILED|!=|forward' "$log" | head -n 20; }
    echo "  $label: $p passed, $f failed"
}

echo "  nvcc: $("$NVCC" --version | tail -n 1)"
if build test_cuda tests/cuda/test_cuda.cu; then
    run_counts test_cuda_host "$OUT/test_cuda" --host
    # the device tests run only when the binary finds a device (cudaGetDeviceCount);
    # otherwise it prints "skipped: no CUDA device" and counts nothing
    run_counts test_cuda "$OUT/test_cuda"
fi
build bench_cuda bench/bench_cuda.cu -lcublas
for ex in examples/*.cu; do
    [ -e "$ex" ] || continue
    build "$(basename "$ex" .cu)" "$ex"
done

echo "$PASSED passed, $FAILED failed"
[ "$FAILED" -eq 0 ]
