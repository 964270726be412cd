/* `cseek serve` end to end over real sockets: a scripted model's answers in
 * the OpenAI / DeepSeek shapes (plain and streamed), usage numbers, prefix
 * cache hits, limits, stop strings, the API key, tokenize / detokenize; then
 * hostile input (broken JSON, wrong types, huge numbers, invalid UTF-8, a
 * 10 MB body, unsupported features, a held half-sent request, a client that
 * hangs up mid-stream, a full queue). Each server must exit 0 on SIGTERM with
 * no sanitizer report on its stderr. */
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cseek.h"
#include "test.h"

#define REASONING "reasoning text"
#define ANSWER "The answer."
#define KEY "sk-test-42"

static char short_model[128], long_model[128];

/* ---- the server process ---------------------------------------------------------- */

typedef struct {
    pid_t pid;
    int port;
    char err_path[128];
} server;

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *b = malloc((size_t)n + 1);
    size_t got = fread(b, 1, (size_t)n, f);
    b[got] = 0;
    fclose(f);
    return b;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static void sleep_ms(int ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Starts `cseek serve -m MODEL --port 0 ARGS` and waits for its "on http://HOST:PORT/" line. */
static bool server_start(server *s, const char *model, const char *args) {
    static int n;
    snprintf(s->err_path, sizeof s->err_path, "/tmp/cseek_test_server_err.%d.%d", (int)getpid(), n++);
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "exec %s serve -m %s --port 0 -t 1 %s 2>%s >/dev/null </dev/null", t_cseek_bin(), model,
             args, s->err_path);
    s->pid = fork();
    if (s->pid == 0) {
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    s->port = 0;
    for (double t0 = now_s(); now_s() - t0 < 60;) {
        char *e = slurp(s->err_path);
        const char *p = strstr(e, "on http://127.0.0.1:");
        if (p) s->port = atoi(p + strlen("on http://127.0.0.1:"));
        free(e);
        if (s->port > 0) return true;
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) break;
        sleep_ms(20);
    }
    char *e = slurp(s->err_path);
    fprintf(stderr, "server did not start: %s\n", e);
    free(e);
    return false;
}

/* SIGTERM; returns the exit status (-1: killed by a signal) and checks stderr is clean. */
static int server_stop(server *s) {
    kill(s->pid, SIGTERM);
    int st = 0, rc = -1;
    for (double t0 = now_s(); now_s() - t0 < 30; sleep_ms(20))
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            rc = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
            break;
        }
    if (rc == -1 && !WIFEXITED(st)) {
        kill(s->pid, SIGKILL);
        waitpid(s->pid, &st, 0);
    }
    char *e = slurp(s->err_path);
    CHECKF(!strstr(e, "AddressSanitizer") && !strstr(e, "LeakSanitizer") && !strstr(e, "runtime error") &&
               !strstr(e, "ThreadSanitizer"),
           "sanitizer report on the server's stderr:\n%s", e);
    CHECKF(strstr(e, "SIGTERM: stopping"), "%s", e);
    if (getenv("CSEEK_TEST_SERVER_LOG")) fputs(e, stderr);
    free(e);
    unlink(s->err_path);
    return rc;
}

/* ---- a small HTTP client ------------------------------------------------------------- */

static int connect_to(int port, int rcvbuf) {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static bool send_all(int fd, const char *p, size_t n) {
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0) return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static void send_request(int fd, const char *method, const char *path, const char *auth, const char *body,
                         size_t blen) {
    char head[1024];
    int n = snprintf(head, sizeof head,
                     "%s %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n%s%s%sContent-Type: "
                     "application/json\r\nContent-Length: %zu\r\n\r\n",
                     method, path, auth ? "Authorization: Bearer " : "", auth ? auth : "", auth ? "\r\n" : "",
                     body ? blen : 0);
    send_all(fd, head, (size_t)n);
    if (body && blen) send_all(fd, body, blen);
}

typedef struct {
    int status;
    char *head, *body; /* body de-chunked */
} response;

/* Reads until the server closes (timeout_s at most). */
static char *read_all(int fd, size_t *len, double timeout_s) {
    size_t cap = 65536, n = 0;
    char *b = malloc(cap);
    double t0 = now_s();
    for (;;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) == 0) {
            if (now_s() - t0 > timeout_s) break;
            continue;
        }
        if (cap - n < 4096) b = realloc(b, cap *= 2);
        ssize_t r = recv(fd, b + n, cap - n - 1, 0);
        if (r <= 0) break;
        n += (size_t)r;
    }
    b[n] = 0;
    *len = n;
    return b;
}

