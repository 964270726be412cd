/* NEON dot products and Q8_0 quantizer (kernels/dot_neon.c) against the scalar
 * references: both paths (SDOT where this CPU has it, and the plain ARMv8 one)
 * on rows of 1, 2, 3, 7 and 33 blocks of quantized real-valued data and of
 * random bytes, F32/F16 lengths that are not multiples of the vector width,
 * and byte-identity of the quantizer. On a CPU without NEON only the lookup
 * is checked (it must say NULL). `make test-neon` runs the real thing under
 * qemu; CSEEK_EXPECT_DOTPROD=0|1 also checks what cs_cpu() detected. */
#include <stdint.h>

#include "base/base.h"
#include "kernels/kernels.h"
#include "kernels/simd_neon.h"
#include "test.h"

static const cs_type neon_types[] = {CS_TYPE_F32,  CS_TYPE_F16,  CS_TYPE_Q8_0, CS_TYPE_Q4_0,
                                     CS_TYPE_Q4_K, CS_TYPE_Q5_K, CS_TYPE_Q6_K};
static const cs_type other_types[] = {CS_TYPE_BF16, CS_TYPE_Q5_0, CS_TYPE_Q5_1, CS_TYPE_Q4_1,
                                      CS_TYPE_Q2_K, CS_TYPE_Q8_K, (cs_type)4};

#if defined(__aarch64__) && defined(__ARM_NEON)

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

/* The paths this CPU can run: the plain one always, SDOT if built and present. */
static int n_paths(void) { return cs_vec_dot_neon_path(CS_TYPE_Q8_0, true) && cs_cpu()->dotprod ? 2 : 1; }
static const char *path_name(int p) { return p ? "sdot" : "mull"; }

static void test_lookup(void) {
    const char *want = getenv("CSEEK_EXPECT_DOTPROD");
    if (want && *want) CHECKF(cs_cpu()->dotprod == (*want == '1'), "cs_cpu()->dotprod = %d", cs_cpu()->dotprod);
    char isa[128];
    cs_cpu_describe(isa, sizeof isa);
    printf("   cpu: %s; SDOT kernels %s; testing %s\n", isa,
           cs_vec_dot_neon_path(CS_TYPE_Q8_0, true) ? "built" : "not built", n_paths() == 2 ? "sdot + mull" : "mull");
    for (size_t i = 0; i < CS_ARRAY_LEN(neon_types); i++) {
        cs_type t = neon_types[i];
        CHECKF(cs_vec_dot_neon(t) != NULL, "%s", cs_type_name(t));
        CHECKF(cs_vec_dot_neon_path(t, false) != NULL, "%s", cs_type_name(t));
        CHECKF(cs_vec_dot_neon(t) == cs_vec_dot_neon_path(t, cs_cpu()->dotprod && n_paths() == 2), "%s",
               cs_type_name(t));
    }
    for (size_t i = 0; i < CS_ARRAY_LEN(other_types); i++) {
        CHECKF(cs_vec_dot_neon(other_types[i]) == NULL, "%s", cs_type_name(other_types[i]));
        CHECKF(cs_vec_dot_neon_path(other_types[i], true) == NULL, "%s", cs_type_name(other_types[i]));
        CHECKF(cs_vec_dot_neon_path(other_types[i], false) == NULL, "%s", cs_type_name(other_types[i]));
    }
}

/* sum |w_i x_i| over the dequantized rows: the scale an error is measured on */
static double abs_terms(cs_type wt, const void *w, const void *x, int64_t n) {
    float *a = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
    cs_dequantize_row(wt, w, a, n);
    cs_dequantize_row(cs_vec_dot_type(wt), x, b, n);
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += fabs((double)a[i] * b[i]);
    free(a), free(b);
    return s;
}

/* Compare every path with the reference (to 1e-5 of sum |terms|: the two only
 * add the same block products in a different order), and for the k-quants the
 * paths with each other (bit for bit: they reduce the exact integer sums to one
 * int per super-block before the same float code; see dot_neon_int.h). */
static void check_row(cs_type wt, const void *wq, const void *xq, int64_t n, const char *what) {
    float want = cs_vec_dot_ref(wt)(n, wq, xq);
    double tol = 1e-5 * abs_terms(wt, wq, xq, n) + 1e-30;
    float first = 0;
    for (int p = 0; p < n_paths(); p++) {
        float got = cs_vec_dot_neon_path(wt, p == 1)(n, wq, xq);
        CHECKF(fabs((double)got - want) <= tol, "%s %s n=%lld %s: %.9g vs ref %.9g (tol %g)", cs_type_name(wt),
               path_name(p), (long long)n, what, got, want, tol);
        if (p == 0) first = got;
        else if (cs_vec_dot_type(wt) == CS_TYPE_Q8_K)
            CHECKF(got == first, "%s n=%lld %s: sdot %.9g vs mull %.9g", cs_type_name(wt), (long long)n, what, got,
                    first);
    }
}

