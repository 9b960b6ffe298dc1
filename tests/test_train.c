/* Training: Hadamard rotation, dead-zone statistics, the trainable layer's forward,
   straight-through gradients, optimizer steps and export, against slow references. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include "test.h"

#ifdef BITLINEAR_TEST_QUICK
#define BIG_N 256
#else
#define BIG_N 1024
#endif

static float *randv(size_t n, float scale)
{
    float *v = (float *)bt_alloc(n * sizeof(float));
    size_t i;
    for (i = 0; i < n; ++i) v[i] = scale * bt_gauss();
    return v;
}

static int close_to(double a, double b, double tol) { return fabs(a - b) <= tol * (1.0 + fabs(b)); }

/* dense Sylvester Hadamard: H[i][j] = (-1)^popcount(i & j) */
static int hsign(int i, int j)
{
    int v = i & j, p = 0;
    while (v) { p ^= 1; v &= v - 1; }
    return p ? -1 : 1;
}

static void test_transform(void)
{
    static const int sizes[] = { 1, 2, 4, 8, 64, BIG_N };
    size_t k;
    for (k = 0; k < sizeof sizes / sizeof sizes[0]; ++k) {
        int n = sizes[k], i, j, bad = 0;
        float *x = randv((size_t)n * 2, 1.0f), *y = (float *)bt_alloc((size_t)n * 2 * sizeof(float));
        memcpy(y, x, (size_t)n * 2 * sizeof(float));
        CHECK_EQ_INT(bl_hadamard_transform(y, n, 2), BL_OK);
        for (i = 0; i < n; ++i) {
            double ref0 = 0.0, ref1 = 0.0;
            for (j = 0; j < n; ++j) {
                ref0 += hsign(i, j) * (double)x[j];
                ref1 += hsign(i, j) * (double)x[n + j];
            }
            bad += !close_to(y[i], ref0, 1e-4 * sqrt((double)n)) || !close_to(y[n + i], ref1, 1e-4 * sqrt((double)n));
        }
        CHECK_EQ_INT(bad, 0);
        /* H H = n I: twice gives n x */
        CHECK_EQ_INT(bl_hadamard_transform(y, n, 2), BL_OK);
        for (i = 0, bad = 0; i < 2 * n; ++i) bad += !close_to(y[i] / n, x[i], 1e-4);
        CHECK_EQ_INT(bad, 0);
        free(x);
        free(y);
    }
    {   /* H H^T = n I from the columns of H (transforms of unit vectors) */
        int n = 32, i, j, c, bad = 0;
        float *cols = (float *)bt_alloc((size_t)n * n * sizeof(float));
        memset(cols, 0, (size_t)n * n * sizeof(float));
        for (i = 0; i < n; ++i) cols[(size_t)i * n + i] = 1.0f;
        CHECK_EQ_INT(bl_hadamard_transform(cols, n, n), BL_OK);
        for (i = 0; i < n; ++i)
            for (j = 0; j < n; ++j) {
                double dot = 0.0;
                for (c = 0; c < n; ++c) dot += (double)cols[(size_t)i * n + c] * cols[(size_t)j * n + c];
                bad += dot != (i == j ? n : 0);
            }
        CHECK_EQ_INT(bad, 0);
        free(cols);
    }
    {
        float x[4] = { 1, 2, 3, 4 }, nanx[4] = { 1, 2, 0, 4 };
        nanx[2] = nanf("");
        CHECK_EQ_INT(bl_hadamard_transform(x, 3, 1), BL_ERR_INVALID);
        CHECK_EQ_INT(bl_hadamard_transform(x, 0, 1), BL_ERR_INVALID);
        CHECK_EQ_INT(bl_hadamard_transform(NULL, 4, 1), BL_ERR_INVALID);
        CHECK_EQ_INT(bl_hadamard_transform(x, 4, -1), BL_ERR_INVALID);
        CHECK_EQ_INT(bl_hadamard_transform(x, 4, 0), BL_OK);
        CHECK_EQ_INT(bl_hadamard_transform(nanx, 4, 1), BL_ERR_NONFINITE);
        CHECK(nanx[0] == 1.0f && nanx[1] == 2.0f && nanx[3] == 4.0f);
        CHECK_EQ_INT(bl_hadamard_rotate(nanx, 4, 1, 1, 0), BL_ERR_NONFINITE);
        CHECK(nanx[0] == 1.0f && nanx[1] == 2.0f && nanx[3] == 4.0f);
        CHECK_EQ_INT(bl_hadamard_rotate(x, 0, 1, 1, 0), BL_ERR_INVALID);
    }
}

