/* Per-tensor weight types of a quantization scheme, as llama.cpp's quantizer
 * chooses them (src/llama-quant.cpp: tensor_allows_quantization,
 * llama_tensor_get_type_impl, tensor_type_fallback), shared by
 * `cseek mkmodel --type` and `cseek quantize`. One list of rules, keyed on
 * llama.cpp's file type (general.file_type, LLAMA_FTYPE_*).
 *
 * Which tensors are quantized at all: 2-D and 3-D tensors whose name ends in
 * "weight", except "*_norm.weight" and the router "ffn_gate_inp.weight";
 * everything else (norms, biases, exp_probs_b, rope_freqs) keeps its type.
 *
 * The rules, for the k-quant mixes and the plain types with rules on:
 *   - output.weight, and token_embd.weight when there is no output.weight
 *     (tied embeddings): Q6_K, Q8_0 when the base type's block does not divide
 *     the row length; Q8_0 files keep Q8_0;
 *   - attn_v-like tensors (attn_v, attn_qkv, MLA's attn_kv_b; not attn_k_b or
 *     attn_v_b), counted in file order: Q6_K for Q4_K_M / Q5_K_M on the ones
 *     use_more_bits() picks (the first and last eighth, every third in between),
 *     Q5_K for the first four in Q4_K_S; Llama-70B-like models (80 layers, GQA)
 *     Q5_K instead of Q4_K; 8-expert models (Mixtral-like) Q8_0;
 *   - attn_k: Q8_0 in 8-expert models;
 *   - ffn_down* (dense, routed and shared experts; the layer from "blk.N."):
 *     Q6_K on use_more_bits() layers for Q4_K_M / Q5_K_M, Q5_K on the first
 *     eighth for Q4_K_S;
 *   - attn_output: Q5_K in 8-expert models for Q4_K_S / Q4_K_M.
 * Then the fallback where the type's block does not divide the row length:
 * Q4_K->Q5_0, Q5_K->Q5_1, Q6_K->Q8_0, then F16 (llama.cpp throws for the
 * 32-element types; F16 is the safe choice there). */
#ifndef CS_MODEL_QUANT_MIX_H
#define CS_MODEL_QUANT_MIX_H

#include <stdbool.h>
#include <stdint.h>

#include "../formats/types.h"

typedef struct {
    int n_layer;     /* blocks in the file, MTP (nextn) blocks included: llama.cpp's n_layer_all */
    int n_expert;    /* routed experts; 0 or 1 for dense models */
    bool has_output; /* the file has output.weight (false: token_embd is also the output head) */
    int n_attn_v;    /* attn_v-like tensors in the file (llama.cpp's n_attention_wv); 0: n_layer */
    bool is_70b;     /* llama.cpp's LLM_TYPE_70B: arch llama, 80 layers, fewer KV heads than heads */
} cs_mix_model;

/* llama.cpp's file types (general.file_type) for the schemes we write. */
enum {
    CS_FTYPE_ALL_F32 = 0,
    CS_FTYPE_F16 = 1,
    CS_FTYPE_Q4_0 = 2,
    CS_FTYPE_Q8_0 = 7,
    CS_FTYPE_Q5_0 = 8,
    CS_FTYPE_Q5_1 = 9,
    CS_FTYPE_Q4_K_S = 14,
    CS_FTYPE_Q4_K_M = 15,
    CS_FTYPE_Q5_K_S = 16,
    CS_FTYPE_Q5_K_M = 17,
    CS_FTYPE_Q6_K = 18,
    CS_FTYPE_BF16 = 32,
};

/* A named scheme: the type most matrices get, the file type, and whether the
 * per-tensor rules apply (false: every quantizable tensor gets base, as
 * llama-quantize --pure does). */
typedef struct {
    const char *name;
    cs_type base;
    int ftype;
    bool rules;
    const char *help; /* one line for --help */
} cs_quant_scheme;

/* ---- mkmodel's names ----------------------------------------------------------
 * A plain type ("f32" "f16" "bf16" "q8_0" "q4_0" "q5_0" "q5_1" "q4_k" "q5_k"
 * "q6_k") applied to every quantizable tensor (a pure file, for benchmarking
 * one kernel), or a llama.cpp mix ("q4_k_m" "q5_k_m") with the rules. */

/* Known mix? On success *base is the type most matrices get and, if non-NULL,
 * *ftype the llama.cpp file type (general.file_type) the mix corresponds to. */
bool cs_mix_parse(const char *mix, cs_type *base, int *ftype);

/* The names cs_mix_parse() accepts, NULL-terminated. */
const char *const *cs_mix_names(void);

/* The type for a tensor whose shape is ne[0..n_dims-1] (ne[0] = row length);
 * F32 for tensors that are not quantized. Returns (cs_type)-1 for an unknown mix. */
cs_type cs_mix_tensor_type(const char *mix, const char *tensor_name, int n_dims, const int64_t *ne,
                           const cs_mix_model *m);

/* ---- quantize's names: llama-quantize's ------------------------------------
 * q4_0 q5_0 q5_1 q8_0 q4_k_s q4_k_m q5_k_s q5_k_m q6_k f16 bf16 f32, with
 * q4_k and q5_k aliases of q4_k_m and q5_k_m as in llama-quantize. Rules on
 * for all (the plain types too: their output.weight gets Q6_K). */
const cs_quant_scheme *cs_quant_scheme_find(const char *name);
/* All of them, in --help order; *n receives the count. */
const cs_quant_scheme *cs_quant_schemes(int *n);

/* ---- the rules ------------------------------------------------------------ */

/* Does llama.cpp's quantizer touch this tensor at all (else it keeps its type)? */
bool cs_mix_quantizable(const char *tensor_name, int n_dims);

/* The type scheme s gives a quantizable tensor (call cs_mix_quantizable first).
 * Float schemes (f32 f16 bf16) give their type unchanged. *fell_back (may be
 * NULL) tells whether the row length forced a fallback type. */
cs_type cs_quant_tensor_type(const cs_quant_scheme *s, const char *tensor_name, const int64_t *ne,
                             const cs_mix_model *m, bool *fell_back);

/* Is this tensor attn_v-like (attn_v, attn_qkv, attn_kv_b), the tensors
 * llama.cpp counts in n_attention_wv? */
bool cs_mix_is_attn_v(const char *tensor_name);

/* llama.cpp's fallback for a type whose block size does not divide row_len
 * (returns t itself when it does). */
cs_type cs_mix_fallback(cs_type t, int64_t row_len);

#endif
