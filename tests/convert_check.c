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
    for (r = 0; r < info.out_features; ++r)
        if (fabs((double)info.scales[r] - scale) > 1e-6 * scale) return fail("scale is not mean|W| on every row");
    free(w);
    free(trits);
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

int main(int argc, char **argv)
{
    unsigned char *sb = NULL, *mb = NULL;
    size_t ss = 0, ms = 0;
    bl_safetensors *st = NULL;
    bl_model *m = NULL;
    const bl_tensor *t = NULL;
    int rc = 1, with_st;
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
