/* vec.h's SIMD primitives against the scalar reference on random data, at
 * lengths around the vector width (8) and the attention rows in use (128 head
 * dims, 512 + 64 MLA rows). Conversions must be bit-exact; the axpys may
 * differ only by FMA's single rounding. (Attention's dots are cs_vec_dot's,
 * tested in test_dot_simd.) */
#include <stdint.h>

#include "base/base.h"
#include "kernels/kernels.h"
#include "kernels/vec.h"
#include "test.h"

static uint64_t rng = 88172645463325252ull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (float)((double)(rng >> 11) / 9007199254740992.0 * 2.0 - 1.0);
}

static const int64_t lens[] = {1, 3, 7, 8, 9, 15, 16, 31, 32, 33, 64, 127, 128, 129, 576, 1000};
#define NL (sizeof lens / sizeof *lens)
#define MAXN 1000

static const cs_vec_ops *simd(void) {
    const cs_isa isa = cs_cpu()->isa;
    return isa == CS_ISA_AVX2 || isa == CS_ISA_AVX512 ? cs_vec_avx2() : NULL;
}

static void axpys(void) {
    const cs_vec_ops *r = cs_vec_ref(), *s = simd() ? simd() : r;
    float x[MAXN], y0[MAXN], ys[MAXN], yr[MAXN];
    uint16_t xh[MAXN];
    for (size_t li = 0; li < NL; li++) {
        int64_t n = lens[li];
        float alpha = frand() * 2;
        for (int64_t i = 0; i < n; i++) {
            x[i] = frand() * 4, y0[i] = frand() * 4;
            xh[i] = cs_fp32_to_fp16(x[i]);
        }
        for (int f16 = 0; f16 < 2; f16++) {
            memcpy(ys, y0, (size_t)n * 4), memcpy(yr, y0, (size_t)n * 4);
            if (f16) s->axpy_f16(ys, alpha, xh, n), r->axpy_f16(yr, alpha, xh, n);
            else s->axpy(ys, alpha, x, n), r->axpy(yr, alpha, x, n);
            for (int64_t i = 0; i < n; i++) {
                /* FMA rounds once where the reference rounds twice: one ulp of each term */
                double xi = f16 ? cs_fp16_to_fp32(xh[i]) : x[i];
                double tol = 0x1p-23 * (fabs(y0[i]) + fabs(alpha * xi)) * 2;
                CHECKF(fabs((double)ys[i] - yr[i]) <= tol, "axpy%s n=%lld i=%lld: %g vs %g", f16 ? "_f16" : "",
                       (long long)n, (long long)i, ys[i], yr[i]);
            }
        }
    }
}

/* Every half converts to the same float (NaNs: to a NaN); floats round to
 * the same half, ties to even, subnormals and overflow included. */
static void conversions(void) {
    const cs_vec_ops *r = cs_vec_ref(), *s = simd() ? simd() : r;
    static uint16_t all[65536];
    static float fs[65536], fr[65536];
    for (int i = 0; i < 65536; i++) all[i] = (uint16_t)i;
    s->f16_to_f32(fs, all, 65536);
    r->f16_to_f32(fr, all, 65536);
    int bad = 0;
    for (int i = 0; i < 65536; i++) {
        bool nan = isnan(fr[i]);
        if (nan ? !isnan(fs[i]) : memcmp(&fs[i], &fr[i], 4) != 0) bad++;
    }
    CHECKF(bad == 0, "%d halves convert differently", bad);

    /* floats: every half value, the midpoints between neighbours (ties), just
     * off them, random values over the whole range, and overflow */
    static float src[65536 * 3 + 64];
    int n = 0;
    for (int i = 0; i < 65536; i++) {
        if (isnan(fr[i])) continue;
        src[n++] = fr[i];
        if ((i & 0x7fff) < 0x7bff) {
            float mid = (float)(((double)fr[i] + (double)fr[i + 1]) / 2);
            src[n++] = mid;
            src[n++] = nextafterf(mid, 0.0f);
        }
    }
    const float extra[] = {65504.0f, 65519.99f, 65520.0f, 65536.0f, 1e10f, -1e10f, 5.9604645e-8f, 2.9802322e-8f,
                           2.9802326e-8f, 1e-10f, -0.0f, INFINITY, -INFINITY};
    for (size_t i = 0; i < sizeof extra / sizeof *extra; i++) src[n++] = extra[i];
    static uint16_t hs[65536 * 3 + 64], hr[65536 * 3 + 64];
    s->f32_to_f16(hs, src, n);
    r->f32_to_f16(hr, src, n);
    bad = 0;
    for (int i = 0; i < n; i++)
        if (hs[i] != hr[i]) {
            if (bad++ < 5) fprintf(stderr, "  %.9g -> %04x vs %04x\n", src[i], hs[i], hr[i]);
        }
    CHECKF(bad == 0, "%d of %d floats round differently", bad, n);
}

/* cs_attend (which runs on these primitives) under both, on F16 rows. */
static void attend_f16_rows(void) {
    enum { N = 37, D = 128 };
    static float q[D], k[N * D], v[N * D], out[D], scores[N];
    static uint16_t kh[N * D], vh[N * D];
    for (int i = 0; i < D; i++) q[i] = frand();
    for (int i = 0; i < N * D; i++) {
        k[i] = frand(), v[i] = frand();
        kh[i] = cs_fp32_to_fp16(k[i]), vh[i] = cs_fp32_to_fp16(v[i]);
    }
    double p[N], mx = -1e30, sum = 0;
    for (int j = 0; j < N; j++) {
        double s = 0;
        for (int d = 0; d < D; d++) s += (double)q[d] * cs_fp16_to_fp32(kh[j * D + d]);
        p[j] = 0.1 * s;
        mx = fmax(mx, p[j]);
    }
    for (int j = 0; j < N; j++) sum += p[j] = exp(p[j] - mx);
    cs_attend(out, q, kh, vh, CS_TYPE_F16, N, D, D, D, D, 0.1f, scores);
    for (int d = 0; d < D; d++) {
        double want = 0;
        for (int j = 0; j < N; j++) want += p[j] / sum * cs_fp16_to_fp32(vh[j * D + d]);
        CHECK_NEAR(out[d], want, 1e-5);
    }
}

int main(void) {
    RUN(axpys);
    RUN(conversions);
    RUN(attend_f16_rows);
    TEST_END();
}
