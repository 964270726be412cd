#!/bin/sh
# The speed issue's table: pp512 and tg128 on the realistic synthetic models
# with 2 threads, 3 runs each. The memory bandwidth is measured again right
# before each model (--membw): on a shared machine it moves from minute to
# minute, and the roofline fraction is only meaningful against a fresh one.
#   sh bench/run.sh [CSEEK] [extra bench options]
set -e
CSEEK=${1:-build/cseek}
[ $# -gt 0 ] && shift
DIR=${BENCH_MODELS:-bench/models}
sh bench/models.sh "$CSEEK"
for m in qwen2-1.5b-q8_0 qwen2-1.5b-q4_k_m ds2-v3attn-6l-q8_0; do
    "$CSEEK" bench -m "$DIR/$m.gguf" -t 2 -p 512 -n 128 -r 3 --membw "$@"
done
