/* The dense transformer of R1-Distill: GGUF arch `llama` (Llama 3) and `qwen2`
 * (Qwen 2.5). Pre-norm blocks with grouped-query attention and a SwiGLU FFN:
 *
 *   x = embd[token]
 *   for each layer:
 *     h = rmsnorm(x) * attn_norm
 *     q = Wq h (+bq), k = Wk h (+bk), v = Wv h (+bv)       qwen2 has the biases
 *     rotate q, k (llama: adjacent pairs on converter-permuted weights;
 *                  qwen2: NeoX halves), append k, v to the cache
 *     x += Wo attention(q, cache)                          n_head / n_head_kv share kv heads
 *     h = rmsnorm(x) * ffn_norm
 *     x += Wdown (silu(Wgate h) * Wup h)
 *   logits = Wout (rmsnorm(x) * output_norm)               Wout = embd when tied
 */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"
#include "../kernels/kernels.h"
#include "model.h"

typedef struct {
    cs_type elem;       /* cache element type: F32 or F16 */
    size_t esz;
    void *k, *v;        /* (n_layer, n_ctx, n_head_kv*head_dim) each */
    float *x;           /* (n_batch, dim) residual stream */
    float *xb;          /* (n_batch, dim) normed input */
    float *q;           /* (n_batch, n_head*head_dim) */
    float *kn, *vn;     /* (n_batch, n_head_kv*head_dim) new keys and values */
    float *att;         /* (n_batch, n_head*head_dim) attention output */
    float *hb, *hb2;    /* (n_batch, n_ff) */
    float *scores;      /* (n_threads, kv_cap) */
    void *scratch;      /* matmul activation scratch */
    int n_threads;
    int kv_cap;         /* scores per thread: n_ctx, more once a batch's context needs it */
} llama_state;

