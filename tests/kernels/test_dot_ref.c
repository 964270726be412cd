/* Scalar reference dot products: hand-computed small cases, agreement with the
 * float dot of the dequantized rows (on quantized real-valued data and on
 * blocks of random bytes, which reach every bit of every layout), and
 * llama.cpp's test-quantize-fns dot-product bound against the original floats. */
#include <stdint.h>

#include "base/base.h"
#include "kernels/kernels.h"
#include "test.h"

static uint64_t rng = 0x243f6a8885a308d3ull;
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

static const cs_type all_types[] = {CS_TYPE_F32,  CS_TYPE_F16,  CS_TYPE_BF16, CS_TYPE_Q4_0, CS_TYPE_Q5_0,
                                    CS_TYPE_Q5_1, CS_TYPE_Q8_0, CS_TYPE_Q4_K, CS_TYPE_Q5_K, CS_TYPE_Q6_K};

static void test_table(void) {
    CHECK(cs_vec_dot_type(CS_TYPE_F32) == CS_TYPE_F32);
    CHECK(cs_vec_dot_type(CS_TYPE_F16) == CS_TYPE_F32);
    CHECK(cs_vec_dot_type(CS_TYPE_BF16) == CS_TYPE_F32);
    CHECK(cs_vec_dot_type(CS_TYPE_Q4_0) == CS_TYPE_Q8_0);
    CHECK(cs_vec_dot_type(CS_TYPE_Q5_0) == CS_TYPE_Q8_0);
    CHECK(cs_vec_dot_type(CS_TYPE_Q5_1) == CS_TYPE_Q8_0);
    CHECK(cs_vec_dot_type(CS_TYPE_Q8_0) == CS_TYPE_Q8_0);
    CHECK(cs_vec_dot_type(CS_TYPE_Q4_K) == CS_TYPE_Q8_K);
    CHECK(cs_vec_dot_type(CS_TYPE_Q5_K) == CS_TYPE_Q8_K);
    CHECK(cs_vec_dot_type(CS_TYPE_Q6_K) == CS_TYPE_Q8_K);
    for (size_t i = 0; i < CS_ARRAY_LEN(all_types); i++) {
        CHECKF(cs_vec_dot_ref(all_types[i]) != NULL, "%s", cs_type_name(all_types[i]));
        CHECKF(cs_vec_dot(all_types[i]) != NULL, "%s", cs_type_name(all_types[i]));
    }
    CHECK(cs_vec_dot_ref(CS_TYPE_Q4_1) == NULL);
    CHECK(cs_vec_dot_ref(CS_TYPE_Q2_K) == NULL);
    CHECK(cs_vec_dot_ref(CS_TYPE_Q8_K) == NULL); /* an activation type, never a weight */
    CHECK(cs_vec_dot_ref((cs_type)4) == NULL);
    CHECK(cs_vec_dot_ref(CS_TYPE_Q4_K) == cs_vec_dot_q4_K_ref);
    CHECK(cs_vec_dot_ref(CS_TYPE_F16) == cs_vec_dot_f16_ref);
}

/* ---- small cases worked out by hand ----------------------------------------- */

static void fill_q5(uint8_t *qs, uint8_t *qh) {
    for (int j = 0; j < 16; j++) qs[j] = (uint8_t)((j & 15) | (((j * 3) & 15) << 4));
    qh[0] = 0x01, qh[1] = 0x80, qh[2] = 0x0f, qh[3] = 0xa0; /* 5th bits of elements 0,15,16-19,29,31 */
}

/* q4_K/q5_K scales {1,2,3,63,33,17,48,5}, mins {0,4,10,62,21,35,2,63} (see test_types.c) */
static const uint8_t kq_packed[12] = {0x81, 0x42, 0xc3, 0x3f, 0x40, 0x84, 0x0a, 0xfe, 0x51, 0x31, 0x20, 0xf5};

