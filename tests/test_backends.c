/* Every SIMD backend this CPU and build have against the scalar backend: activation codes
   and INT8 outputs bit-identical (memcmp), FLOAT outputs within 1e-5 of the scale of the
   terms summed, row ranges writing only their rows. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include "test.h"

static const int in_sizes[] = { 1, 3, 63, 64, 65, 255, 256, 257, 319, 320, 321, 1000, 4097 };

typedef struct tcase {
    int in, out, k, batch, bias, act_bits, fill; /* fill: 0 random trits, 1 all +1, 2 all -1, 3 all 0 */
    bl_format format;
    bl_act act;
} tcase;

static bl_linear *make_layer(const tcase *c, float **xs)
{
    size_t n = (size_t)c->in * (size_t)c->out * (size_t)c->k, i;
    int8_t *trits = (int8_t *)bt_alloc(n);
    float *scales = (float *)bt_alloc((size_t)c->out * (size_t)c->k * sizeof(float));
    float *bias = (float *)bt_alloc((size_t)c->out * sizeof(float));
    float *x = (float *)bt_alloc((size_t)c->in * (size_t)c->batch * sizeof(float));
    bl_linear_desc d;
    bl_linear *L = NULL;
    for (i = 0; i < n; ++i)
        trits[i] = (int8_t)(c->fill == 1 ? 1 : c->fill == 2 ? -1 : c->fill == 3 ? 0 : bt_int(-1, 1));
    for (i = 0; i < (size_t)c->out * (size_t)c->k; ++i) scales[i] = bt_uniform(0.01f, 2.0f);
    for (i = 0; i < (size_t)c->out; ++i) bias[i] = bt_uniform(-1.0f, 1.0f);
    for (i = 0; i < (size_t)c->in * (size_t)c->batch; ++i) {
        /* constant-magnitude inputs push every code to +-127: the largest int16/int32 sums */
        x[i] = c->fill == 1 ? 3.0f : (bt_u32() % 8 == 0 ? 0.0f : bt_gauss());
    }
    memset(&d, 0, sizeof d);
    d.in_features = c->in;
    d.out_features = c->out;
    d.trits = trits;
    d.scales = scales;
    d.bias = c->bias ? bias : NULL;
    d.k = c->k;
    d.format = c->format;
    d.act = c->act;
    d.act_bits = c->act_bits;
    CHECK_EQ_INT(bl_linear_create(&d, &L), BL_OK);
    free(trits);
    free(scales);
    free(bias);
    *xs = x;
    return L;
}

/* FLOAT tolerance for token b, row r: 1e-5 of sum_j |s_j| * sum_i |x_i| (+ |bias|) */
static float float_tolerance(const bl_linear *L, const float *x, int b, int r)
{
    bl_linear_info info;
    double sx = 0.0, ss = 0.0;
    int i, j;
    memset(&info, 0, sizeof info);
    CHECK_EQ_INT(bl_linear_get_info(L, &info), BL_OK);
    for (i = 0; i < info.in_features; ++i) sx += fabs(x[(size_t)b * info.in_features + i]);
    for (j = 0; j < info.k; ++j) ss += fabs(info.scales[(size_t)j * info.out_features + r]);
    return (float)(1e-5 * (sx * ss + (info.bias ? fabs(info.bias[r]) : 0.0)) + 1e-30);
}

static int outputs_match(const bl_linear *L, const tcase *c, const float *x, const float *ref, const float *y,
                         int r0, int r1)
{
    int b, r;
    for (b = 0; b < c->batch; ++b) {
        const float *want = ref + (size_t)b * c->out + r0, *got = y + (size_t)b * c->out + r0;
        if (c->act == BL_ACT_INT8) {
            if (memcmp(want, got, (size_t)(r1 - r0) * sizeof(float)) != 0) return 0;
        } else {
            for (r = r0; r < r1; ++r)
                if (!(fabsf(want[r - r0] - got[r - r0]) <= float_tolerance(L, x, b, r))) return 0;
        }
    }
    return 1;
}

