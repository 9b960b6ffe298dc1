/* Layers: forward against a slow reference of the documented rules, memory control, errors. */
#include <stdlib.h>
static long g_allocs; /* counts the library's allocations */
static void *counting_malloc(size_t n) { ++g_allocs; return malloc(n); }
#define BITLINEAR_MALLOC(n) counting_malloc(n)
#define BITLINEAR_REALLOC(p, n) realloc(p, n)
#define BITLINEAR_FREE(p) free(p)
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include "test.h"

/* The INT8 rule of the header's "INT8 ACTIVATIONS" section, spelled out again. */
static void reference_int8(int in, int out, int k, const int8_t *t, const float *s, const float *bias,
                           int bits, const float *x, int batch, float *y)
{
    int qmax = (1 << (bits - 1)) - 1, b, r, j, i;
    int8_t *q = (int8_t *)bt_alloc((size_t)in);
    for (b = 0; b < batch; ++b) {
        const float *xb = x + (size_t)b * in;
        float amax = 0.0f, inv, scale;
        for (i = 0; i < in; ++i) amax = fabsf(xb[i]) > amax ? fabsf(xb[i]) : amax;
        inv = amax < 7.888609052210118e-31f ? 0.0f : (float)qmax / amax;
        scale = amax < 7.888609052210118e-31f ? 0.0f : amax / (float)qmax;
        for (i = 0; i < in; ++i) {
            float v = xb[i] * inv;
            v = v > (float)qmax ? (float)qmax : (v < -(float)qmax ? -(float)qmax : v);
            q[i] = (int8_t)nearbyintf(v);
        }
        for (r = 0; r < out; ++r) {
            double acc = 0.0, v;
            for (j = 0; j < k; ++j) {
                long long dot = 0;
                for (i = 0; i < in; ++i) dot += (long long)t[((size_t)j * out + r) * in + i] * q[i];
                acc += (double)dot * (double)s[j * out + r];
            }
            v = (double)(float)acc * (double)scale;
            if (bias) v += (double)bias[r];
            y[(size_t)b * out + r] = (float)v;
        }
    }
    free(q);
}

static void reference_float(int in, int out, int k, const int8_t *t, const float *s, const float *bias,
                            const float *x, int batch, double *y, double *mag)
{
    int b, r, j, i;
    for (b = 0; b < batch; ++b)
        for (r = 0; r < out; ++r) {
            double acc = bias ? bias[r] : 0.0, m = bias ? fabs(bias[r]) : 0.0;
            for (j = 0; j < k; ++j)
                for (i = 0; i < in; ++i) {
                    double p = (double)s[j * out + r] * t[((size_t)j * out + r) * in + i] * x[(size_t)b * in + i];
                    acc += p;
                    m += fabs(p);
                }
            y[(size_t)b * out + r] = acc;
            mag[(size_t)b * out + r] = m;
        }
}

static const int k_in_sizes[] = { 1, 2, 3, 5, 63, 64, 65, 255, 256, 257, 319, 320, 321, 1000, 4097 };

