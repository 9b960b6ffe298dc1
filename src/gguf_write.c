/* ==== bitlinear: GGUF writing ============================================= */
/* bl_gguf_save writes what ggml's writer (ggml/src/gguf.cpp, gguf_write_out) writes:
   GGUF v3, the kvs in the caller's order, the tensor infos, zero padding to the
   alignment, then each tensor's bytes followed by zero padding to the alignment. The
   alignment is 32 (ggml's default, and no general.alignment key is added) unless the
   kvs carry general.alignment (a u32 power of two), which is then used.
   Tensors, in this order: c->tensors as given (any type with a ggml id: the bytes are
   copied), then per layer its weight as TQ2_0 or TQ1_0 under the entry's name and,
   when the layer has a bias, an F32 tensor [out] named like llama.cpp names biases:
   the entry's name with a final ".weight" replaced by ".bias" (else ".bias" appended).
   A layer becomes a 2-D tensor, ne[0] = in_features, ne[1] = out_features; each
   256-trit block carries the row's scale rounded to fp16 (round to nearest even), so
   the file dequantizes to fp16(scale) * trit. What cannot be written that way is
   BL_ERR_UNSUPPORTED: k > 1, a Hadamard rotation, in_features not a multiple of 256, a
   scale beyond fp16's range, a name longer than ggml's 63 bytes (GGML_MAX_NAME 64 with
   its NUL), a tensor of more than 4 dimensions or of a type without a ggml id. The
   layer's activation settings (act, act_bits) have no place in the file. */

#define BL__GGUF_MAX_NAME 63

/* A tensor of the output file. */
typedef struct bl__gw_tensor {
    const char *name;
    size_t name_len;
    int kind, index;            /* kind 0: c->tensors[index]; 1: layer weight; 2: layer bias */
    uint32_t type, ndim;
    uint64_t ne[BL_GGUF_MAX_DIMS];
    size_t nbytes;
} bl__gw_tensor;

typedef struct bl__gw_plan {
    bl__gw_tensor *t;
    int count;
    size_t alignment, size;
    void *block;                /* t, the sort index and the bias names */
} bl__gw_plan;

/* Where bytes go: memory (p) or a callback (streaming to a file). */
typedef struct bl__gw {
    uint8_t *p;
    size_t pos;
    int (*sink)(void *ctx, const void *src, size_t n);
    void *ctx;
    int failed;
} bl__gw;

static void bl__gw_put(bl__gw *w, const void *src, size_t n)
{
    if (w->failed || !n) return;
    if (w->sink) {
        if (!w->sink(w->ctx, src, n)) w->failed = 1;
    } else {
        memcpy(w->p + w->pos, src, n);
    }
    w->pos += n;
}
static void bl__gw_u32(bl__gw *w, uint32_t v) { uint8_t b[4]; bl__wr32(b, v); bl__gw_put(w, b, 4); }
static void bl__gw_u64(bl__gw *w, uint64_t v) { uint8_t b[8]; bl__wr64(b, v); bl__gw_put(w, b, 8); }
static void bl__gw_str(bl__gw *w, const char *s, size_t n) { bl__gw_u64(w, (uint64_t)n); bl__gw_put(w, s, n); }
static void bl__gw_pad(bl__gw *w, size_t alignment)
{
    static const uint8_t zeros[64] = { 0 };
    while (w->pos % alignment) {
        size_t n = alignment - w->pos % alignment;
        bl__gw_put(w, zeros, n < sizeof zeros ? n : sizeof zeros);
    }
}

/* float -> IEEE half, rounding to nearest even; 0 if f is not finite or rounds beyond
   the largest half (65504: from 65520 on, the nearest-even neighbour is infinity). */
