/* bitlinear's GGUF reader and writer against ggml's own code (libggml-base.so from the
   npm package @node-llama-cpp/linux-x64, found by tools/llama_libs.sh; run by
   tests/run_gguf_ggml.sh):
   - files written by bl_gguf_save_path: ggml's reader accepts each one and finds every
     tensor and kv, and ggml dequantizes each TQ1_0/TQ2_0 layer to fp16(scale) * trit,
     the layer's own value scale * trit whenever the scale is a half;
   - files written by ggml's writer (gguf_write_to_file, tensors quantized by
     ggml_quantize_chunk): bl_gguf_open reads every kv and tensor ggml put there. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include "../test.h"
#include <stdbool.h>

/* From ggml's include/gguf.h and src/ggml-quants.h, declared by hand (the npm package
   ships the libraries without headers). */
struct gguf_context;
struct ggml_context;
struct gguf_init_params { bool no_alloc; struct ggml_context **ctx; };
struct gguf_context *gguf_init_from_file(const char *fname, struct gguf_init_params params);
void gguf_free(struct gguf_context *ctx);
size_t gguf_get_alignment(const struct gguf_context *ctx);
size_t gguf_get_data_offset(const struct gguf_context *ctx);
int64_t gguf_get_n_kv(const struct gguf_context *ctx);
int64_t gguf_find_key(const struct gguf_context *ctx, const char *key);
uint32_t gguf_get_val_u32(const struct gguf_context *ctx, int64_t key_id);
const char *gguf_get_val_str(const struct gguf_context *ctx, int64_t key_id);
size_t gguf_get_arr_n(const struct gguf_context *ctx, int64_t key_id);
const char *gguf_get_arr_str(const struct gguf_context *ctx, int64_t key_id, size_t i);
int64_t gguf_get_n_tensors(const struct gguf_context *ctx);
int64_t gguf_find_tensor(const struct gguf_context *ctx, const char *name);
size_t gguf_get_tensor_offset(const struct gguf_context *ctx, int64_t tensor_id);
int gguf_get_tensor_type(const struct gguf_context *ctx, int64_t tensor_id);
size_t gguf_get_tensor_size(const struct gguf_context *ctx, int64_t tensor_id);
struct ggml_tensor;
struct ggml_init_params { size_t mem_size; void *mem_buffer; bool no_alloc; };
struct ggml_context *ggml_init(struct ggml_init_params params);
void ggml_free(struct ggml_context *ctx);
struct ggml_tensor *ggml_new_tensor_2d(struct ggml_context *ctx, int type, int64_t ne0, int64_t ne1);
struct ggml_tensor *ggml_set_name(struct ggml_tensor *tensor, const char *name);
void *ggml_get_data(const struct ggml_tensor *tensor);
size_t ggml_nbytes(const struct ggml_tensor *tensor);
size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows, int64_t n_per_row,
                           const float *imatrix);
struct gguf_context *gguf_init_empty(void);
void gguf_set_val_str(struct gguf_context *ctx, const char *key, const char *val);
void gguf_set_val_u32(struct gguf_context *ctx, const char *key, uint32_t val);
void gguf_set_val_f32(struct gguf_context *ctx, const char *key, float val);
void gguf_set_val_bool(struct gguf_context *ctx, const char *key, bool val);
void gguf_set_arr_str(struct gguf_context *ctx, const char *key, const char **data, size_t n);
void gguf_set_arr_data(struct gguf_context *ctx, const char *key, int type, const void *data, size_t n);
void gguf_add_tensor(struct gguf_context *ctx, const struct ggml_tensor *tensor);
bool gguf_write_to_file(const struct gguf_context *ctx, const char *fname, bool only_meta);
void dequantize_row_tq1_0(const void *x, float *y, int64_t k);
void dequantize_row_tq2_0(const void *x, float *y, int64_t k);
float ggml_fp16_to_fp32(uint16_t h);

static uint8_t *read_file(const char *path, size_t *n)
{
    FILE *f = fopen(path, "rb");
    uint8_t *p;
    long size;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    size = ftell(f);
    fseek(f, 0, SEEK_SET);
    p = (uint8_t *)bt_alloc((size_t)size);
    *n = fread(p, 1, (size_t)size, f);
    fclose(f);
    return p;
}

