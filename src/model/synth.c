/* Synthetic models: `cseek mkmodel` writes a GGUF with seeded random weights,
 * the metadata keys and tensor names llama.cpp's converter writes for qwen2,
 * llama and deepseek2, and a byte-level BPE vocabulary (synth_vocab.c).
 *
 * Weights. Every tensor has a seed derived from (--seed, tensor name), and
 * every row of it its own random stream, so the values do not depend on the
 * weight type, the number of threads or the chunking, and rows are generated
 * in parallel. Values are near-Gaussian (sum of four uniforms) with the
 * spreads of the conformance models: matrices N(0, 1/n_in); attn_output and
 * ffn_down additionally scaled by 1/sqrt(2 n_layer) so the residual stream
 * stays O(1) through many layers; norms 1 + N(0, 0.1^2); q/k/v biases 0.3;
 * token_embd 1 (3/sqrt(dim) when it is also the output head); output
 * 3/sqrt(dim); routers 1/sqrt(dim); exp_probs_b 0.05.
 *
 * Writing streams tensor by tensor in chunks of rows, so memory stays small
 * whatever the model size. q8_0 and the k-quants are made by fast quantizers
 * here (valid blocks; min/max scales, no search), the other types by the
 * reference quantizers of formats/types.c.
 *
 * MLA layouts (deepseek2):
 *   a: attn_kv_b {kv_lora, n_head*(nope+v)}
 *   b: attn_kv_b plus attn_k_b {nope, n_head*kv_lora} and attn_v_b {kv_lora, n_head*v}
 *   c: attn_k_b {nope, kv_lora, n_head} and attn_v_b {kv_lora, v, n_head}, no attn_kv_b;
 *      head_count_kv 1, key_length kv_lora+rope, value_length kv_lora,
 *      key_length_mla nope+rope, value_length_mla v.
 * k_b and v_b are cut from the same values as kv_b:
 *   k_b[h][c][d] = kv_b[h*(nope+v) + d][c],  v_b[h][j][c] = kv_b[h*(nope+v) + nope + j][c],
 * so one seed gives the same function in every layout.
 *
 * Scripted models (--script TEXT): a 1-layer llama whose greedy decoding emits
 * TEXT after any prompt. The text is cut into pieces ("<think>", "</think>",
 * then words with their leading whitespace); piece i gets its own "step" token
 * appended after the base vocabulary. attn_output and ffn_down are zero, so
 * the residual stream is the token's embedding: step token i embeds as unit
 * vector e_{i+1}, every other token as e_0. output.weight maps e_0 to step 0,
 * e_{i+1} to step i+1 and e_{n} (after the last piece) to eos. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cseek.h"
#include "../base/base.h"
#include "../formats/gguf.h"
#include "../formats/types.h"
#include "quant_mix.h"
#include "synth.h"

/* ---- hyper-parameters and presets ----------------------------------------- */

enum { A_LLAMA = 1, A_QWEN2 = 2, A_DS2 = 4, A_ALL = 7 };

typedef struct {
    const char *preset;
    int arch;
    const char *name; /* general.name */
    int n_layer, n_embd, n_ff, n_head, n_head_kv, n_vocab, n_ctx;
    double rope_theta, eps;
    int tied, qkv_bias;
    /* llama3 rope scaling (rope_freqs.weight); factor 0 = none */
    double llama3_factor, llama3_low, llama3_high;
    int llama3_orig_ctx;
    /* deepseek2 */
    int n_expert, n_expert_used, n_expert_shared, n_ff_exp, n_group, n_group_used, n_dense_lead;
    int q_lora_rank, kv_lora_rank, qk_nope, qk_rope, v_head;
    double expert_weights_scale;
    int expert_weights_norm, gating_func;
    double yarn_factor; /* 0 = no rope scaling keys */
    int yarn_orig_ctx;
    double yarn_log_mul;
    int nextn;
    const char *pre; /* tokenizer.ggml.pre */
} hparams;

#define DS3_TINY                                                                                                 \
    .arch = A_DS2, .n_layer = 3, .n_embd = 256, .n_ff = 512, .n_head = 4, .n_head_kv = 4, .n_vocab = 512,          \
    .n_ctx = 5120, .rope_theta = 10000, .eps = 1e-6, .n_expert = 16, .n_expert_used = 4, .n_expert_shared = 1,     \
    .n_ff_exp = 64, .n_group = 4, .n_group_used = 2, .n_dense_lead = 1, .q_lora_rank = 96, .kv_lora_rank = 64,    \
    .qk_nope = 32, .qk_rope = 16, .v_head = 32, .expert_weights_scale = 2.5, .expert_weights_norm = 1,            \
    .gating_func = 2, .yarn_factor = 40, .yarn_orig_ctx = 128, .yarn_log_mul = 0.1, .pre = "deepseek-v3"

static const hparams presets[] = {
    {.preset = "tiny-qwen2", .name = "tiny-qwen2", .arch = A_QWEN2, .n_layer = 3, .n_embd = 256, .n_ff = 512,
     .n_head = 4, .n_head_kv = 2, .n_vocab = 512, .n_ctx = 4096, .rope_theta = 10000, .eps = 1e-6, .tied = 1,
     .qkv_bias = 1, .pre = "deepseek-r1-qwen"},
    {.preset = "tiny-llama", .name = "tiny-llama", .arch = A_LLAMA, .n_layer = 3, .n_embd = 256, .n_ff = 512,
     .n_head = 4, .n_head_kv = 2, .n_vocab = 512, .n_ctx = 8192, .rope_theta = 500000, .eps = 1e-5,
     .llama3_factor = 8, .llama3_low = 1, .llama3_high = 4, .llama3_orig_ctx = 256, .pre = "llama-bpe"},
    {.preset = "tiny-v3", .name = "tiny-v3", DS3_TINY},
    {.preset = "tiny-v2-lite", .name = "tiny-v2-lite", .arch = A_DS2, .n_layer = 3, .n_embd = 256, .n_ff = 512,
     .n_head = 4, .n_head_kv = 4, .n_vocab = 512, .n_ctx = 163840, .rope_theta = 10000, .eps = 1e-6,
     .n_expert = 16, .n_expert_used = 6, .n_expert_shared = 2, .n_ff_exp = 64, .n_group = 1, .n_group_used = 1,
     .n_dense_lead = 1, .q_lora_rank = 0, .kv_lora_rank = 64, .qk_nope = 32, .qk_rope = 16, .v_head = 32,
     .expert_weights_scale = 1, .expert_weights_norm = 0, .gating_func = 1, .yarn_factor = 40,
     .yarn_orig_ctx = 4096, .yarn_log_mul = 0.0707, .pre = "deepseek-llm"},
    /* Qwen2.5-1.5B (the shape of DeepSeek-R1-Distill-Qwen-1.5B) */
    {.preset = "qwen2-1.5b", .name = "qwen2-1.5b", .arch = A_QWEN2, .n_layer = 28, .n_embd = 1536, .n_ff = 8960,
     .n_head = 12, .n_head_kv = 2, .n_vocab = 151936, .n_ctx = 32768, .rope_theta = 1e6, .eps = 1e-6, .tied = 1,
     .qkv_bias = 1, .pre = "deepseek-r1-qwen"},
    /* Qwen2.5-7B (R1-Distill-Qwen-7B) */
    {.preset = "qwen2-7b", .name = "qwen2-7b", .arch = A_QWEN2, .n_layer = 28, .n_embd = 3584, .n_ff = 18944,
     .n_head = 28, .n_head_kv = 4, .n_vocab = 152064, .n_ctx = 32768, .rope_theta = 1e6, .eps = 1e-6, .tied = 0,
     .qkv_bias = 1, .pre = "deepseek-r1-qwen"},
    /* Llama-3.1-8B (R1-Distill-Llama-8B) */
    {.preset = "llama-8b", .name = "llama-8b", .arch = A_LLAMA, .n_layer = 32, .n_embd = 4096, .n_ff = 14336,
     .n_head = 32, .n_head_kv = 8, .n_vocab = 128256, .n_ctx = 131072, .rope_theta = 500000, .eps = 1e-5,
     .llama3_factor = 8, .llama3_low = 1, .llama3_high = 4, .llama3_orig_ctx = 8192, .pre = "llama-bpe"},
    /* DeepSeek-V2-Lite */
    {.preset = "v2-lite", .name = "v2-lite", .arch = A_DS2, .n_layer = 27, .n_embd = 2048, .n_ff = 10944,
     .n_head = 16, .n_head_kv = 16, .n_vocab = 102400, .n_ctx = 163840, .rope_theta = 10000, .eps = 1e-6,
     .n_expert = 64, .n_expert_used = 6, .n_expert_shared = 2, .n_ff_exp = 1408, .n_group = 1, .n_group_used = 1,
     .n_dense_lead = 1, .q_lora_rank = 0, .kv_lora_rank = 512, .qk_nope = 128, .qk_rope = 64, .v_head = 128,
     .expert_weights_scale = 1, .expert_weights_norm = 0, .gating_func = 1, .yarn_factor = 40,
     .yarn_orig_ctx = 4096, .yarn_log_mul = 0.0707, .pre = "deepseek-llm"},
    /* DeepSeek-V3 / R1 */
    {.preset = "v3", .name = "v3", .arch = A_DS2, .n_layer = 61, .n_embd = 7168, .n_ff = 18432, .n_head = 128,
     .n_head_kv = 128, .n_vocab = 129280, .n_ctx = 163840, .rope_theta = 10000, .eps = 1e-6, .n_expert = 256,
     .n_expert_used = 8, .n_expert_shared = 1, .n_ff_exp = 2048, .n_group = 8, .n_group_used = 4,
     .n_dense_lead = 3, .q_lora_rank = 1536, .kv_lora_rank = 512, .qk_nope = 128, .qk_rope = 64, .v_head = 128,
     .expert_weights_scale = 2.5, .expert_weights_norm = 1, .gating_func = 2, .yarn_factor = 40,
     .yarn_orig_ctx = 4096, .yarn_log_mul = 0.1, .nextn = 1, .pre = "deepseek-v3"},
};

