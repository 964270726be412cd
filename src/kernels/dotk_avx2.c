/* AVX2 + FMA k-quant dot products (Q4_K, Q5_K, Q6_K against Q8_K) and the
 * Q8_K activation quantizer.
 *
 * Same algebra as the references in dot_ref.c, in ggml's arrangement: the
 * weight quants are unpacked to unsigned bytes and multiplied with the signed
 * activation bytes by maddubs (u8 x s8 -> pairs summed to i16; never saturates
 * here: 63 * 128 * 2 < 32767), the 16-bit sums are scaled by the sub-block
 * scales with madd (-> i32), all in integer; one float FMA per super-block and
 * one horizontal sum at the end. The min terms (Q4_K/Q5_K mins, Q6_K's -32)
 * come from the activation's bsums, so the inner loop never subtracts. */
#include "simd_k.h"

#if defined(__x86_64__)

#include <immintrin.h>

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

/* F16C, inline: the library's cs_fp16_to_fp32 is an out-of-line call with
 * branches, too slow twice per 256 elements. Same value for every non-NaN. */
static inline float h2f(uint16_t h) { return _cvtsh_ss(h); }

static inline float hsum_ps256(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float hsum_ps128(__m128 s) {
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

/* sum_j m_j (bsums[2j] + bsums[2j+1]) as 4 i32 lanes: one madd against the
 * mins widened to i16 and duplicated per pair of bsums. */
static inline __m128i kq_min_terms(uint32_t m03, uint32_t m47, const int16_t *bsums) {
    const __m128i m8 = _mm_set_epi32(0, 0, (int)m47, (int)m03);
    const __m256i m16 = _mm256_cvtepu8_epi16(_mm_unpacklo_epi8(m8, m8));
    const __m256i p = _mm256_madd_epi16(m16, _mm256_loadu_si256((const __m256i *)bsums));
    return _mm_add_epi32(_mm256_castsi256_si128(p), _mm256_extracti128_si256(p, 1));
}

/* i16 scale of sub-block j (0..7) in every lane, from the 8 scales as i16 in
 * each 128-bit lane of sc16. */
static inline __m256i kq_bcast_scale(__m256i sc16, int j) {
    return _mm256_shuffle_epi8(sc16, _mm256_set1_epi16((short)((2 * j + 1) << 8 | 2 * j)));
}

static float dot_q4_K(int64_t n, const void *w, const void *x) {
    const block_q4_K *a = w;
    const block_q8_K *b = x;
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = b[i].d * h2f(a[i].d);
        const float dmin = b[i].d * h2f(a[i].dmin);
        uint32_t sm[4];
        cs_kq_unpack_scales(a[i].scales, sm);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(kq_min_terms(sm[2], sm[3], b[i].bsums)), accm);

        const __m256i sc16 =
            _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)sm[1], (int)sm[0])));
        const uint8_t *q = a[i].qs;
        const int8_t *y = b[i].qs;
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) { /* 64 elements: low nibbles sub-block 2c, high 2c+1 */
            const __m256i qv = _mm256_loadu_si256((const __m256i *)(q + 32 * c));
            const __m256i lo = _mm256_and_si256(qv, m4);
            const __m256i hi = _mm256_and_si256(_mm256_srli_epi16(qv, 4), m4);
            const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y + 64 * c)));
            const __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 64 * c + 32)));
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(plo, kq_bcast_scale(sc16, 2 * c)));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(phi, kq_bcast_scale(sc16, 2 * c + 1)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
    }
    return hsum_ps256(acc) - hsum_ps128(accm);
}

static float dot_q5_K(int64_t n, const void *w, const void *x) {
    const block_q5_K *a = w;
    const block_q8_K *b = x;
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m16 = _mm256_set1_epi8(0x10);
    __m256 acc = _mm256_setzero_ps();
    __m128 accm = _mm_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = b[i].d * h2f(a[i].d);
        const float dmin = b[i].d * h2f(a[i].dmin);
        uint32_t sm[4];
        cs_kq_unpack_scales(a[i].scales, sm);
        accm = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(kq_min_terms(sm[2], sm[3], b[i].bsums)), accm);

        const __m256i sc16 =
            _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_set_epi32(0, 0, (int)sm[1], (int)sm[0])));
        const uint8_t *q = a[i].qs;
        const int8_t *y = b[i].qs;
        /* bits 2c and 2c+1 of qh[l] are the 5th bits of chunk c; shifted down 2 per chunk */
        __m256i hb = _mm256_loadu_si256((const __m256i *)a[i].qh);
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        for (int c = 0; c < 4; c++) {
            const __m256i qv = _mm256_loadu_si256((const __m256i *)(q + 32 * c));
            const __m256i lo = _mm256_or_si256(_mm256_and_si256(qv, m4), _mm256_and_si256(_mm256_slli_epi16(hb, 4), m16));
            const __m256i hi = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qv, 4), m4),
                                               _mm256_and_si256(_mm256_slli_epi16(hb, 3), m16));
            hb = _mm256_srli_epi16(hb, 2);
            const __m256i plo = _mm256_maddubs_epi16(lo, _mm256_loadu_si256((const __m256i *)(y + 64 * c)));
            const __m256i phi = _mm256_maddubs_epi16(hi, _mm256_loadu_si256((const __m256i *)(y + 64 * c + 32)));
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(plo, kq_bcast_scale(sc16, 2 * c)));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(phi, kq_bcast_scale(sc16, 2 * c + 1)));
        }
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(_mm256_add_epi32(s0, s1)), acc);
    }
    return hsum_ps256(acc) - hsum_ps128(accm);
}

