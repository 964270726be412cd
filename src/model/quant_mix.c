/* Per-tensor types of a quantization scheme: llama.cpp's rules (see quant_mix.h). */
#include "quant_mix.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* mkmodel: plain names are pure (one type everywhere, useful to benchmark one
 * kernel); they map to the closest llama.cpp file type ("_S" for k-quants). */
static const cs_quant_scheme mixes[] = {
    {"f32", CS_TYPE_F32, CS_FTYPE_ALL_F32, false, NULL},  {"f16", CS_TYPE_F16, CS_FTYPE_F16, false, NULL},
    {"bf16", CS_TYPE_BF16, CS_FTYPE_BF16, false, NULL},   {"q8_0", CS_TYPE_Q8_0, CS_FTYPE_Q8_0, false, NULL},
    {"q4_0", CS_TYPE_Q4_0, CS_FTYPE_Q4_0, false, NULL},   {"q5_0", CS_TYPE_Q5_0, CS_FTYPE_Q5_0, false, NULL},
    {"q5_1", CS_TYPE_Q5_1, CS_FTYPE_Q5_1, false, NULL},   {"q4_k", CS_TYPE_Q4_K, CS_FTYPE_Q4_K_S, false, NULL},
    {"q5_k", CS_TYPE_Q5_K, CS_FTYPE_Q5_K_S, false, NULL}, {"q6_k", CS_TYPE_Q6_K, CS_FTYPE_Q6_K, false, NULL},
    {"q4_k_m", CS_TYPE_Q4_K, CS_FTYPE_Q4_K_M, true, NULL}, {"q5_k_m", CS_TYPE_Q5_K, CS_FTYPE_Q5_K_M, true, NULL},
};

static const char *const mix_names[] = {"f32",  "f16",  "bf16", "q8_0", "q4_0",   "q5_0",   "q5_1",
                                        "q4_k", "q5_k", "q6_k", "q4_k_m", "q5_k_m", NULL};

/* quantize: llama-quantize's names and meanings (its Q4_K and Q5_K are the _M mixes). */
static const cs_quant_scheme schemes[] = {
    {"q4_0", CS_TYPE_Q4_0, CS_FTYPE_Q4_0, true, "4.5 bpw, 32-element blocks, one scale; output Q6_K"},
    {"q5_0", CS_TYPE_Q5_0, CS_FTYPE_Q5_0, true, "5.5 bpw, 32-element blocks, one scale; output Q6_K"},
    {"q5_1", CS_TYPE_Q5_1, CS_FTYPE_Q5_1, true, "6.0 bpw, 32-element blocks, scale and min; output Q6_K"},
    {"q8_0", CS_TYPE_Q8_0, CS_FTYPE_Q8_0, true, "8.5 bpw, nearly lossless"},
    {"q4_k_s", CS_TYPE_Q4_K, CS_FTYPE_Q4_K_S, true, "Q4_K; first attn_v and ffn_down Q5_K, output Q6_K"},
    {"q4_k_m", CS_TYPE_Q4_K, CS_FTYPE_Q4_K_M, true, "Q4_K; half the attn_v and ffn_down Q6_K, output Q6_K"},
    {"q4_k", CS_TYPE_Q4_K, CS_FTYPE_Q4_K_M, true, "alias of q4_k_m"},
    {"q5_k_s", CS_TYPE_Q5_K, CS_FTYPE_Q5_K_S, true, "Q5_K; output Q6_K"},
    {"q5_k_m", CS_TYPE_Q5_K, CS_FTYPE_Q5_K_M, true, "Q5_K; half the attn_v and ffn_down Q6_K, output Q6_K"},
    {"q5_k", CS_TYPE_Q5_K, CS_FTYPE_Q5_K_M, true, "alias of q5_k_m"},
    {"q6_k", CS_TYPE_Q6_K, CS_FTYPE_Q6_K, true, "6.56 bpw k-quant"},
    {"f16", CS_TYPE_F16, CS_FTYPE_F16, true, "IEEE half"},
    {"bf16", CS_TYPE_BF16, CS_FTYPE_BF16, true, "bfloat16"},
    {"f32", CS_TYPE_F32, CS_FTYPE_ALL_F32, true, "single precision"},
};

const char *const *cs_mix_names(void) { return mix_names; }

static const cs_quant_scheme *find_in(const cs_quant_scheme *tab, size_t n, const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(tab[i].name, name) == 0) return &tab[i];
    return NULL;
}

static const cs_quant_scheme *find_mix(const char *mix) { return find_in(mixes, sizeof mixes / sizeof mixes[0], mix); }

const cs_quant_scheme *cs_quant_scheme_find(const char *name) {
    return find_in(schemes, sizeof schemes / sizeof schemes[0], name);
}

const cs_quant_scheme *cs_quant_schemes(int *n) {
    if (n) *n = (int)(sizeof schemes / sizeof schemes[0]);
    return schemes;
}

