/* Model files and safetensors: round trips, views, every corruption, the golden file. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include "test.h"
#include <errno.h>

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

/* ---- container version 2: float tensors and key/value metadata ---- */

/* A save of whole contents into a fresh 64-byte-aligned buffer; *block is what to free. */
static uint8_t *save_contents(const bl_model_contents *c, size_t *size, void **block)
{
    uint8_t *buf;
    size_t need = 0, wrote = 0;
    CHECK_EQ_INT(bl_model_save_contents(c, NULL, 0, &need), BL_OK);
    *block = bt_alloc(need + 64);
    buf = (uint8_t *)(((uintptr_t)*block + 63) & ~(uintptr_t)63);
    CHECK_EQ_INT(bl_model_save_contents(c, buf, need, &wrote), BL_OK);
    CHECK(wrote == need);
    *size = need;
    return buf;
}

static int same_tensor(const bl_tensor *a, const bl_tensor *b)
{
    int d;
    if (!a || !b || strcmp(a->name, b->name) != 0 || a->dtype != b->dtype || a->ndim != b->ndim ||
        a->nbytes != b->nbytes || b->ggml_type != -1)
        return 0;
    for (d = 0; d < a->ndim; ++d)
        if (a->shape[d] != b->shape[d]) return 0;
    return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
}

static size_t value_bytes(bl_value_type t)
{
    switch (t) {
    case BL_VALUE_U8: case BL_VALUE_I8: case BL_VALUE_BOOL: return 1;
    case BL_VALUE_U16: case BL_VALUE_I16: return 2;
    case BL_VALUE_U32: case BL_VALUE_I32: case BL_VALUE_F32: return 4;
    default: return 8;
    }
}

static int same_kv(const bl_kv *a, const bl_kv *b)
{
    bl_value_type elem = a->type == BL_VALUE_ARRAY ? a->elem_type : a->type;
    uint64_t n = a->type == BL_VALUE_ARRAY ? a->count : 1, i;
    if (!a || !b || strcmp(a->key, b->key) != 0 || a->type != b->type || b->elem_type != elem || b->count != n)
        return 0;
    if (elem == BL_VALUE_STRING) {
        const bl_str *x = (const bl_str *)a->data, *y = (const bl_str *)b->data;
        for (i = 0; i < n; ++i)
            if (x[i].size != y[i].size || (x[i].size && memcmp(x[i].data, y[i].data, (size_t)x[i].size) != 0)) return 0;
        return 1;
    }
    return n == 0 || memcmp(a->data, b->data, (size_t)n * value_bytes(elem)) == 0;
}

/* The contents used below: two layers, tensors of every stored type and rank, and one
   key of every value type (scalars, strings, numeric arrays, arrays of strings). */
typedef struct v2_fixture {
    bl_linear *L[2];
    bl_model_entry e[2];
    bl_tensor t[5];
    bl_kv kv[17];
    float f32[15];
    uint16_t f16[7], bf16[8];
    float scalar;
    uint8_t u8, i8, b1, bools[3];
    uint16_t u16, i16;
    uint32_t u32, i32, fl32, u32s[4];
    uint64_t u64, i64, f64, i64s[2];
    bl_str str, strs[3];
    bl_model_contents c;
} v2_fixture;

static void kv_set(bl_kv *kv, const char *key, bl_value_type type, bl_value_type elem, uint64_t count, const void *data)
{
    memset(kv, 0, sizeof *kv);
    kv->key = key;
    kv->type = type;
    kv->elem_type = elem;
    kv->count = count;
    kv->data = data;
}

static void tensor_set(bl_tensor *t, const char *name, bl_dtype dt, int ndim, const int64_t *shape, const void *data,
                       size_t nbytes)
{
    int d;
    memset(t, 0, sizeof *t);
    t->name = name;
    t->dtype = dt;
    t->elem_bytes = dt == BL_DTYPE_F32 ? 4 : 2;
    t->ndim = ndim;
    for (d = 0; d < ndim; ++d) t->shape[d] = shape[d];
    t->data = data;
    t->nbytes = nbytes;
    t->ggml_type = -1;
}

