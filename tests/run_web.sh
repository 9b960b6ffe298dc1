#!/usr/bin/env bash
# examples/web in a real browser (an extra script of tests/run.sh): `make web` builds the page,
# web.wasm (clang + wasi-libc, SIMD128) and the native build of the same program; a local
# HTTP server on 127.0.0.1 (a free port, killed at the end, lifetime bounded) serves the page
# to headless Chromium, which runs the forward on fixed inputs (?input=...); the logits' float
# bits the page shows must equal the native program's for each input, and the page must have
# run the wasm backend. Then test_backends runs in Chromium's engine too (SIMD128 and relaxed
# SIMD). Prints "skipped: <why>" without chromium (CHROMIUM names other browsers to try),
# clang's wasm32-wasi target or python3; last line "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
OUT=${1:-build/test}/web
mkdir -p "$OUT"
P=0; F=0
have() { command -v "$1" >/dev/null 2>&1; }
ok() { P=$((P + 1)); }
ko() { F=$((F + 1)); echo "FAILED: $*"; }
finish() { echo "$P passed, $F failed"; exit 0; }

BROWSER=""
for b in ${CHROMIUM:-chromium chromium-browser google-chrome}; do have "$b" && { BROWSER=$b; break; }; done
[ -n "$BROWSER" ] || { echo "skipped: no chromium (apt-get install chromium)"; finish; }
have python3 || { echo "skipped: python3 not found"; finish; }
if ! make -s web >"$OUT/build.log" 2>&1; then
    if grep -q "wasm32\|wasi\|wasm-ld\|libclang_rt" "$OUT/build.log"; then
        echo "skipped: clang cannot build for wasm32-wasi (lld, wasi-libc, libclang-rt-dev-wasm32):"; head -n 3 "$OUT/build.log"; finish
    fi
    ko "make web"; tail -n 20 "$OUT/build.log"; finish
fi

PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
timeout 300 python3 -m http.server "$PORT" --bind 127.0.0.1 --directory build/web >"$OUT/http.log" 2>&1 &
SERVER=$!
trap 'kill "$SERVER" 2>/dev/null' EXIT
for _ in $(seq 1 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null && break
    sleep 0.1
done

INPUTS=("hello, ternary world" "The quick brown fox jumps over the lazy dog 0123456789" "ünïcødé ✓ ≠ ascii" "")
QUERY=$(python3 -c 'import sys, urllib.parse; print("&".join("input=" + urllib.parse.quote(a, safe="") for a in sys.argv[1:]))' "${INPUTS[@]}")
# --virtual-time-budget lets the page's fetches and module instantiation finish before the
# DOM is dumped; --no-sandbox because CI runs as root. WebAssembly compilation runs outside
# virtual time, so on a busy host the DOM can be dumped before the page is ready: up to
# three loads, the first that is ready counts.
for attempt in 1 2 3; do
    timeout 120 "$BROWSER" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-zygote \
        --virtual-time-budget=20000 --dump-dom "http://127.0.0.1:$PORT/index.html?$QUERY" >"$OUT/dom.html" 2>"$OUT/chromium.log"
    rc=$?
    [ "$rc" -eq 0 ] || { ko "chromium exited $rc"; grep -v dbus "$OUT/chromium.log" | tail -n 5; }
    python3 - "$OUT/dom.html" >"$OUT/page.txt" <<'PY'
import html, re, sys
dom = open(sys.argv[1], encoding="utf-8").read()
for block in ("bits", "result", "status"):
    m = re.search(r'id="%s">(.*?)</' % block, dom, re.S)
    print("%s\t%s" % (block, html.unescape(m.group(1)) if m else ""))
PY
    grep -q $'^status\tready' "$OUT/page.txt" && break
    echo "  page not ready at dump (load $attempt of 3)"
done
grep -q $'^status\tready (wasm backend' "$OUT/page.txt" && ok || { ko "the page did not load with the wasm backend"; cat "$OUT/page.txt"; }
grep -q 'backend wasm)' "$OUT/page.txt" && ok || ko "the page's forward did not run the wasm backend"
i=0
# the #bits block: one line per input, in order (its first line shares the "bits<TAB>" prefix)
mapfile -t PAGE < <(sed -n '/^bits\t/,/^result\t/p' "$OUT/page.txt" | sed -e 's/^bits\t//' -e '/^result\t/d')
for text in "${INPUTS[@]}"; do
    want=$(build/web/web_native build/web/model.blm "$text" | head -n 1)
    got=${PAGE[$i]:-}
    if [ -n "$want" ] && [ "$want" = "$got" ]; then ok; else ko "input '$text': page '$got', native '$want'"; fi
    i=$((i + 1))
done
[ "$F" -eq 0 ] && echo "  the page's logits equal the native build's, bit for bit, on ${#INPUTS[@]} inputs (chromium: $($BROWSER --version 2>/dev/null | head -n 1))"

# test_backends in the browser's engine (tests/wasm/runner.html + wasi.js): SIMD128, and
# relaxed SIMD where a clang >= 16 builds it (Chromium has relaxed SIMD; node 20 computes
# its dot product wrong, see tests/run_wasm.sh). Counts add up like tests/run.sh's run_binary.
R=$OUT/runner
mkdir -p "$R"
cp tests/wasm/runner.html tests/wasm/wasi.js "$R/"
WF="--target=wasm32-wasi --sysroot=${WASI_SYSROOT:-/usr} -O2 -std=c99 -Wall -Wextra -Wpedantic -Werror -I. -Wl,-z,stack-size=8388608"
MODULES=()
# shellcheck disable=SC2086
if ${WASM_CC:-clang} $WF -msimd128 -DBITLINEAR_TEST_QUICK tests/test_backends.c -o "$R/backends_simd128.wasm" 2>"$R/simd128.build"; then
    MODULES+=(backends_simd128)
else ko "test_backends (simd128) does not build"; head -n 20 "$R/simd128.build"; fi
read -r RCC RDOT <<<"$(bash tests/wasm/relaxed_cc.sh "${WASI_SYSROOT:-/usr}")"
: "${RDOT:=}"
if [ -n "${RCC:-}" ]; then
    # shellcheck disable=SC2086
    if $RCC $WF -msimd128 -mrelaxed-simd -DBITLINEAR_WASM_RELAXED -DBITLINEAR_TEST_QUICK tests/test_backends.c \
        -o "$R/backends_relaxed.wasm" 2>"$R/relaxed.build"; then MODULES+=(backends_relaxed)
    else ko "test_backends (relaxed) does not build"; head -n 20 "$R/relaxed.build"; fi
else
    echo "skipped: test_backends with relaxed SIMD in the browser (no clang >= 16 builds it here)"
fi
kill "$SERVER" 2>/dev/null
timeout 300 python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$R" >"$OUT/http_runner.log" 2>&1 &
SERVER=$!
for _ in $(seq 1 50); do
    python3 -c "import socket; socket.create_connection(('127.0.0.1', $PORT), 1)" 2>/dev/null && break
    sleep 0.1
done
for m in "${MODULES[@]}"; do
    timeout 240 "$BROWSER" --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-zygote \
        --dump-dom "http://127.0.0.1:$PORT/runner.html?module=$m.wasm" \
        >"$R/$m.html" 2>"$R/$m.chromium.log"
    line=$(grep -oE 'test_backends: [0-9]+ passed, [0-9]+ failed' "$R/$m.html" | tail -n 1)
    code=$(grep -oE '<pre id="code">[^<]*' "$R/$m.html" | sed 's/.*>//')
    if [ -z "$line" ]; then ko "$m in chromium: no summary ($code)"; continue; fi
    p=$(echo "$line" | sed -E 's/.*: ([0-9]+) passed.*/\1/'); f=$(echo "$line" | sed -E 's/.* ([0-9]+) failed.*/\1/')
    P=$((P + p)); F=$((F + f))
    [ "$code" = "exit 0" ] || [ "$f" -ne 0 ] || ko "$m in chromium: $code"
    echo "  $m (chromium): $p passed, $f failed"
done
finish