static int bl__gguf_half(float f, uint16_t *out)
{
    uint32_t x, ax, sign, e, mant, h, rem, half, shift;
    memcpy(&x, &f, sizeof x);
    sign = (x >> 16) & 0x8000u;
    ax = x & 0x7FFFFFFFu;
    if (ax >= 0x477FF000u) return 0;            /* >= 65520, Inf, NaN */
    e = ax >> 23;
    mant = (ax & 0x7FFFFFu) | (e ? 0x800000u : 0u);
    if (e < 102) {                              /* below 2^-25: rounds to zero */
        h = 0;
    } else if (e < 113) {                       /* a half subnormal: mant * 2^(e-150) / 2^-24 */
        shift = 126 - e;                        /* 14..24 */
        h = mant >> shift;
        rem = mant & ((1u << shift) - 1u);
        half = 1u << (shift - 1);
        if (rem > half || (rem == half && (h & 1u))) ++h;   /* may carry into the smallest normal */
    } else {
        h = (e - 112u) << 10 | (ax & 0x7FFFFFu) >> 13;
        rem = ax & 0x1FFFu;
        if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h; /* a carry moves into the exponent */
    }
    *out = (uint16_t)(sign | h);
    return 1;
}

/* TQ2_0 block (ggml/src/ggml-common.h block_tq2_0: qs[64], then fp16 d). Element
   order from ggml/src/ggml-quants.c quantize_row_tq2_0_ref: in each half of 128, byte
   m (m < 32) holds elements m, m+32, m+64, m+96 in bits 0-1, 2-3, 4-5, 6-7, as trit+1. */
static void bl__tq2_block(const int8_t *t, uint16_t d, uint8_t *dst)
{
    int c, m, n;
    for (c = 0; c < 2; ++c)
        for (m = 0; m < 32; ++m) {
            unsigned q = 0;
            for (n = 0; n < 4; ++n) q |= (unsigned)(t[c * 128 + m + n * 32] + 1) << (2 * n);
            dst[c * 32 + m] = (uint8_t)q;
        }
    dst[64] = (uint8_t)(d & 0xFFu);
    dst[65] = (uint8_t)(d >> 8);
}

/* Five (or four, then a zero) trits as one base-3 byte: the first trit is the most
   significant digit, and the value v < 243 is stored as ceil(v * 256 / 243), so that
   multiplying the byte by 3^k (mod 256) brings digit k to the top of a byte, where
   (byte * 3) >> 8 reads it (ggml-quants.c quantize_row_tq1_0_ref / dequantize_row_tq1_0). */
static uint8_t bl__tq1_byte(const int8_t *t, int stride, int digits)
{
    unsigned v = 0;
    int n;
    for (n = 0; n < digits; ++n) v = v * 3u + (unsigned)(t[n * stride] + 1);
    for (; n < 5; ++n) v *= 3u;
    return (uint8_t)((v * 256u + 242u) / 243u);
}

/* TQ1_0 block (block_tq1_0: qs[48], qh[4], fp16 d): qs[m], m < 32, holds elements
   m + 32n (n < 5); qs[32 + m], m < 16, elements 160 + m + 16n; qh[j], j < 4, elements
   240 + j + 4n (n < 4). */
static void bl__tq1_block(const int8_t *t, uint16_t d, uint8_t *dst)
{
    int m;
    for (m = 0; m < 32; ++m) dst[m] = bl__tq1_byte(t + m, 32, 5);
    for (m = 0; m < 16; ++m) dst[32 + m] = bl__tq1_byte(t + 160 + m, 16, 5);
    for (m = 0; m < 4; ++m) dst[48 + m] = bl__tq1_byte(t + 240 + m, 4, 4);
    dst[52] = (uint8_t)(d & 0xFFu);
    dst[53] = (uint8_t)(d >> 8);
}

static int bl__gw_name_less(const void *ctx, uint32_t a, uint32_t b)
{
    const bl__gw_tensor *t = (const bl__gw_tensor *)ctx;
    return strcmp(t[a].name, t[b].name) < 0;
}
static int bl__gw_key_less(const void *ctx, uint32_t a, uint32_t b)
{
    const bl_kv *kv = (const bl_kv *)ctx;
    return strcmp(kv[a].key, kv[b].key) < 0;
}

static int bl__gw_add(size_t *size, size_t n) { return bl__add_size(*size, n, size); }

