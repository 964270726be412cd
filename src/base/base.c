#include "base.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static _Thread_local char g_error[1024];
int cs_log_level = 1;

void cs_set_error(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g_error, sizeof g_error, fmt, ap);
    va_end(ap);
}

const char *cs_last_error(void) { return g_error[0] ? g_error : "unknown error"; }
void cs_clear_error(void) { g_error[0] = 0; }

void *cs_malloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) cs_set_error("out of memory allocating %zu bytes", n);
    return p;
}

void *cs_calloc(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) cs_set_error("out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *cs_aligned_alloc(size_t n) {
    void *p = NULL;
    size_t sz = (n + 63) & ~(size_t)63;
    if (sz < n || posix_memalign(&p, 64, sz ? sz : 64) != 0) {
        cs_set_error("out of memory allocating %zu bytes", n);
        return NULL;
    }
    return p;
}

float cs_fp16_to_fp32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    uint32_t u;
    if (exp == 0) {
        if (man == 0) {
            u = sign;
        } else { /* subnormal: renormalise */
            int e = -1;
            do { e++; man <<= 1; } while (!(man & 0x400));
            man &= 0x3ff;
            u = sign | ((uint32_t)(127 - 15 - e) << 23) | (man << 13);
        }
    } else if (exp == 31) {
        u = sign | 0x7f800000u | (man << 13);
    } else {
        u = sign | ((exp + 127 - 15) << 23) | (man << 13);
    }
    float f;
    memcpy(&f, &u, 4);
    return f;
}

uint16_t cs_fp32_to_fp16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    uint32_t sign = (u >> 16) & 0x8000;
    uint32_t absu = u & 0x7fffffff;
    if (absu > 0x7f800000u) return (uint16_t)(sign | 0x7e00); /* NaN */
    if (absu >= 0x47800000u) {                                  /* overflow or inf */
        /* values that round below 65520 stay finite */
        if (absu < 0x477ff000u) return (uint16_t)(sign | 0x7bff);
        return (uint16_t)(sign | 0x7c00);
    }
    if (absu < 0x38800000u) { /* subnormal or zero in half */
        if (absu < 0x33000000u) return (uint16_t)sign;
        uint32_t e = absu >> 23;
        uint32_t m = (absu & 0x7fffff) | 0x800000;
        uint32_t shift = 126 - e; /* 14..24 */
        uint32_t half_m = m >> shift;
        uint32_t rem = m & ((1u << shift) - 1);
        uint32_t mid = 1u << (shift - 1);
        if (rem > mid || (rem == mid && (half_m & 1))) half_m++;
        return (uint16_t)(sign | half_m);
    }
    uint32_t h = ((absu >> 13) - ((127 - 15) << 10));
    uint32_t rem = absu & 0x1fff;
    if (rem > 0x1000 || (rem == 0x1000 && (h & 1))) h++;
    return (uint16_t)(sign | h);
}

uint16_t cs_fp32_to_bf16(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    if ((u & 0x7fffffff) > 0x7f800000u) return (uint16_t)((u >> 16) | 64);
    u += 0x7fff + ((u >> 16) & 1);
    return (uint16_t)(u >> 16);
}

double cs_time_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

void cs_log_warn(const char *fmt, ...) {
    if (cs_log_level < 1) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("cseek: warning: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

void cs_log_info(const char *fmt, ...) {
    if (cs_log_level < 2) return;
    va_list ap;
    va_start(ap, fmt);
    fputs("cseek: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

int cs_physical_cores(void) {
    /* count distinct (package, core) pairs; fall back to online CPUs */
    int n = 0;
    char seen[1024] = {0};
    for (int cpu = 0; cpu < 1024; cpu++) {
        char path[128];
        snprintf(path, sizeof path, "/sys/devices/system/cpu/cpu%d/topology/thread_siblings_list", cpu);
        FILE *fp = fopen(path, "r");
        if (!fp) break;
        int first = -1;
        if (fscanf(fp, "%d", &first) == 1 && first >= 0 && first < 1024 && !seen[first]) {
            seen[first] = 1;
            n++;
        }
        fclose(fp);
    }
    if (n <= 0) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        n = c > 0 ? (int)c : 1;
    }
    return n;
}
