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
            memset(&s, 0, sizeof s);
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
    /* the largest alignment with no tensors: nothing has to start there, so the file
       opens; written back, the header is padded to it as ggml's writer does, and the
       size query says so without allocating it */
    set32(&b, b.n - 4, 0x80000000u);
    CHECK_EQ_INT(bl_gguf_open(b.p, b.n, &g), BL_OK);
    if (g) {
        bl_model_contents c;
        size_t size = 0;
        memset(&c, 0, sizeof c);
        c.kvs = bl_gguf_kv(g, 0);
        c.kv_count = 1;
        CHECK_EQ_INT(bl_gguf_save(&c, BL_DTYPE_TQ2_0, NULL, 0, &size), BL_OK);
        CHECK(size == (size_t)0x80000000u);
        bl_gguf_close(g);
    }
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

/* ---- the writer ---- */

/* IEEE half -> float, from the definition */
static double ref_half_value(unsigned h)
{
    int e = (int)((h >> 10) & 31u);
    double m = (double)(h & 1023u), v = e == 0 ? ldexp(m, -24) : ldexp(1024.0 + m, e - 25);
    return (h & 0x8000u) ? -v : v;
}

/* float -> half by search: the nearest of all finite halves, ties to the even code;
   0 when the nearest-even choice would be beyond 65504 (the value rounds to infinity). */
static int ref_half(float f, uint16_t *out)
{
    double x = fabs((double)f), best_d = 1e300;
    unsigned h, best = 0;
    if (!(x <= 1e300)) return 0;
    if (x >= 65520.0) return 0;
    for (h = 0; h < 0x7C00u; ++h) {
        double d = fabs(ref_half_value(h) - x);
        if (d < best_d || (d == best_d && (h & 1u) == 0)) { best_d = d; best = h; }
    }
    *out = (uint16_t)(best | (f < 0 ? 0x8000u : 0u));
    return 1;
}

