/* ==== bitlinear: safetensors reading ====================================== */
/* A safetensors file: u64 little-endian N, N bytes of JSON, then the tensor data.
   The JSON is parsed by a strict recursive descent over exactly the grammar the format
   uses (so nesting is at most 3 deep by construction): one object whose members are
   tensors {"dtype": s, "shape": [n...], "data_offsets": [b, e]} (each key exactly once)
   or "__metadata__": {string: string...}. Strings are checked UTF-8 with JSON escapes;
   numbers are plain non-negative integers. Anything else is BL_ERR_FORMAT. */

struct bl_safetensors {
    int count;
    bl_tensor *tensors;       /* file order */
    uint32_t *by_name;        /* indices sorted by name */
    void *block;              /* one allocation for all of it */
};

typedef struct bl__json {
    const uint8_t *p, *end;
    char *names;              /* second pass: where tensor names are decoded to */
    bl_tensor *tensors;       /* second pass: where tensors go */
    const uint8_t *data;      /* the data area */
    uint64_t data_size;
    size_t count, names_bytes;
    int seen_metadata;
} bl__json;

static void bl__js_ws(bl__json *j)
{
    while (j->p < j->end && (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r')) ++j->p;
}
static int bl__js_eat(bl__json *j, char c)
{
    bl__js_ws(j);
    if (j->p < j->end && *j->p == (uint8_t)c) {
        ++j->p;
        return 1;
    }
    return 0;
}
static int bl__js_hex4(const uint8_t *p, uint32_t *v)
{
    int i;
    *v = 0;
    for (i = 0; i < 4; ++i) {
        uint8_t c = p[i];
        uint32_t d = c >= '0' && c <= '9' ? (uint32_t)(c - '0') : c >= 'a' && c <= 'f' ? (uint32_t)(c - 'a' + 10)
                   : c >= 'A' && c <= 'F' ? (uint32_t)(c - 'A' + 10) : 16u;
        if (d == 16u) return 0;
        *v = *v << 4 | d;
    }
    return 1;
}
/* Appends code point cp as UTF-8 at dst[*len] (when it fits in cap). */
static void bl__js_put(char *dst, size_t cap, size_t *len, uint32_t cp)
{
    uint8_t b[4];
    size_t n, i;
    if (cp < 0x80) { b[0] = (uint8_t)cp; n = 1; }
    else if (cp < 0x800) { b[0] = (uint8_t)(0xC0 | cp >> 6); b[1] = (uint8_t)(0x80 | (cp & 63)); n = 2; }
    else if (cp < 0x10000) {
        b[0] = (uint8_t)(0xE0 | cp >> 12); b[1] = (uint8_t)(0x80 | ((cp >> 6) & 63)); b[2] = (uint8_t)(0x80 | (cp & 63)); n = 3;
    } else {
        b[0] = (uint8_t)(0xF0 | cp >> 18); b[1] = (uint8_t)(0x80 | ((cp >> 12) & 63));
        b[2] = (uint8_t)(0x80 | ((cp >> 6) & 63)); b[3] = (uint8_t)(0x80 | (cp & 63)); n = 4;
    }
    for (i = 0; i < n; ++i, ++*len)
        if (dst && *len < cap) dst[*len] = (char)b[i];
}
/* Length of the valid UTF-8 sequence at p (no overlongs, no surrogates, <= U+10FFFF), 0 if invalid. */
static size_t bl__utf8_len(const uint8_t *p, const uint8_t *end, uint32_t *cp)
{
    uint8_t c = p[0];
    size_t n, i;
    uint32_t v, min;
    if (c < 0x80) { *cp = c; return 1; }
    if (c >= 0xC2 && c <= 0xDF) { n = 2; v = c & 0x1Fu; min = 0x80; }
    else if (c >= 0xE0 && c <= 0xEF) { n = 3; v = c & 0x0Fu; min = 0x800; }
    else if (c >= 0xF0 && c <= 0xF4) { n = 4; v = c & 0x07u; min = 0x10000; }
    else return 0;
    if ((size_t)(end - p) < n) return 0;
    for (i = 1; i < n; ++i) {
        if ((p[i] & 0xC0) != 0x80) return 0;
        v = v << 6 | (p[i] & 0x3Fu);
    }
    if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
    *cp = v;
    return n;
}
/* A JSON string: decoded into dst (up to cap bytes) when dst is given; *len gets the
   decoded length. Rejects control characters, bad escapes, lone surrogates, bad UTF-8
   and (since names become C strings) U+0000. */
static int bl__js_string(bl__json *j, char *dst, size_t cap, size_t *len)
{
    *len = 0;
    if (!bl__js_eat(j, '"')) return 0;
    while (j->p < j->end) {
        uint8_t c = *j->p;
        uint32_t cp;
        if (c == '"') {
            ++j->p;
            return 1;
        }
        if (c < 0x20) return 0;
        if (c == '\\') {
            if (j->end - j->p < 2) return 0;
            c = j->p[1];
            j->p += 2;
            switch (c) {
            case '"': case '\\': case '/': cp = c; break;
            case 'b': cp = 8; break;
            case 'f': cp = 12; break;
            case 'n': cp = 10; break;
            case 'r': cp = 13; break;
            case 't': cp = 9; break;
            case 'u':
                if (j->end - j->p < 4 || !bl__js_hex4(j->p, &cp)) return 0;
                j->p += 4;
                if (cp >= 0xDC00 && cp <= 0xDFFF) return 0;
                if (cp >= 0xD800 && cp <= 0xDBFF) { /* a high surrogate needs its low half */
                    uint32_t lo;
                    if (j->end - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u' || !bl__js_hex4(j->p + 2, &lo) ||
                        lo < 0xDC00 || lo > 0xDFFF)
                        return 0;
                    j->p += 6;
                    cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                }
                if (cp == 0) return 0;
                break;
            default: return 0;
            }
        } else {
            size_t n = bl__utf8_len(j->p, j->end, &cp);
            if (!n) return 0;
            j->p += n;
        }
        bl__js_put(dst, cap, len, cp);
    }
    return 0;
}
/* A non-negative integer without sign, fraction, exponent or leading zeros, < 2^63. */
static int bl__js_uint(bl__json *j, uint64_t *v)
{
    bl__js_ws(j);
    *v = 0;
    if (j->p >= j->end || *j->p < '0' || *j->p > '9') return 0;
    if (*j->p == '0' && j->end - j->p > 1 && j->p[1] >= '0' && j->p[1] <= '9') return 0;
    while (j->p < j->end && *j->p >= '0' && *j->p <= '9') {
        if (*v > (((uint64_t)1 << 63) - 1 - (uint64_t)(*j->p - '0')) / 10) return 0;
        *v = *v * 10 + (uint64_t)(*j->p - '0');
        ++j->p;
    }
    return j->p >= j->end || (*j->p != '.' && *j->p != 'e' && *j->p != 'E');
}
/* '[' uint (',' uint)* ']' or '[]': at most max values */
static int bl__js_uint_array(bl__json *j, uint64_t *v, int max, int *n)
{
    *n = 0;
    if (!bl__js_eat(j, '[')) return 0;
    if (bl__js_eat(j, ']')) return 1;
    do {
        if (*n == max || !bl__js_uint(j, &v[*n])) return 0;
        ++*n;
    } while (bl__js_eat(j, ','));
    return bl__js_eat(j, ']');
}

static int bl__dtype_parse(const char *s, size_t len, bl_dtype *dt, int *bytes)
{
    static const struct { const char *name; int bytes; bl_dtype dtype; } table[] = {
        { "F32", 4, BL_DTYPE_F32 }, { "F16", 2, BL_DTYPE_F16 }, { "BF16", 2, BL_DTYPE_BF16 },
        { "F64", 8, BL_DTYPE_F64 }, { "I64", 8, BL_DTYPE_I64 }, { "I32", 4, BL_DTYPE_I32 },
        { "I16", 2, BL_DTYPE_I16 }, { "I8", 1, BL_DTYPE_I8 }, { "U64", 8, BL_DTYPE_U64 },
        { "U32", 4, BL_DTYPE_U32 }, { "U16", 2, BL_DTYPE_U16 }, { "U8", 1, BL_DTYPE_U8 },
        { "BOOL", 1, BL_DTYPE_BOOL }, { "F8_E4M3", 1, BL_DTYPE_OTHER }, { "F8_E5M2", 1, BL_DTYPE_OTHER },
    };
    size_t i;
    for (i = 0; i < sizeof table / sizeof table[0]; ++i)
        if (strlen(table[i].name) == len && memcmp(table[i].name, s, len) == 0) {
            *dt = table[i].dtype;
            *bytes = table[i].bytes;
            return 1;
        }
    return 0;
}

/* {"dtype": ..., "shape": [...], "data_offsets": [b, e]} in any order, each once */
static bl_status bl__js_tensor(bl__json *j, bl_tensor *t)
{
    int seen = 0, ndim = 0, n, i, bytes = 0;
    uint64_t shape[BL_ST_MAX_DIMS], offs[2], elems = 1;
    bl_dtype dtype = BL_DTYPE_OTHER;
    if (!bl__js_eat(j, '{')) return BL_ERR_FORMAT;
    do {
        char key[16], val[16];
        size_t klen, vlen;
        if (!bl__js_string(j, key, sizeof key, &klen) || !bl__js_eat(j, ':')) return BL_ERR_FORMAT;
        if (klen == 5 && memcmp(key, "dtype", 5) == 0 && !(seen & 1)) {
            if (!bl__js_string(j, val, sizeof val, &vlen) || vlen > sizeof val ||
                !bl__dtype_parse(val, vlen, &dtype, &bytes))
                return BL_ERR_FORMAT;
            seen |= 1;
        } else if (klen == 5 && memcmp(key, "shape", 5) == 0 && !(seen & 2)) {
            if (!bl__js_uint_array(j, shape, BL_ST_MAX_DIMS, &ndim)) return BL_ERR_FORMAT;
            seen |= 2;
        } else if (klen == 12 && memcmp(key, "data_offsets", 12) == 0 && !(seen & 4)) {
            if (!bl__js_uint_array(j, offs, 2, &n) || n != 2) return BL_ERR_FORMAT;
            seen |= 4;
        } else {
            return BL_ERR_FORMAT; /* unknown or repeated key */
        }
    } while (bl__js_eat(j, ','));
    if (!bl__js_eat(j, '}') || seen != 7) return BL_ERR_FORMAT;
    for (i = 0; i < ndim; ++i) {
        if (shape[i] > (uint64_t)INT64_MAX) return BL_ERR_FORMAT;
        if (shape[i] != 0 && elems > UINT64_MAX / shape[i]) return BL_ERR_FORMAT;
        elems *= shape[i];
    }
    if (elems > UINT64_MAX / (uint64_t)bytes || offs[0] > offs[1] || offs[1] > j->data_size ||
        offs[1] - offs[0] != elems * (uint64_t)bytes)
        return BL_ERR_FORMAT;
    if (t) {
        t->dtype = dtype;
        t->elem_bytes = bytes;
        t->ndim = ndim;
        for (i = 0; i < BL_ST_MAX_DIMS; ++i) t->shape[i] = i < ndim ? (int64_t)shape[i] : 0;
        t->data = j->data + (size_t)offs[0];
        t->nbytes = (size_t)(offs[1] - offs[0]);
        t->ggml_type = -1;
    }
    return BL_OK;
}

/* {"k": "v", ...} */
static int bl__js_metadata(bl__json *j)
{
    size_t len;
    if (!bl__js_eat(j, '{')) return 0;
    if (bl__js_eat(j, '}')) return 1;
    do {
        if (!bl__js_string(j, NULL, 0, &len) || !bl__js_eat(j, ':') || !bl__js_string(j, NULL, 0, &len)) return 0;
    } while (bl__js_eat(j, ','));
    return bl__js_eat(j, '}');
}

/* The whole header; on the first pass (no j->tensors) it counts. */
static bl_status bl__js_header(bl__json *j)
{
    if (!bl__js_eat(j, '{')) return BL_ERR_FORMAT;
    if (!bl__js_eat(j, '}')) {
        do {
            const uint8_t *key_at;
            size_t len;
            bl_status st;
            char probe[13];
            bl__js_ws(j);
            key_at = j->p;
            if (!bl__js_string(j, probe, sizeof probe, &len) || !bl__js_eat(j, ':')) return BL_ERR_FORMAT;
            if (len == 12 && memcmp(probe, "__metadata__", 12) == 0) {
                if (j->seen_metadata || !bl__js_metadata(j)) return BL_ERR_FORMAT;
                j->seen_metadata = 1;
                continue;
            }
            if (len < 1 || len > BL_ST_MAX_NAME || j->count >= BL_ST_MAX_TENSORS) return BL_ERR_FORMAT;
            if (j->tensors) { /* decode the name again, now into its place */
                bl__json again = *j;
                bl_tensor *t = &j->tensors[j->count];
                again.p = key_at;
                (void)bl__js_string(&again, j->names, len, &len);
                j->names[len] = 0;
                t->name = j->names;
                j->names += len + 1;
                st = bl__js_tensor(j, t);
            } else {
                st = bl__js_tensor(j, NULL);
            }
            if (st != BL_OK) return st;
            j->names_bytes += len + 1;
            ++j->count;
        } while (bl__js_eat(j, ','));
        if (!bl__js_eat(j, '}')) return BL_ERR_FORMAT;
    }
    bl__js_ws(j);
    return j->p == j->end ? BL_OK : BL_ERR_FORMAT;
}

static int bl__tensor_name_less(const void *ctx, uint32_t a, uint32_t b)
{
    const bl_tensor *t = (const bl_tensor *)ctx;
    return strcmp(t[a].name, t[b].name) < 0;
}
static int bl__tensor_data_less(const void *ctx, uint32_t a, uint32_t b)
{
    const bl_tensor *t = (const bl_tensor *)ctx;
    return (const uint8_t *)t[a].data < (const uint8_t *)t[b].data;
}

BITLINEAR_DEF bl_status bl_safetensors_open(const void *bytes, size_t size, bl_safetensors **out)
{
    const uint8_t *b = (const uint8_t *)bytes;
    uint64_t n;
    bl__json j;
    bl_status st;
    size_t at, total, i;
    uint8_t *block, *base;
    bl_safetensors *s;
    if (!bytes || !out) return BL_ERR_INVALID;
    if (size < 8) return BL_ERR_FORMAT;
    n = bl__rd64(b);
    if (n < 2 || n > BL_ST_MAX_HEADER || n > (uint64_t)(size - 8)) return BL_ERR_FORMAT;
    memset(&j, 0, sizeof j);
    j.p = b + 8;
    j.end = b + 8 + (size_t)n;
    j.data = j.end;
    j.data_size = (uint64_t)(size - 8 - (size_t)n);
    if (*j.p != '{') return BL_ERR_FORMAT; /* the format allows no leading space */
    st = bl__js_header(&j);
    if (st != BL_OK) return st;

    at = bl__align_up(sizeof(bl_safetensors));
    total = at + bl__align_up(j.count * sizeof(bl_tensor)) + bl__align_up(j.count * sizeof(uint32_t)) +
            j.names_bytes + BL__ALIGN; /* all bounded by the 100 MiB header */
    block = (uint8_t *)bl__alloc(NULL, total);
    if (!block) return BL_ERR_NOMEM;
    base = (uint8_t *)bl__align_ptr(block);
    s = (bl_safetensors *)base;
    s->count = (int)j.count;
    s->tensors = (bl_tensor *)(base + at);
    at += bl__align_up(j.count * sizeof(bl_tensor));
    s->by_name = (uint32_t *)(base + at);
    at += bl__align_up(j.count * sizeof(uint32_t));
    s->block = block;
    j.p = b + 8;
    j.tensors = s->tensors;
    j.names = (char *)(base + at);
    j.count = 0;
    j.names_bytes = 0;
    j.seen_metadata = 0;
    st = bl__js_header(&j); /* cannot fail now: the same bytes passed */

    /* duplicate names, then overlapping data */
    for (i = 0; i < j.count; ++i) s->by_name[i] = (uint32_t)i;
    bl__sort_index(s->by_name, j.count, bl__tensor_name_less, s->tensors);
    for (i = 1; i < j.count && st == BL_OK; ++i)
        if (strcmp(s->tensors[s->by_name[i - 1]].name, s->tensors[s->by_name[i]].name) == 0) st = BL_ERR_FORMAT;
    if (st == BL_OK && j.count > 1) {
        uint32_t *order = (uint32_t *)bl__alloc(NULL, j.count * sizeof(uint32_t));
        if (!order) {
            st = BL_ERR_NOMEM;
        } else {
            size_t nonempty = 0;
            for (i = 0; i < j.count; ++i) /* empty tensors overlap nothing */
                if (s->tensors[i].nbytes) order[nonempty++] = (uint32_t)i;
            bl__sort_index(order, nonempty, bl__tensor_data_less, s->tensors);
            for (i = 1; i < nonempty && st == BL_OK; ++i) {
                const bl_tensor *p = &s->tensors[order[i - 1]], *q = &s->tensors[order[i]];
                if ((size_t)((const uint8_t *)q->data - (const uint8_t *)p->data) < p->nbytes) st = BL_ERR_FORMAT;
            }
            bl__free(NULL, order);
        }
    }
    if (st != BL_OK) {
        bl__free(NULL, block);
        return st;
    }
    *out = s;
    return BL_OK;
}

BITLINEAR_DEF int bl_safetensors_count(const bl_safetensors *st) { return st ? st->count : 0; }

BITLINEAR_DEF const bl_tensor *bl_safetensors_get(const bl_safetensors *st, int index)
{
    if (!st || index < 0 || index >= st->count) return NULL;
    return &st->tensors[index];
}

BITLINEAR_DEF const bl_tensor *bl_safetensors_find(const bl_safetensors *st, const char *name)
{
    size_t lo = 0, hi;
    if (!st || !name) return NULL;
    hi = (size_t)st->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const bl_tensor *t = &st->tensors[st->by_name[mid]];
        int c = strcmp(t->name, name);
        if (c == 0) return t;
        if (c < 0) lo = mid + 1;
        else hi = mid;
    }
    return NULL;
}

BITLINEAR_DEF void bl_safetensors_close(bl_safetensors *st)
{
    if (st) bl__free(NULL, st->block);
}

/* IEEE half -> float, exactly (every half is a float). */
static float bl__f16_to_f32(uint32_t h)
{
    uint32_t sign = (h >> 15) << 31, exp = (h >> 10) & 31u, man = h & 1023u, bits;
    float f;
    if (exp == 0) { /* zero or subnormal: man * 2^-24, exact */
        f = (float)man * 5.9604644775390625e-8f;
        return sign ? -f : f;
    }
    bits = exp == 31 ? sign | 0x7F800000u | man << 13 : sign | (exp + 112u) << 23 | man << 13;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* F64 -> float rounds to nearest (values beyond float's range become infinities, as
   the conversion defines); the others are exact. */
BITLINEAR_DEF bl_status bl_tensor_to_f32(const bl_tensor *t, float *dst, size_t count)
{
    const uint8_t *p;
    size_t i;
    int want;
    if (!t || !dst || t->elem_bytes <= 0) return BL_ERR_INVALID;
    switch (t->dtype) {
    case BL_DTYPE_F32: want = 4; break;
    case BL_DTYPE_F16: case BL_DTYPE_BF16: want = 2; break;
    case BL_DTYPE_F64: want = 8; break;
    default: return BL_ERR_UNSUPPORTED;
    }
    if (t->elem_bytes != want || count != t->nbytes / (size_t)t->elem_bytes ||
        t->nbytes % (size_t)t->elem_bytes != 0 || (count && !t->data))
        return BL_ERR_INVALID;
    p = (const uint8_t *)t->data;
    for (i = 0; i < count; ++i) {
        if (t->dtype == BL_DTYPE_F32) {
            dst[i] = bl__rdf32(p + 4 * i);
        } else if (t->dtype == BL_DTYPE_F64) {
            uint64_t bits = bl__rd64(p + 8 * i);
            double v;
            memcpy(&v, &bits, sizeof v);
            dst[i] = (float)v;
        } else {
            uint32_t h = (uint32_t)p[2 * i] | (uint32_t)p[2 * i + 1] << 8;
            if (t->dtype == BL_DTYPE_F16) {
                dst[i] = bl__f16_to_f32(h);
            } else {
                uint32_t bits = h << 16;
                memcpy(&dst[i], &bits, sizeof bits);
            }
        }
    }
    return BL_OK;
}
