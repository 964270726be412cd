/* cseek run: one prompt in, the streamed reply out (reasoning apart). */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "generation.h"

static void help(void) {
    printf("usage: cseek run -m MODEL (-p PROMPT | -f FILE) [options]\n\n"
           "Generate a reply to one prompt, streamed as it comes. The prompt is wrapped in the\n"
           "model's chat format (see --chat-format) unless --raw. DeepSeek-R1's reasoning (the\n"
           "<think> block) is shown dimmed on a terminal and followed by a blank line and the\n"
           "answer; --json prints {\"reasoning_content\", \"content\", \"finish_reason\", \"usage\"}.\n"
           "Prompt and generation speed go to stderr at the end.\n\n"
           "options:\n"
           "  -p, --prompt TEXT     the prompt ('-' reads stdin)\n"
           "  -f, --file FILE       read the prompt from FILE\n"
           "      --raw             use the prompt as is: no chat format (special tokens in it are\n"
           "                        matched; BOS added as the vocabulary says)\n"
           "      --json            print one JSON object at the end instead of streaming\n"
           "%s%s"
           "  -h, --help            this text\n",
           cli_gen_opts_help, cli_model_opts_help);
}

static char *read_stream(FILE *f) {
    size_t cap = 4096, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    size_t got;
    while ((got = fread(buf + n, 1, cap - n - 1, f)) > 0) {
        n += got;
        if (cap - n < 2) {
            char *b = cap > ((size_t)1 << 31) ? NULL : realloc(buf, cap * 2);
            if (!b) {
                free(buf);
                return NULL;
            }
            buf = b;
            cap *= 2;
        }
    }
    buf[n] = 0;
    return buf;
}

/* Collects the two streams for --json. */
typedef struct {
    char *text[2];
    size_t len[2];
    bool oom;
} collected;

static void collect(cs_text_kind kind, const char *text, size_t len, void *user) {
    collected *c = user;
    int k = kind == CS_REASONING ? 0 : 1;
    char *t = realloc(c->text[k], c->len[k] + len + 1);
    if (!t) {
        c->oom = true;
        return;
    }
    memcpy(t + c->len[k], text, len);
    c->len[k] += len;
    t[c->len[k]] = 0;
    c->text[k] = t;
}

static int print_json(const collected *c, const cs_gen_stats *st, bool hide_reasoning) {
    cJSON *o = cJSON_CreateObject();
    if (!o) return -1;
    if (hide_reasoning)
        cJSON_AddNullToObject(o, "reasoning_content");
    else
        cJSON_AddStringToObject(o, "reasoning_content", c->text[0] ? c->text[0] : "");
    cJSON_AddStringToObject(o, "content", c->text[1] ? c->text[1] : "");
    cJSON_AddStringToObject(o, "finish_reason", cs_gen_status_name(st->status));
    cJSON *u = cJSON_AddObjectToObject(o, "usage");
    cJSON_AddNumberToObject(u, "prompt_tokens", st->n_prompt);
    cJSON_AddNumberToObject(u, "completion_tokens", st->n_gen);
    cJSON_AddNumberToObject(u, "total_tokens", st->n_prompt + st->n_gen);
    cJSON *d = cJSON_AddObjectToObject(u, "completion_tokens_details");
    cJSON_AddNumberToObject(d, "reasoning_tokens", st->n_reasoning);
    cJSON *t = cJSON_AddObjectToObject(o, "timings");
    cJSON_AddNumberToObject(t, "prompt_s", st->t_prompt_s);
    cJSON_AddNumberToObject(t, "generation_s", st->t_gen_s);
    char *s = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    if (!s) return -1;
    puts(s);
    free(s);
    return 0;
}

