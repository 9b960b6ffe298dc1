/* Weight ternarization (all methods and scalings) and activation quantization. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include "test.h"

enum { DIST_GAUSS, DIST_UNIFORM, DIST_HEAVY, DIST_TIES, DIST_SPARSE, DIST_COUNT };

static void fill(float *w, size_t n, int dist)
{
    size_t i;
    for (i = 0; i < n; ++i) {
        switch (dist) {
        case DIST_GAUSS:   w[i] = bt_gauss(); break;
        case DIST_UNIFORM: w[i] = bt_uniform(-0.05f, 0.05f); break;
        case DIST_HEAVY:   w[i] = bt_gauss() / (0.05f + bt_uniform(0.0f, 1.0f)); break;
        case DIST_TIES:    w[i] = (float)bt_int(-3, 3) * 0.25f; break;
        default:           w[i] = bt_int(0, 9) == 0 ? bt_gauss() * 100.0f : 0.0f; break;
        }
    }
}

static int cmp_desc_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

/* brute force: best ||w - s t||^2 over every "keep the m largest |w|" set */
static double brute_optimal_error(const float *w, size_t n)
{
    double *a = (double *)bt_alloc(n * sizeof(double)), total = 0.0, sum = 0.0, best = 0.0;
    size_t i;
    for (i = 0; i < n; ++i) { a[i] = fabs((double)w[i]); total += a[i] * a[i]; }
    qsort(a, n, sizeof(double), cmp_desc_double);
    for (i = 0; i < n; ++i) {
        sum += a[i];
        if (sum * sum / (double)(i + 1) > best) best = sum * sum / (double)(i + 1);
    }
    free(a);
    return total - best;
}

static double fit_error(const float *w, const int8_t *t, size_t n, float s)
{
    double e = 0.0;
    size_t i;
    for (i = 0; i < n; ++i) {
        double d = (double)w[i] - (double)s * t[i];
        e += d * d;
    }
    return e;
}

static void test_optimal_matches_brute_force(void)
{
    static const int sizes[] = { 1, 2, 3, 5, 17, 64, 255, 1000, 4097 };
    size_t si;
    int dist, rep;
    for (si = 0; si < sizeof sizes / sizeof sizes[0]; ++si)
        for (dist = 0; dist < DIST_COUNT; ++dist)
            for (rep = 0; rep < 3; ++rep) {
                int n = sizes[si];
                float *w = (float *)bt_alloc((size_t)n * sizeof(float)), s = 0.0f;
                int8_t *t = (int8_t *)bt_alloc((size_t)n);
                double brute, ours, tol;
                fill(w, (size_t)n, dist);
                CHECK(bl_ternarize(w, 1, n, BL_METHOD_OPTIMAL, BL_SCALING_ROW, t, &s) == BL_OK);
                brute = brute_optimal_error(w, (size_t)n);
                ours = fit_error(w, t, (size_t)n, s);
                tol = 1e-9 * (brute + 1e-30) + 1e-30;
                CHECK(ours <= brute + tol + 1e-6 * brute);
                CHECK(ours >= brute - 1e-6 * brute - 1e-30); /* sanity of the reference */
                free(w);
                free(t);
            }
}

static void test_optimal_tensor(void)
{
    int rows = 37, cols = 53, i;
    float *w = (float *)bt_alloc(sizeof(float) * rows * cols), s = -1.0f;
    int8_t *t = (int8_t *)bt_alloc((size_t)rows * cols);
    fill(w, (size_t)rows * cols, DIST_GAUSS);
    CHECK(bl_ternarize(w, rows, cols, BL_METHOD_OPTIMAL, BL_SCALING_TENSOR, t, &s) == BL_OK);
    {
        double brute = brute_optimal_error(w, (size_t)rows * cols), ours = fit_error(w, t, (size_t)rows * cols, s);
        CHECK(fabs(ours - brute) <= 1e-6 * brute);
    }
    for (i = 0; i < rows * cols; ++i) CHECK(t[i] >= -1 && t[i] <= 1);
    free(w);
    free(t);
}

/* slow references for the rule-based methods, written from DESIGN.md */
static void reference_method(const float *w, int n, bl_method m, int8_t *t, float *s)
{
    double mean = 0.0, amax = 0.0, sum = 0.0;
    int i, cnt = 0;
    for (i = 0; i < n; ++i) { mean += fabs((double)w[i]); amax = fabs((double)w[i]) > amax ? fabs((double)w[i]) : amax; }
    mean /= n;
    if (m == BL_METHOD_ABSMEAN) {
        float sc = (float)mean < 1e-5f ? 1e-5f : (float)mean;
        for (i = 0; i < n; ++i) {
            float v = w[i] / sc;
            v = v > 1.0f ? 1.0f : (v < -1.0f ? -1.0f : v);
            t[i] = (int8_t)nearbyintf(v);
        }
        *s = sc;
        return;
    }
    for (i = 0; i < n; ++i) {
        if (m == BL_METHOD_ABSMAX) {
            float v = amax > 0.0 ? w[i] / (float)amax : 0.0f;
            t[i] = (int8_t)nearbyintf(v);
        } else { /* TWN */
            t[i] = fabs((double)w[i]) > 0.7 * mean ? (int8_t)(w[i] > 0 ? 1 : -1) : 0;
        }
        if (t[i]) { sum += fabs((double)w[i]); ++cnt; }
    }
    *s = cnt ? (float)(sum / cnt) : 0.0f;
}

