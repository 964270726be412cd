/* The byte-level BPE tokenizer: the llama.cpp/Hugging Face reference cases in
 * ../shared/vocab, random round trips, special tokens, streaming decoding,
 * pre-tokenizer names, and the `cseek tokenize` command. */
/* paths are built with snprintf into fixed buffers; truncation only makes a test fail */
#pragma GCC diagnostic ignored "-Wformat-truncation"

#include <dirent.h>
#include <stdint.h>
#include <unistd.h>

#include "base/base.h"
#include "cseek.h"
#include "formats/gguf.h"
#include "test.h"
#include "text/tokenizer.h"

/* ---- helpers ------------------------------------------------------------- */

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) buf[n] = 0;
    if (len) *len = (size_t)n;
    return buf;
}

/* A .inp file holds cases each followed by "\n__ggml_vocab_test__\n"
 * (llama.cpp's test-tokenizer-0 convention): the newline before the marker
 * is not part of the case. Returns the number of cases; starts[i] / lens[i]
 * index into the buffer. */
#define MAX_CASES 256
static int split_cases(const char *buf, size_t len, const char **starts, size_t *lens) {
    static const char sep[] = "\n__ggml_vocab_test__\n";
    const size_t sl = sizeof sep - 1;
    int n = 0;
    size_t pos = 0;
    while (pos < len && n < MAX_CASES) {
        const char *hit = memmem(buf + pos, len - pos, sep, sl);
        size_t end = hit ? (size_t)(hit - buf) : len;
        /* a case may be empty: then the marker directly follows the previous one,
         * whose trailing "\n" is also the case's would-be separator start */
        starts[n] = buf + pos;
        lens[n] = end - pos;
        n++;
        if (!hit) break;
        pos = end + sl;
    }
    return n;
}

/* Parse one line of space-separated ids. */
static int parse_ids(const char *line, int32_t *ids, int max) {
    int n = 0;
    const char *p = line;
    while (*p && *p != '\n') {
        while (*p == ' ') p++;
        if (!*p || *p == '\n') break;
        char *end;
        long v = strtol(p, &end, 10);
        if (end == p) return -1;
        if (n < max) ids[n] = (int32_t)v;
        n++;
        p = end;
    }
    return n;
}

typedef struct {
    char path[1024];
} vocab_file;

static int list_vocabs(vocab_file *out, int max) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/vocab", t_shared_dir());
    DIR *d = opendir(dir);
    if (!d) return 0;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) && n < max) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, "ggml-vocab-", 11) != 0 || l < 5 || strcmp(e->d_name + l - 5, ".gguf") != 0)
            continue;
        snprintf(out[n++].path, sizeof out[0].path, "%s/%s", dir, e->d_name);
    }
    closedir(d);
    /* a stable order */
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && strcmp(out[j - 1].path, out[j].path) > 0; j--) {
            vocab_file t = out[j];
            out[j] = out[j - 1];
            out[j - 1] = t;
        }
    return n;
}

static int tokenize_all(const cs_vocab *v, const char *s, size_t n, int32_t **ids, bool bos, bool special) {
    int cap = (int)n + 2;
    *ids = malloc((size_t)cap * sizeof **ids);
    return cs_tokenize(v, s, n, *ids, cap, bos, special);
}

static char *detok_all(const cs_vocab *v, const int32_t *ids, int n, int *len, bool special) {
    int need = cs_detokenize(v, ids, n, NULL, 0, special);
    if (need == CS_TOKENIZE_ERROR) return NULL;
    if (need < 0) need = -need;
    char *buf = malloc((size_t)need + 1);
    *len = cs_detokenize(v, ids, n, buf, need, special);
    return buf;
}

static void show_ids(const char *what, const int32_t *ids, int n) {
    fprintf(stderr, "    %s:", what);
    for (int i = 0; i < n && i < 60; i++) fprintf(stderr, " %d", (int)ids[i]);
    fprintf(stderr, n > 60 ? " ...\n" : "\n");
}

/* ---- the reference cases --------------------------------------------------- */

