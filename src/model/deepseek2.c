/* DeepSeek-V3 / R1, V2 and V2-Lite: GGUF arch `deepseek2`, the C twin of
 * DeepSeek's inference/model.py (MLA, Gate, MoE, precompute_freqs_cis).
 * Pre-norm blocks; attention is multi-head latent attention (MLA), the FFN is
 * a plain SwiGLU in the first n_dense_lead blocks and DeepSeekMoE after them:
 *
 *   x = embd[token]
 *   for each layer:
 *     h = rmsnorm(x) * attn_norm
 *     q = Wq_b (rmsnorm(Wq_a h) * q_a_norm)     or  q = Wq h  without q LoRA
 *         per head q_h = [q_nope (nope) | q_rope (rope)]
 *     [c | k_rope] = Wkv_a h                    c: latent (kv_lora), k_rope: shared by all heads
 *     c = rmsnorm(c) * kv_a_norm
 *     rotate q_rope and k_rope (adjacent pairs, YaRN frequencies)
 *     cache[pos] = [c | k_rope]                 the only per-token state (compressed cache)
 *     absorbed attention, per head h (W_UK, W_UV: head h's slices of attn_kv_b):
 *       q_lat = W_UK_h^T q_nope                 query folded into latent space (kv_lora)
 *       s_j   = scale * (q_lat . c_j + q_rope . k_rope_j)
 *       o_h   = W_UV_h (sum_j softmax(s)_j c_j) value head (v)
 *     x += Wo [o_0 .. o_{n_head-1}]
 *     h = rmsnorm(x) * ffn_norm
 *     dense: x += Wdown (silu(Wgate h) * Wup h)
 *     MoE:   s = softmax(Wr h) or sigmoid(Wr h)               router scores (n_expert)
 *            b = s + exp_probs_b                               choice only (V3: bias)
 *            groups of n_expert/n_group consecutive experts, group score = sum of
 *            its two best b (max of b without bias); keep the n_group_used best,
 *            E = top n_used of b among them
 *            w_e = s_e (/ sum_E s when expert_weights_norm) * expert_weights_scale
 *            x += sum_{e in E} w_e FFN_e(h) + FFN_shared(h)
 *   logits = Wout (rmsnorm(x) * output_norm)
 *
 * YaRN (rope.scaling.type = yarn), as precompute_freqs_cis, at every position:
 *   f_i = base^(-2i/rope); low/high = floor/ceil of the correction dims for
 *   beta_fast / beta_slow over original_context_length; ramp_i = clamp((i - low)
 *   / (high - low), 0, 1); f_i = f_i (1 - ramp_i) + f_i / factor * ramp_i.
 *   No magnitude scaling of q/k; scale = mscale^2 / sqrt(nope + rope), mscale =
 *   1 + yarn_log_multiplier * ln(factor).
 *
 * MLA tensor layouts in GGUF files (ne[0] = row length):
 *   (a) attn_kv_b {kv_lora, n_head*(nope+v)}: rows of head h are W_UK_h (nope
 *       rows) then W_UV_h (v rows). W_UV_h is used in place; W_UK_h^T is built
 *       once at load (see build_wk_t).
 *   (b) attn_kv_b plus 2-D attn_k_b {nope, n_head*kv_lora} (= W_UK_h^T per head)
 *       and attn_v_b {kv_lora, n_head*v} (= W_UV_h per head).
 *   (c) no attn_kv_b; 3-D attn_k_b {nope, kv_lora, n_head}, attn_v_b {kv_lora, v,
 *       n_head}; head_count_kv = 1, key_length = kv_lora + rope, value_length =
 *       kv_lora, per-head sizes in key_length_mla / value_length_mla.
 *   (b) and (c) hold the same bytes; (a) computes the same function.
 *
 * The last nextn_predict_layers blocks are multi-token-prediction (MTP) layers:
 * validated, skipped in the forward pass, not cached. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "../base/base.h"
#include "../kernels/kernels.h"
#include "model.h"

typedef struct {
    cs_type elem;       /* cache element type: F32, F16 or Q8_0 */
    size_t row_bytes;   /* one cached position of one layer: [latent | k_rope] */
    void *cache;        /* (n_layer, n_ctx, row_bytes), mapped anonymously */
    size_t cache_bytes;
    float *x;           /* (n_batch, dim) residual stream */
    float *xb;          /* (n_batch, dim) normed input, then sublayer output */
    float *qa;          /* (n_batch, q_lora) */
    float *q;           /* (n_batch, n_head*(nope+rope)) */
    float *kva;         /* (n_batch, kv_lora+rope) */
    float *qlat;        /* (n_batch, n_head, kv_lora+rope) absorbed queries [q_lat | q_rope] */
    float *olat;        /* (n_batch, n_head, kv_lora) attention output in latent space */
    float *att;         /* (n_batch, n_head*v) */
    float *hb, *hb2;    /* (n_batch, widest FFN) */
    float *ffo;         /* (n_batch, dim) FFN output */
    float *router;      /* (n_batch, n_expert) */
    float *pick;        /* (n_expert + n_group) routing scratch */
    float *sel_w;       /* (n_batch, n_used) routing weights */
    int *sel_e;         /* (n_batch, n_used) chosen experts */
    int *e_count;       /* (n_expert + 1) tokens per expert, then offsets */
    int *e_tok;         /* (n_batch*n_used) tokens grouped by expert */
    float *e_w;         /* (n_batch*n_used) their weights */
    float *xe, *ye;     /* (n_batch, dim) gathered expert input / output */
    float *scores;      /* (n_threads, hblk, kv_cap) */
    float *rowbuf;      /* (n_threads, kv_lora+rope) */
    void *scratch;      /* matmul activation scratch */
    int n_threads;
    int hblk;           /* heads per attention task */
    int kv_cap;         /* scores per head: n_ctx, more once a batch's context needs it */
} ds2_state;

/* ---- loading ---------------------------------------------------------------- */

static bool has_key(const cs_model *m, const char *key) {
    char k[256];
    snprintf(k, sizeof k, "%s.%s", m->arch_name, key);
    return gguf_get(m->file, k) != NULL;
}

static bool has_tensor(const cs_model *m, const char *name) { return gguf_find_tensor(m->file, name) != NULL; }