/* q6_K: quants are used unsigned (0..63); sum_g sc_g sum (q - 32) y =
 * sum_g sc_g (q.y)_g - 32 sum_g sc_g bsums_g. */
static float dot_q6_K(int64_t n, const void *w, const void *x) {
    const block_q6_K *a = w;
    const block_q8_K *b = x;
    const int64_t nb = n / QK_K;
    const __m256i m4 = _mm256_set1_epi8(0x0f), m3 = _mm256_set1_epi8(0x30);
    /* for the 32 quants q_k of one half (groups 2k, 2k+1 of its 8): scale 2k
     * in the low 128-bit lane, 2k+1 in the high one (i16 lanes of 8 scales) */
    __m256i pat[4];
    for (int k = 0; k < 4; k++)
        pat[k] = _mm256_set_m128i(_mm_set1_epi16((short)((4 * k + 3) << 8 | (4 * k + 2))),
                                  _mm_set1_epi16((short)((4 * k + 1) << 8 | 4 * k)));
    __m256 acc = _mm256_setzero_ps();
    for (int64_t i = 0; i < nb; i++) {
        const float d = b[i].d * h2f(a[i].d);
        const __m256i sc16 = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)a[i].scales));
        const __m256i corr = _mm256_madd_epi16(sc16, _mm256_loadu_si256((const __m256i *)b[i].bsums));
        const uint8_t *ql = a[i].ql, *qh = a[i].qh;
        const int8_t *y = b[i].qs;
        __m256i s0 = _mm256_setzero_si256(), s1 = _mm256_setzero_si256();
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, y += 128) {
            const __m256i scb = _mm256_broadcastsi128_si256(h ? _mm256_extracti128_si256(sc16, 1)
                                                               : _mm256_castsi256_si128(sc16));
            const __m256i l0 = _mm256_loadu_si256((const __m256i *)ql);
            const __m256i l1 = _mm256_loadu_si256((const __m256i *)(ql + 32));
            const __m256i hv = _mm256_loadu_si256((const __m256i *)qh);
            /* 2-bit fields of qh moved to bits 4-5 of each byte */
            const __m256i q0 = _mm256_or_si256(_mm256_and_si256(l0, m4), _mm256_and_si256(_mm256_slli_epi16(hv, 4), m3));
            const __m256i q1 = _mm256_or_si256(_mm256_and_si256(l1, m4), _mm256_and_si256(_mm256_slli_epi16(hv, 2), m3));
            const __m256i q2 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l0, 4), m4), _mm256_and_si256(hv, m3));
            const __m256i q3 = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(l1, 4), m4),
                                               _mm256_and_si256(_mm256_srli_epi16(hv, 2), m3));
            const __m256i p0 = _mm256_maddubs_epi16(q0, _mm256_loadu_si256((const __m256i *)y));
            const __m256i p1 = _mm256_maddubs_epi16(q1, _mm256_loadu_si256((const __m256i *)(y + 32)));
            const __m256i p2 = _mm256_maddubs_epi16(q2, _mm256_loadu_si256((const __m256i *)(y + 64)));
            const __m256i p3 = _mm256_maddubs_epi16(q3, _mm256_loadu_si256((const __m256i *)(y + 96)));
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p0, _mm256_shuffle_epi8(scb, pat[0])));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p1, _mm256_shuffle_epi8(scb, pat[1])));
            s0 = _mm256_add_epi32(s0, _mm256_madd_epi16(p2, _mm256_shuffle_epi8(scb, pat[2])));
            s1 = _mm256_add_epi32(s1, _mm256_madd_epi16(p3, _mm256_shuffle_epi8(scb, pat[3])));
        }
        const __m256i sumi = _mm256_sub_epi32(_mm256_add_epi32(s0, s1), _mm256_slli_epi32(corr, 5));
        acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    }
    return hsum_ps256(acc);
}

/* Q8_K quantize, byte-identical to cs_quantize_row_q8_K: same first-largest
 * magnitude element, same scalar iscale and d, and the same rounding trick
 * (add 1.5 * 2^23, take the mantissa bits) with the same clip and the same
 * truncation to int8, so even inf/NaN inputs give the reference's bytes. */
