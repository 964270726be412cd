/* Tensor element types and their block layouts, byte-identical to the GGUF
 * ecosystem (ggml) so published files load unchanged.
 *
 * A row of n elements of a block type is n / blck_size blocks laid end to end.
 * Reference (scalar) quantize and dequantize live in types.c; dot products
 * over these blocks live in kernels/. */
#ifndef CS_FORMATS_TYPES_H
#define CS_FORMATS_TYPES_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

/* Values are ggml's type ids, as stored in GGUF tensor infos. */
typedef enum {
    CS_TYPE_F32 = 0,
    CS_TYPE_F16 = 1,
    CS_TYPE_Q4_0 = 2,
    CS_TYPE_Q4_1 = 3,
    CS_TYPE_Q5_0 = 6,
    CS_TYPE_Q5_1 = 7,
    CS_TYPE_Q8_0 = 8,
    CS_TYPE_Q8_1 = 9,
    CS_TYPE_Q2_K = 10,
    CS_TYPE_Q3_K = 11,
    CS_TYPE_Q4_K = 12,
    CS_TYPE_Q5_K = 13,
    CS_TYPE_Q6_K = 14,
    CS_TYPE_Q8_K = 15,
    CS_TYPE_BF16 = 30,
    CS_TYPE_COUNT = 40 /* upper bound on ids we know of */
} cs_type;

#define QK4_0 32
#define QK5_0 32
#define QK5_1 32
#define QK8_0 32
#define QK_K 256
#define K_SCALE_SIZE 12

typedef uint16_t cs_half; /* IEEE binary16 bits */

typedef struct __attribute__((packed)) {
    cs_half d;             /* scale */
    uint8_t qs[QK4_0 / 2]; /* nibbles: element j in low nibble of qs[j], j+16 in high nibble */
} block_q4_0;
_Static_assert(sizeof(block_q4_0) == 18, "block_q4_0 size");

typedef struct __attribute__((packed)) {
    cs_half d;
    uint8_t qh[4];         /* 5th bit of each of the 32 elements */
    uint8_t qs[QK5_0 / 2]; /* low 4 bits, as q4_0 */
} block_q5_0;
_Static_assert(sizeof(block_q5_0) == 22, "block_q5_0 size");

typedef struct __attribute__((packed)) {
    cs_half d; /* scale */
    cs_half m; /* min */
    uint8_t qh[4];
    uint8_t qs[QK5_1 / 2];
} block_q5_1;
_Static_assert(sizeof(block_q5_1) == 24, "block_q5_1 size");

typedef struct __attribute__((packed)) {
    cs_half d;
    int8_t qs[QK8_0];
} block_q8_0;
_Static_assert(sizeof(block_q8_0) == 34, "block_q8_0 size");

/* 4-bit k-quant: 8 sub-blocks of 32, 6-bit scales and mins packed in 12 bytes. */
typedef struct __attribute__((packed)) {
    cs_half d;    /* super-block scale for the scales */
    cs_half dmin; /* super-block scale for the mins */
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qs[QK_K / 2];
} block_q4_K;
_Static_assert(sizeof(block_q4_K) == 144, "block_q4_K size");

typedef struct __attribute__((packed)) {
    cs_half d;
    cs_half dmin;
    uint8_t scales[K_SCALE_SIZE];
    uint8_t qh[QK_K / 8]; /* high bits */
    uint8_t qs[QK_K / 2]; /* low 4 bits */
} block_q5_K;
_Static_assert(sizeof(block_q5_K) == 176, "block_q5_K size");

/* 6-bit k-quant: 16 sub-blocks of 16 with int8 scales. */
typedef struct __attribute__((packed)) {
    uint8_t ql[QK_K / 2];     /* low 4 bits */
    uint8_t qh[QK_K / 4];     /* high 2 bits */
    int8_t scales[QK_K / 16]; /* 8-bit scales */
    cs_half d;
} block_q6_K;
_Static_assert(sizeof(block_q6_K) == 210, "block_q6_K size");

/* Activations for k-quant dot products (never stored in files we read). */
typedef struct {
    float d;
    int8_t qs[QK_K];
    int16_t bsums[QK_K / 16]; /* sum of each group of 16 qs */
} block_q8_K;
_Static_assert(sizeof(block_q8_K) == 292, "block_q8_K size");

typedef struct {
    const char *name;   /* as ggml spells it: "f32", "q4_K" ... */
    int blck_size;      /* elements per block (1 for plain floats) */
    size_t type_size;   /* bytes per block */
    bool supported;     /* we can dequantize and multiply it */
} cs_type_traits;

/* Traits of a type id; NULL for ids we do not know at all. */
const cs_type_traits *cs_type_info(uint32_t type);
const char *cs_type_name(uint32_t type); /* "?" if unknown */
/* Parse a type name (case-insensitive: "q8_0", "Q4_K", "bf16"); -1 if unknown. */
int cs_type_from_name(const char *name);

/* Bytes of a row of n elements; 0 if n is not a multiple of the block size
 * or the type is unknown. */
size_t cs_row_size(uint32_t type, int64_t n);

/* Reference conversions of one row of n elements (n a multiple of the block size). */
void cs_dequantize_row(cs_type type, const void *src, float *dst, int64_t n);
void cs_quantize_row(cs_type type, const float *src, void *dst, int64_t n);

/* Per-type reference functions (types.c). */
void cs_dequantize_row_q4_0(const block_q4_0 *x, float *y, int64_t n);
void cs_dequantize_row_q5_0(const block_q5_0 *x, float *y, int64_t n);
void cs_dequantize_row_q5_1(const block_q5_1 *x, float *y, int64_t n);
void cs_dequantize_row_q8_0(const block_q8_0 *x, float *y, int64_t n);
void cs_dequantize_row_q4_K(const block_q4_K *x, float *y, int64_t n);
void cs_dequantize_row_q5_K(const block_q5_K *x, float *y, int64_t n);
void cs_dequantize_row_q6_K(const block_q6_K *x, float *y, int64_t n);
void cs_dequantize_row_q8_K(const block_q8_K *x, float *y, int64_t n);

void cs_quantize_row_q4_0(const float *x, block_q4_0 *y, int64_t n);
void cs_quantize_row_q5_0(const float *x, block_q5_0 *y, int64_t n);
void cs_quantize_row_q5_1(const float *x, block_q5_1 *y, int64_t n);
void cs_quantize_row_q8_0(const float *x, block_q8_0 *y, int64_t n);
void cs_quantize_row_q4_K(const float *x, block_q4_K *y, int64_t n);
void cs_quantize_row_q5_K(const float *x, block_q5_K *y, int64_t n);
void cs_quantize_row_q6_K(const float *x, block_q6_K *y, int64_t n);
void cs_quantize_row_q8_K(const float *x, block_q8_K *y, int64_t n);

#endif