static const char *const preset_names[] = {"tiny-qwen2", "tiny-llama", "tiny-v3", "tiny-v2-lite", "qwen2-1.5b",
                                           "qwen2-7b",   "llama-8b",   "v2-lite", "v3",           NULL};

const char *const *cs_mkmodel_presets(void) { return preset_names; }

typedef enum { K_INT, K_FLOAT, K_BOOL, K_GATING } key_kind;

typedef struct {
    const char *name;
    key_kind kind;
    size_t off;
    double min, max;
    int archs;
    const char *help;
} key_def;

#define KI(n, lo, hi, a, h) {#n, K_INT, offsetof(hparams, n), lo, hi, a, h}
#define KF(n, lo, hi, a, h) {#n, K_FLOAT, offsetof(hparams, n), lo, hi, a, h}
#define KB(n, a, h) {#n, K_BOOL, offsetof(hparams, n), 0, 1, a, h}

static const key_def keys[] = {
    KI(n_layer, 1, 1024, A_ALL, "transformer blocks (deepseek2: MTP blocks come on top, see nextn)"),
    KI(n_embd, 32, 65536, A_ALL, "model dimension"),
    KI(n_ff, 1, 1 << 20, A_ALL, "FFN hidden size (deepseek2: of the leading dense blocks)"),
    KI(n_head, 1, 4096, A_ALL, "attention heads"),
    KI(n_head_kv, 1, 4096, A_LLAMA | A_QWEN2, "key/value heads (GQA)"),
    KI(n_vocab, CS_SYNTH_MIN_VOCAB, 1 << 22, A_ALL, "vocabulary size"),
    KI(n_ctx, 1, 1 << 24, A_ALL, "trained context length (context_length)"),
    KF(rope_theta, 1, 1e12, A_ALL, "rope frequency base"),
    KF(eps, 1e-12, 1, A_ALL, "RMS norm epsilon"),
    KB(tied, A_LLAMA | A_QWEN2, "1: no output.weight, token_embd is the output head"),
    KB(qkv_bias, A_LLAMA | A_QWEN2, "q/k/v biases (on in the qwen2 presets)"),
    KF(llama3_factor, 0, 1e6, A_LLAMA, "llama3 rope scaling factor (rope_freqs.weight); 0 = none"),
    KF(llama3_low, 0, 1e6, A_LLAMA, "llama3 rope scaling low_freq_factor"),
    KF(llama3_high, 0, 1e6, A_LLAMA, "llama3 rope scaling high_freq_factor"),
    KI(llama3_orig_ctx, 1, 1 << 24, A_LLAMA, "llama3 rope scaling original context"),
    KI(n_expert, 1, 4096, A_DS2, "routed experts"),
    KI(n_expert_used, 1, 4096, A_DS2, "experts used per token"),
    KI(n_expert_shared, 0, 64, A_DS2, "shared experts (0 = none)"),
    KI(n_ff_exp, 1, 1 << 20, A_DS2, "FFN hidden size of each expert"),
    KI(n_group, 1, 4096, A_DS2, "expert groups (1 = no group-limited routing)"),
    KI(n_group_used, 1, 4096, A_DS2, "expert groups kept per token"),
    KI(n_dense_lead, 0, 1024, A_DS2, "leading blocks with a dense FFN"),
    KI(q_lora_rank, 0, 65536, A_DS2, "q LoRA rank (0 = plain attn_q)"),
    KI(kv_lora_rank, 1, 65536, A_DS2, "compressed KV (latent) rank"),
    KI(qk_nope, 1, 4096, A_DS2, "per-head q/k dims without rope"),
    KI(qk_rope, 2, 4096, A_DS2, "per-head q/k rope dims (even)"),
    KI(v_head, 1, 4096, A_DS2, "per-head value dims"),
    KF(expert_weights_scale, 0, 1e6, A_DS2, "routed expert weight scale"),
    KB(expert_weights_norm, A_DS2, "renormalise the chosen experts' weights"),
    {"gating_func", K_GATING, offsetof(hparams, gating_func), 1, 2, A_DS2, "softmax|sigmoid (or 1|2)"},
    KF(yarn_factor, 0, 1e6, A_DS2, "YaRN factor; 0 = no rope scaling"),
    KI(yarn_orig_ctx, 1, 1 << 24, A_DS2, "YaRN original context length"),
    KF(yarn_log_mul, 0, 100, A_DS2, "YaRN log multiplier (0.1 * mscale_all_dim)"),
    KI(nextn, 0, 16, A_DS2, "MTP blocks (nextn_predict_layers) written after the n_layer blocks"),
};

const char *const *cs_mkmodel_keys(void) {
    static char lines[sizeof keys / sizeof keys[0]][160];
    static const char *ptrs[sizeof keys / sizeof keys[0] + 1];
    if (!ptrs[0]) {
        for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++) {
            const char *a = keys[i].archs == A_ALL ? "" : keys[i].archs == A_DS2 ? " [deepseek2]" : keys[i].archs == A_LLAMA ? " [llama]" : " [llama, qwen2]";
            snprintf(lines[i], sizeof lines[i], "%-22s %s%s", keys[i].name, keys[i].help, a);
            ptrs[i] = lines[i];
        }
        ptrs[sizeof keys / sizeof keys[0]] = NULL;
    }
    return ptrs;
}

static const char *arch_name(int arch) { return arch == A_LLAMA ? "llama" : arch == A_QWEN2 ? "qwen2" : "deepseek2"; }

