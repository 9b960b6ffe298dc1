/* ==== bitlinear: little-endian bytes and an index sort (for the file readers) ==== */
/* Serialized integers and floats are read and written one byte at a time, least
   significant first, so every host sees the same bytes whatever its own byte order. */
static uint32_t bl__rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t bl__rd64(const uint8_t *p) { return (uint64_t)bl__rd32(p) | (uint64_t)bl__rd32(p + 4) << 32; }
static void bl__wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); p[2] = (uint8_t)(v >> 16); p[3] = (uint8_t)(v >> 24);
}
static void bl__wr64(uint8_t *p, uint64_t v) { bl__wr32(p, (uint32_t)v); bl__wr32(p + 4, (uint32_t)(v >> 32)); }
static float bl__rdf32(const uint8_t *p)
{
    uint32_t u = bl__rd32(p);
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}
static void bl__wrf32(uint8_t *p, float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    bl__wr32(p, u);
}
static int bl__host_little_endian(void)
{
    const uint32_t one = 1;
    uint8_t first;
    memcpy(&first, &one, 1);
    return first == 1;
}

/* Sorts idx[0..n) so that less(ctx, idx[a], idx[b]) holds in order. Heapsort: no
   recursion, no allocation, O(n log n) even on hostile input (file readers sort names
   and offsets to find duplicates and overlaps). */
typedef int (*bl__less_fn)(const void *ctx, uint32_t a, uint32_t b);
static void bl__sift(uint32_t *idx, size_t root, size_t n, bl__less_fn less, const void *ctx)
{
    for (;;) {
        size_t child = 2 * root + 1;
        uint32_t t;
        if (child >= n) return;
        if (child + 1 < n && less(ctx, idx[child], idx[child + 1])) ++child;
        if (!less(ctx, idx[root], idx[child])) return;
        t = idx[root]; idx[root] = idx[child]; idx[child] = t;
        root = child;
    }
}
static void bl__sort_index(uint32_t *idx, size_t n, bl__less_fn less, const void *ctx)
{
    size_t i;
    for (i = n / 2; i-- > 0;) bl__sift(idx, i, n, less, ctx);
    for (i = n; i-- > 1;) {
        uint32_t t = idx[0]; idx[0] = idx[i]; idx[i] = t;
        bl__sift(idx, 0, i, less, ctx);
    }
}