/* The rotation's columns R e_j: zero outside j's block, +-H_b[:, j - off] / sqrt(b) inside. */
static void test_rotate(void)
{
    static const int sizes[] = { 1, 3, 7, 64, 100, 257 };
    size_t k;
    for (k = 0; k < sizeof sizes / sizeof sizes[0]; ++k) {
        int n = sizes[k], i, j, bad = 0, flips = 0, differ = 0;
        float *cols = (float *)bt_alloc((size_t)n * n * sizeof(float)), *x, *y;
        memset(cols, 0, (size_t)n * n * sizeof(float));
        for (j = 0; j < n; ++j) cols[(size_t)j * n + j] = 1.0f;
        CHECK_EQ_INT(bl_hadamard_rotate(cols, n, n, 12345, 0), BL_OK);
        for (j = 0; j < n; ++j) {
            /* j's block: the binary decomposition of n, largest first */
            int off = 0, b = 1 << 30, sign;
            const float *col = cols + (size_t)j * n;
            while (b) {
                if ((n & b) && j < off + b) break;
                if (n & b) off += b;
                b >>= 1;
            }
            sign = col[off] > 0.0f ? 1 : -1;
            flips += sign < 0;
            for (i = 0; i < n; ++i) {
                double ref = (i >= off && i < off + b) ? sign * hsign(i - off, j - off) / sqrt((double)b) : 0.0;
                bad += fabs(col[i] - ref) > 1e-6;
            }
        }
        CHECK_EQ_INT(bad, 0);
        if (n >= 64) CHECK(flips > n / 4 && flips < 3 * n / 4); /* random signs, not constant */
        /* orthonormal: R^T undoes R; a different seed gives another rotation */
        x = randv((size_t)n * 3, 1.0f);
        y = (float *)bt_alloc((size_t)n * 3 * sizeof(float));
        memcpy(y, x, (size_t)n * 3 * sizeof(float));
        CHECK_EQ_INT(bl_hadamard_rotate(y, n, 3, 12345, 0), BL_OK);
        for (i = 0; i < n; ++i) {   /* the fast rotation equals the dense matrix R */
            double ref = 0.0;
            for (j = 0; j < n; ++j) ref += (double)cols[(size_t)j * n + i] * x[j];
            differ += fabs(y[i] - ref) > 1e-4;
        }
        CHECK_EQ_INT(differ, 0);
        {
            double n0 = 0.0, n1 = 0.0;
            for (i = 0; i < n; ++i) { n0 += (double)x[i] * x[i]; n1 += (double)y[i] * y[i]; }
            CHECK(close_to(n1, n0, 1e-5));
        }
        CHECK_EQ_INT(bl_hadamard_rotate(y, n, 3, 12345, 1), BL_OK);
        for (i = 0, bad = 0; i < 3 * n; ++i) bad += fabs(y[i] - x[i]) > 1e-5 * (1.0 + fabs(x[i]));
        CHECK_EQ_INT(bad, 0);
        if (n >= 64) {
            memcpy(y, x, (size_t)n * sizeof(float));
            CHECK_EQ_INT(bl_hadamard_rotate(y, n, 1, 54321, 0), BL_OK);
            for (i = 0, differ = 0; i < n; ++i) {
                double ref = 0.0;
                for (j = 0; j < n; ++j) ref += (double)cols[(size_t)j * n + i] * x[j]; /* seed 12345 */
                differ += fabs(y[i] - ref) > 1e-4;
            }
            CHECK(differ > 0);
        }
        free(cols);
        free(x);
        free(y);
    }
}

/* ---- dead zone ---- */

static void dz_reference(const float *w, int rows, int cols, bl_method method, bl_scaling scaling,
                         float band, double f[5])
{
    int8_t *t = (int8_t *)bt_alloc((size_t)rows * cols);
    float *s = (float *)bt_alloc((size_t)rows * sizeof(float));
    int g, groups = scaling == BL_SCALING_TENSOR ? 1 : rows, i;
    size_t n = (size_t)rows * cols, per = n / (size_t)groups;
    memset(f, 0, 5 * sizeof(double));
    CHECK_EQ_INT(bl_ternarize(w, rows, cols, method, scaling, t, s), BL_OK);
    for (g = 0; g < groups; ++g) {
        const float *wg = w + (size_t)g * per;
        double tau, amax = 0.0, mean = 0.0;
        for (i = 0; i < (int)per; ++i) {
            amax = fabs(wg[i]) > amax ? fabs(wg[i]) : amax;
            mean += fabs(wg[i]);
        }
        mean /= (double)per;
        tau = method == BL_METHOD_ABSMAX ? amax / 2 : method == BL_METHOD_TWN ? 0.7 * mean : s[g] / 2.0;
        for (i = 0; i < (int)per; ++i) {
            double a = fabs(wg[i]);
            int8_t tr = t[(size_t)g * per + i];
            f[tr + 1] += 1;
            if (a > tau - band * s[g] && a < tau + band * s[g]) f[3] += 1;
            if (tr == 0 && a < tau - band * s[g]) f[4] += 1;
        }
    }
    for (i = 0; i < 5; ++i) f[i] /= (double)n;
    free(t);
    free(s);
}