/* MTP (nextn) extras: validated only. */
static int bind_nextn(cs_model *m, int l) {
    const cs_hparams *h = &m->hp;
    cs_tensor t;
    if (cs_bind(m, &t, true, 2 * (int64_t)h->n_embd, h->n_embd, 1, "blk.%d.nextn.eh_proj.weight", l) ||
        cs_bind(m, &t, true, h->n_embd, 1, 1, "blk.%d.nextn.enorm.weight", l) ||
        cs_bind(m, &t, true, h->n_embd, 1, 1, "blk.%d.nextn.hnorm.weight", l) ||
        cs_bind(m, &t, false, h->n_embd, 1, 1, "blk.%d.nextn.shared_head_norm.weight", l) ||
        cs_bind(m, &t, false, h->n_embd, h->n_vocab, 1, "blk.%d.nextn.embed_tokens.weight", l) ||
        cs_bind(m, &t, false, h->n_embd, h->n_vocab, 1, "blk.%d.nextn.shared_head_head.weight", l))
        return -1;
    return 0;
}

static int bind_layer(cs_model *m, int l) {
    const cs_hparams *h = &m->hp;
    cs_layer *L = &m->layers[l];
    const int64_t dim = h->n_embd, nh = h->n_head, nope = h->qk_nope, rope = h->qk_rope, vd = h->v_head;
    const int64_t kvl = h->kv_lora_rank, qdim = nh * (nope + rope);
    if (cs_bind(m, &L->attn_norm, true, dim, 1, 1, "blk.%d.attn_norm.weight", l)) return -1;
    if (h->q_lora_rank) {
        if (cs_bind(m, &L->wq_a, true, dim, h->q_lora_rank, 1, "blk.%d.attn_q_a.weight", l) ||
            cs_bind(m, &L->q_a_norm, true, h->q_lora_rank, 1, 1, "blk.%d.attn_q_a_norm.weight", l) ||
            cs_bind(m, &L->wq_b, true, h->q_lora_rank, qdim, 1, "blk.%d.attn_q_b.weight", l))
            return -1;
    } else if (cs_bind(m, &L->wq, true, dim, qdim, 1, "blk.%d.attn_q.weight", l)) {
        return -1;
    }
    if (cs_bind(m, &L->wkv_a, true, dim, kvl + rope, 1, "blk.%d.attn_kv_a_mqa.weight", l) ||
        cs_bind(m, &L->kv_a_norm, true, kvl, 1, 1, "blk.%d.attn_kv_a_norm.weight", l) ||
        cs_bind(m, &L->wo, true, nh * vd, dim, 1, "blk.%d.attn_output.weight", l))
        return -1;
    switch (h->mla_layout) {
    case 'a':
        if (cs_bind(m, &L->wkv_b, true, kvl, nh * (nope + vd), 1, "blk.%d.attn_kv_b.weight", l)) return -1;
        break;
    case 'b':
        if (cs_bind(m, &L->wkv_b, true, kvl, nh * (nope + vd), 1, "blk.%d.attn_kv_b.weight", l) ||
            cs_bind(m, &L->wk_b, true, nope, nh * kvl, 1, "blk.%d.attn_k_b.weight", l) ||
            cs_bind(m, &L->wv_b, true, kvl, nh * vd, 1, "blk.%d.attn_v_b.weight", l))
            return -1;
        break;
    default: /* 'c' */
        if (cs_bind(m, &L->wk_b, true, nope, kvl, nh, "blk.%d.attn_k_b.weight", l) ||
            cs_bind(m, &L->wv_b, true, kvl, vd, nh, "blk.%d.attn_v_b.weight", l))
            return -1;
    }
    if (cs_bind(m, &L->ffn_norm, true, dim, 1, 1, "blk.%d.ffn_norm.weight", l)) return -1;
    L->is_moe = h->n_expert > 0 && l >= h->n_dense_lead;
    if (!L->is_moe) {
        if (cs_bind(m, &L->ffn_gate, true, dim, h->n_ff, 1, "blk.%d.ffn_gate.weight", l) ||
            cs_bind(m, &L->ffn_up, true, dim, h->n_ff, 1, "blk.%d.ffn_up.weight", l) ||
            cs_bind(m, &L->ffn_down, true, h->n_ff, dim, 1, "blk.%d.ffn_down.weight", l))
            return -1;
    } else {
        const int64_t ne = h->n_expert, fe = h->n_ff_exp, fs = (int64_t)h->n_ff_exp * h->n_expert_shared;
        if (cs_bind(m, &L->ffn_gate_inp, true, dim, ne, 1, "blk.%d.ffn_gate_inp.weight", l) ||
            cs_bind(m, &L->exp_probs_b, false, ne, 1, 1, "blk.%d.exp_probs_b.bias", l) ||
            cs_bind(m, &L->ffn_gate_exps, true, dim, fe, ne, "blk.%d.ffn_gate_exps.weight", l) ||
            cs_bind(m, &L->ffn_up_exps, true, dim, fe, ne, "blk.%d.ffn_up_exps.weight", l) ||
            cs_bind(m, &L->ffn_down_exps, true, fe, dim, ne, "blk.%d.ffn_down_exps.weight", l))
            return -1;
        if (fs > 0 && (cs_bind(m, &L->ffn_gate_shexp, true, dim, fs, 1, "blk.%d.ffn_gate_shexp.weight", l) ||
                       cs_bind(m, &L->ffn_up_shexp, true, dim, fs, 1, "blk.%d.ffn_up_shexp.weight", l) ||
                       cs_bind(m, &L->ffn_down_shexp, true, fs, dim, 1, "blk.%d.ffn_down_shexp.weight", l)))
            return -1;
        if (cs_require_f32(&L->exp_probs_b)) return -1;
    }
    if (cs_require_f32(&L->attn_norm) || cs_require_f32(&L->q_a_norm) || cs_require_f32(&L->kv_a_norm) ||
        cs_require_f32(&L->ffn_norm))
        return -1;
    return 0;
}

/* Layout (a): W_UK_h^T rebuilt from attn_kv_b as rows (h*kv_lora + c) of nope
 * values, so the query absorption is an ordinary per-head matrix product.
 * Element type: F32 when attn_kv_b is F32 (exact, so F32 conformance keeps its
 * ~1e-6), else F16 (exact for F16 files, within F16 rounding of the file's
 * values for BF16 and quantized ones). Memory: n_layer * n_head * kv_lora * nope
 * elements of 4 or 2 bytes, e.g. V3 (61 x 128 x 512 x 128) in F16: 1.02 GB
 * (0.95 GiB) -- only for layout-(a) files; (b) and (c) files carry W_UK^T.
 * The copies live in the same allocation as m->layers (model.c frees that). */
static size_t wk_t_bytes(const cs_hparams *h, cs_type t) {
    return (size_t)h->n_head * (size_t)h->kv_lora_rank * cs_row_size(t, h->qk_nope);
}

