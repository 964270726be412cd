/* Sampler: greedy, seeds, top-k, top-p, min-p, penalties, the empirical
 * distribution of draws, logprobs. */
#include "cseek.h"
#include "test.h"

#include <stdint.h>
#include <time.h>

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

/* a small deterministic generator for test data (independent of the sampler) */
static uint64_t t_rng = 88172645463325252ull;
static double t_uniform(void) {
    t_rng ^= t_rng << 13;
    t_rng ^= t_rng >> 7;
    t_rng ^= t_rng << 17;
    return (double)(t_rng >> 11) * 0x1.0p-53;
}
static void random_logits(float *l, int n, float scale) {
    for (int i = 0; i < n; i++) l[i] = (float)((t_uniform() * 2 - 1) * scale);
}

static cs_sampler *make(float temp, int top_k, float top_p, float min_p, uint64_t seed, int n_vocab) {
    cs_sampler_params p;
    cs_sampler_params_init(&p);
    p.temperature = temp;
    p.top_k = top_k;
    p.top_p = top_p;
    p.min_p = min_p;
    p.seed = seed;
    cs_sampler *s = cs_sampler_new(&p, n_vocab);
    if (!s) fprintf(stderr, "  cs_sampler_new: %s\n", cs_last_error());
    return s;
}

static void test_defaults(void) {
    cs_sampler_params p;
    cs_sampler_params_init(&p);
    CHECK_NEAR(p.temperature, 0.6, 1e-7);
    CHECK_NEAR(p.top_p, 0.95, 1e-7);
    CHECK(p.top_k == 0);
    CHECK(p.min_p == 0);
    CHECK(p.repeat_penalty == 1.0f);
    CHECK(p.presence_penalty == 0 && p.frequency_penalty == 0);
    CHECK(p.seed == CS_SAMPLER_SEED_RANDOM);
    /* random seeds differ from one sampler to the next */
    cs_sampler *a = cs_sampler_new(&p, 10), *b = cs_sampler_new(&p, 10);
    CHECK(a && b);
    if (a && b) CHECK(cs_sampler_seed(a) != cs_sampler_seed(b));
    cs_sampler_free(a);
    cs_sampler_free(b);
    /* NULL params = defaults */
    cs_sampler *c = cs_sampler_new(NULL, 10);
    CHECK(c != NULL);
    cs_sampler_free(c);
}

static void test_bad_params(void) {
    cs_sampler_params p;
    cs_sampler_params_init(&p);
    p.top_p = 1.5f;
    CHECK(cs_sampler_new(&p, 10) == NULL);
    CHECK(strstr(cs_last_error(), "top_p") != NULL);
    cs_sampler_params_init(&p);
    p.min_p = -0.1f;
    CHECK(cs_sampler_new(&p, 10) == NULL);
    CHECK(strstr(cs_last_error(), "min_p") != NULL);
    cs_sampler_params_init(&p);
    p.temperature = -1;
    CHECK(cs_sampler_new(&p, 10) == NULL);
    cs_sampler_params_init(&p);
    p.temperature = NAN;
    CHECK(cs_sampler_new(&p, 10) == NULL);
    cs_sampler_params_init(&p);
    p.repeat_penalty = 0;
    CHECK(cs_sampler_new(&p, 10) == NULL);
    cs_sampler_params_init(&p);
    p.repeat_last_n = -2;
    CHECK(cs_sampler_new(&p, 10) == NULL);
    cs_sampler_params_init(&p);
    CHECK(cs_sampler_new(&p, 0) == NULL);
    cs_sampler *s = cs_sampler_new(&p, 10);
    CHECK(cs_sampler_accept(s, 10) == -1);
    CHECK(cs_sampler_accept(s, -1) == -1);
    CHECK(cs_sampler_accept(s, 9) == 0);
    cs_sampler_free(s);
}

static void test_greedy_is_argmax(void) {
    enum { N = 5000 };
    static float l[N], copy[N];
    cs_sampler *s = make(0.0f, 0, 0.95f, 0, 1, N);
    for (int it = 0; it < 50; it++) {
        random_logits(l, N, 10);
        int best = 0;
        for (int i = 1; i < N; i++)
            if (l[i] > l[best]) best = i;
        memcpy(copy, l, sizeof l);
        CHECK(cs_sampler_sample(s, l) == best);
        CHECK(memcmp(copy, l, sizeof l) == 0); /* the caller's row is intact */
    }
    /* ties go to the lowest id; NaN never wins */
    cs_sampler_free(s);
    float t[6] = {NAN, 1, 3, 3, -INFINITY, 2};
    s = make(0.0f, 0, 0.95f, 0, 1, 6);
    CHECK(cs_sampler_sample(s, t) == 2);
    cs_sampler_free(s);
}

