/* Model files and safetensors: round trips, views, every corruption, the golden file. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include "test.h"

#define GOLDEN_PATH "tests/data/golden.blm"

/* ---- helpers ---- */

/* rotation != 0: a layer with desc.hadamard and that seed (rotation - 1) */
static bl_linear *make_layer_rotated(int in, int out, int k, bl_format fmt, int bias, bl_act act, int bits,
                                     uint64_t rotation)
{
    bl_linear_desc d;
    bl_linear *L = NULL;
    float *w = (float *)bt_alloc(sizeof(float) * (size_t)in * (size_t)out);
    float *b = (float *)bt_alloc(sizeof(float) * (size_t)out);
    size_t i;
    for (i = 0; i < (size_t)in * (size_t)out; ++i) w[i] = bt_gauss();
    for (i = 0; i < (size_t)out; ++i) b[i] = bt_gauss();
    memset(&d, 0, sizeof d);
    d.in_features = in;
    d.out_features = out;
    d.weight = w;
    d.bias = bias ? b : NULL;
    d.k = k;
    d.format = fmt;
    d.act = act;
    d.act_bits = bits;
    d.refine_iters = k > 1 ? 1 : 0;
    d.hadamard = rotation != 0;
    d.hadamard_seed = rotation ? rotation - 1 : 0;
    CHECK_EQ_INT(bl_linear_create(&d, &L), BL_OK);
    free(w);
    free(b);
    return L;
}

static bl_linear *make_layer(int in, int out, int k, bl_format fmt, int bias, bl_act act, int bits)
{
    return make_layer_rotated(in, out, k, fmt, bias, act, bits, 0);
}

/* Same parameters, same packed bytes, same float bits. */
static int same_layer(const bl_linear *a, const bl_linear *b)
{
    bl_linear_info x, y;
    size_t packed, scales;
    if (bl_linear_get_info(a, &x) != BL_OK || bl_linear_get_info(b, &y) != BL_OK) return 0;
    if (x.in_features != y.in_features || x.out_features != y.out_features || x.k != y.k ||
        x.act_bits != y.act_bits || x.format != y.format || x.act != y.act || x.method != y.method ||
        x.scaling != y.scaling || x.row_bytes != y.row_bytes || (x.bias == NULL) != (y.bias == NULL) ||
        x.hadamard != y.hadamard || x.hadamard_seed != y.hadamard_seed)
        return 0;
    packed = (size_t)x.k * (size_t)x.out_features * x.row_bytes;
    scales = (size_t)x.k * (size_t)x.out_features * sizeof(float);
    if (memcmp(x.packed, y.packed, packed) != 0 || memcmp(x.scales, y.scales, scales) != 0) return 0;
    if (x.bias && memcmp(x.bias, y.bias, (size_t)x.out_features * sizeof(float)) != 0) return 0;
    return 1;
}

/* Forward outputs of two layers on the same random input, bit for bit. */
static int same_forward(const bl_linear *a, const bl_linear *b, int in, int out)
{
    int batch = 3, ok;
    float *x = (float *)bt_alloc(sizeof(float) * (size_t)in * batch);
    float *ya = (float *)bt_alloc(sizeof(float) * (size_t)out * batch);
    float *yb = (float *)bt_alloc(sizeof(float) * (size_t)out * batch);
    size_t i;
    for (i = 0; i < (size_t)in * batch; ++i) x[i] = bt_gauss();
    ok = bl_linear_forward(a, x, batch, ya, NULL) == BL_OK && bl_linear_forward(b, x, batch, yb, NULL) == BL_OK &&
         memcmp(ya, yb, sizeof(float) * (size_t)out * batch) == 0;
    free(x);
    free(ya);
    free(yb);
    return ok;
}

/* A save into a fresh 64-byte-aligned buffer; *block is what to free. */
static uint8_t *save_model(const bl_model_entry *e, int count, size_t *size, void **block)
{
    uint8_t *buf;
    size_t need = 0, wrote = 0;
    CHECK_EQ_INT(bl_model_save(e, count, NULL, 0, &need), BL_OK);
    *block = bt_alloc(need + 64);
    buf = (uint8_t *)(((uintptr_t)*block + 63) & ~(uintptr_t)63);
    CHECK_EQ_INT(bl_model_save(e, count, buf, need, &wrote), BL_OK);
    CHECK(wrote == need);
    *size = need;
    return buf;
}

static uint32_t rd32(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24; }
static void wr32(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24); }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }
/* the documented checksum: CRC-32C of bytes [0, 60) then [64, file size) */
static void fix_crc(uint8_t *f)
{
    size_t size = (size_t)rd64(f + 24);
    wr32(f + 60, bl_crc32c(bl_crc32c(0, f, 60), f + 64, size - 64));
}

/* ---- checksum ---- */

static void test_crc(void)
{
    uint8_t zeros[32], buf[1000];
    size_t i, cut;
    memset(zeros, 0, sizeof zeros);
    CHECK(bl_crc32c(0, "123456789", 9) == 0xE3069283u);     /* the standard check value */
    CHECK(bl_crc32c(0, zeros, sizeof zeros) == 0x8A9136AAu); /* RFC 3720 B.4 */
    for (i = 0; i < sizeof buf; ++i) buf[i] = (uint8_t)bt_int(0, 255);
    for (cut = 0; cut <= 17; ++cut) /* split anywhere = whole */
        CHECK(bl_crc32c(bl_crc32c(0, buf, cut), buf + cut, sizeof buf - cut) == bl_crc32c(0, buf, sizeof buf));
    {   /* against a bit-at-a-time reference */
        uint32_t c = 0xFFFFFFFFu;
        int b;
        for (i = 0; i < sizeof buf; ++i) {
            c ^= buf[i];
            for (b = 0; b < 8; ++b) c = (c & 1u) ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        }
        CHECK(~c == bl_crc32c(0, buf, sizeof buf));
    }
}

/* ---- round trips ---- */

