/* ARM NEON dot products and the Q8_0 activation quantizer (simd_neon.h),
 * checked against the scalar references by tests/kernels/test_dot_neon.c
 * (`make test-neon` runs it under qemu from an x86 machine).
 *
 * SDOT (vdotq_s32: 16 int8 products summed into 4 int32 lanes in one
 * instruction) roughly halves the integer work, but it is optional before
 * ARMv8.4, and the normal build passes no -march, so __ARM_FEATURE_DOTPROD
 * is usually not defined. The integer kernels are therefore compiled twice
 * (dot_neon_int.h): once with a function-level dotprod target, picked at run
 * time only where cs_cpu() saw HWCAP_ASIMDDP, and once for plain ARMv8 with
 * widening multiplies (vmull_s8 + vpadalq_s16). One binary then uses SDOT
 * where the CPU has it and still runs on a Cortex-A53/A72. Built with
 * -march=...+dotprod, the first needs no attribute at all. */
#include "simd_neon.h"

#if defined(__aarch64__) && defined(__ARM_NEON) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__

#include <arm_neon.h>
#include <string.h>

#include "../base/base.h"

/* Whether (and how) this compiler can build the SDOT variant without
 * -march=...+dotprod. GCC's arm_neon.h declares vdotq_s32 under
 * "arch=armv8.2-a+dotprod", and an intrinsic only inlines into a function
 * whose target includes its own, hence that exact string; clang 16 on
 * guards its intrinsics by target attribute instead of by macro. */
#if defined(__ARM_FEATURE_DOTPROD)
#define CS_NEON_SDOT 1
#define CS_SDOT_ATTR
#elif defined(__clang__) && __clang_major__ >= 16
#define CS_NEON_SDOT 1
#define CS_SDOT_ATTR __attribute__((target("dotprod")))
#elif !defined(__clang__) && defined(__GNUC__) && __GNUC__ >= 10
#define CS_NEON_SDOT 1
#define CS_SDOT_ATTR __attribute__((target("arch=armv8.2-a+dotprod")))
#else
#define CS_NEON_SDOT 0
#endif

/* ---- helpers shared by both variants -------------------------------------- */

/* half -> float in hardware: exact, so equal to cs_fp16_to_fp32 */
static inline float h2f(cs_half h) {
    __fp16 f;
    memcpy(&f, &h, sizeof f);
    return (float)f;
}

/* The 8 six-bit scales and mins of a q4_K/q5_K block (layout in types.c),
 * four bytes at a time: bytes 0-3 scales 0-3, bytes 4-7 mins 0-3, bytes 8-11
 * the low nibbles of scale/min 4-7 whose top bits are bits 6-7 of bytes 0-7. */
static inline void kq_unpack(const uint8_t *s, uint8_t *sc, uint8_t *mn) {
    uint32_t u0, u1, u2;
    memcpy(&u0, s, 4);
    memcpy(&u1, s + 4, 4);
    memcpy(&u2, s + 8, 4);
    uint32_t sc_lo = u0 & 0x3f3f3f3f, mn_lo = u1 & 0x3f3f3f3f;
    uint32_t sc_hi = (u2 & 0x0f0f0f0f) | ((u0 >> 6) & 0x03030303) << 4;
    uint32_t mn_hi = ((u2 >> 4) & 0x0f0f0f0f) | ((u1 >> 6) & 0x03030303) << 4;
    memcpy(sc, &sc_lo, 4);
    memcpy(sc + 4, &sc_hi, 4);
    memcpy(mn, &mn_lo, 4);
    memcpy(mn + 4, &mn_hi, 4);
}

/* sum_j mins[j] * (sum of sub-block j of the activation), from its 16 bsums
 * (pairwise adds turn groups of 16 into sub-blocks of 32; at most 2 * 16 * 127). */
static inline int32_t kq_mins_dot(const int16_t *bsums, const uint8_t *mins) {
    int16x8_t s = vpaddq_s16(vld1q_s16(bsums), vld1q_s16(bsums + 8));
    int16x8_t m = vreinterpretq_s16_u16(vmovl_u8(vld1_u8(mins)));
    int32x4_t p = vmull_s16(vget_low_s16(s), vget_low_s16(m));
    p = vmlal_high_s16(p, s, m);
    return vaddvq_s32(p);
}

/* SDOT's sum without it: products fit int16 (|-128 * -128| = 2^14), but the
 * two halves are pair-accumulated separately since their sum may not. */
static inline int32x4_t dot_mull(int32x4_t acc, int8x16_t a, int8x16_t b) {
    acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(b)));
    return vpadalq_s16(acc, vmull_high_s8(a, b));
}

/* ---- the integer kernels, twice ------------------------------------------ */

#define NEON_FN(name) name##_mull
#define NEON_DOT(acc, a, b) dot_mull(acc, a, b)
#define NEON_ATTR
#include "dot_neon_int.h"
#undef NEON_FN
#undef NEON_DOT
#undef NEON_ATTR

#if CS_NEON_SDOT
#define NEON_FN(name) name##_sdot
#define NEON_DOT(acc, a, b) vdotq_s32(acc, a, b)
#define NEON_ATTR CS_SDOT_ATTR
#include "dot_neon_int.h"
#undef NEON_FN
#undef NEON_DOT
#undef NEON_ATTR
#endif

/* ---- float dots ------------------------------------------------------------
 * Four accumulators of 4 lanes; float sums, unlike the reference's double, so
 * they agree with it to rounding (~1e-7 of sum |w x|), not bit for bit. */

