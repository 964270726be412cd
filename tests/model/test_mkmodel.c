/* cseek mkmodel: synthetic models. Every preset writes a file the GGUF reader
 * accepts, with the metadata and tensor shapes/types llama.cpp's converter and
 * quantizer would give (checked against the conformance files where they
 * exist); seeds are deterministic; MLA layouts a/b/c hold the same values;
 * bad overrides fail with clear errors; a scripted model emits its text. */
#include <omp.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cseek.h"
#include "test.h"
#include "formats/gguf.h"
#include "formats/types.h"
#include "model/quant_mix.h"

static char g_dir[256];

static const char *path_in_dir(const char *name) {
    static char buf[8][512];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

/* Write a model; sets is a NULL-terminated list (or NULL). Returns cs_mkmodel's result. */
static int mk(const char *out, const char *preset, const char *type, const char *layout, uint64_t seed,
              const char *const *sets) {
    cs_mkmodel_params p;
    memset(&p, 0, sizeof p);
    p.preset = preset;
    p.type = type;
    p.layout = layout;
    p.seed = seed;
    p.set = sets;
    p.out_path = out;
    return cs_mkmodel(&p);
}

static gguf_file *open_ok(const char *path) {
    gguf_file *f = gguf_open(path, NULL);
    CHECKF(f != NULL, "%s: %s", path, cs_last_error());
    return f;
}

static int64_t get_i(const gguf_file *f, const char *key) {
    int64_t v = -1;
    CHECKF(gguf_get_i64(f, key, &v), "missing key %s", key);
    return v;
}

static float get_f(const gguf_file *f, const char *key) {
    float v = -1;
    CHECKF(gguf_get_f32(f, key, &v), "missing key %s", key);
    return v;
}

static bool str_is(const gguf_file *f, const char *key, const char *want) {
    char *s = gguf_get_str_dup(f, key);
    bool ok = s && !strcmp(s, want);
    if (!ok) fprintf(stderr, "  %s = '%s', want '%s'\n", key, s ? s : "(missing)", want);
    free(s);
    return ok;
}

/* Tensor `name` has this shape (ne[3] ignored) and type. */
static void check_tensor(const gguf_file *f, const char *name, int n_dims, int64_t ne0, int64_t ne1, int64_t ne2,
                         cs_type type) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    CHECKF(t != NULL, "missing tensor %s", name);
    if (!t) return;
    CHECKF((int)t->n_dims == n_dims && t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == ne2,
           "%s: dims %u {%lld,%lld,%lld}, want %d {%lld,%lld,%lld}", name, t->n_dims, (long long)t->ne[0],
           (long long)t->ne[1], (long long)t->ne[2], n_dims, (long long)ne0, (long long)ne1, (long long)ne2);
    CHECKF(t->type == type, "%s: type %s, want %s", name, cs_type_name(t->type), cs_type_name(type));
}

/* Whole tensor dequantized to floats (malloc'd). */
static float *tensor_f32(const gguf_file *f, const char *name, int64_t *n_out) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    CHECKF(t != NULL, "missing tensor %s", name);
    if (!t) return NULL;
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3], n = t->ne[0];
    float *out = malloc((size_t)(rows * n) * sizeof(float));
    size_t rb = cs_row_size(t->type, n);
    for (int64_t r = 0; r < rows; r++) cs_dequantize_row(t->type, (const char *)t->data + r * rb, out + r * n, n);
    if (n_out) *n_out = rows * n;
    return out;
}

