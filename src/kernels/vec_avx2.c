/* vec.h's primitives with AVX2 + FMA + F16C: halves converted 8 at a time by
 * vcvtph2ps, tails in scalar C. Compiled for that target only here; called
 * only when cs_cpu() reports AVX2 or better. */
#include "vec.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>

#include "../base/base.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

static inline __m256 load_h8(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static void axpy_avx2(float *y, float a, const float *x, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, _mm256_loadu_ps(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * x[i];
}

static void axpy_f16_avx2(float *y, float a, const uint16_t *x, int64_t n) {
    const __m256 va = _mm256_set1_ps(a);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, _mm256_fmadd_ps(va, load_h8(x + i), _mm256_loadu_ps(y + i)));
    for (; i < n; i++) y[i] += a * cs_fp16_to_fp32(x[i]);
}

static void f16_to_f32_avx2(float *dst, const uint16_t *src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, load_h8(src + i));
    for (; i < n; i++) dst[i] = cs_fp16_to_fp32(src[i]);
}

static void f32_to_f16_avx2(uint16_t *dst, const float *src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i), _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++) dst[i] = cs_fp32_to_fp16(src[i]);
}

#pragma GCC pop_options

static const cs_vec_ops avx2_ops = {axpy_avx2, axpy_f16_avx2, f16_to_f32_avx2, f32_to_f16_avx2};

const cs_vec_ops *cs_vec_avx2(void) { return &avx2_ops; }

#else
const cs_vec_ops *cs_vec_avx2(void) { return NULL; }
#endif
