/* Matrix multiply over quantized weights: activations are converted once to
 * the weight type's vec-dot type. For a batch of tokens and a weight type with
 * a tiled kernel (gemm.h), the tiled GEMM takes it from there; otherwise every
 * output row is one dot product per token (a few tokens at a time where a
 * multi-row dot exists: simd.h's cs_vec_dot_n), rows split across threads,
 * each row's bytes read once and reused for all tokens while they sit in L1. */
#include "../base/base.h"
#include "gemm.h"
#include "kernels.h"
#include "simd.h"

void cs_matmul(float *y, const float *x, const void *w, cs_type wtype, int64_t n_in, int64_t n_out, int64_t n_tok,
               void *scratch) {
    cs_type vt = cs_vec_dot_type(wtype);
    size_t xrow = cs_row_size(vt, n_in);
    size_t wrow = cs_row_size(wtype, n_in);
    const char *xq = (const char *)x;
    if (vt != CS_TYPE_F32) {
        char *buf = scratch;
#pragma omp parallel for schedule(static) if (n_tok > 1)
        for (int64_t t = 0; t < n_tok; t++) cs_quantize_act(vt, x + t * n_in, buf + (size_t)t * xrow, n_in);
        xq = buf;
        if (n_tok >= CS_GEMM_MIN_TOK && cs_gemm_available(wtype)) {
            /* the GEMM's extras go after the activations, 64-byte aligned; they
             * fit: quantized rows are <= 1.2 n_in bytes of the 4 n_in per token */
            uintptr_t at = ((uintptr_t)(buf + (size_t)n_tok * xrow) + 63) & ~(uintptr_t)63;
            if (cs_gemm(y, xq, w, wtype, n_in, n_out, n_tok, (void *)at)) return;
        }
    }
    cs_vec_dot_fn dot = cs_vec_dot(wtype);
    cs_vec_dot_n_fn dotn = vt != CS_TYPE_F32 && n_tok > 1 ? cs_vec_dot_n(wtype) : NULL;
    float *dx = NULL; /* the activations' block scales as floats, after them in scratch (they fit) */
    const int64_t nb = n_in / QK8_0;
    if (dotn) {
        dx = (float *)(((uintptr_t)((char *)scratch + (size_t)n_tok * xrow) + 63) & ~(uintptr_t)63);
        cs_dotn_scales(dx, xq, xrow, n_tok, nb);
    }
    const char *wb = w;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n_out; r++)
        cs_dot_row_tokens(y + r, n_out, wb + (size_t)r * wrow, xq, xrow, dx, (size_t)nb, n_in, n_tok, dot, dotn);
}