static void v2_make(v2_fixture *x)
{
    static const int64_t s35[2] = { 3, 5 }, s7[1] = { 7 }, s222[3] = { 2, 2, 2 }, s04[2] = { 0, 4 };
    int i;
    memset(x, 0, sizeof *x);
    x->L[0] = make_layer(37, 5, 2, BL_FORMAT_BASE3, 1, BL_ACT_INT8, 8);
    x->L[1] = make_layer(130, 3, 1, BL_FORMAT_2BIT, 0, BL_ACT_FLOAT, 8);
    x->e[0].name = "blk.0.attn_q.weight";
    x->e[0].layer = x->L[0];
    x->e[1].name = "output.weight";
    x->e[1].layer = x->L[1];
    for (i = 0; i < 15; ++i) x->f32[i] = bt_gauss();
    for (i = 0; i < 7; ++i) x->f16[i] = (uint16_t)(bt_u32() & 0x7BFF);
    for (i = 0; i < 8; ++i) x->bf16[i] = (uint16_t)bt_u32();
    x->scalar = 0.5f;
    tensor_set(&x->t[0], "token_embd.weight", BL_DTYPE_F32, 2, s35, x->f32, sizeof x->f32);
    tensor_set(&x->t[1], "blk.0.attn_norm.weight", BL_DTYPE_F16, 1, s7, x->f16, sizeof x->f16);
    tensor_set(&x->t[2], "cube", BL_DTYPE_BF16, 3, s222, x->bf16, sizeof x->bf16);
    tensor_set(&x->t[3], "empty", BL_DTYPE_F32, 2, s04, NULL, 0);
    tensor_set(&x->t[4], "scalar", BL_DTYPE_F32, 0, NULL, &x->scalar, 4);
    x->u8 = 200; x->i8 = 0x80; x->b1 = 1; x->u16 = 65535; x->i16 = 0x8000; x->u32 = 4000000000u;
    x->i32 = 0xFFFFFFFFu; x->fl32 = 0x3FC00000u; x->u64 = ~(uint64_t)0; x->i64 = (uint64_t)1 << 63;
    x->f64 = 0x400921FB54442D18ull;
    /* values are little-endian bytes, as the file holds them: build them byte by byte */
    wr32((uint8_t *)&x->u32, 4000000000u);
    wr32((uint8_t *)&x->fl32, 0x3FC00000u);
    wr64((uint8_t *)&x->u64, ~(uint64_t)0);
    wr64((uint8_t *)&x->i64, (uint64_t)1 << 63);
    wr64((uint8_t *)&x->f64, 0x400921FB54442D18ull);
    for (i = 0; i < 4; ++i) wr32((uint8_t *)&x->u32s[i], (uint32_t)i * 1000u + 1u);
    wr64((uint8_t *)&x->i64s[0], (uint64_t)-5);
    wr64((uint8_t *)&x->i64s[1], 12345);
    x->bools[0] = 1; x->bools[1] = 0; x->bools[2] = 1;
    x->str.data = "llama";
    x->str.size = 5;
    x->strs[0].data = "<s>";
    x->strs[0].size = 3;
    x->strs[1].data = NULL;  /* the empty string */
    x->strs[1].size = 0;
    x->strs[2].data = "h\0i"; /* bytes, not C strings */
    x->strs[2].size = 3;
    kv_set(&x->kv[0], "general.architecture", BL_VALUE_STRING, BL_VALUE_STRING, 1, &x->str);
    kv_set(&x->kv[1], "u8", BL_VALUE_U8, BL_VALUE_U8, 1, &x->u8);
    kv_set(&x->kv[2], "i8", BL_VALUE_I8, BL_VALUE_I8, 1, &x->i8);
    kv_set(&x->kv[3], "u16", BL_VALUE_U16, BL_VALUE_U16, 1, &x->u16);
    kv_set(&x->kv[4], "i16", BL_VALUE_I16, BL_VALUE_I16, 1, &x->i16);
    kv_set(&x->kv[5], "u32", BL_VALUE_U32, BL_VALUE_U32, 1, &x->u32);
    kv_set(&x->kv[6], "i32", BL_VALUE_I32, BL_VALUE_I32, 1, &x->i32);
    kv_set(&x->kv[7], "f32", BL_VALUE_F32, BL_VALUE_F32, 1, &x->fl32);
    kv_set(&x->kv[8], "bool", BL_VALUE_BOOL, BL_VALUE_BOOL, 1, &x->b1);
    kv_set(&x->kv[9], "u64", BL_VALUE_U64, BL_VALUE_U64, 1, &x->u64);
    kv_set(&x->kv[10], "i64", BL_VALUE_I64, BL_VALUE_I64, 1, &x->i64);
    kv_set(&x->kv[11], "f64", BL_VALUE_F64, BL_VALUE_F64, 1, &x->f64);
    kv_set(&x->kv[12], "tokenizer.ggml.tokens", BL_VALUE_ARRAY, BL_VALUE_STRING, 3, x->strs);
    kv_set(&x->kv[13], "u32s", BL_VALUE_ARRAY, BL_VALUE_U32, 4, x->u32s);
    kv_set(&x->kv[14], "i64s", BL_VALUE_ARRAY, BL_VALUE_I64, 2, x->i64s);
    kv_set(&x->kv[15], "bools", BL_VALUE_ARRAY, BL_VALUE_BOOL, 3, x->bools);
    kv_set(&x->kv[16], "none", BL_VALUE_ARRAY, BL_VALUE_F32, 0, NULL);
    x->c.layers = x->e;
    x->c.layer_count = 2;
    x->c.tensors = x->t;
    x->c.tensor_count = 5;
    x->c.kvs = x->kv;
    x->c.kv_count = 17;
}

