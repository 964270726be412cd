/* AVX-512 VNNI panel kernels (layouts in gemm.h): a tile of 32 rows (two
 * 16-lane vectors) x T tokens. Per step, two weight vectors are loaded and
 * each meets T broadcasts of 4 activation bytes in vpdpbusd (u8 x s8 -> s32,
 * no saturation), so integer block sums are exact; they become float once per
 * block (Q8_0) or sub-block (k-quants) with the weight scales. */
#include "gemm.h"

#if defined(__x86_64__)
#include <immintrin.h>
#include <string.h>

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,fma")

#define UNROLL _Pragma("GCC unroll 16")

static inline __m512i bc32(const void *p) {
    int32_t v;
    memcpy(&v, p, 4);
    return _mm512_set1_epi32(v);
}

static inline __mmask16 lanes(int n) { return n >= 16 ? (__mmask16)0xffff : n <= 0 ? 0 : (__mmask16)((1u << n) - 1); }

/* ---- Q8_0: tile 32 x T, T <= 6 (12 int + 12 float accumulators) ------------ */
static inline __attribute__((always_inline)) void q8_0_tile(const int T, float *y, int64_t ldy, int acc, __mmask16 m0,
                                                            __mmask16 m1, const uint8_t *pw, int64_t nb,
                                                            const char *xq, size_t xrow,
                                                            const cs_gemm_q8_side *side, int64_t n_tok) {
    __m512 f0[6], f1[6];
    UNROLL for (int t = 0; t < T; t++) {
        f0[t] = acc ? _mm512_maskz_loadu_ps(m0, y + t * ldy) : _mm512_setzero_ps();
        f1[t] = acc ? _mm512_maskz_loadu_ps(m1, y + t * ldy + 16) : _mm512_setzero_ps();
    }
    const char *x = xq + offsetof(block_q8_0, qs);
    for (int64_t b = 0; b < nb; b++, pw += CS_GEMM_Q8_0_BLOCK, x += sizeof(block_q8_0), side += n_tok) {
        __m512i a0[6], a1[6];
        UNROLL for (int t = 0; t < T; t++) a0[t] = a1[t] = _mm512_set1_epi32(side[t].corr);
        UNROLL for (int k = 0; k < 8; k++) {
            const __m512i w0 = _mm512_load_si512(pw + 64 * k), w1 = _mm512_load_si512(pw + 512 + 64 * k);
            UNROLL for (int t = 0; t < T; t++) {
                const __m512i xv = bc32(x + t * xrow + 4 * k);
                a0[t] = _mm512_dpbusd_epi32(a0[t], w0, xv);
                a1[t] = _mm512_dpbusd_epi32(a1[t], w1, xv);
            }
        }
        const __m512 d0 = _mm512_load_ps((const float *)(pw + 1024)), d1 = _mm512_load_ps((const float *)(pw + 1088));
        UNROLL for (int t = 0; t < T; t++) {
            const __m512 dx = _mm512_set1_ps(side[t].d);
            f0[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0[t]), _mm512_mul_ps(d0, dx), f0[t]);
            f1[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1[t]), _mm512_mul_ps(d1, dx), f1[t]);
        }
    }
    UNROLL for (int t = 0; t < T; t++) {
        _mm512_mask_storeu_ps(y + t * ldy, m0, f0[t]);
        _mm512_mask_storeu_ps(y + t * ldy + 16, m1, f1[t]);
    }
}

void cs_gemm_q8_0_avx512(float *y, int64_t ldy, int nrows, const uint8_t *panel, int64_t n_in, const char *xq,
                         size_t xrow, const void *side_, int64_t n_tok, int acc) {
    const cs_gemm_q8_side *side = side_;
    const int64_t nb = n_in / QK8_0;
    const __mmask16 m0 = lanes(nrows), m1 = lanes(nrows - 16);
    int64_t t = 0;
    for (; t + 6 <= n_tok; t += 6) q8_0_tile(6, y + t * ldy, ldy, acc, m0, m1, panel, nb, xq + t * xrow, xrow, side + t, n_tok);
    switch (n_tok - t) {
    case 5: q8_0_tile(5, y + t * ldy, ldy, acc, m0, m1, panel, nb, xq + t * xrow, xrow, side + t, n_tok); break;
    case 4: q8_0_tile(4, y + t * ldy, ldy, acc, m0, m1, panel, nb, xq + t * xrow, xrow, side + t, n_tok); break;
    case 3: q8_0_tile(3, y + t * ldy, ldy, acc, m0, m1, panel, nb, xq + t * xrow, xrow, side + t, n_tok); break;
    case 2: q8_0_tile(2, y + t * ldy, ldy, acc, m0, m1, panel, nb, xq + t * xrow, xrow, side + t, n_tok); break;
    case 1: q8_0_tile(1, y + t * ldy, ldy, acc, m0, m1, panel, nb, xq + t * xrow, xrow, side + t, n_tok); break;
    default: break;
    }
}

