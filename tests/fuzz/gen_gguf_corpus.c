/* Writes the GGUF fuzz seeds into tests/fuzz/corpus/gguf/ (run from the repository root):
   small valid files from bl_gguf_save, and two built by hand with what the writer does
   not produce (an I2_S tensor, a type unknown to the library, GGUF version 2; no tensors
   and the largest alignment, whose copy the writer pads to 2 GiB). */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void save(const char *name, const void *p, size_t n)
{
    char path[256];
    FILE *f;
    snprintf(path, sizeof path, "tests/fuzz/corpus/gguf/%s", name);
    f = fopen(path, "wb");
    if (!f || fwrite(p, 1, n, f) != n || fclose(f) != 0) { fprintf(stderr, "cannot write %s\n", path); exit(1); }
}

static void save_contents(const char *name, const bl_model_contents *c, bl_dtype tt)
{
    size_t size = 0;
    uint8_t *p;
    if (bl_gguf_save(c, tt, NULL, 0, &size) != BL_OK) exit(1);
    p = (uint8_t *)malloc(size);
    if (!p || bl_gguf_save(c, tt, p, size, &size) != BL_OK) exit(1);
    save(name, p, size);
    free(p);
}

typedef struct { uint8_t b[1024]; size_t n; } buf;
static void put(buf *b, const void *p, size_t n) { memcpy(b->b + b->n, p, n); b->n += n; }
static void u32(buf *b, uint32_t v) { uint8_t x[4]; bl__wr32(x, v); put(b, x, 4); }
static void u64(buf *b, uint64_t v) { uint8_t x[8]; bl__wr64(x, v); put(b, x, 8); }
static void str(buf *b, const char *s) { u64(b, strlen(s)); put(b, s, strlen(s)); }
static void pad(buf *b) { while (b->n % 32) b->b[b->n++] = 0; }

int main(void)
{
    static const uint8_t u8v = 7, boolv = 1, i32v[8] = { 1, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF };
    static const float scales[2] = { 0.5f, 0.25f };
    bl_str strs[3] = { { "", 0 }, { "\xC3\xA9t\xC3\xA9", 6 }, { "a b", 3 } }, arch = { "llama", 5 };
    bl_kv kv[5];
    bl_tensor t;
    uint8_t f32[12] = { 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64 };
    int8_t trits[512];
    bl_linear_desc d;
    bl_linear *L = NULL;
    bl_model_entry e;
    bl_model_contents c;
    buf b;
    int i;
    memset(&c, 0, sizeof c);
    save_contents("empty.gguf", &c, BL_DTYPE_TQ2_0);

    memset(kv, 0, sizeof kv);
    kv[0].key = "general.architecture"; kv[0].type = kv[0].elem_type = BL_VALUE_STRING; kv[0].count = 1; kv[0].data = &arch;
    kv[1].key = "k.u8"; kv[1].type = kv[1].elem_type = BL_VALUE_U8; kv[1].count = 1; kv[1].data = &u8v;
    kv[2].key = "k.bool"; kv[2].type = kv[2].elem_type = BL_VALUE_BOOL; kv[2].count = 1; kv[2].data = &boolv;
    kv[3].key = "tokenizer.ggml.tokens"; kv[3].type = BL_VALUE_ARRAY; kv[3].elem_type = BL_VALUE_STRING;
    kv[3].count = 3; kv[3].data = strs;
    kv[4].key = "k.i32s"; kv[4].type = BL_VALUE_ARRAY; kv[4].elem_type = BL_VALUE_I32; kv[4].count = 2; kv[4].data = i32v;
    c.kvs = kv; c.kv_count = 5;
    save_contents("kvs.gguf", &c, BL_DTYPE_TQ2_0);

    memset(&t, 0, sizeof t);
    t.name = "norm.weight"; t.dtype = BL_DTYPE_F32; t.ndim = 1; t.shape[0] = 3; t.data = f32; t.nbytes = 12;
    for (i = 0; i < 512; ++i) trits[i] = (int8_t)(i * 7 % 3 - 1);
    memset(&d, 0, sizeof d);
    d.in_features = 256; d.out_features = 2; d.trits = trits; d.scales = scales; d.bias = scales;
    if (bl_linear_create(&d, &L) != BL_OK) return 1;
    memset(&e, 0, sizeof e);
    e.name = "blk.0.ffn_up.weight"; e.layer = L;
    c.tensors = &t; c.tensor_count = 1; c.layers = &e; c.layer_count = 1;
    save_contents("layer_tq2.gguf", &c, BL_DTYPE_TQ2_0);
    c.kv_count = 2;
    save_contents("layer_tq1.gguf", &c, BL_DTYPE_TQ1_0);
    bl_linear_destroy(L);

    /* by hand: version 2, alignment 32, an I2_S tensor then an unknown type (Q4_0) */
    b.n = 0;
    put(&b, "GGUF", 4); u32(&b, 2); u64(&b, 2); u64(&b, 1);
    str(&b, "general.alignment"); u32(&b, 4); u32(&b, 32);
    str(&b, "i2s"); u32(&b, 2); u64(&b, 128); u64(&b, 1); u32(&b, 36); u64(&b, 0);
    str(&b, "q4"); u32(&b, 1); u64(&b, 32); u32(&b, 2); u64(&b, 64);
    pad(&b);
    for (i = 0; i < 32; ++i) b.b[b.n++] = (uint8_t)(0x1B * i);
    u32(&b, 0x3F000000u); /* the I2_S scale, 0.5f */
    for (i = 0; i < 28; ++i) b.b[b.n++] = 0;
    for (i = 0; i < 18; ++i) b.b[b.n++] = (uint8_t)i;
    save("i2s_unknown_v2.gguf", b.b, b.n);

    b.n = 0;
    put(&b, "GGUF", 4); u32(&b, 3); u64(&b, 0); u64(&b, 1);
    str(&b, "general.alignment"); u32(&b, 4); u32(&b, 0x80000000u);
    save("align_2g_no_tensors.gguf", b.b, b.n);
    return 0;
}
