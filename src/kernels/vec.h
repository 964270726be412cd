/* Internal to kernels/: float vector primitives for attention (dense and MLA)
 * over cache rows, chosen once per CPU like the dots: AVX2+FMA+F16C where
 * cs_cpu() allows it, else portable C. The reference (cs_vec_ref) is plain
 * sequential C; the SIMD variants only round differently (FMA). The dot
 * products are not here: cs_vec_dot(CS_TYPE_F32 / CS_TYPE_F16) are them. */
#ifndef CS_KERNELS_VEC_H
#define CS_KERNELS_VEC_H

#include <stdint.h>

typedef struct {
    void (*axpy)(float *y, float a, const float *x, int64_t n);      /* y += a x */
    void (*axpy_f16)(float *y, float a, const uint16_t *x, int64_t n);
    void (*f16_to_f32)(float *dst, const uint16_t *src, int64_t n);  /* exact */
    void (*f32_to_f16)(uint16_t *dst, const float *src, int64_t n);  /* round to nearest even */
} cs_vec_ops;

/* The ops for this CPU (never NULL). */
const cs_vec_ops *cs_vec(void);
/* The scalar reference. */
const cs_vec_ops *cs_vec_ref(void);
/* AVX2 + FMA + F16C (vec_avx2.c); NULL where not built. Call only when
 * cs_cpu() reports AVX2 or better. */
const cs_vec_ops *cs_vec_avx2(void);

#endif