static void test_deadzone(void)
{
    /* by hand: s = mean|w| = 0.875, w/s = 0, .57, 1.14, 1.71, -2.29, -.29 */
    float w6[6] = { 0.0f, 0.5f, 1.0f, 1.5f, -2.0f, -0.25f };
    bl_deadzone dz;
    int m, sc;
    float *w = randv(37 * 29, 1.0f);
    memset(&dz, 0, sizeof dz);
    CHECK_EQ_INT(bl_deadzone_stats(w6, 1, 6, BL_METHOD_ABSMEAN, BL_SCALING_TENSOR, 0.1f, &dz), BL_OK);
    CHECK(fabs(dz.frac_neg - 1.0 / 6) < 1e-12 && fabs(dz.frac_zero - 2.0 / 6) < 1e-12 &&
          fabs(dz.frac_pos - 3.0 / 6) < 1e-12);
    CHECK(fabs(dz.frac_boundary - 1.0 / 6) < 1e-12 && fabs(dz.frac_zero_inner - 2.0 / 6) < 1e-12);
    CHECK(fabs(dz.mean_scale - 0.875) < 1e-6);
    for (m = 0; m < 4; ++m)
        for (sc = 0; sc < 2; ++sc) {
            double f[5];
            dz_reference(w, 37, 29, (bl_method)m, (bl_scaling)sc, 0.2f, f);
            CHECK_EQ_INT(bl_deadzone_stats(w, 37, 29, (bl_method)m, (bl_scaling)sc, 0.2f, &dz), BL_OK);
            CHECK(fabs(dz.frac_neg - f[0]) < 1e-12 && fabs(dz.frac_zero - f[1]) < 1e-12 &&
                  fabs(dz.frac_pos - f[2]) < 1e-12);
            CHECK(fabs(dz.frac_boundary - f[3]) < 1e-12 && fabs(dz.frac_zero_inner - f[4]) < 1e-12);
            CHECK(fabs(dz.frac_neg + dz.frac_zero + dz.frac_pos - 1.0) < 1e-12);
            CHECK(dz.frac_boundary > 0.0 && dz.frac_zero_inner > 0.0);
        }
    CHECK_EQ_INT(bl_deadzone_stats(w, 37, 29, BL_METHOD_OPTIMAL, BL_SCALING_ROW, -0.1f, &dz), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_deadzone_stats(w, 37, 29, BL_METHOD_OPTIMAL, BL_SCALING_ROW, nanf(""), &dz), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_deadzone_stats(NULL, 37, 29, BL_METHOD_OPTIMAL, BL_SCALING_ROW, 0.1f, &dz), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_deadzone_stats(w, 0, 29, BL_METHOD_OPTIMAL, BL_SCALING_ROW, 0.1f, &dz), BL_ERR_INVALID);
#ifndef __cplusplus /* an enum outside its range is undefined in C++ */
    CHECK_EQ_INT(bl_deadzone_stats(w, 37, 29, (bl_method)9, BL_SCALING_ROW, 0.1f, &dz), BL_ERR_INVALID);
#endif
    CHECK_EQ_INT(bl_deadzone_stats(w, 37, 29, BL_METHOD_OPTIMAL, BL_SCALING_ROW, 0.1f, NULL), BL_ERR_INVALID);
    w[5] = nanf("");
    CHECK_EQ_INT(bl_deadzone_stats(w, 37, 29, BL_METHOD_OPTIMAL, BL_SCALING_ROW, 0.1f, &dz), BL_ERR_NONFINITE);
    free(w);
}

/* ---- the trainable layer ---- */

typedef struct cfg { bl_method method; bl_scaling scaling; int lsq, act_bits, hadamard; } cfg;
static const cfg configs[] = {
    { BL_METHOD_ABSMEAN, BL_SCALING_TENSOR, 0, 0, 0 },   /* BitNet b1.58 */
    { BL_METHOD_ABSMEAN, BL_SCALING_ROW, 0, 8, 0 },
    { BL_METHOD_OPTIMAL, BL_SCALING_ROW, 0, 0, 1 },
    { BL_METHOD_OPTIMAL, BL_SCALING_TENSOR, 0, 8, 1 },
    { BL_METHOD_TWN, BL_SCALING_ROW, 0, 4, 0 },
    { BL_METHOD_ABSMEAN, BL_SCALING_TENSOR, 1, 0, 0 },   /* LSQ, one alpha */
    { BL_METHOD_ABSMEAN, BL_SCALING_ROW, 1, 8, 1 },      /* LSQ, alpha per row */
};
#define NCFG ((int)(sizeof configs / sizeof configs[0]))

static bl_train_linear *make_layer(const cfg *c, int in, int out, const float *w, const float *b, int full)
{
    bl_train_desc d;
    bl_train_linear *L = NULL;
    memset(&d, 0, sizeof d);
    d.in_features = in;
    d.out_features = out;
    d.weight = w;
    d.bias = b;
    d.method = c->method;
    d.scaling = c->scaling;
    d.lsq = c->lsq;
    d.act_bits = c->act_bits;
    d.hadamard = c->hadamard;
    d.full_precision = full;
    d.seed = 99;
    CHECK_EQ_INT(bl_train_create(&d, &L), BL_OK);
    return L;
}

/* the input the product sees: R x, dequantized per token when act_bits */
static void seen_input(const bl_train_tensors *t, int act_bits, const float *x, int batch, float *xs)
{
    int n = t->in_features, b, i;
    memcpy(xs, x, (size_t)n * batch * sizeof(float));
    if (t->rotated) CHECK_EQ_INT(bl_hadamard_rotate(xs, n, batch, t->rotation_seed, 0), BL_OK);
    if (!act_bits) return;
    for (b = 0; b < batch; ++b) {
        int8_t *q = (int8_t *)bt_alloc((size_t)n);
        float sc;
        CHECK_EQ_INT(bl_quantize_activations(xs + (size_t)b * n, n, act_bits, q, &sc), BL_OK);
        for (i = 0; i < n; ++i) xs[(size_t)b * n + i] = (float)q[i] * sc;
        free(q);
    }
}

