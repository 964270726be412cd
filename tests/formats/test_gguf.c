/* GGUF reader and writer: the conformance files, writer -> reader round trips
 * of every value type, --no-mmap against mmap, split models, one error
 * message per class of damage, and robustness: every truncation and 20,000
 * seeded mutations of a small model must load cleanly or fail with an error,
 * never crash (run it under `make test SAN=1`). */
#include <dirent.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>

#include "test.h"
#include "base/base.h"
#include "formats/gguf.h"

static char g_dir[256];

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int k;
    k = (k + 1) % 4;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static uint8_t *read_all(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long sz = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *b = malloc((size_t)sz + 1);
    if (b && fread(b, 1, (size_t)sz, f) != (size_t)sz) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *n = (size_t)sz;
    return b;
}

static void write_all(const char *path, const void *p, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f) return;
    if (n) fwrite(p, 1, n, f);
    fclose(f);
}

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd(void) {
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return g_rng;
}

static bool has_error(void) {
    const char *e = cs_last_error();
    return e && *e && strcmp(e, "unknown error") != 0 && !strchr(e, '\n');
}

/* The error of a failed open contains `want`. */
static void expect_fail(gguf_file *f, const char *want, const char *what) {
    CHECKF(f == NULL, "%s: opened but should have failed", what);
    if (f) {
        gguf_close(f);
        return;
    }
    CHECKF(has_error(), "%s: no error message", what);
    CHECKF(strstr(cs_last_error(), want) != NULL, "%s: error '%s' lacks '%s'", what, cs_last_error(), want);
}

static bool str_eq(gguf_str s, const char *c) { return s.len == strlen(c) && memcmp(s.ptr, c, s.len) == 0; }

static uint64_t file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
}

/* ---- (1) the conformance files ------------------------------------------ */

static void check_common(gguf_file *f, const char *path, uint64_t n_tensors, uint64_t n_kv, const char *arch) {
    CHECK(gguf_version(f) == 3);
    CHECK(gguf_alignment(f) == 32);
    CHECK(gguf_n_shards(f) == 1);
    CHECK(gguf_file_size(f) == file_size(path));
    CHECKF(gguf_n_tensors(f) == n_tensors, "%s: %llu tensors", path, (unsigned long long)gguf_n_tensors(f));
    CHECKF(gguf_n_kv(f) == n_kv, "%s: %llu kv", path, (unsigned long long)gguf_n_kv(f));
    char *a = gguf_get_str_dup(f, "general.architecture");
    CHECKF(a && strcmp(a, arch) == 0, "%s: arch %s", path, a ? a : "(null)");
    free(a);
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        char key[256];
        snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
        CHECK(gguf_get(f, key) == &kv->value);
    }
    CHECK(gguf_kv_at(f, gguf_n_kv(f)) == NULL);

    /* tokenizer */
    const gguf_value *tok = gguf_get(f, "tokenizer.ggml.tokens");
    CHECK(tok && tok->type == GGUF_TYPE_ARRAY && tok->arr.type == GGUF_TYPE_STRING && tok->arr.n == 512);
    if (tok && tok->arr.strs) CHECK(str_eq(tok->arr.strs[0], "\xc4\x80")); /* "Ā": byte 0 */
    const gguf_value *merges = gguf_get(f, "tokenizer.ggml.merges");
    CHECK(merges && merges->arr.n == 254 && merges->arr.strs && str_eq(merges->arr.strs[0], "\xc4\xa0 \xc4\xa0"));
    const gguf_value *tt = gguf_get(f, "tokenizer.ggml.token_type");
    int64_t x = 0;
    CHECK(tt && tt->arr.type == GGUF_TYPE_INT32 && tt->arr.n == 512 && gguf_arr_i64(tt, 0, &x) && x == 1);
    CHECK(!gguf_arr_i64(tt, 512, &x));
    uint32_t u = 0;
    CHECK(gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &u) && u == 510);
    CHECK(gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &u) && u == 511);
    CHECK(!gguf_get_u32(f, "general.architecture", &u)); /* a string */
    CHECK(!gguf_get_u32(f, "no.such.key", &u));
    CHECK(gguf_get(f, "no.such.key") == NULL);

    /* every tensor: consistent size, aligned, findable, and its bytes are the
     * file's bytes at data_off + offset (data_off inferred from the padded end) */
    size_t n;
    uint8_t *bytes = read_all(path, &n);
    CHECK(bytes != NULL);
    uint64_t end = 0;
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        uint64_t e = t->offset + t->nbytes;
        if (e > end) end = e;
    }
    uint64_t data_off = n - (end + 31) / 32 * 32;
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        uint64_t want = cs_row_size(t->type, t->ne[0]) * (uint64_t)t->ne[1] * (uint64_t)t->ne[2] * (uint64_t)t->ne[3];
        CHECKF(t->nbytes == want, "%s: %s nbytes", path, t->name);
        CHECK(t->offset % 32 == 0);
        CHECK(t->shard == 0);
        CHECK(gguf_find_tensor(f, t->name) == t);
        if (bytes && data_off + t->offset + t->nbytes <= n)
            CHECKF(memcmp(t->data, bytes + data_off + t->offset, t->nbytes) == 0, "%s: %s bytes differ", path, t->name);
    }
    CHECK(gguf_tensor_at(f, gguf_n_tensors(f)) == NULL);
    CHECK(gguf_find_tensor(f, "no.such.tensor") == NULL);
    free(bytes);
}

static void check_tensor(gguf_file *f, const char *name, cs_type type, uint32_t n_dims, int64_t ne0, int64_t ne1,
                         int64_t ne2) {
    const gguf_tensor *t = gguf_find_tensor(f, name);
    CHECKF(t != NULL, "missing %s", name);
    if (!t) return;
    CHECKF(t->type == type && t->n_dims == n_dims && t->ne[0] == ne0 && t->ne[1] == ne1 && t->ne[2] == ne2 &&
               t->ne[3] == 1,
           "%s: type %d dims %u ne %lld %lld %lld", name, t->type, t->n_dims, (long long)t->ne[0], (long long)t->ne[1],
           (long long)t->ne[2]);
}

static void test_conformance_files(void) {
    static const struct {
        const char *name;
        uint64_t n_tensors, n_kv;
        const char *arch;
    } cases[] = {
        {"ds2lite-4l-f32", 55, 39, "deepseek2"}, {"ds3-tiny-f32", 49, 42, "deepseek2"},
        {"ds3-tiny-q8_0", 49, 42, "deepseek2"},  {"llama-tiny-f32", 31, 24, "llama"},
        {"llama-tiny-q6_k", 31, 24, "llama"},    {"qwen2-tiny-f32", 38, 22, "qwen2"},
        {"qwen2-tiny-q4_k_m", 38, 22, "qwen2"},  {"qwen2-tiny-q8_0", 38, 22, "qwen2"},
    };
    for (size_t c = 0; c < CS_ARRAY_LEN(cases); c++) {
        char path[512];
        snprintf(path, sizeof path, "%s/conformance/%s.gguf", t_shared_dir(), cases[c].name);
        gguf_file *f = gguf_open(path, NULL);
        CHECKF(f != NULL, "%s: %s", path, cs_last_error());
        if (!f) continue;
        check_common(f, path, cases[c].n_tensors, cases[c].n_kv, cases[c].arch);
        const char *nm = cases[c].name;
        uint32_t u = 0;
        int64_t i64 = 0;
        float fl = 0;
        bool b = false;
        if (strncmp(nm, "qwen2", 5) == 0) {
            CHECK(gguf_get_u32(f, "qwen2.block_count", &u) && u == 3);
            CHECK(gguf_get_u32(f, "qwen2.embedding_length", &u) && u == 256);
            CHECK(gguf_get_u32(f, "qwen2.attention.head_count", &u) && u == 4);
            CHECK(gguf_get_u32(f, "qwen2.attention.head_count_kv", &u) && u == 2);
            CHECK(gguf_get_i64(f, "qwen2.context_length", &i64) && i64 == 4096);
            CHECK(gguf_get_f32(f, "qwen2.rope.freq_base", &fl) && fl == 10000.0f);
            CHECK(gguf_get_f32(f, "qwen2.attention.layer_norm_rms_epsilon", &fl) && fl == 1e-6f);
            CHECK(gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b) && !b);
            char *pre = gguf_get_str_dup(f, "tokenizer.ggml.pre");
            CHECK(pre && strcmp(pre, "deepseek-r1-qwen") == 0);
            free(pre);
            CHECK(gguf_find_tensor(f, "output.weight") == NULL);
            if (strcmp(nm, "qwen2-tiny-q4_k_m") == 0) {
                check_tensor(f, "token_embd.weight", CS_TYPE_Q6_K, 2, 256, 512, 1);
                check_tensor(f, "blk.0.attn_k.weight", CS_TYPE_Q4_K, 2, 256, 128, 1);
                check_tensor(f, "blk.2.ffn_down.weight", CS_TYPE_Q6_K, 2, 512, 256, 1);
                CHECK(gguf_get_u32(f, "general.file_type", &u) && u == 15);
                CHECK(gguf_find_tensor(f, "token_embd.weight")->offset == 1024);
            } else if (strcmp(nm, "qwen2-tiny-q8_0") == 0) {
                check_tensor(f, "token_embd.weight", CS_TYPE_Q8_0, 2, 256, 512, 1);
            } else {
                check_tensor(f, "token_embd.weight", CS_TYPE_F32, 2, 256, 512, 1);
            }
            check_tensor(f, "blk.0.attn_q.bias", CS_TYPE_F32, 1, 256, 1, 1);
        } else if (strncmp(nm, "ds", 2) == 0) {
            bool v3 = strncmp(nm, "ds3", 3) == 0;
            CHECK(gguf_get_u32(f, "deepseek2.expert_count", &u) && u == 16);
            CHECK(gguf_get_u32(f, "deepseek2.block_count", &u) && u == (v3 ? 3u : 4u));
            CHECK(gguf_get_u32(f, "deepseek2.attention.kv_lora_rank", &u) && u == 64);
            check_tensor(f, "blk.1.ffn_gate_exps.weight", strstr(nm, "q8_0") ? CS_TYPE_Q8_0 : CS_TYPE_F32, 3, 256, 64,
                         16);
            check_tensor(f, "output.weight", strstr(nm, "q8_0") ? CS_TYPE_Q8_0 : CS_TYPE_F32, 2, 256, 512, 1);
            check_tensor(f, "blk.1.ffn_gate_inp.weight", CS_TYPE_F32, 2, 256, 16, 1);
            if (v3) {
                CHECK(gguf_get_f32(f, "deepseek2.expert_weights_scale", &fl) && fl == 2.5f);
                CHECK(gguf_get_bool(f, "deepseek2.expert_weights_norm", &b) && b);
                CHECK(gguf_get_u32(f, "deepseek2.attention.q_lora_rank", &u) && u == 96);
                CHECK(gguf_get_u32(f, "deepseek2.expert_group_count", &u) && u == 4);
                char *st = gguf_get_str_dup(f, "deepseek2.rope.scaling.type");
                CHECK(st && strcmp(st, "yarn") == 0);
                free(st);
                check_tensor(f, "blk.1.exp_probs_b.bias", CS_TYPE_F32, 1, 16, 1, 1);
            } else {
                CHECK(gguf_get(f, "deepseek2.attention.q_lora_rank") == NULL);
            }
        } else {
            CHECK(gguf_get_u32(f, "llama.block_count", &u) && u == 3);
            CHECK(gguf_get_f32(f, "llama.rope.freq_base", &fl) && fl == 500000.0f);
            check_tensor(f, "rope_freqs.weight", CS_TYPE_F32, 1, 32, 1, 1);
            check_tensor(f, "output.weight", strstr(nm, "q6_k") ? CS_TYPE_Q6_K : CS_TYPE_F32, 2, 256, 512, 1);
        }
        gguf_close(f);
    }
}

