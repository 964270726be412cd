/* base: the bottom layer every other folder may use: error messages, checked
 * allocation, half-precision conversion, small helpers. */
#ifndef CS_BASE_H
#define CS_BASE_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>
#include <string.h>

/* Error reporting. The library never exits on bad input: a failing function
 * records one line with cs_set_error() and returns an error code (or NULL);
 * front ends print cs_last_error(). The buffer is per thread. */
void cs_set_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
const char *cs_last_error(void);
void cs_clear_error(void);

/* Allocation that records an error instead of aborting. Callers check NULL. */
void *cs_malloc(size_t n);
void *cs_calloc(size_t n, size_t size);
/* 64-byte aligned, for SIMD-friendly buffers; free with free(). */
void *cs_aligned_alloc(size_t n);

/* Overflow-checked size arithmetic: return false (and leave *out alone) on overflow. */
static inline bool cs_mul_ok(uint64_t a, uint64_t b, uint64_t *out) {
    if (a != 0 && b > UINT64_MAX / a) return false;
    *out = a * b;
    return true;
}
static inline bool cs_add_ok(uint64_t a, uint64_t b, uint64_t *out) {
    if (b > UINT64_MAX - a) return false;
    *out = a + b;
    return true;
}

/* IEEE half and bfloat16 <-> float. */
float cs_fp16_to_fp32(uint16_t h);
uint16_t cs_fp32_to_fp16(float f);
static inline float cs_bf16_to_fp32(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}
uint16_t cs_fp32_to_bf16(float f); /* round to nearest even, NaN kept quiet */

/* Physical cores (hyper-threads of one core counted once). */
int cs_physical_cores(void);

/* Wall-clock seconds (monotonic). */
double cs_time_s(void);

/* Log to stderr unless quiet; used for warnings and progress. */
extern int cs_log_level; /* 0 quiet, 1 warnings (default), 2 info */
void cs_log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cs_log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define CS_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define CS_MIN(a, b) ((a) < (b) ? (a) : (b))
#define CS_MAX(a, b) ((a) > (b) ? (a) : (b))

#endif