/* forward, backward and export of one configuration against the documented formulas */
static void test_ste(const cfg *c, int in, int out, int batch)
{
    float *w = randv((size_t)in * out, 0.3f), *b = randv((size_t)out, 0.1f), *x = randv((size_t)in * batch, 1.0f);
    float *dy = randv((size_t)out * batch, 1.0f), *y = (float *)bt_alloc((size_t)out * batch * sizeof(float));
    float *dx = (float *)bt_alloc((size_t)in * batch * sizeof(float)), *y2 = (float *)bt_alloc((size_t)out * batch * sizeof(float));
    float *xs = (float *)bt_alloc((size_t)in * batch * sizeof(float)), *s = (float *)bt_alloc((size_t)out * sizeof(float));
    double *gwq = (double *)bt_alloc((size_t)in * out * sizeof(double));
    float *gwr = (float *)bt_alloc((size_t)in * out * sizeof(float)), *gx = (float *)bt_alloc((size_t)in * batch * sizeof(float));
    int8_t *t = (int8_t *)bt_alloc((size_t)in * out);
    bl_train_linear *L = make_layer(c, in, out, w, b, 0);
    bl_train_tensors tn;
    bl_linear *E = NULL;
    int bb, r, i, bad = 0, g;
    if (!L) return;
    CHECK_EQ_INT(bl_train_tensors_get(L, &tn), BL_OK);
    CHECK_EQ_INT(bl_train_ternary(L, t, s), BL_OK);
    seen_input(&tn, c->act_bits, x, batch, xs);
    /* forward: y = Q(R x) (s t)^T + b */
    CHECK_EQ_INT(bl_train_forward(L, x, batch, y), BL_OK);
    for (bb = 0; bb < batch; ++bb)
        for (r = 0; r < out; ++r) {
            double acc = 0.0;
            for (i = 0; i < in; ++i) acc += (double)t[(size_t)r * in + i] * xs[(size_t)bb * in + i];
            bad += !close_to(y[(size_t)bb * out + r], s[r] * acc + b[r], 1e-4);
        }
    CHECK_EQ_INT(bad, 0);
    for (i = 0; i < out; ++i) bad += c->scaling == BL_SCALING_TENSOR && s[i] != s[0];
    for (i = 0; i < in * out; ++i) bad += t[i] < -1 || t[i] > 1;
    CHECK_EQ_INT(bad, 0);
    /* backward */
    CHECK_EQ_INT(bl_train_backward(L, x, batch, dy, dx), BL_OK);
    for (r = 0; r < out; ++r)
        for (i = 0; i < in; ++i) {
            double acc = 0.0;
            for (bb = 0; bb < batch; ++bb) acc += (double)dy[(size_t)bb * out + r] * xs[(size_t)bb * in + i];
            gwq[(size_t)r * in + i] = acc;
            gwr[(size_t)r * in + i] = (float)acc;
        }
    if (tn.rotated) CHECK_EQ_INT(bl_hadamard_rotate(gwr, in, out, tn.rotation_seed, 1), BL_OK);
    for (i = 0, bad = 0; i < in * out; ++i) bad += !close_to(tn.grad_weight[i], gwr[i], 1e-4);
    CHECK_EQ_INT(bad, 0);
    for (r = 0; r < out; ++r) {
        double acc = 0.0;
        for (bb = 0; bb < batch; ++bb) acc += dy[(size_t)bb * out + r];
        bad += !close_to(tn.grad_bias[r], acc, 1e-4);
    }
    CHECK_EQ_INT(bad, 0);
    if (c->lsq) {
        for (g = 0; g < tn.groups; ++g) {
            double acc = 0.0;
            for (r = 0; r < out; ++r)
                for (i = 0; i < in && (tn.groups == 1 || r == g); ++i)
                    acc += t[(size_t)r * in + i] * gwq[(size_t)r * in + i];
            bad += !close_to(tn.grad_alpha[g], acc, 1e-4);
        }
        CHECK_EQ_INT(bad, 0);
    }
    /* dx = R^T ((dy * s) t) */
    for (bb = 0; bb < batch; ++bb)
        for (i = 0; i < in; ++i) {
            double acc = 0.0;
            for (r = 0; r < out; ++r) acc += (double)dy[(size_t)bb * out + r] * s[r] * t[(size_t)r * in + i];
            gx[(size_t)bb * in + i] = (float)acc;
        }
    if (tn.rotated) CHECK_EQ_INT(bl_hadamard_rotate(gx, in, batch, tn.rotation_seed, 1), BL_OK);
    for (i = 0; i < in * batch; ++i) bad += !close_to(dx[i], gx[i], 1e-4);
    CHECK_EQ_INT(bad, 0);
    /* gradients accumulate until zero_grad */
    CHECK_EQ_INT(bl_train_backward(L, x, batch, dy, NULL), BL_OK);
    for (i = 0; i < in * out; ++i) bad += !close_to(tn.grad_weight[i], 2.0 * gwr[i], 1e-4);
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(bl_train_zero_grad(L), BL_OK);
    for (i = 0; i < in * out; ++i) bad += tn.grad_weight[i] != 0.0f;
    CHECK_EQ_INT(bad, 0);
    /* export: the same outputs, bit for bit, and exactly ternary weights */
    CHECK_EQ_INT(bl_train_export(L, &E), BL_OK);
    if (E) {
        bl_linear_info info;
        int8_t *te = (int8_t *)bt_alloc((size_t)in * out);
        CHECK_EQ_INT(bl_linear_forward(E, x, batch, y2, NULL), BL_OK); /* rotates when the layer does */
        CHECK(memcmp(y, y2, (size_t)out * batch * sizeof(float)) == 0);
        CHECK_EQ_INT(bl_linear_get_info(E, &info), BL_OK);
        CHECK_EQ_INT(info.k, 1);
        CHECK_EQ_INT(info.act, c->act_bits ? BL_ACT_INT8 : BL_ACT_FLOAT);
        CHECK_EQ_INT(bl_unpack(info.format, info.packed, info.row_bytes * out, out, in, te), BL_OK);
        CHECK(memcmp(te, t, (size_t)in * out) == 0);
        CHECK(memcmp(info.scales, s, (size_t)out * sizeof(float)) == 0);
        free(te);
        bl_linear_destroy(E);
    }
    bl_train_destroy(L);
    free(w); free(b); free(x); free(dy); free(y); free(dx); free(y2); free(xs); free(s);
    free(gwq); free(gwr); free(gx); free(t);
}

