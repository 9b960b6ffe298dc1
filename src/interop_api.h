/* ==== bitlinear: models from the ecosystem (public declarations) ========= */
/* GGUF files (llama.cpp, bitnet.cpp) read zero-copy and written; metadata values;
   lossless import of ternary tensors (GGUF TQ1_0/TQ2_0/I2_S, Hugging Face packed
   BitNet weights); whole models (layers, float tensors, metadata) saved as .blm v2 or
   GGUF. The layouts, byte by byte, with the peer sources they follow: docs/gguf.md. */
#ifdef __cplusplus
extern "C" {
#endif

/* ---- metadata values ----------------------------------------------------------- */
/* Value types, numbered as GGUF numbers them (gguf_type). */
typedef enum bl_value_type {
    BL_VALUE_U8 = 0, BL_VALUE_I8 = 1, BL_VALUE_U16 = 2, BL_VALUE_I16 = 3, BL_VALUE_U32 = 4,
    BL_VALUE_I32 = 5, BL_VALUE_F32 = 6, BL_VALUE_BOOL = 7, BL_VALUE_STRING = 8, BL_VALUE_ARRAY = 9,
    BL_VALUE_U64 = 10, BL_VALUE_I64 = 11, BL_VALUE_F64 = 12,
    BL__VALUE_FORCE_INT32 = 0x7FFFFFFF
} bl_value_type;

typedef struct bl_str { const char *data; uint64_t size; } bl_str;  /* bytes, not NUL-terminated */

/* One key/value pair. Readers fill it pointing into the file's bytes (or into memory the
   reader owns); writers read it from the caller. */
typedef struct bl_kv {
    const char *key;            /* NUL-terminated */
    bl_value_type type;
    bl_value_type elem_type;    /* ARRAY: the elements' type (never ARRAY); else equal to type */
    uint64_t count;             /* ARRAY: elements; otherwise 1 */
    const void *data;           /* scalars and numeric arrays: the values, little-endian as in the
                                   file (any alignment); STRING: one bl_str; ARRAY of STRING:
                                   count bl_str */
} bl_kv;

/* Typed access. Integers of any width and BOOL convert to int64 (U64 above INT64_MAX:
   BL_ERR_OVERFLOW); F32/F64 and integers to double; anything else BL_ERR_INVALID. */
BITLINEAR_API bl_status bl_kv_int(const bl_kv *kv, int64_t *value);
BITLINEAR_API bl_status bl_kv_float(const bl_kv *kv, double *value);
BITLINEAR_API bl_status bl_kv_string(const bl_kv *kv, bl_str *value);
/* Element i of an ARRAY (i < count), with the same conversions. */
BITLINEAR_API bl_status bl_kv_array_int(const bl_kv *kv, uint64_t i, int64_t *value);
BITLINEAR_API bl_status bl_kv_array_float(const bl_kv *kv, uint64_t i, double *value);
BITLINEAR_API bl_status bl_kv_array_string(const bl_kv *kv, uint64_t i, bl_str *value);

/* ---- GGUF (read) ----------------------------------------------------------------- */
/* GGUF v2 and v3, little-endian, on any host. Tensors come out as bl_tensor views (see
   the safetensors reader): shape is row-major, outermost first, so shape[ndim-1] is
   GGUF's ne[0] (the row length); dtype names the ggml type (BL_DTYPE_OTHER for a type
   this library does not know, which is accepted only when the offsets fix its size);
   ggml_type keeps the file's type id. Everything is validated at open (docs/gguf.md
   lists the checks); on any error *out is untouched and nothing stays allocated. */
#define BL_GGUF_MAX_TENSORS 1000000
#define BL_GGUF_MAX_KV      1000000
#define BL_GGUF_MAX_DIMS    4

typedef struct bl_gguf bl_gguf;
BITLINEAR_API bl_status bl_gguf_open(const void *bytes, size_t size, bl_gguf **out);
BITLINEAR_API bl_status bl_gguf_open_with(const void *bytes, size_t size, const bl_allocator *alloc,
                                          bl_gguf **out);
BITLINEAR_API void      bl_gguf_close(bl_gguf *g);                                     /* NULL is fine */
BITLINEAR_API uint32_t  bl_gguf_version(const bl_gguf *g);
BITLINEAR_API size_t    bl_gguf_alignment(const bl_gguf *g);
BITLINEAR_API int       bl_gguf_count(const bl_gguf *g);                               /* tensors */
BITLINEAR_API const bl_tensor *bl_gguf_get(const bl_gguf *g, int index);               /* file order */
BITLINEAR_API const bl_tensor *bl_gguf_find(const bl_gguf *g, const char *name);       /* NULL if absent */
BITLINEAR_API int       bl_gguf_kv_count(const bl_gguf *g);
BITLINEAR_API const bl_kv *bl_gguf_kv(const bl_gguf *g, int index);                    /* file order */
BITLINEAR_API const bl_kv *bl_gguf_kv_find(const bl_gguf *g, const char *key);         /* NULL if absent */

/* Bytes of `count` elements of a dtype (count a multiple of the block size for block
   types); 0 if unknown, not whole blocks, or overflowing. */
BITLINEAR_API size_t    bl_dtype_size(bl_dtype dtype, uint64_t count);
BITLINEAR_API const char *bl_dtype_name(bl_dtype dtype);                              /* never NULL */

/* ---- import: a tensor becomes a layer ------------------------------------------ */
/* Flags of bl_import_desc. */
#define BL_IMPORT_STRICT       1u  /* refuse (BL_ERR_UNSUPPORTED) what cannot import exactly */
#define BL_IMPORT_HF_PACKED    2u  /* a U8 tensor of Hugging Face packed BitNet weights */
#define BL_IMPORT_SCALE_DIVIDE 4u  /* with HF_PACKED: w = trit / weight_scale (transformers'
                                      BitLinear); without: w = trit * weight_scale (AutoBitLinear) */

