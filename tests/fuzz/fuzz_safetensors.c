/* libFuzzer target: the safetensors parser. Any bytes parse or fail cleanly; every
   tensor of a parsed file lies inside the data and converts (F32/F16/BF16). */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bl_safetensors *st = NULL;
    int i;
    if (bl_safetensors_open(data, size, &st) != BL_OK) return 0;
    for (i = 0; i < bl_safetensors_count(st); ++i) {
        const bl_tensor *t = bl_safetensors_get(st, i);
        float dummy;
        const uint8_t *p = (const uint8_t *)t->data;
        size_t count = t->nbytes / (size_t)t->elem_bytes;
        if (p < data || p + t->nbytes > data + size || bl_safetensors_find(st, t->name) != t) abort();
        if (t->dtype == BL_DTYPE_F32 || t->dtype == BL_DTYPE_F16 || t->dtype == BL_DTYPE_BF16 ||
            t->dtype == BL_DTYPE_F64) {
            float *f = (float *)malloc(count * sizeof(float) + 1);
            if (bl_tensor_to_f32(t, f, count) != BL_OK) abort();
            free(f);
        } else if (bl_tensor_to_f32(t, &dummy, 1) != BL_ERR_UNSUPPORTED) {
            abort(); /* integer, BOOL and F8 tensors are named but not converted */
        }
    }
    bl_safetensors_close(st);
    return 0;
}