static void test_half(void)
{
    static const float cases[] = { 0.0f, 1.0f, -1.0f, 65504.0f, 65519.99f, 65520.0f, 1e6f, 5.9604645e-8f,
                                   2.9802322e-8f, 2.98023259e-8f, 8.940697e-8f, 6.1035156e-5f, 6.1030e-5f,
                                   0.33333334f, 1.0009766f, 1.00048828125f, 1.00146484375f, -0.0f, 1e-30f };
    int bad = 0, i;
    unsigned h;
    uint16_t a = 0, b = 0;
    for (i = 0; i < (int)(sizeof cases / sizeof cases[0]); ++i) {
        int ra = bl__gguf_half(cases[i], &a), rb = ref_half(cases[i], &b);
        if (ra != rb || (ra && a != b && !(cases[i] == 0.0f))) ++bad;
    }
#ifdef BITLINEAR_TEST_QUICK
    const int random_values = 300; /* the search is slow under qemu */
#else
    const int random_values = 3000;
#endif
    for (i = 0; i < random_values; ++i) { /* random magnitudes across the whole half range */
        float f = ldexpf(bt_uniform(0.5f, 1.0f), bt_int(-27, 17)) * (bt_u32() & 1 ? 1.0f : -1.0f);
        int ra = bl__gguf_half(f, &a), rb = ref_half(f, &b);
        if (ra != rb || (ra && a != b)) ++bad;
    }
    for (h = 0; h < 0x7C00u; ++h) { /* every half is exact */
        float f = (float)ref_half_value(h);
        if (!bl__gguf_half(f, &a) || a != h || !bl__gguf_half(-f, &a) || a != (h | 0x8000u)) ++bad;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK(!bl__gguf_half(INFINITY, &a) && !bl__gguf_half(NAN, &a));
}

/* Where element i of a 256-element block lives, read off ggml-quants.c's
   dequantize_row_tq2_0 / dequantize_row_tq1_0 loops: the byte and the digit within it. */
static void ref_tq2_place(int i, int *byte, int *digit)
{
    int j = i / 128, l = (i % 128) / 32, m = i % 32; /* for j (2 halves) for l (4 shifts) for m (32 bytes) */
    *byte = j * 32 + m;
    *digit = l;
}
static void ref_tq1_place(int i, int *byte, int *digit)
{
    if (i < 160) { *byte = i % 32; *digit = i / 32; }                    /* qs[0..32): 5 x 32 */
    else if (i < 240) { *byte = 32 + (i - 160) % 16; *digit = (i - 160) / 16; } /* qs[32..48): 5 x 16 */
    else { *byte = 48 + (i - 240) % 4; *digit = (i - 240) / 4; }          /* qh[4]: 4 x 4 */
}
/* The block, slowly: TQ2_0 codes are trit+1 at bits 2*digit; TQ1_0 bytes are the
   base-3 number of their digits (digit 0 most significant, five digits, qh's fifth
   is 0) stored as ceil(v * 256 / 243) (quantize_row_tq1_0_ref). */
static void ref_block(int tq1, const int8_t *t, uint16_t d, uint8_t *out)
{
    int value[64], i, byte, digit, p3;
    memset(value, 0, sizeof value);
    for (i = 0; i < 256; ++i) {
        if (tq1) {
            ref_tq1_place(i, &byte, &digit);
            for (p3 = 1; digit < 4; ++digit) p3 *= 3;
            value[byte] += (t[i] + 1) * p3;
        } else {
            ref_tq2_place(i, &byte, &digit);
            value[byte] += (t[i] + 1) << (2 * digit);
        }
    }
    for (i = 0; i < (tq1 ? 52 : 64); ++i) out[i] = (uint8_t)(tq1 ? (value[i] * 256 + 242) / 243 : value[i]);
    out[tq1 ? 52 : 64] = (uint8_t)(d & 255u);
    out[tq1 ? 53 : 65] = (uint8_t)(d >> 8);
}
/* ggml's decoding of one element, as dequantize_row_tq1_0/tq2_0 do it. */
static int ref_decode(int tq1, const uint8_t *block, int i)
{
    int byte, digit;
    if (tq1) {
        static const uint8_t pow3[5] = { 1, 3, 9, 27, 81 };
        ref_tq1_place(i, &byte, &digit);
        return (int)(((unsigned)(uint8_t)(block[byte] * pow3[digit]) * 3u) >> 8) - 1;
    }
    ref_tq2_place(i, &byte, &digit);
    return (int)((block[byte] >> (2 * digit)) & 3u) - 1;
}

static void test_blocks(void)
{
    int8_t t[256];
    uint8_t a[66], b[66];
    int iter, i, bad = 0, bad_decode = 0;
    for (iter = 0; iter < 400; ++iter) {
        uint16_t d = (uint16_t)bt_u32();
        int mode = iter % 4;
        for (i = 0; i < 256; ++i) t[i] = (int8_t)(mode == 0 ? bt_int(-1, 1) : mode == 1 ? 1 : mode == 2 ? -1 : 0);
        bl__tq2_block(t, d, a);
        ref_block(0, t, d, b);
        if (memcmp(a, b, 66) != 0) ++bad;
        for (i = 0; i < 256; ++i) if (ref_decode(0, a, i) != t[i]) ++bad_decode;
        bl__tq1_block(t, d, a);
        ref_block(1, t, d, b);
        if (memcmp(a, b, 54) != 0) ++bad;
        for (i = 0; i < 256; ++i) if (ref_decode(1, a, i) != t[i]) ++bad_decode;
    }
    CHECK_EQ_INT(bad, 0);
    CHECK_EQ_INT(bad_decode, 0);
}

/* A layer [out][in] from random trits and the given scales. */
static bl_linear *trit_layer(int in, int out, const float *scales, int bias, int8_t **trits_out)
{
    bl_linear_desc d;
    bl_linear *L = NULL;
    int8_t *t = (int8_t *)bt_alloc((size_t)in * (size_t)out);
    float *bvec = (float *)bt_alloc(sizeof(float) * (size_t)out);
    size_t i;
    for (i = 0; i < (size_t)in * (size_t)out; ++i) t[i] = (int8_t)bt_int(-1, 1);
    for (i = 0; i < (size_t)out; ++i) bvec[i] = bt_gauss();
    memset(&d, 0, sizeof d);
    d.in_features = in;
    d.out_features = out;
    d.trits = t;
    d.scales = scales;
    d.bias = bias ? bvec : NULL;
    d.format = out % 2 ? BL_FORMAT_BASE3 : BL_FORMAT_2BIT;
    CHECK_EQ_INT(bl_linear_create(&d, &L), BL_OK);
    free(bvec);
    if (trits_out) *trits_out = t;
    else free(t);
    return L;
}

/* kvs of every type, arrays of each, strings with empty and UTF-8 members */
static uint8_t kv_bytes[64];
static bl_str kv_strs[5];
#define W_KVS 17
static void make_kvs(bl_kv *kv)
{
    static const char *names[W_KVS] = { "u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "u64", "i64",
                                        "f64", "str", "a.str", "a.i32", "a.empty", "a.bool", "general.name" };
    static const bl_value_type types[13] = { BL_VALUE_U8, BL_VALUE_I8, BL_VALUE_U16, BL_VALUE_I16, BL_VALUE_U32,
                                             BL_VALUE_I32, BL_VALUE_F32, BL_VALUE_BOOL, BL_VALUE_U64, BL_VALUE_I64,
                                             BL_VALUE_F64, BL_VALUE_STRING };
    int i;
    for (i = 0; i < 64; ++i) kv_bytes[i] = (uint8_t)(i * 37 + 5);
    kv_bytes[7 * 4] = 1; /* the bool */
    kv_bytes[48] = 0; kv_bytes[49] = 1; /* the bool array */
    kv_strs[0].data = ""; kv_strs[0].size = 0;
    kv_strs[1].data = "\xE6\x97\xA5\xE6\x9C\xAC"; kv_strs[1].size = 6;
    kv_strs[2].data = "merges a b"; kv_strs[2].size = 10;
    kv_strs[3].data = NULL; kv_strs[3].size = 0;
    kv_strs[4].data = "bitlinear test"; kv_strs[4].size = 14;
    memset(kv, 0, sizeof(bl_kv) * W_KVS);
    for (i = 0; i < W_KVS; ++i) {
        kv[i].key = names[i];
        kv[i].count = 1;
        if (i < 12) {
            kv[i].type = kv[i].elem_type = types[i];
            kv[i].data = types[i] == BL_VALUE_STRING ? (const void *)&kv_strs[1] : (const void *)(kv_bytes + 4 * i);
        }
    }
    kv[12].type = BL_VALUE_ARRAY; kv[12].elem_type = BL_VALUE_STRING; kv[12].count = 4; kv[12].data = kv_strs;
    kv[13].type = BL_VALUE_ARRAY; kv[13].elem_type = BL_VALUE_I32; kv[13].count = 3; kv[13].data = kv_bytes + 1;
    kv[14].type = BL_VALUE_ARRAY; kv[14].elem_type = BL_VALUE_F64; kv[14].count = 0; kv[14].data = NULL;
    kv[15].type = BL_VALUE_ARRAY; kv[15].elem_type = BL_VALUE_BOOL; kv[15].count = 2; kv[15].data = kv_bytes + 48;
    kv[16].type = kv[16].elem_type = BL_VALUE_STRING; kv[16].data = &kv_strs[4];
}

/* Float and other tensors of odd shapes with recognisable bytes. */
#define W_TENSORS 7
static uint8_t tensor_bytes[4096];
static void make_tensors(bl_tensor *t)
{
    static const struct { const char *name; bl_dtype dtype; int ndim; int64_t shape[4]; } spec[W_TENSORS] = {
        { "token_embd.weight", BL_DTYPE_F32, 2, { 5, 3 } }, { "output_norm.weight", BL_DTYPE_F16, 1, { 7 } },
        { "bf16.3d", BL_DTYPE_BF16, 3, { 2, 1, 3 } },       { "q8", BL_DTYPE_Q8_0, 2, { 3, 64 } },
        { "i32.4d", BL_DTYPE_I32, 4, { 1, 2, 1, 3 } },      { "f64", BL_DTYPE_F64, 1, { 1 } },
        { "i8", BL_DTYPE_I8, 2, { 1, 9 } },
    };
    size_t at = 0;
    int i, j;
    for (i = 0; i < 4096; ++i) tensor_bytes[i] = (uint8_t)bt_u32();
    memset(t, 0, sizeof(bl_tensor) * W_TENSORS);
    for (i = 0; i < W_TENSORS; ++i) {
        uint64_t n = 1;
        t[i].name = spec[i].name;
        t[i].dtype = spec[i].dtype;
        t[i].ndim = spec[i].ndim;
        for (j = 0; j < spec[i].ndim; ++j) { t[i].shape[j] = spec[i].shape[j]; n *= (uint64_t)spec[i].shape[j]; }
        t[i].nbytes = bl_dtype_size(spec[i].dtype, n);
        t[i].data = tensor_bytes + at;
        t[i].ggml_type = -1;
        at += t[i].nbytes;
    }
}

static void test_writer_round_trip(void)
{
    static const int shapes[][2] = { { 256, 3 }, { 512, 5 }, { 768, 1 }, { 256, 2 } };
    bl_kv kv[W_KVS + 1];
    bl_tensor tens[W_TENSORS];
    bl_model_entry layers[4];
    int8_t *trits[4];
    float scales[4][8];
    bl_model_contents c;
    int tq, L, i, j;
    uint8_t align_le[4] = { 64, 0, 0, 0 };
    make_kvs(kv);
    make_tensors(tens);
    memset(layers, 0, sizeof layers);
    for (L = 0; L < 4; ++L) {
        for (i = 0; i < 8; ++i) scales[L][i] = ldexpf(bt_uniform(0.5f, 1.0f), bt_int(-26, 15));
        scales[L][0] = L == 3 ? 0.0f : scales[L][0];
        layers[L].layer = trit_layer(shapes[L][0], shapes[L][1], scales[L], L % 2 == 0, &trits[L]);
    }
    layers[0].name = "blk.0.attn_q.weight";
    layers[1].name = "blk.0.ffn_up.weight";
    layers[2].name = "proj";
    layers[3].name = "blk.1.weight.w";
    memset(&c, 0, sizeof c);
    c.layers = layers; c.layer_count = 4;
    c.tensors = tens; c.tensor_count = W_TENSORS;
    c.kvs = kv; c.kv_count = W_KVS;
    for (tq = 0; tq < 4; ++tq) {
        bl_dtype tt = tq % 2 ? BL_DTYPE_TQ1_0 : BL_DTYPE_TQ2_0;
        size_t size = 0, size2 = 0, a = tq >= 2 ? 64 : 32, bb = tq % 2 ? 54 : 66;
        uint8_t *file;
        bl_gguf *g = NULL;
        if (tq >= 2) { /* the model's own alignment */
            kv[W_KVS].key = "general.alignment";
            kv[W_KVS].type = kv[W_KVS].elem_type = BL_VALUE_U32;
            kv[W_KVS].count = 1;
            kv[W_KVS].data = align_le;
            c.kv_count = W_KVS + 1;
        }
        CHECK_EQ_INT(bl_gguf_save(&c, tt, NULL, 0, &size), BL_OK);
        file = (uint8_t *)bt_alloc(size + 1);
        file[size] = 0xA5;
        CHECK_EQ_INT(bl_gguf_save(&c, tt, file, size + 1, &size2), BL_OK);
        CHECK_EQ_INT(size2, size);
        CHECK_EQ_INT(file[size], 0xA5);
        CHECK_EQ_INT(bl_gguf_open(file, size, &g), BL_OK);
        if (!g) { free(file); continue; }
        CHECK_EQ_INT(bl_gguf_version(g), 3);
        CHECK_EQ_INT(bl_gguf_alignment(g), a);
        CHECK_EQ_INT(bl_gguf_kv_count(g), c.kv_count);
        for (i = 0; i < c.kv_count; ++i) { /* every kv: same key, types, count and bytes */
            const bl_kv *r = bl_gguf_kv(g, i);
            uint64_t e;
            CHECK(r && strcmp(r->key, kv[i].key) == 0 && r->type == kv[i].type && r->elem_type == kv[i].elem_type &&
                  r->count == (kv[i].type == BL_VALUE_ARRAY ? kv[i].count : 1));
            if (!r) continue;
            if (r->elem_type == BL_VALUE_STRING) {
                for (e = 0; e < r->count; ++e) {
                    const bl_str *x = (const bl_str *)r->data + e, *y = (const bl_str *)kv[i].data + e;
                    CHECK(x->size == y->size && (x->size == 0 || memcmp(x->data, y->data, (size_t)x->size) == 0));
                }
            } else if (r->count) {
                CHECK(memcmp(r->data, kv[i].data, (size_t)r->count * bl__value_size(r->elem_type)) == 0);
            }
        }
        CHECK_EQ_INT(bl_gguf_count(g), W_TENSORS + 4 + 2);
        for (i = 0; i < W_TENSORS; ++i) { /* tensors as given, in order, shape and bytes */
            const bl_tensor *r = bl_gguf_get(g, i);
            CHECK(r && strcmp(r->name, tens[i].name) == 0 && r->dtype == tens[i].dtype && r->ndim == tens[i].ndim &&
                  r->nbytes == tens[i].nbytes && memcmp(r->data, tens[i].data, r->nbytes) == 0 &&
                  memcmp(r->shape, tens[i].shape, sizeof r->shape) == 0);
            CHECK(r && ((const uint8_t *)r->data - file) % a == 0);
        }
        for (L = 0; L < 4; ++L) { /* layers: reference blocks from the trits and fp16 scales */
            const bl_tensor *w = bl_gguf_find(g, layers[L].name);
            int in = shapes[L][0], out = shapes[L][1], bad = 0;
            uint8_t ref[66];
            CHECK(w && w->dtype == tt && w->ndim == 2 && w->shape[0] == out && w->shape[1] == in &&
                  w->nbytes == (size_t)out * (size_t)(in / 256) * bb && ((const uint8_t *)w->data - file) % a == 0);
            if (!w) continue;
            for (i = 0; i < out; ++i) {
                uint16_t d;
                CHECK(ref_half(scales[L][i], &d));
                for (j = 0; j < in / 256; ++j) {
                    ref_block(tq % 2, trits[L] + (size_t)i * (size_t)in + (size_t)j * 256, d, ref);
                    if (memcmp(ref, (const uint8_t *)w->data + ((size_t)i * (size_t)(in / 256) + (size_t)j) * bb, bb))
                        ++bad;
                }
            }
            CHECK_EQ_INT(bad, 0);
        }
        { /* biases under llama.cpp's names, F32 [out] */
            static const char *bias_names[2] = { "blk.0.attn_q.bias", "proj.bias" };
            for (L = 0; L < 2; ++L) {
                const bl_tensor *b = bl_gguf_find(g, bias_names[L]);
                bl_linear_info info;
                memset(&info, 0, sizeof info);
                bl_linear_get_info(layers[2 * L].layer, &info);
                CHECK(b && b->dtype == BL_DTYPE_F32 && b->ndim == 1 && b->shape[0] == info.out_features);
                if (!b) continue;
                for (i = 0; i < info.out_features; ++i) CHECK(bl__rdf32((const uint8_t *)b->data + 4 * i) == info.bias[i]);
            }
            CHECK(bl_gguf_find(g, "blk.0.ffn_up.bias") == NULL && bl_gguf_find(g, "blk.1.weight.w.bias") == NULL);
        }
        bl_gguf_close(g);
        free(file);
        c.kv_count = W_KVS;
    }
    for (L = 0; L < 4; ++L) {
        bl_linear_destroy((bl_linear *)(uintptr_t)layers[L].layer);
        free(trits[L]);
    }
}

/* Contents the writer refuses, each before writing a byte. */
static void test_writer_errors(void)
{
    bl_kv kv[W_KVS + 1];
    bl_tensor tens[W_TENSORS];
    bl_model_entry e[2];
    bl_model_contents c;
    float sc[4] = { 1.0f, 0.5f, 0.25f, 2.0f }, big[2] = { 1.0f, 70000.0f };
    uint8_t dst[64], bad_bool = 2, align3[4] = { 3, 0, 0, 0 };
    size_t size = 0;
    bl_linear *ok = trit_layer(256, 4, sc, 1, NULL), *odd = trit_layer(320, 4, sc, 0, NULL);
    bl_linear *huge = trit_layer(256, 2, big, 0, NULL), *k2 = NULL, *rot = NULL;
    bl_linear_desc d;
    float *w = (float *)bt_alloc(sizeof(float) * 256 * 4);
    char long_name[80];
    int i;
    for (i = 0; i < 256 * 4; ++i) w[i] = bt_gauss();
    memset(&d, 0, sizeof d);
    d.in_features = 256; d.out_features = 4; d.weight = w; d.k = 2;
    CHECK_EQ_INT(bl_linear_create(&d, &k2), BL_OK);
    d.k = 1; d.hadamard = 1; d.hadamard_seed = 7;
    CHECK_EQ_INT(bl_linear_create(&d, &rot), BL_OK);
    make_kvs(kv);
    make_tensors(tens);
    memset(e, 0, sizeof e);
    memset(&c, 0, sizeof c);
    e[0].name = "a.weight"; e[0].layer = ok;
    c.layers = e; c.layer_count = 1;
    c.tensors = tens; c.tensor_count = W_TENSORS;
    c.kvs = kv; c.kv_count = W_KVS;
    CHECK_EQ_INT(bl_gguf_save(&c, BL_DTYPE_TQ2_0, NULL, 0, &size), BL_OK);
    CHECK_EQ_INT(bl_gguf_save(&c, BL_DTYPE_TQ2_0, NULL, 0, NULL), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_gguf_save(NULL, BL_DTYPE_TQ2_0, NULL, 0, &size), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_gguf_save(&c, BL_DTYPE_F32, NULL, 0, &size), BL_ERR_INVALID);
    CHECK_EQ_INT(bl_gguf_save(&c, BL_DTYPE_I2_S, NULL, 0, &size), BL_ERR_INVALID);
    memset(dst, 0x5A, sizeof dst); /* too small: nothing written */
    CHECK_EQ_INT(bl_gguf_save(&c, BL_DTYPE_TQ2_0, dst, sizeof dst, &size), BL_ERR_INVALID);
    for (i = 0; i < (int)sizeof dst; ++i) CHECK(dst[i] == 0x5A);
#define REFUSED(st) CHECK_EQ_INT(bl_gguf_save(&c, BL_DTYPE_TQ1_0, NULL, 0, &size), st)
    e[0].layer = odd; REFUSED(BL_ERR_UNSUPPORTED);
    e[0].layer = huge; REFUSED(BL_ERR_UNSUPPORTED);
    e[0].layer = k2; REFUSED(BL_ERR_UNSUPPORTED);
    e[0].layer = rot; REFUSED(BL_ERR_UNSUPPORTED);
    e[0].layer = ok; e[0].flags = BL_LAYER_FLAG_HADAMARD; REFUSED(BL_ERR_UNSUPPORTED);
    e[0].flags = 8; REFUSED(BL_ERR_INVALID);
    e[0].flags = 0; e[0].layer = NULL; REFUSED(BL_ERR_INVALID);
    e[0].layer = ok; e[0].name = NULL; REFUSED(BL_ERR_INVALID);
    e[0].name = ""; REFUSED(BL_ERR_INVALID);
    memset(long_name, 'x', sizeof long_name);
    long_name[63] = 0; e[0].name = long_name; REFUSED(BL_ERR_UNSUPPORTED); /* its bias: 63 + ".bias" */
    e[0].layer = odd; long_name[63] = 0; e[0].layer = huge; e[0].layer = NULL;
    e[0].layer = trit_layer(256, 2, sc, 0, NULL);
    REFUSED(BL_OK); /* 63 bytes, no bias: fits */
    long_name[63] = 'x'; long_name[64] = 0; REFUSED(BL_ERR_UNSUPPORTED);
    bl_linear_destroy((bl_linear *)(uintptr_t)e[0].layer);
    e[0].layer = ok;
    e[0].name = "q8"; REFUSED(BL_ERR_INVALID);                     /* a tensor's name */
    e[0].name = "token_embd.weight"; REFUSED(BL_ERR_INVALID);
    e[0].name = "output_norm"; tens[1].name = "output_norm.bias"; REFUSED(BL_ERR_INVALID); /* the bias's name */
    tens[1].name = "output_norm.weight"; e[0].name = "a.weight";
    e[1] = e[0]; c.layer_count = 2; REFUSED(BL_ERR_INVALID);       /* two layers of one name */
    c.layer_count = 1;
    /* tensors */
    tens[0].dtype = BL_DTYPE_U8; tens[0].nbytes = 15; REFUSED(BL_ERR_UNSUPPORTED);
    tens[0].dtype = BL_DTYPE_OTHER; REFUSED(BL_ERR_INVALID);
    tens[0].dtype = BL_DTYPE_F32; tens[0].nbytes = 59; REFUSED(BL_ERR_INVALID);
    tens[0].nbytes = 60; tens[0].shape[1] = 0; REFUSED(BL_ERR_INVALID);
    tens[0].shape[1] = 3; tens[0].ndim = 5; REFUSED(BL_ERR_UNSUPPORTED);
    tens[0].ndim = 0; REFUSED(BL_ERR_INVALID);
    tens[0].ndim = 2; tens[3].shape[1] = 48; tens[3].nbytes = 3 * 48 / 32 * 34; REFUSED(BL_ERR_INVALID); /* Q8_0 rows of 48 */
    tens[3].shape[1] = 64; tens[3].nbytes = 3 * 2 * 34;
    tens[2].data = NULL; REFUSED(BL_ERR_INVALID);
    tens[2].data = tensor_bytes; REFUSED(BL_OK);
    /* kvs */
    kv[3].key = "u8"; REFUSED(BL_ERR_INVALID);
    kv[3].key = ""; REFUSED(BL_ERR_INVALID);
    kv[3].key = NULL; REFUSED(BL_ERR_INVALID);
    kv[3].key = "i16"; kv[7].data = &bad_bool; REFUSED(BL_ERR_INVALID);
    kv[7].data = NULL; REFUSED(BL_ERR_INVALID);
    kv[7].data = kv_bytes + 28; kv[13].elem_type = BL_VALUE_ARRAY; REFUSED(BL_ERR_INVALID);
    kv[13].elem_type = (bl_value_type)13; REFUSED(BL_ERR_INVALID);
    kv[13].elem_type = BL_VALUE_I32; kv[0].type = (bl_value_type)13; REFUSED(BL_ERR_INVALID);
    kv[0].type = BL_VALUE_U8; kv_strs[3].size = 2; REFUSED(BL_ERR_INVALID); /* NULL bytes of size 2 */
    kv_strs[3].size = 0;
    kv[W_KVS].key = "general.alignment"; kv[W_KVS].type = kv[W_KVS].elem_type = BL_VALUE_U32;
    kv[W_KVS].count = 1; kv[W_KVS].data = align3; c.kv_count = W_KVS + 1; REFUSED(BL_ERR_INVALID);
    align3[0] = 0; REFUSED(BL_ERR_INVALID);
    align3[0] = 16; REFUSED(BL_OK);
    kv[W_KVS].type = kv[W_KVS].elem_type = BL_VALUE_I32; REFUSED(BL_ERR_INVALID);
    c.kv_count = W_KVS;
    REFUSED(BL_OK);
    c.layer_count = -1; REFUSED(BL_ERR_INVALID);
    c.layer_count = 1; c.layers = NULL; REFUSED(BL_ERR_INVALID);
#undef REFUSED
    bl_linear_destroy(ok); bl_linear_destroy(odd); bl_linear_destroy(huge); bl_linear_destroy(k2);
    bl_linear_destroy(rot);
    free(w);
}

static void test_writer_path(void)
{
#ifndef BITLINEAR_NO_STDIO
    const char *path = "build/test/test_gguf_out.gguf";
    float sc[2] = { 0.75f, 1.25f }, big[2] = { 1e9f, 1.0f };
    bl_linear *L = trit_layer(512, 2, sc, 1, NULL), *H = trit_layer(256, 2, big, 0, NULL);
    bl_model_entry e;
    bl_model_contents c;
    size_t size = 0, got;
    uint8_t *mem, *disk;
    FILE *f;
    memset(&e, 0, sizeof e);
    memset(&c, 0, sizeof c);
    e.name = "w.weight"; e.layer = L;
    c.layers = &e; c.layer_count = 1;
    CHECK_EQ_INT(bl_gguf_save(&c, BL_DTYPE_TQ1_0, NULL, 0, &size), BL_OK);
    mem = (uint8_t *)bt_alloc(size);
    disk = (uint8_t *)bt_alloc(size + 16);
    CHECK_EQ_INT(bl_gguf_save(&c, BL_DTYPE_TQ1_0, mem, size, &size), BL_OK);
    (void)remove(path);
    CHECK_EQ_INT(bl_gguf_save_path(&c, BL_DTYPE_TQ1_0, path), BL_OK);
    f = fopen(path, "rb");
    CHECK(f != NULL);
    if (f) {
        got = fread(disk, 1, size + 16, f);
        fclose(f);
        CHECK_EQ_INT(got, size);
        CHECK(memcmp(mem, disk, size) == 0);
    }
    (void)remove(path);
    e.layer = H; /* refused before the file is created */
    CHECK_EQ_INT(bl_gguf_save_path(&c, BL_DTYPE_TQ1_0, path), BL_ERR_UNSUPPORTED);
    f = fopen(path, "rb");
    CHECK(f == NULL);
    if (f) fclose(f);
    e.layer = L;
    CHECK_EQ_INT(bl_gguf_save_path(&c, BL_DTYPE_TQ1_0, "build/test/no/such/dir/x.gguf"), BL_ERR_IO);
    CHECK_EQ_INT(bl_gguf_save_path(&c, BL_DTYPE_TQ1_0, NULL), BL_ERR_INVALID);
    free(mem);
    free(disk);
    bl_linear_destroy(L);
    bl_linear_destroy(H);
#endif
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
    test_half();
    test_blocks();
    test_writer_round_trip();
    test_writer_errors();
    test_writer_path();
    return bt_summary("test_gguf");
}
