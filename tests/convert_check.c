/* Checks what examples/convert wrote, against references written here from the
   published rules (tests/run_convert.sh calls it): exit 0 silently, or 1 saying why.

     convert_check absmean IN.safetensors OUT.blm NAME
         BitNet b1.58's weight rule (arXiv 2402.17764, and transformers' WeightQuant):
         scale = max(mean|W|, 1e-5) over the whole tensor, t = clamp(round(W / scale), -1, 1)
         with round half to even; the layer must hold those trits, trit for trit, and that
         one scale on every row (within 1e-6 relative: the sum's order may differ).
     convert_check hf IN.safetensors OUT.blm NAME multiply|divide
         Hugging Face packed weights (transformers integrations/bitnet.py, pack_weights):
         row i*out/4 + r of W is ((byte[r][c] >> 2i) & 3) - 1, times or divided by
         NAME_scale; the layer's scale * trit must equal that float exactly.
     convert_check tensor IN.safetensors OUT.blm NAME
         the float tensor NAME was copied: same dtype and shape, same bytes (F64 sources:
         the nearest floats, as F32)
     convert_check kv OUT.blm KEY VALUE      a string key with that value
     convert_check count OUT.blm LAYERS TENSORS KEYS
     convert_check make-gguf OUT.gguf
         writes a small GGUF v3 file byte by byte from the format's description (ggml's
         docs/gguf.md; TQ2_0 blocks as ggml-quants.c quantize_row_tq2_0_ref lays them
         out: 64 bytes qs then the fp16 d, byte qs[32 h + m] holding elements
         128 h + 32 n + m in bits 2n..2n+1 as trit + 1), independent of the library's
         writer: "blk.0.attn_q.weight" TQ2_0 [4][512] with one d per row,
         "blk.0.ffn_up.weight" TQ2_0 [3][512] whose row 1 has two different d,
         "token_embd.weight" F32 [5][8], "output_norm.weight" F32 [8], "q8" Q8_0 [2][32],
         keys general.architecture = "llama", llama.block_count = 1 (U32),
         tokenizer.ggml.tokens = ["a", "bc", ""]
     convert_check gguf IN.gguf OUT.blm NAME exact|any
         layer NAME against the TQ2_0 tensor's values decoded here: exact = scale * trit
         equals d * trit bit for bit on every weight; any = the layer exists with its shape
     convert_check ggufkv OUT.blm        the three keys above came along, values equal
     convert_check gguf-out OUT.gguf REF.blm
         the GGUF file convert wrote, read back by the library's GGUF reader: every layer
         of REF.blm (the same conversion written as .blm) is a TQ2_0/TQ1_0 tensor whose
         dequantized values are the layer's trits times its scale rounded to fp16
         (zero exactly where the trit is, within fp16's half ulp, 2^-11 relative,
         elsewhere); every float tensor is there with the same bytes
     convert_check gguf-type OUT.gguf NAME TYPE     tensor NAME has type TYPE
*/
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned char *slurp(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    unsigned char *b;
    long n;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0) {
        if (f) fclose(f);
        return NULL;
    }
    b = (unsigned char *)malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) { free(b); b = NULL; }
    fclose(f);
    *size = (size_t)n;
    return b;
}

static int fail(const char *what)
{
    printf("FAILED: %s\n", what);
    return 1;
}

/* the layer's trits [out][in] (k = 1) */
static int8_t *layer_trits(const bl_linear *L, bl_linear_info *info)
{
    int8_t *t;
    memset(info, 0, sizeof *info);
    if (bl_linear_get_info(L, info) != BL_OK || info->k != 1) return NULL;
    t = (int8_t *)malloc((size_t)info->out_features * (size_t)info->in_features);
    if (t && bl_unpack(info->format, info->packed, (size_t)info->out_features * info->row_bytes, info->out_features,
                       info->in_features, t) != BL_OK) {
        free(t);
        return NULL;
    }
    return t;
}