static void test_forward_matches_reference(void)
{
    size_t si;
    int f, k, act, with_bias;
    for (si = 0; si < sizeof k_in_sizes / sizeof k_in_sizes[0]; ++si)
        for (f = 0; f < 2; ++f)
            for (k = 1; k <= 3; ++k)
                for (act = 0; act < 2; ++act) {
                    int in = k_in_sizes[si], out = 1 + (int)((si * 7 + (size_t)k) % 13), batch = 1 + (k + f) % 3;
                    int bits = act == 0 ? (k == 2 ? 4 : 8) : 8, i;
                    size_t nw = (size_t)in * out;
                    float *w = (float *)bt_alloc(sizeof(float) * nw), *x = (float *)bt_alloc(sizeof(float) * in * batch);
                    float *y = (float *)bt_alloc(sizeof(float) * out * batch), *yr = (float *)bt_alloc(sizeof(float) * out * batch);
                    float *s = (float *)bt_alloc(sizeof(float) * out * k), *bias = (float *)bt_alloc(sizeof(float) * out);
                    double *yd = (double *)bt_alloc(sizeof(double) * out * batch), *mag = (double *)bt_alloc(sizeof(double) * out * batch);
                    int8_t *t = (int8_t *)bt_alloc(nw * k);
                    bl_linear_desc d;
                    bl_linear *layer = NULL;
                    with_bias = (int)(si + (size_t)k) % 2;
                    for (i = 0; i < (int)nw; ++i) w[i] = bt_gauss();
                    for (i = 0; i < in * batch; ++i) x[i] = bt_gauss() * 3.0f;
                    for (i = 0; i < out; ++i) bias[i] = bt_gauss();
                    memset(&d, 0, sizeof d);
                    d.in_features = in;
                    d.out_features = out;
                    d.weight = w;
                    d.bias = with_bias ? bias : NULL;
                    d.k = k;
                    d.refine_iters = k > 1 ? 2 : 0;
                    d.format = (bl_format)f;
                    d.act = (bl_act)act;
                    d.act_bits = bits == 8 ? 0 : bits;
                    CHECK(bl_linear_create(&d, &layer) == BL_OK);
                    /* the layer holds exactly what bl_decompose gives */
                    CHECK(bl_decompose(w, out, in, k, d.refine_iters, t, s) == BL_OK);
                    CHECK(bl_linear_forward(layer, x, batch, y, NULL) == BL_OK);
                    if (act == BL_ACT_INT8) {
                        reference_int8(in, out, k, t, s, d.bias, bits, x, batch, yr);
                        CHECK(memcmp(y, yr, sizeof(float) * out * batch) == 0);
                    } else {
                        reference_float(in, out, k, t, s, d.bias, x, batch, yd, mag);
                        for (i = 0; i < out * batch; ++i) CHECK(fabs(y[i] - yd[i]) <= 1e-5 * mag[i] + 1e-30);
                    }
                    bl_linear_destroy(layer);
                    free(w); free(x); free(y); free(yr); free(s); free(bias); free(yd); free(mag); free(t);
                }
}

/* a layer from trits; row ranges; prepared input; no allocation with scratch */
static void test_trits_rows_and_scratch(void)
{
    int in = 300, out = 21, k = 2, batch = 4, i, f;
    size_t nw = (size_t)in * out;
    int8_t *t = (int8_t *)bt_alloc(nw * k);
    float s[42], *x = (float *)bt_alloc(sizeof(float) * in * batch), y[84], y2[84], yr[84];
    for (i = 0; i < (int)(nw * k); ++i) t[i] = (int8_t)bt_int(-1, 1);
    for (i = 0; i < out * k; ++i) s[i] = bt_uniform(0.01f, 1.0f);
    for (i = 0; i < in * batch; ++i) x[i] = bt_gauss();
    for (f = 0; f < 2; ++f) {
        bl_linear_desc d;
        bl_linear *layer = NULL;
        size_t mem_size = 0, scratch_size;
        void *mem, *scratch, *input;
        long before;
        memset(&d, 0, sizeof d);
        d.in_features = in; d.out_features = out; d.trits = t; d.scales = s; d.k = k; d.format = (bl_format)f;
        CHECK(bl_linear_memory_size(&d, &mem_size) == BL_OK);
        mem = bt_alloc(mem_size);
        before = g_allocs;
        CHECK(bl_linear_init(&d, mem, mem_size, &layer) == BL_OK);
        CHECK(g_allocs == before); /* from trits into caller memory: no allocation */
        CHECK(bl_linear_nbytes(layer) == (size_t)k * out * (bl_packed_row_bytes((bl_format)f, in) + 4));
        reference_int8(in, out, k, t, s, NULL, 8, x, batch, yr);
        scratch_size = bl_linear_scratch_size(layer, batch);
        scratch = bt_alloc(scratch_size);
        before = g_allocs;
        CHECK(bl_linear_forward(layer, x, batch, y, scratch) == BL_OK);
        CHECK(g_allocs == before); /* scratch given: nothing allocated in the hot path */
        CHECK(memcmp(y, yr, sizeof y) == 0);
        /* row ranges write exactly their rows */
        for (i = 0; i < 84; ++i) y2[i] = -12345.0f;
        CHECK(bl_linear_forward_rows(layer, x, batch, y2, 5, 13, scratch) == BL_OK);
        for (i = 0; i < out * batch; ++i) {
            int r = i % out;
            if (r >= 5 && r < 13) CHECK(y2[i] == yr[i]);
            else CHECK(y2[i] == -12345.0f);
        }
        /* prepared input once, disjoint slices after */
        input = bt_alloc(bl_linear_input_size(layer, batch) + 3);
        CHECK(bl_linear_prepare_input(layer, x, batch, (char *)input + 3, bl_linear_input_size(layer, batch)) == BL_OK);
        for (i = 0; i < 84; ++i) y2[i] = -1.0f;
        CHECK(bl_linear_forward_input(layer, (char *)input + 3, batch, y2, 0, 10) == BL_OK);
        CHECK(bl_linear_forward_input(layer, (char *)input + 3, batch, y2, 10, out) == BL_OK);
        CHECK(memcmp(y2, yr, sizeof y2) == 0);
        CHECK(bl_linear_forward_input(layer, (char *)input + 3, batch - 1, y2, 0, out) == BL_ERR_INVALID);
        CHECK(bl_linear_prepare_input(layer, x, batch, input, bl_linear_input_size(layer, batch) - 1) == BL_ERR_INVALID);
        bl_linear_destroy(layer); /* no-op for caller memory */
        free(input); free(scratch); free(mem);
    }
    free(t); free(x);
}

