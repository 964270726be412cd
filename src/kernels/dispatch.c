/* The dot product chosen for this CPU: the best ISA variant cs_cpu() allows,
 * else the scalar reference. */
#include "kernels.h"
#include "simd_k.h"

cs_vec_dot_fn cs_vec_dot(cs_type wtype) {
    const cs_cpu_info *c = cs_cpu();
    cs_vec_dot_fn f = NULL;
    /* k-quants (dotk_*.c) */
    if (c->isa == CS_ISA_AVX512) f = cs_vec_dot_k_avx512(wtype);
    if (!f && (c->isa == CS_ISA_AVX512 || c->isa == CS_ISA_AVX2)) f = cs_vec_dot_k_avx2(wtype);
    return f ? f : cs_vec_dot_ref(wtype);
}