static double round_even(double x) { return x - floor(x) == 0.5 ? 2.0 * floor(x / 2.0 + 0.5) : floor(x + 0.5); }

static int check_absmean(const bl_tensor *t, const bl_linear *L)
{
    size_t n = t->nbytes / (size_t)t->elem_bytes, i, bad = 0;
    float *w = (float *)malloc(n * sizeof(float));
    double sum = 0, scale;
    bl_linear_info info;
    int8_t *trits = layer_trits(L, &info);
    int r;
    if (!w || !trits || bl_tensor_to_f32(t, w, n) != BL_OK || (size_t)info.out_features * (size_t)info.in_features != n)
        return fail("cannot read the tensor or the layer");
    for (i = 0; i < n; ++i) sum += fabs((double)w[i]);
    scale = sum / (double)n;
    if (scale < 1e-5) scale = 1e-5;
    for (i = 0; i < n; ++i) {
        double q = round_even((double)w[i] / scale);
        int want = q > 1 ? 1 : q < -1 ? -1 : (int)q;
        bad += trits[i] != want;
    }
    for (r = 0; r < info.out_features && !bad; ++r)
        if (fabs((double)info.scales[r] - scale) > 1e-6 * scale) bad = (size_t)-1;
    free(w);
    free(trits);
    if (bad == (size_t)-1) return fail("scale is not mean|W| on every row");
    if (bad) {
        printf("FAILED: %lu of %lu trits differ from round(W / mean|W|)\n", (unsigned long)bad, (unsigned long)n);
        return 1;
    }
    return 0;
}

static int check_hf(const bl_tensor *t, const bl_tensor *st, const bl_linear *L, int divide)
{
    int rows4 = (int)t->shape[0], cols = (int)t->shape[1], out = 4 * rows4, i, r, c;
    const unsigned char *p = (const unsigned char *)t->data;
    bl_linear_info info;
    int8_t *trits = layer_trits(L, &info);
    float s;
    size_t bad = 0;
    if (!trits || !st || bl_tensor_to_f32(st, &s, 1) != BL_OK || info.out_features != out || info.in_features != cols)
        return fail("cannot read the packed tensor, its scale or the layer");
    for (i = 0; i < 4; ++i)
        for (r = 0; r < rows4; ++r)
            for (c = 0; c < cols; ++c) {
                int row = i * rows4 + r, trit = ((p[(size_t)r * (size_t)cols + (size_t)c] >> (2 * i)) & 3) - 1;
                float want = divide ? (float)trit / s : (float)trit * s;
                float got = info.scales[row] * (float)trits[(size_t)row * (size_t)cols + (size_t)c];
                bad += memcmp(&want, &got, sizeof want) != 0;
            }
    free(trits);
    if (bad) {
        printf("FAILED: %lu weights differ from the checkpoint's values\n", (unsigned long)bad);
        return 1;
    }
    return 0;
}

static int check_tensor(const bl_tensor *src, const bl_tensor *got)
{
    int d;
    if (!got) return fail("tensor not in the model");
    if (src->ndim != got->ndim) return fail("ndim differs");
    for (d = 0; d < src->ndim; ++d)
        if (src->shape[d] != got->shape[d]) return fail("shape differs");
    if (src->dtype == BL_DTYPE_F64) {
        size_t n = src->nbytes / 8, i;
        float *a = (float *)malloc(n * sizeof(float) + 1), *b = (float *)malloc(n * sizeof(float) + 1);
        int same;
        if (got->dtype != BL_DTYPE_F32 || bl_tensor_to_f32(src, a, n) != BL_OK || bl_tensor_to_f32(got, b, n) != BL_OK)
            return fail("F64 not stored as F32");
        same = memcmp(a, b, n * sizeof(float)) == 0;
        for (i = 0; i < n && same; ++i) {}
        free(a);
        free(b);
        if (!same) return fail("values differ");
    } else if (src->dtype != got->dtype || src->nbytes != got->nbytes || memcmp(src->data, got->data, src->nbytes) != 0) {
        return fail("dtype or bytes differ");
    }
    return 0;
}


