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
