/* GGUF: the reader against files built byte by byte here, every corruption, metadata
   values, element type sizes; the writer against a slow reference block encoder. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include "test.h"

/* ---- a little-endian byte builder, independent of the library ---- */

typedef struct buf { uint8_t *p; size_t n, cap; } buf;

static void put(buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->n + n) cap *= 2;
        b->p = (uint8_t *)realloc(b->p, cap);
        if (!b->p) exit(2);
        b->cap = cap;
    }
    if (n) memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put8(buf *b, unsigned v) { uint8_t c = (uint8_t)v; put(b, &c, 1); }
static void put16(buf *b, unsigned v) { put8(b, v & 255u); put8(b, (v >> 8) & 255u); }
static void put32(buf *b, uint32_t v) { put16(b, v & 0xFFFFu); put16(b, v >> 16); }
static void put64(buf *b, uint64_t v) { put32(b, (uint32_t)v); put32(b, (uint32_t)(v >> 32)); }
static void putf32(buf *b, float f) { uint32_t u; memcpy(&u, &f, 4); put32(b, u); }
static void putf64(buf *b, double f) { uint64_t u; memcpy(&u, &f, 8); put64(b, u); }
static void putstrn(buf *b, const char *s, size_t n) { put64(b, n); put(b, s, n); }
static void putstr(buf *b, const char *s) { putstrn(b, s, strlen(s)); }
static void pad_to(buf *b, size_t a) { while (b->n % a) put8(b, 0); }

/* GGUF value types and ggml type ids, as the files number them */
enum { U8 = 0, I8, U16, I16, U32, I32, F32, BOOL, STR, ARR, U64, I64, F64 };
enum { G_F32 = 0, G_F16 = 1, G_Q4_0 = 2, G_Q8_0 = 8, G_I8 = 24, G_I16 = 25, G_I32 = 26, G_I64 = 27,
       G_F64 = 28, G_BF16 = 30, G_TQ1_0 = 34, G_TQ2_0 = 35, G_I2_S = 36 };

typedef struct tspec {
    const char *name;
    uint32_t type, ndim;
    uint64_t ne[4];
    uint64_t nbytes;       /* bytes of data written */
    int64_t offset;        /* -1: packed after the previous one (rounded up) */
} tspec;

/* Every kv type once, arrays of numbers and strings; general.alignment when align != 0. */
#define N_KVS 17
static void put_kvs(buf *b, uint32_t align)
{
    static const char utf8[] = "h\xC3\xA9llo \xE2\x82\xAC \xF0\x9F\x98\x80";
    putstr(b, "general.architecture"); put32(b, STR); putstr(b, "llama");
    putstr(b, "k.u8"); put32(b, U8); put8(b, 200);
    putstr(b, "k.i8"); put32(b, I8); put8(b, 0x80);
    putstr(b, "k.u16"); put32(b, U16); put16(b, 65535);
    putstr(b, "k.i16"); put32(b, I16); put16(b, 0x8000);
    putstr(b, "k.u32"); put32(b, U32); put32(b, 0xFFFFFFFFu);
    putstr(b, "k.i32"); put32(b, I32); put32(b, 0xFFFFFFFEu);
    putstr(b, "k.f32"); put32(b, F32); putf32(b, 1.5f);
    putstr(b, "k.bool"); put32(b, BOOL); put8(b, 1);
    putstr(b, "k.u64"); put32(b, U64); put64(b, UINT64_MAX);
    putstr(b, "k.i64"); put32(b, I64); put64(b, (uint64_t)1 << 63);
    putstr(b, "k.f64"); put32(b, F64); putf64(b, -0.25);
    putstr(b, "k.empty_string"); put32(b, STR); putstr(b, "");
    putstr(b, "tokenizer.tokens"); put32(b, ARR); put32(b, STR); put64(b, 4);
    putstr(b, ""); putstr(b, utf8); putstr(b, "a"); putstrn(b, "x\0y", 3);
    putstr(b, "k.arr_i16"); put32(b, ARR); put32(b, I16); put64(b, 3); put16(b, 1); put16(b, 0xFFFF); put16(b, 7);
    putstr(b, "k.arr_f64_empty"); put32(b, ARR); put32(b, F64); put64(b, 0);
    putstr(b, "k.arr_bool"); put32(b, ARR); put32(b, BOOL); put64(b, 2); put8(b, 0); put8(b, 1);
    if (align) { putstr(b, "general.alignment"); put32(b, U32); put32(b, align); }
}

/* A whole file: header, kvs (with_kvs), tensor infos, padding, data. Data byte j of
   tensor i is (i * 31 + j) & 255. *data_end gets the end of the last tensor's bytes. */
