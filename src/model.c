/* ==== bitlinear: model files ============================================== */
/* The container, byte by byte (every integer little-endian; docs/models.md has the
   tables):
     header  64 bytes at 0: magic 89 'B' 'L' 'M' 0D 0A 1A 0A, u32 container version (1 or
             2), u32 packed format version, u32 layer count, u32 flags (0), u64 file size,
             u64 names size; version 2: u32 tensor count, u32 key/value count, u64
             key/value area size, 4 reserved zero bytes (version 1: those 20 bytes are
             zero); u32 CRC-32C of bytes [0, 60) then [64, file size)
     layer table   count entries of 96 bytes at 64 (see bl__entry_read)
     tensor table  tensor count entries of 112 bytes right after it (bl__tensor_entry_read)
     names   names size bytes right after the tables: each name is followed by a 0 byte
     kv area key/value area size bytes right after the names (bl__kv_parse), then zeros
     payload per layer: packed [k][out][row bytes], scales [k][out] f32, bias [out] f32;
             per tensor its elements; each at a 64-byte-aligned offset after the kv area,
             in no particular order, never overlapping one another or a name
   Layers flagged BL_LAYER_FLAG_HADAMARD carry their rotation seed in the table.
   The file size is a multiple of 64 and every gap is zero, so a reader can point
   straight into the bytes. Writers emit version 1 when a model has no tensors and no
   key/value pairs (older readers then still read it), else version 2. */

#define BL__MODEL_HEADER 64u
#define BL__MODEL_ENTRY  96u
#define BL__TENSOR_ENTRY 112u
#define BL__MODEL_CRC_AT 60u
static const uint8_t bl__model_magic[8] = { 0x89, 0x42, 0x4C, 0x4D, 0x0D, 0x0A, 0x1A, 0x0A };

typedef struct bl__model_item {
    const char *name;
    uint32_t flags;
    uint64_t hadamard_seed;
    bl_linear layer;          /* a view: owned = 0, the model holds its memory */
} bl__model_item;

struct bl_model {
    int count;
    bl__model_item *items;    /* in file order */
    uint32_t *by_name;        /* item indices sorted by name, for bl_model_find */
    int tensor_count;
    bl_tensor *tensors;       /* in file order */
    uint32_t *tensor_by_name;
    int kv_count;
    bl_kv *kvs;               /* in file order */
    uint32_t *kv_by_key;
    bl_allocator alloc;
    void *block;              /* the one allocation holding all of the above */
    void *file_buffer;        /* bl_model_load_file: the file's bytes, which the layers view */
};

/* One table entry in host form. */
typedef struct bl__entry {
    uint64_t name_off;
    uint32_t name_len, flags, in, out;
    int k, format, scaling, act, act_bits, method;
    uint64_t off[3], size[3];  /* packed, scales, bias */
    uint64_t seed;             /* Hadamard rotation seed */
} bl__entry;

/* What validation learned about a file, for building the model. */
typedef struct bl__model_shape {
    uint32_t count, tensor_count, kv_count;
    uint64_t kv_begin, kv_size;
    size_t names_bytes;       /* layer and tensor names with their 0 bytes */
    size_t layer_bytes;       /* layer payloads, each rounded up to 64 */
    size_t float_bytes;       /* scales and bias alone, each rounded up to 64 */
    size_t tensor_bytes;      /* tensor payloads, each rounded up to 64 */
    size_t strings;           /* bl_str values in the kv area */
} bl__model_shape;

static void bl__entry_read(const uint8_t *file, uint32_t i, bl__entry *e)
{
    const uint8_t *p = file + BL__MODEL_HEADER + (size_t)i * BL__MODEL_ENTRY;
    int part;
    e->name_off = bl__rd64(p + 0);   /* +0  u64 name offset (from the file's start) */
    e->name_len = bl__rd32(p + 8);   /* +8  u32 name length, without the 0 byte */
    e->flags = bl__rd32(p + 12);     /* +12 u32 BL_LAYER_FLAG_* */
    e->in = bl__rd32(p + 16);        /* +16 u32 in_features */
    e->out = bl__rd32(p + 20);       /* +20 u32 out_features */
    e->k = p[24];                    /* +24 u8 k, format, scaling, act, act_bits, method */
    e->format = p[25];
    e->scaling = p[26];
    e->act = p[27];
    e->act_bits = p[28];
    e->method = p[29];               /* +30 u16 reserved (0) */
    for (part = 0; part < 3; ++part) { /* +32 u64 offset, u64 size: packed, scales, bias */
        e->off[part] = bl__rd64(p + 32 + 16 * part);
        e->size[part] = bl__rd64(p + 40 + 16 * part);
    }
    e->seed = bl__rd64(p + 80);      /* +80 u64 Hadamard seed (0 without the flag), +88 8 reserved (0) */
}

/* One tensor table entry in host form. */
typedef struct bl__tentry {
    uint64_t name_off, off, size;
    uint32_t name_len, dtype, ndim;
    uint64_t shape[BL_ST_MAX_DIMS];
} bl__tentry;

static const uint8_t *bl__tentry_at(const uint8_t *file, uint32_t layers, uint32_t i)
{
    return file + BL__MODEL_HEADER + (size_t)layers * BL__MODEL_ENTRY + (size_t)i * BL__TENSOR_ENTRY;
}

static void bl__tensor_entry_read(const uint8_t *p, bl__tentry *t)
{
    int d;
    t->name_off = bl__rd64(p + 0);   /* +0  u64 name offset (from the file's start) */
    t->name_len = bl__rd32(p + 8);   /* +8  u32 name length, without the 0 byte */
    t->dtype = bl__rd32(p + 12);     /* +12 u32 bl_dtype: 0 F32, 1 F16, 2 BF16 */
    t->ndim = bl__rd32(p + 16);      /* +16 u32 dimensions, 0..8; +20 u32 reserved (0) */
    t->off = bl__rd64(p + 24);       /* +24 u64 data offset (0 when the size is 0) */
    t->size = bl__rd64(p + 32);      /* +32 u64 data size in bytes */
    for (d = 0; d < BL_ST_MAX_DIMS; ++d) /* +40 8 x u64 shape, outermost first; unused 0 */
        t->shape[d] = bl__rd64(p + 40 + 8 * d);
}                                    /* +104 8 reserved (0) */

static int bl__all_zero(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i)
        if (p[i]) return 0;
    return 1;
}

static uint32_t bl__model_crc(const uint8_t *file, size_t file_size)
{
    return bl_crc32c(bl_crc32c(0, file, BL__MODEL_CRC_AT), file + BL__MODEL_HEADER, file_size - BL__MODEL_HEADER);
}

/* Bytes per element of the float types a model file stores; 0 for any other. */
static int bl__model_dtype_bytes(uint32_t dtype)
{
    return dtype == BL_DTYPE_F32 ? 4 : dtype == BL_DTYPE_F16 || dtype == BL_DTYPE_BF16 ? 2 : 0;
}

/* Bytes of one value of a scalar metadata type read from a file; 0 for STRING, ARRAY and
   unknown types (checked before the conversion, so no out-of-range enum is formed). */