int cmd_run(int argc, char **argv) {
    cli_model_opts mo;
    cli_gen_opts go;
    cli_model_opts_init(&mo);
    cli_gen_opts_init(&go);
    const char *prompt = NULL, *file = NULL;
    bool raw = false, json = false;
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_model_opt("run", argc, argv, &i, &mo);
        if (r == 0) r = cli_gen_opt("run", argc, argv, &i, &go);
        if (r < 0) goto done;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help();
            rc = 0;
            goto done;
        } else if ((!strcmp(a, "-p") || !strcmp(a, "--prompt")) && i + 1 < argc) {
            prompt = argv[++i];
        } else if ((!strcmp(a, "-f") || !strcmp(a, "--file")) && i + 1 < argc) {
            file = argv[++i];
        } else if (!strcmp(a, "--raw")) {
            raw = true;
        } else if (!strcmp(a, "--json")) {
            json = true;
        } else {
            cli_usage_error("run", "unknown option or missing value: %s", a);
            goto done;
        }
    }
    if (!mo.model) {
        cli_usage_error("run", "no model (-m FILE)");
        goto done;
    }
    if (!prompt == !file) {
        cli_usage_error("run", "give the prompt with -p TEXT or -f FILE (one of them)");
        goto done;
    }

    char *text = NULL;
    if (file || !strcmp(prompt, "-")) {
        FILE *f = file ? fopen(file, "rb") : stdin;
        if (!f) {
            fprintf(stderr, "cseek: %s: cannot open the prompt file\n", file);
            rc = 1;
            goto done;
        }
        text = read_stream(f);
        if (file) fclose(f);
        if (!text) {
            fprintf(stderr, "cseek: run: cannot read the prompt\n");
            rc = 1;
            goto done;
        }
    }

    cli_session s;
    rc = cli_session_open(&s, &mo, &go);
    if (rc) {
        free(text);
        goto done;
    }
    const char *ptext = text ? text : prompt;
    char *rendered = NULL;
    if (!raw) {
        cs_chat_message msgs[2];
        int n = 0;
        if (go.system) msgs[n++] = (cs_chat_message){CS_ROLE_SYSTEM, go.system};
        msgs[n++] = (cs_chat_message){CS_ROLE_USER, ptext};
        rendered = cs_chat_render(s.format, msgs, n, true);
        go.gen.think_prefilled = cs_chat_format_prefills_think(s.format);
    }
    int n_prompt = 0;
    int32_t *toks = NULL;
    cs_generator *g = NULL;
    rc = 1;
    if (!raw && !rendered) {
        cli_fail("run");
        goto out;
    }
    /* the chat format carries its own BOS */
    toks = cli_tokenize_all(s.vocab, raw ? ptext : rendered, raw && cs_vocab_add_bos(s.vocab), true, &n_prompt);
    if (!toks) {
        cli_fail("run: prompt");
        goto out;
    }
    if (n_prompt == 0) {
        fprintf(stderr, "cseek: run: the prompt is empty\n");
        goto out;
    }
    go.gen.cancel = cli_interrupt_flag();
    if (!(g = cs_generator_new(s.vocab, cs_model_n_vocab(s.model), &go.gen))) {
        cli_fail("run");
        goto out;
    }
    cli_catch_interrupt(true);
    cs_gen_stats st;
    collected col = {0};
    cli_printer pr;
    cli_printer_init(&pr, stdout, go.hide_reasoning);
    int r = json ? cs_generate(s.ctx, g, toks, n_prompt, collect, &col, &st)
                 : cs_generate(s.ctx, g, toks, n_prompt, cli_print_emit, &pr, &st);
    cli_catch_interrupt(false);
    if (!json) cli_printer_end(&pr);
    if (r != 0) {
        cli_fail(mo.model);
    } else if (json && (col.oom || print_json(&col, &st, go.hide_reasoning) != 0)) {
        fprintf(stderr, "cseek: run: out of memory\n");
    } else {
        if (!go.quiet) cli_print_stats(&st);
        rc = st.status == CS_GEN_CANCELLED ? 130 : 0;
    }
    free(col.text[0]);
    free(col.text[1]);
out:
    cs_generator_free(g);
    free(toks);
    free(rendered);
    free(text);
    cli_session_close(&s);
done:
    cli_gen_opts_free(&go);
    return rc;
}