static int llama_load(cs_model *m) {
    cs_hparams *h = &m->hp;
    bool qwen2 = m->arch == CS_ARCH_QWEN2;
    if (cs_hp_u32(m, "embedding_length", true, 0, &h->n_embd) || cs_hp_u32(m, "block_count", true, 0, &h->n_layer) ||
        cs_hp_u32(m, "attention.head_count", true, 0, &h->n_head) ||
        cs_hp_u32(m, "feed_forward_length", true, 0, &h->n_ff) ||
        cs_hp_u32(m, "context_length", false, 4096, &h->n_ctx_train) ||
        cs_hp_u32(m, "attention.head_count_kv", false, 0, &h->n_head_kv) ||
        cs_hp_f32(m, "attention.layer_norm_rms_epsilon", true, 0, &h->rms_eps) ||
        cs_hp_f32(m, "rope.freq_base", false, 10000.0f, &h->rope_theta))
        return -1;
    if (h->n_embd <= 0 || h->n_layer <= 0 || h->n_head <= 0 || h->n_ff <= 0) {
        cs_set_error("embedding_length, block_count, head_count and feed_forward_length must be positive");
        return -1;
    }
    if ((uint64_t)h->n_layer * 9 > gguf_n_tensors(m->file)) { /* before sizing anything by it */
        cs_set_error("block_count %d, but the file holds only %llu tensors", h->n_layer,
                     (unsigned long long)gguf_n_tensors(m->file));
        return -1;
    }
    if (h->n_head_kv == 0) h->n_head_kv = h->n_head;
    if (h->n_head % h->n_head_kv) {
        cs_set_error("head_count %d is not a multiple of head_count_kv %d", h->n_head, h->n_head_kv);
        return -1;
    }
    if (cs_hp_u32(m, "attention.key_length", false, (uint32_t)(h->n_embd / h->n_head), &h->head_dim)) return -1;
    int vlen;
    if (cs_hp_u32(m, "attention.value_length", false, (uint32_t)h->head_dim, &vlen)) return -1;
    if (h->head_dim <= 0 || h->head_dim % 2 || vlen != h->head_dim) {
        cs_set_error("unsupported head size (key %d, value %d)", h->head_dim, vlen);
        return -1;
    }
    if (cs_hp_u32(m, "rope.dimension_count", false, (uint32_t)h->head_dim, &h->n_rot)) return -1;
    if (h->n_rot <= 0 || h->n_rot > h->head_dim || h->n_rot % 2) {
        cs_set_error("rope.dimension_count %d does not fit head size %d", h->n_rot, h->head_dim);
        return -1;
    }
    if (!(h->rms_eps > 0.0f && h->rms_eps < 1.0f) || !(h->rope_theta > 0.0f)) {
        cs_set_error("rms epsilon %g or rope base %g out of range", h->rms_eps, h->rope_theta);
        return -1;
    }
    char *scaling = gguf_get_str_dup(m->file, qwen2 ? "qwen2.rope.scaling.type" : "llama.rope.scaling.type");
    h->rope_scaling = CS_ROPE_SCALING_NONE;
    h->rope_factor = 1.0f;
    if (scaling && !strcmp(scaling, "linear")) {
        h->rope_scaling = CS_ROPE_SCALING_LINEAR;
        if (cs_hp_f32(m, "rope.scaling.factor", true, 1.0f, &h->rope_factor) || !(h->rope_factor >= 1.0f)) {
            free(scaling);
            if (!cs_last_error()[0]) cs_set_error("bad rope.scaling.factor");
            return -1;
        }
    } else if (scaling && strcmp(scaling, "none")) {
        cs_set_error("rope scaling '%s' is not supported for %s", scaling, m->arch_name);
        free(scaling);
        return -1;
    }
    free(scaling);

    const int64_t dim = h->n_embd, hd = h->head_dim;
    const int64_t qdim = (int64_t)h->n_head * hd, kvdim = (int64_t)h->n_head_kv * hd;
    if (cs_bind(m, &m->tok_embd, true, dim, -1, 1, "token_embd.weight")) return -1;
    h->n_vocab = (int)m->tok_embd.ne[1];
    if (cs_bind(m, &m->output_norm, true, dim, 1, 1, "output_norm.weight") ||
        cs_bind(m, &m->output, false, dim, h->n_vocab, 1, "output.weight") ||
        cs_bind(m, &m->rope_freqs, false, h->n_rot / 2, 1, 1, "rope_freqs.weight") ||
        cs_require_f32(&m->output_norm) || cs_require_f32(&m->rope_freqs))
        return -1;
    m->tied_output = m->output.name == NULL;
    if (m->tied_output) m->output = m->tok_embd;

    m->layers = cs_calloc((size_t)h->n_layer, sizeof *m->layers);
    if (!m->layers) return -1;
    for (int l = 0; l < h->n_layer; l++) {
        cs_layer *L = &m->layers[l];
        if (cs_bind(m, &L->attn_norm, true, dim, 1, 1, "blk.%d.attn_norm.weight", l) ||
            cs_bind(m, &L->wq, true, dim, qdim, 1, "blk.%d.attn_q.weight", l) ||
            cs_bind(m, &L->wk, true, dim, kvdim, 1, "blk.%d.attn_k.weight", l) ||
            cs_bind(m, &L->wv, true, dim, kvdim, 1, "blk.%d.attn_v.weight", l) ||
            cs_bind(m, &L->wo, true, qdim, dim, 1, "blk.%d.attn_output.weight", l) ||
            cs_bind(m, &L->bq, qwen2, qdim, 1, 1, "blk.%d.attn_q.bias", l) ||
            cs_bind(m, &L->bk, qwen2, kvdim, 1, 1, "blk.%d.attn_k.bias", l) ||
            cs_bind(m, &L->bv, qwen2, kvdim, 1, 1, "blk.%d.attn_v.bias", l) ||
            cs_bind(m, &L->ffn_norm, true, dim, 1, 1, "blk.%d.ffn_norm.weight", l) ||
            cs_bind(m, &L->ffn_gate, true, dim, h->n_ff, 1, "blk.%d.ffn_gate.weight", l) ||
            cs_bind(m, &L->ffn_up, true, dim, h->n_ff, 1, "blk.%d.ffn_up.weight", l) ||
            cs_bind(m, &L->ffn_down, true, h->n_ff, dim, 1, "blk.%d.ffn_down.weight", l) ||
            cs_require_f32(&L->attn_norm) || cs_require_f32(&L->ffn_norm) || cs_require_f32(&L->bq) ||
            cs_require_f32(&L->bk) || cs_require_f32(&L->bv))
            return -1;
    }

    /* theta_i = base^(-2i/n_rot), divided by llama3's per-frequency factors or a linear factor */
    int half = h->n_rot / 2;
    m->rope_freq = cs_malloc((size_t)half * sizeof(float));
    if (!m->rope_freq) return -1;
    const float *ff = m->rope_freqs.data;
    for (int i = 0; i < half; i++) {
        double f = pow((double)h->rope_theta, -2.0 * i / h->n_rot) / h->rope_factor;
        if (ff) f /= ff[i];
        m->rope_freq[i] = (float)f;
    }
    m->attn_scale = 1.0f / sqrtf((float)hd);
    return 0;
}

