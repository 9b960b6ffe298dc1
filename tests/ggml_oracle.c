/* ggml as the oracle: GGUF files written by ggml's own code (ggml_quantize_chunk,
   gguf_add_tensor, gguf_write_to_file) and read back by ggml's reader
   (gguf_init_from_file) and dequantizers; bitlinear must read them to the same values
   (bl_gguf_open, bl_tensor_dequantize), see the same metadata, and import the ternary
   tensors so that trit * scale equals ggml's dequantized float for every weight.
   With ORACLE_WRITER (set by the script when the tree has bl_gguf_save) also the
   reverse: files bl_gguf_save writes, read and dequantized by ggml.

   Built by tests/run_ggml_oracle.sh against libggml-base.so from the npm package
   @node-llama-cpp/linux-x64 (tools/llama_libs.sh). The few ggml symbols used are
   declared below by hand from ggml's public headers (include/ggml.h, include/gguf.h). */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

/* ---- ggml, declared from include/ggml.h and include/gguf.h ---- */
struct ggml_context;
struct ggml_tensor;
struct gguf_context;
struct ggml_init_params { size_t mem_size; void *mem_buffer; bool no_alloc; };
struct gguf_init_params { bool no_alloc; struct ggml_context **ctx; };
enum { GGML_TYPE_F32 = 0, GGML_TYPE_F16 = 1, GGML_TYPE_Q8_0 = 8, GGML_TYPE_BF16 = 30, GGML_TYPE_TQ1_0 = 34,
       GGML_TYPE_TQ2_0 = 35 };
enum { GGUF_TYPE_INT32 = 5, GGUF_TYPE_FLOAT32 = 6 };
typedef uint16_t ggml_fp16_t;
struct ggml_context *ggml_init(struct ggml_init_params params);
void ggml_free(struct ggml_context *ctx);
struct ggml_tensor *ggml_new_tensor_2d(struct ggml_context *ctx, int type, int64_t ne0, int64_t ne1);
struct ggml_tensor *ggml_set_name(struct ggml_tensor *tensor, const char *name);
size_t ggml_quantize_chunk(int type, const float *src, void *dst, int64_t start, int64_t nrows, int64_t n_per_row,
                           const float *imatrix);
bool ggml_quantize_requires_imatrix(int type);
void ggml_fp32_to_fp16_row(const float *x, ggml_fp16_t *y, int64_t n);
void ggml_fp16_to_fp32_row(const ggml_fp16_t *x, float *y, int64_t n);
void dequantize_row_tq1_0(const void *x, float *y, int64_t k);
void dequantize_row_tq2_0(const void *x, float *y, int64_t k);
void dequantize_row_q8_0(const void *x, float *y, int64_t k);
struct gguf_context *gguf_init_empty(void);
struct gguf_context *gguf_init_from_file(const char *fname, struct gguf_init_params params);
void gguf_free(struct gguf_context *ctx);
void gguf_set_val_u32(struct gguf_context *ctx, const char *key, uint32_t val);
void gguf_set_val_f32(struct gguf_context *ctx, const char *key, float val);
void gguf_set_val_str(struct gguf_context *ctx, const char *key, const char *val);
void gguf_set_arr_str(struct gguf_context *ctx, const char *key, const char **data, size_t n);
void gguf_set_arr_data(struct gguf_context *ctx, const char *key, int type, const void *data, size_t n);
void gguf_add_tensor(struct gguf_context *ctx, const struct ggml_tensor *tensor);
void gguf_set_tensor_data(struct gguf_context *ctx, const char *name, const void *data);
bool gguf_write_to_file(const struct gguf_context *ctx, const char *fname, bool only_meta);
int64_t gguf_find_key(const struct gguf_context *ctx, const char *key);
const char *gguf_get_val_str(const struct gguf_context *ctx, int64_t key_id);
uint32_t gguf_get_val_u32(const struct gguf_context *ctx, int64_t key_id);
size_t gguf_get_arr_n(const struct gguf_context *ctx, int64_t key_id);
const char *gguf_get_arr_str(const struct gguf_context *ctx, int64_t key_id, size_t i);
int64_t gguf_get_n_tensors(const struct gguf_context *ctx);
int64_t gguf_find_tensor(const struct gguf_context *ctx, const char *name);
size_t gguf_get_data_offset(const struct gguf_context *ctx);
size_t gguf_get_tensor_offset(const struct gguf_context *ctx, int64_t tensor_id);
size_t gguf_get_tensor_size(const struct gguf_context *ctx, int64_t tensor_id);
const int64_t *gguf_get_tensor_ne(const struct gguf_context *ctx, int64_t tensor_id);
int gguf_get_tensor_type(const struct gguf_context *ctx, int64_t tensor_id);