static void test_vocab_files(void) {
    vocab_file files[32];
    int nf = list_vocabs(files, 32);
    CHECKF(nf > 0, "no ggml-vocab-*.gguf in %s/vocab", t_shared_dir());
    for (int f = 0; f < nf; f++) {
        char p[1100];
        size_t inl, outl;
        snprintf(p, sizeof p, "%s.inp", files[f].path);
        char *inp = slurp(p, &inl);
        snprintf(p, sizeof p, "%s.out", files[f].path);
        char *out = slurp(p, &outl);
        CHECKF(inp && out, "%s: no .inp/.out", files[f].path);
        cs_vocab *v = cs_vocab_load(files[f].path);
        CHECKF(v, "%s: %s", files[f].path, cs_last_error());
        if (!inp || !out || !v) {
            free(inp);
            free(out);
            cs_vocab_free(v);
            continue;
        }
        const char *starts[MAX_CASES];
        size_t lens[MAX_CASES];
        int nc = split_cases(inp, inl, starts, lens);
        /* one .out line per case */
        int nl = 0;
        for (size_t i = 0; i < outl; i++) nl += out[i] == '\n';
        CHECKF(nc == nl, "%s: %d cases but %d expected lines", files[f].path, nc, nl);
        const char *line = out;
        int bad = 0;
        for (int c = 0; c < nc && line && *line; c++) {
            int32_t want[4096];
            int nw = parse_ids(line, want, 4096);
            int32_t *got;
            int ng = tokenize_all(v, starts[c], lens[c], &got, false, false);
            bool same = ng == nw;
            for (int i = 0; same && i < ng; i++) same = got[i] == want[i];
            if (!same) {
                CHECKF(same, "%s case %d (%zu bytes \"%.*s\")", files[f].path, c, lens[c],
                       (int)CS_MIN(lens[c], 60), starts[c]);
                show_ids("want", want, nw);
                show_ids("got ", got, ng);
                bad++;
            }
            if (ng >= 0) {
                int dl;
                char *back = detok_all(v, got, ng, &dl, false);
                CHECKF(back && (size_t)dl == lens[c] && !memcmp(back, starts[c], lens[c]),
                       "%s case %d does not decode back", files[f].path, c);
                free(back);
            }
            free(got);
            line = strchr(line, '\n');
            if (line) line++;
        }
        printf("  %s: %d cases, %d wrong\n", strrchr(files[f].path, '/') + 1, nc, bad);
        free(inp);
        free(out);
        cs_vocab_free(v);
    }
}

/* ---- random round trips ------------------------------------------------------ */