static void q8_k_fill(block_q8_K *b, float d, int first_half, int second_half) {
    b->d = d;
    for (int e = 0; e < 256; e++) b->qs[e] = (int8_t)(e < 128 ? first_half : second_half);
    for (int g = 0; g < 16; g++) b->bsums[g] = (int16_t)(16 * (g < 8 ? first_half : second_half));
}

static void test_exact_small(void) {
    float w32[4] = {1, 2, 0.5f, -3}, x32[4] = {1, 0.25f, 4, 2};
    uint16_t h[4];
    CHECK(cs_vec_dot_f32_ref(4, w32, x32) == -2.5f);
    for (int i = 0; i < 4; i++) h[i] = cs_fp32_to_fp16(w32[i]);
    CHECK(cs_vec_dot_f16_ref(4, h, x32) == -2.5f);
    for (int i = 0; i < 4; i++) h[i] = cs_fp32_to_bf16(w32[i]);
    CHECK(cs_vec_dot_bf16_ref(4, h, x32) == -2.5f);

    block_q8_0 a;
    a.d = 0x3c00; /* activation: d 1, all quants 1 -> the dot is the sum of the weights */
    for (int j = 0; j < 32; j++) a.qs[j] = 1;

    block_q8_0 w8;
    w8.d = 0x3800; /* 0.5, quants j - 16: sum -16 */
    for (int j = 0; j < 32; j++) w8.qs[j] = (int8_t)(j - 16);
    CHECK(cs_vec_dot_q8_0_ref(32, &w8, &a) == -8.0f);

    block_q4_0 w4;
    w4.d = 0x3800; /* values (j-8)/2 and (7-j)/2: sum (-8 - 8)/2 */
    for (int j = 0; j < 16; j++) w4.qs[j] = (uint8_t)(j | ((15 - j) << 4));
    CHECK(cs_vec_dot_q4_0_ref(32, &w4, &a) == -8.0f);

    a.d = 0x3800; /* 0.5 */
    block_q5_0 w50;
    w50.d = 0x3c00;
    fill_q5(w50.qs, w50.qh);
    /* quants: low nibbles 0..15 (+16 for elements 0, 15) = 152, high nibbles a
     * permutation of 0..15 (+16 for 6 elements) = 216; sum 368 - 32*16 = -144 */
    CHECK(cs_vec_dot_q5_0_ref(32, &w50, &a) == -72.0f);

    a.d = 0x4000; /* 2 */
    block_q5_1 w51;
    w51.d = 0x3800;
    w51.m = 0xc200; /* -3 */
    fill_q5(w51.qs, w51.qh);
    /* sum of values 0.5 * 368 - 3 * 32 = 88 */
    CHECK(cs_vec_dot_q5_1_ref(32, &w51, &a) == 176.0f);

    block_q8_K k;
    q8_k_fill(&k, 0.5f, 1, -1); /* +1 on elements 0..127, -1 on 128..255 */
    block_q4_K w4k;
    w4k.d = 0x3c00;
    w4k.dmin = 0x3800;
    memcpy(w4k.scales, kq_packed, 12);
    memset(w4k.qs, 0x21, sizeof w4k.qs); /* even sub-blocks quant 1, odd 2 */
    /* sub-blocks 0-3: 32 * (1+4+3+126 - 0.5 * 76) = 3072; 4-7: 32 * (33+34+48+10 - 0.5 * 121) = 2064 */
    CHECK(cs_vec_dot_q4_K_ref(256, &w4k, &k) == 0.5f * (3072 - 2064));

    block_q5_K w5k;
    w5k.d = 0x3400; /* 0.25 */
    w5k.dmin = 0x3c00;
    memcpy(w5k.scales, kq_packed, 12);
    memset(w5k.qs, 0x21, sizeof w5k.qs);
    memset(w5k.qh, 0x55, sizeof w5k.qh); /* 5th bit on for even sub-blocks: quants 17, 2 */
    /* 0-3: 0.25*32*(17+4+51+126) - 32*76 = -848; 4-7: 0.25*32*(561+34+816+10) - 32*121 = 7496 */
    CHECK(cs_vec_dot_q5_K_ref(256, &w5k, &k) == 0.5f * (-848 - 7496));

    block_q6_K w6;
    w6.d = 0x3800;
    for (int g = 0; g < 16; g++) w6.scales[g] = (int8_t)(g + 1);
    w6.scales[15] = -16;
    memset(w6.ql, 0x21, sizeof w6.ql);
    memset(w6.qh, 0xe4, sizeof w6.qh); /* quarter i of each half gets high bits i */
    /* quants per quarter: 1-32 = -31, 17-32 = -15, 34-32 = 2, 50-32 = 18; each
     * quarter covers two sub-blocks: 16 * sum(sc pair * q) = 16 * -804 */
    q8_k_fill(&k, 0.25f, 2, 2);
    CHECK(cs_vec_dot_q6_K_ref(256, &w6, &k) == 0.25f * 2 * 0.5f * 16 * -804);
}

