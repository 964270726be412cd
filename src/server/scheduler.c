/* scheduler: the one thread that runs the model.
 *
 * Each slot is a cs_context over the shared model. Every turn of the loop:
 *   1. admit waiting jobs into free slots: the free slot whose cached tokens
 *      share the longest prefix with the prompt is chosen, its cache cut to
 *      that prefix, and only the rest is evaluated (prompt_cache_hit_tokens);
 *   2. evaluate one chunk (<= 256 tokens) of each admitted prompt, so a long
 *      prompt does not stall the slots that are generating;
 *   3. sample one token in every slot that has fresh logits, then run ONE
 *      batched decode step for all of them.
 * A streamed job whose client reads too slowly (more than SRV_MAX_PENDING
 * bytes unread) sits out the decode steps until it catches up, so output
 * memory stays bounded and a stalled client holds only its own slot. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "server.h"

#define PROMPT_CHUNK 256
#define SRV_MAX_PENDING (64 * 1024)

typedef enum { SLOT_IDLE = 0, SLOT_PROMPT, SLOT_GEN } slot_state;

typedef struct {
    int id;
    cs_context *ctx;
    slot_state state;
    srv_job *job;
    cs_generator *gen;
    int n_done;          /* prompt tokens in the cache */
    float *logits;       /* n_vocab: the next token's logits, when has_logits */
    bool has_logits;
    int32_t next;        /* sampled, to be evaluated by the next decode step */
    uint64_t last_used;  /* admission clock; 0: never used */
} slot;

struct srv_sched {
    cs_model *model;
    const cs_vocab *vocab;
    int n_vocab, n_ctx, chunk;
    slot *slots;
    int n_slots;
    uint64_t clock;

    /* decode-step scratch: n_slots rows */
    cs_context **b_ctx;
    int32_t *b_tok;
    float *b_logits;
    slot **b_slot;
    int32_t *top_ids;
    float *top_lps;

    pthread_mutex_t mu;  /* guards the queue and stopping */
    pthread_cond_t cv;
    srv_job **queue;     /* ring of queue_cap */
    int q_cap, q_head, q_len;
    bool stopping, started;
    pthread_t thread;
};

/* ---- the queue ------------------------------------------------------------------ */

int srv_sched_submit(srv_sched *s, srv_job *j) {
    pthread_mutex_lock(&s->mu);
    int rc = -1;
    if (!s->stopping && s->q_len < s->q_cap) {
        srv_job_ref(j);
        s->queue[(s->q_head + s->q_len++) % s->q_cap] = j;
        pthread_cond_signal(&s->cv);
        rc = 0;
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static srv_job *pop_locked(srv_sched *s) {
    if (!s->q_len) return NULL;
    srv_job *j = s->queue[s->q_head];
    s->q_head = (s->q_head + 1) % s->q_cap;
    s->q_len--;
    return j;
}

void srv_sched_cancel(srv_sched *s, srv_job *j) {
    atomic_store(&j->cancel, 1);
    pthread_mutex_lock(&s->mu);
    /* still waiting: take it out now, so its place in the queue is free */
    for (int i = 0; i < s->q_len; i++) {
        int at = (s->q_head + i) % s->q_cap;
        if (s->queue[at] != j) continue;
        for (int k = i; k + 1 < s->q_len; k++)
            s->queue[(s->q_head + k) % s->q_cap] = s->queue[(s->q_head + k + 1) % s->q_cap];
        s->q_len--;
        pthread_mutex_unlock(&s->mu);
        srv_out_finish(j, CS_GEN_CANCELLED, NULL);
        srv_job_unref(j);
        return;
    }
    pthread_cond_signal(&s->cv);
    pthread_mutex_unlock(&s->mu);
}

int srv_sched_n_ctx(const srv_sched *s) { return s->n_ctx; }

/* ---- slots ------------------------------------------------------------------------ */

static void slot_finish(srv_sched *s, slot *sl, cs_gen_status status, const char *error) {
    srv_job *j = sl->job;
    (void)s;
    if (j) {
        srv_out_flush(j);
        pthread_mutex_lock(&j->mu);
        j->n_gen = sl->gen ? cs_generator_n_tokens(sl->gen) : 0;
        j->n_reasoning = sl->gen ? cs_generator_n_reasoning_tokens(sl->gen) : 0;
        pthread_mutex_unlock(&j->mu);
        srv_out_finish(j, status, error);
        srv_job_unref(j);
    }
    cs_generator_free(sl->gen);
    sl->gen = NULL;
    sl->job = NULL;
    sl->state = SLOT_IDLE;
    sl->has_logits = false;
}

static void emit(cs_text_kind kind, const char *text, size_t len, void *user) {
    srv_out_text(user, kind, text, len);
}

/* Put a waiting job into a free slot: the one whose cache holds the longest
 * prefix of the prompt when that is at least half of it, else the one used
 * least recently (an empty one first), so one short request does not wipe
 * the cache of a long conversation that may come back. */
static void admit(srv_sched *s, srv_job *j) {
    slot *best = NULL, *lru = NULL;
    int best_keep = -1;
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        if (sl->state != SLOT_IDLE) continue;
        int keep = cs_context_common_prefix(sl->ctx, j->prompt, j->n_prompt);
        if (keep > best_keep) {
            best = sl;
            best_keep = keep;
        }
        if (!lru || sl->last_used < lru->last_used) lru = sl;
    }
    if (best_keep * 2 < j->n_prompt && best != lru) {
        best = lru;
        best_keep = cs_context_common_prefix(lru->ctx, j->prompt, j->n_prompt);
    }
    best->last_used = ++s->clock;
    int keep = best_keep;
    if (keep >= j->n_prompt) keep = j->n_prompt - 1; /* the last token is evaluated for its logits */
    best->job = j;
    best->state = SLOT_PROMPT;
    best->has_logits = false;
    best->n_done = keep;
    pthread_mutex_lock(&j->mu);
    j->n_cached = keep;
    pthread_mutex_unlock(&j->mu);
    best->gen = cs_generator_new(s->vocab, s->n_vocab, &j->req.gen);
    if (!best->gen || cs_context_truncate(best->ctx, keep) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "cannot start the generation: %.150s", cs_last_error());
        slot_finish(s, best, CS_GEN_ERROR, msg);
        return;
    }
    srv_out_admitted(j);
}

