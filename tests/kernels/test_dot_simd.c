/* SIMD dot products and the SIMD Q8_0 activation quantizer against the scalar
 * references, at every ISA level this CPU has (AVX2, AVX-512 with VNNI/BF16).
 *
 * Tolerances:
 * - Quantized dots: the per-block integer dot is exact, only the float sum of
 *   the scaled block sums differs in order. With unit scales every partial sum
 *   is an integer below 2^24, so SIMD and reference must agree exactly; with
 *   random scales both are within gamma_k * sum|terms| of the exact (double)
 *   dot, k = blocks + 32 float operations in a chain, gamma_k ~ k * 2^-23.
 * - Float dots: the reference sums in double; a SIMD lane sums n/32 products
 *   in float plus a reduction tree, so |simd - ref| <= (n/32 + 16) * 2^-23 * sum|terms|.
 * - The vdpbf16ps BF16 dot rounds activations to bf16 (relative error <= 2^-9
 *   per term): within 2^-8 * sum|terms|; exact-order-only when the activations
 *   are already bf16 values.
 * - Quantize: byte-identical to cs_quantize_row_q8_0, ties included.
 *
 * CSEEK_DOT_BENCH=1 also times each kernel over 64 MiB of weights (one thread). */
#include <float.h>
#include <stdint.h>

#include "base/base.h"
#include "kernels/kernels.h"
#include "kernels/simd.h"
#include "test.h"

static uint64_t rng = 0x6a09e667f3bcc909ull;
static uint64_t rnd64(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}
static double rnd_u(void) { return (rnd64() >> 11) * (1.0 / 9007199254740992.0); }
static double rnd_n(void) {
    double u = rnd_u() + 1e-12, v = rnd_u();
    return sqrt(-2 * log(u)) * cos(6.283185307179586 * v);
}

typedef struct {
    cs_isa isa;
    const char *name;
    cs_vec_dot_fn (*dot)(cs_type);
    cs_quantize_fn (*quant)(cs_type);
} level;

/* AVX-512 lookup plus its Q8_0 VNNI kernel, which dispatch leaves out (slower
 * than AVX2 on Zen 4) but which must still be right. */
static cs_vec_dot_fn avx512_all(cs_type t) {
    return t == CS_TYPE_Q8_0 ? cs_vec_dot_q8_0_avx512vnni() : cs_vec_dot_avx512(t);
}

static const level all_levels[] = {
    {CS_ISA_AVX2, "avx2", cs_vec_dot_avx2, cs_quantize_avx2},
    {CS_ISA_AVX512, "avx512", avx512_all, cs_quantize_avx512},
};

static bool have(cs_isa isa) {
    cs_isa c = cs_cpu()->isa;
    return c == isa || (isa == CS_ISA_AVX2 && c == CS_ISA_AVX512);
}

static const cs_type qtypes[] = {CS_TYPE_Q8_0, CS_TYPE_Q4_0, CS_TYPE_Q5_0, CS_TYPE_Q5_1};
static const cs_type ftypes[] = {CS_TYPE_F32, CS_TYPE_F16, CS_TYPE_BF16};

static void set_h(uint8_t *p, float v) {
    uint16_t h = cs_fp32_to_fp16(v);
    memcpy(p, &h, 2);
}

/* Random bytes with sane scales: every quant bit and sign takes both values.
 * unit: d = 1 (and m = 1 for q5_1) so the dot is an integer. Activations
 * (is_act) keep their quants in [-127, 127], as the quantizer makes them;
 * Q8_0 weights may hold -128. */
static void random_blocks(cs_type t, uint8_t *buf, int64_t nb, bool unit, bool is_act) {
    size_t bs = cs_type_info(t)->type_size;
    for (size_t i = 0; i < bs * (size_t)nb; i++) buf[i] = (uint8_t)rnd64();
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *p = buf + b * bs;
        float d = unit ? 1.0f : (float)(0.01 * (0.5 + rnd_u()));
        float m = unit ? 1.0f : (float)(0.02 * (rnd_u() - 0.5));
        set_h(p, d);
        if (t == CS_TYPE_Q5_1) set_h(p + 2, m);
        if (is_act)
            for (int j = 0; j < QK8_0; j++)
                if (p[2 + j] == 0x80) p[2 + j] = 0x81;
    }
}