static int apply_set(hparams *hp, const char *kv) {
    const char *eq = strchr(kv, '=');
    if (!eq || eq == kv) {
        cs_set_error("--set '%s': expected key=value", kv);
        return -1;
    }
    size_t klen = (size_t)(eq - kv);
    const char *val = eq + 1;
    const key_def *k = NULL;
    for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
        if (strlen(keys[i].name) == klen && !strncmp(keys[i].name, kv, klen)) k = &keys[i];
    if (!k) {
        cs_set_error("--set: unknown key '%.*s' (cseek mkmodel --help lists them)", (int)klen, kv);
        return -1;
    }
    if (!(k->archs & hp->arch)) {
        cs_set_error("--set: key '%s' does not apply to preset %s (%s)", k->name, hp->preset, arch_name(hp->arch));
        return -1;
    }
    char *end = NULL;
    void *p = (char *)hp + k->off;
    switch (k->kind) {
    case K_INT: {
        long long v = strtoll(val, &end, 10);
        if (!*val || *end || v < k->min || v > k->max) {
            cs_set_error("--set %s: bad value '%s' (an integer in %.0f..%.0f)", k->name, val, k->min, k->max);
            return -1;
        }
        *(int *)p = (int)v;
        break;
    }
    case K_FLOAT: {
        double v = strtod(val, &end);
        if (!*val || *end || !isfinite(v) || v < k->min || v > k->max) {
            cs_set_error("--set %s: bad value '%s' (a number in %g..%g)", k->name, val, k->min, k->max);
            return -1;
        }
        *(double *)p = v;
        break;
    }
    case K_BOOL: {
        int v;
        if (!strcmp(val, "1") || !strcmp(val, "true")) v = 1;
        else if (!strcmp(val, "0") || !strcmp(val, "false")) v = 0;
        else {
            cs_set_error("--set %s: bad value '%s' (true|false|1|0)", k->name, val);
            return -1;
        }
        *(int *)p = v;
        break;
    }
    case K_GATING: {
        int v;
        if (!strcmp(val, "softmax") || !strcmp(val, "1")) v = 1;
        else if (!strcmp(val, "sigmoid") || !strcmp(val, "2")) v = 2;
        else {
            cs_set_error("--set %s: bad value '%s' (softmax|sigmoid)", k->name, val);
            return -1;
        }
        *(int *)p = v;
        break;
    }
    }
    return 0;
}

static int validate(const hparams *hp) {
#define BAD(...)                    \
    do {                            \
        cs_set_error(__VA_ARGS__);  \
        return -1;                  \
    } while (0)
    if (hp->arch != A_DS2) {
        if (hp->n_embd % hp->n_head) BAD("n_embd %d is not a multiple of n_head %d", hp->n_embd, hp->n_head);
        if ((hp->n_embd / hp->n_head) % 2) BAD("head size n_embd/n_head = %d must be even", hp->n_embd / hp->n_head);
        if (hp->n_head % hp->n_head_kv) BAD("n_head %d is not a multiple of n_head_kv %d", hp->n_head, hp->n_head_kv);
        if (hp->llama3_factor > 0 && !(hp->llama3_high > hp->llama3_low && hp->llama3_low > 0))
            BAD("llama3 rope scaling needs 0 < llama3_low < llama3_high");
    } else {
        if (hp->qk_rope % 2) BAD("qk_rope %d must be even", hp->qk_rope);
        if (hp->n_expert_used > hp->n_expert) BAD("n_expert_used %d > n_expert %d", hp->n_expert_used, hp->n_expert);
        if (hp->n_expert % hp->n_group) BAD("n_expert %d is not a multiple of n_group %d", hp->n_expert, hp->n_group);
        if (hp->n_group_used > hp->n_group) BAD("n_group_used %d > n_group %d", hp->n_group_used, hp->n_group);
        if (hp->n_expert_used > hp->n_group_used * (hp->n_expert / hp->n_group))
            BAD("n_expert_used %d exceeds the experts in n_group_used groups (%d)", hp->n_expert_used,
                hp->n_group_used * (hp->n_expert / hp->n_group));
        if (hp->yarn_factor > 0 && hp->yarn_factor < 1) BAD("yarn_factor %g must be 0 (none) or >= 1", hp->yarn_factor);
    }
    return 0;
#undef BAD
}

/* ---- random numbers -------------------------------------------------------- */

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
}

static uint64_t name_seed(uint64_t seed, const char *name) {
    uint64_t h = 0xCBF29CE484222325ULL; /* FNV-1a */
    for (const unsigned char *s = (const unsigned char *)name; *s; s++) h = (h ^ *s) * 0x100000001B3ULL;
    return mix64(mix64(seed + 0x9E3779B97F4A7C15ULL) ^ h);
}

/* n near-Gaussian values (mean 0, sd 1, |x| < 3.5) for row `row` of a tensor. */
static void randn_row(uint64_t tseed, int64_t row, float scale, float offset, float *out, int64_t n) {
    uint64_t s = mix64(tseed ^ mix64((uint64_t)row + 1));
    const float k = 1.7320508f / 65536.0f; /* sum of 4 uniforms on [0,65536): sd 65536/sqrt(3) */
    int64_t i = 0;
    for (; i < n; i++) {
        uint64_t z = mix64(s += 0x9E3779B97F4A7C15ULL);
        int32_t sum = (int32_t)(z & 0xFFFF) + (int32_t)((z >> 16) & 0xFFFF) + (int32_t)((z >> 32) & 0xFFFF) +
                      (int32_t)(z >> 48) - 131070;
        out[i] = offset + scale * ((float)sum * k);
    }
}

/* ---- fast k-quant blocks ---------------------------------------------------
 * Plain min/max (q4_K, q5_K) and absmax (q6_K) scales per sub-block, no
 * search: valid blocks in ggml's layout at a fraction of the reference cost. */

/* round to nearest (ties to even) for |f| < 2^22, without a libm call */
static inline int iround(float f) {
    float v = f + 12582912.0f;
    int32_t i;
    memcpy(&i, &v, sizeof i);
    return (i & 0x007FFFFF) - 0x00400000;
}
static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }
static inline float maxabs(float m, float x) {
    float a = x < 0 ? -x : x;
    return a > m ? a : m;
}

/* Per sub-block of 32: scale and min (both >= 0, x ~ d*sc*q - dmin*m), 6-bit packed. */
static void kq_scales_mins(const float *x, int qmax, cs_half dm[2], uint8_t *scales, uint8_t *L) {
    float sc[8], mn[8], max_sc = 0, max_mn = 0;
    for (int j = 0; j < 8; j++) {
        float lo = 0, hi = -INFINITY;
        for (int i = 0; i < 32; i++) {
            float v = x[32 * j + i];
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        if (hi < lo) hi = lo;
        sc[j] = (hi - lo) / (float)qmax;
        mn[j] = -lo;
        max_sc = sc[j] > max_sc ? sc[j] : max_sc;
        max_mn = mn[j] > max_mn ? mn[j] : max_mn;
    }
    dm[0] = cs_fp32_to_fp16(max_sc / 63.0f);
    dm[1] = cs_fp32_to_fp16(max_mn / 63.0f);
    float d = cs_fp16_to_fp32(dm[0]), dmin = cs_fp16_to_fp32(dm[1]);
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = (uint8_t)(d > 0 ? clampi(iround(sc[j] / d), 0, 63) : 0);
        lm[j] = (uint8_t)(dmin > 0 ? clampi(iround(mn[j] / dmin), 0, 63) : 0);
    }
    memset(scales, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            scales[j] = ls[j];
            scales[j + 4] = lm[j];
        } else {
            scales[j + 4] = (uint8_t)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
            scales[j - 4] |= (uint8_t)((ls[j] >> 4) << 6);
            scales[j] |= (uint8_t)((lm[j] >> 4) << 6);
        }
    }
    for (int j = 0; j < 8; j++) {
        float dd = d * ls[j], mm = dmin * lm[j], id = dd > 0 ? 1.0f / dd : 0.0f;
        for (int i = 0; i < 32; i++) L[32 * j + i] = (uint8_t)clampi(iround((x[32 * j + i] + mm) * id), 0, qmax);
    }
}

