/* ==== bitlinear: GGUF reading ============================================= */
/* A GGUF file (ggml/docs/gguf.md; reference reader ggml/src/gguf.cpp,
   gguf_init_from_file_impl), every number little-endian:
     "GGUF" u32 version (2 or 3) u64 n_tensors u64 n_kv
     n_kv x { string key, u32 type, value }         string = u64 length, bytes
     n_tensors x { string name, u32 n_dims, u64 ne[n_dims], u32 ggml type, u64 offset }
     zero padding to general.alignment (u32, default 32), then the data section;
     tensor offsets are relative to it.
   The header is walked twice over the caller's bytes: the first walk validates and
   counts, the second fills one allocation (tensors, keys and names as C strings, the
   bl_str records of string values) and checks the tensors against the data section.
   Everything bl_gguf points at is inside that allocation or the caller's bytes. */

#define BL__GGUF_ALIGNMENT 32u /* ggml's GGUF_DEFAULT_ALIGNMENT */
/* Smallest encodings, for the counts-against-bytes check: a kv with a one-byte key and
   a one-byte value; a tensor info with a one-byte name and one dimension. */
#define BL__GGUF_MIN_KV     (8 + 1 + 4 + 1)
#define BL__GGUF_MIN_TENSOR (8 + 1 + 4 + 8 + 4 + 8)

struct bl_gguf {
    uint32_t version;
    size_t alignment;
    int count, kv_count;
    bl_tensor *tensors;       /* file order */
    uint32_t *by_name;        /* tensor indices sorted by name */
    bl_kv *kvs;               /* file order */
    uint32_t *by_key;         /* kv indices sorted by key */
    bl_allocator alloc;       /* how block was allocated */
    void *block;              /* the one allocation holding all of it */
};

typedef struct bl__gguf_walk {
    const uint8_t *b;
    size_t size, pos;
    uint64_t n_tensors, n_kv;
    size_t n_strs, name_bytes; /* counted by the first walk */
    uint64_t alignment;
    bl_gguf *g;                /* second walk: where things go */
    char *names;
    bl_str *strs;
    uint64_t *offsets;         /* second walk: the tensors' data offsets */
} bl__gguf_walk;

static int bl__gg_has(const bl__gguf_walk *w, uint64_t n) { return n <= (uint64_t)(w->size - w->pos); }
static int bl__gg_u32(bl__gguf_walk *w, uint32_t *v)
{
    if (!bl__gg_has(w, 4)) return 0;
    *v = bl__rd32(w->b + w->pos);
    w->pos += 4;
    return 1;
}
static int bl__gg_u64(bl__gguf_walk *w, uint64_t *v)
{
    if (!bl__gg_has(w, 8)) return 0;
    *v = bl__rd64(w->b + w->pos);
    w->pos += 8;
    return 1;
}
/* A string: its length must fit in the bytes left. */
static int bl__gg_str(bl__gguf_walk *w, bl_str *s)
{
    uint64_t n;
    if (!bl__gg_u64(w, &n) || !bl__gg_has(w, n)) return 0;
    s->data = (const char *)(w->b + w->pos);
    s->size = n;
    w->pos += (size_t)n;
    return 1;
}
/* A key or tensor name: non-empty and without a 0 byte, since it becomes a C string
   (ggml copies names with strncpy, so an inner 0 would silently cut them). The second
   walk copies it, NUL-terminated, into the names area. */
static int bl__gg_name(bl__gguf_walk *w, bl_str *s, const char **copy)
{
    if (!bl__gg_str(w, s) || s->size == 0 || memchr(s->data, 0, (size_t)s->size)) return 0;
    if (w->g) {
        memcpy(w->names, s->data, (size_t)s->size);
        w->names[s->size] = 0;
        *copy = w->names;
        w->names += (size_t)s->size + 1;
    } else if (!bl__add_size(w->name_bytes, (size_t)s->size + 1, &w->name_bytes)) {
        return 0;
    }
    return 1;
}
/* Fixed-size values: BOOL must be 0 or 1 (ggml reads any nonzero byte as true; a file
   that stores 2 is not one any writer makes). */
static int bl__gg_values(bl__gguf_walk *w, bl_value_type t, uint64_t n)
{
    size_t size = bl__value_size(t), i;
    if (n > (uint64_t)(w->size - w->pos) / size) return 0;
    if (t == BL_VALUE_BOOL)
        for (i = 0; i < (size_t)n; ++i)
            if (w->b[w->pos + i] > 1) return 0;
    w->pos += (size_t)n * size;
    return 1;
}

