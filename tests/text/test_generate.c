/* The generator (src/text/generate.c) driven by hand-made logits: stop
 * strings split across tokens never leak, max_tokens and end-of-generation
 * tokens end it, reasoning tokens are counted, cancel works, and a UTF-8
 * character split over tokens arrives whole. */
#include <stdint.h>
#include <unistd.h>

#include "cseek.h"
#include "test.h"

static cs_vocab *vocab;
static int n_vocab;
static float *logits;

typedef struct {
    char text[2][4096];
    size_t len[2];
    int chunks;
} sink;

static void on_text(cs_text_kind kind, const char *text, size_t len, void *user) {
    sink *s = user;
    CHECK(len > 0);
    memcpy(s->text[kind] + s->len[kind], text, len);
    s->len[kind] += len;
    s->text[kind][s->len[kind]] = 0;
    s->chunks++;
}

/* Force the sampler to pick tok (greedy). */
static const float *pick(int32_t tok) {
    for (int i = 0; i < n_vocab; i++) logits[i] = 0;
    logits[tok] = 10;
    return logits;
}

static int tokens_of(const char *text, int32_t *out, int max) {
    int n = cs_tokenize(vocab, text, strlen(text), out, max, false, false);
    CHECKF(n > 0, "cannot tokenize '%s'", text);
    return n;
}

static cs_gen_params greedy(void) {
    cs_gen_params p;
    cs_gen_params_init(&p);
    p.sampling.temperature = 0;
    return p;
}

/* Feed the tokens of text one by one; returns the status after the last. */
static cs_gen_status feed(cs_generator *g, const char *text, sink *s, int *accepted) {
    int32_t toks[512];
    int n = tokens_of(text, toks, 512);
    *accepted = 0;
    for (int i = 0; i < n; i++) {
        int32_t t = cs_generator_step(g, pick(toks[i]), on_text, s);
        if (t < 0) break;
        CHECK(t == toks[i]);
        ++*accepted;
    }
    return cs_generator_status(g);
}

static void stop_string_across_tokens(void) {
    const char *stops[] = {"END", "xyz"};
    cs_gen_params p = greedy();
    p.stop = stops;
    p.n_stop = 2;
    cs_generator *g = cs_generator_new(vocab, n_vocab, &p);
    CHECK(g != NULL);
    sink s = {0};
    int acc;
    /* the byte-level vocabulary splits "ENDING" into several tokens */
    cs_gen_status st = feed(g, "ab E EN ENDING more", &s, &acc);
    CHECK(st == CS_GEN_STOP);
    CHECKF(!strcmp(s.text[CS_ANSWER], "ab E EN "), "got '%s'", s.text[CS_ANSWER]);
    CHECK(s.len[CS_REASONING] == 0);
    /* a step after the end does nothing */
    CHECK(cs_generator_step(g, pick(5), on_text, &s) == -1);
    /* a held partial match is released at the end when it never completes */
    cs_generator_reset(g);
    memset(&s, 0, sizeof s);
    st = feed(g, "the xy", &s, &acc);
    CHECK(st == CS_GEN_RUNNING);
    CHECKF(!strcmp(s.text[CS_ANSWER], "the "), "held: got '%s'", s.text[CS_ANSWER]);
    cs_generator_finish(g, CS_GEN_LENGTH, on_text, &s);
    CHECKF(!strcmp(s.text[CS_ANSWER], "the xy"), "released: got '%s'", s.text[CS_ANSWER]);
    CHECK(cs_generator_status(g) == CS_GEN_LENGTH);
    cs_generator_free(g);
}

