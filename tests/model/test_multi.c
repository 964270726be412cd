/* cs_eval_multi: one decode step for several contexts of one model.
 *  - on tiny-qwen2, tiny-llama, tiny-v3, tiny-v2-lite (cs_mkmodel) and the
 *    conformance GGUFs: four contexts with prompts of different lengths, cache
 *    types and sizes take several multi steps (subsets, permuted orders, one
 *    step without logits); every row must match a cs_eval of that token on a
 *    twin context evaluated alone, and so must a prompt-sized cs_eval after;
 *  - bad calls (n = 0, NULL or repeated contexts, two models, a full context,
 *    a bad token, more contexts than the first one's batch) fail with a message
 *    and change nothing. */
#include <stdint.h>
#include <unistd.h>

#include "test.h"
#include "cseek.h"

#define NC 4

static char g_tmp[256];

static const char *tmp_path(const char *name) {
    static char buf[4][512];
    static int i;
    i = (i + 1) % 4;
    snprintf(buf[i], sizeof buf[i], "%s/%s", g_tmp, name);
    return buf[i];
}

static int mkmodel(const char *preset, const char *type, uint64_t seed, const char *out) {
    cs_mkmodel_params p;
    memset(&p, 0, sizeof p);
    p.preset = preset;
    p.type = type;
    p.seed = seed;
    p.out_path = out;
    int rc = cs_mkmodel(&p);
    if (rc) fprintf(stderr, "  mkmodel %s: %s\n", preset, cs_last_error());
    return rc;
}

static double max_abs_rel(const float *a, const float *ref, size_t n) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d = fmax(d, fabs((double)a[i] - ref[i]));
        r = fmax(r, fabs((double)ref[i]));
    }
    return r > 0 ? d / r : 1e30;
}

/* Context k's parameters: the first one small (so others' attention needs
 * more score scratch than it was made with), mixed cache types and threads. */
static cs_context *new_ctx(cs_model *m, int k, bool latent) {
    cs_context_params cp;
    cs_context_params_init(&cp);
    cp.n_ctx = k == 0 ? 24 : 96;
    cp.n_batch = k == 0 ? 16 : 64;
    cp.n_threads = k == 0 ? 2 : 1 + k % 2;
    if (k % 2) {
        cp.cache_type = CS_CACHE_F32;
        cp.cache_type_set = true;
    } else if (k == 2 && latent) {
        cp.cache_type = CS_CACHE_Q8_0;
        cp.cache_type_set = true;
    }
    cs_context *c = cs_context_new(m, &cp);
    if (!c) fprintf(stderr, "  context %d: %s\n", k, cs_last_error());
    return c;
}

static int argmax(const float *x, int n) {
    int b = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[b]) b = i;
    return b;
}

static int32_t prompt_tok(int k, int i, int V) { return (int32_t)((i * 31 + k * 101 + 7) % V); }

/* tol: how far a row may be from its twin's. F32 weights take the same
 * per-dot path for one token or many, so only summation order differs (1e-4).
 * Quantized weights take the tiled GEMM for a batch and the matrix-vector
 * dots for one token: the float sums differ in order, and where that moves an
 * activation across an 8-bit rounding boundary in the next layer's
 * quantization, the rows drift apart as the conformance tolerances allow; then
 * the top-1 token must also agree. */