typedef struct bl_import_desc {
    bl_format format;           /* packing of the new layer */
    bl_act act;
    int act_bits;               /* 0 means 8 */
    bl_method method;           /* float tensors and re-quantized rows only */
    bl_scaling scaling;         /* float tensors only */
    unsigned flags;             /* BL_IMPORT_* */
    const bl_tensor *weight_scale;  /* HF_PACKED: the checkpoint's weight_scale tensor */
    const float *bias;          /* optional [out] */
    const bl_allocator *alloc;  /* may be NULL */
} bl_import_desc;

typedef enum bl_import_kind {
    BL_IMPORT_EXACT = 0,        /* the file's trits, scales reproducing its values exactly */
    BL_IMPORT_REQUANTIZED,      /* rows whose blocks carry different scales: re-ternarized */
    BL_IMPORT_QUANTIZED,        /* a float tensor, ternarized with the desc's method */
    BL__IMPORT_FORCE_INT32 = 0x7FFFFFFF
} bl_import_kind;

/* A 2-D tensor [out][in] -> layer. TQ1_0, TQ2_0, I2_S and HF packed weights import
   losslessly; F32, F16, BF16 (and Q8_0, dequantized) are ternarized. A zeroed desc (or
   NULL) means 2BIT, INT8 activations, OPTIMAL per row. *kind (may be NULL) says which
   way it went. On error *out is untouched. */
BITLINEAR_API bl_status bl_linear_import(const bl_tensor *t, const bl_import_desc *desc, bl_linear **out,
                                         bl_import_kind *kind);

/* Dequantized floats of any tensor this library reads (F32, F16, BF16, F64, Q8_0, TQ1_0,
   TQ2_0, I2_S); count must equal its element count. Extends bl_tensor_to_f32. */
BITLINEAR_API bl_status bl_tensor_dequantize(const bl_tensor *t, float *dst, size_t count);

/* ---- whole models: layers, float tensors, metadata ------------------------------ */
typedef struct bl_model_contents {
    const bl_model_entry *layers; int layer_count;
    const bl_tensor *tensors;   int tensor_count;   /* F32, F16, BF16: name, dtype, shape, data */
    const bl_kv *kvs;           int kv_count;
} bl_model_contents;

/* A whole model as one .blm file (docs/models.md): container version 2, or version 1 when
   there are no tensors and no key/value pairs (older builds read those). Layer and tensor
   names share one namespace (unique together); keys are unique. Tensors: F32/F16/BF16,
   ndim 0..BL_ST_MAX_DIMS, nbytes equal to the elements' bytes (elem_bytes is not read),
   data little-endian. A non-ARRAY kv is one value of kv->type (elem_type and count are
   not read); BOOL values are 0 or 1. Anything else: BL_ERR_INVALID, nothing written.
   dst == NULL: *size gets the bytes needed; loading: bl_model_load. */
BITLINEAR_API bl_status bl_model_save_contents(const bl_model_contents *c, void *dst, size_t dst_size,
                                               size_t *size);
BITLINEAR_API int              bl_model_tensor_count(const bl_model *model);
BITLINEAR_API const bl_tensor *bl_model_tensor(const bl_model *model, int index);
BITLINEAR_API const bl_tensor *bl_model_tensor_find(const bl_model *model, const char *name);
BITLINEAR_API int              bl_model_kv_count(const bl_model *model);
BITLINEAR_API const bl_kv     *bl_model_kv(const bl_model *model, int index);
BITLINEAR_API const bl_kv     *bl_model_kv_find(const bl_model *model, const char *key);

/* GGUF v3: layers as TQ2_0 or TQ1_0 (ternary_type; scales rounded to fp16 as the format
   requires), tensors and metadata as given. Layers with k > 1 or a Hadamard rotation
   cannot be expressed: BL_ERR_UNSUPPORTED. dst == NULL: *size gets the bytes needed. */
BITLINEAR_API bl_status bl_gguf_save(const bl_model_contents *c, bl_dtype ternary_type, void *dst,
                                     size_t dst_size, size_t *size);

#ifndef BITLINEAR_NO_STDIO
BITLINEAR_API bl_status bl_model_save_contents_path(const bl_model_contents *c, const char *path);
BITLINEAR_API bl_status bl_gguf_save_path(const bl_model_contents *c, bl_dtype ternary_type, const char *path);
#endif

#ifdef __cplusplus
}
#endif
