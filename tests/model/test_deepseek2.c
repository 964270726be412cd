/* deepseek2 beyond the conformance cases (tests/model/test_conformance.c):
 *  - the three MLA tensor layouts (a, b, c) of one seeded model compute the same logits;
 *  - the compressed cache holds n_layer x (kv_lora + rope) elements per token
 *    (V3: 70,272 B in F16, 37,332 B in Q8_0) and memory grows by exactly that;
 *  - a Q8_0 latent cache picks the same top-1 token as F16 on the conformance sequences;
 *  - malformed metadata and tensors give clean one-line errors. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <unistd.h>

#include "test.h"
#include "cseek.h"
#include "formats/gguf.h"

static char g_tmp[256];

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", g_tmp, name);
    return buf[i];
}

/* cs_mkmodel, as `cseek mkmodel --preset P --layout L --type T --seed S [--set ...] -o OUT` */
static int mkmodel(const char *preset, const char *layout, const char *type, const char *const *set, uint64_t seed,
                   const char *out) {
    cs_mkmodel_params p;
    memset(&p, 0, sizeof p);
    p.preset = preset;
    p.layout = layout;
    p.type = type;
    p.set = set;
    p.seed = seed;
    p.out_path = out;
    int rc = cs_mkmodel(&p);
    if (rc) fprintf(stderr, "  mkmodel %s: %s\n", preset, cs_last_error());
    return rc;
}

/* logits of every position (n x n_vocab, malloc'd), or NULL */
static float *run_logits(cs_model *m, const int32_t *tok, int n, cs_cache_type ct, int n_batch) {
    cs_context_params cp;
    cs_context_params_init(&cp);
    cp.n_ctx = n + 8;
    cp.n_batch = n_batch;
    cp.cache_type = ct;
    cp.cache_type_set = true;
    cs_context *c = cs_context_new(m, &cp);
    if (!c) return NULL;
    float *l = malloc((size_t)n * cs_model_n_vocab(m) * sizeof(float));
    if (cs_eval(c, tok, n, l, true)) {
        fprintf(stderr, "  eval: %s\n", cs_last_error());
        free(l);
        l = NULL;
    }
    cs_context_free(c);
    return l;
}

static double max_abs_rel(const float *a, const float *ref, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - ref[i]));
        r = fmax(r, fabs((double)ref[i]));
    }
    return r > 0 ? d / r : 1e30;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* (i) one seed, three layouts, one function */
static void layouts_agree(const char *preset) {
    const char *layouts[3] = {"a", "b", "c"};
    int32_t tok[24];
    float *ref = NULL;
    int V = 0;
    for (int li = 0; li < 3; li++) {
        char name[64];
        snprintf(name, sizeof name, "%s-%s.gguf", preset, layouts[li]);
        const char *path = tmp_path(name);
        if (mkmodel(preset, layouts[li], "f32", NULL, 1234, path)) {
            CHECKF(0, "mkmodel %s layout %s failed", preset, layouts[li]);
            return;
        }
        cs_model *m = cs_model_load(path, NULL);
        CHECKF(m != NULL, "%s: %s", name, cs_last_error());
        if (!m) continue;
        V = cs_model_n_vocab(m);
        for (int i = 0; i < 24; i++) tok[i] = (i * 37 + 11) % V;
        for (int mode = 0; mode < 2; mode++) { /* batch, then token by token */
            float *l = run_logits(m, tok, 24, CS_CACHE_F32, mode ? 1 : 512);
            CHECKF(l != NULL, "%s: %s", name, cs_last_error());
            if (!l) continue;
            if (!ref) {
                ref = l;
                continue;
            }
            double e = max_abs_rel(l, ref, (size_t)24 * V);
            printf("  %-14s layout %s %-6s vs layout a batch: max_abs_rel %.3g\n", preset, layouts[li],
                   mode ? "tokens" : "batch", e);
            CHECKF(e <= 1e-4, "%s layout %s differs from layout a by %g", preset, layouts[li], e);
            free(l);
        }
        cs_model_free(m);
    }
    free(ref);
}

