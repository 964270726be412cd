/* chat: conversations rendered byte-exactly as the models' own Jinja chat
 * templates render them (no Jinja engine: each format is a few lines of C).
 *
 * deepseek-r1 / deepseek-v3 (tokenizer_config.json of DeepSeek-R1 and
 * DeepSeek-V3, without tools):
 *     BOS + the system messages joined by "\n\n"
 *     then in order: user      -> "<｜User｜>" + content
 *                    assistant -> "<｜Assistant｜>" + content + "<｜end▁of▁sentence｜>"
 *     generation prompt: "<｜Assistant｜><think>\n" (R1), "<｜Assistant｜>" (V3)
 *   R1 keeps only what follows the last "</think>" of an earlier answer
 *   (content.split('</think>')[-1], nothing stripped); V3's template has no
 *   such rule, so V3 answers go in unchanged. System messages are hoisted to
 *   the front wherever they appear, as the templates do.
 *
 * qwen2.5 (Qwen2.5-Instruct, without tools), ChatML:
 *     "<|im_start|>system\n" + first message if it is a system message, else
 *     "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."
 *     + "<|im_end|>\n"; then every other message as
 *     "<|im_start|>" + role + "\n" + content + "<|im_end|>\n"
 *     (later system messages stay where they are); generation prompt
 *     "<|im_start|>assistant\n". No BOS.
 *
 * llama3 (Meta-Llama-3-Instruct):
 *     "<|begin_of_text|>" then per message "<|start_header_id|>" + role +
 *     "<|end_header_id|>\n\n" + trim(content) + "<|eot_id|>"; generation
 *     prompt "<|start_header_id|>assistant<|end_header_id|>\n\n".
 *   Deliberate deviations: the template puts the BOS before the first
 *   message, so an empty conversation would lack it; we always emit it.
 *   Jinja's trim strips Unicode whitespace; we strip ASCII whitespace.
 *   Llama 3.1's extra "Cutting Knowledge Date" system header is not added. */
#include "cseek.h"

#include <stdlib.h>
#include <string.h>

#include "../base/base.h"

#define DS_BOS "<｜begin▁of▁sentence｜>"
#define DS_EOS "<｜end▁of▁sentence｜>"
#define DS_USER "<｜User｜>"
#define DS_ASSISTANT "<｜Assistant｜>"
#define QWEN_DEFAULT_SYSTEM "You are Qwen, created by Alibaba Cloud. You are a helpful assistant."

static const char *const format_names[CS_CHAT_N_FORMATS + 1] = {
    [CS_CHAT_DEEPSEEK_R1] = "deepseek-r1",
    [CS_CHAT_DEEPSEEK_V3] = "deepseek-v3",
    [CS_CHAT_QWEN25] = "qwen2.5",
    [CS_CHAT_LLAMA3] = "llama3",
    [CS_CHAT_N_FORMATS] = NULL,
};

static bool format_ok(cs_chat_format f) { return (unsigned)f < CS_CHAT_N_FORMATS; }

const char *const *cs_chat_format_names(void) { return format_names; }

const char *cs_chat_format_name(cs_chat_format f) { return format_ok(f) ? format_names[f] : "unknown"; }

int cs_chat_format_from_name(const char *name, cs_chat_format *out) {
    for (int i = 0; name && i < CS_CHAT_N_FORMATS; i++)
        if (strcmp(name, format_names[i]) == 0) {
            *out = (cs_chat_format)i;
            return 0;
        }
    cs_set_error("unknown chat format '%s' (known: deepseek-r1, deepseek-v3, qwen2.5, llama3)",
                 name ? name : "(null)");
    return -1;
}

const char *cs_chat_format_bos(cs_chat_format f) {
    switch (f) {
    case CS_CHAT_DEEPSEEK_R1:
    case CS_CHAT_DEEPSEEK_V3: return DS_BOS;
    case CS_CHAT_LLAMA3: return "<|begin_of_text|>";
    default: return "";
    }
}

const char *cs_chat_format_end_of_turn(cs_chat_format f) {
    switch (f) {
    case CS_CHAT_DEEPSEEK_R1:
    case CS_CHAT_DEEPSEEK_V3: return DS_EOS;
    case CS_CHAT_QWEN25: return "<|im_end|>";
    case CS_CHAT_LLAMA3: return "<|eot_id|>";
    default: return "";
    }
}

bool cs_chat_format_prefills_think(cs_chat_format f) { return f == CS_CHAT_DEEPSEEK_R1; }

static int detect(const char *t) {
    if (!t) return -1;
    if (strstr(t, DS_ASSISTANT))
        return strstr(t, "<think>") || strstr(t, "</think>") ? CS_CHAT_DEEPSEEK_R1 : CS_CHAT_DEEPSEEK_V3;
    if (strstr(t, "<|im_start|>")) return CS_CHAT_QWEN25;
    if (strstr(t, "<|start_header_id|>")) return CS_CHAT_LLAMA3;
    return -1;
}

cs_chat_format cs_chat_format_detect(const char *jinja_template) {
    int f = detect(jinja_template);
    return f < 0 ? CS_CHAT_FORMAT_DEFAULT : (cs_chat_format)f;
}

bool cs_chat_template_recognized(const char *jinja_template) { return detect(jinja_template) >= 0; }

