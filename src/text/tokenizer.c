/* text/tokenizer: vocabulary, special-token splitting, BPE merging and
 * decoding. The pre-tokenizer regexes live in pretokenize.c; the overview is
 * in tokenizer.h. */
#include "tokenizer.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"

/* ---- hash maps ---------------------------------------------------------------- */

static uint64_t hash_bytes(const void *p, size_t n) {
    const uint8_t *s = p;
    uint64_t h = 0x9E3779B97F4A7C15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t k;
        memcpy(&k, s, 8);
        h = (h ^ k) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
        s += 8;
        n -= 8;
    }
    uint64_t k = 0;
    memcpy(&k, s, n);
    h = (h ^ k) * 0xc4ceb9fe1a85ec53ull;
    h ^= h >> 29;
    return h;
}

/* Token text -> id, open addressing over ids; the keys are the vocabulary's
 * own token texts. */
typedef struct {
    int32_t *slot; /* -1 = empty */
    size_t mask;
} strmap;

/* Merge pair (left id, right id) -> (rank, merged id). */
typedef struct {
    uint64_t *key; /* left << 32 | right; UINT64_MAX = empty */
    uint32_t *rank;
    int32_t *merged;
    size_t mask;
} pairmap;

/* Special tokens: a byte trie; the root's children are indexed directly. */
typedef struct {
    int32_t child;   /* first child, -1 */
    int32_t sibling; /* next sibling, -1 */
    int32_t token;   /* token ending here, -1 */
    uint8_t byte;
} trie_node;

struct cs_vocab {
    int32_t n;                  /* tokens */
    char *text;                 /* all token texts, as stored in the file */
    uint32_t *text_off, *text_len; /* (n) */
    uint8_t *type;              /* (n) CS_TT_* */
    char *piece;                /* all decoded pieces (bytes a token prints) */
    uint32_t *piece_off, *piece_len; /* (n) */
    uint8_t *eog;               /* (n) 1 if the token ends generation */

    strmap bpe;                 /* texts BPE may produce: not CONTROL/USER_DEFINED/BYTE */
    strmap all;                 /* every token's text (first id wins) */
    pairmap merges;
    int32_t byte_tok[256];      /* the token of each single byte, -1 */

    trie_node *trie;
    int32_t n_trie;
    int32_t root[256];          /* root children, -1 */
    uint8_t first_user[256];    /* bytes that start a USER_DEFINED token */
    uint8_t first_any[256];     /* ... or any special token */

    int32_t bos, eos, eot, eom, pad, unk;
    bool add_bos, add_eos;
    cs_pretok *pre;
};

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

static bool strmap_init(strmap *m, size_t n) {
    size_t cap = pow2_at_least(n * 2 + 1);
    m->slot = malloc(cap * sizeof *m->slot);
    if (!m->slot) return false;
    memset(m->slot, 0xff, cap * sizeof *m->slot);
    m->mask = cap - 1;
    return true;
}

static int32_t strmap_find(const cs_vocab *v, const strmap *m, const char *s, size_t n) {
    size_t i = hash_bytes(s, n) & m->mask;
    for (;;) {
        int32_t id = m->slot[i];
        if (id < 0) return -1;
        if (v->text_len[id] == n && !memcmp(v->text + v->text_off[id], s, n)) return id;
        i = (i + 1) & m->mask;
    }
}

/* Insert id unless its text is already there (the first id keeps it). */
static void strmap_add(const cs_vocab *v, strmap *m, int32_t id) {
    const char *s = v->text + v->text_off[id];
    size_t n = v->text_len[id];
    size_t i = hash_bytes(s, n) & m->mask;
    for (;;) {
        int32_t o = m->slot[i];
        if (o < 0) {
            m->slot[i] = id;
            return;
        }
        if (v->text_len[o] == n && !memcmp(v->text + v->text_off[o], s, n)) return;
        i = (i + 1) & m->mask;
    }
}

static inline size_t pair_hash(uint64_t key, size_t mask) {
    key ^= key >> 31;
    key *= 0x9E3779B97F4A7C15ull;
    key ^= key >> 29;
    return (size_t)key & mask;
}

static bool pairmap_init(pairmap *m, size_t n) {
    size_t cap = pow2_at_least(n * 2 + 1);
    m->key = malloc(cap * sizeof *m->key);
    m->rank = malloc(cap * sizeof *m->rank);
    m->merged = malloc(cap * sizeof *m->merged);
    if (!m->key || !m->rank || !m->merged) return false;
    memset(m->key, 0xff, cap * sizeof *m->key);
    m->mask = cap - 1;
    return true;
}

static inline uint64_t pair_key(int32_t l, int32_t r) { return (uint64_t)(uint32_t)l << 32 | (uint32_t)r; }

