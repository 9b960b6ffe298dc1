/* ==== bitlinear: model files ============================================== */
/* The container, byte by byte (every integer little-endian; README has the table):
     header  64 bytes at 0: magic 89 'B' 'L' 'M' 0D 0A 1A 0A, u32 version (1), u32 packed
             format version, u32 layer count, u32 flags (0), u64 file size, u64 names size,
             20 reserved zero bytes, u32 CRC-32C of bytes [0, 60) then [64, file size)
     table   count entries of 96 bytes at 64 (see bl__entry_read)
     names   names size bytes right after the table: each name is followed by a 0 byte
     payload per layer: packed [k][out][row bytes], scales [k][out] f32, bias [out] f32,
             each at a 64-byte-aligned offset, in no particular order, never overlapping
   Layers flagged BL_LAYER_FLAG_HADAMARD carry their rotation seed in the table.
   The file size is a multiple of 64 and every gap is zero, so a reader can point
   straight into the bytes. */

#define BL__MODEL_HEADER 64u
#define BL__MODEL_ENTRY  96u
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

/* ---- validation ---- */

/* Checks one entry's fields and that its name and payloads lie inside the file. */
static bl_status bl__entry_check(const uint8_t *file, const bl__entry *e, uint64_t names_begin,
                                 uint64_t names_end, uint64_t data_begin, uint64_t file_size)
{
    const uint8_t *p;
    size_t plane, want[3];
    int part;
    if ((e->flags & ~(BL_LAYER_FLAG_BIAS | BL_LAYER_FLAG_HADAMARD)) ||
        (e->seed != 0 && !(e->flags & BL_LAYER_FLAG_HADAMARD)))
        return BL_ERR_FORMAT;
    if (e->in < 1 || e->in > (uint32_t)BL_MAX_IN_FEATURES || e->out < 1 || e->out > (uint32_t)INT_MAX ||
        e->k < 1 || e->k > BL_MAX_K || !bl__valid_format(e->format) || !bl__valid_scaling(e->scaling) ||
        !bl__valid_act(e->act) || !bl__valid_method(e->method) || e->act_bits < 2 || e->act_bits > 8)
        return BL_ERR_FORMAT;
    if (e->name_len < 1 || e->name_len > BL_MODEL_MAX_NAME || e->name_off < names_begin ||
        e->name_off > names_end || names_end - e->name_off < (uint64_t)e->name_len + 1)
        return BL_ERR_FORMAT;
    p = file + (size_t)e->name_off;
    if (memchr(p, 0, e->name_len) != NULL || p[e->name_len] != 0) return BL_ERR_FORMAT;
    plane = bl_packed_size((bl_format)e->format, (int)e->out, (int)e->in);
    if (!plane || !bl__mul_size(plane, (size_t)e->k, &want[0]) ||
        !bl__mul_size((size_t)e->out * sizeof(float), (size_t)e->k, &want[1]))
        return BL_ERR_FORMAT;
    want[2] = (e->flags & BL_LAYER_FLAG_BIAS) ? (size_t)e->out * sizeof(float) : 0;
    for (part = 0; part < 3; ++part) {
        if (e->size[part] != (uint64_t)want[part]) return BL_ERR_FORMAT;
        if (want[part] == 0) {
            if (e->off[part] != 0) return BL_ERR_FORMAT;
            continue;
        }
        if (e->off[part] % BL__ALIGN != 0 || e->off[part] < data_begin || e->off[part] > file_size ||
            file_size - e->off[part] < e->size[part])
            return BL_ERR_FORMAT;
    }
    return BL_OK;
}

/* Region r = 4 * entry + part: its packed, scales and bias payloads (parts 0-2) and its
   name with the 0 byte (part 3). No two may overlap, so the model's copies of the names
   are never larger than the file's names area. */
