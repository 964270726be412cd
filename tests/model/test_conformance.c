/* The ../shared/conformance cases: every model must reproduce the reference
 * logits within the case's tolerance, evaluated as one batch and one token at
 * a time through the KV cache (see that folder's README). */
#include <cjson/cJSON.h>
#include <dirent.h>
#include <stdint.h>

#include "test.h"
#include "cseek.h"

typedef struct {
    double max_abs_rel;
    double top1; /* fraction of compared positions whose argmax agrees */
} score;

static char *read_file(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    if (buf) buf[n] = 0;
    fclose(f);
    return buf;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

/* Compare engine logits (n x V) with the reference rows, skipping listed positions. */
static score compare(const float *got, const cJSON *ref_rows, const cJSON *skip, int n, int V) {
    double max_diff = 0, max_ref = 0;
    int agree = 0, compared = 0;
    for (int p = 0; p < n; p++) {
        bool skipped = false;
        const cJSON *s;
        cJSON_ArrayForEach(s, skip) if ((int)s->valuedouble == p) skipped = true;
        if (skipped) continue;
        const cJSON *row = cJSON_GetArrayItem(ref_rows, p);
        float *ref = malloc((size_t)V * sizeof *ref);
        int j = 0;
        const cJSON *v;
        cJSON_ArrayForEach(v, row) if (j < V) ref[j++] = (float)v->valuedouble;
        for (j = 0; j < V; j++) {
            double d = fabs((double)got[(size_t)p * V + j] - ref[j]);
            if (d > max_diff) max_diff = d;
            if (fabs(ref[j]) > max_ref) max_ref = fabs(ref[j]);
        }
        agree += argmax(got + (size_t)p * V, V) == argmax(ref, V);
        compared++;
        free(ref);
    }
    score sc = {max_ref > 0 ? max_diff / max_ref : 1e30, compared ? (double)agree / compared : 0};
    return sc;
}

static void run_case(const char *dir, const char *json_name) {
    char path[4096];
    snprintf(path, sizeof path, "%.2000s/%.1000s", dir, json_name);
    char *text = read_file(path);
    CHECKF(text != NULL, "cannot read %s", path);
    if (!text) return;
    cJSON *doc = cJSON_Parse(text);
    free(text);
    CHECKF(doc != NULL, "bad JSON in %s", path);
    if (!doc) return;
    const char *model_name = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "model"));
    const cJSON *tol = cJSON_GetObjectItem(doc, "tolerance");
    double tol_rel = cJSON_GetNumberValue(cJSON_GetObjectItem(tol, "max_abs_rel"));
    const cJSON *t1 = cJSON_GetObjectItem(tol, "top1");
    double tol_top1 = cJSON_IsString(t1) ? 1.0 : cJSON_GetNumberValue(t1); /* "all" */
    snprintf(path, sizeof path, "%.2000s/%.1000s", dir, model_name ? model_name : "?");
    cs_model *m = cs_model_load(path, NULL);
    CHECKF(m != NULL, "%s: %s", model_name, cs_last_error());
    if (!m) {
        cJSON_Delete(doc);
        return;
    }
    int V = cs_model_n_vocab(m);
    const char *weights = cJSON_GetStringValue(cJSON_GetObjectItem(doc, "weights"));
    bool f32_weights = weights && !strcmp(weights, "f32");
    const cJSON *seq;
    cJSON_ArrayForEach(seq, cJSON_GetObjectItem(doc, "sequences")) {
        const char *sname = cJSON_GetStringValue(cJSON_GetObjectItem(seq, "name"));
        const cJSON *toks = cJSON_GetObjectItem(seq, "tokens");
        int n = cJSON_GetArraySize(toks);
        int32_t *ids = malloc((size_t)n * sizeof *ids);
        for (int i = 0; i < n; i++) ids[i] = (int32_t)cJSON_GetArrayItem(toks, i)->valuedouble;
        float *logits = malloc((size_t)n * V * sizeof(float));
        /* 0: one batch, 1: token by token (default cache type); 2: F32 files only,
         * one batch with an F32 cache, which must land far inside the tolerance:
         * the references agree with each other to ~1e-6 there. */
        int modes = f32_weights ? 3 : 2;
        for (int mode = 0; mode < modes; mode++) {
            cs_context_params cp;
            cs_context_params_init(&cp);
            cp.n_ctx = 256;
            cp.n_batch = mode == 1 ? 1 : 512;
            if (mode == 2) {
                cp.cache_type = CS_CACHE_F32;
                cp.cache_type_set = true;
            }
            cs_context *c = cs_context_new(m, &cp);
            CHECKF(c != NULL, "%s: %s", model_name, cs_last_error());
            if (!c) continue;
            int rc = cs_eval(c, ids, n, logits, true);
            CHECKF(rc == 0, "%s: %s", model_name, cs_last_error());
            if (rc == 0) {
                score sc = compare(logits, cJSON_GetObjectItem(seq, "logits"), cJSON_GetObjectItem(seq, "skip"), n, V);
                const char *mname = mode == 0 ? "batch" : mode == 1 ? "tokens" : "f32kv";
                double tol = mode == 2 ? 2e-5 : tol_rel;
                printf("  %-18s %-7s %-6s max_abs_rel %.3g (tol %.3g)  top1 %.3f (need %.2f)\n", model_name, sname,
                       mname, sc.max_abs_rel, tol, sc.top1, tol_top1);
                CHECKF(sc.max_abs_rel <= tol, "%s %s %s: max_abs_rel %g > %g", model_name, sname, mname,
                       sc.max_abs_rel, tol);
                CHECKF(sc.top1 >= tol_top1, "%s %s: top1 %g < %g", model_name, sname, sc.top1, tol_top1);
            }
            cs_context_free(c);
        }
        free(ids);
        free(logits);
    }
    cs_model_free(m);
    cJSON_Delete(doc);
}

static const char *g_arch; /* which cases this test function runs */

static void run_arch_cases(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/conformance", t_shared_dir());
    DIR *d = opendir(dir);
    CHECKF(d != NULL, "no conformance folder at %s (set CSEEK_SHARED)", dir);
    if (!d) return;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json")) continue;
        if (strncmp(e->d_name, g_arch, strlen(g_arch))) continue;
        found++;
        run_case(dir, e->d_name);
    }
    closedir(d);
    CHECKF(found > 0, "no %s cases found", g_arch);
}

static void qwen2_cases(void) { g_arch = "qwen2"; run_arch_cases(); }
static void llama_cases(void) { g_arch = "llama"; run_arch_cases(); }
static void deepseek2_v3_cases(void) { g_arch = "ds3"; run_arch_cases(); }
static void deepseek2_v2lite_cases(void) { g_arch = "ds2lite"; run_arch_cases(); }

int main(void) {
    cs_set_log_level(0);
    RUN(qwen2_cases);
    RUN(llama_cases);
    RUN(deepseek2_v3_cases);
    RUN(deepseek2_v2lite_cases);
    TEST_END();
}
