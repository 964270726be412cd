/* The synthetic vocabulary of `cseek mkmodel`: GPT-2 byte tokens, merges
 * learned by byte-pair encoding on a small built-in English text, DeepSeek's
 * special tokens and padding (layout in synth.h). */
#include "synth.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../base/base.h"

/* Plain English prose for the merges: frequent words and word pieces become tokens. */
static const char training_text[] =
    "The small town sat at the edge of a wide river, and every morning the people who lived there walked "
    "down to the water to see what the night had brought. Some days there was nothing but mist; on other "
    "days the river carried branches, leaves, and once a wooden boat with no one in it. The children "
    "thought the boat had come from a place far away, where the mountains were high and the winters were "
    "long. Their parents were not so sure, but they let the children keep it, and it became the most "
    "important thing in the town for a whole summer.\n\n"
    "In the evening the old teacher would sit on the steps of the school and answer questions. What is "
    "the river made of? Why does the water move? Where does the rain come from, and where does it go "
    "when it is finished? She had an answer for each question, and when she did not know, she said so, "
    "which the children found even more interesting than the answers themselves.\n\n"
    "A computer is a machine that follows instructions. The instructions are written in a language that "
    "people can read and that the machine can translate into the simple steps it is able to perform. "
    "When a program runs, the computer reads the next instruction, does what it says, and moves on to "
    "the one after it. This happens many millions of times in every second, which is why a computer can "
    "seem to think, even though it is only doing what it was told to do.\n\n"
    "To solve a problem, first make sure that you understand the question. Write down what you know and "
    "what you want to find. Then think about a similar problem that you have solved before, and try to "
    "use the same method. If the problem is too hard, break it into smaller parts and solve each part on "
    "its own. When you have an answer, check it: put the numbers back into the question and see if "
    "everything works. For example, if three apples cost six dollars, then one apple costs two dollars, "
    "and ten apples cost twenty dollars.\n\n"
    "The weather changed quickly in the spring. In the morning the sky was clear and the air was warm, "
    "but by the afternoon dark clouds had gathered over the hills, and the wind began to blow from the "
    "north. Farmers looked at the sky and decided whether to work in the fields or to stay inside. Most "
    "of them had learned that it was better to wait than to be caught in the storm.\n\n"
    "Language models read text as a sequence of tokens. A token can be a whole word, a part of a word, or "
    "a single character. The model learns which token is likely to come next, given all the tokens that "
    "came before it. When it writes an answer, it chooses one token at a time, adds it to the text, and "
    "then chooses the next one. Thinking before answering often helps: the model can write down its "
    "reasoning first, and then give the final answer after it has considered the question carefully.\n\n"
    "There are many ways to learn something new. Some people like to read about it, some like to watch "
    "someone else do it, and some need to try it with their own hands. The best teachers know this and "
    "give their students different kinds of practice. They also know that making mistakes is part of "
    "learning, and that a student who is not afraid to be wrong will usually learn faster than one who "
    "is.\n\n"
    "The library was open every day except Sunday. It had books about history, science, music, and art, "
    "and a small room in the back where people could play chess. On Saturday afternoons the room was full, "
    "and the only sound was the quiet movement of the pieces on the boards. Nobody remembered who had "
    "started the tradition, but everyone agreed that it was one of the good things about the town.\n";

/* GPT-2's byte-to-unicode map: printable bytes stand for themselves, the
 * others are shifted to U+0100 and up in byte order. */
static unsigned byte_to_codepoint(unsigned b) {
    static unsigned map[256];
    static int ready;
    if (!ready) {
        unsigned n = 0;
        for (unsigned i = 0; i < 256; i++) {
            bool printable = (i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174);
            map[i] = printable ? i : 256 + n++;
        }
        ready = 1;
    }
    return map[b];
}

static size_t put_utf8(char *out, unsigned cp) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    out[0] = (char)(0xE0 | (cp >> 12));
    out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[2] = (char)(0x80 | (cp & 0x3F));
    return 3;
}

char *cs_synth_bytes_to_token(const char *bytes, size_t n) {
    char *s = cs_malloc(n * 2 + 1); /* code points < 0x800: at most 2 bytes each */
    if (!s) return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) k += put_utf8(s + k, byte_to_codepoint((unsigned char)bytes[i]));
    s[k] = 0;
    return s;
}

static char *dup_str(const char *s) {
    size_t n = strlen(s);
    char *d = cs_malloc(n + 1);
    if (d) memcpy(d, s, n + 1);
    return d;
}