/* Reading a file and writing it back (every kv through gguf_writer_set_value,
 * the tensors streamed) reproduces llama.cpp's own files byte for byte. */
static void test_copy_is_identical(void) {
    DIR *d = NULL;
    char dir[512];
    snprintf(dir, sizeof dir, "%s/conformance", t_shared_dir());
    d = opendir(dir);
    CHECKF(d != NULL, "cannot list %s", dir);
    if (!d) return;
    const char *out = tmp_path("copy.gguf");
    int files = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 5, ".gguf") != 0) continue;
        char path[1024];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        gguf_file *f = gguf_open(path, NULL);
        CHECKF(f != NULL, "%s: %s", path, cs_last_error());
        if (!f) continue;
        files++;
        gguf_writer *w = gguf_writer_new();
        for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
            const gguf_kv *kv = gguf_kv_at(f, i);
            char key[256];
            snprintf(key, sizeof key, "%.*s", (int)kv->key.len, kv->key.ptr);
            gguf_writer_set_value(w, key, &kv->value);
        }
        for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
            const gguf_tensor *t = gguf_tensor_at(f, i);
            CHECK(gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne) == 0);
        }
        CHECKF(gguf_writer_begin(w, out) == 0, "%s", cs_last_error());
        for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
            const gguf_tensor *t = gguf_tensor_at(f, i);
            for (uint64_t o = 0; o < t->nbytes; o += 100000) /* several calls per tensor */
                gguf_writer_write_data(w, (const uint8_t *)t->data + o, (size_t)CS_MIN(100000, t->nbytes - o));
        }
        CHECKF(gguf_writer_finish(w) == 0, "%s", cs_last_error());
        gguf_writer_free(w);
        gguf_close(f);
        size_t na, nb;
        uint8_t *a = read_all(path, &na), *b = read_all(out, &nb);
        CHECKF(a && b && na == nb && memcmp(a, b, na) == 0, "%s: the copy differs", e->d_name);
        free(a);
        free(b);
    }
    closedir(d);
    remove(out);
    CHECK(files >= 8);
}

/* ---- (2) writer -> reader round trip ------------------------------------- */

typedef struct {
    const char *name;
    cs_type type;
    uint32_t n_dims;
    int64_t ne[4];
} tspec;

static const tspec rt_tensors[] = {
    {"f32.a", CS_TYPE_F32, 2, {7, 3}},        {"f16.b", CS_TYPE_F16, 1, {5}},
    {"bf16.c", CS_TYPE_BF16, 4, {3, 2, 2, 2}}, {"q8_0.d", CS_TYPE_Q8_0, 2, {64, 3}},
    {"q4_k.e", CS_TYPE_Q4_K, 2, {256, 2}},     {"q6_k.f", CS_TYPE_Q6_K, 4, {256, 1, 1, 3}},
    {"q4_0.g", CS_TYPE_Q4_0, 2, {32, 5}},      {"q5_0.h", CS_TYPE_Q5_0, 2, {96, 1}},
    {"q5_1.i", CS_TYPE_Q5_1, 3, {32, 1, 3}},   {"q5_k.j", CS_TYPE_Q5_K, 1, {512}},
    {"f32.scalar", CS_TYPE_F32, 1, {1}},
};

static uint64_t spec_bytes(const tspec *t) {
    uint64_t n = cs_row_size(t->type, t->ne[0]);
    for (uint32_t d = 1; d < t->n_dims; d++) n *= (uint64_t)t->ne[d];
    return n;
}

static gguf_value arr_of(gguf_type et, uint64_t n, const void *data, gguf_str *strs, gguf_value *items) {
    gguf_value v;
    memset(&v, 0, sizeof v);
    v.type = GGUF_TYPE_ARRAY;
    v.arr.type = et;
    v.arr.n = n;
    v.arr.data = data;
    v.arr.strs = strs;
    v.arr.items = items;
    return v;
}

static gguf_str mkstr(const char *s) { return (gguf_str){strlen(s), s}; }

