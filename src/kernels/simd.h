/* Internal to kernels/: the per-ISA kernel tables behind cs_vec_dot and
 * cs_quantize_act (dispatch.c). Each lookup returns NULL for a type its file
 * does not implement (and on targets the file is not built for), so dispatch
 * falls back one level: AVX-512 -> AVX2 -> reference. A lookup may only be
 * called, and its kernels run, when cs_cpu() reports that level. */
#ifndef CS_KERNELS_SIMD_H
#define CS_KERNELS_SIMD_H

#include <stdbool.h>

#include "../base/base.h"
#include "kernels.h"

/* Convert one activation row of n floats to a vec-dot type (byte-identical to
 * cs_quantize_row for that type). */
typedef void (*cs_quantize_fn)(const float *x, void *dst, int64_t n);

/* AVX2 + FMA + F16C (dot_avx2.c). */
cs_vec_dot_fn cs_vec_dot_avx2(cs_type wtype);
cs_quantize_fn cs_quantize_avx2(cs_type vt);

/* AVX-512 F/BW/VL/DQ (dot_avx512.c). The integer dots need AVX512-VNNI: without
 * it (cs_cpu()->vnni false) the lookup returns NULL for them. */
cs_vec_dot_fn cs_vec_dot_avx512(cs_type wtype);
cs_quantize_fn cs_quantize_avx512(cs_type vt);

/* BF16 dot with AVX512-BF16 `vdpbf16ps`: rounds the F32 activations to bf16
 * first, so it is less accurate than the reference (relative error ~2^-9 per
 * term); not dispatched, kept for comparison. NULL unless cs_cpu()->bf16. */
cs_vec_dot_fn cs_vec_dot_bf16_avx512bf16(void);

/* Q8_0 dot with VNNI: correct, but slower on Zen 4 than the AVX2 one, so
 * cs_vec_dot_avx512(Q8_0) returns NULL and dispatch uses AVX2. NULL unless
 * cs_cpu()->vnni. */
cs_vec_dot_fn cs_vec_dot_q8_0_avx512vnni(void);

/* One weight row against n_x <= CS_DOTN_MAX activation rows of Q8_0 blocks
 * (x_stride bytes apart), whose block scales are also given as floats
 * (dx: dx_stride floats apart, cs_dotn_scales): out[t] = dot(w, x_t), as
 * cs_vec_dot gives it up to float summation order (dotn_avx2.c; NULL for
 * types without one). */
#define CS_DOTN_MAX 4
typedef void (*cs_vec_dot_n_fn)(int64_t n, const void *w, const void *x, size_t x_stride, const float *dx,
                                size_t dx_stride, int n_x, float *out);
cs_vec_dot_n_fn cs_vec_dot_n_avx2(cs_type wtype);
/* A given variant, for tests: vnni picks the AVX512-VNNI one (call it only
 * when cs_cpu()->vnni). */
cs_vec_dot_n_fn cs_vec_dot_n_avx2_path(cs_type wtype, bool vnni);
/* The one for this CPU, NULL when there is none (dispatch.c). */
cs_vec_dot_n_fn cs_vec_dot_n(cs_type wtype);

/* The float scales of n_rows rows of Q8_0 blocks (rows x_stride bytes
 * apart, nb blocks each) into dx, row after row (nb floats each). */
static inline void cs_dotn_scales(float *dx, const char *x, size_t x_stride, int64_t n_rows, int64_t nb) {
    for (int64_t r = 0; r < n_rows; r++) {
        const block_q8_0 *b = (const block_q8_0 *)(x + (size_t)r * x_stride);
        for (int64_t i = 0; i < nb; i++) dx[r * nb + i] = cs_fp16_to_fp32(b[i].d);
    }
}

/* One weight row wr against n_tok activation rows (xq + t * x_stride, in the
 * vec-dot type): y[t * y_tstride] = wr . x_t, CS_DOTN_MAX tokens per dotn call
 * where there is one (dotn may be NULL; dx then unused: the scales of the rows,
 * dx_stride floats apart), the rest one dot each. cs_matmul and
 * cs_matmul_heads both go through here, so they give the same sums. */
static inline void cs_dot_row_tokens(float *y, int64_t y_tstride, const void *wr, const char *xq, size_t x_stride,
                                     const float *dx, size_t dx_stride, int64_t n_in, int64_t n_tok,
                                     cs_vec_dot_fn dot, cs_vec_dot_n_fn dotn) {
    int64_t t = 0;
    if (dotn && n_tok > 1)
        for (; t < n_tok; t += CS_DOTN_MAX) {
            int k = n_tok - t < CS_DOTN_MAX ? (int)(n_tok - t) : CS_DOTN_MAX;
            float o[CS_DOTN_MAX];
            dotn(n_in, wr, xq + (size_t)t * x_stride, x_stride, dx + (size_t)t * dx_stride, dx_stride, k, o);
            for (int i = 0; i < k; i++) y[(t + i) * y_tstride] = o[i];
        }
    for (; t < n_tok; t++) y[t * y_tstride] = dot(n_in, wr, xq + (size_t)t * x_stride);
}

#endif
