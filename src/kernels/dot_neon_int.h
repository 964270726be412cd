/* The integer-dot NEON kernels, written once and compiled twice by dot_neon.c
 * (never included anywhere else): once with NEON_DOT = SDOT inside functions
 * that carry a dotprod target, once with NEON_DOT = widening multiplies for
 * plain ARMv8. The includer defines:
 *   NEON_FN(name)       the variant's function name
 *   NEON_DOT(acc, a, b) acc (int32x4) += the 16 products a[k]*b[k] (int8x16),
 *                       grouped into lanes in some way: only lane totals are used
 *   NEON_ATTR           the variant's function attributes
 * Integer sums are exact in both variants. The k-quants fold them to one int
 * per super-block before any float, so both variants give the same bits; q8_0
 * and q4_0 scale the 4 lanes in float (no horizontal add per 32 elements), and
 * the lanes hold different partial sums in the two, so they differ in rounding. */

/* the 32-element dot of one block half pair: a0.b0 + a1.b1, as 4 partial lanes */
NEON_ATTR static inline int32x4_t NEON_FN(dot32)(int8x16_t a0, int8x16_t a1, int8x16_t b0, int8x16_t b1) {
    return NEON_DOT(NEON_DOT(vdupq_n_s32(0), a0, b0), a1, b1);
}

NEON_ATTR static inline int32x4_t NEON_FN(q8_0_block)(const block_q8_0 *a, const block_q8_0 *b) {
    return NEON_FN(dot32)(vld1q_s8(a->qs), vld1q_s8(a->qs + 16), vld1q_s8(b->qs), vld1q_s8(b->qs + 16));
}

NEON_ATTR static float NEON_FN(q8_0)(int64_t n, const void *w, const void *x) {
    const block_q8_0 *a = w;
    const block_q8_0 *b = x;
    int64_t nb = n / QK8_0, i = 0;
    /* two accumulators: consecutive FMAs into one register would wait on each other */
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    for (; i + 2 <= nb; i += 2) {
        int32x4_t p0 = NEON_FN(q8_0_block)(&a[i], &b[i]);
        int32x4_t p1 = NEON_FN(q8_0_block)(&a[i + 1], &b[i + 1]);
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p0), h2f(a[i].d) * h2f(b[i].d));
        acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(p1), h2f(a[i + 1].d) * h2f(b[i + 1].d));
    }
    for (; i < nb; i++)
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(NEON_FN(q8_0_block)(&a[i], &b[i])), h2f(a[i].d) * h2f(b[i].d));
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

/* q4_0: element j in the low nibble of qs[j], j + 16 in the high one; level - 8 */
NEON_ATTR static inline int32x4_t NEON_FN(q4_0_block)(const block_q4_0 *a, const block_q8_0 *b) {
    uint8x16_t q = vld1q_u8(a->qs);
    int8x16_t lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(q, vdupq_n_u8(0x0f))), vdupq_n_s8(8));
    int8x16_t hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(q, 4)), vdupq_n_s8(8));
    return NEON_FN(dot32)(lo, hi, vld1q_s8(b->qs), vld1q_s8(b->qs + 16));
}

NEON_ATTR static float NEON_FN(q4_0)(int64_t n, const void *w, const void *x) {
    const block_q4_0 *a = w;
    const block_q8_0 *b = x;
    int64_t nb = n / QK4_0, i = 0;
    float32x4_t acc0 = vdupq_n_f32(0), acc1 = vdupq_n_f32(0);
    for (; i + 2 <= nb; i += 2) {
        int32x4_t p0 = NEON_FN(q4_0_block)(&a[i], &b[i]);
        int32x4_t p1 = NEON_FN(q4_0_block)(&a[i + 1], &b[i + 1]);
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(p0), h2f(a[i].d) * h2f(b[i].d));
        acc1 = vfmaq_n_f32(acc1, vcvtq_f32_s32(p1), h2f(a[i + 1].d) * h2f(b[i + 1].d));
    }
    for (; i < nb; i++)
        acc0 = vfmaq_n_f32(acc0, vcvtq_f32_s32(NEON_FN(q4_0_block)(&a[i], &b[i])), h2f(a[i].d) * h2f(b[i].d));
    return vaddvq_f32(vaddq_f32(acc0, acc1));
}