static uint64_t rng_state;
static uint64_t rng(void) {
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static size_t put_cp(char *o, uint32_t cp) { return cs_utf8_encode(cp, o); }

/* Random valid UTF-8: words, accents, CJK, emoji, whitespace runs, digits,
 * punctuation, Cyrillic, combining marks. */
static size_t random_text(char *o, size_t max) {
    static const char *const words[] = {"the", "Hello", "world", "I'm", "you'll", "DON'T", "tokenizer",
                                        "int", "main", "return", "x", "café", "naïve", "Führer"};
    static const uint32_t accents[] = {0xE9, 0xE8, 0xFC, 0xF6, 0xF1, 0xDF, 0xE7, 0xC5, 0x151, 0x17E, 0x1EBF};
    static const char punct[] = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~";
    size_t n = 0;
    while (n + 64 < max) {
        int kind = (int)(rng() % 12);
        int reps = 1 + (int)(rng() % 4);
        for (int r = 0; r < reps && n + 64 < max; r++) {
            switch (kind) {
            case 0: case 1: {
                const char *w = words[rng() % CS_ARRAY_LEN(words)];
                size_t l = strlen(w);
                memcpy(o + n, w, l);
                n += l;
                break;
            }
            case 2: n += put_cp(o + n, accents[rng() % CS_ARRAY_LEN(accents)]); break;
            case 3: n += put_cp(o + n, 0x4E00 + (uint32_t)(rng() % 0x51A5)); break;      /* CJK */
            case 4: n += put_cp(o + n, 0x1F600 + (uint32_t)(rng() % 0x50)); break;       /* emoji */
            case 5: o[n++] = " \t\n\r "[rng() % 5]; break;                                /* whitespace */
            case 6: o[n++] = (char)('0' + rng() % 10); break;
            case 7: o[n++] = punct[rng() % (sizeof punct - 1)]; break;
            case 8: n += put_cp(o + n, 0x430 + (uint32_t)(rng() % 32)); break;           /* Cyrillic */
            case 9: n += put_cp(o + n, 0x300 + (uint32_t)(rng() % 0x20)); break;         /* combining */
            case 10: n += put_cp(o + n, 0x3040 + (uint32_t)(rng() % 0xC0)); break;       /* kana */
            default: o[n++] = ' '; break;
            }
        }
    }
    return n;
}

static void test_random_roundtrip(void) {
    vocab_file files[32];
    int nf = list_vocabs(files, 32);
    rng_state = 12345;
    char buf[4096];
    for (int f = 0; f < nf; f++) {
        cs_vocab *v = cs_vocab_load(files[f].path);
        CHECKF(v, "%s: %s", files[f].path, cs_last_error());
        if (!v) continue;
        int fails = 0;
        for (int it = 0; it < 300 && fails < 3; it++) {
            size_t n = random_text(buf, 64 + rng() % (sizeof buf - 64));
            int32_t *ids;
            int k = tokenize_all(v, buf, n, &ids, false, false);
            CHECKF(k >= 0, "tokenize failed: %s", cs_last_error());
            for (int i = 0; i < k; i++) {
                cs_token_type t = cs_vocab_token_type(v, ids[i]);
                CHECKF(t != CS_TOKEN_CONTROL, "ordinary text gave a control token %d", (int)ids[i]);
            }
            int dl;
            char *back = detok_all(v, ids, k, &dl, false);
            bool ok = back && (size_t)dl == n && !memcmp(back, buf, n);
            if (!ok) {
                fails++;
                CHECKF(ok, "%s: round trip %d differs (%zu bytes -> %d)", files[f].path, it, n, dl);
            }
            free(back);
            free(ids);
        }
        /* Arbitrary bytes round-trip when the vocabulary has all 256 byte tokens. */
        bool all_bytes = true;
        for (int b = 0; b < 256; b++) {
            char m[2];
            uint8_t byte = (uint8_t)b;
            size_t ml = cs_bytes_to_mapped(&byte, 1, m);
            int32_t id = cs_vocab_find(v, m, ml);
            all_bytes = all_bytes && id >= 0 && cs_vocab_token_type(v, id) == CS_TOKEN_NORMAL;
        }
        for (int it = 0; it < 100; it++) {
            size_t n = 1 + rng() % 200;
            for (size_t i = 0; i < n; i++) buf[i] = (char)rng();
            int32_t *ids;
            int k = tokenize_all(v, buf, n, &ids, false, false);
            CHECKF(k >= 0, "tokenize of random bytes failed: %s", cs_last_error());
            if (all_bytes && k >= 0) {
                int dl;
                char *back = detok_all(v, ids, k, &dl, false);
                CHECKF(back && (size_t)dl == n && !memcmp(back, buf, n), "%s: random bytes %d differ",
                       files[f].path, it);
                free(back);
            }
            free(ids);
        }
        cs_vocab_free(v);
    }
}

/* ---- a small vocabulary built in memory ----------------------------------------- */

/* 256 byte tokens (byte-level text), then extra tokens; merges as given. */
typedef struct {
    const char *text;
    int32_t type;
} extra_tok;

static cs_vocab *small_vocab(const char *pre, const extra_tok *extra, int n_extra, const char *const *merges,
                             int n_merges) {
    static char store[256][3];
    const char *toks[512];
    int32_t types[512];
    int n = 0;
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        size_t l = cs_bytes_to_mapped(&byte, 1, store[b]);
        store[b][l] = 0;
        toks[n] = store[b];
        types[n++] = CS_TT_NORMAL;
    }
    for (int i = 0; i < n_extra; i++) {
        toks[n] = extra[i].text;
        types[n++] = extra[i].type;
    }
    cs_vocab_spec s;
    cs_vocab_spec_init(&s);
    s.pre = pre;
    s.n_tokens = n;
    s.tokens = toks;
    s.types = types;
    s.n_merges = n_merges;
    s.merges = merges;
    s.bos = 256; /* the first extra token */
    s.eos = 257;
    return cs_vocab_build(&s);
}