static void layouts_agree_tiny_v3(void) { layouts_agree("tiny-v3"); }
static void layouts_agree_tiny_v2_lite(void) { layouts_agree("tiny-v2-lite"); }

/* (iii) Q8_0 latent cache against F16 on the conformance sequences */
static char *read_text(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    if (b) b[n] = 0;
    fclose(f);
    return b;
}

static void q8_cache_top1(const char *case_name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/conformance/%s.json", t_shared_dir(), case_name);
    char *text = read_text(path);
    CHECKF(text != NULL, "cannot read %s (set CSEEK_SHARED)", path);
    if (!text) return;
    cJSON *doc = cJSON_Parse(text);
    free(text);
    snprintf(path, sizeof path, "%s/conformance/%s.gguf", t_shared_dir(), case_name);
    cs_model *m = cs_model_load(path, NULL);
    CHECKF(m != NULL, "%s: %s", path, cs_last_error());
    if (!m || !doc) {
        cs_model_free(m);
        cJSON_Delete(doc);
        return;
    }
    int V = cs_model_n_vocab(m);
    const cJSON *seq;
    cJSON_ArrayForEach(seq, cJSON_GetObjectItem(doc, "sequences")) {
        const cJSON *toks = cJSON_GetObjectItem(seq, "tokens");
        int n = cJSON_GetArraySize(toks);
        int32_t *ids = malloc((size_t)n * sizeof *ids);
        for (int i = 0; i < n; i++) ids[i] = (int32_t)cJSON_GetArrayItem(toks, i)->valuedouble;
        for (int mode = 0; mode < 2; mode++) {
            float *f16 = run_logits(m, ids, n, CS_CACHE_F16, mode ? 1 : 512);
            float *q8 = run_logits(m, ids, n, CS_CACHE_Q8_0, mode ? 1 : 512);
            CHECKF(f16 && q8, "%s: %s", case_name, cs_last_error());
            if (f16 && q8) {
                int agree = 0;
                for (int p = 0; p < n; p++) agree += argmax(f16 + (size_t)p * V, V) == argmax(q8 + (size_t)p * V, V);
                printf("  %-14s %-7s %-6s Q8_0 cache: top-1 as F16 at %d/%d positions, max_abs_rel %.3g\n",
                       case_name, cJSON_GetStringValue(cJSON_GetObjectItem(seq, "name")), mode ? "tokens" : "batch",
                       agree, n, max_abs_rel(q8, f16, (size_t)n * V));
                CHECKF(agree == n, "%s: Q8_0 cache changes the top-1 token at %d positions", case_name, n - agree);
            }
            free(f16);
            free(q8);
        }
        free(ids);
    }
    cs_model_free(m);
    cJSON_Delete(doc);
}

static void q8_cache_ds3(void) { q8_cache_top1("ds3-tiny-f32"); }
static void q8_cache_ds2lite(void) { q8_cache_top1("ds2lite-4l-f32"); }

/* (ii) cache bytes for the V3 attention shape: 61 layers x (512 + 64) */
static const char *const v3_attn_set[] = {"n_layer=61", "kv_lora_rank=512", "qk_rope=64", NULL};

static void cache_bytes_v3_shape(void) {
    const char *path = tmp_path("v3-shape.gguf");
    if (mkmodel("tiny-v3", "c", "f32", v3_attn_set, 5, path)) {
        CHECKF(0, "mkmodel failed");
        return;
    }
    cs_model *m = cs_model_load(path, NULL);
    CHECKF(m != NULL, "%s", cs_last_error());
    if (!m) return;
    const size_t want[3] = {61 * 576 * 4, 70272, 37332}; /* F32, F16, Q8_0 */
    for (int ct = 0; ct < 3; ct++) {
        cs_context_params cp;
        cs_context_params_init(&cp);
        cp.n_ctx = 64;
        cp.cache_type = (cs_cache_type)ct;
        cp.cache_type_set = true;
        cs_context *c = cs_context_new(m, &cp);
        CHECKF(c != NULL, "%s", cs_last_error());
        if (!c) continue;
        CHECKF(cs_context_cache_bytes_per_token(c) == want[ct], "cache type %d: %zu bytes per token, expected %zu", ct,
               cs_context_cache_bytes_per_token(c), want[ct]);
        int32_t tok[3] = {1, 2, 3};
        CHECK(cs_eval(c, tok, 3, NULL, false) == 0);
        CHECK(cs_context_cache_bytes_used(c) == 3 * want[ct]);
        cs_context_free(c);
    }
    cs_context_params cp;
    cs_context_params_init(&cp);
    cp.n_ctx = 64;
    cs_context *c = cs_context_new(m, &cp); /* the default is the F16 latent cache */
    CHECK(c && cs_context_cache_bytes_per_token(c) == 70272);
    cs_context_free(c);
    cs_model_free(m);
}