static int build_wk_t(cs_model *m, char *dst) {
    const cs_hparams *h = &m->hp;
    const int64_t nope = h->qk_nope, vd = h->v_head, kvl = h->kv_lora_rank;
    float *row = cs_malloc((size_t)kvl * sizeof(float));
    if (!row) return -1;
    for (int l = 0; l < h->n_layer; l++) {
        cs_layer *L = &m->layers[l];
        cs_type t = L->wkv_b.type == CS_TYPE_F32 ? CS_TYPE_F32 : CS_TYPE_F16;
        size_t out_row = cs_row_size(t, nope);
        for (int64_t hh = 0; hh < h->n_head; hh++)
            for (int64_t d = 0; d < nope; d++) {
                cs_get_row(row, L->wkv_b.data, L->wkv_b.type, kvl, hh * (nope + vd) + d);
                for (int64_t c = 0; c < kvl; c++) {
                    char *o = dst + (size_t)(hh * kvl + c) * out_row;
                    if (t == CS_TYPE_F32)
                        ((float *)o)[d] = row[c];
                    else
                        ((uint16_t *)o)[d] = cs_fp32_to_fp16(row[c]);
                }
            }
        L->wk_b.name = "attn_k_b (built from attn_kv_b)";
        L->wk_b.type = t;
        L->wk_b.ne[0] = nope;
        L->wk_b.ne[1] = h->n_head * kvl;
        L->wk_b.ne[2] = L->wk_b.ne[3] = 1;
        L->wk_b.data = dst;
        L->wk_b.nbytes = wk_t_bytes(h, t);
        dst += (L->wk_b.nbytes + 63) & ~(size_t)63;
    }
    free(row);
    return 0;
}

/* model.py's precompute_freqs_cis: the angular frequencies of the rope dims. */
static void rope_frequencies(cs_model *m) {
    const cs_hparams *h = &m->hp;
    const int dim = h->qk_rope;
    const double base = h->rope_theta;
    double low = 0, high = 0;
    if (h->rope_scaling == CS_ROPE_SCALING_YARN) {
        double two_pi = 2.0 * M_PI;
        double cd_fast = dim * log(h->rope_orig_ctx / (h->yarn_beta_fast * two_pi)) / (2.0 * log(base));
        double cd_slow = dim * log(h->rope_orig_ctx / (h->yarn_beta_slow * two_pi)) / (2.0 * log(base));
        low = floor(cd_fast) < 0 ? 0 : floor(cd_fast);
        high = ceil(cd_slow) > dim - 1 ? dim - 1 : ceil(cd_slow);
        if (low == high) high += 0.001;
    }
    for (int i = 0; i < dim / 2; i++) {
        double f = 1.0 / pow(base, 2.0 * i / dim);
        if (h->rope_scaling == CS_ROPE_SCALING_YARN) {
            double ramp = (i - low) / (high - low);
            ramp = ramp < 0 ? 0 : ramp > 1 ? 1 : ramp;
            double smooth = 1.0 - ramp;
            f = f / h->rope_factor * (1.0 - smooth) + f * smooth;
        } else if (h->rope_scaling == CS_ROPE_SCALING_LINEAR) {
            f /= h->rope_factor;
        }
        m->rope_freq[i] = (float)f;
    }
    double scale = 1.0 / sqrt((double)(h->qk_nope + h->qk_rope));
    if (h->rope_scaling == CS_ROPE_SCALING_YARN) {
        double mscale = 1.0 + h->yarn_log_mul * log(h->rope_factor);
        scale *= mscale * mscale;
    }
    m->attn_scale = (float)scale;
}

static int read_rope_scaling(cs_model *m) {
    cs_hparams *h = &m->hp;
    char key[128];
    snprintf(key, sizeof key, "%s.rope.scaling.type", m->arch_name);
    char *type = gguf_get_str_dup(m->file, key);
    h->rope_scaling = CS_ROPE_SCALING_NONE;
    h->rope_factor = 1.0f;
    h->yarn_beta_fast = 32.0f;
    h->yarn_beta_slow = 1.0f;
    int rc = 0;
    if (!type || !strcmp(type, "none")) {
    } else if (!strcmp(type, "linear")) {
        h->rope_scaling = CS_ROPE_SCALING_LINEAR;
        rc = cs_hp_f32(m, "rope.scaling.factor", true, 1.0f, &h->rope_factor);
    } else if (!strcmp(type, "yarn")) {
        h->rope_scaling = CS_ROPE_SCALING_YARN;
        rc = cs_hp_f32(m, "rope.scaling.factor", true, 1.0f, &h->rope_factor) ||
             cs_hp_u32(m, "rope.scaling.original_context_length", true, 0, &h->rope_orig_ctx) ||
             cs_hp_f32(m, "rope.scaling.yarn_log_multiplier", false, 0.0f, &h->yarn_log_mul) ||
             cs_hp_f32(m, "rope.scaling.yarn_beta_fast", false, 32.0f, &h->yarn_beta_fast) ||
             cs_hp_f32(m, "rope.scaling.yarn_beta_slow", false, 1.0f, &h->yarn_beta_slow);
        if (!rc && (h->rope_orig_ctx <= 0 || !(h->yarn_beta_fast > 0) || !(h->yarn_beta_slow > 0))) {
            cs_set_error("yarn original_context_length %d, beta_fast %g and beta_slow %g must be positive",
                         h->rope_orig_ctx, h->yarn_beta_fast, h->yarn_beta_slow);
            rc = -1;
        }
    } else {
        cs_set_error("rope scaling '%s' is not supported for deepseek2 (yarn, linear or none)", type);
        rc = -1;
    }
    free(type);
    if (rc) return -1;
    if (!(h->rope_factor >= 1.0f)) {
        cs_set_error("rope.scaling.factor %g must be at least 1", h->rope_factor);
        return -1;
    }
    return 0;
}

