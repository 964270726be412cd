/* The MLA kernels (mla.c) against plain double-precision loops: the compressed
 * cache row encodings, latent attention over F32 / F16 / Q8_0 rows (sizes not
 * multiples of the block or vector width included), and the per-head matmul. */
#include <stdint.h>

#include "test.h"
#include "base/base.h"
#include "kernels/kernels.h"

static uint64_t rng = 0x2545f4914f6cdd1dull;
static float frand(void) { /* uniform in [-1, 1) */
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (float)((rng >> 11) * (1.0 / 9007199254740992.0) * 2.0 - 1.0);
}

static void row_bytes(void) {
    /* DeepSeek-V3: kv_lora 512 + rope 64 */
    CHECK(cs_mla_row_bytes(CS_TYPE_F32, 512, 64) == 2304);
    CHECK(cs_mla_row_bytes(CS_TYPE_F16, 512, 64) == 1152);
    CHECK(cs_mla_row_bytes(CS_TYPE_Q8_0, 512, 64) == 612);
    /* parts padded to whole blocks separately: 64 -> 2 blocks, 16 -> 1 block */
    CHECK(cs_mla_row_bytes(CS_TYPE_Q8_0, 64, 16) == 3 * 34);
    CHECK(cs_mla_row_bytes(CS_TYPE_Q4_0, 64, 16) == 0);
}

static void store_load_roundtrip(void) {
    const cs_type types[3] = {CS_TYPE_F32, CS_TYPE_F16, CS_TYPE_Q8_0};
    const double tol[3] = {0, 1e-3, 1.0 / 127 + 1e-6}; /* relative to the row's largest magnitude */
    const int64_t sizes[][2] = {{64, 16}, {512, 64}, {40, 6}, {33, 31}};
    for (int ti = 0; ti < 3; ti++)
        for (size_t si = 0; si < CS_ARRAY_LEN(sizes); si++) {
            int64_t kl = sizes[si][0], r = sizes[si][1];
            float lat[512], rope[64], back[576];
            for (int64_t i = 0; i < kl; i++) lat[i] = frand();
            for (int64_t i = 0; i < r; i++) rope[i] = 3 * frand();
            unsigned char row[2400];
            memset(row, 0xAB, sizeof row);
            size_t nb = cs_mla_row_bytes(types[ti], kl, r);
            CHECK(nb > 0 && nb <= sizeof row);
            cs_mla_store(row, types[ti], lat, rope, kl, r);
            CHECK(row[nb] == 0xAB); /* nothing written past the row */
            cs_mla_load(back, row, types[ti], kl, r);
            double err_l = 0, err_r = 0;
            for (int64_t i = 0; i < kl; i++) err_l = fmax(err_l, fabs(back[i] - lat[i]));
            for (int64_t i = 0; i < r; i++) err_r = fmax(err_r, fabs(back[kl + i] - rope[i]) / 3);
            CHECKF(err_l <= tol[ti] && err_r <= tol[ti], "type %d sizes %lld+%lld: errors %g %g", ti,
                   (long long)kl, (long long)r, err_l, err_r);
        }
}

/* double-precision latent attention over the decoded rows */
static void attend_ref(double *out, const float *q, int64_t n_q, const float *rows, int64_t n_kv, int64_t kl,
                       int64_t r, double scale) {
    double *s = malloc((size_t)n_kv * sizeof *s);
    for (int64_t i = 0; i < n_q; i++) {
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < n_kv; j++) {
            double d = 0;
            for (int64_t k = 0; k < kl + r; k++) d += (double)q[i * (kl + r) + k] * rows[j * (kl + r) + k];
            s[j] = d * scale;
            mx = fmax(mx, s[j]);
        }
        for (int64_t j = 0; j < n_kv; j++) sum += s[j] = exp(s[j] - mx);
        for (int64_t d = 0; d < kl; d++) {
            double o = 0;
            for (int64_t j = 0; j < n_kv; j++) o += s[j] / sum * rows[j * (kl + r) + d];
            out[i * kl + d] = o;
        }
    }
    free(s);
}

/* F16 rows decode exactly as cs_fp16_to_fp32, whichever conversion path the CPU gets */
static void f16_decode_exact(void) {
    static uint16_t bits[65536 + 7];
    static float got[65536 + 7];
    for (int i = 0; i < 65536 + 7; i++) bits[i] = (uint16_t)(i * 40503u); /* every pattern, plus a tail */
    cs_mla_load(got, bits, CS_TYPE_F16, 65536 + 7, 0);
    int bad = 0;
    for (int i = 0; i < 65536 + 7; i++) {
        float want = cs_fp16_to_fp32(bits[i]);
        uint32_t a, b;
        memcpy(&a, &got[i], 4);
        memcpy(&b, &want, 4);
        bad += a != b && !(isnan(got[i]) && isnan(want));
    }
    CHECKF(bad == 0, "%d of 65543 halves decode differently", bad);
}