/* VmRSS of this process in bytes */
static long long rss_bytes(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long long kb = -1;
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, "VmRSS:", 6)) kb = atoll(line + 6);
    fclose(f);
    return kb * 1024;
}

/* memory grows by the latent cache and nothing else: 2 layers of 512 + 64 in
 * F16, 4,096 tokens -> 9,437,184 bytes (the rest of the model kept small).
 * Under AddressSanitizer 1,024 tokens (attention is quadratic; 4,096 take minutes there). */
#ifdef __SANITIZE_ADDRESS__
#define RSS_TOKENS 1024
#else
#define RSS_TOKENS 4096
#endif
static const char *const rss_set[] = {"n_layer=2", "kv_lora_rank=512", "qk_rope=64", "n_head=2", NULL};

static void rss_grows_by_cache(void) {
    const char *path = tmp_path("rss.gguf");
    if (mkmodel("tiny-v3", "c", "f32", rss_set, 9, path)) {
        CHECKF(0, "mkmodel failed");
        return;
    }
    cs_model *m = cs_model_load(path, NULL);
    CHECKF(m != NULL, "%s", cs_last_error());
    if (!m) return;
    const int n = RSS_TOKENS;
    cs_context_params cp;
    cs_context_params_init(&cp);
    cp.n_ctx = n;
    cp.n_batch = 256;
    cs_context *c = cs_context_new(m, &cp);
    CHECKF(c != NULL, "%s", cs_last_error());
    if (!c) {
        cs_model_free(m);
        return;
    }
    int V = cs_model_n_vocab(m);
    int32_t *tok = malloc((size_t)n * sizeof *tok);
    for (int i = 0; i < n; i++) tok[i] = (i * 7919 + 3) % V;
    float *logits = malloc((size_t)V * sizeof(float));
    /* warm up: one full batch touches the weights and every work buffer */
    CHECK(cs_eval(c, tok, 256, logits, false) == 0);
    long long before = rss_bytes();
    size_t used_before = cs_context_cache_bytes_used(c);
    CHECK(cs_eval(c, tok + 256, n - 256, logits, false) == 0);
    long long after = rss_bytes();
    size_t used = cs_context_cache_bytes_used(c);
    double want = (double)n * 2 * 576 * 2;
    /* the first 256 tokens' cache pages were counted before: add them back */
    double grown = (double)(after - before) + (double)used_before;
    printf("  cache bytes used %zu (expected %.0f); RSS grew %lld bytes over the last %d tokens (+%zu cached before: "
           "%.0f, %.2f%% off)\n",
           used, want, after - before, n - 256, used_before, grown, 100.0 * (grown - want) / want);
    CHECK(used == (size_t)want);
    CHECKF(fabs(grown - want) <= 0.05 * want, "RSS grew by %.0f bytes, expected %.0f", grown, want);
    free(tok);
    free(logits);
    cs_context_free(c);
    cs_model_free(m);
}

/* (iv) malformed files: rewrite a good one with one thing changed */
typedef struct {
    const char *set_key; /* set (or add) this u32 key ... */
    uint32_t set_val;
    const char *drop_key, *drop_key2; /* omit these keys */
    const char *drop_tensor;  /* omit tensors whose name contains this */
    const char *reshape;      /* this tensor gets ne[1] = reshape_ne1 (data zeroed) */
    int64_t reshape_ne1;
} edit;

