/* api: the JSON side of the server. Requests are parsed with cJSON and
 * validated field by field (every wrong type, range or unsupported feature
 * is a 400 naming the parameter); responses follow OpenAI's chat.completion,
 * chat.completion.chunk and text_completion shapes, with DeepSeek's
 * reasoning_content next to content and its prompt cache counters in usage. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#include "server.h"

/* ---- errors ------------------------------------------------------------------ */

void srv_error_set(srv_error *e, int status, const char *code, const char *param, const char *fmt, ...) {
    e->status = status;
    e->type = status >= 500 ? "server_error" : "invalid_request_error";
    e->code = code;
    e->param = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
}

static cJSON *str_or_null(const char *s) { return s ? cJSON_CreateString(s) : cJSON_CreateNull(); }

static char *print_delete(cJSON *o) {
    char *s = o ? cJSON_PrintUnformatted(o) : NULL;
    cJSON_Delete(o);
    return s;
}

char *srv_error_json(const srv_error *e) {
    cJSON *o = cJSON_CreateObject(), *err = cJSON_AddObjectToObject(o, "error");
    if (!err) {
        cJSON_Delete(o);
        return NULL;
    }
    cJSON_AddStringToObject(err, "message", e->message);
    cJSON_AddStringToObject(err, "type", e->type ? e->type : "invalid_request_error");
    cJSON_AddItemToObject(err, "param", str_or_null(e->param));
    cJSON_AddItemToObject(err, "code", str_or_null(e->code));
    return print_delete(o);
}

bool srv_utf8_valid(const char *s, size_t len) {
    const utf8proc_uint8_t *p = (const utf8proc_uint8_t *)s;
    while (len > 0) {
        utf8proc_int32_t cp;
        utf8proc_ssize_t n = utf8proc_iterate(p, (utf8proc_ssize_t)(len > 4 ? 4 : len), &cp);
        if (n <= 0 || cp < 0) return false;
        p += n;
        len -= (size_t)n;
    }
    return true;
}

/* ---- request fields ---------------------------------------------------------- */

/* Set a 400 and return -1. */
static int __attribute__((format(printf, 4, 5))) bad_(srv_error *e, const char *code, const char *param,
                                                      const char *fmt, ...) {
    e->status = 400;
    e->type = "invalid_request_error";
    e->code = code;
    e->param = param;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return -1;
}
#define BAD(e, param, ...) bad_((e), "invalid_request_error", (param), __VA_ARGS__)
#define UNSUPPORTED(e, param, ...) bad_((e), "unsupported_parameter", (param), __VA_ARGS__)

static cJSON *field(const cJSON *o, const char *name) {
    cJSON *f = cJSON_GetObjectItemCaseSensitive(o, name);
    return f && !cJSON_IsNull(f) ? f : NULL; /* null means "not given" */
}

/* A number in [lo, hi] (finite: 1e309 parses as infinity and is refused). */
static int get_number(const cJSON *o, const char *name, double lo, double hi, float *out, srv_error *e) {
    cJSON *f = field(o, name);
    if (!f) return 0;
    if (!cJSON_IsNumber(f)) return BAD(e, name, "'%s' must be a number", name);
    double v = f->valuedouble;
    if (!isfinite(v) || v < lo || v > hi) return BAD(e, name, "'%s' must be between %g and %g", name, lo, hi);
    *out = (float)v;
    return 1;
}

/* An integer in [lo, hi]. */
static int get_int(const cJSON *o, const char *name, double lo, double hi, long long *out, srv_error *e) {
    cJSON *f = field(o, name);
    if (!f) return 0;
    double v = cJSON_IsNumber(f) ? f->valuedouble : NAN;
    if (!cJSON_IsNumber(f) || !isfinite(v) || v != floor(v))
        return BAD(e, name, "'%s' must be an integer", name);
    if (v < lo || v > hi) return BAD(e, name, "'%s' must be between %.0f and %.0f", name, lo, hi);
    *out = (long long)v;
    return 1;
}

static int get_bool(const cJSON *o, const char *name, bool *out, srv_error *e) {
    cJSON *f = field(o, name);
    if (!f) return 0;
    if (!cJSON_IsBool(f)) return BAD(e, name, "'%s' must be true or false", name);
    *out = cJSON_IsTrue(f);
    return 1;
}

