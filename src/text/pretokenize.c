/* text/pretokenize: the pre-tokenizers of byte-level BPE vocabularies, one
 * per tokenizer.ggml.pre name, written as the step sequence of the model's
 * Hugging Face tokenizer.json "pre_tokenizer" (and "normalizer"):
 *
 *   Split{Regex, Isolated}  every match becomes a piece of its own and so does
 *                           every stretch between matches;
 *   Digits{individual}      = Split \p{N} (individual) or \p{N}+;
 *   Punctuation{Contiguous} = Split [\p{P} + ASCII punctuation]+;
 *   ByteLevel{use_regex}    = Split by the GPT-2 regex (when use_regex), then
 *                           the byte-to-unicode mapping: steps after it see
 *                           the mapped text (this matters for Falcon).
 *
 * Each Split runs on each piece separately, so lookaheads and `$` stop at the
 * piece's end, as in tokenizers' find_iter over a piece. Regexes run under
 * PCRE2 in UTF mode with Unicode properties (UCP) and JIT. `\s` and `\S` are
 * rewritten to the Unicode White_Space set that Oniguruma (what tokenizers
 * uses) and Rust's char::is_whitespace mean by them; PCRE2's own `\s` differs
 * on U+180E. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "../base/base.h"
#include "tokenizer.h"

/* ---- GPT-2 bytes_to_unicode ----------------------------------------------- */

static bool byte_is_shown_as_itself(uint8_t b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
}

/* Tables, built once. */
static char g_map_utf8[256][2];  /* UTF-8 of the code point shown for byte b: 1 or 2 bytes */
static uint8_t g_map_len[256];
static uint32_t g_map_cp[256];
static int16_t g_unmap[324];     /* code point -> byte, -1 */
static pthread_once_t g_map_once = PTHREAD_ONCE_INIT;

static void map_build(void) {
    uint32_t moved = 0;
    for (int i = 0; i < 324; i++) g_unmap[i] = -1;
    for (unsigned b = 0; b < 256; b++) {
        /* printable Latin-1 bytes show as themselves; the others, in byte
         * order, take U+0100, U+0101, ... */
        uint32_t cp = byte_is_shown_as_itself((uint8_t)b) ? b : 256 + moved++;
        char buf[4];
        size_t n = cs_utf8_encode(cp, buf);
        memcpy(g_map_utf8[b], buf, n);
        g_map_len[b] = (uint8_t)n;
        g_map_cp[b] = cp;
        g_unmap[cp] = (int16_t)b;
    }
}

static void map_init(void) { pthread_once(&g_map_once, map_build); }

uint32_t cs_byte_to_cp(uint8_t b) {
    map_init();
    return g_map_cp[b];
}

int cs_cp_to_byte(uint32_t cp) {
    map_init();
    return cp < 324 ? g_unmap[cp] : -1;
}

size_t cs_bytes_to_mapped(const uint8_t *b, size_t n, char *out) {
    map_init();
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(out + m, g_map_utf8[b[i]], 2);
        m += g_map_len[b[i]];
    }
    return m;
}

/* ---- UTF-8 ------------------------------------------------------------------ */

size_t cs_utf8_encode(uint32_t cp, char *out) {
    unsigned char *o = (unsigned char *)out;
    if (cp < 0x80) {
        o[0] = (unsigned char)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (unsigned char)(0xC0 | (cp >> 6));
        o[1] = (unsigned char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | (cp >> 12));
        o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | (cp >> 18));
    o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
    o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
    o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

int cs_utf8_check(const uint8_t *s, size_t n, size_t *len) {
    uint8_t c = s[0];
    if (c < 0x80) {
        *len = 1;
        return 1;
    }
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c == 0xE0) need = 3, lo = 0xA0;
    else if (c >= 0xE1 && c <= 0xEC) need = 3;
    else if (c == 0xED) need = 3, hi = 0x9F;
    else if (c >= 0xEE && c <= 0xEF) need = 3;
    else if (c == 0xF0) need = 4, lo = 0x90;
    else if (c >= 0xF1 && c <= 0xF3) need = 4;
    else if (c == 0xF4) need = 4, hi = 0x8F;
    else {
        *len = 1;
        return -1;
    }
    for (size_t i = 1; i < need; i++) {
        if (i >= n) {
            *len = i;
            return 0;
        }
        uint8_t a = i == 1 ? lo : 0x80, b = i == 1 ? hi : 0xBF;
        if (s[i] < a || s[i] > b) {
            *len = i;
            return -1;
        }
    }
    *len = need;
    return 1;
}

