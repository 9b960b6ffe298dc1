/* bl_linear_import and bl_tensor_dequantize against slow reference encoders written
   here from the peers' dequantizers (element by element, no shuffles):
   ggml/src/ggml-quants.c dequantize_row_tq2_0 / dequantize_row_tq1_0 / dequantize_row_q8_0,
   bitnet.cpp's dequantize_row_i2_s, transformers' integrations/bitnet.py unpack_weights. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include "test.h"

/* ---- references ------------------------------------------------------------------ */

/* IEEE half -> float by the definition: (-1)^s 2^(e-15) (1 + m/1024), subnormals 2^-14 m/1024 */
static float ref_half(unsigned h)
{
    int e = (int)((h >> 10) & 31u), m = (int)(h & 1023u);
    float v = e == 0 ? ldexpf((float)m, -24) : ldexpf((float)(1024 + m), e - 25);
    return (h & 0x8000u) ? -v : v;
}

/* a random finite half (any sign, normal or subnormal, never NaN/Inf) */
static unsigned rand_half(void)
{
    unsigned h;
    do h = bt_u32() & 0xFFFFu; while (((h >> 10) & 31u) == 31u);
    return h;
}
static unsigned pos_half(void) { return 0x2000u + (bt_u32() & 0x0FFFu); } /* ~0.0078 .. 0.03 */

static int8_t rand_trit(int zero_pct)
{
    if ((int)(bt_u32() % 100u) < zero_pct) return 0;
    return (bt_u32() & 1u) ? 1 : -1;
}

/* TQ2_0 block: element e = 128h + 32l + m lives in qs[32h + m] bits 2l (code trit + 1), d last */
static void enc_tq2_block(const int8_t *t, unsigned d, uint8_t *blk)
{
    int e;
    memset(blk, 0, 66);
    for (e = 0; e < 256; ++e) {
        int h = e / 128, l = (e % 128) / 32, m = e % 32;
        blk[32 * h + m] = (uint8_t)(blk[32 * h + m] | (t[e] + 1) << (2 * l));
    }
    blk[64] = (uint8_t)(d & 0xFFu);
    blk[65] = (uint8_t)(d >> 8);
}

/* TQ1_0 byte of base-3 digits c0..c4 (c0 most significant), scaled by 256/243 rounding up,
   as ggml's quantize_row_tq1_0_ref writes it */
static uint8_t tq1_byte(const int *c)
{
    int v = 0, n;
    for (n = 0; n < 5; ++n) v = v * 3 + c[n];
    return (uint8_t)((v * 256 + 242) / 243);
}
/* TQ1_0 block: element e < 160: qs[e % 32] digit e / 32; e < 240: qs[32 + (e-160) % 16] digit
   (e-160) / 16; else qh[(e-240) % 4] digit (e-240) / 4; then d */
static void enc_tq1_block(const int8_t *t, unsigned d, uint8_t *blk)
{
    int digits[52][5], e, i;
    memset(digits, 0, sizeof digits);
    for (e = 0; e < 256; ++e) {
        int byte, n;
        if (e < 160) { byte = e % 32; n = e / 32; }
        else if (e < 240) { byte = 32 + (e - 160) % 16; n = (e - 160) / 16; }
        else { byte = 48 + (e - 240) % 4; n = (e - 240) / 4; }
        digits[byte][n] = t[e] + 1;
    }
    for (i = 0; i < 52; ++i) blk[i] = tq1_byte(digits[i]);
    blk[52] = (uint8_t)(d & 0xFFu);
    blk[53] = (uint8_t)(d >> 8);
}

/* I2_S over the flat tensor: weight k is in byte 32 (k / 128) + k % 32, bits 6 - 2 ((k % 128) / 32);
   codes 0, 1, 2 for -1, 0, +1 (zeros written as code 3 now and then: it reads as 0 too);
   then the float32 scale and 28 bytes of padding */
static uint8_t *enc_i2s(const int8_t *t, size_t n, float scale, size_t *nbytes)
{
    uint8_t *b;
    size_t k;
    uint32_t u;
    *nbytes = n / 4 + 32;
    b = (uint8_t *)bt_alloc(*nbytes);
    memset(b, 0, *nbytes);
    for (k = 0; k < n; ++k) {
        unsigned code = (unsigned)(t[k] + 1);
        if (code == 1 && (bt_u32() & 7u) == 0) code = 3;
        b[32 * (k / 128) + k % 32] = (uint8_t)(b[32 * (k / 128) + k % 32] | code << (6 - 2 * ((k % 128) / 32)));
    }
    memcpy(&u, &scale, 4);
    for (k = 0; k < 4; ++k) b[n / 4 + k] = (uint8_t)(u >> (8 * k));
    return b;
}

/* HF packed: byte [r][c] holds rows i * (out/4) + r, i = 0..3, in bits 2i */
static uint8_t *enc_hf(const int8_t *t, int out, int in)
{
    int g = out / 4, i, r, c;
    uint8_t *b = (uint8_t *)bt_alloc((size_t)g * (size_t)in);
    memset(b, 0, (size_t)g * (size_t)in);
    for (i = 0; i < 4; ++i)
        for (r = 0; r < g; ++r)
            for (c = 0; c < in; ++c)
                b[(size_t)r * in + c] = (uint8_t)(b[(size_t)r * in + c] |
                                                  (t[(size_t)(i * g + r) * in + c] + 1) << (2 * i));
    return b;
}

