/* cseek tokenize -m FILE: text from stdin to token ids. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(void) {
    printf("usage: cseek tokenize -m FILE [options] < TEXT\n\n"
           "Read stdin as raw bytes (nothing is trimmed) and print its token ids on one line,\n"
           "separated by spaces. FILE is a GGUF model or a vocabulary-only GGUF.\n\n"
           "options:\n"
           "  -m, --model FILE      the GGUF file whose vocabulary to use\n"
           "      --no-bos          do not put the BOS token first (default: the file's\n"
           "                        tokenizer.ggml.add_bos_token)\n"
           "      --bos             put the BOS token first whatever the file says\n"
           "      --special         match control tokens written in the text, such as\n"
           "                        <|im_start|> (user-defined ones like <think> always are)\n"
           "      --pieces          print one token per line: its id, a tab, and the text it\n"
           "                        stands for (escaped: \\n, \\t, \\\\, \\xHH)\n"
           "      --bench N         tokenize the input N times and print the speed instead\n"
           "  -h, --help            this text\n");
}

static char *read_all(FILE *f, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap);
    if (!buf) return NULL;
    for (;;) {
        if (n == cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
        size_t r = fread(buf + n, 1, cap - n, f);
        n += r;
        if (r == 0) break;
    }
    if (ferror(f)) {
        free(buf);
        return NULL;
    }
    *len = n;
    return buf;
}

/* Valid UTF-8 printable text as is; controls, backslashes and bytes that do
 * not form a character escaped. */
static void print_escaped(const unsigned char *s, size_t n) {
    for (size_t i = 0; i < n;) {
        unsigned c = s[i];
        if (c == '\n') fputs("\\n", stdout);
        else if (c == '\t') fputs("\\t", stdout);
        else if (c == '\r') fputs("\\r", stdout);
        else if (c == '\\') fputs("\\\\", stdout);
        else if (c < 0x20 || c == 0x7F) printf("\\x%02x", c);
        else if (c < 0x80) putchar((int)c);
        else {
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : c >= 0xC0 ? 2 : 0, k = 1;
            while (k < need && i + k < n && (s[i + k] & 0xC0) == 0x80) k++;
            if (need >= 2 && k == need && c >= 0xC2 && c <= 0xF4) {
                fwrite(s + i, 1, need, stdout);
                i += need;
                continue;
            }
            printf("\\x%02x", c);
        }
        i++;
    }
}

int cmd_tokenize(int argc, char **argv) {
    const char *model = NULL;
    int bos = -1; /* -1: the file's default */
    bool special = false, pieces = false;
    long long bench = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help();
            return 0;
        } else if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
            if (i + 1 >= argc) return cli_usage_error("tokenize", "%s needs a file", a);
            model = argv[++i];
        } else if (!strcmp(a, "--no-bos")) {
            bos = 0;
        } else if (!strcmp(a, "--bos")) {
            bos = 1;
        } else if (!strcmp(a, "--special")) {
            special = true;
        } else if (!strcmp(a, "--pieces")) {
            pieces = true;
        } else if (!strcmp(a, "--bench")) {
            if (i + 1 >= argc || !cli_parse_int(argv[i + 1], 1, 1000000, &bench))
                return cli_usage_error("tokenize", "--bench needs a count from 1 to 1000000");
            i++;
        } else {
            return cli_usage_error("tokenize", "unknown argument %s", a);
        }
    }
    if (!model) return cli_usage_error("tokenize", "no model given (-m FILE)");

    cs_vocab *v = cs_vocab_load(model);
    if (!v) return cli_fail(model);
    size_t len = 0;
    char *text = read_all(stdin, &len);
    if (!text) {
        fprintf(stderr, "cseek: stdin: cannot read the input\n");
        cs_vocab_free(v);
        return 1;
    }
    bool add_bos = bos < 0 ? cs_vocab_add_bos(v) : bos == 1;
    int rc = 0;
    /* at most one token per byte, plus BOS */
    if (len > (size_t)0x7FFFFFF0) {
        fprintf(stderr, "cseek: stdin: the input is too long (%zu bytes)\n", len);
        rc = 1;
        goto done;
    }
    int cap = (int)len + 2;
    int32_t *ids = malloc((size_t)cap * sizeof *ids);
    if (!ids) {
        fprintf(stderr, "cseek: out of memory\n");
        rc = 1;
        goto done;
    }
    double best = 1e30, total = 0;
    int n = 0;
    long long runs = bench > 0 ? bench : 1;
    for (long long r = 0; r < runs; r++) {
        double t0 = cli_time_s();
        n = cs_tokenize(v, text, len, ids, cap, add_bos, special);
        double dt = cli_time_s() - t0;
        if (n < 0) break;
        total += dt;
        if (dt < best) best = dt;
    }
    if (n < 0) {
        rc = cli_fail(model);
    } else if (bench > 0) {
        printf("tokenize: %zu bytes -> %d tokens (%s), %lld runs: best %.2f ms, mean %.2f ms, "
               "%.2f MB/s, %.0f tokens/s\n",
               len, n, cs_vocab_pre(v), runs, best * 1e3, total / (double)runs * 1e3,
               best > 0 ? (double)len / best / 1e6 : 0.0, best > 0 ? n / best : 0.0);
    } else if (pieces) {
        char *buf = NULL;
        int bcap = 0;
        for (int i = 0; i < n && rc == 0; i++) {
            int k = cs_token_to_piece(v, ids[i], buf, bcap, true);
            if (k < 0 && k != CS_TOKENIZE_ERROR) {
                char *nb = realloc(buf, (size_t)-k);
                if (!nb) {
                    fprintf(stderr, "cseek: out of memory\n");
                    rc = 1;
                    break;
                }
                buf = nb;
                bcap = -k;
                k = cs_token_to_piece(v, ids[i], buf, bcap, true);
            }
            if (k < 0) {
                rc = cli_fail(model);
                break;
            }
            printf("%d\t", (int)ids[i]);
            print_escaped((const unsigned char *)buf, (size_t)k);
            putchar('\n');
        }
        free(buf);
    } else {
        for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", (int)ids[i]);
        putchar('\n');
    }
    free(ids);
    if (rc == 0 && (fflush(stdout) != 0 || ferror(stdout))) {
        fprintf(stderr, "cseek: stdout: write error\n");
        rc = 1;
    }
done:
    free(text);
    cs_vocab_free(v);
    return rc;
}