/* L = sum c * y of the float layer (rotated or not) is linear: central differences are exact
   up to rounding, and must match the analytic gradients and the plain product. */
static void test_float_fd(int hadamard, int in, int out, int batch)
{
    cfg c;
    float *w = randv((size_t)in * out, 0.3f), *b = randv((size_t)out, 0.1f), *x = randv((size_t)in * batch, 1.0f);
    float *cw = randv((size_t)out * batch, 1.0f), *y = (float *)bt_alloc((size_t)out * batch * sizeof(float));
    float *dx = (float *)bt_alloc((size_t)in * batch * sizeof(float));
    bl_train_linear *L;
    bl_train_tensors tn;
    int i, bb, r, bad = 0;
    const float h = 0.05f;
    memset(&c, 0, sizeof c);
    c.hadamard = hadamard;
    L = make_layer(&c, in, out, w, b, 1);
    if (!L) return;
    CHECK_EQ_INT(bl_train_tensors_get(L, &tn), BL_OK);
    CHECK_EQ_INT(bl_train_forward(L, x, batch, y), BL_OK);
    for (bb = 0; bb < batch; ++bb)   /* rotation cancels: y = x W^T + b */
        for (r = 0; r < out; ++r) {
            double acc = b[r];
            for (i = 0; i < in; ++i) acc += (double)x[(size_t)bb * in + i] * w[(size_t)r * in + i];
            bad += !close_to(y[(size_t)bb * out + r], acc, 1e-4);
        }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(bl_train_backward(L, x, batch, cw, dx), BL_OK);
#define LOSS(out_) do { int q_; CHECK_EQ_INT(bl_train_forward(L, x, batch, y), BL_OK); (out_) = 0.0; \
        for (q_ = 0; q_ < out * batch; ++q_) (out_) += (double)cw[q_] * y[q_]; } while (0)
    for (i = 0; i < in * batch; ++i) {
        double lp, lm;
        float keep = x[i];
        x[i] = keep + h; LOSS(lp);
        x[i] = keep - h; LOSS(lm);
        x[i] = keep;
        bad += !close_to(dx[i], (lp - lm) / (2 * h), 2e-3);
    }
    CHECK_EQ_INT(bad, 0);
    for (i = 0; i < in * out; i += 3) {
        double lp, lm;
        float keep = tn.weight[i];
        tn.weight[i] = keep + h; CHECK_EQ_INT(bl_train_refresh(L), BL_OK); LOSS(lp);
        tn.weight[i] = keep - h; CHECK_EQ_INT(bl_train_refresh(L), BL_OK); LOSS(lm);
        tn.weight[i] = keep;
        bad += !close_to(tn.grad_weight[i], (lp - lm) / (2 * h), 2e-3);
    }
    CHECK_EQ_INT(bl_train_refresh(L), BL_OK);
    for (r = 0; r < out; ++r) {
        double lp, lm;
        float keep = tn.bias[r];
        tn.bias[r] = keep + h; CHECK_EQ_INT(bl_train_refresh(L), BL_OK); LOSS(lp);
        tn.bias[r] = keep - h; CHECK_EQ_INT(bl_train_refresh(L), BL_OK); LOSS(lm);
        tn.bias[r] = keep;
        bad += !close_to(tn.grad_bias[r], (lp - lm) / (2 * h), 2e-3);
    }
    CHECK_EQ_INT(bad, 0);
    /* LSQ: with the trits fixed, y is linear in alpha: differences give galpha exactly */
    bl_train_destroy(L);
    c.lsq = 1;
    c.method = BL_METHOD_ABSMEAN;
    c.scaling = BL_SCALING_ROW;
    L = make_layer(&c, in, out, w, b, 0);
    if (L) {
        int8_t *t0 = (int8_t *)bt_alloc((size_t)in * out), *t1 = (int8_t *)bt_alloc((size_t)in * out);
        float *s = (float *)bt_alloc((size_t)out * sizeof(float));
        int tested = 0;
        CHECK_EQ_INT(bl_train_tensors_get(L, &tn), BL_OK);
        CHECK_EQ_INT(bl_train_ternary(L, t0, s), BL_OK);
        CHECK_EQ_INT(bl_train_backward(L, x, batch, cw, NULL), BL_OK);
        for (r = 0; r < out; ++r) {
            double lp, lm, ha = 1e-3 * tn.alpha[r];
            float keep = tn.alpha[r];
            int flipped;
            tn.alpha[r] = (float)(keep + ha); CHECK_EQ_INT(bl_train_refresh(L), BL_OK); LOSS(lp);
            CHECK_EQ_INT(bl_train_ternary(L, t1, s), BL_OK);
            flipped = memcmp(t0, t1, (size_t)in * out) != 0;
            tn.alpha[r] = (float)(keep - ha); CHECK_EQ_INT(bl_train_refresh(L), BL_OK); LOSS(lm);
            CHECK_EQ_INT(bl_train_ternary(L, t1, s), BL_OK);
            flipped |= memcmp(t0, t1, (size_t)in * out) != 0;
            ha = (double)(float)(keep + ha) - (double)(float)(keep - ha);
            tn.alpha[r] = keep;
            if (flipped) continue; /* a trit changed: y is not differentiable there */
            ++tested;
            bad += !close_to(tn.grad_alpha[r], (lp - lm) / ha, 5e-3);
        }
        CHECK(tested > 0);
        CHECK_EQ_INT(bad, 0);
        free(t0); free(t1); free(s);
        bl_train_destroy(L);
    }