static uint64_t bl__value_bytes(uint32_t type)
{
    return type > (uint32_t)BL_VALUE_F64 ? 0 : (uint64_t)bl__value_size((bl_value_type)type);
}

/* The key/value area: `count` records back to back, then zero bytes to its end.
     u32 key length n (1..BL_MODEL_MAX_NAME), n key bytes (no 0 among them), a 0 byte,
     u32 type (bl_value_type), then the value:
       scalar  its bytes (1, 2, 4 or 8); BOOL is 0 or 1
       STRING  u64 length, the bytes (any bytes, no terminator)
       ARRAY   u32 element type (not ARRAY), u64 count, the elements as above
   No alignment anywhere (readers go byte by byte). Checks every length against the bytes
   left; with kvs given it also fills them (and strs, the bl_str values, in order).
   *strings gets the number of bl_str values. */
static bl_status bl__kv_parse(const uint8_t *p, uint64_t size, uint32_t count, bl_kv *kvs, bl_str *strs,
                              size_t *strings)
{
    uint64_t at = 0;
    size_t n_str = 0;
    uint32_t i;
    for (i = 0; i < count; ++i) {
        uint32_t klen, type, elem;
        uint64_t cnt = 1, j;
        const uint8_t *key, *data;
        if (size - at < 4) return BL_ERR_FORMAT;
        klen = bl__rd32(p + at);
        at += 4;
        if (klen < 1 || klen > BL_MODEL_MAX_NAME || size - at < (uint64_t)klen + 5) return BL_ERR_FORMAT;
        key = p + at;
        if (memchr(key, 0, klen) != NULL || key[klen] != 0) return BL_ERR_FORMAT;
        at += (uint64_t)klen + 1;
        type = elem = bl__rd32(p + at);
        at += 4;
        if (type == BL_VALUE_ARRAY) {
            if (size - at < 12) return BL_ERR_FORMAT;
            elem = bl__rd32(p + at);
            cnt = bl__rd64(p + at + 4);
            at += 12;
            if (elem == BL_VALUE_ARRAY) return BL_ERR_FORMAT;
        }
        if (elem != BL_VALUE_STRING && bl__value_bytes(elem) == 0) return BL_ERR_FORMAT;
        data = p + at;
        if (elem == BL_VALUE_STRING) {
            if (strs) data = (const uint8_t *)(const void *)(strs + n_str);
            for (j = 0; j < cnt; ++j) { /* each string takes 8 bytes at least: the loop ends */
                uint64_t len;
                if (size - at < 8) return BL_ERR_FORMAT;
                len = bl__rd64(p + at);
                at += 8;
                if (len > size - at) return BL_ERR_FORMAT;
                if (strs) {
                    strs[n_str].data = (const char *)(p + at);
                    strs[n_str].size = len;
                }
                ++n_str;
                at += len;
            }
        } else {
            uint64_t es = bl__value_bytes(elem);
            if (cnt > (size - at) / es) return BL_ERR_FORMAT;
            if (elem == BL_VALUE_BOOL)
                for (j = 0; j < cnt; ++j)
                    if (data[j] > 1) return BL_ERR_FORMAT;
            at += cnt * es;
        }
        if (kvs) {
            kvs[i].key = (const char *)key;
            kvs[i].type = (bl_value_type)type;
            kvs[i].elem_type = (bl_value_type)elem;
            kvs[i].count = cnt;
            kvs[i].data = data;
        }
    }
    if (!bl__all_zero(p + at, (size_t)(size - at))) return BL_ERR_FORMAT;
    *strings = n_str;
    return BL_OK;
}

/* ---- validation ---- */

/* A name of len bytes at off inside [names_begin, names_end), followed by its 0 byte. */
static int bl__name_ok(const uint8_t *file, uint64_t off, uint32_t len, uint64_t names_begin, uint64_t names_end)
{
    const uint8_t *p;
    if (len < 1 || len > BL_MODEL_MAX_NAME || off < names_begin || off > names_end ||
        names_end - off < (uint64_t)len + 1)
        return 0;
    p = file + (size_t)off;
    return memchr(p, 0, len) == NULL && p[len] == 0;
}

/* A payload of size bytes at off: none (both 0), or 64-byte aligned in [data_begin, file_size). */
static int bl__payload_ok(uint64_t off, uint64_t size, uint64_t data_begin, uint64_t file_size)
{
    if (size == 0) return off == 0;
    return off % BL__ALIGN == 0 && off >= data_begin && off <= file_size && file_size - off >= size;
}

/* Checks one entry's fields and that its name and payloads lie inside the file. */
static bl_status bl__entry_check(const uint8_t *file, const bl__entry *e, uint64_t names_begin,
                                 uint64_t names_end, uint64_t data_begin, uint64_t file_size)
{
    size_t plane, want[3];
    int part;
    if ((e->flags & ~(BL_LAYER_FLAG_BIAS | BL_LAYER_FLAG_HADAMARD)) ||
        (e->seed != 0 && !(e->flags & BL_LAYER_FLAG_HADAMARD)))
        return BL_ERR_FORMAT;
    if (e->in < 1 || e->in > (uint32_t)BL_MAX_IN_FEATURES || e->out < 1 || e->out > (uint32_t)INT_MAX ||
        e->k < 1 || e->k > BL_MAX_K || !bl__valid_format(e->format) || !bl__valid_scaling(e->scaling) ||
        !bl__valid_act(e->act) || !bl__valid_method(e->method) || e->act_bits < 2 || e->act_bits > 8)
        return BL_ERR_FORMAT;
    if (!bl__name_ok(file, e->name_off, e->name_len, names_begin, names_end)) return BL_ERR_FORMAT;
    plane = bl_packed_size((bl_format)e->format, (int)e->out, (int)e->in);
    if (!plane || !bl__mul_size(plane, (size_t)e->k, &want[0]) ||
        !bl__mul_size((size_t)e->out * sizeof(float), (size_t)e->k, &want[1]))
        return BL_ERR_FORMAT;
    want[2] = (e->flags & BL_LAYER_FLAG_BIAS) ? (size_t)e->out * sizeof(float) : 0;
    for (part = 0; part < 3; ++part)
        if (e->size[part] != (uint64_t)want[part] || !bl__payload_ok(e->off[part], e->size[part], data_begin, file_size))
            return BL_ERR_FORMAT;
    return BL_OK;
}

/* Checks one tensor entry: a float type, a shape whose element count times the element
   size is the payload size (no overflow), its name and payload inside the file. */
static bl_status bl__tensor_entry_check(const uint8_t *raw, const uint8_t *file, const bl__tentry *t,
                                        uint64_t names_begin, uint64_t names_end, uint64_t data_begin,
                                        uint64_t file_size)
{
    uint64_t elems = 1;
    int eb = bl__model_dtype_bytes(t->dtype);
    uint32_t d;
    if (bl__rd32(raw + 20) != 0 || !bl__all_zero(raw + 104, 8) || eb == 0 || t->ndim > BL_ST_MAX_DIMS)
        return BL_ERR_FORMAT;
    for (d = 0; d < BL_ST_MAX_DIMS; ++d) {
        if (d >= t->ndim) {
            if (t->shape[d] != 0) return BL_ERR_FORMAT;
            continue;
        }
        if (t->shape[d] > (uint64_t)INT64_MAX) return BL_ERR_FORMAT;
        if (t->shape[d] != 0 && elems > UINT64_MAX / t->shape[d]) return BL_ERR_FORMAT;
        elems *= t->shape[d];
    }
    if (elems > UINT64_MAX / (uint64_t)eb || t->size != elems * (uint64_t)eb) return BL_ERR_FORMAT;
    if (!bl__name_ok(file, t->name_off, t->name_len, names_begin, names_end) ||
        !bl__payload_ok(t->off, t->size, data_begin, file_size))
        return BL_ERR_FORMAT;
    return BL_OK;
}

