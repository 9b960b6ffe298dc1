/* Core benchmark: quantization speed, packing throughput, forward time per backend,
   accuracy of every method and k, and compression. Prints markdown tables.
   Build: cc -O2 -I. bench/bench.c -lm -lpthread   (make bench does it) */
#define _POSIX_C_SOURCE 200809L
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint64_t rng = 0x853C49E6748FEA9Bull;
static float uniform(void)
{
    rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27;
    return (float)((rng * 0x2545F4914F6CDD1Dull) >> 40) * (1.0f / 16777216.0f);
}
static float gauss(void)
{
    float u = uniform() + 1e-7f, v = uniform();
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n);
    if (!p) { fprintf(stderr, "out of memory\n"); exit(1); }
    return p;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}
static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(double), cmp_double);
    return v[n / 2];
}

static const char *method_name[] = { "optimal", "absmean", "absmax", "twn" };

/* ---- quantization and packing speed ---- */
static void bench_quantize(const float *w, int n)
{
    size_t count = (size_t)n * n;
    int8_t *t = (int8_t *)xmalloc(count * 3), *back = (int8_t *)xmalloc(count);
    float *s = (float *)xmalloc(sizeof(float) * n * 3);
    uint8_t *packed = (uint8_t *)xmalloc(bl_packed_size(BL_FORMAT_2BIT, n, n));
    int m, f, k;
    printf("## Quantization speed, %dx%d Gaussian, single thread\n\n", n, n);
    printf("| operation | time |\n|---|---|\n");
    for (m = 0; m < 4; ++m) {
        double times[3];
        int r;
        for (r = 0; r < 3; ++r) {
            double t0 = now();
            bl_ternarize(w, n, n, (bl_method)m, BL_SCALING_ROW, t, s);
            times[r] = now() - t0;
        }
        printf("| bl_ternarize %s, per row | %.1f ms |\n", method_name[m], 1e3 * median(times, 3));
    }
    {
        double t0 = now();
        bl_ternarize(w, n, n, BL_METHOD_OPTIMAL, BL_SCALING_TENSOR, t, s);
        printf("| bl_ternarize optimal, per tensor | %.1f ms |\n", 1e3 * (now() - t0));
    }
    for (k = 2; k <= 3; ++k) {
        double t0 = now();
        bl_decompose(w, n, n, k, 8, t, s);
        printf("| bl_decompose k=%d, 8 refinement passes | %.2f s |\n", k, now() - t0);
    }
    bl_ternarize(w, n, n, BL_METHOD_OPTIMAL, BL_SCALING_ROW, t, s);
    for (f = 0; f < 2; ++f) {
        size_t size = bl_packed_size((bl_format)f, n, n);
        double tp[5], tu[5];
        int r;
        for (r = 0; r < 5; ++r) {
            double t0 = now();
            bl_pack((bl_format)f, t, n, n, packed, size);
            tp[r] = now() - t0;
            t0 = now();
            bl_unpack((bl_format)f, packed, size, n, n, back);
            tu[r] = now() - t0;
        }
        printf("| bl_pack %s | %.1f ms (%.0f Mtrit/s) |\n", f ? "base3" : "2bit", 1e3 * median(tp, 5),
               (double)count / median(tp, 5) / 1e6);
        printf("| bl_unpack %s (validating) | %.1f ms (%.0f Mtrit/s) |\n", f ? "base3" : "2bit", 1e3 * median(tu, 5),
               (double)count / median(tu, 5) / 1e6);
    }
    printf("\n");
    free(t); free(back); free(s); free(packed);
}

/* ---- forward time per backend ---- */
static double naive_float_forward(const float *w, const float *x, float *y, int out, int in)
{
    double t0 = now();
    int r, i;
    for (r = 0; r < out; ++r) {
        float acc = 0.0f;
        for (i = 0; i < in; ++i) acc += w[(size_t)r * in + i] * x[i];
        y[r] = acc;
    }
    return now() - t0;
}

static void bench_forward(const float *w, int n)
{
    static const bl_backend backends[] = { BL_BACKEND_SCALAR, BL_BACKEND_AVX2, BL_BACKEND_AVX512, BL_BACKEND_NEON };
    float *x = (float *)xmalloc(sizeof(float) * n), *y = (float *)xmalloc(sizeof(float) * n);
    double naive[7];
    int i, f, a, r;
    size_t bi;
    for (i = 0; i < n; ++i) x[i] = gauss();
    for (r = 0; r < 7; ++r) naive[r] = naive_float_forward(w, x, y, n, n);
    printf("## Forward, %dx%d, batch 1, single thread, weights hot (the roofline bench goes further)\n\n", n, n);
    printf("naive fp32 loop: %.0f us\n\n", 1e6 * median(naive, 7));
    printf("| backend | format | activations | time | vs naive fp32 |\n|---|---|---|---|---|\n");
    for (f = 0; f < 2; ++f)
        for (a = 0; a < 2; ++a) {
            bl_linear_desc d;
            bl_linear *layer;
            void *scratch;
            memset(&d, 0, sizeof d);
            d.in_features = n; d.out_features = n; d.weight = w; d.format = (bl_format)f; d.act = (bl_act)a;
            if (bl_linear_create(&d, &layer) != BL_OK) continue;
            scratch = xmalloc(bl_linear_scratch_size(layer, 1));
            for (bi = 0; bi < sizeof backends / sizeof backends[0]; ++bi) {
                double times[15];
                int reps = backends[bi] == BL_BACKEND_SCALAR ? 5 : 15;
                if (bl_set_backend(backends[bi]) != BL_OK) continue;
                bl_linear_forward(layer, x, 1, y, scratch);
                for (r = 0; r < reps; ++r) {
                    double t0 = now();
                    bl_linear_forward(layer, x, 1, y, scratch);
                    times[r] = now() - t0;
                }
                printf("| %s | %s | %s | %.0f us | %.1fx |\n", bl_backend_name(backends[bi]), f ? "base3" : "2bit",
                       a ? "float" : "int8", 1e6 * median(times, reps), median(naive, 7) / median(times, reps));
            }
            bl_set_backend(BL_BACKEND_AUTO);
            free(scratch);
            bl_linear_destroy(layer);
        }
    printf("\n");
    free(x); free(y);
}