static void test_round_trips(void)
{
    static const int shapes[][2] = { { 1, 1 }, { 7, 3 }, { 321, 5 }, { 1000, 9 } };
    int s, f, k, bias, act, combos = 0;
    for (s = 0; s < 4; ++s)
        for (f = 0; f < 2; ++f)
            for (k = 1; k <= 3; ++k)
                for (bias = 0; bias < 2; ++bias)
                    for (act = 0; act < 2; ++act) {
                        int in = shapes[s][0], out = shapes[s][1], bits = act == 0 ? 2 + (combos % 7) : 8;
                        bl_linear *L = make_layer(in, out, k, (bl_format)f, bias, (bl_act)act, bits);
                        bl_model_entry e;
                        bl_model *copy = NULL, *view = NULL;
                        void *block;
                        size_t size;
                        uint8_t *file;
                        memset(&e, 0, sizeof e);
                        e.name = "layer";
                        e.layer = L;
                        file = save_model(&e, 1, &size, &block);
                        CHECK(size % 64 == 0);
                        CHECK_EQ_INT(bl_model_load(file, size, &copy), BL_OK);
                        CHECK_EQ_INT(bl_model_load_with(file, size, BL_MODEL_LOAD_VIEW, NULL, &view), BL_OK);
                        if (copy && view) {
                            const bl_linear *c = bl_model_find(copy, "layer"), *v = bl_model_find(view, "layer");
                            bl_linear_info vi;
                            memset(&vi, 0, sizeof vi);
                            CHECK(c != NULL && v != NULL);
                            CHECK(same_layer(L, c));
                            CHECK(same_layer(L, v));
                            CHECK(same_forward(L, c, in, out));
                            CHECK(same_forward(c, v, in, out));
                            CHECK(bl_linear_nbytes(c) == bl_linear_nbytes(L));
                            /* the view's packed trits are the file's bytes, not a copy */
                            bl_linear_get_info(v, &vi);
                            CHECK(vi.packed > file && vi.packed < file + size);
                            bl_linear_destroy((bl_linear *)(uintptr_t)v); /* a no-op on views */
                        }
                        bl_model_destroy(copy);
                        bl_model_destroy(view);
                        free(block);
                        bl_linear_destroy(L);
                        ++combos;
                    }
    CHECK_EQ_INT(combos, 96);
}

static void test_many_layers(void)
{
    enum { N = 40 };
    bl_linear *L[N];
    bl_model_entry e[N];
    char names[N][32];
    bl_model *m = NULL;
    void *block;
    size_t size;
    uint8_t *file;
    int i;
    memset(e, 0, sizeof e);
    for (i = 0; i < N; ++i) {
        uint64_t seed = (uint64_t)i * 0x9E3779B97F4A7C15ull; /* 0 is a seed too */
        L[i] = make_layer_rotated(1 + i * 13 % 97, 1 + i % 5, 1 + i % 3, (bl_format)(i % 2), i % 2, BL_ACT_INT8, 8,
                                  i % 3 == 1 ? seed + 1 : 0);
        sprintf(names[(i * 7) % N], "blocks.%d.weight", (i * 7) % N); /* not in sorted order */
        e[i].layer = L[i];
        if (i % 6 == 1) { /* entries may restate their layer's rotation */
            e[i].flags = BL_LAYER_FLAG_HADAMARD;
            e[i].hadamard_seed = seed;
        }
    }
    for (i = 0; i < N; ++i) e[i].name = names[i];
    file = save_model(e, N, &size, &block);
    CHECK_EQ_INT(bl_model_load(file, size, &m), BL_OK);
    CHECK_EQ_INT(bl_model_count(m), N);
    for (i = 0; i < N && m; ++i) {
        CHECK(strcmp(bl_model_name(m, i), names[i]) == 0); /* file order = save order */
        CHECK(bl_model_find(m, names[i]) == bl_model_layer(m, i));
        CHECK(same_layer(L[i], bl_model_find(m, names[i])));
        {
            uint64_t seed = 7;
            uint32_t flags = bl_model_flags(m, i, &seed);
            CHECK(flags == ((i % 2 ? BL_LAYER_FLAG_BIAS : 0u) | (i % 3 == 1 ? BL_LAYER_FLAG_HADAMARD : 0u)));
            CHECK(seed == (i % 3 == 1 ? (uint64_t)i * 0x9E3779B97F4A7C15ull : 0u));
            CHECK(same_forward(L[i], bl_model_find(m, names[i]), 1 + i * 13 % 97, 1 + i % 5));
        }
    }
    CHECK(bl_model_flags(m, N, NULL) == 0 && bl_model_flags(NULL, 0, NULL) == 0);
    CHECK(bl_model_find(m, "blocks.40.weight") == NULL);
    CHECK(bl_model_find(m, "") == NULL);
    CHECK(bl_model_find(m, NULL) == NULL);
    CHECK(bl_model_find(NULL, "x") == NULL);
    CHECK(bl_model_name(m, -1) == NULL && bl_model_name(m, N) == NULL && bl_model_layer(m, N) == NULL);
    CHECK_EQ_INT(bl_model_count(NULL), 0);
    bl_model_destroy(m);
    bl_model_destroy(NULL);

    {   /* an empty model is a valid file */
        uint8_t *f0;
        void *b0;
        size_t s0;
        m = NULL;
        f0 = save_model(NULL, 0, &s0, &b0);
        CHECK_EQ_INT((int)s0, 64);
        CHECK_EQ_INT(bl_model_load(f0, s0, &m), BL_OK);
        CHECK_EQ_INT(bl_model_count(m), 0);
        CHECK(bl_model_find(m, "a") == NULL);
        bl_model_destroy(m);
        free(b0);
    }
    free(block);
    for (i = 0; i < N; ++i) bl_linear_destroy(L[i]);
}

