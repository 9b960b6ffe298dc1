#!/usr/bin/env bash
# Documentation checks: the measurement tables in README.md and docs/performance.md match
# bench/results.json (tools/render_tables.py --check), README links to docs/ files that
# exist here or are named as coming from another branch, and README stays short.
# Prints "skipped: <why>" without python3; ends with "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
passed=0 failed=0
ok() { passed=$((passed + 1)); echo "  $1"; }
bad() { failed=$((failed + 1)); echo "FAILED: $1"; }
if command -v python3 >/dev/null 2>&1; then
    if python3 tools/render_tables.py --check; then ok "tables in sync with bench/results.json"
    else bad "tables out of sync (python3 tools/render_tables.py)"; fi
else
    echo "skipped: python3 not found (tools/render_tables.py --check)"
fi
# links into docs/: each file exists, or is one that another branch of this release adds
PENDING="models gguf import bitnet wasm"
missing=""
for link in $(grep -ohE '\(docs/[a-z0-9_-]+\.md\)|\]\([a-z0-9_-]+\.md\)' README.md docs/*.md | grep -oE '[a-z0-9_-]+\.md' | sort -u); do
    name=${link%.md}
    [ -e "docs/$link" ] || case " $PENDING " in *" $name "*) ;; *) missing="$missing $link";; esac
done
if [ -z "$missing" ]; then ok "links into docs/ resolve"; else bad "links to missing docs:$missing"; fi
lines=$(wc -l < README.md)
if [ "$lines" -le 260 ]; then ok "README.md has $lines lines"; else bad "README.md has $lines lines (at most ~250)"; fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