static void set_all_values(gguf_writer *w) {
    gguf_value v;
    gguf_writer_set_u8(w, "t.u8", 200);
    v = (gguf_value){.type = GGUF_TYPE_INT8, .i = -5};
    gguf_writer_set_value(w, "t.i8", &v);
    v = (gguf_value){.type = GGUF_TYPE_UINT16, .u = 65000};
    gguf_writer_set_value(w, "t.u16", &v);
    v = (gguf_value){.type = GGUF_TYPE_INT16, .i = -30000};
    gguf_writer_set_value(w, "t.i16", &v);
    gguf_writer_set_u32(w, "t.u32", 4000000000u);
    gguf_writer_set_i32(w, "t.i32", -2000000000);
    gguf_writer_set_u64(w, "t.u64", (1ull << 63) + 5);
    v = (gguf_value){.type = GGUF_TYPE_INT64, .i = INT64_MIN};
    gguf_writer_set_value(w, "t.i64", &v);
    gguf_writer_set_f32(w, "t.f32", 3.25f);
    v = (gguf_value){.type = GGUF_TYPE_FLOAT64, .f = -1e300};
    gguf_writer_set_value(w, "t.f64", &v);
    gguf_writer_set_bool(w, "t.bool", true);
    gguf_writer_set_str(w, "t.str", "h\xc3\xa9llo");
    gguf_writer_set_str(w, "t.empty", "");
    gguf_writer_set_u32(w, "t.replaced", 1);

    static const uint8_t a_u8[] = {0, 1, 255};
    static const int8_t a_i8[] = {-128, 0, 127};
    static const uint16_t a_u16[] = {1, 65535};
    static const int16_t a_i16[] = {-32768, 5, 32767};
    static const uint32_t a_u32[] = {7, 4294967295u};
    static const int32_t a_i32[] = {-1, 2, -3, 4};
    static const float a_f32[] = {0.5f, -1.25f};
    static const uint8_t a_bool[] = {1, 0, 1};
    static const uint64_t a_u64[] = {UINT64_MAX, 0};
    static const int64_t a_i64[] = {INT64_MIN, 42};
    static const double a_f64[] = {1e-300, 3.0};
    gguf_writer_set_arr(w, "a.u8", GGUF_TYPE_UINT8, a_u8, 3);
    gguf_writer_set_arr(w, "a.i8", GGUF_TYPE_INT8, a_i8, 3);
    gguf_writer_set_arr(w, "a.u16", GGUF_TYPE_UINT16, a_u16, 2);
    gguf_writer_set_arr(w, "a.i16", GGUF_TYPE_INT16, a_i16, 3);
    gguf_writer_set_arr(w, "a.u32", GGUF_TYPE_UINT32, a_u32, 2);
    gguf_writer_set_arr(w, "a.i32", GGUF_TYPE_INT32, a_i32, 4);
    gguf_writer_set_arr(w, "a.f32", GGUF_TYPE_FLOAT32, a_f32, 2);
    gguf_writer_set_arr(w, "a.bool", GGUF_TYPE_BOOL, a_bool, 3);
    gguf_writer_set_arr(w, "a.u64", GGUF_TYPE_UINT64, a_u64, 2);
    gguf_writer_set_arr(w, "a.i64", GGUF_TYPE_INT64, a_i64, 2);
    gguf_writer_set_arr(w, "a.f64", GGUF_TYPE_FLOAT64, a_f64, 2);
    gguf_writer_set_arr(w, "a.empty", GGUF_TYPE_UINT32, NULL, 0);
    static const char *const strs[] = {"a", "", "ccc", "\xc4\xa0 \xc4\xa0"};
    gguf_writer_set_arr_str(w, "a.str", strs, 4);
    gguf_writer_set_arr_str(w, "a.str_empty", NULL, 0);

    /* [[1,2,3],[],[4]] of int32 */
    static const int32_t n1[] = {1, 2, 3}, n3[] = {4};
    gguf_value it[3] = {arr_of(GGUF_TYPE_INT32, 3, n1, NULL, NULL), arr_of(GGUF_TYPE_INT32, 0, NULL, NULL, NULL),
                        arr_of(GGUF_TYPE_INT32, 1, n3, NULL, NULL)};
    v = arr_of(GGUF_TYPE_ARRAY, 3, NULL, NULL, it);
    gguf_writer_set_value(w, "n.i32", &v);
    /* [["x","yy"],["zzz"]] */
    gguf_str s1[] = {mkstr("x"), mkstr("yy")}, s2[] = {mkstr("zzz")};
    gguf_value its[2] = {arr_of(GGUF_TYPE_STRING, 2, NULL, s1, NULL), arr_of(GGUF_TYPE_STRING, 1, NULL, s2, NULL)};
    v = arr_of(GGUF_TYPE_ARRAY, 2, NULL, NULL, its);
    gguf_writer_set_value(w, "n.str", &v);
    /* [[[1],[2,3]],[[]]] of uint16 */
    static const uint16_t d1[] = {1}, d2[] = {2, 3};
    gguf_value l2a[2] = {arr_of(GGUF_TYPE_UINT16, 1, d1, NULL, NULL), arr_of(GGUF_TYPE_UINT16, 2, d2, NULL, NULL)};
    gguf_value l2b[1] = {arr_of(GGUF_TYPE_UINT16, 0, NULL, NULL, NULL)};
    gguf_value l1[2] = {arr_of(GGUF_TYPE_ARRAY, 2, NULL, NULL, l2a), arr_of(GGUF_TYPE_ARRAY, 1, NULL, NULL, l2b)};
    v = arr_of(GGUF_TYPE_ARRAY, 2, NULL, NULL, l1);
    gguf_writer_set_value(w, "n.deep", &v);

    gguf_writer_set_str(w, "t.replaced", "now a string"); /* replaces, keeps its place */
}

static void check_all_values(gguf_file *f) {
    const gguf_value *v;
    uint32_t u;
    int64_t i;
    float fl;
    bool b;
    double d;
    gguf_str s;
    CHECK((v = gguf_get(f, "t.u8")) && v->type == GGUF_TYPE_UINT8 && v->u == 200);
    CHECK((v = gguf_get(f, "t.i8")) && v->type == GGUF_TYPE_INT8 && v->i == -5);
    CHECK((v = gguf_get(f, "t.u16")) && v->type == GGUF_TYPE_UINT16 && v->u == 65000);
    CHECK((v = gguf_get(f, "t.i16")) && v->type == GGUF_TYPE_INT16 && v->i == -30000);
    CHECK((v = gguf_get(f, "t.u32")) && v->type == GGUF_TYPE_UINT32 && v->u == 4000000000u);
    CHECK((v = gguf_get(f, "t.i32")) && v->type == GGUF_TYPE_INT32 && v->i == -2000000000);
    CHECK((v = gguf_get(f, "t.u64")) && v->type == GGUF_TYPE_UINT64 && v->u == (1ull << 63) + 5);
    CHECK((v = gguf_get(f, "t.i64")) && v->type == GGUF_TYPE_INT64 && v->i == INT64_MIN);
    CHECK((v = gguf_get(f, "t.f32")) && v->type == GGUF_TYPE_FLOAT32 && v->f == 3.25);
    CHECK((v = gguf_get(f, "t.f64")) && v->type == GGUF_TYPE_FLOAT64 && v->f == -1e300);
    CHECK((v = gguf_get(f, "t.bool")) && v->type == GGUF_TYPE_BOOL && v->u == 1);
    CHECK(gguf_get_str(f, "t.str", &s) && str_eq(s, "h\xc3\xa9llo"));
    CHECK(gguf_get_str(f, "t.empty", &s) && s.len == 0);
    char *dup = gguf_get_str_dup(f, "t.empty");
    CHECK(dup && dup[0] == 0);
    free(dup);
    CHECK(gguf_get_str(f, "t.replaced", &s) && str_eq(s, "now a string"));
    /* typed getters and their conversions */
    CHECK(gguf_get_u32(f, "t.u8", &u) && u == 200);
    CHECK(gguf_get_u32(f, "t.u16", &u) && u == 65000);
    CHECK(!gguf_get_u32(f, "t.i8", &u));  /* negative */
    CHECK(!gguf_get_u32(f, "t.u64", &u)); /* too large */
    CHECK(gguf_get_i64(f, "t.i64", &i) && i == INT64_MIN);
    CHECK(gguf_get_i64(f, "t.u32", &i) && i == 4000000000ll);
    CHECK(!gguf_get_i64(f, "t.u64", &i));
    CHECK(gguf_get_f32(f, "t.f32", &fl) && fl == 3.25f);
    CHECK(gguf_get_f32(f, "t.f64", &fl));
    CHECK(!gguf_get_f32(f, "t.str", &fl));
    CHECK(gguf_get_bool(f, "t.bool", &b) && b);
    CHECK(!gguf_get_bool(f, "t.u8", &b));
    CHECK(!gguf_get_str(f, "t.u8", &s));
    CHECK(gguf_get_str_dup(f, "t.u8") == NULL);

    struct {
        const char *key;
        gguf_type et;
        uint64_t n;
        int64_t first, last;
    } ints[] = {
        {"a.u8", GGUF_TYPE_UINT8, 3, 0, 255},        {"a.i8", GGUF_TYPE_INT8, 3, -128, 127},
        {"a.u16", GGUF_TYPE_UINT16, 2, 1, 65535},    {"a.i16", GGUF_TYPE_INT16, 3, -32768, 32767},
        {"a.u32", GGUF_TYPE_UINT32, 2, 7, 4294967295ll}, {"a.i32", GGUF_TYPE_INT32, 4, -1, 4},
        {"a.bool", GGUF_TYPE_BOOL, 3, 1, 1},         {"a.i64", GGUF_TYPE_INT64, 2, INT64_MIN, 42},
    };
    for (size_t k = 0; k < CS_ARRAY_LEN(ints); k++) {
        v = gguf_get(f, ints[k].key);
        CHECKF(v && v->type == GGUF_TYPE_ARRAY && v->arr.type == ints[k].et && v->arr.n == ints[k].n, "%s",
               ints[k].key);
        if (!v) continue;
        CHECKF(gguf_arr_i64(v, 0, &i) && i == ints[k].first, "%s[0]", ints[k].key);
        CHECKF(gguf_arr_i64(v, ints[k].n - 1, &i) && i == ints[k].last, "%s[last]", ints[k].key);
        CHECK(!gguf_arr_i64(v, ints[k].n, &i));
        CHECK(gguf_arr_f64(v, 0, &d) && d == (double)ints[k].first);
    }
    CHECK((v = gguf_get(f, "a.u64")) && v->arr.type == GGUF_TYPE_UINT64 && !gguf_arr_i64(v, 0, &i) &&
          gguf_arr_i64(v, 1, &i) && i == 0 && gguf_arr_f64(v, 0, &d) && d == 18446744073709551615.0);
    CHECK((v = gguf_get(f, "a.f32")) && v->arr.n == 2 && gguf_arr_f64(v, 1, &d) && d == -1.25 && !gguf_arr_i64(v, 0, &i));
    CHECK((v = gguf_get(f, "a.f64")) && v->arr.n == 2 && gguf_arr_f64(v, 0, &d) && d == 1e-300);
    CHECK((v = gguf_get(f, "a.empty")) && v->arr.type == GGUF_TYPE_UINT32 && v->arr.n == 0 && !gguf_arr_i64(v, 0, &i));
    v = gguf_get(f, "a.str");
    CHECK(v && v->arr.type == GGUF_TYPE_STRING && v->arr.n == 4 && v->arr.strs);
    if (v && v->arr.strs && v->arr.n == 4) {
        CHECK(str_eq(v->arr.strs[0], "a") && v->arr.strs[1].len == 0 && str_eq(v->arr.strs[2], "ccc") &&
              str_eq(v->arr.strs[3], "\xc4\xa0 \xc4\xa0"));
        CHECK(!gguf_arr_i64(v, 0, &i));
    }
    CHECK((v = gguf_get(f, "a.str_empty")) && v->arr.type == GGUF_TYPE_STRING && v->arr.n == 0);

    v = gguf_get(f, "n.i32");
    CHECK(v && v->arr.type == GGUF_TYPE_ARRAY && v->arr.n == 3 && v->arr.items);
    if (v && v->arr.items && v->arr.n == 3) {
        const gguf_value *it = v->arr.items;
        CHECK(it[0].arr.type == GGUF_TYPE_INT32 && it[0].arr.n == 3 && gguf_arr_i64(&it[0], 2, &i) && i == 3);
        CHECK(it[1].arr.n == 0);
        CHECK(it[2].arr.n == 1 && gguf_arr_i64(&it[2], 0, &i) && i == 4);
    }
    v = gguf_get(f, "n.str");
    CHECK(v && v->arr.n == 2 && v->arr.items);
    if (v && v->arr.items && v->arr.n == 2) {
        CHECK(v->arr.items[0].arr.type == GGUF_TYPE_STRING && v->arr.items[0].arr.n == 2 &&
              str_eq(v->arr.items[0].arr.strs[1], "yy"));
        CHECK(v->arr.items[1].arr.n == 1 && str_eq(v->arr.items[1].arr.strs[0], "zzz"));
    }
    v = gguf_get(f, "n.deep");
    CHECK(v && v->arr.n == 2 && v->arr.items);
    if (v && v->arr.items && v->arr.n == 2) {
        const gguf_value *a = &v->arr.items[0], *bb = &v->arr.items[1];
        CHECK(a->arr.type == GGUF_TYPE_ARRAY && a->arr.n == 2 && a->arr.items);
        if (a->arr.items) {
            CHECK(a->arr.items[1].arr.type == GGUF_TYPE_UINT16 && a->arr.items[1].arr.n == 2 &&
                  gguf_arr_i64(&a->arr.items[1], 1, &i) && i == 3);
        }
        CHECK(bb->arr.n == 1 && bb->arr.items && bb->arr.items[0].arr.n == 0);
    }
    /* kv order is the order set (the replaced key kept its place) */
    const gguf_kv *k0 = gguf_kv_at(f, 0), *k13 = gguf_kv_at(f, 13);
    CHECK(k0 && str_eq(k0->key, "t.u8"));
    CHECK(k13 && str_eq(k13->key, "t.replaced") && k13->value.type == GGUF_TYPE_STRING);
}

