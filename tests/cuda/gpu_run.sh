#!/usr/bin/env bash
# One prepared run for a machine with a GPU: builds the CUDA test and bench for this
# GPU's architecture only (fast), runs the device tests, then the benchmark, then the
# quick device tests under compute-sanitizer (memcheck, racecheck) when it is there.
#   bash tests/cuda/gpu_run.sh [OUTDIR]     (default build/cuda-gpu)
# Without nvcc on that machine it runs binaries already in OUTDIR (build them elsewhere
# with the same command, or with CUDA_CC=90 for an H100/H200, and carry OUTDIR along).
# Prints the test summary and the bench table; logs and bench JSON stay in OUTDIR.
set -u
cd "$(dirname "$0")/../.."
OUT=${1:-build/cuda-gpu}
mkdir -p "$OUT"
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CC=${CUDA_CC:-$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .')}
command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L
if [ -x "$NVCC" ] && [ -n "$CC" ]; then
    echo "== build (sm_$CC)"
    ARCH="-gencode arch=compute_$CC,code=sm_$CC"
    "$NVCC" -O3 -std=c++11 -I. $ARCH tests/cuda/test_cuda.cu -o "$OUT/test_cuda" &
    "$NVCC" -O3 -std=c++11 -I. $ARCH bench/bench_cuda.cu -o "$OUT/bench_cuda" -lcublas &
    "$NVCC" -O1 -std=c++11 -I. $ARCH -lineinfo -DBITLINEAR_TEST_QUICK tests/cuda/test_cuda.cu -o "$OUT/test_quick" &
    wait
fi
if [ ! -x "$OUT/test_cuda" ] || [ ! -x "$OUT/bench_cuda" ]; then
    echo "no binaries in $OUT (no nvcc, or no GPU to build for: set CUDA_CC)"; exit 1
fi
if [ -z "$CC" ] && ! command -v nvidia-smi >/dev/null 2>&1; then echo "note: nvidia-smi not found"; fi
echo "== test_cuda"
"$OUT/test_cuda" 2>&1 | tee "$OUT/test_cuda.log" | tail -n 40
echo "== bench_cuda"
"$OUT/bench_cuda" "$OUT/bench_cuda.json" 2>&1 | tee "$OUT/bench_cuda.log"
SAN=$(command -v compute-sanitizer || echo /usr/local/cuda/bin/compute-sanitizer)
if [ -x "$SAN" ] && [ -x "$OUT/test_quick" ]; then
    for tool in memcheck racecheck; do
        echo "== compute-sanitizer --tool $tool"
        "$SAN" --tool "$tool" --print-limit 10 "$OUT/test_quick" > "$OUT/$tool.log" 2>&1
        tail -n 2 "$OUT/$tool.log"
    done
else
    echo "skipped: compute-sanitizer not found"
fi