/* One key/value pair (into kv on the second walk). */
static int bl__gg_kv(bl__gguf_walk *w, bl_kv *kv)
{
    bl_str key, s;
    const char *copy = NULL;
    uint32_t type, et;
    uint64_t n = 1, i;
    const uint8_t *data;
    if (!bl__gg_name(w, &key, &copy) || !bl__gg_u32(w, &type)) return 0;
    et = type;
    if (type == BL_VALUE_ARRAY && (!bl__gg_u32(w, &et) || !bl__gg_u64(w, &n))) return 0;
    /* nested arrays are refused, as ggml does */
    if (et > BL_VALUE_F64 || et == BL_VALUE_ARRAY) return 0;
    data = w->b + w->pos;
    if (et == BL_VALUE_STRING) {
        if (n > (uint64_t)(w->size - w->pos) / 8) return 0; /* each needs its length at least */
        if (w->g) data = (const uint8_t *)w->strs;
        for (i = 0; i < n; ++i) {
            if (!bl__gg_str(w, &s)) return 0;
            if (w->g) *w->strs++ = s;
        }
        if (!w->g && !bl__add_size(w->n_strs, (size_t)n, &w->n_strs)) return 0;
    } else if (!bl__gg_values(w, (bl_value_type)et, n)) {
        return 0;
    }
    /* general.alignment: a u32, nonzero power of two (gguf.cpp refuses anything else too) */
    if (key.size == 17 && memcmp(key.data, "general.alignment", 17) == 0) {
        uint32_t a;
        if (type != BL_VALUE_U32) return 0;
        a = bl__rd32(data);
        if (a == 0 || (a & (a - 1)) != 0) return 0;
        w->alignment = a;
    }
    if (kv) {
        kv->key = copy;
        kv->type = (bl_value_type)type;
        kv->elem_type = (bl_value_type)et;
        kv->count = n;
        kv->data = data;
    }
    return 1;
}

/* One tensor info (into t on the second walk; *offset gets its data offset). */
static int bl__gg_tensor(bl__gguf_walk *w, bl_tensor *t, uint64_t *offset)
{
    bl_str name;
    const char *copy = NULL;
    uint32_t n_dims, type, j;
    uint64_t ne[BL_GGUF_MAX_DIMS], elems = 1;
    bl_dtype dtype;
    size_t nbytes = 0;
    if (!bl__gg_name(w, &name, &copy) || !bl__gg_u32(w, &n_dims) || n_dims < 1 || n_dims > BL_GGUF_MAX_DIMS)
        return 0;
    for (j = 0; j < n_dims; ++j) { /* every dimension positive, the product below 2^63 */
        if (!bl__gg_u64(w, &ne[j]) || ne[j] == 0 || ne[j] > (uint64_t)INT64_MAX / elems) return 0;
        elems *= ne[j];
    }
    if (!bl__gg_u32(w, &type) || type > (uint32_t)INT32_MAX || !bl__gg_u64(w, offset)) return 0;
    dtype = bl__dtype_from_ggml((int64_t)type);
    if (dtype != BL_DTYPE_OTHER) {
        /* rows are whole blocks (gguf.cpp: ne[0] % blck_size); the size fits size_t */
        if (ne[0] % bl__dtypes[dtype].block != 0) return 0;
        nbytes = bl_dtype_size(dtype, elems);
        if (!nbytes) return 0;
    }
    if (t) {
        t->name = copy;
        t->dtype = dtype;
        t->elem_bytes = bl__dtype_elem_bytes(dtype);
        t->ndim = (int)n_dims;
        for (j = 0; j < BL_ST_MAX_DIMS; ++j) t->shape[j] = j < n_dims ? (int64_t)ne[n_dims - 1 - j] : 0;
        t->data = NULL;
        t->nbytes = nbytes; /* 0 for an unknown type until the offsets fix it */
        t->ggml_type = (int)type;
    }
    return 1;
}