/* ---- harness ---- */
static int passed, failed;
#define CHECK(c) check((c) ? 1 : 0, #c, __LINE__)
static void check(int ok, const char *what, int line)
{
    if (ok) { ++passed; return; }
    if (++failed <= 30) fprintf(stderr, "ggml_oracle.c:%d: FAILED: %s\n", line, what);
}
static uint64_t rng = 0x2545F4914F6CDD1Dull;
static uint32_t rnd(void) { rng ^= rng >> 12; rng ^= rng << 25; rng ^= rng >> 27; return (uint32_t)((rng * 0x2545F4914F6CDD1Dull) >> 32); }
static float uni(float lo, float hi) { return lo + (hi - lo) * (float)(rnd() >> 8) / 16777216.0f; }
static float gauss(void) { float u = uni(1e-7f, 1.0f), v = uni(0.0f, 1.0f); return sqrtf(-2.0f * logf(u)) * cosf(6.2831853f * v); }
static void *xalloc(size_t n) { void *p = malloc(n ? n : 1); if (!p) { fprintf(stderr, "out of memory\n"); exit(2); } return p; }

/* The weight matrices: how each is made and what import must say about it. */
enum { W_ROW = 0, W_TENSOR, W_GAUSS };
typedef struct wcase { const char *name; int kind, rows, cols; float *w; } wcase;

static void make_weights(wcase *c)
{
    size_t n = (size_t)c->rows * c->cols, i;
    int r;
    float ts = uni(0.001f, 2.0f);
    c->w = (float *)xalloc(n * sizeof(float));
    for (r = 0; r < c->rows; ++r) {
        float s = c->kind == W_TENSOR ? ts : uni(0.001f, 2.0f) * ((rnd() & 1u) ? 1.0f : -1.0f);
        for (i = 0; i < (size_t)c->cols; ++i) {
            float *x = &c->w[(size_t)r * c->cols + i];
            if (c->kind == W_GAUSS) { *x = gauss(); continue; }
            *x = (rnd() % 100u) < 40u ? 0.0f : ((rnd() & 1u) ? s : -s);
            if (r == 1) *x = 0.0f;                          /* an all-zero row */
            if (r == 2 && i < 256 && c->cols > 256) *x = 0.0f; /* a zero first block */
        }
        if (r != 1) c->w[(size_t)r * c->cols + (rnd() % (unsigned)c->cols)] = s; /* |s| is the block max somewhere */
    }
}

static void ggml_dequant(int type, const uint8_t *data, float *y, int64_t n)
{
    switch (type) {
    case GGML_TYPE_TQ1_0: dequantize_row_tq1_0(data, y, n); break;
    case GGML_TYPE_TQ2_0: dequantize_row_tq2_0(data, y, n); break;
    case GGML_TYPE_Q8_0: dequantize_row_q8_0(data, y, n); break;
    case GGML_TYPE_F16: ggml_fp16_to_fp32_row((const ggml_fp16_t *)(const void *)data, y, n); break;
    default: memcpy(y, data, (size_t)n * sizeof(float)); break;
    }
}

static bl_dtype dtype_of(int type)
{
    switch (type) {
    case GGML_TYPE_TQ1_0: return BL_DTYPE_TQ1_0;
    case GGML_TYPE_TQ2_0: return BL_DTYPE_TQ2_0;
    case GGML_TYPE_Q8_0: return BL_DTYPE_Q8_0;
    case GGML_TYPE_F16: return BL_DTYPE_F16;
    default: return BL_DTYPE_F32;
    }
}

static uint8_t *read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    uint8_t *b;
    long n;
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    b = (uint8_t *)xalloc((size_t)n);
    if (fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *size = (size_t)n;
    return b;
}

/* Writes every case as TQ1_0 and TQ2_0 (and the Gaussian one as F32, F16 and Q8_0)
   with metadata, through ggml's writer. */
