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

# `make train`: the ternary MLP on the 8x8 digits. The data is one file of Debian's
# python3-sklearn package, fetched without installing it (apt-get download + dpkg -x);
# if that fails the example falls back to synthetic digits.
DIGITS = $(BUILD)/digits.csv
.PHONY: train
$(DIGITS):
	@mkdir -p $(BUILD)/sklearn-deb
	-cd $(BUILD)/sklearn-deb && rm -rf pkg python3-sklearn_*.deb && apt-get download python3-sklearn >/dev/null 2>&1 \
	  && dpkg -x python3-sklearn_*.deb pkg \
	  && gunzip -c pkg/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz > ../digits.csv.tmp \
	  && mv ../digits.csv.tmp ../digits.csv
	@test -s $@ || echo "note: could not fetch digits.csv from python3-sklearn; train_mlp will use synthetic digits"

train: $(BUILD)/train_mlp $(DIGITS)
	./$(BUILD)/train_mlp $(DIGITS)

# ---- CUDA companion (bitlinear_cuda.h) ----
NVCC      ?= $(shell command -v nvcc || echo /usr/local/cuda/bin/nvcc)
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90

.PHONY: bench-cuda
$(BUILD)/bench/bench_cuda: bench/bench_cuda.cu bitlinear_cuda.h bitlinear.h
	@mkdir -p $(BUILD)/bench
	$(NVCC) -O3 -std=c++11 -I. $(CUDA_ARCH) $< -o $@ -lcublas

bench-cuda: $(BUILD)/bench/bench_cuda
	./$(BUILD)/bench/bench_cuda $(BUILD)/bench/bench_cuda.json