/* Strings must be valid UTF-8 (cJSON keeps raw bytes as they are). */
static int check_string(const cJSON *f, const char *param, srv_error *e) {
    if (!srv_utf8_valid(f->valuestring, strlen(f->valuestring)))
        return BAD(e, param, "'%s' is not valid UTF-8", param);
    return 0;
}

static cJSON *parse_object(const char *body, size_t len, srv_error *e) {
    if (!srv_utf8_valid(body, len)) {
        BAD(e, NULL, "the request body is not valid UTF-8");
        return NULL;
    }
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(body, len, &end, false);
    if (root) {
        /* nothing but whitespace after the value */
        while (end && (size_t)(end - body) < len && strchr(" \t\r\n", *end)) end++;
        if (end && (size_t)(end - body) < len && *end) {
            cJSON_Delete(root);
            root = NULL;
        }
    }
    if (!root) {
        BAD(e, NULL, "the request body is not valid JSON");
        return NULL;
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        BAD(e, NULL, "the request body must be a JSON object");
        return NULL;
    }
    return root;
}

/* Fields that would change the answer's meaning: a clear 400, never ignored. */
static int refuse_unsupported(const cJSON *root, srv_kind kind, srv_error *e) {
    static const char *const chat[] = {"tools", "tool_choice", "functions", "function_call", "audio", "prediction",
                                       "modalities", NULL};
    static const char *const completion[] = {"suffix", "best_of", NULL};
    for (const char *const *n = kind == SRV_CHAT ? chat : completion; *n; n++)
        if (field(root, *n)) return UNSUPPORTED(e, *n, "'%s' is not supported by this server", *n);
    if (kind == SRV_CHAT) {
        cJSON *rf = field(root, "response_format");
        if (rf) {
            cJSON *t = cJSON_IsObject(rf) ? cJSON_GetObjectItemCaseSensitive(rf, "type") : NULL;
            if (!cJSON_IsString(t)) return BAD(e, "response_format", "'response_format' must be {\"type\": \"text\"}");
            if (strcmp(t->valuestring, "text"))
                return UNSUPPORTED(e, "response_format", "response_format type '%.64s' is not supported (only \"text\")",
                                   t->valuestring);
        }
    } else {
        cJSON *echo = field(root, "echo");
        if (echo && !cJSON_IsFalse(echo)) return UNSUPPORTED(e, "echo", "'echo' is not supported by this server");
        cJSON *lp = field(root, "logprobs");
        if (lp && !(cJSON_IsNumber(lp) && lp->valuedouble == 0) && !cJSON_IsFalse(lp))
            return UNSUPPORTED(e, "logprobs", "'logprobs' is not supported for completions (use /v1/chat/completions)");
    }
    return 0;
}

/* The fields chat and completion requests share. */
static int parse_common(const cJSON *root, srv_request *r, srv_error *e) {
    cs_sampler_params *s = &r->gen.sampling;
    long long n;
    int got;
    cJSON *f;
    if ((f = field(root, "model")) && !cJSON_IsString(f)) return BAD(e, "model", "'model' must be a string");
    if (get_bool(root, "stream", &r->stream, e) < 0) return -1;
    if ((f = field(root, "stream_options"))) {
        if (!cJSON_IsObject(f)) return BAD(e, "stream_options", "'stream_options' must be an object");
        if (get_bool(f, "include_usage", &r->include_usage, e) < 0) return -1;
        if (!r->stream) r->include_usage = false;
    }
    if ((got = get_int(root, "n", 1, 1e9, &n, e)) < 0) return -1;
    if (got && n != 1) return UNSUPPORTED(e, "n", "only n = 1 is supported");
    if ((got = get_int(root, "max_tokens", 1, 2147483647.0, &n, e)) < 0) return -1;
    if (got) r->gen.max_tokens = (int)n;
    if ((got = get_int(root, "max_completion_tokens", 1, 2147483647.0, &n, e)) < 0) return -1;
    if (got) r->gen.max_tokens = (int)n;
    if (get_number(root, "temperature", 0, 2, &s->temperature, e) < 0) return -1;
    if (get_number(root, "top_p", 0, 1, &s->top_p, e) < 0) return -1;
    if (get_number(root, "presence_penalty", -2, 2, &s->presence_penalty, e) < 0) return -1;
    if (get_number(root, "frequency_penalty", -2, 2, &s->frequency_penalty, e) < 0) return -1;
    if ((got = get_int(root, "seed", -9.2e18, 9.2e18, &n, e)) < 0) return -1;
    if (got) s->seed = (uint64_t)n == CS_SAMPLER_SEED_RANDOM ? 0 : (uint64_t)n;
    if ((f = field(root, "stop"))) {
        int k = 0;
        if (cJSON_IsString(f)) {
            if (check_string(f, "stop", e)) return -1;
            if (f->valuestring[0] && !(r->stop[k++] = strdup(f->valuestring))) goto oom;
        } else if (cJSON_IsArray(f)) {
            if (cJSON_GetArraySize(f) > SRV_MAX_STOP) return BAD(e, "stop", "'stop' takes at most 4 strings");
            cJSON *it;
            cJSON_ArrayForEach(it, f) {
                if (!cJSON_IsString(it)) return BAD(e, "stop", "'stop' must be a string or a list of strings");
                if (check_string(it, "stop", e)) return -1;
                if (it->valuestring[0] && !(r->stop[k++] = strdup(it->valuestring))) goto oom;
            }
        } else {
            return BAD(e, "stop", "'stop' must be a string or a list of strings");
        }
        r->gen.n_stop = k;
        r->gen.stop = (const char *const *)r->stop;
    }
    return 0;
oom:
    srv_error_set(e, 500, "out_of_memory", NULL, "out of memory");
    return -1;
}

