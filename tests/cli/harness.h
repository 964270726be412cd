/* Running the cseek binary from tests: arguments through the shell, stdin
 * from a string, stdout and stderr captured. */
#ifndef CS_TEST_CLI_HARNESS_H
#define CS_TEST_CLI_HARNESS_H

#include <stdbool.h>
#include <sys/wait.h>
#include <unistd.h>

#include "test.h"

typedef struct {
    int rc;
    char *out, *err;
} result;

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return strdup("");
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    size_t r;
    while ((r = fread(b + n, 1, cap - n - 1, f)) > 0) {
        n += r;
        if (cap - n < 2) b = realloc(b, cap *= 2);
    }
    b[n] = 0;
    fclose(f);
    return b;
}

/* `cseek ARGS` with stdin_text (NULL: /dev/null) on its stdin. */
static result run_in(const char *args, const char *stdin_text) {
    char in[256], out[256], err[256], cmd[8192];
    int pid = (int)getpid();
    snprintf(in, sizeof in, "/tmp/cseek_cli_in.%d", pid);
    snprintf(out, sizeof out, "/tmp/cseek_cli_out.%d", pid);
    snprintf(err, sizeof err, "/tmp/cseek_cli_err.%d", pid);
    if (stdin_text) {
        FILE *f = fopen(in, "wb");
        if (f) {
            fputs(stdin_text, f);
            fclose(f);
        }
    }
    snprintf(cmd, sizeof cmd, "%s %s >%s 2>%s <%s", t_cseek_bin(), args, out, err, stdin_text ? in : "/dev/null");
    int st = system(cmd);
    result r;
    r.rc = WIFEXITED(st) ? WEXITSTATUS(st) : 128;
    r.out = slurp(out);
    r.err = slurp(err);
    unlink(in), unlink(out), unlink(err);
    return r;
}

static inline result run(const char *args) { return run_in(args, NULL); }

static inline void done(result *r) { free(r->out), free(r->err); }

static inline int count_lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

/* One line on stderr, starting with the given prefix. */
static inline bool one_line_error(const result *r, const char *prefix) {
    return r->rc != 0 && count_lines(r->err) == 1 && !strncmp(r->err, prefix, strlen(prefix));
}

#endif
