/* cseek serve: the OpenAI / DeepSeek-compatible HTTP API and the chat page
 * (src/server/). SIGINT and SIGTERM are taken by sigwait() in the main thread
 * (blocked everywhere else): running requests are cancelled, then the HTTP
 * threads, the scheduler and the model are stopped and freed. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../server/server.h"
#include "cli.h"

static void help(void) {
    printf("usage: cseek serve -m MODEL [options]\n\n"
           "Serve the model over HTTP: POST /v1/chat/completions and /v1/completions (OpenAI and\n"
           "DeepSeek API shapes, streaming with \"stream\": true; DeepSeek-R1's reasoning comes as\n"
           "reasoning_content), GET /v1/models, GET /health, POST /tokenize and /detokenize, and a\n"
           "chat page at GET /. One line per request goes to stderr. Ctrl-C or SIGTERM stops it.\n\n"
           "options:\n"
           "      --host ADDR       address to listen on (default 127.0.0.1; 0.0.0.0 for all)\n"
           "      --port N          port (default 8080; 0 = any free port, printed at start)\n"
           "      --parallel N      requests generated at once, one slot each (default 4)\n"
           "      --queue N         requests that may wait for a slot; more get 503\n"
           "                        (default 4 x parallel)\n"
           "      --api-key KEY     require \"Authorization: Bearer KEY\" (all but /health and /)\n"
           "      --model-alias S   the model name in responses (default: the file's general.name)\n"
           "      --chat-format F   deepseek-r1, deepseek-v3, qwen2.5 or llama3 (default: from the\n"
           "                        model's chat template)\n"
           "      --timeout S       close connections idle for S seconds (default 30)\n"
           "      --max-body BYTES  largest request body (default 8388608); more gives 413\n"
           "%s"
           "                        (-c is the context of each slot; default 4096)\n"
           "  -h, --help            this text\n",
           cli_model_opts_help);
}

static char *default_alias(cs_model *m, const char *path) {
    char *name = cs_model_meta_str(m, "general.name");
    if (name && *name) return name;
    free(name);
    const char *b = strrchr(path, '/');
    b = b ? b + 1 : path;
    size_t n = strlen(b);
    if (n > 5 && !strcmp(b + n - 5, ".gguf")) n -= 5;
    char *s = malloc(n + 1);
    if (s) {
        memcpy(s, b, n);
        s[n] = 0;
    }
    return s;
}

int cmd_serve(int argc, char **argv) {
    cli_model_opts mo;
    cli_model_opts_init(&mo);
    mo.ctx.n_ctx = 4096;
    srv_http_params hp = {.host = "127.0.0.1", .port = 8080, .max_body = 8u << 20, .timeout_s = 30};
    int parallel = 4, queue = -1;
    const char *chat_format = NULL, *alias = NULL;
    long long n;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_model_opt("serve", argc, argv, &i, &mo);
        if (r < 0) return 2;
        if (r > 0) continue;
        bool has = i + 1 < argc;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help();
            return 0;
        } else if (!strcmp(a, "--host") && has) {
            hp.host = argv[++i];
        } else if (!strcmp(a, "--port") && has) {
            if (!cli_parse_int(argv[++i], 0, 65535, &n)) return cli_usage_error("serve", "bad port '%s'", argv[i]);
            hp.port = (int)n;
        } else if (!strcmp(a, "--parallel") && has) {
            if (!cli_parse_int(argv[++i], 1, 256, &n))
                return cli_usage_error("serve", "bad --parallel '%s' (1 to 256)", argv[i]);
            parallel = (int)n;
        } else if (!strcmp(a, "--queue") && has) {
            if (!cli_parse_int(argv[++i], 0, 1 << 16, &n)) return cli_usage_error("serve", "bad --queue '%s'", argv[i]);
            queue = (int)n;
        } else if (!strcmp(a, "--api-key") && has) {
            hp.api_key = argv[++i];
            if (!*hp.api_key) return cli_usage_error("serve", "--api-key needs a non-empty key");
        } else if (!strcmp(a, "--model-alias") && has) {
            alias = argv[++i];
        } else if (!strcmp(a, "--chat-format") && has) {
            chat_format = argv[++i];
        } else if (!strcmp(a, "--timeout") && has) {
            if (!cli_parse_int(argv[++i], 1, 86400, &n)) return cli_usage_error("serve", "bad --timeout '%s'", argv[i]);
            hp.timeout_s = (int)n;
        } else if (!strcmp(a, "--max-body") && has) {
            if (!cli_parse_int(argv[++i], 1024, 1LL << 32, &n))
                return cli_usage_error("serve", "bad --max-body '%s'", argv[i]);
            hp.max_body = (size_t)n;
        } else {
            return cli_usage_error("serve", "unknown option or missing value: %s", a);
        }
    }
    if (!mo.model) return cli_usage_error("serve", "no model (-m FILE)");
    if (chat_format && cs_chat_format_from_name(chat_format, &hp.format) != 0) return cli_fail("--chat-format");
    /* a thread per connection: room for every slot, the queue and some more (health, page) */
    int q = queue >= 0 ? queue : 4 * parallel;
    hp.max_connections = parallel + q + 32;

    /* block the stop signals before any thread starts: only sigwait() below sees them */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    int rc = 1;
    char *alias_buf = NULL;
    cs_vocab *vocab = NULL;
    srv_sched *sched = NULL;
    srv_http *http = NULL;
    cs_model *m = cli_load_model(&mo);
    if (!m) goto out;
    if (!(vocab = cs_vocab_from_model(m))) {
        cli_fail(mo.model);
        goto out;
    }
    if (!chat_format) {
        char *tmpl = cs_model_meta_str(m, "tokenizer.chat_template");
        hp.format = cs_chat_format_detect(tmpl);
        if (tmpl && !cs_chat_template_recognized(tmpl))
            fprintf(stderr, "cseek: warning: chat template not recognised; using %s (see --chat-format)\n",
                    cs_chat_format_name(hp.format));
        free(tmpl);
    }
    if (!alias && !(alias = alias_buf = default_alias(m, mo.model))) goto out;
    hp.alias = alias;
    srv_sched_params sp = {.n_slots = parallel, .queue_cap = q, .ctx = mo.ctx};
    if (!(sched = srv_sched_new(m, vocab, &sp))) goto out;
    if (!(http = srv_http_start(sched, vocab, &hp))) goto out;
    fprintf(stderr, "cseek: serving %s (%s) on http://%s%s%s:%d/ with %d slot%s of %d tokens\n", alias,
            cs_chat_format_name(hp.format), strchr(hp.host, ':') ? "[" : "", hp.host, strchr(hp.host, ':') ? "]" : "",
            srv_http_port(http), parallel, parallel == 1 ? "" : "s", srv_sched_n_ctx(sched));

    int sig = 0;
    sigwait(&stop, &sig);
    fprintf(stderr, "cseek: %s: stopping\n", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
out:
    srv_sched_stop(sched);  /* ends every job: waiting handlers and streams return */
    srv_http_stop(http);    /* joins the connection threads */
    srv_sched_free(sched);
    cs_vocab_free(vocab);
    cs_model_free(m);
    free(alias_buf);
    return rc;
}