static void build(buf *b, uint32_t version, uint32_t align, int with_kvs, const tspec *ts, int nt,
                  size_t *data_end)
{
    uint64_t off = 0, offs[16];
    size_t start;
    int i;
    uint32_t a = align ? align : 32;
    b->n = 0;
    put(b, "GGUF", 4);
    put32(b, version);
    put64(b, (uint64_t)nt);
    put64(b, with_kvs ? (uint64_t)N_KVS + (align ? 1 : 0) : (align ? 1 : 0));
    if (with_kvs) put_kvs(b, align);
    else if (align) { putstr(b, "general.alignment"); put32(b, U32); put32(b, align); }
    for (i = 0; i < nt; ++i) {
        uint32_t d;
        offs[i] = ts[i].offset >= 0 ? (uint64_t)ts[i].offset : off;
        off = (offs[i] + ts[i].nbytes + a - 1) / a * a;
        putstr(b, ts[i].name);
        put32(b, ts[i].ndim);
        for (d = 0; d < ts[i].ndim; ++d) put64(b, ts[i].ne[d]);
        put32(b, ts[i].type);
        put64(b, offs[i]);
    }
    if (nt) pad_to(b, a);
    start = b->n;
    if (data_end) *data_end = start;
    for (i = 0; i < nt; ++i) {
        uint64_t j;
        while (b->n < start + offs[i]) put8(b, 0);
        if (b->n > start + offs[i]) b->n = start + (size_t)offs[i]; /* overlapping specs */
        for (j = 0; j < ts[i].nbytes; ++j) put8(b, (unsigned)((uint64_t)i * 31 + j) & 255u);
        if (data_end && b->n > *data_end) *data_end = b->n;
        pad_to(b, a);
    }
}

/* Opens an exact-size copy (so ASan sees any read past the end). */
static bl_status open_copy(const uint8_t *p, size_t n, bl_gguf **g)
{
    uint8_t *c = (uint8_t *)bt_alloc(n);
    bl_status st;
    bl_gguf *sentinel = (bl_gguf *)(uintptr_t)0x1234;
    memcpy(c, p, n);
    *g = sentinel;
    st = bl_gguf_open(c, n, g);
    if (st == BL_OK) {
        bl_gguf_close(*g);
    } else if (*g != sentinel) {
        CHECK(!"*out written on error");
    }
    free(c);
    return st;
}

static int refused(const buf *b) { bl_gguf *g; return open_copy(b->p, b->n, &g) == BL_ERR_FORMAT; }

/* ---- the reader on a valid file ---- */

static const tspec every_type[] = {
    { "f32", G_F32, 2, { 3, 2 }, 24, -1 },
    { "token_embd.weight", G_F16, 1, { 5 }, 10, -1 },
    { "bf16", G_BF16, 3, { 1, 2, 3 }, 12, -1 },
    { "q8", G_Q8_0, 2, { 64, 3 }, 34 * 2 * 3, -1 },
    { "blk.0.tq1", G_TQ1_0, 2, { 256, 2 }, 54 * 2, -1 },
    { "blk.0.tq2", G_TQ2_0, 4, { 512, 1, 1, 3 }, 66 * 2 * 3, -1 },
    { "i2s", G_I2_S, 2, { 128, 4 }, 128 + 32, -1 },
    { "i8", G_I8, 1, { 7 }, 7, -1 },
    { "i16", G_I16, 1, { 3 }, 6, -1 },
    { "i32", G_I32, 1, { 3 }, 12, -1 },
    { "i64", G_I64, 1, { 1 }, 8, -1 },
    { "f64", G_F64, 2, { 1, 1 }, 8, -1 },
};
#define N_EVERY ((int)(sizeof every_type / sizeof every_type[0]))