bool cs_mix_parse(const char *mix, cs_type *base, int *ftype) {
    const cs_quant_scheme *d = find_mix(mix);
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

typedef enum {
    CAT_TOKEN_EMBD,
    CAT_OUTPUT,
    CAT_ATTN_QKV,
    CAT_ATTN_KV_B,
    CAT_ATTN_V,
    CAT_ATTN_K,
    CAT_ATTN_Q,
    CAT_ATTN_OUT,
    CAT_FFN_UP,
    CAT_FFN_GATE,
    CAT_FFN_DOWN,
    CAT_OTHER
} category;

/* llama.cpp's tensor_get_category, in the same order of tests (order matters:
 * "ffn_gate_exps" is FFN_GATE, "attn_kv_b" is not "attn_v"). */
static category tensor_category(const char *name) {
    if (!strcmp(name, "output.weight")) return CAT_OUTPUT;
    if (!strcmp(name, "token_embd.weight") || !strcmp(name, "per_layer_token_embd.weight")) return CAT_TOKEN_EMBD;
    if (strstr(name, "attn_qkv.weight")) return CAT_ATTN_QKV;
    if (strstr(name, "attn_kv_b.weight")) return CAT_ATTN_KV_B;
    if (strstr(name, "attn_v.weight")) return CAT_ATTN_V;
    if (strstr(name, "attn_k.weight")) return CAT_ATTN_K;
    if (strstr(name, "attn_q.weight")) return CAT_ATTN_Q;
    if (strstr(name, "attn_output.weight")) return CAT_ATTN_OUT;
    if (strstr(name, "ffn_up")) return CAT_FFN_UP;
    if (strstr(name, "ffn_gate")) return CAT_FFN_GATE;
    if (strstr(name, "ffn_down")) return CAT_FFN_DOWN;
    return CAT_OTHER;
}

static bool is_attn_v_cat(category c) { return c == CAT_ATTN_V || c == CAT_ATTN_QKV || c == CAT_ATTN_KV_B; }

bool cs_mix_is_attn_v(const char *name) { return is_attn_v_cat(tensor_category(name)); }

/* llama_tensor_get_type_impl for the file types we write. */
static cs_type rule_type(int ftype, cs_type base, const char *name, const int64_t *ne, const cs_mix_model *m) {
    cs_type t = base;
    int layer = -1;
    if (sscanf(name, "blk.%d.", &layer) != 1) layer = -1;
    int n_layer = m->n_layer > 0 ? m->n_layer : 1;
    category cat = tensor_category(name);
    bool km = ftype == CS_FTYPE_Q4_K_M || ftype == CS_FTYPE_Q5_K_M;
    if (cat == CAT_OUTPUT || (!m->has_output && cat == CAT_TOKEN_EMBD)) {
        if (ne[0] % cs_type_info(base)->blck_size != 0) t = CS_TYPE_Q8_0;
        else if (t != CS_TYPE_Q8_0) t = CS_TYPE_Q6_K;
    } else if (cat == CAT_TOKEN_EMBD) {
        /* only the IQ/TQ file types change it */
    } else if (is_attn_v_cat(cat)) {
        /* llama.cpp counts these tensors in its (layer-sorted) file order;
         * with one per block the count is the block index. */
        int n = m->n_attn_v > 0 ? m->n_attn_v : n_layer;
        int i = layer >= 0 ? layer : 0;
        if (km && use_more_bits(i, n)) t = CS_TYPE_Q6_K;
        else if (ftype == CS_FTYPE_Q4_K_S && i < 4) t = CS_TYPE_Q5_K;
        if (m->is_70b && (t == CS_TYPE_Q3_K || t == CS_TYPE_Q4_K)) t = CS_TYPE_Q5_K;
        if (m->n_expert == 8) t = CS_TYPE_Q8_0;
    } else if (cat == CAT_ATTN_K) {
        if (m->n_expert == 8) t = CS_TYPE_Q8_0;
    } else if (cat == CAT_FFN_DOWN) {
        if (layer >= 0) {
            if (km && use_more_bits(layer, n_layer)) t = CS_TYPE_Q6_K;
            else if (ftype == CS_FTYPE_Q4_K_S && layer < n_layer / 8) t = CS_TYPE_Q5_K;
        }
    } else if (cat == CAT_ATTN_OUT) {
        if (m->n_expert == 8 && (ftype == CS_FTYPE_Q4_K_S || ftype == CS_FTYPE_Q4_K_M)) t = CS_TYPE_Q5_K;
    }
    /* attn_q, ffn_up, ffn_gate: only the IQ / Q2-Q3 file types change them */
    return t;
}

static bool is_float(cs_type t) { return t == CS_TYPE_F32 || t == CS_TYPE_F16 || t == CS_TYPE_BF16; }

cs_type cs_quant_tensor_type(const cs_quant_scheme *s, const char *name, const int64_t *ne, const cs_mix_model *m,
                             bool *fell_back) {
    if (fell_back) *fell_back = false;
    if (is_float(s->base)) return s->base; /* llama.cpp applies rules and fallbacks to quantized types only */
    cs_type t = s->rules ? rule_type(s->ftype, s->base, name, ne, m) : s->base;
    cs_type f = cs_mix_fallback(t, ne[0]);
    if (fell_back) *fell_back = f != t;
    return f;
}

cs_type cs_mix_tensor_type(const char *mix, const char *name, int n_dims, const int64_t *ne, const cs_mix_model *m) {
    const cs_quant_scheme *d = find_mix(mix);
    if (!d) return (cs_type)-1;
    if (!cs_mix_quantizable(name, n_dims)) return CS_TYPE_F32;
    return cs_quant_tensor_type(d, name, ne, m, NULL);
}
