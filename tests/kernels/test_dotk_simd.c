/* SIMD k-quant dots (dotk_avx2.c, dotk_avx512.c) against the scalar
 * references, on every ISA level this CPU has, and the SIMD Q8_K quantizer
 * byte for byte against cs_quantize_row_q8_K.
 *
 * Tolerance of the dots: both sides compute the same exact integer sums per
 * sub-block; they differ only in float rounding of the per-block scaling and
 * of the summation order. The bound is tol = 4 (nb + 16) FLT_EPSILON * S,
 * with S = sum over blocks and sub-blocks of |dy| (|d sc| qmax + |dmin m|) sum|y|
 * (q6_K: |dy d sc| 32 sum|y| ... with qmax 63), a bound on the magnitudes of
 * all the partial terms both sides round. Exactly representable cases must
 * agree bit for bit. */
#include <float.h>
#include <stdint.h>

#include "base/base.h"
#include "kernels/kernels.h"
#include "kernels/simd_k.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
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

static const cs_type ktypes[] = {CS_TYPE_Q4_K, CS_TYPE_Q5_K, CS_TYPE_Q6_K};
static const int nblocks[] = {1, 2, 3, 5, 16};
#define MAXB 16

/* the levels this CPU has, with their lookups */
typedef struct {
    const char *name;
    cs_vec_dot_fn (*lookup)(cs_type);
} level;
static level levels[2];
static int n_levels;

static void find_levels(void) {
    const cs_cpu_info *c = cs_cpu();
    if (c->isa == CS_ISA_AVX2 || c->isa == CS_ISA_AVX512) levels[n_levels++] = (level){"avx2", cs_vec_dot_k_avx2};
    if (c->isa == CS_ISA_AVX512 && c->vnni) levels[n_levels++] = (level){"avx512", cs_vec_dot_k_avx512};
    printf("# cpu levels tested: %d (%s%s)\n", n_levels, n_levels > 0 ? "avx2" : "none",
           n_levels > 1 ? " avx512-vnni" : "");
}

static void fill_bsums(block_q8_K *b) {
    for (int g = 0; g < 16; g++) {
        int s = 0;
        for (int l = 0; l < 16; l++) s += b->qs[16 * g + l];
        b->bsums[g] = (int16_t)s;
    }
}

/* random q8_K blocks: every byte value -128..127, consistent bsums */
static void rand_q8_K(block_q8_K *b, int nb) {
    for (int i = 0; i < nb; i++) {
        b[i].d = (float)((rnd_u() + 0.1) * (rnd64() & 1 ? 1 : -1) * 0.01);
        for (int j = 0; j < QK_K; j++) b[i].qs[j] = (int8_t)(rnd64() & 0xff);
        fill_bsums(&b[i]);
    }
}

static uint16_t rand_half(double lo, double hi, int allow_neg) {
    double v = lo + (hi - lo) * rnd_u();
    if (allow_neg && (rnd64() & 1)) v = -v;
    return cs_fp32_to_fp16((float)v);
}

/* random raw weight blocks: every bit of qs/qh/ql/scales random, d and dmin
 * sane fp16 values (not inf/NaN) */
static void rand_raw(cs_type t, void *w, int nb) {
    size_t bs = cs_type_info(t)->type_size;
    uint8_t *p = w;
    for (size_t i = 0; i < bs * (size_t)nb; i++) p[i] = (uint8_t)rnd64();
    for (int i = 0; i < nb; i++) {
        if (t == CS_TYPE_Q4_K) {
            block_q4_K *b = (block_q4_K *)w + i;
            b->d = rand_half(1e-4, 0.1, 1), b->dmin = rand_half(1e-4, 0.1, 1);
        } else if (t == CS_TYPE_Q5_K) {
            block_q5_K *b = (block_q5_K *)w + i;
            b->d = rand_half(1e-4, 0.1, 1), b->dmin = rand_half(1e-4, 0.1, 1);
        } else {
            block_q6_K *b = (block_q6_K *)w + i;
            b->d = rand_half(1e-4, 0.1, 1);
        }
    }
}

