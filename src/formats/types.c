/* Tensor element types: the traits table and the reference (scalar) quantize
 * and dequantize of every supported block type.
 *
 * Dequantization follows ggml's arithmetic operation for operation (same
 * products, same order, float throughout) so that a file written by
 * llama.cpp's llama-quantize dequantizes to bit-identical floats.
 * Quantization reproduces ggml's reference quantizers in method: plain
 * absmax scaling for the 32-element types, and for the k-quants a weighted
 * least-squares search over candidate scales (and mins) per sub-block,
 * followed by quantizing the sub-block scales themselves. */
#include "types.h"

#include <math.h>
#include <string.h>
#include <strings.h>

#include "../base/base.h"

/* ---- traits ---------------------------------------------------------------- */

/* Indexed by ggml type id. Entries with a NULL name are ids ggml retired or
 * never used. Sizes of the types we do not support are recorded so that a
 * GGUF reader can still validate tensor extents and report the type by name. */
static const cs_type_traits type_table[CS_TYPE_COUNT] = {
    [0] = {"f32", 1, 4, true},
    [1] = {"f16", 1, 2, true},
    [2] = {"q4_0", QK4_0, sizeof(block_q4_0), true},
    [3] = {"q4_1", 32, 20, false},
    [6] = {"q5_0", QK5_0, sizeof(block_q5_0), true},
    [7] = {"q5_1", QK5_1, sizeof(block_q5_1), true},
    [8] = {"q8_0", QK8_0, sizeof(block_q8_0), true},
    [9] = {"q8_1", 32, 36, false},
    [10] = {"q2_K", QK_K, 84, false},
    [11] = {"q3_K", QK_K, 110, false},
    [12] = {"q4_K", QK_K, sizeof(block_q4_K), true},
    [13] = {"q5_K", QK_K, sizeof(block_q5_K), true},
    [14] = {"q6_K", QK_K, sizeof(block_q6_K), true},
    [15] = {"q8_K", QK_K, sizeof(block_q8_K), true},
    [16] = {"iq2_xxs", QK_K, 66, false},
    [17] = {"iq2_xs", QK_K, 74, false},
    [18] = {"iq3_xxs", QK_K, 98, false},
    [19] = {"iq1_s", QK_K, 50, false},
    [20] = {"iq4_nl", 32, 18, false},
    [21] = {"iq3_s", QK_K, 110, false},
    [22] = {"iq2_s", QK_K, 82, false},
    [23] = {"iq4_xs", QK_K, 136, false},
    [24] = {"i8", 1, 1, false},
    [25] = {"i16", 1, 2, false},
    [26] = {"i32", 1, 4, false},
    [27] = {"i64", 1, 8, false},
    [28] = {"f64", 1, 8, false},
    [29] = {"iq1_m", QK_K, 56, false},
    [30] = {"bf16", 1, 2, true},
    [34] = {"tq1_0", QK_K, 54, false},
    [35] = {"tq2_0", QK_K, 66, false},
    [39] = {"mxfp4", 32, 17, false},
};

const cs_type_traits *cs_type_info(uint32_t type) {
    if (type >= CS_TYPE_COUNT || !type_table[type].name) return NULL;
    return &type_table[type];
}

const char *cs_type_name(uint32_t type) {
    const cs_type_traits *t = cs_type_info(type);
    return t ? t->name : "?";
}

int cs_type_from_name(const char *name) {
    if (!name) return -1;
    for (int i = 0; i < CS_TYPE_COUNT; i++)
        if (type_table[i].name && strcasecmp(type_table[i].name, name) == 0) return i;
    return -1;
}

size_t cs_row_size(uint32_t type, int64_t n) {
    const cs_type_traits *t = cs_type_info(type);
    if (!t || n < 0 || n % t->blck_size != 0) return 0;
    uint64_t bytes;
    if (!cs_mul_ok((uint64_t)(n / t->blck_size), t->type_size, &bytes) || bytes > SIZE_MAX) return 0;
    return (size_t)bytes;
}

/* ---- helpers ---------------------------------------------------------------- */

#define H2F(h) cs_fp16_to_fp32(h)
#define F2H(f) cs_fp32_to_fp16(f)

