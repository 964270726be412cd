/* model: hyper-parameters from GGUF metadata, weight binding, and the
 * per-architecture forward passes (llama.c for llama + qwen2, deepseek2.c for
 * MLA + MoE). Weights stay in the mapped file; a cs_tensor is a view. */
#ifndef CS_MODEL_H
#define CS_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "cseek.h"
#include "../formats/gguf.h"
#include "../formats/types.h"

typedef struct {
    const char *name;  /* NULL: tensor absent */
    cs_type type;
    int64_t ne[4];     /* ne[0] = row length */
    const void *data;
    uint64_t nbytes;
} cs_tensor;

typedef enum { CS_ARCH_LLAMA, CS_ARCH_QWEN2, CS_ARCH_DEEPSEEK2 } cs_arch;

typedef enum { CS_ROPE_SCALING_NONE, CS_ROPE_SCALING_LINEAR, CS_ROPE_SCALING_YARN } cs_rope_scaling;

typedef struct {
    int n_vocab;
    int n_embd;      /* dim */
    int n_layer;     /* blocks in the forward pass (MTP blocks excluded) */
    int n_layer_file;/* blocks in the file (includes nextn_predict_layers) */
    int n_head;
    int n_head_kv;
    int head_dim;    /* key head size (llama/qwen2) */
    int n_ff;
    int n_ctx_train;
    float rms_eps;
    float rope_theta;
    int n_rot;       /* rotary dims per head */
    cs_rope_scaling rope_scaling;
    float rope_factor;
    int rope_orig_ctx;
    float yarn_log_mul;
    float yarn_beta_fast, yarn_beta_slow;

    /* deepseek2 */
    int q_lora_rank;   /* 0: plain attn_q */
    int kv_lora_rank;
    int qk_nope, qk_rope, v_head;
    int n_expert, n_expert_used, n_expert_shared, n_ff_exp;
    int n_dense_lead;  /* leading_dense_block_count */
    int n_group, n_group_used;
    bool group_defaulted; /* V3/R1 without group keys: 8/4 assumed */
    float expert_weights_scale;
    bool expert_weights_norm;
    int gating_func;   /* 1 softmax, 2 sigmoid */
    int nextn;         /* nextn_predict_layers (MTP) */
    int mla_layout;    /* 'a', 'b' or 'c' */
} cs_hparams;

typedef struct {
    cs_tensor attn_norm;
    cs_tensor wq, wk, wv, wo;     /* wq: (n_head*head_dim, dim) ... */
    cs_tensor bq, bk, bv;         /* qwen2 biases */
    cs_tensor ffn_norm;
    cs_tensor ffn_gate, ffn_up;   /* (n_ff, dim) */
    cs_tensor ffn_down;           /* (dim, n_ff) */

    /* deepseek2 MLA */
    cs_tensor wq_a;      /* (q_lora, dim) */
    cs_tensor q_a_norm;  /* (q_lora) */
    cs_tensor wq_b;      /* (n_head*(nope+rope), q_lora) */
    cs_tensor wkv_a;     /* attn_kv_a_mqa: (kv_lora+rope, dim) */
    cs_tensor kv_a_norm; /* (kv_lora) */
    cs_tensor wkv_b;     /* (n_head*(nope+v), kv_lora), layouts a, b */
    cs_tensor wk_b;      /* (n_head*kv_lora, nope): per head W_UK^T, layouts b, c */
    cs_tensor wv_b;      /* (n_head*v, kv_lora): per head W_UV, layouts b, c */
    /* deepseek2 MoE */
    cs_tensor ffn_gate_inp;  /* router (n_expert, dim), F32 */
    cs_tensor exp_probs_b;   /* score-correction bias (n_expert) */
    cs_tensor ffn_gate_exps, ffn_up_exps; /* (n_expert, n_ff_exp, dim) */
    cs_tensor ffn_down_exps;              /* (n_expert, dim, n_ff_exp) */
    cs_tensor ffn_gate_shexp, ffn_up_shexp; /* (n_ff_exp*n_shared, dim) */
    cs_tensor ffn_down_shexp;               /* (dim, n_ff_exp*n_shared) */
    bool is_moe;
} cs_layer;

