/* Allocator and assert hooks are used, and BITLINEAR_API decorates declarations. */
#include <stdlib.h>
#include <string.h>
static int allocs, frees;
static void *count_malloc(size_t n) { ++allocs; return malloc(n); }
static void count_free(void *p) { if (p) ++frees; free(p); }
#define BITLINEAR_MALLOC(n) count_malloc(n)
#define BITLINEAR_REALLOC(p, n) realloc(p, n)
#define BITLINEAR_FREE(p) count_free(p)
#define BITLINEAR_ASSERT(c) ((void)(c))
#define BITLINEAR_API extern
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"
int main(void)
{
    float w[6] = { 1, -1, 0.5f, 0, 2, -3 }, x[3] = { 1, 2, 3 }, y[2];
    bl_linear_desc d;
    bl_linear *layer = NULL;
    memset(&d, 0, sizeof d);
    d.in_features = 3; d.out_features = 2; d.weight = w;
    if (bl_linear_create(&d, &layer) != BL_OK) return 1;
    if (bl_linear_forward(layer, x, 1, y, NULL) != BL_OK) return 1;
    bl_linear_destroy(layer);
    return allocs > 0 && allocs == frees ? 0 : 1;
}