#define N_LAYERS 4
static void check(bl_dtype tt, int halves_only, uint32_t alignment)
{
    static const int shape[N_LAYERS][2] = { { 256, 3 }, { 512, 7 }, { 1024, 1 }, { 256, 16 } };
    static const char *names[N_LAYERS] = { "blk.0.attn_q.weight", "blk.0.ffn_down.weight", "output.weight", "x" };
    const char *path = "build/test/gguf_check_bitlinear_made.gguf";
    bl_linear *layers[N_LAYERS];
    int8_t *trits[N_LAYERS];
    float *scales[N_LAYERS];
    bl_model_entry e[N_LAYERS];
    bl_tensor t;
    bl_kv kv[3];
    bl_str toks[4] = { { "", 0 }, { "\xC3\xA9t\xC3\xA9", 6 }, { "<s>", 3 }, { "merges a", 8 } }, arch = { "llama", 5 };
    uint8_t align_le[4], norm[5 * 4];
    bl_model_contents c;
    struct gguf_init_params params;
    struct gguf_context *g;
    uint8_t *file;
    size_t size = 0;
    int L, i;
    memset(e, 0, sizeof e);
    for (L = 0; L < N_LAYERS; ++L) {
        int in = shape[L][0], out = shape[L][1];
        bl_linear_desc d;
        size_t j;
        trits[L] = (int8_t *)bt_alloc((size_t)in * (size_t)out);
        scales[L] = (float *)bt_alloc(sizeof(float) * (size_t)out);
        for (j = 0; j < (size_t)in * (size_t)out; ++j) trits[L][j] = (int8_t)bt_int(-1, 1);
        for (i = 0; i < out; ++i) {
            /* per-row scales across the half range; halves_only: values a half holds exactly */
            float s = ldexpf(bt_uniform(0.5f, 1.0f), bt_int(-20, 12));
            uint16_t h = 0;
            if (halves_only) { (void)bl__gguf_half(s, &h); s = ggml_fp16_to_fp32(h); }
            scales[L][i] = s;
        }
        if (L == 3) for (i = 0; i < out; ++i) scales[L][i] = scales[L][0]; /* one per-tensor scale */
        memset(&d, 0, sizeof d);
        d.in_features = in;
        d.out_features = out;
        d.trits = trits[L];
        d.scales = scales[L];
        d.bias = L == 1 ? scales[L] : NULL;
        d.format = L % 2 ? BL_FORMAT_BASE3 : BL_FORMAT_2BIT;
        layers[L] = NULL;
        CHECK_EQ_INT(bl_linear_create(&d, &layers[L]), BL_OK);
        e[L].name = names[L];
        e[L].layer = layers[L];
    }
    for (i = 0; i < 5; ++i) bl__wrf32(norm + 4 * i, (float)i - 1.5f);
    memset(&t, 0, sizeof t);
    t.name = "output_norm.weight"; t.dtype = BL_DTYPE_F32; t.ndim = 1; t.shape[0] = 5; t.data = norm; t.nbytes = 20;
    memset(kv, 0, sizeof kv);
    kv[0].key = "general.architecture"; kv[0].type = kv[0].elem_type = BL_VALUE_STRING; kv[0].count = 1; kv[0].data = &arch;
    kv[1].key = "tokenizer.ggml.tokens"; kv[1].type = BL_VALUE_ARRAY; kv[1].elem_type = BL_VALUE_STRING;
    kv[1].count = 4; kv[1].data = toks;
    bl__wr32(align_le, alignment);
    kv[2].key = "general.alignment"; kv[2].type = kv[2].elem_type = BL_VALUE_U32; kv[2].count = 1; kv[2].data = align_le;
    memset(&c, 0, sizeof c);
    c.layers = e; c.layer_count = N_LAYERS;
    c.tensors = &t; c.tensor_count = 1;
    c.kvs = kv; c.kv_count = alignment ? 3 : 2;
    CHECK_EQ_INT(bl_gguf_save_path(&c, tt, path), BL_OK);

    params.no_alloc = true;
    params.ctx = NULL;
    g = gguf_init_from_file(path, params);
    CHECK(g != NULL);
    file = read_file(path, &size);
    if (g && file) {
        size_t data = gguf_get_data_offset(g);
        int64_t k;
        CHECK_EQ_INT(gguf_get_alignment(g), alignment ? alignment : 32);
        CHECK_EQ_INT(gguf_get_n_kv(g), c.kv_count);
        CHECK_EQ_INT(gguf_get_n_tensors(g), 1 + N_LAYERS + 1);
        k = gguf_find_key(g, "general.architecture");
        CHECK(k >= 0 && strcmp(gguf_get_val_str(g, k), "llama") == 0);
        k = gguf_find_key(g, "tokenizer.ggml.tokens");
        CHECK(k >= 0 && gguf_get_arr_n(g, k) == 4);
        if (k >= 0)
            for (i = 0; i < 4; ++i) CHECK(strcmp(gguf_get_arr_str(g, k, (size_t)i), toks[i].data) == 0);
        k = gguf_find_tensor(g, "output_norm.weight");
        CHECK(k >= 0 && gguf_get_tensor_type(g, k) == 0 && gguf_get_tensor_size(g, k) == 20 &&
              memcmp(file + data + gguf_get_tensor_offset(g, k), norm, 20) == 0);
        for (L = 0; L < N_LAYERS; ++L) {
            int in = shape[L][0], out = shape[L][1], r, bad = 0, j;
            float *row = (float *)bt_alloc(sizeof(float) * (size_t)in);
            size_t row_bytes = (size_t)in / 256 * (tt == BL_DTYPE_TQ1_0 ? 54 : 66);
            k = gguf_find_tensor(g, names[L]);
            CHECK(k >= 0 && gguf_get_tensor_type(g, k) == (tt == BL_DTYPE_TQ1_0 ? 34 : 35) &&
                  gguf_get_tensor_size(g, k) == row_bytes * (size_t)out);
            if (k < 0) { free(row); continue; }
            for (r = 0; r < out; ++r) {
                const uint8_t *src = file + data + gguf_get_tensor_offset(g, k) + (size_t)r * row_bytes;
                uint16_t h = 0;
                float d;
                (void)bl__gguf_half(scales[L][r], &h);
                d = ggml_fp16_to_fp32(h);
                if (halves_only && d != scales[L][r]) ++bad;
                if (tt == BL_DTYPE_TQ1_0) dequantize_row_tq1_0(src, row, in);
                else dequantize_row_tq2_0(src, row, in);
                for (j = 0; j < in; ++j)
                    if (row[j] != d * (float)trits[L][(size_t)r * (size_t)in + (size_t)j]) ++bad;
                /* rounding to fp16 moves a scale by at most half a unit in the last place
                   (2^-11 relative; 2^-25 absolute among the subnormal halves) */
                if (fabsf(d - scales[L][r]) > fmaxf(scales[L][r] * (1.0f / 2048.0f), 2.98023224e-8f)) ++bad;
            }
            CHECK_EQ_INT(bad, 0);
            free(row);
        }
        k = gguf_find_tensor(g, "blk.0.ffn_down.bias");
        CHECK(k >= 0 && gguf_get_tensor_type(g, k) == 0 && gguf_get_tensor_size(g, k) == 7 * 4);
        if (k >= 0)
            for (i = 0; i < 7; ++i)
                CHECK(bl__rdf32(file + data + gguf_get_tensor_offset(g, k) + 4 * (size_t)i) == scales[1][i]);
    }
    if (g) gguf_free(g);
    free(file);
    (void)remove(path);
    for (L = 0; L < N_LAYERS; ++L) {
        bl_linear_destroy(layers[L]);
        free(trits[L]);
        free(scales[L]);
    }
}