/* ---- the pre-tokenizers ----------------------------------------------------- */

typedef enum { STEP_SPLIT, STEP_BYTELEVEL } step_kind;

typedef struct {
    step_kind kind;
    const char *re; /* STEP_SPLIT */
} step_def;

#define MAX_STEPS 8

typedef struct {
    const char *names[4]; /* tokenizer.ggml.pre spellings */
    bool ignore_merges;
    bool nfc;
    int n_steps;
    step_def steps[MAX_STEPS];
} pretok_def;

/* GPT-2's ByteLevel regex (tokenizers' byte_level.rs). */
#define RE_GPT2 "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"
#define SPLIT(r) {STEP_SPLIT, r}
#define BYTELEVEL {STEP_BYTELEVEL, NULL}

/* deepseek-llm's letters: the Unicode cased letters (Lu, Ll, Lt), spelled
 * with escapes because several of these code points (U+1F7D, U+1FBE, U+1FD3,
 * U+1FDB, U+2126, U+212A) change under NFC and must not be "tidied". */
#define DS_LLM_LETTERS                                                                        \
    "A-Za-z\\x{b5}\\x{c0}-\\x{d6}\\x{d8}-\\x{f6}\\x{f8}-\\x{1ba}\\x{1bc}-\\x{1bf}"           \
    "\\x{1c4}-\\x{293}\\x{295}-\\x{2af}\\x{370}-\\x{373}\\x{376}\\x{377}\\x{37b}-\\x{37d}"   \
    "\\x{37f}\\x{386}\\x{388}-\\x{38a}\\x{38c}\\x{38e}-\\x{3a1}\\x{3a3}-\\x{3f5}"            \
    "\\x{3f7}-\\x{481}\\x{48a}-\\x{52f}\\x{531}-\\x{556}\\x{10a0}-\\x{10c5}"                 \
    "\\x{13a0}-\\x{13f5}\\x{13f8}-\\x{13fd}\\x{1c90}-\\x{1cba}\\x{1cbd}-\\x{1cbf}"           \
    "\\x{1d00}-\\x{1d2b}\\x{1d6b}-\\x{1d77}\\x{1d79}-\\x{1d9a}\\x{1e00}-\\x{1f15}"           \
    "\\x{1f18}-\\x{1f1d}\\x{1f20}-\\x{1f45}\\x{1f48}-\\x{1f4d}\\x{1f50}-\\x{1f57}\\x{1f59}"  \
    "\\x{1f5b}\\x{1f5d}\\x{1f5f}-\\x{1f7d}\\x{1f80}-\\x{1fb4}\\x{1fb6}-\\x{1fbc}\\x{1fbe}"  \
    "\\x{1fc2}-\\x{1fc4}\\x{1fc6}-\\x{1fcc}\\x{1fd0}-\\x{1fd3}\\x{1fd6}-\\x{1fdb}"           \
    "\\x{1fe0}-\\x{1fec}\\x{1ff2}-\\x{1ff4}\\x{1ff6}-\\x{1ffc}\\x{2102}\\x{2107}"            \
    "\\x{210a}-\\x{2113}\\x{2115}\\x{2119}-\\x{211d}\\x{2124}\\x{2126}\\x{2128}"             \
    "\\x{212a}-\\x{212d}\\x{212f}-\\x{2134}\\x{2139}\\x{213c}-\\x{213f}\\x{2145}-\\x{2149}"  \
    "\\x{214e}\\x{2183}\\x{2184}\\x{2c00}-\\x{2c7b}\\x{2c7e}-\\x{2ce4}\\x{2ceb}-\\x{2cee}"  \
    "\\x{2cf2}\\x{2cf3}\\x{a640}-\\x{a66d}\\x{a680}-\\x{a69b}\\x{a722}-\\x{a76f}"            \
    "\\x{a771}-\\x{a787}\\x{a78b}-\\x{a78e}\\x{ab70}-\\x{abbf}\\x{fb00}-\\x{fb06}"           \
    "\\x{fb13}-\\x{fb17}\\x{ff21}-\\x{ff3a}\\x{ff41}-\\x{ff5a}\\x{10400}-\\x{1044f}"         \
    "\\x{104b0}-\\x{104d3}\\x{104d8}-\\x{104fb}\\x{10c80}-\\x{10cb2}\\x{10cc0}-\\x{10cf2}"   \
    "\\x{118a0}-\\x{118df}\\x{1e900}-\\x{1e943}"