static void v2_free(v2_fixture *x)
{
    bl_linear_destroy(x->L[0]);
    bl_linear_destroy(x->L[1]);
}

/* everything in c is in m, in order, and found by name */
static int v2_same(const bl_model_contents *c, const bl_model *m)
{
    int i;
    if (bl_model_count(m) != c->layer_count || bl_model_tensor_count(m) != c->tensor_count ||
        bl_model_kv_count(m) != c->kv_count)
        return 0;
    for (i = 0; i < c->layer_count; ++i)
        if (!same_layer(c->layers[i].layer, bl_model_find(m, c->layers[i].name))) return 0;
    for (i = 0; i < c->tensor_count; ++i)
        if (!same_tensor(&c->tensors[i], bl_model_tensor(m, i)) ||
            bl_model_tensor_find(m, c->tensors[i].name) != bl_model_tensor(m, i))
            return 0;
    for (i = 0; i < c->kv_count; ++i)
        if (!same_kv(&c->kvs[i], bl_model_kv(m, i)) || bl_model_kv_find(m, c->kvs[i].key) != bl_model_kv(m, i))
            return 0;
    return 1;
}

static void test_v2_round_trip(void)
{
    v2_fixture x;
    void *block, *block2;
    uint8_t *f, *f2;
    size_t size, size2, i;
    bl_model *m = NULL, *v = NULL;
    uint32_t ver = 0, pver = 0;
    int j;
    v2_make(&x);
    f = save_contents(&x.c, &size, &block);
    CHECK_EQ_INT(rd32(f + 8), 2);
    CHECK(size % 64 == 0);
    CHECK_EQ_INT(bl_model_file_version(f, size, &ver, &pver), BL_OK);
    CHECK(ver == 2 && pver == BITLINEAR_FORMAT_VERSION);
    CHECK_EQ_INT(bl_model_load(f, size, &m), BL_OK);
    CHECK_EQ_INT(bl_model_load_with(f, size, BL_MODEL_LOAD_VIEW, NULL, &v), BL_OK);
    CHECK(m && v && v2_same(&x.c, m) && v2_same(&x.c, v));
    if (m && v) {
        /* a copy owns its bytes; a view points into the file, 64-byte aligned */
        for (j = 0; j < 5; ++j) {
            const bl_tensor *tc = bl_model_tensor(m, j), *tv = bl_model_tensor(v, j);
            if (!tc->nbytes) continue;
            CHECK((const uint8_t *)tc->data < f || (const uint8_t *)tc->data >= f + size);
            CHECK((const uint8_t *)tv->data >= f && (const uint8_t *)tv->data + tv->nbytes <= f + size);
            CHECK((uintptr_t)tv->data % 64 == 0);
        }
        CHECK(bl_model_tensor_find(m, "output.weight") == NULL); /* a layer, not a tensor */
        CHECK(bl_model_find(m, "cube") == NULL);
        CHECK(bl_model_tensor_find(m, "nope") == NULL && bl_model_kv_find(m, "nope") == NULL);
        CHECK(bl_model_tensor(m, 5) == NULL && bl_model_tensor(m, -1) == NULL && bl_model_kv(m, 17) == NULL);
        CHECK(bl_model_tensor_count(NULL) == 0 && bl_model_kv_count(NULL) == 0 && bl_model_kv_find(NULL, "u8") == NULL);
        CHECK(same_forward(x.L[0], bl_model_find(v, "blk.0.attn_q.weight"), 37, 5));
        {   /* the model's own contents save to the same bytes */
            bl_model_contents c2;
            bl_model_entry e2[2];
            bl_tensor t2[5];
            bl_kv kv2[17];
            memset(&c2, 0, sizeof c2);
            for (j = 0; j < 2; ++j) {
                memset(&e2[j], 0, sizeof e2[j]);
                e2[j].name = bl_model_name(v, j);
                e2[j].layer = bl_model_layer(v, j);
            }
            for (j = 0; j < 5; ++j) t2[j] = *bl_model_tensor(v, j);
            for (j = 0; j < 17; ++j) kv2[j] = *bl_model_kv(v, j);
            c2.layers = e2; c2.layer_count = 2; c2.tensors = t2; c2.tensor_count = 5; c2.kvs = kv2; c2.kv_count = 17;
            f2 = save_contents(&c2, &size2, &block2);
            CHECK(size2 == size && memcmp(f, f2, size) == 0);
            free(block2);
        }
    }
    bl_model_destroy(m);
    bl_model_destroy(v);
    /* every single-byte change (checksum fixed) loads the same as a copy and a view, or is refused */
    {
        void *wb = bt_alloc(size + 64);
        uint8_t *w = (uint8_t *)(((uintptr_t)wb + 63) & ~(uintptr_t)63);
        int refused = 0;
        for (i = 0; i < size; ++i) {
            bl_status a, b;
            if (i >= 60 && i < 64) continue;
            memcpy(w, f, size);
            w[i] ^= (uint8_t)(1u << (i % 8));
            wr32(w + 60, bl_crc32c(bl_crc32c(0, w, 60), w + 64, size - 64)); /* the size field may be the changed one */
            m = v = NULL;
            a = bl_model_load(w, size, &m);
            b = bl_model_load_with(w, size, BL_MODEL_LOAD_VIEW, NULL, &v);
            CHECK(a == b);
            refused += a != BL_OK;
            bl_model_destroy(m);
            bl_model_destroy(v);
        }
        CHECK(refused > 0);
        free(wb);
    }
    /* every truncation is refused */
    for (i = 0; i < size; i += 7) {
        m = NULL;
        CHECK_EQ_INT(bl_model_load(f, i, &m) != BL_OK, 1);
        CHECK(m == NULL);
    }
    free(block);
    v2_free(&x);
}