/* Returns the slot holding key, or -1. */
static inline int64_t pairmap_find(const pairmap *m, uint64_t key) {
    size_t i = pair_hash(key, m->mask);
    for (;;) {
        uint64_t k = m->key[i];
        if (k == key) return (int64_t)i;
        if (k == UINT64_MAX) return -1;
        i = (i + 1) & m->mask;
    }
}

static void pairmap_add(pairmap *m, uint64_t key, uint32_t rank, int32_t merged) {
    size_t i = pair_hash(key, m->mask);
    while (m->key[i] != UINT64_MAX) {
        if (m->key[i] == key) return; /* the lower rank came first */
        i = (i + 1) & m->mask;
    }
    m->key[i] = key;
    m->rank[i] = rank;
    m->merged[i] = merged;
}

/* ---- building ------------------------------------------------------------------ */

void cs_vocab_spec_init(cs_vocab_spec *s) {
    memset(s, 0, sizeof *s);
    s->bos = s->eos = s->eot = s->eom = s->pad = s->unk = -1;
}

void cs_vocab_free(cs_vocab *v) {
    if (!v) return;
    free(v->text);
    free(v->text_off);
    free(v->text_len);
    free(v->type);
    free(v->piece);
    free(v->piece_off);
    free(v->piece_len);
    free(v->eog);
    free(v->bpe.slot);
    free(v->all.slot);
    free(v->merges.key);
    free(v->merges.rank);
    free(v->merges.merged);
    free(v->trie);
    cs_pretok_free(v->pre);
    free(v);
}

static bool is_special_type(uint8_t t) {
    return t == CS_TT_CONTROL || t == CS_TT_USER_DEFINED || t == CS_TT_UNKNOWN;
}

/* Types whose text is byte-level encoded and which BPE merges may produce. */
static bool is_bpe_type(uint8_t t) {
    return t == CS_TT_NORMAL || t == CS_TT_UNDEFINED || t == CS_TT_UNKNOWN || t == CS_TT_UNUSED;
}

static bool trie_add(cs_vocab *v, int32_t id, int32_t *cap) {
    const uint8_t *s = (const uint8_t *)v->text + v->text_off[id];
    size_t n = v->text_len[id];
    int32_t *link = &v->root[s[0]];
    int32_t node = -1;
    for (size_t i = 0; i < n; i++) {
        if (i > 0) {
            link = &v->trie[node].child;
            while (*link >= 0 && v->trie[*link].byte != s[i]) link = &v->trie[*link].sibling;
        }
        if (*link < 0) {
            if (v->n_trie == *cap) {
                int32_t nc = *cap ? *cap * 2 : 1024;
                trie_node *nt = realloc(v->trie, (size_t)nc * sizeof *nt);
                if (!nt) return false;
                v->trie = nt;
                *cap = nc;
                /* link may point into the old array: find it again */
                if (i == 0) link = &v->root[s[0]];
                else {
                    link = &v->trie[node].child;
                    while (*link >= 0 && v->trie[*link].byte != s[i]) link = &v->trie[*link].sibling;
                }
            }
            int32_t k = v->n_trie++;
            v->trie[k] = (trie_node){.child = -1, .sibling = -1, .token = -1, .byte = s[i]};
            *link = k;
        }
        node = *link;
    }
    if (v->trie[node].token < 0) v->trie[node].token = id;
    return true;
}

