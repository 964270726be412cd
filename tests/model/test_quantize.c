/* cseek quantize: the files are llama-quantize's (byte for byte on the
 * conformance models), every tensor gets the type llama.cpp's rules give,
 * metadata is copied with general.file_type set, the weights come back within
 * each type's error bounds, the quantized models compute nearly the F32
 * model's logits, and bad input gives one clean error and leaves no file. */
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cseek.h"
#include "test.h"
#include "cli/harness.h"
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

static bool file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0;
}

static int mk(const char *out, const char *preset, const char *type, const char *const *sets) {
    cs_mkmodel_params p;
    memset(&p, 0, sizeof p);
    p.preset = preset;
    p.type = type;
    p.seed = 3;
    p.set = sets;
    p.out_path = out;
    int rc = cs_mkmodel(&p);
    CHECKF(rc == 0, "mkmodel %s: %s", preset, cs_last_error());
    return rc;
}

static int quantize(const char *in, const char *out, const char *type, int threads, cs_quantize_stats *st) {
    cs_quantize_params p;
    cs_quantize_params_init(&p);
    p.in_path = in;
    p.out_path = out;
    p.type = type;
    p.n_threads = threads;
    return cs_quantize_model(&p, st);
}

static uint8_t *read_all(const char *path, size_t *n) {
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
    size_t na = 0, nb = 0;
    uint8_t *x = read_all(a, &na), *y = read_all(b, &nb);
    bool same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

static cs_type type_of(const gguf_file *f, const char *name) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    CHECKF(t != NULL, "missing tensor %s", name);
    return t ? t->type : (cs_type)-1;
}

#define CHECK_TYPE(f, name, want)                                                                               \
    do {                                                                                                        \
        cs_type got_ = type_of(f, name);                                                                        \
        CHECKF(got_ == (want), "%s: %s is %s, want %s", what, name, cs_type_name(got_), cs_type_name(want)); \
    } while (0)

static int64_t get_i(const gguf_file *f, const char *key) {
    int64_t v = -1;
    CHECKF(gguf_get_i64(f, key, &v), "missing key %s", key);
    return v;
}

/* Every key of src but the two quantize rewrites is in dst with the same value. */
static bool same_value(const gguf_value *a, const gguf_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case GGUF_TYPE_STRING: return a->s.len == b->s.len && !memcmp(a->s.ptr, b->s.ptr, a->s.len);
    case GGUF_TYPE_FLOAT32:
    case GGUF_TYPE_FLOAT64: return a->f == b->f;
    case GGUF_TYPE_INT8:
    case GGUF_TYPE_INT16:
    case GGUF_TYPE_INT32:
    case GGUF_TYPE_INT64: return a->i == b->i;
    case GGUF_TYPE_ARRAY:
        if (a->arr.type != b->arr.type || a->arr.n != b->arr.n) return false;
        if (a->arr.type == GGUF_TYPE_STRING) {
            for (uint64_t i = 0; i < a->arr.n; i++)
                if (a->arr.strs[i].len != b->arr.strs[i].len ||
                    memcmp(a->arr.strs[i].ptr, b->arr.strs[i].ptr, a->arr.strs[i].len))
                    return false;
            return true;
        }
        if (a->arr.type == GGUF_TYPE_ARRAY) return true; /* none in our models */
        return !memcmp(a->arr.data, b->arr.data, a->arr.n * gguf_type_size(a->arr.type));
    default: return a->u == b->u;
    }
}

