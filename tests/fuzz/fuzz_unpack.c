/* libFuzzer target: bl_unpack on any bytes. Byte 0 picks the format, bytes 1-2 the
   shape; what unpacks must pack back to the very same bytes (the encoding is canonical). */
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bl_format f;
    int rows, cols;
    size_t need;
    int8_t *trits;
    uint8_t *again;
    if (size < 3) return 0;
    f = (bl_format)(data[0] % 3); /* 2 is not a format: must be refused */
    rows = 1 + data[1] % 8;
    cols = 1 + data[2] * 3;       /* up to 766: full blocks and tails of both formats */
    data += 3;
    size -= 3;
    trits = (int8_t *)malloc((size_t)rows * (size_t)cols);
    memset(trits, 0x55, (size_t)rows * (size_t)cols);
    if (bl_unpack(f, data, size, rows, cols, trits) == BL_OK) {
        size_t i;
        need = bl_packed_size(f, rows, cols);
        for (i = 0; i < (size_t)rows * (size_t)cols; ++i)
            if (trits[i] < -1 || trits[i] > 1) abort();
        again = (uint8_t *)malloc(need);
        if (bl_pack(f, trits, rows, cols, again, need) != BL_OK || memcmp(again, data, need) != 0) abort();
        free(again);
    } else {
        size_t i;
        for (i = 0; i < (size_t)rows * (size_t)cols; ++i) /* nothing written on error */
            if (trits[i] != 0x55) abort();
    }
    free(trits);
    return 0;
}