static void request_init(srv_request *r, srv_kind kind) {
    memset(r, 0, sizeof *r);
    r->kind = kind;
    cs_gen_params_init(&r->gen);
    /* OpenAI's defaults: temperature 1, top_p 1; penalties count every generated token */
    r->gen.sampling.temperature = 1.0f;
    r->gen.sampling.top_p = 1.0f;
    r->gen.sampling.repeat_last_n = -1;
}

void srv_request_free(srv_request *r) {
    for (int i = 0; i < SRV_MAX_STOP; i++) free(r->stop[i]);
    free(r->prompt);
    memset(r, 0, sizeof *r);
}

/* A message's content: a string, or a list of {"type":"text","text":...} parts. */
static char *message_content(const cJSON *c, int i, srv_error *e) {
    char param[48];
    snprintf(param, sizeof param, "messages[%d].content", i);
    if (cJSON_IsString(c)) {
        if (!srv_utf8_valid(c->valuestring, strlen(c->valuestring))) {
            BAD(e, "messages", "%s is not valid UTF-8", param);
            return NULL;
        }
        char *s = strdup(c->valuestring);
        if (!s) srv_error_set(e, 500, "out_of_memory", NULL, "out of memory");
        return s;
    }
    if (!cJSON_IsArray(c)) {
        BAD(e, "messages", "%s must be a string or a list of text parts", param);
        return NULL;
    }
    size_t len = 0;
    char *out = calloc(1, 1);
    cJSON *part;
    cJSON_ArrayForEach(part, c) {
        cJSON *type = cJSON_IsObject(part) ? cJSON_GetObjectItemCaseSensitive(part, "type") : NULL;
        cJSON *text = cJSON_IsObject(part) ? cJSON_GetObjectItemCaseSensitive(part, "text") : NULL;
        if (!cJSON_IsString(type)) {
            BAD(e, "messages", "each part of %s must be an object with a \"type\"", param);
            goto fail;
        }
        if (strcmp(type->valuestring, "text")) {
            UNSUPPORTED(e, "messages", "content parts of type '%.32s' are not supported (only \"text\")",
                        type->valuestring);
            goto fail;
        }
        if (!cJSON_IsString(text)) {
            BAD(e, "messages", "a text part of %s needs a string \"text\"", param);
            goto fail;
        }
        size_t n = strlen(text->valuestring);
        if (!srv_utf8_valid(text->valuestring, n)) {
            BAD(e, "messages", "%s is not valid UTF-8", param);
            goto fail;
        }
        char *o = out ? realloc(out, len + n + 1) : NULL;
        if (!o) {
            srv_error_set(e, 500, "out_of_memory", NULL, "out of memory");
            goto fail;
        }
        out = o;
        memcpy(out + len, text->valuestring, n + 1);
        len += n;
    }
    if (!out) srv_error_set(e, 500, "out_of_memory", NULL, "out of memory");
    return out;
fail:
    free(out);
    return NULL;
}