/* ---- GGUF, written and read here by hand ---- */

typedef struct buf { unsigned char *p; size_t n, cap; } buf;
static void put(buf *b, const void *src, size_t n)
{
    if (b->n + n > b->cap) {
        b->cap = 2 * (b->n + n) + 64;
        b->p = (unsigned char *)realloc(b->p, b->cap);
        if (!b->p) exit(2);
    }
    memcpy(b->p + b->n, src, n);
    b->n += n;
}
static void put_u32(buf *b, uint32_t v)
{
    unsigned char x[4];
    int i;
    for (i = 0; i < 4; ++i) x[i] = (unsigned char)(v >> (8 * i));
    put(b, x, 4);
}
static void put_u64(buf *b, uint64_t v)
{
    put_u32(b, (uint32_t)v);
    put_u32(b, (uint32_t)(v >> 32));
}
static void put_str(buf *b, const char *s)
{
    put_u64(b, strlen(s));
    put(b, s, strlen(s));
}
static void put_f32(buf *b, float f)
{
    uint32_t u;
    memcpy(&u, &f, 4);
    put_u32(b, u);
}

/* fp16 bits of the few exact values used here (1/4 .. 2 in quarters) */
static uint16_t half_of(float f)
{
    int e = 0;
    float m = f;
    while (m >= 2.0f) { m /= 2.0f; ++e; }
    while (m < 1.0f) { m *= 2.0f; --e; }
    return (uint16_t)((uint32_t)(e + 15) << 10 | (uint32_t)((m - 1.0f) * 1024.0f));
}

static uint32_t lcg = 12345u;
static int rnd_trit(void)
{
    lcg = lcg * 1664525u + 1013904223u;
    return (int)((lcg >> 16) % 3u) - 1;
}

/* one TQ2_0 row of `in` weights: blocks of 256, block b with scale d[b] */
static void tq2_row(buf *b, int in, const float *d)
{
    int blk, h, m, n;
    for (blk = 0; blk < in / 256; ++blk) {
        int8_t t[256];
        unsigned char qs[64];
        uint16_t hd = half_of(d[blk]);
        for (m = 0; m < 256; ++m) t[m] = (int8_t)rnd_trit();
        for (h = 0; h < 2; ++h)
            for (m = 0; m < 32; ++m) {
                unsigned q = 0;
                for (n = 0; n < 4; ++n) q |= (unsigned)(t[128 * h + 32 * n + m] + 1) << (2 * n);
                qs[32 * h + m] = (unsigned char)q;
            }
        put(b, qs, 64);
        {
            unsigned char x[2];
            x[0] = (unsigned char)hd;
            x[1] = (unsigned char)(hd >> 8);
            put(b, x, 2);
        }
    }
}

