/* Tiled GEMM (kernels/gemm.h) against the per-dot reference: for every type
 * with a GEMM kernel and every ISA level this CPU has, random weights (random
 * blocks of bytes, so every bit of every layout is reached; scales kept finite)
 * and random activations, shapes that are not multiples of the tiles.
 *
 * Tolerance: block sums are exact integers in both; the float work differs only
 * in the order of additions and where the scales are multiplied in, so results
 * agree to a few float roundings: |gemm - ref| <= 1e-5 * sum_k |terms| (bounded
 * here by the dot of absolute dequantized values), checked per element. */
#include <stdint.h>

#include "base/base.h"
#include "kernels/gemm.h"
#include "kernels/kernels.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint64_t rnd64(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static float rnd_f(void) { return (float)((rnd64() >> 11) * (1.0 / 9007199254740992.0) * 2 - 1); }

/* A half in [2^-10, 2^-6) with random sign: finite, no overflow in sums. */
static uint16_t rnd_half(void) { return (uint16_t)(((rnd64() & 1) << 15) | ((5 + rnd64() % 4) << 10) | (rnd64() & 0x3ff)); }

/* n_out random rows of type t: random bytes with the scale fields overwritten. */
static void *rand_weights(cs_type t, int64_t n_in, int64_t n_out) {
    size_t wrow = cs_row_size(t, n_in), sz = wrow * (size_t)n_out;
    uint8_t *w = malloc(sz);
    for (size_t i = 0; i < sz; i++) w[i] = (uint8_t)rnd64();
    const cs_type_traits *tr = cs_type_info(t);
    size_t nblk = sz / tr->type_size;
    for (size_t i = 0; i < nblk; i++) {
        uint8_t *b = w + i * tr->type_size;
        uint16_t h0 = rnd_half(), h1 = rnd_half();
        switch (t) {
        case CS_TYPE_Q8_0: memcpy(b, &h0, 2); break;
        case CS_TYPE_Q4_K: memcpy(b, &h0, 2); memcpy(b + 2, &h1, 2); break;
        case CS_TYPE_Q6_K: memcpy(b + 208, &h0, 2); break;
        default: break;
        }
    }
    return w;
}

/* |W| . |x| per (t, r): the scale of the rounding error allowed */
static double abs_dot(cs_type t, const void *w, int64_t r, const float *x, int64_t n_in, float *tmp) {
    cs_dequantize_row(t, (const char *)w + (size_t)r * cs_row_size(t, n_in), tmp, n_in);
    double s = 0;
    for (int64_t k = 0; k < n_in; k++) s += fabs((double)tmp[k] * x[k]);
    return s;
}

static const cs_type gemm_types[] = {CS_TYPE_Q8_0, CS_TYPE_Q4_K, CS_TYPE_Q6_K};
static const cs_isa isas[] = {CS_ISA_AVX2, CS_ISA_AVX512};

static int check_shape(cs_type t, cs_isa isa, int64_t n_in, int64_t n_out, int64_t n_tok) {
    cs_type vt = cs_vec_dot_type(t);
    size_t xrow = cs_row_size(vt, n_in);
    void *w = rand_weights(t, n_in, n_out);
    float *x = malloc((size_t)(n_tok * n_in) * sizeof(float));
    for (int64_t i = 0; i < n_tok * n_in; i++) x[i] = rnd_f();
    char *xq = malloc(xrow * (size_t)n_tok);
    for (int64_t i = 0; i < n_tok; i++) cs_quantize_row(vt, x + i * n_in, xq + (size_t)i * xrow, n_in);
    float *y = malloc((size_t)(n_tok * n_out) * sizeof(float)), *yr = malloc((size_t)(n_tok * n_out) * sizeof(float));
    float *tmp = malloc((size_t)n_in * sizeof(float));
    void *work = aligned_alloc(64, (cs_gemm_work_size(t, n_in, n_tok) + 64) / 64 * 64);
    for (int64_t i = 0; i < n_tok * n_out; i++) y[i] = NAN;
    int bad = 0;
    CHECK(cs_gemm_isa(isa, y, xq, w, t, n_in, n_out, n_tok, work));
    cs_gemm_ref(yr, xq, w, t, n_in, n_out, n_tok);
    for (int64_t tt = 0; tt < n_tok && !bad; tt++)
        for (int64_t r = 0; r < n_out && !bad; r++) {
            double tol = 1e-5 * abs_dot(t, w, r, x + tt * n_in, n_in, tmp) + 1e-30;
            double a = y[tt * n_out + r], b = yr[tt * n_out + r];
            if (!(fabs(a - b) <= tol)) {
                CHECKF(0, "%s %s n_in %lld n_out %lld n_tok %lld: y[%lld][%lld] = %g, ref %g (tol %g)", cs_type_name(t),
                       cs_isa_name(isa), (long long)n_in, (long long)n_out, (long long)n_tok, (long long)tt,
                       (long long)r, a, b, tol);
                bad = 1;
            }
        }
    free(w), free(x), free(xq), free(y), free(yr), free(tmp), free(work);
    return !bad;
}

static bool have(cs_isa isa, cs_type t) { return cs_gemm_kernel(isa, t) != NULL; }

