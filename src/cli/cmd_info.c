/* cseek info MODEL: what a model file holds. */
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void help(void) {
    printf("usage: cseek info [options] MODEL\n"
           "       cseek info --system\n\n"
           "Describe a GGUF model: architecture, hyper-parameters, tensor types with counts and\n"
           "bytes, file size, vocabulary size, and KV-cache bytes per token. --system describes\n"
           "the machine instead: CPU, the kernels picked for it, cores and memory.\n\n"
           "options:\n"
           "      --system          the machine, not a model (with a MODEL: both)\n"
           "      --no-mmap         read the file into memory instead of mapping it\n"
           "  -h, --help            this text\n");
}

int cmd_info(int argc, char **argv) {
    cli_model_opts o;
    cli_model_opts_init(&o);
    bool system = false;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
            help();
            return 0;
        }
        if (!strcmp(argv[i], "--system")) {
            system = true;
            continue;
        }
        int r = cli_model_opt("info", argc, argv, &i, &o);
        if (r < 0) return 2;
        if (r) continue;
        if (argv[i][0] == '-') return cli_usage_error("info", "unknown option %s", argv[i]);
        if (o.model) return cli_usage_error("info", "more than one model given");
        o.model = argv[i];
    }
    if (system) {
        cs_system_describe(stdout);
        if (!o.model) return 0;
        putchar('\n');
    }
    if (!o.model) return cli_usage_error("info", "no model given");
    cs_model *m = cli_load_model(&o);
    if (!m) return 1;
    cs_model_print_info(m, stdout);
    cs_model_free(m);
    return 0;
}
