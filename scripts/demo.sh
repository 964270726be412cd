#!/bin/sh
# make demo: write a small synthetic model with `cseek mkmodel` and run it.
set -e
CSEEK=${1:-build/cseek}
DIR=$(dirname "$CSEEK")/demo
mkdir -p "$DIR"
MODEL="$DIR/tiny-qwen2-q8_0.gguf"
echo "== cseek demo"
echo "   The model below is synthetic: its weights are seeded RANDOM numbers, so what it"
echo "   computes is meaningless; the demo shows the engine loading and running a GGUF file."
echo
echo "\$ cseek mkmodel --preset tiny-qwen2 --type q8_0 --seed 1 -o $MODEL"
"$CSEEK" mkmodel --preset tiny-qwen2 --type q8_0 --seed 1 -o "$MODEL"
echo
echo "\$ cseek info $MODEL"
"$CSEEK" info "$MODEL"
echo
echo "\$ cseek logits -m $MODEL --tokens 1,2,3,4   (first 8 of the last position's logits)"
"$CSEEK" logits -m "$MODEL" --tokens 1,2,3,4 | tr ' ' '\n' | head -n 8 | tr '\n' ' '
echo