static void test_save_errors(void)
{
    bl_linear *L = make_layer(10, 4, 1, BL_FORMAT_2BIT, 0, BL_ACT_INT8, 8);
    bl_model_entry e[2];
    char longname[BL_MODEL_MAX_NAME + 2];
    uint8_t buf[4096];
    size_t need = 0, size = 12345;
    int i;
    memset(e, 0, sizeof e);
    memset(longname, 'a', sizeof longname);
    longname[BL_MODEL_MAX_NAME + 1] = 0;
    e[0].name = "a"; e[0].layer = L;
    e[1].name = "b"; e[1].layer = L;
    CHECK_EQ_INT(bl_model_save(e, 2, NULL, 0, &need), BL_OK);
    CHECK(need > 0 && need <= sizeof buf);
    /* too small: nothing written */
    memset(buf, 0xAB, sizeof buf);
    CHECK_EQ_INT(bl_model_save(e, 2, buf, need - 1, &size), BL_ERR_INVALID);
    for (i = 0; i < (int)sizeof buf; ++i) if (buf[i] != 0xAB) break;
    CHECK_EQ_INT(i, (int)sizeof buf);
    CHECK(size == 12345);
    CHECK_EQ_INT(bl_model_save(e, 2, buf, sizeof buf, NULL), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_model_save(e, -1, NULL, 0, &size), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_model_save(NULL, 1, NULL, 0, &size), BL_ERR_INVALID);
    e[1].name = "a";
    CHECK_EQ_INT(bl_model_save(e, 2, NULL, 0, &size), BL_ERR_INVALID); /* duplicate */
    e[1].name = "";
    CHECK_EQ_INT(bl_model_save(e, 2, NULL, 0, &size), BL_ERR_INVALID);
    e[1].name = NULL;
    CHECK_EQ_INT(bl_model_save(e, 2, NULL, 0, &size), BL_ERR_INVALID);
    e[1].name = longname;
    CHECK_EQ_INT(bl_model_save(e, 2, NULL, 0, &size), BL_ERR_INVALID);
    longname[BL_MODEL_MAX_NAME] = 0; /* exactly the limit is fine */
    CHECK_EQ_INT(bl_model_save(e, 2, NULL, 0, &size), BL_OK);
    e[1].name = "b";
    e[1].flags = BL_LAYER_FLAG_BIAS; /* set from the layer, not by the caller */
    CHECK_EQ_INT(bl_model_save(e, 2, NULL, 0, &size), BL_ERR_INVALID);
    e[1].flags = 0;
    e[1].hadamard_seed = 3; /* a seed without the flag */
    CHECK_EQ_INT(bl_model_save(e, 2, NULL, 0, &size), BL_ERR_INVALID);
    e[1].flags = BL_LAYER_FLAG_HADAMARD; /* a rotation the layer does not have */
    CHECK_EQ_INT(bl_model_save(e, 2, NULL, 0, &size), BL_ERR_INVALID);
    e[1].flags = 0;
    e[1].hadamard_seed = 0;
    e[1].layer = NULL;
    CHECK_EQ_INT(bl_model_save(e, 2, NULL, 0, &size), BL_ERR_INVALID);
    CHECK(size != 12345); /* the one successful query set it */
    bl_linear_destroy(L);
}

/* ---- corruption ---- */

static bl_model *const SENTINEL = (bl_model *)(uintptr_t)0x40;

/* Loads must fail with `want` and leave *out alone, in both modes. */
static void expect_load(const uint8_t *f, size_t size, bl_status want, int line)
{
    bl_model *m = SENTINEL, *v = SENTINEL;
    bl_status a = bl_model_load(f, size, &m), b = bl_model_load_with(f, size, BL_MODEL_LOAD_VIEW, NULL, &v);
    if (a != want || b != want || m != SENTINEL || v != SENTINEL)
        fprintf(stderr, "line %d: load gave %d/%d, wanted %d\n", line, (int)a, (int)b, (int)want);
    CHECK(a == want && b == want);
    CHECK(m == SENTINEL && v == SENTINEL);
}
#define EXPECT(f, size, want) expect_load(f, size, want, __LINE__)

/* Entry i's field at byte `at` of the table entry. */
static uint8_t *entry(uint8_t *f, int i, int at) { return f + 64 + 96 * i + at; }

