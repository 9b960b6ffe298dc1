# bitlinear: `make demo` runs the quick start, `make test` runs every test this machine allows.
CC      ?= cc
CFLAGS  ?= -O2
WARN     = -Wall -Wextra -Wpedantic
BUILD    = build
EXAMPLES = $(patsubst examples/%.c,$(BUILD)/%,$(wildcard examples/*.c))

.PHONY: all demo test bench examples amalgamate clean
all: bitlinear.h examples

bitlinear.h: amalgamate.py $(wildcard src/*)
	python3 amalgamate.py

amalgamate: bitlinear.h

$(BUILD)/%: examples/%.c bitlinear.h
	@mkdir -p $(BUILD)
	$(CC) -std=c99 $(CFLAGS) $(WARN) -I. $< -o $@ -lm -lpthread

examples: $(EXAMPLES)

demo: $(BUILD)/quickstart
	./$(BUILD)/quickstart

test: bitlinear.h
	bash tests/run.sh

bench: bitlinear.h
	bash bench/run.sh

clean:
	rm -rf $(BUILD)

# ---- CUDA companion (bitlinear_cuda.h) ----
NVCC      ?= $(shell command -v nvcc || echo /usr/local/cuda/bin/nvcc)
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90

.PHONY: bench-cuda
$(BUILD)/bench/bench_cuda: bench/bench_cuda.cu bitlinear_cuda.h bitlinear.h
	@mkdir -p $(BUILD)/bench
	$(NVCC) -O3 -std=c++17 -I. $(CUDA_ARCH) $< -o $@ -lcublas

bench-cuda: $(BUILD)/bench/bench_cuda
	./$(BUILD)/bench/bench_cuda $(BUILD)/bench/bench_cuda.json