static void test_top_k1_is_greedy(void) {
    enum { N = 3000 };
    static float l[N];
    cs_sampler *s = make(1.0f, 1, 1.0f, 0, 7, N);
    for (int it = 0; it < 50; it++) {
        random_logits(l, N, 3);
        int best = 0;
        for (int i = 1; i < N; i++)
            if (l[i] > l[best]) best = i;
        CHECK(cs_sampler_sample(s, l) == best);
    }
    cs_sampler_free(s);
}

static void draw_sequence(uint64_t seed, int32_t *out, int steps) {
    enum { N = 1000 };
    static float l[N];
    cs_sampler *s = make(1.0f, 0, 0.9f, 0, seed, N);
    t_rng = 12345; /* the same logits for every sequence */
    for (int i = 0; i < steps; i++) {
        random_logits(l, N, 4);
        out[i] = cs_sampler_sample(s, l);
        cs_sampler_accept(s, out[i]);
    }
    cs_sampler_free(s);
}

static void test_seed_reproducible(void) {
    enum { STEPS = 500 };
    static int32_t a[STEPS], b[STEPS], c[STEPS];
    draw_sequence(42, a, STEPS);
    draw_sequence(42, b, STEPS);
    draw_sequence(43, c, STEPS);
    CHECK(memcmp(a, b, sizeof a) == 0);
    int same = 0;
    for (int i = 0; i < STEPS; i++) same += a[i] == c[i];
    CHECKF(same < STEPS / 4, "seeds 42 and 43 agree on %d of %d draws", same, STEPS);

    /* reset restarts the stream */
    float l[50];
    random_logits(l, 50, 2);
    cs_sampler *s = make(1.0f, 0, 1.0f, 0, 9, 50);
    int32_t first[20];
    for (int i = 0; i < 20; i++) first[i] = cs_sampler_sample(s, l);
    cs_sampler_reset(s);
    int again = 0;
    for (int i = 0; i < 20; i++) again += cs_sampler_sample(s, l) == first[i];
    CHECK(again == 20);
    cs_sampler_free(s);
}

/* ---- reference: the kept set computed the slow, obvious way ---------------- */

typedef struct {
    int id;
    double p;
} idp;

static int cmp_idp(const void *a, const void *b) {
    const idp *x = a, *y = b;
    if (x->p != y->p) return x->p > y->p ? -1 : 1;
    return x->id - y->id;
}

/* fills ref (sorted best first) and returns its length */
static int reference(const float *l, int n, float temp, int top_k, float top_p, float min_p, idp *ref) {
    for (int i = 0; i < n; i++) ref[i] = (idp){i, l[i]};
    qsort(ref, (size_t)n, sizeof *ref, cmp_idp);
    int m = top_k > 0 && top_k < n ? top_k : n;
    double mx = ref[0].p, sum = 0;
    for (int i = 0; i < m; i++) {
        ref[i].p = exp((ref[i].p - mx) / temp);
        sum += ref[i].p;
    }
    for (int i = 0; i < m; i++) ref[i].p /= sum;
    if (top_p < 1) {
        double acc = 0;
        int k = 0;
        while (k < m) {
            acc += ref[k++].p;
            if (acc >= top_p) break;
        }
        m = k;
    }
    if (min_p > 0) {
        int k = 0;
        while (k < m && ref[k].p >= min_p * ref[0].p) k++;
        m = k;
    }
    sum = 0;
    for (int i = 0; i < m; i++) sum += ref[i].p;
    for (int i = 0; i < m; i++) ref[i].p /= sum;
    return m;
}

