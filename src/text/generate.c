/* Generation: logits -> token -> text, for one output at a time.
 *
 *   logits --sample--> token --detok--> UTF-8 text --stop strings--> --reasoning split--> emit
 *
 * The stop-string stage holds back the longest tail of the text that could
 * still grow into a stop string, so a stop string is never half printed.
 * The model is run by the caller (cs_generate below for one context, the
 * server for a batch of slots), which keeps this file free of scheduling. */
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"
#include "../model/model.h"
#include "tokenizer.h"

struct cs_generator {
    const cs_vocab *vocab;
    cs_gen_params p;
    char **stop;        /* n_stop copies */
    size_t max_stop;    /* longest stop string */
    cs_sampler *sampler;
    cs_detok *detok;
    cs_reasoning *reasoning;
    char *held;         /* decoded text not yet released (may begin a stop string) */
    size_t n_held, cap_held;
    int n_tokens, n_reasoning;
    int32_t last;
    cs_gen_status status;
};

void cs_gen_params_init(cs_gen_params *p) {
    memset(p, 0, sizeof *p);
    cs_sampler_params_init(&p->sampling);
    p->split_reasoning = true;
}

const char *cs_gen_status_name(cs_gen_status s) {
    switch (s) {
    case CS_GEN_RUNNING: return "running";
    case CS_GEN_STOP: return "stop";
    case CS_GEN_LENGTH: return "length";
    case CS_GEN_CANCELLED: return "cancelled";
    default: return "error";
    }
}

void cs_generator_free(cs_generator *g) {
    if (!g) return;
    for (int i = 0; i < g->p.n_stop; i++) free(g->stop[i]);
    free(g->stop);
    cs_sampler_free(g->sampler);
    cs_detok_free(g->detok);
    cs_reasoning_free(g->reasoning);
    free(g->held);
    free(g);
}

cs_generator *cs_generator_new(const cs_vocab *v, int n_vocab, const cs_gen_params *p) {
    if (!v || !p) {
        cs_set_error("generator needs a vocabulary and parameters");
        return NULL;
    }
    if (p->n_stop < 0 || (p->n_stop > 0 && !p->stop)) {
        cs_set_error("bad stop string list");
        return NULL;
    }
    cs_generator *g = cs_calloc(1, sizeof *g);
    if (!g) return NULL;
    g->vocab = v;
    g->p = *p;
    g->p.n_stop = 0;
    g->stop = p->n_stop ? cs_calloc((size_t)p->n_stop, sizeof *g->stop) : NULL;
    if (p->n_stop && !g->stop) goto fail;
    for (int i = 0; i < p->n_stop; i++) {
        if (!p->stop[i] || !p->stop[i][0]) {
            cs_set_error("stop strings must not be empty");
            goto fail;
        }
        size_t len = strlen(p->stop[i]);
        if (!(g->stop[i] = cs_malloc(len + 1))) goto fail;
        memcpy(g->stop[i], p->stop[i], len + 1);
        g->p.n_stop = i + 1;
        g->max_stop = CS_MAX(g->max_stop, len);
    }
    g->p.stop = (const char *const *)g->stop;
    g->sampler = cs_sampler_new(&p->sampling, n_vocab);
    g->detok = cs_detok_new(v, p->special);
    g->reasoning = cs_reasoning_new(p->think_prefilled);
    if (!g->sampler || !g->detok || !g->reasoning) goto fail;
    g->last = -1;
    return g;
fail:
    cs_generator_free(g);
    return NULL;
}

void cs_generator_reset(cs_generator *g) {
    cs_detok_reset(g->detok);
    cs_reasoning_reset(g->reasoning, g->p.think_prefilled);
    g->n_held = 0;
    g->n_tokens = g->n_reasoning = 0;
    g->last = -1;
    g->status = CS_GEN_RUNNING;
}

cs_gen_status cs_generator_status(const cs_generator *g) { return g->status; }
int cs_generator_n_tokens(const cs_generator *g) { return g->n_tokens; }
int cs_generator_n_reasoning_tokens(const cs_generator *g) { return g->n_reasoning; }
int32_t cs_generator_last_token(const cs_generator *g) { return g->last; }
cs_sampler *cs_generator_sampler(cs_generator *g) { return g->sampler; }