static int rewrite(const char *src, const char *dst, const edit *e) {
    gguf_file *f = gguf_open(src, NULL);
    if (!f) return -1;
    gguf_writer *w = gguf_writer_new();
    char key[256];
    bool set_done = false;
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        if ((e->drop_key && !strcmp(key, e->drop_key)) || (e->drop_key2 && !strcmp(key, e->drop_key2))) continue;
        if (e->set_key && !strcmp(key, e->set_key)) {
            gguf_writer_set_u32(w, key, e->set_val);
            set_done = true;
            continue;
        }
        gguf_writer_set_value(w, key, &kv->value);
    }
    if (e->set_key && !set_done) gguf_writer_set_u32(w, e->set_key, e->set_val);
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (e->drop_tensor && strstr(t->name, e->drop_tensor)) continue;
        int64_t ne[4] = {t->ne[0], t->ne[1], t->ne[2], t->ne[3]};
        if (e->reshape && !strcmp(t->name, e->reshape)) ne[1] = e->reshape_ne1;
        gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, ne);
    }
    int rc = gguf_writer_begin(w, dst);
    for (uint64_t i = 0; rc == 0 && i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        if (e->drop_tensor && strstr(t->name, e->drop_tensor)) continue;
        if (e->reshape && !strcmp(t->name, e->reshape)) {
            size_t n = cs_row_size(t->type, t->ne[0]) * (size_t)e->reshape_ne1 * (size_t)(t->ne[2] * t->ne[3]);
            char *z = calloc(1, n ? n : 1);
            rc = gguf_writer_write_data(w, z, n);
            free(z);
        } else {
            rc = gguf_writer_write_data(w, t->data, t->nbytes);
        }
    }
    if (rc == 0) rc = gguf_writer_finish(w);
    gguf_writer_free(w);
    gguf_close(f);
    return rc;
}

/* the load must fail with one line mentioning `needle` */
static void expect_error(const char *base, const edit *e, const char *needle) {
    const char *path = tmp_path("bad.gguf");
    int rc = rewrite(base, path, e);
    CHECKF(rc == 0, "rewrite: %s", cs_last_error());
    if (rc) return;
    cs_model *m = cs_model_load(path, NULL);
    const char *err = cs_last_error();
    CHECKF(m == NULL, "loaded a malformed file (expected an error about %s)", needle);
    CHECKF(m || (strstr(err, needle) && !strchr(err, '\n')), "error \"%s\" does not mention \"%s\"", err, needle);
    if (!m) printf("  %-40s -> %s\n", needle, err);
    cs_model_free(m);
}

static void malformed_files(void) {
    char a[512], c[512];
    snprintf(a, sizeof a, "%s", tmp_path("good-a.gguf"));
    snprintf(c, sizeof c, "%s", tmp_path("good-c.gguf"));
    if (mkmodel("tiny-v3", "a", "f32", NULL, 3, a) || mkmodel("tiny-v3", "c", "f32", NULL, 3, c)) {
        CHECKF(0, "mkmodel failed");
        return;
    }
    cs_model *m = cs_model_load(a, NULL);
    CHECKF(m != NULL, "the unmodified file must load: %s", cs_last_error());
    cs_model_free(m);
    edit e;

    memset(&e, 0, sizeof e); /* unknown gating function */
    e.set_key = "deepseek2.expert_gating_func";
    e.set_val = 3;
    expect_error(a, &e, "expert_gating_func 3");

    memset(&e, 0, sizeof e); /* neither attn_kv_b nor attn_k_b */
    e.drop_tensor = "attn_kv_b";
    expect_error(a, &e, "neither attn_kv_b nor attn_k_b");

    memset(&e, 0, sizeof e); /* layout c without the value half */
    e.drop_tensor = "blk.1.attn_v_b";
    expect_error(c, &e, "blk.1.attn_v_b");

    memset(&e, 0, sizeof e); /* wrong shapes */
    e.reshape = "blk.1.attn_kv_b.weight";
    e.reshape_ne1 = 7;
    expect_error(a, &e, "blk.1.attn_kv_b.weight has shape");
    e.reshape = "blk.0.attn_kv_a_mqa.weight";
    expect_error(a, &e, "blk.0.attn_kv_a_mqa.weight has shape");
    e.reshape = "blk.2.ffn_up_exps.weight";
    expect_error(a, &e, "blk.2.ffn_up_exps.weight has shape");
    e.reshape = "blk.0.attn_k_b.weight";
    expect_error(c, &e, "blk.0.attn_k_b.weight has shape");

    memset(&e, 0, sizeof e); /* missing required metadata */
    e.drop_key = "deepseek2.attention.kv_lora_rank";
    expect_error(a, &e, "kv_lora_rank");
    e.drop_key = "deepseek2.attention.key_length_mla";
    expect_error(c, &e, "key_length_mla");

    memset(&e, 0, sizeof e); /* q LoRA rank in the metadata but a plain attn_q in the file is not guessed around */
    e.drop_key = "deepseek2.attention.q_lora_rank";
    expect_error(a, &e, "q_lora_rank");

    memset(&e, 0, sizeof e); /* key_length that does not fit the rope dims */
    e.set_key = "deepseek2.attention.key_length";
    e.set_val = 8;
    expect_error(a, &e, "key_length");

    memset(&e, 0, sizeof e); /* groups that do not divide the experts */
    e.set_key = "deepseek2.expert_group_count";
    e.set_val = 3;
    expect_error(a, &e, "expert groups");

    memset(&e, 0, sizeof e); /* MTP layers claimed but absent */
    e.set_key = "deepseek2.nextn_predict_layers";
    e.set_val = 1;
    expect_error(a, &e, "nextn");
}

