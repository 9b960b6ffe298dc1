/* ==== bitlinear: layers ================================================== */

/* Byte offsets of a layer's parts inside its one memory block. */
typedef struct bl__layout {
    size_t packed, scales, bias, total;
} bl__layout;

static int bl__desc_k(const bl_linear_desc *d) { return d->k == 0 ? 1 : d->k; }
static int bl__desc_bits(const bl_linear_desc *d) { return d->act_bits == 0 ? 8 : d->act_bits; }

/* *at += n, then rounded up to the alignment; 0 on overflow */
static int bl__advance(size_t *at, size_t n)
{
    if (!bl__add_size(*at, n, at) || *at > (size_t)-1 - BL__ALIGN) return 0;
    *at = bl__align_up(*at);
    return 1;
}

static bl_status bl__layer_layout(int in, int out, int k, bl_format format, int has_bias, bl__layout *lay)
{
    size_t plane = bl_packed_size(format, out, in), packed, scales, at = 0;
    if (!plane || !bl__mul_size(plane, (size_t)k, &packed) ||
        !bl__mul_size((size_t)out, (size_t)k * sizeof(float), &scales))
        return BL_ERR_OVERFLOW;
    if (!bl__advance(&at, sizeof(bl_linear))) return BL_ERR_OVERFLOW;
    lay->packed = at;
    if (!bl__advance(&at, packed)) return BL_ERR_OVERFLOW;
    lay->scales = at;
    if (!bl__advance(&at, scales)) return BL_ERR_OVERFLOW;
    lay->bias = at;
    if (!bl__advance(&at, has_bias ? (size_t)out * sizeof(float) : 0)) return BL_ERR_OVERFLOW;
    lay->total = at + BL__ALIGN; /* room to align the block's start */
    return BL_OK;
}

