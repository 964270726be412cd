/* sampler: from a row of logits to the next token.
 *
 * The pipeline (see cseek.h for the user's view):
 *
 *   logits --copy, NaN -> -inf--> val[]            (the caller's row stays intact)
 *     1. penalties on the distinct tokens of the window   O(window)
 *     2. greedy?  argmax of val[], done                   O(n_vocab), vector max
 *     3. top-k: a k-heap scan puts the k best in cand[]   O(n_vocab) on typical rows
 *     4. temperature: w = exp((val - max) / T)            O(candidates)
 *     5. top-p: a mass-weighted quickselect finds the smallest best-first
 *        prefix whose weight reaches top_p * sum(w); a cheap cut-off first
 *        drops tokens too small to ever be in it            O(candidates)
 *     6. min-p: keep w >= min_p (the largest w is exactly 1), folded into
 *        the same cut-off pass
 *     7. draw u in [0, 1) and walk the survivors
 *
 * No step sorts the whole vocabulary: the survivors are drawn from in
 * whatever (deterministic) order the selections left them, which changes
 * nothing about the distribution. Order between tokens is "higher logit
 * first, lower id on ties", a strict total order, so every kept set is
 * unique.
 *
 * Why temperature comes before top-p and min-p: they then act on the
 * distribution that is actually drawn from (as HF transformers does).
 * llama.cpp's default chain applies temperature last, so there top-p and
 * min-p see softmax(logits) at T = 1 and keep the same set at every
 * temperature; here a lower temperature sharpens the distribution first and
 * so keeps fewer tokens. */
#include "cseek.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../base/base.h"

struct cs_sampler {
    cs_sampler_params p;
    int n_vocab;
    uint64_t seed;    /* the seed in use */
    uint64_t rng[4];  /* xoshiro256** state */
    uint64_t sel_rng; /* pivots for the selections (not the user's stream) */

    float *val;    /* (n_vocab) logits after penalties */
    float *w;      /* (n_vocab) weights exp((val - max) / T), by token id */
    int32_t *cand; /* (n_vocab) candidate ids */

    /* penalty window */
    bool penalize;     /* some penalty is on and repeat_last_n != 0 */
    int32_t *count;    /* (n_vocab) occurrences of each token in the window */
    int32_t *dpos;     /* (n_vocab) index in distinct[], -1 if absent */
    int32_t *distinct; /* (n_distinct) tokens with count > 0 */
    int n_distinct;
    int32_t *ring; /* (repeat_last_n) the window when it is bounded */
    int ring_len, ring_head;
};

/* ---- PRNG: splitmix64 to seed, xoshiro256** to draw ------------------------ */

