/* server: HTTP with libmicrohttpd, one thread per connection (a handler may
 * block while its job runs; a held, half-sent request occupies only its own
 * thread, and the idle timeout ends it).
 *
 * Per request: route and method (404 / 405), API key (401), body size (413)
 * are checked as soon as the headers are in; the body is gathered, parsed and
 * tokenized here, and the job goes to the scheduler (503 when its queue is
 * full). A non-streamed answer is waited for; a streamed one is read chunk by
 * chunk from the job by MHD's content reader. Both watch the socket: a client
 * that hangs up cancels its job, which frees its slot at the next step. One
 * log line per request goes to stderr when the connection is done with it. */
#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "page.h"
#include "server.h"

struct srv_http {
    struct MHD_Daemon *daemon;
    srv_sched *sched;
    const cs_vocab *vocab;
    srv_http_params p;
    long started;
    atomic_uint_fast64_t next_id;
};

typedef enum {
    R_PAGE = 0,
    R_HEALTH,
    R_MODELS,
    R_CHAT,
    R_COMPLETIONS,
    R_TOKENIZE,
    R_DETOKENIZE,
    R_NONE
} route_id;

static const struct {
    const char *path;
    const char *method;
    route_id id;
} routes[] = {
    {"/", "GET", R_PAGE},
    {"/index.html", "GET", R_PAGE},
    {"/health", "GET", R_HEALTH},
    {"/v1/models", "GET", R_MODELS},
    {"/models", "GET", R_MODELS},
    {"/v1/chat/completions", "POST", R_CHAT},
    {"/chat/completions", "POST", R_CHAT},
    {"/v1/completions", "POST", R_COMPLETIONS},
    {"/completions", "POST", R_COMPLETIONS},
    {"/tokenize", "POST", R_TOKENIZE},
    {"/detokenize", "POST", R_DETOKENIZE},
};

/* What one request carries through MHD's calls (its con_cls). */
typedef struct {
    srv_http *h;
    struct MHD_Connection *conn;
    route_id route;
    char method[16];
    char path[128];
    double t0;
    char *body;
    size_t len, cap;
    bool too_big, answered;
    int status;
    srv_job *job;
} request;

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* ---- answers ----------------------------------------------------------------------- */

static enum MHD_Result answer(request *rq, int status, const char *type, const char *body, size_t len) {
    struct MHD_Response *r = MHD_create_response_from_buffer(len, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r) return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (status == 405) {
        for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
            if (!strcmp(routes[i].path, rq->path)) MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, routes[i].method);
    }
    if (status == 401) MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result res = MHD_queue_response(rq->conn, (unsigned)status, r);
    MHD_destroy_response(r);
    rq->status = status;
    rq->answered = true;
    return res;
}

static enum MHD_Result answer_json(request *rq, int status, const char *json) {
    if (!json) return answer(rq, 500, "application/json", "{\"error\":{\"message\":\"out of memory\"}}", 37);
    return answer(rq, status, "application/json", json, strlen(json));
}

static enum MHD_Result answer_error(request *rq, const srv_error *e) {
    char *s = srv_error_json(e);
    enum MHD_Result r = answer_json(rq, e->status, s);
    free(s);
    return r;
}

static enum MHD_Result fail(request *rq, int status, const char *code, const char *fmt, const char *arg) {
    srv_error e;
    srv_error_set(&e, status, code, NULL, fmt, arg);
    if (status == 401) e.type = "authentication_error";
    if (status == 503) e.type = "server_error";
    return answer_error(rq, &e);
}

/* ---- the client went away? --------------------------------------------------------- */

/* Peeks at the socket: EOF or a reset means the client hung up. Only the
 * connection's own thread calls it, while MHD does not read the socket. */
static bool client_gone(struct MHD_Connection *c) {
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!ci) return true;
    char b;
    ssize_t n = recv(ci->connect_fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    if (n == 0) return true;
    return n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR;
}

static void deadline(struct timespec *ts, long ms) {
    clock_gettime(CLOCK_REALTIME, ts);
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) ts->tv_sec++, ts->tv_nsec -= 1000000000L;
}

/* ---- streaming ---------------------------------------------------------------------- */