static void scale_min(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63, *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* S of the tolerance (header comment) */
static double magnitude(cs_type t, const void *w, const block_q8_K *x, int nb) {
    double S = 0;
    for (int i = 0; i < nb; i++) {
        double dy = fabs(x[i].d);
        if (t == CS_TYPE_Q6_K) {
            const block_q6_K *b = (const block_q6_K *)w + i;
            double d = fabs(cs_fp16_to_fp32(b->d));
            for (int g = 0; g < 16; g++) {
                double sy = 0;
                for (int l = 0; l < 16; l++) sy += abs(x[i].qs[16 * g + l]);
                S += dy * d * abs(b->scales[g]) * 63 * sy + dy * d * abs(b->scales[g]) * 32 * sy;
            }
        } else {
            const uint8_t *sc;
            double d, dmin, qmax = t == CS_TYPE_Q4_K ? 15 : 31;
            if (t == CS_TYPE_Q4_K) {
                const block_q4_K *b = (const block_q4_K *)w + i;
                sc = b->scales, d = cs_fp16_to_fp32(b->d), dmin = cs_fp16_to_fp32(b->dmin);
            } else {
                const block_q5_K *b = (const block_q5_K *)w + i;
                sc = b->scales, d = cs_fp16_to_fp32(b->d), dmin = cs_fp16_to_fp32(b->dmin);
            }
            for (int j = 0; j < 8; j++) {
                int s, m;
                scale_min(j, sc, &s, &m);
                double sy = 0;
                for (int l = 0; l < 32; l++) sy += abs(x[i].qs[32 * j + l]);
                S += dy * (fabs(d) * s * qmax + fabs(dmin) * m) * sy;
            }
        }
    }
    return S;
}

static double worst_ratio; /* largest |got - ref| / tol seen, reported at the end */

static void compare(cs_type t, const void *w, const block_q8_K *x, int nb, const char *what) {
    float ref = cs_vec_dot_ref(t)(nb * QK_K, w, x);
    double tol = 4.0 * (nb + 16) * FLT_EPSILON * magnitude(t, w, x, nb);
    for (int l = 0; l < n_levels; l++) {
        cs_vec_dot_fn f = levels[l].lookup(t);
        CHECKF(f != NULL, "%s %s", levels[l].name, cs_type_name(t));
        if (!f) continue;
        float got = f(nb * QK_K, w, x);
        if (tol > 0 && fabs((double)got - ref) / tol > worst_ratio) worst_ratio = fabs((double)got - ref) / tol;
        CHECKF(fabs((double)got - ref) <= tol, "%s %s %s nb=%d: %.9g vs ref %.9g (tol %g)", levels[l].name,
               cs_type_name(t), what, nb, got, ref, tol);
    }
}

/* weights from cs_quantize_row_* of random floats, activations from the reference q8_K quantizer */
static void test_quantized_data(void) {
    static float wf[MAXB * QK_K], xf[MAXB * QK_K];
    static block_q8_K x[MAXB];
    static uint8_t w[MAXB * sizeof(block_q6_K)]; /* the largest of the three */
    for (size_t ti = 0; ti < CS_ARRAY_LEN(ktypes); ti++)
        for (size_t ni = 0; ni < CS_ARRAY_LEN(nblocks); ni++)
            for (int rep = 0; rep < 4; rep++) {
                int nb = nblocks[ni];
                for (int i = 0; i < nb * QK_K; i++) {
                    wf[i] = (float)(0.05 * rnd_n() + (rep == 1 ? 0.03 : 0)); /* rep 1: offset, so mins matter */
                    xf[i] = (float)(rnd_n() * (i % 97 == 0 ? 20 : 1));
                }
                cs_quantize_row(ktypes[ti], wf, w, nb * QK_K);
                cs_quantize_row_q8_K(xf, x, nb * QK_K);
                compare(ktypes[ti], w, x, nb, "quantized");
                /* and against the float dot of the originals: sanity that the
                 * data is not degenerate (a relative 5% band) */
                if (rep == 0 && ni == CS_ARRAY_LEN(nblocks) - 1 && n_levels) {
                    double fd = 0, fa = 0;
                    for (int i = 0; i < nb * QK_K; i++) fd += (double)wf[i] * xf[i], fa += fabs((double)wf[i] * xf[i]);
                    float got = levels[n_levels - 1].lookup(ktypes[ti])(nb * QK_K, w, x);
                    CHECKF(fabs(got - fd) <= 0.05 * fa, "%s: %g vs float %g", cs_type_name(ktypes[ti]), got, fd);
                }
            }
}

/* random raw blocks: every bit pattern of the packed quant and scale fields */
static void test_raw_blocks(void) {
    static block_q8_K x[MAXB];
    static uint8_t w[MAXB * sizeof(block_q6_K)];
    for (size_t ti = 0; ti < CS_ARRAY_LEN(ktypes); ti++)
        for (size_t ni = 0; ni < CS_ARRAY_LEN(nblocks); ni++)
            for (int rep = 0; rep < 20; rep++) {
                int nb = nblocks[ni];
                rand_raw(ktypes[ti], w, nb);
                rand_q8_K(x, nb);
                compare(ktypes[ti], w, x, nb, "raw");
            }
}

/* extremes: all quants and scales at their maxima against all-(-128) and
 * all-127 activations (largest integer sums, saturation would show), and
 * exactly representable cases that must match bit for bit */
static void test_extremes(void) {
    static block_q8_K x[MAXB];
    static uint8_t w[MAXB * sizeof(block_q6_K)];
    for (size_t ti = 0; ti < CS_ARRAY_LEN(ktypes); ti++)
        for (int yv = -128; yv <= 127; yv += 255) {
            cs_type t = ktypes[ti];
            int nb = 3;
            memset(w, 0xff, sizeof w);
            for (int i = 0; i < nb; i++) {
                x[i].d = 0.5f;
                memset(x[i].qs, (int8_t)yv, QK_K);
                fill_bsums(&x[i]);
                if (t == CS_TYPE_Q4_K) ((block_q4_K *)w)[i].d = 0x3c00, ((block_q4_K *)w)[i].dmin = 0x3800;
                if (t == CS_TYPE_Q5_K) ((block_q5_K *)w)[i].d = 0x3c00, ((block_q5_K *)w)[i].dmin = 0x3800;
                if (t == CS_TYPE_Q6_K) {
                    ((block_q6_K *)w)[i].d = 0x3c00;
                    memset(((block_q6_K *)w)[i].scales, 0x80, 16); /* -128: the most negative scale */
                }
            }
            /* integer results well below 2^24 and power-of-two scales: exact on both sides */
            float ref = cs_vec_dot_ref(t)(nb * QK_K, w, x);
            for (int l = 0; l < n_levels; l++) {
                float got = levels[l].lookup(t)(nb * QK_K, w, x);
                CHECKF(got == ref, "%s %s y=%d: %.9g vs %.9g", levels[l].name, cs_type_name(t), yv, got, ref);
            }
            /* and the hand value: q4_K: every sub-block scale 63 and min 63,
             * quants 15: per element 15*63 - 0.5*63 = 913.5 */
            if (t == CS_TYPE_Q4_K) CHECK(ref == (float)(nb * QK_K * 913.5 * yv * 0.5));
            if (t == CS_TYPE_Q5_K) CHECK(ref == (float)(nb * QK_K * (31 * 63 - 0.5 * 63) * yv * 0.5));
            if (t == CS_TYPE_Q6_K) CHECK(ref == (float)(nb * QK_K * (-128.0 * 31) * yv * 0.5));
        }
}

/* the dispatcher picks the best level for the k-quants */
static void test_dispatch(void) {
    const cs_cpu_info *c = cs_cpu();
    for (size_t ti = 0; ti < CS_ARRAY_LEN(ktypes); ti++) {
        cs_vec_dot_fn f = cs_vec_dot(ktypes[ti]);
        if (c->isa == CS_ISA_AVX512 && c->vnni) CHECK(f == cs_vec_dot_k_avx512(ktypes[ti]));
        else if (c->isa == CS_ISA_AVX2 || c->isa == CS_ISA_AVX512) CHECK(f == cs_vec_dot_k_avx2(ktypes[ti]));
        else CHECK(f == cs_vec_dot_ref(ktypes[ti]));
    }
    /* types the k files do not implement */
    CHECK(cs_vec_dot_k_avx2(CS_TYPE_Q8_0) == NULL);
    CHECK(cs_vec_dot_k_avx512(CS_TYPE_F32) == NULL);
    CHECK(cs_vec_dot_k_avx2(CS_TYPE_Q8_K) == NULL);
}

/* ---- Q8_K quantizer: byte-identical ----------------------------------------- */

static int q8k_same(const float *xf, int nb) {
    static block_q8_K a[MAXB], b[MAXB];
    memset(a, 0x5a, sizeof a);
    memset(b, 0xa5, sizeof b); /* different poison: every byte must be written */
    cs_quantize_row_q8_K(xf, a, nb * QK_K);
    cs_quantize_row_q8_K_avx2(xf, b, nb * QK_K);
    return memcmp(a, b, (size_t)nb * sizeof a[0]) == 0;
}

static void test_quantize_q8_K(void) {
    static float xf[MAXB * QK_K];
    for (size_t ni = 0; ni < CS_ARRAY_LEN(nblocks); ni++) {
        int nb = nblocks[ni];
        for (int rep = 0; rep < 50; rep++) {
            double scale = pow(10.0, (double)(rep % 13) * 6 - 36); /* 1e-36 .. 1e36 */
            for (int i = 0; i < nb * QK_K; i++) xf[i] = (float)(rnd_n() * scale);
            if (rep % 5 == 1) /* ties of magnitude with opposite signs: the first one counts */
                for (int i = 0; i < nb; i++) xf[i * QK_K + 7] = -(xf[i * QK_K + 200] = (float)(3 * scale));
            if (rep % 5 == 2) /* exact halves: the rounding ties to even */
                for (int i = 0; i < nb * QK_K; i++) xf[i] = (float)(((int)(rnd64() % 255) - 127) * 0.5);
            if (rep % 5 == 3) /* one block all zeros (both signs) */
                for (int i = 0; i < QK_K; i++) xf[i] = i & 1 ? -0.0f : 0.0f;
            CHECKF(q8k_same(xf, nb), "nb %d rep %d", nb, rep);
        }
    }
    /* large values, +-FLT_MAX, denormals, one nonzero among zeros */
    for (int i = 0; i < QK_K; i++) xf[i] = (i % 3 ? 1 : -1) * FLT_MAX * (float)(i % 7) / 7;
    CHECK(q8k_same(xf, 1));
    for (int i = 0; i < QK_K; i++) xf[i] = (float)((i % 5) - 2) * 1e-40f;
    CHECK(q8k_same(xf, 1));
    memset(xf, 0, QK_K * sizeof(float));
    xf[255] = -1e-3f;
    CHECK(q8k_same(xf, 1));
    /* known bytes: the largest lands on -127, d = -max/127 */
    block_q8_K b;
    for (int i = 0; i < QK_K; i++) xf[i] = (float)(i - 100);
    cs_quantize_row_q8_K_avx2(xf, &b, QK_K);
    /* max 155 at element 255; element 0: -100 * -127/155 = 81.9 -> 82 */
    CHECK(b.qs[255] == -127 && b.qs[100] == 0 && b.qs[0] == 82);
    CHECK(b.d == 1 / (-127.f / 155.f));
    CHECK(b.bsums[0] == 1212 && b.bsums[15] == -1934);
}

int main(void) {
    find_levels();
    RUN(test_dispatch);
    RUN(test_quantized_data);
    RUN(test_raw_blocks);
    RUN(test_extremes);
    RUN(test_quantize_q8_K);
    printf("# worst |simd - ref| / tol: %.3g\n", worst_ratio);
    TEST_END();
}