/* Names and payloads as [offset, offset + size) regions; no two may overlap, so the
   model's copies of the names are never larger than the file's names area. */
typedef struct bl__region { uint64_t off, size; } bl__region;
static int bl__region_less(const void *ctx, uint32_t a, uint32_t b)
{
    const bl__region *r = (const bl__region *)ctx;
    return r[a].off < r[b].off;
}
static int bl__name_less(const void *ctx, uint32_t a, uint32_t b)
{
    const bl__model_item *items = (const bl__model_item *)ctx;
    return strcmp(items[a].name, items[b].name) < 0;
}
static int bl__tensor_less(const void *ctx, uint32_t a, uint32_t b)
{
    const bl_tensor *t = (const bl_tensor *)ctx;
    return strcmp(t[a].name, t[b].name) < 0;
}
static int bl__kv_less(const void *ctx, uint32_t a, uint32_t b)
{
    const bl_kv *kv = (const bl_kv *)ctx;
    return strcmp(kv[a].key, kv[b].key) < 0;
}

/* The payload bytes themselves: every packed row decodes (no 2BIT code 3, padding trits
   zero, canonical BASE3 bytes), scales and bias are finite. The full 64-byte blocks of a
   row hold no padding, so they only need a per-byte test (8 bytes at a time for 2BIT, a
   stack bitmap of the 243 canonical bytes for BASE3); the row's tail is laid out like a
   short row of its own, which bl__unpack_row checks trit by trit. */
static int bl__payload_valid(const uint8_t *file, const bl__entry *e)
{
    size_t row_bytes = bl_packed_row_bytes((bl_format)e->format, (int)e->in), r, rows, i;
    const uint8_t *packed = file + (size_t)e->off[0];
    int d = bl__digits(e->format), span = BL__BLOCK_BYTES * d;
    size_t body = (size_t)(e->in / (uint32_t)span) * BL__BLOCK_BYTES;
    int tail = (int)(e->in % (uint32_t)span);
    uint8_t canonical[32];
    memset(canonical, 0, sizeof canonical);
    for (i = 0; i < 243; ++i) {
        size_t b = (i * 256 + 242) / 243;
        canonical[b >> 3] = (uint8_t)(canonical[b >> 3] | 1u << (b & 7));
    }
    rows = (size_t)e->out * (size_t)e->k;
    for (r = 0; r < rows; ++r) {
        const uint8_t *row = packed + r * row_bytes;
        if (d == 4) {
            uint64_t bad = 0;
            for (i = 0; i + 8 <= body; i += 8) { /* a code 3 has both bits set */
                uint64_t v = bl__rd64(row + i);
                bad |= v & (v >> 1) & 0x5555555555555555ull;
            }
            for (; i < body; ++i) bad |= (uint64_t)(row[i] & (row[i] >> 1) & 0x55);
            if (bad) return 0;
        } else {
            for (i = 0; i < body; ++i)
                if (!(canonical[row[i] >> 3] >> (row[i] & 7) & 1u)) return 0;
        }
        if (tail && !bl__unpack_row(e->format, row + body, tail, NULL)) return 0;
    }
    for (i = 0; i < (size_t)(e->size[1] / 4); ++i) {
        float f = bl__rdf32(file + (size_t)e->off[1] + 4 * i);
        if (!(f - f == 0.0f)) return 0;
    }
    for (i = 0; i < (size_t)(e->size[2] / 4); ++i) {
        float f = bl__rdf32(file + (size_t)e->off[2] + 4 * i);
        if (!(f - f == 0.0f)) return 0;
    }
    return 1;
}

/* Header, checksum, tables, regions, the kv area and the layer payloads; nothing is
   allocated but a temporary index for the overlap test. *sh on success. Name and key
   uniqueness is checked while the model is built (it needs the sorted indices). */
