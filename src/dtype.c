/* ==== bitlinear: tensor element types (sizes, names, ggml type ids) ===== */
/* One row per bl_dtype, in enum order. Block types store `block` elements in
   `block_bytes` bytes; I2_S adds one `tail` of 32 bytes per tensor. Sources:
   - ggml type ids: ggml/include/ggml.h (enum ggml_type); I2_S = 36 is bitnet.cpp's
     (3rdparty/llama.cpp/ggml/include/ggml.h of microsoft/BitNet).
   - Q8_0 (32 elements, fp16 d + 32 int8 = 34 bytes), TQ1_0 (256 elements, qs[48] qh[4]
     fp16 d = 54 bytes), TQ2_0 (256 elements, qs[64] fp16 d = 66 bytes):
     ggml/src/ggml-common.h (block_q8_0, block_tq1_0, block_tq2_0).
   - I2_S: n/4 bytes of 2-bit codes (blocks of 128 weights in 32 bytes), then 32 bytes
     whose first 4 hold the float32 tensor scale: microsoft/BitNet src/ggml-bitnet-mad.cpp
     (quantize_i2_s: "nrow * row_size / 4 + 32") and its ggml fork's ggml_nbytes.
   Types without a ggml id (unsigned integers, BOOL: safetensors only) have -1. */
typedef struct bl__dtype_info {
    const char *name;
    int ggml_type;
    uint32_t block, block_bytes, tail;
} bl__dtype_info;

static const bl__dtype_info bl__dtypes[] = {
    { "F32", 0, 1, 4, 0 },       { "F16", 1, 1, 2, 0 },       { "BF16", 30, 1, 2, 0 },
    { "other", -1, 0, 0, 0 },    { "F64", 28, 1, 8, 0 },      { "I8", 24, 1, 1, 0 },
    { "U8", -1, 1, 1, 0 },       { "BOOL", -1, 1, 1, 0 },     { "I16", 25, 1, 2, 0 },
    { "U16", -1, 1, 2, 0 },      { "I32", 26, 1, 4, 0 },      { "U32", -1, 1, 4, 0 },
    { "I64", 27, 1, 8, 0 },      { "U64", -1, 1, 8, 0 },      { "Q8_0", 8, 32, 34, 0 },
    { "TQ1_0", 34, 256, 54, 0 }, { "TQ2_0", 35, 256, 66, 0 }, { "I2_S", 36, 128, 32, 32 },
};
#define BL__DTYPE_COUNT ((int)(sizeof bl__dtypes / sizeof bl__dtypes[0]))

static const bl__dtype_info *bl__dtype(bl_dtype d)
{
    return (int)d >= 0 && (int)d < BL__DTYPE_COUNT ? &bl__dtypes[(int)d] : NULL;
}

/* The bl_dtype of a ggml type id; BL_DTYPE_OTHER for any id not in the table. */
static bl_dtype bl__dtype_from_ggml(int64_t ggml_type)
{
    int i;
    for (i = 0; i < BL__DTYPE_COUNT; ++i)
        if (bl__dtypes[i].ggml_type >= 0 && bl__dtypes[i].ggml_type == ggml_type) return (bl_dtype)i;
    return BL_DTYPE_OTHER;
}

/* Bytes per element for types of one element per block; 0 for block types and OTHER. */
static int bl__dtype_elem_bytes(bl_dtype d)
{
    const bl__dtype_info *t = bl__dtype(d);
    return t && t->block == 1 ? (int)t->block_bytes : 0;
}

BITLINEAR_DEF size_t bl_dtype_size(bl_dtype dtype, uint64_t count)
{
    const bl__dtype_info *t = bl__dtype(dtype);
    uint64_t blocks;
    if (!t || !t->block || count == 0 || count % t->block != 0) return 0;
    blocks = count / t->block;
    if (blocks > (UINT64_MAX - t->tail) / t->block_bytes) return 0;
    if (blocks * t->block_bytes + t->tail > (uint64_t)(size_t)-1) return 0;
    return (size_t)(blocks * t->block_bytes + t->tail);
}

BITLINEAR_DEF const char *bl_dtype_name(bl_dtype dtype)
{
    const bl__dtype_info *t = bl__dtype(dtype);
    return t ? t->name : "invalid";
}