/* The bytes token id prints (byte-level decoded for BPE types). */
static size_t decode_text(const cs_vocab *v, int32_t id, char *out) {
    const char *s = v->text + v->text_off[id];
    size_t n = v->text_len[id], m = 0;
    uint8_t t = v->type[id];
    if (t == CS_TT_BYTE) {
        unsigned b;
        char tail;
        if (n == 6 && sscanf(s, "<0x%2x%c", &b, &tail) == 2 && tail == '>') {
            out[0] = (char)b;
            return 1;
        }
    }
    if (!is_bpe_type(t) && t != CS_TT_BYTE) {
        memcpy(out, s, n);
        return n;
    }
    if (t == CS_TT_UNKNOWN || t == CS_TT_UNUSED) { /* "<unk>" and the like: as is */
        memcpy(out, s, n);
        return n;
    }
    for (size_t i = 0; i < n;) {
        size_t len;
        int r = cs_utf8_check((const uint8_t *)s + i, n - i, &len);
        if (r == 1 && len <= 2) {
            uint32_t cp = len == 1 ? (uint8_t)s[i] : ((uint32_t)(s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F);
            int b = cs_cp_to_byte(cp);
            if (b >= 0) {
                out[m++] = (char)b;
                i += len;
                continue;
            }
        }
        if (r != 1) len = 1;
        memcpy(out + m, s + i, len); /* not a byte-level character: keep it */
        m += len;
        i += len;
    }
    return m;
}

static const char *const k_eog_texts[] = {
    "<|eot_id|>", "<|eom_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>", "<\xef\xbd\x9c" "end\xe2\x96\x81of\xe2\x96\x81sentence\xef\xbd\x9c>", "<EOT>", "<|EOT|>",
};

cs_vocab *cs_vocab_build(const cs_vocab_spec *s) {
    const char *model = s->model ? s->model : "gpt2";
    if (strcmp(model, "gpt2") != 0) {
        cs_set_error("tokenizer model '%s' is not supported (tokenizer.ggml.model must be \"gpt2\": byte-level BPE)",
                     model);
        return NULL;
    }
    if (s->n_tokens <= 0 || !s->tokens) {
        cs_set_error("the vocabulary has no tokens (tokenizer.ggml.tokens)");
        return NULL;
    }
    if (s->n_merges < 0 || (s->n_merges > 0 && !s->merges)) {
        cs_set_error("bad merges");
        return NULL;
    }
    const int32_t ids[] = {s->bos, s->eos, s->eot, s->eom, s->pad, s->unk};
    const char *id_names[] = {"bos", "eos", "eot", "eom", "padding", "unknown"};
    for (size_t i = 0; i < CS_ARRAY_LEN(ids); i++)
        if (ids[i] < -1 || ids[i] >= s->n_tokens) {
            cs_set_error("tokenizer.ggml.%s_token_id %d is outside the vocabulary of %d tokens", id_names[i],
                         (int)ids[i], (int)s->n_tokens);
            return NULL;
        }

    cs_vocab *v = cs_calloc(1, sizeof *v);
    if (!v) return NULL;
    v->n = s->n_tokens;
    v->bos = s->bos;
    v->eos = s->eos;
    v->eot = s->eot;
    v->eom = s->eom;
    v->pad = s->pad;
    v->unk = s->unk;
    v->add_bos = s->add_bos;
    v->add_eos = s->add_eos;
    if (!s->pre) cs_log_warn("no pre-tokenizer type in the vocabulary (tokenizer.ggml.pre): using 'default'");
    v->pre = cs_pretok_new(s->pre);
    if (!v->pre) goto fail;

    size_t n = (size_t)v->n, total = 0;
    v->text_off = malloc(n * sizeof *v->text_off);
    v->text_len = malloc(n * sizeof *v->text_len);
    v->piece_off = malloc(n * sizeof *v->piece_off);
    v->piece_len = malloc(n * sizeof *v->piece_len);
    v->type = malloc(n);
    v->eog = calloc(n, 1);
    if (!v->text_off || !v->text_len || !v->piece_off || !v->piece_len || !v->type || !v->eog) goto oom;
    for (size_t i = 0; i < n; i++) {
        size_t len = s->token_lens ? s->token_lens[i] : (s->tokens[i] ? strlen(s->tokens[i]) : 0);
        if (len > 0 && !s->tokens[i]) {
            cs_set_error("token %zu has no text", i);
            goto fail;
        }
        total += len;
        if (total > UINT32_MAX / 2) {
            cs_set_error("the token texts are too large");
            goto fail;
        }
        v->text_len[i] = (uint32_t)len;
        int32_t t = s->types ? s->types[i] : CS_TT_NORMAL;
        if (t < 0 || t > CS_TT_BYTE) {
            cs_set_error("token %zu has an unknown type %d (tokenizer.ggml.token_type)", i, (int)t);
            goto fail;
        }
        v->type[i] = (uint8_t)t;
    }
    v->text = malloc(total + 1);
    v->piece = malloc(total + 1); /* decoding never lengthens a text */
    if (!v->text || !v->piece) goto oom;
    size_t off = 0, poff = 0;
    for (size_t i = 0; i < n; i++) {
        v->text_off[i] = (uint32_t)off;
        if (v->text_len[i]) memcpy(v->text + off, s->tokens[i], v->text_len[i]);
        off += v->text_len[i];
        v->piece_off[i] = (uint32_t)poff;
        v->piece_len[i] = (uint32_t)decode_text(v, (int32_t)i, v->piece + poff);
        poff += v->piece_len[i];
    }

    /* text maps */
    if (!strmap_init(&v->bpe, n) || !strmap_init(&v->all, n)) goto oom;
    for (size_t i = 0; i < n; i++) {
        strmap_add(v, &v->all, (int32_t)i);
        if (is_bpe_type(v->type[i]) && v->text_len[i]) strmap_add(v, &v->bpe, (int32_t)i);
    }
    for (unsigned b = 0; b < 256; b++) {
        char m[2];
        uint8_t byte = (uint8_t)b;
        size_t ml = cs_bytes_to_mapped(&byte, 1, m);
        v->byte_tok[b] = strmap_find(v, &v->bpe, m, ml);
    }

    /* merges: "left right", rank = index */
    if (!pairmap_init(&v->merges, (size_t)s->n_merges)) goto oom;
    {
        size_t skipped = 0, cap = 0;
        char *buf = NULL;
        for (int32_t r = 0; r < s->n_merges; r++) {
            const char *m = s->merges[r];
            size_t ml = s->merge_lens ? s->merge_lens[r] : (m ? strlen(m) : 0);
            const char *sp = ml > 1 ? memchr(m + 1, ' ', ml - 1) : NULL;
            if (!sp) {
                skipped++;
                continue;
            }
            size_t ll = (size_t)(sp - m), rl = ml - ll - 1;
            int32_t l = strmap_find(v, &v->bpe, m, ll);
            int32_t rr = strmap_find(v, &v->bpe, sp + 1, rl);
            if (ll + rl > cap) {
                cap = (ll + rl) * 2;
                char *nb = realloc(buf, cap);
                if (!nb) {
                    free(buf);
                    goto oom;
                }
                buf = nb;
            }
            memcpy(buf, m, ll);
            memcpy(buf + ll, sp + 1, rl);
            int32_t merged = l >= 0 && rr >= 0 ? strmap_find(v, &v->bpe, buf, ll + rl) : -1;
            if (merged < 0) {
                skipped++;
                continue;
            }
            pairmap_add(&v->merges, pair_key(l, rr), (uint32_t)r, merged);
        }
        free(buf);
        if (skipped)
            cs_log_info("tokenizer: %zu of %d merges name tokens that are not in the vocabulary; ignored", skipped,
                        (int)s->n_merges);
    }

    /* special tokens */
    memset(v->root, 0xff, sizeof v->root);
    {
        int32_t cap = 0;
        for (size_t i = 0; i < n; i++) {
            if (!is_special_type(v->type[i]) || v->text_len[i] == 0) continue;
            if (!trie_add(v, (int32_t)i, &cap)) goto oom;
            uint8_t b0 = (uint8_t)v->text[v->text_off[i]];
            v->first_any[b0] = 1;
            if (v->type[i] == CS_TT_USER_DEFINED) v->first_user[b0] = 1;
        }
    }

    /* end of generation */
    for (size_t i = 0; i < CS_ARRAY_LEN(ids); i++)
        if (i >= 1 && i <= 3 && ids[i] >= 0) v->eog[ids[i]] = 1;
    for (size_t k = 0; k < CS_ARRAY_LEN(k_eog_texts); k++) {
        int32_t id = strmap_find(v, &v->all, k_eog_texts[k], strlen(k_eog_texts[k]));
        if (id >= 0 && v->type[id] == CS_TT_CONTROL) v->eog[id] = 1;
    }
    return v;

oom:
    cs_set_error("out of memory building the vocabulary");
fail:
    cs_vocab_free(v);
    return NULL;
}

/* ---- reading GGUF ---------------------------------------------------------------- */

static const gguf_value *get_str_array(const gguf_file *f, const char *key, bool required) {
    const gguf_value *a = gguf_get(f, key);
    if (!a) {
        if (required) cs_set_error("%s is missing", key);
        return NULL;
    }
    if (a->type != GGUF_TYPE_ARRAY || a->arr.type != GGUF_TYPE_STRING || !a->arr.strs) {
        cs_set_error("%s is not an array of strings", key);
        return NULL;
    }
    if (a->arr.n > INT32_MAX) {
        cs_set_error("%s has too many entries", key);
        return NULL;
    }
    return a;
}

static int32_t get_id(const gguf_file *f, const char *key, int32_t n_tokens) {
    int64_t id;
    if (!gguf_get_i64(f, key, &id)) return -1;
    if (id < 0 || id >= n_tokens) {
        cs_log_warn("%s = %lld is outside the vocabulary of %d tokens; ignored", key, (long long)id,
                    (int)n_tokens);
        return -1;
    }
    return (int32_t)id;
}

cs_vocab *cs_vocab_from_gguf(const gguf_file *f) {
    cs_vocab *v = NULL;
    cs_vocab_spec s;
    cs_vocab_spec_init(&s);
    char *model = gguf_get_str_dup(f, "tokenizer.ggml.model");
    char *pre = gguf_get_str_dup(f, "tokenizer.ggml.pre");
    const char **toks = NULL, **merges = NULL;
    size_t *tok_lens = NULL, *merge_lens = NULL;
    int32_t *types = NULL;
    if (!model) {
        cs_set_error("no vocabulary in the file (tokenizer.ggml.model is missing)");
        goto done;
    }
    if (strcmp(model, "gpt2") != 0) {
        cs_set_error("tokenizer model '%s' is not supported (tokenizer.ggml.model must be \"gpt2\": byte-level BPE)",
                     model);
        goto done;
    }
    const gguf_value *ta = get_str_array(f, "tokenizer.ggml.tokens", true);
    if (!ta) goto done;
    const gguf_value *ma = get_str_array(f, "tokenizer.ggml.merges", true);
    if (!ma) goto done;
    size_t n = (size_t)ta->arr.n, nm = (size_t)ma->arr.n;
    toks = malloc((n + 1) * sizeof *toks);
    tok_lens = malloc((n + 1) * sizeof *tok_lens);
    merges = malloc((nm + 1) * sizeof *merges);
    merge_lens = malloc((nm + 1) * sizeof *merge_lens);
    if (!toks || !tok_lens || !merges || !merge_lens) {
        cs_set_error("out of memory");
        goto done;
    }
    for (size_t i = 0; i < n; i++) {
        toks[i] = ta->arr.strs[i].ptr;
        tok_lens[i] = (size_t)ta->arr.strs[i].len;
    }
    for (size_t i = 0; i < nm; i++) {
        merges[i] = ma->arr.strs[i].ptr;
        merge_lens[i] = (size_t)ma->arr.strs[i].len;
    }
    const gguf_value *tt = gguf_get(f, "tokenizer.ggml.token_type");
    if (tt) {
        if (tt->type != GGUF_TYPE_ARRAY || tt->arr.n != n) {
            cs_set_error("tokenizer.ggml.token_type is not an array of %zu integers", n);
            goto done;
        }
        types = malloc((n + 1) * sizeof *types);
        if (!types) {
            cs_set_error("out of memory");
            goto done;
        }
        for (size_t i = 0; i < n; i++) {
            int64_t t;
            if (!gguf_arr_i64(tt, i, &t)) {
                cs_set_error("tokenizer.ggml.token_type is not an array of integers");
                goto done;
            }
            types[i] = t < 0 || t > CS_TT_BYTE ? CS_TT_NORMAL : (int32_t)t;
        }
    }
    s.model = model;
    s.pre = pre;
    s.n_tokens = (int32_t)n;
    s.tokens = toks;
    s.token_lens = tok_lens;
    s.types = types;
    s.n_merges = (int32_t)nm;
    s.merges = merges;
    s.merge_lens = merge_lens;
    s.bos = get_id(f, "tokenizer.ggml.bos_token_id", s.n_tokens);
    s.eos = get_id(f, "tokenizer.ggml.eos_token_id", s.n_tokens);
    s.eot = get_id(f, "tokenizer.ggml.eot_token_id", s.n_tokens);
    s.eom = get_id(f, "tokenizer.ggml.eom_token_id", s.n_tokens);
    s.pad = get_id(f, "tokenizer.ggml.padding_token_id", s.n_tokens);
    s.unk = get_id(f, "tokenizer.ggml.unknown_token_id", s.n_tokens);
    bool b;
    s.add_bos = gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &b) && b;
    s.add_eos = gguf_get_bool(f, "tokenizer.ggml.add_eos_token", &b) && b;
    v = cs_vocab_build(&s);
done:
    free(model);
    free(pre);
    free(toks);
    free(tok_lens);
    free(merges);
    free(merge_lens);
    free(types);
    return v;
}

