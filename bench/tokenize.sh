#!/bin/sh
# Tokenizer speed: ~1 MB of mixed text (English, code, Russian, Chinese,
# Khmer, emoji, digit runs, whitespace runs: the llama.cpp tokenizer test
# inputs plus a C source file, repeated) through `cseek tokenize --bench`,
# once per vocabulary in ../shared/vocab.
#   sh bench/tokenize.sh [CSEEK] [MB]
set -e
CSEEK=${1:-build/cseek}
MB=${2:-1}
SHARED=${CSEEK_SHARED:-../shared}
tmp=$(mktemp)
trap 'rm -f "$tmp"' EXIT
target=$((MB * 1000000))
while [ "$(wc -c <"$tmp")" -lt "$target" ]; do
    cat "$SHARED"/vocab/*.inp src/text/tokenizer.c >>"$tmp"
done
head -c "$target" "$tmp" >"$tmp.cut" && mv "$tmp.cut" "$tmp"
for v in "$SHARED"/vocab/ggml-vocab-*.gguf; do
    printf '%s: ' "$(basename "$v")"
    "$CSEEK" tokenize -m "$v" --no-bos --bench 5 <"$tmp"
done