static uint8_t *tensor_bytes(const tspec *ts, size_t nt, size_t *total, uint64_t seed) {
    size_t n = 0;
    for (size_t i = 0; i < nt; i++) n += spec_bytes(&ts[i]);
    uint8_t *b = malloc(n);
    uint64_t save = g_rng;
    g_rng = seed;
    for (size_t i = 0; i < n; i++) b[i] = (uint8_t)rnd();
    g_rng = save;
    *total = n;
    return b;
}

static void test_round_trip(void) {
    const char *path = tmp_path("rt.gguf");
    size_t nt = CS_ARRAY_LEN(rt_tensors), total;
    uint8_t *data = tensor_bytes(rt_tensors, nt, &total, 12345);

    gguf_writer *w = gguf_writer_new();
    set_all_values(w);
    for (size_t i = 0; i < nt; i++)
        CHECK(gguf_writer_add_tensor(w, rt_tensors[i].name, rt_tensors[i].type, rt_tensors[i].n_dims, rt_tensors[i].ne) == 0);
    CHECKF(gguf_writer_begin(w, path) == 0, "%s", cs_last_error());
    /* irregular chunks that straddle tensor boundaries */
    size_t pos = 0, step = 1;
    while (pos < total) {
        size_t k = CS_MIN(step, total - pos);
        CHECK(gguf_writer_write_data(w, data + pos, k) == 0);
        pos += k;
        step = step * 3 % 97 + 1;
    }
    CHECKF(gguf_writer_finish(w) == 0, "%s", cs_last_error());
    gguf_writer_free(w);

    for (int mode = 0; mode < 2; mode++) {
        gguf_open_opts o = {.no_mmap = mode == 1};
        gguf_file *f = gguf_open(path, &o);
        CHECKF(f != NULL, "%s", cs_last_error());
        if (!f) continue;
        CHECK(gguf_version(f) == 3 && gguf_alignment(f) == 32);
        CHECK(gguf_get(f, "general.alignment") == NULL); /* default: not written */
        CHECKF(gguf_n_kv(f) == 31, "%llu kvs", (unsigned long long)gguf_n_kv(f));
        check_all_values(f);
        CHECK(gguf_n_tensors(f) == nt);
        size_t off = 0;
        for (size_t i = 0; i < nt && i < gguf_n_tensors(f); i++) {
            const gguf_tensor *t = gguf_tensor_at(f, i);
            const tspec *s = &rt_tensors[i];
            CHECK(strcmp(t->name, s->name) == 0);
            CHECK(t->type == s->type && t->n_dims == s->n_dims);
            for (uint32_t d = 0; d < 4; d++) CHECK(t->ne[d] == (d < s->n_dims ? s->ne[d] : 1));
            CHECK(t->nbytes == spec_bytes(s));
            CHECK(t->offset % 32 == 0);
            CHECKF(memcmp(t->data, data + off, t->nbytes) == 0, "%s bytes", t->name);
            off += t->nbytes;
        }
        CHECK(gguf_file_size(f) % 32 == 0); /* the last tensor is padded too */
        gguf_close(f);
    }

    /* a non-default alignment is written as general.alignment and honoured */
    w = gguf_writer_new();
    gguf_writer_set_u32(w, "general.alignment", 64);
    gguf_writer_set_str(w, "general.architecture", "test");
    for (size_t i = 0; i < 3; i++)
        gguf_writer_add_tensor(w, rt_tensors[i].name, rt_tensors[i].type, rt_tensors[i].n_dims, rt_tensors[i].ne);
    CHECK(gguf_writer_begin(w, path) == 0);
    size_t n3 = (size_t)(spec_bytes(&rt_tensors[0]) + spec_bytes(&rt_tensors[1]) + spec_bytes(&rt_tensors[2]));
    CHECK(gguf_writer_write_data(w, data, n3) == 0);
    CHECK(gguf_writer_finish(w) == 0);
    gguf_writer_free(w);
    gguf_file *f = gguf_open(path, NULL);
    CHECKF(f != NULL, "%s", cs_last_error());
    if (f) {
        uint32_t a = 0;
        CHECK(gguf_alignment(f) == 64 && gguf_get_u32(f, "general.alignment", &a) && a == 64);
        for (uint64_t i = 0; i < gguf_n_tensors(f); i++) CHECK(gguf_tensor_at(f, i)->offset % 64 == 0);
        CHECK(gguf_file_size(f) % 64 == 0);
        CHECK(memcmp(gguf_tensor_at(f, 2)->data, data + spec_bytes(&rt_tensors[0]) + spec_bytes(&rt_tensors[1]),
                     spec_bytes(&rt_tensors[2])) == 0);
        gguf_close(f);
    }

    /* a model without tensors */
    w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "empty");
    CHECK(gguf_writer_begin(w, path) == 0 && gguf_writer_finish(w) == 0);
    gguf_writer_free(w);
    f = gguf_open(path, NULL);
    CHECKF(f && gguf_n_tensors(f) == 0 && gguf_n_kv(f) == 1, "%s", f ? "" : cs_last_error());
    gguf_close(f);
    free(data);
}