/* Header, key/value pairs and tensor infos; the first walk (w->g NULL) counts. */
static int bl__gg_header(bl__gguf_walk *w)
{
    uint32_t magic, version;
    uint64_t i;
    w->pos = 0;
    w->alignment = BL__GGUF_ALIGNMENT;
    if (!bl__gg_u32(w, &magic) || magic != 0x46554747u /* "GGUF" */ || !bl__gg_u32(w, &version)) return 0;
    /* version 1 (32-bit counts) is gone from ggml too; 2 and 3 share this layout */
    if (version != 2 && version != 3) return 0;
    if (!bl__gg_u64(w, &w->n_tensors) || !bl__gg_u64(w, &w->n_kv)) return 0;
    if (w->n_tensors > BL_GGUF_MAX_TENSORS || w->n_kv > BL_GGUF_MAX_KV ||
        w->n_kv * BL__GGUF_MIN_KV + w->n_tensors * BL__GGUF_MIN_TENSOR > (uint64_t)(w->size - w->pos))
        return 0;
    if (w->g) w->g->version = version;
    for (i = 0; i < w->n_kv; ++i)
        if (!bl__gg_kv(w, w->g ? &w->g->kvs[i] : NULL)) return 0;
    for (i = 0; i < w->n_tensors; ++i) {
        uint64_t offset;
        if (!bl__gg_tensor(w, w->g ? &w->g->tensors[i] : NULL, &offset)) return 0;
        if (w->offsets) w->offsets[i] = offset;
    }
    return 1;
}

/* The data section starts at the first multiple of the alignment after the tensor
   infos (gguf.cpp seeks there only when there are tensors). Each tensor's offset is a
   multiple of the alignment, the tensors lie in file order without overlapping, and
   each ends inside the data section. gguf.cpp demands offsets packed exactly (each the
   previous one's end rounded up); gaps are allowed here, overlaps and disorder are not.
   A tensor of a type this library does not know spans the bytes up to the next
   tensor's offset, or to the end of the data section for the last one: its size comes
   from the offsets alone and must be nonzero. */
static int bl__gg_place(bl_gguf *g, const uint8_t *b, size_t size, size_t header_end, const uint64_t *offsets)
{
    uint64_t a = g->alignment, start, data_size, off = 0;
    int i;
    if (g->count == 0) return 1;
    start = (uint64_t)header_end + (a - (uint64_t)header_end % a) % a;
    if (start > (uint64_t)size) return 0;
    data_size = (uint64_t)size - start;
    for (i = 0; i < g->count; ++i) {
        bl_tensor *t = &g->tensors[i];
        off = offsets[i];
        if (off % a != 0 || off > data_size) return 0;
        if (i > 0) {
            bl_tensor *p = &g->tensors[i - 1];
            uint64_t prev = offsets[i - 1];
            if (off < prev) return 0;
            if (p->dtype == BL_DTYPE_OTHER) {
                if (off == prev) return 0;
                p->nbytes = (size_t)(off - prev);
            } else if (off - prev < (uint64_t)p->nbytes) {
                return 0;
            }
        }
        if ((uint64_t)t->nbytes > data_size - off) return 0;
        t->data = b + (size_t)(start + off);
    }
    if (g->tensors[g->count - 1].dtype == BL_DTYPE_OTHER) {
        if (off == data_size) return 0;
        g->tensors[g->count - 1].nbytes = (size_t)(data_size - off);
    }
    return 1;
}

static int bl__gg_name_less(const void *ctx, uint32_t a, uint32_t b)
{
    const bl_tensor *t = (const bl_tensor *)ctx;
    return strcmp(t[a].name, t[b].name) < 0;
}
static int bl__gg_key_less(const void *ctx, uint32_t a, uint32_t b)
{
    const bl_kv *kv = (const bl_kv *)ctx;
    return strcmp(kv[a].key, kv[b].key) < 0;
}

/* Sorts idx[0..n) by name and says whether two names are equal. */
static int bl__gg_unique(uint32_t *idx, size_t n, bl__less_fn less, const void *ctx)
{
    size_t i;
    for (i = 0; i < n; ++i) idx[i] = (uint32_t)i;
    bl__sort_index(idx, n, less, ctx);
    for (i = 1; i < n; ++i)
        if (!less(ctx, idx[i - 1], idx[i])) return 0;
    return 1;
}

/* A part of count * elem bytes placed at *at (*where), which moves on past it rounded
   up to BL__ALIGN; 0 on overflow. */
static int bl__gg_part(size_t *at, size_t count, size_t elem, size_t *where)
{
    size_t bytes;
    *where = *at;
    if (!bl__mul_size(count, elem, &bytes) || bytes > (size_t)-1 - BL__ALIGN) return 0;
    return bl__add_size(*at, bl__align_up(bytes), at);
}