static bl_status bl__model_validate(const uint8_t *file, size_t size, const bl_allocator *alloc,
                                    bl__model_shape *sh)
{
    uint32_t version, pversion, count, tcount, kvcount, i, n_regions = 0, *order;
    uint64_t file_size, names_size, names_begin, names_end, kv_size, data_begin;
    bl__region *regions;
    bl__entry e;
    bl__tentry t;
    bl_status st = BL_OK;
    memset(sh, 0, sizeof *sh);
    if (size < BL__MODEL_HEADER || memcmp(file, bl__model_magic, 8) != 0) return BL_ERR_FORMAT;
    version = bl__rd32(file + 8);
    pversion = bl__rd32(file + 12);
    if (version == 0 || pversion == 0) return BL_ERR_FORMAT;
    if (version > BITLINEAR_MODEL_VERSION || pversion != BITLINEAR_FORMAT_VERSION)
        return BL_ERR_UNSUPPORTED; /* a newer writer: say so rather than "corrupt" (bl_model_file_version) */
    count = bl__rd32(file + 16);
    file_size = bl__rd64(file + 24);
    names_size = bl__rd64(file + 32);
    tcount = bl__rd32(file + 40);
    kvcount = bl__rd32(file + 44);
    kv_size = bl__rd64(file + 48);
    if (version == 1 && !bl__all_zero(file + 40, 20)) return BL_ERR_FORMAT;
    if (count > BL_MODEL_MAX_LAYERS || tcount > BL_MODEL_MAX_TENSORS || kvcount > BL_MODEL_MAX_KV ||
        bl__rd32(file + 20) != 0 || bl__rd32(file + 56) != 0 || file_size > (uint64_t)size ||
        file_size % BL__ALIGN != 0 || file_size < BL__MODEL_HEADER)
        return BL_ERR_FORMAT;
    names_begin = BL__MODEL_HEADER + (uint64_t)count * BL__MODEL_ENTRY + (uint64_t)tcount * BL__TENSOR_ENTRY;
    if (names_begin > file_size || names_size > file_size - names_begin) return BL_ERR_FORMAT;
    names_end = names_begin + names_size;
    if (kv_size > file_size - names_end) return BL_ERR_FORMAT;
    data_begin = names_end + kv_size;
    if (bl__rd32(file + BL__MODEL_CRC_AT) != bl__model_crc(file, (size_t)file_size)) return BL_ERR_FORMAT;

    for (i = 0; i < count; ++i) {
        const uint8_t *raw = file + BL__MODEL_HEADER + (size_t)i * BL__MODEL_ENTRY;
        int part;
        bl__entry_read(file, i, &e);
        if (raw[30] || raw[31] || !bl__all_zero(raw + 88, 8)) return BL_ERR_FORMAT;
        st = bl__entry_check(file, &e, names_begin, names_end, data_begin, file_size);
        if (st != BL_OK) return st;
        sh->names_bytes += (size_t)e.name_len + 1;
        for (part = 0; part < 3; ++part) { /* each part <= file size: the sums stay below 4x it */
            sh->layer_bytes += bl__align_up((size_t)e.size[part]);
            if (part) sh->float_bytes += bl__align_up((size_t)e.size[part]);
            if (e.size[part]) ++n_regions;
        }
        ++n_regions; /* the name */
    }
    for (i = 0; i < tcount; ++i) {
        const uint8_t *raw = bl__tentry_at(file, count, i);
        bl__tensor_entry_read(raw, &t);
        st = bl__tensor_entry_check(raw, file, &t, names_begin, names_end, data_begin, file_size);
        if (st != BL_OK) return st;
        sh->names_bytes += (size_t)t.name_len + 1;
        sh->tensor_bytes += bl__align_up((size_t)t.size);
        n_regions += t.size ? 2u : 1u;
    }
    st = bl__kv_parse(file + (size_t)names_end, kv_size, kvcount, NULL, NULL, &sh->strings);
    if (st != BL_OK) return st;

    /* regions must not overlap one another (names lie inside the names area, payloads
       after the kv area, so neither reaches the header, the tables or the kv area) */
    regions = (bl__region *)bl__alloc(alloc, (size_t)n_regions * (sizeof(bl__region) + sizeof(uint32_t)) + 1);
    if (!regions) return BL_ERR_NOMEM;
    order = (uint32_t *)(void *)(regions + n_regions);
    n_regions = 0;
    for (i = 0; i < count; ++i) {
        int part;
        bl__entry_read(file, i, &e);
        regions[n_regions].off = e.name_off;
        regions[n_regions++].size = (uint64_t)e.name_len + 1;
        for (part = 0; part < 3; ++part)
            if (e.size[part]) {
                regions[n_regions].off = e.off[part];
                regions[n_regions++].size = e.size[part];
            }
    }
    for (i = 0; i < tcount; ++i) {
        bl__tensor_entry_read(bl__tentry_at(file, count, i), &t);
        regions[n_regions].off = t.name_off;
        regions[n_regions++].size = (uint64_t)t.name_len + 1;
        if (t.size) {
            regions[n_regions].off = t.off;
            regions[n_regions++].size = t.size;
        }
    }
    for (i = 0; i < n_regions; ++i) order[i] = i;
    bl__sort_index(order, n_regions, bl__region_less, regions);
    for (i = 1; i < n_regions && st == BL_OK; ++i)
        if (regions[order[i - 1]].off + regions[order[i - 1]].size > regions[order[i]].off) st = BL_ERR_FORMAT;
    bl__free(alloc, regions);
    if (st != BL_OK) return st;

    for (i = 0; i < count; ++i) {
        bl__entry_read(file, i, &e);
        if (!bl__payload_valid(file, &e)) return BL_ERR_FORMAT;
    }
    sh->count = count;
    sh->tensor_count = tcount;
    sh->kv_count = kvcount;
    sh->kv_begin = names_end;
    sh->kv_size = kv_size;
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_model_file_version(const void *bytes, size_t size, uint32_t *version,
                                              uint32_t *format_version)
{
    const uint8_t *file = (const uint8_t *)bytes;
    if (!bytes) return BL_ERR_INVALID;
    if (size < 16 || memcmp(file, bl__model_magic, 8) != 0) return BL_ERR_FORMAT;
    if (version) *version = bl__rd32(file + 8);
    if (format_version) *format_version = bl__rd32(file + 12);
    return BL_OK;
}

/* ---- loading ---- */

static void bl__copy_floats(float *dst, const uint8_t *src, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i) dst[i] = bl__rdf32(src + 4 * i);
}

/* 1 if some two of the sorted names are equal */
static int bl__has_duplicate(uint32_t *idx, size_t n, bl__less_fn less, const void *ctx)
{
    size_t i;
    bl__sort_index(idx, n, less, ctx);
    for (i = 1; i < n; ++i)
        if (!less(ctx, idx[i - 1], idx[i])) return 1;
    return 0;
}

/* *at reserves n bytes, 64-byte aligned; *where gets the start. 0 on overflow. */
static int bl__reserve(size_t *at, size_t n, size_t *where)
{
    *where = *at;
    return bl__advance(at, n);
}

