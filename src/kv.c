/* ==== bitlinear: metadata values (bl_kv) ================================== */
/* A bl_kv's numbers are the file's little-endian bytes at any alignment, so they are
   read a byte at a time (bl__rd32/bl__rd64) and mean the same on every host. Strings
   are bl_str records (bytes and length, no NUL); arrays of strings are count of them. */

/* Bytes of one value of a fixed-size type; 0 for STRING, ARRAY and unknown types. */
static size_t bl__value_size(bl_value_type t)
{
    switch (t) {
    case BL_VALUE_U8: case BL_VALUE_I8: case BL_VALUE_BOOL: return 1;
    case BL_VALUE_U16: case BL_VALUE_I16: return 2;
    case BL_VALUE_U32: case BL_VALUE_I32: case BL_VALUE_F32: return 4;
    case BL_VALUE_U64: case BL_VALUE_I64: case BL_VALUE_F64: return 8;
    default: return 0;
    }
}

static int bl__value_is_int(bl_value_type t)
{
    return t == BL_VALUE_U8 || t == BL_VALUE_I8 || t == BL_VALUE_U16 || t == BL_VALUE_I16 || t == BL_VALUE_U32 ||
           t == BL_VALUE_I32 || t == BL_VALUE_U64 || t == BL_VALUE_I64 || t == BL_VALUE_BOOL;
}

/* Value i of type t at p: sign-extended or zero-extended to 64 bits (two's complement). */
static uint64_t bl__value_bits(bl_value_type t, const uint8_t *p)
{
    switch (t) {
    case BL_VALUE_U8: return p[0];
    case BL_VALUE_I8: return (uint64_t)(int64_t)(int8_t)p[0];
    case BL_VALUE_BOOL: return p[0] != 0;
    case BL_VALUE_U16: return (uint64_t)p[0] | (uint64_t)p[1] << 8;
    case BL_VALUE_I16: return (uint64_t)(int64_t)(int16_t)(uint16_t)((unsigned)p[0] | (unsigned)p[1] << 8);
    case BL_VALUE_U32: case BL_VALUE_F32: return bl__rd32(p);
    case BL_VALUE_I32: return (uint64_t)(int64_t)(int32_t)bl__rd32(p);
    default: return bl__rd64(p);
    }
}

static bl_status bl__value_int(bl_value_type t, const uint8_t *p, int64_t *value)
{
    uint64_t v;
    if (!bl__value_is_int(t)) return BL_ERR_INVALID;
    v = bl__value_bits(t, p);
    if (t == BL_VALUE_U64 && v > (uint64_t)INT64_MAX) return BL_ERR_OVERFLOW;
    /* the bits are two's complement: convert without relying on out-of-range casts */
    *value = v <= (uint64_t)INT64_MAX ? (int64_t)v : -(int64_t)(~v) - 1;
    return BL_OK;
}

static bl_status bl__value_float(bl_value_type t, const uint8_t *p, double *value)
{
    if (t == BL_VALUE_F32) {
        *value = (double)bl__rdf32(p);
    } else if (t == BL_VALUE_F64) {
        uint64_t u = bl__rd64(p);
        memcpy(value, &u, sizeof u);
    } else if (t == BL_VALUE_U64) {
        *value = (double)bl__rd64(p);
    } else if (bl__value_is_int(t)) {
        int64_t v;
        (void)bl__value_int(t, p, &v);
        *value = (double)v;
    } else {
        return BL_ERR_INVALID;
    }
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_kv_int(const bl_kv *kv, int64_t *value)
{
    if (!kv || !value || !kv->data || kv->type == BL_VALUE_ARRAY) return BL_ERR_INVALID;
    return bl__value_int(kv->type, (const uint8_t *)kv->data, value);
}

BITLINEAR_DEF bl_status bl_kv_float(const bl_kv *kv, double *value)
{
    if (!kv || !value || !kv->data || kv->type == BL_VALUE_ARRAY) return BL_ERR_INVALID;
    return bl__value_float(kv->type, (const uint8_t *)kv->data, value);
}

BITLINEAR_DEF bl_status bl_kv_string(const bl_kv *kv, bl_str *value)
{
    if (!kv || !value || !kv->data || kv->type != BL_VALUE_STRING) return BL_ERR_INVALID;
    *value = *(const bl_str *)kv->data;
    return BL_OK;
}

/* Element i of an ARRAY kv, or NULL (not an array, i out of range, no data). */
static const uint8_t *bl__kv_elem(const bl_kv *kv, uint64_t i)
{
    size_t size;
    if (!kv || !kv->data || kv->type != BL_VALUE_ARRAY || i >= kv->count) return NULL;
    size = kv->elem_type == BL_VALUE_STRING ? sizeof(bl_str) : bl__value_size(kv->elem_type);
    if (!size || i > (uint64_t)((size_t)-1 / size)) return NULL;
    return (const uint8_t *)kv->data + (size_t)i * size;
}

BITLINEAR_DEF bl_status bl_kv_array_int(const bl_kv *kv, uint64_t i, int64_t *value)
{
    const uint8_t *p = bl__kv_elem(kv, i);
    if (!p || !value) return BL_ERR_INVALID;
    return bl__value_int(kv->elem_type, p, value);
}

BITLINEAR_DEF bl_status bl_kv_array_float(const bl_kv *kv, uint64_t i, double *value)
{
    const uint8_t *p = bl__kv_elem(kv, i);
    if (!p || !value) return BL_ERR_INVALID;
    return bl__value_float(kv->elem_type, p, value);
}

BITLINEAR_DEF bl_status bl_kv_array_string(const bl_kv *kv, uint64_t i, bl_str *value)
{
    const uint8_t *p = bl__kv_elem(kv, i);
    if (!p || !value || kv->elem_type != BL_VALUE_STRING) return BL_ERR_INVALID;
    memcpy(value, p, sizeof *value);
    return BL_OK;
}