static const extra_tok k_extra[] = {
    {"<s>", CS_TT_CONTROL},          /* 256 */
    {"</s>", CS_TT_CONTROL},         /* 257 */
    {"<think>", CS_TT_USER_DEFINED}, /* 258 */
    {"</think>", CS_TT_USER_DEFINED},/* 259 */
    {"ab", CS_TT_NORMAL},            /* 260 */
    {"abc", CS_TT_USER_DEFINED},     /* 261: matched in text before BPE sees "ab" */
    {"ef", CS_TT_CONTROL},           /* 262: only reachable as a control token */
    {"\xc4\xa0" "a", CS_TT_NORMAL},  /* 263: " a" */
    {"<|im_end|>", CS_TT_CONTROL},   /* 264: an end-of-generation marker by its text */
};
static const char *const k_merges[] = {"a b", "e f", "\xc4\xa0 a", "< s"};

static int enc(const cs_vocab *v, const char *s, int32_t *ids, bool special) {
    return cs_tokenize(v, s, strlen(s), ids, 64, false, special);
}

static bool ids_eq(const int32_t *a, int na, const int32_t *b, int nb) {
    if (na != nb) return false;
    for (int i = 0; i < na; i++)
        if (a[i] != b[i]) return false;
    return true;
}

#define CHECK_IDS(got, ng, ...)                                                   \
    do {                                                                          \
        const int32_t want_[] = {__VA_ARGS__};                                    \
        int nw_ = (int)CS_ARRAY_LEN(want_);                                       \
        CHECKF(ids_eq(got, ng, want_, nw_), "wrong ids (%d tokens)", ng);         \
        if (!ids_eq(got, ng, want_, nw_)) {                                       \
            show_ids("want", want_, nw_);                                         \
            show_ids("got ", got, ng);                                            \
        }                                                                         \
    } while (0)

static void test_special_tokens(void) {
    cs_vocab *v = small_vocab("gpt-2", k_extra, (int)CS_ARRAY_LEN(k_extra), k_merges, 4);
    CHECKF(v, "%s", cs_last_error());
    if (!v) return;
    int32_t ids[64];
    int n;
    /* USER_DEFINED: always cut out of the text */
    n = enc(v, "a<think>b", ids, false);
    CHECK_IDS(ids, n, 'a', 258, 'b');
    n = enc(v, "<think></think>", ids, true);
    CHECK_IDS(ids, n, 258, 259);
    /* CONTROL: only with special; without, the text is ordinary ("< s" merges
     * only to text, which is not a token) */
    n = enc(v, "<s>x", ids, false);
    CHECK_IDS(ids, n, '<', 's', '>', 'x');
    n = enc(v, "<s>x", ids, true);
    CHECK_IDS(ids, n, 256, 'x');
    /* merging never produces a special token: "e f" names the control "ef" */
    n = enc(v, "ef", ids, false);
    CHECK_IDS(ids, n, 'e', 'f');
    n = enc(v, "ef", ids, true);
    CHECK_IDS(ids, n, 262);
    /* ordinary merges work; the longest special token wins at a position */
    n = enc(v, "ab", ids, false);
    CHECK_IDS(ids, n, 260);
    n = enc(v, "abcab", ids, false);
    CHECK_IDS(ids, n, 261, 260);
    /* " ab" is one pre-token; "a b" (rank 0) merges before "\u0120 a" (rank 2) */
    n = enc(v, " ab", ids, false);
    CHECK_IDS(ids, n, ' ', 260);
    n = enc(v, " ac", ids, false);
    CHECK_IDS(ids, n, 263, 'c');
    /* BOS */
    n = cs_tokenize(v, "a", 1, ids, 64, true, false);
    CHECK_IDS(ids, n, 256, 'a');
    /* decoding: control tokens only with special, user-defined always */
    char buf[64];
    CHECK(cs_token_to_piece(v, 256, buf, 64, false) == 0);
    CHECK(cs_token_to_piece(v, 256, buf, 64, true) == 3 && !memcmp(buf, "<s>", 3));
    CHECK(cs_token_to_piece(v, 258, buf, 64, false) == 7 && !memcmp(buf, "<think>", 7));
    CHECK(cs_token_to_piece(v, 'a', buf, 64, false) == 1 && buf[0] == 'a');
    CHECK(cs_token_to_piece(v, ' ', buf, 64, false) == 1 && buf[0] == ' ');
    CHECK(cs_token_to_piece(v, 263, buf, 1, false) == -2);
    CHECK(cs_token_to_piece(v, 9999, buf, 64, false) == CS_TOKENIZE_ERROR);
    const int32_t seq[] = {256, 'a', 258, 259, 257};
    int dl = cs_detokenize(v, seq, 5, buf, 64, false);
    CHECK(dl == 16 && !memcmp(buf, "a<think></think>", 16));
    dl = cs_detokenize(v, seq, 5, buf, 64, true);
    CHECK(dl == 23 && !memcmp(buf, "<s>a<think></think></s>", 23));
    CHECK(cs_detokenize(v, seq, 5, buf, 4, true) == -23);
    /* queries */
    CHECK(cs_vocab_n_tokens(v) == 256 + (int)CS_ARRAY_LEN(k_extra));
    CHECK(cs_vocab_bos(v) == 256 && cs_vocab_eos(v) == 257 && cs_vocab_eot(v) == -1);
    CHECK(cs_vocab_is_eog(v, 257) && cs_vocab_is_eog(v, 264) && !cs_vocab_is_eog(v, 256));
    CHECK(!cs_vocab_is_eog(v, -1) && !cs_vocab_is_eog(v, 100000));
    CHECK(cs_vocab_token_type(v, 258) == CS_TOKEN_USER_DEFINED);
    CHECK(cs_vocab_token_type(v, 256) == CS_TOKEN_CONTROL);
    CHECK(cs_vocab_token_type(v, -3) == CS_TOKEN_INVALID);
    CHECK(cs_vocab_find(v, "<think>", 7) == 258 && cs_vocab_find(v, "<nope>", 6) == -1);
    CHECK(!strcmp(cs_vocab_pre(v), "gpt-2"));
    /* too small an output buffer: the count needed, negated */
    n = cs_tokenize(v, "xyz", 3, ids, 2, false, false);
    CHECK(n == -3 && ids[0] == 'x' && ids[1] == 'y');
    CHECK(cs_tokenize(v, "", 0, ids, 0, false, false) == 0);
    cs_vocab_free(v);
}

