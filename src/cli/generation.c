/* What `cseek run` and `cseek chat` share: sampling and output options, the
 * model + vocabulary + context session, streaming output with the reasoning
 * shown apart (dimmed on a terminal), and the speed line. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "generation.h"

const char *const cli_gen_opts_help =
    "  -n, --max-tokens N    most tokens to generate (default: until the model stops or the\n"
    "                        context is full)\n"
    "  -s, --seed N          sampling seed (default: random)\n"
    "      --temp T          temperature; 0 = greedy (default 0.6, DeepSeek's advice for R1)\n"
    "      --top-p P         nucleus sampling (default 0.95)\n"
    "      --top-k K         keep the K most likely tokens (default 0 = off)\n"
    "      --min-p P         drop tokens below P x the most likely (default 0 = off)\n"
    "      --repeat-penalty R  penalise the last 64 tokens (default 1 = off)\n"
    "      --presence-penalty X, --frequency-penalty X   OpenAI-style penalties (default 0)\n"
    "      --stop TEXT       stop before TEXT (repeatable)\n"
    "      --system TEXT     system prompt\n"
    "      --chat-format F   deepseek-r1, deepseek-v3, qwen2.5 or llama3 (default: from the\n"
    "                        model's chat template)\n"
    "      --hide-reasoning  print only the answer, not the <think> reasoning\n"
    "      --special         print control tokens\n"
    "  -q, --quiet           no speed line at the end\n";

void cli_gen_opts_init(cli_gen_opts *g) {
    memset(g, 0, sizeof *g);
    cs_gen_params_init(&g->gen);
}

void cli_gen_opts_free(cli_gen_opts *g) { free(g->stops); }

static const char *value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_usage_error(cmd, "option %s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

static int float_opt(const char *cmd, const char *name, const char *v, double lo, double hi, float *out) {
    double d;
    if (!v) return -1;
    if (!cli_parse_float(v, &d) || d < lo || d > hi) {
        cli_usage_error(cmd, "bad %s '%s' (%g to %g)", name, v, lo, hi);
        return -1;
    }
    *out = (float)d;
    return 1;
}

int cli_gen_opt(const char *cmd, int argc, char **argv, int *i, cli_gen_opts *g) {
    const char *a = argv[*i], *v;
    cs_sampler_params *s = &g->gen.sampling;
    long long n;
    if (!strcmp(a, "-n") || !strcmp(a, "--max-tokens")) {
        if (!(v = value(cmd, argc, argv, i))) return -1;
        if (!cli_parse_int(v, 1, 1 << 24, &n)) return cli_usage_error(cmd, "bad token count '%s'", v), -1;
        g->gen.max_tokens = (int)n;
    } else if (!strcmp(a, "-s") || !strcmp(a, "--seed")) {
        if (!(v = value(cmd, argc, argv, i))) return -1;
        if (!cli_parse_int(v, 0, INT64_MAX, &n)) return cli_usage_error(cmd, "bad seed '%s'", v), -1;
        s->seed = (uint64_t)n;
    } else if (!strcmp(a, "--temp") || !strcmp(a, "--temperature")) {
        return float_opt(cmd, "temperature", value(cmd, argc, argv, i), 0, 100, &s->temperature);
    } else if (!strcmp(a, "--top-p")) {
        return float_opt(cmd, "top-p", value(cmd, argc, argv, i), 0, 1, &s->top_p);
    } else if (!strcmp(a, "--min-p")) {
        return float_opt(cmd, "min-p", value(cmd, argc, argv, i), 0, 1, &s->min_p);
    } else if (!strcmp(a, "--top-k")) {
        if (!(v = value(cmd, argc, argv, i))) return -1;
        if (!cli_parse_int(v, 0, 1 << 30, &n)) return cli_usage_error(cmd, "bad top-k '%s'", v), -1;
        s->top_k = (int32_t)n;
    } else if (!strcmp(a, "--repeat-penalty")) {
        return float_opt(cmd, "repeat penalty", value(cmd, argc, argv, i), 0.01, 100, &s->repeat_penalty);
    } else if (!strcmp(a, "--presence-penalty")) {
        return float_opt(cmd, "presence penalty", value(cmd, argc, argv, i), -2, 2, &s->presence_penalty);
    } else if (!strcmp(a, "--frequency-penalty")) {
        return float_opt(cmd, "frequency penalty", value(cmd, argc, argv, i), -2, 2, &s->frequency_penalty);
    } else if (!strcmp(a, "--stop")) {
        if (!(v = value(cmd, argc, argv, i))) return -1;
        if (!*v) return cli_usage_error(cmd, "--stop needs a non-empty string"), -1;
        const char **st = realloc(g->stops, (size_t)(g->gen.n_stop + 1) * sizeof *st);
        if (!st) return cli_usage_error(cmd, "out of memory"), -1;
        st[g->gen.n_stop++] = v;
        g->stops = st;
        g->gen.stop = st;
    } else if (!strcmp(a, "--system")) {
        if (!(v = value(cmd, argc, argv, i))) return -1;
        g->system = v;
    } else if (!strcmp(a, "--chat-format")) {
        if (!(v = value(cmd, argc, argv, i))) return -1;
        g->chat_format = v;
    } else if (!strcmp(a, "--hide-reasoning")) {
        g->hide_reasoning = true;
    } else if (!strcmp(a, "--special")) {
        g->gen.special = true;
    } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
        g->quiet = true;
    } else {
        return 0;
    }
    return 1;
}

int cli_session_open(cli_session *s, cli_model_opts *mo, const cli_gen_opts *go) {
    memset(s, 0, sizeof *s);
    if (go->chat_format && cs_chat_format_from_name(go->chat_format, &s->format) != 0)
        return cli_fail("--chat-format");
    if (!(s->model = cli_load_model(mo))) return 1;
    if (!(s->vocab = cs_vocab_from_model(s->model))) {
        cli_fail(mo->model);
        cli_session_close(s);
        return 1;
    }
    if (!go->chat_format) {
        char *tmpl = cs_model_meta_str(s->model, "tokenizer.chat_template");
        s->format = cs_chat_format_detect(tmpl);
        if (tmpl && !cs_chat_template_recognized(tmpl))
            fprintf(stderr, "cseek: warning: chat template not recognised; using %s (see --chat-format)\n",
                    cs_chat_format_name(s->format));
        free(tmpl);
    }
    if (!(s->ctx = cs_context_new(s->model, &mo->ctx))) {
        cli_fail(mo->model);
        cli_session_close(s);
        return 1;
    }
    return 0;
}

void cli_session_close(cli_session *s) {
    cs_context_free(s->ctx);
    cs_vocab_free(s->vocab);
    cs_model_free(s->model);
    memset(s, 0, sizeof *s);
}

int32_t *cli_tokenize_all(const cs_vocab *v, const char *text, bool add_bos, bool special, int *n_out) {
    size_t len = strlen(text);
    if (len > ((size_t)1 << 30)) return NULL;
    int cap = (int)len + 8; /* byte-level BPE: at most one token per byte, + BOS */
    int32_t *toks = malloc((size_t)cap * sizeof *toks);
    if (!toks) return NULL;
    int n = cs_tokenize(v, text, len, toks, cap, add_bos, special);
    if (n < 0 && n != CS_TOKENIZE_ERROR) { /* more tokens than bytes + 8: cannot happen, but be safe */
        int need = -n;
        int32_t *t2 = realloc(toks, (size_t)need * sizeof *toks);
        if (!t2) {
            free(toks);
            return NULL;
        }
        toks = t2;
        n = cs_tokenize(v, text, len, toks, need, add_bos, special);
    }
    if (n < 0) {
        free(toks);
        return NULL;
    }
    *n_out = n;
    return toks;
}

