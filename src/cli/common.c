/* Options and loading shared by the commands that run a model. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

const char *const cli_model_opts_help =
    "  -m, --model FILE      GGUF model (first shard of a split model)\n"
    "  -c, --ctx-size N      context size in tokens (default 4096; 0 = the trained length)\n"
    "  -t, --threads N       threads (default: physical cores)\n"
    "  -b, --batch N         most tokens per forward pass (default 512)\n"
    "      --cache-type T    KV cache type: f32, f16 (default) or q8_0 (deepseek2 only)\n"
    "      --no-mmap         read the weights into memory instead of mapping the file\n"
    "      --mlock           lock the weights in RAM\n";

void cli_model_opts_init(cli_model_opts *o) {
    memset(o, 0, sizeof *o);
    cs_load_params_init(&o->load);
    cs_context_params_init(&o->ctx);
}

static const char *need_value(const char *cmd, int argc, char **argv, int *i) {
    if (*i + 1 >= argc) {
        cli_usage_error(cmd, "option %s needs a value", argv[*i]);
        return NULL;
    }
    return argv[++*i];
}

int cli_model_opt(const char *cmd, int argc, char **argv, int *i, cli_model_opts *o) {
    const char *a = argv[*i], *v;
    long long n;
    if (!strcmp(a, "-m") || !strcmp(a, "--model")) {
        if (!(v = need_value(cmd, argc, argv, i))) return -1;
        o->model = v;
    } else if (!strcmp(a, "-c") || !strcmp(a, "--ctx-size")) {
        if (!(v = need_value(cmd, argc, argv, i))) return -1;
        if (!cli_parse_int(v, 0, 1 << 24, &n)) return cli_usage_error(cmd, "bad context size '%s'", v), -1;
        o->ctx.n_ctx = (int)n;
    } else if (!strcmp(a, "-t") || !strcmp(a, "--threads")) {
        if (!(v = need_value(cmd, argc, argv, i))) return -1;
        if (!cli_parse_int(v, 1, 1024, &n)) return cli_usage_error(cmd, "bad thread count '%s'", v), -1;
        o->ctx.n_threads = (int)n;
    } else if (!strcmp(a, "-b") || !strcmp(a, "--batch")) {
        if (!(v = need_value(cmd, argc, argv, i))) return -1;
        if (!cli_parse_int(v, 1, 1 << 20, &n)) return cli_usage_error(cmd, "bad batch size '%s'", v), -1;
        o->ctx.n_batch = (int)n;
    } else if (!strcmp(a, "--cache-type")) {
        if (!(v = need_value(cmd, argc, argv, i))) return -1;
        if (!strcmp(v, "f32")) o->ctx.cache_type = CS_CACHE_F32;
        else if (!strcmp(v, "f16")) o->ctx.cache_type = CS_CACHE_F16;
        else if (!strcmp(v, "q8_0")) o->ctx.cache_type = CS_CACHE_Q8_0;
        else return cli_usage_error(cmd, "unknown cache type '%s' (f32, f16, q8_0)", v), -1;
        o->ctx.cache_type_set = true;
    } else if (!strcmp(a, "--no-mmap")) {
        o->load.no_mmap = true;
    } else if (!strcmp(a, "--mlock")) {
        o->load.mlock = true;
    } else {
        return 0;
    }
    return 1;
}

cs_model *cli_load_model(cli_model_opts *o) {
    o->load.progress = cli_progress;
    cs_model *m = cs_model_load(o->model, &o->load);
    if (!m) cli_fail(o->model);
    return m;
}