/* Bytes of one kv (0 with *st set when it is not well formed). */
static size_t bl__gw_kv_size(const bl_kv *kv, bl_status *st)
{
    size_t size = 0, n, i, esize;
    bl_value_type et = kv->type == BL_VALUE_ARRAY ? kv->elem_type : kv->type;
    *st = BL_ERR_INVALID;
    if (!kv->key || !kv->key[0] || (int)et < 0 || et > BL_VALUE_F64 || et == BL_VALUE_ARRAY) return 0;
    if ((int)kv->type < 0 || kv->type > BL_VALUE_F64) return 0;
    if (kv->type == BL_VALUE_ARRAY && kv->count > (uint64_t)((size_t)-1)) return 0;
    n = kv->type == BL_VALUE_ARRAY ? (size_t)kv->count : 1;
    if (n && !kv->data) return 0;
    if (!bl__gw_add(&size, 8 + strlen(kv->key) + 4 + (kv->type == BL_VALUE_ARRAY ? 12 : 0))) return 0;
    if (et == BL_VALUE_STRING) {
        const bl_str *s = (const bl_str *)kv->data;
        for (i = 0; i < n; ++i) {
            if ((s[i].size && !s[i].data) || s[i].size > (uint64_t)((size_t)-1) - 8 ||
                !bl__gw_add(&size, 8 + (size_t)s[i].size))
                return 0;
        }
    } else {
        const uint8_t *v = (const uint8_t *)kv->data;
        esize = bl__value_size(et);
        if (!bl__mul_size(n, esize, &i) || !bl__gw_add(&size, i)) return 0;
        if (et == BL_VALUE_BOOL) /* the reader (and any strict one) takes only 0 and 1 */
            for (i = 0; i < n; ++i)
                if (v[i] > 1) return 0;
    }
    *st = BL_OK;
    return size;
}