int srv_parse_chat(const char *body, size_t len, cs_chat_format fmt, srv_request *r, srv_error *e) {
    request_init(r, SRV_CHAT);
    cJSON *root = parse_object(body, len, e);
    if (!root) return -1;
    int rc = -1, n = 0;
    cs_chat_message *msgs = NULL;
    char **texts = NULL;
    if (refuse_unsupported(root, SRV_CHAT, e) || parse_common(root, r, e)) goto out;
    if (get_bool(root, "logprobs", &r->logprobs, e) < 0) goto out;
    long long top = 0;
    int got = get_int(root, "top_logprobs", 0, SRV_MAX_TOP_LOGPROBS, &top, e);
    if (got < 0) goto out;
    if (got && top > 0 && !r->logprobs) {
        BAD(e, "top_logprobs", "'top_logprobs' needs 'logprobs': true");
        goto out;
    }
    r->top_logprobs = (int)top;

    cJSON *m = cJSON_GetObjectItemCaseSensitive(root, "messages");
    if (!m) {
        BAD(e, "messages", "'messages' is required");
        goto out;
    }
    if (!cJSON_IsArray(m) || cJSON_GetArraySize(m) == 0) {
        BAD(e, "messages", "'messages' must be a non-empty list");
        goto out;
    }
    int count = cJSON_GetArraySize(m);
    msgs = calloc((size_t)count, sizeof *msgs);
    texts = calloc((size_t)count, sizeof *texts);
    if (!msgs || !texts) {
        srv_error_set(e, 500, "out_of_memory", NULL, "out of memory");
        goto out;
    }
    cJSON *it;
    cJSON_ArrayForEach(it, m) {
        cJSON *role = cJSON_IsObject(it) ? cJSON_GetObjectItemCaseSensitive(it, "role") : NULL;
        if (!cJSON_IsObject(it)) {
            BAD(e, "messages", "messages[%d] must be an object", n);
            goto out;
        }
        if (!cJSON_IsString(role)) {
            BAD(e, "messages", "messages[%d].role must be a string", n);
            goto out;
        }
        cs_chat_role cr;
        if (cs_chat_role_from_name(role->valuestring, &cr) != 0) {
            if (!strcmp(role->valuestring, "tool") || !strcmp(role->valuestring, "function"))
                UNSUPPORTED(e, "messages", "messages[%d]: role '%s' is not supported (no tool calls)", n,
                            role->valuestring);
            else
                BAD(e, "messages", "messages[%d]: unknown role (system, developer, user or assistant)", n);
            goto out;
        }
        if (field(it, "tool_calls") || field(it, "function_call")) {
            UNSUPPORTED(e, "messages", "messages[%d]: tool calls are not supported", n);
            goto out;
        }
        cJSON *c = cJSON_GetObjectItemCaseSensitive(it, "content");
        if (!c || cJSON_IsNull(c)) {
            if (cr != CS_ROLE_ASSISTANT) {
                BAD(e, "messages", "messages[%d].content is required", n);
                goto out;
            }
            texts[n] = strdup("");
        } else {
            texts[n] = message_content(c, n, e);
        }
        if (!texts[n]) {
            if (!c || cJSON_IsNull(c)) srv_error_set(e, 500, "out_of_memory", NULL, "out of memory");
            goto out;
        }
        /* an assistant's reasoning_content is dropped, as R1's template drops past reasoning */
        msgs[n].role = cr;
        msgs[n].content = texts[n];
        n++;
    }
    r->prompt = cs_chat_render(fmt, msgs, n, true);
    if (!r->prompt) {
        srv_error_set(e, 500, "server_error", NULL, "cannot render the chat: %.200s", cs_last_error());
        goto out;
    }
    r->gen.think_prefilled = cs_chat_format_prefills_think(fmt);
    rc = 0;
out:
    for (int i = 0; texts && i < count; i++) free(texts[i]);
    free(texts);
    free(msgs);
    cJSON_Delete(root);
    if (rc) srv_request_free(r);
    return rc;
}

int srv_parse_completion(const char *body, size_t len, srv_request *r, srv_error *e) {
    request_init(r, SRV_COMPLETION);
    r->gen.max_tokens = 16; /* OpenAI's default for completions */
    r->gen.split_reasoning = false;
    cJSON *root = parse_object(body, len, e);
    if (!root) return -1;
    int rc = -1;
    if (refuse_unsupported(root, SRV_COMPLETION, e) || parse_common(root, r, e)) goto out;
    cJSON *p = cJSON_GetObjectItemCaseSensitive(root, "prompt");
    if (cJSON_IsArray(p) && cJSON_GetArraySize(p) == 1 && cJSON_IsString(cJSON_GetArrayItem(p, 0)))
        p = cJSON_GetArrayItem(p, 0);
    if (!p) {
        BAD(e, "prompt", "'prompt' is required");
        goto out;
    }
    if (!cJSON_IsString(p)) {
        BAD(e, "prompt", "'prompt' must be a string");
        goto out;
    }
    if (check_string(p, "prompt", e)) goto out;
    if (!(r->prompt = strdup(p->valuestring))) {
        srv_error_set(e, 500, "out_of_memory", NULL, "out of memory");
        goto out;
    }
    rc = 0;
out:
    cJSON_Delete(root);
    if (rc) srv_request_free(r);
    return rc;
}