#undef LOSS
    free(w); free(b); free(x); free(cw); free(y); free(dx);
}

static void test_optimizer(void)
{
    cfg c;
    float w[6] = { 0.5f, -0.25f, 0.125f, 1.0f, -1.0f, 0.75f }, g[8] = { 0.1f, -0.2f, 0.0f, 3.0f, -1e-3f, 0.5f, 1.0f, -2.0f };
    bl_train_linear *L;
    bl_train_tensors tn;
    bl_optimizer o;
    int i, bad = 0;
    memset(&c, 0, sizeof c);
    c.method = BL_METHOD_ABSMEAN;
    c.scaling = BL_SCALING_ROW;
    c.lsq = 1;
    L = make_layer(&c, 3, 2, w, NULL, 0);
    if (!L) return;
    CHECK_EQ_INT(bl_train_tensors_get(L, &tn), BL_OK);
    CHECK(tn.bias == NULL && tn.alpha != NULL && tn.groups == 2);
    CHECK(close_to(tn.alpha[0], (0.5 + 0.25 + 0.125) / 3, 1e-6));
    /* Adam's first step moves each parameter by lr * g / (|g| + eps) */
    {
        float before[8];
        memcpy(before, tn.weight, 6 * sizeof(float));
        memcpy(before + 6, tn.alpha, 2 * sizeof(float));
        memcpy(tn.grad_weight, g, 6 * sizeof(float));
        memcpy(tn.grad_alpha, g + 6, 2 * sizeof(float));
        memset(&o, 0, sizeof o);
        o.lr = 0.01f;
        CHECK_EQ_INT(bl_train_step(L, &o), BL_OK);
        for (i = 0; i < 6; ++i) bad += !close_to(tn.weight[i], before[i] - 0.01 * g[i] / (fabs(g[i]) + 1e-8), 1e-5);
        for (i = 0; i < 2; ++i) bad += !close_to(tn.alpha[i], before[6 + i] - 0.01 * g[6 + i] / fabs(g[6 + i]), 1e-5);
        CHECK_EQ_INT(bad, 0);
    }
    bl_train_destroy(L);
    /* SGD with momentum 0.5, two steps of the same gradient: -lr g, then -lr 1.5 g */
    L = make_layer(&c, 3, 2, w, NULL, 0);
    if (!L) return;
    CHECK_EQ_INT(bl_train_tensors_get(L, &tn), BL_OK);
    memset(&o, 0, sizeof o);
    o.kind = BL_OPT_SGD;
    o.lr = 0.1f;
    o.momentum = 0.5f;
    for (i = 0; i < 2; ++i) {
        memcpy(tn.grad_weight, g, 6 * sizeof(float));
        CHECK_EQ_INT(bl_train_step(L, &o), BL_OK);
    }
    for (i = 0; i < 6; ++i) bad += !close_to(tn.weight[i], w[i] - 0.1 * 2.5 * g[i], 1e-5);
    CHECK_EQ_INT(bad, 0);
    /* the step re-quantizes: trits follow the new weights */
    {
        int8_t t[6];
        float s[2];
        CHECK_EQ_INT(bl_train_ternary(L, t, s), BL_OK);
        for (i = 0; i < 6; ++i) {
            float v = tn.weight[i] / s[i / 3];
            int ref = v > 0.5f ? 1 : v < -0.5f ? -1 : 0;
            bad += t[i] != ref;
        }
        CHECK_EQ_INT(bad, 0);
    }
    /* bad options leave everything untouched */
    {
        float keep[6];
        memcpy(keep, tn.weight, sizeof keep);
        o.lr = -1.0f;
        CHECK_EQ_INT(bl_train_step(L, &o), BL_ERR_INVALID);
        o.lr = 0.1f;
        o.momentum = 1.0f;
        CHECK_EQ_INT(bl_train_step(L, &o), BL_ERR_INVALID);
        o.momentum = 0.0f;
#ifndef __cplusplus
        o.kind = (bl_optimizer_kind)7;
        CHECK_EQ_INT(bl_train_step(L, &o), BL_ERR_INVALID);
#endif
        o.kind = BL_OPT_ADAM;
        o.beta2 = 1.0f;
        CHECK_EQ_INT(bl_train_step(L, &o), BL_ERR_INVALID);
        tn.grad_weight[1] = nanf("");
        CHECK_EQ_INT(bl_train_step(L, NULL), BL_ERR_NONFINITE);
        CHECK(memcmp(keep, tn.weight, sizeof keep) == 0);
    }
    CHECK_EQ_INT(bl_train_step(NULL, NULL), BL_ERR_INVALID);
    bl_train_destroy(L);
}

