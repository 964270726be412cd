/* Tiled GEMM driver: panel packing (portable C, shared by the ISA kernels),
 * the Q8_0 activation extras, threading over panels, dispatch, and the scalar
 * reference. The layouts are described in gemm.h. */
#include <stdlib.h>
#include <string.h>

#include <omp.h>

#include "../base/base.h"
#include "gemm.h"

static inline uint32_t ld32(const void *p) {
    uint32_t v;
    memcpy(&v, p, 4);
    return v;
}
static inline void st32(void *p, uint32_t v) { memcpy(p, &v, 4); }

/* fp16 -> fp32 inline for normal numbers (every weight scale, in practice);
 * zero, subnormals, inf and NaN take the library's full conversion. */
static inline float h2f(uint16_t h) {
    uint32_t e = (h >> 10) & 31;
    if (e == 0 || e == 31) return cs_fp16_to_fp32(h);
    uint32_t bits = (uint32_t)(h & 0x8000) << 16 | (e + 112) << 23 | (uint32_t)(h & 0x3ff) << 13;
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

/* ---- packing: n rows of w (wrow bytes apart) into one panel --------------- */

/* Rows outer, blocks inner: each weight row is read as one sequential stream
 * (32 interleaved row streams defeat the prefetchers and leave the packing
 * bound by memory latency); the panel being written sits in L2. */
static void pack_q8_0(uint8_t *p, const char *w, size_t wrow, int nrows, int64_t n_in) {
    const int64_t nb = n_in / QK8_0;
    for (int r = 0; r < CS_GEMM_ROWS; r++) {
        const block_q8_0 *blk = (const block_q8_0 *)(w + (size_t)r * wrow);
        uint8_t *q = p + (r / 16) * 512 + (r % 16) * 4;
        float *d = (float *)(p + 2 * 8 * 64) + r;
        for (int64_t b = 0; b < nb; b++, q += CS_GEMM_Q8_0_BLOCK, d += CS_GEMM_Q8_0_BLOCK / 4) {
            if (r >= nrows) { /* padding: w = 0, scale 0 */
                for (int k = 0; k < 8; k++) st32(q + 64 * k, 0x80808080u);
                *d = 0;
                continue;
            }
            /* s8 -> u8 + 128 is a flip of each byte's top bit */
            for (int k = 0; k < 8; k++) st32(q + 64 * k, ld32(blk[b].qs + 4 * k) ^ 0x80808080u);
            *d = h2f(blk[b].d);
        }
    }
}

/* 6-bit scale and min of sub-block j of a q4_K block (as dot_ref.c). */
static inline void kq_scale_min(int j, const uint8_t *s, int *sc, int *m) {
    if (j < 4) {
        *sc = s[j] & 63;
        *m = s[j + 4] & 63;
    } else {
        *sc = (s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4);
        *m = (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
    }
}

static void pack_q4_K(uint8_t *p0, const char *w, size_t wrow, int nrows, int64_t n_in) {
    const int64_t nsb = n_in / QK_K;
    memset(p0, 0, (size_t)nsb * CS_GEMM_Q4_K_SB); /* padding rows: all zero */
    for (int r = 0; r < nrows; r++)
        for (int64_t s = 0; s < nsb; s++) {
            uint8_t *p = p0 + s * CS_GEMM_Q4_K_SB;
            float *dsc = (float *)(p + 8192);
            int16_t *mins = (int16_t *)(p + 8192 + 1024);
            float *dmin = (float *)(p + 8192 + 1024 + 1024);
            const block_q4_K *blk = (const block_q4_K *)(w + (size_t)r * wrow) + s;
            const int u = r / 16, l = r % 16;
            const float d = h2f(blk->d);
            for (int j = 0; j < 8; j++) {
                /* sub-block j: low (even j) or high (odd j) nibbles of qs[32 (j/2) ..] */
                const uint8_t *q = blk->qs + 32 * (j / 2);
                uint8_t *o = p + (2 * j + u) * 512 + l * 4;
                for (int k = 0; k < 8; k++) {
                    uint32_t v = ld32(q + 4 * k);
                    st32(o + 64 * k, ((j & 1) ? v >> 4 : v) & 0x0f0f0f0fu);
                }
                int sc, m;
                kq_scale_min(j, blk->scales, &sc, &m);
                dsc[32 * j + r] = d * sc;
                /* (m_j, m_j) pairs meet the bsums pairs (b_2j, b_2j+1) in one dpwssd */
                mins[u * 256 + j * 32 + l * 2] = (int16_t)m;
                mins[u * 256 + j * 32 + l * 2 + 1] = (int16_t)m;
            }
            dmin[r] = h2f(blk->dmin);
        }
}

static void pack_q6_K(uint8_t *p0, const char *w, size_t wrow, int nrows, int64_t n_in) {
    const int64_t nsb = n_in / QK_K;
    memset(p0, 0, (size_t)nsb * CS_GEMM_Q6_K_SB);
    for (int r = 0; r < nrows; r++)
        for (int64_t s = 0; s < nsb; s++) {
            uint8_t *p = p0 + s * CS_GEMM_Q6_K_SB;
            float *dsc = (float *)(p + 8192);
            const block_q6_K *blk = (const block_q6_K *)(w + (size_t)r * wrow) + s;
            const int u = r / 16, l = r % 16;
            const float d = h2f(blk->d);
            for (int g = 0; g < 16; g++) {
                /* group g = elements 16g..16g+15: half h, quarter qq, offset lo */
                const int h = g / 8, qq = (g % 8) / 2, lo = (g % 2) * 16;
                const uint8_t *ql = blk->ql + 64 * h + (qq & 1) * 32 + lo;
                const uint8_t *qh = blk->qh + 32 * h + lo;
                uint8_t *o = p + (2 * g + u) * 256 + l * 4;
                for (int k = 0; k < 4; k++) {
                    uint32_t a = ld32(ql + 4 * k), b = ld32(qh + 4 * k);
                    uint32_t v = ((qq >= 2 ? a >> 4 : a) & 0x0f0f0f0fu) | (((b >> (2 * qq)) & 0x03030303u) << 4);
                    st32(o + 64 * k, v);
                }
                dsc[32 * g + r] = d * blk->scales[g];
            }
        }
}

typedef void (*pack_fn)(uint8_t *p, const char *w, size_t wrow, int nrows, int64_t n_in);

static size_t panel_bytes(cs_type t, int64_t n_in) {
    switch (t) {
    case CS_TYPE_Q8_0: return (size_t)(n_in / QK8_0) * CS_GEMM_Q8_0_BLOCK;
    case CS_TYPE_Q4_K: return (size_t)(n_in / QK_K) * CS_GEMM_Q4_K_SB;
    case CS_TYPE_Q6_K: return (size_t)(n_in / QK_K) * CS_GEMM_Q6_K_SB;
    default: return 0;
    }
}

static pack_fn packer(cs_type t) {
    switch (t) {
    case CS_TYPE_Q8_0: return pack_q8_0;
    case CS_TYPE_Q4_K: return pack_q4_K;
    case CS_TYPE_Q6_K: return pack_q6_K;
    default: return NULL;
    }
}

/* ---- dispatch -------------------------------------------------------------- */

cs_gemm_panel_fn cs_gemm_kernel(cs_isa isa, cs_type wtype) {
#if defined(__x86_64__)
    const cs_cpu_info *c = cs_cpu();
    if (isa == CS_ISA_AVX512 && c->isa == CS_ISA_AVX512 && c->vnni) {
        switch (wtype) {
        case CS_TYPE_Q8_0: return cs_gemm_q8_0_avx512;
        case CS_TYPE_Q4_K: return cs_gemm_q4_K_avx512;
        case CS_TYPE_Q6_K: return cs_gemm_q6_K_avx512;
        default: return NULL;
        }
    }
    if (isa == CS_ISA_AVX2 && (c->isa == CS_ISA_AVX2 || c->isa == CS_ISA_AVX512)) {
        switch (wtype) {
        case CS_TYPE_Q8_0: return cs_gemm_q8_0_avx2;
        case CS_TYPE_Q4_K: return cs_gemm_q4_K_avx2;
        case CS_TYPE_Q6_K: return cs_gemm_q6_K_avx2;
        default: return NULL;
        }
    }
#else
    (void)isa;
    (void)wtype;
#endif
    return NULL;
}

/* The best level this CPU allows: AVX-512 (with VNNI) first, then AVX2. */
static cs_gemm_panel_fn best_kernel(cs_type wtype) {
    const cs_cpu_info *c = cs_cpu();
    cs_gemm_panel_fn f = NULL;
    if (c->isa == CS_ISA_AVX512) f = cs_gemm_kernel(CS_ISA_AVX512, wtype);
    if (!f && (c->isa == CS_ISA_AVX512 || c->isa == CS_ISA_AVX2)) f = cs_gemm_kernel(CS_ISA_AVX2, wtype);
    return f;
}

bool cs_gemm_available(cs_type wtype) { return best_kernel(wtype) != NULL; }

size_t cs_gemm_work_size(cs_type wtype, int64_t n_in, int64_t n_tok) {
    return wtype == CS_TYPE_Q8_0 ? (size_t)(n_in / QK8_0) * (size_t)n_tok * sizeof(cs_gemm_q8_side) : 0;
}

/* Panel bytes per K slice (see run); CSEEK_GEMM_SLICE overrides, for tuning. */
static size_t g_slice_bytes = 16384;
static int g_slice_read;

/* ---- driver ----------------------------------------------------------------- */

static bool run(cs_gemm_panel_fn kern, float *y, int64_t ldy, const void *xq, size_t xrow, const void *w,
                cs_type wtype, int64_t n_in, int64_t n_out, int64_t n_tok, void *work) {
    if (!kern) return false;
    if (!g_slice_read) { /* once, from outside any parallel region */
        const char *e = getenv("CSEEK_GEMM_SLICE");
        if (e && atol(e) > 0) g_slice_bytes = (size_t)atol(e);
        g_slice_read = 1;
    }
    const pack_fn pack = packer(wtype);
    const cs_type vt = cs_vec_dot_type(wtype);
    const size_t wrow = cs_row_size(wtype, n_in);
    const size_t pbytes = panel_bytes(wtype, n_in);
    const int64_t n_panels = (n_out + CS_GEMM_ROWS - 1) / CS_GEMM_ROWS;
    /* panels packed together (up to 4), but never fewer groups than threads */
    const int64_t nth = omp_get_max_threads();
    const int64_t group = n_panels < 4 * nth ? (n_panels + nth - 1) / nth : 4;
    const int64_t n_groups = (n_panels + group - 1) / group;
    const size_t pstride = (pbytes + 63) / 64 * 64;
    const char *xb = xq, *wb = w;
    cs_gemm_q8_side *side = wtype == CS_TYPE_Q8_0 ? work : NULL;
    bool ok = true;
    /* block size, panel / activation bytes per block, K slice */
    const int64_t bsz = cs_type_info(wtype)->blck_size;
    const size_t pblk = pbytes / (size_t)(n_in / bsz), xblk = cs_type_info(vt)->type_size;
    const int64_t kc = bsz * (int64_t)(g_slice_bytes / pblk > 0 ? g_slice_bytes / pblk : 1);
#pragma omp parallel
    {
        if (wtype == CS_TYPE_Q8_0) {
            /* scale and -128 * sum of each activation block */
            const int64_t nb = n_in / QK8_0;
#pragma omp for schedule(static)
            for (int64_t t = 0; t < n_tok; t++) {
                const block_q8_0 *x = (const block_q8_0 *)(xb + (size_t)t * xrow);
                for (int64_t b = 0; b < nb; b++) {
                    int32_t s = 0;
                    for (int k = 0; k < QK8_0; k++) s += x[b].qs[k];
                    side[b * n_tok + t] = (cs_gemm_q8_side){h2f(x[b].d), -128 * s};
                }
            }
        }
        uint8_t *panel = aligned_alloc(64, (size_t)group * pstride);
        if (!panel) {
#pragma omp atomic write
            ok = false;
        }
#pragma omp for schedule(static)
        for (int64_t gi = 0; gi < n_groups; gi++) {
            if (!panel) continue;
            const int64_t p0 = gi * group, np = n_panels - p0 < group ? n_panels - p0 : group;
            for (int64_t p = 0; p < np; p++) {
                const int64_t r0 = (p0 + p) * CS_GEMM_ROWS;
                const int nrows = (int)(n_out - r0 < CS_GEMM_ROWS ? n_out - r0 : CS_GEMM_ROWS);
                pack(panel + p * pstride, wb + (size_t)r0 * wrow, wrow, nrows, n_in);
            }
            /* K slices: a slice of a panel is small enough for L1 and serves
             * every token tile; the activations' slice (all tokens) stays in
             * L2 while the group's panels pass over it */
            for (int64_t k0 = 0; k0 < n_in; k0 += kc) {
                const int64_t kn = n_in - k0 < kc ? n_in - k0 : kc, blk0 = k0 / bsz;
                for (int64_t p = 0; p < np; p++) {
                    const int64_t r0 = (p0 + p) * CS_GEMM_ROWS;
                    const int nrows = (int)(n_out - r0 < CS_GEMM_ROWS ? n_out - r0 : CS_GEMM_ROWS);
                    kern(y + r0, ldy, nrows, panel + p * pstride + (size_t)blk0 * pblk, kn,
                         xb + (size_t)blk0 * xblk, xrow, side ? side + blk0 * n_tok : NULL, n_tok, k0 > 0);
                }
            }
        }
        free(panel);
    }
    if (!ok) { /* out of memory: still answer */
        const cs_vec_dot_fn dot = cs_vec_dot(wtype);
        for (int64_t t = 0; t < n_tok; t++)
            for (int64_t r = 0; r < n_out; r++) y[t * ldy + r] = dot(n_in, wb + (size_t)r * wrow, xb + (size_t)t * xrow);
    }
    return true;
}

bool cs_gemm_isa(cs_isa isa, float *y, const void *xq, const void *w, cs_type wtype, int64_t n_in, int64_t n_out,
                 int64_t n_tok, void *work) {
    return run(cs_gemm_kernel(isa, wtype), y, n_out, xq, cs_row_size(cs_vec_dot_type(wtype), n_in), w, wtype, n_in,
               n_out, n_tok, work);
}

bool cs_gemm(float *y, const void *xq, const void *w, cs_type wtype, int64_t n_in, int64_t n_out, int64_t n_tok,
             void *work) {
    return run(best_kernel(wtype), y, n_out, xq, cs_row_size(cs_vec_dot_type(wtype), n_in), w, wtype, n_in, n_out,
               n_tok, work);
}

bool cs_gemm_strided(float *y, int64_t ldy, const void *xq, size_t ldx, const void *w, cs_type wtype, int64_t n_in,
                     int64_t n_out, int64_t n_tok, void *work) {
    return run(best_kernel(wtype), y, ldy, xq, ldx, w, wtype, n_in, n_out, n_tok, work);
}

void cs_gemm_ref(float *y, const void *xq, const void *w, cs_type wtype, int64_t n_in, int64_t n_out, int64_t n_tok) {
    const cs_vec_dot_fn dot = cs_vec_dot_ref(wtype);
    const size_t xrow = cs_row_size(cs_vec_dot_type(wtype), n_in), wrow = cs_row_size(wtype, n_in);
    const char *xb = xq, *wb = w;
    for (int64_t t = 0; t < n_tok; t++)
        for (int64_t r = 0; r < n_out; r++) y[t * n_out + r] = dot(n_in, wb + (size_t)r * wrow, xb + (size_t)t * xrow);
}