static response parse_response(char *raw, size_t n) {
    response r = {0};
    char *sep = strstr(raw, "\r\n\r\n");
    if (!sep || sscanf(raw, "HTTP/1.%*d %d", &r.status) != 1) {
        r.head = strdup(raw);
        r.body = strdup("");
        return r;
    }
    *sep = 0;
    r.head = strdup(raw);
    char *p = sep + 4, *end = raw + n;
    if (strcasestr(r.head, "transfer-encoding: chunked")) {
        char *out = malloc((size_t)(end - p) + 1);
        size_t o = 0;
        while (p < end) {
            char *e;
            unsigned long sz = strtoul(p, &e, 16);
            char *crlf = strstr(p, "\r\n");
            if (!crlf || sz == 0) break;
            p = crlf + 2;
            if (p + sz > end) sz = (unsigned long)(end - p);
            memcpy(out + o, p, sz);
            o += sz;
            p += sz + 2;
        }
        out[o] = 0;
        r.body = out;
    } else {
        r.body = strdup(p);
    }
    return r;
}

static response http(int port, const char *method, const char *path, const char *auth, const char *body) {
    int fd = connect_to(port, 0);
    if (fd < 0) return (response){0, strdup(""), strdup("")};
    send_request(fd, method, path, auth, body, body ? strlen(body) : 0);
    size_t n;
    char *raw = read_all(fd, &n, 30);
    close(fd);
    response r = parse_response(raw, n);
    free(raw);
    return r;
}

static response post(int port, const char *path, const char *body) { return http(port, "POST", path, KEY, body); }

static void rfree(response *r) {
    free(r->head);
    free(r->body);
}

/* The error object's code, or "" */
static char *error_code(const response *r) {
    static char code[64];
    code[0] = 0;
    cJSON *o = cJSON_Parse(r->body);
    cJSON *e = cJSON_GetObjectItem(o, "error");
    cJSON *c = cJSON_GetObjectItem(e, "code");
    cJSON *m = cJSON_GetObjectItem(e, "message"), *t = cJSON_GetObjectItem(e, "type");
    if (cJSON_IsString(c) && cJSON_IsString(m) && cJSON_IsString(t) && cJSON_GetObjectItem(e, "param"))
        snprintf(code, sizeof code, "%s", c->valuestring);
    cJSON_Delete(o);
    return code;
}

/* The SSE events of a stream body: each "data: X" payload, in order. */
static int sse_events(const char *body, char **ev, int max) {
    int n = 0;
    const char *p = body;
    while (n < max && (p = strstr(p, "data: "))) {
        p += 6;
        const char *e = strstr(p, "\n\n");
        if (!e) break;
        ev[n++] = strndup(p, (size_t)(e - p));
        p = e + 2;
    }
    return n;
}

static const char *jstr(const cJSON *o, const char *path) {
    /* "a.b.0.c" */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
        cur = (*tok >= '0' && *tok <= '9') ? cJSON_GetArrayItem(cur, atoi(tok)) : cJSON_GetObjectItem(cur, tok);
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

static double jnum(const cJSON *o, const char *path) {
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *tok = strtok(buf, "."); tok && cur; tok = strtok(NULL, "."))
        cur = (*tok >= '0' && *tok <= '9') ? cJSON_GetArrayItem(cur, atoi(tok)) : cJSON_GetObjectItem(cur, tok);
    return cJSON_IsNumber(cur) ? cur->valuedouble : -12345;
}

static bool streq(const char *a, const char *b) { return a && b && !strcmp(a, b); }

/* The prompt tokens the server should count for one user message (R1 format). */
static int expected_prompt_tokens(const char *user) {
    cs_vocab *v = cs_vocab_load(short_model);
    cs_chat_message m = {CS_ROLE_USER, user};
    char *p = cs_chat_render(CS_CHAT_DEEPSEEK_R1, &m, 1, true);
    int32_t toks[4096];
    int n = v && p ? cs_tokenize(v, p, strlen(p), toks, 4096, false, true) : -1;
    free(p);
    cs_vocab_free(v);
    return n;
}

/* ---- tests ------------------------------------------------------------------------------ */

static server A; /* the scripted model, 2 slots, API key, small context */

static void make_models(void) {
    snprintf(short_model, sizeof short_model, "/tmp/cseek_test_server_short.%d.gguf", (int)getpid());
    snprintf(long_model, sizeof long_model, "/tmp/cseek_test_server_long.%d.gguf", (int)getpid());
    cs_mkmodel_params p = {.script = "<think>" REASONING "</think>" ANSWER, .out_path = short_model, .seed = 1};
    CHECKF(cs_mkmodel(&p) == 0, "%s", cs_last_error());
    /* a long answer: a stream that a client does not read holds its slot */
    size_t cap = 32768, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(s + n, cap - n, "<think>");
    for (int i = 0; i < 1500; i++) n += (size_t)snprintf(s + n, cap - n, " w%d", i);
    snprintf(s + n, cap - n, "</think>done.");
    p.script = s;
    p.out_path = long_model;
    CHECKF(cs_mkmodel(&p) == 0, "%s", cs_last_error());
    free(s);
    CHECK(server_start(&A, short_model, "--parallel 2 --ctx-size 256 --api-key " KEY));
}