static void test_streaming_decode(void) {
    cs_vocab *v = small_vocab("gpt-2", k_extra, (int)CS_ARRAY_LEN(k_extra), k_merges, 4);
    if (!v) return;
    cs_detok *d = cs_detok_new(v, false);
    size_t n;
    const char *s;
    /* "é" = C3 A9 in two byte tokens */
    s = cs_detok_push(d, 0xC3, &n);
    CHECK(s && n == 0);
    s = cs_detok_push(d, 0xA9, &n);
    CHECK(s && n == 2 && !memcmp(s, "\xc3\xa9", 2));
    /* an emoji in four pieces, with an ASCII token before it */
    s = cs_detok_push(d, 'x', &n);
    CHECK(n == 1 && s[0] == 'x');
    const uint8_t emoji[4] = {0xF0, 0x9F, 0x98, 0x80};
    for (int i = 0; i < 3; i++) {
        s = cs_detok_push(d, emoji[i], &n);
        CHECK(n == 0);
    }
    s = cs_detok_push(d, emoji[3], &n);
    CHECK(n == 4 && !memcmp(s, emoji, 4));
    /* control tokens print nothing here; user-defined do */
    s = cs_detok_push(d, 256, &n);
    CHECK(n == 0);
    s = cs_detok_push(d, 258, &n);
    CHECK(n == 7 && !strcmp(s, "<think>"));
    /* a dangling partial sequence becomes U+FFFD at the end */
    s = cs_detok_push(d, 0xE4, &n);
    CHECK(n == 0);
    s = cs_detok_flush(d, &n);
    CHECK(n == 3 && !memcmp(s, "\xef\xbf\xbd", 3));
    s = cs_detok_flush(d, &n);
    CHECK(n == 0);
    /* an invalid byte, and a sequence broken off by a new character */
    s = cs_detok_push(d, 0xFF, &n);
    CHECK(n == 3 && !memcmp(s, "\xef\xbf\xbd", 3));
    s = cs_detok_push(d, 0xE4, &n);
    CHECK(n == 0);
    s = cs_detok_push(d, 'a', &n);
    CHECK(n == 4 && !memcmp(s, "\xef\xbf\xbd" "a", 4));
    CHECK(cs_detok_push(d, -1, &n) == NULL);
    cs_detok_free(d);
    cs_detok *ds = cs_detok_new(v, true);
    s = cs_detok_push(ds, 256, &n);
    CHECK(n == 3 && !strcmp(s, "<s>"));
    cs_detok_free(ds);
    cs_vocab_free(v);
}