static void check_metadata(const gguf_file *dst, const gguf_file *src, int ftype, const char *what) {
    for (uint64_t i = 0; i < gguf_n_kv(src); i++) {
        const gguf_kv *kv = gguf_kv_at(src, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        if (!strcmp(key, "general.file_type") || !strcmp(key, "general.quantization_version")) continue;
        const gguf_value *v = gguf_get(dst, key);
        CHECKF(v && same_value(v, &kv->value), "%s: key %s not copied", what, key);
    }
    CHECKF(get_i(dst, "general.file_type") == ftype, "%s: file_type %lld, want %d", what,
           (long long)get_i(dst, "general.file_type"), ftype);
    CHECK(get_i(dst, "general.quantization_version") == 2);
    const gguf_value *fv = gguf_get(dst, "general.file_type");
    CHECK(fv && fv->type == GGUF_TYPE_UINT32);
}

/* Whole tensor as floats (malloc'd). */
static float *tensor_f32(const gguf_file *f, const gguf_tensor *t, int64_t *n_out) {
    int64_t rows = t->ne[1] * t->ne[2] * t->ne[3], n = t->ne[0];
    float *out = malloc((size_t)(rows * n) * sizeof(float));
    size_t rb = cs_row_size(t->type, n);
    for (int64_t r = 0; r < rows; r++) cs_dequantize_row(t->type, (const char *)t->data + r * rb, out + r * n, n);
    *n_out = rows * n;
    (void)f;
    return out;
}

/* Error bounds per stored type: nrmse = rms(error) / rms(weights) on the
 * Gaussian synthetic weights (test_types measures 0.0179 Q6_K, 0.0368 Q5_K,
 * 0.0434 Q5_0, 0.0387 Q5_1 on Gaussian data; the 4-bit types ~0.07-0.09). */
static double nrmse_bound(cs_type t) {
    switch (t) {
    case CS_TYPE_F16: return 1e-3;
    case CS_TYPE_BF16: return 6e-3;
    case CS_TYPE_Q8_0: return 0.006;
    case CS_TYPE_Q6_K: return 0.021;
    case CS_TYPE_Q5_K: return 0.043;
    case CS_TYPE_Q5_1: return 0.045;
    case CS_TYPE_Q5_0: return 0.050;
    case CS_TYPE_Q4_K: return 0.085;
    case CS_TYPE_Q4_0: return 0.10;
    default: return 0;
    }
}

/* Every tensor of q against the F32 source f: types not F32 are within their
 * bound; ggml's test-quantize-fns metric sqrt(sum d^2) / n on each 4096-weight
 * stretch, with the weights scaled to ggml's test data (rms 1.42), <= 0.002 for
 * 4 bits and wider, and its dot-product metric (against ggml's data) <= 0.02.
 * Returns how many tensors were quantized. */
static int check_errors(const gguf_file *q, const gguf_file *f, const char *what) {
    static double xs[4096]; /* ggml's test data */
    if (xs[0] == 0)
        for (int k = 0; k < 4096; k++) xs[k] = 0.1 + 2 * cos((double)k);
    int n_quant = 0;
    for (uint64_t i = 0; i < gguf_n_tensors(q); i++) {
        const gguf_tensor *tq = gguf_tensor_at(q, i), *tf = gguf_find_tensor(f, tq->name);
        CHECKF(tf != NULL, "%s: extra tensor %s", what, tq->name);
        if (!tf) continue;
        CHECKF(tq->n_dims == tf->n_dims && !memcmp(tq->ne, tf->ne, sizeof tq->ne), "%s: %s shape", what, tq->name);
        if (tq->type == tf->type) {
            CHECKF(tq->nbytes == tf->nbytes && !memcmp(tq->data, tf->data, tq->nbytes), "%s: %s not copied", what,
                   tq->name);
            continue;
        }
        n_quant++;
        int64_t n1, n2;
        float *a = tensor_f32(q, tq, &n1), *b = tensor_f32(f, tf, &n2);
        double se = 0, sx = 0;
        for (int64_t k = 0; k < n1; k++) {
            double d = (double)a[k] - b[k];
            se += d * d;
            sx += (double)b[k] * b[k];
        }
        double nr = sqrt(se / (sx > 0 ? sx : 1)), bound = nrmse_bound(tq->type);
        CHECKF(bound > 0 && nr <= bound, "%s: %s (%s): nrmse %.4f > %.4f", what, tq->name, cs_type_name(tq->type), nr,
               bound);
        double scale = 1.42 / sqrt(sx / (double)n1); /* ggml's data: 0.1 + 2 cos(i), rms 1.42 */
        double worst = 0;
        for (int64_t s = 0; s + 4096 <= n1; s += 4096) {
            double e = 0;
            for (int64_t k = s; k < s + 4096; k++) e += ((double)a[k] - b[k]) * ((double)a[k] - b[k]);
            worst = fmax(worst, sqrt(e) * scale / 4096);
        }
        CHECKF(worst <= 0.002, "%s: %s (%s): ggml error metric %.5f > 0.002", what, tq->name,
               cs_type_name(tq->type), worst);
        /* ggml's dot product metric |dot(q, x) - dot(w, x)| / n on the same stretches, x its data */
        double dworst = 0;
        for (int64_t s = 0; s + 4096 <= n1; s += 4096) {
            double dq = 0, df = 0;
            for (int64_t k = 0; k < 4096; k++) {
                dq += a[s + k] * xs[k];
                df += b[s + k] * xs[k];
            }
            dworst = fmax(dworst, fabs(dq - df) * scale / 4096);
        }
        CHECKF(dworst <= 0.02, "%s: %s: dot product error %.4f > 0.02", what, tq->name, dworst);
        free(a);
        free(b);
    }
    return n_quant;
}

/* Logits of every position for a fixed token list (malloc'd, n * n_vocab). */
static float *logits_of(const char *path, int *n_vocab, int n_tok) {
    cs_model *m = cs_model_load(path, NULL);
    CHECKF(m != NULL, "load %s: %s", path, cs_last_error());
    if (!m) return NULL;
    cs_context_params cp;
    cs_context_params_init(&cp);
    cp.n_ctx = 64;
    cp.n_threads = 2;
    cs_context *c = cs_context_new(m, &cp);
    CHECKF(c != NULL, "context: %s", cs_last_error());
    float *out = NULL;
    if (c) {
        *n_vocab = cs_model_n_vocab(m);
        int32_t toks[16];
        for (int i = 0; i < n_tok; i++) toks[i] = (int32_t)((i * 37 + 11) % *n_vocab);
        out = malloc(sizeof(float) * (size_t)n_tok * (size_t)*n_vocab);
        CHECKF(cs_eval(c, toks, n_tok, out, true) == 0, "eval: %s", cs_last_error());
        cs_context_free(c);
    }
    cs_model_free(m);
    return out;
}

/* max |a - b| / max |b| over all rows, and how many rows have the same argmax */
static double logit_diff(const float *a, const float *b, int rows, int nv, int *same_top) {
    double md = 0, mb = 0;
    *same_top = 0;
    for (int r = 0; r < rows; r++) {
        int ta = 0, tb = 0;
        for (int k = 0; k < nv; k++) {
            md = fmax(md, fabs((double)a[r * nv + k] - b[r * nv + k]));
            mb = fmax(mb, fabs((double)b[r * nv + k]));
            if (a[r * nv + k] > a[r * nv + ta]) ta = k;
            if (b[r * nv + k] > b[r * nv + tb]) tb = k;
        }
        *same_top += ta == tb;
    }
    return md / (mb > 0 ? mb : 1);
}

/* ---- the rules the files do not exercise ---------------------------------------- */

static void test_rules(void) {
    int64_t ne[3] = {8192, 1024, 1};
    cs_mix_model l70 = {80, 0, true, 80, true}, dense = {32, 0, true, 32, false}, tied = {28, 0, false, 28, false};
    const cs_quant_scheme *km = cs_quant_scheme_find("Q4_K_M"), *ks = cs_quant_scheme_find("q4_k_s");
    const cs_quant_scheme *k = cs_quant_scheme_find("q4_k"), *q4 = cs_quant_scheme_find("q4_0");
    const cs_quant_scheme *q8 = cs_quant_scheme_find("q8_0"), *k5s = cs_quant_scheme_find("q5_k_s");
    CHECK(km && ks && k && q4 && q8 && k5s && !cs_quant_scheme_find("q3_k_m") && !cs_quant_scheme_find(NULL));
    if (!km || !ks || !k || !q4 || !q8 || !k5s) return;
    CHECK(k->ftype == 15 && k->base == CS_TYPE_Q4_K && ks->ftype == 14 && cs_quant_scheme_find("q5_k")->ftype == 17);
    bool fb = true;
    /* Llama-70B (80 layers, GQA): attn_v Q5_K where the mix would give Q4_K */
    CHECK(cs_quant_tensor_type(km, "blk.11.attn_v.weight", ne, &l70, &fb) == CS_TYPE_Q5_K && !fb);
    CHECK(cs_quant_tensor_type(km, "blk.12.attn_v.weight", ne, &l70, NULL) == CS_TYPE_Q6_K); /* (12-10)%3 == 2 */
    CHECK(cs_quant_tensor_type(km, "blk.11.attn_v.weight", ne, &dense, NULL) == CS_TYPE_Q4_K);
    CHECK(cs_quant_tensor_type(km, "blk.11.ffn_down.weight", ne, &l70, NULL) == CS_TYPE_Q4_K);
    /* attn_qkv is attn_v-like (current llama.cpp) */
    CHECK(cs_quant_tensor_type(km, "blk.0.attn_qkv.weight", ne, &dense, NULL) == CS_TYPE_Q6_K);
    CHECK(cs_quant_tensor_type(km, "blk.5.attn_qkv.weight", ne, &dense, NULL) == CS_TYPE_Q4_K);
    /* Q4_K_S: the first four attn_v and the first eighth of ffn_down get Q5_K */
    CHECK(cs_quant_tensor_type(ks, "blk.3.attn_v.weight", ne, &dense, NULL) == CS_TYPE_Q5_K);
    CHECK(cs_quant_tensor_type(ks, "blk.4.attn_v.weight", ne, &dense, NULL) == CS_TYPE_Q4_K);
    CHECK(cs_quant_tensor_type(ks, "blk.3.ffn_down.weight", ne, &dense, NULL) == CS_TYPE_Q5_K);
    CHECK(cs_quant_tensor_type(ks, "blk.4.ffn_down.weight", ne, &dense, NULL) == CS_TYPE_Q4_K);
    CHECK(cs_quant_tensor_type(k5s, "blk.0.ffn_down.weight", ne, &dense, NULL) == CS_TYPE_Q5_K);
    /* the output head: Q6_K, tied token_embd too; a Q8_0 file keeps Q8_0 */
    CHECK(cs_quant_tensor_type(q4, "output.weight", ne, &dense, NULL) == CS_TYPE_Q6_K);
    CHECK(cs_quant_tensor_type(q4, "token_embd.weight", ne, &dense, NULL) == CS_TYPE_Q4_0);
    CHECK(cs_quant_tensor_type(q4, "token_embd.weight", ne, &tied, NULL) == CS_TYPE_Q6_K);
    CHECK(cs_quant_tensor_type(q8, "output.weight", ne, &dense, NULL) == CS_TYPE_Q8_0);
    ne[0] = 96; /* not a multiple of 256: the head gets Q8_0 by the rule, the rest fall back */
    CHECK(cs_quant_tensor_type(km, "output.weight", ne, &dense, &fb) == CS_TYPE_Q8_0 && !fb);
    CHECK(cs_quant_tensor_type(km, "blk.1.attn_q.weight", ne, &dense, &fb) == CS_TYPE_Q5_0 && fb);
    ne[0] = 80; /* not even of 32 */
    CHECK(cs_quant_tensor_type(q8, "blk.1.attn_q.weight", ne, &dense, &fb) == CS_TYPE_F16 && fb);
    CHECK(cs_quant_tensor_type(km, "output.weight", ne, &dense, &fb) == CS_TYPE_F16 && fb);
    /* what is never quantized */
    CHECK(!cs_mix_quantizable("blk.0.ffn_gate_inp.weight", 2) && !cs_mix_quantizable("blk.0.attn_norm.weight", 1));
    CHECK(!cs_mix_quantizable("blk.0.attn_kv_a_norm.weight", 2) && !cs_mix_quantizable("blk.0.exp_probs_b.bias", 1));
    CHECK(cs_mix_quantizable("blk.0.ffn_gate_exps.weight", 3) && !cs_mix_quantizable("rope_freqs.weight", 1));
    CHECK(cs_mix_is_attn_v("blk.0.attn_kv_b.weight") && !cs_mix_is_attn_v("blk.0.attn_v_b.weight") &&
          !cs_mix_is_attn_v("blk.0.attn_k_b.weight"));
    /* every --help line names a scheme */
    int n = 0;
    for (const char *const *t = cs_quantize_types(); *t; t++, n++) {
        char name[16];
        CHECK(sscanf(*t, "%15s", name) == 1 && cs_quant_scheme_find(name));
    }
    CHECK(n == 14);
}

/* ---- llama-quantize's own output ------------------------------------------------ */

static void test_like_llama_quantize(void) {
    char f32[512], ref[512];
    snprintf(f32, sizeof f32, "%s/conformance/qwen2-tiny-f32.gguf", t_shared_dir());
    if (!file_exists(f32)) {
        printf("  (skipped: no conformance files in %s)\n", t_shared_dir());
        return;
    }
    /* written by llama-quantize: the whole file is the same, byte for byte */
    static const struct {
        const char *src, *ref, *type;
    } same[] = {
        {"qwen2-tiny-f32", "qwen2-tiny-q4_k_m", "q4_k_m"},
        {"qwen2-tiny-f32", "qwen2-tiny-q4_k_m", "Q4_K"}, /* llama-quantize's alias */
        {"llama-tiny-f32", "llama-tiny-q6_k", "q6_k"},
    };
    const char *out = path_in_dir("lq.gguf");
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        snprintf(f32, sizeof f32, "%s/conformance/%s.gguf", t_shared_dir(), same[i].src);
        snprintf(ref, sizeof ref, "%s/conformance/%s.gguf", t_shared_dir(), same[i].ref);
        cs_quantize_stats st;
        CHECKF(quantize(f32, out, same[i].type, 2, &st) == 0, "%s: %s", same[i].type, cs_last_error());
        CHECKF(same_file(out, ref), "%s %s: differs from llama-quantize's %s", same[i].src, same[i].type, ref);
    }
    /* written by llama.cpp's converter (--outtype q8_0): same tensors, same bytes */
    static const char *const conv[][2] = {{"qwen2-tiny-f32", "qwen2-tiny-q8_0"}, {"ds3-tiny-f32", "ds3-tiny-q8_0"}};
    for (size_t i = 0; i < 2; i++) {
        snprintf(f32, sizeof f32, "%s/conformance/%s.gguf", t_shared_dir(), conv[i][0]);
        snprintf(ref, sizeof ref, "%s/conformance/%s.gguf", t_shared_dir(), conv[i][1]);
        CHECKF(quantize(f32, out, "q8_0", 1, NULL) == 0, "%s", cs_last_error());
        gguf_file *a = gguf_open(out, NULL), *b = gguf_open(ref, NULL);
        CHECK(a && b);
        if (a && b) {
            CHECK(gguf_n_tensors(a) == gguf_n_tensors(b));
            for (uint64_t k = 0; k < gguf_n_tensors(b); k++) {
                const gguf_tensor *tb = gguf_tensor_at(b, k), *ta = gguf_find_tensor(a, tb->name);
                CHECKF(ta && ta->type == tb->type && ta->nbytes == tb->nbytes && !memcmp(ta->data, tb->data, ta->nbytes),
                       "%s: %s differs from llama.cpp's", conv[i][1], tb->name);
            }
            CHECK(get_i(a, "general.file_type") == 7);
        }
        if (a) gguf_close(a);
        if (b) gguf_close(b);
    }
    unlink(out);
}

