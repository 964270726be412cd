/* reasoning: split a model's streamed output into reasoning and answer.
 *
 * A byte-at-a-time state machine, so any chunking of the input gives the
 * same two streams:
 *
 *   START   (no prefill) leading whitespace is held; "<think>" enters
 *           REASON; anything else makes it all ANSWER (the held whitespace
 *           included: without reasoning the output is passed on as it is).
 *   REASON  whitespace right after the opening is dropped (with a prefill,
 *           one repeated "<think>" there is dropped too); later whitespace
 *           is held until non-space text follows, and dropped before
 *           "</think>", so the reasoning comes out stripped at both ends.
 *           "</think>" enters ANSWER.
 *   ANSWER  whitespace right after "</think>" is dropped; the rest passes
 *           through, later tags included (a closed reasoning block is not
 *           reopened). When there never was any reasoning, the first
 *           "</think>" is a stray close: the model reasoned without
 *           "<think>". By then that text has been streamed as answer and
 *           cannot be called back; the tag itself is dropped (with the
 *           whitespace after it) and cs_reasoning_stray_close() says so.
 *
 * This is how DeepSeek's API and llama.cpp's server present R1's
 * "<think>\n...\n</think>\n\n..." as reasoning_content "..." and content
 * "...": reasoning stripped, content without its leading whitespace.
 *
 * A byte that may begin a tag ("<", then "</th"...) is held until the tag
 * completes or fails; a failed match gives back its first byte as text and
 * runs the rest through again. finish() gives back whatever is still held. */
#include "cseek.h"

#include <stdlib.h>
#include <string.h>

#include "../base/base.h"

enum { M_START, M_REASON, M_ANSWER };

static const char OPEN[] = "<think>";
static const char CLOSE[] = "</think>";
#define TAG_MAX 8

typedef struct {
    char *s;
    size_t len, cap;
} buf;

struct cs_reasoning {
    int mode;
    bool lead;          /* dropping whitespace at the start of a part */
    bool allow_open;    /* REASON lead after a prefill: one "<think>" may come */
    bool had_reasoning; /* REASON was entered */
    bool stray_close;
    bool unterminated;
    bool finishing; /* no more tag matching: release held bytes as text */
    bool oom;

    char tag[TAG_MAX]; /* bytes held as a possible tag */
    int tag_len;
    buf ws;  /* whitespace held (START: leading, REASON: trailing) */
    buf run; /* output not yet emitted, all of kind run_kind */
    cs_text_kind run_kind;

    cs_reasoning_emit_fn emit;
    void *user;
};

static bool put(cs_reasoning *p, buf *b, const char *s, size_t n) {
    if (n == 0) return true;
    if (b->len + n > b->cap) {
        size_t cap = b->cap ? b->cap : 64;
        while (cap < b->len + n) cap *= 2;
        char *q = realloc(b->s, cap);
        if (!q) {
            p->oom = true;
            return false;
        }
        b->s = q;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    return true;
}

static void flush_run(cs_reasoning *p, size_t n) {
    if (n == 0) return;
    if (p->emit) p->emit(p->run_kind, p->run.s, n, p->user);
    memmove(p->run.s, p->run.s + n, p->run.len - n);
    p->run.len -= n;
}

static void out(cs_reasoning *p, cs_text_kind kind, const char *s, size_t n) {
    if (n == 0) return;
    if (p->run.len > 0 && p->run_kind != kind) flush_run(p, p->run.len);
    p->run_kind = kind;
    put(p, &p->run, s, n);
}

/* How many bytes at the end of s[0..n) start a UTF-8 sequence that is not
 * complete yet (0 if none, or if the bytes are not UTF-8 anyway). */
static size_t incomplete_utf8_tail(const char *s, size_t n) {
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xC0) == 0x80) continue; /* continuation byte */
        size_t need = c >= 0xF0 && c <= 0xF7 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return back < need ? back : 0;
    }
    return 0;
}

static bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static void process_byte(cs_reasoning *p, char c);

/* c is text (not part of a tag) */
static void text_byte(cs_reasoning *p, char c) {
    switch (p->mode) {
    case M_START:
        if (is_space(c)) {
            put(p, &p->ws, &c, 1);
            return;
        }
        /* no reasoning: everything held so far is answer */
        p->mode = M_ANSWER;
        p->lead = false;
        out(p, CS_ANSWER, p->ws.s, p->ws.len);
        p->ws.len = 0;
        process_byte(p, c); /* again, with the answer's tags */
        return;
    case M_REASON:
        if (p->lead) {
            if (is_space(c)) return;
            p->lead = false;
            p->allow_open = false;
        }
        if (is_space(c)) {
            put(p, &p->ws, &c, 1);
            return;
        }
        out(p, CS_REASONING, p->ws.s, p->ws.len);
        p->ws.len = 0;
        out(p, CS_REASONING, &c, 1);
        return;
    default: /* M_ANSWER */
        if (p->lead) {
            if (is_space(c)) return;
            p->lead = false;
        }
        out(p, CS_ANSWER, &c, 1);
        return;
    }
}

