/* AVX-512 (F/BW/VL/DQ + VNNI) k-quant dot products against Q8_K.
 *
 * As dotk_avx2.c, on 64-byte vectors. The per-sub-block scales are applied
 * with VNNI's vpdpwssd (i16 pairs x i16 scale, summed into i32: the madd and
 * the add in one instruction) on the maddubs products. We do not use vpdpbusd
 * for the u8 x s8 step: its sums of 4 would need a 32-bit multiply by the
 * sub-block scale afterwards (vpmulld), one instruction more per vector than
 * maddubs + vpdpwssd, for the same exact integer result.
 *
 * Layout trick: a 64-byte load of q4_K/q5_K quants covers chunks 2k and 2k+1
 * (32 bytes each); after splitting nibbles, one 128-bit-lane shuffle pairs
 * each chunk's low and high nibbles so they line up with 64 consecutive
 * activation bytes. */
#include "simd_k.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <stddef.h>

#pragma GCC push_options
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx512vnni,avx2,fma,f16c")

/* F16C, inline: the library's cs_fp16_to_fp32 is an out-of-line call with
 * branches, too slow twice per 256 elements. Same value for every non-NaN. */
static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

static inline float hsum_ps256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* m_j (bsums[2j] + bsums[2j+1]) for j = 0..7, as 8 i32 lanes */
static inline __m256i kq_min_terms(uint32_t m03, uint32_t m47, const int16_t *bsums) {
    const __m128i m8 = _mm_set_epi32(0, 0, (int)m47, (int)m03);
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
    return _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)bsums));
}

/* For chunk c (sub-blocks 2c, 2c+1): scale 2c in the low 256 bits, 2c+1 in
 * the high 256 bits, as i16; scz holds the 8 i16 scales in each 128-bit lane. */
static inline __m512i kq_chunk_scale(__m512i scz, int c) {
    const __m512i pat = _mm512_inserti64x4(_mm512_set1_epi16((short)((4 * c + 1) << 8 | 4 * c)),
                                           _mm256_set1_epi16((short)((4 * c + 3) << 8 | (4 * c + 2))), 1);
    return _mm512_shuffle_epi8(scz, pat);
}

/* q4_K and q5_K share everything but the 5th bit; `five` is a constant, so
 * each caller compiles to its own loop. */
static inline __attribute__((always_inline)) float dot_q45_K(int64_t nb, const uint8_t *w, size_t stride,
                                                             size_t qs_off, size_t qh_off, const block_q8_K *b,
                                                             int five) {
    const __m512i m4 = _mm512_set1_epi8(0x0f), c16 = _mm512_set1_epi8(16);
    __m512 acc = _mm512_setzero_ps();
    __m256 accm = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++, w += stride) {
        /* both blocks start with d, dmin, scales[12] */
        const uint8_t *scales = w + 4, *q = w + qs_off;
        uint16_t dh, dmh;
        memcpy(&dh, w, 2);
        memcpy(&dmh, w + 2, 2);
        const float d = b[i].d * h2f(dh);
        const float dmin = b[i].d * h2f(dmh);
        uint32_t sm[4];
        cs_kq_unpack_scales(scales, sm);
        accm = _mm256_fmadd_ps(_mm256_set1_ps(dmin), _mm256_cvtepi32_ps(kq_min_terms(sm[2], sm[3], b[i].bsums)), accm);

        const __m512i scz =
            _mm512_broadcast_i32x4(_mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)sm[1], (int)sm[0])));
        /* 5th bits: qh in the low half, qh >> 1 in the high half, so bit 2c
         * of either half belongs to the matching nibble of chunk c */
        __m512i hz = _mm512_setzero_si512();
        if (five) {
            const __m256i qh = _mm256_loadu_si256((const __m256i *)(w + qh_off));
            hz = _mm512_inserti64x4(_mm512_castsi256_si512(qh), _mm256_srli_epi16(qh, 1), 1);
        }
        const int8_t *y = b[i].qs;
        __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
        for (int k = 0; k < 2; k++) {
            const __m512i qz = _mm512_loadu_si512(q + 64 * k);
            const __m512i lo = _mm512_and_si512(qz, m4);
            const __m512i hi = _mm512_and_si512(_mm512_srli_epi16(qz, 4), m4);
            __m512i x1 = _mm512_shuffle_i64x2(lo, hi, 0x44); /* chunk 2k:   [low nibbles | high nibbles] */
            __m512i x2 = _mm512_shuffle_i64x2(lo, hi, 0xee); /* chunk 2k+1 */
            if (five) {
                x1 = _mm512_mask_add_epi8(x1, _mm512_test_epi8_mask(hz, _mm512_set1_epi8((char)(1 << (4 * k)))), x1, c16);
                x2 = _mm512_mask_add_epi8(x2, _mm512_test_epi8_mask(hz, _mm512_set1_epi8((char)(4 << (4 * k)))), x2, c16);
            }
            const __m512i p1 = _mm512_maddubs_epi16(x1, _mm512_loadu_si512(y + 128 * k));
            const __m512i p2 = _mm512_maddubs_epi16(x2, _mm512_loadu_si512(y + 128 * k + 64));
            s0 = _mm512_dpwssd_epi32(s0, p1, kq_chunk_scale(scz, 2 * k));
            s1 = _mm512_dpwssd_epi32(s1, p2, kq_chunk_scale(scz, 2 * k + 1));
        }
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(_mm512_add_epi32(s0, s1)), acc);
    }
    return _mm512_reduce_add_ps(acc) - hsum_ps256(accm);
}