/* The layout as docs/models.md states it, assembled here byte by byte: no layers, one
   F32 tensor "t" [2] = {1, 2}, keys "a" (U32 7) and "s" (STRING "hi"). */
static void test_v2_layout(void)
{
    static const int64_t shape[1] = { 2 };
    float vals[2] = { 1.0f, 2.0f };
    bl_tensor t;
    bl_kv kv[2];
    uint8_t a[4], want[320];
    bl_str hi;
    bl_model_contents c;
    void *block;
    uint8_t *f;
    size_t size;
    bl_model *m = NULL;
    memset(want, 0, sizeof want);
    want[0] = 0x89; want[1] = 'B'; want[2] = 'L'; want[3] = 'M'; want[4] = 0x0D; want[5] = 0x0A; want[6] = 0x1A; want[7] = 0x0A;
    wr32(want + 8, 2);
    wr32(want + 12, BITLINEAR_FORMAT_VERSION);
    wr32(want + 16, 0);         /* layers */
    wr64(want + 24, 320);       /* file size */
    wr64(want + 32, 2);         /* names: "t\0" at 176 */
    wr32(want + 40, 1);         /* tensors */
    wr32(want + 44, 2);         /* keys */
    wr64(want + 48, 256 - 178); /* kv area from 178 up to the payload at 256 */
    wr64(want + 64, 176);       /* tensor entry: name offset, length, dtype F32, ndim 1 */
    wr32(want + 72, 1);
    wr32(want + 76, 0);
    wr32(want + 80, 1);
    wr64(want + 88, 256);       /* data offset, size, shape */
    wr64(want + 96, 8);
    wr64(want + 104, 2);
    want[176] = 't';
    wr32(want + 178, 1);        /* "a" U32 7 */
    want[182] = 'a';
    wr32(want + 184, 4);
    wr32(want + 188, 7);
    wr32(want + 192, 1);        /* "s" STRING "hi" */
    want[196] = 's';
    wr32(want + 198, 8);
    wr64(want + 202, 2);
    want[210] = 'h';
    want[211] = 'i';
    wr32(want + 256, 0x3F800000u);
    wr32(want + 260, 0x40000000u);
    wr32(want + 60, bl_crc32c(bl_crc32c(0, want, 60), want + 64, 320 - 64));

    tensor_set(&t, "t", BL_DTYPE_F32, 1, shape, NULL, 8);
    {   /* the tensor's bytes little-endian, as the reader gives them */
        static uint8_t le[8];
        wr32(le, 0x3F800000u);
        wr32(le + 4, 0x40000000u);
        t.data = le;
        (void)vals;
    }
    wr32(a, 7);
    hi.data = "hi";
    hi.size = 2;
    kv_set(&kv[0], "a", BL_VALUE_U32, BL_VALUE_U32, 1, a);
    kv_set(&kv[1], "s", BL_VALUE_STRING, BL_VALUE_STRING, 1, &hi);
    memset(&c, 0, sizeof c);
    c.tensors = &t;
    c.tensor_count = 1;
    c.kvs = kv;
    c.kv_count = 2;
    f = save_contents(&c, &size, &block);
    CHECK(size == sizeof want && memcmp(f, want, sizeof want) == 0);
    CHECK_EQ_INT(bl_model_load(want, sizeof want, &m), BL_OK);
    if (m) {
        const bl_kv *k = bl_model_kv_find(m, "s");
        CHECK(k && k->type == BL_VALUE_STRING && ((const bl_str *)k->data)->size == 2 &&
              memcmp(((const bl_str *)k->data)->data, "hi", 2) == 0);
        CHECK(bl_model_count(m) == 0 && bl_model_tensor_count(m) == 1);
    }
    bl_model_destroy(m);
    free(block);
}

