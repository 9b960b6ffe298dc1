/* tiny: a model compiled into the binary and used in place, with no copy and no stdio
   inside the library: the shape of an embedded or size-constrained build.

       make build/tiny        (generates build/tiny_model.h from a small checkpoint, then
                               builds with -Os, -ffunction-sections -fdata-sections,
                               -Wl,--gc-sections and BITLINEAR_NO_STDIO)
       make tiny-size         (the .text bytes the library adds, with and without SIMD)

   After build/tiny_model.h exists, `cc -O2 -I. examples/tiny.c -lm` builds it too.
   The model: fc1 (64 -> 96) + bias, ReLU, fc2 (96 -> 10) + bias, BASE3 ternary. */
#define BITLINEAR_NO_STDIO
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
#include "build/tiny_model.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <math.h>

int main(void)
{
    const unsigned char *bytes = tiny_model;
    void *copy = NULL;
    bl_model *model = NULL;
    const bl_linear *fc1, *fc2;
    float x[64], h[96], y[10];
    int i, best = 0;
    bl_status s;
    if ((uintptr_t)bytes % 64 != 0) { /* a compiler without the alignment attribute */
        copy = malloc(sizeof tiny_model + 64);
        if (!copy) return 1;
        bytes = (const unsigned char *)(((uintptr_t)copy + 63) & ~(uintptr_t)63);
        memcpy((void *)(uintptr_t)bytes, tiny_model, sizeof tiny_model);
    }
    /* zero-copy: the layers point into the array (validated first: checksum, every field) */
    s = bl_model_load_with(bytes, sizeof tiny_model, BL_MODEL_LOAD_VIEW, NULL, &model);
    if (s != BL_OK) {
        printf("tiny: %s\n", bl_status_string(s));
        return 1;
    }
    fc1 = bl_model_find(model, "fc1.weight");
    fc2 = bl_model_find(model, "fc2.weight");
    if (!fc1 || !fc2) return 1;
    for (i = 0; i < 64; ++i) x[i] = sinf(0.37f * (float)i);
    if (bl_linear_forward(fc1, x, 1, h, NULL) != BL_OK) return 1;
    for (i = 0; i < 96; ++i) h[i] = h[i] > 0.0f ? h[i] : 0.0f;
    if (bl_linear_forward(fc2, h, 1, y, NULL) != BL_OK) return 1;
    for (i = 1; i < 10; ++i) if (y[i] > y[best]) best = i;
    printf("tiny: %d-byte model, %d layers, viewed in place; logits:", (int)sizeof tiny_model, bl_model_count(model));
    for (i = 0; i < 10; ++i) printf(" %.3f", y[i]);
    printf("; class %d\n", best);
    bl_model_destroy(model);
    free(copy);
    return 0;
}