static void limits_and_eog(void) {
    cs_gen_params p = greedy();
    p.max_tokens = 3;
    cs_generator *g = cs_generator_new(vocab, n_vocab, &p);
    sink s = {0};
    int acc;
    CHECK(feed(g, "one two three four five six", &s, &acc) == CS_GEN_LENGTH);
    CHECK(acc == 2 && cs_generator_n_tokens(g) == 3); /* the third is emitted, not returned */
    cs_generator_free(g);

    p.max_tokens = 0;
    g = cs_generator_new(vocab, n_vocab, &p);
    memset(&s, 0, sizeof s);
    feed(g, "hi", &s, &acc);
    int32_t eos = cs_vocab_eos(vocab);
    CHECK(eos >= 0);
    CHECK(cs_generator_step(g, pick(eos), on_text, &s) == -1);
    CHECK(cs_generator_status(g) == CS_GEN_STOP);
    CHECKF(!strcmp(s.text[CS_ANSWER], "hi"), "eos must not print: '%s'", s.text[CS_ANSWER]);
    cs_generator_free(g);
}

static void reasoning_counts(void) {
    cs_gen_params p = greedy();
    p.think_prefilled = true;
    cs_generator *g = cs_generator_new(vocab, n_vocab, &p);
    sink s = {0};
    int acc;
    int32_t toks[64];
    int n_think = tokens_of("so we add", toks, 64);
    feed(g, "so we add</think>Four.", &s, &acc);
    cs_generator_finish(g, CS_GEN_STOP, on_text, &s);
    CHECKF(!strcmp(s.text[CS_REASONING], "so we add"), "'%s'", s.text[CS_REASONING]);
    CHECKF(!strcmp(s.text[CS_ANSWER], "Four."), "'%s'", s.text[CS_ANSWER]);
    /* the reasoning tokens and the closing tag */
    CHECKF(cs_generator_n_reasoning_tokens(g) == n_think + 1, "%d vs %d", cs_generator_n_reasoning_tokens(g),
           n_think + 1);
    cs_generator_free(g);

    /* split_reasoning off: the tags are plain answer text */
    p.split_reasoning = false;
    g = cs_generator_new(vocab, n_vocab, &p);
    memset(&s, 0, sizeof s);
    feed(g, "a</think>b", &s, &acc);
    cs_generator_finish(g, CS_GEN_STOP, on_text, &s);
    CHECKF(!strcmp(s.text[CS_ANSWER], "a</think>b") && s.len[CS_REASONING] == 0, "'%s'", s.text[CS_ANSWER]);
    cs_generator_free(g);
}

static void utf8_and_cancel(void) {
    cs_gen_params p = greedy();
    volatile int cancel = 0;
    p.cancel = &cancel;
    cs_generator *g = cs_generator_new(vocab, n_vocab, &p);
    sink s = {0};
    int acc;
    /* "é" and "€" are several byte tokens in this vocabulary */
    feed(g, "caf\xc3\xa9 \xe2\x82\xac", &s, &acc);
    CHECKF(!strcmp(s.text[CS_ANSWER], "caf\xc3\xa9 \xe2\x82\xac"), "'%s'", s.text[CS_ANSWER]);
    cancel = 1;
    CHECK(cs_generator_step(g, pick(5), on_text, &s) == -1);
    CHECK(cs_generator_status(g) == CS_GEN_CANCELLED);
    cs_generator_free(g);

    /* bad parameters */
    const char *empty[] = {""};
    p = greedy();
    p.stop = empty;
    p.n_stop = 1;
    CHECK(cs_generator_new(vocab, n_vocab, &p) == NULL);
    p.n_stop = 0;
    p.sampling.top_p = 7;
    CHECK(cs_generator_new(vocab, n_vocab, &p) == NULL);
}

int main(void) {
    const char *path = t_tmp("vocab.gguf");
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s mkmodel --script 'x' -o %s >/dev/null", t_cseek_bin(), path);
    if (system(cmd) != 0 || !(vocab = cs_vocab_load(path))) {
        fprintf(stderr, "cannot make the test vocabulary\n");
        return 1;
    }
    n_vocab = cs_vocab_n_tokens(vocab);
    logits = malloc((size_t)n_vocab * sizeof *logits);
    RUN(stop_string_across_tokens);
    RUN(limits_and_eog);
    RUN(reasoning_counts);
    RUN(utf8_and_cancel);
    free(logits);
    cs_vocab_free(vocab);
    TEST_END();
}