static int make_gguf(const char *path)
{
    buf h, data;
    FILE *f;
    int r;
    size_t pad, offs[5];
    static const char *const names[5] = { "blk.0.attn_q.weight", "blk.0.ffn_up.weight", "token_embd.weight",
                                           "output_norm.weight", "q8" };
    static const int types[5] = { 35, 35, 0, 0, 8 };
    static const int dims[5][2] = { { 512, 4 }, { 512, 3 }, { 8, 5 }, { 8, 0 }, { 32, 2 } }; /* ne0, ne1 */
    memset(&h, 0, sizeof h);
    memset(&data, 0, sizeof data);
    /* data: each tensor at a multiple of 32 (the default alignment) */
    for (r = 0; r < 5; ++r) {
        while (data.n % 32) put(&data, "", 1);
        offs[r] = data.n;
        if (r == 0) {
            int row;
            for (row = 0; row < 4; ++row) {
                float d[2];
                d[0] = d[1] = 0.25f * (float)(row + 1);
                tq2_row(&data, 512, d);
            }
        } else if (r == 1) {
            int row;
            for (row = 0; row < 3; ++row) {
                float d[2];
                d[0] = 0.5f;
                d[1] = row == 1 ? 0.75f : 0.5f;
                tq2_row(&data, 512, d);
            }
        } else if (r == 2 || r == 3) {
            int i, n = r == 2 ? 40 : 8;
            for (i = 0; i < n; ++i) put_f32(&data, (float)i * 0.125f - 1.0f);
        } else {
            int row, i;
            for (row = 0; row < 2; ++row) {
                unsigned char x[2] = { 0x00, 0x3C }; /* d = 1 */
                put(&data, x, 2);
                for (i = 0; i < 32; ++i) {
                    unsigned char q = (unsigned char)(i - 16);
                    put(&data, &q, 1);
                }
            }
        }
    }
    put(&h, "GGUF", 4);
    put_u32(&h, 3);
    put_u64(&h, 5);
    put_u64(&h, 3);
    put_str(&h, "general.architecture");
    put_u32(&h, 8);
    put_str(&h, "llama");
    put_str(&h, "llama.block_count");
    put_u32(&h, 4);
    put_u32(&h, 1);
    put_str(&h, "tokenizer.ggml.tokens");
    put_u32(&h, 9);
    put_u32(&h, 8);
    put_u64(&h, 3);
    put_str(&h, "a");
    put_str(&h, "bc");
    put_str(&h, "");
    for (r = 0; r < 5; ++r) {
        put_str(&h, names[r]);
        put_u32(&h, dims[r][1] ? 2u : 1u);
        put_u64(&h, (uint64_t)dims[r][0]);
        if (dims[r][1]) put_u64(&h, (uint64_t)dims[r][1]);
        put_u32(&h, (uint32_t)types[r]);
        put_u64(&h, offs[r]);
    }
    pad = (32 - h.n % 32) % 32;
    while (pad--) put(&h, "", 1);
    f = fopen(path, "wb");
    if (!f || fwrite(h.p, 1, h.n, f) != h.n || fwrite(data.p, 1, data.n, f) != data.n) return fail("cannot write");
    fclose(f);
    free(h.p);
    free(data.p);
    return 0;
}

/* the TQ2_0 tensor's weights decoded here: w = d * trit, fp16 d exact in float */
static int check_gguf_layer(const bl_tensor *t, const bl_linear *L, int exact)
{
    int out = (int)t->shape[0], in = (int)t->shape[1], r, c;
    const unsigned char *p = (const unsigned char *)t->data;
    bl_linear_info info;
    int8_t *trits = layer_trits(L, &info);
    size_t bad = 0;
    if (!trits || info.out_features != out || info.in_features != in) return fail("layer missing or of another shape");
    for (r = 0; r < out && exact; ++r)
        for (c = 0; c < in; ++c) {
            const unsigned char *blk = p + ((size_t)r * (size_t)(in / 256) + (size_t)(c / 256)) * 66;
            int j = c % 256, h = j / 128, n = (j % 128) / 32, m = j % 32;
            int trit = ((blk[32 * h + m] >> (2 * n)) & 3) - 1;
            unsigned hd = (unsigned)blk[64] | (unsigned)blk[65] << 8;
            float d = (float)(1u << ((hd >> 10) & 31)) / 32768.0f * (1.0f + (float)(hd & 1023) / 1024.0f);
            float want = d * (float)trit, got = info.scales[r] * (float)trits[(size_t)r * (size_t)in + (size_t)c];
            bad += memcmp(&want, &got, 4) != 0;
        }
    free(trits);
    if (bad) {
        printf("FAILED: %lu weights differ from the GGUF file's values\n", (unsigned long)bad);
        return 1;
    }
    return 0;
}

