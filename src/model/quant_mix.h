/* Per-tensor weight types of a quantization "mix", as llama.cpp's quantizer
 * chooses them (llama-quantize's llama_tensor_get_type), shared by
 * `cseek mkmodel --type` and `cseek quantize`.
 *
 * A mix name is either a plain type applied to every quantizable tensor
 * ("f32" "f16" "bf16" "q8_0" "q4_0" "q5_0" "q5_1" "q4_k" "q5_k" "q6_k") or a
 * llama.cpp mix ("q4_k_m" "q5_k_m") whose rules give some tensors more bits:
 *   - output.weight, and token_embd.weight when there is no output.weight
 *     (tied embeddings): Q6_K (Q8_0 when its row length is not a multiple of 256);
 *   - attn_v / attn_qkv / attn_kv_b and ffn_down* (dense, routed and shared
 *     experts): Q6_K on the layers use_more_bits() picks (the first and last
 *     eighth of the blocks, and every third one in between);
 *   - attn_qkv: Q5_K (q4_k_m) / Q6_K (q5_k_m);
 *   - 8-expert models (Mixtral-like): attn_v and attn_k Q8_0, attn_output Q5_K (q4_k_m).
 * Whatever the mix: tensors with fewer than 2 dimensions (norms, biases,
 * exp_probs_b, rope_freqs), names not ending in "weight", "*_norm.weight" and
 * the router ffn_gate_inp.weight stay F32; a k-quant whose block does not
 * divide the row length falls back as llama.cpp does (q4_K->q5_0,
 * q5_K->q5_1, q6_K->q8_0, then F16). */
#ifndef CS_MODEL_QUANT_MIX_H
#define CS_MODEL_QUANT_MIX_H

#include <stdbool.h>
#include <stdint.h>

#include "../formats/types.h"

typedef struct {
    int n_layer;     /* blocks in the file, MTP (nextn) blocks included: llama.cpp's n_layer_all */
    int n_expert;    /* routed experts; 0 or 1 for dense models */
    bool has_output; /* the file has output.weight (false: token_embd is also the output head) */
} cs_mix_model;

/* Known mix? On success *base is the type most matrices get and, if non-NULL,
 * *ftype the llama.cpp file type (general.file_type) the mix corresponds to. */
bool cs_mix_parse(const char *mix, cs_type *base, int *ftype);

/* The names cs_mix_parse() accepts, NULL-terminated. */
const char *const *cs_mix_names(void);

/* Does llama.cpp's quantizer touch this tensor at all (else it keeps F32)? */
bool cs_mix_quantizable(const char *tensor_name, int n_dims);

/* The type for a tensor whose shape is ne[0..n_dims-1] (ne[0] = row length).
 * The layer comes from the name ("blk.N."). Returns (cs_type)-1 for an unknown mix. */
cs_type cs_mix_tensor_type(const char *mix, const char *tensor_name, int n_dims, const int64_t *ne,
                           const cs_mix_model *m);

/* llama.cpp's fallback for a type whose block size does not divide row_len
 * (returns t itself when it does). */
cs_type cs_mix_fallback(cs_type t, int64_t row_len);

#endif