int cs_chat_role_from_name(const char *name, cs_chat_role *out) {
    if (name && (strcmp(name, "system") == 0 || strcmp(name, "developer") == 0)) *out = CS_ROLE_SYSTEM;
    else if (name && strcmp(name, "user") == 0) *out = CS_ROLE_USER;
    else if (name && strcmp(name, "assistant") == 0) *out = CS_ROLE_ASSISTANT;
    else {
        cs_set_error("unknown chat role '%s' (known: system, user, assistant)", name ? name : "(null)");
        return -1;
    }
    return 0;
}

static const char *role_name(cs_chat_role r) {
    switch (r) {
    case CS_ROLE_SYSTEM: return "system";
    case CS_ROLE_USER: return "user";
    default: return "assistant";
    }
}

/* ---- a growing string ------------------------------------------------------- */

typedef struct {
    char *s;
    size_t len, cap;
    bool failed;
} sbuf;

static void put_n(sbuf *b, const char *s, size_t n) {
    if (b->failed) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *p = realloc(b->s, cap);
        if (!p) {
            b->failed = true;
            return;
        }
        b->s = p;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = 0;
}

static void put(sbuf *b, const char *s) { put_n(b, s, strlen(s)); }

static const char *text_of(const cs_chat_message *m) { return m->content ? m->content : ""; }

/* What follows the last "</think>" (all of s when there is none). */
static const char *after_last_think_close(const char *s) {
    const char *r = s;
    for (const char *q = strstr(s, "</think>"); q; q = strstr(q + 1, "</think>")) r = q + 8;
    return r;
}

static bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

static void put_trimmed(sbuf *b, const char *s) {
    size_t n = strlen(s);
    while (n > 0 && is_ascii_space(s[n - 1])) n--;
    size_t i = 0;
    while (i < n && is_ascii_space(s[i])) i++;
    put_n(b, s + i, n - i);
}

static void render_deepseek(sbuf *b, cs_chat_format f, const cs_chat_message *msgs, int n, bool gen) {
    put(b, DS_BOS);
    bool first_sys = true;
    for (int i = 0; i < n; i++)
        if (msgs[i].role == CS_ROLE_SYSTEM) {
            if (!first_sys) put(b, "\n\n");
            put(b, text_of(&msgs[i]));
            first_sys = false;
        }
    for (int i = 0; i < n; i++) {
        const char *c = text_of(&msgs[i]);
        if (msgs[i].role == CS_ROLE_USER) {
            put(b, DS_USER);
            put(b, c);
        } else if (msgs[i].role == CS_ROLE_ASSISTANT) {
            put(b, DS_ASSISTANT);
            put(b, f == CS_CHAT_DEEPSEEK_R1 ? after_last_think_close(c) : c);
            put(b, DS_EOS);
        }
    }
    if (gen) put(b, f == CS_CHAT_DEEPSEEK_R1 ? DS_ASSISTANT "<think>\n" : DS_ASSISTANT);
}

static void render_qwen(sbuf *b, const cs_chat_message *msgs, int n, bool gen) {
    int start = 0;
    put(b, "<|im_start|>system\n");
    if (n > 0 && msgs[0].role == CS_ROLE_SYSTEM) {
        put(b, text_of(&msgs[0]));
        start = 1;
    } else {
        put(b, QWEN_DEFAULT_SYSTEM);
    }
    put(b, "<|im_end|>\n");
    for (int i = start; i < n; i++) {
        put(b, "<|im_start|>");
        put(b, role_name(msgs[i].role));
        put(b, "\n");
        put(b, text_of(&msgs[i]));
        put(b, "<|im_end|>\n");
    }
    if (gen) put(b, "<|im_start|>assistant\n");
}

static void render_llama3(sbuf *b, const cs_chat_message *msgs, int n, bool gen) {
    put(b, "<|begin_of_text|>");
    for (int i = 0; i < n; i++) {
        put(b, "<|start_header_id|>");
        put(b, role_name(msgs[i].role));
        put(b, "<|end_header_id|>\n\n");
        put_trimmed(b, text_of(&msgs[i]));
        put(b, "<|eot_id|>");
    }
    if (gen) put(b, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

char *cs_chat_render(cs_chat_format f, const cs_chat_message *msgs, int n, bool add_generation_prompt) {
    if (!format_ok(f)) {
        cs_set_error("chat: unknown format %d", (int)f);
        return NULL;
    }
    if (n < 0 || (n > 0 && !msgs)) {
        cs_set_error("chat: bad message list");
        return NULL;
    }
    for (int i = 0; i < n; i++)
        if ((unsigned)msgs[i].role > CS_ROLE_ASSISTANT) {
            cs_set_error("chat: message %d has an unknown role %d", i, (int)msgs[i].role);
            return NULL;
        }
    sbuf b = {0};
    put(&b, ""); /* an empty conversation still gives a string */
    switch (f) {
    case CS_CHAT_DEEPSEEK_R1:
    case CS_CHAT_DEEPSEEK_V3: render_deepseek(&b, f, msgs, n, add_generation_prompt); break;
    case CS_CHAT_QWEN25: render_qwen(&b, msgs, n, add_generation_prompt); break;
    case CS_CHAT_LLAMA3: render_llama3(&b, msgs, n, add_generation_prompt); break;
    default: break;
    }
    if (b.failed) {
        free(b.s);
        cs_set_error("chat: out of memory rendering the prompt");
        return NULL;
    }
    return b.s;
}