static void fast_q4_K(const float *x, block_q4_K *y, int64_t n) {
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        cs_half dm[2];
        kq_scales_mins(x, 15, dm, y[b].scales, L);
        y[b].d = dm[0];
        y[b].dmin = dm[1];
        for (int c = 0; c < 4; c++)
            for (int l = 0; l < 32; l++) y[b].qs[32 * c + l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
}

static void fast_q5_K(const float *x, block_q5_K *y, int64_t n) {
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        cs_half dm[2];
        kq_scales_mins(x, 31, dm, y[b].scales, L);
        y[b].d = dm[0];
        y[b].dmin = dm[1];
        memset(y[b].qh, 0, sizeof y[b].qh);
        for (int c = 0; c < 4; c++) {
            for (int l = 0; l < 32; l++) {
                int l1 = L[64 * c + l], l2 = L[64 * c + 32 + l];
                if (l1 > 15) {
                    l1 -= 16;
                    y[b].qh[l] |= (uint8_t)(1u << (2 * c));
                }
                if (l2 > 15) {
                    l2 -= 16;
                    y[b].qh[l] |= (uint8_t)(2u << (2 * c));
                }
                y[b].qs[32 * c + l] = (uint8_t)(l1 | (l2 << 4));
            }
        }
    }
}

static void fast_q6_K(const float *x, block_q6_K *y, int64_t n) {
    uint8_t L[QK_K];
    for (int64_t b = 0; b < n / QK_K; b++, x += QK_K) {
        float sc[16], max_sc = 0;
        for (int j = 0; j < 16; j++) {
            float amax = 0;
            for (int i = 0; i < 16; i++) amax = maxabs(amax, x[16 * j + i]);
            sc[j] = amax / 31.0f;
            max_sc = sc[j] > max_sc ? sc[j] : max_sc;
        }
        y[b].d = cs_fp32_to_fp16(max_sc / 127.0f);
        float d = cs_fp16_to_fp32(y[b].d);
        for (int j = 0; j < 16; j++) {
            int ls = d > 0 ? clampi(iround(sc[j] / d), 0, 127) : 0;
            y[b].scales[j] = (int8_t)ls;
            float dd = d * ls, id = dd > 0 ? 1.0f / dd : 0.0f;
            for (int i = 0; i < 16; i++) L[16 * j + i] = (uint8_t)(clampi(iround(x[16 * j + i] * id), -32, 31) + 32);
        }
        for (int h = 0; h < 2; h++) {
            const uint8_t *Lh = L + 128 * h;
            uint8_t *ql = y[b].ql + 64 * h, *qh = y[b].qh + 32 * h;
            for (int l = 0; l < 32; l++) {
                ql[l] = (uint8_t)((Lh[l] & 0xF) | ((Lh[l + 64] & 0xF) << 4));
                ql[l + 32] = (uint8_t)((Lh[l + 32] & 0xF) | ((Lh[l + 96] & 0xF) << 4));
                qh[l] = (uint8_t)((Lh[l] >> 4) | ((Lh[l + 32] >> 4) << 2) | ((Lh[l + 64] >> 4) << 4) | ((Lh[l + 96] >> 4) << 6));
            }
        }
    }
}

static void fast_q8_0(const float *x, block_q8_0 *y, int64_t n) {
    for (int64_t b = 0; b < n / QK8_0; b++, x += QK8_0) {
        float m4[4] = {0, 0, 0, 0}; /* independent chains */
        for (int i = 0; i < QK8_0; i += 4)
            for (int k = 0; k < 4; k++) m4[k] = maxabs(m4[k], x[i + k]);
        float amax = maxabs(maxabs(m4[0], m4[1]), maxabs(m4[2], m4[3]));
        float d = amax / 127.0f, id = d > 0 ? 1.0f / d : 0.0f;
        y[b].d = cs_fp32_to_fp16(d);
        for (int i = 0; i < QK8_0; i++) y[b].qs[i] = (int8_t)clampi(iround(x[i] * id), -127, 127);
    }
}

static void convert_row(cs_type type, const float *x, void *dst, int64_t n) {
    switch (type) {
    case CS_TYPE_F32: memcpy(dst, x, (size_t)n * sizeof(float)); break;
    case CS_TYPE_F16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = cs_fp32_to_fp16(x[i]);
        break;
    case CS_TYPE_BF16:
        for (int64_t i = 0; i < n; i++) ((uint16_t *)dst)[i] = cs_fp32_to_bf16(x[i]);
        break;
    case CS_TYPE_Q8_0: fast_q8_0(x, dst, n); break;
    case CS_TYPE_Q4_K: fast_q4_K(x, dst, n); break;
    case CS_TYPE_Q5_K: fast_q5_K(x, dst, n); break;
    case CS_TYPE_Q6_K: fast_q6_K(x, dst, n); break;
    default: cs_quantize_row(type, x, dst, n); break;
    }
}

/* ---- the tensor list ------------------------------------------------------- */

typedef enum {
    FILL_RANDN,       /* offset + scale * N(0,1) */
    FILL_ZERO,
    FILL_ROPE_FREQS,  /* llama3 frequency factors */
    FILL_KB,          /* attn_k_b from the layer's kv_b values */
    FILL_VB,          /* attn_v_b from the layer's kv_b values */
    FILL_SCRIPT_EMBD, /* scripted model: one-hot embeddings */
    FILL_SCRIPT_OUT,  /* scripted model: the step transitions */
} fill_kind;

typedef struct {
    char name[96];
    uint32_t n_dims;
    int64_t ne[4];
    cs_type type;
    fill_kind fill;
    float scale, offset;
    uint64_t seed;    /* FILL_RANDN: this tensor's; FILL_KB/VB: the layer's kv_b */
    float kv_scale;   /* FILL_KB/VB: kv_b's scale */
    uint64_t nbytes;
} tspec;

typedef struct {
    hparams hp;
    cs_mix_model mm;
    const char *mix;
    char layout;
    uint64_t seed;
    tspec *t;
    int n_t, cap_t;
    /* scripted model */
    int step_base, n_steps, eos;
    float script_big;
} builder;

static int add_tensor(builder *b, fill_kind fill, float scale, float offset, uint32_t n_dims, int64_t ne0, int64_t ne1,
                      int64_t ne2, const char *fmt, ...) __attribute__((format(printf, 9, 10)));

static int add_tensor(builder *b, fill_kind fill, float scale, float offset, uint32_t n_dims, int64_t ne0, int64_t ne1,
                      int64_t ne2, const char *fmt, ...) {
    if (b->n_t == b->cap_t) {
        int cap = b->cap_t ? b->cap_t * 2 : 256;
        tspec *t = realloc(b->t, (size_t)cap * sizeof *t);
        if (!t) {
            cs_set_error("out of memory");
            return -1;
        }
        b->t = t;
        b->cap_t = cap;
    }
    tspec *t = &b->t[b->n_t];
    memset(t, 0, sizeof *t);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(t->name, sizeof t->name, fmt, ap);
    va_end(ap);
    t->n_dims = n_dims;
    t->ne[0] = ne0;
    t->ne[1] = n_dims > 1 ? ne1 : 1;
    t->ne[2] = n_dims > 2 ? ne2 : 1;
    t->ne[3] = 1;
    t->fill = fill;
    t->scale = scale;
    t->offset = offset;
    t->seed = name_seed(b->seed, t->name);
    t->type = cs_mix_tensor_type(b->mix, t->name, (int)n_dims, t->ne, &b->mm);
    uint64_t rows = (uint64_t)t->ne[1] * (uint64_t)t->ne[2];
    t->nbytes = cs_row_size(t->type, ne0) * rows;
    b->n_t++;
    return 0;
}