cs_vocab *cs_vocab_load(const char *path) {
    gguf_open_opts o;
    memset(&o, 0, sizeof o);
    gguf_file *f = gguf_open(path, &o);
    if (!f) return NULL;
    cs_vocab *v = cs_vocab_from_gguf(f);
    gguf_close(f);
    return v;
}

/* ---- queries ----------------------------------------------------------------------- */

int cs_vocab_n_tokens(const cs_vocab *v) { return v->n; }
int32_t cs_vocab_bos(const cs_vocab *v) { return v->bos; }
int32_t cs_vocab_eos(const cs_vocab *v) { return v->eos; }
int32_t cs_vocab_eot(const cs_vocab *v) { return v->eot; }
int32_t cs_vocab_eom(const cs_vocab *v) { return v->eom; }
int32_t cs_vocab_pad(const cs_vocab *v) { return v->pad; }
bool cs_vocab_add_bos(const cs_vocab *v) { return v->add_bos; }
bool cs_vocab_add_eos(const cs_vocab *v) { return v->add_eos; }
const char *cs_vocab_pre(const cs_vocab *v) { return cs_pretok_name(v->pre); }

bool cs_vocab_is_eog(const cs_vocab *v, int32_t token) {
    return token >= 0 && token < v->n && v->eog[token];
}

