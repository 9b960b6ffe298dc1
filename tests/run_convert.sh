#!/usr/bin/env bash
# The convert and tiny examples end to end: generated checkpoints of every input kind
# (float safetensors, Hugging Face packed BitNet weights with and without config.json,
# sharded safetensors with their index, GGUF) -> convert (options, patterns, errors,
# the per-layer table, the skip report, exit statuses) -> the outputs checked by
# tests/convert_check.c against references written from the published rules; the model
# file loads in examples/tiny.c as an embedded view. The last line is "N passed, M failed".
set -u
cd "$(dirname "$0")/.."
OUT=${1:-build/test}/convert
mkdir -p "$OUT"
PASSED=0
FAILED=0
ok() { PASSED=$((PASSED + 1)); }
bad() { FAILED=$((FAILED + 1)); echo "FAILED: $*"; }
check() { local what=$1; shift; if "$@"; then ok; else bad "$what"; fi; }

if ! command -v python3 >/dev/null 2>&1; then echo "skipped: python3 not found"; echo "0 passed, 0 failed"; exit 0; fi
CC=${CC:-cc}
check "convert builds" $CC -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -I. examples/convert.c -o "$OUT/convert" -lm
check "checker builds" $CC -std=c99 -O2 -Wall -Wextra -Wpedantic -Werror -I. tests/convert_check.c -o "$OUT/check" -lm
check "checkpoint generator" python3 tools/tiny_model.py safetensors "$OUT/tiny.safetensors"
check "fixture generator" python3 tests/convert_fixtures.py "$OUT/fx"
C="$OUT/convert"
K="$OUT/check"
ST="$OUT/tiny.safetensors"
FX="$OUT/fx"

"$C" "$ST" "$OUT/all.blm" --k 2 --refine 1 >"$OUT/all.txt" 2>&1
check "convert all layers" [ $? -eq 0 ]
check "two layers with a total" grep -qE '^2 layers, k=2' "$OUT/all.txt"
check "fc1 row: 96 x 64, F32, quantized, 24960 bytes in" grep -qE '^fc1\.weight +96 x 64 +F32 +quantized +24960 ' "$OUT/all.txt"
check "no skip report when nothing is skipped" bash -c "! grep -q '^skipped' '$OUT/all.txt'"
check "file size is a multiple of 64" [ $(( $(wc -c <"$OUT/all.blm") % 64 )) -eq 0 ]

"$C" "$ST" "$OUT/one.blm" --include 'fc?.w*' --exclude '*2*' --format base3 --method twn >"$OUT/one.txt" 2>&1
check "patterns select fc1 only: '1 layer'" grep -qE '^1 layer, k=1, base3' "$OUT/one.txt"
check "fc2 copied as float tensors" grep -q '^copied 2 float tensors' "$OUT/one.txt"
check "patterns: fc2 left out" bash -c "! grep -q '^fc2' '$OUT/one.txt'"

