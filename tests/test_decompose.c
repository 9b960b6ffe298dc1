/* Greedy ternary decomposition and its refinement. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include "test.h"

/* squared error of row r against sum_j s[j][r] t[j][r][:] */
static double row_error(const float *w, int rows, int cols, int k, const int8_t *t, const float *s, int r)
{
    double e = 0.0;
    int c, j;
    for (c = 0; c < cols; ++c) {
        double v = w[(size_t)r * cols + c];
        for (j = 0; j < k; ++j) v -= (double)s[j * rows + r] * t[(size_t)j * rows * cols + (size_t)r * cols + c];
        e += v * v;
    }
    return e;
}

static void test_k1_is_optimal(void)
{
    int rows = 9, cols = 77, i;
    float *w = (float *)bt_alloc(sizeof(float) * rows * cols), s1[9], s2[9];
    int8_t *t1 = (int8_t *)bt_alloc((size_t)rows * cols), *t2 = (int8_t *)bt_alloc((size_t)rows * cols);
    for (i = 0; i < rows * cols; ++i) w[i] = bt_gauss();
    CHECK(bl_decompose(w, rows, cols, 1, 0, t1, s1) == BL_OK);
    CHECK(bl_ternarize(w, rows, cols, BL_METHOD_OPTIMAL, BL_SCALING_ROW, t2, s2) == BL_OK);
    CHECK(memcmp(t1, t2, (size_t)rows * cols) == 0);
    CHECK(memcmp(s1, s2, sizeof s1) == 0);
    free(w); free(t1); free(t2);
}

/* component j is the OPTIMAL fit of what components < j left */
static void test_greedy_is_residual_fit(void)
{
    int rows = 5, cols = 130, k = 3, i, j, r;
    size_t n = (size_t)rows * cols;
    float *w = (float *)bt_alloc(sizeof(float) * n), *resid = (float *)bt_alloc(sizeof(float) * n), s[15], sr[5];
    int8_t *t = (int8_t *)bt_alloc(n * k), *tr = (int8_t *)bt_alloc(n);
    for (i = 0; i < (int)n; ++i) w[i] = bt_uniform(-1.0f, 1.0f);
    CHECK(bl_decompose(w, rows, cols, k, 0, t, s) == BL_OK);
    memcpy(resid, w, sizeof(float) * n);
    for (j = 0; j < k; ++j) {
        CHECK(bl_ternarize(resid, rows, cols, BL_METHOD_OPTIMAL, BL_SCALING_ROW, tr, sr) == BL_OK);
        CHECK(memcmp(tr, t + j * n, n) == 0);
        CHECK(memcmp(sr, s + j * rows, sizeof sr) == 0);
        for (r = 0; r < rows; ++r)
            for (i = 0; i < cols; ++i) resid[r * cols + i] -= sr[r] * tr[r * cols + i];
    }
    free(w); free(resid); free(t); free(tr);
}

static void test_refinement_never_worse(void)
{
    static const int shapes[][2] = { { 1, 1 }, { 3, 2 }, { 4, 5 }, { 7, 64 }, { 6, 321 } };
    size_t si;
    int k, iters, r, i, dist;
    for (si = 0; si < sizeof shapes / sizeof shapes[0]; ++si)
        for (k = 1; k <= 4; ++k)
            for (dist = 0; dist < 2; ++dist) {
                int rows = shapes[si][0], cols = shapes[si][1];
                size_t n = (size_t)rows * cols;
                float *w = (float *)bt_alloc(sizeof(float) * n), *sg = (float *)bt_alloc(sizeof(float) * rows * k),
                      *sr = (float *)bt_alloc(sizeof(float) * rows * k);
                int8_t *tg = (int8_t *)bt_alloc(n * k), *trf = (int8_t *)bt_alloc(n * k);
                double prev_total = 1e300;
                for (i = 0; i < (int)n; ++i) w[i] = dist ? bt_gauss() : (float)bt_int(-5, 5);
                CHECK(bl_decompose(w, rows, cols, k, 0, tg, sg) == BL_OK);
                for (iters = 1; iters <= 8; iters *= 2) {
                    double total = 0.0;
                    CHECK(bl_decompose(w, rows, cols, k, iters, trf, sr) == BL_OK);
                    for (r = 0; r < rows; ++r) {
                        double eg = row_error(w, rows, cols, k, tg, sg, r), er = row_error(w, rows, cols, k, trf, sr, r);
                        CHECK(er <= eg * (1.0 + 1e-9) + 1e-12);
                        total += er;
                    }
                    CHECK(total <= prev_total * (1.0 + 1e-9) + 1e-12); /* more passes never hurt */
                    prev_total = total;
                }
                for (i = 0; i < (int)(n * k); ++i) CHECK(trf[i] >= -1 && trf[i] <= 1);
                free(w); free(sg); free(sr); free(tg); free(trf);
            }
}

