/* Elementwise kernels against values worked out by hand, and cs_matmul against
 * a plain double-precision loop over dequantized weights. */
#include <stdint.h>

#include "test.h"
#include "base/base.h"
#include "kernels/kernels.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

static void rmsnorm_by_hand(void) {
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 0.5f, 2, 1}, out[4];
    cs_rmsnorm(out, x, w, 4, 0.0f);
    double r = sqrt((1 + 4 + 9 + 16) / 4.0); /* 2.7386 */
    CHECK_NEAR(out[0], 1 / r, 1e-6);
    CHECK_NEAR(out[1], 2 / r * 0.5, 1e-6);
    CHECK_NEAR(out[2], 3 / r * 2, 1e-6);
    CHECK_NEAR(out[3], 4 / r, 1e-6);
    cs_rmsnorm(x, x, NULL, 4, 1e-5f); /* in place, no weight, eps counts */
    CHECK_NEAR(x[3], 4 / sqrt(7.5 + 1e-5), 1e-6);
}

static void softmax_by_hand(void) {
    float x[3] = {1000, 1001, 1002}; /* must not overflow */
    cs_softmax(x, 3);
    double e0 = 1, e1 = exp(1), e2 = exp(2), s = e0 + e1 + e2;
    CHECK_NEAR(x[0], e0 / s, 1e-6);
    CHECK_NEAR(x[1], e1 / s, 1e-6);
    CHECK_NEAR(x[2], e2 / s, 1e-6);
}

static void swiglu_by_hand(void) {
    float g[2] = {0, 2}, u[2] = {5, 3};
    cs_swiglu(g, u, 2);
    CHECK_NEAR(g[0], 0, 1e-7);
    CHECK_NEAR(g[1], 2 / (1 + exp(-2)) * 3, 1e-6);
}

static void rope_pairs(void) {
    /* adjacent pairs: (v0, v1) rotated by pos*f0, (v2, v3) by pos*f1 */
    float freqs[2] = {1.0f, 0.5f};
    float v[4] = {1, 0, 0, 1};
    cs_rope(v, 4, freqs, 2, 0);
    CHECK_NEAR(v[0], cos(2.0), 1e-6);
    CHECK_NEAR(v[1], sin(2.0), 1e-6);
    CHECK_NEAR(v[2], -sin(1.0), 1e-6);
    CHECK_NEAR(v[3], cos(1.0), 1e-6);
    /* NeoX halves: (v0, v2) by pos*f0, (v1, v3) by pos*f1 */
    float w[4] = {1, 0, 0, 1};
    cs_rope(w, 4, freqs, 2, 1);
    CHECK_NEAR(w[0], cos(2.0), 1e-6);
    CHECK_NEAR(w[2], sin(2.0), 1e-6);
    CHECK_NEAR(w[1], -sin(1.0), 1e-6);
    CHECK_NEAR(w[3], cos(1.0), 1e-6);
    /* only the first n_rot dims move */
    float z[6] = {1, 2, 3, 4, 5, 6};
    cs_rope(z, 4, freqs, 0, 0);
    CHECK(z[4] == 5 && z[5] == 6 && z[0] == 1 && z[3] == 4);
}