/* ---- every type on a dense model ------------------------------------------------ */

static void test_dense_types(void) {
    /* 8 layers: use_more_bits picks 0, 3, 6, 7 (n/8 = 1, 7n/8 = 7, (i-1) % 3 == 2) */
    const char *src = path_in_dir("d-f32.gguf"), *out = path_in_dir("d-q.gguf");
    const char *sets[] = {"n_layer=8", "n_ff=256", NULL};
    if (mk(src, "tiny-llama", "f32", sets)) return;
    gguf_file *f = gguf_open(src, NULL);
    CHECK(f != NULL);
    if (!f) return;
    static const struct {
        const char *type;
        int ftype;
        cs_type base;
    } types[] = {
        {"q8_0", 7, CS_TYPE_Q8_0},    {"q4_0", 2, CS_TYPE_Q4_0},    {"q5_0", 8, CS_TYPE_Q5_0},
        {"q5_1", 9, CS_TYPE_Q5_1},    {"q4_k", 15, CS_TYPE_Q4_K},   {"q4_k_s", 14, CS_TYPE_Q4_K},
        {"q4_k_m", 15, CS_TYPE_Q4_K}, {"q5_k", 17, CS_TYPE_Q5_K},   {"q5_k_s", 16, CS_TYPE_Q5_K},
        {"q5_k_m", 17, CS_TYPE_Q5_K}, {"q6_k", 18, CS_TYPE_Q6_K},   {"f16", 1, CS_TYPE_F16},
        {"bf16", 32, CS_TYPE_BF16},
    };
    int nv = 0, nv2 = 0;
    float *ref = logits_of(src, &nv, 8);
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        const char *what = types[i].type;
        cs_quantize_stats st;
        int rc = quantize(src, out, what, 2, &st);
        CHECKF(rc == 0, "%s: %s", what, cs_last_error());
        if (rc) continue;
        CHECK(st.ftype == types[i].ftype && st.n_tensors == (int)gguf_n_tensors(f) && st.n_fallback == 0);
        CHECK(st.n_requantized == 0 && st.bytes_in > st.bytes_out);
        gguf_file *q = gguf_open(out, NULL);
        CHECKF(q != NULL, "%s: %s", what, cs_last_error());
        if (!q) continue;
        check_metadata(q, f, types[i].ftype, what);
        cs_type b = types[i].base;
        bool km = types[i].ftype == 15 || types[i].ftype == 17, ks = types[i].ftype == 14;
        bool fl = b == CS_TYPE_F16 || b == CS_TYPE_BF16;
        cs_type head = fl ? b : b == CS_TYPE_Q8_0 ? CS_TYPE_Q8_0 : CS_TYPE_Q6_K;
        CHECK_TYPE(q, "output.weight", head);
        CHECK_TYPE(q, "token_embd.weight", b); /* untied: the base type */
        CHECK_TYPE(q, "output_norm.weight", CS_TYPE_F32);
        CHECK_TYPE(q, "blk.0.attn_norm.weight", CS_TYPE_F32);
        CHECK_TYPE(q, "rope_freqs.weight", CS_TYPE_F32);
        CHECK_TYPE(q, "blk.5.attn_q.weight", b);
        CHECK_TYPE(q, "blk.5.attn_k.weight", b);
        CHECK_TYPE(q, "blk.0.ffn_up.weight", b);
        CHECK_TYPE(q, "blk.7.ffn_gate.weight", b);
        CHECK_TYPE(q, "blk.2.attn_output.weight", b);
        for (int l = 0; l < 8; l++) {
            char v[64], d[64];
            snprintf(v, sizeof v, "blk.%d.attn_v.weight", l);
            snprintf(d, sizeof d, "blk.%d.ffn_down.weight", l);
            bool more = l == 0 || l == 3 || l == 6 || l == 7;
            CHECK_TYPE(q, v, km && more ? CS_TYPE_Q6_K : ks && l < 4 ? CS_TYPE_Q5_K : b);
            CHECK_TYPE(q, d, km && more ? CS_TYPE_Q6_K : ks && l < 1 ? CS_TYPE_Q5_K : b);
        }
        /* llama.cpp's order: non-block tensors by name, then by layer */
        CHECK(!strcmp(gguf_tensor_at(q, 0)->name, "output.weight"));
        CHECK(!strcmp(gguf_tensor_at(q, 4)->name, "blk.0.attn_k.weight"));
        int nq = check_errors(q, f, what);
        CHECKF(nq == 8 * 7 + 2, "%s: %d tensors quantized", what, nq);
        gguf_close(q);

        float *lq = logits_of(out, &nv2, 8);
        if (ref && lq && nv == nv2) {
            int same_top;
            double d = logit_diff(lq, ref, 8, nv, &same_top);
            /* measured on this seeded model: 4-bit 0.11-0.13, 5-bit 0.05-0.07, Q6_K 0.034,
             * Q8_0 0.014, BF16 0.003 (random weights through 8 layers amplify errors) */
            bool q4 = b == CS_TYPE_Q4_0 || b == CS_TYPE_Q4_K;
            double tol = q4 ? 0.2 : b == CS_TYPE_Q8_0 || fl ? 0.03 : 0.1;
            printf("   %-7s logits off by %.4f of their range, argmax same at %d of 8\n", what, d, same_top);
            CHECKF(d <= tol, "%s: logits off by %.4f of their range (> %.3f)", what, d, tol);
            if (b == CS_TYPE_Q8_0 || fl) CHECKF(same_top == 8, "%s: argmax differs at %d of 8 positions", what, 8 - same_top);
            else CHECKF(same_top >= (q4 ? 5 : 7), "%s: argmax differs at %d of 8 positions", what, 8 - same_top);
        }
        free(lq);
    }
    /* --pure: one type everywhere, output too */
    cs_quantize_params p;
    cs_quantize_params_init(&p);
    p.in_path = src;
    p.out_path = out;
    p.type = "q4_k_m";
    p.pure = true;
    CHECK(cs_quantize_model(&p, NULL) == 0);
    gguf_file *q = gguf_open(out, NULL);
    if (q) {
        const char *what = "pure";
        CHECK_TYPE(q, "output.weight", CS_TYPE_Q4_K);
        CHECK_TYPE(q, "blk.0.ffn_down.weight", CS_TYPE_Q4_K);
        CHECK_TYPE(q, "blk.0.attn_norm.weight", CS_TYPE_F32);
        CHECK(get_i(q, "general.file_type") == 15);
        gguf_close(q);
    }
    /* --leave-output-tensor, --token-embedding-type */
    p.pure = false;
    p.leave_output = true;
    p.token_embd_type = "q8_0";
    CHECK(cs_quantize_model(&p, NULL) == 0);
    q = gguf_open(out, NULL);
    if (q) {
        const char *what = "leave-output";
        CHECK_TYPE(q, "output.weight", CS_TYPE_F32);
        CHECK_TYPE(q, "token_embd.weight", CS_TYPE_Q8_0);
        CHECK_TYPE(q, "blk.0.ffn_down.weight", CS_TYPE_Q6_K);
        gguf_close(q);
    }
    p.leave_output = false;
    p.token_embd_type = NULL;
    p.output_type = "f16";
    CHECK(cs_quantize_model(&p, NULL) == 0);
    q = gguf_open(out, NULL);
    if (q) {
        const char *what = "output-type";
        CHECK_TYPE(q, "output.weight", CS_TYPE_F16);
        CHECK_TYPE(q, "token_embd.weight", CS_TYPE_Q4_K);
        gguf_close(q);
    }
    /* threads do not change the bytes */
    const char *o1 = path_in_dir("t1.gguf"), *o2 = path_in_dir("t2.gguf");
    CHECK(quantize(src, o1, "q4_k_m", 1, NULL) == 0);
    CHECK(quantize(src, o2, "q4_k_m", 2, NULL) == 0);
    CHECK(same_file(o1, o2));
    /* requantizing works (with a warning): q8_0 -> q4_k_m */
    cs_quantize_stats st;
    CHECK(quantize(src, o1, "q8_0", 2, NULL) == 0);
    cs_set_log_level(0);
    CHECK(quantize(o1, o2, "q4_k_m", 2, &st) == 0);
    cs_set_log_level(1);
    CHECK(st.n_requantized == 8 * 7 + 2 && st.n_converted == 8 * 7 + 2);
    q = gguf_open(o2, NULL);
    if (q) {
        CHECK(check_errors(q, f, "requantized") == 8 * 7 + 2);
        gguf_close(q);
    }
    unlink(o1);
    unlink(o2);
    free(ref);
    gguf_close(f);
    unlink(src);
    unlink(out);
}