/* Exact dot of the dequantized rows in double, and sum of |terms|. */
static double dot_exact(cs_type wt, const void *w, const void *x, int64_t n, double *abs_sum) {
    float *a = malloc((size_t)n * 4), *b = malloc((size_t)n * 4);
    cs_type vt = cs_vec_dot_type(wt);
    if (vt == CS_TYPE_F32) memcpy(b, x, (size_t)n * 4);
    else cs_dequantize_row(vt, x, b, n);
    cs_dequantize_row(wt, w, a, n);
    double s = 0, sa = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)a[i] * b[i];
        sa += fabs((double)a[i] * b[i]);
    }
    free(a), free(b);
    *abs_sum = sa;
    return s;
}

static void test_dispatch_table(void) {
    const cs_cpu_info *c = cs_cpu();
    char desc[128];
    cs_cpu_describe(desc, sizeof desc);
    printf("   cpu: %s\n", desc);
    for (size_t i = 0; i < CS_ARRAY_LEN(qtypes); i++) {
        cs_type t = qtypes[i];
        cs_vec_dot_fn want = cs_vec_dot_ref(t);
        if (have(CS_ISA_AVX2)) want = cs_vec_dot_avx2(t);
        if (c->isa == CS_ISA_AVX512 && c->vnni && t != CS_TYPE_Q8_0) want = cs_vec_dot_avx512(t);
        CHECKF(want != NULL, "%s", cs_type_name(t));
        CHECKF(cs_vec_dot(t) == want, "%s: dispatch did not pick the best level", cs_type_name(t));
    }
    for (size_t i = 0; i < CS_ARRAY_LEN(ftypes); i++) {
        cs_type t = ftypes[i];
        cs_vec_dot_fn want = c->isa == CS_ISA_AVX512 ? cs_vec_dot_avx512(t)
                             : have(CS_ISA_AVX2)    ? cs_vec_dot_avx2(t)
                                                    : cs_vec_dot_ref(t);
        CHECKF(want != NULL && cs_vec_dot(t) == want, "%s", cs_type_name(t));
    }
    /* k-quants have no kernel here: every level falls back */
    CHECK(cs_vec_dot_avx2(CS_TYPE_Q4_K) == NULL || cs_vec_dot(CS_TYPE_Q4_K) != NULL);
    CHECK(cs_vec_dot(CS_TYPE_Q6_K) != NULL);
    CHECK(cs_vec_dot_avx2(CS_TYPE_Q4_1) == NULL && cs_vec_dot_avx512(CS_TYPE_Q4_1) == NULL);
    CHECK(cs_vec_dot_avx512(CS_TYPE_Q8_0) == NULL);
    CHECK(cs_quantize_avx2(CS_TYPE_F32) == NULL && cs_quantize_avx512(CS_TYPE_F16) == NULL);
}

/* The hand-worked cases of test_dot_ref.c: exact at every level. */
static void test_exact_small(void) {
    block_q8_0 y;
    y.d = 0x3c00;
    for (int j = 0; j < 32; j++) y.qs[j] = 1;
    block_q8_0 w8;
    w8.d = 0x3800;
    for (int j = 0; j < 32; j++) w8.qs[j] = (int8_t)(j - 16);
    block_q4_0 w4;
    w4.d = 0x3800;
    for (int j = 0; j < 16; j++) w4.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    block_q5_0 w50;
    block_q5_1 w51;
    w50.d = 0x3c00;
    w51.d = 0x3800, w51.m = 0xc200;
    for (int j = 0; j < 16; j++) w50.qs[j] = w51.qs[j] = (uint8_t)((j & 15) | (((j * 3) & 15) << 4));
    const uint8_t qh[4] = {0x01, 0x80, 0x0f, 0xa0};
    memcpy(w50.qh, qh, 4), memcpy(w51.qh, qh, 4);
    float f[5] = {1, 2, 0.5f, -3, 8}, xf[5] = {1, 0.25f, 4, 2, 0.125f};
    uint16_t h[5], bh[5];
    for (int i = 0; i < 5; i++) h[i] = cs_fp32_to_fp16(f[i]), bh[i] = cs_fp32_to_bf16(f[i]);
    for (size_t l = 0; l < CS_ARRAY_LEN(all_levels); l++) {
        const level *L = &all_levels[l];
        if (!have(L->isa)) continue;
        cs_vec_dot_fn fn;
        if ((fn = L->dot(CS_TYPE_Q8_0))) CHECKF(fn(32, &w8, &y) == -8.0f, "%s q8_0", L->name);
        if ((fn = L->dot(CS_TYPE_Q4_0))) CHECKF(fn(32, &w4, &y) == -8.0f, "%s q4_0", L->name);
        y.d = 0x3800;
        if ((fn = L->dot(CS_TYPE_Q5_0))) CHECKF(fn(32, &w50, &y) == -72.0f, "%s q5_0", L->name);
        y.d = 0x4000;
        if ((fn = L->dot(CS_TYPE_Q5_1))) CHECKF(fn(32, &w51, &y) == 176.0f, "%s q5_1", L->name);
        y.d = 0x3c00;
        CHECKF(L->dot(CS_TYPE_F32)(5, f, xf) == -1.5f, "%s f32", L->name);
        CHECKF(L->dot(CS_TYPE_F16)(5, h, xf) == -1.5f, "%s f16", L->name);
        CHECKF(L->dot(CS_TYPE_BF16)(5, bh, xf) == -1.5f, "%s bf16", L->name);
        CHECKF(L->dot(CS_TYPE_F32)(0, f, xf) == 0.0f, "%s f32 n=0", L->name);
    }
    cs_vec_dot_fn dp = cs_vec_dot_bf16_avx512bf16();
    if (dp) CHECK(dp(5, bh, xf) == -1.5f);
}