static void test_writer_errors(void) {
    const char *path = tmp_path("werr.gguf");
    gguf_writer *w = gguf_writer_new();
    int64_t ne[4] = {33, 2, 1, 1};
    CHECK(gguf_writer_add_tensor(w, "q", CS_TYPE_Q8_0, 2, ne) == -1 && strstr(cs_last_error(), "block size"));
    ne[0] = 32;
    CHECK(gguf_writer_add_tensor(w, "q", CS_TYPE_Q8_0, 0, ne) == -1);
    CHECK(gguf_writer_add_tensor(w, "q", CS_TYPE_Q8_0, 5, ne) == -1);
    CHECK(gguf_writer_add_tensor(w, "q", (cs_type)4, 2, ne) == -1 && strstr(cs_last_error(), "unknown type"));
    CHECK(gguf_writer_add_tensor(w, "", CS_TYPE_F32, 2, ne) == -1);
    CHECK(gguf_writer_add_tensor(w, "0123456789012345678901234567890123456789012345678901234567890123", CS_TYPE_F32, 1,
                                 ne) == -1);
    ne[1] = 0;
    CHECK(gguf_writer_add_tensor(w, "q", CS_TYPE_F32, 2, ne) == -1);
    ne[1] = -3;
    CHECK(gguf_writer_add_tensor(w, "q", CS_TYPE_F32, 2, ne) == -1);
    ne[1] = 2;
    CHECK(gguf_writer_add_tensor(w, "q", CS_TYPE_Q8_0, 2, ne) == 0);
    CHECK(gguf_writer_add_tensor(w, "q", CS_TYPE_F32, 2, ne) == -1 && strstr(cs_last_error(), "duplicate"));
    CHECK(gguf_writer_add_tensor(w, "r", CS_TYPE_F32, 1, ne) == 0);
    CHECK(gguf_writer_begin(w, path) == 0);
    CHECK(gguf_writer_add_tensor(w, "s", CS_TYPE_F32, 1, ne) == -1); /* too late */
    uint8_t zeros[256] = {0};
    CHECK(gguf_writer_write_data(w, zeros, 68) == 0);                  /* q complete */
    CHECK(gguf_writer_finish(w) == -1 && strstr(cs_last_error(), "'r'")); /* r missing */
    gguf_writer_free(w);

    w = gguf_writer_new();
    gguf_writer_add_tensor(w, "r", CS_TYPE_F32, 1, ne);
    CHECK(gguf_writer_begin(w, path) == 0);
    CHECK(gguf_writer_write_data(w, zeros, 129) == -1 && strstr(cs_last_error(), "more tensor data"));
    gguf_writer_free(w);

    /* setter errors surface at begin() */
    w = gguf_writer_new();
    gguf_writer_set_arr(w, "bad", GGUF_TYPE_STRING, zeros, 1);
    gguf_writer_set_u32(w, "fine", 1);
    CHECK(gguf_writer_begin(w, path) == -1 && strstr(cs_last_error(), "bad"));
    gguf_writer_free(w);
    w = gguf_writer_new();
    gguf_writer_set_str(w, NULL, "x");
    CHECK(gguf_writer_begin(w, path) == -1 && has_error());
    gguf_writer_free(w);
    w = gguf_writer_new();
    gguf_writer_set_u32(w, "general.alignment", 48);
    CHECK(gguf_writer_begin(w, path) == -1 && strstr(cs_last_error(), "power of two"));
    gguf_writer_free(w);
    w = gguf_writer_new();
    CHECK(gguf_writer_begin(w, "/nonexistent-dir/x.gguf") == -1 && strstr(cs_last_error(), "cannot create"));
    gguf_writer_free(w);

    /* nesting deeper than GGUF_MAX_ARRAY_DEPTH is refused */
    gguf_value lv[GGUF_MAX_ARRAY_DEPTH + 1];
    lv[GGUF_MAX_ARRAY_DEPTH] = arr_of(GGUF_TYPE_UINT8, 0, NULL, NULL, NULL);
    for (int d = GGUF_MAX_ARRAY_DEPTH - 1; d >= 0; d--) lv[d] = arr_of(GGUF_TYPE_ARRAY, 1, NULL, NULL, &lv[d + 1]);
    w = gguf_writer_new();
    gguf_writer_set_value(w, "ok", &lv[1]); /* 8 levels */
    CHECK(gguf_writer_begin(w, path) == 0 && gguf_writer_finish(w) == 0);
    gguf_writer_free(w);
    gguf_file *f = gguf_open(path, NULL);
    CHECKF(f != NULL, "8 levels: %s", cs_last_error());
    gguf_close(f);
    w = gguf_writer_new();
    gguf_writer_set_value(w, "deep", &lv[0]); /* 9 levels */
    CHECK(gguf_writer_begin(w, path) == -1 && strstr(cs_last_error(), "nested"));
    gguf_writer_free(w);
}

/* ---- (3) --no-mmap equals mmap ------------------------------------------- */

typedef struct {
    int calls;
    double last;
    bool monotonic;
} prog_rec;

static void on_progress(double fr, void *user) {
    prog_rec *p = user;
    if (fr < p->last || fr < 0 || fr > 1) p->monotonic = false;
    p->last = fr;
    p->calls++;
}

static bool values_equal(const gguf_value *a, const gguf_value *b) {
    if (a->type != b->type) return false;
    switch (a->type) {
    case GGUF_TYPE_STRING: return a->s.len == b->s.len && memcmp(a->s.ptr, b->s.ptr, a->s.len) == 0;
    case GGUF_TYPE_ARRAY: {
        if (a->arr.type != b->arr.type || a->arr.n != b->arr.n) return false;
        size_t es = gguf_type_size(a->arr.type);
        if (es) return memcmp(a->arr.data, b->arr.data, es * a->arr.n) == 0;
        for (uint64_t i = 0; i < a->arr.n; i++) {
            if (a->arr.type == GGUF_TYPE_STRING) {
                if (a->arr.strs[i].len != b->arr.strs[i].len ||
                    memcmp(a->arr.strs[i].ptr, b->arr.strs[i].ptr, a->arr.strs[i].len) != 0)
                    return false;
            } else if (!values_equal(&a->arr.items[i], &b->arr.items[i])) {
                return false;
            }
        }
        return true;
    }
    case GGUF_TYPE_FLOAT32:
    case GGUF_TYPE_FLOAT64: return memcmp(&a->f, &b->f, sizeof a->f) == 0;
    default: return a->u == b->u;
    }
}

static void compare_files(gguf_file *a, gguf_file *b) {
    CHECK(gguf_n_kv(a) == gguf_n_kv(b) && gguf_n_tensors(a) == gguf_n_tensors(b));
    CHECK(gguf_file_size(a) == gguf_file_size(b) && gguf_n_shards(a) == gguf_n_shards(b));
    for (uint64_t i = 0; i < gguf_n_kv(a) && i < gguf_n_kv(b); i++) {
        const gguf_kv *x = gguf_kv_at(a, i), *y = gguf_kv_at(b, i);
        CHECK(x->key.len == y->key.len && memcmp(x->key.ptr, y->key.ptr, x->key.len) == 0);
        CHECKF(values_equal(&x->value, &y->value), "kv %llu", (unsigned long long)i);
    }
    for (uint64_t i = 0; i < gguf_n_tensors(a) && i < gguf_n_tensors(b); i++) {
        const gguf_tensor *x = gguf_tensor_at(a, i), *y = gguf_tensor_at(b, i);
        CHECK(strcmp(x->name, y->name) == 0 && x->type == y->type && x->offset == y->offset &&
              x->nbytes == y->nbytes && x->shard == y->shard && memcmp(x->ne, y->ne, sizeof x->ne) == 0);
        CHECKF(x->data != y->data && memcmp(x->data, y->data, x->nbytes) == 0, "%s", x->name);
    }
}

static void test_no_mmap(void) {
    const char *names[] = {"qwen2-tiny-q4_k_m", "ds2lite-4l-f32"};
    for (size_t c = 0; c < 2; c++) {
        char path[512];
        snprintf(path, sizeof path, "%s/conformance/%s.gguf", t_shared_dir(), names[c]);
        prog_rec pm = {0, 0, true}, pr = {0, 0, true};
        gguf_open_opts om = {.progress = on_progress, .progress_user = &pm};
        gguf_open_opts orr = {.no_mmap = true, .progress = on_progress, .progress_user = &pr};
        gguf_file *a = gguf_open(path, &om), *b = gguf_open(path, &orr);
        CHECKF(a && b, "%s: %s", path, cs_last_error());
        if (a && b) compare_files(a, b);
        CHECK(pm.calls == 1 && pm.last == 1.0);
        CHECK(pr.monotonic && pr.last == 1.0);
        /* 15 MB in 8 MB reads: two reports while reading, one at the end */
        CHECKF(pr.calls >= (c == 1 ? 3 : 2), "%d progress calls", pr.calls);
        gguf_close(a);
        gguf_close(b);
    }
    /* mlock: works or warns, never fails the open */
    char path[512];
    snprintf(path, sizeof path, "%s/conformance/qwen2-tiny-q4_k_m.gguf", t_shared_dir());
    int lvl = cs_log_level;
    cs_log_level = 0;
    gguf_open_opts ol = {.mlock = true};
    gguf_file *f = gguf_open(path, &ol);
    CHECK(f != NULL);
    gguf_close(f);
    ol.no_mmap = true;
    f = gguf_open(path, &ol);
    CHECK(f != NULL);
    gguf_close(f);
    cs_log_level = lvl;
}

/* ---- (4) split models ---------------------------------------------------- */

static const tspec split_tensors[] = {
    {"token_embd.weight", CS_TYPE_Q8_0, 2, {64, 10}}, {"blk.0.attn_norm.weight", CS_TYPE_F32, 1, {64}},
    {"blk.0.attn_q.weight", CS_TYPE_F16, 2, {64, 64}}, {"blk.0.ffn_up.weight", CS_TYPE_Q4_K, 2, {256, 3}},
    {"blk.1.attn_norm.weight", CS_TYPE_F32, 1, {64}}, {"output_norm.weight", CS_TYPE_F32, 1, {64}},
    {"output.weight", CS_TYPE_Q6_K, 2, {256, 10}},
};

