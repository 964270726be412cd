/* AVX2 + FMA + F16C dot products and the Q8_0 activation quantizer.
 *
 * Compiled for that ISA with a target pragma so one binary runs everywhere;
 * dispatch.c calls these only when cs_cpu() has AVX2. Decode is bound by the
 * bandwidth of reading the weights, so the loops do two blocks per iteration
 * into two accumulators, an exact integer dot per block, one FMA by the
 * block's scale, and a single horizontal sum at the end.
 *
 * Integer dots use the maddubs sign trick (|w| as unsigned times y with w's
 * sign): exact as long as the activation quants lie in [-127, 127], which is
 * what cs_quantize_row_q8_0 produces. */
#include "simd.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "../base/base.h"

#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c")

static inline float hsum8(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
}

static inline float h2f(cs_half h) { return _cvtsh_ss(h); }

/* ---- plain floats -------------------------------------------------------------- */

/* Four accumulators of 8 hide the FMA latency; the tail is scalar. */
static float dot_f32(int64_t n, const void *w, const void *x) {
    const float *a = w, *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(_mm256_loadu_ps(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

static inline __m256 load_f16x8(const uint16_t *p) { return _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)p)); }

static float dot_f16(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(load_f16x8(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(load_f16x8(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(load_f16x8(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(load_f16x8(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load_f16x8(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += h2f(a[i]) * b[i];
    return s;
}

/* bf16 is the top half of an f32: widen to 32 bits and shift. */
static inline __m256 load_bf16x8(const uint16_t *p) {
    __m256i v = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
    return _mm256_castsi256_ps(_mm256_slli_epi32(v, 16));
}

static float dot_bf16(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    __m256 s0 = _mm256_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        s0 = _mm256_fmadd_ps(load_bf16x8(a + i), _mm256_loadu_ps(b + i), s0);
        s1 = _mm256_fmadd_ps(load_bf16x8(a + i + 8), _mm256_loadu_ps(b + i + 8), s1);
        s2 = _mm256_fmadd_ps(load_bf16x8(a + i + 16), _mm256_loadu_ps(b + i + 16), s2);
        s3 = _mm256_fmadd_ps(load_bf16x8(a + i + 24), _mm256_loadu_ps(b + i + 24), s3);
    }
    for (; i + 8 <= n; i += 8) s0 = _mm256_fmadd_ps(load_bf16x8(a + i), _mm256_loadu_ps(b + i), s0);
    float s = hsum8(_mm256_add_ps(_mm256_add_ps(s0, s1), _mm256_add_ps(s2, s3)));
    for (; i < n; i++) s += cs_bf16_to_fp32(a[i]) * b[i];
    return s;
}

/* ---- quantized blocks against Q8_0 ----------------------------------------------- */

/* sum over 32 bytes of w * y (w signed, y signed in [-127, 127]) as 8 int32 lanes. */
static inline __m256i dot_i8(__m256i w, __m256i y) {
    __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(w, w), _mm256_sign_epi8(y, w));
    return _mm256_madd_epi16(p, _mm256_set1_epi16(1));
}

/* 16 bytes of nibbles -> 32 bytes 0..15 in element order (low nibbles first). */
static inline __m256i unpack_nibbles(const uint8_t *qs) {
    __m128i t = _mm_loadu_si128((const __m128i *)qs);
    __m256i v = _mm256_set_m128i(_mm_srli_epi16(t, 4), t);
    return _mm256_and_si256(v, _mm256_set1_epi8(0x0f));
}

/* 32 bits -> 32 bytes, 0xff where the bit is set: byte j takes bit j. */
static inline __m256i bits_to_bytes(const uint8_t *p) {
    uint32_t b;
    memcpy(&b, p, 4);
    __m256i v = _mm256_shuffle_epi8(_mm256_set1_epi32((int)b),
                                    _mm256_setr_epi64x(0, 0x0101010101010101, 0x0202020202020202, 0x0303030303030303));
    v = _mm256_or_si256(v, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe)); /* all but bit j of byte j */
    return _mm256_cmpeq_epi8(v, _mm256_set1_epi8(-1));
}

static inline __m256i load_i8x32(const int8_t *p) { return _mm256_loadu_si256((const __m256i *)p); }

static float dot_q8_0(int64_t n, const void *w, const void *x) {
    const block_q8_0 *a = w, *b = x;
    const int64_t nb = n / QK8_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i p0 = dot_i8(load_i8x32(a[i].qs), load_i8x32(b[i].qs));
        __m256i p1 = dot_i8(load_i8x32(a[i + 1].qs), load_i8x32(b[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i + 1].d) * h2f(b[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    if (i < nb) {
        __m256i p0 = dot_i8(load_i8x32(a[i].qs), load_i8x32(b[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

static inline __m256i q4_0_signed(const block_q4_0 *a) {
    return _mm256_sub_epi8(unpack_nibbles(a->qs), _mm256_set1_epi8(8));
}

static float dot_q4_0(int64_t n, const void *w, const void *x) {
    const block_q4_0 *a = w;
    const block_q8_0 *b = x;
    const int64_t nb = n / QK4_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i p0 = dot_i8(q4_0_signed(a + i), load_i8x32(b[i].qs));
        __m256i p1 = dot_i8(q4_0_signed(a + i + 1), load_i8x32(b[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i + 1].d) * h2f(b[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    if (i < nb) {
        __m256i p0 = dot_i8(q4_0_signed(a + i), load_i8x32(b[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

/* 5-bit quants 0..31: low nibble | 5th bit << 4. */
static inline __m256i q5_unsigned(const uint8_t *qs, const uint8_t *qh) {
    return _mm256_or_si256(unpack_nibbles(qs), _mm256_and_si256(bits_to_bytes(qh), _mm256_set1_epi8(0x10)));
}

static inline __m256i q5_0_signed(const block_q5_0 *a) {
    return _mm256_sub_epi8(q5_unsigned(a->qs, a->qh), _mm256_set1_epi8(16));
}

static float dot_q5_0(int64_t n, const void *w, const void *x) {
    const block_q5_0 *a = w;
    const block_q8_0 *b = x;
    const int64_t nb = n / QK5_0;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        __m256i p0 = dot_i8(q5_0_signed(a + i), load_i8x32(b[i].qs));
        __m256i p1 = dot_i8(q5_0_signed(a + i + 1), load_i8x32(b[i + 1].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
        acc1 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i + 1].d) * h2f(b[i + 1].d)), _mm256_cvtepi32_ps(p1), acc1);
    }
    if (i < nb) {
        __m256i p0 = dot_i8(q5_0_signed(a + i), load_i8x32(b[i].qs));
        acc0 = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a[i].d) * h2f(b[i].d)), _mm256_cvtepi32_ps(p0), acc0);
    }
    return hsum8(_mm256_add_ps(acc0, acc1));
}

/* (d q + m) . (dy y) = d dy sum(q y) + m dy sum(y). q is unsigned, so maddubs
 * takes it directly; sum(y) comes from maddubs with ones. */
static inline __m256 q5_1_block(const block_q5_1 *a, const block_q8_0 *b, __m256 acc) {
    const __m256i ones16 = _mm256_set1_epi16(1);
    __m256i y = load_i8x32(b->qs);
    __m256i q = q5_unsigned(a->qs, a->qh);
    __m256i sq = _mm256_madd_epi16(_mm256_maddubs_epi16(q, y), ones16);
    __m256i sy = _mm256_madd_epi16(_mm256_maddubs_epi16(_mm256_set1_epi8(1), y), ones16);
    float dy = h2f(b->d);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(h2f(a->d) * dy), _mm256_cvtepi32_ps(sq), acc);
    return _mm256_fmadd_ps(_mm256_set1_ps(h2f(a->m) * dy), _mm256_cvtepi32_ps(sy), acc);
}

static float dot_q5_1(int64_t n, const void *w, const void *x) {
    const block_q5_1 *a = w;
    const block_q8_0 *b = x;
    const int64_t nb = n / QK5_1;
    __m256 acc0 = _mm256_setzero_ps(), acc1 = acc0;
    int64_t i = 0;
    for (; i + 2 <= nb; i += 2) {
        acc0 = q5_1_block(a + i, b + i, acc0);
        acc1 = q5_1_block(a + i + 1, b + i + 1, acc1);
    }
    if (i < nb) acc0 = q5_1_block(a + i, b + i, acc0);
    return hsum8(_mm256_add_ps(acc0, acc1));
}

/* ---- activation quantizer -------------------------------------------------------- */

/* roundf (half away from zero) exactly: truncate, then step away from zero
 * when the dropped fraction (exact: v - trunc(v)) is at least one half. The
 * hardware's nearest mode rounds ties to even, which would differ. */
static inline __m256 round_away(__m256 v) {
    const __m256 sign = _mm256_set1_ps(-0.0f);
    __m256 t = _mm256_round_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __m256 frac = _mm256_andnot_ps(sign, _mm256_sub_ps(v, t));
    __m256 step = _mm256_or_ps(_mm256_and_ps(v, sign), _mm256_set1_ps(1.0f)); /* copysign(1, v) */
    __m256 big = _mm256_cmp_ps(frac, _mm256_set1_ps(0.5f), _CMP_GE_OQ);
    return _mm256_add_ps(t, _mm256_and_ps(big, step));
}

/* As cs_quantize_row_q8_0, byte for byte: the same absmax (NaNs skipped: maxps
 * returns its second operand when either is NaN), d = amax / 127, id = 1 / d,
 * q = roundf(x * id); F16C converts d with round-to-nearest-even, as
 * cs_fp32_to_fp16 does. */
static void quantize_q8_0(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = dst;
    const __m256 sign = _mm256_set1_ps(-0.0f);
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        __m256 v0 = _mm256_loadu_ps(x), v1 = _mm256_loadu_ps(x + 8);
        __m256 v2 = _mm256_loadu_ps(x + 16), v3 = _mm256_loadu_ps(x + 24);
        __m256 m = _mm256_setzero_ps();
        m = _mm256_max_ps(_mm256_andnot_ps(sign, v0), m);
        m = _mm256_max_ps(_mm256_andnot_ps(sign, v1), m);
        m = _mm256_max_ps(_mm256_andnot_ps(sign, v2), m);
        m = _mm256_max_ps(_mm256_andnot_ps(sign, v3), m);
        __m128 h = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
        h = _mm_max_ps(h, _mm_movehl_ps(h, h));
        h = _mm_max_ss(h, _mm_movehdup_ps(h));
        float amax = _mm_cvtss_f32(h);
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        __m256 vid = _mm256_set1_ps(id);
        __m256i i0 = _mm256_cvtps_epi32(round_away(_mm256_mul_ps(v0, vid)));
        __m256i i1 = _mm256_cvtps_epi32(round_away(_mm256_mul_ps(v1, vid)));
        __m256i i2 = _mm256_cvtps_epi32(round_away(_mm256_mul_ps(v2, vid)));
        __m256i i3 = _mm256_cvtps_epi32(round_away(_mm256_mul_ps(v3, vid)));
        /* Keep the low byte of each int32, as the reference's (int8_t) cast does on
         * x86 even when x * id overflows (inf id for a subnormal d): cvtps gives
         * 0x80000000 there, byte 0. Masked to 0..255, the unsigned packs are exact.
         * They work per 128-bit lane; the permute puts the dwords back in order. */
        const __m256i lo = _mm256_set1_epi32(0xff);
        i0 = _mm256_and_si256(i0, lo), i1 = _mm256_and_si256(i1, lo);
        i2 = _mm256_and_si256(i2, lo), i3 = _mm256_and_si256(i3, lo);
        __m256i p = _mm256_packus_epi16(_mm256_packus_epi32(i0, i1), _mm256_packus_epi32(i2, i3));
        p = _mm256_permutevar8x32_epi32(p, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
        _mm256_storeu_si256((__m256i *)y[i].qs, p);
    }
}

#pragma GCC pop_options

cs_vec_dot_fn cs_vec_dot_avx2(cs_type wtype) {
    switch (wtype) {
    case CS_TYPE_F32: return dot_f32;
    case CS_TYPE_F16: return dot_f16;
    case CS_TYPE_BF16: return dot_bf16;
    case CS_TYPE_Q4_0: return dot_q4_0;
    case CS_TYPE_Q5_0: return dot_q5_0;
    case CS_TYPE_Q5_1: return dot_q5_1;
    case CS_TYPE_Q8_0: return dot_q8_0;
    default: return NULL;
    }
}

cs_quantize_fn cs_quantize_avx2(cs_type vt) { return vt == CS_TYPE_Q8_0 ? quantize_q8_0 : NULL; }

#else /* not x86-64 */

cs_vec_dot_fn cs_vec_dot_avx2(cs_type wtype) {
    (void)wtype;
    return NULL;
}
cs_quantize_fn cs_quantize_avx2(cs_type vt) {
    (void)vt;
    return NULL;
}

#endif
