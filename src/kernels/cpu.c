/* Which instruction sets this CPU has, detected once; CSEEK_ISA (scalar, avx2,
 * avx512, neon) forces a lower level for testing and comparison. Kernels pick
 * their variant from cs_cpu() so one binary runs everywhere. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#ifndef HWCAP_ASIMDDP
#define HWCAP_ASIMDDP (1UL << 20) /* the kernel's bit, for old libc headers */
#endif
#endif

#include "../base/base.h"
#include "cseek.h"
#include "kernels.h"

static cs_cpu_info g_cpu;
static int g_cpu_done;

static void detect(cs_cpu_info *c) {
    memset(c, 0, sizeof *c);
    c->isa = CS_ISA_SCALAR;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    c->f16c = __builtin_cpu_supports("f16c");
    c->fma = __builtin_cpu_supports("fma");
    bool avx2 = __builtin_cpu_supports("avx2") && c->fma && c->f16c;
    bool avx512 = avx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                  __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq");
    c->vnni = avx512 && __builtin_cpu_supports("avx512vnni");
    c->bf16 = avx512 && __builtin_cpu_supports("avx512bf16");
    c->isa = avx512 ? CS_ISA_AVX512 : avx2 ? CS_ISA_AVX2 : CS_ISA_SCALAR;
#elif defined(__aarch64__) && defined(__ARM_NEON)
    c->isa = CS_ISA_NEON;
#if defined(__ARM_FEATURE_DOTPROD)
    c->dotprod = true; /* built for it: the compiler may emit SDOT anywhere */
#elif defined(__linux__)
    /* optional before ARMv8.4; the kernel reports it (dot_neon.c builds SDOT
     * kernels with a function-level target and uses them only when this is set) */
    c->dotprod = (getauxval(AT_HWCAP) & HWCAP_ASIMDDP) != 0;
#endif
#endif
    const char *force = getenv("CSEEK_ISA");
    if (force && *force) {
        cs_isa want;
        if (!strcmp(force, "scalar")) want = CS_ISA_SCALAR;
        else if (!strcmp(force, "avx2")) want = CS_ISA_AVX2;
        else if (!strcmp(force, "avx512")) want = CS_ISA_AVX512;
        else if (!strcmp(force, "neon")) want = CS_ISA_NEON;
        else {
            cs_log_warn("CSEEK_ISA=%s is not one of scalar, avx2, avx512, neon; ignored", force);
            return;
        }
        bool ok = want == CS_ISA_SCALAR || want == c->isa || (want == CS_ISA_AVX2 && c->isa == CS_ISA_AVX512);
        if (!ok) {
            cs_log_warn("CSEEK_ISA=%s: this CPU lacks it; using %s", force, cs_isa_name(c->isa));
            return;
        }
        c->isa = want;
        if (want != CS_ISA_AVX512) c->vnni = c->bf16 = false;
        if (want == CS_ISA_SCALAR) c->dotprod = false;
        c->forced = true;
    }
}

const cs_cpu_info *cs_cpu(void) {
    if (!__atomic_load_n(&g_cpu_done, __ATOMIC_ACQUIRE)) {
        cs_cpu_info c;
        detect(&c); /* idempotent: racing threads compute the same answer */
        g_cpu = c;
        __atomic_store_n(&g_cpu_done, 1, __ATOMIC_RELEASE);
    }
    return &g_cpu;
}

const char *cs_isa_name(cs_isa isa) {
    switch (isa) {
    case CS_ISA_AVX2: return "avx2";
    case CS_ISA_AVX512: return "avx512";
    case CS_ISA_NEON: return "neon";
    default: return "scalar";
    }
}

void cs_cpu_describe(char *buf, size_t size) {
    const cs_cpu_info *c = cs_cpu();
    snprintf(buf, size, "%s%s%s%s%s%s", cs_isa_name(c->isa), c->vnni ? " +vnni" : "", c->bf16 ? " +bf16" : "",
             c->dotprod ? " +dotprod" : "", c->isa == CS_ISA_AVX2 || c->isa == CS_ISA_AVX512 ? " +fma +f16c" : "",
             c->forced ? " (forced by CSEEK_ISA)" : "");
}

/* The CPU's marketing name from /proc/cpuinfo (x86 "model name"; ARM often has none). */
static void cpu_name(char *buf, size_t size) {
    snprintf(buf, size, "unknown");
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f) return;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "model name", 10) && strncmp(line, "Model", 5)) continue;
        char *colon = strchr(line, ':');
        if (!colon) continue;
        colon++;
        while (*colon == ' ' || *colon == '\t') colon++;
        colon[strcspn(colon, "\n")] = 0;
        snprintf(buf, size, "%s", colon);
        break;
    }
    fclose(f);
}

void cs_system_describe(FILE *out) {
    char isa[128], name[256];
    cs_cpu_describe(isa, sizeof isa);
    cpu_name(name, sizeof name);
    long online = sysconf(_SC_NPROCESSORS_ONLN);
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    fprintf(out, "cpu:             %s\n", name);
    fprintf(out, "kernels:         %s\n", isa);
    fprintf(out, "physical cores:  %d (the default thread count)\n", cs_physical_cores());
    fprintf(out, "logical cpus:    %ld\n", online);
    if (pages > 0 && page > 0) fprintf(out, "memory:          %.1f GiB\n", (double)pages * (double)page / (1 << 30));
}
