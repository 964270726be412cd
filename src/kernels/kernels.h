/* kernels: the math of the forward pass. Every kernel has a scalar reference
 * (the *_ref functions); ISA variants are chosen once at start-up and tested
 * against the reference. Models call only what is declared here. */
#ifndef CS_KERNELS_H
#define CS_KERNELS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../formats/types.h"

/* ---- CPU features (cpu.c) -----------------------------------------------
 * Detected once. CSEEK_ISA=scalar|avx2|avx512|neon forces a level the CPU
 * has (for tests and comparisons). x86 SIMD files compile their functions
 * with `#pragma GCC target(...)` and are only called when cs_cpu() says so. */
typedef enum { CS_ISA_SCALAR, CS_ISA_AVX2, CS_ISA_AVX512, CS_ISA_NEON } cs_isa;
typedef struct {
    cs_isa isa;      /* best level usable: AVX2 implies FMA + F16C; AVX512 = F+BW+VL+DQ */
    bool fma, f16c;  /* x86 */
    bool vnni, bf16; /* AVX512-VNNI, AVX512-BF16 (only with isa == AVX512) */
    bool dotprod;    /* ARM SDOT/UDOT */
    bool forced;     /* set by CSEEK_ISA */
} cs_cpu_info;
const cs_cpu_info *cs_cpu(void);
const char *cs_isa_name(cs_isa isa);
/* e.g. "avx512 +vnni +bf16 +fma +f16c" */
void cs_cpu_describe(char *buf, size_t size);

/* ---- dot products over quantized blocks ---------------------------------
 * A weight row of type T is multiplied with an activation row that was first
 * converted to T's "vec-dot type": F32 for F32/F16/BF16 weights, Q8_0 for
 * Q4_0/Q5_0/Q5_1/Q8_0, Q8_K for the k-quants. n is the row length. */
typedef float (*cs_vec_dot_fn)(int64_t n, const void *w, const void *x);

cs_type cs_vec_dot_type(cs_type wtype);
/* Scalar reference dot for a weight type (against its vec-dot type); NULL if unsupported. */
cs_vec_dot_fn cs_vec_dot_ref(cs_type wtype);
/* The dot product chosen for this CPU. */
cs_vec_dot_fn cs_vec_dot(cs_type wtype);
/* Convert an activation row of n floats to vec-dot type vt (as cs_quantize_row,
 * byte for byte, with the fastest variant this CPU has). */
void cs_quantize_act(cs_type vt, const float *x, void *dst, int64_t n);

float cs_vec_dot_f32_ref(int64_t n, const void *w, const void *x);
float cs_vec_dot_f16_ref(int64_t n, const void *w, const void *x);
float cs_vec_dot_bf16_ref(int64_t n, const void *w, const void *x);
float cs_vec_dot_q4_0_ref(int64_t n, const void *w, const void *x);
float cs_vec_dot_q5_0_ref(int64_t n, const void *w, const void *x);
float cs_vec_dot_q5_1_ref(int64_t n, const void *w, const void *x);
float cs_vec_dot_q8_0_ref(int64_t n, const void *w, const void *x);
float cs_vec_dot_q4_K_ref(int64_t n, const void *w, const void *x);
float cs_vec_dot_q5_K_ref(int64_t n, const void *w, const void *x);
float cs_vec_dot_q6_K_ref(int64_t n, const void *w, const void *x);

/* ---- matrix multiply ------------------------------------------------------
 * y[t][r] = sum_k W[r][k] * x[t][k]  for t < n_tok, r < n_out.
 * W: n_out rows of n_in elements of type wtype (GGUF: ne[0] = n_in, ne[1] = n_out).
 * x: (n_tok, n_in) floats; y: (n_tok, n_out) floats.
 * scratch: at least n_tok * n_in * sizeof(float) bytes (holds the converted
 * activations; unused for F32/F16/BF16 weights).
 * Multithreaded with OpenMP inside; call from outside a parallel region. */
void cs_matmul(float *y, const float *x, const void *w, cs_type wtype, int64_t n_in, int64_t n_out, int64_t n_tok,
               void *scratch);

/* Copy row r of an embedding table (any supported type) to out as floats. */
void cs_get_row(float *out, const void *w, cs_type wtype, int64_t n_in, int64_t r);

