/* make bench-wasm: one build of this file per contender (wasm SIMD128, wasm scalar, native
   AVX2, native AVX2 without its AVX-VNNI kernels where the CPU has AVX-VNNI, and wasm
   relaxed SIMD where a clang >= 16 builds it); bench/wasm.sh runs them in alternation and compares medians. Each run times
   every shape, format and batch once (a round): forwards on one layer back to back
   (hot: a 4096x4096 2BIT layer is 4 MiB, in the last-level cache), the median of the
   forwards of a config, each timed alone. INT8 activations, k = 1, random trits.
   Prints "RESULT <build> <format> <out> <in> <batch> <median us> <forwards>". */
#define _POSIX_C_SOURCE 199309L
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#if defined(__wasm_simd128__) && defined(BITLINEAR_WASM_RELAXED)
#  define BUILD "wasm-relaxed"
#elif defined(__wasm_simd128__)
#  define BUILD "wasm-simd128"
#elif defined(__wasm__)
#  define BUILD "wasm-scalar"
#elif defined(BITLINEAR_NO_AVXVNNI)
#  define BUILD "native-avx2-plain"
#else
#  define BUILD "native-avx2"
#endif

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t next_u32(void)
{
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32);
}

int main(int argc, char **argv)
{
    static const int shapes[3][2] = { { 4096, 4096 }, { 11008, 4096 }, { 4096, 11008 } }; /* out, in */
    static const int batches[2] = { 1, 8 };
    double budget = argc > 1 ? atof(argv[1]) : 0.3; /* seconds of forwards per config */
    int s, f, b;
#if !defined(__wasm__)
    if (bl_set_backend(BL_BACKEND_AVX2) != BL_OK) {
        printf("skipped: this CPU or build has no AVX2 backend\n");
        return 0;
    }
#endif
    for (s = 0; s < 3; ++s)
        for (f = 0; f < 2; ++f) {
            int out = shapes[s][0], in = shapes[s][1];
            size_t n = (size_t)out * (size_t)in, i;
            int8_t *trits = (int8_t *)malloc(n);
            float *scales = (float *)malloc((size_t)out * sizeof(float));
            float *x = (float *)malloc((size_t)in * 8 * sizeof(float)), *y = (float *)malloc((size_t)out * 8 * sizeof(float));
            void *scratch;
            bl_linear_desc d;
            bl_linear *L = NULL;
            if (!trits || !scales || !x || !y) { printf("out of memory\n"); return 1; }
            for (i = 0; i < n; ++i) trits[i] = (int8_t)((int)(next_u32() % 3) - 1);
            for (i = 0; i < (size_t)out; ++i) scales[i] = 0.01f + (float)(next_u32() % 1000) * 1e-4f;
            for (i = 0; i < (size_t)in * 8; ++i) x[i] = (float)((int)(next_u32() % 2001) - 1000) * 1e-3f;
            memset(&d, 0, sizeof d);
            d.in_features = in;
            d.out_features = out;
            d.trits = trits;
            d.scales = scales;
            d.format = f ? BL_FORMAT_BASE3 : BL_FORMAT_2BIT;
            if (bl_linear_create(&d, &L) != BL_OK) { printf("create failed\n"); return 1; }
            free(trits);
            scratch = malloc(bl_linear_scratch_size(L, 8));
            for (b = 0; b < 2; ++b) {
                double t[64], start;
                int reps = 0;
                bl_linear_forward(L, x, batches[b], y, scratch); /* warm-up */
                start = now();
                while (reps < 64 && (reps < 3 || now() - start < budget)) {
                    double t0 = now();
                    bl_linear_forward(L, x, batches[b], y, scratch);
                    t[reps++] = now() - t0;
                }
                qsort(t, (size_t)reps, sizeof t[0], cmp_double);
                printf("RESULT %s %s %d %d %d %.1f %d\n", BUILD, f ? "base3" : "2bit", out, in, batches[b],
                       1e6 * t[reps / 2], reps);
                fflush(stdout);
            }
            free(scratch);
            free(x); free(y); free(scales);
            bl_linear_destroy(L);
        }
    return 0;
}
