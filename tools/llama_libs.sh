#!/usr/bin/env bash
# Prints the folder holding llama.cpp's libllama and ggml's libggml-base (from the npm
# package @node-llama-cpp/linux-x64, installed under build/npm on first use), or prints
# "skipped: <why>" to stderr and exits 1. The tests and benches that use llama.cpp or
# ggml as an outside oracle call this; nothing in the library depends on it.
set -u
cd "$(dirname "$0")/.."
PKG=@node-llama-cpp/linux-x64@3.22.1
DIR=build/npm/node_modules/@node-llama-cpp/linux-x64/bins/linux-x64
if [ "$(uname -s)-$(uname -m)" != Linux-x86_64 ]; then echo "skipped: the npm package ships x86-64 Linux libraries only" >&2; exit 1; fi
if [ ! -f "$DIR/libggml-base.so" ]; then
    if ! command -v npm >/dev/null 2>&1; then echo "skipped: npm not found (for $PKG)" >&2; exit 1; fi
    mkdir -p build/npm
    if ! timeout 300 npm install --no-save --no-audit --no-fund --prefix build/npm "$PKG" >build/npm/install.log 2>&1; then
        echo "skipped: npm could not install $PKG (see build/npm/install.log)" >&2; exit 1
    fi
fi
[ -f "$DIR/libggml-base.so" ] || { echo "skipped: $PKG has no libggml-base.so" >&2; exit 1; }
echo "$(pwd)/$DIR"