/* ---- tokenize / detokenize / models ------------------------------------------ */

/* A piece as a JSON string when it is valid UTF-8, else as a list of bytes. */
static cJSON *piece_json(const char *p, int n) {
    if (srv_utf8_valid(p, (size_t)n) && !memchr(p, 0, (size_t)n)) {
        char tmp[256];
        if (n < (int)sizeof tmp) {
            memcpy(tmp, p, (size_t)n);
            tmp[n] = 0;
            return cJSON_CreateString(tmp);
        }
    }
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber((unsigned char)p[i]));
    return a;
}

char *srv_tokenize_json(const cs_vocab *v, const char *body, size_t len, srv_error *e) {
    cJSON *root = parse_object(body, len, e);
    if (!root) return NULL;
    char *out = NULL;
    int32_t *toks = NULL;
    bool add_special = false, parse_special = true, pieces = false;
    cJSON *c = cJSON_GetObjectItemCaseSensitive(root, "content");
    if (!cJSON_IsString(c)) {
        BAD(e, "content", "'content' must be a string");
        goto out;
    }
    if (check_string(c, "content", e) || get_bool(root, "add_special", &add_special, e) < 0 ||
        get_bool(root, "parse_special", &parse_special, e) < 0 || get_bool(root, "with_pieces", &pieces, e) < 0)
        goto out;
    size_t n = strlen(c->valuestring);
    int cap = (int)n + 8;
    if (!(toks = malloc((size_t)cap * sizeof *toks))) goto oom;
    int nt = cs_tokenize(v, c->valuestring, n, toks, cap, add_special && cs_vocab_add_bos(v), parse_special);
    if (nt < 0) {
        srv_error_set(e, 500, "server_error", NULL, "tokenizer: %.200s", cs_last_error());
        goto out;
    }
    cJSON *o = cJSON_CreateObject(), *a = cJSON_AddArrayToObject(o, "tokens");
    for (int i = 0; a && i < nt; i++) {
        if (!pieces) {
            cJSON_AddItemToArray(a, cJSON_CreateNumber(toks[i]));
            continue;
        }
        char buf[256];
        int pl = cs_token_to_piece(v, toks[i], buf, sizeof buf, true);
        cJSON *t = cJSON_CreateObject();
        cJSON_AddNumberToObject(t, "id", toks[i]);
        cJSON_AddItemToObject(t, "piece", piece_json(buf, pl > 0 ? pl : 0));
        cJSON_AddItemToArray(a, t);
    }
    if (!(out = print_delete(o))) goto oom;
    goto out;
oom:
    srv_error_set(e, 500, "out_of_memory", NULL, "out of memory");
out:
    free(toks);
    cJSON_Delete(root);
    return out;
}

char *srv_detokenize_json(const cs_vocab *v, const char *body, size_t len, srv_error *e) {
    cJSON *root = parse_object(body, len, e);
    if (!root) return NULL;
    char *out = NULL, *text = NULL;
    size_t tl = 0;
    cs_detok *d = NULL;
    cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "tokens");
    if (!cJSON_IsArray(a)) {
        BAD(e, "tokens", "'tokens' must be a list of token ids");
        goto out;
    }
    if (!(d = cs_detok_new(v, true)) || !(text = calloc(1, 1))) goto oom;
    cJSON *it;
    int i = 0;
    cJSON_ArrayForEach(it, a) {
        double x = cJSON_IsNumber(it) ? it->valuedouble : -1;
        if (!(x >= 0 && x < cs_vocab_n_tokens(v) && x == floor(x))) {
            BAD(e, "tokens", "tokens[%d] is not a token id (0 to %d)", i, cs_vocab_n_tokens(v) - 1);
            goto out;
        }
        size_t n = 0;
        const char *p = cs_detok_push(d, (int32_t)x, &n);
        for (int pass = 0; pass < 2; pass++) {
            if (p && n) {
                char *t = realloc(text, tl + n + 1);
                if (!t) goto oom;
                text = t;
                memcpy(text + tl, p, n);
                tl += n;
                text[tl] = 0;
            }
            if (pass == 0 && !it->next) p = cs_detok_flush(d, &n); /* the last token: release held bytes */
            else break;
        }
        i++;
    }
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "content", text);
    if (!(out = print_delete(o))) goto oom;
    goto out;