static int check_gguf_kvs(const bl_model *m)
{
    const bl_kv *a = bl_model_kv_find(m, "general.architecture"), *n = bl_model_kv_find(m, "llama.block_count"),
                *t = bl_model_kv_find(m, "tokenizer.ggml.tokens");
    const bl_str *s;
    if (!a || a->type != BL_VALUE_STRING || ((const bl_str *)a->data)->size != 5 ||
        memcmp(((const bl_str *)a->data)->data, "llama", 5) != 0)
        return fail("general.architecture");
    if (!n || n->type != BL_VALUE_U32 || ((const unsigned char *)n->data)[0] != 1) return fail("llama.block_count");
    if (!t || t->type != BL_VALUE_ARRAY || t->elem_type != BL_VALUE_STRING || t->count != 3) return fail("tokens");
    s = (const bl_str *)t->data;
    if (s[0].size != 1 || s[0].data[0] != 'a' || s[1].size != 2 || memcmp(s[1].data, "bc", 2) != 0 || s[2].size != 0)
        return fail("token values");
    return 0;
}

static int check_gguf_out(const bl_gguf *g, const bl_model *ref)
{
    int i;
    for (i = 0; i < bl_model_count(ref); ++i) {
        const bl_tensor *t = bl_gguf_find(g, bl_model_name(ref, i));
        bl_linear_info info;
        int8_t *trits = layer_trits(bl_model_layer(ref, i), &info);
        size_t n, j, bad = 0;
        float *v;
        if (!t || !trits) return fail(bl_model_name(ref, i));
        if ((t->dtype != BL_DTYPE_TQ2_0 && t->dtype != BL_DTYPE_TQ1_0) || t->ndim != 2 ||
            t->shape[0] != info.out_features || t->shape[1] != info.in_features)
            return fail("a layer's GGUF tensor has another type or shape");
        n = (size_t)info.out_features * (size_t)info.in_features;
        v = (float *)malloc(n * sizeof(float));
        if (!v || bl_tensor_dequantize(t, v, n) != BL_OK) return fail("cannot dequantize");
        for (j = 0; j < n; ++j) {
            float s = info.scales[j / (size_t)info.in_features], want = s * (float)trits[j];
            if (trits[j] == 0 ? v[j] != 0.0f : fabsf(v[j] - want) > fabsf(s) * (1.0f / 2048.0f) || (v[j] > 0) != (want > 0))
                ++bad;
        }
        free(v);
        free(trits);
        if (bad) {
            printf("FAILED: %s: %lu values differ from the layer's\n", bl_model_name(ref, i), (unsigned long)bad);
            return 1;
        }
    }
    for (i = 0; i < bl_model_tensor_count(ref); ++i) {
        const bl_tensor *a = bl_model_tensor(ref, i), *b = bl_gguf_find(g, a->name);
        if (!b || b->dtype != a->dtype || b->nbytes != a->nbytes || memcmp(a->data, b->data, a->nbytes) != 0)
            return fail("a float tensor is missing or differs");
    }
    return 0;
}