static void test_valid(void)
{
    static const bl_dtype dt[N_EVERY] = { BL_DTYPE_F32, BL_DTYPE_F16, BL_DTYPE_BF16, BL_DTYPE_Q8_0, BL_DTYPE_TQ1_0,
                                          BL_DTYPE_TQ2_0, BL_DTYPE_I2_S, BL_DTYPE_I8, BL_DTYPE_I16, BL_DTYPE_I32,
                                          BL_DTYPE_I64, BL_DTYPE_F64 };
    static const int eb[N_EVERY] = { 4, 2, 2, 0, 0, 0, 0, 1, 2, 4, 8, 8 };
    buf b = { 0, 0, 0 };
    bl_gguf *g = NULL;
    size_t data_start;
    uint32_t version;
    for (version = 2; version <= 3; ++version) {
        int i;
        uint64_t off = 0;
        build(&b, version, 0, 1, every_type, N_EVERY, &data_start);
        data_start = b.n; /* recomputed below from the first tensor */
        CHECK_EQ_INT(bl_gguf_open(b.p, b.n, &g), BL_OK);
        if (!g) continue;
        CHECK_EQ_INT(bl_gguf_version(g), version);
        CHECK_EQ_INT(bl_gguf_alignment(g), 32);
        CHECK_EQ_INT(bl_gguf_count(g), N_EVERY);
        CHECK_EQ_INT(bl_gguf_kv_count(g), N_KVS);
        data_start = (size_t)((const uint8_t *)bl_gguf_get(g, 0)->data - b.p);
        CHECK(data_start % 32 == 0);
        for (i = 0; i < N_EVERY; ++i) {
            const bl_tensor *t = bl_gguf_get(g, i);
            const tspec *s = &every_type[i];
            uint32_t d;
            size_t j;
            int ok = 1;
            CHECK(t != NULL && strcmp(t->name, s->name) == 0 && bl_gguf_find(g, s->name) == t);
            CHECK_EQ_INT(t->dtype, dt[i]);
            CHECK_EQ_INT(t->elem_bytes, eb[i]);
            CHECK_EQ_INT(t->ggml_type, (int)s->type);
            CHECK_EQ_INT(t->ndim, (int)s->ndim);
            for (d = 0; d < s->ndim; ++d) CHECK_EQ_INT(t->shape[s->ndim - 1 - d], (int64_t)s->ne[d]);
            for (d = s->ndim; d < BL_ST_MAX_DIMS; ++d) CHECK_EQ_INT(t->shape[d], 0);
            CHECK_EQ_INT(t->nbytes, s->nbytes);
            CHECK((const uint8_t *)t->data == b.p + data_start + off);
            for (j = 0; j < t->nbytes; ++j)
                if (((const uint8_t *)t->data)[j] != (uint8_t)((size_t)i * 31 + j)) ok = 0;
            CHECK(ok);
            CHECK_EQ_INT(bl_dtype_size(t->dtype, s->ne[0] * (s->ndim > 1 ? s->ne[1] : 1) * (s->ndim > 2 ? s->ne[2] : 1) *
                                                 (s->ndim > 3 ? s->ne[3] : 1)), s->nbytes);
            off = (off + s->nbytes + 31) / 32 * 32;
        }
        CHECK(bl_gguf_get(g, -1) == NULL && bl_gguf_get(g, N_EVERY) == NULL);
        CHECK(bl_gguf_find(g, "absent") == NULL && bl_gguf_find(g, "") == NULL && bl_gguf_find(g, NULL) == NULL);
        CHECK(bl_gguf_find(g, "blk.0.tq") == NULL && bl_gguf_find(g, "blk.0.tq22") == NULL);
        {
            const bl_kv *kv = bl_gguf_kv(g, 0);
            bl_str s;
            CHECK(kv && strcmp(kv->key, "general.architecture") == 0 && kv->type == BL_VALUE_STRING &&
                  kv->elem_type == BL_VALUE_STRING && kv->count == 1);
            CHECK(bl_kv_string(kv, &s) == BL_OK && s.size == 5 && memcmp(s.data, "llama", 5) == 0);
            CHECK((const uint8_t *)s.data > b.p && (const uint8_t *)s.data < b.p + b.n); /* zero-copy */
            CHECK(bl_gguf_kv(g, -1) == NULL && bl_gguf_kv(g, N_KVS) == NULL);
            CHECK(bl_gguf_kv_find(g, "k.u8") == bl_gguf_kv(g, 1));
            CHECK(bl_gguf_kv_find(g, "k.arr_bool") == bl_gguf_kv(g, N_KVS - 1));
            CHECK(bl_gguf_kv_find(g, "k.") == NULL && bl_gguf_kv_find(g, NULL) == NULL);
        }
        bl_gguf_close(g);
        g = NULL;
    }
    bl_gguf_close(NULL);
    CHECK(bl_gguf_count(NULL) == 0 && bl_gguf_kv_count(NULL) == 0 && bl_gguf_version(NULL) == 0 &&
          bl_gguf_alignment(NULL) == 0 && bl_gguf_get(NULL, 0) == NULL && bl_gguf_kv(NULL, 0) == NULL &&
          bl_gguf_find(NULL, "a") == NULL && bl_gguf_kv_find(NULL, "a") == NULL);
    CHECK_EQ_INT(bl_gguf_open(NULL, 4, &g), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_gguf_open(b.p, b.n, NULL), BL_ERR_INVALID);
    free(b.p);
}