/* Collects pre-tokens joined with '|'. */
typedef struct {
    char buf[512];
    size_t n;
} joined;
static int join_emit(const uint8_t *b, size_t n, void *user) {
    joined *j = user;
    if (j->n) j->buf[j->n++] = '|';
    memcpy(j->buf + j->n, b, n);
    j->n += n;
    j->buf[j->n] = 0;
    return 0;
}

static void check_split(const char *pre, const char *text, const char *want) {
    cs_pretok *p = cs_pretok_new(pre);
    CHECKF(p, "%s: %s", pre, cs_last_error());
    if (!p) return;
    cs_pretok_work *w = cs_pretok_work_new(p);
    joined j = {{0}, 0};
    int r = cs_pretok_split(p, w, text, strlen(text), join_emit, &j);
    CHECKF(r == 0 && !strcmp(j.buf, want), "%s: \"%s\" -> \"%s\", want \"%s\"", pre, text, j.buf, want);
    cs_pretok_work_free(w);
    cs_pretok_free(p);
}

static void test_pretokenizers(void) {
    const char *names[] = {"deepseek-llm", "deepseek-v3", "deepseek-coder", "qwen2",   "deepseek-r1-qwen",
                           "llama-bpe",    "llama3",      "llama-v3",       "gpt-2",   "falcon",
                           "starcoder",    "default"};
    for (size_t i = 0; i < CS_ARRAY_LEN(names); i++) {
        cs_pretok *p = cs_pretok_new(names[i]);
        CHECKF(p, "%s: %s", names[i], cs_last_error());
        cs_pretok_free(p);
    }
    check_split("gpt-2", "Hello world  !", "Hello| world| | !");
    check_split("gpt-2", "I'm 12 ok\n\n", "I|'m| 12| ok|\n\n");
    check_split("llama3", "I'VE 12345 ok", "I|'VE| |123|45| ok");
    check_split("qwen2", "abc 123", "abc| |1|2|3");
    /* qwen2 normalizes to NFC: e + combining acute becomes é */
    check_split("qwen2", "e\xcc\x81t\xc3\xa9", "\xc3\xa9t\xc3\xa9");
    check_split("deepseek-v3", "1234567 abc,def", "123|456|7| abc|,def");
    check_split("deepseek-v3", "\xe4\xbd\xa0\xe5\xa5\xbd world", "\xe4\xbd\xa0\xe5\xa5\xbd| world");
    check_split("deepseek-llm", "ied 4 \xc2\xbd months", "ied| |4| |\xc2\xbd| months");
    check_split("deepseek-llm", "a  \nb", "a|  |\n|b");
    /* U+212A KELVIN SIGN is a deepseek-llm letter (it must not be read as K-...) */
    check_split("deepseek-llm", "\xe2\x84\xaa" "1", "\xe2\x84\xaa|1");
    check_split("deepseek-coder", "foo(12)", "foo|(|1|2|)");
    check_split("starcoder", "x 12", "x| |1|2");
    /* falcon: Digits and [0-9]{3} run after ByteLevel */
    check_split("falcon", "a 12345", "a| |123|45");
    /* ... so a byte whose mapped character is numeric splits too: "м" is D0 BC,
     * shown as "Ð¼"; "²" is C2 B2, shown as "Â²" (Hugging Face does the same) */
    check_split("falcon", "\xd0\xbc x\xc2\xb2y", "\xd0|\xbc| x|\xc2|\xb2|y");
    check_split("default", "x=1234", "x|=|123|4");
}