int cs_synth_vocab_push(cs_synth_vocab *v, const char *text, int32_t type) {
    if (v->n_tokens == v->cap) {
        int cap = v->cap ? v->cap * 2 : 1024;
        char **t = realloc(v->tokens, (size_t)cap * sizeof *t);
        if (t) v->tokens = t;
        int32_t *ty = realloc(v->types, (size_t)cap * sizeof *ty);
        if (ty) v->types = ty;
        if (!t || !ty) {
            cs_set_error("out of memory building the vocabulary");
            return -1;
        }
        v->cap = cap;
    }
    char *s = dup_str(text);
    if (!s) return -1;
    v->tokens[v->n_tokens] = s;
    v->types[v->n_tokens] = type;
    return v->n_tokens++;
}

void cs_synth_vocab_free(cs_synth_vocab *v) {
    for (int i = 0; i < v->n_tokens; i++) free(v->tokens[i]);
    for (int i = 0; i < v->n_merges; i++) free(v->merges[i]);
    free(v->tokens);
    free(v->types);
    free(v->merges);
    memset(v, 0, sizeof *v);
}

/* ---- BPE training --------------------------------------------------------- */

typedef struct {
    int *sym; /* token ids */
    int len;
    int count;
} word;

typedef struct {
    uint64_t key; /* left << 32 | right */
    int count;
} pair_count;

static int cmp_pair(const void *a, const void *b) {
    uint64_t x = ((const pair_count *)a)->key, y = ((const pair_count *)b)->key;
    return x < y ? -1 : x > y;
}

static int char_class(unsigned char c) {
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')) return 1;
    if (c >= '0' && c <= '9') return 2;
    if (c == ' ' || c == '\n' || c == '\t' || c == '\r') return 0;
    return 3;
}

/* Split the text GPT-2 style: an optional space followed by a run of letters,
 * digits or punctuation; other whitespace runs on their own. Identical
 * chunks are counted once with their frequency. */
static int split_words(word **out, int *n_out) {
    const char *t = training_text;
    size_t n = strlen(t);
    int cap = 256, nw = 0;
    word *w = cs_malloc((size_t)cap * sizeof *w);
    if (!w) return -1;
    size_t i = 0;
    while (i < n) {
        size_t start = i;
        int cls = char_class((unsigned char)t[i]);
        if (t[i] == ' ' && i + 1 < n && char_class((unsigned char)t[i + 1]) != 0) {
            i++;
            cls = char_class((unsigned char)t[i]);
        }
        while (i < n && char_class((unsigned char)t[i]) == cls) {
            if (cls == 0 && t[i] == ' ' && i + 1 < n && char_class((unsigned char)t[i + 1]) != 0 && i > start) break;
            i++;
        }
        if (i == start) i++;
        size_t len = i - start;
        int found = -1;
        for (int k = 0; k < nw; k++) {
            if (w[k].len == (int)len) {
                bool same = true;
                for (size_t j = 0; j < len && same; j++) same = w[k].sym[j] == (unsigned char)t[start + j];
                if (same) {
                    found = k;
                    break;
                }
            }
        }
        if (found >= 0) {
            w[found].count++;
            continue;
        }
        if (nw == cap) {
            cap *= 2;
            word *nwp = realloc(w, (size_t)cap * sizeof *w);
            if (!nwp) {
                cs_set_error("out of memory building the vocabulary");
                goto fail;
            }
            w = nwp;
        }
        w[nw].sym = cs_malloc(len * sizeof(int));
        if (!w[nw].sym) goto fail;
        for (size_t j = 0; j < len; j++) w[nw].sym[j] = (unsigned char)t[start + j]; /* byte token id == byte */
        w[nw].len = (int)len;
        w[nw].count = 1;
        nw++;
    }
    *out = w;
    *n_out = nw;
    return 0;
fail:
    for (int k = 0; k < nw; k++) free(w[k].sym);
    free(w);
    return -1;
}

static int find_token(const cs_synth_vocab *v, const char *s) {
    for (int i = 0; i < v->n_tokens; i++)
        if (!strcmp(v->tokens[i], s)) return i;
    return -1;
}

/* Learn merges until the vocabulary holds max_tokens entries, max_merges
 * merges were made, or no pair occurs twice. */
