/* ==== bitlinear: model files and safetensors (public declarations) ======= */
/* Model files (".blm"): named ternary layers (and, from container version 2, named float
   tensors and key/value metadata: bl_model_save_contents) in one little-endian container,
   laid out byte by byte in docs/models.md. Payloads are 64-byte aligned, so a file that
   is mapped into memory, or compiled into the binary, can be used in place. */
#ifndef BITLINEAR_NO_STDIO
#include <stdio.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define BITLINEAR_MODEL_VERSION 2           /* newest container layout this build reads (docs/models.md) */
#define BL_MODEL_MAX_LAYERS     65536
#define BL_MODEL_MAX_TENSORS    1000000     /* float tensors in one file (version 2) */
#define BL_MODEL_MAX_KV         1000000     /* key/value pairs in one file (version 2) */
#define BL_MODEL_MAX_NAME       1024        /* bytes of a layer, tensor or key name (no NUL inside) */

/* Per-layer flags stored in the file. HADAMARD marks a layer made with desc.hadamard:
   its weights were quantized after a randomised Hadamard rotation R of the input
   dimension (R from hadamard_seed), and its forward rotates the inputs itself. The file
   stores the flag and the seed; loaded layers rotate like the saved ones did. */
#define BL_LAYER_FLAG_BIAS      1u          /* set by the writer from the layer */
#define BL_LAYER_FLAG_HADAMARD  2u

typedef struct bl_model bl_model;                          /* named layers */
typedef struct bl_model_entry {
    const char *name;           /* 1..BL_MODEL_MAX_NAME bytes, unique in the file */
    const bl_linear *layer;
    uint32_t flags;             /* 0, or BL_LAYER_FLAG_HADAMARD to restate the layer's rotation */
    uint64_t hadamard_seed;     /* with the flag: the layer's seed (else BL_ERR_INVALID); 0 otherwise */
} bl_model_entry;

/* Load flags (bl_model_load_with). */
#define BL_MODEL_LOAD_COPY 0u   /* the model owns copies: bytes may be freed after loading */
#define BL_MODEL_LOAD_VIEW 1u   /* zero-copy: layers point into bytes (64-byte aligned), which the
                                   caller keeps alive and unchanged until bl_model_destroy.
                                   Big-endian hosts copy (and byte-swap) only scales and bias. */

/* Writes `count` layers as one model file into dst (container version 1, which every
   build reads: a file with layers only needs nothing newer). dst == NULL: only *size is set (the
   bytes needed). Otherwise dst_size must be at least that (else BL_ERR_INVALID, nothing
   written) and *size gets the bytes written. The output is the same on every host. */
BITLINEAR_API bl_status bl_model_save(const bl_model_entry *entries, int count, void *dst, size_t dst_size,
                                      size_t *size);
/* Validates every field, the checksum and every packed byte, then builds the model; on
   any error *out is untouched and nothing stays allocated. Copies (BL_MODEL_LOAD_COPY).
   Reads container versions 1 and 2; a newer container (or packed format) version is
   BL_ERR_UNSUPPORTED, and bl_model_file_version says which version the file has. */
BITLINEAR_API bl_status bl_model_load(const void *bytes, size_t size, bl_model **out);
/* flags: BL_MODEL_LOAD_COPY or BL_MODEL_LOAD_VIEW; alloc may be NULL (BITLINEAR_MALLOC). */
BITLINEAR_API bl_status bl_model_load_with(const void *bytes, size_t size, unsigned flags,
                                           const bl_allocator *alloc, bl_model **out);
BITLINEAR_API const bl_linear *bl_model_find(const bl_model *model, const char *name);  /* NULL if absent */
BITLINEAR_API int              bl_model_count(const bl_model *model);                  /* 0 for NULL */
BITLINEAR_API const char      *bl_model_name(const bl_model *model, int index);        /* NULL if out of range */
BITLINEAR_API const bl_linear *bl_model_layer(const bl_model *model, int index);       /* NULL if out of range */
/* BL_LAYER_FLAG_* of layer index (0 if out of range); *hadamard_seed (may be NULL) gets its seed. */
BITLINEAR_API uint32_t         bl_model_flags(const bl_model *model, int index, uint64_t *hadamard_seed);
BITLINEAR_API void             bl_model_destroy(bl_model *model);                      /* NULL is fine */
/* The container and packed format versions a model file says it has (without validating
   anything else), to report "version N, this build reads up to BITLINEAR_MODEL_VERSION".
   BL_ERR_FORMAT if the bytes do not start like a model file. Either pointer may be NULL. */