static bl_status bl__check_desc(const bl_linear_desc *d)
{
    int k;
    size_t count;
    if (!d || d->in_features <= 0 || d->out_features <= 0 || d->in_features > BL_MAX_IN_FEATURES)
        return BL_ERR_INVALID;
    k = bl__desc_k(d);
    if (k < 1 || k > BL_MAX_K || d->refine_iters < 0 || !bl__valid_method((int)d->method) ||
        !bl__valid_scaling((int)d->scaling) || !bl__valid_format((int)d->format) ||
        !bl__valid_act((int)d->act) || bl__desc_bits(d) < 2 || bl__desc_bits(d) > 8)
        return BL_ERR_INVALID;
    if ((d->weight != NULL) == (d->trits != NULL)) return BL_ERR_INVALID; /* exactly one source */
    if (d->trits && !d->scales) return BL_ERR_INVALID;
    if (!bl__mul_size((size_t)d->in_features, (size_t)d->out_features, &count) ||
        !bl__mul_size(count, (size_t)k, &count))
        return BL_ERR_OVERFLOW;
    if (d->weight && !bl__all_finite(d->weight, count / (size_t)k)) return BL_ERR_NONFINITE;
    if (d->trits) {
        size_t i;
        for (i = 0; i < count; ++i)
            if (d->trits[i] < -1 || d->trits[i] > 1) return BL_ERR_INVALID;
        if (!bl__all_finite(d->scales, (size_t)d->out_features * (size_t)k)) return BL_ERR_NONFINITE;
    }
    if (d->bias && !bl__all_finite(d->bias, (size_t)d->out_features)) return BL_ERR_NONFINITE;
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_linear_memory_size(const bl_linear_desc *desc, size_t *size)
{
    bl__layout lay;
    bl_status st;
    if (!size) return BL_ERR_INVALID;
    st = bl__check_desc(desc);
    if (st == BL_OK)
        st = bl__layer_layout(desc->in_features, desc->out_features, bl__desc_k(desc), desc->format,
                              desc->bias != NULL, &lay);
    if (st == BL_OK) *size = lay.total;
    return st;
}

/* Writes the header of the layer that `d` describes into `memory` (lay->total bytes, laid
   out by bl__layer_layout) and points it at its parts, which the caller then fills:
   packed bytes, scales and (when d->bias) the bias. */
static bl_linear *bl__linear_header(const bl_linear_desc *d, const bl__layout *lay, void *memory,
                                    const bl_allocator *alloc, int owned)
{
    uint8_t *base = (uint8_t *)bl__align_ptr(memory);
    bl_linear *L = (bl_linear *)base;
    memset(L, 0, sizeof *L);
    L->in_features = d->in_features;
    L->out_features = d->out_features;
    L->k = bl__desc_k(d);
    L->act_bits = bl__desc_bits(d);
    L->format = d->format;
    L->act = d->act;
    L->method = d->method;
    L->scaling = d->scaling;
    L->row_bytes = bl_packed_row_bytes(d->format, d->in_features);
    L->hadamard = d->hadamard != 0;
    L->hadamard_seed = d->hadamard ? d->hadamard_seed : 0;
    L->packed = base + lay->packed;
    L->scales = (const float *)(base + lay->scales);
    L->bias = d->bias ? (const float *)(base + lay->bias) : NULL;
    L->alloc = alloc ? *alloc : L->alloc;
    L->owned = owned;
    L->block = memory;
    return L;
}

/* Builds the layer in `memory` (lay.total bytes). From float weights the trits pass
   through a temporary buffer from `alloc`; nothing is written to memory on failure. */
static bl_status bl__linear_build(const bl_linear_desc *d, const bl__layout *lay, void *memory,
                                  const bl_allocator *alloc, int owned, bl_linear **out)
{
    int in = d->in_features, n_out = d->out_features, k = bl__desc_k(d), j;
    size_t plane = bl_packed_size(d->format, n_out, in), count = (size_t)in * (size_t)n_out;
    int8_t *tmp_trits = NULL;
    float *tmp_scales = NULL;
    const int8_t *trits = d->trits;
    const float *scales = d->scales;
    uint8_t *base = (uint8_t *)bl__align_ptr(memory);
    bl_linear *L = (bl_linear *)base;

    if (d->weight) {
        bl_status st;
        float *rotated = NULL;
        const float *weight = d->weight;
        tmp_trits = (int8_t *)bl__alloc(alloc, count * (size_t)k);
        tmp_scales = (float *)bl__alloc(alloc, (size_t)n_out * (size_t)k * sizeof(float));
        st = tmp_trits && tmp_scales ? BL_OK : BL_ERR_NOMEM;
        if (st == BL_OK && d->hadamard) { /* (R w) . (R x) = w . x: rotate the rows, then quantize */
            rotated = (float *)bl__alloc(alloc, count * sizeof(float));
            st = rotated ? BL_OK : BL_ERR_NOMEM;
            if (st == BL_OK) {
                memcpy(rotated, d->weight, count * sizeof(float));
                st = bl_hadamard_rotate(rotated, in, n_out, d->hadamard_seed, 0);
                weight = rotated;
            }
        }
        if (st == BL_OK)
            st = bl_decompose_ex(weight, n_out, in, k, d->refine_iters, d->method, d->scaling,
                                 tmp_trits, tmp_scales);
        bl__free(alloc, rotated);
        if (st != BL_OK) {
            bl__free(alloc, tmp_trits);
            bl__free(alloc, tmp_scales);
            return st;
        }
        trits = tmp_trits;
        scales = tmp_scales;
    }
    (void)bl__linear_header(d, lay, memory, alloc, owned);
    for (j = 0; j < k; ++j)
        (void)bl_pack(d->format, trits + (size_t)j * count, n_out, in, base + lay->packed + (size_t)j * plane, plane);
    memcpy(base + lay->scales, scales, (size_t)n_out * (size_t)k * sizeof(float));
    if (d->bias) memcpy(base + lay->bias, d->bias, (size_t)n_out * sizeof(float));
    bl__free(alloc, tmp_trits);
    bl__free(alloc, tmp_scales);
    *out = L;
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_linear_init(const bl_linear_desc *desc, void *memory, size_t size, bl_linear **out)
{
    bl__layout lay;
    bl_status st;
    if (!memory || !out) return BL_ERR_INVALID;
    st = bl__check_desc(desc);
    if (st == BL_OK)
        st = bl__layer_layout(desc->in_features, desc->out_features, bl__desc_k(desc), desc->format,
                              desc->bias != NULL, &lay);
    if (st != BL_OK) return st;
    if (size < lay.total) return BL_ERR_INVALID;
    return bl__linear_build(desc, &lay, memory, NULL, 0, out);
}

BITLINEAR_DEF bl_status bl_linear_create_with(const bl_linear_desc *desc, const bl_allocator *alloc,
                                              bl_linear **out)
{
    bl__layout lay;
    bl_status st;
    void *memory;
    if (!out) return BL_ERR_INVALID;
    if (alloc && !alloc->alloc) alloc = NULL;
    st = bl__check_desc(desc);
    if (st == BL_OK)
        st = bl__layer_layout(desc->in_features, desc->out_features, bl__desc_k(desc), desc->format,
                              desc->bias != NULL, &lay);
    if (st != BL_OK) return st;
    memory = bl__alloc(alloc, lay.total);
    if (!memory) return BL_ERR_NOMEM;
    st = bl__linear_build(desc, &lay, memory, alloc, 1, out);
    if (st != BL_OK) bl__free(alloc, memory);
    return st;
}

BITLINEAR_DEF bl_status bl_linear_create(const bl_linear_desc *desc, bl_linear **out)
{
    return bl_linear_create_with(desc, NULL, out);
}

BITLINEAR_DEF void bl_linear_destroy(bl_linear *layer)
{
    void *block;
    bl_allocator alloc;
    if (!layer || !layer->owned) return;
    alloc = layer->alloc;
    block = layer->block;
    bl__free(alloc.alloc ? &alloc : NULL, block);
}

BITLINEAR_DEF size_t bl_linear_nbytes(const bl_linear *layer)
{
    size_t n;
    if (!layer) return 0;
    n = (size_t)layer->k * (size_t)layer->out_features * (layer->row_bytes + sizeof(float));
    return layer->bias ? n + (size_t)layer->out_features * sizeof(float) : n;
}

BITLINEAR_DEF bl_status bl_linear_get_info(const bl_linear *layer, bl_linear_info *info)
{
    if (!layer || !info) return BL_ERR_INVALID;
    info->in_features = layer->in_features;
    info->out_features = layer->out_features;
    info->k = layer->k;
    info->act_bits = layer->act_bits;
    info->format = layer->format;
    info->act = layer->act;
    info->method = layer->method;
    info->scaling = layer->scaling;
    info->row_bytes = layer->row_bytes;
    info->packed = layer->packed;
    info->scales = layer->scales;
    info->bias = layer->bias;
    info->hadamard = layer->hadamard;
    info->hadamard_seed = layer->hadamard_seed;
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_linear_estimate(int in_features, int out_features, int k, bl_format format,
                                           int has_bias, bl_memory_estimate *est)
{
    size_t row = bl_packed_row_bytes(format, in_features), bias, fp32, tern;
    if (!est || out_features <= 0 || !row || k < 1 || k > BL_MAX_K) return BL_ERR_INVALID;
    bias = has_bias ? (size_t)out_features * sizeof(float) : 0;
    if (!bl__mul_size((size_t)in_features * sizeof(float), (size_t)out_features, &fp32) ||
        !bl__mul_size((size_t)k * (size_t)out_features, row + sizeof(float), &tern))
        return BL_ERR_OVERFLOW;
    est->fp32_bytes = fp32 + bias;
    est->ternary_bytes = tern + bias;
    est->compression = (double)est->fp32_bytes / (double)est->ternary_bytes;
    return BL_OK;
}

/* ---- forward ---- */

/* The prepared input begins with this header so a buffer made for a layer that reads its
   input differently (shape, activations, rotation) or for another batch is refused rather
   than misread. */
typedef struct bl__input_header {
    uint32_t magic;
    int32_t in_features, batch, act, act_bits, hadamard;
    uint64_t hadamard_seed;
} bl__input_header;
#define BL__INPUT_MAGIC 0x31494C42u /* "BLI1" */

static size_t bl__input_offsets(int batch, size_t *sums, size_t *data)
{
    *sums = bl__align_up(bl__align_up(sizeof(bl__input_header)) + (size_t)batch * sizeof(float));
    *data = bl__align_up(*sums + (size_t)batch * sizeof(int32_t));
    return *data;
}

/* Bytes per prepared token; a rotated INT8 layer also needs one float row to rotate in. */
static size_t bl__input_token_bytes(const bl_linear *layer)
{
    return bl__input_stride(layer->in_features) * (layer->act == BL_ACT_INT8 ? 1 : sizeof(float));
}
static size_t bl__input_staging_bytes(const bl_linear *layer)
{
    return layer->hadamard && layer->act == BL_ACT_INT8 ? bl__input_stride(layer->in_features) * sizeof(float) : 0;
}

BITLINEAR_DEF size_t bl_linear_input_size(const bl_linear *layer, int batch)
{
    size_t sums, data, tokens, total;
    if (!layer || batch < 0 || batch > INT_MAX / 2) return 0;
    if (!bl__mul_size(bl__input_token_bytes(layer), (size_t)batch, &tokens)) return 0;
    if (!bl__add_size(bl__input_offsets(batch, &sums, &data), tokens, &total) ||
        !bl__add_size(total, bl__input_staging_bytes(layer), &total) || !bl__add_size(total, BL__ALIGN, &total))
        return 0;
    return total;
}

BITLINEAR_DEF size_t bl_linear_scratch_size(const bl_linear *layer, int batch)
{
    return bl_linear_input_size(layer, batch);
}

BITLINEAR_DEF bl_status bl_linear_prepare_input(const bl_linear *layer, const float *x, int batch,
                                                void *input, size_t input_size)
{
    size_t sums, data, stride, need, n;
    uint8_t *base;
    bl__input_header h;
    int b;
    if (!layer || !input || batch < 0 || (batch > 0 && !x)) return BL_ERR_INVALID;
    need = bl_linear_input_size(layer, batch);
    if (!need) return BL_ERR_OVERFLOW;
    if (input_size < need) return BL_ERR_INVALID;
    n = (size_t)layer->in_features;
    if (!bl__tokens_finite(x, n, batch)) return BL_ERR_NONFINITE;
    base = (uint8_t *)bl__align_ptr(input);
    (void)bl__input_offsets(batch, &sums, &data);
    stride = bl__input_stride(layer->in_features);
    h.magic = BL__INPUT_MAGIC;
    h.in_features = layer->in_features;
    h.batch = batch;
    h.act = (int32_t)layer->act;
    h.act_bits = layer->act_bits;
    h.hadamard = layer->hadamard;
    h.hadamard_seed = layer->hadamard_seed;
    /* Rotated tokens can still be refused midway (overflow): until the header is written
       last, the buffer reads as unprepared, so forward_input never runs on a mix of
       old and new tokens. */
    memset(base, 0, sizeof h);
    for (b = 0; b < batch; ++b) {
        const float *xb = x + (size_t)b * n;
        if (layer->hadamard) { /* rotate a copy: in the float token slot, or the staging row */
            float *rot = layer->act == BL_ACT_INT8
                             ? (float *)(void *)(base + data + (size_t)batch * bl__input_token_bytes(layer))
                             : (float *)(void *)(base + data) + (size_t)b * stride;
            memcpy(rot, xb, n * sizeof(float));
            /* inputs near FLT_MAX can overflow when mixed: refuse them (INT8 tokens in the
               quantization below) */
            if (bl_hadamard_rotate(rot, layer->in_features, 1, layer->hadamard_seed, 0) != BL_OK ||
                (layer->act != BL_ACT_INT8 && !bl__tokens_finite(rot, n, 1)))
                return BL_ERR_NONFINITE;
            xb = rot;
        }
        if (layer->act == BL_ACT_INT8) {
            int8_t *q = (int8_t *)(base + data) + (size_t)b * stride;
            float *scale = (float *)(void *)(base + bl__align_up(sizeof h)) + b;
            bl_status st = bl__quantize_token(xb, n, (1 << (layer->act_bits - 1)) - 1, q, scale,
                                              (int32_t *)(void *)(base + sums) + b);
            if (st != BL_OK) return st;
            memset(q + n, 0, stride - n);
        } else {
            float *f = (float *)(void *)(base + data) + (size_t)b * stride;
            if (f != xb) memcpy(f, xb, n * sizeof(float));
            memset(f + n, 0, (stride - n) * sizeof(float));
        }
    }
    memcpy(base, &h, sizeof h);
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_linear_forward_input(const bl_linear *layer, const void *input, int batch,
                                                float *y, int row_begin, int row_end)
{
    const uint8_t *base;
    const bl__backend_kernels *kern;
    bl__input_header h;
    bl__input in;
    size_t sums, data;
    if (!layer || !input || batch < 0 || row_begin < 0 || row_end < row_begin ||
        row_end > layer->out_features || (batch > 0 && !y))
        return BL_ERR_INVALID;
    base = (const uint8_t *)bl__align_ptr((void *)(uintptr_t)input);
    memcpy(&h, base, sizeof h);
    if (h.magic != BL__INPUT_MAGIC || h.in_features != layer->in_features || h.batch != batch ||
        h.act != (int32_t)layer->act || h.act_bits != layer->act_bits || h.hadamard != layer->hadamard ||
        h.hadamard_seed != layer->hadamard_seed)
        return BL_ERR_INVALID;
    if (batch == 0 || row_begin == row_end) return BL_OK;
    (void)bl__input_offsets(batch, &sums, &data);
    in.act_scale = (const float *)(const void *)(base + bl__align_up(sizeof h));
    in.act_sum = (const int32_t *)(const void *)(base + sums);
    in.data = base + data;
    in.stride = bl__input_stride(layer->in_features);
    kern = bl__active_kernels();
    BITLINEAR_ASSERT(kern != NULL);
    if (layer->act == BL_ACT_INT8) kern->gemm_int8(layer, &in, batch, y, row_begin, row_end);
    else kern->gemm_float(layer, &in, batch, y, row_begin, row_end);
    return BL_OK;
}

BITLINEAR_DEF bl_status bl_linear_forward_rows(const bl_linear *layer, const float *x, int batch, float *y,
                                               int row_begin, int row_end, void *scratch)
{
    size_t size;
    void *mem = scratch;
    bl_status st;
    if (!layer || batch < 0 || row_begin < 0 || row_end < row_begin || row_end > layer->out_features)
        return BL_ERR_INVALID;
    if (batch > 0 && (!x || !y)) return BL_ERR_INVALID;
    if (batch == 0 || row_begin == row_end) return BL_OK;
    size = bl_linear_input_size(layer, batch);
    if (!size) return BL_ERR_OVERFLOW;
    if (!mem) {
        mem = bl__alloc(layer->alloc.alloc ? &layer->alloc : NULL, size);
        if (!mem) return BL_ERR_NOMEM;
    }
    st = bl_linear_prepare_input(layer, x, batch, mem, size);
    if (st == BL_OK) st = bl_linear_forward_input(layer, mem, batch, y, row_begin, row_end);
    if (mem != scratch) bl__free(layer->alloc.alloc ? &layer->alloc : NULL, mem);
    return st;
}

BITLINEAR_DEF bl_status bl_linear_forward(const bl_linear *layer, const float *x, int batch, float *y,
                                          void *scratch)
{
    if (!layer) return BL_ERR_INVALID;
    return bl_linear_forward_rows(layer, x, batch, y, 0, layer->out_features, scratch);
}
