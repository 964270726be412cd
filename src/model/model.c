/* Model loading (architecture chosen from general.architecture), contexts
 * with their KV caches, batched evaluation, and `cseek info`. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <omp.h>

#include "../base/base.h"
#include "../kernels/kernels.h"
#include "model.h"

void cs_set_log_level(int level) { cs_log_level = level; }

void cs_load_params_init(cs_load_params *p) { memset(p, 0, sizeof *p); }

void cs_context_params_init(cs_context_params *p) {
    memset(p, 0, sizeof *p);
    p->n_ctx = 4096;
    p->n_batch = 512;
}

const gguf_file *cs_model_gguf(const cs_model *m) { return m->file; }

static char *arch_key(const cs_model *m, const char *key) {
    static _Thread_local char buf[256];
    snprintf(buf, sizeof buf, "%s.%s", m->arch_name, key);
    return buf;
}

int cs_hp_u32(const cs_model *m, const char *key, bool required, uint32_t def, int *out) {
    const char *k = arch_key(m, key);
    if (!gguf_get(m->file, k)) {
        if (required) {
            cs_set_error("missing metadata %s", k);
            return -1;
        }
        *out = (int)def;
        return 0;
    }
    uint32_t v;
    if (!gguf_get_u32(m->file, k, &v) || v > (1u << 30)) {
        cs_set_error("metadata %s is not a sensible unsigned integer", k);
        return -1;
    }
    *out = (int)v;
    return 0;
}

int cs_hp_f32(const cs_model *m, const char *key, bool required, float def, float *out) {
    const char *k = arch_key(m, key);
    if (!gguf_get(m->file, k)) {
        if (required) {
            cs_set_error("missing metadata %s", k);
            return -1;
        }
        *out = def;
        return 0;
    }
    float v;
    if (!gguf_get_f32(m->file, k, &v) || !isfinite(v)) {
        cs_set_error("metadata %s is not a finite number", k);
        return -1;
    }
    *out = v;
    return 0;
}

bool cs_hp_bool(const cs_model *m, const char *key, bool def) {
    bool v;
    return gguf_get_bool(m->file, arch_key(m, key), &v) ? v : def;
}

int cs_bind(cs_model *m, cs_tensor *t, bool required, int64_t ne0, int64_t ne1, int64_t ne2, const char *fmt, ...) {
    char name[128];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof name, fmt, ap);
    va_end(ap);
    memset(t, 0, sizeof *t);
    const gguf_tensor *g = gguf_find_tensor(m->file, name);
    if (!g) {
        if (required) {
            cs_set_error("missing tensor %s", name);
            return -1;
        }
        return 0;
    }
    int64_t want[3] = {ne0, ne1, ne2};
    for (int d = 0; d < 3; d++) {
        int64_t have = g->ne[d];
        if (want[d] >= 0 && have != want[d]) {
            cs_set_error("tensor %s has shape {%lld, %lld, %lld, %lld}, expected {%lld, %lld, %lld}", name,
                         (long long)g->ne[0], (long long)g->ne[1], (long long)g->ne[2], (long long)g->ne[3],
                         (long long)ne0, (long long)ne1, (long long)ne2);
            return -1;
        }
    }
    if (g->ne[3] != 1 || (ne2 < 0 ? 0 : (ne2 == 1 && g->n_dims > 2))) {
        cs_set_error("tensor %s has %u dimensions, more than expected", name, g->n_dims);
        return -1;
    }
    if (!cs_vec_dot_ref(g->type)) {
        cs_set_error("tensor %s has type %s, which cseek cannot compute with", name, cs_type_name(g->type));
        return -1;
    }
    t->name = g->name;
    t->type = g->type;
    for (int d = 0; d < 4; d++) t->ne[d] = g->ne[d];
    t->data = g->data;
    t->nbytes = g->nbytes;
    return 0;
}

/* Norm and bias vectors are read as floats directly. */
int cs_require_f32(const cs_tensor *t) {
    if (t->name && t->type != CS_TYPE_F32) {
        cs_set_error("tensor %s must be F32, not %s", t->name, cs_type_name(t->type));
        return -1;
    }
    return 0;
}