/* Validates c and lays out the file: the output tensors and the total size. */
static bl_status bl__gw_planning(const bl_model_contents *c, bl_dtype ternary_type, bl__gw_plan *plan)
{
    size_t n_out, size = 24, names_at, i, at;
    uint32_t *idx;
    char *bias_names;
    bl__gw_tensor *t;
    bl_status st = BL_OK;
    int k, j;
    memset(plan, 0, sizeof *plan);
    plan->alignment = 32;
    if (!c || c->layer_count < 0 || c->tensor_count < 0 || c->kv_count < 0 || (c->layer_count && !c->layers) ||
        (c->tensor_count && !c->tensors) || (c->kv_count && !c->kvs) ||
        (ternary_type != BL_DTYPE_TQ2_0 && ternary_type != BL_DTYPE_TQ1_0) || c->layer_count > INT_MAX / 2 ||
        c->tensor_count > INT_MAX - 2 * c->layer_count)
        return BL_ERR_INVALID;
    n_out = (size_t)c->tensor_count + 2 * (size_t)c->layer_count;

    /* one block: output tensors, a sort index (over tensors, then reused for keys), bias names */
    names_at = bl__align_up(n_out * sizeof(bl__gw_tensor)) +
               bl__align_up((n_out > (size_t)c->kv_count ? n_out : (size_t)c->kv_count) * sizeof(uint32_t));
    plan->block = bl__alloc(NULL, names_at + (size_t)c->layer_count * (BL__GGUF_MAX_NAME + 6) + 1);
    if (!plan->block) return BL_ERR_NOMEM;
    t = plan->t = (bl__gw_tensor *)plan->block;
    idx = (uint32_t *)((uint8_t *)plan->block + bl__align_up(n_out * sizeof(bl__gw_tensor)));
    bias_names = (char *)plan->block + names_at;

    /* kvs: well formed, unique keys, general.alignment a u32 power of two */
    for (k = 0; k < c->kv_count && st == BL_OK; ++k) {
        const bl_kv *kv = &c->kvs[k];
        size_t n = bl__gw_kv_size(kv, &st);
        if (st == BL_OK && !bl__gw_add(&size, n)) st = BL_ERR_OVERFLOW;
        if (st == BL_OK && strcmp(kv->key, "general.alignment") == 0) {
            uint32_t a = kv->type == BL_VALUE_U32 ? bl__rd32((const uint8_t *)kv->data) : 0;
            if (a == 0 || (a & (a - 1)) != 0) st = BL_ERR_INVALID;
            plan->alignment = a;
        }
    }
    if (st == BL_OK) {
        for (k = 0; k < c->kv_count; ++k) idx[k] = (uint32_t)k;
        bl__sort_index(idx, (size_t)c->kv_count, bl__gw_key_less, c->kvs);
        for (k = 1; k < c->kv_count; ++k)
            if (strcmp(c->kvs[idx[k - 1]].key, c->kvs[idx[k]].key) == 0) st = BL_ERR_INVALID;
    }

    /* tensors as given */
    for (k = 0; k < c->tensor_count && st == BL_OK; ++k) {
        const bl_tensor *s = &c->tensors[k];
        const bl__dtype_info *d = bl__dtype(s->dtype);
        uint64_t elems = 1;
        bl__gw_tensor *o = &t[plan->count++];
        if (!s->name || !s->data || s->ndim < 1 || s->ndim > BL_ST_MAX_DIMS || !d || !d->block) {
            st = BL_ERR_INVALID;
            break;
        }
        if (d->ggml_type < 0 || s->ndim > BL_GGUF_MAX_DIMS) {
            st = BL_ERR_UNSUPPORTED;
            break;
        }
        o->name = s->name;
        o->kind = 0;
        o->index = k;
        o->type = (uint32_t)d->ggml_type;
        o->ndim = (uint32_t)s->ndim;
        for (j = 0; j < s->ndim; ++j) {
            int64_t ne = s->shape[s->ndim - 1 - j];
            if (ne <= 0 || (uint64_t)ne > (uint64_t)INT64_MAX / elems) st = BL_ERR_INVALID;
            if (st != BL_OK) break;
            o->ne[j] = (uint64_t)ne;
            elems *= (uint64_t)ne;
        }
        if (st == BL_OK && (o->ne[0] % d->block != 0 || bl_dtype_size(s->dtype, elems) != s->nbytes || !s->nbytes))
            st = BL_ERR_INVALID;
        o->nbytes = s->nbytes;
    }

    /* layers, and their biases */
    for (k = 0; k < c->layer_count && st == BL_OK; ++k) {
        const bl_model_entry *e = &c->layers[k];
        bl_linear_info info;
        bl__gw_tensor *o;
        size_t len, blocks;
        int r;
        if (!e->name || !e->layer || bl_linear_get_info(e->layer, &info) != BL_OK ||
            (e->flags & ~BL_LAYER_FLAG_HADAMARD) != 0) {
            st = BL_ERR_INVALID;
            break;
        }
        if (info.k != 1 || info.hadamard || e->flags || info.in_features % 256 != 0) {
            st = BL_ERR_UNSUPPORTED;
            break;
        }
        for (r = 0; r < info.out_features; ++r) {
            uint16_t h;
            if (!bl__gguf_half(info.scales[r], &h)) st = BL_ERR_UNSUPPORTED;
        }
        if (st != BL_OK) break;
        blocks = (size_t)info.in_features / 256;
        o = &t[plan->count++];
        o->name = e->name;
        o->kind = 1;
        o->index = k;
        o->type = (uint32_t)bl__dtypes[ternary_type].ggml_type;
        o->ndim = 2;
        o->ne[0] = (uint64_t)info.in_features;
        o->ne[1] = (uint64_t)info.out_features;
        if (!bl__mul_size(blocks * bl__dtypes[ternary_type].block_bytes, (size_t)info.out_features, &o->nbytes))
            st = BL_ERR_OVERFLOW;
        if (!info.bias) continue;
        len = strlen(e->name);
        if (len > BL__GGUF_MAX_NAME) { /* the bias name's buffer holds 63 + ".bias" */
            st = BL_ERR_UNSUPPORTED;
            break;
        }
        if (len >= 7 && strcmp(e->name + len - 7, ".weight") == 0) len -= 7;
        o = &t[plan->count++];
        o->name = bias_names;
        memcpy(bias_names, e->name, len);
        memcpy(bias_names + len, ".bias", 6);
        bias_names += len + 6;
        o->kind = 2;
        o->index = k;
        o->type = 0; /* F32 */
        o->ndim = 1;
        o->ne[0] = (uint64_t)info.out_features;
        o->nbytes = (size_t)info.out_features * 4;
    }

    /* names: 1..63 bytes, unique; the infos and the data section */
    for (i = 0; i < (size_t)plan->count && st == BL_OK; ++i) {
        t[i].name_len = strlen(t[i].name);
        if (t[i].name_len == 0) st = BL_ERR_INVALID;
        else if (t[i].name_len > BL__GGUF_MAX_NAME) st = BL_ERR_UNSUPPORTED;
        else if (!bl__gw_add(&size, 8 + t[i].name_len + 4 + 8 * (size_t)t[i].ndim + 4 + 8)) st = BL_ERR_OVERFLOW;
    }
    if (st == BL_OK) {
        for (i = 0; i < (size_t)plan->count; ++i) idx[i] = (uint32_t)i;
        bl__sort_index(idx, (size_t)plan->count, bl__gw_name_less, t);
        for (i = 1; i < (size_t)plan->count; ++i)
            if (strcmp(t[idx[i - 1]].name, t[idx[i]].name) == 0) st = BL_ERR_INVALID;
    }
    for (i = 0; i <= (size_t)plan->count && st == BL_OK; ++i) { /* padding after the infos and each tensor */
        at = size % plan->alignment ? plan->alignment - size % plan->alignment : 0;
        if (!bl__gw_add(&size, at) || (i < (size_t)plan->count && !bl__gw_add(&size, t[i].nbytes)))
            st = BL_ERR_OVERFLOW;
    }
    if (st != BL_OK) {
        bl__free(NULL, plan->block);
        plan->block = NULL;
        return st;
    }
    plan->size = size;
    return BL_OK;
}

