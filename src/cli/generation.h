/* Shared by `cseek run` and `cseek chat`: options, the loaded session, and
 * streaming output with the reasoning shown apart. */
#ifndef CS_CLI_GENERATION_H
#define CS_CLI_GENERATION_H

#include <stdio.h>

#include "cli.h"

typedef struct {
    cs_gen_params gen;        /* sampling, max tokens, stop strings, special */
    const char **stops;       /* storage behind gen.stop (argv strings) */
    const char *system;       /* --system */
    const char *chat_format;  /* --chat-format, NULL: from the model */
    bool hide_reasoning;
    bool quiet;
} cli_gen_opts;

void cli_gen_opts_init(cli_gen_opts *g);
void cli_gen_opts_free(cli_gen_opts *g);
/* Like cli_model_opt: 1 consumed, 0 not ours, -1 usage error printed. */
int cli_gen_opt(const char *cmd, int argc, char **argv, int *i, cli_gen_opts *g);
extern const char *const cli_gen_opts_help;

typedef struct {
    cs_model *model;
    cs_vocab *vocab;
    cs_context *ctx;
    cs_chat_format format;
} cli_session;

/* Load the model, its vocabulary and a context; pick the chat format.
 * 0, or an exit code after printing the error. */
int cli_session_open(cli_session *s, cli_model_opts *mo, const cli_gen_opts *go);
void cli_session_close(cli_session *s);

/* All tokens of a NUL-terminated text (malloc'd), NULL with an error set. */
int32_t *cli_tokenize_all(const cs_vocab *v, const char *text, bool add_bos, bool special, int *n_out);

/* Streams generated text: reasoning dimmed on a terminal, a blank line
 * before the answer. Use cli_print_emit as the cs_gen_emit_fn. */
typedef struct {
    FILE *out;
    bool tty, hide_reasoning, dimmed, printed_reasoning, printed_answer;
    char last_char;
} cli_printer;
void cli_printer_init(cli_printer *p, FILE *out, bool hide_reasoning);
void cli_print_emit(cs_text_kind kind, const char *text, size_t len, void *user);
void cli_printer_end(cli_printer *p);
/* "[prompt: N tokens, X tok/s | generation: N tokens, Y tok/s | stop]" on stderr */
void cli_print_stats(const cs_gen_stats *st);

/* While on, SIGINT sets the flag instead of killing the process (the
 * generation stops at the next token); off restores the default. */
void cli_catch_interrupt(bool on);
const volatile int *cli_interrupt_flag(void);

#endif