/* ---- elementwise ---------------------------------------------------------- */
/* out = x / rms(x) * w  (w may be NULL: no scale). out may alias x. */
void cs_rmsnorm(float *out, const float *x, const float *w, int64_t n, float eps);
void cs_softmax(float *x, int64_t n);
/* gate = silu(gate) * up, in place in gate */
void cs_swiglu(float *gate, const float *up, int64_t n);
void cs_add(float *y, const float *x, int64_t n); /* y += x */

/* RoPE on one head vector of head_dim values, rotating its first n_rot dims.
 * freqs: n_rot/2 angular frequencies (theta_i); angle = pos * theta_i.
 * neox = false: rotate adjacent pairs (2i, 2i+1) (llama.cpp "norm", model.py);
 * neox = true: rotate pairs (i, i + n_rot/2) (qwen2). */
void cs_rope(float *v, int64_t n_rot, const float *freqs, int64_t pos, int neox);

/* ---- attention over a KV cache ------------------------------------------
 * One query head against n_kv cached positions: out[d] = sum_j softmax_j(scale *
 * q.k_j) v_j[d]. K rows of k_dim elements and V rows of v_dim elements are
 * k_stride / v_stride elements apart, stored as F32 or F16 (cache_elem_type:
 * CS_TYPE_F32 or CS_TYPE_F16). scores: scratch of n_kv floats. */
void cs_attend(float *out, const float *q, const void *k, const void *v, cs_type cache_elem_type, int64_t n_kv,
               int64_t k_dim, int64_t v_dim, int64_t k_stride, int64_t v_stride, float scale, float *scores);

/* Store n floats into a cache row of the given element type (F32 or F16). */
void cs_store_row(void *dst, cs_type elem_type, const float *src, int64_t n);

/* ---- multi-head latent attention (DeepSeek MLA, absorbed form): mla.c ------
 * Compressed cache row of one position: [latent (kv_lora) | k_rope (n_rope)],
 * elements F32, F16 or Q8_0 (Q8_0: each part whole blocks, last one zero-padded).
 * Bytes of one row; 0 for an unsupported element type. */
size_t cs_mla_row_bytes(cs_type elem, int64_t kv_lora, int64_t n_rope);
/* Encode a row from its two parts / decode a row into kv_lora + n_rope floats. */
void cs_mla_store(void *row, cs_type elem, const float *lat, const float *rope, int64_t kv_lora, int64_t n_rope);
void cs_mla_load(float *dst, const void *row, cs_type elem, int64_t kv_lora, int64_t n_rope);
/* n_q queries q_i = [q_lat (kv_lora) | q_rope (n_rope)] (q_stride floats apart)
 * against rows 0..n_kv-1 of a cache (row_bytes apart):
 *   scores[i*n_kv + j] = scale * (q_lat_i . latent_j + q_rope_i . k_rope_j)
 * rowbuf: scratch of kv_lora + n_rope floats. */
void cs_mla_scores(float *scores, const float *q, int64_t n_q, int64_t q_stride, const void *cache, size_t row_bytes,
                   cs_type elem, int64_t n_kv, int64_t kv_lora, int64_t n_rope, float scale, float *rowbuf);
/* out_i (kv_lora floats, out_stride apart) = sum_j p[i*n_kv + j] * latent_j */
void cs_mla_accumulate(float *out, int64_t out_stride, const float *p, int64_t n_q, int64_t n_kv, const void *cache,
                       size_t row_bytes, cs_type elem, int64_t kv_lora, float *rowbuf);
/* scores, softmax over j, accumulate. scores: scratch of n_q * n_kv floats. */
void cs_mla_attend(float *out, int64_t out_stride, const float *q, int64_t n_q, int64_t q_stride, const void *cache,
                   size_t row_bytes, cs_type elem, int64_t n_kv, int64_t kv_lora, int64_t n_rope, float scale,
                   float *scores, float *rowbuf);

/* A separate small matrix per head (MLA's W_UK^T and W_UV):
 *   y[t*y_tstride + h*y_hstride + r] = W_h[r] . x[t*x_tstride + h*x_hstride + 0..n_in-1]
 * for t < n_tok, h < n_head, r < n_out, where W_h[r] is row h*w_head_rows + r of
 * w (rows of n_in elements of wtype). scratch: n_tok * n_head * n_in * 4 bytes.
 * OpenMP inside; call from outside a parallel region. */
void cs_matmul_heads(float *y, int64_t y_tstride, int64_t y_hstride, const float *x, int64_t x_tstride,
                     int64_t x_hstride, const void *w, cs_type wtype, int64_t w_head_rows, int64_t n_in, int64_t n_out,
                     int64_t n_head, int64_t n_tok, void *scratch);

#endif
