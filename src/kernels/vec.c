/* The scalar reference of vec.h and the choice per CPU. */
#include "../base/base.h"
#include "kernels.h"
#include "vec.h"

static void axpy_ref(float *y, float a, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void axpy_f16_ref(float *y, float a, const uint16_t *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += a * cs_fp16_to_fp32(x[i]);
}

static void f16_to_f32_ref(float *dst, const uint16_t *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = cs_fp16_to_fp32(src[i]);
}

static void f32_to_f16_ref(uint16_t *dst, const float *src, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = cs_fp32_to_fp16(src[i]);
}

static const cs_vec_ops ref_ops = {axpy_ref, axpy_f16_ref, f16_to_f32_ref, f32_to_f16_ref};

const cs_vec_ops *cs_vec_ref(void) { return &ref_ops; }

const cs_vec_ops *cs_vec(void) {
    const cs_isa isa = cs_cpu()->isa;
    const cs_vec_ops *o = NULL;
    if (isa == CS_ISA_AVX2 || isa == CS_ISA_AVX512) o = cs_vec_avx2();
    return o ? o : &ref_ops;
}