/* Field by field corruptions of a version-2 file (checksum fixed, so the checks behind it
   are reached), each refused with BL_ERR_FORMAT; and refused contents on save. */
static void test_v2_corruption(void)
{
    v2_fixture x;
    void *block, *wb;
    uint8_t *f, *w, *t0, *kva;
    size_t size;
    uint64_t names_begin, names_size, kv_begin;
    v2_make(&x);
    f = save_contents(&x.c, &size, &block);
    wb = bt_alloc(size + 64);
    w = (uint8_t *)(((uintptr_t)wb + 63) & ~(uintptr_t)63);
    names_begin = 64 + 2 * 96 + 5 * 112;
    names_size = rd64(f + 32);
    kv_begin = names_begin + names_size;
    t0 = w + 64 + 2 * 96; /* the first tensor entry (token_embd.weight, F32 [3, 5]) */
    kva = w + kv_begin;   /* the first kv record (general.architecture) */
#define V2CASE(edit, want)               \
    do {                                 \
        memcpy(w, f, size);              \
        edit;                            \
        fix_crc(w);                      \
        expect_load(w, size, want, __LINE__); \
    } while (0)
#define V2OK(edit)                                          \
    do {                                                    \
        bl_model *ok_m = NULL;                              \
        memcpy(w, f, size);                                 \
        edit;                                               \
        fix_crc(w);                                         \
        CHECK_EQ_INT(bl_model_load(w, size, &ok_m), BL_OK); \
        bl_model_destroy(ok_m);                             \
    } while (0)
    {   /* the file itself loads */
        bl_model *m = NULL;
        CHECK_EQ_INT(bl_model_load(f, size, &m), BL_OK);
        bl_model_destroy(m);
    }
    V2CASE(wr32(w + 8, 3), BL_ERR_UNSUPPORTED);                 /* a newer container */
    V2CASE(wr32(w + 8, 1), BL_ERR_FORMAT);                      /* version 1 has no tensors */
    V2CASE(wr32(w + 40, 6), BL_ERR_FORMAT);                     /* tensor count */
    V2CASE(wr32(w + 40, 0xFFFFFFFFu), BL_ERR_FORMAT);
    V2CASE(wr32(w + 44, 18), BL_ERR_FORMAT);                    /* kv count */
    V2CASE(wr32(w + 44, 16), BL_ERR_FORMAT);                    /* one record left over (not zero) */
    V2CASE(wr64(w + 48, rd64(w + 48) + 64), BL_ERR_FORMAT);     /* kv area into the payloads */
    V2CASE(wr64(w + 48, ~(uint64_t)0), BL_ERR_FORMAT);
    V2CASE(wr32(w + 56, 1), BL_ERR_FORMAT);                     /* reserved */
    V2CASE(wr32(t0 + 12, 3), BL_ERR_FORMAT);                    /* dtype */
    V2CASE(wr32(t0 + 12, BL_DTYPE_F16), BL_ERR_FORMAT);         /* dtype against size */
    V2CASE(wr32(t0 + 16, 9), BL_ERR_FORMAT);                    /* ndim */
    V2CASE(wr32(t0 + 16, 1), BL_ERR_FORMAT);                    /* a shape entry past ndim */
    V2CASE(wr32(t0 + 20, 1), BL_ERR_FORMAT);                    /* reserved */
    V2CASE(t0[104] = 1, BL_ERR_FORMAT);
    V2CASE(wr64(t0 + 40, 4), BL_ERR_FORMAT);                    /* shape against size */
    V2CASE((wr64(t0 + 40, (uint64_t)1 << 62), wr64(t0 + 48, 4)), BL_ERR_FORMAT); /* element count overflows */
    V2CASE(wr64(t0 + 40, (uint64_t)1 << 63), BL_ERR_FORMAT);
    V2CASE(wr64(t0 + 24, rd64(t0 + 24) + 4), BL_ERR_FORMAT);    /* misaligned payload */
    V2CASE(wr64(t0 + 24, size), BL_ERR_FORMAT);                 /* payload past the end */
    V2CASE(wr64(t0 + 24, rd64(w + 64 + 32)), BL_ERR_FORMAT);    /* onto a layer's packed bytes */
    V2CASE(wr64(t0 + 24, 64), BL_ERR_FORMAT);                   /* into the tables */
    V2CASE(wr64(t0 + 24, 0), BL_ERR_FORMAT);
    V2CASE(wr64(t0 + 0, kv_begin), BL_ERR_FORMAT);              /* name outside the names area */
    V2CASE(wr32(t0 + 8, 0), BL_ERR_FORMAT);                     /* empty name */
    V2CASE(wr64(t0 + 0, rd64(t0 + 112)), BL_ERR_FORMAT);        /* two tensors share a name's bytes */
    V2CASE((wr32(t0 + 8, 13), memcpy(w + (size_t)rd64(t0), "output.weight", 14)), BL_ERR_FORMAT); /* a layer's name */
    V2CASE((wr32(t0 + 112 + 8, 4), memcpy(w + (size_t)rd64(t0 + 112), "cube", 5)), BL_ERR_FORMAT); /* duplicate */
    V2CASE(wr32(kva, 0), BL_ERR_FORMAT);                        /* key length */
    V2CASE(wr32(kva, 2000), BL_ERR_FORMAT);
    V2CASE(kva[4] = 0, BL_ERR_FORMAT);                          /* NUL in the key */
    V2CASE(kva[4 + 20] = 'x', BL_ERR_FORMAT);                   /* no 0 after the key */
    V2CASE(wr32(kva + 25, 13), BL_ERR_FORMAT);                  /* value type */
    V2CASE(wr32(kva + 25, BL_VALUE_ARRAY), BL_ERR_FORMAT);      /* reread as an array: lengths don't fit */
    V2CASE(wr64(kva + 29, 1000000), BL_ERR_FORMAT);             /* string length */
    V2CASE(wr64(kva + 29, ~(uint64_t)0), BL_ERR_FORMAT);
    {   /* a duplicate key: "u8" renamed "i8" (the next record) */
        size_t at = (size_t)kv_begin + 4 + 20 + 1 + 4 + 8 + 5, i; /* the "u8" record */
        static const uint8_t bool_rec[13] = { 4, 0, 0, 0, 'b', 'o', 'o', 'l', 0, 7, 0, 0, 0 };
        V2CASE(w[at + 4] = 'i', BL_ERR_FORMAT);
        V2OK(w[at + 4 + 3 + 4] = 2);                            /* a U8 may be 2 ... */
        for (i = (size_t)kv_begin; i + 14 < size && memcmp(f + i, bool_rec, 13) != 0; ++i) {}
        CHECK(i + 14 < size);
        V2CASE(w[i + 13] = 2, BL_ERR_FORMAT);                   /* ... a BOOL may not */
        V2OK(w[i + 13] = 1);
    }
    free(wb);
    free(block);
    v2_free(&x);
}
#undef V2CASE
#undef V2OK