/* V3/R1 files written without the group keys: 256 sigmoid experts with the
 * score-correction bias get DeepSeek-V3's 8 groups / 4 used, and info says so. */
static void groups_defaulted_for_v3(void) {
    static const char *const set[] = {"n_layer=2", "n_expert=256", "n_expert_used=8", "n_ff_exp=32", "n_group=8",
                                      "n_group_used=4", NULL};
    char good[512];
    snprintf(good, sizeof good, "%s", tmp_path("v3-groups.gguf"));
    if (mkmodel("tiny-v3", "c", "f32", set, 17, good)) {
        CHECKF(0, "mkmodel failed");
        return;
    }
    edit e;
    memset(&e, 0, sizeof e);
    e.drop_key = "deepseek2.expert_group_count";
    e.drop_key2 = "deepseek2.expert_group_used_count";
    const char *bad = tmp_path("v3-nogroups.gguf");
    CHECK(rewrite(good, bad, &e) == 0);
    int32_t tok[12];
    for (int i = 0; i < 12; i++) tok[i] = 5 + 31 * i;
    float *l[2] = {NULL, NULL};
    int V = 0;
    for (int k = 0; k < 2; k++) {
        cs_model *m = cs_model_load(k ? bad : good, NULL);
        CHECKF(m != NULL, "%s", cs_last_error());
        if (!m) return;
        V = cs_model_n_vocab(m);
        l[k] = run_logits(m, tok, 12, CS_CACHE_F32, 512);
        char *info = NULL;
        size_t len = 0;
        FILE *f = open_memstream(&info, &len);
        cs_model_print_info(m, f);
        fclose(f);
        bool assumed = strstr(info, "8, 4 used (assumed 8/4 for V3/R1") != NULL;
        CHECKF(k ? assumed : (!assumed && strstr(info, "expert groups:   8, 4 used\n")), "info: %s", info);
        free(info);
        cs_model_free(m);
    }
    CHECK(l[0] && l[1] && max_abs_rel(l[1], l[0], (size_t)12 * V) == 0);
    free(l[0]);
    free(l[1]);
}

int main(void) {
    cs_set_log_level(0);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/cseek-ds2-XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(layouts_agree_tiny_v3);
    RUN(layouts_agree_tiny_v2_lite);
    RUN(cache_bytes_v3_shape);
    RUN(q8_cache_ds3);
    RUN(q8_cache_ds2lite);
    RUN(malformed_files);
    RUN(groups_defaulted_for_v3);
    RUN(rss_grows_by_cache);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_tmp);
    if (system(cmd)) fprintf(stderr, "could not remove %s\n", g_tmp);
    TEST_END();
}
