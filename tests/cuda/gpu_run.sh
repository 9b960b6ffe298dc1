#!/usr/bin/env bash
# One prepared run for a machine with a GPU: builds the CUDA test and bench for this
# GPU's architecture only (fast), runs the device tests, then the benchmark.
#   bash tests/cuda/gpu_run.sh [OUTDIR]     (default build/cuda-gpu)
# Prints the test summary, the bench table, and leaves logs and bench JSON in OUTDIR.
set -u
cd "$(dirname "$0")/../.."
OUT=${1:-build/cuda-gpu}
mkdir -p "$OUT"
NVCC=${NVCC:-$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)}
CC=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -n 1 | tr -d ' .')
if [ -z "$CC" ]; then echo "skipped: no CUDA device (nvidia-smi)"; exit 0; fi
ARCH="-gencode arch=compute_$CC,code=sm_$CC"
nvidia-smi -L
echo "== build (sm_$CC)"
"$NVCC" -O3 -std=c++11 -I. $ARCH tests/cuda/test_cuda.cu -o "$OUT/test_cuda" &
"$NVCC" -O3 -std=c++11 -I. $ARCH bench/bench_cuda.cu -o "$OUT/bench_cuda" -lcublas &
wait
echo "== test_cuda"
"$OUT/test_cuda" 2>&1 | tee "$OUT/test_cuda.log" | tail -n 40
echo "== bench_cuda"
"$OUT/bench_cuda" "$OUT/bench_cuda.json" 2>&1 | tee "$OUT/bench_cuda.log"