/* Tensor data is little-endian: host arrays are swapped in place on big-endian hosts. */
static void to_le(void *p, size_t elem, size_t n)
{
    const uint16_t one = 1;
    uint8_t *b = (uint8_t *)p, first;
    size_t i, j;
    memcpy(&first, &one, 1);
    if (first == 1) return;
    for (i = 0; i < n; ++i)
        for (j = 0; j < elem / 2; ++j) {
            uint8_t t = b[i * elem + j];
            b[i * elem + j] = b[i * elem + elem - 1 - j];
            b[i * elem + elem - 1 - j] = t;
        }
}

static bl_tensor make_tensor(bl_dtype dt, int rows, int cols, const void *data, size_t nbytes)
{
    bl_tensor t;
    memset(&t, 0, sizeof t);
    t.name = "w";
    t.dtype = dt;
    t.ndim = 2;
    t.shape[0] = rows;
    t.shape[1] = cols;
    t.data = data;
    t.nbytes = nbytes;
    t.ggml_type = -1;
    return t;
}

static int same_float(float a, float b) { return a == b || (a != a && b != b); }

/* The layer's trits equal texp (when given) and trit * scale equals vexp as floats for
   every weight (a zero may carry either sign); returns the number of mismatches. */
static int check_layer(const bl_linear *L, int rows, int cols, const int8_t *texp, const float *vexp)
{
    bl_linear_info info;
    int8_t *t = (int8_t *)bt_alloc((size_t)rows * cols);
    int bad = 0, r, c;
    if (bl_linear_get_info(L, &info) != BL_OK || info.in_features != cols || info.out_features != rows ||
        info.k != 1 || bl_unpack(info.format, info.packed, (size_t)rows * info.row_bytes, rows, cols, t) != BL_OK) {
        free(t);
        return -1;
    }
    for (r = 0; r < rows; ++r)
        for (c = 0; c < cols; ++c) {
            size_t i = (size_t)r * cols + c;
            if (texp && t[i] != texp[i]) ++bad;
            if (vexp && !same_float((float)t[i] * info.scales[r], vexp[i])) ++bad;
        }
    free(t);
    return bad;
}

static const bl_format formats[2] = { BL_FORMAT_2BIT, BL_FORMAT_BASE3 };

/* ---- TQ2_0 / TQ1_0 --------------------------------------------------------------------- */

/* Row kinds: 0 one d for all blocks, 1 one d on the nonzero blocks (zero blocks carry
   others), 2 all zero, 3 blocks of different d (re-quantized). */