static const int64_t block_counts[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 33, 128, 257};

static void test_quant_dots(void) {
    for (size_t l = 0; l < CS_ARRAY_LEN(all_levels); l++) {
        const level *L = &all_levels[l];
        if (!have(L->isa)) continue;
        for (size_t ti = 0; ti < CS_ARRAY_LEN(qtypes); ti++) {
            cs_type wt = qtypes[ti];
            cs_vec_dot_fn fn = L->dot(wt), ref = cs_vec_dot_ref(wt);
            if (!fn) {
                printf("   %-6s %-5s (none: falls back)\n", L->name, cs_type_name(wt));
                continue;
            }
            double worst = 0;
            int exact_checked = 0;
            for (size_t bi = 0; bi < CS_ARRAY_LEN(block_counts); bi++) {
                int64_t nb = block_counts[bi], n = nb * 32;
                uint8_t *w = malloc(cs_row_size(wt, n)), *x = malloc(cs_row_size(CS_TYPE_Q8_0, n));
                for (int rep = 0; rep < 8; rep++) {
                    bool unit = rep < 2;
                    random_blocks(wt, w, nb, unit, false);
                    random_blocks(CS_TYPE_Q8_0, x, nb, unit, true);
                    double sa, want = dot_exact(wt, w, x, n, &sa);
                    float got = fn(n, w, x), r = ref(n, w, x);
                    if (unit && sa < 16777216.0) { /* every partial sum an exact integer */
                        CHECKF(got == r && got == (float)want, "%s %s nb=%lld: %.9g vs ref %.9g", L->name,
                               cs_type_name(wt), (long long)nb, got, r);
                        exact_checked++;
                    } else {
                        double tol = (nb + 32) * (double)FLT_EPSILON * sa;
                        CHECKF(fabs(got - want) <= tol && fabs(got - r) <= 2 * tol,
                               "%s %s nb=%lld: %.9g vs exact %.9g, ref %.9g (tol %g)", L->name, cs_type_name(wt),
                               (long long)nb, got, want, r, tol);
                        if (sa > 0 && fabs(got - r) / sa > worst) worst = fabs(got - r) / sa;
                    }
                }
                free(w), free(x);
            }
            CHECK(exact_checked >= 20);
            printf("   %-6s %-5s worst |simd - ref| / sum|terms| = %.2e (%d exact integer cases)\n", L->name,
                   cs_type_name(wt), worst, exact_checked);
        }
    }
}

/* Real-valued data through the whole pipeline: SIMD quantize + SIMD dot vs
 * reference quantize + reference dot (the quantizer is byte-identical, so
 * only the dot's summation order differs). */
