/* What a random Hadamard rotation does to ternary quantization error, measured on
   Gaussian and heavy-tailed weights, and what the fast transform costs.
   Weight error: ||W R^T - Q(W R^T)|| / ||W|| (R orthogonal, so this is the error of the
   effective weights); output error: ||x W^T - layer(R x)|| / ||x W^T|| through the real
   inference path (bl_linear + bl_hadamard_forward, float activations). */
#define _POSIX_C_SOURCE 199309L
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>
#include <time.h>

#define ROWS  1024
#define TOKENS 32

static uint64_t state = 0x2545F4914F6CDD1Dull;
static double uni(void)
{
    state ^= state >> 12; state ^= state << 25; state ^= state >> 27;
    return ((double)((state * 0x2545F4914F6CDD1Dull) >> 11) + 0.5) / 9007199254740992.0;
}
static double gauss(void) { return sqrt(-2.0 * log(uni())) * cos(6.283185307179586 * uni()); }
/* Student t with 3 degrees of freedom: heavy tails (finite variance, infinite kurtosis) */
static double student3(void)
{
    double z = gauss(), c = 0.0;
    int i;
    for (i = 0; i < 3; ++i) { double g = gauss(); c += g * g; }
    return z / sqrt(c / 3.0);
}

static double now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void fill(float *w, int rows, int cols, int kind)
{
    int r, c;
    for (r = 0; r < rows; ++r)
        for (c = 0; c < cols; ++c) {
            double v = kind == 1 ? student3() : gauss();
            /* kind 2: a few outlier input channels, 20x larger (as in LLM layers) */
            if (kind == 2 && c % 256 == 7) v *= 20.0;
            w[(size_t)r * cols + c] = (float)v;
        }
}

static double weight_error(const float *w, int rows, int cols, const int8_t *t, const float *s)
{
    double num = 0.0, den = 0.0;
    size_t i, n = (size_t)rows * cols;
    for (i = 0; i < n; ++i) {
        double d = (double)w[i] - (double)s[i / (size_t)cols] * t[i];
        num += d * d;
        den += (double)w[i] * w[i];
    }
    return sqrt(num / den);
}

