/* Kernels of DeepSeek's multi-head latent attention (MLA) in its absorbed
 * form, over the compressed cache: each cached position is one row
 *
 *     [ latent c_j (kv_lora values) | shared rotated key k_rope_j (rope values) ]
 *
 * stored as F32, F16 or Q8_0 (Q8_0: each of the two parts is a run of whole
 * 32-value blocks, the last one zero-padded, so 512 + 64 takes 16 + 2 blocks =
 * 612 bytes). A query is laid out the same way, [q_lat | q_rope], so a score is
 * one dot product over the whole row:
 *
 *     s_ij = scale * (q_lat_i . c_j + q_rope_i . k_rope_j)
 *     out_i = sum_j softmax_j(s_ij) c_j          (still in latent space)
 *
 * All the heads of one token attend over the same rows, so a row is decoded
 * to floats once and used by every query of the call. Scalar C written so the
 * compiler can vectorise the inner loops (independent partial sums). */
#include <math.h>
#include <string.h>

#include "../base/base.h"
#include "kernels.h"
#include "gemm.h"

/* bytes of one part (n values) of a cache row */
static size_t part_bytes(cs_type elem, int64_t n) {
    switch (elem) {
    case CS_TYPE_F32: return (size_t)n * 4;
    case CS_TYPE_F16: return (size_t)n * 2;
    case CS_TYPE_Q8_0: return (size_t)((n + QK8_0 - 1) / QK8_0) * sizeof(block_q8_0);
    default: return 0;
    }
}

size_t cs_mla_row_bytes(cs_type elem, int64_t kv_lora, int64_t n_rope) {
    size_t a = part_bytes(elem, kv_lora), b = part_bytes(elem, n_rope);
    return a && (b || n_rope == 0) ? a + b : 0;
}

/* F16 -> F32 without branches, so the loop vectorises: the half's exponent and
 * mantissa, shifted into a float's place, times 2^112 re-biases the exponent
 * (subnormal halves land on the right value too); Inf/NaN patched in. */
static inline float f16_to_f32(uint16_t h) {
    uint32_t em = h & 0x7fffu, sign = (uint32_t)(h & 0x8000u) << 16, u = em << 13;
    float f;
    memcpy(&f, &u, 4);
    f *= 0x1p112f;
    memcpy(&u, &f, 4);
    uint32_t special = 0u - (uint32_t)(em >= 0x7c00u); /* all ones for Inf/NaN */
    u = (u & ~special) | ((0x7f800000u | (em & 0x3ffu) << 13) & special);
    u |= sign;
    memcpy(&f, &u, 4);
    return f;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
/* F16C: 8 conversions per instruction, bit-identical to the scalar path */
__attribute__((target("avx,f16c"))) static void f16_to_f32_row_f16c(float *dst, const uint16_t *src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++) dst[i] = f16_to_f32(src[i]);
}
#define HAVE_F16C_VARIANT 1
#endif

static void f16_to_f32_row(float *dst, const uint16_t *src, int64_t n) {
#ifdef HAVE_F16C_VARIANT
    if (__builtin_cpu_supports("f16c")) {
        f16_to_f32_row_f16c(dst, src, n);
        return;
    }
#endif
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) /* fixed-width chunks vectorise at -O2 */
        for (int k = 0; k < 16; k++) dst[i + k] = f16_to_f32(src[i + k]);
    for (; i < n; i++) dst[i] = f16_to_f32(src[i]);
}

/* y += a x */
static inline void axpy16(float *restrict y, float a, const float *restrict x, int64_t n) {
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) y[i + k] += a * x[i + k];
    for (; i < n; i++) y[i] += a * x[i];
}

static void store_part(void *dst, cs_type elem, const float *src, int64_t n) {
    if (elem == CS_TYPE_F32) {
        memcpy(dst, src, (size_t)n * 4);
    } else if (elem == CS_TYPE_F16) {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = cs_fp32_to_fp16(src[i]);
    } else { /* Q8_0: whole blocks, then the zero-padded tail */
        int64_t full = n / QK8_0 * QK8_0;
        block_q8_0 *b = dst;
        if (full) cs_quantize_act(CS_TYPE_Q8_0, src, b, full);
        if (n > full) {
            float tail[QK8_0] = {0};
            memcpy(tail, src + full, (size_t)(n - full) * sizeof(float));
            cs_quantize_act(CS_TYPE_Q8_0, tail, b + full / QK8_0, QK8_0);
        }
    }
}

static void load_part(float *dst, cs_type elem, const void *src, int64_t n) {
    if (elem == CS_TYPE_F32) {
        memcpy(dst, src, (size_t)n * 4);
    } else if (elem == CS_TYPE_F16) {
        f16_to_f32_row(dst, src, n);
    } else {
        int64_t full = n / QK8_0 * QK8_0;
        const block_q8_0 *b = src;
        if (full) cs_dequantize_row_q8_0(b, dst, full);
        if (n > full) {
            float tail[QK8_0];
            cs_dequantize_row_q8_0(b + full / QK8_0, tail, QK8_0);
            memcpy(dst + full, tail, (size_t)(n - full) * sizeof(float));
        }
    }
}

void cs_mla_store(void *row, cs_type elem, const float *lat, const float *rope, int64_t kv_lora, int64_t n_rope) {
    store_part(row, elem, lat, kv_lora);
    if (n_rope) store_part((char *)row + part_bytes(elem, kv_lora), elem, rope, n_rope);
}