oom:
    srv_error_set(e, 500, "out_of_memory", NULL, "out of memory");
out:
    cs_detok_free(d);
    free(text);
    cJSON_Delete(root);
    return out;
}

char *srv_models_json(const char *alias, long created) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "object", "list");
    cJSON *a = cJSON_AddArrayToObject(o, "data"), *m = cJSON_CreateObject();
    cJSON_AddStringToObject(m, "id", alias);
    cJSON_AddStringToObject(m, "object", "model");
    cJSON_AddNumberToObject(m, "created", (double)created);
    cJSON_AddStringToObject(m, "owned_by", "cseek");
    cJSON_AddItemToArray(a, m);
    return print_delete(o);
}

/* ---- responses ------------------------------------------------------------------ */

static void append(char **buf, size_t *len, const char *s, size_t n, bool *oom) {
    char *b = realloc(*buf, *len + n + 1);
    if (!b) {
        *oom = true;
        return;
    }
    memcpy(b + *len, s, n);
    *len += n;
    b[*len] = 0;
    *buf = b;
}

/* The fields every response and chunk starts with. */
static cJSON *envelope(const srv_job *j, const char *object) {
    cJSON *o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "id", j->id);
    cJSON_AddStringToObject(o, "object", object);
    cJSON_AddNumberToObject(o, "created", (double)j->created);
    cJSON_AddStringToObject(o, "model", j->model);
    cJSON_AddStringToObject(o, "system_fingerprint", "cseek-" CSEEK_VERSION);
    return o;
}

static cJSON *usage_json(const srv_job *j) {
    cJSON *u = cJSON_CreateObject();
    cJSON_AddNumberToObject(u, "prompt_tokens", j->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", j->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", j->n_prompt + j->n_gen);
    cJSON_AddNumberToObject(u, "prompt_cache_hit_tokens", j->n_cached);
    cJSON_AddNumberToObject(u, "prompt_cache_miss_tokens", j->n_prompt - j->n_cached);
    cJSON *d = cJSON_AddObjectToObject(u, "completion_tokens_details");
    cJSON_AddNumberToObject(d, "reasoning_tokens", j->n_reasoning);
    cJSON *p = cJSON_AddObjectToObject(u, "prompt_tokens_details");
    cJSON_AddNumberToObject(p, "cached_tokens", j->n_cached);
    return u;
}

/* One SSE event "data: {json}\n\n" (deletes o). */
static void send_event(srv_job *j, cJSON *o) {
    char *s = print_delete(o);
    if (!s) {
        j->oom = true;
        return;
    }
    size_t n = strlen(s);
    char *ev = malloc(n + 9);
    if (ev) {
        memcpy(ev, "data: ", 6);
        memcpy(ev + 6, s, n);
        memcpy(ev + 6 + n, "\n\n", 3);
        srv_job_write(j, ev, n + 8);
    }
    free(ev);
    free(s);
}