static void test_top_p_known_probs(void) {
    /* probabilities placed at scrambled ids */
    const double prob[10] = {0.30, 0.20, 0.15, 0.12, 0.08, 0.06, 0.04, 0.03, 0.015, 0.005};
    const int where[10] = {7, 2, 9, 0, 5, 1, 8, 3, 6, 4};
    float l[10];
    for (int i = 0; i < 10; i++) l[where[i]] = (float)log(prob[i]);
    /* top_p -> expected count: cumulative 0.30 0.50 0.65 0.77 0.85 0.91 0.95 0.98 0.995 1 */
    const struct {
        float p;
        int count;
    } cases[] = {{0.0f, 1}, {0.2f, 1}, {0.31f, 2}, {0.5f, 2}, {0.6f, 3}, {0.7f, 4},
                 {0.8f, 5}, {0.9f, 6}, {0.93f, 7}, {0.99f, 9}, {1.0f, 10}};
    for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
        if (cases[c].p == 0.5f) continue; /* cumulative 0.50 sits on the boundary: skip */
        cs_sampler *s = make(1.0f, 0, cases[c].p, 0, 1, 10);
        int32_t ids[10];
        float pr[10];
        int m = cs_sampler_probs(s, l, ids, pr, 10);
        CHECKF(m == cases[c].count, "top_p %g kept %d, want %d", (double)cases[c].p, m, cases[c].count);
        double kept = 0;
        for (int i = 0; i < cases[c].count; i++) kept += prob[i];
        for (int i = 0; i < m && i < cases[c].count; i++) {
            CHECKF(ids[i] == where[i], "top_p %g: rank %d is id %d, want %d", (double)cases[c].p, i,
                   ids[i], where[i]);
            CHECK_NEAR(pr[i], prob[i] / kept, 1e-5);
        }
        /* draws only ever come from the kept set */
        for (int d = 0; d < 2000; d++) {
            int32_t t = cs_sampler_sample(s, l);
            int rank = -1;
            for (int i = 0; i < 10; i++)
                if (where[i] == t) rank = i;
            CHECKF(rank >= 0 && rank < cases[c].count, "top_p %g drew rank %d", (double)cases[c].p, rank);
            if (!(rank >= 0 && rank < cases[c].count)) break;
        }
        cs_sampler_free(s);
    }
}

static void test_kept_sets_match_reference(void) {
    enum { N = 152064 };
    float *l = malloc(N * sizeof(float));
    idp *ref = malloc(N * sizeof(idp));
    int32_t *ids = malloc(N * sizeof(int32_t));
    float *pr = malloc(N * sizeof(float));
    const struct {
        float temp;
        int top_k;
        float top_p, min_p;
        float scale;
    } cases[] = {
        {1.0f, 0, 0.9f, 0, 6},    {0.6f, 0, 0.95f, 0, 8}, {1.0f, 40, 1.0f, 0, 3}, {0.8f, 40, 0.8f, 0, 3},
        {1.0f, 0, 1.0f, 0.05f, 5}, {0.7f, 100, 0.9f, 0.1f, 4}, {1.5f, 0, 0.5f, 0, 1}, {1.0f, 0, 0.9f, 0, 0.1f},
    };
    for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
        random_logits(l, N, cases[c].scale);
        cs_sampler *s = make(cases[c].temp, cases[c].top_k, cases[c].top_p, cases[c].min_p, 3, N);
        int m = cs_sampler_probs(s, l, ids, pr, N);
        int mr = reference(l, N, cases[c].temp, cases[c].top_k, cases[c].top_p, cases[c].min_p, ref);
        /* a boundary token within rounding of top_p may go either way */
        CHECKF(abs(m - mr) <= 1, "case %zu: kept %d, reference %d", c, m, mr);
        int lim = m < mr ? m : mr, bad = 0;
        for (int i = 0; i < lim && !bad; i++)
            if (ids[i] != ref[i].id || fabs(pr[i] - ref[i].p) > 1e-4 * (ref[i].p + 1e-3)) bad = i + 1;
        CHECKF(!bad, "case %zu: rank %d differs: id %d p %g vs id %d p %g", c, bad - 1, ids[bad ? bad - 1 : 0],
               (double)pr[bad ? bad - 1 : 0], ref[bad ? bad - 1 : 0].id, ref[bad ? bad - 1 : 0].p);
        cs_sampler_free(s);
    }
    free(l);
    free(ref);
    free(ids);
    free(pr);
}

static void test_min_p(void) {
    /* 0.5 0.2 0.1 0.09 0.06 0.05 */
    const double prob[6] = {0.5, 0.2, 0.1, 0.09, 0.06, 0.05};
    float l[6];
    for (int i = 0; i < 6; i++) l[5 - i] = (float)log(prob[i]); /* best at id 5 */
    const struct {
        float min_p;
        int count;
    } cases[] = {{0.0f, 6}, {0.05f, 6}, {0.11f, 5}, {0.19f, 3}, {0.21f, 2}, {0.5f, 1}, {1.0f, 1}};
    for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
        cs_sampler *s = make(1.0f, 0, 1.0f, cases[c].min_p, 1, 6);
        int32_t ids[6];
        float pr[6];
        int m = cs_sampler_probs(s, l, ids, pr, 6);
        CHECKF(m == cases[c].count, "min_p %g kept %d, want %d", (double)cases[c].min_p, m, cases[c].count);
        CHECK(ids[0] == 5);
        for (int d = 0; d < 1000; d++) {
            int32_t t = cs_sampler_sample(s, l);
            if (!(5 - t < cases[c].count)) {
                CHECKF(0, "min_p %g drew id %d", (double)cases[c].min_p, t);
                break;
            }
        }
        cs_sampler_free(s);
    }
}