static uint64_t splitmix64(uint64_t *x) {
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t xoshiro_next(uint64_t s[4]) {
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

/* uniform in [0, 1) with 53 random bits */
static double rng_uniform(uint64_t s[4]) { return (double)(xoshiro_next(s) >> 11) * 0x1.0p-53; }

static uint64_t seed_from_clock(void) {
    static uint64_t counter;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t x = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
    x ^= (uint64_t)getpid() << 32;
    x ^= __atomic_fetch_add(&counter, 1, __ATOMIC_RELAXED) * 0x9e3779b97f4a7c15ull;
    uint64_t y = splitmix64(&x);
    if (y == CS_SAMPLER_SEED_RANDOM) y = 0;
    return y;
}

static void rng_seed(cs_sampler *s) {
    uint64_t x = s->seed;
    for (int i = 0; i < 4; i++) s->rng[i] = splitmix64(&x);
    s->sel_rng = 0x2545f4914f6cdd1dull;
}

/* pivot choice for the selections: xorshift64, deterministic per call */
static inline uint32_t sel_rand(uint64_t *x, uint32_t n) {
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return (uint32_t)(((*x >> 32) * (uint64_t)n) >> 32);
}

/* ---- parameters ------------------------------------------------------------ */

void cs_sampler_params_init(cs_sampler_params *p) {
    memset(p, 0, sizeof *p);
    p->temperature = 0.6f; /* DeepSeek's advice for R1: 0.5-0.7, 0.6 */
    p->top_k = 0;
    p->top_p = 0.95f;
    p->min_p = 0.0f;
    p->repeat_penalty = 1.0f;
    p->repeat_last_n = 64;
    p->presence_penalty = 0.0f;
    p->frequency_penalty = 0.0f;
    p->seed = CS_SAMPLER_SEED_RANDOM;
}

static bool params_ok(const cs_sampler_params *p) {
    if (!isfinite(p->temperature) || p->temperature < 0) {
        cs_set_error("sampler: temperature must be >= 0 (0 = greedy), got %g", (double)p->temperature);
        return false;
    }
    if (!(p->top_p >= 0 && p->top_p <= 1)) {
        cs_set_error("sampler: top_p must be in [0, 1], got %g", (double)p->top_p);
        return false;
    }
    if (!(p->min_p >= 0 && p->min_p <= 1)) {
        cs_set_error("sampler: min_p must be in [0, 1], got %g", (double)p->min_p);
        return false;
    }
    if (!isfinite(p->repeat_penalty) || p->repeat_penalty <= 0) {
        cs_set_error("sampler: repeat_penalty must be > 0 (1 = off), got %g", (double)p->repeat_penalty);
        return false;
    }
    if (p->repeat_last_n < -1) {
        cs_set_error("sampler: repeat_last_n must be >= -1, got %d", (int)p->repeat_last_n);
        return false;
    }
    if (!isfinite(p->presence_penalty) || !isfinite(p->frequency_penalty)) {
        cs_set_error("sampler: presence and frequency penalties must be finite");
        return false;
    }
    return true;
}

cs_sampler *cs_sampler_new(const cs_sampler_params *p, int n_vocab) {
    cs_sampler_params def;
    if (!p) {
        cs_sampler_params_init(&def);
        p = &def;
    }
    if (n_vocab <= 0) {
        cs_set_error("sampler: vocabulary size must be > 0, got %d", n_vocab);
        return NULL;
    }
    if (!params_ok(p)) return NULL;
    cs_sampler *s = cs_calloc(1, sizeof *s);
    if (!s) return NULL;
    s->p = *p;
    if (s->p.top_k < 0) s->p.top_k = 0;
    s->n_vocab = n_vocab;
    s->seed = p->seed == CS_SAMPLER_SEED_RANDOM ? seed_from_clock() : p->seed;
    s->penalize = p->repeat_last_n != 0 &&
                  (p->repeat_penalty != 1.0f || p->presence_penalty != 0.0f || p->frequency_penalty != 0.0f);
    size_t n = (size_t)n_vocab;
    s->val = cs_malloc(n * sizeof(float));
    s->w = cs_malloc(n * sizeof(float));
    s->cand = cs_malloc(n * sizeof(int32_t));
    bool ok = s->val && s->w && s->cand;
    if (ok && s->penalize) {
        size_t nd = p->repeat_last_n > 0 ? CS_MIN(n, (size_t)p->repeat_last_n) : n;
        s->count = cs_calloc(n, sizeof(int32_t));
        s->dpos = cs_malloc(n * sizeof(int32_t));
        s->distinct = cs_malloc(nd * sizeof(int32_t));
        if (p->repeat_last_n > 0) s->ring = cs_malloc((size_t)p->repeat_last_n * sizeof(int32_t));
        ok = s->count && s->dpos && s->distinct && (p->repeat_last_n < 0 || s->ring);
        if (ok)
            for (size_t i = 0; i < n; i++) s->dpos[i] = -1;
    }
    if (!ok) {
        cs_sampler_free(s);
        return NULL;
    }
    rng_seed(s);
    return s;
}

void cs_sampler_free(cs_sampler *s) {
    if (!s) return;
    free(s->val);
    free(s->w);
    free(s->cand);
    free(s->count);
    free(s->dpos);
    free(s->distinct);
    free(s->ring);
    free(s);
}

uint64_t cs_sampler_seed(const cs_sampler *s) { return s->seed; }

/* ---- the penalty window ---------------------------------------------------- */

static void window_add(cs_sampler *s, int32_t t) {
    if (s->count[t]++ == 0) {
        s->dpos[t] = s->n_distinct;
        s->distinct[s->n_distinct++] = t;
    }
}

static void window_remove(cs_sampler *s, int32_t t) {
    if (--s->count[t] == 0) {
        int i = s->dpos[t];
        int32_t last = s->distinct[--s->n_distinct];
        s->distinct[i] = last;
        s->dpos[last] = i;
        s->dpos[t] = -1;
    }
}

int cs_sampler_accept(cs_sampler *s, int32_t token) {
    if (token < 0 || token >= s->n_vocab) {
        cs_set_error("sampler: token %d out of range [0, %d)", (int)token, s->n_vocab);
        return -1;
    }
    if (!s->penalize) return 0;
    int cap = s->p.repeat_last_n;
    if (cap > 0) {
        if (s->ring_len == cap) { /* evict the oldest */
            window_remove(s, s->ring[s->ring_head]);
            s->ring[s->ring_head] = token;
            s->ring_head = (s->ring_head + 1) % cap;
        } else {
            s->ring[(s->ring_head + s->ring_len) % cap] = token;
            s->ring_len++;
        }
    }
    window_add(s, token);
    return 0;
}

void cs_sampler_reset(cs_sampler *s) {
    if (s->penalize) {
        for (int i = 0; i < s->n_distinct; i++) {
            s->count[s->distinct[i]] = 0;
            s->dpos[s->distinct[i]] = -1;
        }
        s->n_distinct = 0;
        s->ring_len = s->ring_head = 0;
    }
    rng_seed(s);
}

/* ---- the pipeline ---------------------------------------------------------- */

/* a comes before b: higher value, then lower id */
static inline bool better(const float *v, int32_t a, int32_t b) {
    return v[a] > v[b] || (v[a] == v[b] && a < b);
}

/* logits -> val, NaN as -inf, +inf as the largest float (so that max - max
 * stays 0 and exp() stays defined) */
static void copy_logits(float *dst, const float *src, int n) {
#pragma omp simd
    for (int i = 0; i < n; i++) {
        float x = src[i];
        x = x == x ? x : -INFINITY;
        dst[i] = x < FLT_MAX ? x : FLT_MAX;
    }
}

static void apply_penalties(cs_sampler *s) {
    const float rp = s->p.repeat_penalty, pp = s->p.presence_penalty, fp = s->p.frequency_penalty;
    for (int i = 0; i < s->n_distinct; i++) {
        int32_t t = s->distinct[i];
        float v = s->val[t];
        if (rp != 1.0f) v = v > 0 ? v / rp : v * rp;
        v -= pp + fp * (float)s->count[t]; /* count > 0 for every distinct token */
        s->val[t] = v;
    }
}

/* The largest value of v[0..n) (NaN ignored; -inf if there is none). Eight
 * independent lanes, which the compiler turns into vector max. */
static float max_of(const float *v, int n) {
    float lane[8];
    for (int j = 0; j < 8; j++) lane[j] = -INFINITY;
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int j = 0; j < 8; j++) lane[j] = v[i + j] > lane[j] ? v[i + j] : lane[j];
    float mx = -INFINITY;
    for (int j = 0; j < 8; j++) mx = lane[j] > mx ? lane[j] : mx;
    for (; i < n; i++) mx = v[i] > mx ? v[i] : mx;
    return mx;
}

/* First index of the largest value: vector max per block, then one scan of
 * the winning block. */
static int32_t argmax(const float *v, int n) {
    enum { BLOCK = 1024 };
    float best = -INFINITY;
    int bb = -1;
    for (int b = 0; b < n; b += BLOCK) {
        float mx = max_of(v + b, CS_MIN(BLOCK, n - b));
        if (mx > best) {
            best = mx;
            bb = b;
        }
    }
    if (bb < 0) return 0; /* all -inf or NaN */
    for (int i = bb;; i++)
        if (v[i] == best) return i;
}

/* sum of w[0..n) in double, four chains */
static double sum_of(const float *w, int n) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    int i = 0;
    for (; i + 4 <= n; i += 4) {
        s0 += w[i];
        s1 += w[i + 1];
        s2 += w[i + 2];
        s3 += w[i + 3];
    }
    for (; i < n; i++) s0 += w[i];
    return (s0 + s1) + (s2 + s3);
}