static void test_shapes(void) {
    static const int64_t toks[] = {1, 3, 5, 17};
    static const int64_t rows[] = {1, 7, 33, 64};
    int ran = 0;
    for (size_t ti = 0; ti < CS_ARRAY_LEN(gemm_types); ti++)
        for (size_t ii = 0; ii < CS_ARRAY_LEN(isas); ii++) {
            cs_type t = gemm_types[ti];
            if (!have(isas[ii], t)) continue;
            int64_t blk = cs_type_info(t)->blck_size;
            for (size_t a = 0; a < CS_ARRAY_LEN(toks); a++)
                for (size_t b = 0; b < CS_ARRAY_LEN(rows); b++) {
                    /* many blocks per row: 7 super-blocks / 40 blocks */
                    int64_t n_in = blk == QK_K ? 7 * QK_K : 40 * QK8_0;
                    check_shape(t, isas[ii], n_in, rows[b], toks[a]);
                    ran++;
                }
            check_shape(t, isas[ii], blk, 5, 3); /* a single block */
        }
    printf("  %d shapes\n", ran);
}

/* Kernels at every level the CPU has agree with each other exactly enough and
 * cs_gemm_kernel refuses what the CPU lacks. */
static void test_dispatch(void) {
    const cs_cpu_info *c = cs_cpu();
    for (size_t ti = 0; ti < CS_ARRAY_LEN(gemm_types); ti++) {
        cs_type t = gemm_types[ti];
        if (c->isa == CS_ISA_SCALAR || c->isa == CS_ISA_NEON) CHECK(!cs_gemm_available(t));
        if (c->isa != CS_ISA_AVX512 || !c->vnni) CHECK(!have(CS_ISA_AVX512, t));
    }
    CHECK(cs_gemm_kernel(CS_ISA_AVX512, CS_TYPE_F32) == NULL);
    CHECK(cs_gemm_kernel(CS_ISA_AVX2, CS_TYPE_Q5_1) == NULL);
    CHECK(cs_gemm_kernel(CS_ISA_SCALAR, CS_TYPE_Q8_0) == NULL);
}

/* cs_matmul (n_tok = 1: per-dot path; n_tok > 1: GEMM where available) against
 * the reference on the same converted activations, for types with and without
 * a GEMM kernel. */
static void test_matmul(void) {
    static const cs_type types[] = {CS_TYPE_Q8_0, CS_TYPE_Q4_K, CS_TYPE_Q6_K, CS_TYPE_Q4_0, CS_TYPE_F32};
    for (size_t ti = 0; ti < CS_ARRAY_LEN(types); ti++) {
        cs_type t = types[ti], vt = cs_vec_dot_type(t);
        const int64_t n_in = 2 * QK_K, n_out = 45;
        size_t xrow = cs_row_size(vt, n_in);
        for (int64_t n_tok = 1; n_tok <= 9; n_tok += 4) {
            void *w;
            if (t == CS_TYPE_F32 || t == CS_TYPE_Q4_0) {
                float *wf = malloc((size_t)(n_in * n_out) * sizeof(float));
                for (int64_t i = 0; i < n_in * n_out; i++) wf[i] = rnd_f();
                w = malloc(cs_row_size(t, n_in) * (size_t)n_out);
                for (int64_t r = 0; r < n_out; r++)
                    cs_quantize_row(t, wf + r * n_in, (char *)w + (size_t)r * cs_row_size(t, n_in), n_in);
                free(wf);
            } else {
                w = rand_weights(t, n_in, n_out);
            }
            float *x = malloc((size_t)(n_tok * n_in) * sizeof(float));
            for (int64_t i = 0; i < n_tok * n_in; i++) x[i] = rnd_f();
            void *scratch = malloc((size_t)(n_tok * n_in) * sizeof(float));
            char *xq = malloc(xrow * (size_t)n_tok);
            for (int64_t i = 0; i < n_tok; i++)
                cs_quantize_row(vt, x + i * n_in, xq + (size_t)i * xrow, n_in);
            float *y = malloc((size_t)(n_tok * n_out) * sizeof(float)), *yr = malloc((size_t)(n_tok * n_out) * sizeof(float));
            float *tmp = malloc((size_t)(n_in + n_out) * sizeof(float));
            cs_matmul(y, x, w, t, n_in, n_out, n_tok, scratch);
            cs_gemm_ref(yr, vt == CS_TYPE_F32 ? (const void *)x : xq, w, t, n_in, n_out, n_tok);
            for (int64_t i = 0; i < n_tok * n_out; i++) {
                double tol = 1e-5 * abs_dot(t, w, i % n_out, x + (i / n_out) * n_in, n_in, tmp);
                CHECKF(fabs(y[i] - yr[i]) <= tol, "%s n_tok %lld [%lld]: %g vs %g", cs_type_name(t), (long long)n_tok,
                       (long long)i, y[i], yr[i]);
            }
            /* each token of a batch equals that token alone */
            for (int64_t tt = 0; tt < n_tok; tt++) {
                cs_matmul(tmp, x + tt * n_in, w, t, n_in, n_out, 1, scratch);
                for (int64_t r = 0; r < n_out; r++) {
                    double tol = 1e-5 * abs_dot(t, w, r, x + tt * n_in, n_in, tmp + n_out);
                    CHECKF(fabs(tmp[r] - y[tt * n_out + r]) <= tol, "%s batch vs single", cs_type_name(t));
                }
            }
            free(w), free(x), free(scratch), free(xq), free(y), free(yr), free(tmp);
        }
    }
}

int main(void) {
    char buf[128];
    cs_cpu_describe(buf, sizeof buf);
    printf("  cpu: %s; gemm kernels: avx2 %s, avx512 %s\n", buf, have(CS_ISA_AVX2, CS_TYPE_Q8_0) ? "yes" : "no",
           have(CS_ISA_AVX512, CS_TYPE_Q8_0) ? "yes" : "no");
    RUN(test_dispatch);
    RUN(test_shapes);
    RUN(test_matmul);
    TEST_END();
}