static void chat_plain(void) {
    response r = post(A.port, "/v1/chat/completions",
                      "{\"model\":\"whatever\",\"messages\":[{\"role\":\"user\",\"content\":\"What is it?\"}]}");
    CHECKF(r.status == 200, "%d %s", r.status, r.body);
    CHECKF(strcasestr(r.head, "content-type: application/json"), "%s", r.head);
    cJSON *o = cJSON_Parse(r.body);
    CHECKF(o, "%s", r.body);
    CHECK(streq(jstr(o, "object"), "chat.completion"));
    CHECKF(jstr(o, "id") && !strncmp(jstr(o, "id"), "chatcmpl-", 9), "%s", r.body);
    CHECK(streq(jstr(o, "model"), "cseek-scripted"));
    CHECK(jnum(o, "created") > 1.6e9);
    CHECK(streq(jstr(o, "choices.0.message.role"), "assistant"));
    CHECKF(streq(jstr(o, "choices.0.message.content"), ANSWER), "%s", r.body);
    CHECKF(streq(jstr(o, "choices.0.message.reasoning_content"), REASONING), "%s", r.body);
    CHECK(streq(jstr(o, "choices.0.finish_reason"), "stop"));
    int np = expected_prompt_tokens("What is it?");
    CHECKF(jnum(o, "usage.prompt_tokens") == np, "want %d: %s", np, r.body);
    /* <think> reasoning " text" </think> The " answer." and the end token */
    CHECKF(jnum(o, "usage.completion_tokens") == 7, "%s", r.body);
    CHECKF(jnum(o, "usage.completion_tokens_details.reasoning_tokens") == 4, "%s", r.body);
    CHECK(jnum(o, "usage.total_tokens") == np + 7);
    CHECK(jnum(o, "usage.prompt_cache_hit_tokens") + jnum(o, "usage.prompt_cache_miss_tokens") == np);
    cJSON_Delete(o);
    rfree(&r);

    /* content as a list of text parts, developer as system, an assistant's reasoning dropped */
    r = post(A.port, "/chat/completions",
             "{\"messages\":[{\"role\":\"developer\",\"content\":\"Be brief.\"},{\"role\":\"user\",\"content\":"
             "[{\"type\":\"text\",\"text\":\"What \"},{\"type\":\"text\",\"text\":\"is it?\"}]},{\"role\":"
             "\"assistant\",\"content\":\"It.\",\"reasoning_content\":\"hmm\"},{\"role\":\"user\",\"content\":\"And?\"}]}");
    o = cJSON_Parse(r.body);
    CHECKF(r.status == 200 && streq(jstr(o, "choices.0.message.content"), ANSWER), "%d %s", r.status, r.body);
    cJSON_Delete(o);
    rfree(&r);
}

static void chat_stream(void) {
    response r = post(A.port, "/v1/chat/completions",
                      "{\"messages\":[{\"role\":\"user\",\"content\":\"Stream it\"}],\"stream\":true,"
                      "\"stream_options\":{\"include_usage\":true}}");
    CHECKF(r.status == 200, "%d %s", r.status, r.body);
    CHECKF(strcasestr(r.head, "content-type: text/event-stream"), "%s", r.head);
    char *ev[64];
    int n = sse_events(r.body, ev, 64);
    CHECKF(n >= 6, "%d events: %s", n, r.body);
    CHECK(n > 0 && !strcmp(ev[n - 1], "[DONE]"));
    char reasoning[256] = "", content[256] = "";
    bool role_first = false, order_ok = true, saw_content = false, usage_ok = false;
    const char *finish = NULL;
    char finish_buf[32] = "";
    for (int i = 0; i < n - 1; i++) {
        cJSON *o = cJSON_Parse(ev[i]);
        CHECKF(o && streq(jstr(o, "object"), "chat.completion.chunk"), "%s", ev[i]);
        cJSON *choices = cJSON_GetObjectItem(o, "choices");
        if (i == 0) role_first = streq(jstr(o, "choices.0.delta.role"), "assistant");
        if (cJSON_GetArraySize(choices) == 0) { /* the usage chunk, last before [DONE] */
            usage_ok = i == n - 2 && jnum(o, "usage.completion_tokens") == 7 &&
                       jnum(o, "usage.completion_tokens_details.reasoning_tokens") == 4 &&
                       jnum(o, "usage.prompt_tokens") == expected_prompt_tokens("Stream it");
        } else {
            const char *rc = jstr(o, "choices.0.delta.reasoning_content");
            const char *c = jstr(o, "choices.0.delta.content");
            if (rc) {
                strncat(reasoning, rc, sizeof reasoning - strlen(reasoning) - 1);
                if (saw_content) order_ok = false;
            }
            if (c && *c) {
                strncat(content, c, sizeof content - strlen(content) - 1);
                saw_content = true;
            }
            if (jstr(o, "choices.0.finish_reason")) {
                snprintf(finish_buf, sizeof finish_buf, "%s", jstr(o, "choices.0.finish_reason"));
                finish = finish_buf;
            }
        }
        cJSON_Delete(o);
    }
    CHECK(role_first);
    CHECK(order_ok);
    CHECKF(!strcmp(reasoning, REASONING), "'%s'", reasoning);
    CHECKF(!strcmp(content, ANSWER), "'%s'", content);
    CHECK(streq(finish, "stop"));
    CHECKF(usage_ok, "%s", r.body);
    for (int i = 0; i < n; i++) free(ev[i]);
    rfree(&r);

    /* without include_usage: no usage chunk */
    r = post(A.port, "/v1/chat/completions",
             "{\"messages\":[{\"role\":\"user\",\"content\":\"Stream it\"}],\"stream\":true}");
    CHECKF(r.status == 200 && !strstr(r.body, "\"usage\"") && strstr(r.body, "data: [DONE]\n\n"), "%s", r.body);
    rfree(&r);
}