/* ---- Q4_K: tile 32 x T, T <= 4 (int, per-super-block and total accumulators) --
 * sum_j d sc_j (q.y)_j - dmin sum_j m_j ysum_j, times the activation's d. */
static inline __attribute__((always_inline)) void q4_K_tile(const int T, float *y, int64_t ldy, int acc, __mmask16 m0,
                                                            __mmask16 m1, const uint8_t *pw, int64_t nsb,
                                                            const char *xq, size_t xrow) {
    __m512 f0[4], f1[4];
    UNROLL for (int t = 0; t < T; t++) {
        f0[t] = acc ? _mm512_maskz_loadu_ps(m0, y + t * ldy) : _mm512_setzero_ps();
        f1[t] = acc ? _mm512_maskz_loadu_ps(m1, y + t * ldy + 16) : _mm512_setzero_ps();
    }
    for (int64_t s = 0; s < nsb; s++, pw += CS_GEMM_Q4_K_SB, xq += sizeof(block_q8_K)) {
        __m512 g0[4], g1[4];
        __m512i a0[4], a1[4];
        UNROLL for (int t = 0; t < T; t++) g0[t] = g1[t] = _mm512_setzero_ps();
        for (int j = 0; j < 8; j++) {
            const uint8_t *wj = pw + 2 * j * 512;
            const char *xj = xq + offsetof(block_q8_K, qs) + 32 * j;
            UNROLL for (int t = 0; t < T; t++) a0[t] = a1[t] = _mm512_setzero_si512();
            UNROLL for (int k = 0; k < 8; k++) {
                const __m512i w0 = _mm512_load_si512(wj + 64 * k), w1 = _mm512_load_si512(wj + 512 + 64 * k);
                UNROLL for (int t = 0; t < T; t++) {
                    const __m512i xv = bc32(xj + t * xrow + 4 * k);
                    a0[t] = _mm512_dpbusd_epi32(a0[t], w0, xv);
                    a1[t] = _mm512_dpbusd_epi32(a1[t], w1, xv);
                }
            }
            const float *dsc = (const float *)(pw + 8192) + 32 * j;
            const __m512 s0 = _mm512_load_ps(dsc), s1 = _mm512_load_ps(dsc + 16);
            UNROLL for (int t = 0; t < T; t++) {
                g0[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0[t]), s0, g0[t]);
                g1[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1[t]), s1, g1[t]);
            }
        }
        /* mins: (m_j, m_j) int16 pairs . (bsums[2j], bsums[2j+1]) */
        const uint8_t *mn = pw + 8192 + 1024;
        UNROLL for (int t = 0; t < T; t++) a0[t] = a1[t] = _mm512_setzero_si512();
        UNROLL for (int j = 0; j < 8; j++) {
            const __m512i v0 = _mm512_load_si512(mn + 64 * j), v1 = _mm512_load_si512(mn + 512 + 64 * j);
            UNROLL for (int t = 0; t < T; t++) {
                const __m512i bs = bc32(xq + t * xrow + offsetof(block_q8_K, bsums) + 4 * j);
                a0[t] = _mm512_dpwssd_epi32(a0[t], v0, bs);
                a1[t] = _mm512_dpwssd_epi32(a1[t], v1, bs);
            }
        }
        const float *dmin = (const float *)(pw + 8192 + 2048);
        const __m512 n0 = _mm512_load_ps(dmin), n1 = _mm512_load_ps(dmin + 16);
        UNROLL for (int t = 0; t < T; t++) {
            float dy;
            memcpy(&dy, xq + t * xrow, sizeof dy);
            const __m512 vd = _mm512_set1_ps(dy);
            g0[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(a0[t]), n0, g0[t]);
            g1[t] = _mm512_fnmadd_ps(_mm512_cvtepi32_ps(a1[t]), n1, g1[t]);
            f0[t] = _mm512_fmadd_ps(g0[t], vd, f0[t]);
            f1[t] = _mm512_fmadd_ps(g1[t], vd, f1[t]);
        }
    }
    UNROLL for (int t = 0; t < T; t++) {
        _mm512_mask_storeu_ps(y + t * ldy, m0, f0[t]);
        _mm512_mask_storeu_ps(y + t * ldy + 16, m1, f1[t]);
    }
}