"$C" "$ST" "$OUT/rot.blm" --hadamard >"$OUT/h.txt" 2>&1
check "--hadamard converts" [ $? -eq 0 ]
check "--hadamard: two layers" grep -qE '^2 layers, k=1' "$OUT/h.txt"
check "--hadamard: a different file" bash -c "! cmp -s '$OUT/rot.blm' '$OUT/all.blm'"
"$C" "$ST" "$OUT/x.blm" --k 9 >/dev/null 2>&1
check "--k 9 is refused" [ $? -eq 2 ]
"$C" --help >"$OUT/help.txt" 2>&1
check "--help exits 0" [ $? -eq 0 ]
check "--help prints usage to stdout" grep -q '^usage: convert IN OUT' "$OUT/help.txt"
"$C" >/dev/null 2>&1
check "no arguments: usage error" [ $? -eq 2 ]
"$C" "$ST" "$OUT/x.txt" >/dev/null 2>"$OUT/ext.txt"
check "an output not .blm/.gguf is refused" [ $? -eq 2 ]
check "... saying why" grep -q 'must end in .blm or .gguf' "$OUT/ext.txt"
"$C" "$ST" "$OUT/x.blm" --include 'nothing*' >/dev/null 2>&1
check "no match is an error" [ $? -eq 1 ]
"$C" "$OUT/missing.safetensors" "$OUT/x.blm" >/dev/null 2>"$OUT/missing.txt"
check "a missing input is refused" [ $? -eq 1 ]
check "... naming the file and the system's reason" grep -q "cannot read $OUT/missing.safetensors: No such file or directory" "$OUT/missing.txt"
"$C" "$ST" "$OUT/no-such-dir/x.blm" >"$OUT/unwritable.txt" 2>&1
check "an unwritable output is refused" [ $? -eq 1 ]
check "... before converting anything" bash -c "! grep -q '^fc1' '$OUT/unwritable.txt'"
check "... naming the file and the system's reason" grep -q "cannot write $OUT/no-such-dir/x.blm: No such file or directory" "$OUT/unwritable.txt"
echo keep >"$OUT/keep.blm"
"$C" "$ST" "$OUT/keep.blm" --include nothing >/dev/null 2>&1
check "a refused conversion leaves an existing output alone" grep -q keep "$OUT/keep.blm"
rm -f "$OUT/list.blm"
"$C" "$FX/float.safetensors" "$OUT/list.blm" --list >"$OUT/list.txt" 2>&1
check "--list succeeds" [ $? -eq 0 ]
check "--list writes nothing" [ ! -e "$OUT/list.blm" ]
check "--list shows layers" grep -qE '^a\.weight +48 x 80 +F32 +layer \(quantize\)' "$OUT/list.txt"
check "--list shows copies" grep -qE '^norm\.weight +16 +F16 +float tensor' "$OUT/list.txt"
check "--list shows biases" grep -qE '^a\.bias +48 +F32 +bias of its layer' "$OUT/list.txt"
check "--list: the skip report with the reason" grep -qE '^  pos +I64 +not a float type' "$OUT/list.txt"
check "--list: the totals" grep -q '^3 layers, 1 float tensor, 1 metadata key would be written' "$OUT/list.txt"

# float safetensors: BitNet b1.58's rule, trit for trit against the published formula
"$C" "$FX/float.safetensors" "$OUT/bitnet.blm" --method absmean --scaling tensor --exclude 'emb*' >"$OUT/bitnet.txt" 2>&1
check "absmean/tensor converts" [ $? -eq 0 ]
check "absmean/tensor: BitNet's trits and scale (a.weight)" "$K" absmean "$FX/float.safetensors" "$OUT/bitnet.blm" a.weight
check "absmean/tensor: an F64 source too (d.weight)" "$K" absmean "$FX/float.safetensors" "$OUT/bitnet.blm" d.weight
check "the table names the F64 source" grep -qE '^d\.weight +8 x 12 +F64 +quantized' "$OUT/bitnet.txt"
check "embeddings copied (BF16)" "$K" tensor "$FX/float.safetensors" "$OUT/bitnet.blm" emb.weight
check "norm copied (F16)" "$K" tensor "$FX/float.safetensors" "$OUT/bitnet.blm" norm.weight
check "safetensors metadata copied" "$K" kv "$OUT/bitnet.blm" safetensors.metadata.format pt
check "2 layers, 2 tensors, 1 key" "$K" count "$OUT/bitnet.blm" 2 2 1
check "skip report" grep -qE '^skipped 1 tensor:' "$OUT/bitnet.txt"
check "skip report names the tensor and why" grep -qE '^  pos +I64 +not a float type the output stores' "$OUT/bitnet.txt"
"$C" "$FX/float.safetensors" "$OUT/rowopt.blm" --exclude 'emb*' >/dev/null 2>&1
check "per-row OPTIMAL is not BitNet's rule (the checker can fail)" bash -c "! '$K' absmean '$FX/float.safetensors' '$OUT/rowopt.blm' a.weight >/dev/null"
"$C" "$FX/float.safetensors" "$OUT/bits.blm" --act-bits 4 --act float --scaling tensor >/dev/null 2>&1
check "--act-bits and --act accepted" [ $? -eq 0 ]
"$C" "$FX/float.safetensors" "$OUT/x.blm" --act-bits 9 >/dev/null 2>&1
check "--act-bits 9 is refused" [ $? -eq 2 ]

