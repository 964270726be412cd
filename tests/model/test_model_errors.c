/* Model loading on bad files: each broken variant of a small llama model gives
 * a clean one-line error, and thousands of random mutations of the file give
 * either a clean error or a model that evaluates without crashing. Runs under
 * ASan + UBSan in CI. */
#include <stdint.h>
#include <unistd.h>

#include "test.h"
#include "cseek.h"
#include "base/base.h"
#include "formats/gguf.h"
#include "model/model.h"

enum { DIM = 32, FF = 64, VOCAB = 64, HEADS = 2, KV = 1 };

typedef struct {
    const char *drop;        /* tensor to leave out */
    const char *bad_shape;   /* tensor written with a wrong row count */
    const char *norm_type;   /* "f16": norms not F32 */
    uint32_t head_count;     /* 0 = HEADS */
    uint32_t block_count;    /* 0 = 1 */
    const char *arch;        /* NULL = llama */
    bool drop_eps;
} variant;

static uint64_t rng = 42;
static uint64_t next(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Write the variant to a file and read it back into memory. */
static unsigned char *make_model(const variant *v, size_t *n_out) {
    const char *path = t_tmp("variant.gguf");
    gguf_writer *w = gguf_writer_new();
    const char *arch = v->arch ? v->arch : "llama";
    char key[128];
    gguf_writer_set_str(w, "general.architecture", arch);
#define KEY(k) (snprintf(key, sizeof key, "%s.%s", arch, k), key)
    gguf_writer_set_u32(w, KEY("block_count"), v->block_count ? v->block_count : 1);
    gguf_writer_set_u32(w, KEY("context_length"), 64);
    gguf_writer_set_u32(w, KEY("embedding_length"), DIM);
    gguf_writer_set_u32(w, KEY("feed_forward_length"), FF);
    gguf_writer_set_u32(w, KEY("attention.head_count"), v->head_count ? v->head_count : HEADS);
    gguf_writer_set_u32(w, KEY("attention.head_count_kv"), KV);
    if (!v->drop_eps) gguf_writer_set_f32(w, KEY("attention.layer_norm_rms_epsilon"), 1e-5f);
    gguf_writer_set_f32(w, KEY("rope.freq_base"), 10000.0f);
    struct {
        const char *name;
        cs_type type;
        int64_t ne0, ne1;
    } ts[] = {
        {"token_embd.weight", CS_TYPE_Q8_0, DIM, VOCAB},
        {"output_norm.weight", CS_TYPE_F32, DIM, 1},
        {"output.weight", CS_TYPE_F16, DIM, VOCAB},
        {"blk.0.attn_norm.weight", CS_TYPE_F32, DIM, 1},
        {"blk.0.attn_q.weight", CS_TYPE_F32, DIM, DIM},
        {"blk.0.attn_k.weight", CS_TYPE_Q8_0, DIM, DIM / HEADS * KV},
        {"blk.0.attn_v.weight", CS_TYPE_F32, DIM, DIM / HEADS * KV},
        {"blk.0.attn_output.weight", CS_TYPE_BF16, DIM, DIM},
        {"blk.0.ffn_norm.weight", CS_TYPE_F32, DIM, 1},
        {"blk.0.ffn_gate.weight", CS_TYPE_Q8_0, DIM, FF},
        {"blk.0.ffn_up.weight", CS_TYPE_F32, DIM, FF},
        {"blk.0.ffn_down.weight", CS_TYPE_Q8_0, FF, DIM},
    };
    size_t nt = sizeof ts / sizeof *ts;
    for (size_t i = 0; i < nt; i++) {
        if (v->drop && !strcmp(v->drop, ts[i].name)) continue;
        if (v->norm_type && strstr(ts[i].name, "norm")) ts[i].type = CS_TYPE_F16;
        if (v->bad_shape && !strcmp(v->bad_shape, ts[i].name)) ts[i].ne1 += 1;
        int64_t ne[2] = {ts[i].ne0, ts[i].ne1};
        gguf_writer_add_tensor(w, ts[i].name, ts[i].type, ts[i].ne1 > 1 ? 2 : 1, ne);
    }
    CHECKF(gguf_writer_begin(w, path) == 0, "%s", cs_last_error());
    float *row = malloc(sizeof(float) * FF);
    unsigned char *q = malloc(cs_row_size(CS_TYPE_F32, FF));
    for (size_t i = 0; i < nt; i++) {
        if (v->drop && !strcmp(v->drop, ts[i].name)) continue;
        for (int64_t r = 0; r < ts[i].ne1; r++) {
            for (int64_t j = 0; j < ts[i].ne0; j++)
                row[j] = strstr(ts[i].name, "norm") ? 1.0f : (float)((int64_t)(next() % 2001) - 1000) / 4000.0f;
            cs_quantize_row(ts[i].type, row, q, ts[i].ne0);
            gguf_writer_write_data(w, q, cs_row_size(ts[i].type, ts[i].ne0));
        }
    }
    CHECKF(gguf_writer_finish(w) == 0, "%s", cs_last_error());
    gguf_writer_free(w);
    free(row);
    free(q);
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    size_t n = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *buf = malloc(n);
    CHECK(fread(buf, 1, n, f) == n);
    fclose(f);
    unlink(path);
    *n_out = n;
    return buf;
}

/* Load from memory; if it loads, evaluate three tokens. Returns 1 loaded, 0 clean error. */
static int load_and_run(const unsigned char *buf, size_t n, char *err, size_t errn) {
    cs_clear_error();
    gguf_file *f = gguf_open_memory(buf, n, NULL);
    if (!f) {
        snprintf(err, errn, "%s", cs_last_error());
        return 0;
    }
    cs_model *m = cs_model_from_gguf(f, NULL);
    if (!m) {
        snprintf(err, errn, "%s", cs_last_error());
        return 0;
    }
    cs_context_params cp;
    cs_context_params_init(&cp);
    cp.n_ctx = 8;
    cp.n_threads = 1;
    cs_context *c = cs_context_new(m, &cp);
    int loaded = 1;
    if (c) {
        int V = cs_model_n_vocab(m);
        int32_t toks[3] = {0, 1 % V, 2 % V};
        float *logits = malloc(sizeof(float) * 3 * (size_t)V);
        cs_eval(c, toks, 3, logits, true);
        free(logits);
        cs_context_free(c);
    } else {
        snprintf(err, errn, "%s", cs_last_error());
    }
    cs_model_free(m);
    return loaded;
}

static void good_model_loads(void) {
    variant v = {0};
    size_t n;
    unsigned char *buf = make_model(&v, &n);
    char err[1024] = "";
    CHECKF(load_and_run(buf, n, err, sizeof err) == 1, "%s", err);
    free(buf);
}

static void expect_error(const variant *v, const char *fragment) {
    size_t n;
    unsigned char *buf = make_model(v, &n);
    char err[1024] = "";
    int r = load_and_run(buf, n, err, sizeof err);
    CHECKF(r == 0 && strstr(err, fragment) && !strchr(err, '\n'), "expected an error with '%s', got %s", fragment,
           r ? "a loaded model" : err);
    free(buf);
}

static void broken_variants_fail_cleanly(void) {
    expect_error(&(variant){.drop = "blk.0.ffn_down.weight"}, "missing tensor blk.0.ffn_down.weight");
    expect_error(&(variant){.drop = "token_embd.weight"}, "missing tensor token_embd.weight");
    expect_error(&(variant){.bad_shape = "blk.0.attn_k.weight"}, "tensor blk.0.attn_k.weight has shape");
    expect_error(&(variant){.bad_shape = "output.weight"}, "output.weight has shape");
    expect_error(&(variant){.norm_type = "f16"}, "must be F32");
    expect_error(&(variant){.head_count = 3}, "tensor blk.0.attn_q.weight has shape");
    expect_error(&(variant){.head_count = 4}, "tensor blk.0.attn_k.weight has shape");
    expect_error(&(variant){.block_count = 1000000}, "block_count 1000000");
    expect_error(&(variant){.block_count = 2}, "block_count 2, but the file holds only 12 tensors");
    expect_error(&(variant){.arch = "gpt-j"}, "architecture 'gpt-j' is not supported");
    expect_error(&(variant){.drop_eps = true}, "missing metadata llama.attention.layer_norm_rms_epsilon");
    /* qwen2 needs the q/k/v biases */
    expect_error(&(variant){.arch = "qwen2"}, "missing tensor blk.0.attn_q.bias");
}

/* Truncation anywhere and 10,000 random mutations: never a crash. */
static void mutations_never_crash(void) {
    variant v = {0};
    size_t n;
    unsigned char *orig = make_model(&v, &n);
    unsigned char *buf = malloc(n);
    char err[1024];
    int loaded = 0, failed = 0;
    for (size_t len = 0; len < n; len += 3) {
        int r = load_and_run(orig, len, err, sizeof err);
        CHECKF(r == 0, "a file truncated to %zu of %zu bytes loaded", len, n);
        failed += r == 0;
    }
    /* the header (metadata and tensor infos) is where validation matters most */
    size_t header = 900 < n ? 900 : n;
    for (int i = 0; i < 10000; i++) {
        memcpy(buf, orig, n);
        int flips = 1 + (int)(next() % 4);
        for (int k = 0; k < flips; k++) {
            size_t at = (next() % 4) ? next() % header : next() % n;
            switch (next() % 3) {
            case 0: buf[at] ^= (unsigned char)(1u << (next() % 8)); break;
            case 1: buf[at] = (unsigned char)next(); break;
            default: buf[at] = (next() & 1) ? 0xff : 0x00; break;
            }
        }
        err[0] = 0;
        int r = load_and_run(buf, n, err, sizeof err);
        if (r) loaded++;
        else {
            failed++;
            CHECKF(err[0] && !strchr(err, '\n'), "mutation %d: empty or multi-line error '%s'", i, err);
        }
    }
    printf("  %d loads, %d clean errors\n", loaded, failed);
    CHECK(loaded > 0 && failed > 0);
    free(buf);
    free(orig);
}

int main(void) {
    cs_set_log_level(0);
    RUN(good_model_loads);
    RUN(broken_variants_fail_cleanly);
    RUN(mutations_never_crash);
    TEST_END();
}
