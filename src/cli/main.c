/* cseek: the command-line front end. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

typedef struct {
    const char *name;
    int (*fn)(int argc, char **argv);
    const char *summary;
} command;

static const command commands[] = {
    {"bench", cmd_bench, "measure prompt and generation speed against the memory-bandwidth roofline"},
    {"chat", cmd_chat, "talk to a model: multi-turn, line editing, reasoning shown apart"},
    {"info", cmd_info, "describe a model: architecture, hyper-parameters, tensors, memory"},
    {"logits", cmd_logits, "print the logits a model computes for a list of token ids"},
    {"mkmodel", cmd_mkmodel, "write a synthetic GGUF model with seeded random weights"},
    {"quantize", cmd_quantize, "rewrite a GGUF in another type (q8_0, q4_k_m, ...) with llama.cpp's per-tensor rules"},
    {"run", cmd_run, "generate a reply to one prompt, streamed (--json for reasoning/content)"},
    {"serve", cmd_serve, "an OpenAI/DeepSeek-compatible HTTP server with a chat page"},
    {"tokenize", cmd_tokenize, "turn text from stdin into token ids"},
};

static void usage(FILE *out) {
    fprintf(out,
            "cseek %s: DeepSeek models (deepseek2, qwen2, llama GGUF) on the CPU\n\n"
            "usage: cseek COMMAND [options]   (cseek COMMAND --help for its options)\n\ncommands:\n",
            CSEEK_VERSION);
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(out, "  %-10s %s\n", commands[i].name, commands[i].summary);
}

int cli_fail(const char *what) {
    if (what)
        fprintf(stderr, "cseek: %s: %s\n", what, cs_last_error());
    else
        fprintf(stderr, "cseek: %s\n", cs_last_error());
    return 1;
}

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "cseek: %s: ", cmd);
    vfprintf(stderr, fmt, ap);
    fprintf(stderr, " (see cseek %s --help)\n", cmd);
    va_end(ap);
    return 2;
}

bool cli_parse_int(const char *s, long long min, long long max, long long *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    long long v = strtoll(s, &end, 10);
    if (errno || *end || v < min || v > max) return false;
    *out = v;
    return true;
}

bool cli_parse_float(const char *s, double *out) {
    if (!s || !*s) return false;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v)) return false;
    *out = v;
    return true;
}

double cli_time_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cli_progress(double fraction, void *user) {
    const char *what = user ? (const char *)user : "loading";
    static int last = -1;
    if (!isatty(2)) return;
    int pct = (int)(fraction * 100.0);
    if (pct == last) return;
    last = pct;
    fprintf(stderr, "\r%s %3d%%", what, pct);
    if (pct >= 100) {
        fprintf(stderr, "\r%*s\r", (int)strlen(what) + 5, "");
        last = -1;
    }
    fflush(stderr);
}

int main(int argc, char **argv) {
    if (argc < 2) {
        usage(stderr);
        return 2;
    }
    if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
        usage(stdout);
        return 0;
    }
    if (!strcmp(argv[1], "--version")) {
        printf("cseek %s\n", CSEEK_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "cseek: unknown command '%s' (see cseek --help)\n", argv[1]);
    return 2;
}