#define ADD(...)                                        \
    do {                                                \
        if (add_tensor(b, __VA_ARGS__)) return -1;      \
    } while (0)

static float inv_sqrt(int64_t n) { return 1.0f / sqrtf((float)n); }

static int build_dense_tensors(builder *b) {
    const hparams *hp = &b->hp;
    int64_t d = hp->n_embd, hd = hp->n_embd / hp->n_head;
    int64_t nq = hd * hp->n_head, nkv = hd * hp->n_head_kv;
    float out_s = 1.0f / sqrtf(2.0f * (float)hp->n_layer);
    bool script = b->n_steps >= 0;
    if (script)
        ADD(FILL_SCRIPT_EMBD, 0, 0, 2, d, hp->n_vocab, 1, "token_embd.weight");
    else
        ADD(FILL_RANDN, hp->tied ? 3.0f * inv_sqrt(d) : 1.0f, 0, 2, d, hp->n_vocab, 1, "token_embd.weight");
    if (hp->arch == A_LLAMA && hp->llama3_factor > 0) ADD(FILL_ROPE_FREQS, 0, 0, 1, hd / 2, 1, 1, "rope_freqs.weight");
    for (int l = 0; l < hp->n_layer; l++) {
        ADD(FILL_RANDN, 0.1f, 1.0f, 1, d, 1, 1, "blk.%d.attn_norm.weight", l);
        ADD(FILL_RANDN, inv_sqrt(d), 0, 2, d, nq, 1, "blk.%d.attn_q.weight", l);
        ADD(FILL_RANDN, inv_sqrt(d), 0, 2, d, nkv, 1, "blk.%d.attn_k.weight", l);
        ADD(FILL_RANDN, inv_sqrt(d), 0, 2, d, nkv, 1, "blk.%d.attn_v.weight", l);
        if (hp->qkv_bias) {
            ADD(FILL_RANDN, 0.3f, 0, 1, nq, 1, 1, "blk.%d.attn_q.bias", l);
            ADD(FILL_RANDN, 0.3f, 0, 1, nkv, 1, 1, "blk.%d.attn_k.bias", l);
            ADD(FILL_RANDN, 0.3f, 0, 1, nkv, 1, 1, "blk.%d.attn_v.bias", l);
        }
        ADD(script ? FILL_ZERO : FILL_RANDN, out_s * inv_sqrt(nq), 0, 2, nq, d, 1, "blk.%d.attn_output.weight", l);
        ADD(FILL_RANDN, 0.1f, 1.0f, 1, d, 1, 1, "blk.%d.ffn_norm.weight", l);
        ADD(FILL_RANDN, inv_sqrt(d), 0, 2, d, hp->n_ff, 1, "blk.%d.ffn_gate.weight", l);
        ADD(FILL_RANDN, inv_sqrt(d), 0, 2, d, hp->n_ff, 1, "blk.%d.ffn_up.weight", l);
        ADD(script ? FILL_ZERO : FILL_RANDN, out_s * inv_sqrt(hp->n_ff), 0, 2, hp->n_ff, d, 1, "blk.%d.ffn_down.weight", l);
    }
    if (script)
        ADD(FILL_ZERO, 0, 1.0f, 1, d, 1, 1, "output_norm.weight");
    else
        ADD(FILL_RANDN, 0.1f, 1.0f, 1, d, 1, 1, "output_norm.weight");
    if (script)
        ADD(FILL_SCRIPT_OUT, 0, 0, 2, d, hp->n_vocab, 1, "output.weight");
    else if (!hp->tied)
        ADD(FILL_RANDN, 3.0f * inv_sqrt(d), 0, 2, d, hp->n_vocab, 1, "output.weight");
    return 0;
}

static int build_ds2_tensors(builder *b) {
    const hparams *hp = &b->hp;
    int64_t d = hp->n_embd, H = hp->n_head, nope = hp->qk_nope, rope = hp->qk_rope, vh = hp->v_head;
    int64_t kvl = hp->kv_lora_rank, ql = hp->q_lora_rank;
    float out_s = 1.0f / sqrtf(2.0f * (float)hp->n_layer);
    int n_blocks = hp->n_layer + hp->nextn;
    ADD(FILL_RANDN, 1.0f, 0, 2, d, hp->n_vocab, 1, "token_embd.weight");
    for (int l = 0; l < n_blocks; l++) {
        ADD(FILL_RANDN, 0.1f, 1.0f, 1, d, 1, 1, "blk.%d.attn_norm.weight", l);
        if (ql > 0) {
            ADD(FILL_RANDN, inv_sqrt(d), 0, 2, d, ql, 1, "blk.%d.attn_q_a.weight", l);
            ADD(FILL_RANDN, 0.1f, 1.0f, 1, ql, 1, 1, "blk.%d.attn_q_a_norm.weight", l);
            ADD(FILL_RANDN, inv_sqrt(ql), 0, 2, ql, H * (nope + rope), 1, "blk.%d.attn_q_b.weight", l);
        } else {
            ADD(FILL_RANDN, inv_sqrt(d), 0, 2, d, H * (nope + rope), 1, "blk.%d.attn_q.weight", l);
        }
        ADD(FILL_RANDN, inv_sqrt(d), 0, 2, d, kvl + rope, 1, "blk.%d.attn_kv_a_mqa.weight", l);
        ADD(FILL_RANDN, 0.1f, 1.0f, 1, kvl, 1, 1, "blk.%d.attn_kv_a_norm.weight", l);
        char kvb_name[96];
        snprintf(kvb_name, sizeof kvb_name, "blk.%d.attn_kv_b.weight", l);
        uint64_t kvb_seed = name_seed(b->seed, kvb_name);
        float kvb_scale = inv_sqrt(kvl);
        if (b->layout != 'c') ADD(FILL_RANDN, kvb_scale, 0, 2, kvl, H * (nope + vh), 1, "%s", kvb_name);
        if (b->layout != 'a') {
            if (b->layout == 'b') {
                ADD(FILL_KB, 0, 0, 2, nope, H * kvl, 1, "blk.%d.attn_k_b.weight", l);
                b->t[b->n_t - 1].seed = kvb_seed;
                b->t[b->n_t - 1].kv_scale = kvb_scale;
                ADD(FILL_VB, 0, 0, 2, kvl, H * vh, 1, "blk.%d.attn_v_b.weight", l);
            } else {
                ADD(FILL_KB, 0, 0, 3, nope, kvl, H, "blk.%d.attn_k_b.weight", l);
                b->t[b->n_t - 1].seed = kvb_seed;
                b->t[b->n_t - 1].kv_scale = kvb_scale;
                ADD(FILL_VB, 0, 0, 3, kvl, vh, H, "blk.%d.attn_v_b.weight", l);
            }
            b->t[b->n_t - 1].seed = kvb_seed;
            b->t[b->n_t - 1].kv_scale = kvb_scale;
        }
        ADD(FILL_RANDN, out_s * inv_sqrt(H * vh), 0, 2, H * vh, d, 1, "blk.%d.attn_output.weight", l);
        ADD(FILL_RANDN, 0.1f, 1.0f, 1, d, 1, 1, "blk.%d.ffn_norm.weight", l);
        if (l < hp->n_dense_lead) {
            ADD(FILL_RANDN, inv_sqrt(d), 0, 2, d, hp->n_ff, 1, "blk.%d.ffn_gate.weight", l);
            ADD(FILL_RANDN, inv_sqrt(d), 0, 2, d, hp->n_ff, 1, "blk.%d.ffn_up.weight", l);
            ADD(FILL_RANDN, out_s * inv_sqrt(hp->n_ff), 0, 2, hp->n_ff, d, 1, "blk.%d.ffn_down.weight", l);
        } else {
            int64_t E = hp->n_expert, fe = hp->n_ff_exp, fs = hp->n_ff_exp * hp->n_expert_shared;
            ADD(FILL_RANDN, inv_sqrt(d), 0, 2, d, E, 1, "blk.%d.ffn_gate_inp.weight", l);
            if (hp->gating_func == 2) ADD(FILL_RANDN, 0.05f, 0, 1, E, 1, 1, "blk.%d.exp_probs_b.bias", l);
            ADD(FILL_RANDN, inv_sqrt(d), 0, 3, d, fe, E, "blk.%d.ffn_gate_exps.weight", l);
            ADD(FILL_RANDN, inv_sqrt(d), 0, 3, d, fe, E, "blk.%d.ffn_up_exps.weight", l);
            ADD(FILL_RANDN, out_s * inv_sqrt(fe), 0, 3, fe, d, E, "blk.%d.ffn_down_exps.weight", l);
            if (fs > 0) {
                ADD(FILL_RANDN, inv_sqrt(d), 0, 2, d, fs, 1, "blk.%d.ffn_gate_shexp.weight", l);
                ADD(FILL_RANDN, inv_sqrt(d), 0, 2, d, fs, 1, "blk.%d.ffn_up_shexp.weight", l);
                ADD(FILL_RANDN, out_s * inv_sqrt(fs), 0, 2, fs, d, 1, "blk.%d.ffn_down_shexp.weight", l);
            }
        }
        if (l >= hp->n_layer) { /* MTP block: its own projections and norms */
            ADD(FILL_RANDN, inv_sqrt(2 * d), 0, 2, 2 * d, d, 1, "blk.%d.nextn.eh_proj.weight", l);
            ADD(FILL_RANDN, 0.1f, 1.0f, 1, d, 1, 1, "blk.%d.nextn.enorm.weight", l);
            ADD(FILL_RANDN, 0.1f, 1.0f, 1, d, 1, 1, "blk.%d.nextn.hnorm.weight", l);
            ADD(FILL_RANDN, 0.1f, 1.0f, 1, d, 1, 1, "blk.%d.nextn.shared_head_norm.weight", l);
        }
    }
    ADD(FILL_RANDN, 0.1f, 1.0f, 1, d, 1, 1, "output_norm.weight");
    ADD(FILL_RANDN, 3.0f * inv_sqrt(d), 0, 2, d, hp->n_vocab, 1, "output.weight");
    return 0;
}