static void attend_matches_naive(void) {
    enum { N = 7, D = 5, STRIDE = 9 };
    float q[D], k[N * STRIDE], v[N * STRIDE], out[D], scores[N];
    for (int i = 0; i < D; i++) q[i] = frand();
    for (int i = 0; i < N * STRIDE; i++) k[i] = frand(), v[i] = frand();
    cs_attend(out, q, k, v, CS_TYPE_F32, N, D, D, STRIDE, STRIDE, 0.7f, scores);
    double s[N], mx = -1e30, sum = 0;
    for (int j = 0; j < N; j++) {
        s[j] = 0;
        for (int d = 0; d < D; d++) s[j] += (double)q[d] * k[j * STRIDE + d];
        s[j] *= 0.7;
        if (s[j] > mx) mx = s[j];
    }
    for (int j = 0; j < N; j++) sum += s[j] = exp(s[j] - mx);
    for (int d = 0; d < D; d++) {
        double o = 0;
        for (int j = 0; j < N; j++) o += s[j] / sum * v[j * STRIDE + d];
        CHECK_NEAR(out[d], o, 1e-5);
    }
    /* F16 cache: same within half precision */
    uint16_t kh[N * STRIDE], vh[N * STRIDE];
    cs_store_row(kh, CS_TYPE_F16, k, N * STRIDE);
    cs_store_row(vh, CS_TYPE_F16, v, N * STRIDE);
    float out16[D];
    cs_attend(out16, q, kh, vh, CS_TYPE_F16, N, D, D, STRIDE, STRIDE, 0.7f, scores);
    for (int d = 0; d < D; d++) CHECK_NEAR(out16[d], out[d], 3e-3);
}

/* cs_matmul for every supported weight type against a double loop over the
 * dequantized weights and (for quantized types) dequantized activations. */
static void matmul_all_types(void) {
    const cs_type types[] = {CS_TYPE_F32, CS_TYPE_F16, CS_TYPE_BF16, CS_TYPE_Q8_0, CS_TYPE_Q4_0, CS_TYPE_Q5_0,
                             CS_TYPE_Q5_1, CS_TYPE_Q4_K, CS_TYPE_Q5_K, CS_TYPE_Q6_K};
    enum { IN = 512, OUT = 37, TOK = 3 };
    float *wf = malloc(sizeof(float) * IN * OUT), *x = malloc(sizeof(float) * IN * TOK);
    float *y = malloc(sizeof(float) * OUT * TOK), *wd = malloc(sizeof(float) * IN);
    float *xd = malloc(sizeof(float) * IN);
    void *scratch = malloc(sizeof(float) * IN * TOK);
    for (int i = 0; i < IN * OUT; i++) wf[i] = frand();
    for (int i = 0; i < IN * TOK; i++) x[i] = frand();
    for (size_t ti = 0; ti < CS_ARRAY_LEN(types); ti++) {
        cs_type t = types[ti];
        size_t rs = cs_row_size(t, IN);
        char *w = malloc(rs * OUT);
        for (int r = 0; r < OUT; r++) cs_quantize_row(t, wf + r * IN, w + r * rs, IN);
        cs_matmul(y, x, w, t, IN, OUT, TOK, scratch);
        cs_type vt = cs_vec_dot_type(t);
        char *xq = malloc(cs_row_size(vt, IN));
        double worst = 0;
        for (int tk = 0; tk < TOK; tk++) {
            if (vt == CS_TYPE_F32) {
                memcpy(xd, x + tk * IN, sizeof(float) * IN);
            } else {
                cs_quantize_row(vt, x + tk * IN, xq, IN);
                cs_dequantize_row(vt, xq, xd, IN);
            }
            for (int r = 0; r < OUT; r++) {
                cs_dequantize_row(t, w + r * rs, wd, IN);
                double ref = 0, mag = 0;
                for (int i = 0; i < IN; i++) ref += (double)wd[i] * xd[i], mag += fabs((double)wd[i] * xd[i]);
                double err = fabs(y[tk * OUT + r] - ref) / (mag + 1e-30);
                if (err > worst) worst = err;
            }
        }
        CHECKF(worst < 1e-5, "%s: relative error %g against the dequantized product", cs_type_name(t), worst);
        free(xq);
        free(w);
    }
    free(wf), free(x), free(y), free(wd), free(xd), free(scratch);
}

int main(void) {
    RUN(rmsnorm_by_hand);
    RUN(softmax_by_hand);
    RUN(swiglu_by_hand);
    RUN(rope_pairs);
    RUN(attend_matches_naive);
    RUN(matmul_all_types);
    TEST_END();
}