static void test_corruption(void)
{
    bl_linear *A = make_layer(70, 3, 2, BL_FORMAT_BASE3, 1, BL_ACT_INT8, 8);
    bl_linear *B = make_layer(9, 2, 1, BL_FORMAT_2BIT, 0, BL_ACT_FLOAT, 8);
    bl_model_entry e[2];
    void *block, *wblock;
    size_t size, i;
    uint8_t *good, *w;
    bl_model *ref = NULL;
    int errors = 0, identical = 0;
    memset(e, 0, sizeof e);
    e[0].name = "attn.q"; e[0].layer = A;
    e[1].name = "attn.k"; e[1].layer = B;
    good = save_model(e, 2, &size, &block);
    wblock = bt_alloc(size + 64 + 64);
    w = (uint8_t *)(((uintptr_t)wblock + 63) & ~(uintptr_t)63);
    CHECK_EQ_INT(bl_model_load(good, size, &ref), BL_OK);

    /* every single byte flipped, two ways: an error, or (never, with the CRC) the same content */
    for (i = 0; i < size; ++i) {
        int x;
        for (x = 0; x < 2; ++x) {
            bl_model *m = SENTINEL;
            bl_status st;
            memcpy(w, good, size);
            w[i] ^= (uint8_t)(x ? 0xFF : 0x01);
            st = bl_model_load(w, size, &m);
            if (st != BL_OK) {
                CHECK(m == SENTINEL);
                ++errors;
            } else {
                int same = bl_model_count(m) == 2 && same_layer(bl_model_layer(m, 0), bl_model_layer(ref, 0)) &&
                           same_layer(bl_model_layer(m, 1), bl_model_layer(ref, 1));
                CHECK(same);
                identical += same;
                bl_model_destroy(m);
            }
        }
    }
    CHECK(errors + identical == (int)(2 * size));
    CHECK(errors == (int)(2 * size)); /* the checksum catches every single-byte change */
    /* truncated at every length */
    for (i = 0; i < size; ++i) {
        memcpy(w, good, i);
        EXPECT(w, i, BL_ERR_FORMAT);
    }
    /* trailing bytes past the file size are ignored */
    memcpy(w, good, size);
    w[size] = 7;
    {
        bl_model *m = NULL;
        CHECK_EQ_INT(bl_model_load(w, size + 1, &m), BL_OK);
        CHECK(m && same_layer(bl_model_find(m, "attn.q"), A));
        bl_model_destroy(m);
    }

    /* field by field, with the checksum recomputed so the field checks themselves are hit */
#define CASE(edit, want)                 \
    do {                                 \
        memcpy(w, good, size);           \
        edit;                            \
        fix_crc(w);                      \
        EXPECT(w, size, want);           \
    } while (0)
    {   /* sanity: fix_crc alone leaves a loadable file */
        bl_model *m = NULL;
        memcpy(w, good, size);
        fix_crc(w);
        CHECK_EQ_INT(bl_model_load(w, size, &m), BL_OK);
        bl_model_destroy(m);
    }
    CASE(w[0] = 'X', BL_ERR_FORMAT);                         /* magic */
    CASE(w[7] = 0, BL_ERR_FORMAT);
    CASE(wr32(w + 8, 0), BL_ERR_FORMAT);                     /* version */
    CASE(wr32(w + 8, 3), BL_ERR_UNSUPPORTED);                /* newer than this build */
    CASE(wr32(w + 8, 0xFFFFFFFFu), BL_ERR_UNSUPPORTED);
    CASE((wr32(w + 8, 2), wr32(w + 56, 1)), BL_ERR_FORMAT);  /* version 2 reserved */
    CASE(wr32(w + 12, 0), BL_ERR_FORMAT);                    /* packed format version */
    CASE(wr32(w + 12, 2), BL_ERR_UNSUPPORTED);
    CASE(wr32(w + 16, 3), BL_ERR_FORMAT);                    /* count */
    CASE(wr32(w + 16, 0xFFFFFFFFu), BL_ERR_FORMAT);
    CASE(wr32(w + 20, 1), BL_ERR_FORMAT);                    /* header flags */
    CASE(wr64(w + 24, size + 64), BL_ERR_FORMAT);            /* file size */
    CASE(wr64(w + 24, size - 1), BL_ERR_FORMAT);
    CASE(wr64(w + 32, rd64(w + 32) + size), BL_ERR_FORMAT);  /* names size */
    CASE(wr64(w + 32, ~(uint64_t)0), BL_ERR_FORMAT);
    CASE(w[45] = 1, BL_ERR_FORMAT);                          /* reserved */
    CASE(wr32(entry(w, 0, 16), 0), BL_ERR_FORMAT);           /* in_features */
    CASE(wr32(entry(w, 0, 16), BL_MAX_IN_FEATURES + 1), BL_ERR_FORMAT);
    CASE(wr32(entry(w, 0, 16), 71), BL_ERR_FORMAT);          /* sizes no longer match */
    CASE(wr32(entry(w, 0, 20), 0), BL_ERR_FORMAT);           /* out_features */
    CASE(wr32(entry(w, 0, 20), 0x80000000u), BL_ERR_FORMAT);
    CASE(*entry(w, 0, 24) = 0, BL_ERR_FORMAT);               /* k */
    CASE(*entry(w, 0, 24) = BL_MAX_K + 1, BL_ERR_FORMAT);
    CASE(*entry(w, 0, 25) = 2, BL_ERR_FORMAT);               /* format */
    CASE(*entry(w, 0, 26) = 2, BL_ERR_FORMAT);               /* scaling */
    CASE(*entry(w, 0, 27) = 2, BL_ERR_FORMAT);               /* act */
    CASE(*entry(w, 0, 28) = 1, BL_ERR_FORMAT);               /* act bits */
    CASE(*entry(w, 0, 28) = 9, BL_ERR_FORMAT);
    CASE(*entry(w, 0, 29) = 4, BL_ERR_FORMAT);               /* method */
    CASE(*entry(w, 0, 30) = 1, BL_ERR_FORMAT);               /* reserved */
    CASE(*entry(w, 1, 95) = 1, BL_ERR_FORMAT);
    CASE(wr32(entry(w, 0, 12), 1u | 8u), BL_ERR_FORMAT);     /* unknown flag */
    CASE(wr64(entry(w, 1, 80), 5u), BL_ERR_FORMAT);          /* a Hadamard seed without the flag */
    CASE(wr32(entry(w, 1, 12), 1u), BL_ERR_FORMAT);          /* bias flag without a bias */
    CASE(wr32(entry(w, 0, 12), 0u), BL_ERR_FORMAT);          /* bias present, flag cleared */
    CASE(wr32(entry(w, 0, 8), 0), BL_ERR_FORMAT);            /* name length */
    CASE(wr32(entry(w, 0, 8), 7), BL_ERR_FORMAT);            /* ... reaching the 0 byte */
    CASE(wr32(entry(w, 0, 8), BL_MODEL_MAX_NAME + 1), BL_ERR_FORMAT);
    CASE(wr64(entry(w, 0, 0), 10), BL_ERR_FORMAT);           /* name offset inside the table */
    CASE(wr64(entry(w, 0, 0), size), BL_ERR_FORMAT);
    CASE(wr64(entry(w, 0, 0), ~(uint64_t)0), BL_ERR_FORMAT);
    CASE(w[rd64(entry(w, 0, 0)) + 2] = 0, BL_ERR_FORMAT);    /* a 0 byte inside a name */
    CASE(memcpy(w + rd64(entry(w, 1, 0)), "attn.q", 6), BL_ERR_FORMAT); /* duplicate names */
    CASE((wr64(entry(w, 1, 0), rd64(entry(w, 0, 0)) + 5), wr32(entry(w, 1, 8), 1)), BL_ERR_FORMAT); /* "q" inside "attn.q" */
    CASE(wr64(entry(w, 0, 32), rd64(entry(w, 0, 32)) + 4), BL_ERR_FORMAT); /* misaligned payload */
    CASE(wr64(entry(w, 0, 32), size), BL_ERR_FORMAT);        /* outside */
    CASE(wr64(entry(w, 0, 32), (uint64_t)1 << 63), BL_ERR_FORMAT);
    CASE(wr64(entry(w, 0, 32), 0), BL_ERR_FORMAT);           /* over the header */
    CASE(wr64(entry(w, 0, 40), rd64(entry(w, 0, 40)) + 1), BL_ERR_FORMAT); /* size mismatch */
    CASE(wr64(entry(w, 0, 40), ~(uint64_t)0), BL_ERR_FORMAT);
    CASE(wr64(entry(w, 1, 48), rd64(entry(w, 0, 32))), BL_ERR_FORMAT);     /* overlapping payloads */
    CASE(wr64(entry(w, 0, 64), rd64(entry(w, 0, 48))), BL_ERR_FORMAT);     /* bias over scales */
    CASE(wr64(entry(w, 1, 64), 64), BL_ERR_FORMAT);          /* absent bias with an offset */
    CASE(w[rd64(entry(w, 1, 32))] = 0xFF, BL_ERR_FORMAT);    /* 2BIT code 3 */
    CASE(w[rd64(entry(w, 0, 32))] = 0x01, BL_ERR_FORMAT);    /* a BASE3 byte no digits encode to */
    CASE(w[rd64(entry(w, 1, 32)) + 2] = 0x00, BL_ERR_FORMAT); /* a padding trit (9 of 12) that is not 0 */
    CASE(wr32(w + rd64(entry(w, 0, 48)), 0x7FC00000u), BL_ERR_FORMAT); /* NaN scale */
    CASE(wr32(w + rd64(entry(w, 0, 64)) + 4, 0xFF800000u), BL_ERR_FORMAT); /* -Inf bias */
#undef CASE
    /* a payload moved to another aligned free place (not overlapping) is still fine */
    {
        bl_model *m = NULL;
        memcpy(w, good, size);
        memset(w + size, 0, 64);
        memcpy(w + size, w + rd64(entry(w, 1, 48)), 8); /* B's scales */
        wr64(entry(w, 1, 48), size);
        wr64(w + 24, size + 64);
        fix_crc(w);
        CHECK_EQ_INT(bl_model_load(w, size + 64, &m), BL_OK);
        CHECK(m && same_layer(bl_model_find(m, "attn.k"), B));
        bl_model_destroy(m);
    }
    /* arguments */
    {
        bl_model *m = SENTINEL;
        CHECK_EQ_INT(bl_model_load(NULL, size, &m), BL_ERR_INVALID);
        CHECK_EQ_INT(bl_model_load(good, size, NULL), BL_ERR_INVALID);
        CHECK_EQ_INT(bl_model_load_with(good, size, 4u, NULL, &m), BL_ERR_INVALID);
        memcpy(w + 4, good, size); /* views need 64-byte-aligned bytes; copies do not */
        CHECK_EQ_INT(bl_model_load_with(w + 4, size, BL_MODEL_LOAD_VIEW, NULL, &m), BL_ERR_INVALID);
        CHECK(m == SENTINEL);
        CHECK_EQ_INT(bl_model_load_with(w + 4, size, BL_MODEL_LOAD_COPY, NULL, &m), BL_OK);
        CHECK(m != SENTINEL && same_layer(bl_model_find(m, "attn.q"), A));
        if (m != SENTINEL) bl_model_destroy(m);
    }
    bl_model_destroy(ref);
    free(wblock);
    free(block);
    bl_linear_destroy(A);
    bl_linear_destroy(B);
}