typedef struct {
    srv_http *h;
    srv_job *job;
    struct MHD_Connection *conn;
} stream;

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max) {
    (void)pos;
    stream *st = cls;
    srv_job *j = st->job;
    pthread_mutex_lock(&j->mu);
    while (j->out_sent == j->out_len && !j->done) {
        struct timespec ts;
        deadline(&ts, 100);
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        if (j->out_sent == j->out_len && !j->done) {
            pthread_mutex_unlock(&j->mu);
            if (client_gone(st->conn)) {
                srv_sched_cancel(st->h->sched, j);
                return MHD_CONTENT_READER_END_WITH_ERROR;
            }
            pthread_mutex_lock(&j->mu);
        }
    }
    size_t n = j->out_len - j->out_sent;
    if (n == 0) {
        pthread_mutex_unlock(&j->mu);
        return MHD_CONTENT_READER_END_OF_STREAM;
    }
    if (n > max) n = max;
    memcpy(buf, j->out + j->out_sent, n);
    j->out_sent += n;
    pthread_mutex_unlock(&j->mu);
    return (ssize_t)n;
}

static void stream_free(void *cls) {
    stream *st = cls;
    pthread_mutex_lock(&st->job->mu);
    bool done = st->job->done;
    pthread_mutex_unlock(&st->job->mu);
    if (!done) srv_sched_cancel(st->h->sched, st->job);
    srv_job_unref(st->job);
    free(st);
}

/* ---- generation requests ------------------------------------------------------------- */

static int32_t *tokenize(const cs_vocab *v, const char *text, bool add_bos, int *n_out) {
    size_t len = strlen(text);
    if (len > ((size_t)1 << 30)) return NULL;
    int cap = (int)len + 8; /* byte-level BPE: at most a token per byte, + BOS */
    int32_t *t = malloc((size_t)cap * sizeof *t);
    if (!t) return NULL;
    int n = cs_tokenize(v, text, len, t, cap, add_bos, true);
    if (n < 0) {
        free(t);
        return NULL;
    }
    *n_out = n;
    return t;
}

static enum MHD_Result generate(request *rq) {
    srv_http *h = rq->h;
    srv_error e;
    srv_job *j = srv_job_new();
    if (!j) return fail(rq, 500, "out_of_memory", "%s", "out of memory");
    int rc = rq->route == R_CHAT ? srv_parse_chat(rq->body, rq->len, h->p.format, &j->req, &e)
                                 : srv_parse_completion(rq->body, rq->len, &j->req, &e);
    if (rc) {
        srv_job_unref(j);
        return answer_error(rq, &e);
    }
    /* the chat format carries its own BOS; a raw prompt gets the vocabulary's */
    bool bos = rq->route == R_COMPLETIONS && cs_vocab_add_bos(h->vocab);
    if (!(j->prompt = tokenize(h->vocab, j->req.prompt, bos, &j->n_prompt))) {
        srv_job_unref(j);
        return fail(rq, 500, "server_error", "cannot tokenize the prompt: %s", cs_last_error());
    }
    int n_ctx = srv_sched_n_ctx(h->sched);
    if (j->n_prompt == 0) {
        srv_job_unref(j);
        srv_error_set(&e, 400, "invalid_request_error", "prompt", "the prompt is empty");
        return answer_error(rq, &e);
    }
    if (j->n_prompt >= n_ctx) {
        srv_error_set(&e, 400, "context_length_exceeded", "messages",
                      "this model's context is %d tokens per request; the prompt is %d tokens", n_ctx, j->n_prompt);
        srv_job_unref(j);
        return answer_error(rq, &e);
    }
    snprintf(j->id, sizeof j->id, "%s-%lx%06llx", rq->route == R_CHAT ? "chatcmpl" : "cmpl", (unsigned long)h->started,
             (unsigned long long)atomic_fetch_add(&h->next_id, 1));
    j->created = (long)time(NULL);
    j->model = h->p.alias;
    if (srv_sched_submit(h->sched, j) != 0) {
        srv_job_unref(j);
        return fail(rq, 503, "server_busy", "%s", "the server is busy: all slots and the queue are full; retry later");
    }
    rq->job = j; /* the request's reference */

    if (j->req.stream) {
        stream *st = calloc(1, sizeof *st);
        if (!st) {
            srv_sched_cancel(h->sched, j);
            return fail(rq, 500, "out_of_memory", "%s", "out of memory");
        }
        st->h = h;
        st->job = j;
        st->conn = rq->conn;
        srv_job_ref(j);
        struct MHD_Response *r = MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, 16 * 1024, stream_read, st,
                                                                   stream_free);
        if (!r) {
            stream_free(st);
            return MHD_NO;
        }
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
        enum MHD_Result res = MHD_queue_response(rq->conn, MHD_HTTP_OK, r);
        MHD_destroy_response(r);
        rq->status = 200;
        rq->answered = true;
        return res;
    }

    /* wait for the whole answer, watching for a hang-up */
    pthread_mutex_lock(&j->mu);
    while (!j->done) {
        struct timespec ts;
        deadline(&ts, 100);
        pthread_cond_timedwait(&j->cv, &j->mu, &ts);
        if (j->done) break;
        pthread_mutex_unlock(&j->mu);
        if (client_gone(rq->conn)) {
            srv_sched_cancel(h->sched, j);
            rq->status = 499; /* logged: client closed the request */
            return MHD_NO;
        }
        pthread_mutex_lock(&j->mu);
    }
    int status = j->http_status;
    pthread_mutex_unlock(&j->mu);
    return answer_json(rq, status, j->out ? j->out : "");
}