static uint8_t *read_file(const char *path, size_t *n) {
    FILE *fp = fopen(path, "rb");
    if (!fp) return NULL;
    fseek(fp, 0, SEEK_END);
    long sz = ftell(fp);
    fseek(fp, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    if (fread(b, 1, (size_t)sz, fp) != (size_t)sz) sz = 0;
    fclose(fp);
    *n = (size_t)sz;
    return b;
}

static bool same_file(const char *a, const char *b) {
    size_t na, nb;
    uint8_t *x = read_file(a, &na), *y = read_file(b, &nb);
    bool same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

static bool file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

/* ---- every preset ------------------------------------------------------------ */

static void test_tiny_presets(void) {
    const char *p = path_in_dir("t.gguf");
    gguf_file *f;

    CHECK(mk(p, "tiny-qwen2", NULL, NULL, 1, NULL) == 0);
    if ((f = open_ok(p))) {
        CHECK(str_is(f, "general.architecture", "qwen2"));
        CHECK(get_i(f, "qwen2.block_count") == 3);
        CHECK(get_i(f, "qwen2.attention.head_count_kv") == 2);
        CHECK(get_i(f, "general.file_type") == 0);
        CHECK(gguf_find_tensor(f, "output.weight") == NULL);
        check_tensor(f, "token_embd.weight", 2, 256, 512, 1, CS_TYPE_F32);
        check_tensor(f, "blk.2.attn_k.weight", 2, 256, 128, 1, CS_TYPE_F32);
        check_tensor(f, "blk.2.attn_v.bias", 1, 128, 1, 1, CS_TYPE_F32);
        CHECK(gguf_n_tensors(f) == 38);
        CHECK(str_is(f, "tokenizer.ggml.pre", "deepseek-r1-qwen"));
        gguf_close(f);
    }

    CHECK(mk(p, "tiny-llama", "q8_0", NULL, 1, NULL) == 0);
    if ((f = open_ok(p))) {
        CHECK(str_is(f, "general.architecture", "llama"));
        CHECK(get_i(f, "llama.vocab_size") == 512);
        CHECK(get_i(f, "llama.rope.dimension_count") == 64);
        CHECK_NEAR(get_f(f, "llama.rope.freq_base"), 500000, 0);
        CHECK_NEAR(get_f(f, "llama.attention.layer_norm_rms_epsilon"), 1e-5, 1e-9);
        CHECK(get_i(f, "general.file_type") == 7);
        check_tensor(f, "rope_freqs.weight", 1, 32, 1, 1, CS_TYPE_F32);
        check_tensor(f, "output.weight", 2, 256, 512, 1, CS_TYPE_Q8_0);
        check_tensor(f, "blk.0.ffn_norm.weight", 1, 256, 1, 1, CS_TYPE_F32);
        CHECK(gguf_find_tensor(f, "blk.0.attn_q.bias") == NULL);
        CHECK(str_is(f, "tokenizer.ggml.pre", "llama-bpe"));
        gguf_close(f);
    }

    CHECK(mk(p, "tiny-v3", "f16", NULL, 1, NULL) == 0);
    if ((f = open_ok(p))) {
        CHECK(str_is(f, "general.architecture", "deepseek2"));
        CHECK(get_i(f, "deepseek2.attention.q_lora_rank") == 96);
        CHECK(get_i(f, "deepseek2.expert_group_count") == 4);
        CHECK(get_i(f, "deepseek2.expert_group_used_count") == 2);
        CHECK(get_i(f, "deepseek2.expert_gating_func") == 2);
        CHECK(str_is(f, "deepseek2.rope.scaling.type", "yarn"));
        check_tensor(f, "blk.0.attn_q_a.weight", 2, 256, 96, 1, CS_TYPE_F16);
        check_tensor(f, "blk.0.attn_q_a_norm.weight", 1, 96, 1, 1, CS_TYPE_F32);
        check_tensor(f, "blk.0.ffn_gate.weight", 2, 256, 512, 1, CS_TYPE_F16);
        check_tensor(f, "blk.1.ffn_gate_inp.weight", 2, 256, 16, 1, CS_TYPE_F32);
        check_tensor(f, "blk.1.exp_probs_b.bias", 1, 16, 1, 1, CS_TYPE_F32);
        check_tensor(f, "blk.1.ffn_down_exps.weight", 3, 64, 256, 16, CS_TYPE_F16);
        check_tensor(f, "blk.2.ffn_up_shexp.weight", 2, 256, 64, 1, CS_TYPE_F16);
        CHECK(gguf_find_tensor(f, "blk.0.ffn_gate_inp.weight") == NULL);
        CHECK(str_is(f, "tokenizer.ggml.pre", "deepseek-v3"));
        gguf_close(f);
    }

    CHECK(mk(p, "tiny-v2-lite", "bf16", NULL, 1, NULL) == 0);
    if ((f = open_ok(p))) {
        CHECK(!gguf_get(f, "deepseek2.attention.q_lora_rank"));
        CHECK(get_i(f, "deepseek2.expert_gating_func") == 1);
        CHECK(get_i(f, "deepseek2.expert_group_count") == 1);
        check_tensor(f, "blk.0.attn_q.weight", 2, 256, 4 * 48, 1, CS_TYPE_BF16);
        check_tensor(f, "blk.1.ffn_gate_shexp.weight", 2, 256, 128, 1, CS_TYPE_BF16);
        CHECK(gguf_find_tensor(f, "blk.1.exp_probs_b.bias") == NULL);
        CHECK(gguf_get_bool(f, "deepseek2.expert_weights_norm", &(bool){true}));
        gguf_close(f);
    }
    unlink(p);
}

static void test_real_presets(void) {
    const char *p = path_in_dir("r.gguf");
    gguf_file *f;
    {
        const char *s[] = {"n_layer=1", "n_vocab=1024", NULL};
        CHECK(mk(p, "qwen2-1.5b", "q4_k_m", NULL, 1, s) == 0);
        if ((f = open_ok(p))) {
            CHECK(get_i(f, "qwen2.embedding_length") == 1536);
            CHECK(get_i(f, "qwen2.attention.head_count") == 12);
            CHECK(get_i(f, "qwen2.attention.head_count_kv") == 2);
            CHECK(get_i(f, "qwen2.context_length") == 32768);
            CHECK_NEAR(get_f(f, "qwen2.rope.freq_base"), 1e6, 0);
            CHECK(get_i(f, "general.file_type") == 15);
            CHECK(gguf_find_tensor(f, "output.weight") == NULL);
            check_tensor(f, "token_embd.weight", 2, 1536, 1024, 1, CS_TYPE_Q6_K); /* tied: the output head's type */
            check_tensor(f, "blk.0.attn_k.weight", 2, 1536, 256, 1, CS_TYPE_Q4_K);
            check_tensor(f, "blk.0.attn_k.bias", 1, 256, 1, 1, CS_TYPE_F32);
            check_tensor(f, "blk.0.attn_v.weight", 2, 1536, 256, 1, CS_TYPE_Q6_K);
            check_tensor(f, "blk.0.ffn_down.weight", 2, 8960, 1536, 1, CS_TYPE_Q6_K);
            check_tensor(f, "blk.0.ffn_up.weight", 2, 1536, 8960, 1, CS_TYPE_Q4_K);
            check_tensor(f, "blk.0.attn_norm.weight", 1, 1536, 1, 1, CS_TYPE_F32);
            gguf_close(f);
        }
    }
    {
        const char *s[] = {"n_layer=1", "n_vocab=1024", "n_ff=512", NULL};
        CHECK(mk(p, "qwen2-7b", "q8_0", NULL, 1, s) == 0);
        if ((f = open_ok(p))) {
            CHECK(get_i(f, "qwen2.embedding_length") == 3584);
            CHECK(get_i(f, "qwen2.attention.head_count") == 28);
            CHECK(get_i(f, "qwen2.attention.head_count_kv") == 4);
            check_tensor(f, "output.weight", 2, 3584, 1024, 1, CS_TYPE_Q8_0);
            check_tensor(f, "blk.0.attn_k.weight", 2, 3584, 512, 1, CS_TYPE_Q8_0);
            gguf_close(f);
        }
    }
    {
        const char *s[] = {"n_layer=1", "n_vocab=1024", "n_ff=512", NULL};
        CHECK(mk(p, "llama-8b", "q4_0", NULL, 1, s) == 0);
        if ((f = open_ok(p))) {
            CHECK(get_i(f, "llama.embedding_length") == 4096);
            CHECK(get_i(f, "llama.attention.head_count_kv") == 8);
            CHECK(get_i(f, "llama.rope.dimension_count") == 128);
            CHECK(get_i(f, "general.file_type") == 2);
            check_tensor(f, "blk.0.attn_k.weight", 2, 4096, 1024, 1, CS_TYPE_Q4_0);
            check_tensor(f, "rope_freqs.weight", 1, 64, 1, 1, CS_TYPE_F32);
            float *rf = tensor_f32(f, "rope_freqs.weight", NULL);
            if (rf) { /* highest frequencies untouched, lowest divided by the factor 8 */
                CHECK_NEAR(rf[0], 1.0, 0);
                CHECK_NEAR(rf[63], 8.0, 1e-6);
                CHECK(rf[40] >= 1.0f && rf[40] <= 8.0f);
            }
            free(rf);
            gguf_close(f);
        }
    }
    {
        /* v2-lite with real attention shapes and expert FFN, 4 experts to stay small */
        const char *s[] = {"n_layer=2", "n_vocab=1024", "n_ff=512", "n_expert=4", "n_expert_used=2", NULL};
        CHECK(mk(p, "v2-lite", "q4_k_m", "c", 1, s) == 0);
        if ((f = open_ok(p))) {
            CHECK(get_i(f, "deepseek2.embedding_length") == 2048);
            CHECK(get_i(f, "deepseek2.attention.head_count") == 16);
            CHECK(get_i(f, "deepseek2.attention.head_count_kv") == 1);
            CHECK(get_i(f, "deepseek2.attention.key_length") == 576);
            CHECK(get_i(f, "deepseek2.attention.value_length") == 512);
            CHECK(get_i(f, "deepseek2.attention.key_length_mla") == 192);
            CHECK(get_i(f, "deepseek2.attention.value_length_mla") == 128);
            CHECK(get_i(f, "deepseek2.expert_shared_count") == 2);
            CHECK_NEAR(get_f(f, "deepseek2.rope.scaling.yarn_log_multiplier"), 0.0707, 1e-6);
            CHECK(get_i(f, "deepseek2.rope.scaling.original_context_length") == 4096);
            CHECK(gguf_find_tensor(f, "blk.0.attn_kv_b.weight") == NULL);
            check_tensor(f, "blk.0.attn_q.weight", 2, 2048, 16 * 192, 1, CS_TYPE_Q4_K);
            check_tensor(f, "blk.0.attn_k_b.weight", 3, 128, 512, 16, CS_TYPE_Q5_0); /* 128 % 256: fallback */
            check_tensor(f, "blk.0.attn_v_b.weight", 3, 512, 128, 16, CS_TYPE_Q4_K);
            check_tensor(f, "blk.0.attn_kv_a_mqa.weight", 2, 2048, 576, 1, CS_TYPE_Q4_K);
            check_tensor(f, "blk.1.ffn_gate_exps.weight", 3, 2048, 1408, 4, CS_TYPE_Q4_K);
            check_tensor(f, "blk.1.ffn_down_exps.weight", 3, 1408, 2048, 4, CS_TYPE_Q8_0); /* Q6_K, 1408 % 256 */
            check_tensor(f, "blk.1.ffn_gate_shexp.weight", 2, 2048, 2816, 1, CS_TYPE_Q4_K);
            check_tensor(f, "blk.1.ffn_gate_inp.weight", 2, 2048, 4, 1, CS_TYPE_F32);
            check_tensor(f, "output.weight", 2, 2048, 1024, 1, CS_TYPE_Q6_K);
            CHECK(str_is(f, "tokenizer.ggml.pre", "deepseek-llm"));
            gguf_close(f);
        }
    }
    {
        /* v3 structure (dense lead, MoE, MTP block) at a small width */
        const char *s[] = {"n_layer=4",  "n_vocab=1024",  "n_embd=512", "n_head=8",
                           "n_ff=512",   "n_expert=16",   "n_ff_exp=256", NULL};
        CHECK(mk(p, "v3", "bf16", "b", 1, s) == 0);
        if ((f = open_ok(p))) {
            CHECK(get_i(f, "deepseek2.block_count") == 5);
            CHECK(get_i(f, "deepseek2.nextn_predict_layers") == 1);
            CHECK(get_i(f, "deepseek2.leading_dense_block_count") == 3);
            CHECK(get_i(f, "deepseek2.attention.q_lora_rank") == 1536);
            CHECK(get_i(f, "deepseek2.expert_group_count") == 8);
            CHECK(get_i(f, "deepseek2.expert_group_used_count") == 4);
            CHECK(get_i(f, "deepseek2.expert_used_count") == 8);
            CHECK(get_i(f, "deepseek2.attention.head_count_kv") == 8);
            CHECK(get_i(f, "deepseek2.attention.key_length") == 192);
            CHECK_NEAR(get_f(f, "deepseek2.expert_weights_scale"), 2.5, 0);
            check_tensor(f, "blk.2.ffn_gate.weight", 2, 512, 512, 1, CS_TYPE_BF16);
            check_tensor(f, "blk.3.ffn_gate_exps.weight", 3, 512, 256, 16, CS_TYPE_BF16);
            check_tensor(f, "blk.3.exp_probs_b.bias", 1, 16, 1, 1, CS_TYPE_F32);
            check_tensor(f, "blk.0.attn_kv_b.weight", 2, 512, 8 * 256, 1, CS_TYPE_BF16);
            check_tensor(f, "blk.0.attn_k_b.weight", 2, 128, 8 * 512, 1, CS_TYPE_BF16);
            check_tensor(f, "blk.0.attn_v_b.weight", 2, 512, 8 * 128, 1, CS_TYPE_BF16);
            check_tensor(f, "blk.4.ffn_down_exps.weight", 3, 256, 512, 16, CS_TYPE_BF16);
            check_tensor(f, "blk.4.nextn.eh_proj.weight", 2, 1024, 512, 1, CS_TYPE_BF16);
            check_tensor(f, "blk.4.nextn.enorm.weight", 1, 512, 1, 1, CS_TYPE_F32);
            check_tensor(f, "blk.4.nextn.hnorm.weight", 1, 512, 1, 1, CS_TYPE_F32);
            check_tensor(f, "blk.4.nextn.shared_head_norm.weight", 1, 512, 1, 1, CS_TYPE_F32);
            CHECK(gguf_find_tensor(f, "blk.3.nextn.eh_proj.weight") == NULL);
            gguf_close(f);
        }
    }
    unlink(p);
}

/* ---- types ------------------------------------------------------------------- */

static double rel_rms(const float *a, const float *ref, int64_t n) {
    double e = 0, r = 0;
    for (int64_t i = 0; i < n; i++) {
        e += ((double)a[i] - ref[i]) * ((double)a[i] - ref[i]);
        r += (double)ref[i] * ref[i];
    }
    return sqrt(e / (r > 0 ? r : 1));
}

static void test_types(void) {
    static const struct {
        const char *type;
        cs_type t;
        int ftype;
        double tol;
    } types[] = {
        {"f16", CS_TYPE_F16, 1, 1e-3},    {"bf16", CS_TYPE_BF16, 32, 6e-3}, {"q8_0", CS_TYPE_Q8_0, 7, 0.01},
        {"q4_0", CS_TYPE_Q4_0, 2, 0.15},  {"q5_0", CS_TYPE_Q5_0, 8, 0.07},  {"q5_1", CS_TYPE_Q5_1, 9, 0.07},
        {"q4_k", CS_TYPE_Q4_K, 14, 0.15}, {"q5_k", CS_TYPE_Q5_K, 16, 0.07}, {"q6_k", CS_TYPE_Q6_K, 18, 0.035},
    };
    const char *ref = path_in_dir("ref.gguf"), *p = path_in_dir("ty.gguf");
    CHECK(mk(ref, "tiny-llama", "f32", NULL, 5, NULL) == 0);
    gguf_file *fr = open_ok(ref);
    if (!fr) return;
    static const char *const mats[] = {"blk.1.ffn_up.weight", "blk.2.attn_v.weight", "token_embd.weight",
                                       "output.weight"};
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        CHECKF(mk(p, "tiny-llama", types[i].type, NULL, 5, NULL) == 0, "%s: %s", types[i].type, cs_last_error());
        gguf_file *f = open_ok(p);
        if (!f) continue;
        CHECK(get_i(f, "general.file_type") == types[i].ftype);
        check_tensor(f, "blk.0.attn_norm.weight", 1, 256, 1, 1, CS_TYPE_F32);
        check_tensor(f, "rope_freqs.weight", 1, 32, 1, 1, CS_TYPE_F32);
        for (size_t m = 0; m < sizeof mats / sizeof mats[0]; m++) {
            const gguf_tensor *t = gguf_find_tensor(f, mats[m]);
            CHECKF(t && t->type == types[i].t, "%s %s", types[i].type, mats[m]);
            int64_t n1 = 0, n2 = 0;
            float *a = tensor_f32(f, mats[m], &n1), *b = tensor_f32(fr, mats[m], &n2);
            if (a && b && n1 == n2) {
                double e = rel_rms(a, b, n1);
                CHECKF(e <= types[i].tol, "%s %s: relative rms error %g > %g", types[i].type, mats[m], e, types[i].tol);
            }
            free(a);
            free(b);
        }
        gguf_close(f);
    }
    gguf_close(fr);
    unlink(ref);
    unlink(p);
}

static void test_quant_mix_rules(void) {
    cs_mix_model dense = {28, 0, true, 0, false}, tied = {28, 0, false, 0, false}, moe = {27, 64, true, 0, false},
                 mix8 = {32, 8, true, 0, false};
    int64_t ne[3] = {1536, 256, 1};
#define T(mix, name, nd, ne0, m) cs_mix_tensor_type(mix, name, nd, (ne[0] = (ne0), ne), m)
    CHECK(T("q4_k_m", "output.weight", 2, 1536, &dense) == CS_TYPE_Q6_K);
    CHECK(T("q4_k_m", "output.weight", 2, 96, &dense) == CS_TYPE_Q8_0);
    CHECK(T("q4_k_m", "token_embd.weight", 2, 1536, &tied) == CS_TYPE_Q6_K);
    CHECK(T("q4_k_m", "token_embd.weight", 2, 1536, &dense) == CS_TYPE_Q4_K);
    CHECK(T("q4_k_m", "blk.0.attn_v.weight", 2, 1536, &dense) == CS_TYPE_Q6_K);  /* first eighth */
    CHECK(T("q4_k_m", "blk.3.attn_v.weight", 2, 1536, &dense) == CS_TYPE_Q4_K);
    CHECK(T("q4_k_m", "blk.5.attn_v.weight", 2, 1536, &dense) == CS_TYPE_Q6_K);  /* (5-3)%3 == 2 */
    CHECK(T("q4_k_m", "blk.24.attn_v.weight", 2, 1536, &dense) == CS_TYPE_Q6_K); /* last eighth */
    CHECK(T("q4_k_m", "blk.23.attn_v.weight", 2, 1536, &dense) == CS_TYPE_Q6_K); /* (23-3)%3 == 2 */
    CHECK(T("q4_k_m", "blk.22.attn_v.weight", 2, 1536, &dense) == CS_TYPE_Q4_K);
    CHECK(T("q4_k_m", "blk.5.ffn_down.weight", 2, 8960, &dense) == CS_TYPE_Q6_K);
    CHECK(T("q4_k_m", "blk.4.ffn_down.weight", 2, 8960, &dense) == CS_TYPE_Q4_K);
    CHECK(T("q5_k_m", "blk.4.ffn_down.weight", 2, 8960, &dense) == CS_TYPE_Q5_K);
    CHECK(T("q5_k_m", "blk.5.ffn_down.weight", 2, 8960, &dense) == CS_TYPE_Q6_K);
    CHECK(T("q4_k_m", "blk.4.attn_q.weight", 2, 1536, &dense) == CS_TYPE_Q4_K);
    CHECK(T("q4_k_m", "blk.0.attn_norm.weight", 1, 1536, &dense) == CS_TYPE_F32);
    CHECK(T("q8_0", "blk.0.attn_q.bias", 1, 1536, &dense) == CS_TYPE_F32);
    CHECK(T("f16", "blk.0.attn_q.weight", 2, 1536, &dense) == CS_TYPE_F16);
    CHECK(T("f32", "blk.0.attn_q.weight", 2, 1536, &dense) == CS_TYPE_F32);
    /* MoE: layer from the name; kv_b counts as attn_v; routers and norms stay F32 */
    CHECK(T("q4_k_m", "blk.1.ffn_down_exps.weight", 3, 1408, &moe) == CS_TYPE_Q8_0); /* Q6_K, falls back */
    CHECK(T("q4_k_m", "blk.10.ffn_down_exps.weight", 3, 1408, &moe) == CS_TYPE_Q5_0); /* Q4_K, falls back */
    CHECK(T("q4_k_m", "blk.10.ffn_down_shexp.weight", 2, 2816, &moe) == CS_TYPE_Q4_K);
    CHECK(T("q4_k_m", "blk.26.attn_kv_b.weight", 2, 512, &moe) == CS_TYPE_Q6_K);
    CHECK(T("q4_k_m", "blk.10.attn_kv_b.weight", 2, 512, &moe) == CS_TYPE_Q4_K);
    CHECK(T("q4_k_m", "blk.10.attn_k_b.weight", 3, 128, &moe) == CS_TYPE_Q5_0);
    CHECK(T("q4_k_m", "blk.10.ffn_gate_inp.weight", 2, 2048, &moe) == CS_TYPE_F32);
    CHECK(T("q4_k_m", "blk.10.exp_probs_b.bias", 1, 64, &moe) == CS_TYPE_F32);
    CHECK(T("q4_k_m", "blk.10.attn_kv_a_norm.weight", 1, 512, &moe) == CS_TYPE_F32);
    /* fallbacks of the plain types */
    CHECK(T("q5_k", "blk.0.attn_q.weight", 2, 96, &dense) == CS_TYPE_Q5_1);
    CHECK(T("q6_k", "blk.0.attn_q.weight", 2, 64, &dense) == CS_TYPE_Q8_0);
    CHECK(T("q8_0", "blk.0.attn_q.weight", 2, 48, &dense) == CS_TYPE_F16);
    /* 8-expert models */
    CHECK(T("q4_k_m", "blk.9.attn_v.weight", 2, 4096, &mix8) == CS_TYPE_Q8_0);
    CHECK(T("q4_k_m", "blk.9.attn_k.weight", 2, 4096, &mix8) == CS_TYPE_Q8_0);
    CHECK(T("q4_k_m", "blk.9.attn_output.weight", 2, 4096, &mix8) == CS_TYPE_Q5_K);
    CHECK(T("nope", "blk.9.attn_output.weight", 2, 4096, &mix8) == (cs_type)-1);
#undef T
    cs_type base;
    int ft;
    CHECK(cs_mix_parse("Q4_K_M", &base, &ft) && base == CS_TYPE_Q4_K && ft == 15);
    CHECK(!cs_mix_parse("q3_k", &base, &ft));
}

/* ---- against the conformance files (llama.cpp's converter and quantizer) ---- */

/* Every key of ref (but general.name/alignment and the vocabulary) is in f with the same value. */
static void same_keys(const gguf_file *f, const gguf_file *ref, const char *what) {
    for (uint64_t i = 0; i < gguf_n_kv(ref); i++) {
        const gguf_kv *kv = gguf_kv_at(ref, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        if (!strncmp(key, "tokenizer.", 10) || !strcmp(key, "general.name") || !strcmp(key, "general.alignment"))
            continue;
        const gguf_value *v = gguf_get(f, key);
        CHECKF(v != NULL, "%s: missing key %s", what, key);
        if (!v) continue;
        CHECKF(v->type == kv->value.type, "%s: %s has type %d, want %d", what, key, v->type, kv->value.type);
        if (v->type != kv->value.type) continue;
        if (v->type == GGUF_TYPE_STRING)
            CHECKF(v->s.len == kv->value.s.len && !memcmp(v->s.ptr, kv->value.s.ptr, v->s.len), "%s: %s differs", what, key);
        else if (v->type == GGUF_TYPE_FLOAT32 || v->type == GGUF_TYPE_FLOAT64)
            CHECKF(v->f == kv->value.f, "%s: %s = %g, want %g", what, key, v->f, kv->value.f);
        else if (v->type == GGUF_TYPE_INT8 || v->type == GGUF_TYPE_INT16 || v->type == GGUF_TYPE_INT32 || v->type == GGUF_TYPE_INT64)
            CHECKF(v->i == kv->value.i, "%s: %s differs", what, key);
        else if (v->type != GGUF_TYPE_ARRAY)
            CHECKF(v->u == kv->value.u, "%s: %s = %llu, want %llu", what, key, (unsigned long long)v->u,
                   (unsigned long long)kv->value.u);
    }
}

/* The same tensors (names, shapes, types); order too when in_order. */
static void same_tensors(const gguf_file *f, const gguf_file *ref, bool in_order, const char *what) {
    CHECKF(gguf_n_tensors(f) == gguf_n_tensors(ref), "%s: %llu tensors, want %llu", what,
           (unsigned long long)gguf_n_tensors(f), (unsigned long long)gguf_n_tensors(ref));
    for (uint64_t i = 0; i < gguf_n_tensors(ref); i++) {
        const gguf_tensor *r = gguf_tensor_at(ref, i);
        const gguf_tensor *t = in_order && i < gguf_n_tensors(f) ? gguf_tensor_at(f, i) : gguf_find_tensor(f, r->name);
        CHECKF(t && !strcmp(t->name, r->name), "%s: tensor %llu should be %s", what, (unsigned long long)i, r->name);
        if (!t || strcmp(t->name, r->name)) continue;
        CHECKF(t->n_dims == r->n_dims && !memcmp(t->ne, r->ne, sizeof t->ne), "%s: %s shape differs", what, r->name);
        CHECKF(t->type == r->type, "%s: %s is %s, llama.cpp has %s", what, r->name, cs_type_name(t->type),
               cs_type_name(r->type));
    }
}

static void test_like_conformance(void) {
    static const struct {
        const char *conf, *preset, *type;
        const char *set;
        bool in_order; /* llama-quantize sorts the tensors; the converter does not */
    } cases[] = {
        {"qwen2-tiny-f32", "tiny-qwen2", "f32", NULL, true},
        {"qwen2-tiny-q8_0", "tiny-qwen2", "q8_0", NULL, false},
        {"qwen2-tiny-q4_k_m", "tiny-qwen2", "q4_k_m", NULL, false},
        {"llama-tiny-f32", "tiny-llama", "f32", NULL, true},
        {"llama-tiny-q6_k", "tiny-llama", "q6_k", NULL, false},
        {"ds3-tiny-f32", "tiny-v3", "f32", NULL, true},
        {"ds3-tiny-q8_0", "tiny-v3", "q8_0", NULL, true},
        {"ds2lite-4l-f32", "tiny-v2-lite", "f32", "n_layer=4", true},
    };
    char conf_path[512];
    snprintf(conf_path, sizeof conf_path, "%s/conformance/qwen2-tiny-f32.gguf", t_shared_dir());
    if (!file_exists(conf_path)) {
        printf("  (skipped: no conformance files in %s)\n", t_shared_dir());
        return;
    }
    const char *p = path_in_dir("c.gguf");
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        snprintf(conf_path, sizeof conf_path, "%s/conformance/%s.gguf", t_shared_dir(), cases[i].conf);
        const char *sets[] = {cases[i].set, NULL};
        CHECK(mk(p, cases[i].preset, cases[i].type, NULL, 1, sets) == 0);
        gguf_file *ref = gguf_open(conf_path, NULL), *f = open_ok(p);
        CHECKF(ref != NULL, "%s: %s", conf_path, cs_last_error());
        if (ref && f) {
            same_keys(f, ref, cases[i].conf);
            same_tensors(f, ref, cases[i].in_order, cases[i].conf);
            if (!strcmp(cases[i].preset, "tiny-llama")) { /* llama3 rope factors computed alike */
                float *a = tensor_f32(f, "rope_freqs.weight", NULL), *b = tensor_f32(ref, "rope_freqs.weight", NULL);
                for (int k = 0; a && b && k < 32; k++) CHECK_NEAR(a[k], b[k], 1e-5 * b[k]);
                free(a);
                free(b);
            }
        }
        if (f) gguf_close(f);
        if (ref) gguf_close(ref);
    }
    unlink(p);
}

/* ---- seeds ------------------------------------------------------------------- */

static void test_determinism(void) {
    const char *a = path_in_dir("d1.gguf"), *b = path_in_dir("d2.gguf"), *c = path_in_dir("d3.gguf");
    CHECK(mk(a, "tiny-v3", "q4_k_m", "b", 7, NULL) == 0);
    CHECK(mk(b, "tiny-v3", "q4_k_m", "b", 7, NULL) == 0);
    CHECK(same_file(a, b));
    int nt = omp_get_max_threads();
    omp_set_num_threads(nt > 1 ? 1 : 3); /* the thread count does not matter */
    CHECK(mk(b, "tiny-v3", "q4_k_m", "b", 7, NULL) == 0);
    omp_set_num_threads(nt);
    CHECK(same_file(a, b));
    CHECK(mk(c, "tiny-v3", "q4_k_m", "b", 8, NULL) == 0);
    CHECK(!same_file(a, c));

    /* the type does not change the underlying values; other seeds do */
    CHECK(mk(a, "tiny-qwen2", "f32", NULL, 7, NULL) == 0);
    CHECK(mk(b, "tiny-qwen2", "q8_0", NULL, 7, NULL) == 0);
    CHECK(mk(c, "tiny-qwen2", "f32", NULL, 8, NULL) == 0);
    gguf_file *fa = open_ok(a), *fb = open_ok(b), *fc = open_ok(c);
    if (fa && fb && fc) {
        int64_t n = 0;
        float *x = tensor_f32(fa, "blk.1.attn_q.weight", &n), *y = tensor_f32(fb, "blk.1.attn_q.weight", NULL),
              *z = tensor_f32(fc, "blk.1.attn_q.weight", NULL);
        CHECK(rel_rms(y, x, n) < 0.01);
        CHECK(rel_rms(z, x, n) > 1.0);
        /* spreads as documented: N(0, 1/n_in), norms near 1 */
        double s2 = 0;
        for (int64_t i = 0; i < n; i++) s2 += (double)x[i] * x[i];
        CHECK_NEAR(sqrt(s2 / n) * 16.0, 1.0, 0.02);
        free(x);
        free(y);
        free(z);
        float *nw = tensor_f32(fa, "blk.0.attn_norm.weight", &n);
        double mean = 0;
        for (int64_t i = 0; i < n; i++) mean += nw[i];
        CHECK_NEAR(mean / n, 1.0, 0.03);
        free(nw);
    }
    if (fa) gguf_close(fa);
    if (fb) gguf_close(fb);
    if (fc) gguf_close(fc);
    unlink(a);
    unlink(b);
    unlink(c);
}

/* ---- MLA layouts ----------------------------------------------------------- */

static void test_layouts(void) {
    const char *pa = path_in_dir("la.gguf"), *pb = path_in_dir("lb.gguf"), *pc = path_in_dir("lc.gguf");
    CHECK(mk(pa, "tiny-v3", "f32", "a", 3, NULL) == 0);
    CHECK(mk(pb, "tiny-v3", "f32", "b", 3, NULL) == 0);
    CHECK(mk(pc, "tiny-v3", "f32", "c", 3, NULL) == 0);
    gguf_file *fa = open_ok(pa), *fb = open_ok(pb), *fc = open_ok(pc);
    if (!fa || !fb || !fc) goto out;
    const int H = 4, kvl = 64, nope = 32, v = 32;
    CHECK(get_i(fa, "deepseek2.attention.head_count_kv") == 4);
    CHECK(get_i(fb, "deepseek2.attention.head_count_kv") == 4);
    CHECK(get_i(fc, "deepseek2.attention.head_count_kv") == 1);
    CHECK(get_i(fc, "deepseek2.attention.key_length") == kvl + 16);
    CHECK(get_i(fc, "deepseek2.attention.value_length") == kvl);
    CHECK(gguf_find_tensor(fa, "blk.0.attn_k_b.weight") == NULL);
    CHECK(gguf_find_tensor(fc, "blk.0.attn_kv_b.weight") == NULL);
    check_tensor(fb, "blk.1.attn_k_b.weight", 2, nope, H * kvl, 1, CS_TYPE_F32);
    check_tensor(fb, "blk.1.attn_v_b.weight", 2, kvl, H * v, 1, CS_TYPE_F32);
    check_tensor(fc, "blk.1.attn_k_b.weight", 3, nope, kvl, H, CS_TYPE_F32);
    check_tensor(fc, "blk.1.attn_v_b.weight", 3, kvl, v, H, CS_TYPE_F32);
    for (int l = 0; l < 3; l++) {
        char kvn[64], kbn[64], vbn[64];
        snprintf(kvn, sizeof kvn, "blk.%d.attn_kv_b.weight", l);
        snprintf(kbn, sizeof kbn, "blk.%d.attn_k_b.weight", l);
        snprintf(vbn, sizeof vbn, "blk.%d.attn_v_b.weight", l);
        float *kv = tensor_f32(fa, kvn, NULL), *kv2 = tensor_f32(fb, kvn, NULL);
        float *kb[2] = {tensor_f32(fb, kbn, NULL), tensor_f32(fc, kbn, NULL)};
        float *vb[2] = {tensor_f32(fb, vbn, NULL), tensor_f32(fc, vbn, NULL)};
        if (!kv || !kv2 || !kb[0] || !kb[1] || !vb[0] || !vb[1]) continue;
        CHECK(!memcmp(kv, kv2, sizeof(float) * (size_t)(H * (nope + v) * kvl)));
        int bad = 0;
        for (int s = 0; s < 2; s++)
            for (int h = 0; h < H; h++)
                for (int c = 0; c < kvl; c++) {
                    for (int d = 0; d < nope; d++)
                        bad += kb[s][((size_t)h * kvl + c) * nope + d] != kv[((size_t)h * (nope + v) + d) * kvl + c];
                    for (int j = 0; j < v; j++)
                        bad += vb[s][((size_t)h * v + j) * kvl + c] != kv[((size_t)h * (nope + v) + nope + j) * kvl + c];
                }
        CHECKF(bad == 0, "layer %d: %d k_b/v_b values differ from kv_b", l, bad);
        free(kv);
        free(kv2);
        for (int s = 0; s < 2; s++) {
            free(kb[s]);
            free(vb[s]);
        }
    }
    /* everything else is the same in all layouts */
    const gguf_tensor *qa = gguf_find_tensor(fa, "blk.2.attn_q_b.weight"), *qc = gguf_find_tensor(fc, "blk.2.attn_q_b.weight");
    CHECK(qa && qc && qa->nbytes == qc->nbytes && !memcmp(qa->data, qc->data, qa->nbytes));
    const gguf_tensor *ea = gguf_find_tensor(fa, "blk.2.ffn_up_exps.weight"), *ec = gguf_find_tensor(fc, "blk.2.ffn_up_exps.weight");
    CHECK(ea && ec && ea->nbytes == ec->nbytes && !memcmp(ea->data, ec->data, ea->nbytes));
out:
    if (fa) gguf_close(fa);
    if (fb) gguf_close(fb);
    if (fc) gguf_close(fc);
    unlink(pa);
    unlink(pb);
    unlink(pc);
}

/* ---- errors ------------------------------------------------------------------ */

static void expect_error(const char *preset, const char *type, const char *layout, const char *set, const char *script,
                         const char *needle) {
    const char *p = path_in_dir("err.gguf");
    unlink(p);
    cs_mkmodel_params prm;
    memset(&prm, 0, sizeof prm);
    const char *sets[] = {set, NULL};
    prm.preset = preset;
    prm.type = type;
    prm.layout = layout;
    prm.set = sets;
    prm.script = script;
    prm.out_path = p;
    int rc = cs_mkmodel(&prm);
    CHECKF(rc != 0, "%s %s: should fail", preset ? preset : "(script)", set ? set : "");
    CHECKF(rc == 0 || strstr(cs_last_error(), needle), "error '%s' should mention '%s'", cs_last_error(), needle);
    CHECKF(!file_exists(p), "%s left behind", p);
}

static void test_errors(void) {
    expect_error("tiny-llama", NULL, NULL, "foo=1", NULL, "unknown key 'foo'");
    expect_error("tiny-llama", NULL, NULL, "n_layer", NULL, "key=value");
    expect_error("tiny-llama", NULL, NULL, "n_layer=abc", NULL, "bad value 'abc'");
    expect_error("tiny-llama", NULL, NULL, "n_layer=0", NULL, "n_layer");
    expect_error("tiny-llama", NULL, NULL, "n_layer=3x", NULL, "bad value");
    expect_error("tiny-llama", NULL, NULL, "eps=nan", NULL, "eps");
    expect_error("tiny-llama", NULL, NULL, "n_vocab=100", NULL, "n_vocab");
    expect_error("tiny-llama", NULL, NULL, "n_expert=4", NULL, "does not apply");
    expect_error("tiny-v3", NULL, NULL, "tied=1", NULL, "does not apply");
    expect_error("tiny-v3", NULL, NULL, "gating_func=relu", NULL, "softmax|sigmoid");
    expect_error("tiny-v3", NULL, NULL, "n_expert_used=17", NULL, "n_expert_used");
    expect_error("tiny-v3", NULL, NULL, "n_group=3", NULL, "n_group");
    expect_error("tiny-v3", NULL, NULL, "qk_rope=15", NULL, "even");
    expect_error("tiny-qwen2", NULL, NULL, "n_head=3", NULL, "multiple of n_head");
    expect_error("tiny-qwen2", NULL, NULL, "n_head_kv=3", NULL, "n_head_kv");
    expect_error("tiny-qwen", NULL, NULL, NULL, NULL, "unknown preset 'tiny-qwen'");
    expect_error("tiny-qwen2", "q3_k", NULL, NULL, NULL, "unknown type 'q3_k'");
    expect_error("tiny-v3", NULL, "d", NULL, NULL, "layout");
    expect_error("tiny-llama", NULL, "c", NULL, NULL, "deepseek2");
    expect_error(NULL, "q8_0", NULL, NULL, "hi", "f32");
    expect_error(NULL, NULL, NULL, NULL, NULL, "preset");

    /* the command: one line "cseek: mkmodel: ..." and a non-zero status */
    char cmd[1024], out[4096] = {0};
    const char *errf = path_in_dir("stderr.txt");
    snprintf(cmd, sizeof cmd, "%s mkmodel --preset tiny-llama --set bogus=1 -o %s 2>%s", t_cseek_bin(),
             path_in_dir("x.gguf"), errf);
    int rc = system(cmd);
    CHECK(rc != 0 && rc != -1);
    size_t n = 0;
    uint8_t *e = read_file(errf, &n);
    if (e) {
        memcpy(out, e, n < sizeof out - 1 ? n : sizeof out - 1);
        free(e);
    }
    CHECKF(!strncmp(out, "cseek: mkmodel: ", 16) && strstr(out, "bogus") && strchr(out, '\n') == out + strlen(out) - 1,
           "stderr: %s", out);
    snprintf(cmd, sizeof cmd, "%s mkmodel --preset tiny-llama 2>/dev/null", t_cseek_bin());
    CHECK(WEXITSTATUS(system(cmd)) == 2);
    snprintf(cmd, sizeof cmd, "%s mkmodel --help > %s", t_cseek_bin(), errf);
    CHECK(system(cmd) == 0);
    e = read_file(errf, &n);
    CHECK(e && strstr((char *)e, "tiny-v2-lite") && strstr((char *)e, "n_expert_used") && strstr((char *)e, "q4_k_m"));
    free(e);
    snprintf(cmd, sizeof cmd, "%s mkmodel --preset tiny-qwen2 --set n_layer=1 --type q8_0 --seed 3 -o %s",
             t_cseek_bin(), path_in_dir("cli.gguf"));
    CHECK(system(cmd) == 0);
    gguf_file *f = open_ok(path_in_dir("cli.gguf"));
    if (f) {
        CHECK(get_i(f, "qwen2.block_count") == 1);
        gguf_close(f);
    }
    unlink(path_in_dir("cli.gguf"));
    unlink(errf);
}

/* ---- vocabulary ----------------------------------------------------------------- */

static int find_token(const gguf_value *toks, const char *s, size_t len) {
    for (uint64_t i = 0; i < toks->arr.n; i++)
        if (toks->arr.strs[i].len == len && !memcmp(toks->arr.strs[i].ptr, s, len)) return (int)i;
    return -1;
}

static void test_vocab(void) {
    const char *p = path_in_dir("v.gguf");
    const char *sets[] = {"n_vocab=4000", "n_layer=1", NULL};
    CHECK(mk(p, "tiny-qwen2", NULL, NULL, 1, sets) == 0);
    gguf_file *f = open_ok(p);
    if (!f) return;
    const gguf_value *toks = gguf_get(f, "tokenizer.ggml.tokens"), *types = gguf_get(f, "tokenizer.ggml.token_type");
    const gguf_value *merges = gguf_get(f, "tokenizer.ggml.merges");
    CHECK(toks && types && merges);
    if (!toks || !types || !merges) goto out;
    CHECK(toks->arr.n == 4000 && types->arr.n == 4000);
    CHECK(str_is(f, "tokenizer.ggml.model", "gpt2"));
    /* GPT-2 byte alphabet in byte order */
    CHECK(toks->arr.strs[65].len == 1 && toks->arr.strs[65].ptr[0] == 'A');
    CHECK(toks->arr.strs[32].len == 2 && !memcmp(toks->arr.strs[32].ptr, "\u0120", 2)); /* Ġ */
    CHECK(toks->arr.strs[10].len == 2 && !memcmp(toks->arr.strs[10].ptr, "\u010A", 2)); /* Ċ */
    CHECK(toks->arr.strs[0].len == 2 && !memcmp(toks->arr.strs[0].ptr, "\u0100", 2));   /* Ā */
    /* unique strings */
    int dups = 0;
    for (uint64_t i = 0; i < toks->arr.n && i < 800; i++)
        dups += find_token(toks, toks->arr.strs[i].ptr, toks->arr.strs[i].len) != (int)i;
    CHECK(dups == 0);
    /* merges: a few hundred, both sides and the result in the vocabulary */
    CHECKF(merges->arr.n >= 250 && merges->arr.n <= 600, "%llu merges", (unsigned long long)merges->arr.n);
    int bad = 0;
    for (uint64_t i = 0; i < merges->arr.n; i++) {
        const gguf_str *m = &merges->arr.strs[i];
        const char *sp = memchr(m->ptr, ' ', m->len);
        if (!sp) {
            bad++;
            continue;
        }
        size_t ll = (size_t)(sp - m->ptr), rl = m->len - ll - 1;
        char joined[256];
        memcpy(joined, m->ptr, ll);
        memcpy(joined + ll, sp + 1, rl);
        bad += find_token(toks, m->ptr, ll) < 0 || find_token(toks, sp + 1, rl) < 0 || find_token(toks, joined, ll + rl) < 0;
    }
    CHECK(bad == 0);
    CHECK(find_token(toks, "\u0120the", 4) >= 256); /* " the" is a merged token */
    /* special tokens */
    int64_t bos = get_i(f, "tokenizer.ggml.bos_token_id"), eos = get_i(f, "tokenizer.ggml.eos_token_id");
    CHECK(bos == find_token(toks, "<\uFF5Cbegin\u2581of\u2581sentence\uFF5C>", strlen("<\uFF5Cbegin\u2581of\u2581sentence\uFF5C>")));
    CHECK(eos == find_token(toks, "<\uFF5Cend\u2581of\u2581sentence\uFF5C>", strlen("<\uFF5Cend\u2581of\u2581sentence\uFF5C>")));
    int64_t tt;
    CHECK(gguf_arr_i64(types, (uint64_t)bos, &tt) && tt == 3);
    int user = find_token(toks, "<\uFF5CUser\uFF5C>", strlen("<\uFF5CUser\uFF5C>"));
    int asst = find_token(toks, "<\uFF5CAssistant\uFF5C>", strlen("<\uFF5CAssistant\uFF5C>"));
    int pad = find_token(toks, "<\uFF5C\u2581pad\u2581\uFF5C>", strlen("<\uFF5C\u2581pad\u2581\uFF5C>"));
    int think = find_token(toks, "<think>", 7), ethink = find_token(toks, "</think>", 8);
    CHECK(user > 0 && asst > 0 && pad > 0 && think > 0 && ethink > 0);
    CHECK(gguf_arr_i64(types, (uint64_t)user, &tt) && tt == 3);
    CHECK(gguf_arr_i64(types, (uint64_t)asst, &tt) && tt == 3);
    CHECK(gguf_arr_i64(types, (uint64_t)think, &tt) && tt == 4);
    CHECK(gguf_arr_i64(types, (uint64_t)ethink, &tt) && tt == 4);
    CHECK(gguf_arr_i64(types, 3999, &tt) && tt == 5);
    CHECK(toks->arr.strs[3999].len == 9 && !memcmp(toks->arr.strs[3999].ptr, "[PAD3999]", 9));
    bool add_bos = false;
    CHECK(gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &add_bos) && add_bos);
    char *tmpl = gguf_get_str_dup(f, "tokenizer.chat_template");
    CHECK(tmpl && strstr(tmpl, "<\uFF5CUser\uFF5C>") && strstr(tmpl, "<\uFF5CAssistant\uFF5C>") &&
          strstr(tmpl, "content.split('</think>')[-1]") && strstr(tmpl, "<\uFF5CAssistant\uFF5C><think>\\n"));
    free(tmpl);
out:
    gguf_close(f);
    unlink(p);
}