/* y outside rows [r0, r1) of every token still holds the poison bytes */
static int untouched(const tcase *c, const float *y, int r0, int r1)
{
    const unsigned char *p = (const unsigned char *)y;
    size_t b, r, i;
    for (b = 0; b < (size_t)c->batch; ++b)
        for (r = 0; r < (size_t)c->out; ++r) {
            if ((int)r >= r0 && (int)r < r1) continue;
            for (i = 0; i < sizeof(float); ++i)
                if (p[(b * (size_t)c->out + r) * sizeof(float) + i] != 0xA5) return 0;
        }
    return 1;
}

static void run_case(const tcase *c, bl_backend backend)
{
    float *x, *ref, *y;
    size_t ysize = (size_t)c->out * (size_t)c->batch * sizeof(float), isize;
    bl_linear *L = make_layer(c, &x);
    void *input;
    int r0, r1, ok;
    if (!L) { free(x); return; }
    ref = (float *)bt_alloc(ysize);
    y = (float *)bt_alloc(ysize);
    CHECK_EQ_INT(bl_set_backend(BL_BACKEND_SCALAR), BL_OK);
    CHECK_EQ_INT(bl_linear_forward(L, x, c->batch, ref, NULL), BL_OK);
    CHECK_EQ_INT(bl_set_backend(backend), BL_OK);
    CHECK_EQ_INT(bl_get_backend(), backend);

    memset(y, 0xA5, ysize);
    CHECK_EQ_INT(bl_linear_forward(L, x, c->batch, y, NULL), BL_OK);
    ok = outputs_match(L, c, x, ref, y, 0, c->out);
    CHECK(ok);
    if (!ok)
        fprintf(stderr, "  %s: in %d out %d k %d batch %d %s %s fill %d bits %d\n", bl_backend_name(backend), c->in,
                c->out, c->k, c->batch, c->format == BL_FORMAT_2BIT ? "2bit" : "base3",
                c->act == BL_ACT_INT8 ? "int8" : "float", c->fill, c->act_bits);

    /* a random row slice through the prepared-input path */
    r0 = bt_int(0, c->out - 1);
    r1 = bt_int(r0 + 1, c->out);
    isize = bl_linear_input_size(L, c->batch);
    input = bt_alloc(isize);
    CHECK_EQ_INT(bl_linear_prepare_input(L, x, c->batch, input, isize), BL_OK);
    memset(y, 0xA5, ysize);
    CHECK_EQ_INT(bl_linear_forward_input(L, input, c->batch, y, r0, r1), BL_OK);
    CHECK(outputs_match(L, c, x, ref, y, r0, r1));
    CHECK(untouched(c, y, r0, r1));
    free(input);
    free(ref);
    free(y);
    free(x);
    bl_linear_destroy(L);
}

static void random_case(tcase *c, int in)
{
    c->in = in;
    c->out = bt_int(1, 40);
    c->k = bt_int(1, 3);
    c->batch = bt_int(1, 17);
    c->bias = bt_int(0, 1);
    c->act_bits = bt_int(0, 3) == 0 ? bt_int(2, 8) : 0;
    c->fill = bt_int(0, 9) == 0 ? bt_int(1, 3) : 0;
    c->format = bt_int(0, 1) ? BL_FORMAT_BASE3 : BL_FORMAT_2BIT;
    c->act = bt_int(0, 1) ? BL_ACT_FLOAT : BL_ACT_INT8;
}

/* a random INT8 case of a given shape, format and batch */
static void int8_case(bl_backend backend, int in, bl_format format, int out, int batch)
{
    tcase c;
    random_case(&c, in);
    c.format = format;
    c.act = BL_ACT_INT8;
    c.out = out;
    c.batch = batch;
    run_case(&c, backend);
}

