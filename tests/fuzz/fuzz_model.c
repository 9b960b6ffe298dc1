/* libFuzzer target: the model-file loader (container versions 1 and 2). Any bytes must
   load or fail cleanly; a model that loads must run a forward, hand out its float
   tensors and key/value pairs (every byte of them read), survive a save/load round trip
   of all its contents, and load the same as a view (zero-copy) as a copy. Each input is
   tried as it is and with its checksum recomputed, so mutations reach the field checks
   behind the CRC. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdlib.h>
#include <string.h>

static int same(const bl_linear *a, const bl_linear *b)
{
    bl_linear_info x, y;
    bl_linear_get_info(a, &x);
    bl_linear_get_info(b, &y);
    return x.in_features == y.in_features && x.out_features == y.out_features && x.k == y.k &&
           x.format == y.format && x.act == y.act && x.act_bits == y.act_bits &&
           memcmp(x.packed, y.packed, (size_t)x.k * (size_t)x.out_features * x.row_bytes) == 0 &&
           memcmp(x.scales, y.scales, (size_t)x.k * (size_t)x.out_features * sizeof(float)) == 0 &&
           (x.bias == NULL) == (y.bias == NULL) &&
           (!x.bias || memcmp(x.bias, y.bias, (size_t)x.out_features * sizeof(float)) == 0);
}

static int same_tensor(const bl_tensor *a, const bl_tensor *b)
{
    int d;
    if (strcmp(a->name, b->name) != 0 || a->dtype != b->dtype || a->ndim != b->ndim || a->nbytes != b->nbytes)
        return 0;
    for (d = 0; d < a->ndim; ++d)
        if (a->shape[d] != b->shape[d]) return 0;
    return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
}

/* reads every byte a key/value pair points at (ASan sees an overread), returns a checksum */
static unsigned touch_kv(const bl_kv *kv)
{
    static const unsigned sizes[13] = { 1, 1, 2, 2, 4, 4, 4, 1, 0, 0, 8, 8, 8 };
    unsigned sum = (unsigned)strlen(kv->key);
    bl_value_type elem = kv->type == BL_VALUE_ARRAY ? kv->elem_type : kv->type;
    uint64_t n = kv->type == BL_VALUE_ARRAY ? kv->count : 1, i, j;
    if ((unsigned)elem > 12u || elem == BL_VALUE_ARRAY || (kv->type != BL_VALUE_ARRAY && kv->count != 1)) abort();
    for (i = 0; i < n; ++i) {
        if (elem == BL_VALUE_STRING) {
            const bl_str *s = (const bl_str *)kv->data + i;
            for (j = 0; j < s->size; ++j) sum += (unsigned char)s->data[j];
        } else {
            for (j = 0; j < sizes[elem]; ++j) sum += ((const unsigned char *)kv->data)[i * sizes[elem] + j];
        }
    }
    return sum;
}

