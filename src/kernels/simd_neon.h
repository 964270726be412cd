/* ARM NEON kernels (dot_neon.c): internal to kernels/, picked by the dispatch
 * when cs_cpu()->isa == CS_ISA_NEON. On other targets they compile to stubs. */
#ifndef CS_SIMD_NEON_H
#define CS_SIMD_NEON_H

#include <stdbool.h>
#include <stdint.h>

#include "kernels.h"

/* The NEON dot for a weight type (against its vec-dot type, as cs_vec_dot_ref):
 * F32, F16, Q4_0, Q8_0, Q4_K, Q5_K, Q6_K; NULL for other types and on CPUs
 * without NEON. Uses SDOT when cs_cpu()->dotprod says the CPU has it. */
cs_vec_dot_fn cs_vec_dot_neon(cs_type wtype);

/* One path explicitly, for tests and comparisons: sdot = true gives the SDOT
 * kernels (NULL if this compiler could not build them; calling them on a CPU
 * without dotprod is SIGILL), false the plain ARMv8 widening-multiply ones. */
cs_vec_dot_fn cs_vec_dot_neon_path(cs_type wtype, bool sdot);

/* F32 row -> Q8_0 blocks, byte-identical to cs_quantize_row_q8_0 (n / 32
 * whole blocks are written). Without NEON it is the reference itself. */
void cs_quantize_row_q8_0_neon(const float *x, void *y, int64_t n);

#endif