static void test_pre_names(void) {
    cs_vocab *v = small_vocab("no-such-pre", k_extra, (int)CS_ARRAY_LEN(k_extra), k_merges, 4);
    CHECK(v == NULL);
    CHECKF(strstr(cs_last_error(), "no-such-pre") != NULL, "error: %s", cs_last_error());
    /* missing: "default" with a warning on stderr */
    fflush(stderr);
    int saved = dup(2);
    FILE *tmp = tmpfile();
    dup2(fileno(tmp), 2);
    v = small_vocab(NULL, k_extra, (int)CS_ARRAY_LEN(k_extra), k_merges, 4);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char msg[512] = {0};
    rewind(tmp);
    size_t got = fread(msg, 1, sizeof msg - 1, tmp);
    fclose(tmp);
    CHECK(v != NULL);
    CHECKF(got > 0 && strstr(msg, "warning") && strstr(msg, "pre-tokenizer"), "stderr was \"%s\"", msg);
    if (v) CHECK(!strcmp(cs_vocab_pre(v), "default"));
    cs_vocab_free(v);
    /* only byte-level BPE */
    cs_vocab_spec s;
    cs_vocab_spec_init(&s);
    const char *toks[] = {"a"};
    s.model = "llama";
    s.pre = "gpt-2";
    s.n_tokens = 1;
    s.tokens = toks;
    CHECK(cs_vocab_build(&s) == NULL);
    CHECKF(strstr(cs_last_error(), "llama") != NULL, "error: %s", cs_last_error());
}

/* The GGUF path: a vocabulary-only file written with the GGUF writer. */
static void test_gguf_vocab(void) {
    char path[] = "/tmp/cseek_test_vocab_XXXXXX";
    int fd = mkstemp(path);
    CHECK(fd >= 0);
    if (fd < 0) return;
    close(fd);
    static char store[256][3];
    const char *toks[260];
    int32_t types[260];
    for (int b = 0; b < 256; b++) {
        uint8_t byte = (uint8_t)b;
        size_t l = cs_bytes_to_mapped(&byte, 1, store[b]);
        store[b][l] = 0;
        toks[b] = store[b];
        types[b] = CS_TT_NORMAL;
    }
    toks[256] = "<bos>";
    types[256] = CS_TT_CONTROL;
    toks[257] = "hi";
    types[257] = CS_TT_NORMAL;
    toks[258] = "<think>";
    types[258] = CS_TT_USER_DEFINED;
    const char *merges[] = {"h i"};
    gguf_writer *w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    gguf_writer_set_str(w, "tokenizer.ggml.model", "gpt2");
    gguf_writer_set_str(w, "tokenizer.ggml.pre", "llama-bpe");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 259);
    gguf_writer_set_arr(w, "tokenizer.ggml.token_type", GGUF_TYPE_INT32, types, 259);
    gguf_writer_set_arr_str(w, "tokenizer.ggml.merges", merges, 1);
    gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 256);
    gguf_writer_set_bool(w, "tokenizer.ggml.add_bos_token", true);
    CHECK(gguf_writer_begin(w, path) == 0);
    CHECK(gguf_writer_finish(w) == 0);
    gguf_writer_free(w);
    cs_vocab *v = cs_vocab_load(path);
    CHECKF(v, "%s", cs_last_error());
    if (v) {
        int32_t ids[16];
        int n = cs_tokenize(v, "hi<think>", 9, ids, 16, cs_vocab_add_bos(v), false);
        CHECK_IDS(ids, n, 256, 257, 258);
        CHECK(cs_vocab_add_bos(v) && !cs_vocab_add_eos(v) && cs_vocab_eos(v) == -1);
        CHECK(!strcmp(cs_vocab_pre(v), "llama-bpe"));
        cs_vocab_free(v);
    }
    /* not a byte-level vocabulary */
    w = gguf_writer_new();
    gguf_writer_set_str(w, "tokenizer.ggml.model", "llama");
    gguf_writer_set_arr_str(w, "tokenizer.ggml.tokens", toks, 3);
    CHECK(gguf_writer_begin(w, path) == 0 && gguf_writer_finish(w) == 0);
    gguf_writer_free(w);
    v = cs_vocab_load(path);
    CHECK(v == NULL);
    CHECKF(strstr(cs_last_error(), "gpt2") != NULL, "error: %s", cs_last_error());
    /* no vocabulary at all */
    w = gguf_writer_new();
    gguf_writer_set_str(w, "general.architecture", "llama");
    CHECK(gguf_writer_begin(w, path) == 0 && gguf_writer_finish(w) == 0);
    gguf_writer_free(w);
    v = cs_vocab_load(path);
    CHECK(v == NULL);
    CHECKF(strstr(cs_last_error(), "tokenizer.ggml.model") != NULL, "error: %s", cs_last_error());
    unlink(path);
}

/* ---- the command --------------------------------------------------------------- */