/* ---- accuracy: relative Frobenius error, rows split over two threads ---- */
typedef struct job {
    const float *w;
    int rows, cols, k, iters;
    bl_method method;
    bl_scaling scaling;
    double err, norm;
} job;

static void *run_job(void *arg)
{
    job *j = (job *)arg;
    size_t count = (size_t)j->rows * j->cols;
    int8_t *t = (int8_t *)xmalloc(count * (size_t)j->k);
    float *s = (float *)xmalloc(sizeof(float) * j->rows * j->k);
    double rel;
    size_t i;
    j->norm = 0.0;
    for (i = 0; i < count; ++i) j->norm += (double)j->w[i] * j->w[i];
    bl_decompose_ex(j->w, j->rows, j->cols, j->k, j->iters, j->method, j->scaling, t, s);
    rel = bl_decompose_error(j->w, j->rows, j->cols, j->k, t, s);
    j->err = rel * rel * j->norm;
    free(t); free(s);
    return NULL;
}

static double rel_error(const float *w, int rows, int cols, int k, int iters, bl_method m, bl_scaling sc)
{
    job jobs[2];
    pthread_t th;
    int half = sc == BL_SCALING_TENSOR ? rows : rows / 2;
    jobs[0].w = w; jobs[0].rows = half;
    jobs[1].w = w + (size_t)half * cols; jobs[1].rows = rows - half;
    jobs[0].cols = jobs[1].cols = cols; jobs[0].k = jobs[1].k = k; jobs[0].iters = jobs[1].iters = iters;
    jobs[0].method = jobs[1].method = m; jobs[0].scaling = jobs[1].scaling = sc;
    jobs[1].err = jobs[1].norm = 0.0;
    if (jobs[1].rows > 0) pthread_create(&th, NULL, run_job, &jobs[1]);
    run_job(&jobs[0]);
    if (jobs[1].rows > 0) pthread_join(th, NULL);
    return sqrt((jobs[0].err + jobs[1].err) / (jobs[0].norm + jobs[1].norm));
}

static void bench_accuracy(const char *name, const float *w, int n, int all_methods_refined)
{
    int m, k;
    printf("## Accuracy: relative Frobenius error ||W - sum s_j T_j|| / ||W||, %s %dx%d, per-row scales\n\n", name, n, n);
    printf("| method | k=1 greedy | k=1 refined | k=2 greedy | k=2 refined | k=3 greedy | k=3 refined | k=4 greedy | k=4 refined |\n");
    printf("|---|---|---|---|---|---|---|---|---|\n");
    for (m = 0; m < 4; ++m) {
        printf("| %s |", method_name[m]);
        for (k = 1; k <= 4; ++k) {
            printf(" %.4f |", rel_error(w, n, n, k, 0, (bl_method)m, BL_SCALING_ROW));
            if (m == 0 || all_methods_refined) printf(" %.4f |", rel_error(w, n, n, k, 8, (bl_method)m, BL_SCALING_ROW));
            else printf(" - |");
            fflush(stdout);
        }
        printf("\n");
    }
    printf("\n(refined = 8 refinement passes; per tensor, optimal k=1: %.4f)\n\n",
           rel_error(w, n, n, 1, 0, BL_METHOD_OPTIMAL, BL_SCALING_TENSOR));
}