/* Contents that cannot be saved: BL_ERR_INVALID, nothing written. */
static void test_v2_save_errors(void)
{
    v2_fixture x;
    bl_tensor t;
    bl_kv kv;
    size_t size = 12345;
    uint8_t bad = 2, buf[64];
    bl_str nul_str;
    v2_make(&x);
#define SAVE_REFUSED(edit, restore)                                                     \
    do {                                                                                \
        edit;                                                                           \
        size = 12345;                                                                   \
        CHECK_EQ_INT(bl_model_save_contents(&x.c, NULL, 0, &size), BL_ERR_INVALID);     \
        CHECK(size == 12345);                                                           \
        restore;                                                                        \
    } while (0)
    t = x.t[0];
    SAVE_REFUSED(x.t[0].dtype = BL_DTYPE_I32, x.t[0] = t);
    SAVE_REFUSED(x.t[0].dtype = BL_DTYPE_TQ2_0, x.t[0] = t);
    SAVE_REFUSED(x.t[0].nbytes = 56, x.t[0] = t);
    SAVE_REFUSED(x.t[0].ndim = 9, x.t[0] = t);
    SAVE_REFUSED(x.t[0].shape[0] = -3, x.t[0] = t);
    SAVE_REFUSED(x.t[0].data = NULL, x.t[0] = t);
    SAVE_REFUSED(x.t[0].name = NULL, x.t[0] = t);
    SAVE_REFUSED(x.t[0].name = "", x.t[0] = t);
    SAVE_REFUSED(x.t[0].name = "cube", x.t[0] = t);           /* two tensors of one name */
    SAVE_REFUSED(x.t[0].name = "output.weight", x.t[0] = t);  /* a layer's name */
    kv = x.kv[1];
    SAVE_REFUSED(x.kv[1].key = "u16", x.kv[1] = kv);          /* duplicate key */
    SAVE_REFUSED(x.kv[1].key = NULL, x.kv[1] = kv);
    SAVE_REFUSED(x.kv[1].type = (bl_value_type)13, x.kv[1] = kv);
    SAVE_REFUSED(x.kv[1].data = NULL, x.kv[1] = kv);
    SAVE_REFUSED(x.kv[8].data = &bad, x.kv[8].data = &x.b1);  /* BOOL 2 */
    kv = x.kv[13];
    SAVE_REFUSED(x.kv[13].elem_type = BL_VALUE_ARRAY, x.kv[13] = kv); /* arrays of arrays */
    SAVE_REFUSED(x.kv[13].data = NULL, x.kv[13] = kv);
    nul_str.data = NULL;
    nul_str.size = 4;
    SAVE_REFUSED(x.kv[0].data = &nul_str, x.kv[0].data = &x.str);
    SAVE_REFUSED(x.c.tensor_count = -1, x.c.tensor_count = 5);
    SAVE_REFUSED(x.c.kvs = NULL, x.c.kvs = x.kv);
#undef SAVE_REFUSED
    CHECK_EQ_INT(bl_model_save_contents(NULL, NULL, 0, &size), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_model_save_contents(&x.c, NULL, 0, NULL), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_model_save_contents(&x.c, NULL, 0, &size), BL_OK);
    memset(buf, 0xAB, sizeof buf);
    CHECK_EQ_INT(bl_model_save_contents(&x.c, buf, sizeof buf, &size), BL_ERR_INVALID); /* too small */
    CHECK(buf[0] == 0xAB && buf[63] == 0xAB);
    /* a non-ARRAY value reads neither elem_type nor count */
    x.kv[1].elem_type = BL_VALUE_F64;
    x.kv[1].count = 99;
    CHECK_EQ_INT(bl_model_save_contents(&x.c, NULL, 0, &size), BL_OK);
    v2_free(&x);
}