/* One input of n floats of kind `kind`: 0 Gaussian, 1 codes landing exactly on ties
   (x * 127 / absmax = k + 1/2 in 8 bits), 2 a huge range with zeros and -0, 3 all tiny. */
static void quant_input(float *x, int n, int kind)
{
    int i;
    for (i = 0; i < n; ++i) {
        switch (kind) {
        case 0: x[i] = bt_gauss() * 3.0f; break;
        case 1: x[i] = (float)(2 * bt_int(-127, 126) + 1) * 0.5f; break;
        case 2: x[i] = bt_int(0, 3) == 0 ? (bt_int(0, 1) ? 0.0f : -0.0f) : bt_gauss() * ldexpf(1.0f, bt_int(-60, 60)); break;
        default: x[i] = bt_gauss() * 1e-32f; break;
        }
    }
    if (kind == 1) x[bt_int(0, n - 1)] = 127.0f; /* absmax 127: x * inverse is x itself */
}

/* bl_quantize_activations on `backend` against the scalar backend: the same codes, scale
   and status, nothing read or written past n (the floats past n are NaN, which an
   over-read would refuse), and a NaN or infinity anywhere (the vector body or its tail)
   refused with q and the scale untouched. The backend's kernels directly: the same code sum
   and abs_max bits. */
static void quantize_case(bl_backend backend)
{
    const bl__backend_kernels *kern, *scalar = &bl__kernels_scalar;
    int n, bits, kind, i;
    float *x = (float *)bt_alloc(sizeof(float) * 1100);
    int8_t *q = (int8_t *)bt_alloc(1104), *ref = (int8_t *)bt_alloc(1104), *fill = (int8_t *)bt_alloc(1104);
    CHECK_EQ_INT(bl_set_backend(backend), BL_OK);
    kern = bl__active_kernels();
    memset(fill, 0x5A, 1104);
    for (n = 1; n <= 1100; n += n < 80 ? 1 : 61)
        for (kind = 0; kind < 4; ++kind)
            for (bits = 2; bits <= 8; bits += kind == 1 ? 6 : 1) {
                int qmax = (1 << (bits - 1)) - 1, bad = bt_int(0, n - 1);
                float scale = -1.0f, ref_scale = -2.0f, inv;
                quant_input(x, n, kind);
                for (i = n; i < 1100; ++i) x[i] = NAN;
                memcpy(q, fill, 1104);
                memcpy(ref, fill, 1104);
                CHECK_EQ_INT(bl_set_backend(BL_BACKEND_SCALAR), BL_OK);
                CHECK_EQ_INT(bl_quantize_activations(x, n, bits, ref, &ref_scale), BL_OK);
                CHECK_EQ_INT(bl_set_backend(backend), BL_OK);
                CHECK_EQ_INT(bl_quantize_activations(x, n, bits, q, &scale), BL_OK);
                CHECK(memcmp(q, ref, 1104) == 0 && scale == ref_scale);
                CHECK(kern->abs_max(x, (size_t)n) == scalar->abs_max(x, (size_t)n));
                inv = bl__act_inverse(bl__bits_float(scalar->abs_max(x, (size_t)n)), qmax);
                CHECK_EQ_INT(kern->quantize(x, (size_t)n, inv, qmax, q), scalar->quantize(x, (size_t)n, inv, qmax, ref));
                x[bad] = kind % 2 ? NAN : -INFINITY;
                memcpy(q, fill, 1104);
                scale = -1.0f;
                CHECK_EQ_INT(bl_quantize_activations(x, n, bits, q, &scale), BL_ERR_NONFINITE);
                CHECK(memcmp(q, fill, 1104) == 0 && scale == -1.0f);
            }
    free(x);
    free(q);
    free(ref);
    free(fill);
}

