/* Reasoning split: every chunking of the output gives the same two streams;
 * tags never leak; the odd cases (no close, no open, look-alikes, nothing). */
#include "cseek.h"
#include "test.h"

#include <stdbool.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

typedef struct {
    char reasoning[4096], answer[4096];
    size_t nr, na;
    int calls;
    bool bad_chunk;   /* empty, or ending inside a UTF-8 sequence */
    bool kinds_ok;    /* only CS_REASONING / CS_ANSWER */
    bool answer_seen; /* reasoning after answer would be a bug */
    bool order_bad;
} sink;

static bool ends_mid_utf8(const char *s, size_t n) {
    for (size_t back = 1; back <= 4 && back <= n; back++) {
        unsigned char c = (unsigned char)s[n - back];
        if ((c & 0xC0) == 0x80) continue;
        size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 1;
        return back < need;
    }
    return false;
}

static void collect(cs_text_kind kind, const char *text, size_t len, void *user) {
    sink *k = user;
    k->calls++;
    if (len == 0 || ends_mid_utf8(text, len)) k->bad_chunk = true;
    if (kind != CS_REASONING && kind != CS_ANSWER) k->kinds_ok = false;
    if (kind == CS_ANSWER) k->answer_seen = true;
    else if (k->answer_seen) k->order_bad = true;
    char *dst = kind == CS_REASONING ? k->reasoning : k->answer;
    size_t *n = kind == CS_REASONING ? &k->nr : &k->na;
    if (*n + len < sizeof k->reasoning) {
        memcpy(dst + *n, text, len);
        *n += len;
        dst[*n] = 0;
    }
}

typedef struct {
    bool unterminated, stray;
} flags;

/* Feed `text` cut at the given positions (sorted, within the text). */
static void run_cuts(const char *text, bool prefilled, const size_t *cuts, int ncuts, sink *k, flags *f) {
    memset(k, 0, sizeof *k);
    k->kinds_ok = true;
    cs_reasoning *p = cs_reasoning_new(prefilled);
    size_t len = strlen(text), at = 0;
    for (int i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        CHECK(cs_reasoning_feed(p, text + at, end - at, collect, k) == 0);
        at = end;
    }
    CHECK(cs_reasoning_finish(p, collect, k) == 0);
    f->unterminated = cs_reasoning_unterminated(p);
    f->stray = cs_reasoning_stray_close(p);
    cs_reasoning_free(p);
}

static int n_cases_checked;

/* All of: in one piece, byte by byte, cut once at every position, cut
 * twice at every pair of positions. */
static void check_split(const char *text, bool prefilled, const char *want_r, const char *want_a, bool want_unterm,
                        bool want_stray) {
    size_t len = strlen(text);
    sink k;
    flags f;
    size_t cuts[4096];
    int fails = 0;
#define COMPARE(desc)                                                                                         \
    do {                                                                                                      \
        n_cases_checked++;                                                                                    \
        bool ok = strcmp(k.reasoning, want_r) == 0 && strcmp(k.answer, want_a) == 0 &&                        \
                  f.unterminated == want_unterm && f.stray == want_stray && !k.bad_chunk && k.kinds_ok &&     \
                  !k.order_bad;                                                                               \
        if (!ok && fails++ < 3)                                                                               \
            CHECKF(ok, "%s on [%s]: reasoning [%s] answer [%s] unterminated %d stray %d bad_chunk %d order %d", \
                   desc, text, k.reasoning, k.answer, f.unterminated, f.stray, k.bad_chunk, k.order_bad);      \
    } while (0)

    run_cuts(text, prefilled, NULL, 0, &k, &f);
    COMPARE("whole");
    for (size_t i = 0; i + 1 < len && i < ARRAY_LEN(cuts); i++) cuts[i] = i + 1;
    run_cuts(text, prefilled, cuts, len > 1 ? (int)(len - 1) : 0, &k, &f);
    COMPARE("byte by byte");
    for (size_t i = 0; i <= len; i++) {
        cuts[0] = i;
        run_cuts(text, prefilled, cuts, 1, &k, &f);
        COMPARE("one cut");
        for (size_t j = i; j <= len; j++) {
            cuts[1] = j;
            run_cuts(text, prefilled, cuts, 2, &k, &f);
            COMPARE("two cuts");
        }
    }
#undef COMPARE
    CHECKF(fails == 0, "%d chunkings failed", fails);
}

static void test_prefilled_r1(void) {
    /* R1 after "<｜Assistant｜><think>\n": reasoning, "\n</think>\n\n", answer */
    check_split("Okay, the user asks 2+2.\nThat is 4.\n</think>\n\nThe answer is **4**.", true,
                "Okay, the user asks 2+2.\nThat is 4.", "The answer is **4**.", false, false);
    /* the model repeats "<think>" anyway */
    check_split("<think>\nhmm\n</think>\n\nok", true, "hmm", "ok", false, false);
    /* empty reasoning */
    check_split("\n\n</think>\n\nHi!", true, "", "Hi!", false, false);
    check_split("</think>Hi!", true, "", "Hi!", false, false);
    /* whitespace inside the reasoning and at the end of the answer stays */
    check_split("a\n\n  b \n</think>\n x \n", true, "a\n\n  b", "x \n", false, false);
    /* a second block of tags after the answer started is answer text */
    check_split("r</think>a </think> <think>b", true, "r", "a </think> <think>b", false, false);
}