static int train_merges(cs_synth_vocab *v, int max_tokens, int max_merges) {
    word *w = NULL;
    int nw = 0, rc = -1;
    if (split_words(&w, &nw)) return -1;
    size_t n_pairs_max = 0;
    for (int k = 0; k < nw; k++) n_pairs_max += (size_t)w[k].len;
    pair_count *pc = cs_malloc(n_pairs_max * sizeof *pc + 1);
    v->merges = cs_malloc((size_t)(max_merges > 0 ? max_merges : 1) * sizeof(char *));
    if (!pc || !v->merges) goto done;

    while (v->n_merges < max_merges && v->n_tokens < max_tokens) {
        size_t np = 0;
        for (int k = 0; k < nw; k++)
            for (int j = 0; j + 1 < w[k].len; j++)
                pc[np++] = (pair_count){((uint64_t)w[k].sym[j] << 32) | (uint32_t)w[k].sym[j + 1], w[k].count};
        if (!np) break;
        qsort(pc, np, sizeof *pc, cmp_pair);
        uint64_t best_key = 0;
        int best = 0;
        for (size_t a = 0; a < np;) {
            size_t b = a;
            int c = 0;
            while (b < np && pc[b].key == pc[a].key) c += pc[b++].count;
            if (c > best) { /* ties: the smallest (left, right) ids win */
                best = c;
                best_key = pc[a].key;
            }
            a = b;
        }
        if (best < 2) break;
        int left = (int)(best_key >> 32), right = (int)(uint32_t)best_key;
        const char *ls = v->tokens[left], *rs = v->tokens[right];
        size_t ll = strlen(ls), rl = strlen(rs);
        char *merged = cs_malloc(ll + rl + 1), *rule = cs_malloc(ll + rl + 2);
        if (!merged || !rule) {
            free(merged);
            free(rule);
            goto done;
        }
        memcpy(merged, ls, ll);
        memcpy(merged + ll, rs, rl + 1);
        memcpy(rule, ls, ll);
        rule[ll] = ' ';
        memcpy(rule + ll + 1, rs, rl + 1);
        int id = find_token(v, merged);
        if (id < 0) id = cs_synth_vocab_push(v, merged, CS_TOK_NORMAL);
        free(merged);
        if (id < 0) {
            free(rule);
            goto done;
        }
        v->merges[v->n_merges++] = rule;
        for (int k = 0; k < nw; k++) {
            int o = 0;
            for (int j = 0; j < w[k].len; j++) {
                if (j + 1 < w[k].len && w[k].sym[j] == left && w[k].sym[j + 1] == right) {
                    w[k].sym[o++] = id;
                    j++;
                } else {
                    w[k].sym[o++] = w[k].sym[j];
                }
            }
            w[k].len = o;
        }
    }
    rc = 0;
done:
    free(pc);
    for (int k = 0; k < nw; k++) free(w[k].sym);
    free(w);
    return rc;
}

int cs_synth_vocab_build(cs_synth_vocab *v, int n_vocab, int max_merges) {
    memset(v, 0, sizeof *v);
    if (n_vocab != 0 && n_vocab < CS_SYNTH_MIN_VOCAB) {
        cs_set_error("n_vocab %d is too small: the byte tokens and special tokens need %d", n_vocab, CS_SYNTH_MIN_VOCAB);
        return -1;
    }
    for (unsigned b = 0; b < 256; b++) {
        char s[4] = {0};
        put_utf8(s, byte_to_codepoint(b));
        if (cs_synth_vocab_push(v, s, CS_TOK_NORMAL) < 0) goto fail;
    }
    int max_tokens = n_vocab ? n_vocab - CS_SYNTH_N_SPECIAL : 1 << 30;
    if (train_merges(v, max_tokens, max_merges)) goto fail;

    static const struct {
        const char *text;
        int type;
    } specials[CS_SYNTH_N_SPECIAL] = {
        {"<\uFF5Cbegin\u2581of\u2581sentence\uFF5C>", CS_TOK_CONTROL},
        {"<\uFF5Cend\u2581of\u2581sentence\uFF5C>", CS_TOK_CONTROL},
        {"<\uFF5CUser\uFF5C>", CS_TOK_CONTROL},
        {"<\uFF5CAssistant\uFF5C>", CS_TOK_CONTROL},
        {"<\uFF5C\u2581pad\u2581\uFF5C>", CS_TOK_CONTROL},
        {"<think>", CS_TOK_USER_DEFINED},
        {"</think>", CS_TOK_USER_DEFINED},
    };
    int first = v->n_tokens;
    for (int i = 0; i < CS_SYNTH_N_SPECIAL; i++)
        if (cs_synth_vocab_push(v, specials[i].text, specials[i].type) < 0) goto fail;
    v->bos = first;
    v->eos = first + 1;
    v->user = first + 2;
    v->assistant = first + 3;
    v->pad = first + 4;
    v->think = first + 5;
    v->end_think = first + 6;

    char pad[32];
    while (v->n_tokens < n_vocab) {
        snprintf(pad, sizeof pad, "[PAD%d]", v->n_tokens);
        if (cs_synth_vocab_push(v, pad, CS_TOK_UNUSED) < 0) goto fail;
    }
    return 0;
fail:
    cs_synth_vocab_free(v);
    return -1;
}