static int ds2_load(cs_model *m) {
    cs_hparams *h = &m->hp;
    if (cs_hp_u32(m, "embedding_length", true, 0, &h->n_embd) ||
        cs_hp_u32(m, "block_count", true, 0, &h->n_layer_file) ||
        cs_hp_u32(m, "attention.head_count", true, 0, &h->n_head) ||
        cs_hp_u32(m, "attention.head_count_kv", false, 0, &h->n_head_kv) ||
        cs_hp_u32(m, "context_length", false, 4096, &h->n_ctx_train) ||
        cs_hp_u32(m, "attention.kv_lora_rank", true, 0, &h->kv_lora_rank) ||
        cs_hp_u32(m, "attention.q_lora_rank", false, 0, &h->q_lora_rank) ||
        cs_hp_u32(m, "rope.dimension_count", true, 0, &h->qk_rope) ||
        cs_hp_u32(m, "leading_dense_block_count", false, 0, &h->n_dense_lead) ||
        cs_hp_u32(m, "feed_forward_length", false, 0, &h->n_ff) ||
        cs_hp_u32(m, "expert_count", false, 0, &h->n_expert) ||
        cs_hp_u32(m, "expert_used_count", false, 0, &h->n_expert_used) ||
        cs_hp_u32(m, "expert_shared_count", false, 0, &h->n_expert_shared) ||
        cs_hp_u32(m, "expert_feed_forward_length", false, 0, &h->n_ff_exp) ||
        cs_hp_u32(m, "expert_gating_func", false, 1, &h->gating_func) ||
        cs_hp_u32(m, "nextn_predict_layers", false, 0, &h->nextn) ||
        cs_hp_f32(m, "attention.layer_norm_rms_epsilon", true, 0, &h->rms_eps) ||
        cs_hp_f32(m, "rope.freq_base", false, 10000.0f, &h->rope_theta) ||
        cs_hp_f32(m, "expert_weights_scale", false, 1.0f, &h->expert_weights_scale))
        return -1;
    h->expert_weights_norm = cs_hp_bool(m, "expert_weights_norm", false);
    if (h->n_embd <= 0 || h->n_layer_file <= 0 || h->n_head <= 0 || h->kv_lora_rank <= 0) {
        cs_set_error("embedding_length, block_count, head_count and kv_lora_rank must be positive");
        return -1;
    }
    if ((uint64_t)h->n_layer_file * 8 > gguf_n_tensors(m->file)) { /* before sizing anything by it */
        cs_set_error("block_count %d, but the file holds only %llu tensors", h->n_layer_file,
                     (unsigned long long)gguf_n_tensors(m->file));
        return -1;
    }
    if (h->nextn >= h->n_layer_file) {
        cs_set_error("nextn_predict_layers %d leaves no ordinary blocks of %d", h->nextn, h->n_layer_file);
        return -1;
    }
    h->n_layer = h->n_layer_file - h->nextn;
    if (h->gating_func != 1 && h->gating_func != 2) {
        cs_set_error("deepseek2.expert_gating_func %d is not supported (1 softmax, 2 sigmoid)", h->gating_func);
        return -1;
    }
    if (!(h->rms_eps > 0.0f && h->rms_eps < 1.0f) || !(h->rope_theta > 1.0f) || !(h->expert_weights_scale > 0.0f)) {
        cs_set_error("rms epsilon %g, rope base %g or expert_weights_scale %g out of range", h->rms_eps,
                     h->rope_theta, h->expert_weights_scale);
        return -1;
    }
    if (h->qk_rope <= 0 || h->qk_rope % 2) {
        cs_set_error("rope.dimension_count %d must be positive and even", h->qk_rope);
        return -1;
    }
    if (read_rope_scaling(m)) return -1;

    /* MLA layout from the tensors of block 0; head sizes from the metadata of that layout */
    bool kv_b = has_tensor(m, "blk.0.attn_kv_b.weight"), k_b = has_tensor(m, "blk.0.attn_k_b.weight");
    if (!kv_b && !k_b) {
        cs_set_error("blk.0 has neither attn_kv_b nor attn_k_b: not an MLA model this engine knows");
        return -1;
    }
    h->mla_layout = kv_b ? (k_b ? 'b' : 'a') : 'c';
    int klen, vlen;
    if (cs_hp_u32(m, "attention.key_length", true, 0, &klen) || cs_hp_u32(m, "attention.value_length", true, 0, &vlen))
        return -1;
    if (has_key(m, "attention.key_length_mla") || h->mla_layout == 'c') {
        /* latent layout metadata: one "kv head" of kv_lora + rope / kv_lora, per-head sizes in *_mla */
        int kmla, vmla;
        if (cs_hp_u32(m, "attention.key_length_mla", true, 0, &kmla) ||
            cs_hp_u32(m, "attention.value_length_mla", true, 0, &vmla))
            return -1;
        if (klen != h->kv_lora_rank + h->qk_rope || vlen != h->kv_lora_rank || (h->n_head_kv && h->n_head_kv != 1)) {
            cs_set_error("MLA metadata key_length %d / value_length %d / head_count_kv %d, expected %d / %d / 1 "
                         "(kv_lora_rank + rope / kv_lora_rank)",
                         klen, vlen, h->n_head_kv, h->kv_lora_rank + h->qk_rope, h->kv_lora_rank);
            return -1;
        }
        klen = kmla;
        vlen = vmla;
        h->n_head_kv = 1;
    } else if (h->n_head_kv && h->n_head_kv != h->n_head) {
        cs_set_error("head_count_kv %d differs from head_count %d without key_length_mla", h->n_head_kv, h->n_head);
        return -1;
    }
    if (!h->n_head_kv) h->n_head_kv = h->n_head;
    h->qk_nope = klen - h->qk_rope;
    h->v_head = vlen;
    h->head_dim = klen;
    h->n_rot = h->qk_rope;
    if (h->qk_nope <= 0 || h->v_head <= 0) {
        cs_set_error("key_length %d must exceed rope.dimension_count %d, value_length %d must be positive", klen,
                     h->qk_rope, vlen);
        return -1;
    }

    /* q LoRA: the key and the tensors must agree (never guessed from the layer count) */
    bool q_a = has_tensor(m, "blk.0.attn_q_a.weight");
    if (h->q_lora_rank == 0 && q_a) {
        cs_set_error("blk.0.attn_q_a.weight present but deepseek2.attention.q_lora_rank missing or 0");
        return -1;
    }
    if (h->q_lora_rank > 0 && !q_a) {
        cs_set_error("deepseek2.attention.q_lora_rank is %d but blk.0.attn_q_a.weight is missing", h->q_lora_rank);
        return -1;
    }

    /* FFN / MoE */
    if ((h->n_dense_lead > 0 || h->n_expert == 0) && h->n_ff <= 0) {
        cs_set_error("missing or zero deepseek2.feed_forward_length for the dense blocks");
        return -1;
    }
    bool has_bias = false;
    if (h->n_expert > 0) {
        if (h->n_expert_used <= 0 || h->n_expert_used > h->n_expert || h->n_ff_exp <= 0) {
            cs_set_error("expert_used_count %d must be in 1..expert_count %d and expert_feed_forward_length %d "
                         "positive",
                         h->n_expert_used, h->n_expert, h->n_ff_exp);
            return -1;
        }
        char name[64];
        snprintf(name, sizeof name, "blk.%d.exp_probs_b.bias", h->n_dense_lead < h->n_layer_file ? h->n_dense_lead : 0);
        has_bias = has_tensor(m, name);
        bool gc = has_key(m, "expert_group_count"), gu = has_key(m, "expert_group_used_count");
        if (gc != gu) {
            cs_set_error("expert_group_count and expert_group_used_count must be given together");
            return -1;
        }
        if (gc) {
            if (cs_hp_u32(m, "expert_group_count", true, 1, &h->n_group) ||
                cs_hp_u32(m, "expert_group_used_count", true, 1, &h->n_group_used))
                return -1;
        } else if (h->gating_func == 2 && h->n_expert == 256 && has_bias) {
            h->n_group = 8; /* DeepSeek-V3/R1 config.json: n_group 8, topk_group 4 */
            h->n_group_used = 4;
            h->group_defaulted = true;
        } else {
            h->n_group = h->n_group_used = 1;
        }
        if (h->n_group <= 0 || h->n_expert % h->n_group || h->n_group_used <= 0 || h->n_group_used > h->n_group ||
            h->n_expert_used > h->n_group_used * (h->n_expert / h->n_group)) {
            cs_set_error("expert groups %d (%d used) do not fit %d experts with %d used", h->n_group,
                         h->n_group_used, h->n_expert, h->n_expert_used);
            return -1;
        }
    } else {
        h->n_expert_used = h->n_expert_shared = 0;
        h->n_group = h->n_group_used = 1;
    }

    const int64_t dim = h->n_embd;
    if (cs_bind(m, &m->tok_embd, true, dim, -1, 1, "token_embd.weight")) return -1;
    h->n_vocab = (int)m->tok_embd.ne[1];
    if (cs_bind(m, &m->output_norm, true, dim, 1, 1, "output_norm.weight") ||
        cs_bind(m, &m->output, false, dim, h->n_vocab, 1, "output.weight") || cs_require_f32(&m->output_norm))
        return -1;
    m->tied_output = m->output.name == NULL;
    if (m->tied_output) m->output = m->tok_embd;

    /* the layer array, followed (layout a) by the rebuilt W_UK^T of every layer */
    size_t layers_bytes = ((size_t)h->n_layer_file * sizeof(cs_layer) + 63) & ~(size_t)63, extra = 0;
    if (h->mla_layout == 'a') {
        const gguf_tensor *kvb = gguf_find_tensor(m->file, "blk.0.attn_kv_b.weight");
        for (int l = 0; l < h->n_layer; l++) {
            char name[64];
            snprintf(name, sizeof name, "blk.%d.attn_kv_b.weight", l);
            const gguf_tensor *g = gguf_find_tensor(m->file, name);
            if (!g) g = kvb; /* reported as missing by bind_layer */
            extra += (wk_t_bytes(h, g->type == CS_TYPE_F32 ? CS_TYPE_F32 : CS_TYPE_F16) + 63) & ~(size_t)63;
        }
    }
    m->layers = cs_aligned_alloc(layers_bytes + extra);
    if (!m->layers) return -1;
    memset(m->layers, 0, layers_bytes);
    for (int l = 0; l < h->n_layer_file; l++) {
        if (bind_layer(m, l)) return -1;
        if (l >= h->n_layer && bind_nextn(m, l)) return -1;
    }
    if (h->mla_layout == 'a' && build_wk_t(m, (char *)m->layers + layers_bytes)) return -1;

    m->rope_freq = cs_malloc((size_t)(h->qk_rope / 2) * sizeof(float));
    if (!m->rope_freq) return -1;
    rope_frequencies(m);
    return 0;
}