int main(int argc, char **argv)
{
    unsigned char *sb = NULL, *mb = NULL;
    size_t ss = 0, ms = 0;
    bl_safetensors *st = NULL;
    bl_model *m = NULL;
    const bl_tensor *t = NULL;
    int rc = 1, with_st;
    if (argc == 3 && strcmp(argv[1], "make-gguf") == 0) return make_gguf(argv[2]);
    if (argc == 6 && strcmp(argv[1], "gguf") == 0) {
        bl_gguf *g = NULL;
        const bl_tensor *gt;
        if (!(sb = slurp(argv[2], &ss)) || bl_gguf_open(sb, ss, &g) != BL_OK) return fail("cannot read the GGUF input");
        if (!(mb = slurp(argv[3], &ms)) || bl_model_load(mb, ms, &m) != BL_OK) return fail("the model does not load");
        gt = bl_gguf_find(g, argv[4]);
        rc = gt && bl_model_find(m, argv[4]) ? check_gguf_layer(gt, bl_model_find(m, argv[4]), strcmp(argv[5], "exact") == 0)
                                             : fail("no such tensor or layer");
        bl_gguf_close(g);
        bl_model_destroy(m);
        free(sb);
        free(mb);
        return rc;
    }
    if ((argc == 4 && strcmp(argv[1], "gguf-out") == 0) || (argc == 5 && strcmp(argv[1], "gguf-type") == 0)) {
        bl_gguf *g = NULL;
        if (!(sb = slurp(argv[2], &ss)) || bl_gguf_open(sb, ss, &g) != BL_OK) return fail("the GGUF output does not open");
        if (argc == 5) {
            const bl_tensor *t = bl_gguf_find(g, argv[3]);
            rc = t && strcmp(bl_dtype_name(t->dtype), argv[4]) == 0 ? 0 : fail("no such tensor, or another type");
        } else if (!(mb = slurp(argv[3], &ms)) || bl_model_load(mb, ms, &m) != BL_OK) {
            rc = fail("the reference model does not load");
        } else {
            rc = check_gguf_out(g, m);
        }
        bl_gguf_close(g);
        bl_model_destroy(m);
        free(sb);
        free(mb);
        return rc;
    }
    if (argc == 3 && strcmp(argv[1], "ggufkv") == 0) {
        if (!(mb = slurp(argv[2], &ms)) || bl_model_load(mb, ms, &m) != BL_OK) return fail("the model does not load");
        rc = check_gguf_kvs(m);
        bl_model_destroy(m);
        free(mb);
        return rc;
    }
    if (argc < 4) return fail("usage: see the top of tests/convert_check.c");
    with_st = strcmp(argv[1], "kv") != 0 && strcmp(argv[1], "count") != 0;
    if (with_st) {
        if (argc < 5 || !(sb = slurp(argv[2], &ss)) || bl_safetensors_open(sb, ss, &st) != BL_OK)
            return fail("cannot read the safetensors input");
        t = bl_safetensors_find(st, argv[4]);
        if (!t) return fail("no such tensor in the input");
    }
    mb = slurp(argv[with_st ? 3 : 2], &ms);
    if (!mb || bl_model_load(mb, ms, &m) != BL_OK) return fail("the model does not load");
    if (strcmp(argv[1], "absmean") == 0) {
        rc = bl_model_find(m, argv[4]) ? check_absmean(t, bl_model_find(m, argv[4])) : fail("no such layer");
    } else if (strcmp(argv[1], "hf") == 0 && argc == 6) {
        char name[1100];
        sprintf(name, "%s_scale", argv[4]);
        rc = bl_model_find(m, argv[4]) ? check_hf(t, bl_safetensors_find(st, name), bl_model_find(m, argv[4]),
                                                  strcmp(argv[5], "divide") == 0)
                                       : fail("no such layer");
    } else if (strcmp(argv[1], "tensor") == 0) {
        rc = check_tensor(t, bl_model_tensor_find(m, argv[4]));
    } else if (strcmp(argv[1], "kv") == 0 && argc == 5) {
        const bl_kv *kv = bl_model_kv_find(m, argv[3]);
        const bl_str *s = kv && kv->type == BL_VALUE_STRING ? (const bl_str *)kv->data : NULL;
        rc = s && s->size == strlen(argv[4]) && memcmp(s->data, argv[4], (size_t)s->size) == 0 ? 0
                                                                                              : fail("key missing or different");
    } else if (strcmp(argv[1], "count") == 0 && argc == 6) {
        rc = bl_model_count(m) == atoi(argv[3]) && bl_model_tensor_count(m) == atoi(argv[4]) &&
                     bl_model_kv_count(m) == atoi(argv[5])
                 ? 0
                 : (printf("FAILED: %d layers, %d tensors, %d keys\n", bl_model_count(m), bl_model_tensor_count(m),
                           bl_model_kv_count(m)),
                    1);
    } else {
        rc = fail("unknown mode");
    }
    bl_model_destroy(m);
    bl_safetensors_close(st);
    free(sb);
    free(mb);
    return rc;
}