/* Round to nearest, ties to even, for |v| < 2^22: adding 1.5 * 2^23 pushes the
 * fraction out of the mantissa, letting the FPU do the rounding. */
static inline int round_int(float v) {
    float f = v + 12582912.f;
    int32_t i;
    memcpy(&i, &f, 4);
    return (i & 0x007fffff) - 0x00400000;
}

static inline int clampi(int v, int lo, int hi) { return v < lo ? lo : v > hi ? hi : v; }

/* The 6-bit scale and min of sub-block j (0..7) of a q4_K/q5_K block.
 * Bytes 0-3 hold the scales of sub-blocks 0-3 in their low 6 bits, bytes 4-7
 * the mins of sub-blocks 0-3 likewise; sub-blocks 4-7 keep their low 4 bits in
 * bytes 8-11 (scale in the low nibble, min in the high nibble) and their top 2
 * bits in the spare top bits of bytes 0-3 (scale) and 4-7 (min). */
static inline void kq_scale_min(int j, const uint8_t *s, uint8_t *sc, uint8_t *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (uint8_t)((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
        *m = (uint8_t)((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
    }
}

static void kq_pack_scales(uint8_t *s, const uint8_t *sc, const uint8_t *m) {
    memset(s, 0, K_SCALE_SIZE);
    for (int j = 0; j < 8; j++) {
        if (j < 4) {
            s[j] = sc[j];
            s[j + 4] = m[j];
        } else {
            s[j + 4] = (uint8_t)((sc[j] & 0x0f) | ((m[j] & 0x0f) << 4));
            s[j - 4] |= (uint8_t)((sc[j] >> 4) << 6);
            s[j] |= (uint8_t)((m[j] >> 4) << 6);
        }
    }
}

/* ---- dequantize ----------------------------------------------------------- */

void cs_dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n) {
    int64_t nb = n / QK4_0;
    for (int64_t i = 0; i < nb; i++, y += QK4_0) {
        float d = H2F(x[i].d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int lo = (x[i].qs[j] & 0x0f) - 8;
            int hi = (x[i].qs[j] >> 4) - 8;
            y[j] = lo * d;
            y[j + QK4_0 / 2] = hi * d;
        }
    }
}

static inline uint32_t load_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

void cs_dequantize_row_q5_0(const block_q5_0 *x, float *y, int64_t n) {
    int64_t nb = n / QK5_0;
    for (int64_t i = 0; i < nb; i++, y += QK5_0) {
        float d = H2F(x[i].d);
        uint32_t qh = load_u32le(x[i].qh); /* bit j: 5th bit of element j */
        for (int j = 0; j < QK5_0 / 2; j++) {
            int lo = (int)((x[i].qs[j] & 0x0f) | (((qh >> j) & 1) << 4)) - 16;
            int hi = (int)((x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
            y[j] = lo * d;
            y[j + QK5_0 / 2] = hi * d;
        }
    }
}

void cs_dequantize_row_q5_1(const block_q5_1 *x, float *y, int64_t n) {
    int64_t nb = n / QK5_1;
    for (int64_t i = 0; i < nb; i++, y += QK5_1) {
        float d = H2F(x[i].d), m = H2F(x[i].m);
        uint32_t qh = load_u32le(x[i].qh);
        for (int j = 0; j < QK5_1 / 2; j++) {
            int lo = (int)((x[i].qs[j] & 0x0f) | (((qh >> j) & 1) << 4));
            int hi = (int)((x[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
            y[j] = lo * d + m;
            y[j + QK5_1 / 2] = hi * d + m;
        }
    }
}

void cs_dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n) {
    int64_t nb = n / QK8_0;
    for (int64_t i = 0; i < nb; i++, y += QK8_0) {
        float d = H2F(x[i].d);
        for (int j = 0; j < QK8_0; j++) y[j] = x[i].qs[j] * d;
    }
}

/* q4_K: the 256 elements go in 4 chunks of 64; in chunk c, byte qs[32c + l]
 * holds element 64c + l in its low nibble (sub-block 2c) and element
 * 64c + 32 + l in its high nibble (sub-block 2c + 1).
 * value = d * scale_j * q - dmin * min_j. */
void cs_dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n) {
    int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        float d = H2F(x[i].d), dmin = H2F(x[i].dmin);
        const uint8_t *q = x[i].qs;
        for (int c = 0; c < 4; c++, q += 32) {
            uint8_t sc, m;
            kq_scale_min(2 * c, x[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            kq_scale_min(2 * c + 1, x[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            for (int l = 0; l < 32; l++) *y++ = d1 * (q[l] & 0x0f) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * (q[l] >> 4) - m2;
        }
    }
}

/* q5_K: as q4_K plus a 5th bit: element 64c + l takes bit 2c of qh[l],
 * element 64c + 32 + l takes bit 2c + 1 of qh[l]. */
void cs_dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t n) {
    int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        float d = H2F(x[i].d), dmin = H2F(x[i].dmin);
        const uint8_t *ql = x[i].qs, *qh = x[i].qh;
        for (int c = 0; c < 4; c++, ql += 32) {
            uint8_t sc, m;
            kq_scale_min(2 * c, x[i].scales, &sc, &m);
            float d1 = d * sc, m1 = dmin * m;
            kq_scale_min(2 * c + 1, x[i].scales, &sc, &m);
            float d2 = d * sc, m2 = dmin * m;
            uint8_t b1 = (uint8_t)(1u << (2 * c)), b2 = (uint8_t)(2u << (2 * c));
            for (int l = 0; l < 32; l++) *y++ = d1 * ((ql[l] & 0x0f) + (qh[l] & b1 ? 16 : 0)) - m1;
            for (int l = 0; l < 32; l++) *y++ = d2 * ((ql[l] >> 4) + (qh[l] & b2 ? 16 : 0)) - m2;
        }
    }
}

/* q6_K: two halves of 128; in half h, for l < 32:
 *   element 128h + l      = ql[64h + l] low nibble  | qh[32h + l] bits 0-1
 *   element 128h + 32 + l = ql[64h + 32 + l] low    | bits 2-3
 *   element 128h + 64 + l = ql[64h + l] high nibble | bits 4-5
 *   element 128h + 96 + l = ql[64h + 32 + l] high   | bits 6-7
 * each minus 32, times d * scales[element / 16]. */
void cs_dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n) {
    int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++) {
        float d = H2F(x[i].d);
        const uint8_t *ql = x[i].ql, *qh = x[i].qh;
        const int8_t *sc = x[i].scales;
        for (int h = 0; h < 2; h++, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; l++) {
                int s = l / 16;
                int q1 = (int)((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32;
                int q2 = (int)((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = (int)((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = (int)((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[s] * q1;
                y[l + 32] = d * sc[s + 2] * q2;
                y[l + 64] = d * sc[s + 4] * q3;
                y[l + 96] = d * sc[s + 6] * q4;
            }
        }
    }
}

void cs_dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t n) {
    int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++, y += QK_K)
        for (int j = 0; j < QK_K; j++) y[j] = x[i].d * x[i].qs[j];
}

/* ---- quantize: 32-element types -------------------------------------------- */

/* The element of largest magnitude, with its sign. */
static float signed_absmax(const float *x, int n, float *amax_out) {
    float amax = 0, vmax = 0;
    for (int j = 0; j < n; j++) {
        float a = fabsf(x[j]);
        if (a > amax) {
            amax = a;
            vmax = x[j];
        }
    }
    if (amax_out) *amax_out = amax;
    return vmax;
}

/* q4_0: d = -max/8 so that the element of largest magnitude lands on -8, the
 * extra negative level; q = x/d + 8 rounded, clipped to 15. */
void cs_quantize_row_q4_0(const float *x, block_q4_0 *y, int64_t n) {
    int64_t nb = n / QK4_0;
    for (int64_t i = 0; i < nb; i++, x += QK4_0) {
        float vmax = signed_absmax(x, QK4_0, NULL);
        float d = vmax / -8;
        float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        for (int j = 0; j < QK4_0 / 2; j++) {
            int a = CS_MIN(15, (int)(x[j] * id + 8.5f));
            int b = CS_MIN(15, (int)(x[j + QK4_0 / 2] * id + 8.5f));
            y[i].qs[j] = (uint8_t)(a | (b << 4));
        }
    }
}

void cs_quantize_row_q5_0(const float *x, block_q5_0 *y, int64_t n) {
    int64_t nb = n / QK5_0;
    for (int64_t i = 0; i < nb; i++, x += QK5_0) {
        float vmax = signed_absmax(x, QK5_0, NULL);
        float d = vmax / -16;
        float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            int a = CS_MIN(31, (int)(x[j] * id + 16.5f));
            int b = CS_MIN(31, (int)(x[j + QK5_0 / 2] * id + 16.5f));
            y[i].qs[j] = (uint8_t)((a & 0x0f) | ((b & 0x0f) << 4));
            qh |= (uint32_t)(a >> 4) << j;
            qh |= (uint32_t)(b >> 4) << (j + 16);
        }
        for (int k = 0; k < 4; k++) y[i].qh[k] = (uint8_t)(qh >> (8 * k));
    }
}

/* q5_1: value = d*q + m with m the block minimum and d = (max - min)/31. */
void cs_quantize_row_q5_1(const float *x, block_q5_1 *y, int64_t n) {
    int64_t nb = n / QK5_1;
    for (int64_t i = 0; i < nb; i++, x += QK5_1) {
        float lo = x[0], hi = x[0];
        for (int j = 1; j < QK5_1; j++) {
            if (x[j] < lo) lo = x[j];
            if (x[j] > hi) hi = x[j];
        }
        float d = (hi - lo) / 31;
        float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        y[i].m = F2H(lo);
        uint32_t qh = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            int a = CS_MIN(31, (int)((x[j] - lo) * id + 0.5f));
            int b = CS_MIN(31, (int)((x[j + QK5_1 / 2] - lo) * id + 0.5f));
            y[i].qs[j] = (uint8_t)((a & 0x0f) | ((b & 0x0f) << 4));
            qh |= (uint32_t)(a >> 4) << j;
            qh |= (uint32_t)(b >> 4) << (j + 16);
        }
        for (int k = 0; k < 4; k++) y[i].qh[k] = (uint8_t)(qh >> (8 * k));
    }
}

/* q8_0: d = absmax/127, q = round(x/d) (half away from zero, as ggml). */
void cs_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n) {
    int64_t nb = n / QK8_0;
    for (int64_t i = 0; i < nb; i++, x += QK8_0) {
        float amax;
        signed_absmax(x, QK8_0, &amax);
        float d = amax / 127;
        float id = d != 0 ? 1.0f / d : 0.0f;
        y[i].d = F2H(d);
        for (int j = 0; j < QK8_0; j++) y[i].qs[j] = (int8_t)roundf(x[j] * id);
    }
}

/* ---- quantize: k-quants ---------------------------------------------------- */

/* Fit x[i] ~ scale * L[i] - min, L[i] in 0..nmax, min >= 0, minimising the
 * weighted squared error sum w[i] (scale L[i] - min - x[i])^2.
 * For each candidate inverse scale (nmax + rmin + k*rdelta) / (max - min),
 * k = 0..nstep, the levels L are set by rounding and then (scale, min) is
 * solved in closed form by weighted least squares for those levels; the best
 * candidate wins. Returns scale; *min_out = min; L receives the levels. */
static float fit_scale_min(int n, int nmax, const float *x, const float *w, uint8_t *L, float *min_out,
                           float rmin, float rdelta, int nstep) {
    float lo = x[0], hi = x[0], sw = w[0], swx = w[0] * x[0];
    for (int i = 1; i < n; i++) {
        if (x[i] < lo) lo = x[i];
        if (x[i] > hi) hi = x[i];
        sw += w[i];
        swx += w[i] * x[i];
    }
    if (lo > 0) lo = 0; /* the offset only ever lowers the zero point */
    if (hi == lo) {
        memset(L, 0, (size_t)n);
        *min_out = -lo;
        return 0.f;
    }
    float iscale = nmax / (hi - lo);
    float scale = 1 / iscale;
    float best = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(round_int(iscale * (x[i] - lo)), 0, nmax);
        L[i] = (uint8_t)l;
        float e = scale * l + lo - x[i];
        best += w[i] * e * e;
    }
    uint8_t Lc[32];
    for (int k = 0; k <= nstep; k++) {
        float is = (rmin + rdelta * k + nmax) / (hi - lo);
        float sl = 0, sl2 = 0, sxl = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(round_int(is * (x[i] - lo)), 0, nmax);
            Lc[i] = (uint8_t)l;
            sl += w[i] * l;
            sl2 += w[i] * l * l;
            sxl += w[i] * l * x[i];
        }
        float D = sw * sl2 - sl * sl;
        if (D <= 0) continue;
        float s = (sw * sxl - swx * sl) / D;
        float m = (sl2 * swx - sl * sxl) / D; /* offset: x ~ s*l + m */
        if (m > 0) {                            /* would need a negative min: pin it at 0 */
            m = 0;
            s = sxl / sl2;
        }
        float err = 0;
        for (int i = 0; i < n; i++) {
            float e = s * Lc[i] + m - x[i];
            err += w[i] * e * e;
        }
        if (err < best) {
            best = err;
            memcpy(L, Lc, (size_t)n);
            scale = s;
            lo = m;
        }
    }
    *min_out = -lo;
    return scale;
}

/* Shared by q4_K and q5_K: choose 6-bit sub-block scales and mins, then the
 * per-element levels L (0..nmax) against the rounded scales. */
static void kq_quantize_block(const float *x, int nmax, float rmin, float rdelta, int nstep, uint8_t *L,
                              cs_half *d_out, cs_half *dmin_out, uint8_t *scales_out) {
    float sc[8], mn[8], w[32];
    float max_sc = 0, max_mn = 0;
    for (int j = 0; j < 8; j++) {
        const float *xs = x + 32 * j;
        /* weight each element by its magnitude plus the rms of its sub-block */
        float s2 = 0;
        for (int l = 0; l < 32; l++) s2 += xs[l] * xs[l];
        float rms = sqrtf(s2 / 32);
        for (int l = 0; l < 32; l++) w[l] = rms + fabsf(xs[l]);
        sc[j] = fit_scale_min(32, nmax, xs, w, L + 32 * j, &mn[j], rmin, rdelta, nstep);
        if (sc[j] > max_sc) max_sc = sc[j];
        if (mn[j] > max_mn) max_mn = mn[j];
    }
    float inv_sc = max_sc > 0 ? 63.f / max_sc : 0.f;
    float inv_mn = max_mn > 0 ? 63.f / max_mn : 0.f;
    uint8_t ls[8], lm[8];
    for (int j = 0; j < 8; j++) {
        ls[j] = (uint8_t)CS_MIN(63, round_int(inv_sc * sc[j]));
        lm[j] = (uint8_t)CS_MIN(63, round_int(inv_mn * mn[j]));
    }
    kq_pack_scales(scales_out, ls, lm);
    *d_out = F2H(max_sc / 63.f);
    *dmin_out = F2H(max_mn / 63.f);
    float d = H2F(*d_out), dmin = H2F(*dmin_out);
    for (int j = 0; j < 8; j++) {
        float dj = d * ls[j];
        if (dj == 0) continue;
        float mj = dmin * lm[j];
        for (int l = 0; l < 32; l++)
            L[32 * j + l] = (uint8_t)clampi(round_int((x[32 * j + l] + mj) / dj), 0, nmax);
    }
}

void cs_quantize_row_q4_K(const float *x, block_q4_K *y, int64_t n) {
    int64_t nb = n / QK_K;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        cs_half d, dmin;
        kq_quantize_block(x, 15, -1.0f, 0.1f, 20, L, &d, &dmin, y[i].scales);
        y[i].d = d;
        y[i].dmin = dmin;
        uint8_t *q = y[i].qs;
        for (int c = 0; c < 4; c++, q += 32)
            for (int l = 0; l < 32; l++) q[l] = (uint8_t)(L[64 * c + l] | (L[64 * c + 32 + l] << 4));
    }
}

void cs_quantize_row_q5_K(const float *x, block_q5_K *y, int64_t n) {
    int64_t nb = n / QK_K;
    uint8_t L[QK_K];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        cs_half d, dmin;
        kq_quantize_block(x, 31, -0.5f, 0.1f, 15, L, &d, &dmin, y[i].scales);
        y[i].d = d;
        y[i].dmin = dmin;
        memset(y[i].qh, 0, sizeof y[i].qh);
        uint8_t *ql = y[i].qs;
        for (int c = 0; c < 4; c++, ql += 32) {
            for (int l = 0; l < 32; l++) {
                int a = L[64 * c + l], b = L[64 * c + 32 + l];
                if (a > 15) y[i].qh[l] |= (uint8_t)(1u << (2 * c));
                if (b > 15) y[i].qh[l] |= (uint8_t)(2u << (2 * c));
                ql[l] = (uint8_t)((a & 0x0f) | ((b & 0x0f) << 4));
            }
        }
    }
}

/* Symmetric fit x[i] ~ scale * (L[i] - nmax), L[i] - nmax in -nmax..nmax-1,
 * weighting each element by x^2 (the large values matter most). The element
 * of largest magnitude is first mapped onto -nmax; inverse scales around that
 * (nmax + 0.1k, k = -9..9) are tried, each scored by the least-squares optimum
 * for its rounded levels. Returns scale; L receives biased levels 0..2nmax-1. */
static float fit_scale_sym(int n, int nmax, const float *x, uint8_t *L) {
    float amax;
    float vmax = signed_absmax(x, n, &amax);
    if (amax < 1e-15f) {
        memset(L, 0, (size_t)n);
        return 0.f;
    }
    float iscale = -nmax / vmax;
    float sxl = 0, sll = 0;
    for (int i = 0; i < n; i++) {
        int l = clampi(round_int(iscale * x[i]), -nmax, nmax - 1);
        L[i] = (uint8_t)(l + nmax);
        float w = x[i] * x[i];
        sxl += w * x[i] * l;
        sll += w * l * l;
    }
    float scale = sll > 0 ? sxl / sll : 0.f;
    float best = scale * sxl; /* = sxl^2/sll: the error reduction this fit buys */
    for (int k = -9; k <= 9; k++) {
        if (k == 0) continue;
        float is = -(nmax + 0.1f * k) / vmax;
        float a = 0, b = 0;
        for (int i = 0; i < n; i++) {
            int l = clampi(round_int(is * x[i]), -nmax, nmax - 1);
            float w = x[i] * x[i];
            a += w * x[i] * l;
            b += w * l * l;
        }
        if (b > 0 && a * a > best * b) {
            for (int i = 0; i < n; i++) L[i] = (uint8_t)(clampi(round_int(is * x[i]), -nmax, nmax - 1) + nmax);
            scale = a / b;
            best = scale * a;
        }
    }
    return scale;
}

void cs_quantize_row_q6_K(const float *x, block_q6_K *y, int64_t n) {
    int64_t nb = n / QK_K;
    uint8_t L[QK_K];
    float sc[QK_K / 16];
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float max_abs = 0, max_sc = 0;
        for (int j = 0; j < QK_K / 16; j++) {
            sc[j] = fit_scale_sym(16, 32, x + 16 * j, L + 16 * j);
            if (fabsf(sc[j]) > max_abs) {
                max_abs = fabsf(sc[j]);
                max_sc = sc[j];
            }
        }
        if (max_abs < 1e-15f) {
            memset(&y[i], 0, sizeof y[i]);
            continue;
        }
        /* the largest scale lands on -128, the extra negative int8 level */
        float iscale = -128.f / max_sc;
        y[i].d = F2H(1 / iscale);
        for (int j = 0; j < QK_K / 16; j++) y[i].scales[j] = (int8_t)CS_MIN(127, round_int(iscale * sc[j]));
        float d = H2F(y[i].d);
        for (int j = 0; j < QK_K / 16; j++) {
            float dj = d * y[i].scales[j];
            if (dj == 0) continue;
            for (int l = 0; l < 16; l++)
                L[16 * j + l] = (uint8_t)(clampi(round_int(x[16 * j + l] / dj), -32, 31) + 32);
        }
        uint8_t *ql = y[i].ql, *qh = y[i].qh;
        for (int h = 0; h < 2; h++, ql += 64, qh += 32) {
            const uint8_t *Lh = L + 128 * h;
            for (int l = 0; l < 32; l++) {
                int q1 = Lh[l], q2 = Lh[l + 32], q3 = Lh[l + 64], q4 = Lh[l + 96];
                ql[l] = (uint8_t)((q1 & 0x0f) | ((q3 & 0x0f) << 4));
                ql[l + 32] = (uint8_t)((q2 & 0x0f) | ((q4 & 0x0f) << 4));
                qh[l] = (uint8_t)((q1 >> 4) | ((q2 >> 4) << 2) | ((q3 >> 4) << 4) | ((q4 >> 4) << 6));
            }
        }
    }
}

/* q8_K (activations): d = -max/127 with max the signed element of largest
 * magnitude, q = round(x/d) clipped to 127; bsums[g] = sum of qs[16g..16g+15]. */
void cs_quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n) {
    int64_t nb = n / QK_K;
    for (int64_t i = 0; i < nb; i++, x += QK_K) {
        float amax;
        float vmax = signed_absmax(x, QK_K, &amax);
        if (amax == 0) {
            y[i].d = 0;
            memset(y[i].qs, 0, sizeof y[i].qs);
            memset(y[i].bsums, 0, sizeof y[i].bsums);
            continue;
        }
        float iscale = -127.f / vmax;
        for (int j = 0; j < QK_K; j++) y[i].qs[j] = (int8_t)CS_MIN(127, round_int(iscale * x[j]));
        for (int g = 0; g < QK_K / 16; g++) {
            int s = 0;
            for (int l = 0; l < 16; l++) s += y[i].qs[16 * g + l];
            y[i].bsums[g] = (int16_t)s;
        }
        y[i].d = 1 / iscale;
    }
}

