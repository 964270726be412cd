/* SIMD dot products for the k-quants (Q4_K, Q5_K, Q6_K against Q8_K
 * activations) and the SIMD Q8_K activation quantizer. Internal to kernels/.
 *
 * The lookups return NULL for types they do not implement, and on targets
 * without the ISA, so the caller falls back to the next level. They do not
 * check the CPU themselves except where noted: call them only when cs_cpu()
 * says the level is there. */
#ifndef CS_KERNELS_SIMD_K_H
#define CS_KERNELS_SIMD_K_H

#include <stdint.h>
#include <string.h>

#include "kernels.h"

/* AVX2 + FMA (dotk_avx2.c). */
cs_vec_dot_fn cs_vec_dot_k_avx2(cs_type wtype);
/* AVX-512 F/BW/VL/DQ + VNNI (dotk_avx512.c). NULL when the CPU lacks VNNI:
 * the AVX2 kernels are then the better choice anyway (Skylake-X). */
cs_vec_dot_fn cs_vec_dot_k_avx512(cs_type wtype);

/* Byte-identical to cs_quantize_row_q8_K; y: n / QK_K block_q8_K. On targets
 * without AVX2 it is the reference. */
void cs_quantize_row_q8_K_avx2(const float *x, void *y, int64_t n);

/* The 6-bit scales and mins of a q4_K/q5_K block (layout in types.c) as two
 * groups of 8 bytes: out[0..1] = scales 0-7, out[2..3] = mins 0-7. Works on
 * 4-byte words, so little-endian only (all our SIMD targets). */
static inline void cs_kq_unpack_scales(const uint8_t *s, uint32_t out[4]) {
    uint32_t w0, w1, w2;
    memcpy(&w0, s, 4);
    memcpy(&w1, s + 4, 4);
    memcpy(&w2, s + 8, 4);
    out[0] = w0 & 0x3f3f3f3fu;                                        /* sc 0-3: low 6 bits of bytes 0-3 */
    out[1] = (w2 & 0x0f0f0f0fu) | ((w0 >> 6) & 0x03030303u) << 4;     /* sc 4-7: nibble + top bits of 0-3 */
    out[2] = w1 & 0x3f3f3f3fu;                                        /* m 0-3: low 6 bits of bytes 4-7 */
    out[3] = ((w2 >> 4) & 0x0f0f0f0fu) | ((w1 >> 6) & 0x03030303u) << 4; /* m 4-7 */
}

#endif