static int write_with_ggml(const char *path, wcase *cases, int ncases, uint8_t **blobs)
{
    struct ggml_init_params ip = { 1u << 20, NULL, true };
    struct ggml_context *ctx = ggml_init(ip);
    struct gguf_context *g = gguf_init_empty();
    static const char *tokens[] = { "<s>", "a", "", "\xc3\xa9t\xc3\xa9", "multi word" };
    static const int32_t ints[] = { 1, -2, 3 };
    int i, q, nb = 0, ok;
    char name[64];
    gguf_set_val_str(g, "general.architecture", "llama");
    gguf_set_val_u32(g, "test.count", 42u);
    gguf_set_val_f32(g, "test.eps", 1e-5f);
    gguf_set_arr_str(g, "tokenizer.ggml.tokens", tokens, sizeof tokens / sizeof tokens[0]);
    gguf_set_arr_data(g, "test.ints", GGUF_TYPE_INT32, ints, 3);
    for (i = 0; i < ncases; ++i) {
        wcase *c = &cases[i];
        int types[5], nt = 0;
        types[nt++] = GGML_TYPE_TQ1_0;
        types[nt++] = GGML_TYPE_TQ2_0;
        if (c->kind == W_GAUSS) { types[nt++] = GGML_TYPE_F32; types[nt++] = GGML_TYPE_F16; types[nt++] = GGML_TYPE_Q8_0; }
        for (q = 0; q < nt; ++q) {
            struct ggml_tensor *t = ggml_new_tensor_2d(ctx, types[q], c->cols, c->rows);
            size_t n = (size_t)c->rows * c->cols, bytes;
            uint8_t *buf = (uint8_t *)xalloc(n * 4);
            if (types[q] == GGML_TYPE_F32) { memcpy(buf, c->w, n * 4); bytes = n * 4; }
            else if (types[q] == GGML_TYPE_F16) { ggml_fp32_to_fp16_row(c->w, (ggml_fp16_t *)(void *)buf, (int64_t)n); bytes = n * 2; }
            else bytes = ggml_quantize_chunk(types[q], c->w, buf, 0, c->rows, c->cols, NULL);
            (void)bytes;
            snprintf(name, sizeof name, "%s.%d", c->name, types[q]);
            ggml_set_name(t, name);
            gguf_add_tensor(g, t);
            gguf_set_tensor_data(g, name, buf);
            blobs[nb++] = buf;
        }
    }
    ok = gguf_write_to_file(g, path, false);
    gguf_free(g);
    ggml_free(ctx);
    return ok ? nb : -1;
}

/* The metadata ggml wrote, as bitlinear's reader sees it. */
static int str_is(bl_str s, const char *want) { return s.size == strlen(want) && memcmp(s.data, want, s.size) == 0; }
static void check_metadata(const bl_gguf *bg)
{
    static const char *tokens[] = { "<s>", "a", "", "\xc3\xa9t\xc3\xa9", "multi word" };
    const bl_kv *kv;
    bl_str sv;
    int64_t iv;
    double fv;
    uint64_t i;
    kv = bl_gguf_kv_find(bg, "general.architecture");
    CHECK(kv && bl_kv_string(kv, &sv) == BL_OK && str_is(sv, "llama"));
    kv = bl_gguf_kv_find(bg, "test.count");
    CHECK(kv && kv->type == BL_VALUE_U32 && bl_kv_int(kv, &iv) == BL_OK && iv == 42);
    kv = bl_gguf_kv_find(bg, "test.eps");
    CHECK(kv && kv->type == BL_VALUE_F32 && bl_kv_float(kv, &fv) == BL_OK && (float)fv == 1e-5f);
    kv = bl_gguf_kv_find(bg, "tokenizer.ggml.tokens");
    CHECK(kv && kv->type == BL_VALUE_ARRAY && kv->elem_type == BL_VALUE_STRING && kv->count == 5);
    for (i = 0; kv && i < kv->count && i < 5; ++i)
        CHECK(bl_kv_array_string(kv, i, &sv) == BL_OK && str_is(sv, tokens[i]));
    kv = bl_gguf_kv_find(bg, "test.ints");
    CHECK(kv && kv->elem_type == BL_VALUE_I32 && kv->count == 3 && bl_kv_array_int(kv, 1, &iv) == BL_OK && iv == -2);
}

/* One tensor of the file: ggml's view of it (offsets, type, shape, its dequantization)
   against bitlinear's dequantization and import. */