/* quantization errors of w [ROWS][cols], with and without rotation */
static void measure(const char *name, const float *w, int cols, bl_method m, bl_scaling sc, const char *qname)
{
    size_t n = (size_t)ROWS * cols;
    float *wr = (float *)malloc(n * sizeof(float)), *s = (float *)malloc(ROWS * sizeof(float));
    float *x = (float *)malloc((size_t)TOKENS * cols * sizeof(float));
    float *yref = (float *)malloc((size_t)TOKENS * ROWS * sizeof(float)), *y = (float *)malloc((size_t)TOKENS * ROWS * sizeof(float));
    int8_t *t = (int8_t *)malloc(n);
    double werr[2], oerr[2];
    const uint64_t seed = 42;
    int rot, i, b, r;
    if (!wr || !s || !x || !yref || !y || !t) { fprintf(stderr, "out of memory\n"); exit(1); }
    for (i = 0; i < TOKENS * cols; ++i) x[i] = (float)gauss();
    for (b = 0; b < TOKENS; ++b)
        for (r = 0; r < ROWS; ++r) {
            double acc = 0.0;
            for (i = 0; i < cols; ++i) acc += (double)x[(size_t)b * cols + i] * w[(size_t)r * cols + i];
            yref[(size_t)b * ROWS + r] = (float)acc;
        }
    for (rot = 0; rot < 2; ++rot) {
        bl_linear_desc d;
        bl_linear *L;
        double num = 0.0, den = 0.0;
        memcpy(wr, w, n * sizeof(float));
        if (rot && bl_hadamard_rotate(wr, cols, ROWS, seed, 0) != BL_OK) exit(1);
        if (bl_ternarize(wr, ROWS, cols, m, sc, t, s) != BL_OK) exit(1);
        for (r = 1; sc == BL_SCALING_TENSOR && r < ROWS; ++r) s[r] = s[0];
        werr[rot] = weight_error(wr, ROWS, cols, t, s);
        memset(&d, 0, sizeof d);
        d.in_features = cols;
        d.out_features = ROWS;
        d.trits = t;
        d.scales = s;
        d.act = BL_ACT_FLOAT;
        d.hadamard = rot; /* the trits were fitted to rotated weights: the layer rotates x */
        d.hadamard_seed = seed;
        if (bl_linear_create(&d, &L) != BL_OK) exit(1);
        if (bl_linear_forward(L, x, TOKENS, y, NULL) != BL_OK) exit(1);
        for (i = 0; i < TOKENS * ROWS; ++i) {
            double e = (double)y[i] - yref[i];
            num += e * e;
            den += (double)yref[i] * yref[i];
        }
        oerr[rot] = sqrt(num / den);
        bl_linear_destroy(L);
    }
    printf("| %-28s | %4dx%-4d | %-15s | %.4f | %.4f | %.4f | %.4f |\n", name, ROWS, cols, qname,
           werr[0], werr[1], oerr[0], oerr[1]);
    free(wr); free(s); free(x); free(yref); free(y); free(t);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* median time of the fast rotation vs a dense matrix-vector product with R, n = 4096 */
static void time_transform(void)
{
    enum { N = 4096, REPS = 15, VECS = 64 };
    float *x = (float *)malloc((size_t)VECS * N * sizeof(float)), *dense = (float *)malloc((size_t)N * N * sizeof(float));
    float *y = (float *)malloc(N * sizeof(float));
    double fast[REPS], slow[REPS], sink = 0.0;
    int rep, i, j;
    if (!x || !dense || !y) exit(1);
    memset(dense, 0, (size_t)N * N * sizeof(float));
    for (i = 0; i < N; ++i) dense[(size_t)i * N + i] = 1.0f;
    if (bl_hadamard_rotate(dense, N, N, 7, 0) != BL_OK) exit(1); /* row i = R e_i: column i of R */
    for (rep = 0; rep < REPS; ++rep) {
        double t0;
        for (i = 0; i < VECS * N; ++i) x[i] = (float)gauss();
        t0 = now();
        if (bl_hadamard_rotate(x, N, VECS, 7, 0) != BL_OK) exit(1);
        fast[rep] = (now() - t0) / VECS;
        sink += x[rep];
        t0 = now();
        for (j = 0; j < N; ++j) y[j] = 0.0f;
        for (i = 0; i < N; ++i) {
            const float *col = dense + (size_t)i * N;
            float xi = x[i];
            for (j = 0; j < N; ++j) y[j] += col[j] * xi;
        }
        slow[rep] = now() - t0;
        sink += y[rep];
    }
    qsort(fast, REPS, sizeof(double), cmp_double);
    qsort(slow, REPS, sizeof(double), cmp_double);
    printf("\nrotation of one %d-vector (median of %d): fast Walsh-Hadamard %.1f us, "
           "dense matrix-vector %.1f us (%.0fx) [checksum %.3g]\n",
           N, REPS, 1e6 * fast[REPS / 2], 1e6 * slow[REPS / 2], slow[REPS / 2] / fast[REPS / 2], sink);
    free(x); free(dense); free(y);
}

int main(void)
{
    static const struct { const char *name; int kind; } mats[] = {
        { "gaussian", 0 }, { "student-t (3 dof)", 1 }, { "gaussian + 20x outlier cols", 2 } };
    static const struct { bl_method m; bl_scaling s; const char *name; } qs[] = {
        { BL_METHOD_OPTIMAL, BL_SCALING_ROW, "optimal/row" },
        { BL_METHOD_ABSMEAN, BL_SCALING_ROW, "absmean/row" },
        { BL_METHOD_ABSMEAN, BL_SCALING_TENSOR, "absmean/tensor" } };
    static const int widths[] = { 1024, 1000 };
    size_t mi, qi, wi;
    printf("Hadamard rotation and ternary quantization error (relative Frobenius; output error\n"
           "over %d Gaussian tokens through bl_linear, float activations)\n\n", TOKENS);
    printf("| %-28s | %-9s | %-15s | %-6s | %-6s | %-6s | %-6s |\n", "weights", "shape", "quantizer",
           "W err", "W rot", "y err", "y rot");
    printf("|------------------------------|-----------|-----------------|--------|--------|--------|--------|\n");
    for (wi = 0; wi < sizeof widths / sizeof widths[0]; ++wi)
        for (mi = 0; mi < sizeof mats / sizeof mats[0]; ++mi) {
            int cols = widths[wi];
            float *w = (float *)malloc((size_t)ROWS * cols * sizeof(float));
            if (!w) return 1;
            fill(w, ROWS, cols, mats[mi].kind);
            for (qi = 0; qi < sizeof qs / sizeof qs[0]; ++qi)
                if (wi == 0 || qi == 0) measure(mats[mi].name, w, cols, qs[qi].m, qs[qi].s, qs[qi].name);
            free(w);
        }
    time_transform();
    return 0;
}