static void test_tq(bl_dtype dt)
{
    static const int shapes[][2] = { { 1, 256 }, { 3, 512 }, { 7, 768 }, { 16, 1280 }, { 5, 2560 } };
    int si, bpb = dt == BL_DTYPE_TQ2_0 ? 66 : 54;
    for (si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); ++si) {
        int rows = shapes[si][0], cols = shapes[si][1], nb = cols / 256, r, b, e, fi, mixed_rows = 0;
        size_t n = (size_t)rows * cols, nbytes = (size_t)rows * nb * bpb;
        int8_t *t = (int8_t *)bt_alloc(n);
        float *v = (float *)bt_alloc(n * sizeof(float)), *got = (float *)bt_alloc(n * sizeof(float));
        unsigned *rowd = (unsigned *)bt_alloc(sizeof(unsigned) * (size_t)rows);
        int *kind = (int *)bt_alloc(sizeof(int) * (size_t)rows);
        uint8_t *data = (uint8_t *)bt_alloc(nbytes);
        bl_tensor ten;
        for (r = 0; r < rows; ++r) {
            unsigned d0 = rand_half();
            int first_nz = -1;
            kind[r] = nb > 1 ? bt_int(0, 3) : bt_int(0, 2);
            if (r == 0) kind[r] = 0;
            for (b = 0; b < nb; ++b) {
                int8_t *tb = t + (size_t)r * cols + 256 * b;
                unsigned d = d0;
                int zero_block = kind[r] == 2 || (kind[r] == 1 && nb > 1 && (b % 2) == 0); /* block 0 zero: its d must not count */
                for (e = 0; e < 256; ++e) tb[e] = zero_block ? 0 : rand_trit(bt_int(0, 90));
                if (!zero_block) tb[bt_int(0, 255)] = 1; /* never all zero by chance */
                if (kind[r] == 1 && zero_block) d = rand_half();
                if (kind[r] == 2) d = rand_half();
                if (kind[r] == 3 && b > 0) d = d0 + 1u + (bt_u32() % 64u); /* differs from d0 */
                if (kind[r] == 3 && b == 0) d = d0 = pos_half();
                if (!zero_block && first_nz < 0) first_nz = (int)d;
                if (b == 0) rowd[r] = d;
                for (e = 0; e < 256; ++e) v[(size_t)r * cols + 256 * b + e] = (float)tb[e] * ref_half(d);
                if (dt == BL_DTYPE_TQ2_0) enc_tq2_block(tb, d, data + ((size_t)r * nb + b) * 66);
                else enc_tq1_block(tb, d, data + ((size_t)r * nb + b) * 54);
            }
            if (first_nz >= 0) rowd[r] = (unsigned)first_nz;
            mixed_rows += kind[r] == 3;
        }
        ten = make_tensor(dt, rows, cols, data, nbytes);
        /* dequantize equals the reference, bit for bit */
        CHECK_EQ_INT(bl_tensor_dequantize(&ten, got, n), BL_OK);
        CHECK(memcmp(got, v, n * sizeof(float)) == 0);
        for (fi = 0; fi < 2; ++fi) {
            bl_import_desc desc;
            bl_linear *L = NULL, *sentinel = (bl_linear *)(uintptr_t)0x40;
            bl_import_kind k = BL__IMPORT_FORCE_INT32;
            memset(&desc, 0, sizeof desc);
            desc.format = formats[fi];
            CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, &k), BL_OK);
            CHECK_EQ_INT(k, mixed_rows ? BL_IMPORT_REQUANTIZED : BL_IMPORT_EXACT);
            if (L) {
                bl_linear_info info;
                int8_t *rt = (int8_t *)bt_alloc((size_t)cols);
                float rs = 0.0f;
                (void)bl_linear_get_info(L, &info);
                for (r = 0; r < rows; ++r) {
                    const int8_t *texp = t + (size_t)r * cols;
                    if (kind[r] == 3) { /* re-ternarized from the dequantized row */
                        CHECK_EQ_INT(bl_ternarize(v + (size_t)r * cols, 1, cols, BL_METHOD_OPTIMAL, BL_SCALING_ROW, rt, &rs), BL_OK);
                        CHECK(info.scales[r] == rs);
                        texp = rt;
                    } else {
                        float want = ref_half(rowd[r]);
                        CHECK(memcmp(&info.scales[r], &want, 4) == 0);
                    }
                    {
                        int8_t *lt = (int8_t *)bt_alloc((size_t)cols);
                        int c, bad = 0;
                        CHECK_EQ_INT(bl_unpack(info.format, info.packed + (size_t)r * info.row_bytes, info.row_bytes, 1, cols, lt), BL_OK);
                        for (c = 0; c < cols; ++c) {
                            bad += lt[c] != texp[c];
                            if (kind[r] != 3) bad += !same_float((float)lt[c] * info.scales[r], v[(size_t)r * cols + c]);
                        }
                        CHECK_EQ_INT(bad, 0);
                        free(lt);
                    }
                }
                free(rt);
                bl_linear_destroy(L);
            }
            desc.flags = BL_IMPORT_STRICT;
            L = sentinel;
            CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), mixed_rows ? BL_ERR_UNSUPPORTED : BL_OK);
            if (mixed_rows) CHECK(L == sentinel);
            else {
                CHECK_EQ_INT(check_layer(L, rows, cols, t, v), 0);
                bl_linear_destroy(L);
            }
        }
        /* a NaN or Inf d anywhere is refused */
        {
            bl_linear *L = (bl_linear *)(uintptr_t)0x40;
            uint8_t *bad = (uint8_t *)bt_alloc(nbytes);
            size_t at = ((size_t)bt_int(0, rows * nb - 1)) * (size_t)bpb + (size_t)bpb - 2;
            memcpy(bad, data, nbytes);
            bad[at] = (uint8_t)bt_u32();
            bad[at + 1] = (uint8_t)(0x7C | (bt_u32() & 0x83u));
            ten.data = bad;
            CHECK_EQ_INT(bl_linear_import(&ten, NULL, &L, NULL), BL_ERR_NONFINITE);
            CHECK(L == (bl_linear *)(uintptr_t)0x40);
            ten.data = data;
            free(bad);
        }
        free(t); free(v); free(got); free(rowd); free(kind); free(data);
    }
}

/* TQ1_0 element e of a block as ggml's dequantize_row_tq1_0 reads it from any bytes (the
   13 bytes that no trits encode, qh's fifth digit set): digit n of byte b is
   ((b * 3^n mod 256) * 3) >> 8; the trit is that code minus 1 */
static int8_t ref_tq1_trit(const uint8_t *blk, int e)
{
    static const unsigned pow3[5] = { 1, 3, 9, 27, 81 };
    int byte, n;
    if (e < 160) { byte = e % 32; n = e / 32; }
    else if (e < 240) { byte = 32 + (e - 160) % 16; n = (e - 160) / 16; }
    else { byte = 48 + (e - 240) % 4; n = (e - 240) / 4; }
    return (int8_t)((int)(((((unsigned)blk[byte] * pow3[n]) & 0xFFu) * 3u) >> 8) - 1);
}

/* TQ1_0 blocks of arbitrary bytes, into 2BIT and BASE3 layers of shapes that leave every
   kind of BASE3 tail (cols % 320 = 0, 64, 128, 192, 256): the layers hold ggml's trits.
   Row kinds: 0 one d, 1 all-zero blocks (bytes 0x80: digits 1, 1, 1, 1, 1) with other d,
   2 blocks of different d (re-quantized). */