/* The loader accepts exactly the packed bytes bl_unpack accepts. Rows of 333 trits have
   one full block and a tail in both formats; every payload byte is set to 8 values, and
   the bytes where the checks change (a full block's first 9 and last, the tail's first
   and last) to all 256. */
static void test_packed_validation(void)
{
    static const uint8_t some[] = { 0x00, 0x01, 0x03, 0x55, 0x7F, 0x80, 0xC0, 0xFF };
    int f, bad = 0, rejected = 0, accepted = 0;
    for (f = 0; f < 2; ++f) {
        bl_linear *L = make_layer(333, 2, 1, (bl_format)f, 0, BL_ACT_INT8, 8);
        bl_model_entry e;
        void *block, *wblock;
        size_t size, p, off, psize, row;
        uint8_t *good, *w;
        int8_t *trits = (int8_t *)bt_alloc(333 * 2);
        memset(&e, 0, sizeof e);
        e.name = "x";
        e.layer = L;
        good = save_model(&e, 1, &size, &block);
        wblock = bt_alloc(size + 64);
        w = (uint8_t *)(((uintptr_t)wblock + 63) & ~(uintptr_t)63);
        off = (size_t)rd64(entry(good, 0, 32));
        psize = (size_t)rd64(entry(good, 0, 40));
        row = psize / 2;
        for (p = 0; p < psize; ++p) {
            size_t q = p % row;
            int all = q < 9 || q == 63 || q == 64 || q == row - 1, v, n = all ? 256 : (int)sizeof some;
            for (v = 0; v < n; ++v) {
                bl_model *m = NULL;
                bl_status st, ref;
                memcpy(w, good, size);
                w[off + p] = all ? (uint8_t)v : some[v];
                fix_crc(w);
                st = bl_model_load(w, size, &m);
                ref = bl_unpack((bl_format)f, w + off, psize, 2, 333, trits);
                if ((st == BL_OK) != (ref == BL_OK) || (st != BL_OK && st != BL_ERR_FORMAT)) ++bad;
                if (st == BL_OK) ++accepted; else ++rejected;
                bl_model_destroy(m);
            }
        }
        free(trits);
        free(wblock);
        free(block);
        bl_linear_destroy(L);
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(accepted > 0 && rejected > 0); /* both verdicts occur */
}

/* ---- allocator and stdio ---- */

static int allocs, frees;
static void *count_alloc(size_t n, void *user) { (void)user; ++allocs; return malloc(n); }
static void count_free(void *p, void *user) { (void)user; ++frees; free(p); }

static void test_allocator_and_files(void)
{
    bl_linear *L = make_layer(33, 6, 2, BL_FORMAT_2BIT, 1, BL_ACT_INT8, 8);
    bl_model_entry e;
    bl_allocator a;
    bl_model *m = NULL;
    void *block;
    size_t size;
    uint8_t *file;
    memset(&e, 0, sizeof e);
    e.name = "fc";
    e.layer = L;
    file = save_model(&e, 1, &size, &block);
    a.alloc = count_alloc;
    a.free = count_free;
    a.user = NULL;
    CHECK_EQ_INT(bl_model_load_with(file, size, BL_MODEL_LOAD_COPY, &a, &m), BL_OK);
    CHECK(allocs > 0);
    CHECK(m && same_forward(L, bl_model_find(m, "fc"), 33, 6)); /* forward's scratch from the allocator too */
    bl_model_destroy(m);
    CHECK_EQ_INT(allocs, frees);
    file[100] ^= 1;
    m = SENTINEL;
    CHECK_EQ_INT(bl_model_load_with(file, size, BL_MODEL_LOAD_COPY, &a, &m), BL_ERR_FORMAT);
    CHECK_EQ_INT(allocs, frees); /* nothing left behind */
    file[100] ^= 1;
#ifndef BITLINEAR_NO_STDIO
    {
        const char *path = "build/test/test_io.tmp.blm";
        FILE *f;
        uint8_t *back;
        m = NULL;
        CHECK_EQ_INT(bl_model_save_path(&e, 1, path), BL_OK);
        CHECK_EQ_INT(bl_model_load_path(path, &m), BL_OK);
        CHECK(m && same_layer(L, bl_model_find(m, "fc")));
        bl_model_destroy(m);
        f = fopen(path, "rb");
        CHECK(f != NULL);
        if (f) {
            back = (uint8_t *)bt_alloc(size + 1);
            CHECK(fread(back, 1, size + 1, f) == size); /* the file is exactly the buffer */
            CHECK(memcmp(back, file, size) == 0);
            free(back);
            rewind(f);
            m = NULL;
            CHECK_EQ_INT(bl_model_load_file(f, &m), BL_OK);
            bl_model_destroy(m);
            fclose(f);
        }
        m = SENTINEL;
        CHECK_EQ_INT(bl_model_load_path("build/test/does-not-exist.blm", &m), BL_ERR_IO);
        CHECK(m == SENTINEL);
        e.name = "";
        CHECK_EQ_INT(bl_model_save_path(&e, 1, path), BL_ERR_INVALID);
        remove(path);
    }
#endif
    free(block);
    bl_linear_destroy(L);
}

/* ---- the golden file: saved on a little-endian host, loaded everywhere ---- */

/* Layers from integer-generated trits and dyadic scales: the same floats on every host. */
static int golden_layers(bl_linear **L)
{
    static const int dims[3][5] = { /* in, out, k, format, bias */
        { 37, 5, 2, BL_FORMAT_BASE3, 1 }, { 330, 3, 1, BL_FORMAT_2BIT, 0 }, { 8, 4, 3, BL_FORMAT_2BIT, 1 } };
    int i;
    bt_seed(12345);
    for (i = 0; i < 3; ++i) {
        int in = dims[i][0], out = dims[i][1], k = dims[i][2];
        size_t n = (size_t)in * out * k, j;
        int8_t *t = (int8_t *)bt_alloc(n);
        float s[3 * 5], b[5];
        bl_linear_desc d;
        for (j = 0; j < n; ++j) t[j] = (int8_t)((int)(bt_u32() % 3) - 1);
        for (j = 0; j < (size_t)(out * k); ++j) s[j] = (float)(int)(bt_u32() % 1000 + 1) / 256.0f;
        for (j = 0; j < (size_t)out; ++j) b[j] = (float)((int)(bt_u32() % 2001) - 1000) / 64.0f;
        memset(&d, 0, sizeof d);
        d.in_features = in;
        d.out_features = out;
        d.trits = t;
        d.scales = s;
        d.bias = dims[i][4] ? b : NULL;
        d.k = k;
        d.format = (bl_format)dims[i][3];
        d.act = i == 1 ? BL_ACT_FLOAT : BL_ACT_INT8;
        d.act_bits = i == 2 ? 4 : 8;
        L[i] = NULL;
        if (bl_linear_create(&d, &L[i]) != BL_OK) return 0;
        free(t);
    }
    return 1;
}

static void test_golden(const char *write_path)
{
    static const char *names[3] = { "embed.proj", "h.0.mlp.c_fc", "lm_head" };
    bl_linear *L[3];
    bl_model_entry e[3];
    void *block, *gblock;
    size_t size, gsize = 0;
    uint8_t *file, *gold;
    FILE *f;
    int i;
    CHECK(golden_layers(L));
    memset(e, 0, sizeof e);
    for (i = 0; i < 3; ++i) { e[i].name = names[i]; e[i].layer = L[i]; }
    file = save_model(e, 3, &size, &block);
    if (write_path) {
        f = fopen(write_path, "wb");
        CHECK(f && fwrite(file, 1, size, f) == size);
        if (f) fclose(f);
    }
    gblock = bt_alloc(size + 64 + 64);
    gold = (uint8_t *)(((uintptr_t)gblock + 63) & ~(uintptr_t)63);
    f = fopen(GOLDEN_PATH, "rb");
    CHECK(f != NULL); /* run from the repository root */
    if (f) {
        gsize = fread(gold, 1, size + 64, f);
        fclose(f);
    }
    /* this host writes exactly the committed bytes ... */
    CHECK(gsize == size && memcmp(gold, file, size) == 0);
    /* ... and reads them back to the same layers, copied and viewed */
    if (gsize == size) {
        bl_model *m = NULL, *v = NULL;
        CHECK_EQ_INT(bl_model_load(gold, gsize, &m), BL_OK);
        CHECK_EQ_INT(bl_model_load_with(gold, gsize, BL_MODEL_LOAD_VIEW, NULL, &v), BL_OK);
        for (i = 0; i < 3 && m && v; ++i) {
            CHECK(same_layer(L[i], bl_model_find(m, names[i])));
            CHECK(same_layer(L[i], bl_model_find(v, names[i])));
            bl_linear_info info;
            memset(&info, 0, sizeof info);
            bl_linear_get_info(L[i], &info);
            CHECK(same_forward(L[i], bl_model_find(v, names[i]), info.in_features, info.out_features));
        }
        bl_model_destroy(m);
        bl_model_destroy(v);
    }
    free(gblock);
    free(block);
    for (i = 0; i < 3; ++i) bl_linear_destroy(L[i]);
}

/* ---- safetensors ---- */

typedef struct st_file { uint8_t *bytes; size_t size; } st_file;

/* header JSON (padded with spaces to a multiple of 8, as writers do) + data */
static st_file st_make(const char *json, const void *data, size_t data_size)
{
    st_file s;
    size_t n = strlen(json), padded = (n + 7) & ~(size_t)7, i;
    s.size = 8 + padded + data_size;
    s.bytes = (uint8_t *)bt_alloc(s.size);
    for (i = 0; i < 8; ++i) s.bytes[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(s.bytes + 8, json, n);
    memset(s.bytes + 8 + n, ' ', padded - n);
    if (data_size) memcpy(s.bytes + 8 + padded, data, data_size);
    return s;
}

static bl_status st_status(const char *json, size_t data_size)
{
    uint8_t data[256];
    st_file s;
    bl_safetensors *st = (bl_safetensors *)(uintptr_t)0x40;
    bl_status r;
    memset(data, 0, sizeof data);
    s = st_make(json, data, data_size);
    r = bl_safetensors_open(s.bytes, s.size, &st);
    if (r == BL_OK) bl_safetensors_close(st);
    else CHECK(st == (bl_safetensors *)(uintptr_t)0x40);
    free(s.bytes);
    return r;
}

static void test_safetensors(void)
{
    /* F32 [2,3] at 0..24, F16 [4] at 24..32, BF16 [2] at 32..36, I64 [1] at 40..48 */
    uint8_t data[48];
    float f32[6] = { 1.5f, -2.0f, 0.0f, 3.25f, -0.125f, 1e-30f }, got[6];
    static const uint16_t f16[4] = { 0x3C00, 0xC000, 0x0001, 0x7BFF }; /* 1, -2, 2^-24, 65504 */
    static const uint16_t bf16[2] = { 0x3F80, 0xC2F7 };                /* 1, -123.5 */
    const char *json =
        "{\"__metadata__\":{\"format\":\"pt\",\"k\\\"ey\":\"v\"},"
        "\"w\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        " \"h\\u00e9\\ud83d\\ude00\" : { \"shape\" : [ 4 ] , \"dtype\" : \"F16\", \"data_offsets\" : [24, 32] },\n"
        "\"b\":{\"data_offsets\":[32,36],\"dtype\":\"BF16\",\"shape\":[2]},"
        "\"pos\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[40,48]},"
        "\"empty\":{\"dtype\":\"F32\",\"shape\":[0,5],\"data_offsets\":[36,36]}}";
    st_file s;
    bl_safetensors *st = NULL;
    const bl_tensor *t;
    size_t i;
    memset(data, 0, sizeof data);
    for (i = 0; i < 6; ++i) {
        uint32_t u;
        memcpy(&u, &f32[i], 4);
        wr32(data + 4 * i, u);
    }
    for (i = 0; i < 4; ++i) { data[24 + 2 * i] = (uint8_t)f16[i]; data[25 + 2 * i] = (uint8_t)(f16[i] >> 8); }
    for (i = 0; i < 2; ++i) { data[32 + 2 * i] = (uint8_t)bf16[i]; data[33 + 2 * i] = (uint8_t)(bf16[i] >> 8); }
    s = st_make(json, data, sizeof data);
    CHECK_EQ_INT(bl_safetensors_open(s.bytes, s.size, &st), BL_OK);
    CHECK_EQ_INT(bl_safetensors_count(st), 5);
    t = bl_safetensors_find(st, "w");
    CHECK(t && t->dtype == BL_DTYPE_F32 && t->ndim == 2 && t->shape[0] == 2 && t->shape[1] == 3 && t->nbytes == 24);
    CHECK(t && bl_tensor_to_f32(t, got, 6) == BL_OK && memcmp(got, f32, sizeof f32) == 0);
    CHECK(t && bl_tensor_to_f32(t, got, 5) == BL_ERR_INVALID);
    t = bl_safetensors_find(st, "h\xc3\xa9\xf0\x9f\x98\x80"); /* escapes decoded to UTF-8 */
    CHECK(t && t->dtype == BL_DTYPE_F16 && t->ndim == 1 && t->shape[0] == 4);
    CHECK(t && bl_tensor_to_f32(t, got, 4) == BL_OK && got[0] == 1.0f && got[1] == -2.0f &&
          got[2] == ldexpf(1.0f, -24) && got[3] == 65504.0f);
    t = bl_safetensors_find(st, "b");
    CHECK(t && t->dtype == BL_DTYPE_BF16 && bl_tensor_to_f32(t, got, 2) == BL_OK && got[0] == 1.0f && got[1] == -123.5f);
    t = bl_safetensors_find(st, "pos");
    CHECK(t && t->dtype == BL_DTYPE_I64 && t->elem_bytes == 8 && bl_tensor_to_f32(t, got, 1) == BL_ERR_UNSUPPORTED);
    t = bl_safetensors_find(st, "empty");
    CHECK(t && t->nbytes == 0 && t->ndim == 2 && t->shape[1] == 5);
    CHECK(bl_safetensors_get(st, 0) == bl_safetensors_find(st, "w")); /* file order */
    CHECK(bl_safetensors_get(st, 5) == NULL && bl_safetensors_find(st, "__metadata__") == NULL);
    bl_safetensors_close(st);

    /* every f16 bit pattern against a reference built from ldexp */
    {
        uint8_t hd[2];
        bl_tensor ht;
        uint32_t h;
        int bad = 0;
        memset(&ht, 0, sizeof ht);
        ht.dtype = BL_DTYPE_F16;
        ht.elem_bytes = 2;
        ht.ndim = 1;
        ht.shape[0] = 1;
        ht.data = hd;
        ht.nbytes = 2;
        for (h = 0; h < 65536; ++h) {
            int e = (int)(h >> 10) & 31, m = (int)(h & 1023);
            float want, v = 0.0f;
            hd[0] = (uint8_t)h; hd[1] = (uint8_t)(h >> 8);
            if (bl_tensor_to_f32(&ht, &v, 1) != BL_OK) { ++bad; continue; }
            if (e == 31) {
                if (m == 0 ? !(isinf(v) && (v < 0) == ((h >> 15) != 0)) : !isnan(v)) ++bad;
                continue;
            }
            want = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(m + 1024), e - 25);
            if (h >> 15) want = -want;
            if (memcmp(&want, &v, 4) != 0) ++bad;
        }
        CHECK_EQ_INT(bad, 0);
    }

    /* truncated anywhere, or any byte flipped: an error or a valid parse, never a crash */
    {
        size_t cut;
        uint8_t *w = (uint8_t *)bt_alloc(s.size);
        for (cut = 0; cut < s.size; ++cut) {
            bl_safetensors *x = (bl_safetensors *)(uintptr_t)0x40;
            CHECK(bl_safetensors_open(s.bytes, cut, &x) == BL_ERR_FORMAT && x == (bl_safetensors *)(uintptr_t)0x40);
        }
        for (cut = 0; cut < s.size; ++cut) {
            bl_safetensors *x = NULL;
            memcpy(w, s.bytes, s.size);
            w[cut] ^= 0x20;
            if (bl_safetensors_open(w, s.size, &x) == BL_OK) bl_safetensors_close(x);
        }
        free(w);
    }
    free(s.bytes);

#define T(name, dtype, shape, offs) "\"" name "\":{\"dtype\":\"" dtype "\",\"shape\":" shape ",\"data_offsets\":" offs "}"
    CHECK_EQ_INT(st_status("{}", 0), BL_OK);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[2]", "[0,8]") "}", 8), BL_OK);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[]", "[0,4]") "}", 8), BL_OK);           /* a scalar; a hole after */
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[2]", "[0,8]") "," T("a", "F32", "[1]", "[8,12]") "}", 12), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[2]", "[0,8]") "," T("b", "F32", "[1]", "[4,8]") "}", 12), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[2]", "[4,12]") "," T("b", "F32", "[2]", "[0,8]") "}", 12), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[0]", "[4,4]") "," T("b", "F32", "[2]", "[0,8]") "}", 8), BL_OK);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[2]", "[0,8]") "}", 7), BL_ERR_FORMAT);   /* past the end */
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[3]", "[0,8]") "}", 16), BL_ERR_FORMAT);  /* shape/size */
    CHECK_EQ_INT(st_status("{" T("a", "F16", "[2]", "[0,8]") "}", 16), BL_ERR_FORMAT);  /* dtype/size */
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[2]", "[8,0]") "}", 16), BL_ERR_FORMAT);  /* reversed */
    CHECK_EQ_INT(st_status("{" T("a", "F33", "[2]", "[0,8]") "}", 8), BL_ERR_FORMAT);   /* dtype */
    CHECK_EQ_INT(st_status("{" T("a", "f32", "[2]", "[0,8]") "}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[2]", "[0,8,8]") "}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[2]", "[0]") "}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[1,1,1,1,1,1,1,1]", "[0,4]") "}", 4), BL_OK);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[1,1,1,1,1,1,1,1,1]", "[0,4]") "}", 4), BL_ERR_FORMAT); /* 9 dims */
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[4294967296,4294967296,4]", "[0,4]") "}", 4), BL_ERR_FORMAT); /* overflow */
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[-2]", "[0,8]") "}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[2.0]", "[0,8]") "}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[02]", "[0,8]") "}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[2e0]", "[0,8]") "}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[2,]", "[0,8]") "}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[2]", "[0,99999999999999999999]") "}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("", "F32", "[2]", "[0,8]") "}", 8), BL_ERR_FORMAT);     /* empty name */
    CHECK_EQ_INT(st_status("{" T("a\\u0000b", "F32", "[2]", "[0,8]") "}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a\\ud800", "F32", "[2]", "[0,8]") "}", 8), BL_ERR_FORMAT); /* lone surrogate */
    CHECK_EQ_INT(st_status("{" T("a\\udc00", "F32", "[2]", "[0,8]") "}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a\\x", "F32", "[2]", "[0,8]") "}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a\\u12G4", "F32", "[2]", "[0,8]") "}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a\tb", "F32", "[2]", "[0,8]") "}", 8), BL_ERR_FORMAT);    /* control character */
    CHECK_EQ_INT(st_status("{" T("a\xc0\x80", "F32", "[2]", "[0,8]") "}", 8), BL_ERR_FORMAT); /* overlong */
    CHECK_EQ_INT(st_status("{" T("a\xed\xa0\x80", "F32", "[2]", "[0,8]") "}", 8), BL_ERR_FORMAT); /* surrogate */
    CHECK_EQ_INT(st_status("{" T("a\xe2\x82", "F32", "[2]", "[0,8]") "}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("\xe2\x82\xac", "F32", "[2]", "[0,8]") "}", 8), BL_OK);      /* the euro sign */
    CHECK_EQ_INT(st_status("{\"a\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8), BL_ERR_FORMAT); /* missing key */
    CHECK_EQ_INT(st_status("{\"a\":{\"dtype\":\"F32\",\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8),
                 BL_ERR_FORMAT);                                                          /* repeated key */
    CHECK_EQ_INT(st_status("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8],\"x\":1}}", 8), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[2]", "[0,8]") ",}", 8), BL_ERR_FORMAT);   /* trailing comma */
    CHECK_EQ_INT(st_status("{" T("a", "F32", "[2]", "[0,8]") "}x", 8), BL_ERR_FORMAT);   /* trailing garbage */
    CHECK_EQ_INT(st_status(" {}", 0), BL_ERR_FORMAT);                                     /* leading space */
    CHECK_EQ_INT(st_status("[]", 0), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{\"__metadata__\":{\"a\":\"b\"}}", 0), BL_OK);
    CHECK_EQ_INT(st_status("{\"__metadata__\":{\"a\":1}}", 0), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{\"__metadata__\":{},\"__metadata__\":{}}", 0), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{\"a\":\"b\"}", 0), BL_ERR_FORMAT);
    CHECK_EQ_INT(st_status("{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}", 8), BL_ERR_FORMAT); /* unclosed */
#undef T
    {   /* header length beyond the file, and beyond the limit */
        uint8_t hdr[16];
        bl_safetensors *x = NULL;
        memset(hdr, ' ', sizeof hdr);
        wr64(hdr, 9);
        hdr[8] = '{';
        CHECK_EQ_INT(bl_safetensors_open(hdr, 16, &x), BL_ERR_FORMAT);
        wr64(hdr, (uint64_t)BL_ST_MAX_HEADER + 1);
        CHECK_EQ_INT(bl_safetensors_open(hdr, 16, &x), BL_ERR_FORMAT);
        wr64(hdr, ~(uint64_t)0);
        CHECK_EQ_INT(bl_safetensors_open(hdr, 16, &x), BL_ERR_FORMAT);
        CHECK_EQ_INT(bl_safetensors_open(NULL, 16, &x), BL_ERR_INVALID);
        CHECK_EQ_INT(bl_safetensors_open(hdr, 16, NULL), BL_ERR_INVALID);
    }
    {   /* many tensors: duplicate detection stays fast and exact */
        enum { N = 3000 };
        char *json2 = (char *)bt_alloc((size_t)N * 80 + 16), *p = json2;
        int k;
        *p++ = '{';
        for (k = 0; k < N; ++k)
            p += sprintf(p, "%s\"t%d\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[%d,%d]}", k ? "," : "",
                         (k * 7919) % N, k, k + 1);
        strcpy(p, "}");
        CHECK_EQ_INT(st_status(json2, 0), BL_ERR_FORMAT); /* data area too small */
        {
            uint8_t *zeros = (uint8_t *)calloc(N, 1);
            st_file f2 = st_make(json2, zeros, N);
            bl_safetensors *x = NULL;
            CHECK_EQ_INT(bl_safetensors_open(f2.bytes, f2.size, &x), BL_OK);
            CHECK_EQ_INT(bl_safetensors_count(x), N);
            CHECK(bl_safetensors_find(x, "t2999") != NULL && bl_safetensors_find(x, "t3000") == NULL);
            bl_safetensors_close(x);
            free(f2.bytes);
            /* now a duplicate: rename t1 to t2 (same length) */
            p = strstr(json2, "\"t1\"");
            CHECK(p != NULL);
            if (p) p[2] = '2';
            f2 = st_make(json2, zeros, N);
            x = NULL;
            CHECK_EQ_INT(bl_safetensors_open(f2.bytes, f2.size, &x), BL_ERR_FORMAT);
            free(f2.bytes);
            free(zeros);
        }
        free(json2);
    }
}

int main(int argc, char **argv)
{
    const char *write_golden = argc == 3 && strcmp(argv[1], "--write-golden") == 0 ? argv[2] : NULL;
    test_crc();
    test_round_trips();
    test_many_layers();
    test_save_errors();
    test_corruption();
    test_packed_validation();
    test_allocator_and_files();
    test_golden(write_golden);
    test_safetensors();
    return bt_summary("test_io");
}