static const int block_counts[] = {1, 2, 3, 7, 33};
static const cs_type qtypes[] = {CS_TYPE_Q8_0, CS_TYPE_Q4_0, CS_TYPE_Q4_K, CS_TYPE_Q5_K, CS_TYPE_Q6_K};

/* Real-valued rows (gaussian, a few outliers) quantized by the reference quantizers. */
static void test_quantized_rows(void) {
    for (size_t ti = 0; ti < CS_ARRAY_LEN(qtypes); ti++) {
        cs_type wt = qtypes[ti], vt = cs_vec_dot_type(wt);
        int64_t bs = cs_type_info(wt)->blck_size;
        for (size_t ci = 0; ci < CS_ARRAY_LEN(block_counts); ci++) {
            int64_t n = block_counts[ci] * bs;
            float *w = malloc((size_t)n * 4), *x = malloc((size_t)n * 4);
            for (int64_t i = 0; i < n; i++) {
                w[i] = (float)(0.05 * rnd_n() * (i % 61 == 0 ? 8 : 1));
                x[i] = (float)(rnd_n() * (i % 97 == 0 ? 20 : 1));
            }
            void *wq = malloc(cs_row_size(wt, n)), *xq = malloc(cs_row_size(vt, n));
            cs_quantize_row(wt, w, wq, n);
            cs_quantize_row(vt, x, xq, n);
            check_row(wt, wq, xq, n, "quantized");
            free(w), free(x), free(wq), free(xq);
        }
    }
}

/* Blocks of random bytes with sane scale fields, so that every quant bit,
 * every 6-bit scale and min, the int8 extremes (-128 in Q8_0 weights) and
 * every sign take both values. */
static void set_h(uint8_t *p, float v) {
    uint16_t h = cs_fp32_to_fp16(v);
    memcpy(p, &h, 2);
}

static void randomize_blocks(cs_type t, uint8_t *buf, int64_t n) {
    size_t rs = cs_row_size(t, n), bs = cs_type_info(t)->type_size;
    for (size_t i = 0; i < rs; i++) buf[i] = (uint8_t)rnd64();
    for (int64_t b = 0; b < n / cs_type_info(t)->blck_size; b++) {
        uint8_t *p = buf + b * bs;
        float d = (float)(0.01 * (0.5 + rnd_u())), m = (float)(0.02 * rnd_u());
        switch (t) {
        case CS_TYPE_Q4_0:
        case CS_TYPE_Q8_0: set_h(p, d); break;
        case CS_TYPE_Q4_K:
        case CS_TYPE_Q5_K: set_h(p, d), set_h(p + 2, m); break;
        case CS_TYPE_Q6_K: set_h(p + 208, d); break;
        case CS_TYPE_Q8_K: {
            block_q8_K *k = (block_q8_K *)p;
            k->d = d;
            for (int j = 0; j < QK_K; j++)
                if (k->qs[j] == -128) k->qs[j] = -127; /* the q8_K quantizer never makes -128 */
            for (int g = 0; g < QK_K / 16; g++) {
                int s = 0;
                for (int l = 0; l < 16; l++) s += k->qs[16 * g + l];
                k->bsums[g] = (int16_t)s;
            }
            break;
        }
        default: break;
        }
    }
}

static void test_random_blocks(void) {
    for (size_t ti = 0; ti < CS_ARRAY_LEN(qtypes); ti++) {
        cs_type wt = qtypes[ti], vt = cs_vec_dot_type(wt);
        int64_t bs = cs_type_info(wt)->blck_size;
        for (size_t ci = 0; ci < CS_ARRAY_LEN(block_counts); ci++) {
            int64_t n = block_counts[ci] * bs;
            uint8_t *wq = malloc(cs_row_size(wt, n)), *xq = malloc(cs_row_size(vt, n));
            for (int rep = 0; rep < 4; rep++) {
                randomize_blocks(wt, wq, n);
                randomize_blocks(vt, xq, n);
                check_row(wt, wq, xq, n, "random bytes");
            }
            free(wq), free(xq);
        }
    }
    /* all extremes at once: q8_0 -128 * -128 everywhere (the int16 products'
     * worst case for the widening path), q6_K levels -32 against -127 */
    block_q8_0 a[3], b[3];
    for (int i = 0; i < 3; i++) {
        a[i].d = b[i].d = 0x3c00;
        memset(a[i].qs, 0x80, 32);
        memset(b[i].qs, 0x80, 32);
    }
    CHECK(cs_vec_dot_ref(CS_TYPE_Q8_0)(96, a, b) == 96.0f * 16384);
    check_row(CS_TYPE_Q8_0, a, b, 96, "all -128");
    block_q6_K w6;
    memset(&w6, 0, sizeof w6);
    memset(w6.scales, 0x80, sizeof w6.scales); /* -128 */
    w6.d = 0x3c00;
    block_q8_K x6;
    x6.d = 1;
    memset(x6.qs, 0x81, sizeof x6.qs); /* -127 */
    for (int g = 0; g < 16; g++) x6.bsums[g] = -127 * 16;
    check_row(CS_TYPE_Q6_K, &w6, &x6, 256, "extremes");
}