/* Write shard `no` (0-based) of 3 holding tensors [lo, hi). */
static void write_shard(const char *path, int no, size_t lo, size_t hi, const uint8_t *data, int32_t total_tensors,
                        uint16_t split_no, const char *rename_first) {
    gguf_writer *w = gguf_writer_new();
    if (no == 0) {
        gguf_writer_set_str(w, "general.architecture", "llama");
        gguf_writer_set_u32(w, "llama.block_count", 2);
        static const char *const toks[] = {"a", "b", "c"};
        gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    }
    gguf_value v = {.type = GGUF_TYPE_UINT16, .u = split_no};
    gguf_writer_set_value(w, "split.no", &v);
    v.u = 3;
    gguf_writer_set_value(w, "split.count", &v);
    gguf_writer_set_i32(w, "split.tensors.count", total_tensors);
    size_t off = 0;
    for (size_t i = 0; i < lo; i++) off += spec_bytes(&split_tensors[i]);
    for (size_t i = lo; i < hi; i++) {
        const tspec *s = &split_tensors[i];
        gguf_writer_add_tensor(w, i == lo && rename_first ? rename_first : s->name, s->type, s->n_dims, s->ne);
    }
    CHECK(gguf_writer_begin(w, path) == 0);
    for (size_t i = lo; i < hi; i++) {
        gguf_writer_write_data(w, data + off, spec_bytes(&split_tensors[i]));
        off += spec_bytes(&split_tensors[i]);
    }
    CHECK(gguf_writer_finish(w) == 0);
    gguf_writer_free(w);
}

static void test_split(void) {
    size_t nt = CS_ARRAY_LEN(split_tensors), total;
    uint8_t *data = tensor_bytes(split_tensors, nt, &total, 777);
    char p1[512], p2[512], p3[512], moved[512];
    snprintf(p1, sizeof p1, "%s", tmp_path("model-00001-of-00003.gguf"));
    snprintf(p2, sizeof p2, "%s", tmp_path("model-00002-of-00003.gguf"));
    snprintf(p3, sizeof p3, "%s", tmp_path("model-00003-of-00003.gguf"));
    snprintf(moved, sizeof moved, "%s", tmp_path("moved.gguf"));
    const size_t cut[4] = {0, 3, 5, 7};
    write_shard(p1, 0, cut[0], cut[1], data, 7, 0, NULL);
    write_shard(p2, 1, cut[1], cut[2], data, 7, 1, NULL);
    write_shard(p3, 2, cut[2], cut[3], data, 7, 2, NULL);

    for (int mode = 0; mode < 2; mode++) {
        prog_rec pr = {0, 0, true};
        gguf_open_opts o = {.no_mmap = mode == 1, .progress = on_progress, .progress_user = &pr};
        gguf_file *f = gguf_open(p1, &o);
        CHECKF(f != NULL, "%s", cs_last_error());
        if (!f) continue;
        CHECK(gguf_n_shards(f) == 3);
        CHECK(gguf_file_size(f) == file_size(p1) + file_size(p2) + file_size(p3));
        CHECK(gguf_n_tensors(f) == nt);
        CHECK(gguf_n_kv(f) == 6);
        uint32_t u = 0;
        CHECK(gguf_get_u32(f, "llama.block_count", &u) && u == 2);
        const gguf_value *tok = gguf_get(f, "tokenizer.ggml.tokens");
        CHECK(tok && tok->arr.n == 3);
        size_t off = 0;
        for (size_t i = 0; i < nt && i < gguf_n_tensors(f); i++) {
            const gguf_tensor *t = gguf_tensor_at(f, i);
            uint32_t want_shard = i < cut[1] ? 0 : i < cut[2] ? 1 : 2;
            CHECK(strcmp(t->name, split_tensors[i].name) == 0);
            CHECKF(t->shard == want_shard, "%s in shard %u", t->name, t->shard);
            CHECK(gguf_find_tensor(f, t->name) == t);
            CHECKF(memcmp(t->data, data + off, t->nbytes) == 0, "%s bytes", t->name);
            off += t->nbytes;
        }
        CHECK(pr.monotonic && pr.last == 1.0 && pr.calls >= (mode == 1 ? 4 : 1));
        gguf_close(f);
    }
    size_t n;
    uint8_t *b1 = read_all(p1, &n);
    expect_fail(gguf_open_memory(b1, n, NULL), "split", "first shard from memory");
    free(b1);
    expect_fail(gguf_open(p2, NULL), "shard 2 of 3", "opening the second shard");

    /* a missing shard */
    CHECK(rename(p3, moved) == 0);
    expect_fail(gguf_open(p1, NULL), "model-00003-of-00003.gguf", "missing shard");
    CHECK(strstr(cs_last_error(), "cannot open") != NULL);
    CHECK(rename(moved, p3) == 0);
    /* the split file named otherwise */
    CHECK(rename(p1, moved) == 0);
    expect_fail(gguf_open(moved, NULL), "file name", "split shard under another name");
    CHECK(rename(moved, p1) == 0);

    /* wrong split.tensors.count */
    write_shard(p1, 0, cut[0], cut[1], data, 8, 0, NULL);
    expect_fail(gguf_open(p1, NULL), "split.tensors.count", "tensor count");
    write_shard(p1, 0, cut[0], cut[1], data, 7, 0, NULL);
    /* wrong split.no in shard 2 */
    write_shard(p2, 1, cut[1], cut[2], data, 7, 2, NULL);
    expect_fail(gguf_open(p1, NULL), "split.no", "split.no");
    /* a tensor name repeated across shards */
    write_shard(p2, 1, cut[1], cut[2], data, 7, 1, "token_embd.weight");
    expect_fail(gguf_open(p1, NULL), "duplicate tensor name", "duplicate across shards");
    write_shard(p2, 1, cut[1], cut[2], data, 7, 1, NULL);
    gguf_file *f = gguf_open(p1, NULL);
    CHECKF(f != NULL, "%s", cs_last_error());
    gguf_close(f);
    remove(p1);
    remove(p2);
    remove(p3);
    free(data);
}

/* ---- (5) robustness ------------------------------------------------------ */

/* The last tensor's size is a multiple of 32, so the file ends with tensor
 * data and every truncation cuts something the reader needs. */
static const tspec small_tensors[] = {
    {"blk.0.q", CS_TYPE_Q8_0, 2, {32, 2}},
    {"blk.0.h", CS_TYPE_F16, 1, {6}},
    {"blk.0.k", CS_TYPE_Q4_K, 1, {256}},
    {"blk.0.f", CS_TYPE_F32, 2, {8, 4}},
};

static uint8_t *small_model(size_t *n) {
    const char *path = tmp_path("small.gguf");
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_u32(w, "llama.block_count", 1);
    gguf_writer_set_f32(w, "llama.rope.freq_base", 10000.0f);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    static const char *const toks[] = {"<s>", "</s>", "a", "b", "\xc4\xa0", "hello", "", "x", "yz", "!"};
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 10);
    int32_t types[20];
    for (int i = 0; i < 20; i++) types[i] = i % 3;
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, 20);
    static const int32_t n1[] = {1, 2}, n2[] = {3};
    gguf_value it[2] = {arr_of(GGUF_TYPE_INT32, 2, n1, NULL, NULL), arr_of(GGUF_TYPE_INT32, 1, n2, NULL, NULL)};
    gguf_value v = arr_of(GGUF_TYPE_ARRAY, 2, NULL, NULL, it);
    gguf_writer_set_value(w, "test.nested", &v);
    gguf_writer_set_u64(w, "test.u64", 123456789);
    size_t nt = CS_ARRAY_LEN(small_tensors), total;
    uint8_t *data = tensor_bytes(small_tensors, nt, &total, 99);
    for (size_t i = 0; i < nt; i++)
        gguf_writer_add_tensor(w, small_tensors[i].name, small_tensors[i].type, small_tensors[i].n_dims,
                               small_tensors[i].ne);
    CHECK(gguf_writer_begin(w, path) == 0);
    CHECK(gguf_writer_write_data(w, data, total) == 0);
    CHECK(gguf_writer_finish(w) == 0);
    gguf_writer_free(w);
    free(data);
    uint8_t *b = read_all(path, n);
    remove(path);
    return b;
}

static uint64_t g_sink;

