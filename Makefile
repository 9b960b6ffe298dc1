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
# ---- model files (issue 6): tiny embedded binary, fuzzing -----------------------------
# tiny: a small checkpoint -> convert -> C array (build/tiny_model.h) -> a size-optimised build
TINY_FLAGS   = -std=c99 -Os -ffunction-sections -fdata-sections -Wl,--gc-sections
FUZZ_SECONDS ?= 60

$(BUILD)/tiny.safetensors: tools/tiny_model.py
	@mkdir -p $(BUILD)
	python3 tools/tiny_model.py safetensors $@

$(BUILD)/tiny.blm: $(BUILD)/tiny.safetensors $(BUILD)/convert
	$(BUILD)/convert $< $@ --format base3 >/dev/null

$(BUILD)/tiny_model.h: $(BUILD)/tiny.blm tools/tiny_model.py
	python3 tools/tiny_model.py header $< $@

$(BUILD)/tiny: examples/tiny.c bitlinear.h $(BUILD)/tiny_model.h
	$(CC) $(TINY_FLAGS) $(WARN) -I. $< -o $@ -lm

$(BUILD)/tiny_nosimd: examples/tiny.c bitlinear.h $(BUILD)/tiny_model.h
	$(CC) $(TINY_FLAGS) -DBITLINEAR_NO_SIMD $(WARN) -I. $< -o $@ -lm

$(BUILD)/tiny_baseline: tools/tiny_baseline.c $(BUILD)/tiny_model.h
	$(CC) $(TINY_FLAGS) $(WARN) -I. $< -o $@ -lm

.PHONY: tiny-size fuzz
tiny-size: $(BUILD)/tiny $(BUILD)/tiny_nosimd $(BUILD)/tiny_baseline
	@./$(BUILD)/tiny
	@base=$$(size -A $(BUILD)/tiny_baseline | awk '$$1 == ".text" { print $$2 }'); \
	for b in tiny tiny_nosimd; do \
	    t=$$(size -A $(BUILD)/$$b | awk '$$1 == ".text" { print $$2 }'); \
	    echo "$$b: .text $$t bytes, the library adds $$((t - base)) (baseline without it: $$base)"; \
	done

# libFuzzer: each target for FUZZ_SECONDS (default 60) from tests/fuzz/corpus/
fuzz: bitlinear.h
	bash tests/run_fuzz.sh $(BUILD)/test $(FUZZ_SECONDS)

# ---- CUDA companion (bitlinear_cuda.h) ----
NVCC      ?= $(shell command -v nvcc || echo /usr/local/cuda/bin/nvcc)
CUDA_ARCH ?= -gencode arch=compute_80,code=sm_80 -gencode arch=compute_90,code=sm_90

.PHONY: bench-cuda
$(BUILD)/bench/bench_cuda: bench/bench_cuda.cu bitlinear_cuda.h bitlinear.h
	@mkdir -p $(BUILD)/bench
	$(NVCC) -O3 -std=c++11 -I. $(CUDA_ARCH) $< -o $@ -lcublas

bench-cuda: $(BUILD)/bench/bench_cuda
	./$(BUILD)/bench/bench_cuda $(BUILD)/bench/bench_cuda.json

# ---- BitNet model runner (examples/bitnet.c) against llama.cpp ------------------------
# `make bench-model`: a random model with BitNet b1.58 2B4T's shapes (TQ2_0, ~1.2 GB in
# build/), run by examples/bitnet.c and by llama.cpp's libllama side by side.
.PHONY: bench-model
bench-model: bitlinear.h
	bash bench/bitnet_model.sh
