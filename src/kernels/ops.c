/* Elementwise kernels: norms, activations, RoPE, attention. Scalar C written so
 * the compiler vectorises the inner loops; the matmuls are where time goes. */
#include <math.h>
#include <string.h>

#include "../base/base.h"
#include "kernels.h"
#include "vec.h"

void cs_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps) {
    double ss = 0.0; /* double: the sum of squares of a long row loses bits in float */
    for (int64_t i = 0; i < n; i++) ss += (double)x[i] * x[i];
    float scale = (float)(1.0 / sqrt(ss / (double)n + (double)eps));
    if (w)
        for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale * w[i];
    else
        for (int64_t i = 0; i < n; i++) out[i] = x[i] * scale;
}

void cs_softmax(float *x, int64_t n) {
    if (n <= 0) return;
    float mx = x[0];
    for (int64_t i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double sum = 0.0;
    for (int64_t i = 0; i < n; i++) {
        x[i] = expf(x[i] - mx);
        sum += x[i];
    }
    float inv = (float)(1.0 / sum);
    for (int64_t i = 0; i < n; i++) x[i] *= inv;
}

void cs_swiglu(float *gate, const float *up, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float g = gate[i];
        gate[i] = g / (1.0f + expf(-g)) * up[i];
    }
}

void cs_add(float *y, const float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++) y[i] += x[i];
}

void cs_rope(float *v, int64_t n_rot, const float *freqs, int64_t pos, int neox) {
    int64_t half = n_rot / 2;
    for (int64_t i = 0; i < half; i++) {
        float a = (float)pos * freqs[i];
        float c = cosf(a), s = sinf(a);
        int64_t i0 = neox ? i : 2 * i;
        int64_t i1 = neox ? i + half : 2 * i + 1;
        float x0 = v[i0], x1 = v[i1];
        v[i0] = x0 * c - x1 * s;
        v[i1] = x0 * s + x1 * c;
    }
}

void cs_get_row(float *out, const void *w, cs_type wtype, int64_t n_in, int64_t r) {
    size_t rs = cs_row_size(wtype, n_in);
    cs_dequantize_row(wtype, (const char *)w + (size_t)r * rs, out, n_in);
}

void cs_store_row(void *dst, cs_type elem_type, const float *src, int64_t n) {
    if (elem_type == CS_TYPE_F16) cs_vec()->f32_to_f16(dst, src, n);
    else memcpy(dst, src, (size_t)n * sizeof(float));
}

/* The rows are F32 or F16 (the KV cache's element type): the scores are the
 * dispatched F32 / F16 dots (cache row as the "weights", q as the activations),
 * the weighted sum vec.h's axpys, so CSEEK_ISA=scalar gives the reference. */
void cs_attend(float *out, const float *q, const void *k, const void *v, cs_type t, int64_t n_kv, int64_t k_dim,
               int64_t v_dim, int64_t k_stride, int64_t v_stride, float scale, float *scores) {
    const cs_vec_ops *o = cs_vec();
    const cs_vec_dot_fn dot = cs_vec_dot(t);
    const size_t esz = t == CS_TYPE_F16 ? 2 : 4;
    for (int64_t j = 0; j < n_kv; j++) scores[j] = scale * dot(k_dim, (const char *)k + (size_t)(j * k_stride) * esz, q);
    cs_softmax(scores, n_kv);
    memset(out, 0, (size_t)v_dim * sizeof(float));
    if (t == CS_TYPE_F16)
        for (int64_t j = 0; j < n_kv; j++) o->axpy_f16(out, scores[j], (const uint16_t *)v + j * v_stride, v_dim);
    else
        for (int64_t j = 0; j < n_kv; j++) o->axpy(out, scores[j], (const float *)v + j * v_stride, v_dim);
}