/* llama3 rope scaling: rope_freqs.weight holds the divisor of each frequency. */
static void llama3_factors(const hparams *hp, float *out, int n) {
    int hd = hp->n_embd / hp->n_head;
    double low_wavelen = hp->llama3_orig_ctx / hp->llama3_low;
    double high_wavelen = hp->llama3_orig_ctx / hp->llama3_high;
    for (int i = 0; i < n; i++) {
        double freq = 1.0 / pow(hp->rope_theta, (2.0 * i) / hd);
        double wavelen = 2.0 * M_PI / freq;
        double f;
        if (wavelen < high_wavelen) f = 1.0;
        else if (wavelen > low_wavelen) f = hp->llama3_factor;
        else {
            double smooth = (hp->llama3_orig_ctx / wavelen - hp->llama3_low) / (hp->llama3_high - hp->llama3_low);
            f = 1.0 / ((1.0 - smooth) / hp->llama3_factor + smooth);
        }
        out[i] = (float)f;
    }
}

/* Row r of tensor t (not FILL_KB) as floats. */
static void gen_row(const builder *b, const tspec *t, int64_t r, float *out) {
    int64_t n = t->ne[0];
    switch (t->fill) {
    case FILL_RANDN: randn_row(t->seed, r, t->scale, t->offset, out, n); break;
    case FILL_ZERO:
        for (int64_t i = 0; i < n; i++) out[i] = t->offset;
        break;
    case FILL_ROPE_FREQS: llama3_factors(&b->hp, out, (int)n); break;
    case FILL_VB: {
        int64_t vh = b->hp.v_head, h = r / vh, j = r % vh;
        randn_row(t->seed, h * (b->hp.qk_nope + vh) + b->hp.qk_nope + j, t->kv_scale, 0, out, n);
        break;
    }
    case FILL_SCRIPT_EMBD: {
        memset(out, 0, (size_t)n * sizeof *out);
        int64_t k = r - b->step_base;
        out[k >= 0 && k < b->n_steps ? k + 1 : 0] = 1.0f;
        break;
    }
    case FILL_SCRIPT_OUT: {
        memset(out, 0, (size_t)n * sizeof *out);
        int64_t k = r - b->step_base;
        if (k >= 0 && k < b->n_steps) out[k] = b->script_big; /* state e_k: emit step k */
        if (r == b->eos) out[b->n_steps] = b->script_big;   /* after the last step */
        break;
    }
    case FILL_KB: break;
    }
}

/* ---- writing ---------------------------------------------------------------
 * Chunks of rows are generated in parallel into one of two buffers; while the
 * team generates a chunk, one of its threads writes the previous chunk (from
 * the other buffer) to the file, then joins the generation. */

#define CHUNK_BYTES (8u << 20)

typedef struct {
    gguf_writer *w;
    uint8_t *buf[2];
    size_t buf_cap;
    int cur;           /* the buffer being filled */
    size_t pending;    /* bytes of the other buffer still to write */
    int failed;
    char err[512];     /* the failed write's message (errors are per thread) */
    const cs_mkmodel_params *p;
    uint64_t done, total;
} stream;

/* Write the pending chunk (called by one thread of the team, or alone). */
static void stream_flush(stream *s) {
    if (!s->pending || s->failed) return;
    if (gguf_writer_write_data(s->w, s->buf[s->cur ^ 1], s->pending)) {
        snprintf(s->err, sizeof s->err, "%s", cs_last_error());
        s->failed = 1;
    }
    s->done += s->pending;
    s->pending = 0;
}

/* The current buffer holds n bytes ready to write: make it the pending one. */
static void stream_switch(stream *s, size_t n) {
    s->pending = n;
    s->cur ^= 1;
    if (s->p->progress) s->p->progress(s->total ? (double)(s->done + n) / (double)s->total : 1.0, s->p->progress_user);
}

static int64_t chunk_rows(const builder *b, const tspec *t) {
    int64_t rows = t->ne[1] * t->ne[2];
    size_t row_bytes = cs_row_size(t->type, t->ne[0]);
    int64_t chunk = (int64_t)(CHUNK_BYTES / row_bytes);
    if (chunk < 1) chunk = 1;
    if (t->fill == FILL_KB) { /* whole heads */
        int64_t kvl = b->hp.kv_lora_rank;
        chunk = (chunk + kvl - 1) / kvl * kvl;
    }
    return chunk < rows ? chunk : rows;
}

