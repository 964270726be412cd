/* AVX2 panel kernels over the same panels as AVX-512 (gemm.h): a 64-byte
 * panel vector is two 8-row halves, and each half is a tile of 8 rows x T
 * tokens (T <= 4; 16 ymm registers). Integer 4-byte dots are maddubs (u8 x s8
 * -> s16 pairs) + madd with ones (-> s32). Q4_K (<= 15) and Q6_K (<= 63) bytes
 * cannot saturate the s16 pairs; Q8_0's w + 128 could, so its kernel takes the
 * +128 back off and uses ggml's sign trick: |w| . sign(x, w). */
#include "gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#pragma GCC push_options
#pragma GCC target("avx2,fma")

#define UNROLL _Pragma("GCC unroll 16")

static inline __m256i bc32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm256_set1_epi32(v);
}

/* acc + 4-byte dots of unsigned a with signed b, per 32-bit lane */
static inline __m256i dot4(__m256i acc, __m256i a, __m256i b) {
    return _mm256_add_epi32(acc, _mm256_madd_epi16(_mm256_maddubs_epi16(a, b), _mm256_set1_epi16(1)));
}

/* Store the first n (<= 8) lanes. */
static inline void store8(float *y, __m256 v, int n) {
    if (n >= 8) {
        _mm256_storeu_ps(y, v);
        return;
    }
    float tmp[8];
    _mm256_storeu_ps(tmp, v);
    memcpy(y, tmp, (size_t)n * sizeof(float));
}

/* Load the first n (<= 8) lanes, the rest zero. */
static inline __m256 load8(const float *y, int n) {
    if (n >= 8) return _mm256_loadu_ps(y);
    float tmp[8] = {0};
    memcpy(tmp, y, (size_t)n * sizeof(float));
    return _mm256_loadu_ps(tmp);
}

/* Rows 8h..8h+7 of a panel: their bytes lie in unit h/2 at byte 32 (h%2) of
 * each 64-byte vector (q = quant offset), their per-row floats at 8h. */
#define HALF_Q(h, unit) ((h) / 2 * (unit) + (h) % 2 * 32)

/* Loop over the 8-row halves of the panel and the token tiles. */
#define DRIVE(TILE, ...)                                                                     \
    for (int h = 0; h < 4 && 8 * h < nrows; h++) {                                           \
        const int n = nrows - 8 * h < 8 ? nrows - 8 * h : 8;                                 \
        int64_t t = 0;                                                                       \
        for (; t + 4 <= n_tok; t += 4) TILE(4, y + 8 * h + t * ldy, ldy, acc, n, h, t, __VA_ARGS__); \
        switch (n_tok - t) {                                                                 \
        case 3: TILE(3, y + 8 * h + t * ldy, ldy, acc, n, h, t, __VA_ARGS__); break;              \
        case 2: TILE(2, y + 8 * h + t * ldy, ldy, acc, n, h, t, __VA_ARGS__); break;              \
        case 1: TILE(1, y + 8 * h + t * ldy, ldy, acc, n, h, t, __VA_ARGS__); break;              \
        default: break;                                                                      \
        }                                                                                    \
    }

/* ---- Q8_0 ------------------------------------------------------------------ */
static inline __attribute__((always_inline)) void q8_0_tile(const int T, float *y, int64_t ldy, int acc, int n, int h,
                                                            int64_t t0, const uint8_t *pw, int64_t nb,
                                                            const char *xq, size_t xrow,
                                                            const cs_gemm_q8_side *side, int64_t n_tok) {
    __m256 f[4];
    UNROLL for (int t = 0; t < T; t++) f[t] = acc ? load8(y + t * ldy, n) : _mm256_setzero_ps();
    const char *x = xq + t0 * xrow + offsetof(block_q8_0, qs);
    side += t0;
    const __m256i flip = _mm256_set1_epi8((char)0x80);
    for (int64_t b = 0; b < nb; b++, pw += CS_GEMM_Q8_0_BLOCK, x += sizeof(block_q8_0), side += n_tok) {
        const uint8_t *q = pw + HALF_Q(h, 512);
        __m256i a[4];
        UNROLL for (int t = 0; t < T; t++) a[t] = _mm256_setzero_si256();
        UNROLL for (int k = 0; k < 8; k++) {
            const __m256i w = _mm256_xor_si256(_mm256_load_si256((const __m256i *)(q + 64 * k)), flip);
            const __m256i aw = _mm256_abs_epi8(w);
            UNROLL for (int t = 0; t < T; t++) a[t] = dot4(a[t], aw, _mm256_sign_epi8(bc32(x + t * xrow + 4 * k), w));
        }
        const __m256 d = _mm256_load_ps((const float *)(pw + 1024) + 8 * h);
        UNROLL for (int t = 0; t < T; t++)
            f[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a[t]), _mm256_mul_ps(d, _mm256_set1_ps(side[t].d)), f[t]);
    }
    UNROLL for (int t = 0; t < T; t++) store8(y + t * ldy, f[t], n);
}

void cs_gemm_q8_0_avx2(float *y, int64_t ldy, int nrows, const uint8_t *panel, int64_t n_in, const char *xq,
                       size_t xrow, const void *side, int64_t n_tok, int acc) {
    DRIVE(q8_0_tile, panel, n_in / QK8_0, xq, xrow, (const cs_gemm_q8_side *)side, n_tok)
}