static void test_tq1_any_bytes(void)
{
    static const int shapes[][2] = { { 1, 256 }, { 3, 512 }, { 2, 768 }, { 5, 1280 }, { 3, 1536 },
                                     { 7, 2304 }, { 2, 3072 }, { 3, 6912 } };
    int si;
    for (si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); ++si) {
        int rows = shapes[si][0], cols = shapes[si][1], nb = cols / 256, r, b, e, j, fi, mixed_rows = 0;
        size_t n = (size_t)rows * cols, nbytes = (size_t)rows * nb * 54;
        uint8_t *data = (uint8_t *)bt_alloc(nbytes);
        int8_t *t = (int8_t *)bt_alloc(n), *lt[2];
        float *v = (float *)bt_alloc(n * sizeof(float)), *got = (float *)bt_alloc(n * sizeof(float));
        unsigned *rowd = (unsigned *)bt_alloc(sizeof(unsigned) * (size_t)rows);
        int *kind = (int *)bt_alloc(sizeof(int) * (size_t)rows);
        bl_tensor ten;
        lt[0] = (int8_t *)bt_alloc(n);
        lt[1] = (int8_t *)bt_alloc(n);
        for (r = 0; r < rows; ++r) {
            unsigned d0 = pos_half();
            kind[r] = r == 0 ? 0 : bt_int(0, nb > 1 ? 2 : 1);
            rowd[r] = d0;
            for (b = 0; b < nb; ++b) {
                uint8_t *blk = data + ((size_t)r * nb + b) * 54;
                int zero = kind[r] == 1 && b % 2 == 0 && b + 1 < nb; /* a nonzero block follows */
                unsigned d = zero ? pos_half() : kind[r] == 2 && b > 0 ? d0 + 1u + (bt_u32() % 64u) : d0;
                for (j = 0; j < 52; ++j) blk[j] = zero ? 0x80u : (uint8_t)bt_u32();
                if (!zero && b == 1) for (j = 0; j < 52; j += 5) blk[j] = (uint8_t)(243 + j % 13); /* no trits encode these */
                blk[52] = (uint8_t)(d & 0xFFu);
                blk[53] = (uint8_t)(d >> 8);
                for (e = 0; e < 256; ++e) {
                    size_t i = (size_t)r * cols + 256 * b + e;
                    t[i] = ref_tq1_trit(blk, e);
                    v[i] = (float)t[i] * ref_half(d);
                }
            }
            mixed_rows += kind[r] == 2;
        }
        ten = make_tensor(BL_DTYPE_TQ1_0, rows, cols, data, nbytes);
        CHECK_EQ_INT(bl_tensor_dequantize(&ten, got, n), BL_OK);
        CHECK(memcmp(got, v, n * sizeof(float)) == 0);
        for (fi = 0; fi < 2; ++fi) {
            bl_import_desc desc;
            bl_linear *L = NULL;
            bl_linear_info info;
            bl_import_kind k = BL__IMPORT_FORCE_INT32;
            memset(&desc, 0, sizeof desc);
            desc.format = formats[fi];
            CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, &k), BL_OK);
            CHECK_EQ_INT(k, mixed_rows ? BL_IMPORT_REQUANTIZED : BL_IMPORT_EXACT);
            if (!L) continue;
            (void)bl_linear_get_info(L, &info);
            CHECK_EQ_INT(bl_unpack(info.format, info.packed, (size_t)rows * info.row_bytes, rows, cols, lt[fi]), BL_OK);
            for (r = 0; r < rows; ++r) {
                int c, bad = 0;
                if (kind[r] == 2) continue; /* re-ternarized: test_tq checks those */
                {
                    float want = ref_half(rowd[r]);
                    CHECK(memcmp(&info.scales[r], &want, 4) == 0);
                }
                for (c = 0; c < cols; ++c) {
                    size_t i = (size_t)r * cols + c;
                    bad += lt[fi][i] != t[i];
                    bad += !same_float((float)lt[fi][i] * info.scales[r], v[i]);
                }
                CHECK_EQ_INT(bad, 0);
            }
            bl_linear_destroy(L);
        }
        CHECK(memcmp(lt[0], lt[1], n) == 0); /* re-ternarized rows too: the same trits in both formats */
        free(data); free(t); free(lt[0]); free(lt[1]); free(v); free(got); free(rowd); free(kind);
    }
}

/* TQ2_0 code 3 (the value 2d, which ggml would dequantize) is no trit: re-quantized or refused */
static void test_tq2_code3(void)
{
    int8_t t[512];
    uint8_t data[2 * 66];
    float v[512];
    bl_tensor ten;
    bl_linear *L = NULL;
    bl_import_kind k;
    bl_import_desc desc;
    int e;
    for (e = 0; e < 512; ++e) t[e] = rand_trit(30);
    enc_tq2_block(t, 0x3C00u, data);
    enc_tq2_block(t + 256, 0x3C00u, data + 66);
    data[66 + 5] |= 3u << 2; /* element 128*0 + 32*1 + 5 of block 1 becomes code 3 */
    ten = make_tensor(BL_DTYPE_TQ2_0, 1, 512, data, sizeof data);
    CHECK_EQ_INT(bl_tensor_dequantize(&ten, v, 512), BL_OK);
    CHECK(v[256 + 37] == 2.0f);
    CHECK_EQ_INT(bl_linear_import(&ten, NULL, &L, &k), BL_OK);
    CHECK_EQ_INT(k, BL_IMPORT_REQUANTIZED);
    bl_linear_destroy(L);
    memset(&desc, 0, sizeof desc);
    desc.flags = BL_IMPORT_STRICT;
    L = NULL;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, &k), BL_ERR_UNSUPPORTED);
    CHECK(L == NULL);
}

