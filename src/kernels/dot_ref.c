/* Scalar reference dot products: one weight row of type T against one
 * activation row already converted to T's vec-dot type (kernels.h).
 *
 * Quantized dots follow ggml: integer sums inside a block (or sub-block),
 * then one float multiply by the block's scales, accumulated in float.
 * The plain-float dots accumulate in double: they are the yardstick the
 * SIMD variants are measured against. */
#include <string.h>

#include "../base/base.h"
#include "kernels.h"

cs_type cs_vec_dot_type(cs_type wtype) {
    switch (wtype) {
    case CS_TYPE_Q4_0:
    case CS_TYPE_Q5_0:
    case CS_TYPE_Q5_1:
    case CS_TYPE_Q8_0: return CS_TYPE_Q8_0;
    case CS_TYPE_Q4_K:
    case CS_TYPE_Q5_K:
    case CS_TYPE_Q6_K: return CS_TYPE_Q8_K;
    default: return CS_TYPE_F32; /* F32, F16, BF16 (and anything unsupported) */
    }
}

float cs_vec_dot_f32_ref(int64_t n, const void *w, const void *x) {
    const float *a = w, *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return (float)s;
}

float cs_vec_dot_f16_ref(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)cs_fp16_to_fp32(a[i]) * b[i];
    return (float)s;
}

float cs_vec_dot_bf16_ref(int64_t n, const void *w, const void *x) {
    const uint16_t *a = w;
    const float *b = x;
    double s = 0;
    for (int64_t i = 0; i < n; i++) s += (double)cs_bf16_to_fp32(a[i]) * b[i];
    return (float)s;
}

static inline uint32_t load_u32le(const uint8_t *p) {
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

float cs_vec_dot_q4_0_ref(int64_t n, const void *w, const void *x) {
    const block_q4_0 *a = w;
    const block_q8_0 *b = x;
    int64_t nb = n / QK4_0;
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        int32_t si = 0;
        for (int j = 0; j < QK4_0 / 2; j++) {
            si += ((a[i].qs[j] & 0x0f) - 8) * b[i].qs[j];
            si += ((a[i].qs[j] >> 4) - 8) * b[i].qs[j + QK4_0 / 2];
        }
        sum += si * (cs_fp16_to_fp32(a[i].d) * cs_fp16_to_fp32(b[i].d));
    }
    return sum;
}

float cs_vec_dot_q5_0_ref(int64_t n, const void *w, const void *x) {
    const block_q5_0 *a = w;
    const block_q8_0 *b = x;
    int64_t nb = n / QK5_0;
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        uint32_t qh = load_u32le(a[i].qh);
        int32_t si = 0;
        for (int j = 0; j < QK5_0 / 2; j++) {
            int lo = (int)((a[i].qs[j] & 0x0f) | (((qh >> j) & 1) << 4)) - 16;
            int hi = (int)((a[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4)) - 16;
            si += lo * b[i].qs[j] + hi * b[i].qs[j + QK5_0 / 2];
        }
        sum += si * (cs_fp16_to_fp32(a[i].d) * cs_fp16_to_fp32(b[i].d));
    }
    return sum;
}

/* (d q + m) . (dy y) = d dy sum(q y) + m dy sum(y): the min term needs only the
 * sum of the activation block's quants. */
float cs_vec_dot_q5_1_ref(int64_t n, const void *w, const void *x) {
    const block_q5_1 *a = w;
    const block_q8_0 *b = x;
    int64_t nb = n / QK5_1;
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        uint32_t qh = load_u32le(a[i].qh);
        int32_t si = 0, sy = 0;
        for (int j = 0; j < QK5_1 / 2; j++) {
            int lo = (int)((a[i].qs[j] & 0x0f) | (((qh >> j) & 1) << 4));
            int hi = (int)((a[i].qs[j] >> 4) | (((qh >> (j + 16)) & 1) << 4));
            si += lo * b[i].qs[j] + hi * b[i].qs[j + QK5_1 / 2];
            sy += b[i].qs[j] + b[i].qs[j + QK5_1 / 2];
        }
        float dy = cs_fp16_to_fp32(b[i].d);
        sum += si * (cs_fp16_to_fp32(a[i].d) * dy) + cs_fp16_to_fp32(a[i].m) * (dy * sy);
    }
    return sum;
}

float cs_vec_dot_q8_0_ref(int64_t n, const void *w, const void *x) {
    const block_q8_0 *a = w;
    const block_q8_0 *b = x;
    int64_t nb = n / QK8_0;
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        int32_t si = 0;
        for (int j = 0; j < QK8_0; j++) si += a[i].qs[j] * b[i].qs[j];
        sum += si * (cs_fp16_to_fp32(a[i].d) * cs_fp16_to_fp32(b[i].d));
    }
    return sum;
}