/* A least-squares fit with Adam: every quantizer's loss falls well below its start (the
   straight-through loss is noisy on so few weights, so the best step counts). */
static void test_training_converges(void)
{
    int in = 16, out = 4, batch = 32, step, ci, i;
    float *target = randv((size_t)in * out, 0.5f), *x = randv((size_t)in * batch, 1.0f);
    float *yt = (float *)bt_alloc((size_t)out * batch * sizeof(float)), *y = (float *)bt_alloc((size_t)out * batch * sizeof(float));
    for (i = 0; i < out * batch; ++i) {
        int bb = i / out, r = i % out, c;
        double acc = 0.0;
        for (c = 0; c < in; ++c) acc += (double)x[(size_t)bb * in + c] * target[(size_t)r * in + c];
        yt[i] = (float)acc;
    }
    for (ci = 0; ci < NCFG; ++ci) {
        bl_train_linear *L = make_layer(&configs[ci], in, out, NULL, NULL, 0);
        bl_optimizer o;
        double first = 0.0, best = 0.0;
        if (!L) continue;
        memset(&o, 0, sizeof o);
        o.lr = 0.01f;
        for (step = 0; step < 150; ++step) {
            double loss = 0.0;
            CHECK_EQ_INT(bl_train_forward(L, x, batch, y), BL_OK);
            for (i = 0; i < out * batch; ++i) {
                loss += 0.5 * ((double)y[i] - yt[i]) * ((double)y[i] - yt[i]) / batch;
                y[i] = (y[i] - yt[i]) / (float)batch;
            }
            if (step == 0) first = loss;
            best = step == 0 || loss < best ? loss : best;
            CHECK_EQ_INT(bl_train_zero_grad(L), BL_OK);
            CHECK_EQ_INT(bl_train_backward(L, x, batch, y, NULL), BL_OK);
            CHECK_EQ_INT(bl_train_step(L, &o), BL_OK);
        }
        if (!(best < 0.4 * first)) fprintf(stderr, "cfg %d: %g -> %g\n", ci, first, best);
        CHECK(best < 0.4 * first);
        bl_train_destroy(L);
    }
    free(target); free(x); free(yt); free(y);
}

static void test_bad_input(void)
{
    bl_train_desc d;
    bl_train_linear *L = (bl_train_linear *)&d, *keep = L;
    float w[6] = { 1, 2, 3, 4, 5, 6 }, x[6] = { 1, 2, 3, 4, 5, 6 }, y[4] = { 7, 7, 7, 7 }, dy[4] = { 1, 1, 1, 1 };
    bl_deadzone dz;
    bl_train_tensors tn;
    memset(&d, 0, sizeof d);
    memset(&tn, 0, sizeof tn);
    CHECK_EQ_INT(bl_train_create(NULL, &L), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_train_create(&d, NULL), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_train_create(&d, &L), BL_ERR_INVALID); /* no sizes */
    d.in_features = 3;
    d.out_features = 2;
    d.act_bits = 1;
    CHECK_EQ_INT(bl_train_create(&d, &L), BL_ERR_INVALID);
    d.act_bits = 9;
    CHECK_EQ_INT(bl_train_create(&d, &L), BL_ERR_INVALID);
    d.act_bits = 0;
#ifndef __cplusplus
    d.method = (bl_method)17;
    CHECK_EQ_INT(bl_train_create(&d, &L), BL_ERR_INVALID);
    d.method = BL_METHOD_OPTIMAL;
    d.format = (bl_format)5;
    CHECK_EQ_INT(bl_train_create(&d, &L), BL_ERR_INVALID);
#endif
    d.format = BL_FORMAT_BASE3;
    d.lsq = 1;
    d.full_precision = 1;
    CHECK_EQ_INT(bl_train_create(&d, &L), BL_ERR_INVALID);
    d.full_precision = 0;
    d.in_features = 1 << 30;
    d.out_features = 1 << 30;
    CHECK_EQ_INT(bl_train_create(&d, &L), BL_ERR_INVALID);
    d.in_features = 3;
    d.out_features = 2;
    w[4] = nanf("");
    d.weight = w;
    CHECK_EQ_INT(bl_train_create(&d, &L), BL_ERR_NONFINITE);
    CHECK(L == keep);
    w[4] = 5.0f;
    d.has_bias = 1;
    CHECK_EQ_INT(bl_train_create(&d, &L), BL_OK);
    if (L == keep) return;
    CHECK_EQ_INT(bl_train_forward(L, NULL, 2, y), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_train_forward(L, x, 2, NULL), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_train_forward(L, x, -1, y), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_train_forward(L, NULL, 0, NULL), BL_OK);
    CHECK_EQ_INT(bl_train_forward(NULL, x, 2, y), BL_ERR_INVALID);
    x[2] = nanf("");
    CHECK_EQ_INT(bl_train_forward(L, x, 2, y), BL_ERR_NONFINITE);
    CHECK(y[0] == 7.0f && y[3] == 7.0f);
    CHECK_EQ_INT(bl_train_backward(L, x, 2, dy, NULL), BL_ERR_NONFINITE);
    x[2] = 3.0f;
    dy[1] = nanf("");
    CHECK_EQ_INT(bl_train_backward(L, x, 2, dy, NULL), BL_ERR_NONFINITE);
    dy[1] = 1.0f;
    CHECK_EQ_INT(bl_train_backward(L, x, 2, NULL, NULL), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_train_backward(L, x, 0, NULL, NULL), BL_OK);
    CHECK_EQ_INT(bl_train_tensors_get(L, &tn), BL_OK);
    CHECK(tn.grad_weight[0] == 0.0f && tn.grad_bias[0] == 0.0f && tn.grad_alpha[0] == 0.0f);
    CHECK_EQ_INT(bl_train_tensors_get(NULL, &tn), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_train_tensors_get(L, NULL), BL_ERR_INVALID);
    tn.weight[0] = nanf("");
    CHECK_EQ_INT(bl_train_refresh(L), BL_ERR_NONFINITE);
    tn.weight[0] = 1.0f;
    CHECK_EQ_INT(bl_train_refresh(L), BL_OK);
    CHECK_EQ_INT(bl_train_refresh(NULL), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_train_zero_grad(NULL), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_train_ternary(L, NULL, NULL), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_train_export(L, NULL), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_train_export(NULL, (bl_linear **)&keep), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_train_deadzone(L, -1.0f, &dz), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_train_deadzone(L, 0.1f, NULL), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_train_deadzone(L, 0.1f, &dz), BL_OK);
    CHECK(fabs(dz.frac_neg + dz.frac_zero + dz.frac_pos - 1.0) < 1e-12);
    bl_train_destroy(L);
    bl_train_destroy(NULL);
}