static void completions(void) {
    response r = post(A.port, "/v1/completions", "{\"prompt\":\"Once upon\",\"max_tokens\":50}");
    cJSON *o = cJSON_Parse(r.body);
    CHECKF(r.status == 200 && streq(jstr(o, "object"), "text_completion"), "%s", r.body);
    /* raw text: the tags are part of it */
    CHECKF(streq(jstr(o, "choices.0.text"), "<think>" REASONING "</think>" ANSWER), "%s", r.body);
    CHECK(streq(jstr(o, "choices.0.finish_reason"), "stop"));
    CHECK(jnum(o, "usage.completion_tokens") == 7);
    cJSON_Delete(o);
    rfree(&r);

    r = post(A.port, "/v1/completions", "{\"prompt\":\"Once upon\",\"max_tokens\":50,\"stream\":true}");
    char *ev[32], text[256] = "";
    int n = sse_events(r.body, ev, 32);
    for (int i = 0; i < n - 1; i++) {
        cJSON *c = cJSON_Parse(ev[i]);
        if (jstr(c, "choices.0.text")) strncat(text, jstr(c, "choices.0.text"), sizeof text - strlen(text) - 1);
        cJSON_Delete(c);
    }
    CHECKF(n > 2 && !strcmp(ev[n - 1], "[DONE]") && !strcmp(text, "<think>" REASONING "</think>" ANSWER), "%s",
           r.body);
    for (int i = 0; i < n; i++) free(ev[i]);
    rfree(&r);
}

static void models_health_tokenize(void) {
    response r = http(A.port, "GET", "/v1/models", KEY, NULL);
    cJSON *o = cJSON_Parse(r.body);
    CHECKF(r.status == 200 && streq(jstr(o, "object"), "list") && streq(jstr(o, "data.0.id"), "cseek-scripted") &&
               streq(jstr(o, "data.0.object"), "model"),
           "%s", r.body);
    cJSON_Delete(o);
    rfree(&r);

    r = http(A.port, "GET", "/health", NULL, NULL);
    CHECKF(r.status == 200 && !strcmp(r.body, "{\"status\":\"ok\"}"), "%d %s", r.status, r.body);
    rfree(&r);

    r = http(A.port, "GET", "/", NULL, NULL);
    CHECKF(r.status == 200 && strcasestr(r.head, "text/html") && strcasestr(r.body, "<html"), "%d", r.status);
    rfree(&r);

    r = post(A.port, "/tokenize", "{\"content\":\"Hello, caf\\u00e9 world!\"}");
    o = cJSON_Parse(r.body);
    cJSON *toks = cJSON_GetObjectItem(o, "tokens");
    CHECKF(r.status == 200 && cJSON_GetArraySize(toks) > 3, "%s", r.body);
    /* the same ids as the library's tokenizer */
    cs_vocab *v = cs_vocab_load(short_model);
    int32_t want[64];
    const char *hello = "Hello, caf\xc3\xa9 world!";
    int nw = cs_tokenize(v, hello, strlen(hello), want, 64, false, true);
    cs_vocab_free(v);
    CHECK(nw == cJSON_GetArraySize(toks));
    for (int i = 0; i < nw && i < cJSON_GetArraySize(toks); i++) CHECK(cJSON_GetArrayItem(toks, i)->valueint == want[i]);
    char *ids = cJSON_PrintUnformatted(toks), body[1024];
    snprintf(body, sizeof body, "{\"tokens\":%s}", ids);
    free(ids);
    cJSON_Delete(o);
    rfree(&r);
    r = post(A.port, "/detokenize", body);
    o = cJSON_Parse(r.body);
    CHECKF(r.status == 200 && streq(jstr(o, "content"), "Hello, caf\xc3\xa9 world!"), "%s", r.body);
    cJSON_Delete(o);
    rfree(&r);

    r = post(A.port, "/tokenize", "{\"content\":\"Hi\",\"with_pieces\":true}");
    o = cJSON_Parse(r.body);
    CHECKF(r.status == 200 && jstr(o, "tokens.0.piece") && jnum(o, "tokens.0.id") >= 0, "%s", r.body);
    cJSON_Delete(o);
    rfree(&r);
    r = post(A.port, "/detokenize", "{\"tokens\":[1,99999999]}");
    CHECKF(r.status == 400, "%d %s", r.status, r.body);
    rfree(&r);
}