/* The tags that mean something now (at most two). */
static int targets(const cs_reasoning *p, const char *t[2]) {
    int n = 0;
    if (p->finishing) return 0;
    switch (p->mode) {
    case M_START: t[n++] = OPEN; break;
    case M_REASON:
        t[n++] = CLOSE;
        if (p->lead && p->allow_open) t[n++] = OPEN;
        break;
    default:
        if (!p->had_reasoning && !p->stray_close) t[n++] = CLOSE;
        break;
    }
    return n;
}

static void on_tag(cs_reasoning *p, const char *t) {
    if (t == OPEN) {
        if (p->mode == M_START) {
            p->ws.len = 0; /* whitespace before "<think>" is dropped */
            p->mode = M_REASON;
            p->had_reasoning = true;
        }
        p->lead = true; /* START -> REASON, or a repeated "<think>" after a prefill */
        p->allow_open = false;
    } else if (p->mode == M_REASON) {
        p->ws.len = 0; /* trailing whitespace of the reasoning */
        p->mode = M_ANSWER;
        p->lead = true;
    } else { /* a stray "</think>" in the answer */
        p->stray_close = true;
        p->lead = true;
    }
}

static void process_byte(cs_reasoning *p, char c) {
    const char *t[2];
    int nt = targets(p, t);
    if (nt > 0 && (p->tag_len > 0 || c == '<')) {
        char held[TAG_MAX + 1];
        int n = p->tag_len;
        memcpy(held, p->tag, (size_t)n);
        held[n++] = c;
        bool prefix = false;
        for (int i = 0; i < nt; i++) {
            size_t tl = strlen(t[i]);
            if ((size_t)n <= tl && memcmp(held, t[i], (size_t)n) == 0) {
                if ((size_t)n == tl) {
                    p->tag_len = 0;
                    on_tag(p, t[i]);
                    return;
                }
                prefix = true;
            }
        }
        if (prefix) {
            memcpy(p->tag, held, (size_t)n);
            p->tag_len = n;
            return;
        }
        if (n > 1) { /* the held bytes were not a tag after all */
            p->tag_len = 0;
            text_byte(p, held[0]);
            for (int i = 1; i < n; i++) process_byte(p, held[i]);
            return;
        }
    }
    text_byte(p, c);
}

static void init(cs_reasoning *p, bool think_prefilled) {
    p->mode = think_prefilled ? M_REASON : M_START;
    p->lead = think_prefilled;
    p->allow_open = think_prefilled;
    p->had_reasoning = think_prefilled;
    p->stray_close = p->unterminated = p->finishing = p->oom = false;
    p->tag_len = 0;
    p->ws.len = 0;
    p->run.len = 0;
    p->run_kind = CS_ANSWER;
}

cs_reasoning *cs_reasoning_new(bool think_prefilled) {
    cs_reasoning *p = cs_calloc(1, sizeof *p);
    if (p) init(p, think_prefilled);
    return p;
}

void cs_reasoning_free(cs_reasoning *p) {
    if (!p) return;
    free(p->ws.s);
    free(p->run.s);
    free(p);
}

void cs_reasoning_reset(cs_reasoning *p, bool think_prefilled) { init(p, think_prefilled); }

int cs_reasoning_feed(cs_reasoning *p, const char *text, size_t len, cs_reasoning_emit_fn emit, void *user) {
    p->emit = emit;
    p->user = user;
    for (size_t i = 0; i < len && !p->oom; i++) process_byte(p, text[i]);
    if (p->oom) {
        cs_set_error("reasoning: out of memory");
        return -1;
    }
    flush_run(p, p->run.len - incomplete_utf8_tail(p->run.s, p->run.len));
    return 0;
}

int cs_reasoning_finish(cs_reasoning *p, cs_reasoning_emit_fn emit, void *user) {
    p->emit = emit;
    p->user = user;
    p->finishing = true;
    if (p->tag_len > 0) { /* an unfinished tag: it was text */
        char held[TAG_MAX];
        int n = p->tag_len;
        memcpy(held, p->tag, (size_t)n);
        p->tag_len = 0;
        for (int i = 0; i < n; i++) text_byte(p, held[i]);
    }
    if (p->mode == M_START) { /* only whitespace came: pass it on */
        out(p, CS_ANSWER, p->ws.s, p->ws.len);
    } else if (p->mode == M_REASON) {
        p->unterminated = true;
    }
    p->ws.len = 0;
    if (p->oom) {
        cs_set_error("reasoning: out of memory");
        return -1;
    }
    flush_run(p, p->run.len);
    return 0;
}

bool cs_reasoning_in_reasoning(const cs_reasoning *p) { return p->mode == M_REASON; }
bool cs_reasoning_unterminated(const cs_reasoning *p) { return p->unterminated; }
bool cs_reasoning_stray_close(const cs_reasoning *p) { return p->stray_close; }