static void test_open_tag(void) {
    check_split("<think>\nLet me think.\n</think>\n\nAnswer.", false, "Let me think.", "Answer.", false, false);
    check_split(" \n <think>x</think>y", false, "x", "y", false, false);
    /* no reasoning at all: everything is answer, leading whitespace included */
    check_split("Just an answer.", false, "", "Just an answer.", false, false);
    check_split("\n Just an answer.", false, "", "\n Just an answer.", false, false);
    /* "<think>" later than the start is text */
    check_split("Hi <think>x</think>", false, "", "Hi <think>x", false, true);
}

static void test_missing_close(void) {
    check_split("thinking and thinking", true, "thinking and thinking", "", true, false);
    check_split("<think>\nstill going\n", false, "still going", "", true, false);
    /* an unfinished close tag at the end is released as reasoning text */
    check_split("abc </th", true, "abc </th", "", true, false);
    check_split("abc\n<", true, "abc\n<", "", true, false);
}

static void test_missing_open(void) {
    /* without a prefill, a bare "</think>" is dropped and reported */
    check_split("I should say hi.</think>\n\nHi!", false, "", "I should say hi.Hi!", false, true);
    check_split("</think>\n\nHi!", false, "", "Hi!", false, true);
    /* only the first one */
    check_split("a</think>b</think>c", false, "", "ab</think>c", false, true);
}

static void test_look_alikes(void) {
    check_split("a </thin k> b</think>c", true, "a </thin k> b", "c", false, false);
    check_split("<thinking>hi", false, "", "<thinking>hi", false, false);
    check_split("<thinking> x</think>y", true, "<thinking> x", "y", false, false);
    check_split("<<think>>x", false, "", "<<think>>x", false, false);
    check_split("x <</think>y", true, "x <", "y", false, false);
    check_split("x </</think>y", true, "x </", "y", false, false);
    check_split("<think><think>x</think>y", false, "<think>x", "y", false, false);
    check_split("1 < 2 and 3 <= 4 </think> <b>", true, "1 < 2 and 3 <= 4", "<b>", false, false);
    check_split("<", false, "", "<", false, false);
    check_split("<thi", false, "", "<thi", false, false);
    check_split("  <thi", false, "", "  <thi", false, false);
}

static void test_nothing(void) {
    check_split("", false, "", "", false, false);
    check_split("", true, "", "", true, false); /* the prefilled block never closed */
    check_split("   \n", false, "", "   \n", false, false);
    check_split("   \n", true, "", "", true, false);
    check_split("<think>", false, "", "", true, false);
    /* no callbacks at all when there is nothing to say */
    sink k;
    flags f;
    run_cuts("", false, NULL, 0, &k, &f);
    CHECK(k.calls == 0);
}

static void test_utf8(void) {
    check_split("让我想想……2＋2＝4。\n</think>\n\n答案是 **4** ✓ 👍", true, "让我想想……2＋2＝4。", "答案是 **4** ✓ 👍",
                false, false);
    check_split("<think>\nΣ é 中</think>\n\nÅngström 🎉", false, "Σ é 中", "Ångström 🎉", false, false);
    check_split("思考</th", true, "思考</th", "", true, false);
}

static void test_streaming_shape(void) {
    /* chunks come out as the text arrives, not all at the end */
    cs_reasoning *p = cs_reasoning_new(true);
    sink k;
    memset(&k, 0, sizeof k);
    CHECK(cs_reasoning_in_reasoning(p));
    cs_reasoning_feed(p, "step one", 8, collect, &k);
    CHECK(strcmp(k.reasoning, "step one") == 0);
    cs_reasoning_feed(p, " </thi", 6, collect, &k); /* held: maybe a tag */
    CHECK(strcmp(k.reasoning, "step one") == 0);
    cs_reasoning_feed(p, "nk>\n\nDone", 9, collect, &k);
    CHECK(strcmp(k.answer, "Done") == 0);
    CHECK(!cs_reasoning_in_reasoning(p));
    /* a UTF-8 character cut in two waits for its second half */
    cs_reasoning_feed(p, " \xC3", 2, collect, &k);
    CHECK(strcmp(k.answer, "Done ") == 0);
    cs_reasoning_feed(p, "\xA9", 1, collect, &k);
    CHECK(strcmp(k.answer, "Done \xC3\xA9") == 0);
    cs_reasoning_finish(p, collect, &k);
    CHECK(!cs_reasoning_unterminated(p));

    /* reset: a fresh output, this time without a prefill */
    cs_reasoning_reset(p, false);
    memset(&k, 0, sizeof k);
    CHECK(!cs_reasoning_in_reasoning(p));
    cs_reasoning_feed(p, "<think>", 7, collect, &k);
    CHECK(cs_reasoning_in_reasoning(p));
    cs_reasoning_feed(p, "a</think>b", 10, collect, &k);
    cs_reasoning_finish(p, collect, &k);
    CHECK(strcmp(k.reasoning, "a") == 0 && strcmp(k.answer, "b") == 0);
    /* a NULL callback is allowed (the text is dropped) */
    cs_reasoning_reset(p, true);
    CHECK(cs_reasoning_feed(p, "x</think>y", 10, NULL, NULL) == 0);
    CHECK(cs_reasoning_finish(p, NULL, NULL) == 0);
    cs_reasoning_free(p);
    cs_reasoning_free(NULL);
}

int main(void) {
    RUN(test_prefilled_r1);
    RUN(test_open_tag);
    RUN(test_missing_close);
    RUN(test_missing_open);
    RUN(test_look_alikes);
    RUN(test_nothing);
    RUN(test_utf8);
    RUN(test_streaming_shape);
    printf("  (%d chunkings checked)\n", n_cases_checked);
    TEST_END();
}