/* ---- row lengths that are not multiples of 256 (or 32) ------------------------ */

static void test_fallbacks(void) {
    /* n_embd 320: a multiple of 32, not 256; n_ff 360: not even of 32 */
    const char *src = path_in_dir("fb-f32.gguf"), *out = path_in_dir("fb-q.gguf");
    const char *sets[] = {"n_layer=2", "n_embd=320", "n_ff=360", "n_head=4", "n_head_kv=2", NULL};
    if (mk(src, "tiny-llama", "f32", sets)) return;
    gguf_file *f = gguf_open(src, NULL);
    if (!f) return;
    int nv = 0, nv2 = 0;
    float *ref = logits_of(src, &nv, 8);
    static const struct {
        const char *type;
        cs_type mat, down, head, v1;
        int fallbacks;
    } cases[] = {
        /* mat: ne[0] = 320; down: ne[0] = 360; head: output (320: Q8_0 by the rule, no
         * fallback); v1: blk.1.attn_v (more bits: Q6_K falls back) */
        {"q4_k_m", CS_TYPE_Q5_0, CS_TYPE_F16, CS_TYPE_Q8_0, CS_TYPE_Q8_0, 2 * 7 + 1},
        {"q5_k_m", CS_TYPE_Q5_1, CS_TYPE_F16, CS_TYPE_Q8_0, CS_TYPE_Q8_0, 2 * 7 + 1},
        {"q6_k", CS_TYPE_Q8_0, CS_TYPE_F16, CS_TYPE_Q8_0, CS_TYPE_Q8_0, 2 * 7 + 1},
        {"q4_0", CS_TYPE_Q4_0, CS_TYPE_F16, CS_TYPE_Q8_0, CS_TYPE_Q4_0, 2 + 1}, /* output: Q6_K falls back */
        {"q8_0", CS_TYPE_Q8_0, CS_TYPE_F16, CS_TYPE_Q8_0, CS_TYPE_Q8_0, 2},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const char *what = cases[i].type;
        cs_quantize_stats st;
        CHECKF(quantize(src, out, what, 2, &st) == 0, "%s: %s", what, cs_last_error());
        gguf_file *q = gguf_open(out, NULL);
        if (!q) continue;
        CHECK_TYPE(q, "blk.1.attn_q.weight", cases[i].mat);
        CHECK_TYPE(q, "blk.1.ffn_up.weight", cases[i].mat);
        CHECK_TYPE(q, "blk.0.attn_v.weight", cases[i].mat);
        CHECK_TYPE(q, "token_embd.weight", cases[i].mat);
        CHECK_TYPE(q, "blk.0.ffn_down.weight", cases[i].down);
        CHECK_TYPE(q, "blk.1.ffn_down.weight", cases[i].down);
        CHECK_TYPE(q, "output.weight", cases[i].head);
        CHECK_TYPE(q, "blk.1.attn_v.weight", cases[i].v1);
        CHECK_TYPE(q, "blk.0.ffn_norm.weight", CS_TYPE_F32);
        CHECKF(st.n_fallback == cases[i].fallbacks, "%s: %d fallbacks, want %d", what, st.n_fallback,
               cases[i].fallbacks);
        check_errors(q, f, what);
        gguf_close(q);
        float *lq = logits_of(out, &nv2, 8);
        if (ref && lq && nv == nv2) {
            int same_top;
            double d = logit_diff(lq, ref, 8, nv, &same_top);
            CHECKF(d <= 0.15, "%s: logits off by %.4f", what, d);
            CHECKF(same_top >= 6, "%s: argmax differs at %d of 8", what, 8 - same_top);
        }
        free(lq);
    }
    free(ref);
    gguf_close(f);
    unlink(src);
    unlink(out);
}