static void try_load(const uint8_t *data, size_t size, int fix_crc)
{
    void *block = malloc(size + 64);
    uint8_t *bytes = (uint8_t *)(((uintptr_t)block + 63) & ~(uintptr_t)63);
    bl_model *m = NULL, *v = NULL;
    bl_status a, b;
    int i;
    memcpy(bytes, data, size);
    if (fix_crc && size >= 64) { /* the documented checksum: CRC-32C of [0, 60) and [64, file size) */
        uint64_t fs = 0;
        uint32_t c;
        for (i = 7; i >= 0; --i) fs = fs << 8 | bytes[24 + i];
        if (fs < 64 || fs > size) fs = size;
        c = bl_crc32c(bl_crc32c(0, bytes, 60), bytes + 64, (size_t)fs - 64);
        for (i = 0; i < 4; ++i) bytes[60 + i] = (uint8_t)(c >> (8 * i));
    }
    a = bl_model_load(bytes, size, &m);
    b = bl_model_load_with(bytes, size, BL_MODEL_LOAD_VIEW, NULL, &v);
    if (a != b) abort();
    if (a == BL_OK) {
        int n = bl_model_count(m);
        bl_model_entry *e = (bl_model_entry *)malloc(sizeof *e * (size_t)(n + 1));
        size_t need = 0, wrote = 0;
        for (i = 0; i < n; ++i) {
            const bl_linear *L = bl_model_layer(m, i);
            bl_linear_info info;
            float *x, *y;
            if (bl_model_find(m, bl_model_name(m, i)) != L || !same(L, bl_model_layer(v, i))) abort();
            bl_linear_get_info(L, &info);
            x = (float *)calloc((size_t)info.in_features, sizeof(float));
            y = (float *)malloc((size_t)info.out_features * sizeof(float));
            x[0] = 1.0f;
            if (bl_linear_forward(L, x, 1, y, NULL) != BL_OK) abort();
            free(x);
            free(y);
            memset(&e[i], 0, sizeof e[i]);
            e[i].flags = bl_model_flags(m, i, &e[i].hadamard_seed) & BL_LAYER_FLAG_HADAMARD;
            e[i].name = bl_model_name(m, i);
            e[i].layer = L;
        }
        {
            int nt = bl_model_tensor_count(m), nk = bl_model_kv_count(m);
            bl_tensor *t = (bl_tensor *)malloc(sizeof *t * (size_t)(nt + 1));
            bl_kv *kv = (bl_kv *)malloc(sizeof *kv * (size_t)(nk + 1));
            bl_model_contents c;
            void *b2;
            uint8_t *out;
            bl_model *r = NULL;
            volatile unsigned sink = 0;
            for (i = 0; i < nt; ++i) {
                t[i] = *bl_model_tensor(m, i);
                if (bl_model_tensor_find(m, t[i].name) != bl_model_tensor(m, i) ||
                    !same_tensor(&t[i], bl_model_tensor(v, i)))
                    abort();
            }
            for (i = 0; i < nk; ++i) {
                kv[i] = *bl_model_kv(m, i);
                if (bl_model_kv_find(m, kv[i].key) != bl_model_kv(m, i) || touch_kv(&kv[i]) != touch_kv(bl_model_kv(v, i)))
                    abort();
                sink += touch_kv(&kv[i]);
            }
            (void)sink;
            memset(&c, 0, sizeof c);
            c.layers = e;
            c.layer_count = n;
            c.tensors = t;
            c.tensor_count = nt;
            c.kvs = kv;
            c.kv_count = nk;
            if (bl_model_save_contents(&c, NULL, 0, &need) != BL_OK) abort();
            b2 = malloc(need + 64);
            out = (uint8_t *)(((uintptr_t)b2 + 63) & ~(uintptr_t)63);
            if (bl_model_save_contents(&c, out, need, &wrote) != BL_OK || wrote != need) abort();
            if (bl_model_load(out, wrote, &r) != BL_OK || bl_model_count(r) != n || bl_model_tensor_count(r) != nt ||
                bl_model_kv_count(r) != nk)
                abort();
            for (i = 0; i < n; ++i)
                if (!same(bl_model_layer(m, i), bl_model_layer(r, i)) ||
                    bl_model_flags(m, i, NULL) != bl_model_flags(r, i, NULL))
                    abort();
            for (i = 0; i < nt; ++i)
                if (!same_tensor(&t[i], bl_model_tensor(r, i))) abort();
            for (i = 0; i < nk; ++i)
                if (touch_kv(&kv[i]) != touch_kv(bl_model_kv(r, i))) abort();
            bl_model_destroy(r);
            free(b2);
            free(t);
            free(kv);
        }
        free(e);
    }
    bl_model_destroy(m);
    bl_model_destroy(v);
    free(block);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    try_load(data, size, 0);
    try_load(data, size, 1);
    return 0;
}