/* Every kv read back through the typed accessors. */
static void test_kv_values(void)
{
    buf b = { 0, 0, 0 };
    bl_gguf *g = NULL;
    int64_t v;
    double f;
    bl_str s;
    const bl_kv *kv;
    build(&b, 3, 0, 1, NULL, 0, NULL);
    CHECK_EQ_INT(bl_gguf_open(b.p, b.n, &g), BL_OK);
    if (!g) return;
    CHECK(bl_kv_int(bl_gguf_kv_find(g, "k.u8"), &v) == BL_OK && v == 200);
    CHECK(bl_kv_int(bl_gguf_kv_find(g, "k.i8"), &v) == BL_OK && v == -128);
    CHECK(bl_kv_int(bl_gguf_kv_find(g, "k.u16"), &v) == BL_OK && v == 65535);
    CHECK(bl_kv_int(bl_gguf_kv_find(g, "k.i16"), &v) == BL_OK && v == -32768);
    CHECK(bl_kv_int(bl_gguf_kv_find(g, "k.u32"), &v) == BL_OK && v == 4294967295ll);
    CHECK(bl_kv_int(bl_gguf_kv_find(g, "k.i32"), &v) == BL_OK && v == -2);
    CHECK(bl_kv_int(bl_gguf_kv_find(g, "k.bool"), &v) == BL_OK && v == 1);
    CHECK(bl_kv_int(bl_gguf_kv_find(g, "k.u64"), &v) == BL_ERR_OVERFLOW);
    CHECK(bl_kv_int(bl_gguf_kv_find(g, "k.i64"), &v) == BL_OK && v == INT64_MIN);
    CHECK(bl_kv_int(bl_gguf_kv_find(g, "k.f32"), &v) == BL_ERR_INVALID);
    CHECK(bl_kv_int(bl_gguf_kv_find(g, "general.architecture"), &v) == BL_ERR_INVALID);
    CHECK(bl_kv_int(bl_gguf_kv_find(g, "k.arr_i16"), &v) == BL_ERR_INVALID);
    CHECK(bl_kv_float(bl_gguf_kv_find(g, "k.f32"), &f) == BL_OK && f == 1.5);
    CHECK(bl_kv_float(bl_gguf_kv_find(g, "k.f64"), &f) == BL_OK && f == -0.25);
    CHECK(bl_kv_float(bl_gguf_kv_find(g, "k.i32"), &f) == BL_OK && f == -2.0);
    CHECK(bl_kv_float(bl_gguf_kv_find(g, "k.u64"), &f) == BL_OK && f == 18446744073709551615.0);
    CHECK(bl_kv_float(bl_gguf_kv_find(g, "k.empty_string"), &f) == BL_ERR_INVALID);
    CHECK(bl_kv_string(bl_gguf_kv_find(g, "k.empty_string"), &s) == BL_OK && s.size == 0);
    CHECK(bl_kv_string(bl_gguf_kv_find(g, "k.u8"), &s) == BL_ERR_INVALID);
    kv = bl_gguf_kv_find(g, "tokenizer.tokens");
    CHECK(kv && kv->type == BL_VALUE_ARRAY && kv->elem_type == BL_VALUE_STRING && kv->count == 4);
    CHECK(bl_kv_array_string(kv, 0, &s) == BL_OK && s.size == 0);
    CHECK(bl_kv_array_string(kv, 1, &s) == BL_OK && s.size == 15 && memcmp(s.data, "h\xC3\xA9llo", 6) == 0);
    CHECK(bl_kv_array_string(kv, 2, &s) == BL_OK && s.size == 1 && s.data[0] == 'a');
    CHECK(bl_kv_array_string(kv, 3, &s) == BL_OK && s.size == 3 && memcmp(s.data, "x\0y", 3) == 0);
    CHECK(bl_kv_array_string(kv, 4, &s) == BL_ERR_INVALID);
    CHECK(bl_kv_array_int(kv, 0, &v) == BL_ERR_INVALID);
    CHECK(bl_kv_string(kv, &s) == BL_ERR_INVALID);
    kv = bl_gguf_kv_find(g, "k.arr_i16");
    CHECK(bl_kv_array_int(kv, 0, &v) == BL_OK && v == 1);
    CHECK(bl_kv_array_int(kv, 1, &v) == BL_OK && v == -1);
    CHECK(bl_kv_array_float(kv, 2, &f) == BL_OK && f == 7.0);
    CHECK(bl_kv_array_int(kv, 3, &v) == BL_ERR_INVALID);
    CHECK(bl_kv_array_string(kv, 0, &s) == BL_ERR_INVALID);
    CHECK(bl_kv_array_int(bl_gguf_kv_find(g, "k.u8"), 0, &v) == BL_ERR_INVALID);
    kv = bl_gguf_kv_find(g, "k.arr_f64_empty");
    CHECK(kv && kv->count == 0 && bl_kv_array_float(kv, 0, &f) == BL_ERR_INVALID);
    kv = bl_gguf_kv_find(g, "k.arr_bool");
    CHECK(bl_kv_array_int(kv, 1, &v) == BL_OK && v == 1 && bl_kv_array_float(kv, 0, &f) == BL_OK && f == 0.0);
    CHECK(bl_kv_int(NULL, &v) == BL_ERR_INVALID && bl_kv_int(bl_gguf_kv(g, 1), NULL) == BL_ERR_INVALID);
    CHECK(bl_kv_array_int(NULL, 0, &v) == BL_ERR_INVALID && bl_kv_string(NULL, &s) == BL_ERR_INVALID);
    bl_gguf_close(g);
    free(b.p);
}