/* q4_K / q5_K: chunk c of 64 elements is sub-blocks 2c (low nibbles of 32
 * bytes) and 2c+1 (high nibbles); q5_K adds bit 2c / 2c+1 of qh[l] as bit 4.
 * The mins term needs only the activation's bsums (see dot_ref.c). */
NEON_ATTR static float NEON_FN(q4_K)(int64_t n, const void *w, const void *x) {
    const block_q4_K *a = w;
    const block_q8_K *b = x;
    int64_t nb = n / QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0x0f);
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        kq_unpack(a[i].scales, sc, mn);
        int32_t sm = kq_mins_dot(b[i].bsums, mn);
        const uint8_t *q = a[i].qs;
        const int8_t *y = b[i].qs;
        int32x4_t acc = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++, q += 32, y += 64) {
            uint8x16_t q0 = vld1q_u8(q), q1 = vld1q_u8(q + 16);
            int8x16_t l0 = vreinterpretq_s8_u8(vandq_u8(q0, m4)), l1 = vreinterpretq_s8_u8(vandq_u8(q1, m4));
            int8x16_t h0 = vreinterpretq_s8_u8(vshrq_n_u8(q0, 4)), h1 = vreinterpretq_s8_u8(vshrq_n_u8(q1, 4));
            int32x4_t p1 = NEON_FN(dot32)(l0, l1, vld1q_s8(y), vld1q_s8(y + 16));
            int32x4_t p2 = NEON_FN(dot32)(h0, h1, vld1q_s8(y + 32), vld1q_s8(y + 48));
            acc = vmlaq_n_s32(acc, p1, sc[2 * c]);
            acc = vmlaq_n_s32(acc, p2, sc[2 * c + 1]);
        }
        int32_t sq = vaddvq_s32(acc);
        float d = b[i].d * h2f(a[i].d), dmin = b[i].d * h2f(a[i].dmin);
        sum += d * sq - dmin * sm;
    }
    return sum;
}

NEON_ATTR static float NEON_FN(q5_K)(int64_t n, const void *w, const void *x) {
    const block_q5_K *a = w;
    const block_q8_K *b = x;
    int64_t nb = n / QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), b1 = vdupq_n_u8(1), b2 = vdupq_n_u8(2);
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        uint8_t sc[8], mn[8];
        kq_unpack(a[i].scales, sc, mn);
        int32_t sm = kq_mins_dot(b[i].bsums, mn);
        const uint8_t *q = a[i].qs;
        const int8_t *y = b[i].qs;
        /* the chunk's two high bits sit at bits 0 and 1 after shifting by 2c */
        uint8x16_t qh0 = vld1q_u8(a[i].qh), qh1 = vld1q_u8(a[i].qh + 16);
        int32x4_t acc = vdupq_n_s32(0);
        for (int c = 0; c < 4; c++, q += 32, y += 64) {
            uint8x16_t q0 = vld1q_u8(q), q1 = vld1q_u8(q + 16);
            int8x16_t l0 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q0, m4), vshlq_n_u8(vandq_u8(qh0, b1), 4)));
            int8x16_t l1 = vreinterpretq_s8_u8(vorrq_u8(vandq_u8(q1, m4), vshlq_n_u8(vandq_u8(qh1, b1), 4)));
            int8x16_t h0 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q0, 4), vshlq_n_u8(vandq_u8(qh0, b2), 3)));
            int8x16_t h1 = vreinterpretq_s8_u8(vorrq_u8(vshrq_n_u8(q1, 4), vshlq_n_u8(vandq_u8(qh1, b2), 3)));
            qh0 = vshrq_n_u8(qh0, 2);
            qh1 = vshrq_n_u8(qh1, 2);
            int32x4_t p1 = NEON_FN(dot32)(l0, l1, vld1q_s8(y), vld1q_s8(y + 16));
            int32x4_t p2 = NEON_FN(dot32)(h0, h1, vld1q_s8(y + 32), vld1q_s8(y + 48));
            acc = vmlaq_n_s32(acc, p1, sc[2 * c]);
            acc = vmlaq_n_s32(acc, p2, sc[2 * c + 1]);
        }
        int32_t sq = vaddvq_s32(acc);
        float d = b[i].d * h2f(a[i].d), dmin = b[i].d * h2f(a[i].dmin);
        sum += d * sq - dmin * sm;
    }
    return sum;
}