static void test_rule_methods(void)
{
    static const bl_method methods[] = { BL_METHOD_ABSMEAN, BL_METHOD_ABSMAX, BL_METHOD_TWN };
    static const int sizes[] = { 1, 3, 64, 333 };
    size_t mi, si;
    int dist, r;
    for (mi = 0; mi < 3; ++mi)
        for (si = 0; si < 4; ++si)
            for (dist = 0; dist < DIST_COUNT; ++dist) {
                int rows = 3, n = sizes[si];
                float *w = (float *)bt_alloc(sizeof(float) * rows * n), s[3], rs = 0.0f, ts = 0.0f;
                int8_t *t = (int8_t *)bt_alloc((size_t)rows * n), *rt = (int8_t *)bt_alloc((size_t)rows * n);
                fill(w, (size_t)rows * n, dist);
                CHECK(bl_ternarize(w, rows, n, methods[mi], BL_SCALING_ROW, t, s) == BL_OK);
                for (r = 0; r < rows; ++r) {
                    reference_method(w + r * n, n, methods[mi], rt + r * n, &rs);
                    CHECK(memcmp(t + r * n, rt + r * n, (size_t)n) == 0);
                    CHECK(fabsf(s[r] - rs) <= 1e-6f * fabsf(rs));
                }
                /* per tensor: one group of rows*n values */
                CHECK(bl_ternarize(w, rows, n, methods[mi], BL_SCALING_TENSOR, t, &ts) == BL_OK);
                reference_method(w, rows * n, methods[mi], rt, &rs);
                CHECK(memcmp(t, rt, (size_t)rows * n) == 0);
                CHECK(fabsf(ts - rs) <= 1e-6f * fabsf(rs));
                free(w); free(t); free(rt);
            }
}

static void test_zero_rows(void)
{
    float w[2 * 7], s[2] = { -1.0f, -1.0f };
    int8_t t[2 * 7];
    int m, i;
    memset(w, 0, sizeof w);
    for (m = BL_METHOD_OPTIMAL; m <= BL_METHOD_TWN; ++m) {
        memset(t, 5, sizeof t);
        CHECK(bl_ternarize(w, 2, 7, (bl_method)m, BL_SCALING_ROW, t, s) == BL_OK);
        for (i = 0; i < 14; ++i) CHECK(t[i] == 0);
        CHECK(s[0] - s[0] == 0.0f && s[0] >= 0.0f);
    }
}

static void test_ternarize_errors(void)
{
    float w[6] = { 1, 2, 3, 4, 5, 6 }, s[2] = { 7.0f, 7.0f };
    int8_t t[6] = { 9, 9, 9, 9, 9, 9 };
    int i;
    CHECK(bl_ternarize(NULL, 2, 3, BL_METHOD_OPTIMAL, BL_SCALING_ROW, t, s) == BL_ERR_INVALID);
    CHECK(bl_ternarize(w, 2, 3, BL_METHOD_OPTIMAL, BL_SCALING_ROW, NULL, s) == BL_ERR_INVALID);
    CHECK(bl_ternarize(w, 2, 3, BL_METHOD_OPTIMAL, BL_SCALING_ROW, t, NULL) == BL_ERR_INVALID);
    CHECK(bl_ternarize(w, 0, 3, BL_METHOD_OPTIMAL, BL_SCALING_ROW, t, s) == BL_ERR_INVALID);
    CHECK(bl_ternarize(w, 2, -1, BL_METHOD_OPTIMAL, BL_SCALING_ROW, t, s) == BL_ERR_INVALID);
    CHECK(bl_ternarize(w, 2, 3, (bl_method)4, BL_SCALING_ROW, t, s) == BL_ERR_INVALID);
    CHECK(bl_ternarize(w, 2, 3, (bl_method)77, BL_SCALING_ROW, t, s) == BL_ERR_INVALID);
    CHECK(bl_ternarize(w, 2, 3, BL_METHOD_OPTIMAL, (bl_scaling)2, t, s) == BL_ERR_INVALID);
    w[4] = NAN;
    CHECK(bl_ternarize(w, 2, 3, BL_METHOD_OPTIMAL, BL_SCALING_ROW, t, s) == BL_ERR_NONFINITE);
    w[4] = -INFINITY;
    CHECK(bl_ternarize(w, 2, 3, BL_METHOD_ABSMEAN, BL_SCALING_TENSOR, t, s) == BL_ERR_NONFINITE);
    for (i = 0; i < 6; ++i) CHECK(t[i] == 9); /* untouched on error */
    CHECK(s[0] == 7.0f && s[1] == 7.0f);
}