/* Writes the planned file. Only a sink can fail (w->failed), or the row buffer's allocation. */
static bl_status bl__gw_write(const bl_model_contents *c, bl_dtype ternary_type, const bl__gw_plan *plan, bl__gw *w)
{
    static const uint8_t magic[4] = { 'G', 'G', 'U', 'F' };
    int i, k;
    uint32_t j;
    int8_t *trits = NULL;
    size_t max_in = 0;
    for (i = 0; i < plan->count; ++i)
        if (plan->t[i].kind == 1 && plan->t[i].ne[0] > max_in) max_in = (size_t)plan->t[i].ne[0];
    if (max_in) {
        trits = (int8_t *)bl__alloc(NULL, max_in);
        if (!trits) return BL_ERR_NOMEM;
    }
    bl__gw_put(w, magic, 4);
    bl__gw_u32(w, 3);
    bl__gw_u64(w, (uint64_t)plan->count);
    bl__gw_u64(w, (uint64_t)c->kv_count);
    for (k = 0; k < c->kv_count; ++k) {
        const bl_kv *kv = &c->kvs[k];
        bl_value_type et = kv->type == BL_VALUE_ARRAY ? kv->elem_type : kv->type;
        size_t n = kv->type == BL_VALUE_ARRAY ? (size_t)kv->count : 1, e;
        bl__gw_str(w, kv->key, strlen(kv->key));
        bl__gw_u32(w, (uint32_t)kv->type);
        if (kv->type == BL_VALUE_ARRAY) {
            bl__gw_u32(w, (uint32_t)et);
            bl__gw_u64(w, (uint64_t)n);
        }
        if (et == BL_VALUE_STRING) {
            const bl_str *s = (const bl_str *)kv->data;
            for (e = 0; e < n; ++e) bl__gw_str(w, s[e].data, (size_t)s[e].size);
        } else {
            bl__gw_put(w, kv->data, n * bl__value_size(et)); /* little-endian already */
        }
    }
    {
        uint64_t off = 0;
        for (i = 0; i < plan->count; ++i) {
            const bl__gw_tensor *t = &plan->t[i];
            bl__gw_str(w, t->name, t->name_len);
            bl__gw_u32(w, t->ndim);
            for (j = 0; j < t->ndim; ++j) bl__gw_u64(w, t->ne[j]);
            bl__gw_u32(w, t->type);
            bl__gw_u64(w, off);
            off += (uint64_t)t->nbytes;
            off = (off + plan->alignment - 1) / plan->alignment * plan->alignment;
        }
    }
    bl__gw_pad(w, plan->alignment);
    for (i = 0; i < plan->count && !w->failed; ++i) {
        const bl__gw_tensor *t = &plan->t[i];
        if (t->kind == 0) {
            bl__gw_put(w, c->tensors[t->index].data, t->nbytes);
        } else {
            bl_linear_info info;
            int r;
            memset(&info, 0, sizeof info);
            (void)bl_linear_get_info(c->layers[t->index].layer, &info);
            for (r = 0; r < info.out_features && !w->failed; ++r) {
                if (t->kind == 2) {
                    uint8_t b[4];
                    bl__wrf32(b, info.bias[r]);
                    bl__gw_put(w, b, 4);
                } else {
                    uint8_t block[66];
                    uint16_t d = 0;
                    size_t pos;
                    (void)bl__gguf_half(info.scales[r], &d);
                    /* the layer's own bytes: unpacking cannot fail */
                    (void)bl_unpack(info.format, info.packed + (size_t)r * info.row_bytes, info.row_bytes, 1,
                                    info.in_features, trits);
                    for (pos = 0; pos < (size_t)info.in_features; pos += 256) {
                        if (ternary_type == BL_DTYPE_TQ2_0) bl__tq2_block(trits + pos, d, block);
                        else bl__tq1_block(trits + pos, d, block);
                        bl__gw_put(w, block, bl__dtypes[ternary_type].block_bytes);
                    }
                }
            }
        }
        bl__gw_pad(w, plan->alignment);
    }
    bl__free(NULL, trits);
    return w->failed ? BL_ERR_IO : BL_OK;
}

