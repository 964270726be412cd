/* Continuous batching: one decode step for n contexts with cs_eval_multi,
 * n = 1, 2, 4, 8 (or those given), against one context's cs_eval step.
 * Prints per n the median time of a step and the aggregate tokens/s.
 *   make bench-multi && build/bench/multi MODEL.gguf [-t THREADS] [-r STEPS] [-p PROMPT] [N ...]
 * Each context first evaluates PROMPT tokens (default 8), so attention is not empty. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cseek.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int cmp_d(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc < 2) {
        fprintf(stderr, "usage: %s MODEL.gguf [-t THREADS] [-r STEPS] [-p PROMPT] [N ...]\n", argv[0]);
        return 2;
    }
    int threads = 2, steps = 9, prompt = 8, ns[16], nn = 0;
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "-t") && i + 1 < argc) threads = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-r") && i + 1 < argc) steps = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-p") && i + 1 < argc) prompt = atoi(argv[++i]);
        else if (nn < 16) ns[nn++] = atoi(argv[i]);
    }
    if (nn == 0) {
        int def[4] = {1, 2, 4, 8};
        memcpy(ns, def, sizeof def);
        nn = 4;
    }
    if (steps < 1 || steps > 1000) steps = 9;
    cs_model *m = cs_model_load(argv[1], NULL);
    if (!m) {
        fprintf(stderr, "multi: %s: %s\n", argv[1], cs_last_error());
        return 1;
    }
    const int V = cs_model_n_vocab(m);
    if (prompt < 1 || prompt > 32) prompt = 8;
    double base = 0;
    printf("%s, %d threads, prompt %d tokens per context, median of %d steps\n", argv[1], threads, prompt, steps);
    printf("%4s %12s %12s %10s\n", "n", "ms/step", "tokens/s", "vs n=1");
    for (int k = 0; k < nn; k++) {
        int n = ns[k];
        if (n < 1 || n > 64) continue;
        cs_context **c = calloc((size_t)n, sizeof *c);
        float *logits = malloc((size_t)n * V * sizeof(float));
        int32_t *tok = malloc((size_t)n * sizeof *tok), p[32];
        double *dt = malloc((size_t)steps * sizeof *dt);
        cs_context_params cp;
        cs_context_params_init(&cp);
        cp.n_ctx = prompt + steps + 8;
        cp.n_threads = threads;
        for (int i = 0; i < n; i++) {
            c[i] = cs_context_new(m, &cp);
            if (!c[i]) {
                fprintf(stderr, "multi: %s\n", cs_last_error());
                return 1;
            }
            for (int j = 0; j < prompt; j++) p[j] = (int32_t)((j * 31 + i * 7 + 1) % V);
            if (cs_eval(c[i], p, prompt, NULL, false)) {
                fprintf(stderr, "multi: %s\n", cs_last_error());
                return 1;
            }
        }
        for (int s = 0; s < steps + 1; s++) { /* the first step warms up */
            for (int i = 0; i < n; i++) tok[i] = (int32_t)((s * 13 + i * 5 + 3) % V);
            double t0 = now();
            int rc = n == 1 ? cs_eval(c[0], tok, 1, logits, false) : cs_eval_multi(c, tok, n, logits);
            double t1 = now();
            if (rc) {
                fprintf(stderr, "multi: %s\n", cs_last_error());
                return 1;
            }
            if (s) dt[s - 1] = t1 - t0;
        }
        qsort(dt, (size_t)steps, sizeof *dt, cmp_d);
        double med = dt[steps / 2], tps = n / med;
        if (n == 1) base = tps;
        printf("%4d %12.1f %12.2f %9.2fx\n", n, med * 1e3, tps, base > 0 ? tps / base : 0.0);
        fflush(stdout);
        for (int i = 0; i < n; i++) cs_context_free(c[i]);
        free(c);
        free(logits);
        free(tok);
        free(dt);
    }
    cs_model_free(m);
    return 0;
}