/* ---- streaming output ----------------------------------------------------- */

#define DIM "\033[2m"
#define RESET "\033[0m"

void cli_printer_init(cli_printer *p, FILE *out, bool hide_reasoning) {
    memset(p, 0, sizeof *p);
    p->out = out;
    p->tty = isatty(fileno(out));
    p->hide_reasoning = hide_reasoning;
}

void cli_print_emit(cs_text_kind kind, const char *text, size_t len, void *user) {
    cli_printer *p = user;
    if (kind == CS_REASONING) {
        if (p->hide_reasoning) return;
        if (p->tty && !p->dimmed) fputs(DIM, p->out);
        p->dimmed = p->tty;
        p->printed_reasoning = true;
        p->last_char = len ? text[len - 1] : p->last_char;
    } else {
        if (p->dimmed) fputs(RESET, p->out);
        p->dimmed = false;
        if (p->printed_reasoning && !p->printed_answer) {
            /* a visible break between the reasoning and the answer */
            fputs(p->last_char == '\n' ? "\n" : "\n\n", p->out);
        }
        p->printed_answer = true;
    }
    fwrite(text, 1, len, p->out);
    fflush(p->out);
}

void cli_printer_end(cli_printer *p) {
    if (p->dimmed) fputs(RESET, p->out);
    p->dimmed = false;
    if (p->printed_reasoning || p->printed_answer) fputc('\n', p->out);
    fflush(p->out);
}

void cli_print_stats(const cs_gen_stats *st) {
    double pp = st->t_prompt_s > 0 ? (st->n_prompt - st->n_prompt_cached) / st->t_prompt_s : 0;
    double tg = st->t_gen_s > 0 ? st->n_gen / st->t_gen_s : 0;
    fprintf(stderr, "[prompt: %d tokens", st->n_prompt);
    if (st->n_prompt_cached) fprintf(stderr, " (%d cached)", st->n_prompt_cached);
    fprintf(stderr, ", %.1f tok/s | generation: %d tokens", pp, st->n_gen);
    if (st->n_reasoning) fprintf(stderr, " (%d reasoning)", st->n_reasoning);
    fprintf(stderr, ", %.1f tok/s | %s]\n", tg, cs_gen_status_name(st->status));
}

/* ---- Ctrl-C stops a generation -------------------------------------------- */

static volatile int g_interrupted;

static void on_sigint(int sig) {
    (void)sig;
    g_interrupted = 1;
}

const volatile int *cli_interrupt_flag(void) { return &g_interrupted; }

void cli_catch_interrupt(bool on) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on ? on_sigint : SIG_DFL;
    g_interrupted = 0;
    sigaction(SIGINT, &sa, NULL);
}
