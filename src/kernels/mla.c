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
 * to floats once and used by every query of the call; the dispatched F32 dot
 * and vec.h's primitives (SIMD where the CPU has it) do the inner loops. */
#include <math.h>
#include <string.h>

#include "../base/base.h"
#include "kernels.h"
#include "gemm.h"
#include "simd.h"
#include "vec.h"

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

static void store_part(void *dst, cs_type elem, const float *src, int64_t n) {
    if (elem == CS_TYPE_F32) {
        memcpy(dst, src, (size_t)n * 4);
    } else if (elem == CS_TYPE_F16) {
        cs_vec()->f32_to_f16(dst, src, n);
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
        cs_vec()->f16_to_f32(dst, src, n);
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
    const cs_vec_dot_fn dot = cs_vec_dot(CS_TYPE_F32);
    for (int64_t j = 0; j < n_kv; j++) {
        const float *r = row_floats(cache, row_bytes, elem, j, kv_lora, n_rope, rowbuf);
        for (int64_t i = 0; i < n_q; i++) scores[i * n_kv + j] = scale * dot(w, r, q + i * q_stride);
    }
}

void cs_mla_accumulate(float *out, int64_t out_stride, const float *p, int64_t n_q, int64_t n_kv, const void *cache,
                       size_t row_bytes, cs_type elem, int64_t kv_lora, float *rowbuf) {
    const cs_vec_ops *o = cs_vec();
    for (int64_t i = 0; i < n_q; i++) memset(out + i * out_stride, 0, (size_t)kv_lora * sizeof(float));
    for (int64_t j = 0; j < n_kv; j++) {
        /* only the latent part is needed: decode just that */
        const float *r = row_floats(cache, row_bytes, elem, j, kv_lora, 0, rowbuf);
        for (int64_t i = 0; i < n_q; i++) {
            o->axpy(out + i * out_stride, p[i * n_kv + j], r, kv_lora);
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
    const cs_vec_dot_n_fn dotn = vt != CS_TYPE_F32 && n_tok > 1 ? cs_vec_dot_n(wtype) : NULL;
    float *dx = NULL; /* block scales as floats, after the activations (row t*n_head + h) */
    const int64_t nb = n_in / QK8_0;
    if (dotn) {
        dx = (float *)(((uintptr_t)(xq + (size_t)(n_tok * n_head) * xrow) + 63) & ~(uintptr_t)63);
        cs_dotn_scales(dx, xq, xrow, n_tok * n_head, nb);
    }
#pragma omp parallel for collapse(2) schedule(static)
    for (int64_t h = 0; h < n_head; h++)
        for (int64_t r = 0; r < n_out; r++) {
            const char *wr = wb + (size_t)(h * w_head_rows + r) * wrow;
            float *yr = y + h * y_hstride + r;
            if (vt == CS_TYPE_F32) /* the float rows as they lie, x_tstride floats apart */
                cs_dot_row_tokens(yr, y_tstride, wr, (const char *)(x + h * x_hstride), (size_t)x_tstride * 4, NULL,
                                  0, n_in, n_tok, dot, NULL);
            else
                cs_dot_row_tokens(yr, y_tstride, wr, xq + (size_t)h * xrow, (size_t)n_head * xrow,
                                  dx ? dx + h * nb : NULL, (size_t)(n_head * nb), n_in, n_tok, dot, dotn);
        }
}