/* ---- cache and context --------------------------------------------------------- */

static cs_type cache_elem(cs_cache_type t) {
    return t == CS_CACHE_F32 ? CS_TYPE_F32 : t == CS_CACHE_F16 ? CS_TYPE_F16 : CS_TYPE_Q8_0;
}

static size_t ds2_cache_bytes(const cs_model *m, cs_cache_type t) {
    if (t != CS_CACHE_F32 && t != CS_CACHE_F16 && t != CS_CACHE_Q8_0) return 0;
    return (size_t)m->hp.n_layer * cs_mla_row_bytes(cache_elem(t), m->hp.kv_lora_rank, m->hp.qk_rope);
}

static void ds2_ctx_free(cs_context *c) {
    ds2_state *s = c->state;
    if (!s) return;
    if (s->cache) munmap(s->cache, s->cache_bytes);
    void *bufs[] = {s->x,     s->xb,    s->qa,    s->q,    s->kva,   s->qlat, s->olat,
                    s->att,   s->hb,    s->hb2,   s->ffo,   s->router, s->pick, s->sel_w, s->sel_e, s->e_count,
                    s->e_tok, s->e_w,   s->xe,    s->ye,    s->scores, s->rowbuf, s->scratch};
    for (size_t i = 0; i < CS_ARRAY_LEN(bufs); i++) free(bufs[i]);
    free(s);
    c->state = NULL;
}