/* q6_K, one half of 128 elements: the 8 groups of 16 (one scale each) are
 *   g0,g1: ql[0..31]  low nibble | qh bits 0-1     g4,g5: ql[0..31]  high | qh bits 4-5
 *   g2,g3: ql[32..63] low nibble | qh bits 2-3     g6,g7: ql[32..63] high | qh bits 6-7
 * with g even taking bytes 0..15 of its range and g odd bytes 16..31; level - 32. */
NEON_ATTR static float NEON_FN(q6_K)(int64_t n, const void *w, const void *x) {
    const block_q6_K *a = w;
    const block_q8_K *b = x;
    int64_t nb = n / QK_K;
    const uint8x16_t m4 = vdupq_n_u8(0x0f), m30 = vdupq_n_u8(0x30);
    const int8x16_t bias = vdupq_n_s8(32);
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *ql = a[i].ql, *qh = a[i].qh;
        const int8_t *y = b[i].qs, *scp = a[i].scales;
        int32x4_t acc = vdupq_n_s32(0);
        for (int h = 0; h < 2; h++, ql += 64, qh += 32, y += 128, scp += 8) {
            uint8x16_t la = vld1q_u8(ql), lb = vld1q_u8(ql + 16), lc = vld1q_u8(ql + 32), ld = vld1q_u8(ql + 48);
            uint8x16_t ha = vld1q_u8(qh), hb = vld1q_u8(qh + 16);
#define Q6(lo, hi) vsubq_s8(vreinterpretq_s8_u8(vorrq_u8((lo), vandq_u8((hi), m30))), bias)
            int8x16_t v0 = Q6(vandq_u8(la, m4), vshlq_n_u8(ha, 4));
            int8x16_t v1 = Q6(vandq_u8(lb, m4), vshlq_n_u8(hb, 4));
            int8x16_t v2 = Q6(vandq_u8(lc, m4), vshlq_n_u8(ha, 2));
            int8x16_t v3 = Q6(vandq_u8(ld, m4), vshlq_n_u8(hb, 2));
            int8x16_t v4 = Q6(vshrq_n_u8(la, 4), ha);
            int8x16_t v5 = Q6(vshrq_n_u8(lb, 4), hb);
            int8x16_t v6 = Q6(vshrq_n_u8(lc, 4), vshrq_n_u8(ha, 2));
            int8x16_t v7 = Q6(vshrq_n_u8(ld, 4), vshrq_n_u8(hb, 2));
#undef Q6
            const int32x4_t z = vdupq_n_s32(0);
            int32x4_t p0 = NEON_DOT(z, v0, vld1q_s8(y)), p1 = NEON_DOT(z, v1, vld1q_s8(y + 16));
            int32x4_t p2 = NEON_DOT(z, v2, vld1q_s8(y + 32)), p3 = NEON_DOT(z, v3, vld1q_s8(y + 48));
            int32x4_t p4 = NEON_DOT(z, v4, vld1q_s8(y + 64)), p5 = NEON_DOT(z, v5, vld1q_s8(y + 80));
            int32x4_t p6 = NEON_DOT(z, v6, vld1q_s8(y + 96)), p7 = NEON_DOT(z, v7, vld1q_s8(y + 112));
            /* pairwise adds fold each group's 4 lanes: (g0, g1, g2, g3) and (g4, .., g7) */
            int32x4_t s03 = vpaddq_s32(vpaddq_s32(p0, p1), vpaddq_s32(p2, p3));
            int32x4_t s47 = vpaddq_s32(vpaddq_s32(p4, p5), vpaddq_s32(p6, p7));
            int16x8_t sc = vmovl_s8(vld1_s8(scp));
            acc = vmlaq_s32(acc, s03, vmovl_s16(vget_low_s16(sc)));
            acc = vmlaq_s32(acc, s47, vmovl_high_s16(sc));
        }
        sum += (b[i].d * h2f(a[i].d)) * vaddvq_s32(acc);
    }
    return sum;
}
