/* Tiled matrix x matrix multiply for prompt processing (internal to kernels/).
 *
 * cs_matmul converts the activations to the weight type's vec-dot type once;
 * for n_tok >= CS_GEMM_MIN_TOK tokens it then calls cs_gemm instead of one dot
 * per (row, token). cs_gemm repacks CS_GEMM_ROWS weight rows at a time into a
 * "panel" laid out for integer SIMD (below), then streams every token past it:
 * each weight vector loaded is reused for a tile of tokens from registers, each
 * activation load for 32 rows, and the panel (at most a few hundred KB) stays in
 * L2 while the tokens stream. Threads split the panels (each core owns its rows).
 *
 * Panel layout (shared by the AVX2 and AVX-512 kernels): weight values become
 * unsigned bytes (Q8_0: w + 128; Q4_K: the nibble; Q6_K: the 6-bit level, 0..63);
 * for every sub-block of G elements (G = 32, or 16 for Q6_K) and every group of
 * 16 rows ("unit"), G/4 vectors of 64 bytes follow, vector k holding bytes
 * 4k..4k+3 of the sub-block for rows 0..15 of the unit (lane l = row l). One
 * VNNI dpbusd of such a vector with 4 activation bytes broadcast to all lanes
 * advances 16 row sums at once. The offsets that make the bytes unsigned are
 * taken back with the activation's sums (Q8_0: 128 * sum(x) per block; Q6_K:
 * 32 * bsums; Q4_K has none, its mins use the bsums as ggml does). */
#ifndef CS_KERNELS_GEMM_H
#define CS_KERNELS_GEMM_H

#include "kernels.h"

#define CS_GEMM_ROWS 32   /* rows per panel: two units of 16 */
/* From this many tokens on cs_matmul uses cs_gemm; below, repacking the weights
 * costs more than it saves (bench/multi, Q8_0 and Q4_K: equal at about 16). */
#define CS_GEMM_MIN_TOK 16

/* Per (block, token) extra for Q8_0 activations, laid out [block][token] so a
 * kernel reads a token tile's values from one pointer. */
typedef struct {
    float d;      /* the block's scale */
    int32_t corr; /* -128 * sum of its quants: undoes the +128 of the weights */
} cs_gemm_q8_side;

/* Panel bytes per block / super-block, per type. */
#define CS_GEMM_Q8_0_BLOCK (2 * 8 * 64 + 32 * 4)                    /* quants, d[32] */
#define CS_GEMM_Q4_K_SB (8 * 2 * 8 * 64 + 8 * 32 * 4 + 2 * 8 * 64 + 32 * 4) /* quants, d*sc[8][32], mins, dmin[32] */
#define CS_GEMM_Q6_K_SB (16 * 2 * 4 * 64 + 16 * 32 * 4)             /* quants, d*sc[16][32] */

/* One panel (nrows <= 32 valid rows, padded) of n_in columns (a slice of the
 * full rows) against all n_tok tokens: y[t * ldy + r] for r < nrows, stored,
 * or added to when acc. xq: n_tok activation rows of xrow bytes (the vec-dot
 * type), pointing at the slice; side: per-type extra (Q8_0:
 * cs_gemm_q8_side[nb][n_tok], at the slice's first block). */
typedef void (*cs_gemm_panel_fn)(float *y, int64_t ldy, int nrows, const uint8_t *panel, int64_t n_in,
                                 const char *xq, size_t xrow, const void *side, int64_t n_tok, int acc);

void cs_gemm_q8_0_avx512(float *y, int64_t ldy, int nrows, const uint8_t *panel, int64_t n_in, const char *xq,
                         size_t xrow, const void *side, int64_t n_tok, int acc);
void cs_gemm_q4_K_avx512(float *y, int64_t ldy, int nrows, const uint8_t *panel, int64_t n_in, const char *xq,
                         size_t xrow, const void *side, int64_t n_tok, int acc);
void cs_gemm_q6_K_avx512(float *y, int64_t ldy, int nrows, const uint8_t *panel, int64_t n_in, const char *xq,
                         size_t xrow, const void *side, int64_t n_tok, int acc);
void cs_gemm_q8_0_avx2(float *y, int64_t ldy, int nrows, const uint8_t *panel, int64_t n_in, const char *xq,
                       size_t xrow, const void *side, int64_t n_tok, int acc);
void cs_gemm_q4_K_avx2(float *y, int64_t ldy, int nrows, const uint8_t *panel, int64_t n_in, const char *xq,
                       size_t xrow, const void *side, int64_t n_tok, int acc);
void cs_gemm_q6_K_avx2(float *y, int64_t ldy, int nrows, const uint8_t *panel, int64_t n_in, const char *xq,
                       size_t xrow, const void *side, int64_t n_tok, int acc);

/* The panel kernel for wtype at an ISA level, NULL if there is none or this
 * CPU lacks the instructions (AVX-512 kernels need VNNI). */
cs_gemm_panel_fn cs_gemm_kernel(cs_isa isa, cs_type wtype);
/* Whether cs_gemm has a kernel for wtype at cs_cpu()'s level. */
bool cs_gemm_available(cs_type wtype);
/* Bytes of work space cs_gemm needs beyond the activations. */
size_t cs_gemm_work_size(cs_type wtype, int64_t n_in, int64_t n_tok);

/* y (n_tok, n_out) = W (n_out, n_in) . xq^T, xq: n_tok rows already converted
 * to cs_vec_dot_type(wtype). work: cs_gemm_work_size bytes, 64-byte aligned.
 * OpenMP inside; call from outside a parallel region. Returns false (and does
 * nothing) if there is no kernel for wtype at that level. */
bool cs_gemm_isa(cs_isa isa, float *y, const void *xq, const void *w, cs_type wtype, int64_t n_in, int64_t n_out,
                 int64_t n_tok, void *work);
bool cs_gemm(float *y, const void *xq, const void *w, cs_type wtype, int64_t n_in, int64_t n_out, int64_t n_tok,
             void *work);

/* The same with token rows ldx bytes apart in xq and ldy floats apart in y. */
bool cs_gemm_strided(float *y, int64_t ldy, const void *xq, size_t ldx, const void *w, cs_type wtype, int64_t n_in,
                     int64_t n_out, int64_t n_tok, void *work);

/* Scalar reference: the obvious loops over cs_vec_dot_ref. */
void cs_gemm_ref(float *y, const void *xq, const void *w, cs_type wtype, int64_t n_in, int64_t n_out, int64_t n_tok);

#endif