static inline void swap_i32(int32_t *a, int32_t *b) {
    int32_t t = *a;
    *a = *b;
    *b = t;
}

/* Sort a[0..n) best first (heapsort: no recursion, no qsort context). */
static void sift_down(const float *v, int32_t *a, int root, int n) {
    for (;;) {
        int c = 2 * root + 1;
        if (c >= n) return;
        /* a max-heap of "worst": the root is the element that sorts last */
        if (c + 1 < n && better(v, a[c], a[c + 1])) c++;
        if (!better(v, a[root], a[c])) return;
        swap_i32(&a[root], &a[c]);
        root = c;
    }
}

static void sort_best_first(const float *v, int32_t *a, int n) {
    for (int i = n / 2 - 1; i >= 0; i--) sift_down(v, a, i, n);
    for (int end = n - 1; end > 0; end--) {
        swap_i32(&a[0], &a[end]);
        sift_down(v, a, 0, end);
    }
}

/* The k best ids of v[0..n) into out[0..k) (k in 1..n), as a heap whose
 * root out[0] is the worst of them. One compare per id for most of the
 * scan: O(n + k log k log(n/k)) on typical rows. Ids are scanned in
 * increasing order, so a newcomer beats the root only with a larger value. */
static void heap_top_k(const float *v, int n, int k, int32_t *out) {
    for (int i = 0; i < k; i++) out[i] = i;
    for (int i = k / 2 - 1; i >= 0; i--) sift_down(v, out, i, k);
    float worst = v[out[0]];
    for (int i = k; i < n; i++)
        if (v[i] > worst) {
            out[0] = i;
            sift_down(v, out, 0, k);
            worst = v[out[0]];
        }
}