/* ---- deepseek2: MLA, experts, routers ------------------------------------------- */

static void test_deepseek2(void) {
    const char *src = path_in_dir("v3-f32.gguf"), *out = path_in_dir("v3-q.gguf");
    if (mk(src, "tiny-v3", "f32", NULL)) return;
    gguf_file *f = gguf_open(src, NULL);
    if (!f) return;
    const char *what = "tiny-v3 q4_k_m";
    CHECK(quantize(src, out, "q4_k_m", 2, NULL) == 0);
    gguf_file *q = gguf_open(out, NULL);
    if (q) {
        /* 3 blocks: use_more_bits picks only block 2; kv_b counts as attn_v; row
         * lengths 64 (kv LoRA, expert FFN) and 96 (q LoRA) fall back */
        check_metadata(q, f, 15, what);
        CHECK_TYPE(q, "blk.1.ffn_gate_inp.weight", CS_TYPE_F32);
        CHECK_TYPE(q, "blk.1.exp_probs_b.bias", CS_TYPE_F32);
        CHECK_TYPE(q, "blk.0.attn_kv_a_norm.weight", CS_TYPE_F32);
        CHECK_TYPE(q, "blk.0.attn_q_a_norm.weight", CS_TYPE_F32);
        CHECK_TYPE(q, "blk.0.attn_q_a.weight", CS_TYPE_Q4_K);
        CHECK_TYPE(q, "blk.0.attn_q_b.weight", CS_TYPE_Q5_0);   /* 96 */
        CHECK_TYPE(q, "blk.0.attn_kv_b.weight", CS_TYPE_Q5_0);  /* 64 */
        CHECK_TYPE(q, "blk.2.attn_kv_b.weight", CS_TYPE_Q8_0);  /* Q6_K, 64 */
        CHECK_TYPE(q, "blk.0.ffn_down.weight", CS_TYPE_Q4_K);   /* dense lead block, 512 */
        CHECK_TYPE(q, "blk.1.ffn_down_exps.weight", CS_TYPE_Q5_0);
        CHECK_TYPE(q, "blk.2.ffn_down_exps.weight", CS_TYPE_Q8_0);
        CHECK_TYPE(q, "blk.2.ffn_down_shexp.weight", CS_TYPE_Q8_0);
        CHECK_TYPE(q, "blk.2.ffn_up_exps.weight", CS_TYPE_Q4_K);
        CHECK_TYPE(q, "output.weight", CS_TYPE_Q6_K);
        CHECK_TYPE(q, "token_embd.weight", CS_TYPE_Q4_K);
        check_errors(q, f, what);
        gguf_close(q);
    }
    /* the MoE / 8-expert rules: attn_kv_b Q8_0 everywhere, attn_output Q5_K (-> Q5_1 at 128) */
    const char *src8 = path_in_dir("v3e8-f32.gguf");
    const char *sets[] = {"n_expert=8", NULL};
    if (!mk(src8, "tiny-v3", "f32", sets)) {
        CHECK(quantize(src8, out, "q4_k_m", 2, NULL) == 0);
        q = gguf_open(out, NULL);
        if (q) {
            what = "tiny-v3 8 experts";
            CHECK_TYPE(q, "blk.0.attn_kv_b.weight", CS_TYPE_Q8_0);
            CHECK_TYPE(q, "blk.1.attn_kv_b.weight", CS_TYPE_Q8_0);
            CHECK_TYPE(q, "blk.1.attn_output.weight", CS_TYPE_Q5_1);
            CHECK_TYPE(q, "blk.1.attn_q_a.weight", CS_TYPE_Q4_K);
            gguf_close(q);
        }
        unlink(src8);
    }
    gguf_close(f);
    /* the F32 and Q8_0 models agree on the argmax */
    int nv = 0, nv2 = 0;
    float *ref = logits_of(src, &nv, 8);
    CHECK(quantize(src, out, "q8_0", 2, NULL) == 0);
    float *lq = logits_of(out, &nv2, 8);
    if (ref && lq && nv == nv2) {
        int same_top;
        double d = logit_diff(lq, ref, 8, nv, &same_top);
        CHECKF(d <= 0.05 && same_top == 8, "v3 q8_0: logits off by %.4f, argmax same at %d of 8", d, same_top);
    }
    free(ref);
    free(lq);
    unlink(src);
    unlink(out);
}