BITLINEAR_DEF bl_status bl_gguf_open_with(const void *bytes, size_t size, const bl_allocator *alloc,
                                          bl_gguf **out)
{
    bl__gguf_walk w;
    size_t at = 0, header_end, p_g, p_t, p_bn, p_off, p_kv, p_bk, p_str, p_names, nt, nkv;
    uint8_t *block, *base;
    bl_gguf *g;
    bl_allocator a;
    int ok;
    if (!bytes || !out) return BL_ERR_INVALID;
    memset(&w, 0, sizeof w);
    w.b = (const uint8_t *)bytes;
    w.size = size;
    if (!bl__gg_header(&w)) return BL_ERR_FORMAT;
    header_end = w.pos;
    nt = (size_t)w.n_tensors;
    nkv = (size_t)w.n_kv;
    if (!bl__gg_part(&at, 1, sizeof(bl_gguf), &p_g) || !bl__gg_part(&at, nt, sizeof(bl_tensor), &p_t) ||
        !bl__gg_part(&at, nt, sizeof(uint32_t), &p_bn) || !bl__gg_part(&at, nt, sizeof(uint64_t), &p_off) ||
        !bl__gg_part(&at, nkv, sizeof(bl_kv), &p_kv) || !bl__gg_part(&at, nkv, sizeof(uint32_t), &p_bk) ||
        !bl__gg_part(&at, w.n_strs, sizeof(bl_str), &p_str) || !bl__gg_part(&at, w.name_bytes, 1, &p_names) ||
        !bl__add_size(at, BL__ALIGN, &at))
        return BL_ERR_NOMEM; /* more than the address space: only on 32-bit hosts */
    block = (uint8_t *)bl__alloc(alloc, at);
    if (!block) return BL_ERR_NOMEM;
    base = (uint8_t *)bl__align_ptr(block);
    g = (bl_gguf *)(base + p_g);
    memset(g, 0, sizeof *g);
    if (alloc) g->alloc = *alloc;
    g->block = block;
    g->alignment = BL__GGUF_ALIGNMENT;
    g->count = (int)nt;
    g->kv_count = (int)nkv;
    g->tensors = (bl_tensor *)(base + p_t);
    g->by_name = (uint32_t *)(base + p_bn);
    g->kvs = (bl_kv *)(base + p_kv);
    g->by_key = (uint32_t *)(base + p_bk);
    w.g = g;
    w.names = (char *)(base + p_names);
    w.strs = (bl_str *)(base + p_str);
    w.offsets = (uint64_t *)(base + p_off);
    /* the second walk sees the same bytes, so it passes too; then the checks that need
       everything in place: unique names and keys, the tensors in the data section */
    ok = bl__gg_header(&w);
    g->alignment = (size_t)w.alignment;
    if (!ok || !bl__gg_unique(g->by_name, nt, bl__gg_name_less, g->tensors) ||
        !bl__gg_unique(g->by_key, nkv, bl__gg_key_less, g->kvs) ||
        !bl__gg_place(g, w.b, size, header_end, w.offsets)) {
        a = g->alloc;
        bl__free(&a, block);
        return BL_ERR_FORMAT;
    }
    *out = g;
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_gguf_open(const void *bytes, size_t size, bl_gguf **out)
{
    return bl_gguf_open_with(bytes, size, NULL, out);
}

BITLINEAR_DEF void bl_gguf_close(bl_gguf *g)
{
    bl_allocator a;
    if (!g) return;
    a = g->alloc; /* g lives in the block it frees */
    bl__free(&a, g->block);
}

BITLINEAR_DEF uint32_t bl_gguf_version(const bl_gguf *g) { return g ? g->version : 0; }
BITLINEAR_DEF size_t bl_gguf_alignment(const bl_gguf *g) { return g ? g->alignment : 0; }
BITLINEAR_DEF int bl_gguf_count(const bl_gguf *g) { return g ? g->count : 0; }
BITLINEAR_DEF int bl_gguf_kv_count(const bl_gguf *g) { return g ? g->kv_count : 0; }

BITLINEAR_DEF const bl_tensor *bl_gguf_get(const bl_gguf *g, int index)
{
    return g && index >= 0 && index < g->count ? &g->tensors[index] : NULL;
}

BITLINEAR_DEF const bl_kv *bl_gguf_kv(const bl_gguf *g, int index)
{
    return g && index >= 0 && index < g->kv_count ? &g->kvs[index] : NULL;
}

BITLINEAR_DEF const bl_tensor *bl_gguf_find(const bl_gguf *g, const char *name)
{
    size_t lo = 0, hi;
    if (!g || !name) return NULL;
    hi = (size_t)g->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const bl_tensor *t = &g->tensors[g->by_name[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

BITLINEAR_DEF const bl_kv *bl_gguf_kv_find(const bl_gguf *g, const char *key)
{
    size_t lo = 0, hi;
    if (!g || !key) return NULL;
    hi = (size_t)g->kv_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const bl_kv *kv = &g->kvs[g->by_key[mid]];
        int c = strcmp(kv->key, key);
        if (c == 0) return kv;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}
