/* One weight row against up to CS_DOTN_MAX activation rows at once, for small
 * batches (the server's decode steps over several slots): each weight block
 * is loaded, and its sign and scale worked out, once for all the rows, so a
 * batch of 4 costs far less than 4 dots while the row streams from memory
 * once. The activations' block scales come as floats, converted once per
 * matmul instead of once per weight row. Larger batches go to the tiled GEMM
 * (gemm.h), whose repacking only pays off over many tokens. */
#include <stdbool.h>

#include "simd.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "../base/base.h"

/* how far ahead of the weight block in use to prefetch, in bytes */
#ifndef CS_DOTN_PREFETCH
#define CS_DOTN_PREFETCH 2048
#endif

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* |w| . (y signed like w), as dot_avx2.c's dot_i8: exact for y in [-127, 127].
 * n_x is a constant where this is inlined: the token loop unrolls and the
 * accumulators stay in registers. */
static inline __attribute__((always_inline)) void dotn_q8_0_avx2_k(int64_t n, const void *w, const void *x,
                                                                  size_t x_stride, const float *dx, size_t dx_stride,
                                                                  const int n_x, float *out) {
    const block_q8_0 *a = w;
    const block_q8_0 *b[CS_DOTN_MAX];
    const float *d[CS_DOTN_MAX];
    for (int t = 0; t < n_x; t++) {
        b[t] = (const block_q8_0 *)((const char *)x + (size_t)t * x_stride);
        d[t] = dx + (size_t)t * dx_stride;
    }
    const int64_t nb = n / QK8_0;
    const __m256i ones = _mm256_set1_epi16(1);
    __m256 acc[CS_DOTN_MAX];
    for (int t = 0; t < CS_DOTN_MAX; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const __m256i wv = _mm256_loadu_si256((const __m256i *)a[i].qs);
        const __m256i aw = _mm256_sign_epi8(wv, wv);
        const float dw = _cvtsh_ss(a[i].d);
#pragma GCC unroll 4
        for (int t = 0; t < n_x; t++) {
            __m256i yv = _mm256_sign_epi8(_mm256_loadu_si256((const __m256i *)b[t][i].qs), wv);
            __m256i p = _mm256_madd_epi16(_mm256_maddubs_epi16(aw, yv), ones);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * d[t][i]), _mm256_cvtepi32_ps(p), acc[t]);
        }
    }
    for (int t = 0; t < n_x; t++) out[t] = hsum8(acc[t]);
}

static void dotn_q8_0_avx2(int64_t n, const void *w, const void *x, size_t x_stride, const float *dx,
                           size_t dx_stride, int n_x, float *out) {
    switch (n_x) {
    case 1: dotn_q8_0_avx2_k(n, w, x, x_stride, dx, dx_stride, 1, out); break;
    case 2: dotn_q8_0_avx2_k(n, w, x, x_stride, dx, dx_stride, 2, out); break;
    case 3: dotn_q8_0_avx2_k(n, w, x, x_stride, dx, dx_stride, 3, out); break;
    default: dotn_q8_0_avx2_k(n, w, x, x_stride, dx, dx_stride, 4, out); break;
    }
}

#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,avx512f,avx512vl,avx512vnni")

/* With VNNI the activations are used as unsigned bytes y + 128 (one XOR), so
 * vpdpbusd multiplies them by the signed weights directly; the extra 128 sum w
 * is taken off by starting each block's sum at -128 sum w, worked out once per
 * weight block for every token. Exact for any bytes. */
static inline __attribute__((always_inline)) void dotn_q8_0_vnni_k(int64_t n, const void *w, const void *x,
                                                                  size_t x_stride, const float *dx, size_t dx_stride,
                                                                  const int n_x, float *out) {
    const block_q8_0 *a = w;
    const block_q8_0 *b[CS_DOTN_MAX];
    const float *d[CS_DOTN_MAX];
    for (int t = 0; t < n_x; t++) {
        b[t] = (const block_q8_0 *)((const char *)x + (size_t)t * x_stride);
        d[t] = dx + (size_t)t * dx_stride;
    }
    const int64_t nb = n / QK8_0;
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    __m256 acc[CS_DOTN_MAX];
    for (int t = 0; t < CS_DOTN_MAX; t++) acc[t] = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        _mm_prefetch((const char *)(a + i) + CS_DOTN_PREFETCH, _MM_HINT_T0);
        const __m256i wv = _mm256_loadu_si256((const __m256i *)a[i].qs);
        const __m256i base =
            _mm256_sub_epi32(_mm256_setzero_si256(), _mm256_dpbusd_epi32(_mm256_setzero_si256(), flip, wv));
        const float dw = _cvtsh_ss(a[i].d);
#pragma GCC unroll 4
        for (int t = 0; t < n_x; t++) {
            __m256i yu = _mm256_xor_si256(_mm256_loadu_si256((const __m256i *)b[t][i].qs), flip);
            __m256i p = _mm256_dpbusd_epi32(base, yu, wv);
            acc[t] = _mm256_fmadd_ps(_mm256_set1_ps(dw * d[t][i]), _mm256_cvtepi32_ps(p), acc[t]);
        }
    }
    for (int t = 0; t < n_x; t++) out[t] = hsum8(acc[t]);
}

static void dotn_q8_0_vnni(int64_t n, const void *w, const void *x, size_t x_stride, const float *dx,
                           size_t dx_stride, int n_x, float *out) {
    switch (n_x) {
    case 1: dotn_q8_0_vnni_k(n, w, x, x_stride, dx, dx_stride, 1, out); break;
    case 2: dotn_q8_0_vnni_k(n, w, x, x_stride, dx, dx_stride, 2, out); break;
    case 3: dotn_q8_0_vnni_k(n, w, x, x_stride, dx, dx_stride, 3, out); break;
    default: dotn_q8_0_vnni_k(n, w, x, x_stride, dx, dx_stride, 4, out); break;
    }
}

#pragma GCC pop_options

cs_vec_dot_n_fn cs_vec_dot_n_avx2_path(cs_type wtype, bool vnni) {
    if (wtype != CS_TYPE_Q8_0) return NULL;
    return vnni ? dotn_q8_0_vnni : dotn_q8_0_avx2;
}

#else
cs_vec_dot_n_fn cs_vec_dot_n_avx2_path(cs_type wtype, bool vnni) {
    (void)wtype, (void)vnni;
    return NULL;
}
#endif

cs_vec_dot_n_fn cs_vec_dot_n_avx2(cs_type wtype) { return cs_vec_dot_n_avx2_path(wtype, cs_cpu()->vnni); }