static const uint8_t *bl__region_entry(const uint8_t *file, uint32_t r)
{
    return file + BL__MODEL_HEADER + (size_t)(r / 4) * BL__MODEL_ENTRY;
}
static uint64_t bl__region_off(const uint8_t *file, uint32_t r)
{
    const uint8_t *p = bl__region_entry(file, r);
    return r % 4 == 3 ? bl__rd64(p) : bl__rd64(p + 32 + 16 * (r % 4));
}
static uint64_t bl__region_size(const uint8_t *file, uint32_t r)
{
    const uint8_t *p = bl__region_entry(file, r);
    return r % 4 == 3 ? (uint64_t)bl__rd32(p + 8) + 1 : bl__rd64(p + 40 + 16 * (r % 4));
}
static int bl__region_less(const void *ctx, uint32_t a, uint32_t b)
{
    return bl__region_off((const uint8_t *)ctx, a) < bl__region_off((const uint8_t *)ctx, b);
}
static int bl__name_less(const void *ctx, uint32_t a, uint32_t b)
{
    const bl__model_item *items = (const bl__model_item *)ctx;
    return strcmp(items[a].name, items[b].name) < 0;
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

/* Header, checksum, table, regions and payloads; nothing is allocated but a temporary
   index for the overlap test. *count and *names_bytes (for the copies) on success. */
static bl_status bl__model_validate(const uint8_t *file, size_t size, const bl_allocator *alloc,
                                    uint32_t *count_out, size_t *names_bytes, size_t *payload_bytes)
{
    uint32_t version, pversion, count, i, n_regions = 0, *regions;
    uint64_t file_size, names_size, names_begin, names_end;
    size_t names = 0, payload = 0;
    bl__entry e;
    bl_status st = BL_OK;
    if (size < BL__MODEL_HEADER || memcmp(file, bl__model_magic, 8) != 0) return BL_ERR_FORMAT;
    version = bl__rd32(file + 8);
    pversion = bl__rd32(file + 12);
    if (version == 0 || pversion == 0) return BL_ERR_FORMAT;
    if (version != BITLINEAR_MODEL_VERSION || pversion != BITLINEAR_FORMAT_VERSION)
        return BL_ERR_UNSUPPORTED; /* a newer writer: say so rather than "corrupt" */
    count = bl__rd32(file + 16);
    file_size = bl__rd64(file + 24);
    names_size = bl__rd64(file + 32);
    if (count > BL_MODEL_MAX_LAYERS || bl__rd32(file + 20) != 0 || !bl__all_zero(file + 40, 20) ||
        file_size > (uint64_t)size || file_size % BL__ALIGN != 0 || file_size < BL__MODEL_HEADER)
        return BL_ERR_FORMAT;
    names_begin = BL__MODEL_HEADER + (uint64_t)count * BL__MODEL_ENTRY;
    if (names_begin > file_size || names_size > file_size - names_begin) return BL_ERR_FORMAT;
    names_end = names_begin + names_size;
    if (bl__rd32(file + BL__MODEL_CRC_AT) != bl__model_crc(file, (size_t)file_size)) return BL_ERR_FORMAT;

    for (i = 0; i < count; ++i) {
        const uint8_t *raw = file + BL__MODEL_HEADER + (size_t)i * BL__MODEL_ENTRY;
        size_t copy = 0;
        int part;
        bl__entry_read(file, i, &e);
        if (raw[30] || raw[31] || !bl__all_zero(raw + 88, 8)) return BL_ERR_FORMAT;
        st = bl__entry_check(file, &e, names_begin, names_end, names_end, file_size);
        if (st != BL_OK) return st;
        names += (size_t)e.name_len + 1;
        for (part = 0; part < 3; ++part) {
            copy += bl__align_up((size_t)e.size[part]); /* each part <= file size: no overflow */
            if (e.size[part]) ++n_regions;
        }
        ++n_regions; /* the name */
        if (!bl__add_size(payload, copy, &payload)) return BL_ERR_OVERFLOW;
    }

    /* regions must not overlap one another (names lie inside the names area, payloads
       after it, so neither reaches the header or the table) */
    regions = (uint32_t *)bl__alloc(alloc, (size_t)n_regions * sizeof(uint32_t) + 1);
    if (!regions) return BL_ERR_NOMEM;
    n_regions = 0;
    for (i = 0; i < 4 * count; ++i)
        if (bl__region_size(file, i)) regions[n_regions++] = i;
    bl__sort_index(regions, n_regions, bl__region_less, file);
    for (i = 1; i < n_regions && st == BL_OK; ++i)
        if (bl__region_off(file, regions[i - 1]) + bl__region_size(file, regions[i - 1]) >
            bl__region_off(file, regions[i]))
            st = BL_ERR_FORMAT;
    bl__free(alloc, regions);
    if (st != BL_OK) return st;

    for (i = 0; i < count; ++i) {
        bl__entry_read(file, i, &e);
        if (!bl__payload_valid(file, &e)) return BL_ERR_FORMAT;
    }
    *count_out = count;
    *names_bytes = names;
    *payload_bytes = payload;
    return BL_OK;
}

/* ---- loading ---- */

static void bl__copy_floats(float *dst, const uint8_t *src, size_t n)
{
    size_t i;
    for (i = 0; i < n; ++i) dst[i] = bl__rdf32(src + 4 * i);
}

BITLINEAR_DEF bl_status bl_model_load_with(const void *bytes, size_t size, unsigned flags,
                                           const bl_allocator *alloc, bl_model **out)
{
    const uint8_t *file = (const uint8_t *)bytes;
    uint32_t count = 0, i;
    size_t names_bytes = 0, payload_bytes = 0, at, items_at, index_at, names_at, data_at, total;
    int view = (flags & BL_MODEL_LOAD_VIEW) != 0, copy_floats;
    uint8_t *base, *block;
    char *names;
    bl_model *m;
    bl_status st;
    if (!bytes || !out || (flags & ~BL_MODEL_LOAD_VIEW)) return BL_ERR_INVALID;
    if (alloc && !alloc->alloc) alloc = NULL;
    if (view && (uintptr_t)bytes % BL__ALIGN != 0) return BL_ERR_INVALID; /* views need 64-byte alignment */
    st = bl__model_validate(file, size, alloc, &count, &names_bytes, &payload_bytes);
    if (st != BL_OK) return st;

    /* one block: model, items, name index, names, then the copied parts */
    copy_floats = !view || !bl__host_little_endian();
    if (view) {
        payload_bytes = 0;
        if (copy_floats)
            for (i = 0; i < count; ++i) {
                bl__entry e;
                bl__entry_read(file, i, &e);
                payload_bytes += bl__align_up((size_t)e.size[1]) + bl__align_up((size_t)e.size[2]);
            }
    }
    at = bl__align_up(sizeof(bl_model));
    items_at = at;
    at = bl__align_up(at + (size_t)count * sizeof(bl__model_item));
    index_at = at;
    at = bl__align_up(at + (size_t)count * sizeof(uint32_t));
    names_at = at;
    if (!bl__add_size(at, names_bytes, &at) || !bl__add_size(at, BL__ALIGN, &at)) return BL_ERR_OVERFLOW;
    data_at = bl__align_up(at);
    if (!bl__add_size(data_at, payload_bytes, &total) || !bl__add_size(total, BL__ALIGN, &total))
        return BL_ERR_OVERFLOW;
    block = (uint8_t *)bl__alloc(alloc, total);
    if (!block) return BL_ERR_NOMEM;
    base = (uint8_t *)bl__align_ptr(block);

    m = (bl_model *)base;
    memset(m, 0, sizeof *m);
    m->count = (int)count;
    m->items = (bl__model_item *)(base + items_at);
    m->by_name = (uint32_t *)(base + index_at);
    if (alloc) m->alloc = *alloc;
    m->block = block;
    names = (char *)(base + names_at);
    at = data_at;
    for (i = 0; i < count; ++i) {
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
    bl__sort_index(m->by_name, count, bl__name_less, m->items);
    for (i = 1; i < count; ++i)
        if (strcmp(m->items[m->by_name[i - 1]].name, m->items[m->by_name[i]].name) == 0) {
            bl__free(alloc, block); /* duplicate names */
            return BL_ERR_FORMAT;
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

/* ---- saving ---- */

static size_t bl__name_length(const char *name) /* BL_MODEL_MAX_NAME + 1 when longer */
{
    size_t n = 0;
    while (n <= BL_MODEL_MAX_NAME && name[n]) ++n;
    return n;
}

static int bl__entry_name_less(const void *ctx, uint32_t a, uint32_t b)
{
    const bl_model_entry *e = (const bl_model_entry *)ctx;
    return strcmp(e[a].name, e[b].name) < 0;
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

/* Validates the entries and returns the file's size and its names area (0: error in *st). */
static size_t bl__model_file_size(const bl_model_entry *entries, int count, size_t *names_size, bl_status *st)
{
    size_t names = 0, at, table_end;
    uint32_t *order;
    int i;
    *st = BL_ERR_INVALID;
    if (count < 0 || count > BL_MODEL_MAX_LAYERS || (count > 0 && !entries)) return 0;
    for (i = 0; i < count; ++i) {
        size_t len;
        if (!entries[i].name || !entries[i].layer || !bl__entry_rotation(&entries[i], NULL)) return 0;
        len = bl__name_length(entries[i].name);
        if (len < 1 || len > BL_MODEL_MAX_NAME) return 0;
        names += len + 1;
    }
    order = (uint32_t *)bl__alloc(NULL, (size_t)count * sizeof(uint32_t) + 1);
    if (!order) {
        *st = BL_ERR_NOMEM;
        return 0;
    }
    for (i = 0; i < count; ++i) order[i] = (uint32_t)i;
    bl__sort_index(order, (size_t)count, bl__entry_name_less, entries);
    for (i = 1; i < count; ++i)
        if (strcmp(entries[order[i - 1]].name, entries[order[i]].name) == 0) break;
    bl__free(NULL, order);
    if (count > 1 && i < count) return 0; /* duplicate name */

    table_end = BL__MODEL_HEADER + (size_t)count * BL__MODEL_ENTRY;
    at = bl__align_up(table_end + names);
    *names_size = at - table_end;
    for (i = 0; i < count; ++i) {
        const bl_linear *L = entries[i].layer;
        size_t packed = (size_t)L->k * (size_t)L->out_features * L->row_bytes;
        size_t scales = (size_t)L->k * (size_t)L->out_features * sizeof(float);
        size_t bias = L->bias ? (size_t)L->out_features * sizeof(float) : 0;
        if (!bl__advance(&at, packed) || !bl__advance(&at, scales) || !bl__advance(&at, bias)) {
            *st = BL_ERR_OVERFLOW;
            return 0;
        }
    }
    *st = BL_OK;
    return at;
}

BITLINEAR_DEF bl_status bl_model_save(const bl_model_entry *entries, int count, void *dst, size_t dst_size,
                                      size_t *size)
{
    size_t names_size = 0, file_size, at, name_at;
    uint8_t *f = (uint8_t *)dst;
    bl_status st;
    int i;
    if (!size) return BL_ERR_INVALID;
    file_size = bl__model_file_size(entries, count, &names_size, &st);
    if (st != BL_OK) return st;
    if (!dst) {
        *size = file_size;
        return BL_OK;
    }
    if (dst_size < file_size) return BL_ERR_INVALID;
    memset(f, 0, file_size);
    memcpy(f, bl__model_magic, 8);
    bl__wr32(f + 8, BITLINEAR_MODEL_VERSION);
    bl__wr32(f + 12, BITLINEAR_FORMAT_VERSION);
    bl__wr32(f + 16, (uint32_t)count);
    bl__wr64(f + 24, (uint64_t)file_size);
    bl__wr64(f + 32, (uint64_t)names_size);
    name_at = BL__MODEL_HEADER + (size_t)count * BL__MODEL_ENTRY;
    at = name_at + names_size;
    for (i = 0; i < count; ++i) {
        const bl_linear *L = entries[i].layer;
        uint8_t *p = f + BL__MODEL_HEADER + (size_t)i * BL__MODEL_ENTRY;
        size_t len = strlen(entries[i].name), n, j;
        size_t part[3];
        int q;
        part[0] = (size_t)L->k * (size_t)L->out_features * L->row_bytes;
        part[1] = (size_t)L->k * (size_t)L->out_features * sizeof(float);
        part[2] = L->bias ? (size_t)L->out_features * sizeof(float) : 0;
        memcpy(f + name_at, entries[i].name, len); /* the 0 byte after it is already there */
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
    bl__wr32(f + BL__MODEL_CRC_AT, bl__model_crc(f, file_size));
    *size = file_size;
    return BL_OK;
}

#ifndef BITLINEAR_NO_STDIO
BITLINEAR_DEF bl_status bl_model_save_file(const bl_model_entry *entries, int count, FILE *f)
{
    size_t size = 0;
    void *buf;
    bl_status st;
    if (!f) return BL_ERR_INVALID;
    st = bl_model_save(entries, count, NULL, 0, &size);
    if (st != BL_OK) return st;
    buf = bl__alloc(NULL, size);
    if (!buf) return BL_ERR_NOMEM;
    st = bl_model_save(entries, count, buf, size, &size);
    if (st == BL_OK && (fwrite(buf, 1, size, f) != size || fflush(f) != 0)) st = BL_ERR_INVALID;
    bl__free(NULL, buf);
    return st;
}

BITLINEAR_DEF bl_status bl_model_save_path(const bl_model_entry *entries, int count, const char *path)
{
    FILE *f;
    bl_status st;
    size_t size;
    if (!path) return BL_ERR_INVALID;
    st = bl_model_save(entries, count, NULL, 0, &size); /* validate before creating the file */
    if (st != BL_OK) return st;
    f = fopen(path, "wb");
    if (!f) return BL_ERR_INVALID;
    st = bl_model_save_file(entries, count, f);
    if (fclose(f) != 0 && st == BL_OK) st = BL_ERR_INVALID;
    return st;
}

/* Reads the rest of f into a 64-byte-aligned buffer: *block is the allocation. */
static bl_status bl__read_all(FILE *f, void **block, uint8_t **data, size_t *size)
{
    size_t cap = 1u << 16, n = 0;
    uint8_t *buf = NULL;
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
    if (ferror(f)) { bl__free(NULL, buf); return BL_ERR_INVALID; }
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
    if (!path || !out) return BL_ERR_INVALID;
    f = fopen(path, "rb");
    if (!f) return BL_ERR_INVALID;
    st = bl_model_load_file(f, out);
    fclose(f);
    return st;
}
#endif