static long g_user_allocs, g_user_frees;
static void *user_alloc(size_t n, void *user) { ++*(int *)user; ++g_user_allocs; return malloc(n); }
static void user_free(void *p, void *user) { (void)user; ++g_user_frees; free(p); }

static void test_allocator_and_estimate(void)
{
    float w[64 * 96], b[64];
    int i, calls = 0;
    bl_linear_desc d;
    bl_allocator a;
    bl_linear *layer = NULL;
    bl_memory_estimate est;
    for (i = 0; i < 64 * 96; ++i) w[i] = bt_gauss();
    for (i = 0; i < 64; ++i) b[i] = 1.0f;
    memset(&d, 0, sizeof d);
    d.in_features = 96; d.out_features = 64; d.weight = w; d.bias = b; d.k = 2; d.format = BL_FORMAT_BASE3;
    a.alloc = user_alloc; a.free = user_free; a.user = &calls;
    CHECK(bl_linear_create_with(&d, &a, &layer) == BL_OK);
    CHECK(calls > 0);
    CHECK(bl_linear_estimate(96, 64, 2, BL_FORMAT_BASE3, 1, &est) == BL_OK);
    CHECK(est.ternary_bytes == bl_linear_nbytes(layer));
    CHECK(est.fp32_bytes == (96 * 64 + 64) * 4);
    CHECK(est.compression > 1.0);
    {
        bl_linear_info info;
        memset(&info, 0, sizeof info);
        CHECK(bl_linear_get_info(layer, &info) == BL_OK);
        CHECK(info.in_features == 96 && info.out_features == 64 && info.k == 2 && info.format == BL_FORMAT_BASE3);
        CHECK(info.row_bytes == 20 && info.bias != NULL && info.act_bits == 8);
        CHECK(bl_linear_get_info(NULL, &info) == BL_ERR_INVALID);
    }
    bl_linear_destroy(layer);
    CHECK(g_user_allocs == g_user_frees);
    CHECK(bl_linear_estimate(0, 64, 1, BL_FORMAT_2BIT, 0, &est) == BL_ERR_INVALID);
    CHECK(bl_linear_estimate(4096, 4096, 1, BL_FORMAT_BASE3, 0, &est) == BL_OK);
    CHECK(est.compression > 19.0);
}