static void attend_matches_reference(void) {
    const cs_type types[3] = {CS_TYPE_F32, CS_TYPE_F16, CS_TYPE_Q8_0};
    const int64_t shapes[][3] = {{64, 16, 37}, {512, 64, 5}, {40, 6, 1}, {23, 10, 70}}; /* kv_lora, rope, n_kv */
    for (int ti = 0; ti < 3; ti++)
        for (size_t si = 0; si < CS_ARRAY_LEN(shapes); si++) {
            int64_t kl = shapes[si][0], r = shapes[si][1], n_kv = shapes[si][2], n_q = 5, w = kl + r;
            size_t rb = cs_mla_row_bytes(types[ti], kl, r);
            if (!rb) continue; /* (unsupported combination) */
            unsigned char *cache = malloc(rb * (size_t)n_kv);
            float *rows = malloc((size_t)(n_kv * w) * sizeof(float));
            float *q = malloc((size_t)(n_q * w) * sizeof(float));
            float *out = malloc((size_t)(n_q * (kl + 3)) * sizeof(float));
            float *scores = malloc((size_t)(n_q * n_kv) * sizeof(float)), *rowbuf = malloc((size_t)w * 4);
            double *ref = malloc((size_t)(n_q * kl) * sizeof(double));
            float lat[512], rope[64];
            for (int64_t j = 0; j < n_kv; j++) {
                for (int64_t i = 0; i < kl; i++) lat[i] = frand();
                for (int64_t i = 0; i < r; i++) rope[i] = frand();
                cs_mla_store(cache + (size_t)j * rb, types[ti], lat, rope, kl, r);
                cs_mla_load(rows + j * w, cache + (size_t)j * rb, types[ti], kl, r); /* what the kernel sees */
            }
            for (int64_t i = 0; i < n_q * w; i++) q[i] = 2 * frand();
            float scale = 1.0f / sqrtf((float)w) * 3;
            cs_mla_attend(out, kl + 3, q, n_q, w, cache, rb, types[ti], n_kv, kl, r, scale, scores, rowbuf);
            attend_ref(ref, q, n_q, rows, n_kv, kl, r, scale);
            double err = 0;
            for (int64_t i = 0; i < n_q; i++)
                for (int64_t d = 0; d < kl; d++) err = fmax(err, fabs(out[i * (kl + 3) + d] - ref[i * kl + d]));
            CHECKF(err < 2e-6, "type %d shape %lld/%lld/%lld: max error %g", ti, (long long)kl, (long long)r,
                   (long long)n_kv, err);
            free(cache), free(rows), free(q), free(out), free(scores), free(rowbuf), free(ref);
        }
}

static void matmul_heads_matches_matmul(void) {
    /* per-head slices with a row offset and head stride, as MLA's W_UV inside attn_kv_b */
    const cs_type types[3] = {CS_TYPE_F32, CS_TYPE_F16, CS_TYPE_Q8_0};
    const int64_t n_head = 3, n_in = 64, n_out = 24, head_rows = 40, first = 16, n_tok = 4;
    for (int ti = 0; ti < 3; ti++) {
        size_t wrow = cs_row_size(types[ti], n_in);
        unsigned char *w = malloc(wrow * (size_t)(n_head * head_rows));
        float tmp[64];
        for (int64_t r = 0; r < n_head * head_rows; r++) {
            for (int64_t k = 0; k < n_in; k++) tmp[k] = frand();
            cs_quantize_row(types[ti], tmp, w + (size_t)r * wrow, n_in);
        }
        /* x: per token, heads n_in + 5 apart; y: heads n_out + 2 apart */
        const int64_t xh = n_in + 5, xt = n_head * xh, yh = n_out + 2, yt = n_head * yh;
        float *x = malloc((size_t)(n_tok * xt) * 4), *y = malloc((size_t)(n_tok * yt) * 4);
        float *xc = malloc((size_t)(n_tok * n_in) * 4), *yc = malloc((size_t)(n_tok * n_out) * 4);
        void *scratch = malloc((size_t)(n_tok * n_head * n_in) * 4);
        for (int64_t i = 0; i < n_tok * xt; i++) x[i] = frand();
        cs_matmul_heads(y, yt, yh, x, xt, xh, w + (size_t)first * wrow, types[ti], head_rows, n_in, n_out, n_head,
                        n_tok, scratch);
        double err = 0;
        for (int64_t h = 0; h < n_head; h++) {
            for (int64_t t = 0; t < n_tok; t++) memcpy(xc + t * n_in, x + t * xt + h * xh, (size_t)n_in * 4);
            cs_matmul(yc, xc, w + (size_t)(h * head_rows + first) * wrow, types[ti], n_in, n_out, n_tok, scratch);
            for (int64_t t = 0; t < n_tok; t++)
                for (int64_t r = 0; r < n_out; r++) err = fmax(err, fabs(yc[t * n_out + r] - y[t * yt + h * yh + r]));
        }
        CHECKF(err == 0, "type %d: differs from cs_matmul by %g", ti, err);
        free(w), free(x), free(y), free(xc), free(yc), free(scratch);
    }
}

int main(void) {
    RUN(row_bytes);
    RUN(store_load_roundtrip);
    RUN(f16_decode_exact);
    RUN(attend_matches_reference);
    RUN(matmul_heads_matches_matmul);
    TEST_END();
}