static void test_float_rows(void) {
    const int64_t lens[] = {1, 5, 16, 17, 1000};
    for (size_t li = 0; li < CS_ARRAY_LEN(lens); li++) {
        int64_t n = lens[li];
        float *w = malloc((size_t)n * 4), *x = malloc((size_t)n * 4);
        uint16_t *h = malloc((size_t)n * 2);
        for (int64_t i = 0; i < n; i++) {
            w[i] = (float)rnd_n();
            x[i] = (float)(rnd_n() * (i % 7 == 0 ? 10 : 1));
            h[i] = cs_fp32_to_fp16(w[i]);
        }
        check_row(CS_TYPE_F32, w, x, n, "gaussian");
        check_row(CS_TYPE_F16, h, x, n, "gaussian");
        free(w), free(x), free(h);
    }
}

/* A row of nblk blocks in several regimes, each byte compared with the reference. */
static void test_quantize_q8_0(void) {
    for (size_t ci = 0; ci < CS_ARRAY_LEN(block_counts); ci++) {
        int nblk = block_counts[ci];
        int64_t n = (int64_t)nblk * QK8_0 + 5; /* the 5 left over must be ignored */
        float *x = malloc((size_t)n * 4);
        for (int64_t i = 0; i < n; i++) {
            int64_t blk = i / QK8_0, j = i % QK8_0;
            switch (blk % 7) {
            case 0: x[i] = (float)rnd_n(); break;
            case 1: x[i] = 0; break;                                /* d = 0, id = 0 */
            case 2: x[i] = j == 0 ? 1e-36f : (float)(1e-36 * (2 * rnd_u() - 1)); break; /* d a float subnormal */
            case 3: x[i] = (float)(3e36 * rnd_n()); break;           /* d too big for a half: inf */
            case 4: x[i] = j == 0 ? 127 : (float)(j - 16) + 0.5f; break; /* d = 1, exact .5 ties */
            case 5: x[i] = j == 3 ? -5e3f : (float)rnd_n(); break;  /* negative extreme; d a half normal */
            default: x[i] = (float)(1e-4 * rnd_n()); break;         /* d a half subnormal */
            }
        }
        size_t bytes = (size_t)nblk * sizeof(block_q8_0) + 16;
        uint8_t *want = malloc(bytes), *got = malloc(bytes);
        memset(want, 0xa5, bytes);
        memset(got, 0xa5, bytes);
        cs_quantize_row_q8_0(x, (block_q8_0 *)want, n);
        cs_quantize_row_q8_0_neon(x, got, n);
        size_t first = bytes;
        for (size_t k = 0; k < bytes && first == bytes; k++)
            if (got[k] != want[k]) first = k;
        CHECKF(first == bytes, "%d blocks: first differing byte %zu (block %zu): %02x vs ref %02x", nblk, first,
               first / sizeof(block_q8_0), first < bytes ? got[first] : 0, first < bytes ? want[first] : 0);
        free(x), free(want), free(got);
    }
}

int main(void) {
    RUN(test_lookup);
    RUN(test_quantized_rows);
    RUN(test_random_blocks);
    RUN(test_float_rows);
    RUN(test_quantize_q8_0);
    TEST_END();
}

#else /* no NEON on this CPU: the lookup must offer nothing */

static void test_no_neon(void) {
    for (size_t i = 0; i < CS_ARRAY_LEN(neon_types); i++) CHECK(cs_vec_dot_neon(neon_types[i]) == NULL);
    for (size_t i = 0; i < CS_ARRAY_LEN(other_types); i++) CHECK(cs_vec_dot_neon(other_types[i]) == NULL);
}

int main(void) {
    RUN(test_no_neon);
    TEST_END();
}

#endif
