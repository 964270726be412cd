/* Kernel choice per CPU: for each type the best level cs_cpu() allows that
 * implements it, AVX-512 -> AVX2 -> reference on x86, NEON -> reference on
 * ARM. The lookups are a switch each, cheap enough to do per matmul call;
 * CSEEK_ISA lowers the level for comparisons. simd.h: the Q8_0 family and
 * the float types; simd_k.h: the k-quants; simd_neon.h: ARM. */
#include "kernels.h"
#include "simd.h"
#include "simd_k.h"
#include "simd_neon.h"

cs_vec_dot_fn cs_vec_dot(cs_type wtype) {
    const cs_cpu_info *c = cs_cpu();
    const bool avx512 = c->isa == CS_ISA_AVX512, avx2 = avx512 || c->isa == CS_ISA_AVX2;
    cs_vec_dot_fn f = NULL;
    if (avx512) f = cs_vec_dot_avx512(wtype);
    if (avx512 && !f) f = cs_vec_dot_k_avx512(wtype);
    if (avx2 && !f) f = cs_vec_dot_avx2(wtype);
    if (avx2 && !f) f = cs_vec_dot_k_avx2(wtype);
    if (c->isa == CS_ISA_NEON) f = cs_vec_dot_neon(wtype);
    return f ? f : cs_vec_dot_ref(wtype);
}

void cs_quantize_act(cs_type vt, const float *x, void *dst, int64_t n) {
    const cs_cpu_info *c = cs_cpu();
    const bool avx512 = c->isa == CS_ISA_AVX512, avx2 = avx512 || c->isa == CS_ISA_AVX2;
    cs_quantize_fn f = NULL;
    if (avx512) f = cs_quantize_avx512(vt);
    if (avx2 && !f) f = cs_quantize_avx2(vt);
    if (avx2 && !f && vt == CS_TYPE_Q8_K) f = cs_quantize_row_q8_K_avx2;
    if (c->isa == CS_ISA_NEON && vt == CS_TYPE_Q8_0) f = cs_quantize_row_q8_0_neon;
    if (f) f(x, dst, n);
    else cs_quantize_row(vt, x, dst, n);
}

cs_vec_dot_n_fn cs_vec_dot_n(cs_type wtype) {
    const cs_isa isa = cs_cpu()->isa;
    return isa == CS_ISA_AVX2 || isa == CS_ISA_AVX512 ? cs_vec_dot_n_avx2(wtype) : NULL;
}
