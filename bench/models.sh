#!/bin/sh
# The realistic synthetic models of the speed issue's table, written with
# `cseek mkmodel` into bench/models/ (skipped when already there).
#   sh bench/models.sh [CSEEK]
set -e
CSEEK=${1:-build/cseek}
DIR=${BENCH_MODELS:-bench/models}
mkdir -p "$DIR"
make_model() { # FILE ARGS...
    f="$DIR/$1"; shift
    [ -f "$f" ] && return 0
    echo "writing $f"
    "$CSEEK" mkmodel "$@" -o "$f"
}
# Qwen2.5-1.5B shape (R1-Distill-Qwen-1.5B), Q8_0 (~1.6 GB) and Q4_K_M
make_model qwen2-1.5b-q8_0.gguf --preset qwen2-1.5b --type q8_0
make_model qwen2-1.5b-q4_k_m.gguf --preset qwen2-1.5b --type q4_k_m
# deepseek2: V3 attention (q LoRA 1536) + V2-Lite experts, 6 layers (1 dense),
# 64 routed experts (6 used, 8 groups / 4 used), 2 shared, Q8_0 (~3.6 GB)
make_model ds2-v3attn-6l-q8_0.gguf --preset v2-lite --type q8_0 --set n_layer=6 --set q_lora_rank=1536 \
    --set n_group=8 --set n_group_used=4