static void test_quant_pipeline(void) {
    const int64_t n = 4096;
    float *w = malloc(n * 4), *x = malloc(n * 4);
    for (int64_t i = 0; i < n; i++) w[i] = (float)(0.05 * rnd_n()), x[i] = (float)(rnd_n() * (i % 97 ? 1 : 20));
    for (size_t ti = 0; ti < CS_ARRAY_LEN(qtypes); ti++) {
        cs_type wt = qtypes[ti];
        uint8_t *wq = malloc(cs_row_size(wt, n)), *x1 = malloc(cs_row_size(CS_TYPE_Q8_0, n)),
                *x2 = malloc(cs_row_size(CS_TYPE_Q8_0, n));
        cs_quantize_row(wt, w, wq, n);
        cs_quantize_row(CS_TYPE_Q8_0, x, x1, n);
        cs_quantize_act(CS_TYPE_Q8_0, x, x2, n);
        CHECK(memcmp(x1, x2, cs_row_size(CS_TYPE_Q8_0, n)) == 0);
        double sa, want = dot_exact(wt, wq, x1, n, &sa);
        float r = cs_vec_dot_ref(wt)(n, wq, x1), got = cs_vec_dot(wt)(n, wq, x2);
        CHECKF(fabs(got - r) <= 2 * (n / 32 + 32) * FLT_EPSILON * sa, "%s: %.9g vs %.9g", cs_type_name(wt), got, r);
        CHECKF(fabs(got - want) <= (n / 32 + 32) * FLT_EPSILON * sa, "%s: %.9g vs %.9g", cs_type_name(wt), got, want);
        free(wq), free(x1), free(x2);
    }
    free(w), free(x);
}

static const int64_t float_lens[] = {1, 2, 5, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 1000, 4113};

static void fill_weights(cs_type t, void *w, const float *src, int64_t n) {
    if (t == CS_TYPE_F32) memcpy(w, src, (size_t)n * 4);
    else cs_quantize_row(t, src, w, n); /* F16 / BF16: round the values */
}

static void test_float_dots(void) {
    for (size_t l = 0; l < CS_ARRAY_LEN(all_levels); l++) {
        const level *L = &all_levels[l];
        if (!have(L->isa)) continue;
        for (size_t ti = 0; ti < CS_ARRAY_LEN(ftypes); ti++) {
            cs_type wt = ftypes[ti];
            cs_vec_dot_fn fn = L->dot(wt), ref = cs_vec_dot_ref(wt);
            CHECKF(fn != NULL, "%s %s", L->name, cs_type_name(wt));
            if (!fn) continue;
            double worst = 0;
            for (size_t li = 0; li < CS_ARRAY_LEN(float_lens); li++) {
                int64_t n = float_lens[li];
                float *src = malloc(n * 4), *x = malloc(n * 4 + 64);
                void *w = malloc(n * 4 + 64);
                for (int rep = 0; rep < 4; rep++) {
                    for (int64_t i = 0; i < n; i++) src[i] = (float)rnd_n(), x[i] = (float)(rnd_n() * (1 + rep));
                    fill_weights(wt, w, src, n);
                    double sa, want = dot_exact(wt, w, x, n, &sa);
                    float got = fn(n, w, x), r = ref(n, w, x);
                    double tol = (n / 32 + 16) * (double)FLT_EPSILON * sa;
                    CHECKF(fabs(got - want) <= tol && fabs(got - r) <= tol + FLT_EPSILON * fabs(want),
                           "%s %s n=%lld: %.9g vs %.9g (tol %g)", L->name, cs_type_name(wt), (long long)n, got, r, tol);
                    if (sa > 0 && fabs(got - r) / sa > worst) worst = fabs(got - r) / sa;
                }
                free(src), free(x), free(w);
            }
            printf("   %-6s %-5s worst |simd - ref| / sum|terms| = %.2e\n", L->name, cs_type_name(wt), worst);
        }
    }
}

static void test_bf16_dp(void) {
    cs_vec_dot_fn dp = cs_vec_dot_bf16_avx512bf16();
    if (!dp) {
        printf("   no AVX512-BF16: skipped\n");
        return;
    }
    double worst = 0;
    for (size_t li = 0; li < CS_ARRAY_LEN(float_lens); li++) {
        int64_t n = float_lens[li];
        float *src = malloc(n * 4), *x = malloc(n * 4), *xb = malloc(n * 4);
        uint16_t *w = malloc(n * 2), *t = malloc(n * 2);
        for (int64_t i = 0; i < n; i++) src[i] = (float)rnd_n(), x[i] = (float)rnd_n();
        cs_quantize_row(CS_TYPE_BF16, src, w, n);
        cs_quantize_row(CS_TYPE_BF16, x, t, n);
        cs_dequantize_row(CS_TYPE_BF16, t, xb, n); /* activations that are bf16 values already */
        double sa, want = dot_exact(CS_TYPE_BF16, w, x, n, &sa), sab, wantb = dot_exact(CS_TYPE_BF16, w, xb, n, &sab);
        float got = dp(n, w, x), gotb = dp(n, w, xb);
        CHECKF(fabs(got - want) <= ldexp(sa, -8), "n=%lld: %.9g vs %.9g", (long long)n, got, want);
        CHECKF(fabs(gotb - wantb) <= (n / 32 + 16) * FLT_EPSILON * sab, "bf16 x, n=%lld: %.9g vs %.9g", (long long)n,
               gotb, wantb);
        if (fabs(got - want) / sa > worst) worst = fabs(got - want) / sa;
        free(src), free(x), free(xb), free(w), free(t);
    }
    printf("   vdpbf16ps worst |dot - exact| / sum|terms| = %.2e (F32-FMA path: ~1e-8; not dispatched)\n", worst);
}