/* ---- agreement with dequantized rows --------------------------------------- */

static double dot_dequant(cs_type wt, const void *w, const void *x, int64_t n, double *abs_sum) {
    float *a = malloc((size_t)n * sizeof(float)), *b = malloc((size_t)n * sizeof(float));
    cs_dequantize_row(wt, w, a, n);
    cs_dequantize_row(cs_vec_dot_type(wt), x, b, n);
    double s = 0, sa = 0;
    for (int64_t i = 0; i < n; i++) {
        s += (double)a[i] * b[i];
        sa += fabs((double)a[i] * b[i]);
    }
    free(a);
    free(b);
    *abs_sum = sa;
    return s;
}

/* Real-valued data quantized by the library: weights and activations gaussian
 * with a few outliers, several row lengths. */
static void test_vs_dequant(void) {
    const int64_t lens[] = {256, 512, 1536, 4096};
    for (size_t ti = 0; ti < CS_ARRAY_LEN(all_types); ti++) {
        cs_type wt = all_types[ti], vt = cs_vec_dot_type(wt);
        double worst = 0;
        for (size_t li = 0; li < CS_ARRAY_LEN(lens); li++) {
            int64_t n = lens[li];
            float *w = malloc((size_t)n * 4), *x = malloc((size_t)n * 4);
            for (int64_t i = 0; i < n; i++) {
                w[i] = (float)(0.05 * rnd_n());
                x[i] = (float)(rnd_n() * (i % 97 == 0 ? 20 : 1));
            }
            void *wq = malloc(cs_row_size(wt, n)), *xq = malloc(cs_row_size(vt, n));
            cs_quantize_row(wt, w, wq, n);
            cs_quantize_row(vt, x, xq, n);
            double sa, want = dot_dequant(wt, wq, xq, n, &sa);
            float got = cs_vec_dot_ref(wt)(n, wq, xq);
            double rel = fabs(got - want) / sa;
            if (rel > worst) worst = rel;
            CHECKF(rel <= 1e-6, "%s n=%lld: %.9g vs %.9g (rel %g)", cs_type_name(wt), (long long)n, got, want, rel);
            /* the dispatched dot agrees with the reference */
            float got2 = cs_vec_dot(wt)(n, wq, xq);
            CHECKF(fabs(got2 - want) <= 1e-5 * sa, "%s n=%lld: dispatched %.9g vs %.9g", cs_type_name(wt),
                   (long long)n, got2, want);
            free(w), free(x), free(wq), free(xq);
        }
        printf("   %-5s worst |dot - dequantized dot| / sum|terms| = %.2e\n", cs_type_name(wt), worst);
    }
}

/* Blocks of random bytes (with sane scale fields), so that every quant bit,
 * every 6-bit scale/min and every sign takes both values. */
static void set_h(uint8_t *p, float v) {
    uint16_t h = cs_fp32_to_fp16(v);
    memcpy(p, &h, 2);
}