/* ---- Q4_K ------------------------------------------------------------------ */
static inline __attribute__((always_inline)) void q4_K_tile(const int T, float *y, int64_t ldy, int acc, int n, int h,
                                                            int64_t t0, const uint8_t *pw, int64_t nsb,
                                                            const char *xq, size_t xrow) {
    __m256 f[4];
    UNROLL for (int t = 0; t < T; t++) f[t] = acc ? load8(y + t * ldy, n) : _mm256_setzero_ps();
    xq += t0 * xrow;
    for (int64_t s = 0; s < nsb; s++, pw += CS_GEMM_Q4_K_SB, xq += sizeof(block_q8_K)) {
        __m256 g[4];
        __m256i a[4];
        UNROLL for (int t = 0; t < T; t++) g[t] = _mm256_setzero_ps();
        for (int j = 0; j < 8; j++) {
            const uint8_t *q = pw + 2 * j * 512 + HALF_Q(h, 512);
            const char *xj = xq + offsetof(block_q8_K, qs) + 32 * j;
            UNROLL for (int t = 0; t < T; t++) a[t] = _mm256_setzero_si256();
            UNROLL for (int k = 0; k < 8; k++) {
                const __m256i w = _mm256_load_si256((const __m256i *)(q + 64 * k));
                UNROLL for (int t = 0; t < T; t++) a[t] = dot4(a[t], w, bc32(xj + t * xrow + 4 * k));
            }
            const __m256 sc = _mm256_load_ps((const float *)(pw + 8192) + 32 * j + 8 * h);
            UNROLL for (int t = 0; t < T; t++) g[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a[t]), sc, g[t]);
        }
        const uint8_t *mn = pw + 8192 + 1024 + HALF_Q(h, 512);
        UNROLL for (int t = 0; t < T; t++) a[t] = _mm256_setzero_si256();
        UNROLL for (int j = 0; j < 8; j++) {
            const __m256i m = _mm256_load_si256((const __m256i *)(mn + 64 * j));
            UNROLL for (int t = 0; t < T; t++)
                a[t] = _mm256_add_epi32(a[t], _mm256_madd_epi16(m, bc32(xq + t * xrow + offsetof(block_q8_K, bsums) + 4 * j)));
        }
        const __m256 dmin = _mm256_load_ps((const float *)(pw + 8192 + 2048) + 8 * h);
        UNROLL for (int t = 0; t < T; t++) {
            float dy;
            memcpy(&dy, xq + t * xrow, sizeof dy);
            g[t] = _mm256_fnmadd_ps(_mm256_cvtepi32_ps(a[t]), dmin, g[t]);
            f[t] = _mm256_fmadd_ps(g[t], _mm256_set1_ps(dy), f[t]);
        }
    }
    UNROLL for (int t = 0; t < T; t++) store8(y + t * ldy, f[t], n);
}

void cs_gemm_q4_K_avx2(float *y, int64_t ldy, int nrows, const uint8_t *panel, int64_t n_in, const char *xq,
                       size_t xrow, const void *side, int64_t n_tok, int acc) {
    (void)side;
    DRIVE(q4_K_tile, panel, n_in / QK_K, xq, xrow)
}

/* ---- Q6_K ------------------------------------------------------------------ */
static inline __attribute__((always_inline)) void q6_K_tile(const int T, float *y, int64_t ldy, int acc, int n, int h,
                                                            int64_t t0, const uint8_t *pw, int64_t nsb,
                                                            const char *xq, size_t xrow) {
    __m256 f[4];
    UNROLL for (int t = 0; t < T; t++) f[t] = acc ? load8(y + t * ldy, n) : _mm256_setzero_ps();
    xq += t0 * xrow;
    for (int64_t s = 0; s < nsb; s++, pw += CS_GEMM_Q6_K_SB, xq += sizeof(block_q8_K)) {
        __m256 g[4];
        UNROLL for (int t = 0; t < T; t++) g[t] = _mm256_setzero_ps();
        for (int gi = 0; gi < 16; gi++) {
            const uint8_t *q = pw + 2 * gi * 256 + HALF_Q(h, 256);
            __m256i a[4];
            UNROLL for (int t = 0; t < T; t++) {
                int16_t bs;
                memcpy(&bs, xq + t * xrow + offsetof(block_q8_K, bsums) + 2 * gi, 2);
                a[t] = _mm256_set1_epi32(-32 * (int32_t)bs);
            }
            UNROLL for (int k = 0; k < 4; k++) {
                const __m256i w = _mm256_load_si256((const __m256i *)(q + 64 * k));
                UNROLL for (int t = 0; t < T; t++)
                    a[t] = dot4(a[t], w, bc32(xq + t * xrow + offsetof(block_q8_K, qs) + 16 * gi + 4 * k));
            }
            const __m256 sc = _mm256_load_ps((const float *)(pw + 8192) + 32 * gi + 8 * h);
            UNROLL for (int t = 0; t < T; t++) g[t] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(a[t]), sc, g[t]);
        }
        UNROLL for (int t = 0; t < T; t++) {
            float dy;
            memcpy(&dy, xq + t * xrow, sizeof dy);
            f[t] = _mm256_fmadd_ps(g[t], _mm256_set1_ps(dy), f[t]);
        }
    }
    UNROLL for (int t = 0; t < T; t++) store8(y + t * ldy, f[t], n);
}

void cs_gemm_q6_K_avx2(float *y, int64_t ldy, int nrows, const uint8_t *panel, int64_t n_in, const char *xq,
                       size_t xrow, const void *side, int64_t n_tok, int acc) {
    (void)side;
    DRIVE(q6_K_tile, panel, n_in / QK_K, xq, xrow)
}

#pragma GCC pop_options
#endif
