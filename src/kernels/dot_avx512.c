/* AVX-512 (F/BW/VL/DQ) dot products and the Q8_0 activation quantizer.
 *
 * The quantized dots use AVX512-VNNI `vpdpbusd` (unsigned bytes times signed
 * bytes, four products summed into each int32 lane) on two 32-element blocks
 * per zmm register; without VNNI the lookup returns NULL for them and dispatch
 * uses AVX2. The unsigned operand is the weight's quant shifted to be
 * non-negative (q4_0: 0..15, q5: 0..31, q8_0: the activation + 128), and the
 * shift is taken back out with a second vpdpbusd against the constant, so the
 * per-block integer dot is exact for every byte value. Then one FMA by the
 * block scales per pair of blocks, two accumulators, one reduction at the end.
 *
 * Float dots: four 16-lane FMA accumulators, masked loads for the tail. */
#include "simd.h"

#if defined(__x86_64__)

#include <immintrin.h>
#include <string.h>

#include "../base/base.h"

#pragma GCC push_options
/* Base level for everything here; the VNNI and BF16 functions add their
 * extension in nested target regions, so a CPU without them never runs an
 * instruction it lacks (dispatch only calls those when cs_cpu() says so). */
#pragma GCC target("avx512f,avx512bw,avx512vl,avx512dq,avx2,fma,f16c")

static inline float h2f(cs_half h) { return _cvtsh_ss(h); }

static inline __mmask16 tail_mask16(int64_t r) { return (__mmask16)((1u << r) - 1); }

/* ---- plain floats -------------------------------------------------------------- */