static void multi_case(const char *path, const char *label, double tol) {
    cs_set_log_level(0);
    cs_model *m = cs_model_load(path, NULL);
    CHECKF(m != NULL, "%s: %s", label, cs_last_error());
    if (!m) return;
    const int V = cs_model_n_vocab(m);
    const bool latent = !strcmp(cs_model_arch(m), "deepseek2");
    const int plen[NC] = {3, 17, 61, 29};
    cs_context *A[NC] = {0}, *B[NC] = {0}; /* A: stepped together; B: twins, alone */
    float *la = malloc((size_t)NC * V * sizeof(float)), *lb = malloc((size_t)NC * V * sizeof(float));
    float *pa = malloc((size_t)64 * V * sizeof(float)), *pb = malloc((size_t)64 * V * sizeof(float));
    bool ok = la && lb && pa && pb;
    for (int k = 0; k < NC && ok; k++) {
        A[k] = new_ctx(m, k, latent);
        B[k] = new_ctx(m, k, latent);
        ok = A[k] && B[k];
    }
    CHECKF(ok, "%s: setup failed", label);
    for (int k = 0; k < NC && ok; k++) {
        int32_t p[64];
        for (int i = 0; i < plen[k]; i++) p[i] = prompt_tok(k, i, V);
        CHECKF(cs_eval(A[k], p, plen[k], pa, false) == 0, "%s: %s", label, cs_last_error());
        CHECKF(cs_eval(B[k], p, plen[k], pb, false) == 0, "%s: %s", label, cs_last_error());
        CHECK(memcmp(pa, pb, (size_t)V * sizeof(float)) == 0);
    }

    /* steps: which contexts (indices into A) take part, in this order */
    static const int steps[][NC + 1] = {
        {4, 0, 1, 2, 3}, {3, 2, 0, 3}, {1, 1}, {4, 3, 2, 1, 0}, {2, 1, 3}, {4, 0, 1, 2, 3}, {4, 2, 3, 0, 1},
    };
    const int nsteps = (int)(sizeof steps / sizeof steps[0]);
    double worst = 0;
    int rows = 0, exact = 0;
    for (int st = 0; st < nsteps && ok; st++) {
        int n = steps[st][0];
        cs_context *cs[NC];
        int32_t ids[NC];
        for (int i = 0; i < n; i++) {
            int k = steps[st][1 + i];
            cs[i] = A[k];
            ids[i] = (int32_t)((st * 53 + k * 17 + 3 + st * k * 7) % V);
        }
        bool no_logits = st == 4; /* a step whose logits nobody wants */
        int rc = cs_eval_multi(cs, ids, n, no_logits ? NULL : la);
        CHECKF(rc == 0, "%s step %d: %s", label, st, cs_last_error());
        if (rc) break;
        for (int i = 0; i < n; i++) {
            int k = steps[st][1 + i];
            CHECK(cs_eval(B[k], &ids[i], 1, no_logits ? NULL : lb + (size_t)i * V, false) == 0);
            CHECK(cs_context_n_past(A[k]) == cs_context_n_past(B[k]));
        }
        if (no_logits) continue;
        for (int i = 0; i < n; i++) {
            const float *ra = la + (size_t)i * V, *rb = lb + (size_t)i * V;
            double e = max_abs_rel(ra, rb, (size_t)V);
            worst = fmax(worst, e);
            exact += memcmp(ra, rb, (size_t)V * sizeof(float)) == 0;
            rows++;
            CHECKF(e <= tol, "%s step %d row %d (context %d): max_abs_rel %g", label, st, i, steps[st][1 + i], e);
            CHECKF(tol <= 1e-4 || argmax(ra, V) == argmax(rb, V), "%s step %d row %d: top-1 differs", label, st, i);
            double amax = 0;
            for (int j = 0; j < V; j++) amax = fmax(amax, fabs(ra[j]));
            CHECKF(amax > 1e-3 && isfinite(amax), "%s: row %d is %g at most", label, i, amax);
        }
        /* rows of different contexts are different numbers, not one row copied */
        if (n > 1) CHECK(max_abs_rel(la, la + V, (size_t)V) > 1e-3);
    }

    /* the cache entries the multi steps wrote: a further prompt-sized eval agrees */
    for (int k = 0; k < NC && ok; k++) {
        const int32_t *ta, *tb;
        int na = cs_context_tokens(A[k], &ta), nb = cs_context_tokens(B[k], &tb);
        CHECK(na == nb && memcmp(ta, tb, (size_t)na * sizeof *ta) == 0);
        int32_t more[5];
        int nm = k == 0 ? 3 : 5; /* context 0 is nearly full */
        for (int i = 0; i < nm; i++) more[i] = prompt_tok(k + 7, i, V);
        CHECK(cs_eval(A[k], more, nm, pa, true) == 0);
        CHECK(cs_eval(B[k], more, nm, pb, true) == 0);
        double e = max_abs_rel(pa, pb, (size_t)nm * V);
        worst = fmax(worst, e);
        CHECKF(e <= tol, "%s: context %d after the multi steps: max_abs_rel %g", label, k, e);
    }
    printf("  %-22s %d multi rows, %d bit-identical, max_abs_rel %.3g\n", label, rows, exact, worst);
    CHECK(rows == 20);
    for (int k = 0; k < NC; k++) {
        cs_context_free(A[k]);
        cs_context_free(B[k]);
    }
    free(la);
    free(lb);
    free(pa);
    free(pb);
    cs_model_free(m);
}