/* ---- quantize --------------------------------------------------------------- */

static void check_quant_equal(const float *x, int64_t n, const char *what) {
    size_t rs = cs_row_size(CS_TYPE_Q8_0, n);
    uint8_t *want = malloc(rs), *got = malloc(rs);
    cs_quantize_row(CS_TYPE_Q8_0, x, want, n);
    for (size_t l = 0; l < CS_ARRAY_LEN(all_levels); l++) {
        const level *L = &all_levels[l];
        if (!have(L->isa)) continue;
        cs_quantize_fn q = L->quant(CS_TYPE_Q8_0);
        CHECKF(q != NULL, "%s", L->name);
        if (!q) continue;
        memset(got, 0xcd, rs);
        q(x, got, n);
        size_t k = 0;
        while (k < rs && got[k] == want[k]) k++;
        CHECKF(k == rs, "%s %s n=%lld: byte %zu differs (%02x vs %02x)", L->name, what, (long long)n, k,
               k < rs ? got[k] : 0, k < rs ? want[k] : 0);
    }
    memset(got, 0xcd, rs);
    cs_quantize_act(CS_TYPE_Q8_0, x, got, n);
    CHECKF(memcmp(got, want, rs) == 0, "cs_quantize_act %s", what);
    free(want), free(got);
}

static void test_quantize(void) {
    const int64_t lens[] = {32, 64, 96, 224, 1056, 4096};
    for (size_t li = 0; li < CS_ARRAY_LEN(lens); li++) {
        int64_t n = lens[li];
        float *x = malloc(n * 4);
        for (int rep = 0; rep < 20; rep++) {
            double scale = ldexp(1.0, (int)(rnd64() % 40) - 20);
            for (int64_t i = 0; i < n; i++) x[i] = (float)(rnd_n() * scale * (i % 61 ? 1 : 30));
            check_quant_equal(x, n, "gaussian");
        }
        free(x);
    }
    /* Ties: a block whose absmax is 127 has d = 1, id = 1, so k + 0.5 hits
     * roundf's half-away-from-zero case (nearest-even would round 0.5 to 0). */
    float x[10 * 32];
    for (int j = 0; j < 32; j++) x[j] = j == 0 ? 127.0f : (float)(j % 2 ? j - 15.5 : -(j - 0.5));
    for (int j = 0; j < 32; j++) x[32 + j] = 0.0f;                       /* d = 0 */
    for (int j = 0; j < 32; j++) x[64 + j] = j % 2 ? -0.0f : 0.0f;       /* signed zeros */
    for (int j = 0; j < 32; j++) x[96 + j] = (float)(j - 16) * 1e-40f; /* subnormal floats */
    for (int j = 0; j < 32; j++) x[128 + j] = (float)(j - 16) * 1e-3f;  /* d subnormal in half */
    for (int j = 0; j < 32; j++) x[160 + j] = (float)(j - 16) * 1e6f;   /* d overflows half */
    for (int j = 0; j < 32; j++) x[192 + j] = -127.0f + (float)j * 0.5f; /* amax negative, halves */
    for (int j = 0; j < 32; j++) x[224 + j] = j == 5 ? -1.0f : 0.0f;
    for (int j = 0; j < 32; j++) x[256 + j] = j == 7 ? NAN : (float)(j - 3); /* NaN skipped by absmax */
    for (int j = 0; j < 32; j++) x[288 + j] = j == 9 ? -INFINITY : (float)j;  /* d = inf, id = 0 */
    check_quant_equal(x, 10 * 32, "edge blocks");
    uint8_t q[8 * 34];
    cs_quantize_act(CS_TYPE_Q8_0, x, q, 32);
    CHECK(((int8_t *)q)[2 + 2] == -2); /* x = -1.5 -> -2 (away from zero) */
    CHECK(((int8_t *)q)[2 + 1] == -15); /* x = -14.5 -> -15 */
    CHECK(((int8_t *)q)[2 + 3] == -13); /* -12.5 -> -13 */
    /* Q8_K has no SIMD quantizer yet: cs_quantize_act falls back to the reference */
    float k[256];
    for (int j = 0; j < 256; j++) k[j] = (float)rnd_n();
    block_q8_K a, b;
    cs_quantize_row(CS_TYPE_Q8_K, k, &a, 256);
    cs_quantize_act(CS_TYPE_Q8_K, k, &b, 256);
    CHECK(memcmp(&a, &b, sizeof a) == 0);
}