/* every check of one backend against scalar */
static void test_backend(bl_backend backend)
{
    int round;
    size_t i;
#ifdef BITLINEAR_TEST_QUICK
    const int rounds = 2;
#else
    const int rounds = 6;
#endif
    quantize_case(backend);
    for (round = 0; round < rounds; ++round)
        for (i = 0; i < sizeof in_sizes / sizeof in_sizes[0]; ++i) {
            tcase c;
            random_case(&c, in_sizes[i]);
            run_case(&c, backend);
        }
    {
        /* every format x act x k once on an odd shape, and batch 17 */
        int f, a, k;
        for (f = 0; f < 2; ++f)
            for (a = 0; a < 2; ++a)
                for (k = 1; k <= 3; ++k) {
                    tcase c;
                    random_case(&c, 321 + 64 * k);
                    c.format = (bl_format)f;
                    c.act = (bl_act)a;
                    c.k = k;
                    c.batch = 17;
                    run_case(&c, backend);
                }
    }
    {
        /* batch 1 walks rows in groups of four whose kernels and prefetch depend on
           the row length and its alignment: short/long, whole/partial cache lines,
           two groups and a remainder row, BASE3 rows on both sides of the length
           where they go in pairs (81920 / 81921 trits), pairs over an odd and an even
           number of whole blocks, with and without a tail; k 1..3 in turn, and
           BL_MAX_K once */
        static const int gemv_in[] = { 250, 1000, 1024, 1280, 4097, 4352, 5504, 10240, 10241,
                                       10560, 10561, 10880, 81920, 81921, 82240, 82241, 82560 };
        int f, g;
        for (g = 0; g < (int)(sizeof gemv_in / sizeof gemv_in[0]); ++g)
            for (f = 0; f < 2; ++f) {
                tcase c;
                random_case(&c, gemv_in[g]);
                c.format = (bl_format)f;
                c.act = BL_ACT_INT8;
                c.out = 9;
                c.k = g == 0 ? BL_MAX_K : 1 + g % 3;
                c.batch = 1;
                run_case(&c, backend);
            }
        /* BASE3 converts the outputs of up to 16 groups at once: two full runs of
           them, a shorter run, and remainder rows */
        for (f = 0; f < 2; ++f) {
            tcase c;
            random_case(&c, 1000 + 321 * f);
            c.format = BL_FORMAT_BASE3;
            c.act = BL_ACT_INT8;
            c.out = 2 * 64 + 4 * 3 + 3;
            c.k = 1 + f;
            c.batch = 1;
            run_case(&c, backend);
        }
    }
    {
        /* several tokens over rows long enough that the GEMM walks them in column
           chunks (the tokens' activations outgrow L1), chunks ending inside a block */
        static const int long_in[] = { 4097, 11008, 20000 };
        static const int batches[] = { 2, 9 };
        int f, g, b;
        for (g = 0; g < 3; ++g)
            for (f = 0; f < 2; ++f)
                for (b = 0; b < 2; ++b) int8_case(backend, long_in[g], (bl_format)f, 5, batches[b]);
    }
    {
        /* FLOAT: batch 1 in row groups of four and a remainder row; batches whose tokens
           go in passes of 6, 4, 2 and 1, and past a 128-token group; rows of several
           column chunks, with and without a tail block; k up to BL_MAX_K */
        static const int float_in[] = { 1000, 4097, 11008 };
        static const int float_batch[] = { 1, 6, 7, 13, 131 };
        int f, g, b;
        for (g = 0; g < 3; ++g)
            for (f = 0; f < 2; ++f)
                for (b = 0; b < 5; ++b) {
                    tcase c;
                    random_case(&c, float_in[g]);
                    c.format = (bl_format)f;
                    c.act = BL_ACT_FLOAT;
                    c.out = 9;
                    c.k = b == 0 && g == 0 ? BL_MAX_K : 1 + (g + b) % 3;
                    c.batch = float_batch[b];
                    run_case(&c, backend);
                }
    }
    {
        /* the longest rows allowed, all codes and activations maximal: the int32 lane
           sums reach their bound (kernels that fold or split lanes must not overflow) */
        int f;
        for (f = 0; f < 4; ++f) {
            tcase c;
            memset(&c, 0, sizeof c);
            c.in = BL_MAX_IN_FEATURES;
            c.out = 5; /* a group of four rows (the batch-1 walk's) and one more */
            c.k = 1;
            c.batch = f < 2 ? 1 : 3; /* GEMV and GEMM paths */
            c.fill = 1;
            c.format = (bl_format)(f % 2);
            c.act = BL_ACT_INT8;
            run_case(&c, backend);
        }
    }
}