static float dot_f32(int64_t n, const void *w, const void *x) {
    const float *a = w, *b = x;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(_mm512_loadu_ps(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = tail_mask16(n - i);
        s1 = _mm512_fmadd_ps(_mm512_maskz_loadu_ps(m, a + i), _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

static inline __m512 load_f16x16(const uint16_t *p) { return _mm512_cvtph_ps(_mm256_loadu_si256((const __m256i *)p)); }

static float dot_f16(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(load_f16x16(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(load_f16x16(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(load_f16x16(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(load_f16x16(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(load_f16x16(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = tail_mask16(n - i);
        __m512 wa = _mm512_cvtph_ps(_mm256_maskz_loadu_epi16(m, a + i));
        s1 = _mm512_fmadd_ps(wa, _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

/* bf16 is the top half of an f32: widen to 32 bits and shift. */
static inline __m512 bf16x16_to_ps(__m256i v) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(v), 16));
}
static inline __m512 load_bf16x16(const uint16_t *p) { return bf16x16_to_ps(_mm256_loadu_si256((const __m256i *)p)); }

/* The dispatched BF16 dot: exact widening, F32 FMA (same accuracy as F16/F32). */
static float dot_bf16(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        s0 = _mm512_fmadd_ps(load_bf16x16(a + i), _mm512_loadu_ps(b + i), s0);
        s1 = _mm512_fmadd_ps(load_bf16x16(a + i + 16), _mm512_loadu_ps(b + i + 16), s1);
        s2 = _mm512_fmadd_ps(load_bf16x16(a + i + 32), _mm512_loadu_ps(b + i + 32), s2);
        s3 = _mm512_fmadd_ps(load_bf16x16(a + i + 48), _mm512_loadu_ps(b + i + 48), s3);
    }
    for (; i + 16 <= n; i += 16) s0 = _mm512_fmadd_ps(load_bf16x16(a + i), _mm512_loadu_ps(b + i), s0);
    if (i < n) {
        __mmask16 m = tail_mask16(n - i);
        __m512 wa = bf16x16_to_ps(_mm256_maskz_loadu_epi16(m, a + i));
        s1 = _mm512_fmadd_ps(wa, _mm512_maskz_loadu_ps(m, b + i), s1);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(_mm512_add_ps(s0, s1), _mm512_add_ps(s2, s3)));
}

#pragma GCC push_options
#pragma GCC target("avx512bf16")
/* vdpbf16ps: 32 weights and 32 activations (rounded to bf16, nearest even)
 * per instruction, pairs summed into 16 float lanes. */
static float dot_bf16_dp(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    __m512 s0 = _mm512_setzero_ps(), s1 = s0;
    int64_t i = 0;
    for (; i + 64 <= n; i += 64) {
        __m512bh w0 = (__m512bh)_mm512_loadu_si512(a + i), w1 = (__m512bh)_mm512_loadu_si512(a + i + 32);
        __m512bh x0 = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(b + i + 16), _mm512_loadu_ps(b + i));
        __m512bh x1 = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(b + i + 48), _mm512_loadu_ps(b + i + 32));
        s0 = _mm512_dpbf16_ps(s0, w0, x0);
        s1 = _mm512_dpbf16_ps(s1, w1, x1);
    }
    for (; i < n; i += 32) {
        int64_t r = n - i < 32 ? n - i : 32;
        __mmask32 m = r == 32 ? 0xffffffffu : (__mmask32)((1u << r) - 1);
        __mmask16 mlo = (__mmask16)m, mhi = (__mmask16)(m >> 16);
        __m512bh w0 = (__m512bh)_mm512_maskz_loadu_epi16(m, a + i);
        __m512bh x0 = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(mhi, b + i + 16), _mm512_maskz_loadu_ps(mlo, b + i));
        s0 = _mm512_dpbf16_ps(s0, w0, x0);
    }
    return _mm512_reduce_add_ps(_mm512_add_ps(s0, s1));
}
#pragma GCC pop_options

#pragma GCC push_options
#pragma GCC target("avx512vnni")

/* ---- quantized blocks against Q8_0 (VNNI) -------------------------------------- */

static inline __m512i load2_256(const void *p0, const void *p1) {
    __m256i lo = _mm256_loadu_si256((const __m256i *)p0), hi = _mm256_loadu_si256((const __m256i *)p1);
    return _mm512_inserti64x4(_mm512_castsi256_si512(lo), hi, 1);
}

/* Scales of two blocks: s0 in lanes 0-7 (block 0's int32 sums), s1 in 8-15. */
static inline __m512 scale2(float s0, float s1) {
    return _mm512_insertf32x8(_mm512_set1_ps(s0), _mm256_set1_ps(s1), 1);
}

/* sum(u * y) - c * sum(y) per 4-byte group: u unsigned, y signed, c a byte constant. */
static inline __m512i dot_u8_off(__m512i u, __m512i y, __m512i c) {
    const __m512i z = _mm512_setzero_si512();
    return _mm512_sub_epi32(_mm512_dpbusd_epi32(z, u, y), _mm512_dpbusd_epi32(z, c, y));
}

/* Two blocks of 16 nibble bytes -> 64 bytes 0..15: [a0 lo, a0 hi, a1 lo, a1 hi]. */
static inline __m512i nibbles2(const uint8_t *q0, const uint8_t *q1) {
    __m256i t0 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)q0));
    __m256i t1 = _mm256_broadcastsi128_si256(_mm_loadu_si128((const __m128i *)q1));
    __m512i v = _mm512_inserti64x4(_mm512_castsi256_si512(t0), t1, 1);
    v = _mm512_srlv_epi64(v, _mm512_setr_epi64(0, 0, 4, 4, 0, 0, 4, 4));
    return _mm512_and_si512(v, _mm512_set1_epi8(0x0f));
}

/* 5-bit quants of two blocks, 0..31: nibbles + 0x10 where bit j of the block's
 * qh is set (a 64-bit byte mask: block 0 in the low half). */
static inline __m512i q5_2(const uint8_t *qs0, const uint8_t *qh0, const uint8_t *qs1, const uint8_t *qh1) {
    uint32_t h0, h1;
    memcpy(&h0, qh0, 4);
    memcpy(&h1, qh1, 4);
    __mmask64 m = (__mmask64)h0 | (__mmask64)h1 << 32;
    __m512i q = nibbles2(qs0, qs1);
    return _mm512_mask_add_epi8(q, m, q, _mm512_set1_epi8(0x10));
}

/* The loops below do blocks i, i+1 and i+2, i+3 into two accumulators; an odd
 * last block is paired with itself with its second scale zeroed. */
#define QDOT_LOOP(PAIR)                                                   \
    __m512 acc0 = _mm512_setzero_ps(), acc1 = acc0;                       \
    int64_t i = 0;                                                        \
    for (; i + 4 <= nb; i += 4) {                                         \
        acc0 = PAIR(a + i, a + i + 1, b + i, b + i + 1, 1.0f, acc0);      \
        acc1 = PAIR(a + i + 2, a + i + 3, b + i + 2, b + i + 3, 1.0f, acc1); \
    }                                                                     \
    if (i + 2 <= nb) acc0 = PAIR(a + i, a + i + 1, b + i, b + i + 1, 1.0f, acc0), i += 2; \
    if (i < nb) acc1 = PAIR(a + i, a + i, b + i, b + i, 0.0f, acc1);      \
    return _mm512_reduce_add_ps(_mm512_add_ps(acc0, acc1))

/* q8_0: (y + 128) as unsigned times w, minus 128 sum(w). */
static inline __m512 pair_q8_0(const block_q8_0 *a0, const block_q8_0 *a1, const block_q8_0 *b0,
                               const block_q8_0 *b1, float k1, __m512 acc) {
    const __m512i c = _mm512_set1_epi8((char)0x80), z = _mm512_setzero_si512();
    __m512i w = load2_256(a0->qs, a1->qs), y = load2_256(b0->qs, b1->qs);
    __m512i s = _mm512_sub_epi32(_mm512_dpbusd_epi32(z, _mm512_xor_si512(y, c), w), _mm512_dpbusd_epi32(z, c, w));
    __m512 sc = scale2(h2f(a0->d) * h2f(b0->d), k1 * (h2f(a1->d) * h2f(b1->d)));
    return _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(s), acc);
}

static float dot_q8_0(int64_t n, const void *w, const void *x) {
    const block_q8_0 *a = w, *b = x;
    const int64_t nb = n / QK8_0;
    QDOT_LOOP(pair_q8_0);
}

static inline __m512 pair_q4_0(const block_q4_0 *a0, const block_q4_0 *a1, const block_q8_0 *b0,
                               const block_q8_0 *b1, float k1, __m512 acc) {
    __m512i s = dot_u8_off(nibbles2(a0->qs, a1->qs), load2_256(b0->qs, b1->qs), _mm512_set1_epi8(8));
    __m512 sc = scale2(h2f(a0->d) * h2f(b0->d), k1 * (h2f(a1->d) * h2f(b1->d)));
    return _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(s), acc);
}

static float dot_q4_0(int64_t n, const void *w, const void *x) {
    const block_q4_0 *a = w;
    const block_q8_0 *b = x;
    const int64_t nb = n / QK4_0;
    QDOT_LOOP(pair_q4_0);
}

static inline __m512 pair_q5_0(const block_q5_0 *a0, const block_q5_0 *a1, const block_q8_0 *b0,
                               const block_q8_0 *b1, float k1, __m512 acc) {
    __m512i q = q5_2(a0->qs, a0->qh, a1->qs, a1->qh);
    __m512i s = dot_u8_off(q, load2_256(b0->qs, b1->qs), _mm512_set1_epi8(16));
    __m512 sc = scale2(h2f(a0->d) * h2f(b0->d), k1 * (h2f(a1->d) * h2f(b1->d)));
    return _mm512_fmadd_ps(sc, _mm512_cvtepi32_ps(s), acc);
}

static float dot_q5_0(int64_t n, const void *w, const void *x) {
    const block_q5_0 *a = w;
    const block_q8_0 *b = x;
    const int64_t nb = n / QK5_0;
    QDOT_LOOP(pair_q5_0);
}

/* (d q + m) . (dy y) = d dy sum(q y) + m dy sum(y); sum(y) by vpdpbusd with ones. */
static inline __m512 pair_q5_1(const block_q5_1 *a0, const block_q5_1 *a1, const block_q8_0 *b0,
                               const block_q8_0 *b1, float k1, __m512 acc) {
    const __m512i z = _mm512_setzero_si512();
    __m512i q = q5_2(a0->qs, a0->qh, a1->qs, a1->qh), y = load2_256(b0->qs, b1->qs);
    __m512i sq = _mm512_dpbusd_epi32(z, q, y), sy = _mm512_dpbusd_epi32(z, _mm512_set1_epi8(1), y);
    float dy0 = h2f(b0->d), dy1 = k1 * h2f(b1->d);
    acc = _mm512_fmadd_ps(scale2(h2f(a0->d) * dy0, h2f(a1->d) * dy1), _mm512_cvtepi32_ps(sq), acc);
    return _mm512_fmadd_ps(scale2(h2f(a0->m) * dy0, h2f(a1->m) * dy1), _mm512_cvtepi32_ps(sy), acc);
}

static float dot_q5_1(int64_t n, const void *w, const void *x) {
    const block_q5_1 *a = w;
    const block_q8_0 *b = x;
    const int64_t nb = n / QK5_1;
    QDOT_LOOP(pair_q5_1);
}

#pragma GCC pop_options

/* ---- activation quantizer -------------------------------------------------------- */

/* roundf (half away from zero) exactly: truncate, then step away from zero
 * where the dropped fraction (exact: v - trunc(v)) is at least one half. */
static inline __m512 round_away(__m512 v) {
    __m512 t = _mm512_roundscale_ps(v, _MM_FROUND_TO_ZERO | _MM_FROUND_NO_EXC);
    __mmask16 big = _mm512_cmp_ps_mask(_mm512_abs_ps(_mm512_sub_ps(v, t)), _mm512_set1_ps(0.5f), _CMP_GE_OQ);
    __m512 step = _mm512_or_ps(_mm512_and_ps(v, _mm512_set1_ps(-0.0f)), _mm512_set1_ps(1.0f));
    return _mm512_mask_add_ps(t, big, t, step);
}

/* As cs_quantize_row_q8_0, byte for byte (see dot_avx2.c's quantize_q8_0). */
static void quantize_q8_0(const float *x, void *dst, int64_t n) {
    block_q8_0 *y = dst;
    for (int64_t i = 0; i < n / QK8_0; i++, x += QK8_0) {
        __m512 v0 = _mm512_loadu_ps(x), v1 = _mm512_loadu_ps(x + 16);
        /* maxps returns its second operand if either is NaN: NaNs are skipped, as in the reference */
        __m512 m = _mm512_max_ps(_mm512_abs_ps(v0), _mm512_setzero_ps());
        m = _mm512_max_ps(_mm512_abs_ps(v1), m);
        float amax = _mm512_reduce_max_ps(m);
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = _cvtss_sh(d, _MM_FROUND_TO_NEAREST_INT);
        __m512 vid = _mm512_set1_ps(id);
        __m512i i0 = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(v0, vid)));
        __m512i i1 = _mm512_cvtps_epi32(round_away(_mm512_mul_ps(v1, vid)));
        /* vpmovdb keeps the low byte, as the reference's (int8_t) cast does on x86
         * (see dot_avx2.c) */
        _mm_storeu_si128((__m128i *)y[i].qs, _mm512_cvtepi32_epi8(i0));
        _mm_storeu_si128((__m128i *)(y[i].qs + 16), _mm512_cvtepi32_epi8(i1));
    }
}

#pragma GCC pop_options

cs_vec_dot_fn cs_vec_dot_avx512(cs_type wtype) {
    bool vnni = cs_cpu()->vnni;
    switch (wtype) {
    case CS_TYPE_F32: return dot_f32;
    case CS_TYPE_F16: return dot_f16;
    case CS_TYPE_BF16: return dot_bf16;
    case CS_TYPE_Q4_0: return vnni ? dot_q4_0 : NULL;
    case CS_TYPE_Q5_0: return vnni ? dot_q5_0 : NULL;
    case CS_TYPE_Q5_1: return vnni ? dot_q5_1 : NULL;
    /* The AVX2 q8_0 dot measured ~12% faster in cache on Zen 4 (and never slower
     * from memory): it stays the choice; this one is cs_vec_dot_q8_0_avx512vnni. */
    case CS_TYPE_Q8_0: return NULL;
    default: return NULL;
    }
}

cs_quantize_fn cs_quantize_avx512(cs_type vt) { return vt == CS_TYPE_Q8_0 ? quantize_q8_0 : NULL; }

cs_vec_dot_fn cs_vec_dot_bf16_avx512bf16(void) { return cs_cpu()->bf16 ? dot_bf16_dp : NULL; }

cs_vec_dot_fn cs_vec_dot_q8_0_avx512vnni(void) { return cs_cpu()->vnni ? dot_q8_0 : NULL; }

#else /* not x86-64 */

cs_vec_dot_fn cs_vec_dot_avx512(cs_type wtype) {
    (void)wtype;
    return NULL;
}
cs_quantize_fn cs_quantize_avx512(cs_type vt) {
    (void)vt;
    return NULL;
}
cs_vec_dot_fn cs_vec_dot_bf16_avx512bf16(void) { return NULL; }
cs_vec_dot_fn cs_vec_dot_q8_0_avx512vnni(void) { return NULL; }

#endif