static void walk_value(const gguf_value *v) {
    g_sink += v->type;
    switch (v->type) {
    case GGUF_TYPE_STRING:
        for (uint64_t i = 0; i < v->s.len; i++) g_sink += (uint8_t)v->s.ptr[i];
        break;
    case GGUF_TYPE_ARRAY: {
        size_t es = gguf_type_size(v->arr.type);
        g_sink += v->arr.n;
        if (es) {
            for (uint64_t i = 0; i < v->arr.n; i++) {
                double d;
                int64_t x;
                if (gguf_arr_f64(v, i, &d)) g_sink += (uint64_t)(d == d);
                if (gguf_arr_i64(v, i, &x)) g_sink += (uint64_t)x;
            }
        } else if (v->arr.type == GGUF_TYPE_STRING) {
            for (uint64_t i = 0; i < v->arr.n; i++)
                for (uint64_t j = 0; j < v->arr.strs[i].len; j++) g_sink += (uint8_t)v->arr.strs[i].ptr[j];
        } else {
            for (uint64_t i = 0; i < v->arr.n; i++) walk_value(&v->arr.items[i]);
        }
        break;
    }
    default: g_sink += v->u; break;
    }
}

static void walk_file(gguf_file *f) {
    for (uint64_t i = 0; i < gguf_n_kv(f); i++) {
        const gguf_kv *kv = gguf_kv_at(f, i);
        char key[128];
        snprintf(key, sizeof key, "%.*s", (int)CS_MIN(kv->key.len, 100), kv->key.ptr);
        g_sink += (uintptr_t)gguf_get(f, key);
        walk_value(&kv->value);
        uint32_t u;
        float fl;
        bool b;
        int64_t x;
        g_sink += gguf_get_u32(f, key, &u) + gguf_get_f32(f, key, &fl) + gguf_get_bool(f, key, &b) +
                  gguf_get_i64(f, key, &x);
        char *s = gguf_get_str_dup(f, key);
        free(s);
    }
    for (uint64_t i = 0; i < gguf_n_tensors(f); i++) {
        const gguf_tensor *t = gguf_tensor_at(f, i);
        const uint8_t *p = t->data;
        for (uint64_t j = 0; j < t->nbytes; j++) g_sink += p[j];
        const gguf_tensor *u = gguf_find_tensor(f, t->name);
        if (!u || strcmp(u->name, t->name) != 0) CHECK(!"find_tensor finds every tensor");
    }
}

/* Offsets of the u32 and u64 fields of a valid file (a walker for our own
 * small model: no validation needed). */
typedef struct {
    size_t off[512];
    int width[512];
    int n;
} fields;

static void add_field(fields *fl, size_t off, int width) {
    if (fl->n < 512) {
        fl->off[fl->n] = off;
        fl->width[fl->n++] = width;
    }
}

static size_t skip_value(const uint8_t *b, size_t p, uint32_t type, fields *fl) {
    uint64_t n;
    switch (type) {
    case GGUF_TYPE_STRING:
        add_field(fl, p, 8);
        memcpy(&n, b + p, 8);
        return p + 8 + n;
    case GGUF_TYPE_ARRAY: {
        uint32_t et;
        memcpy(&et, b + p, 4);
        add_field(fl, p, 4);
        memcpy(&n, b + p + 4, 8);
        add_field(fl, p + 4, 8);
        p += 12;
        if (gguf_type_size(et)) return p + n * gguf_type_size(et);
        for (uint64_t i = 0; i < n; i++) p = skip_value(b, p, et, fl);
        return p;
    }
    default: return p + gguf_type_size(type);
    }
}

static size_t find_fields(const uint8_t *b, fields *fl) {
    uint64_t nt, nkv, len;
    memcpy(&nt, b + 8, 8);
    memcpy(&nkv, b + 16, 8);
    add_field(fl, 4, 4);
    add_field(fl, 8, 8);
    add_field(fl, 16, 8);
    size_t p = 24;
    for (uint64_t i = 0; i < nkv; i++) {
        uint32_t type;
        add_field(fl, p, 8);
        memcpy(&len, b + p, 8);
        p += 8 + len;
        add_field(fl, p, 4);
        memcpy(&type, b + p, 4);
        p = skip_value(b, p + 4, type, fl);
    }
    for (uint64_t i = 0; i < nt; i++) {
        uint32_t nd;
        add_field(fl, p, 8);
        memcpy(&len, b + p, 8);
        p += 8 + len;
        add_field(fl, p, 4);
        memcpy(&nd, b + p, 4);
        p += 4;
        for (uint32_t d = 0; d < nd; d++, p += 8) add_field(fl, p, 8);
        add_field(fl, p, 4);
        add_field(fl, p + 4, 8);
        p += 12;
    }
    return p; /* end of the tensor infos */
}

static void test_truncation(void) {
    size_t n;
    uint8_t *full = small_model(&n);
    CHECK(full != NULL && n > 1000 && n < 8192);
    if (!full) return;
    gguf_file *f = gguf_open_memory(full, n, NULL);
    CHECKF(f != NULL, "%s", cs_last_error());
    if (f) {
        walk_file(f);
        gguf_close(f);
    }
    int bad = 0;
    for (size_t len = 0; len < n; len++) {
        cs_clear_error();
        f = gguf_open_memory(full, len, NULL);
        if (f || !has_error()) {
            if (bad++ < 5) CHECKF(0, "truncated to %zu of %zu bytes: %s", len, n, f ? "loaded" : "no error");
            gguf_close(f);
        }
    }
    CHECK(bad == 0);
    /* the same through real files, mmap and not, for a sample of lengths */
    const char *path = tmp_path("trunc.gguf");
    for (size_t len = 0; len < n; len += 37) {
        write_all(path, full, len);
        for (int mode = 0; mode < 2; mode++) {
            gguf_open_opts o = {.no_mmap = mode == 1};
            cs_clear_error();
            f = gguf_open(path, &o);
            CHECKF(!f && has_error(), "file truncated to %zu (mode %d)", len, mode);
            gguf_close(f);
        }
    }
    remove(path);
    free(full);
}

static void test_mutations(void) {
    size_t n;
    uint8_t *full = small_model(&n);
    if (!full) return;
    fields fl = {.n = 0};
    size_t hdr = find_fields(full, &fl);
    CHECK(fl.n > 40 && hdr < n);
    uint8_t *buf = malloc(n);
    g_rng = 0x1234567887654321ull;
    int loaded = 0, failed = 0, silent = 0;
    static const uint64_t huge[] = {UINT64_MAX, 1ull << 63, INT64_MAX, 1ull << 32, 1ull << 40, 0xffffffffull,
                                    0, 1, 2, 5, 31, 32, 33, 64, 4096};
    const int iters = 20000;
    for (int it = 0; it < iters; it++) {
        memcpy(buf, full, n);
        int k = 1 + (int)(rnd() % 3);
        for (int m = 0; m < k; m++) {
            uint64_t r = rnd();
            switch (r % 6) {
            case 0: /* a known field gets an extreme or small value */
            case 1: {
                int i = (int)(rnd() % (uint64_t)fl.n);
                uint64_t val = (r >> 8) % 3 == 0 ? rnd() : huge[rnd() % CS_ARRAY_LEN(huge)];
                if ((r >> 12) % 2 == 0) val = (uint64_t)n - hdr + (rnd() % 64) - 32; /* near the data size */
                memcpy(buf + fl.off[i], &val, (size_t)fl.width[i]);
                break;
            }
            case 2: /* a u32 field: small numbers (types, dims) */
            {
                int i = (int)(rnd() % (uint64_t)fl.n);
                uint32_t val = (uint32_t)(rnd() % 45);
                if (fl.width[i] == 4) memcpy(buf + fl.off[i], &val, 4);
                else buf[fl.off[i]] ^= (uint8_t)(1u << (rnd() % 8));
                break;
            }
            case 3: buf[rnd() % hdr] ^= (uint8_t)(1u << (rnd() % 8)); break; /* a bit in the header */
            case 4: buf[rnd() % hdr] = (uint8_t)rnd(); break;                /* a byte in the header */
            default: buf[rnd() % n] = (uint8_t)rnd(); break;                 /* a byte anywhere */
            }
        }
        cs_clear_error();
        gguf_file *f = gguf_open_memory(buf, n, NULL);
        if (f) {
            loaded++;
            walk_file(f);
            gguf_close(f);
        } else {
            failed++;
            if (!has_error()) silent++;
        }
    }
    /* truncated mutants too */
    for (int it = 0; it < 500; it++) {
        memcpy(buf, full, n);
        int i = (int)(rnd() % (uint64_t)fl.n);
        uint64_t val = huge[rnd() % CS_ARRAY_LEN(huge)];
        memcpy(buf + fl.off[i], &val, (size_t)fl.width[i]);
        size_t len = (size_t)(rnd() % n);
        cs_clear_error();
        gguf_file *f = gguf_open_memory(buf, len, NULL);
        if (f) { /* possible: the mutation may have dropped what was cut */
            walk_file(f);
            gguf_close(f);
        } else if (!has_error()) {
            silent++;
        }
    }
    CHECKF(silent == 0, "%d failures without an error message", silent);
    CHECKF(loaded > 100 && failed > 1000, "loaded %d, failed %d", loaded, failed);
    printf("  mutations: %d loaded, %d rejected\n", loaded, failed);
    free(buf);
    free(full);
}

/* ---- (6) one error message per class ------------------------------------- */

static size_t find_bytes(const uint8_t *b, size_t n, const void *pat, size_t m) {
    for (size_t i = 0; i + m <= n; i++)
        if (memcmp(b + i, pat, m) == 0) return i;
    return (size_t)-1;
}