static void synth_case(const char *preset, const char *type) {
    char name[64], label[64];
    snprintf(name, sizeof name, "%s-%s.gguf", preset, type);
    snprintf(label, sizeof label, "%s %s", preset, type);
    const char *path = tmp_path(name);
    CHECKF(mkmodel(preset, type, 77, path) == 0, "mkmodel %s", preset);
    multi_case(path, label, strcmp(type, "f32") ? 0.05 : 1e-4);
    unlink(path);
}

static void conformance_case(const char *file) {
    char path[1024];
    snprintf(path, sizeof path, "%s/conformance/%s", t_shared_dir(), file);
    CHECKF(access(path, R_OK) == 0, "no %s (set CSEEK_SHARED)", path);
    multi_case(path, file, strstr(file, "-f32.") ? 1e-4 : 0.05);
}

static void multi_tiny_qwen2(void) { synth_case("tiny-qwen2", "q8_0"); }
static void multi_tiny_llama(void) { synth_case("tiny-llama", "f32"); }
static void multi_tiny_v3(void) { synth_case("tiny-v3", "q8_0"); }
static void multi_tiny_v2_lite(void) { synth_case("tiny-v2-lite", "f32"); }
static void multi_conformance(void) {
    conformance_case("qwen2-tiny-q4_k_m.gguf");
    conformance_case("llama-tiny-q6_k.gguf");
    conformance_case("ds3-tiny-q8_0.gguf");
    conformance_case("ds2lite-4l-f32.gguf");
}

/* ---- errors ------------------------------------------------------------------ */

static bool has_error(const char *needle) {
    const char *e = cs_last_error();
    bool ok = e && strstr(e, needle);
    if (!ok) fprintf(stderr, "  error was \"%s\", wanted \"%s\"\n", e ? e : "(null)", needle);
    return ok;
}