static float dot_q4_K(int64_t n, const void *w, const void *x) {
    return dot_q45_K(n / QK_K, w, sizeof(block_q4_K), offsetof(block_q4_K, qs), 0, x, 0);
}

static float dot_q5_K(int64_t n, const void *w, const void *x) {
    return dot_q45_K(n / QK_K, w, sizeof(block_q5_K), offsetof(block_q5_K, qs), offsetof(block_q5_K, qh), x, 1);
}

/* q6_K: unsigned quants 0..63, the -32 taken off with the bsums:
 * sum_g sc_g (q - 32).y = sum_g sc_g (q.y)_g - 32 sum_g sc_g bsums_g. */
static float dot_q6_K(int64_t n, const void *w, const void *x) {
    const block_q6_K *a = w;
    const block_q8_K *b = x;
    const int64_t nb = n / QK_K;
    const __m512i m4 = _mm512_set1_epi8(0x0f), m3 = _mm512_set1_epi8(0x30);
    /* the 64 quants at 128h + 64p cover groups 8h + 4p .. +3, one per 128-bit lane */
    __m512i idx[4];
    for (int j = 0; j < 4; j++) {
        short e[32];
        for (int l = 0; l < 32; l++) e[l] = (short)(4 * j + l / 8);
        idx[j] = _mm512_loadu_si512(e);
    }
    __m512 acc = _mm512_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = b[i].d * h2f(a[i].d);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a[i].scales));
        const __m512i scz = _mm512_castsi256_si512(sc16);
        const __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b[i].bsums));
        const uint8_t *ql = a[i].ql, *qh = a[i].qh;
        const int8_t *y = b[i].qs;
        __m512i s0 = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, y += 128) {
            const __m512i lz = _mm512_loadu_si512(ql);
            const __m256i hv = _mm256_loadu_si256((const __m256i *)qh);
            /* 2-bit fields of qh to bits 4-5: elements 0-31 take bits 0-1, 32-63 bits 2-3,
             * 64-95 bits 4-5, 96-127 bits 6-7 */
            const __m512i ha = _mm512_inserti64x4(_mm512_castsi256_si512(_mm256_slli_epi16(hv, 4)), _mm256_slli_epi16(hv, 2), 1);
            const __m512i hb = _mm512_inserti64x4(_mm512_castsi256_si512(hv), _mm256_srli_epi16(hv, 2), 1);
            const __m512i x01 = _mm512_or_si512(_mm512_and_si512(lz, m4), _mm512_and_si512(ha, m3));
            const __m512i x23 = _mm512_or_si512(_mm512_and_si512(_mm512_srli_epi16(lz, 4), m4), _mm512_and_si512(hb, m3));
            const __m512i p01 = _mm512_maddubs_epi16(x01, _mm512_loadu_si512(y));
            const __m512i p23 = _mm512_maddubs_epi16(x23, _mm512_loadu_si512(y + 64));
            s0 = _mm512_dpwssd_epi32(s0, p01, _mm512_permutexvar_epi16(idx[2 * h], scz));
            s1 = _mm512_dpwssd_epi32(s1, p23, _mm512_permutexvar_epi16(idx[2 * h + 1], scz));
        }
        __m512i sumi = _mm512_add_epi32(s0, s1);
        sumi = _mm512_sub_epi32(sumi, _mm512_zextsi256_si512(_mm256_slli_epi32(corr, 5)));
        acc = _mm512_fmadd_ps(_mm512_set1_ps(d), _mm512_cvtepi32_ps(sumi), acc);
    }
    return _mm512_reduce_add_ps(acc);
}

#pragma GCC pop_options

cs_vec_dot_fn cs_vec_dot_k_avx512(cs_type wtype) {
    if (!cs_cpu()->vnni) return NULL;
    switch (wtype) {
    case CS_TYPE_Q4_K: return dot_q4_K;
    case CS_TYPE_Q5_K: return dot_q5_K;
    case CS_TYPE_Q6_K: return dot_q6_K;
    default: return NULL;
    }
}

#else /* not x86-64 */

cs_vec_dot_fn cs_vec_dot_k_avx512(cs_type wtype) {
    (void)wtype;
    return NULL;
}

#endif