static void test_layer_errors(void)
{
    float w[12] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }, x[8] = { 1, 2, 3, 4, 1, 2, 3, 4 }, y[6], s[3] = { 1, 1, 1 };
    int8_t t[12];
    bl_linear_desc d;
    bl_linear *layer = (bl_linear *)&d, *good = NULL;
    size_t sz;
    int i;
    memset(t, 0, sizeof t);
    memset(&d, 0, sizeof d);
    d.in_features = 4; d.out_features = 3; d.weight = w;
    d.trits = t; d.scales = s;
    CHECK(bl_linear_create(&d, &layer) == BL_ERR_INVALID); /* both sources */
    d.weight = NULL; d.trits = NULL;
    CHECK(bl_linear_create(&d, &layer) == BL_ERR_INVALID); /* neither */
    d.trits = t; d.scales = NULL;
    CHECK(bl_linear_create(&d, &layer) == BL_ERR_INVALID);
    d.scales = s; t[5] = 3;
    CHECK(bl_linear_create(&d, &layer) == BL_ERR_INVALID);
    t[5] = 0; s[1] = NAN;
    CHECK(bl_linear_create(&d, &layer) == BL_ERR_NONFINITE);
    s[1] = 1; d.trits = NULL; d.weight = w; w[3] = INFINITY;
    CHECK(bl_linear_create(&d, &layer) == BL_ERR_NONFINITE);
    w[3] = 4;
    d.k = BL_MAX_K + 1;
    CHECK(bl_linear_create(&d, &layer) == BL_ERR_INVALID);
    d.k = 0; d.act_bits = 9;
    CHECK(bl_linear_create(&d, &layer) == BL_ERR_INVALID);
    d.act_bits = 0; d.method = (bl_method)11;
    CHECK(bl_linear_create(&d, &layer) == BL_ERR_INVALID);
    d.method = BL_METHOD_OPTIMAL; d.format = (bl_format)5;
    CHECK(bl_linear_create(&d, &layer) == BL_ERR_INVALID);
    d.format = BL_FORMAT_2BIT; d.act = (bl_act)2;
    CHECK(bl_linear_create(&d, &layer) == BL_ERR_INVALID);
    d.act = BL_ACT_INT8; d.in_features = 0;
    CHECK(bl_linear_create(&d, &layer) == BL_ERR_INVALID);
    d.in_features = BL_MAX_IN_FEATURES + 1;
    CHECK(bl_linear_memory_size(&d, &sz) == BL_ERR_INVALID);
    d.in_features = 4; d.refine_iters = -1;
    CHECK(bl_linear_create(&d, &layer) == BL_ERR_INVALID);
    CHECK(layer == (bl_linear *)&d); /* *out untouched on every error */
    d.refine_iters = 0;
    CHECK(bl_linear_create(NULL, &layer) == BL_ERR_INVALID);
    CHECK(bl_linear_create(&d, NULL) == BL_ERR_INVALID);
    CHECK(bl_linear_memory_size(&d, &sz) == BL_OK);
    {
        void *mem = bt_alloc(sz);
        CHECK(bl_linear_init(&d, mem, sz - 1, &layer) == BL_ERR_INVALID);
        free(mem);
    }
    CHECK(bl_linear_create(&d, &good) == BL_OK);
    for (i = 0; i < 6; ++i) y[i] = 77.0f;
    CHECK(bl_linear_forward(good, x, 0, y, NULL) == BL_OK); /* batch 0: a no-op */
    CHECK(bl_linear_forward_rows(good, x, 2, y, 2, 2, NULL) == BL_OK); /* empty range */
    CHECK(bl_linear_forward(good, x, -1, y, NULL) == BL_ERR_INVALID);
    CHECK(bl_linear_forward(NULL, x, 1, y, NULL) == BL_ERR_INVALID);
    CHECK(bl_linear_forward(good, NULL, 1, y, NULL) == BL_ERR_INVALID);
    CHECK(bl_linear_forward(good, x, 1, NULL, NULL) == BL_ERR_INVALID);
    CHECK(bl_linear_forward_rows(good, x, 1, y, 2, 1, NULL) == BL_ERR_INVALID);
    CHECK(bl_linear_forward_rows(good, x, 1, y, -1, 1, NULL) == BL_ERR_INVALID);
    CHECK(bl_linear_forward_rows(good, x, 1, y, 0, 4, NULL) == BL_ERR_INVALID);
    x[6] = NAN;
    CHECK(bl_linear_forward(good, x, 2, y, NULL) == BL_ERR_NONFINITE);
    for (i = 0; i < 6; ++i) CHECK(y[i] == 77.0f); /* untouched on every error */
    CHECK(bl_linear_scratch_size(NULL, 1) == 0);
    CHECK(bl_linear_nbytes(NULL) == 0);
    bl_linear_destroy(good);
    bl_linear_destroy(NULL);
}