BITLINEAR_DEF bl_status bl_gguf_save(const bl_model_contents *c, bl_dtype ternary_type, void *dst,
                                     size_t dst_size, size_t *size)
{
    bl__gw_plan plan;
    bl__gw w;
    bl_status st;
    if (!size) return BL_ERR_INVALID;
    st = bl__gw_planning(c, ternary_type, &plan);
    if (st != BL_OK) return st;
    if (dst && dst_size < plan.size) st = BL_ERR_INVALID;
    if (dst && st == BL_OK) {
        memset(&w, 0, sizeof w);
        w.p = (uint8_t *)dst;
        st = bl__gw_write(c, ternary_type, &plan, &w);
        BITLINEAR_ASSERT(st != BL_OK || w.pos == plan.size);
    }
    if (st == BL_OK) *size = plan.size;
    bl__free(NULL, plan.block);
    return st;
}

#ifndef BITLINEAR_NO_STDIO
static int bl__gw_file_sink(void *ctx, const void *src, size_t n) { return fwrite(src, 1, n, (FILE *)ctx) == n; }

/* Streams the file (no buffer of its size). A file that fails partway is removed. */
BITLINEAR_DEF bl_status bl_gguf_save_path(const bl_model_contents *c, bl_dtype ternary_type, const char *path)
{
    bl__gw_plan plan;
    bl__gw w;
    bl_status st;
    FILE *f;
    if (!path) return BL_ERR_INVALID;
    st = bl__gw_planning(c, ternary_type, &plan); /* validate before creating the file */
    if (st != BL_OK) return st;
    f = fopen(path, "wb");
    if (!f) {
        bl__free(NULL, plan.block);
        return BL_ERR_IO;
    }
    memset(&w, 0, sizeof w);
    w.sink = bl__gw_file_sink;
    w.ctx = f;
    st = bl__gw_write(c, ternary_type, &plan, &w);
    if (st == BL_OK && fflush(f) != 0) st = BL_ERR_IO;
    if (fclose(f) != 0 && st == BL_OK) st = BL_ERR_IO;
    if (st != BL_OK) (void)remove(path);
    bl__free(NULL, plan.block);
    return st;
}
#endif