static size_t llama_cache_bytes(const cs_model *m, cs_cache_type t) {
    size_t esz = t == CS_CACHE_F32 ? 4 : t == CS_CACHE_F16 ? 2 : 0;
    return esz * 2 * (size_t)m->hp.n_layer * (size_t)m->hp.n_head_kv * (size_t)m->hp.head_dim;
}

static void llama_ctx_free(cs_context *c) {
    llama_state *s = c->state;
    if (!s) return;
    free(s->k);
    free(s->v);
    free(s->x);
    free(s->xb);
    free(s->q);
    free(s->kn);
    free(s->vn);
    free(s->att);
    free(s->hb);
    free(s->hb2);
    free(s->scores);
    free(s->scratch);
    free(s);
    c->state = NULL;
}

static int llama_ctx_init(cs_context *c) {
    const cs_hparams *h = &c->m->hp;
    llama_state *s = cs_calloc(1, sizeof *s);
    if (!s) return -1;
    c->state = s;
    s->elem = c->cache_type == CS_CACHE_F32 ? CS_TYPE_F32 : CS_TYPE_F16;
    s->esz = c->cache_type == CS_CACHE_F32 ? 4 : 2;
    size_t nb = (size_t)c->n_batch, hd = (size_t)h->head_dim;
    size_t qdim = (size_t)h->n_head * hd, kvdim = (size_t)h->n_head_kv * hd, dim = (size_t)h->n_embd;
    size_t cache = (size_t)h->n_layer * (size_t)c->n_ctx * kvdim * s->esz;
    size_t widest = CS_MAX(CS_MAX(dim, qdim), (size_t)h->n_ff);
    s->n_threads = c->n_threads;
    s->k = cs_aligned_alloc(cache);
    s->v = cs_aligned_alloc(cache);
    s->x = cs_aligned_alloc(nb * dim * 4);
    s->xb = cs_aligned_alloc(nb * dim * 4);
    s->q = cs_aligned_alloc(nb * qdim * 4);
    s->kn = cs_aligned_alloc(nb * kvdim * 4);
    s->vn = cs_aligned_alloc(nb * kvdim * 4);
    s->att = cs_aligned_alloc(nb * qdim * 4);
    s->hb = cs_aligned_alloc(nb * (size_t)h->n_ff * 4);
    s->hb2 = cs_aligned_alloc(nb * (size_t)h->n_ff * 4);
    s->kv_cap = c->n_ctx;
    s->scores = cs_aligned_alloc((size_t)s->n_threads * (size_t)s->kv_cap * 4);
    s->scratch = cs_aligned_alloc(nb * widest * 4);
    if (!s->k || !s->v || !s->x || !s->xb || !s->q || !s->kn || !s->vn || !s->att || !s->hb || !s->hb2 ||
        !s->scores || !s->scratch) {
        llama_ctx_free(c);
        return -1;
    }
    return 0;
}

static void add_bias(float *y, const cs_tensor *b, int n, int64_t width) {
    if (!b->name) return;
    for (int t = 0; t < n; t++) cs_add(y + t * width, b->data, width);
}

/* Attention scores for n_kv positions per thread: a batch of other contexts
 * (cs_eval_multi) may see more positions than this context's n_ctx. */
static int reserve_scores(llama_state *w, int n_kv) {
    if (n_kv <= w->kv_cap) return 0;
    float *p = cs_aligned_alloc((size_t)w->n_threads * (size_t)n_kv * 4);
    if (!p) return -1;
    free(w->scores);
    w->scores = p;
    w->kv_cap = n_kv;
    return 0;
}

/* Token t of the batch goes to b->ctx[t] at b->pos[t]; all rows share the
 * matmuls, attention and cache writes are per token in its own context.
 * Activations are ctx[0]'s (the "work" state). */