/* 一-龥 ࠀ-一 가-퟿ */
#define DS_CJK "[\\x{4e00}-\\x{9fa5}\\x{800}-\\x{4e00}\\x{ac00}-\\x{d7ff}]+"

static const pretok_def g_defs[] = {
    /* deepseek-ai/deepseek-llm-*: Split x5, Digits(individual), ByteLevel(no regex) */
    {{"deepseek-llm"}, false, false, 7, {
        SPLIT("[\\r\\n]"),
        SPLIT("\\s?[" DS_LLM_LETTERS "]+"),
        /* !-/ :-~ ！-／ ：-～ ‘-‟ 　-。 */
        SPLIT("\\s?[!-/:-~\\x{ff01}-\\x{ff0f}\\x{ff1a}-\\x{ff5e}\\x{2018}-\\x{201f}\\x{3000}-\\x{3002}]+"),
        SPLIT("\\s+$"),
        SPLIT(DS_CJK),
        SPLIT("\\p{N}"),
        BYTELEVEL,
    }},
    /* deepseek-ai/DeepSeek-V3 (and R1, V3.x): Split x3, ByteLevel(no regex) */
    {{"deepseek-v3"}, false, false, 4, {
        SPLIT("\\p{N}{1,3}"),
        SPLIT("[\\x{4e00}-\\x{9fa5}\\x{3040}-\\x{309f}\\x{30a0}-\\x{30ff}]+"),
        SPLIT("[!\"#$%&'()*+,\\-./:;<=>?@\\[\\\\\\]^_`{|}~][A-Za-z]+"
              "|[^\r\n\\p{L}\\p{P}\\p{S}]?[\\p{L}\\p{M}]+"
              "| ?[\\p{P}\\p{S}]+[\r\n]*"
              "|\\s*[\r\n]+"
              "|\\s+(?!\\S)"
              "|\\s+"),
        BYTELEVEL,
    }},
    /* deepseek-ai/deepseek-coder-*: Split x4, Digits(individual), ByteLevel(no regex) */
    {{"deepseek-coder"}, false, false, 6, {
        SPLIT("[\\r\\n]"),
        SPLIT("\\s?\\p{L}+"),
        SPLIT("\\s?\\p{P}+"),
        SPLIT(DS_CJK),
        SPLIT("\\p{N}"),
        BYTELEVEL,
    }},
    /* Qwen/Qwen2*, DeepSeek-R1-Distill-Qwen: NFC normalizer, one Split, ByteLevel */
    {{"qwen2", "deepseek-r1-qwen"}, false, true, 2, {
        SPLIT("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}"
              "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
        BYTELEVEL,
    }},
    /* meta-llama/Meta-Llama-3*: one Split, ByteLevel; BPE with ignore_merges */
    {{"llama-bpe", "llama3", "llama-v3"}, true, false, 2, {
        SPLIT("(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}"
              "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"),
        BYTELEVEL,
    }},
    /* openai-community/gpt2: ByteLevel(use_regex) */
    {{"gpt-2"}, false, false, 2, {
        SPLIT(RE_GPT2),
        BYTELEVEL,
    }},
    /* tiiuae/falcon-*: Punctuation(Contiguous), ByteLevel(use_regex),
     * Digits(not individual), Split [0-9]{3}; the last two see mapped text */
    {{"falcon"}, false, false, 5, {
        SPLIT("[\\p{P}!-/:-@\\[-`{-~]+"),
        SPLIT(RE_GPT2),
        BYTELEVEL,
        SPLIT("\\p{N}+"),
        SPLIT("[0-9][0-9][0-9]"),
    }},
    /* bigcode/starcoder*: Digits(individual), ByteLevel(use_regex) */
    {{"starcoder"}, false, false, 3, {
        SPLIT("\\p{N}"),
        SPLIT(RE_GPT2),
        BYTELEVEL,
    }},
    /* no tokenizer.ggml.pre: llama.cpp's fallback for old GGUF files */
    {{"default"}, false, false, 5, {
        SPLIT("[\\p{P}\\$\\+<=>\\^~\\|]+"),
        SPLIT("'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)"),
        SPLIT("\\p{N}+"),
        SPLIT("[0-9][0-9][0-9]"),
        BYTELEVEL,
    }},
};

struct cs_pretok {
    char *name;
    bool ignore_merges;
    bool nfc;
    int n_steps;
    struct {
        step_kind kind;
        pcre2_code *re;
        bool jit;
    } steps[MAX_STEPS];
};

/* Unicode White_Space, as a class body. */
#define WS_CLASS "\\t-\\r\\x{20}\\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

/* Rewrite \s and \S (outside and inside classes) to WS_CLASS. Returns a
 * malloc'd pattern, or NULL (error set). */
static char *rewrite_ws(const char *re) {
    size_t cap = strlen(re) * 1 + 64, n = 0;
    for (const char *p = re; *p; p++)
        if (*p == '\\') cap += sizeof(WS_CLASS) + 4;
    char *out = cs_malloc(cap);
    if (!out) return NULL;
    bool in_class = false;
    for (const char *p = re; *p; p++) {
        if (*p == '\\' && p[1]) {
            char e = p[1];
            if (e == 's' || e == 'S') {
                if (in_class && e == 'S') {
                    free(out);
                    cs_set_error("pre-tokenizer regex: \\S inside a class is not supported");
                    return NULL;
                }
                const char *open = in_class ? "" : (e == 's' ? "[" : "[^");
                const char *close = in_class ? "" : "]";
                n += (size_t)sprintf(out + n, "%s%s%s", open, WS_CLASS, close);
            } else {
                out[n++] = '\\';
                out[n++] = e;
            }
            p++;
            continue;
        }
        if (!in_class && *p == '[') {
            in_class = true;
            out[n++] = *p;
            /* a ']' right after '[' or '[^' is a literal */
            if (p[1] == '^') out[n++] = *++p;
            if (p[1] == ']') out[n++] = *++p;
            continue;
        }
        if (in_class && *p == ']') in_class = false;
        out[n++] = *p;
    }
    out[n] = 0;
    return out;
}

cs_pretok *cs_pretok_new(const char *name) {
    if (!name) name = "default";
    const pretok_def *d = NULL;
    for (size_t i = 0; i < CS_ARRAY_LEN(g_defs) && !d; i++)
        for (size_t j = 0; j < CS_ARRAY_LEN(g_defs[i].names) && g_defs[i].names[j]; j++)
            if (!strcmp(g_defs[i].names[j], name)) {
                d = &g_defs[i];
                break;
            }
    if (!d) {
        cs_set_error("unknown pre-tokenizer '%s' (tokenizer.ggml.pre); known: deepseek-llm, deepseek-v3, "
                     "deepseek-coder, qwen2, deepseek-r1-qwen, llama-bpe, llama3, llama-v3, gpt-2, falcon, "
                     "starcoder",
                     name);
        return NULL;
    }
    map_init();
    cs_pretok *p = cs_calloc(1, sizeof *p);
    if (!p) return NULL;
    p->name = strdup(name);
    p->ignore_merges = d->ignore_merges;
    p->nfc = d->nfc;
    p->n_steps = d->n_steps;
    for (int i = 0; i < d->n_steps; i++) {
        p->steps[i].kind = d->steps[i].kind;
        if (d->steps[i].kind != STEP_SPLIT) continue;
        char *pat = rewrite_ws(d->steps[i].re);
        if (!pat) {
            cs_pretok_free(p);
            return NULL;
        }
        int err;
        PCRE2_SIZE erroff;
        p->steps[i].re = pcre2_compile((PCRE2_SPTR)pat, PCRE2_ZERO_TERMINATED, PCRE2_UTF | PCRE2_UCP, &err,
                                       &erroff, NULL);
        free(pat);
        if (!p->steps[i].re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(err, msg, sizeof msg);
            cs_set_error("pre-tokenizer '%s': regex %d does not compile at offset %zu: %s", name, i,
                         (size_t)erroff, (char *)msg);
            cs_pretok_free(p);
            return NULL;
        }
        p->steps[i].jit = pcre2_jit_compile(p->steps[i].re, PCRE2_JIT_COMPLETE) == 0;
    }
    if (!p->name) {
        cs_set_error("out of memory");
        cs_pretok_free(p);
        return NULL;
    }
    return p;
}

void cs_pretok_free(cs_pretok *p) {
    if (!p) return;
    for (int i = 0; i < p->n_steps; i++) pcre2_code_free(p->steps[i].re);
    free(p->name);
    free(p);
}

const char *cs_pretok_name(const cs_pretok *p) { return p->name; }
bool cs_pretok_ignore_merges(const cs_pretok *p) { return p->ignore_merges; }

/* ---- splitting -------------------------------------------------------------- */

typedef struct {
    size_t off, len;
} span;

typedef struct {
    span *v;
    size_t n, cap;
} span_vec;

struct cs_pretok_work {
    pcre2_match_data *md;
    pcre2_match_context *mctx;
    pcre2_jit_stack *jstack;
    span_vec a, b;
    char *map;       /* mapped text after a ByteLevel step */
    size_t map_cap;
    uint8_t *bytes;  /* a mapped piece turned back into bytes */
    size_t bytes_cap;
};

cs_pretok_work *cs_pretok_work_new(const cs_pretok *p) {
    (void)p;
    cs_pretok_work *w = cs_calloc(1, sizeof *w);
    if (!w) return NULL;
    w->md = pcre2_match_data_create(4, NULL);
    if (!w->md) {
        free(w);
        cs_set_error("out of memory");
        return NULL;
    }
    return w;
}

void cs_pretok_work_free(cs_pretok_work *w) {
    if (!w) return;
    pcre2_match_data_free(w->md);
    pcre2_match_context_free(w->mctx);
    pcre2_jit_stack_free(w->jstack);
    free(w->a.v);
    free(w->b.v);
    free(w->map);
    free(w->bytes);
    free(w);
}

static int push_span(span_vec *s, size_t off, size_t len) {
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 256;
        span *nv = realloc(s->v, nc * sizeof *nv);
        if (!nv) {
            cs_set_error("out of memory");
            return -1;
        }
        s->v = nv;
        s->cap = nc;
    }
    s->v[s->n].off = off;
    s->v[s->n].len = len;
    s->n++;
    return 0;
}