static const struct {
    const char *name;
    cs_arch arch;
    const cs_arch_ops *ops;
} arches[] = {
    {"llama", CS_ARCH_LLAMA, &cs_llama_ops},
    {"qwen2", CS_ARCH_QWEN2, &cs_llama_ops},
    {"deepseek2", CS_ARCH_DEEPSEEK2, &cs_deepseek2_ops},
};

cs_model *cs_model_load(const char *path, const cs_load_params *p) {
    cs_load_params defaults;
    if (!p) {
        cs_load_params_init(&defaults);
        p = &defaults;
    }
    gguf_open_opts o = {.no_mmap = p->no_mmap, .mlock = p->mlock, .progress = p->progress,
                        .progress_user = p->progress_user};
    gguf_file *f = gguf_open(path, &o);
    if (!f) return NULL;
    return cs_model_from_gguf(f, path);
}

cs_model *cs_model_from_gguf(gguf_file *f, const char *path) {
    cs_model *m = cs_calloc(1, sizeof *m);
    if (!m) {
        gguf_close(f);
        return NULL;
    }
    m->file = f;
    m->path = strdup(path ? path : "(memory)");
    char *arch = gguf_get_str_dup(f, "general.architecture");
    if (!arch) {
        cs_set_error("missing metadata general.architecture");
        goto fail;
    }
    for (size_t i = 0; i < CS_ARRAY_LEN(arches); i++)
        if (!strcmp(arch, arches[i].name)) {
            m->arch = arches[i].arch;
            m->arch_name = arches[i].name;
            m->ops = arches[i].ops;
        }
    if (!m->ops) {
        cs_set_error("architecture '%s' is not supported (cseek runs deepseek2, qwen2, llama)", arch);
        free(arch);
        goto fail;
    }
    free(arch);
    if (m->ops->load(m) != 0) goto fail;
    return m;
fail:
    cs_model_free(m);
    return NULL;
}

void cs_model_free(cs_model *m) {
    if (!m) return;
    gguf_close(m->file);
    free(m->layers);
    free(m->rope_freq);
    free(m->path);
    free(m);
}

const char *cs_model_arch(const cs_model *m) { return m->arch_name; }
int cs_model_n_vocab(const cs_model *m) { return m->hp.n_vocab; }
int cs_model_n_ctx_train(const cs_model *m) { return m->hp.n_ctx_train; }

static uint64_t total_ram(void) {
    long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
    return pages > 0 && psz > 0 ? (uint64_t)pages * (uint64_t)psz : UINT64_MAX;
}