typedef struct cs_arch_ops cs_arch_ops;

struct cs_model {
    gguf_file *file;
    char *path;
    cs_arch arch;
    const char *arch_name;
    cs_hparams hp;
    cs_tensor tok_embd;    /* (n_vocab, dim) */
    cs_tensor output_norm; /* (dim) */
    cs_tensor output;      /* (n_vocab, dim); = tok_embd when tied */
    bool tied_output;
    cs_tensor rope_freqs;  /* llama3 frequency factors (n_rot/2), optional */
    cs_layer *layers;      /* n_layer */
    float *rope_freq;      /* n_rot/2 angular frequencies, scaling applied */
    float attn_scale;      /* softmax scale */
    const cs_arch_ops *ops;
};

struct cs_context {
    cs_model *m;
    int n_ctx;
    int n_past;
    int n_threads;
    int n_batch;
    cs_cache_type cache_type;
    int32_t *tokens; /* (n_ctx) the tokens whose keys and values are cached */
    cs_context **bctx; /* (n_batch) cs_eval's batch: this context, n_batch times */
    int *bpos;         /* (n_batch) cs_eval's batch positions */
    void *state; /* the architecture's cache and scratch */
};

/* One forward pass over n tokens that may belong to different contexts of one
 * model: token i is appended at position pos[i] of ctx[i] (its KV cache, its
 * causal window 0..pos[i]). cs_eval is the case ctx[i] = c, pos[i] =
 * c->n_past + i; cs_eval_multi one token per distinct context. Activations
 * and scratch are ctx[0]'s (n <= ctx[0]->n_batch) and the OpenMP team is
 * ctx[0]->n_threads. */
typedef struct {
    int n;
    const int32_t *tokens;    /* (n) */
    cs_context *const *ctx;   /* (n) each token's context */
    const int *pos;           /* (n) each token's position in its context */
    int first_out;            /* logits rows for tokens first_out..n-1 */
} cs_batch;

struct cs_arch_ops {
    /* read hyper-parameters and bind + validate tensors */
    int (*load)(cs_model *m);
    cs_cache_type default_cache;
    size_t (*cache_bytes_per_token)(const cs_model *m, cs_cache_type t);
    int (*ctx_init)(cs_context *c);
    void (*ctx_free)(cs_context *c);
    /* Write b's tokens into their caches and, when logits is not NULL, give
     * n - first_out rows of n_vocab. Does not touch n_past; -1 with an error
     * (caches beyond each n_past may then hold garbage, nothing else). */
    int (*forward)(const cs_batch *b, float *logits);
    /* extra lines for cs_model_print_info */
    void (*print_info)(const cs_model *m, FILE *out);
};

extern const cs_arch_ops cs_llama_ops;
extern const cs_arch_ops cs_deepseek2_ops;

/* ---- helpers for the architecture files (model.c) ---- */
/* Bind tensor `name` (printf-style) with the expected shape; ne entries < 0
 * mean "any". Missing: if required, error; else t->name = NULL and returns 0.
 * Wrong shape or type: error. Returns 0 or -1. */
int cs_bind(cs_model *m, cs_tensor *t, bool required, int64_t ne0, int64_t ne1, int64_t ne2, const char *fmt, ...)
    __attribute__((format(printf, 7, 8)));
/* Metadata "<arch>.<key>" as u32/f32; missing: default if !required else error. */
int cs_hp_u32(const cs_model *m, const char *key, bool required, uint32_t def, int *out);
int cs_hp_f32(const cs_model *m, const char *key, bool required, float def, float *out);
bool cs_hp_bool(const cs_model *m, const char *key, bool def);
/* tensor row r's bytes */
static inline const void *cs_tensor_row(const cs_tensor *t, int64_t r) {
    return (const char *)t->data + (size_t)r * cs_row_size(t->type, t->ne[0]);
}

/* Norm and bias vectors are read as floats directly: error unless F32 (absent is fine). */
int cs_require_f32(const cs_tensor *t);

const gguf_file *cs_model_gguf(const cs_model *m);
/* Build a model over an open file (takes ownership of f, also on failure). */
cs_model *cs_model_from_gguf(gguf_file *f, const char *path);

#endif