static void expect_fail(const char *in, const char *out, const char *type, const char *prefix, const char *needle);

/* ---- split input ------------------------------------------------------------------ */

static void set_u16(gguf_writer *w, const char *key, uint64_t v) {
    gguf_value val;
    memset(&val, 0, sizeof val);
    val.type = GGUF_TYPE_UINT16;
    val.u = v;
    gguf_writer_set_value(w, key, &val);
}

/* Write src's tensors into two shards as llama.cpp's gguf-split does (metadata in the first). */
static int split_in_two(const char *src, const char *first, const char *second) {
    gguf_file *f = gguf_open(src, NULL);
    if (!f) return -1;
    uint64_t n = gguf_n_tensors(f), half = n / 2;
    int rc = 0;
    for (int s = 0; s < 2 && rc == 0; s++) {
        gguf_writer *w = gguf_writer_new();
        if (s == 0)
            for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
                const gguf_kv *kv = gguf_kv_at(f, i);
                char key[256];
                snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
                gguf_writer_set_value(w, key, &kv->value);
            }
        set_u16(w, "split.no", (uint64_t)s);
        set_u16(w, "split.count", 2);
        gguf_writer_set_i32(w, "split.tensors.count", (int32_t)n);
        uint64_t a = s == 0 ? 0 : half, b = s == 0 ? half : n;
        for (uint64_t i = a; i < b; i++) {
            const gguf_tensor *t = gguf_tensor_at(f, i);
            rc |= gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne);
        }
        rc |= gguf_writer_begin(w, s == 0 ? first : second);
        for (uint64_t i = a; i < b && rc == 0; i++) rc |= gguf_writer_write_data(w, gguf_tensor_at(f, i)->data, gguf_tensor_at(f, i)->nbytes);
        if (rc == 0) rc = gguf_writer_finish(w);
        gguf_writer_free(w);
    }
    gguf_close(f);
    return rc;
}