static void prefix_cache(void) {
    const char *first = "{\"messages\":[{\"role\":\"system\",\"content\":\"You are a careful assistant who thinks "
                        "before answering any question at all.\"},{\"role\":\"user\",\"content\":\"Question one?\"}]}";
    const char *second = "{\"messages\":[{\"role\":\"system\",\"content\":\"You are a careful assistant who thinks "
                         "before answering any question at all.\"},{\"role\":\"user\",\"content\":\"Question one?\"},"
                         "{\"role\":\"assistant\",\"content\":\"" ANSWER "\"},{\"role\":\"user\",\"content\":\"Two?\"}]}";
    response r = post(A.port, "/v1/chat/completions", first);
    CHECKF(r.status == 200, "%s", r.body);
    rfree(&r);
    r = post(A.port, "/v1/chat/completions", second);
    cJSON *o = cJSON_Parse(r.body);
    double hit = jnum(o, "usage.prompt_cache_hit_tokens"), miss = jnum(o, "usage.prompt_cache_miss_tokens");
    CHECKF(r.status == 200 && hit > 10 && miss > 0 && hit + miss == jnum(o, "usage.prompt_tokens"), "%s", r.body);
    CHECK(streq(jstr(o, "choices.0.message.content"), ANSWER));
    cJSON_Delete(o);
    rfree(&r);
    /* the very same request again: all but the last token cached */
    r = post(A.port, "/v1/chat/completions", second);
    o = cJSON_Parse(r.body);
    CHECKF(jnum(o, "usage.prompt_cache_miss_tokens") == 1, "%s", r.body);
    cJSON_Delete(o);
    rfree(&r);
}

static void limits_stops_logprobs(void) {
    response r = post(A.port, "/v1/chat/completions",
                      "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":3}");
    cJSON *o = cJSON_Parse(r.body);
    CHECKF(r.status == 200 && streq(jstr(o, "choices.0.finish_reason"), "length") &&
               jnum(o, "usage.completion_tokens") == 3 && streq(jstr(o, "choices.0.message.content"), ""),
           "%s", r.body);
    cJSON_Delete(o);
    rfree(&r);

    r = post(A.port, "/v1/chat/completions",
             "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_completion_tokens\":5,\"stop\":\"nothing\"}");
    o = cJSON_Parse(r.body);
    CHECKF(streq(jstr(o, "choices.0.finish_reason"), "length") && streq(jstr(o, "choices.0.message.content"), "The"),
           "%s", r.body);
    cJSON_Delete(o);
    rfree(&r);

    r = post(A.port, "/v1/chat/completions",
             "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":[\"zzz\",\"answer\"],\"temperature\":0,"
             "\"seed\":3,\"top_p\":0.5,\"presence_penalty\":0.5,\"frequency_penalty\":-0.5}");
    o = cJSON_Parse(r.body);
    CHECKF(r.status == 200 && streq(jstr(o, "choices.0.message.content"), "The ") &&
               streq(jstr(o, "choices.0.finish_reason"), "stop") &&
               streq(jstr(o, "choices.0.message.reasoning_content"), REASONING),
           "%s", r.body);
    cJSON_Delete(o);
    rfree(&r);

    r = post(A.port, "/v1/chat/completions",
             "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"logprobs\":true,\"top_logprobs\":2}");
    o = cJSON_Parse(r.body);
    cJSON *lp = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(o, "choices"), 0),
                                                        "logprobs"),
                                    "content");
    /* six tokens with text (the end token is not listed) */
    CHECKF(cJSON_GetArraySize(lp) == 6, "%s", r.body);
    CHECKF(streq(jstr(o, "choices.0.logprobs.content.4.token"), "The"), "%s", r.body);
    double l = jnum(o, "choices.0.logprobs.content.4.logprob");
    CHECKF(l <= 0 && l > -0.01, "%g", l); /* the scripted model is sure */
    CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(lp, 0), "top_logprobs")) == 2);
    cJSON_Delete(o);
    rfree(&r);
}

/* More streams than slots at once: every one gets the whole answer (two slots
 * decode together, the rest wait in the queue and join as slots free up). */