/* 6-bit scale and min of sub-block j of a q4_K/q5_K block (layout in types.c). */
static inline void kq_scale_min(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

/* sum_j [d sc_j q - dmin m_j] . dy y = d dy sum_j sc_j (q.y)_j - dmin dy sum_j m_j sum(y)_j,
 * with sum(y)_j from the activation's bsums (two groups of 16 per sub-block of 32). */
float cs_vec_dot_q4_K_ref(int64_t n, const void *w, const void *x) {
    const block_q4_K *a = w;
    const block_q8_K *b = x;
    int64_t nb = n / QK_K;
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q = a[i].qs;
        const int8_t *y = b[i].qs;
        int32_t sq = 0, sm = 0;
        for (int c = 0; c < 4; c++, q += 32, y += 64) {
            int sc1, m1, sc2, m2;
            kq_scale_min(2 * c, a[i].scales, &sc1, &m1);
            kq_scale_min(2 * c + 1, a[i].scales, &sc2, &m2);
            int32_t s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                s1 += (q[l] & 0x0f) * y[l];
                s2 += (q[l] >> 4) * y[l + 32];
            }
            sq += sc1 * s1 + sc2 * s2;
            sm += m1 * (b[i].bsums[4 * c] + b[i].bsums[4 * c + 1]) + m2 * (b[i].bsums[4 * c + 2] + b[i].bsums[4 * c + 3]);
        }
        float d = b[i].d * cs_fp16_to_fp32(a[i].d);
        float dmin = b[i].d * cs_fp16_to_fp32(a[i].dmin);
        sum += d * sq - dmin * sm;
    }
    return sum;
}

float cs_vec_dot_q5_K_ref(int64_t n, const void *w, const void *x) {
    const block_q5_K *a = w;
    const block_q8_K *b = x;
    int64_t nb = n / QK_K;
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        const uint8_t *q = a[i].qs, *qh = a[i].qh;
        const int8_t *y = b[i].qs;
        int32_t sq = 0, sm = 0;
        for (int c = 0; c < 4; c++, q += 32, y += 64) {
            int sc1, m1, sc2, m2;
            kq_scale_min(2 * c, a[i].scales, &sc1, &m1);
            kq_scale_min(2 * c + 1, a[i].scales, &sc2, &m2);
            int32_t s1 = 0, s2 = 0;
            for (int l = 0; l < 32; l++) {
                int v1 = (q[l] & 0x0f) | (((qh[l] >> (2 * c)) & 1) << 4);
                int v2 = (q[l] >> 4) | (((qh[l] >> (2 * c + 1)) & 1) << 4);
                s1 += v1 * y[l];
                s2 += v2 * y[l + 32];
            }
            sq += sc1 * s1 + sc2 * s2;
            sm += m1 * (b[i].bsums[4 * c] + b[i].bsums[4 * c + 1]) + m2 * (b[i].bsums[4 * c + 2] + b[i].bsums[4 * c + 3]);
        }
        float d = b[i].d * cs_fp16_to_fp32(a[i].d);
        float dmin = b[i].d * cs_fp16_to_fp32(a[i].dmin);
        sum += d * sq - dmin * sm;
    }
    return sum;
}

float cs_vec_dot_q6_K_ref(int64_t n, const void *w, const void *x) {
    const block_q6_K *a = w;
    const block_q8_K *b = x;
    int64_t nb = n / QK_K;
    float sum = 0;
    for (int64_t i = 0; i < nb; i++) {
        /* unpack to signed levels first, then 16 sub-block sums */
        int8_t v[QK_K];
        const uint8_t *ql = a[i].ql, *qh = a[i].qh;
        for (int h = 0; h < 2; h++, ql += 64, qh += 32) {
            int8_t *vh = v + 128 * h;
            for (int l = 0; l < 32; l++) {
                vh[l] = (int8_t)(((ql[l] & 0x0f) | ((qh[l] & 3) << 4)) - 32);
                vh[l + 32] = (int8_t)(((ql[l + 32] & 0x0f) | (((qh[l] >> 2) & 3) << 4)) - 32);
                vh[l + 64] = (int8_t)(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
                vh[l + 96] = (int8_t)(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
            }
        }
        int32_t sq = 0;
        for (int g = 0; g < QK_K / 16; g++) {
            int32_t s = 0;
            for (int l = 0; l < 16; l++) s += v[16 * g + l] * b[i].qs[16 * g + l];
            sq += a[i].scales[g] * s;
        }
        sum += (b[i].d * cs_fp16_to_fp32(a[i].d)) * sq;
    }
    return sum;
}

cs_vec_dot_fn cs_vec_dot_ref(cs_type wtype) {
    switch (wtype) {
    case CS_TYPE_F32: return cs_vec_dot_f32_ref;
    case CS_TYPE_F16: return cs_vec_dot_f16_ref;
    case CS_TYPE_BF16: return cs_vec_dot_bf16_ref;
    case CS_TYPE_Q4_0: return cs_vec_dot_q4_0_ref;
    case CS_TYPE_Q5_0: return cs_vec_dot_q5_0_ref;
    case CS_TYPE_Q5_1: return cs_vec_dot_q5_1_ref;
    case CS_TYPE_Q8_0: return cs_vec_dot_q8_0_ref;
    case CS_TYPE_Q4_K: return cs_vec_dot_q4_K_ref;
    case CS_TYPE_Q5_K: return cs_vec_dot_q5_K_ref;
    case CS_TYPE_Q6_K: return cs_vec_dot_q6_K_ref;
    default: return NULL;
    }
}