static void errors_on(const char *preset) {
    char name[64];
    snprintf(name, sizeof name, "err-%s.gguf", preset);
    const char *path = tmp_path(name);
    CHECKF(mkmodel(preset, "f32", 5, path) == 0, "mkmodel %s", preset);
    cs_model *m = cs_model_load(path, NULL), *m2 = cs_model_load(path, NULL);
    CHECK(m && m2);
    if (!m || !m2) {
        cs_model_free(m);
        cs_model_free(m2);
        return;
    }
    const int V = cs_model_n_vocab(m);
    cs_context_params cp;
    cs_context_params_init(&cp);
    cp.n_ctx = 32;
    cp.n_threads = 1;
    cs_context *a = cs_context_new(m, &cp), *b = cs_context_new(m, &cp), *ta = cs_context_new(m, &cp),
               *tb = cs_context_new(m, &cp), *other = cs_context_new(m2, &cp);
    cp.n_ctx = 4;
    cs_context *full = cs_context_new(m, &cp);
    cp.n_ctx = 32;
    cp.n_batch = 2;
    cs_context *small = cs_context_new(m, &cp);
    CHECK(a && b && ta && tb && other && full && small);
    if (!(a && b && ta && tb && other && full && small)) goto out;
    int32_t p[6] = {1, 2, 3, 4, 5, 6};
    float *l = malloc((size_t)4 * V * sizeof(float)), *r = malloc((size_t)4 * V * sizeof(float));
    CHECK(cs_eval(a, p, 6, NULL, false) == 0 && cs_eval(ta, p, 6, NULL, false) == 0);
    CHECK(cs_eval(b, p + 1, 3, NULL, false) == 0 && cs_eval(tb, p + 1, 3, NULL, false) == 0);
    CHECK(cs_eval(full, p, 4, NULL, false) == 0);
    CHECK(cs_eval(small, p, 2, NULL, false) == 0);
    int32_t ids[4] = {7, 8, 9, 10};

    cs_context *two[2] = {a, b};
    CHECK(cs_eval_multi(two, ids, 0, l) == -1 && has_error("no contexts"));
    CHECK(cs_eval_multi(two, ids, -3, l) == -1);
    cs_context *with_null[2] = {a, NULL};
    CHECK(cs_eval_multi(with_null, ids, 2, l) == -1 && has_error("NULL"));
    cs_context *dup[3] = {a, b, a};
    CHECK(cs_eval_multi(dup, ids, 3, l) == -1 && has_error("same context"));
    cs_context *models[2] = {a, other};
    CHECK(cs_eval_multi(models, ids, 2, l) == -1 && has_error("different model"));
    cs_context *with_full[3] = {a, full, b};
    CHECK(cs_eval_multi(with_full, ids, 3, l) == -1 && has_error("full"));
    int32_t bad[2] = {7, (int32_t)V};
    CHECK(cs_eval_multi(two, bad, 2, l) == -1 && has_error("out of range"));
    bad[1] = -1;
    CHECK(cs_eval_multi(two, bad, 2, l) == -1 && has_error("out of range"));
    cs_context *over[3] = {small, a, b}; /* the first context's batch holds 2 rows */
    CHECK(cs_eval_multi(over, ids, 3, l) == -1 && has_error("at most 2"));

    /* nothing changed: positions, tokens, and the next step's logits */
    CHECK(cs_context_n_past(a) == 6 && cs_context_n_past(b) == 3 && cs_context_n_past(full) == 4 &&
          cs_context_n_past(small) == 2 && cs_context_n_past(other) == 0);
    const int32_t *tok;
    CHECK(cs_context_tokens(a, &tok) == 6 && !memcmp(tok, p, 6 * sizeof *p));
    CHECK(cs_eval_multi(two, ids, 2, l) == 0);
    CHECK(cs_eval(ta, &ids[0], 1, r, false) == 0 && cs_eval(tb, &ids[1], 1, r + V, false) == 0);
    CHECK_NEAR(max_abs_rel(l, r, (size_t)2 * V), 0, 1e-4);
    CHECK(cs_context_n_past(a) == 7 && cs_context_n_past(b) == 4);
    /* a context that just has room takes one more token, then is full */
    cs_context *one[1] = {full};
    CHECK(cs_context_truncate(full, 3) == 0);
    CHECK(cs_eval_multi(one, ids, 1, l) == 0 && cs_context_n_past(full) == 4);
    CHECK(cs_eval_multi(one, ids, 1, l) == -1 && has_error("full"));
    CHECK(cs_eval_multi(over, ids, 2, l) == 0); /* two fit the small batch */
    free(l);
    free(r);
out:
    cs_context_free(a);
    cs_context_free(b);
    cs_context_free(ta);
    cs_context_free(tb);
    cs_context_free(other);
    cs_context_free(full);
    cs_context_free(small);
    cs_model_free(m);
    cs_model_free(m2);
    unlink(path);
}

static void errors_qwen2(void) { errors_on("tiny-qwen2"); }
static void errors_v3(void) { errors_on("tiny-v3"); }

int main(void) {
    cs_set_log_level(0);
    snprintf(g_tmp, sizeof g_tmp, "/tmp/cseek-multi-XXXXXX");
    if (!mkdtemp(g_tmp)) {
        perror("mkdtemp");
        return 1;
    }
    RUN(multi_tiny_qwen2);
    RUN(multi_tiny_llama);
    RUN(multi_tiny_v3);
    RUN(multi_tiny_v2_lite);
    RUN(multi_conformance);
    RUN(errors_qwen2);
    RUN(errors_v3);
    rmdir(g_tmp);
    TEST_END();
}