void cs_mla_load(float *dst, const void *row, cs_type elem, int64_t kv_lora, int64_t n_rope) {
    load_part(dst, elem, row, kv_lora);
    if (n_rope) load_part(dst + kv_lora, elem, (const char *)row + part_bytes(elem, kv_lora), n_rope);
}

/* Plain float dot with 16 independent partial sums (vectorisable without
 * -ffast-math), then the tail. */
static inline float dot16(const float *a, const float *b, int64_t n) {
    float acc[16] = {0};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) acc[k] += a[i + k] * b[i + k];
    float s = 0.0f;
    for (; i < n; i++) s += a[i] * b[i];
    for (int k = 0; k < 16; k++) s += acc[k];
    return s;
}

/* Row j of the cache as floats: a pointer into the cache for F32, else decoded into buf. */
static inline const float *row_floats(const void *cache, size_t row_bytes, cs_type elem, int64_t j, int64_t kv_lora,
                                      int64_t n_rope, float *buf) {
    const char *r = (const char *)cache + (size_t)j * row_bytes;
    if (elem == CS_TYPE_F32) return (const float *)r;
    cs_mla_load(buf, r, elem, kv_lora, n_rope);
    return buf;
}

void cs_mla_scores(float *scores, const float *q, int64_t n_q, int64_t q_stride, const void *cache, size_t row_bytes,
                   cs_type elem, int64_t n_kv, int64_t kv_lora, int64_t n_rope, float scale, float *rowbuf) {
    const int64_t w = kv_lora + n_rope;
    for (int64_t j = 0; j < n_kv; j++) {
        const float *r = row_floats(cache, row_bytes, elem, j, kv_lora, n_rope, rowbuf);
        for (int64_t i = 0; i < n_q; i++) scores[i * n_kv + j] = scale * dot16(q + i * q_stride, r, w);
    }
}

void cs_mla_accumulate(float *out, int64_t out_stride, const float *p, int64_t n_q, int64_t n_kv, const void *cache,
                       size_t row_bytes, cs_type elem, int64_t kv_lora, float *rowbuf) {
    for (int64_t i = 0; i < n_q; i++) memset(out + i * out_stride, 0, (size_t)kv_lora * sizeof(float));
    for (int64_t j = 0; j < n_kv; j++) {
        /* only the latent part is needed: decode just that */
        const float *r = row_floats(cache, row_bytes, elem, j, kv_lora, 0, rowbuf);
        for (int64_t i = 0; i < n_q; i++) {
            axpy16(out + i * out_stride, p[i * n_kv + j], r, kv_lora);
        }
    }
}

void cs_mla_attend(float *out, int64_t out_stride, const float *q, int64_t n_q, int64_t q_stride, const void *cache,
                   size_t row_bytes, cs_type elem, int64_t n_kv, int64_t kv_lora, int64_t n_rope, float scale,
                   float *scores, float *rowbuf) {
    cs_mla_scores(scores, q, n_q, q_stride, cache, row_bytes, elem, n_kv, kv_lora, n_rope, scale, rowbuf);
    for (int64_t i = 0; i < n_q; i++) cs_softmax(scores + i * n_kv, n_kv);
    cs_mla_accumulate(out, out_stride, scores, n_q, n_kv, cache, row_bytes, elem, kv_lora, rowbuf);
}

void cs_matmul_heads(float *y, int64_t y_tstride, int64_t y_hstride, const float *x, int64_t x_tstride,
                     int64_t x_hstride, const void *w, cs_type wtype, int64_t w_head_rows, int64_t n_in, int64_t n_out,
                     int64_t n_head, int64_t n_tok, void *scratch) {
    const cs_type vt = cs_vec_dot_type(wtype);
    const size_t xrow = cs_row_size(vt, n_in), wrow = cs_row_size(wtype, n_in);
    const cs_vec_dot_fn dot = cs_vec_dot(wtype);
    char *xq = scratch;
    if (vt != CS_TYPE_F32) {
#pragma omp parallel for collapse(2) schedule(static) if (n_tok * n_head > 1)
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t h = 0; h < n_head; h++)
                cs_quantize_act(vt, x + t * x_tstride + h * x_hstride, xq + (size_t)(t * n_head + h) * xrow, n_in);
    }
    const char *wb = w;
    if (vt != CS_TYPE_F32 && n_tok >= CS_GEMM_MIN_TOK && cs_gemm_available(wtype)) {
        /* one GEMM per head, as cs_matmul would do it (same sums, same result);
         * its extras go after the activations, 64-byte aligned */
        void *work = (void *)(((uintptr_t)(xq + (size_t)(n_tok * n_head) * xrow) + 63) & ~(uintptr_t)63);
        for (int64_t h = 0; h < n_head; h++)
            cs_gemm_strided(y + h * y_hstride, y_tstride, xq + (size_t)h * xrow, (size_t)n_head * xrow,
                            wb + (size_t)(h * w_head_rows) * wrow, wtype, n_in, n_out, n_tok, work);
        return;
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t r = 0; r < n_out; r++) {
            const char *wr = wb + (size_t)(h * w_head_rows + r) * wrow;
            for (int64_t t = 0; t < n_tok; t++) {
                const void *xt = vt == CS_TYPE_F32 ? (const void *)(x + t * x_tstride + h * x_hstride)
                                                   : (const void *)(xq + (size_t)(t * n_head + h) * xrow);
                y[t * y_tstride + h * y_hstride + r] = dot(n_in, wr, xt);
            }
        }
}
