/* Matrix multiply over quantized weights: activations are converted once to
 * the weight type's vec-dot type, then every output row is one dot product
 * per token. Rows are split across threads; for each row the weight bytes are
 * read once and reused for all tokens of the batch while they sit in L1. */
#include "../base/base.h"
#include "kernels.h"
#include "simd_k.h"

/* Activation conversion: the SIMD Q8_K quantizer (byte-identical to the
 * reference) where the CPU has AVX2, else the reference. */
static void quantize_act(cs_type vt, const float *x, void *y, int64_t n) {
    const cs_isa isa = cs_cpu()->isa;
    if (vt == CS_TYPE_Q8_K && (isa == CS_ISA_AVX2 || isa == CS_ISA_AVX512)) cs_quantize_row_q8_K_avx2(x, y, n);
    else cs_quantize_row(vt, x, y, n);
}

void cs_matmul(float *y, const float *x, const void *w, cs_type wtype, int64_t n_in, int64_t n_out, int64_t n_tok,
               void *scratch) {
    cs_type vt = cs_vec_dot_type(wtype);
    size_t xrow = cs_row_size(vt, n_in);
    size_t wrow = cs_row_size(wtype, n_in);
    cs_vec_dot_fn dot = cs_vec_dot(wtype);
    const char *xq = (const char *)x;
    if (vt != CS_TYPE_F32) {
        char *buf = scratch;
#pragma omp parallel for schedule(static) if (n_tok > 1)
        for (int64_t t = 0; t < n_tok; t++) quantize_act(vt, x + t * n_in, buf + (size_t)t * xrow, n_in);
        xq = buf;
    }
    const char *wb = w;
#pragma omp parallel for schedule(static)
    for (int64_t r = 0; r < n_out; r++) {
        const char *wr = wb + (size_t)r * wrow;
        for (int64_t t = 0; t < n_tok; t++) y[t * n_out + r] = dot(n_in, wr, xq + (size_t)t * xrow);
    }
}