BITLINEAR_API bl_status        bl_model_file_version(const void *bytes, size_t size, uint32_t *version,
                                                     uint32_t *format_version);

/* CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), the model files' checksum.
   Pass 0 to start; feed the previous result to continue. */
BITLINEAR_API uint32_t bl_crc32c(uint32_t crc, const void *data, size_t size);

#ifndef BITLINEAR_NO_STDIO
/* The same through stdio. Loading a file reads it into one 64-byte-aligned buffer that
   the model owns and uses in place (no second copy). Failing to open, read or write is
   BL_ERR_IO with errno as the failing call left it (strerror(errno) says why); a save
   that fails while writing removes the file it created. */
BITLINEAR_API bl_status bl_model_save_file(const bl_model_entry *entries, int count, FILE *f);
BITLINEAR_API bl_status bl_model_save_path(const bl_model_entry *entries, int count, const char *path);
BITLINEAR_API bl_status bl_model_load_file(FILE *f, bl_model **out);
BITLINEAR_API bl_status bl_model_load_path(const char *path, bl_model **out);
#endif

/* ---- safetensors (read only) -------------------------------------------------- */
/* The header's JSON is parsed strictly: one object of tensors {"dtype", "shape",
   "data_offsets"} and an optional "__metadata__" object of strings; nothing else. */
#define BL_ST_MAX_HEADER  (100u << 20)      /* JSON header bytes */
#define BL_ST_MAX_TENSORS 1000000
#define BL_ST_MAX_DIMS    8
#define BL_ST_MAX_NAME    4096

/* Element types of tensors read from safetensors and GGUF files. Block types (Q8_0,
   TQ1_0, TQ2_0, I2_S) have elem_bytes 0: their size is bl_dtype_size's. */
typedef enum bl_dtype { BL_DTYPE_F32 = 0, BL_DTYPE_F16, BL_DTYPE_BF16,
                        BL_DTYPE_OTHER /* a valid type this library does not convert */,
                        BL_DTYPE_F64, BL_DTYPE_I8, BL_DTYPE_U8, BL_DTYPE_BOOL, BL_DTYPE_I16,
                        BL_DTYPE_U16, BL_DTYPE_I32, BL_DTYPE_U32, BL_DTYPE_I64, BL_DTYPE_U64,
                        BL_DTYPE_Q8_0, BL_DTYPE_TQ1_0, BL_DTYPE_TQ2_0, BL_DTYPE_I2_S,
                        BL__DTYPE_FORCE_INT32 = 0x7FFFFFFF } bl_dtype;
typedef struct bl_tensor {
    const char *name;           /* NUL-terminated, owned by the bl_safetensors */
    bl_dtype dtype;
    int elem_bytes;             /* bytes per element */
    int ndim;
    int64_t shape[BL_ST_MAX_DIMS];
    const void *data;           /* points into the caller's bytes (little-endian) */
    size_t nbytes;
    int ggml_type;              /* GGUF tensors: the file's type id; -1 for safetensors */
} bl_tensor;
typedef struct bl_safetensors bl_safetensors;

/* Parses and validates the header (limits above; duplicate names, dtype/shape/size
   mismatches, out-of-range or overlapping data_offsets -> BL_ERR_FORMAT). The tensors
   point into bytes, which must outlive the result. */
BITLINEAR_API bl_status bl_safetensors_open(const void *bytes, size_t size, bl_safetensors **out);
BITLINEAR_API int       bl_safetensors_count(const bl_safetensors *st);
BITLINEAR_API const bl_tensor *bl_safetensors_get(const bl_safetensors *st, int index);      /* in file order */
BITLINEAR_API const bl_tensor *bl_safetensors_find(const bl_safetensors *st, const char *name);
BITLINEAR_API void      bl_safetensors_close(bl_safetensors *st);                             /* NULL is fine */
/* Converts an F32, F16 or BF16 tensor to floats: count must equal its element count. */
BITLINEAR_API bl_status bl_tensor_to_f32(const bl_tensor *t, float *dst, size_t count);

#ifdef __cplusplus
}
#endif
