/* cseek bench: prompt processing and generation speed, set against the
 * memory-bandwidth roofline that bounds generation. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"

static void help(void) {
    printf("usage: cseek bench -m MODEL [-p N] [-n N] [-t N] [-r N] [--json] [--membw]\n\n"
           "Measure prompt processing (ppN: N tokens in batches) and generation (tgN: N tokens\n"
           "one at a time) in tokens/s, median of the runs with min and max. Generation reads\n"
           "every weight once per token, so it is bounded by memory bandwidth: the table shows\n"
           "the weight bytes one token reads, the GB/s achieved, and the fraction of the\n"
           "machine's measured read bandwidth (cached per thread count). With --membw it is\n"
           "measured right before each generation run and each run is set against its own: on a\n"
           "shared machine the bandwidth moves from one minute to the next.\n\n"
           "options:\n"
           "  -p, --prompt N        prompt tokens (default 512; 0 skips)\n"
           "  -n, --gen N           generated tokens (default 128; 0 skips)\n"
           "  -r, --repeat N        runs of each test (default 3)\n"
           "      --json            one JSON object instead of the table\n"
           "      --membw           measure the memory bandwidth before each generation run\n"
           "%s"
           "  -h, --help            this text\n",
           cli_model_opts_help);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

typedef struct {
    double median, min, max;
} stats;

static stats summarize(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    stats s = {n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]), v[0], v[n - 1]};
    return s;
}

/* The bandwidth cache: one number per thread count in $XDG_CACHE_HOME/cseek
 * (or ~/.cache/cseek). */
static void membw_path(int threads, char *dir, size_t dsize, char *path, size_t psize) {
    const char *xdg = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
    if (xdg && *xdg) snprintf(dir, dsize, "%s/cseek", xdg);
    else snprintf(dir, dsize, "%s/.cache/cseek", home && *home ? home : "/tmp");
    snprintf(path, psize, "%s/membw-%dt", dir, threads);
}

static void membw_store(int threads, double bw) {
    char dir[1024], path[1100], parent[1024];
    membw_path(threads, dir, sizeof dir, path, sizeof path);
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash) *slash = 0, mkdir(parent, 0755);
    mkdir(dir, 0755);
    FILE *f = fopen(path, "w");
    if (f) {
        fprintf(f, "%.0f\n", bw);
        fclose(f);
    }
}

/* 512 MiB: far past any last-level cache, quick enough to repeat per run */
static double membw_measure(int threads) { return cs_measure_read_bandwidth(threads, (size_t)1 << 29); }

/* The cached bandwidth, measured (and cached) when there is none. */
static double membw_cached(int threads) {
    char dir[1024], path[1100];
    membw_path(threads, dir, sizeof dir, path, sizeof path);
    double bw = 0;
    FILE *f = fopen(path, "r");
    if (f) {
        if (fscanf(f, "%lf", &bw) != 1) bw = 0;
        fclose(f);
    }
    if (bw > 0) return bw;
    fprintf(stderr, "measuring memory read bandwidth with %d thread%s...\n", threads, threads == 1 ? "" : "s");
    bw = membw_measure(threads);
    if (bw > 0) membw_store(threads, bw);
    return bw;
}

static uint64_t rng_state = 0x2545F4914F6CDD1Dull;
static int32_t random_token(int n_vocab) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (int32_t)(rng_state % (uint64_t)n_vocab);
}