/* Top-p over cand[0..m): returns the length of the smallest best-first
 * prefix whose weight reaches `need`, leaving that prefix (unordered) at the
 * front. A quickselect whose side is chosen by mass instead of by count. */
static int select_mass(const float *v, const float *w, int32_t *a, int m, double need, uint64_t *rng) {
    int lo = 0, hi = m; /* mass(a[0..lo)) < need; mass(a[0..hi)) >= need, or hi == m */
    double acc = 0;     /* mass(a[0..lo)) */
    while (hi - lo > 1) {
        int pi = lo + (int)sel_rand(rng, (uint32_t)(hi - lo));
        swap_i32(&a[pi], &a[hi - 1]);
        int32_t pivot = a[hi - 1];
        const float pv = v[pivot];
        int st = lo;
        double mb = 0;
        /* branch-free partition: swapping a loser with a loser is harmless */
        for (int i = lo; i < hi - 1; i++) {
            int32_t t = a[i];
            int b = (v[t] > pv) | ((v[t] == pv) & (t < pivot));
            mb += (double)(w[t] * (float)b);
            a[i] = a[st];
            a[st] = t;
            st += b;
        }
        swap_i32(&a[st], &a[hi - 1]);
        if (acc + mb >= need) {
            hi = st; /* the prefix ends inside a[lo..st) (st > lo: acc < need) */
        } else if (acc + mb + w[pivot] >= need) {
            return st + 1;
        } else {
            acc += mb + w[pivot];
            lo = st + 1;
        }
    }
    return hi;
}

/* Keep the ids of cand[0..m) (or of 0..m-1 when cand is NULL) whose weight
 * is at least thr, in cand; returns how many. Branch-free compaction. */
static int filter_weights(const float *w, int32_t *cand, bool identity, int m, float thr) {
    int k = 0;
    if (identity) {
        for (int i = 0; i < m; i++) {
            cand[k] = i;
            k += w[i] >= thr;
        }
    } else {
        for (int i = 0; i < m; i++) {
            int32_t t = cand[i];
            cand[k] = t;
            k += w[t] >= thr;
        }
    }
    return k;
}

/* Steps 1-6. Returns the number of candidates left in cand[] with their
 * weights in w[] and the weight sum in *total, or 0 for greedy with the
 * chosen token in *greedy. */
