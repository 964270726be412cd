/* cseek chat: an interactive multi-turn conversation. Each turn renders the
 * whole conversation in the model's chat format; the context still holds the
 * previous turns' tokens, so only the new part is evaluated. */
#include <editline/readline.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "generation.h"

static void help(void) {
    printf("usage: cseek chat -m MODEL [options]\n\n"
           "Talk to a model, turn by turn, with line editing and history. The reasoning of R1\n"
           "models is shown dimmed before each answer. Ctrl-C stops a reply; commands:\n"
           "  /reset   forget the conversation\n"
           "  /exit    leave (also Ctrl-D)\n\n"
           "options:\n"
           "%s%s"
           "  -h, --help            this text\n",
           cli_gen_opts_help, cli_model_opts_help);
}

/* One line from the user: libedit on a terminal, plain reads otherwise (pipes, tests). */
static char *read_line(bool tty) {
    if (tty) {
        char *l = readline("> ");
        if (l && *l) add_history(l);
        return l;
    }
    char *line = NULL;
    size_t cap = 0;
    ssize_t n = getline(&line, &cap, stdin);
    if (n < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n') line[n - 1] = 0;
    return line;
}

typedef struct {
    cs_chat_message *msgs;
    char **owned; /* the strings behind msgs */
    int n, cap;
} conversation;

static int conv_add(conversation *c, cs_chat_role role, const char *text, size_t len) {
    if (c->n == c->cap) {
        int cap = c->cap ? c->cap * 2 : 8;
        cs_chat_message *m = realloc(c->msgs, (size_t)cap * sizeof *m);
        if (!m) return -1;
        c->msgs = m;
        char **o = realloc(c->owned, (size_t)cap * sizeof *o);
        if (!o) return -1;
        c->owned = o;
        c->cap = cap;
    }
    char *s = malloc(len + 1);
    if (!s) return -1;
    memcpy(s, text, len);
    s[len] = 0;
    c->owned[c->n] = s;
    c->msgs[c->n++] = (cs_chat_message){role, s};
    return 0;
}

static void conv_clear(conversation *c, int keep) {
    while (c->n > keep) free(c->owned[--c->n]);
}

/* The answer of the current turn (the reasoning is not kept: R1's format drops it). */
typedef struct {
    cli_printer pr;
    char *answer;
    size_t len;
} turn;

static void on_text(cs_text_kind kind, const char *text, size_t len, void *user) {
    turn *t = user;
    cli_print_emit(kind, text, len, &t->pr);
    if (kind != CS_ANSWER) return;
    char *a = realloc(t->answer, t->len + len + 1);
    if (!a) return;
    memcpy(a + t->len, text, len);
    t->len += len;
    a[t->len] = 0;
    t->answer = a;
}

int cmd_chat(int argc, char **argv) {
    cli_model_opts mo;
    cli_gen_opts go;
    cli_model_opts_init(&mo);
    cli_gen_opts_init(&go);
    int rc = 2;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int r = cli_model_opt("chat", argc, argv, &i, &mo);
        if (r == 0) r = cli_gen_opt("chat", argc, argv, &i, &go);
        if (r < 0) goto done;
        if (r > 0) continue;
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help();
            rc = 0;
            goto done;
        }
        cli_usage_error("chat", "unknown option: %s", a);
        goto done;
    }
    if (!mo.model) {
        cli_usage_error("chat", "no model (-m FILE)");
        goto done;
    }
    cli_session s;
    if ((rc = cli_session_open(&s, &mo, &go))) goto done;
    go.gen.think_prefilled = cs_chat_format_prefills_think(s.format);
    go.gen.cancel = cli_interrupt_flag();
    cs_generator *g = cs_generator_new(s.vocab, cs_model_n_vocab(s.model), &go.gen);
    if (!g) {
        rc = cli_fail("chat");
        cli_session_close(&s);
        goto done;
    }
    bool tty = isatty(0);
    if (tty)
        fprintf(stderr, "cseek chat: %s (%s format). /reset forgets, /exit leaves, Ctrl-C stops a reply.\n",
                mo.model, cs_chat_format_name(s.format));
    conversation conv = {0};
    int base = 0;
    if (go.system && conv_add(&conv, CS_ROLE_SYSTEM, go.system, strlen(go.system)) == 0) base = 1;
    rc = 0;
    char *line;
    while ((line = read_line(tty))) {
        if (!strcmp(line, "/exit") || !strcmp(line, "/quit")) {
            free(line);
            break;
        }
        if (!strcmp(line, "/reset")) {
            conv_clear(&conv, base);
            cs_context_truncate(s.ctx, 0);
            fprintf(stderr, "(conversation forgotten)\n");
            free(line);
            continue;
        }
        if (!line[0]) {
            free(line);
            continue;
        }
        int mark = conv.n;
        if (conv_add(&conv, CS_ROLE_USER, line, strlen(line)) != 0) {
            free(line);
            rc = 1;
            fprintf(stderr, "cseek: chat: out of memory\n");
            break;
        }
        free(line);
        char *prompt = cs_chat_render(s.format, conv.msgs, conv.n, true);
        int n_prompt = 0;
        int32_t *toks = prompt ? cli_tokenize_all(s.vocab, prompt, false, true, &n_prompt) : NULL;
        free(prompt);
        if (!toks) {
            cli_fail("chat");
            conv_clear(&conv, mark);
            continue;
        }
        turn t = {0};
        cli_printer_init(&t.pr, stdout, go.hide_reasoning);
        cs_generator_reset(g);
        cs_gen_stats st;
        cli_catch_interrupt(true);
        int r = cs_generate(s.ctx, g, toks, n_prompt, on_text, &t, &st);
        cli_catch_interrupt(false);
        cli_printer_end(&t.pr);
        free(toks);
        if (r != 0) {
            /* e.g. the conversation outgrew the context: say so and drop the turn */
            cli_fail("chat");
            conv_clear(&conv, mark);
            cs_context_truncate(s.ctx, 0);
            free(t.answer);
            continue;
        }
        if (st.status == CS_GEN_CANCELLED) fprintf(stderr, "(stopped)\n");
        if (!go.quiet) cli_print_stats(&st);
        conv_add(&conv, CS_ROLE_ASSISTANT, t.answer ? t.answer : "", t.len);
        free(t.answer);
    }
    if (tty) fputc('\n', stderr);
    conv_clear(&conv, 0);
    free(conv.msgs);
    free(conv.owned);
    cs_generator_free(g);
    cli_session_close(&s);
done:
    cli_gen_opts_free(&go);
    return rc;
}