int main(void)
{
    static const bl_backend simd[] = { BL_BACKEND_AVX2, BL_BACKEND_AVX512, BL_BACKEND_NEON, BL_BACKEND_WASM };
    size_t s;
    int tested = 0;
    bl_backend best;

    /* AUTO resolves to the best backend present; a missing one is refused and changes nothing */
    CHECK_EQ_INT(bl_set_backend(BL_BACKEND_AUTO), BL_OK);
    best = bl_get_backend();
    CHECK(best != BL_BACKEND_AUTO);
    for (s = 0; s < sizeof simd / sizeof simd[0]; ++s) {
        bl_status st = bl_set_backend(simd[s]);
        CHECK(st == BL_OK || st == BL_ERR_UNSUPPORTED);
        if (st == BL_OK) CHECK_EQ_INT(bl_get_backend(), simd[s]);
        CHECK_EQ_INT(bl_set_backend(best), BL_OK);
        CHECK_EQ_INT(bl_get_backend(), best);
    }
#if defined(__aarch64__) && !defined(BITLINEAR_NO_SIMD) && !defined(BITLINEAR_NO_NEON)
    CHECK_EQ_INT(best, BL_BACKEND_NEON);
#endif
#if defined(__wasm_simd128__) && !defined(BITLINEAR_NO_SIMD) && !defined(BITLINEAR_NO_WASM)
    CHECK_EQ_INT(best, BL_BACKEND_WASM);
#elif defined(__wasm__)
    CHECK_EQ_INT(best, BL_BACKEND_SCALAR); /* no SIMD128: the scalar backend, and nothing else */
    CHECK_EQ_INT(bl_set_backend(BL_BACKEND_WASM), BL_ERR_UNSUPPORTED);
#endif
    CHECK_EQ_INT(bl_set_backend((bl_backend)7), BL_ERR_UNSUPPORTED);

    bt_seed(12345);
    for (s = 0; s < sizeof simd / sizeof simd[0]; ++s) {
        if (bl_set_backend(simd[s]) != BL_OK) {
            printf("skipped: %s (not in this build or CPU)\n", bl_backend_name(simd[s]));
            continue;
        }
        ++tested;
        printf("testing %s against scalar\n", bl_backend_name(simd[s]));
        test_backend(simd[s]);
#if defined(BL__RUNTIME_DISPATCH) && defined(BL__HAVE_AVXVNNI)
        /* the AVX2 backend runs its AVX-VNNI kernels where the CPU has them; its plain AVX2
           kernels too, with the flag masked out of the cached CPU flags */
        if (simd[s] == BL_BACKEND_AVX2 && (bl__cpu_flags() & BL__CPU_AVXVNNI)) {
            int flags = bl__cpu_flags();
            printf("testing avx2 without AVX-VNNI against scalar\n");
            bl__atomic_store(&bl__cpu_flags_cache, flags & ~BL__CPU_AVXVNNI);
            test_backend(simd[s]);
            bl__atomic_store(&bl__cpu_flags_cache, flags);
        }
#endif
    }
    if (!tested) printf("skipped: no SIMD backend in this build or CPU; only scalar exists\n");
    CHECK_EQ_INT(bl_set_backend(BL_BACKEND_AUTO), BL_OK);
    return bt_summary("test_backends");
}