static bool has_free_slot(const srv_sched *s) {
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].state == SLOT_IDLE) return true;
    return false;
}

static int n_busy(const srv_sched *s) {
    int n = 0;
    for (int i = 0; i < s->n_slots; i++) n += s->slots[i].state != SLOT_IDLE;
    return n;
}

/* One chunk of a prompt. */
static void prompt_step(srv_sched *s, slot *sl) {
    srv_job *j = sl->job;
    int n = j->n_prompt - sl->n_done;
    if (n > s->chunk) n = s->chunk;
    bool last = sl->n_done + n == j->n_prompt;
    if (cs_eval(sl->ctx, j->prompt + sl->n_done, n, last ? sl->logits : NULL, false) != 0) {
        char msg[200];
        snprintf(msg, sizeof msg, "evaluation failed: %.170s", cs_last_error());
        cs_context_truncate(sl->ctx, 0);
        slot_finish(s, sl, CS_GEN_ERROR, msg);
        return;
    }
    sl->n_done += n;
    if (last) {
        sl->state = SLOT_GEN;
        sl->has_logits = true;
    }
}

/* Sample from fresh logits. Returns true when the slot goes on to the decode step. */
static bool sample_step(srv_sched *s, slot *sl) {
    srv_job *j = sl->job;
    int before = cs_generator_n_tokens(sl->gen);
    int32_t tok = cs_generator_step(sl->gen, sl->logits, emit, j);
    sl->has_logits = false;
    int32_t last = cs_generator_last_token(sl->gen);
    if (j->req.logprobs && cs_generator_n_tokens(sl->gen) > before && last >= 0 &&
        !(last < cs_vocab_n_tokens(s->vocab) && cs_vocab_is_eog(s->vocab, last))) {
        cs_sampler *smp = cs_generator_sampler(sl->gen);
        float lp = cs_sampler_logprob(smp, sl->logits, last);
        int n_top = j->req.top_logprobs
                        ? cs_sampler_top_logprobs(smp, sl->logits, j->req.top_logprobs, s->top_ids, s->top_lps)
                        : 0;
        srv_out_logprob(j, s->vocab, last, lp, s->top_ids, s->top_lps, n_top);
    }
    if (tok < 0) {
        cs_gen_status st = cs_generator_status(sl->gen);
        slot_finish(s, sl, st, st == CS_GEN_ERROR ? "generation failed" : NULL);
        return false;
    }
    if (cs_context_n_past(sl->ctx) >= s->n_ctx) {
        cs_generator_finish(sl->gen, CS_GEN_LENGTH, emit, j);
        slot_finish(s, sl, CS_GEN_LENGTH, NULL);
        return false;
    }
    srv_out_flush(j);
    sl->next = tok;
    return true;
}