/* ---- I2_S --------------------------------------------------------------------------------- */

static void test_i2s(void)
{
    static const int shapes[][2] = { { 1, 128 }, { 2, 256 }, { 3, 384 }, { 5, 640 }, { 9, 2560 } };
    int si, fi;
    for (si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); ++si) {
        int rows = shapes[si][0], cols = shapes[si][1];
        size_t n = (size_t)rows * cols, nbytes, i;
        int8_t *t = (int8_t *)bt_alloc(n);
        float *v = (float *)bt_alloc(n * sizeof(float)), *got = (float *)bt_alloc(n * sizeof(float));
        float scale = bt_uniform(-2.0f, 2.0f);
        uint8_t *data;
        bl_tensor ten;
        for (i = 0; i < n; ++i) t[i] = rand_trit(40);
        for (i = 0; i < n; ++i) { /* bitnet.cpp: i2_scale * {-1, 0, +1}[code] */
            static const float map[3] = { -1.0f, 0.0f, 1.0f };
            v[i] = scale * map[t[i] + 1];
        }
        data = enc_i2s(t, n, scale, &nbytes);
        ten = make_tensor(BL_DTYPE_I2_S, rows, cols, data, nbytes);
        CHECK_EQ_INT(bl_tensor_dequantize(&ten, got, n), BL_OK);
        CHECK(memcmp(got, v, n * sizeof(float)) == 0);
        for (fi = 0; fi < 2; ++fi) {
            bl_import_desc desc;
            bl_linear *L = NULL;
            bl_import_kind k = BL_IMPORT_QUANTIZED;
            bl_linear_info info;
            memset(&desc, 0, sizeof desc);
            desc.format = formats[fi];
            desc.flags = BL_IMPORT_STRICT;
            CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, &k), BL_OK);
            CHECK_EQ_INT(k, BL_IMPORT_EXACT);
            CHECK_EQ_INT(check_layer(L, rows, cols, t, v), 0);
            if (L && bl_linear_get_info(L, &info) == BL_OK) {
                CHECK_EQ_INT(info.scaling, BL_SCALING_TENSOR);
                CHECK(memcmp(&info.scales[rows - 1], &scale, 4) == 0);
            }
            bl_linear_destroy(L);
        }
        { /* a NaN or infinite scale */
            bl_linear *L = (bl_linear *)(uintptr_t)0x40;
            uint8_t keep = data[n / 4 + 3];
            data[n / 4 + 3] = 0x7F;
            data[n / 4 + 2] |= 0x80;
            CHECK_EQ_INT(bl_linear_import(&ten, NULL, &L, NULL), BL_ERR_NONFINITE);
            CHECK(L == (bl_linear *)(uintptr_t)0x40);
            data[n / 4 + 3] = keep;
        }
        free(t); free(v); free(got); free(data);
    }
}

/* ---- Hugging Face packed -------------------------------------------------------------------- */

static void test_hf(void)
{
    static const int shapes[][2] = { { 4, 1 }, { 4, 3 }, { 8, 63 }, { 12, 64 }, { 4, 255 }, { 8, 256 },
                                     { 20, 257 }, { 8, 300 }, { 4, 513 }, { 16, 1024 } };
    int si, fi, per_row, div;
    for (si = 0; si < (int)(sizeof shapes / sizeof shapes[0]); ++si)
        for (per_row = 0; per_row < 2; ++per_row)
            for (div = 0; div < 2; ++div) {
                int out = shapes[si][0], in = shapes[si][1], r, c, ns = per_row ? out : 1;
                size_t n = (size_t)out * in, i;
                int8_t *t = (int8_t *)bt_alloc(n);
                float *v = (float *)bt_alloc(n * sizeof(float));
                uint16_t *ws = (uint16_t *)bt_alloc(sizeof(uint16_t) * (size_t)ns);
                uint8_t *data;
                bl_tensor ten, wst;
                for (i = 0; i < n; ++i) t[i] = rand_trit(35);
                for (r = 0; r < ns; ++r) ws[r] = (uint16_t)(0x3C00u + (bt_u32() & 0x3FFu)) ^ (uint16_t)((bt_u32() & 1u) << 15); /* bf16 */
                for (r = 0; r < out; ++r) {
                    uint32_t bits = (uint32_t)ws[per_row ? r : 0] << 16;
                    float s;
                    memcpy(&s, &bits, 4);
                    for (c = 0; c < in; ++c) {
                        float tv = (float)t[(size_t)r * in + c];
                        v[(size_t)r * in + c] = div ? tv / s : tv * s; /* BitLinear divides, AutoBitLinear multiplies */
                    }
                }
                to_le(ws, 2, (size_t)ns);
                data = enc_hf(t, out, in);
                ten = make_tensor(BL_DTYPE_U8, out / 4, in, data, n / 4);
                memset(&wst, 0, sizeof wst);
                wst.dtype = BL_DTYPE_BF16;
                wst.elem_bytes = 2;
                wst.ndim = 1;
                wst.shape[0] = ns;
                wst.data = ws;
                wst.nbytes = 2 * (size_t)ns;
                for (fi = 0; fi < 2; ++fi) {
                    bl_import_desc desc;
                    bl_linear *L = NULL;
                    bl_import_kind k = BL_IMPORT_QUANTIZED;
                    memset(&desc, 0, sizeof desc);
                    desc.format = formats[fi];
                    desc.flags = BL_IMPORT_HF_PACKED | (div ? BL_IMPORT_SCALE_DIVIDE : 0u);
                    desc.weight_scale = &wst;
                    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, &k), BL_OK);
                    CHECK_EQ_INT(k, BL_IMPORT_EXACT);
                    CHECK_EQ_INT(check_layer(L, out, in, t, v), 0);
                    bl_linear_destroy(L);
                }
                free(t); free(v); free(ws); free(data);
            }
}