/* ---- activations ---- */

static void test_activations(void)
{
    static const int sizes[] = { 1, 2, 7, 64, 1000 };
    size_t si;
    int bits, rep, i;
    for (si = 0; si < 5; ++si)
        for (bits = 2; bits <= 8; ++bits)
            for (rep = 0; rep < 3; ++rep) {
                int n = sizes[si], qmax = (1 << (bits - 1)) - 1;
                float *x = (float *)bt_alloc(sizeof(float) * n), scale = -1.0f, amax = 0.0f, inv;
                int8_t *q = (int8_t *)bt_alloc((size_t)n);
                for (i = 0; i < n; ++i) {
                    x[i] = rep == 2 ? (float)bt_int(-4, 4) * 0.5f : bt_gauss() * (rep ? 1e-3f : 10.0f);
                    amax = fabsf(x[i]) > amax ? fabsf(x[i]) : amax;
                }
                CHECK(bl_quantize_activations(x, n, bits, q, &scale) == BL_OK);
                inv = amax > 0.0f ? (float)qmax / amax : 0.0f;
                CHECK(scale == (amax > 0.0f ? (float)(amax / (float)qmax) : 0.0f)); /* the cast drops excess precision */
                for (i = 0; i < n; ++i) {
                    float v = x[i] * inv;
                    v = v > (float)qmax ? (float)qmax : (v < -(float)qmax ? -(float)qmax : v);
                    CHECK_EQ_INT(q[i], (int)nearbyintf(v));
                    CHECK(fabsf(x[i] - scale * q[i]) <= 0.5001f * scale + 1e-30f);
                }
                free(x);
                free(q);
            }
}

static void test_activation_edges(void)
{
    float x[4] = { 0, 0, 0, 0 }, s = 1.0f, tiny[3] = { 1e-38f, -2e-39f, 0 }, half[2] = { 1.0f, 0.5f / 127.0f * 1.0f };
    int8_t q[4] = { 1, 1, 1, 1 };
    CHECK(bl_quantize_activations(x, 4, 8, q, &s) == BL_OK);
    CHECK(s == 0.0f && q[0] == 0 && q[3] == 0);
    CHECK(bl_quantize_activations(tiny, 3, 8, q, &s) == BL_OK); /* below 2^-100: zero, no overflow */
    CHECK(s == 0.0f && q[0] == 0 && q[1] == 0);
    CHECK(bl_quantize_activations(half, 2, 8, q, &s) == BL_OK);
    CHECK(q[0] == 127);
    x[2] = NAN;
    q[0] = 42;
    CHECK(bl_quantize_activations(x, 4, 8, q, &s) == BL_ERR_NONFINITE);
    CHECK(q[0] == 42);
    x[2] = INFINITY;
    CHECK(bl_quantize_activations(x, 4, 8, q, &s) == BL_ERR_NONFINITE);
    CHECK(bl_quantize_activations(x, 4, 1, q, &s) == BL_ERR_INVALID);
    CHECK(bl_quantize_activations(x, 4, 9, q, &s) == BL_ERR_INVALID);
    CHECK(bl_quantize_activations(x, 0, 8, q, &s) == BL_ERR_INVALID);
    CHECK(bl_quantize_activations(NULL, 4, 8, q, &s) == BL_ERR_INVALID);
    CHECK(bl_quantize_activations(x, 4, 8, NULL, &s) == BL_ERR_INVALID);
    CHECK(bl_quantize_activations(x, 4, 8, q, NULL) == BL_ERR_INVALID);
}

static void test_status_strings(void)
{
    int s;
    for (s = 0; s <= 8; ++s) CHECK(bl_status_string((bl_status)s) != NULL);
    CHECK(strcmp(bl_status_string(BL_OK), "ok") == 0);
}

/* bl_version: "MAJOR.MINOR.PATCH", equal to the version macros */
static void test_version(void)
{
    char want[64];
    const char *v = bl_version();
    unsigned a, b, c;
    char tail;
    CHECK(v != NULL);
    if (!v) return;
    snprintf(want, sizeof want, "%d.%d.%d", BITLINEAR_VERSION_MAJOR, BITLINEAR_VERSION_MINOR,
             BITLINEAR_VERSION_PATCH);
    CHECK(strcmp(v, want) == 0);
    CHECK(sscanf(v, "%u.%u.%u%c", &a, &b, &c, &tail) == 3);
    CHECK(bl_version() == v || strcmp(bl_version(), v) == 0);
}

int main(void)
{
    bt_seed(1);
    test_optimal_matches_brute_force();
    test_optimal_tensor();
    test_rule_methods();
    test_zero_rows();
    test_ternarize_errors();
    test_version();
    test_activations();
    test_activation_edges();
    test_status_strings();
    return bt_summary("test_quantize");
}