static void randomize_blocks(cs_type t, uint8_t *buf, int64_t n) {
    size_t rs = cs_row_size(t, n);
    for (size_t i = 0; i < rs; i++) buf[i] = (uint8_t)rnd64();
    int64_t nb = n / cs_type_info(t)->blck_size;
    size_t bs = cs_type_info(t)->type_size;
    for (int64_t b = 0; b < nb; b++) {
        uint8_t *p = buf + b * bs;
        float d = (float)(0.01 * (0.5 + rnd_u())), m = (float)(0.02 * (rnd_u() - 0.5));
        switch (t) {
        case CS_TYPE_Q4_0:
        case CS_TYPE_Q5_0:
        case CS_TYPE_Q8_0: set_h(p, d); break;
        case CS_TYPE_Q5_1:
        case CS_TYPE_Q4_K:
        case CS_TYPE_Q5_K: set_h(p, d), set_h(p + 2, fabsf(m)); break;
        case CS_TYPE_Q6_K: set_h(p + 208, d); break;
        case CS_TYPE_Q8_K: {
            block_q8_K *k = (block_q8_K *)p;
            k->d = d;
            for (int j = 0; j < 256; j++)
                if (k->qs[j] == -128) k->qs[j] = -127;
            for (int g = 0; g < 16; g++) {
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

static void test_random_bytes(void) {
    const cs_type qtypes[] = {CS_TYPE_Q4_0, CS_TYPE_Q5_0, CS_TYPE_Q5_1, CS_TYPE_Q8_0,
                              CS_TYPE_Q4_K, CS_TYPE_Q5_K, CS_TYPE_Q6_K};
    const int64_t n = 2048;
    for (size_t ti = 0; ti < CS_ARRAY_LEN(qtypes); ti++) {
        cs_type wt = qtypes[ti], vt = cs_vec_dot_type(wt);
        uint8_t *wq = malloc(cs_row_size(wt, n)), *xq = malloc(cs_row_size(vt, n));
        for (int rep = 0; rep < 20; rep++) {
            randomize_blocks(wt, wq, n);
            randomize_blocks(vt, xq, n);
            double sa, want = dot_dequant(wt, wq, xq, n, &sa);
            float got = cs_vec_dot_ref(wt)(n, wq, xq);
            CHECKF(fabs(got - want) <= 1e-6 * sa, "%s rep %d: %.9g vs %.9g", cs_type_name(wt), rep, got, want);
        }
        free(wq), free(xq);
    }
}

/* llama.cpp's test-quantize-fns: weights 0.1 + 2 cos(i), activations
 * 0.1 + 2 cos(i + 1), |dot - exact float dot| / n <= 0.02. */
static void test_llama_bound(void) {
    enum { N = 32 * 128 };
    static float w[N], x[N];
    double exact = 0;
    for (int i = 0; i < N; i++) {
        w[i] = 0.1f + 2 * cosf((float)i);
        x[i] = 0.1f + 2 * cosf((float)i + 1.0f);
        exact += (double)w[i] * x[i];
    }
    static uint8_t wq[N * 4], xq[N * 4];
    for (size_t ti = 0; ti < CS_ARRAY_LEN(all_types); ti++) {
        cs_type wt = all_types[ti];
        cs_quantize_row(wt, w, wq, N);
        cs_quantize_row(cs_vec_dot_type(wt), x, xq, N);
        double err = fabs(cs_vec_dot_ref(wt)(N, wq, xq) - exact) / N;
        printf("   %-5s llama dot error %.6f\n", cs_type_name(wt), err);
        CHECKF(err <= 0.02, "%s: %g", cs_type_name(wt), err);
    }
}

int main(void) {
    RUN(test_table);
    RUN(test_exact_small);
    RUN(test_vs_dequant);
    RUN(test_random_bytes);
    RUN(test_llama_bound);
    TEST_END();
}