cs_token_type cs_vocab_token_type(const cs_vocab *v, int32_t token) {
    if (token < 0 || token >= v->n) return CS_TOKEN_INVALID;
    return (cs_token_type)v->type[token];
}

const char *cs_vocab_token_text(const cs_vocab *v, int32_t token, size_t *len) {
    if (token < 0 || token >= v->n) {
        if (len) *len = 0;
        return NULL;
    }
    if (len) *len = v->text_len[token];
    return v->text + v->text_off[token];
}

int32_t cs_vocab_find(const cs_vocab *v, const char *text, size_t len) {
    return strmap_find(v, &v->all, text, len);
}

/* ---- encoding --------------------------------------------------------------------------- */

typedef struct {
    const cs_vocab *v;
    int32_t *out;
    size_t n, cap;
    /* BPE scratch */
    int32_t *sym_id, *sym_prev, *sym_next;
    uint64_t *heap;
    size_t sym_cap, heap_cap, heap_n;
    char *mapped;
    size_t mapped_cap;
    cs_pretok_work *work;
} enc;

static int push_tok(enc *e, int32_t id) {
    if (e->n == e->cap) {
        size_t nc = e->cap ? e->cap * 2 : 256;
        int32_t *no = realloc(e->out, nc * sizeof *no);
        if (!no) {
            cs_set_error("out of memory");
            return -1;
        }
        e->out = no;
        e->cap = nc;
    }
    e->out[e->n++] = id;
    return 0;
}