static void concurrent_streams(void) {
    enum { N = 5 };
    int fd[N];
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Together\"}],\"stream\":true}";
    for (int i = 0; i < N; i++) {
        fd[i] = connect_to(A.port, 0);
        send_request(fd[i], "POST", "/v1/chat/completions", KEY, body, strlen(body));
    }
    for (int i = 0; i < N; i++) {
        size_t n;
        char *raw = read_all(fd[i], &n, 30);
        close(fd[i]);
        response r = parse_response(raw, n);
        free(raw);
        char *ev[64], reasoning[256] = "", content[256] = "";
        int ne = sse_events(r.body, ev, 64);
        for (int k = 0; k < ne; k++) {
            cJSON *o = cJSON_Parse(ev[k]);
            const char *rc = jstr(o, "choices.0.delta.reasoning_content"), *c = jstr(o, "choices.0.delta.content");
            if (rc) strncat(reasoning, rc, sizeof reasoning - strlen(reasoning) - 1);
            if (c) strncat(content, c, sizeof content - strlen(content) - 1);
            cJSON_Delete(o);
            free(ev[k]);
        }
        CHECKF(r.status == 200 && !strcmp(reasoning, REASONING) && !strcmp(content, ANSWER) && ne > 0 &&
                   strstr(r.body, "data: [DONE]\n\n"),
               "stream %d: %d '%s' '%s'", i, r.status, reasoning, content);
        rfree(&r);
    }
}

static void api_key(void) {
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    response r = http(A.port, "POST", "/v1/chat/completions", NULL, body);
    CHECKF(r.status == 401 && streq(error_code(&r), "invalid_api_key"), "%d %s", r.status, r.body);
    rfree(&r);
    r = http(A.port, "POST", "/v1/chat/completions", "sk-wrong-42", body);
    CHECKF(r.status == 401, "%d %s", r.status, r.body);
    rfree(&r);
    r = http(A.port, "GET", "/v1/models", "sk-test-4", NULL);
    CHECKF(r.status == 401, "%d %s", r.status, r.body);
    rfree(&r);
    r = http(A.port, "POST", "/v1/chat/completions", KEY, body);
    CHECKF(r.status == 200, "%d %s", r.status, r.body);
    rfree(&r);
}

/* Each body gets a 400 with an OpenAI error object (the code, when given, must match). */
static void bad_requests(void) {
    static const struct {
        const char *body, *code;
    } cases[] = {
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}", "invalid_request_error"}, /* truncated */
        {"", NULL},
        {"[1,2]", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]} trailing", NULL},
        {"{}", NULL},
        {"{\"messages\":\"hi\"}", NULL},
        {"{\"messages\":[]}", NULL},
        {"{\"messages\":[\"hi\"]}", NULL},
        {"{\"messages\":[{\"role\":\"robot\",\"content\":\"hi\"}]}", NULL},
        {"{\"messages\":[{\"role\":7,\"content\":\"hi\"}]}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":42}]}", NULL},
        {"{\"messages\":[{\"role\":\"user\"}]}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"image_url\",\"image_url\":{}}]}]}",
         "unsupported_parameter"},
        {"{\"messages\":[{\"role\":\"tool\",\"content\":\"x\"}]}", "unsupported_parameter"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":\"hot\"}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":2.5}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"temperature\":1e309}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_p\":-0.1}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":0}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":-5}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":1e300}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":2.5}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"seed\":-1e309}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"presence_penalty\":3}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stream\":\"yes\"}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"stop\":7}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"top_logprobs\":21,\"logprobs\":true}", NULL},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"n\":2}", "unsupported_parameter"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tools\":[{\"type\":\"function\"}]}",
         "unsupported_parameter"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"tool_choice\":\"auto\"}", "unsupported_parameter"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"functions\":[]}", "unsupported_parameter"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"response_format\":{\"type\":\"json_object\"}}",
         "unsupported_parameter"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800\"}]}", NULL}, /* a lone surrogate */
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"caf\xe9\"}]}", NULL},   /* Latin-1, not UTF-8 */
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"\xc0\xaf\"}]}", NULL},   /* overlong */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        response r = post(A.port, "/v1/chat/completions", cases[i].body);
        const char *code = error_code(&r);
        CHECKF(r.status == 400 && *code && (!cases[i].code || !strcmp(code, cases[i].code)), "case %zu (%s): %d %s", i,
               cases[i].body, r.status, r.body);
        rfree(&r);
    }
    /* completions: a prompt is required, echo is refused */
    const char *comp[] = {"{}", "{\"prompt\":5}", "{\"prompt\":\"a\",\"echo\":true}", "{\"prompt\":\"a\",\"max_tokens\":\"x\"}"};
    for (size_t i = 0; i < sizeof comp / sizeof *comp; i++) {
        response r = post(A.port, "/v1/completions", comp[i]);
        CHECKF(r.status == 400 && *error_code(&r), "%s: %d %s", comp[i], r.status, r.body);
        rfree(&r);
    }
    /* a prompt longer than the slot's context (256 tokens) */
    char big[8192];
    int n = snprintf(big, sizeof big, "{\"messages\":[{\"role\":\"user\",\"content\":\"");
    for (int i = 0; i < 600; i++) n += snprintf(big + n, sizeof big - (size_t)n, "w%d ", i);
    snprintf(big + n, sizeof big - (size_t)n, "\"}]}");
    response r = post(A.port, "/v1/chat/completions", big);
    CHECKF(r.status == 400 && streq(error_code(&r), "context_length_exceeded"), "%d %s", r.status, r.body);
    rfree(&r);
}