static int write_tensor(const builder *b, const tspec *t, stream *s) {
    int64_t n = t->ne[0], rows = t->ne[1] * t->ne[2];
    size_t row_bytes = cs_row_size(t->type, n);
    int64_t chunk = chunk_rows(b, t);
    int64_t kvl = b->hp.kv_lora_rank, nope = b->hp.qk_nope, vh = b->hp.v_head;
    int oom = 0;
    for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
        int64_t nr = rows - r0 < chunk ? rows - r0 : chunk;
        uint8_t *buf = s->buf[s->cur];
        if (t->fill == FILL_KB) {
            /* k_b row (h, c) holds kv_b[h*(nope+v) + d][c] for d < nope: per head,
             * generate the nope kv_b rows and transpose. */
            int64_t h0 = r0 / kvl, nh = nr / kvl;
#pragma omp parallel if (nh > 1)
            {
#pragma omp single nowait
                stream_flush(s);
                float *src = malloc((size_t)(nope * kvl) * sizeof(float));
                float *row = malloc((size_t)nope * sizeof(float));
                if (!src || !row) {
#pragma omp atomic write
                    oom = 1;
                }
#pragma omp for schedule(dynamic, 1)
                for (int64_t hh = 0; hh < nh; hh++) {
                    if (!src || !row) continue;
                    int64_t h = h0 + hh;
                    for (int64_t dd = 0; dd < nope; dd++)
                        randn_row(t->seed, h * (nope + vh) + dd, t->kv_scale, 0, src + dd * kvl, kvl);
                    for (int64_t c = 0; c < kvl; c++) {
                        for (int64_t dd = 0; dd < nope; dd++) row[dd] = src[dd * kvl + c];
                        convert_row(t->type, row, buf + (size_t)(hh * kvl + c) * row_bytes, nope);
                    }
                }
                free(src);
                free(row);
            }
        } else {
            /* small chunks (norms, biases) are not worth waking the team */
#pragma omp parallel if (nr * n >= 65536)
            {
#pragma omp single nowait
                stream_flush(s);
                float *row = malloc((size_t)n * sizeof(float));
                if (!row) {
#pragma omp atomic write
                    oom = 1;
                }
#pragma omp for schedule(dynamic, 16)
                for (int64_t i = 0; i < nr; i++) {
                    if (!row) continue;
                    gen_row(b, t, r0 + i, row);
                    convert_row(t->type, row, buf + (size_t)i * row_bytes, n);
                }
                free(row);
            }
        }
        if (oom) {
            cs_set_error("out of memory");
            return -1;
        }
        if (s->failed) {
            cs_set_error("%s", s->err);
            return -1;
        }
        stream_switch(s, (size_t)nr * row_bytes);
    }
    return 0;
}

/* Stream every tensor's data (after gguf_writer_begin). */
static int write_all(const builder *b, gguf_writer *w, const cs_mkmodel_params *p, uint64_t total) {
    stream s;
    memset(&s, 0, sizeof s);
    s.w = w;
    s.p = p;
    s.total = total;
    for (int i = 0; i < b->n_t; i++) {
        size_t need = (size_t)chunk_rows(b, &b->t[i]) * cs_row_size(b->t[i].type, b->t[i].ne[0]);
        if (need > s.buf_cap) s.buf_cap = need;
    }
    s.buf[0] = cs_malloc(s.buf_cap);
    s.buf[1] = cs_malloc(s.buf_cap);
    int rc = s.buf[0] && s.buf[1] ? 0 : -1;
    for (int i = 0; i < b->n_t && !rc; i++) rc = write_tensor(b, &b->t[i], &s);
    if (!rc) {
        stream_flush(&s);
        if (s.failed) {
            cs_set_error("%s", s.err);
            rc = -1;
        }
    }
    free(s.buf[0]);
    free(s.buf[1]);
    return rc;
}

/* ---- metadata -------------------------------------------------------------- */

static void write_metadata(gguf_writer *w, const builder *b, const cs_synth_vocab *v, int ftype, const char *script) {
    const hparams *hp = &b->hp;
    const char *a = arch_name(hp->arch);
    char key[128];
#define K(suffix) (snprintf(key, sizeof key, "%s." suffix, a), key)
    gguf_writer_set_str(w, "general.architecture", a);
    gguf_writer_set_str(w, "general.name", hp->name);
    gguf_writer_set_u32(w, "general.quantization_version", 2);
    gguf_writer_set_u32(w, "general.file_type", (uint32_t)ftype);
    int n_blocks = hp->n_layer + (hp->arch == A_DS2 ? hp->nextn : 0);
    gguf_writer_set_u32(w, K("block_count"), (uint32_t)n_blocks);
    gguf_writer_set_u32(w, K("context_length"), (uint32_t)hp->n_ctx);
    gguf_writer_set_u32(w, K("embedding_length"), (uint32_t)hp->n_embd);
    gguf_writer_set_u32(w, K("feed_forward_length"), (uint32_t)hp->n_ff);
    gguf_writer_set_u32(w, K("attention.head_count"), (uint32_t)hp->n_head);
    if (hp->arch != A_DS2) {
        gguf_writer_set_u32(w, K("attention.head_count_kv"), (uint32_t)hp->n_head_kv);
        gguf_writer_set_f32(w, K("rope.freq_base"), (float)hp->rope_theta);
        gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), (float)hp->eps);
        if (hp->arch == A_LLAMA) {
            gguf_writer_set_u32(w, K("vocab_size"), (uint32_t)hp->n_vocab);
            gguf_writer_set_u32(w, K("rope.dimension_count"), (uint32_t)(hp->n_embd / hp->n_head));
        }
    } else {
        bool c = b->layout == 'c';
        gguf_writer_set_u32(w, K("attention.head_count_kv"), c ? 1u : (uint32_t)hp->n_head);
        gguf_writer_set_f32(w, K("rope.freq_base"), (float)hp->rope_theta);
        gguf_writer_set_f32(w, K("attention.layer_norm_rms_epsilon"), (float)hp->eps);
        gguf_writer_set_u32(w, K("expert_used_count"), (uint32_t)hp->n_expert_used);
        gguf_writer_set_u32(w, K("leading_dense_block_count"), (uint32_t)hp->n_dense_lead);
        gguf_writer_set_u32(w, K("vocab_size"), (uint32_t)hp->n_vocab);
        if (hp->q_lora_rank > 0) gguf_writer_set_u32(w, K("attention.q_lora_rank"), (uint32_t)hp->q_lora_rank);
        gguf_writer_set_u32(w, K("attention.kv_lora_rank"), (uint32_t)hp->kv_lora_rank);
        gguf_writer_set_u32(w, K("attention.key_length"),
                            (uint32_t)(c ? hp->kv_lora_rank + hp->qk_rope : hp->qk_nope + hp->qk_rope));
        gguf_writer_set_u32(w, K("attention.value_length"), (uint32_t)(c ? hp->kv_lora_rank : hp->v_head));
        if (c) {
            gguf_writer_set_u32(w, K("attention.key_length_mla"), (uint32_t)(hp->qk_nope + hp->qk_rope));
            gguf_writer_set_u32(w, K("attention.value_length_mla"), (uint32_t)hp->v_head);
        }
        gguf_writer_set_u32(w, K("expert_feed_forward_length"), (uint32_t)hp->n_ff_exp);
        gguf_writer_set_u32(w, K("expert_count"), (uint32_t)hp->n_expert);
        gguf_writer_set_u32(w, K("expert_shared_count"), (uint32_t)hp->n_expert_shared);
        gguf_writer_set_f32(w, K("expert_weights_scale"), (float)hp->expert_weights_scale);
        gguf_writer_set_bool(w, K("expert_weights_norm"), hp->expert_weights_norm != 0);
        gguf_writer_set_u32(w, K("expert_gating_func"), (uint32_t)hp->gating_func);
        gguf_writer_set_u32(w, K("expert_group_count"), (uint32_t)hp->n_group);
        gguf_writer_set_u32(w, K("expert_group_used_count"), (uint32_t)hp->n_group_used);
        gguf_writer_set_u32(w, K("rope.dimension_count"), (uint32_t)hp->qk_rope);
        if (hp->yarn_factor > 0) {
            gguf_writer_set_str(w, K("rope.scaling.type"), "yarn");
            gguf_writer_set_f32(w, K("rope.scaling.factor"), (float)hp->yarn_factor);
            gguf_writer_set_u32(w, K("rope.scaling.original_context_length"), (uint32_t)hp->yarn_orig_ctx);
            gguf_writer_set_f32(w, K("rope.scaling.yarn_log_multiplier"), (float)hp->yarn_log_mul);
        }
        if (hp->nextn > 0) gguf_writer_set_u32(w, K("nextn_predict_layers"), (uint32_t)hp->nextn);
    }