static int ensure_scratch(enc *e, size_t n) {
    if (n > e->sym_cap) {
        size_t c = e->sym_cap ? e->sym_cap : 64;
        while (c < n) c *= 2;
        int32_t *a = realloc(e->sym_id, c * sizeof *a);
        if (a) e->sym_id = a;
        int32_t *b = realloc(e->sym_prev, c * sizeof *b);
        if (b) e->sym_prev = b;
        int32_t *d = realloc(e->sym_next, c * sizeof *d);
        if (d) e->sym_next = d;
        char *m = realloc(e->mapped, 2 * c);
        if (m) e->mapped = m;
        if (!a || !b || !d || !m) {
            cs_set_error("out of memory");
            return -1;
        }
        e->sym_cap = c;
    }
    return 0;
}

/* min-heap of (rank << 32 | position): lowest rank first, then leftmost */
static int heap_push(enc *e, uint64_t x) {
    if (e->heap_n == e->heap_cap) {
        size_t nc = e->heap_cap ? e->heap_cap * 2 : 64;
        uint64_t *nh = realloc(e->heap, nc * sizeof *nh);
        if (!nh) {
            cs_set_error("out of memory");
            return -1;
        }
        e->heap = nh;
        e->heap_cap = nc;
    }
    size_t i = e->heap_n++;
    uint64_t *h = e->heap;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (h[p] <= x) break;
        h[i] = h[p];
        i = p;
    }
    h[i] = x;
    return 0;
}

static uint64_t heap_pop(enc *e) {
    uint64_t *h = e->heap, top = h[0], x = h[--e->heap_n];
    size_t n = e->heap_n, i = 0;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1] < h[c]) c++;
        if (h[c] >= x) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = x;
    return top;
}

static int try_pair(enc *e, int32_t left) {
    int32_t right = e->sym_next[left];
    if (right < 0) return 0;
    int64_t slot = pairmap_find(&e->v->merges, pair_key(e->sym_id[left], e->sym_id[right]));
    if (slot < 0) return 0;
    return heap_push(e, (uint64_t)e->v->merges.rank[slot] << 32 | (uint32_t)left);
}

/* The token(s) for one pre-token given as raw bytes. */
static int bpe_word(const uint8_t *bytes, size_t n, void *user) {
    enc *e = user;
    const cs_vocab *v = e->v;
    if (n == 1 && v->byte_tok[bytes[0]] >= 0) return push_tok(e, v->byte_tok[bytes[0]]);
    if (n > INT32_MAX / 2) {
        cs_set_error("a pre-token of %zu bytes is too long", n);
        return -1;
    }
    if (ensure_scratch(e, n)) return -1;
    if (cs_pretok_ignore_merges(v->pre)) {
        size_t ml = cs_bytes_to_mapped(bytes, n, e->mapped);
        int32_t id = strmap_find(v, &v->bpe, e->mapped, ml);
        if (id >= 0) return push_tok(e, id);
    }
    /* one symbol per byte */
    int32_t ns = 0;
    for (size_t k = 0; k < n; k++) {
        int32_t id = v->byte_tok[bytes[k]];
        if (id < 0) { /* a byte the BPE vocabulary lacks: any token of that text, else unk */
            char m[2];
            size_t ml = cs_bytes_to_mapped(&bytes[k], 1, m);
            id = strmap_find(v, &v->all, m, ml);
            if (id < 0) id = v->unk;
            if (id < 0) continue; /* dropped, as tokenizers does without an unk token */
        }
        e->sym_id[ns] = id;
        e->sym_prev[ns] = ns - 1;
        e->sym_next[ns] = ns + 1;
        ns++;
    }
    if (ns == 0) return 0;
    e->sym_next[ns - 1] = -1;
    e->heap_n = 0;
    for (int32_t k = 0; k + 1 < ns; k++)
        if (try_pair(e, k)) return -1;
    while (e->heap_n) {
        uint64_t top = heap_pop(e);
        uint32_t rank = (uint32_t)(top >> 32);
        int32_t l = (int32_t)(uint32_t)top;
        if (e->sym_id[l] < 0) continue; /* merged away */
        int32_t r = e->sym_next[l];
        if (r < 0) continue;
        int64_t slot = pairmap_find(&v->merges, pair_key(e->sym_id[l], e->sym_id[r]));
        if (slot < 0 || v->merges.rank[slot] != rank) continue; /* stale */
        e->sym_id[l] = v->merges.merged[slot];
        e->sym_id[r] = -1;
        int32_t rn = e->sym_next[r];
        e->sym_next[l] = rn;
        if (rn >= 0) e->sym_prev[rn] = l;
        if (e->sym_prev[l] >= 0 && try_pair(e, e->sym_prev[l])) return -1;
        if (try_pair(e, l)) return -1;
    }
    for (int32_t k = 0; k >= 0; k = e->sym_next[k])
        if (push_tok(e, e->sym_id[k])) return -1;
    return 0;
}