static void test_split_input(void) {
    const char *src = path_in_dir("sp.gguf"), *one = path_in_dir("sp-00001-of-00002.gguf");
    const char *two = path_in_dir("sp-00002-of-00002.gguf"), *a = path_in_dir("sp-a.gguf"), *b = path_in_dir("sp-b.gguf");
    const char *sets[] = {"n_layer=2", NULL};
    if (mk(src, "tiny-qwen2", "f32", sets)) return;
    CHECKF(split_in_two(src, one, two) == 0, "%s", cs_last_error());
    gguf_file *f = gguf_open(one, NULL);
    CHECKF(f && gguf_n_shards(f) == 2, "split: %s", f ? "one shard" : cs_last_error());
    if (f) gguf_close(f);
    /* the same file as from the unsplit model: split keys dropped, llama.cpp's order */
    CHECK(quantize(src, a, "q4_k_m", 2, NULL) == 0);
    CHECKF(quantize(one, b, "q4_k_m", 2, NULL) == 0, "%s", cs_last_error());
    CHECK(same_file(a, b));
    f = gguf_open(b, NULL);
    CHECK(f && gguf_n_shards(f) == 1 && !gguf_get(f, "split.count") && !gguf_get(f, "split.no"));
    if (f) gguf_close(f);
    /* the second shard alone is refused */
    expect_fail(two, b, "q8_0", two, "first one");
    unlink(src), unlink(one), unlink(two), unlink(a), unlink(b);
}

/* ---- errors -------------------------------------------------------------------------- */

/* A GGUF with one 2-D tensor of the given type (zeros, or a NaN at [1] for F32). */
static void write_odd(const char *path, cs_type type, bool nan) {
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    int64_t ne[2] = {64, 2};
    gguf_writer_add_tensor(w, "blk.0.ffn_up.weight", type, 2, ne);
    CHECK(gguf_writer_begin(w, path) == 0);
    size_t n = cs_row_size(type, 64) * 2;
    uint8_t *z = calloc(1, n);
    if (nan) ((float *)z)[1] = NAN;
    gguf_writer_write_data(w, z, n);
    CHECK(gguf_writer_finish(w) == 0);
    gguf_writer_free(w);
    free(z);
}