static void test_error_helper_and_accuracy(void)
{
#ifdef BITLINEAR_TEST_QUICK
    int rows = 16, cols = 256;
#else
    int rows = 64, cols = 512;
#endif
    int k, i, r;
    size_t n = (size_t)rows * cols;
    float *w = (float *)bt_alloc(sizeof(float) * n), *s = (float *)bt_alloc(sizeof(float) * rows * 4);
    int8_t *t = (int8_t *)bt_alloc(n * 4);
    double norm = 0.0, last = 1.0;
    for (i = 0; i < (int)n; ++i) { w[i] = bt_gauss(); norm += (double)w[i] * w[i]; }
    for (k = 1; k <= 4; ++k) {
        double e = 0.0, rel;
        CHECK(bl_decompose(w, rows, cols, k, 8, t, s) == BL_OK);
        for (r = 0; r < rows; ++r) e += row_error(w, rows, cols, k, t, s, r);
        rel = bl_decompose_error(w, rows, cols, k, t, s);
        CHECK(fabs(rel - sqrt(e / norm)) <= 1e-9);
        CHECK(rel < last);
        last = rel;
    }
    /* loose sanity bounds (the exact figures are measured by make bench) */
    CHECK(last < 0.035);
    free(w); free(s); free(t);
}

static void test_methods_and_tensor_scaling(void)
{
    int rows = 6, cols = 40, k = 2, m, sc, i, r, j;
    size_t n = (size_t)rows * cols;
    float *w = (float *)bt_alloc(sizeof(float) * n), s[12];
    int8_t *t = (int8_t *)bt_alloc(n * k);
    for (i = 0; i < (int)n; ++i) w[i] = bt_gauss();
    for (m = BL_METHOD_OPTIMAL; m <= BL_METHOD_TWN; ++m)
        for (sc = 0; sc < 2; ++sc) {
            CHECK(bl_decompose_ex(w, rows, cols, k, 3, (bl_method)m, (bl_scaling)sc, t, s) == BL_OK);
            CHECK(bl_decompose_error(w, rows, cols, k, t, s) < 0.6);
            if (sc == BL_SCALING_TENSOR)
                for (j = 0; j < k; ++j)
                    for (r = 1; r < rows; ++r) CHECK(s[j * rows + r] == s[j * rows]);
        }
    free(w); free(t);
}

static void test_decompose_errors(void)
{
    float w[4] = { 1, 2, 3, 4 }, s[8] = { 5, 5, 5, 5, 5, 5, 5, 5 };
    int8_t t[16];
    memset(t, 9, sizeof t);
    CHECK(bl_decompose(w, 2, 2, 0, 0, t, s) == BL_ERR_INVALID);
    CHECK(bl_decompose(w, 2, 2, BL_MAX_K + 1, 0, t, s) == BL_ERR_INVALID);
    CHECK(bl_decompose(w, 2, 2, 2, -1, t, s) == BL_ERR_INVALID);
    CHECK(bl_decompose(NULL, 2, 2, 2, 0, t, s) == BL_ERR_INVALID);
    CHECK(bl_decompose(w, 2, 0, 2, 0, t, s) == BL_ERR_INVALID);
    CHECK(bl_decompose_ex(w, 2, 2, 2, 0, (bl_method)9, BL_SCALING_ROW, t, s) == BL_ERR_INVALID);
    w[3] = NAN;
    CHECK(bl_decompose(w, 2, 2, 2, 1, t, s) == BL_ERR_NONFINITE);
    CHECK(t[0] == 9 && s[0] == 5.0f);
    CHECK(bl_decompose_error(NULL, 2, 2, 1, t, s) < 0.0);
}

int main(void)
{
    bt_seed(3);
    test_k1_is_optimal();
    test_greedy_is_residual_fit();
    test_refinement_never_worse();
    test_error_helper_and_accuracy();
    test_methods_and_tensor_scaling();
    test_decompose_errors();
    return bt_summary("test_decompose");
}