/* bl_kv built by hand: any alignment, every width, both signs. */
static void test_kv_accessors(void)
{
    static const uint8_t bytes[] = { 0xAA, 0xFE, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F, 0x00 };
    bl_kv kv;
    int64_t v;
    double f;
    memset(&kv, 0, sizeof kv);
    kv.key = "x";
    kv.count = 1;
    kv.data = bytes + 1; /* misaligned on purpose */
    kv.type = kv.elem_type = BL_VALUE_I64;
    CHECK(bl_kv_int(&kv, &v) == BL_OK && v == INT64_MAX - 1);
    kv.type = kv.elem_type = BL_VALUE_U64;
    CHECK(bl_kv_int(&kv, &v) == BL_OK && v == INT64_MAX - 1);
    kv.type = kv.elem_type = BL_VALUE_I16;
    CHECK(bl_kv_int(&kv, &v) == BL_OK && v == -2);
    kv.type = kv.elem_type = BL_VALUE_U16;
    CHECK(bl_kv_int(&kv, &v) == BL_OK && v == 65534);
    kv.type = kv.elem_type = BL_VALUE_I32;
    CHECK(bl_kv_float(&kv, &f) == BL_OK && f == -2.0);
    kv.type = kv.elem_type = BL_VALUE_ARRAY; /* an array whose elements are ARRAY: refused */
    kv.elem_type = BL_VALUE_ARRAY;
    CHECK(bl_kv_array_int(&kv, 0, &v) == BL_ERR_INVALID);
    kv.elem_type = (bl_value_type)99;
    CHECK(bl_kv_array_int(&kv, 0, &v) == BL_ERR_INVALID);
    kv.type = (bl_value_type)99;
    CHECK(bl_kv_int(&kv, &v) == BL_ERR_INVALID && bl_kv_float(&kv, &f) == BL_ERR_INVALID);
    kv.type = BL_VALUE_U8;
    kv.data = NULL;
    CHECK(bl_kv_int(&kv, &v) == BL_ERR_INVALID);
}

static void test_dtypes(void)
{
    int d;
    for (d = -2; d < 25; ++d) CHECK(bl_dtype_name((bl_dtype)d) != NULL);
    CHECK(strcmp(bl_dtype_name(BL_DTYPE_TQ2_0), "TQ2_0") == 0 && strcmp(bl_dtype_name(BL_DTYPE_I2_S), "I2_S") == 0);
    CHECK_EQ_INT(bl_dtype_size(BL_DTYPE_F32, 3), 12);
    CHECK_EQ_INT(bl_dtype_size(BL_DTYPE_BF16, 3), 6);
    CHECK_EQ_INT(bl_dtype_size(BL_DTYPE_U64, 2), 16);
    CHECK_EQ_INT(bl_dtype_size(BL_DTYPE_BOOL, 5), 5);
    CHECK_EQ_INT(bl_dtype_size(BL_DTYPE_Q8_0, 64), 68);
    CHECK_EQ_INT(bl_dtype_size(BL_DTYPE_Q8_0, 48), 0);
    CHECK_EQ_INT(bl_dtype_size(BL_DTYPE_TQ1_0, 512), 108);
    CHECK_EQ_INT(bl_dtype_size(BL_DTYPE_TQ2_0, 256), 66);
    CHECK_EQ_INT(bl_dtype_size(BL_DTYPE_TQ2_0, 128), 0);
    CHECK_EQ_INT(bl_dtype_size(BL_DTYPE_I2_S, 4096), 1024 + 32);
    CHECK_EQ_INT(bl_dtype_size(BL_DTYPE_I2_S, 64), 0);
    CHECK_EQ_INT(bl_dtype_size(BL_DTYPE_OTHER, 4), 0);
    CHECK_EQ_INT(bl_dtype_size((bl_dtype)99, 4), 0);
    CHECK_EQ_INT(bl_dtype_size(BL_DTYPE_F64, UINT64_MAX / 4), 0); /* overflow */
}

/* ---- bad input ---- */

static const tspec two[] = {
    { "a", G_F32, 2, { 4, 2 }, 32, -1 },
    { "b", G_TQ2_0, 2, { 256, 1 }, 66, -1 },
};

/* Every prefix of a valid file shorter than its last tensor's end is refused, with
   *out untouched (open_copy checks); the longer ones (cut trailing padding) open. */
