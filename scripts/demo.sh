#!/bin/sh
# make demo: write small synthetic models with `cseek mkmodel` and run them.
set -e
CSEEK=${1:-build/cseek}
DIR=$(dirname "$CSEEK")/demo
mkdir -p "$DIR"
SCRIPTED="$DIR/scripted.gguf"
MODEL="$DIR/tiny-qwen2-q8_0.gguf"
ANSWER='<think>The user asks for 17 times 3. 17 times 3 is 51.</think>17 x 3 = 51.'
echo "== cseek demo"
echo "   No real weights can be downloaded here, so cseek writes its own models. The first"
echo "   is SCRIPTED: its weights make greedy decoding emit a fixed text after any prompt,"
echo "   so you can watch the real engine tokenize, run and split reasoning from answer."
echo
echo "\$ cseek mkmodel --script '$ANSWER' -o $SCRIPTED"
"$CSEEK" mkmodel --script "$ANSWER" -o "$SCRIPTED"
echo
echo "\$ cseek run -m $SCRIPTED -p 'What is 17 x 3?'"
"$CSEEK" run -m "$SCRIPTED" -p 'What is 17 x 3?'
echo
echo "\$ cseek run -m $SCRIPTED -p 'What is 17 x 3?' --json"
"$CSEEK" run -m "$SCRIPTED" -p 'What is 17 x 3?' --json -q
echo
echo "   The second model has the shape of a small qwen2 with seeded RANDOM weights: what"
echo "   it says is meaningless; it shows loading and running a quantized GGUF."
echo
echo "\$ cseek mkmodel --preset tiny-qwen2 --type q8_0 --seed 1 -o $MODEL"
"$CSEEK" mkmodel --preset tiny-qwen2 --type q8_0 --seed 1 -o "$MODEL"
echo
echo "\$ cseek info $MODEL"
"$CSEEK" info "$MODEL"
echo
echo "\$ cseek run -m $MODEL -p 'Hello' -n 24 --raw --temp 0"
"$CSEEK" run -m "$MODEL" -p 'Hello' -n 24 --raw --temp 0