static int grow(void **buf, size_t *cap, size_t need) {
    if (need <= *cap) return 0;
    size_t nc = *cap ? *cap : 256;
    while (nc < need) nc *= 2;
    void *nb = realloc(*buf, nc);
    if (!nb) {
        cs_set_error("out of memory");
        return -1;
    }
    *buf = nb;
    *cap = nc;
    return 0;
}

/* One match of step re in subject[0..len) from start. Returns 1 and the match
 * in [*ms, *me), 0 for no match, -1 on error. */
static int match_once(const cs_pretok *p, int step, cs_pretok_work *w, const char *subject, size_t len,
                      size_t start, size_t *ms, size_t *me) {
    const pcre2_code *re = p->steps[step].re;
    for (int attempt = 0; attempt < 2; attempt++) {
        int rc;
        if (p->steps[step].jit)
            rc = pcre2_jit_match(re, (PCRE2_SPTR)subject, len, start, 0, w->md, w->mctx);
        else
            rc = pcre2_match(re, (PCRE2_SPTR)subject, len, start, PCRE2_NO_UTF_CHECK, w->md, w->mctx);
        if (rc == PCRE2_ERROR_NOMATCH) return 0;
        if (rc == PCRE2_ERROR_JIT_STACKLIMIT && attempt == 0) {
            /* a long run of one class can exhaust the default 32 KiB JIT
             * stack: retry with a large one */
            if (!w->mctx) w->mctx = pcre2_match_context_create(NULL);
            if (!w->jstack) w->jstack = pcre2_jit_stack_create(64 * 1024, 64 * 1024 * 1024, NULL);
            if (!w->mctx || !w->jstack) {
                cs_set_error("out of memory");
                return -1;
            }
            pcre2_jit_stack_assign(w->mctx, NULL, w->jstack);
            continue;
        }
        if (rc < 0) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(rc, msg, sizeof msg);
            cs_set_error("pre-tokenizer '%s': regex %d failed: %s", p->name, step, (char *)msg);
            return -1;
        }
        PCRE2_SIZE *ov = pcre2_get_ovector_pointer(w->md);
        *ms = ov[0];
        *me = ov[1];
        return 1;
    }
    return -1;
}