/* Ordinary text between special tokens: valid UTF-8 runs go through the
 * pre-tokenizer, each invalid byte is a pre-token of its own. */
static int encode_plain(enc *e, const uint8_t *s, size_t n) {
    size_t i = 0, run = 0;
    while (i < n) {
        size_t len;
        if (s[i] < 0x80) {
            i++;
            continue;
        }
        int r = cs_utf8_check(s + i, n - i, &len);
        if (r == 1) {
            i += len;
            continue;
        }
        if (i > run && cs_pretok_split(e->v->pre, e->work, (const char *)s + run, i - run, bpe_word, e)) return -1;
        if (bpe_word(s + i, 1, e)) return -1;
        i++;
        run = i;
    }
    if (n > run && cs_pretok_split(e->v->pre, e->work, (const char *)s + run, n - run, bpe_word, e)) return -1;
    return 0;
}

/* Longest special token allowed here, or -1. */
static int32_t match_special(const cs_vocab *v, const uint8_t *s, size_t n, bool special, size_t *mlen) {
    int32_t node = v->root[s[0]], best = -1;
    size_t i = 1;
    while (node >= 0) {
        int32_t t = v->trie[node].token;
        if (t >= 0 && (special || v->type[t] == CS_TT_USER_DEFINED)) {
            best = t;
            *mlen = i;
        }
        if (i == n) break;
        int32_t c = v->trie[node].child;
        while (c >= 0 && v->trie[c].byte != s[i]) c = v->trie[c].sibling;
        node = c;
        i++;
    }
    return best;
}

int cs_tokenize(const cs_vocab *v, const char *text, size_t len, int32_t *out, int max, bool add_bos,
                bool special) {
    if (!v || (!text && len) || max < 0 || (!out && max > 0)) {
        cs_set_error("cs_tokenize: bad arguments");
        return CS_TOKENIZE_ERROR;
    }
    enc e;
    memset(&e, 0, sizeof e);
    e.v = v;
    int ret = CS_TOKENIZE_ERROR;
    e.work = cs_pretok_work_new(v->pre);
    if (!e.work) goto done;
    if (add_bos && v->bos >= 0 && push_tok(&e, v->bos)) goto done;
    const uint8_t *s = (const uint8_t *)text;
    const uint8_t *first = special ? v->first_any : v->first_user;
    size_t start = 0;
    for (size_t i = 0; i < len;) {
        size_t ml = 0;
        int32_t t = first[s[i]] ? match_special(v, s + i, len - i, special, &ml) : -1;
        if (t < 0) {
            i++;
            continue;
        }
        if (i > start && encode_plain(&e, s + start, i - start)) goto done;
        if (push_tok(&e, t)) goto done;
        i += ml;
        start = i;
    }
    if (len > start && encode_plain(&e, s + start, len - start)) goto done;
    if (e.n > (size_t)INT_MAX) {
        cs_set_error("cs_tokenize: more than INT_MAX tokens");
        goto done;
    }
    if (e.n <= (size_t)max) {
        if (e.n) memcpy(out, e.out, e.n * sizeof *out);
        ret = (int)e.n;
    } else {
        if (max) memcpy(out, e.out, (size_t)max * sizeof *out);
        ret = -(int)e.n;
    }
done:
    cs_pretok_work_free(e.work);
    free(e.out);
    free(e.sym_id);
    free(e.sym_prev);
    free(e.sym_next);
    free(e.heap);
    free(e.mapped);
    return ret;
}

/* ---- decoding --------------------------------------------------------------------------- */