static int llama_forward(const cs_batch *b, float *logits) {
    const cs_model *m = b->ctx[0]->m;
    const cs_hparams *h = &m->hp;
    llama_state *s = b->ctx[0]->state;
    const int n = b->n;
    const int64_t dim = h->n_embd, hd = h->head_dim, n_ff = h->n_ff;
    const int64_t qdim = (int64_t)h->n_head * hd, kvdim = (int64_t)h->n_head_kv * hd;
    const int group = h->n_head / h->n_head_kv;
    const int neox = m->arch == CS_ARCH_QWEN2;

    int max_kv = 0;
    for (int t = 0; t < n; t++) max_kv = CS_MAX(max_kv, b->pos[t] + 1);
    if (reserve_scores(s, max_kv)) return -1;

    for (int t = 0; t < n; t++) cs_get_row(s->x + t * dim, m->tok_embd.data, m->tok_embd.type, dim, b->tokens[t]);

    for (int l = 0; l < h->n_layer; l++) {
        const cs_layer *L = &m->layers[l];
        for (int t = 0; t < n; t++) cs_rmsnorm(s->xb + t * dim, s->x + t * dim, L->attn_norm.data, dim, h->rms_eps);
        cs_matmul(s->q, s->xb, L->wq.data, L->wq.type, dim, qdim, n, s->scratch);
        cs_matmul(s->kn, s->xb, L->wk.data, L->wk.type, dim, kvdim, n, s->scratch);
        cs_matmul(s->vn, s->xb, L->wv.data, L->wv.type, dim, kvdim, n, s->scratch);
        add_bias(s->q, &L->bq, n, qdim);
        add_bias(s->kn, &L->bk, n, kvdim);
        add_bias(s->vn, &L->bv, n, kvdim);

        /* rotate, then append k, v to each token's own cache at its position */
        for (int t = 0; t < n; t++) {
            const cs_context *c = b->ctx[t];
            const llama_state *kv = c->state;
            const int pos = b->pos[t];
            for (int hh = 0; hh < h->n_head; hh++)
                cs_rope(s->q + t * qdim + hh * hd, h->n_rot, m->rope_freq, pos, neox);
            for (int hh = 0; hh < h->n_head_kv; hh++)
                cs_rope(s->kn + t * kvdim + hh * hd, h->n_rot, m->rope_freq, pos, neox);
            size_t at = ((size_t)l * c->n_ctx + (size_t)pos) * kvdim * kv->esz;
            cs_store_row((char *)kv->k + at, kv->elem, s->kn + t * kvdim, kvdim);
            cs_store_row((char *)kv->v + at, kv->elem, s->vn + t * kvdim, kvdim);
        }

        /* causal attention: token t sees positions 0 .. pos[t] of its context */
#pragma omp parallel for collapse(2) schedule(dynamic)
        for (int t = 0; t < n; t++)
            for (int hh = 0; hh < h->n_head; hh++) {
                const cs_context *c = b->ctx[t];
                const llama_state *kv = c->state;
                size_t layer = (size_t)l * c->n_ctx * kvdim * kv->esz, off = (size_t)(hh / group) * hd * kv->esz;
                float *scores = s->scores + (size_t)omp_get_thread_num() * s->kv_cap;
                cs_attend(s->att + t * qdim + hh * hd, s->q + t * qdim + hh * hd, (char *)kv->k + layer + off,
                          (char *)kv->v + layer + off, kv->elem, b->pos[t] + 1, hd, hd, kvdim, kvdim, m->attn_scale,
                          scores);
            }
        cs_matmul(s->xb, s->att, L->wo.data, L->wo.type, qdim, dim, n, s->scratch);
        for (int t = 0; t < n; t++) cs_add(s->x + t * dim, s->xb + t * dim, dim);

        for (int t = 0; t < n; t++) cs_rmsnorm(s->xb + t * dim, s->x + t * dim, L->ffn_norm.data, dim, h->rms_eps);
        cs_matmul(s->hb, s->xb, L->ffn_gate.data, L->ffn_gate.type, dim, n_ff, n, s->scratch);
        cs_matmul(s->hb2, s->xb, L->ffn_up.data, L->ffn_up.type, dim, n_ff, n, s->scratch);
        for (int t = 0; t < n; t++) cs_swiglu(s->hb + t * n_ff, s->hb2 + t * n_ff, n_ff);
        cs_matmul(s->xb, s->hb, L->ffn_down.data, L->ffn_down.type, n_ff, dim, n, s->scratch);
        for (int t = 0; t < n; t++) cs_add(s->x + t * dim, s->xb + t * dim, dim);
    }

    if (!logits) return 0;
    int first = b->first_out, rows = n - first;
    for (int t = first; t < n; t++)
        cs_rmsnorm(s->xb + (t - first) * dim, s->x + t * dim, m->output_norm.data, dim, h->rms_eps);
    cs_matmul(logits, s->xb, m->output.data, m->output.type, dim, h->n_vocab, rows, s->scratch);
    return 0;
}

const cs_arch_ops cs_llama_ops = {
    .load = llama_load,
    .default_cache = CS_CACHE_F16,
    .cache_bytes_per_token = llama_cache_bytes,
    .ctx_init = llama_ctx_init,
    .ctx_free = llama_ctx_free,
    .forward = llama_forward,
    .print_info = NULL,
};
