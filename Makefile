# bitlinear: `make demo` runs the quick start, `make test` runs every test this machine allows.
# bitlinear.h is generated from src/ and committed: only `make amalgamate` regenerates it
# (python3), so no target here depends on checkout timestamps or needs Python to build.
CC      ?= cc
CFLAGS  ?= -O2
WARN     = -Wall -Wextra -Wpedantic
BUILD    = build
EXAMPLES = $(patsubst examples/%.c,$(BUILD)/%,$(wildcard examples/*.c))

.PHONY: all demo test bench bench-wasm examples amalgamate clean
all: examples

amalgamate:
	python3 amalgamate.py

# the measurement tables in README.md and docs/performance.md, from bench/results.json
.PHONY: tables
tables:
	python3 tools/render_tables.py

$(BUILD)/%: examples/%.c bitlinear.h
	@mkdir -p $(BUILD)
	$(CC) -std=c99 $(CFLAGS) $(WARN) -I. $< -o $@ -lm -lpthread

examples: $(EXAMPLES)

demo: $(BUILD)/quickstart
	./$(BUILD)/quickstart

test:
	bash tests/run.sh

bench:
	bash bench/run.sh

# WebAssembly SIMD128 vs wasm scalar vs native AVX2, under node (docs/wasm.md)
bench-wasm:
	bash bench/wasm.sh

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
# tiny: a small checkpoint -> convert -> C array (build/tiny_model.h) -> a size-optimised build.
# tools/tiny_model.py makes the checkpoint and the C array: without python3 these targets
# print "skipped: ..." and succeed.
TINY_FLAGS   = -std=c99 -Os -ffunction-sections -fdata-sections -Wl,--gc-sections
FUZZ_SECONDS ?= 60
PYTHON3     := $(shell command -v python3 2>/dev/null)

.PHONY: tiny-size fuzz
ifeq ($(PYTHON3),)
$(BUILD)/tiny $(BUILD)/tiny_nosimd $(BUILD)/tiny_baseline $(BUILD)/tiny_model.h tiny-size:
	@echo "skipped: python3 not found (tools/tiny_model.py makes the tiny model)"
else

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

tiny-size: $(BUILD)/tiny $(BUILD)/tiny_nosimd $(BUILD)/tiny_baseline
	@./$(BUILD)/tiny
	@base=$$(size -A $(BUILD)/tiny_baseline | awk '$$1 == ".text" { print $$2 }'); \
	for b in tiny tiny_nosimd; do \
	    t=$$(size -A $(BUILD)/$$b | awk '$$1 == ".text" { print $$2 }'); \
	    echo "$$b: .text $$t bytes, the library adds $$((t - base)) (baseline without it: $$base)"; \
	done
endif

# libFuzzer: each target for FUZZ_SECONDS (default 60) from tests/fuzz/corpus/
fuzz:
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

# ---- WebAssembly (docs/wasm.md) ----
# `make web`: examples/web/ as a page in build/web/ (serve it: python3 -m http.server -d build/web)
WASM_CC      ?= clang
WASI_SYSROOT ?= /usr
WASM_FLAGS    = --target=wasm32-wasi --sysroot=$(WASI_SYSROOT) -O2 -msimd128 -std=c99 $(WARN) -I.
.PHONY: web
$(BUILD)/web/web.wasm: examples/web/web.c bitlinear.h
	@mkdir -p $(BUILD)/web
	$(WASM_CC) $(WASM_FLAGS) -mexec-model=reactor -DBITLINEAR_NO_STDIO -DNDEBUG $< -o $@

$(BUILD)/web/web_native: examples/web/web.c bitlinear.h
	@mkdir -p $(BUILD)/web
	$(CC) -std=c99 $(CFLAGS) $(WARN) -I. $< -o $@ -lm

web: $(BUILD)/web/web.wasm $(BUILD)/web/web_native $(BUILD)/tiny.blm examples/web/index.html examples/web/main.js
	cp examples/web/index.html examples/web/main.js $(BUILD)/web/
	cp $(BUILD)/tiny.blm $(BUILD)/web/model.blm

# ---- BitNet model runner (examples/bitnet.c) against llama.cpp ------------------------
# `make bench-model`: a random model with BitNet b1.58 2B4T's shapes (TQ2_0, ~1.2 GB in
# build/), run by examples/bitnet.c and by llama.cpp's libllama side by side.
.PHONY: bench-model
bench-model:
	bash bench/bitnet_model.sh