/* ---- optional micro-benchmark ------------------------------------------------- */

static void bench(void) {
    const size_t bytes = (size_t)64 << 20;
    const int64_t n = 4096;
    uint8_t *w = malloc(bytes);
    for (size_t i = 0; i < bytes; i++) w[i] = (uint8_t)rnd64();
    float *xf = malloc(n * 4);
    for (int64_t i = 0; i < n; i++) xf[i] = (float)rnd_n();
    uint8_t *xq = malloc(cs_row_size(CS_TYPE_Q8_0, n));
    cs_quantize_row(CS_TYPE_Q8_0, xf, xq, n);
    const cs_type types[] = {CS_TYPE_Q8_0, CS_TYPE_Q4_0, CS_TYPE_Q5_0, CS_TYPE_Q5_1,
                             CS_TYPE_F32,  CS_TYPE_F16,  CS_TYPE_BF16};
    printf("   single thread, 64 MiB of weight rows of 4096 (GB/s of weights; median of 5)\n");
    for (size_t ti = 0; ti < CS_ARRAY_LEN(types); ti++) {
        cs_type t = types[ti];
        size_t rs = cs_row_size(t, n);
        int64_t rows = (int64_t)(bytes / rs);
        if (t == CS_TYPE_Q8_0 || t == CS_TYPE_Q4_0 || t == CS_TYPE_Q5_0 || t == CS_TYPE_Q5_1) {
            random_blocks(t, w, rows * (n / 32), false, false);
        } else if (t != CS_TYPE_F32) {
            for (size_t i = 1; i < bytes; i += 2) w[i] &= 0xbf; /* keep f16/bf16 finite and moderate */
        } else {
            float *f = (float *)w;
            for (size_t i = 0; i < bytes / 4; i++) f[i] = (float)(rnd_u() - 0.5);
        }
        const void *x = cs_vec_dot_type(t) == CS_TYPE_F32 ? (const void *)xf : (const void *)xq;
        printf("   %-5s", cs_type_name(t));
        for (int l = -1; l < (int)CS_ARRAY_LEN(all_levels) + 1; l++) {
            cs_vec_dot_fn fn = l < 0 ? cs_vec_dot_ref(t)
                               : l < (int)CS_ARRAY_LEN(all_levels)
                                   ? (have(all_levels[l].isa) ? all_levels[l].dot(t) : NULL)
                                   : (t == CS_TYPE_BF16 ? cs_vec_dot_bf16_avx512bf16() : NULL);
            const char *name = l < 0 ? "ref" : l < (int)CS_ARRAY_LEN(all_levels) ? all_levels[l].name : "dpbf16";
            if (!fn) continue;
            double times[5];
            volatile float sink = 0;
            for (int r = 0; r < 5; r++) {
                double t0 = cs_time_s();
                for (int64_t i = 0; i < rows; i++) sink += fn(n, w + (size_t)i * rs, x);
                times[r] = cs_time_s() - t0;
            }
            for (int a = 0; a < 5; a++)
                for (int b = a + 1; b < 5; b++)
                    if (times[b] < times[a]) {
                        double tmp = times[a];
                        times[a] = times[b], times[b] = tmp;
                    }
            printf("  %s %6.2f", name, (double)rows * rs / times[2] / 1e9);
        }
        printf("\n");
    }
    free(w), free(xf), free(xq);
}

int main(void) {
    RUN(test_dispatch_table);
    RUN(test_exact_small);
    RUN(test_quant_dots);
    RUN(test_quant_pipeline);
    RUN(test_float_dots);
    RUN(test_bf16_dp);
    RUN(test_quantize);
    const char *b = getenv("CSEEK_DOT_BENCH");
    if (b && *b == '1') bench();
    TEST_END();
}
