/* libFuzzer target: bl_linear_import and bl_tensor_dequantize on any bytes. Byte 0 picks
   the type, byte 1 the flags and format, bytes 2-3 the shape, bytes 4-7 a float32
   weight_scale (HF packed); the rest is the tensor's data, cut to the size its type and
   shape need when there is enough (else given whole, to be refused). A layer that comes
   out must unpack (valid codes, zero padding) and have finite scales. */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const bl_dtype types[] = { BL_DTYPE_TQ1_0, BL_DTYPE_TQ2_0, BL_DTYPE_I2_S, BL_DTYPE_U8,
                                      BL_DTYPE_F16, BL_DTYPE_Q8_0, BL_DTYPE_F32, BL_DTYPE_BF16 };
    bl_tensor t, ws;
    bl_import_desc d;
    bl_linear *L = NULL;
    bl_import_kind kind;
    float scale;
    int rows, cols, hf;
    size_t need, n;
    if (size < 8) return 0;
    memset(&t, 0, sizeof t);
    memset(&ws, 0, sizeof ws);
    memset(&d, 0, sizeof d);
    t.dtype = types[data[0] % 8];
    hf = t.dtype == BL_DTYPE_U8;
    d.flags = (data[1] & 1u) | (hf ? BL_IMPORT_HF_PACKED : 0u) | ((data[1] & 2u) ? BL_IMPORT_SCALE_DIVIDE : 0u);
    d.format = (data[1] & 4u) ? BL_FORMAT_BASE3 : BL_FORMAT_2BIT;
    d.method = (bl_method)((data[1] >> 3) & 3u);
    rows = 1 + data[2] % 8;
    cols = t.dtype == BL_DTYPE_TQ1_0 || t.dtype == BL_DTYPE_TQ2_0 ? 256 * (1 + data[3] % 3)
         : t.dtype == BL_DTYPE_I2_S ? 128 * (1 + data[3] % 5)
         : t.dtype == BL_DTYPE_Q8_0 ? 32 * (1 + data[3] % 9) : 1 + data[3];
    memcpy(&scale, data + 4, 4);
    data += 8;
    size -= 8;
    n = (size_t)rows * (size_t)cols;
    need = hf ? n : bl_dtype_size(t.dtype, n);
    t.ndim = 2;
    t.shape[0] = rows;
    t.shape[1] = cols;
    t.data = data;
    t.nbytes = need && size >= need ? need : size;
    ws.dtype = BL_DTYPE_F32;
    ws.elem_bytes = 4;
    ws.data = &scale;
    ws.nbytes = 4;
    d.weight_scale = &ws;
    if (!hf) {
        float *y = (float *)malloc(n * sizeof(float));
        (void)bl_tensor_dequantize(&t, y, n);
        free(y);
    }
    if (bl_linear_import(&t, &d, &L, &kind) == BL_OK) {
        bl_linear_info info;
        int out = hf ? 4 * rows : rows, r;
        int8_t *tr = (int8_t *)malloc((size_t)out * (size_t)cols);
        if (bl_linear_get_info(L, &info) != BL_OK ||
            bl_unpack(info.format, info.packed, (size_t)out * info.row_bytes, out, cols, tr) != BL_OK)
            abort();
        for (r = 0; r < out; ++r)
            if (!(info.scales[r] - info.scales[r] == 0.0f)) abort();
        free(tr);
        bl_linear_destroy(L);
    }
    return 0;
}