/* The layer's dead-zone view equals bl_deadzone_stats of its weights (no rotation, no LSQ). */
static void test_layer_deadzone(void)
{
    cfg c;
    float *w = randv(9 * 31, 1.0f);
    bl_train_linear *L;
    bl_deadzone a, b;
    memset(&c, 0, sizeof c);
    c.method = BL_METHOD_TWN;
    L = make_layer(&c, 31, 9, w, NULL, 0);
    if (L) {
        CHECK_EQ_INT(bl_train_deadzone(L, 0.15f, &a), BL_OK);
        CHECK_EQ_INT(bl_deadzone_stats(w, 9, 31, BL_METHOD_TWN, BL_SCALING_ROW, 0.15f, &b), BL_OK);
        CHECK(memcmp(&a, &b, sizeof a) == 0);
        bl_train_destroy(L);
    }
    free(w);
}

/* Outlier input channels: the rotated ternary layer tracks the float product better than
   the plain one (the rotation spreads each outlier over its block). */
static void test_rotation_helps(void)
{
    enum { IN = 256, OUT = 16, BATCH = 8 };
    float *w, *x, *y;
    double err[2];
    int rot, i, r, b;
    cfg c;
    bt_seed(7); /* its own data, whatever ran before */
    w = randv((size_t)IN * OUT, 1.0f);
    x = randv((size_t)IN * BATCH, 1.0f);
    y = (float *)bt_alloc((size_t)OUT * BATCH * sizeof(float));
    for (r = 0; r < OUT; ++r)
        for (i = 5; i < IN; i += 64) w[(size_t)r * IN + i] *= 8.0f;
    memset(&c, 0, sizeof c);
    for (rot = 0; rot < 2; ++rot) {
        bl_train_linear *L;
        double num = 0.0, den = 0.0;
        c.hadamard = rot;
        L = make_layer(&c, IN, OUT, w, NULL, 0);
        if (!L) return;
        CHECK_EQ_INT(bl_train_forward(L, x, BATCH, y), BL_OK);
        for (b = 0; b < BATCH; ++b)
            for (r = 0; r < OUT; ++r) {
                double ref = 0.0;
                for (i = 0; i < IN; ++i) ref += (double)x[(size_t)b * IN + i] * w[(size_t)r * IN + i];
                num += (y[(size_t)b * OUT + r] - ref) * (y[(size_t)b * OUT + r] - ref);
                den += ref * ref;
            }
        err[rot] = sqrt(num / den);
        bl_train_destroy(L);
    }
    printf("outlier channels: relative output error %.3f plain, %.3f rotated\n", err[0], err[1]);
    CHECK(err[1] < 0.8 * err[0]);
    CHECK(err[1] < 0.6);
    free(w); free(x); free(y);
}

int main(void)
{
    int ci;
    bt_seed(2024);
    test_transform();
    test_rotate();
    test_deadzone();
    for (ci = 0; ci < NCFG; ++ci) {
        test_ste(&configs[ci], 37, 7, 5);
        test_ste(&configs[ci], 64, 3, 1);
        test_ste(&configs[ci], 1, 1, 2);
        test_ste(&configs[ci], bt_int(2, 300), bt_int(1, 9), bt_int(1, 4)); /* odd, unblocked sizes */
    }
    test_float_fd(0, 13, 5, 3);
    test_float_fd(1, 13, 5, 3);
    test_float_fd(1, 64, 4, 2);
    test_rotation_helps();
    test_optimizer();
    test_training_converges();
    test_layer_deadzone();
    test_bad_input();
    return bt_summary("test_train");
}
