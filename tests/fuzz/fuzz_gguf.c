/* libFuzzer target: the GGUF reader. Any bytes open or fail cleanly; a file that
   opens has every tensor inside the input and every kv readable through the typed
   accessors; its kvs and known-type tensors go back out through the writer and read
   back the same. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdlib.h>
#include <string.h>

static void walk_kv(const bl_kv *kv)
{
    int64_t v;
    double f;
    bl_str s;
    uint64_t i;
    if (kv->type != BL_VALUE_ARRAY) {
        (void)bl_kv_int(kv, &v);
        (void)bl_kv_float(kv, &f);
        if (bl_kv_string(kv, &s) == BL_OK && s.size && !s.data) abort();
        return;
    }
    for (i = 0; i < kv->count; ++i) {
        if (kv->elem_type == BL_VALUE_STRING) {
            if (bl_kv_array_string(kv, i, &s) != BL_OK) abort();
            if (s.size) (void)*(volatile const char *)(s.data + s.size - 1);
        } else if (bl_kv_array_float(kv, i, &f) != BL_OK) {
            abort();
        }
    }
}

static void round_trip(const bl_gguf *g)
{
    int nt = bl_gguf_count(g), nkv = bl_gguf_kv_count(g), i, n = 0;
    bl_tensor *t = (bl_tensor *)malloc(sizeof(bl_tensor) * (size_t)(nt + 1));
    bl_kv *kv = (bl_kv *)malloc(sizeof(bl_kv) * (size_t)(nkv + 1));
    bl_model_contents c;
    size_t size = 0;
    for (i = 0; i < nt; ++i)
        if (bl_gguf_get(g, i)->dtype != BL_DTYPE_OTHER) t[n++] = *bl_gguf_get(g, i);
    for (i = 0; i < nkv; ++i) kv[i] = *bl_gguf_kv(g, i);
    memset(&c, 0, sizeof c);
    c.tensors = t;
    c.tensor_count = n;
    c.kvs = kv;
    c.kv_count = nkv;
    /* a file with no tensors may carry general.alignment up to 2^31, and the header is
       padded to it when written back: a correct size query, but too much to allocate
       here, so the round trip covers files up to 64 MiB */
    if (bl_gguf_save(&c, BL_DTYPE_TQ2_0, NULL, 0, &size) == BL_OK && size <= ((size_t)1 << 26)) {
        uint8_t *file = (uint8_t *)malloc(size);
        bl_gguf *back = NULL;
        if (bl_gguf_save(&c, BL_DTYPE_TQ2_0, file, size, &size) != BL_OK) abort();
        if (bl_gguf_open(file, size, &back) != BL_OK) abort();
        if (bl_gguf_count(back) != n || bl_gguf_kv_count(back) != nkv) abort();
        for (i = 0; i < n; ++i) {
            const bl_tensor *b = bl_gguf_get(back, i);
            if (strcmp(b->name, t[i].name) != 0 || b->nbytes != t[i].nbytes || b->dtype != t[i].dtype ||
                memcmp(b->data, t[i].data, b->nbytes) != 0 || memcmp(b->shape, t[i].shape, sizeof b->shape) != 0)
                abort();
        }
        for (i = 0; i < nkv; ++i) {
            const bl_kv *b = bl_gguf_kv(back, i);
            if (strcmp(b->key, kv[i].key) != 0 || b->type != kv[i].type || b->count != kv[i].count) abort();
        }
        bl_gguf_close(back);
        free(file);
    }
    free(t);
    free(kv);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bl_gguf *g = NULL;
    int i;
    if (bl_gguf_open(data, size, &g) != BL_OK) return 0;
    for (i = 0; i < bl_gguf_kv_count(g); ++i) {
        const bl_kv *kv = bl_gguf_kv(g, i);
        if (bl_gguf_kv_find(g, kv->key) != kv) abort();
        walk_kv(kv);
    }
    for (i = 0; i < bl_gguf_count(g); ++i) {
        const bl_tensor *t = bl_gguf_get(g, i);
        const uint8_t *p = (const uint8_t *)t->data;
        uint64_t elems = 1;
        int d;
        if (p < data || t->nbytes > size || p + t->nbytes > data + size || !t->nbytes) abort();
        if (bl_gguf_find(g, t->name) != t || t->ndim < 1 || t->ndim > 4) abort();
        for (d = 0; d < t->ndim; ++d) elems *= (uint64_t)t->shape[d];
        if (t->dtype != BL_DTYPE_OTHER && bl_dtype_size(t->dtype, elems) != t->nbytes) abort();
        if (t->nbytes) (void)*(volatile const uint8_t *)(p + t->nbytes - 1);
    }
    round_trip(g);
    bl_gguf_close(g);
    return 0;
}