static void test_truncation(void)
{
    buf b = { 0, 0, 0 };
    size_t end, n;
    int bad = 0, good = 0;
    bl_gguf *g;
    build(&b, 3, 64, 1, two, 2, &end);
    for (n = 0; n < b.n; ++n) {
        bl_status st = open_copy(b.p, n, &g);
        if (n < end ? st != BL_ERR_FORMAT : st != BL_OK) ++bad;
        else ++good;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(good, (int)b.n);
    CHECK_EQ_INT(open_copy(b.p, b.n, &g), BL_OK);
    free(b.p);
}

/* Patches a u32/u64 at a byte position of a freshly built file. */
static size_t find(const buf *b, const char *s)
{
    size_t n = strlen(s), i;
    for (i = 0; i + n <= b->n; ++i)
        if (memcmp(b->p + i, s, n) == 0) return i;
    return (size_t)-1;
}
static void set32(buf *b, size_t at, uint32_t v) { bl__wr32(b->p + at, v); }
static void set64(buf *b, size_t at, uint64_t v) { bl__wr64(b->p + at, v); }

static void test_header(void)
{
    buf b = { 0, 0, 0 };
    size_t at;
    build(&b, 3, 0, 1, two, 2, NULL);
    b.p[0] = 'g';
    CHECK(refused(&b));
    build(&b, 1, 0, 1, two, 2, NULL);
    CHECK(refused(&b));
    build(&b, 4, 0, 1, two, 2, NULL);
    CHECK(refused(&b));
    build(&b, 0x03000000u, 0, 1, two, 2, NULL); /* a big-endian file's version */
    CHECK(refused(&b));
    /* counts: more than the bytes allow, above the limits, 2^63 */
    build(&b, 3, 0, 1, two, 2, NULL);
    set64(&b, 8, 3);
    CHECK(refused(&b));
    set64(&b, 8, (uint64_t)1 << 63);
    CHECK(refused(&b));
    set64(&b, 8, (uint64_t)BL_GGUF_MAX_TENSORS + 1);
    CHECK(refused(&b));
    build(&b, 3, 0, 1, two, 2, NULL);
    set64(&b, 16, N_KVS + 1);
    CHECK(refused(&b));
    set64(&b, 16, UINT64_MAX);
    CHECK(refused(&b));
    set64(&b, 16, (uint64_t)BL_GGUF_MAX_KV + 1);
    CHECK(refused(&b));
    build(&b, 3, 0, 1, two, 2, NULL);
    set64(&b, 16, N_KVS - 1); /* the last kv is read as a tensor info */
    CHECK(refused(&b));
    /* a key's length: one past the end, huge, zero */
    build(&b, 3, 0, 1, two, 2, NULL);
    at = find(&b, "k.u8") - 8;
    set64(&b, at, b.n - at - 8 + 1);
    CHECK(refused(&b));
    set64(&b, at, UINT64_MAX);
    CHECK(refused(&b));
    set64(&b, at, 0);
    CHECK(refused(&b));
    /* a string value's length, an array's count */
    build(&b, 3, 0, 1, two, 2, NULL);
    at = find(&b, "llama") - 8;
    set64(&b, at, UINT64_MAX - 3);
    CHECK(refused(&b));
    build(&b, 3, 0, 1, two, 2, NULL);
    at = find(&b, "tokenizer.tokens") + 16 + 8;
    CHECK_EQ_INT(bl__rd64(b.p + at), 4);
    set64(&b, at, (uint64_t)1 << 61);
    CHECK(refused(&b));
    set64(&b, at, 5);
    CHECK(refused(&b));
    build(&b, 3, 0, 1, two, 2, NULL);
    at = find(&b, "k.arr_i16") + 9 + 8;
    set64(&b, at, UINT64_MAX / 2 + 2); /* count * 2 wraps to 2 */
    CHECK(refused(&b));
    /* types: kv type 13, array of arrays, array element type 13, a bool of 2 */
    build(&b, 3, 0, 1, two, 2, NULL);
    at = find(&b, "k.u8") + 4;
    set32(&b, at, 13);
    CHECK(refused(&b));
    set32(&b, at, 0xFFFFFFFFu);
    CHECK(refused(&b));
    build(&b, 3, 0, 1, two, 2, NULL);
    at = find(&b, "k.arr_i16") + 9;
    set32(&b, at + 4, ARR);
    CHECK(refused(&b));
    set32(&b, at + 4, 13);
    CHECK(refused(&b));
    build(&b, 3, 0, 1, two, 2, NULL);
    at = find(&b, "k.bool") + 6 + 4;
    b.p[at] = 2;
    CHECK(refused(&b));
    /* keys: duplicate, inner 0 byte */
    build(&b, 3, 0, 1, two, 2, NULL);
    at = find(&b, "k.i8");
    b.p[at + 2] = 'u';
    CHECK(refused(&b));
    build(&b, 3, 0, 1, two, 2, NULL);
    at = find(&b, "k.i8");
    b.p[at + 1] = 0;
    CHECK(refused(&b));
    free(b.p);
}

static void test_alignment(void)
{
    buf b = { 0, 0, 0 };
    bl_gguf *g;
    size_t at;
    uint32_t a;
    for (a = 1; a <= 256; a *= 2) { /* every power of two works, tensors land on multiples */
        build(&b, 3, a, 1, two, 2, NULL);
        CHECK_EQ_INT(bl_gguf_open(b.p, b.n, &g), BL_OK);
        if (g) {
            CHECK_EQ_INT(bl_gguf_alignment(g), a);
            CHECK(((const uint8_t *)bl_gguf_get(g, 0)->data - b.p) % a == 0);
            CHECK(((const uint8_t *)bl_gguf_get(g, 1)->data - b.p) % a == 0);
            bl_gguf_close(g);
        }
    }
    build(&b, 3, 3, 1, two, 2, NULL);
    CHECK(refused(&b));
    build(&b, 3, 64, 1, two, 2, NULL);
    at = find(&b, "general.alignment") + 17;
    set32(&b, at + 4, 0);
    CHECK(refused(&b));
    set32(&b, at + 4, 96);
    CHECK(refused(&b));
    set32(&b, at + 4, 0x80000000u); /* a power of two, but the data section cannot start there */
    CHECK(refused(&b));
    set32(&b, at + 4, 64);
    set32(&b, at, I32); /* right value, wrong type */
    CHECK(refused(&b));
    /* as a u64: a different encoding, rebuilt by hand */
    b.n = 0;
    put(&b, "GGUF", 4); put32(&b, 3); put64(&b, 0); put64(&b, 1);
    putstr(&b, "general.alignment"); put32(&b, U64); put64(&b, 64);
    CHECK(refused(&b));
    b.n = 0;
    put(&b, "GGUF", 4); put32(&b, 3); put64(&b, 0); put64(&b, 1);
    putstr(&b, "general.alignment"); put32(&b, ARR); put32(&b, U32); put64(&b, 1); put32(&b, 64);
    CHECK(refused(&b));
    b.n = 0;
    put(&b, "GGUF", 4); put32(&b, 3); put64(&b, 0); put64(&b, 1);
    putstr(&b, "general.alignment"); put32(&b, U32); put32(&b, 64);
    CHECK_EQ_INT(bl_gguf_open(b.p, b.n, &g), BL_OK);
    if (g) { CHECK_EQ_INT(bl_gguf_alignment(g), 64); CHECK_EQ_INT(bl_gguf_count(g), 0); bl_gguf_close(g); }
    free(b.p);
}

static void test_tensor_infos(void)
{
    buf b = { 0, 0, 0 };
    tspec t[3];
    bl_gguf *g;
    size_t at;
    /* n_dims 0 and 5, a zero dimension, dimensions whose product overflows */
    memcpy(t, two, sizeof two);
    build(&b, 3, 0, 0, t, 2, NULL);
    at = find(&b, "a") + 1;
    set32(&b, at, 0);
    CHECK(refused(&b));
    set32(&b, at, 5);
    CHECK(refused(&b));
    build(&b, 3, 0, 0, t, 2, NULL);
    set64(&b, at + 4, 0);
    CHECK(refused(&b));
    set64(&b, at + 4, (uint64_t)1 << 63);
    CHECK(refused(&b));
    t[0].ne[0] = (uint64_t)1 << 32; t[0].ne[1] = (uint64_t)1 << 31;
    build(&b, 3, 0, 0, t, 2, NULL); /* 2^63 elements */
    CHECK(refused(&b));
    t[0].ne[0] = (uint64_t)1 << 32; t[0].ne[1] = ((uint64_t)1 << 31) - 1; /* < 2^63, but the bytes are not there */
    t[0].nbytes = 4;
    t[0].type = G_I8;
    build(&b, 3, 0, 0, t, 2, NULL);
    CHECK(refused(&b));
    /* type ids: negative, a block type whose rows are not whole blocks */
    memcpy(t, two, sizeof two);
    t[1].type = 0xFFFFFFFFu;
    build(&b, 3, 0, 0, t, 2, NULL);
    CHECK(refused(&b));
    t[1].type = G_Q8_0; t[1].ne[0] = 33; t[1].nbytes = 34 * 2;
    build(&b, 3, 0, 0, t, 2, NULL);
    CHECK(refused(&b));
    t[1].type = G_I2_S; t[1].ne[0] = 64; t[1].ne[1] = 2; t[1].nbytes = 64;
    build(&b, 3, 0, 0, t, 2, NULL);
    CHECK(refused(&b));
    /* names: duplicate, empty, inner 0 byte */
    memcpy(t, two, sizeof two);
    t[1].name = "a";
    build(&b, 3, 0, 1, t, 2, NULL);
    CHECK(refused(&b));
    t[1].name = "";
    build(&b, 3, 0, 1, t, 2, NULL);
    CHECK(refused(&b));
    t[1].name = "b";
    build(&b, 3, 0, 0, t, 2, NULL);
    b.p[find(&b, "b")] = 0;
    CHECK(refused(&b));
    /* offsets: overlapping, out of order, misaligned, past the data, gaps (allowed) */
    memcpy(t, two, sizeof two);
    t[1].offset = 0;
    build(&b, 3, 0, 0, t, 2, NULL);
    CHECK(refused(&b));
    t[0].offset = 64; t[1].offset = 0;
    build(&b, 3, 0, 0, t, 2, NULL);
    CHECK(refused(&b));
    t[0].offset = 0; t[1].offset = 48;
    build(&b, 3, 0, 0, t, 2, NULL);
    CHECK(refused(&b));
    t[1].offset = 128; /* a gap of 96 bytes */
    build(&b, 3, 0, 0, t, 2, NULL);
    CHECK_EQ_INT(bl_gguf_open(b.p, b.n, &g), BL_OK);
    if (g) bl_gguf_close(g);
    at = find(&b, "b") + 1 + 4 + 16 + 4;
    CHECK_EQ_INT(bl__rd64(b.p + at), 128);
    set64(&b, at, 160);
    CHECK(refused(&b));
    set64(&b, at, UINT64_MAX - 31);
    CHECK(refused(&b));
    free(b.p);
}

/* Types this library does not know take their size from the offsets. */
static void test_unknown_types(void)
{
    buf b = { 0, 0, 0 };
    tspec t[3];
    bl_gguf *g = NULL;
    size_t end;
    memcpy(t, two, sizeof two);
    t[2] = two[0];
    t[2].name = "c";
    t[1].type = G_Q4_0; t[1].ne[0] = 256; t[1].nbytes = 144; /* Q4_0: 8 blocks of 18 bytes */
    build(&b, 3, 0, 0, t, 3, &end);
    CHECK_EQ_INT(bl_gguf_open(b.p, b.n, &g), BL_OK);
    if (g) {
        const bl_tensor *u = bl_gguf_find(g, "b");
        CHECK(u->dtype == BL_DTYPE_OTHER && u->ggml_type == G_Q4_0 && u->elem_bytes == 0);
        CHECK_EQ_INT(u->nbytes, 160); /* up to the next tensor: 144 rounded up to 32 */
        CHECK((const uint8_t *)u->data + 160 == bl_gguf_find(g, "c")->data);
        bl_gguf_close(g);
    }
    /* the last tensor unknown: up to the end of the data section */
    t[1].type = 1000;
    build(&b, 3, 0, 0, t, 2, &end);
    CHECK_EQ_INT(bl_gguf_open(b.p, b.n, &g), BL_OK);
    if (g) {
        const bl_tensor *u = bl_gguf_get(g, 1);
        CHECK(u->dtype == BL_DTYPE_OTHER && u->ggml_type == 1000);
        CHECK((const uint8_t *)u->data + u->nbytes == b.p + b.n);
        bl_gguf_close(g);
    }
    b.n = end - 144; /* the data section ends at its offset: no bytes for it */
    CHECK(refused(&b));
    /* unknown, then a tensor at the same offset: its size cannot be known */
    t[2].offset = 32;
    t[1].offset = 32;
    t[1].nbytes = 0;
    build(&b, 3, 0, 0, t, 3, NULL);
    CHECK(refused(&b));
    free(b.p);
}

/* A failed open frees everything it allocated through the caller's allocator. */
static int live_allocs;
static void *count_alloc(size_t n, void *user) { (void)user; ++live_allocs; return malloc(n); }
static void count_free(void *p, void *user) { (void)user; --live_allocs; free(p); }
static void test_allocator(void)
{
    buf b = { 0, 0, 0 };
    bl_allocator a;
    bl_gguf *g = NULL;
    tspec t[2];
    a.alloc = count_alloc;
    a.free = count_free;
    a.user = NULL;
    build(&b, 3, 0, 1, every_type, N_EVERY, NULL);
    CHECK_EQ_INT(bl_gguf_open_with(b.p, b.n, &a, &g), BL_OK);
    CHECK_EQ_INT(live_allocs, 1);
    bl_gguf_close(g);
    CHECK_EQ_INT(live_allocs, 0);
    memcpy(t, two, sizeof two);
    t[1].name = "a"; /* found only after the allocation */
    build(&b, 3, 0, 1, t, 2, NULL);
    g = NULL;
    CHECK_EQ_INT(bl_gguf_open_with(b.p, b.n, &a, &g), BL_ERR_FORMAT);
    CHECK(g == NULL);
    CHECK_EQ_INT(live_allocs, 0);
    free(b.p);
}

int main(void)
{
    test_dtypes();
    test_kv_accessors();
    test_valid();
    test_kv_values();
    test_truncation();
    test_header();
    test_alignment();
    test_tensor_infos();
    test_unknown_types();
    test_allocator();
    return bt_summary("test_gguf");
}