BITLINEAR_DEF bl_status bl_model_load_with(const void *bytes, size_t size, unsigned flags,
                                           const bl_allocator *alloc, bl_model **out)
{
    const uint8_t *file = (const uint8_t *)bytes, *kv_area;
    uint32_t i;
    size_t at, items_at, index_at, tensors_at, tindex_at, kvs_at, kindex_at, strs_at, names_at, data_at, total,
        payload, sz;
    int view = (flags & BL_MODEL_LOAD_VIEW) != 0, copy_floats;
    uint8_t *base, *block;
    char *names;
    bl__model_shape sh;
    bl_model *m;
    bl_status st;
    if (!bytes || !out || (flags & ~BL_MODEL_LOAD_VIEW)) return BL_ERR_INVALID;
    if (alloc && !alloc->alloc) alloc = NULL;
    if (view && (uintptr_t)bytes % BL__ALIGN != 0) return BL_ERR_INVALID; /* views need 64-byte alignment */
    st = bl__model_validate(file, size, alloc, &sh);
    if (st != BL_OK) return st;

    /* one block: model, items, name index, tensors, their index, kvs, their index, the
       kv strings, names, then the copied parts (views copy only what the host's byte
       order requires: layer scales and bias on big-endian hosts) */
    copy_floats = !view || !bl__host_little_endian();
    payload = view ? (copy_floats ? sh.float_bytes : 0) : sh.layer_bytes;
    if (!view) { /* the tensors and the kv area too */
        if (!bl__add_size(payload, sh.tensor_bytes, &payload) ||
            !bl__add_size(payload, bl__align_up((size_t)sh.kv_size), &payload))
            return BL_ERR_OVERFLOW;
    }
    at = 0;
    if (!bl__reserve(&at, sizeof(bl_model), &sz) ||
        !bl__reserve(&at, (size_t)sh.count * sizeof(bl__model_item), &items_at) ||
        !bl__reserve(&at, (size_t)sh.count * sizeof(uint32_t), &index_at) ||
        !bl__reserve(&at, (size_t)sh.tensor_count * sizeof(bl_tensor), &tensors_at) ||
        !bl__reserve(&at, (size_t)sh.tensor_count * sizeof(uint32_t), &tindex_at) ||
        !bl__reserve(&at, (size_t)sh.kv_count * sizeof(bl_kv), &kvs_at) ||
        !bl__reserve(&at, (size_t)sh.kv_count * sizeof(uint32_t), &kindex_at) ||
        !bl__mul_size(sh.strings, sizeof(bl_str), &sz) || !bl__reserve(&at, sz, &strs_at) ||
        !bl__reserve(&at, sh.names_bytes, &names_at) || !bl__reserve(&at, payload, &data_at) ||
        !bl__add_size(at, BL__ALIGN, &total))
        return BL_ERR_OVERFLOW;
    block = (uint8_t *)bl__alloc(alloc, total);
    if (!block) return BL_ERR_NOMEM;
    base = (uint8_t *)bl__align_ptr(block);

    m = (bl_model *)(void *)base;
    memset(m, 0, sizeof *m);
    m->count = (int)sh.count;
    m->items = (bl__model_item *)(void *)(base + items_at);
    m->by_name = (uint32_t *)(void *)(base + index_at);
    m->tensor_count = (int)sh.tensor_count;
    m->tensors = (bl_tensor *)(void *)(base + tensors_at);
    m->tensor_by_name = (uint32_t *)(void *)(base + tindex_at);
    m->kv_count = (int)sh.kv_count;
    m->kvs = (bl_kv *)(void *)(base + kvs_at);
    m->kv_by_key = (uint32_t *)(void *)(base + kindex_at);
    if (alloc) m->alloc = *alloc;
    m->block = block;
    names = (char *)(base + names_at);
    at = data_at;
    for (i = 0; i < sh.count; ++i) {
        bl__model_item *it = &m->items[i];
        bl_linear *L = &it->layer;
        bl__entry e;
        bl__entry_read(file, i, &e);
        memcpy(names, file + (size_t)e.name_off, (size_t)e.name_len + 1);
        it->name = names;
        it->flags = e.flags;
        it->hadamard_seed = e.seed;
        names += e.name_len + 1;
        memset(L, 0, sizeof *L);
        L->in_features = (int)e.in;
        L->out_features = (int)e.out;
        L->k = e.k;
        L->act_bits = e.act_bits;
        L->format = (bl_format)e.format;
        L->act = (bl_act)e.act;
        L->method = (bl_method)e.method;
        L->scaling = (bl_scaling)e.scaling;
        L->row_bytes = bl_packed_row_bytes(L->format, L->in_features);
        L->hadamard = (e.flags & BL_LAYER_FLAG_HADAMARD) != 0;
        L->hadamard_seed = e.seed;
        if (alloc) L->alloc = *alloc; /* forward's scratch, when none is given */
        L->owned = 0;
        if (view) {
            L->packed = file + (size_t)e.off[0];
        } else {
            memcpy(base + at, file + (size_t)e.off[0], (size_t)e.size[0]);
            L->packed = base + at;
            at += bl__align_up((size_t)e.size[0]);
        }
        if (copy_floats) {
            bl__copy_floats((float *)(void *)(base + at), file + (size_t)e.off[1], (size_t)e.size[1] / 4);
            L->scales = (const float *)(const void *)(base + at);
            at += bl__align_up((size_t)e.size[1]);
            if (e.size[2]) {
                bl__copy_floats((float *)(void *)(base + at), file + (size_t)e.off[2], (size_t)e.size[2] / 4);
                L->bias = (const float *)(const void *)(base + at);
                at += bl__align_up((size_t)e.size[2]);
            }
        } else {
            L->scales = (const float *)(const void *)(file + (size_t)e.off[1]);
            L->bias = e.size[2] ? (const float *)(const void *)(file + (size_t)e.off[2]) : NULL;
        }
        m->by_name[i] = i;
    }
    for (i = 0; i < sh.tensor_count; ++i) {
        bl_tensor *T = &m->tensors[i];
        bl__tentry t;
        int d;
        bl__tensor_entry_read(bl__tentry_at(file, sh.count, i), &t);
        memcpy(names, file + (size_t)t.name_off, (size_t)t.name_len + 1);
        memset(T, 0, sizeof *T);
        T->name = names;
        names += t.name_len + 1;
        T->dtype = (bl_dtype)t.dtype;
        T->elem_bytes = bl__model_dtype_bytes(t.dtype);
        T->ndim = (int)t.ndim;
        for (d = 0; d < BL_ST_MAX_DIMS; ++d) T->shape[d] = (int64_t)t.shape[d];
        T->nbytes = (size_t)t.size;
        T->ggml_type = -1;
        if (view || !t.size) { /* tensor elements stay little-endian, as bl_tensor documents */
            T->data = t.size ? file + (size_t)t.off : NULL;
        } else {
            memcpy(base + at, file + (size_t)t.off, (size_t)t.size);
            T->data = base + at;
            at += bl__align_up((size_t)t.size);
        }
        m->tensor_by_name[i] = i;
    }
    kv_area = file + (size_t)sh.kv_begin;
    if (!view && sh.kv_size) {
        memcpy(base + at, kv_area, (size_t)sh.kv_size);
        kv_area = base + at;
    }
    (void)bl__kv_parse(kv_area, sh.kv_size, sh.kv_count, m->kvs, (bl_str *)(void *)(base + strs_at), &sz);
    for (i = 0; i < sh.kv_count; ++i) m->kv_by_key[i] = i;

    /* names unique among layers, among tensors and between the two; keys unique */
    st = BL_OK;
    if (bl__has_duplicate(m->by_name, sh.count, bl__name_less, m->items) ||
        bl__has_duplicate(m->tensor_by_name, sh.tensor_count, bl__tensor_less, m->tensors) ||
        bl__has_duplicate(m->kv_by_key, sh.kv_count, bl__kv_less, m->kvs))
        st = BL_ERR_FORMAT;
    for (i = 0; i < sh.tensor_count && st == BL_OK; ++i)
        if (bl_model_find(m, m->tensors[i].name)) st = BL_ERR_FORMAT;
    if (st != BL_OK) {
        bl__free(alloc, block);
        return st;
    }
    *out = m;
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_model_load(const void *bytes, size_t size, bl_model **out)
{
    return bl_model_load_with(bytes, size, BL_MODEL_LOAD_COPY, NULL, out);
}

BITLINEAR_DEF void bl_model_destroy(bl_model *model)
{
    bl_allocator alloc;
    void *file_buffer;
    if (!model) return;
    alloc = model->alloc;
    file_buffer = model->file_buffer;
    bl__free(alloc.alloc ? &alloc : NULL, model->block);
    bl__free(NULL, file_buffer); /* bl_model_load_file reads with BITLINEAR_MALLOC */
}

BITLINEAR_DEF const bl_linear *bl_model_find(const bl_model *model, const char *name)
{
    size_t lo = 0, hi;
    if (!model || !name) return NULL;
    hi = (size_t)model->count;
    while (lo < hi) { /* binary search of the sorted name index */
        size_t mid = lo + (hi - lo) / 2;
        const bl__model_item *it = &model->items[model->by_name[mid]];
        int c = strcmp(it->name, name);
        if (c == 0) return &it->layer;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

BITLINEAR_DEF int bl_model_count(const bl_model *model) { return model ? model->count : 0; }

BITLINEAR_DEF const char *bl_model_name(const bl_model *model, int index)
{
    if (!model || index < 0 || index >= model->count) return NULL;
    return model->items[index].name;
}

BITLINEAR_DEF const bl_linear *bl_model_layer(const bl_model *model, int index)
{
    if (!model || index < 0 || index >= model->count) return NULL;
    return &model->items[index].layer;
}

BITLINEAR_DEF uint32_t bl_model_flags(const bl_model *model, int index, uint64_t *hadamard_seed)
{
    if (!model || index < 0 || index >= model->count) return 0;
    if (hadamard_seed) *hadamard_seed = model->items[index].hadamard_seed;
    return model->items[index].flags;
}

BITLINEAR_DEF int bl_model_tensor_count(const bl_model *model) { return model ? model->tensor_count : 0; }

BITLINEAR_DEF const bl_tensor *bl_model_tensor(const bl_model *model, int index)
{
    if (!model || index < 0 || index >= model->tensor_count) return NULL;
    return &model->tensors[index];
}

BITLINEAR_DEF const bl_tensor *bl_model_tensor_find(const bl_model *model, const char *name)
{
    size_t lo = 0, hi;
    if (!model || !name) return NULL;
    hi = (size_t)model->tensor_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const bl_tensor *t = &model->tensors[model->tensor_by_name[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

BITLINEAR_DEF int bl_model_kv_count(const bl_model *model) { return model ? model->kv_count : 0; }

BITLINEAR_DEF const bl_kv *bl_model_kv(const bl_model *model, int index)
{
    if (!model || index < 0 || index >= model->kv_count) return NULL;
    return &model->kvs[index];
}

BITLINEAR_DEF const bl_kv *bl_model_kv_find(const bl_model *model, const char *key)
{
    size_t lo = 0, hi;
    if (!model || !key) return NULL;
    hi = (size_t)model->kv_count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const bl_kv *kv = &model->kvs[model->kv_by_key[mid]];
        int c = strcmp(kv->key, key);
        if (c == 0) return kv;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

/* ---- saving ---- */

static size_t bl__name_length(const char *name) /* BL_MODEL_MAX_NAME + 1 when longer */
{
    size_t n = 0;
    while (n <= BL_MODEL_MAX_NAME && name[n]) ++n;
    return n;
}

static int bl__cstr_less(const void *ctx, uint32_t a, uint32_t b)
{
    const char *const *s = (const char *const *)ctx;
    return strcmp(s[a], s[b]) < 0;
}

/* The rotation is the layer's own; an entry may restate it (flags, seed) but not contradict it. */
static int bl__entry_rotation(const bl_model_entry *e, uint64_t *seed)
{
    const bl_linear *L = e->layer;
    if (e->flags & ~BL_LAYER_FLAG_HADAMARD) return 0;
    if (e->flags && (!L->hadamard || e->hadamard_seed != L->hadamard_seed)) return 0;
    if (!e->flags && e->hadamard_seed != 0) return 0;
    if (seed) *seed = L->hadamard_seed;
    return 1;
}

/* Element count of a tensor to save (a float type, ndim 0..8, shape >= 0, nbytes equal
   to the elements' bytes, data unless empty); 0 with *ok = 0 when it is not one. */
static int bl__save_tensor_ok(const bl_tensor *t)
{
    uint64_t elems = 1;
    int eb, d;
    if (!t->name || (eb = bl__model_dtype_bytes((uint32_t)t->dtype)) == 0 || t->ndim < 0 ||
        t->ndim > BL_ST_MAX_DIMS)
        return 0;
    for (d = 0; d < t->ndim; ++d) {
        uint64_t n;
        if (t->shape[d] < 0) return 0;
        n = (uint64_t)t->shape[d];
        if (n != 0 && elems > UINT64_MAX / n) return 0;
        elems *= n;
    }
    if (elems > UINT64_MAX / (uint64_t)eb || (uint64_t)t->nbytes != elems * (uint64_t)eb) return 0;
    return t->nbytes == 0 || t->data != NULL;
}

/* Bytes of one key/value record (bl__kv_parse's layout); 0 if the pair is not valid.
   A non-ARRAY value is one value of kv->type (elem_type and count are not read). */
static size_t bl__kv_record_size(const bl_kv *kv)
{
    size_t klen, n = 0, es;
    uint64_t cnt = 1, j;
    bl_value_type elem = kv->type;
    if (!kv->key) return 0;
    klen = bl__name_length(kv->key);
    if (klen < 1 || klen > BL_MODEL_MAX_NAME) return 0;
    n = 4 + klen + 1 + 4;
    if (kv->type == BL_VALUE_ARRAY) {
        elem = kv->elem_type;
        cnt = kv->count;
        n += 12;
        if (elem == BL_VALUE_ARRAY) return 0;
    }
    if (elem != BL_VALUE_STRING && bl__value_bytes((uint32_t)elem) == 0) return 0;
    if (cnt && !kv->data) return 0;
    if (elem == BL_VALUE_STRING) {
        const bl_str *s = (const bl_str *)kv->data;
        for (j = 0; j < cnt; ++j) {
            if ((s[j].size && !s[j].data) || s[j].size > (uint64_t)((size_t)-1 - 8) ||
                !bl__add_size(n, 8 + (size_t)s[j].size, &n))
                return 0;
        }
        return n;
    }
    es = (size_t)bl__value_bytes((uint32_t)elem);
    if (cnt > (uint64_t)((size_t)-1 / es) || !bl__add_size(n, (size_t)cnt * es, &n)) return 0;
    if (elem == BL_VALUE_BOOL)
        for (j = 0; j < cnt; ++j)
            if (((const uint8_t *)kv->data)[j] > 1) return 0;
    return n;
}

/* The file's layout, from validated contents. */
typedef struct bl__save_plan {
    uint32_t version;
    size_t names_raw, names_size, kv_raw, kv_size, file_size;
} bl__save_plan;

/* Validates the contents (BL_ERR_INVALID for any bad field, duplicate name or key) and
   lays out the file. */
static bl_status bl__save_plan_make(const bl_model_contents *c, bl__save_plan *p)
{
    size_t names = 0, kv = 0, at, table_end;
    const char **all;
    uint32_t *order;
    int i, n_names, dup;
    memset(p, 0, sizeof *p);
    if (!c || c->layer_count < 0 || c->layer_count > BL_MODEL_MAX_LAYERS || c->tensor_count < 0 ||
        c->tensor_count > BL_MODEL_MAX_TENSORS || c->kv_count < 0 || c->kv_count > BL_MODEL_MAX_KV ||
        (c->layer_count > 0 && !c->layers) || (c->tensor_count > 0 && !c->tensors) ||
        (c->kv_count > 0 && !c->kvs))
        return BL_ERR_INVALID;
    for (i = 0; i < c->layer_count; ++i) {
        const bl_model_entry *e = &c->layers[i];
        size_t len;
        if (!e->name || !e->layer || !bl__entry_rotation(e, NULL)) return BL_ERR_INVALID;
        len = bl__name_length(e->name);
        if (len < 1 || len > BL_MODEL_MAX_NAME) return BL_ERR_INVALID;
        names += len + 1;
    }
    for (i = 0; i < c->tensor_count; ++i) {
        size_t len;
        if (!bl__save_tensor_ok(&c->tensors[i])) return BL_ERR_INVALID;
        len = bl__name_length(c->tensors[i].name);
        if (len < 1 || len > BL_MODEL_MAX_NAME) return BL_ERR_INVALID;
        names += len + 1;
    }
    for (i = 0; i < c->kv_count; ++i) {
        size_t r = bl__kv_record_size(&c->kvs[i]);
        if (!r) return BL_ERR_INVALID;
        if (!bl__add_size(kv, r, &kv)) return BL_ERR_OVERFLOW;
    }

    /* one namespace for layers and tensors; keys unique among themselves */
    n_names = c->layer_count + c->tensor_count;
    all = (const char **)bl__alloc(NULL, (size_t)(n_names + c->kv_count) * sizeof(const char *) +
                                             (size_t)(n_names + c->kv_count) * sizeof(uint32_t) + 1);
    if (!all) return BL_ERR_NOMEM;
    order = (uint32_t *)(void *)(all + n_names + c->kv_count);
    for (i = 0; i < c->layer_count; ++i) all[i] = c->layers[i].name;
    for (i = 0; i < c->tensor_count; ++i) all[c->layer_count + i] = c->tensors[i].name;
    for (i = 0; i < c->kv_count; ++i) all[n_names + i] = c->kvs[i].key;
    for (i = 0; i < n_names + c->kv_count; ++i) order[i] = (uint32_t)i;
    dup = bl__has_duplicate(order, (size_t)n_names, bl__cstr_less, all);
    for (i = 0; i < c->kv_count; ++i) order[i] = (uint32_t)(n_names + i);
    dup = dup || bl__has_duplicate(order, (size_t)c->kv_count, bl__cstr_less, all);
    bl__free(NULL, all);
    if (dup) return BL_ERR_INVALID;

    p->version = c->tensor_count == 0 && c->kv_count == 0 ? 1u : 2u;
    table_end = BL__MODEL_HEADER + (size_t)c->layer_count * BL__MODEL_ENTRY +
                (size_t)c->tensor_count * BL__TENSOR_ENTRY;
    p->names_raw = names;
    p->kv_raw = kv;
    at = table_end;
    if (!bl__add_size(at, names, &at) || !bl__advance(&at, kv)) return BL_ERR_OVERFLOW;
    /* the padding up to the payloads belongs to the last area: kv if any, else names */
    p->names_size = c->kv_count ? names : at - table_end;
    p->kv_size = c->kv_count ? at - table_end - names : 0;
    for (i = 0; i < c->layer_count; ++i) {
        const bl_linear *L = c->layers[i].layer;
        size_t packed = (size_t)L->k * (size_t)L->out_features * L->row_bytes;
        size_t scales = (size_t)L->k * (size_t)L->out_features * sizeof(float);
        size_t bias = L->bias ? (size_t)L->out_features * sizeof(float) : 0;
        if (!bl__advance(&at, packed) || !bl__advance(&at, scales) || !bl__advance(&at, bias))
            return BL_ERR_OVERFLOW;
    }
    for (i = 0; i < c->tensor_count; ++i)
        if (!bl__advance(&at, c->tensors[i].nbytes)) return BL_ERR_OVERFLOW;
    p->file_size = at;
    return BL_OK;
}

/* Writes one kv record at dst (bl__kv_record_size bytes). */
static size_t bl__kv_write(uint8_t *dst, const bl_kv *kv)
{
    size_t klen = strlen(kv->key), at = 0, es;
    uint64_t cnt = 1, j;
    bl_value_type elem = kv->type;
    bl__wr32(dst, (uint32_t)klen);
    memcpy(dst + 4, kv->key, klen); /* the 0 byte after it is already there */
    at = 4 + klen + 1;
    bl__wr32(dst + at, (uint32_t)kv->type);
    at += 4;
    if (kv->type == BL_VALUE_ARRAY) {
        elem = kv->elem_type;
        cnt = kv->count;
        bl__wr32(dst + at, (uint32_t)elem);
        bl__wr64(dst + at + 4, cnt);
        at += 12;
    }
    if (elem == BL_VALUE_STRING) {
        const bl_str *s = (const bl_str *)kv->data;
        for (j = 0; j < cnt; ++j) {
            bl__wr64(dst + at, s[j].size);
            if (s[j].size) memcpy(dst + at + 8, s[j].data, (size_t)s[j].size);
            at += 8 + (size_t)s[j].size;
        }
        return at;
    }
    es = (size_t)bl__value_bytes((uint32_t)elem);
    if (cnt) memcpy(dst + at, kv->data, (size_t)cnt * es); /* already little-endian, as bl_kv documents */
    return at + (size_t)cnt * es;
}

BITLINEAR_DEF bl_status bl_model_save_contents(const bl_model_contents *c, void *dst, size_t dst_size,
                                               size_t *size)
{
    bl__save_plan plan;
    size_t at, name_at, kv_at, table_end;
    uint8_t *f = (uint8_t *)dst;
    bl_status st;
    int i;
    if (!size) return BL_ERR_INVALID;
    st = bl__save_plan_make(c, &plan);
    if (st != BL_OK) return st;
    if (!dst) {
        *size = plan.file_size;
        return BL_OK;
    }
    if (dst_size < plan.file_size) return BL_ERR_INVALID;
    memset(f, 0, plan.file_size);
    memcpy(f, bl__model_magic, 8);
    bl__wr32(f + 8, plan.version);
    bl__wr32(f + 12, BITLINEAR_FORMAT_VERSION);
    bl__wr32(f + 16, (uint32_t)c->layer_count);
    bl__wr64(f + 24, (uint64_t)plan.file_size);
    bl__wr64(f + 32, (uint64_t)plan.names_size);
    bl__wr32(f + 40, (uint32_t)c->tensor_count);
    bl__wr32(f + 44, (uint32_t)c->kv_count);
    bl__wr64(f + 48, (uint64_t)plan.kv_size);
    table_end = BL__MODEL_HEADER + (size_t)c->layer_count * BL__MODEL_ENTRY +
                (size_t)c->tensor_count * BL__TENSOR_ENTRY;
    name_at = table_end;
    kv_at = table_end + plan.names_size;
    at = kv_at + plan.kv_size;
    for (i = 0; i < c->layer_count; ++i) {
        const bl_linear *L = c->layers[i].layer;
        uint8_t *p = f + BL__MODEL_HEADER + (size_t)i * BL__MODEL_ENTRY;
        size_t len = strlen(c->layers[i].name), n, j;
        size_t part[3];
        int q;
        part[0] = (size_t)L->k * (size_t)L->out_features * L->row_bytes;
        part[1] = (size_t)L->k * (size_t)L->out_features * sizeof(float);
        part[2] = L->bias ? (size_t)L->out_features * sizeof(float) : 0;
        memcpy(f + name_at, c->layers[i].name, len); /* the 0 byte after it is already there */
        bl__wr64(p + 0, (uint64_t)name_at);
        bl__wr32(p + 8, (uint32_t)len);
        bl__wr32(p + 12, (L->bias ? BL_LAYER_FLAG_BIAS : 0u) | (L->hadamard ? BL_LAYER_FLAG_HADAMARD : 0u));
        bl__wr32(p + 16, (uint32_t)L->in_features);
        bl__wr32(p + 20, (uint32_t)L->out_features);
        p[24] = (uint8_t)L->k;
        p[25] = (uint8_t)L->format;
        p[26] = (uint8_t)L->scaling;
        p[27] = (uint8_t)L->act;
        p[28] = (uint8_t)L->act_bits;
        p[29] = (uint8_t)L->method;
        bl__wr64(p + 80, L->hadamard_seed);
        name_at += len + 1;
        for (q = 0; q < 3; ++q) {
            if (!part[q]) continue;
            bl__wr64(p + 32 + 16 * q, (uint64_t)at);
            bl__wr64(p + 40 + 16 * q, (uint64_t)part[q]);
            if (q == 0) {
                memcpy(f + at, L->packed, part[0]);
            } else {
                const float *src = q == 1 ? L->scales : L->bias;
                n = part[q] / sizeof(float);
                for (j = 0; j < n; ++j) bl__wrf32(f + at + 4 * j, src[j]);
            }
            at = bl__align_up(at + part[q]);
        }
    }
    for (i = 0; i < c->tensor_count; ++i) {
        const bl_tensor *t = &c->tensors[i];
        uint8_t *p = f + BL__MODEL_HEADER + (size_t)c->layer_count * BL__MODEL_ENTRY + (size_t)i * BL__TENSOR_ENTRY;
        size_t len = strlen(t->name);
        int d;
        memcpy(f + name_at, t->name, len);
        bl__wr64(p + 0, (uint64_t)name_at);
        bl__wr32(p + 8, (uint32_t)len);
        bl__wr32(p + 12, (uint32_t)t->dtype);
        bl__wr32(p + 16, (uint32_t)t->ndim);
        for (d = 0; d < t->ndim; ++d) bl__wr64(p + 40 + 8 * d, (uint64_t)t->shape[d]);
        name_at += len + 1;
        if (t->nbytes) {
            bl__wr64(p + 24, (uint64_t)at);
            bl__wr64(p + 32, (uint64_t)t->nbytes);
            memcpy(f + at, t->data, t->nbytes); /* already little-endian, as bl_tensor documents */
            at = bl__align_up(at + t->nbytes);
        }
    }
    for (i = 0; i < c->kv_count; ++i) kv_at += bl__kv_write(f + kv_at, &c->kvs[i]);
    bl__wr32(f + BL__MODEL_CRC_AT, bl__model_crc(f, plan.file_size));
    *size = plan.file_size;
    return BL_OK;
}

static void bl__contents_of(const bl_model_entry *entries, int count, bl_model_contents *c)
{
    memset(c, 0, sizeof *c);
    c->layers = entries;
    c->layer_count = count;
}

BITLINEAR_DEF bl_status bl_model_save(const bl_model_entry *entries, int count, void *dst, size_t dst_size,
                                      size_t *size)
{
    bl_model_contents c;
    bl__contents_of(entries, count, &c);
    return bl_model_save_contents(&c, dst, dst_size, size);
}

#ifndef BITLINEAR_NO_STDIO
#include <errno.h>

/* Writes the contents to f; BL_ERR_IO (errno as the failing call left it) when the
   write or the flush fails. */
static bl_status bl__save_contents_file(const bl_model_contents *c, FILE *f)
{
    size_t size = 0;
    void *buf;
    bl_status st;
    int err;
    if (!f) return BL_ERR_INVALID;
    st = bl_model_save_contents(c, NULL, 0, &size);
    if (st != BL_OK) return st;
    buf = bl__alloc(NULL, size);
    if (!buf) return BL_ERR_NOMEM;
    st = bl_model_save_contents(c, buf, size, &size);
    if (st == BL_OK && (fwrite(buf, 1, size, f) != size || fflush(f) != 0)) st = BL_ERR_IO;
    err = errno;
    bl__free(NULL, buf);
    errno = err;
    return st;
}

/* Creates path and writes the contents; a failed write removes the partial file. */
static bl_status bl__save_contents_path(const bl_model_contents *c, const char *path)
{
    FILE *f;
    bl_status st;
    size_t size;
    int err;
    if (!path) return BL_ERR_INVALID;
    st = bl_model_save_contents(c, NULL, 0, &size); /* validate before creating the file */
    if (st != BL_OK) return st;
    f = fopen(path, "wb");
    if (!f) return BL_ERR_IO;
    st = bl__save_contents_file(c, f);
    err = errno;
    if (fclose(f) != 0 && st == BL_OK) {
        st = BL_ERR_IO;
        err = errno;
    }
    if (st != BL_OK) (void)remove(path);
    errno = err;
    return st;
}

BITLINEAR_DEF bl_status bl_model_save_file(const bl_model_entry *entries, int count, FILE *f)
{
    bl_model_contents c;
    bl__contents_of(entries, count, &c);
    return bl__save_contents_file(&c, f);
}

BITLINEAR_DEF bl_status bl_model_save_path(const bl_model_entry *entries, int count, const char *path)
{
    bl_model_contents c;
    bl__contents_of(entries, count, &c);
    return bl__save_contents_path(&c, path);
}

BITLINEAR_DEF bl_status bl_model_save_contents_path(const bl_model_contents *c, const char *path)
{
    return bl__save_contents_path(c, path);
}

/* Reads the rest of f into a 64-byte-aligned buffer: *block is the allocation. */
static bl_status bl__read_all(FILE *f, void **block, uint8_t **data, size_t *size)
{
    size_t cap = 1u << 16, n = 0;
    uint8_t *buf = NULL;
    int err;
    for (;;) {
        size_t got;
        if (!buf || n == cap) {
            uint8_t *grown;
            if (buf) {
                if (cap > ((size_t)-1 - BL__ALIGN) / 2) { bl__free(NULL, buf); return BL_ERR_OVERFLOW; }
                cap *= 2;
            }
            grown = (uint8_t *)BITLINEAR_REALLOC(buf, cap + BL__ALIGN);
            if (!grown) { bl__free(NULL, buf); return BL_ERR_NOMEM; }
            buf = grown;
        }
        got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (got == 0) break;
    }
    if (ferror(f)) {
        err = errno;
        bl__free(NULL, buf);
        errno = err;
        return BL_ERR_IO;
    }
    /* realloc keeps no alignment: move the bytes up to the first 64-byte boundary */
    *data = (uint8_t *)bl__align_ptr(buf);
    if (*data != buf) memmove(*data, buf, n);
    *block = buf;
    *size = n;
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_model_load_file(FILE *f, bl_model **out)
{
    void *block = NULL;
    uint8_t *data = NULL;
    size_t size = 0;
    bl_model *m = NULL;
    bl_status st;
    if (!f || !out) return BL_ERR_INVALID;
    st = bl__read_all(f, &block, &data, &size);
    if (st != BL_OK) return st;
    st = bl_model_load_with(data, size, BL_MODEL_LOAD_VIEW, NULL, &m);
    if (st != BL_OK) {
        bl__free(NULL, block);
        return st;
    }
    m->file_buffer = block;
    *out = m;
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_model_load_path(const char *path, bl_model **out)
{
    FILE *f;
    bl_status st;
    int err;
    if (!path || !out) return BL_ERR_INVALID;
    f = fopen(path, "rb");
    if (!f) return BL_ERR_IO; /* errno says why */
    st = bl_model_load_file(f, out);
    err = errno;
    fclose(f);
    errno = err;
    return st;
}
#endif