/* The stdio helpers: BL_ERR_IO for what the system refuses (errno says why), and a
   newer container reported as such. */
static void test_io_errors(void)
{
    v2_fixture x;
    bl_model *m = NULL;
    void *block;
    uint8_t *f;
    size_t size;
    uint32_t ver = 0, pver = 0;
    FILE *fp;
    v2_make(&x);
    errno = 0;
    CHECK_EQ_INT(bl_model_load_path("build/test/no-such-dir/missing.blm", &m), BL_ERR_IO);
    CHECK(errno == ENOENT && m == NULL);
    errno = 0;
    CHECK_EQ_INT(bl_model_save_contents_path(&x.c, "build/test/no-such-dir/out.blm"), BL_ERR_IO);
    CHECK(errno == ENOENT);
    CHECK_EQ_INT(bl_model_save_path(x.e, 2, "build/test/no-such-dir/out.blm"), BL_ERR_IO);
    CHECK_EQ_INT(bl_model_save_contents_path(&x.c, "build/test"), BL_ERR_IO); /* a directory */
    CHECK_EQ_INT(bl_model_load_path("build/test", &m), BL_ERR_IO);           /* reading a directory */
    CHECK(m == NULL);
    /* round trip through a file */
    CHECK_EQ_INT(bl_model_save_contents_path(&x.c, "build/test/v2.blm"), BL_OK);
    CHECK_EQ_INT(bl_model_load_path("build/test/v2.blm", &m), BL_OK);
    CHECK(m && v2_same(&x.c, m));
    bl_model_destroy(m);
    m = NULL;
    /* a newer container version: unsupported, and the version is there to report */
    f = save_contents(&x.c, &size, &block);
    wr32(f + 8, BITLINEAR_MODEL_VERSION + 1);
    fix_crc(f);
    fp = fopen("build/test/v3.blm", "wb");
    CHECK(fp && fwrite(f, 1, size, fp) == size);
    if (fp) fclose(fp);
    CHECK_EQ_INT(bl_model_load_path("build/test/v3.blm", &m), BL_ERR_UNSUPPORTED);
    CHECK(m == NULL);
    CHECK_EQ_INT(bl_model_file_version(f, size, &ver, &pver), BL_OK);
    CHECK(ver == BITLINEAR_MODEL_VERSION + 1 && pver == BITLINEAR_FORMAT_VERSION);
    CHECK_EQ_INT(bl_model_file_version(f, 15, &ver, NULL), BL_ERR_FORMAT);
    f[0] = 0;
    CHECK_EQ_INT(bl_model_file_version(f, size, NULL, NULL), BL_ERR_FORMAT);
    CHECK_EQ_INT(bl_model_file_version(NULL, size, NULL, NULL), BL_ERR_INVALID);
    free(block);
    v2_free(&x);
}