/* desc.hadamard: weights rotated before quantization, inputs rotated by the forward */
static void test_hadamard_layer(void)
{
    static const int sizes[] = { 1, 6, 64, 100, 257 };
    size_t si;
    int act;
    for (si = 0; si < sizeof sizes / sizeof sizes[0]; ++si)
        for (act = 0; act < 2; ++act) {
            int in = sizes[si], out = 5, batch = 3, i;
            uint64_t seed = 0x1234567u + si;
            size_t nw = (size_t)in * out;
            float *w = (float *)bt_alloc(sizeof(float) * nw), *wr = (float *)bt_alloc(sizeof(float) * nw);
            float *x = (float *)bt_alloc(sizeof(float) * in * batch), *xr = (float *)bt_alloc(sizeof(float) * in * batch);
            float y[15], yr[15], s[5], *got_s;
            int8_t *t = (int8_t *)bt_alloc(nw), *got = (int8_t *)bt_alloc(nw);
            bl_linear_desc d;
            bl_linear *layer = NULL;
            bl_linear_info info;
            for (i = 0; i < (int)nw; ++i) w[i] = bt_gauss();
            for (i = 0; i < in * batch; ++i) x[i] = bt_gauss();
            memcpy(wr, w, sizeof(float) * nw);
            memcpy(xr, x, sizeof(float) * in * batch);
            CHECK(bl_hadamard_rotate(wr, in, out, seed, 0) == BL_OK);
            CHECK(bl_hadamard_rotate(xr, in, batch, seed, 0) == BL_OK);
            CHECK(bl_ternarize(wr, out, in, BL_METHOD_OPTIMAL, BL_SCALING_ROW, t, s) == BL_OK);
            memset(&d, 0, sizeof d);
            d.in_features = in; d.out_features = out; d.weight = w; d.act = (bl_act)act;
            d.hadamard = 1; d.hadamard_seed = seed;
            CHECK(bl_linear_create(&d, &layer) == BL_OK);
            memset(&info, 0, sizeof info);
            CHECK(bl_linear_get_info(layer, &info) == BL_OK);
            CHECK(info.hadamard == 1 && info.hadamard_seed == seed);
            CHECK(bl_unpack(info.format, info.packed, (size_t)out * info.row_bytes, out, in, got) == BL_OK);
            CHECK(memcmp(got, t, nw) == 0); /* the trits of the rotated weights */
            got_s = (float *)(uintptr_t)info.scales;
            CHECK(memcmp(got_s, s, sizeof s) == 0);
            CHECK(bl_linear_forward(layer, x, batch, y, NULL) == BL_OK);
            if (act == BL_ACT_INT8) {
                reference_int8(in, out, 1, t, s, NULL, 8, xr, batch, yr);
                CHECK(memcmp(y, yr, sizeof(float) * out * batch) == 0); /* the forward rotated x */
            } else {
                double yd[15], mag[15];
                reference_float(in, out, 1, t, s, NULL, xr, batch, yd, mag);
                for (i = 0; i < out * batch; ++i) CHECK(fabs(y[i] - yd[i]) <= 1e-5 * mag[i] + 1e-30);
            }
            if (in >= 2) { /* finite inputs whose rotation overflows are refused, y untouched */
                float big[2 * 257];
                for (i = 0; i < in; ++i) big[i] = 3.0e38f;
                y[0] = 42.0f;
                CHECK(bl_linear_forward(layer, big, 1, y, NULL) == BL_ERR_NONFINITE);
                CHECK(y[0] == 42.0f);
                /* refused at the second token, after the first was written: the buffer
                   that held a good prepared input no longer passes for one */
                {
                    size_t isz = bl_linear_input_size(layer, 2);
                    void *buf = bt_alloc(isz);
                    float two[2 * 257];
                    memcpy(two, x, sizeof(float) * in);
                    memcpy(two + in, big, sizeof(float) * in);
                    CHECK(bl_linear_prepare_input(layer, x, 2, buf, isz) == BL_OK);
                    CHECK(bl_linear_forward_input(layer, buf, 2, y, 0, out) == BL_OK);
                    y[0] = 42.0f;
                    CHECK(bl_linear_prepare_input(layer, two, 2, buf, isz) == BL_ERR_NONFINITE);
                    CHECK(bl_linear_forward_input(layer, buf, 2, y, 0, out) == BL_ERR_INVALID);
                    CHECK(y[0] == 42.0f);
                    free(buf);
                }
            }
            bl_linear_destroy(layer);
            free(w); free(wr); free(x); free(xr); free(t); free(got);
        }
}