#undef K
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", hp->pre);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", (const char *const *)v->tokens, (uint64_t)v->n_tokens);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, v->types, (uint64_t)v->n_tokens);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", (const char *const *)v->merges, (uint64_t)v->n_merges);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", (uint32_t)v->bos);
    gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", (uint32_t)v->eos);
    gguf_writer_set_u32(w, "tokenizer.ggml.padding_token_id", (uint32_t)v->pad);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_eos_token", false);
    gguf_writer_set_str(w, "tokenizer.chat_template", cs_synth_chat_template);
    if (script) {
        gguf_writer_set_bool(w, "cseek.scripted", true);
        gguf_writer_set_str(w, "cseek.script", script);
    }
}

/* ---- scripted models ------------------------------------------------------- */

/* Cut text into pieces: "<think>" and "</think>" alone, otherwise a run of
 * whitespace together with the non-whitespace run after it. Appends one step
 * token per piece. */
static int add_script_steps(cs_synth_vocab *v, const char *text, int *n_steps) {
    static const char *const tags[] = {"<think>", "</think>"};
    const char *s = text;
    *n_steps = 0;
    while (*s) {
        size_t len = 0;
        for (int k = 0; k < 2 && !len; k++)
            if (!strncmp(s, tags[k], strlen(tags[k]))) len = strlen(tags[k]);
        if (!len) {
            const char *e = s;
            while (*e && strchr(" \t\r\n", *e)) e++;
            while (*e && !strchr(" \t\r\n", *e) && strncmp(e, "<think>", 7) && strncmp(e, "</think>", 8)) e++;
            len = (size_t)(e - s);
            if (!len) len = 1; /* cannot happen; guard against looping */
        }
        char *tok = cs_synth_bytes_to_token(s, len);
        if (!tok) return -1;
        int id = cs_synth_vocab_push(v, tok, CS_TOK_NORMAL);
        free(tok);
        if (id < 0) return -1;
        (*n_steps)++;
        s += len;
    }
    return 0;
}

/* ---- entry point ------------------------------------------------------------ */

int cs_mkmodel(const cs_mkmodel_params *p) {
    if (!p || !p->out_path || !*p->out_path) {
        cs_set_error("mkmodel: no output file");
        return -1;
    }
    builder bd;
    memset(&bd, 0, sizeof bd);
    builder *b = &bd;
    b->n_steps = -1;
    b->seed = p->seed;
    const char *script = p->script;

    const hparams *pre = NULL;
    if (script) {
        pre = &presets[1]; /* tiny-llama's vocabulary and norms */
    } else {
        if (!p->preset) {
            cs_set_error("no preset given (one of: tiny-qwen2 tiny-llama tiny-v3 tiny-v2-lite qwen2-1.5b qwen2-7b llama-8b v2-lite v3)");
            return -1;
        }
        for (size_t i = 0; i < sizeof presets / sizeof presets[0]; i++)
            if (!strcmp(presets[i].preset, p->preset)) pre = &presets[i];
        if (!pre) {
            cs_set_error("unknown preset '%s' (one of: tiny-qwen2 tiny-llama tiny-v3 tiny-v2-lite qwen2-1.5b qwen2-7b "
                         "llama-8b v2-lite v3)", p->preset);
            return -1;
        }
    }
    b->hp = *pre;
    hparams *hp = &b->hp;

    const char *mix = p->type ? p->type : "f32";
    cs_type base;
    int ftype;
    if (!cs_mix_parse(mix, &base, &ftype)) {
        cs_set_error("unknown type '%s' (f32 f16 bf16 q8_0 q4_0 q5_0 q5_1 q4_k q5_k q6_k q4_k_m q5_k_m)", mix);
        return -1;
    }
    if (script && base != CS_TYPE_F32) {
        cs_set_error("scripted models are always f32 (got --type %s)", mix);
        return -1;
    }
    b->mix = mix;

    b->layout = 'a';
    if (p->layout) {
        if (strlen(p->layout) != 1 || !strchr("abc", p->layout[0])) {
            cs_set_error("unknown MLA layout '%s' (a, b or c)", p->layout);
            return -1;
        }
        if (hp->arch != A_DS2 && p->layout[0] != 'a') {
            cs_set_error("--layout applies to deepseek2 presets only");
            return -1;
        }
        b->layout = p->layout[0];
    }

    if (p->set) {
        if (script && p->set[0]) {
            cs_set_error("--set does not apply to scripted models");
            return -1;
        }
        for (const char *const *s = p->set; *s; s++)
            if (apply_set(hp, *s)) return -1;
    }
    if (validate(hp)) return -1;

    cs_synth_vocab vocab;
    int rc = -1;
    gguf_writer *w = NULL;
    bool started = false;
    if (script) {
        /* tiny-llama's vocabulary, then one step token per piece of the text */
        if (cs_synth_vocab_build(&vocab, 512, 249)) return -1;
        int n_steps;
        if (add_script_steps(&vocab, script, &n_steps)) goto done;
        b->step_base = vocab.n_tokens - n_steps;
        b->n_steps = n_steps;
        b->eos = vocab.eos;
        int d = ((n_steps + 1 + 63) / 64) * 64;
        hp->name = "cseek-scripted";
        hp->n_layer = 1;
        hp->n_embd = d < 64 ? 64 : d;
        hp->n_head = hp->n_embd / 64;
        hp->n_head_kv = hp->n_head;
        hp->n_ff = 64;
        hp->n_vocab = vocab.n_tokens;
        hp->llama3_factor = 0;
        hp->qkv_bias = 0;
        hp->tied = 0;
        /* after output_norm a one-hot state is sqrt(dim) * e_k: logits 16 * sqrt(dim) vs 0 */
        b->script_big = 16.0f;
    } else {
        if (cs_synth_vocab_build(&vocab, hp->n_vocab, 600)) return -1;
    }

    b->mm.n_layer = hp->n_layer + (hp->arch == A_DS2 ? hp->nextn : 0);
    b->mm.n_expert = hp->arch == A_DS2 ? hp->n_expert : 0;
    b->mm.has_output = !(hp->arch != A_DS2 && hp->tied);
    b->mm.n_attn_v = 0; /* one attn_v-like tensor per block (or none): the block count */
    b->mm.is_70b = hp->arch == A_LLAMA && hp->n_layer == 80 && hp->n_head_kv != hp->n_head; /* llama.cpp: LLM_TYPE_70B */
    if ((hp->arch == A_DS2 ? build_ds2_tensors(b) : build_dense_tensors(b))) goto done;

    w = gguf_writer_new();
    if (!w) goto done;
    write_metadata(w, b, &vocab, ftype, script);
    uint64_t total = 0;
    for (int i = 0; i < b->n_t; i++) {
        const tspec *t = &b->t[i];
        if (t->nbytes == 0) {
            cs_set_error("tensor %s: row length %lld does not fit type %s", t->name, (long long)t->ne[0], cs_type_name(t->type));
            goto done;
        }
        if (gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne)) goto done;
        total += t->nbytes;
    }
    if (gguf_writer_begin(w, p->out_path)) goto io_fail;
    started = true; /* from here on a failure removes the partial file */
    if (write_all(b, w, p, total) || gguf_writer_finish(w)) goto io_fail;
    rc = 0;
    goto done;
io_fail: {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", cs_last_error());
    if (!strstr(msg, p->out_path)) cs_set_error("%s: %s", p->out_path, msg);
}
done:
    if (w) gguf_writer_free(w);
    if (rc && started) unlink(p->out_path);
    cs_synth_vocab_free(&vocab);
    free(b->t);
    return rc;
}