/* One decode forward for n generating slots, each gets its next logits: the
 * weights are read once per step for all of them (continuous batching), in
 * groups of at most CS_EVAL_MULTI_MAX slots. */
static int decode_step(srv_sched *s, slot **sl, int n) {
    for (int i = 0; i < n; i++) {
        s->b_ctx[i] = sl[i]->ctx;
        s->b_tok[i] = sl[i]->next;
    }
    for (int i = 0; i < n; i += CS_EVAL_MULTI_MAX) {
        int k = n - i < CS_EVAL_MULTI_MAX ? n - i : CS_EVAL_MULTI_MAX;
        if (cs_eval_multi(s->b_ctx + i, s->b_tok + i, k, s->b_logits + (size_t)i * s->n_vocab) != 0) return -1;
    }
    for (int i = 0; i < n; i++) {
        memcpy(sl[i]->logits, s->b_logits + (size_t)i * s->n_vocab, (size_t)s->n_vocab * sizeof(float));
        sl[i]->has_logits = true;
    }
    return 0;
}

static bool backlogged(srv_job *j) {
    if (!j->req.stream) return false;
    pthread_mutex_lock(&j->mu);
    bool b = j->out_len - j->out_sent > SRV_MAX_PENDING;
    pthread_mutex_unlock(&j->mu);
    return b;
}

static void *run(void *arg) {
    srv_sched *s = arg;
    for (;;) {
        /* 1. admit */
        pthread_mutex_lock(&s->mu);
        while (!s->stopping && !s->q_len && !n_busy(s)) pthread_cond_wait(&s->cv, &s->mu);
        if (s->stopping) {
            pthread_mutex_unlock(&s->mu);
            break;
        }
        while (s->q_len && has_free_slot(s)) {
            srv_job *j = pop_locked(s);
            pthread_mutex_unlock(&s->mu);
            if (atomic_load(&j->cancel)) {
                srv_out_finish(j, CS_GEN_CANCELLED, NULL);
                srv_job_unref(j);
            } else {
                admit(s, j);
            }
            pthread_mutex_lock(&s->mu);
        }
        pthread_mutex_unlock(&s->mu);

        /* cancelled jobs leave their slot at once */
        for (int i = 0; i < s->n_slots; i++) {
            slot *sl = &s->slots[i];
            if (sl->state != SLOT_IDLE && atomic_load(&sl->job->cancel)) {
                if (sl->gen) cs_generator_finish(sl->gen, CS_GEN_CANCELLED, emit, sl->job);
                slot_finish(s, sl, CS_GEN_CANCELLED, NULL);
            }
        }

        /* 2. prompts, a chunk each */
        for (int i = 0; i < s->n_slots; i++)
            if (s->slots[i].state == SLOT_PROMPT) prompt_step(s, &s->slots[i]);

        /* 3. sample, then one batched decode step */
        int n = 0, waiting = 0;
        for (int i = 0; i < s->n_slots; i++) {
            slot *sl = &s->slots[i];
            if (sl->state != SLOT_GEN) continue;
            if (backlogged(sl->job)) {
                waiting++;
                continue;
            }
            if (!sl->has_logits || !sample_step(s, sl)) continue;
            s->b_slot[n++] = sl;
        }
        if (n > 0 && decode_step(s, s->b_slot, n) != 0) {
            char msg[200];
            snprintf(msg, sizeof msg, "evaluation failed: %.170s", cs_last_error());
            for (int i = 0; i < n; i++) {
                cs_context_truncate(s->b_slot[i]->ctx, 0);
                slot_finish(s, s->b_slot[i], CS_GEN_ERROR, msg);
            }
        }
        bool prompting = false;
        for (int i = 0; i < s->n_slots; i++) prompting |= s->slots[i].state == SLOT_PROMPT;
        if (n == 0 && waiting && !prompting) {
            /* every generating slot waits for its client: nap, or until woken */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 5 * 1000 * 1000;
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_mutex_lock(&s->mu);
            if (!s->stopping && !(s->q_len && has_free_slot(s))) pthread_cond_timedwait(&s->cv, &s->mu, &ts);
            pthread_mutex_unlock(&s->mu);
        }
    }
    /* stopping: end every job, running or waiting */
    for (int i = 0; i < s->n_slots; i++)
        if (s->slots[i].state != SLOT_IDLE) slot_finish(s, &s->slots[i], CS_GEN_CANCELLED, NULL);
    pthread_mutex_lock(&s->mu);
    srv_job *j;
    while ((j = pop_locked(s))) {
        pthread_mutex_unlock(&s->mu);
        srv_out_finish(j, CS_GEN_CANCELLED, NULL);
        srv_job_unref(j);
        pthread_mutex_lock(&s->mu);
    }
    pthread_mutex_unlock(&s->mu);
    return NULL;
}