static void test_backends(void)
{
    int b;
    CHECK(bl_set_backend(BL_BACKEND_SCALAR) == BL_OK);
    CHECK(bl_get_backend() == BL_BACKEND_SCALAR);
    CHECK(bl_set_backend(BL_BACKEND_AUTO) == BL_OK);
    CHECK(bl_get_backend() != BL_BACKEND_AUTO);
    CHECK(bl_set_backend((bl_backend)42) == BL_ERR_UNSUPPORTED);
    for (b = 0; b <= 6; ++b) CHECK(bl_backend_name((bl_backend)b) != NULL);
    CHECK(strcmp(bl_backend_name(BL_BACKEND_SCALAR), "scalar") == 0);
}

/* One prepared input serves every layer that reads x the same way (Q, K and V of a
   transformer); a layer that reads it differently (activations, bits, rotation, seed,
   shape) refuses it and leaves y untouched. */
static void test_shared_input(void)
{
    enum { IN = 300, OUT = 7, BATCH = 3 };
    /* activations, bits, rotation; a rotated layer also gets another seed */
    static const struct { int act, bits, hadamard; } other[] = {
        { BL_ACT_FLOAT, 8, 0 }, { BL_ACT_INT8, 4, 0 }, { BL_ACT_INT8, 8, 1 } };
    float w[OUT * IN], x[BATCH * IN], y[BATCH * OUT], yr[BATCH * OUT];
    int i, v, rot;
    for (i = 0; i < OUT * IN; ++i) w[i] = bt_gauss();
    for (i = 0; i < BATCH * IN; ++i) x[i] = bt_gauss();
    for (rot = 0; rot < 2; ++rot) {
        bl_linear_desc d;
        bl_linear *a = NULL, *b = NULL;
        size_t isz;
        void *buf;
        memset(&d, 0, sizeof d);
        d.in_features = IN; d.out_features = OUT; d.weight = w; d.hadamard = rot; d.hadamard_seed = rot ? 99u : 0u;
        CHECK(bl_linear_create(&d, &a) == BL_OK);
        for (i = 0; i < OUT * IN; ++i) w[i] = -w[i] * 0.5f; /* another layer, same input rule */
        d.format = BL_FORMAT_BASE3;
        CHECK(bl_linear_create(&d, &b) == BL_OK);
        isz = bl_linear_input_size(a, BATCH);
        CHECK(isz == bl_linear_input_size(b, BATCH));
        buf = bt_alloc(isz);
        CHECK(bl_linear_prepare_input(a, x, BATCH, buf, isz) == BL_OK);
        CHECK(bl_linear_forward_input(b, buf, BATCH, y, 0, OUT) == BL_OK);
        CHECK(bl_linear_forward(b, x, BATCH, yr, NULL) == BL_OK);
        CHECK(memcmp(y, yr, sizeof y) == 0);
        for (v = 0; v < (int)(sizeof other / sizeof other[0]); ++v) {
            bl_linear *c = NULL;
            bl_linear_desc e = d;
            e.act = (bl_act)other[v].act;
            e.act_bits = other[v].bits;
            e.hadamard = rot || other[v].hadamard;
            e.hadamard_seed = e.hadamard ? (rot ? 100u : 7u) : 0u;
            CHECK(bl_linear_create(&e, &c) == BL_OK);
            y[0] = 42.0f;
            CHECK(bl_linear_forward_input(c, buf, BATCH, y, 0, OUT) == BL_ERR_INVALID);
            CHECK(y[0] == 42.0f);
            bl_linear_destroy(c);
        }
        {
            bl_linear *c = NULL;
            bl_linear_desc e = d;
            e.in_features = IN - 1; /* the same weights read as a narrower layer */
            e.out_features = 1;
            CHECK(bl_linear_create(&e, &c) == BL_OK);
            y[0] = 42.0f;
            CHECK(bl_linear_forward_input(c, buf, BATCH, y, 0, 1) == BL_ERR_INVALID);
            CHECK(y[0] == 42.0f);
            bl_linear_destroy(c);
        }
        free(buf);
        bl_linear_destroy(a);
        bl_linear_destroy(b);
    }
}

int main(void)
{
    bt_seed(4);
    test_forward_matches_reference();
    test_trits_rows_and_scratch();
    test_allocator_and_estimate();
    test_layer_errors();
    test_hadamard_layer();
    test_shared_input();
    test_backends();
    return bt_summary("test_linear");
}