static void check_tensor(const uint8_t *file, const struct gguf_context *g, int64_t id, const wcase *c, int type,
                         const bl_tensor *bt)
{
    size_t n = (size_t)c->rows * c->cols, i;
    const uint8_t *data = file + gguf_get_data_offset(g) + gguf_get_tensor_offset(g, id);
    float *want = (float *)xalloc(n * sizeof(float)), *got = (float *)xalloc(n * sizeof(float));
    const int64_t *ne = gguf_get_tensor_ne(g, id);
    int f;
    CHECK(gguf_get_tensor_type(g, id) == type && ne[0] == c->cols && ne[1] == c->rows);
    CHECK(bt->data == data && bt->nbytes == gguf_get_tensor_size(g, id));
    ggml_dequant(type, data, want, (int64_t)n);
    CHECK(bl_tensor_dequantize(bt, got, n) == BL_OK);
    CHECK(memcmp(got, want, n * sizeof(float)) == 0);
    if (type != GGML_TYPE_TQ1_0 && type != GGML_TYPE_TQ2_0) goto done;
    for (f = 0; f < 2; ++f) {
        bl_import_desc d;
        bl_linear *L = NULL;
        bl_import_kind kind = BL_IMPORT_QUANTIZED;
        bl_linear_info info;
        int8_t *t = (int8_t *)xalloc(n);
        int bad = 0;
        memset(&d, 0, sizeof d);
        d.format = f ? BL_FORMAT_BASE3 : BL_FORMAT_2BIT;
        CHECK(bl_linear_import(bt, &d, &L, &kind) == BL_OK);
        if (!L) { free(t); continue; }
        (void)bl_linear_get_info(L, &info);
        CHECK(bl_unpack(info.format, info.packed, info.row_bytes * (size_t)c->rows, c->rows, c->cols, t) == BL_OK);
        if (c->kind == W_GAUSS) {
            /* blocks of one row carry different d: re-quantized, and refused under STRICT */
            bl_linear *S = (bl_linear *)(uintptr_t)0x40;
            CHECK(kind == BL_IMPORT_REQUANTIZED);
            d.flags = BL_IMPORT_STRICT;
            CHECK(bl_linear_import(bt, &d, &S, NULL) == BL_ERR_UNSUPPORTED && S == (bl_linear *)(uintptr_t)0x40);
        } else {
            CHECK(kind == BL_IMPORT_EXACT);
            for (i = 0; i < n; ++i) bad += !((float)t[i] * info.scales[i / (size_t)c->cols] == want[i]);
            CHECK(bad == 0);
            if (bad) fprintf(stderr, "  %s type %d format %d: %d weights differ from ggml\n", c->name, type, f, bad);
        }
        bl_linear_destroy(L);
        free(t);
    }
done:
    free(want);
    free(got);
}

#ifdef ORACLE_WRITER
/* The reverse direction: layers, a float tensor and metadata written by bl_gguf_save,
   read by ggml's reader and dequantized by ggml, equal the layers' trit * scale with
   each scale rounded to fp16 as ggml rounds it (ggml_fp32_to_fp16_row). */