/* Position just after the name of tensor `name` in its tensor info. */
static size_t after_name(const uint8_t *b, size_t n, const char *name) {
    uint8_t pat[72];
    uint64_t len = strlen(name);
    memcpy(pat, &len, 8);
    memcpy(pat + 8, name, len);
    size_t p = find_bytes(b, n, pat, 8 + len);
    return p == (size_t)-1 ? 0 : p + 8 + len;
}

static gguf_file *open_patched(const uint8_t *b, size_t n, size_t off, const void *val, size_t w) {
    uint8_t *c = malloc(n);
    memcpy(c, b, n);
    memcpy(c + off, val, w);
    cs_clear_error();
    gguf_file *f = gguf_open_memory(c, n, NULL);
    free(c);
    return f;
}

static void put_u32v(uint8_t *b, size_t *p, uint32_t v) { memcpy(b + *p, &v, 4); *p += 4; }
static void put_u64v(uint8_t *b, size_t *p, uint64_t v) { memcpy(b + *p, &v, 8); *p += 8; }

static void test_error_messages(void) {
    const char *path = tmp_path("err.gguf");
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_u32(w, "general.alignment", 64);
    gguf_writer_set_u32(w, "dup.key1", 1);
    gguf_writer_set_u32(w, "dup.key2", 2);
    int64_t ne[1] = {32};
    gguf_writer_add_tensor(w, "tensor.a1", CS_TYPE_F32, 1, ne);
    gguf_writer_add_tensor(w, "tensor.a2", CS_TYPE_F32, 1, ne);
    gguf_writer_begin(w, path);
    float zeros[64] = {0};
    gguf_writer_write_data(w, zeros, sizeof zeros);
    CHECK(gguf_writer_finish(w) == 0);
    gguf_writer_free(w);
    size_t n;
    uint8_t *b = read_all(path, &n);
    remove(path);
    if (!b) return;
    gguf_file *f = gguf_open_memory(b, n, NULL);
    CHECKF(f != NULL, "%s", cs_last_error());
    gguf_close(f);
    size_t a1 = after_name(b, n, "tensor.a1"), a2 = after_name(b, n, "tensor.a2");
    size_t ka = find_bytes(b, n, "general.alignment", 17) + 17 + 4; /* the value */
    size_t kd = find_bytes(b, n, "dup.key2", 8);
    CHECK(a1 && a2 && ka == 24 + 8 + 17 + 4 && kd < n);
    uint32_t v32;
    uint64_t v64;

    expect_fail(open_patched(b, n, 0, "GGUX", 4), "not a GGUF file", "bad magic");
    expect_fail(gguf_open_memory(b, 3, NULL), "not a GGUF file", "3 bytes");
    v32 = 1;
    expect_fail(open_patched(b, n, 4, &v32, 4), "version 1 is not supported", "version 1");
    v32 = 4;
    expect_fail(open_patched(b, n, 4, &v32, 4), "version 4 is not supported", "version 4");
    v32 = 0x03000000;
    expect_fail(open_patched(b, n, 4, &v32, 4), "big-endian", "big-endian");
    v64 = 1ull << 40;
    expect_fail(open_patched(b, n, 16, &v64, 8), "metadata entries", "absurd n_kv");
    expect_fail(open_patched(b, n, 8, &v64, 8), "tensors", "absurd n_tensors");
    v64 = 1ull << 50;
    expect_fail(open_patched(b, n, 24, &v64, 8), "runs past the end", "key length");
    v32 = 13;
    expect_fail(open_patched(b, n, 24 + 8 + 17, &v32, 4), "unknown value type 13", "value type");
    v32 = 48;
    expect_fail(open_patched(b, n, ka, &v32, 4), "power of two", "alignment 48");
    v32 = 0;
    expect_fail(open_patched(b, n, ka, &v32, 4), "power of two", "alignment 0");
    expect_fail(open_patched(b, n, kd + 7, "1", 1), "duplicate metadata key 'dup.key1'", "duplicate key");
    expect_fail(open_patched(b, n, a2 - 1, "1", 1), "duplicate tensor name 'tensor.a1'", "duplicate tensor");
    v32 = 0;
    expect_fail(open_patched(b, n, a2, &v32, 4), "dimensions", "n_dims 0");
    v32 = 5;
    expect_fail(open_patched(b, n, a2, &v32, 4), "dimensions", "n_dims 5");
    v64 = 0;
    expect_fail(open_patched(b, n, a2 + 4, &v64, 8), "must be positive", "ne 0");
    v64 = UINT64_MAX;
    expect_fail(open_patched(b, n, a2 + 4, &v64, 8), "must be positive", "ne -1");
    v64 = 1ull << 62;
    expect_fail(open_patched(b, n, a2 + 4, &v64, 8), "larger than the file", "huge ne");
    v32 = 37;
    expect_fail(open_patched(b, n, a2 + 12, &v32, 4), "unknown type id 37", "unknown type 37");
    v32 = 4; /* a retired ggml id */
    expect_fail(open_patched(b, n, a2 + 12, &v32, 4), "unknown type id 4", "unknown type 4");
    v32 = 3;
    expect_fail(open_patched(b, n, a2 + 12, &v32, 4), "q4_1", "unsupported type");
    v32 = CS_TYPE_Q4_K;
    expect_fail(open_patched(b, n, a2 + 12, &v32, 4), "not a multiple of the q4_K block size", "block size");
    v64 = 128 + 4;
    expect_fail(open_patched(b, n, a2 + 16, &v64, 8), "not a multiple of the alignment 64", "unaligned offset");
    v64 = 0;
    expect_fail(open_patched(b, n, a2 + 16, &v64, 8), "overlap", "overlapping tensors");
    v64 = 1ull << 20;
    expect_fail(open_patched(b, n, a2 + 16, &v64, 8), "extends past the end of the file", "offset past EOF");
    expect_fail(gguf_open_memory(b, n - 1, NULL), "extends past the end of the file", "data truncated");
    expect_fail(gguf_open_memory(b, a1 + 3, NULL), "truncated", "header truncated");

    /* hand-made files: nesting depth, unknown element type */
    uint8_t h[1024];
    for (int depth = 8; depth <= 9; depth++) {
        size_t p = 0;
        memcpy(h, "GGUF", 4);
        p = 4;
        put_u32v(h, &p, 3);
        put_u64v(h, &p, 0);
        put_u64v(h, &p, 1);
        put_u64v(h, &p, 4);
        memcpy(h + p, "deep", 4);
        p += 4;
        put_u32v(h, &p, GGUF_TYPE_ARRAY);
        for (int d = 1; d < depth; d++) {
            put_u32v(h, &p, GGUF_TYPE_ARRAY);
            put_u64v(h, &p, 1);
        }
        put_u32v(h, &p, GGUF_TYPE_UINT8);
        put_u64v(h, &p, 0);
        cs_clear_error();
        f = gguf_open_memory(h, p, NULL);
        if (depth == 8) {
            CHECKF(f != NULL, "8 deep: %s", cs_last_error());
            gguf_close(f);
        } else {
            expect_fail(f, "nested more than 8", "9 deep");
        }
    }
    size_t p = 0;
    memcpy(h, "GGUF", 4);
    p = 4;
    put_u32v(h, &p, 2); /* version 2 reads too */
    put_u64v(h, &p, 0);
    put_u64v(h, &p, 1);
    put_u64v(h, &p, 1);
    h[p++] = 'k';
    put_u32v(h, &p, GGUF_TYPE_ARRAY);
    put_u32v(h, &p, 99);
    put_u64v(h, &p, 0);
    expect_fail(gguf_open_memory(h, p, NULL), "unknown array element type 99", "element type");
    v32 = GGUF_TYPE_UINT8;
    memcpy(h + p - 12, &v32, 4);
    f = gguf_open_memory(h, p, NULL);
    CHECKF(f && gguf_version(f) == 2 && gguf_n_kv(f) == 1, "v2: %s", cs_last_error());
    gguf_close(f);

    /* files that are not there or not GGUF */
    expect_fail(gguf_open(tmp_path("does-not-exist.gguf"), NULL), "cannot open", "missing file");
    write_all(path, "", 0);
    expect_fail(gguf_open(path, NULL), "empty", "empty file");
    write_all(path, "hello world, not a model", 24);
    expect_fail(gguf_open(path, NULL), "not a GGUF file", "text file");
    remove(path);
    free(b);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/cseek_test_gguf_%d", (int)getpid());
    mkdir(g_dir, 0700);
    RUN(test_conformance_files);
    RUN(test_copy_is_identical);
    RUN(test_round_trip);
    RUN(test_writer_errors);
    RUN(test_no_mmap);
    RUN(test_split);
    RUN(test_truncation);
    RUN(test_mutations);
    RUN(test_error_messages);
    remove(tmp_path("rt.gguf"));
    remove(tmp_path("werr.gguf"));
    remove(tmp_path("moved.gguf"));
    rmdir(g_dir);
    TEST_END();
}