/* A file made by ggml: F32, F16, TQ2_0, TQ1_0 and Q8_0 tensors (ggml_quantize_chunk of
   random floats), odd row counts, and kvs of several types, read by bl_gguf_open. */
static void check_ggml_made(void)
{
    static const struct { const char *name; int type; int64_t ne0, ne1; bl_dtype dtype; } spec[5] = {
        { "token_embd.weight", 0, 5, 3, BL_DTYPE_F32 },      { "output_norm.weight", 1, 7, 1, BL_DTYPE_F16 },
        { "blk.0.ffn_up.weight", 35, 512, 3, BL_DTYPE_TQ2_0 }, { "blk.0.ffn_down.weight", 34, 256, 5, BL_DTYPE_TQ1_0 },
        { "blk.0.attn_q.weight", 8, 64, 7, BL_DTYPE_Q8_0 },
    };
    static const char *toks[4] = { "", "\xC3\xA9t\xC3\xA9", "<s>", "a b" };
    const char *path = "build/test/gguf_check_ggml_made.gguf";
    const int32_t ints[3] = { 7, -1, 1 << 30 };
    struct ggml_init_params ip;
    struct ggml_context *ctx;
    struct ggml_tensor *t[5];
    struct gguf_context *out = gguf_init_empty();
    float *src = (float *)bt_alloc(sizeof(float) * 512 * 7);
    uint8_t *file;
    size_t size = 0;
    bl_gguf *g = NULL;
    int i, j;
    ip.mem_size = 1u << 20;
    ip.mem_buffer = NULL;
    ip.no_alloc = false;
    ctx = ggml_init(ip);
    for (j = 0; j < 512 * 7; ++j) src[j] = bt_gauss();
    for (i = 0; i < 5; ++i) {
        t[i] = ggml_new_tensor_2d(ctx, spec[i].type, spec[i].ne0, spec[i].ne1);
        ggml_set_name(t[i], spec[i].name);
        if (spec[i].type == 0) memcpy(ggml_get_data(t[i]), src, ggml_nbytes(t[i]));
        else if (spec[i].type == 1) for (j = 0; j < (int)ggml_nbytes(t[i]); ++j) ((uint8_t *)ggml_get_data(t[i]))[j] = (uint8_t)(j * 13);
        else ggml_quantize_chunk(spec[i].type, src, ggml_get_data(t[i]), 0, spec[i].ne1, spec[i].ne0, NULL);
        gguf_add_tensor(out, t[i]);
    }
    gguf_set_val_str(out, "general.architecture", "llama");
    gguf_set_val_u32(out, "llama.block_count", 26);
    gguf_set_val_f32(out, "llama.rope.freq_base", 500000.0f);
    gguf_set_val_bool(out, "k.bool", true);
    gguf_set_arr_str(out, "tokenizer.ggml.tokens", toks, 4);
    gguf_set_arr_data(out, "k.i32s", 5 /* GGUF_TYPE_INT32 */, ints, 3);
    CHECK(gguf_write_to_file(out, path, false));
    gguf_free(out);
    file = read_file(path, &size);
    CHECK(file != NULL);
    if (file) CHECK_EQ_INT(bl_gguf_open(file, size, &g), BL_OK);
    if (g) {
        int64_t v;
        double f;
        bl_str s;
        CHECK_EQ_INT(bl_gguf_version(g), 3);
        CHECK_EQ_INT(bl_gguf_count(g), 5);
        CHECK_EQ_INT(bl_gguf_kv_count(g), 6);
        CHECK(bl_kv_string(bl_gguf_kv_find(g, "general.architecture"), &s) == BL_OK && s.size == 5 &&
              memcmp(s.data, "llama", 5) == 0);
        CHECK(bl_kv_int(bl_gguf_kv_find(g, "llama.block_count"), &v) == BL_OK && v == 26);
        CHECK(bl_kv_float(bl_gguf_kv_find(g, "llama.rope.freq_base"), &f) == BL_OK && f == 500000.0);
        CHECK(bl_kv_int(bl_gguf_kv_find(g, "k.bool"), &v) == BL_OK && v == 1);
        for (i = 0; i < 4; ++i)
            CHECK(bl_kv_array_string(bl_gguf_kv_find(g, "tokenizer.ggml.tokens"), (uint64_t)i, &s) == BL_OK &&
                  s.size == strlen(toks[i]) && memcmp(s.data, toks[i], s.size) == 0);
        for (i = 0; i < 3; ++i)
            CHECK(bl_kv_array_int(bl_gguf_kv_find(g, "k.i32s"), (uint64_t)i, &v) == BL_OK && v == ints[i]);
        for (i = 0; i < 5; ++i) {
            const bl_tensor *b = bl_gguf_get(g, i);
            int ndim = spec[i].ne1 > 1 ? 2 : 1; /* ggml writes trailing dimensions of 1 away */
            CHECK(b && strcmp(b->name, spec[i].name) == 0 && bl_gguf_find(g, spec[i].name) == b);
            if (!b) continue;
            CHECK_EQ_INT(b->dtype, spec[i].dtype);
            CHECK_EQ_INT(b->ggml_type, spec[i].type);
            CHECK_EQ_INT(b->ndim, ndim);
            CHECK_EQ_INT(b->shape[ndim - 1], spec[i].ne0);
            if (ndim == 2) CHECK_EQ_INT(b->shape[0], spec[i].ne1);
            CHECK_EQ_INT(b->nbytes, ggml_nbytes(t[i]));
            CHECK(memcmp(b->data, ggml_get_data(t[i]), b->nbytes) == 0);
        }
        bl_gguf_close(g);
    }
    free(file);
    free(src);
    ggml_free(ctx);
    (void)remove(path);
}

int main(void)
{
    check(BL_DTYPE_TQ2_0, 1, 0);
    check(BL_DTYPE_TQ1_0, 1, 0);
    check(BL_DTYPE_TQ2_0, 0, 64);
    check(BL_DTYPE_TQ1_0, 0, 16);
    check_ggml_made();
    return bt_summary("gguf_check");
}