# Hugging Face packed BitNet weights: the scale's direction from config.json or the flag
"$C" "$FX/hf_mul" "$OUT/hf_mul.blm" >"$OUT/hf_mul.txt" 2>&1
check "HF autobitlinear converts" [ $? -eq 0 ]
check "HF: exact import in the table" grep -qE '^q\.weight +32 x 40 +U8/HF +exact .* 0\.0000$' "$OUT/hf_mul.txt"
check "HF autobitlinear: weights multiplied, exactly" "$K" hf "$FX/hf_mul/model.safetensors" "$OUT/hf_mul.blm" q.weight multiply
check "HF autobitlinear: F32 scale too" "$K" hf "$FX/hf_mul/model.safetensors" "$OUT/hf_mul.blm" k.weight multiply
check "HF: config.json kept" "$K" kv "$OUT/hf_mul.blm" hf.config.json "$(cat "$FX/hf_mul/config.json")"
check "HF: 2 layers, the norm, config.json" "$K" count "$OUT/hf_mul.blm" 2 1 1
"$C" "$FX/hf_div/model.safetensors" "$OUT/hf_div.blm" >/dev/null 2>&1
check "HF bitlinear (default linear_class) converts" [ $? -eq 0 ]
check "HF bitlinear: weights divided, exactly" "$K" hf "$FX/hf_div/model.safetensors" "$OUT/hf_div.blm" q.weight divide
check "... and not multiplied (the checker can fail)" bash -c "! '$K' hf '$FX/hf_div/model.safetensors' '$OUT/hf_div.blm' q.weight multiply >/dev/null"
"$C" "$FX/hf_none" "$OUT/hf_none.blm" >/dev/null 2>"$OUT/hf_none.txt"
check "HF without config.json: refused" [ $? -eq 1 ]
check "... naming file, tensor and the flag" grep -q "hf_none/model.safetensors: tensor q.weight: .*--hf-scale multiply|divide" "$OUT/hf_none.txt"
check "... writing nothing" [ ! -e "$OUT/hf_none.blm" ]
for dir in multiply divide; do
    "$C" "$FX/hf_none" "$OUT/hf_none_$dir.blm" --hf-scale $dir >/dev/null 2>&1
    check "HF without config.json, --hf-scale $dir" "$K" hf "$FX/hf_none/model.safetensors" "$OUT/hf_none_$dir.blm" q.weight $dir
done

# sharded safetensors: a directory with model.safetensors.index.json
"$C" "$FX/shards" "$OUT/shards.blm" >"$OUT/shards.txt" 2>&1
check "shards convert" [ $? -eq 0 ]
check "shards: a layer from each shard" "$K" count "$OUT/shards.blm" 2 1 0
check "shards: the table lists both" bash -c "grep -qE '^l0\.weight +16 x 24' '$OUT/shards.txt' && grep -qE '^l1\.weight +8 x 16 +F16' '$OUT/shards.txt'"
check "shards: the norm copied" "$K" tensor "$FX/shards/model-00002-of-00002.safetensors" "$OUT/shards.blm" ln.weight
"$C" "$FX/shards/model-00001-of-00002.safetensors" "$OUT/shard1.blm" >"$OUT/shard1.txt" 2>&1
check "one shard alone converts" grep -q '^1 layer, ' "$OUT/shard1.txt"
mkdir -p "$OUT/badshards" && cp "$FX/shards/model-00001-of-00002.safetensors" "$OUT/badshards/"
cp "$FX/shards/model.safetensors.index.json" "$OUT/badshards/"
"$C" "$OUT/badshards" "$OUT/x.blm" >/dev/null 2>"$OUT/badshards.txt"
check "a missing shard is refused" [ $? -eq 1 ]
check "... naming it and the reason" grep -q "cannot read $OUT/badshards/model-00002-of-00002.safetensors: No such file or directory" "$OUT/badshards.txt"
head -c 100 "$ST" >"$OUT/cut.safetensors"
"$C" "$OUT/cut.safetensors" "$OUT/x.blm" >"$OUT/cut.txt" 2>&1
check "a truncated checkpoint is refused" [ $? -eq 1 ]
check "truncation message" grep -q 'corrupt or truncated' "$OUT/cut.txt"