static void expect_fail(const char *in, const char *out, const char *type, const char *prefix, const char *needle) {
    if (strcmp(in, out)) unlink(out);
    int rc = quantize(in, out, type, 1, NULL);
    const char *e = cs_last_error();
    CHECKF(rc != 0, "%s -> %s %s should fail", in, out, type);
    CHECKF(rc == 0 || (!strncmp(e, prefix, strlen(prefix)) && strstr(e, needle)), "error '%s' should start with '%s' and mention '%s'", e,
           prefix, needle);
    CHECKF(strcmp(in, out) == 0 || !file_exists(out), "%s left behind", out);
    char part[600];
    snprintf(part, sizeof part, "%s.part", out);
    CHECKF(!file_exists(part), "%s left behind", part);
}

static void test_errors(void) {
    const char *src = path_in_dir("e-f32.gguf"), *out = path_in_dir("e-out.gguf");
    const char *sets[] = {"n_layer=1", NULL};
    if (mk(src, "tiny-qwen2", "f32", sets)) return;
    expect_fail(src, out, "q3_k", "unknown type 'q3_k'", "q4_k_m");
    expect_fail(src, out, NULL, "unknown type", "q8_0");
    const char *missing = path_in_dir("nope.gguf");
    expect_fail(missing, out, "q8_0", missing, "No such file");
    expect_fail(src, src, "q8_0", src, "output file is the input");
    expect_fail(src, "/nonexistent-dir/x.gguf", "q8_0", "/nonexistent-dir/x.gguf", "cannot create");
    /* truncated: the first half of a good file */
    size_t n = 0;
    uint8_t *b = read_all(src, &n);
    const char *trunc = path_in_dir("trunc.gguf");
    FILE *fp = fopen(trunc, "wb");
    if (fp && b) {
        fwrite(b, 1, n / 2, fp);
        fclose(fp);
    }
    free(b);
    expect_fail(trunc, out, "q8_0", trunc, "truncated");
    /* a type we cannot dequantize; a NaN weight */
    const char *odd = path_in_dir("odd.gguf");
    write_odd(odd, CS_TYPE_Q4_1, false);
    expect_fail(odd, out, "q8_0", odd, "type q4_1"); /* the reader refuses types it cannot compute with */
    CHECK(quantize(odd, out, "q4_0", 1, NULL) != 0);
    write_odd(odd, CS_TYPE_F32, true);
    expect_fail(odd, out, "q8_0", odd, "NaN");
    /* bad tensor type overrides */
    cs_quantize_params p;
    cs_quantize_params_init(&p);
    p.in_path = src;
    p.out_path = out;
    p.output_type = "q3_K";
    CHECK(cs_quantize_model(&p, NULL) != 0 && strstr(cs_last_error(), "unknown tensor type 'q3_K'"));
    CHECK(!file_exists(out));

    /* the command: one line "cseek: FILE: ..." and a non-zero status */
    char args[2048];
    snprintf(args, sizeof args, "quantize %s %s q3_k", src, out);
    result r = run(args);
    CHECKF(one_line_error(&r, "cseek: quantize: unknown type 'q3_k'") && r.rc == 2, "rc %d: %s", r.rc, r.err);
    done(&r);
    snprintf(args, sizeof args, "quantize %s %s q8_0", missing, out);
    r = run(args);
    char want[700];
    snprintf(want, sizeof want, "cseek: %s: ", missing);
    CHECKF(one_line_error(&r, want) && r.rc == 1, "rc %d: %s", r.rc, r.err);
    done(&r);
    snprintf(args, sizeof args, "quantize %s %s q8_0", trunc, out);
    r = run(args);
    snprintf(want, sizeof want, "cseek: %s: ", trunc);
    CHECKF(one_line_error(&r, want) && strstr(r.err, "truncated"), "rc %d: %s", r.rc, r.err);
    done(&r);
    snprintf(args, sizeof args, "quantize %s %s q8_0", src, src);
    r = run(args);
    snprintf(want, sizeof want, "cseek: %s: the output file is the input file", src);
    CHECKF(one_line_error(&r, want), "rc %d: %s", r.rc, r.err);
    done(&r);
    snprintf(args, sizeof args, "quantize %s /nonexistent-dir/x.gguf q8_0", src);
    r = run(args);
    CHECKF(one_line_error(&r, "cseek: /nonexistent-dir/x.gguf: cannot create"), "rc %d: %s", r.rc, r.err);
    done(&r);
    snprintf(args, sizeof args, "quantize %s %s", src, out);
    r = run(args);
    CHECKF(one_line_error(&r, "cseek: quantize: need IN OUT TYPE") && r.rc == 2, "rc %d: %s", r.rc, r.err);
    done(&r);
    r = run("quantize -t 0 a b q8_0");
    CHECK(one_line_error(&r, "cseek: quantize: bad thread count") && r.rc == 2);
    done(&r);
    /* help lists the types; a good run prints a summary */
    r = run("quantize --help");
    CHECK(r.rc == 0 && strstr(r.out, "q4_k_m") && strstr(r.out, "q5_k_s") && strstr(r.out, "alias of q4_k_m") &&
          strstr(r.out, "--pure"));
    done(&r);
    snprintf(args, sizeof args, "quantize -t 2 %s %s Q4_K_M", src, out);
    r = run(args);
    CHECKF(r.rc == 0 && strstr(r.out, "file type 15") && strstr(r.out, "32.00 bits per weight") && r.err[0] == 0,
           "rc %d out %s err %s", r.rc, r.out, r.err);
    done(&r);
    gguf_file *q = gguf_open(out, NULL);
    CHECK(q && get_i(q, "general.file_type") == 15);
    if (q) gguf_close(q);
    r = run("--help");
    CHECK(strstr(r.out, "quantize") != NULL);
    done(&r);
    unlink(odd);
    unlink(trunc);
    unlink(src);
    unlink(out);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/cseek-test-quantize-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(test_rules);
    RUN(test_like_llama_quantize);
    RUN(test_dense_types);
    RUN(test_fallbacks);
    RUN(test_deepseek2);
    RUN(test_split_input);
    RUN(test_errors);
    rmdir(g_dir);
    TEST_END();
}