/* DeepSeek-R1's chat template (tokenizer_config.json of deepseek-ai/DeepSeek-R1):
 * <｜User｜>/<｜Assistant｜> turns, previous answers cut after '</think>',
 * the generation prompt opens with "<｜Assistant｜><think>\n". */
const char cs_synth_chat_template[] =
    "{% if not add_generation_prompt is defined %}{% set add_generation_prompt = false %}{% endif %}"
    "{% set ns = namespace(is_first=false, is_tool=false, is_output_first=true, system_prompt='', is_first_sp=true) %}"
    "{%- for message in messages %}{%- if message['role'] == 'system' %}{%- if ns.is_first_sp %}"
    "{% set ns.system_prompt = ns.system_prompt + message['content'] %}{% set ns.is_first_sp = false %}"
    "{%- else %}{% set ns.system_prompt = ns.system_prompt + '\\n\\n' + message['content'] %}{%- endif %}"
    "{%- endif %}{%- endfor %}{{ bos_token }}{{ ns.system_prompt }}"
    "{%- for message in messages %}{%- if message['role'] == 'user' %}{%- set ns.is_tool = false -%}"
    "{{'<\uFF5CUser\uFF5C>' + message['content']}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and 'tool_calls' in message %}{%- set ns.is_tool = false -%}"
    "{%- for tool in message['tool_calls'] %}{%- if not ns.is_first %}{%- if message['content'] is none %}"
    "{{'<\uFF5CAssistant\uFF5C><\uFF5Ctool\u2581calls\u2581begin\uFF5C><\uFF5Ctool\u2581call\u2581begin\uFF5C>' + tool['type'] + "
    "'<\uFF5Ctool\u2581sep\uFF5C>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + "
    "'\\n' + '```' + '<\uFF5Ctool\u2581call\u2581end\uFF5C>'}}"
    "{%- else %}{{'<\uFF5CAssistant\uFF5C>' + message['content'] + "
    "'<\uFF5Ctool\u2581calls\u2581begin\uFF5C><\uFF5Ctool\u2581call\u2581begin\uFF5C>' + tool['type'] + "
    "'<\uFF5Ctool\u2581sep\uFF5C>' + tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + "
    "'\\n' + '```' + '<\uFF5Ctool\u2581call\u2581end\uFF5C>'}}{%- endif %}{%- set ns.is_first = true -%}"
    "{%- else %}{{'\\n' + '<\uFF5Ctool\u2581call\u2581begin\uFF5C>' + tool['type'] + '<\uFF5Ctool\u2581sep\uFF5C>' + "
    "tool['function']['name'] + '\\n' + '```json' + '\\n' + tool['function']['arguments'] + '\\n' + '```' + "
    "'<\uFF5Ctool\u2581call\u2581end\uFF5C>'}}{%- endif %}{%- endfor %}"
    "{{'<\uFF5Ctool\u2581calls\u2581end\uFF5C><\uFF5Cend\u2581of\u2581sentence\uFF5C>'}}{%- endif %}"
    "{%- if message['role'] == 'assistant' and 'tool_calls' not in message %}{%- if ns.is_tool %}"
    "{{'<\uFF5Ctool\u2581outputs\u2581end\uFF5C>' + message['content'] + '<\uFF5Cend\u2581of\u2581sentence\uFF5C>'}}"
    "{%- set ns.is_tool = false -%}{%- else %}{% set content = message['content'] %}"
    "{% if '</think>' in content %}{% set content = content.split('</think>')[-1] %}{% endif %}"
    "{{'<\uFF5CAssistant\uFF5C>' + content + '<\uFF5Cend\u2581of\u2581sentence\uFF5C>'}}{%- endif %}{%- endif %}"
    "{%- if message['role'] == 'tool' %}{%- set ns.is_tool = true -%}{%- if ns.is_output_first %}"
    "{{'<\uFF5Ctool\u2581outputs\u2581begin\uFF5C><\uFF5Ctool\u2581output\u2581begin\uFF5C>' + message['content'] + "
    "'<\uFF5Ctool\u2581output\u2581end\uFF5C>'}}{%- set ns.is_output_first = false %}"
    "{%- else %}{{'<\uFF5Ctool\u2581output\u2581begin\uFF5C>' + message['content'] + '<\uFF5Ctool\u2581output\u2581end\uFF5C>'}}"
    "{%- endif %}{%- endif %}{%- endfor -%}"
    "{% if ns.is_tool %}{{'<\uFF5Ctool\u2581outputs\u2581end\uFF5C>'}}{% endif %}"
    "{% if add_generation_prompt and not ns.is_tool %}{{'<\uFF5CAssistant\uFF5C><think>\\n'}}{% endif %}";