/* ---- scripted models ----------------------------------------------------------- */

static void test_script(void) {
    const char *p = path_in_dir("s.gguf");
    const char *text = "<think>\nLet me see.</think>The answer is 42.";
    static const char *const pieces[] = {"<think>", "\nLet", " me", " see.", "</think>", "The", " answer", " is", " 42."};
    const int n_pieces = 9;
    cs_mkmodel_params prm;
    memset(&prm, 0, sizeof prm);
    prm.script = text;
    prm.out_path = p;
    CHECKF(cs_mkmodel(&prm) == 0, "%s", cs_last_error());
    gguf_file *f = open_ok(p);
    if (!f) return;
    CHECK(str_is(f, "general.architecture", "llama"));
    CHECK(str_is(f, "general.name", "cseek-scripted"));
    CHECK(str_is(f, "cseek.script", text));
    bool scripted = false;
    CHECK(gguf_get_bool(f, "cseek.scripted", &scripted) && scripted);
    CHECK(get_i(f, "llama.block_count") == 1);
    CHECK(get_i(f, "llama.embedding_length") == 64);
    const gguf_value *toks = gguf_get(f, "tokenizer.ggml.tokens");
    int64_t n_vocab = toks ? (int64_t)toks->arr.n : 0;
    int64_t eos = get_i(f, "tokenizer.ggml.eos_token_id"), bos = get_i(f, "tokenizer.ggml.bos_token_id");
    int64_t step0 = n_vocab - n_pieces;
    CHECK(get_i(f, "llama.vocab_size") == n_vocab);
    for (int i = 0; toks && i < n_pieces; i++) {
        /* the piece in the byte alphabet: '\n' is "Ċ" */
        char want[32];
        const char *src = pieces[i];
        size_t k = 0;
        for (; *src; src++) {
            if (*src == '\n') {
                memcpy(want + k, "\u010A", 2);
                k += 2;
            } else if (*src == ' ') {
                memcpy(want + k, "\u0120", 2);
                k += 2;
            } else want[k++] = *src;
        }
        const gguf_str *s = &toks->arr.strs[step0 + i];
        CHECKF(s->len == k && !memcmp(s->ptr, want, k), "step %d is '%.*s'", i, (int)s->len, s->ptr);
    }
    check_tensor(f, "output.weight", 2, 64, n_vocab, 1, CS_TYPE_F32);
    gguf_close(f);

    /* greedy decoding through the real forward pass, after different prompts */
    cs_model *m = cs_model_load(p, NULL);
    CHECKF(m != NULL, "load: %s", cs_last_error());
    if (m) {
        static const int32_t prompts[3][3] = {{0, 0, 0}, {100, 7, 300}, {1, 2, 3}};
        for (int pr = 0; pr < 3; pr++) {
            cs_context_params cp;
            cs_context_params_init(&cp);
            cp.n_ctx = 64;
            cp.n_threads = 2;
            cs_context *c = cs_context_new(m, &cp);
            CHECKF(c != NULL, "context: %s", cs_last_error());
            if (!c) break;
            float *logits = malloc(sizeof(float) * (size_t)n_vocab);
            int32_t prompt[3] = {prompts[pr][0], prompts[pr][1], prompts[pr][2]};
            if (pr == 0) prompt[0] = prompt[1] = prompt[2] = (int32_t)bos;
            int rc = cs_eval(c, prompt, 3, logits, false);
            CHECKF(rc == 0, "eval: %s", cs_last_error());
            for (int step = 0; rc == 0 && step <= n_pieces; step++) {
                int32_t best = 0;
                for (int64_t t = 1; t < n_vocab; t++)
                    if (logits[t] > logits[best]) best = (int32_t)t;
                int32_t want = step < n_pieces ? (int32_t)(step0 + step) : (int32_t)eos;
                CHECKF(best == want, "prompt %d step %d: token %d, want %d", pr, step, best, want);
                if (best != want || step == n_pieces) break;
                rc = cs_eval(c, &best, 1, logits, false);
            }
            free(logits);
            cs_context_free(c);
        }
        cs_model_free(m);
    }
    unlink(p);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/cseek-test-mkmodel-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_quant_mix_rules);
    RUN(test_tiny_presets);
    RUN(test_real_presets);
    RUN(test_types);
    RUN(test_like_conformance);
    RUN(test_determinism);
    RUN(test_layouts);
    RUN(test_errors);
    RUN(test_vocab);
    RUN(test_script);
    rmdir(g_dir);
    TEST_END();
}