static bool printed(const cs_vocab *v, int32_t t, bool special) {
    uint8_t ty = v->type[t];
    return special || ty == CS_TT_NORMAL || ty == CS_TT_UNDEFINED || ty == CS_TT_USER_DEFINED || ty == CS_TT_BYTE;
}

int cs_token_to_piece(const cs_vocab *v, int32_t token, char *buf, int size, bool special) {
    if (!v || token < 0 || token >= v->n || size < 0 || (!buf && size > 0)) {
        cs_set_error("cs_token_to_piece: token %d is outside the vocabulary", (int)token);
        return CS_TOKENIZE_ERROR;
    }
    if (!printed(v, token, special)) return 0;
    int n = (int)v->piece_len[token];
    if (n > size) return -n;
    memcpy(buf, v->piece + v->piece_off[token], (size_t)n);
    return n;
}

int cs_detokenize(const cs_vocab *v, const int32_t *tokens, int n_tokens, char *buf, int size, bool special) {
    if (!v || n_tokens < 0 || (!tokens && n_tokens) || size < 0 || (!buf && size > 0)) {
        cs_set_error("cs_detokenize: bad arguments");
        return CS_TOKENIZE_ERROR;
    }
    size_t total = 0;
    for (int i = 0; i < n_tokens; i++) {
        int32_t t = tokens[i];
        if (t < 0 || t >= v->n) {
            cs_set_error("cs_detokenize: token %d is outside the vocabulary", (int)t);
            return CS_TOKENIZE_ERROR;
        }
        if (!printed(v, t, special)) continue;
        size_t pl = v->piece_len[t];
        if (total + pl <= (size_t)size) memcpy(buf + total, v->piece + v->piece_off[t], pl);
        total += pl;
        if (total > (size_t)INT_MAX) {
            cs_set_error("cs_detokenize: text longer than INT_MAX");
            return CS_TOKENIZE_ERROR;
        }
    }
    return total <= (size_t)size ? (int)total : -(int)total;
}

/* ---- streaming decoder ------------------------------------------------------------------- */

struct cs_detok {
    const cs_vocab *v;
    bool special;
    uint8_t pend[4]; /* an incomplete UTF-8 sequence held back */
    size_t n_pend;
    uint8_t *in;     /* pending bytes + the new piece */
    size_t in_cap;
    char *out;
    size_t out_cap;
};

cs_detok *cs_detok_new(const cs_vocab *v, bool special) {
    cs_detok *d = cs_calloc(1, sizeof *d);
    if (!d) return NULL;
    d->v = v;
    d->special = special;
    return d;
}

void cs_detok_free(cs_detok *d) {
    if (!d) return;
    free(d->in);
    free(d->out);
    free(d);
}

void cs_detok_reset(cs_detok *d) { d->n_pend = 0; }

static const char k_replacement[3] = {(char)0xEF, (char)0xBF, (char)0xBD}; /* U+FFFD */

const char *cs_detok_push(cs_detok *d, int32_t token, size_t *len) {
    *len = 0;
    if (token < 0 || token >= d->v->n) {
        cs_set_error("token %d is outside the vocabulary", (int)token);
        return NULL;
    }
    size_t pl = printed(d->v, token, d->special) ? d->v->piece_len[token] : 0;
    size_t n = d->n_pend + pl;
    if (n + 1 > d->in_cap || 3 * n + 1 > d->out_cap) {
        size_t c = (n + 1) * 2;
        uint8_t *ni = realloc(d->in, c);
        if (ni) d->in = ni;
        char *no = realloc(d->out, 3 * c);
        if (no) d->out = no;
        if (!ni || !no) {
            cs_set_error("out of memory");
            return NULL;
        }
        d->in_cap = c;
        d->out_cap = 3 * c;
    }
    memcpy(d->in, d->pend, d->n_pend);
    if (pl) memcpy(d->in + d->n_pend, d->v->piece + d->v->piece_off[token], pl);
    size_t i = 0, m = 0;
    d->n_pend = 0;
    while (i < n) {
        size_t l;
        int r = cs_utf8_check(d->in + i, n - i, &l);
        if (r == 1) {
            memcpy(d->out + m, d->in + i, l);
            m += l;
        } else if (r == 0) { /* incomplete at the end: hold it back */
            memcpy(d->pend, d->in + i, l);
            d->n_pend = l;
            break;
        } else {
            memcpy(d->out + m, k_replacement, 3);
            m += 3;
        }
        i += l;
    }
    d->out[m] = 0;
    *len = m;
    return d->out;
}

const char *cs_detok_flush(cs_detok *d, size_t *len) {
    static const char empty[1] = {0};
    static const char repl[4] = {(char)0xEF, (char)0xBF, (char)0xBD, 0};
    bool had = d->n_pend > 0;
    d->n_pend = 0;
    *len = had ? 3 : 0;
    return had ? repl : empty;
}