void cs_gemm_q4_K_avx512(float *y, int64_t ldy, int nrows, const uint8_t *panel, int64_t n_in, const char *xq,
                         size_t xrow, const void *side, int64_t n_tok, int acc) {
    (void)side;
    const int64_t nsb = n_in / QK_K;
    const __mmask16 m0 = lanes(nrows), m1 = lanes(nrows - 16);
    int64_t t = 0;
    for (; t + 4 <= n_tok; t += 4) q4_K_tile(4, y + t * ldy, ldy, acc, m0, m1, panel, nsb, xq + t * xrow, xrow);
    switch (n_tok - t) {
    case 3: q4_K_tile(3, y + t * ldy, ldy, acc, m0, m1, panel, nsb, xq + t * xrow, xrow); break;
    case 2: q4_K_tile(2, y + t * ldy, ldy, acc, m0, m1, panel, nsb, xq + t * xrow, xrow); break;
    case 1: q4_K_tile(1, y + t * ldy, ldy, acc, m0, m1, panel, nsb, xq + t * xrow, xrow); break;
    default: break;
    }
}

/* ---- Q6_K: tile 32 x T, T <= 4. Groups of 16: d sc_g (sum q y - 32 bsums_g). */
static inline __attribute__((always_inline)) void q6_K_tile(const int T, float *y, int64_t ldy, int acc, __mmask16 m0,
                                                            __mmask16 m1, const uint8_t *pw, int64_t nsb,
                                                            const char *xq, size_t xrow) {
    __m512 f0[4], f1[4];
    UNROLL for (int t = 0; t < T; t++) {
        f0[t] = acc ? _mm512_maskz_loadu_ps(m0, y + t * ldy) : _mm512_setzero_ps();
        f1[t] = acc ? _mm512_maskz_loadu_ps(m1, y + t * ldy + 16) : _mm512_setzero_ps();
    }
    for (int64_t s = 0; s < nsb; s++, pw += CS_GEMM_Q6_K_SB, xq += sizeof(block_q8_K)) {
        __m512 g0[4], g1[4];
        UNROLL for (int t = 0; t < T; t++) g0[t] = g1[t] = _mm512_setzero_ps();
        for (int g = 0; g < 16; g++) {
            const uint8_t *wg = pw + 2 * g * 256;
            __m512i a0[4], a1[4];
            UNROLL for (int t = 0; t < T; t++) {
                int16_t bs;
                memcpy(&bs, xq + t * xrow + offsetof(block_q8_K, bsums) + 2 * g, 2);
                a0[t] = a1[t] = _mm512_set1_epi32(-32 * (int32_t)bs);
            }
            UNROLL for (int k = 0; k < 4; k++) {
                const __m512i w0 = _mm512_load_si512(wg + 64 * k), w1 = _mm512_load_si512(wg + 256 + 64 * k);
                UNROLL for (int t = 0; t < T; t++) {
                    const __m512i xv = bc32(xq + t * xrow + offsetof(block_q8_K, qs) + 16 * g + 4 * k);
                    a0[t] = _mm512_dpbusd_epi32(a0[t], w0, xv);
                    a1[t] = _mm512_dpbusd_epi32(a1[t], w1, xv);
                }
            }
            const float *dsc = (const float *)(pw + 8192) + 32 * g;
            const __m512 s0 = _mm512_load_ps(dsc), s1 = _mm512_load_ps(dsc + 16);
            UNROLL for (int t = 0; t < T; t++) {
                g0[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a0[t]), s0, g0[t]);
                g1[t] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(a1[t]), s1, g1[t]);
            }
        }
        UNROLL for (int t = 0; t < T; t++) {
            float dy;
            memcpy(&dy, xq + t * xrow, sizeof dy);
            const __m512 vd = _mm512_set1_ps(dy);
            f0[t] = _mm512_fmadd_ps(g0[t], vd, f0[t]);
            f1[t] = _mm512_fmadd_ps(g1[t], vd, f1[t]);
        }
    }
    UNROLL for (int t = 0; t < T; t++) {
        _mm512_mask_storeu_ps(y + t * ldy, m0, f0[t]);
        _mm512_mask_storeu_ps(y + t * ldy + 16, m1, f1[t]);
    }
}

void cs_gemm_q6_K_avx512(float *y, int64_t ldy, int nrows, const uint8_t *panel, int64_t n_in, const char *xq,
                         size_t xrow, const void *side, int64_t n_tok, int acc) {
    (void)side;
    const int64_t nsb = n_in / QK_K;
    const __mmask16 m0 = lanes(nrows), m1 = lanes(nrows - 16);
    int64_t t = 0;
    for (; t + 4 <= n_tok; t += 4) q6_K_tile(4, y + t * ldy, ldy, acc, m0, m1, panel, nsb, xq + t * xrow, xrow);
    switch (n_tok - t) {
    case 3: q6_K_tile(3, y + t * ldy, ldy, acc, m0, m1, panel, nsb, xq + t * xrow, xrow); break;
    case 2: q6_K_tile(2, y + t * ldy, ldy, acc, m0, m1, panel, nsb, xq + t * xrow, xrow); break;
    case 1: q6_K_tile(1, y + t * ldy, ldy, acc, m0, m1, panel, nsb, xq + t * xrow, xrow); break;
    default: break;
    }
}

#pragma GCC pop_options
#endif