/* Split every piece of in (over text) by step's regex, Isolated, into out. */
static int split_step(const cs_pretok *p, int step, cs_pretok_work *w, const char *text, const span_vec *in,
                      span_vec *out) {
    out->n = 0;
    for (size_t i = 0; i < in->n; i++) {
        const char *s = text + in->v[i].off;
        size_t len = in->v[i].len, prev = 0, start = 0;
        while (start < len) {
            size_t ms, me;
            int r = match_once(p, step, w, s, len, start, &ms, &me);
            if (r < 0) return -1;
            if (r == 0) break;
            if (me == ms) { /* empty match: move on one character */
                size_t cl = 1;
                while (ms + cl < len && ((uint8_t)s[ms + cl] & 0xC0) == 0x80) cl++;
                start = ms + cl;
                continue;
            }
            if (ms > prev && push_span(out, in->v[i].off + prev, ms - prev)) return -1;
            if (push_span(out, in->v[i].off + ms, me - ms)) return -1;
            prev = start = me;
        }
        if (len > prev && push_span(out, in->v[i].off + prev, len - prev)) return -1;
    }
    return 0;
}

int cs_pretok_split(const cs_pretok *p, cs_pretok_work *w, const char *text, size_t len, cs_pretok_emit emit,
                    void *user) {
    if (len == 0) return 0;
    char *nfc = NULL;
    if (p->nfc) {
        /* Quick check: pure ASCII is already NFC. */
        bool ascii = true;
        for (size_t i = 0; i < len && ascii; i++) ascii = (uint8_t)text[i] < 0x80;
        if (!ascii) {
            utf8proc_uint8_t *dst = NULL;
            utf8proc_ssize_t n = utf8proc_map((const utf8proc_uint8_t *)text, (utf8proc_ssize_t)len, &dst,
                                              UTF8PROC_STABLE | UTF8PROC_COMPOSE);
            if (n < 0) {
                cs_set_error("NFC normalization failed: %s", utf8proc_errmsg(n));
                return -1;
            }
            nfc = (char *)dst;
            text = nfc;
            len = (size_t)n;
        }
    }
    int ret = 0;
    const char *cur = text; /* the text the spans index: input, then mapped */
    bool mapped = false;
    span_vec *in = &w->a, *out = &w->b;
    in->n = 0;
    if (push_span(in, 0, len)) {
        ret = -1;
        goto done;
    }
    for (int st = 0; st < p->n_steps; st++) {
        if (p->steps[st].kind == STEP_SPLIT) {
            if (split_step(p, st, w, cur, in, out)) {
                ret = -1;
                goto done;
            }
            span_vec *t = in;
            in = out;
            out = t;
        } else if (!mapped) {
            /* ByteLevel: rewrite the pieces' bytes as mapped characters */
            size_t total = 0;
            for (size_t i = 0; i < in->n; i++) total += in->v[i].len * 2;
            if (grow((void **)&w->map, &w->map_cap, total + 1)) {
                ret = -1;
                goto done;
            }
            size_t n = 0;
            for (size_t i = 0; i < in->n; i++) {
                const uint8_t *s = (const uint8_t *)cur + in->v[i].off;
                size_t off = n;
                for (size_t k = 0; k < in->v[i].len; k++) {
                    memcpy(w->map + n, g_map_utf8[s[k]], 2);
                    n += g_map_len[s[k]];
                }
                in->v[i].off = off;
                in->v[i].len = n - off;
            }
            cur = w->map;
            mapped = true;
        }
    }
    for (size_t i = 0; i < in->n && ret == 0; i++) {
        const uint8_t *s = (const uint8_t *)cur + in->v[i].off;
        size_t n = in->v[i].len;
        if (mapped) {
            /* back to the original bytes: each mapped character is one byte */
            if (grow((void **)&w->bytes, &w->bytes_cap, n)) {
                ret = -1;
                break;
            }
            size_t m = 0;
            for (size_t k = 0; k < n;) {
                uint32_t cp;
                if (s[k] < 0x80) {
                    cp = s[k];
                    k += 1;
                } else {
                    cp = ((uint32_t)(s[k] & 0x1F) << 6) | (s[k + 1] & 0x3F);
                    k += 2;
                }
                w->bytes[m++] = (uint8_t)g_unmap[cp];
            }
            ret = emit(w->bytes, m, user);
        } else {
            ret = emit(s, n, user);
        }
    }
done:
    free(nfc);
    return ret;
}
