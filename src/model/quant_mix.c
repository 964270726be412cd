/* Per-tensor types of a quantization mix: llama.cpp's rules (see quant_mix.h). */
#include "quant_mix.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

typedef struct {
    const char *name;
    cs_type base;
    int ftype;  /* llama.cpp's llama_ftype */
    bool mix;   /* apply the per-tensor rules (else: one type for everything) */
} mix_def;

/* Plain k-quant types map to the "_S" file types, the closest llama.cpp has. */
static const mix_def mixes[] = {
    {"f32", CS_TYPE_F32, 0, false},     {"f16", CS_TYPE_F16, 1, false},
    {"bf16", CS_TYPE_BF16, 32, false},  {"q8_0", CS_TYPE_Q8_0, 7, false},
    {"q4_0", CS_TYPE_Q4_0, 2, false},   {"q5_0", CS_TYPE_Q5_0, 8, false},
    {"q5_1", CS_TYPE_Q5_1, 9, false},   {"q4_k", CS_TYPE_Q4_K, 14, false},
    {"q5_k", CS_TYPE_Q5_K, 16, false},  {"q6_k", CS_TYPE_Q6_K, 18, false},
    {"q4_k_m", CS_TYPE_Q4_K, 15, true}, {"q5_k_m", CS_TYPE_Q5_K, 17, true},
};

static const char *const mix_names[] = {"f32",  "f16",  "bf16", "q8_0", "q4_0",   "q5_0",   "q5_1",
                                        "q4_k", "q5_k", "q6_k", "q4_k_m", "q5_k_m", NULL};

const char *const *cs_mix_names(void) { return mix_names; }

static const mix_def *find_mix(const char *mix) {
    if (!mix) return NULL;
    for (size_t i = 0; i < sizeof mixes / sizeof mixes[0]; i++)
        if (strcasecmp(mixes[i].name, mix) == 0) return &mixes[i];
    return NULL;
}

bool cs_mix_parse(const char *mix, cs_type *base, int *ftype) {
    const mix_def *d = find_mix(mix);
    if (!d) return false;
    if (base) *base = d->base;
    if (ftype) *ftype = d->ftype;
    return true;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

bool cs_mix_quantizable(const char *name, int n_dims) {
    if (n_dims < 2) return false;
    if (!ends_with(name, "weight")) return false;
    if (strstr(name, "_norm.weight")) return false;
    if (strstr(name, "ffn_gate_inp.weight")) return false;
    return true;
}

cs_type cs_mix_fallback(cs_type t, int64_t row_len) {
    const cs_type_traits *tr = cs_type_info(t);
    if (!tr || row_len % tr->blck_size == 0) return t;
    cs_type f;
    switch (t) {
    case CS_TYPE_Q4_K: f = CS_TYPE_Q5_0; break;
    case CS_TYPE_Q5_K: f = CS_TYPE_Q5_1; break;
    case CS_TYPE_Q6_K: f = CS_TYPE_Q8_0; break;
    default: f = CS_TYPE_F16; break; /* llama.cpp has no fallback for these: F16 is the safe choice */
    }
    if (row_len % cs_type_info(f)->blck_size != 0) f = CS_TYPE_F16;
    return f;
}

/* llama.cpp: more bits for the first and last eighth of the layers and every
 * third layer in between. */
static bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

typedef enum { CAT_TOKEN_EMBD, CAT_OUTPUT, CAT_ATTN_V, CAT_ATTN_K, CAT_ATTN_QKV, CAT_ATTN_OUT, CAT_FFN_DOWN, CAT_OTHER } category;

/* llama.cpp's tensor_get_category, in the same order of tests. */
static category tensor_category(const char *name) {
    if (!strcmp(name, "output.weight")) return CAT_OUTPUT;
    if (!strcmp(name, "token_embd.weight")) return CAT_TOKEN_EMBD;
    if (strstr(name, "attn_qkv.weight")) return CAT_ATTN_QKV;
    if (strstr(name, "attn_kv_b.weight")) return CAT_ATTN_V; /* MLA's kv_b counts as attn_v */
    if (strstr(name, "attn_v.weight")) return CAT_ATTN_V;
    if (strstr(name, "attn_k.weight")) return CAT_ATTN_K;
    if (strstr(name, "attn_q.weight")) return CAT_OTHER;
    if (strstr(name, "attn_output.weight")) return CAT_ATTN_OUT;
    if (strstr(name, "ffn_up") || strstr(name, "ffn_gate")) return CAT_OTHER;
    if (strstr(name, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}

cs_type cs_mix_tensor_type(const char *mix, const char *name, int n_dims, const int64_t *ne, const cs_mix_model *m) {
    const mix_def *d = find_mix(mix);
    if (!d) return (cs_type)-1;
    if (!cs_mix_quantizable(name, n_dims) || d->base == CS_TYPE_F32) return CS_TYPE_F32;
    cs_type t = d->base;
    if (d->mix) {
        int layer = -1;
        if (sscanf(name, "blk.%d.", &layer) != 1) layer = -1;
        int n_layer = m->n_layer > 0 ? m->n_layer : 1;
        bool q4 = d->ftype == 15; /* q4_k_m, else q5_k_m */
        category cat = tensor_category(name);
        if (cat == CAT_OUTPUT || (!m->has_output && cat == CAT_TOKEN_EMBD)) {
            t = ne[0] % QK_K != 0 ? CS_TYPE_Q8_0 : CS_TYPE_Q6_K;
        } else if (cat == CAT_ATTN_V) {
            /* llama.cpp counts these tensors in file order; with one per block
             * the count is the block index. */
            if (layer >= 0 && use_more_bits(layer, n_layer)) t = CS_TYPE_Q6_K;
            if (m->n_expert == 8) t = CS_TYPE_Q8_0;
        } else if (cat == CAT_ATTN_K) {
            if (m->n_expert == 8) t = CS_TYPE_Q8_0;
        } else if (cat == CAT_FFN_DOWN) {
            if (layer >= 0 && use_more_bits(layer, n_layer)) t = CS_TYPE_Q6_K;
        } else if (cat == CAT_ATTN_OUT) {
            if (m->n_expert == 8 && q4) t = CS_TYPE_Q5_K;
        } else if (cat == CAT_ATTN_QKV) {
            t = q4 ? CS_TYPE_Q5_K : CS_TYPE_Q6_K;
        }
    }
    return cs_mix_fallback(t, ne[0]);
}