/* ---- life cycle ------------------------------------------------------------------ */

srv_sched *srv_sched_new(cs_model *m, const cs_vocab *v, const srv_sched_params *p) {
    srv_sched *s = calloc(1, sizeof *s);
    if (!s) return NULL;
    s->model = m;
    s->vocab = v;
    s->n_vocab = cs_model_n_vocab(m);
    s->n_slots = p->n_slots;
    s->q_cap = p->queue_cap > 0 ? p->queue_cap : 1;
    pthread_mutex_init(&s->mu, NULL);
    pthread_cond_init(&s->cv, NULL);
    size_t nv = (size_t)s->n_vocab;
    s->slots = calloc((size_t)s->n_slots, sizeof *s->slots);
    s->queue = calloc((size_t)s->q_cap, sizeof *s->queue);
    s->b_ctx = calloc((size_t)s->n_slots, sizeof *s->b_ctx);
    s->b_tok = calloc((size_t)s->n_slots, sizeof *s->b_tok);
    s->b_slot = calloc((size_t)s->n_slots, sizeof *s->b_slot);
    s->b_logits = malloc((size_t)s->n_slots * nv * sizeof(float));
    s->top_ids = malloc(SRV_MAX_TOP_LOGPROBS * sizeof *s->top_ids);
    s->top_lps = malloc(SRV_MAX_TOP_LOGPROBS * sizeof *s->top_lps);
    if (!s->slots || !s->queue || !s->b_ctx || !s->b_tok || !s->b_slot || !s->b_logits || !s->top_ids || !s->top_lps) {
        fprintf(stderr, "cseek: serve: out of memory\n");
        goto fail;
    }
    for (int i = 0; i < s->n_slots; i++) {
        slot *sl = &s->slots[i];
        sl->id = i;
        if (!(sl->logits = malloc(nv * sizeof(float)))) goto fail;
        if (!(sl->ctx = cs_context_new(m, &p->ctx))) {
            fprintf(stderr, "cseek: serve: slot %d: %s\n", i, cs_last_error());
            goto fail;
        }
    }
    s->n_ctx = cs_context_n_ctx(s->slots[0].ctx);
    s->chunk = PROMPT_CHUNK;
    if (p->ctx.n_batch > 0 && p->ctx.n_batch < s->chunk) s->chunk = p->ctx.n_batch;
    if (pthread_create(&s->thread, NULL, run, s) != 0) {
        fprintf(stderr, "cseek: serve: cannot start the scheduler thread\n");
        goto fail;
    }
    s->started = true;
    return s;
fail:
    srv_sched_free(s);
    return NULL;
}

void srv_sched_stop(srv_sched *s) {
    if (!s) return;
    pthread_mutex_lock(&s->mu);
    bool was = s->stopping;
    s->stopping = true;
    pthread_cond_broadcast(&s->cv);
    pthread_mutex_unlock(&s->mu);
    if (!was && s->started) pthread_join(s->thread, NULL);
    s->started = false;
}

void srv_sched_free(srv_sched *s) {
    if (!s) return;
    srv_sched_stop(s);
    for (int i = 0; s->slots && i < s->n_slots; i++) {
        cs_context_free(s->slots[i].ctx);
        free(s->slots[i].logits);
    }
    free(s->slots);
    free(s->queue);
    free(s->b_ctx);
    free(s->b_tok);
    free(s->b_slot);
    free(s->b_logits);
    free(s->top_ids);
    free(s->top_lps);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cv);
    free(s);
}