/* ---- float tensors and BitNet's absmean rule -------------------------------------------------- */

/* BitNet b1.58, from the published formula: s = mean|W| (at least 1e-5), t = clamp(round(W / s), -1, 1),
   round half to even (torch.round) */
static void ref_absmean_tensor(const float *w, size_t n, int8_t *t, float *s)
{
    double sum = 0.0;
    size_t i;
    for (i = 0; i < n; ++i) sum += fabs((double)w[i]);
    *s = (float)(sum / (double)n);
    if (*s < 1e-5f) *s = 1e-5f;
    for (i = 0; i < n; ++i) {
        float q = rintf(w[i] / *s);
        t[i] = (int8_t)(q > 1.0f ? 1 : q < -1.0f ? -1 : (int)q);
    }
}

static void test_absmean(void)
{
    int trial;
    for (trial = 0; trial < 6; ++trial) {
        int rows = bt_int(1, 9), cols = bt_int(1, 300);
        size_t n = (size_t)rows * cols, i;
        float *w = (float *)bt_alloc(n * sizeof(float)), s = -1.0f, rs = -2.0f;
        int8_t *t = (int8_t *)bt_alloc(n), *rt = (int8_t *)bt_alloc(n);
        float amp = trial == 4 ? 1e-7f : trial == 5 ? 0.0f : 1.0f;
        for (i = 0; i < n; ++i) w[i] = amp * bt_gauss();
        if (trial == 3) for (i = 0; i < n; ++i) w[i] = 0.5f * (float)bt_int(-3, 3); /* ties at w/s = +-0.5 */
        CHECK_EQ_INT(bl_ternarize(w, rows, cols, BL_METHOD_ABSMEAN, BL_SCALING_TENSOR, t, &s), BL_OK);
        ref_absmean_tensor(w, n, rt, &rs);
        CHECK(s == rs);
        CHECK(memcmp(t, rt, n) == 0);
        free(w); free(t); free(rt);
    }
}

static uint16_t f32_to_bf16_trunc(float f) { uint32_t u; memcpy(&u, &f, 4); return (uint16_t)(u >> 16); }