# GGUF input: a file written byte by byte by the checker (independent of the library's
# writer): TQ2_0 with one d per row (exact), a row of two d (re-quantized), F32 tensors,
# a Q8_0 tensor, string/U32/string-array keys
check "GGUF fixture" "$K" make-gguf "$OUT/in.gguf"
"$C" "$OUT/in.gguf" "$OUT/gguf.blm" >"$OUT/gguf.txt" 2>&1
check "GGUF converts" [ $? -eq 0 ]
check "GGUF: exact row in the table" grep -qE '^blk\.0\.attn_q\.weight +4 x 512 +TQ2_0 +exact .* 0\.0000$' "$OUT/gguf.txt"
check "GGUF: re-quantized row in the table" grep -qE '^blk\.0\.ffn_up\.weight +3 x 512 +TQ2_0 +re-quantized ' "$OUT/gguf.txt"
check "GGUF: the file's values, bit for bit" "$K" gguf "$OUT/in.gguf" "$OUT/gguf.blm" blk.0.attn_q.weight exact
check "GGUF: re-quantized is not exact (the checker can fail)" bash -c "! '$K' gguf '$OUT/in.gguf' '$OUT/gguf.blm' blk.0.ffn_up.weight exact >/dev/null"
check "GGUF: metadata copied (strings, U32, string arrays)" "$K" ggufkv "$OUT/gguf.blm"
check "GGUF: 2 layers, 2 float tensors, 3 keys" "$K" count "$OUT/gguf.blm" 2 2 3
check "GGUF: Q8_0 skipped with the reason" grep -qE '^  q8 +Q8_0 +Q8_0 is not stored as a float tensor' "$OUT/gguf.txt"
rm -f "$OUT/strict.blm"
"$C" "$OUT/in.gguf" "$OUT/strict.blm" --strict >"$OUT/strict.txt" 2>&1
check "--strict refuses re-quantizing: exit status 1" [ $? -eq 1 ]
check "... naming file, tensor and reason" grep -q "in.gguf: tensor blk.0.ffn_up.weight: .*different scales.*--strict" "$OUT/strict.txt"
check "... writing nothing" [ ! -e "$OUT/strict.blm" ]
"$C" "$OUT/in.gguf" "$OUT/gguf_inc.blm" --include 'q8' --include 'blk*' >"$OUT/gguf_inc.txt" 2>&1
check "GGUF: --include makes Q8_0 a layer" grep -qE '^q8 +2 x 32 +Q8_0 +quantized ' "$OUT/gguf_inc.txt"
check "GGUF: --include: 3 layers" grep -q '^3 layers, ' "$OUT/gguf_inc.txt"
"$C" "$OUT/in.gguf" "$OUT/gguf_tok.blm" --include 'token_embd*' --include 'blk*' >/dev/null 2>&1
check "GGUF: --include makes an F32 tensor a layer" "$K" count "$OUT/gguf_tok.blm" 3 1 3
head -c 200 "$OUT/in.gguf" >"$OUT/cut.gguf"
"$C" "$OUT/cut.gguf" "$OUT/x.blm" >/dev/null 2>"$OUT/cutg.txt"
check "a truncated GGUF is refused" [ $? -eq 1 ]
check "... naming the file and the reason" grep -q "cut.gguf: not a valid GGUF file: corrupt or truncated" "$OUT/cutg.txt"

# GGUF output (rows of whole 256-weight blocks), read back by the library's GGUF reader
for fmt in 2bit base3; do
    "$C" "$FX/g.safetensors" "$OUT/g_$fmt.gguf" --format $fmt --method absmean --scaling tensor --exclude "tok*" >"$OUT/g_$fmt.txt" 2>&1
    check "GGUF output written ($fmt)" [ $? -eq 0 ]
    "$C" "$FX/g.safetensors" "$OUT/g_$fmt.blm" --format $fmt --method absmean --scaling tensor --exclude "tok*" >/dev/null 2>&1
    check "GGUF output ($fmt): read back, the layers' values (fp16 scales), the float tensors" \
        "$K" gguf-out "$OUT/g_$fmt.gguf" "$OUT/g_$fmt.blm"