/* The logits the sampler saw, up to a constant, from the full distribution at T=1. */
static void effective_logits(cs_sampler *s, const float *l, int n, double *eff) {
    int32_t ids[64];
    float pr[64];
    int m = cs_sampler_probs(s, l, ids, pr, n);
    CHECK(m == n);
    for (int i = 0; i < m; i++) eff[ids[i]] = log(pr[i]);
}

static void test_penalties(void) {
    const float l[8] = {2, -1, 0.5f, 3, -2, 1, 0, 1.5f};
    float copy[8];
    memcpy(copy, l, sizeof l);
    cs_sampler_params p;
    cs_sampler_params_init(&p);
    p.temperature = 1;
    p.top_p = 1;
    p.repeat_penalty = 1.5f;
    p.presence_penalty = 0.5f;
    p.frequency_penalty = 0.25f;
    p.repeat_last_n = 5;
    p.seed = 1;
    cs_sampler *s = cs_sampler_new(&p, 8);
    const int32_t hist[6] = {3, 0, 1, 0, 4, 0}; /* window of 5: 0 x3, 1, 4 (3 fell out) */
    for (int i = 0; i < 6; i++) CHECK(cs_sampler_accept(s, hist[i]) == 0);
    double eff[8], want[8];
    effective_logits(s, l, 8, eff);
    for (int i = 0; i < 8; i++) want[i] = l[i];
    want[0] = 2 / 1.5 - 0.5 - 3 * 0.25;  /* positive: divided */
    want[1] = -1 * 1.5 - 0.5 - 1 * 0.25; /* negative: multiplied */
    want[4] = -2 * 1.5 - 0.5 - 1 * 0.25;
    for (int i = 0; i < 8; i++)
        CHECKF(fabs((eff[i] - eff[2]) - (want[i] - want[2])) < 1e-4, "token %d: %g, want %g", i,
               eff[i] - eff[2], want[i] - want[2]);
    CHECK(memcmp(copy, l, sizeof l) == 0);

    /* reset forgets the history */
    cs_sampler_reset(s);
    effective_logits(s, l, 8, eff);
    for (int i = 0; i < 8; i++)
        CHECKF(fabs((eff[i] - eff[2]) - (l[i] - l[2])) < 1e-4, "after reset token %d changed", i);
    cs_sampler_free(s);

    /* greedy with a repetition penalty: 3 (logit 3) loses to 0 (logit 2) */
    cs_sampler_params_init(&p);
    p.temperature = 0;
    p.repeat_penalty = 2.0f;
    cs_sampler *g = cs_sampler_new(&p, 8);
    CHECK(cs_sampler_sample(g, l) == 3);
    cs_sampler_accept(g, 3);
    CHECK(cs_sampler_sample(g, l) == 0);
    cs_sampler_free(g);

    /* unbounded window (-1) counts everything; 0 turns penalties off */
    cs_sampler_params_init(&p);
    p.temperature = 1;
    p.top_p = 1;
    p.frequency_penalty = 0.1f;
    p.repeat_last_n = -1;
    cs_sampler *u = cs_sampler_new(&p, 8);
    for (int i = 0; i < 100; i++) cs_sampler_accept(u, 6);
    effective_logits(u, l, 8, eff);
    CHECK_NEAR(eff[6] - eff[2], (0 - 10.0) - 0.5, 1e-3);
    cs_sampler_free(u);
    p.repeat_last_n = 0;
    cs_sampler *z = cs_sampler_new(&p, 8);
    for (int i = 0; i < 10; i++) cs_sampler_accept(z, 6);
    effective_logits(z, l, 8, eff);
    CHECK_NEAR(eff[6] - eff[2], -0.5, 1e-4);
    cs_sampler_free(z);
}

