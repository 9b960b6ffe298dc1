/* Allocator hooks in a file that includes nothing but bitlinear.h: the implementation
   must include every standard header it needs (stdlib.h for qsort) by itself. The hooks
   are a bump allocator over a static arena, so this file needs no library either. */
#include "bitlinear.h" /* declarations: size_t for the hooks below */

static unsigned char arena[1 << 20];
static size_t arena_used;
static int allocs, frees;

static void *arena_malloc(size_t n)
{
    size_t at = (arena_used + 63) & ~(size_t)63, need = at + 64 + n;
    unsigned char *p;
    if (need > sizeof arena || need < at) return 0;
    p = arena + at + 64;
    *(size_t *)(void *)(p - 64) = n; /* the block's size, for realloc */
    arena_used = need;
    ++allocs;
    return p;
}
static void arena_free(void *p) { if (p) ++frees; }
static void *arena_realloc(void *p, size_t n)
{
    unsigned char *q;
    size_t old, i;
    if (!p) return arena_malloc(n);
    old = *(size_t *)(void *)((unsigned char *)p - 64);
    q = (unsigned char *)arena_malloc(n);
    if (!q) return 0;
    for (i = 0; i < old && i < n; ++i) q[i] = ((unsigned char *)p)[i];
    arena_free(p);
    return q;
}

#define BITLINEAR_MALLOC(n) arena_malloc(n)
#define BITLINEAR_REALLOC(p, n) arena_realloc(p, n)
#define BITLINEAR_FREE(p) arena_free(p)
#define BITLINEAR_IMPLEMENTATION
#include "bitlinear.h"

int main(void)
{
    /* 64 inputs: the OPTIMAL fit sorts them (qsort) */
    float w[2 * 64], x[64], y[2];
    static bl_linear_desc zero;       /* no memset: this file includes nothing */
    bl_linear_desc d = zero;
    bl_linear *layer = 0;
    int i;
    for (i = 0; i < 2 * 64; ++i) w[i] = (float)((i * 37) % 11) - 5.0f;
    for (i = 0; i < 64; ++i) x[i] = (float)(i % 7) - 3.0f;
    d.in_features = 64; d.out_features = 2; d.weight = w;
    if (bl_linear_create(&d, &layer) != BL_OK) return 1;
    if (bl_linear_forward(layer, x, 1, y, 0) != BL_OK) return 2;
    bl_linear_destroy(layer);
    return allocs > 0 && allocs == frees ? 0 : 3;
}