/* Final text goes through the reasoning split (or straight to the answer). */
static void release(cs_generator *g, const char *text, size_t len, cs_gen_emit_fn emit, void *user) {
    if (!len) return;
    if (!g->p.split_reasoning) {
        if (emit) emit(CS_ANSWER, text, len, user);
        return;
    }
    if (cs_reasoning_feed(g->reasoning, text, len, emit, user) != 0) g->status = CS_GEN_ERROR;
}

/* Append decoded text; release all of it that can no longer begin a stop
 * string. Returns true when a stop string completed (text before it released). */
static bool push_text(cs_generator *g, const char *text, size_t len, cs_gen_emit_fn emit, void *user) {
    if (!g->p.n_stop) {
        release(g, text, len, emit, user);
        return false;
    }
    if (g->n_held + len + 1 > g->cap_held) {
        size_t cap = CS_MAX(g->cap_held * 2, g->n_held + len + 64);
        char *h = realloc(g->held, cap);
        if (!h) {
            cs_set_error("out of memory");
            g->status = CS_GEN_ERROR;
            return false;
        }
        g->held = h;
        g->cap_held = cap;
    }
    memcpy(g->held + g->n_held, text, len);
    g->n_held += len;
    g->held[g->n_held] = 0;

    /* the earliest complete stop string wins */
    size_t first = SIZE_MAX;
    for (int i = 0; i < g->p.n_stop; i++) {
        const char *at = memmem(g->held, g->n_held, g->stop[i], strlen(g->stop[i]));
        if (at && (size_t)(at - g->held) < first) first = (size_t)(at - g->held);
    }
    if (first != SIZE_MAX) {
        release(g, g->held, first, emit, user);
        g->n_held = 0;
        return true;
    }
    /* keep the longest tail that is a proper prefix of some stop string */
    size_t keep = 0;
    size_t lim = CS_MIN(g->n_held, g->max_stop - 1);
    for (size_t k = lim; k > 0 && !keep; k--)
        for (int i = 0; i < g->p.n_stop; i++)
            if (strlen(g->stop[i]) > k && !memcmp(g->held + g->n_held - k, g->stop[i], k)) {
                keep = k;
                break;
            }
    release(g, g->held, g->n_held - keep, emit, user);
    memmove(g->held, g->held + g->n_held - keep, keep);
    g->n_held = keep;
    return false;
}

/* Ends the output: the detokenizer's dangling bytes and the held tail are
 * released, unless a stop string matched (then what followed it is dropped). */
static void finish(cs_generator *g, cs_gen_status why, bool after_stop_string, cs_gen_emit_fn emit, void *user) {
    if (g->status != CS_GEN_RUNNING && g->status != CS_GEN_ERROR) return; /* already finished */
    if (!after_stop_string) {
        size_t len = 0;
        const char *tail = cs_detok_flush(g->detok, &len);
        if (tail && len && push_text(g, tail, len, emit, user)) why = CS_GEN_STOP;
        release(g, g->held, g->n_held, emit, user);
    }
    g->n_held = 0;
    if (g->p.split_reasoning && cs_reasoning_finish(g->reasoning, emit, user) != 0) g->status = CS_GEN_ERROR;
    if (g->status != CS_GEN_ERROR) g->status = why;
}

void cs_generator_finish(cs_generator *g, cs_gen_status why, cs_gen_emit_fn emit, void *user) {
    if (g->status == CS_GEN_RUNNING) finish(g, why, false, emit, user);
}