void cs_quantize_row_q8_K_avx2(const float *x, void *vy, int64_t n) {
    block_q8_K *y = vy;
    const int64_t nb = n / QK_K;
    const __m256 absmask = _mm256_castsi256_ps(_mm256_set1_epi32(0x7fffffff));
    const __m256 magic = _mm256_set1_ps(12582912.f);
    const __m256i mant = _mm256_set1_epi32(0x007fffff), half = _mm256_set1_epi32(0x00400000);
    const __m256i c127 = _mm256_set1_epi32(127), cff = _mm256_set1_epi32(0xff);
    const __m256i order = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    const __m256i ones8 = _mm256_set1_epi8(1), ones16 = _mm256_set1_epi16(1);
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        /* max_ps returns its second operand when the first is NaN: NaNs are
         * skipped, as the reference's `a > amax` skips them */
        __m256 mx = _mm256_setzero_ps();
        for (int j = 0; j < QK_K; j += 8) mx = _mm256_max_ps(_mm256_and_ps(_mm256_loadu_ps(x + j), absmask), mx);
        __m128 m4 = _mm_max_ps(_mm256_castps256_ps128(mx), _mm256_extractf128_ps(mx, 1));
        m4 = _mm_max_ps(m4, _mm_movehl_ps(m4, m4));
        m4 = _mm_max_ss(m4, _mm_movehdup_ps(m4));
        const float amax = _mm_cvtss_f32(m4);
        if (amax == 0) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        float vmax = 0;
        const __m256 vam = _mm256_set1_ps(amax);
        for (int j = 0; j < QK_K; j += 8) { /* the first element of that magnitude */
            int mask = _mm256_movemask_ps(_mm256_cmp_ps(_mm256_and_ps(_mm256_loadu_ps(x + j), absmask), vam, _CMP_EQ_OQ));
            if (mask) {
                vmax = x[j + __builtin_ctz((unsigned)mask)];
                break;
            }
        }
        const float iscale = -127.f / vmax;
        const __m256 vis = _mm256_set1_ps(iscale);
        __m256i q[8];
        for (int j = 0; j < 8; j++) {
            __m256i v[4];
            for (int k = 0; k < 4; k++) {
                __m256 v0 = _mm256_mul_ps(_mm256_loadu_ps(x + 32 * j + 8 * k), vis);
                __asm__("" : "+x"(v0)); /* keep the product rounded: no FMA, whatever -ffp-contract says */
                __m256 f = _mm256_add_ps(v0, magic);
                __m256i r = _mm256_sub_epi32(_mm256_and_si256(_mm256_castps_si256(f), mant), half);
                v[k] = _mm256_and_si256(_mm256_min_epi32(r, c127), cff); /* the low byte, as the int8_t cast */
            }
            /* packus works per 128-bit lane: the permute restores element order */
            __m256i p = _mm256_packus_epi16(_mm256_packus_epi32(v[0], v[1]), _mm256_packus_epi32(v[2], v[3]));
            q[j] = _mm256_permutevar8x32_epi32(p, order);
            _mm256_storeu_si256((__m256i *)(y[i].qs + 32 * j), q[j]);
        }
        /* bsums: sums of 4 bytes (maddubs with 1s, then madd with 1s), then two
         * hadds give groups [0 2 4 6 | 1 3 5 7] of 16, reordered by the permute */
        for (int half16 = 0; half16 < 2; half16++) {
            __m256i s4[4];
            for (int k = 0; k < 4; k++)
                s4[k] = _mm256_madd_epi16(_mm256_maddubs_epi16(ones8, q[4 * half16 + k]), ones16);
            __m256i g = _mm256_hadd_epi32(_mm256_hadd_epi32(s4[0], s4[1]), _mm256_hadd_epi32(s4[2], s4[3]));
            g = _mm256_permutevar8x32_epi32(g, order);
            __m128i g16 = _mm_packs_epi32(_mm256_castsi256_si128(g), _mm256_extracti128_si256(g, 1));
            _mm_storeu_si128((__m128i *)(y[i].bsums + 8 * half16), g16);
        }
        y[i].d = 1 / iscale;
    }
}

#pragma GCC pop_options

cs_vec_dot_fn cs_vec_dot_k_avx2(cs_type wtype) {
    switch (wtype) {
    case CS_TYPE_Q4_K: return dot_q4_K;
    case CS_TYPE_Q5_K: return dot_q5_K;
    case CS_TYPE_Q6_K: return dot_q6_K;
    default: return NULL;
    }
}

#else /* not x86-64 */

cs_vec_dot_fn cs_vec_dot_k_avx2(cs_type wtype) {
    (void)wtype;
    return NULL;
}

void cs_quantize_row_q8_K_avx2(const float *x, void *y, int64_t n) { cs_quantize_row_q8_K(x, y, n); }

#endif
