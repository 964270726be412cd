/* The multi-row dots (simd.h's cs_vec_dot_n: one weight row against up to
 * CS_DOTN_MAX activation rows) against the reference dot of each row, for
 * every variant this CPU can run, and cs_matmul on the batch sizes that use
 * them. The block sums are exact integers, so only the float summation order
 * differs. */
#include <stdint.h>

#include "base/base.h"
#include "kernels/kernels.h"
#include "kernels/simd.h"
#include "test.h"

static uint64_t rng = 0x9e3779b97f4a7c15ull;
static uint32_t next(void) {
    rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
    return (uint32_t)(rng >> 32);
}

/* random Q8_0 blocks; activations stay in [-127, 127] as cs_quantize_row_q8_0
 * makes them, weights use every byte including -128 */
static void fill(block_q8_0 *b, int64_t nb, bool weights) {
    for (int64_t i = 0; i < nb; i++) {
        b[i].d = cs_fp32_to_fp16((float)(next() % 1000 + 1) / 4096.0f);
        for (int j = 0; j < QK8_0; j++) {
            int v = (int)(next() % 256) - 128;
            b[i].qs[j] = (int8_t)(weights || v != -128 ? v : -127);
        }
    }
}

static void check_variant(cs_vec_dot_n_fn f, const char *name) {
    static const int64_t blocks[] = {1, 2, 3, 7, 48, 280};
    cs_vec_dot_fn ref = cs_vec_dot_ref(CS_TYPE_Q8_0);
    enum { MAXB = 280 };
    static block_q8_0 w[MAXB], x[CS_DOTN_MAX][MAXB];
    double worst = 0;
    for (size_t bi = 0; bi < sizeof blocks / sizeof *blocks; bi++) {
        int64_t nb = blocks[bi], n = nb * QK8_0;
        for (int rep = 0; rep < 8; rep++) {
            fill(w, nb, true);
            for (int t = 0; t < CS_DOTN_MAX; t++) fill(x[t], nb, false);
            static float dx[CS_DOTN_MAX * MAXB];
            cs_dotn_scales(dx, (const char *)x, sizeof x[0], CS_DOTN_MAX, nb);
            for (int n_x = 1; n_x <= CS_DOTN_MAX; n_x++) {
                float out[CS_DOTN_MAX];
                f(n, w, x, sizeof x[0], dx, (size_t)nb, n_x, out);
                for (int t = 0; t < n_x; t++) {
                    double mag = 0;
                    for (int64_t i = 0; i < nb; i++) {
                        double s = 0;
                        for (int j = 0; j < QK8_0; j++) s += fabs((double)w[i].qs[j] * x[t][i].qs[j]);
                        mag += s * cs_fp16_to_fp32(w[i].d) * cs_fp16_to_fp32(x[t][i].d);
                    }
                    float want = ref(n, w, x[t]);
                    double err = fabs((double)out[t] - want);
                    CHECKF(err <= (double)(nb + 8) * 0x1p-23 * mag, "%s: %lld blocks, %d rows, row %d: %g vs %g", name,
                           (long long)nb, n_x, t, out[t], want);
                    worst = fmax(worst, err / (mag + 1e-30));
                }
            }
        }
    }
    printf("  %s: worst |dotn - ref| / sum|terms| = %.3g\n", name, worst);
}

static void variants(void) {
    const cs_cpu_info *c = cs_cpu();
    if (c->isa != CS_ISA_AVX2 && c->isa != CS_ISA_AVX512) {
        CHECK(cs_vec_dot_n(CS_TYPE_Q8_0) == NULL); /* no variant: cs_matmul uses the plain dots */
        printf("  no multi-row dots on this CPU\n");
        return;
    }
    check_variant(cs_vec_dot_n_avx2_path(CS_TYPE_Q8_0, false), "avx2");
    if (c->vnni) check_variant(cs_vec_dot_n_avx2_path(CS_TYPE_Q8_0, true), "avx512-vnni");
    CHECK(cs_vec_dot_n(CS_TYPE_Q4_K) == NULL && cs_vec_dot_n(CS_TYPE_F32) == NULL);
}

/* cs_matmul for 2..15 tokens (multi-row dots, then single dots for the rest)
 * gives each token what it gives that token alone. */
static void matmul_small_batches(void) {
    enum { N_IN = 96, N_OUT = 37, MAXT = 15 };
    static float wf[N_OUT * N_IN], x[MAXT * N_IN], y[MAXT * N_OUT], y1[N_OUT];
    static block_q8_0 w[N_OUT * N_IN / QK8_0];
    static char scratch[MAXT * N_IN * 4 + 4096];
    for (int i = 0; i < N_OUT * N_IN; i++) wf[i] = (float)((int)(next() % 2001) - 1000) / 1000.0f;
    for (int i = 0; i < MAXT * N_IN; i++) x[i] = (float)((int)(next() % 2001) - 1000) / 500.0f;
    cs_quantize_row(CS_TYPE_Q8_0, wf, w, N_OUT * N_IN);
    for (int nt = 2; nt <= MAXT; nt++) {
        cs_matmul(y, x, w, CS_TYPE_Q8_0, N_IN, N_OUT, nt, scratch);
        for (int t = 0; t < nt; t++) {
            cs_matmul(y1, x + t * N_IN, w, CS_TYPE_Q8_0, N_IN, N_OUT, 1, scratch);
            for (int r = 0; r < N_OUT; r++) CHECK_NEAR(y[t * N_OUT + r], y1[r], 1e-4 * (1 + fabs(y1[r])));
        }
    }
}

int main(void) {
    RUN(variants);
    RUN(matmul_small_batches);
    TEST_END();
}
