/* Quick start: convert float linear layers to ternary ones and compare them.
   Build: cc -O2 -I. examples/quickstart.c -lm      (make demo builds and runs it) */
#define _POSIX_C_SOURCE 200809L
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
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

static uint32_t rng_state = 12345u;
static float uniform01(void) /* xorshift32 */
{
    rng_state ^= rng_state << 13; rng_state ^= rng_state >> 17; rng_state ^= rng_state << 5;
    return (float)(rng_state >> 8) * (1.0f / 16777216.0f);
}
static float gauss(void)
{
    float u = uniform01() + 1e-7f, v = uniform01();
    return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v);
}

/* The float layer everything is compared with: y = x W^T + b. */
static void float_forward(const float *w, const float *b, const float *x, int batch, int in, int out, float *y)
{
    int t, r, i;
    for (t = 0; t < batch; ++t)
        for (r = 0; r < out; ++r) {
            float acc = b[r];
            for (i = 0; i < in; ++i) acc += w[(size_t)r * in + i] * x[(size_t)t * in + i];
            y[(size_t)t * out + r] = acc;
        }
}

static const char *method_names[] = { "optimal", "absmean", "absmax", "twn" };

static void compare(const char *title, const float *w, const float *b, int in, int out)
{
    static const struct { bl_method method; int k, refine; } rows[] = {
        { BL_METHOD_OPTIMAL, 1, 0 }, { BL_METHOD_ABSMEAN, 1, 0 }, { BL_METHOD_ABSMAX, 1, 0 },
        { BL_METHOD_TWN, 1, 0 }, { BL_METHOD_OPTIMAL, 2, 4 }, { BL_METHOD_OPTIMAL, 3, 4 },
    };
    int batch = 8, i, reps = 5;
    size_t ri;
    float *x = (float *)malloc(sizeof(float) * batch * in);
    float *ref = (float *)malloc(sizeof(float) * batch * out), *y = (float *)malloc(sizeof(float) * batch * out);
    double t_float, t0;
    if (!x || !ref || !y) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (i = 0; i < batch * in; ++i) x[i] = gauss();
    t0 = now();
    for (i = 0; i < reps; ++i) float_forward(w, b, x, 1, in, out, ref);
    t_float = (now() - t0) / reps;
    float_forward(w, b, x, batch, in, out, ref);

    printf("\n%s: %d x %d, fp32 weights + bias = %.2f MB, naive float forward %.0f us/token\n", title, out, in,
           (double)((size_t)in * out + out) * 4.0 / 1048576.0, t_float * 1e6);
    printf("  method   k   bytes      vs fp32   cosine    rel.error   forward us/token  speedup\n");
    for (ri = 0; ri < sizeof rows / sizeof rows[0]; ++ri) {
        bl_linear_desc d;
        bl_linear *layer;
        void *scratch;
        double dot = 0.0, ny = 0.0, nr = 0.0, err = 0.0, t_tern;
        bl_status st;
        memset(&d, 0, sizeof d); /* zero means defaults: 2-bit packing, INT8 activations, per-row scales */
        d.in_features = in;
        d.out_features = out;
        d.weight = w;
        d.bias = b;
        d.method = rows[ri].method;
        d.k = rows[ri].k;
        d.refine_iters = rows[ri].refine;
        st = bl_linear_create(&d, &layer);
        if (st != BL_OK) { printf("  create failed: %s\n", bl_status_string(st)); continue; }
        scratch = malloc(bl_linear_scratch_size(layer, batch));
        bl_linear_forward(layer, x, batch, y, scratch);
        for (i = 0; i < batch * out; ++i) {
            dot += (double)y[i] * ref[i];
            ny += (double)y[i] * y[i];
            nr += (double)ref[i] * ref[i];
            err += ((double)y[i] - ref[i]) * ((double)y[i] - ref[i]);
        }
        t0 = now();
        for (i = 0; i < reps * 4; ++i) bl_linear_forward(layer, x, 1, y, scratch);
        t_tern = (now() - t0) / (reps * 4);
        printf("  %-8s %d  %9zu  %6.1fx   %6.2f%%   %6.1f%%     %9.0f       %5.1fx\n", method_names[d.method], d.k,
               bl_linear_nbytes(layer), (double)((size_t)in * out + out) * 4.0 / (double)bl_linear_nbytes(layer),
               100.0 * dot / sqrt(ny * nr), 100.0 * sqrt(err / nr), t_tern * 1e6, t_float / t_tern);
        free(scratch);
        bl_linear_destroy(layer);
    }
    free(x); free(ref); free(y);
}

int main(void)
{
    int n = 1024, big = 4096, i;
    float *w = (float *)malloc(sizeof(float) * n * n), *b = (float *)malloc(sizeof(float) * big);
    float *wb = (float *)malloc(sizeof(float) * big * big), *bz = (float *)calloc((size_t)big, sizeof(float));
    float bound = 1.0f / sqrtf((float)n);
    if (!w || !b || !wb || !bz) { fprintf(stderr, "out of memory\n"); return 1; }
    printf("bitlinear %d.%d.%d quick start (backend: %s)\n", BITLINEAR_VERSION_MAJOR, BITLINEAR_VERSION_MINOR,
           BITLINEAR_VERSION_PATCH, bl_backend_name(bl_get_backend()));
    for (i = 0; i < n * n; ++i) w[i] = (2.0f * uniform01() - 1.0f) * bound; /* like nn.Linear's init */
    for (i = 0; i < n; ++i) b[i] = (2.0f * uniform01() - 1.0f) * bound;
    compare("nn.Linear-style layer", w, b, n, n);
    for (i = 0; i < big * big; ++i) wb[i] = gauss();
    compare("Gaussian layer", wb, bz, big, big);
    printf("\ncosine and rel.error: outputs of 8 random tokens vs the float layer (INT8 activations).\n"
           "k > 1 sums k ternary components (4 refinement passes here); see make bench for more.\n");
    free(w); free(b); free(wb); free(bz);
    return 0;
}