done
check "GGUF output: 2bit layers as TQ2_0" "$K" gguf-type "$OUT/g_2bit.gguf" blk.0.w.weight TQ2_0
check "GGUF output: base3 layers as TQ1_0" "$K" gguf-type "$OUT/g_base3.gguf" blk.0.w.weight TQ1_0
"$C" "$OUT/g_2bit.gguf" "$OUT/g_back.blm" >"$OUT/g_back.txt" 2>&1
check "GGUF output converts back to .blm, exactly" grep -qE '^blk\.0\.w\.weight +8 x 512 +TQ2_0 +exact ' "$OUT/g_back.txt"
"$C" "$FX/g.safetensors" "$OUT/x.gguf" --k 2 --exclude "tok*" >/dev/null 2>"$OUT/k2.txt"
check "GGUF output refuses --k 2" [ $? -eq 1 ]
check "... saying why" grep -q "x.gguf: GGUF holds one ternary component" "$OUT/k2.txt"

# a .blm as input: copied as stored (layers chosen by the patterns), or out to GGUF
"$C" "$OUT/gguf.blm" "$OUT/copy.blm" --exclude 'blk.0.ffn*' >"$OUT/copy.txt" 2>&1
check ".blm input converts" [ $? -eq 0 ]
check ".blm input: layers as stored, one excluded" grep -qE '^blk\.0\.ffn_up\.weight +blm +excluded' "$OUT/copy.txt"
check ".blm input: 1 layer, the tensors and keys along" "$K" count "$OUT/copy.blm" 1 2 3
check ".blm input: the layer's values unchanged" "$K" gguf "$OUT/in.gguf" "$OUT/copy.blm" blk.0.attn_q.weight exact
cp "$OUT/gguf.blm" "$OUT/v9.blm"
printf '\011' | dd of="$OUT/v9.blm" bs=1 seek=8 conv=notrunc 2>/dev/null
"$C" "$OUT/v9.blm" "$OUT/x.blm" >/dev/null 2>"$OUT/v9.txt"
check "a newer container version is refused" [ $? -eq 1 ]
check "... naming the versions found and supported" grep -q "v9.blm: file version 9 (packed format 1), this build reads up to version 2" "$OUT/v9.txt"
"$C" "$OUT/g_2bit.blm" "$OUT/g_again.gguf" >/dev/null 2>&1
check ".blm to GGUF" "$K" gguf-out "$OUT/g_again.gguf" "$OUT/g_2bit.blm"

# the tiny example: its model, made by convert, embedded and viewed in place
check "tiny header" python3 tools/tiny_model.py header "$OUT/one.blm" "$OUT/tiny_model.h"
mkdir -p "$OUT/inc/build" && cp "$OUT/tiny_model.h" "$OUT/inc/build/tiny_model.h"
check "tiny builds (-Os, gc-sections, NO_STDIO)" $CC -std=c99 -Os -ffunction-sections -fdata-sections \
    -Wl,--gc-sections -Wall -Wextra -Wpedantic -Werror -I"$OUT/inc" -I. examples/tiny.c -o "$OUT/tiny" -lm
# one.blm has only fc1: tiny must report the missing layer (exit 1), not crash
"$OUT/tiny" >/dev/null 2>&1
check "tiny refuses a model without fc2" [ $? -eq 1 ]
python3 tools/tiny_model.py header "$OUT/all.blm" "$OUT/inc/build/tiny_model.h"
$CC -std=c99 -Os -I"$OUT/inc" -I. examples/tiny.c -o "$OUT/tiny" -lm
"$OUT/tiny" >"$OUT/tiny.txt" 2>&1
check "tiny runs the embedded view" [ $? -eq 0 ]
check "tiny output" grep -qE 'viewed in place; logits:( -?[0-9]+\.[0-9]+){10}; class [0-9]' "$OUT/tiny.txt"
echo "$PASSED passed, $FAILED failed"