cs_context *cs_context_new(cs_model *m, const cs_context_params *p) {
    cs_context_params defaults;
    if (!p) {
        cs_context_params_init(&defaults);
        p = &defaults;
    }
    if (p->n_ctx < 0 || p->n_batch < 0 || p->n_threads < 0) {
        cs_set_error("context size, batch size and thread count must not be negative");
        return NULL;
    }
    cs_context *c = cs_calloc(1, sizeof *c);
    if (!c) return NULL;
    c->m = m;
    c->n_ctx = p->n_ctx ? p->n_ctx : m->hp.n_ctx_train;
    if (c->n_ctx <= 0) c->n_ctx = 4096;
    if (m->hp.n_ctx_train > 0 && c->n_ctx > m->hp.n_ctx_train)
        cs_log_warn("context of %d tokens is longer than the %d the model was trained on", c->n_ctx,
                    m->hp.n_ctx_train);
    c->n_batch = p->n_batch ? p->n_batch : 512;
    if (c->n_batch > c->n_ctx) c->n_batch = c->n_ctx;
    c->n_threads = p->n_threads ? p->n_threads : cs_physical_cores();
    c->cache_type = p->cache_type_set ? p->cache_type : m->ops->default_cache;
    size_t per_tok = m->ops->cache_bytes_per_token(m, c->cache_type);
    if (per_tok == 0) {
        cs_set_error("cache type not supported for %s", m->arch_name);
        free(c);
        return NULL;
    }
    uint64_t need = gguf_file_size(m->file) + (uint64_t)per_tok * (uint64_t)c->n_ctx;
    uint64_t ram = total_ram();
    if (need > ram) {
        cs_set_error("weights (%.2f GiB) + KV cache for %d tokens (%.2f GiB) need more than this machine's %.2f "
                     "GiB of RAM; use a smaller -c",
                     gguf_file_size(m->file) / 1073741824.0, c->n_ctx,
                     (double)per_tok * c->n_ctx / 1073741824.0, ram / 1073741824.0);
        free(c);
        return NULL;
    }
    c->tokens = cs_malloc((size_t)c->n_ctx * sizeof *c->tokens);
    c->bctx = cs_malloc((size_t)c->n_batch * sizeof *c->bctx);
    c->bpos = cs_malloc((size_t)c->n_batch * sizeof *c->bpos);
    if (!c->tokens || !c->bctx || !c->bpos || m->ops->ctx_init(c) != 0) {
        free(c->tokens);
        free(c->bctx);
        free(c->bpos);
        free(c);
        return NULL;
    }
    for (int i = 0; i < c->n_batch; i++) c->bctx[i] = c;
    return c;
}

void cs_context_free(cs_context *c) {
    if (!c) return;
    c->m->ops->ctx_free(c);
    free(c->tokens);
    free(c->bctx);
    free(c->bpos);
    free(c);
}

static int check_token(const cs_model *m, int32_t t) {
    if (t < 0 || t >= m->hp.n_vocab) {
        cs_set_error("token id %d is out of range (vocabulary has %d tokens)", t, m->hp.n_vocab);
        return -1;
    }
    return 0;
}

