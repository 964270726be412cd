/* A tiny test harness: each tests/<layer>/test_*.c is one program made of
 * TEST functions run by RUN(); it ends with "N passed, N failed" (counting
 * tests), which tests/run.sh adds up. */
#ifndef CS_TEST_H
#define CS_TEST_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int t_passed, t_failed, t_cur_failed;
static const char *t_cur_name;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "  FAIL %s: %s:%d: %s\n", t_cur_name, __FILE__, __LINE__, \
                    #cond);                                                           \
            t_cur_failed = 1;                                                         \
        }                                                                             \
    } while (0)

/* CHECK with a printf-style explanation. */
#define CHECKF(cond, ...)                                                               \
    do {                                                                                \
        if (!(cond)) {                                                                  \
            fprintf(stderr, "  FAIL %s: %s:%d: %s: ", t_cur_name, __FILE__, __LINE__, \
                    #cond);                                                             \
            fprintf(stderr, __VA_ARGS__);                                               \
            fputc('\n', stderr);                                                        \
            t_cur_failed = 1;                                                           \
        }                                                                               \
    } while (0)

#define CHECK_NEAR(a, b, tol) CHECKF(fabs((double)(a) - (double)(b)) <= (tol), "%g vs %g (tol %g)", (double)(a), (double)(b), (double)(tol))

#define RUN(fn)                                                  \
    do {                                                         \
        t_cur_name = #fn;                                        \
        t_cur_failed = 0;                                        \
        fn();                                                    \
        if (t_cur_failed) t_failed++; else t_passed++;           \
        printf("%s %s\n", t_cur_failed ? "FAIL" : "ok  ", #fn);  \
        fflush(stdout);                                          \
    } while (0)

#define TEST_END()                                              \
    do {                                                        \
        printf("%d passed, %d failed\n", t_passed, t_failed);   \
        return t_failed ? 1 : 0;                                \
    } while (0)

/* Where ../shared is: $CSEEK_SHARED, else ../shared from the repo root. */
static inline const char *t_shared_dir(void) {
    const char *s = getenv("CSEEK_SHARED");
    return s && *s ? s : "../shared";
}

/* The cseek binary built alongside the tests. */
static inline const char *t_cseek_bin(void) {
    const char *s = getenv("CSEEK_BIN");
    return s && *s ? s : "build/cseek";
}

/* A path for a scratch file of this test program: NAME inside a directory
 * of its own, made on first use under $TMPDIR (else /tmp) and removed at exit,
 * so test runs side by side (other checkouts, SAN=1) never share files. The
 * returned string stays valid for the next 7 calls. */
static char t_tmp_dir[256];
static void t_tmp_cleanup(void) {
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t_tmp_dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", t_tmp_dir);
}
static inline const char *t_tmp(const char *name) {
    static char paths[8][512];
    static int next;
    if (!t_tmp_dir[0]) {
        const char *base = getenv("TMPDIR");
        snprintf(t_tmp_dir, sizeof t_tmp_dir, "%s/cseek-test-XXXXXX", base && *base ? base : "/tmp");
        if (!mkdtemp(t_tmp_dir)) {
            perror("mkdtemp");
            exit(1);
        }
        atexit(t_tmp_cleanup);
    }
    char *p = paths[next++ % 8];
    snprintf(p, sizeof paths[0], "%s/%s", t_tmp_dir, name);
    return p;
}

#endif