int cmd_bench(int argc, char **argv) {
    cli_model_opts o;
    cli_model_opts_init(&o);
    long long n_prompt = 512, n_gen = 128, reps = 3;
    bool json = false, force_bw = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
            help();
            return 0;
        }
        int r = cli_model_opt("bench", argc, argv, &i, &o);
        if (r < 0) return 2;
        if (r) continue;
        long long *target = NULL;
        if (!strcmp(a, "-p") || !strcmp(a, "--prompt")) target = &n_prompt;
        else if (!strcmp(a, "-n") || !strcmp(a, "--gen")) target = &n_gen;
        else if (!strcmp(a, "-r") || !strcmp(a, "--repeat")) target = &reps;
        else if (!strcmp(a, "--json")) json = true;
        else if (!strcmp(a, "--membw")) force_bw = true;
        else return cli_usage_error("bench", "unknown argument %s", a);
        if (target) {
            if (i + 1 >= argc) return cli_usage_error("bench", "%s needs a value", a);
            if (!cli_parse_int(argv[++i], 0, 1 << 20, target))
                return cli_usage_error("bench", "bad value '%s' for %s", argv[i], a);
        }
    }
    if (!o.model) return cli_usage_error("bench", "no model given (-m FILE)");
    if (reps < 1) return cli_usage_error("bench", "--repeat must be at least 1");
    if (n_prompt + n_gen == 0) return cli_usage_error("bench", "nothing to measure (-p 0 -n 0)");

    cs_model *m = cli_load_model(&o);
    if (!m) return 1;
    int threads = o.ctx.n_threads ? o.ctx.n_threads : 0;
    if (o.ctx.n_ctx == 4096 && n_prompt + n_gen > 4096) o.ctx.n_ctx = (int)(n_prompt + n_gen);
    cs_context *c = cs_context_new(m, &o.ctx);
    if (!c) {
        cli_fail(o.model);
        cs_model_free(m);
        return 1;
    }
    threads = cs_context_n_threads(c);
    int V = cs_model_n_vocab(m);
    float *logits = malloc((size_t)V * sizeof(float));
    int32_t *toks = malloc((size_t)(n_prompt > 0 ? n_prompt : 1) * sizeof(int32_t));
    double *pp = malloc((size_t)reps * sizeof(double)), *tg = malloc((size_t)reps * sizeof(double));
    double *bws = malloc((size_t)reps * sizeof(double)), *frac = malloc((size_t)reps * sizeof(double));
    int rc = 1;
    if (!logits || !toks || !pp || !tg || !bws || !frac) {
        fprintf(stderr, "cseek: bench: out of memory\n");
        goto done;
    }
    /* one untimed warm-up pass pages the weights in */
    {
        int32_t t = random_token(V);
        if (cs_eval(c, &t, 1, logits, false) != 0) {
            cli_fail(o.model);
            goto done;
        }
    }
    for (int r = 0; r < reps; r++) {
        if (n_prompt > 0) {
            for (int i = 0; i < n_prompt; i++) toks[i] = random_token(V);
            cs_context_truncate(c, 0);
            double t0 = cli_time_s();
            if (cs_eval(c, toks, (int)n_prompt, logits, false) != 0) {
                cli_fail(o.model);
                goto done;
            }
            pp[r] = (double)n_prompt / (cli_time_s() - t0);
        }
        if (n_gen > 0) {
            /* --membw: the bandwidth of this very minute, right before the run
             * it is the roofline of (on a shared machine it moves a lot) */
            if (force_bw && !(bws[r] = membw_measure(threads))) {
                fprintf(stderr, "cseek: bench: cannot measure the memory bandwidth (out of memory?)\n");
                goto done;
            }
            cs_context_truncate(c, 0);
            double t0 = cli_time_s();
            for (int i = 0; i < n_gen; i++) {
                int32_t t = random_token(V);
                if (cs_eval(c, &t, 1, logits, false) != 0) {
                    cli_fail(o.model);
                    goto done;
                }
            }
            tg[r] = (double)n_gen / (cli_time_s() - t0);
        }
    }
    uint64_t wbytes = cs_model_weight_bytes_per_token(m);
    stats sp = {0}, sg = {0};
    if (n_prompt > 0) sp = summarize(pp, (int)reps);
    double bw = 0, roofline = 0; /* bytes/s; fraction of it reached */
    if (n_gen > 0) {
        if (force_bw) { /* each run against the bandwidth measured just before it */
            for (int r = 0; r < reps; r++) frac[r] = tg[r] * (double)wbytes / bws[r];
            roofline = summarize(frac, (int)reps).median;
            bw = summarize(bws, (int)reps).median;
            membw_store(threads, bw);
        } else {
            bw = membw_cached(threads);
        }
        sg = summarize(tg, (int)reps);
        if (!force_bw && bw > 0) roofline = sg.median * (double)wbytes / bw;
    }
    double gbs = sg.median * (double)wbytes / 1e9;
    if (json) {
        cJSON *j = cJSON_CreateObject();
        cJSON_AddStringToObject(j, "model", o.model);
        cJSON_AddStringToObject(j, "arch", cs_model_arch(m));
        cJSON_AddNumberToObject(j, "size_bytes", (double)cs_model_size_bytes(m));
        cJSON_AddNumberToObject(j, "params", (double)cs_model_n_params(m));
        cJSON_AddNumberToObject(j, "threads", threads);
        cJSON_AddNumberToObject(j, "repeats", (double)reps);
        if (n_prompt > 0) {
            cJSON *p = cJSON_AddObjectToObject(j, "prompt");
            cJSON_AddNumberToObject(p, "tokens", (double)n_prompt);
            cJSON_AddNumberToObject(p, "tokens_per_s", sp.median);
            cJSON_AddNumberToObject(p, "min", sp.min);
            cJSON_AddNumberToObject(p, "max", sp.max);
        }
        if (n_gen > 0) {
            cJSON *g = cJSON_AddObjectToObject(j, "generation");
            cJSON_AddNumberToObject(g, "tokens", (double)n_gen);
            cJSON_AddNumberToObject(g, "tokens_per_s", sg.median);
            cJSON_AddNumberToObject(g, "min", sg.min);
            cJSON_AddNumberToObject(g, "max", sg.max);
            cJSON_AddNumberToObject(g, "weight_bytes_per_token", (double)wbytes);
            cJSON_AddNumberToObject(g, "gb_per_s", gbs);
            cJSON_AddNumberToObject(g, "membw_gb_per_s", bw / 1e9);
            cJSON_AddNumberToObject(g, "roofline_fraction", roofline);
            cJSON_AddBoolToObject(g, "membw_measured_per_run", force_bw);
        }
        char *txt = cJSON_Print(j);
        puts(txt);
        free(txt);
        cJSON_Delete(j);
    } else {
        const char *name = strrchr(o.model, '/') ? strrchr(o.model, '/') + 1 : o.model;
        printf("| %-28s | %9s | %8s | %7s | %-6s | %24s | %7s | %8s |\n", "model", "size", "params", "threads", "test",
               "t/s median [min-max]", "GB/s", "roofline");
        printf("|------------------------------|-----------|----------|---------|--------|--------------------------|---------|"
               "----------|\n");
        char size[32], params[32], cell[64];
        double gib = cs_model_size_bytes(m) / 1073741824.0, np = (double)cs_model_n_params(m);
        if (gib >= 1.0) snprintf(size, sizeof size, "%.2f GiB", gib);
        else snprintf(size, sizeof size, "%.1f MiB", gib * 1024.0);
        if (np >= 1e9) snprintf(params, sizeof params, "%.2f B", np / 1e9);
        else snprintf(params, sizeof params, "%.1f M", np / 1e6);
        if (n_prompt > 0) {
            char test[32];
            snprintf(test, sizeof test, "pp%lld", n_prompt);
            snprintf(cell, sizeof cell, "%.2f [%.2f-%.2f]", sp.median, sp.min, sp.max);
            printf("| %-28.28s | %9s | %8s | %7d | %-6s | %24s | %7s | %8s |\n", name, size, params, threads, test, cell,
                   "", "");
        }
        if (n_gen > 0) {
            char test[32], g[32], roof[32];
            snprintf(test, sizeof test, "tg%lld", n_gen);
            snprintf(cell, sizeof cell, "%.2f [%.2f-%.2f]", sg.median, sg.min, sg.max);
            snprintf(g, sizeof g, "%.1f", gbs);
            snprintf(roof, sizeof roof, "%.0f%%", 100.0 * roofline);
            printf("| %-28.28s | %9s | %8s | %7d | %-6s | %24s | %7s | %8s |\n", name, size, params, threads, test, cell, g,
                   roof);
            printf("\nweights read per generated token: %.3f GB; memory read bandwidth (%d thread%s): %.1f GB/s%s; "
                   "roofline %.1f tokens/s\n",
                   wbytes / 1e9, threads, threads == 1 ? "" : "s", bw / 1e9,
                   force_bw ? " (median of one measurement before each run; roofline: median of the runs' fractions)"
                            : " (cached; --membw measures before each run)",
                   bw > 0 ? bw / (double)wbytes : 0.0);
        }
    }
    rc = 0;
done:
    free(logits);
    free(toks);
    free(pp);
    free(tg);
    free(bws);
    free(frac);
    cs_context_free(c);
    cs_model_free(m);
    return rc;
}