static int ds2_ctx_init(cs_context *c) {
    const cs_hparams *h = &c->m->hp;
    ds2_state *s = cs_calloc(1, sizeof *s);
    if (!s) return -1;
    c->state = s;
    s->elem = cache_elem(c->cache_type);
    s->row_bytes = cs_mla_row_bytes(s->elem, h->kv_lora_rank, h->qk_rope);
    s->n_threads = c->n_threads;
    s->hblk = h->n_head / (s->n_threads > 0 ? s->n_threads : 1);
    s->hblk = s->hblk < 1 ? 1 : s->hblk > 16 ? 16 : s->hblk;
    const size_t nb = (size_t)c->n_batch, dim = (size_t)h->n_embd, nh = (size_t)h->n_head;
    const size_t kvl = (size_t)h->kv_lora_rank, rope = (size_t)h->qk_rope, nope = (size_t)h->qk_nope;
    const size_t vd = (size_t)h->v_head, nu = (size_t)h->n_expert_used;
    size_t ffw = CS_MAX((size_t)h->n_ff, (size_t)h->n_ff_exp * CS_MAX((size_t)h->n_expert_shared, 1));
    size_t widest = CS_MAX(CS_MAX(dim, (size_t)h->q_lora_rank), CS_MAX(nh * nope, nh * kvl));
    widest = CS_MAX(CS_MAX(widest, nh * vd), ffw);
    /* The cache is an anonymous mapping, not touched here: its pages are committed
     * as positions are written (memory grows with the tokens cached, not with
     * n_ctx) and go back to the system on free, whatever the allocator's state. */
    s->cache_bytes = CS_MAX((size_t)h->n_layer * (size_t)c->n_ctx * s->row_bytes, (size_t)1);
    s->cache = mmap(NULL, s->cache_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (s->cache == MAP_FAILED) {
        s->cache = NULL;
        cs_set_error("cannot map %zu bytes for the latent cache", s->cache_bytes);
        ds2_ctx_free(c);
        return -1;
    }
    s->x = cs_aligned_alloc(nb * dim * 4);
    s->xb = cs_aligned_alloc(nb * dim * 4);
    s->qa = cs_aligned_alloc(nb * CS_MAX((size_t)h->q_lora_rank, 1) * 4);
    s->q = cs_aligned_alloc(nb * nh * (nope + rope) * 4);
    s->kva = cs_aligned_alloc(nb * (kvl + rope) * 4);
    s->qlat = cs_aligned_alloc(nb * nh * (kvl + rope) * 4);
    s->olat = cs_aligned_alloc(nb * nh * kvl * 4);
    s->att = cs_aligned_alloc(nb * nh * vd * 4);
    s->hb = cs_aligned_alloc(nb * ffw * 4);
    s->hb2 = cs_aligned_alloc(nb * ffw * 4);
    s->ffo = cs_aligned_alloc(nb * dim * 4);
    s->router = cs_aligned_alloc(nb * CS_MAX((size_t)h->n_expert, 1) * 4);
    s->pick = cs_aligned_alloc(((size_t)h->n_expert + (size_t)h->n_group + 1) * 4);
    s->sel_w = cs_aligned_alloc(nb * CS_MAX(nu, 1) * 4);
    s->sel_e = cs_aligned_alloc(nb * CS_MAX(nu, 1) * sizeof(int));
    s->e_count = cs_aligned_alloc(((size_t)h->n_expert + 1) * sizeof(int));
    s->e_tok = cs_aligned_alloc(nb * CS_MAX(nu, 1) * sizeof(int));
    s->e_w = cs_aligned_alloc(nb * CS_MAX(nu, 1) * 4);
    s->xe = cs_aligned_alloc(nb * dim * 4);
    s->ye = cs_aligned_alloc(nb * dim * 4);
    s->kv_cap = c->n_ctx;
    size_t scores_bytes = (size_t)s->n_threads * (size_t)s->hblk * (size_t)s->kv_cap * 4;
    s->scores = cs_aligned_alloc(scores_bytes);
    s->rowbuf = cs_aligned_alloc((size_t)s->n_threads * (kvl + rope) * 4);
    s->scratch = cs_aligned_alloc(nb * widest * 4);
    if (!s->x || !s->xb || !s->qa || !s->q || !s->kva || !s->qlat || !s->olat || !s->att || !s->hb || !s->hb2 ||
        !s->ffo || !s->router || !s->pick || !s->sel_w || !s->sel_e || !s->e_count || !s->e_tok || !s->e_w ||
        !s->xe || !s->ye || !s->scores || !s->rowbuf || !s->scratch) {
        ds2_ctx_free(c);
        return -1;
    }
    /* workspace is committed up front, so memory use grows only with the cache */
    memset(s->scores, 0, scores_bytes);
    return 0;
}

/* ---- the forward pass ---------------------------------------------------------- */

/* model.py's Gate for one token: router logits s (n_expert; overwritten by the
 * scores), pick (n_expert) and gscore (n_group) scratch; out: the chosen
 * experts and their weights (n_used each). */
static void route(const cs_hparams *h, const cs_layer *L, float *s, float *pick, float *gscore, int *sel, float *w) {
    const int ne = h->n_expert, k = h->n_expert_used, ng = h->n_group, gsize = ne / ng;
    const float *bias = L->exp_probs_b.data;
    if (h->gating_func == 1)
        cs_softmax(s, ne);
    else
        for (int e = 0; e < ne; e++) s[e] = 1.0f / (1.0f + expf(-s[e]));
    /* selection scores: the bias steers the choice only */
    for (int e = 0; e < ne; e++) pick[e] = bias ? s[e] + bias[e] : s[e];
    if (ng > 1) {
        /* group score: sum of the two best with the bias, else the best */
        for (int g = 0; g < ng; g++) {
            const float *p = pick + g * gsize;
            float m1 = -INFINITY, m2 = -INFINITY;
            for (int i = 0; i < gsize; i++) {
                if (p[i] > m1) {
                    m2 = m1;
                    m1 = p[i];
                } else if (p[i] > m2) {
                    m2 = p[i];
                }
            }
            gscore[g] = bias && gsize > 1 ? m1 + m2 : m1;
        }
        /* keep the n_group_used best groups: mark the others, then drop their experts */
        for (int u = 0; u < h->n_group_used; u++) {
            int best = -1;
            for (int g = 0; g < ng; g++)
                if (gscore[g] != INFINITY && (best < 0 || gscore[g] > gscore[best])) best = g;
            gscore[best] = INFINITY;
        }
        for (int g = 0; g < ng; g++)
            if (gscore[g] != INFINITY)
                for (int i = 0; i < gsize; i++) pick[g * gsize + i] = -INFINITY;
    }
    /* top k of the eligible experts; weights are the unbiased scores */
    float sum = 0.0f;
    for (int i = 0; i < k; i++) {
        int best = 0;
        for (int e = 1; e < ne; e++)
            if (pick[e] > pick[best]) best = e;
        sel[i] = best;
        w[i] = s[best];
        sum += s[best];
        pick[best] = -INFINITY;
    }
    for (int i = 0; i < k; i++) {
        if (h->expert_weights_norm) w[i] /= sum;
        w[i] *= h->expert_weights_scale;
    }
}

/* y (n, dim) = Wdown (silu(Wgate x) * Wup x) for an FFN of width ff */
static void ffn(ds2_state *s, float *y, const float *x, int n, int64_t dim, int64_t ff, const void *wg, const void *wu,
                const void *wd, cs_type tg, cs_type tu, cs_type td) {
    cs_matmul(s->hb, x, wg, tg, dim, ff, n, s->scratch);
    cs_matmul(s->hb2, x, wu, tu, dim, ff, n, s->scratch);
    for (int t = 0; t < n; t++) cs_swiglu(s->hb + t * ff, s->hb2 + t * ff, ff);
    cs_matmul(y, s->hb, wd, td, ff, dim, n, s->scratch);
}

/* DeepSeekMoE on s->xb (n tokens) into s->ffo. Tokens are grouped by expert so
 * each chosen expert's weights are read once per batch. */
static void moe(ds2_state *s, const cs_hparams *h, const cs_layer *L, int n) {
    const int64_t dim = h->n_embd, fe = h->n_ff_exp;
    const int ne = h->n_expert, k = h->n_expert_used;
    cs_matmul(s->router, s->xb, L->ffn_gate_inp.data, L->ffn_gate_inp.type, dim, ne, n, s->scratch);
    for (int t = 0; t < n; t++)
        route(h, L, s->router + (size_t)t * ne, s->pick, s->pick + ne, s->sel_e + t * k, s->sel_w + t * k);

    /* counting sort of (token, weight) pairs by expert */
    int *cnt = s->e_count;
    memset(cnt, 0, ((size_t)ne + 1) * sizeof(int));
    for (int i = 0; i < n * k; i++) cnt[s->sel_e[i] + 1]++;
    for (int e = 0; e < ne; e++) cnt[e + 1] += cnt[e];
    for (int t = 0; t < n; t++)
        for (int i = 0; i < k; i++) {
            int e = s->sel_e[t * k + i], at = cnt[e]++;
            s->e_tok[at] = t;
            s->e_w[at] = s->sel_w[t * k + i];
        }
    /* cnt[e] is now the end of expert e's run; its start is cnt[e-1] (0 for e = 0) */
    memset(s->ffo, 0, (size_t)n * dim * sizeof(float));
    const size_t gate_sz = (size_t)fe * cs_row_size(L->ffn_gate_exps.type, dim);
    const size_t up_sz = (size_t)fe * cs_row_size(L->ffn_up_exps.type, dim);
    const size_t down_sz = (size_t)dim * cs_row_size(L->ffn_down_exps.type, fe);
    for (int e = 0; e < ne; e++) {
        int start = e ? cnt[e - 1] : 0, m = cnt[e] - start;
        if (m == 0) continue;
        for (int i = 0; i < m; i++)
            memcpy(s->xe + (size_t)i * dim, s->xb + (size_t)s->e_tok[start + i] * dim, (size_t)dim * sizeof(float));
        ffn(s, s->ye, s->xe, m, dim, fe, (const char *)L->ffn_gate_exps.data + e * gate_sz,
            (const char *)L->ffn_up_exps.data + e * up_sz, (const char *)L->ffn_down_exps.data + e * down_sz,
            L->ffn_gate_exps.type, L->ffn_up_exps.type, L->ffn_down_exps.type);
        for (int i = 0; i < m; i++) {
            float w = s->e_w[start + i];
            float *o = s->ffo + (size_t)s->e_tok[start + i] * dim;
            const float *y = s->ye + (size_t)i * dim;
            for (int64_t d = 0; d < dim; d++) o[d] += w * y[d];
        }
    }
    if (L->ffn_gate_shexp.name) {
        int64_t fs = (int64_t)fe * h->n_expert_shared;
        ffn(s, s->ye, s->xb, n, dim, fs, L->ffn_gate_shexp.data, L->ffn_up_shexp.data, L->ffn_down_shexp.data,
            L->ffn_gate_shexp.type, L->ffn_up_shexp.type, L->ffn_down_shexp.type);
        for (int t = 0; t < n; t++) cs_add(s->ffo + (size_t)t * dim, s->ye + (size_t)t * dim, dim);
    }
}

/* Attention scores for n_kv positions: a batch of other contexts
 * (cs_eval_multi) may see more positions than this context's n_ctx. */
static int reserve_scores(ds2_state *w, int n_kv) {
    if (n_kv <= w->kv_cap) return 0;
    size_t bytes = (size_t)w->n_threads * (size_t)w->hblk * (size_t)n_kv * 4;
    float *p = cs_aligned_alloc(bytes);
    if (!p) return -1;
    memset(p, 0, bytes);
    free(w->scores);
    w->scores = p;
    w->kv_cap = n_kv;
    return 0;
}

/* model.py's Transformer.forward over a batch: token t goes to b->ctx[t] at
 * position b->pos[t]. The matmuls and the MoE run over all rows at once; the
 * latent cache write and the attention are per token, in its own context.
 * Activations are ctx[0]'s (the "work" state s). */
static int ds2_forward(const cs_batch *b, float *logits) {
    const cs_model *m = b->ctx[0]->m;
    const cs_hparams *h = &m->hp;
    ds2_state *s = b->ctx[0]->state;
    const int n = b->n;
    const int64_t dim = h->n_embd, nh = h->n_head, nope = h->qk_nope, rope = h->qk_rope, vd = h->v_head;
    const int64_t kvl = h->kv_lora_rank, qk = nope + rope, qdim = nh * qk, lat = kvl + rope;

    int max_kv = 0;
    for (int t = 0; t < n; t++) max_kv = CS_MAX(max_kv, b->pos[t] + 1);
    if (reserve_scores(s, max_kv)) return -1;

    for (int t = 0; t < n; t++) cs_get_row(s->x + t * dim, m->tok_embd.data, m->tok_embd.type, dim, b->tokens[t]);

    for (int l = 0; l < h->n_layer; l++) {
        const cs_layer *L = &m->layers[l];
        for (int t = 0; t < n; t++) cs_rmsnorm(s->xb + t * dim, s->x + t * dim, L->attn_norm.data, dim, h->rms_eps);

        /* queries */
        if (h->q_lora_rank) {
            const int64_t r = h->q_lora_rank;
            cs_matmul(s->qa, s->xb, L->wq_a.data, L->wq_a.type, dim, r, n, s->scratch);
            for (int t = 0; t < n; t++) cs_rmsnorm(s->qa + t * r, s->qa + t * r, L->q_a_norm.data, r, h->rms_eps);
            cs_matmul(s->q, s->qa, L->wq_b.data, L->wq_b.type, r, qdim, n, s->scratch);
        } else {
            cs_matmul(s->q, s->xb, L->wq.data, L->wq.type, dim, qdim, n, s->scratch);
        }

        /* latent + shared rope key, normed and rotated, into each token's cache */
        cs_matmul(s->kva, s->xb, L->wkv_a.data, L->wkv_a.type, dim, lat, n, s->scratch);
        for (int t = 0; t < n; t++) {
            const cs_context *c = b->ctx[t];
            const ds2_state *kc = c->state;
            const int pos = b->pos[t];
            float *kv = s->kva + t * lat;
            cs_rmsnorm(kv, kv, L->kv_a_norm.data, kvl, h->rms_eps);
            cs_rope(kv + kvl, rope, m->rope_freq, pos, 0);
            cs_mla_store((char *)kc->cache + ((size_t)l * c->n_ctx + (size_t)pos) * kc->row_bytes, kc->elem, kv,
                         kv + kvl, kvl, rope);
            for (int64_t hh = 0; hh < nh; hh++) {
                float *qh = s->q + t * qdim + hh * qk;
                cs_rope(qh + nope, rope, m->rope_freq, pos, 0);
                memcpy(s->qlat + (t * nh + hh) * lat + kvl, qh + nope, (size_t)rope * sizeof(float));
            }
        }

        /* absorb: q_lat = W_UK_h^T q_nope, per head */
        cs_matmul_heads(s->qlat, nh * lat, lat, s->q, qdim, qk, L->wk_b.data, L->wk_b.type, kvl, nope, kvl, nh, n,
                        s->scratch);

        /* attention over the latents: token t sees positions 0 .. pos[t] of its context */
        const int hblk = s->hblk, nblk = (int)((nh + hblk - 1) / hblk);
#pragma omp parallel for collapse(2) schedule(dynamic)
        for (int t = 0; t < n; t++)
            for (int bk = 0; bk < nblk; bk++) {
                const cs_context *c = b->ctx[t];
                const ds2_state *kc = c->state;
                const char *cache = (const char *)kc->cache + (size_t)l * c->n_ctx * kc->row_bytes;
                int tid = omp_get_thread_num();
                int64_t h0 = (int64_t)bk * hblk, cnt = CS_MIN((int64_t)hblk, nh - h0);
                cs_mla_attend(s->olat + (t * nh + h0) * kvl, kvl, s->qlat + (t * nh + h0) * lat, cnt, lat, cache,
                              kc->row_bytes, kc->elem, b->pos[t] + 1, kvl, rope, m->attn_scale,
                              s->scores + (size_t)tid * hblk * s->kv_cap, s->rowbuf + (size_t)tid * lat);
            }

        /* values: o_h = W_UV_h o_lat_h, then the output projection */
        if (h->mla_layout == 'a')
            cs_matmul_heads(s->att, nh * vd, vd, s->olat, nh * kvl, kvl,
                            (const char *)L->wkv_b.data + (size_t)nope * cs_row_size(L->wkv_b.type, kvl),
                            L->wkv_b.type, nope + vd, kvl, vd, nh, n, s->scratch);
        else
            cs_matmul_heads(s->att, nh * vd, vd, s->olat, nh * kvl, kvl, L->wv_b.data, L->wv_b.type, vd, kvl, vd, nh, n,
                            s->scratch);
        cs_matmul(s->xb, s->att, L->wo.data, L->wo.type, nh * vd, dim, n, s->scratch);
        for (int t = 0; t < n; t++) cs_add(s->x + t * dim, s->xb + t * dim, dim);

        /* feed-forward: dense or mixture of experts */
        for (int t = 0; t < n; t++) cs_rmsnorm(s->xb + t * dim, s->x + t * dim, L->ffn_norm.data, dim, h->rms_eps);
        if (L->is_moe)
            moe(s, h, L, n);
        else
            ffn(s, s->ffo, s->xb, n, dim, h->n_ff, L->ffn_gate.data, L->ffn_up.data, L->ffn_down.data,
                L->ffn_gate.type, L->ffn_up.type, L->ffn_down.type);
        for (int t = 0; t < n; t++) cs_add(s->x + t * dim, s->ffo + t * dim, dim);
    }

    if (!logits) return 0;
    int first = b->first_out, rows = n - first;
    for (int t = first; t < n; t++)
        cs_rmsnorm(s->xb + (t - first) * dim, s->x + t * dim, m->output_norm.data, dim, h->rms_eps);
    cs_matmul(logits, s->xb, m->output.data, m->output.type, dim, h->n_vocab, rows, s->scratch);
    return 0;
}

/* ---- cseek info ---------------------------------------------------------------- */

static void ds2_print_info(const cs_model *m, FILE *out) {
    const cs_hparams *h = &m->hp;
    if (h->q_lora_rank)
        fprintf(out, "q lora rank:     %d\n", h->q_lora_rank);
    else
        fprintf(out, "q lora rank:     none (plain attn_q)\n");
    fprintf(out, "kv lora rank:    %d\n", h->kv_lora_rank);
    fprintf(out, "head dims:       nope %d, rope %d, v %d (softmax scale %g)\n", h->qk_nope, h->qk_rope, h->v_head,
            m->attn_scale);
    if (h->n_expert) {
        fprintf(out, "experts:         %d used of %d, %d shared, FFN %d\n", h->n_expert_used, h->n_expert,
                h->n_expert_shared, h->n_ff_exp);
        if (h->n_group > 1)
            fprintf(out, "expert groups:   %d, %d used%s\n", h->n_group, h->n_group_used,
                    h->group_defaulted ? " (assumed 8/4 for V3/R1: no group keys in the file)" : "");
        else
            fprintf(out, "expert groups:   none\n");
        bool bias = false;
        for (int l = 0; l < h->n_layer; l++) bias |= m->layers[l].exp_probs_b.name != NULL;
        fprintf(out, "gating:          %s%s, weights %snormalized, scale %g\n",
                h->gating_func == 2 ? "sigmoid" : "softmax", bias ? " + score-correction bias" : "",
                h->expert_weights_norm ? "" : "not ", h->expert_weights_scale);
        fprintf(out, "dense layers:    first %d\n", CS_MIN(h->n_dense_lead, h->n_layer));
    } else {
        fprintf(out, "experts:         none (all layers dense)\n");
    }
    fprintf(out, "MTP layers:      %d%s\n", h->nextn, h->nextn ? " (validated, not run)" : "");
    if (h->mla_layout == 'a') {
        size_t bytes = 0;
        for (int l = 0; l < h->n_layer; l++) bytes += m->layers[l].wk_b.nbytes;
        fprintf(out, "MLA layout:      a (attn_kv_b; W_UK^T rebuilt at load in %s, %zu bytes)\n",
                h->n_layer ? cs_type_name(m->layers[0].wk_b.type) : "-", bytes);
    } else {
        fprintf(out, "MLA layout:      %c (%s)\n", h->mla_layout,
                h->mla_layout == 'b' ? "attn_kv_b + 2-D attn_k_b / attn_v_b" : "3-D attn_k_b / attn_v_b");
    }
    fprintf(out, "latent cache:    %zu bytes per token in F16, %zu in Q8_0 (%d layers x (%d + %d))\n",
            ds2_cache_bytes(m, CS_CACHE_F16), ds2_cache_bytes(m, CS_CACHE_Q8_0), h->n_layer, h->kv_lora_rank,
            h->qk_rope);
}

const cs_arch_ops cs_deepseek2_ops = {
    .load = ds2_load,
    .default_cache = CS_CACHE_F16,
    .cache_bytes_per_token = ds2_cache_bytes,
    .ctx_init = ds2_ctx_init,
    .ctx_free = ds2_ctx_free,
    .forward = ds2_forward,
    .print_info = ds2_print_info,
};