static void test_float_import(void)
{
    int rows = 6, cols = 96;
    size_t n = (size_t)rows * cols, i;
    float *w = (float *)bt_alloc(n * sizeof(float)), *wd = (float *)bt_alloc(n * sizeof(float));
    uint16_t *bf = (uint16_t *)bt_alloc(n * 2);
    uint8_t *q8 = (uint8_t *)bt_alloc(n / 32 * 34);
    double *f64 = (double *)bt_alloc(n * sizeof(double));
    int8_t *t = (int8_t *)bt_alloc(n);
    float scales[6];
    bl_tensor ten;
    bl_import_desc desc;
    bl_linear *L = NULL;
    bl_import_kind k = BL_IMPORT_EXACT;
    for (i = 0; i < n; ++i) w[i] = bt_gauss();
    memset(&desc, 0, sizeof desc);
    desc.method = BL_METHOD_ABSMEAN;
    desc.scaling = BL_SCALING_TENSOR;
    /* F32: the same layer bl_linear_create makes */
    memcpy(wd, w, n * 4);
    to_le(wd, 4, n);
    ten = make_tensor(BL_DTYPE_F32, rows, cols, wd, n * 4);
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, &k), BL_OK);
    CHECK_EQ_INT(k, BL_IMPORT_QUANTIZED);
    CHECK_EQ_INT(bl_ternarize(w, rows, cols, BL_METHOD_ABSMEAN, BL_SCALING_TENSOR, t, scales), BL_OK);
    for (i = 1; i < (size_t)rows; ++i) scales[i] = scales[0];
    {
        float *v = (float *)bt_alloc(n * sizeof(float));
        for (i = 0; i < n; ++i) v[i] = (float)t[i] * scales[0];
        CHECK_EQ_INT(check_layer(L, rows, cols, t, v), 0);
        free(v);
    }
    bl_linear_destroy(L);
    /* BF16 and F64 dequantize by definition */
    for (i = 0; i < n; ++i) {
        uint32_t u = (uint32_t)(bf[i] = f32_to_bf16_trunc(w[i])) << 16;
        memcpy(&wd[i], &u, 4);
    }
    to_le(bf, 2, n);
    ten = make_tensor(BL_DTYPE_BF16, rows, cols, bf, n * 2);
    {
        float *got = (float *)bt_alloc(n * sizeof(float));
        CHECK_EQ_INT(bl_tensor_dequantize(&ten, got, n), BL_OK);
        CHECK(memcmp(got, wd, n * 4) == 0);
        CHECK_EQ_INT(bl_tensor_dequantize(&ten, got, n - 1), BL_ERR_INVALID);
        for (i = 0; i < n; ++i) f64[i] = (double)w[i] * 3.0;
        f64[0] = 1e300; f64[1] = -1e300; f64[2] = 3.4028235677973366e38; f64[3] = 3.4028235677973362e38;
        to_le(f64, 8, n);
        ten = make_tensor(BL_DTYPE_F64, rows, cols, f64, n * 8);
        CHECK_EQ_INT(bl_tensor_dequantize(&ten, got, n), BL_OK);
        CHECK(isinf(got[0]) && got[0] > 0 && isinf(got[1]) && got[1] < 0 && isinf(got[2]) && got[3] == FLT_MAX);
        CHECK(got[10] == (float)((double)w[10] * 3.0));
        /* Q8_0: int8 q times the fp16 d of each 32 */
        for (i = 0; i < n / 32; ++i) {
            int j;
            unsigned d = pos_half();
            q8[34 * i] = (uint8_t)d;
            q8[34 * i + 1] = (uint8_t)(d >> 8);
            for (j = 0; j < 32; ++j) {
                q8[34 * i + 2 + j] = (uint8_t)bt_u32();
                wd[32 * i + (size_t)j] = (float)(int8_t)q8[34 * i + 2 + j] * ref_half(d);
            }
        }
        ten = make_tensor(BL_DTYPE_Q8_0, rows, cols, q8, n / 32 * 34);
        CHECK_EQ_INT(bl_tensor_dequantize(&ten, got, n), BL_OK);
        CHECK(memcmp(got, wd, n * 4) == 0);
        L = NULL;
        CHECK_EQ_INT(bl_linear_import(&ten, NULL, &L, &k), BL_OK);
        CHECK_EQ_INT(k, BL_IMPORT_QUANTIZED);
        CHECK_EQ_INT(bl_ternarize(wd, rows, cols, BL_METHOD_OPTIMAL, BL_SCALING_ROW, t, scales), BL_OK);
        for (i = 0; i < n; ++i) got[i] = (float)t[i] * scales[i / (size_t)cols];
        CHECK_EQ_INT(check_layer(L, rows, cols, t, got), 0);
        bl_linear_destroy(L);
        free(got);
    }
    free(w); free(wd); free(bf); free(q8); free(f64); free(t);
}

/* ---- bad input ------------------------------------------------------------------------------ */