static float dot_f32(int64_t n, const void *w, const void *x) {
    const float *a = w, *b = x;
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vld1q_f32(a + i + 4), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vld1q_f32(a + i + 8), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vld1q_f32(a + i + 12), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4) s0 = vfmaq_f32(s0, vld1q_f32(a + i), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) s += a[i] * b[i];
    return s;
}

/* F16 -> F32 conversion (FCVTL) is part of base ARMv8 AdvSIMD. */
static float dot_f16(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    float32x4_t s0 = vdupq_n_f32(0), s1 = s0, s2 = s0, s3 = s0;
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        float16x8_t h0 = vreinterpretq_f16_u16(vld1q_u16(a + i));
        float16x8_t h1 = vreinterpretq_f16_u16(vld1q_u16(a + i + 8));
        s0 = vfmaq_f32(s0, vcvt_f32_f16(vget_low_f16(h0)), vld1q_f32(b + i));
        s1 = vfmaq_f32(s1, vcvt_high_f32_f16(h0), vld1q_f32(b + i + 4));
        s2 = vfmaq_f32(s2, vcvt_f32_f16(vget_low_f16(h1)), vld1q_f32(b + i + 8));
        s3 = vfmaq_f32(s3, vcvt_high_f32_f16(h1), vld1q_f32(b + i + 12));
    }
    for (; i + 4 <= n; i += 4)
        s0 = vfmaq_f32(s0, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(a + i))), vld1q_f32(b + i));
    float s = vaddvq_f32(vaddq_f32(vaddq_f32(s0, s1), vaddq_f32(s2, s3)));
    for (; i < n; i++) s += h2f(a[i]) * b[i];
    return s;
}

/* ---- lookup ------------------------------------------------------------------ */

cs_vec_dot_fn cs_vec_dot_neon_path(cs_type wtype, bool sdot) {
    switch (wtype) {
    case CS_TYPE_F32: return dot_f32;
    case CS_TYPE_F16: return dot_f16;
    default: break;
    }
#if CS_NEON_SDOT
    if (sdot) {
        switch (wtype) {
        case CS_TYPE_Q8_0: return q8_0_sdot;
        case CS_TYPE_Q4_0: return q4_0_sdot;
        case CS_TYPE_Q4_K: return q4_K_sdot;
        case CS_TYPE_Q5_K: return q5_K_sdot;
        case CS_TYPE_Q6_K: return q6_K_sdot;
        default: return NULL;
        }
    }
#else
    if (sdot) return NULL;
#endif
    switch (wtype) {
    case CS_TYPE_Q8_0: return q8_0_mull;
    case CS_TYPE_Q4_0: return q4_0_mull;
    case CS_TYPE_Q4_K: return q4_K_mull;
    case CS_TYPE_Q5_K: return q5_K_mull;
    case CS_TYPE_Q6_K: return q6_K_mull;
    default: return NULL;
    }
}

cs_vec_dot_fn cs_vec_dot_neon(cs_type wtype) {
    return cs_vec_dot_neon_path(wtype, CS_NEON_SDOT && cs_cpu()->dotprod);
}

/* ---- Q8_0 quantizer ------------------------------------------------------------
 * The reference's operations one for one, so the bytes agree: amax by max of
 * |x| (maxnm ignores NaN, as the reference's `>` does), d = amax / 127,
 * id = 1 / d, q = round-half-away(x * id) (FCVTAS is roundf). d is stored via
 * cs_fp32_to_fp16 rather than FCVTN so that no FPCR setting (flush-to-zero
 * under -ffast-math) can change a byte; it is one call per 32 elements. */
void cs_quantize_row_q8_0_neon(const float *x, void *vy, int64_t n) {
    block_q8_0 *y = vy;
    int64_t nb = n / QK8_0;
    for (int64_t i = 0; i < nb; i++, x += QK8_0) {
        float32x4_t v[8];
        for (int k = 0; k < 8; k++) v[k] = vld1q_f32(x + 4 * k);
        float32x4_t m0 = vmaxnmq_f32(vabsq_f32(v[0]), vabsq_f32(v[1]));
        float32x4_t m1 = vmaxnmq_f32(vabsq_f32(v[2]), vabsq_f32(v[3]));
        float32x4_t m2 = vmaxnmq_f32(vabsq_f32(v[4]), vabsq_f32(v[5]));
        float32x4_t m3 = vmaxnmq_f32(vabsq_f32(v[6]), vabsq_f32(v[7]));
        float amax = vmaxnmvq_f32(vmaxnmq_f32(vmaxnmq_f32(m0, m1), vmaxnmq_f32(m2, m3)));
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = cs_fp32_to_fp16(d);
        int16x8_t q16[4];
        for (int k = 0; k < 4; k++) {
            int32x4_t lo = vcvtaq_s32_f32(vmulq_n_f32(v[2 * k], id));
            int32x4_t hi = vcvtaq_s32_f32(vmulq_n_f32(v[2 * k + 1], id));
            q16[k] = vcombine_s16(vmovn_s32(lo), vmovn_s32(hi));
        }
        vst1q_s8(y[i].qs, vcombine_s8(vmovn_s16(q16[0]), vmovn_s16(q16[1])));
        vst1q_s8(y[i].qs + 16, vcombine_s8(vmovn_s16(q16[2]), vmovn_s16(q16[3])));
    }
}

#else /* no NEON: nothing to offer; the quantizer is the reference */

cs_vec_dot_fn cs_vec_dot_neon_path(cs_type wtype, bool sdot) {
    (void)wtype, (void)sdot;
    return NULL;
}

cs_vec_dot_fn cs_vec_dot_neon(cs_type wtype) {
    (void)wtype;
    return NULL;
}

void cs_quantize_row_q8_0_neon(const float *x, void *y, int64_t n) { cs_quantize_row_q8_0(x, y, n); }

#endif