/* ---- the request handler ------------------------------------------------------------------ */

static bool authorized(const srv_http *h, struct MHD_Connection *c) {
    if (!h->p.api_key) return true;
    const char *a = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    if (!a || strncasecmp(a, "Bearer ", 7)) return false;
    a += 7;
    while (*a == ' ') a++;
    /* constant time in the key's length */
    size_t n = strlen(h->p.api_key), m = strlen(a);
    unsigned diff = (unsigned)(n ^ m);
    for (size_t i = 0; i < n; i++) diff |= (unsigned char)h->p.api_key[i] ^ (unsigned char)(i < m ? a[i] : 0);
    return diff == 0;
}

/* The first call, headers only: everything that can be refused without the body. */
static enum MHD_Result on_headers(request *rq, const char *url, const char *method) {
    srv_http *h = rq->h;
    bool path_known = false;
    rq->route = R_NONE;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (strcmp(routes[i].path, url)) continue;
        path_known = true;
        if (!strcmp(routes[i].method, method) || (!strcmp(method, "HEAD") && !strcmp(routes[i].method, "GET")))
            rq->route = routes[i].id;
    }
    if (!path_known) return fail(rq, 404, "not_found", "no such endpoint: %s", rq->path);
    if (rq->route == R_NONE) return fail(rq, 405, "method_not_allowed", "method not allowed here: %s", rq->method);
    if (rq->route != R_HEALTH && rq->route != R_PAGE && !authorized(h, rq->conn))
        return fail(rq, 401, "invalid_api_key", "%s",
                    "a valid API key is required (header \"Authorization: Bearer KEY\")");
    const char *cl = MHD_lookup_connection_value(rq->conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl) {
        char *end;
        errno = 0;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno || *end || n > h->p.max_body) {
            rq->too_big = true;
            char lim[32];
            snprintf(lim, sizeof lim, "%zu", h->p.max_body);
            return fail(rq, 413, "request_too_large", "the request body is larger than %s bytes", lim);
        }
    }
    return MHD_YES;
}

static enum MHD_Result on_request(request *rq) {
    srv_http *h = rq->h;
    srv_error e;
    char *s;
    switch (rq->route) {
    case R_PAGE:
        return answer(rq, 200, "text/html; charset=utf-8", (const char *)cs_chat_page, cs_chat_page_len);
    case R_HEALTH:
        return answer_json(rq, 200, "{\"status\":\"ok\"}");
    case R_MODELS:
        s = srv_models_json(h->p.alias, h->started);
        break;
    case R_TOKENIZE:
        s = srv_tokenize_json(h->vocab, rq->body ? rq->body : "", rq->len, &e);
        if (!s) return answer_error(rq, &e);
        break;
    case R_DETOKENIZE:
        s = srv_detokenize_json(h->vocab, rq->body ? rq->body : "", rq->len, &e);
        if (!s) return answer_error(rq, &e);
        break;
    case R_CHAT:
    case R_COMPLETIONS:
        return generate(rq);
    default:
        return fail(rq, 404, "not_found", "no such endpoint: %s", rq->path);
    }
    enum MHD_Result r = answer_json(rq, 200, s);
    free(s);
    return r;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                               const char *version, const char *upload, size_t *upload_size, void **con_cls) {
    (void)version;
    request *rq = *con_cls;
    if (!rq) {
        if (!(rq = calloc(1, sizeof *rq))) return MHD_NO;
        rq->h = cls;
        rq->conn = conn;
        rq->t0 = now_s();
        snprintf(rq->method, sizeof rq->method, "%s", method);
        snprintf(rq->path, sizeof rq->path, "%s", srv_utf8_valid(url, strlen(url)) ? url : "(not UTF-8)");
        *con_cls = rq;
        return on_headers(rq, url, method);
    }
    if (rq->answered) { /* an early answer (413, 401, ...): drop what still comes */
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        *upload_size = 0;
        if (rq->too_big || rq->len + n > rq->h->p.max_body) {
            rq->too_big = true;
            return MHD_YES;
        }
        if (rq->len + n + 1 > rq->cap) {
            size_t cap = rq->cap ? rq->cap : 4096;
            while (cap < rq->len + n + 1) cap *= 2;
            char *b = realloc(rq->body, cap);
            if (!b) return MHD_NO;
            rq->body = b;
            rq->cap = cap;
        }
        memcpy(rq->body + rq->len, upload, n);
        rq->len += n;
        rq->body[rq->len] = 0;
        return MHD_YES;
    }
    if (rq->too_big) {
        char lim[32];
        snprintf(lim, sizeof lim, "%zu", rq->h->p.max_body);
        return fail(rq, 413, "request_too_large", "the request body is larger than %s bytes", lim);
    }
    return on_request(rq);
}