int32_t cs_generator_step(cs_generator *g, const float *logits, cs_gen_emit_fn emit, void *user) {
    if (g->status != CS_GEN_RUNNING) return -1;
    if (g->p.cancel && *g->p.cancel) {
        cs_generator_finish(g, CS_GEN_CANCELLED, emit, user);
        return -1;
    }
    int32_t tok = cs_sampler_sample(g->sampler, logits);
    if (tok < 0) {
        finish(g, CS_GEN_ERROR, false, emit, user);
        return -1;
    }
    cs_sampler_accept(g->sampler, tok);
    g->n_tokens++;
    g->last = tok;
    bool was_reasoning = g->p.split_reasoning && cs_reasoning_in_reasoning(g->reasoning);
    if (tok < cs_vocab_n_tokens(g->vocab) && cs_vocab_is_eog(g->vocab, tok)) {
        if (was_reasoning) g->n_reasoning++;
        finish(g, CS_GEN_STOP, false, emit, user);
        return -1;
    }
    size_t len = 0;
    /* ids past the vocabulary (padded output rows) decode to nothing */
    const char *text = tok < cs_vocab_n_tokens(g->vocab) ? cs_detok_push(g->detok, tok, &len) : "";
    bool stopped = text && len && push_text(g, text, len, emit, user);
    if (g->status == CS_GEN_ERROR) {
        finish(g, CS_GEN_ERROR, true, emit, user);
        return -1;
    }
    if (was_reasoning || (g->p.split_reasoning && cs_reasoning_in_reasoning(g->reasoning))) g->n_reasoning++;
    if (stopped) {
        finish(g, CS_GEN_STOP, true, emit, user);
        return -1;
    }
    if (g->p.max_tokens > 0 && g->n_tokens >= g->p.max_tokens) {
        cs_generator_finish(g, CS_GEN_LENGTH, emit, user);
        return -1;
    }
    return tok;
}

/* ---- the loop over one context ------------------------------------------ */

cs_vocab *cs_vocab_from_model(const cs_model *m) { return cs_vocab_from_gguf(cs_model_gguf(m)); }

int cs_generate(cs_context *c, cs_generator *g, const int32_t *prompt, int n_prompt, cs_gen_emit_fn emit, void *user,
                cs_gen_stats *stats) {
    cs_gen_stats st = {0};
    st.n_prompt = n_prompt;
    int n_ctx = cs_context_n_ctx(c);
    if (n_prompt <= 0) {
        cs_set_error("the prompt is empty");
        return -1;
    }
    if (n_prompt >= n_ctx) {
        cs_set_error("the prompt is %d tokens, which leaves no room in the context of %d (use -c to raise it)",
                     n_prompt, n_ctx);
        return -1;
    }
    int n_vocab = c->m->hp.n_vocab;
    float *logits = cs_malloc((size_t)n_vocab * sizeof *logits);
    if (!logits) return -1;
    int rc = -1;

    /* reuse the cached prefix; at least the last prompt token is evaluated for its logits */
    int keep = cs_context_common_prefix(c, prompt, n_prompt);
    if (keep == n_prompt) keep--;
    if (cs_context_truncate(c, keep) != 0) goto out;
    st.n_prompt_cached = keep;
    double t0 = cs_time_s();
    for (int i = keep; i < n_prompt; i += c->n_batch) {
        if (g->p.cancel && *g->p.cancel) {
            cs_generator_finish(g, CS_GEN_CANCELLED, emit, user);
            st.t_prompt_s = cs_time_s() - t0;
            rc = 0;
            goto out;
        }
        int nb = CS_MIN(c->n_batch, n_prompt - i);
        if (cs_eval(c, prompt + i, nb, i + nb == n_prompt ? logits : NULL, false) != 0) goto out;
    }
    double t1 = cs_time_s();
    st.t_prompt_s = t1 - t0;
    for (;;) {
        int32_t tok = cs_generator_step(g, logits, emit, user);
        if (tok < 0) break;
        if (cs_context_n_past(c) >= n_ctx) {
            cs_generator_finish(g, CS_GEN_LENGTH, emit, user);
            break;
        }
        if (cs_eval(c, &tok, 1, logits, false) != 0) {
            cs_generator_finish(g, CS_GEN_ERROR, emit, user);
            goto out;
        }
    }
    st.t_gen_s = cs_time_s() - t1;
    rc = g->status == CS_GEN_ERROR ? -1 : 0;
out:
    st.n_gen = g->n_tokens;
    st.n_reasoning = g->n_reasoning;
    st.status = g->status == CS_GEN_RUNNING ? CS_GEN_ERROR : g->status;
    if (stats) *stats = st;
    free(logits);
    return rc;
}