/* A chunk with one choice: a chat delta or a completion's text. */
static cJSON *chunk(srv_job *j, cJSON **choice_out) {
    cJSON *o = envelope(j, j->req.kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion");
    cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *c = cJSON_CreateObject();
    cJSON_AddNumberToObject(c, "index", 0);
    cJSON_AddItemToArray(choices, c);
    *choice_out = c;
    return o;
}

void srv_out_admitted(srv_job *j) {
    if (!j->req.stream || j->req.kind != SRV_CHAT || j->sent_role) return;
    j->sent_role = true;
    cJSON *c, *o = chunk(j, &c);
    cJSON *d = cJSON_AddObjectToObject(c, "delta");
    cJSON_AddStringToObject(d, "role", "assistant");
    cJSON_AddStringToObject(d, "content", "");
    cJSON_AddNullToObject(c, "logprobs");
    cJSON_AddNullToObject(c, "finish_reason");
    send_event(j, o);
}

void srv_out_text(srv_job *j, cs_text_kind kind, const char *text, size_t len) {
    int k = kind == CS_REASONING ? 0 : 1;
    if (j->req.stream)
        append(&j->step[k], &j->step_len[k], text, len, &j->oom);
    else
        append(&j->text[k], &j->text_len[k], text, len, &j->oom);
}

static cJSON *logprob_entry(const cs_vocab *v, int32_t tok, float lp) {
    char buf[256];
    int n = cs_token_to_piece(v, tok, buf, sizeof buf, true);
    if (n < 0) n = 0;
    cJSON *t = cJSON_CreateObject();
    bool ok = srv_utf8_valid(buf, (size_t)n) && !memchr(buf, 0, (size_t)n);
    buf[n < (int)sizeof buf ? n : (int)sizeof buf - 1] = 0;
    cJSON_AddStringToObject(t, "token", ok ? buf : "");
    cJSON_AddNumberToObject(t, "logprob", isfinite(lp) ? lp : -9999.0);
    cJSON *b = cJSON_AddArrayToObject(t, "bytes");
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(b, cJSON_CreateNumber((unsigned char)buf[i]));
    return t;
}

void srv_out_logprob(srv_job *j, const cs_vocab *v, int32_t tok, float lp, const int32_t *ids, const float *lps,
                     int n_top) {
    cJSON **list = (cJSON **)(j->req.stream ? &j->lp_step : &j->lp_all);
    if (!*list && !(*list = cJSON_CreateArray())) {
        j->oom = true;
        return;
    }
    cJSON *t = logprob_entry(v, tok, lp), *top = cJSON_AddArrayToObject(t, "top_logprobs");
    for (int i = 0; i < n_top; i++) cJSON_AddItemToArray(top, logprob_entry(v, ids[i], lps[i]));
    cJSON_AddItemToArray(*list, t);
}

/* logprobs for a choice: {"content": [...]} or null; takes the list. */
static void attach_logprobs(srv_job *j, cJSON *choice, cJSON **list) {
    if (!j->req.logprobs) {
        cJSON_AddNullToObject(choice, "logprobs");
        return;
    }
    cJSON *l = cJSON_AddObjectToObject(choice, "logprobs");
    cJSON_AddItemToObject(l, "content", *list ? *list : cJSON_CreateArray());
    *list = NULL;
}

static void send_delta(srv_job *j, int k, const char *text, const char *finish, bool with_logprobs) {
    cJSON *c, *o = chunk(j, &c);
    if (j->req.kind == SRV_CHAT) {
        cJSON *d = cJSON_AddObjectToObject(c, "delta");
        if (text) {
            cJSON_AddItemToObject(d, "content", k == 1 ? cJSON_CreateString(text) : cJSON_CreateNull());
            cJSON_AddItemToObject(d, "reasoning_content", k == 0 ? cJSON_CreateString(text) : cJSON_CreateNull());
        }
        if (with_logprobs)
            attach_logprobs(j, c, (cJSON **)&j->lp_step);
        else
            cJSON_AddNullToObject(c, "logprobs");
    } else {
        cJSON_AddStringToObject(c, "text", text ? text : "");
        cJSON_AddNullToObject(c, "logprobs");
    }
    cJSON_AddItemToObject(c, "finish_reason", str_or_null(finish));
    send_event(j, o);
}

void srv_out_flush(srv_job *j) {
    if (!j->req.stream) return;
    int last = j->step_len[1] ? 1 : j->step_len[0] ? 0 : -1;
    for (int k = 0; k < 2; k++) {
        if (!j->step_len[k]) continue;
        send_delta(j, k, j->step[k], NULL, k == last);
        j->step_len[k] = 0;
    }
}

static const char *finish_reason(cs_gen_status s) { return s == CS_GEN_LENGTH ? "length" : "stop"; }

static void finish_stream(srv_job *j, cs_gen_status status, const char *error) {
    srv_out_flush(j);
    if (error) {
        srv_error e;
        srv_error_set(&e, 500, "server_error", NULL, "%s", error);
        char *s = srv_error_json(&e);
        if (s) {
            srv_job_write(j, "data: ", 6);
            srv_job_write(j, s, strlen(s));
            srv_job_write(j, "\n\n", 2);
        }
        free(s);
    } else if (status != CS_GEN_CANCELLED) {
        send_delta(j, 1, NULL, finish_reason(status), j->lp_step != NULL);
        if (j->req.include_usage) {
            cJSON *o = envelope(j, j->req.kind == SRV_CHAT ? "chat.completion.chunk" : "text_completion");
            cJSON_AddArrayToObject(o, "choices");
            cJSON_AddItemToObject(o, "usage", usage_json(j));
            send_event(j, o);
        }
    }
    srv_job_write(j, "data: [DONE]\n\n", 14);
}

static void finish_body(srv_job *j, cs_gen_status status, const char *error) {
    srv_error e;
    char *s = NULL;
    if (error || status == CS_GEN_CANCELLED) {
        if (error)
            srv_error_set(&e, 500, "server_error", NULL, "%s", error);
        else
            srv_error_set(&e, 503, "cancelled", NULL, "the request was cancelled (the server is stopping)");
        pthread_mutex_lock(&j->mu);
        j->http_status = e.status;
        pthread_mutex_unlock(&j->mu);
        s = srv_error_json(&e);
    } else {
        bool chat = j->req.kind == SRV_CHAT;
        cJSON *o = envelope(j, chat ? "chat.completion" : "text_completion");
        cJSON *choices = cJSON_AddArrayToObject(o, "choices"), *c = cJSON_CreateObject();
        cJSON_AddNumberToObject(c, "index", 0);
        if (chat) {
            cJSON *m = cJSON_AddObjectToObject(c, "message");
            cJSON_AddStringToObject(m, "role", "assistant");
            cJSON_AddStringToObject(m, "content", j->text[1] ? j->text[1] : "");
            if (j->text[0] || j->req.gen.think_prefilled)
                cJSON_AddStringToObject(m, "reasoning_content", j->text[0] ? j->text[0] : "");
            else
                cJSON_AddNullToObject(m, "reasoning_content");
            attach_logprobs(j, c, (cJSON **)&j->lp_all);
        } else {
            cJSON_AddStringToObject(c, "text", j->text[1] ? j->text[1] : "");
            cJSON_AddNullToObject(c, "logprobs");
        }
        cJSON_AddStringToObject(c, "finish_reason", finish_reason(status));
        cJSON_AddItemToArray(choices, c);
        cJSON_AddItemToObject(o, "usage", usage_json(j));
        s = print_delete(o);
    }
    if (s) srv_job_write(j, s, strlen(s));
    else j->oom = true;
    free(s);
}

void srv_out_finish(srv_job *j, cs_gen_status status, const char *error) {
    if (j->req.stream)
        finish_stream(j, status, error);
    else
        finish_body(j, status, error);
    pthread_mutex_lock(&j->mu);
    j->status = status;
    if (j->oom && !j->req.stream) j->http_status = 500;
    j->done = true;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}

/* ---- jobs ------------------------------------------------------------------------ */

srv_job *srv_job_new(void) {
    srv_job *j = calloc(1, sizeof *j);
    if (!j) return NULL;
    pthread_mutex_init(&j->mu, NULL);
    pthread_cond_init(&j->cv, NULL);
    j->refs = 1;
    j->http_status = 200;
    atomic_init(&j->cancel, 0);
    return j;
}

void srv_job_ref(srv_job *j) {
    pthread_mutex_lock(&j->mu);
    j->refs++;
    pthread_mutex_unlock(&j->mu);
}

void srv_job_unref(srv_job *j) {
    if (!j) return;
    pthread_mutex_lock(&j->mu);
    int left = --j->refs;
    pthread_mutex_unlock(&j->mu);
    if (left) return;
    srv_request_free(&j->req);
    free(j->prompt);
    free(j->out);
    for (int k = 0; k < 2; k++) free(j->text[k]), free(j->step[k]);
    cJSON_Delete(j->lp_all);
    cJSON_Delete(j->lp_step);
    pthread_mutex_destroy(&j->mu);
    pthread_cond_destroy(&j->cv);
    free(j);
}

void srv_job_write(srv_job *j, const char *data, size_t len) {
    pthread_mutex_lock(&j->mu);
    if (j->out_sent == j->out_len) j->out_sent = j->out_len = 0; /* all read: reuse the buffer */
    if (j->out_len + len + 1 > j->out_cap) {
        size_t cap = j->out_cap * 2 > j->out_len + len + 1 ? j->out_cap * 2 : j->out_len + len + 4096;
        char *b = realloc(j->out, cap);
        if (!b) {
            j->oom = true;
            pthread_mutex_unlock(&j->mu);
            return;
        }
        j->out = b;
        j->out_cap = cap;
    }
    memcpy(j->out + j->out_len, data, len);
    j->out_len += len;
    j->out[j->out_len] = 0;
    pthread_cond_broadcast(&j->cv);
    pthread_mutex_unlock(&j->mu);
}