/* ---- dispatch ---------------------------------------------------------------- */

void cs_dequantize_row(cs_type type, const void *src, float *dst, int64_t n) {
    switch (type) {
    case CS_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case CS_TYPE_F16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++) dst[i] = cs_fp16_to_fp32(h[i]);
        break;
    }
    case CS_TYPE_BF16: {
        const uint16_t *h = src;
        for (int64_t i = 0; i < n; i++) dst[i] = cs_bf16_to_fp32(h[i]);
        break;
    }
    case CS_TYPE_Q4_0: cs_dequantize_row_q4_0(src, dst, n); break;
    case CS_TYPE_Q5_0: cs_dequantize_row_q5_0(src, dst, n); break;
    case CS_TYPE_Q5_1: cs_dequantize_row_q5_1(src, dst, n); break;
    case CS_TYPE_Q8_0: cs_dequantize_row_q8_0(src, dst, n); break;
    case CS_TYPE_Q4_K: cs_dequantize_row_q4_K(src, dst, n); break;
    case CS_TYPE_Q5_K: cs_dequantize_row_q5_K(src, dst, n); break;
    case CS_TYPE_Q6_K: cs_dequantize_row_q6_K(src, dst, n); break;
    case CS_TYPE_Q8_K: cs_dequantize_row_q8_K(src, dst, n); break;
    default:
        cs_set_error("cannot dequantize tensor type %s", cs_type_name(type));
        memset(dst, 0, (size_t)n * sizeof(float));
        break;
    }
}