static void check_writer(const char *dir)
{
    static const int shapes[][2] = { { 3, 256 }, { 17, 768 }, { 2, 2560 } };
    static const char *names[] = { "blk.0.attn_q.weight", "blk.0.ffn_up.weight", "blk.1.ffn_down.weight" };
    static const bl_dtype ttypes[2] = { BL_DTYPE_TQ1_0, BL_DTYPE_TQ2_0 };
    static const int gtypes[2] = { GGML_TYPE_TQ1_0, GGML_TYPE_TQ2_0 };
    bl_linear *layers[3];
    bl_model_entry entries[3];
    float norm[64];
    bl_tensor ft;
    bl_kv kvs[3];
    bl_str arch = { "llama", 5 }, toks[3] = { { "a", 1 }, { "", 0 }, { "\xc3\xa9", 2 } };
    uint8_t u32le[4] = { 7, 1, 0, 0 };
    bl_model_contents c;
    int i, ti, fmt;
    for (fmt = 0; fmt < 2; ++fmt) {
        for (i = 0; i < 3; ++i) {
            int rows = shapes[i][0], cols = shapes[i][1], r;
            size_t n = (size_t)rows * cols, k;
            int8_t *t = (int8_t *)xalloc(n);
            float *sc = (float *)xalloc((size_t)rows * sizeof(float));
            bl_linear_desc d;
            for (k = 0; k < n; ++k) t[k] = (int8_t)((int)(rnd() % 3u) - 1);
            for (r = 0; r < rows; ++r) sc[r] = uni(-1.0f, 1.0f); /* not fp16 values: the writer rounds */
            if (rows > 2) memset(t + (size_t)cols, 0, (size_t)cols); /* an all-zero row */
            memset(&d, 0, sizeof d);
            d.in_features = cols;
            d.out_features = rows;
            d.trits = t;
            d.scales = sc;
            d.format = fmt ? BL_FORMAT_BASE3 : BL_FORMAT_2BIT;
            layers[i] = NULL;
            CHECK(bl_linear_create(&d, &layers[i]) == BL_OK);
            entries[i].name = names[i];
            entries[i].layer = layers[i];
            entries[i].flags = 0;
            entries[i].hadamard_seed = 0;
            free(t);
            free(sc);
        }
        for (i = 0; i < 64; ++i) norm[i] = uni(0.5f, 1.5f);
        memset(&ft, 0, sizeof ft);
        ft.name = "output_norm.weight";
        ft.dtype = BL_DTYPE_F32;
        ft.elem_bytes = 4;
        ft.ndim = 1;
        ft.shape[0] = 64;
        ft.data = norm;
        ft.nbytes = sizeof norm;
        ft.ggml_type = 0;
        kvs[0].key = "general.architecture"; kvs[0].type = kvs[0].elem_type = BL_VALUE_STRING; kvs[0].count = 1; kvs[0].data = &arch;
        kvs[1].key = "test.n"; kvs[1].type = kvs[1].elem_type = BL_VALUE_U32; kvs[1].count = 1; kvs[1].data = u32le;
        kvs[2].key = "tokenizer.ggml.tokens"; kvs[2].type = BL_VALUE_ARRAY; kvs[2].elem_type = BL_VALUE_STRING;
        kvs[2].count = 3; kvs[2].data = toks;
        memset(&c, 0, sizeof c);
        c.layers = entries; c.layer_count = 3;
        c.tensors = &ft; c.tensor_count = 1;
        c.kvs = kvs; c.kv_count = 3;
        for (ti = 0; ti < 2; ++ti) {
            char path[512];
            size_t size = 0;
            uint8_t *buf;
            FILE *f;
            struct gguf_init_params gp = { true, NULL };
            struct gguf_context *g;
            CHECK(bl_gguf_save(&c, ttypes[ti], NULL, 0, &size) == BL_OK && size > 0);
            buf = (uint8_t *)xalloc(size);
            CHECK(bl_gguf_save(&c, ttypes[ti], buf, size, &size) == BL_OK);
            snprintf(path, sizeof path, "%s/bitlinear_written_%d_%d.gguf", dir, fmt, ti);
            f = fopen(path, "wb");
            CHECK(f && fwrite(buf, 1, size, f) == size);
            if (f) fclose(f);
            g = gguf_init_from_file(path, gp); /* ggml's own reader validates it */
            CHECK(g != NULL);
            if (g) {
                int64_t k = gguf_find_key(g, "general.architecture");
                CHECK(k >= 0 && strcmp(gguf_get_val_str(g, k), "llama") == 0);
                k = gguf_find_key(g, "test.n");
                CHECK(k >= 0 && gguf_get_val_u32(g, k) == 263u);
                k = gguf_find_key(g, "tokenizer.ggml.tokens");
                CHECK(k >= 0 && gguf_get_arr_n(g, k) == 3 && strcmp(gguf_get_arr_str(g, k, 2), "\xc3\xa9") == 0);
                for (i = 0; i < 3; ++i) {
                    int64_t id = gguf_find_tensor(g, names[i]);
                    int rows = shapes[i][0], cols = shapes[i][1], bad = 0;
                    size_t n = (size_t)rows * cols, e;
                    float *want = (float *)xalloc(n * sizeof(float)), *got = (float *)xalloc(n * sizeof(float));
                    float *half = (float *)xalloc((size_t)rows * sizeof(float));
                    ggml_fp16_t *h16 = (ggml_fp16_t *)xalloc((size_t)rows * sizeof(ggml_fp16_t));
                    int8_t *t = (int8_t *)xalloc(n);
                    bl_linear_info info;
                    CHECK(id >= 0);
                    if (id < 0) continue;
                    CHECK(gguf_get_tensor_type(g, id) == gtypes[ti] && gguf_get_tensor_ne(g, id)[0] == cols &&
                          gguf_get_tensor_ne(g, id)[1] == rows);
                    ggml_dequant(gtypes[ti], buf + gguf_get_data_offset(g) + gguf_get_tensor_offset(g, id), got, (int64_t)n);
                    (void)bl_linear_get_info(layers[i], &info);
                    (void)bl_unpack(info.format, info.packed, info.row_bytes * (size_t)rows, rows, cols, t);
                    ggml_fp32_to_fp16_row(info.scales, h16, rows);
                    ggml_fp16_to_fp32_row(h16, half, rows);
                    for (e = 0; e < n; ++e) want[e] = (float)t[e] * half[e / (size_t)cols];
                    for (e = 0; e < n; ++e) bad += !(want[e] == got[e]);
                    CHECK(bad == 0);
                    if (bad) fprintf(stderr, "  %s as type %d: %d weights differ from bitlinear's layer\n", names[i], gtypes[ti], bad);
                    free(want); free(got); free(half); free(h16); free(t);
                }
                {
                    int64_t id = gguf_find_tensor(g, "output_norm.weight");
                    CHECK(id >= 0 && gguf_get_tensor_type(g, id) == GGML_TYPE_F32 &&
                          memcmp(buf + gguf_get_data_offset(g) + gguf_get_tensor_offset(g, id), norm, sizeof norm) == 0);
                }
                gguf_free(g);
            }
            free(buf);
        }
        for (i = 0; i < 3; ++i) bl_linear_destroy(layers[i]);
    }
}
#endif

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "build/test";
    char path[512];
    wcase cases[] = {
        { "row_small", W_ROW, 3, 256, NULL },  { "row_odd", W_ROW, 17, 768, NULL },
        { "tensor", W_TENSOR, 5, 1280, NULL }, { "gauss", W_GAUSS, 9, 512, NULL },
        { "row_wide", W_ROW, 2, 2560, NULL },
    };
    int ncases = (int)(sizeof cases / sizeof cases[0]), i, q, nb;
    uint8_t *blobs[64], *file;
    size_t size;
    struct gguf_init_params gp = { true, NULL };
    struct gguf_context *g;

    CHECK(!ggml_quantize_requires_imatrix(GGML_TYPE_TQ1_0) && !ggml_quantize_requires_imatrix(GGML_TYPE_TQ2_0));
    for (i = 0; i < ncases; ++i) make_weights(&cases[i]);
    snprintf(path, sizeof path, "%s/ggml_written.gguf", dir);
    nb = write_with_ggml(path, cases, ncases, blobs);
    CHECK(nb > 0);
    g = gguf_init_from_file(path, gp);
    file = read_file(path, &size);
    CHECK(g != NULL && file != NULL);
    if (g && file) {
        bl_gguf *bg = NULL;
        CHECK(bl_gguf_open(file, size, &bg) == BL_OK);
        if (bg) {
            check_metadata(bg);
            CHECK(bl_gguf_count(bg) == (int)gguf_get_n_tensors(g));
            for (i = 0; i < ncases; ++i) {
                int types[5] = { GGML_TYPE_TQ1_0, GGML_TYPE_TQ2_0, GGML_TYPE_F32, GGML_TYPE_F16, GGML_TYPE_Q8_0 };
                int nt = cases[i].kind == W_GAUSS ? 5 : 2;
                for (q = 0; q < nt; ++q) {
                    char name[64];
                    int64_t id;
                    const bl_tensor *bt;
                    snprintf(name, sizeof name, "%s.%d", cases[i].name, types[q]);
                    id = gguf_find_tensor(g, name);
                    bt = bl_gguf_find(bg, name); /* bitlinear's reader, over the same bytes */
                    CHECK(id >= 0 && bt != NULL);
                    if (id < 0 || !bt) continue;
                    CHECK(bt->dtype == dtype_of(types[q]) && bt->ggml_type == types[q] && bt->ndim == 2 &&
                          bt->shape[0] == cases[i].rows && bt->shape[1] == cases[i].cols);
                    check_tensor(file, g, id, &cases[i], types[q], bt);
                }
            }
            bl_gguf_close(bg);
        }
    }
    if (g) gguf_free(g);
    free(file);
#ifdef ORACLE_WRITER
    check_writer(dir);
#else
    printf("skipped: the reverse direction (bl_gguf_save is not in this tree yet)\n");
#endif
    for (i = 0; i < nb; ++i) free(blobs[i]);
    for (i = 0; i < ncases; ++i) free(cases[i].w);
    printf("ggml_oracle: %d passed, %d failed\n", passed, failed);
    return failed ? 1 : 0;
}