static int prepare(cs_sampler *s, const float *logits, double *total, int32_t *greedy) {
    const int n = s->n_vocab;
    const cs_sampler_params *p = &s->p;
    float *val = s->val, *w = s->w;
    int32_t *cand = s->cand;
    s->sel_rng = 0x2545f4914f6cdd1dull; /* same pivots for the same logits */

    float inv_t = p->temperature > 0 ? 1.0f / p->temperature : INFINITY;
    bool is_greedy = !(p->temperature > 0) || !isfinite(inv_t) || p->top_k == 1;
    if (is_greedy && !(s->penalize && s->n_distinct > 0)) {
        *greedy = argmax(logits, n); /* NaN never wins a > comparison */
        return 0;
    }
    copy_logits(val, logits, n);
    if (s->penalize) apply_penalties(s);
    if (is_greedy) {
        *greedy = argmax(val, n);
        return 0;
    }

    /* 3. top-k; `identity` while the candidates are simply 0..n-1 and cand[]
     * is not filled in */
    int m = n;
    bool identity = true;
    int32_t best;
    if (p->top_k > 0 && p->top_k < n) {
        m = p->top_k;
        identity = false;
        heap_top_k(val, n, m, cand);
        best = cand[0];
        for (int i = 1; i < m; i++)
            if (better(val, cand[i], best)) best = cand[i];
    } else {
        best = argmax(val, n);
    }
    float maxv = val[best];
    if (maxv == -INFINITY) { /* nothing is possible: fall back to the first id */
        *greedy = best;
        return 0;
    }

    /* 4. temperature and softmax weights */
    double sum;
    if (identity) {
        for (int i = 0; i < n; i++) w[i] = expf((val[i] - maxv) * inv_t);
        sum = sum_of(w, n);
    } else {
        sum = 0;
        for (int i = 0; i < m; i++) {
            int32_t t = cand[i];
            w[t] = expf((val[t] - maxv) * inv_t);
            sum += w[t];
        }
    }

    /* 5 and 6. Drop what cannot survive first: tokens under min_p (the best
     * weighs exp(0) = 1), and, for top-p, tokens under
     * c = (1 - top_p) * sum / m: those weigh less than (1 - top_p) * sum all
     * together, so the ones at or above c reach top_p on their own and
     * contain the top-p set. Both sets are best-first prefixes, so top-p on
     * the survivors (need taken from the full sum) gives the shorter one. */
    bool top_p = p->top_p < 1.0f;
    float thr = p->min_p;
    if (top_p) thr = fmaxf(thr, (float)((1.0 - (double)p->top_p) * sum / m));
    if (thr > 0.0f) {
        m = filter_weights(w, cand, identity, m, thr);
    } else if (identity) {
        for (int i = 0; i < n; i++) cand[i] = i;
    }
    if (top_p) {
        double need = (double)p->top_p * sum;
        if (need <= 0) { /* top_p = 0: the best alone */
            cand[0] = best;
            m = 1;
        } else {
            m = select_mass(val, w, cand, m, need, &s->sel_rng);
        }
    }
    if (m == 0) { /* min_p = 1 with rounding: the best alone */
        cand[0] = best;
        m = 1;
    }
    sum = 0;
    for (int i = 0; i < m; i++) sum += w[cand[i]];
    *total = sum;
    return m;
}

int32_t cs_sampler_sample(cs_sampler *s, const float *logits) {
    double total = 0;
    int32_t g = 0;
    int m = prepare(s, logits, &total, &g);
    if (m == 0) return g;
    double r = rng_uniform(s->rng) * total;
    double acc = 0;
    for (int i = 0; i < m; i++) {
        acc += s->w[s->cand[i]];
        if (r < acc) return s->cand[i];
    }
    /* rounding left r at the very top: the last token with any weight */
    for (int i = m - 1; i > 0; i--)
        if (s->w[s->cand[i]] > 0) return s->cand[i];
    return s->cand[0];
}

int cs_sampler_probs(cs_sampler *s, const float *logits, int32_t *ids, float *probs, int cap) {
    double total = 0;
    int32_t g = 0;
    int m = prepare(s, logits, &total, &g);
    if (m == 0) {
        if (cap > 0) {
            ids[0] = g;
            probs[0] = 1.0f;
        }
        return 1;
    }
    sort_best_first(s->val, s->cand, m);
    for (int i = 0; i < m && i < cap; i++) {
        ids[i] = s->cand[i];
        probs[i] = (float)(s->w[s->cand[i]] / total);
    }
    return m;
}

/* log(sum(exp(logits))) over the sanitised row in s->val */
static double log_sum_exp(const cs_sampler *s) {
    float mx = s->val[argmax(s->val, s->n_vocab)];
    if (mx == -INFINITY) return -INFINITY;
    double sum = 0;
    for (int i = 0; i < s->n_vocab; i++) sum += exp((double)s->val[i] - mx);
    return mx + log(sum);
}

int cs_sampler_top_logprobs(cs_sampler *s, const float *logits, int n, int32_t *ids, float *logprobs) {
    if (n <= 0) return 0;
    if (n > s->n_vocab) n = s->n_vocab;
    copy_logits(s->val, logits, s->n_vocab);
    double lse = log_sum_exp(s);
    heap_top_k(s->val, s->n_vocab, n, s->cand);
    sort_best_first(s->val, s->cand, n);
    for (int i = 0; i < n; i++) {
        ids[i] = s->cand[i];
        logprobs[i] = lse == -INFINITY ? -INFINITY : (float)((double)s->val[s->cand[i]] - lse);
    }
    return n;
}

float cs_sampler_logprob(cs_sampler *s, const float *logits, int32_t token) {
    if (token < 0 || token >= s->n_vocab) return -INFINITY;
    copy_logits(s->val, logits, s->n_vocab);
    double lse = log_sum_exp(s);
    if (lse == -INFINITY) return -INFINITY;
    return (float)((double)s->val[token] - lse);
}
