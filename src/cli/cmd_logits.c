/* cseek logits: the raw logits a model computes for given token ids, for
 * checking against reference implementations. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static void help(void) {
    printf("usage: cseek logits -m MODEL --tokens ID,ID,... [--all] [options]\n\n"
           "Evaluate the token ids (no tokenizer, no BOS added) and print the logits, one line\n"
           "per position, values separated by spaces (%%.7g). Without --all only the last\n"
           "position is printed.\n\n"
           "options:\n"
           "      --tokens LIST     comma-separated token ids\n"
           "      --all             print every position\n"
           "%s"
           "  -h, --help            this text\n\n"
           "--batch 1 feeds one token at a time through the KV cache.\n",
           cli_model_opts_help);
}

/* Parse "1,2,3" strictly. Returns the count or -1. */
static int parse_tokens(const char *s, int32_t **out) {
    int cap = 16, n = 0;
    int32_t *v = malloc(cap * sizeof *v);
    if (!v) return -1;
    const char *p = s;
    while (*p) {
        char buf[32];
        size_t len = strcspn(p, ",");
        long long id;
        if (len == 0 || len >= sizeof buf) goto bad;
        memcpy(buf, p, len);
        buf[len] = 0;
        if (!cli_parse_int(buf, 0, INT32_MAX, &id)) goto bad;
        if (n == cap) {
            int32_t *nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
            if (!nv) goto bad;
            v = nv;
        }
        v[n++] = (int32_t)id;
        p += len;
        if (*p == ',') {
            p++;
            if (!*p) goto bad;
        }
    }
    if (n == 0) goto bad;
    *out = v;
    return n;
bad:
    free(v);
    return -1;
}

int cmd_logits(int argc, char **argv) {
    cli_model_opts o;
    cli_model_opts_init(&o);
    const char *tok_arg = NULL;
    bool all = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            help();
            return 0;
        }
        int r = cli_model_opt("logits", argc, argv, &i, &o);
        if (r < 0) return 2;
        if (r) continue;
        if (!strcmp(argv[i], "--all")) {
            all = true;
        } else if (!strcmp(argv[i], "--tokens")) {
            if (i + 1 >= argc) return cli_usage_error("logits", "--tokens needs a value");
            tok_arg = argv[++i];
        } else {
            return cli_usage_error("logits", "unknown argument %s", argv[i]);
        }
    }
    if (!o.model) return cli_usage_error("logits", "no model given (-m FILE)");
    if (!tok_arg) return cli_usage_error("logits", "no tokens given (--tokens 1,2,3)");
    int32_t *tokens = NULL;
    int n = parse_tokens(tok_arg, &tokens);
    if (n < 0) return cli_usage_error("logits", "bad token list '%s'", tok_arg);

    int rc = 1;
    float *logits = NULL;
    cs_context *c = NULL;
    cs_model *m = cli_load_model(&o);
    if (!m) goto done;
    c = cs_context_new(m, &o.ctx);
    if (!c) {
        cli_fail(o.model);
        goto done;
    }
    int V = cs_model_n_vocab(m);
    logits = malloc((size_t)(all ? n : 1) * (size_t)V * sizeof(float));
    if (!logits) {
        fprintf(stderr, "cseek: logits: out of memory\n");
        goto done;
    }
    if (cs_eval(c, tokens, n, logits, all) != 0) {
        cli_fail(o.model);
        goto done;
    }
    for (int r = 0; r < (all ? n : 1); r++) {
        const float *row = logits + (size_t)r * V;
        for (int j = 0; j < V; j++) printf(j ? " %.7g" : "%.7g", row[j]);
        putchar('\n');
    }
    rc = 0;
done:
    free(logits);
    free(tokens);
    cs_context_free(c);
    cs_model_free(m);
    return rc;
}
