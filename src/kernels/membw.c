/* Memory read bandwidth, the roofline generation speed is measured against:
 * threads sum disjoint slices of a buffer far larger than the caches. */
#include <omp.h>
#include <stdlib.h>

#include "../base/base.h"
#include "cseek.h"
#include "kernels.h"

double cs_measure_read_bandwidth(int n_threads, size_t bytes) {
    size_t n = bytes / sizeof(uint64_t) & ~(size_t)3;
    uint64_t *buf = cs_aligned_alloc(n * sizeof(uint64_t));
    if (!buf) return 0.0;
    if (n_threads <= 0) n_threads = cs_physical_cores();
#pragma omp parallel for num_threads(n_threads) schedule(static)
    for (size_t i = 0; i < n; i++) buf[i] = i; /* touch every page from the thread that reads it */
    double best = 0.0;
    volatile uint64_t sink = 0;
    for (int rep = 0; rep < 5; rep++) {
        double t0 = cs_time_s();
        uint64_t total = 0;
#pragma omp parallel for num_threads(n_threads) schedule(static) reduction(+ : total)
        for (size_t i = 0; i < n; i += 4) total += buf[i] ^ buf[i + 1] ^ buf[i + 2] ^ buf[i + 3];
        double dt = cs_time_s() - t0;
        sink += total;
        double bw = (double)(n * sizeof(uint64_t)) / dt;
        if (bw > best) best = bw;
    }
    (void)sink;
    free(buf);
    return best;
}