static void routes_and_sizes(void) {
    response r = http(A.port, "GET", "/v2/nothing", KEY, NULL);
    CHECKF(r.status == 404 && *error_code(&r), "%d %s", r.status, r.body);
    rfree(&r);
    r = http(A.port, "GET", "/v1/chat/completions", KEY, NULL);
    CHECKF(r.status == 405 && strcasestr(r.head, "allow: POST"), "%d %s", r.status, r.head);
    rfree(&r);
    r = http(A.port, "DELETE", "/health", NULL, NULL);
    CHECKF(r.status == 405, "%d", r.status);
    rfree(&r);

    /* 10 MB: refused from its Content-Length, without reading it */
    size_t big = 10u << 20;
    char *body = malloc(big);
    memset(body, ' ', big);
    body[0] = '{';
    body[big - 1] = '}';
    int fd = connect_to(A.port, 0);
    char head[512];
    int n = snprintf(head, sizeof head,
                     "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " KEY
                     "\r\nContent-Length: %zu\r\n\r\n",
                     big);
    send_all(fd, head, (size_t)n);
    /* write the body while the answer has not come */
    fcntl(fd, F_SETFL, O_NONBLOCK);
    size_t off = 0;
    for (double t0 = now_s(); off < big && now_s() - t0 < 20;) {
        struct pollfd p = {fd, POLLIN | POLLOUT, 0};
        poll(&p, 1, 100);
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) break;
        ssize_t w = send(fd, body + off, big - off > 65536 ? 65536 : big - off, MSG_NOSIGNAL);
        if (w < 0 && errno != EAGAIN) break;
        if (w > 0) off += (size_t)w;
    }
    fcntl(fd, F_SETFL, 0);
    size_t len;
    char *raw = read_all(fd, &len, 10);
    close(fd);
    r = parse_response(raw, len);
    free(raw);
    CHECKF(r.status == 413 && streq(error_code(&r), "request_too_large"), "%d %s (%zu bytes sent)", r.status, r.body,
           off);
    rfree(&r);

    /* the same without a Content-Length (chunked): read and dropped, then 413 */
    fd = connect_to(A.port, 0);
    n = snprintf(head, sizeof head,
                 "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nConnection: close\r\nAuthorization: Bearer " KEY
                 "\r\nTransfer-Encoding: chunked\r\n\r\n");
    send_all(fd, head, (size_t)n);
    bool ok = true;
    for (int i = 0; i < 10 && ok; i++) {
        char ch[32];
        n = snprintf(ch, sizeof ch, "%x\r\n", 1u << 20);
        ok = send_all(fd, ch, (size_t)n) && send_all(fd, body, 1u << 20) && send_all(fd, "\r\n", 2);
    }
    if (ok) send_all(fd, "0\r\n\r\n", 5);
    raw = read_all(fd, &len, 10);
    close(fd);
    r = parse_response(raw, len);
    free(raw);
    CHECKF(r.status == 413, "%d %s", r.status, r.body);
    rfree(&r);
    free(body);
}

/* A request whose headers never finish holds one connection; others go on. */
static void slowloris(void) {
    int held[3];
    for (int i = 0; i < 3; i++) {
        held[i] = connect_to(A.port, 0);
        const char *half = "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Le";
        send_all(held[i], half, strlen(half));
    }
    double t0 = now_s();
    response r = post(A.port, "/v1/chat/completions", "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    cJSON *o = cJSON_Parse(r.body);
    CHECKF(r.status == 200 && streq(jstr(o, "choices.0.message.content"), ANSWER), "%d %s", r.status, r.body);
    CHECK(now_s() - t0 < 10);
    cJSON_Delete(o);
    rfree(&r);
    for (int i = 0; i < 3; i++) close(held[i]);
    r = http(A.port, "GET", "/health", NULL, NULL);
    CHECK(r.status == 200);
    rfree(&r);
}

static void stop_server_a(void) {
    response r = http(A.port, "GET", "/health", NULL, NULL);
    CHECKF(r.status == 200 && strstr(r.body, "\"ok\""), "%d %s", r.status, r.body);
    rfree(&r);
    CHECK(server_stop(&A) == 0);
}

/* A streamed request whose client reads a little and then nothing. */
static int open_stalled_stream(int port) {
    int fd = connect_to(port, 4096);
    const char *body = "{\"messages\":[{\"role\":\"user\",\"content\":\"Go on\"}],\"stream\":true}";
    send_request(fd, "POST", "/v1/chat/completions", NULL, body, strlen(body));
    return fd;
}

/* Waits for the first event of a stream (sent when the request gets its
 * slot); returns the status line's code. */
static int first_status(int fd) {
    char buf[2048];
    size_t n = 0;
    for (double t0 = now_s(); now_s() - t0 < 20 && n < sizeof buf - 1;) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0) continue;
        ssize_t r = recv(fd, buf + n, sizeof buf - 1 - n, 0);
        if (r <= 0) break;
        n += (size_t)r;
        buf[n] = 0;
        if (strstr(buf, "data: ")) break;
    }
    buf[n] = 0;
    int st = 0;
    if (strstr(buf, "data: ")) sscanf(buf, "HTTP/1.%*d %d", &st);
    return st;
}