int cs_eval(cs_context *c, const int32_t *tokens, int n, float *logits, bool all) {
    if (n <= 0) {
        cs_set_error("no tokens to evaluate");
        return -1;
    }
    if ((int64_t)c->n_past + n > c->n_ctx) {
        cs_set_error("context is full: %d cached + %d new tokens exceed the context size of %d (use -c to raise it)",
                     c->n_past, n, c->n_ctx);
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (check_token(c->m, tokens[i])) return -1;
    omp_set_num_threads(c->n_threads);
    int64_t V = c->m->hp.n_vocab;
    for (int i = 0; i < n; i += c->n_batch) {
        int nb = CS_MIN(c->n_batch, n - i);
        bool last = i + nb == n;
        float *out = NULL;
        if (logits) out = all ? logits + (int64_t)i * V : (last ? logits : NULL);
        for (int t = 0; t < nb; t++) c->bpos[t] = c->n_past + t;
        cs_batch b = {.n = nb, .tokens = tokens + i, .ctx = c->bctx, .pos = c->bpos, .first_out = all ? 0 : nb - 1};
        if (c->m->ops->forward(&b, out) != 0) return -1;
        memcpy(c->tokens + c->n_past, tokens + i, (size_t)nb * sizeof *tokens);
        c->n_past += nb;
    }
    return 0;
}

int cs_eval_multi(cs_context *const *ctxs, const int32_t *tokens, int n, float *logits) {
    if (n <= 0 || !ctxs || !tokens) {
        cs_set_error("cs_eval_multi: no contexts to evaluate");
        return -1;
    }
    for (int i = 0; i < n; i++)
        if (!ctxs[i]) {
            cs_set_error("cs_eval_multi: context %d is NULL", i);
            return -1;
        }
    cs_context *c0 = ctxs[0];
    int limit = CS_MIN(CS_EVAL_MULTI_MAX, c0->n_batch); /* c0's scratch holds n_batch rows */
    if (n > limit) {
        cs_set_error("cs_eval_multi: %d contexts, at most %d in one step (%d, and the first context's batch size %d)",
                     n, limit, CS_EVAL_MULTI_MAX, c0->n_batch);
        return -1;
    }
    int pos[CS_EVAL_MULTI_MAX];
    for (int i = 0; i < n; i++) {
        const cs_context *c = ctxs[i];
        if (c->m != c0->m) {
            cs_set_error("cs_eval_multi: context %d belongs to a different model than context 0", i);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (ctxs[j] == c) {
                cs_set_error("cs_eval_multi: contexts %d and %d are the same context", j, i);
                return -1;
            }
        if (c->n_past >= c->n_ctx) {
            cs_set_error("context is full: context %d holds %d tokens, its size is %d", i, c->n_past, c->n_ctx);
            return -1;
        }
        if (check_token(c0->m, tokens[i])) return -1;
        pos[i] = c->n_past;
    }
    omp_set_num_threads(c0->n_threads);
    cs_batch b = {.n = n, .tokens = tokens, .ctx = ctxs, .pos = pos, .first_out = 0};
    if (c0->m->ops->forward(&b, logits) != 0) return -1;
    for (int i = 0; i < n; i++) {
        cs_context *c = ctxs[i];
        c->tokens[c->n_past++] = tokens[i];
    }
    return 0;
}

int cs_context_tokens(const cs_context *c, const int32_t **tokens) {
    if (tokens) *tokens = c->tokens;
    return c->n_past;
}

int cs_context_common_prefix(const cs_context *c, const int32_t *tokens, int n) {
    int i = 0;
    while (i < n && i < c->n_past && c->tokens[i] == tokens[i]) i++;
    return i;
}

int cs_context_n_past(const cs_context *c) { return c->n_past; }
int cs_context_n_ctx(const cs_context *c) { return c->n_ctx; }
int cs_context_n_threads(const cs_context *c) { return c->n_threads; }

int cs_context_truncate(cs_context *c, int pos) {
    if (pos < 0 || pos > c->n_past) {
        cs_set_error("cannot truncate the cache to %d tokens (it holds %d)", pos, c->n_past);
        return -1;
    }
    c->n_past = pos;
    return 0;
}

size_t cs_context_cache_bytes_per_token(const cs_context *c) {
    return c->m->ops->cache_bytes_per_token(c->m, c->cache_type);
}

size_t cs_context_cache_bytes_used(const cs_context *c) {
    return cs_context_cache_bytes_per_token(c) * (size_t)c->n_past;
}

static const char *cache_name(cs_cache_type t) {
    return t == CS_CACHE_F32 ? "f32" : t == CS_CACHE_F16 ? "f16" : "q8_0";
}

static void human_bytes(char *buf, size_t n, double bytes) {
    if (bytes >= 1073741824.0) snprintf(buf, n, "%.2f GiB", bytes / 1073741824.0);
    else if (bytes >= 1048576.0) snprintf(buf, n, "%.2f MiB", bytes / 1048576.0);
    else snprintf(buf, n, "%.1f KiB", bytes / 1024.0);
}

void cs_model_print_info(const cs_model *m, FILE *out) {
    char hb[32];
    const cs_hparams *h = &m->hp;
    char *name = gguf_get_str_dup(m->file, "general.name");
    fprintf(out, "file:            %s\n", m->path);
    fprintf(out, "name:            %s\n", name ? name : "(none)");
    free(name);
    fprintf(out, "architecture:    %s\n", m->arch_name);
    human_bytes(hb, sizeof hb, (double)gguf_file_size(m->file));
    fprintf(out, "file size:       %llu bytes (%s, %u shard%s, GGUF v%u)\n", (unsigned long long)gguf_file_size(m->file), hb,
            gguf_n_shards(m->file), gguf_n_shards(m->file) == 1 ? "" : "s", gguf_version(m->file));
    fprintf(out, "vocabulary:      %d tokens\n", h->n_vocab);
    fprintf(out, "context (train): %d\n", h->n_ctx_train);
    fprintf(out, "embedding:       %d\n", h->n_embd);
    fprintf(out, "layers:          %d\n", h->n_layer);
    fprintf(out, "heads:           %d (kv %d)\n", h->n_head, h->n_head_kv);
    fprintf(out, "feed-forward:    %d\n", h->n_ff);
    fprintf(out, "rms eps:         %g\n", h->rms_eps);
    fprintf(out, "rope:            theta %g, %d dims", h->rope_theta, h->n_rot);
    if (h->rope_scaling == CS_ROPE_SCALING_YARN)
        fprintf(out, ", yarn factor %g, original context %d, log multiplier %g", h->rope_factor, h->rope_orig_ctx,
                h->yarn_log_mul);
    else if (h->rope_scaling == CS_ROPE_SCALING_LINEAR)
        fprintf(out, ", linear factor %g", h->rope_factor);
    if (m->rope_freqs.name) fprintf(out, ", frequency factors (rope_freqs)");
    fprintf(out, "\n");
    if (m->ops->print_info) m->ops->print_info(m, out);
    fprintf(out, "output head:     %s\n", m->tied_output ? "tied to token_embd" : "output.weight");

    /* tensor types with counts and bytes */
    uint64_t count[CS_TYPE_COUNT] = {0}, bytes[CS_TYPE_COUNT] = {0}, params = 0;
    for (uint64_t i = 0; i < gguf_n_tensors(m->file); i++) {
        const gguf_tensor *t = gguf_tensor_at(m->file, i);
        if ((unsigned)t->type < CS_TYPE_COUNT) {
            count[t->type]++;
            bytes[t->type] += t->nbytes;
        }
        params += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    if (params >= 1000000000ull)
        fprintf(out, "tensors:         %llu (%.2f B parameters)\n", (unsigned long long)gguf_n_tensors(m->file),
                params / 1e9);
    else
        fprintf(out, "tensors:         %llu (%.2f M parameters)\n", (unsigned long long)gguf_n_tensors(m->file),
                params / 1e6);
    for (int t = 0; t < CS_TYPE_COUNT; t++)
        if (count[t])
            fprintf(out, "  %-6s %6llu tensors %14llu bytes\n", cs_type_name(t), (unsigned long long)count[t],
                    (unsigned long long)bytes[t]);
    cs_cache_type ct = m->ops->default_cache;
    fprintf(out, "kv cache:        %zu bytes per token (%s, default)\n", m->ops->cache_bytes_per_token(m, ct),
            cache_name(ct));
}

uint64_t cs_model_size_bytes(const cs_model *m) { return gguf_file_size(m->file); }

uint64_t cs_model_n_params(const cs_model *m) {
    uint64_t n = 0;
    for (uint64_t i = 0; i < gguf_n_tensors(m->file); i++) {
        const gguf_tensor *t = gguf_tensor_at(m->file, i);
        n += (uint64_t)(t->ne[0] * t->ne[1] * t->ne[2] * t->ne[3]);
    }
    return n;
}

/* The block index of "blk.N.*" tensors, -1 for others. */
static int tensor_block(const char *name) {
    int l;
    return sscanf(name, "blk.%d.", &l) == 1 ? l : -1;
}

uint64_t cs_model_weight_bytes_per_token(const cs_model *m) {
    const cs_hparams *h = &m->hp;
    uint64_t bytes = 0;
    for (uint64_t i = 0; i < gguf_n_tensors(m->file); i++) {
        const gguf_tensor *t = gguf_tensor_at(m->file, i);
        int l = tensor_block(t->name);
        if (l >= h->n_layer) continue; /* MTP blocks are not run */
        if (!strcmp(t->name, "token_embd.weight") && !m->tied_output)
            bytes += cs_row_size(t->type, t->ne[0]); /* one row looked up */
        else if (strstr(t->name, "_exps.") && h->n_expert > 0)
            bytes += t->nbytes / (uint64_t)h->n_expert * (uint64_t)h->n_expert_used;
        else
            bytes += t->nbytes;
    }
    return bytes;
}

char *cs_model_meta_str(const cs_model *m, const char *key) { return gguf_get_str_dup(m->file, key); }