/* Every safetensors dtype is named; F64 converts to the nearest float. */
static void test_st_dtypes(void)
{
    static const struct { const char *name; bl_dtype dtype; int bytes; } types[] = {
        { "F64", BL_DTYPE_F64, 8 }, { "I64", BL_DTYPE_I64, 8 }, { "U64", BL_DTYPE_U64, 8 },
        { "I32", BL_DTYPE_I32, 4 }, { "U32", BL_DTYPE_U32, 4 }, { "I16", BL_DTYPE_I16, 2 },
        { "U16", BL_DTYPE_U16, 2 }, { "I8", BL_DTYPE_I8, 1 }, { "U8", BL_DTYPE_U8, 1 },
        { "BOOL", BL_DTYPE_BOOL, 1 }, { "F8_E4M3", BL_DTYPE_OTHER, 1 }, { "F8_E5M2", BL_DTYPE_OTHER, 1 },
    };
    size_t i;
    for (i = 0; i < sizeof types / sizeof types[0]; ++i) {
        char json[200];
        uint8_t data[24];
        st_file f;
        bl_safetensors *st = NULL;
        const bl_tensor *t;
        float got[3] = { 0.0f, 0.0f, 0.0f };
        double d[3] = { 1.0, -0.1, 1e300 };
        int j;
        memset(data, 0, sizeof data);
        if (types[i].dtype == BL_DTYPE_F64)
            for (j = 0; j < 3; ++j) { /* little-endian doubles */
                uint64_t bits;
                memcpy(&bits, &d[j], 8);
                wr64(data + 8 * j, bits);
            }
        sprintf(json, "{\"x\":{\"dtype\":\"%s\",\"shape\":[3],\"data_offsets\":[0,%d]}}", types[i].name, 3 * types[i].bytes);
        f = st_make(json, data, (size_t)(3 * types[i].bytes));
        CHECK_EQ_INT(bl_safetensors_open(f.bytes, f.size, &st), BL_OK);
        t = bl_safetensors_find(st, "x");
        CHECK(t && t->dtype == types[i].dtype && t->elem_bytes == types[i].bytes && t->ggml_type == -1);
        if (t && types[i].dtype == BL_DTYPE_F64) {
            CHECK_EQ_INT(bl_tensor_to_f32(t, got, 3), BL_OK);
            CHECK(got[0] == 1.0f && got[1] == (float)-0.1 && got[2] > 3.4e38f); /* beyond float: infinity */
            CHECK_EQ_INT(bl_tensor_to_f32(t, got, 2), BL_ERR_INVALID);
        } else if (t) {
            CHECK_EQ_INT(bl_tensor_to_f32(t, got, 3), BL_ERR_UNSUPPORTED);
        }
        bl_safetensors_close(st);
        free(f.bytes);
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
    test_st_dtypes();
    test_v2_round_trip();
    test_v2_layout();
    test_v2_corruption();
    test_v2_save_errors();
    test_io_errors();
    return bt_summary("test_io");
}
