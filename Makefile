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
