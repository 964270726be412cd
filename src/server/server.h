/* server: `cseek serve`, an OpenAI / DeepSeek-compatible HTTP API over one model.
 *
 *   server.c     HTTP (libmicrohttpd, one thread per connection): routing, API key,
 *                body limits, request log, streaming responses, disconnects
 *   api.c        JSON (cJSON): request parsing and validation, response and
 *                stream-chunk building, OpenAI-style error bodies
 *   scheduler.c  the one thread that runs the model: slots (a context each),
 *                a bounded wait queue, prefix-cache reuse, batched decode
 *
 * A request becomes a job. The HTTP thread parses and tokenizes it, submits
 * the job and then only reads the job's output bytes (the whole JSON body,
 * or SSE chunks as they come). The scheduler thread fills them. */
#ifndef CS_SERVER_H
#define CS_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cseek.h"

#define SRV_MAX_STOP 4
#define SRV_MAX_TOP_LOGPROBS 20

typedef enum { SRV_CHAT = 0, SRV_COMPLETION } srv_kind;

/* A validated request (api.c fills it; owns its strings). */
typedef struct {
    srv_kind kind;
    bool stream, include_usage;
    bool logprobs;
    int top_logprobs;          /* 0..20 */
    cs_gen_params gen;         /* gen.stop points into stop[] */
    char *stop[SRV_MAX_STOP];
    char *prompt;              /* rendered chat prompt or the raw completion prompt */
} srv_request;

/* An error answer: HTTP status and the OpenAI error object's fields. */
typedef struct {
    int status;
    const char *type;          /* "invalid_request_error", "server_error", ... */
    const char *code;          /* may be NULL */
    const char *param;         /* may be NULL */
    char message[256];
} srv_error;

typedef struct srv_job srv_job;

/* ---- api.c ------------------------------------------------------------------ */
/* Parse and validate a request body (any bytes). 0, or -1 with e filled. */
int srv_parse_chat(const char *body, size_t len, cs_chat_format fmt, srv_request *r, srv_error *e);
int srv_parse_completion(const char *body, size_t len, srv_request *r, srv_error *e);
void srv_request_free(srv_request *r);
void srv_error_set(srv_error *e, int status, const char *code, const char *param, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));
/* {"error":{"message","type","param","code"}}, malloc'd (NULL when out of memory). */
char *srv_error_json(const srv_error *e);
/* Whether len bytes are valid UTF-8. */
bool srv_utf8_valid(const char *s, size_t len);

/* /tokenize, /detokenize, /v1/models: a malloc'd JSON body or NULL with e set. */
char *srv_tokenize_json(const cs_vocab *v, const char *body, size_t len, srv_error *e);
char *srv_detokenize_json(const cs_vocab *v, const char *body, size_t len, srv_error *e);
char *srv_models_json(const char *alias, long created);

/* Output building, called by the scheduler thread while it runs the job. */
void srv_out_admitted(srv_job *j);                           /* first stream chunk (role) */
void srv_out_text(srv_job *j, cs_text_kind kind, const char *text, size_t len);
/* One sampled token for logprobs: its logprob and the top alternatives. */
void srv_out_logprob(srv_job *j, const cs_vocab *v, int32_t tok, float lp, const int32_t *ids, const float *lps,
                     int n_top);
/* End of a step: stream chunks for the text gathered since the last flush. */
void srv_out_flush(srv_job *j);
/* The end: final chunk(s) or the whole body; marks the job done. */
void srv_out_finish(srv_job *j, cs_gen_status status, const char *error);

/* ---- jobs ------------------------------------------------------------------ */
struct srv_job {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int refs;                  /* under mu */

    /* set before submission, read-only afterwards */
    srv_request req;
    int32_t *prompt;
    int n_prompt;
    char id[48];               /* "chatcmpl-..." or "cmpl-..." */
    long created;
    const char *model;         /* the alias (outlives the job) */

    atomic_int cancel;         /* set by the HTTP side: client gone, shutdown */

    /* under mu: output for the HTTP side */
    char *out;
    size_t out_len, out_cap, out_sent;
    bool done;
    bool oom;
    int http_status;           /* 200, or 500 / 503 for a non-streamed failure */
    int n_cached, n_gen, n_reasoning;
    cs_gen_status status;

    /* scheduler-private while the job runs */
    char *text[2];             /* CS_REASONING, CS_ANSWER: all text (non-stream) */
    size_t text_len[2];
    char *step[2];             /* text of this step, not yet sent (stream) */
    size_t step_len[2];
    void *lp_all;              /* cJSON array: logprobs.content (non-stream) */
    void *lp_step;             /* cJSON array: this step's entries (stream) */
    bool sent_role;
};

srv_job *srv_job_new(void);    /* refs = 1 */
void srv_job_ref(srv_job *j);
void srv_job_unref(srv_job *j);
/* Append bytes to the output (under mu, wakes the reader). */
void srv_job_write(srv_job *j, const char *data, size_t len);

/* ---- scheduler.c ----------------------------------------------------------- */
typedef struct srv_sched srv_sched;

typedef struct {
    int n_slots;
    int queue_cap;             /* most jobs waiting for a slot */
    cs_context_params ctx;     /* per slot */
} srv_sched_params;

/* Creates the slots' contexts and starts the scheduler thread; NULL with an error. */
srv_sched *srv_sched_new(cs_model *m, const cs_vocab *v, const srv_sched_params *p);
/* Queue a job (takes a reference). 0, -1 when the queue is full or stopping. */
int srv_sched_submit(srv_sched *s, srv_job *j);
/* Cancel a job: dropped from the queue at once, or ended at the next step. */
void srv_sched_cancel(srv_sched *s, srv_job *j);
int srv_sched_n_ctx(const srv_sched *s);
/* Cancel everything and stop the thread (idempotent). */
void srv_sched_stop(srv_sched *s);
void srv_sched_free(srv_sched *s);

/* ---- server.c ---------------------------------------------------------------- */
typedef struct {
    const char *host;          /* "127.0.0.1" */
    int port;                  /* 0: any free port */
    const char *api_key;       /* NULL: open */
    const char *alias;         /* the model name in responses */
    cs_chat_format format;
    size_t max_body;           /* bytes; more gives 413 */
    int timeout_s;             /* idle connection timeout */
    int max_connections;
} srv_http_params;

typedef struct srv_http srv_http;

/* Start listening (the scheduler and vocabulary outlive it); NULL with an error. */
srv_http *srv_http_start(srv_sched *s, const cs_vocab *v, const srv_http_params *p);
int srv_http_port(const srv_http *h);
void srv_http_stop(srv_http *h);

#endif