static void test_bad(void)
{
    int8_t t[4 * 512];
    uint8_t tq[4 * 2 * 66], hf[2 * 40];
    float scale1 = 0.5f, nanv, bias[8] = { 0 };
    bl_tensor ten, ws;
    bl_import_desc desc;
    bl_linear *const sentinel = (bl_linear *)(uintptr_t)0x40;
    bl_linear *L = sentinel;
    float tmp[2048];
    int i;
    for (i = 0; i < 2048; ++i) t[i] = rand_trit(30);
    for (i = 0; i < 8; ++i) enc_tq2_block(t + 256 * i, 0x3800u, tq + 66 * i);
    ten = make_tensor(BL_DTYPE_TQ2_0, 4, 512, tq, sizeof tq);
    memset(&desc, 0, sizeof desc);
    CHECK_EQ_INT(bl_linear_import(NULL, &desc, &L, NULL), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, NULL, NULL), BL_ERR_INVALID);
    ten.nbytes = sizeof tq - 1;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_tensor_dequantize(&ten, tmp, 2048), BL_ERR_INVALID);
    ten.nbytes = sizeof tq + 66;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_INVALID);
    ten.nbytes = sizeof tq;
    ten.ndim = 1; ten.shape[0] = 2048; ten.shape[1] = 0;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_tensor_dequantize(&ten, tmp, 2048), BL_OK); /* 1-D dequantizes fine */
    ten.ndim = 3; ten.shape[0] = 1; ten.shape[1] = 4; ten.shape[2] = 512;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_INVALID);
    ten = make_tensor(BL_DTYPE_TQ2_0, 8, 256 + 0, tq, sizeof tq);
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_OK); /* the same bytes as 8 x 256 */
    bl_linear_destroy(L);
    L = sentinel;
    ten = make_tensor(BL_DTYPE_TQ2_0, 16, 128, tq, sizeof tq); /* rows must be whole blocks */
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_INVALID);
    ten = make_tensor(BL_DTYPE_TQ2_0, 4, 512, tq, sizeof tq);
    ten.dtype = BL_DTYPE_I8;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_UNSUPPORTED);
    CHECK_EQ_INT(bl_tensor_dequantize(&ten, tmp, 2048), BL_ERR_UNSUPPORTED);
    ten.dtype = BL_DTYPE_TQ2_0;
    desc.flags = 64u; /* unknown flag */
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_INVALID);
    desc.flags = BL_IMPORT_SCALE_DIVIDE; /* without HF_PACKED */
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_INVALID);
    desc.flags = 0;
    desc.format = (bl_format)7;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_INVALID);
    desc.format = BL_FORMAT_2BIT;
    desc.act_bits = 9;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_INVALID);
    desc.act_bits = 0;
    nanv = (float)NAN;
    bias[2] = nanv;
    desc.bias = bias;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_NONFINITE);
    bias[2] = 1.5f;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_OK);
    {
        bl_linear_info info;
        CHECK(bl_linear_get_info(L, &info) == BL_OK && info.bias && info.bias[2] == 1.5f);
    }
    bl_linear_destroy(L);
    L = sentinel;
    desc.bias = NULL;

    /* HF: dtype, shape, scale tensor */
    memset(hf, 0x55, sizeof hf);
    ten = make_tensor(BL_DTYPE_U8, 2, 40, hf, sizeof hf);
    memset(&ws, 0, sizeof ws);
    ws.dtype = BL_DTYPE_F32; ws.elem_bytes = 4; ws.ndim = 0; ws.data = &scale1; ws.nbytes = 4;
    to_le(&scale1, 4, 1);
    desc.flags = BL_IMPORT_HF_PACKED;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_INVALID); /* no weight_scale */
    desc.weight_scale = &ws;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_OK);
    bl_linear_destroy(L);
    L = sentinel;
    ten.dtype = BL_DTYPE_I8;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_UNSUPPORTED);
    ten.dtype = BL_DTYPE_U8;
    ten.nbytes = sizeof hf - 1;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_INVALID);
    ten.nbytes = sizeof hf;
    ws.ndim = 1; ws.shape[0] = 3; /* neither 1 nor out = 8 scales */
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_INVALID);
    ws.ndim = 0;
    scale1 = nanv;
    to_le(&scale1, 4, 1);
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_NONFINITE);
    scale1 = 0.0f; /* the same bytes either way */
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_OK); /* times 0 is fine ... */
    bl_linear_destroy(L);
    L = sentinel;
    desc.flags |= BL_IMPORT_SCALE_DIVIDE;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_NONFINITE); /* ... divided by 0 is not */
    ws.dtype = BL_DTYPE_I32;
    scale1 = 1.0f;
    to_le(&scale1, 4, 1);
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_UNSUPPORTED);
    hf[7] = 0xFF; /* code 3 in all four rows: the value 2 is no trit */
    ws.dtype = BL_DTYPE_F32;
    desc.flags = BL_IMPORT_HF_PACKED | BL_IMPORT_STRICT;
    CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, NULL), BL_ERR_UNSUPPORTED);
    CHECK(L == sentinel);
    {
        bl_import_kind k = BL_IMPORT_EXACT;
        desc.flags = BL_IMPORT_HF_PACKED;
        CHECK_EQ_INT(bl_linear_import(&ten, &desc, &L, &k), BL_OK);
        CHECK_EQ_INT(k, BL_IMPORT_REQUANTIZED);
        bl_linear_destroy(L);
    }
}

/* every allocation failing in turn: a status, *out untouched, nothing leaked (ASan) */
static int fail_after;
static void *failing_alloc(size_t n, void *user) { (void)user; return fail_after-- > 0 ? malloc(n) : NULL; }
static void plain_free(void *p, void *user) { (void)user; free(p); }

static void test_alloc_failures(void)
{
    int8_t t[4 * 512];
    uint8_t tq[8 * 54];
    bl_tensor ten;
    bl_import_desc desc;
    bl_allocator a;
    int i, f, fmt;
    for (i = 0; i < 2048; ++i) t[i] = rand_trit(30);
    for (i = 0; i < 8; ++i) enc_tq1_block(t + 256 * i, i == 3 ? 0x3000u : 0x3800u, tq + 54 * i); /* row 1 mixed */
    ten = make_tensor(BL_DTYPE_TQ1_0, 4, 512, tq, sizeof tq);
    a.alloc = failing_alloc; a.free = plain_free; a.user = NULL;
    for (fmt = 0; fmt < 2; ++fmt)
        for (f = 0; f < 20; ++f) {
            bl_linear *L = (bl_linear *)(uintptr_t)0x40;
            bl_status st;
            memset(&desc, 0, sizeof desc);
            desc.alloc = &a;
            desc.format = formats[fmt];
            fail_after = f;
            st = bl_linear_import(&ten, &desc, &L, NULL);
            if (st == BL_OK) {
                bl_linear_destroy(L);
                break;
            }
            CHECK_EQ_INT(st, BL_ERR_NOMEM);
            CHECK(L == (bl_linear *)(uintptr_t)0x40);
        }
}

int main(void)
{
    bt_seed(15);
    test_tq(BL_DTYPE_TQ2_0);
    test_tq(BL_DTYPE_TQ1_0);
    test_tq1_any_bytes();
    test_tq2_code3();
    test_i2s();
    test_hf();
    test_absmean();
    test_float_import();
    test_bad();
    test_alloc_failures();
    return bt_summary("test_import");
}