/* ---- output similarity of a layer vs its float original, as the seeds measure it ---- */
static void bench_outputs(const char *name, const float *w, int n)
{
    static const struct { bl_method method; int refine; const char *label; } series[] = {
        { BL_METHOD_ABSMAX, 0, "absmax greedy (the seeds' decomposition)" },
        { BL_METHOD_OPTIMAL, 0, "optimal greedy" },
        { BL_METHOD_OPTIMAL, 8, "optimal, 8 refinement passes" },
    };
    int batch = 32, i, k;
    size_t si;
    float *x = (float *)xmalloc(sizeof(float) * n * batch), *y = (float *)xmalloc(sizeof(float) * n * batch);
    double *ref = (double *)xmalloc(sizeof(double) * n * batch);
    for (i = 0; i < n * batch; ++i) x[i] = gauss();
    for (i = 0; i < n * batch; ++i) {
        int b = i / n, r = i % n, c;
        double acc = 0.0;
        for (c = 0; c < n; ++c) acc += (double)w[(size_t)r * n + c] * x[(size_t)b * n + c];
        ref[i] = acc;
    }
    printf("## Layer outputs vs the float layer, %s %dx%d, 32 random tokens, INT8 activations\n\n", name, n, n);
    printf("| decomposition | k | cosine similarity | relative error | error reduction vs k=1 |\n|---|---|---|---|---|\n");
    for (si = 0; si < sizeof series / sizeof series[0]; ++si) {
        double first = 0.0;
        for (k = 1; k <= 3; ++k) {
            bl_linear_desc d;
            bl_linear *layer;
            double dot = 0.0, ny = 0.0, nr = 0.0, err = 0.0;
            memset(&d, 0, sizeof d);
            d.in_features = n; d.out_features = n; d.weight = w; d.k = k;
            d.method = series[si].method; d.refine_iters = series[si].refine;
            if (bl_linear_create(&d, &layer) != BL_OK) continue;
            bl_linear_forward(layer, x, batch, y, NULL);
            for (i = 0; i < n * batch; ++i) {
                dot += y[i] * ref[i]; ny += (double)y[i] * y[i]; nr += ref[i] * ref[i];
                err += (y[i] - ref[i]) * (y[i] - ref[i]);
            }
            err = sqrt(err / nr);
            if (k == 1) first = err;
            printf("| %s | %d | %.2f%% | %.1f%% | %.0f%% |\n", series[si].label, k, 100.0 * dot / sqrt(ny * nr),
                   100.0 * err, 100.0 * (1.0 - err / first));
            bl_linear_destroy(layer);
        }
    }
    printf("\n");
    free(x); free(y); free(ref);
}

/* ---- compression ---- */
static void compression_row(const char *name, const int (*shapes)[2], int count, int repeat)
{
    int f;
    printf("| %s |", name);
    for (f = 0; f < 2; ++f) {
        double fp32 = 0.0, tern = 0.0;
        int i;
        for (i = 0; i < count; ++i) {
            bl_memory_estimate e;
            memset(&e, 0, sizeof e);
            bl_linear_estimate(shapes[i][0], shapes[i][1], 1, (bl_format)f, 1, &e);
            fp32 += (double)e.fp32_bytes * repeat;
            tern += (double)e.ternary_bytes * repeat;
        }
        if (f == 0) printf(" %.2f MB |", fp32 / 1048576.0);
        printf(" %.2f MB | %.1fx |", tern / 1048576.0, fp32 / tern);
    }
    printf("\n");
}

static void bench_compression(void)
{
    static const int s512[][2] = { { 512, 512 } }, s1024[][2] = { { 1024, 1024 } }, s4096[][2] = { { 4096, 4096 } };
    static const int gpt2[][2] = { { 768, 2304 }, { 768, 768 }, { 768, 3072 }, { 3072, 768 } };
    printf("## Compression vs fp32 (weights + fp32 bias; ternary: packed trits + fp32 per-row scale + bias), k=1\n\n");
    printf("| layer | fp32 | 2bit | ratio | base3 | ratio |\n|---|---|---|---|---|---|\n");
    compression_row("512x512", s512, 1, 1);
    compression_row("1024x1024", s1024, 1, 1);
    compression_row("4096x4096", s4096, 1, 1);
    compression_row("GPT-2 small, 12 x [768x2304, 768x768, 768x3072, 3072x768]", gpt2, 4, 12);
    printf("\n");
}

int main(int argc, char **argv)
{
    int big = 4096, small = 1024, i;
    float *gauss_big, *gauss_small, *linear_small;
    int quick = argc > 1 && strcmp(argv[1], "--quick") == 0;
    if (quick) big = 1024;
    gauss_big = (float *)xmalloc(sizeof(float) * big * big);
    gauss_small = (float *)xmalloc(sizeof(float) * small * small);
    linear_small = (float *)xmalloc(sizeof(float) * small * small);
    for (i = 0; i < big * big; ++i) gauss_big[i] = gauss();
    for (i = 0; i < small * small; ++i) gauss_small[i] = gauss();
    for (i = 0; i < small * small; ++i) linear_small[i] = (2.0f * uniform() - 1.0f) / 32.0f; /* nn.Linear init */
    printf("# bitlinear core benchmark (backend in use: %s)\n\n", bl_backend_name(bl_get_backend()));
    bench_compression();
    bench_quantize(gauss_big, big);
    bench_forward(gauss_big, big);
    bench_accuracy("Gaussian", gauss_small, small, 1);
    bench_accuracy("nn.Linear-style uniform", linear_small, small, 1);
    bench_accuracy("Gaussian", gauss_big, big, 0);
    bench_outputs("nn.Linear-style uniform", linear_small, small);
    bench_outputs("Gaussian", gauss_small, small);
    free(gauss_big); free(gauss_small); free(linear_small);
    return 0;
}
