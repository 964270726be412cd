/* Elementwise kernels: norms, activations, RoPE, attention. Scalar C written so
 * the compiler vectorises the inner loops; the matmuls are where time goes. */
#include <math.h>

#include "../base/base.h"
#include "kernels.h"

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
    if (elem_type == CS_TYPE_F16) {
        uint16_t *d = dst;
        for (int64_t i = 0; i < n; i++) d[i] = cs_fp32_to_fp16(src[i]);
    } else {
        memcpy(dst, src, (size_t)n * sizeof(float));
    }
}

static float dot_f32_cache(const float *q, const void *k, cs_type t, int64_t n) {
    float s = 0.0f;
    if (t == CS_TYPE_F16) {
        const uint16_t *kh = k;
        for (int64_t i = 0; i < n; i++) s += q[i] * cs_fp16_to_fp32(kh[i]);
    } else {
        const float *kf = k;
        for (int64_t i = 0; i < n; i++) s += q[i] * kf[i];
    }
    return s;
}

void cs_attend(float *out, const float *q, const void *k, const void *v, cs_type t, int64_t n_kv, int64_t k_dim,
               int64_t v_dim, int64_t k_stride, int64_t v_stride, float scale, float *scores) {
    size_t esz = t == CS_TYPE_F16 ? 2 : 4;
    for (int64_t j = 0; j < n_kv; j++)
        scores[j] = scale * dot_f32_cache(q, (const char *)k + (size_t)j * k_stride * esz, t, k_dim);
    cs_softmax(scores, n_kv);
    for (int64_t d = 0; d < v_dim; d++) out[d] = 0.0f;
    for (int64_t j = 0; j < n_kv; j++) {
        float p = scores[j];
        const char *vr = (const char *)v + (size_t)j * v_stride * esz;
        if (t == CS_TYPE_F16) {
            const uint16_t *vh = (const uint16_t *)vr;
            for (int64_t d = 0; d < v_dim; d++) out[d] += p * cs_fp16_to_fp32(vh[d]);
        } else {
            const float *vf = (const float *)vr;
            for (int64_t d = 0; d < v_dim; d++) out[d] += p * vf[d];
        }
    }
}
