/* cli: the `cseek` command. Each subcommand is one cmd_*.c file with an entry
 * point below, listed in main.c's table. Front ends use only include/cseek.h
 * (and this folder's helpers). */
#ifndef CS_CLI_H
#define CS_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include "cseek.h"

int cmd_bench(int argc, char **argv);
int cmd_chat(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_logits(int argc, char **argv);
int cmd_mkmodel(int argc, char **argv);
int cmd_quantize(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_serve(int argc, char **argv);
int cmd_tokenize(int argc, char **argv);

/* Print "cseek: <what>: <cs_last_error()>" (what may be NULL) and return 1. */
int cli_fail(const char *what);
/* Print "cseek: <cmd>: <message>" for usage errors and return 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Strict number parsing: the whole string must be a number in range. */
bool cli_parse_int(const char *s, long long min, long long max, long long *out);
bool cli_parse_float(const char *s, double *out);

/* Options shared by every command that loads a model. */
typedef struct {
    const char *model;        /* -m / --model */
    cs_load_params load;      /* --no-mmap, --mlock */
    cs_context_params ctx;    /* -c, -t, --batch, --cache-type */
} cli_model_opts;

void cli_model_opts_init(cli_model_opts *o);
/* If argv[*i] is one of the shared options, consume it (and its value) and
 * return 1; return 0 if it is not; return -1 after printing a usage error. */
int cli_model_opt(const char *cmd, int argc, char **argv, int *i, cli_model_opts *o);
/* Help text for the shared options. */
extern const char *const cli_model_opts_help;
/* Load the model named in o (with progress on a terminal); NULL after printing the error. */
cs_model *cli_load_model(cli_model_opts *o);

/* Monotonic wall-clock seconds. */
double cli_time_s(void);

/* A progress line on stderr when it is a terminal: "loading  42%", or with user
 * a const char * naming the work ("writing", "quantizing"). */
void cli_progress(double fraction, void *user);

#endif
