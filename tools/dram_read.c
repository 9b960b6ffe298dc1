/* DRAM read bandwidth, for `make bench-model`: a 1 GiB buffer read with 64-bit loads by
   1 and 2 threads; best of 5 trials by wall time (a limit is what the machine can do;
   on a shared machine a median would sit below it). Prints "dram_read_gbs T1 T2".
     cc -O2 tools/dram_read.c -o dram_read -lpthread */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

typedef struct job { const uint64_t *p; size_t n; uint64_t sum; } job;

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *run(void *arg)
{
    job *j = (job *)arg;
    uint64_t a = 0, b = 0, c = 0, d = 0;
    size_t i;
    for (i = 0; i + 4 <= j->n; i += 4) { a += j->p[i]; b ^= j->p[i + 1]; c += j->p[i + 2]; d ^= j->p[i + 3]; }
    j->sum = a + b + c + d;
    return NULL;
}

static double bandwidth(const uint64_t *buf, size_t n, int threads)
{
    double best = 0;
    int trial, i;
    for (trial = 0; trial < 5; ++trial) {
        pthread_t th[2];
        job jb[2];
        double t0 = now(), gbs;
        for (i = 0; i < threads; ++i) {
            jb[i].p = buf + (size_t)i * (n / (size_t)threads);
            jb[i].n = n / (size_t)threads;
            if (i) pthread_create(&th[i], NULL, run, &jb[i]);
        }
        run(&jb[0]);
        for (i = 1; i < threads; ++i) pthread_join(th[i], NULL);
        gbs = (double)n * 8.0 / (now() - t0) * 1e-9;
        if (gbs > best) best = gbs;
        if (jb[0].sum == 42) puts("");   /* keeps the loads */
    }
    return best;
}

int main(void)
{
    size_t n = ((size_t)1 << 30) / 8;
    uint64_t *buf = (uint64_t *)malloc(n * 8);
    if (!buf) return 1;
    memset(buf, 1, n * 8);
    printf("dram_read_gbs %.2f %.2f\n", bandwidth(buf, n, 1), bandwidth(buf, n, 2));
    free(buf);
    return 0;
}
