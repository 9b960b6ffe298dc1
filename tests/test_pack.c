/* Packing: both formats against a reference packer written from the README's byte spec. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include "test.h"

/* README, "Packed formats": a row of n trits, D per byte, is cut into full blocks of 64*D
   trits and one tail of r trits. Trit p of a full block goes to byte p % 64, digit p / 64;
   trit p of the tail to byte p % B, digit p / B, where B = ceil(r / D). */
static void spec_position(int d, int n, int i, int *byte, int *digit)
{
    int full_blocks = n / (64 * d), block = i / (64 * d);
    if (block < full_blocks) {
        int p = i % (64 * d);
        *byte = block * 64 + p % 64;
        *digit = p / 64;
    } else {
        int r = n - full_blocks * 64 * d, b = (r + d - 1) / d, p = i - full_blocks * 64 * d;
        *byte = full_blocks * 64 + p % b;
        *digit = p / b;
    }
}

/* 2BIT: code (t + 1) at bits 2*digit. BASE3: v = sum code_m 3^(4-m), byte = ceil(v * 256 / 243). */
static void spec_pack(int format, const int8_t *t, int rows, int n, uint8_t *out)
{
    int d = format == BL_FORMAT_BASE3 ? 5 : 4, row_bytes = (n + d - 1) / d, r, i, j, m;
    for (r = 0; r < rows; ++r) {
        int codes[64 * 1024 / 4][5];
        uint8_t *o = out + (size_t)r * row_bytes;
        for (j = 0; j < row_bytes; ++j)
            for (m = 0; m < 5; ++m) codes[j][m] = 1; /* padding is trit 0 */
        for (i = 0; i < n; ++i) {
            int byte, digit;
            spec_position(d, n, i, &byte, &digit);
            codes[byte][digit] = t[(size_t)r * n + i] + 1;
        }
        for (j = 0; j < row_bytes; ++j) {
            if (d == 4) {
                o[j] = (uint8_t)(codes[j][0] | codes[j][1] << 2 | codes[j][2] << 4 | codes[j][3] << 6);
            } else {
                int v = 0;
                for (m = 0; m < 5; ++m) v = v * 3 + codes[j][m];
                o[j] = (uint8_t)((v * 256 + 242) / 243);
            }
        }
    }
}

static void test_round_trip(void)
{
    static const int sizes[] = { 1, 2, 3, 4, 5, 6, 63, 64, 65, 255, 256, 257, 319, 320, 321, 639, 640, 1000, 4097 };
    size_t si;
    int f, rows;
    for (f = 0; f < 2; ++f)
        for (si = 0; si < sizeof sizes / sizeof sizes[0]; ++si)
            for (rows = 1; rows <= 3; ++rows) {
                int n = sizes[si], d = f ? 5 : 4, i;
                size_t count = (size_t)rows * n, size = bl_packed_size((bl_format)f, rows, n);
                int8_t *t = (int8_t *)bt_alloc(count), *back = (int8_t *)bt_alloc(count);
                uint8_t *packed = (uint8_t *)bt_alloc(size + 1), *spec = (uint8_t *)bt_alloc(size + 1);
                CHECK(size == (size_t)rows * (size_t)((n + d - 1) / d));
                CHECK(bl_packed_row_bytes((bl_format)f, n) == (size_t)((n + d - 1) / d));
                for (i = 0; i < (int)count; ++i) t[i] = (int8_t)bt_int(-1, 1);
                packed[size] = 0xA5;
                CHECK(bl_pack((bl_format)f, t, rows, n, packed, size) == BL_OK);
                CHECK(packed[size] == 0xA5); /* no write past the end */
                spec_pack(f, t, rows, n, spec);
                CHECK(memcmp(packed, spec, size) == 0);
                CHECK(bl_unpack((bl_format)f, packed, size, rows, n, back) == BL_OK);
                CHECK(memcmp(t, back, count) == 0);
                for (i = 0; i < n; ++i) { /* the header's position helper agrees with the spec */
                    int b1, d1, b2, d2;
                    bl__trit_position(f, n, i, &b1, &d1);
                    spec_position(d, n, i, &b2, &d2);
                    CHECK(b1 == b2 && d1 == d2);
                }
                free(t); free(back); free(packed); free(spec);
            }
}

static void test_base3_exhaustive(void)
{
    int v, m;
    for (v = 0; v < 243; ++v) {
        uint8_t codes[5], byte;
        int rest = v;
        for (m = 4; m >= 0; --m) { codes[m] = (uint8_t)(rest % 3); rest /= 3; }
        byte = bl__base3_encode(codes);
        for (m = 0; m < 5; ++m) CHECK_EQ_INT(bl__base3_code(byte, m), codes[m]);
    }
}