static void test_cli(void) {
    vocab_file files[32];
    int nf = list_vocabs(files, 32);
    if (access(t_cseek_bin(), X_OK) != 0) {
        CHECKF(0, "%s is not built", t_cseek_bin());
        return;
    }
    for (int f = 0; f < nf; f++) {
        char p[1100];
        size_t inl, outl;
        snprintf(p, sizeof p, "%s.inp", files[f].path);
        char *inp = slurp(p, &inl);
        snprintf(p, sizeof p, "%s.out", files[f].path);
        char *out = slurp(p, &outl);
        if (!inp || !out) {
            free(inp);
            free(out);
            continue;
        }
        const char *starts[MAX_CASES];
        size_t lens[MAX_CASES];
        int nc = split_cases(inp, inl, starts, lens);
        const char *line = out;
        char tmp[] = "/tmp/cseek_test_tok_XXXXXX";
        int fd = mkstemp(tmp);
        /* a handful of cases, the long last one included */
        for (int c = 0; c < nc && line; c++) {
            bool pick = c < 3 || c == 9 || c == 22 || c == nc - 1;
            if (pick && fd >= 0) {
                CHECK(ftruncate(fd, 0) == 0 && pwrite(fd, starts[c], lens[c], 0) == (ssize_t)lens[c]);
                char cmd[2400];
                snprintf(cmd, sizeof cmd, "%s tokenize -m '%s' --no-bos < %s", t_cseek_bin(), files[f].path, tmp);
                FILE *pp = popen(cmd, "r");
                char got[65536] = {0};
                size_t gl = pp ? fread(got, 1, sizeof got - 1, pp) : 0;
                int rc = pp ? pclose(pp) : -1;
                got[gl] = 0;
                /* the .out line has a leading space per id; compare the numbers */
                int32_t want[4096], have[4096];
                int nw = parse_ids(line, want, 4096), nh = parse_ids(got, have, 4096);
                CHECKF(rc == 0 && ids_eq(want, nw, have, nh), "%s case %d: cseek printed \"%.80s\"",
                       files[f].path, c, got);
            }
            line = strchr(line, '\n');
            if (line) line++;
        }
        if (fd >= 0) {
            close(fd);
            unlink(tmp);
        }
        free(inp);
        free(out);
    }
    /* errors: one line "cseek: FILE: what is wrong" */
    char cmd[512];
    snprintf(cmd, sizeof cmd, "%s tokenize -m /nonexistent/vocab.gguf < /dev/null 2>&1", t_cseek_bin());
    FILE *pp = popen(cmd, "r");
    char got[1024] = {0};
    size_t gl = pp ? fread(got, 1, sizeof got - 1, pp) : 0;
    int rc = pp ? pclose(pp) : 0;
    got[gl] = 0;
    CHECKF(rc != 0 && !strncmp(got, "cseek: /nonexistent/vocab.gguf: ", 32) && strchr(got, '\n') == got + gl - 1,
           "got \"%s\"", got);
    /* --pieces and BOS default (deepseek-llm: add_bos_token = true) */
    for (int f = 0; f < nf; f++) {
        if (!strstr(files[f].path, "deepseek-llm")) continue;
        snprintf(cmd, sizeof cmd, "printf 'Hello world' | %s tokenize -m '%s'", t_cseek_bin(), files[f].path);
        pp = popen(cmd, "r");
        gl = pp ? fread(got, 1, sizeof got - 1, pp) : 0;
        if (pp) pclose(pp);
        got[gl] = 0;
        CHECKF(!strcmp(got, "100000 17464 1843\n"), "got \"%s\"", got);
        snprintf(cmd, sizeof cmd, "printf 'Hello world' | %s tokenize -m '%s' --pieces --no-bos", t_cseek_bin(),
                 files[f].path);
        pp = popen(cmd, "r");
        gl = pp ? fread(got, 1, sizeof got - 1, pp) : 0;
        if (pp) pclose(pp);
        got[gl] = 0;
        CHECKF(!strcmp(got, "17464\tHello\n1843\t world\n"), "got \"%s\"", got);
    }
}

int main(void) {
    RUN(test_vocab_files);
    RUN(test_random_roundtrip);
    RUN(test_special_tokens);
    RUN(test_streaming_decode);
    RUN(test_pretokenizers);
    RUN(test_pre_names);
    RUN(test_gguf_vocab);
    RUN(test_cli);
    TEST_END();
}