/* Sends a non-streamed request that should wait in the queue: retried for a
 * while as long as it is refused with 503 at once. Returns the socket of the
 * waiting request, or -1. */
static int queued_request(int port, const char *body) {
    for (double t0 = now_s(); now_s() - t0 < 5;) {
        int fd = connect_to(port, 0);
        send_request(fd, "POST", "/v1/chat/completions", NULL, body, strlen(body));
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 400) == 0) return fd; /* no answer: it waits */
        close(fd);
        sleep_ms(50);
    }
    return -1;
}

static void disconnect_and_queue(void) {
    server B;
    if (!server_start(&B, long_model, "--parallel 1 --queue 1 --timeout 2")) {
        CHECK(0);
        return;
    }
    /* a request left half-sent is closed by the idle timeout */
    int held = connect_to(B.port, 0);
    const char *half = "GET /health HTTP/1.1\r\nHo";
    send_all(held, half, strlen(half));
    double t_held = now_s();
    struct pollfd hp = {held, POLLIN, 0};
    char c;
    bool closed = poll(&hp, 1, 8000) == 1 && recv(held, &c, 1, 0) <= 0;
    CHECKF(closed && now_s() - t_held > 1.5, "closed %d after %.1fs", closed, now_s() - t_held);
    close(held);
    const char *quick = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"max_tokens\":4}";

    /* hang up mid-stream: the one slot is free again */
    int fd = open_stalled_stream(B.port);
    CHECK(first_status(fd) == 200);
    sleep_ms(300);
    close(fd);
    double t0 = now_s();
    response r = http(B.port, "POST", "/v1/chat/completions", NULL, quick);
    cJSON *o = cJSON_Parse(r.body);
    CHECKF(r.status == 200 && streq(jstr(o, "choices.0.finish_reason"), "length") &&
               jnum(o, "usage.completion_tokens") == 4,
           "%d %s", r.status, r.body);
    CHECKF(now_s() - t0 < 10, "%.1fs", now_s() - t0);
    cJSON_Delete(o);
    rfree(&r);

    /* one running (stalled), one waiting, the third is refused */
    int a = open_stalled_stream(B.port);
    CHECK(first_status(a) == 200);
    int b = open_stalled_stream(B.port);
    sleep_ms(500);
    r = http(B.port, "POST", "/v1/chat/completions", NULL, quick);
    CHECKF(r.status == 503 && *error_code(&r), "%d %s", r.status, r.body);
    rfree(&r);
    close(b);
    /* a non-streamed request waiting in the queue whose client hangs up leaves
     * the queue: the next one is queued instead of refused */
    const char *plain = "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    int waiting = queued_request(B.port, plain);
    CHECKF(waiting >= 0, "the queue stayed full after a queued stream's client left");
    if (waiting >= 0) close(waiting);
    waiting = queued_request(B.port, plain);
    CHECKF(waiting >= 0, "the queue stayed full after a queued request's client left");
    if (waiting >= 0) close(waiting);
    close(a);
    /* both gone (noticed within moments): a request gets through again */
    t0 = now_s();
    for (;;) {
        r = http(B.port, "POST", "/v1/chat/completions", NULL, quick);
        if (r.status != 503 || now_s() - t0 > 5) break;
        rfree(&r);
        sleep_ms(50);
    }
    CHECKF(r.status == 200, "%d %s", r.status, r.body);
    CHECKF(now_s() - t0 < 4, "%.2fs", now_s() - t0);
    rfree(&r);

    /* SIGTERM with a stream running: still a clean exit */
    a = open_stalled_stream(B.port);
    CHECK(first_status(a) == 200);
    CHECK(server_stop(&B) == 0);
    close(a);
}

int main(void) {
    signal(SIGPIPE, SIG_IGN);
    RUN(make_models);
    if (A.port > 0) {
        RUN(chat_plain);
        RUN(chat_stream);
        RUN(completions);
        RUN(models_health_tokenize);
        RUN(prefix_cache);
        RUN(limits_stops_logprobs);
        RUN(concurrent_streams);
        RUN(api_key);
        RUN(bad_requests);
        RUN(routes_and_sizes);
        RUN(slowloris);
        RUN(stop_server_a);
    }
    RUN(disconnect_and_queue);
    unlink(short_model);
    unlink(long_model);
    TEST_END();
}