static void test_sizes(void)
{
    size_t s = bl_packed_size(BL_FORMAT_BASE3, 4096, 4096);
    CHECK((double)s * 8.0 / (4096.0 * 4096.0) <= 1.61);
    CHECK(bl_packed_size(BL_FORMAT_2BIT, 4096, 4096) == 4096u * 1024u);
    CHECK(bl_packed_size(BL_FORMAT_2BIT, 0, 5) == 0);
    CHECK(bl_packed_size(BL_FORMAT_2BIT, 5, 0) == 0);
    CHECK(bl_packed_size(BL_FORMAT_2BIT, -1, 5) == 0);
    CHECK(bl_packed_size((bl_format)2, 5, 5) == 0);
    CHECK(bl_packed_size((bl_format)99, 5, 5) == 0);
    if (sizeof(size_t) == 4) CHECK(bl_packed_size(BL_FORMAT_2BIT, 0x7fffffff, 0x7fffffff) == 0);
    CHECK(bl_packed_row_bytes(BL_FORMAT_BASE3, 0) == 0);
}

static void test_bad_input(void)
{
    int8_t t[10] = { 0, 1, -1, 0, 1, -1, 0, 1, -1, 0 }, back[10];
    uint8_t buf[8], keep[8];
    size_t i;
    memset(buf, 0x5A, sizeof buf);
    memcpy(keep, buf, sizeof buf);
    CHECK(bl_pack(BL_FORMAT_2BIT, t, 2, 5, buf, 3) == BL_ERR_INVALID); /* needs 4 bytes */
    t[7] = 2;
    CHECK(bl_pack(BL_FORMAT_2BIT, t, 2, 5, buf, sizeof buf) == BL_ERR_INVALID);
    t[7] = -2;
    CHECK(bl_pack(BL_FORMAT_BASE3, t, 2, 5, buf, sizeof buf) == BL_ERR_INVALID);
    CHECK(memcmp(buf, keep, sizeof buf) == 0);
    t[7] = 1;
    CHECK(bl_pack(BL_FORMAT_2BIT, NULL, 2, 5, buf, sizeof buf) == BL_ERR_INVALID);
    CHECK(bl_pack(BL_FORMAT_2BIT, t, 2, 5, NULL, sizeof buf) == BL_ERR_INVALID);
    CHECK(bl_pack((bl_format)7, t, 2, 5, buf, sizeof buf) == BL_ERR_INVALID);
    CHECK(bl_pack(BL_FORMAT_2BIT, t, 0, 5, buf, sizeof buf) == BL_ERR_INVALID);

    /* unpack: bad codes, non-canonical BASE3 bytes, nonzero padding, short input */
    memset(back, 7, sizeof back);
    buf[0] = 0x03; /* 2BIT code 3 */
    CHECK(bl_unpack(BL_FORMAT_2BIT, buf, sizeof buf, 2, 5, back) == BL_ERR_FORMAT);
    CHECK(bl_pack(BL_FORMAT_2BIT, t, 2, 5, buf, sizeof buf) == BL_OK);
    CHECK(bl_unpack(BL_FORMAT_2BIT, buf, 3, 2, 5, back) == BL_ERR_INVALID);
    buf[1] = (uint8_t)(buf[1] ^ 0x40); /* n = 5: B = 2 bytes; byte 1 digit 3 is position 7, padding */
    CHECK(bl_unpack(BL_FORMAT_2BIT, buf, sizeof buf, 2, 5, back) == BL_ERR_FORMAT);
    for (i = 0; i < sizeof back; ++i) CHECK(back[i] == 7);
    {
        int b, found = 0;
        for (b = 0; b < 256 && !found; ++b) { /* some byte is no encoding of five codes */
            uint8_t codes[5], byte = (uint8_t)b;
            int m;
            for (m = 0; m < 5; ++m) codes[m] = (uint8_t)bl__base3_code(byte, m);
            if (bl__base3_encode(codes) != byte) {
                found = 1;
                CHECK(bl_unpack(BL_FORMAT_BASE3, &byte, 1, 1, 5, back) == BL_ERR_FORMAT);
            }
        }
        CHECK(found);
    }
    CHECK(bl_unpack(BL_FORMAT_BASE3, NULL, 8, 1, 5, back) == BL_ERR_INVALID);
    CHECK(bl_unpack(BL_FORMAT_BASE3, buf, 8, 1, 5, NULL) == BL_ERR_INVALID);
    CHECK(bl_unpack((bl_format)3, buf, 8, 1, 5, back) == BL_ERR_INVALID);
}

int main(void)
{
    bt_seed(2);
    test_round_trip();
    test_base3_exhaustive();
    test_sizes();
    test_bad_input();
    return bt_summary("test_pack");
}