void cs_quantize_row(cs_type type, const float *src, void *dst, int64_t n) {
    switch (type) {
    case CS_TYPE_F32: memcpy(dst, src, (size_t)n * sizeof(float)); break;
    case CS_TYPE_F16: {
        uint16_t *h = dst;
        for (int64_t i = 0; i < n; i++) h[i] = cs_fp32_to_fp16(src[i]);
        break;
    }
    case CS_TYPE_BF16: {
        uint16_t *h = dst;
        for (int64_t i = 0; i < n; i++) h[i] = cs_fp32_to_bf16(src[i]);
        break;
    }
    case CS_TYPE_Q4_0: cs_quantize_row_q4_0(src, dst, n); break;
    case CS_TYPE_Q5_0: cs_quantize_row_q5_0(src, dst, n); break;
    case CS_TYPE_Q5_1: cs_quantize_row_q5_1(src, dst, n); break;
    case CS_TYPE_Q8_0: cs_quantize_row_q8_0(src, dst, n); break;
    case CS_TYPE_Q4_K: cs_quantize_row_q4_K(src, dst, n); break;
    case CS_TYPE_Q5_K: cs_quantize_row_q5_K(src, dst, n); break;
    case CS_TYPE_Q6_K: cs_quantize_row_q6_K(src, dst, n); break;
    case CS_TYPE_Q8_K: cs_quantize_row_q8_K(src, dst, n); break;
    default: cs_set_error("cannot quantize to tensor type %s", cs_type_name(type)); break;
    }
}