static void completed(void *cls, struct MHD_Connection *conn, void **con_cls, enum MHD_RequestTerminationCode why) {
    (void)conn;
    srv_http *h = cls;
    request *rq = *con_cls;
    if (!rq) return;
    *con_cls = NULL;
    char tokens[64] = "-";
    const char *note = "";
    if (rq->job) {
        srv_job *j = rq->job;
        pthread_mutex_lock(&j->mu);
        bool done = j->done;
        if (done)
            snprintf(tokens, sizeof tokens, "%d+%d tokens%s", j->n_prompt, j->n_gen,
                     j->status == CS_GEN_CANCELLED ? " cancelled" : "");
        pthread_mutex_unlock(&j->mu);
        if (!done) {
            srv_sched_cancel(h->sched, j);
            snprintf(tokens, sizeof tokens, "%d+? tokens cancelled", j->n_prompt);
        }
        srv_job_unref(j);
    }
    if (why != MHD_REQUEST_TERMINATED_COMPLETED_OK) note = why == MHD_REQUEST_TERMINATED_TIMEOUT_REACHED ? " (timeout)"
                                                          : " (connection closed)";
    fprintf(stderr, "%s %s %d %s %.3fs%s\n", rq->method, rq->path, rq->status ? rq->status : 499, tokens,
            now_s() - rq->t0, note);
    free(rq->body);
    free(rq);
}

/* libmicrohttpd's own messages, one line each. */
static void mhd_log(void *cls, const char *fmt, va_list ap) {
    (void)cls;
    char line[512];
    vsnprintf(line, sizeof line, fmt, ap);
    size_t n = strlen(line);
    while (n && (line[n - 1] == '\n' || line[n - 1] == '\r')) line[--n] = 0;
    fprintf(stderr, "cseek: http: %s\n", line);
}

/* ---- start and stop ---------------------------------------------------------------------- */

srv_http *srv_http_start(srv_sched *s, const cs_vocab *v, const srv_http_params *p) {
    srv_http *h = calloc(1, sizeof *h);
    if (!h) return NULL;
    h->sched = s;
    h->vocab = v;
    h->p = *p;
    h->started = (long)time(NULL);
    atomic_init(&h->next_id, 1);

    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION | MHD_USE_POLL | MHD_USE_ERROR_LOG;
    struct sockaddr_in *a4 = (struct sockaddr_in *)&addr;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&addr;
    const char *host = strcmp(p->host, "localhost") ? p->host : "127.0.0.1";
    if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)p->port);
    } else if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)p->port);
        flags |= MHD_USE_IPv6;
    } else {
        fprintf(stderr, "cseek: serve: --host %s: not an IPv4 or IPv6 address\n", p->host);
        free(h);
        return NULL;
    }
    h->daemon = MHD_start_daemon(flags, (uint16_t)p->port, NULL, NULL, handler, h,
                                 MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
                                 MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)p->timeout_s,
                                 MHD_OPTION_CONNECTION_LIMIT, (unsigned)p->max_connections,
                                 MHD_OPTION_NOTIFY_COMPLETED, completed, h,
                                 MHD_OPTION_LISTENING_ADDRESS_REUSE, 1u,
                                 MHD_OPTION_END);
    if (!h->daemon) {
        fprintf(stderr, "cseek: serve: cannot listen on %s port %d: %s\n", p->host, p->port,
                errno ? strerror(errno) : "unknown error");
        free(h);
        return NULL;
    }
    return h;
}

int srv_http_port(const srv_http *h) {
    const union MHD_DaemonInfo *i = MHD_get_daemon_info(h->daemon, MHD_DAEMON_INFO_BIND_PORT);
    return i ? (int)i->port : -1;
}

void srv_http_stop(srv_http *h) {
    if (!h) return;
    MHD_stop_daemon(h->daemon);
    free(h);
}