static void test_empirical_distribution(void) {
    const float l[6] = {1.0f, 0.5f, 0.0f, -0.5f, 2.0f, -1.0f};
    const float temps[3] = {1.0f, 0.7f, 1.6f};
    enum { DRAWS = 20000 };
    for (int ti = 0; ti < 3; ti++) {
        float T = temps[ti];
        double want[6], sum = 0;
        for (int i = 0; i < 6; i++) sum += want[i] = exp(l[i] / T);
        for (int i = 0; i < 6; i++) want[i] /= sum;
        cs_sampler *s = make(T, 0, 1.0f, 0, 1234 + (uint64_t)ti, 6);
        int hits[6] = {0};
        for (int d = 0; d < DRAWS; d++) hits[cs_sampler_sample(s, l)]++;
        for (int i = 0; i < 6; i++) {
            double f = (double)hits[i] / DRAWS;
            /* 4 standard deviations, at most ~1.4% absolute */
            double tol = 4 * sqrt(want[i] * (1 - want[i]) / DRAWS) + 1e-3;
            CHECKF(fabs(f - want[i]) <= tol, "T=%g token %d: freq %.4f, softmax %.4f", (double)T, i, f, want[i]);
        }
        cs_sampler_free(s);
    }
    /* with top-k and top-p: frequencies follow cs_sampler_probs */
    float l2[50];
    t_rng = 777;
    random_logits(l2, 50, 2);
    cs_sampler *s = make(0.9f, 20, 0.8f, 0, 99, 50);
    int32_t ids[50];
    float pr[50];
    int m = cs_sampler_probs(s, l2, ids, pr, 50);
    int hits[50] = {0};
    for (int d = 0; d < DRAWS; d++) hits[cs_sampler_sample(s, l2)]++;
    int in = 0;
    for (int i = 0; i < m; i++) {
        double f = (double)hits[ids[i]] / DRAWS;
        double tol = 4 * sqrt(pr[i] * (1 - pr[i]) / DRAWS) + 1e-3;
        CHECKF(fabs(f - pr[i]) <= tol, "id %d: freq %.4f, p %.4f", ids[i], f, (double)pr[i]);
        in += hits[ids[i]];
    }
    CHECK(in == DRAWS);
    cs_sampler_free(s);
}

static void test_logprobs(void) {
    const float l[7] = {0.1f, 2.5f, -1.0f, 2.5f, 0.7f, NAN, -INFINITY};
    cs_sampler *s = make(1.0f, 0, 1.0f, 0, 1, 7);
    double lse = 0;
    for (int i = 0; i < 5; i++) lse += exp(l[i]);
    lse = log(lse);
    int32_t ids[10];
    float lp[10];
    int n = cs_sampler_top_logprobs(s, l, 3, ids, lp);
    CHECK(n == 3);
    CHECK(ids[0] == 1 && ids[1] == 3 && ids[2] == 4); /* ties: lower id first */
    CHECK_NEAR(lp[0], 2.5 - lse, 1e-5);
    CHECK_NEAR(lp[2], 0.7 - lse, 1e-5);
    CHECK(cs_sampler_top_logprobs(s, l, 100, ids, lp) == 7);
    CHECK(isinf(lp[6]) && lp[6] < 0);
    CHECK_NEAR(cs_sampler_logprob(s, l, 2), -1.0 - lse, 1e-5);
    CHECK(isinf(cs_sampler_logprob(s, l, 5)));
    CHECK(isinf(cs_sampler_logprob(s, l, 99)));
    cs_sampler_free(s);
}

static void test_speed_152k(void) {
    enum { N = 152064, STEPS = 50 };
    float *l = malloc(N * sizeof(float));
    random_logits(l, N, 10);
    const struct {
        const char *name;
        float temp;
        int top_k;
        float top_p;
    } cases[] = {{"greedy", 0, 0, 1}, {"T=0.6 top-p 0.95", 0.6f, 0, 0.95f}, {"top-k 40", 0.8f, 40, 1},
                 {"T=1 only", 1, 0, 1}};
    for (size_t c = 0; c < ARRAY_LEN(cases); c++) {
        cs_sampler *s = make(cases[c].temp, cases[c].top_k, cases[c].top_p, 0, 5, N);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        int32_t acc = 0;
        for (int i = 0; i < STEPS; i++) acc += cs_sampler_sample(s, l);
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double us = ((double)(t1.tv_sec - t0.tv_sec) * 1e6 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e3) / STEPS;
        printf("  %-18s %8.1f us/token (vocab %d)%s\n", cases[c].name, us, N, acc < 0 ? "!" : "");
        cs_sampler_free(s);
    }
    free(l);
}

int main(void) {
    RUN(test_defaults);
    RUN(test_bad_params);
    RUN(test_greedy_is_argmax);
    RUN(test_top_k1_is_greedy);
    RUN(test_seed_reproducible);
    RUN(test_top_p_known_probs);
    RUN(test_kept_sets_match_reference);
    RUN(test_min_p);
    RUN(test_penalties);
    RUN(test_empirical_distribution);
    RUN(test_logprobs);
    RUN(test_speed_152k);
    TEST_END();
}
